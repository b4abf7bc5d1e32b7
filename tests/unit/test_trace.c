/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trace assembly (src/query/trace*.c). Each case is a hand-built set of request logs
 * (struct sp): first assembled by the pure functions (trace_build) with exact parent ids
 * and self times, then written through store_write_rows into a temporary SQLite store and
 * assembled from every span's _id through the real queries (trace_assemble): the same
 * tree, rendered as text, must come back.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sqlite3.h>

#include <arpa/inet.h>

#include "agent/record.h"
#include "proto/proto.h"
#include "query/trace.h"
#include "store/rowid.h"
#include "store/store.h"

#define T0 1700000000000000ll /* µs */

/* One request log of a case. Times are µs after T0. */
struct sp {
	int id; /* the case's own id: the pure tests' _id */
	const char *obs;
	int pid;
	const char *comm;
	int cport, sport;
	int64_t start, end;
	uint32_t req_seq, resp_seq;
	int64_t st_req, st_resp;
	const char *resource;
	int code;
	const char *x0, *x1, *trace, *span, *parent_span;
	const char *l7;	    /* NULL: HTTP */
	int64_t request_id; /* DNS: > 0 */
	bool lone_resp;	    /* a response stored without its request */
};

#define MAXS 32

static void to_span(const struct sp *p, struct trace_span *s)
{
	bool cp = !strcmp(p->obs, "c-p"), ebpf = cp || !strcmp(p->obs, "s-p");
	int side = cp ? 0 : 1;

	memset(s, 0, sizeof(*s));
	s->id = p->id;
	s->start_us = T0 + p->start;
	s->end_us = T0 + p->end;
	s->time_s = s->end_us / 1000000;
	s->response_duration = p->lone_resp ? -1 : p->end - p->start;
	s->signal_source = ebpf ? 3 : 0;
	snprintf(s->observation_point, sizeof(s->observation_point), "%s", p->obs);
	s->type = p->lone_resp ? 1 : 2;
	s->protocol = p->l7 && !strcmp(p->l7, "DNS") ? 17 : 6;
	s->client_port = p->cport;
	s->server_port = p->sport;
	snprintf(s->ip[0], sizeof(s->ip[0]), "10.0.0.1");
	snprintf(s->ip[1], sizeof(s->ip[1]), "10.0.0.2");
	if (ebpf) {
		s->process_id[side] = p->pid;
		snprintf(s->process_kname[side], sizeof(s->process_kname[side]), "%s", p->comm);
	}
	snprintf(s->l7_protocol, sizeof(s->l7_protocol), "%s", p->l7 ? p->l7 : "HTTP");
	snprintf(s->request_type, sizeof(s->request_type), "%s", p->lone_resp ? "" : "GET");
	snprintf(s->request_resource, sizeof(s->request_resource), "%s", p->resource);
	s->response_code = p->code ? p->code : 200;
	s->response_status = s->response_code >= 500 ? 3 : 0;
	s->req_tcp_seq = p->lone_resp ? 0 : p->req_seq;
	s->resp_tcp_seq = p->resp_seq;
	s->syscall_trace_id_request = p->lone_resp ? 0 : p->st_req;
	s->syscall_trace_id_response = p->st_resp;
	s->request_id = p->request_id > 0 ? p->request_id : -1;
	snprintf(s->x_request_id[0], TRACE_XID_LEN, "%s", p->x0 ? p->x0 : "");
	snprintf(s->x_request_id[1], TRACE_XID_LEN, "%s", p->x1 ? p->x1 : "");
	snprintf(s->trace_id, TRACE_TID_LEN, "%s", p->trace ? p->trace : "");
	snprintf(s->span_id, TRACE_TID_LEN, "%s", p->span ? p->span : "");
	snprintf(s->parent_span_id, TRACE_TID_LEN, "%s", p->parent_span ? p->parent_span : "");
	s->parent = -1;
}

#define SETS(f, v) rec_copy((f).s, &(f).len, sizeof((f).s), (v) ? (v) : "", (v) ? strlen(v) : 0)

static uint8_t obs_code(const char *o)
{
	static const char *const names[] = { "c-p", "s-p", "c-nd", "s-nd", "local", "rest" };

	for (uint8_t i = 0; i < 6; i++)
		if (!strcmp(o, names[i]))
			return i;
	fail_msg("observation point %s has no record code", o);
	return 0;
}

