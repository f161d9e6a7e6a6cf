/*
 * The platform plugin inside a real mosquitto: who may log in, what each
 * client may touch, who is online, and the registry's reload.
 */
#include <signal.h>
#include <unistd.h>

#include "platform.h"

static platform pf;

static int setup(void **state)
{
    (void)state;
    return platform_start(&pf);
}

static int teardown(void **state)
{
    (void)state;
    platform_stop(&pf);
    return 0;
}

/* --- authentication ----------------------------------------------------------------- */

static void test_devices_log_in_with_auth_info_api_key_or_master_key(void **state)
{
    (void)state;
    peer *p;
    assert_int_equal(platform_login(&p, &pf, DEVICE_B, PRODUCT, AUTH_INFO), MIDGE_OK);
    assert_int_equal(platform_login(&p, &pf, DEVICE_C, PRODUCT, API_KEY), MIDGE_OK);
    /* The tutorial's device logs in with its product's master key. */
    assert_int_equal(platform_login(&p, &pf, DEVICE, PRODUCT, MASTER_KEY), MIDGE_OK);
    assert_int_equal(platform_login(&p, &pf, "op-console", PRODUCT, MASTER_KEY), MIDGE_OK);
}

static void test_wrong_identities_are_refused_with_connack_5(void **state)
{
    (void)state;
    peer *p;
    /* mosquitto 2.0.11's BASIC_AUTH can answer a refusal only with 5. */
    assert_int_equal(platform_login(&p, &pf, DEVICE_B, PRODUCT, SECRET_WRONG_API_KEY),
                     MIDGE_REFUSED_NOT_AUTHORIZED);
    assert_int_equal(platform_login(&p, &pf, DEVICE_B, OTHER_PRODUCT, AUTH_INFO),
                     MIDGE_REFUSED_NOT_AUTHORIZED);
    /* Another device's secret is no key to this one. */
    assert_int_equal(platform_login(&p, &pf, DEVICE_B, PRODUCT, API_KEY),
                     MIDGE_REFUSED_NOT_AUTHORIZED);
    /* Another product's master key opens neither its devices nor this tree. */
    assert_int_equal(platform_login(&p, &pf, DEVICE, PRODUCT, OTHER_MASTER_KEY),
                     MIDGE_REFUSED_NOT_AUTHORIZED);
    assert_int_equal(platform_login(&p, &pf, "op-x", "no-such-product", MASTER_KEY),
                     MIDGE_REFUSED_NOT_AUTHORIZED);
    assert_int_equal(platform_login(&p, &pf, "op-x", PRODUCT, AUTH_INFO),
                     MIDGE_REFUSED_NOT_AUTHORIZED);
}

static void test_login_without_user_or_password_gets_no_connack(void **state)
{
    (void)state;
    peer *p;
    /* onenet.md: a malformed CONNECT is closed without a CONNACK. */
    midge_status st = platform_login(&p, &pf, DEVICE_B, NULL, NULL);
    assert_true(st == MIDGE_ERR_CLOSED || st == MIDGE_ERR_IO);
    st = platform_login(&p, &pf, DEVICE_B, PRODUCT, NULL);
    assert_true(st == MIDGE_ERR_CLOSED || st == MIDGE_ERR_IO);
}

/* --- online, and a second login ------------------------------------------------------- */

