/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP reassembly: the exact sequence of deliveries (seq, len, gap, time, bytes) for in
 * order, retransmitted, overlapping, out of order and lost segments, the byte and segment
 * bounds, wrap-around across 2^32, and a randomized stream. Every delivery is also checked
 * against the callback contract as it happens: it starts where the previous one plus its
 * gap ended, and a zero-length delivery only carries a gap.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/tcp_reasm.h"

struct dl {
	uint32_t seq, len, gap;
	uint64_t ts;
	const uint8_t *ptr; /* as passed: checks that in-order bytes are not copied */
	size_t boff;	    /* where its bytes are in rec.bytes */
};

struct rec {
	struct dl *d;
	size_t n, cap;
	uint8_t *bytes;
	size_t nbytes, bcap;
	bool have_next;
	uint32_t next;
	/* Property tests: the expected stream, at sequence base, and how often each byte came. */
	const uint8_t *stream;
	uint32_t base, stream_len;
	uint8_t *seen;
};

static void on_deliver(void *ctx, uint32_t seq, const uint8_t *data, uint32_t len, uint32_t gap,
		       uint64_t ts_ns)
{
	struct rec *rc = ctx;
	struct dl *d;

	if (rc->have_next)
		assert_int_equal(seq, rc->next);
	if (!len)
		assert_true(gap > 0);
	else
		assert_non_null(data);
	rc->have_next = true;
	rc->next = seq + len + gap;
	if (rc->n == rc->cap) {
		rc->cap = rc->cap ? 2 * rc->cap : 64;
		rc->d = realloc(rc->d, rc->cap * sizeof(*rc->d));
		assert_non_null(rc->d);
	}
	if (rc->nbytes + len > rc->bcap) {
		rc->bcap = 2 * (rc->nbytes + len) + 256;
		rc->bytes = realloc(rc->bytes, rc->bcap);
		assert_non_null(rc->bytes);
	}
	d = &rc->d[rc->n++];
	d->seq = seq;
	d->len = len;
	d->gap = gap;
	d->ts = ts_ns;
	d->ptr = data;
	d->boff = rc->nbytes;
	if (len)
		memcpy(rc->bytes + rc->nbytes, data, len);
	rc->nbytes += len;
	if (rc->stream) {
		uint32_t off = seq - rc->base, i;

		assert_true(off <= rc->stream_len && len <= rc->stream_len - off);
		assert_memory_equal(data ? data : (const uint8_t *)"", rc->stream + off, len);
		for (i = 0; i < len; i++)
			assert_int_equal(rc->seen[off + i]++, 0);
	}
}

static void rec_free(struct rec *rc)
{
	free(rc->d);
	free(rc->bytes);
	memset(rc, 0, sizeof(*rc));
}

/* Byte v of the copies a test sends at sequence seq: copies differ, to see which one won. */
static uint8_t pat(uint32_t seq, unsigned int v)
{
	return (uint8_t)(seq * 31u + (seq >> 8) * 7u + v * 101u);
}

static int push_v(struct tcp_reasm *r, struct rec *rc, struct tcp_reasm_stats *st, uint32_t seq,
		  uint32_t len, unsigned int v, uint64_t ts)
{
	uint8_t *buf = malloc(len ? len : 1);
	uint32_t i;
	int ret;

	assert_non_null(buf);
	for (i = 0; i < len; i++)
		buf[i] = pat(seq + i, v);
	ret = tcp_reasm_push(r, seq, buf, len, ts, on_deliver, rc, st);
	free(buf);
	return ret;
}

static void push(struct tcp_reasm *r, struct rec *rc, struct tcp_reasm_stats *st, uint32_t seq,
		 uint32_t len, unsigned int v, uint64_t ts)
{
	assert_int_equal(push_v(r, rc, st, seq, len, v, ts), 0);
}

/* Delivery i is (seq, len, gap) at time ts, its bytes from copy v. */
static void expect(const struct rec *rc, size_t i, uint32_t seq, uint32_t len, uint32_t gap,
		   uint64_t ts, unsigned int v)
{
	const struct dl *d;
	uint32_t k;

	assert_true(i < rc->n);
	d = &rc->d[i];
	assert_int_equal(d->seq, seq);
	assert_int_equal(d->len, len);
	assert_int_equal(d->gap, gap);
	assert_int_equal(d->ts, ts);
	for (k = 0; k < len; k++)
		assert_int_equal(rc->bytes[d->boff + k], pat(seq + k, v));
}

