/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the HTTP/2 + gRPC parser. The input is a connection: its first
 * byte says how many capture events there are (1..16), then four control bytes per event
 * (flags, length low, length high, gap), then the payload, which the events take in turn
 * (the last one takes what is left). Flags: bit 0 direction, bit 1 a gap follows the
 * event, bit 4 that gap is in 4 KiB units, bit 3 close the connection after the event,
 * bit 5 the caller runs out of memory for this direction's leftovers (reset()), bits 6-7
 * the role in proto_ctx. detect() runs on every event; parse() is played as the intake
 * plays it (unconsumed bytes presented again with the next event's, all consumed when a
 * gap follows, at most 64 KiB kept); then on_close, release. Checks: sane return values,
 * leftovers stay small (a few KiB: frame headers, control frames), every view readable.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#define MAX_EVENTS 16
#define CTL_BYTES  4
#define LEFT_MAX   (64 * 1024)

struct side {
	uint8_t *buf;
	size_t len, cap;
	struct proto_seg segs[PROTO_MAX_SEGS];
	size_t nsegs;
	uint64_t stream_off;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void view(struct proto_str s)
{
	volatile uint8_t sink = 0;

	if (!s.len)
		return;
	check(s.ptr != NULL && s.len < (1u << 20));
	for (uint32_t i = 0; i < s.len; i++)
		sink ^= (uint8_t)s.ptr[i];
	(void)sink;
}

static void on_msg(void *ctx, const struct proto_msg *m)
{
	uint64_t *n = ctx;

	(*n)++;
	check(m->kind == PROTO_MSG_REQUEST || m->kind == PROTO_MSG_RESPONSE);
	check(m->status <= PROTO_STATUS_PARSE_FAILED);
	check(m->has_session_id && m->session_id == m->request_id);
	check(m->proto_override == 0 || m->proto_override == PROTO_GRPC);
	view(m->version);
	view(m->method);
	view(m->domain);
	view(m->resource);
	view(m->endpoint);
	view(m->exception);
	view(m->result);
	view(m->x_request_id);
	view(m->trace_id);
	view(m->span_id);
}

static void feed(const struct proto_ops *ops, void *state, struct side *s, enum proto_dir dir,
		 const uint8_t *p, size_t n, uint64_t gap, uint64_t ts, const struct proto_ctx *ctx,
		 uint64_t *msgs, struct proto_stats *st)
{
	struct proto_input in;
	size_t old = s->len;
	int r;

	if (s->len + n > s->cap) {
		s->cap = s->len + n + 64;
		s->buf = realloc(s->buf, s->cap);
		check(s->buf != NULL);
	}
	if (n)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
	if (s->nsegs == PROTO_MAX_SEGS) {
		s->segs[0].len += s->segs[1].len;
		memmove(&s->segs[1], &s->segs[2], (s->nsegs - 2) * sizeof(s->segs[0]));
		s->nsegs--;
	}
	s->segs[s->nsegs++] = (struct proto_seg){
		.off = old, .len = n, .ts_start = ts, .ts_end = ts + 1, .tcp_seq = 1000
	};
	memset(&in, 0, sizeof(in));
	in.dir = dir;
	in.data = s->buf;
	in.len = s->len;
	in.stream_off = s->stream_off;
	in.segs = s->segs;
	in.nsegs = s->nsegs;
	in.gap = gap;
	in.event_start = old;
	in.ctx = ctx;
	r = ops->parse(state, &in, on_msg, msgs, st);
	if (r == PROTO_ERROR) {
		s->stream_off += s->len + gap;
		s->len = s->nsegs = 0;
		return;
	}
	check(r >= 0 && (size_t)r <= s->len);
	if (gap)
		check((size_t)r == s->len);
	/* never more than a frame header or a small control frame held back */
	check(s->len - (size_t)r <= 1024);
	if (s->len > (size_t)r)
		memmove(s->buf, s->buf + r, s->len - (size_t)r);
	{
		size_t k = 0;

		for (size_t i = 0; i < s->nsegs; i++) {
			struct proto_seg g = s->segs[i];

			if (g.off + g.len <= (size_t)r)
				continue;
			if (g.off < (size_t)r) {
				g.len -= (size_t)r - g.off;
				g.off = 0;
			} else {
				g.off -= (size_t)r;
			}
			s->segs[k++] = g;
		}
		s->nsegs = k;
	}
	s->len -= (size_t)r;
	s->stream_off += (size_t)r + gap;
	if (s->len > LEFT_MAX) {
		s->stream_off += s->len;
		s->len = s->nsegs = 0;
		if (ops->reset)
			ops->reset(state, dir);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct proto_ops *ops = &proto_http2_ops;
	struct side sides[2];
	struct proto_stats st;
	struct proto_ctx ctx = { .l4_proto = 6 };
	uint64_t msgs = 0;
	size_t nev, pos;
	uint8_t *state;

	if (size < 1 + CTL_BYTES)
		return 0;
	nev = (size_t)(data[0] % MAX_EVENTS) + 1;
	if (size < 1 + nev * CTL_BYTES)
		return 0;
	pos = 1 + nev * CTL_BYTES;
	ctx.role = (uint8_t)((data[1] >> 6) % 3);
	state = calloc(1, ops->state_size);
	check(state != NULL);
	memset(sides, 0, sizeof(sides));
	memset(&st, 0, sizeof(st));
	for (size_t i = 0; i < nev; i++) {
		const uint8_t *c = data + 1 + i * CTL_BYTES;
		size_t want = (size_t)c[1] | (size_t)c[2] << 8;
		size_t n = i + 1 == nev ? size - pos : (want < size - pos ? want : size - pos);
		enum proto_dir dir = (c[0] & 1) ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
		uint64_t gap = (c[0] & 2) ? (uint64_t)c[3] * ((c[0] & 0x10) ? 4096 : 1) : 0;

		(void)ops->detect(data + pos, n, dir, &ctx);
		feed(ops, state, &sides[dir], dir, data + pos, n, gap, 1000 + i, &ctx, &msgs, &st);
		pos += n;
		if (c[0] & 0x20) {
			sides[dir].len = sides[dir].nsegs = 0;
			ops->reset(state, dir);
		}
		if (c[0] & 8) {
			ops->on_close(state, 5000 + i, on_msg, &msgs, &st);
			if (ops->release)
				ops->release(state);
			memset(state, 0, ops->state_size);
			sides[0].len = sides[0].nsegs = 0;
			sides[1].len = sides[1].nsegs = 0;
		}
	}
	ops->on_close(state, 9999, on_msg, &msgs, &st);
	if (ops->release)
		ops->release(state);
	check(st.messages == msgs);
	free(state);
	free(sides[0].buf);
	free(sides[1].buf);
	return 0;
}
