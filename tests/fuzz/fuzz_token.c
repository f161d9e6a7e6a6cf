/*
 * fuzz_token: midge_token_make() with fuzzer-chosen product id, device
 * name, key, method, expiry and output size.
 *
 * Oracles:
 *  - success: the token is printable ASCII with no raw separator inside a
 *    value, and parses back into exactly version / res / et / method / sign,
 *    where res url-decodes to products/{pid}/devices/{name}, et is the
 *    expiry in decimal, and sign url-decodes to the base64 HMAC computed
 *    here independently with mbedTLS's one-shot HMAC over the string for
 *    signature of onenet.md section 2;
 *  - the reported length is exact (the snprintf convention): cap = len
 *    succeeds with len + 1 and fails with len;
 *  - failure leaves "" in out (when cap > 0) and never writes past cap
 *    (the buffer is an exact-size heap block);
 *  - empty inputs, unknown methods and keys midge_token_check_key() refuses
 *    are MIDGE_ERR_INVALID.
 *
 * Input: [flags][method][et u64][cap u16][pid run][name run][key run].
 * With flags bit 0 set the key run is raw bytes that are base64-encoded
 * here, so most inputs carry a well-formed key and reach the signing path.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>

#include "fuzz_input.h"
#include "midge/token.h"

static const char *const methods[] = {"md5", "sha1", "sha256"};

/* A NUL-terminated copy of a run; an embedded zero simply ends it early,
 * as it would for any C caller. */
static char *cstr(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Url-decodes s[0, n) into a fresh string; *out_len gets its length. Any
 * malformed escape is a finding. */
static char *url_decode(const char *s, size_t n, size_t *out_len)
{
    char *d = malloc(n + 1);
    size_t k = 0;

    FUZZ_CHECK(d != NULL);
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[k++] = s[i];
            continue;
        }
        FUZZ_CHECK(i + 2 < n); /* two hex digits follow every '%' */
        int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
        FUZZ_CHECK(hi >= 0 && lo >= 0);
        d[k++] = (char)(hi << 4 | lo);
        i += 2;
    }
    d[k] = '\0';
    *out_len = k;
    return d;
}

/* The value of field `key` (which must come at `*pos`), advancing past it. */
static const char *take_field(const char *tok, size_t *pos, const char *key, size_t *len)
{
    size_t klen = strlen(key);

    FUZZ_CHECK(strncmp(tok + *pos, key, klen) == 0 && tok[*pos + klen] == '=');
    const char *v = tok + *pos + klen + 1;
    const char *amp = strchr(v, '&');
    *len = amp != NULL ? (size_t)(amp - v) : strlen(v);
    *pos = (size_t)(v - tok) + *len + (amp != NULL ? 1 : 0);
    return v;
}

static void expected_sign(char *out, size_t cap, const char *method, const char *key_b64,
                          const char *pid, const char *name, const char *et)
{
    mbedtls_md_type_t type = strcmp(method, "md5") == 0    ? MBEDTLS_MD_MD5
                             : strcmp(method, "sha1") == 0 ? MBEDTLS_MD_SHA1
                                                           : MBEDTLS_MD_SHA256;
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(type);
    size_t klen = 0, olen = 0;

    FUZZ_CHECK(info != NULL);
    (void)mbedtls_base64_decode(NULL, 0, &klen, (const unsigned char *)key_b64, strlen(key_b64));
    unsigned char *key = malloc(klen + 1);
    FUZZ_CHECK(key != NULL);
    FUZZ_CHECK(mbedtls_base64_decode(key, klen, &klen, (const unsigned char *)key_b64,
                                     strlen(key_b64)) == 0);
    /* StringForSignature: et \n method \n res \n version, res not encoded. */
    size_t mlen = strlen(et) + strlen(method) + strlen(pid) + strlen(name) + 64;
    char *msg = malloc(mlen);
    FUZZ_CHECK(msg != NULL);
    int n = snprintf(msg, mlen, "%s\n%s\nproducts/%s/devices/%s\n%s", et, method, pid, name,
                     MIDGE_TOKEN_VERSION);
    FUZZ_CHECK(n > 0 && (size_t)n < mlen);
    unsigned char digest[MBEDTLS_MD_MAX_SIZE];
    FUZZ_CHECK(mbedtls_md_hmac(info, key, klen, (const unsigned char *)msg, (size_t)n, digest) ==
               0);
    FUZZ_CHECK(mbedtls_base64_encode((unsigned char *)out, cap, &olen, digest,
                                     mbedtls_md_get_size(info)) == 0);
    free(msg);
    free(key);
}

