#!/usr/bin/env bash
# run-cluster.sh starts the shop as separate processes, one per service, of
# the same binary, against a NATS server with JetStream, a Consul agent and
# PostgreSQL (one schema per service). Ctrl-C stops them all gracefully.
#
#   examples/shop/run-cluster.sh
#
# Environment (defaults in brackets):
#   SHOP_NATS_URL     [nats://127.0.0.1:4222]
#   CONSUL_HTTP_ADDR  [127.0.0.1:8500]
#   SHOP_PG_URL       [postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable]
#   SHOP_ADDR         gateway address [127.0.0.1:8080]
#   SHOP_PREFIX       prefix of service names, schemas and the stream [none]
set -euo pipefail
cd "$(dirname "$0")"

nats_url=${SHOP_NATS_URL:-nats://127.0.0.1:4222}
consul=${CONSUL_HTTP_ADDR:-127.0.0.1:8500}
pg=${SHOP_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
gateway_addr=${SHOP_ADDR:-127.0.0.1:8080}
prefix=${SHOP_PREFIX:-}
schema_prefix=$(printf '%s' "${prefix:-shop_}" | tr -- '-' '_')

bin=$(mktemp -d)/shop
go build -o "$bin" .

pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping..."
  # The gateway first, then the services, each draining and deregistering.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -f "$bin"
}
trap stop INT TERM EXIT

sep='?'
[[ $pg == *\?* ]] && sep='&'
for svc in user product payment notification order; do
  SHOP_NATS_URL=$nats_url CONSUL_HTTP_ADDR=$consul \
    "$bin" -service "$svc" -prefix "$prefix" -addr 127.0.0.1:0 -quiet \
    -dsn "${pg}${sep}search_path=${schema_prefix}${svc}" &
  pids+=($!)
done
CONSUL_HTTP_ADDR=$consul "$bin" -service gateway -prefix "$prefix" -addr "$gateway_addr" -quiet &
pids+=($!)

echo "shop cluster: gateway on http://$gateway_addr (Ctrl-C stops)"
wait -n "${pids[@]}" || true
echo "a service exited; stopping the others" >&2
