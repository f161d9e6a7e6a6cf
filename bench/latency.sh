#!/usr/bin/env bash
# Command latency, one device: from the moment a console publishes a
# command to the moment the device's reply reaches it, p50 and p99, set
# against the broker's own round trip measured by the same console, with
# the same clock, in the same run (bench/latency/lat_console.c).
#
# A command crosses the broker twice (console -> device -> console) where
# the round trip crosses it once, so 2x the round trip is the floor; the
# target is p50 <= 2.5x.
#
# Devices measured, one after the other against the same broker:
#   stand-in       bench/latency/lat_device.c: the device layer under the
#                  blocking client, no LED driver, no logging
#   midge-device   the real CLI (`midge device --profile mqtt --led sim -q`):
#                  -q keeps the per-command log lines from being formatted
#                  at all (a log is not part of the path being measured);
#                  what is left of stderr goes to /dev/null
# Both are the mqtt profile with device id bench1: commands on
# devices/bench1/cmd/request/N, replies on devices/bench1/cmd/response/N,
# QoS 1 both ways. The broker runs with set_tcp_nodelay true.
#
# Commands: "toggle" changes the LED every time, so the device publishes
# its retained state report right after the reply, and the broker handles
# that report before it is free for the next message; "on", sent again and
# again, changes nothing after the first, so the reply travels alone.
#
# Pacing (see lat_console.c): "blocks" sends each command as soon as the
# previous reply is in (50 in a row, then 50 round trips, and so on): the
# figure the target is judged on. "settled" starts every round after 1 ms of
# quiet (PACINGS="blocks settled" to add it).
#
# CPU placement (PIN): a virtual machine makes a wake-up across CPUs cost
# tens of microseconds and where the scheduler puts each process changes
# from run to run, which moves the round trip between two levels. By
# default every process (broker, device, console) is pinned to CPU 0: the
# figures are then the work on the path, stable from run to run. PIN=split
# puts the broker on CPU 1 and the clients on CPU 0 (every hop crosses
# CPUs, as between machines); PIN=none leaves placement to the scheduler.
#
# The whole measurement (warm-up included) is repeated REPEAT times against
# the same device; each figure is the median over the repeats, and the
# spread of the p50 ratio is shown.
#
# Usage: bench/latency.sh [BUILD_DIR]           (default: build-release/)
# Environment: COUNT (2000), WARMUP (200), REPEAT (3), COMMANDS ("toggle on"),
#              PACINGS ("blocks"), PIN (0, split or none),
#              DEVICES ("stand-in midge-device"),
#              MIDGE_BIN (the midge executable; default BUILD_DIR/midge),
#              STANDIN_BIN (the stand-in; default its build in BUILD_DIR):
#              the last two let one script compare two builds
# Lines starting with "ratio:" are read by bench/run-all.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BUILD="${1:-$ROOT/build-release}"
COUNT="${COUNT:-2000}"
WARMUP="${WARMUP:-200}"
REPEAT="${REPEAT:-3}"
COMMANDS="${COMMANDS:-toggle on}"
PACINGS="${PACINGS:-blocks}"
PIN="${PIN:-0}"
DEVICES="${DEVICES:-stand-in midge-device}"
DEVICE_ID=bench1
RUN_TIMEOUT=300

for tool in mosquitto cmake python3 timeout; do
    command -v "$tool" >/dev/null 2>&1 || { echo "latency: $tool not found" >&2; exit 2; }
done

# Placement prefixes for the broker and the clients.
bench_placement latency

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
JOBS="$(nproc 2>/dev/null || echo 2)"
cmake --build "$BUILD" -j"$JOBS" --target bench_latency >/dev/null
BIN="$BUILD/bench/latency"
STANDIN_BIN="${STANDIN_BIN:-$BIN/lat_device}"
# The real device is optional: measured when the CLI builds.
MIDGE_BIN="${MIDGE_BIN:-}"
HAVE_CLI=0
if [ -n "$MIDGE_BIN" ]; then
    [ -x "$MIDGE_BIN" ] && HAVE_CLI=1
elif cmake --build "$BUILD" -j"$JOBS" --target midge_cli >/dev/null 2>&1 && [ -x "$BUILD/midge" ]; then
    MIDGE_BIN="$BUILD/midge"
    HAVE_CLI=1
fi

