/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A libFuzzer body shared by the targets of parsers behind struct proto_ops (DNS, Redis,
 * Memcached): the target defines FUZZ_OPS (the parser) and includes this file.
 *
 * Input: byte 0 chooses the connection context (bit 0 UDP, bits 1-2 role, bit 3 the
 * protocol's well-known port, bit 4 PROTO_OPT_KEEP_VALUES, bit 5 no context at all), byte
 * 1 the number of capture events (1..16), then four control bytes per event (flags, length
 * low, length high, gap), then the payload, which the events take in turn. Flags: bit 0
 * direction, bit 1 a gap follows the event, bit 4 that gap is in 4 KiB units, bit 3 close
 * the connection after the event, bit 5 reset() the direction after the event.
 *
 * The target plays the caller's part as proto.h describes it (leftovers presented again,
 * a datagram alone, everything dropped after PROTO_ERROR) and checks what the parser
 * promises: sane return values, every gap consumed, leftovers bounded, messages whose
 * fields are sane and whose views point into the parser's state or the input and are
 * readable. It runs detect() on every event. Then it replays the connection with each
 * event cut in two, and when neither replay resynchronised or failed, requires the very
 * same messages.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#ifndef FUZZ_OPS
#error "define FUZZ_OPS before including fuzz_proto_common.h"
#endif
#ifndef FUZZ_PORT
#define FUZZ_PORT 0
#endif
/* Most bytes a parser may leave unconsumed in one direction. */
#ifndef FUZZ_MAX_LEFT
#define FUZZ_MAX_LEFT (64 * 1024)
#endif

#define MAX_EVENTS 16
#define CTL_BYTES  4

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
	bool lossy;
	int errors;
	struct proto_ctx ctx;
	const struct proto_ctx *pctx;
	bool udp;
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

static void check_view(const struct fz *f, struct proto_str s)
{
	volatile uint8_t sink = 0;

	if (!s.len)
		return;
	check(s.ptr != NULL);
	check(inside(s.ptr, s.len, f->state, FUZZ_OPS.state_size) ||
	      inside(s.ptr, s.len, f->in_data, f->in_len));
	for (uint32_t i = 0; i < s.len; i++)
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
	check((m->flags &
	       ~(PROTO_MSG_F_TRUNCATED | PROTO_MSG_F_CONN_CLOSE | PROTO_MSG_F_LEN_GUESSED |
		 PROTO_MSG_F_NO_RESPONSE | PROTO_MSG_F_UNSOLICITED)) == 0);
	check(m->length > 0);
	check(m->start_ts <= m->end_ts);
	if (m->kind == PROTO_MSG_REQUEST) {
		check(m->code == -1);
		check(!(m->flags & PROTO_MSG_F_UNSOLICITED));
	} else {
		check(!(m->flags & PROTO_MSG_F_NO_RESPONSE));
		check(m->status == PROTO_STATUS_OK || m->status == PROTO_STATUS_CLIENT_ERROR ||
		      m->status == PROTO_STATUS_SERVER_ERROR || m->status == PROTO_STATUS_UNKNOWN);
	}
	check_view(f, m->version);
	check_view(f, m->method);
	check_view(f, m->domain);
	check_view(f, m->resource);
	check_view(f, m->endpoint);
	check_view(f, m->exception);
	check_view(f, m->result);
	check_view(f, m->x_request_id);
	check_view(f, m->trace_id);
	check_view(f, m->span_id);
	out_put(&f->out, &kind, sizeof(kind));
	out_put(&f->out, &dir, sizeof(dir));
	out_put(&f->out, &m->flags, sizeof(m->flags));
	out_put(&f->out, &m->start_ts, sizeof(m->start_ts));
	out_put(&f->out, &m->end_ts, sizeof(m->end_ts));
	out_put(&f->out, &m->tcp_seq, sizeof(m->tcp_seq));
	out_put(&f->out, &m->length, sizeof(m->length));
	out_put(&f->out, &m->code, sizeof(m->code));
	out_put(&f->out, &status, sizeof(status));
	out_put(&f->out, &m->session_id, sizeof(m->session_id));
	out_str(&f->out, m->method);
	out_str(&f->out, m->domain);
	out_str(&f->out, m->resource);
	out_str(&f->out, m->exception);
	out_str(&f->out, m->result);
}

static void side_reset(struct side *s)
{
	s->len = 0;
	s->nsegs = 0;
}

