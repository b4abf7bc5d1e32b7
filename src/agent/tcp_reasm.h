/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP reassembly for one direction of one connection, for the L7 parsers: segments come
 * in capture order; bytes leave in stream order through a callback, each contiguous run
 * once. Retransmitted bytes are delivered once (the first copy wins); segments that arrive
 * ahead of a hole wait, within a byte bound; when the bound is reached, or the caller says
 * the hole will not be filled (tcp_reasm_flush), the hole is skipped and reported as a gap
 * with the bytes before it, so the parser knows bytes are missing (proto_input.gap).
 *
 * Sequence numbers are compared modulo 2^32 (wrap-around is normal on long connections).
 * Memory: at most max_bytes held, in at most TCP_REASM_MAX_SEGS segments; the caller
 * gives the budget. No allocation when segments arrive in order (the common case): they
 * are delivered straight from the caller's buffer.
 */
#ifndef OB_AGENT_TCP_REASM_H
#define OB_AGENT_TCP_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TCP_REASM_MAX_SEGS 32

/*
 * Bytes in stream order: len bytes starting at sequence seq, first seen at ts_ns. gap > 0:
 * that many bytes after these are missing and will never be delivered; the next delivery
 * starts at seq + len + gap. A hole with no bytes delivered just before it in the same call
 * comes as len 0 (data NULL) with gap > 0.
 */
typedef void (*tcp_reasm_deliver_fn)(void *ctx, uint32_t seq, const uint8_t *data, uint32_t len,
				     uint32_t gap, uint64_t ts_ns);

struct tcp_reasm_seg {
	uint32_t seq;
	uint32_t len;
	uint64_t ts_ns;
	uint8_t *data; /* malloc'd copy */
};

struct tcp_reasm_stats {
	uint64_t bytes_delivered;
	uint64_t bytes_retransmitted; /* already delivered or already held: not delivered again */
	uint64_t segs_out_of_order;   /* held ahead of a hole */
	uint64_t gaps;		      /* holes skipped */
	uint64_t gap_bytes;
	uint64_t drop_full; /* segments that could not be held: bound reached, hole skipped */
};

struct tcp_reasm {
	bool started;	   /* next_seq is known */
	uint32_t next_seq; /* sequence of the next byte to deliver */
	uint32_t max_bytes;
	uint32_t held_bytes;
	uint32_t nsegs;
	struct tcp_reasm_seg segs[TCP_REASM_MAX_SEGS]; /* held, sorted by seq */
};

/* max_bytes: most bytes held out of order (0: nothing is held; holes are skipped at once). */
void tcp_reasm_init(struct tcp_reasm *r, uint32_t max_bytes);

/* The stream's first byte is at seq (the SYN's sequence + 1). Optional: without it the
 * first segment seen starts the stream. */
void tcp_reasm_start(struct tcp_reasm *r, uint32_t seq);

/*
 * A segment of len payload bytes at seq, seen at ts_ns. Delivers what became contiguous.
 * Returns 0, or -ENOMEM when a segment could not be copied (the hole is then skipped and
 * counted, and delivery goes on).
 */
int tcp_reasm_push(struct tcp_reasm *r, uint32_t seq, const uint8_t *data, uint32_t len,
		   uint64_t ts_ns, tcp_reasm_deliver_fn deliver, void *ctx,
		   struct tcp_reasm_stats *st);

/* Give up on the current hole: deliver everything held, reporting the holes as gaps. */
void tcp_reasm_flush(struct tcp_reasm *r, tcp_reasm_deliver_fn deliver, void *ctx,
		     struct tcp_reasm_stats *st);

/* Bytes held now. */
static inline uint32_t tcp_reasm_held(const struct tcp_reasm *r)
{
	return r->held_bytes;
}

/* Free what is held, deliver nothing. */
void tcp_reasm_release(struct tcp_reasm *r);

#endif
