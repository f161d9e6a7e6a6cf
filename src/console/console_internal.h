/*
 * midge console: what its files share.
 *
 *   console.c         console_run: start, the broker thread's loop, the ticker, stop
 *   console_http.c    libmicrohttpd: routing, the Host/Origin/api-key checks,
 *                     bounded bodies, the embedded page
 *   console_api.c     OneNET's HTTP API: /cmds, /devices, their JSON
 *   console_state.c   the devices and commands the console knows, and their JSON
 *   console_events.c  Server-Sent Events: one buffer per stream, broadcast
 *   console_broker.c  the MQTT side: topics per profile, messages in, commands out
 *   console_text.c    listen addresses, UTF-8 for JSON strings, the key check, times
 *
 * Locking: struct console's `lock` guards everything below it in the
 * struct and every device, command, request and stream. The broker thread
 * never holds it across a client call; libmicrohttpd's thread takes it in
 * its callbacks; MHD_suspend_connection and MHD_resume_connection are
 * called with it held (they take libmicrohttpd's own lock inside, never
 * the other way round).
 */
#ifndef MIDGE_CONSOLE_INTERNAL_H
#define MIDGE_CONSOLE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "console.h"

/* A command body, at most (OneNET: under 64 KB; the platform plugin's
 * topic tree carries 65535 bytes). */
#define CONSOLE_BODY_MAX 65535u
/* A device id, at most, in bytes. */
#define CONSOLE_ID_MAX 64u
/* Commands remembered (status, answer): the oldest finished one goes first
 * when either bound would be passed (the bytes: commands and answers). */
#define CONSOLE_COMMANDS_MAX 4096u
#define CONSOLE_COMMANDS_BYTES (16u * 1024u * 1024u)
/* Bytes an event stream may fall behind before it is dropped. */
#define CONSOLE_STREAM_BACKLOG_MAX (512u * 1024u)
/* Event streams at once; a browser tab holds one. */
#define CONSOLE_STREAMS_MAX 1000u
/* The longest a POST /cmds waits for its answer, whatever its timeout. */
#define CONSOLE_WAIT_MAX_S 30u
/* How long a POST /cmds waits for the broker (mqtt) or the platform
 * (onenet) to take a command before it answers errno 7. */
#define CONSOLE_TAKE_WAIT_MS 10000u
/* A comment line on every event stream this often: proxies keep it
 * open, and a client gone away is found out. */
#define CONSOLE_PING_MS 15000u
/* The ticker's period: time-outs are this late at most. */
#define CONSOLE_TICK_MS 100u
/* Commands replayed to a new event stream (the page's log). */
#define CONSOLE_REPLAY 50u
/* Bytes of a command and of its answer an event carries. */
#define CONSOLE_EVENT_TEXT 256u
/* OneNET's longest command timeout: 31 days. */
#define CONSOLE_TIMEOUT_MAX_S 2678400ul

/* The answer codes: OneNET's where it has one (1, 3, 10), the platform
 * plugin's (11, 12, 13), and the HTTP status each goes with. */
#define CONSOLE_ERRNO_LIST(X)                                                   \
    X(OK, 0, 200, "succ")                                                       \
    X(AUTH, 1, 401, "auth failed")                                              \
    X(PARAM, 2, 400, "invalid parameter")                                       \
    X(NO_DEVICE, 3, 404, "device not exist")                                    \
    X(NO_COMMAND, 4, 404, "command not exist")                                  \
    X(BROKER, 7, 503, "service internal error")                                 \
    X(OFFLINE, 10, 200, "device not online")                                    \
    X(TOO_MANY, 11, 503, "too many commands kept")                              \
    X(TOO_LONG, 12, 413, "command longer than 65535 bytes")                     \
    X(NO_MEMORY, 13, 500, "out of memory")                                      \
    X(NO_RESPONSE, 14, 404, "no response yet")                                  \
    X(FORBIDDEN, 15, 403, "forbidden")                                          \
    X(NOT_FOUND, 16, 404, "not found")                                          \
    X(METHOD, 17, 405, "method not allowed")

enum console_errno {
#define CONSOLE_ERRNO_ENUM(name, num, http, text) CONSOLE_E_##name = num,
    CONSOLE_ERRNO_LIST(CONSOLE_ERRNO_ENUM)
#undef CONSOLE_ERRNO_ENUM
};

unsigned console_errno_http(enum console_errno e);
const char *console_errno_text(enum console_errno e);

