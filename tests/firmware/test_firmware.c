/*
 * The firmware image on QEMU's emulated MPS2 AN385 board, end to end over
 * loopback: the Linux tools command it through a mosquitto on the host,
 * QEMU's trace shows every write to the LED register, the broker and the
 * board are killed, the OneNET fake pushes commands, an operator commands
 * it through the OneNET platform plugin, and a fake broker
 * sends every malformed packet of ../shared/conformance. One test per
 * ctest entry (the argument names it), each with its own broker and board.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "cases.h"
#include "fake_onenet.h"
#include "loopback.h"
#include "midge/codec.h"
#include "peer.h"
#include "platform.h" /* the platform plugin's tests': MIDGE_ARGV too */
#include "proc.h"
#include "qemu_board.h"

#define RUN_TIMEOUT_MS 15000
/* Boot, ARP and the first connection through slirp and socat. */
#define CONNECT_MS 15000
#define BACKOFF_MIN "200"
#define BACKOFF_MAX_MS 1000
#define CONNACK_TIMEOUT_MS 2000 /* the firmware's default at this backoff */
/* What a broker restart may take on top of the firmware's own bound (a
 * reconnect attempt that was under way, the machine's load). */
#define MARGIN_MS 5000

#define EXIT_HEAP 90
#define EXIT_FAULT 91

static test_broker broker;
static qemu_board board;
static platform pf; /* the platform plugin's broker, for the onenet profile */
static bool board_failed = true;

static int setup(void **state)
{
    (void)state;
    board_failed = true;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qemu_board_stop(&board, board_failed);
    test_broker_stop(&broker);
    platform_stop(&pf);
    peer_teardown(NULL);
    return 0;
}

static void start_board(const char *device_id, const char *extra)
{
    char args[512];
    snprintf(args, sizeof args, "--device-id %s --backoff-min " BACKOFF_MIN
             " --backoff-max %d %s", device_id, BACKOFF_MAX_MS, extra);
    assert_int_equal(qemu_board_start(&board, broker.port, args), 0);
    assert_true(qemu_board_wait_console(&board, "info: connected", 1, CONNECT_MS));
}

static void start_all(const char *device_id, const char *extra)
{
    assert_int_equal(test_broker_start(&broker, NULL), 0);
    start_board(device_id, extra);
}

/* `midge send` through the broker: the device's answer, on stdout. */
static void send_expect(const char *device_id, const char *command, const char *answer)
{
    char port[8], want[32], id[64], cmd[16];
    proc run;
    snprintf(port, sizeof port, "%u", (unsigned)broker.port);
    snprintf(id, sizeof id, "%s", device_id);
    snprintf(cmd, sizeof cmd, "%s", command);
    proc_run(&run, MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", port, "--device-id", id, "-W",
                              "10", cmd),
             NULL, RUN_TIMEOUT_MS);
    snprintf(want, sizeof want, "%s\n", answer);
    if (proc_exit_code(&run) != 0 || strcmp(run.out, want) != 0)
        fail_msg("send %s: exit %d, stdout '%s', stderr '%s'", command, proc_exit_code(&run),
                 run.out, run.err);
}

/* `status` until the device answers `answer`, a few tries: right after a
 * CONNACK its subscription may not be renewed yet (a restarted broker
 * forgot it), and a command published before then reaches nobody. */
static void status_expect_soon(const char *device_id, const char *answer)
{
    char port[8], want[32], id[64];
    proc run;
    snprintf(port, sizeof port, "%u", (unsigned)broker.port);
    snprintf(id, sizeof id, "%s", device_id);
    snprintf(want, sizeof want, "%s\n", answer);
    for (int i = 0; i < 5; i++) {
        proc_run(&run, MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", port, "--device-id", id, "-W",
                                  "3", "status"),
                 NULL, RUN_TIMEOUT_MS);
        if (proc_exit_code(&run) == 0 && strcmp(run.out, want) == 0)
            return;
    }
    fail_msg("status: exit %d, stdout '%s', stderr '%s'", proc_exit_code(&run), run.out,
             run.err);
}

