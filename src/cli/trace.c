/*
 * midge CLI: the -d packet trace, one line per packet on stderr, in the
 * spirit of mosquitto's client log:
 *
 *   sent PUBLISH (d0, q1, r0, m1, 'a/b', ... (7 bytes))
 *   received PUBACK (m1)
 *
 * The trace sees whole packets exactly as they go out or came in, so it
 * reads them itself (outgoing CONNECT/SUBSCRIBE have no client-side
 * decoder). The CONNECT password is never printed, only its presence.
 * Strings from a packet (topics, filters, the client id, the user name)
 * come from the network: each is shown escaped and at most
 * TRACE_SHOWN_MAX bytes of it, and a line is written with one call, so no
 * packet can forge a line or drive the terminal.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "escape.h"

/* The bytes of one string a line shows; the rest is cut with "...". */
#define TRACE_SHOWN_MAX 512

/* The line being built: appends stop at the end of buf (vsnprintf cuts). */
struct trace_line {
    char *buf;
    size_t cap;
    size_t len;
};

/* A bounds-checked reader over one packet's body. */
struct trace_reader {
    const uint8_t *p;
    size_t left;
    bool ok;
};

static uint8_t trace_u8(struct trace_reader *r)
{
    if (r->left < 1) {
        r->ok = false;
        return 0;
    }
    r->left--;
    return *r->p++;
}

static uint16_t trace_u16(struct trace_reader *r)
{
    uint16_t hi = trace_u8(r);
    return (uint16_t)(hi << 8 | trace_u8(r));
}

/* A length-prefixed field (section 1.5.3); NULL and ok = false if short. */
static const char *trace_str(struct trace_reader *r, uint16_t *len)
{
    *len = trace_u16(r);
    if (!r->ok || r->left < *len) {
        r->ok = false;
        *len = 0;
        return "";
    }
    const char *s = (const char *)r->p;
    r->p += *len;
    r->left -= *len;
    return s;
}

static void trace_printf(struct trace_line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void trace_printf(struct trace_line *l, const char *fmt, ...)
{
    va_list ap;

    if (l->len + 1 >= l->cap)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, l->cap - l->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n < l->cap - l->len ? (size_t)n : l->cap - l->len - 1;
}

/* A string from the packet between single quotes, escaped. */
static void trace_quoted(struct trace_line *l, const char *s, uint16_t len)
{
    char shown[4 * TRACE_SHOWN_MAX + 4];

    trace_printf(l, "'%s'", cli_escape(shown, sizeof shown, s, len, TRACE_SHOWN_MAX));
}

static const char *trace_type_name(uint8_t type)
{
    static const char *const names[] = {
        "RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
        "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT",
        "AUTH",
    };
    return names[type & 0x0f];
}

static void trace_connect(struct trace_line *l, struct trace_reader *r)
{
    uint16_t n;
    trace_str(r, &n); /* protocol name */
    uint8_t level = trace_u8(r);
    uint8_t flags = trace_u8(r);
    uint16_t keepalive = trace_u16(r);
    const char *id = trace_str(r, &n);
    trace_printf(l, " (p%u, c%u, k%u, id ", level, (flags >> 1) & 1u, keepalive);
    trace_quoted(l, id, n);
    if (flags & 0x04) {
        uint16_t tl, pl;
        const char *wt = trace_str(r, &tl);
        trace_str(r, &pl);
        trace_printf(l, ", will ");
        trace_quoted(l, wt, tl);
        trace_printf(l, " q%u r%u (%u bytes)", (flags >> 3) & 3u, (flags >> 5) & 1u, pl);
    }
    if (flags & 0x80) {
        const char *user = trace_str(r, &n);
        trace_printf(l, ", u ");
        trace_quoted(l, user, n);
    }
    /* The password's bytes are skipped, never formatted. */
    if (flags & 0x40)
        trace_printf(l, ", p '********'");
    trace_printf(l, ")");
}

static void trace_publish(struct trace_line *l, struct trace_reader *r, uint8_t flags)
{
    uint16_t tl;
    uint8_t qos = (flags >> 1) & 3u;
    const char *topic = trace_str(r, &tl);
    uint16_t id = qos ? trace_u16(r) : 0;
    trace_printf(l, " (d%u, q%u, r%u, m%u, ", (flags >> 3) & 1u, qos, flags & 1u, id);
    trace_quoted(l, topic, tl);
    trace_printf(l, ", ... (%zu bytes))", r->ok ? r->left : 0);
}

/* SUBSCRIBE lists "filter" qos pairs; UNSUBSCRIBE only filters. */
static void trace_filters(struct trace_line *l, struct trace_reader *r, bool with_qos)
{
    trace_printf(l, " (m%u", trace_u16(r));
    while (r->ok && r->left > 0) {
        uint16_t n;
        const char *f = trace_str(r, &n);
        if (!r->ok)
            break;
        trace_printf(l, ", ");
        trace_quoted(l, f, n);
        if (with_qos)
            trace_printf(l, " q%u", trace_u8(r));
    }
    trace_printf(l, ")");
}

static void trace_suback(struct trace_line *l, struct trace_reader *r)
{
    trace_printf(l, " (m%u", trace_u16(r));
    while (r->ok && r->left > 0)
        trace_printf(l, ", %u", trace_u8(r));
    trace_printf(l, ")");
}

static void trace_body(struct trace_line *l, uint8_t first, struct trace_reader *r)
{
    switch (first >> 4) {
    case MIDGE_CONNECT:
        trace_connect(l, r);
        break;
    case MIDGE_CONNACK: {
        uint8_t sp = trace_u8(r);
        trace_printf(l, " (sp%u, rc%u)", sp & 1u, trace_u8(r));
        break;
    }
    case MIDGE_PUBLISH:
        trace_publish(l, r, first & 0x0f);
        break;
    case MIDGE_PUBACK:
    case MIDGE_PUBREC:
    case MIDGE_PUBREL:
    case MIDGE_PUBCOMP:
    case MIDGE_UNSUBACK:
        trace_printf(l, " (m%u)", trace_u16(r));
        break;
    case MIDGE_SUBSCRIBE:
        trace_filters(l, r, true);
        break;
    case MIDGE_UNSUBSCRIBE:
        trace_filters(l, r, false);
        break;
    case MIDGE_SUBACK:
        trace_suback(l, r);
        break;
    default:
        break; /* PINGREQ, PINGRESP, DISCONNECT: nothing but the name */
    }
}

bool cli_trace_format(char *buf, size_t cap, bool outgoing, const uint8_t *packet, size_t len)
{
    uint8_t first = 0;
    uint32_t remaining = 0;
    size_t header = 0;
    midge_decode_result h = midge_codec_decode_header(packet, len, &first, &remaining, &header);
    if (h.outcome != MIDGE_DECODE_COMPLETE)
        return false;

    struct trace_reader r = { packet + header, len - header, true };
    struct trace_line l = { buf, cap, 0 };
    if (r.left > remaining)
        r.left = remaining;
    buf[0] = '\0';
    trace_printf(&l, "%s %s", outgoing ? "sent" : "received", trace_type_name(first >> 4));
    trace_body(&l, first, &r);
    /* A line cut at the end of buf says so. */
    if (l.len + 1 >= cap && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
    return true;
}

void cli_trace_packet(void *user, bool outgoing, const uint8_t *packet, size_t len)
{
    char line[CLI_TRACE_LINE_MAX];

    (void)user;
    if (cli_trace_format(line, sizeof line, outgoing, packet, len))
        fprintf(stderr, "%s\n", line);
}
