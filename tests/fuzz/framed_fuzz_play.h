/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer body shared by the binary, length-framed protocol parsers (AMQP, MongoDB,
 * Dubbo): include it after defining FUZZ_OPS (the struct proto_ops under test).
 *
 * The input is a connection: its first byte says how many capture events there are
 * (1..16) and, in its top bit, whether to keep values (PROTO_OPT_KEEP_VALUES); then four
 * control bytes per event (flags, length low, length high, gap), then the payload, which
 * the events take in turn (the last one takes what is left). Flags: bit 0 direction, bit
 * 1 a gap follows the event, bit 4 that gap is in 4 KiB units, bit 3 close the connection
 * after the event, bits 5-6 the observed role. Every event is also shown to detect().
 *
 * The target plays the caller's part as proto.h describes it and checks what the parser
 * promises: sane return values, every gap consumed, bounded leftovers, sane messages whose
 * views point into the parser's state or the input. It then replays the connection with
 * every event cut in two and, when neither replay had to resynchronise, requires the very
 * same messages: how bytes are spread over capture events must not matter.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#define MAX_EVENTS 16
#define CTL_BYTES  4
/* What a framed parser may leave unconsumed: a header plus the head it parses. */
#define MAX_LEFTOVER (16 * 1024)

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
	struct proto_ctx pctx;
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

