/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for TCP reassembly (tcp_reasm.c) against a reference model. The input
 * is a byte bound and a starting sequence number, then operations: pushes near the stream
 * position (ahead, behind, overlapping), pushes far ahead and far behind, exactly 1 GiB
 * ahead, large segments, flushes, start() and release + init.
 *
 * Every pushed byte is a function of its sequence number and of the push that carried it,
 * so the model only remembers which push first brought each sequence number while it was
 * not yet behind the stream: in a window around the stream position (moved along with it)
 * and, for the few pushes outside it, in a list. abort() when:
 *   - a delivery does not start where the previous one plus its gap ended, or a
 *     zero-length delivery carries no gap;
 *   - a delivered byte is not the first one pushed at its sequence number;
 *   - a gap covers a sequence number that was pushed (it would be held or delivered);
 *   - next_seq, the held segments (sorted, disjoint, after next_seq, within the bounds)
 *     or the stats disagree with the model: every byte pushed is delivered, counted as
 *     retransmitted, or held.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tcp_reasm.h"

#define WIN	   (1u << 16) /* sequence numbers followed byte by byte */
#define FAR	   (1u << 30)
#define MAX_SIDE   128
#define MAX_PUSHES 60000

struct side {
	uint32_t seq, len;
	uint16_t ver;
};

struct model {
	struct tcp_reasm r;
	struct tcp_reasm_stats st;
	bool started;
	uint32_t next; /* where the next delivery starts */
	uint64_t pushed;
	uint32_t wbase;
	uint16_t *ver; /* WIN entries: the push that first brought wbase + i, 0: none */
	struct side side[MAX_SIDE];
	unsigned int nside;
	uint16_t pushes;
	uint8_t *buf;
};

static const uint16_t zeros[WIN];

static uint8_t pat(uint32_t seq, uint16_t ver)
{
	return (uint8_t)(seq * 167u + (seq >> 9) + ver * 59u + (ver >> 5));
}

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void rebase(struct model *m, uint32_t wbase)
{
	uint32_t shift = wbase - m->wbase, k;
	unsigned int i;

	if (shift >= WIN) {
		memset(m->ver, 0, WIN * sizeof(*m->ver));
	} else {
		memmove(m->ver, m->ver + shift, (WIN - shift) * sizeof(*m->ver));
		memset(m->ver + (WIN - shift), 0, shift * sizeof(*m->ver));
	}
	m->wbase = wbase;
	/* Pushes from outside the old window may be inside the new one: earliest first. */
	for (i = 0; i < m->nside; i++)
		for (k = 0; k < m->side[i].len; k++) {
			uint32_t at = m->side[i].seq + k - wbase;

			if (at < WIN && !m->ver[at])
				m->ver[at] = m->side[i].ver;
		}
}

/* The push that first brought seq while it was not behind, 0: none. */
static uint16_t first_ver(const struct model *m, uint32_t seq)
{
	unsigned int i;

	if (seq - m->wbase < WIN)
		return m->ver[seq - m->wbase];
	for (i = 0; i < m->nside; i++)
		if (seq - m->side[i].seq < m->side[i].len)
			return m->side[i].ver;
	return 0;
}

static void on_deliver(void *ctx, uint32_t seq, const uint8_t *data, uint32_t len, uint32_t gap,
		       uint64_t ts_ns)
{
	struct model *m = ctx;
	uint32_t i, g0, lo, hi;

	(void)ts_ns;
	check(m->started && seq == m->next);
	check(len > 0 || gap > 0);
	check(len == 0 || data != NULL);
	for (i = 0; i < len; i++) {
		uint16_t v = first_ver(m, seq + i);

		check(v != 0 && data[i] == pat(seq + i, v));
	}
	/* The part of the gap inside the window: nothing there was ever pushed. */
	g0 = seq + len;
	if (g0 - m->wbase < WIN) {
		lo = g0 - m->wbase;
		hi = gap < WIN - lo ? lo + gap : WIN;
	} else if (m->wbase - g0 < gap) {
		lo = 0;
		hi = gap - (m->wbase - g0) < WIN ? gap - (m->wbase - g0) : WIN;
	} else {
		lo = hi = 0;
	}
	check(lo == hi || memcmp(m->ver + lo, zeros, (hi - lo) * sizeof(*m->ver)) == 0);
	m->next = seq + len + gap;
}

static void check_state(const struct model *m)
{
	const struct tcp_reasm *r = &m->r;
	uint64_t held = 0;
	int64_t end = 0;
	uint32_t i;

	check(r->started == m->started);
	check(!m->started || r->next_seq == m->next);
	check(r->nsegs <= TCP_REASM_MAX_SEGS);
	check(m->started || r->nsegs == 0);
	for (i = 0; i < r->nsegs; i++) {
		int64_t off = (int32_t)(r->segs[i].seq - r->next_seq);

		check(r->segs[i].len > 0 && r->segs[i].data != NULL);
		check(off > 0 && off >= end);
		end = off + r->segs[i].len;
		held += r->segs[i].len;
	}
	check(held == r->held_bytes && held <= r->max_bytes);
	check(m->pushed == m->st.bytes_delivered + m->st.bytes_retransmitted + held);
}

