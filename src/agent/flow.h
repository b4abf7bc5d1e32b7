/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flow table: decoded packets (pkt.h) grouped into TCP and UDP flows, each followed
 * through its life (TCP state machine, DeepFlow's close types), measured (bytes, packets,
 * handshake RTT, SRT, ART, CIT, retransmissions, out of order, zero windows, SYN and
 * SYN-ACK counts and repeats, RST, FIN) and reported as flow_log.l4_flow_log rows: one per
 * report period while the flow lives (close_type 5, "forced report"), and a final one when
 * it ends. TCP payload is reassembled per direction (tcp_reasm.h) and handed, in stream
 * order with gaps marked, to an L7 callback; UDP datagrams are handed as they come.
 *
 * Time comes from the packets (ts_ns), never from the clock, so replaying a capture gives
 * the same rows however fast it runs; flow_table_tick() advances timeouts and reports.
 *
 * Memory is bounded: at most max_flows flows (a new flow beyond it evicts the least
 * recently active one, reported with close_type 3 timeout and counted), and reassembly
 * holds at most reasm_bytes per direction. Timers live on a wheel of 1 s slots, so ticking
 * costs what expires, not what exists.
 *
 * Single-threaded: one table per capture thread.
 */
#ifndef OB_AGENT_FLOW_H
#define OB_AGENT_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/pkt.h"

/* close_type values (reference: DeepFlow's CloseType; docs/network.md lists them). */
enum flow_close_type {
	FLOW_CLOSE_UNKNOWN = 0,
	FLOW_CLOSE_FIN = 1,		      /* both sides sent FIN */
	FLOW_CLOSE_SERVER_RST = 2,	      /* established, then the server reset */
	FLOW_CLOSE_TIMEOUT = 3,		      /* silent too long (also: UDP flows, evictions) */
	FLOW_CLOSE_FORCED_REPORT = 5,	      /* still open: periodic report of a long flow */
	FLOW_CLOSE_CLIENT_SYN_REPEAT = 7,     /* SYN(s) never answered */
	FLOW_CLOSE_SERVER_HALF_CLOSE = 8,     /* only the server sent FIN, then silence */
	FLOW_CLOSE_CLIENT_RST = 9,	      /* established, then the client reset */
	FLOW_CLOSE_SERVER_SYNACK_REPEAT = 10, /* SYN-ACK(s) never acknowledged */
	FLOW_CLOSE_CLIENT_HALF_CLOSE = 11,    /* only the client sent FIN, then silence */
	FLOW_CLOSE_CLIENT_PORT_REUSE = 13,    /* a new SYN on the same 4-tuple ended the old flow */
	FLOW_CLOSE_SERVER_RESET = 15,	      /* the server answered the SYN with RST */
	FLOW_CLOSE_SERVER_QUEUE_LACK = 17,    /* SYN-ACK repeated, client's ACKs not accepted */
	FLOW_CLOSE_CLIENT_ESTABLISH_RST = 18, /* the client reset during the handshake */
	FLOW_CLOSE_SERVER_ESTABLISH_RST = 19, /* the server reset during the handshake (not SYN) */
	FLOW_CLOSE_FIN_CLIENT_RST = 20,	      /* after FINs, the client reset */
};

/* One flow_log.l4_flow_log row. Side 0 is the client, side 1 the server; "tx" counts what
 * the client sent, "rx" what the server sent. Counters cover this row's period only. */
struct l4_flow_rec {
	uint64_t flow_id;    /* unique per flow in this agent run */
	uint64_t time_ns;    /* end of the period this row covers */
	uint64_t start_ns;   /* first packet of the flow */
	uint64_t end_ns;     /* last packet seen so far */
	uint16_t close_type; /* enum flow_close_type */
	bool is_new_flow;    /* first row of this flow */
	uint8_t family;	     /* 4 or 6 */
	uint8_t l4_proto;    /* 6 or 17 */
	uint8_t addr0[16], addr1[16];
	uint16_t client_port, server_port;
	uint8_t mac0[6], mac1[6];
	uint16_t vlan;
	uint8_t tunnel_tier;
	struct pkt_tunnel tunnel; /* outer src is the client side's tunnel endpoint */
	uint8_t tcp_flags_bit_0, tcp_flags_bit_1; /* OR of the flags each side sent (period) */
	uint32_t syn_seq, syn_ack_seq;		  /* ISNs; 0 when not seen */
	uint16_t l7_proto; /* what the L7 side said it recognised, once it closed; else 0 */

	uint64_t packet_tx, packet_rx;
	uint64_t byte_tx, byte_rx;	 /* frame bytes on the wire */
	uint64_t l3_byte_tx, l3_byte_rx; /* IP packet bytes */
	uint64_t l4_byte_tx, l4_byte_rx; /* L4 payload bytes */

