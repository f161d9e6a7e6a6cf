/*
 * midge console: the HTTP side, on libmicrohttpd (one polling thread,
 * epoll, connections suspended while they wait).
 *
 * Every request passes, in this order, before anything else happens:
 *   Host    one of the names the console answers to (DNS rebinding: a
 *           page of another site resolved to 127.0.0.1 sends its own name);
 *   Origin  absent (curl, scripts) or http:// + that same Host (a page of
 *           another site cannot post commands);
 *   route   a known path and method;
 *   api-key the key, compared in constant time (not for the page itself,
 *           which holds no secret);
 *   size    a body of at most CONSOLE_BODY_MAX bytes (Content-Length is
 *           checked before the body is read; a chunked body is counted).
 * A refusal is answered at once with OneNET's error JSON and the body,
 * if any, is not read. Headers are bounded by libmicrohttpd's per-
 * connection memory (CONSOLE_HTTP_MEMORY): a larger request is refused by
 * libmicrohttpd itself.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "console_internal.h"

/* Per-connection memory: the request line and headers must fit. */
#define CONSOLE_HTTP_MEMORY (32u * 1024u)
#define CONSOLE_HTTP_CONNECTIONS (CONSOLE_STREAMS_MAX + 200u)
#define CONSOLE_HTTP_IDLE_S 60u

