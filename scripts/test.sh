#!/usr/bin/env bash
# Set up, build and run every test twice: a RelWithDebInfo build in build/ and
# an AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/.
# Exits non-zero if any step failed; prints a summary either way.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="$(nproc 2>/dev/null || echo 2)"

export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}"

summary=()
failed=0

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

step "setup and build (build/)" ./scripts/setup.sh
step "tests (build/)" ctest --test-dir build --output-on-failure -j2 --timeout 600
step "configure (build-asan/)" cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMIDGE_SANITIZE=ON
step "build (build-asan/)" cmake --build build-asan -j"$JOBS"
step "tests (build-asan/)" ctest --test-dir build-asan --output-on-failure -j2 --timeout 600

echo
echo "==== summary"
for line in "${summary[@]}"; do
    echo "$line"
done
if [ "$failed" -ne 0 ]; then
    echo "RESULT: FAILED"
    exit 1
fi
echo "RESULT: all passed"
