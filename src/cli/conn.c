/*
 * midge CLI: opening, serving and closing the broker connection, the same
 * way for every subcommand.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A signal handler can only set a flag; the loops poll it. */
static volatile sig_atomic_t cli_stop_flag;

static void cli_on_signal(int sig)
{
    (void)sig;
    cli_stop_flag = 1;
}

void cli_signals_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cli_on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: poll() must return EINTR so the loop sees the flag
     * at once instead of after the next packet or timer. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool cli_stop_requested(void) { return cli_stop_flag != 0; }

int cli_exit_connect(int status)
{
    if (midge_status_is_refusal(status))
        return -status;
    return status == MIDGE_ERR_TLS ? CLI_EXIT_TLS : CLI_EXIT_ERROR;
}

static void cli_conn_free(struct cli_conn *k)
{
    free(k->tls);
    k->tls = NULL;
    free(k->tx);
    free(k->rx);
    free(k->store);
    k->tx = k->rx = k->store = NULL;
}

const char *cli_conn_status_text(const struct cli_conn *k, midge_status st, char *buf,
                                 size_t cap)
{
    if (st == MIDGE_ERR_TOO_BIG && k->refused_size != 0)
        snprintf(buf, cap, "incoming packet of %zu bytes is larger than --max-packet-size %zu",
                 k->refused_size, k->rx_size);
    else if (st == MIDGE_ERR_WRONG_ACK && k->opts->qos == 2)
        /* The one broker behaviour behind it seen in practice: RabbitMQ
         * takes QoS 2 as QoS 1 and answers PUBACK. */
        snprintf(buf, cap, "%s (a PUBACK to a QoS 2 message: the broker does not support "
                           "QoS 2; use -q 1)",
                 midge_strerror(st));
    else
        snprintf(buf, cap, "%s", midge_strerror(st));
    return buf;
}

void cli_conn_report_lost(const struct cli_conn *k, midge_status st)
{
    char why[160];

    cli_error(k->opts->prog, "connection lost: %s", cli_conn_status_text(k, st, why, sizeof why));
}

/* The session names the size of a packet it refuses only in its event:
 * keep it for the error line. */
static void cli_conn_on_event(void *user, const midge_event *ev)
{
    struct cli_conn *k = user;

    if (ev->type == MIDGE_EV_CLOSED && ev->status == MIDGE_ERR_TOO_BIG)
        k->refused_size = ev->closed.packet_size;
    /* Counted so that cli_conn_serve can tell a read that delivered. */
    if (ev->type == MIDGE_EV_MESSAGE)
        k->delivered++;
    if (ev->type == MIDGE_EV_SUBACK)
        k->subacks++;
}

/* A plain connection to a TLS port: the server closes it (OpenSSL on a
 * ClientHello that is not one) or answers with a TLS alert record, whose
 * first byte, 0x15, no MQTT server sends (a CONNECT's type, with flags
 * 3.1.1 forbids). The rx buffer holds the first bytes that came: before
 * the CONNACK, the malformed packet starts it. */
static const char *cli_conn_tls_hint(const struct cli_conn *k, midge_status st)
{
    const struct cli_options *o = k->opts;
    bool alert = st == MIDGE_ERR_PROTOCOL && k->rx != NULL && k->rx[0] == 0x15;
    bool closed = st == MIDGE_ERR_CLOSED && o->port == 8883;

    if (k->tls != NULL || (!alert && !closed))
        return "";
    return alert ? " (the server answered in TLS: try --tls)"
                 : " (is it a TLS port? try --tls)";
}

void cli_conn_describe(const struct cli_conn *k, midge_status st, char *buf, size_t cap)
{
    const struct cli_options *o = k->opts;
    /* The TLS layer knows more than its status: "certificate expired",
     * "host name mismatch: ...". It never holds key material. */
    const char *tls = k->tls ? midge_tls_last_error(k->tls) : "";

    if (st == MIDGE_ERR_TOO_BIG)
        cli_conn_status_text(k, st, buf, cap);
    else if (midge_status_is_refusal(st))
        snprintf(buf, cap, "%s", midge_strerror(st));
    else if (tls[0] != '\0')
        snprintf(buf, cap, "%s", tls); /* it names the host and port itself */
    else if (o->unix_path != NULL)
        snprintf(buf, cap, "%s: %s", o->unix_path, midge_strerror(st));
    else if (st == MIDGE_ERR_BIND)
        snprintf(buf, cap, "-A %s: %s (to reach %s:%u)", o->bind_address, midge_strerror(st),
                 o->host, (unsigned)o->port);
    else if (st == MIDGE_ERR_RESOLVE || st == MIDGE_ERR_CONNECT)
        snprintf(buf, cap, "%s:%u: %s", o->host, (unsigned)o->port, midge_strerror(st));
    else
        snprintf(buf, cap, "connect to %s:%u failed: %s%s", o->host, (unsigned)o->port,
                 midge_strerror(st), cli_conn_tls_hint(k, st));
}

/* One line saying why the connection could not be made. */
static void cli_conn_report(const struct cli_conn *k, midge_status st)
{
    char line[512];

    cli_conn_describe(k, st, line, sizeof line);
    cli_error(k->opts->prog, "%s", line);
}

