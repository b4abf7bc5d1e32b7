/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packet decoding (pkt.h): hand-built frames for every link type, IPv4/IPv6 header shapes,
 * TCP options, fragment reassembly and its limits, every tunnel type and their nesting,
 * and frames cut at every byte. Each test ends by checking that every frame was counted in
 * exactly one result bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/pkt.h"

#define SEC 1000000000ull

/* ---- frame builder --------------------------------------------------------------- */

struct frame {
	uint8_t b[8192];
	uint32_t n;
};

static const uint8_t MAC_A[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t MAC_B[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const uint8_t MAC_C[6] = { 0x02, 0, 0, 0, 0, 0x0c };
static const uint8_t MAC_D[6] = { 0x02, 0, 0, 0, 0, 0x0d };
static const uint8_t IP_A[4] = { 10, 0, 0, 1 };
static const uint8_t IP_B[4] = { 10, 0, 0, 2 };
static const uint8_t OUT_A[4] = { 192, 168, 1, 1 };
static const uint8_t OUT_B[4] = { 192, 168, 1, 2 };
static const uint8_t MID_A[4] = { 172, 16, 0, 1 };
static const uint8_t MID_B[4] = { 172, 16, 0, 2 };
static const uint8_t IP6_A[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t IP6_B[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

static uint32_t put(struct frame *f, const void *p, uint32_t n)
{
	uint32_t off = f->n;

	assert_true(f->n + n <= sizeof(f->b));
	if (n) /* p may be NULL then */
		memcpy(f->b + f->n, p, n);
	f->n += n;
	return off;
}

static void put8(struct frame *f, uint8_t v)
{
	put(f, &v, 1);
}

static void put16(struct frame *f, uint16_t v)
{
	uint8_t b[2] = { v >> 8, v & 0xff };

	put(f, b, 2);
}

static void put32(struct frame *f, uint32_t v)
{
	put16(f, v >> 16);
	put16(f, v & 0xffff);
}

static void set16(struct frame *f, uint32_t off, uint16_t v)
{
	f->b[off] = v >> 8;
	f->b[off + 1] = v & 0xff;
}

static void put_fill(struct frame *f, uint32_t n, uint8_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		put8(f, (uint8_t)(seed + i * 7));
}

static void put_eth(struct frame *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	put(f, dst, 6);
	put(f, src, 6);
	put16(f, type);
}

static void put_vlan(struct frame *f, uint16_t tci, uint16_t next_type)
{
	put16(f, tci);
	put16(f, next_type);
}

/* An IPv4 header without options; end_ip4() fills in the length once the rest is there. */
static uint32_t put_ip4(struct frame *f, uint8_t proto, const uint8_t *src, const uint8_t *dst)
{
	uint32_t off = f->n;

	put8(f, 0x45);
	put8(f, 0);
	put16(f, 0);	  /* total length */
	put16(f, 0x1234); /* id */
	put16(f, 0x4000); /* DF */
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put(f, src, 4);
	put(f, dst, 4);
	return off;
}

static void end_ip4(struct frame *f, uint32_t off)
{
	set16(f, off + 2, (uint16_t)(f->n - off));
}

static uint32_t put_ip6(struct frame *f, uint8_t next, const uint8_t *src, const uint8_t *dst)
{
	uint32_t off = f->n;

	put32(f, 0x60000000);
	put16(f, 0); /* payload length */
	put8(f, next);
	put8(f, 63);
	put(f, src, 16);
	put(f, dst, 16);
	return off;
}

static void end_ip6(struct frame *f, uint32_t off)
{
	set16(f, off + 4, (uint16_t)(f->n - off - 40));
}

static void put_tcp(struct frame *f, uint16_t sport, uint16_t dport, uint8_t flags,
		    const uint8_t *opts, uint32_t optlen)
{
	assert_int_equal(optlen % 4, 0);
	put16(f, sport);
	put16(f, dport);
	put32(f, 1000000001u);
	put32(f, 3000000003u);
	put8(f, (uint8_t)((20 + optlen) / 4) << 4);
	put8(f, flags);
	put16(f, 65000);
	put16(f, 0);
	put16(f, 0);
	if (optlen)
		put(f, opts, optlen);
}

static uint32_t put_udp(struct frame *f, uint16_t sport, uint16_t dport)
{
	uint32_t off = f->n;

	put16(f, sport);
	put16(f, dport);
	put16(f, 0);
	put16(f, 0);
	return off;
}

static void end_udp(struct frame *f, uint32_t off)
{
	set16(f, off + 4, (uint16_t)(f->n - off));
}

/* Inner Ethernet / IPv4 / TCP 1234 -> 80 carrying "hello", as tunnels carry it. */
static void put_inner_tcp(struct frame *f, uint16_t vlan)
{
	uint32_t ip;

	put_eth(f, MAC_D, MAC_C, vlan ? 0x8100 : 0x0800);
	if (vlan)
		put_vlan(f, vlan, 0x0800);
	ip = put_ip4(f, 6, IP_A, IP_B);
	put_tcp(f, 1234, 80, PKT_TCP_PSH | PKT_TCP_ACK, NULL, 0);
	put(f, "hello", 5);
	end_ip4(f, ip);
}

static enum pkt_result decode_at(struct pkt_decoder *d, int linktype, const struct frame *f,
				 uint64_t ts, struct pkt *p)
{
	return pkt_decode(d, linktype, f->b, f->n, f->n, ts, p);
}

static enum pkt_result decode(struct pkt_decoder *d, int linktype, const struct frame *f,
			      struct pkt *p)
{
	return decode_at(d, linktype, f, 1 * SEC, p);
}

static void assert_ip4(const uint8_t *got16, const uint8_t *want4)
{
	static const uint8_t zero[12];

	assert_memory_equal(got16, want4, 4);
	assert_memory_equal(got16 + 4, zero, 12);
}

/* Every frame in exactly one bucket, and the ok ones split by family and by L4. */
static void assert_stats_add_up(const struct pkt_decoder *d)
{
	const struct pkt_decode_stats *st = pkt_decoder_stats(d);

	assert_int_equal(st->frames, st->ok + st->held + st->skipped_non_ip + st->truncated +
					     st->malformed + st->bad_linktype);
	assert_int_equal(st->ok, st->ip4 + st->ip6);
	assert_int_equal(st->ok, st->tcp + st->udp + st->other_l4);
	assert_true(st->tunnels <= st->ok);
}

static void assert_inner_tcp(const struct pkt *p, uint16_t vlan)
{
	assert_memory_equal(p->mac_src, MAC_C, 6);
	assert_memory_equal(p->mac_dst, MAC_D, 6);
	assert_int_equal(p->vlan, vlan);
	assert_int_equal(p->family, 4);
	assert_int_equal(p->l4_proto, 6);
	assert_ip4(p->src, IP_A);
	assert_ip4(p->dst, IP_B);
	assert_int_equal(p->ip_len, 45);
	assert_int_equal(p->sport, 1234);
	assert_int_equal(p->dport, 80);
	assert_int_equal(p->tcp_flags, PKT_TCP_PSH | PKT_TCP_ACK);
	assert_int_equal(p->payload_len, 5);
	assert_int_equal(p->payload_wire_len, 5);
	assert_memory_equal(p->payload, "hello", 5);
}

/* ---- link layers and basic headers ----------------------------------------------- */

static void test_eth_ip4_tcp_options(void **state)
{
	static const uint8_t opts[] = {
		2, 4,  0x05, 0xb4,			   /* MSS 1460 */
		1, 3,  3,    7,				   /* NOP, window scale 7 */
		4, 2,  1,    1,				   /* SACK permitted, NOP, NOP */
		8, 10, 1,    2,	   3, 4, 5, 6, 7, 8, 0, 0, /* timestamps, EOL, pad */
	};
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f = { 0 };
	struct pkt p;
	uint32_t ip;

	(void)state;
	assert_non_null(d);
	put_eth(&f, MAC_B, MAC_A, 0x0800);
	ip = put_ip4(&f, 6, IP_A, IP_B);
	put_tcp(&f, 40000, 443, PKT_TCP_SYN | PKT_TCP_ACK, opts, sizeof(opts));
	put(&f, "abc", 3);
	end_ip4(&f, ip);

	assert_int_equal(pkt_decode(d, PKT_LINK_ETHERNET, f.b, f.n, f.n + 4, 77 * SEC, &p), PKT_OK);
	assert_int_equal(p.ts_ns, 77 * SEC);
	assert_int_equal(p.wire_len, f.n + 4);
	assert_int_equal(p.cap_len, f.n);
	assert_memory_equal(p.mac_src, MAC_A, 6);
	assert_memory_equal(p.mac_dst, MAC_B, 6);
	assert_int_equal(p.vlan, 0);
	assert_int_equal(p.tunnel_tier, 0);
	assert_int_equal(p.tunnel.type, PKT_TUN_NONE);
	assert_int_equal(p.family, 4);
	assert_int_equal(p.l4_proto, 6);
	assert_int_equal(p.ttl, 64);
	assert_ip4(p.src, IP_A);
	assert_ip4(p.dst, IP_B);
	assert_int_equal(p.ip_len, 20 + 20 + sizeof(opts) + 3);
	assert_false(p.reassembled);
	assert_int_equal(p.sport, 40000);
	assert_int_equal(p.dport, 443);
	assert_int_equal(p.seq, 1000000001u);
	assert_int_equal(p.ack, 3000000003u);
	assert_int_equal(p.tcp_flags, PKT_TCP_SYN | PKT_TCP_ACK);
	assert_int_equal(p.win, 65000);
	assert_int_equal(p.wscale, 7);
	assert_int_equal(p.mss, 1460);
	assert_true(p.sack_ok);
	assert_ptr_equal(p.payload, f.b + 14 + 20 + 20 + sizeof(opts));
	assert_int_equal(p.payload_len, 3);
	assert_int_equal(p.payload_wire_len, 3);

	const struct pkt_decode_stats *st = pkt_decoder_stats(d);
	assert_int_equal(st->frames, 1);
	assert_int_equal(st->ok, 1);
	assert_int_equal(st->ip4, 1);
	assert_int_equal(st->tcp, 1);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_tcp_option_edges(void **state)
{
	/* window scale 15 clamps; the next option claims more bytes than the header has */
	static const uint8_t clamp_then_cut[] = { 1, 3, 3, 15, 1, 2, 4, 0x05 /* MSS cut */ };
	/* options after EOL are not read */
	static const uint8_t eol[] = { 0, 2, 4, 0x05, 0xb4, 4, 2, 0 };
	/* a kind without its length byte at the very end */
	static const uint8_t dangling[] = { 1, 1, 1, 4 };
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f;
	struct pkt p;
	uint32_t ip;

	(void)state;
	f = (struct frame){ 0 };
	ip = put_ip4(&f, 6, IP_A, IP_B);
	put_tcp(&f, 1, 2, PKT_TCP_SYN, clamp_then_cut, sizeof(clamp_then_cut));
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_int_equal(p.wscale, 14);
	assert_int_equal(p.mss, 0);
	assert_false(p.sack_ok);
	assert_int_equal(p.payload_len, 0);

	f = (struct frame){ 0 };
	ip = put_ip4(&f, 6, IP_A, IP_B);
	put_tcp(&f, 1, 2, PKT_TCP_SYN, eol, sizeof(eol));
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_int_equal(p.wscale, -1);
	assert_int_equal(p.mss, 0);
	assert_false(p.sack_ok);

	f = (struct frame){ 0 };
	ip = put_ip4(&f, 6, IP_A, IP_B);
	put_tcp(&f, 1, 2, PKT_TCP_SYN, dangling, sizeof(dangling));
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_false(p.sack_ok);

	/* data offset below 5 words */
	f.b[20 + 12] = 4 << 4;
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_ERR_MALFORMED);
	/* data offset past the IP payload */
	f.b[20 + 12] = 15 << 4;
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_ERR_MALFORMED);
	assert_int_equal(pkt_decoder_stats(d)->malformed, 2);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_eth_padding_and_ip4_options(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f = { 0 };
	struct pkt p;
	uint32_t ip;

	(void)state;
	/* IPv4 with 8 bytes of options (ihl 7) and a 4-byte UDP payload: 14 + 28 + 12 = 54 on
	 * the wire, padded to the 60-byte Ethernet minimum with non-zero junk. */
	put_eth(&f, MAC_B, MAC_A, 0x0800);
	ip = put_ip4(&f, 17, IP_A, IP_B);
	f.b[ip] = 0x47;
	put32(&f, 0x01010101); /* NOPs */
	put32(&f, 0x01010100); /* NOPs, EOL */
	uint32_t udp = put_udp(&f, 5353, 53);
	put(&f, "ping", 4);
	end_udp(&f, udp);
	end_ip4(&f, ip);
	put(&f, "PADPAD", 6);
	assert_int_equal(f.n, 60);

	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.ip_len, 40);
	assert_int_equal(p.l4_proto, 17);
	assert_int_equal(p.sport, 5353);
	assert_int_equal(p.dport, 53);
	assert_ptr_equal(p.payload, f.b + 14 + 28 + 8);
	assert_int_equal(p.payload_len, 4);
	assert_int_equal(p.payload_wire_len, 4);
	assert_int_equal(p.wscale, -1);

	/* A bare TCP ACK padded the same way: no payload at all. */
	f = (struct frame){ 0 };
	put_eth(&f, MAC_B, MAC_A, 0x0800);
	ip = put_ip4(&f, 6, IP_A, IP_B);
	put_tcp(&f, 1, 2, PKT_TCP_ACK, NULL, 0);
	end_ip4(&f, ip);
	put(&f, "\xff\xff\xff\xff\xff\xff", 6);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.payload_len, 0);
	assert_int_equal(p.payload_wire_len, 0);

	/* IHL below 5, total length below IHL, total length past the frame, version 6 in an
	 * IPv4 EtherType: all malformed. */
	f.b[14] = 0x44;
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_ERR_MALFORMED);
	f.b[14] = 0x45;
	set16(&f, 14 + 2, 19);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_ERR_MALFORMED);
	set16(&f, 14 + 2, 47);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_ERR_MALFORMED);
	set16(&f, 14 + 2, 40);
	f.b[14] = 0x65;
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_ERR_MALFORMED);
	assert_int_equal(pkt_decoder_stats(d)->malformed, 4);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_qinq_innermost_vlan(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f = { 0 };
	struct pkt p;
	uint32_t ip;

	(void)state;
	put_eth(&f, MAC_B, MAC_A, 0x88a8);
	put_vlan(&f, 0x2000 | 100, 0x9100); /* PCP 1, VLAN 100 */
	put_vlan(&f, 300, 0x8100);
	put_vlan(&f, 0xe000 | 4000, 0x0800); /* PCP 7, VLAN 4000 */
	ip = put_ip4(&f, 6, IP_A, IP_B);
	put_tcp(&f, 1, 2, PKT_TCP_ACK, NULL, 0);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.vlan, 4000);
	assert_int_equal(p.sport, 1);
	assert_ptr_equal(p.payload, f.b + f.n);

	/* A tag cut by the capture. */
	assert_int_equal(pkt_decode(d, PKT_LINK_ETHERNET, f.b, 20, f.n, 0, &p), PKT_ERR_TRUNCATED);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

