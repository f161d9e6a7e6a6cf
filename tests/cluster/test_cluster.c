/*
 * A fleet of `midge device` processes on a three-node RabbitMQ cluster on
 * loopback (rabbitmq-cluster.sh, started fresh for the run), one node
 * stopped while commands flow.
 *
 * Devices are spread over the nodes: device i's -h list is the cluster's,
 * rotated to start at node i % 3, so that is where it connects. Each is
 * commanded from a console (a library client with the same list, rotated
 * to start at the next node) on another node: `toggle` at QoS 1, one
 * command at a time per device, the same command id sent again every
 * RESEND_MS until answered. Persistent sessions (-c), whose queues are
 * quorum queues on all three nodes.
 *
 * Then node 2 is stopped (rabbitmqctl stop_app) while the commands flow:
 *   - every device of node 2 must be on another node and answering a
 *     command within its maximum backoff plus 1 s of the stop (asserted
 *     with SLACK_MS more for a loaded machine, printed exactly);
 *   - no other device loses its connection;
 *   - every command is answered, none is acted on twice, and every answer
 *     is the LED state the device's sequence of toggles implies.
 * Node 2 is started again (start_app) and must rejoin the cluster with no
 * device losing its connection (no failback) while commands go on.
 *
 * Sizes: 6 devices (label cluster, CI); 30 with --full, which runs only
 * when MIDGE_CLUSTER_FULL=1 (exit 77, skipped, otherwise). Without
 * RabbitMQ installed both skip. Figures are printed on lines starting
 * with "cluster figures:".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../fault/device_proc.h"
#include "fault_proxy.h"
#include "midge/midge.h"

#define NODES 3
#define DEVICES_CI 6
#define DEVICES_FULL 30
#define DEVICES_MAX DEVICES_FULL
/* The node stopped (1-based, as the script numbers them). */
#define VICTIM 2

/* The devices' timers (their command line below). */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
/* Generous: CI machines are slow, and three Erlang VMs share two cores. */
#define SLACK_MS 2000
#define START_TIMEOUT_MS 30000
/* The console sends a command again after this long without an answer. */
#define RESEND_MS 500
/* A device gets its next command this long after the last was answered. */
#define PACE_MS 100
/* A command with no answer after this long counts as lost. */
#define COMMAND_DEADLINE_MS 30000
/* How long commands flow before the stop, after it, and after the restart. */
#define FLOW_BEFORE_MS 3000
#define FLOW_AFTER_MS 6000
#define FLOW_RESTARTED_MS 5000

#define CMDS_MAX 20000

static const char *cluster_script = MIDGE_CLUSTER_SCRIPT;
static char cluster_base[256]; /* a fresh directory per run */
static char cluster_dir[300];  /* the cluster's, inside it */
static uint16_t node_port[NODES + 1];
static bool cluster_up;
static unsigned devices;
static device_proc dev[DEVICES_MAX];

/* --- commands and what came back ----------------------------------------- */

/* Command idx (from 1) went to device cmd_dev[idx]; its answer is
 * expected to be cmd_want[idx] (1 on, 0 off). */
static unsigned short cmd_dev[CMDS_MAX];
static signed char cmd_want[CMDS_MAX];
static unsigned short replies[CMDS_MAX];
static long long reply_at[CMDS_MAX];
static unsigned long wrong_answers, stray_replies;
static unsigned next_idx = 1;

typedef struct device_flow {
    unsigned pending;    /* the command awaiting its answer; 0 = none */
    long long sent_at;   /* its last send */
    long long next_at;   /* when the next command is due */
    bool led;            /* the state its answers have brought it to */
    unsigned long resends;
} device_flow;

static device_flow flow[DEVICES_MAX];

typedef struct console {
    midge_client client;
    midge_tcp tcp;
    midge_tcp_opener_ctx opener;
    midge_broker list[NODES];
    char id[48];
    uint8_t tx[4096];
    uint8_t rx[16384];
    uint8_t store[65536];
    uint16_t qos2_ids[8];
} console;

static console *consoles[NODES];

static long long now_ms(void) { return fault_proxy_now_ms(); }

/* devices/cl-D/cmd/response/cNNNNN */
static void console_on_message(void *user, const midge_publish *msg)
{
    static const char mark[] = "/cmd/response/c";
    char topic[128];
    (void)user;
    if (msg->topic_len >= sizeof topic) {
        stray_replies++;
        return;
    }
    memcpy(topic, msg->topic, msg->topic_len);
    topic[msg->topic_len] = '\0';
    const char *at = strstr(topic, mark);
    long idx = at != NULL ? strtol(at + strlen(mark), NULL, 10) : -1;
    if (idx <= 0 || idx >= (long)next_idx) {
        stray_replies++;
        return;
    }
    int led = msg->payload_len == 2 && memcmp(msg->payload, "on", 2) == 0    ? 1
              : msg->payload_len == 3 && memcmp(msg->payload, "off", 3) == 0 ? 0
                                                                             : 2;
    if (led != cmd_want[idx])
        wrong_answers++;
    if (replies[idx]++ == 0)
        reply_at[idx] = now_ms();
}

