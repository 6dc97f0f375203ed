package natstest

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is an embedded NATS server with JetStream. It is safe for
// concurrent use.
type Server struct {
	tb       testing.TB
	storeDir string

	mu   sync.Mutex
	srv  *server.Server
	port int
}

// Run starts a server that is shut down when the test ends.
func Run(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, storeDir: tb.TempDir(), port: -1}
	if err := s.start(); err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	tb.Cleanup(s.Shutdown)
	return s
}

func (s *Server) start() error {
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      s.port,
		JetStream: true,
		StoreDir:  s.storeDir,
		NoLog:     true,
		NoSigs:    true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("new server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("server on port %d not ready", s.port)
	}
	s.srv = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
	return nil
}

// URL returns the client URL, stable across restarts.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", s.port)
}

// Restart shuts the server down and starts a new one on the same port with
// the same JetStream store, returning once it accepts connections.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
	// The port may linger briefly in the kernel; retry the bind.
	var err error
	for range 50 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("natstest: restart: %v", err)
}

// Shutdown stops the server. It is idempotent.
func (s *Server) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
}