/* One IPv4/UDP packet behind whatever link header `hdr` holds. */
static enum pkt_result decode_behind(struct pkt_decoder *d, int linktype, const void *hdr,
				     uint32_t hlen, bool ip6, struct pkt *p)
{
	static struct frame f;
	uint32_t ip, udp;

	f = (struct frame){ 0 };
	put(&f, hdr, hlen);
	ip = ip6 ? put_ip6(&f, 17, IP6_A, IP6_B) : put_ip4(&f, 17, IP_A, IP_B);
	udp = put_udp(&f, 1000, 2000);
	put(&f, "data", 4);
	end_udp(&f, udp);
	if (ip6)
		end_ip6(&f, ip);
	else
		end_ip4(&f, ip);
	return decode(d, linktype, &f, p);
}

static void assert_udp_1000_2000(const struct pkt *p, int family)
{
	assert_int_equal(p->family, family);
	assert_int_equal(p->l4_proto, 17);
	assert_int_equal(p->sport, 1000);
	assert_int_equal(p->dport, 2000);
	assert_int_equal(p->payload_len, 4);
	assert_memory_equal(p->payload, "data", 4);
}

static void test_link_types(void **state)
{
	static const uint8_t sll[16] = { 0, 0, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 0x0a, 0, 0, 0x08, 0 };
	static const uint8_t sll6[16] = {
		0, 4, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 0x0a, 0, 0, 0x86, 0xdd
	};
	static const uint8_t sll_vlan[20] = { 0, 0, 0, 1, 0,	6, 1, 2, 3,    4,
					      5, 6, 0, 0, 0x81, 0, 0, 7, 0x08, 0 };
	static const uint8_t sll2[20] = { 0x08, 0, 0,	 0, 0, 0, 0, 3,	   0, 1,
					  0,	6, 0x02, 0, 0, 0, 0, 0x0a, 0, 0 };
	static const uint8_t sll2_arp[20] = { 0x08, 0x06, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6 };
	static const uint8_t null_le[4] = { 2, 0, 0, 0 };
	static const uint8_t null_be[4] = { 0, 0, 0, 2 };
	static const uint8_t null_darwin6[4] = { 30, 0, 0, 0 };
	static const uint8_t null_freebsd6_be[4] = { 0, 0, 0, 28 };
	static const uint8_t null_openbsd6[4] = { 24, 0, 0, 0 };
	static const uint8_t null_other[4] = { 7, 0, 0, 0 };
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct pkt p;

	(void)state;
	assert_int_equal(decode_behind(d, PKT_LINK_LINUX_SLL, sll, 16, false, &p), PKT_OK);
	assert_udp_1000_2000(&p, 4);
	assert_memory_equal(p.mac_src, MAC_A, 6);
	assert_int_equal(decode_behind(d, PKT_LINK_LINUX_SLL, sll6, 16, true, &p), PKT_OK);
	assert_udp_1000_2000(&p, 6);
	assert_int_equal(decode_behind(d, PKT_LINK_LINUX_SLL, sll_vlan, 20, false, &p), PKT_OK);
	assert_udp_1000_2000(&p, 4);
	assert_int_equal(p.vlan, 7);
	assert_int_equal(decode_behind(d, PKT_LINK_LINUX_SLL2, sll2, 20, false, &p), PKT_OK);
	assert_udp_1000_2000(&p, 4);
	assert_memory_equal(p.mac_src, MAC_A, 6);
	assert_int_equal(decode_behind(d, PKT_LINK_LINUX_SLL2, sll2_arp, 20, false, &p), PKT_SKIP);

	assert_int_equal(decode_behind(d, PKT_LINK_RAW, NULL, 0, false, &p), PKT_OK);
	assert_udp_1000_2000(&p, 4);
	assert_int_equal(decode_behind(d, PKT_LINK_RAW, NULL, 0, true, &p), PKT_OK);
	assert_udp_1000_2000(&p, 6);
	assert_memory_equal(p.src, IP6_A, 16);
	assert_memory_equal(p.dst, IP6_B, 16);
	assert_int_equal(p.ttl, 63);
	assert_int_equal(decode_behind(d, 12, NULL, 0, false, &p), PKT_OK);
	assert_int_equal(decode_behind(d, 14, NULL, 0, true, &p), PKT_OK);
	assert_int_equal(decode_behind(d, PKT_LINK_IPV4, NULL, 0, false, &p), PKT_OK);
	assert_udp_1000_2000(&p, 4);
	assert_int_equal(decode_behind(d, PKT_LINK_IPV6, NULL, 0, true, &p), PKT_OK);
	assert_udp_1000_2000(&p, 6);
	/* the link type promises one version and the packet is the other */
	assert_int_equal(decode_behind(d, PKT_LINK_IPV4, NULL, 0, true, &p), PKT_ERR_MALFORMED);
	assert_int_equal(decode_behind(d, PKT_LINK_IPV6, NULL, 0, false, &p), PKT_ERR_MALFORMED);

	assert_int_equal(decode_behind(d, PKT_LINK_NULL, null_le, 4, false, &p), PKT_OK);
	assert_udp_1000_2000(&p, 4);
	assert_int_equal(decode_behind(d, PKT_LINK_NULL, null_be, 4, false, &p), PKT_OK);
	assert_udp_1000_2000(&p, 4);
	assert_int_equal(decode_behind(d, PKT_LINK_NULL, null_darwin6, 4, true, &p), PKT_OK);
	assert_udp_1000_2000(&p, 6);
	assert_int_equal(decode_behind(d, PKT_LINK_NULL, null_freebsd6_be, 4, true, &p), PKT_OK);
	assert_int_equal(decode_behind(d, PKT_LINK_NULL, null_openbsd6, 4, true, &p), PKT_OK);
	assert_int_equal(decode_behind(d, PKT_LINK_NULL, null_other, 4, false, &p), PKT_SKIP);

	assert_int_equal(pkt_decode(d, PKT_LINK_RAW, (const uint8_t *)"\x50\0\0\0", 4, 4, 0, &p),
			 PKT_ERR_MALFORMED);
	assert_int_equal(decode_behind(d, 9999, NULL, 0, false, &p), PKT_ERR_LINKTYPE);
	assert_int_equal(decode_behind(d, -1, NULL, 0, false, &p), PKT_ERR_LINKTYPE);
	/* link headers cut short */
	assert_int_equal(pkt_decode(d, PKT_LINK_LINUX_SLL, sll, 15, 60, 0, &p), PKT_ERR_TRUNCATED);
	assert_int_equal(pkt_decode(d, PKT_LINK_LINUX_SLL2, sll2, 19, 60, 0, &p),
			 PKT_ERR_TRUNCATED);
	assert_int_equal(pkt_decode(d, PKT_LINK_NULL, null_le, 3, 3, 0, &p), PKT_ERR_MALFORMED);
	assert_int_equal(pkt_decode(d, PKT_LINK_ETHERNET, sll, 0, 0, 0, &p), PKT_ERR_MALFORMED);

	const struct pkt_decode_stats *st = pkt_decoder_stats(d);
	assert_int_equal(st->skipped_non_ip, 2);
	assert_int_equal(st->bad_linktype, 2);
	assert_int_equal(st->truncated, 2);
	assert_int_equal(st->malformed, 5);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_non_ip_skipped(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f = { 0 };
	struct pkt p;

	(void)state;
	put_eth(&f, MAC_B, MAC_A, 0x0806); /* ARP request */
	put16(&f, 1);
	put16(&f, 0x0800);
	put8(&f, 6);
	put8(&f, 4);
	put16(&f, 1);
	put(&f, MAC_A, 6);
	put(&f, IP_A, 4);
	put_fill(&f, 10, 0);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_SKIP);

	f = (struct frame){ 0 };
	put_eth(&f, MAC_B, MAC_A, 0x8100); /* LLDP behind a VLAN tag */
	put_vlan(&f, 5, 0x88cc);
	put_fill(&f, 30, 1);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_SKIP);

	f = (struct frame){ 0 };
	put_eth(&f, MAC_B, MAC_A, 46); /* 802.3 length: LLC */
	put_fill(&f, 46, 2);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_SKIP);

	assert_int_equal(pkt_decoder_stats(d)->skipped_non_ip, 3);
	assert_int_equal(pkt_decoder_stats(d)->ok, 0);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_ip6_extension_headers(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f = { 0 };
	struct pkt p;
	uint32_t ip;

	(void)state;
	put_eth(&f, MAC_B, MAC_A, 0x86dd);
	ip = put_ip6(&f, 0, IP6_A, IP6_B);
	/* hop-by-hop: router alert + PadN, 8 bytes */
	put8(&f, 60);
	put8(&f, 0);
	put(&f, "\x05\x02\x00\x00\x01\x00", 6);
	/* destination options: 16 bytes of PadN */
	put8(&f, 43);
	put8(&f, 1);
	put(&f, "\x01\x0c\0\0\0\0\0\0\0\0\0\0\0\0", 14);
	/* routing, type 4 (SRH) with no segments left: 8 bytes */
	put8(&f, 51);
	put8(&f, 0);
	put(&f, "\x04\x00\x00\x00\x00\x00", 6);
	/* AH: payload length 4 -> (4 + 2) * 4 = 24 bytes */
	put8(&f, 6);
	put8(&f, 4);
	put_fill(&f, 22, 9);
	put_tcp(&f, 8080, 51000, PKT_TCP_FIN | PKT_TCP_ACK, NULL, 0);
	put(&f, "bye", 3);
	end_ip6(&f, ip);

	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.family, 6);
	assert_int_equal(p.l4_proto, 6);
	assert_int_equal(p.ttl, 63);
	assert_memory_equal(p.src, IP6_A, 16);
	assert_memory_equal(p.dst, IP6_B, 16);
	assert_int_equal(p.ip_len, 40 + 8 + 16 + 8 + 24 + 20 + 3);
	assert_int_equal(p.sport, 8080);
	assert_int_equal(p.dport, 51000);
	assert_int_equal(p.tcp_flags, PKT_TCP_FIN | PKT_TCP_ACK);
	assert_int_equal(p.payload_len, 3);
	assert_memory_equal(p.payload, "bye", 3);

	/* An extension header running past the payload length is malformed; cut by the
	 * capture, truncated. */
	assert_int_equal(pkt_decode(d, PKT_LINK_ETHERNET, f.b, 14 + 40 + 12, f.n, 0, &p),
			 PKT_ERR_TRUNCATED);
	set16(&f, ip + 4, 12);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_ERR_MALFORMED);

	/* Jumbogram: payload length 0 and a hop-by-hop jumbo option. */
	f = (struct frame){ 0 };
	ip = put_ip6(&f, 0, IP6_A, IP6_B);
	put8(&f, 6);
	put8(&f, 0);
	put8(&f, 0xc2);
	put8(&f, 4);
	put32(&f, 70000);
	put_tcp(&f, 1, 2, PKT_TCP_ACK, NULL, 0);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_ERR_MALFORMED);

	/* ESP and No Next Header end the walk with that protocol and the rest as payload. */
	f = (struct frame){ 0 };
	ip = put_ip6(&f, 60, IP6_A, IP6_B);
	put8(&f, 50);
	put8(&f, 0);
	put_fill(&f, 6, 0);
	put32(&f, 0x11223344); /* SPI */
	put_fill(&f, 20, 3);
	end_ip6(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_int_equal(p.l4_proto, 50);
	assert_int_equal(p.sport, 0);
	assert_ptr_equal(p.payload, f.b + 48);
	assert_int_equal(p.payload_len, 24);

	f = (struct frame){ 0 };
	ip = put_ip6(&f, 59, IP6_A, IP6_B);
	end_ip6(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_int_equal(p.l4_proto, 59);
	assert_int_equal(p.payload_len, 0);
	assert_int_equal(pkt_decoder_stats(d)->other_l4, 2);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_udp_lengths(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f = { 0 };
	struct pkt p;
	uint32_t ip, udp;

	(void)state;
	ip = put_ip4(&f, 17, IP_A, IP_B);
	udp = put_udp(&f, 7, 9);
	put_fill(&f, 100, 0);
	end_ip4(&f, ip);

	/* UDP length shorter than the IP payload: it bounds the payload */
	set16(&f, udp + 4, 8 + 60);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_int_equal(p.payload_len, 60);
	assert_int_equal(p.payload_wire_len, 60);
	/* ... and when the capture is shorter still */
	assert_int_equal(pkt_decode(d, PKT_LINK_RAW, f.b, 20 + 8 + 10, f.n, 0, &p), PKT_OK);
	assert_int_equal(p.payload_len, 10);
	assert_int_equal(p.payload_wire_len, 60);
	/* longer than the IP payload: the IP payload wins */
	set16(&f, udp + 4, 1000);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_int_equal(p.payload_len, 100);
	assert_int_equal(p.payload_wire_len, 100);
	/* below the header's own size */
	set16(&f, udp + 4, 7);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_ERR_MALFORMED);
	/* IP payload too short for a UDP header */
	set16(&f, ip + 2, 20 + 7);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_ERR_MALFORMED);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

/* A TCP frame cut after every byte: never a crash, and either the payload shrinks or the
 * frame is counted truncated. */
static void test_truncated_everywhere(void **state)
{
	static const uint8_t opts[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7 };
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f = { 0 };
	struct pkt p;
	uint32_t ip, headers = 14 + 4 + 20 + 20 + sizeof(opts), ok = 0, truncated = 0;

	(void)state;
	put_eth(&f, MAC_B, MAC_A, 0x8100);
	put_vlan(&f, 10, 0x0800);
	ip = put_ip4(&f, 6, IP_A, IP_B);
	put_tcp(&f, 1, 2, PKT_TCP_ACK, opts, sizeof(opts));
	put_fill(&f, 50, 0);
	end_ip4(&f, ip);

	for (uint32_t cap = 0; cap <= f.n; cap++) {
		/* a copy of exactly cap bytes, so ASan sees any read past them */
		uint8_t *copy = malloc(cap ? cap : 1);

		assert_non_null(copy);
		memcpy(copy, f.b, cap);
		enum pkt_result r = pkt_decode(d, PKT_LINK_ETHERNET, copy, cap, f.n, cap, &p);
		if (cap < headers) {
			assert_int_equal(r, PKT_ERR_TRUNCATED);
			truncated++;
		} else {
			assert_int_equal(r, PKT_OK);
			assert_int_equal(p.payload_len, cap - headers);
			assert_int_equal(p.payload_wire_len, 50);
			assert_ptr_equal(p.payload, copy + headers);
			assert_int_equal(p.mss, 1460);
			ok++;
		}
		/* the same cut on the wire too: the headers lie about the lengths */
		r = pkt_decode(d, PKT_LINK_ETHERNET, copy, cap, cap, cap, &p);
		assert_true(r == (cap == f.n ? PKT_OK : PKT_ERR_MALFORMED));
		free(copy);
	}
	const struct pkt_decode_stats *st = pkt_decoder_stats(d);
	assert_int_equal(st->ok, ok + 1);
	assert_int_equal(st->truncated, truncated);
	assert_int_equal(st->malformed, f.n);
	assert_int_equal(st->frames, 2 * (f.n + 1));
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

/* ---- fragments -------------------------------------------------------------------- */

/* The UDP datagram 4000 -> 5000 with n bytes of payload, as one buffer. */
static uint32_t make_udp_datagram(uint8_t *b, uint32_t n)
{
	struct frame f = { 0 };
	uint32_t udp = put_udp(&f, 4000, 5000);

	put_fill(&f, n, 0x20);
	end_udp(&f, udp);
	memcpy(b, f.b, f.n);
	return f.n;
}

/* Ethernet / IPv4 fragment of id carrying the len bytes at slice, which go at offset off. */
static void make_ip4_slice(struct frame *f, uint16_t id, const uint8_t *slice, uint32_t off,
			   uint32_t len, bool more)
{
	uint32_t ip;

	*f = (struct frame){ 0 };
	put_eth(f, MAC_B, MAC_A, 0x0800);
	ip = put_ip4(f, 17, IP_A, IP_B);
	set16(f, ip + 4, id);
	set16(f, ip + 6, (uint16_t)((more ? 0x2000 : 0) | off / 8));
	f->b[ip + 8] = off ? 30 : 64; /* only the first fragment's TTL counts */
	put(f, slice, len);
	end_ip4(f, ip);
}

static void make_ip4_fragment(struct frame *f, uint16_t id, const uint8_t *data, uint32_t off,
			      uint32_t len, bool more)
{
	make_ip4_slice(f, id, data + off, off, len, more);
}

static void make_ip6_fragment(struct frame *f, uint32_t id, const uint8_t *data, uint32_t off,
			      uint32_t len, bool more)
{
	uint32_t ip;

	*f = (struct frame){ 0 };
	put_eth(f, MAC_B, MAC_A, 0x86dd);
	ip = put_ip6(f, 60, IP6_A, IP6_B);
	put8(f, 44); /* destination options in the unfragmentable part */
	put8(f, 0);
	put_fill(f, 6, 0);
	put8(f, 17);
	put8(f, 0);
	put16(f, (uint16_t)(off | more));
	put32(f, id);
	put(f, data + off, len);
	end_ip6(f, ip);
}

static void test_ip4_fragments_out_of_order(void **state)
{
	static uint8_t dgram[3008];
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	const struct pkt_decode_stats *st = pkt_decoder_stats(d);
	struct frame f1, f2, f3;
	struct pkt p;
	uint32_t n = make_udp_datagram(dgram, 3000);

	(void)state;
	assert_int_equal(n, 3008);
	make_ip4_fragment(&f1, 77, dgram, 0, 1480, true);
	make_ip4_fragment(&f2, 77, dgram, 1480, 1480, true);
	make_ip4_fragment(&f3, 77, dgram, 2960, 48, false);

	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f2, &p), PKT_HELD);
	assert_int_equal(st->frag_held_packets, 1);
	assert_true(st->frag_held_bytes >= 1480);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f3, &p), PKT_HELD);
	assert_true(st->frag_held_bytes >= 1480 + 48);
	/* a duplicate is harmless */
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f3, &p), PKT_HELD);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f1, &p), PKT_OK);
	assert_true(p.reassembled);
	assert_int_equal(p.family, 4);
	assert_int_equal(p.l4_proto, 17);
	assert_int_equal(p.ttl, 64);
	assert_ip4(p.src, IP_A);
	assert_ip4(p.dst, IP_B);
	/* A flow counts what the fragments cost: every IP header and every frame. */
	assert_int_equal(p.ip_len, 3 * 20 + 3008);
	assert_int_equal(p.wire_len, 3 * (14 + 20) + 3008);
	assert_int_equal(p.sport, 4000);
	assert_int_equal(p.dport, 5000);
	assert_int_equal(p.payload_len, 3000);
	assert_int_equal(p.payload_wire_len, 3000);
	assert_memory_equal(p.payload, dgram + 8, 3000);
	assert_memory_equal(p.mac_src, MAC_A, 6);

	assert_int_equal(st->held, 3);
	assert_int_equal(st->ok, 1);
	assert_int_equal(st->udp, 1);
	assert_int_equal(st->frag_reassembled, 1);
	assert_int_equal(st->frag_held_packets, 0);
	assert_int_equal(st->frag_held_bytes, 0);
	assert_int_equal(st->frag_bad, 0);

	/* Non-last fragments must be multiples of 8 bytes; empty ones mean nothing. */
	make_ip4_fragment(&f1, 78, dgram, 0, 1479, true);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f1, &p), PKT_ERR_MALFORMED);
	make_ip4_fragment(&f1, 78, dgram, 8, 0, false);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f1, &p), PKT_ERR_MALFORMED);
	/* A fragment the capture cut cannot be reassembled. */
	make_ip4_fragment(&f1, 78, dgram, 0, 1480, true);
	assert_int_equal(pkt_decode(d, PKT_LINK_ETHERNET, f1.b, 100, f1.n, SEC, &p),
			 PKT_ERR_TRUNCATED);
	/* Past 65535 bytes in all. */
	make_ip4_slice(&f1, 78, dgram, 65528, 16, false);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f1, &p), PKT_ERR_MALFORMED);
	assert_int_equal(st->frag_bad, 1);
	assert_int_equal(st->frag_held_packets, 0);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_ip6_fragments(void **state)
{
	static uint8_t dgram[2508];
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	const struct pkt_decode_stats *st = pkt_decoder_stats(d);
	struct frame f1, f2, other;
	struct pkt p;
	uint32_t n = make_udp_datagram(dgram, 2500);

	(void)state;
	make_ip6_fragment(&f1, 0xdeadbeef, dgram, 0, 1232, true);
	make_ip6_fragment(&f2, 0xdeadbeef, dgram, 1232, n - 1232, false);
	/* the same addresses with another id must not mix in */
	make_ip6_fragment(&other, 0xdeadbeee, dgram, 0, 1232, true);

	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f2, &p), PKT_HELD);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &other, &p), PKT_HELD);
	assert_int_equal(st->frag_held_packets, 2);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f1, &p), PKT_OK);
	assert_true(p.reassembled);
	assert_int_equal(p.family, 6);
	assert_int_equal(p.l4_proto, 17);
	assert_memory_equal(p.src, IP6_A, 16);
	/* Each fragment: IPv6 header, the 8-byte extension header in front of the Fragment
	 * header, and the Fragment header. */
	assert_int_equal(p.ip_len, 2 * (40 + 8 + 8) + n);
	assert_int_equal(p.sport, 4000);
	assert_int_equal(p.dport, 5000);
	assert_int_equal(p.payload_len, 2500);
	assert_memory_equal(p.payload, dgram + 8, 2500);
	assert_int_equal(st->frag_reassembled, 1);
	assert_int_equal(st->frag_held_packets, 1);

	/* An atomic fragment (offset 0, M clear) is a whole packet. */
	make_ip6_fragment(&f1, 5, dgram, 0, n, false);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f1, &p), PKT_OK);
	assert_false(p.reassembled);
	assert_int_equal(p.payload_len, 2500);
	assert_int_equal(st->frag_reassembled, 1);

	/* Three pieces, the middle one last: it goes between the other two. */
	make_ip6_fragment(&f1, 6, dgram, 0, 1000, true);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f1, &p), PKT_HELD);
	make_ip6_fragment(&f1, 6, dgram, 2000, n - 2000, false);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f1, &p), PKT_HELD);
	make_ip6_fragment(&f1, 6, dgram, 1000, 1000, true);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f1, &p), PKT_OK);
	assert_memory_equal(p.payload, dgram + 8, 2500);
	assert_int_equal(st->frag_reassembled, 2);

	/* A second Fragment header in one packet is malformed. */
	f1 = (struct frame){ 0 };
	uint32_t ip = put_ip6(&f1, 44, IP6_A, IP6_B);
	put8(&f1, 44);
	put8(&f1, 0);
	put16(&f1, 0); /* atomic */
	put32(&f1, 1);
	put8(&f1, 17);
	put8(&f1, 0);
	put16(&f1, 1); /* offset 0, more */
	put32(&f1, 2);
	put_fill(&f1, 16, 0);
	end_ip6(&f1, ip);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f1, &p), PKT_ERR_MALFORMED);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_fragment_overlap(void **state)
{
	static uint8_t dgram[64];
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	const struct pkt_decode_stats *st = pkt_decoder_stats(d);
	struct frame f;
	struct pkt p;

	(void)state;
	make_udp_datagram(dgram, 56);
	make_ip4_fragment(&f, 9, dgram, 0, 24, true);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_HELD);
	make_ip4_fragment(&f, 9, dgram, 16, 16, true); /* overlaps bytes 16..23 */
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_ERR_MALFORMED);
	assert_int_equal(st->frag_bad, 1);
	assert_int_equal(st->frag_held_packets, 0);
	assert_int_equal(st->frag_held_bytes, 0);
	/* the set is gone: the rest alone does not complete anything */
	make_ip4_fragment(&f, 9, dgram, 24, 40, false);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_HELD);
	/* a last fragment that ends before data already held */
	make_ip4_fragment(&f, 9, dgram, 8, 8, false);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_ERR_MALFORMED);
	assert_int_equal(st->frag_bad, 2);
	/* overlapping the piece after it */
	make_ip4_fragment(&f, 10, dgram, 0, 16, true);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_HELD);
	make_ip4_fragment(&f, 10, dgram, 32, 32, false);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_HELD);
	make_ip4_fragment(&f, 10, dgram, 16, 24, true);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_ERR_MALFORMED);
	assert_int_equal(st->frag_bad, 3);
	assert_int_equal(st->frag_held_packets, 0);
	/* a fragment past 65535 bytes drops what was held of its packet */
	make_ip4_fragment(&f, 11, dgram, 0, 16, true);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_HELD);
	make_ip4_slice(&f, 11, dgram, 65512, 32, false);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_ERR_MALFORMED);
	assert_int_equal(st->frag_bad, 4);
	assert_int_equal(st->frag_held_packets, 0);
	/* IPv6 too (RFC 5722) */
	make_ip6_fragment(&f, 1, dgram, 0, 32, true);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_HELD);
	make_ip6_fragment(&f, 1, dgram, 24, 40, false);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_ERR_MALFORMED);
	assert_int_equal(st->frag_bad, 5);
	assert_int_equal(st->frag_held_packets, 0);
	assert_int_equal(st->frag_reassembled, 0);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_fragment_timeout(void **state)
{
	static uint8_t dgram[64];
	struct pkt_decoder_cfg cfg = { .frag_timeout_ns = 2 * SEC };
	struct pkt_decoder *d = pkt_decoder_create(&cfg);
	const struct pkt_decode_stats *st = pkt_decoder_stats(d);
	struct frame f, g;
	struct pkt p;

	(void)state;
	make_udp_datagram(dgram, 56);
	make_ip4_fragment(&f, 1, dgram, 0, 32, true);
	assert_int_equal(decode_at(d, PKT_LINK_ETHERNET, &f, 10 * SEC, &p), PKT_HELD);
	pkt_decoder_expire(d, 12 * SEC); /* exactly the timeout: not yet */
	assert_int_equal(st->frag_held_packets, 1);
	pkt_decoder_expire(d, 12 * SEC + 1);
	assert_int_equal(st->frag_dropped_timeout, 1);
	assert_int_equal(st->frag_held_packets, 0);
	assert_int_equal(st->frag_held_bytes, 0);

	/* Lazily: any later frame expires it. */
	assert_int_equal(decode_at(d, PKT_LINK_ETHERNET, &f, 20 * SEC, &p), PKT_HELD);
	make_ip4_fragment(&g, 1, dgram, 32, 32, false);
	g.b[14 + 9] = 6; /* another protocol: another packet */
	assert_int_equal(decode_at(d, PKT_LINK_ETHERNET, &g, 30 * SEC, &p), PKT_HELD);
	assert_int_equal(st->frag_dropped_timeout, 2);
	assert_int_equal(st->frag_held_packets, 1);

	/* and the late rest of a timed-out packet starts over rather than completing it */
	make_ip4_fragment(&g, 1, dgram, 32, 32, false);
	assert_int_equal(decode_at(d, PKT_LINK_ETHERNET, &f, 40 * SEC, &p), PKT_HELD);
	assert_int_equal(st->frag_dropped_timeout, 3);
	assert_int_equal(decode_at(d, PKT_LINK_ETHERNET, &g, 43 * SEC, &p), PKT_HELD);
	assert_int_equal(st->frag_dropped_timeout, 4);
	assert_int_equal(st->frag_reassembled, 0);
	/* capture time going backwards expires nothing */
	assert_int_equal(decode_at(d, PKT_LINK_ETHERNET, &f, 1 * SEC, &p), PKT_OK);
	assert_int_equal(st->frag_reassembled, 1);
	assert_int_equal(st->frag_dropped_timeout, 4);

	/* Out of order capture times: the oldest is not the first in line, so the packet is
	 * found expired when its next fragment looks it up. */
	make_ip4_fragment(&f, 2, dgram, 0, 32, true);
	assert_int_equal(decode_at(d, PKT_LINK_ETHERNET, &f, 100 * SEC, &p), PKT_HELD);
	make_ip4_fragment(&f, 3, dgram, 0, 32, true);
	assert_int_equal(decode_at(d, PKT_LINK_ETHERNET, &f, 50 * SEC, &p), PKT_HELD);
	make_ip4_fragment(&f, 3, dgram, 32, 32, false);
	assert_int_equal(decode_at(d, PKT_LINK_ETHERNET, &f, 60 * SEC, &p), PKT_HELD);
	assert_int_equal(st->frag_dropped_timeout, 5);
	assert_int_equal(st->frag_held_packets, 2);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_fragment_table_full(void **state)
{
	static uint8_t dgram[3008];
	struct pkt_decoder_cfg cfg = { .frag_max_packets = 2 };
	struct pkt_decoder *d = pkt_decoder_create(&cfg);
	const struct pkt_decode_stats *st = pkt_decoder_stats(d);
	struct frame f;
	struct pkt p;

	(void)state;
	make_udp_datagram(dgram, 3000);
	for (uint16_t id = 1; id <= 3; id++) {
		make_ip4_fragment(&f, id, dgram, 0, 1480, true);
		assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_HELD);
	}
	assert_int_equal(st->frag_dropped_full, 1); /* id 1, the oldest */
	assert_int_equal(st->frag_held_packets, 2);
	/* id 3 completes; id 1's rest finds nothing to complete */
	make_ip4_fragment(&f, 3, dgram, 1480, 1528, false);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.payload_len, 3000);
	make_ip4_fragment(&f, 1, dgram, 1480, 1528, false);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_HELD);
	assert_int_equal(st->frag_held_packets, 2);
	pkt_decoder_destroy(d);

	/* Bytes: room for one 1480-byte fragment only. */
	cfg = (struct pkt_decoder_cfg){ .frag_max_bytes = 2000 };
	d = pkt_decoder_create(&cfg);
	st = pkt_decoder_stats(d);
	make_ip4_fragment(&f, 1, dgram, 0, 1480, true);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_HELD);
	make_ip4_fragment(&f, 2, dgram, 0, 1480, true);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_HELD);
	assert_int_equal(st->frag_dropped_full, 1);
	assert_int_equal(st->frag_held_packets, 1);
	assert_true(st->frag_held_bytes <= 2000);
	/* id 2's second fragment cannot fit beside its first: the packet is given up */
	make_ip4_fragment(&f, 2, dgram, 1480, 1480, true);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_HELD);
	assert_int_equal(st->frag_dropped_full, 2);
	assert_int_equal(st->frag_held_packets, 0);
	assert_int_equal(st->frag_held_bytes, 0);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

