#!/usr/bin/env bash
# run.sh reproduces the table of ratios to rival libraries in
# docs/benchmarks.md. It builds this module's benchmarks once, runs them in
# interleaved rounds (in each round every system runs once, in a shuffled
# order, so that a busy or a quiet moment of the machine does not always fall
# on the same one), and prints, for each comparison, the median of each side
# and the median and range of the per-round ratios microkit / rival.
#
#   bench/run.sh                           # every group, 8 rounds
#   bench/run.sh -rounds 12 breaker eventbus
#   bench/run.sh -rounds 1 -benchtime 10x  # smoke test: a few ops each
#
# Options:
#   -rounds N      rounds (default 8); the figures in docs/benchmarks.md use 8 to 24
#   -benchtime D   override every benchmark's -test.benchtime (e.g. 10x, 100ms)
#   -out DIR       where to keep the raw output (default: a new temporary
#                  directory): rounds.txt tags each line with its round,
#                  benchstat.txt is plain `go test -bench` output for benchstat
#
# Groups (default: all but gateway-inprocess):
#   breaker tracing eventbus rabbitbus redisbus sqlbus discovery gateway
#   gateway-inprocess
#   console (microkit with and without an operator's console registered)
#
# rabbitbus needs a RabbitMQ server at MICROKIT_RABBITMQ_URL
# (amqp://guest:guest@127.0.0.1:5672/ locally), redisbus a Redis server at
# MICROKIT_REDIS_ADDR (127.0.0.1:6379 locally), sqlbus a PostgreSQL
# database at MICROKIT_POSTGRES_URL (each run in a schema of its own,
# dropped after it); eventbus starts its own
# nats-server. A full run takes about 2 minutes a round on 2 cores and uses
# every core: run it on a machine that is otherwise idle.
set -euo pipefail
cd "$(dirname "$0")"
self=$PWD/$(basename "$0")

rounds=8
benchtime=
out=
groups=()
while [ $# -gt 0 ]; do
  case $1 in
    -rounds) rounds=$2; shift 2 ;;
    -benchtime) benchtime=$2; shift 2 ;;
    -out) out=$2; shift 2 ;;
    -h | -help | --help) sed -n '2,/^set -e/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) groups+=("$1"); shift ;;
  esac
