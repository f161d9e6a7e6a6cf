/*
 * `midge console` over HTTP against a real mosquitto on loopback: OneNET's
 * command API (each endpoint), the refusals (wrong or missing key, Host,
 * Origin, an oversized body or header, unknown and offline devices, bad
 * parameters), a device that never answers (the timeout JSON), commands
 * to several devices at once, the event stream, clients that go away
 * mid-request, a lost broker, and a stop while clients wait.
 *
 * The group runs one broker, one console and the devices lamp1, lamp2
 * (`midge device`) and mute (a library client that says it is online and
 * never answers). Tests that stop something start their own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <strings.h>

#include "broker.h"
#include "peer.h"
#include "proc.h"
#include "secrets.h"


#define KEY SECRET_CONSOLE_API_KEY
#define WAIT_MS CONSOLE_WAIT_MS
#define MIDGE_ARGV(...) ((char *[]){MIDGE_BINARY, __VA_ARGS__, NULL})

static test_broker broker;
static char broker_port[8];
static proc console, lamp1, lamp2, extra, extra_console;
static uint16_t port;       /* the console's */
static peer *mute;          /* online, never answers */

#include "console_test.h"

static void start_device(proc *p, const char *id)
{
    assert_int_equal(proc_start(p, MIDGE_ARGV("device", "-p", broker_port, "--device-id", (char *)id),
                                NULL), 0);
}

static int group_setup(void **state)
{
    (void)state;
    http_idle = pump;
    if (test_broker_start(&broker, NULL) != 0)
        return -1;
    snprintf(broker_port, sizeof broker_port, "%u", (unsigned)broker.port);
    start_device(&lamp1, "lamp1");
    start_device(&lamp2, "lamp2");
    mute = peer_new(broker.port, "mute", true);
    if (mute == NULL || peer_connect(mute, NULL) != MIDGE_OK ||
        midge_client_publish(&mute->client, "devices/mute/status", "online", 6, 1, true, NULL) !=
            MIDGE_OK ||
        midge_client_flush(&mute->client, 5000) != MIDGE_OK)
        return -1;
    port = console_start(&console, MIDGE_ARGV("console", "-p", broker_port, "--api-key", KEY,
                                              "--listen", "127.0.0.1:0"));
    if (port == 0)
        return -1;
    for (const char *const *id = (const char *const[]){ "lamp1", "lamp2", "mute", NULL }; *id;
         id++) {
        char path[64];
        snprintf(path, sizeof path, "/devices/%s", *id);
        wait_field(path, "online", "true");
    }
    return 0;
}

static int group_teardown(void **state)
{
    proc_stop(&console);
    proc_stop(&lamp1);
    proc_stop(&lamp2);
    peer_teardown(state);
    mute = NULL;
    return test_broker_stop(&broker);
}

static int test_teardown(void **state)
{
    (void)state;
    if (extra.pid > 0 && !extra.exited)
        proc_stop(&extra);
    if (extra_console.pid > 0 && !extra_console.exited)
        proc_stop(&extra_console);
    memset(&extra, 0, sizeof extra);
    memset(&extra_console, 0, sizeof extra_console);
    return 0;
}

/* --- the endpoints ---------------------------------------------------------------- */

static void test_devices_listed_with_presence_and_led(void **state)
{
    (void)state;
    call("GET", "/devices", KEY, NULL);
    cJSON *j = expect(200, 0);
    assert_string_equal(json_str(j, "error"), "succ");
    assert_true(json_int(j, "data.total_count") >= 3);
    cJSON_Delete(j);

    call("GET", "/devices/lamp2", KEY, NULL);
    j = expect(200, 0);
    assert_string_equal(json_str(j, "data.id"), "lamp2");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "online")));
    cJSON_Delete(j);
}

