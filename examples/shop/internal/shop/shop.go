package shop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/eventbus/eventbustrace"
	"github.com/go-microkit/microkit/examples/shop/internal/gatewaysvc"
	"github.com/go-microkit/microkit/examples/shop/internal/notifications"
	"github.com/go-microkit/microkit/examples/shop/internal/orders"
	"github.com/go-microkit/microkit/examples/shop/internal/payments"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/products"
	"github.com/go-microkit/microkit/examples/shop/internal/users"
	"github.com/nats-io/nats-server/v2/server"
)

// The services Start can run, by the names of the -service flag.
const (
	Gateway      = "gateway"
	User         = "user"
	Product      = "product"
	Order        = "order"
	Payment      = "payment"
	Notification = "notification"
)

// All lists every service, in start order: the gateway last, so that its
// upstreams are registered when it takes traffic.
var All = []string{User, Product, Payment, Notification, Order, Gateway}

// DemoUser is the customer seeded in the one-process shop.
var DemoUser = users.Credentials{Email: "demo@shop.test", Password: "demo-password"}

// DemoAdmin is the administrator seeded with the demo data: the only user
// whose token carries the admin role that /api/admin/* requires. Its
// password is public, like the demo user's: a shop that takes real traffic
// runs with Seed off (or its own Config.Admin).
var DemoAdmin = users.Credentials{Email: "admin@shop.test", Password: "admin-password"}

// Config says which services to run and on what.
type Config struct {
	// Services to run; zero means All.
	Services []string
	// DataDir holds the SQLite files (and the embedded NATS store). Required
	// unless every service has a DSN.
	DataDir string
	// DSN maps a service name to its database (a postgres:// URL or a SQLite
	// path); a missing one means <DataDir>/<service>.db.
	DSN map[string]string
	// Addr maps a service name to its listen address; a missing one means a
	// free loopback port. The gateway's "gateway" entry is the shop's front
	// door.
	Addr map[string]string
	// GRPCAddr is where the product-service serves gRPC; zero means a free
	// loopback port.
	GRPCAddr string
	// Bus chooses the event bus by its URL's scheme: nats:// (or zero: NATS
	// at NATSURL), redis://host:port[/db] (Redis Streams, package
	// eventbus/redisbus), postgres://… (PostgreSQL as the broker, package
	// eventbus/sqlbus, woken by LISTEN/NOTIFY), or "sqlite" (package
	// eventbus/sqlbus on DataDir/bus.db, or "sqlite:<path>": no broker at
	// all, for the services of one process).
	Bus string
	// NATSURL is the NATS server; zero means an embedded one (JetStream on,
	// stored in DataDir/nats).
	NATSURL string
	// Stream and SubjectPrefix name the JetStream stream and its subjects;
	// zero means "SHOP" and "shop".
	Stream, SubjectPrefix string
	// StreamReplicas is how many servers of a JetStream cluster keep the
	// stream; zero means 1. Three survive the loss of one server.
	StreamReplicas int
	// Registry is the service registry; nil means an in-memory one, which
	// only works with every service in this process.
	Registry discovery.Registry
	// CheckedBy returns a registry like Registry whose health check reads
	// checkURL; see platform.Deps.CheckedBy. Nil means Registry.
	CheckedBy func(checkURL string) (discovery.Registry, error)
	// AdvertisePort, when not zero, is the port the one service run here
	// registers instead of its listener's: a proxy's in front of it.
	AdvertisePort int
	// Host is the address services advertise; zero means 127.0.0.1.
	Host string
	// Prefix goes in front of service names in the registry (and of the
	// consumer group), so that test runs sharing a Consul agent do not meet.
	Prefix string
	// Seed creates the demo catalog, DemoUser and the administrator
	// (Admin, else DemoAdmin).
	Seed bool
	// Admin is the administrator Seed creates; zero means DemoAdmin.
	Admin users.Credentials
	// BcryptCost is the password hashing cost; zero means bcrypt's default.
	BcryptCost int
	// BreakerOpen is the first open interval of the order-service's
	// breakers, growing on repeated trips; zero means 1s.
	BreakerOpen time.Duration
	// SagaLease is how soon a dead order-service's sagas are taken over;
	// zero means 5s.
	SagaLease time.Duration
	// CompensateFor is how long the order-service retries a failed
	// compensation before its saga ends compensation_failed; zero means
	// 2m (see orders.Config).
	CompensateFor time.Duration
	// ConfirmAfter is how long after a charge the payment-service
	// publishes its outcome; zero means payments.DefaultConfirmAfter.
	ConfirmAfter time.Duration
	// PaymentDeadline is how long an order waits for its payment's
	// outcome before it is cancelled; zero means
	// orders.DefaultPaymentDeadline.
	PaymentDeadline time.Duration
	// ShipAfter is how long after its confirmation an order is shipped by
	// the warehouse's stand-in; zero means orders.DefaultShipAfter.
	ShipAfter time.Duration
	// ShipDeadline is how long a confirmed order waits for its shipment
	// before it is cancelled and refunded; zero means
	// orders.DefaultShipDeadline.
	ShipDeadline time.Duration
	// RatePerMinute is the gateway's per-user limit; zero means 1000.
	RatePerMinute int
	// AuthFailuresPerMinute is the gateway's budget of failed
	// authentications per client address; zero means 30 (see
	// gatewaysvc.Config).
	AuthFailuresPerMinute int
	// StartupWait bounds how long a service waits at start-up for the
	// NATS servers and the stream (a cluster that is still starting);
	// zero means platform.DefaultStartupWait.
	StartupWait time.Duration
	// Logger logs; nil means slog.Default().
	Logger *slog.Logger
}

