/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A test harness for any parser behind struct proto_ops: it plays a conversation (events
 * in either direction) through parse() exactly as the intake does (unconsumed bytes are
 * presented again, followed by the next event's; a datagram protocol gets each event
 * alone), and keeps every emitted message as an owned copy, so tests can assert the
 * messages and compare the results of different ways of cutting the same bytes.
 *
 * Header-only (static functions) so each tests/unit/test_proto_<name>.c includes it; it
 * uses cmocka's assertions.
 *
 *   struct ph_event evs[] = { PH_EV(PROTO_DIR_EGRESS, req), PH_EV(PROTO_DIR_INGRESS, resp) };
 *   struct ph_conv c;
 *   ph_run(&c, &proto_redis_ops, &ctx, evs, 2, PH_WHOLE, true);
 *   assert_int_equal(c.nmsgs, 2);
 *   assert_string_equal(c.msgs[0].method, "GET");
 *   ph_check_splits(&proto_redis_ops, &ctx, evs, 2);   // every cut gives the same messages
 *   ph_free(&c);
 */
#ifndef OB_TESTS_PROTO_HARNESS_H
#define OB_TESTS_PROTO_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/proto.h"

#define PH_UNUSED __attribute__((unused))

/* One capture event: bytes one side sent, and how many more it sent uncaptured. */
struct ph_event {
	enum proto_dir dir;
	const uint8_t *data;
	size_t len;
	uint64_t gap;
};

#define PH_EV(d, s)                                                                                \
	(struct ph_event)                                                                          \
	{                                                                                          \
		(d), (const uint8_t *)(s), sizeof(s) - 1, 0                                        \
	}
#define PH_EVB(d, p, n)                                                                            \
	(struct ph_event)                                                                          \
	{                                                                                          \
		(d), (const uint8_t *)(p), (n), 0                                                  \
	}

/* An emitted message with its strings copied (NUL-terminated; NULL when absent). */
struct ph_msg {
	struct proto_msg m; /* the views in here are dangling: use the copies below */
	char *version, *method, *domain, *resource, *endpoint, *exception, *result;
	char *x_request_id, *trace_id, *span_id;
};

struct ph_side {
	uint8_t *buf;
	size_t len, cap;
	struct proto_seg segs[PROTO_MAX_SEGS];
	size_t nsegs;
	uint64_t stream_off;
};

struct ph_conv {
	const struct proto_ops *ops;
	const struct proto_ctx *ctx;
	void *state;
	struct ph_side side[2];
	struct ph_msg *msgs;
	size_t nmsgs, cap;
	struct proto_stats st;
	int errors; /* parse() returned PROTO_ERROR */
	uint64_t now;
};

/* Event i's times: distinct and increasing, so tests can tell which event a time is. */
#define PH_TS_START(i) (1000000000ull * 1000 + (uint64_t)(i)*1000000)
#define PH_TS_END(i)   (PH_TS_START(i) + 500)
#define PH_SEQ_EGRESS  1000u
#define PH_SEQ_INGRESS 5000000u

static PH_UNUSED char *ph_dup(struct proto_str v)
{
	char *s;

	if (!v.len)
		return NULL;
	assert_non_null(v.ptr);
	s = malloc(v.len + 1);
	assert_non_null(s);
	memcpy(s, v.ptr, v.len);
	s[v.len] = 0;
	return s;
}

static PH_UNUSED void ph_on_msg(void *ctx, const struct proto_msg *m)
{
	struct ph_conv *c = ctx;
	struct ph_msg *x;

	if (c->nmsgs == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->msgs = realloc(c->msgs, c->cap * sizeof(*c->msgs));
		assert_non_null(c->msgs);
	}
	x = &c->msgs[c->nmsgs++];
	memset(x, 0, sizeof(*x));
	x->m = *m;
	x->version = ph_dup(m->version);
	x->method = ph_dup(m->method);
	x->domain = ph_dup(m->domain);
	x->resource = ph_dup(m->resource);
	x->endpoint = ph_dup(m->endpoint);
	x->exception = ph_dup(m->exception);
	x->result = ph_dup(m->result);
	x->x_request_id = ph_dup(m->x_request_id);
	x->trace_id = ph_dup(m->trace_id);
	x->span_id = ph_dup(m->span_id);
}

