/*
 * A real mosquitto with the mosquitto-onenet plugin loaded, for the
 * platform tests: the registry in a temporary directory, the broker on a
 * free loopback port (tests/support/broker.c), and raw clients (peer.h)
 * logging in as the registry's devices and operators. Header-only, one
 * per test executable.
 *
 * In a sanitizer build the plugin carries ASan and UBSan while Debian's
 * mosquitto does not: the broker is started with the ASan runtime
 * preloaded, and its log is searched for sanitizer reports at the end.
 */
#ifndef ONENET_TEST_PLATFORM_H
#define ONENET_TEST_PLATFORM_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "broker.h"
#include "peer.h"
#include "proc.h"
#include "secrets.h"

#define PRODUCT "91025"
#define OTHER_PRODUCT "91026"
#define DEVICE "9377500"     /* the tutorial's: logs in with the product's master key */
#define DEVICE_B "9377501"   /* logs in with its auth info */
#define DEVICE_C "9377502"   /* logs in with its API key */
#define OTHER_DEVICE "5550001" /* of OTHER_PRODUCT */
#define MASTER_KEY SECRET_ONENET_MASTER_KEY
#define AUTH_INFO SECRET_ONENET_AUTH_INFO
#define API_KEY SECRET_ONENET_API_KEY
#define OTHER_MASTER_KEY SECRET_PRINTED_API_KEY

#define WAIT_MS 5000

static const char platform_registry[] =
    "# the tutorial's product and device, and two more\n"
    "[product " PRODUCT "]\n"
    "master-key = " MASTER_KEY "\n"
    "\n"
    "[device " DEVICE "]\n"
    "product = " PRODUCT "\n"
    "\n"
    "[device " DEVICE_B "]\n"
    "product = " PRODUCT "\n"
    "auth-info = " AUTH_INFO "\n"
    "\n"
    "[device " DEVICE_C "]\n"
    "product = " PRODUCT "\n"
    "api-key = " API_KEY "\n"
    "\n"
    "[product " OTHER_PRODUCT "]\n"
    "master-key = " OTHER_MASTER_KEY "\n"
    "[device " OTHER_DEVICE "]\n"
    "product = " OTHER_PRODUCT "\n";

typedef struct platform {
    test_broker broker;
    char dir[128];
    char registry[160];
    char port[8];
    char extra[TEST_BROKER_EXTRA_MAX];
} platform;

/* Replace the registry file whole (a reload never sees half of it). */
static inline void platform_write_registry(platform *pf, const char *text)
{
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.tmp", pf->registry);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    chmod(tmp, 0644); /* the broker runs as the mosquitto user */
    assert_int_equal(rename(tmp, pf->registry), 0);
}

static inline int platform_start_with(platform *pf, const char *text, const char *more_conf)
{
    memset(pf, 0, sizeof *pf);
    snprintf(pf->dir, sizeof pf->dir, "/tmp/midge-platform-XXXXXX");
    if (mkdtemp(pf->dir) == NULL)
        return -1;
    chmod(pf->dir, 0755);
    snprintf(pf->registry, sizeof pf->registry, "%s/registry.ini", pf->dir);
    platform_write_registry(pf, text);
    snprintf(pf->extra, sizeof pf->extra, "plugin %s\nplugin_opt_registry %s\n%s",
             ONENET_PLUGIN_PATH, pf->registry, more_conf != NULL ? more_conf : "");
    test_broker_opts opts = {.extra_conf = pf->extra};
#ifdef ONENET_ASAN_RUNTIME
    /* The plugin's sanitizer runtimes must be the process's first. */
    setenv("LD_PRELOAD", ONENET_ASAN_RUNTIME, 1);
    setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1", 1);
#endif
    int rc = test_broker_start(&pf->broker, &opts);
#ifdef ONENET_ASAN_RUNTIME
    unsetenv("LD_PRELOAD");
#endif
    snprintf(pf->port, sizeof pf->port, "%u", (unsigned)pf->broker.port);
    return rc;
}

static inline int platform_start(platform *pf)
{
    return platform_start_with(pf, platform_registry, NULL);
}

