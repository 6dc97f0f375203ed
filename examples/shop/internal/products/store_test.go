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
