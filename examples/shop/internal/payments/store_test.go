package payments

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/internal/testenv"
)

// openStore opens the database at dsn, closed when the test ends, and
// returns a store on it with the schema migrated.
func openStore(t *testing.T, dsn string) *store {
	t.Helper()
	db, err := platform.OpenDB(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background(), schema...); err != nil {
		t.Fatal(err)
	}
	return &store{db: db}
}

// Charge and refund steps on one store: each step's stored status after it.
func TestChargesAndRefundsAreIdempotentByKey(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "payments.db"))
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	charge := func(key string, cents int64) (Charge, error) {
		c, _, err := st.charge(ctx, nil, Charge{Key: key, OrderID: "o", Customer: "c", AmountCents: cents, Status: StatusCharged, CreatedAt: at})
		return c, err
	}
	refund := func(key string) (Charge, error) { return st.refund(ctx, key, at) }
	steps := []struct {
		name string
		do   func() (Charge, error)
		want string
	}{
		{"charge", func() (Charge, error) { return charge("k1", 500) }, StatusCharged},
		{"charge again returns the first charge", func() (Charge, error) { return charge("k1", 999) }, StatusCharged},
		{"refund", func() (Charge, error) { return refund("k1") }, StatusRefunded},
		{"refund again", func() (Charge, error) { return refund("k1") }, StatusRefunded},
		{"charge a refunded key stays refunded", func() (Charge, error) { return charge("k1", 500) }, StatusRefunded},
		{"refund a key never charged leaves a tombstone", func() (Charge, error) { return refund("k2") }, StatusRefunded},
		{"a late charge of that key is refused", func() (Charge, error) { return charge("k2", 500) }, StatusRefunded},
	}
	for _, s := range steps {
		c, err := s.do()
		if err != nil || c.Status != s.want {
			t.Fatalf("%s: %+v, %v; want status %s", s.name, c, err, s.want)
		}
	}
	c, _ := st.get(ctx, "k1")
	if c.AmountCents != 500 || !c.CreatedAt.Equal(at) {
		t.Errorf("k1 = %+v, want the first charge's amount and time", c)
	}
}

func TestFaultsApply(t *testing.T) {
	tests := []struct {
		f    Faults
		want int
	}{
		{Faults{}, 0},
		{Faults{ErrorRate: 1}, 500},
		{Faults{Down: true, ErrorRate: 1}, 503},
	}
	for _, tt := range tests {
		if got := tt.f.apply(context.Background()); got != tt.want {
			t.Errorf("apply(%+v) = %d, want %d", tt.f, got, tt.want)
		}
	}
}

// stores returns the payment store on SQLite and, when MICROKIT_POSTGRES_URL
// is set, on a PostgreSQL schema of its own, dropped when the test ends.
func stores(t *testing.T) map[string]*store {
	t.Helper()
	out := map[string]*store{"sqlite": openStore(t, filepath.Join(t.TempDir(), "payments.db"))}
	url := testenv.Addr(t, "MICROKIT_POSTGRES_URL")
	schema := fmt.Sprintf("payments_test_%d", time.Now().UnixNano())
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	st := openStore(t, url+sep+"search_path="+schema)
	t.Cleanup(func() {
		_, _ = st.db.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	out["postgres"] = st
	return out
}

// A new charge is answered from its insert alone; what it returns is what
// is stored, and a repeated key returns the first charge, not the new one.
func TestChargeReturnsTheStoredCharge(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
			first, _, err := st.charge(ctx, nil, Charge{Key: "k", OrderID: "o", Customer: "c", AmountCents: 500, Status: StatusCharged, CreatedAt: at})
			if err != nil {
				t.Fatal(err)
			}
			stored, err := st.get(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			if first != stored {
				t.Fatalf("charge returned %+v, stored is %+v", first, stored)
			}
			again, _, err := st.charge(ctx, nil, Charge{Key: "k", OrderID: "o2", Customer: "c2", AmountCents: 999, Status: StatusDeclined, CreatedAt: at.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if again != stored {
				t.Fatalf("repeated key returned %+v, want the first charge %+v", again, stored)
			}
		})
	}
}
