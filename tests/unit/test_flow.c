/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow table: synthetic decoded packets with exact timestamps go in, l4_flow_log rows come
 * out and are checked field by field (close types, counters, handshake RTTs, SRT / ART /
 * CIT, retransmissions, windows, forced reports, eviction), and so is the L7 hand-off.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/flow.h"

#define US(x)  ((uint64_t)(x)*1000ull)
#define MS(x)  ((uint64_t)(x)*1000000ull)
#define SEC(x) ((uint64_t)(x)*1000000000ull)
/* A multiple of 60 s: forced report boundaries fall on T0 + k * 60 s. */
#define T0 SEC(1700000040)

#define MAX_ROWS 256

#define F_FIN PKT_TCP_FIN
#define F_SYN PKT_TCP_SYN
#define F_RST PKT_TCP_RST
#define F_PSH PKT_TCP_PSH
#define F_ACK PKT_TCP_ACK

/* Client 10.0.0.1:40000, server 10.0.0.2:80 unless a test changes them. */
#define CLI_PORT 40000
#define SRV_PORT 80
#define C_ISN	 1000u
#define S_ISN	 5000u

struct sink {
	struct l4_flow_rec rows[MAX_ROWS];
	int n;
};

/* What the L7 side received, per flow id (small) and direction. */
#define L7_FLOWS 8
struct l7_sink {
	uint8_t buf[L7_FLOWS][2][4096];
	uint32_t len[L7_FLOWS][2];
	uint32_t next_seq[L7_FLOWS][2];
	uint32_t gaps[L7_FLOWS][2];
	uint32_t gap_bytes[L7_FLOWS][2];
	int calls[L7_FLOWS][2];
	int closed[L7_FLOWS];
	bool client_known[L7_FLOWS];
	uint16_t server_port[L7_FLOWS];
	uint32_t last_seq[L7_FLOWS][2];
	int bad;
};

struct ctx {
	struct flow_table *t;
	struct sink rows;
	struct l7_sink l7;
	uint8_t cli[4], srv[4];
	uint16_t cport, sport;
	int8_t wscale[2];
	uint16_t win[2];
};

static void collect(void *c, const struct l4_flow_rec *r)
{
	struct sink *s = c;

	assert_true(s->n < MAX_ROWS);
	/* memcpy: rows are compared whole, padding included (the table zeroes it). */
	memcpy(&s->rows[s->n++], r, sizeof(*r));
}

static void l7_data(void *c, const struct flow_view *f, uint8_t dir, uint64_t ts_ns, uint32_t seq,
		    const uint8_t *data, uint32_t len, uint32_t gap)
{
	struct l7_sink *s = c;
	uint64_t id = f->flow_id;

	(void)ts_ns;
	if (id >= L7_FLOWS || dir > 1 || s->closed[id]) {
		s->bad++;
		return;
	}
	s->client_known[id] = f->client_known;
	s->server_port[id] = f->server_port;
	if (s->calls[id][dir] && seq != s->next_seq[id][dir] && f->l4_proto == 6)
		s->bad++; /* stream order broken */
	s->calls[id][dir]++;
	s->last_seq[id][dir] = seq;
	if (len) {
		if (s->len[id][dir] + len > sizeof(s->buf[0][0])) {
			s->bad++;
			return;
		}
		memcpy(s->buf[id][dir] + s->len[id][dir], data, len);
		s->len[id][dir] += len;
	}
	if (gap) {
		s->gaps[id][dir]++;
		s->gap_bytes[id][dir] += gap;
	}
	s->next_seq[id][dir] = seq + len + gap;
}

static uint16_t l7_closed(void *c, const struct flow_view *f, uint64_t ts_ns)
{
	struct l7_sink *s = c;

	(void)ts_ns;
	if (f->flow_id >= L7_FLOWS) {
		s->bad++;
		return 0;
	}
	s->closed[f->flow_id]++;
	return 20; /* rows carry it: checked in test_l7_handoff */
}

static const struct flow_l7_ops l7_ops = { .data = l7_data, .closed = l7_closed };

/* L7 hand-off is on unless the test builds its own table. */
static struct ctx *ctx_new(const struct flow_cfg *cfg)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct flow_cfg with_l7 = { .l7 = true };

	assert_non_null(c);
	memcpy(c->cli, "\x0a\x00\x00\x01", 4);
	memcpy(c->srv, "\x0a\x00\x00\x02", 4);
	c->cport = CLI_PORT;
	c->sport = SRV_PORT;
	c->wscale[0] = c->wscale[1] = -1;
	c->win[0] = c->win[1] = 1000;
	if (cfg)
		with_l7 = *cfg;
	with_l7.l7 = true;
	c->t = flow_table_create(&with_l7, collect, &c->rows, &l7_ops, &c->l7);
	assert_non_null(c->t);
	return c;
}

static void ctx_free(struct ctx *c)
{
	flow_table_destroy(c->t);
	free(c);
}

/* Payload bytes are a function of their sequence number, so L7 output can be checked. */
static uint8_t pattern(uint32_t seq)
{
	return (uint8_t)(seq * 7 + (seq >> 8));
}

static struct pkt mk(struct ctx *c, uint64_t ts, int dir, uint8_t l4, uint32_t len)
{
	static uint8_t data[8192];
	struct pkt p;

	memset(&p, 0, sizeof(p));
	p.ts_ns = ts;
	p.family = 4;
	p.l4_proto = l4;
	p.ttl = 64;
	memcpy(p.src, dir ? c->srv : c->cli, 4);
	memcpy(p.dst, dir ? c->cli : c->srv, 4);
	p.sport = dir ? c->sport : c->cport;
	p.dport = dir ? c->cport : c->sport;
	memcpy(p.mac_src, dir ? "\x02\0\0\0\0\x02" : "\x02\0\0\0\0\x01", 6);
	memcpy(p.mac_dst, dir ? "\x02\0\0\0\0\x01" : "\x02\0\0\0\0\x02", 6);
	p.wire_len = (l4 == 6 ? 54 : 42) + len;
	p.cap_len = p.wire_len;
	p.ip_len = (l4 == 6 ? 40 : 28) + len;
	p.payload = data;
	p.payload_len = len;
	p.payload_wire_len = len;
	p.wscale = -1;
	assert_true(len <= sizeof(data));
	return p;
}

/* A TCP segment: dir 0 client to server. */
static void tcp(struct ctx *c, uint64_t ts, int dir, uint8_t flags, uint32_t seq, uint32_t ack,
		uint32_t len)
{
	struct pkt p = mk(c, ts, dir, 6, len);
	uint8_t *d = (uint8_t *)p.payload;
	uint32_t i;

	for (i = 0; i < len; i++)
		d[i] = pattern(seq + i);
	p.seq = seq;
	p.ack = ack;
	p.tcp_flags = flags;
	p.win = c->win[dir];
	if (flags & F_SYN)
		p.wscale = c->wscale[dir];
	flow_table_packet(c->t, &p);
}

static void udp(struct ctx *c, uint64_t ts, int dir, uint32_t len)
{
	struct pkt p = mk(c, ts, dir, 17, len);

	memset((uint8_t *)p.payload, 'u', len);
	flow_table_packet(c->t, &p);
}

/* SYN at ts, SYN-ACK at +1 ms, ACK at +1.5 ms. */
static void handshake(struct ctx *c, uint64_t ts)
{
	tcp(c, ts, 0, F_SYN, C_ISN, 0, 0);
	tcp(c, ts + MS(1), 1, F_SYN | F_ACK, S_ISN, C_ISN + 1, 0);
	tcp(c, ts + US(1500), 0, F_ACK, C_ISN + 1, S_ISN + 1, 0);
}

