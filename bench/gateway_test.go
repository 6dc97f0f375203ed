package bench

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/gatewaytrace"
	"github.com/go-microkit/microkit/gateway/jwtauth"
	"github.com/go-microkit/microkit/gateway/ratelimit"
	"github.com/go-microkit/microkit/tracing"
)

// The gateway benchmarks send real HTTP requests over loopback through a
// front server to one upstream that answers a 64-byte JSON body, and
// compare:
//
//   - bare: httputil.ReverseProxy alone (SetURL + SetXForwarded), the floor;
//   - microkit: the full gateway chain - tracing middleware and transport
//     with the no-op provider, JWT HS256 verification, a per-user token
//     bucket (never empty), a per-upstream circuit breaker, path cleaning,
//     routing and the ReverseProxy.
//
// Both use the same tuned upstream transport (256 idle connections per
// host) and the same client. Each reports requests/s and the p50 and p99
// latency seen by the client. KrakenD's Lura could not be compared: the Go
// module proxy refuses github.com/luraproject/lura (403), see
// docs/benchmarks.md.

var gatewayBody = []byte(`{"id":"o-1","user":"u-1","total":4200,"currency":"EUR","items":3}` + "\n")[:64]

func gatewayUpstream(b *testing.B) *httptest.Server {
	b.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(gatewayBody)
	}))
	b.Cleanup(up.Close)
	return up
}

func gatewayTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return t
}

func bareProxy(b *testing.B, upstream string) http.Handler {
	u, err := url.Parse(upstream)
	if err != nil {
		b.Fatal(err)
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport: gatewayTransport(),
	}
}

var gatewaySecret = []byte("bench-secret-0123456789abcdef0123456789")

// gatewayLayers says which layers fullGateway builds.
type gatewayLayers struct {
	auth, limit, breaker, tracing, clientSpans bool
}

var allLayers = gatewayLayers{auth: true, limit: true, breaker: true, tracing: true, clientSpans: true}

func fullGateway(b *testing.B, upstream string, layers gatewayLayers) http.Handler {
	keys, err := jwtauth.StaticKeys(jwtauth.Key{ID: "k1", Algorithm: jwtauth.HS256, Key: gatewaySecret})
	if err != nil {
		b.Fatal(err)
	}
	auth, err := jwtauth.New(keys, jwtauth.WithIssuer("bench"), jwtauth.WithAudience("shop"))
	if err != nil {
		b.Fatal(err)
	}
	local, err := ratelimit.NewLocal(ratelimit.Rate{Requests: 1_000_000, Per: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	limit, err := ratelimit.Middleware(local)
	if err != nil {
		b.Fatal(err)
	}
	set, err := breaker.NewSet("gateway", 64)
	if err != nil {
		b.Fatal(err)
	}
	breakers, err := gateway.BreakerSet(set)
	if err != nil {
		b.Fatal(err)
	}
	target, err := gateway.StaticTarget(upstream)
	if err != nil {
		b.Fatal(err)
	}
	route := gateway.Route{Name: "orders", Path: "/api/orders/{id}", Target: target}
	if layers.auth {
		route.Middleware = append(route.Middleware, auth.Middleware())
	}
	if layers.limit {
		route.Middleware = append(route.Middleware, limit)
	}
	if layers.breaker {
		route.Breakers = breakers
	}
	opts := []gateway.Option{gateway.WithLogger(slog.New(slog.DiscardHandler)), gateway.WithTransport(gatewayTransport())}
	if layers.tracing {
		opts = append(opts, gateway.WithMiddleware(tracing.Middleware()))
	}
	switch {
	case layers.clientSpans:
		opts = append(opts, gateway.WithTransport(tracing.Transport(gatewayTransport())))
	case layers.tracing:
		opts = append(opts, gateway.WithTransport(gatewaytrace.Propagate(gatewayTransport())))
	}
	g, err := gateway.New([]gateway.Route{route}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return g
}

func gatewayToken(b *testing.B) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "user-1", "iss": "bench", "aud": "shop",
		"exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(gatewaySecret)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// runGateway drives front with 4 client goroutines per P and reports
// requests/s and latency percentiles.
func runGateway(b *testing.B, front http.Handler) {
	srv := httptest.NewServer(front)
	defer srv.Close()
	client := &http.Client{Transport: gatewayTransport()}
	target := srv.URL + "/api/orders/42"
	auth := "Bearer " + gatewayToken(b)
	get := func() error {
		req, err := http.NewRequest(http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", auth)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := get(); err != nil { // warm the connections
		b.Fatal(err)
	}
	var mu sync.Mutex
	var all []time.Duration
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	cpu0 := processCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			if err := get(); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	// CPU time of the whole process (client, gateway, upstream) per
	// request: on a shared machine it is steadier than req/s, and on a
	// saturated one throughput is its inverse.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/req")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkGateway(b *testing.B) {
	b.Run("bare-reverseproxy", func(b *testing.B) {
		runGateway(b, bareProxy(b, gatewayUpstream(b).URL))
	})
	b.Run("microkit-full-chain", func(b *testing.B) {
		runGateway(b, fullGateway(b, gatewayUpstream(b).URL, allLayers))
	})
	// The same chain with a server span only (no client span per upstream
	// call; gatewaytrace.Propagate carries the trace upstream), without
	// tracing, and the routing and proxy alone: where the
	// cost of the full chain comes from.
	b.Run("microkit-server-span-only", func(b *testing.B) {
		runGateway(b, fullGateway(b, gatewayUpstream(b).URL, gatewayLayers{auth: true, limit: true, breaker: true, tracing: true}))
	})
	b.Run("microkit-no-tracing", func(b *testing.B) {
		runGateway(b, fullGateway(b, gatewayUpstream(b).URL, gatewayLayers{auth: true, limit: true, breaker: true}))
	})
	b.Run("microkit-proxy-only", func(b *testing.B) {
		runGateway(b, fullGateway(b, gatewayUpstream(b).URL, gatewayLayers{}))
	})
}
