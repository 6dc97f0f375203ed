#!/usr/bin/env bash
# bench-cluster.sh measures what an order costs the shop run one process per
# service (run-cluster.sh: NATS, Consul, PostgreSQL), and prints it as a
# table: for 8 and for 32 orders in flight, the medians over 3 runs of 10 s
# of orders/s, p50 and p99 latency, orders not answered, the machine's CPU
# time per order and PostgreSQL's transactions and new sessions per order
# (shopload -runs); then the database's own ceilings on this machine, from
# pgbench: commits/s of one-row inserts and TPC-B transactions/s.
#
#   CONSUL_HTTP_ADDR=127.0.0.1:8500 examples/shop/bench-cluster.sh
#
# The shop's data goes to a database of its own, created for the run and
# dropped after it. Everything else on the machine counts in the CPU column:
# run it on a quiet machine. Environment (defaults in brackets):
#   SHOP_PG_URL            a PostgreSQL URL whose role may create databases
#                          [postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable]
#   SHOP_BENCH_DB          the database created for the run [shopbench]
#   SHOP_BENCH_RUNS        runs per concurrency [3]
#   SHOP_BENCH_DURATION    length of a run [10s]
#   SHOP_BENCH_CONCURRENCY orders in flight, space-separated ["8 32"]
#   SHOP_BENCH_PGBENCH     length of each pgbench run; 0 skips pgbench [10s]
#   CONSUL_HTTP_ADDR, SHOP_NATS_URL, SHOP_ADDR, SHOP_BIN: as for run-cluster.sh
set -euo pipefail
cd "$(dirname "$0")"

pg=${SHOP_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
db=${SHOP_BENCH_DB:-shopbench}
runs=${SHOP_BENCH_RUNS:-3}
duration=${SHOP_BENCH_DURATION:-10s}
concurrency=${SHOP_BENCH_CONCURRENCY:-8 32}
pgbench_for=${SHOP_BENCH_PGBENCH:-10s}
addr=${SHOP_ADDR:-127.0.0.1:18080}
if ((runs < 2)); then
  echo "bench-cluster: SHOP_BENCH_RUNS must be 2 or more: the table gives medians" >&2
  exit 2
fi
if ! [[ $db =~ ^[a-z_][a-z0-9_]*$ ]]; then
  echo "bench-cluster: SHOP_BENCH_DB must be a plain lower-case name, not $db" >&2
  exit 2
fi
# The same server and options, database $db.
bench_url=$(printf '%s' "$pg" | sed -E "s#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\1/$db#")

work=$(mktemp -d "${TMPDIR:-/tmp}/microkit-shop-bench.XXXXXX")
cluster=
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$cluster" ]; then
    kill -TERM "$cluster" 2>/dev/null || true
    wait "$cluster" 2>/dev/null || true
  fi
  psql "$pg" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql "$pg" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
bin=${SHOP_BIN:-}
if [ -z "$bin" ]; then
  bin=$work/shop
  go build -o "$bin" .
fi
go build -o "$work/shopload" ./cmd/shopload

SHOP_BIN=$bin SHOP_ADDR=$addr SHOP_PG_URL=$bench_url bash run-cluster.sh -quiet -rate-limit 1000000 -confirm-after 1ms >"$work/cluster.log" 2>&1 &
cluster=$!
for ((i = 0; i < 180; i++)); do
  grep -q "gateway on" "$work/cluster.log" && break
  if ! kill -0 "$cluster" 2>/dev/null; then
    cat "$work/cluster.log" >&2
    echo "bench-cluster: run-cluster.sh exited before the shop was ready" >&2
    exit 1
  fi
  sleep 1
done
gateway=$(sed -n 's/.*gateway on \([^ ]*\).*/\1/p' "$work/cluster.log" | head -1)
if [ -z "$gateway" ]; then
  echo "bench-cluster: the shop was not ready within 180s" >&2
  exit 1
fi

# num PATTERN LINE: the last number in what PATTERN matches first in LINE.
num() { printf '%s\n' "$2" | grep -oE "$1" | head -1 | grep -oE '[0-9]+(\.[0-9]+)?' | tail -1; }
rows=()
for c in $concurrency; do
  echo "bench-cluster: $runs runs of $duration at $c in flight" >&2
  "$work/shopload" -gateway "$gateway" -runs "$runs" -duration "$duration" -concurrency "$c" -pg "$bench_url" \
    >"$work/load-$c.txt" 2>>"$work/shopload.log"
  m=$(grep '^median of' "$work/load-$c.txt")
  rows+=("| $c | $(num '[0-9.]+ orders/s' "$m") | $(num 'p50 [0-9.]+ms' "$m") ms | $(num 'p99 [0-9.]+ms' "$m") ms | $(num '[0-9.]+ failed' "$m") | $(num 'cpu [0-9.]+ms' "$m") ms | $(num '[0-9.]+ transactions/order' "$m") | $(num '[0-9.]+ new sessions/order' "$m") |")
done
kill -TERM "$cluster" 2>/dev/null || true
wait "$cluster" 2>/dev/null || true
cluster=

echo
echo "| in flight | orders/s | p50 | p99 | not answered | machine CPU per order | PostgreSQL transactions per order | new sessions per order |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
echo
echo "(medians of $runs runs of $duration each; every process on the machine counts in the CPU column)"

if [ "$pgbench_for" != 0 ]; then
  secs=${pgbench_for%s}
  psql "$bench_url" -qc "CREATE TABLE bench_insert (id BIGSERIAL PRIMARY KEY, v TEXT NOT NULL)" >/dev/null
  printf 'INSERT INTO bench_insert (v) VALUES (:client_id);\n' >"$work/insert.sql"
  inserts=$(pgbench -n -c 8 -j 2 -T "$secs" -f "$work/insert.sql" "$bench_url" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  pgbench -i -q -s 8 "$bench_url" >/dev/null 2>&1
  tpcb=$(pgbench -n -c 8 -j 2 -T "$secs" "$bench_url" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  echo
  echo "PostgreSQL on this machine (pgbench, 8 clients, $pgbench_for each): ${inserts%.*} one-row insert commits/s, ${tpcb%.*} TPC-B transactions/s"
fi
