package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

// The breaker listener keeps the last historyPerBreaker transitions of at
// most historyBreakers breakers (a breaker set of many keys must not grow
// the console without bound): the one changed least recently is dropped.
const (
	historyPerBreaker = 20
	historyBreakers   = 1024
)

// breakerSource is registered breakers: a fixed list or a set.
type breakerSource struct {
	list []*breaker.Breaker
	set  *breaker.Set
}

func (s *breakerSource) all() []*breaker.Breaker {
	if s.set != nil {
		return s.set.Breakers()
	}
	return s.list
}

// AddBreakers shows breakers on the console.
func (c *Console) AddBreakers(bs ...*breaker.Breaker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.breakers = append(c.breakers, &breakerSource{list: slices.Clone(bs)})
}

// AddBreakerSet shows the breakers of s on the console, as many as it
// holds when a page is asked for.
func (c *Console) AddBreakerSet(s *breaker.Set) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.breakers = append(c.breakers, &breakerSource{set: s})
}

// BreakerListener returns the listener that records each breaker's recent
// transitions for the console's timeline; give it to the breakers (or
// sets) the console shows, with breaker.WithListener. It runs on state
// changes only.
func (c *Console) BreakerListener() breaker.Listener { return c.history.record }

// breakerHistory is the recent transitions of each breaker, by name.
type breakerHistory struct {
	perBreaker, maxBreakers int

	mu     sync.Mutex
	byName map[string]*transitions
}

type transitions struct {
	list    []breaker.Transition // oldest first, at most perBreaker
	changed time.Time
}

func newBreakerHistory(perBreaker, maxBreakers int) *breakerHistory {
	return &breakerHistory{perBreaker: perBreaker, maxBreakers: maxBreakers, byName: make(map[string]*transitions)}
}

func (h *breakerHistory) record(_ context.Context, t breaker.Transition) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts, ok := h.byName[t.Name]
	if !ok {
		if len(h.byName) >= h.maxBreakers {
			h.dropOldest()
		}
		ts = &transitions{}
		h.byName[t.Name] = ts
	}
	if len(ts.list) == h.perBreaker {
		ts.list = append(ts.list[:0], ts.list[1:]...)
	}
	ts.list = append(ts.list, t)
	ts.changed = time.Now()
}

// dropOldest forgets the breaker whose last change is the oldest; h.mu is
// held. A linear scan: it runs only when a new breaker changes state with
// the history full.
func (h *breakerHistory) dropOldest() {
	var oldest string
	var at time.Time
	for name, ts := range h.byName {
		if oldest == "" || ts.changed.Before(at) {
			oldest, at = name, ts.changed
		}
	}
	delete(h.byName, oldest)
}

func (h *breakerHistory) of(name string) []breaker.Transition {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ts, ok := h.byName[name]; ok {
		return slices.Clone(ts.list)
	}
	return nil
}

// BreakerView is one breaker as the console shows it.
type BreakerView struct {
	// Name is the breaker's name.
	Name string `json:"name"`
	// State is closed, open, half-open, forced-open or disabled.
	State string `json:"state"`
	// Calls, Failures and Slow are the calls in the breaker's window.
	Calls    int64 `json:"calls"`
	Failures int64 `json:"failures"`
	Slow     int64 `json:"slow"`
	// FailureRate is Failures / Calls, 0 without calls.
	FailureRate float64 `json:"failure_rate"`
	// ConsecutiveFailures is the current run of failures.
	ConsecutiveFailures int64 `json:"consecutive_failures"`
	// Since is when the breaker entered its state, if the console saw it.
	Since time.Time `json:"since,omitzero"`
	// OpenUntil is, while open, when probes will be let through.
	OpenUntil time.Time `json:"open_until,omitzero"`
	// Transitions are its recent changes, oldest first (see
	// Console.BreakerListener).
	Transitions []TransitionView `json:"transitions"`
}

