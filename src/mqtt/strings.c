/*
 * midge: human-readable text for status codes and malformed reasons.
 *
 * Not part of the client core (MIDGE_CORE_SOURCES): nothing in the codec or
 * the session needs a description to speak MQTT, and the text is the
 * largest single item a microcontroller build would otherwise carry. It is
 * its own list, MIDGE_STRINGS_SOURCES, which the POSIX library, the device
 * layer and the CLI link; a firmware that prints numbers only leaves it out,
 * and then these three functions simply do not exist (a link error, never a
 * silent wrong string).
 *
 * Every table is expanded from the X-macro lists next to the enums
 * (status.h, codec.h), so adding a code adds its text and name with it.
 */
#include "midge/codec.h"
#include "midge/status.h"

const char *midge_strerror(int status)
{
    switch (status) {
#define MIDGE_STATUS_TEXT(name, value, text) \
    case (value):                            \
        return (text);
        MIDGE_STATUS_LIST(MIDGE_STATUS_TEXT)
#undef MIDGE_STATUS_TEXT
    default:
        return "unknown status";
    }
}

const char *midge_status_name(int status)
{
    switch (status) {
#define MIDGE_STATUS_NAME(name, value, text) \
    case (value):                            \
        return #name;
        MIDGE_STATUS_LIST(MIDGE_STATUS_NAME)
#undef MIDGE_STATUS_NAME
    default:
        return "MIDGE_UNKNOWN";
    }
}

const char *midge_malformed_str(midge_malformed reason)
{
    /* A switch rather than an indexed array: an out-of-range value read from
     * a corrupted struct must not index past a table. */
    switch (reason) {
#define MIDGE_MALFORMED_TEXT(name, text) \
    case name:                           \
        return (text);
        MIDGE_MALFORMED_LIST(MIDGE_MALFORMED_TEXT)
#undef MIDGE_MALFORMED_TEXT
    }
    return "unknown reason";
}
