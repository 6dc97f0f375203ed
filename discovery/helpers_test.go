package discovery_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/discovery"
)

// advance moves a testing/synctest bubble's clock on by d and waits until
// every goroutine that woke up has blocked again, so that the test sees
// what the sweeps and timers due by then have done.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func inst(service string, n int) discovery.Instance {
	return discovery.Instance{ID: service + "-" + string(rune('a'+n)), Service: service, Address: "127.0.0.1", Port: 10000 + n}
}

// memoryWith returns a memory registry holding instances.
func memoryWith(t testing.TB, opts []discovery.MemoryOption, instances ...discovery.Instance) *discovery.Memory {
	t.Helper()
	reg := must[*discovery.Memory](t)(discovery.NewMemory(opts...))
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	for _, in := range instances {
		if err := reg.Register(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

func ids(instances []discovery.Instance) []string {
	out := make([]string, len(instances))
	for i, in := range instances {
		out[i] = in.ID
	}
	return out
}

// events is a Listener that keeps every event a resolver reports.
type events struct {
	mu  sync.Mutex
	all []discovery.Event
}

func (e *events) OnEvent(_ context.Context, ev discovery.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

// count returns how many events of kind service had.
func (e *events) count(kind discovery.EventKind, service string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.all {
		if ev.Kind == kind && ev.Service == service {
			n++
		}
	}
	return n
}

// last returns the last event of service among kinds (any kind if none
// are given), and whether there was one.
func (e *events) last(service string, kinds ...discovery.EventKind) (discovery.Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.all) - 1; i >= 0; i-- {
		if ev := e.all[i]; ev.Service == service && (len(kinds) == 0 || slices.Contains(kinds, ev.Kind)) {
			return ev, true
		}
	}
	return discovery.Event{}, false
}

// served returns the last event of service that says which set the
// resolver serves (updated, held or a failed watch).
func (e *events) served(service string) (discovery.Event, bool) {
	return e.last(service, discovery.EventUpdated, discovery.EventHeld, discovery.EventWatchFailed)
}

// following returns the services whose last event is not their eviction.
func (e *events) following() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	last := map[string]discovery.EventKind{}
	for _, ev := range e.all {
		last[ev.Service] = ev.Kind
	}
	var out []string
	for service, kind := range last {
		if kind != discovery.EventEvicted {
			out = append(out, service)
		}
	}
	slices.Sort(out)
	return out
}

// quietLogger drops the warnings that fault tests provoke on purpose.
var quietLogger = slog.New(slog.DiscardHandler)
