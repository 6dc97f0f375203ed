package payments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
)

// Charge is one payment, identified by its idempotency key.
type Charge struct {
	// Key is the idempotency key, the saga step's.
	Key string `json:"key"`
	// OrderID identifies the order.
	OrderID string `json:"order_id"`
	// Customer is the user id of the buyer.
	Customer string `json:"customer"`
	// AmountCents is the amount charged, in cents.
	AmountCents int64 `json:"amount_cents"`
	// Status is charged, declined or refunded.
	Status string `json:"status"`
	// CreatedAt is when it was stored.
	CreatedAt time.Time `json:"created_at"`
}

// Charge statuses.
const (
	StatusCharged  = "charged"
	StatusDeclined = "declined"
	StatusRefunded = "refunded"
)

var schema = []string{
	`CREATE TABLE IF NOT EXISTS charges (
		charge_key TEXT PRIMARY KEY, order_id TEXT NOT NULL, customer TEXT NOT NULL,
		amount_cents BIGINT NOT NULL, status TEXT NOT NULL, created_at BIGINT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS charges_order ON charges (order_id)`,
}

type store struct{ db *platform.DB }

// charge records c unless its key exists, and returns the stored charge
// and whether it is c, new. A new charge costs one statement: the insert
// says whether it stored c, and only a repeated key reads the charge
// stored first. With tx nil it runs on its own.
func (s *store) charge(ctx context.Context, tx *platform.Tx, c Charge) (Charge, bool, error) {
	at := c.CreatedAt.UnixNano()
	q := `INSERT INTO charges (charge_key, order_id, customer, amount_cents, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (charge_key) DO NOTHING RETURNING created_at`
	args := []any{c.Key, c.OrderID, c.Customer, c.AmountCents, c.Status, at}
	var row *sql.Row
	if tx != nil {
		row = tx.QueryRow(ctx, q, args...)
	} else {
		row = s.db.QueryRow(ctx, q, args...)
	}
	err := row.Scan(&at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if tx != nil {
			stored, err := scanCharge(tx.QueryRow(ctx, selectCharge, c.Key))
			return stored, false, err
		}
		stored, err := s.get(ctx, c.Key) // the key was taken: its first outcome stands
		return stored, false, err
	case err != nil:
		return c, false, fmt.Errorf("payments: charge: %w", err)
	}
	c.CreatedAt = time.Unix(0, at).UTC() // as get returns it
	return c, true, nil
}

const selectCharge = `SELECT charge_key, order_id, customer, amount_cents, status, created_at
		FROM charges WHERE charge_key = ?`

var errNotFound = errors.New("payments: no such charge")

func (s *store) get(ctx context.Context, key string) (Charge, error) {
	return scanCharge(s.db.QueryRow(ctx, selectCharge, key))
}

func scanCharge(row *sql.Row) (Charge, error) {
	var c Charge
	var at int64
	err := row.Scan(&c.Key, &c.OrderID, &c.Customer, &c.AmountCents, &c.Status, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return c, errNotFound
	}
	if err != nil {
		return c, fmt.Errorf("payments: get: %w", err)
	}
	c.CreatedAt = time.Unix(0, at).UTC()
	return c, nil
}

// refund marks the charge under key refunded, once. A key never charged
// gets a refunded tombstone, so that a late charge with it is refused.
//
// The tombstone is inserted before the update, not after: under
// PostgreSQL's READ COMMITTED an update run while the charge of key is
// still in flight sees no row and changes nothing, and the charge would
// then commit and stay charged. The insert instead waits for the in-flight
// charge to commit or roll back, and the update after it sees the outcome.
func (s *store) refund(ctx context.Context, key string, now time.Time) (Charge, error) {
	if _, _, err := s.charge(ctx, nil, Charge{Key: key, Status: StatusRefunded, CreatedAt: now}); err != nil {
		return Charge{}, fmt.Errorf("payments: refund: %w", err)
	}
	if _, err := s.db.Exec(ctx, `UPDATE charges SET status = 'refunded' WHERE charge_key = ? AND status = 'charged'`, key); err != nil {
		return Charge{}, fmt.Errorf("payments: refund: %w", err)
	}
	return s.get(ctx, key)
}

// chargeFilter selects charges; an empty field selects any.
type chargeFilter struct {
	OrderID, Customer string
}

func (s *store) list(ctx context.Context, f chargeFilter) ([]Charge, error) {
	q := `SELECT charge_key, order_id, customer, amount_cents, status, created_at FROM charges WHERE 1 = 1`
	args := []any{}
	if f.OrderID != "" {
		q += ` AND order_id = ?`
		args = append(args, f.OrderID)
	}
	if f.Customer != "" {
		q += ` AND customer = ?`
		args = append(args, f.Customer)
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY created_at, charge_key`, args...)
	if err != nil {
		return nil, fmt.Errorf("payments: list: %w", err)
	}
	defer rows.Close()
	out := []Charge{}
	for rows.Next() {
		var c Charge
		var at int64
		if err := rows.Scan(&c.Key, &c.OrderID, &c.Customer, &c.AmountCents, &c.Status, &at); err != nil {
			return nil, fmt.Errorf("payments: list: %w", err)
		}
		c.CreatedAt = time.Unix(0, at).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}
