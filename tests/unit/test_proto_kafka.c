/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the Kafka parser. Fixtures are the messages of the reference captures
 * (kafka_fixtures.h); every conversation is also replayed cut at every offset and byte by
 * byte (ph_check_splits) and must give the same messages.
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
#include "kafka_fixtures.h"

#define EG PROTO_DIR_EGRESS
#define IN PROTO_DIR_INGRESS
#define EVA(d, a)                                                                                  \
	(struct ph_event)                                                                          \
	{                                                                                          \
		(d), (a), sizeof(a), 0                                                             \
	}

static const struct proto_ctx cli = { .l4_proto = 6, .role = PROTO_ROLE_CLIENT };
static const struct proto_ctx srv = { .l4_proto = 6, .role = PROTO_ROLE_SERVER };

static void run2(struct ph_conv *c, const struct proto_ctx *ctx, const uint8_t *req, size_t rl,
		 const uint8_t *resp, size_t sl)
{
	struct ph_event evs[2] = { { EG, req, rl, 0 }, { IN, resp, sl, 0 } };

	if (ctx == &srv) {
		evs[0].dir = IN;
		evs[1].dir = EG;
	}
	ph_run(c, &proto_kafka_ops, ctx, evs, 2, PH_WHOLE, true);
	ph_check_splits(&proto_kafka_ops, ctx, evs, 2, true);
}

static void assert_req(const struct ph_msg *x, const char *method, const char *ver, uint32_t corr)
{
	char id[16];

	assert_int_equal(x->m.kind, PROTO_MSG_REQUEST);
	assert_string_equal(x->method, method);
	assert_string_equal(x->version, ver);
	assert_true(x->m.has_request_id);
	assert_int_equal(x->m.request_id, corr);
	assert_true(x->m.has_session_id);
	assert_int_equal(x->m.session_id, corr);
	snprintf(id, sizeof(id), "%u", corr);
	assert_string_equal(x->x_request_id, id);
	assert_int_equal(x->m.code, -1);
}

static void assert_resp(const struct ph_msg *x, uint32_t corr, int32_t code, uint8_t status,
			const char *exc)
{
	assert_int_equal(x->m.kind, PROTO_MSG_RESPONSE);
	assert_int_equal(x->m.session_id, corr);
	assert_int_equal(x->m.request_id, corr);
	assert_int_equal(x->m.code, code);
	assert_int_equal(x->m.status, status);
	if (exc)
		assert_string_equal(x->exception, exc);
	else
		assert_null(x->exception);
	assert_null(x->resource);
}

static void test_produce_v2(void **unused)
{
	struct ph_conv c;

	(void)unused;
	run2(&c, &cli, k_prod2_0, sizeof(k_prod2_0), k_prod2_1, sizeof(k_prod2_1));
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "Produce", "2", 1);
	assert_string_equal(c.msgs[0].domain, "topic2");
	assert_string_equal(c.msgs[0].resource, "topic2-0");
	assert_string_equal(c.msgs[0].endpoint, "topic2-0");
	assert_int_equal(c.msgs[0].m.length, 121);
	assert_int_equal(c.msgs[0].m.dir, EG);
	assert_int_equal(c.msgs[0].m.flags, 0);
	assert_int_equal(c.msgs[0].m.tcp_seq, PH_SEQ_EGRESS);
	assert_int_equal(c.msgs[0].m.start_ts, PH_TS_START(0));
	assert_int_equal(c.msgs[0].m.end_ts, PH_TS_END(0));
	assert_null(c.msgs[0].trace_id);
	assert_resp(&c.msgs[1], 1, 0, PROTO_STATUS_OK, NULL);
	assert_string_equal(c.msgs[1].method, "Produce");
	assert_string_equal(c.msgs[1].version, "2");
	assert_string_equal(c.msgs[1].x_request_id, "1");
	assert_int_equal(c.msgs[1].m.length, 50);
	assert_int_equal(c.msgs[1].m.tcp_seq, PH_SEQ_INGRESS);
	assert_int_equal(c.st.messages, 2);
	assert_int_equal(c.st.parse_errors, 0);
	ph_free(&c);

	/* The server's view: requests are read, responses written. */
	run2(&c, &srv, k_prod2_0, sizeof(k_prod2_0), k_prod2_1, sizeof(k_prod2_1));
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "Produce", "2", 1);
	assert_int_equal(c.msgs[0].m.dir, IN);
	assert_resp(&c.msgs[1], 1, 0, PROTO_STATUS_OK, NULL);
	ph_free(&c);
}

