/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packet decoding: a captured frame (from AF_PACKET or a pcap file) to the fields the flow
 * table and the L7 parsers need. Link layers: Ethernet (with any number of 802.1Q / 802.1ad
 * tags), Linux cooked capture v1 and v2, raw IP and BSD loopback. Network: IPv4 (options,
 * fragments reassembled), IPv6 (extension headers skipped, fragments reassembled). Tunnels
 * are stripped layer by layer (VXLAN, Geneve, GRE with ERSPAN I/II/III and transparent
 * Ethernet bridging, IPIP/IP6IP6/IPv4-in-IPv6): the packet described is the innermost one,
 * and the outermost tunnel is recorded.
 *
 * Untrusted input: every length is checked against what was captured before it is read;
 * a frame that cannot be decoded is counted by reason and nothing else is lost. Memory:
 * the fragment table is bounded in entries and bytes (cfg), oldest dropped first, counted.
 *
 * Single-threaded: one decoder per capture thread.
 */
#ifndef OB_AGENT_PKT_H
#define OB_AGENT_PKT_H

#include <stdbool.h>
#include <stdint.h>

/* pcap link types (LINKTYPE_*, https://www.tcpdump.org/linktypes.html). */
#define PKT_LINK_NULL	    0 /* BSD loopback: 4-byte host-order family */
#define PKT_LINK_ETHERNET   1
#define PKT_LINK_RAW	    101 /* raw IPv4 or IPv6 (also accepted: 12 and 14) */
#define PKT_LINK_LINUX_SLL  113
#define PKT_LINK_IPV4	    228
#define PKT_LINK_IPV6	    229
#define PKT_LINK_LINUX_SLL2 276

/* tunnel_type values in l4_flow_log (docs/network.md). */
enum pkt_tunnel_type {
	PKT_TUN_NONE = 0,
	PKT_TUN_VXLAN = 1,
	PKT_TUN_IPIP = 2, /* IPv4/IPv6 in IPv4/IPv6 */
	PKT_TUN_GRE = 3,
	PKT_TUN_GENEVE = 4,
	PKT_TUN_ERSPAN = 5,
	PKT_TUN_TEB = 6, /* transparent Ethernet bridging over GRE */
};

/* TCP flag bits as in the header's 13th byte. */
#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_PSH 0x08
#define PKT_TCP_ACK 0x10
#define PKT_TCP_URG 0x20
#define PKT_TCP_ECE 0x40
#define PKT_TCP_CWR 0x80

struct pkt_tunnel {
	uint8_t type;		  /* enum pkt_tunnel_type */
	uint8_t family;		  /* 4 or 6: the outer IP header of this tunnel */
	uint32_t id;		  /* VXLAN/Geneve VNI, GRE key, ERSPAN session id; 0 when none */
	uint8_t src[16], dst[16]; /* outer addresses (IPv4 in the first 4 bytes) */
};

struct pkt {
	uint64_t ts_ns;	   /* capture time, ns since the epoch */
	uint32_t wire_len; /* frame length on the wire; reassembled: every fragment's frame */
	uint32_t cap_len;  /* bytes captured of it */

	uint8_t mac_src[6], mac_dst[6]; /* innermost Ethernet header; zero when none */
	uint16_t vlan;			/* innermost 802.1Q VLAN id; 0 when untagged */

	uint8_t tunnel_tier;	  /* tunnel layers stripped; 0 when none */
	struct pkt_tunnel tunnel; /* the outermost one, when tunnel_tier > 0 */

	uint8_t family;		  /* 4 or 6 */
	uint8_t l4_proto;	  /* IP protocol of the innermost packet (6 TCP, 17 UDP, ...) */
	uint8_t ttl;		  /* TTL / hop limit */
	uint8_t src[16], dst[16]; /* IPv4 in the first 4 bytes, the rest zero */
	uint32_t ip_len;  /* IP packet length from its header(s); reassembled: of every fragment */
	bool reassembled; /* rebuilt from IP fragments */

	/* TCP and UDP (zero for other protocols) */
	uint16_t sport, dport; /* host order */

