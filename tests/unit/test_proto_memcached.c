/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the Memcached parser: the reference capture's exchange (memcached.pcap),
 * the text commands and their replies pipelined, noreply, meta commands, the binary
 * protocol (pairing by opaque, quiet opcodes, statuses), privacy of values, a large value
 * streamed through, gaps, garbage and resync, detection; every fixture is also replayed
 * cut at every offset and byte by byte.
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

#define EG   PROTO_DIR_EGRESS
#define IN   PROTO_DIR_INGRESS
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct proto_ctx cli = { .l4_proto = 6,
				      .role = PROTO_ROLE_CLIENT,
				      .server_port = 11211 };
static const struct proto_ctx cli_keep = { .l4_proto = 6,
					   .role = PROTO_ROLE_CLIENT,
					   .server_port = 11211,
					   .opts = PROTO_OPT_KEEP_VALUES };
static const struct proto_ctx srv = { .l4_proto = 6,
				      .role = PROTO_ROLE_SERVER,
				      .server_port = 11211 };

static void expect_req(const struct ph_conv *c, size_t i, const char *type, const char *res,
		       uint32_t flags)
{
	const struct ph_msg *m;

	if (i >= c->nmsgs)
		fail_msg("message %zu missing (%zu)", i, c->nmsgs);
	m = &c->msgs[i];
	assert_int_equal(m->m.kind, PROTO_MSG_REQUEST);
	assert_string_equal(m->method, type);
	if (res)
		assert_string_equal(m->resource, res);
	else
		assert_null(m->resource);
	assert_int_equal(m->m.flags, flags);
	assert_int_equal(m->m.code, -1);
}

static void expect_resp(const struct ph_conv *c, size_t i, uint8_t status, const char *result,
			const char *exc)
{
	const struct ph_msg *m;

	if (i >= c->nmsgs)
		fail_msg("message %zu missing (%zu)", i, c->nmsgs);
	m = &c->msgs[i];
	assert_int_equal(m->m.kind, PROTO_MSG_RESPONSE);
	assert_int_equal(m->m.status, status);
	if (result)
		assert_string_equal(m->result, result);
	else
		assert_null(m->result);
	if (exc)
		assert_string_equal(m->exception, exc);
	else
		assert_null(m->exception);
}

/* memcached.pcap: set split from its data, get, quit. */
static void test_capture(void **unused)
{
	const struct ph_event evs[] = {
		PH_EV(EG, "set foo 0 0 3\r\n"),
		PH_EV(EG, "bar\r\n"),
		PH_EV(IN, "STORED\r\n"),
		PH_EV(EG, "get foo\r\n"),
		PH_EV(IN, "VALUE foo 0 3\r\nbar\r\nEND\r\n"),
		PH_EV(EG, "quit\r\n"),
	};
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_memcached_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 5);
	expect_req(&c, 0, "set", "foo", 0);
	assert_int_equal(c.msgs[0].m.length, 20);
	assert_int_equal(c.msgs[0].m.start_ts, PH_TS_START(0));
	assert_int_equal(c.msgs[0].m.end_ts, PH_TS_END(1));
	assert_int_equal(c.msgs[0].m.tcp_seq, PH_SEQ_EGRESS);
	expect_resp(&c, 1, PROTO_STATUS_OK, "STORED", NULL);
	expect_req(&c, 2, "get", "foo", 0);
	expect_resp(&c, 3, PROTO_STATUS_OK, "VALUE foo 0 3", NULL);
	assert_int_equal(c.msgs[3].m.length, 25);
	expect_req(&c, 4, "quit", NULL, PROTO_MSG_F_NO_RESPONSE);
	for (size_t i = 0; i < c.nmsgs; i++)
		assert_false(c.msgs[i].m.has_session_id);
	ph_free(&c);
	ph_check_splits(&proto_memcached_ops, &cli, evs, N(evs), true);
	/* values kept: the command line, as DeepFlow shows it */
	ph_run(&c, &proto_memcached_ops, &cli_keep, evs, N(evs), PH_WHOLE, true);
	expect_req(&c, 0, "set", "set foo 0 0 3", 0);
	expect_req(&c, 2, "get", "get foo", 0);
	ph_free(&c);
}

