package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	neturl "net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/dlq"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
	"github.com/go-microkit/microkit/internal/rabbittest"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/go-microkit/microkit/retry"
)

// TestCollectListReplay drives the command against RabbitMQ: a consumer
// dead-letters a poison message, "collect" parks it, "list" and "show"
// print it with its reason, "replay" sends it back to the consumer and
// "delete" removes it.
func TestCollectListReplay(t *testing.T) {
	url := testenv.Addr(t, "MICROKIT_RABBITMQ_URL")
	exchange := "microkit_dlqcmd_" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() { deleteTopology(t, url, exchange) })
	db := filepath.Join(t.TempDir(), "dlq.db")
	base := []string{"-db", db, "-broker", url, "-exchange", exchange}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	startCollect(ctx, t, base)

	bus, err := rabbitbus.Connect(ctx, url, rabbitbus.WithExchange(exchange), rabbitbus.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close(context.Background())
	var (
		mu    sync.Mutex
		fixed bool
	)
	handled := make(chan string, 1)
	r, err := eventbus.NewRouter(bus, "billing", eventbus.WithLogger(slog.New(slog.DiscardHandler)),
		eventbus.WithMiddleware(eventbus.DeadLetter(bus, eventbus.DeadLetterLogger(slog.New(slog.DiscardHandler)))))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Handle("order.created", func(ctx context.Context, m *eventbus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if !fixed {
			return retry.Permanent(errors.New("unknown currency XTS"))
		}
		handled <- m.ID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())

	poison, _ := eventbus.NewMessage("order.created", map[string]string{"orderId": "o-9"})
	// The collector's group queue must exist before the dead letter is
	// published, whether or not collect has subscribed yet: declare it.
	sub, err := bus.Subscribe(ctx, "microkit-dlq", eventbus.DeadLetterPrefix+">")
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.Close()
	if err := bus.Publish(ctx, poison); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	waitFor(t, func() bool {
		out.Reset()
		return run(ctx, append(base, "list", "-json"), &out, io.Discard) == nil && out.Len() > 0
	})
	var listed entryView
	if err := json.Unmarshal(out.Bytes(), &listed); err != nil {
		t.Fatalf("list -json: %v\n%s", err, out.String())
	}
	if listed.OriginalID != poison.ID || listed.Reason != "unknown currency XTS" || listed.Group != "billing" {
		t.Fatalf("listed %+v", listed)
	}
	out.Reset()
	if err := run(ctx, append(base, "list"), &out, io.Discard); err != nil || !strings.Contains(out.String(), "unknown currency XTS") {
		t.Fatalf("list: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, append(base, "show", listed.ID), &out, io.Discard); err != nil || !strings.Contains(out.String(), `"orderId": "o-9"`) {
		t.Fatalf("show: %v\n%s", err, out.String())
	}

	mu.Lock()
	fixed = true
	mu.Unlock()
	if err := run(ctx, append(base, "replay", listed.ID), io.Discard, io.Discard); err != nil {
		t.Fatalf("replay: %v", err)
	}
	select {
	case id := <-handled:
		if id != poison.ID {
			t.Fatalf("handled %s after replay, want %s", id, poison.ID)
		}
	case <-ctx.Done():
		t.Fatal("the replayed message was not handled")
	}
	out.Reset()
	if err := run(ctx, append(base, "delete", listed.ID), &out, io.Discard); err != nil || !strings.Contains(out.String(), "deleted 1") {
		t.Fatalf("delete: %v\n%s", err, out.String())
	}
}

// TestDrainReplay: a delivery terminated by a consumer lands in RabbitMQ's
// dead-letter queue; "drain" moves it into the table, where "list" shows it
// with its reason and group like any parked message and "replay" sends it
// back to its group.
func TestDrainReplay(t *testing.T) {
	url := testenv.Addr(t, "MICROKIT_RABBITMQ_URL")
	exchange := "microkit_dlqcmd_" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() { deleteTopology(t, url, exchange) })
	base := []string{"-db", filepath.Join(t.TempDir(), "dlq.db"), "-broker", url, "-exchange", exchange}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, sub := rejected(ctx, t, url, exchange)
	var out bytes.Buffer
	// The broker dead-letters the rejected delivery asynchronously.
	waitFor(t, func() bool {
		if err := run(ctx, append(base, "drain"), io.Discard, io.Discard); err != nil {
			t.Fatalf("drain: %v", err)
		}
		out.Reset()
		return run(ctx, append(base, "list", "-json"), &out, io.Discard) == nil && out.Len() > 0
	})
	var listed entryView
	if err := json.Unmarshal(out.Bytes(), &listed); err != nil {
		t.Fatalf("list -json: %v\n%s", err, out.String())
	}
	if listed.OriginalID != m.ID || listed.OriginalType != "order.created" || listed.Reason != "rabbitmq: rejected" || listed.Group != "billing" {
		t.Fatalf("listed %+v, want %s rejected in billing", listed, m.ID)
	}
	out.Reset()
	if err := run(ctx, append(base, "drain"), &out, io.Discard); err != nil || !strings.Contains(out.String(), "moved 0") {
		t.Fatalf("second drain: %v\n%s", err, out.String())
	}
	if err := run(ctx, append(base, "replay", listed.ID), io.Discard, io.Discard); err != nil {
		t.Fatalf("replay: %v", err)
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Message().ID != m.ID || d.Attempt() != 1 || string(d.Message().Data) != string(m.Data) {
		t.Fatalf("got %s attempt %d after the replay, want %s attempt 1", d.Message().ID, d.Attempt(), m.ID)
	}
	_ = d.Ack(ctx)
}

// TestCollectDrainsBroker: collect also moves what lands in RabbitMQ's
// dead-letter queue into the table, without a drain command.
func TestCollectDrainsBroker(t *testing.T) {
	url := testenv.Addr(t, "MICROKIT_RABBITMQ_URL")
	exchange := "microkit_dlqcmd_" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() { deleteTopology(t, url, exchange) })
	base := []string{"-db", filepath.Join(t.TempDir(), "dlq.db"), "-broker", url, "-exchange", exchange, "-drain-every", "1s"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	startCollect(ctx, t, base)

	m, _ := rejected(ctx, t, url, exchange)
	var out bytes.Buffer
	waitFor(t, func() bool {
		out.Reset()
		return run(ctx, append(base, "list", "-original", m.ID), &out, io.Discard) == nil &&
			strings.Contains(out.String(), "rabbitmq: rejected")
	})
}

// startCollect runs the command's collect with the global flags base
// until the test ends.
func startCollect(ctx context.Context, t *testing.T, base []string) {
	collectCtx, stopCollect := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := run(collectCtx, append(base, "collect"), io.Discard, io.Discard); err != nil {
			t.Errorf("collect: %v", err)
		}
	})
	t.Cleanup(func() { stopCollect(); wg.Wait() })
}