static void test_command_answered_status_and_resp(void **state)
{
    (void)state;
    call("POST", "/cmds?device_id=lamp1&timeout=5", KEY, "on");
    cJSON *j = expect(200, 0);
    assert_int_equal(json_int(j, "data.status"), 4);
    assert_string_equal(json_str(j, "data.desc"), "Command Response Received");
    assert_string_equal(json_str(j, "data.resp"), "on");
    char uuid[64], path[128];
    snprintf(uuid, sizeof uuid, "%s", json_str(j, "data.cmd_uuid"));
    assert_int_equal(strlen(uuid), 36);
    cJSON_Delete(j);

    snprintf(path, sizeof path, "/cmds/%s", uuid);
    call("GET", path, KEY, NULL);
    j = expect(200, 0);
    assert_int_equal(json_int(j, "data.status"), 4);
    cJSON_Delete(j);

    snprintf(path, sizeof path, "/cmds/%s/resp", uuid);
    call("GET", path, KEY, NULL);
    assert_int_equal(reply.status, 200);
    assert_int_equal(reply.body_len, 2);
    assert_memory_equal(reply.body, "on", 2);

    /* The LED as OneNET's datastream, and in the device's record. */
    wait_field("/devices/lamp1", "led", "\"on\"");
    call("GET", "/devices/lamp1/datapoints", KEY, NULL);
    j = expect(200, 0);
    const cJSON *streams = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "datastreams");
    const cJSON *first = cJSON_GetArrayItem(streams, 0);
    assert_string_equal(json_str(first, "id"), "led");
    const cJSON *point = cJSON_GetArrayItem(cJSON_GetObjectItem(first, "datapoints"), 0);
    assert_int_equal(json_int(point, "value"), 1);
    assert_int_equal(strlen(json_str(point, "at")), 19);
    cJSON_Delete(j);
}

static void test_command_without_timeout_answers_once_sent(void **state)
{
    (void)state;
    call("POST", "/cmds?device_id=lamp2", KEY, "toggle");
    cJSON *j = expect(200, 0);
    int status = json_int(j, "data.status");
    assert_true(status == 2 || status == 4);
    char path[128];
    snprintf(path, sizeof path, "/cmds/%s", json_str(j, "data.cmd_uuid"));
    cJSON_Delete(j);
    wait_field(path, "status", "4");
}

static void test_wrong_or_missing_key_is_refused_and_nothing_sent(void **state)
{
    (void)state;
    call("GET", "/devices/lamp1", KEY, NULL);
    cJSON *before = expect(200, 0);
    char led[8];
    snprintf(led, sizeof led, "%s", json_str(before, "data.led"));
    cJSON_Delete(before);

    const char *keys[] = { SECRET_WRONG_API_KEY, "", NULL };
    for (size_t i = 0; i < 3; i++) {
        const char *path = "/cmds?device_id=lamp1&timeout=2";
        if (keys[i] != NULL && keys[i][0] == '\0')
            http_request(port, "POST", path, NULL, "api-key: \r\n", "toggle", 6, &reply,
                         WAIT_MS);
        else
            call("POST", path, keys[i], "toggle");
        cJSON *j = expect(401, 1);
        assert_string_equal(json_str(j, "error"), "auth failed");
        cJSON_Delete(j);
    }
    for (const char *const *p = (const char *const[]){ "/devices", "/events", "/cmds/x",
                                                        NULL };
         *p; p++) {
        call("GET", *p, SECRET_WRONG_API_KEY, NULL);
        cJSON_Delete(expect(401, 1));
    }
    /* No toggle reached the device: its LED is as it was. */
    poll(NULL, 0, 300);
    call("GET", "/devices/lamp1", KEY, NULL);
    cJSON *after = expect(200, 0);
    assert_string_equal(json_str(after, "data.led"), led);
    cJSON_Delete(after);
    assert_null(strstr(lamp1.err, "toggle"));
}

