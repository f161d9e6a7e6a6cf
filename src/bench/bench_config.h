/*
 * midge bench: checking the options and building the run's configuration
 * (bench_config.c).
 */
#ifndef MIDGE_CLI_BENCH_CONFIG_H
#define MIDGE_CLI_BENCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "bench_internal.h"

/* Fill *c from *o: ranges, the broker list (-h, repeated or comma-separated,
 * resolved here), --bind, and the descriptor limit (the soft limit is raised
 * to the hard one). False with one line in `why` (no program prefix). */
bool bench_configure(struct bench_config *c, const struct cli_options *o, char *why, size_t cap);

#endif /* MIDGE_CLI_BENCH_CONFIG_H */
