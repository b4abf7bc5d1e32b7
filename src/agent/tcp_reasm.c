/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP reassembly: see tcp_reasm.h.
 *
 * Positions are handled as offsets from next_seq: (int32_t)(seq - next_seq) widened to 64
 * bits, so that a start plus a length never overflows and wrap-around across 2^32 needs no
 * special case. Held segments always start at or after next_seq and at most about 2 GiB
 * after it (they are at most REASM_FAR ahead when held, and at most REASM_FAR long), so
 * their offsets are always meaningful.
 *
 * Deliveries go through a one-chunk delay (struct emitter): a chunk is handed to the
 * callback only when the next thing is known, so that a hole skipped right after it is
 * reported as its gap, as the callback contract wants (seq + len + gap is where the next
 * delivery starts). Only when nothing was delivered just before the hole in the same call
 * is a zero-length chunk used to carry the gap.
 *
 * The callback must not call back into the same struct tcp_reasm.
 */
#include "agent/tcp_reasm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * A TCP window is at most 2^30 bytes (65535 << 14), so a segment starting more than that
 * ahead of next_seq cannot belong to the bytes we are waiting for: after a long loss (or a
 * capture that missed a lot), the stream has moved on. Such a segment is not held; the
 * hole up to it is skipped at once. The same bound caps a segment's length: a longer one
 * cannot be a single TCP segment and is processed in pieces of this size, which keeps all
 * offsets below 2^31.
 */
#define REASM_FAR (1u << 30)

/* The part of the pushed segment not yet delivered, held or dropped. */
struct cur_seg {
	uint32_t seq;
	uint32_t len;
	const uint8_t *data;
	uint64_t ts_ns;
};

/* The delivery waiting to learn its gap (see the top of this file). */
struct emitter {
	tcp_reasm_deliver_fn deliver;
	void *ctx;
	struct tcp_reasm_stats *st;
	bool have;
	uint32_t seq;
	uint32_t len;
	const uint8_t *data;
	uint8_t *owned; /* a held segment's buffer, freed once delivered */
	uint64_t ts_ns;
};

/* A part of the pushed segment that no held segment covers. */
struct piece {
	int64_t off;
	uint32_t len;
};

static int64_t seq_off(const struct tcp_reasm *r, uint32_t seq)
{
	return (int64_t)(int32_t)(seq - r->next_seq);
}

static void emit_call(struct emitter *em, uint32_t gap)
{
	em->deliver(em->ctx, em->seq, em->data, em->len, gap, em->ts_ns);
	em->st->bytes_delivered += em->len;
	free(em->owned);
	em->owned = NULL;
	em->have = false;
}

static void emit_data(struct emitter *em, uint32_t seq, const uint8_t *data, uint32_t len,
		      uint8_t *owned, uint64_t ts_ns)
{
	if (em->have)
		emit_call(em, 0);
	em->have = true;
	em->seq = seq;
	em->data = data;
	em->len = len;
	em->owned = owned;
	em->ts_ns = ts_ns;
}

/* A hole of gap bytes starts at seq, where the stream was before the skip. */
static void emit_gap(struct emitter *em, uint32_t seq, uint32_t gap, uint64_t ts_ns)
{
	if (em->have) {
		emit_call(em, gap);
		return;
	}
	em->deliver(em->ctx, seq, NULL, 0, gap, ts_ns);
}

static void emit_end(struct emitter *em)
{
	if (em->have)
		emit_call(em, 0);
}

/*
 * Delivers what is contiguous at next_seq: held segments starting there, and the pushed
 * segment's bytes up to the next held segment (held bytes were seen first, so they win).
 * Bytes of the pushed segment behind next_seq are retransmissions. On return, cur is
 * empty or starts after next_seq, and so does the first held segment.
 */