static void test_oversized_body_and_header_refused(void **state)
{
    (void)state;
    size_t big = 65536;
    char *body = malloc(big + 1);
    memset(body, 'x', big);
    body[big] = '\0';
    /* Content-Length above the bound: refused before the body is read. */
    http_request(port, "POST", "/cmds?device_id=lamp1", KEY, NULL, body, big, &reply, WAIT_MS);
    cJSON *j = expect(413, 12);
    cJSON_Delete(j);

    /* The same without a length, chunked: counted as it comes. */
    char head[512];
    int fd = http_connect(port);
    assert_true(fd >= 0);
    int n = snprintf(head, sizeof head, "POST /cmds?device_id=lamp1 HTTP/1.1\r\nHost: "
                     "127.0.0.1:%u\r\napi-key: %s\r\nTransfer-Encoding: chunked\r\nConnection: "
                     "close\r\n\r\n", (unsigned)port, KEY);
    http_send_all(fd, head, (size_t)n);
    for (int i = 0; i < 3; i++) {
        n = snprintf(head, sizeof head, "%x\r\n", 30000);
        http_send_all(fd, head, (size_t)n);
        http_send_all(fd, body, 30000);
        http_send_all(fd, "\r\n", 2);
    }
    http_send_all(fd, "0\r\n\r\n", 5);
    http_read(fd, &reply, WAIT_MS);
    close(fd);
    cJSON_Delete(expect(413, 12));

    /* 65535 bytes is a command: sent (to mute: a device's own packet
     * limit, 65536 bytes by default, is smaller than such a PUBLISH). */
    http_request(port, "POST", "/cmds?device_id=mute", KEY, NULL, body, 65535, &reply, WAIT_MS);
    j = expect(200, 0);
    assert_int_equal(json_int(j, "data.status"), 2);
    cJSON_Delete(j);
    /* A long command to a device: its answer names it unknown. */
    http_request(port, "POST", "/cmds?device_id=lamp1&timeout=5", KEY, NULL, body, 4000,
                 &reply, WAIT_MS);
    j = expect(200, 0);
    assert_int_equal(json_int(j, "data.status"), 4);
    assert_non_null(strstr(json_str(j, "data.resp"), "error"));
    cJSON_Delete(j);

    /* A header larger than the connection's memory: refused by the server. */
    char *extra_hdr = malloc(40000);
    memcpy(extra_hdr, "X-Big: ", 7);
    memset(extra_hdr + 7, 'y', 40000 - 10);
    memcpy(extra_hdr + 40000 - 3, "\r\n", 3);
    http_request(port, "GET", "/devices", KEY, extra_hdr, NULL, 0, &reply, WAIT_MS);
    assert_true(reply.status == 431 || reply.status == 413 || reply.status == 400);
    free(extra_hdr);
    free(body);
    /* And the console goes on. */
    call("GET", "/devices", KEY, NULL);
    cJSON_Delete(expect(200, 0));
}

/* The commands remembered are bounded in bytes too: 300 commands of 60 KB
 * (18 MB) push the first ones out, the last ones stay. */
static void test_remembered_commands_bounded_in_bytes(void **state)
{
    (void)state;
    enum { N = 300, SIZE = 60000 };
    char *body = malloc(SIZE);
    char first[40] = "", last[40] = "", path[96];
    memset(body, 'z', SIZE);
    for (int i = 0; i < N; i++) {
        http_request(port, "POST", "/cmds?device_id=mute", KEY, NULL, body, SIZE, &reply,
                     WAIT_MS);
        cJSON *j = expect(200, 0);
        snprintf(i == 0 ? first : last, sizeof first, "%s", json_str(j, "data.cmd_uuid"));
        cJSON_Delete(j);
    }
    free(body);
    snprintf(path, sizeof path, "/cmds/%s", first);
    call("GET", path, KEY, NULL);
    cJSON_Delete(expect(404, 4));
    snprintf(path, sizeof path, "/cmds/%s", last);
    call("GET", path, KEY, NULL);
    cJSON_Delete(expect(200, 0));
}

static void test_unknown_device_and_bad_parameters(void **state)
{
    (void)state;
    call("POST", "/cmds?device_id=ghost&timeout=1", KEY, "on");
    cJSON *j = expect(404, 3);
    assert_string_equal(json_str(j, "error"), "device not exist: ghost");
    cJSON_Delete(j);
    call("GET", "/devices/ghost", KEY, NULL);
    cJSON_Delete(expect(404, 3));
    call("GET", "/devices/ghost/datapoints", KEY, NULL);
    cJSON_Delete(expect(404, 3));
    call("GET", "/cmds/00000000-0000-4000-8000-000000000000", KEY, NULL);
    cJSON_Delete(expect(404, 4));

    const char *bad[] = { "/cmds", "/cmds?device_id=a%2Fb", "/cmds?device_id=lamp1&qos=2",
                          "/cmds?device_id=lamp1&timeout=2678401", "/cmds?device_id=lamp1&timeout=-1",
                          "/cmds?device_id=%2B" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        call("POST", bad[i], KEY, "on");
        cJSON_Delete(expect(400, 2));
    }
    call("GET", "/cmds", KEY, NULL);
    cJSON_Delete(expect(405, 17));
    call("GET", "/nothing", KEY, NULL);
    cJSON_Delete(expect(404, 16));
}

