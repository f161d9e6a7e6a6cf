/*
 * midge token: print the password of OneNET's current MQTT service (the
 * token of ../shared/reference/onenet.md section 2) for one device.
 *
 * Exit 0 with the token alone on stdout, so that `$(midge token ...)` can
 * feed it to another tool; 1 with one line on stderr otherwise. The device
 * key never appears in any output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "midge/token.h"

/* Each required option, named in the error when it is missing or empty. */
static bool token_require(const struct cli_options *o, const char *value, const char *flag)
{
    if (value != NULL && value[0] != '\0')
        return true;
    cli_error(o->prog, "%s is required", flag);
    return false;
}

static bool token_check(const struct cli_options *o)
{
    if (!token_require(o, o->product_id, "--product-id") ||
        !token_require(o, o->device_id, "--device-id") ||
        !token_require(o, o->device_key, "--device-key"))
        return false;
    /* Told apart from the other invalid inputs, so the user knows which
     * value to fix; the key itself is not repeated. */
    if (midge_token_check_key(o->device_key, NULL) != MIDGE_OK) {
        cli_error(o->prog, "--device-key is not valid base64");
        return false;
    }
    return true;
}

/* --expires as given, else now + --ttl (or the default year). */
static uint64_t token_expiry(const struct cli_options *o)
{
    if (o->expires != 0)
        return (uint64_t)o->expires;
    unsigned long ttl = o->ttl_s ? o->ttl_s : CLI_TOKEN_TTL_DEFAULT_S;
    return (uint64_t)time(NULL) + ttl;
}

int cli_token_run(const struct cli_command *cmd, int argc, char **argv)
{
    struct cli_options o;
    size_t len = 0;

    enum cli_parse_result pr = cli_parse(cmd, argc, argv, &o);
    if (pr != CLI_PARSE_RUN)
        return pr == CLI_PARSE_EXIT_OK ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    if (!token_check(&o))
        return CLI_EXIT_ERROR;

    const char *method = o.method ? o.method : CLI_TOKEN_METHOD_DEFAULT;
    uint64_t et = token_expiry(&o);
    /* A size query first: long product ids and names are not truncated. */
    midge_status st = midge_token_make(NULL, 0, o.product_id, o.device_id, o.device_key, method,
                                       et, &len);
    if (st != MIDGE_ERR_NO_SPACE && st != MIDGE_OK) {
        cli_error(o.prog, "cannot make the token: %s", midge_strerror(st));
        return CLI_EXIT_ERROR;
    }
    char *token = malloc(len + 1);
    if (token == NULL) {
        cli_error(o.prog, "out of memory");
        return CLI_EXIT_ERROR;
    }
    st = midge_token_make(token, len + 1, o.product_id, o.device_id, o.device_key, method, et,
                          NULL);
    if (st == MIDGE_OK)
        printf("%s\n", token);
    else
        cli_error(o.prog, "cannot make the token: %s", midge_strerror(st));
    free(token);
    return st == MIDGE_OK ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}