static void test_second_login_replaces_first_and_stays_online(void **state)
{
    (void)state;
    peer *op = platform_operator(&pf, "op-watch");
    assert_int_equal(midge_client_subscribe(&op->client, "$onenet/" PRODUCT "/+/online", 1),
                     MIDGE_OK);
    peer *first, *second;
    assert_int_equal(platform_login(&first, &pf, DEVICE_B, PRODUCT, AUTH_INFO), MIDGE_OK);
    assert_true(peer_wait_topic(op, "$onenet/" PRODUCT "/" DEVICE_B "/online", WAIT_MS) >= 0);
    assert_int_equal(platform_login(&second, &pf, DEVICE_B, PRODUCT, AUTH_INFO), MIDGE_OK);

    /* mosquitto closes the first connection (onenet.md: a second login
     * kicks the first off)... */
    midge_status st = MIDGE_OK;
    long long deadline = peer_now_ms() + WAIT_MS;
    while (st >= 0 && peer_now_ms() < deadline)
        st = midge_client_poll(&first->client, 50);
    assert_true(st < 0);
    /* ...whose late DISCONNECT must not take the device offline: the
     * presence stays "online" and a command reaches the second. */
    assert_int_equal(peer_idle(op, 300), MIDGE_OK);
    int last = -1;
    for (int i = 0; i < op->count && i < PEER_MAX_MESSAGES; i++)
        if (strcmp(op->got[i].topic, "$onenet/" PRODUCT "/" DEVICE_B "/online") == 0)
            last = i;
    assert_string_equal(peer_text(op, last), "online");
    platform_command(op, DEVICE_B, "cmd-after-takeover", NULL, "on");
    assert_true(peer_wait_topic(second, "$creq/cmd-after-takeover", WAIT_MS) >= 0);

    /* The second's own DISCONNECT does. */
    peer_free(second);
    op->count = 0;
    int i = peer_wait_topic(op, "$onenet/" PRODUCT "/" DEVICE_B "/online", WAIT_MS);
    assert_true(i >= 0);
    assert_string_equal(peer_text(op, i), "offline");
}

/* --- ACLs ---------------------------------------------------------------------------- */

static void test_device_cannot_subscribe_to_dollar_topics_or_wildcards(void **state)
{
    (void)state;
    peer *d;
    assert_int_equal(platform_login(&d, &pf, DEVICE_B, PRODUCT, AUTH_INFO), MIDGE_OK);
    /* SUBACK 0x80, as OneNET answers. */
    assert_int_equal(midge_client_subscribe(&d->client, "$creq/#", 0), MIDGE_ERR_SUBSCRIBE);
    assert_int_equal(midge_client_subscribe(&d->client, "$crsp/+", 0), MIDGE_ERR_SUBSCRIBE);
    assert_int_equal(midge_client_subscribe(&d->client, "$onenet/" PRODUCT "/#", 0),
                     MIDGE_ERR_SUBSCRIBE);
    assert_int_equal(midge_client_subscribe(&d->client, "#", 0), MIDGE_ERR_SUBSCRIBE);
    /* A custom topic is fine (the tutorial's TurnipRobot). */
    assert_int_equal(midge_client_subscribe(&d->client, "TurnipRobot", 0), MIDGE_OK);
}

static void test_device_subscription_refusal_seen_by_mosquitto_sub(void **state)
{
    (void)state;
    proc run;
    proc_run(&run,
             (char *const[]){"/usr/bin/mosquitto_sub", "-p", pf.port, "-i", DEVICE_B, "-u",
                             PRODUCT, "-P", AUTH_INFO, "-t", "$creq/#", "-W", "2", NULL},
             NULL, WAIT_MS);
    if (strstr(run.err, "denied") == NULL)
        proc_dump(&run, "mosquitto_sub");
    assert_non_null(strstr(run.err, "All subscription requests were denied"));
}

static void test_command_reaches_one_device_among_several(void **state)
{
    (void)state;
    peer *a, *b, *c;
    assert_int_equal(platform_login(&a, &pf, DEVICE, PRODUCT, MASTER_KEY), MIDGE_OK);
    assert_int_equal(platform_login(&b, &pf, DEVICE_B, PRODUCT, AUTH_INFO), MIDGE_OK);
    assert_int_equal(platform_login(&c, &pf, DEVICE_C, PRODUCT, API_KEY), MIDGE_OK);
    peer *op = platform_operator(&pf, "op-1");
    platform_command(op, DEVICE_B, "3e25b3f5-27c8-50d5-b2bb-b7cb7ddddac4", NULL, "toggle");
    int i = peer_wait_topic(b, "$creq/3e25b3f5-27c8-50d5-b2bb-b7cb7ddddac4", WAIT_MS);
    assert_true(i >= 0);
    assert_string_equal(peer_text(b, i), "toggle");
    assert_int_equal(b->got[i].qos, 0); /* onenet.md: platform to device at QoS 0 only */
    assert_int_equal(peer_idle(a, 300), MIDGE_OK);
    assert_int_equal(peer_idle(c, 100), MIDGE_OK);
    assert_int_equal(a->count, 0);
    assert_int_equal(c->count, 0);
}

