/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packet decoding: see pkt.h. A frame is walked layer by layer over a span, which holds
 * the bytes of the current layer present in the capture and its length on the wire. A
 * header that needs more than the wire length is malformed; more than was captured,
 * truncated. Nothing is copied except fragments, and nothing is allocated except for them.
 *
 * Tunnels are entered only when their header is whole and recognised, and while the tier
 * limit allows; otherwise the packet carrying them is the one described. Once inside, the
 * inner packet's errors are the frame's.
 */
#include "agent/pkt.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pkt_frag.h"

#define ETH_HLEN	14
#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86dd
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88a8
#define ETH_P_QINQ_9100 0x9100 /* pre-standard QinQ outer tag */
#define ETH_P_TEB	0x6558 /* transparent Ethernet bridging */
#define ETH_P_ERSPAN	0x88be /* type I and II */
#define ETH_P_ERSPAN3	0x22eb

#define SLL_HLEN     16
#define SLL2_HLEN    20
#define ARPHRD_ETHER 1

#define IP4_MF	     0x2000
#define IP4_OFFSET   0x1fff
#define IP4_MAX	     65535u
#define IP6_HLEN     40
#define IP6_FRAG_LEN 8

#define TCP_HLEN     20
#define TCPOPT_EOL   0
#define TCPOPT_NOP   1
#define TCPOPT_MSS   2
#define TCPOPT_WS    3
#define TCPOPT_SACKP 4
#define TCP_WS_MAX   14 /* RFC 7323: larger shifts are treated as 14 */

#define UDP_HLEN 8

#define VXLAN_HLEN   8
#define VXLAN_FLAG_I 0x08
#define GENEVE_HLEN  8
#define GRE_CSUM     0x8000
#define GRE_ROUTING  0x4000
#define GRE_KEY	     0x2000
#define GRE_SEQ	     0x1000
#define GRE_VERSION  0x0007
#define ERSPAN2_HLEN 8
#define ERSPAN3_HLEN 12
#define ERSPAN3_SUB  8 /* the optional platform-specific subheader */

#define DEFAULT_FRAG_MAX_PACKETS 1024
#define DEFAULT_FRAG_MAX_BYTES	 (4ull << 20)
#define DEFAULT_FRAG_TIMEOUT_NS	 5000000000ull
#define DEFAULT_VXLAN_PORT	 4789
#define DEFAULT_GENEVE_PORT	 6081
#define DEFAULT_MAX_TUNNEL_TIER	 4

struct pkt_decoder {
	struct pkt_decoder_cfg cfg;
	struct pkt_decode_stats stats;
	struct pkt_frag_table *frags;
};

/* The current layer: cap bytes of it are at p, and it is wire bytes long (cap <= wire). */
struct span {
	const uint8_t *p;
	uint32_t cap;
	uint32_t wire;
};

/* What the bytes of a span start with. */
enum layer {
	LAYER_DONE,
	LAYER_ETHER,
	LAYER_IP, /* either version: the first nibble says */
	LAYER_IP4,
	LAYER_IP6,
};

/* One frame being decoded. */
struct walk {
	struct pkt_decoder *d;
	struct pkt *out;
	uint64_t ts_ns;
	uint32_t tunnel_id; /* of the innermost tunnel entered: fragments are keyed by it */
};

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* PKT_OK when the span holds n more bytes, else why not. */
static enum pkt_result need(const struct span *s, uint32_t n)
{
	if (n > s->wire)
		return PKT_ERR_MALFORMED;
	if (n > s->cap)
		return PKT_ERR_TRUNCATED;
	return PKT_OK;
}

/* Step over n bytes that need() said are there. */
static void skip(struct span *s, uint32_t n)
{
	s->p += n;
	s->cap -= n;
	s->wire -= n;
}

/* The layer is len bytes long (len <= s->wire): whatever follows is padding. */
static void limit(struct span *s, uint32_t len)
{
	s->wire = len;
	if (s->cap > len)
		s->cap = len;
}

