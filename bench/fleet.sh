#!/usr/bin/env bash
# Fleet benchmark: the full-scale `midge bench` runs quoted in the README.
# Not a test: it needs a few minutes, a few GB of RAM and loopback to itself.
#
#   1. 50,000 devices over three mosquittos, 3 worker processes, source
#      addresses 127.0.0.2-127.0.0.20, 1,000 commands/s for 10 s;
#   2. as many devices as one mosquitto's descriptor limit allows (the hard
#      RLIMIT_NOFILE minus 500 for the broker's own files), 100 commands/s;
#   3. 10,000 devices online and 1,000 commands/s for 30 s: the round trip.
#      One worker (the default), so devices and commander share one process
#      and one epoll loop: with the broker that is two busy processes for
#      two cores, and no hop of a command waits for a third to give way.
#
# Every run gets fresh brokers (no retained state from the previous one),
# each on a free 127.0.0.1 port with `max_connections -1` (no cap),
# `set_tcp_nodelay true` (as midge sets on its side) and connection
# messages off (150,000 log lines would measure the log, not the broker).
# Every process here, mosquitto included, is held to the same descriptor
# limit, which is why run 1 needs three brokers and three workers.
#
# Usage: bench/fleet.sh [BUILD_DIR]   (default: build-bench/)
# Environment: OUT (default BUILD_DIR/fleet-results/): JSON and PNG of every run.
#   RUNS: the runs to make, by name (default all three):
#   "fleet-50k one-broker-max latency-10k"; e.g. RUNS=latency-10k for run 3 alone.
#   SCHED: a command prefix for mosquitto and midge, e.g. "chrt -f 10" or
#   "nice -n -10" (root), so that background jobs on a shared machine do not
#   land in the latency tail; the report says which was used.
# Targets checked at the end: 50,000 connected; <= 1 KB per idle device;
# >= 10,000 connections/s; p99 <= 2 ms at 10,000 devices and 1,000 cmd/s.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build-bench}"
OUT="${OUT:-$BUILD/fleet-results}"
BIND="127.0.0.2-127.0.0.20"
RUN=()
if [ -n "${SCHED:-}" ]; then read -r -a RUN <<<"$SCHED"; fi
ALL_RUNS="fleet-50k one-broker-max latency-10k"
RUNS="${RUNS:-$ALL_RUNS}"
for name in $RUNS; do
    case " $ALL_RUNS " in
        *" $name "*) ;;
        *) echo "fleet: unknown run '$name' (RUNS takes: $ALL_RUNS)" >&2; exit 2 ;;
    esac
done

for tool in mosquitto cmake python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "fleet: $tool not found" >&2; exit 2; }
done

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target midge_cli >/dev/null
MIDGE="$BUILD/midge"
mkdir -p "$OUT"

WORK="$(mktemp -d)"
BROKERS=()   # pids
PORTS=()
cleanup() {
    stop_brokers
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_broker NAME: one mosquitto on a free port; appends to BROKERS/PORTS.
start_broker() {
    local dir="$WORK/$1" port
    port="$(free_port)"
    mkdir -p "$dir"
    cat >"$dir/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
max_connections -1
set_tcp_nodelay true
persistence false
connection_messages false
log_type error
log_type warning
EOF
    # Started as root, mosquitto drops to its own user: let it read its files.
    if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
        chown -R mosquitto "$dir"
    fi
    "${RUN[@]}" mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
    BROKERS+=("$!")
    PORTS+=("$port")
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "fleet: mosquitto did not start on port $port:" >&2
    cat "$dir/mosquitto.log" >&2
    exit 2
}

stop_brokers() {
    local pid
    for pid in "${BROKERS[@]:-}"; do
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    BROKERS=()
    PORTS=()
}

# selected NAME: whether RUNS names this run.
selected() {
    case " $RUNS " in *" $1 "*) return 0 ;; esac
    return 1
}

