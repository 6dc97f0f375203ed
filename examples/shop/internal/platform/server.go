package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/tracing"
	"github.com/prometheus/client_golang/prometheus"
)

// Server is one service's HTTP server: its routes, plus /healthz (liveness),
// /readyz (readiness checks, used by the registry's health check), /metrics
// (its own Prometheus registry) and the operator's console at ConsolePath
// (see AuthorizeConsole). Every request but the probes runs in a server
// span that continues the caller's trace. Its serving goroutine and the
// console's sampling loop are owned by Shutdown, which waits for them. It
// is safe for concurrent use.
type Server struct {
	name        string
	mux         *http.ServeMux
	health      *discovery.Health
	metrics     *prometheus.Registry
	console     *console.Console
	ln          net.Listener
	srv         *http.Server
	done        chan struct{}
	err         error
	started     atomic.Bool
	stopConsole func()
}

// NewServer listens on addr ("127.0.0.1:0" picks a free port) for the
// service name; Start serves. logger (nil means slog.Default) gets the
// detail of internal errors (WriteInternal) and panics.
func NewServer(name, addr string, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	con, err := NewConsole(name, ConsolePath, logger)
	if err != nil {
		return nil, fmt.Errorf("platform: %s: console: %w", name, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("platform: %s: listen %s: %w", name, addr, err)
	}
	s := &Server{
		name:    name,
		mux:     http.NewServeMux(),
		health:  discovery.NewHealth(2 * time.Second),
		metrics: tracing.NewRegistry(),
		console: con,
		ln:      ln,
		done:    make(chan struct{}),
	}
	s.mux.Handle("GET /healthz", s.health.LivenessHandler())
	s.mux.Handle("GET /readyz", s.health.ReadinessHandler())
	s.mux.Handle("GET /metrics", tracing.Handler(s.metrics))
	s.mux.Handle(con.Path(), con)
	traced := untracedProbes(tracing.Middleware())
	// The request id comes first, so that every error body and log line
	// carries the one the gateway forwarded; panics and the mux's own 404
	// and 405 answer in the JSON error shape too.
	h := gateway.Chain(gateway.RequestID(), withLogger(logger), traced, gateway.Recover(logger))(jsonMux{s.mux})
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// untracedProbes applies traced to every request but the probes' and the
// scrapes of /metrics, which would otherwise fill the traces. It filters
// here rather than with otelhttp.WithFilter: tracing.Middleware given no
// options skips otelhttp while nothing is recorded.
func untracedProbes(traced func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		t := traced(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				next.ServeHTTP(w, r)
			default:
				t.ServeHTTP(w, r)
			}
		})
	}
}

// Handle registers h for pattern (http.ServeMux syntax).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandleFunc registers f for pattern (http.ServeMux syntax).
func (s *Server) HandleFunc(pattern string, f http.HandlerFunc) { s.mux.HandleFunc(pattern, f) }

// Health returns the server's probes, to add readiness checks to.
func (s *Server) Health() *discovery.Health { return s.health }

// Metrics returns the registry /metrics serves.
func (s *Server) Metrics() *prometheus.Registry { return s.metrics }

// Console returns the operator's console served at ConsolePath, for the
// service to register its breakers, resolvers and outboxes with.
func (s *Server) Console() *console.Console { return s.console }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// URL returns the server's base URL on the loopback address.
func (s *Server) URL() string { return "http://127.0.0.1:" + strconv.Itoa(s.Port()) }

// Start serves, and runs the console's sampling loop, in goroutines that
// Shutdown stops and waits for.
func (s *Server) Start() {
	s.stopConsole = consoleRun(s.console)
	s.started.Store(true) // publishes stopConsole to Shutdown
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("server stopped", "service", s.name, "err", err)
			s.err = err
		}
	}()
}

// Shutdown fails readiness, stops accepting connections and waits for the
// requests in flight, up to ctx. It is idempotent. On a server never
// started it closes the listener.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started.Load() {
		return s.ln.Close()
	}
	s.health.Drain()
	err := s.srv.Shutdown(ctx)
	s.stopConsole()
	select {
	case <-s.done:
	case <-ctx.Done():
		return fmt.Errorf("platform: %s: shutdown: %w", s.name, ctx.Err())
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("platform: %s: shutdown: %w", s.name, err)
	}
	return s.err
}
