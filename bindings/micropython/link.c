/*
 * midge for MicroPython: the platform of the client inside the interpreter.
 *
 * The transport is any object with MicroPython's stream protocol (read,
 * write and ioctl): the port's socket, an ssl-wrapped one, or a class
 * written in Python on io.IOBase. The opener makes it the way umqtt.simple
 * does (socket.getaddrinfo, socket.socket, connect, then ssl), so nothing
 * here is specific to a port. Waiting goes through the port's own
 * select.poll: poll(2) on a file descriptor where there is one, repeated
 * MP_STREAM_POLL calls where there is none (TLS, streams written in
 * Python), and the interpreter's pending events (Ctrl-C) in both.
 *
 * The contract of include/midge/transport.h holds exactly: 0 is "nothing
 * now", a closed connection is MIDGE_ERR_CLOSED, never 0.
 */
#include <string.h>

#include "py/mphal.h"
#include "py/objexcept.h"
#include "py/stream.h"

#include "modmidge.h"

/* A stream that refuses setblocking(False) (a class in Python) is asked
 * with MP_STREAM_POLL before every read and write, so neither blocks. */

/* --- what Python raised ----------------------------------------------------- */

static bool link_is_oserror(mp_obj_t exc)
{
    return mp_obj_is_subclass_fast(MP_OBJ_FROM_PTR(mp_obj_get_type(exc)),
                                   MP_OBJ_FROM_PTR(&mp_type_OSError));
}

/* An exception caught inside a client call. An OSError is the connection's
 * failure (`st`, the errno kept for the message); anything else waits to
 * be raised once the call returns, and the call is asked to stop. */
static long link_caught(mp_midge_link *l, void *exc_ptr, long st)
{
    mp_obj_t exc = MP_OBJ_FROM_PTR(exc_ptr);

    if (link_is_oserror(exc)) {
        mp_obj_t value = mp_obj_exception_get_value(exc);
        l->error = exc;
        l->oserr = mp_obj_is_small_int(value) ? (int)MP_OBJ_SMALL_INT_VALUE(value) : 0;
        return st;
    }
    if (l->pending == MP_OBJ_NULL)
        l->pending = exc;
    return st;
}

mp_obj_t mp_midge_call(mp_midge_link *l, mp_obj_t fn, size_t n_args, const mp_obj_t *args)
{
    nlr_buf_t nlr;

    if (nlr_push(&nlr) == 0) {
        mp_obj_t ret = mp_call_function_n_kw(fn, n_args, 0, args);
        nlr_pop();
        return ret;
    }
    /* A callback's OSError is the application's, not the link's. */
    if (l->pending == MP_OBJ_NULL)
        l->pending = MP_OBJ_FROM_PTR(nlr.ret_val);
    return MP_OBJ_NULL;
}

bool mp_midge_interrupted(void *link)
{
    const mp_midge_link *l = link;
    return l->pending != MP_OBJ_NULL;
}

/* A stream's error code: "would block" is 0, a reset peer is a close. */
static long link_errno(mp_midge_link *l, int err)
{
    if (mp_is_nonblocking_error(err) || err == MP_ETIMEDOUT)
        return 0;
    l->oserr = err;
    if (err == MP_ECONNRESET || err == MP_EPIPE || err == MP_ENOTCONN)
        return MIDGE_ERR_CLOSED;
    return MIDGE_ERR_IO;
}

/* --- the stream ------------------------------------------------------------- */

/* Whether a read (or write) would find something now, for streams that
 * cannot be made non-blocking. Errors and hang-ups count as ready: the
 * read that follows reports them. */
static bool link_ready(mp_midge_link *l, mp_uint_t events)
{
    int err = 0;
    mp_uint_t r = l->proto->ioctl(l->stream, MP_STREAM_POLL, events, &err);

    if (r == MP_STREAM_ERROR)
        return true;
    return (r & (events | MP_STREAM_POLL_ERR | MP_STREAM_POLL_HUP | MP_STREAM_POLL_NVAL)) != 0;
}

