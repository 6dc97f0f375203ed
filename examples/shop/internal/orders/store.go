package orders

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/products"
)

// Order statuses.
const (
	StatusPending   = "pending"
	StatusConfirmed = "confirmed"
	StatusShipped   = "shipped"
	StatusCancelled = "cancelled"
)

// Event types the order-service publishes.
const (
	EventCreated   = "order.created"
	EventConfirmed = "order.confirmed"
	EventCancelled = "order.cancelled"
	EventShipped   = "order.shipped"
	// EventDispatched is the warehouse's: it shipped an order. The
	// order-service books a shipment by scheduling it (see ShipmentEvent).
	EventDispatched = "shipment.dispatched"
)

// ShipmentEvent is the payload of a shipment.dispatched event.
type ShipmentEvent struct {
	// Key is the correlation key of the saga step that waits for it.
	Key string `json:"key"`
	// OrderID identifies the order.
	OrderID string `json:"order_id"`
	// TrackingNumber is the shipment's.
	TrackingNumber string `json:"tracking_number"`
}

// Order is one order as the API shows it.
type Order struct {
	// ID identifies the order; the client may choose it.
	ID string `json:"id"`
	// Customer is the user id of the buyer.
	Customer string `json:"customer"`
	// Status is pending (until its payment is confirmed), confirmed (paid,
	// waiting for the warehouse), shipped or cancelled.
	Status string `json:"status"`
	// TrackingNumber is the shipment's, once the order is confirmed.
	TrackingNumber string `json:"tracking_number,omitempty"`
	// Items are the ordered lines.
	Items []products.Item `json:"items"`
	// TotalCents is the order total in cents.
	TotalCents int64 `json:"total_cents"`
	// Reason says why a cancelled order was cancelled; nil for the others.
	Reason *Reason `json:"reason,omitempty"`
	// CreatedAt is when it was stored.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when its status last changed.
	UpdatedAt time.Time `json:"updated_at"`
}

// OrderEvent is the payload of every order event.
type OrderEvent struct {
	// OrderID identifies the order.
	OrderID string `json:"order_id"`
	// Customer is the user id of the buyer.
	Customer string `json:"customer"`
	// TotalCents is the order total in cents.
	TotalCents int64 `json:"total_cents"`
	// Status is pending, confirmed, shipped or cancelled.
	Status string `json:"status"`
	// TrackingNumber is the shipment's, on order.shipped.
	TrackingNumber string `json:"tracking_number,omitempty"`
	// Reason says why a cancelled order was cancelled; nil for the others.
	Reason *Reason `json:"reason,omitempty"`
}

var schema = []string{
	`CREATE TABLE IF NOT EXISTS orders (
		id TEXT PRIMARY KEY, customer TEXT NOT NULL, status TEXT NOT NULL,
		items TEXT NOT NULL, total_cents BIGINT NOT NULL, reason TEXT NOT NULL,
		created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, ` + trackingColumn + `)`,
	`CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer, created_at)`,
	// Why a pending order's saga failed is noted in its reason column
	// (shown once the order is cancelled). Databases that kept these notes
	// in a table of their own, order_failures, have them moved into the
	// orders they belong to; the table is read by this migration only.
	`CREATE TABLE IF NOT EXISTS order_failures (order_id TEXT PRIMARY KEY, reason TEXT NOT NULL)`,
	`UPDATE orders SET reason = (SELECT f.reason FROM order_failures f WHERE f.order_id = orders.id)
		WHERE status = 'pending' AND reason = ''
		AND EXISTS (SELECT 1 FROM order_failures f WHERE f.order_id = orders.id)`,
}

var errNotFound = errors.New("orders: not found")

type store struct {
	db *platform.DB
}

// trackingColumn is added to orders tables made before orders shipped.
const trackingColumn = `tracking TEXT NOT NULL DEFAULT ''`

const orderColumns = `id, customer, status, items, total_cents, reason, created_at, updated_at, tracking`

func scanOrder(row interface{ Scan(...any) error }) (Order, error) {
	var o Order
	var items, reason string
	var created, updated int64
	if err := row.Scan(&o.ID, &o.Customer, &o.Status, &items, &o.TotalCents, &reason, &created, &updated, &o.TrackingNumber); err != nil {
		return o, err
	}
	if o.Status == StatusCancelled {
		// A pending order's reason column holds the note of a failed step,
		// which becomes its reason only if the order is cancelled.
		o.Reason = parseReason(reason)
	}
	if err := json.Unmarshal([]byte(items), &o.Items); err != nil {
		return o, fmt.Errorf("orders: stored items of %s: %w", o.ID, err)
	}
	o.CreatedAt, o.UpdatedAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	return o, nil
}

func (s *store) get(ctx context.Context, id string) (Order, error) {
	o, err := scanOrder(s.db.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return o, errNotFound
	}
	if err != nil {
		return o, fmt.Errorf("orders: get %s: %w", id, err)
	}
	return o, nil
}