/* Poll `midge devices` until its line for the device is `line`. */
static void devices_expect(const char *line, int timeout_ms)
{
    char port[8];
    proc run;
    long long end = proc_now_ms() + timeout_ms;
    snprintf(port, sizeof port, "%u", (unsigned)broker.port);
    do {
        proc_run(&run, MIDGE_ARGV("devices", "-h", "127.0.0.1", "-p", port), NULL,
                 RUN_TIMEOUT_MS);
        if (proc_exit_code(&run) == 0 && strstr(run.out, line) != NULL)
            return;
        usleep(200000);
    } while (proc_now_ms() < end);
    fail_msg("midge devices never showed '%s'; last: '%s' '%s'", line, run.out, run.err);
}

/* LED0 over the register writes so far, as a string of 0 and 1. */
static void led_history(char *out, size_t cap)
{
    uint32_t v[QEMU_BOARD_LED_WRITES_MAX];
    int n = qemu_board_led_writes(&board, v, QEMU_BOARD_LED_WRITES_MAX);
    size_t i = 0;
    for (; i < (size_t)n && i + 1 < cap; i++)
        out[i] = (v[i] & 1u) ? '1' : '0';
    out[i] = '\0';
}

static void led_expect(const char *history)
{
    char got[QEMU_BOARD_LED_WRITES_MAX + 1];
    qemu_board_wait_led_writes(&board, (int)strlen(history), 5000);
    led_history(got, sizeof got);
    assert_string_equal(got, history);
}

/* --- the traps ---------------------------------------------------------------- */

/* A heap allocation, a processor fault and a bad option each stop the
 * board with a status of their own, which is how a test sees a crash. */
static void test_traps_stop_the_board_with_their_status(void **state)
{
    static const struct {
        const char *args;
        int status;
    } runs[] = {
        { "--device-id t --trap heap", EXIT_HEAP },
        { "--device-id t --trap fault", EXIT_FAULT },
        { "--device-id t -p 0", 1 },
        { "--tls", 1 },
    };
    (void)state;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        assert_int_equal(qemu_board_start(&board, 0, runs[i].args), 0);
        assert_int_equal(qemu_board_wait_exit(&board, 10000), runs[i].status);
        qemu_board_stop(&board, false);
    }
    board_failed = false;
}

/* --- a device on mosquitto ---------------------------------------------------- */

/* on/off/toggle/toggle/status answered right; each LED change one write
 * of the LED register after the boot write, none for status; `midge
 * devices` shows it online with its LED. */
static void test_commands_answered_and_each_change_is_one_write(void **state)
{
    (void)state;
    start_all("fw-lamp", "");
    led_expect("0"); /* the boot write: LED0 off (lit at reset) */
    send_expect("fw-lamp", "on", "on");
    send_expect("fw-lamp", "off", "off");
    send_expect("fw-lamp", "toggle", "on");
    send_expect("fw-lamp", "toggle", "off");
    send_expect("fw-lamp", "status", "off");
    send_expect("fw-lamp", "on", "on");
    devices_expect("fw-lamp online on", 10000);
    led_expect("010101");
    board_failed = false;
}

/* A command delivered twice with one id: answered twice, acted on once. */
static void test_a_repeated_command_id_writes_once(void **state)
{
    (void)state;
    start_all("fw-dup", "");
    peer *p = peer_new(broker.port, "fw-dup-console", true);
    assert_non_null(p);
    assert_int_equal(peer_init(p), MIDGE_OK);
    assert_int_equal(midge_client_connect(&p->client, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&p->client, "devices/fw-dup/cmd/response/+", 1),
                     MIDGE_OK);
    /* "online" follows the device's SUBSCRIBE: commands reach it from then. */
    devices_expect("fw-dup online off", 10000);
    led_expect("0");
    for (int i = 0; i < 2; i++) {
        assert_int_equal(midge_client_publish(&p->client, "devices/fw-dup/cmd/request/id-1",
                                              "toggle", 6, 1, false, NULL),
                         MIDGE_OK);
        long long end = proc_now_ms() + 10000;
        while (p->count < i + 1 && proc_now_ms() < end)
            midge_client_poll(&p->client, 100);
        assert_int_equal(p->count, i + 1);
        assert_string_equal(p->got[i].topic, "devices/fw-dup/cmd/response/id-1");
        assert_int_equal(p->got[i].len, 2);
        assert_memory_equal(p->got[i].payload, "on", 2);
    }
    /* The first toggle wrote; give a second write time to show up. */
    usleep(500000);
    led_expect("01");
    peer_free(p);
    board_failed = false;
}

