package discovery

import (
	"context"
	"encoding/json"
	"errors"
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

// check is a readiness check and whether a run of it is still going: a
// check that ignores its context outlives the probe that started it, and
// later probes report it instead of piling up more runs of it.
type check struct {
	fn      CheckFunc
	running atomic.Bool
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
// the service stops. [Announcement.Shutdown] calls it.
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
// passed, with each check's result. It returns within the timeout even if
// a check ignores its context: that check fails the probe as not
// answering, and is not started again until its run returns.
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
	results := runChecks(ctx, checks)
	report := ReadinessReport{Status: "ready", Checks: make(map[string]string, len(names))}
	ok := true
	for i, name := range names {
		if results[i] != nil {
			ok = false
			report.Status = "not ready"
			report.Checks[name] = results[i].Error()
		} else {
			report.Checks[name] = "ok"
		}
	}
	return ok, report
}

// checkResult is the answer of the i-th check of a probe.
type checkResult struct {
	i   int
	err error
}

// runChecks starts each check not still running from an earlier probe and
// collects their answers until ctx ends; a check that has not answered by
// then gets an error.
func runChecks(ctx context.Context, checks []*check) []error {
	// Buffered for every check, so that a run that answers after the
	// probe gave up does not block.
	answers := make(chan checkResult, len(checks))
	results := make([]error, len(checks))
	answered := make([]bool, len(checks))
	pending := 0
	for i, c := range checks {
		if !c.running.CompareAndSwap(false, true) {
			results[i], answered[i] = errStillRunning, true
			continue
		}
		pending++
		go func() {
			defer c.running.Store(false)
			answers <- checkResult{i, runCheck(ctx, c.fn)}
		}()
	}
	for ; pending > 0; pending-- {
		select {
		case a := <-answers:
			results[a.i], answered[a.i] = a.err, true
			continue
		case <-ctx.Done():
		}
		// Take the answers that came with the deadline, then give up on
		// the others.
		for drained := false; !drained; {
			select {
			case a := <-answers:
				results[a.i], answered[a.i] = a.err, true
			default:
				drained = true
			}
		}
		for i := range checks {
			if !answered[i] {
				results[i] = fmt.Errorf("check did not answer: %w", ctx.Err())
			}
		}
		break
	}
	return results
}

// errStillRunning reports a check whose run from an earlier probe has not
// returned yet.
var errStillRunning = errors.New("check did not answer: a previous run is still going")

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
