/*
 * lwIP options for measuring midge's lwIP transport as an ESP8266 build
 * would compile it (scripts/firmware-size.sh): lwIP 2.x as the ESP8266
 * Arduino core and esp-open-lwip configure it, NO_SYS=1, with DNS (a
 * device there resolves the broker's name). Headers only: nothing links.
 */
#ifndef MIDGE_ESP8266_LWIPOPTS_H
#define MIDGE_ESP8266_LWIPOPTS_H

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define MEM_LIBC_MALLOC 0
#define MEM_ALIGNMENT 4
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_TCP 1
#define LWIP_UDP 1
#define LWIP_DNS 1
#define LWIP_DHCP 1
#define TCP_MSS 1460
#define TCP_WND (4 * TCP_MSS)
#define TCP_SND_BUF (2 * TCP_MSS)
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
#define LWIP_STATS 0

#endif /* MIDGE_ESP8266_LWIPOPTS_H */