/* The broker killed and started again: the firmware is back and answers
 * within its backoff (plus a CONNACK wait under way, plus a margin). */
static void test_back_within_its_backoff_after_a_broker_restart(void **state)
{
    (void)state;
    start_all("fw-restart", "");
    send_expect("fw-restart", "on", "on");
    assert_int_equal(test_broker_kill(&broker), 0);
    assert_true(qemu_board_wait_console(&board, "connection lost", 1, 10000));
    /* Let a few attempts fail against the dead broker. */
    usleep(1500000);
    long long restarted = proc_now_ms();
    assert_int_equal(test_broker_restart(&broker), 0);
    assert_true(qemu_board_wait_console(&board, "info: connected", 2,
                                        BACKOFF_MAX_MS + CONNACK_TIMEOUT_MS + MARGIN_MS));
    long long back = proc_now_ms() - restarted;
    print_message("back %lld ms after the restart\n", back);
    status_expect_soon("fw-restart", "on");
    board_failed = false;
}

/* QEMU killed: the broker publishes the will, `midge devices` says offline. */
static void test_the_will_says_offline_when_the_board_dies(void **state)
{
    (void)state;
    start_all("fw-will", "");
    devices_expect("fw-will online off", 10000);
    qemu_board_kill(&board);
    devices_expect("fw-will offline off", 15000);
    board_failed = false;
}

/* --- the onenet profile against the OneNET fake ------------------------------- */

/* The tutorial's scenario: $creq pushed without a subscription, the LED
 * switched, $crsp answered, the state reported on $dp. */
static void test_onenet_creq_is_answered_on_crsp(void **state)
{
    static const char uuid[] = "3e25b3f5-27c8-50d5-b2bb-b7cb7ddddac4";
    fake_onenet_config cfg = {
        .kind = FAKE_ONENET_LEGACY, .product_id = "91025", .device_id = "9377500",
        .secret = "api-key-of-the-fake",
    };
    fake_onenet_event ev;
    size_t cursor = 0;
    char args[512], creq[64], crsp[64];
    (void)state;

    fake_onenet *s = fake_onenet_start(&cfg);
    assert_non_null(s);
    snprintf(args, sizeof args, "--profile onenet -h 10.0.2.100 -p 1883 --device-id 9377500 "
             "--product-id 91025 -P api-key-of-the-fake --backoff-min 200 --backoff-max %d",
             BACKOFF_MAX_MS);
    assert_int_equal(qemu_board_start(&board, fake_onenet_port(s), args), 0);
    assert_true(fake_onenet_next(s, &cursor, FAKE_ONENET_ACCEPTED, NULL, CONNECT_MS, &ev));
    assert_true(fake_onenet_next(s, &cursor, FAKE_ONENET_PUBLISH, "$dp", 5000, &ev));
    led_expect("0");

    snprintf(creq, sizeof creq, "$creq/%s", uuid);
    snprintf(crsp, sizeof crsp, "$crsp/%s", uuid);
    assert_true(fake_onenet_push(s, creq, "on", 2));
    assert_true(fake_onenet_next(s, &cursor, FAKE_ONENET_PUBLISH, crsp, 5000, &ev));
    assert_int_equal(ev.len, 2);
    assert_memory_equal(ev.payload, "on", 2);
    assert_true(fake_onenet_next(s, &cursor, FAKE_ONENET_PUBLISH, "$dp", 5000, &ev));
    /* A type 3 data point: type, 16-bit length, the JSON. */
    assert_true(ev.len == 3 + 9 && ev.payload[0] == 3);
    assert_memory_equal(ev.payload + 3, "{\"led\":1}", 9);
    led_expect("01");
    /* Nothing was subscribed for it, and no rule of the platform broken. */
    assert_int_equal(fake_onenet_tally(s, FAKE_ONENET_SUBSCRIBE, NULL), 0);
    assert_int_equal(fake_onenet_tally(s, FAKE_ONENET_VIOLATION, NULL), 0);
    fake_onenet_stop(s);
    board_failed = false;
}

