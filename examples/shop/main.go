// Command shop runs microkit's example shop: an API gateway in front of
// user, product, order, payment and notification services, each with its own
// database, talking over HTTP and gRPC (through discovery, breakers and
// retries) and over NATS JetStream events, with the order saga keeping them
// consistent.
//
//	go run ./examples/shop                   # everything in one process, embedded defaults
//	go run ./examples/shop -service order    # one service per process (see run-cluster.sh)
//
// See README.md in this directory for the tour.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/consul"
	"github.com/go-microkit/microkit/examples/shop/internal/orders"
	"github.com/go-microkit/microkit/examples/shop/internal/payments"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/users"
	"github.com/go-microkit/microkit/tracing"
	"github.com/go-microkit/microkit/tracing/otelsetup"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "shop:", err)
		os.Exit(1)
	}
}

// env returns the first non-empty environment variable of names, or def.
func env(def string, names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return def
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	service := fs.String("service", "all", "service to run: all, or one of "+strings.Join(shop.All, ", "))
	dataDir := fs.String("data", env("", "SHOP_DATA_DIR"), "data directory for SQLite files and the embedded NATS store (default: a temporary directory, removed on exit)")
	addr := fs.String("addr", env("", "SHOP_ADDR"), "listen address of the service (with -service all: of the gateway; default 127.0.0.1:8080 there, a free port otherwise)")
	grpcAddr := fs.String("grpc-addr", env("", "SHOP_GRPC_ADDR"), "listen address of the product-service's gRPC server (default: a free port)")
	natsURL := fs.String("nats", env("", "SHOP_NATS_URL", "NATS_URL"), "NATS server URL, or the comma-separated URLs of a cluster's servers (default with -service all: an embedded server)")
	busURL := fs.String("bus", env("", "SHOP_BUS"), "event bus: nats://… (the default: -nats, or the embedded server), redis://host:port (Redis Streams), postgres://… (PostgreSQL as the broker) or sqlite (a file in -data, with -service all)")
	replicas := fs.Int("stream-replicas", 1, "servers of the NATS cluster that keep the event stream (3 survives the loss of one)")
	consulAddr := fs.String("consul", env("", "CONSUL_HTTP_ADDR"), "Consul agent address; empty means the in-memory registry (only with -service all)")
	dsn := fs.String("dsn", "", "database of the service: a postgres:// URL or a SQLite path (default: $SHOP_<SERVICE>_DSN, else <data>/<service>.db)")
	advertisePort := fs.Int("advertise-port", 0, "with -service: the port to register instead of the listener's (a proxy's in front of it)")
	host := fs.String("host", env("127.0.0.1", "SHOP_HOST"), "address the services advertise in the registry")
	prefix := fs.String("prefix", env("", "SHOP_PREFIX"), "prefix of the service names in the registry, the consumer group and the stream")
	seed := fs.Bool("seed", true, "seed the demo catalog, the demo user and the administrator")
	adminPassword := fs.String("admin-password", env(shop.DemoAdmin.Password, "SHOP_ADMIN_PASSWORD"), "user-service: password of the seeded administrator "+shop.DemoAdmin.Email)
	traces := fs.String("trace", env("none", "SHOP_TRACE"), "where spans go: none, stdout, or env (the OTEL_* variables)")
	quiet := fs.Bool("quiet", false, "log warnings and errors only")
	rate := fs.Int("rate-limit", 1000, "gateway: requests a minute per user (or IP) on authenticated routes")
	authFailures := fs.Int("auth-failures", 30, "gateway: failed authentications (bad tokens, wrong logins) a minute per client address before 429")
	breakerOpen := fs.Duration("breaker-open", time.Second, "order-service: first open interval of its breakers (doubles on each trip straight after the probes, up to 30s)")
	startupWait := fs.Duration("startup-wait", platform.DefaultStartupWait, "how long a service waits at start-up for the NATS servers and the stream (a cluster still starting) before it gives up")
	sagaLease := fs.Duration("saga-lease", 5*time.Second, "order-service: saga lease, how soon a dead instance's sagas are taken over")
	compensateFor := fs.Duration("compensate-for", 2*time.Minute, "order-service: how long a failed compensation (a refund, a stock release) is retried before its saga ends compensation_failed for an operator")
	confirmAfter := fs.Duration("confirm-after", payments.DefaultConfirmAfter, "payment-service: how long after a charge its outcome is published, as a provider's webhook comes a moment later")
	paymentDeadline := fs.Duration("payment-deadline", orders.DefaultPaymentDeadline, "order-service: how long an order waits for its payment's outcome before it is cancelled and its stock released")
	shipAfter := fs.Duration("ship-after", orders.DefaultShipAfter, "order-service: how long after its confirmation the warehouse's stand-in ships an order")
	shipDeadline := fs.Duration("ship-deadline", orders.DefaultShipDeadline, "order-service: how long a confirmed order waits for its shipment before it is cancelled and refunded")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	logger := slog.New(tracing.LogHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))
	slog.SetDefault(logger)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	all := *service == "all"
	name := "shop"
	if !all {
		name = *prefix + *service + "-service"
	}
	shutdownTracing, err := setupTracing(ctx, *traces, name, stdout)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(sctx); err != nil {
			logger.Warn("flushing traces", "err", err)
		}
	}()

	cfg := shop.Config{
		DataDir: *dataDir, NATSURL: *natsURL, Bus: *busURL, Host: *host, Prefix: *prefix, Seed: *seed,
		GRPCAddr: *grpcAddr, Logger: logger, DSN: map[string]string{}, Addr: map[string]string{},
		RatePerMinute: *rate, AuthFailuresPerMinute: *authFailures, BreakerOpen: *breakerOpen, SagaLease: *sagaLease, CompensateFor: *compensateFor,
		ConfirmAfter: *confirmAfter, PaymentDeadline: *paymentDeadline, ShipAfter: *shipAfter, ShipDeadline: *shipDeadline, StartupWait: *startupWait, StreamReplicas: *replicas, AdvertisePort: *advertisePort,
		Admin: users.Credentials{Email: shop.DemoAdmin.Email, Password: *adminPassword},
	}
	if *prefix != "" {
		cfg.Stream = strings.ToUpper(strings.ReplaceAll(*prefix, "-", "_")) + "SHOP"
		cfg.SubjectPrefix = strings.ReplaceAll(*prefix, "-", "_") + "shop"
	}
	for _, s := range shop.All {
		if v := os.Getenv("SHOP_" + strings.ToUpper(s) + "_DSN"); v != "" {
			cfg.DSN[s] = v
		}
	}
	if all {
		cfg.Addr[shop.Gateway] = "127.0.0.1:8080"
		if *addr != "" {
			cfg.Addr[shop.Gateway] = *addr
		}
	} else {
		cfg.Services = []string{*service}
		cfg.Addr[*service] = *addr
		if *dsn != "" {
			cfg.DSN[*service] = *dsn
		}
	}
	if *consulAddr != "" {
		checkedBy := func(checkURL string) (discovery.Registry, error) {
			return consul.New(nil, consul.WithAddress(*consulAddr), consul.WithHTTPCheck(checkURL, time.Second),
				consul.WithDeregisterCriticalServiceAfter(time.Minute), consul.WithLogger(logger))
		}
		reg, err := checkedBy("/readyz")
		if err != nil {
			return err
		}
		cfg.Registry, cfg.CheckedBy = reg, checkedBy
	} else if !all {
		return errors.New("-service " + *service + " needs -consul (or CONSUL_HTTP_ADDR): the in-memory registry only spans one process")
	}
	kind, err := shop.BusKind(*busURL)
	if err != nil {
		return err
	}
	if !all && (*service == shop.Order || *service == shop.Notification || *service == shop.Payment) {
		switch {
		case kind == shop.BusNATS && *natsURL == "" && !strings.Contains(*busURL, "://"):
			return errors.New("-service " + *service + " needs -nats (or SHOP_NATS_URL) or -bus: the embedded server is for -service all")
		case kind == shop.BusSQLite:
			return errors.New("-service " + *service + ": -bus sqlite is for -service all; services in several processes share a broker, redis:// or postgres://")
		}
	}
	if cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "microkit-shop-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.DataDir = dir
	}

	sh, err := shop.Start(ctx, cfg)
	if err != nil {
		return err
	}
	if all {
		printTour(stdout, sh.GatewayURL(), cfg.DataDir, cfg.Admin)
	} else {
		fmt.Fprintf(stdout, "%s serving on %s\n", name, sh.URL(*service))
	}
	<-ctx.Done()
	stop()
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return sh.Close(sctx)
}

