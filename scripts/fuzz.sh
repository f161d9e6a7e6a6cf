#!/usr/bin/env bash
# Build the libFuzzer targets with clang into build-fuzz/ and run each one.
#
#   scripts/fuzz.sh                  every target for 10 seconds
#   scripts/fuzz.sh 300              every target for 300 seconds
#   scripts/fuzz.sh --runs 10000000  every target for ten million executions
#   scripts/fuzz.sh 60 fuzz_session  only the targets named
#
# Each target fuzzes a copy of its committed seed corpus
# (tests/fuzz/corpus/<target>/) under build-fuzz/fuzz-work/<target>/, so
# the repository stays clean; new inputs worth keeping can be merged back
# by hand with `<target> -merge=1 tests/fuzz/corpus/<target> <dir>`.
# Printed per target: executions, coverage (libFuzzer's final cov: and ft:)
# and the crash file if there was one. Exits non-zero when any target
# crashed, leaked or timed out.
#
# Adding a target (for example a config-file parser):
#   1. write tests/fuzz/fuzz_<name>.c defining LLVMFuzzerTestOneInput;
#   2. in tests/fuzz/CMakeLists.txt append fuzz_<name> to MIDGE_FUZZ_TARGETS
#      and set fuzz_<name>_LIBS to the libraries it needs (instrument any
#      library not yet in the foreach() list there);
#   3. put a few seed inputs in tests/fuzz/corpus/fuzz_<name>/ and,
#      optionally, a dictionary in tests/fuzz/fuzz_<name>.dict.
# This script and ctest (label "fuzz") pick it up from the build.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
seconds=10
runs=""
targets=()

while [ $# -gt 0 ]; do
    case "$1" in
    --runs)
        runs="${2:?--runs needs a count}"
        shift 2
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    [0-9]*)
        seconds="$1"
        shift
        ;;
    *)
        targets+=("$1")
        shift
        ;;
    esac
done

mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DMIDGE_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }

if [ ${#targets[@]} -eq 0 ]; then
    # The list CMake builds, so a new target needs no edit here.
    mapfile -t targets < <(sed -n 's/^set(MIDGE_FUZZ_TARGETS \(.*\))$/\1/p' \
        "$root/tests/fuzz/CMakeLists.txt" | tr ' ' '\n')
fi
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"

if [ -n "$runs" ]; then
    limit=(-runs="$runs")
else
    limit=(-max_total_time="$seconds")
fi

failed=0
printf '%-14s %12s %8s %8s  %s\n' target executions cov ft result
for t in "${targets[@]}"; do
    work="$build/fuzz-work/$t"
    rm -rf "$work"
    mkdir -p "$work/corpus"
    cp -r "$root/tests/fuzz/corpus/$t/." "$work/corpus/" 2>/dev/null || true
    extra=()
    [ -f "$root/tests/fuzz/$t.dict" ] && extra+=(-dict="$root/tests/fuzz/$t.dict")
    rc=0
    "$build/tests/fuzz/$t" "${limit[@]}" -timeout=5 -print_final_stats=1 \
        -artifact_prefix="$work/" "${extra[@]}" "$work/corpus" >"$work/fuzz.log" 2>&1 || rc=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
    # The last status line carries the final coverage: "#N DONE cov: X ft: Y ...".
    status=$(grep -E '^#[0-9]+' "$work/fuzz.log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/fuzz.log" | head -n 1)
    result=ok
    if [ "$rc" -ne 0 ] || [ -n "$crash" ]; then
        result="FAILED (exit $rc) ${crash:-see $work/fuzz.log}"
        failed=1
    fi
    printf '%-14s %12s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit "$failed"
