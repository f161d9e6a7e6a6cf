#!/usr/bin/env bash
# Throughput into a local mosquitto, counted at a subscriber: midge against
# libmosquitto and Paho MQTT C, in the same run, against the same broker.
#
# For each QoS (0, then 1 with at most 20 messages unacknowledged) every
# publisher sends COUNT messages of 64 bytes as fast as it can, and one and
# the same counting subscriber (bench/throughput/tp_sub.c) times them from
# the first arrival to the last. Each publisher variant runs RUNS times,
# the variants interleaved round by round so that a busy moment on the
# machine hits all of them alike; each rate shown is the median of its
# runs. "midge is" compares within rounds: the median over rounds of
# midge's rate divided by the variant's in the same round, which keeps
# apart what separate medians mix up on a shared machine (where the same
# run can vary by 2x within minutes). The targets are judged on that.
#
# Variants (a library is reported at its best variant):
#   midge               the blocking client (midge_client_publish)
#   libmosquitto        loop (caller's thread) and thread (loop_start), each
#                       with Nagle (the library default) and with nodelay
#   Paho                sync (MQTTClient) and async (MQTTAsync)
#
# The subscriber takes the messages at QoS 0 in both tests, so the delivery
# leg is the same for everyone and as light as it can be; QoS 1 is the
# publisher-to-broker leg being compared. The broker keeps every QoS 0
# message for a slow subscriber (max_queued_messages 0) so that no run loses
# any: every rate is COUNT messages over the same distance.
#
# Besides the rate, each publisher reports the CPU it used (user + system,
# every thread): on a machine shared with other work that is the steadier
# of the two figures. The broker's CPU per message and how busy it was
# during the run (CPU time over wall time, 100% = one core) come from
# /proc: a broker near 100% is the limit, whoever publishes.
#
# CPU placement (PIN): by default (none) the scheduler places the broker,
# the publisher and the subscriber, as on a user's machine. PIN=N runs all
# three on CPU N: the rate is then one CPU over the work every message
# costs all three, which moves much less from run to run on a shared
# machine, and shows what a publisher's own CPU cost is worth. PIN=split
# gives the broker CPU 1 and the two clients CPU 0.
#
# Usage: bench/throughput.sh [BUILD_DIR]        (default: build-release/)
# Environment: RUNS (5), COUNT0 (200000), COUNT1 (50000), SUB_QOS (0),
#              VARIANTS (space-separated names to run; default all),
#              PIN (none, split or a CPU number),
#              BASELINE (a tp_midge built from other sources, e.g. the last
#              release: run as one more variant, "midge-baseline")
# Lines starting with "ratio:" are read by bench/run-all.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BUILD="${1:-$ROOT/build-release}"
RUNS="${RUNS:-5}"
COUNT0="${COUNT0:-200000}"
COUNT1="${COUNT1:-50000}"
SUB_QOS="${SUB_QOS:-0}"
ALL_VARIANTS="midge mosquitto:loop mosquitto:thread mosquitto:loop,nodelay
              mosquitto:thread,nodelay paho:sync paho:async"
VARIANTS="${VARIANTS:-$ALL_VARIANTS}"
BASELINE="${BASELINE:-}"
if [ -n "$BASELINE" ]; then VARIANTS="midge-baseline $VARIANTS"; fi
# Longest any one program may run (each also bounds itself to 120 s).
RUN_TIMEOUT=150
PIN="${PIN:-none}"
bench_placement throughput

for tool in mosquitto cmake python3 timeout; do
    command -v "$tool" >/dev/null 2>&1 || { echo "throughput: $tool not found" >&2; exit 2; }
done

# Numbers come from an optimised build without sanitizers.
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target bench_throughput >/dev/null
BIN="$BUILD/bench/throughput"

WORK="$(mktemp -d)"
BROKER_PID=""
SUB_PID=""
cleanup() {
    for pid in "$SUB_PID" "$BROKER_PID"; do
        if [ -n "$pid" ]; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

bench_start_broker throughput "max_queued_messages 0"

# program VARIANT: the executable and its MODE argument.
program() {
    case "$1" in
        midge) echo "$BIN/tp_midge" ;;
        midge-baseline) echo "$BASELINE" ;;
        mosquitto:*) echo "$BIN/tp_mosquitto ${1#mosquitto:}" ;;
        paho:sync) echo "$BIN/tp_paho" ;;
        paho:async) echo "$BIN/tp_paho_async" ;;
    esac
}

# available VARIANT: its program was built (the peers are optional).
available() {
    local prog
    prog="$(program "$1")"
    [ -x "${prog%% *}" ]
}

