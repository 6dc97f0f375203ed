package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/internal/consultest"
	"github.com/go-microkit/microkit/internal/testenv"
)

// bench-cluster.sh, shortened (2 runs of 2 s at 2 in flight, pgbench for a
// second), prints the cost table with a row of numbers for its
// concurrency, every order answered, and the pgbench ceilings; and it
// drops the database it created.
func TestBenchClusterScript(t *testing.T) {
	pgURL := testenv.Addr(t, "MICROKIT_POSTGRES_URL")
	for _, tool := range []string{"nats-server", "pgbench", "psql"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("bench-cluster.sh needs %s on PATH: %v", tool, err)
		}
	}
	bin, err := shopBinary()
	if err != nil {
		t.Fatal(err)
	}
	agent := consultest.StartAgent(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	db := "shopbench_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "bench-cluster.sh")
	cmd.Env = append(os.Environ(), "SHOP_BENCH_RUNS=2", "SHOP_BENCH_DURATION=2s", "SHOP_BENCH_CONCURRENCY=2",
		"SHOP_BENCH_PGBENCH=1s", "SHOP_BENCH_DB="+db, "SHOP_PG_URL="+pgURL, "SHOP_BIN="+bin,
		"CONSUL_HTTP_ADDR="+agent.Addr(), "SHOP_PREFIX="+db+"-", "TMPDIR="+t.TempDir(),
		fmt.Sprintf("SHOP_ADDR=127.0.0.1:%d", freePort(t)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench-cluster.sh: %v\n%s", err, out)
	}
	text := string(out)
	// | 2 | orders/s | p50 | p99 | not answered | CPU | transactions | sessions |
	row := regexp.MustCompile(`(?m)^\| 2 \| ([0-9.]+) \| ([0-9.]+) ms \| ([0-9.]+) ms \| ([0-9.]+) \| ([0-9.]+) ms \| ([0-9.]+) \| ([0-9.]+) \|$`)
	m := row.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no row of numbers for 2 in flight in:\n%s", text)
	}
	if m[1] == "0" || m[1] == "0.0" || m[6] == "0" || m[6] == "0.00" {
		t.Errorf("orders/s %s, transactions/order %s: the load or the database counters did not reach the table:\n%s", m[1], m[6], text)
	}
	if m[4] != "0" {
		t.Errorf("%s orders not answered, want 0:\n%s", m[4], text)
	}
	if !regexp.MustCompile(`pgbench, 8 clients, 1s each\): [0-9]+ one-row insert commits/s, [0-9]+ TPC-B transactions/s`).MatchString(text) {
		t.Errorf("no pgbench ceilings in:\n%s", text)
	}
	pool, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var left int
	if err := pool.QueryRowContext(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, db).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("database %s is left behind", db)
	}
	if strings.Contains(text, "No such process") {
		t.Errorf("the script signalled a process that was gone:\n%s", text)
	}
}
