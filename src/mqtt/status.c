/*
 * midge: status and malformed-reason strings.
 *
 * Both tables are expanded from the same X-macro lists as their enums
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
