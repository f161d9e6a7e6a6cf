#!/usr/bin/env bash
# Code size of the midge client core and of the device logic on two
# microcontrollers, measured with their own cross compilers:
#   Cortex-M4 (arm-none-eabi-gcc, newlib headers)
#   ESP8266   (xtensa-lx106-elf-gcc, picolibc headers)
#
# Prints text+data per file (the Berkeley `size` of each target's binutils:
# "text" there already includes read-only data), the totals, and
# sizeof(midge_session) on each target. The budget counts exactly the files
# of MIDGE_CORE_SOURCES; the optional lists beside it are measured and shown
# with the reason they are outside, and the core objects are checked to
# need nothing from them (only memcpy/memmove/memset from the C library).
# The blocking client (outside the core, no budget) is measured too, and
# checked to need nothing from the system: no clock, no socket, no sleep
# (the platform passes those in, include/midge/platform.h).
# Exits 1 when a budget is exceeded or the core needs an excluded symbol,
# 77 when a cross compiler is missing (ctest reads 77 as "skipped"), 2 on a
# build error.
#
# Usage: scripts/footprint.sh [--quiet]
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Budgets, in bytes. The core must stay below coreMQTT (which has no
# automatic resend) while carrying resend and QoS 2 duplicate suppression.
BUDGET_CORE_M4=5120
BUDGET_CORE_ESP=6656
BUDGET_SESSION_STRUCT=128

# Flags as a vendor SDK build would use them. -ffreestanding: only the
# headers a freestanding C implementation guarantees (plus <string.h>, which
# every embedded libc ships) may be used.
COMMON_FLAGS=(-std=gnu11 -ffreestanding -DNDEBUG -Os -Wall -Wextra -Werror)
M4_CC=arm-none-eabi-gcc
M4_SIZE=arm-none-eabi-size
M4_NM=arm-none-eabi-nm
M4_FLAGS=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16)
ESP_CC=xtensa-lx106-elf-gcc
ESP_SIZE=xtensa-lx106-elf-size
ESP_NM=xtensa-lx106-elf-nm
ESP_FLAGS=(-mlongcalls)

for tool in "$M4_CC" "$M4_SIZE" "$M4_NM" "$ESP_CC" "$ESP_SIZE" "$ESP_NM"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "footprint: $tool not found (gcc-arm-none-eabi, gcc-xtensa-lx106): skipped"
        exit 77
    fi
done

# The file lists come from cmake/midge-sources.cmake, the same lists the
# CMake build and integrators read, so the measurement cannot drift from
# what "the core" means.
source_list() {
    sed -n "/^set($1\$/,/^)/p" cmake/midge-sources.cmake | grep -E '^\s+src/' | tr -d ' \t'
}
mapfile -t CORE_SOURCES < <(source_list MIDGE_CORE_SOURCES)
mapfile -t DEVICE_SOURCES < <(source_list MIDGE_DEVICE_SOURCES)
mapfile -t CLIENT_SOURCES < <(source_list MIDGE_CLIENT_SOURCES)

# Client-side code kept out of the core, and why: none of it is called by
# the codec or the session (the symbol check below proves it).
EXCLUDED_LISTS=(MIDGE_STRINGS_SOURCES MIDGE_MATCH_SOURCES MIDGE_SERVER_CODEC_SOURCES)
declare -A EXCLUDED_WHY=(
    [MIDGE_STRINGS_SOURCES]="status and malformed-reason text for people; the core returns the codes"
    [MIDGE_MATCH_SOURCES]="topic filter matching for routing received messages; the broker routes"
    [MIDGE_SERVER_CODEC_SOURCES]="the server half of the codec, for the tests' fake brokers"
)
EXCLUDED_SOURCES=()
for list in "${EXCLUDED_LISTS[@]}"; do
    mapfile -t files < <(source_list "$list")
    if [ "${#files[@]}" -eq 0 ]; then
        echo "footprint: could not read $list from cmake/midge-sources.cmake" >&2
        exit 2
    fi
    EXCLUDED_SOURCES+=("${files[@]}")
done
if [ "${#CORE_SOURCES[@]}" -eq 0 ] || [ "${#DEVICE_SOURCES[@]}" -eq 0 ] ||
   [ "${#CLIENT_SOURCES[@]}" -eq 0 ]; then
    echo "footprint: could not read the source lists from cmake/midge-sources.cmake" >&2
    exit 2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# jsmn is header-only and lives in /usr/include on Debian. Putting all of
