/*
 * The `midge` executable's configuration layers: flag over environment over
 * INI file, --print-config, and the one-line errors for a bad file, a bad
 * value, conflicting identities, an unusable LED and refused TLS options.
 * None of these connects anywhere.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "proc.h"
#include "secrets.h"

#define RUN_TIMEOUT_MS 20000
#define MIDGE_ARGV(...) ((char *[]){MIDGE_BINARY, __VA_ARGS__, NULL})

static proc run;
static char dir[] = "/tmp/midge-config-XXXXXX";
static char ini[sizeof dir + 32];

/* Every variable a test sets, cleared after each test. */
static const char *const env_used[] = {
    "MIDGE_HOST", "MIDGE_PORT", "MIDGE_DEVICE_ID", "MIDGE_TLS", "MIDGE_PASSWORD", "MIDGE_CONFIG",
    "MIDGE_MAX_PACKET_SIZE",
};

static int make_dir(void **state)
{
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(ini, sizeof ini, "%s/midge.ini", dir);
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    unlink(ini);
    return rmdir(dir);
}

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof env_used / sizeof env_used[0]; i++)
        unsetenv(env_used[i]);
    return 0;
}

static void write_ini(const char *text, mode_t mode)
{
    FILE *f = fopen(ini, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(ini, mode), 0);
}

static void expect_exit(const proc *p, int code, const char *what)
{
    if (proc_exit_code(p) != code)
        proc_dump(p, what);
    assert_int_equal(proc_exit_code(p), code);
}

/* Exit 1 with exactly one line on stderr, which contains `needle`. */
static void expect_one_line_error(const proc *p, const char *needle, const char *what)
{
    if (proc_exit_code(p) != 1 || count_lines(p->err) != 1 || strstr(p->err, needle) == NULL)
        proc_dump(p, what);
    assert_int_equal(proc_exit_code(p), 1);
    assert_int_equal(count_lines(p->err), 1);
    assert_non_null(strstr(p->err, needle));
}

static void expect_line(const proc *p, const char *line)
{
    if (strstr(p->out, line) == NULL)
        proc_dump(p, line);
    assert_non_null(strstr(p->out, line));
}

/* --- precedence ------------------------------------------------------------ */

