package breaker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

// openError trips b (consecutive(1)) with one failure and returns the
// error the next call gets.
func openError(t *testing.T, b *breaker.Breaker) *breaker.OpenError {
	t.Helper()
	_ = b.Execute(context.Background(), func(context.Context) error { return errBoom })
	err := b.Execute(context.Background(), func(context.Context) error { return nil })
	var oe *breaker.OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %v, want an *OpenError", err)
	}
	return oe
}

func TestOpenBackoff(t *testing.T) {
	tests := []struct {
		name   string
		jitter float64
		random float64
		want   []time.Duration // successive open durations
	}{
		{"doubles up to the cap", 0, 0, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
		{"jitter shortens each by its share", 0.5, 0.5, []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 3750 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mustNew(t, consecutive(1), openFor(time.Second),
					breaker.WithOpenBackoff(2, 5*time.Second, tt.jitter),
					breaker.WithJitterSource(func() float64 { return tt.random }))
				oe := openError(t, b)
				for i, want := range tt.want {
					if got := time.Until(oe.RetryAt); got != want {
						t.Fatalf("open %d: open for %v, want %v", i, got, want)
					}
					time.Sleep(want)
					oe = openError(t, b) // the probe fails: open again, longer
				}
				// A healthy close resets the backoff.
				time.Sleep(time.Until(oe.RetryAt))
				if err := b.Execute(context.Background(), func(context.Context) error { return nil }); err != nil {
					t.Fatal(err)
				}
				if got := time.Until(openError(t, b).RetryAt); got != tt.want[0] {
					t.Fatalf("after a close: open for %v, want %v", got, tt.want[0])
				}
			})
		})
	}
}

func TestRetryAfterHintSetsOpenDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, consecutive(1), openFor(time.Second))
		pm, err := b.Acquire()
		if err != nil {
			t.Fatal(err)
		}
		pm.Record(context.Background(), breaker.Failure, 42*time.Second)
		_, err = b.Acquire()
		var oe *breaker.OpenError
		if !errors.As(err, &oe) || time.Until(oe.RetryAt) != 42*time.Second {
			t.Fatalf("err = %v, want open for 42s", err)
		}
		if got := oe.RetryAfter(time.Now()); got != 42*time.Second {
			t.Fatalf("RetryAfter = %v", got)
		}
	})
}

func TestOperator(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := mustNew(t, consecutive(1))
		b.ForceOpen(ctx)
		time.Sleep(time.Hour)
		err := b.Execute(ctx, func(context.Context) error { return nil })
		var oe *breaker.OpenError
		if !errors.As(err, &oe) || !errors.Is(err, breaker.ErrOpen) || oe.State != breaker.ForcedOpen || !oe.RetryAt.IsZero() {
			t.Fatalf("forced open: err = %#v", err)
		}
		b.Disable(ctx)
		for range 3 {
			if err := b.Execute(ctx, func(context.Context) error { return errBoom }); err != errBoom {
				t.Fatalf("disabled: err = %v", err)
			}
		}
		if got := b.State(); got != breaker.Disabled {
			t.Fatalf("state = %v, want disabled", got)
		}
		b.Reset(ctx)
		if got := b.State(); got != breaker.Closed {
			t.Fatalf("state = %v, want closed", got)
		}
		_ = b.Execute(ctx, func(context.Context) error { return errBoom })
		if got := b.State(); got != breaker.Open {
			t.Fatalf("state = %v, want open", got)
		}
	})
}

type ctxKey struct{}

func TestListenersRunInOrderOutsideTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []string
		var b *breaker.Breaker
		record := func(tag string) breaker.Listener {
			return func(ctx context.Context, tr breaker.Transition) {
				// Calling back into the breaker must not deadlock.
				_ = b.State()
				_ = b.Counts()
				got = append(got, tag+":"+tr.From.String()+">"+tr.To.String()+":"+string(tr.Reason)+":"+ctxValue(ctx))
			}
		}
		b = mustNew(t, consecutive(1), openFor(time.Second),
			breaker.WithListener(record("a")), breaker.WithListener(record("b")))
		ctx := context.WithValue(context.Background(), ctxKey{}, "call-1")
		_ = b.Execute(ctx, func(context.Context) error { return errBoom })
		time.Sleep(time.Second)
		_ = b.State()
		_ = b.Execute(context.WithValue(context.Background(), ctxKey{}, "call-2"), func(context.Context) error { return nil })
		want := []string{
			"a:closed>open:consecutive-failures:call-1", "b:closed>open:consecutive-failures:call-1",
			"a:open>half-open:open-duration-elapsed:", "b:open>half-open:open-duration-elapsed:",
			"a:half-open>closed:probes-succeeded:call-2", "b:half-open>closed:probes-succeeded:call-2",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("listener calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

func ctxValue(ctx context.Context) string {
	s, _ := ctx.Value(ctxKey{}).(string)
	return s
}

func TestTransitionCarriesTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tr breaker.Transition
		b := mustNew(t, consecutive(1), openFor(3*time.Second),
			breaker.WithListener(func(_ context.Context, t breaker.Transition) { tr = t }))
		b2 := b.Name()
		_ = b.Execute(context.Background(), func(context.Context) error { return errBoom })
		if tr.Name != b2 || !tr.At.Equal(time.Now()) || !tr.OpenUntil.Equal(time.Now().Add(3*time.Second)) {
			t.Fatalf("transition = %+v", tr)
		}
	})
}

func TestOpenError(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		err     *breaker.OpenError
		is, not error
		text    string
	}{
		{&breaker.OpenError{Name: "db", State: breaker.Open, RetryAt: at}, breaker.ErrOpen, breaker.ErrTooManyProbes, `breaker: "db" is open`},
		{&breaker.OpenError{Name: "db", State: breaker.ForcedOpen}, breaker.ErrOpen, breaker.ErrTooManyProbes, `breaker: "db" is forced-open`},
		{&breaker.OpenError{Name: "db", State: breaker.HalfOpen}, breaker.ErrTooManyProbes, breaker.ErrOpen, `breaker: "db" is half-open: too many probes`},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.is) || errors.Is(tt.err, tt.not) {
			t.Errorf("%v: Is(%v) = false or Is(%v) = true", tt.err, tt.is, tt.not)
		}
		if tt.err.Error() != tt.text {
			t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.text)
		}
	}
	if d := (&breaker.OpenError{RetryAt: at}).RetryAfter(at.Add(time.Second)); d != 0 {
		t.Errorf("RetryAfter past = %v", d)
	}
}

func TestPanicCountsAsFailureAndFreesTheProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, consecutive(1), openFor(time.Second))
		mustPanic := func() {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			_ = b.Execute(context.Background(), func(context.Context) error { panic("boom") })
		}
		mustPanic()
		if got := b.State(); got != breaker.Open {
			t.Fatalf("after a panic: %v, want open", got)
		}
		time.Sleep(time.Second)
		mustPanic() // a panicking probe fails; it does not keep its slot
		if got := b.State(); got != breaker.Open {
			t.Fatalf("after a panicking probe: %v, want open", got)
		}
	})
}