#define PIPE_REQ                                                                                   \
	"add k1 1 0 2\r\nv1\r\nreplace nope 0 0 1\r\nx\r\nappend k1 0 0 1 noreply\r\nz\r\n"        \
	"cas k1 0 0 2 99\r\nv2\r\ngets k1 k2 k3\r\nincr n 5\r\ndecr k1 1\r\ndelete k1\r\n"         \
	"touch k1 10\r\ngat 100 k1 k2\r\nflush_all\r\nversion\r\nstats\r\nbogus\r\n"               \
	"set big 0 0 999999999999\r\nprepend k1 0 0 1\r\nx\r\n"
#define PIPE_RESP                                                                                  \
	"STORED\r\nNOT_STORED\r\nEXISTS\r\nVALUE k1 0 3 7\r\nv1z\r\nVALUE k3 0 1 "                 \
	"8\r\nq\r\nEND\r\n"                                                                        \
	"15\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nDELETED\r\n"        \
	"NOT_FOUND\r\nEND\r\nOK\r\nVERSION 1.6.18\r\nSTAT pid 1\r\nSTAT uptime 5\r\nEND\r\n"       \
	"ERROR\r\nSERVER_ERROR object too large for cache\r\n"

static void test_pipeline(void **unused)
{
	const struct ph_event evs[] = { PH_EV(EG, PIPE_REQ), PH_EV(IN, PIPE_RESP) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_memcached_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 1); /* "bogus" is no command */
	assert_int_equal(c.nmsgs, 27);
	expect_req(&c, 0, "add", "k1", 0);
	expect_req(&c, 1, "replace", "nope", 0);
	expect_req(&c, 2, "append", "k1", PROTO_MSG_F_NO_RESPONSE);
	expect_req(&c, 3, "cas", "k1", 0);
	expect_req(&c, 4, "gets", "k1 k2 k3", 0);
	expect_req(&c, 5, "incr", "n", 0);
	expect_req(&c, 6, "decr", "k1", 0);
	expect_req(&c, 7, "delete", "k1", 0);
	expect_req(&c, 8, "touch", "k1", 0);
	expect_req(&c, 9, "gat", "k1 k2", 0);
	expect_req(&c, 10, "flush_all", NULL, 0);
	expect_req(&c, 11, "version", NULL, 0);
	expect_req(&c, 12, "stats", NULL, 0);
	expect_resp(&c, 13, PROTO_STATUS_OK, "STORED", NULL);
	expect_resp(&c, 14, PROTO_STATUS_OK, "NOT_STORED", NULL);
	expect_resp(&c, 15, PROTO_STATUS_OK, "EXISTS", NULL);
	expect_resp(&c, 16, PROTO_STATUS_OK, "VALUE k1 0 3 7", NULL);
	assert_int_equal(c.msgs[16].m.length, 16 + 5 + 16 + 3 + 5);
	expect_resp(&c, 17, PROTO_STATUS_OK, "15", NULL);
	expect_resp(&c, 18, PROTO_STATUS_CLIENT_ERROR, NULL,
		    "CLIENT_ERROR cannot increment or decrement non-numeric value");
	expect_resp(&c, 19, PROTO_STATUS_OK, "DELETED", NULL);
	expect_resp(&c, 20, PROTO_STATUS_OK, "NOT_FOUND", NULL);
	expect_resp(&c, 21, PROTO_STATUS_OK, "END", NULL);
	expect_resp(&c, 22, PROTO_STATUS_OK, "OK", NULL);
	expect_resp(&c, 23, PROTO_STATUS_OK, "VERSION 1.6.18", NULL);
	expect_resp(&c, 24, PROTO_STATUS_OK, "STAT pid 1", NULL);
	expect_resp(&c, 25, PROTO_STATUS_CLIENT_ERROR, NULL, "ERROR");
	expect_resp(&c, 26, PROTO_STATUS_SERVER_ERROR, NULL,
		    "SERVER_ERROR object too large for cache");
	ph_free(&c);
	/* seen from the server */
	{
		const struct ph_event sevs[] = { PH_EV(IN, PIPE_REQ), PH_EV(EG, PIPE_RESP) };

		ph_run(&c, &proto_memcached_ops, &srv, sevs, N(sevs), PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 27);
		expect_req(&c, 0, "add", "k1", 0);
		assert_int_equal(c.msgs[0].m.dir, IN);
		ph_free(&c);
	}
}

