/*
 * OneNET token (../shared/reference/onenet.md section 2 "Token").
 *
 * Two traps in the platform's own SDK shape this file:
 *  - it builds the signed string in a 64-byte stack buffer, which overflows
 *    for device names longer than a few characters; here the string is never
 *    built at all: its pieces go straight into the HMAC one by one;
 *  - code that passes the decoded key to the HMAC with strlen() signs with a
 *    wrong key whenever the key holds a 0x00 byte (about 12% of keys); here
 *    the key length is always the decoder's.
 */
#include "midge/token.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

/* Decoded keys up to this size stay on the stack; OneNET's are 32 bytes.
 * A longer key is decoded into the heap instead, never truncated. */
#define TOKEN_KEY_STACK 64

/* base64 of the largest digest mbedTLS can produce, plus the NUL. */
#define TOKEN_SIGN_CAP (4 * ((MBEDTLS_MD_MAX_SIZE + 2) / 3) + 1)

/* A uint64_t has at most 20 decimal digits. */
#define TOKEN_U64_CAP 21

static const struct {
    const char *name;
    mbedtls_md_type_t md;
} token_methods[] = {
    [MIDGE_TOKEN_MD5] = {"md5", MBEDTLS_MD_MD5},
    [MIDGE_TOKEN_SHA1] = {"sha1", MBEDTLS_MD_SHA1},
    [MIDGE_TOKEN_SHA256] = {"sha256", MBEDTLS_MD_SHA256},
};

#define TOKEN_METHOD_COUNT (sizeof token_methods / sizeof token_methods[0])

midge_status midge_token_method_parse(const char *name, midge_token_method *method)
{
    if (name == NULL || method == NULL)
        return MIDGE_ERR_INVALID;
    for (size_t i = 0; i < TOKEN_METHOD_COUNT; i++) {
        if (strcmp(name, token_methods[i].name) == 0) {
            *method = (midge_token_method)i;
            return MIDGE_OK;
        }
    }
    return MIDGE_ERR_INVALID;
}

const char *midge_token_method_name(midge_token_method method)
{
    if ((size_t)method >= TOKEN_METHOD_COUNT)
        return NULL;
    return token_methods[method].name;
}

/* ---- device key ---------------------------------------------------------- */

static bool token_is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/*
 * Strict canonical base64: whole 4-character groups, '=' only as the last
 * one or two characters. mbedTLS's decoder also skips line breaks and some
 * spaces (it was written for PEM); a device key with stray whitespace is
 * more likely a copy-paste mistake than a key, so it is refused here.
 */
static bool token_b64_well_formed(const char *s, size_t len)
{
    if (len == 0 || len % 4 != 0)
        return false;
    size_t pad = 0;
    if (s[len - 1] == '=')
        pad = (s[len - 2] == '=') ? 2 : 1;
    for (size_t i = 0; i < len - pad; i++) {
        if (!token_is_b64_char(s[i]))
            return false;
    }
    return true;
}

midge_status midge_token_check_key(const char *device_key_b64, size_t *key_len)
{
    if (device_key_b64 == NULL)
        return MIDGE_ERR_INVALID;
    size_t len = strlen(device_key_b64);
    if (!token_b64_well_formed(device_key_b64, len))
        return MIDGE_ERR_INVALID;

    /* A size query: mbedTLS answers BUFFER_TOO_SMALL with the exact decoded
     * length in n, or INVALID_CHARACTER. */
    size_t n = 0;
    int rc = mbedtls_base64_decode(NULL, 0, &n, (const unsigned char *)device_key_b64, len);
    if (rc != MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL || n == 0)
        return MIDGE_ERR_INVALID;
    if (key_len != NULL)
        *key_len = n;
    return MIDGE_OK;
}

/* ---- signature ----------------------------------------------------------- */

static size_t token_format_u64(char out[TOKEN_U64_CAP], uint64_t v)
{
    char rev[TOKEN_U64_CAP];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + (v % 10));
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    out[n] = '\0';
    return n;
}

static int token_hmac_str(mbedtls_md_context_t *md, const char *s)
{
    return mbedtls_md_hmac_update(md, (const unsigned char *)s, strlen(s));
}

/*
 * message = et "\n" method "\n" res "\n" version, with res the raw
 * (not URL-encoded) "products/{pid}/devices/{name}" and no trailing
 * newline (onenet.md section 2). Fed piece by piece: no buffer to size.
 */
