#!/usr/bin/env bash
# Vendor the subset of lwIP 2.2.1 that midge's builds use into
# third_party/lwip/, unmodified, from the pinned archive (a `git archive` of
# the STABLE-2_2_1_RELEASE commit). With --check, compare the vendored files
# with the archive instead (exit 1 on any difference or missing file).
#
# Usage: scripts/vendor-lwip.sh [--check] [ARCHIVE]
#   ARCHIVE defaults to ../shared/third_party/lwip-2.2.1.tar.xz
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHA256=43a41b0f916ebed28577a491c7566d4d5a33a1d870f05fa0449398571d5baecf
CHECK=0
if [ "${1:-}" = --check ]; then
    CHECK=1
    shift
fi
ARCHIVE="${1:-$ROOT/../shared/third_party/lwip-2.2.1.tar.xz}"
DEST="$ROOT/third_party/lwip"

# What the firmware (boards/mps2-an385), the transport's host test
# (tests/lwip) and the ESP8266 size check compile: lwIP's core with IPv4,
# TCP, ICMP, ARP and Ethernet, and the headers those include.
FILES=(
    COPYING README
    src/core/def.c src/core/inet_chksum.c src/core/init.c src/core/ip.c src/core/mem.c
    src/core/memp.c src/core/netif.c src/core/pbuf.c src/core/tcp.c src/core/tcp_in.c
    src/core/tcp_out.c src/core/timeouts.c
    src/core/ipv4/etharp.c src/core/ipv4/icmp.c src/core/ipv4/ip4.c src/core/ipv4/ip4_addr.c
    src/netif/ethernet.c
    src/include/lwip/acd.h src/include/lwip/altcp.h src/include/lwip/api.h
    src/include/lwip/arch.h src/include/lwip/autoip.h src/include/lwip/debug.h
    src/include/lwip/def.h src/include/lwip/dhcp.h src/include/lwip/dhcp6.h
    src/include/lwip/dns.h src/include/lwip/err.h src/include/lwip/etharp.h
    src/include/lwip/icmp.h src/include/lwip/igmp.h src/include/lwip/inet_chksum.h
    src/include/lwip/init.h src/include/lwip/ip.h src/include/lwip/ip4.h
    src/include/lwip/ip4_addr.h src/include/lwip/ip4_frag.h src/include/lwip/ip6.h
    src/include/lwip/ip6_addr.h src/include/lwip/ip6_frag.h src/include/lwip/ip_addr.h
    src/include/lwip/mem.h src/include/lwip/memp.h src/include/lwip/mld6.h
    src/include/lwip/nd6.h src/include/lwip/netbuf.h src/include/lwip/netdb.h
    src/include/lwip/netif.h src/include/lwip/opt.h src/include/lwip/pbuf.h
    src/include/lwip/raw.h src/include/lwip/snmp.h src/include/lwip/sockets.h
    src/include/lwip/stats.h src/include/lwip/sys.h src/include/lwip/tcp.h
    src/include/lwip/tcpbase.h src/include/lwip/timeouts.h src/include/lwip/udp.h
    src/include/lwip/priv/api_msg.h src/include/lwip/priv/mem_priv.h
    src/include/lwip/priv/memp_priv.h src/include/lwip/priv/memp_std.h
    src/include/lwip/priv/nd6_priv.h src/include/lwip/priv/raw_priv.h
    src/include/lwip/priv/sockets_priv.h src/include/lwip/priv/tcp_priv.h
    src/include/lwip/priv/tcpip_priv.h
    src/include/lwip/prot/dns.h src/include/lwip/prot/etharp.h
    src/include/lwip/prot/ethernet.h src/include/lwip/prot/iana.h
    src/include/lwip/prot/icmp.h src/include/lwip/prot/ieee.h src/include/lwip/prot/ip.h
    src/include/lwip/prot/ip4.h src/include/lwip/prot/tcp.h src/include/lwip/prot/udp.h
    src/include/netif/ethernet.h src/include/netif/etharp.h
    src/include/netif/ppp/ppp_impl.h src/include/netif/ppp/ppp_opts.h
)

if [ ! -f "$ARCHIVE" ]; then
    echo "vendor-lwip: $ARCHIVE not found" >&2
    exit 2
fi
if [ "$(sha256sum "$ARCHIVE" | cut -d' ' -f1)" != "$SHA256" ]; then
    echo "vendor-lwip: $ARCHIVE does not have the pinned sha256 $SHA256" >&2
    exit 2
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
tar -xJf "$ARCHIVE" -C "$WORK"
SRC="$WORK/lwip-2.2.1"

if [ "$CHECK" = 1 ]; then
    bad=0
    for f in "${FILES[@]}"; do
        if ! cmp -s "$SRC/$f" "$DEST/$f"; then
            echo "vendor-lwip: third_party/lwip/$f differs from the archive" >&2
            bad=1
        fi
    done
    # Nothing vendored beyond the list (and this folder's own VENDOR.md).
    while IFS= read -r f; do
        case " ${FILES[*]} VENDOR.md " in
        *" $f "*) ;;
        *) echo "vendor-lwip: third_party/lwip/$f is not in the list" >&2; bad=1 ;;
        esac
    done < <(cd "$DEST" && find . -type f | sed 's|^\./||' | sort)
    [ "$bad" = 0 ] && echo "vendor-lwip: ${#FILES[@]} files identical to the archive"
    exit "$bad"
fi

find "$DEST" -mindepth 1 ! -name VENDOR.md -delete 2>/dev/null || true
for f in "${FILES[@]}"; do
    mkdir -p "$DEST/$(dirname "$f")"
    cp "$SRC/$f" "$DEST/$f"
done
echo "vendor-lwip: ${#FILES[@]} files into third_party/lwip"