static void test_in_order_no_copy(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };
	uint8_t a[10], b[5], c[7];
	uint32_t i;

	(void)unused;
	for (i = 0; i < sizeof(a); i++)
		a[i] = pat(1000 + i, 0);
	for (i = 0; i < sizeof(b); i++)
		b[i] = pat(1010 + i, 0);
	for (i = 0; i < sizeof(c); i++)
		c[i] = pat(1015 + i, 0);
	tcp_reasm_init(&r, 1 << 16);
	/* Zero-length segments do nothing, not even start the stream. */
	assert_int_equal(tcp_reasm_push(&r, 5, a, 0, 1, on_deliver, &rc, &st), 0);
	assert_false(r.started);
	assert_int_equal(tcp_reasm_push(&r, 1000, a, sizeof(a), 1, on_deliver, &rc, &st), 0);
	assert_int_equal(rc.n, 1);
	assert_int_equal(tcp_reasm_push(&r, 1010, b, sizeof(b), 2, on_deliver, &rc, &st), 0);
	assert_int_equal(rc.n, 2);
	assert_int_equal(tcp_reasm_push(&r, 1015, c, sizeof(c), 3, on_deliver, &rc, &st), 0);
	assert_int_equal(rc.n, 3);
	expect(&rc, 0, 1000, 10, 0, 1, 0);
	expect(&rc, 1, 1010, 5, 0, 2, 0);
	expect(&rc, 2, 1015, 7, 0, 3, 0);
	assert_ptr_equal(rc.d[0].ptr, a);
	assert_ptr_equal(rc.d[1].ptr, b);
	assert_ptr_equal(rc.d[2].ptr, c);
	assert_int_equal(st.bytes_delivered, 22);
	assert_int_equal(st.bytes_retransmitted, 0);
	assert_int_equal(st.segs_out_of_order, 0);
	assert_int_equal(st.gaps, 0);
	assert_int_equal(tcp_reasm_held(&r), 0);
	assert_int_equal(r.next_seq, 1022);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

static void test_retransmission(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };

	(void)unused;
	tcp_reasm_init(&r, 1 << 16);
	push(&r, &rc, &st, 0, 10, 0, 1);
	push(&r, &rc, &st, 0, 10, 1, 2); /* all delivered already */
	assert_int_equal(rc.n, 1);
	assert_int_equal(st.bytes_retransmitted, 10);
	push(&r, &rc, &st, 5, 10, 1, 3); /* half old, half new */
	assert_int_equal(rc.n, 2);
	expect(&rc, 0, 0, 10, 0, 1, 0);
	expect(&rc, 1, 10, 5, 0, 3, 1);
	push(&r, &rc, &st, 2, 2, 1, 4);
	assert_int_equal(rc.n, 2);
	assert_int_equal(st.bytes_retransmitted, 17);
	assert_int_equal(st.bytes_delivered, 15);
	assert_int_equal(tcp_reasm_held(&r), 0);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

static void test_partial_overlap_first_copy_wins(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };

	(void)unused;
	tcp_reasm_init(&r, 1 << 16);
	push(&r, &rc, &st, 100, 10, 0, 1);
	push(&r, &rc, &st, 120, 10, 1, 2); /* held */
	push(&r, &rc, &st, 125, 15, 2, 3); /* [130,140) held, 5 already held */
	push(&r, &rc, &st, 115, 7, 3, 4);  /* [115,120) held, 2 already held */
	assert_int_equal(rc.n, 1);
	assert_int_equal(tcp_reasm_held(&r), 25);
	assert_int_equal(st.segs_out_of_order, 3);
	assert_int_equal(st.bytes_retransmitted, 7);
	/* [108,118): 2 delivered already, [110,115) new, [115,118) already held. */
	push(&r, &rc, &st, 108, 10, 4, 5);
	assert_int_equal(rc.n, 5);
	expect(&rc, 0, 100, 10, 0, 1, 0);
	expect(&rc, 1, 110, 5, 0, 5, 4);
	expect(&rc, 2, 115, 5, 0, 4, 3);
	expect(&rc, 3, 120, 10, 0, 2, 1);
	expect(&rc, 4, 130, 10, 0, 3, 2);
	assert_int_equal(st.bytes_retransmitted, 12);
	assert_int_equal(st.bytes_delivered, 40);
	assert_int_equal(st.gaps, 0);
	assert_int_equal(tcp_reasm_held(&r), 0);
	assert_int_equal(r.nsegs, 0);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

static void test_out_of_order_321(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };

	(void)unused;
	tcp_reasm_init(&r, 1 << 16);
	tcp_reasm_start(&r, 0x1000);
	push(&r, &rc, &st, 0x1014, 10, 0, 30);
	push(&r, &rc, &st, 0x100a, 10, 0, 20);
	assert_int_equal(rc.n, 0);
	assert_int_equal(tcp_reasm_held(&r), 20);
	push(&r, &rc, &st, 0x1000, 10, 0, 10);
	assert_int_equal(rc.n, 3);
	expect(&rc, 0, 0x1000, 10, 0, 10, 0);
	expect(&rc, 1, 0x100a, 10, 0, 20, 0);
	expect(&rc, 2, 0x1014, 10, 0, 30, 0);
	assert_int_equal(st.segs_out_of_order, 2);
	assert_int_equal(st.bytes_delivered, 30);
	assert_int_equal(st.bytes_retransmitted, 0);
	assert_int_equal(tcp_reasm_held(&r), 0);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