/* Fragments of a VXLAN packet: reassembled first, then the tunnel is stripped. */
static void test_fragmented_tunnel(void **state)
{
	static struct frame inner;
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f1, f2;
	struct pkt p;
	uint32_t udp;

	(void)state;
	inner = (struct frame){ 0 };
	udp = put_udp(&inner, 50000, 4789);
	put32(&inner, 0x08000000);
	put32(&inner, 0x00000500); /* VNI 5 */
	put_inner_tcp(&inner, 0);
	end_udp(&inner, udp);
	make_ip4_fragment(&f1, 4, inner.b, 0, 40, true);
	make_ip4_fragment(&f2, 4, inner.b, 40, inner.n - 40, false);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f2, &p), PKT_HELD);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f1, &p), PKT_OK);
	assert_true(p.reassembled);
	assert_int_equal(p.tunnel_tier, 1);
	assert_int_equal(p.tunnel.type, PKT_TUN_VXLAN);
	assert_int_equal(p.tunnel.id, 5);
	assert_inner_tcp(&p, 0);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

/* ---- tunnels ---------------------------------------------------------------------- */

/* The outermost tunnel, carried by IPv4 192.168.1.1 -> .2. */
static void assert_outer_tunnel(const struct pkt_tunnel *t, uint8_t type, uint32_t id)
{
	assert_int_equal(t->type, type);
	assert_int_equal(t->family, 4);
	assert_int_equal(t->id, id);
	assert_ip4(t->src, OUT_A);
	assert_ip4(t->dst, OUT_B);
}