static void test_produce_v7_sw8(void **unused)
{
	struct ph_conv c;

	(void)unused;
	run2(&c, &cli, k_prod7_0, sizeof(k_prod7_0), k_prod7_1, sizeof(k_prod7_1));
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "Produce", "7", 1);
	assert_string_equal(c.msgs[0].domain, "quickstart-events");
	assert_string_equal(c.msgs[0].endpoint, "quickstart-events-0");
	/* sw8 record header: trace id and segment id are base64, span = segment-spanid */
	assert_string_equal(c.msgs[0].trace_id, "bb79fa34-d03f-4bc2-8fa9-979af7877426");
	assert_string_equal(c.msgs[0].span_id, "0d8ce61a-ef2a-4e23-b8f4-2c59e3f44d48-0");
	assert_int_equal(c.msgs[0].m.length, 312);
	assert_resp(&c.msgs[1], 1, 0, PROTO_STATUS_OK, NULL);
	assert_int_equal(c.msgs[1].m.length, 69);
	ph_free(&c);
}

static void test_produce_v9_flexible(void **unused)
{
	struct ph_conv c;

	(void)unused;
	run2(&c, &cli, k_prod9_0, sizeof(k_prod9_0), k_prod9_1, sizeof(k_prod9_1));
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "Produce", "9", 47);
	assert_string_equal(c.msgs[0].domain, "zqy-test");
	assert_string_equal(c.msgs[0].resource, "zqy-test-0");
	assert_int_equal(c.msgs[0].m.length, 156);
	assert_resp(&c.msgs[1], 47, 0, PROTO_STATUS_OK, NULL);
	assert_int_equal(c.msgs[1].m.length, 59);
	ph_free(&c);
}

static void test_fetch_v12(void **unused)
{
	struct ph_conv c;

	(void)unused;
	run2(&c, &cli, k_fetch12_0, sizeof(k_fetch12_0), k_fetch12_1, sizeof(k_fetch12_1));
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "Fetch", "12", 15603);
	assert_string_equal(c.msgs[0].domain, "zqy-test");
	assert_string_equal(c.msgs[0].resource, "zqy-test-0:36");
	assert_string_equal(c.msgs[0].endpoint, "zqy-test-0");
	assert_resp(&c.msgs[1], 15603, 0, PROTO_STATUS_OK, NULL);
	ph_free(&c);

	/* No topics in the request; the response's error code field says 0x1400 */
	run2(&c, &cli, k_fetchunk_0, sizeof(k_fetchunk_0), k_fetchunk_1, sizeof(k_fetchunk_1));
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "Fetch", "12", 20);
	assert_null(c.msgs[0].domain);
	assert_null(c.msgs[0].resource);
	assert_resp(&c.msgs[1], 20, 5120, PROTO_STATUS_SERVER_ERROR, NULL);
	ph_free(&c);
}

