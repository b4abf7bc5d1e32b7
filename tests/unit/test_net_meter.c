/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_meter: flow seconds summed into network / network_map rows at 1 s and 1 m; what is
 * emitted when, exact sums and maxima, the row cap, and the bucket index under many keys,
 * removals and reuse (open addressing with backward-shift deletion).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/net_meter.h"
#include "agent/record.h"

#define SEC 1000000000ull
#define T0  1800000000ull /* a minute boundary: 1800000000 % 60 == 0 */

struct got {
	struct net_row *rows;
	size_t n, cap;
};

static void on_row(void *ctx, const struct net_row *r)
{
	struct got *g = ctx;

	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->rows = realloc(g->rows, g->cap * sizeof(*g->rows));
		assert_non_null(g->rows);
	}
	g->rows[g->n++] = *r;
}

/* A flow second of client 10.0.x.y -> server 10.9.0.1:80 at second t. */
static void flow_sec(struct l4_flow_rec *r, uint32_t client, uint64_t t, uint32_t pkts)
{
	memset(r, 0, sizeof(*r));
	r->time_ns = t * SEC + 500;
	r->family = 4;
	r->l4_proto = 6;
	r->addr0[0] = 10;
	r->addr0[2] = (uint8_t)(client >> 8);
	r->addr0[3] = (uint8_t)client;
	r->addr1[0] = 10;
	r->addr1[1] = 9;
	r->addr1[3] = 1;
	r->client_port = 40000;
	r->server_port = 80;
	r->packet_tx = pkts;
	r->packet_rx = 2 * pkts;
	r->byte_tx = 100 * pkts;
	r->byte_rx = 1000 * pkts;
}

static size_t count_table(const struct got *g, uint8_t table)
{
	size_t n = 0;

	for (size_t i = 0; i < g->n; i++)
		n += g->rows[i].k.table == table;
	return n;
}

static uint64_t sum_table(const struct got *g, uint8_t table, int counter)
{
	uint64_t s = 0;

	for (size_t i = 0; i < g->n; i++)
		if (g->rows[i].k.table == table)
			s += g->rows[i].v[counter];
	return s;
}

static const struct net_row *find(const struct got *g, uint8_t table, int64_t t, uint8_t role,
				  uint8_t last_octet)
{
	for (size_t i = 0; i < g->n; i++) {
		const struct net_key *k = &g->rows[i].k;

		if (k->table == table && k->time_s == t && k->role == role &&
		    k->ip0[3] == last_octet)
			return &g->rows[i];
	}
	return NULL;
}

/* One flow over two seconds: four 1 s rows (map, client, server per second)... */
static void test_rows_and_sides(void **unused)
{
	struct got g = { 0 };
	struct net_meter *m = net_meter_create(0, on_row, &g);
	struct l4_flow_rec r;
	const struct net_row *c, *s;

	(void)unused;
	flow_sec(&r, 7, T0, 3);
	r.rtt = 40;
	r.is_new_flow = true;
	net_meter_add(m, &r, REC_OBS_REST);
	flow_sec(&r, 7, T0 + 1, 5);
	r.rtt = 40;
	r.close_type = FLOW_CLOSE_SERVER_RST;
	net_meter_add(m, &r, REC_OBS_REST);
	net_meter_flush_before(m, T0 + 1); /* second T0 is complete, T0+1 not */
	assert_int_equal(g.n, 3);
	assert_int_equal(count_table(&g, NET_MAP_1S), 1);
	assert_int_equal(count_table(&g, NET_1S), 2);
	c = find(&g, NET_1S, T0, 0, 7);
	s = find(&g, NET_1S, T0, 1, 1);
	assert_non_null(c);
	assert_non_null(s);
	/* The server side's tx is what the server sent. */
	assert_int_equal(c->v[NC_PACKET_TX], 3);
	assert_int_equal(c->v[NC_PACKET_RX], 6);
	assert_int_equal(s->v[NC_PACKET_TX], 6);
	assert_int_equal(s->v[NC_PACKET_RX], 3);
	assert_int_equal(c->v[NC_NEW_FLOW], 1);
	assert_int_equal(c->v[NC_RTT_SUM], 40);
	assert_int_equal(c->v[NC_RTT_COUNT], 1);
	assert_int_equal(net_meter_stats(m)->buckets, 3 + 3); /* T0+1's three, T0's minutes */
	net_meter_flush(m);
	/* 1 s: 3 per second; 1 m: map, client, server of the minute. */
	assert_int_equal(g.n, 6 + 3);
	assert_int_equal(count_table(&g, NET_1M), 2);
	assert_int_equal(count_table(&g, NET_MAP_1M), 1);
	c = find(&g, NET_1M, T0, 0, 7);
	assert_non_null(c);
	assert_int_equal(c->v[NC_PACKET_TX], 8);
	assert_int_equal(c->v[NC_RTT_COUNT], 2);
	assert_int_equal(c->v[NC_RTT_MAX], 40);
	assert_int_equal(c->v[NC_SERVER_RST_FLOW], 1);
	assert_int_equal(c->v[NC_TCP_TRANSFER_FAIL], 1);
	assert_int_equal(c->v[NC_TCP_RST_FAIL], 1);
	assert_int_equal(c->v[NC_CLOSED_FLOW], 1);
	assert_int_equal(net_meter_stats(m)->buckets, 0);
	assert_int_equal(net_meter_stats(m)->rows, 9);
	net_meter_destroy(m);
	free(g.rows);
}

