package discovery_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/retry"
)

// scriptedRegistry answers Watch and Next from a script, one step per
// call, and records when each call came. After the script it blocks.
type scriptedRegistry struct {
	mu     sync.Mutex
	start  time.Time
	script []scriptStep
	calls  []string // "watch@100ms", "next@300ms", ...
	closed int      // watchers closed
}

type scriptStep struct {
	call string // "watch" or "next"
	err  error
	set  []discovery.Instance
}

func (r *scriptedRegistry) step(ctx context.Context, call string) ([]discovery.Instance, error) {
	r.mu.Lock()
	r.calls = append(r.calls, call+"@"+time.Since(r.start).String())
	if len(r.script) == 0 {
		r.mu.Unlock()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	s := r.script[0]
	r.script = r.script[1:]
	r.mu.Unlock()
	if s.call != call {
		panic("script expected " + s.call + ", got " + call)
	}
	return s.set, s.err
}

func (r *scriptedRegistry) Instances(context.Context, string) ([]discovery.Instance, error) {
	return nil, errors.New("not scripted")
}

func (r *scriptedRegistry) Watch(ctx context.Context, _ string) (discovery.Watcher, error) {
	if _, err := r.step(ctx, "watch"); err != nil {
		return nil, err
	}
	return &scriptedWatcher{r: r}, nil
}

type scriptedWatcher struct{ r *scriptedRegistry }

func (w *scriptedWatcher) Next(ctx context.Context) ([]discovery.Instance, error) {
	return w.r.step(ctx, "next")
}

func (w *scriptedWatcher) Close() error {
	w.r.mu.Lock()
	w.r.closed++
	w.r.mu.Unlock()
	return nil
}

// TestWatchLoopBacksOffAndResetsAfterSuccess: failures in a row wait
// longer and longer, up to the cap; a success starts the count over; a
// watcher that says ErrClosed is replaced; an Update that fails counts as
// a failure.
func TestWatchLoopBacksOffAndResetsAfterSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := errors.New("registry down")
		set := []discovery.Instance{inst("svc", 0)}
		reg := &scriptedRegistry{start: time.Now(), script: []scriptStep{
			{call: "watch", err: down},               // @0, wait 100ms
			{call: "watch", err: down},               // @100ms, wait 200ms
			{call: "watch", err: down},               // @300ms, wait 400ms
			{call: "watch", err: down},               // @700ms, wait 400ms (the cap)
			{call: "watch"},                          // @1.1s
			{call: "next", set: set},                 // @1.1s: a success
			{call: "next", err: down},                // @1.1s, wait 100ms again
			{call: "next", err: discovery.ErrClosed}, // @1.2s, wait 200ms; the watcher is replaced
			{call: "watch"},                          // @1.4s
			{call: "next", set: nil},                 // @1.4s: Update fails, wait 400ms
			{call: "next", set: set},                 // @1.8s
		}}
		var updates, failures []string
		updateFails := true
		loop := discovery.WatchLoop{
			Instancer: reg,
			Service:   "svc",
			Backoff:   retry.Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, Jitter: retry.NoJitter},
			Update: func(set []discovery.Instance) error {
				if len(set) == 0 && updateFails {
					updateFails = false
					return errors.New("empty set refused")
				}
				updates = append(updates, time.Since(reg.start).String())
				return nil
			},
			Failed: func(err error) { failures = append(failures, err.Error()) },
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- loop.Run(ctx) }()
		time.Sleep(time.Hour)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v, want nil when ctx ends", err)
		}
		wantCalls := []string{"watch@0s", "watch@100ms", "watch@300ms", "watch@700ms", "watch@1.1s",
			"next@1.1s", "next@1.1s", "next@1.2s", "watch@1.4s", "next@1.4s", "next@1.8s", "next@1.8s"}
		if !slices.Equal(reg.calls, wantCalls) {
			t.Errorf("calls\n%q, want\n%q", reg.calls, wantCalls)
		}
		if want := []string{"1.1s", "1.8s"}; !slices.Equal(updates, want) {
			t.Errorf("updates at %q, want %q", updates, want)
		}
		if len(failures) != 7 {
			t.Errorf("%d failures reported, want 7: %q", len(failures), failures)
		}
		if reg.closed != 2 {
			t.Errorf("%d watchers closed, want 2 (the one that said ErrClosed, the last when ctx ended)", reg.closed)
		}
	})
}

func TestWatchLoopRejectsAnIncompleteLoop(t *testing.T) {
	update := func([]discovery.Instance) error { return nil }
	reg := &scriptedRegistry{}
	for name, l := range map[string]discovery.WatchLoop{
		"no instancer":  {Service: "svc", Update: update},
		"no service":    {Instancer: reg, Update: update},
		"no update":     {Instancer: reg, Service: "svc"},
		"a bad backoff": {Instancer: reg, Service: "svc", Update: update, Backoff: retry.Backoff{Multiplier: 0.5}},
	} {
		if err := l.Run(context.Background()); !errors.Is(err, discovery.ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
}