static long link_send_body(mp_midge_link *l, const uint8_t *buf, size_t len)
{
    int err = 0;

    if (!l->nonblocking && !link_ready(l, MP_STREAM_POLL_WR))
        return 0;
    mp_uint_t n = l->proto->write(l->stream, buf, len, &err);
    if (n == MP_STREAM_ERROR)
        return link_errno(l, err);
    return (long)n;
}

static long link_send(void *ctx, const uint8_t *buf, size_t len)
{
    mp_midge_link *l = ctx;
    nlr_buf_t nlr;

    if (len == 0)
        return 0;
    if (nlr_push(&nlr) == 0) {
        long n = link_send_body(l, buf, len);
        nlr_pop();
        return n;
    }
    return link_caught(l, nlr.ret_val, MIDGE_ERR_IO);
}

static long link_recv_body(mp_midge_link *l, uint8_t *buf, size_t len)
{
    int err = 0;

    if (!l->nonblocking && !link_ready(l, MP_STREAM_POLL_RD))
        return 0;
    mp_uint_t n = l->proto->read(l->stream, buf, len, &err);
    if (n == MP_STREAM_ERROR)
        return link_errno(l, err);
    /* End of stream: the contract keeps 0 for "nothing yet". */
    if (n == 0)
        return MIDGE_ERR_CLOSED;
    return (long)n;
}

static long link_recv(void *ctx, uint8_t *buf, size_t len)
{
    mp_midge_link *l = ctx;
    nlr_buf_t nlr;

    if (len == 0)
        return 0;
    if (nlr_push(&nlr) == 0) {
        long n = link_recv_body(l, buf, len);
        nlr_pop();
        return n;
    }
    return link_caught(l, nlr.ret_val, MIDGE_ERR_IO);
}

/* select.poll's ipoll() reuses one tuple per poll object, so a wait
 * allocates nothing once the connection is open. */
static int link_wait_body(mp_midge_link *l, bool want_send, uint32_t timeout_ms)
{
    mp_obj_t dest[4];
    uint8_t events = MP_STREAM_POLL_RD | (want_send ? MP_STREAM_POLL_WR : 0);

    if (events != l->poll_events) {
        mp_load_method(l->poller, MP_QSTR_modify, dest);
        dest[2] = l->stream;
        dest[3] = MP_OBJ_NEW_SMALL_INT(events);
        mp_call_method_n_kw(2, 0, dest);
        l->poll_events = events;
    }
    /* Small ints hold 30 bits on every port; longer waits are "forever",
     * as the client means them. */
    mp_int_t t = timeout_ms > 0x3fffffffu ? -1 : (mp_int_t)timeout_ms;
    mp_load_method(l->poller, MP_QSTR_ipoll, dest);
    dest[2] = MP_OBJ_NEW_SMALL_INT(t);
    mp_obj_t it = mp_call_method_n_kw(1, 0, dest);
    return mp_iternext(it) != MP_OBJ_STOP_ITERATION ? 1 : 0;
}

static int link_wait(void *ctx, bool want_send, uint32_t timeout_ms)
{
    mp_midge_link *l = ctx;
    nlr_buf_t nlr;

    /* An exception waits to be raised: give the call back at once. */
    if (l->pending != MP_OBJ_NULL)
        return 0;
    if (nlr_push(&nlr) == 0) {
        int r = link_wait_body(l, want_send, timeout_ms);
        nlr_pop();
        return r;
    }
    /* Ctrl-C in the wait (kept as pending) interrupts the call and keeps
     * the connection; an OSError from the poll ends it. */
    link_caught(l, nlr.ret_val, MIDGE_ERR_IO);
    return l->pending != MP_OBJ_NULL ? 0 : MIDGE_ERR_IO;
}

/* Close the stream, whatever it raises. */
static void link_drop(mp_midge_link *l)
{
    nlr_buf_t nlr;
    mp_obj_t stream = l->stream;

    l->stream = MP_OBJ_NULL;
    l->poller = MP_OBJ_NULL;
    l->proto = NULL;
    if (stream == MP_OBJ_NULL)
        return;
    if (nlr_push(&nlr) == 0) {
        mp_stream_close(stream);
        nlr_pop();
    }
}