static const struct l4_flow_rec *row(struct ctx *c, int i)
{
	assert_true(i < c->rows.n);
	return &c->rows.rows[i];
}

static void test_normal_connection(void **state)
{
	struct ctx *c = ctx_new(NULL);
	const struct l4_flow_rec *r;
	const struct flow_stats *st;

	(void)state;
	handshake(c, T0);
	tcp(c, T0 + MS(10), 0, F_PSH | F_ACK, C_ISN + 1, S_ISN + 1, 100);
	tcp(c, T0 + US(10200), 1, F_ACK, S_ISN + 1, C_ISN + 101, 0);
	tcp(c, T0 + MS(15), 1, F_PSH | F_ACK, S_ISN + 1, C_ISN + 101, 200);
	tcp(c, T0 + US(15500), 0, F_ACK, C_ISN + 101, S_ISN + 201, 0);
	tcp(c, T0 + MS(30), 0, F_PSH | F_ACK, C_ISN + 101, S_ISN + 201, 50);
	tcp(c, T0 + US(30300), 1, F_ACK, S_ISN + 201, C_ISN + 151, 0);
	tcp(c, T0 + MS(31), 1, F_PSH | F_ACK, S_ISN + 201, C_ISN + 151, 20);
	tcp(c, T0 + MS(40), 0, F_FIN | F_ACK, C_ISN + 151, S_ISN + 221, 0);
	tcp(c, T0 + US(40100), 1, F_FIN | F_ACK, S_ISN + 221, C_ISN + 152, 0);
	assert_int_equal(c->rows.n, 0);
	tcp(c, T0 + US(40200), 0, F_ACK, C_ISN + 152, S_ISN + 222, 0);

	/* Decided at the last ACK; reported once the linger for stragglers is over. */
	flow_table_tick(c->t, T0 + US(40200) + SEC(1));
	assert_int_equal(c->rows.n, 0);
	flow_table_tick(c->t, T0 + US(40200) + SEC(3));
	assert_int_equal(c->rows.n, 1);
	r = row(c, 0);
	assert_int_equal(r->flow_id, 1);
	assert_int_equal(r->close_type, FLOW_CLOSE_FIN);
	assert_true(r->is_new_flow);
	assert_int_equal(r->time_ns, T0 + US(40200));
	assert_int_equal(r->start_ns, T0);
	assert_int_equal(r->end_ns, T0 + US(40200));
	assert_int_equal(r->family, 4);
	assert_int_equal(r->l4_proto, 6);
	assert_memory_equal(r->addr0, c->cli, 4);
	assert_memory_equal(r->addr1, c->srv, 4);
	assert_int_equal(r->client_port, CLI_PORT);
	assert_int_equal(r->server_port, SRV_PORT);
	assert_memory_equal(r->mac0, "\x02\0\0\0\0\x01", 6);
	assert_memory_equal(r->mac1, "\x02\0\0\0\0\x02", 6);
	assert_int_equal(r->syn_seq, C_ISN);
	assert_int_equal(r->syn_ack_seq, S_ISN);
	assert_int_equal(r->tcp_flags_bit_0, F_SYN | F_ACK | F_PSH | F_FIN);
	assert_int_equal(r->tcp_flags_bit_1, F_SYN | F_ACK | F_PSH | F_FIN);

	assert_int_equal(r->packet_tx, 7);
	assert_int_equal(r->packet_rx, 6);
	assert_int_equal(r->byte_tx, 7 * 54 + 150);
	assert_int_equal(r->byte_rx, 6 * 54 + 220);
	assert_int_equal(r->l3_byte_tx, 7 * 40 + 150);
	assert_int_equal(r->l3_byte_rx, 6 * 40 + 220);
	assert_int_equal(r->l4_byte_tx, 150);
	assert_int_equal(r->l4_byte_rx, 220);

	assert_int_equal(r->rtt_server, 1000);
	assert_int_equal(r->rtt_client, 500);
	assert_int_equal(r->rtt, 1500);
	/* SRT: 10 ms -> 10.2 ms, 30 ms -> 30.3 ms. */
	assert_int_equal(r->srt_count, 2);
	assert_int_equal(r->srt_sum, 500);
	assert_int_equal(r->srt_max, 300);
	/* ART: 10 ms -> 15 ms, 30 ms -> 31 ms (the pure ACK in between does not count). */
	assert_int_equal(r->art_count, 2);
	assert_int_equal(r->art_sum, 6000);
	assert_int_equal(r->art_max, 5000);
	/* CIT: handshake 1.5 ms -> 10 ms, server data 15 ms -> 30 ms. */
	assert_int_equal(r->cit_count, 2);
	assert_int_equal(r->cit_sum, 8500 + 15000);
	assert_int_equal(r->cit_max, 15000);

	assert_int_equal(r->retrans_tx + r->retrans_rx + r->ooo_tx + r->ooo_rx, 0);
	assert_int_equal(r->zero_win_tx + r->zero_win_rx, 0);
	assert_int_equal(r->syn_count, 1);
	assert_int_equal(r->synack_count, 1);
	assert_int_equal(r->retrans_syn + r->retrans_synack, 0);
	assert_int_equal(r->fin_count, 2);
	assert_int_equal(r->rst_count, 0);

	st = flow_table_stats(c->t);
	assert_int_equal(st->packets, 13);
	assert_int_equal(st->flows_created, 1);
	assert_int_equal(st->flows_closed, 1);
	assert_int_equal(st->flows_active, 0);
	assert_int_equal(st->flows_peak, 1);
	assert_int_equal(st->reports, 1);
	/* L7 on by default here: closed once. */
	assert_int_equal(c->l7.closed[1], 1);
	ctx_free(c);
}

static void syn_only(struct ctx *c)
{
	tcp(c, T0, 0, F_SYN, C_ISN, 0, 0);
	tcp(c, T0 + SEC(1), 0, F_SYN, C_ISN, 0, 0);
	tcp(c, T0 + SEC(3), 0, F_SYN, C_ISN, 0, 0);
}

static void check_syn_only(struct ctx *c)
{
	const struct l4_flow_rec *r = row(c, 0);

	assert_int_equal(c->rows.n, 1);
	assert_int_equal(r->close_type, FLOW_CLOSE_CLIENT_SYN_REPEAT);
	assert_int_equal(r->syn_count, 3);
	assert_int_equal(r->retrans_syn, 2);
	assert_int_equal(r->synack_count, 0);
	assert_int_equal(r->packet_tx, 3);
	assert_int_equal(r->packet_rx, 0);
	assert_int_equal(r->rtt + r->rtt_client + r->rtt_server, 0);
	assert_int_equal(r->end_ns, T0 + SEC(3));
	assert_int_equal(r->time_ns, T0 + SEC(3));
	assert_int_equal(r->syn_seq, C_ISN);
}

static void test_syn_only_timeout(void **state)
{
	struct ctx *c = ctx_new(NULL);

	(void)state;
	syn_only(c);
	flow_table_tick(c->t, T0 + SEC(7));
	assert_int_equal(c->rows.n, 0);
	/* Opening timeout (5 s) after the last SYN. */
	flow_table_tick(c->t, T0 + SEC(8));
	check_syn_only(c);
	assert_int_equal(flow_table_stats(c->t)->flows_active, 0);
	ctx_free(c);
}

static void test_syn_only_flush(void **state)
{
	struct ctx *c = ctx_new(NULL);

	(void)state;
	syn_only(c);
	flow_table_flush(c->t, T0 + SEC(4));
	check_syn_only(c);
	ctx_free(c);
}