static void test_device_cannot_command_or_read_others(void **state)
{
    (void)state;
    peer *a, *b;
    assert_int_equal(platform_login(&a, &pf, DEVICE, PRODUCT, MASTER_KEY), MIDGE_OK);
    assert_int_equal(platform_login(&b, &pf, DEVICE_B, PRODUCT, AUTH_INFO), MIDGE_OK);
    /* A device publishing into the operators' tree or on $creq is dropped. */
    const char *forged[] = {"$onenet/" PRODUCT "/" DEVICE_B "/cmd/forged-1", "$creq/forged-2"};
    for (size_t k = 0; k < 2; k++)
        assert_int_equal(midge_client_publish(&a->client, forged[k], "on", 2, 1, false, NULL),
                         MIDGE_OK);
    assert_int_equal(midge_client_flush(&a->client, WAIT_MS), MIDGE_OK);
    assert_int_equal(peer_idle(b, 300), MIDGE_OK);
    assert_int_equal(b->count, 0);
}

static void test_operator_sees_only_its_product(void **state)
{
    (void)state;
    peer *other;
    assert_int_equal(platform_login(&other, &pf, "op-other", OTHER_PRODUCT, OTHER_MASTER_KEY),
                     MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&other->client, "$onenet/" PRODUCT "/#", 0),
                     MIDGE_ERR_SUBSCRIBE);
    assert_int_equal(midge_client_subscribe(&other->client, "$onenet/+/#", 0),
                     MIDGE_ERR_SUBSCRIBE);
    assert_int_equal(midge_client_subscribe(&other->client, "$crsp/#", 0), MIDGE_ERR_SUBSCRIBE);
    assert_int_equal(midge_client_subscribe(&other->client, "$onenet/" OTHER_PRODUCT "/#", 0),
                     MIDGE_OK);
    /* Its command for a device of another product is refused, not pushed. */
    peer *b;
    assert_int_equal(platform_login(&b, &pf, DEVICE_B, PRODUCT, AUTH_INFO), MIDGE_OK);
    const char *t = "$onenet/" OTHER_PRODUCT "/" DEVICE_B "/cmd/cross-1";
    assert_int_equal(midge_client_publish(&other->client, t, "on", 2, 1, false, NULL), MIDGE_OK);
    int i = peer_wait_topic(other, "$onenet/" OTHER_PRODUCT "/" DEVICE_B "/status/cross-1",
                            WAIT_MS);
    assert_true(i >= 0);
    assert_non_null(strstr(peer_text(other, i), "\"errno\":3"));
    assert_int_equal(peer_idle(b, 200), MIDGE_OK);
    assert_int_equal(b->count, 0);
}

/* --- the registry ------------------------------------------------------------------- */

static void test_registry_reload_on_sighup(void **state)
{
    (void)state;
    peer *p, *kept;
    assert_int_equal(platform_login(&kept, &pf, DEVICE_C, PRODUCT, API_KEY), MIDGE_OK);
    assert_int_equal(platform_login(&p, &pf, "9377599", PRODUCT, AUTH_INFO),
                     MIDGE_REFUSED_NOT_AUTHORIZED);
    /* A new device, and DEVICE_C gone. */
    char text[sizeof platform_registry + 256];
    snprintf(text, sizeof text,
             "[product " PRODUCT "]\nmaster-key = " MASTER_KEY "\n"
             "[device 9377599]\nproduct = " PRODUCT "\nauth-info = " AUTH_INFO "\n");
    platform_write_registry(&pf, text);
    assert_int_equal(kill(pf.broker.pid, SIGHUP), 0);
    midge_status st = MIDGE_REFUSED_NOT_AUTHORIZED;
    long long deadline = peer_now_ms() + WAIT_MS;
    while (st != MIDGE_OK && peer_now_ms() < deadline) {
        st = platform_login(&p, &pf, "9377599", PRODUCT, AUTH_INFO);
        if (st != MIDGE_OK) {
            peer_free(p);
            usleep(50 * 1000);
        }
    }
    assert_int_equal(st, MIDGE_OK);
    /* The device no longer in the registry is disconnected and refused. */
    st = MIDGE_OK;
    deadline = peer_now_ms() + WAIT_MS;
    while (st >= 0 && peer_now_ms() < deadline)
        st = midge_client_poll(&kept->client, 50);
    assert_true(st < 0);
    assert_int_equal(platform_login(&p, &pf, DEVICE_C, PRODUCT, API_KEY),
                     MIDGE_REFUSED_NOT_AUTHORIZED);
}