done
[ ${#groups[@]} -gt 0 ] || groups=(breaker tracing eventbus rabbitbus redisbus sqlbus discovery gateway console)
[ -n "$out" ] || out=$(mktemp -d)
mkdir -p "$out"
trap 'rm -f "$out/bench.test" "$out/job.txt"' EXIT

jobs=()        # one process each: benchtime, -test.bench regexp, extra flags (tab-separated)
comparisons=() # "microkit name|metric|rival name|metric", names without "Benchmark"

job() { jobs+=("$1"$'\t'"$2"$'\t'"${3:-}"); }
cmp() { comparisons+=("$1|$2|$3|${4:-$2}"); }

for g in "${groups[@]}"; do
  case $g in
    breaker)
      job 300ms '^BenchmarkBreaker(Serial|Parallel)$' '-test.cpu 1,2'
      for f in BreakerSerial BreakerParallel; do
        for v in microkit-count microkit-time microkit-count-slow; do
          for r in gobreaker failsafe; do cmp "$f/$v" ns/op "$f/$r"; done
        done
      done ;;
    tracing)
      for s in noop sdk; do
        for side in microkit otel-by-hand; do
          job 200000x "^BenchmarkTracingDo\$/^$s\$/^$side\$" '-test.cpu 1'
          for k in publish process; do
            job 200000x "^BenchmarkTracingMessage\$/^$s\$/^$k\$/^$side\$" '-test.cpu 1'
          done
        done
        cmp "TracingDo/$s/microkit" ns/op "TracingDo/$s/otel-by-hand"
        for k in publish process; do
          cmp "TracingMessage/$s/$k/microkit" ns/op "TracingMessage/$s/$k/otel-by-hand"
        done
      done ;;
    eventbus)
      job 20000x '^BenchmarkEventbusNATSThroughput$'
      job 200000x '^BenchmarkEventbusMemoryThroughput$'
      job 3000x '^BenchmarkEventbusLatency$'
      cmp EventbusNATSThroughput/natsbus msgs/s EventbusNATSThroughput/jetstream
      cmp EventbusNATSThroughput/natsbus msgs/s EventbusNATSThroughput/watermill
      cmp EventbusMemoryThroughput/memory msgs/s EventbusMemoryThroughput/gochannel
      cmp EventbusLatency/natsbus p99-µs EventbusLatency/jetstream
      cmp EventbusLatency/memory p99-µs EventbusLatency/gochannel
      # Batch handlers against single-message ones, on the same adapter.
      for a in memory natsbus; do
        job 5000x "^BenchmarkEventbusBatch\$/^$a\$"
        for w in insert insert-loopback noop noop-chain; do
          cmp "EventbusBatch/$a/$w/batch" msgs/s "EventbusBatch/$a/$w/single"
        done
      done ;;
    rabbitbus)
      if [ -z "${MICROKIT_RABBITMQ_URL:-}" ]; then
        echo "run.sh: rabbitbus skipped: MICROKIT_RABBITMQ_URL is unset" >&2
        continue
      fi
      job 20000x '^BenchmarkRabbitPublishBatch$/^microkit$'
      job 20000x '^BenchmarkRabbitPublishBatch$/^amqp091$'
      job 2000x '^BenchmarkRabbitPublishBatch$/^watermill$'
      job 1500x '^BenchmarkRabbitInterleaved$'
      job 10000x '^BenchmarkRabbitInterleavedNoDisk$'
      for s in microkit amqp091 watermill; do
        job 4000x "^BenchmarkRabbitPublishConcurrent\$/^$s\$"
      done
      for r in amqp091 watermill; do
        cmp RabbitPublishBatch/microkit msgs/s "RabbitPublishBatch/$r"
        cmp RabbitInterleaved microkit-ns/msg RabbitInterleaved "$r-ns/msg"
        cmp RabbitInterleavedNoDisk microkit-ns/msg RabbitInterleavedNoDisk "$r-ns/msg"
        cmp RabbitPublishConcurrent/microkit msgs/s "RabbitPublishConcurrent/$r"
      done ;;
    redisbus)
      if [ -z "${MICROKIT_REDIS_ADDR:-}" ]; then
        echo "run.sh: redisbus skipped: MICROKIT_REDIS_ADDR is unset" >&2
        continue
      fi
      # watermill-redisstream is an order of magnitude slower per message
      # in batches: fewer ops keep its rounds as long as redisbus's.
      for b in RedisPublish RedisConsume; do
        job 20000x "^Benchmark$b\$/^redisbus\$"
        job 3000x "^Benchmark$b\$/^watermill\$"
        cmp "$b/redisbus" msgs/s "$b/watermill"
      done
      job 3000x '^BenchmarkRedisInterleaved$'
      for s in redisbus watermill; do
        job 30000x "^BenchmarkRedisPublishConcurrent\$/^$s\$"
      done
      cmp RedisPublishConcurrent/redisbus msgs/s RedisPublishConcurrent/watermill
      job 5000x '^BenchmarkRedisThroughput$'
      cmp RedisInterleaved redisbus-ns/msg RedisInterleaved watermill-ns/msg
      cmp RedisThroughput/redisbus msgs/s RedisThroughput/watermill ;;
    sqlbus)
      if [ -z "${MICROKIT_POSTGRES_URL:-}" ]; then
        echo "run.sh: sqlbus skipped: MICROKIT_POSTGRES_URL is unset" >&2
        continue
      fi
      for s in sqlbus watermill-sql; do
        job 2000x "^BenchmarkSQLBusPublish\$/^$s\$"
        job 20000x "^BenchmarkSQLBusPublishBatch\$/^$s\$"
        job 10000x "^BenchmarkSQLBusConsume\$/^$s\$"
      done
      for b in SQLBusPublish SQLBusPublishBatch SQLBusConsume; do
        cmp "$b/sqlbus" msgs/s "$b/watermill-sql"
      done ;;
    discovery)
      job 100ms '^BenchmarkDiscoveryPick$' '-test.cpu 1,2'
      for b in RoundRobin Random; do cmp "DiscoveryPick/microkit/$b" ns/op "DiscoveryPick/gokit/$b"; done ;;
    console)
      job 300ms '^BenchmarkBreakerSerial$/^microkit-count(-console)?$' '-test.cpu 1'
      job 100ms '^BenchmarkDiscoveryPick$/^microkit$/^RoundRobin(-console)?$' '-test.cpu 2'
      cmp BreakerSerial/microkit-count-console ns/op BreakerSerial/microkit-count
      cmp DiscoveryPick/microkit/RoundRobin-console ns/op DiscoveryPick/microkit/RoundRobin ;;
    gateway | gateway-inprocess)
      bench=BenchmarkGatewayIsolated
      [ "$g" = gateway ] || bench=BenchmarkGateway
      for v in bare-reverseproxy microkit-full-chain microkit-server-span-only microkit-no-tracing microkit-proxy-only; do
        job 1500ms "^$bench\$/^$v\$"
      done
      for v in microkit-full-chain microkit-server-span-only microkit-no-tracing microkit-proxy-only; do
        for m in req/s p99-µs; do cmp "${bench#Benchmark}/$v" "$m" "${bench#Benchmark}/bare-reverseproxy"; done
      done ;;
    *) echo "run.sh: unknown group $g" >&2; exit 2 ;;
  esac
