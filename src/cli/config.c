/*
 * midge CLI: configuration layers (see config.h).
 *
 * The layers are applied after getopt has seen every flag, so a flag always
 * wins whatever its position; then, option by option, the environment, and
 * only when the environment is silent, the file. The values go through the
 * same apply function as flags (options_table.c), so a value is checked the same
 * way wherever it comes from; only the error line's prefix says where.
 *
 * Which options are layered, under which names, how --print-config reads
 * and masks them: all of it comes from the option table (options_table.h), and
 * nothing here names an option.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "file_kind.h"

/* A config file is a few dozen short lines: anything near these sizes is
 * a wrong path (a log, a device), refused before it is read. A line may
 * still hold a path (PATH_MAX) or a long token. */
#define CLI_INI_FILE_MAX (1024L * 1024L)
#define CLI_INI_LINE_MAX 8192

/* Where a value came from, for precedence and for --print-config. */
enum cli_layer {
    CLI_LAYER_NONE = 0,
    CLI_LAYER_FLAG,
    CLI_LAYER_ENV,
    CLI_LAYER_FILE
};

struct cli_layer_record {
    enum cli_layer layer;
    size_t count;                       /* values taken (several for -t) */
    const char *values[CLI_MAX_TOPICS]; /* as given; "true" for a bare flag */
};

/* One "key = value" line of the file, copied out of inih's line buffer. */
struct cli_ini_entry {
    char *name;
    char *value;
    unsigned line;
};

struct cli_ini {
    const char *path;
    FILE *file;
    unsigned line; /* of the line inih is looking at (counted by our reader) */
    bool too_long; /* that line is longer than CLI_INI_LINE_MAX: reading stopped */
    struct cli_ini_entry *entries;
    size_t count;
    size_t cap;
    char err[256]; /* the handler's reason for refusing a line */
    const char *secret; /* first secret key seen, for the permission warning */
};

static struct cli_layer_record cli_records[CLI_OPTION_MAX];

/* The file's entries outlive the parse: options point at their values. A
 * static owner keeps them reachable until exit (no leak report). */
static struct cli_ini cli_file;

/* Options the environment and the file may set, and --print-config shows
 * one row each: all but the flags only a command line means (--help) and
 * the one naming the file, which has a layer of its own. */
static bool cli_is_layered(const struct cli_option *opt)
{
    return (opt->flags & (CLI_OPT_FLAG_ONLY | CLI_OPT_CONFIG_FILE)) == 0;
}

/* The index of the first entry with this long name (or, with name NULL,
 * with one of these flags); SIZE_MAX when there is none. */
static size_t cli_row_find(const char *name, unsigned flags)
{
    size_t n = cli_option_count();

    for (size_t i = 0; i < n; i++) {
        const struct cli_option *opt = cli_option_at(i);
        if (name != NULL ? strcmp(opt->long_name, name) == 0 : (opt->flags & flags) != 0)
            return i;
    }
    return SIZE_MAX;
}

static size_t cli_row_index(const char *name) { return cli_row_find(name, 0); }

static void cli_record(size_t i, enum cli_layer layer, const char *value)
{
    struct cli_layer_record *r = &cli_records[i];

    r->layer = layer;
    if (r->count < CLI_MAX_TOPICS)
        r->values[r->count++] = value ? value : "true";
}

void cli_layers_reset(void)
{
    memset(cli_records, 0, sizeof cli_records);
}

void cli_layers_note_flag(const struct cli_option *opt, const char *arg)
{
    cli_record((size_t)(opt - cli_option_at(0)), CLI_LAYER_FLAG, arg);
}

/* A note's user is the layer that gave the value. */
static void cli_note_layer(void *user, const struct cli_option *opt, const char *arg)
{
    const enum cli_layer *layer = user;

    cli_record((size_t)(opt - cli_option_at(0)), *layer, arg);
}

static enum cli_layer cli_flag_layer = CLI_LAYER_FLAG;
const struct cli_option_note cli_layers_flag_note = { cli_note_layer, &cli_flag_layer };