/* Console k: on node k first, then the others in turn. */
static console *console_open(unsigned k)
{
    console *c = calloc(1, sizeof *c);
    assert_non_null(c);
    for (unsigned i = 0; i < NODES; i++)
        c->list[i] = (midge_broker){ "127.0.0.1", node_port[1 + (k - 1 + i) % NODES] };
    snprintf(c->id, sizeof c->id, "cluster-console-%u-%ld", k, (long)getpid());
    c->opener = (midge_tcp_opener_ctx){ .tcp = &c->tcp };
    midge_client_config cfg = {
        .brokers = c->list,
        .broker_count = NODES,
        .open = midge_tcp_bound_opener,
        .open_addr = midge_tcp_addr_opener,
        .opener = &c->opener,
        .platform = &midge_posix_platform,
        .connect = { .client_id = c->id, .keepalive_s = 10, .clean_session = true },
        .connect_timeout_ms = 3000,
        .connack_timeout_ms = 5000,
        .auto_reconnect = true,
        .backoff_min_ms = 50,
        .backoff_max_ms = 500,
        .call_timeout_ms = 2000,
    };
    midge_session_buffers bufs = {
        .tx = c->tx, .tx_size = sizeof c->tx, .rx = c->rx, .rx_size = sizeof c->rx,
        .store = c->store, .store_size = sizeof c->store,
        .rx_qos2_ids = c->qos2_ids, .rx_qos2_cap = 8,
    };
    assert_int_equal(midge_client_init(&c->client, &cfg, &bufs), MIDGE_OK);
    midge_client_set_callback(&c->client, console_on_message, c);
    assert_int_equal(midge_client_connect(&c->client, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&c->client, "devices/+/cmd/response/+", 1), MIDGE_OK);
    return c;
}

/* The console that commands device d: on the node after the device's. */
static console *console_of(unsigned d) { return consoles[(d + 1) % NODES]; }

static unsigned home_node(unsigned d) { return 1 + d % NODES; }

/* Send device d's pending command (again), only while its console is
 * connected: a publish that must reconnect first waits meanwhile. */
static void flow_send(unsigned d, long long now)
{
    console *c = console_of(d);
    device_flow *f = &flow[d];
    char topic[96];

    f->sent_at = now;
    if (!midge_client_is_connected(&c->client))
        return;
    snprintf(topic, sizeof topic, "devices/cl-%u/cmd/request/c%05u", d, f->pending);
    (void)midge_client_publish(&c->client, topic, "toggle", 6, 1, false, NULL);
}

/* Run the flow of commands for `ms`, or, with ms < 0, until every command
 * sent was answered (no new ones), within COMMAND_DEADLINE_MS. */
static void flow_run(long ms)
{
    bool draining = ms < 0;
    long long end = now_ms() + (draining ? COMMAND_DEADLINE_MS : ms);

    for (;;) {
        long long now = now_ms();
        bool waiting = false;
        if (now >= end)
            break;
        for (unsigned d = 0; d < devices; d++) {
            device_flow *f = &flow[d];
            if (f->pending != 0 && replies[f->pending] != 0) {
                f->led = cmd_want[f->pending] == 1;
                f->pending = 0;
                f->next_at = now + PACE_MS;
            }
            if (f->pending == 0 && !draining && now >= f->next_at) {
                assert_true(next_idx < CMDS_MAX);
                f->pending = next_idx++;
                cmd_dev[f->pending] = (unsigned short)d;
                cmd_want[f->pending] = f->led ? 0 : 1;
                flow_send(d, now);
            } else if (f->pending != 0 && now - f->sent_at >= RESEND_MS) {
                f->resends++;
                flow_send(d, now);
            }
            waiting |= f->pending != 0;
        }
        if (draining && !waiting)
            break;
        for (unsigned k = 0; k < NODES; k++)
            (void)midge_client_poll(&consoles[k]->client, 5);
    }
}

/* --- the cluster ------------------------------------------------------------- */

