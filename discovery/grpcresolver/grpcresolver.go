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
	"github.com/go-microkit/microkit/retry"
)

// Scheme is the target scheme the Builder resolves: microkit:///service.
const Scheme = "microkit"

// DefaultLoadBalancingConfig is the service config the resolver sets by
// default: power of two choices on outstanding requests.
const DefaultLoadBalancingConfig = `{"loadBalancingConfig":[{"least_request_experimental":{"choiceCount":2}}]}`

// Builder builds resolvers over a registry. It is safe for concurrent use.
type Builder struct {
	reg           discovery.Instancer
	serviceConfig string
	logger        *slog.Logger
	backoff       retry.Backoff
	panicPolicy   discovery.PanicPolicy
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

// WithLogger sets the logger of watch errors. The default (and what nil
// means) is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(b *Builder) error {
		if l == nil {
			l = slog.Default()
		}
		b.logger = l
		return nil
	}
}

// WithPanicPolicy sets how the resolver treats a sudden empty or
// near-empty answer from the registry (see discovery.PanicPolicy): by
// default it keeps handing gRPC the last known set for the grace period,
// as discovery.Resolver does, so that a registry restarted empty does not
// empty the client's address list. An invalid policy is an error wrapping
// discovery.ErrInvalidOption.
func WithPanicPolicy(p discovery.PanicPolicy) Option {
	return func(b *Builder) error {
		if _, err := discovery.NewPanicGuard(p); err != nil {
			return err
		}
		b.panicPolicy = p
		return nil
	}
}

// NewBuilder returns a Builder over reg.
func NewBuilder(reg discovery.Instancer, opts ...Option) (*Builder, error) {
	if reg == nil {
		return nil, fmt.Errorf("grpcresolver: new builder: %w: nil registry", discovery.ErrInvalidOption)
	}
	b := &Builder{
		reg:           reg,
		serviceConfig: DefaultLoadBalancingConfig,
		logger:        slog.Default(),
		// As discovery.Resolver's watch: 50ms doubling to 2s, each wait
		// between half and all of it.
		backoff: retry.Backoff{Initial: 50 * time.Millisecond, Max: 2 * time.Second, Jitter: retry.EqualJitter},
	}
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
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
	guard, err := discovery.NewPanicGuard(b.panicPolicy) // checked by WithPanicPolicy
	if err != nil {
		return nil, fmt.Errorf("grpcresolver: %w", err)
	}
	r := &watchResolver{b: b, service: service, cc: cc, guard: guard, done: make(chan struct{})}
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

	// mu serialises the state updates of the watch goroutine and of the
	// grace timer, which ends a hold of the panic guard.
	mu     sync.Mutex
	guard  *discovery.PanicGuard
	timer  *time.Timer
	closed bool
}

func (r *watchResolver) run(ctx context.Context) {
	defer close(r.done)
	loop := discovery.WatchLoop{
		Instancer: r.b.reg,
		Service:   r.service,
		Backoff:   r.b.backoff,
		Update:    r.admit,
		Failed: func(err error) {
			// gRPC keeps the last good addresses; report so that a
			// client with none fails fast with the reason.
			r.cc.ReportError(fmt.Errorf("grpcresolver: %s: %w", r.service, err))
			r.b.logger.Warn("grpcresolver: watch failed; keeping the last set", "service", r.service, "err", err)
		},
	}
	if err := loop.Run(ctx); err != nil {
		r.cc.ReportError(fmt.Errorf("grpcresolver: %s: %w", r.service, err))
	}
}

// admit passes the registry's answer through the panic guard and hands
// gRPC the set to serve; while a suspect answer is held back, a timer
// hands gRPC the answer when the grace period ends.
func (r *watchResolver) admit(set []discovery.Instance) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	wasHeld := !r.guard.HeldUntil().IsZero()
	serve, until := r.guard.Admit(set, time.Now())
	switch {
	case until.IsZero() && r.timer != nil:
		r.timer.Stop()
		r.timer = nil
	case !until.IsZero() && !wasHeld:
		r.b.logger.Warn("grpcresolver: suspect answer from the registry; keeping the last known set until the grace period ends",
			"service", r.service, "instances", len(set), "serving", len(serve), "until", until)
		r.timer = time.AfterFunc(time.Until(until), r.expire)
	}
	return r.updateLocked(serve)
}

// expire ends a hold whose grace period is over.
func (r *watchResolver) expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	set, ok := r.guard.Expire(time.Now())
	if !ok {
		return
	}
	r.timer = nil
	r.b.logger.Warn("grpcresolver: grace period over; taking the registry's answer", "service", r.service, "instances", len(set))
	if err := r.updateLocked(set); err != nil {
		r.cc.ReportError(fmt.Errorf("grpcresolver: %s: %w", r.service, err))
	}
}

// updateLocked hands gRPC set; the caller holds mu.
func (r *watchResolver) updateLocked(set []discovery.Instance) error {
	err := r.cc.UpdateState(r.state(set))
	if errors.Is(err, balancer.ErrBadResolverState) && len(set) == 0 {
		return nil // an empty set is the registry's answer, not our error
	}
	return err
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
		r.mu.Lock()
		r.closed = true
		if r.timer != nil {
			r.timer.Stop()
		}
		r.mu.Unlock()
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
