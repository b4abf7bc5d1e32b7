/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the Redis parser: messages as redis-cli / redis-server exchange them
 * (one taken from the reference capture redis.pcap), RESP3 types, pipelining, pub/sub
 * pushes, privacy of values, big values streamed through, gaps, garbage and resync,
 * detection; every fixture is also replayed cut at every offset and byte by byte.
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
				      .server_port = 6379 };
static const struct proto_ctx cli_keep = {
	.l4_proto = 6, .role = PROTO_ROLE_CLIENT, .server_port = 6379, .opts = PROTO_OPT_KEEP_VALUES
};
static const struct proto_ctx srv = { .l4_proto = 6,
				      .role = PROTO_ROLE_SERVER,
				      .server_port = 6379 };

static void expect_req(const struct ph_conv *c, size_t i, const char *type, const char *res)
{
	const struct ph_msg *m = &c->msgs[i];

	assert_true(i < c->nmsgs);
	assert_int_equal(m->m.kind, PROTO_MSG_REQUEST);
	assert_int_equal(m->m.code, -1);
	assert_string_equal(m->method, type);
	assert_string_equal(m->resource, res);
}

static void expect_resp(const struct ph_conv *c, size_t i, uint8_t status, const char *exc,
			const char *result, uint32_t flags)
{
	const struct ph_msg *m = &c->msgs[i];

	assert_true(i < c->nmsgs);
	assert_int_equal(m->m.kind, PROTO_MSG_RESPONSE);
	assert_int_equal(m->m.status, status);
	assert_int_equal(m->m.code, -1);
	assert_int_equal(m->m.flags, flags);
	if (exc)
		assert_string_equal(m->exception, exc);
	else
		assert_null(m->exception);
	if (result)
		assert_string_equal(m->result, result);
	else
		assert_null(m->result);
}

/* redis.pcap: GET user_conf_config_1 and EXISTS verify_code (value shortened). */
static void test_capture_get_exists(void **unused)
{
	static const char req[] = "*2\r\n$3\r\nGET\r\n$18\r\nuser_conf_config_1\r\n";
	static const char resp[] = "$25\r\n{\"sso\": {\"sso_link\": \"\"}}\r\n";
	static const char req2[] = "*2\r\n$6\r\nEXISTS\r\n$11\r\nverify_code\r\n";
	static const char resp2[] = ":1\r\n";
	const struct ph_event evs[] = { PH_EV(EG, req), PH_EV(IN, resp), PH_EV(EG, req2),
					PH_EV(IN, resp2) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_redis_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 4);
	expect_req(&c, 0, "GET", "GET user_conf_config_1");
	assert_int_equal(c.msgs[0].m.length, 38); /* as DeepFlow's request byte count */
	assert_int_equal(c.msgs[0].m.tcp_seq, PH_SEQ_EGRESS);
	assert_int_equal(c.msgs[0].m.start_ts, PH_TS_START(0));
	assert_int_equal(c.msgs[0].m.end_ts, PH_TS_END(0));
	assert_false(c.msgs[0].m.has_session_id);
	expect_resp(&c, 1, PROTO_STATUS_OK, NULL, NULL, 0); /* a value: not shown by default */
	assert_int_equal(c.msgs[1].m.length, sizeof(resp) - 1);
	assert_int_equal(c.msgs[1].m.tcp_seq, PH_SEQ_INGRESS);
	expect_req(&c, 2, "EXISTS", "EXISTS verify_code");
	expect_resp(&c, 3, PROTO_STATUS_OK, NULL, "1", 0);
	assert_int_equal(c.st.parse_errors, 0);
	ph_free(&c);
	ph_check_splits(&proto_redis_ops, &cli, evs, N(evs), true);

	/* with values kept, the bulk reply shows */
	ph_run(&c, &proto_redis_ops, &cli_keep, evs, N(evs), PH_WHOLE, true);
	expect_resp(&c, 1, PROTO_STATUS_OK, NULL, "{\"sso\": {\"sso_link\": \"\"}}", 0);
	ph_free(&c);
}