static void test_unanswering_device_gives_timeout_json(void **state)
{
    (void)state;
    long long t0 = proc_now_ms();
    call("POST", "/cmds?device_id=mute&timeout=1", KEY, "on");
    long long took = proc_now_ms() - t0;
    cJSON *j = expect(200, 0);
    assert_int_equal(json_int(j, "data.status"), 5);
    assert_string_equal(json_str(j, "data.desc"), "Command Timeout");
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "resp"));
    /* It waited its timeout (generous margins: a loaded machine). */
    assert_true(took >= 900 && took < 8000);
    char path[128];
    snprintf(path, sizeof path, "/cmds/%s/resp", json_str(j, "data.cmd_uuid"));
    cJSON_Delete(j);
    call("GET", path, KEY, NULL);
    j = expect(404, 14);
    assert_string_equal(json_str(j, "error"), "no response yet");
    cJSON_Delete(j);
}

static void test_offline_device_refused_or_kept(void **state)
{
    (void)state;
    start_device(&extra, "lamp3");
    wait_field("/devices/lamp3", "online", "true");
    proc_stop(&extra);
    wait_field("/devices/lamp3", "online", "false");

    call("POST", "/cmds?device_id=lamp3", KEY, "on");
    cJSON *j = expect(200, 10);
    assert_string_equal(json_str(j, "error"), "device not online: lamp3");
    cJSON_Delete(j);

    /* With a timeout the broker keeps it; unanswered by then, it times out. */
    call("POST", "/cmds?device_id=lamp3&timeout=1&qos=1", KEY, "on");
    j = expect(200, 0);
    assert_int_equal(json_int(j, "data.status"), 5);
    cJSON_Delete(j);
}

/* A command kept for an offline device is carried out when it returns. */
static void test_offline_command_kept_and_answered_on_return(void **state)
{
    (void)state;
    start_device(&extra, "lamp4");
    wait_field("/devices/lamp4", "online", "true");
    proc_stop(&extra);
    wait_field("/devices/lamp4", "online", "false");

    /* Status 1 while it is away, on the event stream. */
    static char buf[262144];
    size_t got = 0;
    size_t n;
    char *events = http_format(port, "GET", "/events", KEY, NULL, NULL, 0, &n);
    int stream = http_connect(port);
    assert_true(http_send_all(stream, events, n));
    free(events);
    buf[0] = '\0';

    /* timeout 30: the command waits on the broker; the device comes back
     * (same id, persistent session) and answers while the POST waits. */
    int fd = http_connect(port);
    size_t len;
    char *req = http_format(port, "POST", "/cmds?device_id=lamp4&timeout=30", KEY, NULL, "on", 2,
                            &len);
    assert_true(http_send_all(fd, req, len));
    free(req);
    assert_true(stream_until(stream, buf, sizeof buf, &got,
                             "\"device_id\":\"lamp4\",\"cmd\":\"on\",\"status\":1", WAIT_MS));
    memset(&extra, 0, sizeof extra);
    start_device(&extra, "lamp4");
    http_read(fd, &reply, 20000);
    close(fd);
    close(stream);
    cJSON *j = expect(200, 0);
    assert_int_equal(json_int(j, "data.status"), 4);
    assert_string_equal(json_str(j, "data.resp"), "on");
    cJSON_Delete(j);
}

static void test_concurrent_commands_to_several_devices(void **state)
{
    (void)state;
    enum { N = 30 };
    static http_reply replies[N];
    static const char *devices[] = { "lamp1", "lamp2", "mute" };
    int fds[N];

    for (int i = 0; i < N; i++) {
        char path[96];
        const char *dev = devices[i % 3];
        /* mute never answers: its commands time out while the others' answer. */
        snprintf(path, sizeof path, "/cmds?device_id=%s&timeout=%d", dev, i % 3 == 2 ? 2 : 10);
        size_t len;
        char *req = http_format(port, "POST", path, KEY, NULL, "on", 2, &len);
        fds[i] = http_connect(port);
        assert_true(fds[i] >= 0);
        assert_true(http_send_all(fds[i], req, len));
        free(req);
    }
    for (int i = 0; i < N; i++) {
        http_read(fds[i], &replies[i], WAIT_MS + 5000);
        close(fds[i]);
    }
    char seen[N][40];
    for (int i = 0; i < N; i++) {
        cur = &replies[i];
        cJSON *j = expect(200, 0);
        cur = &reply;
        int want = i % 3 == 2 ? 5 : 4;
        assert_int_equal(json_int(j, "data.status"), want);
        if (want == 4)
            assert_string_equal(json_str(j, "data.resp"), "on");
        snprintf(seen[i], sizeof seen[i], "%s", json_str(j, "data.cmd_uuid"));
        for (int k = 0; k < i; k++)
            assert_string_not_equal(seen[k], seen[i]);
        cJSON_Delete(j);
    }
}

