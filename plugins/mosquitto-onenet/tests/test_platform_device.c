/*
 * The tutorial's whole system on loopback: `midge device --profile onenet`
 * with the tutorial's identities against mosquitto with the platform
 * plugin, driven by `midge send --profile onenet` as the tutorial's
 * console did; and the onenet-profile device behaviours the fake OneNET
 * tests (tests/onenet/) pin, here against the plugin.
 */
#include <unistd.h>

#include "fault_proxy.h"
#include "platform.h"

static platform pf;
static proc dev;  /* large: static */
static proc run;
static bool dev_running;

static int setup(void **state)
{
    (void)state;
    dev_running = false;
    return platform_start(&pf);
}

static int teardown(void **state)
{
    (void)state;
    if (dev_running)
        proc_stop(&dev);
    dev_running = false;
    platform_stop(&pf);
    return 0;
}

/* midge device --profile onenet, the tutorial's device, on port. */
static void device_start(const char *port, const char *extra)
{
    char *argv[] = {(char *)MIDGE_BINARY, "device", "--profile", "onenet", "--device-id", DEVICE,
                    "--product-id", PRODUCT, "-P", MASTER_KEY, "-h", "127.0.0.1", "-p",
                    (char *)port, "--backoff-min", "100", "--backoff-max", "300", (char *)extra, NULL};
    assert_int_equal(proc_start(&dev, argv, NULL), 0);
    dev_running = true;
}

/* Wait (bounded) until the device's log holds needle n times. */
static bool device_log_has(const char *needle, int n, int timeout_ms)
{
    long long deadline = proc_now_ms() + timeout_ms;
    for (;;) {
        int found = 0;
        for (const char *s = dev.err; (s = strstr(s, needle)) != NULL; s++)
            found++;
        if (found >= n || proc_now_ms() >= deadline)
            return found >= n;
        proc_pump(&dev, 50);
    }
}

static int count_in(const char *hay, const char *needle)
{
    int found = 0;
    for (const char *s = hay; (s = strstr(s, needle)) != NULL; s++)
        found++;
    return found;
}

/* midge send --profile onenet ... command; its exit status. */
static int send_command(const char *device, const char *command)
{
    proc_run(&run,
             MIDGE_ARGV("send", "--profile", "onenet", "-h", "127.0.0.1", "-p", pf.port,
                        "--product-id", PRODUCT, "-P", MASTER_KEY, "--device-id", (char *)device,
                        "-W", "5", (char *)command),
             NULL, 10000);
    return proc_exit_code(&run);
}