# bench NAME ARGS...: one run against the brokers in PORTS; keeps going on
# failure so the other runs are still reported.
bench() {
    local name="$1" hosts=() port
    shift
    for port in "${PORTS[@]}"; do hosts+=(-h "127.0.0.1:$port"); done
    echo "== $name: midge bench ${hosts[*]} $*"
    if ! "${RUN[@]}" "$MIDGE" bench "${hosts[@]}" "$@" --json "$OUT/$name.json" --plot "$OUT/$name.png"; then
        echo "fleet: run $name did not succeed (figures above)" >&2
    fi
    echo
}

echo "fleet benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)," \
     "$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }')"
echo "kernel: $(uname -a)"
echo "$(mosquitto -h 2>/dev/null | head -1); descriptors per process: $(ulimit -Hn) (hard)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); scheduling: ${SCHED:-default}"
echo

# A run left out leaves no stale figures behind for the summary.
for name in $ALL_RUNS; do
    selected "$name" || rm -f "$OUT/$name.json" "$OUT/$name.png"
done

# 1. 50,000 devices: 16,667 per broker and per worker, under 20,000 each.
if selected fleet-50k; then
    start_broker a; start_broker b; start_broker c
    bench fleet-50k --devices 50000 --workers 3 --bind "$BIND" --rate 1000 --duration 10
    stop_brokers
fi

# 2. One broker, as full as its descriptor limit allows.
LIMIT="$(ulimit -Hn)"
N2=$((LIMIT > 1000 ? LIMIT - 500 : 500))
if selected one-broker-max; then
    start_broker a
    bench one-broker-max --devices "$N2" --workers 2 --bind "$BIND" --rate 100 --duration 10
    stop_brokers
fi

# 3. Latency: 10,000 devices, 1,000 commands/s for 30 s.
if selected latency-10k; then
    start_broker a
    bench latency-10k --devices 10000 --bind "$BIND" --rate 1000 --duration 30
    stop_brokers
fi

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" "$N2" "$RUNS" <<'EOF'
import json, os, sys

out, n2, chosen = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()

def load(name):
    try:
        with open(os.path.join(out, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

runs = {name: load(name) for name in ("fleet-50k", "one-broker-max", "latency-10k")
        if name in chosen}
print("\nrun              connected   conn/s  B/device  cmd/s    p50 ms  p99 ms  p99.9 ms  timeouts errors")
for name, r in runs.items():
    if r is None:
        print("%-16s (no figures)" % name)
        continue
    lat = r["latency_us"]
    print("%-16s %9d %8.0f %9.0f %6.0f %9.3f %7.3f %9.3f %9d %6d" % (
        name, r["connected"], r["connections_per_second"], r["bytes_per_device"],
        r["commands_per_second"], lat["p50"] / 1e3, lat["p99"] / 1e3, lat["p99_9"] / 1e3,
        r["timeouts"], r["errors"]))

# A target is judged only when the run it needs was made.
def verdict(run, ok, text):
    if run in runs:
        print("  [%s] %s" % ("met" if ok else "MISSED", text))

print("\ntargets:")
a, b, c = (runs.get(n) for n in ("fleet-50k", "one-broker-max", "latency-10k"))
verdict("fleet-50k", a is not None and a["connected"] == 50000,
        "50,000 connected over three mosquittos: %s" % (a and a["connected"]))
worst = max((r["bytes_per_device"] for r in runs.values() if r), default=0)
print("  [%s] <= 1 KB of midge memory per idle device: worst %.0f B" % (
    "met" if 0 < worst <= 1024 else "MISSED", worst))
rate = a["connections_per_second"] if a else 0
verdict("fleet-50k", rate >= 10000,
        ">= 10,000 connections/s while connecting (50k run): %.0f/s" % rate)
p99 = c["latency_us"]["p99"] / 1e3 if c else float("inf")
verdict("latency-10k", p99 <= 2.0,
        "p99 <= 2 ms with 10,000 devices and 1,000 cmd/s: %.3f ms" % p99)
verdict("one-broker-max", b is not None and b["connected"] == n2,
        "one mosquitto at its descriptor limit: %s of %d" % (b and b["connected"], n2))
EOF
echo "JSON and plots: $OUT"