# run_one VARIANT QOS COUNT RUN: one measured run; appends a result line
#   VARIANT QOS RATE CPU_US_PER_MSG RECEIVED BROKER_US_PER_MSG BROKER_BUSY_PCT RUN
# to $WORK/results, or a line with rate "-" when the run failed.
run_one() {
    local variant="$1" qos="$2" count="$3" run="$4" prog mode sub_out pub_out
    prog="$(program "$variant")"
    mode="${prog#* }"
    [ "$mode" = "$prog" ] && mode=""
    prog="${prog%% *}"
    local topic="bench/tp/$$/$run/${variant//[:,]/-}/q$qos"
    sub_out="$WORK/sub.out"
    pub_out="$WORK/pub.out"
    : >"$sub_out"
    timeout "$RUN_TIMEOUT" "${CLIENTS_ON[@]}" "$BIN/tp_sub" "$PORT" "$topic" "$SUB_QOS" "$count" >"$sub_out" 2>&1 &
    SUB_PID=$!
    for _ in $(seq 200); do
        grep -q '^ready' "$sub_out" && break
        sleep 0.025
    done
    if ! grep -q '^ready' "$sub_out"; then
        echo "throughput: subscriber not ready" >&2
        cat "$sub_out" >&2
        exit 2
    fi
    local b0 b1 t0 t1
    b0="$(broker_ticks)"
    t0="$(date +%s%N)"
    # shellcheck disable=SC2086 # mode is one word or none
    if ! timeout "$RUN_TIMEOUT" "${CLIENTS_ON[@]}" "$prog" "$PORT" "$topic" "$qos" "$count" $mode \
            >"$pub_out" 2>&1; then
        echo "throughput: $variant QoS $qos run $run failed:" >&2
        cat "$pub_out" >&2
    fi
    wait "$SUB_PID" || true
    SUB_PID=""
    t1="$(date +%s%N)"
    b1="$(broker_ticks)"
    local rate received cpu
    rate="$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' "$sub_out")"
    received="$(sed -n 's/.*received=\([0-9]*\).*/\1/p' "$sub_out")"
    cpu="$(sed -n 's/.*cpu=\([0-9.]*\).*/\1/p' "$pub_out")"
    if [ -z "$rate" ] || [ "${received:-0}" != "$count" ]; then
        echo "throughput: $variant QoS $qos run $run: received ${received:-?} of $count" >&2
        rate="-"
    fi
    echo "$variant $qos ${rate:--} $(awk -v c="${cpu:-0}" -v n="$count" \
        'BEGIN { printf "%.2f", c * 1e6 / n }') ${received:-0}" \
        "$(awk -v t=$((b1 - b0)) -v hz="$HZ" -v n="$count" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')" \
        "$(awk -v t=$((b1 - b0)) -v hz="$HZ" -v w=$((t1 - t0)) 'BEGIN { printf "%.0f", t / hz / (w / 1e9) * 100 }')" \
        "$run" >>"$WORK/results"
}

# The broker's user + system CPU so far, in clock ticks (/proc/PID/stat
# fields 14 and 15; the command name in field 2 has no spaces here).
HZ="$(getconf CLK_TCK)"
broker_ticks() { awk '{ print $14 + $15 }' "/proc/$BROKER_PID/stat"; }

# median of the numbers on stdin ("-" ignored); "-" when there are none.
median() {
    grep -v '^-$' | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# field VARIANT QOS COLUMN: that column of every run of the variant.
field() {
    awk -v v="$1" -v q="$2" -v c="$3" '$1 == v && $2 == q { print $c }' "$WORK/results"
}

echo "throughput: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m),"\
     "$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }'), nproc $(nproc)"
echo "  64-byte payload; QoS 0: $COUNT0 messages, QoS 1: $COUNT1 with a window of 20;"\
     "median of $RUNS runs; one midge subscriber at QoS $SUB_QOS counts; CPU placement: $PIN"
echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

: >"$WORK/results"
for run in $(seq "$RUNS"); do
    for qos in 0 1; do
        count=$COUNT0
        [ "$qos" = 1 ] && count=$COUNT1
        for v in $VARIANTS; do
            if available "$v"; then run_one "$v" "$qos" "$count" "$run"; fi
        done
    done
done
echo "  load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

# paired VARIANT QOS: midge's rate over the variant's, one ratio per round
# in which both delivered everything. Runs of one round are seconds apart,
# so a ratio within a round cancels most of the drift of a shared machine
# that separate medians keep.
paired() {
    awk -v v="$1" -v q="$2" '$2 == q && $3 != "-" {
            if ($1 == "midge") m[$8] = $3
            if ($1 == v) o[$8] = $3
        }
        END { for (r in m) if (r in o && o[r] > 0) printf "%.4f\n", m[r] / o[r] }' "$WORK/results"
}

