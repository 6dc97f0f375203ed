package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/dlq"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/sqldialect"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// errUsage is returned for a command line that cannot run.
var errUsage = errors.New("usage: microkit-dlq -db DSN [-dialect postgres|sqlite] [-broker URL] collect|drain|list|show|replay|delete [args]")

type globals struct {
	db, table, broker, exchange, stream, group string
	dialect                                    sqldialect.Dialect // zero: from db
	drainEvery                                 time.Duration
}

// run is main without the process: it parses args and runs one command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var g globals
	fs := flag.NewFlagSet("microkit-dlq", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&g.db, "db", "", "PostgreSQL URL or SQLite file of the dead-letter table (required)")
	fs.TextVar(&g.dialect, "dialect", sqldialect.Dialect(0),
		"postgres or sqlite (default: postgres for a postgres:// or postgresql:// -db, else sqlite)")
	fs.StringVar(&g.table, "table", dlq.DefaultTable, "dead-letter table")
	fs.StringVar(&g.broker, "broker", "", "amqp:// or nats:// URL, for collect and replay")
	fs.StringVar(&g.exchange, "exchange", rabbitbus.DefaultExchange, "RabbitMQ exchange")
	fs.StringVar(&g.stream, "stream", "", "NATS stream (default: natsbus's)")
	fs.StringVar(&g.group, "group", "microkit-dlq", "consumer group of collect")
	fs.DurationVar(&g.drainEvery, "drain-every", 10*time.Second, "how often collect drains RabbitMQ's dead-letter queue")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if g.db == "" || fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	store, closeDB, err := openStore(ctx, g)
	if err != nil {
		return err
	}
	defer closeDB()
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "list":
		return list(ctx, store, rest, stdout, stderr)
	case "show":
		return show(ctx, store, rest, stdout)
	case "replay":
		if len(rest) == 0 {
			return fmt.Errorf("replay: no IDs: %w", errUsage)
		}
		bus, err := connect(ctx, g)
		if err != nil {
			return err
		}
		defer closeBus(ctx, bus)
		if err := store.Replay(ctx, bus, rest...); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "replayed %d messages\n", len(rest))
		return nil
	case "delete":
		n, err := store.Delete(ctx, rest...)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %d messages\n", n)
		return nil
	case "collect":
		return collect(ctx, g, store, stderr)
	case "drain":
		return drain(ctx, g, store, stdout)
	}
	return fmt.Errorf("unknown command %q: %w", cmd, errUsage)
}

func openStore(ctx context.Context, g globals) (*dlq.Store, func(), error) {
	dialect, dsn := g.dialect, g.db
	if dialect == 0 {
		dialect = sqldialect.SQLite
		if strings.HasPrefix(g.db, "postgres://") || strings.HasPrefix(g.db, "postgresql://") {
			dialect = sqldialect.Postgres
		}
	}
	if dialect == sqldialect.SQLite {
		dsn = sqldialect.SQLiteDSN(g.db)
	}
	db, err := sqldb.Open(dialect, dsn)
	if err != nil {
		return nil, nil, err
	}
	store, err := dlq.New(db, sqldialect.Dialect(dialect), dlq.WithTable(g.table))
	if err == nil {
		err = store.Migrate(ctx)
	}
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return store, func() { _ = db.Close() }, nil
}

// bus is what collect and replay need of a broker adapter.
type bus interface {
	eventbus.Publisher
	eventbus.Subscriber
}

func connect(ctx context.Context, g globals) (bus, error) {
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch {
	case strings.HasPrefix(g.broker, "amqp://"), strings.HasPrefix(g.broker, "amqps://"):
		return rabbitbus.Connect(ctx, g.broker, rabbitbus.WithExchange(g.exchange), rabbitbus.WithLogger(quiet))
	case strings.HasPrefix(g.broker, "nats://"):
		opts := []natsbus.Option{natsbus.WithLogger(quiet)}
		if g.stream != "" {
			opts = append(opts, natsbus.WithStream(g.stream))
		}
		return natsbus.Connect(ctx, g.broker, opts...)
	}
	return nil, fmt.Errorf("-broker %q: want an amqp://, amqps:// or nats:// URL: %w", g.broker, errUsage)
}

// closeBus closes b, giving it up to 30 seconds to drain even once ctx (the
// signal that ends the command) is done.
func closeBus(ctx context.Context, b bus) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = b.Close(ctx)
}