static void set_payload(struct pkt *out, const struct span *s)
{
	out->payload = s->p;
	out->payload_len = s->cap;
	out->payload_wire_len = s->wire;
}

/* ---- link layer ------------------------------------------------------------------ */

/* An EtherType, after any number of VLAN tags: IPv4 or IPv6 next, or not IP at all. */
static enum pkt_result decode_ethertype(struct span *s, uint16_t type, struct pkt *out,
					enum layer *next)
{
	enum pkt_result r;

	while (type == ETH_P_8021Q || type == ETH_P_8021AD || type == ETH_P_QINQ_9100) {
		r = need(s, 4);
		if (r != PKT_OK)
			return r;
		out->vlan = get_be16(s->p) & 0x0fff;
		type = get_be16(s->p + 2);
		skip(s, 4);
	}
	switch (type) {
	case ETH_P_IP: *next = LAYER_IP4; return PKT_OK;
	case ETH_P_IPV6: *next = LAYER_IP6; return PKT_OK;
	default: return PKT_SKIP; /* ARP, LLDP, 802.3 lengths, MPLS, ... */
	}
}

static enum pkt_result decode_ether(struct span *s, struct pkt *out, enum layer *next)
{
	enum pkt_result r = need(s, ETH_HLEN);
	uint16_t type;

	if (r != PKT_OK)
		return r;
	/* MACs and VLAN describe the innermost Ethernet header: forget the outer ones. */
	memcpy(out->mac_dst, s->p, 6);
	memcpy(out->mac_src, s->p + 6, 6);
	out->vlan = 0;
	type = get_be16(s->p + 12);
	skip(s, ETH_HLEN);
	return decode_ethertype(s, type, out, next);
}

/* Linux cooked capture: the link-layer address is the sender's MAC on Ethernet devices. */
static void sll_mac(struct pkt *out, uint16_t hatype, uint32_t addr_len, const uint8_t *addr)
{
	if (hatype == ARPHRD_ETHER && addr_len == 6)
		memcpy(out->mac_src, addr, 6);
}

static enum pkt_result decode_sll(struct span *s, struct pkt *out, enum layer *next)
{
	enum pkt_result r = need(s, SLL_HLEN);
	uint16_t type;

	if (r != PKT_OK)
		return r;
	sll_mac(out, get_be16(s->p + 2), get_be16(s->p + 4), s->p + 6);
	type = get_be16(s->p + 14);
	skip(s, SLL_HLEN);
	return decode_ethertype(s, type, out, next);
}

static enum pkt_result decode_sll2(struct span *s, struct pkt *out, enum layer *next)
{
	enum pkt_result r = need(s, SLL2_HLEN);
	uint16_t type;

	if (r != PKT_OK)
		return r;
	sll_mac(out, get_be16(s->p + 8), s->p[11], s->p + 12);
	type = get_be16(s->p);
	skip(s, SLL2_HLEN);
	return decode_ethertype(s, type, out, next);
}

/* BSD loopback: an address family in the capturing host's byte order, which we do not know;
 * families are small, so the order that gives a small number is the right one. */
static enum pkt_result decode_null(struct span *s, enum layer *next)
{
	enum pkt_result r = need(s, 4);
	uint32_t family;

	if (r != PKT_OK)
		return r;
	family = (uint32_t)s->p[3] << 24 | (uint32_t)s->p[2] << 16 | (uint32_t)s->p[1] << 8 |
		 s->p[0];
	if (family > 0xffff)
		family = get_be32(s->p);
	skip(s, 4);
	switch (family) {
	case 2: *next = LAYER_IP4; return PKT_OK;  /* AF_INET everywhere */
	case 24:				   /* AF_INET6: NetBSD, OpenBSD, BSD/OS */
	case 28:				   /* FreeBSD, DragonFly */
	case 30: *next = LAYER_IP6; return PKT_OK; /* Darwin */
	default: return PKT_SKIP;
	}
}