static void assert_tunnel4(const struct pkt *p, uint8_t type, uint32_t id)
{
	assert_int_equal(p->tunnel_tier, 1);
	assert_outer_tunnel(&p->tunnel, type, id);
}

static void test_vxlan(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f = { 0 };
	struct pkt p;
	uint32_t ip, udp;

	(void)state;
	put_eth(&f, MAC_B, MAC_A, 0x8100);
	put_vlan(&f, 99, 0x0800);
	ip = put_ip4(&f, 17, OUT_A, OUT_B);
	udp = put_udp(&f, 61000, 4789);
	put32(&f, 0x08000000);
	put32(&f, 0x12345600); /* VNI 0x123456 */
	put_inner_tcp(&f, 42);
	end_udp(&f, udp);
	end_ip4(&f, ip);

	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_VXLAN, 0x123456);
	assert_inner_tcp(&p, 42);
	assert_int_equal(p.ttl, 64);
	assert_int_equal(p.wscale, -1);
	assert_int_equal(pkt_decoder_stats(d)->tunnels, 1);

	/* Without the I flag it is just UDP to port 4789. */
	f.b[14 + 4 + 20 + 8] = 0;
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 0);
	assert_int_equal(p.l4_proto, 17);
	assert_int_equal(p.dport, 4789);
	assert_int_equal(p.vlan, 99);
	assert_memory_equal(p.mac_src, MAC_A, 6);
	assert_ip4(p.src, OUT_A);
	assert_int_equal(p.payload_len, f.n - (14 + 4 + 20 + 8));

	/* Inner frame cut by the capture: the frame is truncated. */
	f.b[14 + 4 + 20 + 8] = 0x08;
	assert_int_equal(pkt_decode(d, PKT_LINK_ETHERNET, f.b, f.n - 20, f.n, 0, &p),
			 PKT_ERR_TRUNCATED);
	/* VXLAN header cut: described as the UDP packet it is */
	assert_int_equal(pkt_decode(d, PKT_LINK_ETHERNET, f.b, 14 + 4 + 20 + 8 + 4, f.n, 0, &p),
			 PKT_OK);
	assert_int_equal(p.tunnel_tier, 0);
	assert_int_equal(p.payload_len, 4);
	assert_int_equal(pkt_decoder_stats(d)->tunnels, 1);

	/* Another port, by configuration. */
	pkt_decoder_destroy(d);
	d = pkt_decoder_create(&(struct pkt_decoder_cfg){ .vxlan_port = 8472 });
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 0);
	set16(&f, 14 + 4 + 20 + 2, 8472);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 1);

	/* An inner ICMP packet inherits nothing of the outer UDP header. */
	f = (struct frame){ 0 };
	uint32_t outer = put_ip4(&f, 17, OUT_A, OUT_B);
	udp = put_udp(&f, 61000, 8472);
	put32(&f, 0x08000000);
	put32(&f, 0x00000100);
	put_eth(&f, MAC_D, MAC_C, 0x0800);
	ip = put_ip4(&f, 1, IP_A, IP_B);
	put_fill(&f, 16, 0);
	end_ip4(&f, ip);
	end_udp(&f, udp);
	end_ip4(&f, outer);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_VXLAN, 1);
	assert_int_equal(p.l4_proto, 1);
	assert_int_equal(p.sport, 0);
	assert_int_equal(p.dport, 0);
	assert_int_equal(p.payload_len, 16);

	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_geneve(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f = { 0 };
	struct pkt p;
	uint32_t ip, udp, gen;

	(void)state;
	put_eth(&f, MAC_B, MAC_A, 0x86dd);
	ip = put_ip6(&f, 17, IP6_A, IP6_B);
	udp = put_udp(&f, 33333, 6081);
	gen = f.n;
	put8(&f, 2); /* version 0, 2 words of options */
	put8(&f, 0);
	put16(&f, 0x6558);
	put32(&f, 0xabcdef00);
	put16(&f, 0x0102); /* option class */
	put8(&f, 0x03);	   /* type */
	put8(&f, 1);	   /* 1 word of data */
	put32(&f, 0xcafef00d);
	put_inner_tcp(&f, 0);
	end_udp(&f, udp);
	end_ip6(&f, ip);

	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 1);
	assert_int_equal(p.tunnel.type, PKT_TUN_GENEVE);
	assert_int_equal(p.tunnel.family, 6);
	assert_int_equal(p.tunnel.id, 0xabcdef);
	assert_memory_equal(p.tunnel.src, IP6_A, 16);
	assert_memory_equal(p.tunnel.dst, IP6_B, 16);
	assert_inner_tcp(&p, 0);

	/* version 1 is not Geneve as we know it */
	f.b[gen] = 0x42;
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 0);
	assert_int_equal(p.dport, 6081);

	/* inner IPv4 directly */
	f = (struct frame){ 0 };
	ip = put_ip4(&f, 17, OUT_A, OUT_B);
	udp = put_udp(&f, 33333, 6081);
	put8(&f, 0);
	put8(&f, 0);
	put16(&f, 0x0800);
	put32(&f, 0x00000700);
	uint32_t inner = put_ip4(&f, 6, IP_A, IP_B);
	put_tcp(&f, 1234, 80, PKT_TCP_PSH | PKT_TCP_ACK, NULL, 0);
	put(&f, "hello", 5);
	end_ip4(&f, inner);
	end_udp(&f, udp);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_GENEVE, 7);
	assert_int_equal(p.sport, 1234);
	assert_memory_equal(p.payload, "hello", 5);

	/* inner IPv6 directly */
	f = (struct frame){ 0 };
	ip = put_ip4(&f, 17, OUT_A, OUT_B);
	udp = put_udp(&f, 33333, 6081);
	put8(&f, 0);
	put8(&f, 0);
	put16(&f, 0x86dd);
	put32(&f, 0x00000800);
	inner = put_ip6(&f, 17, IP6_A, IP6_B);
	uint32_t inner_udp = put_udp(&f, 1000, 2000);
	put(&f, "data", 4);
	end_udp(&f, inner_udp);
	end_ip6(&f, inner);
	end_udp(&f, udp);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_GENEVE, 8);
	assert_udp_1000_2000(&p, 6);
	/* an unknown protocol type is not stripped */
	set16(&f, 20 + 8 + 2, 0x894f);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 0);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

