#!/usr/bin/env bash
# The MicroPython figures of the README: builds MicroPython's unix port with
# and without the midge module into BUILD_DIR/micropython (as the tests do),
# prints what the module adds to the binary, then runs bench_publish.py
# against a mosquitto it starts on a free loopback port.
#   bench/micropython/run.sh [BUILD_DIR]   (default: build)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
OUT="$BUILD/micropython"
bash "$ROOT/bindings/micropython/tests/build.sh" "$OUT"
# shellcheck disable=SC1091
. "$OUT/env"

size "$MP_PLAIN" "$MP_MIDGE" | awk 'NR==1 {print "           " $1 "\t" $2 "\t" $3} NR>1 {print $6 ":\t" $1 "\t" $2 "\t" $3}' |
    sed "s|$OUT/||"

dir="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$dir/m.conf"
mosquitto -c "$dir/m.conf" >"$dir/m.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
UMQTT="$MP_SRC/lib/micropython-lib/micropython/umqtt.simple"
MICROPYPATH="$UMQTT:.frozen" "$MP_MIDGE" "$ROOT/bench/micropython/bench_publish.py" "$port" "${COUNT:-10000}"
