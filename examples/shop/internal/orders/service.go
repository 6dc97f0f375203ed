package orders

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/breaker/breakergrpc"
	"github.com/go-microkit/microkit/breaker/breakermetrics"
	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/products/productpb"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagametrics"
	"github.com/go-microkit/microkit/saga/sagatrace"
	"github.com/go-microkit/microkit/saga/sqlstore"
	"github.com/go-microkit/microkit/tracing"
	"github.com/go-microkit/microkit/tracing/tracinggrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Config configures the order-service.
type Config struct {
	// DSN is its database: a SQLite path or a postgres:// URL. Required.
	DSN string
	// Addr is where it listens; zero means a free loopback port.
	Addr string
	// Publisher is the bus the outbox relay publishes to. Required.
	Publisher eventbus.Publisher
	// Subscriber is the bus the payment-service's and the warehouse's
	// events come from, which the sagas wait for. Required.
	Subscriber eventbus.Subscriber
	// System names the bus in spans ("nats"). Zero means "nats".
	System string
	// PaymentDeadline is how long an order waits for its payment's
	// outcome before it is cancelled and its stock released; zero means
	// DefaultPaymentDeadline.
	PaymentDeadline time.Duration
	// ShipAfter is how long after its confirmation the warehouse ships an
	// order (the shop's stand-in for a warehouse); zero means
	// DefaultShipAfter.
	ShipAfter time.Duration
	// ShipDeadline is how long a confirmed order waits for its shipment
	// before it is cancelled and refunded; zero means DefaultShipDeadline.
	ShipDeadline time.Duration
	// BreakerOpen is the first open interval of the breakers in front of
	// the payment-service and the product-service, growing on repeated
	// trips (platform.BreakerOptions); zero means 1s.
	BreakerOpen time.Duration
	// Lease is the saga lease: how soon a dead instance's sagas are taken
	// over; zero means 5s.
	Lease time.Duration
	// RecoverEvery is the period of the recovery loop; zero means 1s.
	RecoverEvery time.Duration
	// CompensateFor is how long a failed compensation (a refund, a stock
	// release) is retried, 100ms doubling to 10s apart, before its saga
	// ends compensation_failed and waits for an operator; zero means the
	// saga package's default, 2m.
	CompensateFor time.Duration
}

// The defaults of Config's waits.
const (
	DefaultPaymentDeadline = time.Minute
	DefaultShipAfter       = 2 * time.Second
	DefaultShipDeadline    = time.Hour
)

// Service is a running order-service. Close stops it.
type Service struct {
	cfg     Config
	deps    *platform.Deps
	st      *store
	sagas   *sqlstore.Store
	def     *saga.Saga[sagaState]
	orch    *saga.Orchestrator
	rescuer *saga.Orchestrator
	payment *breaker.Breaker
	product productpb.ProductServiceClient
	relay   *platform.Relay
	router  *eventbus.Router
	waiters *waiters
	base    *platform.Base
	srv     *platform.Server
	stop    chan struct{}
	stopped sync.Once
	loop    sync.WaitGroup
}