// Shop is a running set of services. Close stops them.
type Shop struct {
	gatewayURL string
	urls       map[string]string
	internal   map[string]string // the gateway's internal port; the services have one port
	stack      platform.Stack
}

// Start starts the configured services and returns once they all serve.
func Start(ctx context.Context, cfg Config) (_ *Shop, err error) {
	if len(cfg.Services) == 0 {
		cfg.Services = All
	}
	for _, s := range cfg.Services {
		if !slices.Contains(All, s) {
			return nil, fmt.Errorf("shop: unknown service %q (want one of %v)", s, All)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Stream == "" {
		cfg.Stream = "SHOP"
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = "shop"
	}
	sh := &Shop{urls: map[string]string{}, internal: map[string]string{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, sh.Close(context.WithoutCancel(ctx)))
		}
	}()
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("shop: data dir: %w", err)
		}
	}
	dsn := func(svc string) (string, error) {
		if d := cfg.DSN[svc]; d != "" {
			return d, nil
		}
		if cfg.DataDir == "" {
			return "", fmt.Errorf("shop: %s needs a DSN or a data dir", svc)
		}
		return filepath.Join(cfg.DataDir, svc+".db"), nil
	}

	reg := cfg.Registry
	if reg == nil {
		mem, err := discovery.NewMemory()
		if err != nil {
			return nil, fmt.Errorf("shop: registry: %w", err)
		}
		sh.stack.Push(mem.Close)
		reg = mem
	}
	deps, err := platform.NewDeps(reg, cfg.Host, cfg.Prefix, cfg.Logger)
	if err != nil {
		return nil, err
	}
	deps.CheckedBy = cfg.CheckedBy
	deps.StartupWait = cfg.StartupWait
	if cfg.AdvertisePort != 0 && len(cfg.Services) != 1 {
		return nil, fmt.Errorf("shop: an advertised port needs exactly one service, not %v", cfg.Services)
	}
	deps.AdvertisePort = cfg.AdvertisePort
	sh.stack.Push(deps.Close)

	needsBus := slices.Contains(cfg.Services, Order) || slices.Contains(cfg.Services, Notification) ||
		slices.Contains(cfg.Services, Payment)
	var bus *bus
	if needsBus {
		if bus, err = sh.openBus(ctx, cfg, deps); err != nil {
			return nil, fmt.Errorf("shop: event bus: %w", err)
		}
		cfg.Logger.Info("event bus", "system", bus.system, "bus", redactBus(cfg.Bus))
	}

	for _, svc := range All {
		if !slices.Contains(cfg.Services, svc) {
			continue
		}
		addr := cfg.Addr[svc]
		var d string
		if svc != Gateway {
			if d, err = dsn(svc); err != nil {
				return nil, err
			}
		}
		var url string
		var closer func(context.Context) error
		switch svc {
		case User:
			c := users.Config{DSN: d, Addr: addr, BcryptCost: cfg.BcryptCost}
			if cfg.Seed {
				c.Seed = []users.Credentials{DemoUser}
				c.Admins = []users.Credentials{cfg.Admin}
				if cfg.Admin == (users.Credentials{}) {
					c.Admins = []users.Credentials{DemoAdmin}
				}
			}
			s, err := users.New(ctx, deps, c)
			if err != nil {
				return nil, err
			}
			url, closer = s.URL(), s.Close
		case Product:
			c := products.Config{DSN: d, Addr: addr, GRPCAddr: cfg.GRPCAddr}
			if cfg.Seed {
				c.Seed = products.DefaultCatalog()
			}
			s, err := products.New(ctx, deps, c)
			if err != nil {
				return nil, err
			}
			url, closer = s.URL(), s.Close
		case Payment:
			s, err := payments.New(ctx, deps, payments.Config{DSN: d, Addr: addr,
				Publisher: eventbustrace.Publisher(bus.Publisher, bus.system), ConfirmAfter: cfg.ConfirmAfter})
			if err != nil {
				return nil, err
			}
			url, closer = s.URL(), s.Close
		case Notification:
			s, err := notifications.New(ctx, deps, notifications.Config{DSN: d, Addr: addr, Subscriber: bus.Subscriber,
				Publisher: eventbustrace.Publisher(bus.Publisher, bus.system), System: bus.system})
			if err != nil {
				return nil, err
			}
			url, closer = s.URL(), s.Close
		case Order:
			s, err := orders.New(ctx, deps, orders.Config{DSN: d, Addr: addr,
				Publisher:  eventbustrace.Publisher(bus.Publisher, bus.system),
				Subscriber: bus.Subscriber, System: bus.system,
				PaymentDeadline: cfg.PaymentDeadline, ShipAfter: cfg.ShipAfter, ShipDeadline: cfg.ShipDeadline,
				BreakerOpen: cfg.BreakerOpen, Lease: cfg.SagaLease, CompensateFor: cfg.CompensateFor})
			if err != nil {
				return nil, err
			}
			url, closer = s.URL(), s.Close
		case Gateway:
			g, err := gatewaysvc.New(ctx, deps, gatewaysvc.Config{Addr: addr, RatePerMinute: cfg.RatePerMinute,
				AuthFailuresPerMinute: cfg.AuthFailuresPerMinute})
			if err != nil {
				return nil, err
			}
			url, closer = g.URL(), g.Close
			sh.gatewayURL = url
			sh.internal[svc] = g.InternalURL()
		}
		sh.urls[svc] = url
		sh.stack.Push(closer)
		cfg.Logger.Info("service started", "service", svc, "url", url)
	}
	return sh, nil
}

