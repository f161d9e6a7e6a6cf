/*
 * midge over lwIP: the transport contract of transport.h on lwIP's raw TCP
 * API, for the systems that run lwIP without threads (NO_SYS=1: the
 * ESP8266 NONOS SDK, bare-metal STM32Cube projects, the Pico W's polled
 * mode, QEMU's MPS2 boards). No board code: whatever drives the network
 * interface is the platform's idle hook (platform.h).
 *
 * The contract, on top of transport.h's:
 *
 *   Context. Every function here, the client's calls that reach them and
 *   the platform's idle hook run in lwIP's one context: with NO_SYS=1, the
 *   application's main loop (never an interrupt handler). lwIP's callbacks
 *   run inside the idle hook (while it polls the network interface and
 *   runs sys_check_timeouts()) and only record what happened.
 *
 *   Waiting. wait() and the connect inside open() loop on the platform's
 *   idle hook until the condition holds or their time, read from the
 *   platform's clock, has passed. The hook must let lwIP make progress: poll
 *   the interface (feed received frames to netif->input), then call
 *   sys_check_timeouts(); it may sleep until the next interrupt.
 *
 *   Addresses. `host` is a dotted IPv4 address, or (with LWIP_IPV6) an IPv6
 *   one; with LWIP_DNS a name is resolved through lwIP's resolver (within
 *   the open's timeout; MIDGE_ERR_RESOLVE when it fails).
 *
 *   Sending. send() copies into lwIP's send buffer (TCP_WRITE_FLAG_COPY)
 *   and returns what it took: up to tcp_sndbuf(), 0 when the buffer or
 *   the segment queue (TCP_SND_QUEUELEN) is full. Nagle is off: an MQTT
 *   packet leaves when it is handed over.
 *
 *   Receiving. Segments are kept as lwIP gave them (a pbuf chain) until
 *   recv() copies them out; the receive window opens (tcp_recved) only as
 *   they are read, so a slow reader pushes back on the sender instead of
 *   exhausting the pbuf pool. A FIN is MIDGE_ERR_CLOSED once everything
 *   before it has been read; a reset or an abort (lwIP's err callback),
 *   MIDGE_ERR_CLOSED for a reset, MIDGE_ERR_IO otherwise.
 *
 *   Closing. close() detaches every callback and closes the pcb
 *   (tcp_close, or tcp_abort when lwIP has no memory to send the FIN), and
 *   frees what was received and not read. lwIP keeps the pcb for the TCP
 *   closing handshake: size MEMP_NUM_TCP_PCB for one connection plus the
 *   ones still closing after reconnects (lwIP reuses TIME_WAIT pcbs first
 *   when it runs out).
 *
 * Memory: the caller owns the midge_lwip_tcp (static, typically); the
 * transport allocates nothing of its own, only lwIP's pcbs and pbufs from
 * lwIP's pools. One midge_lwip_tcp carries one connection at a time, which
 * is what the client needs (it closes before it reopens).
 */
#ifndef MIDGE_LWIP_H
#define MIDGE_LWIP_H

#include <stdbool.h>
#include <stdint.h>

#include "midge/platform.h"
#include "midge/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tcp_pcb;
struct pbuf;

/* One connection's state. Visible so it can be static; fields private. */
typedef struct midge_lwip_tcp {
    const midge_platform *platform; /* clock and idle (which drives lwIP) */
    struct tcp_pcb *pcb;            /* NULL once closed, or freed by lwIP */
    struct pbuf *rx;                /* received, not yet read */
    int status;                     /* MIDGE_OK, or what ended the connection */
    bool connected;                 /* the handshake completed */
    bool fin;                       /* the peer closed its side */
    bool resolved;                  /* the resolver answered (LWIP_DNS) */
    void *resolve_into;             /* the address it fills, during open only */
} midge_lwip_tcp;

/* Set up `t` with the platform whose idle hook drives lwIP. */
void midge_lwip_tcp_init(midge_lwip_tcp *t, const midge_platform *platform);

/* Connect to host:port within timeout_ms and fill *out with send, recv,
 * wait and close over `t`. Returns MIDGE_OK, MIDGE_ERR_RESOLVE (not an
 * address, or the resolver failed), MIDGE_ERR_CONNECT (refused, no pcb,
 * or no answer in time) or MIDGE_ERR_INVALID (NULL arguments). */
midge_status midge_lwip_tcp_open(midge_lwip_tcp *t, const char *host, uint16_t port,
                                 uint32_t timeout_ms, midge_transport *out);

/* midge_transport_open_fn over midge_lwip_tcp_open; `opener` is a
 * midge_lwip_tcp * set up with midge_lwip_tcp_init. */
midge_status midge_lwip_opener(void *opener, const char *host, uint16_t port,
                               uint32_t timeout_ms, midge_transport *out);

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_LWIP_H */