static void test_syn_rst(void **state)
{
	struct ctx *c = ctx_new(NULL);
	const struct l4_flow_rec *r;

	(void)state;
	tcp(c, T0, 0, F_SYN, C_ISN, 0, 0);
	tcp(c, T0 + US(300), 1, F_RST | F_ACK, 0, C_ISN + 1, 0);
	flow_table_tick(c->t, T0 + SEC(3));
	assert_int_equal(c->rows.n, 1);
	r = row(c, 0);
	assert_int_equal(r->close_type, FLOW_CLOSE_SERVER_RESET);
	assert_int_equal(r->rst_count, 1);
	assert_int_equal(r->packet_tx, 1);
	assert_int_equal(r->packet_rx, 1);
	assert_int_equal(r->tcp_flags_bit_1, F_RST | F_ACK);
	ctx_free(c);
}

static void established_rst(int dir, uint16_t want)
{
	struct ctx *c = ctx_new(NULL);

	handshake(c, T0);
	tcp(c, T0 + MS(5), 0, F_PSH | F_ACK, C_ISN + 1, S_ISN + 1, 10);
	tcp(c, T0 + MS(6), dir, F_RST | F_ACK, dir ? S_ISN + 1 : C_ISN + 11,
	    dir ? C_ISN + 11 : S_ISN + 1, 0);
	/* A second copy of the RST lingers into the same flow. */
	tcp(c, T0 + MS(7), dir, F_RST | F_ACK, dir ? S_ISN + 1 : C_ISN + 11,
	    dir ? C_ISN + 11 : S_ISN + 1, 0);
	flow_table_tick(c->t, T0 + SEC(3));
	assert_int_equal(c->rows.n, 1);
	assert_int_equal(row(c, 0)->close_type, want);
	assert_int_equal(row(c, 0)->rst_count, 2);
	assert_int_equal(row(c, 0)->time_ns, T0 + MS(7));
	ctx_free(c);
}

static void test_established_rst(void **state)
{
	(void)state;
	established_rst(1, FLOW_CLOSE_SERVER_RST);
	established_rst(0, FLOW_CLOSE_CLIENT_RST);
}

static void test_handshake_rst(void **state)
{
	struct ctx *c;
	int dir;

	(void)state;
	for (dir = 0; dir < 2; dir++) {
		c = ctx_new(NULL);
		tcp(c, T0, 0, F_SYN, C_ISN, 0, 0);
		tcp(c, T0 + MS(1), 1, F_SYN | F_ACK, S_ISN, C_ISN + 1, 0);
		tcp(c, T0 + MS(2), dir, F_RST, dir ? S_ISN + 1 : C_ISN + 1, 0, 0);
		flow_table_flush(c->t, T0 + MS(2));
		assert_int_equal(c->rows.n, 1);
		assert_int_equal(row(c, 0)->close_type, dir ? FLOW_CLOSE_SERVER_ESTABLISH_RST
							    : FLOW_CLOSE_CLIENT_ESTABLISH_RST);
		assert_int_equal(row(c, 0)->rtt_server, 1000);
		ctx_free(c);
	}
}

static void test_fin_client_rst(void **state)
{
	struct ctx *c = ctx_new(NULL);

	(void)state;
	handshake(c, T0);
	tcp(c, T0 + MS(5), 1, F_FIN | F_ACK, S_ISN + 1, C_ISN + 1, 0);
	tcp(c, T0 + MS(6), 0, F_RST, C_ISN + 1, 0, 0);
	flow_table_tick(c->t, T0 + SEC(3));
	assert_int_equal(c->rows.n, 1);
	assert_int_equal(row(c, 0)->close_type, FLOW_CLOSE_FIN_CLIENT_RST);
	assert_int_equal(row(c, 0)->fin_count, 1);
	ctx_free(c);
}

static void half_close(int dir, uint16_t want)
{
	struct ctx *c = ctx_new(NULL);

	handshake(c, T0);
	tcp(c, T0 + MS(5), dir, F_FIN | F_ACK, dir ? S_ISN + 1 : C_ISN + 1,
	    dir ? C_ISN + 1 : S_ISN + 1, 0);
	tcp(c, T0 + MS(6), !dir, F_ACK, dir ? C_ISN + 1 : S_ISN + 1, dir ? S_ISN + 2 : C_ISN + 2,
	    0);
	/* Closing timeout: 35 s after the last packet. */
	flow_table_tick(c->t, T0 + MS(6) + SEC(34));
	assert_int_equal(c->rows.n, 0);
	flow_table_tick(c->t, T0 + MS(6) + SEC(35));
	assert_int_equal(c->rows.n, 1);
	assert_int_equal(row(c, 0)->close_type, want);
	assert_int_equal(row(c, 0)->fin_count, 1);
	assert_int_equal(row(c, 0)->time_ns, T0 + MS(6));
	ctx_free(c);
}

static void test_half_close(void **state)
{
	(void)state;
	half_close(0, FLOW_CLOSE_CLIENT_HALF_CLOSE);
	half_close(1, FLOW_CLOSE_SERVER_HALF_CLOSE);
}

static void test_fin_without_last_ack(void **state)
{
	struct ctx *c = ctx_new(NULL);

	(void)state;
	handshake(c, T0);
	tcp(c, T0 + MS(5), 0, F_FIN | F_ACK, C_ISN + 1, S_ISN + 1, 0);
	tcp(c, T0 + MS(6), 1, F_FIN | F_ACK, S_ISN + 1, C_ISN + 2, 0);
	assert_int_equal(c->rows.n, 0);
	flow_table_flush(c->t, T0 + SEC(1));
	assert_int_equal(c->rows.n, 1);
	assert_int_equal(row(c, 0)->close_type, FLOW_CLOSE_FIN);
	ctx_free(c);
}

static void test_synack_repeat(void **state)
{
	struct ctx *c = ctx_new(NULL);
	const struct l4_flow_rec *r;

	(void)state;
	tcp(c, T0, 0, F_SYN, C_ISN, 0, 0);
	tcp(c, T0 + MS(1), 1, F_SYN | F_ACK, S_ISN, C_ISN + 1, 0);
	tcp(c, T0 + SEC(1), 1, F_SYN | F_ACK, S_ISN, C_ISN + 1, 0);
	flow_table_tick(c->t, T0 + SEC(6));
	assert_int_equal(c->rows.n, 1);
	r = row(c, 0);
	assert_int_equal(r->close_type, FLOW_CLOSE_SERVER_SYNACK_REPEAT);
	assert_int_equal(r->synack_count, 2);
	assert_int_equal(r->retrans_synack, 1);
	assert_int_equal(r->rtt_server, 1000);
	assert_int_equal(r->rtt_client, 0);
	assert_int_equal(r->rtt, 0);
	ctx_free(c);
}

