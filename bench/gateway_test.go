package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
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
// host) and the same client. BenchmarkGateway runs the front in the
// benchmark's process; BenchmarkGatewayIsolated in a process of its own. Each reports requests/s and the p50 and p99
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

func bareProxy(fatal func(...any), upstream string) http.Handler {
	u, err := url.Parse(upstream)
	if err != nil {
		fatal(err)
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

func fullGateway(fatal func(...any), upstream string, layers gatewayLayers) http.Handler {
	keys, err := jwtauth.StaticKeys(jwtauth.Key{ID: "k1", Algorithm: jwtauth.HS256, Key: gatewaySecret})
	if err != nil {
		fatal(err)
	}
	auth, err := jwtauth.New(keys, jwtauth.WithIssuer("bench"), jwtauth.WithAudience("shop"))
	if err != nil {
		fatal(err)
	}
	local, err := ratelimit.NewLocal(ratelimit.Rate{Requests: 1_000_000, Per: time.Second})
	if err != nil {
		fatal(err)
	}
	limit, err := ratelimit.Middleware(local)
	if err != nil {
		fatal(err)
	}
	failures, err := ratelimit.NewLocal(ratelimit.Rate{Requests: 10, Per: time.Minute})
	if err != nil {
		fatal(err)
	}
	failLimit, err := ratelimit.FailureLimit(failures)
	if err != nil {
		fatal(err)
	}
	set, err := breaker.NewSet("gateway", 64)
	if err != nil {
		fatal(err)
	}
	breakers, err := gateway.BreakerSet(set)
	if err != nil {
		fatal(err)
	}
	target, err := gateway.StaticTarget(upstream)
	if err != nil {
		fatal(err)
	}
	route := gateway.Route{Name: "orders", Path: "/api/orders/{id}", Target: target}
	// The recommended order: failed authentications limited per address,
	// then authentication, then the limit per user.
	if layers.limit {
		route.Middleware = append(route.Middleware, failLimit)
	}
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
		fatal(err)
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

// runGateway serves front and drives it; see driveGateway.
func runGateway(b *testing.B, front http.Handler) {
	srv := httptest.NewServer(front)
	defer srv.Close()
	driveGateway(b, srv.URL, 0)
}

// driveGateway drives the gateway at base with 4 client goroutines per P
// and reports requests/s, latency percentiles and CPU time per request: of
// this process, plus that of process child when it is not 0 (a gateway run
// in a process of its own).
func driveGateway(b *testing.B, base string, child int) {
	client := &http.Client{Transport: gatewayTransport()}
	target := base + "/api/orders/42"
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
	cpu0 := processCPU(b) + childCPU(b, child)
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
	cpu := processCPU(b) + childCPU(b, child) - cpu0
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

// gatewayVariant builds one front to compare, in front of upstream.
type gatewayVariant struct {
	name  string
	front func(fatal func(...any), upstream string) http.Handler
}

// gatewayVariants are the fronts BenchmarkGateway compares, by name. Next
// to the bare proxy and the full chain: the same chain with a server span
// only (no client span per upstream call; gatewaytrace.Propagate carries the
// trace upstream), without tracing, and the routing and proxy alone: where
// the cost of the full chain comes from.
var gatewayVariants = []gatewayVariant{
	{"bare-reverseproxy", bareProxy},
	{"microkit-full-chain", func(fatal func(...any), up string) http.Handler { return fullGateway(fatal, up, allLayers) }},
	{"microkit-server-span-only", func(fatal func(...any), up string) http.Handler {
		return fullGateway(fatal, up, gatewayLayers{auth: true, limit: true, breaker: true, tracing: true})
	}},
	{"microkit-no-tracing", func(fatal func(...any), up string) http.Handler {
		return fullGateway(fatal, up, gatewayLayers{auth: true, limit: true, breaker: true})
	}},
	{"microkit-proxy-only", func(fatal func(...any), up string) http.Handler { return fullGateway(fatal, up, gatewayLayers{}) }},
}

// BenchmarkGateway runs client, front and upstream in this process.
func BenchmarkGateway(b *testing.B) {
	for _, v := range gatewayVariants {
		b.Run(v.name, func(b *testing.B) {
			runGateway(b, v.front(b.Fatal, gatewayUpstream(b).URL))
		})
	}
}

// BenchmarkGatewayIsolated runs each front in a process of its own (this
// test binary again, see TestMain), as a gateway runs in production: its
// garbage collector paces on its own allocations only, not on those of the
// client and the upstream, which stay in this process. CPU per request
// counts both processes.
func BenchmarkGatewayIsolated(b *testing.B) {
	for _, v := range gatewayVariants {
		b.Run(v.name, func(b *testing.B) {
			base, pid := startGatewayProcess(b, v.name, gatewayUpstream(b).URL)
			driveGateway(b, base, pid)
		})
	}
}

// Environment of a gateway child process.
const (
	gatewayChildEnv    = "MICROKIT_BENCH_GATEWAY_VARIANT"
	gatewayUpstreamEnv = "MICROKIT_BENCH_GATEWAY_UPSTREAM"
)

// TestMain serves a gateway variant instead of running the tests when this
// binary was started as a child by BenchmarkGatewayIsolated.
func TestMain(m *testing.M) {
	if name := os.Getenv(gatewayChildEnv); name != "" {
		serveGatewayChild(name, os.Getenv(gatewayUpstreamEnv))
		return
	}
	os.Exit(m.Run())
}

// serveGatewayChild serves variant name on a free loopback port, prints its
// URL on stdout, and exits when stdin closes (the parent is done or gone).
func serveGatewayChild(name, upstream string) {
	fatal := func(args ...any) {
		fmt.Fprintln(os.Stderr, args...)
		os.Exit(2)
	}
	i := slices.IndexFunc(gatewayVariants, func(v gatewayVariant) bool { return v.name == name })
	if i < 0 {
		fatal("unknown gateway variant", name)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	h := gatewayVariants[i].front(fatal, upstream)
	srv := &http.Server{Handler: h}
	if name != "bare-reverseproxy" {
		srv = gateway.NewServer("", h) // the gateway as documented
	}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
	os.Exit(0)
}

// startGatewayProcess starts this binary as a child serving variant in
// front of upstream and returns its URL and pid; the child ends with the
// benchmark.
func startGatewayProcess(b *testing.B, variant, upstream string) (string, int) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), gatewayChildEnv+"="+variant, gatewayUpstreamEnv+"="+upstream)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("gateway child %s: %v", variant, err)
	}
	return strings.TrimSpace(line), cmd.Process.Pid
}

// childCPU is the user and system CPU time process pid has used, from
// /proc (clock ticks of 10 ms); 0 for pid 0.
func childCPU(b *testing.B, pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is the first, utime and stime the 12th and 13th.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		b.Fatalf("/proc/%d/stat: %q", pid, stat)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
