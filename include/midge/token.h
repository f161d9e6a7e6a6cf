/*
 * midge token: the password of OneNET's current MQTT service (the "MQTTS"
 * kit and OneNET Studio), as described in ../shared/reference/onenet.md
 * section 2 "Token":
 *
 *   version=2018-10-31&res=<res>&et=<et>&method=<method>&sign=<sign>
 *
 * This module sits outside the no-heap core: it signs through mbedTLS
 * (mbedcrypto), whose HMAC context allocates. It keeps no global state and
 * is safe to call from several threads at once.
 *
 * Secrets: the device key is never copied into an error, a log line or the
 * output; the decoded key is wiped before every return.
 */
#ifndef MIDGE_TOKEN_H
#define MIDGE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "midge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The signature version this module produces (the only one OneNET defines). */
#define MIDGE_TOKEN_VERSION "2018-10-31"

/* The HMAC hash named by the token's `method` field. */
typedef enum midge_token_method {
    MIDGE_TOKEN_MD5,
    MIDGE_TOKEN_SHA1,
    MIDGE_TOKEN_SHA256
} midge_token_method;

/* Parses "md5", "sha1" or "sha256" (exact, lower case, as the token carries
 * it) into *method. Returns MIDGE_OK, or MIDGE_ERR_INVALID for any other
 * name or a NULL argument (*method is then left alone). */
midge_status midge_token_method_parse(const char *name, midge_token_method *method);

/* The token spelling of a method ("md5", "sha1", "sha256"); NULL for a
 * value outside the enum. The string is static. */
const char *midge_token_method_name(midge_token_method method);

/* Checks that device_key_b64 is well-formed, non-empty base64 without
 * decoding it anywhere a caller could see. On MIDGE_OK, *key_len (if not
 * NULL) receives the decoded key's length in bytes. MIDGE_ERR_INVALID
 * otherwise. Lets a tool tell "bad key" apart from the other reasons
 * midge_token_make() can give MIDGE_ERR_INVALID. */
midge_status midge_token_check_key(const char *device_key_b64, size_t *key_len);

/*
 * Builds the token for device `device_name` of product `product_id`,
 * signed with the base64 device key and the named method ("md5", "sha1"
 * or "sha256"), valid until `expires_unix` (Unix seconds).
 *
 * Output: out[0 .. cap) receives the token and a terminating NUL. out may be
 * NULL when cap is 0 (a size query).
 *
 * *token_len (if not NULL) receives the token's length in bytes, NOT
 * counting the NUL, both on MIDGE_OK and on MIDGE_ERR_NO_SPACE: so a
 * buffer of *token_len + 1 bytes is exactly large enough (the snprintf
 * convention). Any length of product id or device name works; nothing is
 * truncated.
 *
 * Returns:
 *   MIDGE_OK            the token is in out
 *   MIDGE_ERR_NO_SPACE  cap < *token_len + 1; out holds "" if cap > 0
 *   MIDGE_ERR_INVALID   a NULL or empty argument, an unknown method, or a
 *                       device key that is not valid non-empty base64;
 *                       out holds "" if cap > 0
 *   MIDGE_ERR_TLS       mbedTLS failed (out of memory in its HMAC context)
 */
midge_status midge_token_make(char *out, size_t cap, const char *product_id,
                              const char *device_name, const char *device_key_b64,
                              const char *method, uint64_t expires_unix, size_t *token_len);

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_TOKEN_H */
