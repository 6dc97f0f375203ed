package notifications

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbusmetrics"
	"github.com/go-microkit/microkit/eventbus/eventbustrace"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/examples/shop/internal/orders"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/retry"
)

// Config configures the notification-service.
type Config struct {
	// DSN is its database: a SQLite path or a postgres:// URL. Required.
	DSN string
	// Addr is where it listens; zero means a free loopback port.
	Addr string
	// Subscriber is the bus it consumes from. Required.
	Subscriber eventbus.Subscriber
	// Publisher is the bus it parks the events it fails on for good
	// through (eventbus.DeadLetter), and that its console replays them
	// to. Required.
	Publisher eventbus.Publisher
	// System names the bus in spans ("nats"). Zero means "nats".
	System string
	// Group is the consumer group; zero means "notification-service".
	// The dead letters are collected by the group Group + "-deadletters".
	Group string
}

// Notification is one message sent to a customer.
type Notification struct {
	// EventID is the ID of the event it came from.
	EventID string `json:"event_id"`
	// OrderID identifies the order.
	OrderID string `json:"order_id"`
	// Customer is the user id of the buyer.
	Customer string `json:"customer"`
	// Kind is the event type, e.g. order.confirmed.
	Kind string `json:"kind"`
	// Message is the text sent to the customer.
	Message string `json:"message"`
	// CreatedAt is when it was stored.
	CreatedAt time.Time `json:"created_at"`
}

var schema = []string{
	`CREATE TABLE IF NOT EXISTS notifications (
		event_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, customer TEXT NOT NULL,
		kind TEXT NOT NULL, message TEXT NOT NULL, created_at BIGINT NOT NULL,
		UNIQUE (order_id, kind))`,
	`CREATE INDEX IF NOT EXISTS notifications_customer ON notifications (customer, created_at)`,
}

// Service is a running notification-service. Close stops it.
type Service struct {
	cfg    Config
	deps   *platform.Deps
	base   *platform.Base
	db     *platform.DB
	router *eventbus.Router
	srv    *platform.Server
	faults platform.Faults[Faults]
}

// New opens the database, starts the consumer group, the one that collects
// dead letters, and the HTTP server, registered as notification-service.
func New(ctx context.Context, deps *platform.Deps, cfg Config) (_ *Service, err error) {
	if cfg.Subscriber == nil || cfg.Publisher == nil {
		return nil, errors.New("notifications: Config.Subscriber and Config.Publisher are required")
	}
	if cfg.System == "" {
		cfg.System = "nats"
	}
	if cfg.Group == "" {
		cfg.Group = deps.Name(platform.NotificationService)
	}
	b, err := platform.NewBase(ctx, deps, platform.NotificationService, cfg.DSN, cfg.Addr, schema...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.Close(context.WithoutCancel(ctx)))
		}
	}()
	s := &Service{cfg: cfg, deps: deps, base: b, db: b.DB, srv: b.Server}
	metrics, err := eventbusmetrics.New(s.srv.Metrics())
	if err != nil {
		return nil, fmt.Errorf("notifications: metrics: %w", err)
	}
	observe := []eventbus.Middleware{eventbus.Recover(), eventbustrace.Middleware(cfg.System), metrics.Middleware()}
	// The collector runs first, so that nothing is dead-lettered before
	// the store takes it; it stops last.
	dead, err := s.collectDeadLetters(ctx, cfg.Group+"-deadletters", observe...)
	if err != nil {
		return nil, err
	}
	s.srv.Console().AddDeadLetters(dead, cfg.Publisher)
	// Deliveries run 16 at a time per event type, and the inbox commits
	// the ones that meet in one transaction (group commit): under load a
	// notification costs a fraction of a commit instead of one each. An
	// event that fails 20 times, or for good at once, is dead-lettered
	// (DeadLetter outside Retry parks the last attempt's failure).
	s.router, err = eventbus.NewRouter(cfg.Subscriber, cfg.Group, eventbus.WithLogger(deps.Logger), eventbus.WithConcurrency(16),
		eventbus.WithMiddleware(slices.Concat(observe, []eventbus.Middleware{
			eventbus.DeadLetter(cfg.Publisher, eventbus.DeadLetterLogger(deps.Logger)),
			eventbus.Retry(retry.Policy{MaxAttempts: 20, Backoff: retry.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second}}),
		})...))
	if err != nil {
		return nil, fmt.Errorf("notifications: router: %w", err)
	}
	if err := outbox.Migrate(ctx, b.DB.SQL(), b.DB.Dialect()); err != nil {
		return nil, fmt.Errorf("notifications: inbox: %w", err)
	}
	inbox, err := outbox.NewInbox(b.DB.SQL(), b.DB.Dialect(), outbox.WithGroupCommit(64))
	if err != nil {
		return nil, fmt.Errorf("notifications: inbox: %w", err)
	}
	handle := inbox.Handler(cfg.Group, s.handle)
	for _, typ := range []string{orders.EventCreated, orders.EventConfirmed, orders.EventShipped, orders.EventCancelled} {
		if err := s.router.Handle(typ, handle); err != nil {
			return nil, fmt.Errorf("notifications: handle %s: %w", typ, err)
		}
	}
	// The consumers live on the stream's leader, which a cluster may still
	// be electing: wait for it.
	if err := deps.WaitFor(ctx, "the consumers of "+cfg.Group, s.router.Start); err != nil {
		return nil, fmt.Errorf("notifications: start consumers: %w", err)
	}
	b.Stack.Push(s.router.Close)
	s.routes()
	if err := b.Serve(ctx, deps, platform.NotificationService); err != nil {
		return nil, err
	}
	return s, nil
}

