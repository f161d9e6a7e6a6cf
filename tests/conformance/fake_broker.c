/*
 * The broker side of a conformance case (see fake_broker.h and
 * ../shared/conformance/README.md, "How a case runs").
 */
#include "fake_broker.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "loopback.h"
#include "midge/codec_server.h"
#include "notation.h"

static const uint8_t connack_accepted[] = {0x20, 0x02, 0x00, 0x00};

/* The expected CONNECT (README step 1). */
#define CLIENT_ID "fuzzish"
#define KEEPALIVE_S 60

/* Largest packet the broker reads whole; the client's CONNECT is ~20 bytes. */
#define FRAME_MAX 1024

typedef struct conversation {
    int fd;
    const conf_case *c;
    bool connect_unread; /* connect=false: the client's CONNECT is still in the socket */
    bool peer_closed;    /* the client hung up while the broker was sending */
    char *why;
    size_t why_cap;
} conversation;

static bool fail(conversation *cv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cv->why, cv->why_cap, fmt, ap);
    va_end(ap);
    return false;
}

/* "20 02 00 00", cut with "..." past a readable length. */
static const char *hex(const uint8_t *bytes, size_t len, char *out, size_t cap)
{
    size_t pos = 0;
    out[0] = '\0';
    for (size_t i = 0; i < len && pos + 8 < cap; i++) {
        pos += (size_t)snprintf(out + pos, cap - pos, i == 0 ? "%02X" : " %02X", bytes[i]);
    }
    if (len > 0 && pos + 8 >= cap) {
        snprintf(out + pos, cap - pos, " ...");
    }
    if (len == 0) {
        snprintf(out, cap, "nothing");
    }
    return out;
}

static int left_ms(int64_t deadline)
{
    int64_t left = deadline - loopback_now_ms();
    return left > 0 ? (int)left : 0;
}

/* Append `n` bytes to buf[*have]. */
static loopback_result read_more(conversation *cv, uint8_t *buf, size_t *have, size_t n,
                                 int64_t deadline)
{
    size_t got = 0;
    loopback_result r = loopback_read_exact(cv->fd, buf + *have, n, left_ms(deadline), &got);
    *have += got;
    return r;
}

/* Read one whole packet by its fixed header (section 2.2): the broker frames
 * packets itself so that a codec bug cannot make it read too much or too
 * little. */
static bool read_frame(conversation *cv, uint8_t *buf, size_t *len, int timeout_ms)
{
    int64_t deadline = loopback_now_ms() + timeout_ms;
    size_t have = 0;
    uint32_t remaining = 0;
    char shown[64];
    loopback_result r = read_more(cv, buf, &have, 1, deadline);
    for (int i = 0; r == LOOPBACK_OK; i++) {
        if (i == 4) {
            return fail(cv, "client sent a remaining length longer than 4 bytes");
        }
        r = read_more(cv, buf, &have, 1, deadline);
        if (r != LOOPBACK_OK) {
            break;
        }
        remaining |= (uint32_t)(buf[have - 1] & 0x7f) << (7 * i);
        if ((buf[have - 1] & 0x80) == 0) {
            break;
        }
    }
    if (r == LOOPBACK_OK && remaining > FRAME_MAX - have) {
        return fail(cv, "client sent a %u-byte packet where a small one was expected",
                    remaining);
    }
    if (r == LOOPBACK_OK) {
        r = read_more(cv, buf, &have, remaining, deadline);
    }
    if (r != LOOPBACK_OK) {
        return fail(cv, "reading a packet: %s after %s", loopback_result_str(r),
                    hex(buf, have, shown, sizeof shown));
    }
    *len = have;
    return true;
}

static bool str_is(midge_str s, const char *text)
{
    return s.ptr != NULL && s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0;
}

/* README step 1, decoded with the project's own server codec. */
static bool check_connect(conversation *cv)
{
    uint8_t buf[FRAME_MAX];
    size_t len;
    char shown[96];
    if (!read_frame(cv, buf, &len, FAKE_BROKER_CONNECT_MS)) {
        return false;
    }
    midge_client_packet pkt;
    midge_decode_result res = midge_codec_decode_from_client(buf, len, &pkt);
    if (res.outcome != MIDGE_DECODE_COMPLETE || res.used != len || pkt.type != MIDGE_CONNECT) {
        return fail(cv, "expected a CONNECT, got %s", hex(buf, len, shown, sizeof shown));
    }
    const midge_connect_packet *con = &pkt.connect;
    if (con->protocol_level != 4 || !str_is(con->client_id, CLIENT_ID) ||
        con->keepalive_s != KEEPALIVE_S || con->clean_session != cv->c->clean_session) {
        return fail(cv, "CONNECT is not level 4, id " CLIENT_ID ", keepalive 60, clean %d: %s",
                    cv->c->clean_session, hex(buf, len, shown, sizeof shown));
    }
    return true;
}

/* connect=false: the broker spoke first, but the client still sent its
 * CONNECT; it is read and dropped before any byte-exact comparison. */
