/*
 * `midge pub`/`midge sub` and mosquitto_pub/mosquitto_sub 2.0.11 on
 * mosquitto's TLS flags that trust the system's CAs: --tls-use-os-certs
 * and -L mqtts://. A broker whose certificate the test's own CA signed
 * is refused by both tools; the same broker with --cafile is reached by
 * both (so the refusal is the trust, not the link).
 */
#define _GNU_SOURCE 1

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../integration/mosq_pair.h"
#include "broker.h"
#include "tls_fixture.h"

static tls_fixture certs;
static test_broker good; /* server.crt: localhost, signed by the test CA */
static char port[8];
static char url[128];

static int setup_all(void **state)
{
    (void)state;
    if (fixture_make_certs(&certs) != 0 || fixture_broker(&certs, &good, "server.crt", false) != 0)
        return -1;
    snprintf(port, sizeof port, "%u", (unsigned)good.port);
    snprintf(url, sizeof url, "mqtts://localhost:%s/tls/t", port);
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    test_broker_stop(&good);
    fixture_remove(&certs);
    return 0;
}

static int each_teardown(void **state)
{
    (void)state;
    pair_stop();
    return 0;
}

/* A TLS failure: midge exits 8, as mosquitto does when the handshake
 * fails in its loop; it says 1 when the failure comes inside its connect
 * call, which depends on timing, so its status is only checked non-zero. */
static void expect_tls_refusal(const char *what)
{
    if (proc_exit_code(&pair_midge) != 8 || proc_exit_code(&pair_mosq) <= 0) {
        proc_dump(&pair_midge, what);
        proc_dump(&pair_mosq, what);
    }
    assert_int_equal(proc_exit_code(&pair_midge), 8);
    assert_true(proc_exit_code(&pair_mosq) > 0);
    assert_int_equal(count_lines(pair_midge.err), 1);
    assert_non_null(strstr(pair_midge.err, "unknown CA"));
}

static void test_os_certs_do_not_trust_a_private_ca(void **state)
{
    (void)state;
    pair_run("pub", ARGS("-h", "localhost", "-p", port, "--tls-use-os-certs", "-t", "tls/t", "-m",
                         "m"),
             NULL);
    expect_tls_refusal("pub --tls-use-os-certs");
    pair_run("pub", ARGS("-L", url, "-m", "m"), NULL);
    expect_tls_refusal("pub -L mqtts://");
}

static void test_the_same_broker_is_reached_with_its_ca(void **state)
{
    (void)state;
    pair_run("pub", ARGS("-h", "localhost", "-p", port, "--cafile",
                         (char *)fixture_path(&certs, "ca.crt"), "-t", "tls/t", "-m", "m"),
             NULL);
    pair_expect_exit(0, "pub --cafile");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_os_certs_do_not_trust_a_private_ca, each_teardown),
        cmocka_unit_test_teardown(test_the_same_broker_is_reached_with_its_ca, each_teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
