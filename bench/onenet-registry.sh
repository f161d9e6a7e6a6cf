#!/usr/bin/env bash
# The platform plugin's registry for a `midge bench --profile onenet` fleet:
# one product and N devices named as the bench names them, <prefix>-<w>-<n>
# with device g = n * WORKERS + w (worker w has N / WORKERS devices, plus
# one for the first N % WORKERS workers).
#
# Usage: MASTER_KEY=... bench/onenet-registry.sh FILE N [WORKERS [PREFIX [PRODUCT]]]
#   WORKERS: the bench's --workers (default 1); PREFIX: its -i (default
#   bench); PRODUCT: its --product-id (default 91025). The devices log in
#   with the product's master key, so no device has a key of its own.
# FILE is written whole (mode 0644: the broker may run as its own user; it
# holds the master key, so keep it somewhere only you and the broker read).
set -euo pipefail

if [ $# -lt 2 ] || [ -z "${MASTER_KEY:-}" ]; then
    echo "usage: MASTER_KEY=... $0 FILE N [WORKERS [PREFIX [PRODUCT]]]" >&2
    exit 2
fi
FILE="$1" N="$2" WORKERS="${3:-1}" PREFIX="${4:-bench}" PRODUCT="${5:-91025}"
case "$N$WORKERS" in *[!0-9]*) echo "$0: N and WORKERS are numbers" >&2; exit 2 ;; esac
if [ "$N" -lt 1 ] || [ "$WORKERS" -lt 1 ] || [ "$WORKERS" -gt "$N" ]; then
    echo "$0: need 1 <= WORKERS <= N" >&2
    exit 2
fi

tmp="$FILE.tmp.$$"
trap 'rm -f "$tmp"' EXIT
{
    echo "# midge bench --profile onenet: $N devices, $WORKERS worker(s), -i $PREFIX"
    printf '[product %s]\nmaster-key = %s\n' "$PRODUCT" "$MASTER_KEY"
    awk -v n="$N" -v w="$WORKERS" -v prefix="$PREFIX" -v product="$PRODUCT" 'BEGIN {
        for (g = 0; g < n; g++)
            printf "[device %s-%d-%d]\nproduct = %s\n", prefix, g % w, int(g / w), product
    }'
} >"$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$FILE"
trap - EXIT
