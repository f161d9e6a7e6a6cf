/*
 * Every credential the test suite hands to midge or to its brokers, in one
 * place. Tests take their secrets from these macros, and the secrets scan
 * (tests/secrets/) looks for each of them in everything a `midge` process
 * printed during the run: the list cannot drift from what the tests use.
 *
 * A new secret: a #define here, used by the test, and a line in
 * TEST_SECRETS below. Values are test data only, several of them public
 * (the OneNET reference vectors of ../shared/reference/onenet.md); each is
 * long and odd enough not to turn up in output by chance.
 */
#ifndef MIDGE_TEST_SECRETS_H
#define MIDGE_TEST_SECRETS_H

/* The password of test_cli's broker, given with -P. */
#define SECRET_BROKER_PASSWORD "Wh1te-Rabbit-s3cret"
/* A wrong password: a refused login must not echo it either. */
#define SECRET_WRONG_PASSWORD "Wrong-Guess-9x7"
/* The password of the launcher's and the library tests' brokers. */
#define SECRET_LIBRARY_PASSWORD "wonderland-0f-pa55words"
/* A password given through MIDGE_PASSWORD. */
#define SECRET_ENV_PASSWORD "Env-Secret-42"
/* A password in a config file. */
#define SECRET_INI_PASSWORD "hunter2-secret"
/* An API key given with -P to --print-config. */
#define SECRET_PRINTED_API_KEY "api-key-secret"
/* The OneNET Studio device key of the official token vector. */
#define SECRET_ONENET_DEVICE_KEY "EnW4T71eIE55xOIQMN6pFMKuqel5T5HTzsGJRPiDhlM="
/* A device key of bytes 0..31, for the longest device names. */
#define SECRET_ONENET_ZERO_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
/* Not base64: refused, and not echoed in the refusal. */
#define SECRET_BAD_DEVICE_KEY "Not*Base64*Secret"
/* The OneNET legacy API key of the reference's example. */
#define SECRET_ONENET_API_KEY "y7zd=7wNaObdfRYhxQn7D5jiDnI="
/* A wrong API key. */
#define SECRET_WRONG_API_KEY "wrong-api-key"
/* The OneNET platform plugin's registry: a product's master key and a
 * device's auth info. */
#define SECRET_ONENET_MASTER_KEY "Master-Key-0f-Product-91025"
#define SECRET_ONENET_AUTH_INFO "auth-info-of-9377501-s3cret"

/* The web console's API key (--api-key); tests/console/browser.mjs uses
 * the same value. */
#define SECRET_CONSOLE_API_KEY "Console-Api-Key-5b1e"

/* X(value, what) for every secret above. */
#define TEST_SECRETS(X)                                                          \
    X(SECRET_BROKER_PASSWORD, "broker password (test_cli)")                    \
    X(SECRET_WRONG_PASSWORD, "wrong password")                                 \
    X(SECRET_LIBRARY_PASSWORD, "broker password (library tests)")              \
    X(SECRET_ENV_PASSWORD, "password from MIDGE_PASSWORD")                     \
    X(SECRET_INI_PASSWORD, "password from a config file")                      \
    X(SECRET_PRINTED_API_KEY, "API key given to --print-config")               \
    X(SECRET_ONENET_DEVICE_KEY, "OneNET device key (official vector)")         \
    X(SECRET_ONENET_ZERO_KEY, "OneNET device key (bytes 0..31)")               \
    X(SECRET_BAD_DEVICE_KEY, "malformed device key")                           \
    X(SECRET_ONENET_API_KEY, "OneNET API key")                                 \
    X(SECRET_WRONG_API_KEY, "wrong OneNET API key")                            \
    X(SECRET_ONENET_MASTER_KEY, "OneNET product master key (platform plugin)")  \
    X(SECRET_ONENET_AUTH_INFO, "OneNET device auth info (platform plugin)")  \
    X(SECRET_CONSOLE_API_KEY, "web console API key")

#endif /* MIDGE_TEST_SECRETS_H */
