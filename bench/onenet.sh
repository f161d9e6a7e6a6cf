#!/usr/bin/env bash
# The OneNET platform plugin under load, beside a plain mosquitto in the
# same run: `midge bench --profile onenet` (1,000 devices logging in with
# registry identities, commanded by an operator through the plugin) against
# mosquitto with plugins/mosquitto-onenet, and `midge bench` (the mqtt
# profile) against the same mosquitto without it. Not a test: a minute or
# two of timed runs, best on an idle machine.
#
# Every run gets a fresh broker with the same settings: `max_connections
# -1`, `set_tcp_nodelay true` (as midge sets on its side), no persistence,
# connection messages off. First memory: for each broker an idle fleet
# (`--rate 0`, 3 s), the broker's resident size read from /proc before the
# bench and every 100 ms while it runs; its growth over the devices is the
# broker's memory per device, and the plugin's per device the difference
# between the two brokers'. The plugin's registry, read before anyone
# connects, shows in the plugin broker's size at start. Then the round
# trip: ROUNDS rounds of both, in alternating order (so neither always
# goes first on a warmer machine).
#
# Usage: bench/onenet.sh [BUILD_DIR]   (default: build-bench/)
# Environment: DEVICES (1000), RATE commands/s (200), DURATION seconds (20),
#   ROUNDS (3), OUT (BUILD_DIR/onenet-results/: the JSON of every run),
#   SCHED: a command prefix for mosquitto and midge (e.g. "nice -n -10").
# Target checked at the end: the plugin's command round trip p99 at most
# 1.2x the plain broker's (the medians over the rounds).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build-bench}"
OUT="${OUT:-$BUILD/onenet-results}"
DEVICES="${DEVICES:-1000}"
RATE="${RATE:-200}"
DURATION="${DURATION:-20}"
ROUNDS="${ROUNDS:-3}"
PRODUCT=91025
RUN=()
if [ -n "${SCHED:-}" ]; then read -r -a RUN <<<"$SCHED"; fi

for tool in mosquitto cmake python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "onenet: $tool not found" >&2; exit 2; }
done
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target midge_cli mosquitto_onenet \
    >/dev/null
MIDGE="$BUILD/midge"
PLUGIN="$BUILD/plugins/mosquitto-onenet/mosquitto_onenet.so"
[ -f "$PLUGIN" ] || { echo "onenet: $PLUGIN not built (mosquitto-dev missing?)" >&2; exit 2; }
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.rss

WORK="$(mktemp -d)"
chmod 0755 "$WORK"
BROKER=""
SAMPLER=""
cleanup() {
    [ -z "$SAMPLER" ] || { kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; }
    [ -z "$BROKER" ] || { kill "$BROKER" 2>/dev/null || true; wait "$BROKER" 2>/dev/null || true; }
    rm -rf "$WORK"
}
trap cleanup EXIT

# A master key for this run only; it never leaves the work directory.
MASTER_KEY="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
MASTER_KEY="$MASTER_KEY" "$ROOT/bench/onenet-registry.sh" "$WORK/registry.ini" "$DEVICES" 1 \
    bench "$PRODUCT"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
# mosquitto is run with SCHED's prefix, as midge is.
BROKER_ON=(${RUN[@]+"${RUN[@]}"})

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# start_broker plain|onenet: a fresh mosquitto on a free port (PORT, BROKER),
# its log in $WORK/mosquitto.log. With the plugin, allow_anonymous plays no
# part: the plugin decides every login.
start_broker() {
    local extra=("max_connections -1" "set_tcp_nodelay true" "connection_messages false"
                 "log_type error" "log_type warning")
    if [ "$1" = onenet ]; then
        extra+=("plugin $PLUGIN" "plugin_opt_registry $WORK/registry.ini")
    fi
    bench_start_broker onenet "${extra[@]}"
    BROKER="$BROKER_PID"
}

stop_broker() {
    kill "$BROKER" 2>/dev/null || true
    wait "$BROKER" 2>/dev/null || true
    BROKER=""
}

