#!/usr/bin/env bash
# Command round trip through the emulated board, beside the Linux device's,
# on the same machine in the same run: from a console's publish of a
# command to the device's reply, p50 and p99 over COUNT commands
# (bench/latency/lat_console.c, the console of bench/latency.sh), first
# against `midge device` (the Linux process), then against the firmware
# image under QEMU (mps2-an385, its LAN9118 behind QEMU's user network and
# a socat per connection). One mosquitto on loopback serves both.
#
# The board's path is longer: the command leaves the broker for socat,
# QEMU's user network stack (slirp) and the emulated LAN9118, then lwIP on
# an emulated Cortex-M3 at 25 MHz (QEMU runs it as fast as it can, so the
# instruction count matters, not the clock), and back the same way. The
# firmware polls its interface when an interrupt wakes it (a frame or the
# 1 ms tick).
#
# Usage: bench/firmware_latency.sh [BUILD_DIR]     (default build/)
# Environment: COUNT (500), WARMUP (50), COMMAND (toggle), PIN (none, 0 or split)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BUILD="${1:-$ROOT/build}"
COUNT="${COUNT:-500}"
WARMUP="${WARMUP:-50}"
COMMAND="${COMMAND:-toggle}"
PIN="${PIN:-none}"
RUN_TIMEOUT=300

for tool in mosquitto cmake python3 timeout qemu-system-arm socat; do
    command -v "$tool" >/dev/null 2>&1 || { echo "firmware_latency: $tool not found" >&2; exit 2; }
done
bench_placement firmware_latency

JOBS="$(nproc 2>/dev/null || echo 2)"
cmake --build "$BUILD" -j"$JOBS" --target lat_console midge_cli >/dev/null
MIDGE_FIRMWARE_BUILD_DIR="$BUILD/firmware" "$ROOT/scripts/firmware.sh" --build-only 2>/dev/null
CONSOLE="$BUILD/bench/latency/lat_console"

WORK="$(mktemp -d)"
BROKER_PID=""
DEVICE_PID=""
trap bench_cleanup EXIT
trap "exit 130" INT TERM

bench_start_broker firmware_latency "set_tcp_nodelay true"

# measure NAME: the console against device id NAME (already started).
measure() {
    timeout "$RUN_TIMEOUT" ${CLIENTS_ON[@]+"${CLIENTS_ON[@]}"} "$CONSOLE" "$PORT" "$1" \
        "$COUNT" "$WARMUP" "$COMMAND" >"$WORK/$1.out"
    cat "$WORK/$1.out" >&2
}
get() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" "$2"; }

timeout "$RUN_TIMEOUT" ${CLIENTS_ON[@]+"${CLIENTS_ON[@]}"} "$BUILD/midge" device -h 127.0.0.1 \
    -p "$PORT" --device-id linux1 --led sim -q 2>/dev/null &
DEVICE_PID=$!
echo "== Linux device (midge device)"
measure linux1
bench_stop_device

timeout "$RUN_TIMEOUT" ${CLIENTS_ON[@]+"${CLIENTS_ON[@]}"} qemu-system-arm -M mps2-an385 \
    -nographic -monitor none -serial none -semihosting-config enable=on,target=native \
    -kernel "$BUILD/firmware/midge-firmware.elf" \
    -nic "user,model=lan9118,restrict=on,guestfwd=tcp:10.0.2.100:1883-cmd:socat - TCP:127.0.0.1:$PORT,,nodelay" \
    -append "--device-id board1 -q" 2>"$WORK/board.log" &
DEVICE_PID=$!
echo "== firmware on the emulated board (QEMU mps2-an385)"
measure board1
bench_stop_device

echo
echo "date: $(date -u +%Y-%m-%d), machine: $(uname -m), $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
printf '%-34s %10s %10s\n' "command round trip ($COUNT x $COMMAND)" "p50 (us)" "p99 (us)"
printf '%-34s %10s %10s\n' "Linux device (midge device)" "$(get cmd_p50 "$WORK/linux1.out")" "$(get cmd_p99 "$WORK/linux1.out")"
printf '%-34s %10s %10s\n' "firmware under QEMU (mps2-an385)" "$(get cmd_p50 "$WORK/board1.out")" "$(get cmd_p99 "$WORK/board1.out")"
printf '%-34s %10s %10s\n' "broker round trip (echo)" "$(get echo_p50 "$WORK/linux1.out")" "$(get echo_p99 "$WORK/linux1.out")"