static PH_UNUSED void ph_init(struct ph_conv *c, const struct proto_ops *ops,
			      const struct proto_ctx *ctx)
{
	memset(c, 0, sizeof(*c));
	c->ops = ops;
	c->ctx = ctx;
	c->state = calloc(1, ops->state_size ? ops->state_size : 1);
	assert_non_null(c->state);
}

static PH_UNUSED void ph_free(struct ph_conv *c)
{
	for (size_t i = 0; i < c->nmsgs; i++) {
		struct ph_msg *x = &c->msgs[i];

		free(x->version);
		free(x->method);
		free(x->domain);
		free(x->resource);
		free(x->endpoint);
		free(x->exception);
		free(x->result);
		free(x->x_request_id);
		free(x->trace_id);
		free(x->span_id);
	}
	free(c->msgs);
	if (c->ops && c->ops->release)
		c->ops->release(c->state);
	free(c->state);
	free(c->side[0].buf);
	free(c->side[1].buf);
	memset(c, 0, sizeof(*c));
}

static PH_UNUSED void ph_side_consume(struct ph_side *s, size_t n)
{
	size_t k = 0;

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

static PH_UNUSED void ph_side_reset(struct ph_side *s, uint64_t skipped)
{
	s->stream_off += s->len + skipped;
	s->len = 0;
	s->nsegs = 0;
}

/* Out of segment slots: fold the second into the first, as the intake does. */
static PH_UNUSED void ph_side_fold(struct ph_side *s)
{
	s->segs[0].len += s->segs[1].len;
	s->segs[0].ts_end = s->segs[1].ts_end;
	memmove(&s->segs[1], &s->segs[2], (s->nsegs - 2) * sizeof(s->segs[0]));
	s->nsegs--;
}

/* Feed one event's bytes (a piece of one, when splitting) seen at [ts, te], TCP seq. */
static PH_UNUSED void ph_feed(struct ph_conv *c, enum proto_dir dir, const uint8_t *data,
			      size_t len, uint64_t gap, uint64_t ts, uint64_t te, uint32_t seq)
{
	struct ph_side *s = &c->side[dir];
	bool udp = c->ctx && c->ctx->l4_proto == 17;
	struct proto_input in;
	size_t old = s->len;
	int r;

	if (udp) /* a datagram never continues what the previous one left */
		ph_side_reset(s, 0);
	old = s->len;
	if (s->len + len > s->cap) {
		s->cap = s->len + len + 64;
		s->buf = realloc(s->buf, s->cap);
		assert_non_null(s->buf);
	}
	if (len)
		memcpy(s->buf + s->len, data, len);
	s->len += len;
	if (s->nsegs == PROTO_MAX_SEGS)
		ph_side_fold(s);
	s->segs[s->nsegs++] = (struct proto_seg){
		.off = old, .len = len, .ts_start = ts, .ts_end = te, .tcp_seq = seq
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
	in.ctx = c->ctx;
	c->now = te;
	r = c->ops->parse(c->state, &in, ph_on_msg, c, &c->st);
	if (r == PROTO_ERROR) {
		c->errors++;
		ph_side_reset(s, gap);
		return;
	}
	assert_true(r >= 0 && (size_t)r <= s->len);
	if (gap) /* the contract: with a gap behind them, all bytes are consumed */
		assert_int_equal((size_t)r, s->len);
	ph_side_consume(s, (size_t)r);
	s->stream_off += gap;
	/* The intake keeps at most 64 KiB per direction (LEFTOVER_MAX in intake.c). */
	assert_true(s->len <= 64 * 1024);
}

enum ph_mode {
	PH_WHOLE = 0, /* each event as one piece */
	PH_SPLIT = 1, /* event split_ev cut in two at byte cut */
	PH_BYTES = 2, /* every event one byte at a time */
};

/* Play evs[0..n) into a fresh conversation (freed by ph_free) and close it if asked. */
static PH_UNUSED void ph_run_mode(struct ph_conv *c, const struct proto_ops *ops,
				  const struct proto_ctx *ctx, const struct ph_event *evs, size_t n,
				  enum ph_mode mode, size_t split_ev, size_t cut, bool close)
{
	uint32_t seq[2] = { PH_SEQ_EGRESS, PH_SEQ_INGRESS };
	bool udp = ctx && ctx->l4_proto == 17;

	ph_init(c, ops, ctx);
	for (size_t i = 0; i < n; i++) {
		const struct ph_event *e = &evs[i];
		uint64_t ts = PH_TS_START(i), te = PH_TS_END(i);
		uint32_t sq = udp ? 0 : seq[e->dir];

		if (!udp && mode == PH_SPLIT && i == split_ev && cut && cut < e->len) {
			ph_feed(c, e->dir, e->data, cut, 0, ts, te, sq);
			ph_feed(c, e->dir, e->data + cut, e->len - cut, e->gap, ts, te,
				sq ? sq + (uint32_t)cut : 0);
		} else if (!udp && mode == PH_BYTES && e->len > 1) {
			for (size_t j = 0; j < e->len; j++)
				ph_feed(c, e->dir, e->data + j, 1, j + 1 == e->len ? e->gap : 0, ts,
					te, sq + (uint32_t)j);
		} else {
			ph_feed(c, e->dir, e->data, e->len, e->gap, ts, te, sq);
		}
		seq[e->dir] += (uint32_t)(e->len + e->gap);
	}
	if (close && ops->on_close)
		ops->on_close(c->state, PH_TS_START(n), ph_on_msg, c, &c->st);
}

static PH_UNUSED void ph_run(struct ph_conv *c, const struct proto_ops *ops,
			     const struct proto_ctx *ctx, const struct ph_event *evs, size_t n,
			     enum ph_mode mode, bool close)
{
	ph_run_mode(c, ops, ctx, evs, n, mode, 0, 0, close);
}

static PH_UNUSED bool ph_str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/*
 * Two runs emitted the same messages: same fields, strings and sequence numbers. Times
 * are compared only when same_times (a message may start in a later piece of a split
 * event, but pieces of one event share its times, so they agree unless a test says).
 */
static PH_UNUSED void ph_assert_same(const struct ph_conv *a, const struct ph_conv *b,
				     const char *what)
{
	if (a->nmsgs != b->nmsgs)
		fail_msg("%s: %zu messages, want %zu", what, b->nmsgs, a->nmsgs);
	for (size_t i = 0; i < a->nmsgs; i++) {
		const struct ph_msg *x = &a->msgs[i], *y = &b->msgs[i];
		const struct proto_msg *p = &x->m, *q = &y->m;

		if (p->kind != q->kind || p->dir != q->dir || p->flags != q->flags ||
		    p->start_ts != q->start_ts || p->end_ts != q->end_ts ||
		    p->tcp_seq != q->tcp_seq || p->length != q->length || p->code != q->code ||
		    p->status != q->status || p->has_session_id != q->has_session_id ||
		    p->session_id != q->session_id || p->has_request_id != q->has_request_id ||
		    p->request_id != q->request_id ||
		    p->has_affected_rows != q->has_affected_rows ||
		    p->affected_rows != q->affected_rows)
			fail_msg("%s: message %zu differs in a scalar field (kind %d/%d length "
				 "%llu/%llu seq %u/%u code %d/%d)",
				 what, i, p->kind, q->kind, (unsigned long long)p->length,
				 (unsigned long long)q->length, p->tcp_seq, q->tcp_seq, p->code,
				 q->code);
		if (!ph_str_eq(x->version, y->version) || !ph_str_eq(x->method, y->method) ||
		    !ph_str_eq(x->domain, y->domain) || !ph_str_eq(x->resource, y->resource) ||
		    !ph_str_eq(x->endpoint, y->endpoint) ||
		    !ph_str_eq(x->exception, y->exception) || !ph_str_eq(x->result, y->result) ||
		    !ph_str_eq(x->x_request_id, y->x_request_id) ||
		    !ph_str_eq(x->trace_id, y->trace_id) || !ph_str_eq(x->span_id, y->span_id))
			fail_msg("%s: message %zu differs in a string (method '%s'/'%s' resource "
				 "'%s'/'%s')",
				 what, i, x->method ? x->method : "", y->method ? y->method : "",
				 x->resource ? x->resource : "", y->resource ? y->resource : "");
	}
}

/*
 * Split-at-every-offset replay: every event cut at every byte, and every event fed byte
 * by byte, must emit exactly what feeding whole events emits. (Datagram protocols are not
 * cut: a datagram arrives whole or not at all.)
 */
static PH_UNUSED void ph_check_splits(const struct proto_ops *ops, const struct proto_ctx *ctx,
				      const struct ph_event *evs, size_t n, bool close)
{
	struct ph_conv whole, other;
	char what[96];

	ph_run(&whole, ops, ctx, evs, n, PH_WHOLE, close);
	if (ctx && ctx->l4_proto == 17) {
		ph_free(&whole);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t cut = 1; cut < evs[i].len; cut++) {
			ph_run_mode(&other, ops, ctx, evs, n, PH_SPLIT, i, cut, close);
			snprintf(what, sizeof(what), "event %zu cut at %zu", i, cut);
			ph_assert_same(&whole, &other, what);
			ph_free(&other);
		}
	}
	ph_run(&other, ops, ctx, evs, n, PH_BYTES, close);
	ph_assert_same(&whole, &other, "byte by byte");
	ph_free(&other);
	ph_free(&whole);
}

/*
 * Bytes a test builds for an event: a growing buffer, and a pool that owns what events
 * point at until the test ends (ph_pool_free()).
 */
struct ph_buf {
	uint8_t *p;
	size_t n, cap;
};

#define PH_POOL_MAX 256
static PH_UNUSED uint8_t *ph_pool[PH_POOL_MAX];
static PH_UNUSED size_t ph_npool;

static PH_UNUSED uint8_t *ph_keep(uint8_t *p)
{
	assert_true(ph_npool < PH_POOL_MAX);
	ph_pool[ph_npool++] = p;
	return p;
}

static PH_UNUSED void ph_pool_free(void)
{
	while (ph_npool)
		free(ph_pool[--ph_npool]);
}

static PH_UNUSED void ph_buf_put(struct ph_buf *b, const void *data, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

/* An event of the buffer's bytes; the pool takes the buffer. */
static PH_UNUSED struct ph_event ph_buf_event(enum proto_dir d, struct ph_buf *b)
{
	ph_keep(b->p);
	return PH_EVB(d, b->p, b->n);
}

/* The parser is the registry's for its id and name, and detection tries it. */
static PH_UNUSED void ph_check_registered(const struct proto_ops *ops, enum proto_id id,
					  const char *name)
{
	bool found = false;

	assert_ptr_equal(proto_by_id(id), ops);
	assert_string_equal(proto_name(id), name);
	for (size_t i = 0; proto_detect_order[i]; i++)
		found |= proto_detect_order[i] == ops;
	assert_true(found);
}

/*
 * parse() as proto.h bounds it: nothing to do is not an error; an unknown direction, bytes
 * without data or no state are, each counted (when there are stats to count into); then
 * reset() and on_close() without stats are harmless.
 */
static PH_UNUSED void ph_check_bad_args(const struct proto_ops *ops)
{
	struct proto_stats st = { 0 };
	struct proto_input in = { .dir = PROTO_DIR_EGRESS };
	void *state = calloc(1, ops->state_size);

	assert_non_null(state);
	assert_int_equal(ops->parse(state, &in, NULL, NULL, &st), 0);
	in.dir = (enum proto_dir)7;
	assert_int_equal(ops->parse(state, &in, NULL, NULL, &st), PROTO_ERROR);
	in.dir = PROTO_DIR_INGRESS;
	in.len = 3;
	assert_int_equal(ops->parse(state, &in, NULL, NULL, &st), PROTO_ERROR);
	assert_int_equal(st.parse_errors, 2);
	in.len = 0;
	assert_int_equal(ops->parse(NULL, &in, NULL, NULL, NULL), PROTO_ERROR);
	if (ops->reset)
		ops->reset(state, PROTO_DIR_EGRESS);
	ops->on_close(state, 1, NULL, NULL, NULL);
	if (ops->release)
		ops->release(state);
	free(state);
}

/* For parsers that go further: every entry point takes a NULL state, no stats and a bad
 * direction without harm. */
static PH_UNUSED void ph_check_null_args(const struct proto_ops *ops)
{
	struct proto_input in = { .dir = (enum proto_dir)7 };
	uint8_t *st = calloc(1, ops->state_size);

	assert_non_null(st);
	assert_int_equal(ops->parse(st, &in, NULL, NULL, NULL), PROTO_ERROR);
	assert_int_equal(ops->parse(NULL, &in, NULL, NULL, NULL), PROTO_ERROR);
	ops->on_close(NULL, 0, NULL, NULL, NULL);
	ops->on_close(st, 0, NULL, NULL, NULL);
	ops->reset(NULL, PROTO_DIR_EGRESS);
	ops->reset(st, (enum proto_dir)9);
	if (ops->release) {
		ops->release(NULL);
		ops->release(st);
	}
	free(st);
}

#endif