WORK="$(mktemp -d)"
BROKER_PID=""
DEVICE_PID=""
trap bench_cleanup EXIT

bench_start_broker latency "set_tcp_nodelay true"

# start_device KIND: launch it in the background (DEVICE_PID). The console
# waits for the device's retained "online" before the first command.
start_device() {
    case "$1" in
        stand-in)
            timeout "$RUN_TIMEOUT" "${CLIENTS_ON[@]}" "$STANDIN_BIN" "$PORT" "$DEVICE_ID" \
                "$RUN_TIMEOUT" >"$WORK/device.out" 2>&1 &
            ;;
        midge-device)
            timeout "$RUN_TIMEOUT" "${CLIENTS_ON[@]}" "$MIDGE_BIN" device -h 127.0.0.1 -p "$PORT" \
                --profile mqtt --device-id "$DEVICE_ID" --led sim -q >"$WORK/device.out" 2>/dev/null &
            ;;
    esac
    DEVICE_PID=$!
}

# get KEY FILES...: the value of KEY=value on each console result line.
get() { local key="$1"; shift; sed -n "s/.*\\b$key=\\([0-9.]*\\).*/\\1/p" "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f\n", a / b }'; }
# median of the numbers on stdin.
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "command latency: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m),"\
     "$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }'), nproc $(nproc)"
echo "  $COUNT commands and $COUNT broker round trips, one at a time after $WARMUP warm-up,"\
     "QoS 1; median of $REPEAT repeats; CPU placement: $PIN; broker set_tcp_nodelay true"
echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '  %-13s %-7s %-8s %9s %9s %9s %9s %7s %7s %12s\n' device command pacing "cmd p50" \
    "cmd p99" "rtt p50" "rtt p99" "p50 x" "p99 x" "p50 x range"

RESULTS=()
for kind in $DEVICES; do
    if [ "$kind" = midge-device ] && [ "$HAVE_CLI" != 1 ]; then
        printf '  %-13s %s\n' "$kind" "(midge CLI not built: skipped)"
        continue
    fi
    start_device "$kind"
    for command in $COMMANDS; do
        for pacing in $PACINGS; do
            outs=()
            for rep in $(seq "$REPEAT"); do
                out="$WORK/console.$kind.$command.$pacing.$rep"
                if ! timeout "$RUN_TIMEOUT" "${CLIENTS_ON[@]}" "$BIN/lat_console" "$PORT" \
                        "$DEVICE_ID" "$COUNT" "$WARMUP" "$command" "$pacing" >"$out" 2>&1; then
                    echo "latency: console against $kind ($command, $pacing) failed:" >&2
                    cat "$out" >&2
                    bench_stop_device
                    exit 1
                fi
                outs+=("$out")
            done
            cp50="$(get cmd_p50 "${outs[@]}" | median)"
            cp99="$(get cmd_p99 "${outs[@]}" | median)"
            ep50="$(get echo_p50 "${outs[@]}" | median)"
            ep99="$(get echo_p99 "${outs[@]}" | median)"
            r50="$(ratio "$cp50" "$ep50")"
            r99="$(ratio "$cp99" "$ep99")"
            # The p50 ratio of each repeat, for its spread.
            spread="$(for o in "${outs[@]}"; do ratio "$(get cmd_p50 "$o")" "$(get echo_p50 "$o")"; done |
                sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo ".." hi }')"
            printf '  %-13s %-7s %-8s %7sus %7sus %7sus %7sus %6sx %6sx %12s\n' "$kind" "$command" \
                "$pacing" "$cp50" "$cp99" "$ep50" "$ep99" "$r50" "$r99" "$spread"
            verdict=""
            if [ "$pacing" = blocks ]; then
                verdict="$(awk -v r="$r50" 'BEGIN { print (r != "-" && r <= 2.5) ? "met" : "MISSED" }')"
                verdict=" (target p50 <= 2.5x: $verdict)"
            fi
            RESULTS+=("ratio: latency $kind \"$command\" $pacing command/round-trip p50 ${r50}x (${cp50} us / ${ep50} us), p99 ${r99}x$verdict")
        done
    done
    bench_stop_device
done
echo "  load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  (rtt = the broker's own round trip: publish to a topic the console subscribes to)"
for line in "${RESULTS[@]}"; do echo "$line"; done