static void test_group_apis(void **unused)
{
	struct ph_conv c;

	(void)unused;
	run2(&c, &cli, k_join7_0, sizeof(k_join7_0), k_join7_1, sizeof(k_join7_1));
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "JoinGroup", "7", 120);
	assert_null(c.msgs[0].domain);
	/* error -1: the code field cannot say it (-1 is "none"), the exception does */
	assert_resp(&c.msgs[1], 120, -1, PROTO_STATUS_SERVER_ERROR, "UNKNOWN_SERVER_ERROR");
	ph_free(&c);

	run2(&c, &cli, k_leave4_0, sizeof(k_leave4_0), k_leave4_1, sizeof(k_leave4_1));
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "LeaveGroup", "4", 201);
	assert_resp(&c.msgs[1], 201, 0, PROTO_STATUS_OK, NULL);
	ph_free(&c);

	run2(&c, &cli, k_sync5_0, sizeof(k_sync5_0), k_sync5_1, sizeof(k_sync5_1));
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "SyncGroup", "5", 120);
	assert_resp(&c.msgs[1], 120, -1, PROTO_STATUS_SERVER_ERROR, "UNKNOWN_SERVER_ERROR");
	ph_free(&c);

	/* ApiVersions v3: flexible request header, response header v0 */
	run2(&c, &cli, k_apiv3_0, sizeof(k_apiv3_0), k_apiv3_1, sizeof(k_apiv3_1));
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "ApiVersions", "3", 2);
	assert_resp(&c.msgs[1], 2, 0, PROTO_STATUS_OK, NULL);
	assert_int_equal(c.msgs[1].m.length, 439);
	ph_free(&c);
}

static void test_pipelined_out_of_order(void **unused)
{
	/* OffsetCommit v8 and Heartbeat v4 sent back to back, answered in one read */
	uint8_t req[sizeof(k_mixed_1) + sizeof(k_mixed_3)];
	uint8_t resp[sizeof(k_mixed_4) + sizeof(k_mixed_2)];
	struct ph_event evs[2] = { EVA(EG, req), EVA(IN, resp) };
	struct ph_conv c;

	(void)unused;
	memcpy(req, k_mixed_1, sizeof(k_mixed_1));
	memcpy(req + sizeof(k_mixed_1), k_mixed_3, sizeof(k_mixed_3));
	memcpy(resp, k_mixed_4, sizeof(k_mixed_4));
	memcpy(resp + sizeof(k_mixed_4), k_mixed_2, sizeof(k_mixed_2));
	ph_run(&c, &proto_kafka_ops, &cli, evs, 2, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 4);
	assert_req(&c.msgs[0], "OffsetCommit", "8", 15551977);
	assert_req(&c.msgs[1], "Heartbeat", "4", 15551978);
	assert_int_equal(c.msgs[1].m.tcp_seq, PH_SEQ_EGRESS + sizeof(k_mixed_1));
	assert_resp(&c.msgs[2], 15551978, 0, PROTO_STATUS_OK, NULL);
	assert_string_equal(c.msgs[2].method, "Heartbeat");
	assert_resp(&c.msgs[3], 15551977, 0, PROTO_STATUS_OK, NULL);
	assert_string_equal(c.msgs[3].method, "OffsetCommit");
	ph_free(&c);
	ph_check_splits(&proto_kafka_ops, &cli, evs, 2, true);
}

static void test_error_names(void **unused)
{
	uint8_t hb[sizeof(k_mixed_4)], pr[sizeof(k_prod2_1)];
	struct ph_conv c;

	(void)unused;
	/* Heartbeat v4 response: size, corr, tags, throttle, error_code */
	memcpy(hb, k_mixed_4, sizeof(hb));
	hb[13] = 0;
	hb[14] = 27;
	run2(&c, &cli, k_mixed_3, sizeof(k_mixed_3), hb, sizeof(hb));
	assert_int_equal(c.nmsgs, 2);
	assert_resp(&c.msgs[1], 15551978, 27, PROTO_STATUS_SERVER_ERROR, "REBALANCE_IN_PROGRESS");
	ph_free(&c);

	/* Produce v2 response: the first partition's error code */
	memcpy(pr, k_prod2_1, sizeof(pr));
	pr[28] = 0;
	pr[29] = 3;
	run2(&c, &cli, k_prod2_0, sizeof(k_prod2_0), pr, sizeof(pr));
	assert_int_equal(c.nmsgs, 2);
	assert_resp(&c.msgs[1], 1, 3, PROTO_STATUS_SERVER_ERROR, "UNKNOWN_TOPIC_OR_PARTITION");
	ph_free(&c);

	/* A code beyond the table: the number, no name */
	pr[28] = 0x7f;
	pr[29] = 0;
	run2(&c, &cli, k_prod2_0, sizeof(k_prod2_0), pr, sizeof(pr));
	assert_resp(&c.msgs[1], 1, 0x7f00, PROTO_STATUS_SERVER_ERROR, NULL);
	ph_free(&c);
}