static void test_pipeline_splits(void **unused)
{
	static const char req[] =
		"set a 0 0 2\r\nv1\r\nget a b\r\ndelete a noreply\r\nincr n 1\r\n";
	static const char resp[] = "STORED\r\nVALUE a 0 2\r\nv1\r\nEND\r\n2\r\n";
	const struct ph_event evs[] = { PH_EV(EG, req), PH_EV(IN, resp) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_memcached_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 7);
	expect_req(&c, 2, "delete", "a", PROTO_MSG_F_NO_RESPONSE);
	expect_resp(&c, 6, PROTO_STATUS_OK, "2", NULL);
	ph_free(&c);
	ph_check_splits(&proto_memcached_ops, &cli, evs, N(evs), true);
}

/* Meta commands: ms with data, mg answered by VA with data, the q flag, mn. */
static void test_meta(void **unused)
{
	const struct ph_event evs[] = {
		PH_EV(EG, "ms mk 2 T0\r\nhi\r\nmg mk v\r\nmg gone v q\r\nmn\r\n"),
		PH_EV(IN, "HD\r\nVA 2\r\nhi\r\nMN\r\n"),
	};
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_memcached_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 7);
	expect_req(&c, 0, "ms", "mk", 0);
	expect_req(&c, 1, "mg", "mk", 0);
	expect_req(&c, 2, "mg", "gone", PROTO_MSG_F_NO_RESPONSE);
	expect_req(&c, 3, "mn", NULL, 0);
	expect_resp(&c, 4, PROTO_STATUS_OK, "HD", NULL);
	expect_resp(&c, 5, PROTO_STATUS_OK, "VA 2", NULL);
	expect_resp(&c, 6, PROTO_STATUS_OK, "MN", NULL);
	ph_free(&c);
	ph_check_splits(&proto_memcached_ops, &cli, evs, N(evs), true);
}

/* Binary: set, get (hit), getq (miss: no response), delete of a missing key, a bad incr. */
static const uint8_t bin_req[] = {
	/* set "k" = "vv", flags 0, exptime 0, opaque 0x11 */
	0x80,
	0x01,
	0x00,
	0x01,
	0x08,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x0b,
	0x00,
	0x00,
	0x00,
	0x11,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	'k',
	'v',
	'v',
	/* get "k", opaque 0x12 */
	0x80,
	0x00,
	0x00,
	0x01,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x01,
	0x00,
	0x00,
	0x00,
	0x12,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	'k',
	/* getq "x", opaque 0x13 */
	0x80,
	0x09,
	0x00,
	0x01,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x01,
	0x00,
	0x00,
	0x00,
	0x13,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	'x',
	/* delete "zz", opaque 0x14 */
	0x80,
	0x04,
	0x00,
	0x02,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x02,
	0x00,
	0x00,
	0x00,
	0x14,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	'z',
	'z',
	/* noop, opaque 0x15 */
	0x80,
	0x0a,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x15,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
};
static const uint8_t bin_resp[] = {
	/* set: ok, cas 1 */
	0x81,
	0x01,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x11,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	1,
	/* get: ok, extras 4 (flags), value "vv" */
	0x81,
	0x00,
	0x00,
	0x00,
	0x04,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x06,
	0x00,
	0x00,
	0x00,
	0x12,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	1,
	0,
	0,
	0,
	0,
	'v',
	'v',
	/* delete: not found, "Not found" */
	0x81,
	0x04,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x01,
	0x00,
	0x00,
	0x00,
	0x09,
	0x00,
	0x00,
	0x00,
	0x14,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	'N',
	'o',
	't',
	' ',
	'f',
	'o',
	'u',
	'n',
	'd',
	/* noop: unknown command (as a server without it would say) */
	0x81,
	0x0a,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x81,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x00,
	0x15,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
};