# best LIBRARY QOS: the library's strongest variant against midge, the one
# with the lowest median paired ratio.
best() {
    local lib="$1" qos="$2" v m best_v="" best_m=""
    for v in $VARIANTS; do
        [ "${v%%:*}" = "$lib" ] || continue
        m="$(paired "$v" "$qos" | median)"
        [ "$m" = "-" ] && continue
        if [ -z "$best_m" ] || awk -v a="$m" -v b="$best_m" 'BEGIN { exit !(a < b) }'; then
            best_v="$v"
            best_m="$m"
        fi
    done
    echo "$best_v"
}

# ceiling QOS: the most messages per second the broker could pass if it
# were busy all the time, at the least CPU per message it spent in any
# variant: no publisher can go faster through this broker on this machine.
# Set against libmosquitto's best variant, it is the highest "midge is"
# ratio any publisher could reach here.
ceiling() {
    local qos="$1" v us least="" b mrate lrate
    for v in $VARIANTS; do
        available "$v" || continue
        us="$(field "$v" "$qos" 6 | median)"
        [ "$us" = "-" ] && continue
        if [ -z "$least" ] || awk -v a="$us" -v b="$least" 'BEGIN { exit !(a < b) }'; then least="$us"; fi
    done
    b="$(best mosquitto "$qos")"
    [ -n "$least" ] && [ -n "$b" ] || return 0
    mrate="$(field midge "$qos" 3 | median)"
    lrate="$(field "$b" "$qos" 3 | median)"
    awk -v us="$least" -v m="$mrate" -v l="$lrate" -v q="$qos" -v b="$b" 'BEGIN {
        if (us <= 0 || m == "-" || l == "-" || l <= 0) exit
        c = 1e6 / us
        printf "ceiling: throughput QoS %d: broker CPU caps every publisher at %.0f msg/s (%.2f us per message):", q, c, us
        printf " %.2fx libmosquitto[%s] at most; midge reaches %.0f%% of it\n", c / l, b, m / c * 100 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }

for qos in 0 1; do
    count=$COUNT0
    [ "$qos" = 1 ] && count=$COUNT1
    echo
    if [ "$qos" = 0 ]; then echo "QoS 0 ($count messages)"; else echo "QoS 1 ($count messages, window 20)"; fi
    printf '  %-26s %10s %21s %11s %9s %12s\n' publisher "msg/s" "runs min..max" "CPU us/msg" \
        "midge is" "broker us,%"
    for v in $VARIANTS; do
        available "$v" || continue
        m="$(field "$v" "$qos" 3 | median)"
        lo="$(field "$v" "$qos" 3 | grep -v '^-$' | sort -g | head -1)"
        hi="$(field "$v" "$qos" 3 | grep -v '^-$' | sort -g | tail -1)"
        cpu="$(field "$v" "$qos" 4 | median)"
        r="$(paired "$v" "$qos" | median)"
        [ "$r" != "-" ] && r="$(printf '%.2fx' "$r")"
        bcpu="$(field "$v" "$qos" 6 | median)"
        busy="$(field "$v" "$qos" 7 | median)"
        printf '  %-26s %10s %21s %11s %9s %12s\n' "$v" "${m%.*}" "${lo%.*}..${hi%.*}" "$cpu" "$r" \
            "$bcpu,${busy%.*}%"
    done
    for lib in mosquitto paho; do
        b="$(best "$lib" "$qos")"
        [ -n "$b" ] || continue
        name=libmosquitto
        [ "$lib" = paho ] && name=Paho
        r="$(paired "$b" "$qos" | median)"
        [ "$r" != "-" ] && r="$(printf '%.2f' "$r")"
        range="$(paired "$b" "$qos" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
            END { if (NR) printf "%.2f..%.2f", lo, hi }')"
        cr="$(ratio "$(field "$b" "$qos" 4 | median)" "$(field midge "$qos" 4 | median)")"
        target=""
        if [ "$lib" = mosquitto ]; then
            if [ "$qos" = 0 ]; then target=0.95; else target=1.5; fi
        fi
        verdict=""
        if [ -n "$target" ] && [ "$r" != "-" ]; then
            if awk -v a="$r" -v t="$target" 'BEGIN { exit !(a >= t) }'; then verdict="met"; else verdict="MISSED"; fi
            verdict="(target >= $target: $verdict)"
        fi
        echo "ratio: throughput QoS $qos midge/${name}[$b] rate $r (rounds $range), CPU per message $name/midge $cr $verdict"
    done
    ceiling "$qos"
done