static void drain(struct tcp_reasm *r, struct cur_seg *cur, struct emitter *em)
{
	struct tcp_reasm_stats *st = em->st;

	for (;;) {
		if (r->nsegs && r->segs[0].seq == r->next_seq) {
			struct tcp_reasm_seg s = r->segs[0];

			r->nsegs--;
			memmove(&r->segs[0], &r->segs[1], r->nsegs * sizeof(r->segs[0]));
			r->held_bytes -= s.len;
			/* The buffer is freed once the callback has seen it. */
			emit_data(em, s.seq, s.data, s.len, s.data, s.ts_ns);
			r->next_seq += s.len;
			continue;
		}
		if (cur->len) {
			int64_t off = seq_off(r, cur->seq);
			uint32_t n;

			if (off > 0)
				break;
			if (off + cur->len <= 0) {
				st->bytes_retransmitted += cur->len;
				cur->len = 0;
				break;
			}
			if (off < 0) {
				st->bytes_retransmitted += (uint32_t)-off;
				cur->seq += (uint32_t)-off;
				cur->data += (uint32_t)-off;
				cur->len -= (uint32_t)-off;
			}
			n = cur->len;
			if (r->nsegs && seq_off(r, r->segs[0].seq) < n)
				n = (uint32_t)seq_off(r, r->segs[0].seq);
			emit_data(em, cur->seq, cur->data, n, NULL, cur->ts_ns);
			r->next_seq += n;
			cur->seq += n;
			cur->data += n;
			cur->len -= n;
			continue;
		}
		break;
	}
}

/*
 * Skips the first hole: next_seq moves to the lowest of the first held segment and the
 * pushed segment, and the skipped bytes are reported as the gap of the delivery before.
 */
static void skip_hole(struct tcp_reasm *r, const struct cur_seg *cur, struct emitter *em)
{
	int64_t lo = INT64_MAX;
	uint64_t ts = 0;

	if (r->nsegs) {
		lo = seq_off(r, r->segs[0].seq);
		ts = r->segs[0].ts_ns;
	}
	if (cur->len && seq_off(r, cur->seq) < lo) {
		lo = seq_off(r, cur->seq);
		ts = cur->ts_ns;
	}
	/* drain() left everything after next_seq: lo is in (0, 2^31). */
	emit_gap(em, r->next_seq, (uint32_t)lo, ts);
	em->st->gaps++;
	em->st->gap_bytes += (uint64_t)lo;
	r->next_seq += (uint32_t)lo;
}

/*
 * Merges runs of held segments that touch each other into one segment each, to free slots
 * when TCP_REASM_MAX_SEGS is reached. The merged segment keeps the time of its first part
 * (when its first byte was seen): that loses the later parts' times, which is better than
 * skipping a hole.
 */
static int compact(struct tcp_reasm *r)
{
	uint32_t i, j, k, total;
	uint8_t *p;

	for (i = 0; i + 1 < r->nsegs; i++) {
		total = r->segs[i].len;
		for (j = i;
		     j + 1 < r->nsegs && r->segs[j].seq + r->segs[j].len == r->segs[j + 1].seq; j++)
			total += r->segs[j + 1].len;
		if (j == i)
			continue;
		p = realloc(r->segs[i].data, total);
		if (!p)
			return -ENOMEM;
		r->segs[i].data = p;
		p += r->segs[i].len;
		for (k = i + 1; k <= j; k++) {
			memcpy(p, r->segs[k].data, r->segs[k].len);
			p += r->segs[k].len;
			free(r->segs[k].data);
		}
		r->segs[i].len = total;
		memmove(&r->segs[i + 1], &r->segs[j + 1], (r->nsegs - j - 1) * sizeof(r->segs[0]));
		r->nsegs -= j - i;
	}
	return 0;
}

/*
 * Holds the pushed segment and all held segments that overlap or touch it as one segment,
 * when its pieces would not fit in the free slots one by one. Held bytes are copied over
 * the pushed ones: the first copy wins.
 */
