/* SPDX-License-Identifier: Apache-2.0 */
/* See agents.h. A few agents per server is the norm, so a linear scan is enough. */
#include "server/agents.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct agent_registry {
	pthread_mutex_t lock;
	size_t max, n;
	struct agent_info *a;
};

struct agent_registry *agents_create(size_t max_agents)
{
	struct agent_registry *reg;

	if (!max_agents)
		return NULL;
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return NULL;
	pthread_mutex_init(&reg->lock, NULL);
	reg->max = max_agents;
	return reg;
}

void agents_destroy(struct agent_registry *reg)
{
	if (!reg)
		return;
	pthread_mutex_destroy(&reg->lock);
	free(reg->a);
	free(reg);
}

static struct agent_info *find_or_add(struct agent_registry *reg, const char *id)
{
	struct agent_info *e, *na;
	size_t oldest = 0;

	for (size_t i = 0; i < reg->n; i++)
		if (!strcmp(reg->a[i].agent_id, id))
			return &reg->a[i];
	if (reg->n == reg->max) {
		/* Full: forget the agent heard from longest ago. */
		for (size_t i = 1; i < reg->n; i++)
			if (reg->a[i].last_seen_us < reg->a[oldest].last_seen_us)
				oldest = i;
		e = &reg->a[oldest];
	} else {
		/* Grow one at a time: entries are large and agents few. */
		na = realloc(reg->a, (reg->n + 1) * sizeof(*na));
		if (!na)
			return NULL;
		reg->a = na;
		e = &reg->a[reg->n++];
	}
	memset(e, 0, sizeof(*e));
	snprintf(e->agent_id, sizeof(e->agent_id), "%s", id);
	return e;
}

void agents_note(struct agent_registry *reg, const struct wire_batch_info *info, size_t rows,
		 bool duplicate, uint64_t now_us)
{
	struct agent_info *e;

	if (!reg)
		return;
	pthread_mutex_lock(&reg->lock);
	e = find_or_add(reg, info->agent_id);
	if (e) {
		e->last_seen_us = now_us;
		if (duplicate) {
			e->duplicates++;
		} else {
			e->batches++;
			e->rows += rows;
			if (info->seq > e->last_seq)
				e->last_seq = info->seq;
			/* A batch without counters keeps the last ones heard. */
			if (info->ncounters) {
				e->ncounters = info->ncounters;
				memcpy(e->counters, info->counters,
				       info->ncounters * sizeof(e->counters[0]));
			}
		}
	}
	pthread_mutex_unlock(&reg->lock);
}

static int by_last_seen_desc(const void *a, const void *b)
{
	const struct agent_info *x = a, *y = b;

	return x->last_seen_us < y->last_seen_us ? 1 : x->last_seen_us > y->last_seen_us ? -1 : 0;
}

int agents_snapshot(struct agent_registry *reg, struct agent_info **out, size_t *n)
{
	struct agent_info *copy = NULL;

	*out = NULL;
	*n = 0;
	if (!reg)
		return 0;
	pthread_mutex_lock(&reg->lock);
	if (reg->n) {
		copy = malloc(reg->n * sizeof(*copy));
		if (!copy) {
			pthread_mutex_unlock(&reg->lock);
			return -ENOMEM;
		}
		memcpy(copy, reg->a, reg->n * sizeof(*copy));
		*n = reg->n;
	}
	pthread_mutex_unlock(&reg->lock);
	if (copy)
		qsort(copy, *n, sizeof(*copy), by_last_seen_desc);
	*out = copy;
	return 0;
}