static void test_flag_beats_env_beats_config_file(void **state)
{
    (void)state;
    write_ini("[midge]\nhost = ini-host\nport = 1111\ndevice-id = lamp-ini\nkeepalive = 33\n",
              0600);
    setenv("MIDGE_HOST", "env-host", 1);
    setenv("MIDGE_PORT", "2222", 1);
    proc_run(&run, MIDGE_ARGV("device", "--config", ini, "-h", "flag-host", "--print-config"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "precedence");
    expect_line(&run, "host = flag-host  # from flag\n");
    expect_line(&run, "port = 2222  # from env MIDGE_PORT\n");
    expect_line(&run, "device-id = lamp-ini  # from config");
    expect_line(&run, "keepalive = 33  # from config");
    assert_int_equal(run.err_len, 0);
}

static void test_config_file_named_by_environment(void **state)
{
    (void)state;
    write_ini("[midge]\ndevice-id = from-file\n", 0600);
    setenv("MIDGE_CONFIG", ini, 1);
    proc_run(&run, MIDGE_ARGV("device", "--print-config"), NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "MIDGE_CONFIG");
    expect_line(&run, "device-id = from-file  # from config");
}

static void test_boolean_and_repeated_keys_in_config_file(void **state)
{
    (void)state;
    write_ini("[midge]\ndevice-id = lamp1\nsubscribe-commands = yes\n"
              "topic = TurnipRobot\ntopic = Radish\n",
              0600);
    proc_run(&run, MIDGE_ARGV("device", "--config", ini, "--print-config"), NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "booleans and topics");
    expect_line(&run, "subscribe-commands = true  # from config");
    expect_line(&run, "topic = TurnipRobot  # from config");
    expect_line(&run, "topic = Radish  # from config");
}

static void test_boolean_from_environment_turns_tls_on(void **state)
{
    (void)state;
    setenv("MIDGE_TLS", "on", 1);
    proc_run(&run, MIDGE_ARGV("device", "--device-id", "lamp1", "--print-config"), NULL,
             RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "MIDGE_TLS=on");
    expect_line(&run, "tls = true  # from env MIDGE_TLS");
    expect_line(&run, "port = 8883  # default");
    setenv("MIDGE_TLS", "maybe", 1);
    proc_run(&run, MIDGE_ARGV("device", "--device-id", "lamp1", "--print-config"), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "MIDGE_TLS", "MIDGE_TLS=maybe");
}

static void test_help_and_version_ignore_environment_and_config(void **state)
{
    (void)state;
    setenv("MIDGE_PORT", "not-a-port", 1);
    proc_run(&run, MIDGE_ARGV("device", "--config", "/nonexistent/midge.ini", "--help"), NULL,
             RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "device --help");
    assert_int_equal(run.err_len, 0);
    proc_run(&run, MIDGE_ARGV("pub", "--version"), NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "pub --version");
    assert_int_equal(run.err_len, 0);
}

/* --- --print-config ----------------------------------------------------------- */

static void test_print_config_masks_secrets(void **state)
{
    (void)state;
    write_ini("[midge]\ndevice-key = " SECRET_ONENET_DEVICE_KEY "\n", 0600);
    setenv("MIDGE_PASSWORD", SECRET_ENV_PASSWORD, 1);
    proc_run(&run,
             MIDGE_ARGV("device", "--config", ini, "--device-id", "lamp1", "-u", "alice",
                        "--print-config"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "masked secrets");
    expect_line(&run, "password = ********  # from env MIDGE_PASSWORD");
    expect_line(&run, "device-key = ********  # from config");
    assert_null(strstr(run.out, SECRET_ENV_PASSWORD));
    assert_null(strstr(run.out, SECRET_ONENET_DEVICE_KEY));
    assert_null(strstr(run.err, SECRET_ENV_PASSWORD));
}

static void test_printed_config_reads_back_the_same(void **state)
{
    char first[PROC_OUT_MAX + 1];
    (void)state;
    proc_run(&run,
             MIDGE_ARGV("device", "--device-id", "lamp1", "-h", "broker.example", "-k", "90",
                        "-t", "TurnipRobot", "--backoff-max", "9000", "--print-config"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "print-config");
    memcpy(first, run.out, run.out_len + 1);
    write_ini(first, 0600);
    proc_run(&run, MIDGE_ARGV("device", "--config", ini, "--print-config"), NULL,
             RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "print-config of the printed config");
    expect_line(&run, "host = broker.example  # from config");
    expect_line(&run, "keepalive = 90  # from config");
    expect_line(&run, "topic = TurnipRobot  # from config");
    expect_line(&run, "backoff-max = 9000  # from config");
}

/* --print-config is how one finds out what is missing: it prints and
 * exits 0 before the checks of what a run needs (a topic, a message, a
 * device id) or of what fits together. */
static void test_print_config_comes_before_the_checks(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("pub", "--print-config"), NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "pub --print-config without -t");
    expect_line(&run, "# topic =\n");
    assert_int_equal(run.err_len, 0);
    proc_run(&run, MIDGE_ARGV("device", "--print-config", "--backoff-min", "900",
                              "--backoff-max", "100"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "device --print-config without --device-id");
    expect_line(&run, "backoff-min = 900  # from flag\n");
    assert_int_equal(run.err_len, 0);
    /* A run still refuses them. */
    proc_run(&run, MIDGE_ARGV("pub", "-m", "m"), NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "a topic is required", "pub without -t");
}

/* The mqtt profile has no product: -u is its user name alone, shown as
 * such, and --product-id is refused rather than sent as the user name. */
static void test_mqtt_profile_has_no_product_id(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("device", "--device-id", "lamp1", "-u", "alice", "--print-config"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "device -u alice --print-config");
    expect_line(&run, "username = alice  # from flag\n");
    expect_line(&run, "# product-id =\n");
    assert_null(strstr(run.out, "product-id = alice"));
    proc_run(&run, MIDGE_ARGV("device", "--device-id", "lamp1", "--product-id", "91025"), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "--product-id applies to the onenet profiles", "mqtt + product");
}

/* --- errors in the file -------------------------------------------------------- */

static void test_syntax_error_names_file_and_line(void **state)
{
    char where[sizeof ini + 16];
    (void)state;
    write_ini("[midge]\ndevice-id = lamp1\nthis line is not ini\n", 0600);
    snprintf(where, sizeof where, "config %s:3:", ini);
    proc_run(&run, MIDGE_ARGV("device", "--config", ini), NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, where, "syntax error");
    assert_non_null(strstr(run.err, "midge device: "));
}

static void test_unknown_key_is_an_error(void **state)
{
    char where[sizeof ini + 16];
    (void)state;
    write_ini("[midge]\ndevice-id = lamp1\n\ncolour = red\n", 0600);
    snprintf(where, sizeof where, "config %s:4:", ini);
    proc_run(&run, MIDGE_ARGV("device", "--config", ini), NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, where, "unknown key");
    assert_non_null(strstr(run.err, "colour"));
}

static void test_wrong_section_is_an_error(void **state)
{
    (void)state;
    write_ini("[device]\ndevice-id = lamp1\n", 0600);
    proc_run(&run, MIDGE_ARGV("device", "--config", ini), NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, ":2:", "wrong section");
    assert_non_null(strstr(run.err, "[device]"));
}

static void test_bad_value_names_its_line(void **state)
{
    char where[sizeof ini + 16];
    (void)state;
    write_ini("[midge]\ndevice-id = lamp1\nport = eighty\n", 0600);
    snprintf(where, sizeof where, "config %s:3:", ini);
    proc_run(&run, MIDGE_ARGV("device", "--config", ini), NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, where, "bad port");
}

static void test_missing_config_file_is_an_error(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("device", "--device-id", "x", "--config", "/nonexistent/m.ini"),
             NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "/nonexistent/m.ini", "missing file");
}

static void test_readable_config_with_secret_draws_a_warning(void **state)
{
    (void)state;
    write_ini("[midge]\ndevice-id = lamp1\nusername = u\npassword = " SECRET_INI_PASSWORD "\n",
              0644);
    proc_run(&run, MIDGE_ARGV("device", "--config", ini, "--print-config"), NULL,
             RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "0644 with a secret");
    assert_int_equal(count_lines(run.err), 1);
    assert_non_null(strstr(run.err, "chmod 600"));
    assert_null(strstr(run.err, SECRET_INI_PASSWORD));

    write_ini("[midge]\ndevice-id = lamp1\nusername = u\npassword = " SECRET_INI_PASSWORD "\n",
              0600);
    proc_run(&run, MIDGE_ARGV("device", "--config", ini, "--print-config"), NULL,
             RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "0600 with a secret");
    assert_int_equal(run.err_len, 0);
}

/* --- start-up checks ------------------------------------------------------------ */

static void test_conflicting_client_id_and_device_id(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("device", "-i", "a", "--device-id", "b"), NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "disagree", "-i a --device-id b");
    proc_run(&run, MIDGE_ARGV("device", "-i", "same", "--device-id", "same", "--print-config"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "-i same --device-id same");
}

static void test_missing_gpio_chip_fails_at_start(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("device", "--device-id", "lamp1", "--led", "gpio:gpiochip9:4"),
             NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "gpiochip9", "--led gpio:gpiochip9:4");
}

static void test_invalid_device_identity_fails_at_start(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("device", "--profile", "onenet", "--device-id", "9377500"), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "midge device: ", "onenet without product id");
}