bool cli_layers_given(const char *long_name)
{
    size_t i = cli_row_index(long_name);

    return i != SIZE_MAX && cli_records[i].layer != CLI_LAYER_NONE;
}

/* Flag beats environment beats file (the enum's order); an option no
 * layer set is the weakest. */
static unsigned cli_layer_strength(const char *long_name)
{
    size_t i = cli_row_index(long_name);

    if (i == SIZE_MAX || cli_records[i].layer == CLI_LAYER_NONE)
        return 0;
    return (unsigned)(CLI_LAYER_FILE + 1 - cli_records[i].layer);
}

void cli_layers_forget(const char *long_name)
{
    size_t i = cli_row_index(long_name);

    if (i != SIZE_MAX)
        memset(&cli_records[i], 0, sizeof cli_records[i]);
}

bool cli_layers_outranks(const char *a, const char *b)
{
    return cli_layer_strength(a) > cli_layer_strength(b);
}

/* true/false, 1/0, yes/no, on/off, in any case. */
static bool cli_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "1", "yes", "on" };
    static const char *const no[] = { "false", "0", "no", "off" };

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Apply a value from the environment or the file, errors prefixed with
 * `where` so the user sees which line or variable to fix. *shown is the
 * value as --print-config writes it ("true"/"false" for a boolean). */
static bool cli_apply_layered(const struct cli_command *cmd, struct cli_options *o,
                              const struct cli_option *opt, const char *value,
                              enum cli_layer layer, const char *where, const char **shown)
{
    const struct cli_option_note note = { cli_note_layer, &layer };
    const char *prog = o->prog;
    bool on = false;
    bool ok;

    o->prog = where;
    *shown = value;
    if (opt->has_arg != no_argument) {
        ok = cli_option_apply(cmd, o, opt, value, &note);
    } else if (!cli_parse_bool(value, &on)) {
        cli_error(o->prog, "invalid value '%s' for %s (true or false)", value, opt->long_name);
        ok = false;
    } else {
        /* false means "not given": a flag has no way to be switched off. */
        ok = on ? cli_option_apply(cmd, o, opt, NULL, &note) : true;
        *shown = on ? "true" : "false";
    }
    o->prog = prog;
    return ok;
}

/* --- the INI file ----------------------------------------------------------- */

/* fgets that counts lines, so every entry (and every later error about its
 * value) can name its line; inih calls it once per line, with room for
 * CLI_INI_LINE_MAX bytes and the line's end. A line that does not fit
 * would come back in pieces, the rest read as lines of their own: it
 * stops the reading instead (inih takes NULL for the end of the file),
 * and cli_ini_load reports it. */
static char *cli_ini_reader(char *str, int num, void *stream)
{
    struct cli_ini *f = stream;

    if (f->too_long)
        return NULL;
    char *r = fgets(str, num, f->file);
    if (r == NULL)
        return NULL;
    f->line++;
    size_t len = strlen(r);
    if (len + 1 < (size_t)num || r[len - 1] == '\n')
        return r;
    /* Full without its '\n': whole only if the file ends right here. */
    int next = getc(f->file);
    if (next == EOF)
        return r;
    ungetc(next, f->file);
    f->too_long = true;
    return NULL;
}

static bool cli_ini_add(struct cli_ini *f, const char *name, const char *value)
{
    if (f->count == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        struct cli_ini_entry *v = realloc(f->entries, cap * sizeof *v);
        if (v == NULL)
            return false;
        f->entries = v;
        f->cap = cap;
    }
    struct cli_ini_entry *e = &f->entries[f->count];
    e->name = strdup(name);
    e->value = strdup(value);
    e->line = f->line;
    if (e->name == NULL || e->value == NULL) {
        free(e->name);
        free(e->value);
        return false;
    }
    f->count++;
    return true;
}

