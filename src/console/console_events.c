/*
 * midge console: Server-Sent Events (GET /events).
 *
 * Each stream has a buffer of bytes not yet written. An event is appended
 * to every stream's buffer, and a stream that libmicrohttpd had parked
 * (its reader found nothing to write and suspended it) is resumed. The
 * reader runs on libmicrohttpd's thread; it takes the lock, copies what
 * there is, and suspends the connection when there is nothing: returning
 * 0 without suspending would make the daemon spin.
 *
 * A stream that falls CONSOLE_STREAM_BACKLOG_MAX bytes behind is closed
 * (its reader ends it): a stalled client cannot grow the console. A
 * client gone away is found out at the next write, which the keep-alive
 * comment every CONSOLE_PING_MS makes sure comes.
 *
 * The stream starts with the state: a "hello" event (profile, broker),
 * one "device" event per device and the last CONSOLE_REPLAY commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_internal.h"

static void console_stream_unlink(struct console *c, struct console_stream *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else if (c->streams == s)
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    c->stream_count--;
}

/* Append n bytes; false (the stream is closed) past the backlog bound. */
static bool console_stream_put(struct console_stream *s, const char *bytes, size_t n)
{
    if (s->closed)
        return false;
    if (s->off > 0 && s->off == s->len)
        s->off = s->len = 0;
    if (s->len - s->off + n > CONSOLE_STREAM_BACKLOG_MAX) {
        s->closed = true;
        return false;
    }
    if (s->len + n > s->cap && s->off > 0) {
        /* Slide what is left to the front before growing (a stream that
         * has no buffer yet has nothing to slide). */
        memmove(s->buf, s->buf + s->off, s->len - s->off);
        s->len -= s->off;
        s->off = 0;
    }
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        char *buf = realloc(s->buf, cap);
        if (buf == NULL) {
            s->closed = true;
            return false;
        }
        s->buf = buf;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, bytes, n);
    s->len += n;
    return true;
}

static void console_stream_wake(struct console_stream *s)
{
    if (s->suspended) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

/* "event: NAME\ndata: JSON\n\n": cJSON's unformatted output has no line
 * break, so the data is one line. */
static char *console_event_text(const char *event, cJSON *json, size_t *len)
{
    char *data = json ? cJSON_PrintUnformatted(json) : NULL;
    if (data == NULL)
        return NULL;
    size_t n = strlen(event) + strlen(data) + sizeof "event: \ndata: \n\n";
    char *text = malloc(n);
    if (text != NULL)
        *len = (size_t)snprintf(text, n, "event: %s\ndata: %s\n\n", event, data);
    cJSON_free(data);
    return text;
}

void console_events_send(struct console *c, const char *event, cJSON *json)
{
    size_t len = 0;
    char *text = c->streams ? console_event_text(event, json, &len) : NULL;

    cJSON_Delete(json);
    if (text == NULL)
        return;
    for (struct console_stream *s = c->streams; s != NULL; s = s->next) {
        console_stream_put(s, text, len);
        console_stream_wake(s); /* a closed one wakes to end */
    }
    free(text);
}

void console_events_ping(struct console *c)
{
    static const char ping[] = ": ping\n\n";

    for (struct console_stream *s = c->streams; s != NULL; s = s->next) {
        console_stream_put(s, ping, sizeof ping - 1);
        console_stream_wake(s);
    }
}

void console_events_close_all(struct console *c)
{
    for (struct console_stream *s = c->streams; s != NULL; s = s->next) {
        s->closed = true;
        console_stream_wake(s);
    }
}

static ssize_t console_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct console_stream *s = cls;
    struct console *c = s->c;
    ssize_t n;

    (void)pos;
    pthread_mutex_lock(&c->lock);
    if (s->len > s->off) {
        size_t take = s->len - s->off < max ? s->len - s->off : max;
        memcpy(buf, s->buf + s->off, take);
        s->off += take;
        n = (ssize_t)take;
    } else if (s->closed) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        s->suspended = true;
        MHD_suspend_connection(s->conn);
        n = 0;
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void console_stream_free(void *cls)
{
    struct console_stream *s = cls;
    struct console *c = s->c;

    pthread_mutex_lock(&c->lock);
    console_stream_unlink(c, s);
    pthread_mutex_unlock(&c->lock);
    free(s->buf);
    free(s);
}

static void console_stream_hello(struct console *c, struct console_stream *s)
{
    char *text;
    size_t len = 0;
    cJSON *hello = cJSON_CreateObject();

    if (hello != NULL) {
        cJSON_AddStringToObject(hello, "profile",
                                c->cfg->profile == CONSOLE_PROFILE_ONENET ? "onenet" : "mqtt");
        cJSON_AddBoolToObject(hello, "broker", c->broker_up);
    }
    text = console_event_text("hello", hello, &len);
    cJSON_Delete(hello);
    if (text != NULL)
        console_stream_put(s, text, len);
    free(text);
    for (size_t i = 0; i < c->device_count; i++) {
        cJSON *d = console_device_json(&c->devices[i]);
        text = console_event_text("device", d, &len);
        cJSON_Delete(d);
        if (text != NULL)
            console_stream_put(s, text, len);
        free(text);
    }
    size_t first = c->cmd_count > CONSOLE_REPLAY ? c->cmd_count - CONSOLE_REPLAY : 0;
    for (size_t i = first; i < c->cmd_count; i++) {
        cJSON *j = console_cmd_json(c->cmds[(c->cmd_head + i) % CONSOLE_COMMANDS_MAX],
                                    CONSOLE_EVENT_TEXT);
        text = console_event_text("command", j, &len);
        cJSON_Delete(j);
        if (text != NULL)
            console_stream_put(s, text, len);
        free(text);
    }
}

enum MHD_Result console_events_open(struct console_req *r)
{
    struct console *c = r->c;
    struct console_stream *s = calloc(1, sizeof *s);

    if (s == NULL)
        return console_reply_error(r->conn, CONSOLE_E_NO_MEMORY, NULL);
    s->c = c;
    s->conn = r->conn;
    pthread_mutex_lock(&c->lock);
    if (c->stream_count >= CONSOLE_STREAMS_MAX || c->stopping) {
        pthread_mutex_unlock(&c->lock);
        free(s);
        return console_reply_error(r->conn, CONSOLE_E_TOO_MANY, "event streams");
    }
    console_stream_hello(c, s);
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    c->stream_count++;
    pthread_mutex_unlock(&c->lock);

    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 4096, console_stream_read, s, console_stream_free);
    if (resp == NULL) {
        console_stream_free(s);
        return console_reply_error(r->conn, CONSOLE_E_NO_MEMORY, NULL);
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