static void test_queue_lack(void **state)
{
	struct ctx *c = ctx_new(NULL);

	(void)state;
	handshake(c, T0);
	tcp(c, T0 + MS(2), 0, F_PSH | F_ACK, C_ISN + 1, S_ISN + 1, 10);
	tcp(c, T0 + SEC(1), 1, F_SYN | F_ACK, S_ISN, C_ISN + 1, 0);
	tcp(c, T0 + SEC(1) + MS(1), 0, F_PSH | F_ACK, C_ISN + 1, S_ISN + 1, 10);
	tcp(c, T0 + SEC(3), 1, F_SYN | F_ACK, S_ISN, C_ISN + 1, 0);
	/* The closing timeout (35 s), not the established one. */
	flow_table_tick(c->t, T0 + SEC(30));
	assert_int_equal(c->rows.n, 0);
	flow_table_tick(c->t, T0 + SEC(39));
	assert_int_equal(c->rows.n, 1);
	assert_int_equal(row(c, 0)->close_type, FLOW_CLOSE_SERVER_QUEUE_LACK);
	assert_int_equal(row(c, 0)->retrans_synack, 2);
	assert_int_equal(row(c, 0)->retrans_tx, 1);
	ctx_free(c);

	/* A SYN-ACK repeat followed by the server's data was just a lost ACK: timeout 3. */
	c = ctx_new(NULL);
	handshake(c, T0);
	tcp(c, T0 + SEC(1), 1, F_SYN | F_ACK, S_ISN, C_ISN + 1, 0);
	tcp(c, T0 + SEC(1) + MS(1), 0, F_ACK, C_ISN + 1, S_ISN + 1, 0);
	tcp(c, T0 + SEC(2), 1, F_PSH | F_ACK, S_ISN + 1, C_ISN + 1, 10);
	flow_table_tick(c->t, T0 + SEC(10));
	assert_int_equal(c->rows.n, 0);
	flow_table_flush(c->t, T0 + SEC(10));
	assert_int_equal(row(c, 0)->close_type, FLOW_CLOSE_TIMEOUT);
	ctx_free(c);
}

static void test_port_reuse(void **state)
{
	struct ctx *c = ctx_new(NULL);
	const struct l4_flow_rec *r;

	(void)state;
	handshake(c, T0);
	tcp(c, T0 + MS(5), 0, F_PSH | F_ACK, C_ISN + 1, S_ISN + 1, 10);
	/* Same ISN: a SYN retransmission on the same flow. */
	tcp(c, T0 + MS(6), 0, F_SYN, C_ISN, 0, 0);
	assert_int_equal(c->rows.n, 0);
	/* New ISN: a new connection. */
	tcp(c, T0 + SEC(2), 0, F_SYN, 777777, 0, 0);
	assert_int_equal(c->rows.n, 1);
	r = row(c, 0);
	assert_int_equal(r->flow_id, 1);
	assert_int_equal(r->close_type, FLOW_CLOSE_CLIENT_PORT_REUSE);
	assert_int_equal(r->syn_count, 2);
	assert_int_equal(r->retrans_syn, 1);
	assert_int_equal(r->packet_tx, 4);
	tcp(c, T0 + SEC(2) + MS(1), 1, F_SYN | F_ACK, 888888, 777778, 0);
	tcp(c, T0 + SEC(2) + MS(2), 0, F_ACK, 777778, 888889, 0);
	flow_table_flush(c->t, T0 + SEC(3));
	assert_int_equal(c->rows.n, 2);
	r = row(c, 1);
	assert_int_equal(r->flow_id, 2);
	assert_true(r->is_new_flow);
	assert_int_equal(r->close_type, FLOW_CLOSE_TIMEOUT);
	assert_int_equal(r->syn_seq, 777777);
	assert_int_equal(r->syn_ack_seq, 888888);
	assert_int_equal(r->syn_count, 1);
	assert_int_equal(r->retrans_syn, 0);
	assert_int_equal(r->rtt, 2000);
	assert_int_equal(r->packet_tx, 2);
	assert_int_equal(r->start_ns, T0 + SEC(2));
	assert_int_equal(c->l7.closed[1], 1);
	assert_int_equal(c->l7.closed[2], 1);
	ctx_free(c);
}

static void test_retrans(void **state)
{
	struct ctx *c = ctx_new(NULL);
	const struct l4_flow_rec *r;

	(void)state;
	handshake(c, T0);
	tcp(c, T0 + MS(5), 0, F_PSH | F_ACK, C_ISN + 1, S_ISN + 1, 100);
	tcp(c, T0 + MS(205), 0, F_PSH | F_ACK, C_ISN + 1, S_ISN + 1, 100);
	tcp(c, T0 + MS(206), 1, F_ACK, S_ISN + 1, C_ISN + 101, 0);
	/* Keepalive: 1 byte below the highest end; pure ACK repeats: not retransmissions. */
	tcp(c, T0 + SEC(10), 0, F_ACK, C_ISN + 100, S_ISN + 1, 1);
	tcp(c, T0 + SEC(10) + MS(1), 1, F_ACK, S_ISN + 1, C_ISN + 101, 0);
	tcp(c, T0 + SEC(10) + MS(2), 1, F_ACK, S_ISN + 1, C_ISN + 101, 0);
	/* Server data twice, the second one partly new (repacketised): both sides 1. */
	tcp(c, T0 + SEC(11), 1, F_PSH | F_ACK, S_ISN + 1, C_ISN + 101, 50);
	tcp(c, T0 + SEC(12), 1, F_PSH | F_ACK, S_ISN + 1, C_ISN + 101, 80);
	flow_table_flush(c->t, T0 + SEC(13));
	r = row(c, 0);
	assert_int_equal(r->retrans_tx, 1);
	assert_int_equal(r->retrans_rx, 1);
	assert_int_equal(r->ooo_tx + r->ooo_rx, 0);
	/* The retransmitted segment did not make an SRT sample (Karn): none at all. */
	assert_int_equal(r->srt_count, 0);
	/* ART: the request's last copy (205 ms) -> first new server data (11 s). */
	assert_int_equal(r->art_count, 1);
	assert_int_equal(r->art_sum, SEC(11) / 1000 - 205000);
	ctx_free(c);
}

static void test_out_of_order(void **state)
{
	struct ctx *c = ctx_new(NULL);
	const struct l4_flow_rec *r;

	(void)state;
	handshake(c, T0);
	tcp(c, T0 + MS(5), 0, F_PSH | F_ACK, C_ISN + 101, S_ISN + 1, 100); /* gap ahead */
	tcp(c, T0 + MS(6), 0, F_PSH | F_ACK, C_ISN + 1, S_ISN + 1, 100);   /* fills it */
	tcp(c, T0 + MS(7), 0, F_PSH | F_ACK, C_ISN + 201, S_ISN + 1, 100);
	tcp(c, T0 + MS(8), 0, F_PSH | F_ACK, C_ISN + 101, S_ISN + 1, 100); /* seen: retrans */
	flow_table_flush(c->t, T0 + SEC(1));
	r = row(c, 0);
	assert_int_equal(r->ooo_tx, 1);
	assert_int_equal(r->retrans_tx, 1);
	assert_int_equal(r->ooo_rx + r->retrans_rx, 0);
	ctx_free(c);
}

static void test_zero_window(void **state)
{
	struct ctx *c = ctx_new(NULL);
	const struct l4_flow_rec *r;

	(void)state;
	c->wscale[0] = c->wscale[1] = 7;
	handshake(c, T0);
	c->win[1] = 0;
	tcp(c, T0 + MS(5), 1, F_ACK, S_ISN + 1, C_ISN + 1, 0);
	c->win[0] = 1; /* 1 << 7: not zero */
	tcp(c, T0 + MS(6), 0, F_ACK, C_ISN + 1, S_ISN + 1, 0);
	c->win[0] = 0;
	c->win[1] = 0;
	/* Neither a SYN nor a RST counts. */
	tcp(c, T0 + MS(7), 0, F_SYN, C_ISN, 0, 0);
	tcp(c, T0 + MS(8), 0, F_RST, C_ISN + 1, 0, 0);
	flow_table_flush(c->t, T0 + MS(8));
	r = row(c, 0);
	assert_int_equal(r->zero_win_rx, 1);
	assert_int_equal(r->zero_win_tx, 0);
	ctx_free(c);

	/* Without scaling (the server sent none), a raw 0 counts on both sides. */
	c = ctx_new(NULL);
	c->wscale[0] = 7;
	handshake(c, T0);
	c->win[0] = 0;
	tcp(c, T0 + MS(5), 0, F_ACK, C_ISN + 1, S_ISN + 1, 0);
	tcp(c, T0 + MS(6), 0, F_ACK, C_ISN + 1, S_ISN + 1, 0);
	c->win[1] = 0;
	tcp(c, T0 + MS(7), 1, F_PSH | F_ACK, S_ISN + 1, C_ISN + 1, 10);
	c->win[1] = 1;
	tcp(c, T0 + MS(8), 1, F_ACK, S_ISN + 11, C_ISN + 1, 0);
	flow_table_flush(c->t, T0 + SEC(1));
	r = row(c, 0);
	assert_int_equal(r->zero_win_tx, 2);
	assert_int_equal(r->zero_win_rx, 1);
	ctx_free(c);
}

