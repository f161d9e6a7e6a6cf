/*
 * `midge console --profile onenet` against a real mosquitto running the
 * OneNET platform plugin: the console logs in as an operator of the
 * product (its master key, -P), and that key is the API key. Devices are
 * `midge device --profile onenet` (the tutorial's identities) and a raw
 * client posting data points. The platform's own answers come through:
 * errno 3 for a device it does not know, 10 for one not online, status 1
 * for a command it keeps.
 */
#include "platform.h"

#define KEY MASTER_KEY
#define CONSOLE_WAIT_MS 10000

static platform pf;
static proc console, device, extra_console;
static uint16_t port;

#include "console_test.h"

static void start_device(proc *p, const char *id, const char *password)
{
    assert_int_equal(proc_start(p, MIDGE_ARGV("device", "--profile", "onenet", "-h", "127.0.0.1",
                                              "-p", pf.port, "--product-id", PRODUCT,
                                              "--device-id", (char *)id, "-P",
                                              (char *)password, "--backoff-max", "500"),
                                NULL), 0);
}

static int group_setup(void **state)
{
    (void)state;
    http_idle = pump;
    if (platform_start(&pf) != 0)
        return -1;
    start_device(&device, DEVICE, MASTER_KEY);
    port = console_start(&console, MIDGE_ARGV("console", "--profile", "onenet", "-h", "127.0.0.1",
                                              "-p", pf.port, "--product-id", PRODUCT, "-P",
                                              MASTER_KEY, "--listen", "127.0.0.1:0"));
    if (port == 0)
        return -1;
    wait_field("/devices/" DEVICE, "online", "true");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    proc_stop(&console);
    proc_stop(&device);
    platform_stop(&pf);
    return 0;
}

static void test_device_listed_with_led_data_point(void **state)
{
    (void)state;
    wait_field("/devices/" DEVICE, "led", "\"off\"");
    call("GET", "/devices", KEY, NULL);
    cJSON *j = expect(200, 0);
    assert_int_equal(json_int(j, "data.total_count"), 1);
    cJSON_Delete(j);
    call("GET", "/devices/" DEVICE "/datapoints", KEY, NULL);
    j = expect(200, 0);
    const cJSON *first = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "datastreams"), 0);
    assert_string_equal(json_str(first, "id"), "led");
    cJSON_Delete(j);
}

static void test_command_through_the_platform(void **state)
{
    (void)state;
    call("POST", "/cmds?device_id=" DEVICE "&timeout=5", KEY, "toggle");
    cJSON *j = expect(200, 0);
    assert_int_equal(json_int(j, "data.status"), 4);
    assert_string_equal(json_str(j, "data.resp"), "on");
    char path[128];
    snprintf(path, sizeof path, "/cmds/%s", json_str(j, "data.cmd_uuid"));
    cJSON_Delete(j);
    call("GET", path, KEY, NULL);
    j = expect(200, 0);
    assert_int_equal(json_int(j, "data.status"), 4);
    assert_string_equal(json_str(j, "data.desc"), "Command Response Received");
    cJSON_Delete(j);
    strcat(path, "/resp");
    call("GET", path, KEY, NULL);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "on");
    /* The device's own data point follows its LED. */
    wait_field("/devices/" DEVICE, "led", "\"on\"");

    /* timeout 0 to an online device: answered once the platform sent it. */
    call("POST", "/cmds?device_id=" DEVICE, KEY, "off");
    j = expect(200, 0);
    int status = json_int(j, "data.status");
    assert_true(status == 2 || status == 4);
    cJSON_Delete(j);
}

static void test_master_key_only(void **state)
{
    (void)state;
    /* A device's own key is no operator's. */
    call("POST", "/cmds?device_id=" DEVICE "&timeout=2", API_KEY, "toggle");
    cJSON_Delete(expect(401, 1));
    call("GET", "/devices", SECRET_WRONG_API_KEY, NULL);
    cJSON_Delete(expect(401, 1));
}

static void test_platform_refusals_passed_on(void **state)
{
    (void)state;
    /* Registered, never logged in. */
    call("POST", "/cmds?device_id=" DEVICE_C, KEY, "on");
    cJSON *j = expect(200, 10);
    assert_string_equal(json_str(j, "error"), "device not online: " DEVICE_C);
    cJSON_Delete(j);
    /* Not in the registry (or of another product). */
    call("POST", "/cmds?device_id=" OTHER_DEVICE "&timeout=5", KEY, "on");
    j = expect(404, 3);
    assert_string_equal(json_str(j, "error"), "device not exist: " OTHER_DEVICE);
    cJSON_Delete(j);
}

