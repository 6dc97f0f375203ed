package discovery

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// CheckFunc is a readiness check: nil means ready.
type CheckFunc func(ctx context.Context) error

// Health serves the two probes a registry and an orchestrator ask a
// service: liveness (/healthz: the process serves HTTP) and readiness
// (/readyz: every check passes and the service is not draining). Point the
// registry's HTTP check at the readiness handler. Health is safe for
// concurrent use.
type Health struct {
	timeout  time.Duration
	draining atomic.Bool

	mu     sync.Mutex
	checks map[string]*check
}

// check is a readiness check and its run in flight, if any. Probes that
// arrive while a run is going wait for its result instead of starting
// another: two registrations probing one /readyz at once both get the
// answer, and a check that ignores its context costs one goroutine, not
// one per probe.
type check struct {
	fn CheckFunc

	mu  sync.Mutex
	run *checkRun // nil when no run is in flight
}

// checkRun is one run of a check, shared by every probe that joins it.
type checkRun struct {
	done chan struct{} // closed when err is set
	err  error
}

// join returns the run of c in flight, starting one if none is. The run
// gets its own context, bounded by timeout and not by the probe that
// started it: the other probes waiting on it must not see that probe's
// client go away.
func (c *check) join(ctx context.Context, timeout time.Duration) *checkRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run != nil {
		return c.run
	}
	r := &checkRun{done: make(chan struct{})}
	c.run = r
	go func() {
		runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		err := runCheck(runCtx, c.fn)
		cancel()
		c.mu.Lock()
		c.run = nil
		c.mu.Unlock()
		r.err = err
		close(r.done)
	}()
	return r
}

// NewHealth returns a Health with no checks whose readiness checks each get
// timeout to answer; zero means 2s. A check that has not answered by then
// fails the probe, which answers anyway.
func NewHealth(timeout time.Duration) *Health {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &Health{timeout: timeout, checks: make(map[string]*check)}
}

// AddCheck adds (or replaces) the named readiness check.
func (h *Health) AddCheck(name string, fn CheckFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = &check{fn: fn}
}

// Drain makes readiness fail from now on, so that traffic moves away before
// the service stops. [Announcement.Close] calls it.
func (h *Health) Drain() { h.draining.Store(true) }

// LivenessHandler answers 200 "ok" to every request: the process is alive
// if it can answer.
func (h *Health) LivenessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// ReadinessReport is the JSON body of the readiness handler.
type ReadinessReport struct {
	// Status is "ready", "not ready" or "draining".
	Status string `json:"status"`
	// Checks maps each check's name to "ok" or its error.
	Checks map[string]string `json:"checks,omitempty"`
}

// Check runs every readiness check concurrently and reports whether all
// passed, with each check's result. A check already running for another
// probe is not started again: this probe waits for that run's result. It
// returns within the timeout even if a check ignores its context: that
// check fails the probe as not answering, and is not started again until
// its run returns.
func (h *Health) Check(ctx context.Context) (bool, ReadinessReport) {
	if h.draining.Load() {
		return false, ReadinessReport{Status: "draining"}
	}
	h.mu.Lock()
	names := make([]string, 0, len(h.checks))
	for name := range h.checks {
		names = append(names, name)
	}
	slices.Sort(names)
	checks := make([]*check, len(names))
	for i, name := range names {
		checks[i] = h.checks[name]
	}
	h.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	runs := make([]*checkRun, len(checks))
	for i, c := range checks {
		runs[i] = c.join(ctx, h.timeout)
	}
	report := ReadinessReport{Status: "ready", Checks: make(map[string]string, len(names))}
	ok := true
	for i, name := range names {
		var err error
		select {
		case <-runs[i].done:
			err = runs[i].err
		case <-ctx.Done():
			select {
			case <-runs[i].done: // answered with the deadline
				err = runs[i].err
			default:
				err = fmt.Errorf("check did not answer: %w", ctx.Err())
			}
		}
		if err != nil {
			ok = false
			report.Status = "not ready"
			report.Checks[name] = err.Error()
		} else {
			report.Checks[name] = "ok"
		}
	}
	return ok, report
}

func runCheck(ctx context.Context, check CheckFunc) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("check panicked: %v", p)
		}
	}()
	return check(ctx)
}

// ReadinessHandler answers 200 with a [ReadinessReport] when every check
// passes, and 503 when one fails or the service is draining.
func (h *Health) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, report := h.Check(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(report)
	})
}
