/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the NATS parser: the messages of the reference captures (nats-headers,
 * nats-err, nats-opentelemetry, nats-skywalking), several messages per segment, a large
 * payload streamed through, gaps, garbage and resync, detection; every fixture is also
 * replayed cut at every offset and byte by byte.
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

#define NORESP PROTO_MSG_F_NO_RESPONSE
#define UNSOL  PROTO_MSG_F_UNSOLICITED

static const struct proto_ctx cli = { .l4_proto = 6,
				      .role = PROTO_ROLE_CLIENT,
				      .server_port = 4222 };
static const struct proto_ctx srv = { .l4_proto = 6,
				      .role = PROTO_ROLE_SERVER,
				      .server_port = 4222 };

static void expect(const struct ph_conv *c, size_t i, enum proto_msg_kind kind, const char *type,
		   const char *res, const char *ep, uint32_t flags)
{
	const struct ph_msg *m;

	if (i >= c->nmsgs)
		fail_msg("message %zu missing (%zu)", i, c->nmsgs);
	m = &c->msgs[i];
	assert_int_equal(m->m.kind, kind);
	assert_string_equal(m->method, type);
	if (res) {
		assert_string_equal(m->resource, res);
		assert_string_equal(m->endpoint, ep);
	} else {
		assert_null(m->resource);
		assert_null(m->endpoint);
	}
	assert_int_equal(m->m.flags, flags);
	assert_int_equal(m->m.code, -1);
}

static void expect_session(const struct ph_conv *c, size_t i, uint32_t sid)
{
	assert_int_equal(c->msgs[i].m.has_session_id, sid != 0);
	if (sid)
		assert_int_equal(c->msgs[i].m.session_id, sid);
}

/* nats-headers.pcap (INFO shortened) */
#define INFO_LINE                                                                                  \
	"INFO {\"server_id\":\"NDTR3ZYVQTNQ\",\"server_name\":\"us-south-nats-demo\","             \
	"\"version\":\"2.10.7\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n"
#define CONNECT_LINE                                                                               \
	"CONNECT {\"verbose\":true,\"pedantic\":false,\"tls_required\":false,\"name\":\"\","       \
	"\"lang\":\"go\",\"version\":\"1.25.0\",\"protocol\":1,\"echo\":true,\"headers\":true,"    \
	"\"no_responders\":true}\r\n"
#define HPUB1 "HPUB FOO 22 33\r\nNATS/1.0\r\nBar: Baz\r\n\r\nHello NATS!\r\n"
#define HMSG1 "HMSG FOO alice 22 33\r\nNATS/1.0\r\nBar: Baz\r\n\r\nHello NATS!\r\n"
#define HPUB2                                                                                      \
	"HPUB FRONT.DOOR JOKE.22 45 56\r\nNATS/1.0\r\nBREAKFAST: donut\r\nLUNCH: burger\r\n\r\n"   \
	"Knock Knock\r\n"

