package outbox

import "context"

// Signal is a Waker for producers in the relay's own process: call Notify
// after committing a transaction that added events, and an idle relay
// publishes them at once instead of at its next poll. It costs no round
// trip; package pgnotify (a Notifier on the producer's side, a Listener as
// the relay's Waker) also wakes relays of other processes, on PostgreSQL.
// Safe for concurrent use; the zero value is not usable, use NewSignal.
type Signal struct {
	ch chan struct{}
}

// NewSignal returns a Signal.
func NewSignal() *Signal { return &Signal{ch: make(chan struct{}, 1)} }

// Notify wakes the relay, or makes its next Wait return at once. It never
// blocks: several notifications before a Wait count as one.
func (s *Signal) Notify() {
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

// Wait blocks until Notify is called or ctx ends.
func (s *Signal) Wait(ctx context.Context) error {
	select {
	case <-s.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