static void test_hole_then_fill(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };

	(void)unused;
	tcp_reasm_init(&r, 1 << 16);
	push(&r, &rc, &st, 0, 10, 0, 1);
	push(&r, &rc, &st, 20, 10, 0, 2);
	assert_int_equal(rc.n, 1);
	push(&r, &rc, &st, 10, 10, 0, 3);
	assert_int_equal(rc.n, 3);
	expect(&rc, 0, 0, 10, 0, 1, 0);
	expect(&rc, 1, 10, 10, 0, 3, 0);
	expect(&rc, 2, 20, 10, 0, 2, 0);
	assert_int_equal(st.gaps, 0);
	assert_int_equal(st.segs_out_of_order, 1);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

static void test_hole_never_filled_flush(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };

	(void)unused;
	tcp_reasm_init(&r, 1 << 16);
	tcp_reasm_flush(&r, on_deliver, &rc, &st); /* nothing held: nothing */
	push(&r, &rc, &st, 0, 10, 0, 1);
	push(&r, &rc, &st, 15, 10, 0, 2);
	push(&r, &rc, &st, 30, 10, 0, 3);
	assert_int_equal(rc.n, 1);
	tcp_reasm_flush(&r, on_deliver, &rc, &st);
	assert_int_equal(rc.n, 4);
	expect(&rc, 0, 0, 10, 0, 1, 0);
	expect(&rc, 1, 10, 0, 5, 2, 0); /* the first hole: nothing before it in this call */
	assert_null(rc.d[1].ptr);
	expect(&rc, 2, 15, 10, 5, 2, 0); /* the second hole rides on the bytes before it */
	expect(&rc, 3, 30, 10, 0, 3, 0);
	assert_int_equal(st.gaps, 2);
	assert_int_equal(st.gap_bytes, 10);
	assert_int_equal(st.bytes_delivered, 30);
	assert_int_equal(tcp_reasm_held(&r), 0);
	assert_int_equal(r.nsegs, 0);
	tcp_reasm_flush(&r, on_deliver, &rc, &st);
	assert_int_equal(rc.n, 4);
	/* The stream goes on after the last held byte. */
	push(&r, &rc, &st, 40, 3, 0, 4);
	expect(&rc, 4, 40, 3, 0, 4, 0);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

static void test_max_bytes_bound(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };

	(void)unused;
	tcp_reasm_init(&r, 20);
	push(&r, &rc, &st, 0, 10, 0, 1);
	push(&r, &rc, &st, 20, 10, 0, 2);
	push(&r, &rc, &st, 40, 10, 0, 3);
	assert_int_equal(tcp_reasm_held(&r), 20);
	/* 30 bytes would be held: the first hole goes, then [60,70) fits. */
	push(&r, &rc, &st, 60, 10, 0, 4);
	assert_int_equal(rc.n, 3);
	expect(&rc, 0, 0, 10, 0, 1, 0);
	expect(&rc, 1, 10, 0, 10, 2, 0);
	expect(&rc, 2, 20, 10, 0, 2, 0);
	assert_int_equal(tcp_reasm_held(&r), 20);
	assert_int_equal(st.gaps, 1);
	assert_int_equal(st.gap_bytes, 10);
	assert_int_equal(st.drop_full, 1);
	assert_int_equal(st.segs_out_of_order, 3);
	tcp_reasm_flush(&r, on_deliver, &rc, &st);
	assert_int_equal(rc.n, 6);
	expect(&rc, 3, 30, 0, 10, 3, 0);
	expect(&rc, 4, 40, 10, 10, 3, 0);
	expect(&rc, 5, 60, 10, 0, 4, 0);
	assert_int_equal(st.gaps, 3);
	assert_int_equal(st.gap_bytes, 30);
	assert_int_equal(st.bytes_delivered, 40);
	tcp_reasm_release(&r);
	rec_free(&rc);

	/* The new segment is the lowest: it goes straight out after the hole. */
	memset(&st, 0, sizeof(st));
	tcp_reasm_init(&r, 10);
	push(&r, &rc, &st, 0, 10, 0, 1);
	push(&r, &rc, &st, 30, 10, 0, 2);
	push(&r, &rc, &st, 15, 5, 0, 3);
	assert_int_equal(rc.n, 3);
	expect(&rc, 1, 10, 0, 5, 3, 0);
	expect(&rc, 2, 15, 5, 0, 3, 0);
	assert_int_equal(tcp_reasm_held(&r), 10);
	assert_int_equal(st.drop_full, 1);
	push(&r, &rc, &st, 20, 10, 0, 4);
	assert_int_equal(rc.n, 5);
	expect(&rc, 3, 20, 10, 0, 4, 0);
	expect(&rc, 4, 30, 10, 0, 2, 0);
	tcp_reasm_release(&r);
	rec_free(&rc);

	/* Two holes skipped in one push: the second is the gap of the bytes before it. */
	memset(&st, 0, sizeof(st));
	tcp_reasm_init(&r, 10);
	push(&r, &rc, &st, 0, 10, 0, 1);
	push(&r, &rc, &st, 20, 5, 0, 2);
	push(&r, &rc, &st, 30, 5, 0, 3);
	push(&r, &rc, &st, 50, 10, 0, 4);
	assert_int_equal(rc.n, 4);
	expect(&rc, 1, 10, 0, 10, 2, 0);
	expect(&rc, 2, 20, 5, 5, 2, 0);
	expect(&rc, 3, 30, 5, 0, 3, 0);
	assert_int_equal(tcp_reasm_held(&r), 10);
	assert_int_equal(st.gaps, 2);
	assert_int_equal(st.gap_bytes, 15);
	assert_int_equal(st.drop_full, 1);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