/* With TLS the opener is midge_tls's, over a midge_tls we own (so its
 * socket can be polled); it never falls back to plain TCP. --unix hands
 * the client the socket's path as its host. */
static bool cli_conn_transport(struct cli_conn *k, const struct cli_options *o,
                               midge_client_config *cfg)
{
    if (o->unix_path != NULL) {
        cfg->open = midge_unix_opener;
        cfg->opener = &k->tcp;
        cfg->host = o->unix_path;
        return true;
    }
    if (!o->tls) {
        k->tcp_ctx = (midge_tcp_opener_ctx){ .tcp = &k->tcp, .bind_address = o->bind_address };
        cfg->open = midge_tcp_bound_opener;
        cfg->opener = &k->tcp_ctx;
        return true;
    }
    k->tls = calloc(1, sizeof *k->tls);
    if (k->tls == NULL)
        return false;
    k->tls->tcp.fd = -1;
    k->tls_ctx.tls = k->tls;
    k->tls_ctx.options = (midge_tls_options){
        .cafile = o->cafile, .capath = o->capath, .certfile = o->certfile,
        .keyfile = o->keyfile, .insecure = o->insecure, .tls_version = o->tls_version,
        .bind_address = o->bind_address,
    };
    cfg->open = midge_tls_opener;
    cfg->opener = &k->tls_ctx;
    return true;
}

uint32_t cli_conn_left(const struct cli_conn *k)
{
    if (k->limit_ms == 0)
        return UINT32_MAX;
    uint32_t spent = midge_clock_ms() - k->start_ms;
    return spent < k->limit_ms ? k->limit_ms - spent : 0;
}

bool cli_conn_expired(const struct cli_conn *k)
{
    return k->limit_ms != 0 && cli_conn_left(k) == 0;
}

void cli_conn_bound_calls(struct cli_conn *k)
{
    uint32_t left = cli_conn_left(k);

    /* The client reads its call bound at the start of every call; 0 would
     * mean its default, so a spent -W leaves 1 ms. */
    if (k->limit_ms != 0)
        k->client.cfg.call_timeout_ms = left != 0 ? left : 1u;
}

/* The opener under -W: the TCP (and TLS) connect gets at most what is left
 * of it, and so does the CONNACK wait that follows (the session's CONNACK
 * timeout is set here, once the transport is up, to the smaller of
 * --connack-timeout and what is left). */
static midge_status cli_conn_open_within(void *opener, const char *host, uint16_t port,
                                         uint32_t timeout_ms, midge_transport *t)
{
    struct cli_conn *k = opener;
    uint32_t left = cli_conn_left(k);

    if (left == 0)
        return MIDGE_TIMEOUT;
    midge_status st = k->open(k->opener, host, port, timeout_ms < left ? timeout_ms : left, t);
    if (st != MIDGE_OK)
        return cli_conn_expired(k) ? MIDGE_TIMEOUT : st;
    uint32_t connack = k->opts->connack_timeout_ms != 0 ? (uint32_t)k->opts->connack_timeout_ms
                                                        : MIDGE_CONNACK_TIMEOUT_MS;
    left = cli_conn_left(k);
    midge_session_set_connack_timeout(&k->client.session,
                                      connack < left ? connack : left != 0 ? left : 1u);
    return MIDGE_OK;
}

int cli_conn_open(struct cli_conn *k, const struct cli_options *o,
                  const struct cli_conn_sizes *sizes, midge_message_fn on_message, void *user)
{
    if (!cli_conn_setup(k, o, sizes, NULL))
        return CLI_EXIT_ERROR;
    midge_client_set_callback(&k->client, on_message, user);
    midge_status st = midge_client_connect(&k->client, NULL);
    if (st == MIDGE_OK)
        return CLI_EXIT_OK;
    int rc = CLI_EXIT_ERROR;
    /* Every wait of the connect was cut to -W: a failure once it ran out
     * is -W's (a refusal is the broker's answer, whenever it came). */
    if (cli_conn_expired(k) && !midge_status_is_refusal(st)) {
        cli_error(o->prog, "timed out after %lu s (%s %s:%u)", o->timeout_s,
                  st == MIDGE_ERR_CONNACK_TIMEOUT ? "no CONNACK from" : "could not connect to",
                  o->host, (unsigned)o->port);
        rc = CLI_EXIT_TIMEOUT;
    } else {
        cli_conn_report(k, st);
        rc = cli_exit_connect(st);
    }
    cli_conn_free(k);
    return rc;
}


/* SIGINT/SIGTERM abandon a connect or subscribe that waits on a silent broker. */
static bool cli_conn_interrupted(void *user)
{
    (void)user;
    return cli_stop_requested();
}