// rejected has the billing group of a bus on exchange reject (Delivery.Term)
// a new order.created message into RabbitMQ's dead-letter queue. It
// returns the message and the group's subscription, closed with the bus
// when the test ends.
func rejected(ctx context.Context, t *testing.T, url, exchange string) (*eventbus.Message, eventbus.Subscription) {
	t.Helper()
	bus, err := rabbitbus.Connect(ctx, url, rabbitbus.WithExchange(exchange), rabbitbus.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close(context.Background()) })
	sub, err := bus.Subscribe(ctx, "billing", "order.created")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := eventbus.NewMessage("order.created", map[string]string{"orderId": "o-1"})
	if err := bus.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Term(ctx); err != nil {
		t.Fatal(err)
	}
	return m, sub
}

func TestUsageErrors(t *testing.T) {
	db := filepath.Join(t.TempDir(), "dlq.db")
	for name, args := range map[string][]string{
		"no db":          {"list"},
		"no command":     {"-db", db},
		"unknown":        {"-db", db, "frobnicate"},
		"replay no ids":  {"-db", db, "-broker", "amqp://x", "replay"},
		"show two ids":   {"-db", db, "show", "a", "b"},
		"replay bad url": {"-db", db, "-broker", "http://x", "replay", "a"},
		"drain on nats":  {"-db", db, "-broker", "nats://x", "drain"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deleteTopology removes what the test declared on the shared broker.
func deleteTopology(t *testing.T, url, exchange string) {
	rabbittest.DeleteTopology(t, url, exchange,
		rabbitbus.QueueName(exchange, "microkit-dlq", eventbus.DeadLetterPrefix+">"),
		rabbitbus.QueueName(exchange, "billing", "order.created"))
}

// TestDialectFlag: -dialect picks the database when -db does not say: a
// PostgreSQL DSN in keyword/value form is opened as PostgreSQL, not taken
// for a SQLite file name; an unknown dialect is refused.
func TestDialectFlag(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "dlq.db")
	for _, args := range [][]string{
		{"-db", file, "list"},
		{"-dialect", "sqlite", "-db", file, "list"},
	} {
		var out bytes.Buffer
		if err := run(ctx, args, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "ID") {
			t.Errorf("%q: %v, output %q; want an empty listing", args, err, out.String())
		}
	}
	var stderr bytes.Buffer
	if err := run(ctx, []string{"-dialect", "oracle", "-db", file, "list"}, io.Discard, &stderr); err == nil ||
		!strings.Contains(stderr.String(), `unknown dialect "oracle"`) {
		t.Errorf("-dialect oracle: %v, stderr %q; want an unknown dialect error", err, stderr.String())
	}

	url, schema := sqltest.PostgresSchema(t, "dlqcmd")
	keywords := postgresKeywords(t, url) + " search_path=" + schema
	var out bytes.Buffer
	if err := run(ctx, []string{"-dialect", "postgres", "-db", keywords, "list"}, &out, io.Discard); err != nil {
		t.Fatalf("-dialect postgres -db %q: %v", keywords, err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2",
		schema, dlq.DefaultTable).Scan(&n); err != nil || n != 1 {
		t.Errorf("table %s.%s: %d, %v; want the table created on PostgreSQL", schema, dlq.DefaultTable, n, err)
	}
}

// postgresKeywords turns a postgres:// URL into keyword/value form.
func postgresKeywords(t *testing.T, raw string) string {
	t.Helper()
	u, err := neturl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	kv := []string{"host=" + u.Hostname(), "dbname=" + strings.TrimPrefix(u.Path, "/")}
	if p := u.Port(); p != "" {
		kv = append(kv, "port="+p)
	}
	if u.User != nil {
		kv = append(kv, "user="+u.User.Username())
		if pw, ok := u.User.Password(); ok {
			kv = append(kv, "password="+pw)
		}
	}
	if m := u.Query().Get("sslmode"); m != "" {
		kv = append(kv, "sslmode="+m)
	}
	return strings.Join(kv, " ")
}
