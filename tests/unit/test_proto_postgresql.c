/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the PostgreSQL parser. Fixtures are real messages (simple_query.pcap,
 * error.pcap, and a psql / pgbench session against PostgreSQL 15 recorded with tshark) and
 * messages built here from the protocol documentation. Every conversation is also replayed
 * cut at every offset and byte by byte (ph_check_splits).
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

#define EG PROTO_DIR_EGRESS
#define IN PROTO_DIR_INGRESS

static const struct proto_ctx client_ctx = { .l4_proto = 6, .role = PROTO_ROLE_CLIENT };
static const struct proto_ctx server_ctx = { .l4_proto = 6, .role = PROTO_ROLE_SERVER };
static const struct proto_ctx keep_ctx = { .l4_proto = 6,
					   .role = PROTO_ROLE_CLIENT,
					   .opts = PROTO_OPT_KEEP_VALUES };
static const struct proto_ctx unknown_ctx = { .l4_proto = 6 };

/* A tagged message whose body is the n bytes at body. */
static void mb_msg(struct ph_buf *b, char tag, const void *body, size_t n)
{
	uint32_t len = (uint32_t)n + 4;
	uint8_t h[5] = { (uint8_t)tag, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
			 (uint8_t)(len >> 8), (uint8_t)len };

	ph_buf_put(b, h, 5);
	ph_buf_put(b, body, n);
}

/* A body given as a C literal with embedded NULs: its size includes the final NUL. */
#define MB(b, tag, lit) mb_msg((b), (tag), (lit), sizeof(lit))
#define MB0(b, tag)	mb_msg((b), (tag), "", 0)

static void ready(struct ph_buf *b)
{
	mb_msg(b, 'Z', "I", 1);
}

static void datarow(struct ph_buf *b, size_t vlen)
{
	uint8_t *body = malloc(vlen + 6);

	assert_non_null(body);
	body[0] = 0;
	body[1] = 1;
	body[2] = (uint8_t)(vlen >> 24);
	body[3] = (uint8_t)(vlen >> 16);
	body[4] = (uint8_t)(vlen >> 8);
	body[5] = (uint8_t)vlen;
	memset(body + 6, 'v', vlen);
	mb_msg(b, 'D', body, vlen + 6);
	free(body);
}

#define NEV(a) (sizeof(a) / sizeof((a)[0]))

/* simple_query.pcap and error.pcap */
static void test_simple_and_error_captures(void **unused)
{
	static const char q1[] = "Q\x00\x00\x00\x17"
				 "delete  from test;";
	static const char r1[] = "C\x00\x00\x00\x0d"
				 "DELETE 1\x00Z\x00\x00\x00\x05I";
	static const char q2[] = "Q\x00\x00\x00\x0f"
				 "asdsdfdsf;";
	static const char r2[] = "E\x00\x00\x00\x61SERROR\x00VERROR\x00"
				 "C42601\x00Msyntax error at or near \"asdsdfdsf\"\x00P1\x00"
				 "Fscan.l\x00L1176\x00Rscanner_yyerror\x00\x00"
				 "Z\x00\x00\x00\x05I";
	struct ph_event evs[] = { PH_EVB(EG, q1, sizeof(q1)), PH_EV(IN, r1),
				  PH_EVB(EG, q2, sizeof(q2)), PH_EV(IN, r2) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_postgresql_ops, &client_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 4);
	assert_string_equal(c.msgs[0].method, "simple query");
	assert_string_equal(c.msgs[0].resource, "delete  from test;");
	assert_int_equal(c.msgs[0].m.length, 24);
	assert_int_equal(c.msgs[1].m.status, PROTO_STATUS_OK);
	assert_true(c.msgs[1].m.has_affected_rows);
	assert_int_equal(c.msgs[1].m.affected_rows, 1);
	assert_int_equal(c.msgs[1].m.length, 20);
	assert_int_equal(c.msgs[1].m.code, -1);
	assert_string_equal(c.msgs[2].resource, "asdsdfdsf;");
	assert_int_equal(c.msgs[3].m.status, PROTO_STATUS_CLIENT_ERROR);
	assert_string_equal(c.msgs[3].result, "42601");
	assert_string_equal(c.msgs[3].exception, "syntax error at or near \"asdsdfdsf\"");
	assert_false(c.msgs[3].m.has_affected_rows);
	assert_int_equal(c.msgs[3].m.length, 98 + 6);
	ph_free(&c);
	ph_check_splits(&proto_postgresql_ops, &client_ctx, evs, NEV(evs), true);
	/* seen by the server process, and with no role: the message types tell the sides */
	for (size_t i = 0; i < NEV(evs); i++)
		evs[i].dir = evs[i].dir == EG ? IN : EG;
	ph_run(&c, &proto_postgresql_ops, &server_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 4);
	assert_int_equal(c.msgs[0].m.dir, IN);
	ph_free(&c);
	ph_run(&c, &proto_postgresql_ops, &unknown_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 4);
	assert_int_equal(c.msgs[0].m.kind, PROTO_MSG_REQUEST);
	assert_string_equal(c.msgs[3].result, "42601");
	ph_free(&c);
}