/* inih's handler: 0 stops the parse, and inih returns this line's number. */
static int cli_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    struct cli_ini *f = user;
    size_t i = cli_row_index(name);
    const struct cli_option *opt = i != SIZE_MAX ? cli_option_at(i) : NULL;

    if (strcmp(section, "midge") != 0) {
        if (section[0] == '\0')
            snprintf(f->err, sizeof f->err, "'%s' is outside the [midge] section", name);
        else
            snprintf(f->err, sizeof f->err, "unknown section [%s] (only [midge] is read)",
                     section);
        return 0;
    }
    if (opt == NULL || (opt->flags & CLI_OPT_FLAG_ONLY)) {
        snprintf(f->err, sizeof f->err, "unknown key '%s'", name);
        return 0;
    }
    if (opt->flags & CLI_OPT_CONFIG_FILE) {
        snprintf(f->err, sizeof f->err, "'%s' cannot name another file", opt->long_name);
        return 0;
    }
    if ((opt->flags & CLI_OPT_SECRET) && f->secret == NULL)
        f->secret = opt->long_name;
    if (!cli_ini_add(f, name, value)) {
        snprintf(f->err, sizeof f->err, "out of memory");
        return 0;
    }
    return 1;
}

/* A secret in a file others may read is worth a warning, not a refusal:
 * the file may be on a single-user system, and an error would stop a
 * device that has run fine for months. */
static void cli_ini_check_mode(const struct cli_options *o, const struct cli_ini *f)
{
    struct stat st;

    if (f->secret == NULL || fstat(fileno(f->file), &st) != 0)
        return;
    if ((st.st_mode & (S_IRGRP | S_IROTH)) == 0)
        return;
    cli_error(o->prog, "warning: config %s holds a secret (%s) and is readable by others; "
                       "run chmod 600 %s",
              f->path, f->secret, f->path);
}

/* Open the file only if it is a regular one of a sensible size: a
 * directory would read as empty, /dev/zero would never end, and a FIFO
 * would block the open itself (hence O_NONBLOCK, which regular files
 * ignore). One line and false otherwise. */
static bool cli_ini_open(struct cli_options *o, struct cli_ini *f, const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0) {
        cli_error(o->prog, "config %s: %s", path, strerror(errno));
        return false;
    }
    if (fstat(fd, &st) != 0) {
        cli_error(o->prog, "config %s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        cli_error(o->prog, "config %s is %s, not a regular file", path, cli_file_kind(st.st_mode));
    } else if (st.st_size > CLI_INI_FILE_MAX) {
        cli_error(o->prog, "config %s is larger than %ld bytes (1 MiB)", path, CLI_INI_FILE_MAX);
    } else if ((f->file = fdopen(fd, "r")) == NULL) {
        cli_error(o->prog, "config %s: %s", path, strerror(errno));
    } else {
        return true;
    }
    close(fd);
    return false;
}

static bool cli_ini_load(struct cli_options *o, struct cli_ini *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    if (!cli_ini_open(o, f, path))
        return false;
    /* A strict reading: the first problem is the one reported, a line is
     * read whole in one buffer (a longer one is refused, never split),
     * and no value continues on the next line (an indented line is a
     * mistake, not a continuation). '#' also starts a trailing comment,
     * as --print-config writes them. */
    ini_stop_on_first_error = true;
    ini_allow_multiline = false;
    ini_use_stack = false;
    ini_allow_realloc = false;
    ini_initial_alloc = CLI_INI_LINE_MAX + 3; /* the line, "\r\n" and the NUL */
    ini_max_line = CLI_INI_LINE_MAX + 3;
    ini_inline_comment_prefixes = ";#";
    int rc = ini_parse_stream(cli_ini_reader, f, cli_ini_handler, f);
    if (rc == 0 && f->too_long) {
        cli_error(o->prog, "config %s:%u: line longer than %d bytes", path, f->line,
                  CLI_INI_LINE_MAX);
        rc = -3;
    } else if (rc == 0) {
        cli_ini_check_mode(o, f);
    }
    fclose(f->file);
    f->file = NULL;
    if (rc == 0)
        return true;
    if (rc == -3)
        return false;
    if (rc > 0)
        cli_error(o->prog, "config %s:%d: %s", path, rc, f->err[0] ? f->err : "syntax error");
    else
        cli_error(o->prog, "config %s: cannot read it (%s)", path,
                  rc == -2 ? "out of memory" : "open failed");
    return false;
}