static void test_acks_zero_no_response(void **unused)
{
	uint8_t req[sizeof(k_prod2_0)];
	struct ph_event evs[1] = { EVA(EG, req) };
	struct ph_conv c;

	(void)unused;
	memcpy(req, k_prod2_0, sizeof(req));
	/* size 4, key 2, version 2, corr 4, client id 2 + 16: acks at 30 */
	assert_int_equal(req[30], 0);
	assert_int_equal(req[31], 1);
	req[31] = 0;
	ph_run(&c, &proto_kafka_ops, &cli, evs, 1, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 1);
	assert_req(&c.msgs[0], "Produce", "2", 1);
	assert_int_equal(c.msgs[0].m.flags, PROTO_MSG_F_NO_RESPONSE);
	ph_free(&c);
	ph_check_splits(&proto_kafka_ops, &cli, evs, 1, true);
}

/* A Produce v2 request whose record batch holds `body` bytes of value. */
static uint8_t *big_produce(size_t body, size_t *len)
{
	static const uint8_t head[] = {
		0, 0, 0,   0,				   /* size */
		0, 0, 0,   2,				   /* Produce v2 */
		0, 0, 0,   9,				   /* correlation id */
		0, 3, 'c', 'l', 'i',			   /* client id */
		0, 1, 0,   0,	0x75, 0x30,		   /* acks 1, timeout */
		0, 0, 0,   1,	0,    3,    't', 'o', 'p', /* one topic "top" */
		0, 0, 0,   1,	0,    0,    0,	 4,	   /* one partition, index 4 */
		0, 0, 0,   0,				   /* records size */
	};
	size_t n = sizeof(head) + body;
	uint8_t *p = calloc(1, n);

	assert_non_null(p);
	memcpy(p, head, sizeof(head));
	p[0] = (uint8_t)((n - 4) >> 24);
	p[1] = (uint8_t)((n - 4) >> 16);
	p[2] = (uint8_t)((n - 4) >> 8);
	p[3] = (uint8_t)(n - 4);
	p[sizeof(head) - 4] = (uint8_t)(body >> 24);
	p[sizeof(head) - 3] = (uint8_t)(body >> 16);
	p[sizeof(head) - 2] = (uint8_t)(body >> 8);
	p[sizeof(head) - 1] = (uint8_t)body;
	*len = n;
	return p;
}

static void test_large_batch_incremental(void **unused)
{
	size_t n, fed = 0;
	uint8_t *p = big_produce(300000, &n);
	struct ph_conv c;

	(void)unused;
	ph_init(&c, &proto_kafka_ops, &cli);
	while (fed < n) {
		size_t k = n - fed < 1500 ? n - fed : 1500;

		ph_feed(&c, EG, p + fed, k, 0, 1, 2, (uint32_t)(1000 + fed));
		/* never more than the head left unconsumed */
		assert_true(c.side[EG].len <= 4096);
		fed += k;
	}
	ph_feed(&c, IN, k_prod2_1, 4, 0, 3, 4, 1); /* only part of a response */
	assert_int_equal(c.nmsgs, 1);
	assert_req(&c.msgs[0], "Produce", "2", 9);
	assert_string_equal(c.msgs[0].resource, "top-4");
	assert_int_equal(c.msgs[0].m.length, n);
	assert_int_equal(c.msgs[0].m.tcp_seq, 1000);
	ph_free(&c);
	free(p);
}