static void test_capture_headers(void **unused)
{
	const struct ph_event evs[] = {
		PH_EV(IN, INFO_LINE),		PH_EV(EG, CONNECT_LINE),
		PH_EV(IN, "+OK\r\n"),		PH_EV(IN, "PING\r\n"),
		PH_EV(EG, "PONG\r\n"),		PH_EV(EG, "SUB FOO alice\r\n"),
		PH_EV(IN, "+OK\r\n"),		PH_EV(EG, "SUB FRONT.DOOR bob\r\n"),
		PH_EV(IN, "+OK\r\n"),		PH_EV(EG, HPUB1),
		PH_EV(IN, "+OK\r\n" HMSG1),	PH_EV(EG, HPUB2),
		PH_EV(EG, "UNSUB alice 3\r\n"), PH_EV(EG, "UNSUB bob\r\n"),
		PH_EV(EG, "PING\r\n"),		PH_EV(IN, "PONG\r\n"),
	};
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_nats_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 17);
	expect(&c, 0, PROTO_MSG_RESPONSE, "INFO", NULL, NULL, UNSOL);
	expect_session(&c, 0, 0);
	assert_string_equal(c.msgs[0].domain, "us-south-nats-demo");
	assert_string_equal(c.msgs[0].version, "2.10.7");
	assert_int_equal(c.msgs[0].m.length, sizeof(INFO_LINE) - 1);
	assert_int_equal(c.msgs[0].m.tcp_seq, PH_SEQ_INGRESS);
	expect(&c, 1, PROTO_MSG_REQUEST, "CONNECT", NULL, NULL, NORESP);
	expect_session(&c, 1, 0);
	expect(&c, 2, PROTO_MSG_RESPONSE, "+OK", NULL, NULL, UNSOL);
	/* the server pings: its PING answers nothing, the client's PONG gets no answer */
	expect(&c, 3, PROTO_MSG_RESPONSE, "PING", NULL, NULL, UNSOL);
	expect_session(&c, 3, 0);
	expect(&c, 4, PROTO_MSG_REQUEST, "PONG", NULL, NULL, NORESP);
	expect_session(&c, 4, 0);
	expect(&c, 5, PROTO_MSG_REQUEST, "SUB", "FOO", "FOO", NORESP);
	assert_string_equal(c.msgs[5].domain, "us-south-nats-demo");
	assert_int_equal(c.msgs[5].m.length, 15);
	expect(&c, 7, PROTO_MSG_REQUEST, "SUB", "FRONT.DOOR", "FRONT", NORESP);
	expect(&c, 9, PROTO_MSG_REQUEST, "HPUB", "FOO", "FOO", NORESP);
	assert_int_equal(c.msgs[9].m.length, sizeof(HPUB1) - 1);
	expect(&c, 10, PROTO_MSG_RESPONSE, "+OK", NULL, NULL, UNSOL);
	expect(&c, 11, PROTO_MSG_RESPONSE, "HMSG", "FOO", "FOO", UNSOL);
	assert_int_equal(c.msgs[11].m.length, sizeof(HMSG1) - 1);
	assert_int_equal(c.msgs[11].m.tcp_seq,
			 PH_SEQ_INGRESS + sizeof(INFO_LINE) - 1 + 5 + 6 + 5 + 5 + 5);
	expect(&c, 12, PROTO_MSG_REQUEST, "HPUB", "FRONT.DOOR", "FRONT", NORESP);
	expect(&c, 13, PROTO_MSG_REQUEST, "UNSUB", NULL, NULL, NORESP);
	expect(&c, 14, PROTO_MSG_REQUEST, "UNSUB", NULL, NULL, NORESP);
	expect(&c, 15, PROTO_MSG_REQUEST, "PING", NULL, NULL, 0);
	expect_session(&c, 15, 2); /* the client pings */
	expect(&c, 16, PROTO_MSG_RESPONSE, "PONG", NULL, NULL, 0);
	expect_session(&c, 16, 2);
	for (size_t i = 0; i < c.nmsgs; i++) {
		assert_null(c.msgs[i].result); /* payloads never show */
		assert_null(c.msgs[i].trace_id);
	}
	ph_free(&c);
	ph_check_splits(&proto_nats_ops, &cli, evs, N(evs), true);
	/* the server's side: the same, directions swapped */
	{
		struct ph_event sevs[N(evs)];

		memcpy(sevs, evs, sizeof(evs));
		for (size_t i = 0; i < N(sevs); i++)
			sevs[i].dir = sevs[i].dir == EG ? IN : EG;
		ph_run(&c, &proto_nats_ops, &srv, sevs, N(sevs), PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 17);
		expect(&c, 0, PROTO_MSG_RESPONSE, "INFO", NULL, NULL, UNSOL);
		expect(&c, 3, PROTO_MSG_RESPONSE, "PING", NULL, NULL, UNSOL);
		expect_session(&c, 15, 2);
		ph_free(&c);
		/* role unknown: INFO tells the server */
		ph_run(&c, &proto_nats_ops, NULL, sevs, N(sevs), PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 17);
		assert_int_equal(c.st.parse_errors, 0);
		expect(&c, 3, PROTO_MSG_RESPONSE, "PING", NULL, NULL, UNSOL);
		ph_free(&c);
	}
}

