package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultRecheckInterval is how often [Announce] checks, on a registry
// with no TTL check to heartbeat, that the instance is still registered.
const DefaultRecheckInterval = 5 * time.Second

// Announcement is a registration made by [Announce]: the instance stays
// registered (heartbeated or rechecked, and registered again when the
// registry lost it, by a goroutine the Announcement owns) until Close.
// It is safe for concurrent use.
type Announcement struct {
	reg      Registrar
	instance Instance
	health   *Health
	logger   *slog.Logger
	interval time.Duration // heartbeats, when hb is set
	recheck  time.Duration // registration checks, when it is not
	hb       Heartbeater

	cancel context.CancelFunc // stops the heartbeat goroutine
	done   chan struct{}      // closed when the heartbeat goroutine has returned

	closeOnce sync.Once
	closed    chan struct{} // closed when the first Close has finished
	closeErr  error         // the first Close's result, set before closed
}

// AnnounceOption configures Announce.
type AnnounceOption func(*Announcement) error

// WithHeartbeatInterval sets how often to heartbeat a registry that is a
// [Heartbeater]. Zero, the default, means the registry's HeartbeatInterval;
// a negative interval is invalid.
func WithHeartbeatInterval(d time.Duration) AnnounceOption {
	return func(a *Announcement) error {
		if d < 0 {
			return fmt.Errorf("%w: negative heartbeat interval %v", ErrInvalidOption, d)
		}
		a.interval = d
		return nil
	}
}

// WithRecheckInterval sets how often Announce checks that the instance is
// still registered, and registers it again if not, on a registry with no
// TTL check to heartbeat (an HTTP or gRPC check, or none). Zero means
// DefaultRecheckInterval; a negative interval is invalid. With a TTL check
// the heartbeat does this job, every heartbeat interval.
func WithRecheckInterval(d time.Duration) AnnounceOption {
	return func(a *Announcement) error {
		if d < 0 {
			return fmt.Errorf("%w: negative recheck interval %v", ErrInvalidOption, d)
		}
		a.recheck = d
		return nil
	}
}

// WithHealth makes Close fail h's readiness (so the HTTP check and load
// balancers stop sending traffic) before it deregisters.
func WithHealth(h *Health) AnnounceOption {
	return func(a *Announcement) error {
		a.health = h
		return nil
	}
}

// WithAnnounceLogger sets the logger of heartbeat failures. The default
// (and what nil means) is slog.Default().
func WithAnnounceLogger(l *slog.Logger) AnnounceOption {
	return func(a *Announcement) error {
		if l == nil {
			l = slog.Default()
		}
		a.logger = l
		return nil
	}
}

// Announce registers instance in reg and keeps it registered from a
// goroutine, on every kind of registry: if reg is a [Heartbeater] with a
// TTL check it heartbeats every heartbeat interval; otherwise it checks
// every recheck interval (see WithRecheckInterval) that reg still holds
// the instance, asking a [RegistrationChecker], or registering again
// (which is idempotent) on a registry that cannot tell. Whenever the
// registry has forgotten the instance (an agent restarted empty, a
// registration reaped) it registers it again: within one interval of the
// registry being back, plus a round trip. Call Close on the Announcement
// when the service stops, to deregister before the process exits.
func Announce(ctx context.Context, reg Registrar, instance Instance, opts ...AnnounceOption) (*Announcement, error) {
	if reg == nil {
		return nil, fmt.Errorf("discovery: announce: %w: nil registry", ErrInvalidOption)
	}
	a := &Announcement{reg: reg, instance: instance.Clone(), logger: slog.Default(), closed: make(chan struct{})}
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		if err := opt(a); err != nil {
			return nil, fmt.Errorf("discovery: announce: %w", err)
		}
	}
	if a.recheck == 0 {
		a.recheck = DefaultRecheckInterval
	}
	if err := reg.Register(ctx, a.instance); err != nil {
		return nil, fmt.Errorf("discovery: announce %s: %w", instance.ID, err)
	}
	every := a.recheck
	if hb, ok := reg.(Heartbeater); ok {
		if a.interval == 0 {
			a.interval = hb.HeartbeatInterval()
		}
		if a.interval > 0 {
			a.hb, every = hb, a.interval
			// A TTL check starts critical; report in at once so that the
			// instance takes traffic without waiting an interval.
			if err := a.beat(ctx, hb); err != nil {
				_ = reg.Deregister(ctx, a.instance.ID)
				return nil, fmt.Errorf("discovery: announce %s: %w", instance.ID, err)
			}
		}
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.done = make(chan struct{})
	go a.keepLoop(loopCtx, every)
	return a, nil
}

// Instance returns the announced instance.
func (a *Announcement) Instance() Instance { return a.instance.Clone() }

func (a *Announcement) keepLoop(loopCtx context.Context, every time.Duration) {
	defer close(a.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-loopCtx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(loopCtx, every)
		if err := a.keep(ctx); err != nil && loopCtx.Err() == nil {
			a.logger.Warn("discovery: keeping the registration failed; trying again next interval",
				"instance", a.instance.ID, "err", err)
		}
		cancel()
	}
}

// keep makes sure, once, that the registry still holds the instance.
func (a *Announcement) keep(ctx context.Context) error {
	if a.hb != nil {
		return a.beat(ctx, a.hb)
	}
	if rc, ok := a.reg.(RegistrationChecker); ok {
		known, err := rc.Registered(ctx, a.instance.ID)
		if err != nil || known {
			return err
		}
		a.logger.Info("discovery: registry forgot the instance; registering again", "instance", a.instance.ID)
	}
	return a.reg.Register(ctx, a.instance)
}

// beat heartbeats once, registering again if the registry forgot us.
func (a *Announcement) beat(ctx context.Context, hb Heartbeater) error {
	err := hb.Heartbeat(ctx, a.instance.ID)
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	a.logger.Info("discovery: registry forgot the instance; registering again", "instance", a.instance.ID)
	if err := a.reg.Register(ctx, a.instance); err != nil {
		return err
	}
	return hb.Heartbeat(ctx, a.instance.ID)
}

// Close fails readiness (see WithHealth), stops the heartbeats, waits for
// their goroutine and deregisters the instance, all within ctx: when ctx
// ends first it returns an error wrapping ctx's. It is idempotent and safe
// to call concurrently: later calls wait for the first (within their own
// ctx) and return its result.
func (a *Announcement) Close(ctx context.Context) error {
	first := false
	a.closeOnce.Do(func() { first = true })
	if !first {
		if err := awaitClosed(ctx, a.closed, "announcement "+a.instance.ID); err != nil {
			return err
		}
		return a.closeErr
	}
	defer close(a.closed)
	if a.health != nil {
		a.health.Drain()
	}
	a.cancel()
	if err := awaitClosed(ctx, a.done, "announcement "+a.instance.ID); err != nil {
		a.closeErr = err
		return err
	}
	if err := a.reg.Deregister(ctx, a.instance.ID); err != nil {
		a.closeErr = fmt.Errorf("discovery: close announcement %s: deregister: %w", a.instance.ID, err)
	}
	return a.closeErr
}