static void to_record(const struct sp *p, struct l7_record *r)
{
	bool dns = p->l7 && !strcmp(p->l7, "DNS");
	int code = p->code ? p->code : 200;

	memset(r, 0, sizeof(*r));
	record_reset(r);
	r->start_ns = (uint64_t)(T0 + p->start) * 1000;
	r->end_ns = (uint64_t)(T0 + p->end) * 1000;
	r->type = p->lone_resp ? REC_TYPE_RESPONSE : REC_TYPE_SESSION;
	r->obs = obs_code(p->obs);
	r->signal_source = r->obs <= REC_OBS_SERVER_PROCESS ? REC_SIGNAL_EBPF : REC_SIGNAL_PACKET;
	r->status = code >= 500 ? 3 : 0;
	r->family = 4;
	r->l4_proto = dns ? 17 : 6;
	r->l7_proto = dns ? PROTO_DNS : PROTO_HTTP1;
	r->code = code;
	r->has_request = !p->lone_resp;
	r->has_response = true;
	r->req_tcp_seq = p->req_seq;
	r->resp_tcp_seq = p->resp_seq;
	if (p->request_id > 0) {
		r->has_request_id = true;
		r->request_id = (uint32_t)p->request_id;
	}
	inet_pton(AF_INET, "10.0.0.1", r->addr0);
	inet_pton(AF_INET, "10.0.0.2", r->addr1);
	r->client_port = (uint16_t)p->cport;
	r->server_port = (uint16_t)p->sport;
	if (r->obs <= REC_OBS_SERVER_PROCESS) {
		r->pid = (uint32_t)p->pid;
		snprintf(r->comm, sizeof(r->comm), "%s", p->comm);
	}
	r->req_syscall_trace_id = (uint64_t)p->st_req;
	r->resp_syscall_trace_id = (uint64_t)p->st_resp;
	SETS(r->method, p->lone_resp ? "" : "GET");
	SETS(r->resource, p->resource);
	SETS(r->x_request_id_0, p->x0);
	SETS(r->x_request_id_1, p->x1);
	SETS(r->trace_id, p->trace);
	SETS(r->span_id, p->span);
	SETS(r->parent_span_id, p->parent_span);
}

/* The tree as text: one line per kept span, indented by depth. */
static void render(const struct trace_span *s, const size_t *order, size_t n, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = 0;
	for (size_t k = 0; k < n; k++) {
		const struct trace_span *x = &s[order[k]];

		len += (size_t)snprintf(buf + len, cap - len, "%*s%s %s %s %lld\n", x->depth * 2,
					"", x->observation_point, trace_auto_service(x),
					x->request_resource, (long long)x->self_time);
		assert_true(len < cap);
	}
}

struct built {
	struct trace_span s[MAXS];
	size_t order[MAXS], norder, n;
};

static void build(const struct sp *set, size_t n, int seed_id, struct built *b)
{
	struct trace_cfg cfg = { 0 };
	size_t seed = n;

	assert_true(n <= MAXS);
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		to_span(&set[i], &b->s[i]);
		if (set[i].id == seed_id)
			seed = i;
	}
	assert_true(seed < n);
	assert_int_equal(trace_build(&cfg, b->s, n, &seed, 1, b->order, &b->norder), 0);
}

static const struct trace_span *by_id(const struct built *b, int id)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->s[i].id == id)
			return &b->s[i];
	fail_msg("no span %d", id);
	return NULL;
}

/* Expect span id to be kept, under parent (0: a root), with self time self. */
static void expect(const struct built *b, int id, int parent, int64_t self)
{
	const struct trace_span *s = by_id(b, id);

	if (!s->kept)
		fail_msg("span %d not kept", id);
	if (parent)
		assert_true(s->parent >= 0);
	if (parent && b->s[s->parent].id != parent)
		fail_msg("span %d: parent %lld, want %d", id, (long long)b->s[s->parent].id,
			 parent);
	if (!parent && s->parent >= 0)
		fail_msg("span %d: parent %lld, want none", id, (long long)b->s[s->parent].id);
	if (s->self_time != self)
		fail_msg("span %d: self_time %lld, want %lld", id, (long long)s->self_time,
			 (long long)self);
}

static void expect_pruned(const struct built *b, int id)
{
	if (by_id(b, id)->kept)
		fail_msg("span %d kept, want pruned", id);
}

/* ---- the store side ---- */

struct one_id {
	int64_t id;
	size_t n;
};

static int on_id(void *ctx, const struct store_value *v, size_t nc)
{
	struct one_id *o = ctx;

	(void)nc;
	o->id = v[0].i;
	o->n++;
	return 0;
}

/* A row's _id through the store: its start and end times, observation point and client
 * port (pipelined requests share a start). */
static int64_t row_id(struct store *st, const struct sp *p)
{
	static const char sql[] = "SELECT \"_id\" FROM \"l7_flow_log\" WHERE \"start_time\" = ? "
				  "AND \"end_time\" = ? AND \"observation_point\" = ? AND "
				  "\"client_port\" = ?";
	struct store_value v[4] = {
		{ .type = STORE_INT, .i = T0 + p->start },
		{ .type = STORE_INT, .i = T0 + p->end },
		{ .type = STORE_TEXT, .s = p->obs, .len = strlen(p->obs) },
		{ .type = STORE_INT, .i = p->cport },
	};
	struct one_id o = { 0 };

	assert_int_equal(store_query(st, sql, v, 4, NULL, NULL, on_id, &o), 0);
	assert_int_equal(o.n, 1);
	assert_true(o.id > 0);
	/* The id names its row's minute. */
	assert_int_equal(rowid_time(o.id), (T0 + p->end) / 60000000 * 60);
	return o.id;
}