func (sh *Shop) embedNATS(dataDir string) (string, error) {
	if dataDir == "" {
		return "", errors.New("shop: the embedded NATS server needs a data dir")
	}
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: filepath.Join(dataDir, "nats"), NoLog: true, NoSigs: true,
	})
	if err != nil {
		return "", fmt.Errorf("shop: embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return "", errors.New("shop: embedded nats did not start")
	}
	sh.stack.Push(func(context.Context) error {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil
	})
	return "nats://" + ns.Addr().(*net.TCPAddr).String(), nil
}

// GatewayURL returns the gateway's base URL, or "" when it is not run here.
func (sh *Shop) GatewayURL() string { return sh.gatewayURL }

// URL returns the base URL of a service run here, or "".
func (sh *Shop) URL(service string) string { return sh.urls[service] }

// InternalURL returns the base URL where a service run here serves its
// probes, /metrics and its console: its URL, except for the gateway, which
// serves them on a port of their own. It is "" for a service not run here.
func (sh *Shop) InternalURL(service string) string {
	if u, ok := sh.internal[service]; ok {
		return u
	}
	return sh.urls[service]
}

// Close stops the services in reverse start order: the gateway first, each
// service deregistering, draining its requests and consumers, then the bus
// and the embedded NATS server. It is idempotent.
func (sh *Shop) Close(ctx context.Context) error { return sh.stack.Close(ctx) }
