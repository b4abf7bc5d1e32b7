/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared body of the SQL protocol fuzz targets (fuzz_proto_mysql.c, fuzz_proto_postgresql.c):
 * define FZ_OPS to the parser's ops before including it.
 *
 * The input is a connection: byte 0 picks the context (bits 0-1 role, bit 2 keep values,
 * bit 3 a well-known port), byte 1 how many capture events there are (1..16), then four
 * control bytes per event (flags, length low, length high, gap), then the payload, which
 * the events take in turn (the last one takes what is left). Flags: bit 0 direction, bit 1
 * a gap follows the event, bit 4 that gap is in 4 KiB units, bit 3 close the connection
 * after the event. The target plays the caller's part as proto.h describes it and checks
 * what the parser promises: detect() never crashes, sane return values, every gap
 * consumed, at most a few bytes left unconsumed, messages with sane fields whose views
 * point into the parser's state or the input.
 *
 * Then it replays the same connection with every event cut in two and requires the same
 * messages, unless a resynchronisation happened (it legitimately looks at event starts).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#define MAX_EVENTS 16
#define CTL_BYTES  4
#define MAX_LEFT   64 /* bytes a parser may leave unconsumed */

struct side {
	uint8_t *buf;
	size_t len, cap;
	struct proto_seg segs[PROTO_MAX_SEGS];
	size_t nsegs;
	uint64_t stream_off;
};

struct out {
	uint8_t *buf;
	size_t len, cap;
};

struct fz {
	uint8_t *state;
	const uint8_t *in_data;
	size_t in_len;
	uint64_t emitted;
	struct proto_ctx ctx;
	struct side side[2];
	struct proto_stats st;
	struct out out;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static bool inside(const char *p, uint32_t n, const uint8_t *lo, size_t len)
{
	const uint8_t *q = (const uint8_t *)p;

