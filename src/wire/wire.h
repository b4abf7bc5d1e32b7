/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent -> server batch codec (docs/protocol.md): l7_flow_log records to a
 * zstd-compressed protobuf Batch and back. Decoding is for untrusted input: sizes are
 * bounded before anything is allocated, every field is range-checked, and a failure says
 * what was wrong. No I/O here: the transport is the caller's.
 */
#ifndef OB_WIRE_WIRE_H
#define OB_WIRE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/record.h"

#define WIRE_VERSION 1
/* Limits a server enforces by default: compressed body and decompressed batch. */
#define WIRE_MAX_BODY	 (16u << 20)
#define WIRE_MAX_DECODED (64u << 20)
#define WIRE_MAX_RECORDS 16384

/* Counters a batch may carry, and their names: [a-z0-9_], 1..WIRE_COUNTER_NAME_MAX-1. */
#define WIRE_MAX_COUNTERS     128
#define WIRE_COUNTER_NAME_MAX 48

struct wire_counter {
	char name[WIRE_COUNTER_NAME_MAX];
	uint64_t value;
};

struct wire_batch_info {
	uint32_t version;
	char agent_id[64];
	uint64_t seq;
	size_t ncounters;
	struct wire_counter counters[WIRE_MAX_COUNTERS];
};

/*
 * Encode n records as one compressed batch. On success *out is a malloc'd buffer of
 * *out_len bytes owned by the caller. Returns 0, -EINVAL (agent_id too long, n too
 * large) or -ENOMEM.
 */
int wire_encode(const struct wire_batch_info *info, const struct l7_record *recs, size_t n,
		int zstd_level, uint8_t **out, size_t *out_len);

/*
 * Building a batch record by record, as records come: each is packed at once, so a batch
 * waiting to be sent holds its protobuf bytes (a few hundred per record) rather than
 * struct l7_record copies (~3 KiB each). Zero-initialise; reuse after finish.
 */
struct wire_builder {
	uint8_t *buf;
	size_t len, cap;
	size_t n; /* records added */
};

/* 0, -ENOMEM, or -E2BIG once WIRE_MAX_RECORDS are in. */
int wire_builder_add(struct wire_builder *b, const struct l7_record *r);
/* Compress header + records into *out (malloc'd) and empty the builder. 0 or -errno. */
int wire_builder_finish(struct wire_builder *b, const struct wire_batch_info *info, int zstd_level,
			uint8_t **out, size_t *out_len);
/* Bytes the builder holds now (records packed, before compression). */
static inline size_t wire_builder_bytes(const struct wire_builder *b)
{
	return b->len;
}
void wire_builder_reset(struct wire_builder *b);
void wire_builder_free(struct wire_builder *b);

/*
 * Decode a compressed batch of len bytes, decompressing at most max_decoded bytes. On
 * success *recs is a malloc'd array of *n records (caller frees; NULL when n is 0) and
 * info is filled. Returns 0, -EMSGSIZE (too large), -EPROTO (not a batch: bad
 * compression, bad protobuf, a field out of range; err says which), -EPROTONOSUPPORT
 * (another version) or -ENOMEM.
 */
int wire_decode(const uint8_t *buf, size_t len, size_t max_decoded, struct wire_batch_info *info,
		struct l7_record **recs, size_t *n, char *err, size_t errlen);

#endif
