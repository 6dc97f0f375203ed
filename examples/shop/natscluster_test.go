package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsCluster is a throwaway JetStream cluster of nats-server processes on
// free loopback ports, stopped and removed when the test ends.
type natsCluster struct {
	t     *testing.T
	mu    sync.Mutex // guards the nodes' cmd
	nodes []*natsNode
}

type natsNode struct {
	name        string
	port, route int
	bin         string
	args        []string
	cmd         *exec.Cmd // nil until started, and once killed
	log         logBuffer
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNATSCluster starts n clustered nats-server processes with JetStream
// and waits until the cluster has a JetStream meta leader.
func startNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	c := newNATSCluster(t, n)
	for i := range n {
		c.start(i)
	}
	c.waitJetStream()
	return c
}

// newNATSCluster prepares a cluster of n nodes that know each other's
// routes; start starts them.
func newNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Fatalf("the NATS cluster needs nats-server on PATH: %v", err)
	}
	c := &natsCluster{t: t}
	for i := range n {
		c.nodes = append(c.nodes, &natsNode{name: fmt.Sprintf("n%d", i+1), port: freePort(t), route: freePort(t)})
	}
	dir := t.TempDir()
	for _, nd := range c.nodes {
		var routes []string
		for _, o := range c.nodes {
			if o != nd {
				routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(o.route))
			}
		}
		nd.args = []string{"-a", "127.0.0.1", "-p", strconv.Itoa(nd.port), "-n", nd.name,
			"-js", "-sd", filepath.Join(dir, nd.name), "--cluster_name", "shoptest",
			"--cluster", "nats://127.0.0.1:" + strconv.Itoa(nd.route), "--routes", strings.Join(routes, ",")}
		nd.bin = bin
	}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, nd := range c.nodes {
			if nd.cmd != nil {
				_ = nd.cmd.Process.Kill()
				_ = nd.cmd.Wait()
			}
			if t.Failed() {
				t.Logf("--- nats %s output:\n%s", nd.name, nd.log.String())
			}
		}
	})
	return c
}

// start starts node i. It is safe to call from any goroutine.
func (c *natsCluster) start(i int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodes[i]
	cmd := exec.Command(nd.bin, nd.args...)
	cmd.Stdout, cmd.Stderr = &nd.log, &nd.log
	if err := cmd.Start(); err != nil {
		c.t.Errorf("nats-server %s: %v", nd.name, err) // start may run in another goroutine than the test's
		return
	}
	nd.cmd = cmd
}

// waitJetStream waits until JetStream answers through the cluster: it has
// a meta leader.
func (c *natsCluster) waitJetStream() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 60*time.Second)
	defer cancel()
	if err := shoptest.Eventually(ctx, 200*time.Millisecond, c.jetStreamReady); err != nil {
		c.t.Fatalf("the NATS cluster did not elect a JetStream leader: %v", err)
	}
}

// jetStreamReady reports an error until JetStream answers through the
// cluster.
func (c *natsCluster) jetStreamReady() error {
	nc, err := nats.Connect(c.URL(), nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// URL returns the servers' URLs, comma-separated, as nats.Connect takes them.
func (c *natsCluster) URL() string {
	var urls []string
	for _, nd := range c.nodes {
		urls = append(urls, "nats://127.0.0.1:"+strconv.Itoa(nd.port))
	}
	return strings.Join(urls, ",")
}

// kill sends SIGKILL to node i, as a crash would.
func (c *natsCluster) kill(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodes[i]
	_ = nd.cmd.Process.Signal(syscall.SIGKILL)
	_ = nd.cmd.Wait()
	nd.cmd = nil
}
