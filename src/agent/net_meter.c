/* SPDX-License-Identifier: Apache-2.0 */
/* Network metrics: see net_meter.h. */
#include "agent/net_meter.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "agent/record.h"

/* Keys are fixed-size, padding zeroed: a multiply-rotate over their words, finished with
 * a full avalanche, hashes them far faster than uthash's byte-wise default. The finish
 * matters: uthash takes the low bits, and keys differing only in an address's last byte
 * must spread over all of them, or chains grow until uthash stops expanding. */
_Static_assert(sizeof(struct net_key) % 8 == 0, "net_key is hashed as 64-bit words");
static unsigned net_key_hash(const void *key)
{
	uint64_t w, h = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < sizeof(struct net_key) / 8; i++) {
		memcpy(&w, (const uint8_t *)key + i * 8, 8);
		h ^= w * 0x87c37b91114253d5ull;
		h = ((h << 31) | (h >> 33)) * 0x4cf5ad432745937full;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (unsigned)h;
}
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

/*
 * Buckets live in one array (indices stay valid when it grows) and are found through an
 * open-addressing index of (hash, index) pairs: a lookup touches one or two index slots and
 * then the one bucket, where chained hashing walked a chain of cold buckets (perf showed
 * half the metrics time in that walk). live[] lists the buckets in use, for the flushes.
 */
struct bucket {
	struct net_row row;
	uint32_t hash;
	uint32_t live_pos; /* index in live[]; for a free bucket, the next free one */
};

#define NO_BUCKET UINT32_MAX

struct net_meter {
	struct bucket *pool;
	uint32_t pool_cap, pool_used;
	uint32_t free_head; /* free buckets, linked through live_pos */
	uint64_t *slots;    /* hash << 32 | (bucket index + 1); 0: empty */
	uint32_t nslots;    /* a power of two, at least twice the buckets in use */
	uint32_t *live;
	uint32_t nlive;
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
	m->free_head = NO_BUCKET;
	return m;
}

