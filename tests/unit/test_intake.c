/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Intake and session pairing, without a kernel: synthetic ring records (the exact ABI the
 * BPF side writes) go in, l7_flow_log records come out, and every field is checked.
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

#include "agent/intake.h"
#include "agent/record.h"
#include "common/jsonw.h"

#define MAX_RECS 32

struct sink {
	struct l7_record recs[MAX_RECS];
	int n;
};

static void collect(void *ctx, const struct l7_record *r)
{
	struct sink *s = ctx;

	assert_true(s->n < MAX_RECS);
	s->recs[s->n++] = *r;
}

static const struct intake_cfg default_cfg = {
	.max_conns = 64,
	.max_pending = 8,
	.conn_idle_ns = 60000000000ull,
	.request_timeout_ns = 5000000000ull,
	.mem_budget = 1 << 20,
};

/* A ring record: header + payload, as socket_trace.bpf.c writes it. */
struct ring_rec {
	struct fs_event ev;
	uint8_t data[FS_CAP_MAX];
};

/* syscall_trace_id / coroutine the next data events carry. */
static uint64_t ev_trace_id, ev_coroutine;

/* Local 10.0.0.1:40000 (client side) talking to 10.0.0.2:80 unless changed. */
static void data_event_bin(struct intake *in, uint64_t sock, uint8_t dir, const void *payload,
			   size_t n, uint64_t syscall_len, uint64_t ts_enter, uint64_t ts_exit,
			   uint32_t seq)
{
	static struct ring_rec r;

	memset(&r.ev, 0, sizeof(r.ev));
	r.ev.type = FS_EV_DATA;
	r.ev.ts_enter_ns = ts_enter;
	r.ev.ts_exit_ns = ts_exit;
	r.ev.socket_id = sock;
	r.ev.syscall_len = syscall_len ? syscall_len : n;
	r.ev.trace_id = ev_trace_id;
	r.ev.coroutine_id = ev_coroutine;
	r.ev.pid = 100;
	r.ev.tid = 101 + dir;
	r.ev.fd = 7;
	r.ev.tcp_seq = seq;
	r.ev.cap_len = n;
	r.ev.family = 4;
	r.ev.l4_proto = 6;
	r.ev.direction = dir;
	memcpy(r.ev.saddr, "\x0a\x00\x00\x01", 4);
	memcpy(r.ev.daddr, "\x0a\x00\x00\x02", 4);
	r.ev.sport = 40000;
	r.ev.dport = 80;
	strcpy(r.ev.comm, "client");
	memcpy(r.data, payload, n);
	assert_int_equal(intake_event(in, &r, sizeof(r.ev) + n, 0), 0);
}

static void data_event(struct intake *in, uint64_t sock, uint8_t dir, const char *payload,
		       uint64_t syscall_len, uint64_t ts_enter, uint64_t ts_exit, uint32_t seq)
{
	data_event_bin(in, sock, dir, payload, strlen(payload), syscall_len, ts_enter, ts_exit,
		       seq);
}

static void small_event(struct intake *in, uint32_t type, uint64_t sock, uint32_t pid, uint64_t ts)
{
	struct fs_event ev = { .type = type, .socket_id = sock, .pid = pid, .ts_exit_ns = ts };

	assert_int_equal(intake_event(in, &ev, sizeof(ev), 0), 0);
}

#define REQ  "GET /a/b?x=1 HTTP/1.1\r\nHost: svc\r\nX-Request-ID: r1\r\n\r\n"
#define RESP "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nX-Request-ID: r2\r\n\r\nnope\n"

static void test_client_exchange(void **unused)
{
	struct sink s = { 0 };
	struct intake *in = intake_create(&default_cfg, collect, &s);

	(void)unused;
	data_event(in, 1, FS_DIR_EGRESS, REQ, 0, 1000, 1500, 5000);
	assert_int_equal(s.n, 0);
	data_event(in, 1, FS_DIR_INGRESS, RESP, 0, 1600, 9000, 7000);
	assert_int_equal(s.n, 1);
	struct l7_record *r = &s.recs[0];
	assert_int_equal(r->type, REC_TYPE_SESSION);
	assert_int_equal(r->obs, REC_OBS_CLIENT_PROCESS);
	assert_int_equal(r->start_ns, 1000); /* a send starts at syscall entry */
	assert_int_equal(r->end_ns, 9000);   /* a receive ends at syscall exit */
	assert_int_equal(r->code, 404);
	assert_int_equal(r->status, PROTO_STATUS_CLIENT_ERROR);
	assert_int_equal(r->request_length, strlen(REQ));
	assert_int_equal(r->response_length, strlen(RESP));
	assert_int_equal(r->req_tcp_seq, 5000);
	assert_int_equal(r->resp_tcp_seq, 7000);
	assert_memory_equal(r->addr0, "\x0a\x00\x00\x01", 4);
	assert_memory_equal(r->addr1, "\x0a\x00\x00\x02", 4);
	assert_int_equal(r->client_port, 40000);
	assert_int_equal(r->server_port, 80);
	assert_int_equal(r->pid, 100);
	assert_int_equal(r->req_tid, 101);
	assert_int_equal(r->resp_tid, 102);
	assert_string_equal(r->comm, "client");
	assert_int_equal(r->l7_proto, PROTO_HTTP1);
	assert_memory_equal(r->method.s, "GET", r->method.len);
	assert_int_equal(r->resource.len, 8);
	assert_memory_equal(r->resource.s, "/a/b?x=1", 8);
	assert_int_equal(r->endpoint.len, 4);
	assert_memory_equal(r->domain.s, "svc", 3);
	assert_memory_equal(r->x_request_id_0.s, "r1", 2);
	assert_memory_equal(r->x_request_id_1.s, "r2", 2);
	assert_memory_equal(r->exception.s, "Not Found", r->exception.len);
	assert_int_equal(in->st.records[REC_TYPE_SESSION], 1);
	intake_destroy(in);
}