static void test_max_segs_bound(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };
	uint32_t k;

	(void)unused;
	tcp_reasm_init(&r, 1 << 20);
	push(&r, &rc, &st, 0, 1, 0, 1);
	/* 32 one-byte segments with holes between them: every slot is used. */
	for (k = 0; k < TCP_REASM_MAX_SEGS; k++)
		push(&r, &rc, &st, 2 + 2 * k, 1, 0, 100 + k);
	assert_int_equal(r.nsegs, TCP_REASM_MAX_SEGS);
	assert_int_equal(tcp_reasm_held(&r), TCP_REASM_MAX_SEGS);
	push(&r, &rc, &st, 66, 1, 0, 200);
	assert_int_equal(rc.n, 3);
	expect(&rc, 0, 0, 1, 0, 1, 0);
	expect(&rc, 1, 1, 0, 1, 100, 0);
	expect(&rc, 2, 2, 1, 0, 100, 0);
	assert_int_equal(r.nsegs, TCP_REASM_MAX_SEGS);
	assert_int_equal(st.drop_full, 1);
	assert_int_equal(st.gaps, 1);
	tcp_reasm_flush(&r, on_deliver, &rc, &st);
	assert_int_equal(rc.n, 3 + 1 + 31 + 1);
	expect(&rc, 3, 3, 0, 1, 101, 0);
	for (k = 1; k < TCP_REASM_MAX_SEGS; k++)
		expect(&rc, 3 + k, 2 + 2 * k, 1, 1, 100 + k, 0);
	expect(&rc, 35, 66, 1, 0, 200, 0);
	assert_int_equal(st.gaps, 33);
	assert_int_equal(st.gap_bytes, 33);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

/* Touching held segments are merged when the slots run out, rather than skipping a hole. */
static void test_max_segs_merge(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };
	uint32_t k;

	(void)unused;
	tcp_reasm_init(&r, 1 << 20);
	push(&r, &rc, &st, 0, 1, 0, 1);
	for (k = 0; k < TCP_REASM_MAX_SEGS; k++)
		push(&r, &rc, &st, 2 + k, 1, 0, 100 + k);
	assert_int_equal(r.nsegs, TCP_REASM_MAX_SEGS);
	push(&r, &rc, &st, 34, 1, 0, 200);
	assert_int_equal(r.nsegs, 2);
	push(&r, &rc, &st, 1, 1, 0, 50);
	assert_int_equal(rc.n, 4);
	expect(&rc, 1, 1, 1, 0, 50, 0);
	expect(&rc, 2, 2, 32, 0, 100, 0); /* the merged run keeps its first byte's time */
	expect(&rc, 3, 34, 1, 0, 200, 0);
	assert_int_equal(st.gaps, 0);
	assert_int_equal(st.drop_full, 0);
	tcp_reasm_release(&r);
	rec_free(&rc);

	/* A segment spanning all 32 held ones takes them in: one segment, held bytes win. */
	memset(&st, 0, sizeof(st));
	tcp_reasm_init(&r, 1 << 20);
	push(&r, &rc, &st, 0, 1, 0, 1);
	for (k = 0; k < TCP_REASM_MAX_SEGS; k++)
		push(&r, &rc, &st, 2 + 2 * k, 1, 0, 100 + k);
	push(&r, &rc, &st, 2, 63, 1, 300);
	assert_int_equal(r.nsegs, 1);
	assert_int_equal(tcp_reasm_held(&r), 63);
	assert_int_equal(st.bytes_retransmitted, 32);
	push(&r, &rc, &st, 1, 1, 0, 50);
	assert_int_equal(rc.n, 3);
	expect(&rc, 1, 1, 1, 0, 50, 0);
	assert_int_equal(rc.d[2].seq, 2);
	assert_int_equal(rc.d[2].len, 63);
	assert_int_equal(rc.d[2].gap, 0);
	assert_int_equal(rc.d[2].ts, 100);
	for (k = 0; k < 63; k++)
		assert_int_equal(rc.bytes[rc.d[2].boff + k], pat(2 + k, k % 2 ? 1 : 0));
	assert_int_equal(st.gaps, 0);
	assert_int_equal(tcp_reasm_held(&r), 0);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