static enum pkt_result decode_link(int linktype, struct span *s, struct pkt *out, enum layer *next)
{
	switch (linktype) {
	case PKT_LINK_ETHERNET: *next = LAYER_ETHER; return PKT_OK;
	case PKT_LINK_RAW:
	case 12: /* DLT_RAW on most BSDs */
	case 14: /* DLT_RAW on OpenBSD */ *next = LAYER_IP; return PKT_OK;
	case PKT_LINK_IPV4: *next = LAYER_IP4; return PKT_OK;
	case PKT_LINK_IPV6: *next = LAYER_IP6; return PKT_OK;
	case PKT_LINK_NULL: return decode_null(s, next);
	case PKT_LINK_LINUX_SLL: return decode_sll(s, out, next);
	case PKT_LINK_LINUX_SLL2: return decode_sll2(s, out, next);
	default: return PKT_ERR_LINKTYPE;
	}
}

/* ---- network layer --------------------------------------------------------------- */

/* The fields an inner packet must not inherit from the one that carried it. */
static void reset_l4(struct pkt *out)
{
	out->sport = out->dport = 0;
	out->seq = out->ack = 0;
	out->tcp_flags = 0;
	out->win = 0;
	out->wscale = -1;
	out->mss = 0;
	out->sack_ok = false;
	out->payload = NULL;
	out->payload_len = out->payload_wire_len = 0;
}

static void frag_key(const struct walk *w, struct pkt_frag_key *k, uint32_t id, uint8_t proto)
{
	const struct pkt *out = w->out;

	memset(k, 0, sizeof(*k));
	memcpy(k->src, out->src, 16);
	memcpy(k->dst, out->dst, 16);
	/* The same addresses and id in two VLANs or tunnels are two different packets. */
	k->ctx = (uint64_t)w->tunnel_id << 32 | (uint64_t)out->tunnel_tier << 16 | out->vlan;
	k->id = id;
	k->family = out->family;
	k->proto = proto;
}

/* Hand a fragment to the table; when it completes its packet, continue on the whole one. */
static enum pkt_result add_fragment(struct walk *w, const struct pkt_frag *f, struct span *s,
				    uint8_t *next_proto)
{
	struct pkt_frag_whole whole;

	if (!f->len || (f->more && f->len % 8))
		return PKT_ERR_MALFORMED; /* only the last fragment may end off the 8-byte grid */
	/* A fragment cut by the capture would rebuild a packet with a hole in it. */
	if (s->cap < s->wire)
		return PKT_ERR_TRUNCATED;
	switch (pkt_frag_add(w->d->frags, f, &whole)) {
	case PKT_FRAG_HELD:
	case PKT_FRAG_DROPPED: /* counted as frag_dropped_full: nothing to hand on */
		return PKT_HELD;
	case PKT_FRAG_BAD: return PKT_ERR_MALFORMED;
	case PKT_FRAG_WHOLE: break;
	}
	*s = (struct span){ .p = whole.data, .cap = whole.len, .wire = whole.len };
	w->out->ttl = whole.ttl;
	/* The packet as a flow counts it: every fragment's frame and IP bytes. */
	w->out->wire_len =
		(uint32_t)(whole.frame_bytes > UINT32_MAX ? UINT32_MAX : whole.frame_bytes);
	w->out->ip_len = (uint32_t)(whole.ip_bytes > UINT32_MAX ? UINT32_MAX : whole.ip_bytes);
	w->out->reassembled = true;
	*next_proto = whole.next_proto;
	return PKT_OK;
}