static void link_close(void *ctx)
{
    link_drop((mp_midge_link *)ctx);
}

/* --- opening ---------------------------------------------------------------- */

static mp_obj_t link_import(qstr name)
{
    return mp_import_name(name, mp_const_none, MP_OBJ_NEW_SMALL_INT(0));
}

static void link_call_method(mp_obj_t obj, qstr name, mp_obj_t arg)
{
    mp_obj_t dest[3];
    mp_load_method(obj, name, dest);
    dest[2] = arg;
    mp_call_method_n_kw(1, 0, dest);
}

/* umqtt.simple's two ways: ssl=True is ssl.wrap_socket(sock, **ssl_params);
 * any other true ssl is a context: ssl.wrap_socket(sock, server_hostname=). */
static mp_obj_t link_wrap(mp_midge_link *l, mp_obj_t sock)
{
    if (l->ssl == mp_const_true) {
        mp_obj_t wrap = mp_load_attr(link_import(MP_QSTR_ssl), MP_QSTR_wrap_socket);
        mp_map_t *params = mp_obj_dict_get_map(l->ssl_params);
        mp_obj_t *args = m_new(mp_obj_t, 1 + 2 * params->used);
        size_t n = 1;
        args[0] = sock;
        for (size_t i = 0; i < params->alloc; i++) {
            if (mp_map_slot_is_filled(params, i)) {
                args[n++] = params->table[i].key;
                args[n++] = params->table[i].value;
            }
        }
        return mp_call_function_n_kw(wrap, 1, (n - 1) / 2, args);
    }
    if (l->ssl == mp_const_none || !mp_obj_is_true(l->ssl))
        return sock;
    mp_obj_t dest[5];
    mp_load_method(l->ssl, MP_QSTR_wrap_socket, dest);
    dest[2] = sock;
    dest[3] = MP_OBJ_NEW_QSTR(MP_QSTR_server_hostname);
    dest[4] = l->server;
    return mp_call_method_n_kw(1, 1, dest);
}

static void link_open_body(mp_midge_link *l, uint16_t port, uint32_t timeout_ms)
{
    mp_obj_t socket_mod = link_import(MP_QSTR_socket);
    mp_obj_t args[2] = { l->server, MP_OBJ_NEW_SMALL_INT(port) };
    mp_obj_t infos = mp_call_function_n_kw(mp_load_attr(socket_mod, MP_QSTR_getaddrinfo), 2, 0,
                                           args);
    mp_obj_t info = mp_obj_subscr(infos, MP_OBJ_NEW_SMALL_INT(0), MP_OBJ_SENTINEL);
    mp_obj_t addr = mp_obj_subscr(info, MP_OBJ_NEW_SMALL_INT(-1), MP_OBJ_SENTINEL);

    l->stream = mp_call_function_0(mp_load_attr(socket_mod, MP_QSTR_socket));
#if MICROPY_PY_BUILTINS_FLOAT
    link_call_method(l->stream, MP_QSTR_settimeout,
                     mp_obj_new_float((mp_float_t)timeout_ms / (mp_float_t)1000));
#else
    link_call_method(l->stream, MP_QSTR_settimeout,
                     MP_OBJ_NEW_SMALL_INT((timeout_ms + 999u) / 1000u));
#endif
    link_call_method(l->stream, MP_QSTR_connect, addr);
    l->stream = link_wrap(l, l->stream);
    l->proto = mp_get_stream_raise(l->stream,
                                   MP_STREAM_OP_READ | MP_STREAM_OP_WRITE | MP_STREAM_OP_IOCTL);

    mp_obj_t dest[3];
    mp_load_method_maybe(l->stream, MP_QSTR_setblocking, dest);
    l->nonblocking = dest[0] != MP_OBJ_NULL;
    if (l->nonblocking) {
        dest[2] = mp_const_false;
        mp_call_method_n_kw(1, 0, dest);
    }

    l->poller = mp_call_function_0(mp_load_attr(link_import(MP_QSTR_select), MP_QSTR_poll));
    mp_load_method(l->poller, MP_QSTR_register, dest);
    mp_obj_t reg[4] = { dest[0], dest[1], l->stream, MP_OBJ_NEW_SMALL_INT(MP_STREAM_POLL_RD) };
    mp_call_method_n_kw(2, 0, reg);
    l->poll_events = MP_STREAM_POLL_RD;
}

