package payments

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
)

// DefaultLimitCents is the per-order limit above which charges are
// declined: $1000.
const DefaultLimitCents = 100000

// Config configures the payment-service.
type Config struct {
	// DSN is its database: a SQLite path or a postgres:// URL. Required.
	DSN string
	// Addr is where it listens; zero means a free loopback port.
	Addr string
	// LimitCents is the largest charge accepted; zero means
	// DefaultLimitCents.
	LimitCents int64
}

// Service is a running payment-service. Close stops it.
type Service struct {
	cfg    Config
	base   *platform.Base
	st     *store
	faults platform.Faults[Faults]
	srv    *platform.Server
}

// New opens the database and starts the service, registered as
// payment-service.
func New(ctx context.Context, deps *platform.Deps, cfg Config) (_ *Service, err error) {
	if cfg.LimitCents == 0 {
		cfg.LimitCents = DefaultLimitCents
	}
	b, err := platform.NewBase(ctx, deps, platform.PaymentService, cfg.DSN, cfg.Addr, schema...)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, base: b, st: &store{db: b.DB}, srv: b.Server}
	s.routes()
	if err := b.Serve(ctx, deps, platform.PaymentService); err != nil {
		return nil, errors.Join(err, b.Close(context.WithoutCancel(ctx)))
	}
	return s, nil
}

// URL returns the base URL of the HTTP server.
func (s *Service) URL() string { return s.base.URL() }

// Close deregisters the service, stops its server and closes its database.
// It is idempotent.
func (s *Service) Close(ctx context.Context) error { return s.base.Close(ctx) }

// ChargeRequest asks to charge a customer for an order, once per Key.
type ChargeRequest struct {
	// Key is the idempotency key; a retry with it has no second effect.
	Key string `json:"key"`
	// OrderID identifies the order.
	OrderID string `json:"order_id"`
	// Customer is the user id of the buyer.
	Customer string `json:"customer"`
	// AmountCents is the amount to charge, in cents.
	AmountCents int64 `json:"amount_cents"`
}

// RefundRequest asks to refund the charge made under Key.
type RefundRequest struct {
	// Key is the idempotency key; a retry with it has no second effect.
	Key string `json:"key"`
}

// injected answers the failure f injects into a charge or refund, if any,
// and reports whether it did.
func injected(w http.ResponseWriter, r *http.Request, f Faults) bool {
	switch f.apply(r.Context()) {
	case 503:
		platform.WriteError(w, r, http.StatusServiceUnavailable, "down", "payments are down (fault injection)")
		return true
	case 500:
		platform.WriteError(w, r, http.StatusInternalServerError, "injected", "this call failed (fault injection)")
		return true
	}
	return false
}

func (s *Service) routes() {
	s.srv.HandleFunc("POST /charges", func(w http.ResponseWriter, r *http.Request) {
		var req ChargeRequest
		if !platform.ReadJSON(w, r, &req) {
			return
		}
		if req.Key == "" || req.OrderID == "" || req.AmountCents <= 0 {
			platform.WriteError(w, r, http.StatusBadRequest, "bad_request", "key, order_id and a positive amount_cents are required")
			return
		}
		f := s.faults.Get()
		if injected(w, r, f) {
			return
		}
		status := StatusCharged
		if req.AmountCents > s.cfg.LimitCents {
			status = StatusDeclined
		}
		c, err := s.st.charge(r.Context(), Charge{Key: req.Key, OrderID: req.OrderID, Customer: req.Customer,
			AmountCents: req.AmountCents, Status: status, CreatedAt: time.Now()})
		if err != nil {
			platform.WriteInternal(w, r, err)
			return
		}
		if f.LoseChargeReplies {
			// The charge is stored, whatever its outcome: only its
			// reply goes missing.
			platform.WriteError(w, r, http.StatusGatewayTimeout, "reply_lost", "the reply of this call was lost (fault injection)")
			return
		}
		switch c.Status {
		case StatusDeclined:
			platform.WriteError(w, r, http.StatusPaymentRequired, "declined",
				fmt.Sprintf("amount %d cents is over the limit of %d cents", c.AmountCents, s.cfg.LimitCents))
		case StatusRefunded:
			platform.WriteError(w, r, http.StatusConflict, "refunded", "this charge key was already refunded")
		default:
			platform.WriteJSON(w, http.StatusOK, c)
		}
	})
	s.srv.HandleFunc("POST /refunds", func(w http.ResponseWriter, r *http.Request) {
		var req RefundRequest
		if !platform.ReadJSON(w, r, &req) {
			return
		}
		if req.Key == "" {
			platform.WriteError(w, r, http.StatusBadRequest, "bad_request", "key is required")
			return
		}
		f := s.faults.Get()
		if injected(w, r, f) {
			return
		}
		if f.FailRefunds {
			platform.WriteError(w, r, http.StatusInternalServerError, "injected", "this refund failed (fault injection)")
			return
		}
		c, err := s.st.refund(r.Context(), req.Key, time.Now())
		if err != nil {
			platform.WriteInternal(w, r, err)
			return
		}
		platform.WriteJSON(w, http.StatusOK, c)
	})
	// GET /charges lists charges by ?order_id= and ?customer=. The
	// authenticated subject, when the gateway passed one, is the customer
	// whatever the query says: a customer sees only their own charges.
	s.srv.HandleFunc("GET /charges", func(w http.ResponseWriter, r *http.Request) {
		f := chargeFilter{OrderID: r.URL.Query().Get("order_id"), Customer: r.URL.Query().Get("customer")}
		if sub := platform.Subject(r); sub != "" {
			f.Customer = sub
		}
		cs, err := s.st.list(r.Context(), f)
		if err != nil {
			platform.WriteInternal(w, r, err)
			return
		}
		platform.WriteJSON(w, http.StatusOK, cs)
	})
	s.faults.Serve(s.srv, Faults.check)
}
