/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's counters as one flat list of (name, value): kernel counters, intake and
 * parser counters, output and exporter counters. The same list feeds `--stats` and the
 * counters every batch carries to the server, so each counter has one name everywhere.
 */
#ifndef OB_AGENT_STATS_H
#define OB_AGENT_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "agent/capture.h"
#include "agent/exporter.h"
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
	uint64_t self_skipped; /* records of traffic with our own server, not kept */
};

/* At most WIRE_MAX_COUNTERS (every counter travels in each batch). */
#define AGENT_STATS_MAX 128

/* Fill out[] (AGENT_STATS_MAX entries) and return how many were written. kern, in, pk, os
 * and ex may be NULL (no kernel counters, no eBPF intake, no packet capture, no stdout
 * output, no exporter). */
int agent_stats_collect(struct stat_kv *out, const uint64_t *kern, const struct intake *in,
			const struct capture_stats *pk, const struct output_stats *os,
			const struct exporter_stats *ex);
/* Human-readable, one counter per line, aligned. */
void agent_stats_print(FILE *f, const struct stat_kv *kv, int n);

#endif