/* A command's status, OneNET's numbers (GET /cmds/{uuid}). */
enum console_cmd_status {
    CONSOLE_CMD_QUEUED = 0,   /* not yet taken by the broker (or the platform) */
    CONSOLE_CMD_CREATED = 1,  /* kept for an offline device */
    CONSOLE_CMD_SENT = 2,     /* sent, no answer yet */
    CONSOLE_CMD_FAILED = 3,   /* could not be sent */
    CONSOLE_CMD_ANSWERED = 4, /* the device answered */
    CONSOLE_CMD_TIMEOUT = 5   /* its timeout passed without an answer */
};

const char *console_cmd_desc(int status);

struct console;
struct console_req;

struct console_device {
    char id[CONSOLE_ID_MAX + 1];
    int online;       /* -1 unknown, 0 offline, 1 online */
    int led;          /* -1 unknown, 0 off, 1 on */
    cJSON *points;    /* onenet: the latest data points, {"id","value"[,"at"]} each */
    int64_t points_ms; /* wall clock, when they came */
};

struct console_cmd {
    char uuid[CONSOLE_UUID_LEN + 1];
    char device[CONSOLE_ID_MAX + 1];
    char *body; /* heap: the command as posted */
    size_t body_len;
    char *resp; /* heap: the device's answer; NULL until it came */
    size_t resp_len;
    int status;          /* enum console_cmd_status; onenet: the platform's number */
    int refused;         /* onenet: the platform's errno (0 = none) */
    char *refusal;       /* heap: the platform's error text */
    uint8_t qos;
    unsigned long timeout_s;
    bool queued;         /* in the outbox: not yet handed to the client */
    bool taking;         /* handed to the client right now */
    int64_t created_ms;  /* wall clock */
    int64_t answered_ms;
    int64_t expires;     /* monotonic ms: status 5 from then on (timeout_s > 0) */
    struct console_req *waiter; /* the POST waiting for it, if any */
    struct console_cmd *next_out;
};

/* One HTTP request's own state (libmicrohttpd's per-request pointer). */
struct console_req {
    struct console *c;
    struct MHD_Connection *conn;
    char *body; /* heap, grown up to CONSOLE_BODY_MAX */
    size_t len;
    size_t cap;
    bool too_big;
    bool refused_early;       /* a response was queued before the body came */
    struct console_cmd *cmd;  /* POST /cmds: the command waited for */
    bool waiting;             /* suspended, in c->waiting */
    bool wait_answer;         /* timeout > 0: for the answer, not only the take */
    int64_t deadline;         /* monotonic ms */
    bool replied;             /* its response is queued */
    struct console_req *prev, *next;
};

/* One event stream (GET /events). */
struct console_stream {
    struct console *c;
    struct MHD_Connection *conn;
    char *buf; /* heap: bytes not yet written, from off to len */
    size_t off, len, cap;
    bool suspended;
    bool closed; /* fell too far behind, or the console stops */
    struct console_stream *prev, *next;
};

struct console {
    const struct console_config *cfg;
    const struct console_link *link;
    struct MHD_Daemon *httpd;
    int wake[2];          /* pipe: a command in the outbox wakes the broker thread */
    uint16_t port;        /* bound */
    char listen_host[64]; /* as given, without brackets */
    bool listen_loopback;
    bool listen_any;
    uint8_t key_hash[32];
    /* topics, heap, fixed once running */
    char *head;       /* everything before the device id */
    char *tail;       /* everything after it (mqtt: the template's rest) */
    char *filters[4];
    size_t filter_count;

    pthread_mutex_t lock;
    bool broker_up;
    bool stopping;
    struct console_device *devices; /* heap array, sorted by id */
    size_t device_count, device_cap;
    struct console_cmd *cmds[CONSOLE_COMMANDS_MAX]; /* ring, oldest at cmd_head */
    size_t cmd_head, cmd_count;
    size_t cmd_bytes; /* bodies and answers of the remembered commands */
    struct console_cmd *out_head, *out_tail; /* the outbox */
    struct console_req *waiting;   /* suspended POSTs */
    struct console_stream *streams;
    size_t stream_count;
    int64_t next_ping;
    bool ticker_started;
    pthread_t ticker;
    unsigned long commands, answers; /* since start, for the log */
};

