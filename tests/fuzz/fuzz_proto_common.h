/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libFuzzer body of every parser behind struct proto_ops: a target defines FUZZ_OPS
 * (the parser) and includes this file. Optional, before the include:
 *
 *   FUZZ_PORT            the protocol's well-known port (default 0)
 *   FUZZ_PORTS           several well-known ports, comma separated (default FUZZ_PORT)
 *   FUZZ_MAX_LEFT        most bytes the parser may leave unconsumed in one direction
 *   FUZZ_TCP_ONLY        1: never play the connection as UDP datagrams
 *   FUZZ_ROLE_PER_EVENT  1: event flag bits 6-7 change the observed role (0 keeps it)
 *   FUZZ_MSG_FLAGS       the PROTO_MSG_F_* the parser may set (default all)
 *   FUZZ_VIEWS_MAY_BE_STATIC  FUZZ_V_* of the views that may point outside the state and
 *                        the input (constant name tables, heap tables the state owns);
 *                        those are only read, and must be shorter than FUZZ_STATIC_MAX_LEN
 *   FUZZ_PROTO_OVERRIDE  the one proto_override besides 0 the parser may report
 *   FUZZ_CODE_MIN        the lowest response code (default: any; a wire error code may be
 *                        negative)
 *   FUZZ_CUT_AVOID       bytes a split must not fall on (a new event there may
 *                        legitimately end a message of unknown length)
 *   FUZZ_SPLIT_EXACT     1: the cut replay must match even across parse errors,
 *                        resynchronisations and reset(), and count the same parse errors
 *   FUZZ_SPLIT_TRUNCATED 0: the cut replay may count other truncated messages (default 1)
 *   FUZZ_RESTART_ON_CLOSE  1: a mid-input close releases the state and zeroes it (a new
 *                        connection) instead of going on with the same state
 *   FUZZ_CHECK_MSG(f, m) extra checks on every message (a statement or function call)
 *
 * Input: byte 0 chooses the connection context (bit 0 UDP, bits 1-2 role, bit 3 a
 * well-known port, bits 6-7 which one (without bit 3: bit 6 an unknown port, else a
 * random one), bit 4 PROTO_OPT_KEEP_VALUES, bit 5 no context at all), byte 1 the number
 * of capture events (1..16), then four control bytes per event (flags, length low, length
 * high, gap), then the payload, which the events take in turn (the last one takes what is
 * left). Flags: bit 0 direction, bit 1 a gap follows the event, bit 4 that gap is in 4 KiB
 * units, bit 3 close the connection after the event, bit 5 reset() the direction after
 * the event (the caller dropping its leftovers), bits 6-7 the role (FUZZ_ROLE_PER_EVENT).
 *
 * The target plays the caller's part as proto.h describes it (leftovers presented again,
 * a datagram alone, everything dropped after PROTO_ERROR) and checks what the parser
 * promises: sane return values, every gap consumed, leftovers bounded, messages whose
 * fields are sane and whose views point into the parser's state or the input and are
 * readable. It runs detect() on every event, with and without the context. Then it replays
 * the connection with each event cut in two, and when neither replay resynchronised or
 * failed (or always, with FUZZ_SPLIT_EXACT), requires the very same messages: how bytes
 * are spread over capture events must not matter.
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
#ifndef FUZZ_PORTS
#define FUZZ_PORTS FUZZ_PORT
#endif
/* Most bytes a parser may leave unconsumed in one direction. */
#ifndef FUZZ_MAX_LEFT
#define FUZZ_MAX_LEFT (64 * 1024)
#endif
#ifndef FUZZ_TCP_ONLY
#define FUZZ_TCP_ONLY 0
#endif
#ifndef FUZZ_ROLE_PER_EVENT
#define FUZZ_ROLE_PER_EVENT 0
#endif
#ifndef FUZZ_MSG_FLAGS
#define FUZZ_MSG_FLAGS                                                                             \
	(PROTO_MSG_F_TRUNCATED | PROTO_MSG_F_CONN_CLOSE | PROTO_MSG_F_LEN_GUESSED |                \
	 PROTO_MSG_F_NO_RESPONSE | PROTO_MSG_F_UNSOLICITED)
#endif

