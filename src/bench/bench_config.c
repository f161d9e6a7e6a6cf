/*
 * midge bench: from the options to a run's configuration. Everything
 * that can be wrong with them is found here, before any connection or
 * process exists, and reported in one line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_internal.h"

/* Client ids end in -<worker>-<n>; the prefix is one topic level of the
 * device's default topics (devices/<id>/...). */
#define ID_PREFIX_MAX 32u

/* Limits that keep the arithmetic of schedules and tables in range. */
#define DEVICES_MAX 10000000ul
#define RATE_MAX 200000ul
#define DURATION_MAX_S 86400ul

/* Time allowed for connecting everything: a fixed part for the slow start
 * of brokers, and 1 ms per device (the target is 10,000 per second). */
#define CONNECT_DEADLINE_BASE_MS 30000u

/* --- Brokers ------------------------------------------------------------------ */

/* "host", "host:port", "[v6]:port" or a bare IPv6 address. */
static bool split_host_port(char *entry, uint16_t default_port, const char **host,
                            uint16_t *port)
{
    char *colon = NULL;

    *port = default_port;
    if (entry[0] == '[') {
        char *close = strchr(entry, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return false;
        *close = '\0';
        *host = entry + 1;
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        *host = entry;
        colon = strchr(entry, ':');
        /* Two colons: an IPv6 address without a port. */
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            colon = NULL;
    }
    if (colon != NULL) {
        char *end = NULL;
        *colon = '\0';
        unsigned long p = strtoul(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || p == 0 || p > 65535)
            return false;
        *port = (uint16_t)p;
    }
    return **host != '\0';
}

/* Resolve once, up front: tens of thousands of connects then reuse the
 * address. IPv4 first, since --bind is IPv4 and brokers on loopback
 * usually listen on 127.0.0.1 even where "localhost" is also ::1. */
static bool resolve(struct bench_broker *b, const char *host, uint16_t port, char *why,
                    size_t cap)
{
    struct addrinfo hints, *list = NULL;
    char service[8];

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof service, "%u", (unsigned)port);
    int rc = getaddrinfo(host, service, &hints, &list);
    if (rc != 0) {
        snprintf(why, cap, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return false;
    }
    const struct addrinfo *pick = list;
    for (const struct addrinfo *a = list; a != NULL; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    }
    memcpy(&b->addr, pick->ai_addr, pick->ai_addrlen);
    b->addr_len = pick->ai_addrlen;
    freeaddrinfo(list);
    snprintf(b->name, sizeof b->name, "%s:%u", host, (unsigned)port);
    return true;
}

/* One -h value: a comma-separated list of brokers. */
static bool add_brokers(struct bench_config *c, const char *spec, char *why, size_t cap)
{
    char copy[512];
    char *save = NULL;

    if (strlen(spec) >= sizeof copy) {
        snprintf(why, cap, "-h value too long");
        return false;
    }
    snprintf(copy, sizeof copy, "%s", spec);
    for (char *entry = strtok_r(copy, ",", &save); entry != NULL;
         entry = strtok_r(NULL, ",", &save)) {
        const char *host = NULL;
        uint16_t port = 0;
        if (c->broker_count >= BENCH_MAX_BROKERS) {
            snprintf(why, cap, "at most %u brokers", BENCH_MAX_BROKERS);
            return false;
        }
        if (!split_host_port(entry, c->opts->port, &host, &port)) {
            snprintf(why, cap, "invalid broker '%s' (host, host:port or [v6]:port)", entry);
            return false;
        }
        if (!resolve(&c->brokers[c->broker_count], host, port, why, cap))
            return false;
        c->broker_count++;
    }
    if (c->broker_count == 0) {
        snprintf(why, cap, "no broker in '%s'", spec);
        return false;
    }
    return true;
}

static bool brokers_from(struct bench_config *c, char *why, size_t cap)
{
    const struct bench_options *o = c->opts;

    if (o->host_count == 0 || o->host_count > BENCH_MAX_BROKERS) {
        snprintf(why, cap, "from 1 to %u broker entries", BENCH_MAX_BROKERS);
        return false;
    }
    for (size_t i = 0; i < o->host_count; i++) {
        if (!add_brokers(c, o->hosts[i], why, cap))
            return false;
    }
    return true;
}

/* --- Source addresses ------------------------------------------------------------- */

/* "A.B.C.D" or "A.B.C.D-E.F.G.H", IPv4 only, low to high. */
static bool parse_bind(struct bench_config *c, const char *spec, char *why, size_t cap)
{
    char first[32], last[32];
    const char *dash = strchr(spec, '-');
    struct in_addr a, b;

    size_t n = dash != NULL ? (size_t)(dash - spec) : strlen(spec);
    if (n >= sizeof first || (dash != NULL && strlen(dash + 1) >= sizeof last))
        goto bad;
    memcpy(first, spec, n);
    first[n] = '\0';
    snprintf(last, sizeof last, "%s", dash != NULL ? dash + 1 : first);
    if (inet_pton(AF_INET, first, &a) != 1 || inet_pton(AF_INET, last, &b) != 1)
        goto bad;
    uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
    if (lo == 0 || hi < lo || hi - lo >= 65536u)
        goto bad;
    c->bind_first = lo;
    c->bind_count = hi - lo + 1u;
    for (unsigned i = 0; i < c->broker_count; i++) {
        if (c->brokers[i].addr.ss_family != AF_INET) {
            snprintf(why, cap, "--bind takes IPv4 addresses but %s is not IPv4",
                     c->brokers[i].name);
            return false;
        }
    }
    return true;

bad:
    snprintf(why, cap, "invalid --bind '%s' (an IPv4 address or range low-high, "
                       "at most 65536 addresses)", spec);
    return false;
}

/* --- Descriptors ---------------------------------------------------------------- */

/* Raise the soft descriptor limit to the hard one (no privilege needed),
 * then check the busiest worker fits. */
static bool fit_descriptors(const struct bench_config *c, char *why, size_t cap)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        snprintf(why, cap, "getrlimit: %s", strerror(errno));
        return false;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    uint64_t per_worker = bench_worker_devices(c, 0);
    uint64_t need = per_worker + BENCH_FD_RESERVE;
    if (rl.rlim_cur == RLIM_INFINITY || need <= rl.rlim_cur)
        return true;
    uint64_t usable = rl.rlim_cur > BENCH_FD_RESERVE ? rl.rlim_cur - BENCH_FD_RESERVE : 1;
    uint64_t workers = (c->devices + usable - 1u) / usable;
    snprintf(why, cap,
             "%u devices in %u worker%s need %llu descriptors per process, over the limit "
             "of %llu: use --workers %llu or more",
             c->devices, c->workers, c->workers == 1 ? "" : "s", (unsigned long long)need,
             (unsigned long long)rl.rlim_cur, (unsigned long long)workers);
    return false;
}