/* The broker's log, NUL-terminated, in a static buffer. */
static inline const char *platform_log(const platform *pf)
{
    static char buf[1 << 20];
    buf[0] = '\0';
    FILE *f = fopen(pf->broker.log_path, "r");
    if (f == NULL)
        return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Stop the broker; fails the test if its log shows a secret of the
 * registry or a sanitizer report. */
static inline void platform_stop(platform *pf)
{
    if (pf->broker.pid == 0 && pf->dir[0] == '\0')
        return;
    peer_teardown(NULL);
    if (pf->broker.pid != 0)
        kill(pf->broker.pid, SIGCONT);
    const char *log = NULL;
    if (pf->broker.pid != 0) {
        test_broker_halt(&pf->broker); /* the log stays until the directory goes */
        log = platform_log(pf);
    }
    bool leaked = log != NULL && (strstr(log, MASTER_KEY) || strstr(log, AUTH_INFO) ||
                                  strstr(log, API_KEY) || strstr(log, OTHER_MASTER_KEY));
    bool sanitizer = log != NULL && (strstr(log, "AddressSanitizer") ||
                                     strstr(log, "runtime error:"));
    if (leaked || sanitizer)
        fprintf(stderr, "---- broker log ----\n%s\n----\n", log);
    test_broker_stop(&pf->broker);
    remove(pf->registry);
    rmdir(pf->dir);
    pf->dir[0] = '\0';
    assert_false(leaked);
    assert_false(sanitizer);
}

/* A raw client logged in (or refused) with these credentials; NULL
 * user/password leave the flags off. Returns the connect status. */
static inline midge_status platform_login(peer **out, const platform *pf, const char *id,
                                          const char *user, const char *password)
{
    peer *p = peer_new(pf->broker.port, id, true);
    assert_non_null(p);
    p->cfg.connect.username = user;
    p->cfg.connect.password = password;
    p->cfg.connect.keepalive_s = 120;
    *out = p;
    return peer_connect(p, NULL);
}

static inline peer *platform_operator(const platform *pf, const char *id)
{
    peer *p;
    assert_int_equal(platform_login(&p, pf, id, PRODUCT, MASTER_KEY), MIDGE_OK);
    return p;
}

/* The index of the first message at or after `from` on topic, or -1. */
static inline int peer_find(const peer *p, int from, const char *topic)
{
    for (int i = from; i < p->count && i < PEER_MAX_MESSAGES; i++)
        if (strcmp(p->got[i].topic, topic) == 0)
            return i;
    return -1;
}

/* Wait (bounded) for a message on topic; its index, or -1. */
static inline int peer_wait_topic(peer *p, const char *topic, int timeout_ms)
{
    long long deadline = peer_now_ms() + timeout_ms;
    for (;;) {
        int i = peer_find(p, 0, topic);
        if (i >= 0 || peer_now_ms() >= deadline)
            return i;
        if (midge_client_poll(&p->client, 50) < 0)
            return peer_find(p, 0, topic);
    }
}

/* The payload of message i as a string (payloads here are text). */
static inline const char *peer_text(peer *p, int i)
{
    static char buf[PEER_PAYLOAD_MAX + 1];
    size_t n = p->got[i].len < PEER_PAYLOAD_MAX ? p->got[i].len : PEER_PAYLOAD_MAX;
    memcpy(buf, p->got[i].payload, n);
    buf[n] = '\0';
    return buf;
}

/* Wait (bounded) for a message on topic whose payload holds needle; its
 * index, or -1. */
static inline int peer_wait_text(peer *p, const char *topic, const char *needle, int timeout_ms)
{
    long long deadline = peer_now_ms() + timeout_ms;
    for (;;) {
        for (int i = 0; i < p->count && i < PEER_MAX_MESSAGES; i++)
            if (strcmp(p->got[i].topic, topic) == 0 && strstr(peer_text(p, i), needle) != NULL)
                return i;
        if (peer_now_ms() >= deadline || midge_client_poll(&p->client, 50) < 0)
            return -1;
    }
}

/* An operator's command: $onenet/PRODUCT/device/cmd/uuid[/qos/timeout]. */
static inline void platform_command(peer *op, const char *device, const char *uuid,
                                    const char *qos_timeout, const char *command)
{
    char topic[200];
    snprintf(topic, sizeof topic, "$onenet/" PRODUCT "/%s/cmd/%s%s%s", device, uuid,
             qos_timeout != NULL ? "/" : "", qos_timeout != NULL ? qos_timeout : "");
    assert_int_equal(midge_client_publish(&op->client, topic, command, strlen(command), 1, false,
                                          NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&op->client, WAIT_MS), MIDGE_OK);
}

#define MIDGE_ARGV(...) ((char *const[]){(char *)MIDGE_BINARY, __VA_ARGS__, NULL})

#endif /* ONENET_TEST_PLATFORM_H */
