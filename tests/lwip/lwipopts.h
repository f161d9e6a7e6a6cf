/*
 * lwIP for the transport's host test: NO_SYS=1 as on a board, the loopback
 * interface (127.0.0.1) as the network, a listener for the test's server
 * side, and lwIP's own static pools. Small windows, so that a test can
 * fill them.
 */
#ifndef MIDGE_TEST_LWIPOPTS_H
#define MIDGE_TEST_LWIPOPTS_H

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_TIMERS 1
#define MEM_LIBC_MALLOC 0
#define MEMP_MEM_MALLOC 0
#define MEM_ALIGNMENT 8
#define MEM_SIZE 16384
#define MEMP_NUM_TCP_PCB 6
#define MEMP_NUM_TCP_PCB_LISTEN 2
#define MEMP_NUM_TCP_SEG 32
#define PBUF_POOL_SIZE 24
#define PBUF_POOL_BUFSIZE 640

/* IPv4 and TCP over the loopback interface; lwIP's defaults otherwise,
 * less what the transport does not use. */
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define IP_REASSEMBLY 0
#define IP_FRAG 0
#define LWIP_UDP 0
#define TCP_MSS 536
#define TCP_WND (2 * TCP_MSS)
#define TCP_SND_BUF (2 * TCP_MSS)
#define TCP_SND_QUEUELEN 8

#define LWIP_HAVE_LOOPIF 1
#define LWIP_NETIF_LOOPBACK 1
#define LWIP_LOOPBACK_MAX_PBUFS 0

#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
#define LWIP_STATS 0
#define PPP_SUPPORT 0

#endif /* MIDGE_TEST_LWIPOPTS_H */