static void test_server_exchange_swaps_sides(void **unused)
{
	struct sink s = { 0 };
	struct intake *in = intake_create(&default_cfg, collect, &s);

	(void)unused;
	data_event(in, 2, FS_DIR_INGRESS, REQ, 0, 100, 2000, 11);
	data_event(in, 2, FS_DIR_EGRESS, RESP, 0, 3000, 3500, 22);
	assert_int_equal(s.n, 1);
	struct l7_record *r = &s.recs[0];
	assert_int_equal(r->obs, REC_OBS_SERVER_PROCESS);
	assert_int_equal(r->start_ns, 2000); /* a receive starts when the data arrives */
	assert_int_equal(r->end_ns, 3500);
	/* The remote end is the client now. */
	assert_memory_equal(r->addr0, "\x0a\x00\x00\x02", 4);
	assert_int_equal(r->client_port, 80);
	assert_int_equal(r->server_port, 40000);
	intake_destroy(in);
}

static void test_header_split_over_events(void **unused)
{
	struct sink s = { 0 };
	struct intake *in = intake_create(&default_cfg, collect, &s);

	(void)unused;
	data_event(in, 3, FS_DIR_EGRESS, "GET /split HT", 0, 10, 11, 1000);
	data_event(in, 3, FS_DIR_EGRESS, "TP/1.1\r\nHost: h\r", 0, 20, 21, 1013);
	data_event(in, 3, FS_DIR_EGRESS, "\n\r\n", 0, 30, 31, 1029);
	assert_int_equal(in->st.messages, 1);
	data_event(in, 3, FS_DIR_INGRESS, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 40, 50,
		   9);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].start_ns, 10);
	assert_int_equal(s.recs[0].req_tcp_seq, 1000);
	assert_int_equal(s.recs[0].request_length, 32);
	assert_int_equal(s.recs[0].code, 200);
	/* Leftovers are released once consumed: what stays is the parser state, the (now
	 * empty) pending ring and the one request kept for reuse. */
	assert_int_equal(in->nspare, 1);
	assert_int_equal(in->st.mem_used, proto_http1_ops.state_size +
						  default_cfg.max_pending * sizeof(void *) +
						  sizeof(struct pending_req));
	intake_destroy(in);
}

static void test_body_larger_than_capture(void **unused)
{
	struct sink s = { 0 };
	struct intake *in = intake_create(&default_cfg, collect, &s);
	const char *hdr = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";

	(void)unused;
	data_event(in, 4, FS_DIR_EGRESS, "GET /big HTTP/1.1\r\n\r\n", 0, 1, 2, 1);
	/* One receive of the whole response, of which only the header was copied. */
	data_event(in, 4, FS_DIR_INGRESS, hdr, strlen(hdr) + 100000, 3, 4, 2);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].response_length, strlen(hdr) + 100000);
	/* The connection stays in sync: the next exchange parses. */
	data_event(in, 4, FS_DIR_EGRESS, "GET /next HTTP/1.1\r\n\r\n", 0, 5, 6, 3);
	data_event(in, 4, FS_DIR_INGRESS, "HTTP/1.1 204 No Content\r\n\r\n", 0, 7, 8, 4);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.recs[1].code, 204);
	intake_destroy(in);
}

static void test_pipelined_pairs_in_order(void **unused)
{
	struct sink s = { 0 };
	struct intake *in = intake_create(&default_cfg, collect, &s);

	(void)unused;
	data_event(in, 5, FS_DIR_EGRESS,
		   "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n", 0, 1, 2,
		   100);
	data_event(in, 5, FS_DIR_INGRESS,
		   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
		   "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
		   "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
		   0, 3, 4, 500);
	assert_int_equal(s.n, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(s.recs[i].resource.s[1], '1' + i);
		assert_int_equal(s.recs[i].code, 200 + i);
		assert_int_equal(s.recs[i].req_tcp_seq, 100 + 19 * i);
	}
	assert_int_equal(s.recs[1].resp_tcp_seq, 500 + 38);
	intake_destroy(in);
}

static void test_timeout_lone_response_close_exit(void **unused)
{
	struct sink s = { 0 };
	struct intake *in = intake_create(&default_cfg, collect, &s);

	(void)unused;
	/* Unanswered request: a type-0 timeout record once the deadline passes. */
	data_event(in, 6, FS_DIR_EGRESS, "GET /slow HTTP/1.1\r\n\r\n", 0, 1000, 1000, 1);
	intake_tick(in, 1000 + default_cfg.request_timeout_ns - 1);
	assert_int_equal(s.n, 0);
	intake_tick(in, 1000 + default_cfg.request_timeout_ns);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].type, REC_TYPE_REQUEST);
	assert_int_equal(s.recs[0].status, PROTO_STATUS_TIMEOUT);
	assert_int_equal(in->st.timeouts, 1);

	/* A response with nothing waiting (seen mid-connection): type 1. */
	data_event(in, 7, FS_DIR_INGRESS, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 5, 6,
		   1);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.recs[1].type, REC_TYPE_RESPONSE);
	assert_false(s.recs[1].has_request);

	/* close() flushes pending requests and forgets the connection. */
	data_event(in, 8, FS_DIR_EGRESS, "GET /c HTTP/1.1\r\n\r\n", 0, 7, 8, 1);
	small_event(in, FS_EV_CLOSE, 8, 100, 9);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.recs[2].status, PROTO_STATUS_TIMEOUT);
	assert_null(conn_lookup(&in->conns, 8));

	/* Process exit: every connection of that pid goes. */
	data_event(in, 9, FS_DIR_EGRESS, "GET /e HTTP/1.1\r\n\r\n", 0, 7, 8, 1);
	small_event(in, FS_EV_PROC_EXIT, 0, 999, 10); /* another pid: nothing happens */
	assert_non_null(conn_lookup(&in->conns, 9));
	small_event(in, FS_EV_PROC_EXIT, 0, 100, 10);
	assert_null(conn_lookup(&in->conns, 9));
	assert_int_equal(s.n, 4);

	/* Shutdown flush: status unknown, not timeout. */
	data_event(in, 10, FS_DIR_EGRESS, "GET /f HTTP/1.1\r\n\r\n", 0, 7, 8, 1);
	intake_flush_all(in, 20);
	assert_int_equal(s.n, 5);
	assert_int_equal(s.recs[4].status, PROTO_STATUS_UNKNOWN);
	/* All that stays charged is the requests kept for reuse. */
	assert_true(in->nspare > 0);
	assert_int_equal(in->st.mem_used, in->nspare * sizeof(struct pending_req));
	intake_destroy(in);
}