static void test_wrap_around(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };

	(void)unused;
	/* In order across 2^32. */
	tcp_reasm_init(&r, 1 << 16);
	tcp_reasm_start(&r, 0xfffffff0u);
	push(&r, &rc, &st, 0xfffffff0u, 10, 0, 1);
	push(&r, &rc, &st, 0xfffffffau, 10, 0, 2);
	push(&r, &rc, &st, 4, 10, 0, 3);
	assert_int_equal(rc.n, 3);
	expect(&rc, 0, 0xfffffff0u, 10, 0, 1, 0);
	expect(&rc, 1, 0xfffffffau, 10, 0, 2, 0);
	expect(&rc, 2, 4, 10, 0, 3, 0);
	push(&r, &rc, &st, 0xfffffff8u, 10, 0, 4); /* behind, across the wrap */
	assert_int_equal(rc.n, 3);
	assert_int_equal(st.bytes_retransmitted, 10);
	tcp_reasm_release(&r);
	rec_free(&rc);

	/* Out of order across 2^32. */
	memset(&st, 0, sizeof(st));
	tcp_reasm_init(&r, 1 << 16);
	tcp_reasm_start(&r, 0xfffffff6u);
	push(&r, &rc, &st, 4, 10, 0, 3);
	push(&r, &rc, &st, 0xfffffffcu, 8, 0, 2);
	assert_int_equal(rc.n, 0);
	assert_int_equal(r.nsegs, 2);
	assert_int_equal(r.segs[0].seq, 0xfffffffcu); /* sorted modulo 2^32 */
	push(&r, &rc, &st, 0xfffffff6u, 6, 0, 1);
	assert_int_equal(rc.n, 3);
	expect(&rc, 0, 0xfffffff6u, 6, 0, 1, 0);
	expect(&rc, 1, 0xfffffffcu, 8, 0, 2, 0);
	expect(&rc, 2, 4, 10, 0, 3, 0);
	tcp_reasm_release(&r);
	rec_free(&rc);

	/* A hole across 2^32, flushed. */
	memset(&st, 0, sizeof(st));
	tcp_reasm_init(&r, 1 << 16);
	push(&r, &rc, &st, 0xfffffffeu, 1, 0, 1);
	push(&r, &rc, &st, 3, 2, 0, 2);
	tcp_reasm_flush(&r, on_deliver, &rc, &st);
	assert_int_equal(rc.n, 3);
	expect(&rc, 0, 0xfffffffeu, 1, 0, 1, 0);
	expect(&rc, 1, 0xffffffffu, 0, 4, 2, 0);
	expect(&rc, 2, 3, 2, 0, 2, 0);
	assert_int_equal(st.gap_bytes, 4);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

static void test_max_bytes_zero(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };

	(void)unused;
	tcp_reasm_init(&r, 0);
	push(&r, &rc, &st, 0, 10, 0, 1);
	push(&r, &rc, &st, 10, 10, 0, 2);
	push(&r, &rc, &st, 30, 10, 0, 3);
	assert_int_equal(rc.n, 4);
	expect(&rc, 0, 0, 10, 0, 1, 0);
	expect(&rc, 1, 10, 10, 0, 2, 0);
	expect(&rc, 2, 20, 0, 10, 3, 0);
	expect(&rc, 3, 30, 10, 0, 3, 0);
	assert_int_equal(tcp_reasm_held(&r), 0);
	assert_int_equal(r.nsegs, 0);
	assert_int_equal(st.drop_full, 1);
	assert_int_equal(st.gaps, 1);
	assert_int_equal(st.gap_bytes, 10);
	assert_int_equal(st.segs_out_of_order, 0);
	push(&r, &rc, &st, 20, 10, 0, 4); /* the hole's bytes, too late */
	assert_int_equal(rc.n, 4);
	assert_int_equal(st.bytes_retransmitted, 10);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