static void test_seq_wrap(void **state)
{
	struct ctx *c = ctx_new(NULL);
	const struct l4_flow_rec *r;
	uint32_t cisn = 0xffffff00u, sisn = 0xfffffff0u, cs, ss;
	int i;

	(void)state;
	c->l7.bad = 0;
	tcp(c, T0, 0, F_SYN, cisn, 0, 0);
	tcp(c, T0 + MS(1), 1, F_SYN | F_ACK, sisn, cisn + 1, 0);
	tcp(c, T0 + MS(2), 0, F_ACK, cisn + 1, sisn + 1, 0);
	cs = cisn + 1;
	ss = sisn + 1;
	for (i = 0; i < 10; i++) {
		tcp(c, T0 + MS(10 + 10 * i), 0, F_PSH | F_ACK, cs, ss, 100);
		cs += 100;
		tcp(c, T0 + MS(11 + 10 * i), 1, F_PSH | F_ACK, ss, cs, 100);
		ss += 100;
		tcp(c, T0 + MS(12 + 10 * i), 0, F_ACK, cs, ss, 0);
	}
	/* One real retransmission just past the wrap, on each side. */
	tcp(c, T0 + MS(200), 0, F_PSH | F_ACK, cisn + 301, ss, 100);
	tcp(c, T0 + MS(201), 1, F_PSH | F_ACK, sisn + 101, cs, 100);
	flow_table_flush(c->t, T0 + SEC(1));
	r = row(c, 0);
	assert_int_equal(r->retrans_tx, 1);
	assert_int_equal(r->retrans_rx, 1);
	assert_int_equal(r->ooo_tx + r->ooo_rx, 0);
	assert_int_equal(r->srt_count, 0);
	assert_int_equal(r->art_count, 10);
	assert_int_equal(r->art_sum, 10000);
	/* L7 saw both streams whole across the wrap. */
	assert_int_equal(c->l7.len[1][0], 1000);
	assert_int_equal(c->l7.len[1][1], 1000);
	assert_int_equal(c->l7.gaps[1][0] + c->l7.gaps[1][1], 0);
	assert_int_equal(c->l7.bad, 0);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(c->l7.buf[1][0][i], pattern(cisn + 1 + (uint32_t)i));
		assert_int_equal(c->l7.buf[1][1][i], pattern(sisn + 1 + (uint32_t)i));
	}
	ctx_free(c);
}

/* One request / response every 10 s from T0 + 1 s to T0 + 141 s, then FIN. */
static void long_flow(struct ctx *c, bool ticks)
{
	uint32_t cs = C_ISN + 1, ss = S_ISN + 1;
	uint64_t ts;
	int i;

	handshake(c, T0 + SEC(1));
	for (i = 0; i < 15; i++) {
		ts = T0 + SEC(1) + SEC(10) * (uint64_t)i + MS(100);
		tcp(c, ts, 0, F_PSH | F_ACK, cs, ss, 10);
		cs += 10;
		tcp(c, ts + MS(1), 1, F_PSH | F_ACK, ss, cs, 20);
		ss += 20;
		tcp(c, ts + MS(2), 0, F_ACK, cs, ss, 0);
		if (ticks) {
			uint64_t s;

			for (s = 1; s <= 10; s++)
				flow_table_tick(c->t, ts + SEC(s) - MS(500));
		}
	}
	ts = T0 + SEC(155);
	tcp(c, ts, 0, F_FIN | F_ACK, cs, ss, 0);
	tcp(c, ts + MS(1), 1, F_FIN | F_ACK, ss, cs + 1, 0);
	tcp(c, ts + MS(2), 0, F_ACK, cs + 1, ss + 1, 0);
	/* Past the linger after the close: the final row. */
	flow_table_tick(c->t, ts + SEC(5));
}

static void test_forced_reports(void **state)
{
	struct ctx *c = ctx_new(NULL), *c2 = ctx_new(NULL);
	const struct l4_flow_rec *r;
	uint64_t tx = 0, rx = 0;
	int i;

	(void)state;
	long_flow(c, true);
	assert_int_equal(c->rows.n, 3);
	/* [T0+1, T0+60): handshake (3 packets) + 6 exchanges (3 packets each). */
	r = row(c, 0);
	assert_int_equal(r->close_type, FLOW_CLOSE_FORCED_REPORT);
	assert_true(r->is_new_flow);
	assert_int_equal(r->time_ns, T0 + SEC(60));
	assert_int_equal(r->start_ns, T0 + SEC(1));
	assert_int_equal(r->end_ns, T0 + SEC(51) + MS(102));
	assert_int_equal(r->packet_tx, 2 + 12);
	assert_int_equal(r->packet_rx, 1 + 6);
	assert_int_equal(r->l4_byte_tx, 60);
	assert_int_equal(r->l4_byte_rx, 120);
	assert_int_equal(r->syn_count, 1);
	assert_int_equal(r->art_count, 6);
	assert_int_equal(r->art_sum, 6000);
	assert_int_equal(r->cit_count, 6);
	assert_int_equal(r->rtt, 1500);
	/* [T0+60, T0+120): 6 exchanges. */
	r = row(c, 1);
	assert_int_equal(r->close_type, FLOW_CLOSE_FORCED_REPORT);
	assert_false(r->is_new_flow);
	assert_int_equal(r->time_ns, T0 + SEC(120));
	assert_int_equal(r->packet_tx, 12);
	assert_int_equal(r->packet_rx, 6);
	assert_int_equal(r->syn_count, 0);
	assert_int_equal(r->art_count, 6);
	assert_int_equal(r->rtt, 1500); /* repeated */
	assert_int_equal(r->tcp_flags_bit_0, F_PSH | F_ACK);
	/* The rest: 3 exchanges and the FIN exchange. */
	r = row(c, 2);
	assert_int_equal(r->close_type, FLOW_CLOSE_FIN);
	assert_false(r->is_new_flow);
	assert_int_equal(r->time_ns, T0 + SEC(155) + MS(2));
	assert_int_equal(r->packet_tx, 6 + 2);
	assert_int_equal(r->packet_rx, 3 + 1);
	assert_int_equal(r->art_count, 3);
	assert_int_equal(r->fin_count, 2);
	assert_int_equal(r->rtt, 1500);
	for (i = 0; i < 3; i++) {
		tx += row(c, i)->packet_tx;
		rx += row(c, i)->packet_rx;
		assert_int_equal(row(c, i)->flow_id, 1);
	}
	assert_int_equal(tx, 2 + 30 + 2);
	assert_int_equal(rx, 1 + 15 + 1);

	/* Rows do not depend on how often the table is ticked. */
	long_flow(c2, false);
	assert_int_equal(c2->rows.n, 3);
	assert_memory_equal(c->rows.rows, c2->rows.rows, 3 * sizeof(c->rows.rows[0]));
	ctx_free(c);
	ctx_free(c2);
}