// URL returns the base URL of the HTTP server.
func (s *Service) URL() string { return s.base.URL() }

// Close deregisters the service, stops consuming (the deliveries in flight
// finish) and closes its database. It is idempotent.
func (s *Service) Close(ctx context.Context) error { return s.base.Close(ctx) }

func text(kind string, e orders.OrderEvent) string {
	switch kind {
	case orders.EventCreated:
		return fmt.Sprintf("We received your order %s ($%.2f).", e.OrderID, float64(e.TotalCents)/100)
	case orders.EventConfirmed:
		return fmt.Sprintf("Your order %s is confirmed and paid ($%.2f).", e.OrderID, float64(e.TotalCents)/100)
	case orders.EventShipped:
		return fmt.Sprintf("Your order %s has shipped: tracking number %s.", e.OrderID, e.TrackingNumber)
	default:
		// Only the customer-facing Reason, never an error's text.
		if e.Reason == nil {
			return fmt.Sprintf("Your order %s was cancelled.", e.OrderID)
		}
		return fmt.Sprintf("Your order %s was cancelled. %s", e.OrderID, e.Reason.Message)
	}
}

// handle stores the notification of one event in the inbox's transaction,
// which also marks the message processed: a redelivery has no second effect.
// The unique (order_id, kind) also keeps out the same event under another ID.
// A failure rolls the mark back with the rest, so that the event, once
// dead-lettered, is handled when it is replayed.
func (s *Service) handle(ctx context.Context, tx *sql.Tx, msg *eventbus.Message) error {
	if s.faults.Get().Reject {
		// Inside the inbox's transaction, where a handler's own failure
		// happens.
		return retry.Permanent(errRejected)
	}
	e, err := eventbus.Decode[orders.OrderEvent](msg)
	if err != nil {
		return retry.Permanent(err)
	}
	_, err = tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO notifications (event_id, order_id, customer, kind, message, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		msg.ID, e.OrderID, e.Customer, msg.Type, text(msg.Type, e), time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("notifications: store: %w", err)
	}
	return nil
}

func (s *Service) routes() {
	s.faults.Serve(s.srv, nil)
	// GET /notifications lists notifications by ?order_id= and ?customer=.
	// The authenticated subject, when the gateway passed one, is the
	// customer whatever the query says: a customer sees only their own
	// notifications, and another customer's order lists nothing.
	s.srv.HandleFunc("GET /notifications", func(w http.ResponseWriter, r *http.Request) {
		q := `SELECT event_id, order_id, customer, kind, message, created_at FROM notifications WHERE 1 = 1`
		var args []any
		customer, order := r.URL.Query().Get("customer"), r.URL.Query().Get("order_id")
		if sub := platform.Subject(r); sub != "" {
			customer = sub
		}
		if customer != "" {
			q += ` AND customer = ?`
			args = append(args, customer)
		}
		if order != "" {
			q += ` AND order_id = ?`
			args = append(args, order)
		}
		rows, err := s.db.Query(r.Context(), q+` ORDER BY created_at, event_id`, args...)
		if err != nil {
			platform.WriteInternal(w, r, err)
			return
		}
		defer rows.Close()
		out := []Notification{}
		for rows.Next() {
			var n Notification
			var at int64
			if err := rows.Scan(&n.EventID, &n.OrderID, &n.Customer, &n.Kind, &n.Message, &at); err != nil {
				platform.WriteInternal(w, r, err)
				return
			}
			n.CreatedAt = time.Unix(0, at).UTC()
			out = append(out, n)
		}
		if err := rows.Err(); err != nil {
			platform.WriteInternal(w, r, err)
			return
		}
		platform.WriteJSON(w, http.StatusOK, out)
	})
}
