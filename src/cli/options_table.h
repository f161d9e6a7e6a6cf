/*
 * midge CLI: the option table every subcommand's parser, configuration
 * layers and defaults share, and struct cli_options, which it fills.
 *
 * Options come in groups (broker connection, topics, sending, receiving);
 * a subcommand names the groups it accepts and gets the same letters, the
 * same validation and the same --help layout as every other subcommand,
 * as mosquitto_pub and mosquitto_sub share theirs.
 *
 * The bottom of the option machinery, which calls one way only:
 *
 *   options.h (the parser: getopt, --help, the shared checks)
 *     -> config_defaults.h (defaults that depend on other options)
 *     -> config.h (the flag > environment > INI file layers, --print-config)
 *     -> this header (the table; options_mosq.h checks mosquitto's flags)
 *
 * Nothing here includes or calls anything above it (layout.layers checks
 * the includes); where an option sets others (-L), the caller learns of it
 * through a struct cli_option_note it passes down.
 *
 * A new option is one row of the table (options_table.c) and the field of
 * struct cli_options its subcommand reads; nothing else changes:
 *
 *   { "colour", 0, required_argument, CLI_GROUP_DEMO, "name",
 *     "the lamp's colour", 0, FIELD(STR, colour), NULL },
 *
 *   - getopt: --colour, taken by every command with CLI_GROUP_DEMO (a
 *     letter as the key adds the short form; 0 is a long name only);
 *   - --help: "--colour name  the lamp's colour", in the table's order;
 *   - the environment: MIDGE_COLOUR (MIDGE_ + the long name in upper case,
 *     '-' as '_'), below the flag;
 *   - the INI file: "colour = ..." in [midge], below the environment;
 *   - --print-config: "colour = red  # from flag", or the field's value
 *     marked "default" when no layer gave one (FIELD_OR for a default only
 *     the subcommand applies);
 *   - CLI_OPT_SECRET: masked by --print-config, and a file others may read
 *     that holds it is warned about; CLI_OPT_FLAG_ONLY: a flag and nothing
 *     else; CLI_OPT_REPEATABLE: several lines of the file;
 *   - the value: stored as given (a string, or true for a BOOL field) when
 *     the row names no apply function; one is named for a range, a check
 *     or an option without one field, next to the others in
 *     options_table.c (options_mosq.c for mosquitto's flags).
 *
 * A new subcommand is a group bit below, its rows, and its line in main.c.
 * config.c names no option; config_defaults.c names only those whose
 * defaults depend on others (TLS from --cafile, a profile's endpoint), the
 * one place a new option may need a line of its own, and only for that.
 * tests/layout/test_option_rows.c builds a copy of these sources with such
 * a subcommand added and checks every point above.
 */
#ifndef MIDGE_CLI_OPTIONS_TABLE_H
#define MIDGE_CLI_OPTIONS_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/config.h"

/* Option groups a subcommand may accept. */
enum cli_group {
    CLI_GROUP_BROKER = 1u << 0,  /* -h -p -i -u -P -k -c -d --will-* --max-packet-size */
    CLI_GROUP_TOPIC = 1u << 1,   /* -t -q */
    CLI_GROUP_SEND = 1u << 2,    /* -m -n -l -f -r */
    CLI_GROUP_RECEIVE = 1u << 3, /* -C -W -v */
    CLI_GROUP_TLS = 1u << 4,     /* --tls --cafile --capath --cert --key --insecure --tls-version */
    CLI_GROUP_CONFIG = 1u << 5,  /* --config --print-config */
    CLI_GROUP_IDENTITY = 1u << 6, /* --profile --device-id --product-id --prefix */
    CLI_GROUP_DEVICE = 1u << 7,  /* --led --property --subscribe-commands --backoff-min/max
                                    --inbox-max --inbox-bytes --log-level -q (no command takes it with TOPIC or BENCH,
                                    whose -q is --qos) */
    CLI_GROUP_TOKEN = 1u << 8,   /* --device-key --method --expires --ttl */
    CLI_GROUP_WAIT = 1u << 9,    /* -W alone (send) */
    CLI_GROUP_WATCH = 1u << 10,  /* --watch */
    CLI_GROUP_OPERAND = 1u << 11, /* exactly one operand after the options (send's COMMAND) */
    CLI_GROUP_BENCH = 1u << 12,  /* --devices --rate --duration --qos --bind --workers --connect-time --json --plot */
    CLI_GROUP_LINK = 1u << 13,   /* -A --unix --nodelay: how the socket connects (every
                                    command on cli_conn: not bench) */
    CLI_GROUP_MOSQ = 1u << 14,   /* mosquitto_pub/_sub's own: -L -I -M --quiet, and the
                                    MQTT 5 flags -V -x -D, refused */
    CLI_GROUP_CONSOLE = 1u << 15 /* --listen --api-key */
};

