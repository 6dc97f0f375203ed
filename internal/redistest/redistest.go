package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// BinEnv names the variable that points to the redis-server binary when it
// is not on PATH or in /usr/bin.
const BinEnv = "MICROKIT_REDIS_SERVER"

// Server is a redis-server process of one test. It is safe for concurrent
// use.
type Server struct {
	bin, dir string
	port     int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives the process's exit, once
}

// Start starts a server with appendonly persistence on a free loopback
// port, stopped when the test ends. Without a redis-server binary the test
// is skipped, or failed when testenv.RequireEnv is set.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := serverBin()
	if bin == "" {
		if os.Getenv(testenv.RequireEnv) != "" {
			t.Fatalf("redistest: no redis-server found (set %s)", BinEnv)
		}
		t.Skipf("redistest: no redis-server found: set %s to run this test", BinEnv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	s := &Server{bin: bin, dir: t.TempDir(), port: l.Addr().(*net.TCPAddr).Port}
	_ = l.Close()
	t.Cleanup(s.Stop)
	s.start(t)
	return s
}

func serverBin() string {
	if b := os.Getenv(BinEnv); b != "" {
		return b
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server"
	}
	return ""
}

// Addr returns the server's "host:port", stable across restarts.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// start runs the process and waits until it answers PING (after it loaded
// its append-only file). The port may linger a moment after a stop: a
// process that could not bind is started again.
func (s *Server) start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var lastErr error
	for range 50 {
		cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
			"--appendonly", "yes", "--save", "", "--daemonize", "no", "--logfile", "redis.log")
		if err := cmd.Start(); err != nil {
			t.Fatalf("redistest: start %s: %v", s.bin, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if lastErr = waitReady(s.Addr(), exited); lastErr == nil {
			s.cmd, s.exited = cmd, exited
			return
		}
		_ = cmd.Process.Kill()
		<-exited
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(s.dir + "/redis.log")
	t.Fatalf("redistest: redis-server on port %d not ready: %v\n%s", s.port, lastErr, log)
}

// waitReady polls the server with PING until it answers, its process exits
// or ten seconds pass.
func waitReady(addr string, exited chan error) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for the caller, which waits for it too
			return fmt.Errorf("exited: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart stops the server (SIGTERM: it flushes its append-only file and
// exits) and starts it again on the same port and data, returning once it
// answers.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

// Kill kills the server (SIGKILL: no shutdown, as a crash) and waits for
// its process to exit; Restart starts it again on the same port and data.
// What the server acknowledged survives: it writes its append-only file
// before it replies, and the kill leaves the operating system's cache be.
// It is idempotent.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Stop stops the server and waits for its process to exit. It is
// idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}