/* --- TLS flags ------------------------------------------------------------------- */

static void test_tls_version_other_than_1_2_is_refused(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("device", "--device-id", "lamp1", "--tls-version", "tlsv1.3"),
             NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "tlsv1.3", "--tls-version tlsv1.3");
    proc_run(&run, MIDGE_ARGV("pub", "-t", "t", "-m", "m", "--tls-version", "tlsv1.1"), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "tlsv1.1", "pub --tls-version tlsv1.1");
}

static void test_cafile_turns_tls_on_with_port_8883(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("sub", "-t", "t", "--cafile", "/etc/ssl/ca.pem", "--print-config"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "sub --cafile");
    expect_line(&run, "tls = true  # default");
    expect_line(&run, "port = 8883  # default");
    proc_run(&run,
             MIDGE_ARGV("sub", "-t", "t", "--cafile", "/etc/ssl/ca.pem", "-p", "9999",
                        "--print-config"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "sub --cafile -p 9999");
    expect_line(&run, "port = 9999  # from flag");
}

/* --max-packet-size comes from every layer, like any option of the table. */
static void test_max_packet_size_from_file_and_environment(void **state)
{
    (void)state;
    write_ini("[midge]\nmax-packet-size = 4096\n", 0600);
    proc_run(&run, MIDGE_ARGV("sub", "-t", "t", "--config", ini, "--print-config"), NULL,
             RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "max-packet-size in a file");
    expect_line(&run, "max-packet-size = 4096  # from config");
    setenv("MIDGE_MAX_PACKET_SIZE", "2048", 1);
    proc_run(&run, MIDGE_ARGV("device", "--device-id", "lamp1", "--config", ini,
                              "--print-config"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "max-packet-size from env");
    expect_line(&run, "max-packet-size = 2048  # from env MIDGE_MAX_PACKET_SIZE");
    setenv("MIDGE_MAX_PACKET_SIZE", "1k", 1);
    proc_run(&run, MIDGE_ARGV("pub", "-t", "t", "-m", "m"), NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "--max-packet-size", "max-packet-size 1k");
}

static void test_cert_without_key_is_refused(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("pub", "-t", "t", "-m", "m", "--cert", "/tmp/c.pem"), NULL,
             RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&run), 1);
    assert_int_equal(count_lines(run.err), 1);
}