static void test_start_then_segment_before(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };

	(void)unused;
	tcp_reasm_init(&r, 1 << 16);
	tcp_reasm_start(&r, 1000);
	assert_true(r.started);
	push(&r, &rc, &st, 990, 15, 0, 1);
	assert_int_equal(rc.n, 1);
	expect(&rc, 0, 1000, 5, 0, 1, 0);
	assert_int_equal(st.bytes_retransmitted, 10);
	push(&r, &rc, &st, 980, 10, 0, 2);
	assert_int_equal(rc.n, 1);
	assert_int_equal(st.bytes_retransmitted, 20);
	tcp_reasm_start(&r, 5000); /* started already: ignored */
	push(&r, &rc, &st, 1005, 5, 0, 3);
	expect(&rc, 1, 1005, 5, 0, 3, 0);
	tcp_reasm_release(&r);
	rec_free(&rc);

	/* start() then a first segment after it: held, the hole is at the start. */
	memset(&st, 0, sizeof(st));
	tcp_reasm_init(&r, 1 << 16);
	tcp_reasm_start(&r, 1000);
	push(&r, &rc, &st, 1010, 5, 0, 1);
	assert_int_equal(rc.n, 0);
	tcp_reasm_flush(&r, on_deliver, &rc, &st);
	expect(&rc, 0, 1000, 0, 10, 1, 0);
	expect(&rc, 1, 1010, 5, 0, 1, 0);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

static void test_far_ahead(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };
	uint32_t far = 10 + (1u << 30) + 100;

	(void)unused;
	tcp_reasm_init(&r, 1 << 16);
	push(&r, &rc, &st, 0, 10, 0, 1);
	push(&r, &rc, &st, 20, 10, 0, 2);
	push(&r, &rc, &st, 10 + (1u << 30), 5, 0, 3); /* exactly 1 GiB ahead: still held */
	assert_int_equal(tcp_reasm_held(&r), 15);
	assert_int_equal(rc.n, 1);
	/* More than 1 GiB ahead: all held goes out, the holes are skipped. */
	push(&r, &rc, &st, far, 5, 0, 4);
	assert_int_equal(rc.n, 5);
	expect(&rc, 1, 10, 0, 10, 2, 0);
	expect(&rc, 2, 20, 10, (1u << 30) - 20, 2, 0);
	expect(&rc, 3, 10 + (1u << 30), 5, 95, 3, 0);
	expect(&rc, 4, far, 5, 0, 4, 0);
	assert_int_equal(tcp_reasm_held(&r), 0);
	assert_int_equal(st.gaps, 3);
	assert_int_equal(st.gap_bytes, 10 + (1u << 30) - 20 + 95);
	assert_int_equal(st.drop_full, 0);
	/* Now the old position is far behind. */
	push(&r, &rc, &st, 30, 10, 0, 5);
	assert_int_equal(rc.n, 5);
	assert_int_equal(st.bytes_retransmitted, 10);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

static void test_release(void **unused)
{
	struct tcp_reasm r;
	struct tcp_reasm_stats st = { 0 };
	struct rec rc = { 0 };

	(void)unused;
	tcp_reasm_init(&r, 1 << 16);
	push(&r, &rc, &st, 0, 10, 0, 1);
	push(&r, &rc, &st, 20, 10, 0, 2);
	push(&r, &rc, &st, 40, 100, 0, 3);
	push(&r, &rc, &st, 200, 1000, 0, 4);
	assert_int_equal(r.nsegs, 3);
	tcp_reasm_release(&r); /* ASan reports a leak if anything stays */
	assert_int_equal(tcp_reasm_held(&r), 0);
	assert_int_equal(r.nsegs, 0);
	assert_int_equal(rc.n, 1);
	tcp_reasm_release(&r); /* twice is harmless */
	tcp_reasm_init(&r, 1 << 16);
	rc.have_next = false;
	push(&r, &rc, &st, 500, 10, 0, 5);
	expect(&rc, 1, 500, 10, 0, 5, 0);
	tcp_reasm_release(&r);
	rec_free(&rc);
}

/*
 * Allocation failure, made real: the address space is limited to what the process has
 * plus a little, and a segment too large for that must be held. Sanitizers reserve their
 * memory in ways such a limit breaks, so this test exists only in the plain build (make
 * test runs that build too); the sanitizer build does not compile it in.
 */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifndef UNDER_ASAN
struct meta {
	uint32_t seq[80], len[80], gap[80];
	size_t n;
};

/* Without copying bytes: the process may not allocate much during these pushes. */
static void on_meta(void *ctx, uint32_t seq, const uint8_t *data, uint32_t len, uint32_t gap,
		    uint64_t ts_ns)
{
	struct meta *m = ctx;

	(void)data;
	(void)ts_ns;
	if (m->n < 80) {
		m->seq[m->n] = seq;
		m->len[m->n] = len;
		m->gap[m->n] = gap;
	}
	m->n++;
}