static midge_status link_open(void *opener, const char *host, uint16_t port,
                              uint32_t timeout_ms, midge_transport *t)
{
    mp_midge_link *l = opener;
    nlr_buf_t nlr;

    (void)host; /* the server object itself goes to getaddrinfo */
    link_drop(l);
    if (nlr_push(&nlr) == 0) {
        link_open_body(l, port, timeout_ms);
        nlr_pop();
    } else {
        link_caught(l, nlr.ret_val, MIDGE_ERR_CONNECT);
        link_drop(l);
        return MIDGE_ERR_CONNECT;
    }
    t->send = link_send;
    t->recv = link_recv;
    t->wait = link_wait;
    t->close = link_close;
    t->ctx = l;
    return MIDGE_OK;
}

/* --- the platform ----------------------------------------------------------- */

uint32_t mp_midge_ticks(void)
{
    /* Truncated to 32 bits: every comparison in the client is wrap-safe. */
    return (uint32_t)mp_hal_ticks_ms();
}

static uint32_t link_clock(void *ctx)
{
    (void)ctx;
    return mp_midge_ticks();
}

/* The backoff and a full rx: the interpreter's own delay, which runs its
 * scheduled callbacks and notices Ctrl-C. */
static void link_idle(void *ctx, uint32_t ms)
{
    mp_midge_link *l = ctx;
    nlr_buf_t nlr;

    if (l->pending != MP_OBJ_NULL)
        return;
    if (nlr_push(&nlr) == 0) {
        mp_hal_delay_ms(ms);
        nlr_pop();
    } else {
        link_caught(l, nlr.ret_val, 0);
    }
}

static void link_init(mp_midge_link *l, mp_obj_t server, mp_obj_t ssl, mp_obj_t ssl_params)
{
    l->server = server;
    l->ssl = ssl;
    l->ssl_params = ssl_params;
    l->stream = MP_OBJ_NULL;
    l->poller = MP_OBJ_NULL;
    l->pending = MP_OBJ_NULL;
    l->error = MP_OBJ_NULL;
    l->platform.clock_ms = link_clock;
    l->platform.idle = link_idle;
    l->platform.ctx = l;
}

void *mp_midge_new(const mp_obj_type_t *type, size_t size, mp_obj_t server, mp_int_t port,
                   mp_obj_t ssl, mp_obj_t ssl_params, uint16_t *port_out)
{
    bool tls = ssl != mp_const_none && mp_obj_is_true(ssl);

    if (port == 0)
        port = tls ? 8883 : 1883;
    if (port < 1 || port > 65535)
        mp_raise_ValueError(MP_ERROR_TEXT("port must be 1..65535"));
    if (ssl_params == mp_const_none)
        ssl_params = mp_obj_new_dict(0);
    *port_out = (uint16_t)port;

    mp_midge_obj_t *o = m_malloc(size);
    memset(o, 0, size);
    o->base.type = type;
    link_init(&o->link, server, ssl, ssl_params);
    return o;
}

void mp_midge_client_config(mp_midge_link *l, midge_client_config *cfg, uint16_t port,
                            uint16_t keepalive, bool reconnect)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->host = NULL;
    cfg->port = port;
    cfg->connect.keepalive_s = keepalive;
    cfg->connect.clean_session = true;
    cfg->auto_reconnect = reconnect;
    cfg->open = link_open;
    cfg->opener = l;
    cfg->platform = &l->platform;
    cfg->interrupted = mp_midge_interrupted;
    cfg->interrupt_user = l;
}

void mp_midge_begin(mp_midge_link *l)
{
    l->pending = MP_OBJ_NULL;
    l->error = MP_OBJ_NULL;
    l->oserr = 0;
}
