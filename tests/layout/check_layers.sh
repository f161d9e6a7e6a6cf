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
# Inside src/cli/, the option machinery calls one way too:
#
#   options (parser) --> config_defaults --> config (layers) --> the table
#
# where the table is options_table.h, the types and the rows' contract,
# under options_mosq.h, the checks of mosquitto's flags that the rows name
# (options_table.c and options_mosq.c are the table's sources).
#
# Each of those files has a rank (below); a header includes only headers of
# a lower rank, a source file only headers of its rank or lower, and the
# helpers they include (escape.h, log.h...) include none of them, nor
# cli.h, which sits above them all with the subcommands.
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
            # The lwIP port is written on lwIP's own API (third_party/lwip/).
            lwip/*) [ "$dir" = src/port/lwip ] && [ -f "third_party/lwip/src/include/$inc" ] ||
                breach "$file" "$line" "$inc" "lwIP's headers belong to src/port/lwip/ only" ;;
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

# The option machinery of src/cli/, lowest first; a .c file has the rank
# of its header (options_table.c that of options_mosq.h, whose flags its
# rows name).
declare -A RANK=(
    [options_table.h]=1
    [options_mosq.h]=2 [options_mosq.c]=2 [options_table.c]=2
    [config.h]=3 [config.c]=3
    [config_defaults.h]=4 [config_defaults.c]=4
    [options.h]=5 [options.c]=5
)
ORDER="options_table.h < options_mosq.h < config < config_defaults < options"
declare -A HELPER_SEEN=()

cli_includes() {
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "src/cli/$1" |
        sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/'
}

# A helper header of src/cli/ the machinery includes: none of the machinery
# nor cli.h, directly or through another helper.
check_helper() {
    local h="$1" line inc
    [ -z "${HELPER_SEEN[$h]:-}" ] || return 0
    HELPER_SEEN[$h]=1
    while IFS=: read -r line inc; do
        [ -f "src/cli/$inc" ] || continue
        if [ -n "${RANK[$inc]:-}" ] || [ "$inc" = cli.h ]; then
            breach "src/cli/$h" "$line" "$inc" \
                "a helper the option machinery includes includes none of it"
        else
            check_helper "$inc"
        fi
    done < <(cli_includes "$h")
}

for f in $(printf "%s\n" "${!RANK[@]}" | sort); do
    [ -f "src/cli/$f" ] || continue
    r="${RANK[$f]}"
    while IFS=: read -r line inc; do
        [ -f "src/cli/$inc" ] || continue
        if [ "$inc" = cli.h ]; then
            breach "src/cli/$f" "$line" "$inc" "the option machinery is below cli.h"
            continue
        fi
        ir="${RANK[$inc]:-}"
        if [ -z "$ir" ]; then
            check_helper "$inc"
        elif [ "$ir" -gt "$r" ] || { [ "${f##*.}" = h ] && [ "$ir" -ge "$r" ]; }; then
            breach "src/cli/$f" "$line" "$inc" \
                "not below $f in the option machinery ($ORDER)"
        fi
    done < <(cli_includes "$f")
done

if [ "$bad" = 0 ]; then
    echo "layers: every include follows the arrows"
fi
exit "$bad"
