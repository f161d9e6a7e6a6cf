#!/usr/bin/env bash
# Set up, build and run every test twice: a RelWithDebInfo build in build/ and
# an AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/. In
# between, the unit tests run again under valgrind memcheck (any error or
# leak fails), and last every libFuzzer target runs for 10 seconds in
# build-fuzz/ (clang). Each ctest run ends with the secrets scan
# (tests/secrets/). Exits non-zero if any step failed; prints a summary
# with the time of each step either way.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="$(nproc 2>/dev/null || echo 2)"

export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}"

summary=()
failed=0
run_start=$SECONDS

# Leaks count as errors, and errors make the test exit 99: ctest then fails
# it. Still-reachable blocks (cmocka's and libc's own) are not leaks.
VALGRIND_OPTIONS="--error-exitcode=99 --leak-check=full \
--show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible"

# ctest's memcheck mode with valgrind named here rather than in CMake
# (include(CTest) would add its dashboard targets to every build). -FA:
# the secrets fixture (a cmake script and a scan) is not under test here.
memcheck() {
    local dir="$1"
    rm -f "$dir"/Testing/Temporary/MemoryChecker.*.log
    if ctest --test-dir "$dir" -L unit -FA '.*' -T memcheck -j2 --timeout 600 \
        --output-on-failure \
        --overwrite "MemoryCheckCommand=$(command -v valgrind)" \
        --overwrite "MemoryCheckCommandOptions=$VALGRIND_OPTIONS"; then
        return 0
    fi
    # What valgrind said, for the tests it found something in (a clean
    # run's log ends with "ERROR SUMMARY: 0 errors").
    local log
    for log in "$dir"/Testing/Temporary/MemoryChecker.*.log; do
        if [ -s "$log" ] && ! grep -q "ERROR SUMMARY: 0 errors" "$log"; then
            echo "---- $log"
            cat "$log"
        fi
    done
    return 1
}

step() {
    local name="$1"
    shift
    local start=$SECONDS
    echo
    echo "==== $name"
    if "$@"; then
        summary+=("PASS  $name ($((SECONDS - start)) s)")
    else
        summary+=("FAIL  $name ($((SECONDS - start)) s)")
        failed=1
    fi
}

# Labels whose tests drive external programs (other brokers, the README's
# commands, QEMU with the firmware image, chromium with the console's page):
# run in the plain pass only, each as a step of its own so the summary shows
# its wall time.
EXTERNAL_LABELS=(interop journeys firmware micropython cluster platform console)
EXTERNAL_RE="^($(IFS='|'; echo "${EXTERNAL_LABELS[*]}"))\$"

step "setup and build (build/)" ./scripts/setup.sh
step "tests (build/)" ctest --test-dir build --output-on-failure -j2 --timeout 600 \
    -LE "$EXTERNAL_RE"
for label in "${EXTERNAL_LABELS[@]}"; do
    step "label $label (build/)" ctest --test-dir build --output-on-failure -j2 --timeout 900 \
        -L "^$label\$"
done
step "valgrind memcheck of the unit tests (build/)" memcheck build
step "configure (build-asan/)" cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMIDGE_SANITIZE=ON
step "build (build-asan/)" cmake --build build-asan -j"$JOBS"
step "tests (build-asan/)" ctest --test-dir build-asan --output-on-failure -j2 --timeout 600 \
    -LE "$EXTERNAL_RE"
# The platform plugin built with ASan and UBSan, inside Debian's mosquitto
# with the sanitizer runtime preloaded (the tests do the preloading).
step "label platform (build-asan/)" ctest --test-dir build-asan --output-on-failure -j2 \
    --timeout 900 -L '^platform$'
step "fuzz, 10 s per target (build-fuzz/)" ./scripts/fuzz.sh 10

echo
echo "==== summary"
for line in "${summary[@]}"; do
    echo "$line"
done
echo "total: $((SECONDS - run_start)) s"

if [ "$failed" -ne 0 ]; then
    echo "RESULT: FAILED"
    exit 1
fi
echo "RESULT: all passed"
