package discovery_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/discovery"
)

// heartbeatCounter is a real Memory registry that counts heartbeats.
type heartbeatCounter struct {
	*discovery.Memory
	beats atomic.Int64
}

func (h *heartbeatCounter) Heartbeat(ctx context.Context, id string) error {
	h.beats.Add(1)
	return h.Memory.Heartbeat(ctx, id)
}

func TestAnnounceHeartbeatsReregistersAndDeregisters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const every = time.Second
		ctx := context.Background()
		reg := &heartbeatCounter{Memory: memoryWith(t, []discovery.MemoryOption{discovery.WithTTL(time.Hour)})}
		health := discovery.NewHealth(0)
		in := inst("orders", 0)
		a, err := discovery.Announce(ctx, reg, in, discovery.WithHeartbeatInterval(every),
			discovery.WithHealth(health), discovery.WithAnnounceLogger(quietLogger))
		if err != nil {
			t.Fatal(err)
		}
		if got := must[[]discovery.Instance](t)(reg.Instances(ctx, "orders")); len(got) != 1 || !got[0].Equal(in) || !a.Instance().Equal(in) {
			t.Fatalf("after Announce: %v (announced %v)", got, a.Instance())
		}
		if n := reg.beats.Load(); n != 1 {
			t.Fatalf("%d heartbeats from Announce, want 1: a TTL check starts critical", n)
		}
		advance(5 * every)
		if n := reg.beats.Load(); n != 6 {
			t.Fatalf("%d heartbeats five intervals after Announce, want 6", n)
		}

		// The registry forgets the instance (an agent restart): the next
		// heartbeat finds it gone and registers again.
		if err := reg.Memory.Deregister(ctx, in.ID); err != nil {
			t.Fatal(err)
		}
		advance(every)
		if got, _ := reg.Instances(ctx, "orders"); len(got) != 1 {
			t.Fatalf("one interval after the registry forgot the instance: %v", ids(got))
		}

		if ok, _ := health.Check(ctx); !ok {
			t.Fatal("ready before Close")
		}
		if err := a.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(ctx); err != nil {
			t.Fatal("second Close:", err)
		}
		if got := must[[]discovery.Instance](t)(reg.Instances(ctx, "orders")); len(got) != 0 {
			t.Fatalf("after Close: %v", got)
		}
		if ok, report := health.Check(ctx); ok || report.Status != "draining" {
			t.Fatalf("readiness after Close: %v %+v", ok, report)
		}
		beats := reg.beats.Load()
		advance(20 * every)
		if reg.beats.Load() != beats {
			t.Fatal("heartbeats after Close")
		}
	})
}

// stuckRegistry is a registry whose Deregister ignores its context and
// returns only once released, as a call into a hung agent may.
type stuckRegistry struct {
	*discovery.Memory
	release chan struct{}
}

func (s stuckRegistry) Deregister(ctx context.Context, id string) error {
	<-s.release
	return s.Memory.Deregister(ctx, id)
}

// Close gives up when its context ends; a concurrent Close waits for the
// first within its own context, and a later one returns the first's result.
func TestAnnouncementCloseHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := stuckRegistry{Memory: memoryWith(t, nil), release: make(chan struct{})}
		a := must[*discovery.Announcement](t)(discovery.Announce(context.Background(), reg, inst("svc", 0),
			discovery.WithAnnounceLogger(quietLogger)))
		first := make(chan error, 1)
		go func() { first <- a.Close(context.Background()) }()
		synctest.Wait() // the first Close is stuck in Deregister

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := a.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("concurrent Close past its deadline: %v", err)
		}
		close(reg.release)
		if err := <-first; err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if err := a.Close(context.Background()); err != nil {
			t.Fatalf("Close after the first finished: %v", err)
		}
		if got := must[[]discovery.Instance](t)(reg.Instances(context.Background(), "svc")); len(got) != 0 {
			t.Fatalf("after Close: %v", ids(got))
		}
	})
}

func TestAnnounceWithoutHeartbeats(t *testing.T) {
	ctx := context.Background()
	reg := memoryWith(t, nil) // no TTL: HeartbeatInterval is zero
	a := must[*discovery.Announcement](t)(discovery.Announce(ctx, reg, inst("svc", 0)))
	if got := must[[]discovery.Instance](t)(reg.Instances(ctx, "svc")); len(got) != 1 {
		t.Fatalf("after Announce: %v", got)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := must[[]discovery.Instance](t)(reg.Instances(ctx, "svc")); len(got) != 0 {
		t.Fatalf("after Close: %v", got)
	}
}

func TestAnnounceErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := discovery.Announce(ctx, memoryWith(t, nil), discovery.Instance{}); !errors.Is(err, discovery.ErrInvalidInstance) {
		t.Fatalf("invalid instance: %v", err)
	}
	if _, err := discovery.Announce(ctx, nil, inst("svc", 0)); !errors.Is(err, discovery.ErrInvalidOption) {
		t.Fatalf("nil registry: %v", err)
	}
	if _, err := discovery.Announce(ctx, memoryWith(t, nil), inst("svc", 0), discovery.WithHeartbeatInterval(-1)); !errors.Is(err, discovery.ErrInvalidOption) {
		t.Fatalf("negative interval: %v", err)
	}
	if _, err := discovery.Announce(ctx, memoryWith(t, nil), inst("svc", 0), discovery.WithRecheckInterval(-1)); !errors.Is(err, discovery.ErrInvalidOption) {
		t.Fatalf("negative recheck interval: %v", err)
	}
}