# one NAME plain|onenet mqtt|onenet [RATE DURATION]: a bench of the
# profile against a fresh broker (plain, or with the plugin), the broker's
# RSS sampled; the figures in OUT/NAME.json and OUT/NAME.rss.
one() {
    local name="$1" kind="$2" profile="$3" args=() rate="${4:-$RATE}" duration="${5:-$DURATION}"
    start_broker "$kind"
    sleep 0.3 # the broker settles (the plugin has read its registry)
    echo "start $(rss_kb "$BROKER")" >"$OUT/$name.rss"
    (
        peak=0
        while kill -0 "$BROKER" 2>/dev/null; do
            kb="$(rss_kb "$BROKER")"
            [ "${kb:-0}" -gt "$peak" ] && peak="$kb" && echo "peak $peak" >>"$OUT/$name.rss"
            sleep 0.1
        done
    ) &
    SAMPLER=$!
    if [ "$profile" = onenet ]; then
        args=(--profile onenet --product-id "$PRODUCT" -P "$MASTER_KEY")
    fi
    echo "== $name: midge bench -h 127.0.0.1:$PORT --devices $DEVICES --rate $rate" \
         "--duration $duration ${args[0]:+--profile onenet --product-id $PRODUCT -P ********}"
    if ! ${RUN[@]+"${RUN[@]}"} "$MIDGE" bench -h "127.0.0.1:$PORT" --devices "$DEVICES" \
        --rate "$rate" --duration "$duration" ${args[@]+"${args[@]}"} --json "$OUT/$name.json"; then
        echo "onenet: run $name did not succeed (figures above)" >&2
    fi
    kill "$SAMPLER" 2>/dev/null || true
    wait "$SAMPLER" 2>/dev/null || true
    SAMPLER=""
    if grep -q "onenet:" "$WORK/mosquitto.log" 2>/dev/null; then
        echo "-- the plugin's log:"; grep "onenet:" "$WORK/mosquitto.log" | head -5
    fi
    stop_broker
    echo
}

echo "onenet platform benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)," \
     "$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }')"
echo "kernel: $(uname -r); $(mosquitto -h 2>/dev/null | head -1)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); scheduling: ${SCHED:-default}"
echo "$DEVICES devices, $RATE commands/s for $DURATION s, $ROUNDS rounds"
echo

# Memory: idle fleets. The onenet devices on a plain broker (no plugin to
# check them: it takes any login) make the plugin's own share visible.
one mem-plain plain mqtt 0 3
one mem-plain-onenet plain onenet 0 3
one mem-onenet onenet onenet 0 3
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then
        one "plain-$round" plain mqtt; one "onenet-$round" onenet onenet
    else
        one "onenet-$round" onenet onenet; one "plain-$round" plain mqtt
    fi
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" "$ROUNDS" "$DEVICES" <<'EOF'
import json, os, statistics, sys

out, rounds, devices = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def load(name):
    try:
        with open(os.path.join(out, name + ".json")) as f:
            r = json.load(f)
        rss = {}
        with open(os.path.join(out, name + ".rss")) as f:
            for line in f:
                k, v = line.split()
                rss[k] = int(v)  # the last "peak" line is the highest
        r["broker_start_kb"] = rss.get("start", 0)
        r["broker_peak_kb"] = max(rss.get("peak", 0), rss.get("start", 0))
        return r
    except (OSError, ValueError):
        return None

KINDS = ("plain", "onenet")
NAMES = {"plain": "mqtt", "onenet": "onenet"}
MEM = (("plain", "plain mosquitto, mqtt devices"),
       ("plain-onenet", "plain mosquitto, onenet devices"),
       ("onenet", "with the plugin, onenet devices"))
mem = {k: load("mem-%s" % k) for k, _ in MEM}
runs = {(k, i): load("%s-%d" % (k, i)) for k in KINDS for i in range(1, rounds + 1)}

print("\nmemory, an idle fleet of %d:" % devices)
print("broker                           connected  broker at start  broker peak  broker/device"
      "  bench/device")
