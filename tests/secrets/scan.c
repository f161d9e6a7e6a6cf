/*
 * The secrets scan (scan.h).
 */
#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "secrets.h"
#include "test_output.h"

#define HEADER_SECRETS_MAX 16
#define SECRET_LEN_MAX 512

/* --- the registry ---------------------------------------------------------- */

struct registered {
    const char *value;
    const char *what;
};

#define SCAN_REGISTER(value, what) {value, what},
static const struct registered registry[] = {TEST_SECRETS(SCAN_REGISTER)};
#undef SCAN_REGISTER

/* Token shapes: what any OneNET token carries, whoever made it. */
static const struct {
    const char *needle;
    const char *what;
} token_shapes[] = {
    {"version=2018-10-31", "a OneNET token (its version=2018-10-31 parameter)"},
    {"&sign=", "a OneNET token (its &sign= parameter)"},
};

/* --- one file ---------------------------------------------------------------- */

struct capture {
    char subcommand[64];
    char streams[32];
    char secrets[HEADER_SECRETS_MAX][SECRET_LEN_MAX + 1];
    size_t secret_len[HEADER_SECRETS_MAX];
    size_t secret_count;
    const char *body;
    size_t body_len;
    size_t body_line; /* the file's line number of the body's first line */
};

static void copy_field(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void add_header_secret(struct capture *c, const char *hex, size_t len)
{
    size_t n = len / 2;
    if (c->secret_count == HEADER_SECRETS_MAX || n > SECRET_LEN_MAX || len % 2 != 0)
        return;
    char *out = c->secrets[c->secret_count];
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(hex[2 * i]);
        int lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return;
        out[i] = (char)(hi << 4 | lo);
    }
    out[n] = '\0';
    c->secret_len[c->secret_count++] = n;
}

/* Split a capture into its header fields and its body. A file without
 * the magic line (or whose header never ends) is all body. */
static void parse_capture(const char *data, size_t len, struct capture *c)
{
    size_t magic = strlen(TEST_OUTPUT_MAGIC);
    size_t off = magic;

    memset(c, 0, sizeof *c);
    c->body = data;
    c->body_len = len;
    c->body_line = 1;
    if (len < magic || memcmp(data, TEST_OUTPUT_MAGIC, magic) != 0)
        return;
    c->body_line = 2; /* after the magic line; one more per header line */
    while (off < len) {
        const char *line = data + off;
        const char *nl = memchr(line, '\n', len - off);
        if (nl == NULL)
            break;
        size_t n = (size_t)(nl - line);
        off += n + 1;
        c->body_line++;
        if (n + 1 == strlen(TEST_OUTPUT_END) && memcmp(line, TEST_OUTPUT_END, n) == 0) {
            c->body = data + off;
            c->body_len = len - off;
            return;
        }
        if (n > 12 && memcmp(line, "subcommand: ", 12) == 0)
            copy_field(c->subcommand, sizeof c->subcommand, line + 12, n - 12);
        else if (n > 9 && memcmp(line, "streams: ", 9) == 0)
            copy_field(c->streams, sizeof c->streams, line + 9, n - 9);
        else if (n > 8 && memcmp(line, "secret: ", 8) == 0)
            add_header_secret(c, line + 8, n - 8);
    }
    /* No end of header: scan everything, header included, rather than
     * nothing. */
    memset(c, 0, sizeof *c);
    c->body = data;
    c->body_len = len;
    c->body_line = 1;
}

static const char *find(const char *hay, size_t hay_len, const char *needle, size_t len)
{
    if (len == 0 || len > hay_len)
        return NULL;
    for (const char *p = hay; p + len <= hay + hay_len; p++) {
        p = memchr(p, needle[0], (size_t)(hay + hay_len - p) - len + 1);
        if (p == NULL)
            return NULL;
        if (memcmp(p, needle, len) == 0)
            return p;
    }
    return NULL;
}

/* Occurrences of needle in the body, and the file's line number of the
 * first. */
static size_t count_hits(const struct capture *c, const char *needle, size_t len, size_t *line)
{
    size_t hits = 0;
    const char *from = c->body;
    const char *end = c->body + c->body_len;

    *line = 0;
    for (;;) {
        const char *p = find(from, (size_t)(end - from), needle, len);
        if (p == NULL)
            return hits;
        if (hits++ == 0) {
            *line = c->body_line;
            for (const char *q = c->body; q < p; q++)
                *line += *q == '\n';
        }
        from = p + len;
    }
}

