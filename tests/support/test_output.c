/*
 * Capture files of the `midge` processes the tests start (test_output.h).
 */
#include "test_output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRETS_MAX 16
#define SECRET_LEN_MAX 512
#define HEADER_MAX 16384
#define NAME_TRIES 1000

struct secret_list {
    char values[SECRETS_MAX][SECRET_LEN_MAX + 1];
    size_t count;
};

/* Later captures of this process get later numbers, so names never clash
 * even for two children started in the same millisecond. */
static atomic_uint output_seq;

/* The environment wins over the build's default, so that a test of the
 * scanner can capture into a directory of its own. */
static const char *output_dir(void)
{
    const char *env = getenv("MIDGE_TEST_OUTPUT_DIR");
    if (env != NULL && env[0] != '\0')
        return env;
#ifdef MIDGE_TEST_OUTPUT_DIR
    return MIDGE_TEST_OUTPUT_DIR;
#else
    return NULL;
#endif
}

static void program_name(char *buf, size_t cap)
{
    char path[512];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) {
        snprintf(buf, cap, "test");
        return;
    }
    path[n] = '\0';
    const char *slash = strrchr(path, '/');
    /* Executable names are short; the precision keeps the bound visible. */
    snprintf(buf, cap, "%.200s", slash != NULL ? slash + 1 : path);
}

static void add_secret(struct secret_list *s, const char *value, size_t len)
{
    if (len == 0 || s->count == SECRETS_MAX)
        return;
    if (len > SECRET_LEN_MAX)
        len = SECRET_LEN_MAX;
    for (size_t i = 0; i < s->count; i++) {
        if (strlen(s->values[i]) == len && memcmp(s->values[i], value, len) == 0)
            return;
    }
    memcpy(s->values[s->count], value, len);
    s->values[s->count][len] = '\0';
    s->count++;
}

static bool is_secret_key(const char *key, size_t len)
{
    return (len == 8 && memcmp(key, "password", 8) == 0) ||
           (len == 10 && memcmp(key, "device-key", 10) == 0) ||
           (len == 7 && memcmp(key, "api-key", 7) == 0);
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && strchr(" \t\r\n", (*s)[*len - 1]) != NULL)
        (*len)--;
}

/* "password = x" and "device-key = x" lines of an INI file the child
 * reads: the config layer is one more way a test hands over a secret. */
static void add_config_secrets(struct secret_list *s, const char *path)
{
    char line[1024];
    struct stat st;
    /* Only what midge itself would read: a test may name a directory,
     * /dev/zero or a FIFO as the file, to see it refused. */
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *eq = strchr(line, '=');
        if (eq == NULL)
            continue;
        const char *key = line;
        size_t key_len = (size_t)(eq - line);
        const char *value = eq + 1;
        size_t value_len = strlen(value);
        /* As the config reader does: a comment may follow a value after
         * white space. */
        for (size_t i = 1; i < value_len; i++) {
            bool after_space = value[i - 1] == ' ' || value[i - 1] == '\t';
            if (after_space && (value[i] == '#' || value[i] == ';')) {
                value_len = i;
                break;
            }
        }
        trim(&key, &key_len);
        trim(&value, &value_len);
        if (is_secret_key(key, key_len))
            add_secret(s, value, value_len);
    }
    fclose(f);
}

/* The value a secret-bearing option takes from this word or the next:
 * "-P x", "-Px", "--password x", "--password=x", same for --device-key and
 * --api-key.
 * *consumed tells whether the next word was the value. */
static const char *secret_value(const char *word, const char *next, bool *consumed)
{
    static const char *const longs[] = {"--password", "--device-key", "--api-key"};
    *consumed = false;
    if (strcmp(word, "-P") == 0) {
        *consumed = next != NULL;
        return next;
    }
    if (strncmp(word, "-P", 2) == 0)
        return word + 2;
    for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++) {
        size_t n = strlen(longs[i]);
        if (strncmp(word, longs[i], n) != 0)
            continue;
        if (word[n] == '\0') {
            *consumed = next != NULL;
            return next;
        }
        if (word[n] == '=')
            return word + n + 1;
    }
    return NULL;
}

