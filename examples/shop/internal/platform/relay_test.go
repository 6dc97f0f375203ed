package platform

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus/outbox"
)

// kicked reports whether the relay's signal was notified, without waiting
// for a notification to come.
func kicked(t *testing.T, r *Relay) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	return r.signal.Wait(ctx) == nil
}

// kickedAfter checks that the relay is kicked in d from now, not before.
func kickedAfter(t *testing.T, r *Relay, d time.Duration) {
	t.Helper()
	time.Sleep(d - time.Millisecond)
	if kicked(t, r) {
		t.Fatalf("kicked before %v", d)
	}
	time.Sleep(time.Millisecond)
	synctest.Wait()
	if !kicked(t, r) {
		t.Fatalf("no kick in %v", d)
	}
}

// newKickRelay returns a Relay with no relay behind it: KickAt is tested
// through the signal it notifies.
func newKickRelay() *Relay {
	done := make(chan struct{})
	close(done)
	return &Relay{signal: outbox.NewSignal(), cancel: func() {}, done: done}
}

func TestRelayKickAt(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, r *Relay)
	}{
		{"a time passed kicks at once", func(t *testing.T, r *Relay) {
			r.KickAt(time.Now().Add(-time.Millisecond))
			if !kicked(t, r) {
				t.Fatal("no kick for a time passed")
			}
		}},
		{"a later time kicks then, not before", func(t *testing.T, r *Relay) {
			r.KickAt(time.Now().Add(100 * time.Millisecond))
			kickedAfter(t, r, 100*time.Millisecond)
		}},
		{"the earliest time asked wins", func(t *testing.T, r *Relay) {
			start := time.Now()
			r.KickAt(start.Add(100 * time.Millisecond))
			r.KickAt(start.Add(30 * time.Millisecond))  // earlier: the timer moves
			r.KickAt(start.Add(200 * time.Millisecond)) // later: the round at 30ms reads it
			kickedAfter(t, r, 30*time.Millisecond)
			time.Sleep(time.Second)
			if kicked(t, r) {
				t.Fatal("a second kick: later times need no timer of their own")
			}
		}},
		{"a time asked after the timer fired sets it again", func(t *testing.T, r *Relay) {
			r.KickAt(time.Now().Add(10 * time.Millisecond))
			kickedAfter(t, r, 10*time.Millisecond)
			r.KickAt(time.Now().Add(50 * time.Millisecond))
			kickedAfter(t, r, 50*time.Millisecond)
		}},
		{"Close stops the timer", func(t *testing.T, r *Relay) {
			r.KickAt(time.Now().Add(10 * time.Millisecond))
			if err := r.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			r.KickAt(time.Now().Add(20 * time.Millisecond))
			time.Sleep(time.Second)
			if kicked(t, r) {
				t.Fatal("kicked after Close")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { tc.run(t, newKickRelay()) })
		})
	}
}
