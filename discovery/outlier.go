package discovery

import (
	"context"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

// OutlierPolicy is passive outlier ejection with Envoy's timing (its
// outlier detection's consecutive-5xx rule), counted by a circuit breaker
// of package breaker per instance: ConsecutiveFailures failures in a row
// take the instance out of the balancer's set for BaseEjectionTime times
// the number of its ejections, capped at MaxEjectionTime. When the
// ejection ends the instance is back with a fresh count: it takes another
// ConsecutiveFailures failures in a row to eject it again. While an
// instance stays in the set, its ejection count drops by one for each
// BaseEjectionTime that passes, so that an instance that has been healthy
// for a while is ejected briefly again. That is where this differs from
// Envoy, which lowers the count by one per sweep of its detector (its
// interval setting, 10s by default): there is no sweep here, and the
// count is lowered when the next ejection needs it. Never more than
// MaxEjectedPercent of a service's instances are out at once: an ejection
// beyond the cap is refused, the instance's count starts over and its
// ejection count is unchanged. It catches a sick instance long before the
// registry's health check does. The zero value of each field picks the
// default its doc names.
type OutlierPolicy struct {
	// ConsecutiveFailures is how many failures in a row eject an instance;
	// zero means 5.
	ConsecutiveFailures int
	// BaseEjectionTime is the first ejection's length, the step by which
	// later ones grow, and the time of health that lowers the ejection
	// count by one; zero means 30s.
	BaseEjectionTime time.Duration
	// MaxEjectionTime caps an ejection's length; zero means 5m.
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

// breakerOptions count the failures in a row that eject an instance. The
// breaker's own open time does not matter: eject closes it again at once,
// and the ejection's length is the resolver's.
func (p OutlierPolicy) breakerOptions() []breaker.Option {
	return []breaker.Option{
		breaker.WithConsecutiveFailures(p.ConsecutiveFailures),
		breaker.WithOpenDuration(p.BaseEjectionTime),
	}
}

// ejectionTime returns the length of the next ejection of an instance
// whose ejection count is ejections and whose last ejection ended at
// lastEnd, and its ejection count after it: the count, lowered by one for
// each BaseEjectionTime since lastEnd, grows by one (while the length is
// below the cap, as Envoy does, so that a capped instance needs no more
// healthy time to come down than the cap takes), and the length is
// BaseEjectionTime times the count, capped at MaxEjectionTime.
func (p OutlierPolicy) ejectionTime(ejections int, lastEnd, now time.Time) (time.Duration, int) {
	if healthy := now.Sub(lastEnd); healthy > 0 && ejections > 0 {
		ejections = max(ejections-int(min(healthy/p.BaseEjectionTime, time.Duration(ejections))), 0)
	}
	if time.Duration(ejections)*p.BaseEjectionTime < p.MaxEjectionTime {
		ejections++
	}
	return min(time.Duration(ejections)*p.BaseEjectionTime, p.MaxEjectionTime), ejections
}

// newBreaker returns the breaker that tracks ep.
func (r *Resolver) newBreaker(svc *serviceState, ep *Endpoint) *breaker.Breaker {
	opts := append(r.outlier.breakerOptions(), breaker.WithListener(func(ctx context.Context, t breaker.Transition) {
		if t.To == breaker.Open {
			svc.eject(ctx, ep)
		}
	}))
	b, err := breaker.New(svc.name+"/"+ep.instance.ID, opts...)
	if err != nil {
		// WithOutlierEjection validated the same options.
		panic(fmt.Sprintf("discovery: outlier breaker: %v", err))
	}
	return b
}

// eject takes ep out of the balancer's set for its next ejection time, if
// the cap allows, and closes ep's breaker again so that its count starts
// over: from the end of the ejection, or now when the cap refused it. It
// runs as the breaker's listener, in the goroutine whose Done opened it.
func (s *serviceState) eject(ctx context.Context, ep *Endpoint) {
	defer ep.br.Reset(ctx)
	s.mu.Lock()
	now := time.Now()
	if s.endpoints[ep.instance.ID] != ep || ep.isEjected(now) {
		// No longer in the set, or already out: late results of
		// requests sent before the ejection decide nothing.
		s.mu.Unlock()
		return
	}
	ejected := 0
	for _, e := range s.ordered {
		if e != ep && e.isEjected(now) {
			ejected++
		}
	}
	if ejected >= s.r.outlier.maxEjected(len(s.ordered)) {
		s.mu.Unlock()
		s.r.emit(ctx, Event{Kind: EventEjectionSkipped, Service: s.name, Instance: ep.instance.ID})
		return
	}
	d, n := s.r.outlier.ejectionTime(ep.ejections, ep.ejectedUntil, now)
	ep.ejections = n
	ep.ejectedUntil = now.Add(d)
	until := ep.ejectedUntil
	s.publishLocked(now)
	s.mu.Unlock()
	s.r.emit(ctx, Event{Kind: EventEjected, Service: s.name, Instance: ep.instance.ID})
	s.r.logger.Warn("discovery: ejecting outlier", "service", s.name, "instance", ep.instance.ID,
		"addr", ep.addr, "until", until, "ejections", n)
}
