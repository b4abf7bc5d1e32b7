/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the flow table: the input is a configuration byte and then a
 * script of 8-byte records, each a TCP or UDP packet between a few endpoints (flags,
 * sequence numbers near each direction's running ones or arbitrary, payload sizes, time
 * steps, sometimes backwards), a tick or a flush. Checked after the final flush: every
 * fed packet and byte is in exactly one row, every flow got exactly one final row and,
 * with L7 on, exactly one closed() with no data after it; the stats agree.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/flow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NEP	 4
#define REC_SIZE 8

struct check {
	uint64_t packets, bytes, l4;		 /* fed */
	uint64_t row_packets, row_bytes, row_l4; /* reported */
	uint64_t rows, finals;
	uint64_t nids;
	uint8_t *final; /* per flow id: final rows seen */
	uint8_t *seen;	/* per flow id: any row seen */
	uint8_t *closed;
	uint64_t l7_bytes;
};

static void fail(void)
{
	__builtin_trap();
}

static void on_row(void *ctx, const struct l4_flow_rec *r)
{
	struct check *c = ctx;

	if (!r->flow_id || r->flow_id > c->nids)
		fail();
	if (c->final[r->flow_id])
		fail(); /* a row after the final one */
	if (r->is_new_flow == (bool)c->seen[r->flow_id])
		fail();
	if (r->end_ns < r->start_ns)
		fail();
	c->seen[r->flow_id] = 1;
	c->rows++;
	c->row_packets += r->packet_tx + r->packet_rx;
	c->row_bytes += r->byte_tx + r->byte_rx;
	c->row_l4 += r->l4_byte_tx + r->l4_byte_rx;
	if (r->close_type != FLOW_CLOSE_FORCED_REPORT) {
		c->final[r->flow_id] = 1;
		c->finals++;
	}
	if (r->srt_max > 10000000 || r->art_max > 30000000 || r->rtt > 30000000)
		fail();
	if (r->srt_count && r->srt_max > r->srt_sum)
		fail();
}

static void on_data(void *ctx, const struct flow_view *f, uint8_t dir, uint64_t ts_ns, uint32_t seq,
		    const uint8_t *d, uint32_t len, uint32_t gap)
{
	struct check *c = ctx;
	volatile uint8_t sink = 0;
	uint32_t i;

	(void)ts_ns;
	(void)seq;
	(void)gap;
	if (!f->flow_id || f->flow_id > c->nids || c->closed[f->flow_id] || dir > 1)
		fail();
	if (len && !d)
		fail();
	for (i = 0; i < len; i++)
		sink ^= d[i]; /* every byte readable (ASan) */
	(void)sink;
	c->l7_bytes += len;
}

static uint16_t on_closed(void *ctx, const struct flow_view *f, uint64_t ts_ns)
{
	struct check *c = ctx;

	(void)ts_ns;
	if (!f->flow_id || f->flow_id > c->nids || c->closed[f->flow_id])
		fail();
	c->closed[f->flow_id] = 1;
	return 0;
}

