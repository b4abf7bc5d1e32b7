/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers the parsers in src/proto share: the checks parse() starts with, and when
 * a byte of an input was seen. Inline and pure, like the parsers.
 */
#ifndef OB_PROTO_PROTO_UTIL_H
#define OB_PROTO_PROTO_UTIL_H

#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "proto/proto.h"

/* The stats to count into: the caller's, or *scratch zeroed when it passed none. */
static inline struct proto_stats *proto_stats_or_scratch(struct proto_stats *stats,
							 struct proto_stats *scratch)
{
	if (stats)
		return stats;
	memset(scratch, 0, sizeof(*scratch));
	return scratch;
}

/*
 * The start of parse(): count into *scratch when the caller passed no stats, and refuse an
 * input proto.h does not allow (no state, an unknown direction, more bytes than the int
 * result can count, bytes without data). Returns the stats to count into, or NULL after
 * counting a parse error; parse() then returns PROTO_ERROR.
 */
static inline struct proto_stats *proto_parse_begin(const void *state, const struct proto_input *in,
						    struct proto_stats *stats,
						    struct proto_stats *scratch)
{
	stats = proto_stats_or_scratch(stats, scratch);
	if (!state || !in || (in->dir != PROTO_DIR_EGRESS && in->dir != PROTO_DIR_INGRESS) ||
	    in->len > INT_MAX || (in->len && !in->data)) {
		stats->parse_errors++;
		return NULL;
	}
	return stats;
}

/* When data[idx] of an input began to be captured (0 when the input has no segments). */
static inline uint64_t proto_ts_start_at(const struct proto_input *in, size_t idx)
{
	const struct proto_seg *s = proto_input_locate(in, idx);

	return s ? s->ts_start : 0;
}

/* When the capture event holding data[idx] ended (0 when the input has no segments). */
static inline uint64_t proto_ts_end_at(const struct proto_input *in, size_t idx)
{
	const struct proto_seg *s = proto_input_locate(in, idx);

	return s ? s->ts_end : 0;
}

#endif