func list(ctx context.Context, store *dlq.Store, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f dlq.Filter
	asJSON := fs.Bool("json", false, "one JSON object per line")
	fs.StringVar(&f.Type, "type", "", "original type pattern, e.g. order.>")
	fs.StringVar(&f.Group, "group", "", "group the message failed in")
	fs.StringVar(&f.OriginalID, "original", "", "ID of the message that failed: its entries, one per failure")
	fs.BoolVar(&f.Replayed, "all", false, "include replayed messages")
	fs.IntVar(&f.Limit, "limit", 100, "at most this many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	entries, err := store.List(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			if err := enc.Encode(view(e)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tGROUP\tHANDLER\tATTEMPTS\tPARKED\tREPLAYS\tREASON")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", e.ID, e.OriginalType, e.Group, e.Handler, e.Attempts,
			e.ParkedAt.Format(time.RFC3339), e.Replays, oneLine(e.Reason, 80))
	}
	return tw.Flush()
}

func show(ctx context.Context, store *dlq.Store, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("show: want one ID: %w", errUsage)
	}
	e, err := store.Get(ctx, args[0])
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(view(e))
}

// entryView is the JSON form of an entry.
type entryView struct {
	ID           string            `json:"id"`
	OriginalID   string            `json:"originalId"`
	OriginalType string            `json:"originalType"`
	Reason       string            `json:"reason"`
	Attempts     int               `json:"attempts"`
	Group        string            `json:"group"`
	Handler      string            `json:"handler"`
	ParkedAt     time.Time         `json:"parkedAt"`
	Replays      int               `json:"replays"`
	Subject      string            `json:"subject,omitempty"`
	Data         json.RawMessage   `json:"data,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

func view(e dlq.Entry) entryView {
	v := entryView{ID: e.ID, OriginalID: e.OriginalID, OriginalType: e.OriginalType, Reason: e.Reason, Attempts: e.Attempts,
		Group: e.Group, Handler: e.Handler, ParkedAt: e.ParkedAt, Replays: e.Replays, Subject: e.Message.Subject, Metadata: e.Message.Metadata}
	if json.Valid(e.Message.Data) {
		v.Data = e.Message.Data
	} else if len(e.Message.Data) > 0 {
		v.Data, _ = json.Marshal(e.Message.Data) // base64
	}
	return v
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

// collect runs a router of its own group on every dead-letter type and
// parks what it gets, until ctx ends. On RabbitMQ it also drains the
// broker's dead-letter queue into the table, at once and every
// g.drainEvery.
func collect(ctx context.Context, g globals, store *dlq.Store, stderr io.Writer) error {
	b, err := connect(ctx, g)
	if err != nil {
		return err
	}
	defer closeBus(ctx, b)
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	r, err := eventbus.NewRouter(b, g.group, eventbus.WithLogger(logger))
	if err != nil {
		return err
	}
	if err := r.Handle(eventbus.DeadLetterPrefix+">", store.Handler()); err != nil {
		return err
	}
	if err := r.Start(ctx); err != nil {
		return err
	}
	logger.Info("collecting dead letters", "group", g.group, "pattern", eventbus.DeadLetterPrefix+">")
	if rb, ok := b.(*rabbitbus.Bus); ok {
		drainEvery(ctx, rb, store, g.drainEvery, logger) // until ctx ends
	}
	<-ctx.Done()
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return r.Close(closeCtx)
}

// drainEvery moves RabbitMQ's dead-letter queue into the table now and
// every period until ctx ends.
func drainEvery(ctx context.Context, b *rabbitbus.Bus, store *dlq.Store, period time.Duration, logger *slog.Logger) {
	t := time.NewTicker(max(period, time.Second))
	defer t.Stop()
	for {
		n, err := b.DrainDeadLetters(ctx, store.Handler())
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("draining the broker's dead-letter queue failed", "moved", n, "error", err)
		case n > 0:
			logger.Info("drained the broker's dead-letter queue", "moved", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// drain moves the messages of RabbitMQ's own dead-letter queue (deliveries
// rejected with Delivery.Term rather than parked by eventbus.DeadLetter,
// messages no consumer could decode) into the table, where list and replay
// see them with the rest.
func drain(ctx context.Context, g globals, store *dlq.Store, stdout io.Writer) error {
	if !strings.HasPrefix(g.broker, "amqp://") && !strings.HasPrefix(g.broker, "amqps://") {
		return fmt.Errorf("drain needs an amqp:// -broker: %w", errUsage)
	}
	b, err := connect(ctx, g)
	if err != nil {
		return err
	}
	defer closeBus(ctx, b)
	n, err := b.(*rabbitbus.Bus).DrainDeadLetters(ctx, store.Handler())
	fmt.Fprintf(stdout, "moved %d messages from the broker's dead-letter queue\n", n)
	return err
}
