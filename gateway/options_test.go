package gateway_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/gateway"
)

// TestNilOptionArgumentsMeanTheDefault: WithLogger(nil) logs to
// slog.Default, WithTransport(nil) proxies with the default transport,
// and WithMiddleware skips nil entries.
func TestNilOptionArgumentsMeanTheDefault(t *testing.T) {
	var logged bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	up := echoUpstream(t, "up")
	runs := 0
	counted := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			runs++
			next.ServeHTTP(w, r)
		})
	}
	g, err := gateway.New([]gateway.Route{
		{Path: "/up", Target: mustTarget(t, up.URL)},
		{Path: "/down", Target: mustTarget(t, "http://127.0.0.1:1")},
	}, gateway.WithLogger(slog.New(slog.DiscardHandler)), gateway.WithLogger(nil), gateway.WithTransport(nil),
		gateway.WithMiddleware(nil, counted, nil))
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(g)
	defer front.Close()
	if status, _, body := do(t, "GET", front.URL+"/up", nil, nil); status != 200 || decodeSeen(t, body).Upstream != "up" || runs != 1 {
		t.Fatalf("through the default transport: %d %s (middleware ran %d times)", status, body, runs)
	}
	if status, _, _ := do(t, "GET", front.URL+"/down", nil, nil); status != http.StatusBadGateway {
		t.Fatalf("a refused upstream: %d", status)
	}
	if !strings.Contains(logged.String(), "gateway: upstream error") {
		t.Fatalf("nothing logged to slog.Default: %q", logged.String())
	}
}