	/* TCP only */
	uint32_t seq, ack; /* host order */
	uint8_t tcp_flags; /* PKT_TCP_* */
	uint16_t win;	   /* raw window field, host order (not scaled) */
	int8_t wscale;	   /* window scale option value, -1 when the option is absent */
	uint16_t mss;	   /* MSS option, 0 when absent */
	bool sack_ok;	   /* SACK-permitted option */

	/* L4 payload */
	const uint8_t *payload;	   /* valid until the next pkt_decode() call */
	uint32_t payload_len;	   /* bytes of it present in the capture */
	uint32_t payload_wire_len; /* its size per the IP/UDP lengths (>= payload_len) */
};

enum pkt_result {
	PKT_OK = 0,		/* *out describes an IP packet */
	PKT_HELD = 1,		/* a fragment consumed by reassembly (kept, a duplicate, or dropped
				 * and counted): nothing to do */
	PKT_SKIP = 2,		/* not IP (ARP, LLDP, ...): counted, nothing to do */
	PKT_ERR_TRUNCATED = -1, /* a header is cut by the capture */
	PKT_ERR_MALFORMED = -2, /* a header is inconsistent (lengths, version, offsets) */
	PKT_ERR_LINKTYPE = -3,	/* a link type this decoder does not know */
};

struct pkt_decoder_cfg {
	uint32_t frag_max_packets; /* packets being reassembled at once (default 1024) */
	uint64_t frag_max_bytes;   /* bytes held for reassembly (default 4 MiB) */
	uint64_t frag_timeout_ns;  /* an incomplete packet is dropped after this (default 5 s) */
	uint16_t vxlan_port;	   /* UDP destination port of VXLAN (default 4789) */
	uint16_t geneve_port;	   /* UDP destination port of Geneve (default 6081) */
	uint8_t max_tunnel_tier;   /* tunnel layers stripped at most (default 4) */
};

/* Counters: every frame lands in exactly one of ok / held / skipped / truncated /
 * malformed / bad_linktype. */
struct pkt_decode_stats {
	uint64_t frames;
	uint64_t ok;
	uint64_t held; /* fragments kept (whole packets come out later as ok) */
	uint64_t skipped_non_ip;
	uint64_t truncated;
	uint64_t malformed;
	uint64_t bad_linktype;
	uint64_t ip4, ip6, tcp, udp, other_l4; /* among ok */
	uint64_t tunnels;		       /* ok packets that were inside a tunnel */
	uint64_t frag_reassembled;	       /* packets rebuilt from fragments */
	uint64_t frag_dropped_timeout;	       /* incomplete packets given up after the timeout */
	uint64_t frag_dropped_full;	       /* incomplete packets dropped: table or bytes full */
	uint64_t frag_bad;		       /* overlapping or oversized fragments dropped */
	uint64_t frag_held_packets;	       /* gauge: packets being reassembled */
	uint64_t frag_held_bytes;	       /* gauge */
};

struct pkt_decoder;

/* NULL when out of memory. cfg may be NULL: defaults. Zero fields take their default. */
struct pkt_decoder *pkt_decoder_create(const struct pkt_decoder_cfg *cfg);
void pkt_decoder_destroy(struct pkt_decoder *d); /* NULL-safe */

/*
 * Decode one frame of link type `linktype` (PKT_LINK_*). On PKT_OK *out is filled; its
 * payload points into frame, or into the decoder's reassembly buffer, valid until the
 * next call. Every result is counted in the decoder's stats.
 */
enum pkt_result pkt_decode(struct pkt_decoder *d, int linktype, const uint8_t *frame,
			   uint32_t cap_len, uint32_t wire_len, uint64_t ts_ns, struct pkt *out);

/* Drop incomplete fragment sets older than the timeout. now_ns: capture time. */
void pkt_decoder_expire(struct pkt_decoder *d, uint64_t now_ns);

const struct pkt_decode_stats *pkt_decoder_stats(const struct pkt_decoder *d);

/* "VXLAN", "IPIP", ...; "" for none. */
const char *pkt_tunnel_name(uint8_t type);

#endif
