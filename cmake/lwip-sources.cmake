# The lwIP 2.2.1 core that midge's lwIP users compile (third_party/lwip, the
# subset scripts/vendor-lwip.sh lays out): IPv4, TCP, ICMP, ARP and
# Ethernet; NO_SYS=1. Paths are relative to the project root. Each user
# adds its own folder with lwipopts.h and arch/cc.h to the include path.
set(MIDGE_LWIP_CORE_SOURCES
    third_party/lwip/src/core/def.c
    third_party/lwip/src/core/inet_chksum.c
    third_party/lwip/src/core/init.c
    third_party/lwip/src/core/ip.c
    third_party/lwip/src/core/mem.c
    third_party/lwip/src/core/memp.c
    third_party/lwip/src/core/netif.c
    third_party/lwip/src/core/pbuf.c
    third_party/lwip/src/core/tcp.c
    third_party/lwip/src/core/tcp_in.c
    third_party/lwip/src/core/tcp_out.c
    third_party/lwip/src/core/timeouts.c
    third_party/lwip/src/core/ipv4/etharp.c
    third_party/lwip/src/core/ipv4/icmp.c
    third_party/lwip/src/core/ipv4/ip4.c
    third_party/lwip/src/core/ipv4/ip4_addr.c
    third_party/lwip/src/netif/ethernet.c
)
set(MIDGE_LWIP_INCLUDE_DIRS third_party/lwip/src/include)