static void test_onenet_studio_over_tls_trusts_the_shipped_ca(void **state)
{
    (void)state;
    proc_run(&run,
             MIDGE_ARGV("device", "--profile", "onenet-studio", "--tls", "--device-id", "d1",
                        "--product-id", "238322", "--print-config"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "onenet-studio --tls");
    expect_line(&run, "host = mqttstls.heclouds.com  # default");
    expect_line(&run, "port = 8883  # default");
    expect_line(&run, "onenet-mqtts-ca.pem  # default");
}

static void test_onenet_profile_defaults(void **state)
{
    (void)state;
    proc_run(&run,
             MIDGE_ARGV("device", "--profile", "onenet", "--device-id", "9377500",
                        "--product-id", "91025", "-P", SECRET_PRINTED_API_KEY, "--print-config"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "onenet defaults");
    expect_line(&run, "host = 183.230.40.39  # default");
    expect_line(&run, "port = 6002  # default");
    expect_line(&run, "keepalive = 120  # default");
    expect_line(&run, "username = 91025  # default");
    assert_null(strstr(run.out, SECRET_PRINTED_API_KEY));
}

/* --- every option of the table, through every layer ---------------------------- */

/* The commands that read a config file, and what each needs in the file to
 * get as far as --print-config. An option under test replaces its own line. */
static const struct layered_command {
    const char *name;
    const char *needs;   /* INI lines */
    const char *operand; /* NULL = none */
} layered_commands[] = {
    { "pub", "topic = base/t\nmessage = base\n", NULL },
    { "sub", "topic = base/t\n", NULL },
    { "send", "", "on" },
    { "devices", "", NULL },
    { "token", "", NULL },
    { "device", "device-id = base\n", NULL },
};

/* A value for each option, found by the argument name --help gives it,
 * else (where that says too little, as "name") by its long name; a new
 * argument name needs a line here. -i and --device-id share "base", which
 * a device takes as one identity. */
static const struct sample {
    const char *key;
    const char *value;
    bool secret; /* --print-config must mask it */
} samples[] = {
    { "profile", "mqtt", false },   { "method", "sha1", false },
    { "property", "lamp7", false }, { "host", "host7.example", false },
    { "port", "1234", false },      { "id", "base", false },
    { "user", "user7", false },     { "password", SECRET_INI_PASSWORD, true },
    { "seconds", "7", false },      { "0|1|2", "1", false },
    { "topic", "t/7", false },      { "text", "text7", false },
    { "path", "/etc/hostname", false }, { "n", "7", false },
    { "bytes", "4096", false },     { "ms", "5000", false },
    { "base64", SECRET_ONENET_DEVICE_KEY, true }, { "unix", "2000000000", false },
    { "file", "/tmp/file7.pem", false }, { "dir", "/tmp", false },
    { "version", "tlsv1.2", false }, { "spec", "sim", false },
    { "level", "warn", false },     { "address", "127.0.0.1", false },
    { "format", "%t", false },      { "filter", "f/7", false },
    { "prefix", "pfx7-", false },   { "template", "t/{device-id}", false },
};

/* Options valid only beside another, and the line that makes them valid. */
static const struct {
    const char *name;
    const char *line;
} companions[] = {
    { "password", "username = user7\n" },      { "disable-clean-session", "id = base\n" },
    { "will-payload", "will-topic = w/7\n" }, { "will-qos", "will-topic = w/7\n" },
    { "will-retain", "will-topic = w/7\n" },  { "cert", "key = /tmp/key7.pem\n" },
    { "key", "cert = /tmp/cert7.pem\n" },
};

/* pub's message sources: exactly one of them, so one replaces another. */
static bool is_message_source(const char *name)
{
    return strcmp(name, "message") == 0 || strcmp(name, "null-message") == 0 ||
           strcmp(name, "file") == 0 || strcmp(name, "stdin-line") == 0 ||
           strcmp(name, "stdin-file") == 0;
}

struct help_option {
    char name[40];
    char arg[24]; /* "" = a flag */
};

/* Flags only a command line means: -L (it sets five options at once),
 * --forget (an action), and the MQTT 5 flags, refused wherever they come
 * from (-D's long name, --property, is also the device's layered option). */
static bool flag_only(const char *line, const char *name)
{
    static const char *const names[] = { "help", "version", "print-config", "config", "url",
                                         "forget", "protocol-version",
                                         "session-expiry-interval" };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i]) == 0)
            return true;
    }
    return strncmp(line, "  -D, --", 8) == 0;
}