static void collect_secrets(char *const argv[], struct secret_list *s)
{
    static const char *const env_secrets[] = {"MIDGE_PASSWORD", "MIDGE_DEVICE_KEY",
                                               "MIDGE_API_KEY"};
    const char *config = getenv("MIDGE_CONFIG");

    for (size_t i = 0; argv[i] != NULL; i++) {
        bool consumed = false;
        const char *v = secret_value(argv[i], argv[i + 1], &consumed);
        if (v != NULL)
            add_secret(s, v, strlen(v));
        if (strcmp(argv[i], "--config") == 0 && argv[i + 1] != NULL)
            config = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config = argv[i] + 9;
        i += consumed;
    }
    /* The child inherits this process's environment as it is now. */
    for (size_t i = 0; i < sizeof env_secrets / sizeof env_secrets[0]; i++) {
        const char *v = getenv(env_secrets[i]);
        if (v != NULL)
            add_secret(s, v, strlen(v));
    }
    if (config != NULL)
        add_config_secrets(s, config);
}

static bool holds_secret(const char *word, const struct secret_list *s)
{
    for (size_t i = 0; i < s->count; i++) {
        if (strstr(word, s->values[i]) != NULL)
            return true;
    }
    return false;
}

/* Append printf-style to buf[*len, cap); what does not fit is dropped. */
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;

    if (*len + 1 >= cap)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

static size_t make_header(char *buf, size_t cap, char *const argv[], const char *streams,
                          const struct secret_list *s)
{
    char prog[256];
    size_t len = 0;

    program_name(prog, sizeof prog);
    put(buf, cap, &len, "%s", TEST_OUTPUT_MAGIC);
    put(buf, cap, &len, "program: %s (pid %ld)\n", prog, (long)getpid());
    put(buf, cap, &len, "subcommand: %s\n", argv[1] != NULL ? argv[1] : "");
    put(buf, cap, &len, "streams: %s\ncommand:", streams);
    for (size_t i = 0; argv[i] != NULL; i++) {
        /* A word holding a credential is shown only as being there. */
        put(buf, cap, &len, " %s", holds_secret(argv[i], s) ? "********" : argv[i]);
    }
    put(buf, cap, &len, "\n");
    for (size_t i = 0; i < s->count; i++) {
        put(buf, cap, &len, "secret: ");
        for (const char *c = s->values[i]; *c != '\0'; c++)
            put(buf, cap, &len, "%02x", (unsigned)(unsigned char)*c);
        put(buf, cap, &len, "\n");
    }
    /* Cut short or not, the header ends where the scanner expects it. */
    if (len + sizeof TEST_OUTPUT_END > cap)
        len = cap - sizeof TEST_OUTPUT_END;
    put(buf, cap, &len, "%s", TEST_OUTPUT_END);
    return len;
}

static int create_file(const char *dir)
{
    char prog[256];
    char path[4096];

    /* The directory is removed at the start of a ctest run; whichever
     * capture comes first makes it again. */
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    program_name(prog, sizeof prog);
    for (int tries = 0; tries < NAME_TRIES; tries++) {
        unsigned seq = atomic_fetch_add(&output_seq, 1u);
        snprintf(path, sizeof path, "%s/%s.%ld.%u.log", dir, prog, (long)getpid(), seq);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

int test_output_open(char *const argv[], const char *streams)
{
    const char *dir = output_dir();
    struct secret_list *secrets = NULL;
    char *header = NULL;
    int fd = -1;

    if (dir == NULL || argv == NULL || argv[0] == NULL)
        return -1;
    /* Heap, not stack: together they are about 24 KB. */
    secrets = calloc(1, sizeof *secrets);
    header = malloc(HEADER_MAX);
    if (secrets == NULL || header == NULL)
        goto done;
    fd = create_file(dir);
    if (fd < 0)
        goto done;
    collect_secrets(argv, secrets);
    test_output_write(fd, header, make_header(header, HEADER_MAX, argv, streams, secrets));

done:
    free(secrets);
    free(header);
    return fd;
}

void test_output_write(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (fd >= 0 && len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

void test_output_copy_and_close(int fd, int src)
{
    char buf[8192];
    off_t off = 0;

    if (fd < 0)
        return;
    for (;;) {
        ssize_t n = pread(src, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        test_output_write(fd, buf, (size_t)n);
        off += n;
    }
    test_output_close(fd);
}

void test_output_close(int fd)
{
    if (fd >= 0)
        close(fd);
}
