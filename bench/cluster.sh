#!/usr/bin/env bash
# `midge bench` across a three-node RabbitMQ cluster on loopback
# (tests/cluster/rabbitmq-cluster.sh, fresh for each size), beside the same
# bench on one mosquitto, in the same session. Not a test: minutes of runs.
#
# For each fleet size: devices spread over the three nodes (device g on
# node g % 3, failing over through the list rotated to start there), the
# commander's connection to each node, `--rate` commands per second for
# `--duration` seconds. Memory on the brokers' side: the resident size of
# every broker process, sampled each second during the run; its peak above
# the idle value before the run, per connection. On midge's side: the
# bench's own figure (bytes per connected device).
#
# Usage: bench/cluster.sh [BUILD_DIR]   (default: build-bench/)
# Environment:
#   SIZES   fleet sizes (default "1000 10000")
#   RATE    commands per second (default 100); DURATION seconds (default 20)
#   OUT     where the JSON of every run goes (default BUILD_DIR/cluster-results/)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build-bench}"
OUT="${OUT:-$BUILD/cluster-results}"
SIZES="${SIZES:-1000 10000}"
RATE="${RATE:-100}"
DURATION="${DURATION:-20}"
BIND="127.0.0.2-127.0.0.20"
CLUSTER="$ROOT/tests/cluster/rabbitmq-cluster.sh"

for tool in mosquitto cmake python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "cluster: $tool not found" >&2; exit 2; }
done
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || { echo "cluster: rabbitmq-server not installed" >&2; exit 2; }

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target midge_cli >/dev/null
MIDGE="$BUILD/midge"
mkdir -p "$OUT"

WORK="$(mktemp -d)"
MOSQ_PID=""
cleanup() {
    bash "$CLUSTER" stop "$WORK/rabbit" 2>/dev/null || true
    [ -n "$MOSQ_PID" ] && kill "$MOSQ_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# Resident KiB of the given processes, summed.
rss_kib() {
    local pid sum=0 v
    for pid in "$@"; do
        v="$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

# run NAME SIZE PIDS...: the bench against $HOSTS while sampling the RSS
# of PIDS; writes $OUT/NAME.json and NAME.rss (idle KiB, peak KiB).
run() {
    local name="$1" size="$2" idle peak now workers
    shift 2
    workers=$(( (size + 15999) / 16000 ))
    idle="$(rss_kib "$@")"
    peak="$idle"
    echo "== $name: midge bench -h $HOSTS --devices $size --workers $workers --rate $RATE --duration $DURATION"
    "$MIDGE" bench -h "$HOSTS" --devices "$size" --workers "$workers" --bind "$BIND" \
        --rate "$RATE" --duration "$DURATION" --connect-time $((60 + size / 20)) \
        --json "$OUT/$name.json" &
    local bench=$!
    while kill -0 "$bench" 2>/dev/null; do
        now="$(rss_kib "$@")"
        [ "$now" -gt "$peak" ] && peak="$now"
        sleep 1
    done
    wait "$bench" || echo "cluster: run $name did not succeed (figures above)" >&2
    echo "$idle $peak" >"$OUT/$name.rss"
    echo
}

echo "cluster benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo);" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "RabbitMQ $(dpkg-query -W -f='${Version}' rabbitmq-server | cut -d- -f1)," \
     "$(mosquitto -h 2>/dev/null | head -1 | cut -d' ' -f1-3)"
echo

for size in $SIZES; do
    rm -rf "$WORK/rabbit"
    HOSTS="$(bash "$CLUSTER" start "$WORK/rabbit")"
    PIDS=()
    for f in "$WORK"/rabbit/n*/rabbitmq.pid; do PIDS+=("$(tr -d ' \n' <"$f")"); done
    run "rabbitmq-$size" "$size" "${PIDS[@]}"
    bash "$CLUSTER" stop "$WORK/rabbit"

    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    mkdir -p "$WORK/mosq"
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_connections -1\nset_tcp_nodelay true\npersistence false\nconnection_messages false\nlog_type error\n' \
        "$port" >"$WORK/mosq/mosquitto.conf"
    if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then chown -R mosquitto "$WORK/mosq"; fi
    mosquitto -c "$WORK/mosq/mosquitto.conf" >"$WORK/mosq/log" 2>&1 &
    MOSQ_PID=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    HOSTS="127.0.0.1:$port"
    run "mosquitto-$size" "$size" "$MOSQ_PID"
    kill "$MOSQ_PID"; wait "$MOSQ_PID" 2>/dev/null || true
    MOSQ_PID=""
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" "$SIZES" <<'EOF'
import json, os, sys
out, sizes = sys.argv[1], sys.argv[2].split()
print("\nbroker              devices connected  conn/s  midge B/device  broker KiB/conn  p50 ms  p99 ms  timeouts errors")
for size in sizes:
    for broker in ("rabbitmq", "mosquitto"):
        name = "%s-%s" % (broker, size)
        try:
            r = json.load(open(os.path.join(out, name + ".json")))
            idle, peak = map(int, open(os.path.join(out, name + ".rss")).read().split())
        except (OSError, ValueError):
            print("%-18s %8s (no figures)" % (broker, size))
            continue
        lat = r["latency_us"]
        per = (peak - idle) / max(r["connected"], 1)
        print("%-18s %8s %9d %7.0f %15.0f %16.1f %7.3f %7.3f %9d %6d" % (
            broker + (" x3" if broker == "rabbitmq" else ""), size, r["connected"],
            r["connections_per_second"], r["bytes_per_device"], per,
            lat["p50"] / 1e3, lat["p99"] / 1e3, r["timeouts"], r["errors"]))
EOF