/* The views of a message, for FUZZ_VIEWS_MAY_BE_STATIC. */
#define FUZZ_V_VERSION	      (1u << 0)
#define FUZZ_V_METHOD	      (1u << 1)
#define FUZZ_V_DOMAIN	      (1u << 2)
#define FUZZ_V_RESOURCE	      (1u << 3)
#define FUZZ_V_ENDPOINT	      (1u << 4)
#define FUZZ_V_EXCEPTION      (1u << 5)
#define FUZZ_V_RESULT	      (1u << 6)
#define FUZZ_V_X_REQUEST_ID   (1u << 7)
#define FUZZ_V_TRACE_ID	      (1u << 8)
#define FUZZ_V_SPAN_ID	      (1u << 9)
#define FUZZ_V_PARENT_SPAN_ID (1u << 10)
#define FUZZ_V_ALL	      ((1u << 11) - 1)

#ifndef FUZZ_VIEWS_MAY_BE_STATIC
#define FUZZ_VIEWS_MAY_BE_STATIC 0u
#endif
#ifndef FUZZ_STATIC_MAX_LEN
#define FUZZ_STATIC_MAX_LEN (1u << 20)
#endif
#ifndef FUZZ_PROTO_OVERRIDE
#define FUZZ_PROTO_OVERRIDE 0
#endif
#ifndef FUZZ_CODE_MIN
#define FUZZ_CODE_MIN INT32_MIN
#endif
#ifndef FUZZ_SPLIT_EXACT
#define FUZZ_SPLIT_EXACT 0
#endif
#ifndef FUZZ_SPLIT_TRUNCATED
#define FUZZ_SPLIT_TRUNCATED 1
#endif
#ifndef FUZZ_RESTART_ON_CLOSE
#define FUZZ_RESTART_ON_CLOSE 0
#endif
#ifndef FUZZ_CHECK_MSG
#define FUZZ_CHECK_MSG(f, m) ((void)(f), (void)(m))
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

/* Emitted messages, serialised, to compare two replays. */
struct out {
	uint8_t *buf;
	size_t len, cap;
};

struct fz {
	uint8_t *state;
	const uint8_t *in_data; /* the input of the parse() call under way */
	size_t in_len;
	uint64_t emitted;
	bool lossy; /* had to merge segments of different events, or reset() dropped bytes */
	int errors;
	struct proto_ctx ctx;
	const struct proto_ctx *pctx;
	bool udp;
	bool switched; /* the parse() call under way reported a protocol switch (next_proto) */
	struct side side[2];
	struct proto_stats st;
	struct out out;
};

static const uint16_t fuzz_ports[] = { FUZZ_PORTS };

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

