package discovery_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/go-microkit/microkit/discovery"
)

// TestTransportCountsTheBodyInFlight checks that a request stays in flight
// for least-request balancing until its response body is read or closed,
// not only until the headers arrive: an instance that streams slowly must
// look busy.
func TestTransportCountsTheBodyInFlight(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-release // the body comes later
		_, _ = io.WriteString(w, "body")
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	r := newResolver(t, memoryWith(t, nil, instanceOf(t, "stream", "s", srv)))
	client := &http.Client{Transport: must[*discovery.Transport](t)(discovery.NewTransport(r))}
	inFlight := func() int64 {
		ep := must[*discovery.Endpoint](t)(r.Pick(context.Background(), "stream"))
		defer ep.Done(nil)
		return ep.InFlight() - 1 // not counting this pick
	}

	resp, err := client.Get("http://stream/")
	if err != nil {
		t.Fatal(err)
	}
	if n := inFlight(); n != 1 {
		t.Fatalf("in flight with the body unread = %d, want 1", n)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if n := inFlight(); n != 0 {
		t.Fatalf("in flight after Close = %d, want 0", n)
	}
	if err := resp.Body.Close(); err != nil { // a second Close finishes nothing twice
		t.Fatal(err)
	}
	if n := inFlight(); n != 0 {
		t.Fatalf("in flight after a second Close = %d, want 0", n)
	}
}

// TestTransportCountsABrokenBodyAsAFailure checks that an instance that
// cuts its response short fails towards outlier ejection.
func TestTransportCountsABrokenBodyAsAFailure(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "short")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}))
	t.Cleanup(broken.Close)
	healthy := newServer(t, "healthy")
	reg := memoryWith(t, nil, instanceOf(t, "svc", "broken", broken), instanceOf(t, "svc", "healthy", healthy.Server))
	r := newResolver(t, reg, discovery.WithBalancer(discovery.RoundRobin),
		discovery.WithOutlierEjection(discovery.OutlierPolicy{ConsecutiveFailures: 1, MaxEjectedPercent: 50}))
	client := &http.Client{Transport: must[*discovery.Transport](t)(discovery.NewTransport(r))}
	for range 2 { // round robin: one of the two reaches the broken instance
		resp, err := client.Get("http://svc/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	if ejected := r.Status("svc").Ejected; !slices.Equal(ejected, []string{"broken"}) {
		t.Fatalf("ejected = %v, want [broken]", ejected)
	}
}