/* What redis-cli sends for a script, pipelined in one write, answered in one write. */
#define PIPE_REQ                                                                                   \
	"*3\r\n$3\r\nSET\r\n$3\r\nfoo\r\n$6\r\nsecret\r\n"                                         \
	"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"                                                         \
	"*2\r\n$3\r\nget\r\n$7\r\nmissing\r\n"                                                     \
	"*2\r\n$4\r\nINCR\r\n$3\r\nfoo\r\n"                                                        \
	"*6\r\n$4\r\nHSET\r\n$1\r\nh\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n"          \
	"*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n"                                                       \
	"*3\r\n$3\r\nDEL\r\n$3\r\nfoo\r\n$1\r\nh\r\n"                                              \
	"*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$2\r\nva\r\n$1\r\nb\r\n$2\r\nvb\r\n"                       \
	"*2\r\n$4\r\nAUTH\r\n$6\r\nhunter\r\n"                                                     \
	"*3\r\n$6\r\nCONFIG\r\n$3\r\nget\r\n$9\r\nmaxmemory\r\n"                                   \
	"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$9\r\nmaxmemory\r\n$3\r\n100\r\n"                      \
	"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$2\r\nme\r\n"
#define PIPE_RESP                                                                                  \
	"+OK\r\n$6\r\nsecret\r\n$-1\r\n"                                                           \
	"-ERR value is not an integer or out of range\r\n"                                         \
	":2\r\n*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n:2\r\n+OK\r\n"                \
	"-WRONGPASS invalid username-password pair or user is disabled.\r\n"                       \
	"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n+OK\r\n+OK\r\n"

static void test_pipeline_and_privacy(void **unused)
{
	const struct ph_event evs[] = { PH_EV(EG, PIPE_REQ), PH_EV(IN, PIPE_RESP) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_redis_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 24);
	assert_int_equal(c.st.parse_errors, 0);
	expect_req(&c, 0, "SET", "SET foo");
	expect_req(&c, 1, "GET", "GET foo");
	expect_req(&c, 2, "GET", "GET missing");
	expect_req(&c, 3, "INCR", "INCR foo");
	expect_req(&c, 4, "HSET", "HSET h");
	expect_req(&c, 5, "HGETALL", "HGETALL h");
	expect_req(&c, 6, "DEL", "DEL foo h");
	expect_req(&c, 7, "MSET", "MSET a b");
	expect_req(&c, 8, "AUTH", "AUTH");
	expect_req(&c, 9, "CONFIG GET", "CONFIG get maxmemory");
	expect_req(&c, 10, "CONFIG SET", "CONFIG SET maxmemory");
	expect_req(&c, 11, "CLIENT SETNAME", "CLIENT SETNAME me");
	assert_int_equal(c.msgs[1].m.tcp_seq, PH_SEQ_EGRESS + 34);
	expect_resp(&c, 12, PROTO_STATUS_OK, NULL, "OK", 0);
	expect_resp(&c, 13, PROTO_STATUS_OK, NULL, NULL, 0);
	expect_resp(&c, 14, PROTO_STATUS_OK, NULL, "NULL", 0);
	expect_resp(&c, 15, PROTO_STATUS_SERVER_ERROR,
		    "ERR value is not an integer or out of range", NULL, 0);
	expect_resp(&c, 16, PROTO_STATUS_OK, NULL, "2", 0);
	expect_resp(&c, 17, PROTO_STATUS_OK, NULL, NULL, 0);
	assert_int_equal(c.msgs[17].m.length, 36);
	expect_resp(&c, 18, PROTO_STATUS_OK, NULL, "2", 0);
	expect_resp(&c, 20, PROTO_STATUS_SERVER_ERROR,
		    "WRONGPASS invalid username-password pair or user is disabled.", NULL, 0);
	ph_free(&c);
	ph_check_splits(&proto_redis_ops, &cli, evs, N(evs), true);

	/* PROTO_OPT_KEEP_VALUES: the whole command, and bulk replies */
	ph_run(&c, &proto_redis_ops, &cli_keep, evs, N(evs), PH_WHOLE, true);
	expect_req(&c, 0, "SET", "SET foo secret");
	expect_req(&c, 4, "HSET", "HSET h f1 v1 f2 v2");
	expect_req(&c, 8, "AUTH", "AUTH hunter");
	expect_req(&c, 10, "CONFIG SET", "CONFIG SET maxmemory 100");
	expect_resp(&c, 13, PROTO_STATUS_OK, NULL, "secret", 0);
	ph_free(&c);

	/* seen from the server: the same, with directions swapped */
	{
		const struct ph_event sevs[] = { PH_EV(IN, PIPE_REQ), PH_EV(EG, PIPE_RESP) };

		ph_run(&c, &proto_redis_ops, &srv, sevs, N(sevs), PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 24);
		expect_req(&c, 0, "SET", "SET foo");
		assert_int_equal(c.msgs[0].m.dir, IN);
		expect_resp(&c, 12, PROTO_STATUS_OK, NULL, "OK", 0);
		ph_free(&c);
	}
	/* role unknown: the first side to speak sends requests */
	{
		const struct proto_ctx unk = { .l4_proto = 6 };

		ph_run(&c, &proto_redis_ops, &unk, evs, N(evs), PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 24);
		expect_req(&c, 0, "SET", "SET foo");
		ph_free(&c);
	}
}