done

echo "building the benchmarks..." >&2
go test -c -o "$out/bench.test" .

: >"$out/rounds.txt"
for ((r = 1; r <= rounds; r++)); do
  echo "round $r of $rounds" >&2
  # A shuffled order per round (awk rather than shuf, which not every system has).
  while IFS=$'\t' read -r bt re extra; do
    [ -n "$benchtime" ] && bt=$benchtime
    # shellcheck disable=SC2086 # extra is a list of flags
    "$out/bench.test" -test.run '^$' -test.bench "$re" -test.benchtime "$bt" -test.benchmem $extra \
      >"$out/job.txt" 2>&1 || { cat "$out/job.txt" >&2; exit 1; }
    grep -E '^Benchmark' "$out/job.txt" | sed "s/^/round=$r /" >>"$out/rounds.txt" || true
  done < <(printf '%s\n' "${jobs[@]}" | awk -v seed="$RANDOM" 'BEGIN { srand(seed) } { print rand() "\t" $0 }' | sort -k1,1 | cut -f2-)
done
sed 's/^round=[0-9]* //' "$out/rounds.txt" >"$out/benchstat.txt"

printf '%s\n' "${comparisons[@]}" | awk -v rounds_file="$out/rounds.txt" '
# median of a[1..n] (sorted in place).
function median(a, n,    i, j, t) {
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function num(x) { return x >= 100 ? sprintf("%.0f", x) : x >= 1 ? sprintf("%.3g", x) : sprintf("%.3f", x) }
BEGIN {
  while ((getline line < rounds_file) > 0) {
    nf = split(line, f, /[ \t]+/)
    round = substr(f[1], 7); name = substr(f[2], 10); cpu = 1
    if (match(name, /-[0-9]+$/)) { cpu = substr(name, RSTART + 1); name = substr(name, 1, RSTART - 1) }
    cpus[cpu] = 1; if (round + 0 > maxround) maxround = round + 0
    for (i = 4; i < nf; i += 2) v[name, cpu, f[i + 1], round] = f[i]
  }
  printf "%-58s %-32s %3s %12s %12s %9s  %-22s %s\n", "microkit vs rival", "metric", "cpu", "microkit", "rival", "ratio", "range (rounds)", "allocs/op"
}
{
  split($0, c, "|")
  for (cpu in cpus) {
    n = 0; nm = 0; nr = 0; nma = 0; nra = 0; lo = ""; hi = ""
    for (r = 1; r <= maxround; r++) {
      if ((c[1], cpu, c[2], r) in v) mk[++nm] = v[c[1], cpu, c[2], r]
      if ((c[3], cpu, c[4], r) in v) rv[++nr] = v[c[3], cpu, c[4], r]
      if ((c[1], cpu, "allocs/op", r) in v) ma[++nma] = v[c[1], cpu, "allocs/op", r]
      if ((c[3], cpu, "allocs/op", r) in v) ra[++nra] = v[c[3], cpu, "allocs/op", r]
      if (((c[1], cpu, c[2], r) in v) && ((c[3], cpu, c[4], r) in v) && v[c[3], cpu, c[4], r] + 0 != 0) {
        x = v[c[1], cpu, c[2], r] / v[c[3], cpu, c[4], r]; ratio[++n] = x
        if (lo == "" || x < lo) lo = x; if (hi == "" || x > hi) hi = x
      }
    }
    if (n == 0) continue
    label = c[1] " / " c[3]
    if (c[1] == c[3]) label = c[1]
    else if (match(c[1], /.*\//) && substr(c[3], 1, RLENGTH) == substr(c[1], 1, RLENGTH))
      label = substr(c[1], 1, RLENGTH - 1) ": " substr(c[1], RLENGTH + 1) " / " substr(c[3], RLENGTH + 1)
    metric = c[2] == c[4] ? c[2] : c[2] " / " c[4]
    allocs = nma && nra ? num(median(ma, nma)) " / " num(median(ra, nra)) : "-"
    printf "%-58s %-32s %3s %12s %12s %8.3fx  %-22s %s\n", label, metric, cpu, num(median(mk, nm)), num(median(rv, nr)), median(ratio, n), sprintf("%.3f-%.3f (%d)", lo, hi, n), allocs
    shown++
  }
}
END {
  if (!shown) print "no comparison has data (a group whose server is not configured is skipped)"
  print ""
  print "ratio: median over rounds of microkit / rival for the metric (ns/op and p99: lower is better; msgs/s and req/s: higher is better)"
}'
echo "raw output: $out/benchstat.txt (benchstat reads it)" >&2
