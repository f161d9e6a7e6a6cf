/*
 * What the console's tests share: the console started and its port read
 * from its log, requests to it (http_client.h) with their JSON checked,
 * polls bounded in time, the event stream read until a string shows, and
 * the console's descriptors counted. The including file defines the
 * console's proc `console`, the optional second one `extra_console` and
 * the `port` requests go to, and KEY, the API key, before including this
 * header.
 */
#ifndef MIDGE_TEST_CONSOLE_H
#define MIDGE_TEST_CONSOLE_H

#include <cjson/cJSON.h>
#include <dirent.h>

#include "http_client.h"

#ifndef CONSOLE_WAIT_MS
#define CONSOLE_WAIT_MS 10000
#endif

static http_reply reply;    /* large: static */
static http_reply *cur = &reply; /* what expect() reads */

static inline void pump(void)
{
    proc_pump(&console, 1);
    if (extra_console.pid > 0 && !extra_console.exited)
        proc_pump(&extra_console, 1);
}

/* Start `midge console` with argv and wait for its "listening on" line;
 * returns the port (0 when it did not come). */
static inline uint16_t console_start(proc *p, char *const argv[])
{
    static const char mark[] = "listening on http://";
    assert_int_equal(proc_start(p, argv, NULL), 0);
    long long end = proc_now_ms() + CONSOLE_WAIT_MS;
    while (proc_now_ms() < end && !p->exited) {
        proc_pump(p, 20);
        const char *at = strstr(p->err, mark);
        const char *slash = at ? strchr(at + sizeof mark - 1, '/') : NULL;
        if (slash == NULL)
            continue;
        const char *colon = slash;
        while (colon > at && *colon != ':')
            colon--;
        return (uint16_t)atoi(colon + 1);
    }
    proc_dump(p, "console");
    return 0;
}

static inline cJSON *reply_json(void)
{
    cJSON *j = cJSON_ParseWithLength(cur->body, cur->body_len);
    if (j == NULL)
        fprintf(stderr, "not JSON (%d): %s\n", cur->status, cur->body);
    assert_non_null(j);
    return j;
}

static inline int json_int(const cJSON *j, const char *path)
{
    char name[64];
    const cJSON *at = j;
    for (const char *p = path; at != NULL && *p;) {
        size_t n = strcspn(p, ".");
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        at = cJSON_GetObjectItemCaseSensitive(at, name);
        p += n + (p[n] == '.');
    }
    assert_true(cJSON_IsNumber(at));
    return at->valueint;
}

static inline const char *json_str(const cJSON *j, const char *path)
{
    char name[64];
    const cJSON *at = j;
    for (const char *p = path; at != NULL && *p;) {
        size_t n = strcspn(p, ".");
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        at = cJSON_GetObjectItemCaseSensitive(at, name);
        p += n + (p[n] == '.');
    }
    return cJSON_IsString(at) ? at->valuestring : NULL;
}

/* A request to the group's console; the reply in `reply`. */
static inline void call(const char *method, const char *path, const char *key, const char *body)
{
    http_request(port, method, path, key, NULL, body, body ? strlen(body) : 0, &reply,
                 CONSOLE_WAIT_MS);
}

/* Expect HTTP status and errno; returns the parsed JSON (free it). */
static inline cJSON *expect(int http, int err)
{
    if (cur->status != http)
        fprintf(stderr, "HTTP %d: %s\n", cur->status, cur->body);
    assert_int_equal(cur->status, http);
    cJSON *j = reply_json();
    assert_int_equal(json_int(j, "errno"), err);
    return j;
}

/* Poll GET path until the JSON's `field` equals want (a string). */
static inline void wait_field(const char *path, const char *field, const char *want)
{
    long long end = proc_now_ms() + CONSOLE_WAIT_MS;
    for (;;) {
        call("GET", path, KEY, NULL);
        if (reply.status == 200) {
            cJSON *j = reply_json();
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(j, "data"), field);
            char *text = v ? cJSON_PrintUnformatted(v) : NULL;
            bool same = text != NULL && strcmp(text, want) == 0;
            cJSON_free(text);
            cJSON_Delete(j);
            if (same)
                return;
        }
        assert_true(proc_now_ms() < end);
        poll(NULL, 0, 50);
    }
}

/* The number of descriptors the console holds (its sockets among them). */
static inline int console_fds(const proc *p)
{
    char path[64];
    int n = 0;
    snprintf(path, sizeof path, "/proc/%d/fd", (int)p->pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Read the stream until `needle` shows or timeout_ms passes. */
static inline bool stream_until(int fd, char *buf, size_t cap, size_t *len, const char *needle,
                         int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    while (strstr(buf, needle) == NULL) {
        long long left = end - proc_now_ms();
        if (left <= 0 || *len + 1 >= cap)
            return false;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        pump();
        if (poll(&p, 1, 20) <= 0)
            continue;
        ssize_t n = recv(fd, buf + *len, cap - 1 - *len, 0);
        if (n <= 0)
            return false;
        *len += (size_t)n;
        buf[*len] = '\0';
    }
    return true;
}

/* GET path from the console on to_port with this Host header (a page of
 * another site, its name resolved to 127.0.0.1, sends its own name). */
static inline void get_with_host(uint16_t to_port, const char *host, const char *path)
{
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\napi-key: %s\r\n"
                     "Connection: close\r\n\r\n", path, host, KEY);
    int fd = http_connect(to_port);
    assert_true(fd >= 0);
    assert_true(http_send_all(fd, req, (size_t)n));
    http_read(fd, &reply, CONSOLE_WAIT_MS);
    close(fd);
}

#endif /* MIDGE_TEST_CONSOLE_H */