bool cli_conn_setup(struct cli_conn *k, const struct cli_options *o,
                    const struct cli_conn_sizes *sizes, const midge_connect_opts *connect)
{
    midge_status st;

    memset(k, 0, sizeof *k);
    k->opts = o;
    k->tcp.fd = -1;
    k->start_ms = midge_clock_ms();
    k->limit_ms = (uint32_t)(o->timeout_s * 1000u);
    /* A packet is decoded only once it is whole in rx: rx's size is the limit. */
    k->rx_size = o->max_packet_size != 0 ? o->max_packet_size : sizes->rx;
    k->tx = malloc(sizes->tx);
    k->rx = malloc(k->rx_size);
    k->store = sizes->store ? malloc(sizes->store) : NULL;
    if (k->tx == NULL || k->rx == NULL || (sizes->store && k->store == NULL)) {
        cli_error(o->prog, "out of memory");
        goto fail;
    }

    midge_session_buffers bufs = {
        .tx = k->tx, .tx_size = sizes->tx,
        .rx = k->rx, .rx_size = k->rx_size,
        .store = k->store, .store_size = sizes->store,
        .rx_qos2_ids = k->qos2_ids, .rx_qos2_cap = sizeof k->qos2_ids / sizeof k->qos2_ids[0],
    };
    /* Our own midge_tcp (not the client's built-in one) so its fd is ours
     * to poll beside stdin. */
    midge_client_config cfg = {
        .host = o->host,
        .port = o->port,
        .connect = {
            .client_id = o->client_id,
            .username = o->username,
            .password = o->password,
            .keepalive_s = o->keepalive_s,
            .clean_session = o->clean_session,
        },
        .platform = &midge_posix_platform,
        .connack_timeout_ms = (uint32_t)o->connack_timeout_ms,
        /* -W (sub, send) bounds each subscribe and publish too; else the default. */
        .call_timeout_ms = (uint32_t)(o->timeout_s * 1000u),
        .interrupted = cli_conn_interrupted,
        .trace = !o->debug ? NULL : sizes->trace ? sizes->trace : cli_trace_packet,
        .trace_user = (void *)o,
    };
    if (connect != NULL)
        cfg.connect = *connect;
    if (!cli_conn_transport(k, o, &cfg)) {
        cli_error(o->prog, "out of memory");
        goto fail;
    }
    if (k->limit_ms != 0) {
        k->open = cfg.open;
        k->opener = cfg.opener;
        cfg.open = cli_conn_open_within;
        cfg.opener = k;
    }
    st = midge_client_init(&k->client, &cfg, &bufs);
    if (st == MIDGE_OK)
        midge_client_set_event_callback(&k->client, cli_conn_on_event, k);
    if (st == MIDGE_OK && o->will_topic != NULL) {
        const char *payload = o->will_payload ? o->will_payload : "";
        size_t len = strlen(payload);
        if (len > UINT16_MAX) {
            cli_error(o->prog, "--will-payload is longer than 65535 bytes");
            goto fail;
        }
        st = midge_client_set_last_will(&k->client, o->will_topic, payload, (uint16_t)len,
                                        o->will_qos, o->will_retain);
    }
    if (st != MIDGE_OK) {
        cli_error(o->prog, "%s", midge_strerror(st));
        goto fail;
    }
    return true;

fail:
    cli_conn_free(k);
    return false;
}

midge_status cli_conn_serve(struct cli_conn *k, int extra_fd, uint32_t timeout_ms,
                            bool *extra_ready)
{
    midge_client *c = &k->client;
    const uint8_t *data;

    if (extra_ready)
        *extra_ready = false;
    /* Whatever is already here first: bytes, acknowledgements, timers.
     * A message among them may be what the caller waits for (an answer
     * that came with the PUBACK of its command): no sleeping then. */
    unsigned long delivered = k->delivered;
    midge_status st = midge_client_check_msg(c);
    if (st != MIDGE_OK || k->delivered != delivered)
        return st;
    /* mbedTLS may hold decrypted bytes the socket no longer shows: poll()
     * would sleep past them. The transport's own wait() counts them. */
    if (k->tls != NULL && c->transport_open && c->transport.wait(c->transport.ctx, false, 0) > 0)
        return midge_client_check_msg(c);

    /* Sleep no longer than the session's next timer (keepalive). */
    uint32_t timer = midge_session_next_timeout(&c->session, midge_clock_ms());
    uint32_t wait = timeout_ms < timer ? timeout_ms : timer;
    struct pollfd fds[2] = {
        { .fd = k->tls ? k->tls->tcp.fd : k->tcp.fd, .events = POLLIN },
        { .fd = extra_fd, .events = POLLIN },
    };
    if (midge_session_pending(&c->session, &data) > 0)
        fds[0].events |= POLLOUT;
    int n = poll(fds, extra_fd >= 0 ? 2 : 1, wait > (uint32_t)INT_MAX ? -1 : (int)wait);
    if (n < 0)
        return errno == EINTR ? MIDGE_OK : MIDGE_ERR_IO;
    if (extra_ready && extra_fd >= 0)
        *extra_ready = (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    /* The socket's turn: read what came, or run the timer that woke us. */
    if (n == 0 || fds[0].revents != 0)
        st = midge_client_check_msg(c);
    return st;
}

void cli_conn_close(struct cli_conn *k)
{
    if (midge_client_is_connected(&k->client))
        midge_client_disconnect(&k->client);
    cli_conn_free(k);
}
