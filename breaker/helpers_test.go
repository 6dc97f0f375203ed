package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

var (
	errBoom    = errors.New("boom")
	errNotSent = fmt.Errorf("no instance to call: %w", breaker.ErrNotSent)
)

func mustNew(t testing.TB, opts ...breaker.Option) *breaker.Breaker {
	t.Helper()
	b, err := breaker.New("test", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// callKind is what one step of a step table does.
type callKind int

const (
	none          callKind = iota // no call: only check the state
	callOK                        // Execute with a nil error
	callFail                      // Execute with errBoom
	callCancel                    // Execute whose own context is cancelled
	callDeadline                  // Execute past its caller's deadline
	callNotSent                   // Execute that fails with an error matching ErrNotSent
	acquire                       // Acquire and hold the permit
	releaseOK                     // report the oldest held permit as a success
	releaseFail                   // ... as a failure
	releaseIgnore                 // ... as ignored
)

type step struct {
	advance time.Duration // time that passes first
	call    callKind
	takes   time.Duration // how long the call takes (time passes inside it)
	wantErr error         // nil, breaker.ErrOpen or breaker.ErrTooManyProbes
	want    breaker.State // the state after the step
}

// runSteps drives b through steps, checking each. It runs in a synctest
// bubble, made with b, so that its sleeps move a fake clock at once.
func runSteps(t *testing.T, b *breaker.Breaker, steps []step) {
	t.Helper()
	var held []breaker.Permit
	for i, s := range steps {
		time.Sleep(s.advance)
		var err error
		ctx := context.Background()
		switch s.call {
		case callOK, callFail, callCancel, callDeadline, callNotSent:
			ran := false
			switch s.call {
			case callCancel:
				c, cancel := context.WithCancel(ctx)
				cancel()
				ctx = c
			case callDeadline:
				// A deadline already past: the caller's, not the upstream's.
				c, cancel := context.WithDeadline(ctx, time.Unix(0, 0))
				defer cancel()
				ctx = c
			}
			err = b.Execute(ctx, func(ctx context.Context) error {
				ran = true
				time.Sleep(s.takes)
				switch s.call {
				case callFail:
					return errBoom
				case callCancel, callDeadline:
					return ctx.Err()
				case callNotSent:
					return errNotSent
				}
				return nil
			})
			if ran != (s.wantErr == nil) {
				t.Fatalf("step %d: fn ran = %v, want %v", i, ran, s.wantErr == nil)
			}
			if errors.Is(err, errBoom) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, breaker.ErrNotSent) {
				err = nil // fn's own error, not the breaker's
			}
		case acquire:
			var pm breaker.Permit
			pm, err = b.Acquire()
			if err == nil {
				held = append(held, pm)
			}
		case releaseOK, releaseFail, releaseIgnore:
			o := map[callKind]breaker.Outcome{releaseOK: breaker.Success, releaseFail: breaker.Failure, releaseIgnore: breaker.Ignored}[s.call]
			time.Sleep(s.takes)
			held[0].Record(ctx, o, 0)
			held = held[1:]
		}
		if !errors.Is(err, s.wantErr) || (err != nil) != (s.wantErr != nil) {
			t.Fatalf("step %d: err = %v, want %v", i, err, s.wantErr)
		}
		if got := b.State(); got != s.want {
			t.Fatalf("step %d: state = %v, want %v", i, got, s.want)
		}
	}
}
