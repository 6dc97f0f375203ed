package consul_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/consul"
	"github.com/go-microkit/microkit/internal/testenv"
)

var quietLogger = slog.New(slog.DiscardHandler)

// sharedRegistry returns a Registry on the shared agent at
// CONSUL_HTTP_ADDR that deregisters what the test registered.
func sharedRegistry(t testing.TB, opts ...consul.Option) *consul.Registry {
	t.Helper()
	addr := testenv.Addr(t, "CONSUL_HTTP_ADDR")
	return registryAt(t, addr, opts...)
}

func registryAt(t testing.TB, addr string, opts ...consul.Option) *consul.Registry {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	opts = append([]consul.Option{consul.WithLogger(quietLogger), consul.WithWatchBackoff(20*time.Millisecond, 200*time.Millisecond)}, opts...)
	reg, err := consul.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// cleanupService deregisters every instance of service on the agent at the
// end of the test.
func cleanupService(t testing.TB, reg *consul.Registry, service string) {
	t.Cleanup(func() {
		services, err := reg.Client().Agent().ServicesWithFilter(fmt.Sprintf("Service == %q", service))
		if err != nil {
			return // the agent may be gone in fault tests
		}
		for id := range services {
			_ = reg.Deregister(context.Background(), id)
		}
	})
}

// agent is a Consul dev agent of the test's own on free loopback ports, for
// tests that stop and restart it.
type agent struct {
	t     *testing.T
	bin   string
	dir   string
	ports [4]int // http, server, serf LAN, serf WAN
	cmd   *exec.Cmd
}

func (a *agent) addr() string { return "127.0.0.1:" + strconv.Itoa(a.ports[0]) }

func startAgent(t *testing.T) *agent {
	t.Helper()
	a := &agent{t: t, bin: testenv.Addr(t, "MICROKIT_CONSUL_BIN"), dir: t.TempDir()}
	for i := range a.ports {
		a.ports[i] = freePort(t)
	}
	a.start()
	t.Cleanup(a.stop)
	return a
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs the agent and waits until it has elected itself leader.
func (a *agent) start() {
	a.t.Helper()
	p := func(n int) string { return strconv.Itoa(n) }
	a.cmd = exec.Command(a.bin, "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", p(a.ports[0]), "-server-port", p(a.ports[1]),
		"-serf-lan-port", p(a.ports[2]), "-serf-wan-port", p(a.ports[3]),
		"-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
		"-node", "microkit-test-"+p(a.ports[0]), "-log-level", "error")
	a.cmd.Dir = a.dir
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	cfg := api.DefaultConfig()
	cfg.Address = a.addr()
	client, err := api.NewClient(cfg)
	if err != nil {
		a.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		leader, err := client.Status().Leader()
		if err == nil && leader != "" {
			return
		}
		if time.Now().After(deadline) {
			a.stop()
			a.t.Fatalf("consul agent on %s did not elect a leader: %v", a.addr(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills the agent, as a crash would; it is idempotent.
func (a *agent) stop() {
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
	a.cmd = nil
}

func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func instance(service string, n int, port int) discovery.Instance {
	return discovery.Instance{ID: fmt.Sprintf("%s-%d", service, n), Service: service, Address: "127.0.0.1", Port: port}
}

func ids(set []discovery.Instance) []string {
	out := make([]string, len(set))
	for i, in := range set {
		out[i] = in.ID
	}
	return out
}
