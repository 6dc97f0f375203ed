package main

import (
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/hashicorp/consul/api"
)

// consulAgent is a throwaway Consul dev agent on free loopback ports. A dev
// agent keeps nothing on disk: restarted, it is empty.
type consulAgent struct {
	t     *testing.T
	bin   string
	ports [4]int // http, server, serf LAN, serf WAN
	cmd   *exec.Cmd
	log   logBuffer
}

func startConsulAgent(t *testing.T) *consulAgent {
	t.Helper()
	a := &consulAgent{t: t, bin: testenv.Addr(t, "MICROKIT_CONSUL_BIN")}
	for i := range a.ports {
		a.ports[i] = freePort(t)
	}
	a.start()
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			t.Logf("--- consul output:\n%s", a.log.String())
		}
	})
	return a
}

// addr returns the agent's HTTP address.
func (a *consulAgent) addr() string { return "127.0.0.1:" + strconv.Itoa(a.ports[0]) }

// client returns an API client of the agent.
func (a *consulAgent) client() *api.Client {
	cfg := api.DefaultConfig()
	cfg.Address = a.addr()
	c, err := api.NewClient(cfg)
	if err != nil {
		a.t.Fatal(err)
	}
	return c
}

// start runs the agent and waits until it has elected itself leader.
func (a *consulAgent) start() {
	a.t.Helper()
	p := strconv.Itoa
	a.cmd = exec.Command(a.bin, "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", p(a.ports[0]), "-server-port", p(a.ports[1]),
		"-serf-lan-port", p(a.ports[2]), "-serf-wan-port", p(a.ports[3]),
		"-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
		"-node", "microkit-shop-"+p(a.ports[0]), "-log-level", "warn")
	a.cmd.Dir = a.t.TempDir()
	a.cmd.Stdout, a.cmd.Stderr = &a.log, &a.log
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	c := a.client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		leader, err := c.Status().Leader()
		if err == nil && leader != "" {
			return
		}
		if time.Now().After(deadline) {
			a.kill()
			a.t.Fatalf("consul agent on %s did not elect a leader: %v", a.addr(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill kills the agent, as a crash would; it is idempotent.
func (a *consulAgent) kill() {
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
	a.cmd = nil
}