static void test_event_stream_shows_devices_and_commands(void **state)
{
    (void)state;
    static char buf[262144];
    size_t len = 0;
    size_t n;
    char *req = http_format(port, "GET", "/events", KEY, NULL, NULL, 0, &n);
    int fd = http_connect(port);
    assert_true(http_send_all(fd, req, n));
    free(req);
    buf[0] = '\0';
    assert_true(stream_until(fd, buf, sizeof buf, &len, "text/event-stream", WAIT_MS));
    assert_true(stream_until(fd, buf, sizeof buf, &len, "event: hello", WAIT_MS));
    assert_true(stream_until(fd, buf, sizeof buf, &len, "\"id\":\"lamp2\"", WAIT_MS));

    call("POST", "/cmds?device_id=lamp2&timeout=5", KEY, "status");
    cJSON *j = expect(200, 0);
    char needle[128];
    snprintf(needle, sizeof needle, "\"cmd_uuid\":\"%s\"", json_str(j, "data.cmd_uuid"));
    cJSON_Delete(j);
    assert_true(stream_until(fd, buf, sizeof buf, &len, needle, WAIT_MS));
    assert_true(stream_until(fd, buf, sizeof buf, &len, "\"status\":4", WAIT_MS));
    close(fd);
    /* The key never travels back. */
    assert_null(strstr(buf, KEY));
}

static void test_host_and_origin_checked(void **state)
{
    (void)state;
    char extra_hdr[128];
    snprintf(extra_hdr, sizeof extra_hdr, "evil.example:%u", (unsigned)port);
    get_with_host(port, extra_hdr, "/devices");
    cJSON *j = expect(403, 15);
    assert_string_equal(json_str(j, "error"), "forbidden: Host not allowed");
    cJSON_Delete(j);

    snprintf(extra_hdr, sizeof extra_hdr, "Origin: http://evil.example\r\n");
    http_request(port, "POST", "/cmds?device_id=lamp1", KEY, extra_hdr, "on", 2, &reply, WAIT_MS);
    cJSON_Delete(expect(403, 15));

    snprintf(extra_hdr, sizeof extra_hdr, "Origin: http://127.0.0.1:%u\r\n", (unsigned)port);
    http_request(port, "POST", "/cmds?device_id=lamp1&timeout=5", KEY, extra_hdr, "on", 2,
                 &reply, WAIT_MS);
    cJSON_Delete(expect(200, 0));
}

static void test_page_served_without_key_and_without_secrets(void **state)
{
    (void)state;
    char value[512];
    call("GET", "/", NULL, NULL);
    assert_int_equal(reply.status, 200);
    assert_non_null(strstr(reply.body, "midge console"));
    assert_non_null(http_header(&reply, "Content-Security-Policy", value, sizeof value));
    assert_non_null(strstr(value, "default-src 'self'"));
    assert_null(strstr(reply.body, KEY));
    call("GET", "/console.js", NULL, NULL);
    assert_int_equal(reply.status, 200);
    assert_non_null(strstr(http_header(&reply, "Content-Type", value, sizeof value),
                           "javascript"));
    assert_null(strstr(console.err, KEY));
}

/* Clients that go away: a POST waiting for its answer, an event stream,
 * a request cut in half. The console frees what they held. */
