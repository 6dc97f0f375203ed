package outbox_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/sqldialect"
)

// logRecord is one record a logRecorder kept: its message and attributes.
type logRecord struct {
	msg   string
	attrs map[string]slog.Value
}

// logRecorder is a slog.Handler that keeps every record and signals each
// one on a channel, so that a test can wait for what the relay reports.
type logRecorder struct {
	mu      sync.Mutex
	records []logRecord
	notify  chan struct{}
}

func newLogRecorder() *logRecorder { return &logRecorder{notify: make(chan struct{}, 1)} }

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{msg: r.Message, attrs: make(map[string]slog.Value)}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value
		return true
	})
	h.mu.Lock()
	h.records = append(h.records, rec)
	h.mu.Unlock()
	select {
	case h.notify <- struct{}{}:
	default:
	}
	return nil
}

func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// with returns the records whose message is msg.
func (h *logRecorder) with(msg string) []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logRecord
	for _, r := range h.records {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits until at least n records have message msg, failing the
// test after 60s (a deadlock guard, not a speed check).
func (h *logRecorder) waitFor(t *testing.T, msg string, n int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for len(h.with(msg)) < n {
		select {
		case <-h.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d log records %q, want %d", len(h.with(msg)), msg, n)
		}
	}
}

// flakyPublisher fails its first failures calls and records when each
// call was made.
type flakyPublisher struct {
	mu       sync.Mutex
	failures int
	calls    []time.Time
	sent     []string
}

func (p *flakyPublisher) Publish(_ context.Context, msgs ...*eventbus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, time.Now())
	if len(p.calls) <= p.failures {
		return errors.New("broker unavailable")
	}
	for _, m := range msgs {
		p.sent = append(p.sent, m.ID)
	}
	return nil
}

func (p *flakyPublisher) Close(context.Context) error { return nil }

// stormWaker wakes the relay every interval, like the notifications of a
// busy database.
type stormWaker struct{ interval time.Duration }

func (w stormWaker) Wait(ctx context.Context) error {
	select {
	case <-time.After(w.interval):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestRelayBackoffPerFailure runs the relay in a synctest bubble (fake
// time) against a publisher that fails eight rounds, while a waker fires
// every 10ms. The pauses between rounds must be exactly the
// schedule of consecutive failures (100ms doubling, capped at the max
// backoff), unchanged by the wake-ups, and each failure's log record must
// name the pause that really followed it.
func TestRelayBackoffPerFailure(t *testing.T) {
	tests := []struct {
		name       string
		maxBackoff time.Duration   // 0: the default
		wantMillis []time.Duration // pauses after each failure
	}{
		{"default 1s cap", 0, []time.Duration{100, 200, 400, 800, 1000, 1000, 1000, 1000}},
		{"cap 300ms", 300 * time.Millisecond, []time.Duration{100, 200, 300, 300, 300, 300, 300, 300}},
		{"cap below the first pause", 50 * time.Millisecond, []time.Duration{50, 50, 50, 50, 50, 50, 50, 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				want := make([]time.Duration, len(tt.wantMillis))
				for i, ms := range tt.wantMillis {
					want[i] = ms * time.Millisecond
				}
				ctx, cancel := context.WithCancel(context.Background())
				d := openFresh(t, sqldialect.SQLite)
				e := orderCreated(t, "order-1", 1)
				if err := createOrder(ctx, d.db, "order-1", e); err != nil {
					t.Fatal(err)
				}
				pub := &flakyPublisher{failures: len(want)}
				logs := newLogRecorder()
				opts := []outbox.Option{outbox.WithLogger(slog.New(logs)), outbox.WithPollInterval(time.Hour),
					outbox.WithWaker(stormWaker{10 * time.Millisecond})}
				if tt.maxBackoff > 0 {
					opts = append(opts, outbox.WithMaxBackoff(tt.maxBackoff))
				}
				r := newRelay(t, d, pub, opts...)
				done := make(chan error, 1)
				go func() { done <- r.Run(ctx) }()
				// Every round but the last fails; the last publishes.
				var total time.Duration
				for _, d := range want {
					total += d
				}
				time.Sleep(total + 100*time.Millisecond)
				synctest.Wait()
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("Run = %v", err)
				}

				pub.mu.Lock()
				calls, sent := pub.calls, pub.sent
				pub.mu.Unlock()
				if len(calls) != len(want)+1 || len(sent) != 1 || sent[0] != e.ID {
					t.Fatalf("%d publish calls sending %v, want %d calls sending %s once", len(calls), sent, len(want)+1, e.ID)
				}
				failed := logs.with("outbox: relay round failed")
				if len(failed) != len(want) {
					t.Fatalf("%d failures logged, want %d", len(failed), len(want))
				}
				for i, pause := range want {
					if gap := calls[i+1].Sub(calls[i]); gap != pause {
						t.Errorf("pause after failure %d = %s, want %s", i+1, gap, pause)
					}
					if logged := failed[i].attrs["retry_in"].Duration(); logged != pause {
						t.Errorf("failure %d logged retry_in=%s, want the %s really waited", i+1, logged, pause)
					}
				}
				if n := len(logs.with("outbox: relay recovered")); n != 1 {
					t.Errorf("%d recovery records, want 1", n)
				}
			})
		})
	}
}
