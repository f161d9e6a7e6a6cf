/*
 * The device registry (registry.h): an INI file through inih, read whole
 * into memory first so that a file and a string take the same path.
 *
 * inih gives the handler no line number and never calls it for a section
 * line, so the reader below counts lines and notes where each section
 * starts; that is how every error, including "this section has no keys"
 * and duplicate ids found after sorting, names its line.
 */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* inih's MAX_SECTION (50) less its NUL: a name this long may be cut. */
#define INI_SECTION_KEPT 49

typedef enum { SEC_NONE, SEC_PRODUCT, SEC_DEVICE } sec_kind;

typedef struct reg_parse {
    onenet_registry *reg;
    const char *name; /* the file, for errors */
    const char *text;
    size_t len;
    size_t pos;
    unsigned line;         /* of the line inih is looking at */
    unsigned section_seq;  /* section lines seen so far */
    unsigned section_line; /* of the latest one */
    unsigned keys;         /* key lines since it */
    unsigned handled_seq;  /* the section the latest entry was made for */
    sec_kind kind;
    char *err;
    size_t err_cap;
    bool failed;
} reg_parse;

static bool reg_error(reg_parse *r, unsigned line, const char *fmt, ...)
{
    if (r->failed)
        return false;
    r->failed = true;
    int n = line > 0 ? snprintf(r->err, r->err_cap, "%s:%u: ", r->name, line)
                     : snprintf(r->err, r->err_cap, "%s: ", r->name);
    if (n >= 0 && (size_t)n < r->err_cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err + n, r->err_cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

bool onenet_id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok || n >= ONENET_ID_MAX)
            return false;
    }
    return n > 0;
}