/* One subcommand: its name, what it does, the option groups it takes, how
 * many -t it accepts, and its entry point (argv[0] = name). Its options are
 * the table's rows of those groups. */
struct cli_command {
    const char *name;
    const char *summary;
    unsigned groups;
    size_t max_topics;
    int (*run)(const struct cli_command *cmd, int argc, char **argv);
};

/* Where pub's message comes from: exactly one of -m, -n, -f, -l, -s. */
enum cli_source {
    CLI_SOURCE_NONE = 0,
    CLI_SOURCE_ARG,   /* -m */
    CLI_SOURCE_EMPTY, /* -n */
    CLI_SOURCE_FILE,  /* -f */
    CLI_SOURCE_LINES, /* -l */
    CLI_SOURCE_STDIN  /* -s: all of stdin, one message */
};

#define CLI_MAX_TOPICS MIDGE_CLIENT_MAX_SUBS

/* --max-packet-size bounds: every acknowledgement fits 64 bytes, and no
 * MQTT packet is longer than a 268435455-byte remaining length plus its
 * 5-byte fixed header. */
#define CLI_MAX_PACKET_MIN 64ul
#define CLI_MAX_PACKET_MAX 268435460ul

/* -h values kept in order (bench spreads its devices over all of them). */
#define CLI_MAX_HOSTS 16

/* Token defaults: the strongest method OneNET offers, and a year of
 * validity (a device re-signs when it restarts; --ttl or --expires for
 * anything else). */
#define CLI_TOKEN_METHOD_DEFAULT "sha256"
#define CLI_TOKEN_TTL_DEFAULT_S 31536000ul

/* The device's inbox (--inbox-max messages, --inbox-bytes of memory):
 * defaults and the accepted ranges. */
#define CLI_INBOX_MAX_DEFAULT 1000ul
#define CLI_INBOX_MAX_LIMIT 1000000ul
#define CLI_INBOX_BYTES_DEFAULT 1048576ul
#define CLI_INBOX_BYTES_MIN 1024ul
#define CLI_INBOX_BYTES_LIMIT 1073741824ul

