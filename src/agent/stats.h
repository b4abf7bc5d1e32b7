/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's counters as one flat list of (name, value): kernel counters, intake and
 * parser counters, output counters. The same list feeds `--stats` and, later, the
 * exporter, so every counter has exactly one name everywhere.
 */
#ifndef OB_AGENT_STATS_H
#define OB_AGENT_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "agent/intake.h"
#include "bpf/shared/socket_event.h"

struct stat_kv {
	const char *name;
	uint64_t value;
	const char *help;
};

struct output_stats {
	uint64_t records_written;
	uint64_t write_errors; /* records lost because stdout failed */
};

#define AGENT_STATS_MAX 64

/* Fill out[] (AGENT_STATS_MAX entries) and return how many were written. kern may be NULL. */
int agent_stats_collect(struct stat_kv *out, const uint64_t *kern, const struct intake *in,
			const struct output_stats *os);
/* Human-readable, one counter per line, aligned. */
void agent_stats_print(FILE *f, const struct stat_kv *kv, int n);

#endif
