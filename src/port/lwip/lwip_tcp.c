/*
 * midge lwIP port: the transport over lwIP's raw TCP API (see lwip.h for
 * the contract).
 *
 * lwIP calls back from inside the platform's idle hook (netif input and
 * sys_check_timeouts run there); the callbacks only record what happened
 * in the midge_lwip_tcp, and the transport's functions read that record.
 * Nothing here blocks except through the idle hook, so a board with one
 * main loop and no threads runs it as it is.
 */
#include <string.h>

#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#if LWIP_DNS
#include "lwip/dns.h"
#endif

#include "midge/lwip.h"

static uint32_t lwip_now(const midge_lwip_tcp *t)
{
    return t->platform->clock_ms(t->platform->ctx);
}

/* Milliseconds left of `timeout_ms` since `start` (wrap-safe), 0 when past. */
static uint32_t lwip_left(const midge_lwip_tcp *t, uint32_t start, uint32_t timeout_ms)
{
    uint32_t spent = lwip_now(t) - start;
    return spent < timeout_ms ? timeout_ms - spent : 0;
}

/* Let lwIP run (the board polls its interface and timers in there). */
static void lwip_idle(const midge_lwip_tcp *t, uint32_t ms)
{
    t->platform->idle(t->platform->ctx, ms);
}

/* --- lwIP's callbacks ------------------------------------------------------ */

/* The pcb is gone when this runs (lwIP freed it): forget it. */
static void lwip_on_err(void *arg, err_t err)
{
    midge_lwip_tcp *t = arg;
    if (t == NULL)
        return;
    t->pcb = NULL;
    t->status = err == ERR_RST || err == ERR_CLSD ? MIDGE_ERR_CLOSED : MIDGE_ERR_IO;
}

static err_t lwip_on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    midge_lwip_tcp *t = arg;
    (void)pcb;
    /* lwIP 2.x always passes ERR_OK here; failures come through on_err. */
    if (t != NULL && err == ERR_OK)
        t->connected = true;
    return ERR_OK;
}

/* Segments stay in their pbufs until recv() copies them out; the window
 * opens as they are read (tcp_recved there), not here. */
static err_t lwip_on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    midge_lwip_tcp *t = arg;
    if (p == NULL) {
        if (t != NULL)
            t->fin = true;
        return ERR_OK;
    }
    if (t == NULL || err != ERR_OK) {
        pbuf_free(p);
        return ERR_OK;
    }
    if (t->rx == NULL)
        t->rx = p;
    else
        pbuf_cat(t->rx, p); /* takes over p's reference */
    /* Acknowledge now, not on lwIP's delayed-ACK timer (up to
     * TCP_TMR_INTERVAL): a peer running Nagle's algorithm holds its next
     * small segment (the next command) until this ACK arrives. The ACK
     * leaves with the tcp_output that ends lwIP's input processing. */
    tcp_set_flags(pcb, TF_ACK_NOW);
    return ERR_OK;
}

#if LWIP_DNS
static void lwip_on_resolved(const char *name, const ip_addr_t *addr, void *arg)
{
    midge_lwip_tcp *t = arg;
    (void)name;
    /* A late answer for an open that gave up finds no address to fill. */
    if (t == NULL || t->resolve_into == NULL)
        return;
    t->resolved = true;
    if (addr != NULL)
        ip_addr_copy(*(ip_addr_t *)t->resolve_into, *addr);
    else
        t->resolve_into = NULL;
}
#endif

/* --- the transport --------------------------------------------------------- */

static long lwip_send(void *ctx, const uint8_t *buf, size_t len)
{
    midge_lwip_tcp *t = ctx;

    if (t->status != MIDGE_OK)
        return t->status;
    if (t->pcb == NULL)
        return MIDGE_ERR_CLOSED;
    size_t room = tcp_sndbuf(t->pcb);
    if (room == 0 || tcp_sndqueuelen(t->pcb) >= TCP_SND_QUEUELEN)
        return 0;
    uint16_t n = (uint16_t)(len < room ? len : room);
    err_t err = tcp_write(t->pcb, buf, n, TCP_WRITE_FLAG_COPY);
    if (err == ERR_MEM)
        return 0; /* no segment or pbuf free right now: try later */
    if (err != ERR_OK)
        return MIDGE_ERR_IO;
    /* Out now: with Nagle off, waiting would only add latency. */
    tcp_output(t->pcb);
    return (long)n;
}

static long lwip_recv(void *ctx, uint8_t *buf, size_t len)
{
    midge_lwip_tcp *t = ctx;

    if (t->rx == NULL) {
        if (t->status != MIDGE_OK)
            return t->status;
        return t->fin || t->pcb == NULL ? MIDGE_ERR_CLOSED : 0;
    }
    uint16_t want = (uint16_t)(len < t->rx->tot_len ? len : t->rx->tot_len);
    uint16_t n = pbuf_copy_partial(t->rx, buf, want, 0);
    /* Frees the pbufs read through and moves into the next one. */
    t->rx = pbuf_free_header(t->rx, n);
    if (t->pcb != NULL)
        tcp_recved(t->pcb, n);
    return (long)n;
}

