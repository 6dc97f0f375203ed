package discovery

import (
	"fmt"
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
