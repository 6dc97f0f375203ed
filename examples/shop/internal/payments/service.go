package payments

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
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
	// Publisher is the bus its outbox relay publishes the outcomes of
	// charges to. Required.
	Publisher eventbus.Publisher
	// ConfirmAfter is how long after a charge its outcome is published,
	// as a payment provider's webhook comes a moment after the charge;
	// zero means DefaultConfirmAfter.
	ConfirmAfter time.Duration
}

// DefaultConfirmAfter is how long after a charge its outcome is
// published by default.
const DefaultConfirmAfter = 100 * time.Millisecond

// Event types the payment-service publishes: the outcome of a charge.
const (
	EventConfirmed = "payment.confirmed"
	EventDeclined  = "payment.declined"
)

// Event is the payload of a payment event.
type Event struct {
	// Key is the charge's idempotency key: the key the order saga waits
	// on.
	Key string `json:"key"`
	// OrderID identifies the order.
	OrderID string `json:"order_id"`
	// AmountCents is the amount, in cents.
	AmountCents int64 `json:"amount_cents"`
	// Status is charged or declined.
	Status string `json:"status"`
	// Reason says why a charge was declined; empty otherwise.
	Reason string `json:"reason,omitempty"`
}

// Service is a running payment-service. Close stops it.
type Service struct {
	cfg    Config
	base   *platform.Base
	st     *store
	faults platform.Faults[Faults]
	srv    *platform.Server
	relay  *platform.Relay
}

// New opens the database and starts the service, registered as
// payment-service.
func New(ctx context.Context, deps *platform.Deps, cfg Config) (_ *Service, err error) {
	if cfg.Publisher == nil {
		return nil, errors.New("payments: Config.Publisher is required")
	}
	if cfg.LimitCents == 0 {
		cfg.LimitCents = DefaultLimitCents
	}
	if cfg.ConfirmAfter == 0 {
		cfg.ConfirmAfter = DefaultConfirmAfter
	}
	b, err := platform.NewBase(ctx, deps, platform.PaymentService, cfg.DSN, cfg.Addr, schema...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.Close(context.WithoutCancel(ctx)))
		}
	}()
	s := &Service{cfg: cfg, base: b, st: &store{db: b.DB}, srv: b.Server}
	con := s.srv.Console()
	if s.relay, err = platform.StartRelay(ctx, b.DB, cfg.Publisher, deps.Logger, s.srv.Metrics(), con.OutboxListener()); err != nil {
		return nil, err
	}
	b.Stack.Push(s.relay.Close)
	con.AddOutbox("payment events", b.DB.SQL(), b.DB.Dialect(), outbox.DefaultTable)
	s.routes()
	if err := b.Serve(ctx, deps, platform.PaymentService); err != nil {
		return nil, err
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

// Accepted is the answer to a charge: taken, its outcome to be published
// as a payment.confirmed or payment.declined event.
type Accepted struct {
	// Key is the charge's idempotency key.
	Key string `json:"key"`
	// Status is pending.
	Status string `json:"status"`
}

// StatusPending is the status of a charge in Accepted: its outcome is yet
// to be published.
const StatusPending = "pending"

// charge stores c unless its key exists and, with a new charge, its
// outcome's event, due ConfirmAfter later, in the same transaction: as a
// payment provider decides at once and tells the merchant a moment later
// by webhook, and as durably as the charge itself. A repeated key has no
// second event. With the HoldConfirmations fault no event is stored: the
// provider never answers.
func (s *Service) charge(ctx context.Context, c Charge, f Faults) (Charge, error) {
	var created bool
	err := s.st.db.Tx(ctx, func(tx *platform.Tx) error {
		var err error
		if c, created, err = s.st.charge(ctx, tx, c); err != nil || !created || f.HoldConfirmations {
			return err
		}
		e := Event{Key: c.Key, OrderID: c.OrderID, AmountCents: c.AmountCents, Status: c.Status}
		typ := EventConfirmed
		if c.Status == StatusDeclined {
			typ = EventDeclined
			e.Reason = fmt.Sprintf("amount %d cents is over the limit of %d cents", c.AmountCents, s.cfg.LimitCents)
		}
		msg, err := eventbus.NewMessage(typ, e)
		if err != nil {
			return err
		}
		msg.Source, msg.Subject = "/payments", c.OrderID
		platform.InjectTrace(ctx, msg)
		return outbox.AddAfter(ctx, tx.SQL(), s.cfg.ConfirmAfter, msg)
	})
	if err == nil && created && !f.HoldConfirmations {
		// The event is due ConfirmAfter after it was added, a moment
		// before this: the relay wakes when it is due, not now to find
		// nothing due.
		s.relay.KickAt(time.Now().Add(s.cfg.ConfirmAfter))
	}
	return c, err
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
		c, err := s.charge(r.Context(), Charge{Key: req.Key, OrderID: req.OrderID, Customer: req.Customer,
			AmountCents: req.AmountCents, Status: status, CreatedAt: time.Now()}, f)
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
		if c.Status == StatusRefunded {
			platform.WriteError(w, r, http.StatusConflict, "refunded", "this charge key was already refunded")
			return
		}
		// Accepted: the outcome, charged or declined, comes as an event.
		platform.WriteJSON(w, http.StatusAccepted, Accepted{Key: c.Key, Status: StatusPending})
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