/* RESP3: HELLO 3 with a password, maps, sets, attributes and the scalar types. */
static void test_resp3(void **unused)
{
	static const char req[] =
		"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$2\r\npw\r\n"
		"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n"
		"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n"
		"*1\r\n$4\r\nPING\r\n";
	static const char resp[] = "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n"
				   "_\r\n"
				   "#t\r\n"
				   ",3.14\r\n"
				   "(3492890328409238509324850943850943825024385\r\n"
				   "=15\r\ntxt:Some string\r\n"
				   "~2\r\n+a\r\n+b\r\n"
				   "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n:5\r\n"
				   "!21\r\nSYNTAX invalid syntax\r\n"
				   "*2\r\n|1\r\n+ttl\r\n:3\r\n:1\r\n:2\r\n";
	const struct ph_event evs[] = { PH_EV(EG, req), PH_EV(IN, resp) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_redis_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 20);
	expect_req(&c, 0, "HELLO", "HELLO");
	expect_resp(&c, 10, PROTO_STATUS_OK, NULL, NULL, 0);
	expect_resp(&c, 11, PROTO_STATUS_OK, NULL, "NULL", 0);
	expect_resp(&c, 12, PROTO_STATUS_OK, NULL, "true", 0);
	expect_resp(&c, 13, PROTO_STATUS_OK, NULL, "3.14", 0);
	expect_resp(&c, 14, PROTO_STATUS_OK, NULL, "3492890328409238509324850943850943825024385",
		    0);
	expect_resp(&c, 15, PROTO_STATUS_OK, NULL, NULL, 0); /* verbatim: a value */
	expect_resp(&c, 16, PROTO_STATUS_OK, NULL, NULL, 0);
	/* the attribute goes with the reply after it */
	expect_resp(&c, 17, PROTO_STATUS_OK, NULL, "5", 0);
	assert_int_equal(c.msgs[17].m.length, 43);
	expect_resp(&c, 18, PROTO_STATUS_SERVER_ERROR, "SYNTAX invalid syntax", NULL, 0);
	expect_resp(&c, 19, PROTO_STATUS_OK, NULL, NULL, 0);
	ph_free(&c);
	ph_check_splits(&proto_redis_ops, &cli, evs, N(evs), true);
}