/*
 * Write the set into a fresh store and assemble from every kept span of want (the pure
 * tree), through the real queries: the same rendering.
 */
static void store_check(const struct sp *set, size_t n, const struct built *want)
{
	char tmpl[] = "/tmp/flowscope-trace-XXXXXX", cmd[128];
	struct store_cfg cfg = { 0 };
	struct l7_record *recs = calloc(n, sizeof(*recs));
	struct store *st = NULL;
	struct store_batch batch = { 0 };
	char exp[8192], got[8192], err[256];

	assert_non_null(recs);
	assert_non_null(mkdtemp(tmpl));
	cfg.dir = tmpl;
	assert_int_equal(store_open(&store_sqlite_ops, &cfg, &st), 0);
	for (size_t i = 0; i < n; i++)
		to_record(&set[i], &recs[i]);
	batch.l7 = recs;
	batch.n7 = n;
	assert_int_equal(store_write_rows(st, NULL, &batch), STORE_OK);
	render(want->s, want->order, want->norder, exp, sizeof(exp));
	for (size_t k = 0; k < want->norder; k++) {
		const struct trace_span *ws = &want->s[want->order[k]];
		struct trace_query q = { 0 };
		struct trace *t = NULL;
		size_t i = 0;

		while (set[i].id != ws->id)
			i++;
		q.id = row_id(st, &set[i]);
		assert_int_equal(trace_assemble(st, NULL, &q, &t, err, sizeof(err)), 0);
		render(t->spans, t->order, t->norder, got, sizeof(got));
		if (strcmp(exp, got))
			fail_msg("from span %lld through the store:\n%s\nwant:\n%s",
				 (long long)ws->id, got, exp);
		trace_free(t);
	}
	store_close(st);
	free(recs);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	assert_int_equal(system(cmd), 0);
}

/* ---- cases ---- */

#define N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * client (curl) -> nginx -> backend (python3): c-p/s-p pairs joined by tcp_seq, nginx's
 * inbound s-p and its upstream c-p by the syscall trace ids (same side equal).
 */
static const struct sp chain3[] = {
	{ 1, "c-p", 100, "curl", 40000, 80, 0, 10000, 1000, 2000, 0, 0, "/a" },
	{ 2, "s-p", 200, "nginx", 40000, 80, 100, 9900, 1000, 2000, 5001, 5002, "/a" },
	{ 3, "c-p", 200, "nginx", 40001, 8080, 1000, 9000, 3000, 4000, 5001, 5002, "/a" },
	{ 4, "s-p", 300, "python3", 40001, 8080, 1100, 8900, 3000, 4000, 6001, 6002, "/a" },
};

static void test_chain3(void **unused)
{
	struct built b;

	(void)unused;
	for (int seed = 1; seed <= 4; seed++) {
		build(chain3, N(chain3), seed, &b);
		assert_int_equal(b.norder, 4);
		expect(&b, 1, 0, 200);
		expect(&b, 2, 1, 1800);
		expect(&b, 3, 2, 200);
		expect(&b, 4, 3, 7800);
		assert_int_equal(by_id(&b, 2)->link, TRACE_LINK_TCP_SEQ);
		assert_int_equal(by_id(&b, 3)->link, TRACE_LINK_SYSCALL);
	}
	store_check(chain3, N(chain3), &b);
}

/* Packet spans of the first hop between its c-p and s-p, on the same tcp_seq. */
static const struct sp net_hops[] = {
	{ 1, "c-p", 100, "curl", 40000, 80, 0, 10000, 1000, 2000, 0, 0, "/a" },
	{ 2, "s-p", 200, "nginx", 40000, 80, 100, 9900, 1000, 2000, 5001, 5002, "/a" },
	{ 3, "c-p", 200, "nginx", 40001, 8080, 1000, 9000, 3000, 4000, 5001, 5002, "/a" },
	{ 4, "s-p", 300, "python3", 40001, 8080, 1100, 8900, 3000, 4000, 6001, 6002, "/a" },
	{ 5, "c-nd", 0, "", 40000, 80, 20, 9980, 1000, 2000, 0, 0, "/a" },
	{ 6, "s-nd", 0, "", 40000, 80, 50, 9950, 1000, 2000, 0, 0, "/a" },
};

static void test_network_spans(void **unused)
{
	struct built b;

	(void)unused;
	build(net_hops, N(net_hops), 4, &b);
	assert_int_equal(b.norder, 6);
	expect(&b, 1, 0, 40);
	expect(&b, 5, 1, 60);
	expect(&b, 6, 5, 100);
	expect(&b, 2, 6, 1800);
	expect(&b, 3, 2, 200);
	expect(&b, 4, 3, 7800);
	store_check(net_hops, N(net_hops), &b);
}