func TestHealthHandlers(t *testing.T) {
	h := discovery.NewHealth(time.Second)
	var dbDown atomic.Bool
	h.AddCheck("db", func(context.Context) error {
		if dbDown.Load() {
			return errors.New("connection refused")
		}
		return nil
	})
	h.AddCheck("cache", func(context.Context) error { return nil })
	srv := httptest.NewServer(func() http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/healthz", h.LivenessHandler())
		mux.Handle("/readyz", h.ReadinessHandler())
		return mux
	}())
	defer srv.Close()

	get := func(path string) (int, discovery.ReadinessReport) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var report discovery.ReadinessReport
		if path == "/readyz" {
			if err := json.NewDecoder(resp.Body).Decode(&report); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, report
	}
	steps := []struct {
		name       string
		act        func()
		path       string
		wantCode   int
		wantStatus string
		wantDB     string
	}{
		{name: "live", path: "/healthz", wantCode: 200},
		{name: "ready", path: "/readyz", wantCode: 200, wantStatus: "ready", wantDB: "ok"},
		{name: "db down", act: func() { dbDown.Store(true) }, path: "/readyz", wantCode: 503, wantStatus: "not ready", wantDB: "connection refused"},
		{name: "still live", path: "/healthz", wantCode: 200},
		{name: "db back", act: func() { dbDown.Store(false) }, path: "/readyz", wantCode: 200, wantStatus: "ready", wantDB: "ok"},
		{name: "a panicking check fails readiness", act: func() {
			h.AddCheck("buggy", func(context.Context) error { panic("oops") })
		}, path: "/readyz", wantCode: 503, wantStatus: "not ready", wantDB: "ok"},
		{name: "draining", act: h.Drain, path: "/readyz", wantCode: 503, wantStatus: "draining"},
	}
	for _, s := range steps {
		if s.act != nil {
			s.act()
		}
		code, report := get(s.path)
		if code != s.wantCode || report.Status != s.wantStatus || report.Checks["db"] != s.wantDB {
			t.Fatalf("%s: %d %+v", s.name, code, report)
		}
	}
}

func TestHealthCheckTimeout(t *testing.T) {
	h := discovery.NewHealth(time.Millisecond)
	h.AddCheck("hangs", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	// Either the check's own answer or the probe's "did not answer": both
	// give the deadline as the reason.
	if ok, report := h.Check(context.Background()); ok || !strings.Contains(report.Checks["hangs"], context.DeadlineExceeded.Error()) {
		t.Fatalf("%v %+v", ok, report)
	}
}

// TestHealthAnswersDespiteAHungCheck checks that readiness answers within
// its timeout when a check ignores its context, and that probes arriving
// while that check still hangs do not start more copies of it (each would
// be a goroutine stuck for as long as the check).
func TestHealthAnswersDespiteAHungCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := discovery.NewHealth(time.Millisecond)
		release := make(chan struct{})
		var calls atomic.Int32
		h.AddCheck("ignores-ctx", func(context.Context) error {
			if calls.Add(1) == 1 {
				<-release // a check that honours no context
			}
			return nil
		})
		h.AddCheck("fine", func(context.Context) error { return nil })
		for range 3 {
			ok, report := h.Check(context.Background())
			if ok || report.Checks["fine"] != "ok" || !strings.Contains(report.Checks["ignores-ctx"], "did not answer") {
				t.Fatalf("Check = %v %+v", ok, report)
			}
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("the hung check was started %d times, want 1", n)
		}
		close(release)
		synctest.Wait()
		if ok, report := h.Check(context.Background()); !ok {
			t.Fatalf("not ready once the check returned: %+v", report)
		}
	})
}

// plainRegistry hides every optional interface of the registry it wraps
// (no Heartbeater, no RegistrationChecker), and fails every call while
// down, as an unreachable agent does.
type plainRegistry struct {
	reg  *discovery.Memory
	down atomic.Bool
}

var errUnreachable = errors.New("registry unreachable")