/* nats-err.pcap: an unknown command, answered by -ERR. */
static void test_capture_err(void **unused)
{
	const struct ph_event evs[] = {
		PH_EV(IN, INFO_LINE),	   PH_EV(EG, CONNECT_LINE),
		PH_EV(EG, "DEADBEEF\r\n"), PH_EV(IN, "-ERR 'Unknown Protocol Operation'\r\n"),
		PH_EV(EG, "PING\r\n"),
	};
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_nats_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 1);
	assert_int_equal(c.nmsgs, 4);
	expect(&c, 2, PROTO_MSG_RESPONSE, "-ERR", NULL, NULL, UNSOL);
	assert_int_equal(c.msgs[2].m.status, PROTO_STATUS_CLIENT_ERROR);
	assert_string_equal(c.msgs[2].exception, "'Unknown Protocol Operation'");
	assert_int_equal(c.msgs[2].m.length, 35);
	expect(&c, 3, PROTO_MSG_REQUEST, "PING", NULL, NULL, 0); /* after the resync */
	assert_int_equal(c.st.resyncs, 1);
	ph_free(&c);
}

/* Trace context in headers: W3C traceparent (nats-opentelemetry), sw8 (nats-skywalking). */
static void test_trace_headers(void **unused)
{
	static const char otel[] =
		"HPUB _INBOX.AI573QFG88AQQSZBG5WH7T 82 82\r\nNATS/1.0\r\n"
		"traceparent: 00-11b4862a313e8a9c059cda4a49e626fa-6a2a9f706edee336-01\r\n\r\n\r\n";
	static const char sw8[] =
		"HPUB hello.subject.world 354 366\r\nNATS/1.0\r\nsw8-x:0-1705995309429\r\n"
		"sw8:1-OGUyZWNiYjBjNzViNDc2ODkyZDY5NTEzYTJkZDA2MGQuMS4xNzA1OTk1MzA5NDE4MDAwMQ==-"
		"OGUyZWNiYjBjNzViNDc2ODkyZDY5NTEzYTJkZDA2MGQuNDEuMTcwNTk5NTMwOTQyNDAwMDA=-0-"
		"ZGVtby1hcHBsaWNhdGlvbg==-"
		"OTAzYjE2OGY1OThiNGY0NjliYzE0ODNkNGExNDI3YWJAMTk4LjE5LjI0OS42"
		"Ng==-TmF0cy9QdWIvaGVsbG8uc3ViamVjdC53b3JsZA==-bmF0czovL2RlbW8ubmF0cy5pbzo0MjIy\r\n"
		"\r\nHELLO WORLD!\r\n";
	const struct ph_event evs[] = { PH_EV(EG, otel), PH_EV(EG, sw8) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_nats_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 2);
	expect(&c, 0, PROTO_MSG_REQUEST, "HPUB", "_INBOX.AI573QFG88AQQSZBG5WH7T", "_INBOX", NORESP);
	assert_string_equal(c.msgs[0].trace_id, "11b4862a313e8a9c059cda4a49e626fa");
	assert_string_equal(c.msgs[0].span_id, "6a2a9f706edee336");
	expect(&c, 1, PROTO_MSG_REQUEST, "HPUB", "hello.subject.world", "hello", NORESP);
	assert_string_equal(c.msgs[1].trace_id,
			    "8e2ecbb0c75b476892d69513a2dd060d.1.17059953094180001");
	assert_string_equal(c.msgs[1].span_id,
			    "8e2ecbb0c75b476892d69513a2dd060d.41.17059953094240000-0");
	assert_int_equal(c.msgs[1].m.length, sizeof(sw8) - 1);
	ph_free(&c);
	ph_check_splits(&proto_nats_ops, &cli, evs, N(evs), true);
}