/* --- the onenet profile against the platform plugin ------------------------- */

/* The tutorial's device, logging in with its API key. */
static const char firmware_registry[] =
    "[product " PRODUCT "]\n"
    "master-key = " MASTER_KEY "\n"
    "[device " DEVICE "]\n"
    "product = " PRODUCT "\n"
    "api-key = " API_KEY "\n";

/* `midge send --profile onenet` as an operator of the product. */
static void platform_send_expect(const char *command, const char *answer)
{
    char cmd[16], want[32];
    proc run;
    snprintf(cmd, sizeof cmd, "%s", command);
    snprintf(want, sizeof want, "%s\n", answer);
    proc_run(&run, MIDGE_ARGV("send", "--profile", "onenet", "-h", "127.0.0.1", "-p", pf.port,
                              "--product-id", PRODUCT, "-P", MASTER_KEY, "--device-id", DEVICE,
                              "-W", "10", cmd),
             NULL, RUN_TIMEOUT_MS);
    if (proc_exit_code(&run) != 0 || strcmp(run.out, want) != 0)
        fail_msg("send %s: exit %d, stdout '%s', stderr '%s'", command, proc_exit_code(&run),
                 run.out, run.err);
}

/* `midge devices --profile onenet` until its listing holds line. */
static void platform_devices_expect(const char *line, int timeout_ms)
{
    proc run;
    long long end = proc_now_ms() + timeout_ms;
    do {
        proc_run(&run, MIDGE_ARGV("devices", "--profile", "onenet", "-h", "127.0.0.1", "-p",
                                  pf.port, "--product-id", PRODUCT, "-P", MASTER_KEY),
                 NULL, RUN_TIMEOUT_MS);
        if (proc_exit_code(&run) == 0 && strstr(run.out, line) != NULL)
            return;
        usleep(200000);
    } while (proc_now_ms() < end);
    fail_msg("midge devices never showed '%s'; last: '%s' '%s'", line, run.out, run.err);
}

/* The tutorial's whole system with the board as its device: on, off and
 * toggle through the plugin answered right and each one LED write, and
 * the operator's listing shows the board online with its LED. */
static void test_onenet_commands_through_the_platform_plugin(void **state)
{
    char args[512];
    (void)state;
    assert_int_equal(platform_start_with(&pf, firmware_registry, NULL), 0);
    snprintf(args, sizeof args, "--profile onenet -h 10.0.2.100 -p 1883 --device-id " DEVICE
             " --product-id " PRODUCT " -P " API_KEY " --backoff-min " BACKOFF_MIN
             " --backoff-max %d", BACKOFF_MAX_MS);
    assert_int_equal(qemu_board_start(&board, pf.broker.port, args), 0);
    assert_true(qemu_board_wait_console(&board, "info: connected", 1, CONNECT_MS));
    led_expect("0");
    /* Online (and its first $dp read) before the first command. */
    platform_devices_expect(DEVICE " online off", 10000);
    platform_send_expect("on", "on");
    platform_send_expect("off", "off");
    platform_send_expect("toggle", "on");
    platform_devices_expect(DEVICE " online on", 10000);
    led_expect("0101");
    qemu_board_stop(&board, false);
    platform_stop(&pf);
    board_failed = false;
}

/* --- malformed packets from a fake broker ----------------------------------- */

/* A case of the conformance files that sends at least one packet midge's
 * decoder calls malformed, and expects the client to hang up. */
static bool case_is_malformed(const conf_case *c)
{
    if (c->group_ver != 4 || c->ver != 4 || !c->expect_disconnect)
        return false;
    for (size_t i = 0; i < c->msgs.count; i++) {
        const case_msg *m = &c->msgs.items[i];
        midge_packet pkt;
        if (m->dir == CASE_SEND &&
            midge_codec_decode(m->bytes, m->len, &pkt).outcome == MIDGE_DECODE_MALFORMED)
            return true;
    }
    return false;
}