# /usr/include on the path would let host headers shadow the target's libc;
# a directory holding only jsmn.h keeps the cross build honest.
mkdir -p "$WORK/jsmn"
JSMN_H=/usr/include/jsmn.h
if [ ! -f "$JSMN_H" ]; then
    echo "footprint: $JSMN_H not found (libjsmn-dev)" >&2
    exit 2
fi
ln -s "$JSMN_H" "$WORK/jsmn/jsmn.h"

# compile TARGET SRC...: one object per source under $WORK/TARGET/.
compile() {
    local target="$1" cc flags
    shift
    if [ "$target" = m4 ]; then cc=$M4_CC; flags=("${M4_FLAGS[@]}"); else cc=$ESP_CC; flags=("${ESP_FLAGS[@]}"); fi
    mkdir -p "$WORK/$target"
    for src in "$@"; do
        local obj="$WORK/$target/$(basename "$src" .c).o"
        if ! "$cc" "${COMMON_FLAGS[@]}" "${flags[@]}" -Iinclude -I"$WORK/jsmn" -c "$src" -o "$obj"; then
            echo "footprint: $src does not build for $target" >&2
            exit 2
        fi
    done
}

# text+data of one object (Berkeley format: text includes .rodata).
obj_size() {
    local sizetool="$1" obj="$2"
    "$sizetool" -B "$obj" | awk 'NR == 2 { print $1 + $2 }'
}