static int push_limited(struct tcp_reasm *r, uint32_t seq, const uint8_t *data, uint32_t len,
			struct meta *m, struct tcp_reasm_stats *st)
{
	struct rlimit old, lim;
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	int ret;

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (64u << 20);
	assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
	ret = tcp_reasm_push(r, seq, data, len, 9, on_meta, m, st);
	assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
	return ret;
}
#endif

#ifndef UNDER_ASAN
static void test_enomem_skips_hole(void **unused)
{
	const uint32_t big = 600u << 20;
	const uint8_t *buf = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t small[10] = { 0 };
	struct tcp_reasm_stats st = { 0 };
	struct tcp_reasm r;
	struct meta m = { 0 };
	uint32_t k;

	(void)unused;
	assert_true(buf != MAP_FAILED);
	/* The copy of the held segment fails: the hole before it is skipped instead. */
	tcp_reasm_init(&r, 0xffffffffu);
	tcp_reasm_push(&r, 0, small, 10, 1, on_meta, &m, &st);
	tcp_reasm_push(&r, 20, small, 10, 2, on_meta, &m, &st);
	assert_int_equal(push_limited(&r, 40, buf, big, &m, &st), -ENOMEM);
	assert_int_equal(m.n, 4);
	assert_int_equal(m.seq[1], 10);
	assert_int_equal(m.len[1], 0);
	assert_int_equal(m.gap[1], 10);
	assert_int_equal(m.seq[2], 20);
	assert_int_equal(m.len[2], 10);
	assert_int_equal(m.gap[2], 10);
	assert_int_equal(m.seq[3], 40);
	assert_int_equal(m.len[3], big);
	assert_int_equal(m.gap[3], 0);
	assert_int_equal(st.gaps, 2);
	assert_int_equal(st.gap_bytes, 20);
	assert_int_equal(st.drop_full, 0); /* the caller counts -ENOMEM */
	assert_int_equal(st.bytes_delivered, 20 + (uint64_t)big);
	assert_int_equal(tcp_reasm_held(&r), 0);
	tcp_reasm_release(&r);

	/* Merging into one segment when the slots are full fails the same way. */
	memset(&st, 0, sizeof(st));
	memset(&m, 0, sizeof(m));
	tcp_reasm_init(&r, 0xffffffffu);
	tcp_reasm_push(&r, 0, small, 1, 1, on_meta, &m, &st);
	for (k = 0; k < TCP_REASM_MAX_SEGS; k++)
		tcp_reasm_push(&r, 2 + 2 * k, small, 1, 2, on_meta, &m, &st);
	assert_int_equal(push_limited(&r, 2, buf, big, &m, &st), -ENOMEM);
	/* The hole at 1, then held and pushed bytes alternate up to 65, held ones winning. */
	assert_int_equal(m.n, 1 + 1 + 63 + 1);
	assert_int_equal(m.seq[1], 1);
	assert_int_equal(m.len[1], 0);
	assert_int_equal(m.gap[1], 1);
	for (k = 0; k < 63; k++) {
		assert_int_equal(m.seq[2 + k], 2 + k);
		assert_int_equal(m.len[2 + k], 1);
		assert_int_equal(m.gap[2 + k], 0);
	}
	assert_int_equal(m.seq[65], 65);
	assert_int_equal(m.len[65], big - 63);
	assert_int_equal(st.bytes_retransmitted, 32);
	assert_int_equal(st.gaps, 1);
	assert_int_equal(tcp_reasm_held(&r), 0);
	tcp_reasm_release(&r);
	munmap((void *)buf, big);
}
#endif

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: deterministic, so a failure replays. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

struct span {
	uint32_t off, len;
};

/*
 * A 100 KiB stream cut into segments of 1..maxseg bytes, plus ndup random duplicates of
 * parts of it, pushed in a random order; then flushed. Returns the stats.
 */
