/*
 * midge CLI: configuration layers (see config.h).
 *
 * The layers are applied after getopt has seen every flag, so a flag always
 * wins whatever its position; then, option by option, the environment, and
 * only when the environment is silent, the file. The values go through the
 * same apply function as flags (options.c), so a value is checked the same
 * way wherever it comes from; only the error line's prefix says where.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "cli.h"
#include "config.h"

/* Where a value came from, for precedence and for --print-config. */
enum cli_layer {
    CLI_LAYER_NONE = 0,
    CLI_LAYER_FLAG,
    CLI_LAYER_ENV,
    CLI_LAYER_FILE
};

/* Enough for the whole option table with room to grow; checked at run time. */
#define CLI_LAYER_MAX_OPTIONS 96

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
    struct cli_ini_entry *entries;
    size_t count;
    size_t cap;
    char err[256]; /* the handler's reason for refusing a line */
    const char *secret; /* first secret key seen, for the permission warning */
};

static struct cli_layer_record cli_records[CLI_LAYER_MAX_OPTIONS];

/* The file's entries outlive the parse: options point at their values. A
 * static owner keeps them reachable until exit (no leak report). */
static struct cli_ini cli_file;

/* Keys that hold credentials: masked by --print-config, and the reason a
 * loosely-permitted file draws a warning. */
static bool cli_is_secret(const char *name)
{
    return strcmp(name, "password") == 0 || strcmp(name, "device-key") == 0;
}

/* Flags that only make sense on a command line. */
static bool cli_flag_only(const char *name)
{
    return strcmp(name, "help") == 0 || strcmp(name, "version") == 0 ||
           strcmp(name, "print-config") == 0;
}

static bool cli_is_repeatable(int key) { return key == 't'; }

static size_t cli_option_index(const char *name, struct cli_option_info *info)
{
    size_t n = cli_option_count();

    for (size_t i = 0; i < n; i++) {
        cli_option_info_at(NULL, i, info);
        if (strcmp(info->long_name, name) == 0)
            return i;
    }
    return SIZE_MAX;
}

static void cli_record(size_t i, enum cli_layer layer, const char *value)
{
    struct cli_layer_record *r = &cli_records[i];

    if (i >= CLI_LAYER_MAX_OPTIONS)
        return;
    r->layer = layer;
    if (r->count < CLI_MAX_TOPICS)
        r->values[r->count++] = value ? value : "true";
}

void cli_layers_reset(void)
{
    memset(cli_records, 0, sizeof cli_records);
}

void cli_layers_note_flag(const struct cli_command *cmd, int key, const char *arg)
{
    size_t n = cli_option_count();
    struct cli_option_info info;

    for (size_t i = 0; i < n; i++) {
        cli_option_info_at(cmd, i, &info);
        if (info.key == key && info.accepted) {
            cli_record(i, CLI_LAYER_FLAG, arg);
            return;
        }
    }
}

bool cli_layers_given(const char *long_name)
{
    struct cli_option_info info;
    size_t i = cli_option_index(long_name, &info);

    return i < CLI_LAYER_MAX_OPTIONS && cli_records[i].layer != CLI_LAYER_NONE;
}

/* Flag beats environment beats file (the enum's order); an option no
 * layer set is the weakest. */
static unsigned cli_layer_strength(const char *long_name)
{
    struct cli_option_info info;
    size_t i = cli_option_index(long_name, &info);

    if (i >= CLI_LAYER_MAX_OPTIONS || cli_records[i].layer == CLI_LAYER_NONE)
        return 0;
    return (unsigned)(CLI_LAYER_FILE + 1 - cli_records[i].layer);
}

void cli_layers_forget(const char *long_name)
{
    struct cli_option_info info;
    size_t i = cli_option_index(long_name, &info);

    if (i < CLI_LAYER_MAX_OPTIONS)
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
                              const struct cli_option_info *info, const char *value,
                              const char *where, const char **shown)
{
    const char *prog = o->prog;
    bool on = false;
    bool ok;

    o->prog = where;
    *shown = value;
    if (info->takes_arg) {
        ok = cli_option_apply(cmd, o, info->key, value);
    } else if (!cli_parse_bool(value, &on)) {
        cli_error(o->prog, "invalid value '%s' for %s (true or false)", value, info->long_name);
        ok = false;
    } else {
        /* false means "not given": a flag has no way to be switched off. */
        ok = on ? cli_option_apply(cmd, o, info->key, NULL) : true;
        *shown = on ? "true" : "false";
    }
    o->prog = prog;
    return ok;
}