/* s holds the fragment's data, h its IPv4 header. */
static enum pkt_result decode_ip4_fragment(struct walk *w, struct span *s, const uint8_t *h,
					   uint8_t *proto)
{
	uint32_t ihl = (h[0] & 0x0f) * 4u;
	uint16_t frag = get_be16(h + 6);
	struct pkt_frag f = {
		.ts_ns = w->ts_ns,
		.data = s->p,
		.offset = (frag & IP4_OFFSET) * 8u,
		.len = s->wire,
		.max_end = IP4_MAX - ihl,
		.more = frag & IP4_MF,
		.hdr_len = (uint16_t)ihl,
		.ttl = h[8],
		.next_proto = h[9],
		.frame_len = w->out->wire_len,
		.ip_len = ihl + s->wire,
	};

	frag_key(w, &f.key, get_be16(h + 4), h[9]);
	return add_fragment(w, &f, s, proto);
}

/* s starts at an IPv6 Fragment header, h is the IPv6 header, unfragmentable the bytes of
 * extension headers between them; *next becomes what follows the Fragment header. */
static enum pkt_result decode_ip6_fragment(struct walk *w, struct span *s, const uint8_t *h,
					   uint32_t unfragmentable, uint8_t *next)
{
	uint16_t off_m = get_be16(s->p + 2);
	struct pkt_frag f = {
		.ts_ns = w->ts_ns,
		.offset = off_m & 0xfff8u,
		.more = off_m & 1,
		.hdr_len = (uint16_t)(IP6_HLEN + unfragmentable),
		.max_end = IP4_MAX - unfragmentable,
		.ttl = h[7],
		.next_proto = s->p[0],
	};

	frag_key(w, &f.key, get_be32(s->p + 4), 0);
	*next = s->p[0];
	skip(s, IP6_FRAG_LEN);
	if (!f.offset && !f.more)
		return PKT_OK; /* an atomic fragment (RFC 6946): a whole packet already */
	f.data = s->p;
	f.len = s->wire;
	f.frame_len = w->out->wire_len;
	f.ip_len = IP6_HLEN + unfragmentable + IP6_FRAG_LEN + s->wire;
	return add_fragment(w, &f, s, next);
}

static enum pkt_result decode_ip4(struct walk *w, struct span *s, uint8_t *proto)
{
	struct pkt *out = w->out;
	const uint8_t *h = s->p;
	uint32_t ihl, total, frag;
	enum pkt_result r = need(s, 20);

	if (r != PKT_OK)
		return r;
	ihl = (h[0] & 0x0f) * 4u;
	total = get_be16(h + 2);
	if (ihl < 20 || total < ihl || total > s->wire)
		return PKT_ERR_MALFORMED;
	r = need(s, ihl); /* options */
	if (r != PKT_OK)
		return r;
	out->family = 4;
	memset(out->src, 0, sizeof(out->src));
	memset(out->dst, 0, sizeof(out->dst));
	memcpy(out->src, h + 12, 4);
	memcpy(out->dst, h + 16, 4);
	out->ttl = h[8];
	out->ip_len = total;
	*proto = h[9];
	limit(s, total); /* Ethernet pads short frames */
	skip(s, ihl);

	frag = get_be16(h + 6);
	if (!(frag & (IP4_MF | IP4_OFFSET)))
		return PKT_OK;
	return decode_ip4_fragment(w, s, h, proto);
}

static enum pkt_result decode_ip6(struct walk *w, struct span *s, uint8_t *proto)
{
	struct pkt *out = w->out;
	const uint8_t *h = s->p;
	uint32_t payload_len, len, unfragmentable = 0;
	bool fragmented = false;
	uint8_t next;
	enum pkt_result r = need(s, IP6_HLEN);

	if (r != PKT_OK)
		return r;
	payload_len = get_be16(h + 4);
	/* A jumbogram (RFC 2675) says 0 here: its headers then fail the checks below. */
	if (IP6_HLEN + payload_len > s->wire)
		return PKT_ERR_MALFORMED;
	out->family = 6;
	memcpy(out->src, h + 8, 16);
	memcpy(out->dst, h + 24, 16);
	out->ttl = h[7];
	out->ip_len = IP6_HLEN + payload_len;
	next = h[6];
	limit(s, IP6_HLEN + payload_len);
	skip(s, IP6_HLEN);