/* Outer Ethernet / IPv4 192.168.1.1 -> .2 / GRE with the given header words. */
static uint32_t put_outer_gre(struct frame *f, uint16_t flags, uint16_t proto)
{
	uint32_t ip;

	*f = (struct frame){ 0 };
	put_eth(f, MAC_B, MAC_A, 0x0800);
	ip = put_ip4(f, 47, OUT_A, OUT_B);
	put16(f, flags);
	put16(f, proto);
	return ip;
}

static void test_gre(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f;
	struct pkt p;
	uint32_t ip, inner;

	(void)state;
	/* key -> inner IPv4 */
	ip = put_outer_gre(&f, 0x2000, 0x0800);
	put32(&f, 0xdeadbeef);
	inner = put_ip4(&f, 6, IP_A, IP_B);
	put_tcp(&f, 1234, 80, PKT_TCP_PSH | PKT_TCP_ACK, NULL, 0);
	put(&f, "hello", 5);
	end_ip4(&f, inner);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_GRE, 0xdeadbeef);
	assert_int_equal(p.l4_proto, 6);
	assert_ip4(p.src, IP_A);
	assert_ip4(p.dst, IP_B);
	assert_int_equal(p.sport, 1234);
	assert_memory_equal(p.payload, "hello", 5);
	/* the only Ethernet header is the outer one */
	assert_memory_equal(p.mac_src, MAC_A, 6);

	/* checksum, key and sequence number -> inner IPv6 */
	ip = put_outer_gre(&f, 0xb000, 0x86dd);
	put32(&f, 0x12340000); /* checksum, reserved */
	put32(&f, 17);	       /* key */
	put32(&f, 99);	       /* sequence */
	inner = put_ip6(&f, 17, IP6_A, IP6_B);
	uint32_t udp = put_udp(&f, 1000, 2000);
	put(&f, "data", 4);
	end_udp(&f, udp);
	end_ip6(&f, inner);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_GRE, 17);
	assert_udp_1000_2000(&p, 6);

	/* version 1 (PPTP) and unknown protocols are reported as GRE packets */
	ip = put_outer_gre(&f, 0x3001, 0x880b);
	put_fill(&f, 20, 0);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 0);
	assert_int_equal(p.l4_proto, 47);
	assert_ptr_equal(p.payload, f.b + 34);
	assert_int_equal(p.payload_len, 24);
	ip = put_outer_gre(&f, 0, 0x1234);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 0);
	assert_int_equal(pkt_decoder_stats(d)->other_l4, 2);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_gre_teb(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f;
	struct pkt p;
	uint32_t ip;

	(void)state;
	ip = put_outer_gre(&f, 0, 0x6558);
	put_inner_tcp(&f, 0);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_TEB, 0);
	assert_inner_tcp(&p, 0);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_erspan(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f;
	struct pkt p;
	uint32_t ip;

	(void)state;
	/* type II: GRE with a sequence number, then Ver=1 VLAN COS En T SessionID, Index */
	ip = put_outer_gre(&f, 0x1000, 0x88be);
	put32(&f, 1234);	   /* GRE sequence */
	put16(&f, 0x1000 | 0x123); /* ver 1, VLAN 0x123 */
	put16(&f, 0xfc00 | 0x2a5); /* COS 7, En 3, T 0, session 0x2a5 */
	put32(&f, 0x000abcde);	   /* index */
	put_inner_tcp(&f, 30);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_ERSPAN, 0x2a5);
	assert_inner_tcp(&p, 30);

	/* type I: no sequence number, no ERSPAN header */
	ip = put_outer_gre(&f, 0, 0x88be);
	put_inner_tcp(&f, 0);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_ERSPAN, 0);
	assert_inner_tcp(&p, 0);

	/* type III with the platform-specific subheader (O bit) */
	ip = put_outer_gre(&f, 0x1000, 0x22eb);
	put32(&f, 7);		   /* GRE sequence */
	put16(&f, 0x2000 | 0x456); /* ver 2, VLAN */
	put16(&f, 0x3ff);	   /* session 1023 */
	put32(&f, 0x01020304);	   /* timestamp */
	put16(&f, 0x0bad);	   /* SGT */
	put8(&f, 0x00);		   /* P 0, FT 0 (Ethernet), HwID */
	put8(&f, 0x01);		   /* O */
	put32(&f, 0x55555555);	   /* platform-specific subheader */
	put32(&f, 0x66666666);
	put_inner_tcp(&f, 0);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_ERSPAN, 1023);
	assert_inner_tcp(&p, 0);

	/* type III without the subheader */
	ip = put_outer_gre(&f, 0x1000, 0x22eb);
	put32(&f, 8);
	put16(&f, 0x2000);
	put16(&f, 0x011);
	put32(&f, 0);
	put32(&f, 0);
	put_inner_tcp(&f, 0);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_ERSPAN, 0x11);
	assert_inner_tcp(&p, 0);

	/* type III carrying IP packets (frame type 2), no Ethernet header */
	ip = put_outer_gre(&f, 0x1000, 0x22eb);
	put32(&f, 9);
	put16(&f, 0x2000);
	put16(&f, 0x022);
	put32(&f, 0);
	put16(&f, 0);
	put8(&f, 2 << 2); /* FT 2 */
	put8(&f, 0);
	uint32_t inner = put_ip6(&f, 17, IP6_A, IP6_B);
	uint32_t udp = put_udp(&f, 1000, 2000);
	put(&f, "data", 4);
	end_udp(&f, udp);
	end_ip6(&f, inner);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_ERSPAN, 0x22);
	assert_udp_1000_2000(&p, 6);
	/* ... and an unknown frame type is not stripped */
	f.b[14 + 20 + 8 + 10] = 5 << 2;
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 0);

	/* a type II header with the wrong version is not stripped */
	ip = put_outer_gre(&f, 0x1000, 0x88be);
	put32(&f, 1);
	put16(&f, 0x3000);
	put16(&f, 1);
	put32(&f, 0);
	put_inner_tcp(&f, 0);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 0);
	assert_int_equal(p.l4_proto, 47);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_ipip(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f = { 0 };
	struct pkt p;
	uint32_t ip, inner, udp;

	(void)state;
	/* IPv4 in IPv4 */
	put_eth(&f, MAC_B, MAC_A, 0x0800);
	ip = put_ip4(&f, 4, OUT_A, OUT_B);
	inner = put_ip4(&f, 6, IP_A, IP_B);
	put_tcp(&f, 1234, 80, PKT_TCP_PSH | PKT_TCP_ACK, NULL, 0);
	put(&f, "hello", 5);
	end_ip4(&f, inner);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_IPIP, 0);
	assert_ip4(p.src, IP_A);
	assert_int_equal(p.ip_len, 45);
	assert_memory_equal(p.payload, "hello", 5);

	/* IPv6 in IPv4 (protocol 41) */
	f = (struct frame){ 0 };
	ip = put_ip4(&f, 41, OUT_A, OUT_B);
	inner = put_ip6(&f, 17, IP6_A, IP6_B);
	udp = put_udp(&f, 1000, 2000);
	put(&f, "data", 4);
	end_udp(&f, udp);
	end_ip6(&f, inner);
	end_ip4(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_tunnel4(&p, PKT_TUN_IPIP, 0);
	assert_udp_1000_2000(&p, 6);
	assert_memory_equal(p.src, IP6_A, 16);

	/* IPv4 in IPv6 */
	f = (struct frame){ 0 };
	ip = put_ip6(&f, 4, IP6_B, IP6_A);
	inner = put_ip4(&f, 17, IP_A, IP_B);
	udp = put_udp(&f, 1000, 2000);
	put(&f, "data", 4);
	end_udp(&f, udp);
	end_ip4(&f, inner);
	end_ip6(&f, ip);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 1);
	assert_int_equal(p.tunnel.type, PKT_TUN_IPIP);
	assert_int_equal(p.tunnel.family, 6);
	assert_memory_equal(p.tunnel.src, IP6_B, 16);
	assert_udp_1000_2000(&p, 4);
	assert_ip4(p.src, IP_A); /* the outer IPv6 address left nothing behind */
	assert_ip4(p.dst, IP_B);

	/* the inner version must match the protocol number */
	f.b[40] = 0x65;
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_ERR_MALFORMED);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

