#!/usr/bin/env bash
# check_layers.sh must catch a breach of the option machinery's order: each
# case below adds one include to a copy of the tree, and the check must
# then fail, naming that file. Usage: check_layers_catches.sh [SOURCE_ROOT]
set -euo pipefail

ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
CHECK="$ROOT/tests/layout/check_layers.sh"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
failed=0

# FILE HEADER: the include that breaks the order, and why it must.
cases=(
    "options_table.c config.h"           # the table calls the layers
    "options_table.h options_mosq.h"     # a header includes its own rank
    "options_mosq.c cli.h"               # the table reaches the subcommands' header
    "config.c config_defaults.h"         # the layers call the defaults
    "config.h options.h"                 # the layers' header includes the parser's
    "config_defaults.c options.h"        # the defaults call the parser
    "escape.h options.h"                 # a helper the table includes reaches the parser
)

if ! "$CHECK" "$ROOT" > /dev/null; then
    echo "catches: the tree itself fails the check"
    exit 1
fi
for c in "${cases[@]}"; do
    read -r file header <<< "$c"
    rm -rf "$WORK/tree"
    mkdir -p "$WORK/tree"
    cp -r "$ROOT/src" "$ROOT/include" "$WORK/tree/"
    # After the file's first line: in a header, inside nothing that matters.
    sed -i "1a #include \"$header\"" "$WORK/tree/src/cli/$file"
    if out="$("$CHECK" "$WORK/tree")"; then
        echo "catches: $file including $header passed the check"
        failed=1
    elif ! grep -q "src/cli/$file:2: #include \"$header\"" <<< "$out"; then
        echo "catches: $file including $header failed without naming it:"
        echo "$out"
        failed=1
    else
        echo "caught: $(grep "src/cli/$file:2:" <<< "$out" | head -1)"
    fi
done
exit "$failed"
