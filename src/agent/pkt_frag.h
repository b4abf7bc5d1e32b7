/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IP fragment reassembly for the packet decoder (pkt.h); internal to it. Fragments are
 * copied in as they come (the capture buffer they sit in is reused), kept per packet in
 * offset order, and copied out into one table-owned buffer once the packet is whole.
 *
 * Bounded: at most max_packets packets and max_bytes bytes (fragment data plus the
 * bookkeeping each fragment costs) are held; the oldest packet goes first when either is
 * full. Every drop is counted in the decoder's stats, and the gauges there are kept current.
 */
#ifndef OB_AGENT_PKT_FRAG_H
#define OB_AGENT_PKT_FRAG_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/pkt.h"

/* What makes fragments belong to one packet. */
struct pkt_frag_key {
	uint8_t src[16], dst[16]; /* IPv4 in the first 4 bytes, the rest zero */
	uint64_t ctx;		  /* where it was seen (VLAN, tunnel), so tenants never mix */
	uint32_t id;		  /* IPv4 identification or IPv6 Fragment header id */
	uint8_t family;		  /* 4 or 6 */
	uint8_t proto;		  /* IPv4 protocol; 0 for IPv6, whose key has none (RFC 8200) */
};

/* One fragment as the decoder found it. */
struct pkt_frag {
	struct pkt_frag_key key;
	uint64_t ts_ns;
	const uint8_t *data; /* the fragment's share of the fragmentable part */
	uint32_t offset;     /* where that share starts in it, bytes */
	uint32_t len;	     /* > 0; a multiple of 8 unless it is the last */
	uint32_t max_end;    /* the largest length the whole part may have (65535 - headers) */
	bool more;	     /* more fragments follow (MF / M flag) */
	uint16_t hdr_len;    /* IP header bytes in front of the fragmentable part */
	uint8_t ttl;
	uint8_t next_proto; /* the protocol the fragmentable part starts with */
	uint32_t frame_len; /* wire bytes of the frame that carried it */
	uint32_t ip_len;    /* bytes of its IP packet (headers included) */
};

/* A packet made whole: header fields are those of its first fragment (offset 0). */
struct pkt_frag_whole {
	const uint8_t *data; /* the fragmentable part, valid until the next pkt_frag_add() */
	uint32_t len;
	uint16_t hdr_len;
	uint8_t ttl;
	uint8_t next_proto;
	/* What the fragments cost on the wire, summed: flows count every frame's bytes. */
	uint64_t frame_bytes;
	uint64_t ip_bytes;
};

enum pkt_frag_result {
	PKT_FRAG_HELD,	  /* kept (or an exact duplicate of a kept fragment) */
	PKT_FRAG_WHOLE,	  /* this fragment completed its packet: *whole describes it */
	PKT_FRAG_BAD,	  /* overlapping, oversized or inconsistent: the packet is dropped */
	PKT_FRAG_DROPPED, /* no room even after dropping all others: the packet is dropped */
};

/* NULL when out of memory. Counters go to *stats, which must outlive the table. */
struct pkt_frag_table *pkt_frag_table_create(uint32_t max_packets, uint64_t max_bytes,
					     uint64_t timeout_ns, struct pkt_decode_stats *stats);
void pkt_frag_table_destroy(struct pkt_frag_table *t); /* NULL-safe */

enum pkt_frag_result pkt_frag_add(struct pkt_frag_table *t, const struct pkt_frag *f,
				  struct pkt_frag_whole *whole);

/* Drop every packet older than the timeout at now_ns (capture time). */
void pkt_frag_expire(struct pkt_frag_table *t, uint64_t now_ns);

/* The same, looking only at the oldest packets: cheap enough to call for every frame. */
void pkt_frag_expire_oldest(struct pkt_frag_table *t, uint64_t now_ns);

#endif
