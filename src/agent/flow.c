/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flow table: see flow.h. Reference behaviour: DeepFlow's flow_map / flow_state /
 * perf/tcp.rs (shared/reference/deepflow-internals.md §9). Where DeepFlow's rule was
 * unclear or depends on its own table of states, the choice made here is written next to
 * the code; the main ones:
 *
 * - Sides. The sender of a SYN is the client, of a SYN-ACK the server. A flow first seen
 *   mid-stream is oriented by ports (well-known < 1024, then non-ephemeral < 32768, then
 *   the destination of the first packet) and marked client_known = false. A later SYN or
 *   SYN-ACK on such a flow settles it (sides, counters and L7 directions are swapped if the
 *   guess was wrong), unless the flow already carried payload or a FIN and the packet is a
 *   SYN: that is a new connection on the same 4-tuple (close type 13).
 * - A SYN with a new ISN ends the old flow (13) once the old one got a SYN-ACK or is
 *   established/closing; before any SYN-ACK, any further SYN from the client is a SYN
 *   repeat (retrans_syn, as DeepFlow's Opening state) and its ISN replaces the first one.
 * - A RST decides the close type at that packet; both FINs, each acknowledged by the
 *   peer, decide it at that ACK (without the last ACK: closing timeout, still close 1).
 *   The flow then lingers (tcp_linger_ns, 2 s) so the copies of a RST and late segments
 *   count in it rather than start a new flow; a new SYN ends the linger at once.
 * - A client RST before any SYN-ACK is 18 (client_establish_rst); a server RST while the
 *   server is suspected of queue lack (it repeated its SYN-ACK after the client's ACK) is
 *   17 (server_queue_lack): the server never accepted the connection. Such a flow waits
 *   the closing timeout, as the client's retransmissions back off to tens of seconds.
 * - Forced reports fall on multiples of report_interval_ns (so all flows' rows share time
 *   buckets); a period without packets gives no row (its row would be all zeros). The
 *   final row's time_ns is the flow's last packet time, but never before the previous
 *   row's. Timeouts are exact (last packet + the state's timeout) whatever the tick rate:
 *   a packet that finds its flow past a deadline first applies it.
 * - Perf: SRT is measured on the server (client data -> server's pure ACK covering it),
 *   ART from the last client data packet of a request burst to the first new (not
 *   retransmitted) server data packet after it, capped at 30 s (DeepFlow's ART_MAX), and
 *   CIT from the handshake ACK or the last server data packet to the next client packet of
 *   more than 1 byte (clamped to what fits the u32 µs field). A sample of 0 ns is
 *   discarded, as DeepFlow does.
 * - Retransmission: a data packet overlapping bytes already seen is a retransmission (also
 *   when it carries new bytes too: a repacketised retransmission); one filling only bytes
 *   never seen below the highest end is out of order. Sequence numbers are kept as offsets
 *   from a per-direction base, rebased every 512 MiB, so wrap-around needs no special
 *   case.
 *
 * Callbacks (report, L7) must not call back into the table.
 */
#include "agent/flow.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tcp_reasm.h"

#define NS_PER_US  1000ull
#define NS_PER_SEC 1000000000ull

#define WHEEL_SLOTS   512 /* 1 s each; later deadlines wait in their slot for their lap */
#define MAX_BUCKETS   (1u << 24)
#define SEQ_RANGES    16
#define RTT_MAX_NS    (30 * NS_PER_SEC)
#define SRT_MAX_NS    (10 * NS_PER_SEC)
#define ART_MAX_NS    (30 * NS_PER_SEC)
#define CIT_MAX_NS    ((uint64_t)UINT32_MAX * NS_PER_US)
#define WSCALE_MAX    14
#define SEQ_MAX_LEN   (1u << 30) /* longer is not one TCP segment: not tracked */
#define SEQ_REBASE_AT (1u << 30)
#define SEQ_REBASE_TO (1u << 29)

enum tcp_state {
	TS_NONE,	/* UDP; TCP only until its first packet is handled */
	TS_SYN_SENT,	/* SYN seen, no SYN-ACK */
	TS_SYNACK,	/* SYN-ACK seen, the client has not acknowledged it */
	TS_ESTABLISHED, /* also: flows first seen mid-stream */
	TS_CLOSING,	/* a FIN seen */
	TS_CLOSED,	/* ended (RST, or both FINs acknowledged): lingers for stragglers */
};

enum seq_class {
	SEQ_NEW,       /* at or beyond the highest end (gap ahead included) */
	SEQ_RETRANS,   /* overlaps bytes already seen */
	SEQ_OOO,       /* fills a hole below the highest end */
	SEQ_KEEPALIVE, /* 1 byte just below the highest end */
	SEQ_IGNORE,    /* not trackable (before the tracked window, absurd length) */
};

/* Canonical: endpoint a is the lower (address, port). Exactly 48 bytes, padding zeroed. */
struct flow_key {
	uint8_t a[16], b[16];
	uint16_t pa, pb;
	uint32_t tunnel_id;
	uint16_t vlan;
	uint8_t family, l4_proto;
	uint32_t pad;
};
_Static_assert(sizeof(struct flow_key) == 48, "flow_key is hashed as six 64-bit words");

/* Byte ranges seen in one direction, as offsets from base: [s, e), sorted, disjoint. */
struct seqtrack {
	bool init;
	uint8_t n;
	uint32_t base; /* sequence number at offset 0 */
	uint32_t high; /* highest end seen */
	struct {
		uint32_t s, e;
	} r[SEQ_RANGES];
};

/* What one side sent during the current period. */
struct side_cnt {
	uint64_t packets, bytes, l3, l4;
	uint32_t retrans, ooo, zero_win;
	uint8_t flags;
};

struct pstat {
	uint64_t sum, count;
	uint32_t max;
};

/* Counters of the current period, zeroed after each row. */
struct period {
	struct side_cnt c[2];
	struct pstat srt, art, cit;
	uint32_t syn, synack, retrans_syn, retrans_synack, fin, rst;
};

struct side {
	uint8_t addr[16];
	uint16_t port;
	uint8_t mac[6];
	bool mac_own; /* mac is this side's own source MAC (else: the peer's destination) */
	bool isn_known;
	bool fin, fin_acked;
	int8_t wscale; /* from its SYN / SYN-ACK; -1 none */
	uint32_t isn;
	uint32_t fin_ack; /* the ack number that acknowledges its FIN */
	struct seqtrack sq;
	/* L7 stream of what this side sends: in order, delivered as it comes; a reassembler
	 * is allocated at the first segment ahead of a hole, and kept. */
	bool l7_started;
	uint32_t l7_next; /* sequence of the next byte to deliver (without reasm) */
	struct tcp_reasm *reasm;
};

struct flow {
	struct flow *hnext, **hpprev;	  /* hash chain */
	struct flow *lru_prev, *lru_next; /* head: least recently active */
	struct flow *tw_next, **tw_pprev; /* wheel slot; tw_pprev NULL when not filed */
	uint64_t tw_deadline;		  /* deadline it is filed under (<= the real one) */

	struct flow_key key;
	uint64_t id;
	uint64_t start_ns, end_ns;
	uint64_t timeout_at;	 /* end_ns + the state's timeout */
	uint64_t next_report_ns; /* next forced report boundary */
	uint64_t next_sec_ns;	 /* end of the second `per` holds packets of; UINT64_MAX: none */
	uint64_t last_row_ns;	 /* time_ns of the last row */

	bool a_is_client; /* key endpoint a is side 0 */
	bool client_known;
	bool reported;
	bool metered;	   /* the meter has seen this flow */
	bool rtt_metered;  /* the handshake RTTs went to the meter (they count once) */
	bool payload_seen; /* payload or FIN: a SYN now means a new connection */
	bool syn_seen, synack_seen, hs_ack_seen;
	bool client_acked;    /* the client sent an ACK after the SYN-ACK */
	bool queue_lack;      /* SYN-ACK repeated after the client's ACK, server silent since */
	uint16_t closed_type; /* TS_CLOSED: how it ended */
	bool l7_closed;	      /* the L7 side was told the flow ended */
	uint16_t l7_proto;    /* what the L7 side recognised, from closed() */
	bool srt_pending, art_pending, cit_armed;
	bool tun_set, tun_from_client;
	uint8_t state; /* enum tcp_state */

	uint64_t syn_ts, synack_ts;
	uint32_t synack_ack; /* ack of the first SYN-ACK: the client's ISN + 1 */
	uint32_t rtt, rtt_client, rtt_server;
	uint32_t srt_end; /* the ack that covers the pending client data */
	uint64_t srt_ts, art_ts, cit_ts;

	uint8_t tunnel_tier;
	struct pkt_tunnel tunnel;

	struct period per;   /* the current second */
	struct period acc;   /* the current row's period, but for the current second */
	struct side side[2]; /* 0 client, 1 server */
};

struct flow_table {
	struct flow_cfg cfg;
	flow_report_fn report;
	void *report_ctx;
	flow_report_fn meter; /* per second and flow; NULL: none */
	void *meter_ctx;
	const struct flow_l7_ops *l7; /* NULL when L7 hand-off is off */
	void *l7_ctx;

	struct flow **buckets;
	uint32_t mask;
	uint64_t seed;
	struct flow *lru_head, *lru_tail;

	struct flow *wheel[WHEEL_SLOTS];
	uint64_t wheel_sec; /* seconds before it are processed; it may still hold entries */
	bool time_started;
	uint64_t now_ns; /* highest capture time seen */
	uint64_t next_id;

	struct flow_stats st;
	struct tcp_reasm_stats rs;
};

struct l7_ctx {
	struct flow_table *t;
	struct flow *f;
	uint8_t dir;
};

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Saturating: a configured timeout of "forever" must not wrap. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* a >= b in sequence space */
static bool seq_ge(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}

/* ---- hash table, LRU ---- */

static uint64_t key_hash(const struct flow_table *t, const struct flow_key *k)
{
	uint64_t w[6], h = t->seed;
	int i;

	memcpy(w, k, sizeof(w));
	for (i = 0; i < 6; i++) {
		h = (h ^ w[i]) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

/* Returns whether the packet's source is endpoint a. */
static bool make_key(const struct pkt *p, struct flow_key *k)
{
	int c = memcmp(p->src, p->dst, 16);
	bool src_is_a = c < 0 || (c == 0 && p->sport <= p->dport);

	memset(k, 0, sizeof(*k));
	if (src_is_a) {
		memcpy(k->a, p->src, 16);
		memcpy(k->b, p->dst, 16);
		k->pa = p->sport;
		k->pb = p->dport;
	} else {
		memcpy(k->a, p->dst, 16);
		memcpy(k->b, p->src, 16);
		k->pa = p->dport;
		k->pb = p->sport;
	}
	k->tunnel_id = p->tunnel_tier ? p->tunnel.id : 0;
	k->vlan = p->vlan;
	k->family = p->family;
	k->l4_proto = p->l4_proto;
	return src_is_a;
}

static struct flow *hash_find(const struct flow_table *t, const struct flow_key *k, uint64_t h)
{
	struct flow *f;

	for (f = t->buckets[h & t->mask]; f; f = f->hnext)
		if (!memcmp(&f->key, k, sizeof(*k)))
			return f;
	return NULL;
}

static void hash_add(struct flow_table *t, struct flow *f, uint64_t h)
{
	struct flow **b = &t->buckets[h & t->mask];

	f->hnext = *b;
	if (*b)
		(*b)->hpprev = &f->hnext;
	*b = f;
	f->hpprev = b;
}

static void hash_del(struct flow *f)
{
	*f->hpprev = f->hnext;
	if (f->hnext)
		f->hnext->hpprev = f->hpprev;
}

static void lru_del(struct flow_table *t, struct flow *f)
{
	if (f->lru_prev)
		f->lru_prev->lru_next = f->lru_next;
	else
		t->lru_head = f->lru_next;
	if (f->lru_next)
		f->lru_next->lru_prev = f->lru_prev;
	else
		t->lru_tail = f->lru_prev;
	f->lru_prev = f->lru_next = NULL;
}

static void lru_add_tail(struct flow_table *t, struct flow *f)
{
	f->lru_next = NULL;
	f->lru_prev = t->lru_tail;
	if (t->lru_tail)
		t->lru_tail->lru_next = f;
	else
		t->lru_head = f;
	t->lru_tail = f;
}

static void lru_touch(struct flow_table *t, struct flow *f)
{
	if (t->lru_tail == f)
		return;
	lru_del(t, f);
	lru_add_tail(t, f);
}

/* ---- timing wheel ---- */

static void wheel_del(struct flow *f)
{
	if (!f->tw_pprev)
		return;
	*f->tw_pprev = f->tw_next;
	if (f->tw_next)
		f->tw_next->tw_pprev = f->tw_pprev;
	f->tw_next = NULL;
	f->tw_pprev = NULL;
}

static uint64_t flow_deadline(const struct flow *f)
{
	return min_u64(min_u64(f->timeout_at, f->next_report_ns), f->next_sec_ns);
}

static void wheel_add(struct flow_table *t, struct flow *f)
{
	uint64_t sec;
	struct flow **slot;

	f->tw_deadline = flow_deadline(f);
	/* An overdue deadline is handled at the next wheel run. */
	sec = max_u64(f->tw_deadline / NS_PER_SEC, t->wheel_sec);
	slot = &t->wheel[sec % WHEEL_SLOTS];
	f->tw_next = *slot;
	if (*slot)
		(*slot)->tw_pprev = &f->tw_next;
	*slot = f;
	f->tw_pprev = slot;
}

/* ---- period statistics ---- */

static void pstat_add(struct pstat *ps, uint64_t from, uint64_t to, uint64_t max_ns)
{
	uint64_t d;
	uint32_t us;

	if (to <= from)
		return;
	d = to - from;
	if (d > max_ns)
		return;
	us = (uint32_t)(d / NS_PER_US);
	ps->sum += us;
	ps->count++;
	if (us > ps->max)
		ps->max = us;
}

/* µs, 0 when not measurable (reordered, or beyond 30 s). */
static uint32_t rtt_us(uint64_t from, uint64_t to)
{
	if (to <= from || to - from > RTT_MAX_NS)
		return 0;
	return (uint32_t)((to - from) / NS_PER_US);
}

/* ---- sequence tracking (retransmission, out of order) ---- */

/* The stream of this direction starts at seq (its SYN's sequence + 1). */
static void seq_origin(struct seqtrack *q, uint32_t seq)
{
	if (q->n)
		return; /* data already tracked: keep its frame */
	q->init = true;
	q->base = seq;
	q->high = 0;
}

static uint64_t seq_covered(const struct seqtrack *q, uint32_t s, uint32_t e)
{
	uint64_t c = 0;
	uint32_t i, lo, hi;

	for (i = 0; i < q->n; i++) {
		if (q->r[i].s >= e)
			break;
		lo = q->r[i].s > s ? q->r[i].s : s;
		hi = q->r[i].e < e ? q->r[i].e : e;
		if (hi > lo)
			c += hi - lo;
	}
	return c;
}

static void seq_add(struct seqtrack *q, uint32_t s, uint32_t e)
{
	uint32_t i, j;

	/* In order: extends the last range (the common case). */
	if (q->n && q->r[q->n - 1].s <= s && s <= q->r[q->n - 1].e) {
		if (e > q->r[q->n - 1].e)
			q->r[q->n - 1].e = e;
		return;
	}
	for (i = 0; i < q->n && q->r[i].e < s; i++)
		;
	if (i < q->n && q->r[i].s <= e) {
		/* Touches r[i] (and maybe the ones after it): merge them all. */
		if (s < q->r[i].s)
			q->r[i].s = s;
		if (e > q->r[i].e)
			q->r[i].e = e;
		for (j = i + 1; j < q->n && q->r[j].s <= q->r[i].e; j++)
			if (q->r[j].e > q->r[i].e)
				q->r[i].e = q->r[j].e;
		memmove(&q->r[i + 1], &q->r[j], (q->n - j) * sizeof(q->r[0]));
		q->n -= j - i - 1;
		return;
	}
	if (q->n == SEQ_RANGES) {
		/* Full: the lowest hole is taken as filled (DeepFlow merges the same way); a
		 * late packet in it will count as a retransmission. */
		q->r[0].e = q->r[1].e;
		memmove(&q->r[1], &q->r[2], (q->n - 2) * sizeof(q->r[0]));
		q->n--;
		seq_add(q, s, e);
		return;
	}
	memmove(&q->r[i + 1], &q->r[i], (q->n - i) * sizeof(q->r[0]));
	q->r[i].s = s;
	q->r[i].e = e;
	q->n++;
}

/* Keeps offsets small: ranges far behind the highest end are forgotten. */
static void seq_rebase(struct seqtrack *q)
{
	uint32_t shift = q->high - SEQ_REBASE_TO, i, k = 0;

	for (i = 0; i < q->n; i++) {
		if (q->r[i].e <= shift)
			continue;
		q->r[k].s = q->r[i].s > shift ? q->r[i].s - shift : 0;
		q->r[k].e = q->r[i].e - shift;
		k++;
	}
	q->n = (uint8_t)k;
	q->base += shift;
	q->high -= shift;
}

static enum seq_class seq_classify(struct seqtrack *q, uint32_t seq, uint32_t len)
{
	enum seq_class cls;
	int64_t off;
	uint64_t cov;
	uint32_t s, e;

	if (!len || len > SEQ_MAX_LEN)
		return SEQ_IGNORE;
	if (!q->init)
		seq_origin(q, seq);
	/* high <= 2^30, so off < 2^30 + 2^31 and off + len < 2^32. */
	off = (int64_t)q->high + (int32_t)(seq - (q->base + q->high));
	if (off < 0)
		return SEQ_IGNORE;
	s = (uint32_t)off;
	e = s + len;
	if (len == 1 && e == q->high && q->n)
		return SEQ_KEEPALIVE;
	if (s >= q->high) {
		cls = SEQ_NEW;
		cov = 0;
	} else {
		cov = seq_covered(q, s, e);
		cls = cov ? SEQ_RETRANS : SEQ_OOO;
	}
	if (cov < len)
		seq_add(q, s, e);
	if (e > q->high)
		q->high = e;
	if (q->high > SEQ_REBASE_AT)
		seq_rebase(q);
	return cls;
}

/* ---- L7 hand-off ---- */

static void make_view(const struct flow *f, struct flow_view *v)
{
	v->flow_id = f->id;
	v->family = f->key.family;
	v->l4_proto = f->key.l4_proto;
	v->addr0 = f->side[0].addr;
	v->addr1 = f->side[1].addr;
	v->client_port = f->side[0].port;
	v->server_port = f->side[1].port;
	v->client_known = f->client_known;
}

static void l7_deliver(void *ctx, uint32_t seq, const uint8_t *data, uint32_t len, uint32_t gap,
		       uint64_t ts_ns)
{
	struct l7_ctx *x = ctx;
	struct flow_view v;

	make_view(x->f, &v);
	x->t->st.l7_bytes += len;
	x->t->l7->data(x->t->l7_ctx, &v, x->dir, ts_ns, seq, data, len, gap);
}

static void sync_reasm_stats(struct flow_table *t)
{
	t->st.reasm_gaps = t->rs.gaps;
	t->st.reasm_gap_bytes = t->rs.gap_bytes;
	t->st.reasm_drop_full = t->rs.drop_full;
}

static void l7_direct(struct flow_table *t, struct flow *f, int s, uint32_t seq,
		      const uint8_t *data, uint32_t len, uint32_t gap, uint64_t ts)
{
	struct flow_view v;

	make_view(f, &v);
	t->st.l7_bytes += len;
	if (gap) {
		t->rs.gaps++;
		t->rs.gap_bytes += gap;
		sync_reasm_stats(t);
	}
	t->l7->data(t->l7_ctx, &v, (uint8_t)s, ts, seq, data, len, gap);
}

/*
 * What tcp_reasm would do for segments that arrive in order, without its 800 bytes per
 * direction: most streams never need more. The first segment ahead of a hole gets a
 * reassembler, started where the stream is, and everything goes through it from then on.
 */
static void l7_tcp(struct flow_table *t, struct flow *f, int s, uint32_t seq, const struct pkt *p)
{
	struct side *me = &f->side[s];
	struct l7_ctx x = { .t = t, .f = f, .dir = (uint8_t)s };
	const uint8_t *data = p->payload;
	uint32_t len = p->payload_len, skip, gap = 0;

	if (!me->reasm) {
		if (!me->l7_started) {
			me->l7_started = true;
			me->l7_next = me->isn_known ? me->isn + 1 : seq;
		}
		skip = me->l7_next - seq;
		if ((int32_t)skip >= 0) {
			if (skip >= len)
				return; /* all delivered already */
			/* The capture cut the segment: the rest will never be seen, say so now. */
			if (p->payload_wire_len > len && skip < p->payload_wire_len)
				gap = p->payload_wire_len - len;
			l7_direct(t, f, s, me->l7_next, data + skip, len - skip, gap, p->ts_ns);
			me->l7_next += len - skip + gap;
			return;
		}
		me->reasm = malloc(sizeof(*me->reasm));
		if (!me->reasm) {
			/* Cannot wait for the hole: skip it now, reported as a gap. */
			t->st.reasm_drop_nomem++;
			l7_direct(t, f, s, me->l7_next, NULL, 0, seq - me->l7_next, p->ts_ns);
			l7_direct(t, f, s, seq, data, len, 0, p->ts_ns);
			me->l7_next = seq + len;
			return;
		}
		tcp_reasm_init(me->reasm, t->cfg.reasm_bytes);
		tcp_reasm_start(me->reasm, me->l7_next);
	}
	if (tcp_reasm_push(me->reasm, seq, data, len, p->ts_ns, l7_deliver, &x, &t->rs) == -ENOMEM)
		t->st.reasm_drop_nomem++;
	sync_reasm_stats(t);
}

static void l7_udp(struct flow_table *t, struct flow *f, int s, const struct pkt *p)
{
	struct flow_view v;

	make_view(f, &v);
	t->st.l7_bytes += p->payload_len;
	t->l7->data(t->l7_ctx, &v, (uint8_t)s, p->ts_ns, 0, p->payload, p->payload_len, 0);
}

static void l7_close(struct flow_table *t, struct flow *f, uint64_t ts)
{
	struct l7_ctx x = { .t = t, .f = f };
	struct flow_view v;
	int d;

	for (d = 0; d < 2; d++) {
		struct tcp_reasm *r = f->side[d].reasm;

		if (!r)
			continue;
		x.dir = (uint8_t)d;
		tcp_reasm_flush(r, l7_deliver, &x, &t->rs);
		tcp_reasm_release(r);
		free(r);
		f->side[d].reasm = NULL;
		sync_reasm_stats(t);
	}
	make_view(f, &v);
	f->l7_proto = t->l7->closed(t->l7_ctx, &v, ts);
	f->l7_closed = true;
}

/* ---- rows ---- */

/* A row of a flow from the counters of pe. */
static void fill_rec(const struct flow *f, const struct period *pe, uint16_t close_type,
		     uint64_t time_ns, struct l4_flow_rec *out)
{
	struct l4_flow_rec r;

	memset(&r, 0, sizeof(r));
	r.flow_id = f->id;
	r.time_ns = time_ns;
	r.start_ns = f->start_ns;
	r.end_ns = f->end_ns;
	r.close_type = close_type;
	r.family = f->key.family;
	r.l4_proto = f->key.l4_proto;
	memcpy(r.addr0, f->side[0].addr, 16);
	memcpy(r.addr1, f->side[1].addr, 16);
	r.client_port = f->side[0].port;
	r.server_port = f->side[1].port;
	memcpy(r.mac0, f->side[0].mac, 6);
	memcpy(r.mac1, f->side[1].mac, 6);
	r.vlan = f->key.vlan;
	r.tunnel_tier = f->tunnel_tier;
	r.tunnel = f->tunnel;
	r.tcp_flags_bit_0 = pe->c[0].flags;
	r.tcp_flags_bit_1 = pe->c[1].flags;
	r.syn_seq = f->side[0].isn_known ? f->side[0].isn : 0;
	r.syn_ack_seq = f->side[1].isn_known ? f->side[1].isn : 0;
	r.l7_proto = f->l7_proto;

	r.packet_tx = pe->c[0].packets;
	r.packet_rx = pe->c[1].packets;
	r.byte_tx = pe->c[0].bytes;
	r.byte_rx = pe->c[1].bytes;
	r.l3_byte_tx = pe->c[0].l3;
	r.l3_byte_rx = pe->c[1].l3;
	r.l4_byte_tx = pe->c[0].l4;
	r.l4_byte_rx = pe->c[1].l4;

	r.rtt = f->rtt;
	r.rtt_client = f->rtt_client;
	r.rtt_server = f->rtt_server;
	r.srt_sum = pe->srt.sum;
	r.srt_count = pe->srt.count;
	r.srt_max = pe->srt.max;
	r.art_sum = pe->art.sum;
	r.art_count = pe->art.count;
	r.art_max = pe->art.max;
	r.cit_sum = pe->cit.sum;
	r.cit_count = pe->cit.count;
	r.cit_max = pe->cit.max;

	r.retrans_tx = pe->c[0].retrans;
	r.retrans_rx = pe->c[1].retrans;
	r.ooo_tx = pe->c[0].ooo;
	r.ooo_rx = pe->c[1].ooo;
	r.zero_win_tx = pe->c[0].zero_win;
	r.zero_win_rx = pe->c[1].zero_win;
	r.syn_count = pe->syn;
	r.synack_count = pe->synack;
	r.retrans_syn = pe->retrans_syn;
	r.retrans_synack = pe->retrans_synack;
	r.fin_count = pe->fin;
	r.rst_count = pe->rst;
	*out = r;
}

static void pstat_merge(struct pstat *d, const struct pstat *s)
{
	d->sum += s->sum;
	d->count += s->count;
	if (s->max > d->max)
		d->max = s->max;
}

static void period_merge(struct period *d, const struct period *s)
{
	for (int i = 0; i < 2; i++) {
		struct side_cnt *a = &d->c[i];
		const struct side_cnt *b = &s->c[i];

		a->packets += b->packets;
		a->bytes += b->bytes;
		a->l3 += b->l3;
		a->l4 += b->l4;
		a->retrans += b->retrans;
		a->ooo += b->ooo;
		a->zero_win += b->zero_win;
		a->flags |= b->flags;
	}
	pstat_merge(&d->srt, &s->srt);
	pstat_merge(&d->art, &s->art);
	pstat_merge(&d->cit, &s->cit);
	d->syn += s->syn;
	d->synack += s->synack;
	d->retrans_syn += s->retrans_syn;
	d->retrans_synack += s->retrans_synack;
	d->fin += s->fin;
	d->rst += s->rst;
}

/*
 * The second in `per` is over (or the flow ends: close_type != 0): hand it to the meter
 * and fold it into the row's period. The meter sees each flow's seconds with activity,
 * its first second as new (is_new_flow) and its end (close_type) once; the handshake RTTs
 * once, in the second they became known, so that sums over seconds stay averages of flows.
 */
static void meter_second(struct flow_table *t, struct flow *f, uint16_t close_type,
			 uint64_t time_ns)
{
	const struct side_cnt *c = f->per.c;

	if (t->meter && (c[0].packets || c[1].packets || close_type)) {
		struct l4_flow_rec r;

		fill_rec(f, &f->per, close_type, time_ns, &r);
		r.is_new_flow = !f->metered;
		if (!f->rtt_metered && (f->hs_ack_seen || close_type) &&
		    (f->rtt || f->rtt_client || f->rtt_server))
			f->rtt_metered = true; /* final once the handshake is done, or at the end */
		else
			r.rtt = r.rtt_client = r.rtt_server = 0;
		f->metered = true;
		t->meter(t->meter_ctx, &r);
	}
	period_merge(&f->acc, &f->per);
	memset(&f->per, 0, sizeof(f->per));
	f->next_sec_ns = UINT64_MAX;
}

static void emit_row(struct flow_table *t, struct flow *f, uint16_t close_type, uint64_t time_ns)
{
	struct l4_flow_rec r;

	/* The last second first: its counters belong to this row too. */
	meter_second(t, f, close_type == FLOW_CLOSE_FORCED_REPORT ? 0 : close_type,
		     close_type == FLOW_CLOSE_FORCED_REPORT ? time_ns - 1 : time_ns);
	fill_rec(f, &f->acc, close_type, time_ns, &r);
	r.is_new_flow = !f->reported;
	if (t->report)
		t->report(t->report_ctx, &r);
	t->st.reports++;
	f->reported = true;
	f->last_row_ns = time_ns;
	memset(&f->acc, 0, sizeof(f->acc));
}

/* ---- flow life ---- */

static uint64_t state_timeout(const struct flow_table *t, const struct flow *f)
{
	if (f->key.l4_proto != 6)
		return t->cfg.udp_timeout_ns;
	switch (f->state) {
	case TS_SYN_SENT:
	case TS_SYNACK: return t->cfg.tcp_opening_timeout_ns;
	case TS_CLOSING: return t->cfg.tcp_closing_timeout_ns;
	case TS_CLOSED: return t->cfg.tcp_linger_ns;
	default:
		/* A suspected queue lack is a handshake in trouble: the client keeps
		 * retransmitting (backing off to tens of seconds) until someone resets, so it
		 * gets the closing timeout, not the 5 s of a plain opening. */
		return f->queue_lack ? t->cfg.tcp_closing_timeout_ns
				     : t->cfg.tcp_established_timeout_ns;
	}
}

/* What ends a flow that goes silent in its current state (also: flush). */
static uint16_t timeout_close_type(const struct flow *f)
{
	if (f->key.l4_proto != 6)
		return FLOW_CLOSE_TIMEOUT;
	switch (f->state) {
	case TS_CLOSED: return f->closed_type;
	case TS_SYN_SENT: return FLOW_CLOSE_CLIENT_SYN_REPEAT;
	case TS_SYNACK: return FLOW_CLOSE_SERVER_SYNACK_REPEAT;
	case TS_CLOSING:
		if (f->side[0].fin && f->side[1].fin)
			return FLOW_CLOSE_FIN;
		return f->side[0].fin ? FLOW_CLOSE_CLIENT_HALF_CLOSE : FLOW_CLOSE_SERVER_HALF_CLOSE;
	case TS_ESTABLISHED:
		return f->queue_lack ? FLOW_CLOSE_SERVER_QUEUE_LACK : FLOW_CLOSE_TIMEOUT;
	default: return FLOW_CLOSE_TIMEOUT;
	}
}

/* s: the side that sent the RST. */
static uint16_t rst_close_type(const struct flow *f, int s)
{
	switch (f->state) {
	case TS_SYN_SENT: return s ? FLOW_CLOSE_SERVER_RESET : FLOW_CLOSE_CLIENT_ESTABLISH_RST;
	case TS_SYNACK:
		return s ? FLOW_CLOSE_SERVER_ESTABLISH_RST : FLOW_CLOSE_CLIENT_ESTABLISH_RST;
	case TS_CLOSING: return s ? FLOW_CLOSE_SERVER_RST : FLOW_CLOSE_FIN_CLIENT_RST;
	case TS_CLOSED:
		/* Stragglers do not change how it ended, but a client's RST after the FINs. */
		return f->closed_type == FLOW_CLOSE_FIN && !s ? FLOW_CLOSE_FIN_CLIENT_RST
							      : f->closed_type;
	default:
		/* A server that never accepted the connection resets it in the end: that is
		 * the queue lack itself. */
		if (f->queue_lack)
			return s ? FLOW_CLOSE_SERVER_QUEUE_LACK : FLOW_CLOSE_CLIENT_ESTABLISH_RST;
		return s ? FLOW_CLOSE_SERVER_RST : FLOW_CLOSE_CLIENT_RST;
	}
}

/* Final row, L7 close, and the flow is gone. ts: when it ended (for the L7 side). */
static void flow_end(struct flow_table *t, struct flow *f, uint16_t close_type, uint64_t ts)
{
	if (t->l7 && !f->l7_closed)
		l7_close(t, f, ts);
	emit_row(t, f, close_type, max_u64(f->end_ns, f->last_row_ns));
	hash_del(f);
	lru_del(t, f);
	wheel_del(f);
	t->st.flows_closed++;
	t->st.flows_active--;
	free(f);
}

/* First report boundary strictly after ts. */
static uint64_t boundary_after(const struct flow_table *t, uint64_t ts)
{
	uint64_t iv = t->cfg.report_interval_ns, b = ts / iv + 1;

	return b > UINT64_MAX / iv ? UINT64_MAX : b * iv;
}

/*
 * Applies the deadlines passed by now, in time order: forced reports, then the timeout.
 * Returns false when the flow ended (freed).
 */
static bool flow_catch_up(struct flow_table *t, struct flow *f, uint64_t now)
{
	for (;;) {
		/* A second with packets ended: the meter's share (before any row at the same
		 * boundary, which then includes it). */
		if (f->next_sec_ns <= now && f->next_sec_ns <= f->timeout_at) {
			meter_second(t, f, 0, f->next_sec_ns - 1);
			continue;
		}
		/* UINT64_MAX: no boundary left to reach (times at the end of the range). */
		if (f->next_report_ns <= now && f->next_report_ns <= f->timeout_at &&
		    f->next_report_ns != UINT64_MAX) {
			const struct side_cnt *c = f->acc.c;

			if (c[0].packets || c[1].packets || f->per.c[0].packets ||
			    f->per.c[1].packets)
				emit_row(t, f, FLOW_CLOSE_FORCED_REPORT, f->next_report_ns);
			/* Every boundary up to here now closes an empty period: skip them. */
			f->next_report_ns = boundary_after(t, min_u64(now, f->timeout_at));
			continue;
		}
		if (f->timeout_at <= now) {
			flow_end(t, f, timeout_close_type(f), f->timeout_at);
			return false;
		}
		return true;
	}
}

static void wheel_run_slot(struct flow_table *t, uint32_t i, uint64_t now)
{
	struct flow *list = t->wheel[i], *f;

	t->wheel[i] = NULL;
	if (list)
		list->tw_pprev = &list;
	while ((f = list)) {
		wheel_del(f);
		if (flow_catch_up(t, f, now))
			wheel_add(t, f);
	}
}

static void advance_time(struct flow_table *t, uint64_t now, bool force)
{
	uint64_t sec = now / NS_PER_SEC, s;

	t->now_ns = now;
	if (!t->time_started) {
		t->time_started = true;
		t->wheel_sec = sec;
		return;
	}
	if (sec == t->wheel_sec && !force)
		return;
	s = t->wheel_sec;
	if (sec - s >= WHEEL_SLOTS)
		s = sec - WHEEL_SLOTS + 1; /* one lap visits every slot */
	for (; s <= sec; s++)
		wheel_run_slot(t, (uint32_t)(s % WHEEL_SLOTS), now);
	t->wheel_sec = sec;
}

/* Server side by ports: 1 when dport's side is the server, 0 when sport's. */
static int dst_is_server(uint16_t sport, uint16_t dport)
{
	if ((dport < 1024) != (sport < 1024))
		return dport < 1024;
	if ((dport < 32768) != (sport < 32768))
		return dport < 32768;
	return 1;
}

static struct flow *flow_create(struct flow_table *t, const struct flow_key *k, uint64_t h,
				const struct pkt *p, bool src_is_a, uint64_t now)
{
	struct flow *f;
	bool src_is_client;
	int a;

	while (t->st.flows_active >= t->cfg.max_flows && t->lru_head) {
		f = t->lru_head;
		/* One that has already timed out ends as such, not as an eviction. */
		if (flow_catch_up(t, f, now)) {
			t->st.flows_evicted_full++;
			flow_end(t, f, FLOW_CLOSE_TIMEOUT, now);
		}
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	if (p->l4_proto == 6 && (p->tcp_flags & (PKT_TCP_SYN | PKT_TCP_RST)) == PKT_TCP_SYN)
		src_is_client = !(p->tcp_flags & PKT_TCP_ACK);
	else
		src_is_client = dst_is_server(p->sport, p->dport);
	f->client_known =
		p->l4_proto == 6 && (p->tcp_flags & (PKT_TCP_SYN | PKT_TCP_RST)) == PKT_TCP_SYN;
	f->a_is_client = src_is_a == src_is_client;
	f->key = *k;
	f->id = t->next_id++;
	a = f->a_is_client ? 0 : 1;
	memcpy(f->side[a].addr, k->a, 16);
	f->side[a].port = k->pa;
	memcpy(f->side[!a].addr, k->b, 16);
	f->side[!a].port = k->pb;
	f->side[0].wscale = f->side[1].wscale = -1;
	f->start_ns = f->end_ns = now;
	f->next_report_ns = boundary_after(t, now);
	f->next_sec_ns = UINT64_MAX;
	f->timeout_at = UINT64_MAX;
	hash_add(t, f, h);
	lru_add_tail(t, f);
	t->st.flows_created++;
	t->st.flows_active++;
	if (t->st.flows_active > t->st.flows_peak)
		t->st.flows_peak = t->st.flows_active;
	return f;
}

static void swap_sides(struct flow *f)
{
	struct side s = f->side[0];
	struct side_cnt c = f->per.c[0], ac = f->acc.c[0];

	f->side[0] = f->side[1];
	f->side[1] = s;
	f->per.c[0] = f->per.c[1];
	f->per.c[1] = c;
	f->acc.c[0] = f->acc.c[1];
	f->acc.c[1] = ac;
	/* L7 streams go with their sides (struct side): directions stay consistent from
	 * now on; what was handed over before stays as it was. */
	if (f->tunnel_tier) {
		uint8_t a[16];

		memcpy(a, f->tunnel.src, 16);
		memcpy(f->tunnel.src, f->tunnel.dst, 16);
		memcpy(f->tunnel.dst, a, 16);
	}
	f->tun_from_client = !f->tun_from_client;
	f->a_is_client = !f->a_is_client;
	f->srt_pending = f->art_pending = f->cit_armed = false;
}

/* Counters and addresses every packet updates. */
static void count_packet(struct flow *f, const struct pkt *p, int s)
{
	struct side_cnt *c = &f->per.c[s];
	struct side *me = &f->side[s], *peer = &f->side[!s];

	c->packets++;
	c->bytes += p->wire_len;
	c->l3 += p->ip_len;
	c->l4 += p->payload_wire_len;
	c->flags |= p->tcp_flags;
	if (!me->mac_own) {
		memcpy(me->mac, p->mac_src, 6);
		me->mac_own = true;
		if (!peer->mac_own)
			memcpy(peer->mac, p->mac_dst, 6);
	}
	/* The tunnel as the client sent it (its outer source is the client's endpoint). */
	if (!f->tun_set || (s == 0 && !f->tun_from_client)) {
		f->tun_set = true;
		f->tun_from_client = s == 0;
		f->tunnel_tier = p->tunnel_tier;
		if (p->tunnel_tier) {
			f->tunnel = p->tunnel;
			if (s) {
				memcpy(f->tunnel.src, p->tunnel.dst, 16);
				memcpy(f->tunnel.dst, p->tunnel.src, 16);
			}
		}
	}
}

/* Is this SYN (from side s) the start of a new connection rather than part of f? */
static bool is_new_connection(const struct flow *f, const struct pkt *p, int s)
{
	if (!f->client_known)
		return f->payload_seen;
	if (f->state != TS_ESTABLISHED && f->state != TS_CLOSING && !f->synack_seen)
		return false; /* still opening: a SYN repeat */
	if (s != 0)
		return true; /* the other side opens a connection on the same tuple */
	if (f->side[0].isn_known)
		return p->seq != f->side[0].isn;
	/* Only the SYN-ACK was seen: this SYN is the one it answered if the ISNs match. */
	return !f->synack_seen || p->seq + 1 != f->synack_ack;
}

static void tcp_syn(struct flow *f, const struct pkt *p, int s)
{
	struct side *me = &f->side[0];

	f->per.syn++;
	if (s != 0)
		return; /* simultaneous open: counted only */
	if (f->syn_seen)
		f->per.retrans_syn++;
	if (f->syn_seen && (f->synack_seen || p->seq == me->isn))
		return;
	/* First SYN, or a retry with a new ISN before any SYN-ACK: the latest one counts. */
	if (!f->syn_seen) {
		f->syn_seen = true;
		f->syn_ts = p->ts_ns;
	}
	me->isn = p->seq;
	me->isn_known = true;
	me->wscale = p->wscale;
	seq_origin(&me->sq, p->seq + 1);
	if (f->state == TS_NONE)
		f->state = TS_SYN_SENT;
}

static void tcp_synack(struct flow *f, const struct pkt *p, int s)
{
	struct side *me = &f->side[1];

	f->per.synack++;
	if (s != 1)
		return; /* simultaneous open: counted only */
	if (f->synack_seen) {
		f->per.retrans_synack++;
		if (f->state == TS_ESTABLISHED && f->client_acked)
			f->queue_lack = true;
		return;
	}
	f->synack_seen = true;
	f->synack_ts = p->ts_ns;
	f->synack_ack = p->ack;
	me->isn = p->seq;
	me->isn_known = true;
	me->wscale = p->wscale;
	seq_origin(&me->sq, p->seq + 1);
	if (f->syn_seen)
		f->rtt_server = rtt_us(f->syn_ts, f->synack_ts);
	if (f->state == TS_NONE || f->state == TS_SYN_SENT)
		f->state = TS_SYNACK;
}

/* ACK, data, FIN: the handshake's end, the state, the closing. */
static void tcp_ack_fin(struct flow *f, const struct pkt *p, int s, uint32_t len)
{
	struct side *me = &f->side[s], *peer = &f->side[!s];
	bool ack = p->tcp_flags & PKT_TCP_ACK, fin = p->tcp_flags & PKT_TCP_FIN;

	if (s == 0 && ack && f->synack_seen) {
		f->client_acked = true;
		if (!f->hs_ack_seen && p->ack == f->side[1].isn + 1) {
			f->hs_ack_seen = true;
			f->rtt_client = rtt_us(f->synack_ts, p->ts_ns);
			/* rtt needs the SYN before the SYN-ACK (DeepFlow's precondition). */
			if (f->syn_seen && f->syn_ts <= f->synack_ts)
				f->rtt = rtt_us(f->syn_ts, p->ts_ns);
			f->cit_armed = true;
			f->cit_ts = p->ts_ns;
		}
	}
	if (s == 1)
		f->queue_lack = false; /* the server moved on: it did accept the connection */
	if (f->state == TS_CLOSED)
		return; /* a straggler: counted, the end is decided */
	switch (f->state) {
	case TS_NONE: f->state = TS_ESTABLISHED; break;
	case TS_SYN_SENT:
	case TS_SYNACK:
		if ((s == 0 && ack) || len)
			f->state = TS_ESTABLISHED;
		break;
	default: break;
	}
	if (fin) {
		me->fin = true;
		me->fin_ack = p->seq + len + 1;
		f->payload_seen = true;
		f->state = TS_CLOSING;
	}
	if (ack && peer->fin && !peer->fin_acked && seq_ge(p->ack, peer->fin_ack))
		peer->fin_acked = true;
}

/* Zero window, retransmission and the latencies carried by payload. */
static void tcp_perf(struct flow *f, const struct pkt *p, int s, uint32_t dseq, uint32_t len,
		     bool syn)
{
	struct side *me = &f->side[s];
	struct side_cnt *c = &f->per.c[s];
	enum seq_class cls = SEQ_IGNORE;
	bool data;

	if (!syn) {
		uint32_t win = p->win;

		/* The scale a side announced applies to its windows once both sides sent one. */
		if (f->side[0].wscale >= 0 && f->side[1].wscale >= 0)
			win <<= me->wscale > WSCALE_MAX ? WSCALE_MAX : me->wscale;
		if (!win)
			c->zero_win++;
	}
	if (len) {
		f->payload_seen = true;
		cls = seq_classify(&me->sq, dseq, len);
		if (cls == SEQ_RETRANS)
			c->retrans++;
		else if (cls == SEQ_OOO)
			c->ooo++;
	}
	data = len && cls != SEQ_KEEPALIVE;
	if (s == 0) {
		if (!data)
			return;
		if (cls == SEQ_RETRANS) {
			f->srt_pending = false; /* Karn: which copy is acknowledged is unknown */
		} else {
			f->srt_pending = true;
			f->srt_ts = p->ts_ns;
			f->srt_end = dseq + len;
		}
		f->art_pending = true;
		f->art_ts = p->ts_ns;
		if (len > 1 && f->cit_armed) {
			pstat_add(&f->per.cit, f->cit_ts, p->ts_ns, CIT_MAX_NS);
			f->cit_armed = false;
		}
		return;
	}
	if ((p->tcp_flags & PKT_TCP_ACK) && f->srt_pending && seq_ge(p->ack, f->srt_end)) {
		/* Only a pure ACK measures the stack; data or FIN carrying it ends the wait. */
		if (!len && !(p->tcp_flags & (PKT_TCP_FIN | PKT_TCP_SYN)))
			pstat_add(&f->per.srt, f->srt_ts, p->ts_ns, SRT_MAX_NS);
		f->srt_pending = false;
	}
	if (data) {
		if (f->art_pending && cls != SEQ_RETRANS) {
			pstat_add(&f->per.art, f->art_ts, p->ts_ns, ART_MAX_NS);
			f->art_pending = false;
		}
		f->cit_armed = true;
		f->cit_ts = p->ts_ns;
	}
}

/* Returns false when the packet ended the flow. */
static bool tcp_packet(struct flow_table *t, struct flow *f, const struct pkt *p, int s,
		       uint64_t now)
{
	uint8_t fl = p->tcp_flags;
	bool rst = fl & PKT_TCP_RST;
	bool syn = !rst && (fl & PKT_TCP_SYN);
	bool is_syn = syn && !(fl & PKT_TCP_ACK), is_synack = syn && (fl & PKT_TCP_ACK);
	uint32_t len = p->payload_wire_len;
	uint32_t dseq = p->seq + (syn ? 1 : 0);

	/* A SYN or SYN-ACK settles a flow oriented by ports. */
	if (!f->client_known && syn) {
		if (is_syn == (s == 1)) {
			swap_sides(f);
			s = !s;
		}
		f->client_known = true;
		if (!f->payload_seen)
			f->state = TS_NONE; /* nothing but bare ACKs so far: the handshake starts */
	}
	count_packet(f, p, s);
	if (fl & PKT_TCP_FIN)
		f->per.fin++;
	if (rst) {
		/* The end is decided now, but the flow lingers: the other copies of a RST and
		 * late segments belong to it, not to a new flow. */
		f->per.rst++;
		f->closed_type = rst_close_type(f, s);
		f->state = TS_CLOSED;
		/* The L7 side is done now: lingering must not hold its memory. */
		if (t->l7 && !f->l7_closed)
			l7_close(t, f, now);
		return true;
	}
	if (f->state == TS_CLOSED && (syn || (fl & PKT_TCP_FIN)))
		return true; /* a late SYN-ACK or FIN copy: counted above, nothing to change */
	if (is_syn)
		tcp_syn(f, p, s);
	else if (is_synack)
		tcp_synack(f, p, s);
	else
		tcp_ack_fin(f, p, s, len);
	tcp_perf(f, p, s, dseq, len, syn);
	if (t->l7 && !f->l7_closed && p->payload_len && p->payload)
		l7_tcp(t, f, s, dseq, p);
	if (f->state != TS_CLOSED && f->side[0].fin_acked && f->side[1].fin_acked) {
		f->closed_type = FLOW_CLOSE_FIN;
		f->state = TS_CLOSED;
		if (t->l7 && !f->l7_closed)
			l7_close(t, f, now);
	}
	return true;
}

void flow_table_packet(struct flow_table *t, const struct pkt *p)
{
	struct flow_key key;
	struct flow *f;
	uint64_t h, now;
	bool src_is_a;
	int s;

	if (!t || !p)
		return;
	t->st.packets++;
	if ((p->l4_proto != 6 && p->l4_proto != 17) || (p->family != 4 && p->family != 6)) {
		t->st.packets_ignored++;
		return;
	}
	/* Capture time never goes back: a reordered packet counts at the latest time. */
	now = max_u64(p->ts_ns, t->now_ns);
	advance_time(t, now, false);

	src_is_a = make_key(p, &key);
	h = key_hash(t, &key);
	f = hash_find(t, &key, h);
	if (f && !flow_catch_up(t, f, now))
		f = NULL;
	if (f && p->l4_proto == 6 &&
	    (p->tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK | PKT_TCP_RST)) == PKT_TCP_SYN &&
	    (f->state == TS_CLOSED ||
	     is_new_connection(f, p, (src_is_a == f->a_is_client) ? 0 : 1))) {
		/* A connection that ended keeps its close type; a live one was replaced. */
		flow_end(t, f,
			 f->state == TS_CLOSED ? f->closed_type : FLOW_CLOSE_CLIENT_PORT_REUSE,
			 now);
		f = NULL;
	}
	if (!f) {
		f = flow_create(t, &key, h, p, src_is_a, now);
		if (!f) {
			/* Out of memory: not in any row, so counted as not handled. */
			t->st.packets_ignored++;
			return;
		}
	}
	s = (src_is_a == f->a_is_client) ? 0 : 1;
	f->end_ns = now;
	if (p->l4_proto == 6) {
		if (!tcp_packet(t, f, p, s, now))
			return;
	} else {
		count_packet(f, p, s);
		if (t->l7 && p->payload_len && p->payload)
			l7_udp(t, f, s, p);
	}
	f->timeout_at = add_sat(now, state_timeout(t, f));
	/* Seconds are only cut for a meter: without one, rows alone need no per-second work. */
	if (t->meter && f->next_sec_ns == UINT64_MAX)
		f->next_sec_ns = (now / NS_PER_SEC + 1) * NS_PER_SEC;
	lru_touch(t, f);
	/* Filed deadlines may be early (they are checked again), never late. */
	if (!f->tw_pprev || flow_deadline(f) < f->tw_deadline) {
		wheel_del(f);
		wheel_add(t, f);
	}
}

void flow_table_tick(struct flow_table *t, uint64_t now_ns)
{
	if (!t)
		return;
	advance_time(t, max_u64(now_ns, t->now_ns), true);
}

void flow_table_flush(struct flow_table *t, uint64_t now_ns)
{
	struct flow *f;
	uint64_t now;

	if (!t)
		return;
	now = max_u64(now_ns, t->now_ns);
	t->now_ns = now;
	while ((f = t->lru_head))
		if (flow_catch_up(t, f, now))
			flow_end(t, f, timeout_close_type(f), now);
}

void flow_table_set_meter(struct flow_table *t, flow_report_fn meter, void *ctx)
{
	t->meter = meter;
	t->meter_ctx = ctx;
}

const struct flow_stats *flow_table_stats(const struct flow_table *t)
{
	return &t->st;
}

struct flow_table *flow_table_create(const struct flow_cfg *cfg, flow_report_fn report,
				     void *report_ctx, const struct flow_l7_ops *l7, void *l7_ctx)
{
	struct flow_table *t = calloc(1, sizeof(*t));
	uint32_t nb = 16;

	if (!t)
		return NULL;
	if (cfg)
		t->cfg = *cfg;
	if (!t->cfg.max_flows)
		t->cfg.max_flows = 65536;
	if (!t->cfg.report_interval_ns)
		t->cfg.report_interval_ns = 60 * NS_PER_SEC;
	if (!t->cfg.tcp_established_timeout_ns)
		t->cfg.tcp_established_timeout_ns = 300 * NS_PER_SEC;
	if (!t->cfg.tcp_closing_timeout_ns)
		t->cfg.tcp_closing_timeout_ns = 35 * NS_PER_SEC;
	if (!t->cfg.tcp_opening_timeout_ns)
		t->cfg.tcp_opening_timeout_ns = 5 * NS_PER_SEC;
	if (!t->cfg.tcp_linger_ns)
		t->cfg.tcp_linger_ns = 2 * NS_PER_SEC;
	if (!t->cfg.udp_timeout_ns)
		t->cfg.udp_timeout_ns = 30 * NS_PER_SEC;
	if (!t->cfg.reasm_bytes)
		t->cfg.reasm_bytes = 64 * 1024;
	t->report = report;
	t->report_ctx = report_ctx;
	if (t->cfg.l7 && l7 && l7->data && l7->closed) {
		t->l7 = l7;
		t->l7_ctx = l7_ctx;
	}
	/* A load of at most 1 once full. */
	while (nb < t->cfg.max_flows && nb < MAX_BUCKETS)
		nb <<= 1;
	t->buckets = calloc(nb, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	t->mask = nb - 1;
	/* Varies between runs (ASLR) against crafted collisions; rows do not depend on it. */
	t->seed = ((uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull) ^ 0x6a09e667f3bcc908ull;
	t->next_id = 1;
	return t;
}

void flow_table_destroy(struct flow_table *t)
{
	struct flow *f, *next;
	int d;

	if (!t)
		return;
	for (f = t->lru_head; f; f = next) {
		next = f->lru_next;
		for (d = 0; d < 2; d++) {
			if (f->side[d].reasm) {
				tcp_reasm_release(f->side[d].reasm);
				free(f->side[d].reasm);
			}
		}
		free(f);
	}
	free(t->buckets);
	free(t);
}

const char *flow_close_type_name(uint16_t close_type)
{
	switch (close_type) {
	case FLOW_CLOSE_FIN: return "finish";
	case FLOW_CLOSE_SERVER_RST: return "server_rst";
	case FLOW_CLOSE_TIMEOUT: return "timeout";
	case FLOW_CLOSE_FORCED_REPORT: return "forced_report";
	case FLOW_CLOSE_CLIENT_SYN_REPEAT: return "client_syn_repeat";
	case FLOW_CLOSE_SERVER_HALF_CLOSE: return "server_half_close";
	case FLOW_CLOSE_CLIENT_RST: return "client_rst";
	case FLOW_CLOSE_SERVER_SYNACK_REPEAT: return "server_synack_repeat";
	case FLOW_CLOSE_CLIENT_HALF_CLOSE: return "client_half_close";
	case FLOW_CLOSE_CLIENT_PORT_REUSE: return "client_port_reuse";
	case FLOW_CLOSE_SERVER_RESET: return "server_reset";
	case FLOW_CLOSE_SERVER_QUEUE_LACK: return "server_queue_lack";
	case FLOW_CLOSE_CLIENT_ESTABLISH_RST: return "client_establish_rst";
	case FLOW_CLOSE_SERVER_ESTABLISH_RST: return "server_establish_rst";
	case FLOW_CLOSE_FIN_CLIENT_RST: return "fin_client_rst";
	default: return "unknown";
	}
}