/* Pub/sub: confirmations beyond the first and pushed messages answer no request. */
static void test_pubsub(void **unused)
{
	static const char sub[] = "*3\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n$3\r\nch2\r\n";
	static const char conf[] = "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
				   "*3\r\n$9\r\nsubscribe\r\n$3\r\nch2\r\n:2\r\n";
	static const char msgs[] = "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n"
				   "*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n";
	static const char ping[] = "*1\r\n$4\r\nPING\r\n";
	static const char pong[] = "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
	static const char unsub[] = "*1\r\n$11\r\nUNSUBSCRIBE\r\n";
	static const char unconf[] = "*3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:1\r\n"
				     "*3\r\n$11\r\nunsubscribe\r\n$3\r\nch2\r\n:0\r\n";
	static const char resp3[] = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n"
				    ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n";
	const struct ph_event evs[] = {
		PH_EV(EG, sub),	 PH_EV(IN, conf),  PH_EV(IN, msgs),   PH_EV(EG, ping),
		PH_EV(IN, pong), PH_EV(EG, unsub), PH_EV(IN, unconf), PH_EV(IN, resp3),
	};
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_redis_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 12);
	expect_req(&c, 0, "SUBSCRIBE", "SUBSCRIBE ch ch2");
	expect_resp(&c, 1, PROTO_STATUS_OK, NULL, NULL, 0);
	expect_resp(&c, 2, PROTO_STATUS_OK, NULL, NULL, PROTO_MSG_F_UNSOLICITED);
	expect_resp(&c, 3, PROTO_STATUS_OK, NULL, NULL, PROTO_MSG_F_UNSOLICITED);
	expect_resp(&c, 4, PROTO_STATUS_OK, NULL, NULL, PROTO_MSG_F_UNSOLICITED);
	expect_req(&c, 5, "PING", "PING");
	expect_resp(&c, 6, PROTO_STATUS_OK, NULL, NULL, 0);
	expect_req(&c, 7, "UNSUBSCRIBE", "UNSUBSCRIBE");
	expect_resp(&c, 8, PROTO_STATUS_OK, NULL, NULL, 0);
	expect_resp(&c, 9, PROTO_STATUS_OK, NULL, NULL, PROTO_MSG_F_UNSOLICITED);
	expect_resp(&c, 10, PROTO_STATUS_OK, NULL, NULL, PROTO_MSG_F_UNSOLICITED);
	expect_resp(&c, 11, PROTO_STATUS_OK, NULL, NULL, PROTO_MSG_F_UNSOLICITED);
	/* Pushes name their kind and channel (a lone record shows them); never the payload. An
	 * answer to a request (the first confirmation, the pong) is told by its request. */
	{
		static const char *const want[][2] = {
			{ NULL, NULL },
			{ "subscribe", "subscribe ch" },
			{ "subscribe", "subscribe ch2" },
			{ "message", "message ch" },
			{ "pmessage", "pmessage c* ch" },
			{ NULL, NULL },
			{ NULL, NULL },
			{ NULL, NULL },
			{ "unsubscribe", "unsubscribe ch" },
			{ "unsubscribe", "unsubscribe ch2" },
			{ "message", "message ch" },
			{ NULL, NULL }, /* RESP3 "invalidate": no channel */
		};

		for (size_t i = 0; i < N(want); i++) {
			if (c.msgs[i].m.kind == PROTO_MSG_REQUEST)
				continue;
			assert_true(ph_str_eq(c.msgs[i].method, want[i][0]));
			assert_true(ph_str_eq(c.msgs[i].resource, want[i][1]));
		}
	}
	ph_free(&c);
	ph_check_splits(&proto_redis_ops, &cli, evs, N(evs), true);
}

static void test_inline(void **unused)
{
	static const char req[] = "PING\r\nset  k v\r\nget k\n";
	static const char resp[] = "+PONG\r\n+OK\r\n$1\r\nv\r\n";
	const struct ph_event evs[] = { PH_EV(EG, req), PH_EV(IN, resp) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_redis_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 6);
	expect_req(&c, 0, "PING", "PING");
	expect_req(&c, 1, "SET", "SET k");
	expect_req(&c, 2, "GET", "GET k");
	assert_int_equal(c.msgs[2].m.length, 6);
	expect_resp(&c, 3, PROTO_STATUS_OK, NULL, "PONG", 0);
	ph_free(&c);
	ph_check_splits(&proto_redis_ops, &cli, evs, N(evs), true);
}