// TransitionView is one change of a breaker's state.
type TransitionView struct {
	From      string    `json:"from"`
	To        string    `json:"to"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
	OpenUntil time.Time `json:"open_until,omitzero"`
}

// BreakersView is the breakers page.
type BreakersView struct {
	// Breakers are sorted: open ones first, then by name.
	Breakers []BreakerView `json:"breakers"`
	// Open counts those open, forced open or half-open.
	Open int `json:"open"`
}

func (c *Console) breakerViews(*http.Request) (any, error) { return c.readBreakers(), nil }

func (c *Console) readBreakers() BreakersView {
	c.mu.Lock()
	sources := slices.Clone(c.breakers)
	c.mu.Unlock()
	seen := make(map[*breaker.Breaker]bool)
	var out BreakersView
	for _, s := range sources {
		for _, b := range s.all() {
			if seen[b] {
				continue
			}
			seen[b] = true
			v := c.viewBreaker(b)
			if v.State != breaker.Closed.String() && v.State != breaker.Disabled.String() {
				out.Open++
			}
			out.Breakers = append(out.Breakers, v)
		}
	}
	slices.SortFunc(out.Breakers, func(a, b BreakerView) int {
		if ao, bo := a.State == breaker.Closed.String(), b.State == breaker.Closed.String(); ao != bo {
			if bo {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if out.Breakers == nil {
		out.Breakers = []BreakerView{}
	}
	return out
}

func (c *Console) viewBreaker(b *breaker.Breaker) BreakerView {
	st, n := b.State(), b.Counts()
	v := BreakerView{Name: b.Name(), State: st.String(), Calls: n.Calls, Failures: n.Failures, Slow: n.Slow,
		ConsecutiveFailures: n.ConsecutiveFailures, Transitions: []TransitionView{}}
	if n.Calls > 0 {
		v.FailureRate = float64(n.Failures) / float64(n.Calls)
	}
	ts := c.history.of(b.Name())
	for _, t := range ts {
		v.Transitions = append(v.Transitions, TransitionView{From: t.From.String(), To: t.To.String(),
			Reason: string(t.Reason), At: t.At, OpenUntil: t.OpenUntil})
	}
	if len(ts) > 0 {
		if last := ts[len(ts)-1]; last.To == st {
			v.Since = last.At
			if st == breaker.Open {
				v.OpenUntil = last.OpenUntil
			}
		}
	}
	return v
}

// findBreaker returns the registered breaker named name.
func (c *Console) findBreaker(name string) (*breaker.Breaker, bool) {
	c.mu.Lock()
	sources := slices.Clone(c.breakers)
	c.mu.Unlock()
	for _, s := range sources {
		for _, b := range s.all() {
			if b.Name() == name {
				return b, true
			}
		}
	}
	return nil, false
}

// registerBreakerActions adds the breaker actions: reset (closed, its
// window cleared) and force open (refuse every call until reset).
func (c *Console) registerBreakerActions() {
	for _, a := range []struct {
		name, title, verb string
		do                func(*breaker.Breaker, context.Context)
	}{
		{"breaker-reset", "Reset breaker", "close", (*breaker.Breaker).Reset},
		{"breaker-force-open", "Force breaker open", "force open, refusing every call until it is reset,", (*breaker.Breaker).ForceOpen},
	} {
		c.addAction(a.name, action{
			title: a.title,
			prepare: func(_ context.Context, form url.Values) (prepared, error) {
				name, err := required(form, "name")
				if err != nil {
					return prepared{}, err
				}
				b, ok := c.findBreaker(name)
				if !ok {
					return prepared{}, notFound("no breaker %q", name)
				}
				return prepared{
					what: a.verb + " breaker " + b.Name() + " (now " + b.State().String() + ")",
					do: func(ctx context.Context) (ActionResult, error) {
						a.do(b, ctx)
						return ActionResult{Done: 1, Message: "breaker " + b.Name() + " is " + b.State().String()}, nil
					},
				}, nil
			},
		})
	}
}
