package grpcresolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	// Registers least_request_experimental, the default policy.
	"google.golang.org/grpc/balancer"
	_ "google.golang.org/grpc/balancer/leastrequest"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/go-microkit/microkit/discovery"
)

// Scheme is the target scheme the Builder resolves: microkit:///service.
const Scheme = "microkit"

// DefaultLoadBalancingConfig is the service config the resolver sets by
// default: power of two choices on outstanding requests.
const DefaultLoadBalancingConfig = `{"loadBalancingConfig":[{"least_request_experimental":{"choiceCount":2}}]}`

// Builder builds resolvers over a registry. It is safe for concurrent use.
type Builder struct {
	reg           discovery.Registry
	serviceConfig string
	logger        *slog.Logger
	minBackoff    time.Duration
	maxBackoff    time.Duration
}

var _ resolver.Builder = (*Builder)(nil)

// Option configures a Builder.
type Option func(*Builder) error

// WithLoadBalancingConfig sets the JSON service config the resolver hands
// to gRPC, e.g. `{"loadBalancingConfig":[{"round_robin":{}}]}`; an empty
// string sets none, leaving gRPC's pick_first or the client's own default.
// The default is DefaultLoadBalancingConfig.
func WithLoadBalancingConfig(serviceConfigJSON string) Option {
	return func(b *Builder) error {
		b.serviceConfig = serviceConfigJSON
		return nil
	}
}

// WithLogger sets the logger of watch errors; nil is invalid. The default
// is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(b *Builder) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", discovery.ErrInvalidOption)
		}
		b.logger = l
		return nil
	}
}

// NewBuilder returns a Builder over reg.
func NewBuilder(reg discovery.Registry, opts ...Option) (*Builder, error) {
	if reg == nil {
		return nil, fmt.Errorf("grpcresolver: new builder: %w: nil registry", discovery.ErrInvalidOption)
	}
	b := &Builder{
		reg:           reg,
		serviceConfig: DefaultLoadBalancingConfig,
		logger:        slog.Default(),
		minBackoff:    50 * time.Millisecond,
		maxBackoff:    2 * time.Second,
	}
	for _, opt := range opts {
		if err := opt(b); err != nil {
			return nil, fmt.Errorf("grpcresolver: new builder: %w", err)
		}
	}
	return b, nil
}

// Register installs b in gRPC's global resolver registry, so that every
// grpc.NewClient("microkit:///...") uses it. Call it at start-up, before
// creating clients; prefer grpc.WithResolvers(b) per client.
func Register(b *Builder) { resolver.Register(b) }

// Scheme returns "microkit".
func (b *Builder) Scheme() string { return Scheme }

// Build starts following the service named by the target's path.
func (b *Builder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	service := target.Endpoint()
	if service == "" {
		return nil, fmt.Errorf("grpcresolver: target %q names no service", target.URL.String())
	}
	r := &watchResolver{b: b, service: service, cc: cc, done: make(chan struct{})}
	if b.serviceConfig != "" {
		r.config = cc.ParseServiceConfig(b.serviceConfig)
		if r.config.Err != nil {
			return nil, fmt.Errorf("grpcresolver: service config: %w", r.config.Err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.run(ctx)
	return r, nil
}

// watchResolver follows one service for one ClientConn.
type watchResolver struct {
	b       *Builder
	service string
	cc      resolver.ClientConn
	config  *serviceconfig.ParseResult
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

func (r *watchResolver) run(ctx context.Context) {
	defer close(r.done)
	var w discovery.Watcher
	defer func() {
		if w != nil {
			_ = w.Close()
		}
	}()
	backoff := r.b.minBackoff
	for ctx.Err() == nil {
		var (
			set []discovery.Instance
			err error
		)
		if w == nil {
			w, err = r.b.reg.Watch(ctx, r.service)
		}
		if err == nil {
			set, err = w.Next(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff = r.b.minBackoff
			err = r.cc.UpdateState(r.state(set))
			if err == nil || errors.Is(err, balancer.ErrBadResolverState) && len(set) == 0 {
				continue // an empty set is the registry's answer, not our error
			}
		}
		if errors.Is(err, discovery.ErrClosed) && w != nil {
			_ = w.Close()
			w = nil
		}
		// gRPC keeps the last good addresses; report so that a client
		// with none fails fast with the reason.
		r.cc.ReportError(fmt.Errorf("grpcresolver: %s: %w", r.service, err))
		r.b.logger.Warn("grpcresolver: watch failed; keeping the last set", "service", r.service, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, r.b.maxBackoff)
	}
}

// state converts a set to gRPC's resolver state, one endpoint per
// instance, carrying the instance's weight and ID as attributes.
func (r *watchResolver) state(set []discovery.Instance) resolver.State {
	eps := make([]resolver.Endpoint, len(set))
	for i, in := range set {
		eps[i] = resolver.Endpoint{Addresses: []resolver.Address{{Addr: in.Addr(), ServerName: in.Address}}}
		eps[i].Attributes = eps[i].Attributes.WithValue(instanceIDKey{}, in.ID).
			WithValue(weightKey{}, in.EffectiveWeight())
	}
	return resolver.State{Endpoints: eps, ServiceConfig: r.config}
}

type (
	instanceIDKey struct{}
	weightKey     struct{}
)

// InstanceID returns the discovery instance ID of a gRPC endpoint that this
// package resolved, for balancers and interceptors.
func InstanceID(ep resolver.Endpoint) (string, bool) {
	id, ok := ep.Attributes.Value(instanceIDKey{}).(string)
	return id, ok
}

// ResolveNow does nothing: the watch pushes every change as it happens.
func (r *watchResolver) ResolveNow(resolver.ResolveNowOptions) {}

// Close stops the watch and waits for its goroutine; it is idempotent.
func (r *watchResolver) Close() {
	r.once.Do(func() {
		r.cancel()
		<-r.done
	})
}

// Weight returns the discovery instance weight of a gRPC endpoint that this
// package resolved, for weighted balancers.
func Weight(ep resolver.Endpoint) (int, bool) {
	w, ok := ep.Attributes.Value(weightKey{}).(int)
	return w, ok
}