func (s *store) list(ctx context.Context, customer string, limit int) ([]Order, error) {
	rows, err := s.db.Query(ctx, `SELECT `+orderColumns+` FROM orders WHERE customer = ?
		ORDER BY created_at DESC, id LIMIT ?`, customer, limit)
	if err != nil {
		return nil, fmt.Errorf("orders: list: %w", err)
	}
	defer rows.Close()
	out := []Order{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("orders: list: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// errOrderExists is the order step's error when an order with the saga's
// id exists: a concurrent request with that id stored it first.
var errOrderExists = errors.New("orders: an order with this id exists")

// stored returns o as the orders table gives it back: times at nanosecond
// precision in UTC, so that the answer to the request that made or settled
// it equals a later read.
func stored(o Order) Order {
	o.CreatedAt, o.UpdatedAt = time.Unix(0, o.CreatedAt.UnixNano()).UTC(), time.Unix(0, o.UpdatedAt.UnixNano()).UTC()
	return o
}

// insert stores the pending order o and its order.created event in tx. It
// returns errOrderExists when an order with o's id exists.
func (s *store) insert(ctx context.Context, tx *platform.Tx, o Order) (Order, error) {
	items, err := json.Marshal(o.Items)
	if err != nil {
		return o, fmt.Errorf("orders: create: %w", err)
	}
	res, err := tx.Exec(ctx, `INSERT INTO orders (`+orderColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '')
		ON CONFLICT (id) DO NOTHING`, o.ID, o.Customer, o.Status, string(items), o.TotalCents, "",
		o.CreatedAt.UnixNano(), o.UpdatedAt.UnixNano())
	if err != nil {
		return o, fmt.Errorf("orders: create %s: %w", o.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return o, errOrderExists
	}
	return stored(o), enqueue(ctx, tx, o.CreatedAt, EventCreated, o)
}

// settle moves the order id to status with its event, in tx, and returns
// the order as settled: a pending order to confirmed, or a pending or
// confirmed (paid, not shipped) one to cancelled. A confirmed order has no
// reason; a cancelled one keeps the reason noted where its saga failed, or
// else takes reason. Settling an order already in that status is a no-op
// that returns it; one in another final status is an error. The update
// returns the row, so that the saga's case is settled without reading the
// order first.
func (s *store) settle(ctx context.Context, tx *platform.Tx, id, status string, reason *Reason) (Order, error) {
	now := time.Now()
	newReason, from := `?`, `('pending')`
	if status == StatusCancelled {
		newReason, from = `COALESCE(NULLIF(reason, ''), ?)`, `('pending', 'confirmed')`
	} else {
		reason = nil
	}
	o, err := scanOrder(tx.QueryRow(ctx, `UPDATE orders SET status = ?, reason = `+newReason+`, updated_at = ?
		WHERE id = ? AND status IN `+from+` RETURNING `+orderColumns, status, reason.column(), now.UnixNano(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return s.settled(ctx, tx, id, status)
	}
	if err != nil {
		return o, fmt.Errorf("orders: settle %s: %w", id, err)
	}
	typ := EventConfirmed
	if status == StatusCancelled {
		typ = EventCancelled
	}
	return o, enqueue(ctx, tx, now, typ, o)
}

// settled returns the order id that an update to status found in another
// status: settled before (a repeated step), or an error.
func (s *store) settled(ctx context.Context, tx *platform.Tx, id, status string) (Order, error) {
	o, err := scanOrder(tx.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, id))
	if err != nil {
		return o, fmt.Errorf("orders: settle %s: %w", id, err)
	}
	if o.Status == status {
		return o, nil
	}
	return o, fmt.Errorf("orders: settle %s as %s: it is already %s", id, status, o.Status)
}

// ship moves the confirmed order id to shipped with its tracking number
// and its order.shipped event, in tx.
func (s *store) ship(ctx context.Context, tx *platform.Tx, id, tracking string) (Order, error) {
	now := time.Now()
	o, err := scanOrder(tx.QueryRow(ctx, `UPDATE orders SET status = 'shipped', tracking = ?, updated_at = ?
		WHERE id = ? AND status = 'confirmed' RETURNING `+orderColumns, tracking, now.UnixNano(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return s.settled(ctx, tx, id, StatusShipped)
	}
	if err != nil {
		return o, fmt.Errorf("orders: ship %s: %w", id, err)
	}
	return o, enqueue(ctx, tx, now, EventShipped, o)
}

// bookShipment schedules the warehouse's answer to the booking of a
// shipment, e, after d: the shop's stand-in for a warehouse.
func (s *store) bookShipment(ctx context.Context, tx *platform.Tx, e ShipmentEvent, d time.Duration) error {
	msg, err := eventbus.NewMessage(EventDispatched, e)
	if err != nil {
		return err
	}
	msg.Source, msg.Subject = "/warehouse", e.OrderID
	platform.InjectTrace(ctx, msg)
	return outbox.AddAfter(ctx, tx.SQL(), d, msg)
}

// enqueue adds the event to the outbox within tx, with the trace context of
// ctx in its metadata so that the trace continues through the relay and the
// bus.
func enqueue(ctx context.Context, tx *platform.Tx, now time.Time, typ string, o Order) error {
	msg, err := eventbus.NewMessage(typ, OrderEvent{OrderID: o.ID, Customer: o.Customer,
		TotalCents: o.TotalCents, Status: o.Status, TrackingNumber: o.TrackingNumber, Reason: o.Reason})
	if err != nil {
		return err
	}
	msg.Source, msg.Subject, msg.Time = "/orders", o.ID, now
	platform.InjectTrace(ctx, msg)
	return outbox.Add(ctx, tx.SQL(), msg)
}