/* A 1 MB value streams through: nothing held, the length counted. */
static void test_big_value(void **unused)
{
	size_t vlen = 1000000, n;
	char *resp = malloc(vlen + 32);
	static const char req[] = "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
	struct ph_conv c;

	(void)unused;
	assert_non_null(resp);
	n = (size_t)sprintf(resp, "$%zu\r\n", vlen);
	memset(resp + n, 'x', vlen);
	memcpy(resp + n + vlen, "\r\n:7\r\n", 6);
	n += vlen + 6;
	{
		struct ph_event evs[3] = { PH_EV(EG, req), PH_EVB(IN, resp, n - 4),
					   PH_EV(EG, "*2\r\n$4\r\nINCR\r\n$1\r\nx\r\n") };

		ph_init(&c, &proto_redis_ops, &cli);
		ph_feed(&c, EG, evs[0].data, evs[0].len, 0, 1, 2, 100);
		/* in 64 KiB pieces, as a socket would deliver it */
		for (size_t off = 0; off < n; off += 65536) {
			size_t k = n - off < 65536 ? n - off : 65536;

			ph_feed(&c, IN, (const uint8_t *)resp + off, k, 0, 10 + off, 11 + off,
				7000 + (uint32_t)off);
			assert_true(c.side[IN].len < 4096);
		}
		assert_int_equal(c.nmsgs, 3);
		assert_int_equal(c.msgs[1].m.length, n - 4);
		assert_int_equal(c.msgs[1].m.start_ts, 10);
		expect_resp(&c, 2, PROTO_STATUS_OK, NULL, "7", 0);
		ph_free(&c);
		/* most of it not captured: the gap counts against the value */
		evs[1] = (struct ph_event){ IN, (const uint8_t *)resp, 1000, n - 4 - 1000 };
		ph_run(&c, &proto_redis_ops, &cli, evs, 3, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 3);
		assert_int_equal(c.msgs[1].m.length, n - 4);
		assert_int_equal(c.msgs[1].m.flags, 0);
		expect_req(&c, 2, "INCR", "INCR x");
		ph_free(&c);
		ph_check_splits(&proto_redis_ops, &cli, evs, 3, true);
	}
	free(resp);
}

/* Garbage is an error; the direction resumes at an event that begins like a message. */
static void test_garbage_and_resync(void **unused)
{
	const struct ph_event evs[] = {
		PH_EV(EG, "*2\r\n$3\r\nGET\r\n$1\r\na\r\n"),
		PH_EV(IN, "?garbage\r\n"),
		PH_EV(IN, "more garbage"),
		PH_EV(EG, "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n"),
		PH_EV(IN, "$1\r\nb\r\n"),
		PH_EV(EG, "*1\r\n:5\r\n"), /* requests are arrays of bulk strings */
		PH_EV(EG, "*1\r\n$4\r\nPING\r\n"),
	};
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_redis_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.errors, 2);
	assert_int_equal(c.st.resyncs, 2);
	assert_int_equal(c.nmsgs, 4);
	expect_req(&c, 0, "GET", "GET a");
	expect_req(&c, 1, "GET", "GET b");
	expect_resp(&c, 2, PROTO_STATUS_OK, NULL, NULL, 0);
	expect_req(&c, 3, "PING", "PING");
	ph_free(&c);
}

/* Too deep, too long, bad numbers: errors, never crashes. */
static void test_limits(void **unused)
{
	char deep[200];
	char line[5000];
	struct ph_conv c;
	size_t n = 0;

	(void)unused;
	for (int i = 0; i < 20; i++)
		n += (size_t)sprintf(deep + n, "*1\r\n");
	n += (size_t)sprintf(deep + n, ":1\r\n");
	{
		const struct ph_event evs[] = { PH_EV(EG, "*1\r\n$4\r\nPING\r\n"),
						PH_EVB(IN, deep, n) };

		ph_run(&c, &proto_redis_ops, &cli, evs, 2, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 1);
		assert_int_equal(c.st.parse_errors, 1);
		ph_free(&c);
	}
	memset(line, 'a', sizeof(line));
	line[0] = '+';
	{
		const struct ph_event evs[] = { PH_EV(EG, "*1\r\n$4\r\nPING\r\n"),
						PH_EVB(IN, line, sizeof(line)) };

		ph_run(&c, &proto_redis_ops, &cli, evs, 2, PH_WHOLE, true);
		assert_int_equal(c.st.parse_errors, 1);
		ph_free(&c);
	}
	{
		const struct ph_event evs[] = { PH_EV(EG, "*1\r\n$-5\r\n"), PH_EV(EG, "*x\r\n"),
						PH_EV(EG, "*99999999999999999999\r\n") };

		ph_run(&c, &proto_redis_ops, &cli, evs, 3, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 0);
		assert_true(c.st.parse_errors >= 1);
		ph_free(&c);
	}
}

