package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
	"github.com/go-microkit/microkit/internal/consultest"
	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/hashicorp/consul/api"
)

// run-cluster.sh with two instances of every service on a three-node
// JetStream cluster it starts itself: it prints the gateway's URL only once
// every instance is ready, passes its arguments on (-rate-limit), and on
// Ctrl-C says it is stopping, deregisters everything and removes its
// temporary directory.
func TestRunClusterScript(t *testing.T) {
	pgURL := testenv.Addr(t, "MICROKIT_POSTGRES_URL")
	if _, err := exec.LookPath("nats-server"); err != nil {
		t.Fatalf("run-cluster.sh needs nats-server on PATH: %v", err)
	}
	bin, err := shopBinary()
	if err != nil {
		t.Fatal(err)
	}
	agent := consultest.StartAgent(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "r" + hex.EncodeToString(b) + "-"
	tmp := t.TempDir()
	t.Cleanup(func() {
		db, err := sql.Open("pgx", pgURL)
		if err != nil {
			return
		}
		defer db.Close()
		for _, svc := range shop.All {
			_, _ = db.Exec("DROP SCHEMA IF EXISTS " + strings.ReplaceAll(prefix, "-", "_") + svc + " CASCADE")
		}
	})

	const limit = 20
	cmd := exec.Command("bash", "run-cluster.sh", "-rate-limit", fmt.Sprint(limit))
	cmd.Env = append(os.Environ(), "SHOP_INSTANCES=2", "SHOP_NATS_CLUSTER=3", "SHOP_PREFIX="+prefix,
		"CONSUL_HTTP_ADDR="+agent.Addr(), "SHOP_PG_URL="+pgURL, "SHOP_BIN="+bin, "TMPDIR="+tmp,
		fmt.Sprintf("SHOP_ADDR=127.0.0.1:%d", freePort(t)))
	// Its own process group, as a shell gives a foreground job: Ctrl-C is
	// a SIGINT to the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out logBuffer
	cmd.Stderr = &out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	gatewayURL := make(chan string, 1)
	var lines sync.WaitGroup
	lines.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&out, line)
			if _, u, ok := strings.Cut(line, "gateway on "); ok {
				gatewayURL <- strings.Fields(u)[0]
			}
		}
	})
	go func() {
		lines.Wait()
		exited <- cmd.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			select {
			case <-exited:
			case <-time.After(60 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("--- run-cluster.sh output:\n%s", out.String())
		}
	})

	var gw string
	select {
	case gw = <-gatewayURL:
	case err := <-exited:
		stopped = true
		t.Fatalf("run-cluster.sh exited before it printed the gateway URL: %v", err)
	case <-time.After(120 * time.Second):
		t.Fatal("run-cluster.sh printed no gateway URL within 120s")
	}
	// Ready means ready: every instance already passes its check.
	for _, svc := range []string{"user-service", "product-service", "product-grpc", "payment-service", "notification-service", "order-service"} {
		entries, _, err := agent.Client(t).Health().Service(prefix+svc, "", true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 {
			t.Errorf("%s%s has %d passing instances when the gateway URL is printed, want 2", prefix, svc, len(entries))
		}
	}
	user := &shoptest.Client{Base: gw, HTTP: &http.Client{Timeout: 40 * time.Second}}
	warmUp(t, user)
	limited := false
	for range limit + 1 {
		r, err := user.Do(t.Context(), http.MethodGet, "/api/users/me", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Errorf("%d requests of one user in a row were all served: -rate-limit %d did not reach the gateway", limit+1, limit)
	}

	// Ctrl-C.
	stopped = true
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("run-cluster.sh exited with %v after Ctrl-C", err)
		}
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatal("run-cluster.sh did not stop within 60s of Ctrl-C")
	}
	if s := out.String(); !strings.Contains(s, "stopping") || strings.Contains(s, "exited") {
		t.Errorf("after Ctrl-C the output should say it is stopping, and no service exited on its own:\n%s", s)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	services, _, err := agent.Client(t).Catalog().Services((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	for name := range services {
		if strings.HasPrefix(name, prefix) {
			t.Errorf("%s is still registered after the cluster stopped", name)
		}
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("%s left behind in TMPDIR", e.Name())
	}
}
