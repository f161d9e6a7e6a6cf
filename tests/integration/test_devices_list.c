/*
 * `midge devices` against a real mosquitto: --prefix as the device's own
 * template ({device-id} standing for each id), ids in natural order, the
 * line on stderr when there is none, and --forget clearing a gone
 * device's retained presence and state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "broker.h"
#include "peer.h"
#include "proc.h"
#include "proc_expect.h"

#define RUN_TIMEOUT_MS 20000
#define DEVICES(...) ((char *[]){MIDGE_BINARY, "devices", "-h", "127.0.0.1", "-p", port, \
                                 __VA_ARGS__, NULL})

static test_broker broker;
static char port[8];
static proc run, device;

static int setup(void **state)
{
    (void)state;
    if (test_broker_start(&broker, NULL) != 0)
        return -1;
    snprintf(port, sizeof port, "%u", (unsigned)broker.port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_broker_stop(&broker);
}

static int each_teardown(void **state)
{
    if (device.pid > 0 && !device.exited)
        proc_stop(&device);
    return peer_teardown(state);
}

/* A retained message, as a device (or its will) leaves it. */
static void retain(const char *topic, const char *payload)
{
    peer *p = peer_new(broker.port, "devices-list-feeder", true);
    assert_non_null(p);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_int_equal(midge_client_publish(&p->client, topic, payload, strlen(payload), 1, true,
                                          NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&p->client, 5000), MIDGE_OK);
    peer_free(p);
}

static void test_prefix_template_lists_devices_under_it(void **state)
{
    (void)state;
    assert_int_equal(proc_start(&device,
                                (char *[]){MIDGE_BINARY, "device", "-h", "127.0.0.1", "-p", port,
                                           "--device-id", "lamp9", "--prefix",
                                           "home/{device-id}", "-q", NULL},
                                NULL),
                     0);
    /* The device reports once connected: ask until it shows. */
    for (int i = 0; i < 40 && strstr(run.out, "lamp9 online off\n") == NULL; i++) {
        proc_pump(&device, 100);
        proc_run(&run, DEVICES("--prefix", "home/{device-id}"), NULL, RUN_TIMEOUT_MS);
    }
    proc_expect_exit(&run, 0, "devices --prefix home/{device-id}");
    assert_string_equal(run.out, "lamp9 online off\n");
    /* Not under the default template. */
    proc_run(&run, DEVICES("--prefix", "devices/{device-id}"), NULL, RUN_TIMEOUT_MS);
    assert_null(strstr(run.out, "lamp9"));
    /* Part of a level: dev-{device-id} finds dev-7 only. */
    retain("home/dev-7/status", "offline");
    proc_run(&run, DEVICES("--prefix", "home/dev-{device-id}"), NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "devices --prefix home/dev-{device-id}");
    assert_string_equal(run.out, "7 offline ?\n");
}

static void test_no_device_is_one_line_on_stderr(void **state)
{
    (void)state;
    proc_run(&run, DEVICES("--prefix", "void/{device-id}/x"), NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "devices with none");
    assert_int_equal(run.out_len, 0);
    assert_string_equal(run.err, "midge devices: no device has reported under void/+/x/\n");
}

static void test_prefix_without_one_device_id_is_refused(void **state)
{
    static const char *const bad[] = { "home/lamp", "a/{device-id}/{device-id}", "a/+/{device-id}",
                                       "a/{device-id}/" };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        proc_run(&run, DEVICES("--prefix", (char *)bad[i]), NULL, RUN_TIMEOUT_MS);
        proc_expect_exit(&run, 1, bad[i]);
        assert_int_equal(count_lines(run.err), 1);
    }
}

static void test_ids_sort_with_numbers_as_numbers(void **state)
{
    static const char *const ids[] = { "bench-0-10", "bench-0-2", "lamp7", "bench-0-1", "lamp007",
                                       "bench-1-0", "lamp" };
    char topic[64];
    (void)state;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        snprintf(topic, sizeof topic, "sort/%s/status", ids[i]);
        retain(topic, "offline");
    }
    proc_run(&run, DEVICES("--prefix", "sort/{device-id}"), NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "devices, sorted");
    assert_string_equal(run.out, "bench-0-1 offline ?\n"
                                 "bench-0-2 offline ?\n"
                                 "bench-0-10 offline ?\n"
                                 "bench-1-0 offline ?\n"
                                 "lamp offline ?\n"
                                 "lamp007 offline ?\n"
                                 "lamp7 offline ?\n");
}

static void test_forget_clears_a_gone_devices_presence_and_state(void **state)
{
    (void)state;
    retain("devices/gone1/status", "offline");
    retain("devices/gone1/state", "{\"led\":\"on\"}");
    retain("devices/live1/status", "online");
    proc_run(&run, DEVICES("--forget", "gone1"), NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "devices --forget gone1");
    assert_int_equal(run.out_len + run.err_len, 0);

    /* Nothing retained is left under devices/gone1/. */
    peer *p = peer_new(broker.port, "devices-list-check", true);
    assert_non_null(p);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&p->client, "devices/gone1/#", 1), MIDGE_OK);
    assert_int_equal(peer_idle(p, 500), MIDGE_OK);
    assert_int_equal(p->count, 0);
    peer_free(p);
    proc_run(&run, DEVICES("--prefix", "devices/{device-id}"), NULL, RUN_TIMEOUT_MS);
    assert_null(strstr(run.out, "gone1"));

    /* Online: refused, still listed. Unknown: refused. */
    proc_run(&run, DEVICES("--forget", "live1"), NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 1, "devices --forget live1");
    assert_int_equal(count_lines(run.err), 1);
    proc_run(&run, DEVICES("--forget", "never-seen"), NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 1, "devices --forget never-seen");
    assert_int_equal(count_lines(run.err), 1);
    proc_run(&run, DEVICES("--forget", "a/b"), NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 1, "devices --forget a/b");
    proc_run(&run, DEVICES("--prefix", "devices/{device-id}"), NULL, RUN_TIMEOUT_MS);
    assert_non_null(strstr(run.out, "live1 online ?\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_prefix_template_lists_devices_under_it, each_teardown),
        cmocka_unit_test_teardown(test_no_device_is_one_line_on_stderr, each_teardown),
        cmocka_unit_test_teardown(test_prefix_without_one_device_id_is_refused, each_teardown),
        cmocka_unit_test_teardown(test_ids_sort_with_numbers_as_numbers, each_teardown),
        cmocka_unit_test_teardown(test_forget_clears_a_gone_devices_presence_and_state,
                                  each_teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    if (getenv("MIDGE_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("MIDGE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
