/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network metrics (DeepFlow's flow_metrics.network and network_map, at 1 s and 1 m): the
 * flow table's per-second flow deltas (flow_table_set_meter) summed per time bucket and
 * key. network: one row per endpoint, role 0 the client side (ip = the client's, tx what
 * it sent), role 1 the server side (ip = the server's, tx what the server sent); both
 * carry the flow's server_port and protocol. network_map: one row per client -> server
 * edge and observation point.
 *
 * Counters are sums, but *_max, which are maxima. Anomaly counters come from how flows
 * ended (docs/network.md lists the mapping). A bucket is complete, and emitted, once no
 * flow can add to it: the caller says up to when with net_meter_flush_before().
 *
 * Memory is bounded: at most max_rows buckets at once; a delta that would need one more
 * is dropped and counted (drop_full). Single-threaded.
 */
#ifndef OB_AGENT_NET_METER_H
#define OB_AGENT_NET_METER_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/flow.h"
#include "common/jsonw.h"

enum net_table {
	NET_1S = 0,	/* flow_metrics.network.1s */
	NET_MAP_1S = 1, /* flow_metrics.network_map.1s */
	NET_1M = 2,	/* flow_metrics.network.1m */
	NET_MAP_1M = 3, /* flow_metrics.network_map.1m */
	NET_TABLES = 4,
};

/* Counter columns, in output order. */
enum net_counter {
	NC_PACKET_TX,
	NC_PACKET_RX,
	NC_BYTE_TX,
	NC_BYTE_RX,
	NC_L3_BYTE_TX,
	NC_L3_BYTE_RX,
	NC_L4_BYTE_TX,
	NC_L4_BYTE_RX,
	NC_NEW_FLOW,
	NC_CLOSED_FLOW,
	NC_SYN_COUNT,
	NC_SYNACK_COUNT,
	NC_RTT_SUM,
	NC_RTT_COUNT,
	NC_RTT_MAX,
	NC_RTT_CLIENT_SUM,
	NC_RTT_CLIENT_COUNT,
	NC_RTT_CLIENT_MAX,
	NC_RTT_SERVER_SUM,
	NC_RTT_SERVER_COUNT,
	NC_RTT_SERVER_MAX,
	NC_SRT_SUM,
	NC_SRT_COUNT,
	NC_SRT_MAX,
	NC_ART_SUM,
	NC_ART_COUNT,
	NC_ART_MAX,
	NC_CIT_SUM,
	NC_CIT_COUNT,
	NC_CIT_MAX,
	NC_RETRANS_TX,
	NC_RETRANS_RX,
	NC_ZERO_WIN_TX,
	NC_ZERO_WIN_RX,
	NC_RETRANS_SYN,
	NC_RETRANS_SYNACK,
	NC_OOO_TX,
	NC_OOO_RX,
	NC_CLIENT_RST_FLOW,
	NC_SERVER_RST_FLOW,
	NC_SERVER_SYN_MISS,
	NC_CLIENT_ACK_MISS,
	NC_CLIENT_HALF_CLOSE_FLOW,
	NC_SERVER_HALF_CLOSE_FLOW,
	NC_CLIENT_SOURCE_PORT_REUSE,
	NC_CLIENT_ESTABLISH_OTHER_RST,
	NC_SERVER_RESET,
	NC_SERVER_QUEUE_LACK,
	NC_SERVER_ESTABLISH_OTHER_RST,
	NC_TCP_TIMEOUT,
	NC_CLIENT_ESTABLISH_FAIL,
	NC_SERVER_ESTABLISH_FAIL,
	NC_TCP_ESTABLISH_FAIL,
	NC_TCP_TRANSFER_FAIL,
	NC_TCP_RST_FAIL,
	NC_MAX,
};

extern const char *const net_counter_names[NC_MAX];

/* The bucket key. Zero-filled before use: it is hashed and compared as bytes. */
struct net_key {
	int64_t time_s; /* bucket start, Unix seconds */
	uint8_t table;	/* enum net_table */
	uint8_t family; /* 4 or 6 */
	uint8_t protocol;
	uint8_t role; /* network: 0 client side, 1 server side */
	uint8_t obs;  /* network_map: enum rec_obs_point */
	uint8_t pad;
	uint16_t server_port;
	uint8_t ip0[16]; /* network: the endpoint; network_map: the client */
	uint8_t ip1[16]; /* network_map: the server; network: zero */
};

struct net_row {
	struct net_key k;
	uint64_t v[NC_MAX];
};

typedef void (*net_row_fn)(void *ctx, const struct net_row *r);

struct net_meter_stats {
	uint64_t deltas;    /* flow seconds added */
	uint64_t rows;	    /* rows emitted */
	uint64_t drop_full; /* bucket updates dropped: max_rows reached */
	uint64_t buckets;   /* gauge */
};

struct net_meter;

/* max_rows 0: 65536. NULL when out of memory. */
struct net_meter *net_meter_create(uint32_t max_rows, net_row_fn emit, void *ctx);
void net_meter_destroy(struct net_meter *m); /* NULL-safe; emits nothing */

/* One flow second (flow_table_set_meter's record) seen at observation point obs. */
void net_meter_add(struct net_meter *m, const struct l4_flow_rec *r, uint8_t obs);

/* Emit the buckets no flow can add to any more: 1 s buckets before now_s, 1 m buckets
 * ending by now_s. */
void net_meter_flush_before(struct net_meter *m, int64_t now_s);

/* Emit everything. */
void net_meter_flush(struct net_meter *m);

const struct net_meter_stats *net_meter_stats(const struct net_meter *m);

/* "network.1s", ...: the table names rows are written and stored under. */
const char *net_table_name(uint8_t table);

/* One row as JSON ("table":"network.1s", ...). */
int net_row_write_json(struct jsonw *w, const struct net_row *r);

#endif