/* Messages pipelined in one write; MSG with a reply subject; verbs in lower case. */
static void test_pipelined(void **unused)
{
	static const char req[] = "CONNECT {\"verbose\":false}\r\nsub greeter.* q1 7\r\n"
				  "PUB greeter.hi _INBOX.x.1 5\r\nhello\r\nPUB a 0\r\n\r\n"
				  "UNSUB 7\r\nping\r\n";
	static const char resp[] = "MSG greeter.hi 7 _INBOX.x.1 5\r\nhello\r\nPONG\r\n";
	const struct ph_event evs[] = { PH_EV(EG, req), PH_EV(IN, resp) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_nats_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 8);
	expect(&c, 0, PROTO_MSG_REQUEST, "CONNECT", NULL, NULL, NORESP);
	assert_null(c.msgs[0].domain);
	expect(&c, 1, PROTO_MSG_REQUEST, "SUB", "greeter.*", "greeter", NORESP);
	expect(&c, 2, PROTO_MSG_REQUEST, "PUB", "greeter.hi", "greeter", NORESP);
	assert_int_equal(c.msgs[2].m.length, 36);
	assert_int_equal(c.msgs[2].m.tcp_seq, PH_SEQ_EGRESS + 27 + 20);
	expect(&c, 3, PROTO_MSG_REQUEST, "PUB", "a", "a", NORESP);
	expect(&c, 4, PROTO_MSG_REQUEST, "UNSUB", NULL, NULL, NORESP);
	expect(&c, 5, PROTO_MSG_REQUEST, "PING", NULL, NULL, 0);
	expect(&c, 6, PROTO_MSG_RESPONSE, "MSG", "greeter.hi", "greeter", UNSOL);
	expect(&c, 7, PROTO_MSG_RESPONSE, "PONG", NULL, NULL, 0);
	expect_session(&c, 7, 2);
	ph_free(&c);
	ph_check_splits(&proto_nats_ops, &cli, evs, N(evs), true);
}

/* A 1 MB payload streams through; a gap inside it counts against it. */
static void test_big_payload(void **unused)
{
	size_t plen = 1000000, n;
	char *msg = malloc(plen + 64);
	struct ph_conv c;

	(void)unused;
	assert_non_null(msg);
	n = (size_t)sprintf(msg, "PUB big %zu\r\n", plen);
	memset(msg + n, 'x', plen);
	n += plen;
	memcpy(msg + n, "\r\n", 2);
	n += 2;
	{
		struct ph_event evs[3] = { PH_EVB(EG, msg, n), PH_EV(EG, "PING\r\n"),
					   PH_EV(IN, "PONG\r\n") };

		ph_init(&c, &proto_nats_ops, &cli);
		for (size_t off = 0; off < n; off += 65536) {
			size_t k = n - off < 65536 ? n - off : 65536;

			ph_feed(&c, EG, (const uint8_t *)msg + off, k, 0, 10 + off, 11 + off,
				100 + (uint32_t)off);
			assert_true(c.side[EG].len < 4096);
		}
		assert_int_equal(c.nmsgs, 1);
		expect(&c, 0, PROTO_MSG_REQUEST, "PUB", "big", "big", NORESP);
		assert_int_equal(c.msgs[0].m.length, n);
		ph_free(&c);
		evs[0] = (struct ph_event){ EG, (const uint8_t *)msg, 1000, n - 1000 };
		ph_run(&c, &proto_nats_ops, &cli, evs, 3, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 3);
		assert_int_equal(c.msgs[0].m.length, n);
		assert_int_equal(c.msgs[0].m.flags, NORESP);
		expect(&c, 1, PROTO_MSG_REQUEST, "PING", NULL, NULL, 0);
		assert_int_equal(c.st.resyncs, 0);
		ph_free(&c);
	}
	free(msg);
}

/* Malformed lines are errors; resync at an event that begins with a verb; gaps. */
static void test_garbage_gaps(void **unused)
{
	struct ph_event evs[] = {
		PH_EV(EG, "PUB foo\r\n"),	 /* no size */
		PH_EV(EG, "xx"),		 /* skipped while resynchronising */
		PH_EV(EG, "PUB foo 3\r\nabcXY"), /* no CRLF after the payload */
		PH_EV(EG, "SUB foo..bar 1\r\n"), /* an empty token */
		PH_EV(EG, "PUB foo 2\r\n"),	 /* resync */
		PH_EV(EG, "hi\r\n"),
		PH_EV(IN, "+OK extra\r\n"),    /* +OK takes no argument */
		PH_EV(IN, "MSG foo 1 2\r\nh"), /* a gap in the payload */
		PH_EV(IN, "PONG\r\n"),
		PH_EV(EG, "SUB f"), /* a gap in the line */
		PH_EV(EG, "PING\r\n"),
	};
	struct ph_conv c;

	(void)unused;
	evs[7].gap = 3;
	evs[9].gap = 10;
	ph_run(&c, &proto_nats_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 4);
	assert_int_equal(c.st.truncated, 1); /* the line the gap cut */
	assert_int_equal(c.nmsgs, 4);
	expect(&c, 0, PROTO_MSG_REQUEST, "PUB", "foo", "foo", NORESP);
	assert_int_equal(c.msgs[0].m.length, 15);
	expect(&c, 1, PROTO_MSG_RESPONSE, "MSG", "foo", "foo", UNSOL);
	assert_int_equal(c.msgs[1].m.length, 17);
	expect(&c, 2, PROTO_MSG_RESPONSE, "PONG", NULL, NULL, 0);
	expect(&c, 3, PROTO_MSG_REQUEST, "PING", NULL, NULL, 0);
	ph_free(&c);
}

