#!/usr/bin/env bash
# run-cluster.sh starts the shop as separate processes of one binary, one
# or more instances per service behind discovery and one gateway, against
# NATS JetStream (a server of yours, or a cluster the script starts), a
# Consul agent and PostgreSQL (one schema per service, shared by its
# instances). It prints the gateway's URL once every instance is ready, and
# Ctrl-C stops everything gracefully: the gateway first, then each service
# deregistering and draining, then the NATS servers it started; nothing is
# left behind but the data in PostgreSQL.
#
#   examples/shop/run-cluster.sh                        # one instance each
#   SHOP_INSTANCES=2 SHOP_NATS_CLUSTER=3 examples/shop/run-cluster.sh -rate-limit 1000000
#
# Arguments are passed to every process (see `go run ./examples/shop -h`).
# Environment (defaults in brackets):
#   SHOP_INSTANCES     instances of each service [1]
#   SHOP_NATS_CLUSTER  start a JetStream cluster of this many nats-server
#                      processes on free loopback ports, the stream kept on
#                      min(3, n) of them [0: use SHOP_NATS_URL]
#   SHOP_NATS_URL      [nats://127.0.0.1:4222]
#   CONSUL_HTTP_ADDR   [127.0.0.1:8500]
#   SHOP_PG_URL        [postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable]
#   SHOP_ADDR          gateway address [127.0.0.1:8080]
#   SHOP_PREFIX        prefix of service names, schemas and the stream [none]
#   SHOP_BIN           a built shop binary [built from this directory]
#   SHOP_READY_TIMEOUT seconds to wait for every instance to be ready [90]
#   GOMAXPROCS         of each shop process [the machine's cores shared out
#                      over the shop's processes, rounded up]
set -euo pipefail
cd "$(dirname "$0")"

