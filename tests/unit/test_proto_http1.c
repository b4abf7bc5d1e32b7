/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the HTTP/1 parser and the parser registry.
 *
 * The harness plays the caller's part as proto.h describes it: per direction it keeps
 * the bytes the parser did not consume, with the segments they came from, appends each
 * new capture event, and drops everything after PROTO_ERROR. A fixture is a conversation
 * of directional events; event i is seen at ev_ts_start(i)..ev_ts_end(i), and each
 * direction's TCP sequence numbers run on from a base, gaps included. Besides exact
 * assertions, every fixture is replayed cut in two at every offset of every event and one
 * byte at a time, and must then produce the very same messages and counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/proto.h"
#include "proto_harness.h"

#define BASE_SEQ_EG 1000u
#define BASE_SEQ_IN 7000000u

#define EGRESS	PROTO_DIR_EGRESS
#define INGRESS PROTO_DIR_INGRESS

struct ev {
	enum proto_dir dir;
	const char *data;
	size_t len;
	uint64_t gap;
};

#define EG(s)                                                                                      \
	{                                                                                          \
		EGRESS, (s), sizeof(s) - 1, 0                                                      \
	}
#define IN(s)                                                                                      \
	{                                                                                          \
		INGRESS, (s), sizeof(s) - 1, 0                                                     \
	}
#define EGG(s, g)                                                                                  \
	{                                                                                          \
		EGRESS, (s), sizeof(s) - 1, (g)                                                    \
	}
#define ING(s, g)                                                                                  \
	{                                                                                          \
		INGRESS, (s), sizeof(s) - 1, (g)                                                   \
	}
#define NEV(a)	(sizeof(a) / sizeof((a)[0]))
#define SLEN(s) ((uint64_t)(sizeof(s) - 1))

static uint64_t ev_ts_start(size_t i)
{
	return 1000000ull * (i + 1);
}

static uint64_t ev_ts_end(size_t i)
{
	return ev_ts_start(i) + 400;
}

/* ---- the caller's side ---------------------------------------------------------- */

struct rstr {
	char *p;
	size_t len;
};

/* A copy of an emitted message: views die with the callback. */
struct rec {
	enum proto_msg_kind kind;
	enum proto_dir dir;
	uint32_t flags;
	uint64_t start_ts, end_ts;
	uint32_t tcp_seq;
	uint64_t length;
	struct rstr version, method, domain, resource, endpoint, exception, xrid, trace, span;
	int32_t code;
	uint8_t status;
	bool has_session_id;
	uint32_t session_id;
};

struct side {
	uint8_t *buf;
	size_t len, cap;
	struct proto_seg segs[PROTO_MAX_SEGS];
	size_t nsegs;
	uint64_t stream_off;
};

struct conv {
	uint8_t *state;
	struct side side[2];
	struct proto_stats st;
	struct rec *recs;
	size_t n, cap;
};

static void conv_init(struct conv *c)
{
	memset(c, 0, sizeof(*c));
	c->state = calloc(1, proto_http1_ops.state_size);
	assert_non_null(c->state);
}

static void rstr_free(struct rstr *s)
{
	free(s->p);
}

static void conv_free(struct conv *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		struct rec *r = &c->recs[i];

		rstr_free(&r->version);
		rstr_free(&r->method);
		rstr_free(&r->domain);
		rstr_free(&r->resource);
		rstr_free(&r->endpoint);
		rstr_free(&r->exception);
		rstr_free(&r->xrid);
		rstr_free(&r->trace);
		rstr_free(&r->span);
	}
	free(c->recs);
	free(c->side[0].buf);
	free(c->side[1].buf);
	if (proto_http1_ops.release)
		proto_http1_ops.release(c->state);
	free(c->state);
	memset(c, 0, sizeof(*c));
}

/* The parser keeps its strings in its state: a view must lie inside it. */
static void copy_view(const struct conv *c, struct rstr *d, struct proto_str s)
{
	const uint8_t *lo = c->state, *hi = c->state + proto_http1_ops.state_size;

	if (s.len) {
		assert_non_null(s.ptr);
		assert_true((const uint8_t *)s.ptr >= lo && (const uint8_t *)s.ptr + s.len <= hi);
	}
	d->len = s.len;
	d->p = malloc(s.len + 1);
	assert_non_null(d->p);
	if (s.len)
		memcpy(d->p, s.ptr, s.len);
	d->p[s.len] = '\0';
}

static void on_msg(void *ctx, const struct proto_msg *m)
{
	struct conv *c = ctx;
	struct rec *r;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->recs = realloc(c->recs, c->cap * sizeof(*c->recs));
		assert_non_null(c->recs);
	}
	r = &c->recs[c->n++];
	memset(r, 0, sizeof(*r));
	r->kind = m->kind;
	r->dir = m->dir;
	r->flags = m->flags;
	r->start_ts = m->start_ts;
	r->end_ts = m->end_ts;
	r->tcp_seq = m->tcp_seq;
	r->length = m->length;
	r->code = m->code;
	r->status = m->status;
	r->has_session_id = m->has_session_id;
	r->session_id = m->session_id;
	copy_view(c, &r->version, m->version);
	copy_view(c, &r->method, m->method);
	copy_view(c, &r->domain, m->domain);
	copy_view(c, &r->resource, m->resource);
	copy_view(c, &r->endpoint, m->endpoint);
	copy_view(c, &r->exception, m->exception);
	copy_view(c, &r->xrid, m->x_request_id);
	copy_view(c, &r->trace, m->trace_id);
	copy_view(c, &r->span, m->span_id);
}

/*
 * Out of segment slots: merge two neighbours, preferably ones that differ in nothing a
 * parser can see (same times, contiguous sequence numbers).
 */
static void side_merge(struct side *s)
{
	size_t i, at = 0;

	for (i = 0; i + 1 < s->nsegs; i++) {
		const struct proto_seg *a = &s->segs[i], *b = &s->segs[i + 1];

		if (a->ts_start == b->ts_start && a->ts_end == b->ts_end &&
		    a->tcp_seq + (uint32_t)a->len == b->tcp_seq) {
			at = i;
			break;
		}
	}
	s->segs[at].len += s->segs[at + 1].len;
	s->segs[at].ts_end = s->segs[at + 1].ts_end;
	memmove(&s->segs[at + 1], &s->segs[at + 2], (s->nsegs - at - 2) * sizeof(s->segs[0]));
	s->nsegs--;
}