static void test_bounds_conns_pending_budget(void **unused)
{
	struct intake_cfg cfg = default_cfg;
	struct sink s = { 0 };
	struct intake *in;

	(void)unused;
	cfg.max_conns = 2;
	cfg.max_pending = 2;
	in = intake_create(&cfg, collect, &s);
	data_event(in, 20, FS_DIR_EGRESS, "GET /1 HTTP/1.1\r\n\r\n", 0, 1, 1, 1);
	data_event(in, 21, FS_DIR_EGRESS, "GET /2 HTTP/1.1\r\n\r\n", 0, 2, 2, 1);
	data_event(in, 22, FS_DIR_EGRESS, "GET /3 HTTP/1.1\r\n\r\n", 0, 3, 3, 1);
	assert_int_equal(in->conns.count, 2);
	assert_int_equal(in->st.conns_peak, 2);
	assert_int_equal(in->st.conns_evicted_full, 1);
	assert_null(conn_lookup(&in->conns, 20)); /* the least recently active went */
	assert_int_equal(s.n, 1);		  /* and its pending request was flushed */

	/* A third unanswered request on one connection pushes the oldest out. */
	data_event(in, 21, FS_DIR_EGRESS, "GET /2b HTTP/1.1\r\n\r\nGET /2c HTTP/1.1\r\n\r\n", 0, 4,
		   4, 1);
	assert_int_equal(in->st.drop_pending_overflow, 1);
	assert_int_equal(s.n, 2);
	intake_destroy(in);

	/* A budget too small for any parser state: data is dropped and counted. */
	cfg = default_cfg;
	cfg.mem_budget = 16;
	memset(&s, 0, sizeof(s));
	in = intake_create(&cfg, collect, &s);
	data_event(in, 30, FS_DIR_EGRESS, REQ, 0, 1, 1, 1);
	assert_int_equal(in->st.drop_mem_budget, 1);
	assert_int_equal(s.n, 0);
	intake_destroy(in);
}

static void test_budget_drop_resets_parser(void **unused)
{
	struct intake_cfg cfg = default_cfg;
	struct sink s = { 0 };
	struct intake *in;

	(void)unused;
	/* Room for the parser state, the pending ring and one request, not for a leftover
	 * buffer (its segment table alone is larger than what is left). */
	cfg.mem_budget = proto_http1_ops.state_size + cfg.max_pending * sizeof(void *) +
			 sizeof(struct pending_req) + 64;
	in = intake_create(&cfg, collect, &s);
	data_event(in, 60, FS_DIR_EGRESS, "GET /lost HTTP/1.1\r\nHo", 0, 1, 1, 1);
	assert_int_equal(in->st.drop_mem_budget, 1);
	/* The parser is told (reset); the rest of the lost header is skipped and the next
	 * request parses whole. */
	data_event(in, 60, FS_DIR_EGRESS, "st: a\r\n\r\n", 0, 2, 2, 23);
	data_event(in, 60, FS_DIR_EGRESS, "GET /next HTTP/1.1\r\n\r\n", 0, 3, 3, 34);
	data_event(in, 60, FS_DIR_INGRESS, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 4, 4,
		   9);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].resource.len, 5);
	assert_memory_equal(s.recs[0].resource.s, "/next", 5);
	assert_int_equal(s.recs[0].req_tcp_seq, 34);
	intake_destroy(in);
}

static void test_malformed_and_unclassified(void **unused)
{
	struct sink s = { 0 };
	struct intake *in = intake_create(&default_cfg, collect, &s);
	struct fs_event ev = { .type = FS_EV_DATA, .cap_len = 100 };
	uint8_t junk[3] = { 1, 2, 3 };

	(void)unused;
	assert_int_equal(intake_event(in, junk, sizeof(junk), 0), -EINVAL);
	/* cap_len promises more payload than the record has. */
	assert_int_equal(intake_event(in, &ev, sizeof(ev) + 10, 0), -EINVAL);
	ev.type = 77;
	ev.cap_len = 0;
	assert_int_equal(intake_event(in, &ev, sizeof(ev), 0), -EINVAL);
	assert_int_equal(in->st.events_malformed, 3);
	data_event(in, 40, FS_DIR_EGRESS, "\x16\x03\x01 binary", 0, 1, 1, 1);
	assert_int_equal(in->st.unclassified, 1);
	assert_int_equal(s.n, 0);
	intake_destroy(in);
}

static void test_record_json(void **unused)
{
	struct sink s = { 0 };
	struct intake *in = intake_create(&default_cfg, collect, &s);
	struct jsonw w = { 0 };

	(void)unused;
	data_event(in, 50, FS_DIR_EGRESS, REQ, 0, 1000000, 1500000, 5);
	data_event(in, 50, FS_DIR_INGRESS, RESP, 0, 1600000, 3000000, 6);
	assert_int_equal(record_write_json(&w, &s.recs[0]), 0);
	w.buf[w.len] = 0;
	const char *want =
		"{\"table\":\"l7_flow_log\",\"time\":0,\"start_time\":1000,\"end_time\":3000,"
		"\"response_duration\":2000,\"ip4_0\":\"10.0.0.1\",\"ip4_1\":\"10.0.0.2\","
		"\"client_port\":40000,\"server_port\":80,\"protocol\":6,\"signal_source\":3,"
		"\"observation_point\":\"c-p\",\"capture_nic\":\"\",\"process_id_0\":100,\"process_"
		"id_1\":0,"
		"\"process_kname_0\":\"client\",\"process_kname_1\":\"\",\"syscall_thread_0\":101,"
		"\"syscall_thread_1\":102,\"l7_protocol\":\"HTTP\",\"version\":\"1.1\",\"type\":2,"
		"\"request_type\":\"GET\",\"request_domain\":\"svc\",\"request_resource\":"
		"\"/a/b?x=1\",\"endpoint\":\"/a/b\",\"response_code\":404,\"response_status\":4,"
		"\"response_exception\":\"Not Found\",\"request_length\":54,"
		"\"response_length\":68,\"req_tcp_seq\":5,\"resp_tcp_seq\":6,"
		"\"x_request_id_0\":\"r1\",\"x_request_id_1\":\"r2\",\"trace_id\":\"\","
		"\"span_id\":\"\",\"response_result\":\"\",\"request_id\":null,"
		"\"sql_affected_rows\":null,\"syscall_trace_id_request\":0,"
		"\"syscall_trace_id_response\":0,\"syscall_coroutine_0\":0,\"syscall_coroutine_1\":"
		"0,"
		"\"parent_span_id\":\"\"}\n";
	assert_string_equal(w.buf, want);
	jsonw_free(&w);
	intake_destroy(in);
}