static void test_interrupted_clients_are_forgotten(void **state)
{
    (void)state;
    /* Settle: connections of earlier tests close. */
    poll(NULL, 0, 300);
    pump();
    int before = console_fds(&console);
    assert_true(before > 0);

    size_t post_len, events_len;
    char *post = http_format(port, "POST", "/cmds?device_id=mute&timeout=3", KEY, NULL, "on", 2,
                             &post_len);
    char *events = http_format(port, "GET", "/events", KEY, NULL, NULL, 0, &events_len);
    for (int round = 0; round < 5; round++) {
        int a = http_connect(port), b = http_connect(port), c = http_connect(port);
        assert_true(http_send_all(a, post, post_len));
        assert_true(http_send_all(b, events, events_len));
        assert_true(http_send_all(c, "POST /cmds?device_id=lamp1 HTTP/1.1\r\nHost: 12", 44));
        poll(NULL, 0, 100);
        pump();
        close(a);
        close(b);
        close(c);
    }
    free(post);
    free(events);
    /* An event makes the console write to the streams (and find them
     * gone); the POSTs end at their deadline. */
    call("POST", "/cmds?device_id=lamp1&timeout=5", KEY, "toggle");
    cJSON_Delete(expect(200, 0));
    long long end = proc_now_ms() + 15000;
    int now = console_fds(&console);
    while (now > before && proc_now_ms() < end) {
        call("POST", "/cmds?device_id=lamp2&timeout=5", KEY, "status");
        poll(NULL, 0, 200);
        pump();
        now = console_fds(&console);
    }
    assert_true(now <= before);
    call("GET", "/devices", KEY, NULL);
    cJSON_Delete(expect(200, 0));
}

/* A second console, on the broker at on_port, listening where. */
static uint16_t start_extra_console(char *on_port, char *where)
{
    uint16_t p = console_start(&extra_console, MIDGE_ARGV("console", "-p", on_port, "--api-key",
                                                          KEY, "--listen", where));
    assert_int_not_equal(p, 0);
    return p;
}

/* SIGTERM while a POST waits and a stream is open: a clean exit 0. */
static void test_stop_while_clients_wait(void **state)
{
    (void)state;
    uint16_t p = start_extra_console(broker_port, "127.0.0.1:0");
    size_t post_len, events_len;
    char *post = http_format(p, "POST", "/cmds?device_id=mute&timeout=20", KEY, NULL, "on", 2,
                             &post_len);
    char *events = http_format(p, "GET", "/events", KEY, NULL, NULL, 0, &events_len);
    /* Wait for the console to know mute (retained presence). */
    long long end = proc_now_ms() + WAIT_MS;
    for (;;) {
        http_request(p, "GET", "/devices/mute", KEY, NULL, NULL, 0, &reply, WAIT_MS);
        if (reply.status == 200 || proc_now_ms() > end)
            break;
        poll(NULL, 0, 50);
    }
    int a = http_connect(p), b = http_connect(p);
    assert_true(http_send_all(a, post, post_len));
    assert_true(http_send_all(b, events, events_len));
    free(post);
    free(events);
    poll(NULL, 0, 300);
    proc_pump(&extra_console, 10);
    kill(extra_console.pid, SIGTERM);
    proc_wait(&extra_console, 8000);
    close(a);
    close(b);
    if (proc_exit_code(&extra_console) != 0)
        proc_dump(&extra_console, "console");
    assert_false(extra_console.timed_out);
    assert_int_equal(proc_exit_code(&extra_console), 0);
}

/* Listening on every address: a warning in the log, and then any IP
 * address is a Host it answers to, but no name. */
static void test_listen_beyond_loopback_warns(void **state)
{
    (void)state;
    uint16_t p = start_extra_console(broker_port, "0.0.0.0:0");
    proc_pump(&extra_console, 200);
    assert_non_null(strstr(extra_console.err, "listening beyond loopback without TLS"));
    http_request(p, "GET", "/devices", KEY, NULL, NULL, 0, &reply, WAIT_MS);
    cJSON_Delete(expect(200, 0));
    char host[64];
    snprintf(host, sizeof host, "evil.example:%u", (unsigned)p);
    get_with_host(p, host, "/devices");
    cJSON_Delete(expect(403, 15));
    snprintf(host, sizeof host, "192.0.2.7:%u", (unsigned)p);
    get_with_host(p, host, "/devices");
    cJSON_Delete(expect(200, 0));
    /* The loopback console has no such line. */
    assert_null(strstr(console.err, "beyond loopback"));
}

/* The broker goes away: the API says so (errno 7) and sends nothing;
 * once it is back, commands flow again. */
