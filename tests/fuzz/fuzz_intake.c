/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the agent's intake: the decoder of ring records and everything
 * behind it (connection table, leftovers, parsers, pairing, record rendering). The input
 * is a sequence of records: 8 control bytes each, then the payload the control asks for.
 * Control: event type (data, close, exit, or garbage), socket id (one of 8, so
 * connections are reused), direction, claimed cap_len vs bytes present, gap size, and a
 * clock step that sometimes crosses the request timeout. Small table and budget limits
 * make eviction and budget exhaustion happen. Every record rendered must be valid and
 * every byte of memory returned: the run ends with flush and destroy under ASan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/intake.h"
#include "agent/record.h"
#include "common/jsonw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct jsonw json;
static uint64_t rendered;

static void sink(void *ctx, const struct l7_record *r)
{
	(void)ctx;
	if (record_write_json(&json, r) == 0 && json.len > 2 && json.buf[0] == '{' &&
	    json.buf[json.len - 1] == '\n')
		rendered++;
	else
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t rec[sizeof(struct fs_event) + FS_CAP_MAX];
	struct intake_cfg cfg = {
		.max_conns = 4,
		.max_pending = 3,
		.conn_idle_ns = 50000,
		.request_timeout_ns = 20000,
		.mem_budget = 64 * 1024,
	};
	struct intake *in = intake_create(&cfg, sink, NULL);
	uint64_t now = 1000;
	size_t off = 0;

	if (!in)
		return 0;
	while (off + 8 <= size) {
		const uint8_t *c = data + off;
		struct fs_event *ev = (struct fs_event *)rec;
		size_t want = c[3] | (size_t)(c[4] & 0x3f) << 8, have;
		size_t rec_size;

		off += 8;
		have = size - off < want ? size - off : want;
		memset(ev, 0, sizeof(*ev));
		ev->type = (c[0] & 3) == 3 ? c[0] : (c[0] & 3) + 1u; /* sometimes an unknown type */
		ev->socket_id = c[1] & 7;
		ev->direction = (c[2] & 1) ? FS_DIR_INGRESS : FS_DIR_EGRESS;
		ev->pid = 100 + (c[2] >> 6);
		ev->tid = ev->pid;
		ev->family = (c[2] & 2) ? 6 : 4;
		ev->l4_proto = (c[2] & 4) ? 17 : 6;
		ev->tcp_seq = (uint32_t)c[5] << 24 | c[6];
		now += (uint64_t)c[7] * 100;
		ev->ts_enter_ns = now;
		ev->ts_exit_ns = now + 10;
		ev->cap_len = have;
		ev->syscall_len = have + ((c[2] & 8) ? (uint64_t)c[5] * 37 : 0);
		memcpy(rec + sizeof(*ev), data + off, have);
		off += have;
		rec_size = sizeof(*ev) + have;
		if (c[2] & 0x10) /* a record that lies about its payload */
			ev->cap_len = have + 1 + (c[6] & 0xf);
		if (c[2] & 0x20) /* or is cut short */
			rec_size = c[6] % (sizeof(*ev) + 1);
		intake_event(in, rec, rec_size, 0);
		if (c[0] & 0x80)
			intake_tick(in, now);
	}
	intake_flush_all(in, now + 1);
	/* Everything drawn from the budget came back, but for the requests kept for reuse. */
	if (in->st.mem_used != in->nspare * sizeof(struct pending_req))
		__builtin_trap();
	intake_destroy(in);
	return 0;
}