/* --- The whole configuration ------------------------------------------------------- */

static bool check_numbers(struct bench_config *c, char *why, size_t cap)
{
    const struct bench_options *o = c->opts;

    if (o->devices == 0) {
        snprintf(why, cap, "--devices is required");
        return false;
    }
    if (o->devices > DEVICES_MAX || o->rate > RATE_MAX || o->duration_s == 0 ||
        o->duration_s > DURATION_MAX_S || o->workers == 0 || o->workers > BENCH_MAX_WORKERS) {
        snprintf(why, cap, "out of range: --devices 1..%lu, --rate 0..%lu, --duration 1..%lu, "
                           "--workers 1..%u", DEVICES_MAX, RATE_MAX, DURATION_MAX_S,
                 BENCH_MAX_WORKERS);
        return false;
    }
    if (o->workers > o->devices) {
        snprintf(why, cap, "--workers %lu is more than --devices %lu", o->workers, o->devices);
        return false;
    }
    c->devices = (uint32_t)o->devices;
    c->rate = (uint32_t)o->rate;
    c->duration_s = (uint32_t)o->duration_s;
    c->workers = (unsigned)o->workers;
    c->qos = o->qos;
    c->connect_deadline_ms = CONNECT_DEADLINE_BASE_MS + c->devices;
    return true;
}

static bool check_identity(struct bench_config *c, char *why, size_t cap)
{
    const struct bench_options *o = c->opts;

    /* -i names the fleet; without it every device is bench-<w>-<n>. */
    c->id_prefix = o->id_prefix != NULL ? o->id_prefix : "bench";
    if (strlen(c->id_prefix) > ID_PREFIX_MAX || strpbrk(c->id_prefix, "/+#") != NULL ||
        !midge_utf8_valid((const uint8_t *)c->id_prefix, strlen(c->id_prefix))) {
        snprintf(why, cap, "-i must be at most %u characters without '/', '+' or '#'",
                 ID_PREFIX_MAX);
        return false;
    }
    return true;
}

/* The platform plugin's ids: 1 to 40 letters, digits, '-', '_' or '.'. */
static bool onenet_id_chars(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= 40 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static bool check_profile(struct bench_config *c, char *why, size_t cap)
{
    const struct bench_options *o = c->opts;

    c->onenet = o->profile == BENCH_PROFILE_ONENET;
    if (o->profile != BENCH_PROFILE_MQTT && !c->onenet) {
        snprintf(why, cap, "--profile: bench knows mqtt and onenet");
        return false;
    }
    if (!c->onenet)
        return true;
    if (o->product_id == NULL || !onenet_id_chars(o->product_id) || o->password == NULL) {
        snprintf(why, cap, "--profile onenet needs --product-id (the registry's product) and "
                           "-P (its master key)");
        return false;
    }
    /* The devices' ids are the registry's: <prefix>-<worker>-<n>. */
    if (!onenet_id_chars(c->id_prefix)) {
        snprintf(why, cap, "--profile onenet: -i must be letters, digits, '-', '_' or '.' "
                           "(the platform's device ids)");
        return false;
    }
    c->product_id = o->product_id;
    return true;
}

static bool check_paths(const struct bench_options *o, char *why, size_t cap)
{
    /* The plot path is written into a gnuplot script between quotes. */
    if (o->plot_path != NULL && strpbrk(o->plot_path, "'\"\n\\") != NULL) {
        snprintf(why, cap, "--plot path may not contain quotes, backslashes or newlines");
        return false;
    }
    return true;
}

bool bench_configure(struct bench_config *c, const struct bench_options *o, char *why,
                     size_t cap)
{
    memset(c, 0, sizeof *c);
    c->opts = o;
    if (!check_numbers(c, why, cap) || !check_identity(c, why, cap) ||
        !check_profile(c, why, cap) || !check_paths(o, why, cap))
        return false;
    if (!brokers_from(c, why, cap))
        return false;
    if (o->bind_range != NULL && !parse_bind(c, o->bind_range, why, cap))
        return false;
    return fit_descriptors(c, why, cap);
}
