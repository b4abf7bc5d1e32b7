/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the packet decoder (pkt_decode). The first byte picks the link type
 * (low 3 bits) and the decoder's limits (the rest: a tunnel tier limit of 1 and a fragment
 * table of 2 packets / 4 KiB, so eviction and the limit are reached). Then come frames,
 * each as a 2-byte big-endian length and its bytes; a length past the end of the input
 * makes a frame the capture cut. One decoder sees all of them, 0.7 s apart, so fragments
 * are reassembled, evicted and timed out across frames.
 *
 * Each frame is copied to a buffer of exactly its size, so ASan catches any read past it,
 * and every result is checked: payload inside the frame (or, reassembled, readable to its
 * end), payload_len <= payload_wire_len, family 4 or 6, stats adding up.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pkt.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int linktypes[8] = {
	PKT_LINK_ETHERNET, PKT_LINK_RAW,  PKT_LINK_LINUX_SLL, PKT_LINK_LINUX_SLL2,
	PKT_LINK_NULL,	   PKT_LINK_IPV4, PKT_LINK_IPV6,      12345 /* unknown */,
};

static void check_stats(const struct pkt_decode_stats *st, uint64_t frames,
			const struct pkt_decoder_cfg *cfg)
{
	CHECK(st->frames == frames);
	CHECK(st->frames == st->ok + st->held + st->skipped_non_ip + st->truncated + st->malformed +
				    st->bad_linktype);
	CHECK(st->ok == st->ip4 + st->ip6);
	CHECK(st->ok == st->tcp + st->udp + st->other_l4);
	CHECK(st->tunnels <= st->ok);
	CHECK(!cfg->frag_max_packets || st->frag_held_packets <= cfg->frag_max_packets);
	CHECK(!cfg->frag_max_bytes || st->frag_held_bytes <= cfg->frag_max_bytes);
	CHECK(!st->frag_held_packets == !st->frag_held_bytes);
}

static void check_packet(const struct pkt *p, const uint8_t *frame, uint32_t cap, uint8_t max_tier)
{
	volatile uint8_t sink = 0;

	CHECK(p->family == 4 || p->family == 6);
	CHECK(p->payload_len <= p->payload_wire_len);
	CHECK(p->payload || !p->payload_len);
	CHECK(p->wscale >= -1 && p->wscale <= 14);
	CHECK(p->tunnel_tier <= max_tier);
	if (p->tunnel_tier) {
		CHECK(p->tunnel.type >= PKT_TUN_VXLAN && p->tunnel.type <= PKT_TUN_TEB);
		CHECK(p->tunnel.family == 4 || p->tunnel.family == 6);
		CHECK(*pkt_tunnel_name(p->tunnel.type));
	} else {
		CHECK(p->tunnel.type == PKT_TUN_NONE);
	}
	if (p->family == 4)
		for (int i = 4; i < 16; i++)
			CHECK(!p->src[i] && !p->dst[i]);
	if (p->l4_proto != 6 && p->l4_proto != 17)
		CHECK(!p->sport && !p->dport);
	if (p->reassembled) {
		CHECK(p->payload_wire_len <= 65535);
	} else {
		CHECK(p->payload >= frame && p->payload + p->payload_len <= frame + cap);
		CHECK(p->ip_len >= p->payload_wire_len);
	}
	/* Read all of it: ASan reports any byte that is not the decoder's to give. */
	for (uint32_t i = 0; i < p->payload_len; i++)
		sink ^= p->payload[i];
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_decoder_cfg cfg = { 0 };
	struct pkt_decoder *d;
	uint64_t frames = 0, ts = 0;
	int linktype;

	if (size < 1)
		return 0;
	linktype = linktypes[data[0] & 7];
	if (data[0] & 0x08)
		cfg.max_tunnel_tier = 1;
	if (data[0] & 0x10) {
		cfg.frag_max_packets = 2;
		cfg.frag_max_bytes = 4096;
	}
	d = pkt_decoder_create(&cfg);
	if (!d)
		return 0;
	data++;
	size--;

	while (size >= 2) {
		uint32_t wire = (uint32_t)data[0] << 8 | data[1];
		uint32_t cap = wire < size - 2 ? wire : (uint32_t)(size - 2);
		uint8_t *frame = malloc(cap ? cap : 1);
		enum pkt_result r;
		struct pkt p;

		if (!frame)
			break;
		memcpy(frame, data + 2, cap);
		r = pkt_decode(d, linktype, frame, cap, wire, ts, &p);
		frames++;
		CHECK(r == PKT_OK || r == PKT_HELD || r == PKT_SKIP || r == PKT_ERR_TRUNCATED ||
		      r == PKT_ERR_MALFORMED || r == PKT_ERR_LINKTYPE);
		CHECK((r == PKT_ERR_LINKTYPE) == (linktype == 12345));
		if (r == PKT_OK) {
			CHECK(p.cap_len == cap && p.ts_ns == ts);
			check_packet(&p, frame, cap, cfg.max_tunnel_tier ? 1 : 4);
		}
		free(frame);
		check_stats(pkt_decoder_stats(d), frames, &cfg);
		data += 2 + cap;
		size -= 2 + cap;
		ts += 700000000ull;
		if (frames % 8 == 0)
			pkt_decoder_expire(d, ts);
	}
	pkt_decoder_destroy(d);
	return 0;
}
