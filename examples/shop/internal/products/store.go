package products

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
)

// Product is one catalog entry.
type Product struct {
	// ID identifies the product, e.g. "p-mouse".
	ID string `json:"id"`
	// Name is for people.
	Name string `json:"name"`
	// PriceCents is the unit price in cents.
	PriceCents int64 `json:"price_cents"`
	// Stock is the quantity not reserved.
	Stock int64 `json:"stock"`
}

// Item is a quantity of one product.
type Item struct {
	// ProductID identifies the product.
	ProductID string `json:"product_id"`
	// Quantity is how many; at least 1.
	Quantity int64 `json:"quantity"`
}

// MergeItems returns items with the lines of one product merged into one
// (their quantities added), sorted by product: the same order however its
// lines were split or ordered. Stock is taken per product, once.
func MergeItems(items []Item) []Item {
	merged := make(map[string]int64, len(items))
	for _, it := range items {
		merged[it.ProductID] += it.Quantity
	}
	out := make([]Item, 0, len(merged))
	for id, q := range merged {
		out = append(out, Item{ProductID: id, Quantity: q})
	}
	slices.SortFunc(out, func(a, b Item) int { return strings.Compare(a.ProductID, b.ProductID) })
	return out
}

// Errors the store returns.
var (
	ErrNotFound   = errors.New("products: not found")
	ErrOutOfStock = errors.New("products: out of stock")
	ErrReleased   = errors.New("products: reservation already released")
)

var schema = []string{
	`CREATE TABLE IF NOT EXISTS products (
		id TEXT PRIMARY KEY, name TEXT NOT NULL,
		price_cents BIGINT NOT NULL, stock BIGINT NOT NULL CHECK (stock >= 0))`,
	`CREATE TABLE IF NOT EXISTS reservations (
		res_key TEXT NOT NULL, product_id TEXT NOT NULL, quantity BIGINT NOT NULL,
		status TEXT NOT NULL, PRIMARY KEY (res_key, product_id))`,
	// One row per key, claimed by whichever of reserve and release comes
	// first: the primary key makes the second wait until the first commits.
	`CREATE TABLE IF NOT EXISTS reservation_keys (
		res_key TEXT PRIMARY KEY, status TEXT NOT NULL)`,
	// Reservations stored before reservation_keys existed get their key
	// row, with their outcome (the rows of a key share it), so that a
	// reserve can trust its claim alone: a key it claims has no
	// reservation. ("WHERE true" keeps SQLite from reading ON CONFLICT as
	// a join's.)
	`INSERT INTO reservation_keys (res_key, status)
		SELECT res_key, MIN(status) FROM reservations r WHERE NOT EXISTS
			(SELECT 1 FROM reservation_keys k WHERE k.res_key = r.res_key)
		GROUP BY res_key
		ON CONFLICT (res_key) DO NOTHING`,
}

type store struct{ db *platform.DB }

