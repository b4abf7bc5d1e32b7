/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The connection table: one entry per traced socket (keyed by the socket id the kernel
 * reports, its inode number, so a reused fd is a new entry). Bounded: at most max_conns
 * entries; when full the least recently active entry is evicted through the evict
 * callback, which flushes it first. Entries idle past a timeout are evicted by
 * conn_table_expire(). Lookups and touches are O(1).
 *
 * The table owns the entries' memory; what hangs off an entry (parser state, buffers,
 * pending requests) is the owner's, released in the evict callback.
 */
#ifndef OB_AGENT_CONN_H
#define OB_AGENT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "proto/proto.h"

struct pending_req;

/* Bytes of one direction the parser has not consumed yet, with where they came from. */
struct leftover {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t nsegs;
	struct proto_seg segs[PROTO_MAX_SEGS];
};

struct conn_dir {
	struct leftover *left; /* NULL when everything was consumed (the common case) */
	uint64_t stream_off;   /* stream offset of the next byte to arrive */
	/* syscall_trace_id and coroutine of the event that began the message now being
	 * parsed in this direction: a message's ids are those of its first syscall. */
	uint64_t msg_trace_id;
	uint64_t msg_coroutine;
};

struct conn {
	uint64_t socket_id;
	uint32_t pid;
	char comm[16];
	uint8_t family;
	uint8_t l4_proto;
	uint8_t saddr[16];
	uint8_t daddr[16];
	uint16_t sport;
	uint16_t dport;
	struct proto_ctx pctx; /* what the parser is told besides the bytes */
	uint64_t last_ns;      /* last activity, ns since the epoch */

	enum proto_id proto; /* PROTO_UNKNOWN until detected */
	const struct proto_ops *ops;
	void *pstate;
	/* The parser just reported a protocol switch (proto_msg.next_proto): the rest of the
	 * input goes to this protocol's parser. 0 otherwise. */
	uint16_t next_proto;
	struct conn_dir dir[2];

	/* Requests waiting for their response, oldest first (a ring). */
	struct pending_req **pending;
	uint32_t pending_head;
	uint32_t pending_count;

	UT_hash_handle hh;
	struct conn *lru_prev; /* older */
	struct conn *lru_next; /* newer */
};

typedef void (*conn_evict_fn)(void *ctx, struct conn *c, uint64_t now_ns);

struct conn_table {
	struct conn *map;
	struct conn *lru_head; /* least recently active */
	struct conn *lru_tail;
	uint32_t count;
	uint32_t max;
	conn_evict_fn evict;
	void *evict_ctx;
	uint64_t evicted_full; /* evictions because the table was full */
	uint64_t evicted_idle;
};

void conn_table_init(struct conn_table *t, uint32_t max, conn_evict_fn evict, void *ctx);
/* Evict (through the callback) and free every entry. */
void conn_table_clear(struct conn_table *t, uint64_t now_ns);

struct conn *conn_lookup(struct conn_table *t, uint64_t socket_id);
/*
 * Create an entry for socket_id (zero-filled but for the id), evicting the least recently
 * active entry first when the table is full. NULL only when out of memory.
 */
struct conn *conn_create(struct conn_table *t, uint64_t socket_id, uint64_t now_ns);
/* Mark activity: moves the entry to the most recent end. */
void conn_touch(struct conn_table *t, struct conn *c, uint64_t now_ns);
/* Evict and free one entry. */
void conn_remove(struct conn_table *t, struct conn *c, uint64_t now_ns);
/* Evict entries idle since before now_ns - idle_ns. Returns how many. */
uint32_t conn_table_expire(struct conn_table *t, uint64_t now_ns, uint64_t idle_ns);

#define conn_table_foreach(t, c, tmp) HASH_ITER (hh, (t)->map, c, tmp)

#endif
