/*
 * midge's web console: one process that serves a page and OneNET's legacy
 * HTTP command API (the subset scripts use), and talks MQTT to the broker
 * through a midge client it is handed.
 *
 * This is the console's whole interface: `midge console` (src/cli/
 * cmd_console.c) fills struct console_config from its flags, opens the
 * broker connection as every other subcommand does, and calls console_run.
 * The console sits on midge's public API (include/midge/) and on
 * libmicrohttpd, cJSON and mbedTLS's SHA-256; the files behind it are
 * listed in console_internal.h.
 *
 * Threads: the caller's (the broker connection: every client call is made
 * on it), libmicrohttpd's polling thread (every HTTP request) and a ticker
 * (time-outs, keep-alive comments on the event streams). They share one
 * mutex; no client call is ever made with it held.
 */
#ifndef MIDGE_CONSOLE_H
#define MIDGE_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/client.h"

/* Command ids: 36 characters (a UUID) plus the NUL. */
#define CONSOLE_UUID_LEN 36

enum console_profile {
    CONSOLE_PROFILE_MQTT,  /* devices under {prefix}, as `midge devices` sees them */
    CONSOLE_PROFILE_ONENET /* the platform plugin's operator tree, $onenet/{product}/ */
};

enum console_log_level {
    CONSOLE_LOG_ERROR,
    CONSOLE_LOG_WARN,
    CONSOLE_LOG_INFO,
    CONSOLE_LOG_DEBUG
};

/* What to run. Every string is borrowed until console_run returns. */
struct console_config {
    /* Where to listen: "host:port", "[v6]:port" or ":port" (all addresses);
     * port 0 picks a free one (the "listening on" log line names it). */
    const char *listen;
    /* The key every API request carries in its `api-key` header. Never
     * written to a log line, a page or an answer. */
    const char *api_key;
    enum console_profile profile;
    /* mqtt: the topic template of a device, {device-id} standing for its
     * id (NULL = "devices/{device-id}"). */
    const char *prefix;
    /* onenet: the product whose operator the connection is. */
    const char *product_id;
    /* A fresh random UUID into out (36 characters and a NUL); false when
     * no random bytes were to be had. */
    bool (*new_uuid)(char out[CONSOLE_UUID_LEN + 1]);
    /* One log line (no newline; the text may hold anything a broker sent,
     * so the logger escapes it). */
    void (*log)(enum console_log_level level, const char *line);
};

/* The broker connection, connected by the caller before console_run. */
struct console_link {
    midge_client *client;
    /* Serve the connection (send, receive, keepalive, reconnect) until the
     * socket had input, extra_fd became readable (*extra_ready), timeout_ms
     * passed or a signal came; the client's status. */
    midge_status (*serve)(void *ctx, int extra_fd, uint32_t timeout_ms, bool *extra_ready);
    void *ctx;
    /* True once SIGINT or SIGTERM came: console_run then returns. */
    bool (*stop_requested)(void);
};

/* Validate cfg, subscribe, start serving, and run until stop_requested.
 * Returns 0 after a clean stop, 1 after one log line saying why it could
 * not start or why it stopped. */
int console_run(const struct console_config *cfg, const struct console_link *link);

/* Check a --listen value without binding: false with the reason in why. */
bool console_listen_valid(const char *listen, char *why, size_t cap);

#endif /* MIDGE_CONSOLE_H */