func (s *store) seed(ctx context.Context, catalog []Product) error {
	for _, p := range catalog {
		if _, err := s.db.Exec(ctx, `INSERT INTO products (id, name, price_cents, stock) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, p.ID, p.Name, p.PriceCents, p.Stock); err != nil {
			return fmt.Errorf("products: seed %s: %w", p.ID, err)
		}
	}
	return nil
}

func (s *store) list(ctx context.Context) ([]Product, error) {
	rows, err := s.db.Query(ctx, `SELECT id, name, price_cents, stock FROM products ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("products: list: %w", err)
	}
	defer rows.Close()
	out := []Product{}
	for rows.Next() {
		var p Product
		if err := rows.Scan(&p.ID, &p.Name, &p.PriceCents, &p.Stock); err != nil {
			return nil, fmt.Errorf("products: list: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *store) get(ctx context.Context, id string) (Product, error) {
	var p Product
	err := s.db.QueryRow(ctx, `SELECT id, name, price_cents, stock FROM products WHERE id = ?`, id).
		Scan(&p.ID, &p.Name, &p.PriceCents, &p.Stock)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("products: get %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("products: get %q: %w", id, err)
	}
	return p, nil
}

// reserve takes the items out of stock under key, once: a repeated key
// returns the first outcome without touching stock again.
func (s *store) reserve(ctx context.Context, key string, items []Item) error {
	return s.db.Tx(ctx, func(tx *platform.Tx) error {
		claimed, err := claim(ctx, tx, key, "reserved")
		if err != nil {
			return fmt.Errorf("products: reserve: %w", err)
		}
		if !claimed {
			// A reserve or release of key committed first (or was in flight,
			// and the claim waited for it): its outcome stands.
			var status string
			if err := tx.QueryRow(ctx, `SELECT status FROM reservation_keys WHERE res_key = ?`, key).Scan(&status); err != nil {
				return fmt.Errorf("products: reserve: %w", err)
			}
			if status == "released" {
				return ErrReleased
			}
			return nil
		}
		// The key is new: every reservation has its key row (the schema
		// gives one to those stored before the table existed).
		for _, it := range MergeItems(items) {
			res, err := tx.Exec(ctx, `UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?`,
				it.Quantity, it.ProductID, it.Quantity)
			if err != nil {
				return fmt.Errorf("products: reserve: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("products: reserve %d of %q: %w", it.Quantity, it.ProductID, ErrOutOfStock)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO reservations (res_key, product_id, quantity, status)
				VALUES (?, ?, ?, 'reserved')`, key, it.ProductID, it.Quantity); err != nil {
				return fmt.Errorf("products: reserve: %w", err)
			}
		}
		return nil
	})
}

// claim inserts key's row in reservation_keys with status and reports
// whether it did; false means another reserve or release of key claimed it
// first. Reserve and release both claim before they read, so that they
// serialize: under PostgreSQL's READ COMMITTED a release that only read the
// reservations would see none while a reserve of the same key is still in
// flight, record the key released, and let the reserve commit stock that
// nobody gives back. The insert instead waits for the in-flight claim to
// commit or roll back, and the statements after it see the outcome.
func claim(ctx context.Context, tx *platform.Tx, key, status string) (bool, error) {
	res, err := tx.Exec(ctx, `INSERT INTO reservation_keys (res_key, status) VALUES (?, ?)
		ON CONFLICT (res_key) DO NOTHING`, key, status)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// release puts the stock reserved under key back, once. Releasing a key
// never reserved records it released, so that a late reserve with that key
// is refused rather than taking stock nobody will release.
func (s *store) release(ctx context.Context, key string) error {
	return s.db.Tx(ctx, func(tx *platform.Tx) error {
		// Claimed or not, the reservations read below are final: a reserve
		// of key in flight has committed or rolled back by now.
		if _, err := claim(ctx, tx, key, "released"); err != nil {
			return fmt.Errorf("products: release: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT product_id, quantity FROM reservations
			WHERE res_key = ? AND status = 'reserved'`, key)
		if err != nil {
			return fmt.Errorf("products: release: %w", err)
		}
		var items []Item
		for rows.Next() {
			var it Item
			if err := rows.Scan(&it.ProductID, &it.Quantity); err != nil {
				rows.Close()
				return fmt.Errorf("products: release: %w", err)
			}
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("products: release: %w", err)
		}
		for _, it := range items {
			if _, err := tx.Exec(ctx, `UPDATE products SET stock = stock + ? WHERE id = ?`, it.Quantity, it.ProductID); err != nil {
				return fmt.Errorf("products: release: %w", err)
			}
		}
		for _, q := range []string{
			`UPDATE reservations SET status = 'released' WHERE res_key = ?`,
			`UPDATE reservation_keys SET status = 'released' WHERE res_key = ?`,
		} {
			if _, err := tx.Exec(ctx, q, key); err != nil {
				return fmt.Errorf("products: release: %w", err)
			}
		}
		return nil
	})
}

// reserved returns the quantity of each product held by live reservations.
func (s *store) reserved(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.Query(ctx, `SELECT product_id, SUM(quantity) FROM reservations
		WHERE status = 'reserved' GROUP BY product_id`)
	if err != nil {
		return nil, fmt.Errorf("products: reserved: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("products: reserved: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}
