/*
 * Cases whose expectation is Mosquitto's policy rather than MQTT 3.1.1's,
 * where midge deliberately behaves otherwise. Each entry says what midge
 * does instead and the section of the specification that allows it; the
 * runner checks that outcome, so a deviation is still a tested behaviour.
 */
#ifndef CONFORMANCE_DEVIATIONS_H
#define CONFORMANCE_DEVIATIONS_H

#include <stdbool.h>

#include "cases.h"
#include "target.h"

#define DEVIATION_LIB 1u
#define DEVIATION_CLI 2u
#define DEVIATION_BOTH (DEVIATION_LIB | DEVIATION_CLI)

typedef struct deviation {
    const char *group;
    const char *name; /* as in the file, trailing spaces left out */
    unsigned modes;   /* DEVIATION_LIB and/or DEVIATION_CLI */
    bool alive;       /* midge stays connected (true) or disconnects (false) */
    const char *reason;
    const char *section;
} deviation;

/* The entry for this case in this mode, or NULL. */
const deviation *deviation_find(const conf_case *c, target_mode mode);

#endif /* CONFORMANCE_DEVIATIONS_H */
