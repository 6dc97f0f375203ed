package outbox_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

// database is a fresh, migrated database of one dialect.
type database struct {
	dialect sqldialect.Dialect
	driver  string
	dsn     string
	db      *sql.DB
}

// backends are the databases every test runs against: SQLite always, and
// PostgreSQL at MICROKIT_POSTGRES_URL.
var backends = sqltest.Backends(openFresh)

// openSQLite returns a migrated SQLite database in a temporary file.
func openSQLite(t testing.TB) *database { return openFresh(t, sqldialect.SQLite) }

// openPostgres returns a migrated database in a fresh schema, dropped when
// the test ends: tests of other packages share the database.
func openPostgres(t testing.TB) *database { return openFresh(t, sqldialect.Postgres) }

// openFresh opens and migrates a fresh database of dialect d, with a
// business table "orders".
func openFresh(t testing.TB, d sqldialect.Dialect) *database {
	t.Helper()
	db, dsn := sqltest.Open(t, d, "outbox_test")
	ctx := context.Background()
	if err := outbox.Migrate(ctx, db, d); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return &database{dialect: d, driver: sqldb.Driver(d), dsn: dsn, db: db}
}

// age runs update, a statement that moves stored times (Unix nanoseconds)
// back by $1, so that rows look as old as a test needs without a clock.
func (d *database) age(t testing.TB, update string, by time.Duration) {
	t.Helper()
	if _, err := d.db.ExecContext(context.Background(), update, int64(by)); err != nil {
		t.Fatal(err)
	}
}

// backlog reads the backlog of d's outbox table (the default, or
// WithTable's).
func (d *database) backlog(t testing.TB, opts ...outbox.Option) outbox.Backlog {
	t.Helper()
	b, err := outbox.ReadBacklog(context.Background(), d.db, d.dialect, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (d *database) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := d.db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// orderCreated is an order.created event for orderID.
func orderCreated(t testing.TB, orderID string, n int) *eventbus.Message {
	t.Helper()
	m, err := eventbus.NewMessage("order.created", map[string]any{"orderId": orderID, "n": n})
	if err != nil {
		t.Fatal(err)
	}
	m.Subject = orderID
	return m
}

// createOrder saves an order and its events in one transaction: a
// "create order" handler without the dual write.
func createOrder(ctx context.Context, db *sql.DB, orderID string, events ...*eventbus.Message) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "INSERT INTO orders (id, total) VALUES ($1, $2)", orderID, 1250); err != nil {
		return err
	}
	if err := outbox.Add(ctx, tx, events...); err != nil {
		return err
	}
	return tx.Commit()
}

// collector counts what a consumer group receives from a memory bus.
type collector struct {
	mu     sync.Mutex
	seen   map[string]int
	order  map[string][]string
	notify chan struct{}
}

// collect subscribes group to pattern on bus and records every delivery
// until the test ends.
func collect(t *testing.T, bus *memory.Bus, pattern string) *collector {
	t.Helper()
	c := &collector{seen: make(map[string]int), order: make(map[string][]string), notify: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := bus.Subscribe(ctx, "collector", pattern)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			d, err := sub.Next(ctx)
			if err != nil {
				return
			}
			m := d.Message()
			c.mu.Lock()
			c.seen[m.ID]++
			c.order[m.Subject] = append(c.order[m.Subject], m.ID)
			c.mu.Unlock()
			_ = d.Ack(ctx)
			select {
			case c.notify <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = sub.Close()
	})
	return c
}

func (c *collector) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// waitFor waits until the collector saw n distinct messages, failing the
// test after 30s (a deadlock guard, not a speed check).
func (c *collector) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for c.total() < n {
		select {
		case <-c.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("collector saw %d messages, want %d", c.total(), n)
		}
	}
}

// exactlyOnce fails unless every id was received exactly once and nothing
// else was.
func (c *collector) exactlyOnce(t *testing.T, ids []string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) != len(ids) {
		t.Errorf("received %d distinct messages, want %d", len(c.seen), len(ids))
	}
	for _, id := range ids {
		if n := c.seen[id]; n != 1 {
			t.Errorf("message %s received %d times, want once", id, n)
		}
	}
}

func newBus(t testing.TB) *memory.Bus {
	t.Helper()
	bus, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close(context.Background()) })
	return bus
}

// newInbox returns an inbox on d.
func newInbox(t testing.TB, d *database, opts ...outbox.Option) *outbox.Inbox {
	t.Helper()
	in, err := outbox.NewInbox(d.db, d.dialect, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// drain runs rounds of r until one publishes nothing.
func drain(t testing.TB, r *outbox.Relay) {
	t.Helper()
	for {
		n, err := r.RelayOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}
