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
	faults faultState
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

func (s *Service) injected(w http.ResponseWriter, r *http.Request) bool {
	switch s.faults.apply(r.Context()) {
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
		if s.injected(w, r) {
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
		if s.injected(w, r) {
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
	// The fault switches are for administrators: the gateway passes the
	// role of a verified token only.
	s.srv.Handle("GET /admin/faults", platform.RequireRole(platform.RoleAdmin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		platform.WriteJSON(w, http.StatusOK, s.faults.get())
	})))
	s.srv.Handle("PUT /admin/faults", platform.RequireRole(platform.RoleAdmin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if !platform.ReadJSON(w, r, &f) {
			return
		}
		if f.ErrorRate < 0 || f.ErrorRate > 1 || f.LatencyMS < 0 {
			platform.WriteError(w, r, http.StatusBadRequest, "bad_request", "error_rate must be in [0, 1] and latency_ms not negative")
			return
		}
		s.faults.set(f)
		platform.WriteJSON(w, http.StatusOK, f)
	})))
}
