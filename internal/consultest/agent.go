package consultest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/internal/testenv"
)

// BinEnv names the Consul binary that [StartAgent] runs (.ci/consul.sh
// builds it). Unset, the test is skipped, or fails where
// MICROKIT_INTEGRATION is set.
const BinEnv = "MICROKIT_CONSUL_BIN"

// Agent is a Consul dev agent of a test's own on free loopback ports,
// killed when the test ends; its output is logged when the test failed.
// Its ports stay the same across restarts. It is not safe for concurrent
// use.
type Agent struct {
	bin   string
	dir   string
	ports [4]int // http, server, serf LAN, serf WAN
	cmd   *exec.Cmd
}

// StartAgent starts an agent and returns once it has elected itself
// leader.
func StartAgent(t testing.TB) *Agent {
	t.Helper()
	a := &Agent{bin: testenv.Addr(t, BinEnv), dir: t.TempDir()}
	for i := range a.ports {
		a.ports[i] = freePort(t)
	}
	t.Cleanup(func() {
		a.Kill()
		if t.Failed() {
			out, _ := os.ReadFile(a.logPath())
			t.Logf("--- consul agent output:\n%s", out)
		}
	})
	a.Start(t)
	return a
}

// Addr returns the agent's HTTP address, "127.0.0.1:port".
func (a *Agent) Addr() string { return "127.0.0.1:" + strconv.Itoa(a.ports[0]) }

// Client returns an API client of the agent.
func (a *Agent) Client(t testing.TB) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = a.Addr()
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatalf("consultest: %v", err)
	}
	return c
}

// Start runs the agent (again, empty, after Kill) and returns once it has
// elected itself leader.
func (a *Agent) Start(t testing.TB) {
	t.Helper()
	p := strconv.Itoa
	a.cmd = exec.Command(a.bin, "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", p(a.ports[0]), "-server-port", p(a.ports[1]),
		"-serf-lan-port", p(a.ports[2]), "-serf-wan-port", p(a.ports[3]),
		"-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
		"-node", "microkit-test-"+p(a.ports[0]), "-log-level", "warn")
	a.cmd.Dir = a.dir
	// A file, appended to across restarts, needs no copying goroutine.
	log, err := os.OpenFile(a.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("consultest: %v", err)
	}
	defer log.Close() // the agent has its own copy of the descriptor
	a.cmd.Stdout, a.cmd.Stderr = log, log
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("consultest: %v", err)
	}
	c := a.Client(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		leader, err := c.Status().Leader()
		if err == nil && leader != "" {
			return
		}
		if time.Now().After(deadline) {
			a.Kill()
			t.Fatalf("consultest: agent on %s did not elect a leader: %v", a.Addr(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill kills the agent, as a crash would; it is idempotent.
func (a *Agent) Kill() {
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
	a.cmd = nil
}

func (a *Agent) logPath() string { return filepath.Join(a.dir, "agent.log") }

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("consultest: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
