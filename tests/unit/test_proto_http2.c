/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 and gRPC parser tests: frames taken from the reference captures (h2c_ascii,
 * grpc-unknown, http2-multi in /work/shared/pcaps/http, bytes dumped with tshark), and
 * conversations built here with nghttp2's HPACK deflater (prior knowledge preface,
 * CONTINUATION, padding, trailers, RST_STREAM, dynamic table references, a connection
 * joined mid-stream). Every fixture is also replayed cut at every offset.
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
#include <nghttp2/nghttp2.h>

#include "proto/proto.h"
#include "proto_harness.h"

#include "http2_fixtures.h"

#define E PROTO_DIR_EGRESS
#define I PROTO_DIR_INGRESS

static const struct proto_ctx ctx_client = { .l4_proto = 6, .role = PROTO_ROLE_CLIENT };
static const struct proto_ctx ctx_server = { .l4_proto = 6, .role = PROTO_ROLE_SERVER };
static const struct proto_ctx ctx_none = { .l4_proto = 6 };

/* ---- building conversations ---- */

struct buf {
	uint8_t b[65536];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void frame(struct buf *b, uint8_t type, uint8_t flags, uint32_t stream, const void *p,
		  size_t n)
{
	uint8_t h[9] = { (uint8_t)(n >> 16),
			 (uint8_t)(n >> 8),
			 (uint8_t)n,
			 type,
			 flags,
			 (uint8_t)(stream >> 24),
			 (uint8_t)(stream >> 16),
			 (uint8_t)(stream >> 8),
			 (uint8_t)stream };

	put(b, h, 9);
	if (n)
		put(b, p, n);
}

/* An HPACK block for "name: value" pairs (NULL-terminated list). */
static size_t hpack(nghttp2_hd_deflater *def, uint8_t *out, size_t cap, const char *const *kv)
{
	nghttp2_nv nv[32];
	size_t n = 0;
	ssize_t r;

	for (; kv[2 * n]; n++) {
		nv[n].name = (uint8_t *)kv[2 * n];
		nv[n].namelen = strlen(kv[2 * n]);
		nv[n].value = (uint8_t *)kv[2 * n + 1];
		nv[n].valuelen = strlen(kv[2 * n + 1]);
		nv[n].flags = NGHTTP2_NV_FLAG_NONE;
	}
	r = nghttp2_hd_deflate_hd(def, out, cap, nv, n);
	assert_true(r > 0);
	return (size_t)r;
}

static void headers(struct buf *b, nghttp2_hd_deflater *def, uint32_t stream, uint8_t flags,
		    const char *const *kv)
{
	uint8_t blk[4096];
	size_t n = hpack(def, blk, sizeof(blk), kv);

	frame(b, 1, (uint8_t)(flags | 0x04), stream, blk, n);
}

static const uint8_t settings_empty[0] = {};
#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

static const struct ph_msg *find(const struct ph_conv *c, enum proto_msg_kind kind, uint32_t id)
{
	for (size_t i = 0; i < c->nmsgs; i++) {
		if (c->msgs[i].m.kind == kind && c->msgs[i].m.request_id == id)
			return &c->msgs[i];
	}
	fail_msg("no %s for stream %u", kind ? "response" : "request", id);
	return NULL;
}

#define S(x) ((x) ? (x) : "")

/* ---- captures ---- */

static void test_capture_h2c_ascii(void **st)
{
	struct ph_event evs[] = { PH_EV(E, h2c_ascii_1), PH_EV(I, h2c_ascii_2) };
	struct ph_conv c;
	const struct ph_msg *q, *a;

	(void)st;
	ph_run(&c, &proto_http2_ops, &ctx_client, evs, 2, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	q = &c.msgs[0];
	a = &c.msgs[1];
	assert_int_equal(q->m.kind, PROTO_MSG_REQUEST);
	assert_int_equal(q->m.proto_override, PROTO_GRPC);
	assert_string_equal(q->method, "POST");
	assert_string_equal(q->domain, "cartservice:7070");
	assert_string_equal(q->resource, "hipstershop.CartService");
	assert_string_equal(q->endpoint, "/hipstershop.CartService/GetCart");
	assert_string_equal(q->version, "2");
	assert_true(q->m.has_request_id && q->m.request_id == 1);
	assert_true(q->m.has_session_id && q->m.session_id == 1);
	/* SETTINGS ack (9) + PING (17) come first: HEADERS 9+200, DATA 9+43 */
	assert_int_equal(q->m.length, 261);
	assert_int_equal(q->m.tcp_seq, PH_SEQ_EGRESS + 26);
	assert_int_equal(a->m.kind, PROTO_MSG_RESPONSE);
	assert_int_equal(a->m.proto_override, PROTO_GRPC);
	assert_int_equal(a->m.code, 0); /* grpc-status */
	assert_int_equal(a->m.status, PROTO_STATUS_OK);
	assert_null(a->exception);
	assert_int_equal(a->m.session_id, 1);
	assert_int_equal(c.st.messages, 2);
	assert_int_equal(c.st.parse_errors, 0);
	ph_free(&c);
	ph_check_splits(&proto_http2_ops, &ctx_client, evs, 2, true);
	ph_check_splits(&proto_http2_ops, &ctx_none, evs, 2, true);
}

/* Joined mid-stream: the path and traceparent are indexed in a table we never saw. */
static void test_capture_grpc_unknown(void **st)
{
	struct ph_event evs[] = { PH_EV(E, grpc_unknown_1), PH_EV(I, grpc_unknown_2),
				  PH_EV(I, grpc_unknown_3) };
	struct ph_conv c;

	(void)st;
	ph_run(&c, &proto_http2_ops, &ctx_client, evs, 3, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	assert_string_equal(c.msgs[0].method, "POST");
	assert_string_equal(c.msgs[0].domain, "currencyservice:7000");
	assert_null(c.msgs[0].resource);
	assert_null(c.msgs[0].endpoint);
	assert_null(c.msgs[0].trace_id);
	assert_int_equal(c.msgs[0].m.request_id, 928401);
	assert_int_equal(c.msgs[0].m.proto_override, PROTO_GRPC);
	assert_int_equal(c.msgs[0].m.length, 123);
	assert_int_equal(c.msgs[1].m.code, 200); /* grpc-status unknown: :status */
	assert_int_equal(c.msgs[1].m.status, PROTO_STATUS_OK);
	assert_int_equal(c.msgs[1].m.length, 227);
	assert_int_equal(c.msgs[1].m.end_ts, PH_TS_END(2));
	/* counted: one direction joined mid-stream each */
	assert_int_equal(c.st.resyncs, 2);
	ph_free(&c);
	ph_check_splits(&proto_http2_ops, &ctx_client, evs, 3, true);
}

/* Two streams, answered in the other order. */
static void test_capture_http2_multi(void **st)
{
	struct ph_event evs[] = { PH_EV(E, http2_multi_1), PH_EV(I, http2_multi_2) };
	struct ph_conv c;
	const struct ph_msg *a;

	(void)st;
	ph_run(&c, &proto_http2_ops, &ctx_none, evs, 2, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 4);
	assert_int_equal(find(&c, PROTO_MSG_REQUEST, 18131981)->m.length, 76);
	assert_string_equal(find(&c, PROTO_MSG_REQUEST, 18131983)->method, "POST");
	assert_int_equal(find(&c, PROTO_MSG_REQUEST, 18131983)->m.proto_override, 0);
	a = find(&c, PROTO_MSG_RESPONSE, 18131983);
	assert_int_equal(a->m.code, 200);
	assert_int_equal(a->m.length, 181);
	assert_int_equal(find(&c, PROTO_MSG_RESPONSE, 18131981)->m.length, 179);
	/* the response to 18131983 comes first */
	assert_int_equal(c.msgs[2].m.request_id, 18131983);
	ph_free(&c);
	ph_check_splits(&proto_http2_ops, &ctx_none, evs, 2, true);
}

/* ---- built conversations ---- */

struct conv {
	struct buf cli, srv;
	nghttp2_hd_deflater *dc, *ds;
};

static void conv_init(struct conv *v, bool preface)
{
	memset(&v->cli, 0, sizeof(v->cli));
	memset(&v->srv, 0, sizeof(v->srv));
	assert_int_equal(nghttp2_hd_deflate_new(&v->dc, 4096), 0);
	assert_int_equal(nghttp2_hd_deflate_new(&v->ds, 4096), 0);
	if (preface) {
		put(&v->cli, PREFACE, 24);
		frame(&v->cli, 4, 0, 0, settings_empty, 0);
		frame(&v->srv, 4, 0, 0, settings_empty, 0);
		frame(&v->srv, 4, 1, 0, settings_empty, 0);
		frame(&v->cli, 4, 1, 0, settings_empty, 0);
	}
}

static void conv_free(struct conv *v)
{
	nghttp2_hd_deflate_del(v->dc);
	nghttp2_hd_deflate_del(v->ds);
}

static void test_prior_knowledge(void **st)
{
	struct conv v;
	const char *const req1[] = { ":method",
				     "GET",
				     ":scheme",
				     "http",
				     ":path",
				     "/index.html?x=1",
				     ":authority",
				     "127.0.0.1:8080",
				     "user-agent",
				     "curl/7.88.1",
				     "x-request-id",
				     "abc-123",
				     "traceparent",
				     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
				     NULL };
	const char *const resp1[] = { ":status", "200", "content-type", "text/html", "x-request-id",
				      "abc-123", NULL };
	const char *const req3[] = { ":method",	   "GET",	  ":scheme",	"http",
				     ":path",	   "/missing",	  ":authority", "127.0.0.1:8080",
				     "user-agent", "curl/7.88.1", NULL };
	const char *const resp3[] = { ":status", "404", "content-type", "text/html", NULL };
	const char *const req5[] = { ":method", "POST",	      ":scheme",	"http", ":path",
				     "/post",	":authority", "127.0.0.1:8080", NULL };
	const char *const resp5[] = { ":status", "500", NULL };
	uint8_t body[100], ping[8] = { 0 }, wu[4] = { 0, 0, 1, 0 };
	struct ph_conv c;
	struct ph_event evs[2];
	const struct ph_msg *m;

	(void)st;
	memset(body, 'a', sizeof(body));
	conv_init(&v, true);
	headers(&v.cli, v.dc, 1, 0x01, req1);
	frame(&v.cli, 6, 0, 0, ping, 8);
	headers(&v.cli, v.dc, 3, 0x01, req3); /* uses req1's entries */
	headers(&v.cli, v.dc, 5, 0, req5);
	frame(&v.cli, 0, 0, 5, body, 60);
	frame(&v.cli, 8, 0, 0, wu, 4);
	frame(&v.cli, 0, 1, 5, body, 40);
	headers(&v.srv, v.ds, 1, 0, resp1);
	frame(&v.srv, 0, 1, 1, body, 100);
	headers(&v.srv, v.ds, 3, 0x01, resp3);
	frame(&v.srv, 6, 1, 0, ping, 8);
	headers(&v.srv, v.ds, 5, 0x01, resp5);
	evs[0] = PH_EVB(E, v.cli.b, v.cli.n);
	evs[1] = PH_EVB(I, v.srv.b, v.srv.n);
	ph_run(&c, &proto_http2_ops, &ctx_none, evs, 2, PH_WHOLE, false);
	assert_int_equal(c.nmsgs, 6);
	m = find(&c, PROTO_MSG_REQUEST, 1);
	assert_string_equal(m->method, "GET");
	assert_string_equal(m->resource, "/index.html?x=1");
	assert_string_equal(m->endpoint, "/index.html");
	assert_string_equal(m->domain, "127.0.0.1:8080");
	assert_string_equal(m->x_request_id, "abc-123");
	assert_string_equal(m->trace_id, "0af7651916cd43dd8448eb211c80319c");
	assert_string_equal(m->span_id, "b7ad6b7169203331");
	assert_int_equal(m->m.proto_override, 0);
	assert_int_equal(m->m.tcp_seq, PH_SEQ_EGRESS + 24 + 9 + 9);
	m = find(&c, PROTO_MSG_REQUEST, 3);
	assert_string_equal(m->resource, "/missing");
	assert_string_equal(m->domain, "127.0.0.1:8080");
	m = find(&c, PROTO_MSG_REQUEST, 5);
	assert_string_equal(m->method, "POST");
	assert_int_equal(m->m.length % 1, 0);
	m = find(&c, PROTO_MSG_RESPONSE, 1);
	assert_int_equal(m->m.code, 200);
	assert_int_equal(m->m.status, PROTO_STATUS_OK);
	assert_string_equal(m->x_request_id, "abc-123");
	m = find(&c, PROTO_MSG_RESPONSE, 3);
	assert_int_equal(m->m.code, 404);
	assert_int_equal(m->m.status, PROTO_STATUS_CLIENT_ERROR);
	m = find(&c, PROTO_MSG_RESPONSE, 5);
	assert_int_equal(m->m.code, 500);
	assert_int_equal(m->m.status, PROTO_STATUS_SERVER_ERROR);
	assert_int_equal(c.st.parse_errors + c.st.resyncs + c.st.truncated, 0);
	ph_free(&c);
	ph_check_splits(&proto_http2_ops, &ctx_none, evs, 2, false);
	conv_free(&v);
}

/* gRPC: request, response headers, messages, trailers with grpc-status; an error status
 * with grpc-message; a server stream; CONTINUATION and padding. */
static void test_grpc(void **st)
{
	struct conv v;
	const char *const req[] = { ":method",
				    "POST",
				    ":scheme",
				    "http",
				    ":path",
				    "/helloworld.Greeter/SayHello",
				    ":authority",
				    "localhost:50051",
				    "content-type",
				    "application/grpc",
				    "te",
				    "trailers",
				    NULL };
	const char *const rh[] = { ":status", "200", "content-type", "application/grpc", NULL };
	const char *const tr_ok[] = { "grpc-status", "0", "grpc-message", "", NULL };
	const char *const tr_nf[] = { "grpc-status", "5", "grpc-message", "no such user", NULL };
	uint8_t msg[12] = { 0, 0, 0, 0, 7, 0x0a, 5, 'w', 'o', 'r', 'l', 'd' };
	uint8_t blk[1024], padded[64];
	size_t n;
	struct ph_conv c;
	struct ph_event evs[2];
	const struct ph_msg *m;

	(void)st;
	conv_init(&v, true);
	headers(&v.cli, v.dc, 1, 0, req);
	frame(&v.cli, 0, 1, 1, msg, sizeof(msg));
	/* stream 3: header block split over HEADERS + CONTINUATION, padded DATA */
	n = hpack(v.dc, blk, sizeof(blk), req);
	frame(&v.cli, 1, 0, 3, blk, 10);
	frame(&v.cli, 9, 0x04, 3, blk + 10, n - 10);
	padded[0] = 4;
	memcpy(padded + 1, msg, sizeof(msg));
	memset(padded + 1 + sizeof(msg), 0, 4);
	frame(&v.cli, 0, 0x09, 3, padded, 1 + sizeof(msg) + 4);
	headers(&v.srv, v.ds, 1, 0, rh);
	frame(&v.srv, 0, 0, 1, msg, sizeof(msg));
	headers(&v.srv, v.ds, 1, 0x01, tr_ok);
	/* stream 3: a trailers-only error response, padded and with priority */
	n = hpack(v.ds, blk + 6, sizeof(blk) - 6, rh);
	n += hpack(v.ds, blk + 6 + n, sizeof(blk) - 6 - n, tr_nf);
	blk[0] = 3;
	memset(blk + 1, 0, 5);
	memset(blk + 6 + n, 0, 3);
	frame(&v.srv, 1, 0x01 | 0x04 | 0x08 | 0x20, 3, blk, 6 + n + 3);
	evs[0] = PH_EVB(E, v.cli.b, v.cli.n);
	evs[1] = PH_EVB(I, v.srv.b, v.srv.n);
	ph_run(&c, &proto_http2_ops, &ctx_client, evs, 2, PH_WHOLE, false);
	assert_int_equal(c.nmsgs, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(c.msgs[i].m.proto_override, PROTO_GRPC);
	m = find(&c, PROTO_MSG_REQUEST, 3);
	assert_string_equal(m->method, "POST");
	assert_string_equal(m->resource, "helloworld.Greeter");
	assert_string_equal(m->endpoint, "/helloworld.Greeter/SayHello");
	assert_string_equal(m->domain, "localhost:50051");
	m = find(&c, PROTO_MSG_RESPONSE, 1);
	assert_int_equal(m->m.code, 0);
	assert_int_equal(m->m.status, PROTO_STATUS_OK);
	assert_null(m->exception);
	m = find(&c, PROTO_MSG_RESPONSE, 3);
	assert_int_equal(m->m.code, 5);
	assert_int_equal(m->m.status, PROTO_STATUS_CLIENT_ERROR);
	assert_string_equal(m->exception, "no such user");
	assert_int_equal(m->m.length, 9 + 6 + n + 3);
	assert_int_equal(c.st.parse_errors + c.st.resyncs + c.st.truncated, 0);
	ph_free(&c);
	ph_check_splits(&proto_http2_ops, &ctx_client, evs, 2, false);
	conv_free(&v);
}

/* A request the server resets: the reset is its answer. */
static void test_rst_stream(void **st)
{
	struct conv v;
	const char *const req[] = { ":method", "GET",	     ":scheme", "http", ":path",
				    "/slow",   ":authority", "h",	NULL };
	uint8_t code[4] = { 0, 0, 0, 8 };
	struct ph_conv c;
	struct ph_event evs[2];

	(void)st;
	conv_init(&v, true);
	headers(&v.cli, v.dc, 1, 0x01, req);
	frame(&v.srv, 3, 0, 1, code, 4);
	evs[0] = PH_EVB(E, v.cli.b, v.cli.n);
	evs[1] = PH_EVB(I, v.srv.b, v.srv.n);
	ph_run(&c, &proto_http2_ops, &ctx_none, evs, 2, PH_WHOLE, false);
	assert_int_equal(c.nmsgs, 2);
	assert_int_equal(c.msgs[1].m.kind, PROTO_MSG_RESPONSE);
	assert_string_equal(c.msgs[1].exception, "RST_STREAM CANCEL");
	assert_int_equal(c.msgs[1].m.status, PROTO_STATUS_SERVER_ERROR);
	assert_int_equal(c.msgs[1].m.code, -1);
	ph_free(&c);
	ph_check_splits(&proto_http2_ops, &ctx_none, evs, 2, false);
	conv_free(&v);
}

/* A request its own client cancels: the reset still ends the exchange, with its size. */
static void test_rst_stream_by_client(void **st)
{
	struct conv v;
	const char *const req[] = { ":method", "GET",	     ":scheme", "http", ":path",
				    "/slow",   ":authority", "h",	NULL };
	uint8_t code[4] = { 0, 0, 0, 8 };
	struct ph_conv c;
	struct ph_event evs[1];

	(void)st;
	conv_init(&v, true);
	headers(&v.cli, v.dc, 1, 0x01, req);
	frame(&v.cli, 3, 0, 1, code, 4);
	evs[0] = PH_EVB(E, v.cli.b, v.cli.n);
	ph_run(&c, &proto_http2_ops, &ctx_none, evs, 1, PH_WHOLE, false);
	assert_int_equal(c.nmsgs, 2);
	assert_int_equal(c.msgs[1].m.kind, PROTO_MSG_RESPONSE);
	assert_string_equal(c.msgs[1].exception, "RST_STREAM CANCEL");
	assert_int_equal(c.msgs[1].m.length, 13);
	ph_free(&c);
	ph_check_splits(&proto_http2_ops, &ctx_none, evs, 1, false);
	conv_free(&v);
}

/* Joined after the first exchange: references to it are unknown, new literals decode,
 * and the table fills again. */
static void test_join_mid_stream_recovers(void **st)
{
	struct conv v;
	const char *const req[] = { ":method",	  "GET",    ":scheme",	"http", ":path", "/a",
				    ":authority", "svc:80", "x-custom", "one",	NULL };
	const char *const req2[] = { ":method",	     "GET",	   ":scheme", "http",	  ":path",
				     "/a",	     ":authority", "svc:80",  "x-custom", "two",
				     "x-request-id", "r-2",	   NULL };
	const char *const resp[] = { ":status", "200", "server", "s", NULL };
	struct ph_conv c;
	struct ph_event evs[4];
	size_t cut_c, cut_s;

	(void)st;
	conv_init(&v, true);
	headers(&v.cli, v.dc, 1, 0x01, req);
	headers(&v.srv, v.ds, 1, 0x01, resp);
	cut_c = v.cli.n;
	cut_s = v.srv.n;
	headers(&v.cli, v.dc, 3, 0x01, req2); /* :path, :authority indexed: unknown */
	headers(&v.srv, v.ds, 3, 0x01, resp);
	headers(&v.cli, v.dc, 5, 0x01, req2); /* x-new from stream 3: known */
	headers(&v.srv, v.ds, 5, 0x01, resp);
	evs[0] = PH_EVB(E, v.cli.b + cut_c, v.cli.n - cut_c);
	evs[1] = PH_EVB(I, v.srv.b + cut_s, v.srv.n - cut_s);
	ph_run(&c, &proto_http2_ops, &ctx_client, evs, 2, PH_WHOLE, false);
	assert_int_equal(c.nmsgs, 4);
	/* :path is never indexed by nghttp2: a literal; :authority refers to stream 1's
	 * entry: unknown; x-request-id inserted by stream 3 is known to stream 5 */
	assert_string_equal(find(&c, PROTO_MSG_REQUEST, 3)->method, "GET");
	assert_string_equal(find(&c, PROTO_MSG_REQUEST, 3)->resource, "/a");
	assert_null(find(&c, PROTO_MSG_REQUEST, 3)->domain);
	assert_null(find(&c, PROTO_MSG_REQUEST, 5)->domain);
	assert_string_equal(find(&c, PROTO_MSG_REQUEST, 3)->x_request_id, "r-2");
	assert_string_equal(find(&c, PROTO_MSG_REQUEST, 5)->x_request_id, "r-2");
	assert_int_equal(find(&c, PROTO_MSG_RESPONSE, 3)->m.code, 200);
	assert_int_equal(find(&c, PROTO_MSG_RESPONSE, 5)->m.code, 200);
	assert_true(c.st.resyncs >= 1);
	assert_int_equal(c.st.parse_errors, 0);
	ph_free(&c);
	ph_check_splits(&proto_http2_ops, &ctx_client, evs, 2, false);
	conv_free(&v);
}

/* A capture gap inside a DATA frame is absorbed; one inside a header block loses the
 * table (counted), and decoding goes on at the next event. */
static void test_gaps(void **st)
{
	struct conv v;
	const char *const req[] = { ":method", "POST",	     ":scheme", "http", ":path",
				    "/up",     ":authority", "h",	NULL };
	const char *const resp[] = { ":status", "201", NULL };
	static uint8_t big[20000];
	struct buf a = { .n = 0 }, b = { .n = 0 };
	struct ph_conv c;
	struct ph_event evs[4];

	(void)st;
	conv_init(&v, true);
	headers(&v.cli, v.dc, 1, 0, req);
	frame(&v.cli, 0, 1, 1, big, 16000);
	headers(&v.srv, v.ds, 1, 0x01, resp);
	/* the DATA frame's last 15000 bytes are not captured */
	put(&a, v.cli.b, v.cli.n - 15000);
	evs[0] = (struct ph_event){ E, a.b, a.n, 15000 };
	evs[1] = PH_EVB(I, v.srv.b, v.srv.n);
	ph_run(&c, &proto_http2_ops, &ctx_none, evs, 2, PH_WHOLE, false);
	assert_int_equal(c.nmsgs, 2);
	assert_int_equal(c.msgs[0].m.length, v.cli.n - 24 - 18);
	assert_int_equal(c.msgs[1].m.code, 201);
	ph_free(&c);
	(void)b;
	conv_free(&v);
}

static void test_detect(void **st)
{
	static const char h1[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t settings[] = { 0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100 };
	static const uint8_t mysql[] = { 0x4a, 0, 0, 0, 0x0a, '8', '.', '0', 0 };
	static const uint8_t redis[] = "*1\r\n$4\r\nPING\r\n";
	static const uint8_t kafka[] = { 0, 0, 0,   20,	 0,   3,   0,	9,   0, 0, 0, 1,
					 0, 6, 'c', 'l', 'i', 'e', 'n', 't', 0, 0, 0, 0 };
	static const struct proto_ctx udp = { .l4_proto = 17 };

	(void)st;
	assert_int_equal(proto_http2_ops.detect((const uint8_t *)PREFACE, 24, E, NULL),
			 PROTO_DETECT_YES);
	assert_int_equal(proto_http2_ops.detect((const uint8_t *)PREFACE, 16, E, &ctx_client),
			 PROTO_DETECT_YES);
	assert_int_equal(proto_http2_ops.detect((const uint8_t *)PREFACE, 24, E, &udp),
			 PROTO_DETECT_NO);
	assert_int_equal(proto_http1_ops.detect((const uint8_t *)PREFACE, 24, E, NULL),
			 PROTO_DETECT_NO);
	/* mid-stream: a chain of frames */
	assert_int_equal(proto_http2_ops.detect((const uint8_t *)h2c_ascii_1,
						sizeof(h2c_ascii_1) - 1, E, &ctx_none),
			 PROTO_DETECT_YES);
	assert_int_equal(proto_http2_ops.detect((const uint8_t *)grpc_unknown_2,
						sizeof(grpc_unknown_2) - 1, I, &ctx_server),
			 PROTO_DETECT_YES);
	assert_int_equal(proto_http2_ops.detect(settings, sizeof(settings), I, &ctx_none),
			 PROTO_DETECT_MAYBE);
	assert_int_equal(proto_http2_ops.detect((const uint8_t *)h1, sizeof(h1) - 1, E, NULL),
			 PROTO_DETECT_NO);
	assert_int_equal(proto_http2_ops.detect(mysql, sizeof(mysql), I, NULL), PROTO_DETECT_NO);
	assert_int_equal(proto_http2_ops.detect(redis, sizeof(redis) - 1, E, NULL),
			 PROTO_DETECT_NO);
	assert_int_equal(proto_http2_ops.detect(kafka, sizeof(kafka), E, NULL), PROTO_DETECT_NO);
	assert_int_equal(proto_http2_ops.detect((const uint8_t *)"", 0, E, NULL), PROTO_DETECT_NO);
	assert_ptr_equal(proto_by_id(PROTO_HTTP2), &proto_http2_ops);
	assert_string_equal(proto_name(PROTO_GRPC), "gRPC");
	assert_string_equal(proto_name(PROTO_HTTP2), "HTTP2");
}

/* Garbage: counted, never a crash, and frames are found again at the next event. */
static void test_garbage_resync(void **st)
{
	struct conv v;
	const char *const req[] = { ":method", "GET",	     ":scheme", "http", ":path",
				    "/ok",     ":authority", "h",	NULL };
	const char *const resp[] = { ":status", "200", NULL };
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xee, 0x12, 0x34,
					0x56, 0x78, 0x9a, 0xbc, 0xde };
	struct ph_conv c;
	struct ph_event evs[4];

	(void)st;
	conv_init(&v, true);
	headers(&v.cli, v.dc, 1, 0x01, req);
	headers(&v.srv, v.ds, 1, 0x01, resp);
	evs[0] = PH_EVB(E, v.cli.b, v.cli.n);
	evs[1] = PH_EVB(E, junk, sizeof(junk));
	evs[2] = PH_EVB(I, v.srv.b, v.srv.n);
	ph_run(&c, &proto_http2_ops, &ctx_none, evs, 3, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	assert_int_equal(c.msgs[1].m.code, 200);
	assert_true(c.st.parse_errors + c.st.resyncs >= 1);
	ph_free(&c);
	ph_check_splits(&proto_http2_ops, &ctx_none, evs, 3, true);
	conv_free(&v);
}

/* More streams open than the parser follows: the oldest end with what they have. */
static void test_many_streams(void **st)
{
	struct conv v;
	const char *const req[] = { ":method", "GET",	     ":scheme", "http", ":path",
				    "/s",      ":authority", "h",	NULL };
	struct ph_conv c;
	struct ph_event evs[1];

	(void)st;
	conv_init(&v, true);
	for (uint32_t i = 0; i < 100; i++)
		headers(&v.cli, v.dc, 1 + 2 * i, 0x01, req);
	evs[0] = PH_EVB(E, v.cli.b, v.cli.n);
	ph_run(&c, &proto_http2_ops, &ctx_none, evs, 1, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 100);
	ph_free(&c);
	conv_free(&v);
}

/* Truncated and malformed inputs end without a crash: a frame cut at the close, a header
 * block with a bad integer, a CONTINUATION for another stream. */
static void test_malformed(void **st)
{
	static const uint8_t bad_hpack[] = { 0, 0, 3, 1, 5, 0, 0, 0, 1, 0xff, 0xff, 0xff };
	static const uint8_t bad_cont[] = { 0, 0, 1, 1, 0, 0, 0, 0, 1, 0x82,
					    0, 0, 1, 9, 4, 0, 0, 0, 3, 0x84 };
	static const uint8_t cut[] = { 0, 0, 50, 1, 5, 0, 0, 0, 1, 0x82, 0x84 };
	struct ph_event evs[] = { PH_EV(E, PREFACE), PH_EVB(E, bad_hpack, sizeof(bad_hpack)),
				  PH_EVB(E, bad_cont, sizeof(bad_cont)),
				  PH_EVB(E, cut, sizeof(cut)) };
	struct ph_conv c;

	(void)st;
	ph_run(&c, &proto_http2_ops, &ctx_none, evs, 4, PH_WHOLE, true);
	assert_true(c.st.parse_errors + c.st.truncated + c.st.resyncs >= 2);
	ph_free(&c);
	ph_check_splits(&proto_http2_ops, &ctx_none, evs, 4, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture_h2c_ascii),
		cmocka_unit_test(test_capture_grpc_unknown),
		cmocka_unit_test(test_capture_http2_multi),
		cmocka_unit_test(test_prior_knowledge),
		cmocka_unit_test(test_grpc),
		cmocka_unit_test(test_rst_stream),
		cmocka_unit_test(test_rst_stream_by_client),
		cmocka_unit_test(test_join_mid_stream_recovers),
		cmocka_unit_test(test_gaps),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_garbage_resync),
		cmocka_unit_test(test_many_streams),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
