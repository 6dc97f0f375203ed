package discoverytarget_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/discoverytarget"
	"github.com/go-microkit/microkit/retry"
)

func instance(t *testing.T, id, rawURL string) discovery.Instance {
	t.Helper()
	host, port, err := net.SplitHostPort(strings.TrimPrefix(rawURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return discovery.Instance{ID: id, Service: "orders", Address: host, Port: p}
}

// TestDiscoveredService: requests spread over the live instances; a dead
// instance is ejected after its failures, and retries of idempotent
// requests go to another instance meanwhile; a service without instances
// answers 503.
func TestDiscoveredService(t *testing.T) {
	var hits [2]atomic.Int64
	var ups []*httptest.Server
	for i := range 2 {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			_, _ = io.WriteString(w, "instance "+strconv.Itoa(i))
		}))
		t.Cleanup(s.Close)
		ups = append(ups, s)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	reg, err := discovery.NewStatic([]discovery.Instance{
		instance(t, "a", ups[0].URL), instance(t, "b", ups[1].URL), instance(t, "c", deadURL),
		{ID: "x", Service: "unused", Address: "127.0.0.1", Port: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := discovery.NewResolver(reg, discovery.WithBalancer(discovery.RoundRobin),
		discovery.WithOutlierEjection(discovery.OutlierPolicy{ConsecutiveFailures: 2, MaxEjectedPercent: 50}),
		discovery.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Close(context.Background()) })
	orders, err := discoverytarget.New(res, "orders")
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := discoverytarget.New(res, "payments")
	g, err := gateway.New([]gateway.Route{
		{Path: "/orders/**", Target: orders, Retry: retry.Policy{MaxAttempts: 3, Backoff: retry.Backoff{Initial: time.Millisecond}}},
		{Path: "/payments/**", Target: empty},
	}, gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	for i := range 30 {
		resp, err := http.Get(srv.URL + "/orders/" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d; a retry should have found a live instance", i, resp.StatusCode)
		}
	}
	if hits[0].Load() == 0 || hits[1].Load() == 0 || hits[0].Load()+hits[1].Load() != 30 {
		t.Fatalf("hits %d and %d, want 30 spread over both", hits[0].Load(), hits[1].Load())
	}
	resp, err := http.Get(srv.URL + "/payments/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("service without instances: %d", resp.StatusCode)
	}
	if _, err := discoverytarget.New(nil, "x"); err == nil {
		t.Fatal("nil resolver accepted")
	}
	if _, err := discoverytarget.New(res, "x", discoverytarget.WithScheme("ftp")); err == nil {
		t.Fatal("ftp accepted")
	}
}