static void test_binary(void **unused)
{
	const struct ph_event evs[] = { PH_EVB(EG, bin_req, sizeof(bin_req)),
					PH_EVB(IN, bin_resp, sizeof(bin_resp)) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_memcached_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 9);
	expect_req(&c, 0, "set", "k", 0);
	assert_int_equal(c.msgs[0].m.length, 35);
	assert_true(c.msgs[0].m.has_request_id && c.msgs[0].m.has_session_id);
	assert_int_equal(c.msgs[0].m.request_id, 0x11);
	assert_int_equal(c.msgs[0].m.session_id, 0x11);
	expect_req(&c, 1, "get", "k", 0);
	expect_req(&c, 2, "getq", "x", PROTO_MSG_F_NO_RESPONSE);
	expect_req(&c, 3, "delete", "zz", 0);
	expect_req(&c, 4, "noop", NULL, 0);
	expect_resp(&c, 5, PROTO_STATUS_OK, NULL, NULL);
	assert_int_equal(c.msgs[5].m.session_id, 0x11);
	expect_resp(&c, 6, PROTO_STATUS_OK, NULL, NULL);
	assert_int_equal(c.msgs[6].m.length, 30);
	expect_resp(&c, 7, PROTO_STATUS_OK, "NOT_FOUND", NULL);
	assert_int_equal(c.msgs[7].m.session_id, 0x14);
	expect_resp(&c, 8, PROTO_STATUS_CLIENT_ERROR, NULL, "Unknown command");
	ph_free(&c);
	ph_check_splits(&proto_memcached_ops, &cli, evs, N(evs), true);
}

/* A 1 MB value streams through; a gap inside it counts against it. */
static void test_big_value(void **unused)
{
	size_t vlen = 1000000, n;
	char *msg = malloc(vlen + 64);
	struct ph_conv c;

	(void)unused;
	assert_non_null(msg);
	n = (size_t)sprintf(msg, "set big 0 0 %zu\r\n", vlen);
	memset(msg + n, 'x', vlen);
	n += vlen;
	memcpy(msg + n, "\r\n", 2);
	n += 2;
	{
		struct ph_event evs[2] = { PH_EVB(EG, msg, n), PH_EV(IN, "STORED\r\n") };

		ph_init(&c, &proto_memcached_ops, &cli);
		for (size_t off = 0; off < n; off += 65536) {
			size_t k = n - off < 65536 ? n - off : 65536;

			ph_feed(&c, EG, (const uint8_t *)msg + off, k, 0, 10, 11,
				100 + (uint32_t)off);
			assert_true(c.side[EG].len < 4096);
		}
		assert_int_equal(c.nmsgs, 1);
		assert_int_equal(c.msgs[0].m.length, n);
		ph_free(&c);
		evs[0] = (struct ph_event){ EG, (const uint8_t *)msg, 1000, n - 1000 };
		ph_run(&c, &proto_memcached_ops, &cli, evs, 2, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 2);
		expect_req(&c, 0, "set", "big", 0);
		assert_int_equal(c.msgs[0].m.length, n);
		expect_resp(&c, 1, PROTO_STATUS_OK, "STORED", NULL);
		ph_free(&c);
	}
	free(msg);
}

static void test_garbage_and_gaps(void **unused)
{
	struct ph_event evs[] = {
		PH_EV(EG, "set a 0 0 x\r\n"),	  /* not a number */
		PH_EV(EG, "junk"),		  /* skipped while resynchronising */
		PH_EV(EG, "get a\r\n"),		  /* resync */
		PH_EV(IN, "WHAT\r\n"),		  /* no such reply */
		PH_EV(IN, "END\r\n"),		  /* resync */
		PH_EV(EG, "set b 0 0 2\r\nabXX"), /* no CRLF after the data */
		PH_EV(EG, "get b"),		  /* a gap cuts the line */
		PH_EV(EG, "version\r\n"),
		PH_EV(IN, "VERSION 1.6.18\r\n"),
	};
	struct ph_conv c;

	(void)unused;
	evs[6].gap = 20;
	ph_run(&c, &proto_memcached_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 3);
	assert_int_equal(c.nmsgs, 4);
	expect_req(&c, 0, "get", "a", 0);
	expect_resp(&c, 1, PROTO_STATUS_OK, "END", NULL);
	expect_req(&c, 2, "version", NULL, 0);
	expect_resp(&c, 3, PROTO_STATUS_OK, "VERSION 1.6.18", NULL);
	ph_free(&c);
}