static void test_jsonw_escapes_and_utf8(void **unused)
{
	struct jsonw w = { 0 };

	(void)unused;
	jsonw_begin(&w);
	jsonw_str(&w, "a", "q\"b\\\n\x01", 6);
	jsonw_str(&w, "u", "\xc3\xa9\xff\xe2\x82", 5); /* é, a stray byte, a cut sequence */
	jsonw_i64(&w, "n", -5);
	jsonw_null(&w, "z");
	jsonw_u64(&w, "m", UINT64_MAX);
	jsonw_u64(&w, "0", 0);
	jsonw_i64(&w, "i", INT64_MIN);
	jsonw_u64(&w, "t", 1795322869466085ull);
	assert_int_equal(jsonw_end(&w), 0);
	w.buf[w.len] = 0;
	assert_string_equal(w.buf,
			    "{\"a\":\"q\\\"b\\\\\\n\\u0001\",\"u\":\"\xc3\xa9\\ufffd\\ufffd"
			    "\\ufffd\",\"n\":-5,\"z\":null,\"m\":18446744073709551615,\"0\":0,"
			    "\"i\":-9223372036854775808,\"t\":1795322869466085}\n");
	jsonw_free(&w);
}

static void test_record_addresses(void **unused)
{
	struct l7_record r = { .family = 4, .obs = REC_OBS_SERVER_PROCESS, .code = -1 };
	struct jsonw w = { 0 };

	(void)unused;
	memcpy(r.addr0, "\x64\x14\x03\xff", 4);
	memcpy(r.addr1, "\x00\x00\x00\x00", 4);
	record_write_json(&w, &r);
	w.buf[w.len] = 0;
	assert_non_null(strstr(w.buf, "\"ip4_0\":\"100.20.3.255\",\"ip4_1\":\"0.0.0.0\""));
	r.family = 6;
	memcpy(r.addr0, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	memset(r.addr1, 0, 16);
	r.addr1[15] = 1;
	record_write_json(&w, &r);
	w.buf[w.len] = 0;
	assert_non_null(strstr(w.buf, "\"ip6_0\":\"2001:db8::1\",\"ip6_1\":\"::1\""));
	jsonw_free(&w);
}

/* A message's syscall_trace_id and coroutine are those of its first syscall, also when a
 * message begins inside an event that ended the previous one. */
static void test_trace_ids_from_first_syscall(void **unused)
{
	struct sink s = { 0 };
	struct intake *in = intake_create(&default_cfg, collect, &s);
	const char *req = REQ;
	size_t half = strlen(REQ) / 2;
	char buf[512];

	(void)unused;
	ev_trace_id = 11, ev_coroutine = 5;
	data_event(in, 1, FS_DIR_EGRESS, "GET /a HTTP/1.1\r\nHo", 0, 1000, 1100, 100);
	ev_trace_id = 12, ev_coroutine = 6;
	data_event(in, 1, FS_DIR_EGRESS, "st: x\r\n\r\n", 0, 1200, 1300, 120);
	ev_trace_id = 21, ev_coroutine = 7;
	data_event(in, 1, FS_DIR_INGRESS, "HTTP/1.1 200 OK\r\nContent-", 0, 1400, 1500, 500);
	ev_trace_id = 22, ev_coroutine = 8;
	data_event(in, 1, FS_DIR_INGRESS, "Length: 0\r\n\r\n", 0, 1600, 1700, 526);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].req_syscall_trace_id, 11);
	assert_int_equal(s.recs[0].req_coroutine, 5);
	assert_int_equal(s.recs[0].resp_syscall_trace_id, 21);
	assert_int_equal(s.recs[0].resp_coroutine, 7);

	/* Two pipelined requests: the second begins in the event that ends the first. */
	snprintf(buf, sizeof(buf), "%s%.*s", REQ, (int)half, req);
	ev_trace_id = 40;
	data_event(in, 2, FS_DIR_EGRESS, buf, 0, 2000, 2100, 1000);
	ev_trace_id = 41;
	data_event(in, 2, FS_DIR_EGRESS, req + half, 0, 2200, 2300, 0);
	ev_trace_id = 50;
	data_event(in, 2, FS_DIR_INGRESS, "HTTP/1.1 204 No Content\r\n\r\n", 0, 2400, 2500, 0);
	ev_trace_id = 51;
	data_event(in, 2, FS_DIR_INGRESS, "HTTP/1.1 204 No Content\r\n\r\n", 0, 2600, 2700, 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.recs[1].req_syscall_trace_id, 40);
	assert_int_equal(s.recs[1].resp_syscall_trace_id, 50);
	assert_int_equal(s.recs[2].req_syscall_trace_id, 40);
	assert_int_equal(s.recs[2].resp_syscall_trace_id, 51);
	ev_trace_id = ev_coroutine = 0;
	intake_destroy(in);
}

/*
 * The server side of a Redis connection shared by an event loop (Node.js writing one INCR
 * per inbound request, back to back): redis-server reads several commands in one read.
 * Each command must leave as its own record, with its own command, key and req_tcp_seq
 * (the sequence of its first byte), paired with its own reply, however the reads and the
 * reply writes are cut.
 */
#define RD_A   "*2\r\n$4\r\nINCR\r\n$6\r\ncart:7\r\n" /* 26 bytes */
#define RD_B   "*2\r\n$4\r\nINCR\r\n$6\r\ncart:5\r\n"
#define RD_C   "*2\r\n$3\r\nGET\r\n$7\r\ncart:12\r\n" /* 26 bytes */
#define RD_LEN 26

static void expect_redis(const struct l7_record *r, const char *type, const char *res,
			 uint32_t req_seq, uint32_t resp_seq, const char *result)
{
	assert_int_equal(r->type, REC_TYPE_SESSION);
	assert_int_equal(r->obs, REC_OBS_SERVER_PROCESS);
	assert_int_equal(r->l7_proto, PROTO_REDIS);
	assert_int_equal(r->method.len, strlen(type));
	assert_memory_equal(r->method.s, type, r->method.len);
	assert_int_equal(r->resource.len, strlen(res));
	assert_memory_equal(r->resource.s, res, r->resource.len);
	assert_int_equal(r->req_tcp_seq, req_seq);
	assert_int_equal(r->request_length, RD_LEN);
	assert_int_equal(r->resp_tcp_seq, resp_seq);
	assert_int_equal(r->result.len, strlen(result));
	assert_memory_equal(r->result.s, result, r->result.len);
}