static void test_malformed_registry_on_reload_keeps_the_old_one(void **state)
{
    (void)state;
    platform_write_registry(&pf, "[product " PRODUCT "]\nmaster-key = " MASTER_KEY "\n"
                                 "[device 1]\nproduct = " PRODUCT "\nserial = 12\n");
    assert_int_equal(kill(pf.broker.pid, SIGHUP), 0);
    const char *want = "registry.ini:5: unknown key 'serial'";
    long long deadline = peer_now_ms() + WAIT_MS;
    while (strstr(platform_log(&pf), want) == NULL && peer_now_ms() < deadline)
        usleep(50 * 1000);
    assert_non_null(strstr(platform_log(&pf), want));
    assert_non_null(strstr(platform_log(&pf), "keeping the previous one"));
    peer *p;
    assert_int_equal(platform_login(&p, &pf, DEVICE_B, PRODUCT, AUTH_INFO), MIDGE_OK);
}

static void test_malformed_registry_refuses_to_start_naming_file_and_line(void **state)
{
    (void)state;
    char dir[] = "/tmp/midge-platform-XXXXXX", conf[128], reg[128];
    assert_non_null(mkdtemp(dir));
    chmod(dir, 0755);
    snprintf(reg, sizeof reg, "%s/registry.ini", dir);
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", dir);
    /* Line 4's device names a product the file does not have. */
    FILE *f = fopen(reg, "w");
    assert_non_null(f);
    fputs("[product " PRODUCT "]\nmaster-key = " MASTER_KEY "\n[device 42]\nproduct = 777\n", f);
    fclose(f);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "listener %u 127.0.0.1\nlog_dest stderr\nplugin %s\nplugin_opt_registry %s\n",
            (unsigned)test_broker_free_port(), ONENET_PLUGIN_PATH, reg);
    fclose(f);
    chmod(reg, 0644);
    chmod(conf, 0644);
    proc run;
#ifdef ONENET_ASAN_RUNTIME
    setenv("LD_PRELOAD", ONENET_ASAN_RUNTIME, 1);
#endif
    proc_run(&run, (char *const[]){"/usr/sbin/mosquitto", "-c", conf, NULL}, NULL, WAIT_MS);
#ifdef ONENET_ASAN_RUNTIME
    unsetenv("LD_PRELOAD");
#endif
    char want[256];
    snprintf(want, sizeof want, "onenet: registry %s:4: device 42 names product 777", reg);
    if (strstr(run.err, want) == NULL || proc_exit_code(&run) == 0)
        proc_dump(&run, "mosquitto with a malformed registry");
    assert_true(proc_exit_code(&run) > 0);
    assert_non_null(strstr(run.err, want));
    assert_null(strstr(run.err, MASTER_KEY));
    remove(reg);
    remove(conf);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_devices_log_in_with_auth_info_api_key_or_master_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_identities_are_refused_with_connack_5, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_login_without_user_or_password_gets_no_connack,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_login_replaces_first_and_stays_online, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_device_cannot_subscribe_to_dollar_topics_or_wildcards,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_subscription_refusal_seen_by_mosquitto_sub,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_reaches_one_device_among_several, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_device_cannot_command_or_read_others, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_operator_sees_only_its_product, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_reload_on_sighup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_registry_on_reload_keeps_the_old_one, setup,
                                        teardown),
        cmocka_unit_test(test_malformed_registry_refuses_to_start_naming_file_and_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
