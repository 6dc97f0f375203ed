package shop

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/outbox/pgnotify"
	"github.com/go-microkit/microkit/eventbus/redisbus"
	"github.com/go-microkit/microkit/eventbus/sqlbus"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/nats-io/nats.go/jetstream"
)

// The brokers Config.Bus can name, by its URL's scheme.
const (
	BusNATS     = "nats"
	BusRedis    = "redis"
	BusPostgres = "postgres"
	BusSQLite   = "sqlite"
)

// bus is the event bus the order- and notification-services share, and
// the name of its messaging system in spans.
type bus struct {
	eventbus.Publisher
	eventbus.Subscriber
	system string
}

// BusKind returns the broker a Config.Bus value names (one of BusNATS,
// BusRedis, BusPostgres and BusSQLite), or an error for one it does not
// know.
func BusKind(busURL string) (string, error) {
	switch {
	case busURL == "" || busURL == BusNATS || strings.HasPrefix(busURL, "nats://") || strings.HasPrefix(busURL, "tls://"):
		return BusNATS, nil
	case busURL == BusRedis || strings.HasPrefix(busURL, "redis://") || strings.HasPrefix(busURL, "rediss://"):
		return BusRedis, nil
	case strings.HasPrefix(busURL, "postgres://") || strings.HasPrefix(busURL, "postgresql://"):
		return BusPostgres, nil
	case busURL == BusSQLite || strings.HasPrefix(busURL, "sqlite:"):
		return BusSQLite, nil
	}
	return "", fmt.Errorf("shop: unknown event bus %q: want nats://…, redis://…, postgres://… or sqlite", busURL)
}

// openBus connects the event bus Config.Bus names and pushes its closing
// on the shop's stack.
func (sh *Shop) openBus(ctx context.Context, cfg Config, deps *platform.Deps) (*bus, error) {
	kind, err := BusKind(cfg.Bus)
	if err != nil {
		return nil, err
	}
	switch kind {
	case BusRedis:
		addr := cfg.Bus
		if addr == BusRedis {
			addr = "127.0.0.1:6379"
		}
		var b *redisbus.Bus
		err := deps.WaitFor(ctx, "the Redis server", func(ctx context.Context) error {
			var err error
			b, err = redisbus.Connect(ctx, addr, redisbus.WithStream(strings.ToLower(cfg.Stream)+":events"),
				redisbus.WithLogger(cfg.Logger), redisbus.WithClaimMinIdle(10*time.Second))
			return err
		})
		if err != nil {
			return nil, err
		}
		sh.stack.Push(b.Close)
		return &bus{Publisher: b, Subscriber: b, system: "redis"}, nil
	case BusPostgres, BusSQLite:
		return sh.openSQLBus(ctx, cfg, kind)
	}
	u := cfg.NATSURL
	if strings.Contains(cfg.Bus, "://") {
		u = cfg.Bus
	}
	if u == "" {
		if u, err = sh.embedNATS(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	// A cluster that is still starting refuses the stream for a moment
	// (a peer not yet joined, no leader yet): wait for it.
	var b *natsbus.Bus
	err = deps.WaitFor(ctx, "the NATS stream "+cfg.Stream, func(ctx context.Context) error {
		var err error
		b, err = natsbus.Connect(ctx, u, natsbus.WithStream(cfg.Stream), natsbus.WithSubjectPrefix(cfg.SubjectPrefix),
			natsbus.WithLogger(cfg.Logger), natsbus.WithAckWait(10*time.Second),
			natsbus.WithStreamConfig(func(sc *jetstream.StreamConfig) { sc.Replicas = max(cfg.StreamReplicas, 1) }))
		return err
	})
	if err != nil {
		return nil, err
	}
	sh.stack.Push(b.Close)
	return &bus{Publisher: b, Subscriber: b, system: "nats"}, nil
}

// openSQLBus runs the bus on a database: PostgreSQL at Config.Bus, woken
// by LISTEN/NOTIFY, or SQLite in DataDir/bus.db (or the path after
// "sqlite:"), which only the services of this process can share.
func (sh *Shop) openSQLBus(ctx context.Context, cfg Config, kind string) (*bus, error) {
	dsn := cfg.Bus
	if kind == BusSQLite {
		dsn = strings.TrimPrefix(strings.TrimPrefix(cfg.Bus, BusSQLite), ":")
		if dsn == "" {
			if cfg.DataDir == "" {
				return nil, errors.New("shop: the sqlite event bus needs a data dir")
			}
			dsn = filepath.Join(cfg.DataDir, "bus.db")
		}
	}
	db, err := platform.OpenDB(ctx, dsn)
	if err != nil {
		return nil, err
	}
	sh.stack.Push(func(context.Context) error { return db.Close() })
	table := strings.ToLower(cfg.Stream) + "_bus"
	if err := sqlbus.Migrate(ctx, db.SQL(), db.Dialect(), sqlbus.WithTable(table)); err != nil {
		return nil, err
	}
	opts := []sqlbus.Option{sqlbus.WithTable(table), sqlbus.WithLogger(cfg.Logger), sqlbus.WithAckWait(10 * time.Second)}
	system := "sqlite"
	if db.Postgres() {
		l := pgnotify.New(db.SQL(), table)
		sh.stack.Push(l.Close) // closed after the bus
		opts = append(opts, sqlbus.WithWaker(l))
		system = "postgresql"
	}
	b, err := sqlbus.New(db.SQL(), db.Dialect(), opts...)
	if err != nil {
		return nil, err
	}
	sh.stack.Push(b.Close)
	return &bus{Publisher: b, Subscriber: b, system: system}, nil
}

// redactBus returns the bus URL without its password, for logs.
func redactBus(busURL string) string {
	u, err := url.Parse(busURL)
	if err != nil || u.User == nil {
		return busURL
	}
	return u.Redacted()
}
