/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The packet path for one capture point (an interface or a capture file): frames are
 * decoded (pkt.h), grouped into flows and measured (flow.h), and TCP/UDP payload goes, in
 * stream order, through the same L7 parsers and session pairing as the eBPF path
 * (intake.h), so a request seen on the wire makes the same l7_flow_log record as one seen
 * in a syscall, with signal_source 0, req_tcp_seq/resp_tcp_seq from the TCP headers (equal
 * to the eBPF records' of the same exchange) and an observation point from where the
 * capture sits:
 *   - on the host end of a veth pair that has no address of its own (a bridge port, or a
 *     namespace's point-to-point link to the host; pktpath_set_capture_point), "c" when
 *     the client is behind it, "s" when the server is: the far end is that container's or
 *     namespace's own NIC. "Behind" is learned from the traffic itself: the sources of the
 *     frames the host end receives were sent from the far end;
 *   - otherwise c-nd / s-nd when the client / server address is one of this host's, local
 *     when both are, rest otherwise (a bridge forwarding between two namespaces; and
 *     always for capture files).
 * So one exchange between two namespaces on a bridge is seen as c (the client's veth),
 * rest (the bridge) and s (the server's veth): the network hops of its trace, in order.
 *
 * One path per capture point: the same flow seen on two interfaces is two flows, as in
 * DeepFlow, so its packets are never counted twice. Time is capture time throughout.
 */
#ifndef OB_AGENT_PKTPATH_H
#define OB_AGENT_PKTPATH_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/flow.h"
#include "agent/intake.h"
#include "agent/l4_record.h"
#include "agent/net_meter.h"
#include "agent/pkt.h"

struct pktpath_cfg {
	struct pkt_decoder_cfg decode;
	struct flow_cfg flow;
	struct intake_cfg l7;	   /* .packet is forced on */
	bool l7_enabled;	   /* parse payload (the flow table then hands it over) */
	uint32_t metrics_max_rows; /* flow_metrics buckets held at once (0: 65536) */
};

/* An L4 row with its observation point and the L7 protocol seen on the flow. */
typedef void (*pktpath_l4_fn)(void *ctx, const struct l4_record *r);

struct pktpath_stats {
	struct pkt_decode_stats decode;
	struct flow_stats flow;
	struct intake_stats l7;
	struct proto_stats parsers;
	struct net_meter_stats metrics;
};

struct pktpath;

/* NULL when out of memory. */
struct pktpath *pktpath_create(const struct pktpath_cfg *cfg, pktpath_l4_fn l4, record_sink_fn l7,
			       void *ctx);
void pktpath_destroy(struct pktpath *p); /* NULL-safe; reports nothing */

/*
 * This host's addresses (16 bytes each, IPv4 in the first 4), for observation points.
 * Without them (capture files) every record is "rest". Copied.
 */
int pktpath_set_local_addrs(struct pktpath *p, const uint8_t (*addrs)[16], const uint8_t *families,
			    size_t n);

/*
 * Where this path captures: the interface's name, given to every record as capture_nic
 * (at most 15 bytes; NULL or "" for none), and whether it is the host end of a veth pair
 * without an address (see the observation points above). May be called again (addresses
 * change); what was learned stays.
 */
void pktpath_set_capture_point(struct pktpath *p, const char *nic, bool veth);

/*
 * Also make flow_metrics.network / network_map rows (1 s and 1 m) from the flows, at most
 * max_rows buckets at once (0: 65536), emitted through emit as their time completes.
 * 0 or -ENOMEM.
 */
int pktpath_set_metrics(struct pktpath *p, net_row_fn emit, void *ctx, uint32_t max_rows);

/* One captured frame (the pkt_frame_fn of pkt_source.h, with the path as ctx). */
void pktpath_frame(void *p, int linktype, const uint8_t *data, uint32_t cap_len, uint32_t wire_len,
		   uint64_t ts_ns, uint8_t dir);

/* Live capture: let time pass without packets (timeouts, forced reports). */
void pktpath_tick(struct pktpath *p, uint64_t now_ns);

/* End: report every flow and pending request. */
void pktpath_flush(struct pktpath *p, uint64_t now_ns);

void pktpath_stats(const struct pktpath *p, struct pktpath_stats *out);

#endif
