/*
 * Conformance runner: replays every MQTT 3.1.1 case of one case file from
 * ../shared/conformance/mosquitto-client-cases through a fake broker, against
 * the client library (lib) or the `midge` command-line tool (cli).
 *
 *   conformance_runner lib|cli FILE [--only TEXT] [--verbose]
 *
 * FILE is a case file's base name ("PUBLISH") or a path. One line per case:
 * PASS, FAIL (with the reason), SKIP or DEVIATES, then a summary. Exit
 * status: 0 when nothing failed, 1 otherwise, 77 (ctest's skip) when the
 * shared folder is not there.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cases.h"
#include "deviations.h"
#include "fake_broker.h"
#include "loopback.h"
#include "target.h"

#define EXIT_SKIPPED 77
#define CASES_DIR MIDGE_SHARED_DIR "/conformance/mosquitto-client-cases"

/* Bounded wait for the client to connect at all, watched in slices so that
 * a client that dies before connecting fails its case at once. */
#define ACCEPT_MS 5000
#define ACCEPT_SLICE_MS 50

typedef struct tally {
    int passed;
    int failed;
    int skipped;
    int deviates;
    int other_versions;
} tally;

typedef struct options {
    target_mode mode;
    const char *file;
    const char *only; /* run only cases whose name contains this */
    bool verbose;     /* show what the client said for every case */
} options;

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s lib|cli FILE [--only TEXT] [--verbose]\n", prog);
}

static bool parse_options(int argc, char **argv, options *opt)
{
    opt->only = NULL;
    opt->verbose = false;
    if (argc < 3) {
        return false;
    }
    if (strcmp(argv[1], "lib") == 0) {
        opt->mode = TARGET_LIB;
    } else if (strcmp(argv[1], "cli") == 0) {
        opt->mode = TARGET_CLI;
    } else {
        return false;
    }
    opt->file = argv[2];
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            opt->only = argv[++i];
        } else if (strcmp(argv[i], "--verbose") == 0) {
            opt->verbose = true;
        } else {
            return false;
        }
    }
    return true;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Names in the files carry trailing spaces ("10 ok "); lines show them
 * trimmed, with the position in the group because names repeat. */
static void print_case(const char *verdict, const conf_case *c)
{
    int len = (int)strlen(c->name);
    while (len > 0 && c->name[len - 1] == ' ') {
        len--;
    }
    printf("%-8s %s #%d: %.*s", verdict, c->group, c->index, len, c->name);
}

/* Indented, so a client's output stands apart from the verdict lines. */
static void print_detail(const char *label, const char *text)
{
    if (text[0] == '\0') {
        return;
    }
    printf("         %s: ", label);
    for (const char *p = text; *p != '\0'; p++) {
        putchar(*p);
        if (*p == '\n' && p[1] != '\0') {
            printf("           ");
        }
    }
    if (text[strlen(text) - 1] != '\n') {
        putchar('\n');
    }
}

/* The client's connection, or -1 with the reason in `why`. */
static int accept_client(int listener, const target *t, char *why, size_t why_cap)
{
    bool running = true;
    for (int waited = 0; waited < ACCEPT_MS; waited += ACCEPT_SLICE_MS) {
        running = target_running(t);
        /* A client that connected and then died still left its connection
         * in the backlog: take it, the conversation tells what happened. */
        int fd = loopback_accept(listener, running ? ACCEPT_SLICE_MS : 0);
        if (fd >= 0) {
            return fd;
        }
        if (!running) {
            break;
        }
    }
    if (running) {
        snprintf(why, why_cap, "the client did not connect within %d ms", ACCEPT_MS);
    } else {
        snprintf(why, why_cap, "the client exited without connecting");
    }
    return -1;
}