static bool key_equal(const struct net_key *a, const struct net_key *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* The index slot holding bucket idx (which is in the index). */
static uint32_t slot_of(const struct net_meter *m, uint32_t idx)
{
	uint32_t mask = m->nslots - 1, i = m->pool[idx].hash & mask;

	while ((uint32_t)m->slots[i] != idx + 1)
		i = (i + 1) & mask;
	return i;
}

/* Linear probing's deletion: later entries of the probe run move back into the hole, so
 * lookups never stop early at it. */
static void slot_remove(struct net_meter *m, uint32_t i)
{
	uint32_t mask = m->nslots - 1, j = i;

	for (;;) {
		uint32_t home;

		j = (j + 1) & mask;
		if (!m->slots[j])
			break;
		home = (uint32_t)(m->slots[j] >> 32) & mask;
		/* Move it back unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i] = 0;
}

static int index_grow(struct net_meter *m)
{
	uint32_t n = m->nslots ? m->nslots * 2 : 1024, mask = n - 1;
	uint64_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -1;
	for (uint32_t k = 0; k < m->nlive; k++) {
		uint32_t idx = m->live[k], i = m->pool[idx].hash & mask;

		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = (uint64_t)m->pool[idx].hash << 32 | (idx + 1);
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = n;
	return 0;
}

/* A bucket for a new key, or NO_BUCKET when out of room. */
static uint32_t bucket_alloc(struct net_meter *m)
{
	uint32_t idx;

	if (m->nlive >= m->max_rows)
		return NO_BUCKET;
	if ((uint64_t)(m->nlive + 1) * 2 > m->nslots && index_grow(m))
		return NO_BUCKET;
	if (m->free_head != NO_BUCKET) {
		idx = m->free_head;
		m->free_head = m->pool[idx].live_pos;
	} else {
		if (m->pool_used == m->pool_cap) {
			uint32_t cap = m->pool_cap ? m->pool_cap * 2 : 256;
			struct bucket *pool;
			uint32_t *live;

			if (cap > m->max_rows)
				cap = m->max_rows;
			pool = realloc(m->pool, (size_t)cap * sizeof(*pool));
			if (!pool)
				return NO_BUCKET;
			m->pool = pool;
			live = realloc(m->live, (size_t)cap * sizeof(*live));
			if (!live)
				return NO_BUCKET;
			m->live = live;
			m->pool_cap = cap;
		}
		idx = m->pool_used++;
	}
	m->pool[idx].live_pos = m->nlive;
	m->live[m->nlive++] = idx;
	m->st.buckets++;
	return idx;
}

/* Remove bucket idx (emitting it first if asked). The last live bucket takes its place in
 * live[]: a loop over live[] that removes at k looks at k again. */
static void drop(struct net_meter *m, uint32_t idx, bool emit)
{
	struct bucket *b = &m->pool[idx];
	uint32_t pos = b->live_pos, last = m->live[--m->nlive];

	if (emit && m->emit) {
		m->emit(m->ctx, &b->row);
		m->st.rows++;
	}
	slot_remove(m, slot_of(m, idx));
	m->live[pos] = last;
	m->pool[last].live_pos = pos;
	b->live_pos = m->free_head;
	m->free_head = idx;
	m->st.buckets--;
}

void net_meter_destroy(struct net_meter *m)
{
	if (!m)
		return;
	free(m->pool);
	free(m->live);
	free(m->slots);
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
	uint32_t hash = net_key_hash(k), mask, i, idx = NO_BUCKET;
	struct bucket *b;

	if (m->nslots) {
		mask = m->nslots - 1;
		for (i = hash & mask; m->slots[i]; i = (i + 1) & mask) {
			uint32_t cand = (uint32_t)m->slots[i] - 1;

			if ((uint32_t)(m->slots[i] >> 32) == hash &&
			    key_equal(&m->pool[cand].row.k, k)) {
				idx = cand;
				break;
			}
		}
	}
	if (idx == NO_BUCKET) {
		idx = bucket_alloc(m);
		if (idx == NO_BUCKET) {
			m->st.drop_full++;
			return;
		}
		b = &m->pool[idx];
		memset(b->row.v, 0, sizeof(b->row.v));
		b->row.k = *k;
		b->hash = hash;
		mask = m->nslots - 1;
		for (i = hash & mask; m->slots[i]; i = (i + 1) & mask)
			;
		m->slots[i] = (uint64_t)hash << 32 | (idx + 1);
	}
	b = &m->pool[idx];
	{
		static const int maxes[] = { NC_RTT_MAX, NC_RTT_CLIENT_MAX, NC_RTT_SERVER_MAX,
					     NC_SRT_MAX, NC_ART_MAX,	    NC_CIT_MAX };
		uint64_t old[sizeof(maxes) / sizeof(maxes[0])];

		/* A plain sum over every counter (it vectorises), then the maxima put right. */
		for (size_t j = 0; j < sizeof(maxes) / sizeof(maxes[0]); j++)
			old[j] = b->row.v[maxes[j]];
		for (int c = 0; c < NC_MAX; c++)
			b->row.v[c] += v[c];
		for (size_t j = 0; j < sizeof(maxes) / sizeof(maxes[0]); j++)
			b->row.v[maxes[j]] = v[maxes[j]] > old[j] ? v[maxes[j]] : old[j];
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

/* A complete second: out it goes, and into its minute. The row is copied first: adding
 * the minute may grow the pool under it. */
static void emit_second(struct net_meter *m, uint32_t idx)
{
	struct net_row minute = m->pool[idx].row;

	minute.k.table = minute.k.table == NET_1S ? NET_1M : NET_MAP_1M;
	minute.k.time_s -= ((minute.k.time_s % 60) + 60) % 60;
	drop(m, idx, true);
	add_to(m, &minute.k, minute.v);
}

static bool is_second(uint8_t table)
{
	return table == NET_1S || table == NET_MAP_1S;
}

void net_meter_flush_before(struct net_meter *m, int64_t now_s)
{
	/* Seconds first, so that the minutes they complete are whole. A removal moves the
	 * last bucket to k, so k is looked at again; minutes added meanwhile are skipped. */
	for (uint32_t k = 0; k < m->nlive;) {
		const struct net_key *key = &m->pool[m->live[k]].row.k;

		if (is_second(key->table) && key->time_s < now_s)
			emit_second(m, m->live[k]);
		else
			k++;
	}
	for (uint32_t k = 0; k < m->nlive;) {
		const struct net_key *key = &m->pool[m->live[k]].row.k;

		if (!is_second(key->table) && key->time_s + 60 <= now_s)
			drop(m, m->live[k], true);
		else
			k++;
	}
}

void net_meter_flush(struct net_meter *m)
{
	for (uint32_t k = 0; k < m->nlive;) {
		if (is_second(m->pool[m->live[k]].row.k.table))
			emit_second(m, m->live[k]);
		else
			k++;
	}
	while (m->nlive)
		drop(m, m->live[m->nlive - 1], true);
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

/* The counters' JSON keys ("name":), made once: formatting them per row cost more than
 * the rest of the row. */
static char json_keys[NC_MAX][40];
static uint8_t json_key_len[NC_MAX];
static pthread_once_t json_keys_once = PTHREAD_ONCE_INIT;

static void json_keys_init(void)
{
	for (int c = 0; c < NC_MAX; c++) {
		int n = snprintf(json_keys[c], sizeof(json_keys[c]),
				 "\"%s\":", net_counter_names[c]);

		json_key_len[c] = (uint8_t)(n > 0 && (size_t)n < sizeof(json_keys[c]) ? n : 0);
	}
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
	pthread_once(&json_keys_once, json_keys_init);
	for (int c = 0; c < NC_MAX; c++)
		jsonw_u64_k(w, json_keys[c], json_key_len[c], r->v[c]);
	return jsonw_end(w);
}