static void test_redis_server_pipelined_reads(void **unused)
{
	const char *three = RD_A RD_B RD_C;
	char buf[256];

	(void)unused;
	assert_int_equal(strlen(RD_A), RD_LEN);
	assert_int_equal(strlen(RD_C), RD_LEN);
	/* cut: where the second read begins (0: one read of all three); writes: the replies in
	 * one write, or one write each. Cuts inside a line, inside a bulk, on a boundary. */
	static const size_t cuts[] = { 0,
				       2 * RD_LEN,
				       2 * RD_LEN + 3,
				       2 * RD_LEN + 10,
				       2 * RD_LEN + 15,
				       2 * RD_LEN + 25,
				       RD_LEN + 1 };

	for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
		for (int one_write = 0; one_write <= 1; one_write++) {
			struct sink s = { 0 };
			struct intake *in = intake_create(&default_cfg, collect, &s);
			size_t cut = cuts[k] ? cuts[k] : 3 * RD_LEN;

			snprintf(buf, sizeof(buf), "%.*s", (int)cut, three);
			data_event(in, 9, FS_DIR_INGRESS, buf, 0, 10, 20, 7000);
			if (!one_write) {
				/* Replies to what was read whole, before the rest arrives. */
				for (size_t i = 0; i < cut / RD_LEN && i < 2; i++)
					data_event(in, 9, FS_DIR_EGRESS, i ? ":1\r\n" : ":3\r\n", 0,
						   30 + i, 31 + i, 900 + 4 * i);
			}
			if (cut < 3 * RD_LEN)
				data_event(in, 9, FS_DIR_INGRESS, three + cut, 0, 40, 50,
					   7000 + cut);
			if (one_write) {
				data_event(in, 9, FS_DIR_EGRESS, ":3\r\n:1\r\n$2\r\n12\r\n", 0, 60,
					   70, 900);
			} else {
				for (size_t i = cut / RD_LEN < 2 ? cut / RD_LEN : 2; i < 3; i++)
					data_event(in, 9, FS_DIR_EGRESS,
						   i == 0   ? ":3\r\n"
						   : i == 1 ? ":1\r\n"
							    : "$2\r\n12\r\n",
						   0, 60 + i, 61 + i, 900 + 4 * i);
			}
			assert_int_equal(s.n, 3);
			expect_redis(&s.recs[0], "INCR", "INCR cart:7", 7000, 900, "3");
			expect_redis(&s.recs[1], "INCR", "INCR cart:5", 7000 + RD_LEN, 904, "1");
			expect_redis(&s.recs[2], "GET", "GET cart:12", 7000 + 2 * RD_LEN, 908, "");
			assert_int_equal(in->pst.parse_errors, 0);
			intake_destroy(in);
		}
	}
}

/*
 * The same read, larger than the capture size: the kernel copied its first bytes only
 * (capture_bytes), and the rest is a gap. The commands before the cut are whole; the one
 * the cut goes through keeps its own sequence and is marked truncated (its command may be
 * unknown); those wholly in the gap cannot be seen, so their replies leave alone. Nothing
 * takes another command's sequence, and the connection is in step again with the next read.
 * This, not the splitting of whole commands, is what lost Redis spans under the demo's
 * pipelining at the default capture size (docs/tracing.md "Limits").
 */
static void test_redis_server_read_beyond_capture(void **unused)
{
	struct sink s = { 0 };
	struct intake *in = intake_create(&default_cfg, collect, &s);
	const char *three = RD_A RD_B RD_C;
	char buf[256];

	(void)unused;
	/* Read of all three, of which RD_A and RD_B's first line were copied. */
	snprintf(buf, sizeof(buf), "%.*s", RD_LEN + 4, three);
	data_event(in, 9, FS_DIR_INGRESS, buf, 3 * RD_LEN, 10, 20, 7000);
	data_event(in, 9, FS_DIR_EGRESS, ":3\r\n:1\r\n$2\r\n12\r\n", 0, 30, 40, 900);
	assert_int_equal(s.n, 3);
	expect_redis(&s.recs[0], "INCR", "INCR cart:7", 7000, 900, "3");
	assert_int_equal(s.recs[1].type, REC_TYPE_SESSION);
	assert_int_equal(s.recs[1].req_tcp_seq, 7000 + RD_LEN);
	assert_int_equal(s.recs[1].method.len, 0);
	/* The bytes seen: how much of the gap was its own is unknown. */
	assert_int_equal(s.recs[1].request_length, 4);
	assert_int_equal(s.recs[1].resp_tcp_seq, 904);
	assert_int_equal(s.recs[2].type, REC_TYPE_RESPONSE); /* RD_C's reply: RD_C unseen */
	assert_int_equal(s.recs[2].resp_tcp_seq, 908);
	assert_int_equal(in->pst.truncated, 1);
	/* In step again: the next command and its reply pair. */
	data_event(in, 9, FS_DIR_INGRESS, RD_A, 0, 50, 60, 7000 + 3 * RD_LEN);
	data_event(in, 9, FS_DIR_EGRESS, ":4\r\n", 0, 70, 80, 918);
	assert_int_equal(s.n, 4);
	expect_redis(&s.recs[3], "INCR", "INCR cart:7", 7000 + 3 * RD_LEN, 918, "4");
	/* A cut inside the command name: the name is unknown, not the part seen, nor the rest
	 * of the previous command's ("GET" then "IN" once read as "INT"). */
	data_event(in, 9, FS_DIR_INGRESS, RD_C, 0, 90, 100, 7000 + 4 * RD_LEN);
	data_event(in, 9, FS_DIR_EGRESS, "$-1\r\n", 0, 110, 120, 922);
	snprintf(buf, sizeof(buf), "%.*s", 10, RD_A); /* "*2\r\n$4\r\nIN" */
	data_event(in, 9, FS_DIR_INGRESS, buf, 2 * RD_LEN, 130, 140, 7000 + 5 * RD_LEN);
	data_event(in, 9, FS_DIR_EGRESS, ":5\r\n:2\r\n", 0, 150, 160, 927);
	assert_int_equal(s.n, 7);
	expect_redis(&s.recs[4], "GET", "GET cart:12", 7000 + 4 * RD_LEN, 922, "NULL");
	assert_int_equal(s.recs[5].req_tcp_seq, 7000 + 5 * RD_LEN);
	assert_int_equal(s.recs[5].method.len, 0);
	assert_int_equal(s.recs[5].resource.len, 0);
	assert_int_equal(s.recs[5].resp_tcp_seq, 927);
	assert_int_equal(s.recs[6].type, REC_TYPE_RESPONSE);
	intake_destroy(in);
}