instances=${SHOP_INSTANCES:-1}
nats_nodes=${SHOP_NATS_CLUSTER:-0}
nats_url=${SHOP_NATS_URL:-nats://127.0.0.1:4222}
consul=${CONSUL_HTTP_ADDR:-127.0.0.1:8500}
pg=${SHOP_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
gateway_addr=${SHOP_ADDR:-127.0.0.1:8080}
prefix=${SHOP_PREFIX:-}
ready_timeout=${SHOP_READY_TIMEOUT:-90}
schema_prefix=$(printf '%s' "${prefix:-shop_}" | tr -- '-' '_')
services=(user product payment notification order)

dir=$(mktemp -d "${TMPDIR:-/tmp}/microkit-shop-cluster.XXXXXX")
pids=()     # shop processes, in start order
names=()    # their names, as "order-2"
nats_pids=()
stopping=
stop() {
  local status=$?
  trap - INT TERM EXIT
  if ((status != 0)) && [ -z "$stopping" ]; then
    # Something failed: show what the processes said before it goes.
    for f in "$dir"/*.log "$dir"/*.out; do
      [ -s "$f" ] && { echo "--- ${f##*/}:"; tail -n 20 "$f"; } >&2
    done
  fi
  echo "stopping..."
  # The gateway first (started last), then the services, each draining
  # and deregistering.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  for i in "${nats_pids[@]}"; do
    kill -TERM "$i" 2>/dev/null || true
    wait "$i" 2>/dev/null || true
  done
  rm -rf "$dir"
  echo "stopped"
}
trap 'stopping=1' INT TERM
trap stop EXIT

bin=${SHOP_BIN:-}
if [ -z "$bin" ]; then
  bin=$dir/shop
  go build -o "$bin" .
fi

# free_port sets port to a loopback port nothing listens on and no earlier
# call picked, below Linux's ephemeral range (32768 and up), so that no
# outgoing connection takes it before the server binds it.
picked=" "
free_port() {
  while :; do
    port=$((20000 + RANDOM % 12000))
    [[ $picked == *" $port "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      picked+="$port "
      return
    fi
  done
}

# wait_for SECONDS WHAT COMMAND...: run COMMAND until it succeeds.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 5; i++)); do
    [ -n "$stopping" ] && exit 130
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "run-cluster: $what: not within ${secs}s" >&2
  exit 1
}

replicas=1
if ((nats_nodes > 0)); then
  ports=() routes=() mons=()
  for ((i = 0; i < nats_nodes; i++)); do
    free_port && ports+=("$port")
    free_port && routes+=("$port")
    free_port && mons+=("$port")
  done
  urls=()
  for ((i = 0; i < nats_nodes; i++)); do
    peers=()
    for ((j = 0; j < nats_nodes; j++)); do
      ((j != i)) && peers+=("nats://127.0.0.1:${routes[j]}")
    done
    peer_list=$(IFS=,; echo "${peers[*]:-}")
    setsid nats-server -a 127.0.0.1 -p "${ports[i]}" -m "${mons[i]}" -n "n$((i + 1))" \
      -js -sd "$dir/nats/n$((i + 1))" --cluster_name shop \
      --cluster "nats://127.0.0.1:${routes[i]}" ${peer_list:+--routes "$peer_list"} \
      >"$dir/nats-n$((i + 1)).log" 2>&1 &
    nats_pids+=($!)
    urls+=("nats://127.0.0.1:${ports[i]}")
  done
  nats_url=$(IFS=,; echo "${urls[*]}")
  for ((i = 0; i < nats_nodes; i++)); do
    wait_for 60 "nats-server n$((i + 1)) ready for JetStream" curl -sf "http://127.0.0.1:${mons[i]}/healthz"
  done
  replicas=$((nats_nodes < 3 ? nats_nodes : 3))
  echo "NATS JetStream cluster of $nats_nodes on $nats_url, stream kept on $replicas"
fi

sep='?'
[[ $pg == *\?* ]] && sep='&'

# A Go process sizes its scheduler to every core of the machine. Several on
# few cores then each keep threads awake looking for work, which costs the
# machine's CPU; the shop's six processes on 2 cores spent about a tenth
# less per order with one scheduler slot each. So the cores are shared out.
cores=$(nproc 2>/dev/null || echo 1)
shop_procs=$((${#services[@]} * instances + 1))
gomaxprocs=${GOMAXPROCS:-$(((cores + shop_procs - 1) / shop_procs))}

# start NAME ARGS...: start a shop process and wait until it serves, so
# that the instances of one service never migrate its schema at once.
start() {
  local name=$1
  shift
  SHOP_NATS_URL=$nats_url CONSUL_HTTP_ADDR=$consul GOMAXPROCS=$gomaxprocs \
    setsid "$bin" -prefix "$prefix" -quiet "$@" >"$dir/$name.out" &
  pids+=($!)
  names+=("$name")
  wait_for 60 "$name serving" grep -q ' serving on ' "$dir/$name.out"
}

for ((n = 1; n <= instances; n++)); do
  for svc in "${services[@]}"; do
    name=$svc
    ((n > 1)) && name=$svc-$n
    start "$name" -service "$svc" -addr 127.0.0.1:0 -stream-replicas "$replicas" \
      -dsn "${pg}${sep}search_path=${schema_prefix}${svc}" "$@"
  done
done

# passing NAME N: Consul has N passing instances of service NAME.
passing() {
  local n
  n=$(curl -sf "http://$consul/v1/health/service/$1?passing" | grep -o '"ServiceID": *"[^"]\+"' | sort -u | wc -l)
  ((n >= $2))
}
for svc in "${services[@]}" product-grpc; do
  [ "$svc" = product-grpc ] || svc=$svc-service
  wait_for "$ready_timeout" "$instances ready instances of $prefix$svc" passing "$prefix$svc" "$instances"
done

start gateway -service gateway -addr "$gateway_addr" "$@"
gateway_url=$(sed -n 's/.* serving on //p' "$dir/gateway.out" | head -1)
wait_for "$ready_timeout" "the gateway reaching the product-service" curl -sf "$gateway_url/api/products"

echo "shop cluster: $instances instance(s) of each service; gateway on $gateway_url (Ctrl-C stops)"
while [ -z "$stopping" ]; do
  if ! wait -n "${pids[@]}"; then
    :
  fi
  [ -n "$stopping" ] && break
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
      echo "run-cluster: ${names[i]} exited; stopping the others" >&2
      exit 1
    fi
  done
done