/* Side entries wholly behind the stream will never be delivered: forget them. */
static void prune_side(struct model *m)
{
	unsigned int i, n = 0;

	for (i = 0; i < m->nside; i++)
		if ((int32_t)(m->side[i].seq + m->side[i].len - m->next) > 0)
			m->side[n++] = m->side[i];
	m->nside = n;
}

static void do_push(struct model *m, uint32_t seq, uint32_t len)
{
	bool inside;
	uint16_t ver;
	uint32_t i;
	int ret;

	if (!len)
		return;
	if (!m->started) {
		/* This segment starts the stream: follow it from there. */
		m->started = true;
		m->next = seq;
		rebase(m, seq - WIN / 4);
	}
	inside = seq - m->wbase < WIN && len <= WIN - (seq - m->wbase);
	if (!inside && m->nside == MAX_SIDE)
		return;
	ver = ++m->pushes;
	/* Remember who came first, for the bytes not behind the stream. */
	for (i = 0; i < len; i++) {
		uint32_t s = seq + i;

		if (s - m->wbase < WIN && (int32_t)(s - m->next) >= 0 && !m->ver[s - m->wbase])
			m->ver[s - m->wbase] = ver;
	}
	if (!inside) {
		m->side[m->nside].seq = seq;
		m->side[m->nside].len = len;
		m->side[m->nside++].ver = ver;
	}
	for (i = 0; i < len; i++)
		m->buf[i] = pat(seq + i, ver);
	ret = tcp_reasm_push(&m->r, seq, m->buf, len, ver, on_deliver, m, &m->st);
	check(ret == 0);
	m->pushed += len;
}

static void reset(struct model *m, uint32_t max_bytes)
{
	tcp_reasm_init(&m->r, max_bytes);
	memset(&m->st, 0, sizeof(m->st));
	memset(m->ver, 0, WIN * sizeof(*m->ver));
	m->started = false;
	m->pushed = 0;
	m->nside = 0;
}

static uint32_t take(const uint8_t **p, size_t *n, unsigned int bytes)
{
	uint32_t v = 0;

	while (bytes-- && *n) {
		v = v << 8 | **p;
		(*p)++;
		(*n)--;
	}
	return v;
}

static const uint32_t bounds[8] = { 0, 1, 100, 1500, 8192, 65536, 1 << 20, 0xffffffffu };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model *m;
	uint32_t base, cur, seq, len;
	uint8_t op;

	if (size < 5)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return 0;
	m->ver = calloc(WIN, sizeof(*m->ver));
	m->buf = malloc(1 << 15);
	if (!m->ver || !m->buf)
		goto out;
	reset(m, bounds[take(&data, &size, 1) & 7]);
	base = take(&data, &size, 4);
	m->wbase = base - WIN / 4;
	while (size && m->pushes < MAX_PUSHES) {
		op = (uint8_t)take(&data, &size, 1);
		cur = m->started ? m->next : base;
		/* Keep the window around the stream position (held bytes are near it). */
		if (cur - m->wbase >= WIN / 2)
			rebase(m, cur - WIN / 4);
		switch (op & 15) {
		case 0:
			tcp_reasm_flush(&m->r, on_deliver, m, &m->st);
			check(m->r.nsegs == 0 && tcp_reasm_held(&m->r) == 0);
			break;
		case 1: /* far ahead: the stream jumps there */
			seq = cur + FAR + 1 + take(&data, &size, 2);
			do_push(m, seq, 1 + take(&data, &size, 1));
			break;
		case 2: /* far behind: garbage */
			seq = cur - 0x7fff0000u + take(&data, &size, 2);
			do_push(m, seq, 1 + take(&data, &size, 1));
			break;
		case 3: /* a new stream in the same struct */
			tcp_reasm_release(&m->r);
			reset(m, bounds[take(&data, &size, 1) & 7]);
			break;
		case 4:
			seq = cur + take(&data, &size, 1);
			tcp_reasm_start(&m->r, seq);
			if (!m->started) {
				m->started = true;
				m->next = seq;
				rebase(m, seq - WIN / 4);
			}
			break;
		case 5: /* exactly 1 GiB ahead: the last sequence number still held */
			do_push(m, cur + FAR, 1 + take(&data, &size, 1));
			break;
		case 6: /* a large segment, starting a little behind */
			seq = cur - take(&data, &size, 1);
			do_push(m, seq, 1 + (take(&data, &size, 2) & 0x3fff));
			break;
		default: /* near the stream position: mostly ahead, some behind */
			seq = cur + (take(&data, &size, 2) % 12288) - 2048;
			len = 1 + take(&data, &size, 1) + ((op >> 4) & 3) * 256;
			do_push(m, seq, len);
			break;
		}
		check_state(m);
		prune_side(m);
	}
	tcp_reasm_flush(&m->r, on_deliver, m, &m->st);
	check(m->r.nsegs == 0 && tcp_reasm_held(&m->r) == 0);
	check_state(m);
	tcp_reasm_release(&m->r);
out:
	free(m->buf);
	free(m->ver);
	free(m);
	return 0;
}
