package platform

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/grpcresolver"
	"github.com/go-microkit/microkit/tracing"
)

// The logical service names, before Deps.Prefix.
const (
	UserService         = "user-service"
	ProductService      = "product-service"
	ProductGRPC         = "product-grpc"
	OrderService        = "order-service"
	PaymentService      = "payment-service"
	NotificationService = "notification-service"
	// GatewayService is the gateway's own port (probes, metrics and its
	// console), registered so that the aggregated console finds it.
	GatewayService = "gateway"
)

// Deps is what every service is given: where to register, how to find and
// call the others, and how to log. Close releases what NewDeps made.
type Deps struct {
	// Logger logs through log/slog.
	Logger *slog.Logger
	// Registry is where services announce themselves.
	Registry discovery.Registry
	// Resolver finds instances of other services.
	Resolver *discovery.Resolver
	// GRPC resolves "microkit:///<service>" gRPC targets.
	GRPC *grpcresolver.Builder
	// Client calls other services by name (http://order-service/...): it
	// picks an instance through Resolver and runs each call in a client span.
	Client *http.Client
	// Host is the address services advertise in the registry.
	Host string
	// Prefix is put in front of every service name, so that several shops
	// (test runs) share one Consul agent without meeting.
	Prefix string
	// CheckedBy, when set, returns a registry whose health check of an
	// instance is an HTTP GET of checkURL: how a gRPC port is checked
	// through its process's /readyz. Nil means Registry.
	CheckedBy func(checkURL string) (discovery.Registry, error)
	// AdvertisePort, when not zero, is the port a service's HTTP server
	// registers instead of its listener's: the port of a proxy or a load
	// balancer in front of it. It only makes sense with one service in the
	// process.
	AdvertisePort int
	// StartupWait bounds how long WaitFor waits at start-up for the
	// broker, the stream and the registry; zero means DefaultStartupWait.
	StartupWait time.Duration
}

// NewDeps builds the discovery plumbing over reg.
func NewDeps(reg discovery.Registry, host, prefix string, logger *slog.Logger) (*Deps, error) {
	if logger == nil {
		logger = slog.Default()
	}
	res, err := discovery.NewResolver(reg, discovery.WithLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("platform: resolver: %w", err)
	}
	tr, err := discovery.NewTransport(res)
	if err != nil {
		_ = res.Close(context.Background())
		return nil, fmt.Errorf("platform: transport: %w", err)
	}
	b, err := grpcresolver.NewBuilder(reg, grpcresolver.WithLogger(logger))
	if err != nil {
		_ = res.Close(context.Background())
		return nil, fmt.Errorf("platform: grpc resolver: %w", err)
	}
	return &Deps{
		Logger:   logger,
		Registry: reg,
		Resolver: res,
		GRPC:     b,
		Client:   &http.Client{Transport: tracing.Transport(tr), Timeout: 15 * time.Second},
		Host:     host,
		Prefix:   prefix,
	}, nil
}

// Name returns the registered name of a logical service.
func (d *Deps) Name(service string) string { return d.Prefix + service }

// URL returns the URL of path on service, for Client.
func (d *Deps) URL(service, path string) string { return "http://" + d.Name(service) + path }

// Announce registers an instance of service at Host:port, with meta as its
// metadata, and keeps it registered until the returned Announcement's
// Close, which first fails the readiness of health. checkURL, when not
// empty, is the URL the registry's health check reads instead of the
// instance's own /readyz.
func (d *Deps) Announce(ctx context.Context, service string, port int, health *discovery.Health, checkURL string, meta map[string]string) (*discovery.Announcement, error) {
	name := d.Name(service)
	reg := d.Registry
	if checkURL != "" && d.CheckedBy != nil {
		r, err := d.CheckedBy(checkURL)
		if err != nil {
			return nil, fmt.Errorf("platform: announce %s: %w", name, err)
		}
		reg = r
	}
	inst := discovery.Instance{
		ID:      fmt.Sprintf("%s-%s-%d", name, d.Host, port),
		Service: name,
		Address: d.Host,
		Port:    port,
		Meta:    meta,
	}
	var opts []discovery.AnnounceOption
	if health != nil {
		opts = append(opts, discovery.WithHealth(health))
	}
	opts = append(opts, discovery.WithAnnounceLogger(d.Logger))
	// A registry agent that is still starting (or restarting) refuses the
	// first registration: wait for it rather than exit.
	var a *discovery.Announcement
	err := d.WaitFor(ctx, "the registry to register "+inst.ID, func(ctx context.Context) error {
		var err error
		a, err = discovery.Announce(ctx, reg, inst, opts...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("platform: announce %s: %w", name, err)
	}
	return a, nil
}

// Close stops the resolver's watches and waits for them until ctx ends.
func (d *Deps) Close(ctx context.Context) error { return d.Resolver.Close(ctx) }
