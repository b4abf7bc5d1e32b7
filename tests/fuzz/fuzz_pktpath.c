/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the whole packet path: frames decoded, tracked as flows,
 * reassembled and parsed into request logs (pktpath.c). The input is a series of frames,
 * each a 2-byte little-endian length, a 1-byte time step (ms) and that many bytes of an
 * Ethernet frame; to reach TCP and the parsers quickly, a frame whose first byte is 'T'
 * is instead a TCP segment between two fixed endpoints, built from the next bytes (flags,
 * direction, sequence offset, payload). Checks: no crash, no leak, and every frame lands
 * in exactly one decode outcome.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pkt_source.h"
#include "agent/pktpath.h"

static void no_l4(void *ctx, const struct l4_record *r)
{
	(void)ctx;
	if (r->f.l4_proto != 6 && r->f.l4_proto != 17)
		abort();
}

static void no_l7(void *ctx, const struct l7_record *r)
{
	(void)ctx;
	if (r->signal_source != REC_SIGNAL_PACKET)
		abort();
}

/* Ethernet/IPv4/TCP, checksums left zero (nothing checks them). */
static size_t tcp_frame(uint8_t *f, const uint8_t *in, size_t n)
{
	uint8_t flags = n > 0 ? in[0] : 0x18, dir = n > 1 ? in[1] & 1 : 0;
	uint32_t seq = n > 3 ? (uint32_t)(in[2] | in[3] << 8) * 16 : 0;
	size_t plen = n > 4 ? n - 4 : 0;
	uint8_t a[4] = { 10, 0, 0, 1 }, b[4] = { 10, 0, 0, 2 };
	uint16_t ipl = (uint16_t)(20 + 20 + plen);

	memset(f, 0, 54);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)(ipl >> 8);
	f[17] = (uint8_t)ipl;
	f[22] = 64;
	f[23] = 6;
	memcpy(f + 26, dir ? b : a, 4);
	memcpy(f + 30, dir ? a : b, 4);
	f[34] = dir ? 0 : 0xc3, f[35] = dir ? 80 : 0x50; /* ports 50000 <-> 80 */
	f[36] = dir ? 0xc3 : 0, f[37] = dir ? 0x50 : 80;
	seq += dir ? 0x80000000u : 1000;
	f[38] = (uint8_t)(seq >> 24), f[39] = (uint8_t)(seq >> 16);
	f[40] = (uint8_t)(seq >> 8), f[41] = (uint8_t)seq;
	f[46] = 0x50;
	f[47] = flags;
	f[48] = 0xff, f[49] = 0xff;
	memcpy(f + 54, in + 4, plen);
	return 54 + plen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pktpath_cfg cfg = {
		.l7 = { .max_conns = 64,
			.max_pending = 8,
			.conn_idle_ns = 5000000000ull,
			.request_timeout_ns = 2000000000ull,
			.mem_budget = 1 << 20 },
		.flow = { .max_flows = 16, .reasm_bytes = 4096 },
		.l7_enabled = true,
	};
	struct pktpath *p = pktpath_create(&cfg, no_l4, no_l7, NULL);
	struct pktpath_stats st;
	uint64_t ts = 1700000000000000000ull, frames = 0;
	uint8_t frame[2048];
	size_t off = 0;

	if (!p)
		return 0;
	/* Half the inputs as the host end of a veth, which learns addresses from what it
	 * receives (the high bit of each frame's time byte says which way it went). */
	pktpath_set_capture_point(p, "fuzz0", size & 1);
	while (off + 3 <= size) {
		uint8_t dir = data[off + 2] & 0x80 ? PKT_DIR_IN : PKT_DIR_OUT;

		size_t len = (size_t)(data[off] | data[off + 1] << 8) % 1500;
		const uint8_t *in = data + off + 3;

		ts += (uint64_t)data[off + 2] * 1000000ull;
		off += 3;
		if (len > size - off)
			len = size - off;
		if (len && in[0] == 'T') {
			size_t n = tcp_frame(frame, in + 1, len - 1);

			pktpath_frame(p, 1, frame, (uint32_t)n, (uint32_t)n, ts, dir);
		} else {
			pktpath_frame(p, 1, in, (uint32_t)len, (uint32_t)len, ts, dir);
		}
		frames++;
		off += len;
	}
	pktpath_flush(p, ts + 60000000000ull);
	pktpath_stats(p, &st);
	if (st.decode.frames != frames ||
	    st.decode.ok + st.decode.held + st.decode.skipped_non_ip + st.decode.truncated +
			    st.decode.malformed + st.decode.bad_linktype !=
		    frames)
		abort();
	if (st.flow.flows_active != 0 || st.flow.flows_closed != st.flow.flows_created)
		abort();
	pktpath_destroy(p);
	return 0;
}