# sizeof(midge_session) without running target code: an array of that many
# bytes, whose symbol size nm -S reports.
struct_size() {
    local target="$1" cc nm flags
    if [ "$target" = m4 ]; then cc=$M4_CC; nm=$M4_NM; flags=("${M4_FLAGS[@]}"); else cc=$ESP_CC; nm=$ESP_NM; flags=("${ESP_FLAGS[@]}"); fi
    printf '#include "midge/session.h"\nchar midge_sizeof_session[sizeof(midge_session)];\n' >"$WORK/probe.c"
    "$cc" "${COMMON_FLAGS[@]}" "${flags[@]}" -fno-common -Iinclude -c "$WORK/probe.c" \
        -o "$WORK/probe_$target.o" || exit 2
    local hex
    hex=$("$nm" -S "$WORK/probe_$target.o" | awk '$4 == "midge_sizeof_session" { print $2 }')
    echo $((16#$hex))
}

compile m4 "${CORE_SOURCES[@]}" "${DEVICE_SOURCES[@]}" "${EXCLUDED_SOURCES[@]}" "${CLIENT_SOURCES[@]}"
compile esp "${CORE_SOURCES[@]}" "${DEVICE_SOURCES[@]}" "${EXCLUDED_SOURCES[@]}" "${CLIENT_SOURCES[@]}"

# core_needs TARGET: symbols the core objects use but do not define, other
# than the C library's memory functions (<string.h>, which every embedded
# libc ships). Non-empty means the core cannot link without something
# outside it.
core_needs() {
    local nm="$1" dir="$2" objs=()
    for src in "${CORE_SOURCES[@]}"; do objs+=("$dir/$(basename "$src" .c).o"); done
    comm -23 <("$nm" -u "${objs[@]}" | awk 'NF && $NF !~ /:$/ { print $NF }' | sort -u) \
             <("$nm" --defined-only "${objs[@]}" | awk 'NF == 3 { print $3 }' | sort -u) |
        grep -vxE 'memcpy|memmove|memset'
}

# client_needs TARGET: what the blocking client uses that neither it nor
# the core defines, other than <string.h> and the compiler's own runtime
# helpers (libgcc's __umodsi3 where there is no divide instruction, and
# the like: names no system defines). Non-empty means the client
# reaches for the system behind the platform's back (platform.h).
client_needs() {
    local nm="$1" dir="$2" objs=() own=()
    for src in "${CLIENT_SOURCES[@]}"; do objs+=("$dir/$(basename "$src" .c).o"); done
    for src in "${CLIENT_SOURCES[@]}" "${CORE_SOURCES[@]}"; do own+=("$dir/$(basename "$src" .c).o"); done
    comm -23 <("$nm" -u "${objs[@]}" | awk 'NF && $NF !~ /:$/ { print $NF }' | sort -u) \
             <("$nm" --defined-only "${own[@]}" | awk 'NF == 3 { print $3 }' | sort -u) |
        grep -vxE 'memcpy|memmove|memset|strcmp|strlen|__[a-z0-9_]+'
}

failed=0
# check_needs FUNCTION FAILURE OK: FUNCTION's symbols on both targets, one
# line either way; any symbol fails the run.
check_needs() {
    local m4 esp
    m4="$("$1" "$M4_NM" "$WORK/m4")"
    esp="$("$1" "$ESP_NM" "$WORK/esp")"
    if [ -n "$m4$esp" ]; then
        printf '  %s: %s\n' "$2" "$(printf '%s\n' $m4 $esp | sort -u | tr '\n' ' ')"
        failed=1
    else
        printf '  (%s)\n' "$3"
    fi
}

# table TITLE SRC...: per-file sizes on both targets; sets TOTAL_M4/TOTAL_ESP.
table() {
    local title="$1"
    shift
    TOTAL_M4=0
    TOTAL_ESP=0
    printf '\n%s (text+data, bytes)\n' "$title"
    printf '  %-28s %10s %10s\n' file Cortex-M4 ESP8266
    for src in "$@"; do
        local base m4 esp
        base="$(basename "$src" .c)"
        m4=$(obj_size "$M4_SIZE" "$WORK/m4/$base.o")
        esp=$(obj_size "$ESP_SIZE" "$WORK/esp/$base.o")
        printf '  %-28s %10d %10d\n' "$src" "$m4" "$esp"
        TOTAL_M4=$((TOTAL_M4 + m4))
        TOTAL_ESP=$((TOTAL_ESP + esp))
    done
    printf '  %-28s %10d %10d\n' total "$TOTAL_M4" "$TOTAL_ESP"
}

# verdict WHAT VALUE BUDGET
verdict() {
    if [ "$2" -le "$3" ]; then
        printf '  %-34s %6d <= %6d  ok\n' "$1" "$2" "$3"
    else
        printf '  %-34s %6d >  %6d  OVER BUDGET\n' "$1" "$2" "$3"
        failed=1
    fi
}

echo "midge footprint: ${COMMON_FLAGS[*]}"
echo "  Cortex-M4: $($M4_CC --version | head -1) ${M4_FLAGS[*]}"
echo "  ESP8266:   $($ESP_CC --version | head -1) ${ESP_FLAGS[*]}"

table "client core (MIDGE_CORE_SOURCES)" "${CORE_SOURCES[@]}"
CORE_M4=$TOTAL_M4
CORE_ESP=$TOTAL_ESP

printf '\noutside the core, not counted in its budget:\n'
for list in "${EXCLUDED_LISTS[@]}"; do
    mapfile -t files < <(source_list "$list")
    for src in "${files[@]}"; do
        base="$(basename "$src" .c)"
        printf '  %-28s %10d %10d   %s: %s\n' "$src" \
            "$(obj_size "$M4_SIZE" "$WORK/m4/$base.o")" "$(obj_size "$ESP_SIZE" "$WORK/esp/$base.o")" \
            "$list" "${EXCLUDED_WHY[$list]}"
    done
done
check_needs core_needs "the core needs symbols it does not define" \
    "the core objects need nothing from these: only memcpy, memmove, memset"
table "device logic (MIDGE_DEVICE_SOURCES, jsmn included)" "${DEVICE_SOURCES[@]}"
table "blocking client (MIDGE_CLIENT_SOURCES, outside the core)" "${CLIENT_SOURCES[@]}"
check_needs client_needs "the client needs symbols from outside midge" \
    "the client needs nothing from the system: the platform passes it in"

SESSION_M4=$(struct_size m4)
SESSION_ESP=$(struct_size esp)
printf '\nsizeof(midge_session): Cortex-M4 %d B, ESP8266 %d B (caller-owned buffers not included)\n' \
    "$SESSION_M4" "$SESSION_ESP"

# Published figures of the libraries users would pick instead, same
# compiler families at -Os, for scale.
cat <<'EOF'

reference (client core, text+data):        Cortex-M4   ESP8266
  coreMQTT (MQTT 3.1.1, no automatic resend)   6.9 KB    9.2 KB
  Paho embedded C (no QoS 2 dup suppression)   4.4 KB    6.1 KB
EOF

printf '\nbudgets:\n'
verdict "client core, Cortex-M4" "$CORE_M4" "$BUDGET_CORE_M4"
verdict "client core, ESP8266" "$CORE_ESP" "$BUDGET_CORE_ESP"
verdict "sizeof(midge_session), Cortex-M4" "$SESSION_M4" "$BUDGET_SESSION_STRUCT"
verdict "sizeof(midge_session), ESP8266" "$SESSION_ESP" "$BUDGET_SESSION_STRUCT"
exit $failed