	/* Each header is at least 8 bytes long, so the loop ends with the packet. */
	for (;;) {
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH:
			r = need(s, 2);
			if (r != PKT_OK)
				return r;
			len = next == IPPROTO_AH ? (s->p[1] + 2u) * 4 : (s->p[1] + 1u) * 8;
			r = need(s, len);
			if (r != PKT_OK)
				return r;
			next = s->p[0];
			skip(s, len);
			unfragmentable += len;
			break;
		case IPPROTO_FRAGMENT:
			r = need(s, IP6_FRAG_LEN);
			if (r != PKT_OK)
				return r;
			if (fragmented)
				return PKT_ERR_MALFORMED; /* a fragment of a fragment */
			r = decode_ip6_fragment(w, s, h, unfragmentable, &next);
			if (r != PKT_OK)
				return r;
			fragmented = true;
			break;
		default: /* the upper layer, or ESP / No Next Header, whose bytes are opaque */
			*proto = next;
			return PKT_OK;
		}
	}
}

static enum pkt_result decode_ip(struct walk *w, struct span *s, enum layer layer, uint8_t *proto)
{
	enum pkt_result r = need(s, 1);
	unsigned int version;

	if (r != PKT_OK)
		return r;
	reset_l4(w->out);
	version = s->p[0] >> 4;
	if ((layer == LAYER_IP4 && version != 4) || (layer == LAYER_IP6 && version != 6))
		return PKT_ERR_MALFORMED;
	switch (version) {
	case 4: return decode_ip4(w, s, proto);
	case 6: return decode_ip6(w, s, proto);
	default: return PKT_ERR_MALFORMED;
	}
}

/* ---- transport layer and tunnels ------------------------------------------------- */