static void test_lost_broker_reported_then_recovered(void **state)
{
    (void)state;
    test_broker own;
    char own_port[8];
    assert_int_equal(test_broker_start(&own, NULL), 0);
    snprintf(own_port, sizeof own_port, "%u", (unsigned)own.port);
    assert_int_equal(proc_start(&extra, MIDGE_ARGV("device", "-p", own_port, "--device-id",
                                                   "lamp9", "--backoff-max", "500"), NULL), 0);
    uint16_t p = start_extra_console(own_port, "127.0.0.1:0");
    long long end = proc_now_ms() + WAIT_MS;
    do {
        http_request(p, "POST", "/cmds?device_id=lamp9&timeout=5", KEY, NULL, "on", 2, &reply,
                     WAIT_MS);
        poll(NULL, 0, 50);
    } while (reply.status != 200 && proc_now_ms() < end);
    cJSON_Delete(expect(200, 0));

    assert_int_equal(test_broker_kill(&own), 0);
    end = proc_now_ms() + WAIT_MS;
    do {
        http_request(p, "POST", "/cmds?device_id=lamp9&timeout=5", KEY, NULL, "off", 3, &reply,
                     WAIT_MS);
        poll(NULL, 0, 50);
    } while (reply.status != 503 && proc_now_ms() < end);
    cJSON *j = expect(503, 7);
    cJSON_Delete(j);

    assert_int_equal(test_broker_restart(&own), 0);
    end = proc_now_ms() + 20000;
    do {
        http_request(p, "POST", "/cmds?device_id=lamp9&timeout=5", KEY, NULL, "status", 6,
                     &reply, WAIT_MS);
        poll(NULL, 0, 100);
    } while (reply.status != 200 && proc_now_ms() < end);
    j = expect(200, 0);
    assert_int_equal(json_int(j, "data.status"), 4);
    cJSON_Delete(j);
    proc_stop(&extra_console);
    proc_stop(&extra);
    test_broker_stop(&own);
}

static void test_flags_refused_in_one_line(void **state)
{
    (void)state;
    static const char *cases[][8] = {
        { "console", "-p", "1", NULL },
        { "console", "--api-key", "k", "--listen", "nonsense", NULL },
        { "console", "--api-key", "k", "--listen", "127.0.0.1:70000", NULL },
        { "console", "--api-key", "k", "--profile", "onenet-studio", NULL },
        { "console", "--api-key", "k", "--device-id", "x", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[10] = { MIDGE_BINARY };
        for (size_t k = 0; cases[i][k]; k++)
            argv[k + 1] = (char *)cases[i][k];
        proc_run(&extra, argv, NULL, WAIT_MS);
        if (proc_exit_code(&extra) != 1 || count_lines(extra.err) != 1)
            proc_dump(&extra, cases[i][1]);
        assert_int_equal(proc_exit_code(&extra), 1);
        assert_int_equal(count_lines(extra.err), 1);
        memset(&extra, 0, sizeof extra);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_devices_listed_with_presence_and_led, test_teardown),
        cmocka_unit_test_teardown(test_command_answered_status_and_resp, test_teardown),
        cmocka_unit_test_teardown(test_command_without_timeout_answers_once_sent, test_teardown),
        cmocka_unit_test_teardown(test_wrong_or_missing_key_is_refused_and_nothing_sent,
                                  test_teardown),
        cmocka_unit_test_teardown(test_oversized_body_and_header_refused, test_teardown),
        cmocka_unit_test_teardown(test_remembered_commands_bounded_in_bytes, test_teardown),
        cmocka_unit_test_teardown(test_unknown_device_and_bad_parameters, test_teardown),
        cmocka_unit_test_teardown(test_unanswering_device_gives_timeout_json, test_teardown),
        cmocka_unit_test_teardown(test_offline_device_refused_or_kept, test_teardown),
        cmocka_unit_test_teardown(test_offline_command_kept_and_answered_on_return,
                                  test_teardown),
        cmocka_unit_test_teardown(test_concurrent_commands_to_several_devices, test_teardown),
        cmocka_unit_test_teardown(test_event_stream_shows_devices_and_commands, test_teardown),
        cmocka_unit_test_teardown(test_host_and_origin_checked, test_teardown),
        cmocka_unit_test_teardown(test_page_served_without_key_and_without_secrets,
                                  test_teardown),
        cmocka_unit_test_teardown(test_interrupted_clients_are_forgotten, test_teardown),
        cmocka_unit_test_teardown(test_stop_while_clients_wait, test_teardown),
        cmocka_unit_test_teardown(test_listen_beyond_loopback_warns, test_teardown),
        cmocka_unit_test_teardown(test_lost_broker_reported_then_recovered, test_teardown),
        cmocka_unit_test_teardown(test_flags_refused_in_one_line, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