static void test_detect(void **unused)
{
	const struct proto_ctx other = { .l4_proto = 6,
					 .role = PROTO_ROLE_CLIENT,
					 .server_port = 9000 };
	const struct proto_ctx redis = { .l4_proto = 6,
					 .role = PROTO_ROLE_CLIENT,
					 .server_port = 6379 };
	const struct proto_ctx udp = { .l4_proto = 17, .server_port = 11211 };
	const struct {
		const char *s;
		size_t n;
		const struct proto_ctx *ctx;
		enum proto_dir dir;
		enum proto_detect want;
	} cases[] = {
		{ "set foo 0 0 3\r\n", 15, &other, EG, PROTO_DETECT_YES },
		{ "set foo 0 0 3\r\nbar\r\n", 20, &other, EG, PROTO_DETECT_YES },
		{ "set foo 0 0 3\r\nbarXX", 20, &other, EG, PROTO_DETECT_NO },
		{ "set foo 0 0 3\r\n", 15, &other, IN, PROTO_DETECT_NO },
		{ "set foo 0 0 3\r\n", 15, &srv, IN, PROTO_DETECT_YES },
		{ "set foo 0 0 3\r\n", 15, &udp, EG, PROTO_DETECT_NO },
		{ "set foo bar 0 3\r\n", 17, &other, EG, PROTO_DETECT_NO },
		{ "get foo\r\n", 9, &other, EG, PROTO_DETECT_YES },
		{ "get foo\r\n", 9, &redis, EG, PROTO_DETECT_MAYBE },
		{ "get foo\r\nget", 12, &other, EG, PROTO_DETECT_NO },
		{ "version\r\n", 9, &cli, EG, PROTO_DETECT_MAYBE },
		{ "version\r\n", 9, &other, EG, PROTO_DETECT_NO },
		{ "GET / HTTP/1.1\r\n", 16, &other, EG, PROTO_DETECT_NO },
		{ "get / HTTP/1.1\r\n", 16, &other, EG, PROTO_DETECT_NO },
		{ "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", 19, &other, EG, PROTO_DETECT_NO },
		{ "PUB foo 5\r\nhello\r\n", 18, &other, EG, PROTO_DETECT_NO },
		{ (const char *)bin_req, 35, &other, EG, PROTO_DETECT_YES },
		{ (const char *)bin_req, 30, &other, EG, PROTO_DETECT_NO },
		{ (const char *)bin_req, 30, &cli, EG, PROTO_DETECT_MAYBE },
		{ (const char *)bin_resp, 24, &cli, EG, PROTO_DETECT_NO },
		{ "", 0, &cli, EG, PROTO_DETECT_NO },
	};

	(void)unused;
	for (size_t i = 0; i < N(cases); i++) {
		enum proto_detect got = proto_memcached_ops.detect(
			(const uint8_t *)cases[i].s, cases[i].n, cases[i].dir, cases[i].ctx);

		if (got != cases[i].want)
			fail_msg("detect case %zu = %d, want %d", i, got, cases[i].want);
	}
}

static void test_registry(void **unused)
{
	(void)unused;
	assert_ptr_equal(proto_by_id(PROTO_MEMCACHED), &proto_memcached_ops);
	assert_string_equal(proto_name(PROTO_MEMCACHED), "Memcached");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture),		 cmocka_unit_test(test_pipeline),
		cmocka_unit_test(test_pipeline_splits),	 cmocka_unit_test(test_meta),
		cmocka_unit_test(test_binary),		 cmocka_unit_test(test_big_value),
		cmocka_unit_test(test_garbage_and_gaps), cmocka_unit_test(test_detect),
		cmocka_unit_test(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
