package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// pgServer is a throwaway PostgreSQL server on a free loopback port, in a
// temporary directory removed when the test ends. As root it runs as the
// postgres user, since PostgreSQL refuses to run as root.
type pgServer struct {
	t     *testing.T
	bin   string // directory of initdb and pg_ctl
	dir   string
	port  int
	runAs []string // the command prefix that runs as the postgres user
}

// startPostgres initialises and starts a server.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		p, err := exec.LookPath("initdb")
		if err != nil {
			t.Fatalf("a throwaway PostgreSQL needs initdb (in /usr/lib/postgresql/*/bin or on PATH): %v", err)
		}
		bins = []string{p}
	}
	p := &pgServer{t: t, bin: filepath.Dir(bins[len(bins)-1]), port: freePort(t)}
	dir, err := os.MkdirTemp("", "microkit-shop-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	t.Cleanup(func() {
		_ = p.ctl("stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("as root, a throwaway PostgreSQL runs as the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := p.run(filepath.Join(p.bin, "initdb"), "-D", p.data(), "-U", "postgres", "--auth=trust", "-N"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if err := p.ctl("start"); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pgServer) data() string { return filepath.Join(p.dir, "data") }

// url returns the URL of its postgres database.
func (p *pgServer) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func (p *pgServer) run(name string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, p.runAs...), name), args...)
	return exec.Command(argv[0], argv[1:]...).CombinedOutput()
}

// ctl runs pg_ctl with the server's options and waits for it to finish.
func (p *pgServer) ctl(action string, args ...string) error {
	argv := append([]string{"-D", p.data(), "-w", "-l", filepath.Join(p.dir, "pg.log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, p.dir), action}, args...)
	if out, err := p.run(filepath.Join(p.bin, "pg_ctl"), argv...); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "pg.log"))
		return fmt.Errorf("pg_ctl %s: %v\n%s\n%s", action, err, out, log)
	}
	return nil
}

// crashRestart stops the server as a crash would (immediate: transactions
// in flight are lost, the next start recovers from the WAL) and starts it
// again, returning once it accepts connections.
func (p *pgServer) crashRestart() error { return p.ctl("restart", "-m", "immediate") }
