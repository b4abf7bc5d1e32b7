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
#define WIRE_MAX_RECORDS 100000

struct wire_batch_info {
	uint32_t version;
	char agent_id[64];
	uint64_t seq;
};

/*
 * Encode n records as one compressed batch. On success *out is a malloc'd buffer of
 * *out_len bytes owned by the caller. Returns 0, -EINVAL (agent_id too long, n too
 * large) or -ENOMEM.
 */
int wire_encode(const struct wire_batch_info *info, const struct l7_record *recs, size_t n,
		int zstd_level, uint8_t **out, size_t *out_len);

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
