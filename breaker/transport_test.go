package breaker_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/internal/memhttp"
)

// flakyServer answers with the status in code (200 by default) and
// counts the requests that reach it.
type flakyServer struct {
	code atomic.Int64
	hits atomic.Int64
}

func (s *flakyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	code := int(s.code.Load())
	if code == 0 {
		code = http.StatusOK
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, http.StatusText(code))
}

func get(t *testing.T, c *http.Client, url string) (int, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestTransportFailsAndRecovers steps a Transport through trips and open
// durations in a synctest bubble; the upstream is served in memory, since
// network I/O does not let a bubble's clock move.
func TestTransportFailsAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &flakyServer{}
		b := mustNew(t, consecutive(3), openFor(10*time.Second))
		tr, err := breaker.NewTransport(memhttp.Transport{Handler: srv}, b)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: tr}

		steps := []struct {
			advance  time.Duration
			code     int
			wantCode int
			wantErr  error
			want     breaker.State
		}{
			{code: 200, wantCode: 200, want: breaker.Closed},
			{code: 404, wantCode: 404, want: breaker.Closed}, // 4xx: the server is fine
			{code: 404, wantCode: 404, want: breaker.Closed},
			{code: 404, wantCode: 404, want: breaker.Closed},
			{code: 500, wantCode: 500, want: breaker.Closed},
			{code: 502, wantCode: 502, want: breaker.Closed},
			{code: 500, wantCode: 500, want: breaker.Open},
			{code: 200, wantErr: breaker.ErrOpen, want: breaker.Open}, // never reaches the server
			{advance: 10 * time.Second, code: 500, wantCode: 500, want: breaker.Open},
			{advance: 20 * time.Second, code: 200, wantCode: 200, want: breaker.Closed}, // open twice as long
			{code: 200, wantCode: 200, want: breaker.Closed},
		}
		for i, s := range steps {
			time.Sleep(s.advance)
			srv.code.Store(int64(s.code))
			hits := srv.hits.Load()
			code, err := get(t, c, "http://upstream/")
			if !errors.Is(err, s.wantErr) || (err == nil) != (s.wantErr == nil) || code != s.wantCode {
				t.Fatalf("step %d: %d, %v; want %d, %v", i, code, err, s.wantCode, s.wantErr)
			}
			if reached := srv.hits.Load() > hits; reached != (s.wantErr == nil) {
				t.Fatalf("step %d: request reached the server: %v", i, reached)
			}
			if got := b.State(); got != s.want {
				t.Fatalf("step %d: state %v, want %v", i, got, s.want)
			}
		}
	})
}

func TestTransportTransportErrorsAreFailures(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close() // nothing listens any more: connection refused
	b := mustNew(t, consecutive(2))
	tr, err := breaker.NewTransport(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: tr}
	for range 2 {
		if _, err := get(t, c, url); err == nil || errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("err = %v, want a connection error", err)
		}
	}
	if _, err := get(t, c, url); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("err = %v, want ErrOpen", err)
	}
}

func TestTransportCancelledRequestsDoNotCount(t *testing.T) {
	arrived := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer ts.Close()
	b := mustNew(t, consecutive(1))
	tr, _ := breaker.NewTransport(ts.Client().Transport, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-arrived // the breaker has let the request through
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL, nil)
	if _, err := (&http.Client{Transport: tr}).Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := b.State(); got != breaker.Closed {
		t.Fatalf("state %v after a cancelled request", got)
	}
}

