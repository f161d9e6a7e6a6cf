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
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

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

static const char *trace_type_name(uint8_t type)
{
    static const char *const names[] = {
        "RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
        "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT",
        "AUTH",
    };
    return names[type & 0x0f];
}

static void trace_connect(struct trace_reader *r)
{
    uint16_t n;
    trace_str(r, &n); /* protocol name */
    uint8_t level = trace_u8(r);
    uint8_t flags = trace_u8(r);
    uint16_t keepalive = trace_u16(r);
    const char *id = trace_str(r, &n);
    fprintf(stderr, " (p%u, c%u, k%u, id '%.*s'", level, (flags >> 1) & 1u, keepalive, n, id);
    if (flags & 0x04) {
        uint16_t tl, pl;
        const char *wt = trace_str(r, &tl);
        trace_str(r, &pl);
        fprintf(stderr, ", will '%.*s' q%u r%u (%u bytes)", tl, wt, (flags >> 3) & 3u,
                (flags >> 5) & 1u, pl);
    }
    if (flags & 0x80) {
        const char *user = trace_str(r, &n);
        fprintf(stderr, ", u '%.*s'", n, user);
    }
    /* The password's bytes are skipped, never formatted. */
    if (flags & 0x40)
        fprintf(stderr, ", p '********'");
    fputc(')', stderr);
}

static void trace_publish(struct trace_reader *r, uint8_t flags)
{
    uint16_t tl;
    uint8_t qos = (flags >> 1) & 3u;
    const char *topic = trace_str(r, &tl);
    uint16_t id = qos ? trace_u16(r) : 0;
    fprintf(stderr, " (d%u, q%u, r%u, m%u, '%.*s', ... (%zu bytes))", (flags >> 3) & 1u, qos,
            flags & 1u, id, tl, topic, r->ok ? r->left : 0);
}

/* SUBSCRIBE lists "filter" qos pairs; UNSUBSCRIBE only filters. */
static void trace_filters(struct trace_reader *r, bool with_qos)
{
    fprintf(stderr, " (m%u", trace_u16(r));
    while (r->ok && r->left > 0) {
        uint16_t n;
        const char *f = trace_str(r, &n);
        if (!r->ok)
            break;
        if (with_qos)
            fprintf(stderr, ", '%.*s' q%u", n, f, trace_u8(r));
        else
            fprintf(stderr, ", '%.*s'", n, f);
    }
    fputc(')', stderr);
}

static void trace_suback(struct trace_reader *r)
{
    fprintf(stderr, " (m%u", trace_u16(r));
    while (r->ok && r->left > 0)
        fprintf(stderr, ", %u", trace_u8(r));
    fputc(')', stderr);
}

static void trace_body(uint8_t first, struct trace_reader *r)
{
    switch (first >> 4) {
    case MIDGE_CONNECT:
        trace_connect(r);
        break;
    case MIDGE_CONNACK: {
        uint8_t sp = trace_u8(r);
        fprintf(stderr, " (sp%u, rc%u)", sp & 1u, trace_u8(r));
        break;
    }
    case MIDGE_PUBLISH:
        trace_publish(r, first & 0x0f);
        break;
    case MIDGE_PUBACK:
    case MIDGE_PUBREC:
    case MIDGE_PUBREL:
    case MIDGE_PUBCOMP:
    case MIDGE_UNSUBACK:
        fprintf(stderr, " (m%u)", trace_u16(r));
        break;
    case MIDGE_SUBSCRIBE:
        trace_filters(r, true);
        break;
    case MIDGE_UNSUBSCRIBE:
        trace_filters(r, false);
        break;
    case MIDGE_SUBACK:
        trace_suback(r);
        break;
    default:
        break; /* PINGREQ, PINGRESP, DISCONNECT: nothing but the name */
    }
}

void cli_trace_packet(void *user, bool outgoing, const uint8_t *packet, size_t len)
{
    (void)user;
    uint8_t first = 0;
    uint32_t remaining = 0;
    size_t header = 0;
    midge_decode_result h = midge_codec_decode_header(packet, len, &first, &remaining, &header);
    if (h.outcome != MIDGE_DECODE_COMPLETE)
        return;

    struct trace_reader r = { packet + header, len - header, true };
    if (r.left > remaining)
        r.left = remaining;
    fprintf(stderr, "%s %s", outgoing ? "sent" : "received", trace_type_name(first >> 4));
    trace_body(first, &r);
    fputc('\n', stderr);
}