/* --- the INI file ----------------------------------------------------------- */

/* fgets that counts lines, so every entry (and every later error about its
 * value) can name its line; inih calls it once per line. */
static char *cli_ini_reader(char *str, int num, void *stream)
{
    struct cli_ini *f = stream;
    char *r = fgets(str, num, f->file);

    if (r != NULL)
        f->line++;
    return r;
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
    struct cli_option_info info;

    if (strcmp(section, "midge") != 0) {
        if (section[0] == '\0')
            snprintf(f->err, sizeof f->err, "'%s' is outside the [midge] section", name);
        else
            snprintf(f->err, sizeof f->err, "unknown section [%s] (only [midge] is read)",
                     section);
        return 0;
    }
    if (cli_option_index(name, &info) == SIZE_MAX || cli_flag_only(name)) {
        snprintf(f->err, sizeof f->err, "unknown key '%s'", name);
        return 0;
    }
    if (strcmp(name, "config") == 0) {
        snprintf(f->err, sizeof f->err, "'config' cannot name another file");
        return 0;
    }
    if (cli_is_secret(name) && f->secret == NULL)
        f->secret = strcmp(name, "password") == 0 ? "password" : "device-key";
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

static bool cli_ini_load(struct cli_options *o, struct cli_ini *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    f->file = fopen(path, "r");
    if (f->file == NULL) {
        cli_error(o->prog, "config %s: %s", path, strerror(errno));
        return false;
    }
    /* A strict reading: the first problem is the one reported, a line of
     * any length is read whole, and no value continues on the next line
     * (an indented line is a mistake, not a continuation). '#' also starts
     * a trailing comment, as --print-config writes them. */
    ini_stop_on_first_error = true;
    ini_allow_multiline = false;
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_inline_comment_prefixes = ";#";
    int rc = ini_parse_stream(cli_ini_reader, f, cli_ini_handler, f);
    if (rc == 0)
        cli_ini_check_mode(o, f);
    fclose(f->file);
    f->file = NULL;
    if (rc == 0)
        return true;
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
                          const struct cli_option_info *info, bool *taken)
{
    char name[80];
    char where[160];
    const char *v = cli_env_value(info->long_name, name, sizeof name);

    *taken = v != NULL;
    if (v == NULL)
        return true;
    snprintf(where, sizeof where, "%s: %s", o->prog, name);
    if (!cli_apply_layered(cmd, o, info, v, where, &v))
        return false;
    cli_record(i, CLI_LAYER_ENV, v);
    return true;
}

static bool cli_apply_file(const struct cli_command *cmd, struct cli_options *o, size_t i,
                           const struct cli_option_info *info)
{
    char where[PATH_MAX + 96];
    unsigned first = 0;

    for (size_t k = 0; k < cli_file.count; k++) {
        const struct cli_ini_entry *e = &cli_file.entries[k];
        if (strcmp(e->name, info->long_name) != 0)
            continue;
        snprintf(where, sizeof where, "%s: config %s:%u", o->prog, cli_file.path, e->line);
        if (first != 0 && !cli_is_repeatable(info->key)) {
            cli_error(where, "'%s' given twice (first on line %u)", e->name, first);
            return false;
        }
        if (first == 0)
            first = e->line;
        const char *shown = NULL;
        if (!cli_apply_layered(cmd, o, info, e->value, where, &shown))
            return false;
        cli_record(i, CLI_LAYER_FILE, shown);
    }
    return true;
}

/* --config from the flag, else MIDGE_CONFIG. */
static const char *cli_config_path(struct cli_options *o)
{
    char name[32];
    struct cli_option_info info;

    if (o->config_path != NULL)
        return o->config_path;
    const char *v = cli_env_value("config", name, sizeof name);
    size_t i = cli_option_index("config", &info);
    if (v != NULL && i != SIZE_MAX)
        cli_record(i, CLI_LAYER_ENV, v);
    o->config_path = v;
    return v;
}

bool cli_layers_apply(const struct cli_command *cmd, struct cli_options *o)
{
    size_t n = cli_option_count();
    struct cli_option_info info;

    if (n > CLI_LAYER_MAX_OPTIONS) {
        cli_error(o->prog, "internal error: option table larger than %d", CLI_LAYER_MAX_OPTIONS);
        return false;
    }
    memset(&cli_file, 0, sizeof cli_file);
    if (cmd->groups & CLI_GROUP_CONFIG) {
        const char *path = cli_config_path(o);
        if (path != NULL && !cli_ini_load(o, &cli_file, path))
            return false;
    }
    for (size_t i = 0; i < n; i++) {
        cli_option_info_at(cmd, i, &info);
        if (!info.accepted || cli_flag_only(info.long_name) ||
            strcmp(info.long_name, "config") == 0 || cli_records[i].layer == CLI_LAYER_FLAG)
            continue;
        bool taken = false;
        if (!cli_apply_env(cmd, o, i, &info, &taken))
            return false;
        if (!taken && !cli_apply_file(cmd, o, i, &info))
            return false;
    }
    return true;
}

/* --- --print-config ------------------------------------------------------------- */

enum cli_field_kind {
    CLI_FIELD_STR,
    CLI_FIELD_U8,
    CLI_FIELD_U16,
    CLI_FIELD_ULONG,
    CLI_FIELD_ULL,
    CLI_FIELD_BOOL,
    CLI_FIELD_NOT_BOOL /* the option is the negation of the field (-c) */
};

/* Where each option's effective value lives, for options no layer set
 * (their default, or one derived from other options). */
struct cli_field {
    const char *name;
    enum cli_field_kind kind;
    size_t offset;
    const char *fallback; /* shown for a NULL string or a 0 number; NULL = unset */
};

#define CLI_FIELD(name, kind, member, fallback) \
    { name, kind, offsetof(struct cli_options, member), fallback }

static const struct cli_field cli_fields[] = {
    CLI_FIELD("host", CLI_FIELD_STR, host, NULL),
    CLI_FIELD("port", CLI_FIELD_U16, port, NULL),
    CLI_FIELD("id", CLI_FIELD_STR, client_id, NULL),
    CLI_FIELD("username", CLI_FIELD_STR, username, NULL),
    CLI_FIELD("password", CLI_FIELD_STR, password, NULL),
    CLI_FIELD("keepalive", CLI_FIELD_U16, keepalive_s, "0"),
    CLI_FIELD("disable-clean-session", CLI_FIELD_NOT_BOOL, clean_session, NULL),
    CLI_FIELD("debug", CLI_FIELD_BOOL, debug, NULL),
    CLI_FIELD("will-topic", CLI_FIELD_STR, will_topic, NULL),
    CLI_FIELD("will-qos", CLI_FIELD_U8, will_qos, "0"),
    CLI_FIELD("will-retain", CLI_FIELD_BOOL, will_retain, NULL),
    CLI_FIELD("max-packet-size", CLI_FIELD_ULONG, max_packet_size, NULL),
    CLI_FIELD("connack-timeout", CLI_FIELD_ULONG, connack_timeout_ms, NULL),
    CLI_FIELD("qos", CLI_FIELD_U8, qos, "0"),
    CLI_FIELD("retain", CLI_FIELD_BOOL, retain, NULL),
    CLI_FIELD("verbose", CLI_FIELD_BOOL, verbose, NULL),
    CLI_FIELD("tls", CLI_FIELD_BOOL, tls, NULL),
    CLI_FIELD("cafile", CLI_FIELD_STR, cafile, NULL),
    CLI_FIELD("capath", CLI_FIELD_STR, capath, NULL),
    CLI_FIELD("cert", CLI_FIELD_STR, certfile, NULL),
    CLI_FIELD("key", CLI_FIELD_STR, keyfile, NULL),
    CLI_FIELD("insecure", CLI_FIELD_BOOL, insecure, NULL),
    CLI_FIELD("tls-version", CLI_FIELD_STR, tls_version, NULL),
    CLI_FIELD("profile", CLI_FIELD_STR, profile, "mqtt"),
    CLI_FIELD("device-id", CLI_FIELD_STR, device_id, NULL),
    CLI_FIELD("product-id", CLI_FIELD_STR, product_id, NULL),
    CLI_FIELD("prefix", CLI_FIELD_STR, prefix, NULL),
    CLI_FIELD("led", CLI_FIELD_STR, led, "sim"),
    CLI_FIELD("property", CLI_FIELD_STR, property, "led"),
    CLI_FIELD("subscribe-commands", CLI_FIELD_BOOL, subscribe_commands, NULL),
    CLI_FIELD("backoff-min", CLI_FIELD_ULONG, backoff_min_ms, NULL),
    CLI_FIELD("backoff-max", CLI_FIELD_ULONG, backoff_max_ms, NULL),
    CLI_FIELD("log-level", CLI_FIELD_STR, log_level, "info"),
    CLI_FIELD("quiet", CLI_FIELD_BOOL, quiet, NULL),
    CLI_FIELD("device-key", CLI_FIELD_STR, device_key, NULL),
    CLI_FIELD("method", CLI_FIELD_STR, method, CLI_TOKEN_METHOD_DEFAULT),
    CLI_FIELD("expires", CLI_FIELD_ULL, expires, NULL),
    CLI_FIELD("ttl", CLI_FIELD_ULONG, ttl_s, "31536000"),
    CLI_FIELD("watch", CLI_FIELD_BOOL, watch, NULL),
};

/* The effective value of an option no layer set; false = unset. */
static bool cli_field_value(const struct cli_options *o, const char *name, char *buf, size_t cap)
{
    const struct cli_field *f = NULL;

    for (size_t i = 0; i < sizeof cli_fields / sizeof cli_fields[0] && f == NULL; i++) {
        if (strcmp(cli_fields[i].name, name) == 0)
            f = &cli_fields[i];
    }
    if (f == NULL)
        return false;
    const char *base = (const char *)o + f->offset;
    unsigned long long v = 0;
    switch (f->kind) {
    case CLI_FIELD_STR: {
        const char *s;
        memcpy(&s, base, sizeof s);
        if (s == NULL)
            s = f->fallback;
        if (s == NULL)
            return false;
        snprintf(buf, cap, "%s", s);
        return true;
    }
    case CLI_FIELD_BOOL:
    case CLI_FIELD_NOT_BOOL: {
        bool b;
        memcpy(&b, base, sizeof b);
        snprintf(buf, cap, "%s", b != (f->kind == CLI_FIELD_NOT_BOOL) ? "true" : "false");
        return true;
    }
    case CLI_FIELD_U8: v = *(const uint8_t *)base; break;
    case CLI_FIELD_U16: { uint16_t x; memcpy(&x, base, sizeof x); v = x; break; }
    case CLI_FIELD_ULONG: { unsigned long x; memcpy(&x, base, sizeof x); v = x; break; }
    case CLI_FIELD_ULL: memcpy(&v, base, sizeof v); break;
    }
    if (v == 0 && f->fallback != NULL) {
        snprintf(buf, cap, "%s", f->fallback);
        return true;
    }
    if (v == 0 && f->kind != CLI_FIELD_U8 && f->kind != CLI_FIELD_U16)
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

static void cli_print_line(const char *name, const char *value, const char *note)
{
    /* A masked secret says that one is set, never what it is. */
    if (cli_is_secret(name))
        value = "********";
    printf("%s = %s  # %s\n", name, value, note);
}

static void cli_print_option(const struct cli_options *o, size_t i,
                             const struct cli_option_info *info)
{
    const struct cli_layer_record *r = &cli_records[i];
    char note[PATH_MAX + 32];
    char value[64];

    if (r->layer != CLI_LAYER_NONE) {
        const char *what = cli_layer_note(r->layer, info->long_name, note, sizeof note);
        for (size_t k = 0; k < r->count; k++)
            cli_print_line(info->long_name, r->values[k], what);
        return;
    }
    /* -t collected from nowhere has no value; a derived default has one. */
    if (cli_field_value(o, info->long_name, value, sizeof value))
        cli_print_line(info->long_name, value, "default");
    else
        printf("# %s =\n", info->long_name);
}

void cli_layers_print(const struct cli_command *cmd, const struct cli_options *o)
{
    size_t n = cli_option_count();
    struct cli_option_info info;

    printf("# midge %s: effective configuration (flag > environment > config file)\n",
           cmd->name);
    if (o->config_path != NULL)
        printf("# config file: %s\n", o->config_path);
    printf("[midge]\n");
    for (size_t i = 0; i < n && i < CLI_LAYER_MAX_OPTIONS; i++) {
        cli_option_info_at(cmd, i, &info);
        if (!info.accepted || cli_flag_only(info.long_name) ||
            strcmp(info.long_name, "config") == 0)
            continue;
        cli_print_option(o, i, &info);
    }
}
