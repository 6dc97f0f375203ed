package products

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/internal/sqltest"
)

// newPostgresStore returns a store on a schema of its own in the test
// PostgreSQL database, seeded like newStore, and a pool on the same schema.
// Its connections carry the schema's name as application_name, so that
// waitBlocked finds them.
func newPostgresStore(t *testing.T) (*store, *sql.DB, string) {
	t.Helper()
	dsn, app := sqltest.PostgresSchema(t, "products")
	dsn += "&application_name=" + app
	ctx := context.Background()
	db, err := platform.OpenDB(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, schema...); err != nil {
		t.Fatal(err)
	}
	st := &store{db: db}
	if err := st.seed(ctx, []Product{{ID: "a", Name: "A", PriceCents: 100, Stock: 5}}); err != nil {
		t.Fatal(err)
	}
	return st, db.SQL(), app
}

// waitBlocked returns once n connections of app wait on a lock, or once
// done is closed.
func waitBlocked(t *testing.T, db *sql.DB, app string, n int, done <-chan struct{}) {
	t.Helper()
	for {
		select {
		case <-done:
			return
		default:
		}
		var got int
		if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
	}
}

// A release that runs while the reserve of the same key is still in flight
// on PostgreSQL (the saga compensating a reserve whose reply it never got)
// must give back what that reserve takes, or refuse it: stock never leaks.
// The reserve is held in flight by a lock on the product's row.
func TestReleaseDuringInFlightReservePostgres(t *testing.T) {
	st, pool, app := newPostgresStore(t)
	ctx := t.Context()

	hold, err := pool.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback()
	if _, err := hold.ExecContext(ctx, `SELECT stock FROM products WHERE id = 'a' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	reserved := make(chan error, 1)
	reserveDone := make(chan struct{})
	go func() { reserved <- st.reserve(ctx, "k", []Item{{"a", 2}}); close(reserveDone) }()
	waitBlocked(t, pool, app, 1, reserveDone)

	released := make(chan error, 1)
	releaseDone := make(chan struct{})
	go func() { released <- st.release(ctx, "k"); close(releaseDone) }()
	// The release either waits for the reserve or (the bug) finishes first.
	waitBlocked(t, pool, app, 2, releaseDone)
	if err := hold.Commit(); err != nil {
		t.Fatal(err)
	}

	if err := <-reserved; err != nil && !errors.Is(err, ErrReleased) {
		t.Fatalf("reserve: %v", err)
	}
	if err := <-released; err != nil {
		t.Fatalf("release: %v", err)
	}
	a, err := st.get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if a.Stock != 5 {
		t.Fatalf("stock of a = %d after reserve and release of one key, want 5", a.Stock)
	}
	res, err := st.reserved(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 0 {
		t.Fatalf("reserved = %v after the release, want none", res)
	}
	if err := st.reserve(ctx, "k", []Item{{"a", 2}}); !errors.Is(err, ErrReleased) {
		t.Fatalf("reserve after release = %v, want ErrReleased", err)
	}
}