func setupTracing(ctx context.Context, mode, service string, stdout io.Writer) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	opts := []otelsetup.Option{otelsetup.WithServiceName(service)}
	switch mode {
	case "none":
		return func(context.Context) error { return nil }, nil
	case "stdout":
		opts = append(opts, otelsetup.WithExporter(otelsetup.ExporterStdout), otelsetup.WithWriter(stdout))
	case "env":
	default:
		return nil, fmt.Errorf("-trace %q: want none, stdout or env", mode)
	}
	return otelsetup.Setup(ctx, opts...)
}

func printTour(w io.Writer, url, dataDir string, admin users.Credentials) {
	fmt.Fprintf(w, `
microkit shop is running. Gateway: %[1]s   (data in %[2]s; Ctrl-C stops)

Try:
  curl -s %[1]s/api/products
  curl -s -X POST %[1]s/api/users/signup -d '{"email":"ada@example.com","password":"correct horse"}'
  TOKEN=$(curl -s -X POST %[1]s/api/users/login -d '{"email":"%[3]s","password":"%[4]s"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -s -H "Authorization: Bearer $TOKEN" -X POST %[1]s/api/orders -d '{"items":[{"product_id":"p-keyboard","quantity":1}]}'
  curl -s -H "Authorization: Bearer $TOKEN" -X POST %[1]s/api/orders -d '{"items":[{"product_id":"p-laptop","quantity":1}]}'   # over the $1000 limit: declined, cancelled
  curl -s -H "Authorization: Bearer $TOKEN" %[1]s/api/orders/<id>/details
  curl -s -H "Authorization: Bearer $TOKEN" %[1]s/api/notifications
  curl -s -H "Authorization: Bearer $TOKEN" %[1]s/api/admin/payment-faults   # 403: customers are not administrators

Administrator %[5]s, password %[6]s (-admin-password; its token has the admin role /api/admin/* needs):
  ADMIN=$(curl -s -X POST %[1]s/api/users/login -d '{"email":"%[5]s","password":"%[6]s"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -s -H "Authorization: Bearer $ADMIN" -X PUT %[1]s/api/admin/payment-faults -d '{"error_rate":1}'   # watch the breaker open
  curl -s -H "Authorization: Bearer $ADMIN" -X PUT %[1]s/api/admin/notification-faults -d '{"reject":true}'   # notifications dead-lettered, to replay from the notification-service's /console/deadletters
  go run ./examples/shop/cmd/shopload -gateway %[1]s -duration 10s   # restart with -rate-limit 1000000 to measure throughput

`, url, dataDir, shop.DemoUser.Email, shop.DemoUser.Password, admin.Email, admin.Password)
}