/* --- applying the layers ------------------------------------------------------- */

/* MIDGE_ + long name upper-cased with '-' as '_'. */
static void cli_env_name(const char *long_name, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "MIDGE_");

    for (const char *p = long_name; *p != '\0' && n + 1 < cap; p++)
        buf[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[n] = '\0';
}

/* An empty variable counts as unset: shells and unit files export empty
 * names easily, and an empty host or port is never what was meant. */
static const char *cli_env_value(const char *long_name, char *name, size_t cap)
{
    cli_env_name(long_name, name, cap);
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static bool cli_apply_env(const struct cli_command *cmd, struct cli_options *o, size_t i,
                          bool *taken)
{
    const struct cli_option *opt = cli_option_at(i);
    char name[80];
    char where[160];
    const char *v = cli_env_value(opt->long_name, name, sizeof name);

    *taken = v != NULL;
    if (v == NULL)
        return true;
    snprintf(where, sizeof where, "%s: %s", o->prog, name);
    if (!cli_apply_layered(cmd, o, opt, v, CLI_LAYER_ENV, where, &v))
        return false;
    cli_record(i, CLI_LAYER_ENV, v);
    return true;
}

static bool cli_apply_file(const struct cli_command *cmd, struct cli_options *o, size_t i)
{
    const struct cli_option *opt = cli_option_at(i);
    char where[PATH_MAX + 96];
    unsigned first = 0;

    for (size_t k = 0; k < cli_file.count; k++) {
        const struct cli_ini_entry *e = &cli_file.entries[k];
        if (strcmp(e->name, opt->long_name) != 0)
            continue;
        snprintf(where, sizeof where, "%s: config %s:%u", o->prog, cli_file.path, e->line);
        if (first != 0 && (opt->flags & CLI_OPT_REPEATABLE) == 0) {
            cli_error(where, "'%s' given twice (first on line %u)", e->name, first);
            return false;
        }
        if (first == 0)
            first = e->line;
        const char *shown = NULL;
        if (!cli_apply_layered(cmd, o, opt, e->value, CLI_LAYER_FILE, where, &shown))
            return false;
        cli_record(i, CLI_LAYER_FILE, shown);
    }
    return true;
}

/* --config from the flag, else MIDGE_CONFIG: the one option whose
 * environment layer is read before any file, since it names the file. */
static const char *cli_config_path(struct cli_options *o)
{
    char name[80];
    size_t i = cli_row_find(NULL, CLI_OPT_CONFIG_FILE);

    if (o->config_path != NULL || i == SIZE_MAX)
        return o->config_path;
    const char *v = cli_env_value(cli_option_at(i)->long_name, name, sizeof name);
    if (v != NULL)
        cli_record(i, CLI_LAYER_ENV, v);
    o->config_path = v;
    return v;
}

bool cli_layers_apply(const struct cli_command *cmd, struct cli_options *o)
{
    size_t n = cli_option_count();

    memset(&cli_file, 0, sizeof cli_file);
    if (cmd->groups & CLI_GROUP_CONFIG) {
        const char *path = cli_config_path(o);
        if (path != NULL && !cli_ini_load(o, &cli_file, path))
            return false;
    }
    for (size_t i = 0; i < n; i++) {
        const struct cli_option *opt = cli_option_at(i);
        if (!cli_option_accepted(cmd, opt) || !cli_is_layered(opt) ||
            cli_records[i].layer == CLI_LAYER_FLAG)
            continue;
        bool taken = false;
        if (!cli_apply_env(cmd, o, i, &taken))
            return false;
        if (!taken && !cli_apply_file(cmd, o, i))
            return false;
    }
    return true;
}

/* --- --print-config ------------------------------------------------------------- */

/* The effective value of an option no layer set; false = unset. */
static bool cli_field_value(const struct cli_options *o, const struct cli_option *opt,
                            char *buf, size_t cap)
{
    const char *base = (const char *)o + opt->offset;
    unsigned long long v = 0;
    switch (opt->kind) {
    case CLI_FIELD_NONE: return false;
    case CLI_FIELD_STR: {
        const char *s;
        memcpy(&s, base, sizeof s);
        if (s == NULL)
            s = opt->zero;
        if (s == NULL)
            return false;
        snprintf(buf, cap, "%s", s);
        return true;
    }
    case CLI_FIELD_BOOL:
    case CLI_FIELD_NOT_BOOL: {
        bool b;
        memcpy(&b, base, sizeof b);
        snprintf(buf, cap, "%s", b != (opt->kind == CLI_FIELD_NOT_BOOL) ? "true" : "false");
        return true;
    }
    case CLI_FIELD_U8: v = *(const uint8_t *)base; break;
    case CLI_FIELD_U16: { uint16_t x; memcpy(&x, base, sizeof x); v = x; break; }
    case CLI_FIELD_ULONG: { unsigned long x; memcpy(&x, base, sizeof x); v = x; break; }
    case CLI_FIELD_ULL: memcpy(&v, base, sizeof v); break;
    }
    if (v == 0 && opt->zero != NULL) {
        snprintf(buf, cap, "%s", opt->zero);
        return true;
    }
    if (v == 0 && opt->kind != CLI_FIELD_U8 && opt->kind != CLI_FIELD_U16)
        return false;
    snprintf(buf, cap, "%llu", v);
    return true;
}

static const char *cli_layer_note(enum cli_layer layer, const char *long_name, char *buf,
                                  size_t cap)
{
    char env[80];

    switch (layer) {
    case CLI_LAYER_FLAG: return "from flag";
    case CLI_LAYER_ENV:
        cli_env_name(long_name, env, sizeof env);
        snprintf(buf, cap, "from env %s", env);
        return buf;
    case CLI_LAYER_FILE:
        snprintf(buf, cap, "from config %s", cli_file.path ? cli_file.path : "");
        return buf;
    default: return "default";
    }
}

static void cli_print_line(const struct cli_option *opt, const char *value, const char *note)
{
    /* A masked secret says that one is set, never what it is. */
    if (opt->flags & CLI_OPT_SECRET)
        value = "********";
    printf("%s = %s  # %s\n", opt->long_name, value, note);
}

static void cli_print_option(const struct cli_options *o, size_t i)
{
    const struct cli_option *opt = cli_option_at(i);
    const struct cli_layer_record *r = &cli_records[i];
    char note[PATH_MAX + 32];
    char value[64];

    if (r->layer != CLI_LAYER_NONE) {
        const char *what = cli_layer_note(r->layer, opt->long_name, note, sizeof note);
        for (size_t k = 0; k < r->count; k++)
            cli_print_line(opt, r->values[k], what);
        return;
    }
    /* An option no one field holds (-t, -m) has no value of its own; a
     * default, even one derived from other options, has. */
    if (cli_field_value(o, opt, value, sizeof value))
        cli_print_line(opt, value, "default");
    else
        printf("# %s =\n", opt->long_name);
}

void cli_layers_print(const struct cli_command *cmd, const struct cli_options *o)
{
    size_t n = cli_option_count();

    printf("# midge %s: effective configuration (flag > environment > config file)\n",
           cmd->name);
    if (o->config_path != NULL)
        printf("# config file: %s\n", o->config_path);
    printf("[midge]\n");
    for (size_t i = 0; i < n; i++) {
        const struct cli_option *opt = cli_option_at(i);
        if (cli_option_accepted(cmd, opt) && cli_is_layered(opt))
            cli_print_option(o, i);
    }
}