/* Ethernet / IPv4 / GRE key 7 / IPv4 172.16.0.1 -> .2 / UDP / VXLAN 42 / inner TCP. */
static void make_double_tunnel(struct frame *f)
{
	uint32_t ip, mid, udp;

	ip = put_outer_gre(f, 0x2000, 0x0800);
	put32(f, 7);
	mid = put_ip4(f, 17, MID_A, MID_B);
	udp = put_udp(f, 40000, 4789);
	put32(f, 0x08000000);
	put32(f, 42 << 8);
	put_inner_tcp(f, 0);
	end_udp(f, udp);
	end_ip4(f, mid);
	end_ip4(f, ip);
}

static void test_double_tunnel(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f;
	struct pkt p;

	(void)state;
	make_double_tunnel(&f);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 2);
	assert_outer_tunnel(&p.tunnel, PKT_TUN_GRE, 7);
	assert_inner_tcp(&p, 0);
	assert_int_equal(pkt_decoder_stats(d)->tunnels, 1);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_tunnel_tier_limit(void **state)
{
	struct pkt_decoder_cfg cfg = { .max_tunnel_tier = 1 };
	struct pkt_decoder *d = pkt_decoder_create(&cfg);
	struct frame f;
	struct pkt p;

	(void)state;
	make_double_tunnel(&f);
	assert_int_equal(decode(d, PKT_LINK_ETHERNET, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 1);
	assert_outer_tunnel(&p.tunnel, PKT_TUN_GRE, 7);
	/* the VXLAN packet itself */
	assert_int_equal(p.family, 4);
	assert_ip4(p.src, MID_A);
	assert_ip4(p.dst, MID_B);
	assert_int_equal(p.l4_proto, 17);
	assert_int_equal(p.sport, 40000);
	assert_int_equal(p.dport, 4789);
	assert_ptr_equal(p.payload, f.b + 14 + 20 + 8 + 20 + 8);
	assert_int_equal(p.payload_len, f.n - (14 + 20 + 8 + 20 + 8));
	assert_int_equal(pkt_decoder_stats(d)->udp, 1);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

/* IPIP nested deeper than the default limit of 4: the fifth layer is reported as is. */
static void test_tunnel_default_limit(void **state)
{
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	struct frame f = { 0 };
	struct pkt p;
	uint32_t ip[6];

	(void)state;
	for (int i = 0; i < 6; i++)
		ip[i] = put_ip4(&f, i < 5 ? 4 : 17, OUT_A, (const uint8_t[4]){ 10, 9, 9, i });
	uint32_t udp = put_udp(&f, 1000, 2000);
	put(&f, "data", 4);
	end_udp(&f, udp);
	for (int i = 5; i >= 0; i--)
		end_ip4(&f, ip[i]);
	assert_int_equal(decode(d, PKT_LINK_RAW, &f, &p), PKT_OK);
	assert_int_equal(p.tunnel_tier, 4);
	assert_int_equal(p.l4_proto, 4);
	assert_ip4(p.dst, (const uint8_t[4]){ 10, 9, 9, 4 });
	assert_ip4(p.tunnel.dst, (const uint8_t[4]){ 10, 9, 9, 0 });
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

static void test_tunnel_names(void **state)
{
	(void)state;
	assert_string_equal(pkt_tunnel_name(PKT_TUN_NONE), "");
	assert_string_equal(pkt_tunnel_name(PKT_TUN_VXLAN), "VXLAN");
	assert_string_equal(pkt_tunnel_name(PKT_TUN_IPIP), "IPIP");
	assert_string_equal(pkt_tunnel_name(PKT_TUN_GRE), "GRE");
	assert_string_equal(pkt_tunnel_name(PKT_TUN_GENEVE), "GENEVE");
	assert_string_equal(pkt_tunnel_name(PKT_TUN_ERSPAN), "ERSPAN");
	assert_string_equal(pkt_tunnel_name(PKT_TUN_TEB), "TEB");
	assert_string_equal(pkt_tunnel_name(7), "");
	assert_string_equal(pkt_tunnel_name(255), "");
}

/* A mix of everything, counted: each frame in one bucket, the ok ones split right. */
static void test_stats_add_up(void **state)
{
	static uint8_t dgram[64];
	struct pkt_decoder *d = pkt_decoder_create(NULL);
	const struct pkt_decode_stats *st = pkt_decoder_stats(d);
	struct frame f;
	struct pkt p;

	(void)state;
	pkt_decoder_destroy(NULL);
	make_double_tunnel(&f);
	decode(d, PKT_LINK_ETHERNET, &f, &p);		       /* ok tcp ip4 tunnel */
	pkt_decode(d, PKT_LINK_ETHERNET, f.b, 30, f.n, 0, &p); /* truncated */
	pkt_decode(d, PKT_LINK_ETHERNET, f.b, 30, 30, 0, &p);  /* malformed */
	pkt_decode(d, 4242, f.b, f.n, f.n, 0, &p);	       /* bad link type */
	decode_behind(d, PKT_LINK_RAW, NULL, 0, true, &p);     /* ok udp ip6 */
	make_udp_datagram(dgram, 56);
	make_ip4_fragment(&f, 1, dgram, 0, 32, true);
	decode(d, PKT_LINK_ETHERNET, &f, &p); /* held */
	make_ip4_fragment(&f, 1, dgram, 32, 32, false);
	decode(d, PKT_LINK_ETHERNET, &f, &p); /* ok udp ip4 */
	f = (struct frame){ 0 };
	put_eth(&f, MAC_B, MAC_A, 0x0806);
	put_fill(&f, 28, 0);
	decode(d, PKT_LINK_ETHERNET, &f, &p); /* skipped */
	f = (struct frame){ 0 };
	uint32_t ip = put_ip4(&f, 1, IP_A, IP_B);
	put_fill(&f, 8, 0);
	end_ip4(&f, ip);
	decode(d, PKT_LINK_RAW, &f, &p); /* ok icmp ip4 */

	assert_int_equal(st->frames, 9);
	assert_int_equal(st->ok, 4);
	assert_int_equal(st->held, 1);
	assert_int_equal(st->skipped_non_ip, 1);
	assert_int_equal(st->truncated, 1);
	assert_int_equal(st->malformed, 1);
	assert_int_equal(st->bad_linktype, 1);
	assert_int_equal(st->ip4, 3);
	assert_int_equal(st->ip6, 1);
	assert_int_equal(st->tcp, 1);
	assert_int_equal(st->udp, 2);
	assert_int_equal(st->other_l4, 1);
	assert_int_equal(st->tunnels, 1);
	assert_int_equal(st->frag_reassembled, 1);
	assert_stats_add_up(d);
	pkt_decoder_destroy(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eth_ip4_tcp_options),
		cmocka_unit_test(test_tcp_option_edges),
		cmocka_unit_test(test_eth_padding_and_ip4_options),
		cmocka_unit_test(test_qinq_innermost_vlan),
		cmocka_unit_test(test_link_types),
		cmocka_unit_test(test_non_ip_skipped),
		cmocka_unit_test(test_ip6_extension_headers),
		cmocka_unit_test(test_udp_lengths),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_ip4_fragments_out_of_order),
		cmocka_unit_test(test_ip6_fragments),
		cmocka_unit_test(test_fragment_overlap),
		cmocka_unit_test(test_fragment_timeout),
		cmocka_unit_test(test_fragment_table_full),
		cmocka_unit_test(test_fragmented_tunnel),
		cmocka_unit_test(test_vxlan),
		cmocka_unit_test(test_geneve),
		cmocka_unit_test(test_gre),
		cmocka_unit_test(test_gre_teb),
		cmocka_unit_test(test_erspan),
		cmocka_unit_test(test_ipip),
		cmocka_unit_test(test_double_tunnel),
		cmocka_unit_test(test_tunnel_tier_limit),
		cmocka_unit_test(test_tunnel_default_limit),
		cmocka_unit_test(test_tunnel_names),
		cmocka_unit_test(test_stats_add_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