/* A gap outside a bulk payload leaves the end unknown: truncated, then resync. */
static void test_gap_in_header(void **unused)
{
	const struct ph_event evs[] = {
		PH_EV(EG, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$"),
		{ EG, (const uint8_t *)"", 0, 0 },
		PH_EV(EG, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
	};
	struct ph_event e[3];
	struct ph_conv c;

	(void)unused;
	memcpy(e, evs, sizeof(e));
	e[0].gap = 50;
	ph_run(&c, &proto_redis_ops, &cli, e, 3, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	expect_req(&c, 0, "SET", "SET k");
	assert_int_equal(c.msgs[0].m.flags, PROTO_MSG_F_TRUNCATED);
	assert_int_equal(c.msgs[0].m.length, e[0].len + 50);
	expect_req(&c, 1, "GET", "GET k");
	ph_free(&c);
}

static void test_detect(void **unused)
{
	const struct proto_ctx other = { .l4_proto = 6,
					 .role = PROTO_ROLE_CLIENT,
					 .server_port = 7000 };
	const struct proto_ctx udp = { .l4_proto = 17, .server_port = 6379 };
	const struct {
		const char *s;
		const struct proto_ctx *ctx;
		enum proto_dir dir;
		enum proto_detect want;
	} cases[] = {
		{ "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", &cli, EG, PROTO_DETECT_YES },
		{ "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", &other, EG, PROTO_DETECT_YES },
		{ "*2\r\n$3\r\nget\r\n", NULL, EG, PROTO_DETECT_YES },
		{ "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", &srv, IN, PROTO_DETECT_YES },
		{ "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", &srv, EG, PROTO_DETECT_NO },
		{ "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", &cli, IN, PROTO_DETECT_NO },
		{ "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", &udp, EG, PROTO_DETECT_NO },
		{ "*1\r\n$6\r\nFOOBAR\r\n", &cli, EG, PROTO_DETECT_MAYBE },
		{ "*1\r\n$6\r\nFOOBAR\r\n", &other, EG, PROTO_DETECT_NO },
		{ "*1\r\n$3\r\nGE", &cli, EG, PROTO_DETECT_MAYBE },
		{ "PING\r\n", &cli, EG, PROTO_DETECT_MAYBE },
		{ "PING\r\n", &other, EG, PROTO_DETECT_NO },
		{ "GET / HTTP/1.1\r\n", &cli, EG, PROTO_DETECT_NO },
		{ "GET / HTTP/1.1\r\n", &other, EG, PROTO_DETECT_NO },
		{ "get foo\r\n", &other, EG, PROTO_DETECT_NO },
		{ "+OK\r\n", &cli, EG, PROTO_DETECT_NO },
		{ "*0\r\n", &cli, EG, PROTO_DETECT_NO },
		{ "*2\r\n:1\r\n:2\r\n", &cli, EG, PROTO_DETECT_NO },
		{ "\x80\x01\x00\x03", &cli, EG, PROTO_DETECT_NO },
		{ "", &cli, EG, PROTO_DETECT_NO },
	};

	(void)unused;
	for (size_t i = 0; i < N(cases); i++) {
		enum proto_detect got =
			proto_redis_ops.detect((const uint8_t *)cases[i].s, strlen(cases[i].s),
					       cases[i].dir, cases[i].ctx);

		if (got != cases[i].want)
			fail_msg("detect case %zu (\"%s\") = %d, want %d", i, cases[i].s, got,
				 cases[i].want);
	}
}

static void test_registry(void **unused)
{
	(void)unused;
	ph_check_registered(&proto_redis_ops, PROTO_REDIS, "Redis");
	assert_string_equal(proto_redis_ops.name, "Redis");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture_get_exists),
		cmocka_unit_test(test_pipeline_and_privacy),
		cmocka_unit_test(test_resp3),
		cmocka_unit_test(test_pubsub),
		cmocka_unit_test(test_inline),
		cmocka_unit_test(test_big_value),
		cmocka_unit_test(test_garbage_and_resync),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_gap_in_header),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