func TestInvalidOptions(t *testing.T) {
	tests := map[string]breaker.Option{
		"negative consecutive":       consecutive(-1),
		"zero failure rate":          breaker.WithFailureRate(0),
		"failure rate above one":     breaker.WithFailureRate(1.5),
		"zero slow threshold":        breaker.WithSlowCalls(0, 0.5),
		"zero slow rate":             breaker.WithSlowCalls(time.Second, 0),
		"empty count window":         breaker.WithCountWindow(0, 0),
		"min calls above size":       breaker.WithCountWindow(10, 11),
		"zero buckets":               breaker.WithTimeWindow(time.Second, 0, 1),
		"time window too short":      breaker.WithTimeWindow(5, 10, 1),
		"zero time min calls":        breaker.WithTimeWindow(time.Second, 10, 0),
		"zero open duration":         openFor(0),
		"multiplier below one":       breaker.WithOpenBackoff(0.5, time.Minute, 0),
		"zero backoff max":           breaker.WithOpenBackoff(2, 0, 0),
		"jitter of one":              breaker.WithOpenBackoff(2, time.Minute, 1),
		"no probes":                  breaker.WithHalfOpen(0, 0),
		"more successes than probes": breaker.WithHalfOpen(1, 2),
		"zero half-open max time":    breaker.WithHalfOpenMaxTime(0),
	}
	for name, opt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := breaker.New("x", opt); !errors.Is(err, breaker.ErrInvalidOption) {
				t.Fatalf("err = %v, want ErrInvalidOption", err)
			}
		})
	}
	if _, err := breaker.New("x", openFor(time.Minute), breaker.WithOpenBackoff(2, time.Second, 0)); !errors.Is(err, breaker.ErrInvalidOption) {
		t.Fatalf("backoff max below open duration: err = %v", err)
	}
}

// A nil argument to an option means the option's default: the breaker
// classifies, jitters and trips as one built without it.
func TestNilOptionArgumentsMeanTheDefault(t *testing.T) {
	b, err := breaker.New("x", breaker.WithConsecutiveFailures(2), breaker.WithClassifier(nil),
		breaker.WithJitterSource(nil), breaker.WithListener(nil), breaker.WithObserver(nil))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	for range 2 {
		_ = b.Execute(context.Background(), func(context.Context) error { return boom })
	}
	if err := b.Execute(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("after 2 failures counted by the default classifier: %v, want ErrOpen", err)
	}
}

func TestClassifier(t *testing.T) {
	errBadInput := errors.New("bad input")
	cl := breaker.IgnoreErrors(errBadInput)
	tests := []struct {
		err  error
		want breaker.Outcome
	}{
		{errBoom, breaker.Failure},
		{context.DeadlineExceeded, breaker.Failure},
		{context.Canceled, breaker.Ignored},
		{errBadInput, breaker.Ignored},
	}
	for _, tt := range tests {
		if got := cl(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	// A caller's own cancellation never counts, whatever the classifier.
	b := mustNew(t, consecutive(1), breaker.WithClassifier(func(error) breaker.Outcome { return breaker.Failure }))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = b.Execute(ctx, func(context.Context) error { return errors.New("gave up") })
	if got := b.State(); got != breaker.Closed {
		t.Fatalf("state = %v after the caller cancelled", got)
	}
}

func TestCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := mustNew(t, consecutive(10), breaker.WithFailureRate(1), breaker.WithSlowCalls(time.Second, 1), breaker.WithCountWindow(4, 4))
		for _, fail := range []bool{true, false, true, true, true, false} {
			_ = b.Execute(ctx, func(context.Context) error {
				if fail {
					time.Sleep(time.Second)
					return errBoom
				}
				return nil
			})
		}
		// The window holds the last four: F F F S.
		want := breaker.Counts{Calls: 4, Failures: 3, Slow: 3}
		if got := b.Counts(); got != want {
			t.Fatalf("counts = %+v, want %+v", got, want)
		}
	})
}

// TestProbeAfterOpenDuration is the test docs/breaker.md shows for code
// that uses a breaker: in a synctest bubble, time.Sleep moves the clock the
// breaker reads.
func TestProbeAfterOpenDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := breaker.New("db", breaker.WithConsecutiveFailures(1),
			breaker.WithOpenDuration(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Execute(t.Context(), func(context.Context) error { return errors.New("down") })
		if got := b.State(); got != breaker.Open {
			t.Fatalf("state %v, want open", got)
		}
		time.Sleep(10*time.Second - 1)
		if got := b.State(); got != breaker.Open {
			t.Fatalf("state %v a nanosecond early, want open", got)
		}
		time.Sleep(time.Nanosecond)
		if got := b.State(); got != breaker.HalfOpen {
			t.Fatalf("state %v, want half-open", got)
		}
	})
}