static void shuffled_stream(uint64_t seed, uint32_t base, uint32_t maxseg, uint32_t ndup,
			    uint32_t max_bytes, struct tcp_reasm_stats *st)
{
	const uint32_t n = 100 * 1024;
	uint8_t *stream = malloc(n), *seen = calloc(n, 1);
	struct span *sp = NULL;
	size_t nsp = 0, cap = 0, i;
	uint64_t pushed = 0;
	struct tcp_reasm r;
	struct rec rc = { 0 };
	uint32_t off;

	assert_non_null(stream);
	assert_non_null(seen);
	for (i = 0; i < n; i++)
		stream[i] = (uint8_t)rng_next(&seed);
	for (off = 0; off < n;) {
		uint32_t len = 1 + (uint32_t)(rng_next(&seed) % maxseg);

		if (len > n - off)
			len = n - off;
		if (nsp == cap) {
			cap = cap ? 2 * cap : 64;
			sp = realloc(sp, cap * sizeof(*sp));
			assert_non_null(sp);
		}
		sp[nsp].off = off;
		sp[nsp++].len = len;
		off += len;
	}
	for (i = 0; i < ndup; i++) {
		uint32_t o = (uint32_t)(rng_next(&seed) % n);
		uint32_t len = 1 + (uint32_t)(rng_next(&seed) % maxseg);

		if (len > n - o)
			len = n - o;
		if (nsp == cap) {
			cap = 2 * cap;
			sp = realloc(sp, cap * sizeof(*sp));
			assert_non_null(sp);
		}
		sp[nsp].off = o;
		sp[nsp++].len = len;
	}
	for (i = nsp - 1; i > 0; i--) {
		size_t j = (size_t)(rng_next(&seed) % (i + 1));
		struct span t = sp[i];

		sp[i] = sp[j];
		sp[j] = t;
	}
	rc.stream = stream;
	rc.base = base;
	rc.stream_len = n;
	rc.seen = seen;
	memset(st, 0, sizeof(*st));
	tcp_reasm_init(&r, max_bytes);
	tcp_reasm_start(&r, base);
	for (i = 0; i < nsp; i++) {
		assert_int_equal(tcp_reasm_push(&r, base + sp[i].off, stream + sp[i].off, sp[i].len,
						i, on_deliver, &rc, st),
				 0);
		pushed += sp[i].len;
		assert_true(tcp_reasm_held(&r) <= max_bytes);
		assert_true(r.nsegs <= TCP_REASM_MAX_SEGS);
	}
	tcp_reasm_flush(&r, on_deliver, &rc, st);
	assert_int_equal(tcp_reasm_held(&r), 0);
	/* The whole stream is accounted for: delivered once, or skipped as a gap. */
	assert_int_equal(rc.next, base + n);
	assert_int_equal(st->bytes_delivered + st->gap_bytes, n);
	assert_int_equal(st->bytes_delivered + st->bytes_retransmitted, pushed);
	for (i = 0; i < n; i++)
		assert_true(seen[i] <= 1);
	tcp_reasm_release(&r);
	rec_free(&rc);
	free(sp);
	free(seen);
	free(stream);
}

static void test_property_shuffled_stream(void **unused)
{
	struct tcp_reasm_stats st;
	uint64_t seed = 0x5eed1234abcdull;
	unsigned int round;

	(void)unused;
	for (round = 0; round < 24; round++) {
		/* Every third round starts just before the wrap. */
		uint32_t base = round % 3 == 0 ? 0xffffffffu - 30000 : (uint32_t)rng_next(&seed);

		/*
		 * Segments up to 4 KiB (about 50) and a few duplicates: never more than 32
		 * separate runs wait, so with a large byte bound no hole is ever skipped.
		 */
		shuffled_stream(rng_next(&seed), base, 4096, 8, 1 << 20, &st);
		assert_int_equal(st.gaps, 0);
		assert_int_equal(st.gap_bytes, 0);
		assert_int_equal(st.drop_full, 0);
		assert_int_equal(st.bytes_delivered, 100 * 1024);
	}
}

/* Small segments and tight bounds: holes are skipped, but the contract holds. */
static void test_property_bounded(void **unused)
{
	struct tcp_reasm_stats st;
	uint64_t seed = 0xfeedfaceull;
	unsigned int round;

	(void)unused;
	for (round = 0; round < 24; round++) {
		uint32_t base = round % 2 ? 0xffffffffu - 50000 : (uint32_t)rng_next(&seed);
		static const uint32_t bounds[] = { 0, 1500, 16384, 1 << 20 };

		shuffled_stream(rng_next(&seed), base, 600, 60, bounds[round % 4], &st);
		if (round % 4 == 3)
			assert_true(st.drop_full > 0); /* 32 slots run out before 1 MiB */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order_no_copy),
		cmocka_unit_test(test_retransmission),
		cmocka_unit_test(test_partial_overlap_first_copy_wins),
		cmocka_unit_test(test_out_of_order_321),
		cmocka_unit_test(test_hole_then_fill),
		cmocka_unit_test(test_hole_never_filled_flush),
		cmocka_unit_test(test_max_bytes_bound),
		cmocka_unit_test(test_max_segs_bound),
		cmocka_unit_test(test_max_segs_merge),
		cmocka_unit_test(test_wrap_around),
		cmocka_unit_test(test_max_bytes_zero),
		cmocka_unit_test(test_start_then_segment_before),
		cmocka_unit_test(test_far_ahead),
		cmocka_unit_test(test_release),
#ifndef UNDER_ASAN
		cmocka_unit_test(test_enomem_skips_hole),
#endif
		cmocka_unit_test(test_property_shuffled_stream),
		cmocka_unit_test(test_property_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