/* The options `midge <cmd> --help` lists that the layers carry: all but
 * the flag-only ones. */
static size_t layered_options(const char *cmd, struct help_option *opts, size_t cap)
{
    size_t n = 0;

    proc_run(&run, MIDGE_ARGV((char *)cmd, "--help"), NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, cmd);
    for (const char *line = run.out; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        const char *dash = strstr(line, "--");
        struct help_option h = { "", "" };
        if (strncmp(line, "  ", 2) == 0 && dash != NULL && (end == NULL || dash < end) &&
            sscanf(dash + 2, "%39[^ \n]", h.name) == 1) {
            const char *after = dash + 2 + strlen(h.name);
            if (after[0] == ' ' && after[1] != ' ')
                sscanf(after + 1, "%23[^ \n]", h.arg);
            if (!flag_only(line, h.name)) {
                assert_true(n < cap);
                opts[n++] = h;
            }
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return n;
}

static const struct sample *sample_for(const struct help_option *h)
{
    static const struct sample flag = { "", "yes", false };

    if (h->arg[0] == '\0')
        return &flag;
    for (int by_name = 0; by_name < 2; by_name++) {
        for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
            if (strcmp(samples[i].key, by_name ? h->name : h->arg) == 0)
                return &samples[i];
        }
    }
    fail_msg("no sample value for --%s %s: add one to samples[]", h->name, h->arg);
    return NULL;
}

/* The file a command needs, with `name`'s own lines (and what they would
 * conflict with) left out, and the lines `name` itself needs. */
static void layered_ini(const struct layered_command *c, const char *name, char *buf,
                        size_t cap)
{
    size_t len = 0;

    buf[0] = '\0';
    len += (size_t)snprintf(buf + len, cap - len, "[midge]\n");
    for (const char *line = c->needs; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t key_len = strcspn(line, " ");
        char key[40];
        snprintf(key, sizeof key, "%.*s", (int)key_len, line);
        bool replaced = strcmp(key, name) == 0 ||
                        (is_message_source(key) && is_message_source(name));
        if (!replaced)
            len += (size_t)snprintf(buf + len, cap - len, "%.*s\n", (int)(end - line), line);
        line = end + 1;
    }
    for (size_t i = 0; i < sizeof companions / sizeof companions[0]; i++) {
        if (strcmp(companions[i].name, name) == 0)
            len += (size_t)snprintf(buf + len, cap - len, "%s", companions[i].line);
    }
    assert_true(len < cap);
}

static void run_print_config(const struct layered_command *c)
{
    char *argv[] = { MIDGE_BINARY, (char *)c->name, "--config", ini, "--print-config",
                     (char *)c->operand, NULL };
    proc_run(&run, argv, NULL, RUN_TIMEOUT_MS);
}

/* `name = shown  # from <where>` in the output, the secret never shown. */
static void expect_layered_row(const struct help_option *h, const struct sample *v,
                               const char *where)
{
    char row[512];

    snprintf(row, sizeof row, "\n%s = %s  # from %s\n", h->name,
             v->secret ? "********" : h->arg[0] ? v->value : "true", where);
    if (proc_exit_code(&run) != 0 || strstr(run.out, row) == NULL)
        proc_dump(&run, row + 1);
    assert_int_equal(proc_exit_code(&run), 0);
    assert_non_null(strstr(run.out, row));
    if (v->secret) {
        assert_null(strstr(run.out, v->value));
        assert_null(strstr(run.err, v->value));
    }
}

/* One option through the file, then through its MIDGE_ variable. */
static void check_option_layers(const struct layered_command *c, const struct help_option *h)
{
    const struct sample *v = sample_for(h);
    char text[1024];
    char line[256];
    char env[64] = "MIDGE_";
    char where[sizeof ini + 16];

    for (size_t k = 0; h->name[k] != '\0' && k + 7 < sizeof env; k++)
        env[6 + k] = h->name[k] == '-' ? '_' : (char)toupper((unsigned char)h->name[k]);
    layered_ini(c, h->name, text, sizeof text);
    int n = snprintf(line, sizeof line, "%s = %s\n", h->name, v->value);
    assert_true(n > 0 && (size_t)n < sizeof line);
    write_ini(strcat(text, line), 0600);
    run_print_config(c);
    snprintf(where, sizeof where, "config %s", ini);
    expect_layered_row(h, v, where);

    layered_ini(c, h->name, text, sizeof text);
    write_ini(text, 0600);
    setenv(env, h->arg[0] ? v->value : "on", 1);
    run_print_config(c);
    unsetenv(env);
    snprintf(where, sizeof where, "env %s", env);
    expect_layered_row(h, v, where);
}

/* The option table is the one list behind flags, variables, file keys and
 * --print-config: every option a command lists in --help reads from the
 * file and from MIDGE_<NAME>, has its row, and a secret is masked. */
static void test_every_option_reads_from_file_and_environment(void **state)
{
    struct help_option opts[96];
    (void)state;

    for (size_t i = 0; i < sizeof layered_commands / sizeof layered_commands[0]; i++) {
        const struct layered_command *c = &layered_commands[i];
        size_t n = layered_options(c->name, opts, sizeof opts / sizeof opts[0]);
        assert_true(n > 0);
        for (size_t k = 0; k < n; k++)
            check_option_layers(c, &opts[k]);
    }
}

/* Only a regular file is read: a directory read as an empty file, and
 * /dev/zero and a FIFO never ended (or never opened). Each is refused
 * with one line, whatever else the command line holds. */
static void test_config_that_is_not_a_regular_file_is_refused(void **state)
{
    char fifo[sizeof dir + 32];
    (void)state;
    proc_run(&run, MIDGE_ARGV("pub", "--config", dir, "-t", "t", "-m", "m"), NULL, 5000);
    expect_one_line_error(&run, "is a directory, not a regular file", "--config DIR");
    proc_run(&run, MIDGE_ARGV("pub", "--config", "/dev/zero", "-t", "t", "-m", "m"), NULL, 5000);
    expect_one_line_error(&run, "/dev/zero is a character device", "--config /dev/zero");
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    proc_run(&run, MIDGE_ARGV("device", "--device-id", "x", "--config", fifo), NULL, 5000);
    unlink(fifo);
    expect_one_line_error(&run, "is a FIFO, not a regular file", "--config FIFO");
}

/* A config file is small: one over 1 MiB is a wrong path, refused before
 * it is read. */
static void test_config_over_one_mib_is_refused(void **state)
{
    (void)state;
    FILE *f = fopen(ini, "w");
    assert_non_null(f);
    fputs("[midge]\n", f);
    for (int i = 0; i < 1024 * 1024 / 8 + 1; i++)
        fputs("#comment\n", f);
    assert_int_equal(fclose(f), 0);
    proc_run(&run, MIDGE_ARGV("device", "--device-id", "x", "--config", ini), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "is larger than 1048576 bytes", "a 1 MiB config");
}

/* A line too long to read whole is named with its own number, not read
 * in pieces whose rest looks like more lines; one that fits is read. */
static void test_overlong_line_is_refused_with_its_line_number(void **state)
{
    static char text[120000];
    char where[sizeof ini + 64];
    (void)state;
    size_t n = (size_t)snprintf(text, sizeof text, "[midge]\nport = 1884\nhost = ");
    memset(text + n, 'a', 100000);
    strcpy(text + n + 100000, "\ndevice-id = x\n");
    write_ini(text, 0600);
    snprintf(where, sizeof where, "config %s:3: line longer than 8192 bytes", ini);
    proc_run(&run, MIDGE_ARGV("device", "--config", ini, "--print-config"), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_error(&run, where, "a 100000-byte line");

    /* 8000 bytes of value fit: read whole, as the value. */
    n = (size_t)snprintf(text, sizeof text, "[midge]\ndevice-id = x\nhost = ");
    memset(text + n, 'b', 8000);
    strcpy(text + n + 8000, "\n");
    write_ini(text, 0600);
    proc_run(&run, MIDGE_ARGV("device", "--config", ini, "--print-config"), NULL,
             RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "an 8000-byte value");
    assert_non_null(strstr(run.out, "host = bbbbbbbb"));
    assert_null(strstr(run.out, "bbbbbbbb  # from config\nhost"));
}

#define T(f) cmocka_unit_test_teardown(f, clear_env)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_flag_beats_env_beats_config_file),
        T(test_config_file_named_by_environment),
        T(test_boolean_and_repeated_keys_in_config_file),
        T(test_boolean_from_environment_turns_tls_on),
        T(test_help_and_version_ignore_environment_and_config),
        T(test_print_config_masks_secrets),
        T(test_printed_config_reads_back_the_same),
        T(test_print_config_comes_before_the_checks),
        T(test_mqtt_profile_has_no_product_id),
        T(test_syntax_error_names_file_and_line),
        T(test_unknown_key_is_an_error),
        T(test_wrong_section_is_an_error),
        T(test_bad_value_names_its_line),
        T(test_missing_config_file_is_an_error),
        T(test_config_that_is_not_a_regular_file_is_refused),
        T(test_config_over_one_mib_is_refused),
        T(test_overlong_line_is_refused_with_its_line_number),
        T(test_readable_config_with_secret_draws_a_warning),
        T(test_conflicting_client_id_and_device_id),
        T(test_missing_gpio_chip_fails_at_start),
        T(test_invalid_device_identity_fails_at_start),
        T(test_tls_version_other_than_1_2_is_refused),
        T(test_cafile_turns_tls_on_with_port_8883),
        T(test_cert_without_key_is_refused),
        T(test_max_packet_size_from_file_and_environment),
        T(test_onenet_studio_over_tls_trusts_the_shipped_ca),
        T(test_onenet_profile_defaults),
        T(test_every_option_reads_from_file_and_environment),
    };
    /* MIDGE_TEST_FILTER=pattern runs only the matching tests (cmocka wildcards). */
    if (getenv("MIDGE_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("MIDGE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