/* Everything the shared parser fills. Strings point into argv. */
struct cli_options {
    const char *prog; /* "midge pub": the prefix of every error line */
    /* broker */
    const char *host;
    uint16_t port;
    const char *client_id;
    const char *username;
    const char *password;
    uint16_t keepalive_s;
    bool clean_session;
    bool debug;
    const char *will_topic;
    const char *will_payload;
    uint8_t will_qos;
    bool will_retain;
    unsigned long max_packet_size; /* largest incoming packet; 0 = the subcommand's default */
    unsigned long connack_timeout_ms; /* CONNACK and SUBACK wait; 0 = the library's default */
    /* topics */
    const char *topics[CLI_MAX_TOPICS];
    size_t topic_count;
    uint8_t qos;
    /* send */
    enum cli_source source;
    const char *message; /* -m text, or -f path */
    bool retain;
    /* receive */
    unsigned long count;     /* -C; 0 = no limit */
    unsigned long timeout_s; /* -W; 0 = no limit */
    bool verbose;
    /* TLS: any of these turns TLS on, and then the default port is 8883 */
    bool tls;
    const char *cafile;
    const char *capath;
    const char *certfile;
    const char *keyfile;
    const char *tls_version;
    bool insecure;
    bool port_set; /* -p given (from any layer): profile/TLS defaults must not override it */
    bool host_set;
    /* configuration layers: flags > MIDGE_* environment > INI file */
    const char *config_path;
    bool print_config;
    /* device identity, shared by device, send, devices and token */
    const char *profile;    /* "mqtt", "onenet", "onenet-studio"; NULL = "mqtt" */
    const char *device_id;
    const char *product_id;
    const char *prefix;     /* mqtt profile topic prefix; NULL = devices/{device-id} */
    /* device */
    const char *led;        /* "sim" (default) or gpio:CHIP:LINE[:active-low] */
    const char *property;   /* onenet-studio property name (default "led") */
    const char *state_file; /* the LED's last state, restored at start; NULL = none */
    bool subscribe_commands;
    unsigned long backoff_min_ms;
    unsigned long backoff_max_ms;
    unsigned long inbox_max;   /* messages waiting to be handled, at most */
    unsigned long inbox_bytes; /* and the memory they take, at most */
    /* "error", "warn", "info" or "debug" (static storage); NULL until the
     * layers are in, then the effective level (-d, -q resolved) */
    const char *log_level;
    bool quiet;             /* -q: --log-level error */
    /* token */
    const char *device_key;
    const char *method;     /* md5, sha1, sha256; NULL = CLI_TOKEN_METHOD_DEFAULT */
    unsigned long long expires; /* Unix seconds; 0 = now + ttl */
    unsigned long ttl_s;    /* 0 = CLI_TOKEN_TTL_DEFAULT_S; never given with expires */
    /* devices */
    bool watch;
    bool direct; /* send --profile onenet: $creq/$crsp itself, not the platform's tree */
    /* CLI_GROUP_OPERAND: the one operand (send's COMMAND) */
    const char *operand;
    /* bench */
    const char *hosts[CLI_MAX_HOSTS]; /* every -h, in order */
    size_t host_count;                /* -h given; above CLI_MAX_HOSTS the rest were dropped */
    unsigned long devices;            /* 0 = not given */
    unsigned long rate;               /* commands per second */
    unsigned long duration_s;
    unsigned long workers;
    unsigned long connect_time_s;     /* 0 = bench's default */
    const char *bind_range;           /* --bind, checked by bench */
    const char *json_path;
    const char *plot_path;
    /* how the socket connects (CLI_GROUP_LINK) */
    const char *bind_address;   /* -A: local address to connect from */
    const char *unix_path;      /* --unix: the broker's Unix-domain socket */
    bool nodelay;               /* --nodelay: accepted; TCP_NODELAY is always on */
    bool tls_os_certs;          /* --tls-use-os-certs: TLS, trusting the system's CAs */
    /* mosquitto_pub/_sub's own (CLI_GROUP_MOSQ) */
    const char *id_prefix;      /* -I: client id = prefix + process id */
    unsigned long max_inflight; /* -M: QoS 1/2 messages unacknowledged at once; 0 = 20 */
    bool quiet_errors;          /* --quiet: no error lines on stderr */
    /* pub */
    unsigned long repeat;       /* --repeat: publish this many times; 0 = once */
    unsigned long repeat_delay_ms; /* --repeat-delay, in milliseconds */
    /* sub */
    bool no_eol;                /* -N */
    bool no_retained;           /* -R: skip retained messages */
    bool exit_after_sub;        /* -E */
    bool pretty;                /* --pretty: -F %j/%J indented */
    bool remove_retained;       /* --remove-retained */
    bool retained_only;         /* --retained-only */
    const char *format;         /* -F: mosquitto_sub's format string (sub_format.c) */
    const char *filter_outs[CLI_MAX_TOPICS]; /* -T */
    size_t filter_out_count;
    const char *unsubscribe[CLI_MAX_TOPICS]; /* -U */
    size_t unsubscribe_count;
    /* devices */
    const char *forget;         /* --forget ID */
    /* console */
    const char *listen;         /* --listen host:port; NULL = 127.0.0.1:8080 */
    const char *api_key;        /* --api-key: what API requests must carry */
    /* storage for the default client id */
    char default_id[48];
};

/* "prog: message" on stderr, one line. */
void cli_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* --- the option table, as the configuration layers (config.c) walk it ----- */

/* How --print-config reads the value in force from struct cli_options
 * when no layer set the option (its default, or one derived from others). */