static int absorb(struct tcp_reasm *r, const struct cur_seg *cur, struct tcp_reasm_stats *st,
		  uint32_t newbytes)
{
	int64_t cs = seq_off(r, cur->seq), ce = cs + cur->len, us = cs, ue = ce, fs, le;
	uint32_t i, j, k, n, total;
	struct tcp_reasm_seg s;

	for (i = 0; i < r->nsegs && seq_off(r, r->segs[i].seq) + r->segs[i].len < cs; i++)
		;
	for (j = i; j < r->nsegs && seq_off(r, r->segs[j].seq) <= ce; j++)
		;
	/*
	 * segs[i..j) touch the pushed segment; they are replaced by one. Touching none, it
	 * would need a slot of its own, and there is none (that is why we are here).
	 */
	n = j - i;
	if (!n || r->nsegs - n + 1 > TCP_REASM_MAX_SEGS)
		return -ENOSPC;
	fs = seq_off(r, r->segs[i].seq);
	le = seq_off(r, r->segs[j - 1].seq) + r->segs[j - 1].len;
	/* The time of the first byte: a held byte was seen before the pushed one. */
	s.ts_ns = fs <= cs ? r->segs[i].ts_ns : cur->ts_ns;
	if (fs < us)
		us = fs;
	if (le > ue)
		ue = le;
	total = (uint32_t)(ue - us);
	s.seq = r->next_seq + (uint32_t)us;
	s.len = total;
	s.data = malloc(total);
	if (!s.data)
		return -ENOMEM;
	memcpy(s.data + (cs - us), cur->data, cur->len);
	for (k = i; k < j; k++) {
		memcpy(s.data + (seq_off(r, r->segs[k].seq) - us), r->segs[k].data, r->segs[k].len);
		free(r->segs[k].data);
	}
	memmove(&r->segs[i + 1], &r->segs[j], (r->nsegs - j) * sizeof(r->segs[0]));
	r->segs[i] = s;
	r->nsegs = r->nsegs - n + 1;
	r->held_bytes += newbytes;
	st->bytes_retransmitted += cur->len - newbytes;
	st->segs_out_of_order++;
	return 0;
}

/*
 * Holds the pushed segment (which starts after next_seq, at most REASM_FAR ahead): the
 * parts no held segment covers are copied, each its own segment. Returns 0 (cur is then
 * consumed), -ENOSPC when the bounds do not allow it, or -ENOMEM; nothing changes on error
 * except that touching held segments may have been merged.
 */
static int hold(struct tcp_reasm *r, struct cur_seg *cur, struct tcp_reasm_stats *st)
{
	struct piece pc[TCP_REASM_MAX_SEGS + 1];
	uint8_t *buf[TCP_REASM_MAX_SEGS + 1];
	int64_t cs = seq_off(r, cur->seq), ce = cs + cur->len, pos = cs;
	uint32_t i, k, np = 0, newbytes = 0;
	int err;

	/* Held segments are disjoint and sorted: what lies between them is new. */
	for (i = 0; i < r->nsegs && pos < ce; i++) {
		int64_t hs = seq_off(r, r->segs[i].seq), he = hs + r->segs[i].len;

		if (he <= pos)
			continue;
		if (hs >= ce)
			break;
		if (hs > pos) {
			pc[np].off = pos;
			pc[np].len = (uint32_t)(hs - pos);
			newbytes += pc[np++].len;
		}
		pos = he;
	}
	if (pos < ce) {
		pc[np].off = pos;
		pc[np].len = (uint32_t)(ce - pos);
		newbytes += pc[np++].len;
	}
	if (!np) {
		/* Every byte is already held. */
		st->bytes_retransmitted += cur->len;
		cur->len = 0;
		return 0;
	}
	if ((uint64_t)r->held_bytes + newbytes > r->max_bytes)
		return -ENOSPC;
	if (r->nsegs + np > TCP_REASM_MAX_SEGS) {
		err = compact(r);
		if (err)
			return err;
	}
	if (r->nsegs + np > TCP_REASM_MAX_SEGS) {
		err = absorb(r, cur, st, newbytes);
		if (!err)
			cur->len = 0;
		return err;
	}
	for (k = 0; k < np; k++) {
		buf[k] = malloc(pc[k].len);
		if (!buf[k]) {
			while (k--)
				free(buf[k]);
			return -ENOMEM;
		}
		memcpy(buf[k], cur->data + (pc[k].off - cs), pc[k].len);
	}
	for (k = 0, i = 0; k < np; k++) {
		while (i < r->nsegs && seq_off(r, r->segs[i].seq) < pc[k].off)
			i++;
		memmove(&r->segs[i + 1], &r->segs[i], (r->nsegs - i) * sizeof(r->segs[0]));
		r->segs[i].seq = r->next_seq + (uint32_t)pc[k].off;
		r->segs[i].len = pc[k].len;
		r->segs[i].ts_ns = cur->ts_ns;
		r->segs[i].data = buf[k];
		r->nsegs++;
	}
	r->held_bytes += newbytes;
	st->bytes_retransmitted += cur->len - newbytes;
	st->segs_out_of_order++;
	cur->len = 0;
	return 0;
}