/* Every capture point (c and s exist only for the pure half: no record code). */
static void test_capture_points_order(void **unused)
{
	static const struct sp set[] = {
		{ 1, "c-p", 100, "curl", 40000, 80, 0, 1000, 7, 8, 0, 0, "/x" },
		{ 2, "s", 0, "", 40000, 80, 40, 960, 7, 8, 0, 0, "/x" },
		{ 3, "c-nd", 0, "", 40000, 80, 20, 980, 7, 8, 0, 0, "/x" },
		{ 4, "s-p", 200, "srv", 40000, 80, 50, 950, 7, 8, 0, 0, "/x" },
		{ 5, "c", 0, "", 40000, 80, 10, 990, 7, 8, 0, 0, "/x" },
		{ 6, "s-nd", 0, "", 40000, 80, 30, 970, 7, 8, 0, 0, "/x" },
	};
	struct built b;

	(void)unused;
	build(set, N(set), 4, &b);
	expect(&b, 1, 0, 20);
	expect(&b, 5, 1, 20);
	expect(&b, 3, 5, 20);
	expect(&b, 6, 3, 20);
	expect(&b, 2, 6, 20);
	expect(&b, 4, 2, 900);
}

/* One keep-alive connection, three requests: same ports, different tcp_seq. */
static const struct sp keepalive[] = {
	{ 1, "c-p", 100, "curl", 40000, 80, 0, 1000, 100, 200, 0, 0, "/k" },
	{ 2, "s-p", 200, "srv", 40000, 80, 100, 900, 100, 200, 7001, 7002, "/k" },
	{ 3, "c-p", 100, "curl", 40000, 80, 2000, 3000, 300, 400, 0, 0, "/k" },
	{ 4, "s-p", 200, "srv", 40000, 80, 2100, 2900, 300, 400, 7003, 7004, "/k" },
	{ 5, "c-p", 100, "curl", 40000, 80, 4000, 5000, 500, 600, 0, 0, "/k" },
	{ 6, "s-p", 200, "srv", 40000, 80, 4100, 4900, 500, 600, 7005, 7006, "/k" },
};

static void test_keepalive(void **unused)
{
	struct built b;

	(void)unused;
	build(keepalive, N(keepalive), 4, &b);
	assert_int_equal(b.norder, 2);
	expect(&b, 3, 0, 200);
	expect(&b, 4, 3, 800);
	expect_pruned(&b, 1);
	expect_pruned(&b, 2);
	expect_pruned(&b, 5);
	expect_pruned(&b, 6);
	store_check(keepalive, N(keepalive), &b);
}

/*
 * A gateway calls two services at once: the first call takes the thread's syscall trace
 * id, the second carries none (the thread sent twice before reading) and is tied by the
 * X-Request-ID the gateway passes on. The children overlap: self time counts their union.
 */
static const struct sp parallel[] = {
	{ 1, "c-p", 100, "curl", 40000, 80, 0, 10000, 1000, 2000, 0, 0, "/p", 0, "rq-1" },
	{ 2, "s-p", 200, "gw", 40000, 80, 100, 9900, 1000, 2000, 5001, 5009, "/p", 0, "rq-1" },
	{ 3, "c-p", 200, "gw", 41001, 81, 1000, 5000, 3000, 4000, 5001, 5008, "/p1", 0, "rq-1" },
	{ 4, "s-p", 300, "svc1", 41001, 81, 1100, 4900, 3000, 4000, 6001, 6002, "/p1", 0, "rq-1" },
	{ 5, "c-p", 200, "gw", 41002, 82, 1500, 6000, 5000, 6000, 0, 5009, "/p2", 0, "rq-1" },
	{ 6, "s-p", 400, "svc2", 41002, 82, 1600, 5900, 5000, 6000, 8001, 8002, "/p2", 0, "rq-1" },
};

static void test_parallel(void **unused)
{
	struct built b;

	(void)unused;
	build(parallel, N(parallel), 1, &b);
	assert_int_equal(b.norder, 6);
	expect(&b, 1, 0, 200);
	expect(&b, 2, 1, 9800 - 5000);
	expect(&b, 3, 2, 200);
	expect(&b, 4, 3, 3800);
	expect(&b, 5, 2, 200);
	expect(&b, 6, 5, 4300);
	store_check(parallel, N(parallel), &b);
}

/*
 * An event loop sharing one kept-alive connection (Node.js to Redis): requests a and b
 * each write their command with their own syscall trace id, but one read brings both
 * responses, so both commands and both inbound requests carry its id (9100). That id
 * says nothing about which request is whose (trace_mark_batched): a's trace must not
 * take b's command, nor b's whole request through it.
 */