static void check_view(const struct fz *f, struct proto_str s, unsigned int which)
{
	volatile uint8_t sink = 0;

	if (!s.len)
		return;
	check(s.ptr != NULL);
	if (FUZZ_VIEWS_MAY_BE_STATIC & which)
		check(s.len <= FUZZ_STATIC_MAX_LEN ||
		      inside(s.ptr, s.len, f->state, FUZZ_OPS.state_size) ||
		      inside(s.ptr, s.len, f->in_data, f->in_len));
	else
		check(inside(s.ptr, s.len, f->state, FUZZ_OPS.state_size) ||
		      inside(s.ptr, s.len, f->in_data, f->in_len));
	/* read every byte, so the sanitizer sees any view that is not valid memory */
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

/* Everything a message reports, so that the two replays can be compared. */
static void record(struct out *o, const struct proto_msg *m)
{
	uint32_t kind = m->kind, dir = m->dir, status = m->status;
	uint32_t ids[6] = { m->has_request_id, m->request_id,	     m->has_session_id,
			    m->session_id,     m->has_affected_rows, m->proto_override };

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
	out_put(o, &m->affected_rows, sizeof(m->affected_rows));
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
	out_str(o, m->parent_span_id);
}

static void on_msg(void *ctx, const struct proto_msg *m)
{
	struct fz *f = ctx;

	f->emitted++;
	/* A switch ends the parser's part: nothing may follow it in the same call. */
	check(!f->switched);
	if (m->next_proto) {
		check(proto_by_id((enum proto_id)m->next_proto) != NULL);
		f->switched = true;
	}
	check(m->kind == PROTO_MSG_REQUEST || m->kind == PROTO_MSG_RESPONSE);
	check(m->dir == PROTO_DIR_EGRESS || m->dir == PROTO_DIR_INGRESS);
	check((m->flags & ~(uint32_t)(FUZZ_MSG_FLAGS)) == 0);
	check(m->length > 0);
	check(m->start_ts <= m->end_ts);
	check(m->status == PROTO_STATUS_OK || m->status == PROTO_STATUS_CLIENT_ERROR ||
	      m->status == PROTO_STATUS_SERVER_ERROR || m->status == PROTO_STATUS_UNKNOWN);
	check(m->proto_override == 0 || m->proto_override == FUZZ_PROTO_OVERRIDE);
	if (m->kind == PROTO_MSG_REQUEST) {
		check(m->code == -1);
		check(!(m->flags & PROTO_MSG_F_UNSOLICITED));
	} else {
		check(m->code >= FUZZ_CODE_MIN);
		check(!(m->flags & PROTO_MSG_F_NO_RESPONSE));
	}
	check_view(f, m->version, FUZZ_V_VERSION);
	check_view(f, m->method, FUZZ_V_METHOD);
	check_view(f, m->domain, FUZZ_V_DOMAIN);
	check_view(f, m->resource, FUZZ_V_RESOURCE);
	check_view(f, m->endpoint, FUZZ_V_ENDPOINT);
	check_view(f, m->exception, FUZZ_V_EXCEPTION);
	check_view(f, m->result, FUZZ_V_RESULT);
	check_view(f, m->x_request_id, FUZZ_V_X_REQUEST_ID);
	check_view(f, m->trace_id, FUZZ_V_TRACE_ID);
	check_view(f, m->span_id, FUZZ_V_SPAN_ID);
	check_view(f, m->parent_span_id, FUZZ_V_PARENT_SPAN_ID);
	FUZZ_CHECK_MSG(f, m);
	record(&f->out, m);
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

static void detect(const struct fz *f, const uint8_t *p, size_t n, enum proto_dir dir)
{
	enum proto_detect d;

	d = FUZZ_OPS.detect(p, n, dir, f->pctx);
	check(d == PROTO_DETECT_NO || d == PROTO_DETECT_MAYBE || d == PROTO_DETECT_YES);
	d = FUZZ_OPS.detect(p, n, dir, NULL);
	check(d == PROTO_DETECT_NO || d == PROTO_DETECT_MAYBE || d == PROTO_DETECT_YES);
}

static void event(struct fz *f, enum proto_dir dir, const uint8_t *p, size_t n, uint64_t gap,
		  uint64_t ts, uint32_t seq)
{
	struct side *s = &f->side[dir];
	struct proto_input in;
	size_t old;
	int r;

	detect(f, p, n, dir);
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

		/*
		 * Out of slots: merge two neighbours, preferably pieces of one event (nothing
		 * visible changes), else the first two, as a caller may.
		 */
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
	f->switched = false;
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
	/* After a switch the rest is the next protocol's (proto.h), gap or not; this target
	 * goes on with the same parser, which must then take everything. */
	check(!gap || (size_t)r == s->len || f->switched);
	f->switched = false;
	side_consume(s, (size_t)r);
	s->stream_off += gap;
	if (f->udp)
		side_reset(s);
	check(s->len <= FUZZ_MAX_LEFT);
}

/* Where to cut an event of n bytes in two, or 0 for nowhere. */
static size_t cut_point(const uint8_t *p, size_t n, size_t i)
{
	size_t cut;

	if (n < 2)
		return 0;
	cut = 1 + (i * 40503u + n * 2654435761u) % (n - 1);
#ifdef FUZZ_CUT_AVOID
	while (cut < n && memchr(FUZZ_CUT_AVOID, p[cut], sizeof(FUZZ_CUT_AVOID) - 1))
		cut++;
	return cut < n ? cut : 0;
#else
	(void)p;
	return cut;
#endif
}

static void new_state(struct fz *f)
{
	f->state = calloc(1, FUZZ_OPS.state_size ? FUZZ_OPS.state_size : 1);
	check(f->state != NULL);
}

static void close_conn(struct fz *f, uint64_t ts)
{
	FUZZ_OPS.on_close(f->state, ts, on_msg, f, &f->st);
	side_reset(&f->side[0]);
	side_reset(&f->side[1]);
	if (FUZZ_RESTART_ON_CLOSE) {
		if (FUZZ_OPS.release)
			FUZZ_OPS.release(f->state);
		memset(f->state, 0, FUZZ_OPS.state_size);
	}
}

/* Replay the connection the input describes; split: cut every event in two. */
static void replay(struct fz *f, const uint8_t *data, size_t size, bool split)
{
	uint32_t seq[2] = { 1, 0x80000000u };
	const uint8_t *payload, *ctl;
	size_t nev, rest, n, cut;
	uint64_t ts = 1000, gap;
	uint8_t c0 = data[0];

	memset(f, 0, sizeof(*f));
	new_state(f);
	f->udp = !FUZZ_TCP_ONLY && (c0 & 1);
	f->ctx.l4_proto = f->udp ? 17 : 6;
	f->ctx.role = (c0 >> 1) % 3;
	if (c0 & 8)
		f->ctx.server_port =
			fuzz_ports[(c0 >> 6) % (sizeof(fuzz_ports) / sizeof(fuzz_ports[0]))];
	else
		f->ctx.server_port = (c0 & 64) ? 0 : 40000;
	f->ctx.opts = (c0 & 16) ? PROTO_OPT_KEEP_VALUES : 0;
	f->pctx = (c0 & 32) ? NULL : &f->ctx;
	if (!f->pctx)
		f->udp = false;
	if (f->udp)
		split = false; /* a datagram arrives whole */

	nev = data[1] % MAX_EVENTS + 1;
	ctl = data + 2;
	if (size < 2 + nev * CTL_BYTES) {
		/* too short for control bytes: all of it is one event */
		nev = 0;
		rest = size - 2;
		payload = data + 2;
		cut = split ? cut_point(payload, rest, 0) : 0;
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

		if (FUZZ_ROLE_PER_EVENT && (ctl[0] >> 6))
			f->ctx.role = (uint8_t)((ctl[0] >> 6) - 1);
		n = (size_t)ctl[1] | (size_t)ctl[2] << 8;
		if (n > rest || i + 1 == nev)
			n = rest;
		gap = 0;
		if (ctl[0] & 2)
			gap = (uint64_t)ctl[3] * ((ctl[0] & 16) ? 4096 : 1) + 1;
		cut = split ? cut_point(payload, n, i) : 0;
		if (cut)
			event(f, dir, payload, cut, 0, ts, sq);
		event(f, dir, payload + cut, n - cut, gap, ts, sq ? sq + (uint32_t)cut : 0);
		seq[dir] += (uint32_t)(n + gap);
		payload += n;
		rest -= n;
		if ((ctl[0] & 32) && FUZZ_OPS.reset) {
			FUZZ_OPS.reset(f->state, dir);
			/* where the parser restarts may depend on the cuts */
			if (!FUZZ_SPLIT_EXACT)
				f->lossy = true;
			f->side[dir].stream_off += f->side[dir].len;
			side_reset(&f->side[dir]);
		}
		if (ctl[0] & 8)
			close_conn(f, ts + 500);
	}
	FUZZ_OPS.on_close(f->state, ts + 500, on_msg, f, &f->st);
	check(f->emitted == f->st.messages);
	/* reset() after a close is harmless */
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
	bool same;

	if (size < 2)
		return 0;
	replay(&whole, data, size, false);
	replay(&cut, data, size, true);
	same = !whole.lossy && !cut.lossy;
	if (!FUZZ_SPLIT_EXACT)
		same = same && !whole.st.resyncs && !cut.st.resyncs && !whole.errors &&
		       !cut.errors && !whole.st.parse_errors && !cut.st.parse_errors;
	if (same) {
		check(whole.out.len == cut.out.len);
		check(!whole.out.len || memcmp(whole.out.buf, cut.out.buf, whole.out.len) == 0);
		check(whole.st.messages == cut.st.messages);
		check(!FUZZ_SPLIT_TRUNCATED || whole.st.truncated == cut.st.truncated);
		check(whole.st.parse_errors == cut.st.parse_errors);
	}
	release(&whole);
	release(&cut);
	return 0;
}