/* timeout > 0 to an offline device: the platform keeps it (status 1) and
 * pushes it at the device's next login; the POST sees the answer. */
static void test_kept_command_answered_at_login(void **state)
{
    (void)state;
    static char buf[262144];
    size_t got = 0, n;
    char *events = http_format(port, "GET", "/events", KEY, NULL, NULL, 0, &n);
    int stream = http_connect(port);
    assert_true(http_send_all(stream, events, n));
    free(events);
    buf[0] = '\0';

    char *req = http_format(port, "POST", "/cmds?device_id=" DEVICE_B "&timeout=30", KEY, NULL,
                            "on", 2, &n);
    int fd = http_connect(port);
    assert_true(http_send_all(fd, req, n));
    free(req);
    assert_true(stream_until(stream, buf, sizeof buf, &got,
                             "\"device_id\":\"" DEVICE_B "\",\"cmd\":\"on\",\"status\":1",
                             CONSOLE_WAIT_MS));
    proc b;
    memset(&b, 0, sizeof b);
    start_device(&b, DEVICE_B, AUTH_INFO);
    http_read(fd, &reply, 20000);
    close(fd);
    close(stream);
    cJSON *j = expect(200, 0);
    assert_int_equal(json_int(j, "data.status"), 4);
    assert_string_equal(json_str(j, "data.resp"), "on");
    cJSON_Delete(j);
    /* Its data point shows beside the others, and a stop takes it offline. */
    wait_field("/devices/" DEVICE_B, "led", "\"on\"");
    proc_stop(&b);
    wait_field("/devices/" DEVICE_B, "online", "false");
}

/* A raw device's $dp (type 3): every value a data stream. */
static void test_data_points_of_a_device(void **state)
{
    (void)state;
    peer *dev;
    assert_int_equal(platform_login(&dev, &pf, DEVICE_C, PRODUCT, API_KEY), MIDGE_OK);
    static const char json[] = "{\"temperature\":22.5,\"humidity\":61}";
    uint8_t dp[64] = { 3, 0, (uint8_t)(sizeof json - 1) };
    memcpy(dp + 3, json, sizeof json - 1);
    assert_int_equal(midge_client_publish(&dev->client, "$dp", dp, 3 + sizeof json - 1, 1, false,
                                          NULL), MIDGE_OK);
    assert_int_equal(midge_client_flush(&dev->client, 5000), MIDGE_OK);
    long long end = proc_now_ms() + CONSOLE_WAIT_MS;
    for (;;) {
        call("GET", "/devices/" DEVICE_C "/datapoints", KEY, NULL);
        if (reply.status == 200 && strstr(reply.body, "humidity") != NULL)
            break;
        assert_true(proc_now_ms() < end);
        poll(NULL, 0, 50);
    }
    cJSON *j = expect(200, 0);
    assert_int_equal(json_int(j, "data.count"), 2);
    const cJSON *streams = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "datastreams");
    const cJSON *t = cJSON_GetArrayItem(streams, 0);
    assert_string_equal(json_str(t, "id"), "temperature");
    const cJSON *v = cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(t, "datapoints"), 0), "value");
    assert_true(cJSON_IsNumber(v) && v->valuedouble == 22.5);
    cJSON_Delete(j);
    peer_free(dev);
}

static void test_flags_of_the_onenet_profile(void **state)
{
    (void)state;
    static const char *cases[][12] = {
        { "console", "--profile", "onenet", "-h", "127.0.0.1", "-P", "k", NULL },
        { "console", "--profile", "onenet", "--product-id", "1", "-P", "k", NULL },
        { "console", "--profile", "onenet", "-h", "127.0.0.1", "--product-id", "1", "-P", "k",
          "--api-key", "x", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[14] = { MIDGE_BINARY };
        for (size_t k = 0; cases[i][k]; k++)
            argv[k + 1] = (char *)cases[i][k];
        proc p;
        proc_run(&p, argv, NULL, CONSOLE_WAIT_MS);
        if (proc_exit_code(&p) != 1 || count_lines(p.err) != 1)
            proc_dump(&p, "console");
        assert_int_equal(proc_exit_code(&p), 1);
        assert_int_equal(count_lines(p.err), 1);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_listed_with_led_data_point),
        cmocka_unit_test(test_command_through_the_platform),
        cmocka_unit_test(test_master_key_only),
        cmocka_unit_test(test_platform_refusals_passed_on),
        cmocka_unit_test(test_kept_command_answered_at_login),
        cmocka_unit_test(test_data_points_of_a_device),
        cmocka_unit_test(test_flags_of_the_onenet_profile),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