static const struct sp batched[] = {
	{ 1, "c-p", 100, "front", 41000, 8001, 0, 5000, 100, 200, 0, 0, "/cart?a" },
	{ 2, "s-p", 300, "node", 41000, 8001, 100, 4900, 100, 200, 5001, 9100, "/cart?a" },
	{ 3, "c-p", 300, "node", 50000, 6379, 1000, 3000, 300, 400, 5001, 9100, "INCR a" },
	{ 4, "s-p", 400, "redis", 50000, 6379, 1100, 1200, 300, 400, 7001, 0, "INCR a" },
	{ 5, "c-p", 100, "front", 41001, 8001, 200, 5100, 500, 600, 0, 0, "/cart?b" },
	{ 6, "s-p", 300, "node", 41001, 8001, 300, 5000, 500, 600, 5002, 9100, "/cart?b" },
	{ 7, "c-p", 300, "node", 50000, 6379, 1050, 3000, 326, 404, 5002, 9100, "INCR b" },
	{ 8, "s-p", 400, "redis", 50000, 6379, 1150, 1250, 326, 404, 7002, 0, "INCR b" },
};

static void test_batched_response(void **unused)
{
	struct built b;

	(void)unused;
	for (int seed = 1; seed <= 4; seed++) {
		build(batched, N(batched), seed, &b);
		assert_int_equal(b.norder, 4);
		expect(&b, 1, 0, 200);
		expect(&b, 2, 1, 4800 - 2000);
		expect(&b, 3, 2, 2000 - 100);
		expect(&b, 4, 3, 100);
		for (int id = 5; id <= 8; id++)
			expect_pruned(&b, id);
		store_check(batched, N(batched), &b);
	}
	build(batched, N(batched), 7, &b);
	assert_int_equal(b.norder, 4);
	expect(&b, 5, 0, 4900 - 4700);
	expect(&b, 7, 6, 1950 - 100);
	expect_pruned(&b, 3);
	/* Ids batched only when different messages share them: one c-p alone is not. */
	struct trace_span one[2] = { 0 };
	strcpy(one[0].observation_point, "c-p");
	one[0].syscall_trace_id_response = 9100;
	one[1] = one[0];
	assert_int_equal(trace_mark_batched(one, 2), 0);
	assert_false(one[0].st_batched[1]);
	one[1].req_tcp_seq = 1;
	assert_int_equal(trace_mark_batched(one, 2), 0);
	assert_true(one[0].st_batched[1] && one[1].st_batched[1] && !one[0].st_batched[0]);
}

/*
 * Three HTTP/1.1 requests pipelined on one connection: the client wrote them in one write
 * (its c-p carry no request id, and one read brought the three responses: 9000, batched),
 * the server read them in one read and answered them back to back, so its three s-p
 * share both syscall trace ids (7001, 7002). Its call for the first request carries them
 * too; the calls for the next two carry no request id (the kernel consumed the read's id
 * with the first call) and link to nothing. The first call belongs under the first
 * request (the tightest cover: same start, earliest end) and must not pull the other two
 * requests, which only share its ids, into the first one's trace (ties_trees).
 */
static const struct sp pipelined[] = {
	{ 1, "c-p", 100, "cli", 40000, 80, 0, 1000, 100, 200, 0, 9000, "/m/0" },
	{ 3, "c-p", 100, "cli", 40000, 80, 0, 2000, 130, 300, 0, 9000, "/m/1" },
	{ 5, "c-p", 100, "cli", 40000, 80, 0, 3000, 160, 400, 0, 9000, "/m/2" },
	{ 6, "s-p", 200, "mid", 40000, 80, 100, 2900, 160, 400, 7001, 7002, "/m/2" },
	{ 4, "s-p", 200, "mid", 40000, 80, 100, 1900, 130, 300, 7001, 7002, "/m/1" },
	{ 2, "s-p", 200, "mid", 40000, 80, 100, 900, 100, 200, 7001, 7002, "/m/0" },
	{ 7, "c-p", 200, "mid", 41001, 81, 200, 800, 500, 600, 7001, 7002, "/b/0" },
	{ 8, "s-p", 300, "back", 41001, 81, 250, 750, 500, 600, 8001, 0, "/b/0" },
	{ 9, "c-p", 200, "mid", 41002, 81, 1000, 1800, 700, 800, 0, 7005, "/b/1" },
	{ 10, "s-p", 300, "back", 41002, 81, 1050, 1750, 700, 800, 8002, 0, "/b/1" },
	{ 11, "c-p", 200, "mid", 41003, 81, 2000, 2800, 900, 1000, 0, 7006, "/b/2" },
	{ 12, "s-p", 300, "back", 41003, 81, 2050, 2750, 900, 1000, 8003, 0, "/b/2" },
};

static void test_pipelined(void **unused)
{
	static const int first[] = { 1, 2, 7, 8 };
	struct built b;

	(void)unused;
	for (size_t k = 0; k < N(first); k++) {
		build(pipelined, N(pipelined), first[k], &b);
		assert_int_equal(b.norder, 4);
		expect(&b, 1, 0, 200);
		expect(&b, 2, 1, 200);
		expect(&b, 7, 2, 100);
		expect(&b, 8, 7, 500);
		store_check(pipelined, N(pipelined), &b);
	}
	/* The second request: its own two spans; its call is a tree of its own. */
	build(pipelined, N(pipelined), 4, &b);
	assert_int_equal(b.norder, 2);
	expect(&b, 3, 0, 200);
	expect(&b, 4, 3, 1800);
	for (int id = 1; id <= 12; id++)
		if (id != 3 && id != 4)
			expect_pruned(&b, id);
	store_check(pipelined, N(pipelined), &b);
	build(pipelined, N(pipelined), 9, &b);
	assert_int_equal(b.norder, 2);
	expect(&b, 9, 0, 100);
	expect(&b, 10, 9, 700);
}

