/*
 * The fake OneNET servers' rules (fake_onenet_rules.h), after
 * ../shared/reference/onenet.md: section 1 for the legacy service,
 * section 2 for Studio and its token.
 */
#include "fake_onenet_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "midge/token.h"

#define ID_MAX 128              /* product id, device name */
#define TOKEN_MAX 512           /* longest password read as a token */
#define LEGACY_SUBS_MAX 100     /* section 1: at most 100 per client */
#define LEGACY_KEEPALIVE_MIN 120
#define STUDIO_SUBS_MAX 15      /* section 2 */
#define STUDIO_FILTERS_PER_PACKET 8
#define STUDIO_LEVELS_MAX 8
#define STUDIO_WILDCARD_LEVEL 5 /* wildcards allowed from this level on (1-based) */
#define STUDIO_KEEPALIVE_MIN 10
#define STUDIO_KEEPALIVE_MAX 1800

/* --- Small helpers ----------------------------------------------------------- */

static bool str_is(midge_str s, const char *text)
{
    return s.ptr != NULL && s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0;
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

static bool alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Every byte a letter, a digit or one of `extra`. */
static bool chars_ok(const char *s, size_t len, const char *extra)
{
    for (size_t i = 0; i < len; i++) {
        if (!alnum(s[i]) && (s[i] == '\0' || strchr(extra, s[i]) == NULL))
            return false;
    }
    return true;
}

/* "$sys/{pid}/{dev}/" into base; its length. */
static size_t studio_base(const fake_onenet_identity *id, char *base, size_t cap)
{
    int n = snprintf(base, cap, "$sys/%s/%s/", id->product_id, id->device_id);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* --- Studio token --------------------------------------------------------------- */

typedef struct token_fields {
    char version[32];
    char res[2 * ID_MAX + 32];
    char et[24];
    char method[8];
    char sign[128];
} token_fields;

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* %XX decoding into a NUL-terminated field; false if malformed or too long. */
static bool url_decode(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= len)
                return false;
            int hi = hex_value(in[i + 1]);
            int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || n + 1 >= cap)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    return true;
}

/* version=..&res=..&et=..&method=..&sign=..: each field exactly once, in
 * any order, no other field, values URL-decoded. */
static bool token_parse(const char *tok, size_t len, token_fields *f)
{
    struct {
        const char *name;
        char *dst;
        size_t cap;
        bool seen;
    } keys[] = {
        {"version", f->version, sizeof f->version, false},
        {"res", f->res, sizeof f->res, false},
        {"et", f->et, sizeof f->et, false},
        {"method", f->method, sizeof f->method, false},
        {"sign", f->sign, sizeof f->sign, false},
    };
    const size_t key_count = sizeof keys / sizeof keys[0];
    size_t pos = 0;

    /* pos == len is a trailing '&' (an empty field): refused below. */
    while (pos <= len) {
        const char *seg = tok + pos;
        const char *amp = memchr(seg, '&', len - pos);
        size_t seg_len = amp != NULL ? (size_t)(amp - seg) : len - pos;
        const char *eq = memchr(seg, '=', seg_len);
        if (eq == NULL)
            return false;
        size_t name_len = (size_t)(eq - seg);
        size_t k = 0;
        while (k < key_count &&
               (strlen(keys[k].name) != name_len || memcmp(keys[k].name, seg, name_len) != 0))
            k++;
        if (k == key_count || keys[k].seen)
            return false;
        keys[k].seen = true;
        if (!url_decode(eq + 1, seg_len - name_len - 1, keys[k].dst, keys[k].cap))
            return false;
        pos += seg_len + 1;
    }
    for (size_t k = 0; k < key_count; k++) {
        if (!keys[k].seen)
            return false;
    }
    return true;
}

static bool parse_et(const char *text, uint64_t *et)
{
    size_t len = strlen(text);
    uint64_t v = 0;

    /* 19 digits always fit a uint64_t. */
    if (len == 0 || len > 19)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    *et = v;
    return true;
}

/* The sign this server expects for the token's own et and method, made by
 * the library's token module with the device key (checked separately
 * against the platform's published vector in tests/unit/test_token.c). */
static bool token_expected_sign(const fake_onenet_identity *id, const char *method, uint64_t et,
                                char *sign, size_t cap)
{
    size_t need = 0;
    token_fields want;
    bool ok = false;

    midge_token_make(NULL, 0, id->product_id, id->device_id, id->secret, method, et, &need);
    char *tok = malloc(need + 1);
    if (tok == NULL)
        return false;
    if (midge_token_make(tok, need + 1, id->product_id, id->device_id, id->secret, method, et,
                         NULL) == MIDGE_OK &&
        token_parse(tok, need, &want) && strlen(want.sign) < cap) {
        memcpy(sign, want.sign, strlen(want.sign) + 1);
        ok = true;
    }
    /* The expected token is as secret as the key: wipe it. */
    memset(tok, 0, need + 1);
    free(tok);
    return ok;
}