/* ---- h2c upgrade (RFC 7540 3.2): HTTP/1.1 hands the connection to HTTP/2 ---- */

#define H2C_UPGRADE_REQ                                                                            \
	"GET /index.html HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade, HTTP2-Settings\r\n"         \
	"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nX-Request-ID: up-1\r\n\r\n"
#define H2C_101 "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
/* The server's SETTINGS, then stream 1's answer: HEADERS (:status 200, static index 8) and
 * DATA "hello\n" ending the stream. */
#define H2C_S1                                                                                     \
	"\x00\x00\x00\x04\x00\x00\x00\x00\x00"                                                     \
	"\x00\x00\x01\x01\x04\x00\x00\x00\x01\x88"                                                 \
	"\x00\x00\x06\x00\x01\x00\x00\x00\x01hello\n"
#define H2C_S1_RESP_LEN (10 + 15) /* stream 1's frames */
/* The client's preface, its SETTINGS and the ack of the server's, then stream 3: GET /b.txt
 * at svc (literals, no Huffman) ending the stream. */
#define H2C_C3                                                                                     \
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"                                                         \
	"\x00\x00\x00\x04\x00\x00\x00\x00\x00"                                                     \
	"\x00\x00\x00\x04\x01\x00\x00\x00\x00"                                                     \
	"\x00\x00\x0f\x01\x05\x00\x00\x00\x03\x82\x86\x44\x06/b.txt\x41\x03svc"
#define H2C_C3_REQ_LEN (9 + 15)
/* The ack of the client's SETTINGS, stream 3's answer: :status 404 (static index 13). */
#define H2C_S3                                                                                     \
	"\x00\x00\x00\x04\x01\x00\x00\x00\x00"                                                     \
	"\x00\x00\x01\x01\x05\x00\x00\x00\x03\x8d"
#define H2C_S3_RESP_LEN 10

struct conv_ev {
	uint8_t from_client;
	const char *p;
	size_t n;
};

#define CONV_EV(c, s)                                                                              \
	{                                                                                          \
		(c), (s), sizeof(s) - 1                                                            \
	}

static const struct conv_ev h2c_conv[] = {
	CONV_EV(1, H2C_UPGRADE_REQ),
	CONV_EV(0, H2C_101 H2C_S1),
	CONV_EV(1, H2C_C3),
	CONV_EV(0, H2C_S3),
};

/*
 * Play a conversation from one end (client: c-p, else s-p), event `split` cut in two at
 * `at` (no cut when at is 0), into a fresh intake; the records land in s.
 */
static void play(struct sink *s, const struct conv_ev *evs, size_t n, bool client, size_t split,
		 size_t at, struct intake_stats *st)
{
	struct intake *in = intake_create(&default_cfg, collect, s);
	uint32_t seq[2] = { 1000, 900000 };
	uint64_t ts = 10000;

	assert_non_null(in);
	for (size_t i = 0; i < n; i++) {
		uint8_t dir = evs[i].from_client == client ? FS_DIR_EGRESS : FS_DIR_INGRESS;
		size_t cut = i == split ? at : 0;

		if (cut) {
			data_event_bin(in, 1, dir, evs[i].p, cut, 0, ts, ts + 10, seq[dir]);
			ts += 100;
		}
		data_event_bin(in, 1, dir, evs[i].p + cut, evs[i].n - cut, 0, ts, ts + 10,
			       seq[dir] + (uint32_t)cut);
		seq[dir] += (uint32_t)evs[i].n;
		ts += 100;
	}
	intake_close(in, 1, ts);
	*st = in->st;
	intake_destroy(in);
}

static void assert_same_record(const struct l7_record *a, const struct l7_record *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->obs, b->obs);
	assert_int_equal(a->l7_proto, b->l7_proto);
	assert_int_equal(a->code, b->code);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->has_request_id, b->has_request_id);
	assert_int_equal(a->request_id, b->request_id);
	assert_int_equal(a->request_length, b->request_length);
	assert_int_equal(a->response_length, b->response_length);
	assert_int_equal(a->req_tcp_seq, b->req_tcp_seq);
	assert_int_equal(a->resp_tcp_seq, b->resp_tcp_seq);
	assert_int_equal(a->version.len, b->version.len);
	assert_memory_equal(a->version.s, b->version.s, a->version.len);
	assert_int_equal(a->method.len, b->method.len);
	assert_memory_equal(a->method.s, b->method.s, a->method.len);
	assert_int_equal(a->domain.len, b->domain.len);
	assert_memory_equal(a->domain.s, b->domain.s, a->domain.len);
	assert_int_equal(a->resource.len, b->resource.len);
	assert_memory_equal(a->resource.s, b->resource.s, a->resource.len);
	assert_int_equal(a->x_request_id_0.len, b->x_request_id_0.len);
}

#define ASSERT_STR(field, lit)                                                                     \
	do {                                                                                       \
		assert_int_equal((field).len, strlen(lit));                                        \
		assert_memory_equal((field).s, lit, strlen(lit));                                  \
	} while (0)

