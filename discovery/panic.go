package discovery

import (
	"fmt"
	"slices"
	"time"
)

// DefaultPanicGrace is how long the resolver keeps serving the last known
// set of a service after a suspect answer, unless PanicPolicy.Grace says
// otherwise.
const DefaultPanicGrace = 30 * time.Second

// DefaultPanicThreshold is the share of the last accepted set, in percent,
// below which an answer is suspect, unless PanicPolicy.ThresholdPercent
// says otherwise: Envoy's default panic threshold.
const DefaultPanicThreshold = 50

// PanicPolicy is the resolver's guard against a registry that suddenly
// answers with no instances, or with far fewer than it had: an agent
// restarted empty, a registration lost, a health check flapping on every
// instance at once. Such an answer is more often the registry's fault than
// the service's, and taking it turns a registry blip into an outage.
//
// An answer is suspect when it is empty or holds fewer than
// ThresholdPercent percent of the instances of the last set the resolver
// accepted; with the default 50, going from 4 instances to 2 is taken at
// once, from 4 to 1 or from 1 to 0 is suspect. On a suspect answer the
// resolver keeps serving the last accepted set (together with the
// answer's own instances) for Grace, reports the service stale
// ([ServiceStatus].Stale and HeldUntil, microkit_discovery_stale_services),
// and takes the registry's answer when Grace ends. An answer at or above
// the threshold during the grace period is taken at once and ends it. The
// first answer for a service is always taken: there is nothing to keep.
//
// The reference is Envoy's panic threshold, which likewise stops trusting
// health when too few hosts remain. The cost: a genuine scale-down below
// the threshold, or to zero, is seen only after Grace; meanwhile requests
// may go to instances that are gone, which outlier ejection and the
// Transport's retries absorb.
type PanicPolicy struct {
	// ThresholdPercent is the share of the last accepted set, in percent,
	// that an answer must keep not to be suspect: 1 to 100. Zero means
	// DefaultPanicThreshold. An empty answer is always suspect.
	ThresholdPercent int
	// Grace is how long a suspect answer is held back. Zero means
	// DefaultPanicGrace.
	Grace time.Duration
	// Off turns the guard off: every answer is taken at once, an empty one
	// included.
	Off bool
}

func (p PanicPolicy) withDefaults() (PanicPolicy, error) {
	if p.ThresholdPercent < 0 || p.ThresholdPercent > 100 || p.Grace < 0 {
		return p, fmt.Errorf("%w: panic policy: threshold %d%% not in [0, 100] or negative grace %v", ErrInvalidOption, p.ThresholdPercent, p.Grace)
	}
	if p.ThresholdPercent == 0 {
		p.ThresholdPercent = DefaultPanicThreshold
	}
	if p.Grace == 0 {
		p.Grace = DefaultPanicGrace
	}
	return p, nil
}

// WithPanicPolicy sets the guard against suspect answers (see
// [PanicPolicy]). The default is the zero PanicPolicy: on, with
// DefaultPanicThreshold and DefaultPanicGrace.
func WithPanicPolicy(p PanicPolicy) ResolverOption {
	return func(r *Resolver) error {
		p, err := p.withDefaults()
		if err != nil {
			return err
		}
		r.panicPolicy = p
		return nil
	}
}

// PanicGuard applies a [PanicPolicy] to the answers of one service's
// watch: the [Resolver] keeps one per service, and package
// discovery/grpcresolver one per gRPC target. It holds no goroutine and
// reads no clock: the caller passes the time, and calls Expire when the
// hold it was given ends. It is not safe for concurrent use.
type PanicGuard struct {
	policy    PanicPolicy
	accepted  []Instance // the last answer taken
	held      []Instance // a suspect answer held back, while heldUntil is set
	heldUntil time.Time
}

// NewPanicGuard returns a guard with policy p (zero fields take their
// defaults); an invalid policy is an error wrapping ErrInvalidOption.
func NewPanicGuard(p PanicPolicy) (*PanicGuard, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("discovery: panic guard: %w", err)
	}
	return &PanicGuard{policy: p}, nil
}

// Admit takes the registry's answer set, received at now, and returns the
// set to serve: set itself, or, when set is suspect, the last accepted set
// together with set's instances (set's version of those in both), sorted
// by ID. heldUntil is then when the hold ends (see Expire), and zero when
// set was taken. A hold keeps the end it got at its first suspect answer.
func (g *PanicGuard) Admit(set []Instance, now time.Time) (serve []Instance, heldUntil time.Time) {
	if !g.suspect(set, now) {
		g.accepted, g.held, g.heldUntil = set, nil, time.Time{}
		return set, time.Time{}
	}
	if g.heldUntil.IsZero() {
		g.heldUntil = now.Add(g.policy.Grace)
	}
	g.held = set
	return union(g.accepted, set), g.heldUntil
}

// suspect reports whether set is empty or below the threshold share of
// the last accepted set, within the grace period of a hold under way.
func (g *PanicGuard) suspect(set []Instance, now time.Time) bool {
	switch {
	case g.policy.Off, len(g.accepted) == 0:
		return false // nothing known to keep
	case !g.heldUntil.IsZero() && !now.Before(g.heldUntil):
		return false // the grace period is over: the answer stands
	}
	return len(set)*100 < g.policy.ThresholdPercent*len(g.accepted)
}

// Expire ends a hold whose grace period is over at now: it takes the held
// answer and returns it with ok true. Otherwise ok is false and nothing
// changes.
func (g *PanicGuard) Expire(now time.Time) (set []Instance, ok bool) {
	if g.heldUntil.IsZero() || now.Before(g.heldUntil) {
		return nil, false
	}
	set = g.held
	g.accepted, g.held, g.heldUntil = set, nil, time.Time{}
	return set, true
}

// HeldUntil returns when the current hold ends, or zero when no answer is
// held back.
func (g *PanicGuard) HeldUntil() time.Time { return g.heldUntil }

// union returns the instances of a and b by ID, b's version of those in
// both, sorted by ID.
func union(a, b []Instance) []Instance {
	out := slices.Clone(b)
	for _, in := range a {
		if !slices.ContainsFunc(b, func(o Instance) bool { return o.ID == in.ID }) {
			out = append(out, in)
		}
	}
	SortInstances(out)
	return out
}