/* console.c */
int64_t console_now(void);           /* monotonic ms */
int64_t console_wall_ms(void);       /* Unix ms */
void console_logf(const struct console *c, enum console_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void console_wake_broker(struct console *c);

/* console_http.c */
bool console_http_start(struct console *c);
void console_http_stop(struct console *c);
/* Queue `json` (taken: freed here) with the HTTP status; MHD_YES/NO. */
enum MHD_Result console_reply_json(struct MHD_Connection *conn, unsigned http, cJSON *json);
/* OneNET's error JSON for e, with ": detail" after the text when given. */
enum MHD_Result console_reply_error(struct MHD_Connection *conn, enum console_errno e,
                                    const char *detail);

/* console_api.c */
enum console_route {
    CONSOLE_ROUTE_NONE,
    CONSOLE_ROUTE_ASSET,      /* the page: no key needed */
    CONSOLE_ROUTE_EVENTS,     /* GET /events */
    CONSOLE_ROUTE_CMDS,       /* POST /cmds */
    CONSOLE_ROUTE_CMD,        /* GET /cmds/{uuid} */
    CONSOLE_ROUTE_CMD_RESP,   /* GET /cmds/{uuid}/resp */
    CONSOLE_ROUTE_DEVICES,    /* GET /devices */
    CONSOLE_ROUTE_DEVICE,     /* GET /devices/{id} */
    CONSOLE_ROUTE_DATAPOINTS  /* GET /devices/{id}/datapoints */
};
/* Which route url is, and the method it takes ("GET" or "POST"). */
enum console_route console_route(const char *url, const char **method);
/* Answer a request that passed the checks, or suspend it (POST /cmds). */
enum MHD_Result console_api(struct console_req *r, enum console_route route, const char *url);
/* Called again for a POST /cmds resumed (its answer, a refusal, or its deadline). */
enum MHD_Result console_api_resumed(struct console_req *r);

/* console_state.c (lock held) */
struct console_device *console_device_find(struct console *c, const char *id, size_t len);
struct console_device *console_device_get(struct console *c, const char *id, size_t len);
struct console_cmd *console_cmd_find(struct console *c, const char *uuid, size_t len);
/* A new command of `bytes` bytes in the ring, evicting the oldest finished
 * ones while a bound would be passed; NULL when the rest are all busy or
 * memory ran out (*e says which). */
struct console_cmd *console_cmd_add(struct console *c, size_t bytes, enum console_errno *e);
/* An answer of `bytes` came: count it (the next add evicts for it). */
void console_cmd_count_bytes(struct console *c, size_t bytes);
void console_cmds_free(struct console *c);
void console_devices_free(struct console *c);
cJSON *console_device_json(const struct console_device *d);
/* At most `shown` bytes of the command and its answer (events carry
 * CONSOLE_EVENT_TEXT: the page shows no more). */
cJSON *console_cmd_json(const struct console_cmd *cmd, size_t shown);
/* The command's answer or state changed: wake its POST, tell the streams. */
void console_cmd_changed(struct console *c, struct console_cmd *cmd);
void console_device_changed(struct console *c, const struct console_device *d);
/* Expire commands and waits whose time came (the ticker). */
void console_state_tick(struct console *c, int64_t now);
/* Resume a waiting POST (it answers from its command's state). */
void console_req_resume(struct console *c, struct console_req *r);

/* console_events.c (lock held unless said) */
enum MHD_Result console_events_open(struct console_req *r);
void console_events_send(struct console *c, const char *event, cJSON *json);
void console_events_ping(struct console *c);
void console_events_close_all(struct console *c);

/* console_broker.c (broker thread) */
bool console_broker_topics(struct console *c);
bool console_broker_subscribe(struct console *c);
void console_broker_on_message(void *user, const midge_publish *msg);
void console_broker_on_event(struct console *c, const midge_event *ev);
/* Hand every queued command to the client (without the lock held). */
void console_broker_flush(struct console *c);

/* The embedded page (generated from src/console/page/ at build time). */
struct console_asset {
    const char *path;
    const char *type;
    const unsigned char *data;
    size_t len;
};
extern const struct console_asset console_assets[];
extern const size_t console_asset_count;

/* console_text.c */
/* Split "host:port", "[v6]:port" or ":port"; false with why. */
bool console_listen_split(const char *listen, char *host, size_t host_cap, uint16_t *port,
                          char *why, size_t cap);
void console_key_hash(const char *key, size_t len, uint8_t out[32]);
bool console_key_equal(const uint8_t a[32], const uint8_t b[32]);
/* The bytes as a JSON-safe string: valid UTF-8 kept, any other byte and
 * NUL as U+FFFD. Heap; NULL when out of memory. */
char *console_utf8(const void *bytes, size_t len);
/* "YYYY-MM-DD hh:mm:ss" (local time, OneNET's form) into out[20]. */
void console_time_text(int64_t wall_ms, char out[20]);
/* A device id as the API takes it: 1..64 printable ASCII bytes without
 * '/', '+', '#'. */
bool console_id_valid(const char *id, size_t len);

#endif /* MIDGE_CONSOLE_INTERNAL_H */