static void check_h2c_records(const struct sink *s, const struct intake_stats *st, bool client)
{
	const struct l7_record *r;

	assert_int_equal(s->n, 2);
	assert_int_equal(st->proto_switches, 1);
	assert_int_equal(st->records[REC_TYPE_SESSION], 2);
	assert_int_equal(st->parse_errors, 0);
	/* The upgrade request and stream 1's answer: one exchange, told as the request was. */
	r = &s->recs[0];
	assert_int_equal(r->type, REC_TYPE_SESSION);
	assert_int_equal(r->obs, client ? REC_OBS_CLIENT_PROCESS : REC_OBS_SERVER_PROCESS);
	assert_int_equal(r->l7_proto, PROTO_HTTP1);
	ASSERT_STR(r->version, "1.1");
	ASSERT_STR(r->method, "GET");
	ASSERT_STR(r->domain, "svc");
	ASSERT_STR(r->resource, "/index.html");
	ASSERT_STR(r->x_request_id_0, "up-1");
	assert_int_equal(r->code, 200);
	assert_int_equal(r->status, PROTO_STATUS_OK);
	assert_true(r->has_request_id);
	assert_int_equal(r->request_id, 1);
	assert_int_equal(r->request_length, strlen(H2C_UPGRADE_REQ));
	assert_int_equal(r->response_length, H2C_S1_RESP_LEN);
	/* The answer's first byte: stream 1's HEADERS, after the 101 and the SETTINGS. */
	assert_int_equal(r->resp_tcp_seq, (client ? 900000 : 1000) + strlen(H2C_101) + 9);
	/* Then HTTP/2 proper. */
	r = &s->recs[1];
	assert_int_equal(r->type, REC_TYPE_SESSION);
	assert_int_equal(r->l7_proto, PROTO_HTTP2);
	ASSERT_STR(r->version, "2");
	ASSERT_STR(r->method, "GET");
	ASSERT_STR(r->domain, "svc");
	ASSERT_STR(r->resource, "/b.txt");
	assert_int_equal(r->code, 404);
	assert_int_equal(r->status, PROTO_STATUS_CLIENT_ERROR);
	assert_int_equal(r->request_id, 3);
	assert_int_equal(r->request_length, H2C_C3_REQ_LEN);
	assert_int_equal(r->response_length, H2C_S3_RESP_LEN);
}

static void test_h2c_upgrade(void **unused)
{
	const size_t n = sizeof(h2c_conv) / sizeof(h2c_conv[0]);

	(void)unused;
	for (int client = 0; client < 2; client++) {
		struct sink whole = { 0 };
		struct intake_stats st;

		play(&whole, h2c_conv, n, client, n, 0, &st);
		check_h2c_records(&whole, &st, client);
		/* However the bytes are cut into events, the same records. */
		for (size_t i = 0; i < n; i++) {
			for (size_t at = 1; at < h2c_conv[i].n; at++) {
				struct sink cut = { 0 };

				play(&cut, h2c_conv, n, client, i, at, &st);
				check_h2c_records(&cut, &st, client);
				for (int k = 0; k < whole.n; k++)
					assert_same_record(&whole.recs[k], &cut.recs[k]);
			}
		}
	}
}

/* A server that declines (answers in HTTP/1.1) keeps the connection HTTP/1.1; the answer
 * pairs with the offer, and the plain requests around it pair by order. */
static void test_h2c_upgrade_declined(void **unused)
{
	static const struct conv_ev conv[] = {
		CONV_EV(1, "GET /first HTTP/1.1\r\nHost: svc\r\n\r\n"),
		CONV_EV(0, "HTTP/1.1 204 No Content\r\n\r\n"),
		CONV_EV(1, "POST /up HTTP/1.1\r\nHost: svc\r\nUpgrade: h2c\r\nContent-Length: 2\r\n"
			   "\r\nhi"),
		CONV_EV(0, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"),
		CONV_EV(1, "GET /last HTTP/1.1\r\nHost: svc\r\n\r\n"),
		CONV_EV(0, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
	};
	const size_t n = sizeof(conv) / sizeof(conv[0]);
	struct sink s = { 0 };
	struct intake_stats st;

	(void)unused;
	play(&s, conv, n, true, n, 0, &st);
	assert_int_equal(st.proto_switches, 0);
	assert_int_equal(s.n, 3);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(s.recs[k].type, REC_TYPE_SESSION);
		assert_int_equal(s.recs[k].l7_proto, PROTO_HTTP1);
		assert_false(s.recs[k].has_request_id);
	}
	ASSERT_STR(s.recs[0].resource, "/first");
	assert_int_equal(s.recs[0].code, 204);
	ASSERT_STR(s.recs[1].resource, "/up");
	ASSERT_STR(s.recs[1].method, "POST");
	assert_int_equal(s.recs[1].code, 200);
	assert_int_equal(s.recs[1].response_length, strlen(conv[3].p));
	ASSERT_STR(s.recs[2].resource, "/last");
	assert_int_equal(s.recs[2].code, 404);
}

/* A 101 to anything but h2c (WebSocket) ends HTTP as before: the 101 is the answer. */
static void test_upgrade_websocket_stays_opaque(void **unused)
{
	static const struct conv_ev conv[] = {
		CONV_EV(1, "GET /ws HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\n"
			   "Upgrade: websocket\r\n\r\n"),
		CONV_EV(0, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
			   "Upgrade: websocket\r\n\r\n\x81\x02hi"),
		CONV_EV(1, "\x81\x82\x00\x00\x00\x00hi"),
	};
	struct sink s = { 0 };
	struct intake_stats st;

	(void)unused;
	play(&s, conv, 3, true, 3, 0, &st);
	assert_int_equal(st.proto_switches, 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].code, 101);
	assert_int_equal(s.recs[0].l7_proto, PROTO_HTTP1);
	assert_int_equal(st.parse_errors, 0);
}

/* A message that answers no request (a Redis pub/sub push) is a record of its own, and
 * what it names is the record's request_type / request_resource. */
static void test_lone_message_keeps_its_fields(void **unused)
{
	static const struct conv_ev conv[] = {
		CONV_EV(1, "*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n"),
		CONV_EV(0, "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"),
		CONV_EV(0, "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"),
	};
	struct sink s = { 0 };
	struct intake_stats st;

	(void)unused;
	play(&s, conv, 3, true, 3, 0, &st);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.recs[0].type, REC_TYPE_SESSION);
	assert_int_equal(s.recs[0].l7_proto, PROTO_REDIS);
	ASSERT_STR(s.recs[0].method, "SUBSCRIBE");
	ASSERT_STR(s.recs[0].resource, "SUBSCRIBE news");
	assert_int_equal(s.recs[1].type, REC_TYPE_RESPONSE);
	ASSERT_STR(s.recs[1].method, "message");
	ASSERT_STR(s.recs[1].resource, "message news");
	assert_int_equal(s.recs[1].result.len, 0); /* the payload is a value: not kept */
	assert_int_equal(s.recs[1].status, PROTO_STATUS_OK);
	assert_int_equal(s.recs[1].response_length, strlen(conv[2].p));
}

