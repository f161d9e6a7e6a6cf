/*
 * Conformance case files -> resolved cases.
 *
 * A file is a JSON array of groups; each group holds tests. A test's own keys
 * (connect, connack, expect_disconnect, command, ver, clean_start,
 * group_msgs) override its group's; absent from both, connect, connack,
 * expect_disconnect and clean_start default to true and command to none
 * (../shared/conformance/README.md, "How a case runs"). Payloads are turned
 * into bytes here, so a case that loads is ready to replay.
 *
 * Memory: cases_load() allocates; cases_free() releases everything.
 */
#ifndef CONFORMANCE_CASES_H
#define CONFORMANCE_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum case_dir {
    CASE_SEND, /* the broker sends these bytes */
    CASE_RECV  /* the broker must receive exactly these bytes */
} case_dir;

typedef struct case_msg {
    case_dir dir;
    uint8_t *bytes;
    size_t len;
} case_msg;

typedef struct case_msgs {
    case_msg *items;
    size_t count;
} case_msgs;

typedef struct conf_case {
    char *group;
    char *name;
    int index; /* 1-based position in its group: names repeat inside a group */
    int ver;   /* 3, 4 or 5; 0 when neither the test nor its group says */
    int group_ver; /* the group's own "ver", 0 when absent */
    bool connect;
    bool connack;
    bool expect_disconnect;
    bool clean_session;
    char *command; /* NULL = none */
    case_msgs group_msgs;
    case_msgs msgs;
} conf_case;

typedef struct case_file {
    conf_case *cases;
    size_t count;
} case_file;

/* Load and resolve every test of every group (all versions: filtering is the
 * caller's choice). Returns false with a message in `err`. */
bool cases_load(const char *path, case_file *out, char *err, size_t err_cap);

void cases_free(case_file *file);

#endif /* CONFORMANCE_CASES_H */