// TestTransportHonoursRetryAfter checks the open duration a 503's
// Retry-After sets, in seconds or as a date; a date is read against the
// response's Date header, or against time.Now when the response has none.
func TestTransportHonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name             string
		retryAfter, date func(now time.Time) string // header values; "" leaves it out
		max              time.Duration
		want             time.Duration
	}{
		{"seconds", fixed("120"), fixed(""), breaker.DefaultMaxRetryAfter, 2 * time.Minute},
		{"capped", fixed("86400"), fixed(""), breaker.DefaultMaxRetryAfter, breaker.DefaultMaxRetryAfter},
		{"date against the Date header", httpDate(time.Hour + 90*time.Second), httpDate(time.Hour), breaker.DefaultMaxRetryAfter, 90 * time.Second},
		{"date against now without a Date header", httpDate(90 * time.Second), fixed(""), breaker.DefaultMaxRetryAfter, 90 * time.Second},
		{"date in the past falls back", httpDate(-time.Second), fixed(""), breaker.DefaultMaxRetryAfter, 10 * time.Second},
		{"ignored when max is zero", fixed("120"), fixed(""), 0, 10 * time.Second},
		{"garbage falls back", fixed("soon"), fixed(""), breaker.DefaultMaxRetryAfter, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					now := time.Now()
					if v := tt.retryAfter(now); v != "" {
						w.Header().Set("Retry-After", v)
					}
					if v := tt.date(now); v != "" {
						w.Header().Set("Date", v)
					}
					w.WriteHeader(http.StatusServiceUnavailable)
				})
				b := mustNew(t, consecutive(1), openFor(10*time.Second))
				tr, err := breaker.NewTransport(memhttp.Transport{Handler: up}, b, breaker.WithMaxRetryAfter(tt.max))
				if err != nil {
					t.Fatal(err)
				}
				c := &http.Client{Transport: tr}
				if code, err := get(t, c, "http://upstream/"); code != 503 || err != nil {
					t.Fatalf("%d, %v", code, err)
				}
				_, err = get(t, c, "http://upstream/")
				var oe *breaker.OpenError
				if !errors.As(err, &oe) {
					t.Fatalf("err = %v, want an OpenError", err)
				}
				if got := time.Until(oe.RetryAt); got != tt.want {
					t.Fatalf("open for %v, want %v", got, tt.want)
				}
			})
		})
	}
}

// fixed returns a header value that does not depend on the time.
func fixed(v string) func(time.Time) string {
	return func(time.Time) string { return v }
}

// httpDate returns a header value d after the time it is given, as an HTTP
// date.
func httpDate(d time.Duration) func(time.Time) string {
	return func(now time.Time) string { return now.Add(d).UTC().Format(http.TimeFormat) }
}

func TestHostTransportKeysByHost(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer bad.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer good.Close()
	s, _ := breaker.NewSet("api", 8, consecutive(1))
	tr, err := breaker.NewHostTransport(nil, s, breaker.WithStatusClassifier(breaker.DefaultStatusClassifier))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: tr}
	_, _ = get(t, c, bad.URL)
	if _, err := get(t, c, bad.URL); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("bad host: err = %v, want ErrOpen", err)
	}
	if code, err := get(t, c, good.URL); code != 200 || err != nil {
		t.Fatalf("good host: %d, %v", code, err)
	}
	if !strings.HasPrefix(s.Get(strings.TrimPrefix(bad.URL, "http://")).Name(), "api/127.0.0.1:") {
		t.Fatal("breaker not keyed by host:port")
	}
}

func TestNewTransportInvalid(t *testing.T) {
	b := mustNew(t)
	for name, err := range map[string]error{
		"nil breaker":  func() error { _, err := breaker.NewTransport(nil, nil); return err }(),
		"nil set":      func() error { _, err := breaker.NewHostTransport(nil, nil); return err }(),
		"negative max": func() error { _, err := breaker.NewTransport(nil, b, breaker.WithMaxRetryAfter(-1)); return err }(),
	} {
		if !errors.Is(err, breaker.ErrInvalidOption) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := breaker.NewTransport(nil, b, breaker.WithStatusClassifier(nil)); err != nil {
		t.Errorf("nil status classifier means the default: %v", err)
	}
}

// A request that runs out of its caller's time says nothing about the
// server: it must not open the breaker.
func TestTransportIgnoresTheCallersDeadline(t *testing.T) {
	ts := httptest.NewServer(&flakyServer{})
	defer ts.Close()
	b := mustNew(t, consecutive(1))
	tr, err := breaker.NewTransport(ts.Client().Transport, b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL, nil)
	if _, err := (&http.Client{Transport: tr}).Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request past its deadline: %v", err)
	}
	if got := b.State(); got != breaker.Closed {
		t.Fatalf("state %v after a request past the caller's deadline, want closed", got)
	}
}
