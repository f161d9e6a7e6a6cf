/*
 * What one TLS connection costs in RAM with the system's mbedTLS: the
 * caller's struct, the heap held while connected, and the heap's peak
 * during the handshake. The figures are printed (tls.h quotes them) and
 * bounded, so that a change that doubles them is noticed.
 *
 * Heap is counted by the allocator actually in use: under AddressSanitizer
 * through its allocator statistics and malloc hook (looked up by name with
 * dlsym, so the same file builds without the sanitizer); otherwise through
 * glibc's mallinfo2(), which gives an approximate held figure (chunk
 * headers and glibc's per-thread cache included) and no peak; valgrind
 * --tool=massif on that build gives the peak.
 */
#define _GNU_SOURCE 1

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <malloc.h>

#include "tls_fixture.h"

#define OPEN_TIMEOUT_MS 5000
/* Bounds well above the measured figures (tls.h), well below a regression. */
#define HELD_MAX (64 * 1024)
#define PEAK_MAX (128 * 1024)

typedef size_t (*bytes_fn)(void);
typedef void (*malloc_hook_fn)(const volatile void *ptr, size_t size);
typedef void (*free_hook_fn)(const volatile void *ptr);
typedef int (*install_hooks_fn)(malloc_hook_fn, free_hook_fn);

static tls_fixture certs;
static test_broker good;
static test_broker client_auth;

static bytes_fn asan_current;
static size_t peak;

/* False under valgrind, whose allocator mallinfo2() does not see. */
static bool heap_counted(void)
{
    return asan_current != NULL || mallinfo2().uordblks > 0;
}

static size_t heap_now(void)
{
    if (asan_current != NULL)
        return asan_current();
    return mallinfo2().uordblks;
}

static void on_malloc(const volatile void *ptr, size_t size)
{
    (void)ptr;
    (void)size;
    size_t now = asan_current();
    if (now > peak)
        peak = now;
}

static void on_free(const volatile void *ptr)
{
    (void)ptr;
}

static int setup_all(void **state)
{
    (void)state;
    asan_current = (bytes_fn)dlsym(RTLD_DEFAULT, "__sanitizer_get_current_allocated_bytes");
    install_hooks_fn install =
        (install_hooks_fn)dlsym(RTLD_DEFAULT, "__sanitizer_install_malloc_and_free_hooks");
    if (asan_current != NULL && install != NULL)
        install(on_malloc, on_free);
    if (fixture_make_certs(&certs) != 0)
        return -1;
    if (fixture_broker(&certs, &good, "server.crt", false) != 0 ||
        fixture_broker(&certs, &client_auth, "server.crt", true) != 0)
        return -1;
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    test_broker_stop(&good);
    test_broker_stop(&client_auth);
    fixture_remove(&certs);
    return 0;
}

typedef struct cost {
    size_t held;   /* heap held after the handshake and one MQTT exchange */
    size_t peak;   /* highest heap during open, 0 when unknown */
    long after;    /* heap left after close (0; exact only under ASan) */
} cost;

/* Open, speak MQTT once, close; heap measured around it. */
static cost measure(const midge_tls_options *o, uint16_t port)
{
    static midge_tls tls; /* static, as an embedded user would keep it */
    midge_transport t;
    cost c = { 0 };

    /* Warm-up: first-use allocations of libc (resolver, stdio) are not
     * the connection's. */
    assert_int_equal(midge_tls_open(&tls, o, "localhost", port, OPEN_TIMEOUT_MS, &t), MIDGE_OK);
    t.close(t.ctx);

    size_t before = heap_now();
    peak = before;
    assert_int_equal(midge_tls_open(&tls, o, "localhost", port, OPEN_TIMEOUT_MS, &t), MIDGE_OK);
    assert_int_equal(fixture_mqtt_hello(&t), MIDGE_OK);
    c.held = heap_now() - before;
    c.peak = asan_current != NULL ? peak - before : 0;
    print_message("negotiated %s, %s\n", mbedtls_ssl_get_version(&tls.ssl),
                  mbedtls_ssl_get_ciphersuite(&tls.ssl));
    t.close(t.ctx);
    c.after = (long)heap_now() - (long)before;
    return c;
}

static void report(const char *what, const cost *c)
{
    print_message("%-28s sizeof(midge_tls) %zu B, heap held %zu B", what, sizeof(midge_tls),
                  c->held);
    if (c->peak > 0)
        print_message(", handshake peak %zu B", c->peak);
    else
        print_message(", handshake peak not measurable without ASan");
    print_message(", left after close %ld B\n", c->after);
}

static void test_connection_ram_server_auth(void **state)
{
    (void)state;
    midge_tls_options o = { .cafile = fixture_path(&certs, "ca.crt") };
    cost c = measure(&o, good.port);

    report("server-authenticated:", &c);
    if (!heap_counted())
        skip();
    assert_true(c.held > 0 && c.held < HELD_MAX);
    assert_true(c.peak < PEAK_MAX);
    if (asan_current != NULL)
        assert_int_equal(c.after, 0);
}

static void test_connection_ram_with_client_cert(void **state)
{
    (void)state;
    midge_tls_options o = {
        .cafile = fixture_path(&certs, "ca.crt"),
        .certfile = fixture_path(&certs, "client.crt"),
        .keyfile = fixture_path(&certs, "client.key"),
    };
    cost c = measure(&o, client_auth.port);

    report("with client certificate:", &c);
    if (!heap_counted())
        skip();
    assert_true(c.held > 0 && c.held < HELD_MAX);
    assert_true(c.peak < PEAK_MAX);
    if (asan_current != NULL)
        assert_int_equal(c.after, 0);
}

static void test_system_bundle_ram(void **state)
{
    (void)state;
    /* Not connectable (the test CA is not in it); only the load is
     * measured, to tell users what the default trust store costs. */
    static midge_tls tls;
    midge_transport t;
    midge_tls_options o = { 0 };
    size_t before = heap_now();

    peak = before;
    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    print_message("system CA bundle load:       heap peak %zu B (freed: %ld B left)\n",
                  asan_current != NULL ? peak - before : 0,
                  (long)heap_now() - (long)before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connection_ram_server_auth),
        cmocka_unit_test(test_connection_ram_with_client_cert),
        cmocka_unit_test(test_system_bundle_ram),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("tls_memory", tests, setup_all, teardown_all);
}
