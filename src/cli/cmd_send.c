/*
 * midge send: one command to a device, and its answer.
 *
 * The command goes out at QoS 1 under a fresh UUID v4 command id, on the
 * topics of the device's profile (include/midge/device.h):
 *
 *   mqtt           {prefix}/cmd/request/{id}, answer on {prefix}/cmd/response/{id}
 *                  (prefix: --prefix, default devices/{device-id})
 *   onenet         through the platform plugin (plugins/mosquitto-onenet/),
 *                  as one of its operators (user = --product-id, -P = the
 *                  product's master key): $onenet/{product-id}/{device-id}/cmd/{id}/1/0
 *                  (OneNET's qos=1, timeout=0), answer on .../rsp/{id}, the
 *                  platform's refusal on .../status/{id};
 *                  with --direct: $creq/{id}, answer on $crsp/{id}
 *   onenet-studio  $sys/{product-id}/{device-id}/cmd/request/{id}, answer on
 *                  .../cmd/response/{id}
 *
 * The OneNET profiles talk to a broker standing in for OneNET (the plugin,
 * a lab, the tests' fakes): OneNET itself takes commands over its HTTP
 * API, so -h is required.
 *
 * The answer's topic is subscribed before the command is published, so an
 * answer cannot overtake the subscription.
 *
 * Exit status: 0 with the answer on stdout; 1 when the answer starts with
 * "error" (printed on stdout all the same) or on any failure; 27 when no
 * answer came within -W seconds (default 5): a device with a persistent
 * session still gets the command when it is back online.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include "cli.h"
#include "midge/device.h"
#include "uuid.h"

#define SEND_TIMEOUT_DEFAULT_S 5ul

/* Longest answer kept; the device's are a few dozen bytes. */
#define SEND_ANSWER_MAX 4096u

/* Room around the payload in a PUBLISH or SUBSCRIBE, with a margin. */
#define SEND_HEADER_ROOM 16u

/* Longest wait for the command's PUBACK after a failure, within -W. */
#define SEND_FLUSH_MS 1000u

/* The platform's errno for a command to an offline device (onenet.md section 3). */
#define SEND_ERRNO_NOT_ONLINE 10

struct send_state {
    char *request;  /* heap: the command's topic */
    char *response; /* heap: the answer's topic */
    char *status;   /* heap: the platform's word on the command; NULL without the plugin */
    char *filter;   /* heap: what is subscribed (the answer's topic, or both) */
    char answer[SEND_ANSWER_MAX];
    size_t answer_len;
    bool answered;
    long refused;        /* the platform's errno; 0 while it has refused nothing */
    char refusal[256];   /* its "error" text */
};

/* a + b + c in one heap string; NULL when out of memory. */
static char *send_join3(const char *a, const char *b, const char *c)
{
    size_t len = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(len);
    if (s != NULL)
        snprintf(s, len, "%s%s%s", a, b, c);
    return s;
}

/* The topic base both topics share; NULL when out of memory. */
static char *send_base(const struct cli_options *o, midge_device_profile profile)
{
    if (profile == MIDGE_DEVICE_PROFILE_ONENET_STUDIO) {
        char *pid = send_join3("$sys/", o->product_id, "/");
        char *base = pid ? send_join3(pid, o->device_id, "") : NULL;
        free(pid);
        return base;
    }
    if (o->prefix != NULL)
        return send_join3(o->prefix, "", "");
    return send_join3("devices/", o->device_id, "");
}

/* The operator's topics in the platform's tree (plugins/mosquitto-onenet/README.md). */
static bool send_platform_topics(const struct cli_options *o, const char *id,
                                 struct send_state *s)
{
    char *base = send_join3("$onenet/", o->product_id, "/");
    char *dev = base ? send_join3(base, o->device_id, "/") : NULL;
    char *cmd = dev ? send_join3(dev, "cmd/", id) : NULL;
    if (cmd != NULL) {
        s->request = send_join3(cmd, "/1/0", "");
        s->response = send_join3(dev, "rsp/", id);
        s->status = send_join3(dev, "status/", id);
        s->filter = send_join3(dev, "+/", id);
    }
    free(base);
    free(dev);
    free(cmd);
    return s->status != NULL && s->filter != NULL;
}