static void check_token(const char *tok, size_t len, const char *pid, const char *name,
                        const char *key, const char *method, uint64_t et)
{
    FUZZ_CHECK(strlen(tok) == len);
    /* A query string: printable ASCII, nothing that needs quoting. */
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK(tok[i] > 0x20 && tok[i] < 0x7f);

    size_t pos = 0, n = 0, dlen = 0;
    const char *v = take_field(tok, &pos, "version", &n);
    FUZZ_CHECK(n == strlen(MIDGE_TOKEN_VERSION) && memcmp(v, MIDGE_TOKEN_VERSION, n) == 0);

    v = take_field(tok, &pos, "res", &n);
    char *res = url_decode(v, n, &dlen);
    size_t want_len = strlen(pid) + strlen(name) + sizeof "products//devices/";
    char *want = malloc(want_len);
    FUZZ_CHECK(want != NULL);
    snprintf(want, want_len, "products/%s/devices/%s", pid, name);
    FUZZ_CHECK(dlen == strlen(want) && strcmp(res, want) == 0);
    free(want);
    free(res);

    char et_text[24];
    snprintf(et_text, sizeof et_text, "%llu", (unsigned long long)et);
    v = take_field(tok, &pos, "et", &n);
    FUZZ_CHECK(n == strlen(et_text) && memcmp(v, et_text, n) == 0);

    v = take_field(tok, &pos, "method", &n);
    FUZZ_CHECK(n == strlen(method) && memcmp(v, method, n) == 0);

    v = take_field(tok, &pos, "sign", &n);
    FUZZ_CHECK(pos == len); /* sign is the last field */
    char *sign = url_decode(v, n, &dlen);
    char want_sign[128];
    expected_sign(want_sign, sizeof want_sign, method, key, pid, name, et_text);
    FUZZ_CHECK(strcmp(sign, want_sign) == 0);
    free(sign);
}

static bool method_known(const char *m)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (strcmp(m, methods[i]) == 0)
            return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = fuzz_input_make(data, size);
    uint8_t flags = fuzz_u8(&in);
    uint8_t msel = fuzz_u8(&in);
    uint64_t et = (uint64_t)fuzz_u32(&in) << 32 | fuzz_u32(&in);
    size_t cap = fuzz_u16(&in) % 1024;
    size_t n = 0;
    const uint8_t *p;

    p = fuzz_run8(&in, &n);
    char *pid = cstr(p, n);
    p = fuzz_run8(&in, &n);
    char *name = cstr(p, n);
    p = fuzz_run8(&in, &n);
    char *key;
    if (flags & 1) {
        size_t olen = 0;
        key = malloc(4 * (n / 3 + 1) + 1);
        FUZZ_CHECK(key != NULL);
        FUZZ_CHECK(mbedtls_base64_encode((unsigned char *)key, 4 * (n / 3 + 1) + 1, &olen, p, n) ==
                   0);
        key[olen] = '\0';
    } else {
        key = cstr(p, n);
    }
    /* Mostly the three real methods; otherwise whatever the input holds. */
    char *method;
    if (msel < 3 * 80) {
        method = cstr((const uint8_t *)methods[msel % 3], strlen(methods[msel % 3]));
    } else {
        p = fuzz_run8(&in, &n);
        method = cstr(p, n);
    }

    size_t len = 0;
    midge_status st = midge_token_make(NULL, 0, pid, name, key, method, et, &len);
    bool should_fail = pid[0] == '\0' || name[0] == '\0' || !method_known(method) ||
                       midge_token_check_key(key, NULL) != MIDGE_OK;
    if (should_fail) {
        FUZZ_CHECK(st == MIDGE_ERR_INVALID);
    } else {
        FUZZ_CHECK(st == MIDGE_ERR_NO_SPACE);
        FUZZ_CHECK(len > 0);
    }

    /* A fuzzer-chosen size, then (when valid) the exact size and one less. */
    size_t caps[3] = {cap, len + 1, len};
    for (size_t i = 0; i < (should_fail ? 1u : 3u); i++) {
        size_t c = caps[i];
        char *out = malloc(c != 0 ? c : 1);
        FUZZ_CHECK(out != NULL);
        memset(out, 'X', c);
        size_t got = 0;
        midge_status s2 = midge_token_make(c != 0 ? out : NULL, c, pid, name, key, method, et, &got);
        if (s2 == MIDGE_OK) {
            FUZZ_CHECK(!should_fail && got == len && c >= len + 1);
            check_token(out, got, pid, name, key, method, et);
        } else {
            FUZZ_CHECK(should_fail ? s2 == MIDGE_ERR_INVALID
                                   : (s2 == MIDGE_ERR_NO_SPACE && c < len + 1 && got == len));
            if (c > 0)
                FUZZ_CHECK(out[0] == '\0');
        }
        free(out);
    }
    free(pid);
    free(name);
    free(key);
    free(method);
    return 0;
}
