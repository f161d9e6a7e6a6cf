/*
 * A bare HTTP/1.1 client for the console's tests: one request per
 * connection (Connection: close), every wait bounded. It writes requests
 * byte for byte, so a test can send what no library would (an oversized
 * body, a half request, a client that goes away); it reads a reply up to
 * the end of the connection, and splits status, headers and body.
 * Header-only, for tests/console/ only.
 */
#ifndef MIDGE_TEST_HTTP_CLIENT_H
#define MIDGE_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_REPLY_MAX (256 * 1024)

typedef struct http_reply {
    int status;       /* 0: no reply */
    char *head;       /* status line and headers, NUL-terminated */
    char *body;       /* NUL-terminated (a body with NULs: use body_len) */
    size_t body_len;
    char raw[HTTP_REPLY_MAX + 1];
    size_t raw_len;
} http_reply;

/* Called while a client waits (the tests pump the console's output pipes
 * with it, so the console never blocks on a full pipe). */
static void (*http_idle)(void);

static inline int http_connect(uint16_t to_port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(to_port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline bool http_send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Split raw into status, head and body (in place). */
static inline void http_parse(http_reply *r)
{
    r->raw[r->raw_len] = '\0';
    r->status = 0;
    r->head = r->raw;
    r->body = r->raw + r->raw_len;
    r->body_len = 0;
    if (strncmp(r->raw, "HTTP/1.", 7) != 0 || r->raw_len < 12)
        return;
    r->status = atoi(r->raw + 9);
    char *end = strstr(r->raw, "\r\n\r\n");
    if (end == NULL)
        return;
    *end = '\0';
    r->body = end + 4;
    r->body_len = r->raw_len - (size_t)(r->body - r->raw);
}

/* Read until the server closes or timeout_ms passes; then parse. */
static inline void http_read(int fd, http_reply *r, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;

    r->raw_len = 0;
    for (;;) {
        long long left = end - proc_now_ms();
        if (left <= 0)
            break;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n = poll(&p, 1, left < 20 ? (int)left : 20);
        if (http_idle)
            http_idle();
        if (n <= 0)
            continue;
        ssize_t got = recv(fd, r->raw + r->raw_len, HTTP_REPLY_MAX - r->raw_len, 0);
        if (got <= 0)
            break;
        r->raw_len += (size_t)got;
        if (r->raw_len == HTTP_REPLY_MAX)
            break;
    }
    http_parse(r);
}

/* The request's bytes: method, path, Host, the api-key when given, extra
 * header lines ("Name: value\r\n" each, may be NULL), and the body with
 * its Content-Length when body is not NULL. */
static inline char *http_format(uint16_t to_port, const char *method, const char *path,
                                const char *key, const char *headers, const void *body,
                                size_t body_len, size_t *len)
{
    size_t cap = 1024 + strlen(path) + (key ? strlen(key) : 0) + (headers ? strlen(headers) : 0) +
                 body_len;
    char *req = malloc(cap);
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n",
                     method, path, (unsigned)to_port);
    if (key)
        n += snprintf(req + n, cap - (size_t)n, "api-key: %s\r\n", key);
    if (headers)
        n += snprintf(req + n, cap - (size_t)n, "%s", headers);
    if (body)
        n += snprintf(req + n, cap - (size_t)n, "Content-Length: %zu\r\n", body_len);
    n += snprintf(req + n, cap - (size_t)n, "\r\n");
    if (body && body_len)
        memcpy(req + n, body, body_len);
    *len = (size_t)n + (body ? body_len : 0);
    return req;
}

/* One request, one reply (r->status 0 when none came within timeout_ms). */
static inline void http_request(uint16_t to_port, const char *method, const char *path,
                                const char *key, const char *headers, const void *body,
                                size_t body_len, http_reply *r, int timeout_ms)
{
    size_t len;
    char *req = http_format(to_port, method, path, key, headers, body, body_len, &len);
    int fd = http_connect(to_port);

    r->raw_len = 0;
    r->status = 0;
    if (fd >= 0 && http_send_all(fd, req, len))
        http_read(fd, r, timeout_ms);
    else
        http_parse(r);
    if (fd >= 0)
        close(fd);
    free(req);
}

/* The value of a header of the reply (case-insensitive name), or NULL. */
static inline const char *http_header(const http_reply *r, const char *name, char *buf,
                                      size_t cap)
{
    size_t n = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line != NULL;
         line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            h += n + 1;
            while (*h == ' ')
                h++;
            size_t len = strcspn(h, "\r\n");
            snprintf(buf, cap, "%.*s", (int)len, h);
            return buf;
        }
    }
    return NULL;
}

#endif /* MIDGE_TEST_HTTP_CLIENT_H */