/* Maxima are maxima, sums are sums, across flows folded into one bucket. */
static void test_maxima(void **unused)
{
	struct got g = { 0 };
	struct net_meter *m = net_meter_create(0, on_row, &g);
	struct l4_flow_rec r;
	const struct net_row *row;

	(void)unused;
	flow_sec(&r, 1, T0, 1);
	r.srt_sum = 30;
	r.srt_count = 2;
	r.srt_max = 20;
	net_meter_add(m, &r, REC_OBS_REST);
	r.srt_sum = 9;
	r.srt_count = 1;
	r.srt_max = 9;
	net_meter_add(m, &r, REC_OBS_REST);
	net_meter_flush(m);
	row = find(&g, NET_1S, T0, 0, 1);
	assert_non_null(row);
	assert_int_equal(row->v[NC_SRT_SUM], 39);
	assert_int_equal(row->v[NC_SRT_COUNT], 3);
	assert_int_equal(row->v[NC_SRT_MAX], 20);
	net_meter_destroy(m);
	free(g.rows);
}

/*
 * Many keys over many seconds with flushes in between: every bucket is found again while
 * live (sums exact), removals keep the others findable, freed buckets are reused.
 */
static void test_many_keys(void **unused)
{
	enum { CLIENTS = 5000, SECONDS = 5 };
	struct got g = { 0 };
	struct net_meter *m = net_meter_create(1u << 20, on_row, &g);
	struct l4_flow_rec r;

	(void)unused;
	for (uint64_t t = 0; t < SECONDS; t++) {
		/* Each client twice per second, in two passes, so lookups hit existing keys. */
		for (int pass = 0; pass < 2; pass++)
			for (uint32_t c = 0; c < CLIENTS; c++) {
				flow_sec(&r, c, T0 + t, 1 + (c % 3));
				net_meter_add(m, &r, REC_OBS_REST);
			}
		net_meter_flush_before(m, (int64_t)(T0 + t));
	}
	net_meter_flush(m);
	assert_int_equal(net_meter_stats(m)->drop_full, 0);
	/* 1 s: per second, one map row and one client row per client, one server row. */
	assert_int_equal(count_table(&g, NET_MAP_1S), CLIENTS * SECONDS);
	assert_int_equal(count_table(&g, NET_1S), (CLIENTS + 1) * SECONDS);
	assert_int_equal(count_table(&g, NET_MAP_1M), CLIENTS);
	assert_int_equal(count_table(&g, NET_1M), CLIENTS + 1);
	/* packets per second: 2 * sum(1 + c % 3) */
	uint64_t per_sec = 0;

	for (uint32_t c = 0; c < CLIENTS; c++)
		per_sec += 2 * (1 + c % 3);
	assert_int_equal(sum_table(&g, NET_MAP_1S, NC_PACKET_TX), per_sec * SECONDS);
	assert_int_equal(sum_table(&g, NET_MAP_1M, NC_PACKET_TX), per_sec * SECONDS);
	assert_int_equal(sum_table(&g, NET_1M, NC_PACKET_TX), 3 * per_sec * SECONDS);
	for (size_t i = 0; i < g.n; i++)
		if (g.rows[i].k.table == NET_MAP_1S)
			assert_int_equal(
				g.rows[i].v[NC_PACKET_TX],
				2 * (1 + (g.rows[i].k.ip0[2] * 256 + g.rows[i].k.ip0[3]) % 3));
	assert_int_equal(net_meter_stats(m)->buckets, 0);
	net_meter_destroy(m);
	free(g.rows);
}

/* At the row cap, new keys are dropped and counted; existing ones still add up. */
static void test_cap(void **unused)
{
	struct got g = { 0 };
	struct net_meter *m = net_meter_create(10, on_row, &g);
	struct l4_flow_rec r;

	(void)unused;
	for (uint32_t c = 0; c < 20; c++) {
		flow_sec(&r, c, T0, 1);
		net_meter_add(m, &r, REC_OBS_REST);
	}
	/* Client 0 fills 3 (map, client, server), each next client 2 more: 4 clients fit
	 * (3 + 2 + 2 + 2 = 9), the fifth's map row makes 10 and its client row is dropped. */
	assert_int_equal(net_meter_stats(m)->buckets, 10);
	assert_true(net_meter_stats(m)->drop_full > 0);
	flow_sec(&r, 0, T0, 1);
	net_meter_add(m, &r, REC_OBS_REST);
	net_meter_flush(m);
	assert_non_null(find(&g, NET_1S, T0, 0, 0));
	assert_int_equal(find(&g, NET_1S, T0, 0, 0)->v[NC_PACKET_TX], 2);
	net_meter_destroy(m);
	free(g.rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_and_sides),
		cmocka_unit_test(test_maxima),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