static int run_script(const char *cmd, unsigned node)
{
    char line[512];
    if (node != 0)
        snprintf(line, sizeof line, "bash '%s' %s '%s' %u", cluster_script, cmd, cluster_dir,
                 node);
    else
        snprintf(line, sizeof line, "bash '%s' %s '%s' >/dev/null", cluster_script, cmd,
                 cluster_dir);
    int rc = system(line);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The node's MQTT port from DIR/cluster.env. */
static void read_ports(void)
{
    char path[sizeof cluster_dir + 16], line[256];
    snprintf(path, sizeof path, "%s/cluster.env", cluster_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned n, port;
        if (sscanf(line, "CLUSTER_PORT_%u=%u", &n, &port) == 2 && n >= 1 && n <= NODES)
            node_port[n] = (uint16_t)port;
    }
    fclose(f);
    for (unsigned n = 1; n <= NODES; n++)
        assert_int_not_equal(node_port[n], 0);
}

/* How many nodes the cluster runs, as node 1 sees it. */
static int running_nodes(void)
{
    char line[600];
    snprintf(line, sizeof line,
             "bash '%s' ctl '%s' 1 eval 'length(rabbit_nodes:all_running()).' 2>/dev/null",
             cluster_script, cluster_dir);
    FILE *p = popen(line, "r");
    int n = -1;
    if (p == NULL)
        return -1;
    if (fscanf(p, "%d", &n) != 1)
        n = -1;
    pclose(p);
    return n;
}

static void cluster_stop(void)
{
    char line[400];
    if (cluster_dir[0] == '\0')
        return;
    run_script("stop", 0);
    snprintf(line, sizeof line, "rm -rf '%s'", cluster_base);
    if (getenv("MIDGE_CLUSTER_KEEP") == NULL && system(line) != 0)
        fprintf(stderr, "cluster: could not remove %s\n", cluster_base);
    cluster_dir[0] = '\0';
    cluster_up = false;
}

/* --- the devices ------------------------------------------------------------- */

static void device_start(unsigned d)
{
    char id[32], list[128];
    unsigned first = home_node(d);
    snprintf(id, sizeof id, "cl-%u", d);
    snprintf(list, sizeof list, "127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:%u",
             (unsigned)node_port[first], (unsigned)node_port[1 + first % NODES],
             (unsigned)node_port[1 + (first + 1) % NODES]);
    const char *argv[] = { "device", "--device-id", id, "-c", "-h", list, "-k", "10",
                           "--backoff-min", "100", "--backoff-max", "1000", NULL };
    assert_int_equal(device_proc_start(&dev[d], argv), 0);
}

static void expect_on_node(unsigned d, unsigned node, bool on)
{
    char want[32];
    snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)node_port[node]);
    pthread_mutex_lock(&dev[d].lock);
    bool same = strcmp(dev[d].broker, want) == 0;
    pthread_mutex_unlock(&dev[d].lock);
    if (same != on) {
        device_proc_dump(&dev[d], "on the wrong node");
        fail_msg("device cl-%u is %son node %u (%s)", d, on ? "not " : "", node, want);
    }
}

/* Every command answered, none acted on twice, every answer right. */
static void expect_commands_clean(void)
{
    unsigned long unanswered = 0, twice = 0;
    for (unsigned idx = 1; idx < next_idx; idx++) {
        device_proc *d = &dev[cmd_dev[idx]];
        pthread_mutex_lock(&d->lock);
        unsigned acts = d->acts[idx];
        pthread_mutex_unlock(&d->lock);
        unanswered += replies[idx] == 0;
        twice += acts > 1;
    }
    printf("cluster figures: %u commands, %lu unanswered, %lu acted on twice, %lu wrong "
           "answers, %lu stray\n", next_idx - 1, unanswered, twice, wrong_answers, stray_replies);
    assert_int_equal(unanswered, 0);
    assert_int_equal(twice, 0);
    assert_int_equal(wrong_answers, 0);
}

static int qsort_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* --- the scenario ------------------------------------------------------------ */

/* Stop or start node VICTIM (the script's stop-node, start-node), with
 * each device's count of lost connections before it in lost[]. Returns
 * when the step began. */
static long long victim_step(const char *step, unsigned long *lost)
{
    for (unsigned d = 0; d < devices; d++)
        lost[d] = device_proc_count(&dev[d], DEVICE_EV_LOST);
    long long t = now_ms();
    assert_int_equal(run_script(step, VICTIM), 0);
    printf("cluster figures: %s %u took %lld ms\n", step, VICTIM, now_ms() - t);
    return t;
}