static bool send_topics(const struct cli_options *o, midge_device_profile profile,
                        const char *id, struct send_state *s)
{
    bool ok;
    if (profile == MIDGE_DEVICE_PROFILE_ONENET && !o->direct) {
        ok = send_platform_topics(o, id, s);
    } else if (profile == MIDGE_DEVICE_PROFILE_ONENET) {
        s->request = send_join3("$creq/", id, "");
        s->response = send_join3("$crsp/", id, "");
        ok = true;
    } else {
        char *base = send_base(o, profile);
        s->request = base ? send_join3(base, "/cmd/request/", id) : NULL;
        s->response = base ? send_join3(base, "/cmd/response/", id) : NULL;
        free(base);
        ok = true;
    }
    if (!ok || s->request == NULL || s->response == NULL) {
        cli_error(o->prog, "out of memory");
        return false;
    }
    /* A '+' or '#' in a device id or prefix would subscribe to other
     * devices' answers: refuse it rather than print a stranger's. */
    if (!midge_topic_name_valid(s->request, strlen(s->request)) ||
        !midge_topic_name_valid(s->response, strlen(s->response))) {
        cli_error(o->prog, "invalid topic '%s' (no '+', '#' or empty prefix allowed)",
                  s->request);
        return false;
    }
    if (s->filter == NULL && (s->filter = send_join3(s->response, "", "")) == NULL) {
        cli_error(o->prog, "out of memory");
        return false;
    }
    return true;
}

/* Options send needs beyond what the shared parser checks. */
static bool send_check(const struct cli_options *o, midge_device_profile *profile)
{
    if (o->operand == NULL || o->operand[0] == '\0') {
        cli_error(o->prog, "a command is required (on, off, toggle or status)");
        return false;
    }
    if (o->device_id == NULL || o->device_id[0] == '\0') {
        cli_error(o->prog, "--device-id is required");
        return false;
    }
    /* The parser accepted the name already. */
    midge_device_profile_parse(o->profile ? o->profile : "mqtt", profile);
    if (*profile == MIDGE_DEVICE_PROFILE_ONENET_STUDIO &&
        (o->product_id == NULL || o->product_id[0] == '\0')) {
        cli_error(o->prog, "--profile onenet-studio needs --product-id");
        return false;
    }
    if (*profile == MIDGE_DEVICE_PROFILE_ONENET && !o->direct &&
        (o->product_id == NULL || o->product_id[0] == '\0')) {
        cli_error(o->prog, "--profile onenet needs --product-id and -P (the product's master "
                           "key), or --direct for a plain broker");
        return false;
    }
    if (o->direct && *profile != MIDGE_DEVICE_PROFILE_ONENET) {
        cli_error(o->prog, "--direct applies to --profile onenet only");
        return false;
    }
    /* OneNET itself takes commands over its HTTP API, not from an MQTT
     * client: for the OneNET profiles send talks to a broker standing in
     * for it, which must be named rather than defaulted to OneNET's. */
    if (*profile != MIDGE_DEVICE_PROFILE_MQTT && !o->host_set) {
        cli_error(o->prog, "--profile %s needs -h: the broker standing in for OneNET",
                  o->profile);
        return false;
    }
    if (o->prefix != NULL && *profile != MIDGE_DEVICE_PROFILE_MQTT) {
        cli_error(o->prog, "--prefix applies to the mqtt profile only");
        return false;
    }
    return true;
}

static bool send_topic_is(const midge_publish *msg, const char *topic)
{
    return topic != NULL && msg->topic_len == strlen(topic) &&
           memcmp(msg->topic, topic, msg->topic_len) == 0;
}

