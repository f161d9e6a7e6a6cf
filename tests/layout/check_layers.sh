#!/usr/bin/env bash
# The layering of the README's architecture section, checked on the source:
#
#   cli --> bench --> client, device --> session --> codec
#
# Every folder of src/ reaches the others only through the public headers
# (include/midge/); its quoted includes name "midge/..." or a file of its
# own folder. The arrows between two folders of src/ are cli --> bench,
# through src/bench/bench.h (never the simulator's internal headers), and
# cli --> console, through src/console/console.h. And
# no layer includes the public header of a layer above it: the codec and
# the session know nothing of the client, the OS or the device; the device
# nothing of the client or the OS; the client and the ports nothing of the
# device.
#
# Usage: check_layers.sh [SOURCE_ROOT]   Exit 0, or 1 with one line per breach.
set -euo pipefail

ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$ROOT"
bad=0

breach() {
    echo "layers: $1:$2: #include \"$3\": $4"
    bad=1
}

# forbid GLOB WHY HEADER...: no file matching GLOB includes these public headers.
forbid() {
    local glob="$1" why="$2" file line inc h
    shift 2
    for file in $glob; do
        [ -f "$file" ] || continue
        while IFS=: read -r line inc; do
            for h in "$@"; do
                [ "$inc" = "midge/$h" ] && breach "$file" "$line" "$inc" "$why"
            done
        done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" |
                 sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/')
    done
    return 0
}

# Folders reach each other through include/midge/ only, and cli reaches bench.
while IFS= read -r file; do
    dir="$(dirname "$file")"
    while IFS=: read -r line inc; do
        case "$inc" in
            midge/*) [ -f "include/$inc" ] ||
                breach "$file" "$line" "$inc" "not a public header" ;;
            */*) breach "$file" "$line" "$inc" "another folder: use include/midge/" ;;
            *)
                if [ -f "$dir/$inc" ]; then continue; fi
                if [ "$dir" = src/cli ] && [ "$inc" = bench.h ]; then continue; fi
                if [ "$dir" = src/cli ] && [ "$inc" = console.h ]; then continue; fi
                breach "$file" "$line" "$inc" "not a header of $dir/" ;;
        esac
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" |
             sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/')
done < <(find src -name '*.[ch]' | sort)

ABOVE_SESSION="client.h midge.h port.h transport.h tls.h led.h device.h token.h"
forbid "src/mqtt/codec*.[ch] src/mqtt/topic*.c src/mqtt/session*.[ch] src/mqtt/core.c src/mqtt/strings.c" \
    "the codec and the session use no layer above them" $ABOVE_SESSION
forbid "src/device/*.[ch]" "the device uses the session and the codec only" \
    client.h midge.h port.h transport.h tls.h led.h
forbid "src/mqtt/client*.[ch] src/port/*/*.[ch]" "the client and the ports know no device" \
    device.h token.h

if [ "$bad" = 0 ]; then
    echo "layers: every include follows the arrows"
fi
exit "$bad"