static bool drain_connect(conversation *cv)
{
    uint8_t buf[FRAME_MAX];
    size_t len;
    if (!cv->connect_unread) {
        return true;
    }
    cv->connect_unread = false;
    if (!read_frame(cv, buf, &len, FAKE_BROKER_CONNECT_MS)) {
        return false;
    }
    if ((buf[0] >> 4) != MIDGE_CONNECT) {
        char shown[96];
        return fail(cv, "the client's first packet is not CONNECT: %s",
                    hex(buf, len, shown, sizeof shown));
    }
    return true;
}

static bool step_send(conversation *cv, const case_msg *m)
{
    /* Once the client has hung up there is nobody to send to; whether that
     * is right is decided at the end (only a disconnect case passes). */
    if (cv->peer_closed) {
        return true;
    }
    loopback_result r = loopback_write_all(cv->fd, m->bytes, m->len, FAKE_BROKER_RECV_MS);
    if (r == LOOPBACK_CLOSED) {
        cv->peer_closed = true;
        return true;
    }
    if (r != LOOPBACK_OK) {
        return fail(cv, "sending: %s", loopback_result_str(r));
    }
    return true;
}

static bool step_recv(conversation *cv, const case_msg *m, const char *label)
{
    char want[96];
    char seen[96];
    uint8_t buf[FRAME_MAX];
    size_t got = 0;
    if (cv->peer_closed) {
        return fail(cv, "%s: the client closed the connection, expected %s", label,
                    hex(m->bytes, m->len, want, sizeof want));
    }
    if (m->len > sizeof buf) {
        return fail(cv, "%s: expected packet too large for the broker", label);
    }
    if (!drain_connect(cv)) {
        return false;
    }
    loopback_result r = loopback_read_exact(cv->fd, buf, m->len, FAKE_BROKER_RECV_MS, &got);
    if (r != LOOPBACK_OK) {
        return fail(cv, "%s: %s, expected %s, got %s", label, loopback_result_str(r),
                    hex(m->bytes, m->len, want, sizeof want), hex(buf, got, seen, sizeof seen));
    }
    if (memcmp(buf, m->bytes, m->len) != 0) {
        return fail(cv, "%s: expected %s, got %s", label, hex(m->bytes, m->len, want, sizeof want),
                    hex(buf, got, seen, sizeof seen));
    }
    return true;
}

static bool run_steps(conversation *cv, const case_msgs *msgs, const char *what)
{
    for (size_t i = 0; i < msgs->count; i++) {
        const case_msg *m = &msgs->items[i];
        char label[48];
        snprintf(label, sizeof label, "%s step %zu", what, i + 1);
        bool ok = m->dir == CASE_SEND ? step_send(cv, m) : step_recv(cv, m, label);
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool expect_closed(conversation *cv)
{
    if (cv->peer_closed) {
        return true;
    }
    size_t discarded = 0;
    loopback_result r = loopback_wait_closed(cv->fd, FAKE_BROKER_DISCONNECT_MS, &discarded);
    if (r != LOOPBACK_CLOSED) {
        return fail(cv, "the client did not close the connection within %d ms",
                    FAKE_BROKER_DISCONNECT_MS);
    }
    return true;
}

static bool parse_fixed(const char *notation, uint8_t *out, size_t cap, size_t *len)
{
    char err[96];
    return notation_parse(notation, strlen(notation), out, cap, len, err, sizeof err);
}

static bool expect_alive(conversation *cv)
{
    uint8_t publish[64];
    uint8_t puback[8];
    case_msg send_msg = {CASE_SEND, publish, 0};
    case_msg recv_msg = {CASE_RECV, puback, 0};
    if (!parse_fixed(FAKE_BROKER_ALIVE_PUBLISH, publish, sizeof publish, &send_msg.len) ||
        !parse_fixed(FAKE_BROKER_ALIVE_PUBACK, puback, sizeof puback, &recv_msg.len)) {
        return fail(cv, "alive check notation does not parse");
    }
    if (cv->peer_closed) {
        return fail(cv, "the client closed the connection; expected it to stay connected");
    }
    if (!step_send(cv, &send_msg)) {
        return false;
    }
    return step_recv(cv, &recv_msg, "alive check");
}

bool fake_broker_run(int fd, const conf_case *c, broker_expect expect, char *why, size_t why_cap)
{
    conversation cv = {fd, c, !c->connect, false, why, why_cap};
    why[0] = '\0';
    if (c->connect && !check_connect(&cv)) {
        return false;
    }
    /* Without a CONNECT read there is nothing to acknowledge: connect=false
     * cases test what the client does when the broker speaks first. */
    if (c->connect && c->connack) {
        case_msg connack = {CASE_SEND, (uint8_t *)connack_accepted, sizeof connack_accepted};
        if (!step_send(&cv, &connack)) {
            return false;
        }
    }
    if (c->command != NULL && !run_steps(&cv, &c->group_msgs, c->command)) {
        return false;
    }
    if (!run_steps(&cv, &c->msgs, "msgs")) {
        return false;
    }
    return expect == EXPECT_DISCONNECT ? expect_closed(&cv) : expect_alive(&cv);
}