/* The firmware's CONNECT, whole: its remaining length (MQTT 3.1.1
 * section 2.2.3) says how much follows. */
static bool read_connect(int fd)
{
    uint8_t type, byte, body[512];
    size_t len = 0;
    if (loopback_read_exact(fd, &type, 1, 5000, NULL) != LOOPBACK_OK || type != 0x10)
        return false;
    for (int shift = 0; shift < 28; shift += 7) {
        if (loopback_read_exact(fd, &byte, 1, 2000, NULL) != LOOPBACK_OK)
            return false;
        len |= (size_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0)
            break;
    }
    return len <= sizeof body && loopback_read_exact(fd, body, len, 2000, NULL) == LOOPBACK_OK;
}

/* One case over one accepted connection: true when the firmware hung up. */
static bool replay_case(int fd, const conf_case *c, char *why, size_t cap)
{
    static const uint8_t connack[] = { 0x20, 0x02, 0x00, 0x00 };
    if (!read_connect(fd)) {
        snprintf(why, cap, "no CONNECT");
        return false;
    }
    if (c->connack)
        loopback_write_all(fd, connack, sizeof connack, 2000);
    /* The firmware's own packets (SUBSCRIBE, presence) differ from the
     * library's command: only the broker's side is replayed. A write may
     * fail once the firmware has hung up. */
    for (size_t i = 0; i < c->msgs.count; i++) {
        const case_msg *m = &c->msgs.items[i];
        if (m->dir == CASE_SEND)
            loopback_write_all(fd, m->bytes, m->len, 2000);
    }
    loopback_result r = loopback_wait_closed(fd, 5000, NULL);
    if (r != LOOPBACK_CLOSED) {
        snprintf(why, cap, "still connected (%s)", loopback_result_str(r));
        return false;
    }
    return true;
}

static void test_malformed_packets_drop_the_connection_never_the_board(void **state)
{
    char path[1024], err[256], why[128];
    int replayed = 0, failed = 0;
    uint16_t port;
    (void)state;

    DIR *dir = opendir(MIDGE_CASES_DIR);
    if (dir == NULL) {
        print_message("notice: %s is not there; skipped\n", MIDGE_CASES_DIR);
        skip();
    }
    signal(SIGPIPE, SIG_IGN);
    int listener = loopback_listen(&port);
    assert_true(listener >= 0);
    assert_int_equal(qemu_board_start(&board, port, "--device-id fuzzish --backoff-min 20 "
                                                    "--backoff-max 40 -q"),
                     0);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        case_file cases;
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", MIDGE_CASES_DIR, e->d_name);
        assert_true(cases_load(path, &cases, err, sizeof err));
        for (size_t i = 0; i < cases.count; i++) {
            const conf_case *c = &cases.cases[i];
            if (!case_is_malformed(c))
                continue;
            int fd = loopback_accept(listener, CONNECT_MS);
            if (fd < 0)
                fail_msg("%s %s: the firmware did not come back", c->group, c->name);
            if (!replay_case(fd, c, why, sizeof why)) {
                print_message("FAIL %s/%s %d %s: %s\n", e->d_name, c->group, c->index, c->name,
                              why);
                failed++;
            }
            close(fd);
            replayed++;
            assert_true(qemu_board_running(&board));
        }
        cases_free(&cases);
    }
    closedir(dir);
    /* And it still comes back after the last one. */
    int fd = loopback_accept(listener, CONNECT_MS);
    assert_true(fd >= 0);
    close(fd);
    close(listener);
    print_message("%d malformed-packet cases replayed, %d failed\n", replayed, failed);
    assert_true(replayed > 0);
    assert_int_equal(failed, 0);
    assert_true(qemu_board_running(&board));
    board_failed = false;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_traps_stop_the_board_with_their_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands_answered_and_each_change_is_one_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_repeated_command_id_writes_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_back_within_its_backoff_after_a_broker_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_will_says_offline_when_the_board_dies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_onenet_creq_is_answered_on_crsp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_onenet_commands_through_the_platform_plugin, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_malformed_packets_drop_the_connection_never_the_board,
                                  setup, teardown),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