enum MHD_Result console_reply_json(struct MHD_Connection *conn, unsigned http, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;

    cJSON_Delete(json);
    if (text == NULL)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
    cJSON_free(text);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(conn, http, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result console_reply_error(struct MHD_Connection *conn, enum console_errno e,
                                    const char *detail)
{
    char text[256];
    cJSON *j = cJSON_CreateObject();

    if (detail != NULL)
        snprintf(text, sizeof text, "%s: %s", console_errno_text(e), detail);
    else
        snprintf(text, sizeof text, "%s", console_errno_text(e));
    char *safe = console_utf8(text, strlen(text));
    if (j == NULL || safe == NULL) {
        cJSON_Delete(j);
        free(safe);
        return MHD_NO;
    }
    cJSON_AddNumberToObject(j, "errno", (double)e);
    cJSON_AddStringToObject(j, "error", safe);
    free(safe);
    return console_reply_json(conn, console_errno_http(e), j);
}

/* --- Host and Origin ------------------------------------------------------------ */

static bool console_ip_literal(const char *name)
{
    unsigned char addr[16];

    return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

/* A Host value, "name[:port]" or "[v6][:port]", the console answers to. */
static bool console_host_allowed(const struct console *c, const char *host)
{
    char name[256];
    const char *port = NULL;
    size_t n;

    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (close == NULL)
            return false;
        n = (size_t)(close - host - 1);
        if (n >= sizeof name)
            return false;
        memcpy(name, host + 1, n);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return false;
    } else {
        const char *colon = strchr(host, ':');
        n = colon ? (size_t)(colon - host) : strlen(host);
        if (n >= sizeof name)
            return false;
        memcpy(name, host, n);
        port = colon ? colon + 1 : NULL;
    }
    name[n] = '\0';
    char want[8];
    snprintf(want, sizeof want, "%u", (unsigned)c->port);
    if (port == NULL ? c->port != 80 : strcmp(port, want) != 0)
        return false;
    if (strcasecmp(name, c->listen_host) == 0)
        return true;
    if (c->listen_loopback)
        return strcasecmp(name, "localhost") == 0 || strcmp(name, "127.0.0.1") == 0 ||
               strcmp(name, "::1") == 0;
    /* Listening on every address: any address, but no name (a name is
     * what a rebinding attack brings). */
    return c->listen_any && (console_ip_literal(name) || strcasecmp(name, "localhost") == 0);
}

static bool console_origin_allowed(const char *origin, const char *host)
{
    static const char scheme[] = "http://";

    return strncasecmp(origin, scheme, sizeof scheme - 1) == 0 &&
           strcasecmp(origin + sizeof scheme - 1, host) == 0;
}

/* --- the page ----------------------------------------------------------------- */

static const struct console_asset *console_asset_find(const char *url)
{
    if (strcmp(url, "/") == 0)
        url = "/index.html";
    for (size_t i = 0; i < console_asset_count; i++) {
        if (strcmp(console_assets[i].path, url) == 0)
            return &console_assets[i];
    }
    return NULL;
}

static enum MHD_Result console_reply_asset(struct MHD_Connection *conn,
                                           const struct console_asset *a)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", a->type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                            "base-uri 'none'; form-action 'none'");
    enum MHD_Result ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum console_route console_route(const char *url, const char **method)
{
    *method = "GET";
    if (console_asset_find(url) != NULL)
        return CONSOLE_ROUTE_ASSET;
    if (strcmp(url, "/events") == 0)
        return CONSOLE_ROUTE_EVENTS;
    if (strcmp(url, "/devices") == 0)
        return CONSOLE_ROUTE_DEVICES;
    if (strcmp(url, "/cmds") == 0) {
        *method = "POST";
        return CONSOLE_ROUTE_CMDS;
    }
    const char *rest = NULL;
    bool cmds = strncmp(url, "/cmds/", 6) == 0;
    if (cmds)
        rest = url + 6;
    else if (strncmp(url, "/devices/", 9) == 0)
        rest = url + 9;
    else
        return CONSOLE_ROUTE_NONE;
    const char *slash = strchr(rest, '/');
    if (slash == rest)
        return CONSOLE_ROUTE_NONE;
    if (slash == NULL)
        return cmds ? CONSOLE_ROUTE_CMD : CONSOLE_ROUTE_DEVICE;
    if (cmds && strcmp(slash, "/resp") == 0)
        return CONSOLE_ROUTE_CMD_RESP;
    if (!cmds && strcmp(slash, "/datapoints") == 0)
        return CONSOLE_ROUTE_DATAPOINTS;
    return CONSOLE_ROUTE_NONE;
}

/* --- one request --------------------------------------------------------------------- */

static bool console_key_ok(const struct console *c, struct MHD_Connection *conn)
{
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "api-key");
    uint8_t hash[32];

    if (key == NULL)
        return false;
    console_key_hash(key, strlen(key), hash);
    return console_key_equal(hash, c->key_hash);
}

/* The checks every request passes before its body is read; true when a
 * refusal was queued (into *ret). */
static bool console_refuse(struct console *c, struct MHD_Connection *conn, const char *url,
                           const char *method, enum MHD_Result *ret)
{
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *want = NULL;

    if (host == NULL || !console_host_allowed(c, host)) {
        *ret = console_reply_error(conn, CONSOLE_E_FORBIDDEN, "Host not allowed");
        return true;
    }
    if (origin != NULL && !console_origin_allowed(origin, host)) {
        *ret = console_reply_error(conn, CONSOLE_E_FORBIDDEN, "Origin not allowed");
        return true;
    }
    enum console_route route = console_route(url, &want);
    if (route == CONSOLE_ROUTE_NONE) {
        *ret = console_reply_error(conn, CONSOLE_E_NOT_FOUND, NULL);
        return true;
    }
    bool head = strcmp(method, "HEAD") == 0 && strcmp(want, "GET") == 0;
    if (strcmp(method, want) != 0 && !head) {
        *ret = console_reply_error(conn, CONSOLE_E_METHOD, NULL);
        return true;
    }
    if (route != CONSOLE_ROUTE_ASSET && !console_key_ok(c, conn)) {
        *ret = console_reply_error(conn, CONSOLE_E_AUTH, NULL);
        return true;
    }
    const char *length =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (length != NULL && strtoull(length, NULL, 10) > CONSOLE_BODY_MAX) {
        *ret = console_reply_error(conn, CONSOLE_E_TOO_LONG, NULL);
        return true;
    }
    return false;
}

/* Keep the body, up to CONSOLE_BODY_MAX; past it only count. */
static void console_take_body(struct console_req *r, const char *data, size_t n)
{
    if (r->too_big || r->len + n > CONSOLE_BODY_MAX) {
        r->too_big = true;
        return;
    }
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + n)
            cap *= 2;
        char *body = realloc(r->body, cap);
        if (body == NULL) {
            r->too_big = true;
            return;
        }
        r->body = body;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
}