	/* Latencies in µs; 0 = not measured. RTTs are whole-flow values, repeated per row. */
	uint32_t rtt;	     /* handshake: client's ACK - first SYN (SYN seen before SYN-ACK) */
	uint32_t rtt_client; /* client's ACK - first SYN-ACK */
	uint32_t rtt_server; /* first SYN-ACK - first SYN */
	uint64_t srt_sum, srt_count;
	uint32_t srt_max;
	uint64_t art_sum, art_count;
	uint32_t art_max;
	uint64_t cit_sum, cit_count;
	uint32_t cit_max;

	uint32_t retrans_tx, retrans_rx;
	uint32_t ooo_tx, ooo_rx;
	uint32_t zero_win_tx, zero_win_rx;
	uint32_t syn_count, synack_count;
	uint32_t retrans_syn, retrans_synack;
	uint32_t fin_count, rst_count;
};

struct flow;

/* What the L7 side needs of a flow; valid during the callback. */
struct flow_view {
	uint64_t flow_id;
	uint8_t family, l4_proto;
	const uint8_t *addr0, *addr1; /* client, server: 16 bytes each */
	uint16_t client_port, server_port;
	bool client_known; /* sides decided by a SYN/SYN-ACK rather than guessed from ports */
};

struct flow_l7_ops {
	/*
	 * Payload in stream order. dir 0: client to server, 1: server to client. gap: bytes
	 * missing after these (never delivered). seq: TCP sequence of data[0] (0 for UDP).
	 */
	void (*data)(void *ctx, const struct flow_view *f, uint8_t dir, uint64_t ts_ns,
		     uint32_t seq, const uint8_t *data, uint32_t len, uint32_t gap);
	/*
	 * The flow ended (RST or FINs seen, timeout, eviction, flush); no more data for it.
	 * Returns what the L7 side recognised on it (enum proto_id, 0: nothing), which the
	 * flow's rows carry as l7_proto.
	 */
	uint16_t (*closed)(void *ctx, const struct flow_view *f, uint64_t ts_ns);
};

typedef void (*flow_report_fn)(void *ctx, const struct l4_flow_rec *r);

struct flow_cfg {
	uint32_t max_flows;		     /* default 65536 */
	uint64_t report_interval_ns;	     /* forced reports of live flows (default 60 s) */
	uint64_t tcp_established_timeout_ns; /* default 300 s */
	uint64_t tcp_closing_timeout_ns;     /* FIN/RST seen, waiting for the rest (default 35 s) */
	uint64_t tcp_opening_timeout_ns;     /* handshake incomplete (default 5 s) */
	/* After a RST, or both FINs acknowledged, the flow waits this long for stragglers (a
	 * repeated RST, the last ACK) before its final row (default 2 s). */
	uint64_t tcp_linger_ns;
	uint64_t udp_timeout_ns; /* default 30 s */
	uint32_t reasm_bytes;	 /* out-of-order bytes held per direction (64 KiB) */
	bool l7;		 /* hand payload to the L7 callbacks */
};

struct flow_stats {
	uint64_t packets;	  /* packets given to the table */
	uint64_t packets_ignored; /* neither TCP nor UDP */
	uint64_t flows_created;
	uint64_t flows_closed; /* final rows */
	uint64_t flows_evicted_full;
	uint64_t flows_active; /* gauge */
	uint64_t flows_peak;
	uint64_t reports; /* rows, forced and final */
	uint64_t l7_bytes;
	uint64_t reasm_gaps;
	uint64_t reasm_gap_bytes;
	uint64_t reasm_drop_full;
	uint64_t reasm_drop_nomem;
};

struct flow_table;

/* NULL when out of memory. Zero cfg fields take their defaults. */
struct flow_table *flow_table_create(const struct flow_cfg *cfg, flow_report_fn report,
				     void *report_ctx, const struct flow_l7_ops *l7, void *l7_ctx);
/* Reports nothing: call flow_table_flush() first to keep the rows. NULL-safe. */
void flow_table_destroy(struct flow_table *t);

/*
 * Per-second deltas for metrics (flow_metrics.network): for every flow and every second
 * in which it had packets, a record (time_ns in that second) with that second's counters;
 * is_new_flow on a flow's first; close_type set (and time_ns the end) when the flow ends,
 * also in a second without packets; the handshake RTTs once per flow, in the record where
 * they became final (0 elsewhere). Summed, a flow's records give its rows' totals.
 */
void flow_table_set_meter(struct flow_table *t, flow_report_fn meter, void *ctx);

/* One decoded packet (PKT_OK). Packets that are neither TCP nor UDP are counted, ignored. */
void flow_table_packet(struct flow_table *t, const struct pkt *p);

/* Advance time to now_ns (capture time): timeouts, forced reports. Call at least every
 * second of capture time; packets also advance time. */
void flow_table_tick(struct flow_table *t, uint64_t now_ns);

/* End of capture / shutdown: report every flow, each with the close type its state's
 * timeout would give (docs/network.md), and forget them. */
void flow_table_flush(struct flow_table *t, uint64_t now_ns);

const struct flow_stats *flow_table_stats(const struct flow_table *t);

/* "finish", "server_rst", ...: stable names for docs and logs. */
const char *flow_close_type_name(uint16_t close_type);

#endif