/*
 * A retry: the first downstream call fails (503), the second succeeds. The thread's
 * syscall chain: s-p.req = c-p1.req, c-p1.resp = c-p2.req, c-p2.resp = s-p.resp.
 */
static const struct sp retry[] = {
	{ 1, "c-p", 100, "curl", 40000, 80, 0, 10000, 1000, 2000, 0, 0, "/r" },
	{ 2, "s-p", 200, "api", 40000, 80, 100, 9900, 1000, 2000, 5001, 5003, "/r" },
	{ 3, "c-p", 200, "api", 41001, 81, 1000, 2000, 3000, 4000, 5001, 5002, "/d", 503 },
	{ 4, "s-p", 300, "db", 41001, 81, 1100, 1900, 3000, 4000, 6001, 6002, "/d", 503 },
	{ 5, "c-p", 200, "api", 41002, 81, 3000, 8000, 5000, 6000, 5002, 5003, "/d" },
	{ 6, "s-p", 300, "db", 41002, 81, 3100, 7900, 5000, 6000, 6003, 6004, "/d" },
};

static void test_retry(void **unused)
{
	struct built b;

	(void)unused;
	build(retry, N(retry), 6, &b);
	assert_int_equal(b.norder, 6);
	expect(&b, 1, 0, 200);
	expect(&b, 2, 1, 9800 - 1000 - 5000);
	expect(&b, 3, 2, 200);
	expect(&b, 4, 3, 800);
	expect(&b, 5, 2, 200);
	expect(&b, 6, 5, 4800);
	/* The failed call comes first among its siblings. */
	assert_int_equal(b.s[b.order[2]].id, 3);
	store_check(retry, N(retry), &b);
}

/*
 * W3C traceparent: the first hop's tcp_seq was not captured (0), so its c-p and s-p
 * join by trace id and span id; the service's downstream call (a new span id of the same
 * trace, no syscall ids) joins its s-p by the trace id within the process.
 */
#define TR "4bf92f3577b34da6a3ce929d0e0e4736"
static const struct sp w3c[] = {
	{ 1, "c-p", 100, "curl", 40000, 80, 0, 10000, 0, 0, 0, 0, "/w", 0, 0, 0, TR,
	  "00f067aa0ba902b7" },
	{ 2, "s-p", 200, "app", 40000, 80, 100, 9900, 0, 0, 0, 0, "/w", 0, 0, 0, TR,
	  "00f067aa0ba902b7" },
	{ 3, "c-p", 200, "app", 41001, 81, 1000, 9000, 3000, 4000, 0, 0, "/v", 0, 0, 0, TR,
	  "b7ad6b7169203331", "00f067aa0ba902b7" },
	{ 4, "s-p", 300, "svc", 41001, 81, 1100, 8900, 3000, 4000, 0, 0, "/v", 0, 0, 0, TR,
	  "b7ad6b7169203331", "00f067aa0ba902b7" },
};

static void test_w3c(void **unused)
{
	struct built b;

	(void)unused;
	build(w3c, N(w3c), 4, &b);
	assert_int_equal(b.norder, 4);
	expect(&b, 1, 0, 200);
	expect(&b, 2, 1, 1800);
	expect(&b, 3, 2, 200);
	expect(&b, 4, 3, 7800);
	assert_int_equal(by_id(&b, 2)->link, TRACE_LINK_APP);
	assert_int_equal(by_id(&b, 3)->link, TRACE_LINK_APP);
	store_check(w3c, N(w3c), &b);
}

/*
 * Strays: rows sharing a key with the trace but not its request: the same req_tcp_seq on
 * another flow at the same time (another host's connection), the same tcp_seq on the
 * same ports 30 s later (outside Δ), a syscall trace id reused by the same process 40 s
 * later. None is kept.
 */
static const struct sp strays[] = {
	{ 1, "c-p", 100, "curl", 40000, 80, 0, 10000, 1000, 2000, 0, 0, "/a" },
	{ 2, "s-p", 200, "nginx", 40000, 80, 100, 9900, 1000, 2000, 5001, 5002, "/a" },
	{ 3, "c-p", 200, "nginx", 40001, 8080, 1000, 9000, 3000, 4000, 5001, 5002, "/a" },
	{ 4, "s-p", 300, "python3", 40001, 8080, 1100, 8900, 3000, 4000, 6001, 6002, "/a" },
	{ 7, "s-p", 900, "other", 50000, 9090, 200, 9000, 1000, 2000, 0, 0, "/zz" },
	{ 8, "s-p", 200, "nginx", 40000, 80, 30000000, 30000900, 1000, 2000, 0, 0, "/a" },
	{ 9, "c-p", 200, "nginx", 40002, 8080, 40000000, 40000900, 3100, 4100, 5001, 5002, "/a" },
};