bool onenet_secret_equal(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = (unsigned char)(na != nb);
    for (size_t i = 0; i < na && i < nb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* A section's first line: whitespace, then '['. */
static bool is_section_line(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i < n && s[i] == '[';
}

static bool is_key_line(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i < n && s[i] != '#' && s[i] != ';' && s[i] != '[';
}

static void check_section_had_keys(reg_parse *r)
{
    if (r->section_seq > 0 && r->keys == 0)
        reg_error(r, r->section_line, "section has no keys");
}

/* inih's line reader over the text: one line per call, with its '\n'. */
static char *reg_reader(char *str, int num, void *stream)
{
    reg_parse *r = stream;
    if (r->failed)
        return NULL;
    if (r->pos >= r->len) {
        check_section_had_keys(r);
        return NULL;
    }
    const char *start = r->text + r->pos;
    const char *nl = memchr(start, '\n', r->len - r->pos);
    size_t n = nl != NULL ? (size_t)(nl - start) + 1 : r->len - r->pos;
    r->line++;
    if (n > ONENET_REGISTRY_LINE_MAX + 1 || n + 1 > (size_t)num) {
        reg_error(r, r->line, "line longer than %d bytes", ONENET_REGISTRY_LINE_MAX);
        return NULL;
    }
    if (memchr(start, '\0', n) != NULL) {
        reg_error(r, r->line, "NUL byte in the line");
        return NULL;
    }
    if (is_section_line(start, n)) {
        check_section_had_keys(r);
        r->section_seq++;
        r->section_line = r->line;
        r->keys = 0;
    } else if (is_key_line(start, n)) {
        r->keys++;
    }
    memcpy(str, start, n);
    str[n] = '\0';
    r->pos += n;
    return r->failed ? NULL : str;
}

static bool grow(void **v, size_t *cap, size_t count, size_t size)
{
    if (count < *cap)
        return true;
    size_t ncap = *cap ? 2 * *cap : 16;
    void *p = realloc(*v, ncap * size);
    if (p == NULL)
        return false;
    *v = p;
    *cap = ncap;
    return true;
}

/* The entry of the section inih is in, made at its first key. */
static bool reg_begin_section(reg_parse *r, const char *section)
{
    onenet_registry *g = r->reg;
    const char *id;
    /* inih cuts a longer section name short without a word. */
    if (strlen(section) >= INI_SECTION_KEPT)
        return reg_error(r, r->section_line, "section name longer than %d characters",
                         INI_SECTION_KEPT - 1);
    if (strncmp(section, "product ", 8) == 0) {
        r->kind = SEC_PRODUCT;
        id = section + 8;
    } else if (strncmp(section, "device ", 7) == 0) {
        r->kind = SEC_DEVICE;
        id = section + 7;
    } else {
        return reg_error(r, r->section_line,
                         "section is neither [product ID] nor [device ID]");
    }
    if (!onenet_id_valid(id))
        return reg_error(r, r->section_line,
                         "id is not 1 to %d letters, digits, '-', '_' or '.'", ONENET_ID_MAX);
    char *copy = strdup(id);
    if (copy == NULL)
        return reg_error(r, r->line, "out of memory");
    if (r->kind == SEC_PRODUCT) {
        if (!grow((void **)&g->products, &g->product_cap, g->product_count, sizeof *g->products))
            return free(copy), reg_error(r, r->line, "out of memory");
        g->products[g->product_count++] = (onenet_product){.id = copy, .line = r->section_line};
    } else {
        if (!grow((void **)&g->devices, &g->device_cap, g->device_count, sizeof *g->devices))
            return free(copy), reg_error(r, r->line, "out of memory");
        g->devices[g->device_count++] = (onenet_device){.id = copy, .line = r->section_line};
    }
    r->handled_seq = r->section_seq;
    return true;
}

static bool set_once(reg_parse *r, char **slot, const char *name, const char *value, bool id)
{
    if (*slot != NULL)
        return reg_error(r, r->line, "'%s' given twice", name);
    if (id && !onenet_id_valid(value))
        return reg_error(r, r->line, "'%s' is not an id", name);
    size_t n = strlen(value);
    if (!id && (n == 0 || n > ONENET_SECRET_MAX))
        return reg_error(r, r->line, "'%s' must be 1 to %d bytes", name, ONENET_SECRET_MAX);
    if ((*slot = strdup(value)) == NULL)
        return reg_error(r, r->line, "out of memory");
    return true;
}

static int reg_handler(void *user, const char *section, const char *name, const char *value)
{
    reg_parse *r = user;
    if (r->failed)
        return 0;
    if (section[0] == '\0' || r->section_seq == 0)
        return reg_error(r, r->line, "'%s' is outside any section", name);
    if (r->handled_seq != r->section_seq && !reg_begin_section(r, section))
        return 0;
    if (r->kind == SEC_PRODUCT) {
        onenet_product *p = &r->reg->products[r->reg->product_count - 1];
        if (strcmp(name, "master-key") == 0)
            return set_once(r, &p->master_key, name, value, false);
        return reg_error(r, r->line, "unknown key '%s' in a product (master-key)", name);
    }
    onenet_device *d = &r->reg->devices[r->reg->device_count - 1];
    if (strcmp(name, "product") == 0) {
        d->product_line = r->line;
        return set_once(r, &d->product_id, name, value, true);
    }
    if (strcmp(name, "api-key") == 0)
        return set_once(r, &d->api_key, name, value, false);
    if (strcmp(name, "auth-info") == 0)
        return set_once(r, &d->auth_info, name, value, false);
    return reg_error(r, r->line, "unknown key '%s' in a device (product, api-key, auth-info)",
                     name);
}

static int cmp_product(const void *a, const void *b)
{
    const onenet_product *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

static int cmp_device(const void *a, const void *b)
{
    const onenet_device *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

/* What no single line shows: duplicates, missing keys, unknown products. */
static bool reg_check(reg_parse *r)
{
    onenet_registry *g = r->reg;
    /* An empty file is a registry of nobody; qsort may not be given NULL. */
    if (g->product_count > 0)
        qsort(g->products, g->product_count, sizeof *g->products, cmp_product);
    if (g->device_count > 0)
        qsort(g->devices, g->device_count, sizeof *g->devices, cmp_device);
    for (size_t i = 0; i < g->product_count; i++) {
        const onenet_product *p = &g->products[i];
        if (i > 0 && strcmp(p->id, g->products[i - 1].id) == 0)
            return reg_error(r, p->line, "product %s is already defined on line %u", p->id,
                             g->products[i - 1].line);
        if (p->master_key == NULL)
            return reg_error(r, p->line, "product %s has no master-key", p->id);
    }
    for (size_t i = 0; i < g->device_count; i++) {
        onenet_device *d = &g->devices[i];
        if (i > 0 && strcmp(d->id, g->devices[i - 1].id) == 0)
            return reg_error(r, d->line, "device %s is already defined on line %u", d->id,
                             g->devices[i - 1].line);
        if (d->product_id == NULL)
            return reg_error(r, d->line, "device %s has no product", d->id);
        d->product = onenet_registry_product(g, d->product_id);
        if (d->product == NULL)
            return reg_error(r, d->product_line, "device %s names product %s, not in the file",
                             d->id, d->product_id);
    }
    return true;
}

bool onenet_registry_parse(onenet_registry *reg, const char *text, size_t len, const char *name,
                           char *err, size_t err_cap)
{
    reg_parse r = {.reg = reg, .name = name, .text = text, .len = len, .err = err,
                   .err_cap = err_cap};
    memset(reg, 0, sizeof *reg);
    if (err_cap > 0)
        err[0] = '\0';
    /* A strict reading: the first problem stops it, one line is read in
     * one buffer, no value continues on the next line, and nothing after
     * a value is a comment (a secret may hold ';' or '#'). */
    ini_stop_on_first_error = true;
    ini_allow_multiline = false;
    ini_allow_inline_comments = false;
    ini_allow_no_value = false;
    ini_use_stack = false;
    ini_allow_realloc = false;
    ini_initial_alloc = ONENET_REGISTRY_LINE_MAX + 3;
    ini_max_line = ONENET_REGISTRY_LINE_MAX + 3;
    int rc = ini_parse_stream(reg_reader, &r, reg_handler, &r);
    if (!r.failed && rc > 0)
        reg_error(&r, (unsigned)rc, "not a [section] line, a comment or a key = value line");
    else if (!r.failed && rc < 0)
        reg_error(&r, 0, "out of memory");
    if (!r.failed)
        reg_check(&r);
    if (r.failed) {
        onenet_registry_free(reg);
        return false;
    }
    return true;
}

/* The whole file, NUL-terminated; a regular file of a sensible size only
 * (a FIFO would block, /dev/zero would never end). */
static char *read_file(const char *path, size_t *len, char *err, size_t err_cap)
{
    struct stat st;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, err_cap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(err, err_cap, "%s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, err_cap, "%s: not a regular file", path);
    } else if (st.st_size > ONENET_REGISTRY_FILE_MAX) {
        snprintf(err, err_cap, "%s: larger than %ld bytes", path, ONENET_REGISTRY_FILE_MAX);
    } else if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        snprintf(err, err_cap, "%s: out of memory", path);
    } else {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        buf[got] = '\0';
        *len = got;
    }
    close(fd);
    return buf;
}

bool onenet_registry_load(onenet_registry *reg, const char *path, char *err, size_t err_cap)
{
    size_t len = 0;
    memset(reg, 0, sizeof *reg);
    char *text = read_file(path, &len, err, err_cap);
    if (text == NULL)
        return false;
    bool ok = onenet_registry_parse(reg, text, len, path, err, err_cap);
    free(text);
    return ok;
}

void onenet_registry_free(onenet_registry *reg)
{
    for (size_t i = 0; i < reg->product_count; i++) {
        free(reg->products[i].id);
        free(reg->products[i].master_key);
    }
    for (size_t i = 0; i < reg->device_count; i++) {
        free(reg->devices[i].id);
        free(reg->devices[i].product_id);
        free(reg->devices[i].api_key);
        free(reg->devices[i].auth_info);
    }
    free(reg->products);
    free(reg->devices);
    memset(reg, 0, sizeof *reg);
}

static int key_product(const void *key, const void *elem)
{
    return strcmp(key, ((const onenet_product *)elem)->id);
}

static int key_device(const void *key, const void *elem)
{
    return strcmp(key, ((const onenet_device *)elem)->id);
}

const onenet_product *onenet_registry_product(const onenet_registry *reg, const char *id)
{
    if (reg->product_count == 0)
        return NULL;
    return bsearch(id, reg->products, reg->product_count, sizeof *reg->products, key_product);
}

const onenet_device *onenet_registry_device(const onenet_registry *reg, const char *id)
{
    if (reg->device_count == 0)
        return NULL;
    return bsearch(id, reg->devices, reg->device_count, sizeof *reg->devices, key_device);
}
