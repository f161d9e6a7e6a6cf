#!/usr/bin/env bash
# Build the firmware image and run it under QEMU (the Arm MPS2 AN385 board)
# against an MQTT broker on this machine.
#
# Usage: scripts/firmware.sh [--port PORT] [--trace FILE] [--build-only] [-- FIRMWARE-OPTIONS]
#
#   --port PORT    the broker's port on 127.0.0.1; without it a mosquitto is
#                  started on a free port for the run and stopped after it
#   --trace FILE   write QEMU's trace of the LED register writes to FILE
#   --build-only   build build/firmware/midge-firmware.elf and stop
#   FIRMWARE-OPTIONS  the device's options (default: --device-id lamp1), as
#                  for `midge device`; the board reaches the broker at
#                  10.0.2.100:1883, which QEMU forwards to 127.0.0.1:PORT
#
# QEMU's user network is isolated (restrict=on): the guest reaches nothing
# but the forwarding rule, which runs socat for every guest connection so
# that the firmware can reconnect. The firmware's console and its exit
# status are QEMU's (stderr; 90 = heap used, 91 = processor fault).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MIDGE_FIRMWARE_BUILD_DIR:-$ROOT/build/firmware}"
PORT=""
TRACE=""
BUILD_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --trace) TRACE="$2"; shift 2 ;;
    --build-only) BUILD_ONLY=1; shift ;;
    --) shift; break ;;
    *) echo "firmware.sh: unknown argument '$1' (see the usage at the top of the script)" >&2; exit 2 ;;
    esac
done
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(--device-id lamp1)

for tool in arm-none-eabi-gcc qemu-system-arm socat; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "firmware.sh: $tool not found (scripts/setup.sh installs it)" >&2
        exit 2
    fi
done

cmake -S "$ROOT/boards" -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/arm-none-eabi.cmake" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
ELF="$BUILD/midge-firmware.elf"
echo "firmware.sh: $ELF ($(arm-none-eabi-size -B "$ELF" | awk 'NR == 2 { print $1 + $2 }') bytes of flash)" >&2
[ "$BUILD_ONLY" = 1 ] && exit 0

BROKER_PID=""
cleanup() {
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap "exit 130" INT TERM
if [ -z "$PORT" ]; then
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    mosquitto -p "$PORT" >/dev/null 2>&1 &
    BROKER_PID=$!
    echo "firmware.sh: mosquitto on 127.0.0.1:$PORT (try: midge send -p $PORT --device-id lamp1 toggle)" >&2
fi

QEMU=(qemu-system-arm -M mps2-an385 -nographic -monitor none -serial none
      -semihosting-config enable=on,target=native -kernel "$ELF"
      -nic "user,model=lan9118,restrict=on,guestfwd=tcp:10.0.2.100:1883-cmd:socat - TCP:127.0.0.1:$PORT"
      -append "${ARGS[*]}")
if [ -n "$TRACE" ]; then
    QEMU+=(-trace "mps2_fpgaio_write,file=$TRACE")
fi
set +e
"${QEMU[@]}"
status=$?
set -e
echo "firmware.sh: the board stopped with status $status" >&2
exit "$status"
