package discovery

import (
	"context"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

// OutlierPolicy is passive outlier ejection, modelled on Envoy's outlier
// detection and built on package breaker: each instance has a circuit
// breaker that opens after ConsecutiveFailures failures in a row, and an
// open breaker takes its instance out of the balancer's set. After the
// ejection time the instance is back; its first result decides: a success
// closes the breaker (and the next ejection is BaseEjectionTime again), a
// failure ejects it again for twice as long, up to MaxEjectionTime. Never
// more than MaxEjectedPercent of a service's instances are out at once: an
// ejection beyond the cap is refused and the instance's count starts over.
// It catches a sick instance long before the registry's health check does.
// The zero value of each field picks the default its doc names.
type OutlierPolicy struct {
	// ConsecutiveFailures is how many failures in a row eject an instance;
	// zero means 5.
	ConsecutiveFailures int
	// BaseEjectionTime is the first ejection's length; zero means 30s.
	BaseEjectionTime time.Duration
	// MaxEjectionTime caps the doubling ejection time; zero means 5m.
	MaxEjectionTime time.Duration
	// MaxEjectedPercent caps the share of a service's instances ejected at
	// once, rounded down; zero means 10. Whatever the percentage, one
	// instance may be ejected when a service has two or more, and the last
	// instance is never ejected.
	MaxEjectedPercent int
}

type outlierConfig struct {
	OutlierPolicy
	enabled bool
}

func (p OutlierPolicy) withDefaults() (OutlierPolicy, error) {
	if p.ConsecutiveFailures < 0 || p.BaseEjectionTime < 0 || p.MaxEjectionTime < 0 ||
		p.MaxEjectedPercent < 0 || p.MaxEjectedPercent > 100 {
		return p, fmt.Errorf("%w: outlier policy %+v", ErrInvalidOption, p)
	}
	if p.ConsecutiveFailures == 0 {
		p.ConsecutiveFailures = 5
	}
	if p.BaseEjectionTime == 0 {
		p.BaseEjectionTime = 30 * time.Second
	}
	if p.MaxEjectionTime == 0 {
		p.MaxEjectionTime = 5 * time.Minute
	}
	if p.MaxEjectionTime < p.BaseEjectionTime {
		return p, fmt.Errorf("%w: MaxEjectionTime %v below BaseEjectionTime %v", ErrInvalidOption, p.MaxEjectionTime, p.BaseEjectionTime)
	}
	if p.MaxEjectedPercent == 0 {
		p.MaxEjectedPercent = 10
	}
	return p, nil
}

// maxEjected is how many of n instances may be out at once.
func (p OutlierPolicy) maxEjected(n int) int {
	if n < 2 {
		return 0
	}
	return min(max(n*p.MaxEjectedPercent/100, 1), n-1)
}

// newBreaker returns the breaker that tracks ep.
func (r *Resolver) newBreaker(svc *serviceState, ep *Endpoint) *breaker.Breaker {
	p := r.outlier.OutlierPolicy
	opts := []breaker.Option{
		breaker.WithConsecutiveFailures(p.ConsecutiveFailures),
		breaker.WithOpenDuration(p.BaseEjectionTime),
		breaker.WithOpenBackoff(2, p.MaxEjectionTime, 0),
		breaker.WithListener(func(ctx context.Context, t breaker.Transition) {
			if t.To == breaker.Open {
				svc.eject(ctx, ep, t.OpenUntil)
			}
		}),
	}
	b, err := breaker.New(svc.name+"/"+ep.instance.ID, opts...)
	if err != nil {
		// WithOutlierEjection validated the same options.
		panic(fmt.Sprintf("discovery: outlier breaker: %v", err))
	}
	return b
}

// eject takes ep out of the balancer's set until until, if the cap
// allows; otherwise it closes ep's breaker again so that its count starts
// over. It runs as the breaker's listener, in the goroutine whose Done
// opened it.
func (s *serviceState) eject(ctx context.Context, ep *Endpoint, until time.Time) {
	s.mu.Lock()
	if s.endpoints[ep.instance.ID] != ep {
		s.mu.Unlock()
		return // no longer in the set
	}
	now := time.Now()
	ejected := 0
	for _, e := range s.ordered {
		if e != ep && e.isEjected(now) {
			ejected++
		}
	}
	if ejected >= s.r.outlier.maxEjected(len(s.ordered)) {
		s.mu.Unlock()
		s.r.emit(ctx, Event{Kind: EventEjectionSkipped, Service: s.name, Instance: ep.instance.ID})
		ep.br.Reset(ctx)
		return
	}
	ep.ejectedUntil = until
	s.publishLocked(now)
	s.mu.Unlock()
	s.r.emit(ctx, Event{Kind: EventEjected, Service: s.name, Instance: ep.instance.ID})
	s.r.logger.Warn("discovery: ejecting outlier", "service", s.name, "instance", ep.instance.ID,
		"addr", ep.addr, "until", until)
}