/* Options end at EOL or at the first one that does not fit: what came before stands. */
static void decode_tcp_options(const uint8_t *o, uint32_t len, struct pkt *out)
{
	uint32_t i = 0, olen;

	while (i < len) {
		if (o[i] == TCPOPT_EOL)
			break;
		if (o[i] == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			break;
		olen = o[i + 1];
		if (olen < 2 || olen > len - i)
			break;
		switch (o[i]) {
		case TCPOPT_MSS:
			if (olen == 4)
				out->mss = get_be16(o + i + 2);
			break;
		case TCPOPT_WS:
			if (olen == 3)
				out->wscale = o[i + 2] > TCP_WS_MAX ? TCP_WS_MAX : (int8_t)o[i + 2];
			break;
		case TCPOPT_SACKP:
			if (olen == 2)
				out->sack_ok = true;
			break;
		}
		i += olen;
	}
}

static enum pkt_result decode_tcp(struct span *s, struct pkt *out)
{
	const uint8_t *h = s->p;
	uint32_t doff;
	enum pkt_result r = need(s, TCP_HLEN);

	if (r != PKT_OK)
		return r;
	doff = (h[12] >> 4) * 4u;
	if (doff < TCP_HLEN)
		return PKT_ERR_MALFORMED;
	r = need(s, doff);
	if (r != PKT_OK)
		return r;
	out->sport = get_be16(h);
	out->dport = get_be16(h + 2);
	out->seq = get_be32(h + 4);
	out->ack = get_be32(h + 8);
	out->tcp_flags = h[13];
	out->win = get_be16(h + 14);
	decode_tcp_options(h + TCP_HLEN, doff - TCP_HLEN, out);
	skip(s, doff);
	set_payload(out, s);
	return PKT_OK;
}

static void enter_tunnel(struct walk *w, uint8_t type, uint32_t id)
{
	struct pkt *out = w->out;

	if (!out->tunnel_tier) {
		out->tunnel.type = type;
		out->tunnel.family = out->family;
		out->tunnel.id = id;
		memcpy(out->tunnel.src, out->src, 16);
		memcpy(out->tunnel.dst, out->dst, 16);
	}
	out->tunnel_tier++;
	w->tunnel_id = id;
}

/* RFC 7348. */
static bool enter_vxlan(struct walk *w, struct span *s, enum layer *next)
{
	if (s->cap < VXLAN_HLEN || !(s->p[0] & VXLAN_FLAG_I))
		return false;
	enter_tunnel(w, PKT_TUN_VXLAN, get_be24(s->p + 4));
	skip(s, VXLAN_HLEN);
	*next = LAYER_ETHER;
	return true;
}

/* RFC 8926: version 0 only; options are skipped. */
static bool enter_geneve(struct walk *w, struct span *s, enum layer *next)
{
	uint32_t hlen;
	enum layer inner;

	if (s->cap < GENEVE_HLEN || s->p[0] >> 6)
		return false;
	hlen = GENEVE_HLEN + (s->p[0] & 0x3f) * 4u;
	if (s->cap < hlen)
		return false;
	switch (get_be16(s->p + 2)) {
	case ETH_P_TEB: inner = LAYER_ETHER; break;
	case ETH_P_IP: inner = LAYER_IP4; break;
	case ETH_P_IPV6: inner = LAYER_IP6; break;
	default: return false;
	}
	enter_tunnel(w, PKT_TUN_GENEVE, get_be24(s->p + 4));
	skip(s, hlen);
	*next = inner;
	return true;
}

/*
 * ERSPAN (draft-foschiano-erspan) over GRE protocol 0x88BE or 0x22EB; g points at the GRE
 * header, *hlen is its length and grows by the ERSPAN header's. Type II's header is
 * Ver(4)=1 VLAN(12) COS(3) En(2) T(1) SessionID(10) Reserved(12) Index(20); type III's is
 * Ver(4)=2 VLAN(12) COS(3) BSO(2) T(1) SessionID(10), Timestamp(32), SGT(16) P(1) FT(5)
 * HwID(6) D(1) Gra(2) O(1), then 8 more bytes when O is set. Type I has no header and is
 * told apart from type II by the GRE sequence number only type II carries.
 */
static bool erspan_header(const struct span *s, uint16_t gre_flags, uint16_t proto, uint32_t *hlen,
			  uint32_t *id, enum layer *inner)
{
	const uint8_t *e = s->p + *hlen;

	*inner = LAYER_ETHER;
	if (proto == ETH_P_ERSPAN) {
		if (!(gre_flags & GRE_SEQ))
			return true; /* type I: the id stays the GRE key, if any */
		if (s->cap < *hlen + ERSPAN2_HLEN || e[0] >> 4 != 1)
			return false;
		*id = get_be16(e + 2) & 0x3ff;
		*hlen += ERSPAN2_HLEN;
		return true;
	}
	if (s->cap < *hlen + ERSPAN3_HLEN || e[0] >> 4 != 2)
		return false;
	*id = get_be16(e + 2) & 0x3ff;
	switch ((e[10] >> 2) & 0x1f) { /* frame type */
	case 0: *inner = LAYER_ETHER; break;
	case 2: *inner = LAYER_IP; break;
	default: return false;
	}
	*hlen += ERSPAN3_HLEN + (e[11] & 1 ? ERSPAN3_SUB : 0);
	return s->cap >= *hlen;
}

/* RFC 2784 with RFC 2890's key and sequence number; version 0 only. */
static bool enter_gre(struct walk *w, struct span *s, enum layer *next)
{
	const uint8_t *g = s->p;
	uint32_t hlen = 4, id = 0;
	uint16_t flags, proto;
	uint8_t type;
	enum layer inner;

	if (s->cap < 4)
		return false;
	flags = get_be16(g);
	proto = get_be16(g + 2);
	/* RFC 1701 source routing, or version 1 (PPTP): not tunnels we strip. */
	if (flags & (GRE_ROUTING | GRE_VERSION))
		return false;
	if (flags & GRE_CSUM)
		hlen += 4;
	if (flags & GRE_KEY) {
		if (s->cap < hlen + 4)
			return false;
		id = get_be32(g + hlen);
		hlen += 4;
	}
	if (flags & GRE_SEQ)
		hlen += 4;
	if (s->cap < hlen)
		return false;
	switch (proto) {
	case ETH_P_IP:
		type = PKT_TUN_GRE;
		inner = LAYER_IP4;
		break;
	case ETH_P_IPV6:
		type = PKT_TUN_GRE;
		inner = LAYER_IP6;
		break;
	case ETH_P_TEB:
		type = PKT_TUN_TEB;
		inner = LAYER_ETHER;
		break;
	case ETH_P_ERSPAN:
	case ETH_P_ERSPAN3:
		type = PKT_TUN_ERSPAN;
		if (!erspan_header(s, flags, proto, &hlen, &id, &inner))
			return false;
		break;
	default: return false;
	}
	enter_tunnel(w, type, id);
	skip(s, hlen);
	*next = inner;
	return true;
}

static enum pkt_result decode_udp(struct walk *w, struct span *s, enum layer *next)
{
	struct pkt *out = w->out;
	uint32_t udp_len;
	enum pkt_result r = need(s, UDP_HLEN);

	if (r != PKT_OK)
		return r;
	udp_len = get_be16(s->p + 4);
	if (udp_len < UDP_HLEN)
		return PKT_ERR_MALFORMED;
	out->sport = get_be16(s->p);
	out->dport = get_be16(s->p + 2);
	/* A length past the IP payload is not trusted: the IP payload bounds it. */
	if (udp_len < s->wire)
		limit(s, udp_len);
	skip(s, UDP_HLEN);
	set_payload(out, s);
	if (out->tunnel_tier >= w->d->cfg.max_tunnel_tier)
		return PKT_OK;
	if (out->dport == w->d->cfg.vxlan_port)
		enter_vxlan(w, s, next);
	else if (out->dport == w->d->cfg.geneve_port)
		enter_geneve(w, s, next);
	return PKT_OK;
}

/* The packet's L4 header, or the tunnel it carries: *next says which layer follows. */
static enum pkt_result decode_l4(struct walk *w, uint8_t proto, struct span *s, enum layer *next)
{
	struct pkt *out = w->out;
	bool may_enter = out->tunnel_tier < w->d->cfg.max_tunnel_tier;

	out->l4_proto = proto;
	*next = LAYER_DONE;
	switch (proto) {
	case IPPROTO_TCP: return decode_tcp(s, out);
	case IPPROTO_UDP: return decode_udp(w, s, next);
	case IPPROTO_GRE:
		if (may_enter && enter_gre(w, s, next))
			return PKT_OK;
		break;
	case IPPROTO_IPIP:
	case IPPROTO_IPV6:
		if (may_enter) {
			enter_tunnel(w, PKT_TUN_IPIP, 0);
			*next = proto == IPPROTO_IPIP ? LAYER_IP4 : LAYER_IP6;
			return PKT_OK;
		}
		break;
	}
	set_payload(out, s);
	return PKT_OK;
}

/* From the first network-layer header in, through every tunnel the tier limit allows. */
static enum pkt_result decode_layers(struct walk *w, enum layer layer, struct span *s)
{
	enum pkt_result r;
	uint8_t proto;

	/* Every pass but the last enters a tunnel, and tunnel_tier bounds those. */
	for (;;) {
		if (layer == LAYER_ETHER) {
			r = decode_ether(s, w->out, &layer);
			if (r != PKT_OK)
				return r;
		}
		r = decode_ip(w, s, layer, &proto);
		if (r != PKT_OK)
			return r;
		r = decode_l4(w, proto, s, &layer);
		if (r != PKT_OK || layer == LAYER_DONE)
			return r;
	}
}

/* ---- the decoder ----------------------------------------------------------------- */

struct pkt_decoder *pkt_decoder_create(const struct pkt_decoder_cfg *cfg)
{
	struct pkt_decoder *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	if (cfg)
		d->cfg = *cfg;
	if (!d->cfg.frag_max_packets)
		d->cfg.frag_max_packets = DEFAULT_FRAG_MAX_PACKETS;
	if (!d->cfg.frag_max_bytes)
		d->cfg.frag_max_bytes = DEFAULT_FRAG_MAX_BYTES;
	if (!d->cfg.frag_timeout_ns)
		d->cfg.frag_timeout_ns = DEFAULT_FRAG_TIMEOUT_NS;
	if (!d->cfg.vxlan_port)
		d->cfg.vxlan_port = DEFAULT_VXLAN_PORT;
	if (!d->cfg.geneve_port)
		d->cfg.geneve_port = DEFAULT_GENEVE_PORT;
	if (!d->cfg.max_tunnel_tier)
		d->cfg.max_tunnel_tier = DEFAULT_MAX_TUNNEL_TIER;
	d->frags = pkt_frag_table_create(d->cfg.frag_max_packets, d->cfg.frag_max_bytes,
					 d->cfg.frag_timeout_ns, &d->stats);
	if (!d->frags) {
		free(d);
		return NULL;
	}
	return d;
}

void pkt_decoder_destroy(struct pkt_decoder *d)
{
	if (!d)
		return;
	pkt_frag_table_destroy(d->frags);
	free(d);
}

static void count_result(struct pkt_decode_stats *st, enum pkt_result r, const struct pkt *p)
{
	st->frames++;
	switch (r) {
	case PKT_OK: break;
	case PKT_HELD: st->held++; return;
	case PKT_SKIP: st->skipped_non_ip++; return;
	case PKT_ERR_TRUNCATED: st->truncated++; return;
	case PKT_ERR_MALFORMED: st->malformed++; return;
	case PKT_ERR_LINKTYPE: st->bad_linktype++; return;
	}
	st->ok++;
	if (p->family == 4)
		st->ip4++;
	else
		st->ip6++;
	if (p->l4_proto == IPPROTO_TCP)
		st->tcp++;
	else if (p->l4_proto == IPPROTO_UDP)
		st->udp++;
	else
		st->other_l4++;
	if (p->tunnel_tier)
		st->tunnels++;
}

enum pkt_result pkt_decode(struct pkt_decoder *d, int linktype, const uint8_t *frame,
			   uint32_t cap_len, uint32_t wire_len, uint64_t ts_ns, struct pkt *out)
{
	struct walk w = { .d = d, .out = out, .ts_ns = ts_ns };
	/* A capture cannot hold more than was sent: a smaller wire_len is a caller's slip. */
	struct span s = { .p = frame,
			  .cap = cap_len,
			  .wire = wire_len > cap_len ? wire_len : cap_len };
	enum layer layer;
	enum pkt_result r;

	memset(out, 0, sizeof(*out));
	out->ts_ns = ts_ns;
	out->wire_len = s.wire;
	out->cap_len = cap_len;
	out->wscale = -1;
	pkt_frag_expire_oldest(d->frags, ts_ns);
	r = decode_link(linktype, &s, out, &layer);
	if (r == PKT_OK)
		r = decode_layers(&w, layer, &s);
	count_result(&d->stats, r, out);
	return r;
}

void pkt_decoder_expire(struct pkt_decoder *d, uint64_t now_ns)
{
	pkt_frag_expire(d->frags, now_ns);
}

const struct pkt_decode_stats *pkt_decoder_stats(const struct pkt_decoder *d)
{
	return &d->stats;
}

const char *pkt_tunnel_name(uint8_t type)
{
	static const char *const names[] = {
		[PKT_TUN_NONE] = "",   [PKT_TUN_VXLAN] = "VXLAN",   [PKT_TUN_IPIP] = "IPIP",
		[PKT_TUN_GRE] = "GRE", [PKT_TUN_GENEVE] = "GENEVE", [PKT_TUN_ERSPAN] = "ERSPAN",
		[PKT_TUN_TEB] = "TEB",
	};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "";
}