static void test_detect(void **unused)
{
	const struct proto_ctx other = { .l4_proto = 6,
					 .role = PROTO_ROLE_CLIENT,
					 .server_port = 9000 };
	const struct proto_ctx udp = { .l4_proto = 17, .server_port = 4222 };
	const struct {
		const char *s;
		const struct proto_ctx *ctx;
		enum proto_dir dir;
		enum proto_detect want;
	} cases[] = {
		{ INFO_LINE, &other, IN, PROTO_DETECT_YES },
		{ INFO_LINE, &other, EG, PROTO_DETECT_NO }, /* the client does not send INFO */
		{ INFO_LINE, &srv, EG, PROTO_DETECT_YES },
		{ INFO_LINE, NULL, EG, PROTO_DETECT_YES },
		{ INFO_LINE, &udp, IN, PROTO_DETECT_NO },
		{ "INFO {\"ser", &other, IN, PROTO_DETECT_YES },
		{ CONNECT_LINE, &other, EG, PROTO_DETECT_YES },
		{ CONNECT_LINE, &other, IN, PROTO_DETECT_NO },
		{ "PUB foo 5\r\nhello\r\n", &other, EG, PROTO_DETECT_YES },
		{ "PUB foo 5\r\nhelloXX", &other, EG, PROTO_DETECT_NO },
		{ "PUB foo 5\r\nhel", &other, EG, PROTO_DETECT_NO },
		{ "PUB foo 5\r\nhel", &cli, EG, PROTO_DETECT_MAYBE },
		{ HPUB1, &other, EG, PROTO_DETECT_YES },
		{ HMSG1, &other, IN, PROTO_DETECT_YES },
		{ "SUB foo 1\r\n", &other, EG, PROTO_DETECT_YES },
		{ "PING\r\n", &other, EG, PROTO_DETECT_NO },
		{ "PING\r\n", &cli, EG, PROTO_DETECT_MAYBE },
		{ "+OK\r\n", &cli, IN, PROTO_DETECT_MAYBE },
		{ "GET / HTTP/1.1\r\n", &cli, EG, PROTO_DETECT_NO },
		{ "get foo\r\n", &cli, EG, PROTO_DETECT_NO },
		{ "*1\r\n$4\r\nPING\r\n", &cli, EG, PROTO_DETECT_NO },
		{ "PUBLISH foo 5\r\n", &cli, EG, PROTO_DETECT_NO },
		{ "", &cli, EG, PROTO_DETECT_NO },
	};

	(void)unused;
	for (size_t i = 0; i < N(cases); i++) {
		enum proto_detect got =
			proto_nats_ops.detect((const uint8_t *)cases[i].s, strlen(cases[i].s),
					      cases[i].dir, cases[i].ctx);

		if (got != cases[i].want)
			fail_msg("detect case %zu (\"%.20s\") = %d, want %d", i, cases[i].s, got,
				 cases[i].want);
	}
}

static void test_registry(void **unused)
{
	(void)unused;
	assert_ptr_equal(proto_by_id(PROTO_NATS), &proto_nats_ops);
	assert_string_equal(proto_name(PROTO_NATS), "NATS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture_headers), cmocka_unit_test(test_capture_err),
		cmocka_unit_test(test_trace_headers),	cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_big_payload),	cmocka_unit_test(test_garbage_gaps),
		cmocka_unit_test(test_detect),		cmocka_unit_test(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