static const struct flow_l7_ops ops = { .data = on_data, .closed = on_closed };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t payload[1500];
	uint32_t run_seq[NEP][NEP] = { { 0 } };
	struct flow_cfg cfg = { 0 };
	struct check c = { 0 };
	struct flow_table *t;
	const struct flow_stats *st;
	uint64_t now = 1700000000ull * 1000000000ull, id;
	size_t off, n;
	uint8_t b0;

	if (size < 1)
		return 0;
	b0 = data[0];
	cfg.max_flows = 1 + (b0 & 7);
	cfg.l7 = b0 & 8;
	cfg.reasm_bytes = (b0 & 16) ? 300 : 0;
	if (b0 & 32) {
		cfg.report_interval_ns = 2000000000ull;
		cfg.tcp_opening_timeout_ns = 1000000000ull;
		cfg.tcp_closing_timeout_ns = 3000000000ull;
		cfg.tcp_established_timeout_ns = 7000000000ull;
		cfg.udp_timeout_ns = 5000000000ull;
	}
	n = (size - 1) / REC_SIZE;
	/* At most one flow per packet. */
	c.nids = n + 1;
	c.final = calloc(c.nids + 1, 1);
	c.seen = calloc(c.nids + 1, 1);
	c.closed = calloc(c.nids + 1, 1);
	t = flow_table_create(&cfg, on_row, &c, &ops, &c);
	if (!t || !c.final || !c.seen || !c.closed)
		goto out;
	memset(payload, 0xa5, sizeof(payload));

	for (off = 1; off + REC_SIZE <= size; off += REC_SIZE) {
		const uint8_t *r = data + off;
		uint8_t op = r[0] & 7, src = (r[0] >> 3) & 3, dst = (r[0] >> 5) & 3;
		uint32_t step = r[1];
		struct pkt p;

		/* Time: µs to minutes ahead, sometimes a little back. */
		switch (r[7] >> 6) {
		case 0: step *= 1000; break;
		case 1: step *= 1000000; break;
		case 2: step *= 100000000; break;
		default: step *= 1000000000; break;
		}
		if ((r[7] & 0x3f) == 0x3f && now > step)
			now -= step;
		else
			now += step;
		if (op == 6) {
			flow_table_tick(t, now);
			continue;
		}
		if (op == 7 && (r[2] & 0xf) == 0) {
			flow_table_flush(t, now);
			continue;
		}
		memset(&p, 0, sizeof(p));
		p.ts_ns = now;
		p.family = (r[2] & 0x80) ? 6 : 4;
		p.l4_proto = (op < 5) ? 6 : (op == 5 ? 17 : ((r[2] & 1) ? 1 : 6));
		p.src[0] = 10;
		p.src[3] = (uint8_t)(1 + (src & 1));
		p.dst[0] = 10;
		p.dst[3] = (uint8_t)(1 + (dst & 1));
		p.sport = (src & 2) ? 80 : 40000;
		p.dport = (dst & 2) ? 80 : 40000;
		p.vlan = (r[2] & 0x40) ? 5 : 0;
		p.mac_src[5] = src;
		p.mac_dst[5] = dst;
		p.tcp_flags = (p.l4_proto == 6) ? (r[3] & 0x3f) : 0;
		p.payload_len = (r[4] & 0x80) ? 0 : (uint32_t)(r[4] & 0x7f) * 8;
		p.payload_wire_len = p.payload_len + ((r[2] & 0x20) ? 16 : 0);
		p.payload = p.payload_len ? payload : NULL;
		p.ip_len = 40 + p.payload_wire_len;
		p.wire_len = 14 + p.ip_len;
		p.cap_len = 14 + 40 + p.payload_len;
		p.win = (r[3] & 0x40) ? 0 : 1000;
		p.wscale = (r[3] & 0x80) ? -1 : (int8_t)(r[2] & 0xf);
		if (r[2] & 0x10) {
			p.tunnel_tier = 1;
			p.tunnel.type = PKT_TUN_VXLAN;
			p.tunnel.id = r[6];
			p.tunnel.src[0] = src;
			p.tunnel.dst[0] = dst;
		}
		/* Sequence numbers near each direction's running one, or anywhere. */
		if (r[5] & 0x80) {
			memcpy(&p.seq, r + 4, 4);
		} else {
			p.seq = run_seq[src][dst] + (uint32_t)((int8_t)(r[5] << 1) * 8);
			if (!run_seq[src][dst] && (r[5] & 1))
				p.seq = 0xfffffe00u + r[6];
		}
		p.ack = run_seq[dst][src] + (uint32_t)((int8_t)r[6] & 0x1f) - 8;
		run_seq[src][dst] = p.seq + p.payload_wire_len +
				    ((p.tcp_flags & (PKT_TCP_SYN | PKT_TCP_FIN)) ? 1 : 0);
		if (p.l4_proto == 6 || p.l4_proto == 17) {
			c.packets++;
			c.bytes += p.wire_len;
			c.l4 += p.payload_wire_len;
		}
		flow_table_packet(t, &p);
	}
	flow_table_flush(t, now + 1);

	st = flow_table_stats(t);
	if (c.row_packets != c.packets || c.row_bytes != c.bytes || c.row_l4 != c.l4)
		fail();
	if (st->flows_active || st->flows_created != st->flows_closed ||
	    st->flows_closed != c.finals || st->reports != c.rows || st->flows_created > n + 1)
		fail();
	if (st->flows_peak > cfg.max_flows)
		fail();
	for (id = 1; id <= st->flows_created; id++) {
		if (!c.final[id])
			fail();
		if (cfg.l7 && !c.closed[id])
			fail();
		if (!cfg.l7 && c.closed[id])
			fail();
	}
	if (st->l7_bytes != c.l7_bytes)
		fail();
out:
	flow_table_destroy(t);
	free(c.final);
	free(c.seen);
	free(c.closed);
	return 0;
}