static void test_gap_in_body(void **unused)
{
	size_t n;
	uint8_t *p = big_produce(20000, &n);
	uint8_t both[sizeof(k_prod2_0)];
	struct ph_event evs[3];
	struct ph_conv c;

	(void)unused;
	memcpy(both, k_prod2_0, sizeof(both));
	both[15] = 'X'; /* same message, another client id */
	/* 1000 bytes captured of the big request, the rest a gap; then a whole request */
	evs[0] = (struct ph_event){ EG, p, 1000, n - 1000 };
	evs[1] = (struct ph_event){ EG, both, sizeof(both), 0 };
	evs[2] = (struct ph_event){ IN, k_prod2_1, sizeof(k_prod2_1), 0 };
	ph_run(&c, &proto_kafka_ops, &cli, evs, 3, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 3);
	assert_req(&c.msgs[0], "Produce", "2", 9);
	assert_int_equal(c.msgs[0].m.length, n);
	assert_int_equal(c.msgs[0].m.flags, PROTO_MSG_F_TRUNCATED);
	assert_req(&c.msgs[1], "Produce", "2", 1);
	assert_int_equal(c.msgs[1].m.tcp_seq, PH_SEQ_EGRESS + n);
	assert_resp(&c.msgs[2], 1, 0, PROTO_STATUS_OK, NULL);
	ph_free(&c);
	ph_check_splits(&proto_kafka_ops, &cli, evs, 3, true);

	/* A gap that swallows the end and part of the next message: resync, then the
	 * request that starts a new event is parsed. */
	evs[0] = (struct ph_event){ EG, p, 1000, n - 1000 + 30 };
	ph_run(&c, &proto_kafka_ops, &cli, evs, 3, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 3);
	assert_int_equal(c.st.resyncs, 1);
	ph_free(&c);
	free(p);
}

static void test_resync_after_garbage(void **unused)
{
	static const uint8_t junk[] = "\xff\xff\xff\xffnot kafka at all, just bytes";
	struct ph_event evs[3] = { { EG, junk, sizeof(junk) - 1, 0 },
				   EVA(EG, k_prod2_0),
				   EVA(IN, k_prod2_1) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_kafka_ops, &cli, evs, 3, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "Produce", "2", 1);
	assert_resp(&c.msgs[1], 1, 0, PROTO_STATUS_OK, NULL);
	assert_int_equal(c.st.resyncs, 1);
	assert_int_equal(c.st.parse_errors, 1);
	ph_free(&c);
	ph_check_splits(&proto_kafka_ops, &cli, evs, 3, true);
}

static void test_malformed(void **unused)
{
	/* size 0, an api key out of range, a client id longer than the message */
	static const uint8_t zero[] = { 0, 0, 0, 0, 1, 2, 3, 4 };
	static const uint8_t badkey[] = { 0, 0, 0, 10, 0x7f, 0, 0, 1, 0, 0, 0, 1, 0, 0 };
	static const uint8_t badcl[] = { 0, 0, 0, 10, 0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0 };
	const uint8_t *cases[] = { zero, badkey, badcl };
	size_t lens[] = { sizeof(zero), sizeof(badkey), sizeof(badcl) };
	struct ph_conv c;

	(void)unused;
	for (size_t i = 0; i < 3; i++) {
		struct ph_event evs[1] = { { EG, cases[i], lens[i], 0 } };

		ph_run(&c, &proto_kafka_ops, &cli, evs, 1, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 0);
		assert_true(c.st.parse_errors >= 1);
		ph_free(&c);
		ph_check_splits(&proto_kafka_ops, &cli, evs, 1, true);
	}
}

