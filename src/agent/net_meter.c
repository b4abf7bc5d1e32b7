/* SPDX-License-Identifier: Apache-2.0 */
/* Network metrics: see net_meter.h. */
#include "agent/net_meter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "agent/record.h"

/* Keys are fixed-size, padding zeroed: a multiply-xor over their words hashes them far
 * faster than uthash's byte-wise default, and this runs three times per flow second. */
_Static_assert(sizeof(struct net_key) % 8 == 0, "net_key is hashed as 64-bit words");
static unsigned net_key_hash(const void *key)
{
	uint64_t w, h = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < sizeof(struct net_key) / 8; i++) {
		memcpy(&w, (const uint8_t *)key + i * 8, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return (unsigned)h;
}
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = net_key_hash(keyptr))
#include <uthash.h>

#define DEF_MAX_ROWS 65536

const char *const net_counter_names[NC_MAX] = {
	[NC_PACKET_TX] = "packet_tx",
	[NC_PACKET_RX] = "packet_rx",
	[NC_BYTE_TX] = "byte_tx",
	[NC_BYTE_RX] = "byte_rx",
	[NC_L3_BYTE_TX] = "l3_byte_tx",
	[NC_L3_BYTE_RX] = "l3_byte_rx",
	[NC_L4_BYTE_TX] = "l4_byte_tx",
	[NC_L4_BYTE_RX] = "l4_byte_rx",
	[NC_NEW_FLOW] = "new_flow",
	[NC_CLOSED_FLOW] = "closed_flow",
	[NC_SYN_COUNT] = "syn_count",
	[NC_SYNACK_COUNT] = "synack_count",
	[NC_RTT_SUM] = "rtt_sum",
	[NC_RTT_COUNT] = "rtt_count",
	[NC_RTT_MAX] = "rtt_max",
	[NC_RTT_CLIENT_SUM] = "rtt_client_sum",
	[NC_RTT_CLIENT_COUNT] = "rtt_client_count",
	[NC_RTT_CLIENT_MAX] = "rtt_client_max",
	[NC_RTT_SERVER_SUM] = "rtt_server_sum",
	[NC_RTT_SERVER_COUNT] = "rtt_server_count",
	[NC_RTT_SERVER_MAX] = "rtt_server_max",
	[NC_SRT_SUM] = "srt_sum",
	[NC_SRT_COUNT] = "srt_count",
	[NC_SRT_MAX] = "srt_max",
	[NC_ART_SUM] = "art_sum",
	[NC_ART_COUNT] = "art_count",
	[NC_ART_MAX] = "art_max",
	[NC_CIT_SUM] = "cit_sum",
	[NC_CIT_COUNT] = "cit_count",
	[NC_CIT_MAX] = "cit_max",
	[NC_RETRANS_TX] = "retrans_tx",
	[NC_RETRANS_RX] = "retrans_rx",
	[NC_ZERO_WIN_TX] = "zero_win_tx",
	[NC_ZERO_WIN_RX] = "zero_win_rx",
	[NC_RETRANS_SYN] = "retrans_syn",
	[NC_RETRANS_SYNACK] = "retrans_synack",
	[NC_OOO_TX] = "ooo_tx",
	[NC_OOO_RX] = "ooo_rx",
	[NC_CLIENT_RST_FLOW] = "client_rst_flow",
	[NC_SERVER_RST_FLOW] = "server_rst_flow",
	[NC_SERVER_SYN_MISS] = "server_syn_miss",
	[NC_CLIENT_ACK_MISS] = "client_ack_miss",
	[NC_CLIENT_HALF_CLOSE_FLOW] = "client_half_close_flow",
	[NC_SERVER_HALF_CLOSE_FLOW] = "server_half_close_flow",
	[NC_CLIENT_SOURCE_PORT_REUSE] = "client_source_port_reuse",
	[NC_CLIENT_ESTABLISH_OTHER_RST] = "client_establish_other_rst",
	[NC_SERVER_RESET] = "server_reset",
	[NC_SERVER_QUEUE_LACK] = "server_queue_lack",
	[NC_SERVER_ESTABLISH_OTHER_RST] = "server_establish_other_rst",
	[NC_TCP_TIMEOUT] = "tcp_timeout",
	[NC_CLIENT_ESTABLISH_FAIL] = "client_establish_fail",
	[NC_SERVER_ESTABLISH_FAIL] = "server_establish_fail",
	[NC_TCP_ESTABLISH_FAIL] = "tcp_establish_fail",
	[NC_TCP_TRANSFER_FAIL] = "tcp_transfer_fail",
	[NC_TCP_RST_FAIL] = "tcp_rst_fail",
};