static void expect_answer(const char *command, const char *answer)
{
    char want[64];
    int rc = send_command(DEVICE, command);
    snprintf(want, sizeof want, "%s\n", answer);
    if (rc != 0 || strcmp(run.out, want) != 0) {
        proc_dump(&run, "midge send");
        proc_pump(&dev, 100);
        fprintf(stderr, "device log:\n%s\n", dev.err);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(run.out, want);
}

static void test_tutorial_on_off_toggle_switch_the_led_and_are_answered(void **state)
{
    (void)state;
    device_start(pf.port, "--log-level=info");
    assert_true(device_log_has("connected", 1, WAIT_MS));
    expect_answer("on", "on");
    expect_answer("off", "off");
    expect_answer("toggle", "on");
    expect_answer("toggle", "off");
    expect_answer("status", "off");
    assert_true(device_log_has("LED on", 2, WAIT_MS));
    assert_true(device_log_has("LED off", 2, WAIT_MS));
    /* An unknown command is answered with an error: exit status 1. */
    assert_int_equal(send_command(DEVICE, "blink"), 1);
    assert_non_null(strstr(run.out, "error: unknown command"));
}

static void test_send_to_offline_device_says_so_exit_27(void **state)
{
    (void)state;
    assert_int_equal(send_command(DEVICE_B, "on"), 27);
    assert_non_null(strstr(run.err, DEVICE_B " is not online"));
    assert_int_equal(count_lines(run.err), 1);
}

static void test_send_with_a_wrong_master_key_fails_in_one_line(void **state)
{
    (void)state;
    proc_run(&run,
             MIDGE_ARGV("send", "--profile", "onenet", "-h", "127.0.0.1", "-p", pf.port,
                        "--product-id", PRODUCT, "-P", SECRET_WRONG_API_KEY, "--device-id",
                        DEVICE, "on"),
             NULL, 10000);
    /* The plugin's refusal, CONNACK 5, is the exit status (as mosquitto's tools). */
    assert_int_equal(proc_exit_code(&run), 5);
    assert_int_equal(count_lines(run.err), 1);
    assert_non_null(strstr(run.err, "not authorized"));
}

/* midge devices --profile onenet, as an operator of the product. */
static void expect_listing(const char *want)
{
    proc_run(&run,
             MIDGE_ARGV("devices", "--profile", "onenet", "-h", "127.0.0.1", "-p", pf.port,
                        "--product-id", PRODUCT, "-P", MASTER_KEY),
             NULL, 10000);
    if (proc_exit_code(&run) != 0 || strcmp(run.out, want) != 0)
        proc_dump(&run, "midge devices");
    assert_int_equal(proc_exit_code(&run), 0);
    assert_string_equal(run.out, want);
}

static void test_device_reports_its_led_on_dp_decoded_for_the_operator(void **state)
{
    (void)state;
    peer *op = platform_operator(&pf, "op-dp");
    assert_int_equal(midge_client_subscribe(&op->client, "$onenet/" PRODUCT "/" DEVICE "/#", 1),
                     MIDGE_OK);
    device_start(pf.port, "--log-level=info");
    assert_true(peer_wait_text(op, "$onenet/" PRODUCT "/" DEVICE "/online", "online", WAIT_MS) >=
                0);
    /* The device's type 3 data point, {"led":0}, as the operator reads it. */
    assert_true(peer_wait_text(op, "$onenet/" PRODUCT "/" DEVICE "/dp",
                               "{\"type\":3,\"points\":[{\"id\":\"led\",\"value\":0}]}",
                               WAIT_MS) >= 0);
    expect_answer("on", "on");
    assert_true(peer_wait_text(op, "$onenet/" PRODUCT "/" DEVICE "/dp",
                               "{\"id\":\"led\",\"value\":1}", WAIT_MS) >= 0);
    expect_listing(DEVICE " online on\n");
    /* A clean stop: offline. */
    proc_stop(&dev);
    dev_running = false;
    assert_true(peer_wait_text(op, "$onenet/" PRODUCT "/" DEVICE "/online", "offline", WAIT_MS) >=
                0);
    expect_listing(DEVICE " offline on\n");
}

static void test_devices_lists_in_natural_order_and_refuses_prefix_and_forget(void **state)
{
    (void)state;
    /* Ids whose numbers sort otherwise as text. */
    platform_stop(&pf);
    assert_int_equal(platform_start_with(&pf,
                                         "[product " PRODUCT "]\n"
                                         "master-key = " MASTER_KEY "\n"
                                         "[device lamp-10]\n"
                                         "product = " PRODUCT "\n"
                                         "[device lamp-2]\n"
                                         "product = " PRODUCT "\n",
                                         NULL),
                     0);
    peer *a, *b;
    assert_int_equal(platform_login(&a, &pf, "lamp-10", PRODUCT, MASTER_KEY), MIDGE_OK);
    assert_int_equal(platform_login(&b, &pf, "lamp-2", PRODUCT, MASTER_KEY), MIDGE_OK);
    peer *op = platform_operator(&pf, "op-order");
    assert_int_equal(midge_client_subscribe(&op->client, "$onenet/" PRODUCT "/+/online", 1),
                     MIDGE_OK);
    assert_true(peer_wait_text(op, "$onenet/" PRODUCT "/lamp-10/online", "online", WAIT_MS) >= 0);
    assert_true(peer_wait_text(op, "$onenet/" PRODUCT "/lamp-2/online", "online", WAIT_MS) >= 0);
    /* Neither sent a data point: the LED is unknown. */
    expect_listing("lamp-2 online ?\nlamp-10 online ?\n");

    /* The platform owns its tree: no other template, nothing to forget. */
    const char *refused[][2] = { { "--prefix", "home/{device-id}" }, { "--forget", "lamp-2" } };
    for (int i = 0; i < 2; i++) {
        proc_run(&run,
                 MIDGE_ARGV("devices", "--profile", "onenet", "-h", "127.0.0.1", "-p", pf.port,
                            "--product-id", PRODUCT, "-P", MASTER_KEY, (char *)refused[i][0],
                            (char *)refused[i][1]),
                 NULL, 10000);
        assert_int_equal(proc_exit_code(&run), 1);
        assert_int_equal(count_lines(run.err), 1);
        assert_non_null(strstr(run.err, refused[i][0]));
        assert_string_equal(run.out, "");
    }
    expect_listing("lamp-2 online ?\nlamp-10 online ?\n");
}

static void test_command_queued_while_offline_is_acted_on_once_at_login(void **state)
{
    (void)state;
    peer *op = platform_operator(&pf, "op-queue");
    assert_int_equal(midge_client_subscribe(&op->client, "$onenet/" PRODUCT "/" DEVICE "/#", 1),
                     MIDGE_OK);
    /* qos=1, kept 60 s: OneNET's HTTP API with qos=1&timeout=60. */
    platform_command(op, DEVICE, "q-toggle-1", "1/60", "toggle");
    assert_true(peer_wait_text(op, "$onenet/" PRODUCT "/" DEVICE "/status/q-toggle-1",
                               "\"status\":1", WAIT_MS) >= 0);
    device_start(pf.port, "--log-level=info");
    int i = peer_wait_topic(op, "$onenet/" PRODUCT "/" DEVICE "/rsp/q-toggle-1", WAIT_MS);
    assert_true(i >= 0);
    assert_string_equal(peer_text(op, i), "on");
    assert_true(device_log_has("LED on", 1, WAIT_MS));
    /* Answered: a second login of the same process gets nothing more. */
    proc_stop(&dev);
    dev_running = false;
    assert_int_equal(count_in(dev.err, "command \"toggle\""), 1);
}

static void test_command_whose_answer_was_lost_comes_again_and_acts_once(void **state)
{
    (void)state;
    fault_proxy *fp = fault_proxy_start(pf.broker.port);
    assert_non_null(fp);
    char fport[8];
    snprintf(fport, sizeof fport, "%u", (unsigned)fault_proxy_port(fp));
    peer *op = platform_operator(&pf, "op-lost");
    assert_int_equal(midge_client_subscribe(&op->client, "$onenet/" PRODUCT "/" DEVICE "/#", 1),
                     MIDGE_OK);
    device_start(fport, "--log-level=info");
    assert_true(device_log_has("connected", 1, WAIT_MS));
    /* Nothing from the device reaches the platform: it acts, but its
     * answer is held on the way... */
    fault_proxy_stall(fp, FAULT_UP);
    platform_command(op, DEVICE, "lost-answer-1", "1/60", "toggle");
    assert_true(device_log_has("LED on", 1, WAIT_MS));
    /* ...and dies with the connection. The device logs in again; the
     * platform, without an answer, pushes the command again. */
    assert_true(fault_proxy_reset_all(fp) >= 1);
    fault_proxy_pass(fp);
    int i = peer_wait_topic(op, "$onenet/" PRODUCT "/" DEVICE "/rsp/lost-answer-1", 3 * WAIT_MS);
    if (i < 0) {
        proc_pump(&dev, 100);
        fprintf(stderr, "device log:\n%s\n", dev.err);
    }
    assert_true(i >= 0);
    assert_string_equal(peer_text(op, i), "on");
    assert_true(device_log_has("repeated command", 1, WAIT_MS));
    /* Acted on once: the LED went on once, and stays on. */
    proc_stop(&dev);
    dev_running = false;
    assert_int_equal(count_in(dev.err, "LED on"), 1);
    assert_int_equal(count_in(dev.err, "LED off"), 0);
    fault_proxy_stop(fp);
}

static void test_device_obeys_a_custom_topic_without_answering(void **state)
{
    (void)state;
    char *argv[] = {(char *)MIDGE_BINARY, "device", "--profile", "onenet", "--device-id", DEVICE,
                    "--product-id", PRODUCT, "-P", MASTER_KEY, "-h", "127.0.0.1", "-p", pf.port,
                    "-t", "TurnipRobot", NULL};
    assert_int_equal(proc_start(&dev, argv, NULL), 0);
    dev_running = true;
    assert_true(device_log_has("connected", 1, WAIT_MS));
    peer *op = platform_operator(&pf, "op-turnip");
    /* The subscription goes out after the CONNACK: retry until it took. */
    long long deadline = peer_now_ms() + WAIT_MS;
    while (!device_log_has("LED on", 1, 100) && peer_now_ms() < deadline)
        assert_int_equal(midge_client_publish(&op->client, "TurnipRobot", "on", 2, 0, false, NULL),
                         MIDGE_OK);
    assert_true(device_log_has("LED on", 1, 100));
}

static void test_device_with_a_wrong_key_exits_1_naming_the_flags(void **state)
{
    (void)state;
    proc_run(&run,
             MIDGE_ARGV("device", "--profile", "onenet", "--device-id", DEVICE_B, "--product-id",
                        PRODUCT, "-P", SECRET_WRONG_API_KEY, "-h", "127.0.0.1", "-p", pf.port),
             NULL, 10000);
    assert_int_equal(proc_exit_code(&run), 1);
    assert_non_null(strstr(run.err, "--product-id"));
    assert_null(strstr(run.err, SECRET_WRONG_API_KEY));
}

static void test_device_kicked_by_another_login_comes_back_after_the_broker_restarts(void **state)
{
    (void)state;
    device_start(pf.port, "--log-level=info");
    assert_true(device_log_has("connected", 1, WAIT_MS));
    peer *intruder;
    assert_int_equal(platform_login(&intruder, &pf, DEVICE, PRODUCT, MASTER_KEY), MIDGE_OK);
    /* The device reconnects, which in turn kicks the intruder off. */
    assert_true(device_log_has("connected", 2, WAIT_MS));
    peer_free(intruder);
    expect_answer("on", "on");
    /* The broker goes away and comes back on the same port. */
    assert_int_equal(test_broker_kill(&pf.broker), 0);
#ifdef ONENET_ASAN_RUNTIME
    setenv("LD_PRELOAD", ONENET_ASAN_RUNTIME, 1);
#endif
    int rc = test_broker_restart(&pf.broker);
#ifdef ONENET_ASAN_RUNTIME
    unsetenv("LD_PRELOAD");
#endif
    assert_int_equal(rc, 0);
    assert_true(device_log_has("connected", 3, 3 * WAIT_MS));
    expect_answer("toggle", "off");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_tutorial_on_off_toggle_switch_the_led_and_are_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_to_offline_device_says_so_exit_27, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_send_with_a_wrong_master_key_fails_in_one_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_device_reports_its_led_on_dp_decoded_for_the_operator,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_devices_lists_in_natural_order_and_refuses_prefix_and_forget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_queued_while_offline_is_acted_on_once_at_login,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_command_whose_answer_was_lost_comes_again_and_acts_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_obeys_a_custom_topic_without_answering, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_device_with_a_wrong_key_exits_1_naming_the_flags,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_device_kicked_by_another_login_comes_back_after_the_broker_restarts, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