static void test_idle_period_no_row(void **state)
{
	struct ctx *c = ctx_new(NULL);

	(void)state;
	handshake(c, T0 + SEC(10));
	flow_table_tick(c->t, T0 + SEC(60));
	assert_int_equal(c->rows.n, 1);
	/* Nothing between 60 and 180: no rows, then one packet. */
	flow_table_tick(c->t, T0 + SEC(180));
	assert_int_equal(c->rows.n, 1);
	tcp(c, T0 + SEC(200), 0, F_ACK, C_ISN + 1, S_ISN + 1, 0);
	flow_table_tick(c->t, T0 + SEC(240));
	assert_int_equal(c->rows.n, 2);
	assert_int_equal(row(c, 1)->time_ns, T0 + SEC(240));
	assert_int_equal(row(c, 1)->packet_tx, 1);
	/* Established timeout: 300 s after the last packet; an empty final row. */
	flow_table_tick(c->t, T0 + SEC(499));
	assert_int_equal(c->rows.n, 2);
	flow_table_tick(c->t, T0 + SEC(500));
	assert_int_equal(c->rows.n, 3);
	assert_int_equal(row(c, 2)->close_type, FLOW_CLOSE_TIMEOUT);
	assert_int_equal(row(c, 2)->packet_tx + row(c, 2)->packet_rx, 0);
	assert_int_equal(row(c, 2)->time_ns, T0 + SEC(240));
	ctx_free(c);
}

static void test_far_future_jump(void **state)
{
	/* A deadline beyond the wheel's lap (512 s). */
	struct flow_cfg cfg = { .tcp_established_timeout_ns = SEC(3600),
				.report_interval_ns = SEC(7200) };
	struct ctx *c = ctx_new(&cfg);
	uint64_t s;

	(void)state;
	/* A tick a day later: every slot is visited once. */
	handshake(c, T0);
	flow_table_tick(c->t, T0 + SEC(3599));
	assert_int_equal(c->rows.n, 0);
	flow_table_tick(c->t, T0 + SEC(86400));
	assert_int_equal(c->rows.n, 1);
	assert_int_equal(row(c, 0)->close_type, FLOW_CLOSE_TIMEOUT);
	assert_int_equal(row(c, 0)->packet_tx, 2);
	assert_int_equal(flow_table_stats(c->t)->flows_active, 0);
	ctx_free(c);

	/* Ticks every second: the entry goes round the wheel until its lap comes. */
	c = ctx_new(&cfg);
	handshake(c, T0);
	for (s = 1; s <= 3600; s++)
		flow_table_tick(c->t, T0 + SEC(s));
	assert_int_equal(c->rows.n, 0);
	flow_table_tick(c->t, T0 + SEC(3601));
	assert_int_equal(c->rows.n, 1);
	assert_int_equal(row(c, 0)->close_type, FLOW_CLOSE_TIMEOUT);
	ctx_free(c);
}

static void test_mid_stream(void **state)
{
	struct ctx *c = ctx_new(NULL);
	const struct l4_flow_rec *r;

	(void)state;
	/* Server data first: port 80 is the server. */
	tcp(c, T0, 1, F_PSH | F_ACK, 9000, 3000, 10);
	tcp(c, T0 + MS(1), 0, F_ACK, 3000, 9010, 0);
	flow_table_flush(c->t, T0 + SEC(1));
	r = row(c, 0);
	assert_memory_equal(r->addr0, c->cli, 4);
	assert_int_equal(r->client_port, CLI_PORT);
	assert_int_equal(r->server_port, SRV_PORT);
	assert_int_equal(r->packet_rx, 1);
	assert_int_equal(r->packet_tx, 1);
	assert_int_equal(r->close_type, FLOW_CLOSE_TIMEOUT);
	assert_int_equal(r->syn_seq, 0);
	assert_false(c->l7.client_known[1]);
	assert_int_equal(c->l7.server_port[1], SRV_PORT);
	ctx_free(c);

	/* 5000 vs 40000: the non-ephemeral port is the server, whichever sent first. */
	c = ctx_new(NULL);
	c->cport = 40000;
	c->sport = 5000;
	tcp(c, T0, 1, F_ACK, 9000, 3000, 0);
	flow_table_flush(c->t, T0 + SEC(1));
	assert_int_equal(row(c, 0)->server_port, 5000);
	assert_int_equal(row(c, 0)->packet_rx, 1);
	ctx_free(c);

	/* Both ephemeral: the destination of the first packet. */
	c = ctx_new(NULL);
	c->cport = 50000;
	c->sport = 40000;
	tcp(c, T0, 0, F_ACK, 9000, 3000, 0);
	flow_table_flush(c->t, T0 + SEC(1));
	assert_int_equal(row(c, 0)->server_port, 40000);
	assert_int_equal(row(c, 0)->client_port, 50000);
	ctx_free(c);
}

static void test_swap_on_synack(void **state)
{
	struct ctx *c = ctx_new(NULL);
	const struct l4_flow_rec *r;

	(void)state;
	/* Both ports ephemeral: the sender of the first packet is taken as the client... */
	c->cport = 60000;
	c->sport = 50000;
	tcp(c, T0, 0, F_ACK, 9000, 3000, 0);
	/* ...but it then sends the SYN-ACK: it is the server. */
	tcp(c, T0 + MS(1), 0, F_SYN | F_ACK, S_ISN, C_ISN + 1, 0);
	tcp(c, T0 + MS(2), 1, F_ACK, C_ISN + 1, S_ISN + 1, 0);
	flow_table_flush(c->t, T0 + SEC(1));
	assert_int_equal(c->rows.n, 1);
	r = row(c, 0);
	assert_int_equal(r->server_port, 60000);
	assert_int_equal(r->client_port, 50000);
	assert_memory_equal(r->addr0, c->srv, 4);
	assert_memory_equal(r->addr1, c->cli, 4);
	assert_int_equal(r->packet_tx, 1);
	assert_int_equal(r->packet_rx, 2);
	assert_int_equal(r->tcp_flags_bit_0, F_ACK);
	assert_int_equal(r->tcp_flags_bit_1, F_SYN | F_ACK);
	assert_int_equal(r->syn_ack_seq, S_ISN);
	assert_int_equal(r->rtt_client, 1000);
	assert_memory_equal(r->mac0, "\x02\0\0\0\0\x02", 6);
	assert_memory_equal(r->mac1, "\x02\0\0\0\0\x01", 6);
	assert_int_equal(r->close_type, FLOW_CLOSE_TIMEOUT);
	ctx_free(c);

	/* A SYN on a guessed flow that carried data is a new connection. */
	c = ctx_new(NULL);
	tcp(c, T0, 0, F_PSH | F_ACK, 3000, 9000, 10);
	tcp(c, T0 + MS(1), 0, F_SYN, C_ISN, 0, 0);
	assert_int_equal(c->rows.n, 1);
	assert_int_equal(row(c, 0)->close_type, FLOW_CLOSE_CLIENT_PORT_REUSE);
	ctx_free(c);
}

