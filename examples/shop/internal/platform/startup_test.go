package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
)

var errNotReady = errors.New("no suitable peers for placement")

// WaitFor retries what is not ready yet within its bound, and gives up at
// once on a wrong configuration.
func TestWaitFor(t *testing.T) {
	tests := []struct {
		name      string
		failures  int   // attempts that fail before one succeeds; -1: all
		fail      error // what they fail with
		wait      time.Duration
		wantErr   error
		wantTries int // 0: more than one, the bound decides
	}{
		{name: "ready at once", failures: 0, wantTries: 1},
		{name: "ready after failures", failures: 5, fail: errNotReady, wantTries: 6},
		{name: "never ready", failures: -1, fail: errNotReady, wait: 5 * time.Second, wantErr: errNotReady},
		{name: "invalid configuration", failures: -1, fail: fmt.Errorf("natsbus: %w", eventbus.ErrInvalidOption),
			wantErr: eventbus.ErrInvalidOption, wantTries: 1},
		{name: "marked permanent", failures: -1, fail: retry.Permanent(errNotReady), wantErr: errNotReady, wantTries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := &Deps{Logger: slog.New(slog.DiscardHandler), StartupWait: tt.wait}
				tries := 0
				start := time.Now()
				err := d.WaitFor(t.Context(), "the stream", func(ctx context.Context) error {
					tries++
					if _, ok := ctx.Deadline(); !ok {
						t.Error("an attempt without a deadline")
					}
					if tt.failures < 0 || tries <= tt.failures {
						return tt.fail
					}
					return nil
				})
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
					t.Fatalf("WaitFor = %v, want %v", err, tt.wantErr)
				}
				if tt.wantTries > 0 && tries != tt.wantTries {
					t.Errorf("%d attempts, want %d", tries, tt.wantTries)
				}
				if tt.wantTries == 0 && (tries < 2 || time.Since(start) != tt.wait) {
					t.Errorf("%d attempts over %v, want several over the bound %v", tries, time.Since(start), tt.wait)
				}
			})
		})
	}
}

// A service stopped while it waits stops waiting.
func TestWaitForCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &Deps{Logger: slog.New(slog.DiscardHandler)}
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		err := d.WaitFor(ctx, "the stream", func(context.Context) error { return errNotReady })
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errNotReady) {
			t.Fatalf("WaitFor = %v, want the context's error and the last attempt's", err)
		}
	})
}

// flakyRegistry refuses the first registrations, as an agent still
// starting does.
type flakyRegistry struct {
	*discovery.Memory
	refuse int // registrations still to refuse
}

func (r *flakyRegistry) Register(ctx context.Context, in discovery.Instance) error {
	if r.refuse > 0 {
		r.refuse--
		return errors.New("connection refused")
	}
	return r.Memory.Register(ctx, in)
}

// A service whose registry refuses its first registrations waits and
// registers instead of exiting.
func TestAnnounceWaitsForTheRegistry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, err := discovery.NewMemory()
		if err != nil {
			t.Fatal(err)
		}
		defer mem.Close(context.Background())
		reg := &flakyRegistry{Memory: mem, refuse: 3}
		d := &Deps{Logger: slog.New(slog.DiscardHandler), Registry: reg, Host: "127.0.0.1"}
		a, err := d.Announce(t.Context(), PaymentService, 8080, nil, "", nil)
		if err != nil {
			t.Fatalf("Announce = %v, want a registration once the registry answers", err)
		}
		defer a.Close(context.Background())
		ins, err := mem.Instances(t.Context(), PaymentService)
		if err != nil || len(ins) != 1 || reg.refuse != 0 {
			t.Fatalf("instances %v (%v) after %d refusals left, want the one announced", ins, err, reg.refuse)
		}
	})
}