/* Ready: data to read, or the end of the connection to report; with
 * want_send, room to send. */
static bool lwip_ready(const midge_lwip_tcp *t, bool want_send)
{
    if (t->rx != NULL || t->fin || t->pcb == NULL)
        return true;
    return want_send && tcp_sndbuf(t->pcb) > 0 && tcp_sndqueuelen(t->pcb) < TCP_SND_QUEUELEN;
}

static int lwip_wait(void *ctx, bool want_send, uint32_t timeout_ms)
{
    midge_lwip_tcp *t = ctx;
    uint32_t start = lwip_now(t);

    for (;;) {
        if (lwip_ready(t, want_send))
            return t->rx == NULL && t->status != MIDGE_OK ? t->status : 1;
        uint32_t left = lwip_left(t, start, timeout_ms);
        if (left == 0)
            return 0;
        lwip_idle(t, left);
    }
}

/* Detach first: from here on lwIP must not call back into `t`, which the
 * next open reuses. */
static void lwip_release(midge_lwip_tcp *t)
{
    struct tcp_pcb *pcb = t->pcb;

    t->pcb = NULL;
    if (pcb != NULL) {
        tcp_arg(pcb, NULL);
        tcp_recv(pcb, NULL);
        tcp_err(pcb, NULL);
        /* tcp_close fails only when there is no memory for the FIN: a
         * reset then ends it at once. */
        if (tcp_close(pcb) != ERR_OK)
            tcp_abort(pcb);
    }
    if (t->rx != NULL) {
        pbuf_free(t->rx);
        t->rx = NULL;
    }
}

static void lwip_close(void *ctx) { lwip_release(ctx); }

/* --- opening --------------------------------------------------------------- */

/* A literal address, or (LWIP_DNS) a name through lwIP's resolver, within
 * the open's time. */
static midge_status lwip_resolve(midge_lwip_tcp *t, const char *host, ip_addr_t *addr,
                                 uint32_t start, uint32_t timeout_ms)
{
    if (ipaddr_aton(host, addr))
        return MIDGE_OK;
#if LWIP_DNS
    t->resolved = false;
    t->resolve_into = addr;
    err_t err = dns_gethostbyname(host, addr, lwip_on_resolved, t);
    if (err == ERR_OK) {
        t->resolve_into = NULL;
        return MIDGE_OK;
    }
    if (err != ERR_INPROGRESS) {
        t->resolve_into = NULL;
        return MIDGE_ERR_RESOLVE;
    }
    while (!t->resolved) {
        uint32_t left = lwip_left(t, start, timeout_ms);
        if (left == 0)
            break;
        lwip_idle(t, left);
    }
    bool found = t->resolved && t->resolve_into != NULL;
    t->resolve_into = NULL;
    return found ? MIDGE_OK : MIDGE_ERR_RESOLVE;
#else
    (void)t;
    (void)start;
    (void)timeout_ms;
    return MIDGE_ERR_RESOLVE;
#endif
}

void midge_lwip_tcp_init(midge_lwip_tcp *t, const midge_platform *platform)
{
    memset(t, 0, sizeof *t);
    t->platform = platform;
}

midge_status midge_lwip_tcp_open(midge_lwip_tcp *t, const char *host, uint16_t port,
                                 uint32_t timeout_ms, midge_transport *out)
{
    ip_addr_t addr;

    if (t == NULL || t->platform == NULL || host == NULL || out == NULL)
        return MIDGE_ERR_INVALID;
    lwip_release(t); /* one connection at a time */
    t->status = MIDGE_OK;
    t->connected = false;
    t->fin = false;

    uint32_t start = lwip_now(t);
    midge_status st = lwip_resolve(t, host, &addr, start, timeout_ms);
    if (st != MIDGE_OK)
        return st;

    struct tcp_pcb *pcb = tcp_new_ip_type(IP_GET_TYPE(&addr));
    if (pcb == NULL)
        return MIDGE_ERR_CONNECT;
    t->pcb = pcb;
    tcp_arg(pcb, t);
    tcp_err(pcb, lwip_on_err);
    tcp_recv(pcb, lwip_on_recv);
    tcp_nagle_disable(pcb);
    if (tcp_connect(pcb, &addr, port, lwip_on_connected) != ERR_OK) {
        lwip_release(t);
        return MIDGE_ERR_CONNECT;
    }
    /* The SYN is out; the handshake completes (or fails, on_err) while
     * lwIP runs in the idle hook. */
    while (!t->connected && t->pcb != NULL) {
        uint32_t left = lwip_left(t, start, timeout_ms);
        if (left == 0)
            break;
        lwip_idle(t, left);
    }
    if (!t->connected || t->pcb == NULL) {
        lwip_release(t);
        return MIDGE_ERR_CONNECT;
    }
    out->send = lwip_send;
    out->recv = lwip_recv;
    out->wait = lwip_wait;
    out->close = lwip_close;
    out->ctx = t;
    return MIDGE_OK;
}

midge_status midge_lwip_opener(void *opener, const char *host, uint16_t port,
                               uint32_t timeout_ms, midge_transport *out)
{
    return midge_lwip_tcp_open(opener, host, port, timeout_ms, out);
}