void scan_mask(const char *secret, size_t len, char *buf, size_t cap)
{
    size_t shown = len < 2 ? len : 2;
    size_t stars = len - shown < 8 ? len - shown : 8;
    char head[3] = "";
    char tail[9] = "";

    memcpy(head, secret, shown);
    head[shown] = '\0';
    memset(tail, '*', stars);
    tail[stars] = '\0';
    snprintf(buf, cap, "%s%s (%zu bytes)", head, tail, len);
}

static void report_secret(FILE *report, const char *path, size_t line, size_t hits,
                          const char *what, const char *secret, size_t len, scan_totals *t)
{
    char mask[64];

    scan_mask(secret, len, mask, sizeof mask);
    fprintf(report, "%s:%zu: %s %s, %zu time%s\n", path, line, what, mask, hits,
            hits == 1 ? "" : "s");
    t->findings++;
}

static bool registered(const char *secret, size_t len)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
        if (strlen(registry[i].value) == len && memcmp(registry[i].value, secret, len) == 0)
            return true;
    }
    return false;
}

static void scan_capture(const char *path, const struct capture *c, FILE *report,
                         scan_totals *t)
{
    size_t line = 0;
    size_t hits;

    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
        const char *v = registry[i].value;
        hits = count_hits(c, v, strlen(v), &line);
        if (hits > 0)
            report_secret(report, path, line, hits, registry[i].what, v, strlen(v), t);
    }
    for (size_t i = 0; i < c->secret_count; i++) {
        const char *v = c->secrets[i];
        size_t len = c->secret_len[i];
        /* A registered one was reported under its name already. */
        if (len < SCAN_SECRET_MIN || registered(v, len))
            continue;
        hits = count_hits(c, v, len, &line);
        if (hits > 0)
            report_secret(report, path, line, hits, "a credential the process was given", v,
                          len, t);
    }
    /* `midge token` prints its token on stdout: that one is wanted. */
    if (strcmp(c->subcommand, "token") == 0 && strcmp(c->streams, "stdout") == 0)
        return;
    for (size_t i = 0; i < sizeof token_shapes / sizeof token_shapes[0]; i++) {
        const char *needle = token_shapes[i].needle;
        hits = count_hits(c, needle, strlen(needle), &line);
        if (hits > 0) {
            fprintf(report, "%s:%zu: %s, %zu time%s\n", path, line, token_shapes[i].what, hits,
                    hits == 1 ? "" : "s");
            t->findings++;
        }
    }
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t cap = 0;

    *len = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (*len == cap) {
            size_t next = cap ? 2 * cap : 65536;
            char *grown = realloc(data, next);
            if (grown == NULL)
                break;
            data = grown;
            cap = next;
        }
        size_t n = fread(data + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0)
            break;
    }
    bool failed = ferror(f) != 0 || (*len == cap && !feof(f));
    fclose(f);
    if (failed) {
        free(data);
        return NULL;
    }
    return data != NULL ? data : calloc(1, 1);
}

int scan_file(const char *path, FILE *report, scan_totals *t)
{
    size_t len = 0;
    char *data = read_all(path, &len);
    /* Heap: about 8 KB of decoded header secrets. */
    struct capture *c = malloc(sizeof *c);

    if (data == NULL || c == NULL) {
        fprintf(report, "%s: cannot read: %s\n", path, strerror(errno));
        free(data);
        free(c);
        return -1;
    }
    parse_capture(data, len, c);
    t->files++;
    t->bytes += c->body_len;
    scan_capture(path, c, report, t);
    /* The decoded credentials are not left in freed memory. */
    memset(c, 0, sizeof *c);
    free(c);
    free(data);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int scan_dir(const char *dir, FILE *report, scan_totals *t)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;
    struct dirent *e;

    if (d == NULL)
        return errno == ENOENT ? 1 : -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (count == cap) {
            size_t next = cap ? 2 * cap : 256;
            char **grown = realloc(names, next * sizeof *names);
            if (grown == NULL) {
                rc = -1;
                break;
            }
            names = grown;
            cap = next;
        }
        names[count] = strdup(e->d_name);
        if (names[count] == NULL) {
            rc = -1;
            break;
        }
        count++;
    }
    closedir(d);
    if (count > 0)
        qsort(names, count, sizeof *names, compare_names);
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && scan_file(path, report, t) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}
