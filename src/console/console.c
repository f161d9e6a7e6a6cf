/*
 * midge console: console_run. Starts the HTTP daemon and the ticker, runs
 * the broker connection on the caller's thread until a signal, and stops
 * them in the order libmicrohttpd needs (every suspended connection
 * resumed before the daemon stops).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console_internal.h"

/* The longest the broker thread sleeps: a reconnect is tried this often. */
#define CONSOLE_SERVE_MS 250u

int64_t console_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t console_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void console_logf(const struct console *c, enum console_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (c->cfg->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->cfg->log(level, line);
}

void console_wake_broker(struct console *c)
{
    static const char one = 1;

    /* A full pipe already says there is work: the write may fail then. */
    if (write(c->wake[1], &one, 1) < 0 && errno != EAGAIN)
        console_logf(c, CONSOLE_LOG_DEBUG, "wake: %s", strerror(errno));
}

static void console_drain_wake(struct console *c)
{
    char buf[256];

    while (read(c->wake[0], buf, sizeof buf) > 0)
        ;
}

static void *console_ticker(void *arg)
{
    struct console *c = arg;
    const struct timespec period = { 0, CONSOLE_TICK_MS * 1000000L };

    for (;;) {
        pthread_mutex_lock(&c->lock);
        if (c->stopping) {
            pthread_mutex_unlock(&c->lock);
            return NULL;
        }
        int64_t now = console_now();
        console_state_tick(c, now);
        if (now >= c->next_ping) {
            console_events_ping(c);
            c->next_ping = now + CONSOLE_PING_MS;
        }
        pthread_mutex_unlock(&c->lock);
        nanosleep(&period, NULL);
    }
}

/* The broker connection came or went: the page shows it. */
static void console_broker_state(struct console *c, bool up)
{
    pthread_mutex_lock(&c->lock);
    bool changed = c->broker_up != up;
    c->broker_up = up;
    if (changed) {
        cJSON *j = cJSON_CreateObject();
        if (j != NULL)
            cJSON_AddBoolToObject(j, "broker", up);
        console_events_send(c, "broker", j);
    }
    pthread_mutex_unlock(&c->lock);
    if (changed)
        console_logf(c, up ? CONSOLE_LOG_INFO : CONSOLE_LOG_WARN,
                     up ? "connected to the broker again" : "lost the broker; reconnecting");
}

static void console_free(struct console *c)
{
    console_cmds_free(c);
    console_devices_free(c);
    for (size_t i = 0; i < c->filter_count; i++)
        free(c->filters[i]);
    free(c->head);
    free(c->tail);
    if (c->wake[0] >= 0)
        close(c->wake[0]);
    if (c->wake[1] >= 0)
        close(c->wake[1]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void console_stop(struct console *c)
{
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    while (c->waiting != NULL)
        console_req_resume(c, c->waiting);
    console_events_close_all(c);
    pthread_mutex_unlock(&c->lock);
    if (c->ticker_started)
        pthread_join(c->ticker, NULL);
    console_http_stop(c);
}

static bool console_start(struct console *c)
{
    if (pipe(c->wake) != 0) {
        console_logf(c, CONSOLE_LOG_ERROR, "pipe: %s", strerror(errno));
        return false;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(c->wake[i], F_SETFL, O_NONBLOCK);
        fcntl(c->wake[i], F_SETFD, FD_CLOEXEC);
    }
    const char *key = c->cfg->api_key;
    console_key_hash(key, strlen(key), c->key_hash);
    if (!console_broker_topics(c))
        return false;
    midge_client_set_callback(c->link->client, console_broker_on_message, c);
    c->broker_up = midge_client_is_connected(c->link->client);
    if (!console_broker_subscribe(c) || !console_http_start(c))
        return false;
    bool v6 = strchr(c->listen_host, ':') != NULL;
    console_logf(c, CONSOLE_LOG_INFO, "listening on http://%s%s%s:%u/ (%s)",
                 v6 ? "[" : "", c->listen_host[0] ? c->listen_host : "0.0.0.0", v6 ? "]" : "",
                 (unsigned)c->port,
                 c->cfg->profile == CONSOLE_PROFILE_MQTT ? "mqtt profile" : "onenet profile");
    if (!c->listen_loopback)
        console_logf(c, CONSOLE_LOG_WARN, "listening beyond loopback without TLS: the API key "
                     "and the commands cross the network in clear");
    c->next_ping = console_now() + CONSOLE_PING_MS;
    if (pthread_create(&c->ticker, NULL, console_ticker, c) != 0) {
        console_logf(c, CONSOLE_LOG_ERROR, "cannot start a thread");
        return false;
    }
    c->ticker_started = true;
    return true;
}

int console_run(const struct console_config *cfg, const struct console_link *link)
{
    struct console *c = calloc(1, sizeof *c);
    int rc = 1;

    if (c == NULL)
        return 1;
    c->cfg = cfg;
    c->link = link;
    c->wake[0] = c->wake[1] = -1;
    pthread_mutex_init(&c->lock, NULL);
    if (!console_start(c))
        goto done;
    rc = 0;
    while (!link->stop_requested()) {
        bool ready = false;
        midge_status st = link->serve(link->ctx, c->wake[0], CONSOLE_SERVE_MS, &ready);
        if (ready)
            console_drain_wake(c);
        console_broker_state(c, midge_client_is_connected(link->client));
        if (st != MIDGE_OK && st != MIDGE_ERR_INTERRUPTED) {
            /* With reconnection on, only a refusal comes back: a wrong
             * login does not heal by retrying. */
            console_logf(c, CONSOLE_LOG_ERROR, "broker: %s", midge_strerror(st));
            rc = 1;
            break;
        }
        console_broker_flush(c);
    }
    console_logf(c, CONSOLE_LOG_INFO, "stopping: %lu commands, %lu answers", c->commands,
                 c->answers);
done:
    console_stop(c);
    console_free(c);
    return rc;
}