struct bucket {
	struct net_row row;
	UT_hash_handle hh;
};

struct net_meter {
	struct bucket *map;
	uint32_t max_rows;
	net_row_fn emit;
	void *ctx;
	struct net_meter_stats st;
};

struct net_meter *net_meter_create(uint32_t max_rows, net_row_fn emit, void *ctx)
{
	struct net_meter *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->max_rows = max_rows ? max_rows : DEF_MAX_ROWS;
	m->emit = emit;
	m->ctx = ctx;
	return m;
}

static void drop(struct net_meter *m, struct bucket *b, bool emit)
{
	HASH_DELETE(hh, m->map, b);
	if (emit && m->emit) {
		m->emit(m->ctx, &b->row);
		m->st.rows++;
	}
	free(b);
	m->st.buckets--;
}

void net_meter_destroy(struct net_meter *m)
{
	struct bucket *b, *tmp;

	if (!m)
		return;
	HASH_ITER (hh, m->map, b, tmp)
		drop(m, b, false);
	free(m);
}

/*
 * A flow's end, as anomaly counters: DeepFlow's categories. The roll-ups: a client failed
 * to establish when it did not answer or reset the handshake; a server when it did not
 * answer, reset or could not accept; a transfer failed when an established flow ended in
 * a timeout, a reset or half closed.
 */
static void close_counters(uint64_t *v, uint16_t close_type)
{
	int c = -1;

	switch (close_type) {
	case FLOW_CLOSE_CLIENT_RST:
	case FLOW_CLOSE_FIN_CLIENT_RST: c = NC_CLIENT_RST_FLOW; break;
	case FLOW_CLOSE_SERVER_RST: c = NC_SERVER_RST_FLOW; break;
	case FLOW_CLOSE_CLIENT_SYN_REPEAT: c = NC_SERVER_SYN_MISS; break;
	case FLOW_CLOSE_SERVER_SYNACK_REPEAT: c = NC_CLIENT_ACK_MISS; break;
	case FLOW_CLOSE_CLIENT_HALF_CLOSE: c = NC_CLIENT_HALF_CLOSE_FLOW; break;
	case FLOW_CLOSE_SERVER_HALF_CLOSE: c = NC_SERVER_HALF_CLOSE_FLOW; break;
	case FLOW_CLOSE_CLIENT_PORT_REUSE: c = NC_CLIENT_SOURCE_PORT_REUSE; break;
	case FLOW_CLOSE_CLIENT_ESTABLISH_RST: c = NC_CLIENT_ESTABLISH_OTHER_RST; break;
	case FLOW_CLOSE_SERVER_RESET: c = NC_SERVER_RESET; break;
	case FLOW_CLOSE_SERVER_QUEUE_LACK: c = NC_SERVER_QUEUE_LACK; break;
	case FLOW_CLOSE_SERVER_ESTABLISH_RST: c = NC_SERVER_ESTABLISH_OTHER_RST; break;
	case FLOW_CLOSE_TIMEOUT: c = NC_TCP_TIMEOUT; break;
	default: return;
	}
	v[c]++;
	switch (c) {
	case NC_CLIENT_ACK_MISS:
	case NC_CLIENT_SOURCE_PORT_REUSE:
	case NC_CLIENT_ESTABLISH_OTHER_RST:
		v[NC_CLIENT_ESTABLISH_FAIL]++;
		v[NC_TCP_ESTABLISH_FAIL]++;
		break;
	case NC_SERVER_SYN_MISS:
	case NC_SERVER_RESET:
	case NC_SERVER_QUEUE_LACK:
	case NC_SERVER_ESTABLISH_OTHER_RST:
		v[NC_SERVER_ESTABLISH_FAIL]++;
		v[NC_TCP_ESTABLISH_FAIL]++;
		break;
	default: v[NC_TCP_TRANSFER_FAIL]++; break;
	}
	if (c == NC_CLIENT_RST_FLOW || c == NC_SERVER_RST_FLOW || c == NC_SERVER_RESET ||
	    c == NC_CLIENT_ESTABLISH_OTHER_RST || c == NC_SERVER_ESTABLISH_OTHER_RST)
		v[NC_TCP_RST_FAIL]++;
}