func (p *plainRegistry) Register(ctx context.Context, in discovery.Instance) error {
	if p.down.Load() {
		return errUnreachable
	}
	return p.reg.Register(ctx, in)
}

func (p *plainRegistry) Deregister(ctx context.Context, id string) error {
	if p.down.Load() {
		return errUnreachable
	}
	return p.reg.Deregister(ctx, id)
}

func (p *plainRegistry) Instances(ctx context.Context, service string) ([]discovery.Instance, error) {
	return p.reg.Instances(ctx, service)
}

func (p *plainRegistry) Watch(ctx context.Context, service string) (discovery.Watcher, error) {
	return p.reg.Watch(ctx, service)
}

// checkingRegistry adds Registered (and Memory's zero HeartbeatInterval,
// as a Consul registry with an HTTP check has) to plainRegistry.
type checkingRegistry struct{ *plainRegistry }

func (c checkingRegistry) Registered(ctx context.Context, id string) (bool, error) {
	if c.down.Load() {
		return false, errUnreachable
	}
	return c.reg.Registered(ctx, id)
}

func (c checkingRegistry) Heartbeat(ctx context.Context, id string) error {
	return c.reg.Heartbeat(ctx, id)
}

func (c checkingRegistry) HeartbeatInterval() time.Duration { return c.reg.HeartbeatInterval() }

// Announce keeps the instance registered on every kind of registry: one
// that forgets it (a lost registration), and one that goes away and comes
// back empty (a restarted agent) get it back within one recheck interval.
func TestAnnounceRegistersAgainOnEveryRegistry(t *testing.T) {
	const every = 2 * time.Second
	kinds := []struct {
		name string
		wrap func(*plainRegistry) discovery.Registry
	}{
		{"registration checker with no heartbeats", func(p *plainRegistry) discovery.Registry { return checkingRegistry{p} }},
		{"registry that cannot tell", func(p *plainRegistry) discovery.Registry { return p }},
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				plain := &plainRegistry{reg: memoryWith(t, nil)}
				in := inst("svc", 0)
				a := must[*discovery.Announcement](t)(discovery.Announce(ctx, kind.wrap(plain), in,
					discovery.WithRecheckInterval(every), discovery.WithAnnounceLogger(quietLogger)))
				defer a.Close(ctx)
				registered := func() bool {
					ok, err := plain.reg.Registered(ctx, in.ID)
					return ok && err == nil
				}

				// A lost registration.
				if err := plain.reg.Deregister(ctx, in.ID); err != nil {
					t.Fatal(err)
				}
				time.Sleep(every)
				synctest.Wait()
				if !registered() {
					t.Fatal("not registered again one recheck interval after the registration was lost")
				}

				// The registry goes away for a while and comes back empty.
				plain.down.Store(true)
				time.Sleep(5 * every)
				if err := plain.reg.Deregister(ctx, in.ID); err != nil {
					t.Fatal(err)
				}
				plain.down.Store(false)
				time.Sleep(every)
				synctest.Wait()
				if !registered() {
					t.Fatal("not registered again one recheck interval after the registry came back empty")
				}
			})
		})
	}
}

// Probes that arrive while a slow check runs share its run and all get its
// answer: none is told 503 because another probe is running the check.
func TestConcurrentReadinessProbesShareOneRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := discovery.NewHealth(5 * time.Second)
		var runs atomic.Int32
		h.AddCheck("slow-db", func(ctx context.Context) error {
			runs.Add(1)
			select {
			case <-time.After(300 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		h.AddCheck("fast", func(context.Context) error { return nil })
		const probes = 40
		codes := make([]int, probes)
		bodies := make([]string, probes)
		var wg sync.WaitGroup
		for i := range probes {
			wg.Go(func() {
				// A few probes give up early, as a client that hangs up;
				// that must not fail the run the others wait for.
				ctx := context.Background()
				if i%10 == 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, 10*time.Millisecond)
					defer cancel()
				}
				rec := httptest.NewRecorder()
				h.ReadinessHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil).WithContext(ctx))
				codes[i], bodies[i] = rec.Code, rec.Body.String()
			})
		}
		wg.Wait()
		for i := range probes {
			if i%10 == 0 {
				continue // gave up before the check answered
			}
			if codes[i] != http.StatusOK {
				t.Errorf("probe %d: %d %s", i, codes[i], bodies[i])
			}
		}
		if n := runs.Load(); n != 1 {
			t.Errorf("the check ran %d times for %d simultaneous probes, want once", n, probes)
		}
		// Once the run ended, the next probe runs the check again.
		if ok, report := h.Check(context.Background()); !ok || runs.Load() != 2 {
			t.Fatalf("later probe: %v %+v after %d runs", ok, report, runs.Load())
		}
	})
}
