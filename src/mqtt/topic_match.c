/*
 * midge: matching a topic name against a topic filter (MQTT 3.1.1 section
 * 4.7).
 *
 * Not part of the client core (MIDGE_CORE_SOURCES): the broker does the
 * routing, and neither the codec nor the session ever matches a topic. An
 * application with several subscriptions uses it to route what arrives; the
 * device layer and the CLI do. It is its own list, MIDGE_MATCH_SOURCES.
 */
#include <stdbool.h>
#include <stddef.h>

#include "midge/codec.h"

/* End of the level starting at `at`: the index of the next '/' or `len`. */
static size_t level_end(const char *s, size_t len, size_t at)
{
    while (at < len && s[at] != '/')
        at++;
    return at;
}

static bool level_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    for (size_t i = 0; i < a_len; i++) {
        if (a[i] != b[i])
            return false;
    }
    return true;
}

bool midge_topic_matches(const char *filter, size_t filter_len, const char *topic,
                         size_t topic_len)
{
    if (filter == NULL || topic == NULL || filter_len == 0)
        return false;
    /* 4.7.2: topics beginning with '$' are not matched by a filter that
     * begins with a wildcard. */
    if (topic_len != 0 && topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;

    /* Walk level by level. A topic always has at least one level (an empty
     * one for ""), and "a/" has two: "a" and "". */
    size_t f = 0, t = 0;
    bool topic_left = true; /* a topic level starts at t */
    for (;;) {
        size_t fe = level_end(filter, filter_len, f);
        bool plus = (fe - f == 1 && filter[f] == '+');

        /* 4.7.1.2: '#' matches the parent level too, so "sport/#" matches
         * "sport" after the topic ran out. */
        if (fe - f == 1 && filter[f] == '#')
            return true;
        if (!topic_left)
            return false;

        size_t te = level_end(topic, topic_len, t);
        /* 4.7.1.3: '+' matches exactly one level, possibly empty. */
        if (!plus && !level_equal(filter + f, fe - f, topic + t, te - t))
            return false;

        bool filter_more = fe < filter_len;
        bool topic_more = te < topic_len;
        if (!filter_more)
            return !topic_more;
        f = fe + 1;
        if (topic_more)
            t = te + 1;
        else
            topic_left = false;
    }
}
