/*
 * The deviation table (see deviations.h). Keep it short: an entry needs a
 * section of MQTT 3.1.1 that leaves the behaviour to the client.
 */
#include "deviations.h"

#include <string.h>

/* Control characters are well-formed UTF-8. Section 1.5.3 only says a
 * receiver MAY close the connection on them; midge's topic check
 * (midge_utf8_valid) refuses what the section forbids outright (U+0000,
 * surrogates, malformed and overlong forms) and delivers the rest, so a
 * broker's odd but valid topic does not cost a device its connection. */
#define CONTROL_CHARACTER_REASON                                                         \
    "a control character in a topic name is well-formed UTF-8; the receiver MAY close, " \
    "need not, and midge delivers the message"

static const deviation table[] = {
    {"v3.1.1 PUBLISH", "30 topic with U+0001", DEVIATION_BOTH, true, CONTROL_CHARACTER_REASON,
     "MQTT 3.1.1 section 1.5.3"},
    {"v3.1.1 PUBLISH", "30 topic with U+001F", DEVIATION_BOTH, true, CONTROL_CHARACTER_REASON,
     "MQTT 3.1.1 section 1.5.3"},
    {"v3.1.1 PUBLISH", "30 topic with U+007F", DEVIATION_BOTH, true, CONTROL_CHARACTER_REASON,
     "MQTT 3.1.1 section 1.5.3"},
    {"v3.1.1 PUBLISH", "30 topic with U+009F", DEVIATION_BOTH, true, CONTROL_CHARACTER_REASON,
     "MQTT 3.1.1 section 1.5.3"},
    {NULL, NULL, 0, false, NULL, NULL},
};

/* Names in the files may end in spaces; the table's do not. */
static bool same_name(const char *file_name, const char *table_name)
{
    size_t len = strlen(table_name);
    if (strncmp(file_name, table_name, len) != 0) {
        return false;
    }
    for (const char *p = file_name + len; *p != '\0'; p++) {
        if (*p != ' ') {
            return false;
        }
    }
    return true;
}

const deviation *deviation_find(const conf_case *c, target_mode mode)
{
    unsigned bit = mode == TARGET_LIB ? DEVIATION_LIB : DEVIATION_CLI;
    for (size_t i = 0; table[i].group != NULL; i++) {
        const deviation *d = &table[i];
        if ((d->modes & bit) != 0 && strcmp(c->group, d->group) == 0 &&
            same_name(c->name, d->name)) {
            return d;
        }
    }
    return NULL;
}