static void side_consume(struct side *s, size_t n)
{
	size_t i, k = 0;

	memmove(s->buf, s->buf + n, s->len - n);
	for (i = 0; i < s->nsegs; i++) {
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

static void conv_event(struct conv *c, enum proto_dir dir, const void *data, size_t len,
		       uint64_t gap, uint64_t ts_s, uint64_t ts_e, uint32_t seq)
{
	struct side *s = &c->side[dir];
	struct proto_input in;
	size_t old = s->len;
	int r;

	if (s->len + len > s->cap) {
		s->cap = s->len + len + 64;
		s->buf = realloc(s->buf, s->cap);
		assert_non_null(s->buf);
	}
	if (len)
		memcpy(s->buf + s->len, data, len);
	s->len += len;
	if (s->nsegs == PROTO_MAX_SEGS)
		side_merge(s);
	s->segs[s->nsegs++] = (struct proto_seg){
		.off = old,
		.len = len,
		.ts_start = ts_s,
		.ts_end = ts_e,
		.tcp_seq = seq,
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
	r = proto_http1_ops.parse(c->state, &in, on_msg, c, &c->st);
	if (r == PROTO_ERROR) {
		s->stream_off += s->len + gap;
		s->len = 0;
		s->nsegs = 0;
		return;
	}
	assert_true(r >= 0 && (size_t)r <= s->len);
	if (gap)
		assert_int_equal(r, s->len);
	side_consume(s, (size_t)r);
	s->stream_off += gap;
	assert_true(s->len < PROTO_HTTP1_MAX_HDR);
}

enum feed {
	FEED_WHOLE,
	FEED_SPLIT,
	FEED_BYTES,
};

static void run(struct conv *c, const struct ev *evs, size_t n, bool close, enum feed mode,
		size_t split_ev, size_t cut)
{
	uint32_t seq[2] = { BASE_SEQ_EG, BASE_SEQ_IN };
	size_t i, j;

	conv_init(c);
	for (i = 0; i < n; i++) {
		const struct ev *e = &evs[i];
		uint64_t ts = ev_ts_start(i), te = ev_ts_end(i);
		uint32_t sq = seq[e->dir];

		if (mode == FEED_SPLIT && i == split_ev) {
			conv_event(c, e->dir, e->data, cut, 0, ts, te, sq);
			conv_event(c, e->dir, e->data + cut, e->len - cut, e->gap, ts, te,
				   sq + (uint32_t)cut);
		} else if (mode == FEED_BYTES && e->len > 1) {
			for (j = 0; j < e->len; j++)
				conv_event(c, e->dir, e->data + j, 1, j + 1 == e->len ? e->gap : 0,
					   ts, te, sq + (uint32_t)j);
		} else {
			conv_event(c, e->dir, e->data, e->len, e->gap, ts, te, sq);
		}
		seq[e->dir] += (uint32_t)(e->len + e->gap);
	}
	if (close)
		proto_http1_ops.on_close(c->state, ev_ts_start(n), on_msg, c, &c->st);
}

static void run_whole(struct conv *c, const struct ev *evs, size_t n, bool close)
{
	run(c, evs, n, close, FEED_WHOLE, 0, 0);
}

static uint32_t seq_of(const struct ev *evs, size_t k, size_t off)
{
	uint32_t s = evs[k].dir == EGRESS ? BASE_SEQ_EG : BASE_SEQ_IN;
	size_t i;

	for (i = 0; i < k; i++) {
		if (evs[i].dir == evs[k].dir)
			s += (uint32_t)(evs[i].len + evs[i].gap);
	}
	return s + (uint32_t)off;
}

static bool rstr_eq(const struct rstr *a, const struct rstr *b)
{
	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

static bool rec_eq(const struct rec *a, const struct rec *b)
{
	return a->kind == b->kind && a->dir == b->dir && a->flags == b->flags &&
	       a->start_ts == b->start_ts && a->end_ts == b->end_ts && a->tcp_seq == b->tcp_seq &&
	       a->length == b->length && a->code == b->code && a->status == b->status &&
	       a->has_session_id == b->has_session_id && a->session_id == b->session_id &&
	       rstr_eq(&a->version, &b->version) && rstr_eq(&a->method, &b->method) &&
	       rstr_eq(&a->domain, &b->domain) && rstr_eq(&a->resource, &b->resource) &&
	       rstr_eq(&a->endpoint, &b->endpoint) && rstr_eq(&a->exception, &b->exception) &&
	       rstr_eq(&a->xrid, &b->xrid) && rstr_eq(&a->trace, &b->trace) &&
	       rstr_eq(&a->span, &b->span);
}

static void print_rec(const char *tag, size_t i, const struct rec *r)
{
	print_error("%s[%zu]: kind=%d dir=%d flags=%u ts=%llu..%llu seq=%u len=%llu code=%d "
		    "status=%u v=%s m=%s d=%s r=%s e=%s x=%s xr=%s t=%s s=%s\n",
		    tag, i, r->kind, r->dir, r->flags, (unsigned long long)r->start_ts,
		    (unsigned long long)r->end_ts, r->tcp_seq, (unsigned long long)r->length,
		    r->code, r->status, r->version.p, r->method.p, r->domain.p, r->resource.p,
		    r->endpoint.p, r->exception.p, r->xrid.p, r->trace.p, r->span.p);
}

static void same_output(const struct conv *a, const struct conv *b, const char *how, size_t ev,
			size_t cut)
{
	size_t i;
	bool ok = a->n == b->n && a->st.messages == b->st.messages &&
		  a->st.parse_errors == b->st.parse_errors && a->st.truncated == b->st.truncated;

	for (i = 0; ok && i < a->n; i++)
		ok = rec_eq(&a->recs[i], &b->recs[i]);
	if (ok)
		return;
	for (i = 0; i < a->n; i++)
		print_rec("whole", i, &a->recs[i]);
	for (i = 0; i < b->n; i++)
		print_rec(how, i, &b->recs[i]);
	fail_msg("%s (event %zu, cut %zu): %zu vs %zu messages, errors %llu vs %llu, "
		 "truncated %llu vs %llu",
		 how, ev, cut, a->n, b->n, (unsigned long long)a->st.parse_errors,
		 (unsigned long long)b->st.parse_errors, (unsigned long long)a->st.truncated,
		 (unsigned long long)b->st.truncated);
}

/* Cut every event at every offset, then feed byte by byte: nothing may change. */
static void check_splits(const struct ev *evs, size_t n, bool close)
{
	struct conv base, other;
	size_t k, cut;

	run_whole(&base, evs, n, close);
	for (k = 0; k < n; k++) {
		for (cut = 1; cut < evs[k].len; cut++) {
			run(&other, evs, n, close, FEED_SPLIT, k, cut);
			same_output(&base, &other, "split", k, cut);
			conv_free(&other);
		}
	}
	run(&other, evs, n, close, FEED_BYTES, 0, 0);
	same_output(&base, &other, "bytes", 0, 0);
	conv_free(&other);
	conv_free(&base);
}

/* ---- expectations --------------------------------------------------------------- */

struct want {
	enum proto_msg_kind kind;
	enum proto_dir dir;
	uint32_t flags;
	uint64_t start_ts, end_ts;
	uint32_t seq;
	uint64_t length;
	const char *version, *method, *domain, *resource, *endpoint;
	int32_t code;
	uint8_t status;
	const char *exception, *xrid, *trace, *span;
};

/* A request starting at evs[first] + off and ending in evs[last]. */
static struct want req(const struct ev *evs, size_t first, size_t off, size_t last, uint64_t length,
		       const char *method, const char *domain, const char *resource,
		       const char *endpoint)
{
	struct want w = {
		.kind = PROTO_MSG_REQUEST,
		.dir = evs[first].dir,
		.start_ts = ev_ts_start(first),
		.end_ts = ev_ts_end(last),
		.seq = seq_of(evs, first, off),
		.length = length,
		.version = "1.1",
		.method = method,
		.domain = domain,
		.resource = resource,
		.endpoint = endpoint,
		.code = -1,
	};
	return w;
}

static struct want rsp(const struct ev *evs, size_t first, size_t off, size_t last, uint64_t length,
		       int32_t code, uint8_t status, const char *exception)
{
	struct want w = {
		.kind = PROTO_MSG_RESPONSE,
		.dir = evs[first].dir,
		.start_ts = ev_ts_start(first),
		.end_ts = ev_ts_end(last),
		.seq = seq_of(evs, first, off),
		.length = length,
		.version = "1.1",
		.code = code,
		.status = status,
		.exception = exception,
	};
	return w;
}

static void expect_str(size_t i, const char *field, const struct rstr *got, const char *want)
{
	size_t wl = want ? strlen(want) : 0;

	if (got->len != wl || memcmp(got->p, want ? want : "", wl) != 0)
		fail_msg("message %zu: %s is \"%s\" (%zu bytes), want \"%s\"", i, field, got->p,
			 got->len, want ? want : "");
}

#define EXPECT_FIELD(i, name, got, want)                                                           \
	do {                                                                                       \
		if ((uint64_t)(got) != (uint64_t)(want))                                           \
			fail_msg("message %zu: %s is %llu, want %llu", (i), (name),                \
				 (unsigned long long)(got), (unsigned long long)(want));           \
	} while (0)

static void expect_msg(const struct conv *c, size_t i, const struct want *w)
{
	const struct rec *r;

	if (i >= c->n)
		fail_msg("message %zu missing: only %zu emitted", i, c->n);
	r = &c->recs[i];
	EXPECT_FIELD(i, "kind", r->kind, w->kind);
	EXPECT_FIELD(i, "dir", r->dir, w->dir);
	EXPECT_FIELD(i, "flags", r->flags, w->flags);
	EXPECT_FIELD(i, "start_ts", r->start_ts, w->start_ts);
	EXPECT_FIELD(i, "end_ts", r->end_ts, w->end_ts);
	EXPECT_FIELD(i, "tcp_seq", r->tcp_seq, w->seq);
	EXPECT_FIELD(i, "length", r->length, w->length);
	EXPECT_FIELD(i, "code", (uint32_t)r->code, (uint32_t)w->code);
	EXPECT_FIELD(i, "status", r->status, w->status);
	EXPECT_FIELD(i, "has_session_id", r->has_session_id, false);
	expect_str(i, "version", &r->version, w->version);
	expect_str(i, "method", &r->method, w->method);
	expect_str(i, "domain", &r->domain, w->domain);
	expect_str(i, "resource", &r->resource, w->resource);
	expect_str(i, "endpoint", &r->endpoint, w->endpoint);
	expect_str(i, "exception", &r->exception, w->exception);
	expect_str(i, "x_request_id", &r->xrid, w->xrid);
	expect_str(i, "trace_id", &r->trace, w->trace);
	expect_str(i, "span_id", &r->span, w->span);
}

static void expect_stats(const struct conv *c, uint64_t messages, uint64_t errors,
			 uint64_t truncated, uint64_t resyncs)
{
	assert_int_equal(c->n, messages);
	assert_int_equal(c->st.messages, messages);
	assert_int_equal(c->st.parse_errors, errors);
	assert_int_equal(c->st.truncated, truncated);
	assert_int_equal(c->st.resyncs, resyncs);
}

/* ---- fixtures ------------------------------------------------------------------- */

#define KA_Q1 "GET /a HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\n\r\n"
#define KA_R1 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
#define KA_Q2 "GET /b/c?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\n\r\n"
#define KA_R2 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
#define KA_Q3 "GET /d HTTP/1.0\r\nhost: example.com:8080\r\n\r\n"
#define KA_R3 "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 3\r\n\r\nbad"

static void test_get_keepalive(void **unused)
{
	static const struct ev evs[] = {
		EG(KA_Q1), IN(KA_R1), EG(KA_Q2), IN(KA_R2), EG(KA_Q3), IN(KA_R3),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 6, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(KA_Q1), "GET", "example.com", "/a", "/a");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 1, SLEN(KA_R1), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	w = req(evs, 2, 0, 2, SLEN(KA_Q2), "GET", "example.com", "/b/c?x=1&y=2", "/b/c");
	expect_msg(&c, 2, &w);
	w = rsp(evs, 3, 0, 3, SLEN(KA_R2), 404, PROTO_STATUS_CLIENT_ERROR, "Not Found");
	expect_msg(&c, 3, &w);
	w = req(evs, 4, 0, 4, SLEN(KA_Q3), "GET", "example.com:8080", "/d", "/d");
	w.version = "1.0";
	expect_msg(&c, 4, &w);
	w = rsp(evs, 5, 0, 5, SLEN(KA_R3), 503, PROTO_STATUS_SERVER_ERROR, "Service Unavailable");
	w.version = "1.0";
	expect_msg(&c, 5, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define POST_H                                                                                     \
	"POST /submit HTTP/1.1\r\nHost: api\r\nContent-Type: text/plain\r\n"                       \
	"Content-Length: 11\r\n\r\n"
#define CREATED "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
#define NEXT_Q	"GET /next HTTP/1.1\r\nHost: api\r\n\r\n"
#define OK2	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

static void test_post_content_length(void **unused)
{
	static const struct ev evs[] = {
		EG(POST_H "hello"), EG(" world"), IN(CREATED), EG(NEXT_Q), IN(OK2),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 4, 0, 0, 0);
	w = req(evs, 0, 0, 1, SLEN(POST_H) + 11, "POST", "api", "/submit", "/submit");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 2, 0, 2, SLEN(CREATED), 201, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	w = req(evs, 3, 0, 3, SLEN(NEXT_Q), "GET", "api", "/next", "/next");
	expect_msg(&c, 2, &w);
	w = rsp(evs, 4, 0, 4, SLEN(OK2), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 3, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define UP_H "PUT /up/file HTTP/1.1\r\nHost: s3\r\nTransfer-Encoding: chunked\r\n\r\n"
#define UP_1 "5\r\nhello\r\n"
#define UP_2 "6;ext=1\r\n world\r\n"
#define UP_3 "0\r\n\r\n"

static void test_chunked_upload(void **unused)
{
	static const struct ev evs[] = {
		EG(UP_H UP_1), EG(UP_2), EG(UP_3), IN(OK2), EG(NEXT_Q), IN(OK2),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 4, 0, 0, 0);
	w = req(evs, 0, 0, 2, SLEN(UP_H UP_1 UP_2 UP_3), "PUT", "s3", "/up/file", "/up/file");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 3, 0, 3, SLEN(OK2), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	w = req(evs, 4, 0, 4, SLEN(NEXT_Q), "GET", "api", "/next", "/next");
	expect_msg(&c, 2, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define CR_Q "GET /wiki HTTP/1.1\r\nHost: w\r\n\r\n"
#define CR_R1                                                                                      \
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nTrailer: X-Sum\r\n\r\n"            \
	"4;name=val\r\nWiki\r\n"
#define CR_R2 "5;a;b=\"q r\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
#define CR_R3 "0;last\r\nX-Sum: abc\r\nX-More: d\r\n\r\n"

static void test_chunked_response_ext_trailers(void **unused)
{
	static const struct ev evs[] = {
		EG(CR_Q), IN(CR_R1), IN(CR_R2), IN(CR_R3), EG(NEXT_Q), IN(OK2),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 4, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(CR_Q), "GET", "w", "/wiki", "/wiki");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 3, SLEN(CR_R1 CR_R2 CR_R3), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	w = rsp(evs, 5, 0, 5, SLEN(OK2), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 3, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define HEAD_Q "HEAD /big HTTP/1.1\r\nHost: h\r\n\r\n"
#define HEAD_R "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
#define GETX_Q "GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
#define HI_R   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"

static void test_head_has_no_body(void **unused)
{
	static const struct ev evs[] = {
		EG(HEAD_Q),
		IN(HEAD_R),
		EG(GETX_Q),
		IN(HI_R),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 4, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(HEAD_Q), "HEAD", "h", "/big", "/big");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 1, SLEN(HEAD_R), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	w = req(evs, 2, 0, 2, SLEN(GETX_Q), "GET", "h", "/x", "/x");
	expect_msg(&c, 2, &w);
	w = rsp(evs, 3, 0, 3, SLEN(HI_R), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 3, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define NC_Q "DELETE /item/7 HTTP/1.1\r\nHost: h\r\n\r\n"
#define NC_R "HTTP/1.1 204 No Content\r\n\r\n"
#define NM_Q "GET /b HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\n"
#define NM_R "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: \"x\"\r\n\r\n"
#define Z_R  "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"

static void test_204_304(void **unused)
{
	static const struct ev evs[] = {
		EG(NC_Q), IN(NC_R), EG(NM_Q), IN(NM_R), EG(GETX_Q), IN(Z_R),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 6, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(NC_Q), "DELETE", "h", "/item/7", "/item/7");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 1, SLEN(NC_R), 204, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	w = req(evs, 2, 0, 2, SLEN(NM_Q), "GET", NULL, "/b", "/b");
	expect_msg(&c, 2, &w);
	w = rsp(evs, 3, 0, 3, SLEN(NM_R), 304, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 3, &w);
	w = rsp(evs, 5, 0, 5, SLEN(Z_R), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 5, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define CONT_Q                                                                                     \
	"POST /upload HTTP/1.1\r\nHost: u\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
#define CONT_100 "HTTP/1.1 100 Continue\r\n\r\n"

static void test_100_continue(void **unused)
{
	static const struct ev evs[] = {
		EG(CONT_Q),
		IN(CONT_100),
		EG("hello"),
		IN(OK2),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 2, 0, 0, 0);
	w = req(evs, 0, 0, 2, SLEN(CONT_Q) + 5, "POST", "u", "/upload", "/upload");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 3, 0, 3, SLEN(OK2), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define EH_Q   "GET / HTTP/1.1\r\nHost: site\r\n\r\n"
#define EH_103 "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
#define EH_R   "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"

static void test_103_early_hints(void **unused)
{
	static const struct ev evs[] = {
		EG(EH_Q), IN(EH_103 EH_R), EG(EH_Q), IN(EH_103), IN(EH_103), IN(EH_R),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 4, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(EH_Q), "GET", "site", "/", "/");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, SLEN(EH_103), 1, SLEN(EH_R), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	w = req(evs, 2, 0, 2, SLEN(EH_Q), "GET", "site", "/", "/");
	expect_msg(&c, 2, &w);
	w = rsp(evs, 5, 0, 5, SLEN(EH_R), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 3, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define WS_Q                                                                                       \
	"GET /chat HTTP/1.1\r\nHost: ws\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"          \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
#define WS_101                                                                                     \
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"

static void test_101_upgrade_then_opaque(void **unused)
{
	static const struct ev evs[] = {
		EG(WS_Q),
		IN(WS_101 "\x81\x05hello"),
		EG("\x81\x85\x01\x02\x03\x04iaoio"),
		EG("GET /not-http HTTP/1.1\r\n\r\n"),
		IN("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
		EG("\x88\x80garbage"),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 2, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(WS_Q), "GET", "ws", "/chat", "/chat");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 1, SLEN(WS_101), 101, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define TUN_Q "CONNECT db.example:443 HTTP/1.1\r\nHost: db.example:443\r\n\r\n"
#define TUN_R "HTTP/1.1 200 Connection Established\r\n\r\n"

static void test_connect_tunnel(void **unused)
{
	static const struct ev evs[] = {
		EG(TUN_Q),
		IN(TUN_R),
		EG("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 client hello"),
		IN("\x16\x03\x03\x00\x7a\x02 server hello"),
		EG("GET / HTTP/1.1\r\nHost: inside\r\n\r\n"),
		IN("HTTP/1.1 200 OK\r\n\r\n"),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 2, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(TUN_Q), "CONNECT", "db.example:443", "db.example:443",
		"db.example:443");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 1, SLEN(TUN_R), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define PX_Q1  "CONNECT 10.0.0.1:8443 HTTP/1.1\r\n\r\n"
#define PX_407 "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
#define PX_Q2  "CONNECT 10.0.0.1:8443 HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n\r\n"

static void test_connect_refused_then_retry(void **unused)
{
	static const struct ev evs[] = {
		EG(PX_Q1), IN(PX_407), EG(PX_Q2), IN(TUN_R), EG("\x16\x03\x01 tls"),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 4, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(PX_Q1), "CONNECT", "10.0.0.1:8443", "10.0.0.1:8443",
		"10.0.0.1:8443");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 1, SLEN(PX_407), 407, PROTO_STATUS_CLIENT_ERROR,
		"Proxy Authentication Required");
	expect_msg(&c, 1, &w);
	w = req(evs, 2, 0, 2, SLEN(PX_Q2), "CONNECT", "10.0.0.1:8443", "10.0.0.1:8443",
		"10.0.0.1:8443");
	expect_msg(&c, 2, &w);
	w = rsp(evs, 3, 0, 3, SLEN(TUN_R), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 3, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define PL_Q1 "GET /1 HTTP/1.1\r\nHost: p\r\n\r\n"
#define PL_Q2 "HEAD /2 HTTP/1.1\r\nHost: p\r\n\r\n"
#define PL_Q3 "POST /3 HTTP/1.1\r\nHost: p\r\nContent-Length: 3\r\n\r\nabc"
#define PL_R1 "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
#define PL_R2 "HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"
#define PL_R3 "HTTP/1.1 500 Boom\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbad\r\n0\r\n\r\n"

static void test_pipelined(void **unused)
{
	static const struct ev evs[] = {
		EG(PL_Q1 PL_Q2 PL_Q3),
		IN(PL_R1 PL_R2 PL_R3),
		EG(NEXT_Q),
		IN(OK2),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 8, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(PL_Q1), "GET", "p", "/1", "/1");
	expect_msg(&c, 0, &w);
	w = req(evs, 0, SLEN(PL_Q1), 0, SLEN(PL_Q2), "HEAD", "p", "/2", "/2");
	expect_msg(&c, 1, &w);
	w = req(evs, 0, SLEN(PL_Q1 PL_Q2), 0, SLEN(PL_Q3), "POST", "p", "/3", "/3");
	expect_msg(&c, 2, &w);
	w = rsp(evs, 1, 0, 1, SLEN(PL_R1), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 3, &w);
	w = rsp(evs, 1, SLEN(PL_R1), 1, SLEN(PL_R2), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 4, &w);
	w = rsp(evs, 1, SLEN(PL_R1 PL_R2), 1, SLEN(PL_R3), 500, PROTO_STATUS_SERVER_ERROR, "Boom");
	expect_msg(&c, 5, &w);
	w = req(evs, 2, 0, 2, SLEN(NEXT_Q), "GET", "api", "/next", "/next");
	expect_msg(&c, 6, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define UC_R  "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part "
#define UC_R2 "second part"

static void test_until_close(void **unused)
{
	static const struct ev evs[] = {
		EG(GETX_Q),
		IN(UC_R),
		IN(UC_R2),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), false);
	expect_stats(&c, 1, 0, 0, 0);
	proto_http1_ops.on_close(c.state, 5555555, on_msg, &c, &c.st);
	expect_stats(&c, 2, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(GETX_Q), "GET", "h", "/x", "/x");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 2, SLEN(UC_R UC_R2), 200, PROTO_STATUS_OK, NULL);
	w.version = "1.0";
	expect_msg(&c, 1, &w);
	/* closing again reports nothing more */
	proto_http1_ops.on_close(c.state, 6666666, on_msg, &c, &c.st);
	expect_stats(&c, 2, 0, 0, 0);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define GZ_R "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n\x1f\x8b"

static void test_until_close_non_chunked_coding(void **unused)
{
	static const struct ev evs[] = {
		EG(GETX_Q),
		IN(GZ_R),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 2, 0, 0, 0);
	w = rsp(evs, 1, 0, 1, SLEN(GZ_R), 200, PROTO_STATUS_OK, NULL);
	w.flags = PROTO_MSG_F_CONN_CLOSE;
	expect_msg(&c, 1, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define NOLEN_R "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"

/*
 * A server that leaves a keep-alive answer unframed: the close that would end it never
 * comes, the next request or answer does, and ends it instead.
 */
static void test_until_close_ended_by_next_message(void **unused)
{
	static const struct ev evs[] = {
		EG(GETX_Q), IN(NOLEN_R), EG(NEXT_Q),  IN(NOLEN_R "body"),
		EG(GETX_Q), EG(NEXT_Q),	 IN(NOLEN_R), IN(OK2),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 8, 0, 0, 0);
	w = rsp(evs, 1, 0, 1, SLEN(NOLEN_R), 200, PROTO_STATUS_OK, NULL);
	w.flags = PROTO_MSG_F_LEN_GUESSED;
	expect_msg(&c, 1, &w);
	w = req(evs, 2, 0, 2, SLEN(NEXT_Q), "GET", "api", "/next", "/next");
	expect_msg(&c, 2, &w);
	w = rsp(evs, 3, 0, 3, SLEN(NOLEN_R "body"), 200, PROTO_STATUS_OK, NULL);
	w.flags = PROTO_MSG_F_LEN_GUESSED;
	expect_msg(&c, 3, &w);
	w = rsp(evs, 6, 0, 6, SLEN(NOLEN_R), 200, PROTO_STATUS_OK, NULL);
	w.flags = PROTO_MSG_F_LEN_GUESSED;
	expect_msg(&c, 6, &w);
	w = rsp(evs, 7, 0, 7, SLEN(OK2), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 7, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define CC_Q "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n"
#define CC_R "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"

static void test_connection_close_flag(void **unused)
{
	static const struct ev evs[] = {
		EG(CC_Q),
		IN(CC_R),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 2, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(CC_Q), "GET", "a", "/", "/");
	w.flags = PROTO_MSG_F_CONN_CLOSE;
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 1, SLEN(CC_R), 200, PROTO_STATUS_OK, NULL);
	w.flags = PROTO_MSG_F_CONN_CLOSE;
	expect_msg(&c, 1, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define BIG_RH	"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
#define BIG_QH	"POST /big HTTP/1.1\r\nHost: b\r\nContent-Length: 100000\r\n\r\n"
#define CAPTURE 1024

/* Bodies larger than the capture size: the gap carries the rest of each. */
static void test_body_larger_than_capture(void **unused)
{
	static char rbuf[sizeof(BIG_RH) + CAPTURE], qbuf[sizeof(BIG_QH) + CAPTURE];
	size_t rh = SLEN(BIG_RH), qh = SLEN(BIG_QH);
	struct conv c;
	struct want w;

	(void)unused;
	memcpy(rbuf, BIG_RH, rh);
	memset(rbuf + rh, 'r', CAPTURE - rh);
	memcpy(qbuf, BIG_QH, qh);
	memset(qbuf + qh, 'q', CAPTURE - qh);
	{
		const struct ev evs[] = {
			EG(GETX_Q),
			{ INGRESS, rbuf, CAPTURE, 100000 + rh - CAPTURE },
			EG(NEXT_Q),
			IN(OK2),
			{ EGRESS, qbuf, CAPTURE, 100000 + qh - CAPTURE },
			IN(CREATED),
			EG(NEXT_Q),
			IN(OK2),
		};

		run_whole(&c, evs, NEV(evs), true);
		expect_stats(&c, 8, 0, 0, 0);
		w = rsp(evs, 1, 0, 1, rh + 100000, 200, PROTO_STATUS_OK, NULL);
		expect_msg(&c, 1, &w);
		w = req(evs, 2, 0, 2, SLEN(NEXT_Q), "GET", "api", "/next", "/next");
		expect_msg(&c, 2, &w);
		w = rsp(evs, 3, 0, 3, SLEN(OK2), 200, PROTO_STATUS_OK, NULL);
		expect_msg(&c, 3, &w);
		w = req(evs, 4, 0, 4, qh + 100000, "POST", "b", "/big", "/big");
		expect_msg(&c, 4, &w);
		w = rsp(evs, 5, 0, 5, SLEN(CREATED), 201, PROTO_STATUS_OK, NULL);
		expect_msg(&c, 5, &w);
		w = req(evs, 6, 0, 6, SLEN(NEXT_Q), "GET", "api", "/next", "/next");
		expect_msg(&c, 6, &w);
		conv_free(&c);
		check_splits(evs, NEV(evs), true);
	}
}

/* A gap swallows the end of a body and the start of the next response. */
#define OV_RH	"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n"
#define OV_BODY "0123456789012345678901234567890123456789"

static void test_gap_overshoots_message(void **unused)
{
	static const struct ev evs[] = {
		EG("GET /a HTTP/1.1\r\n\r\n"),
		ING(OV_RH OV_BODY, 2000 - SLEN(OV_BODY) + 60),
		IN("zzzz tail of a response we never saw the start of"),
		EG("GET /b HTTP/1.1\r\n\r\n"),
		IN("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 4, 0, 0, 1);
	w = rsp(evs, 1, 0, 1, SLEN(OV_RH) + 2000, 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	w = req(evs, 3, 0, 3, evs[3].len, "GET", NULL, "/b", "/b");
	expect_msg(&c, 2, &w);
	w = rsp(evs, 4, 0, 4, evs[4].len, 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 3, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define CG_RH	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\nzzzzzzzzzzzzzzzz"
#define CG_MORE "yyyyyyyyyyyyyyyy\r\n0\r\n\r\n"
#define CG_R2	"HTTP/1.1 404 Nope\r\nContent-Length: 3\r\n\r\nnop"

/* Chunk framing lost in a gap: the message ends where the next one visibly starts. */
static void test_chunked_gap_then_next_response(void **unused)
{
	static const struct ev evs[] = {
		EG("GET /s1 HTTP/1.1\r\n\r\n"),
		EG("GET /s2 HTTP/1.1\r\n\r\n"),
		ING(CG_RH, 3000),
		IN(CG_MORE),
		IN(CG_R2),
		EG(NEXT_Q),
		IN(OK2),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 6, 0, 0, 0);
	w = rsp(evs, 2, 0, 3, SLEN(CG_RH) + 3000 + SLEN(CG_MORE), 200, PROTO_STATUS_OK, NULL);
	w.flags = PROTO_MSG_F_LEN_GUESSED;
	expect_msg(&c, 2, &w);
	w = rsp(evs, 4, 0, 4, SLEN(CG_R2), 404, PROTO_STATUS_CLIENT_ERROR, "Nope");
	expect_msg(&c, 3, &w);
	w = req(evs, 5, 0, 5, SLEN(NEXT_Q), "GET", "api", "/next", "/next");
	expect_msg(&c, 4, &w);
	w = rsp(evs, 6, 0, 6, SLEN(OK2), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 5, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

/* ... or where the other direction starts its next message. */
static void test_chunked_gap_ended_by_next_request(void **unused)
{
	static const struct ev evs[] = {
		EG("GET /s1 HTTP/1.1\r\n\r\n"), ING(CG_RH, 3000), IN(CG_MORE), EG(NEXT_Q), IN(OK2),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 4, 0, 0, 0);
	w = rsp(evs, 1, 0, 2, SLEN(CG_RH) + 3000 + SLEN(CG_MORE), 200, PROTO_STATUS_OK, NULL);
	w.flags = PROTO_MSG_F_LEN_GUESSED;
	expect_msg(&c, 1, &w);
	w = req(evs, 3, 0, 3, SLEN(NEXT_Q), "GET", "api", "/next", "/next");
	expect_msg(&c, 2, &w);
	w = rsp(evs, 4, 0, 4, SLEN(OK2), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 3, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define TR_Q "GET /long HTTP/1.1\r\nHost: t\r\nX-Request-ID: r1\r\nCookie: aaaa"

/* A header cut by the capture limit is reported as far as it goes. */
static void test_header_truncated_by_gap(void **unused)
{
	static const struct ev evs[] = {
		EGG(TR_Q, 3000),
		IN(OK2),
		EG(NEXT_Q),
		IN(OK2),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 4, 0, 1, 0);
	w = req(evs, 0, 0, 0, SLEN(TR_Q) + 3000, "GET", "t", "/long", "/long");
	w.flags = PROTO_MSG_F_TRUNCATED | PROTO_MSG_F_LEN_GUESSED;
	w.xrid = "r1";
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 1, SLEN(OK2), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	w = req(evs, 2, 0, 2, SLEN(NEXT_Q), "GET", "api", "/next", "/next");
	expect_msg(&c, 2, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

/* A response arriving mid-upload answers it: the request is reported first. */
#define EA_Q   "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
#define EA_413 "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n"

static void test_early_response_to_upload(void **unused)
{
	static const struct ev evs[] = {
		EG(EA_Q "01234"), IN(EA_413), EG("56789"), EG(NEXT_Q), IN(OK2),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 4, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(EA_Q) + 10, "POST", "h", "/big", "/big");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 1, SLEN(EA_413), 413, PROTO_STATUS_CLIENT_ERROR, "Payload Too Large");
	expect_msg(&c, 1, &w);
	w = req(evs, 3, 0, 3, SLEN(NEXT_Q), "GET", "api", "/next", "/next");
	expect_msg(&c, 2, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

static void test_header_split_across_events(void **unused)
{
	static const struct ev evs[] = {
		EG("GE"),
		EG("T /split?q=1 HTTP/1.1\r"),
		EG("\nHost: sp"),
		EG("lit\r\nX-Request-ID: abc\r\n"),
		EG("\r"),
		EG("\n"),
		IN("HTTP/1.1 200 OK\r\nContent-Le"),
		IN("ngth: 3\r\n\r\nab"),
		IN("c"),
	};
	struct conv c;
	struct want w;
	uint64_t qlen = 0, rlen = 0;
	size_t i;

	(void)unused;
	for (i = 0; i < 6; i++)
		qlen += evs[i].len;
	for (; i < NEV(evs); i++)
		rlen += evs[i].len;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 2, 0, 0, 0);
	w = req(evs, 0, 0, 5, qlen, "GET", "split", "/split?q=1", "/split");
	w.xrid = "abc";
	expect_msg(&c, 0, &w);
	w = rsp(evs, 6, 0, 8, rlen, 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define ID_Q "GET /id HTTP/1.1\r\nHost: h\r\nX-Request-ID: req-123\r\n\r\n"
#define ID_R "HTTP/1.1 500 Oops\r\nx-request-id:   resp-456  \r\nContent-Length: 0\r\n\r\n"

static void test_x_request_id_both(void **unused)
{
	static const struct ev evs[] = {
		EG(ID_Q),
		IN(ID_R),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 2, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(ID_Q), "GET", "h", "/id", "/id");
	w.xrid = "req-123";
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 1, SLEN(ID_R), 500, PROTO_STATUS_SERVER_ERROR, "Oops");
	w.xrid = "resp-456";
	expect_msg(&c, 1, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define TP_TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define TP_SPAN	 "00f067aa0ba902b7"
#define TPQ(v)	 "GET /t HTTP/1.1\r\ntraceparent: " v "\r\n\r\n"
#define E200	 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

static void test_traceparent(void **unused)
{
	static const struct ev evs[] = {
		EG(TPQ("00-" TP_TRACE "-" TP_SPAN "-01")),
		IN(E200),
		EG(TPQ("00-4BF92F3577B34DA6A3CE929D0E0E4736-" TP_SPAN "-01")), /* upper case */
		IN(E200),
		EG(TPQ("00-00000000000000000000000000000000-" TP_SPAN "-01")), /* zero trace */
		IN(E200),
		EG(TPQ("00-" TP_TRACE "-0000000000000000-01")), /* zero span */
		IN(E200),
		EG(TPQ("00-" TP_TRACE "-" TP_SPAN "-01-extra")), /* v00 is exactly 55 */
		IN(E200),
		EG(TPQ("ff-" TP_TRACE "-" TP_SPAN "-01")), /* forbidden version */
		IN(E200),
		EG(TPQ("00-" TP_TRACE "-" TP_SPAN "01")), /* missing dash */
		IN(E200),
		EG(TPQ("00-" TP_TRACE "x-" TP_SPAN "-01")),
		IN(E200),
		EG(TPQ("01-" TP_TRACE "-" TP_SPAN "-01-future")), /* later versions may grow */
		IN(E200),
	};
	struct conv c;
	struct want w;
	size_t i;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, NEV(evs), 0, 0, 0);
	for (i = 0; i < NEV(evs); i += 2) {
		w = req(evs, i, 0, i, evs[i].len, "GET", NULL, "/t", "/t");
		if (i == 0 || i == NEV(evs) - 2) {
			w.trace = TP_TRACE;
			w.span = TP_SPAN;
		}
		expect_msg(&c, i, &w);
	}
	conv_free(&c);
	check_splits(evs, 4, true);
}

#define AF_Q1 "GET http://user:pw@proxy.example:8080/p/q?x=1#frag HTTP/1.1\r\n\r\n"
#define AF_Q2 "GET HTTPS://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n"
#define AF_Q3 "GET http://c.example HTTP/1.1\r\n\r\n"
#define AF_Q4 "GET http://d.example?k=v HTTP/1.1\r\n\r\n"
#define AF_Q5 "OPTIONS * HTTP/1.1\r\nHost: star\r\n\r\n"

static void test_absolute_form(void **unused)
{
	static const struct ev evs[] = {
		EG(AF_Q1), IN(E200),  EG(AF_Q2), IN(E200),  EG(AF_Q3),
		IN(E200),  EG(AF_Q4), IN(E200),	 EG(AF_Q5), IN(E200),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 10, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(AF_Q1), "GET", "proxy.example:8080", "/p/q?x=1#frag", "/p/q");
	expect_msg(&c, 0, &w);
	w = req(evs, 2, 0, 2, SLEN(AF_Q2), "GET", "b.example", "/x", "/x");
	expect_msg(&c, 2, &w);
	w = req(evs, 4, 0, 4, SLEN(AF_Q3), "GET", "c.example", "/", "/");
	expect_msg(&c, 4, &w);
	w = req(evs, 6, 0, 6, SLEN(AF_Q4), "GET", "d.example", "/?k=v", "/");
	expect_msg(&c, 6, &w);
	w = req(evs, 8, 0, 8, SLEN(AF_Q5), "OPTIONS", "star", "*", "*");
	expect_msg(&c, 8, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define LF_Q   "GET /lf HTTP/1.1\nHost: x\n\n"
#define LF_R   "HTTP/1.1 200 OK\nContent-Length: 1\n\nA"
#define CRLF_Q "GET /after HTTP/1.1\r\n\r\n"

/* Bare LF line ends, and stray line ends between messages, are tolerated. */
static void test_lenient_line_ends(void **unused)
{
	static const struct ev evs[] = {
		EG(LF_Q),
		IN(LF_R),
		EG("\r\n" CRLF_Q),
		IN(E200),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 4, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(LF_Q), "GET", "x", "/lf", "/lf");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 1, 0, 1, SLEN(LF_R), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	w = req(evs, 2, 2, 2, SLEN(CRLF_Q), "GET", NULL, "/after", "/after");
	expect_msg(&c, 2, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

/* Joining mid-stream: skip to a boundary with a start line; answers default to GET. */
static void test_mid_stream_start(void **unused)
{
	static const struct ev evs[] = {
		IN("zzzz the tail of a body\r\n\r\n"),
		EG("yyyy rest of an upload"),
		IN("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
		IN("HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n"),
		EG(GETX_Q),
		IN(HI_R),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 4, 0, 0, 2);
	w = rsp(evs, 2, 0, 2, evs[2].len, 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 0, &w);
	w = rsp(evs, 3, 0, 3, evs[3].len, 302, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	w = req(evs, 4, 0, 4, SLEN(GETX_Q), "GET", "h", "/x", "/x");
	expect_msg(&c, 2, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

static void test_status_classes(void **unused)
{
	static const struct ev evs[] = {
		EG(GETX_Q), IN("HTTP/1.1 600 Weird\r\nContent-Length: 0\r\n\r\n"),
		EG(GETX_Q), IN("HTTP/1.1 499 \r\nContent-Length: 0\r\n\r\n"),
		EG(GETX_Q), IN("HTTP/1.1 502\r\nContent-Length: 0\r\n\r\n"),
		EG(GETX_Q), IN("HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n"),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 8, 0, 0, 0);
	w = rsp(evs, 1, 0, 1, evs[1].len, 600, PROTO_STATUS_UNKNOWN, "Weird");
	expect_msg(&c, 1, &w);
	w = rsp(evs, 3, 0, 3, evs[3].len, 499, PROTO_STATUS_CLIENT_ERROR, NULL);
	expect_msg(&c, 3, &w);
	w = rsp(evs, 5, 0, 5, evs[5].len, 502, PROTO_STATUS_SERVER_ERROR, NULL);
	expect_msg(&c, 5, &w);
	w = rsp(evs, 7, 0, 7, evs[7].len, 99, PROTO_STATUS_UNKNOWN, "Low");
	expect_msg(&c, 7, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define SIM_Q                                                                                      \
	"POST /sim HTTP/1.1\r\nHo: wrong\r\nHost-Alias: wrong2\r\nX-Request-I: no\r\n"             \
	"X-Request-IDs: no\r\nContent-Lengt: 9\r\nContent: 9\r\nTransfer-Encodin: chunked\r\n"     \
	"Connectio: close\r\ntraceparen: 00-" TP_TRACE "-" TP_SPAN "-01\r\nHOST: right\r\n"        \
	"CONTENT-LENGTH: 1\r\n\r\nz"

/* Only the exact field names count, in any case. */
static void test_similar_header_names(void **unused)
{
	static const struct ev evs[] = {
		EG(SIM_Q),
		IN(E200),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 2, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(SIM_Q), "POST", "right", "/sim", "/sim");
	expect_msg(&c, 0, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define CL_LIST_Q "POST /l HTTP/1.1\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc"

static void test_content_length_list(void **unused)
{
	static const struct ev evs[] = {
		EG(CL_LIST_Q),
		IN(E200),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 2, 0, 0, 0);
	w = req(evs, 0, 0, 0, SLEN(CL_LIST_Q), "POST", NULL, "/l", "/l");
	expect_msg(&c, 0, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

/* Each malformed message costs one parse error and no message; traffic then recovers. */
static void check_malformed(const char *bad, size_t len, enum proto_dir dir)
{
	const struct ev evs[] = {
		EG(GETX_Q), IN(HI_R), { dir, bad, len, 0 }, EG(NEXT_Q), IN(OK2),
	};
	struct conv c;
	struct want w;

	run_whole(&c, evs, NEV(evs), true);
	if (c.n != 4 || c.st.parse_errors != 1) {
		fail_msg("malformed \"%.*s\": %zu messages, %llu errors", (int)len, bad, c.n,
			 (unsigned long long)c.st.parse_errors);
	}
	w = req(evs, 3, 0, 3, SLEN(NEXT_Q), "GET", "api", "/next", "/next");
	expect_msg(&c, 2, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

#define MALFORMED(dir, s) check_malformed((s), sizeof(s) - 1, (dir))

static void test_malformed(void **unused)
{
	(void)unused;
	/* start lines */
	MALFORMED(EGRESS, "GET /x HTTP/2.0\r\n\r\n");
	MALFORMED(EGRESS, "GET  /x HTTP/1.1\r\n\r\n");
	MALFORMED(EGRESS, "GET /x HTTP/1.1 extra\r\n\r\n");
	MALFORMED(EGRESS, "GET x HTTP/1.1\r\n\r\n");
	MALFORMED(EGRESS, "GET * HTTP/1.1\r\n\r\n");
	MALFORMED(EGRESS, "get /x HTTP/1.1\r\n\r\n");
	MALFORMED(EGRESS, "PROPFIND /x HTTP/1.1\r\n\r\n");
	MALFORMED(EGRESS, "GET /x\rHTTP/1.1\r\n\r\n");
	MALFORMED(EGRESS, "HTTP/1.1 200 OK\r\n\r\n"); /* a response where requests go */
	MALFORMED(INGRESS, "HTTP/1.1 20 OK\r\n\r\n");
	MALFORMED(INGRESS, "HTTP/1.2 200 OK\r\n\r\n");
	MALFORMED(INGRESS, "HTTP/1.1 200 OK\x01\r\n\r\n");
	/* headers */
	MALFORMED(EGRESS, "GET /x HTTP/1.1\r\nHost example\r\n\r\n");
	MALFORMED(EGRESS, "GET /x HTTP/1.1\r\nHost : example\r\n\r\n");
	MALFORMED(EGRESS, "GET /x HTTP/1.1\r\n folded-first: x\r\n\r\n");
	MALFORMED(EGRESS, "GET /x HTTP/1.1\r\nA: b\rc\r\n\r\n");
	MALFORMED(EGRESS, "GET /x HTTP/1.1\r\nA: \x00\r\n\r\n");
	/* framing */
	MALFORMED(EGRESS, "POST /x HTTP/1.1\r\nContent-Length: 12a\r\n\r\n");
	MALFORMED(EGRESS, "POST /x HTTP/1.1\r\nContent-Length: \r\n\r\n");
	MALFORMED(EGRESS, "POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n");
	MALFORMED(EGRESS, "POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
	MALFORMED(EGRESS, "POST /x HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n");
	MALFORMED(EGRESS, "POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n");
	MALFORMED(EGRESS, "POST /x HTTP/1.1\r\nContent-Length: 1\r\n 2\r\n\r\nx");
	MALFORMED(EGRESS, "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
	MALFORMED(EGRESS, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
	MALFORMED(EGRESS, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "10000000000000000\r\n");
	MALFORMED(EGRESS, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "3\r\nabcX\r\n0\r\n\r\n");
	MALFORMED(EGRESS, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "0\r\nbad trailer\r\n\r\n");
	/* noise where a message should begin */
	MALFORMED(EGRESS, "FOO /x HTTP/1.1\r\n\r\n");
	MALFORMED(EGRESS, "\x16\x03\x01\x00\x05hello");
}

/* An endless header: an error once the cap is reached, never a bigger leftover. */
static void test_oversize_header(void **unused)
{
	static const char head[] = "GET /x HTTP/1.1\r\nX-Big: ";
	size_t total = PROTO_HTTP1_MAX_HDR + 1000, piece = 1000, off;
	char *buf = malloc(total);
	struct conv c;
	uint32_t seq = BASE_SEQ_EG;

	(void)unused;
	assert_non_null(buf);
	memcpy(buf, head, sizeof(head) - 1);
	memset(buf + sizeof(head) - 1, 'a', total - (sizeof(head) - 1));
	conv_init(&c);
	for (off = 0; off < total; off += piece, seq += (uint32_t)piece) {
		if (piece > total - off)
			piece = total - off;
		conv_event(&c, EGRESS, buf + off, piece, 0, 1, 2, seq);
	}
	expect_stats(&c, 0, 1, 0, 1);
	/* the rest of that header is skipped quietly; the next request is fine */
	conv_event(&c, EGRESS, NEXT_Q, SLEN(NEXT_Q), 0, 3, 4, seq);
	expect_stats(&c, 1, 1, 0, 1);
	conv_free(&c);

	/* exactly at the cap is still accepted */
	memcpy(buf + PROTO_HTTP1_MAX_HDR - 4, "\r\n\r\n", 4);
	conv_init(&c);
	conv_event(&c, EGRESS, buf, PROTO_HTTP1_MAX_HDR, 0, 1, 2, BASE_SEQ_EG);
	expect_stats(&c, 1, 0, 0, 0);
	assert_int_equal(c.recs[0].length, PROTO_HTTP1_MAX_HDR);
	conv_free(&c);

	/* one more byte is not */
	memcpy(buf + PROTO_HTTP1_MAX_HDR - 4, "a\r\n\r", 4);
	buf[PROTO_HTTP1_MAX_HDR] = '\n';
	conv_init(&c);
	conv_event(&c, EGRESS, buf, PROTO_HTTP1_MAX_HDR + 1, 0, 1, 2, BASE_SEQ_EG);
	expect_stats(&c, 0, 1, 0, 0);
	conv_free(&c);
	free(buf);
}

static void test_binary_garbage(void **unused)
{
	static const struct ev evs[] = {
		EG("\x00\x01\x02\xff\xfe binary \x80\x81\r\n\r\n"),
		IN("\x17\x03\x03\x00\x20 encrypted application data"),
		EG("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"),
		IN("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
		EG("GETX / HTTP/1.1\r\n\r\n"),
		IN("HTTPS/1.1 200 OK\r\n\r\n"),
	};
	struct conv c;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 0, 0, 0, 2);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

/* Bytes that begin like a request but are not one are an error, not a message. */
static void test_garbage_after_method(void **unused)
{
	static const struct ev evs[] = {
		EG("GET \x01\x02\x03\x04\x05"),
		EG("POST /x HTTP/1.1\x00\r\n\r\n"),
		IN("HTTP/1.1 200\x7f\r\n\r\n"),
		EG("PUT /ok HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
		IN(E200),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 2, 3, 0, 0);
	w = req(evs, 3, 0, 3, evs[3].len, "PUT", NULL, "/ok", "/ok");
	expect_msg(&c, 0, &w);
	w = rsp(evs, 4, 0, 4, evs[4].len, 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 1, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

static void test_close_with_pending(void **unused)
{
	static const struct ev partial[] = {
		EG("GET /x HTTP/1.1\r\nHost: a\r\n"),
	};
	static const struct ev short_body[] = {
		EG(GETX_Q),
		IN("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, partial, NEV(partial), true);
	expect_stats(&c, 0, 0, 1, 0);
	conv_free(&c);
	check_splits(partial, NEV(partial), true);

	run_whole(&c, short_body, NEV(short_body), true);
	expect_stats(&c, 2, 0, 0, 0);
	w = rsp(short_body, 1, 0, 1, short_body[1].len, 200, PROTO_STATUS_OK, NULL);
	w.flags = PROTO_MSG_F_LEN_GUESSED;
	expect_msg(&c, 1, &w);
	conv_free(&c);
	check_splits(short_body, NEV(short_body), true);
}

/* A message of unknown length still pending at the close is reported then. */
static void test_close_ends_unknown_length(void **unused)
{
	static const struct ev evs[] = {
		EG(GETX_Q),
		ING(CG_RH, 3000),
		IN(CG_MORE),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), false);
	expect_stats(&c, 1, 0, 0, 0);
	proto_http1_ops.on_close(c.state, 99999999, on_msg, &c, &c.st);
	expect_stats(&c, 2, 0, 0, 0);
	w = rsp(evs, 1, 0, 2, SLEN(CG_RH) + 3000 + SLEN(CG_MORE), 200, PROTO_STATUS_OK, NULL);
	w.flags = PROTO_MSG_F_LEN_GUESSED;
	expect_msg(&c, 1, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

/*
 * Answers lost while resynchronising leave their requests queued; the next answer seen is
 * taken for the newest request, so a lost HEAD answer does not make a GET answer bodiless.
 */
static void test_resync_trims_answer_queue(void **unused)
{
	static const struct ev evs[] = {
		EG("HEAD /h HTTP/1.1\r\n\r\n"),
		EG("GET /g HTTP/1.1\r\n\r\n"),
		ING("zzzz lost answer", 100),
		IN(OK2),
		EG(NEXT_Q),
		IN(OK2),
	};
	struct conv c;
	struct want w;

	(void)unused;
	run_whole(&c, evs, NEV(evs), true);
	expect_stats(&c, 5, 0, 0, 1);
	w = rsp(evs, 3, 0, 3, SLEN(OK2), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 2, &w);
	w = rsp(evs, 5, 0, 5, SLEN(OK2), 200, PROTO_STATUS_OK, NULL);
	expect_msg(&c, 4, &w);
	conv_free(&c);
	check_splits(evs, NEV(evs), true);
}

/* Timestamps and sequence numbers come from the segment of each message's bytes. */
static void test_timestamps_from_segments(void **unused)
{
	struct conv c;

	(void)unused;
	conv_init(&c);
	conv_event(&c, EGRESS, "GET /t HTTP/1.1\r\n", 17, 0, 10, 11, 500);
	conv_event(&c, EGRESS, "\r\nGET /u HT", 11, 0, 20, 21, 517);
	conv_event(&c, EGRESS, "TP/1.1\r\n\r\n", 10, 0, 30, 31, 528);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.recs[0].start_ts, 10);
	assert_int_equal(c.recs[0].end_ts, 21);
	assert_int_equal(c.recs[0].tcp_seq, 500);
	assert_int_equal(c.recs[0].length, 19);
	assert_int_equal(c.recs[1].start_ts, 20);
	assert_int_equal(c.recs[1].end_ts, 31);
	assert_int_equal(c.recs[1].tcp_seq, 519);
	assert_int_equal(c.recs[1].length, 19);
	conv_free(&c);
}

/* Long values are cut to the parser's caps, the same way whatever the body does. */
static void test_long_values_capped(void **unused)
{
	char q[4096];
	struct conv c;
	int n;

	(void)unused;
	n = snprintf(q, sizeof(q),
		     "GET /%0*d?q=1 HTTP/1.1\r\nHost: %0*d\r\nX-Request-ID: %0*d\r\n"
		     "Content-Length: 2\r\n\r\nab",
		     1500, 0, 300, 0, 200, 0);
	assert_true(n > 0 && (size_t)n < sizeof(q));
	conv_init(&c);
	conv_event(&c, EGRESS, q, (size_t)n, 0, 1, 2, 9);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.recs[0].length, n);
	assert_int_equal(c.recs[0].resource.len, 1024);
	assert_int_equal(c.recs[0].endpoint.len, 1024);
	assert_int_equal(c.recs[0].domain.len, 256);
	assert_int_equal(c.recs[0].xrid.len, 128);
	conv_free(&c);
}

static void test_detect(void **unused)
{
	static const struct {
		const char *s;
		enum proto_detect want;
	} cases[] = {
		{ "GET / HTTP/1.1\r\n", PROTO_DETECT_YES },
		{ "GET /", PROTO_DETECT_YES },
		{ "POST ", PROTO_DETECT_YES },
		{ "OPTIONS * HTTP/1.1\r\n", PROTO_DETECT_YES },
		{ "CONNECT a:1 HTTP/1.1\r\n", PROTO_DETECT_YES },
		{ "TRACE /", PROTO_DETECT_YES },
		{ "PATCH /", PROTO_DETECT_YES },
		{ "DELETE /", PROTO_DETECT_YES },
		{ "PUT /", PROTO_DETECT_YES },
		{ "HEAD /", PROTO_DETECT_YES },
		{ "HTTP/1.1 200 OK\r\n", PROTO_DETECT_YES },
		{ "HTTP/1.0 404", PROTO_DETECT_YES },
		{ "GE", PROTO_DETECT_MAYBE },
		{ "HTTP/1.1 2", PROTO_DETECT_MAYBE },
		{ "H", PROTO_DETECT_MAYBE },
		{ "HTTP/2 200", PROTO_DETECT_NO },
		{ "PRI * HTTP/2.0\r\n", PROTO_DETECT_NO },
		{ "GET \x01", PROTO_DETECT_NO },
		{ "\x16\x03\x01", PROTO_DETECT_NO },
		{ "get / HTTP/1.1", PROTO_DETECT_NO },
		{ "", PROTO_DETECT_NO },
	};
	size_t i;

	(void)unused;
	for (i = 0; i < NEV(cases); i++) {
		enum proto_detect got = proto_http1_ops.detect((const uint8_t *)cases[i].s,
							       strlen(cases[i].s), EGRESS, NULL);

		if (got != cases[i].want)
			fail_msg("detect(\"%s\") = %d, want %d", cases[i].s, got, cases[i].want);
	}
}

/* The shared parser harness (tests/unit/proto_harness.h) on HTTP: a pipelined pair of
 * exchanges gives the same messages however the bytes are cut. */
static void test_harness_splits(void **unused)
{
	static const char req[] = "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
				  "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
				   "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n";
	const struct ph_event evs[] = { PH_EV(PROTO_DIR_EGRESS, req),
					PH_EV(PROTO_DIR_INGRESS, resp) };
	const struct proto_ctx ctx = { .l4_proto = 6, .role = PROTO_ROLE_CLIENT };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_http1_ops, &ctx, evs, 2, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 4);
	assert_string_equal(c.msgs[0].method, "GET");
	assert_string_equal(c.msgs[0].resource, "/a?x=1");
	assert_int_equal(c.msgs[0].m.tcp_seq, PH_SEQ_EGRESS);
	assert_string_equal(c.msgs[1].method, "POST");
	assert_int_equal(c.msgs[1].m.tcp_seq, PH_SEQ_EGRESS + 32);
	assert_int_equal(c.msgs[2].m.code, 200);
	assert_int_equal(c.msgs[2].m.start_ts, PH_TS_START(1));
	assert_int_equal(c.msgs[3].m.code, 500);
	assert_string_equal(c.msgs[3].exception, "Oops");
	ph_free(&c);
	ph_check_splits(&proto_http1_ops, &ctx, evs, 2, true);
}

/* h2c upgrade: the offer and its answers carry session id 1; a 101 to h2c says HTTP/2
 * follows, and parse() stops just past it, gap or not. */
static void test_h2c_upgrade_switch(void **unused)
{
	static const char req[] =
		"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
	static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
				 "Upgrade: h2c\r\n\r\n";
	static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
				   "Upgrade: h2c\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
	const struct ph_event evs[] = { PH_EV(PROTO_DIR_EGRESS, req),
					PH_EV(PROTO_DIR_INGRESS, resp) };
	const struct proto_ctx ctx = { .l4_proto = 6, .role = PROTO_ROLE_CLIENT };
	struct proto_seg seg = { .off = 0, .ts_start = 1, .ts_end = 2 };
	struct proto_input in = { .ctx = &ctx, .segs = &seg, .nsegs = 1 };
	struct proto_stats st = { 0 };
	struct ph_conv c;
	void *state;

	(void)unused;
	ph_run(&c, &proto_http1_ops, &ctx, evs, 2, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	assert_true(c.msgs[0].m.has_session_id);
	assert_int_equal(c.msgs[0].m.session_id, 1);
	assert_int_equal(c.msgs[0].m.next_proto, 0);
	assert_int_equal(c.msgs[1].m.code, 101);
	assert_int_equal(c.msgs[1].m.next_proto, PROTO_HTTP2);
	assert_int_equal(c.msgs[1].m.length, sizeof(sw) - 1);
	assert_int_equal(c.errors, 0);
	ph_free(&c);
	ph_check_splits(&proto_http1_ops, &ctx, evs, 2, true);

	/* The return value: the 101's end, with a gap after the frames too. */
	for (int gap = 0; gap < 2; gap++) {
		state = calloc(1, proto_http1_ops.state_size);
		assert_non_null(state);
		in.dir = PROTO_DIR_EGRESS;
		in.data = (const uint8_t *)req;
		in.len = seg.len = sizeof(req) - 1;
		in.gap = 0;
		assert_int_equal(proto_http1_ops.parse(state, &in, NULL, NULL, &st),
				 sizeof(req) - 1);
		in.dir = PROTO_DIR_INGRESS;
		in.data = (const uint8_t *)resp;
		in.len = seg.len = sizeof(resp) - 1;
		in.gap = (uint64_t)gap * 5000;
		assert_int_equal(proto_http1_ops.parse(state, &in, NULL, NULL, &st),
				 sizeof(sw) - 1);
		free(state);
	}
}

static void test_registry(void **unused)
{
	(void)unused;
	assert_ptr_equal(proto_by_id(PROTO_HTTP1), &proto_http1_ops);
	assert_null(proto_by_id(PROTO_UNKNOWN));
	assert_null(proto_by_id(PROTO_ID_MAX));
	assert_null(proto_by_id((enum proto_id) - 1));
	assert_string_equal(proto_name(PROTO_HTTP1), "HTTP");
	assert_string_equal(proto_name(PROTO_HTTP2), "HTTP2");
	assert_string_equal(proto_name(PROTO_UNKNOWN), "");
	assert_string_equal(proto_name((enum proto_id)4000), "");
	/* Every parser in the detection order is the registered one for its id. */
	for (size_t i = 0; proto_detect_order[i]; i++)
		assert_ptr_equal(proto_by_id(proto_detect_order[i]->id), proto_detect_order[i]);
	assert_ptr_equal(proto_detect_order[0], &proto_http1_ops);
	assert_string_equal(proto_http1_ops.name, "HTTP");
	assert_int_equal(proto_http1_ops.id, PROTO_HTTP1);
	assert_true(proto_http1_ops.state_size > 0);
}

static void test_input_locate(void **unused)
{
	static const uint8_t data[10];
	const struct proto_seg segs[] = {
		{ .off = 0, .len = 4, .ts_start = 1, .ts_end = 2, .tcp_seq = 100 },
		{ .off = 4, .len = 0, .ts_start = 3, .ts_end = 4, .tcp_seq = 200 },
		{ .off = 4, .len = 5, .ts_start = 5, .ts_end = 6, .tcp_seq = 300 },
		{ .off = 9, .len = 1, .ts_start = 7, .ts_end = 8, .tcp_seq = 0 },
	};
	struct proto_input in = {
		.data = data,
		.len = 10,
		.segs = segs,
		.nsegs = 4,
		.event_start = 9,
	};

	(void)unused;
	assert_ptr_equal(proto_input_locate(&in, 0), &segs[0]);
	assert_ptr_equal(proto_input_locate(&in, 3), &segs[0]);
	assert_ptr_equal(proto_input_locate(&in, 4), &segs[2]);
	assert_ptr_equal(proto_input_locate(&in, 8), &segs[2]);
	assert_ptr_equal(proto_input_locate(&in, 9), &segs[3]);
	assert_ptr_equal(proto_input_locate(&in, 10), &segs[3]);
	assert_int_equal(proto_input_seq_at(&in, 2), 102);
	assert_int_equal(proto_input_seq_at(&in, 6), 302);
	assert_int_equal(proto_input_seq_at(&in, 9), 0); /* not TCP */
	in.nsegs = 0;
	assert_null(proto_input_locate(&in, 0));
	assert_int_equal(proto_input_seq_at(&in, 0), 0);
}

/* A state zero-filled by the caller is valid; bad inputs are refused, not crashed on. */
/* reset(): the caller lost bytes it was to present again; the direction resynchronises
 * instead of reading the next bytes as the continuation of a header. */
static void count_msgs(void *ctx, const struct proto_msg *m)
{
	(void)m;
	(*(int *)ctx)++;
}

static void feed_one(void *state, enum proto_dir dir, const char *s, struct proto_stats *st,
		     int *msgs, int expect_rc)
{
	struct proto_seg seg = { .off = 0, .len = strlen(s), .ts_start = 1, .ts_end = 2 };
	struct proto_input in = {
		.dir = dir, .data = (const uint8_t *)s, .len = strlen(s), .segs = &seg, .nsegs = 1
	};

	assert_int_equal(proto_http1_ops.parse(state, &in, count_msgs, msgs, st), expect_rc);
}

static void test_reset_resynchronises(void **unused)
{
	uint8_t *state = calloc(1, proto_http1_ops.state_size);
	struct proto_stats st = { 0 };
	int msgs = 0;

	(void)unused;
	feed_one(state, PROTO_DIR_EGRESS, "GET /a HTTP/1.1\r\nHo", &st, &msgs, 0);
	proto_http1_ops.reset(state, PROTO_DIR_EGRESS);
	/* The rest of the lost header: skipped, not an error. */
	feed_one(state, PROTO_DIR_EGRESS, "st: x\r\n\r\n", &st, &msgs, 9);
	assert_int_equal(st.parse_errors, 0);
	assert_int_equal(st.resyncs, 1);
	feed_one(state, PROTO_DIR_EGRESS, "GET /b HTTP/1.1\r\n\r\n", &st, &msgs, 19);
	assert_int_equal(msgs, 1);
	/* Without the reset, the same bytes are a broken header: an error. */
	memset(state, 0, proto_http1_ops.state_size);
	memset(&st, 0, sizeof(st));
	feed_one(state, PROTO_DIR_EGRESS, "GET /a HTTP/1.1\r\nHo", &st, &msgs, 0);
	feed_one(state, PROTO_DIR_EGRESS, "st: x\r\n\r\n", &st, &msgs, PROTO_ERROR);
	assert_int_equal(st.parse_errors, 1);
	free(state);
}

static void test_bad_arguments(void **unused)
{
	(void)unused;
	ph_check_bad_args(&proto_http1_ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_keepalive),
		cmocka_unit_test(test_post_content_length),
		cmocka_unit_test(test_chunked_upload),
		cmocka_unit_test(test_chunked_response_ext_trailers),
		cmocka_unit_test(test_head_has_no_body),
		cmocka_unit_test(test_204_304),
		cmocka_unit_test(test_100_continue),
		cmocka_unit_test(test_103_early_hints),
		cmocka_unit_test(test_101_upgrade_then_opaque),
		cmocka_unit_test(test_connect_tunnel),
		cmocka_unit_test(test_connect_refused_then_retry),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_until_close),
		cmocka_unit_test(test_until_close_non_chunked_coding),
		cmocka_unit_test(test_until_close_ended_by_next_message),
		cmocka_unit_test(test_connection_close_flag),
		cmocka_unit_test(test_body_larger_than_capture),
		cmocka_unit_test(test_gap_overshoots_message),
		cmocka_unit_test(test_chunked_gap_then_next_response),
		cmocka_unit_test(test_chunked_gap_ended_by_next_request),
		cmocka_unit_test(test_header_truncated_by_gap),
		cmocka_unit_test(test_early_response_to_upload),
		cmocka_unit_test(test_header_split_across_events),
		cmocka_unit_test(test_x_request_id_both),
		cmocka_unit_test(test_traceparent),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_lenient_line_ends),
		cmocka_unit_test(test_mid_stream_start),
		cmocka_unit_test(test_status_classes),
		cmocka_unit_test(test_content_length_list),
		cmocka_unit_test(test_similar_header_names),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_oversize_header),
		cmocka_unit_test(test_binary_garbage),
		cmocka_unit_test(test_garbage_after_method),
		cmocka_unit_test(test_close_with_pending),
		cmocka_unit_test(test_close_ends_unknown_length),
		cmocka_unit_test(test_resync_trims_answer_queue),
		cmocka_unit_test(test_timestamps_from_segments),
		cmocka_unit_test(test_long_values_capped),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_harness_splits),
		cmocka_unit_test(test_h2c_upgrade_switch),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_input_locate),
		cmocka_unit_test(test_reset_resynchronises),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
