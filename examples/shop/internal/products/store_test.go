package products

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
)

func newStore(t *testing.T) *store {
	t.Helper()
	db, err := platform.OpenDB(context.Background(), filepath.Join(t.TempDir(), "products.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background(), schema...); err != nil {
		t.Fatal(err)
	}
	st := &store{db: db}
	if err := st.seed(context.Background(), []Product{{ID: "a", Name: "A", PriceCents: 100, Stock: 5}, {ID: "b", Name: "B", PriceCents: 200, Stock: 1}}); err != nil {
		t.Fatal(err)
	}
	return st
}

// The reservation steps: each op runs on the same store in order, and the
// stock of a and b is checked after it.
func TestReservationsAreIdempotentByKey(t *testing.T) {
	type op struct {
		name    string
		reserve []Item // nil: release
		key     string
		wantErr error
		a, b    int64
	}
	steps := []op{
		{name: "reserve", key: "k1", reserve: []Item{{"a", 2}, {"b", 1}}, a: 3, b: 0},
		{name: "reserve again is a no-op", key: "k1", reserve: []Item{{"a", 2}, {"b", 1}}, a: 3, b: 0},
		{name: "out of stock takes nothing", key: "k2", reserve: []Item{{"a", 1}, {"b", 1}}, wantErr: ErrOutOfStock, a: 3, b: 0},
		{name: "release", key: "k1", a: 5, b: 1},
		{name: "release again is a no-op", key: "k1", a: 5, b: 1},
		{name: "reserve a released key is refused", key: "k1", reserve: []Item{{"a", 1}}, wantErr: ErrReleased, a: 5, b: 1},
		{name: "release a key never reserved leaves a tombstone", key: "k3", a: 5, b: 1},
		{name: "a late reserve of that key is refused", key: "k3", reserve: []Item{{"a", 1}}, wantErr: ErrReleased, a: 5, b: 1},
	}
	st := newStore(t)
	ctx := context.Background()
	for _, s := range steps {
		var err error
		if s.reserve != nil {
			err = st.reserve(ctx, s.key, s.reserve)
		} else {
			err = st.release(ctx, s.key)
		}
		if !errors.Is(err, s.wantErr) {
			t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
		a, _ := st.get(ctx, "a")
		b, _ := st.get(ctx, "b")
		if a.Stock != s.a || b.Stock != s.b {
			t.Fatalf("%s: stock a=%d b=%d, want a=%d b=%d", s.name, a.Stock, b.Stock, s.a, s.b)
		}
	}
	if _, err := st.get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get unknown = %v, want ErrNotFound", err)
	}
}

// Reservations stored before reservation_keys existed (rows without a key
// row) keep their outcome once the schema is migrated: a repeated reserve
// of a reserved key takes no stock, and of a released one is refused.
func TestReservationsWithoutKeyRowsKeepTheirOutcome(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	for _, q := range []string{
		`DELETE FROM reservation_keys`,
		`INSERT INTO reservations (res_key, product_id, quantity, status) VALUES
			('old-reserved', 'a', 1, 'reserved'), ('old-reserved', 'b', 1, 'reserved'),
			('old-released', 'a', 2, 'released')`,
	} {
		if _, err := st.db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// The migration runs again at every start; twice must do no harm.
	for range 2 {
		if err := st.db.Migrate(ctx, schema...); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.reserve(ctx, "old-reserved", []Item{{"a", 1}, {"b", 1}}); err != nil {
		t.Fatalf("reserve of a key reserved before keys: %v, want its first outcome (nil)", err)
	}
	if err := st.reserve(ctx, "old-released", []Item{{"a", 2}}); !errors.Is(err, ErrReleased) {
		t.Fatalf("reserve of a key released before keys: %v, want ErrReleased", err)
	}
	for id, want := range map[string]int64{"a": 5, "b": 1} {
		p, err := st.get(ctx, id)
		if err != nil || p.Stock != want {
			t.Errorf("stock of %s: %d (%v), want %d untouched", id, p.Stock, err, want)
		}
	}
}