static uint8_t token_check(const fake_onenet_identity *id, const midge_connect_packet *con,
                           fake_onenet_login *login, const char **why)
{
    token_fields f;
    char res[sizeof f.res];
    char want_sign[sizeof f.sign];
    uint64_t et = 0;
    midge_token_method method;

    memset(&f, 0, sizeof f);
    if (con->password_len == 0 || con->password_len > TOKEN_MAX ||
        !token_parse((const char *)con->password, con->password_len, &f)) {
        *why = "token: not version=...&res=...&et=...&method=...&sign=...";
        return 4;
    }
    bool et_ok = parse_et(f.et, &et);
    bool method_ok = midge_token_method_parse(f.method, &method) == MIDGE_OK;
    login->token_et = et_ok ? et : 0;
    if (method_ok)
        memcpy(login->token_method, f.method, strlen(f.method) + 1);
    snprintf(res, sizeof res, "products/%s/devices/%s", id->product_id, id->device_id);
    if (strcmp(f.version, MIDGE_TOKEN_VERSION) != 0) {
        *why = "token: version is not " MIDGE_TOKEN_VERSION;
        return 4;
    }
    if (strcmp(f.res, res) != 0) {
        *why = "token: res is not products/{pid}/devices/{device name}";
        return 4;
    }
    if (!method_ok) {
        *why = "token: method is not md5, sha1 or sha256";
        return 4;
    }
    if (!et_ok) {
        *why = "token: et is not a decimal number";
        return 4;
    }
    if (!token_expected_sign(id, f.method, et, want_sign, sizeof want_sign)) {
        *why = "token: the fake server could not compute the expected sign";
        return 3;
    }
    if (strcmp(want_sign, f.sign) != 0) {
        *why = "token: sign does not verify with the device key";
        return 4;
    }
    /* Checked last: an expired token is otherwise a good one. */
    if (et <= (uint64_t)time(NULL)) {
        *why = "token: expired (et is not in the future)";
        return 5;
    }
    return 0;
}

/* --- CONNECT ------------------------------------------------------------------------ */

const char *fake_onenet_rule_connect(const fake_onenet_identity *id,
                                     const midge_connect_packet *con)
{
    bool studio = id->kind == FAKE_ONENET_STUDIO;

    if (con->protocol_level != 4)
        return "protocol level is not 4";
    if (con->username.ptr == NULL || con->password == NULL)
        return "user name and password flags must both be set";
    if (con->has_will || con->will_qos != 0 || con->will_retain)
        return "will flag, will QoS and will retain must be 0";
    if (!studio && con->keepalive_s != 0 && con->keepalive_s < LEGACY_KEEPALIVE_MIN)
        return "keepalive must be 0 or 120..65535";
    if (studio && (con->keepalive_s < STUDIO_KEEPALIVE_MIN ||
                   con->keepalive_s > STUDIO_KEEPALIVE_MAX))
        return "keepalive must be 10..1800";
    if (studio && !con->clean_session)
        return "clean session must be 1";
    if (!str_is(con->client_id, id->device_id))
        return studio ? "client id is not the device name" : "client id is not the device id";
    if (!str_is(con->username, id->product_id))
        return "user name is not the product id";
    return NULL;
}

uint8_t fake_onenet_rule_password(const fake_onenet_identity *id,
                                  const midge_connect_packet *con, fake_onenet_login *login,
                                  const char **why)
{
    memset(login, 0, sizeof *login);
    if (id->kind == FAKE_ONENET_STUDIO)
        return token_check(id, con, login, why);
    if (con->password_len != strlen(id->secret) ||
        memcmp(con->password, id->secret, con->password_len) != 0) {
        *why = "password is not the API key";
        return 4;
    }
    return 0;
}

/* --- SUBSCRIBE ------------------------------------------------------------------------ */

static uint8_t legacy_filter(midge_str f, size_t held)
{
    /* Section 1: '$' topics cannot be subscribed; ordinary topics are
     * letters, digits and '/', without wildcards. */
    if (f.len == 0 || f.ptr[0] == '$' || !chars_ok(f.ptr, f.len, "/"))
        return MIDGE_SUBACK_FAILURE;
    return held < LEGACY_SUBS_MAX ? 0 : MIDGE_SUBACK_FAILURE;
}

