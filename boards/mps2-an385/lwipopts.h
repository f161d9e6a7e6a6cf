/*
 * lwIP for the MPS2 AN385 firmware: one TCP connection to a broker over
 * the board's LAN9118, no threads (NO_SYS=1), no heap of the C library
 * (every pool static, the firmware traps malloc), IPv4 with a static
 * address, no UDP, DNS or DHCP. Sized for the 32 KiB RAM budget:
 * TCP_MSS 536 keeps every segment in one pool pbuf.
 */
#ifndef MIDGE_BOARD_LWIPOPTS_H
#define MIDGE_BOARD_LWIPOPTS_H

/* Threads and memory */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_TIMERS 1
#define MEM_LIBC_MALLOC 0
#define MEMP_MEM_MALLOC 0
#define MEM_ALIGNMENT 4
/* lwIP's own heap: PBUF_RAM for the copies tcp_write makes and for ARP. */
#define MEM_SIZE 4096
#define MEMP_NUM_PBUF 4
#define MEMP_NUM_RAW_PCB 0
#define MEMP_NUM_UDP_PCB 0
/* One connection plus two still closing after reconnects. */
#define MEMP_NUM_TCP_PCB 3
#define MEMP_NUM_TCP_PCB_LISTEN 0
#define MEMP_NUM_TCP_SEG 12
#define MEMP_NUM_REASSDATA 0
#define MEMP_NUM_FRAG_PBUF 0
#define MEMP_NUM_ARP_QUEUE 2
#define PBUF_POOL_SIZE 8
#define PBUF_POOL_BUFSIZE 640

/* Protocols */
#define LWIP_ARP 1
#define ARP_TABLE_SIZE 4
#define ARP_QUEUEING 1
#define LWIP_ETHERNET 1
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define IP_FORWARD 0
#define IP_REASSEMBLY 0
#define IP_FRAG 0
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_ACD 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define LWIP_UDP 0
#define LWIP_TCP 1
#define TCP_MSS 536
#define TCP_WND (4 * TCP_MSS)
#define TCP_SND_BUF (4 * TCP_MSS)
#define TCP_SND_QUEUELEN 8
#define TCP_LISTEN_BACKLOG 0
#define LWIP_TCP_KEEPALIVE 0
#define LWIP_ALTCP 0

/* Interfaces */
#define LWIP_NETIF_HOSTNAME 0
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0
#define LWIP_HAVE_LOOPIF 0
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_SINGLE_NETIF 1

/* APIs: the raw API only */
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
#define LWIP_STATS 0
#define LWIP_STATS_DISPLAY 0
#define PPP_SUPPORT 0

/* Checksums in software (the LAN9118 is not asked to offload). */
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_TCP 1

#endif /* MIDGE_BOARD_LWIPOPTS_H */