static void test_strays(void **unused)
{
	struct built b;

	(void)unused;
	build(strays, N(strays), 1, &b);
	assert_int_equal(b.norder, 4);
	expect(&b, 1, 0, 200);
	expect(&b, 2, 1, 1800);
	expect(&b, 3, 2, 200);
	expect(&b, 4, 3, 7800);
	expect_pruned(&b, 7);
	expect_pruned(&b, 8);
	expect_pruned(&b, 9);
	store_check(strays, N(strays), &b);
}

/* DNS over UDP: the client's query and the capture of it, by query id, ports and time. */
static void test_dns(void **unused)
{
	static const struct sp set[] = {
		{ 1, "c-p",	    100, "curl", 53000, 53, 0, 900, 0,	   0,	0,
		  0, "example.com", 0,	 0,	 0,	0,  0, 0,   "DNS", 4242 },
		{ 2, "c-nd",	    0, "", 53000, 53, 100, 800, 0,     0,   0,
		  0, "example.com", 0, 0,  0,	  0,  0,   0,	"DNS", 4242 },
		{ 3, "c-nd",	    0, "", 53001, 53, 100, 800, 0,     0,   0,
		  0, "example.com", 0, 0,  0,	  0,  0,   0,	"DNS", 4242 },
	};
	struct built b;

	(void)unused;
	build(set, N(set), 2, &b);
	assert_int_equal(b.norder, 2);
	expect(&b, 1, 0, 200);
	expect(&b, 2, 1, 700);
	expect_pruned(&b, 3);
	store_check(set, N(set), &b);
}

/*
 * Rows stored before `_id` existed have it NULL: found by their keys, they still join
 * the trace, once each, however many lookups return them.
 */
static void test_rows_without_id(void **unused)
{
	char tmpl[] = "/tmp/flowscope-trace-XXXXXX", path[256], cmd[128], err[256];
	char exp[4096], got[4096];
	struct store_cfg cfg = { 0 };
	struct l7_record recs[N(net_hops)];
	struct store_batch batch = { .l7 = recs, .n7 = N(net_hops) };
	struct trace_query q = { 0 };
	struct store *st = NULL;
	struct trace *t = NULL;
	struct built b;
	sqlite3 *db;
	char *sql;

	(void)unused;
	build(net_hops, N(net_hops), 1, &b);
	render(b.s, b.order, b.norder, exp, sizeof(exp));
	assert_non_null(mkdtemp(tmpl));
	cfg.dir = tmpl;
	assert_int_equal(store_open(&store_sqlite_ops, &cfg, &st), 0);
	for (size_t i = 0; i < N(net_hops); i++)
		to_record(&net_hops[i], &recs[i]);
	assert_int_equal(store_write_rows(st, NULL, &batch), STORE_OK);
	q.id = row_id(st, &net_hops[0]);
	snprintf(path, sizeof(path), "%s/flowscope.db", tmpl);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sql = sqlite3_mprintf("UPDATE \"l7_flow_log_%s\" SET \"_id\" = NULL WHERE "
			      "\"observation_point\" != 'c-p'",
			      "20231114");
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 4);
	sqlite3_free(sql);
	sqlite3_close(db);
	assert_int_equal(trace_assemble(st, NULL, &q, &t, err, sizeof(err)), 0);
	render(t->spans, t->order, t->norder, got, sizeof(got));
	assert_string_equal(got, exp);
	trace_free(t);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	assert_int_equal(system(cmd), 0);
}

/*
 * A response captured without its request (the capture started mid-exchange): found by
 * its resp_tcp_seq from the sessions, and finding them from itself.
 */
static const struct sp lone[] = {
	{ 1, "c-p", 100, "curl", 40000, 80, 0, 10000, 1000, 2000, 0, 0, "/l" },
	{ 2, "c-nd", 0, "", 40000, 80, 9000, 9980, 0, 2000, 0, 0, "", .lone_resp = true },
	{ 3, "s-p", 200, "srv", 40000, 80, 100, 9900, 1000, 2000, 0, 0, "/l" },
};

static void test_lone_response(void **unused)
{
	struct built b;

	(void)unused;
	for (int seed = 1; seed <= 3; seed++) {
		build(lone, N(lone), seed, &b);
		assert_int_equal(b.norder, 3);
		expect(&b, 1, 0, 10000 - 980);
		expect(&b, 2, 1, 980 - 900);
		expect(&b, 3, 2, 9800);
	}
	store_check(lone, N(lone), &b);
}

/*
 * A busy server: front's call to cart waited 70 ms in cart's socket buffer before Node read
 * it (more than Δ), and front read the answer 70 ms after it was written. The same
 * exchange by tcp_seq all the same: cart's times lie within front's. The same sequence
 * numbers on a span outside them (another exchange) link nothing.
 */