/* The platform's status message: {"errno":N,"error":"..."[,"data":...]}.
 * Only a refusal (errno other than 0) matters here. */
static void send_on_status(struct send_state *s, const midge_publish *msg)
{
    jsmn_parser parser;
    jsmntok_t tok[32];
    const char *js = (const char *)msg->payload;

    jsmn_init(&parser);
    int n = jsmn_parse(&parser, js, msg->payload_len, tok, 32);
    if (n < 1 || tok[0].type != JSMN_OBJECT)
        return;
    long code = 0;
    const char *error = NULL;
    int error_len = 0;
    /* Top-level keys only: each key is followed by its value, and a
     * nested value ("data") is skipped by its end offset. */
    for (int i = 1; i + 1 < n;) {
        const jsmntok_t *k = &tok[i], *v = &tok[i + 1];
        int klen = k->end - k->start;
        if (klen == 5 && memcmp(js + k->start, "errno", 5) == 0 && v->type == JSMN_PRIMITIVE)
            code = strtol(js + v->start, NULL, 10);
        else if (klen == 5 && memcmp(js + k->start, "error", 5) == 0 && v->type == JSMN_STRING) {
            error = js + v->start;
            error_len = v->end - v->start;
        }
        int next = i + 2;
        while (next < n && tok[next].start < v->end)
            next++;
        i = next;
    }
    if (code == 0)
        return;
    s->refused = code;
    snprintf(s->refusal, sizeof s->refusal, "%.*s", error != NULL ? error_len : 0,
             error != NULL ? error : "");
}

/* The answer's topic, and the platform's status topic; nothing else. */
static void send_on_message(void *user, const midge_publish *msg)
{
    struct send_state *s = user;

    if (send_topic_is(msg, s->status)) {
        send_on_status(s, msg);
        return;
    }
    if (s->answered || !send_topic_is(msg, s->response))
        return;
    s->answer_len = msg->payload_len < SEND_ANSWER_MAX ? msg->payload_len : SEND_ANSWER_MAX;
    if (s->answer_len > 0)
        memcpy(s->answer, msg->payload, s->answer_len);
    s->answered = true;
}

/* The answer on one line: line breaks inside it become spaces. */
static void send_print_answer(const struct send_state *s)
{
    for (size_t i = 0; i < s->answer_len; i++) {
        char c = s->answer[i];
        fputc(c == '\n' || c == '\r' ? ' ' : c, stdout);
    }
    fputc('\n', stdout);
    fflush(stdout);
}