enum cli_field_kind {
    CLI_FIELD_NONE = 0, /* no one field holds the value: only a layer's value is shown */
    CLI_FIELD_STR,      /* const char *; NULL = unset */
    CLI_FIELD_U8,
    CLI_FIELD_U16,
    CLI_FIELD_ULONG,    /* 0 = unset */
    CLI_FIELD_ULL,      /* 0 = unset */
    CLI_FIELD_BOOL,
    CLI_FIELD_NOT_BOOL  /* the option is the negation of the field (-c) */
};

/* How the layers treat an option, beyond its value. */
enum cli_option_flag {
    CLI_OPT_SECRET = 1u << 0,      /* masked by --print-config; a file that others may read
                                      and that holds it draws a warning */
    CLI_OPT_FLAG_ONLY = 1u << 1,   /* no variable, no INI key, no --print-config row */
    CLI_OPT_REPEATABLE = 1u << 2,  /* may stand on several lines of the file (-t) */
    CLI_OPT_CONFIG_FILE = 1u << 3  /* names the file layer itself: a flag or MIDGE_CONFIG,
                                      never a key of the file; printed as the header */
};

struct cli_option;

/* Whom an option that stands for others tells of each value it set (-L
 * sets -t, -h, -p, -u, -P and --tls-use-os-certs), so the layer that gave
 * it records them as its own and no lower layer replaces them. The table
 * knows no layer: the caller of cli_option_apply passes its own. */
struct cli_option_note {
    void (*fn)(void *user, const struct cli_option *opt, const char *arg);
    void *user;
};

/* Check one value of `opt` and store it in *o; false after printing one
 * line prefixed with o->prog. arg is NULL for an option without a value;
 * note may be NULL (nobody records the options this one sets). */
typedef bool cli_option_apply_fn(const struct cli_command *cmd, struct cli_options *o,
                                 const struct cli_option *opt, const char *arg,
                                 const struct cli_option_note *note);

/* One option: everything the parser, --help and the layers know of it.
 * Its long name is also its INI key, and "MIDGE_" + the long name in upper
 * case with '-' as '_' is its environment variable (config.h). */
struct cli_option {
    const char *long_name;
    int key;         /* the short letter; for a long-only option 0, or a name of
                        its own above 255 when its apply function tells it apart */
    int has_arg;     /* no_argument or required_argument (getopt.h) */
    unsigned group;  /* 0 = every subcommand */
    const char *arg; /* argument name shown in --help */
    const char *help;
    unsigned flags;  /* CLI_OPT_* */
    enum cli_field_kind kind;
    size_t offset;   /* of the field in struct cli_options; 0 with CLI_FIELD_NONE */
    const char *zero; /* --print-config's value for a NULL string or a zero number: the
                         default only the subcommand applies (--led sim); NULL = unset */
    /* How a value is checked and stored; NULL stores it as its field's kind
     * says: a string as given, true for BOOL, false for NOT_BOOL. A number
     * or an option without one field always has a function (its range). */
    cli_option_apply_fn *apply;
};

/* The table's length is bounded so the layers can keep one record an
 * option in static storage (options_table.c checks it at compile time). */
#define CLI_OPTION_MAX 128

/* Keys of the two options the parser answers itself (--help, --version). */
enum cli_key_parser {
    CLI_KEY_HELP = 256,
    CLI_KEY_VERSION
};

size_t cli_option_count(void);

/* The i-th entry (i < cli_option_count()), valid for the whole run. */
const struct cli_option *cli_option_at(size_t i);

/* True when the option has a short letter (-h), not only a long name. */
static inline bool cli_option_has_letter(const struct cli_option *opt)
{
    return opt->key > 0 && opt->key < 256;
}

/* True when `cmd` takes the option. */
bool cli_option_accepted(const struct cli_command *cmd, const struct cli_option *opt);

/* The entry `cmd` takes with this key (a letter two options share, -q, is
 * the one of `cmd`'s groups); NULL when there is none. */
const struct cli_option *cli_option_find(const struct cli_command *cmd, int key);

/* Apply one value of `opt`, wherever it came from (a flag, a variable, a
 * line of the file); false after printing one line prefixed with o->prog.
 * The options it sets besides its own go to note (may be NULL). */
bool cli_option_apply(const struct cli_command *cmd, struct cli_options *o,
                      const struct cli_option *opt, const char *arg,
                      const struct cli_option_note *note);

#endif /* MIDGE_CLI_OPTIONS_TABLE_H */