static int token_hmac_message(mbedtls_md_context_t *md, const char *et, const char *method,
                              const char *product_id, const char *device_name)
{
    const char *pieces[] = {et,         "\n",        method,      "\n", "products/",
                            product_id, "/devices/", device_name, "\n", MIDGE_TOKEN_VERSION};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        int rc = token_hmac_str(md, pieces[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/*
 * HMAC-<method> over the message, keyed with `key`, written as base64 into
 * sign[TOKEN_SIGN_CAP]. mbedtls_md_free() wipes the HMAC pads, which are
 * derived from the key.
 */
static midge_status token_sign(char sign[TOKEN_SIGN_CAP], mbedtls_md_type_t type,
                               const unsigned char *key, size_t key_len, const char *et,
                               const char *method, const char *product_id, const char *device_name)
{
    unsigned char digest[MBEDTLS_MD_MAX_SIZE];
    midge_status st = MIDGE_ERR_TLS;
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(type);
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);

    if (info == NULL || mbedtls_md_setup(&md, info, 1) != 0)
        goto done;
    if (mbedtls_md_hmac_starts(&md, key, key_len) != 0)
        goto done;
    if (token_hmac_message(&md, et, method, product_id, device_name) != 0)
        goto done;
    if (mbedtls_md_hmac_finish(&md, digest) != 0)
        goto done;

    size_t olen = 0;
    if (mbedtls_base64_encode((unsigned char *)sign, TOKEN_SIGN_CAP, &olen, digest,
                              mbedtls_md_get_size(info)) != 0)
        goto done;
    st = MIDGE_OK;
done:
    mbedtls_md_free(&md);
    mbedtls_platform_zeroize(digest, sizeof digest);
    return st;
}

/*
 * Decodes the key (stack for ordinary keys, heap for unusually long ones)
 * and signs. Every path out wipes the decoded key.
 */
static midge_status token_sign_b64_key(char sign[TOKEN_SIGN_CAP], mbedtls_md_type_t type,
                                       const char *key_b64, const char *et, const char *method,
                                       const char *product_id, const char *device_name)
{
    unsigned char stack_key[TOKEN_KEY_STACK];
    unsigned char *key = stack_key;
    size_t need = 0;
    size_t key_len = 0;
    midge_status st = midge_token_check_key(key_b64, &need);
    if (st != MIDGE_OK)
        return st;

    if (need > sizeof stack_key) {
        key = malloc(need);
        if (key == NULL)
            return MIDGE_ERR_TLS;
    }
    st = MIDGE_ERR_INVALID;
    if (mbedtls_base64_decode(key, need, &key_len, (const unsigned char *)key_b64,
                              strlen(key_b64)) != 0)
        goto done;
    /* The decoder's length, never strlen: the key is binary (onenet.md). */
    st = token_sign(sign, type, key, key_len, et, method, product_id, device_name);
done:
    mbedtls_platform_zeroize(key, need);
    if (key != stack_key)
        free(key);
    return st;
}

/* ---- output -------------------------------------------------------------- */

/* Appends while there is room and counts always, so one pass both writes
 * the token and measures it; `len` ends as the exact token length. */
typedef struct token_writer {
    char *out;
    size_t cap;
    size_t len;
} token_writer;

static void token_put(token_writer *w, char c)
{
    if (w->len + 1 < w->cap)
        w->out[w->len] = c;
    w->len++;
}

static void token_put_str(token_writer *w, const char *s)
{
    while (*s != '\0')
        token_put(w, *s++);
}

/* The characters onenet.md lists, plus every byte that is not printable
 * ASCII, so a device name with spaces or UTF-8 still yields a valid
 * query string. */
static bool token_needs_escape(unsigned char c)
{
    if (c <= 0x20 || c >= 0x7f)
        return true;
    return strchr("/+=%&#?", c) != NULL;
}

static void token_put_escaped(token_writer *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (!token_needs_escape(c)) {
            token_put(w, (char)c);
            continue;
        }
        token_put(w, '%');
        token_put(w, hex[c >> 4]);
        token_put(w, hex[c & 0x0f]);
    }
}

static void token_write(token_writer *w, const char *product_id, const char *device_name,
                        const char *et, const char *method, const char *sign)
{
    token_put_str(w, "version=" MIDGE_TOKEN_VERSION "&res=");
    token_put_escaped(w, "products/");
    token_put_escaped(w, product_id);
    token_put_escaped(w, "/devices/");
    token_put_escaped(w, device_name);
    token_put_str(w, "&et=");
    token_put_str(w, et);
    token_put_str(w, "&method=");
    token_put_str(w, method);
    token_put_str(w, "&sign=");
    token_put_escaped(w, sign);
}

static bool token_nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

midge_status midge_token_make(char *out, size_t cap, const char *product_id,
                              const char *device_name, const char *device_key_b64,
                              const char *method, uint64_t expires_unix, size_t *token_len)
{
    char et[TOKEN_U64_CAP];
    char sign[TOKEN_SIGN_CAP];
    midge_token_method m;

    if (cap > 0 && out == NULL)
        return MIDGE_ERR_INVALID;
    if (cap > 0)
        out[0] = '\0';
    if (!token_nonempty(product_id) || !token_nonempty(device_name) ||
        !token_nonempty(device_key_b64))
        return MIDGE_ERR_INVALID;
    if (midge_token_method_parse(method, &m) != MIDGE_OK)
        return MIDGE_ERR_INVALID;

    token_format_u64(et, expires_unix);
    midge_status st = token_sign_b64_key(sign, token_methods[m].md, device_key_b64, et,
                                         token_methods[m].name, product_id, device_name);
    if (st != MIDGE_OK)
        return st;

    token_writer w = {out, cap, 0};
    token_write(&w, product_id, device_name, et, token_methods[m].name, sign);
    if (token_len != NULL)
        *token_len = w.len;
    if (w.len + 1 > cap) {
        if (cap > 0)
            out[0] = '\0';
        return MIDGE_ERR_NO_SPACE;
    }
    out[w.len] = '\0';
    return MIDGE_OK;
}