static const struct sp backlog[] = {
	{ 1, "c-p", 100, "python3", 40000, 8001, 0, 200000, 1000, 2000, 0, 0, "/cart" },
	{ 2, "s-p", 200, "node", 40000, 8001, 70000, 130000, 1000, 2000, 0, 0, "/cart" },
	{ 3, "s-p", 200, "node", 40000, 8001, 70000, 270000, 1000, 2000, 0, 0, "/cart" },
	{ 4, "s-p", 200, "node", 40000, 8001, -70000, 130000, 1000, 2000, 0, 0, "/cart" },
};

static void test_server_backlog(void **unused)
{
	struct trace_cfg cfg = { 0 };
	struct trace_span a, b;

	(void)unused;
	trace_cfg_defaults(&cfg);
	to_span(&backlog[0], &a);
	to_span(&backlog[1], &b);
	assert_int_equal(trace_linked(&cfg, &a, &b), TRACE_LINK_TCP_SEQ);
	for (int i = 2; i <= 3; i++) {
		to_span(&backlog[i], &b);
		assert_int_equal(trace_linked(&cfg, &a, &b), 0);
	}
	/* A record without its response: the old bound (starts within Δ). */
	to_span(&backlog[1], &b);
	b.resp_tcp_seq = 0;
	assert_int_equal(trace_linked(&cfg, &a, &b), 0);
	b.start_us = a.start_us + 50000;
	assert_int_equal(trace_linked(&cfg, &a, &b), TRACE_LINK_TCP_SEQ);
}

/* Links are symmetric, and a span is never linked to itself. */
static void test_links_symmetric(void **unused)
{
	const struct sp *sets[] = { chain3, net_hops, keepalive, parallel, retry,
				    w3c,    strays,   backlog,	 pipelined };
	const size_t ns[] = { N(chain3), N(net_hops), N(keepalive), N(parallel), N(retry),
			      N(w3c),	 N(strays),   N(backlog),   N(pipelined) };
	struct trace_cfg cfg = { 0 };
	struct trace_span a, b;

	(void)unused;
	trace_cfg_defaults(&cfg);
	for (size_t k = 0; k < N(sets); k++)
		for (size_t i = 0; i < ns[k]; i++)
			for (size_t j = 0; j < ns[k]; j++) {
				to_span(&sets[k][i], &a);
				to_span(&sets[k][j], &b);
				assert_int_equal(trace_linked(&cfg, &a, &b),
						 trace_linked(&cfg, &b, &a));
				if (i == j)
					assert_int_equal(trace_linked(&cfg, &a, &a), 0);
			}
}

/* Row ids: below 2^63, the row's minute in the top bits, distinct within a batch. */
static void test_rowid(void **unused)
{
	uint64_t seq = rowid_reserve(3);
	int64_t a = rowid_make(1700000000, seq), b = rowid_make(1700000000, seq + 1);

	(void)unused;
	assert_true(a > 0 && b > 0 && a != b);
	assert_int_equal(rowid_time(a), 1700000000 / 60 * 60);
	assert_int_equal(rowid_time(rowid_make(0, seq)), -1);
	assert_true(rowid_make(INT64_MAX, seq) > 0);
	assert_int_equal(rowid_time(-5), -1);
}

/* Unknown ids and empty queries: -ENOENT / -EINVAL, through the store. */
static void test_assemble_errors(void **unused)
{
	char tmpl[] = "/tmp/flowscope-trace-XXXXXX", cmd[128], err[256];
	struct store_cfg cfg = { 0 };
	struct store *st = NULL;
	struct trace *t = NULL;
	struct trace_query q = { .id = rowid_make(1700000000, 5) };

	(void)unused;
	assert_non_null(mkdtemp(tmpl));
	cfg.dir = tmpl;
	assert_int_equal(store_open(&store_sqlite_ops, &cfg, &st), 0);
	assert_int_equal(trace_assemble(st, NULL, &q, &t, err, sizeof(err)), -ENOENT);
	assert_null(t);
	q = (struct trace_query){ .trace_id = "nope'x" };
	assert_int_equal(trace_assemble(st, NULL, &q, &t, err, sizeof(err)), -ENOENT);
	q = (struct trace_query){ 0 };
	assert_int_equal(trace_assemble(st, NULL, &q, &t, err, sizeof(err)), -EINVAL);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain3),
		cmocka_unit_test(test_network_spans),
		cmocka_unit_test(test_capture_points_order),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_batched_response),
		cmocka_unit_test(test_server_backlog),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_w3c),
		cmocka_unit_test(test_strays),
		cmocka_unit_test(test_dns),
		cmocka_unit_test(test_lone_response),
		cmocka_unit_test(test_rows_without_id),
		cmocka_unit_test(test_links_symmetric),
		cmocka_unit_test(test_rowid),
		cmocka_unit_test(test_assemble_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
