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
#   midge device   the real CLI (`midge device --profile mqtt --led sim`),
#                  its log lines sent to /dev/null (it has no quiet switch)
# Both are the mqtt profile with device id bench1: commands on
# devices/bench1/cmd/request/N, replies on devices/bench1/cmd/response/N,
# QoS 1 both ways. The broker runs with set_tcp_nodelay true.
#
# Usage: bench/latency.sh [BUILD_DIR]           (default: build-release/)
# Environment: COUNT (2000), WARMUP (200), COMMAND (toggle),
#              DEVICES ("stand-in midge-device")
# Lines starting with "ratio:" are read by bench/run-all.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build-release}"
COUNT="${COUNT:-2000}"
WARMUP="${WARMUP:-200}"
COMMAND="${COMMAND:-toggle}"
DEVICES="${DEVICES:-stand-in midge-device}"
DEVICE_ID=bench1
RUN_TIMEOUT=300

for tool in mosquitto cmake python3 timeout; do
    command -v "$tool" >/dev/null 2>&1 || { echo "latency: $tool not found" >&2; exit 2; }
done

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
JOBS="$(nproc 2>/dev/null || echo 2)"
cmake --build "$BUILD" -j"$JOBS" --target bench_latency >/dev/null
# The real device is optional: measured when the CLI builds.
HAVE_CLI=0
if cmake --build "$BUILD" -j"$JOBS" --target midge_cli >/dev/null 2>&1 && [ -x "$BUILD/midge" ]; then
    HAVE_CLI=1
fi
BIN="$BUILD/bench/latency"

WORK="$(mktemp -d)"
BROKER_PID=""
DEVICE_PID=""
# stop_device: SIGTERM (the device says "offline" and disconnects), then
# wait at most 5 s before SIGKILL.
stop_device() {
    [ -n "$DEVICE_PID" ] || return 0
    kill "$DEVICE_PID" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$DEVICE_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$DEVICE_PID" 2>/dev/null || true
    wait "$DEVICE_PID" 2>/dev/null || true
    DEVICE_PID=""
}
cleanup() {
    stop_device
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$WORK/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
CONF
mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    sleep 0.05
done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || {
    echo "latency: mosquitto did not start" >&2
    cat "$WORK/mosquitto.log" >&2
    exit 2
}

# start_device KIND: launch it in the background (DEVICE_PID). The console
# waits for the device's retained "online" before the first command.
start_device() {
    case "$1" in
        stand-in)
            timeout "$RUN_TIMEOUT" "$BIN/lat_device" "$PORT" "$DEVICE_ID" "$RUN_TIMEOUT" \
                >"$WORK/device.out" 2>&1 &
            ;;
        midge-device)
            timeout "$RUN_TIMEOUT" "$BUILD/midge" device -h 127.0.0.1 -p "$PORT" \
                --profile mqtt --device-id "$DEVICE_ID" --led sim \
                >"$WORK/device.out" 2>/dev/null &
            ;;
    esac
    DEVICE_PID=$!
}

# get KEY FILE: the value of KEY=value on the console's result line.
get() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }

echo "command latency: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m),"\
     "$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }'), nproc $(nproc)"
echo "  $COUNT commands \"$COMMAND\" one at a time after $WARMUP warm-up, QoS 1,"\
     "each followed by one broker round trip; broker set_tcp_nodelay true"
echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '  %-14s %10s %10s %10s %10s %8s %8s\n' device "cmd p50" "cmd p99" "rtt p50" "rtt p99" \
    "p50 x" "p99 x"

RESULTS=()
for kind in $DEVICES; do
    if [ "$kind" = midge-device ] && [ "$HAVE_CLI" != 1 ]; then
        printf '  %-14s %s\n' "$kind" "(midge CLI not built: skipped)"
        continue
    fi
    start_device "$kind"
    out="$WORK/console.$kind"
    if ! timeout "$RUN_TIMEOUT" "$BIN/lat_console" "$PORT" "$DEVICE_ID" "$COUNT" "$WARMUP" \
            "$COMMAND" >"$out" 2>&1; then
        echo "latency: console against $kind failed:" >&2
        cat "$out" >&2
        stop_device
        exit 1
    fi
    stop_device
    cp50="$(get cmd_p50 "$out")"
    cp99="$(get cmd_p99 "$out")"
    ep50="$(get echo_p50 "$out")"
    ep99="$(get echo_p99 "$out")"
    r50="$(ratio "$cp50" "$ep50")"
    r99="$(ratio "$cp99" "$ep99")"
    printf '  %-14s %8sus %8sus %8sus %8sus %7sx %7sx\n' "$kind" "$cp50" "$cp99" "$ep50" "$ep99" \
        "$r50" "$r99"
    verdict="$(awk -v r="$r50" 'BEGIN { print (r != "-" && r <= 2.5) ? "met" : "MISSED" }')"
    RESULTS+=("ratio: latency $kind command/round-trip p50 ${r50}x (${cp50} us / ${ep50} us), p99 ${r99}x (target p50 <= 2.5x: $verdict)")
done
echo "  load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  (rtt = the broker's own round trip: publish to a topic the console subscribes to)"
for line in "${RESULTS[@]}"; do echo "$line"; done