static void test_close_truncated(void **unused)
{
	struct ph_event evs[1] = { { EG, k_prod2_0, 40, 0 } };
	size_t n;
	uint8_t *p = big_produce(10000, &n);
	struct ph_conv c;

	(void)unused;
	/* The head incomplete at close: nothing to say. */
	ph_run(&c, &proto_kafka_ops, &cli, evs, 1, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 0);
	ph_free(&c);
	/* The head seen, the body cut by the close: reported, truncated. */
	evs[0] = (struct ph_event){ EG, p, 5000, 0 };
	ph_run(&c, &proto_kafka_ops, &cli, evs, 1, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 1);
	assert_int_equal(c.msgs[0].m.flags, PROTO_MSG_F_TRUNCATED);
	ph_free(&c);
	free(p);
}

static void test_unmatched_response(void **unused)
{
	/* The request was never seen: the response's correlation id is all we know. */
	struct ph_event evs[2] = { EVA(EG, k_leave4_0), EVA(IN, k_join7_1) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_kafka_ops, &cli, evs, 2, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	assert_int_equal(c.msgs[1].m.kind, PROTO_MSG_RESPONSE);
	assert_null(c.msgs[1].method);
	assert_int_equal(c.msgs[1].m.session_id, 120);
	assert_int_equal(c.msgs[1].m.code, -1);
	ph_free(&c);
}

static void test_role_unknown_and_wrong(void **unused)
{
	struct ph_conv c;

	(void)unused;
	/* No context: the request's bytes tell the directions. */
	run2(&c, NULL, k_sync5_0, sizeof(k_sync5_0), k_sync5_1, sizeof(k_sync5_1));
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "SyncGroup", "5", 120);
	ph_free(&c);
	/* A role guessed wrong (a capture joined mid-stream): the bytes still decide. */
	{
		struct ph_event evs[2] = { EVA(IN, k_join7_0), EVA(EG, k_join7_1) };

		ph_run(&c, &proto_kafka_ops, &cli, evs, 2, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 2);
		assert_req(&c.msgs[0], "JoinGroup", "7", 120);
		assert_int_equal(c.msgs[1].m.kind, PROTO_MSG_RESPONSE);
		ph_free(&c);
	}
}

static void test_reset(void **unused)
{
	struct ph_conv c;

	(void)unused;
	ph_init(&c, &proto_kafka_ops, &cli);
	ph_feed(&c, EG, k_prod2_0, 20, 0, 1, 2, 1);
	proto_kafka_ops.reset(c.state, EG);
	ph_side_reset(&c.side[EG], 0);
	ph_feed(&c, EG, k_leave4_0, sizeof(k_leave4_0), 0, 3, 4, 100);
	ph_feed(&c, IN, k_leave4_1, sizeof(k_leave4_1), 0, 5, 6, 1);
	assert_int_equal(c.nmsgs, 2);
	assert_req(&c.msgs[0], "LeaveGroup", "4", 201);
	assert_resp(&c.msgs[1], 201, 0, PROTO_STATUS_OK, NULL);
	ph_free(&c);
}

