/*
 * midge's fleet simulator: a device fleet against one or more brokers, in
 * one process or a few. Every simulated device is the session engine and
 * the device logic `midge device` runs, on a non-blocking socket served by
 * an epoll loop; a commander sends commands at a fixed rate and times
 * their round trips.
 *
 * This is the simulator's whole interface: `midge bench` (src/cli/
 * cmd_bench.c) fills struct bench_options from its flags and calls
 * bench_run. The simulator sits on midge's public API (include/midge/)
 * only; the files behind it are listed in bench_internal.h.
 *
 * A run has four phases:
 *   connect  the devices connect (in this process with one worker, else in
 *            `workers` child processes, fork) while the commander connects,
 *            one connection per broker;
 *   command  `rate` commands per second for `duration_s` seconds to random
 *            devices;
 *   drain    up to the command time-out for the last replies;
 *   stop     the devices disconnect and the workers send their figures.
 * Then the report on stdout, and the JSON and plot files when asked. At
 * the end the retained presence and state of every device are removed
 * (the devices clear their own, the commander the rest), so a run leaves
 * nothing for `midge devices` to list.
 *
 * Profiles (struct bench_options.profile):
 *   mqtt    every device is `midge device`'s mqtt profile on any broker;
 *           the commander publishes devices/{id}/cmd/request/{n} and
 *           reads devices/+/cmd/response/+.
 *   onenet  every device is the onenet profile (OneNET's legacy protocol)
 *           against a broker running the platform plugin
 *           (plugins/mosquitto-onenet/): client id = its registry id, user
 *           name = the product id, password = the product's master key. The
 *           commander is an operator of the product: it publishes
 *           $onenet/{product}/{id}/cmd/{n} (pushed to the device as
 *           $creq/{n}) and reads $onenet/{product}/+/rsp/+. Every device
 *           id must be in the plugin's registry. Nothing is removed at
 *           the end: what stays retained (presence and the last data
 *           point of every device) is the platform's own record.
 */
#ifndef MIDGE_BENCH_H
#define MIDGE_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/session.h"

#define BENCH_MAX_BROKERS 16
#define BENCH_MAX_WORKERS 64

enum bench_profile {
    BENCH_PROFILE_MQTT = 0,
    BENCH_PROFILE_ONENET
};

/* What to run. The settings are named after the `midge bench` flags that
 * set them, and the messages about them say those flags. Every string is
 * borrowed until bench_run returns; numbers are checked by bench_run. */
struct bench_options {
    const char *prog; /* the prefix of every error line: "midge bench" */

    /* Brokers: each entry is "host", "host:port", "[v6]:port" or a bare
     * IPv6 address, or several of them separated by commas; at most
     * BENCH_MAX_BROKERS in all. Device g uses broker g % brokers. */
    const char *hosts[BENCH_MAX_BROKERS];
    size_t host_count;
    uint16_t port; /* of an entry that names none */

    /* The fleet. */
    unsigned long devices;    /* required: 0 is refused */
    unsigned long rate;       /* commands per second; 0 = connect only, an idle fleet */
    unsigned long duration_s; /* of the command phase */
    unsigned long workers;    /* processes; 1 = the devices share the commander's loop */
    uint8_t qos;              /* of the commands and of the replies' subscription */
    const char *bind_range;   /* IPv4 source addresses "A.B.C.D[-E.F.G.H]"; NULL = none */
    const char *id_prefix;    /* client ids are <prefix>-<worker>-<n>; NULL = "bench" */
    enum bench_profile profile;
    const char *product_id;   /* onenet: required, the devices' product */

    /* Every connection, devices and commander. onenet: the user name is
     * product_id, and the password (required) the product's master key. */
    const char *username; /* NULL = none */
    const char *password; /* NULL = none */
    uint16_t keepalive_s;
    bool clean_session; /* the devices'; the commander's is always clean */

    /* Reports besides the text on stdout; NULL = none. Both paths are
     * checked for writing before the run starts. */
    const char *json_path;
    const char *plot_path; /* a PNG, drawn by gnuplot when it is installed */

    /* Hooks; each may be NULL. */
    midge_trace_fn trace; /* the commander's packets (devices are too many to trace) */
    void *trace_user;
    /* One error line, given as "prog", then the text (printf format). NULL
     * prints "prog: text" on stderr as it is. */
    void (*error)(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    /* Called once, after the worker processes exist and before anything
     * connects: whatever it installs (signal handlers) they do not
     * inherit. */
    void (*stop_arm)(void);
    /* Polled by the run's loop: true stops the run early (SIGINT). */
    bool (*stop_requested)(void);
};

/* Check *o, run the fleet and report. True when every device connected,
 * every planned command was sent and answered without error, and the
 * retained messages were removed. False after one error line that says
 * why; the report (stdout, the JSON file) is still written for a run
 * stopped through stop_requested, or one that failed once commands ran:
 * the figures until then. */
bool bench_run(const struct bench_options *o);

#endif /* MIDGE_BENCH_H */
