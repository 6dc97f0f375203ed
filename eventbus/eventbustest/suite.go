package eventbustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// Instance is one process's connection to the broker under test.
type Instance struct {
	Publisher  eventbus.Publisher
	Subscriber eventbus.Subscriber
}

// Config describes the adapter under test.
type Config struct {
	// Connect returns a new connection to the broker under test, standing
	// for one process: instances returned within one test share the broker.
	// Required. The suite closes the publisher and subscriber itself
	// (closing twice, or both when they are one value, must be harmless).
	Connect func(t *testing.T) Instance
	// OrderedPerSubject says that the adapter delivers the messages of one
	// Subject in publish order, one at a time, even with many workers and
	// redeliveries; the suite then checks it.
	OrderedPerSubject bool
	// Restart, if set, stops the broker and starts it again with its data,
	// returning once it accepts connections again. The suite calls it on
	// the test goroutine while a publisher and a router run, then checks
	// that nothing was lost.
	Restart func(t *testing.T)
	// Timeout bounds the wait for each expected outcome, after which a
	// check fails. It is not a speed assertion. Zero means 20s.
	Timeout time.Duration
	// SubscribeOptions are passed to every Subscribe of the suite, e.g. to
	// shorten an adapter's redelivery timeout.
	SubscribeOptions []eventbus.SubscribeOption
	// Seeds is how many fixed seeds RunComposition runs (the test flags
	// -eventbus.seed and -eventbus.seeds override it). Zero means 3.
	Seeds int
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	s := newSuite(t, cfg)
	t.Run("PublishConsume", s.publishConsume)
	t.Run("Patterns", s.patterns)
	t.Run("FanOutAcrossGroups", s.fanOut)
	t.Run("CompetingConsumers", s.competing)
	t.Run("RedeliveryAfterNack", s.redelivery)
	t.Run("TermIsNotRedelivered", s.termination)
	t.Run("DeadLetterAfterMaxAttempts", s.deadLetter)
	if cfg.OrderedPerSubject {
		t.Run("OrderPerSubject", s.orderPerSubject)
	}
	t.Run("CloseWithInFlight", s.closeInFlight)
	t.Run("ConsumerKilledBeforeAck", s.killedConsumer)
	t.Run("Validation", s.validation)
	t.Run("Close", s.closing)
	s.runBatch(t)
	if cfg.Restart != nil {
		t.Run("BrokerRestart", s.brokerRestart)
	}
}

type suite struct {
	cfg Config
}

// newSuite checks cfg and fills in its defaults.
func newSuite(t *testing.T, cfg Config) *suite {
	t.Helper()
	if cfg.Connect == nil {
		t.Fatal("eventbustest: Config.Connect is required")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	return &suite{cfg: cfg}
}

// connect returns a new instance closed at the end of the test.
func (s *suite) connect(t *testing.T) Instance {
	t.Helper()
	in := s.cfg.Connect(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		defer cancel()
		_ = in.Subscriber.Close(ctx)
		_ = in.Publisher.Close(ctx)
	})
	return in
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) subscribe(t *testing.T, sub eventbus.Subscriber, group, pattern string, opts ...eventbus.SubscribeOption) eventbus.Subscription {
	t.Helper()
	all := append(append([]eventbus.SubscribeOption(nil), s.cfg.SubscribeOptions...), opts...)
	sn, err := sub.Subscribe(s.ctx(t), group, pattern, all...)
	if err != nil {
		t.Fatalf("Subscribe(%s, %s): %v", group, pattern, err)
	}
	t.Cleanup(func() { _ = sn.Close() })
	return sn
}

// next returns the next delivery or fails the test.
func (s *suite) next(t *testing.T, sn eventbus.Subscription) eventbus.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	d, err := sn.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return d
}

// startRouter starts a router of group that runs h for pattern.
func (s *suite) startRouter(t *testing.T, sub eventbus.Subscriber, group, pattern string, h eventbus.Handler, opts ...eventbus.RouterOption) *eventbus.Router {
	t.Helper()
	opts = append([]eventbus.RouterOption{eventbus.WithLogger(quietLogger())}, opts...)
	r, err := eventbus.NewRouter(subscriberWith{sub, s.cfg.SubscribeOptions}, group, opts...)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	if err := r.Handle(pattern, h); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if err := r.Start(s.ctx(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return r
}

// subscriberWith adds the suite's subscribe options to a router's.
type subscriberWith struct {
	eventbus.Subscriber
	opts []eventbus.SubscribeOption
}

func (s subscriberWith) Subscribe(ctx context.Context, group, pattern string, opts ...eventbus.SubscribeOption) (eventbus.Subscription, error) {
	return s.Subscriber.Subscribe(ctx, group, pattern, append(append([]eventbus.SubscribeOption(nil), s.opts...), opts...)...)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError + 4}))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// prefix returns a type prefix unique to this test, so that tests sharing a
// broker never see each other's messages.
func prefix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

func (s *suite) publish(t *testing.T, p eventbus.Publisher, msgs ...*eventbus.Message) {
	t.Helper()
	if err := p.Publish(s.ctx(t), msgs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

func msg(typ, subject string, n int) *eventbus.Message {
	return &eventbus.Message{
		ID:              eventbus.NewID(),
		Type:            typ,
		Subject:         subject,
		DataContentType: eventbus.JSONContentType,
		Data:            fmt.Appendf(nil, `{"n":%d}`, n),
	}
}

// recorder collects what handlers saw, safe for concurrent use.
type recorder struct {
	mu     sync.Mutex
	ids    map[string]int // deliveries per ID
	order  map[string][]string
	notify chan struct{}
}

func newRecorder() *recorder {
	return &recorder{ids: make(map[string]int), order: make(map[string][]string), notify: make(chan struct{}, 1)}
}

func (r *recorder) add(m *eventbus.Message) {
	r.mu.Lock()
	r.ids[m.ID]++
	r.order[m.Subject] = append(r.order[m.Subject], m.ID)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) has(ids []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.ids[id] == 0 {
			return false
		}
	}
	return true
}

func (r *recorder) missing(ids []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, id := range ids {
		if r.ids[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// waitFor waits until cond holds, polling on the recorder's notifications.
func (s *suite) waitFor(t *testing.T, r *recorder, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(s.cfg.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-r.notify:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", s.cfg.Timeout, what)
		}
	}
}

func ids(msgs []*eventbus.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}