static void test_fleet_rides_out_the_loss_of_a_node(void **state)
{
    (void)state;

    for (unsigned d = 0; d < devices; d++)
        device_start(d);
    for (unsigned d = 0; d < devices; d++) {
        if (device_proc_wait_event(&dev[d], DEVICE_EV_CONNECTED, 0, START_TIMEOUT_MS) < 0) {
            device_proc_dump(&dev[d], "no CONNACK at start");
            fail_msg("device cl-%u did not connect", d);
        }
        expect_on_node(d, home_node(d), true);
    }
    for (unsigned k = 0; k < NODES; k++)
        consoles[k] = console_open(k + 1);

    flow_run(FLOW_BEFORE_MS);
    /* Node 2 goes while commands flow. */
    unsigned long lost_before[DEVICES_MAX];
    long long t_stop = victim_step("stop-node", lost_before);
    flow_run(FLOW_AFTER_MS);

    /* Each device of node 2: back on another node, and answering. */
    long long back[DEVICES_MAX];
    unsigned moved = 0;
    for (unsigned d = 0; d < devices; d++) {
        if (home_node(d) != VICTIM) {
            assert_int_equal(device_proc_count(&dev[d], DEVICE_EV_LOST), lost_before[d]);
            continue;
        }
        long long connected = device_proc_wait_event(&dev[d], DEVICE_EV_CONNECTED, t_stop, 0);
        if (connected < 0) {
            device_proc_dump(&dev[d], "not back after the stop");
            fail_msg("device cl-%u did not reconnect", d);
        }
        expect_on_node(d, VICTIM, false);
        /* Its first answer to a command sent after the stop. */
        long long answered = -1;
        for (unsigned idx = 1; idx < next_idx; idx++) {
            if (cmd_dev[idx] == d && replies[idx] != 0 && reply_at[idx] >= connected) {
                answered = reply_at[idx];
                break;
            }
        }
        assert_true(answered >= 0);
        back[moved++] = answered - t_stop;
    }
    assert_int_not_equal(moved, 0);
    qsort(back, moved, sizeof back[0], qsort_ll);
    printf("cluster figures: %u devices moved off node %u; back and answering after "
           "p50 %lld ms, max %lld ms (bound: backoff max %d ms + 1 s)\n",
           moved, VICTIM, back[moved / 2], back[moved - 1], BACKOFF_MAX_MS);
    assert_true(back[moved - 1] <= BACKOFF_MAX_MS + 1000 + SLACK_MS);

    /* Node 2 back: it rejoins, and nobody moves (no failback). */
    unsigned long lost_mid[DEVICES_MAX];
    victim_step("start-node", lost_mid);
    flow_run(FLOW_RESTARTED_MS);
    assert_int_equal(running_nodes(), NODES);
    for (unsigned d = 0; d < devices; d++) {
        assert_int_equal(device_proc_count(&dev[d], DEVICE_EV_LOST), lost_mid[d]);
        if (home_node(d) == VICTIM)
            expect_on_node(d, VICTIM, false);
        else
            expect_on_node(d, home_node(d), true);
    }

    flow_run(-1);
    unsigned long resends = 0;
    for (unsigned d = 0; d < devices; d++)
        resends += flow[d].resends;
    printf("cluster figures: %u devices, %lu resends of a command id\n", devices, resends);
    expect_commands_clean();
}

/* --- setup ------------------------------------------------------------------- */

static int scenario_setup(void **state)
{
    (void)state;
    snprintf(cluster_base, sizeof cluster_base, "%s/midge-cluster.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(cluster_base) == NULL)
        return -1;
    snprintf(cluster_dir, sizeof cluster_dir, "%s/c", cluster_base);
    long long t0 = now_ms();
    if (run_script("start", 0) != 0) {
        fprintf(stderr, "cluster: the RabbitMQ cluster did not start (%s)\n", cluster_dir);
        return -1;
    }
    cluster_up = true;
    printf("cluster figures: three-node RabbitMQ cluster up in %lld ms\n", now_ms() - t0);
    read_ports();
    return 0;
}

static int scenario_teardown(void **state)
{
    (void)state;
    for (unsigned k = 0; k < NODES; k++) {
        if (consoles[k] != NULL && midge_client_is_connected(&consoles[k]->client))
            midge_client_disconnect(&consoles[k]->client);
        free(consoles[k]);
        consoles[k] = NULL;
    }
    for (unsigned d = 0; d < devices; d++)
        device_proc_stop(&dev[d]);
    if (cluster_up)
        cluster_stop();
    return 0;
}

int main(int argc, char **argv)
{
    bool full = argc > 1 && strcmp(argv[1], "--full") == 0;
    struct stat st;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (full && getenv("MIDGE_CLUSTER_FULL") == NULL) {
        printf("cluster: the full size runs with MIDGE_CLUSTER_FULL=1; skipped\n");
        return 77;
    }
    if (stat("/usr/lib/rabbitmq/bin/rabbitmq-server", &st) != 0) {
        printf("cluster: rabbitmq-server is not installed; skipped\n");
        return 77;
    }
    devices = full ? DEVICES_FULL : DEVICES_CI;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fleet_rides_out_the_loss_of_a_node, scenario_setup,
                                        scenario_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
