package breaker_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

// A dependency that hangs shows itself as calls whose deadline passes in
// flight. Those must count, or a breaker never opens on a hung dependency
// while callers with deadlines pile up; only a deadline already spent
// before the call started, or a caller's cancellation, says nothing.
func TestDeadlinePassedInFlightCounts(t *testing.T) {
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	for _, tc := range []struct {
		name string
		call func(ctx context.Context, b *breaker.Breaker) error
	}{
		{"Execute", func(ctx context.Context, b *breaker.Breaker) error { return b.Execute(ctx, hang) }},
		{"Do", func(ctx context.Context, b *breaker.Breaker) error {
			_, err := breaker.Do(ctx, b, func(ctx context.Context) (int, error) { return 0, hang(ctx) })
			return err
		}},
		{"Permit.Done", func(ctx context.Context, b *breaker.Breaker) error {
			pm, err := b.Acquire()
			if err != nil {
				return err
			}
			err = hang(ctx)
			pm.Done(ctx, err)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mustNew(t, consecutive(2))
				for i := range 2 {
					ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
					err := tc.call(ctx, b)
					cancel()
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("call %d: err = %v, want the deadline", i, err)
					}
				}
				if got := b.State(); got != breaker.Open {
					t.Fatalf("state %v after two calls that hung past their deadline, want open", got)
				}
			})
		})
	}
}

func TestCancelledInFlightDoesNotCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, consecutive(1))
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(10 * time.Millisecond); cancel() }()
		err := b.Execute(ctx, func(ctx context.Context) error { <-ctx.Done(); return errors.New("connection closed") })
		if err == nil {
			t.Fatal("want the call's error")
		}
		if got := b.State(); got != breaker.Closed {
			t.Fatalf("state %v after a call its caller cancelled, want closed", got)
		}
	})
}

// Through the HTTP transport: a server that hangs until the client's
// deadline passes opens the breaker.
func TestTransportCountsAHungServer(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer ts.Close()
	defer close(release)
	b := mustNew(t, consecutive(2))
	tr, err := breaker.NewTransport(ts.Client().Transport, b)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: tr}
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL, nil)
		_, err := client.Do(req)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("request %d: err = %v, want the deadline", i, err)
		}
	}
	if got := b.State(); got != breaker.Open {
		t.Fatalf("state %v after two requests the server left hanging past their deadline, want open", got)
	}
}
