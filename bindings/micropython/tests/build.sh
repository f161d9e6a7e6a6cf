#!/usr/bin/env bash
# Build MicroPython's unix port twice, without and with the midge module,
# into a folder of the build tree (never into the repository):
#
#   build.sh OUT_DIR
#
# The source is $MICROPYTHON_DIR (a checkout of the user's own) when set,
# else $MICROPYTHON_ARCHIVE (by default the pinned 1.28.0 archive in
# ../shared/third_party), extracted once into OUT_DIR/src after its hash
# is checked. Where neither exists it says so in one line and exits 77
# (ctest's "skipped"). make is incremental: a second run only rebuilds
# what changed, so every test may call this first; a lock keeps parallel
# tests from building at once.
#
# Writes OUT_DIR/env: the paths the tests read (MP_PLAIN, MP_MIDGE, MP_SRC).
# MP_SANITIZE=1 builds the interpreter with the module under AddressSanitizer
# and UndefinedBehaviorSanitizer (the plain one stays as it is).
set -euo pipefail

OUT="${1:?usage: build.sh OUT_DIR}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
ARCHIVE="${MICROPYTHON_ARCHIVE:-$ROOT/../shared/third_party/micropython-1.28.0-unix.tar.xz}"
ARCHIVE_SHA256=40871dc0f9678713bf23f1bf48503b8e4a188468276ee0c0291a31f13493c96a
JOBS="$(nproc 2>/dev/null || echo 2)"

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

if [ -n "${MICROPYTHON_DIR:-}" ] && [ -d "$MICROPYTHON_DIR/ports/unix" ]; then
    SRC="$(cd "$MICROPYTHON_DIR" && pwd)"
elif [ -f "$ARCHIVE" ]; then
    SRC="$OUT/src/micropython-1.28.0"
    if [ ! -f "$OUT/src/.extracted" ] || [ "$(cat "$OUT/src/.extracted")" != "$ARCHIVE_SHA256" ]; then
        sum="$(sha256sum "$ARCHIVE" | cut -d' ' -f1)"
        if [ "$sum" != "$ARCHIVE_SHA256" ]; then
            echo "micropython: $ARCHIVE has sha256 $sum, expected $ARCHIVE_SHA256" >&2
            exit 1
        fi
        rm -rf "$OUT/src"
        mkdir -p "$OUT/src"
        tar -xJf "$ARCHIVE" -C "$OUT/src"
        echo "$ARCHIVE_SHA256" >"$OUT/src/.extracted"
    fi
else
    echo "micropython: skipped: no MicroPython source (set MICROPYTHON_DIR, or put" \
        "micropython-1.28.0-unix.tar.xz in ../shared/third_party)"
    exit 77
fi

# The port's own options: no btree and no ssl (their submodules are not in
# the archive).
MAKE_ARGS=(MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0)
SAN_FLAGS=()
if [ "${MP_SANITIZE:-0}" = 1 ]; then
    SAN_FLAGS=("CFLAGS_EXTRA=-fsanitize=address,undefined -fno-sanitize=nonnull-attribute -fno-omit-frame-pointer"
        "LDFLAGS_EXTRA=-fsanitize=address,undefined")
fi

log="$OUT/build.log"
: >"$log"
build() {
    if ! make "$@" >>"$log" 2>&1; then
        echo "micropython: build failed: make $*; the last lines of $log:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
}
build -C "$SRC/mpy-cross" -j"$JOBS"
build -C "$SRC/ports/unix" -j"$JOBS" "${MAKE_ARGS[@]}" BUILD="$OUT/build-plain"
build -C "$SRC/ports/unix" -j"$JOBS" "${MAKE_ARGS[@]}" "${SAN_FLAGS[@]}" BUILD="$OUT/build-midge" \
    USER_C_MODULES="$ROOT/bindings"

cat >"$OUT/env" <<EOF
MP_SRC=$SRC
MP_PLAIN=$OUT/build-plain/micropython
MP_MIDGE=$OUT/build-midge/micropython
EOF