static void test_udp(void **state)
{
	struct ctx *c = ctx_new(NULL);
	const struct l4_flow_rec *r;

	(void)state;
	c->cport = 53000;
	c->sport = 53;
	/* The response is seen first: port 53 is still the server. */
	udp(c, T0, 1, 100);
	udp(c, T0 + MS(1), 0, 30);
	flow_table_tick(c->t, T0 + MS(1) + SEC(30) - 1);
	assert_int_equal(c->rows.n, 0);
	flow_table_tick(c->t, T0 + MS(1) + SEC(30));
	assert_int_equal(c->rows.n, 1);
	r = row(c, 0);
	assert_int_equal(r->close_type, FLOW_CLOSE_TIMEOUT);
	assert_int_equal(r->l4_proto, 17);
	assert_int_equal(r->server_port, 53);
	assert_int_equal(r->packet_tx, 1);
	assert_int_equal(r->packet_rx, 1);
	assert_int_equal(r->byte_tx, 42 + 30);
	assert_int_equal(r->l4_byte_rx, 100);
	assert_int_equal(r->tcp_flags_bit_0 + r->tcp_flags_bit_1, 0);
	/* Datagrams as they come. */
	assert_int_equal(c->l7.len[1][0], 30);
	assert_int_equal(c->l7.len[1][1], 100);
	assert_int_equal(c->l7.last_seq[1][0], 0);
	assert_int_equal(c->l7.closed[1], 1);
	ctx_free(c);
}

static void test_eviction(void **state)
{
	struct flow_cfg cfg = { .max_flows = 2 };
	struct ctx *c = ctx_new(&cfg);
	const struct flow_stats *st;

	(void)state;
	c->cport = 1001;
	udp(c, T0, 0, 10);
	c->cport = 1002;
	udp(c, T0 + MS(1), 0, 10);
	c->cport = 1001;
	udp(c, T0 + MS(2), 0, 10); /* 1002 is now the least recently active */
	c->cport = 1003;
	udp(c, T0 + MS(3), 0, 10);
	assert_int_equal(c->rows.n, 1);
	assert_int_equal(row(c, 0)->client_port, 1002);
	assert_int_equal(row(c, 0)->close_type, FLOW_CLOSE_TIMEOUT);
	st = flow_table_stats(c->t);
	assert_int_equal(st->flows_evicted_full, 1);
	assert_int_equal(st->flows_active, 2);
	assert_int_equal(st->flows_peak, 2);
	/* A flow that already timed out ends as a timeout, not an eviction. */
	c->cport = 1004;
	udp(c, T0 + SEC(100), 0, 10);
	assert_int_equal(st->flows_evicted_full, 1);
	flow_table_flush(c->t, T0 + SEC(100));
	assert_int_equal(c->rows.n, 4);
	assert_int_equal(st->flows_created, 4);
	assert_int_equal(st->flows_closed, 4);
	assert_int_equal(st->flows_active, 0);
	ctx_free(c);
}

/* The first n bytes received are the stream from first_seq on. */
static void check_stream(struct ctx *c, int id, int dir, uint32_t first_seq, uint32_t n)
{
	uint32_t i;

	assert_true(n <= c->l7.len[id][dir]);
	for (i = 0; i < n; i++)
		assert_int_equal(c->l7.buf[id][dir][i], pattern(first_seq + i));
}

static void test_l7_handoff(void **state)
{
	struct ctx *c = ctx_new(NULL);
	const struct flow_stats *st;

	(void)state;
	handshake(c, T0);
	/* Client: in order, then out of order (reassembled), then a hole never filled. */
	tcp(c, T0 + MS(2), 0, F_PSH | F_ACK, C_ISN + 1, S_ISN + 1, 100);
	tcp(c, T0 + MS(3), 0, F_PSH | F_ACK, C_ISN + 201, S_ISN + 1, 100);
	assert_int_equal(c->l7.len[1][0], 100);
	tcp(c, T0 + MS(4), 0, F_PSH | F_ACK, C_ISN + 101, S_ISN + 1, 100);
	assert_int_equal(c->l7.len[1][0], 300);
	tcp(c, T0 + MS(5), 0, F_PSH | F_ACK, C_ISN + 1, S_ISN + 1, 100); /* retransmission */
	tcp(c, T0 + MS(6), 0, F_PSH | F_ACK, C_ISN + 401, S_ISN + 1, 50);
	/* Server: a response. */
	tcp(c, T0 + MS(7), 1, F_PSH | F_ACK, S_ISN + 1, C_ISN + 301, 200);
	assert_int_equal(c->l7.len[1][0], 300);
	assert_int_equal(c->l7.len[1][1], 200);
	assert_int_equal(c->l7.closed[1], 0);
	/* End: the held 50 bytes come out after a 100-byte gap, then closed() once. */
	tcp(c, T0 + MS(8), 0, F_RST, C_ISN + 451, 0, 0);
	flow_table_tick(c->t, T0 + SEC(3));
	assert_int_equal(c->l7.len[1][0], 350);
	assert_int_equal(c->l7.gaps[1][0], 1);
	assert_int_equal(c->l7.gap_bytes[1][0], 100);
	assert_int_equal(c->l7.gaps[1][1], 0);
	assert_int_equal(c->l7.closed[1], 1);
	assert_int_equal(c->l7.bad, 0);
	check_stream(c, 1, 0, C_ISN + 1, 300);
	assert_int_equal(c->l7.buf[1][0][300], pattern(C_ISN + 401));
	check_stream(c, 1, 1, S_ISN + 1, 200);
	assert_true(c->l7.client_known[1]);
	st = flow_table_stats(c->t);
	assert_int_equal(st->l7_bytes, 550);
	assert_int_equal(st->reasm_gaps, 1);
	assert_int_equal(st->reasm_gap_bytes, 100);

	/* Another flow (a different client port) and a UDP one: each closed once. */
	c->cport = 40001;
	handshake(c, T0 + SEC(1));
	tcp(c, T0 + SEC(1) + MS(2), 0, F_PSH | F_ACK, C_ISN + 1, S_ISN + 1, 10);
	udp(c, T0 + SEC(1) + MS(3), 0, 10);
	flow_table_flush(c->t, T0 + SEC(2));
	assert_int_equal(c->l7.closed[1], 1);
	assert_int_equal(c->l7.closed[2], 1);
	assert_int_equal(c->l7.closed[3], 1);
	assert_int_equal(c->l7.len[2][0], 10);
	check_stream(c, 2, 0, C_ISN + 1, 10);
	assert_int_equal(c->l7.bad, 0);
	/* Every final row carries what the L7 side said it recognised. */
	for (int i = 0; i < c->rows.n; i++)
		assert_int_equal(row(c, i)->l7_proto, 20);
	ctx_free(c);
}

