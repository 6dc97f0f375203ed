package breaker_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

func TestDo(t *testing.T) {
	ctx := context.Background()
	b := mustNew(t, consecutive(1))
	v, err := breaker.Do(ctx, b, func(context.Context) (int, error) { return 42, nil })
	if v != 42 || err != nil {
		t.Fatalf("Do = %v, %v", v, err)
	}
	_, err = breaker.Do(ctx, b, func(context.Context) (int, error) { return 0, errBoom })
	if err != errBoom {
		t.Fatalf("err = %v", err)
	}
	ran := false
	v, err = breaker.Do(ctx, b, func(context.Context) (int, error) { ran = true; return 1, nil })
	if ran || v != 0 || !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("open: ran=%v v=%v err=%v", ran, v, err)
	}
}

func TestFallbacks(t *testing.T) {
	ctx := context.Background()
	b := mustNew(t, consecutive(1))
	var seen []error
	fallback := func(_ context.Context, err error) (string, error) {
		seen = append(seen, err)
		return "cached", nil
	}
	for range 2 {
		v, err := breaker.DoWithFallback(ctx, b, func(context.Context) (string, error) { return "", errBoom }, fallback)
		if v != "cached" || err != nil {
			t.Fatalf("DoWithFallback = %q, %v", v, err)
		}
	}
	if len(seen) != 2 || seen[0] != errBoom || !errors.Is(seen[1], breaker.ErrOpen) {
		t.Fatalf("fallback saw %v", seen)
	}
	v, _ := breaker.DoWithFallback(mustCtx(), mustNew(t), func(context.Context) (string, error) { return "fresh", nil }, fallback)
	if v != "fresh" {
		t.Fatalf("fallback ran on success: %q", v)
	}
	errFallback := errors.New("fallback")
	err := b.ExecuteWithFallback(ctx, func(context.Context) error { return nil }, func(_ context.Context, err error) error {
		if !errors.Is(err, breaker.ErrOpen) {
			t.Errorf("fallback got %v", err)
		}
		return errFallback
	})
	if err != errFallback {
		t.Fatalf("ExecuteWithFallback = %v", err)
	}
	if err := mustNew(t).ExecuteWithFallback(ctx, func(context.Context) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
}

func mustCtx() context.Context { return context.Background() }

func TestFallbackSkippedWhenTheCallerCancelled(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	b := mustNew(t, consecutive(1))
	fallback := func(context.Context, error) (string, error) { return "cached", nil }
	v, err := breaker.DoWithFallback(cancelled, b, func(ctx context.Context) (string, error) { return "", ctx.Err() }, fallback)
	if v != "" || !errors.Is(err, context.Canceled) {
		t.Fatalf("DoWithFallback after the caller cancelled = %q, %v; want its own error, no fallback", v, err)
	}
	err = b.ExecuteWithFallback(cancelled, func(ctx context.Context) error { return ctx.Err() }, func(context.Context, error) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ExecuteWithFallback after the caller cancelled = %v, want context.Canceled", err)
	}
	if got := b.State(); got != closed {
		t.Fatalf("state %v: a cancelled call counted", got)
	}
	// A deadline is not the caller walking away: the fallback serves it.
	v, err = breaker.DoWithFallback(expired, b, func(ctx context.Context) (string, error) { return "", ctx.Err() }, fallback)
	if v != "cached" || err != nil {
		t.Fatalf("DoWithFallback past the deadline = %q, %v; want the fallback", v, err)
	}
}

func TestAllow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, consecutive(2), openFor(time.Second))
		for range 2 {
			done, err := b.Allow()
			if err != nil {
				t.Fatal(err)
			}
			done(errBoom)
		}
		if _, err := b.Allow(); !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("err = %v, want ErrOpen", err)
		}
		time.Sleep(time.Second)
		done, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		done(context.Canceled) // gives the probe slot back
		done, err = b.Allow()
		if err != nil {
			t.Fatalf("slot not given back: %v", err)
		}
		done(nil)
		if got := b.State(); got != breaker.Closed {
			t.Fatalf("state = %v, want closed", got)
		}
	})
}

func TestRecordingRejectedCountsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, consecutive(1), openFor(time.Second))
		_ = b.Execute(context.Background(), func(context.Context) error { return errBoom })
		time.Sleep(time.Second)
		pm, err := b.Acquire()
		if err != nil {
			t.Fatal(err)
		}
		pm.Record(context.Background(), breaker.Rejected, 0) // not an outcome: gives the slot back
		if c := b.Counts(); b.State() != breaker.HalfOpen || c.Probes != 0 || c.ProbeSuccesses != 0 {
			t.Fatalf("state %v, counts %+v", b.State(), c)
		}
	})
}

func TestZeroPermitReportsNothing(t *testing.T) {
	var pm breaker.Permit
	pm.Done(context.Background(), errBoom)
	pm.Record(context.Background(), breaker.Failure, time.Second)
}

func TestStringers(t *testing.T) {
	for s, want := range map[breaker.State]string{breaker.Closed: "closed", breaker.Open: "open", breaker.HalfOpen: "half-open", breaker.ForcedOpen: "forced-open", breaker.Disabled: "disabled", 9: "state(9)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
	for o, want := range map[breaker.Outcome]string{breaker.Success: "success", breaker.Failure: "failure", breaker.Ignored: "ignored", breaker.Rejected: "rejected", 9: "outcome(9)"} {
		if o.String() != want {
			t.Errorf("%d.String() = %q, want %q", o, o.String(), want)
		}
	}
}
