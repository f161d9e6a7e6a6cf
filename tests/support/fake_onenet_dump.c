/*
 * Names and a readable listing of a fake OneNET server's events, for
 * failing tests (fake_onenet.h). Uses only the public calls.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fake_onenet.h"

const char *fake_onenet_what_str(fake_onenet_what what)
{
    switch (what) {
    case FAKE_ONENET_ACCEPTED:
        return "ACCEPTED";
    case FAKE_ONENET_REFUSED:
        return "REFUSED";
    case FAKE_ONENET_DROPPED:
        return "DROPPED";
    case FAKE_ONENET_KICKED:
        return "KICKED";
    case FAKE_ONENET_VIOLATION:
        return "VIOLATION";
    case FAKE_ONENET_SUBSCRIBE:
        return "SUBSCRIBE";
    case FAKE_ONENET_UNSUBSCRIBE:
        return "UNSUBSCRIBE";
    case FAKE_ONENET_PUBLISH:
        return "PUBLISH";
    case FAKE_ONENET_PUSHED:
        return "PUSHED";
    case FAKE_ONENET_PING:
        return "PING";
    case FAKE_ONENET_DISCONNECT:
        return "DISCONNECT";
    case FAKE_ONENET_CLOSED:
        return "CLOSED";
    case FAKE_ONENET_SERVER_DROP:
        return "SERVER_DROP";
    }
    return "?";
}

static void dump_payload(const fake_onenet_event *ev)
{
    bool text = true;

    for (size_t i = 0; i < ev->len; i++)
        text = text && ev->payload[i] >= 0x20 && ev->payload[i] < 0x7f;
    if (text) {
        fprintf(stderr, " '%.*s'", (int)ev->len, (const char *)ev->payload);
        return;
    }
    fputs(" hex", stderr);
    for (size_t i = 0; i < ev->len && i < 48; i++)
        fprintf(stderr, " %02X", ev->payload[i]);
    if (ev->len > 48)
        fputs(" ...", stderr);
}

void fake_onenet_dump(fake_onenet *s, const char *title)
{
    size_t count = fake_onenet_count(s);
    fake_onenet_event *ev = malloc(sizeof *ev);

    fprintf(stderr, "---- fake OneNET server, port %u: %s (%zu events%s) ----\n",
            (unsigned)fake_onenet_port(s), title, count,
            count == FAKE_ONENET_EVENT_MAX ? ", record full: later ones dropped" : "");
    for (size_t i = 0; ev != NULL && fake_onenet_get(s, i, ev); i++) {
        fprintf(stderr, "%3zu c%d %-11s", i, ev->conn, fake_onenet_what_str(ev->what));
        switch (ev->what) {
        case FAKE_ONENET_ACCEPTED:
        case FAKE_ONENET_REFUSED:
            fprintf(stderr, " code %u k%u c%d sp%d et %" PRIu64 " %s", ev->code, ev->keepalive_s,
                    ev->clean_session, ev->session_present, ev->token_et, ev->token_method);
            break;
        case FAKE_ONENET_SUBSCRIBE:
            fprintf(stderr, " '%s' q%u -> 0x%02X", ev->topic, ev->qos, ev->code);
            break;
        case FAKE_ONENET_UNSUBSCRIBE:
            fprintf(stderr, " '%s'", ev->topic);
            break;
        case FAKE_ONENET_PUBLISH:
        case FAKE_ONENET_PUSHED:
            fprintf(stderr, " '%s' q%u r%d d%d m%u (%zu bytes)", ev->topic, ev->qos, ev->retain,
                    ev->dup, ev->packet_id, ev->len);
            dump_payload(ev);
            break;
        default:
            break;
        }
        if (ev->why[0] != '\0')
            fprintf(stderr, ": %s", ev->why);
        fputc('\n', stderr);
    }
    fputs("----\n", stderr);
    free(ev);
}
