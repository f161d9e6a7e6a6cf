#!/usr/bin/env bash
# Every benchmark, one after the other, then one table of ratios.
#
#   bench/throughput.sh    msg/s into mosquitto: midge, libmosquitto, Paho
#   bench/latency.sh       command round trip against the broker's own
#   bench/onenet.sh        1,000 devices through the OneNET platform plugin
#   bench/publish_cost.sh  instructions per publish (callgrind), if present
#   scripts/footprint.sh   code size on Cortex-M4 and ESP8266, if present
#
# Each script starts (and stops) its own broker on a free loopback port;
# their full output is kept in OUT_DIR. Numbers are reports, not verdicts:
# this script fails only when a benchmark could not run at all.
#
# Usage: bench/run-all.sh [BUILD_DIR]           (default: build-release/)
# Environment: OUT_DIR (default: BUILD_DIR/bench-results), and whatever the
# individual scripts read (RUNS, COUNT0, COUNT1, COUNT, WARMUP, N1, N2...).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build-release}"
OUT_DIR="${OUT_DIR:-$BUILD/bench-results}"
# Longest any one script may run, in seconds.
SCRIPT_TIMEOUT=3600

mkdir -p "$OUT_DIR"
STAMP="$(date -u '+%Y-%m-%d %H:%M UTC')"
MACHINE="$(uname -m), $(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }'), nproc $(nproc)"

declare -a SUMMARY=()
declare -a STATUS=()

# run NAME LOG SCRIPT ARGS...: run one benchmark with a time limit, its
# output shown and kept; records its exit status.
run() {
    local name="$1" log="$OUT_DIR/$2"
    shift 2
    if [ ! -x "$1" ]; then
        STATUS+=("$name: not present, skipped")
        return
    fi
    echo "=== $name"
    timeout "$SCRIPT_TIMEOUT" "$@" 2>&1 | tee "$log"
    local rc="${PIPESTATUS[0]}"
    # footprint.sh exits 1 for a budget exceeded: it ran, and said so.
    if [ "$name" = footprint ] && [ "$rc" = 1 ]; then
        STATUS+=("$name: ran (a budget is exceeded)")
        echo
        return
    fi
    case "$rc" in
        0) STATUS+=("$name: ran") ;;
        77) STATUS+=("$name: skipped (tools missing)") ;;
        124) STATUS+=("$name: TIMED OUT after ${SCRIPT_TIMEOUT}s") ;;
        *) STATUS+=("$name: exit $rc") ;;
    esac
    echo
}

run throughput throughput.txt "$ROOT/bench/throughput.sh" "$BUILD"
run latency latency.txt "$ROOT/bench/latency.sh" "$BUILD"
run onenet onenet.txt "$ROOT/bench/onenet.sh" "$BUILD"
# publish_cost wants symbols for callgrind_annotate: it keeps its own
# RelWithDebInfo build (build-bench/ by default).
run "publish cost" publish_cost.txt "$ROOT/bench/publish_cost.sh"
run footprint footprint.txt "$ROOT/scripts/footprint.sh"

# --- the table ----------------------------------------------------------------
if [ -f "$OUT_DIR/throughput.txt" ]; then
    while IFS= read -r line; do SUMMARY+=("$line"); done < <(sed -n -e 's/^ratio: //p' -e '/^ceiling: /p' "$OUT_DIR/throughput.txt")
fi
for f in latency onenet; do
    [ -f "$OUT_DIR/$f.txt" ] || continue
    while IFS= read -r line; do SUMMARY+=("$line"); done < <(sed -n 's/^ratio: //p' "$OUT_DIR/$f.txt")
done
if [ -f "$OUT_DIR/publish_cost.txt" ]; then
    # Rows "  NAME  IR  RATIOx  what": the ratio is that library's
    # instructions per publish over midge's.
    while IFS= read -r line; do SUMMARY+=("$line"); done < <(awk '
        /^  (libmosquitto|Paho MQTT C) / {
            n = split($0, f, /  +/)
            if (f[4] != "" && f[4] != "-") printf "publish cost QoS 0: %s/midge instructions per publish %s\n", f[2], f[4]
        }
        /^session-level target/ { print "publish cost: " $0 }' "$OUT_DIR/publish_cost.txt")
fi
if [ -f "$OUT_DIR/footprint.txt" ]; then
    while IFS= read -r line; do SUMMARY+=("$line"); done < <(awk '
        /^budgets:/ { on = 1; next }
        on && /^  / { sub(/^  +/, ""); gsub(/  +/, " "); print "footprint: " $0; next }
        on { on = 0 }' "$OUT_DIR/footprint.txt")
fi

echo "=== summary: $STAMP, $MACHINE"
echo "    load average now: $(cut -d' ' -f1-3 /proc/loadavg); full output in $OUT_DIR"
for s in "${STATUS[@]}"; do echo "    $s"; done
echo
for line in "${SUMMARY[@]}"; do echo "  $line"; done
{
    echo "$STAMP, $MACHINE"
    for line in "${SUMMARY[@]}"; do echo "$line"; done
} >"$OUT_DIR/summary.txt"

# Only a benchmark that could not run makes this script fail.
for s in "${STATUS[@]}"; do
    case "$s" in *"exit "*|*"TIMED OUT"*) exit 1 ;; esac
done
exit 0