static enum MHD_Result console_http_handle(void *cls, struct MHD_Connection *conn,
                                           const char *url, const char *method,
                                           const char *version, const char *upload_data,
                                           size_t *upload_data_size, void **con_cls)
{
    struct console *c = cls;
    struct console_req *r = *con_cls;
    enum MHD_Result ret = MHD_YES;

    (void)version;
    if (r == NULL) {
        /* First call: the headers are in, the body (if any) is not. */
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return MHD_NO;
        r->c = c;
        r->conn = conn;
        *con_cls = r;
        if (console_refuse(c, conn, url, method, &ret))
            r->refused_early = true;
        return ret;
    }
    if (r->refused_early || r->replied) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->cmd != NULL)
        return console_api_resumed(r);
    if (*upload_data_size > 0) {
        console_take_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return console_reply_error(conn, CONSOLE_E_TOO_LONG, NULL);
    const char *want;
    enum console_route route = console_route(url, &want);
    if (route == CONSOLE_ROUTE_ASSET)
        return console_reply_asset(conn, console_asset_find(url));
    return console_api(r, route, url);
}

/* The request is over (answered, or the client went away): forget it. */
static void console_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                                   enum MHD_RequestTerminationCode toe)
{
    struct console *c = cls;
    struct console_req *r = *con_cls;

    (void)conn;
    (void)toe;
    if (r == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    if (r->waiting) {
        r->waiting = false;
        if (r->prev)
            r->prev->next = r->next;
        else
            c->waiting = r->next;
        if (r->next)
            r->next->prev = r->prev;
    }
    if (r->cmd != NULL && r->cmd->waiter == r)
        r->cmd->waiter = NULL;
    pthread_mutex_unlock(&c->lock);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static void console_http_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    struct console *c = cls;

    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    console_logf(c, CONSOLE_LOG_DEBUG, "http: %s", line);
}

/* Resolve the listen address; remember how far it reaches. */
static bool console_http_address(struct console *c, struct sockaddr_storage *sa, int *family)
{
    char why[128];
    struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    char port[8];

    if (!console_listen_split(c->cfg->listen, c->listen_host, sizeof c->listen_host, &c->port,
                              why, sizeof why)) {
        console_logf(c, CONSOLE_LOG_ERROR, "invalid --listen '%s': %s", c->cfg->listen, why);
        return false;
    }
    snprintf(port, sizeof port, "%u", (unsigned)c->port);
    int rc = getaddrinfo(c->listen_host[0] ? c->listen_host : "0.0.0.0", port, &hints, &res);
    if (rc != 0) {
        console_logf(c, CONSOLE_LOG_ERROR, "--listen %s: %s", c->cfg->listen, gai_strerror(rc));
        return false;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *family = res->ai_family;
    freeaddrinfo(res);
    if (*family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uint32_t a = ntohl(in->sin_addr.s_addr);
        c->listen_loopback = (a >> 24) == 127;
        c->listen_any = a == 0;
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        c->listen_loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
        c->listen_any = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
    }
    return true;
}

bool console_http_start(struct console *c)
{
    struct sockaddr_storage sa;
    int family = AF_INET;

    if (!console_http_address(c, &sa, &family))
        return false;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    c->httpd = MHD_start_daemon(
        flags, c->port, NULL, NULL, console_http_handle, c,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONSOLE_HTTP_MEMORY,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONSOLE_HTTP_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONSOLE_HTTP_IDLE_S,
        MHD_OPTION_NOTIFY_COMPLETED, console_http_completed, c,
        MHD_OPTION_EXTERNAL_LOGGER, console_http_log, c,
        MHD_OPTION_END);
    if (c->httpd == NULL) {
        console_logf(c, CONSOLE_LOG_ERROR, "cannot listen on %s (in use, or not an address "
                     "of this machine)", c->cfg->listen);
        return false;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(c->httpd, MHD_DAEMON_INFO_BIND_PORT);
    if (info != NULL && info->port != 0)
        c->port = info->port;
    return true;
}

void console_http_stop(struct console *c)
{
    if (c->httpd != NULL)
        MHD_stop_daemon(c->httpd);
    c->httpd = NULL;
}