	return lo && q >= lo && n <= len && q - lo <= (ptrdiff_t)(len - n);
}

static bool is_static_name(const struct proto_str *s)
{
	/* request types come from the parser's constant name tables */
	return s->len <= 32;
}

static void check_view(const struct fz *f, struct proto_str s, bool may_be_static)
{
	volatile uint8_t sink = 0;
	uint32_t i;

	if (!s.len)
		return;
	check(s.ptr != NULL);
	check(inside(s.ptr, s.len, f->state, FZ_OPS.state_size) ||
	      inside(s.ptr, s.len, f->in_data, f->in_len) || (may_be_static && is_static_name(&s)));
	for (i = 0; i < s.len; i++)
		sink ^= (uint8_t)s.ptr[i];
	(void)sink;
}

static void out_put(struct out *o, const void *p, size_t n)
{
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2;
		o->buf = realloc(o->buf, o->cap);
		check(o->buf != NULL);
	}
	if (n)
		memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void out_str(struct out *o, struct proto_str s)
{
	out_put(o, &s.len, sizeof(s.len));
	out_put(o, s.ptr, s.len);
}

static void on_msg(void *ctx, const struct proto_msg *m)
{
	struct fz *f = ctx;
	uint32_t kind = m->kind, dir = m->dir, status = m->status;

	f->emitted++;
	check(m->kind == PROTO_MSG_REQUEST || m->kind == PROTO_MSG_RESPONSE);
	check(m->dir == PROTO_DIR_EGRESS || m->dir == PROTO_DIR_INGRESS);
	check(m->start_ts <= m->end_ts);
	if (m->kind == PROTO_MSG_RESPONSE)
		check(m->status == PROTO_STATUS_OK || m->status == PROTO_STATUS_CLIENT_ERROR ||
		      m->status == PROTO_STATUS_SERVER_ERROR || m->status == PROTO_STATUS_UNKNOWN);
	check_view(f, m->method, true);
	check_view(f, m->resource, false);
	check_view(f, m->exception, false);
	check_view(f, m->result, false);
	check_view(f, m->version, true);
	out_put(&f->out, &kind, sizeof(kind));
	out_put(&f->out, &dir, sizeof(dir));
	out_put(&f->out, &m->flags, sizeof(m->flags));
	out_put(&f->out, &m->tcp_seq, sizeof(m->tcp_seq));
	out_put(&f->out, &m->length, sizeof(m->length));
	out_put(&f->out, &m->code, sizeof(m->code));
	out_put(&f->out, &status, sizeof(status));
	out_put(&f->out, &m->affected_rows, sizeof(m->affected_rows));
	out_put(&f->out, &m->request_id, sizeof(m->request_id));
	out_str(&f->out, m->method);
	out_str(&f->out, m->resource);
	out_str(&f->out, m->exception);
	out_str(&f->out, m->result);
}

static void side_consume(struct side *s, size_t n)
{
	size_t i, k = 0;

	if (n < s->len)
		memmove(s->buf, s->buf + n, s->len - n);
	for (i = 0; i < s->nsegs; i++) {
		struct proto_seg g = s->segs[i];

		if (g.off + g.len <= n)
			continue;
		if (g.off < n) {
			g.len -= n - g.off;
			g.tcp_seq += (uint32_t)(n - g.off);
			g.off = 0;
		} else {
			g.off -= n;
		}
		s->segs[k++] = g;
	}
	s->nsegs = k;
	s->len -= n;
	s->stream_off += n;
}

static void event(struct fz *f, enum proto_dir dir, const uint8_t *p, size_t n, uint64_t gap,
		  uint64_t ts, uint32_t seq)
{
	struct side *s = &f->side[dir];
	struct proto_input in;
	size_t old = s->len;
	int r;

	FZ_OPS.detect(p, n, dir, &f->ctx);
	if (s->len + n > s->cap) {
		s->cap = s->len + n;
		s->buf = realloc(s->buf, s->cap ? s->cap : 1);
		check(s->buf != NULL);
	}
	if (n)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
	if (s->nsegs == PROTO_MAX_SEGS) {
		s->segs[0].len += s->segs[1].len;
		s->segs[0].ts_end = s->segs[1].ts_end;
		memmove(&s->segs[1], &s->segs[2], (s->nsegs - 2) * sizeof(s->segs[0]));
		s->nsegs--;
	}
	s->segs[s->nsegs++] = (struct proto_seg){
		.off = old, .len = n, .ts_start = ts, .ts_end = ts + 10, .tcp_seq = seq
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
	in.ctx = &f->ctx;
	f->in_data = s->buf;
	f->in_len = s->len;
	r = FZ_OPS.parse(f->state, &in, on_msg, f, &f->st);
	f->in_data = NULL;
	f->in_len = 0;
	if (r == PROTO_ERROR) {
		s->stream_off += s->len + gap;
		s->len = 0;
		s->nsegs = 0;
		return;
	}
	check(r >= 0 && (size_t)r <= s->len);
	check(!gap || (size_t)r == s->len);
	side_consume(s, (size_t)r);
	s->stream_off += gap;
	check(s->len <= MAX_LEFT);
}

static void replay(struct fz *f, const uint8_t *data, size_t size, bool split)
{
	uint32_t seq[2] = { 1, 0x80000000u };
	const uint8_t *payload, *ctl;
	size_t nev, i, rest, n, cut;
	uint64_t ts = 1000, gap;

	memset(f, 0, sizeof(*f));
	f->state = calloc(1, FZ_OPS.state_size);
	check(f->state != NULL);
	f->ctx.l4_proto = 6;
	f->ctx.role = data[0] & 3;
	if (f->ctx.role > 2)
		f->ctx.role = 0;
	f->ctx.opts = (data[0] & 4) ? PROTO_OPT_KEEP_VALUES : 0;
	f->ctx.server_port = (data[0] & 8) ? (FZ_OPS.id == PROTO_MYSQL ? 3306 : 5432) : 40000;
	nev = size > 1 ? data[1] % MAX_EVENTS + 1 : 1;
	ctl = data + 2;
	if (size < 2 + nev * CTL_BYTES) {
		nev = 0;
		rest = size > 2 ? size - 2 : 0;
		payload = data + (size > 2 ? 2 : size);
		event(f, PROTO_DIR_EGRESS, payload, rest, 0, ts, seq[0]);
	} else {
		payload = data + 2 + nev * CTL_BYTES;
		rest = size - 2 - nev * CTL_BYTES;
	}
	for (i = 0; i < nev; i++, ctl += CTL_BYTES, ts += 1000) {
		enum proto_dir dir = (ctl[0] & 1) ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;

		n = (size_t)ctl[1] | (size_t)ctl[2] << 8;
		if (n > rest || i + 1 == nev)
			n = rest;
		gap = 0;
		if (ctl[0] & 2)
			gap = (uint64_t)ctl[3] * ((ctl[0] & 16) ? 4096 : 1) + 1;
		cut = split && n > 1 ? 1 + (i * 40503u + n * 2654435761u) % (n - 1) : 0;
		if (cut)
			event(f, dir, payload, cut, 0, ts, seq[dir]);
		event(f, dir, payload + cut, n - cut, gap, ts, seq[dir] + (uint32_t)cut);
		seq[dir] += (uint32_t)(n + gap);
		payload += n;
		rest -= n;
		if (ctl[0] & 8) {
			FZ_OPS.on_close(f->state, ts + 500, on_msg, f, &f->st);
			f->side[0].len = f->side[1].len = 0;
			f->side[0].nsegs = f->side[1].nsegs = 0;
		}
	}
	FZ_OPS.on_close(f->state, ts + 500, on_msg, f, &f->st);
	check(f->emitted == f->st.messages);
	/* reusable after a close, and reset() is harmless */
	if (FZ_OPS.reset) {
		FZ_OPS.reset(f->state, PROTO_DIR_EGRESS);
		FZ_OPS.reset(f->state, PROTO_DIR_INGRESS);
	}
}

static void release(struct fz *f)
{
	if (FZ_OPS.release)
		FZ_OPS.release(f->state);
	free(f->state);
	free(f->side[0].buf);
	free(f->side[1].buf);
	free(f->out.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz whole, cut;

	if (!size)
		return 0;
	replay(&whole, data, size, false);
	replay(&cut, data, size, true);
	if (!whole.st.resyncs && !cut.st.resyncs && !whole.st.parse_errors &&
	    !cut.st.parse_errors) {
		check(whole.out.len == cut.out.len);
		check(!whole.out.len || memcmp(whole.out.buf, cut.out.buf, whole.out.len) == 0);
		check(whole.st.messages == cut.st.messages);
	}
	release(&whole);
	release(&cut);
	return 0;
}
