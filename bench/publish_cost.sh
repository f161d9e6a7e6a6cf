#!/usr/bin/env bash
# Publish cost: user-space instructions per QoS 0 publish of 64 bytes, for
# midge, libmosquitto and Paho MQTT C, in the same run against the same
# local mosquitto.
#
# Each program runs under `valgrind --tool=callgrind` (which counts
# user-space instructions only) for two message counts; the marginal cost
#   (Ir(N2) - Ir(N1)) / (N2 - N1)
# cancels startup, connect and teardown. Instruction counts are stable on a
# noisy machine where wall-clock times are not.
#
# Usage: bench/publish_cost.sh [BUILD_DIR]   (default: build-bench/)
# Environment: N1, N2 (default 1000, 11000); KEEP=1 keeps the callgrind files.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BUILD="${1:-$ROOT/build-bench}"
N1="${N1:-1000}"
N2="${N2:-11000}"

for tool in valgrind callgrind_annotate mosquitto cmake; do
    command -v "$tool" >/dev/null 2>&1 || { echo "publish_cost: $tool not found" >&2; exit 2; }
done

# Optimised like a release build, with symbols for callgrind_annotate.
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target bench >/dev/null
BIN="$BUILD/bench"

WORK="$(mktemp -d)"
BROKER_PID=""
cleanup() {
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [ "${KEEP:-0}" = 1 ]; then
        echo "callgrind files kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

bench_start_broker publish_cost

# ir PROGRAM N: total user-space instructions of one run.
ir() {
    local prog="$1" n="$2" out="$WORK/$1.$2.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN/$prog" "$PORT" "$n" \
        >"$WORK/$prog.$n.log" 2>&1 || {
        echo "publish_cost: $prog $n failed:" >&2
        cat "$WORK/$prog.$n.log" >&2
        exit 2
    }
    awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

# marginal PROGRAM: instructions per publish (rounded).
marginal() {
    local a b
    a=$(ir "$1" "$N1")
    b=$(ir "$1" "$N2")
    echo $(((b - a + (N2 - N1) / 2) / (N2 - N1)))
}

# inclusive PROGRAM N FUNCTION: inclusive Ir of a function in a kept run.
inclusive() {
    callgrind_annotate --inclusive=yes --threshold=100 "$WORK/$1.$2.out" 2>/dev/null |
        awk -v fn="$3" '{
            for (i = 2; i <= NF; i++) {
                n = split($i, part, ":")
                if (part[n] == fn) { gsub(",", "", $1); print $1; exit }
            }
        }'
}

# per_publish PROGRAM FUNCTION: marginal inclusive cost of FUNCTION.
per_publish() {
    local a b
    a=$(inclusive "$1" "$N1" "$2")
    b=$(inclusive "$1" "$N2" "$2")
    if [ -z "$a" ] || [ -z "$b" ]; then echo "-"; return; fi
    echo $(((b - a + (N2 - N1) / 2) / (N2 - N1)))
}

echo "publish cost: QoS 0, 64-byte payload, topic of 18 bytes, N = $N1 and $N2"
echo "machine: $(uname -m), $(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }')"
echo

MIDGE=$(marginal pub_midge)
SESSION=$(marginal pub_session)
declare -A COST=()
for prog in pub_mosquitto pub_paho; do
    if [ -x "$BIN/$prog" ]; then COST[$prog]=$(marginal "$prog"); fi
done

row() { # NAME COST WHAT
    local ratio="-"
    if [ "$2" != "-" ] && [ "$MIDGE" -gt 0 ]; then
        ratio=$(awk -v a="$2" -v b="$MIDGE" 'BEGIN { printf "%.1fx", a / b }')
    fi
    printf '  %-16s %12s %8s   %s\n' "$1" "$2" "$ratio" "$3"
}
printf '  %-16s %12s %8s   %s\n' library "Ir/publish" "vs midge" "what is counted"
row midge "$MIDGE" "midge_client_publish: session encode + send() + clock"
row libmosquitto "${COST[pub_mosquitto]:--}" "mosquitto_publish (no loop thread): packet build + send()"
row "Paho MQTT C" "${COST[pub_paho]:--}" "MQTTClient_publish (sync API): packet build + send() + its threads"
echo
echo "midge breakdown (inclusive Ir per publish, from the same pub_midge runs):"
for fn in midge_client_publish midge_session_publish midge_session_pending midge_session_sent \
          midge_clock_ms send; do
    printf '  %-28s %8s\n' "$fn" "$(per_publish pub_midge "$fn")"
done
echo
echo "midge session only (no socket; inclusive Ir per publish):"
SESSION_SUM=0
for fn in midge_session_publish midge_session_pending midge_session_sent; do
    v=$(per_publish pub_session "$fn")
    printf '  %-28s %8s\n' "$fn" "$v"
    if [ "$v" != "-" ]; then SESSION_SUM=$((SESSION_SUM + v)); fi
done
printf '  %-28s %8s\n' "session total" "$SESSION_SUM"
printf '  %-28s %8s\n' "(loop incl. harness)" "$SESSION"

TARGET=200
echo
if [ "$SESSION_SUM" -le "$TARGET" ]; then
    echo "session-level target: $SESSION_SUM <= $TARGET instructions per publish: met"
else
    echo "session-level target: $SESSION_SUM > $TARGET instructions per publish: NOT met"
fi
