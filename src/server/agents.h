/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agents a server has heard from: for each agent_id, when it last sent a batch, how
 * many batches and rows it delivered, how many resends were recognised as duplicates, and
 * the counters its last batch carried. It answers `GET /v1/agents` and `flowscope status`.
 * Held in memory only (a restarted server learns its agents again within one heartbeat),
 * bounded: beyond max entries the agent heard from longest ago is forgotten.
 */
#ifndef OB_SERVER_AGENTS_H
#define OB_SERVER_AGENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

struct agent_info {
	char agent_id[64];
	uint64_t last_seq;
	uint64_t last_seen_us; /* CLOCK_REALTIME */
	uint64_t batches;      /* stored batches, heartbeats included */
	uint64_t rows;
	uint64_t duplicates; /* resent batches acknowledged without writing */
	size_t ncounters;
	struct wire_counter counters[WIRE_MAX_COUNTERS];
};

struct agent_registry;

struct agent_registry *agents_create(size_t max_agents);
void agents_destroy(struct agent_registry *reg);

/* A batch from info->agent_id was stored (or recognised as a duplicate) at now_us. */
void agents_note(struct agent_registry *reg, const struct wire_batch_info *info, size_t rows,
		 bool duplicate, uint64_t now_us);

/* A copy of every entry, most recently seen first; free() *out. 0 or -ENOMEM. */
int agents_snapshot(struct agent_registry *reg, struct agent_info **out, size_t *n);

#endif
