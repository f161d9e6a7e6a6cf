/*
 * Helpers shared by the device-layer tests (test_device*.c): building
 * incoming messages and comparing the device's outputs byte for byte.
 */
#ifndef TEST_DEVICE_UTIL_H
#define TEST_DEVICE_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "midge/device.h"

/* Room for every output of the default topics; tests that want a small
 * buffer make their own. */
#define ARENA_SIZE 1024

typedef struct fixture {
    midge_device dev;
    midge_device_config cfg;
    midge_device_out out;
    uint8_t arena[ARENA_SIZE];
} fixture;

static inline midge_publish incoming_bytes(const char *topic, const void *payload, size_t len)
{
    midge_publish m;

    memset(&m, 0, sizeof m);
    m.topic = topic;
    m.topic_len = (uint16_t)strlen(topic);
    m.payload = payload;
    m.payload_len = len;
    return m;
}

static inline midge_publish incoming(const char *topic, const char *payload)
{
    return incoming_bytes(topic, payload, strlen(payload));
}

static inline void fixture_start(fixture *f)
{
    const char *why = NULL;

    if (midge_device_init(&f->dev, &f->cfg, &why) != MIDGE_OK)
        fail_msg("midge_device_init: %s", why);
    midge_device_out_init(&f->out, f->arena, sizeof f->arena);
}

static inline midge_status deliver(fixture *f, const char *topic, const char *payload)
{
    midge_publish m = incoming(topic, payload);

    return midge_device_handle(&f->dev, &m, &f->out);
}

/* Message i of `out` has exactly this topic, payload, QoS and retain flag,
 * and its topic is NUL-terminated. */
static inline void expect_msg_bytes(const midge_device_out *out, size_t i, const char *topic,
                                    const void *payload, size_t len, uint8_t qos, bool retain)
{
    assert_true(i < out->msg_count);
    const midge_publish *m = &out->msgs[i];
    assert_int_equal(m->topic_len, strlen(topic));
    assert_memory_equal(m->topic, topic, m->topic_len);
    assert_int_equal(m->topic[m->topic_len], '\0');
    assert_int_equal(m->payload_len, len);
    if (len != 0)
        assert_memory_equal(m->payload, payload, len);
    assert_int_equal(m->qos, qos);
    assert_int_equal(m->retain, retain);
    assert_int_equal(m->packet_id, 0);
    assert_false(m->dup);
}

static inline void expect_msg(const midge_device_out *out, size_t i, const char *topic,
                              const char *payload, uint8_t qos, bool retain)
{
    expect_msg_bytes(out, i, topic, payload, strlen(payload), qos, retain);
}

static inline void expect_sub(const midge_device_out *out, size_t i, const char *filter,
                              uint8_t qos)
{
    assert_true(i < out->sub_count);
    assert_string_equal(out->subs[i].filter, filter);
    assert_int_equal(out->subs[i].qos, qos);
}

static inline void expect_log(const midge_device_out *out, midge_device_log_level level,
                              const char *needle)
{
    assert_int_equal(out->log_level, level);
    if (strstr(out->log, needle) == NULL)
        fail_msg("log line \"%s\" lacks \"%s\"", out->log, needle);
}

#endif /* TEST_DEVICE_UTIL_H */