#define LAT(v, name, val)                                                                          \
	do {                                                                                       \
		if (val) {                                                                         \
			v[name##_SUM] += (val);                                                    \
			v[name##_COUNT]++;                                                         \
			v[name##_MAX] = (val);                                                     \
		}                                                                                  \
	} while (0)

/* A flow second's counters from the client's point of view (tx: what the client sent). */
static void deltas(const struct l4_flow_rec *r, uint64_t *v)
{
	memset(v, 0, NC_MAX * sizeof(*v));
	v[NC_PACKET_TX] = r->packet_tx;
	v[NC_PACKET_RX] = r->packet_rx;
	v[NC_BYTE_TX] = r->byte_tx;
	v[NC_BYTE_RX] = r->byte_rx;
	v[NC_L3_BYTE_TX] = r->l3_byte_tx;
	v[NC_L3_BYTE_RX] = r->l3_byte_rx;
	v[NC_L4_BYTE_TX] = r->l4_byte_tx;
	v[NC_L4_BYTE_RX] = r->l4_byte_rx;
	v[NC_NEW_FLOW] = r->is_new_flow;
	v[NC_CLOSED_FLOW] = r->close_type && r->close_type != FLOW_CLOSE_FORCED_REPORT;
	v[NC_SYN_COUNT] = r->syn_count;
	v[NC_SYNACK_COUNT] = r->synack_count;
	LAT(v, NC_RTT, r->rtt);
	LAT(v, NC_RTT_CLIENT, r->rtt_client);
	LAT(v, NC_RTT_SERVER, r->rtt_server);
	v[NC_SRT_SUM] = r->srt_sum;
	v[NC_SRT_COUNT] = r->srt_count;
	v[NC_SRT_MAX] = r->srt_max;
	v[NC_ART_SUM] = r->art_sum;
	v[NC_ART_COUNT] = r->art_count;
	v[NC_ART_MAX] = r->art_max;
	v[NC_CIT_SUM] = r->cit_sum;
	v[NC_CIT_COUNT] = r->cit_count;
	v[NC_CIT_MAX] = r->cit_max;
	v[NC_RETRANS_TX] = r->retrans_tx;
	v[NC_RETRANS_RX] = r->retrans_rx;
	v[NC_ZERO_WIN_TX] = r->zero_win_tx;
	v[NC_ZERO_WIN_RX] = r->zero_win_rx;
	v[NC_RETRANS_SYN] = r->retrans_syn;
	v[NC_RETRANS_SYNACK] = r->retrans_synack;
	v[NC_OOO_TX] = r->ooo_tx;
	v[NC_OOO_RX] = r->ooo_rx;
	if (r->l4_proto == 6)
		close_counters(v, r->close_type);
}

/* The server side's view: what it sent is tx. */
static void swap_directions(uint64_t *v)
{
	static const int pairs[][2] = {
		{ NC_PACKET_TX, NC_PACKET_RX },	  { NC_BYTE_TX, NC_BYTE_RX },
		{ NC_L3_BYTE_TX, NC_L3_BYTE_RX }, { NC_L4_BYTE_TX, NC_L4_BYTE_RX },
		{ NC_RETRANS_TX, NC_RETRANS_RX }, { NC_ZERO_WIN_TX, NC_ZERO_WIN_RX },
		{ NC_OOO_TX, NC_OOO_RX },
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		uint64_t t = v[pairs[i][0]];

		v[pairs[i][0]] = v[pairs[i][1]];
		v[pairs[i][1]] = t;
	}
}

static void add_to(struct net_meter *m, const struct net_key *k, const uint64_t *v)
{
	struct bucket *b = NULL;

	HASH_FIND(hh, m->map, k, sizeof(*k), b);
	if (!b) {
		if (m->st.buckets >= m->max_rows || !(b = calloc(1, sizeof(*b)))) {
			m->st.drop_full++;
			return;
		}
		b->row.k = *k;
		HASH_ADD(hh, m->map, row.k, sizeof(b->row.k), b);
		m->st.buckets++;
	}
	{
		static const int maxes[] = { NC_RTT_MAX, NC_RTT_CLIENT_MAX, NC_RTT_SERVER_MAX,
					     NC_SRT_MAX, NC_ART_MAX,	    NC_CIT_MAX };
		uint64_t old[sizeof(maxes) / sizeof(maxes[0])];

		/* A plain sum over every counter (it vectorises), then the maxima put right. */
		for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++)
			old[i] = b->row.v[maxes[i]];
		for (int c = 0; c < NC_MAX; c++)
			b->row.v[c] += v[c];
		for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++)
			b->row.v[maxes[i]] = v[maxes[i]] > old[i] ? v[maxes[i]] : old[i];
	}
}

void net_meter_add(struct net_meter *m, const struct l4_flow_rec *r, uint8_t obs)
{
	uint64_t v[NC_MAX], sv[NC_MAX];
	size_t alen = r->family == 4 ? 4 : 16;
	struct net_key k;

	m->st.deltas++;
	deltas(r, v);
	memcpy(sv, v, sizeof(v));
	swap_directions(sv);
	/* Only the 1 s buckets here: each folds into its minute when it is emitted, which
	 * costs one update per bucket instead of one per flow second. */
	memset(&k, 0, sizeof(k));
	k.time_s = (int64_t)(r->time_ns / 1000000000ull);
	k.family = r->family;
	k.protocol = r->l4_proto;
	k.server_port = r->server_port;
	/* The edge. */
	k.table = NET_MAP_1S;
	k.obs = obs;
	memcpy(k.ip0, r->addr0, alen);
	memcpy(k.ip1, r->addr1, alen);
	add_to(m, &k, v);
	/* Both endpoints. */
	k.table = NET_1S;
	k.obs = 0;
	memset(k.ip1, 0, sizeof(k.ip1));
	k.role = 0;
	add_to(m, &k, v);
	k.role = 1;
	memset(k.ip0, 0, sizeof(k.ip0));
	memcpy(k.ip0, r->addr1, alen);
	add_to(m, &k, sv);
}

/* A complete second: out it goes, and into its minute. */
static void emit_second(struct net_meter *m, struct bucket *b)
{
	struct net_key mk = b->row.k;

	mk.table = mk.table == NET_1S ? NET_1M : NET_MAP_1M;
	mk.time_s -= ((mk.time_s % 60) + 60) % 60;
	add_to(m, &mk, b->row.v);
	drop(m, b, true);
}

void net_meter_flush_before(struct net_meter *m, int64_t now_s)
{
	struct bucket *b, *tmp;

	/* Seconds first, so that the minutes they complete are whole. */
	HASH_ITER (hh, m->map, b, tmp) {
		if ((b->row.k.table == NET_1S || b->row.k.table == NET_MAP_1S) &&
		    b->row.k.time_s < now_s)
			emit_second(m, b);
	}
	HASH_ITER (hh, m->map, b, tmp) {
		if ((b->row.k.table == NET_1M || b->row.k.table == NET_MAP_1M) &&
		    b->row.k.time_s + 60 <= now_s)
			drop(m, b, true);
	}
}

void net_meter_flush(struct net_meter *m)
{
	struct bucket *b, *tmp;

	HASH_ITER (hh, m->map, b, tmp) {
		if (b->row.k.table == NET_1S || b->row.k.table == NET_MAP_1S)
			emit_second(m, b);
	}
	HASH_ITER (hh, m->map, b, tmp)
		drop(m, b, true);
}

const struct net_meter_stats *net_meter_stats(const struct net_meter *m)
{
	return &m->st;
}

const char *net_table_name(uint8_t table)
{
	static const char *const names[NET_TABLES] = {
		[NET_1S] = "network.1s",
		[NET_MAP_1S] = "network_map.1s",
		[NET_1M] = "network.1m",
		[NET_MAP_1M] = "network_map.1m",
	};

	return table < NET_TABLES ? names[table] : "";
}

static void put_ip(struct jsonw *w, uint8_t family, const uint8_t *a, int which)
{
	char buf[INET6_ADDRSTRLEN];

	if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, a, buf, sizeof(buf)))
		buf[0] = 0;
	if (which == 0 && family == 4)
		jsonw_cstr(w, "ip4", buf);
	else if (which == 0)
		jsonw_cstr(w, "ip6", buf);
	else if (which == 1 && family == 4)
		jsonw_cstr(w, "ip4_0", buf);
	else if (which == 1)
		jsonw_cstr(w, "ip6_0", buf);
	else if (family == 4)
		jsonw_cstr(w, "ip4_1", buf);
	else
		jsonw_cstr(w, "ip6_1", buf);
}

int net_row_write_json(struct jsonw *w, const struct net_row *r)
{
	const struct net_key *k = &r->k;
	bool map = k->table == NET_MAP_1S || k->table == NET_MAP_1M;

	jsonw_begin(w);
	jsonw_cstr(w, "table", net_table_name(k->table));
	jsonw_i64(w, "time", k->time_s);
	if (map) {
		put_ip(w, k->family, k->ip0, 1);
		put_ip(w, k->family, k->ip1, 2);
		jsonw_cstr(w, "observation_point", record_obs_name(k->obs));
	} else {
		put_ip(w, k->family, k->ip0, 0);
		jsonw_u64(w, "role", k->role);
	}
	jsonw_u64(w, "server_port", k->server_port);
	jsonw_u64(w, "protocol", k->protocol);
	jsonw_u64(w, "signal_source", REC_SIGNAL_PACKET);
	for (int c = 0; c < NC_MAX; c++) {
		char key[48];
		int n = snprintf(key, sizeof(key), "\"%s\":", net_counter_names[c]);

		jsonw_u64_k(w, key, (size_t)n, r->v[c]);
	}
	return jsonw_end(w);
}