/* One case: listener, client, conversation, then the client's end. */
static bool run_case(target_mode mode, const conf_case *c, broker_expect expect, char *why,
                     size_t why_cap, char *detail, size_t detail_cap)
{
    uint16_t port;
    target t;
    char end_why[256];
    detail[0] = '\0';
    /* A fresh listener per case: a client still retrying from the previous
     * case can never be mistaken for this one's. */
    int listener = loopback_listen(&port);
    if (listener < 0) {
        snprintf(why, why_cap, "cannot listen on 127.0.0.1");
        return false;
    }
    if (!target_start(&t, mode, c, port, why, why_cap)) {
        close(listener);
        target_finish(&t, end_why, sizeof end_why, detail, detail_cap);
        return false;
    }
    bool ok = false;
    int fd = accept_client(listener, &t, why, why_cap);
    if (fd >= 0) {
        ok = fake_broker_run(fd, c, expect, why, why_cap);
        close(fd);
    }
    close(listener);
    /* The process verdict comes last but outranks the conversation's: a
     * crash after the right bytes is still a crash. */
    if (!target_finish(&t, end_why, sizeof end_why, detail, detail_cap)) {
        if (ok) {
            snprintf(why, why_cap, "%s", end_why);
        } else {
            size_t used = strlen(why);
            snprintf(why + used, why_cap - used, "; then %s", end_why);
        }
        return false;
    }
    return ok;
}

static void run_one(const options *opt, const conf_case *c, tally *t)
{
    char why[768];
    char detail[2048];
    const char *unsupported = target_unsupported(opt->mode, c);
    if (c->ver != 4) {
        print_case("SKIP", c);
        printf(" (ver %d: not MQTT 3.1.1)\n", c->ver);
        t->skipped++;
        return;
    }
    if (unsupported != NULL) {
        print_case("SKIP", c);
        printf(" (%s)\n", unsupported);
        t->skipped++;
        return;
    }
    const deviation *dev = deviation_find(c, opt->mode);
    broker_expect expect = c->expect_disconnect ? EXPECT_DISCONNECT : EXPECT_ALIVE;
    if (dev != NULL) {
        expect = dev->alive ? EXPECT_ALIVE : EXPECT_DISCONNECT;
    }
    bool ok = run_case(opt->mode, c, expect, why, sizeof why, detail, sizeof detail);
    if (!ok) {
        print_case("FAIL", c);
        printf(": %s%s\n", why, dev != NULL ? " (even with its deviation)" : "");
        print_detail(opt->mode == TARGET_LIB ? "client calls" : "client output", detail);
        t->failed++;
        return;
    }
    if (dev != NULL) {
        print_case("DEVIATES", c);
        printf(": %s: %s (%s)\n", dev->alive ? "stays connected" : "disconnects", dev->reason,
               dev->section);
        if (opt->verbose) {
            print_detail(opt->mode == TARGET_LIB ? "client calls" : "client output", detail);
        }
        t->deviates++;
        return;
    }
    print_case("PASS", c);
    putchar('\n');
    if (opt->verbose) {
        print_detail(opt->mode == TARGET_LIB ? "client calls" : "client output", detail);
    }
    t->passed++;
}

static void case_path(const char *file, char *path, size_t cap)
{
    if (strchr(file, '/') != NULL) {
        snprintf(path, cap, "%s", file);
    } else {
        snprintf(path, cap, "%s/%s.json", CASES_DIR, file);
    }
}

int main(int argc, char **argv)
{
    options opt;
    char path[1024];
    char err[256];
    case_file cases;
    tally t = {0, 0, 0, 0, 0};
    if (!parse_options(argc, argv, &opt)) {
        usage(argv[0]);
        return 2;
    }
    if (!is_dir(MIDGE_SHARED_DIR "/conformance")) {
        printf("notice: %s/conformance is not there; conformance cases skipped\n",
               MIDGE_SHARED_DIR);
        return EXIT_SKIPPED;
    }
    /* Writes to a client that hung up must fail with EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    target_setup_environment();
    case_path(opt.file, path, sizeof path);
    if (!cases_load(path, &cases, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", path, err);
        return 1;
    }
    const char *mode_name = opt.mode == TARGET_LIB ? "lib" : "cli";
    for (size_t i = 0; i < cases.count; i++) {
        const conf_case *c = &cases.cases[i];
        /* Whole groups of other versions are not midge's (README: only
         * "ver": 4 applies); they are counted, not listed. */
        if (c->group_ver != 4) {
            t.other_versions++;
            continue;
        }
        if (opt.only != NULL && strstr(c->name, opt.only) == NULL) {
            continue;
        }
        run_one(&opt, c, &t);
        fflush(stdout);
    }
    printf("%s %s: %d passed, %d failed, %d skipped, %d deviate; %d cases of other versions "
           "not run\n",
           mode_name, opt.file, t.passed, t.failed, t.skipped, t.deviates, t.other_versions);
    cases_free(&cases);
    return t.failed > 0 ? 1 : 0;
}