void tcp_reasm_init(struct tcp_reasm *r, uint32_t max_bytes)
{
	memset(r, 0, sizeof(*r));
	r->max_bytes = max_bytes;
}

/*
 * Once the stream has started (a segment came first), its start is known: ignored then, so
 * that bytes already delivered are not delivered again and nothing held ends up behind
 * next_seq.
 */
void tcp_reasm_start(struct tcp_reasm *r, uint32_t seq)
{
	if (r->started)
		return;
	r->started = true;
	r->next_seq = seq;
}

static int push_one(struct tcp_reasm *r, uint32_t seq, const uint8_t *data, uint32_t len,
		    uint64_t ts_ns, struct emitter *em)
{
	struct cur_seg cur = { .seq = seq, .len = len, .data = data, .ts_ns = ts_ns };
	bool far, full_counted = false;
	int ret = 0, err;

	if (!r->started) {
		r->started = true;
		r->next_seq = seq;
	}
	drain(r, &cur, em);
	if (!cur.len)
		return 0;
	/* Far ahead: the stream moved on; everything held goes out, then the hole is skipped. */
	far = seq_off(r, cur.seq) > REASM_FAR;
	while (cur.len) {
		if (!far) {
			err = hold(r, &cur, em->st);
			if (!err)
				break;
			/* The caller counts -ENOMEM; drop_full is for the bounds. */
			if (err == -ENOMEM) {
				ret = -ENOMEM;
			} else if (!full_counted) {
				em->st->drop_full++;
				full_counted = true;
			}
		}
		/* Skip holes one at a time: the segment is held as soon as it fits. */
		skip_hole(r, &cur, em);
		drain(r, &cur, em);
	}
	return ret;
}

int tcp_reasm_push(struct tcp_reasm *r, uint32_t seq, const uint8_t *data, uint32_t len,
		   uint64_t ts_ns, tcp_reasm_deliver_fn deliver, void *ctx,
		   struct tcp_reasm_stats *st)
{
	struct tcp_reasm_stats scratch = { 0 };
	struct emitter em = { .deliver = deliver, .ctx = ctx, .st = st ? st : &scratch };
	int ret = 0, err;

	while (len) {
		uint32_t n = len > REASM_FAR ? REASM_FAR : len;

		err = push_one(r, seq, data, n, ts_ns, &em);
		if (err)
			ret = err;
		seq += n;
		data += n;
		len -= n;
	}
	emit_end(&em);
	return ret;
}

void tcp_reasm_flush(struct tcp_reasm *r, tcp_reasm_deliver_fn deliver, void *ctx,
		     struct tcp_reasm_stats *st)
{
	struct tcp_reasm_stats scratch = { 0 };
	struct emitter em = { .deliver = deliver, .ctx = ctx, .st = st ? st : &scratch };
	struct cur_seg none = { 0 };

	while (r->nsegs) {
		skip_hole(r, &none, &em);
		drain(r, &none, &em);
	}
	emit_end(&em);
}

void tcp_reasm_release(struct tcp_reasm *r)
{
	uint32_t i;

	for (i = 0; i < r->nsegs; i++)
		free(r->segs[i].data);
	r->nsegs = 0;
	r->held_bytes = 0;
}