/* SSLRequest refused, startup, authentication, parameters: nothing reported but the query. */
static void test_startup(void **unused)
{
	static const char ssl[] = "\x00\x00\x00\x08\x04\xd2\x16\x2f";
	static const char startup[] = "\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00"
				      "database\x00postgres\x00\x00";
	struct ph_buf srv = { 0 }, q = { 0 }, r = { 0 };
	struct ph_event evs[6];
	struct ph_conv c;
	uint8_t auth_ok[4] = { 0 };

	(void)unused;
	mb_msg(&srv, 'R', auth_ok, 4);
	MB(&srv, 'S',
	   "server_version\x00"
	   "15.14");
	mb_msg(&srv, 'K', "\x00\x00\x30\x39\x01\x02\x03\x04", 8);
	ready(&srv);
	MB(&q, 'Q', "select 1");
	MB(&r, 'T',
	   "\x00\x01?column?\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff"
	   "\xff\x00");
	datarow(&r, 1);
	MB(&r, 'C', "SELECT 1");
	ready(&r);
	evs[0] = PH_EVB(EG, ssl, 8);
	evs[1] = PH_EV(IN, "N");
	evs[2] = PH_EV(EG, startup);
	evs[3] = ph_buf_event(IN, &srv);
	evs[4] = ph_buf_event(EG, &q);
	evs[5] = ph_buf_event(IN, &r);
	ph_run(&c, &proto_postgresql_ops, &client_ctx, evs, 6, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	assert_string_equal(c.msgs[0].resource, "select ?");
	assert_int_equal(c.msgs[1].m.affected_rows, 1);
	assert_int_equal(c.msgs[1].m.length, r.n);
	assert_int_equal(c.st.parse_errors, 0);
	ph_free(&c);
	ph_check_splits(&proto_postgresql_ops, &client_ctx, evs, 6, true);
	/* the server accepts TLS: the rest is encrypted and not parsed */
	evs[1] = PH_EV(IN, "S");
	ph_run(&c, &proto_postgresql_ops, &client_ctx, evs, 6, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 0);
	ph_free(&c);
	ph_pool_free();
}

/* A refused login: the ErrorResponse is reported, no ReadyForQuery follows. */
static void test_auth_failure(void **unused)
{
	static const char startup[] = "\x00\x00\x00\x12\x00\x03\x00\x00user\x00"
				      "bob\x00\x00";
	struct ph_buf r = { 0 };
	struct ph_event evs[2];
	struct ph_conv c;

	(void)unused;
	MB(&r, 'E',
	   "SFATAL\x00VFATAL\x00"
	   "C28P01\x00Mpassword authentication failed for user \"bob\"\x00");
	evs[0] = PH_EV(EG, startup);
	evs[1] = ph_buf_event(IN, &r);
	ph_run(&c, &proto_postgresql_ops, &client_ctx, evs, 2, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 1);
	assert_int_equal(c.msgs[0].m.kind, PROTO_MSG_RESPONSE);
	assert_int_equal(c.msgs[0].m.status, PROTO_STATUS_SERVER_ERROR);
	assert_string_equal(c.msgs[0].result, "28P01");
	assert_string_equal(c.msgs[0].exception, "password authentication failed for user \"bob\"");
	ph_free(&c);
	ph_check_splits(&proto_postgresql_ops, &client_ctx, evs, 2, true);
	ph_pool_free();
}

/* pgbench -M prepared: Parse of a named statement, then Bind/Describe/Execute/Sync. */
static void test_extended_prepared(void **unused)
{
	struct ph_buf prep = { 0 }, prep_r = { 0 }, ex = { 0 }, ex_r = { 0 }, ex2 = { 0 },
		      ex2_r = { 0 };
	struct ph_buf cl = { 0 }, cl_r = { 0 }, ex3 = { 0 }, ex3_r = { 0 };
	struct ph_event evs[8];
	struct ph_conv c;

	(void)unused;
	MB(&prep, 'P', "P_0\x00SELECT abalance FROM pgbench_accounts WHERE aid = $1;\x00\x00\x00");
	MB0(&prep, 'S');
	MB0(&prep_r, '1');
	ready(&prep_r);
	MB(&ex, 'B',
	   "\x00P_0\x00\x00\x01\x00\x01\x00\x01\x00\x00\x00\x04\x00\x00\x00\x07\x00\x01"
	   "\x00\x01");
	MB(&ex, 'D', "P");
	MB(&ex, 'E', "\x00\x00\x00\x00");
	MB0(&ex, 'S');
	MB0(&ex_r, '2');
	MB(&ex_r, 'T',
	   "\x00\x01"
	   "abalance\x00\x00\x00\x40\x00\x00\x03\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff"
	   "\x00");
	datarow(&ex_r, 4);
	MB(&ex_r, 'C', "SELECT 1");
	ready(&ex_r);
	/* a second execution, and an unnamed statement with literals */
	ph_buf_put(&ex2, ex.p, ex.n);
	MB(&ex2, 'P', "\x00UPDATE t SET v = 'secret' WHERE id = 42\x00\x00\x00");
	MB(&ex2, 'B', "\x00\x00\x00\x00\x00\x00\x00\x00");
	MB(&ex2, 'E', "\x00\x00\x00\x00");
	MB0(&ex2, 'S');
	ph_buf_put(&ex2_r, ex_r.p, ex_r.n);
	MB0(&ex2_r, '1');
	MB0(&ex2_r, '2');
	MB(&ex2_r, 'C', "UPDATE 5");
	ready(&ex2_r);
	/* the statement is closed: a later Bind of it has no SQL */
	MB(&cl, 'C', "SP_0");
	MB0(&cl, 'S');
	MB0(&cl_r, '3');
	ready(&cl_r);
	ph_buf_put(&ex3, ex.p, ex.n);
	MB(&ex3_r, 'E',
	   "SERROR\x00VERROR\x00"
	   "C26000\x00Mprepared statement \"P_0\" does not exist\x00");
	ready(&ex3_r);
	evs[0] = ph_buf_event(EG, &prep);
	evs[1] = ph_buf_event(IN, &prep_r);
	evs[2] = ph_buf_event(EG, &ex);
	evs[3] = ph_buf_event(IN, &ex_r);
	evs[4] = ph_buf_event(EG, &ex2); /* two Syncs pipelined: two requests */
	evs[5] = ph_buf_event(IN, &ex2_r);
	evs[6] = ph_buf_event(EG, &cl);
	evs[7] = ph_buf_event(IN, &cl_r);
	ph_run(&c, &proto_postgresql_ops, &client_ctx, evs, 8, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 10);
	assert_string_equal(c.msgs[0].method, "parse");
	assert_string_equal(c.msgs[0].resource,
			    "SELECT abalance FROM pgbench_accounts WHERE aid = $1;");
	assert_false(c.msgs[1].m.has_affected_rows);
	assert_int_equal(c.msgs[1].m.length, prep_r.n);
	assert_string_equal(c.msgs[2].method, "execute");
	assert_string_equal(c.msgs[2].resource,
			    "SELECT abalance FROM pgbench_accounts WHERE aid = $1;");
	assert_int_equal(c.msgs[2].m.length, ex.n);
	assert_int_equal(c.msgs[3].m.affected_rows, 1);
	assert_int_equal(c.msgs[3].m.length, ex_r.n);
	assert_string_equal(c.msgs[4].method, "execute");
	assert_string_equal(c.msgs[5].method, "parse");
	assert_string_equal(c.msgs[5].resource, "UPDATE t SET v = ? WHERE id = ?");
	assert_int_equal(c.msgs[6].m.kind, PROTO_MSG_RESPONSE);
	assert_int_equal(c.msgs[6].m.affected_rows, 1);
	assert_int_equal(c.msgs[7].m.affected_rows, 5);
	assert_string_equal(c.msgs[8].method, "close");
	ph_free(&c);
	ph_check_splits(&proto_postgresql_ops, &client_ctx, evs, 8, true);
	/* the closed statement: Bind finds nothing, the error answers */
	{
		struct ph_event e2[] = { evs[0],
					 evs[1],
					 evs[6],
					 evs[7],
					 ph_buf_event(EG, &ex3),
					 ph_buf_event(IN, &ex3_r) };

		ph_run(&c, &proto_postgresql_ops, &client_ctx, e2, NEV(e2), PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 6);
		assert_null(c.msgs[4].resource);
		assert_string_equal(c.msgs[5].result, "26000");
		assert_int_equal(c.msgs[5].m.status, PROTO_STATUS_CLIENT_ERROR);
		ph_free(&c);
	}
	ph_run(&c, &proto_postgresql_ops, &keep_ctx, evs, 6, PH_WHOLE, true);
	assert_string_equal(c.msgs[5].resource, "UPDATE t SET v = 'secret' WHERE id = 42");
	ph_free(&c);
	ph_pool_free();
}

/* Large DataRow streams, notices and notifications, COPY, and gaps. */
static void test_streams_notices_copy_gaps(void **unused)
{
	struct ph_buf q = { 0 }, r = { 0 }, q2 = { 0 }, r2 = { 0 }, cp = { 0 }, cp_r1 = { 0 };
	struct ph_buf cp_d = { 0 }, cp_r2 = { 0 }, q3 = { 0 }, r3 = { 0 }, ntf = { 0 };
	struct ph_event evs[12];
	struct ph_conv c;
	size_t n = 0;

	(void)unused;
	MB(&q, 'Q', "select v from big");
	MB(&r, 'T',
	   "\x00\x01v\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00"
	   "\x00");
	MB(&r, 'N',
	   "SNOTICE\x00VNOTICE\x00"
	   "C00000\x00Mhello\x00");
	/* 80 KB of rows: more than the intake keeps (64 KiB), few enough for every cut */
	for (int i = 0; i < 20; i++)
		datarow(&r, 4000);
	MB(&r, 'C', "SELECT 200");
	ready(&r);
	MB(&q2, 'Q', "select 2");
	MB(&r2, 'T',
	   "\x00\x01v\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00"
	   "\x00");
	for (int i = 0; i < 5; i++)
		datarow(&r2, 2000);
	MB(&r2, 'C', "SELECT 5");
	ready(&r2);
	MB(&cp, 'Q', "COPY t FROM STDIN");
	MB(&cp_r1, 'G', "\x00\x00\x00");
	MB(&cp_d, 'd', "1\tx\n");
	MB(&cp_d, 'd', "2\ty\n");
	MB0(&cp_d, 'c');
	MB(&cp_r2, 'C', "COPY 2");
	ready(&cp_r2);
	MB(&ntf, 'A',
	   "\x00\x00\x00\x01"
	   "chan\x00payload");
	MB(&q3, 'Q', "select 3");
	MB(&r3, 'C', "SELECT 0");
	ready(&r3);
	evs[n++] = ph_buf_event(EG, &q);
	evs[n++] = ph_buf_event(IN, &r);
	evs[n++] = ph_buf_event(EG, &q2);
	/* captured 1024 bytes: the gap swallows rows and the end of the answer */
	evs[n] = PH_EVB(IN, r2.p, 1024);
	evs[n++].gap = r2.n - 1024;
	evs[n++] = ph_buf_event(EG, &cp);
	evs[n++] = ph_buf_event(IN, &cp_r1);
	evs[n++] = ph_buf_event(EG, &cp_d);
	evs[n++] = ph_buf_event(IN, &cp_r2);
	evs[n++] = ph_buf_event(IN, &ntf);
	evs[n++] = ph_buf_event(EG, &q3);
	evs[n++] = ph_buf_event(IN, &r3);
	ph_keep(r2.p);
	ph_run(&c, &proto_postgresql_ops, &client_ctx, evs, n, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 8);
	assert_int_equal(c.msgs[1].m.length, r.n);
	assert_int_equal(c.msgs[1].m.affected_rows, 200);
	assert_int_equal(c.msgs[1].m.flags, 0);
	assert_true(c.msgs[3].m.flags & PROTO_MSG_F_LEN_GUESSED);
	assert_int_equal(c.msgs[3].m.length, r2.n);
	assert_string_equal(c.msgs[4].resource, "COPY t FROM STDIN");
	assert_int_equal(c.msgs[5].m.affected_rows, 2);
	assert_int_equal(c.msgs[5].m.length, cp_r1.n + cp_r2.n);
	assert_string_equal(c.msgs[6].resource, "select ?");
	assert_int_equal(c.msgs[7].m.affected_rows, 0);
	assert_true(c.msgs[7].m.has_affected_rows);
	ph_free(&c);
	ph_check_splits(&proto_postgresql_ops, &client_ctx, evs, n, true);
	/* nothing is held back: the huge answer passes byte by byte */
	ph_run(&c, &proto_postgresql_ops, &client_ctx, evs, 2, PH_BYTES, true);
	assert_int_equal(c.nmsgs, 2);
	assert_int_equal(c.side[1].len, 0);
	ph_free(&c);
	ph_pool_free();
}

static void test_garbage(void **unused)
{
	struct ph_buf q = { 0 }, r = { 0 };
	struct ph_event evs[3];
	struct ph_conv c;

	(void)unused;
	MB(&q, 'Q', "select 1");
	MB(&r, 'C', "SELECT 1");
	ready(&r);
	evs[0] = PH_EV(EG, "\x01\x02\x03\x04\x05\x06garbage");
	evs[1] = ph_buf_event(EG, &q);
	evs[2] = ph_buf_event(IN, &r);
	ph_run(&c, &proto_postgresql_ops, &client_ctx, evs, 3, PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 1);
	assert_int_equal(c.nmsgs, 2);
	assert_string_equal(c.msgs[0].resource, "select ?");
	ph_free(&c);
	ph_pool_free();
}

static void test_detect(void **unused)
{
	const struct proto_ops *o = &proto_postgresql_ops;
	const struct proto_ctx port = { .l4_proto = 6, .server_port = 5432 };
	const struct proto_ctx other = { .l4_proto = 6, .server_port = 8000 };
	static const uint8_t ssl[] = "\x00\x00\x00\x08\x04\xd2\x16\x2f";
	static const uint8_t startup[] = "\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00";
	static const uint8_t q[] = "Q\x00\x00\x00\x0dselect 1\x00";
	static const uint8_t qx[] = "Q\x00\x00\x00\x0f"
				    "asdsdfdsf;\x00";
	static const uint8_t parse[] = "P\x00\x00\x00\x10\x00select 1\x00\x00\x00";
	static const uint8_t auth[] = "R\x00\x00\x00\x08\x00\x00\x00\x00";
	static const uint8_t cc[] = "C\x00\x00\x00\x0dSELECT 1\x00";
	static const uint8_t http[] = "POST / HTTP/1.1\r\n\r\n";
	static const uint8_t mysql[] = "\x0f\x00\x00\x00\x03SELECT * FROM t";

	(void)unused;
	assert_int_equal(o->detect(ssl, 8, EG, &other), PROTO_DETECT_YES);
	assert_int_equal(o->detect(startup, sizeof(startup) - 1, EG, &other), PROTO_DETECT_YES);
	assert_int_equal(o->detect(q, sizeof(q) - 1, EG, &other), PROTO_DETECT_YES);
	assert_int_equal(o->detect(qx, sizeof(qx) - 1, EG, &other), PROTO_DETECT_MAYBE);
	assert_int_equal(o->detect(parse, sizeof(parse) - 1, EG, &other), PROTO_DETECT_YES);
	assert_int_equal(o->detect(auth, sizeof(auth) - 1, IN, &other), PROTO_DETECT_MAYBE);
	assert_int_equal(o->detect(auth, sizeof(auth) - 1, IN, &port), PROTO_DETECT_YES);
	assert_int_equal(o->detect(cc, sizeof(cc) - 1, IN, &port), PROTO_DETECT_MAYBE);
	assert_int_equal(o->detect(cc, sizeof(cc) - 1, IN, &other), PROTO_DETECT_NO);
	assert_int_equal(o->detect(http, sizeof(http) - 1, EG, &port), PROTO_DETECT_NO);
	assert_int_equal(o->detect(mysql, sizeof(mysql) - 1, EG, &port), PROTO_DETECT_NO);
	assert_int_equal(o->detect(NULL, 0, EG, NULL), PROTO_DETECT_NO);
	/* the other SQL parser does not take PostgreSQL's bytes */
	assert_int_equal(proto_mysql_ops.detect(startup, sizeof(startup) - 1, EG, &other),
			 PROTO_DETECT_NO);
	assert_int_equal(proto_mysql_ops.detect(q, sizeof(q) - 1, EG, &other), PROTO_DETECT_NO);
	ph_check_registered(o, PROTO_POSTGRESQL, "PostgreSQL");
}

static void test_bad_arguments(void **unused)
{
	(void)unused;
	ph_check_bad_args(&proto_postgresql_ops);
	ph_check_null_args(&proto_postgresql_ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_and_error_captures),
		cmocka_unit_test(test_startup),
		cmocka_unit_test(test_auth_failure),
		cmocka_unit_test(test_extended_prepared),
		cmocka_unit_test(test_streams_notices_copy_gaps),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