static void test_detect(void **unused)
{
	const struct proto_ctx port = { .l4_proto = 6, .server_port = 9092 };
	const struct proto_ctx odd = { .l4_proto = 6, .server_port = 36333 };
	static const uint8_t http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t redis[] = "*1\r\n$4\r\nPING\r\n";
	static const uint8_t zeros[32];
	size_t n;
	uint8_t *p = big_produce(10000, &n);

	(void)unused;
	assert_int_equal(proto_kafka_ops.detect(k_prod2_0, sizeof(k_prod2_0), EG, NULL),
			 PROTO_DETECT_YES);
	assert_int_equal(proto_kafka_ops.detect(k_fetch12_0, sizeof(k_fetch12_0), EG, &odd),
			 PROTO_DETECT_YES);
	assert_int_equal(proto_kafka_ops.detect(k_apiv3_0, sizeof(k_apiv3_0), IN, &srv),
			 PROTO_DETECT_YES);
	/* a response alone is detected only when it happens to read like a request (a
	 * Produce v2 response does: correlation id 1 reads as Produce v1) */
	assert_int_equal(proto_kafka_ops.detect(k_leave4_1, sizeof(k_leave4_1), IN, NULL),
			 PROTO_DETECT_NO);
	assert_int_equal(proto_kafka_ops.detect(http, sizeof(http) - 1, EG, NULL), PROTO_DETECT_NO);
	assert_int_equal(proto_kafka_ops.detect(redis, sizeof(redis) - 1, EG, &port),
			 PROTO_DETECT_NO);
	assert_int_equal(proto_kafka_ops.detect(zeros, sizeof(zeros), EG, &port), PROTO_DETECT_NO);
	assert_int_equal(proto_kafka_ops.detect(k_prod2_0, 10, EG, NULL), PROTO_DETECT_NO);
	/* A large request's first piece: likely on 9092, possible elsewhere */
	assert_int_equal(proto_kafka_ops.detect(p, 1000, EG, &port), PROTO_DETECT_YES);
	assert_int_equal(proto_kafka_ops.detect(p, 1000, EG, NULL), PROTO_DETECT_MAYBE);
	assert_int_equal(proto_kafka_ops.detect(p, 1000, EG, &odd), PROTO_DETECT_NO);
	assert_int_equal(proto_kafka_ops.detect(NULL, 0, EG, NULL), PROTO_DETECT_NO);
	free(p);
}

static void test_values_not_kept(void **unused)
{
	struct ph_conv c;
	struct proto_ctx keep = cli;

	(void)unused;
	keep.opts = PROTO_OPT_KEEP_VALUES;
	/* record keys and values ("MyKey", "Hello Kafka") are never reported */
	for (int k = 0; k < 2; k++) {
		ph_run(&c, &proto_kafka_ops, k ? &keep : &cli,
		       (struct ph_event[]){ EVA(EG, k_prod7_0) }, 1, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 1);
		for (size_t i = 0; i < c.nmsgs; i++) {
			const char *f[] = { c.msgs[i].domain, c.msgs[i].resource,
					    c.msgs[i].endpoint, c.msgs[i].result };

			for (size_t j = 0; j < 4; j++)
				assert_true(!f[j] ||
					    (!strstr(f[j], "Hello") && !strstr(f[j], "MyKey")));
		}
		ph_free(&c);
	}
}

static void test_bad_arguments(void **unused)
{
	struct proto_stats st = { 0 };
	struct proto_input in = { .dir = 7 };
	uint8_t state[4096] = { 0 };

	(void)unused;
	assert_true(proto_kafka_ops.state_size <= sizeof(state));
	assert_int_equal(proto_kafka_ops.parse(state, &in, NULL, NULL, &st), PROTO_ERROR);
	assert_int_equal(proto_kafka_ops.parse(NULL, &in, NULL, NULL, NULL), PROTO_ERROR);
	proto_kafka_ops.on_close(NULL, 0, NULL, NULL, NULL);
	proto_kafka_ops.on_close(state, 0, NULL, NULL, NULL);
	proto_kafka_ops.reset(NULL, EG);
	ph_check_registered(&proto_kafka_ops, PROTO_KAFKA, "Kafka");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_produce_v2),
		cmocka_unit_test(test_produce_v7_sw8),
		cmocka_unit_test(test_produce_v9_flexible),
		cmocka_unit_test(test_fetch_v12),
		cmocka_unit_test(test_group_apis),
		cmocka_unit_test(test_pipelined_out_of_order),
		cmocka_unit_test(test_error_names),
		cmocka_unit_test(test_acks_zero_no_response),
		cmocka_unit_test(test_large_batch_incremental),
		cmocka_unit_test(test_gap_in_body),
		cmocka_unit_test(test_resync_after_garbage),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_close_truncated),
		cmocka_unit_test(test_unmatched_response),
		cmocka_unit_test(test_role_unknown_and_wrong),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_values_not_kept),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
