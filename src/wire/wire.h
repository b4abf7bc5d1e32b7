/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent -> server batch codec (docs/protocol.md): l7_flow_log and l4_flow_log records
 * and flow_metrics network rows to a zstd-compressed protobuf Batch and back. Decoding is for
 * untrusted input: sizes are bounded before anything is allocated, every field is range-checked,
 * and a failure says what was wrong. No I/O here: the transport is the caller's.
 */
#ifndef OB_WIRE_WIRE_H
#define OB_WIRE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/l4_record.h"
#include "agent/net_meter.h"
#include "agent/proc_info.h"
#include "agent/record.h"

#define WIRE_VERSION 1
/* Limits a server enforces by default: compressed body and decompressed batch. */
#define WIRE_MAX_BODY	 (16u << 20)
#define WIRE_MAX_DECODED (64u << 20)
/* Records of every kind together (l7 + l4 + net) in one batch. */
#define WIRE_MAX_RECORDS 16384

/* Process reports one batch may carry (Batch.procs). */
#define WIRE_MAX_PROCS 1024
/* Largest pid Linux gives (PID_MAX_LIMIT on 64-bit). */
#define WIRE_MAX_PID (4u << 20)

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
 * Encode n l7 records as one compressed batch (a batch with l4 or network rows too is
 * built with struct wire_builder). On success *out is a malloc'd buffer of *out_len bytes
 * owned by the caller. Returns 0, -EINVAL (agent_id too long, n too
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
	size_t n;      /* records added, every kind */
	size_t nprocs; /* process reports added (not records: they do not count in n) */
	bool has_host;
};

/* 0, -ENOMEM, or -E2BIG once WIRE_MAX_RECORDS (every kind together) are in. */
int wire_builder_add(struct wire_builder *b, const struct l7_record *r);
/* An l4_flow_log row: the same, in the same batch. */
int wire_builder_add_l4(struct wire_builder *b, const struct l4_record *r);
/* A flow_metrics network / network_map row: the same, in the same batch. -EINVAL for a
 * row the decoder would refuse (a table that is not enum net_table). */
int wire_builder_add_net(struct wire_builder *b, const struct net_row *r);
/* The host report of this batch: 0, -EALREADY (one per batch), -EINVAL (a report the
 * decoder would refuse: empty name, more than HOST_MAX_IPS) or -ENOMEM. */
int wire_builder_set_host(struct wire_builder *b, const struct host_info *h);
/* A process report: 0, -E2BIG once WIRE_MAX_PROCS are in, -EINVAL (pid 0 or above
 * WIRE_MAX_PID, a container id that is not 64 hex digits) or -ENOMEM. */
int wire_builder_add_proc(struct wire_builder *b, const struct proc_info *p);
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

/* The records of a decoded batch: malloc'd arrays, NULL when their count is 0. */
struct wire_decoded {
	struct l7_record *l7;
	size_t n7;
	struct l4_record *l4;
	size_t n4;
	struct net_row *net; /* keys zero-filled past their family's address length */
	size_t nnet;
	bool has_host; /* Batch.host was there */
	struct host_info host;
	struct proc_info *procs;
	size_t nprocs;
};

/*
 * Decode a compressed batch of len bytes, decompressing at most max_decoded bytes. On
 * success *out holds the records (release with wire_decoded_free) and info is filled; on
 * failure *out is empty. Returns 0, -EMSGSIZE (too large), -EPROTO (not a batch: bad
 * compression, bad protobuf, a field out of range; err says which), -EPROTONOSUPPORT
 * (another version) or -ENOMEM.
 */
int wire_decode(const uint8_t *buf, size_t len, size_t max_decoded, struct wire_batch_info *info,
		struct wire_decoded *out, char *err, size_t errlen);
/* Free the arrays and empty *d. NULL-safe. */
void wire_decoded_free(struct wire_decoded *d);

#endif