static void test_l7_truncated_and_late(void **state)
{
	struct ctx *c = ctx_new(NULL);
	struct pkt p;
	uint32_t i;

	(void)state;
	handshake(c, T0);
	/* Captured 60 of 100 bytes: the missing 40 are a gap at once. */
	p = mk(c, T0 + MS(2), 0, 6, 60);
	for (i = 0; i < 60; i++)
		((uint8_t *)p.payload)[i] = pattern(C_ISN + 1 + i);
	p.payload_wire_len = 100;
	p.ip_len = 140;
	p.wire_len = 154;
	p.seq = C_ISN + 1;
	p.ack = S_ISN + 1;
	p.tcp_flags = F_PSH | F_ACK;
	flow_table_packet(c->t, &p);
	assert_int_equal(c->l7.len[1][0], 60);
	assert_int_equal(c->l7.gaps[1][0], 1);
	assert_int_equal(c->l7.gap_bytes[1][0], 40);
	/* The next segment follows on without waiting. */
	tcp(c, T0 + MS(3), 0, F_PSH | F_ACK, C_ISN + 101, S_ISN + 1, 10);
	assert_int_equal(c->l7.len[1][0], 70);
	assert_int_equal(c->l7.buf[1][0][60], pattern(C_ISN + 101));
	/* A retransmission overlapping the delivered end gives only its new bytes. */
	tcp(c, T0 + MS(4), 0, F_PSH | F_ACK, C_ISN + 106, S_ISN + 1, 10);
	assert_int_equal(c->l7.len[1][0], 75);
	check_stream(c, 1, 0, C_ISN + 1, 60);
	assert_int_equal(c->l7.buf[1][0][74], pattern(C_ISN + 115));
	assert_int_equal(c->l7.bad, 0);
	assert_int_equal(flow_table_stats(c->t)->l7_bytes, 75);
	assert_int_equal(flow_table_stats(c->t)->reasm_gap_bytes, 40);
	ctx_free(c);

	/* Out of order from the very first segment: held until the hole fills. */

	c = ctx_new(NULL);
	tcp(c, T0, 0, F_SYN, C_ISN, 0, 0);
	tcp(c, T0 + MS(1), 1, F_SYN | F_ACK, S_ISN, C_ISN + 1, 0);
	tcp(c, T0 + MS(2), 1, F_PSH | F_ACK, S_ISN + 11, C_ISN + 1, 10);
	assert_int_equal(c->l7.len[1][1], 0); /* waits for the first 10 bytes */
	tcp(c, T0 + MS(3), 1, F_PSH | F_ACK, S_ISN + 1, C_ISN + 1, 10);
	assert_int_equal(c->l7.len[1][1], 20);
	check_stream(c, 1, 1, S_ISN + 1, 20);
	flow_table_flush(c->t, T0 + SEC(1));
	assert_int_equal(c->l7.gaps[1][1], 0);
	assert_int_equal(c->l7.closed[1], 1);
	assert_int_equal(c->l7.bad, 0);
	ctx_free(c);
}

static void test_l7_off(void **state)
{
	struct flow_cfg cfg = { .l7 = false };
	struct sink rows = { .n = 0 };
	struct l7_sink l7 = { .bad = 0 };
	struct flow_table *t = flow_table_create(&cfg, collect, &rows, &l7_ops, &l7);
	struct ctx *c = ctx_new(NULL);
	struct pkt p = mk(c, T0, 0, 17, 10);

	(void)state;
	flow_table_packet(t, &p);
	flow_table_flush(t, T0 + SEC(1));
	assert_int_equal(rows.n, 1);
	assert_int_equal(l7.closed[1], 0);
	assert_int_equal(l7.calls[1][0], 0);
	flow_table_destroy(t);
	ctx_free(c);
}

static void test_ignored_and_stats(void **state)
{
	struct ctx *c = ctx_new(NULL);
	struct pkt p = mk(c, T0, 0, 1, 8);
	const struct flow_stats *st;

	(void)state;
	flow_table_packet(c->t, &p); /* ICMP */
	udp(c, T0 + MS(1), 0, 10);
	st = flow_table_stats(c->t);
	assert_int_equal(st->packets, 2);
	assert_int_equal(st->packets_ignored, 1);
	assert_int_equal(st->flows_created, 1);
	assert_int_equal(st->flows_active, 1);
	/* Destroy with a live flow: no row, no leak (sanitizers check). */
	ctx_free(c);
	flow_table_destroy(NULL);
	flow_table_packet(NULL, &p);
	flow_table_tick(NULL, 0);
	flow_table_flush(NULL, 0);
}

static void test_vlan_tunnel(void **state)
{
	struct ctx *c = ctx_new(NULL);
	struct pkt p;

	(void)state;
	/* Server packet first: the tunnel is reported as the client would send it. */
	p = mk(c, T0, 1, 17, 10);
	p.vlan = 42;
	p.tunnel_tier = 1;
	p.tunnel.type = PKT_TUN_VXLAN;
	p.tunnel.family = 4;
	p.tunnel.id = 7;
	memcpy(p.tunnel.src, "\xc0\xa8\x00\x02", 4);
	memcpy(p.tunnel.dst, "\xc0\xa8\x00\x01", 4);
	flow_table_packet(c->t, &p);
	/* Another VLAN: another flow. */
	p.vlan = 43;
	flow_table_packet(c->t, &p);
	flow_table_flush(c->t, T0 + SEC(1));
	assert_int_equal(c->rows.n, 2);
	assert_int_equal(row(c, 0)->vlan, 42);
	assert_int_equal(row(c, 0)->tunnel_tier, 1);
	assert_int_equal(row(c, 0)->tunnel.id, 7);
	assert_memory_equal(row(c, 0)->tunnel.src, "\xc0\xa8\x00\x01", 4);
	assert_memory_equal(row(c, 0)->tunnel.dst, "\xc0\xa8\x00\x02", 4);
	assert_int_equal(row(c, 1)->vlan, 43);
	ctx_free(c);
}

static void test_ipv6(void **state)
{
	struct ctx *c = ctx_new(NULL);
	struct pkt p = mk(c, T0, 0, 17, 10);

	(void)state;
	p.family = 6;
	memset(p.src, 0, 16);
	memset(p.dst, 0, 16);
	p.src[0] = 0xfd;
	p.src[15] = 1;
	p.dst[0] = 0xfd;
	p.dst[15] = 2;
	flow_table_packet(c->t, &p);
	flow_table_flush(c->t, T0 + SEC(1));
	assert_int_equal(row(c, 0)->family, 6);
	assert_int_equal(row(c, 0)->addr0[15], 1);
	assert_int_equal(row(c, 0)->addr1[15], 2);
	ctx_free(c);
}

static void test_close_type_names(void **state)
{
	static const struct {
		uint16_t t;
		const char *name;
	} names[] = {
		{ 1, "finish" },
		{ 2, "server_rst" },
		{ 3, "timeout" },
		{ 5, "forced_report" },
		{ 7, "client_syn_repeat" },
		{ 8, "server_half_close" },
		{ 9, "client_rst" },
		{ 10, "server_synack_repeat" },
		{ 11, "client_half_close" },
		{ 13, "client_port_reuse" },
		{ 15, "server_reset" },
		{ 17, "server_queue_lack" },
		{ 18, "client_establish_rst" },
		{ 19, "server_establish_rst" },
		{ 20, "fin_client_rst" },
		{ 0, "unknown" },
		{ 4, "unknown" },
		{ 999, "unknown" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_string_equal(flow_close_type_name(names[i].t), names[i].name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal_connection),
		cmocka_unit_test(test_syn_only_timeout),
		cmocka_unit_test(test_syn_only_flush),
		cmocka_unit_test(test_syn_rst),
		cmocka_unit_test(test_established_rst),
		cmocka_unit_test(test_handshake_rst),
		cmocka_unit_test(test_fin_client_rst),
		cmocka_unit_test(test_half_close),
		cmocka_unit_test(test_fin_without_last_ack),
		cmocka_unit_test(test_synack_repeat),
		cmocka_unit_test(test_queue_lack),
		cmocka_unit_test(test_port_reuse),
		cmocka_unit_test(test_retrans),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_zero_window),
		cmocka_unit_test(test_seq_wrap),
		cmocka_unit_test(test_forced_reports),
		cmocka_unit_test(test_idle_period_no_row),
		cmocka_unit_test(test_far_future_jump),
		cmocka_unit_test(test_mid_stream),
		cmocka_unit_test(test_swap_on_synack),
		cmocka_unit_test(test_udp),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_l7_handoff),
		cmocka_unit_test(test_l7_truncated_and_late),
		cmocka_unit_test(test_l7_off),
		cmocka_unit_test(test_ignored_and_stats),
		cmocka_unit_test(test_vlan_tunnel),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_close_type_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