for k, title in MEM:
    r = mem[k]
    if r is None:
        print("%-32s (no figures)" % title)
        continue
    r["broker_per_device"] = ((r["broker_peak_kb"] - r["broker_start_kb"]) * 1024.0 /
                              max(r["connected"], 1))
    print("%-32s %9d %13.1f MB %9.1f MB %11.0f B %11.0f B" % (
        title, r["connected"], r["broker_start_kb"] / 1024.0, r["broker_peak_kb"] / 1024.0,
        r["broker_per_device"], r["bytes_per_device"]))

print("\nround trip, %d devices:" % devices)
print("round profile  connected commanded  commands  p50 ms  p99 ms  p99.9 ms  timeouts errors")
for (kind, i), r in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    if r is None:
        print("%5d %-7s (no figures)" % (i, NAMES[kind]))
        continue
    lat = r["latency_us"]
    print("%5d %-7s %9d %9d %9d %7.3f %7.3f %9.3f %9d %6d" % (
        i, NAMES[kind], r["connected"], r["devices_commanded"], r["commands"], lat["p50"] / 1e3,
        lat["p99"] / 1e3, lat["p99_9"] / 1e3, r["timeouts"], r["errors"]))

def med(kind, f):
    vals = [f(r) for (k, _), r in runs.items() if k == kind and r is not None]
    return statistics.median(vals) if vals else float("nan")

good = all(r is not None for r in runs.values()) and all(r is not None for r in mem.values())
p99 = {k: med(k, lambda r: r["latency_us"]["p99"] / 1e3) for k in ("plain", "onenet")}
p50 = {k: med(k, lambda r: r["latency_us"]["p50"] / 1e3) for k in ("plain", "onenet")}
nan = float("nan")
per = {k: mem[k]["broker_per_device"] if mem[k] else nan for k, _ in MEM}
start = {k: mem[k]["broker_start_kb"] * 1024.0 if mem[k] else nan for k, _ in MEM}
ratios = [runs[("onenet", i)]["latency_us"]["p99"] / runs[("plain", i)]["latency_us"]["p99"]
          for i in range(1, rounds + 1)
          if runs[("onenet", i)] and runs[("plain", i)] and runs[("plain", i)]["latency_us"]["p99"]]

print("\nmedians over %d rounds:" % rounds)
print("  round trip p50: mqtt on plain mosquitto %.3f ms, onenet through the plugin %.3f ms (%.2fx)"
      % (p50["plain"], p50["onenet"], p50["onenet"] / p50["plain"]))
print("  round trip p99: mqtt on plain mosquitto %.3f ms, onenet through the plugin %.3f ms (%.2fx;"
      " per round %s)" % (p99["plain"], p99["onenet"], p99["onenet"] / p99["plain"],
                          ", ".join("%.2fx" % x for x in ratios)))
print("memory (the idle fleet):")
print("  broker memory per connected device: %.0f B (plain mosquitto, mqtt devices); %.0f B "
      "(plain, onenet devices); %.0f B (with the plugin, onenet devices)"
      % (per["plain"], per["plain-onenet"], per["onenet"]))
print("  the plugin's own: %.0f B per online device (its state, presence and last data point "
      "retained)" % (per["onenet"] - per["plain-onenet"]))
print("  the registry of %d devices at start: %.0f B per device (broker %.1f MB with it, %.1f MB "
      "without)" % (devices, (start["onenet"] - start["plain"]) / devices,
                    start["onenet"] / 2**20, start["plain"] / 2**20))
clean = good and all(r["connected"] == devices and r["devices_commanded"] == devices and
                     r["timeouts"] == 0 and r["errors"] == 0 for r in runs.values()) and all(
                         r["connected"] == devices for r in mem.values())
print("\ntargets:")
print("  [%s] %d devices of midge bench --profile onenet, each authenticated and commanded, "
      "no timeout, no error" % ("met" if clean else "MISSED", devices))
ratio = p99["onenet"] / p99["plain"]
print("  [%s] the plugin's round trip p99 at most 1.2x the plain broker's: %.2fx"
      % ("met" if good and ratio <= 1.2 else "MISSED", ratio))
EOF
echo "JSON: $OUT"