/* Serve the connection until the answer, -W or a signal. */
static int send_wait(struct cli_conn *k, struct send_state *s)
{
    const struct cli_options *o = k->opts;

    while (!s->answered) {
        if (s->refused == SEND_ERRNO_NOT_ONLINE) {
            cli_error(o->prog, "%s is not online (the platform took no command)", o->device_id);
            return CLI_EXIT_TIMEOUT;
        }
        if (s->refused != 0) {
            cli_error(o->prog, "the platform refused the command: %s (errno %ld)", s->refusal,
                      s->refused);
            return CLI_EXIT_ERROR;
        }
        if (cli_stop_requested()) {
            cli_error(o->prog, "interrupted before an answer came");
            return CLI_EXIT_ERROR;
        }
        uint32_t left = cli_conn_left(k);
        if (left == 0) {
            cli_error(o->prog, "no answer from %s within %lu s (offline?)", o->device_id,
                      o->timeout_s);
            return CLI_EXIT_TIMEOUT;
        }
        midge_status st = cli_conn_serve(k, -1, left, NULL);
        if (st != MIDGE_OK) {
            cli_conn_report_lost(k, st);
            return CLI_EXIT_ERROR;
        }
    }
    send_print_answer(s);
    /* The device's error replies start with "error": scripts see it. */
    bool error = s->answer_len >= 5 && memcmp(s->answer, "error", 5) == 0;
    return error ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

/* Subscribe to the answer, then publish the command. -1 when both went
 * out, else the exit status: 27 when -W ran out first (each call gets only
 * what is left of it), 1 on any other failure. The answer may come inside
 * either call (with the PUBACK of the command): send_wait sees it then. */
static int send_request(struct cli_conn *k, const struct send_state *s)
{
    const struct cli_options *o = k->opts;

    cli_conn_bound_calls(k);
    midge_status st = midge_client_subscribe(&k->client, s->filter, 1);
    if (st == MIDGE_OK) {
        cli_conn_bound_calls(k);
        st = midge_client_publish(&k->client, s->request, o->operand, strlen(o->operand), 1,
                                  false, NULL);
    }
    if (st == MIDGE_OK)
        return -1;
    if (st == MIDGE_TIMEOUT && cli_conn_expired(k)) {
        cli_error(o->prog, "the broker did not take the command within %lu s", o->timeout_s);
        return CLI_EXIT_TIMEOUT;
    }
    cli_error(o->prog, "sending the command failed: %s", midge_strerror(st));
    return CLI_EXIT_ERROR;
}

/* Unless -i was given, a client id no other run shares: two sends at once
 * from one shell would otherwise take each other's connection. */
static void send_client_id(struct cli_options *o)
{
    uint32_t r = 0;

    if (o->client_id != o->default_id)
        return;
    if (!cli_random(&r, sizeof r))
        r = (uint32_t)midge_clock_ms();
    snprintf(o->default_id, sizeof o->default_id, "midge-send-%ld-%08x", (long)getpid(),
             (unsigned)r);
}

int cli_send_run(const struct cli_command *cmd, int argc, char **argv)
{
    struct cli_options o;
    struct cli_conn k;
    midge_device_profile profile = MIDGE_DEVICE_PROFILE_MQTT;
    char id[CLI_UUID_LEN + 1];
    int rc = CLI_EXIT_ERROR;

    enum cli_parse_result pr = cli_parse(cmd, argc, argv, &o);
    if (pr != CLI_PARSE_RUN)
        return pr == CLI_PARSE_EXIT_OK ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    if (!send_check(&o, &profile))
        return CLI_EXIT_ERROR;
    if (!cli_uuid_new(id)) {
        cli_error(o.prog, "no random bytes for a command id");
        return CLI_EXIT_ERROR;
    }
    send_client_id(&o);

    /* Heap: the answer buffer makes it too big for a comfortable stack. */
    struct send_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        cli_error(o.prog, "out of memory");
        return CLI_EXIT_ERROR;
    }
    if (!send_topics(&o, profile, id, s))
        goto done;

    size_t packet = strlen(s->request) + strlen(o.operand) + SEND_HEADER_ROOM;
    struct cli_conn_sizes sizes = {
        .tx = packet > 4096 ? packet : 4096,
        .rx = 65536,
        .store = 2 * (packet + MIDGE_STORE_RECORD_OVERHEAD),
    };
    /* -W bounds the whole exchange, the client's calls included. */
    if (o.timeout_s == 0)
        o.timeout_s = SEND_TIMEOUT_DEFAULT_S;
    cli_signals_install();
    /* One -W for the whole exchange, the connection included; the
     * callback is in place before the CONNACK can bring anything. */
    rc = cli_conn_open(&k, &o, &sizes, send_on_message, s);
    if (rc != CLI_EXIT_OK)
        goto done;
    rc = send_request(&k, s);
    if (rc < 0)
        rc = send_wait(&k, s);
    /* An answer proves the device had the command: nothing to wait for.
     * Without one, the command's PUBACK gets what is left of -W (the
     * DISCONNECT that follows still sends whatever tx holds). */
    uint32_t left = cli_conn_left(&k);
    if (!s->answered && left != 0 && midge_client_is_connected(&k.client))
        midge_client_flush(&k.client, left < SEND_FLUSH_MS ? left : SEND_FLUSH_MS);
    cli_conn_close(&k);
done:
    free(s->request);
    free(s->response);
    free(s->status);
    free(s->filter);
    free(s);
    return rc;
}