/* ---- one unconnected UDP socket, many peers (dnsmasq) ---- */

/* A datagram on socket 9: local 127.0.0.1:53, the peer 127.0.0.<host>:port. */
static void udp_event(struct intake *in, uint8_t dir, const uint8_t *p, size_t n, uint8_t host,
		      uint16_t port, uint64_t ts)
{
	static struct ring_rec r;

	memset(&r.ev, 0, sizeof(r.ev));
	r.ev.type = FS_EV_DATA;
	r.ev.ts_enter_ns = ts;
	r.ev.ts_exit_ns = ts + 10;
	r.ev.socket_id = 9;
	r.ev.syscall_len = n;
	r.ev.pid = 300;
	r.ev.tid = 300;
	r.ev.cap_len = (uint32_t)n;
	r.ev.family = 4;
	r.ev.l4_proto = 17;
	r.ev.direction = dir;
	r.ev.syscall = dir == FS_DIR_INGRESS ? FS_SYS_RECVFROM : FS_SYS_SENDTO;
	memcpy(r.ev.saddr, "\x7f\x00\x00\x01", 4);
	memcpy(r.ev.daddr, "\x7f\x00\x00", 3);
	r.ev.daddr[3] = host;
	r.ev.sport = 53;
	r.ev.dport = port;
	strcpy(r.ev.comm, "dnsmasq");
	memcpy(r.data, p, n);
	assert_int_equal(intake_event(in, &r, sizeof(r.ev) + n, 0), 0);
}

/* A query (id, "<c>.test" A) or its answer (A 10.0.0.<c>). */
static size_t dns_msg(uint8_t *b, uint16_t id, char c, bool answer)
{
	size_t n = 0;

	b[n++] = (uint8_t)(id >> 8);
	b[n++] = (uint8_t)id;
	b[n++] = answer ? 0x81 : 0x01;
	b[n++] = answer ? 0x80 : 0x00;
	memcpy(b + n,
	       answer ? "\x00\x01\x00\x01\x00\x00\x00\x00" : "\x00\x01\x00\x00\x00\x00\x00\x00", 8);
	n += 8;
	b[n++] = 1;
	b[n++] = (uint8_t)c;
	memcpy(b + n, "\x04test\x00\x00\x01\x00\x01", 10);
	n += 10;
	if (answer) {
		memcpy(b + n, "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x0a\x00\x00", 15);
		n += 15;
		b[n++] = (uint8_t)c;
	}
	return n;
}

/*
 * Three clients query one server socket, interleaved, two of them with the same
 * transaction id: each record carries its own client, and an answer pairs only with its
 * own client's query. The third gets no answer: its timeout carries its own port too.
 */
static void test_udp_server_socket_many_peers(void **unused)
{
	struct sink s = { 0 };
	struct intake *in = intake_create(&default_cfg, collect, &s);
	uint8_t b[128];
	size_t n;

	(void)unused;
	n = dns_msg(b, 0x1234, 'a', false);
	udp_event(in, FS_DIR_INGRESS, b, n, 1, 5001, 1000);
	n = dns_msg(b, 0x1234, 'b', false);
	udp_event(in, FS_DIR_INGRESS, b, n, 2, 5002, 2000);
	n = dns_msg(b, 0x0042, 'c', false);
	udp_event(in, FS_DIR_INGRESS, b, n, 3, 5003, 2500);
	n = dns_msg(b, 0x1234, 'b', true);
	udp_event(in, FS_DIR_EGRESS, b, n, 2, 5002, 3000);
	n = dns_msg(b, 0x1234, 'a', true);
	udp_event(in, FS_DIR_EGRESS, b, n, 1, 5001, 4000);
	assert_int_equal(s.n, 2);
	intake_flush_all(in, 10000);
	assert_int_equal(s.n, 3);
	for (int i = 0; i < 3; i++) {
		const struct l7_record *r = &s.recs[i];
		char c = i == 0 ? 'b' : i == 1 ? 'a' : 'c';
		char name[8] = { c, '.', 't', 'e', 's', 't', 0 };
		char ans[16];

		snprintf(ans, sizeof(ans), "A=10.0.0.%d", (int)(uint8_t)c);
		assert_int_equal(r->obs, REC_OBS_SERVER_PROCESS);
		assert_int_equal(r->l4_proto, 17);
		assert_int_equal(r->client_port, 5000 + (c - 'a' + 1));
		assert_int_equal(r->addr0[3], c - 'a' + 1);
		assert_memory_equal(r->addr1, "\x7f\x00\x00\x01", 4);
		assert_int_equal(r->server_port, 53);
		ASSERT_STR(r->resource, name);
		if (c == 'c') {
			assert_int_equal(r->type, REC_TYPE_REQUEST);
			continue;
		}
		assert_int_equal(r->type, REC_TYPE_SESSION);
		assert_int_equal(r->request_id, 0x1234);
		assert_int_equal(r->result.len >= strlen(ans), 1);
		assert_memory_equal(r->result.s, ans, strlen(ans));
	}
	intake_destroy(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_exchange),
		cmocka_unit_test(test_server_exchange_swaps_sides),
		cmocka_unit_test(test_header_split_over_events),
		cmocka_unit_test(test_body_larger_than_capture),
		cmocka_unit_test(test_pipelined_pairs_in_order),
		cmocka_unit_test(test_timeout_lone_response_close_exit),
		cmocka_unit_test(test_bounds_conns_pending_budget),
		cmocka_unit_test(test_budget_drop_resets_parser),
		cmocka_unit_test(test_malformed_and_unclassified),
		cmocka_unit_test(test_record_json),
		cmocka_unit_test(test_jsonw_escapes_and_utf8),
		cmocka_unit_test(test_record_addresses),
		cmocka_unit_test(test_trace_ids_from_first_syscall),
		cmocka_unit_test(test_redis_server_pipelined_reads),
		cmocka_unit_test(test_redis_server_read_beyond_capture),
		cmocka_unit_test(test_h2c_upgrade),
		cmocka_unit_test(test_h2c_upgrade_declined),
		cmocka_unit_test(test_upgrade_websocket_stays_opaque),
		cmocka_unit_test(test_lone_message_keeps_its_fields),
		cmocka_unit_test(test_udp_server_socket_many_peers),
	};

	return cmocka_run_group_tests_name("intake", tests, NULL, NULL);
}
