package discovery_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/discoverytest"
)

func TestMemoryConformance(t *testing.T) {
	discoverytest.Run(t, discoverytest.Harness{
		New: func(t *testing.T, seed []discovery.Instance) discovery.Instancer {
			return memoryWith(t, nil, seed...)
		},
	})
}

func TestMemoryWithTTLConformance(t *testing.T) {
	discoverytest.Run(t, discoverytest.Harness{
		New: func(t *testing.T, seed []discovery.Instance) discovery.Instancer {
			// A TTL that outlasts the suite: nothing expires, and the
			// sweeper runs along.
			return memoryWith(t, []discovery.MemoryOption{discovery.WithTTL(time.Hour)}, seed...)
		},
	})
}

func TestMemoryTTLExpiryAndHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := memoryWith(t, []discovery.MemoryOption{discovery.WithTTL(10 * time.Second)}, inst("svc", 0), inst("svc", 1))
		if got := reg.HeartbeatInterval(); got != 10*time.Second/3 {
			t.Fatalf("HeartbeatInterval = %v", got)
		}
		w := must[discovery.Watcher](t)(reg.Watch(ctx, "svc"))
		defer w.Close()
		if got := must[[]discovery.Instance](t)(w.Next(ctx)); len(got) != 2 {
			t.Fatalf("first set %v", ids(got))
		}

		steps := []struct {
			name    string
			advance time.Duration
			beat    string
			want    []string
		}{
			{"within TTL both healthy", 6 * time.Second, "svc-a", []string{"svc-a", "svc-b"}},
			{"b missed its TTL", 4 * time.Second, "", []string{"svc-a"}},
			{"heartbeat brings b back", 0, "svc-b", []string{"svc-a", "svc-b"}},
			{"both expire", 10 * time.Second, "", []string{}},
		}
		prev := []string{"svc-a", "svc-b"}
		for _, s := range steps {
			advance(s.advance)
			if s.beat != "" {
				if err := reg.Heartbeat(ctx, s.beat); err != nil {
					t.Fatalf("%s: heartbeat: %v", s.name, err)
				}
			}
			got := ids(must[[]discovery.Instance](t)(reg.Instances(ctx, "svc")))
			if !slices.Equal(got, s.want) {
				t.Fatalf("%s: Instances = %v, want %v", s.name, got, s.want)
			}
			if slices.Equal(got, prev) {
				continue // the watch reports changes only
			}
			prev = got
			set, err := w.Next(ctx)
			if err != nil || !slices.Equal(ids(set), s.want) {
				t.Fatalf("%s: watch = %v, %v; want %v", s.name, ids(set), err, s.want)
			}
		}
		if err := reg.Heartbeat(ctx, "unknown"); !errors.Is(err, discovery.ErrNotFound) {
			t.Fatalf("heartbeat of unknown ID: %v", err)
		}
	})
}

// The sweeper goroutine notices an expiry on its own: a watcher blocked in
// Next gets the smaller set at the first sweep after the TTL, with no call
// to the registry in between.
func TestMemorySweeperWakesWatchers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := memoryWith(t, []discovery.MemoryOption{
			discovery.WithTTL(time.Second), discovery.WithSweepInterval(300 * time.Millisecond),
		}, inst("svc", 0))
		w := must[discovery.Watcher](t)(reg.Watch(ctx, "svc"))
		defer w.Close()
		_ = must[[]discovery.Instance](t)(w.Next(ctx))
		type result struct {
			set []discovery.Instance
			err error
		}
		next := make(chan result, 1)
		go func() {
			set, err := w.Next(ctx)
			next <- result{set, err}
		}()
		advance(1200*time.Millisecond - time.Nanosecond) // expired at 1s; the sweep after is at 1.2s
		select {
		case r := <-next:
			t.Fatalf("woken before the sweep: %v, %v", ids(r.set), r.err)
		default:
		}
		advance(time.Nanosecond)
		select {
		case r := <-next:
			if r.err != nil || len(r.set) != 0 {
				t.Fatalf("after expiry: %v, %v", ids(r.set), r.err)
			}
		default:
			t.Fatal("the sweep did not wake the watcher")
		}
	})
}

func TestMemoryClose(t *testing.T) {
	ctx := context.Background()
	reg := must[*discovery.Memory](t)(discovery.NewMemory(discovery.WithTTL(time.Second)))
	w := must[discovery.Watcher](t)(reg.Watch(ctx, "svc"))
	_ = must[[]discovery.Instance](t)(w.Next(ctx))
	errc := make(chan error, 1)
	go func() { _, err := w.Next(ctx); errc <- err }()
	if err := reg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := reg.Close(ctx); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := <-errc; !errors.Is(err, discovery.ErrClosed) {
		t.Fatalf("blocked Next after Close: %v", err)
	}
	for name, err := range map[string]error{
		"Register":   reg.Register(ctx, inst("svc", 0)),
		"Deregister": reg.Deregister(ctx, "x"),
		"Heartbeat":  reg.Heartbeat(ctx, "x"),
	} {
		if !errors.Is(err, discovery.ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if _, err := reg.Instances(ctx, "svc"); !errors.Is(err, discovery.ErrClosed) {
		t.Errorf("Instances after Close: %v", err)
	}
	if _, err := reg.Watch(ctx, "svc"); !errors.Is(err, discovery.ErrClosed) {
		t.Errorf("Watch after Close: %v", err)
	}
}

func TestMemoryOptionsValidate(t *testing.T) {
	for name, opt := range map[string]discovery.MemoryOption{
		"negative TTL":            discovery.WithTTL(-time.Second),
		"negative sweep interval": discovery.WithSweepInterval(-time.Second),
	} {
		if _, err := discovery.NewMemory(opt); !errors.Is(err, discovery.ErrInvalidOption) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Services names a service while it has a registered instance, even one
// whose TTL expired (Instances then has none), and fails once closed.
func TestMemoryServices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := memoryWith(t, []discovery.MemoryOption{discovery.WithTTL(10 * time.Second)}, inst("orders", 0), inst("mail", 0))
		advance(11 * time.Second)
		if err := reg.Heartbeat(ctx, "orders-a"); err != nil {
			t.Fatal(err)
		}
		if got := must[[]discovery.Instance](t)(reg.Instances(ctx, "mail")); len(got) != 0 {
			t.Fatalf("mail after its TTL: %v", ids(got))
		}
		if got := must[[]string](t)(reg.Services(ctx)); !slices.Equal(got, []string{"mail", "orders"}) {
			t.Fatalf("Services = %v, want mail (expired) and orders", got)
		}
		if err := reg.Deregister(ctx, "mail-a"); err != nil {
			t.Fatal(err)
		}
		if got := must[[]string](t)(reg.Services(ctx)); !slices.Equal(got, []string{"orders"}) {
			t.Fatalf("Services after deregistering mail = %v", got)
		}
		if err := reg.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Services(ctx); !errors.Is(err, discovery.ErrClosed) {
			t.Fatalf("Services after Close: %v", err)
		}
	})
}
