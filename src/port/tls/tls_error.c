/*
 * midge TLS: turning mbedTLS's numbers into the one line a user reads.
 *
 * A certificate refusal arrives as MBEDTLS_ERR_X509_CERT_VERIFY_FAILED plus
 * a bit set (mbedtls_ssl_get_verify_result); the bits are what tell "unknown
 * CA" from "expired" from "wrong host", so each gets its own words instead
 * of the generic "verification failed".
 */
#include <stdio.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/x509.h>

#include "tls_internal.h"

void midge_tls__fail(midge_tls *tls, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tls->err, sizeof tls->err, fmt, ap);
    va_end(ap);
    for (char *p = tls->err; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

void midge_tls__strerror(int ret, char *out, size_t cap)
{
    mbedtls_strerror(ret, out, cap);
    if (out[0] == '\0')
        snprintf(out, cap, "mbedTLS error -0x%04x", (unsigned)-ret);
}

/* Bits in the order a user should read them: trust first, then validity,
 * then the name. The mismatch words are built separately (they hold the
 * host). */
static const struct {
    uint32_t bit;
    const char *words;
} verify_words[] = {
    { MBEDTLS_X509_BADCERT_NOT_TRUSTED, "certificate not trusted (unknown CA)" },
    { MBEDTLS_X509_BADCERT_EXPIRED, "certificate expired" },
    { MBEDTLS_X509_BADCERT_FUTURE, "certificate not yet valid" },
    { MBEDTLS_X509_BADCERT_REVOKED, "certificate revoked" },
    { MBEDTLS_X509_BADCERT_MISSING, "no certificate from the server" },
    { MBEDTLS_X509_BADCERT_KEY_USAGE, "certificate key usage does not allow TLS" },
    { MBEDTLS_X509_BADCERT_EXT_KEY_USAGE, "certificate not for TLS servers (extended key usage)" },
    { MBEDTLS_X509_BADCERT_NS_CERT_TYPE, "certificate type does not allow TLS" },
    { MBEDTLS_X509_BADCERT_BAD_MD, "certificate signed with a refused hash" },
    { MBEDTLS_X509_BADCERT_BAD_PK, "certificate key algorithm refused" },
    { MBEDTLS_X509_BADCERT_BAD_KEY, "certificate key too short" },
    { MBEDTLS_X509_BADCRL_NOT_TRUSTED, "CRL not trusted" },
    { MBEDTLS_X509_BADCRL_EXPIRED, "CRL expired" },
    { MBEDTLS_X509_BADCRL_FUTURE, "CRL not yet valid" },
    { MBEDTLS_X509_BADCERT_SKIP_VERIFY, "verification skipped" },
    { MBEDTLS_X509_BADCERT_OTHER, "certificate refused" },
};

static void append(char *out, size_t cap, const char *words)
{
    size_t used = strlen(out);

    if (used + 1 >= cap)
        return;
    snprintf(out + used, cap - used, "%s%s", used > 0 ? "; " : "", words);
}

void midge_tls__describe_verify(uint32_t flags, const char *host, char *out, size_t cap)
{
    uint32_t known = MBEDTLS_X509_BADCERT_CN_MISMATCH;

    for (size_t i = 0; i < sizeof verify_words / sizeof verify_words[0]; i++) {
        known |= verify_words[i].bit;
        if (flags & verify_words[i].bit)
            append(out, cap, verify_words[i].words);
        /* The mismatch comes right after the validity words. */
        if (verify_words[i].bit == MBEDTLS_X509_BADCERT_FUTURE &&
            (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)) {
            char line[160];
            snprintf(line, sizeof line,
                     "host name mismatch: certificate is not for %s (use --insecure to skip only "
                     "the host-name check)",
                     host);
            append(out, cap, line);
        }
    }
    if ((flags & ~known) != 0 || flags == 0) {
        char line[48];
        snprintf(line, sizeof line, "certificate verification failed (flags 0x%05x)",
                 (unsigned)flags);
        append(out, cap, line);
    }
}

const char *midge_tls__alert_name(unsigned char code)
{
    switch (code) {
    case 0: return "close_notify";
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 40: return "handshake_failure";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 49: return "access_denied";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 112: return "unrecognized_name";
    case 116: return "certificate_required";
    default: return NULL;
    }
}