/* Views may also point at constant strings (method names): those are in no buffer. */
static void check_view(const struct fz *f, struct proto_str s, bool may_be_const)
{
	volatile uint8_t sink = 0;
	uint32_t i;

	if (!s.len)
		return;
	check(s.ptr != NULL);
	check(may_be_const || inside(s.ptr, s.len, f->state, FUZZ_OPS.state_size) ||
	      inside(s.ptr, s.len, f->in_data, f->in_len));
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

static void record(struct out *o, const struct proto_msg *m)
{
	uint32_t kind = m->kind, dir = m->dir, status = m->status;
	uint32_t ids[4] = { m->has_session_id, m->session_id, m->has_request_id, m->request_id };

	out_put(o, &kind, sizeof(kind));
	out_put(o, &dir, sizeof(dir));
	out_put(o, &m->flags, sizeof(m->flags));
	out_put(o, &m->start_ts, sizeof(m->start_ts));
	out_put(o, &m->end_ts, sizeof(m->end_ts));
	out_put(o, &m->tcp_seq, sizeof(m->tcp_seq));
	out_put(o, &m->length, sizeof(m->length));
	out_put(o, &m->code, sizeof(m->code));
	out_put(o, &status, sizeof(status));
	out_put(o, ids, sizeof(ids));
	out_str(o, m->version);
	out_str(o, m->method);
	out_str(o, m->domain);
	out_str(o, m->resource);
	out_str(o, m->endpoint);
	out_str(o, m->exception);
	out_str(o, m->result);
	out_str(o, m->x_request_id);
	out_str(o, m->trace_id);
	out_str(o, m->span_id);
}

static void on_msg(void *ctx, const struct proto_msg *m)
{
	struct fz *f = ctx;

	f->emitted++;
	check(m->kind == PROTO_MSG_REQUEST || m->kind == PROTO_MSG_RESPONSE);
	check(m->dir == PROTO_DIR_EGRESS || m->dir == PROTO_DIR_INGRESS);
	check((m->flags &
	       ~(PROTO_MSG_F_TRUNCATED | PROTO_MSG_F_CONN_CLOSE | PROTO_MSG_F_LEN_GUESSED |
		 PROTO_MSG_F_NO_RESPONSE | PROTO_MSG_F_UNSOLICITED)) == 0);
	check(m->length > 0);
	check(m->start_ts <= m->end_ts);
	check(m->code >= -1);
	check(m->status <= PROTO_STATUS_PARSE_FAILED);
	check_view(f, m->version, true);
	check_view(f, m->method, true);
	check_view(f, m->domain, false);
	check_view(f, m->resource, false);
	check_view(f, m->endpoint, false);
	check_view(f, m->exception, true);
	check_view(f, m->result, false);
	check_view(f, m->x_request_id, false);
	check_view(f, m->trace_id, false);
	check_view(f, m->span_id, false);
	record(&f->out, m);
}

static void side_reset(struct side *s)
{
	s->len = 0;
	s->nsegs = 0;
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

	FUZZ_OPS.detect(p, n, dir, &f->pctx);
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
	in.ctx = &f->pctx;
	f->in_data = s->buf;
	f->in_len = s->len;
	r = FUZZ_OPS.parse(f->state, &in, on_msg, f, &f->st);
	f->in_data = NULL;
	f->in_len = 0;
	if (r == PROTO_ERROR) {
		s->stream_off += s->len + gap;
		side_reset(s);
		return;
	}
	check(r >= 0 && (size_t)r <= s->len);
	check(!gap || (size_t)r == s->len);
	side_consume(s, (size_t)r);
	s->stream_off += gap;
	check(s->len < MAX_LEFTOVER);
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
	size_t nev, i, rest, n, cut;
	uint64_t ts = 1000, gap;

	memset(f, 0, sizeof(*f));
	f->state = calloc(1, FUZZ_OPS.state_size);
	check(f->state != NULL);
	f->pctx.l4_proto = 6;
	f->pctx.opts = (data[0] & 0x80) ? PROTO_OPT_KEEP_VALUES : 0;

	nev = (data[0] & 0x7f) % MAX_EVENTS + 1;
	ctl = data + 1;
	if (size < 1 + nev * CTL_BYTES) {
		nev = 0;
		rest = size - 1;
		payload = data + 1;
		cut = split ? cut_point(rest, 0) : 0;
		if (cut)
			event(f, PROTO_DIR_EGRESS, payload, cut, 0, ts, seq[0]);
		event(f, PROTO_DIR_EGRESS, payload + cut, rest - cut, 0, ts,
		      seq[0] + (uint32_t)cut);
	} else {
		payload = data + 1 + nev * CTL_BYTES;
		rest = size - 1 - nev * CTL_BYTES;
	}
	for (i = 0; i < nev; i++, ctl += CTL_BYTES, ts += 1000) {
		enum proto_dir dir = (ctl[0] & 1) ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;

		f->pctx.role = (uint8_t)((ctl[0] >> 5) % 3);
		n = (size_t)ctl[1] | (size_t)ctl[2] << 8;
		if (n > rest || i + 1 == nev)
			n = rest;
		gap = 0;
		if (ctl[0] & 2)
			gap = (uint64_t)ctl[3] * ((ctl[0] & 16) ? 4096 : 1) + 1;
		cut = split ? cut_point(n, i) : 0;
		if (cut)
			event(f, dir, payload, cut, 0, ts, seq[dir]);
		event(f, dir, payload + cut, n - cut, gap, ts, seq[dir] + (uint32_t)cut);
		seq[dir] += (uint32_t)(n + gap);
		payload += n;
		rest -= n;
		if (ctl[0] & 8) {
			FUZZ_OPS.on_close(f->state, ts + 500, on_msg, f, &f->st);
			side_reset(&f->side[0]);
			side_reset(&f->side[1]);
		}
	}
	FUZZ_OPS.on_close(f->state, ts + 500, on_msg, f, &f->st);
	check(f->emitted == f->st.messages);
	if (FUZZ_OPS.reset) {
		FUZZ_OPS.reset(f->state, PROTO_DIR_EGRESS);
		FUZZ_OPS.reset(f->state, PROTO_DIR_INGRESS);
	}
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

	if (!size)
		return 0;
	replay(&whole, data, size, false);
	replay(&cut, data, size, true);
	if (!whole.lossy && !cut.lossy && !whole.st.resyncs && !cut.st.resyncs &&
	    !whole.st.parse_errors && !cut.st.parse_errors) {
		check(whole.out.len == cut.out.len);
		check(!whole.out.len || memcmp(whole.out.buf, cut.out.buf, whole.out.len) == 0);
		check(whole.st.messages == cut.st.messages);
		check(whole.st.truncated == cut.st.truncated);
	}
	release(&whole);
	release(&cut);
	return 0;
}