static void side_consume(struct side *s, size_t n)
{
	size_t k = 0;

	if (n < s->len)
		memmove(s->buf, s->buf + n, s->len - n);
	for (size_t i = 0; i < s->nsegs; i++) {
		struct proto_seg g = s->segs[i];

		if (g.off + g.len <= n)
			continue;
		if (g.off < n) {
			g.len -= n - g.off;
			if (g.tcp_seq)
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
	size_t old;
	int r;

	FUZZ_OPS.detect(p, n, dir, f->pctx);
	if (f->udp)
		side_reset(s);
	old = s->len;
	if (s->len + n > s->cap) {
		s->cap = s->len + n;
		s->buf = realloc(s->buf, s->cap ? s->cap : 1);
		check(s->buf != NULL);
	}
	if (n)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
	if (s->nsegs == PROTO_MAX_SEGS) {
		size_t i, at = 0;

		for (i = 0; i + 1 < s->nsegs; i++) {
			if (s->segs[i].ts_start == s->segs[i + 1].ts_start &&
			    s->segs[i].tcp_seq + (uint32_t)s->segs[i].len == s->segs[i + 1].tcp_seq)
				break;
		}
		if (i + 1 < s->nsegs)
			at = i;
		else
			f->lossy = true;
		s->segs[at].len += s->segs[at + 1].len;
		s->segs[at].ts_end = s->segs[at + 1].ts_end;
		memmove(&s->segs[at + 1], &s->segs[at + 2],
			(s->nsegs - at - 2) * sizeof(s->segs[0]));
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
	in.ctx = f->pctx;
	f->in_data = s->buf;
	f->in_len = s->len;
	r = FUZZ_OPS.parse(f->state, &in, on_msg, f, &f->st);
	f->in_data = NULL;
	f->in_len = 0;
	if (r == PROTO_ERROR) {
		f->errors++;
		s->stream_off += s->len + gap;
		side_reset(s);
		return;
	}
	check(r >= 0 && (size_t)r <= s->len);
	check(!gap || (size_t)r == s->len);
	side_consume(s, (size_t)r);
	s->stream_off += gap;
	if (f->udp)
		side_reset(s);
	check(s->len <= FUZZ_MAX_LEFT);
}

static size_t cut_point(size_t n, size_t i)
{
	if (n < 2)
		return 0;
	return 1 + (i * 40503u + n * 2654435761u) % (n - 1);
}

static void replay(struct fz *f, const uint8_t *data, size_t size, bool split)
{
	uint32_t seq[2] = { 1, 0x80000000u };
	const uint8_t *payload, *ctl;
	size_t nev, rest, n, cut;
	uint64_t ts = 1000, gap;
	uint8_t c0 = data[0];

	memset(f, 0, sizeof(*f));
	f->state = calloc(1, FUZZ_OPS.state_size ? FUZZ_OPS.state_size : 1);
	check(f->state != NULL);
	f->udp = c0 & 1;
	f->ctx.l4_proto = f->udp ? 17 : 6;
	f->ctx.role = (c0 >> 1) % 3;
	f->ctx.server_port = (c0 & 8) ? FUZZ_PORT : 40000;
	f->ctx.opts = (c0 & 16) ? PROTO_OPT_KEEP_VALUES : 0;
	f->pctx = (c0 & 32) ? NULL : &f->ctx;
	if (!f->pctx)
		f->udp = false;
	if (f->udp)
		split = false; /* a datagram arrives whole */

	nev = data[1] % MAX_EVENTS + 1;
	ctl = data + 2;
	if (size < 2 + nev * CTL_BYTES) {
		nev = 0;
		rest = size - 2;
		payload = data + 2;
		cut = split ? cut_point(rest, 0) : 0;
		if (cut)
			event(f, PROTO_DIR_EGRESS, payload, cut, 0, ts, seq[0]);
		event(f, PROTO_DIR_EGRESS, payload + cut, rest - cut, 0, ts,
		      seq[0] + (uint32_t)cut);
	} else {
		payload = data + 2 + nev * CTL_BYTES;
		rest = size - 2 - nev * CTL_BYTES;
	}
	for (size_t i = 0; i < nev; i++, ctl += CTL_BYTES, ts += 1000) {
		enum proto_dir dir = (ctl[0] & 1) ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
		uint32_t sq = f->udp ? 0 : seq[dir];

		n = (size_t)ctl[1] | (size_t)ctl[2] << 8;
		if (n > rest || i + 1 == nev)
			n = rest;
		gap = 0;
		if (ctl[0] & 2)
			gap = (uint64_t)ctl[3] * ((ctl[0] & 16) ? 4096 : 1) + 1;
		cut = split ? cut_point(n, i) : 0;
		if (cut)
			event(f, dir, payload, cut, 0, ts, sq);
		event(f, dir, payload + cut, n - cut, gap, ts, sq ? sq + (uint32_t)cut : 0);
		seq[dir] += (uint32_t)(n + gap);
		payload += n;
		rest -= n;
		if ((ctl[0] & 32) && FUZZ_OPS.reset) {
			FUZZ_OPS.reset(f->state, dir);
			f->lossy = true; /* where the parser restarts depends on the cuts */
			side_reset(&f->side[dir]);
		}
		if (ctl[0] & 8) {
			FUZZ_OPS.on_close(f->state, ts + 500, on_msg, f, &f->st);
			side_reset(&f->side[0]);
			side_reset(&f->side[1]);
		}
	}
	FUZZ_OPS.on_close(f->state, ts + 500, on_msg, f, &f->st);
	check(f->emitted == f->st.messages);
}

static void release(struct fz *f)
{
	if (FUZZ_OPS.release)
		FUZZ_OPS.release(f->state);
	free(f->state);
	free(f->side[0].buf);
	free(f->side[1].buf);
	free(f->out.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz whole, cut;

	if (size < 2)
		return 0;
	replay(&whole, data, size, false);
	replay(&cut, data, size, true);
	if (!whole.lossy && !cut.lossy && !whole.st.resyncs && !cut.st.resyncs && !whole.errors &&
	    !cut.errors && !whole.st.parse_errors && !cut.st.parse_errors) {
		check(whole.out.len == cut.out.len);
		check(!whole.out.len || memcmp(whole.out.buf, cut.out.buf, whole.out.len) == 0);
		check(whole.st.messages == cut.st.messages);
		check(whole.st.truncated == cut.st.truncated);
	}
	release(&whole);
	release(&cut);
	return 0;
}
