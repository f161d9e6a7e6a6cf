/*
 * Shared by the TLS tests: certificates made at test time (make_certs.sh)
 * in a temporary directory, mosquitto TLS listeners over them, and a raw
 * MQTT CONNECT/CONNACK exchange through any transport. Header-only: each
 * test executable includes it once, after defining _GNU_SOURCE (nftw's
 * FTW_DEPTH and FTW_PHYS).
 */
#ifndef MIDGE_TEST_TLS_FIXTURE_H
#define MIDGE_TEST_TLS_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "midge/midge.h"
#include "midge/tls.h"

#define FIXTURE_PATH_MAX 200
/* A file's path: the directory plus a short name. */
#define FIXTURE_FILE_MAX (FIXTURE_PATH_MAX + 64)
/* make_certs.sh needs about 1.5 s; a loaded sanitizer run gets headroom. */
#define FIXTURE_CERTS_TIMEOUT_MS 60000

typedef struct tls_fixture {
    char dir[FIXTURE_PATH_MAX];
} tls_fixture;

static inline long long fixture_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* dir/name into a static rotating buffer: enough for the few paths one
 * call of a test needs at once. */
static inline const char *fixture_path(const tls_fixture *f, const char *name)
{
    static char slots[8][FIXTURE_FILE_MAX];
    static int next;
    char *out = slots[next++ % 8];
    snprintf(out, FIXTURE_FILE_MAX, "%s/%s", f->dir, name);
    return out;
}

static inline int fixture_rm_entry(const char *path, const struct stat *st, int flag,
                                   struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static inline void fixture_remove(tls_fixture *f)
{
    if (f->dir[0] != '\0')
        nftw(f->dir, fixture_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    f->dir[0] = '\0';
}

/* Make the certificates into a fresh temporary directory; 0 on success. */
static inline int fixture_make_certs(tls_fixture *f)
{
    const char *tmp = getenv("TMPDIR");
    char log[FIXTURE_FILE_MAX];
    int st = 0;

    snprintf(f->dir, sizeof f->dir, "%s/midge-tls-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        f->dir[0] = '\0';
        return -1;
    }
    snprintf(log, sizeof log, "%s/make_certs.log", f->dir);
    pid_t pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl("/bin/sh", "sh", MIDGE_TLS_MAKE_CERTS, f->dir, (char *)NULL);
        _exit(127);
    }
    long long deadline = fixture_now_ms() + FIXTURE_CERTS_TIMEOUT_MS;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (fixture_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fprintf(stderr, "make_certs.sh did not finish in %d ms\n", FIXTURE_CERTS_TIMEOUT_MS);
            goto fail;
        }
        usleep(20000);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "make_certs.sh failed (status %d); see %s\n", st, log);
        goto fail;
    }
    return 0;

fail:
    return -1;
}

/* A mosquitto whose only listener speaks TLS 1.2 with server cert `crt`
 * (and server.key); with client_ca, clients must present a certificate
 * signed by it. */
static inline int fixture_broker(const tls_fixture *f, test_broker *b, const char *crt,
                                 bool client_ca)
{
    char conf[4 * FIXTURE_FILE_MAX];
    test_broker_opts opts = { 0 };

    snprintf(conf, sizeof conf,
             "cafile %s/%s\n"
             "certfile %s/%s\n"
             "keyfile %s/server.key\n"
             "tls_version tlsv1.2\n"
             "%s",
             f->dir, client_ca ? "client_ca.crt" : "ca.crt", f->dir, crt, f->dir,
             client_ca ? "require_certificate true\nuse_identity_as_username false\n" : "");
    opts.extra_conf = conf;
    return test_broker_start(b, &opts);
}

/* Send all of buf within timeout_ms through t; MIDGE_OK or a failure. */
static inline int fixture_send_all(midge_transport *t, const uint8_t *buf, size_t len,
                                   uint32_t timeout_ms)
{
    long long deadline = fixture_now_ms() + timeout_ms;
    while (len > 0) {
        long n = t->send(t->ctx, buf, len);
        if (n < 0)
            return (int)n;
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (fixture_now_ms() >= deadline)
            return MIDGE_TIMEOUT;
        int w = t->wait(t->ctx, true, 100);
        if (w < 0)
            return w;
    }
    return MIDGE_OK;
}

/* Read exactly len bytes within timeout_ms; MIDGE_OK or a failure. */
static inline int fixture_recv_all(midge_transport *t, uint8_t *buf, size_t len,
                                   uint32_t timeout_ms)
{
    long long deadline = fixture_now_ms() + timeout_ms;
    while (len > 0) {
        long n = t->recv(t->ctx, buf, len);
        if (n < 0)
            return (int)n;
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (fixture_now_ms() >= deadline)
            return MIDGE_TIMEOUT;
        int w = t->wait(t->ctx, false, 100);
        if (w < 0)
            return w;
    }
    return MIDGE_OK;
}

/* MQTT 3.1.1 CONNECT, clean session, keepalive 30 s, client id "tls"
 * (section 3.1): fixed header, variable header, payload. */
static const uint8_t fixture_connect[] = {
    0x10, 17,                               /* CONNECT, remaining length */
    0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,   /* protocol name, level 4 */
    0x02, 0x00, 0x1e,                       /* clean session, keepalive 30 */
    0x00, 0x05, 'm', 'i', 'd', 'g', 'e',    /* client identifier */
};

/* CONNECT out, CONNACK (accepted, no session) back: MIDGE_OK or why not. */
static inline int fixture_mqtt_hello(midge_transport *t)
{
    uint8_t connack[4];
    int st = fixture_send_all(t, fixture_connect, sizeof fixture_connect, 5000);
    if (st != MIDGE_OK)
        return st;
    st = fixture_recv_all(t, connack, sizeof connack, 5000);
    if (st != MIDGE_OK)
        return st;
    static const uint8_t accepted[4] = { 0x20, 0x02, 0x00, 0x00 };
    return memcmp(connack, accepted, sizeof accepted) == 0 ? MIDGE_OK : MIDGE_ERR_PROTOCOL;
}

#endif /* MIDGE_TEST_TLS_FIXTURE_H */
