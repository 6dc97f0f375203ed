package sqltest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/go-microkit/microkit/internal/testenv"
)

// PostgresBinEnv names the directory of PostgreSQL's initdb and pg_ctl for
// [StartPostgres]. Unset, the newest /usr/lib/postgresql/*/bin is used,
// then PATH.
const PostgresBinEnv = "MICROKIT_POSTGRES_BIN"

// PostgresServer is a throwaway PostgreSQL cluster of a test's own, on a
// free loopback port: fault tests stop and start it, which they must never
// do to the shared server at [PostgresEnv]. Trust authentication, user
// and database "postgres", fsync off. It is not safe for concurrent use.
type PostgresServer struct {
	bin  string // directory of initdb and pg_ctl
	dir  string // holds data/, the socket and the log
	port int
	user string // the cluster's OS user when the test runs as root
}

// StartPostgres creates a cluster in a new temporary directory, starts it,
// and stops and removes it when the test ends. Without PostgreSQL's
// binaries the test is skipped, or failed when testenv.RequireEnv is set.
// Run as root (PostgreSQL refuses it), the cluster runs as the "postgres"
// OS user.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		if os.Getenv(testenv.RequireEnv) != "" {
			t.Fatalf("sqltest: no initdb and pg_ctl found (set %s)", PostgresBinEnv)
		}
		t.Skipf("sqltest: no initdb and pg_ctl found: set %s to run this test", PostgresBinEnv)
	}
	dir, err := os.MkdirTemp("", "microkit-pg-")
	if err != nil {
		t.Fatalf("sqltest: %v", err)
	}
	s := &PostgresServer{bin: bin, dir: dir}
	t.Cleanup(func() {
		_ = s.pgctl("stop", "-m", "immediate", "-w")
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("sqltest: running as root needs a postgres OS user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("sqltest: %v", err)
		}
		s.user = "postgres"
	}
	if out, err := s.command("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		t.Fatalf("sqltest: initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sqltest: free port: %v", err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s.Start(t)
	return s
}

// postgresBin returns the directory holding initdb and pg_ctl, or "".
func postgresBin() string {
	if d := os.Getenv(PostgresBinEnv); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { // newest major version first
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func (s *PostgresServer) data() string { return filepath.Join(s.dir, "data") }

// command runs a PostgreSQL program of s.bin, as the cluster's OS user.
func (s *PostgresServer) command(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, prog)
	if s.user != "" {
		return exec.Command("runuser", append([]string{"-u", s.user, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (s *PostgresServer) pgctl(args ...string) error {
	args = append(args, "-D", s.data())
	if out, err := s.command("pg_ctl", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl %s: %w\n%s", args[0], err, out)
	}
	return nil
}

// DSN returns the URL of the cluster's "postgres" database, stable across
// restarts.
func (s *PostgresServer) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Stop shuts the server down (fast mode: sessions are disconnected, work in
// progress rolled back) and returns once it is down.
func (s *PostgresServer) Stop(t testing.TB) {
	t.Helper()
	if err := s.pgctl("stop", "-m", "fast", "-w"); err != nil {
		t.Fatalf("sqltest: %v", err)
	}
}

// Start starts the stopped server on its port and returns once it accepts
// connections.
func (s *PostgresServer) Start(t testing.TB) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", s.port, s.dir)
	if err := s.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(s.dir, "log"), "-o", opts); err != nil {
		t.Fatalf("sqltest: %v", err)
	}
}