// New opens the database, starts the outbox relay, the saga orchestrators
// and their recovery loop, and the HTTP server, registered as order-service.
func New(ctx context.Context, deps *platform.Deps, cfg Config) (_ *Service, err error) {
	if cfg.Publisher == nil || cfg.Subscriber == nil {
		return nil, errors.New("orders: Config.Publisher and Config.Subscriber are required")
	}
	if cfg.System == "" {
		cfg.System = "nats"
	}
	if cfg.PaymentDeadline == 0 {
		cfg.PaymentDeadline = DefaultPaymentDeadline
	}
	if cfg.ShipAfter == 0 {
		cfg.ShipAfter = DefaultShipAfter
	}
	if cfg.ShipDeadline == 0 {
		cfg.ShipDeadline = DefaultShipDeadline
	}
	if cfg.Lease == 0 {
		cfg.Lease = 5 * time.Second
	}
	if cfg.RecoverEvery == 0 {
		cfg.RecoverEvery = time.Second
	}
	b, err := platform.NewBase(ctx, deps, platform.OrderService, cfg.DSN, cfg.Addr, schema...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.Close(context.WithoutCancel(ctx)))
		}
	}()
	s := &Service{cfg: cfg, deps: deps, base: b, srv: b.Server, stop: make(chan struct{}), waiters: newWaiters()}
	db := b.DB
	if err := db.AddColumn(ctx, "orders", "tracking", trackingColumn); err != nil {
		return nil, err
	}
	if err := sqlstore.Migrate(ctx, db.SQL(), db.Dialect()); err != nil {
		return nil, fmt.Errorf("orders: saga store: %w", err)
	}
	if s.sagas, err = sqlstore.New(db.SQL(), db.Dialect()); err != nil {
		return nil, fmt.Errorf("orders: saga store: %w", err)
	}
	s.st = &store{db: db}
	bm, err := breakermetrics.New(s.srv.Metrics())
	if err != nil {
		return nil, fmt.Errorf("orders: breaker metrics: %w", err)
	}
	con := s.srv.Console()
	watch := []breaker.Option{breaker.WithObserver(bm.Observer), breaker.WithListener(func(_ context.Context, t breaker.Transition) {
		deps.Logger.Warn("circuit breaker changed state", "breaker", t.Name, "from", t.From, "to", t.To, "reason", t.Reason)
	}), breaker.WithListener(con.BreakerListener())}
	if s.payment, err = paymentBreaker(cfg.BreakerOpen, watch...); err != nil {
		return nil, err
	}
	productBreaker, err := platform.NewBreaker("product-service", cfg.BreakerOpen, watch...)
	if err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient("microkit:///"+deps.Name(platform.ProductGRPC),
		grpc.WithResolvers(deps.GRPC),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		tracinggrpc.DialOption(tracing.Default()),
		grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptor(breakergrpc.Single(productBreaker))))
	if err != nil {
		return nil, fmt.Errorf("orders: product client: %w", err)
	}
	b.Stack.PushCloser(cc.Close)
	s.product = productpb.NewProductServiceClient(cc)
	con.AddBreakers(s.payment, productBreaker)

	if s.relay, err = platform.StartRelay(ctx, db, cfg.Publisher, deps.Logger, s.srv.Metrics(), con.OutboxListener()); err != nil {
		return nil, err
	}
	con.AddOutbox("order events", db.SQL(), db.Dialect(), outbox.DefaultTable)
	b.Stack.Push(s.relay.Close)

	if s.def, err = s.newSaga(); err != nil {
		return nil, err
	}
	metrics, err := sagametrics.New(s.srv.Metrics())
	if err != nil {
		return nil, fmt.Errorf("orders: saga metrics: %w", err)
	}
	// Saga spans go to the global provider, like the HTTP and gRPC spans,
	// so that a checkout is one trace from the gateway to every step.
	tracer, err := sagatrace.New()
	if err != nil {
		return nil, fmt.Errorf("orders: saga tracer: %w", err)
	}
	opts := []saga.Option{saga.WithLease(cfg.Lease), saga.WithLogger(deps.Logger), saga.WithListener(metrics), saga.WithTracer(tracer),
		saga.WithListener(saga.ListenerFunc(s.sagaMoved))}
	if cfg.CompensateFor > 0 {
		opts = append(opts, saga.WithCompensationRetry(retry.Policy{MaxAttempts: -1, MaxElapsed: cfg.CompensateFor,
			Backoff: retry.Backoff{Initial: 100 * time.Millisecond, Max: 10 * time.Second}}))
	}
	for _, o := range []**saga.Orchestrator{&s.orch, &s.rescuer} {
		if *o, err = saga.NewOrchestrator(s.sagas, opts...); err != nil {
			return nil, fmt.Errorf("orders: orchestrator: %w", err)
		}
		if err := (*o).Register(s.def); err != nil {
			return nil, fmt.Errorf("orders: orchestrator: %w", err)
		}
		b.Stack.Push((*o).Close)
	}
	// The operator's console lists the sagas and retries or resolves those
	// whose compensation failed, through this service (which kicks the
	// relay for the cancel's event).
	con.AddSagas(s.sagas, s)
	// The recovery and timer loops stop before the orchestrators close.
	s.loop.Add(2)
	go s.recoverLoop()
	go s.timerLoop()
	b.Stack.Push(func(context.Context) error {
		s.stopped.Do(func() { close(s.stop) })
		s.loop.Wait()
		return nil
	})

	// The payment-service's and the warehouse's events continue the
	// sagas that wait for them; the router stops first.
	if err := s.startRouter(ctx); err != nil {
		return nil, err
	}

	s.routes()
	if err := b.Serve(ctx, deps, platform.OrderService); err != nil {
		return nil, err
	}
	return s, nil
}

// URL returns the base URL of the HTTP server.
func (s *Service) URL() string { return s.base.URL() }

// PaymentBreaker returns the breaker that guards the payment-service.
func (s *Service) PaymentBreaker() *breaker.Breaker { return s.payment }

// RetryCompensation compensates again the saga of order id, which ended
// compensation_failed (saga.Orchestrator.RetryCompensation): what an
// operator does once the participant that refused is fixed. It returns
// nil once the saga is compensated (the order cancelled), a
// *saga.CompensationFailedError when it fails again, and an error wrapping
// saga.ErrWrongStatus for a saga in another status.
func (s *Service) RetryCompensation(ctx context.Context, id string) error {
	err := s.orch.RetryCompensation(ctx, id)
	s.relay.Kick() // the cancel's order.cancelled
	s.waiters.wake(id, false)
	return err
}

// Resolve closes the saga of order id, which ended compensation_failed,
// as repaired by hand with the operator's note (saga.Orchestrator.Resolve).
func (s *Service) Resolve(ctx context.Context, id, note string) error {
	return s.orch.Resolve(ctx, id, note)
}

// Close deregisters the service, waits for the requests in flight, stops
// the recovery loop and the outbox relay, and closes the database. It is
// idempotent.
func (s *Service) Close(ctx context.Context) error { return s.base.Close(ctx) }

// untilStop returns a context canceled when the service stops (or when
// cancel is called), for a loop the service owns.
func (s *Service) untilStop() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// timerLoop runs the orchestrator's timer loop (saga.Orchestrator.
// RunTimers): the payment and shipping deadlines of the sagas that wait,
// in this process or in one that died, and the wake-ups that fell due
// while no order-service ran.
func (s *Service) timerLoop() {
	defer s.loop.Done()
	ctx, cancel := s.untilStop()
	defer cancel()
	if err := s.rescuer.RunTimers(ctx); err != nil {
		s.deps.Logger.Error("saga timers stopped", "err", err)
	}
}

// recoverLoop finishes the sagas that a dead instance left in flight, once
// their lease lapsed. It runs on its own orchestrator, so it never takes
// over the sagas this process drives. (No order can be stored without its
// saga: the saga's first step stores the order, in the transaction that
// creates the saga's record.)
func (s *Service) recoverLoop() {
	defer s.loop.Done()
	ctx, cancel := s.untilStop()
	defer cancel()
	t := time.NewTicker(s.cfg.RecoverEvery)
	defer t.Stop()
	for {
		if _, err := s.rescuer.Recover(ctx); err != nil && ctx.Err() == nil {
			s.deps.Logger.Warn("saga recovery", "err", err)
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}