static uint8_t studio_filter(const fake_onenet_identity *id, midge_str f, size_t held)
{
    char base[2 * ID_MAX + 8];
    size_t n = studio_base(id, base, sizeof base);

    if (n == 0 || !starts_with(f.ptr, f.len, base))
        return MIDGE_SUBACK_FAILURE;
    const char *rest = f.ptr + n;
    size_t rest_len = f.len - n;
    if (rest_len == 0 || !chars_ok(rest, rest_len, "/_-+#"))
        return MIDGE_SUBACK_FAILURE;
    /* Wildcards only from the 5th level on: $sys/{pid}/{dev}/cmd/request/+. */
    int level = 4;
    for (size_t i = 0; i < rest_len; i++) {
        if (rest[i] == '/')
            level++;
        else if ((rest[i] == '+' || rest[i] == '#') && level < STUDIO_WILDCARD_LEVEL)
            return MIDGE_SUBACK_FAILURE;
    }
    if (level > STUDIO_LEVELS_MAX)
        return MIDGE_SUBACK_FAILURE;
    return held < STUDIO_SUBS_MAX ? 0 : MIDGE_SUBACK_FAILURE;
}

uint8_t fake_onenet_rule_filter(const fake_onenet_identity *id, midge_str filter, size_t held)
{
    return id->kind == FAKE_ONENET_STUDIO ? studio_filter(id, filter, held)
                                          : legacy_filter(filter, held);
}

size_t fake_onenet_rule_filters_per_packet(const fake_onenet_identity *id)
{
    return id->kind == FAKE_ONENET_STUDIO ? STUDIO_FILTERS_PER_PACKET : LEGACY_SUBS_MAX;
}

/* --- PUBLISH --------------------------------------------------------------------------- */

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

/* $dp layouts, section 1's table; NULL when consistent. */
static const char *dp_check(const uint8_t *p, size_t len)
{
    if (len < 1)
        return "$dp without a type byte";
    unsigned type = p[0] & 0x3f;
    size_t at = 1;
    if ((type == 6 || type == 7) && (p[0] & 0x80))
        at += 6; /* YY MM DD hh mm ss */
    switch (type) {
    case 1:
    case 3:
    case 4:
    case 5:
    case 6:
        if (len < at + 2 || be16(p + at) != len - at - 2)
            return "$dp: the u16 length does not match the payload";
        return NULL;
    case 2: {
        if (len < at + 2)
            return "$dp type 2: no JSON length";
        size_t json = be16(p + at);
        at += 2 + json;
        if (len < at + 4)
            return "$dp type 2: no binary length";
        uint32_t bin = (uint32_t)p[at] << 24 | (uint32_t)p[at + 1] << 16 |
                       (uint32_t)p[at + 2] << 8 | p[at + 3];
        if (len - at - 4 != bin)
            return "$dp type 2: the u32 length does not match the payload";
        return NULL;
    }
    case 7:
        return len > at ? NULL : "$dp type 7 without streams";
    default:
        return "$dp: unknown type";
    }
}

static const char *legacy_topic(const midge_publish *m)
{
    if (m->topic_len == 3 && memcmp(m->topic, "$dp", 3) == 0)
        return dp_check(m->payload, m->payload_len);
    if (starts_with(m->topic, m->topic_len, "$crsp/"))
        return m->topic_len > 6 ? NULL : "$crsp/ without a command id";
    if (m->topic_len > 0 && m->topic[0] != '$' && chars_ok(m->topic, m->topic_len, "/"))
        return NULL;
    return "publish to a topic the device may not use";
}

static const char *studio_topic(const fake_onenet_identity *id, const midge_publish *m)
{
    static const char *const allowed[] = {
        "thing/property/post", "thing/property/set_reply", "thing/property/get_reply",
        "dp/post/json",        "thing/event/post",
    };
    char base[2 * ID_MAX + 8];
    size_t n = studio_base(id, base, sizeof base);

    if (n == 0 || !starts_with(m->topic, m->topic_len, base))
        return "publish outside $sys/{pid}/{device name}/";
    const char *rest = m->topic + n;
    size_t rest_len = m->topic_len - n;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (rest_len == strlen(allowed[i]) && memcmp(rest, allowed[i], rest_len) == 0)
            return NULL;
    }
    /* cmd/response/{cmdid}: one non-empty level of topic characters. */
    if (starts_with(rest, rest_len, "cmd/response/") && rest_len > 13 &&
        chars_ok(rest + 13, rest_len - 13, "_-"))
        return NULL;
    return "publish to a topic the device may not use";
}

const char *fake_onenet_rule_publish(const fake_onenet_identity *id, const midge_publish *m)
{
    /* Both services: QoS 0 or 1 from devices, no retain. */
    if (m->qos == 2)
        return "PUBLISH with QoS 2";
    if (m->retain)
        return "PUBLISH with retain";
    return id->kind == FAKE_ONENET_STUDIO ? studio_topic(id, m) : legacy_topic(m);
}

bool fake_onenet_rule_unasked(const fake_onenet_identity *id, const char *topic)
{
    /* Section 1: every connected device gets its own commands unasked. */
    return id->kind == FAKE_ONENET_LEGACY && strncmp(topic, "$creq/", 6) == 0;
}
