/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the MQTT parser: the packets of the reference captures (mqtt_roundtrip,
 * mqtt_connect, mqtt_sub, mqtt_pub), MQTT 5 packets with properties and reason codes, a
 * subscriber's side of QoS 1 and 2 deliveries, several packets in one segment, a large
 * PUBLISH streamed through, gaps, garbage and resync, detection; every fixture is also
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
#define SRV    (1u << 16)

static const struct proto_ctx cli = { .l4_proto = 6,
				      .role = PROTO_ROLE_CLIENT,
				      .server_port = 1883 };
static const struct proto_ctx srv = { .l4_proto = 6,
				      .role = PROTO_ROLE_SERVER,
				      .server_port = 1883 };
static const struct proto_ctx unk = { .l4_proto = 6 };

static void expect(const struct ph_conv *c, size_t i, enum proto_msg_kind kind, const char *type,
		   const char *res, uint32_t flags)
{
	const struct ph_msg *m;

	if (i >= c->nmsgs)
		fail_msg("message %zu missing (%zu)", i, c->nmsgs);
	m = &c->msgs[i];
	assert_int_equal(m->m.kind, kind);
	assert_string_equal(m->method, type);
	if (res) {
		assert_non_null(m->resource);
		assert_string_equal(m->resource, res);
		assert_string_equal(m->endpoint, res);
	} else {
		assert_null(m->resource);
	}
	assert_int_equal(m->m.flags, flags);
	if (kind == PROTO_MSG_REQUEST)
		assert_int_equal(m->m.code, -1);
}

static void expect_id(const struct ph_conv *c, size_t i, bool has, uint32_t id, uint32_t session)
{
	const struct proto_msg *m = &c->msgs[i].m;

	assert_int_equal(m->has_request_id, has);
	assert_int_equal(m->has_session_id, has);
	if (has) {
		assert_int_equal(m->request_id, id);
		assert_int_equal(m->session_id, session);
	}
}

static void expect_code(const struct ph_conv *c, size_t i, int32_t code, uint8_t status,
			const char *exc)
{
	const struct ph_msg *m = &c->msgs[i];

	assert_int_equal(m->m.code, code);
	assert_int_equal(m->m.status, status);
	if (exc)
		assert_string_equal(m->exception, exc);
	else
		assert_null(m->exception);
}

/* mqtt_roundtrip.pcap (MQTTX, MQTT 3.1.1): every packet of the capture, one per segment. */
#define RT_CONNECT  "\x10\x1a\x00\x04MQTT\x04\x02\x00\x0a\x00\x0emqttx_eaf9a0c9"
#define RT_CONNACK  "\x20\x02\x00\x00"
#define RT_SUB1	    "\x82\x0e\x30\x75\x00\x09testtopic\x00"
#define RT_SUBACK1  "\x90\x03\x30\x75\x00"
#define RT_UNSUB    "\xa2\x0d\x30\x76\x00\x09testtopic"
#define RT_UNSUBACK "\xb0\x02\x30\x76"
#define RT_PINGREQ  "\xc0\x00"
#define RT_PINGRESP "\xd0\x00"
#define RT_SUB3                                                                                    \
	"\x82\x2f\x30\x77\x00\x07yunshan\x01\x00\x0e"                                              \
	"deepflow-agent\x01\x00\x0f"                                                               \
	"deepflow-server\x01"
#define RT_SUBACK3 "\x90\x05\x30\x77\x01\x01\x01"
#define RT_PUB0                                                                                    \
	"\x30\x21\x00\x0e"                                                                         \
	"deepflow-agentrust \xe7\x89\x9b\xe9\x80\xbc\r\n\r\n\r\n"
#define RT_PUB1                                                                                    \
	"\x32\x23\x00\x0e"                                                                         \
	"deepflow-agent\x30\x78rust \xe7\x89\x9b\xe9\x80\xbc\r\n\r\n\r\n"
#define RT_PUBACK "\x40\x02\x30\x78"
#define RT_PUB2                                                                                    \
	"\x34\x23\x00\x0e"                                                                         \
	"deepflow-agent\x30\x79rust \xe7\x89\x9b\xe9\x80\xbc\r\n\r\n\r\n"
#define RT_PUBREC     "\x50\x02\x30\x79"
#define RT_PUBREL     "\x62\x02\x30\x79"
#define RT_PUBCOMP    "\x70\x02\x30\x79"
#define RT_DISCONNECT "\xe0\x00"

static void check_roundtrip(const struct ph_conv *c, enum proto_dir req_dir)
{
	assert_int_equal(c->st.parse_errors, 0);
	assert_int_equal(c->nmsgs, 18);
	expect(c, 0, PROTO_MSG_REQUEST, "CONNECT", NULL, 0);
	assert_string_equal(c->msgs[0].domain, "mqttx_eaf9a0c9");
	assert_string_equal(c->msgs[0].version, "3.1.1");
	assert_int_equal(c->msgs[0].m.dir, req_dir);
	assert_int_equal(c->msgs[0].m.length, 28);
	expect_id(c, 0, false, 0, 0);
	expect(c, 1, PROTO_MSG_RESPONSE, "CONNACK", NULL, 0);
	expect_code(c, 1, 0, PROTO_STATUS_OK, NULL);
	assert_int_equal(c->msgs[1].m.length, 4);
	expect(c, 2, PROTO_MSG_REQUEST, "SUBSCRIBE", "testtopic", 0);
	assert_string_equal(c->msgs[2].domain, "mqttx_eaf9a0c9");
	expect_id(c, 2, true, 12405, 12405);
	expect(c, 3, PROTO_MSG_RESPONSE, "SUBACK", NULL, 0);
	expect_code(c, 3, -1, PROTO_STATUS_OK, NULL);
	expect_id(c, 3, true, 12405, 12405);
	expect(c, 4, PROTO_MSG_REQUEST, "UNSUBSCRIBE", "testtopic", 0);
	expect_id(c, 4, true, 12406, 12406);
	expect(c, 5, PROTO_MSG_RESPONSE, "UNSUBACK", NULL, 0);
	expect_id(c, 5, true, 12406, 12406);
	expect(c, 6, PROTO_MSG_REQUEST, "PINGREQ", NULL, 0);
	expect_id(c, 6, false, 0, 0);
	assert_int_equal(c->msgs[6].m.length, 2);
	expect(c, 7, PROTO_MSG_RESPONSE, "PINGRESP", NULL, 0);
	expect(c, 8, PROTO_MSG_REQUEST, "SUBSCRIBE", "yunshan,deepflow-agent,deepflow-server", 0);
	assert_int_equal(c->msgs[8].m.length, 49);
	expect(c, 9, PROTO_MSG_RESPONSE, "SUBACK", NULL, 0);
	expect_code(c, 9, -1, PROTO_STATUS_OK, NULL);
	expect(c, 10, PROTO_MSG_REQUEST, "PUBLISH", "deepflow-agent", NORESP);
	expect_id(c, 10, false, 0, 0);
	assert_int_equal(c->msgs[10].m.length, 35);
	expect(c, 11, PROTO_MSG_REQUEST, "PUBLISH", "deepflow-agent", 0);
	expect_id(c, 11, true, 12408, 12408);
	expect(c, 12, PROTO_MSG_RESPONSE, "PUBACK", NULL, 0);
	expect_id(c, 12, true, 12408, 12408);
	expect(c, 13, PROTO_MSG_REQUEST, "PUBLISH", "deepflow-agent", 0);
	expect_id(c, 13, true, 12409, 12409);
	expect(c, 14, PROTO_MSG_RESPONSE, "PUBREC", NULL, 0);
	expect_id(c, 14, true, 12409, 12409);
	expect(c, 15, PROTO_MSG_REQUEST, "PUBREL", NULL, 0);
	expect_id(c, 15, true, 12409, 12409);
	expect(c, 16, PROTO_MSG_RESPONSE, "PUBCOMP", NULL, 0);
	expect_id(c, 16, true, 12409, 12409);
	expect(c, 17, PROTO_MSG_REQUEST, "DISCONNECT", NULL, NORESP);
	for (size_t i = 0; i < c->nmsgs; i++)
		assert_string_equal(c->msgs[i].version, "3.1.1");
}

static void test_capture_roundtrip(void **unused)
{
	const struct ph_event evs[] = {
		PH_EV(EG, RT_CONNECT), PH_EV(IN, RT_CONNACK),  PH_EV(EG, RT_SUB1),
		PH_EV(IN, RT_SUBACK1), PH_EV(EG, RT_UNSUB),    PH_EV(IN, RT_UNSUBACK),
		PH_EV(EG, RT_PINGREQ), PH_EV(IN, RT_PINGRESP), PH_EV(EG, RT_SUB3),
		PH_EV(IN, RT_SUBACK3), PH_EV(EG, RT_PUB0),     PH_EV(EG, RT_PUB1),
		PH_EV(IN, RT_PUBACK),  PH_EV(EG, RT_PUB2),     PH_EV(IN, RT_PUBREC),
		PH_EV(EG, RT_PUBREL),  PH_EV(IN, RT_PUBCOMP),  PH_EV(EG, RT_DISCONNECT),
	};
	const struct ph_event sevs[] = {
		PH_EV(IN, RT_CONNECT), PH_EV(EG, RT_CONNACK),  PH_EV(IN, RT_SUB1),
		PH_EV(EG, RT_SUBACK1), PH_EV(IN, RT_UNSUB),    PH_EV(EG, RT_UNSUBACK),
		PH_EV(IN, RT_PINGREQ), PH_EV(EG, RT_PINGRESP), PH_EV(IN, RT_SUB3),
		PH_EV(EG, RT_SUBACK3), PH_EV(IN, RT_PUB0),     PH_EV(IN, RT_PUB1),
		PH_EV(EG, RT_PUBACK),  PH_EV(IN, RT_PUB2),     PH_EV(EG, RT_PUBREC),
		PH_EV(IN, RT_PUBREL),  PH_EV(EG, RT_PUBCOMP),  PH_EV(IN, RT_DISCONNECT),
	};
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_mqtt_ops, &cli, evs, N(evs), PH_WHOLE, true);
	check_roundtrip(&c, EG);
	assert_int_equal(c.msgs[0].m.tcp_seq, PH_SEQ_EGRESS);
	assert_int_equal(c.msgs[0].m.start_ts, PH_TS_START(0));
	assert_int_equal(c.msgs[0].m.end_ts, PH_TS_END(0));
	assert_int_equal(c.msgs[1].m.tcp_seq, PH_SEQ_INGRESS);
	assert_int_equal(c.msgs[2].m.tcp_seq, PH_SEQ_EGRESS + 28);
	ph_free(&c);
	ph_check_splits(&proto_mqtt_ops, &cli, evs, N(evs), true);
	/* the broker's side: directions swapped */
	ph_run(&c, &proto_mqtt_ops, &srv, sevs, N(sevs), PH_WHOLE, true);
	check_roundtrip(&c, IN);
	ph_free(&c);
	/* role unknown: CONNECT tells the client */
	ph_run(&c, &proto_mqtt_ops, &unk, sevs, N(sevs), PH_WHOLE, true);
	check_roundtrip(&c, IN);
	ph_free(&c);
	ph_run(&c, &proto_mqtt_ops, NULL, evs, N(evs), PH_WHOLE, true);
	check_roundtrip(&c, EG);
	ph_free(&c);
}

/* All of a direction's packets in one write, answered in one write. */
static void test_several_per_segment(void **unused)
{
	static const char req[] = RT_CONNECT RT_SUB1 RT_UNSUB RT_PINGREQ RT_SUB3 RT_PUB0 RT_PUB1
		RT_PUB2 RT_PUBREL RT_DISCONNECT;
	static const char resp[] = RT_CONNACK RT_SUBACK1 RT_UNSUBACK RT_PINGRESP RT_SUBACK3
		RT_PUBACK RT_PUBREC RT_PUBCOMP;
	const struct ph_event evs[] = { PH_EV(EG, req), PH_EV(IN, resp) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_mqtt_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 18);
	expect(&c, 0, PROTO_MSG_REQUEST, "CONNECT", NULL, 0);
	expect(&c, 3, PROTO_MSG_REQUEST, "PINGREQ", NULL, 0);
	expect(&c, 4, PROTO_MSG_REQUEST, "SUBSCRIBE", "yunshan,deepflow-agent,deepflow-server", 0);
	assert_int_equal(c.msgs[4].m.tcp_seq, PH_SEQ_EGRESS + 28 + 16 + 15 + 2);
	expect(&c, 5, PROTO_MSG_REQUEST, "PUBLISH", "deepflow-agent", NORESP);
	expect(&c, 9, PROTO_MSG_REQUEST, "DISCONNECT", NULL, NORESP);
	expect(&c, 10, PROTO_MSG_RESPONSE, "CONNACK", NULL, 0);
	expect(&c, 17, PROTO_MSG_RESPONSE, "PUBCOMP", NULL, 0);
	assert_int_equal(c.msgs[17].m.tcp_seq, PH_SEQ_INGRESS + 4 + 5 + 4 + 2 + 7 + 4 + 4);
	ph_free(&c);
	ph_check_splits(&proto_mqtt_ops, &cli, evs, N(evs), true);
}

/* mqtt_connect.pcap (a will message, MQTT 3.1.1), mqtt_sub.pcap (joined after CONNECT). */
static void test_capture_connect_and_sub(void **unused)
{
	static const char connect[] = "\x10\x29\x00\x04MQTT\x04\x06\x00\x05\x00\x06test-1"
				      "\x00\x0bhello/world\x00\x08good bye";
	static const char sub[] = "\x82\x12\x00\x01\x00\x0dhello/+/world\x00";
	static const char suback[] = "\x90\x03\x00\x01\x00";
	const struct ph_event evs[] = { PH_EV(EG, connect), PH_EV(IN, RT_CONNACK) };
	const struct ph_event evs2[] = { PH_EV(EG, sub), PH_EV(IN, suback) };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_mqtt_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	expect(&c, 0, PROTO_MSG_REQUEST, "CONNECT", NULL, 0);
	assert_string_equal(c.msgs[0].domain, "test-1");
	assert_int_equal(c.msgs[0].m.length, 43);
	expect(&c, 1, PROTO_MSG_RESPONSE, "CONNACK", NULL, 0);
	expect_code(&c, 1, 0, PROTO_STATUS_OK, NULL);
	ph_free(&c);
	ph_check_splits(&proto_mqtt_ops, &cli, evs, N(evs), true);

	ph_run(&c, &proto_mqtt_ops, &cli, evs2, N(evs2), PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	expect(&c, 0, PROTO_MSG_REQUEST, "SUBSCRIBE", "hello/+/world", 0);
	assert_null(c.msgs[0].version); /* no CONNECT seen */
	assert_null(c.msgs[0].domain);
	expect_id(&c, 0, true, 1, 1);
	expect(&c, 1, PROTO_MSG_RESPONSE, "SUBACK", NULL, 0);
	ph_free(&c);
	ph_check_splits(&proto_mqtt_ops, &cli, evs2, N(evs2), true);
}

/* MQTT 5: properties everywhere, reason codes, failures. */
#define V5_CONNECT                                                                                 \
	"\x10\x15\x00\x04MQTT\x05\x02\x00\x3c\x05\x11\x00\x00\x00\x0a\x00\x03"                     \
	"c5x"
#define V5_CONNACK "\x20\x06\x00\x00\x03\x21\x00\x0a"
#define V5_PUB1                                                                                    \
	"\x32\x0a\x00\x03"                                                                         \
	"a/b\x00\x05\x00hi"
#define V5_PUBACK "\x40\x03\x00\x05\x10"
#define V5_PUB1B                                                                                   \
	"\x32\x0a\x00\x03"                                                                         \
	"a/b\x00\x09\x00hi"
#define V5_PUBACK_Q  "\x40\x04\x00\x09\x97\x00"
#define V5_SUB	     "\x82\x0f\x00\x06\x02\x0b\x01\x00\x03x/#\x01\x00\x01y\x00"
#define V5_SUBACK    "\x90\x06\x00\x06\x00\x01\x87\x00"
#define V5_UNSUB     "\xa2\x08\x00\x07\x00\x00\x03x/#"
#define V5_UNSUBACK  "\xb0\x04\x00\x07\x00\x11"
#define V5_PUB_ALIAS "\x30\x08\x00\x00\x03\x23\x00\x01z!"
#define V5_DISC_SRV  "\xe0\x02\x8b\x00"

static void test_mqtt5(void **unused)
{
	const struct ph_event evs[] = {
		PH_EV(EG, V5_CONNECT),	PH_EV(IN, V5_CONNACK),	 PH_EV(EG, V5_PUB1),
		PH_EV(IN, V5_PUBACK),	PH_EV(EG, V5_PUB1B),	 PH_EV(IN, V5_PUBACK_Q),
		PH_EV(EG, V5_SUB),	PH_EV(IN, V5_SUBACK),	 PH_EV(EG, V5_UNSUB),
		PH_EV(IN, V5_UNSUBACK), PH_EV(EG, V5_PUB_ALIAS), PH_EV(IN, V5_DISC_SRV),
	};
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_mqtt_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 12);
	expect(&c, 0, PROTO_MSG_REQUEST, "CONNECT", NULL, 0);
	assert_string_equal(c.msgs[0].domain, "c5x");
	assert_string_equal(c.msgs[0].version, "5");
	expect(&c, 1, PROTO_MSG_RESPONSE, "CONNACK", NULL, 0);
	expect_code(&c, 1, 0, PROTO_STATUS_OK, NULL);
	expect(&c, 2, PROTO_MSG_REQUEST, "PUBLISH", "a/b", 0);
	expect_id(&c, 2, true, 5, 5);
	expect(&c, 3, PROTO_MSG_RESPONSE, "PUBACK", NULL, 0);
	expect_code(&c, 3, 0x10, PROTO_STATUS_OK, NULL); /* no matching subscribers */
	expect(&c, 5, PROTO_MSG_RESPONSE, "PUBACK", NULL, 0);
	expect_code(&c, 5, 0x97, PROTO_STATUS_SERVER_ERROR, "quota exceeded");
	expect(&c, 6, PROTO_MSG_REQUEST, "SUBSCRIBE", "x/#,y", 0);
	expect_id(&c, 6, true, 6, 6);
	expect(&c, 7, PROTO_MSG_RESPONSE, "SUBACK", NULL, 0);
	expect_code(&c, 7, 0x87, PROTO_STATUS_CLIENT_ERROR, "not authorized");
	expect(&c, 8, PROTO_MSG_REQUEST, "UNSUBSCRIBE", "x/#", 0);
	expect(&c, 9, PROTO_MSG_RESPONSE, "UNSUBACK", NULL, 0);
	expect_code(&c, 9, -1, PROTO_STATUS_OK, NULL);
	expect(&c, 10, PROTO_MSG_REQUEST, "PUBLISH", NULL, NORESP); /* a topic alias */
	expect(&c, 11, PROTO_MSG_RESPONSE, "DISCONNECT", NULL, UNSOL);
	expect_code(&c, 11, 0x8b, PROTO_STATUS_SERVER_ERROR, "server shutting down");
	ph_free(&c);
	ph_check_splits(&proto_mqtt_ops, &cli, evs, N(evs), true);
}

static void test_connack_refused(void **unused)
{
	const struct ph_event v3[] = { PH_EV(EG, RT_CONNECT), PH_EV(IN, "\x20\x02\x00\x05") };
	const struct ph_event v5[] = { PH_EV(EG, V5_CONNECT), PH_EV(IN, "\x20\x03\x00\x86\x00") };
	const struct ph_event v3s[] = { PH_EV(EG, RT_CONNECT), PH_EV(IN, "\x20\x02\x00\x03") };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_mqtt_ops, &cli, v3, 2, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	expect_code(&c, 1, 5, PROTO_STATUS_CLIENT_ERROR, "not authorized");
	ph_free(&c);
	ph_run(&c, &proto_mqtt_ops, &cli, v3s, 2, PH_WHOLE, true);
	expect_code(&c, 1, 3, PROTO_STATUS_SERVER_ERROR, "server unavailable");
	ph_free(&c);
	ph_run(&c, &proto_mqtt_ops, &cli, v5, 2, PH_WHOLE, true);
	expect_code(&c, 1, 0x86, PROTO_STATUS_CLIENT_ERROR, "bad user name or password");
	ph_free(&c);
}

/* A subscriber's connection: the broker starts the deliveries. */
static void test_subscriber_side(void **unused)
{
	const struct ph_event evs[] = {
		PH_EV(IN, "\x32\x0a\x00\x03"
			  "a/b\x00\x07hi!"),
		PH_EV(EG, "\x40\x02\x00\x07"),
		PH_EV(IN, "\x34\x09\x00\x03"
			  "a/b\x00\x08ok"),
		PH_EV(EG, "\x50\x02\x00\x08"),
		PH_EV(IN, "\x62\x02\x00\x08"),
		PH_EV(EG, "\x70\x02\x00\x08"),
		PH_EV(IN, "\x30\x07\x00\x03"
			  "a/bhi"),
	};
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_mqtt_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 7);
	expect(&c, 0, PROTO_MSG_RESPONSE, "PUBLISH", "a/b", UNSOL);
	expect_id(&c, 0, true, 7, 7 | SRV);
	expect(&c, 1, PROTO_MSG_REQUEST, "PUBACK", NULL, NORESP);
	expect_id(&c, 1, true, 7, 7 | SRV);
	expect(&c, 2, PROTO_MSG_RESPONSE, "PUBLISH", "a/b", UNSOL);
	expect(&c, 3, PROTO_MSG_REQUEST, "PUBREC", NULL, NORESP);
	expect(&c, 4, PROTO_MSG_RESPONSE, "PUBREL", NULL, UNSOL);
	expect_id(&c, 4, true, 8, 8 | SRV);
	expect(&c, 5, PROTO_MSG_REQUEST, "PUBCOMP", NULL, NORESP);
	expect(&c, 6, PROTO_MSG_RESPONSE, "PUBLISH", "a/b", UNSOL);
	expect_id(&c, 6, false, 0, 0);
	ph_free(&c);
	ph_check_splits(&proto_mqtt_ops, &cli, evs, N(evs), true);
}

/* A 1 MB PUBLISH streams through; a gap inside its payload counts against it. */
static void test_big_publish(void **unused)
{
	size_t plen = 1000000, rem = 2 + 5 + 2 + plen, n = 0;
	uint8_t *pkt = malloc(rem + 8);
	struct ph_conv c;

	(void)unused;
	assert_non_null(pkt);
	pkt[n++] = 0x32;
	for (size_t v = rem;;) {
		uint8_t b = v & 0x7f;

		v >>= 7;
		pkt[n++] = (uint8_t)(b | (v ? 0x80 : 0));
		if (!v)
			break;
	}
	memcpy(pkt + n, "\x00\x05topic\x01\x02", 9);
	n += 9;
	memset(pkt + n, 'x', plen);
	n += plen;
	{
		struct ph_event evs[3] = { PH_EV(EG, RT_CONNECT), PH_EVB(EG, pkt, n),
					   PH_EV(IN, RT_CONNACK "\x40\x02\x01\x02") };

		ph_init(&c, &proto_mqtt_ops, &cli);
		ph_feed(&c, EG, evs[0].data, evs[0].len, 0, 1, 2, 100);
		for (size_t off = 0; off < n; off += 65536) {
			size_t k = n - off < 65536 ? n - off : 65536;

			ph_feed(&c, EG, pkt + off, k, 0, 10 + off, 11 + off, 200 + (uint32_t)off);
			assert_true(c.side[EG].len < 4096 + 8);
		}
		assert_int_equal(c.nmsgs, 2);
		expect(&c, 0, PROTO_MSG_REQUEST, "CONNECT", NULL, 0);
		expect(&c, 1, PROTO_MSG_REQUEST, "PUBLISH", "topic", 0);
		assert_int_equal(c.msgs[1].m.start_ts, 10);
		assert_int_equal(c.msgs[1].m.end_ts, 11 + (n - 1) / 65536 * 65536);
		ph_free(&c);

		ph_run(&c, &proto_mqtt_ops, &cli, evs, 3, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 4);
		expect(&c, 1, PROTO_MSG_REQUEST, "PUBLISH", "topic", 0);
		assert_int_equal(c.msgs[1].m.length, n);
		expect_id(&c, 1, true, 0x102, 0x102);
		expect(&c, 3, PROTO_MSG_RESPONSE, "PUBACK", NULL, 0);
		ph_free(&c);
		/* most of it not captured */
		evs[1] = (struct ph_event){ EG, pkt, 3000, n - 3000 };
		ph_run(&c, &proto_mqtt_ops, &cli, evs, 3, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 4);
		expect(&c, 1, PROTO_MSG_REQUEST, "PUBLISH", "topic", 0);
		assert_int_equal(c.msgs[1].m.length, n);
		assert_int_equal(c.st.resyncs, 0);
		ph_free(&c);
	}
	free(pkt);
}

/* Garbage is an error; the direction resumes at an event that begins like a packet. */
static void test_garbage_and_resync(void **unused)
{
	const struct ph_event evs[] = {
		PH_EV(EG, RT_CONNECT),
		PH_EV(IN, RT_CONNACK),
		PH_EV(EG, "\x00\x01garbage"), /* type 0 is reserved */
		PH_EV(EG, "more garbage"),    /* 'm' = 0x6d: PUBREL with flags 0xd: skipped */
		PH_EV(EG, "\xc0\x00\x30\x05\x00\x09zz"), /* PINGREQ, then a topic too long */
		PH_EV(IN, "\xd1\x00"),			 /* PINGRESP with flags: malformed */
		PH_EV(IN, "\x90\x03\x00\x01\x00"),	 /* resync */
		PH_EV(EG, "\x82\x80\x80\x80\x80\x01"),	 /* no packet starts so: skipped */
		PH_EV(EG, "\x90\x03\x00\x01\x00"),	 /* the broker's packet from the client */
		PH_EV(EG, "\xe0\x00"),
		PH_EV(EG, "\x82\x80\x80\x80\x80\x01"), /* a 5-byte varint */
	};
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_mqtt_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 5);
	assert_int_equal(c.errors, 5);
	assert_int_equal(c.nmsgs, 5);
	expect(&c, 0, PROTO_MSG_REQUEST, "CONNECT", NULL, 0);
	expect(&c, 1, PROTO_MSG_RESPONSE, "CONNACK", NULL, 0);
	expect(&c, 2, PROTO_MSG_REQUEST, "PINGREQ", NULL, 0);
	expect(&c, 3, PROTO_MSG_RESPONSE, "SUBACK", NULL, 0);
	expect(&c, 4, PROTO_MSG_REQUEST, "DISCONNECT", NULL, NORESP);
	assert_int_equal(c.st.resyncs, 4);
	ph_free(&c);
}

/* A fixed header cut by a gap: the packet's end is unknown; a head cut short is truncated. */
static void test_gaps(void **unused)
{
	struct ph_event evs[] = {
		PH_EV(EG, RT_CONNECT),
		PH_EV(EG, "\x32"),
		PH_EV(EG, "\xc0\x00"),
		PH_EV(EG, "\x32\x23\x00\x0e"
			  "deep"),
		PH_EV(EG, "\xc0\x00"),
	};
	struct ph_conv c;

	(void)unused;
	evs[1].gap = 10;
	evs[3].gap = 35 + 2 - 8;
	ph_run(&c, &proto_mqtt_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 4);
	expect(&c, 0, PROTO_MSG_REQUEST, "CONNECT", NULL, 0);
	expect(&c, 1, PROTO_MSG_REQUEST, "PINGREQ", NULL, 0); /* after the resync */
	expect(&c, 2, PROTO_MSG_REQUEST, "PUBLISH", "deep", PROTO_MSG_F_TRUNCATED);
	assert_int_equal(c.msgs[2].m.length, 37);
	expect(&c, 3, PROTO_MSG_REQUEST, "PINGREQ", NULL, 0);
	ph_free(&c);
}

/* A packet the connection's close cuts short is reported truncated. */
static void test_close_mid_packet(void **unused)
{
	const struct ph_event evs[] = { PH_EV(EG, RT_CONNECT),
					PH_EV(EG, "\x32\x23\x00\x0e"
						  "deepflow-agent\x30\x78rust") };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_mqtt_ops, &cli, evs, N(evs), PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 1);
	ph_free(&c);
	/* the head is complete only once all of it is there (it is shorter than MQ_HEAD):
	 * the close finds it waiting, unreported */
	ph_run(&c, &proto_mqtt_ops, &cli, evs, N(evs), PH_WHOLE, false);
	assert_int_equal(c.nmsgs, 1);
	assert_true(c.side[EG].len > 0);
	ph_free(&c);
}

/*
 * mosquitto reads a packet's fixed header byte by byte, then its body: before the
 * connection is known to be MQTT those first reads go unclassified, so the parser starts
 * with a CONNECT body (stream_off says how many bytes went by), then gets the next packets
 * one read at a time.
 */
static void test_broker_reads_apart(void **unused)
{
	static const char body[] = "\x00\x04MQTT\x04\x02\x00\x0a\x00\x0emqttx_eaf9a0c9";
	static const char v5body[] = "\x00\x04MQTT\x05\xc6\x00\x3c\x00\x00\x03"
				     "c5x\x02\x01\x01\x00\x01t\x00\x01m\x00\x01u\x00\x02pw";
	struct ph_conv c;

	(void)unused;
	assert_int_equal(
		proto_mqtt_ops.detect((const uint8_t *)body, sizeof(body) - 1, IN,
				      &(struct proto_ctx){ 6, PROTO_ROLE_SERVER, 40000, 0 }),
		PROTO_DETECT_YES);
	assert_int_equal(proto_mqtt_ops.detect((const uint8_t *)"\x10", 1, IN, &srv),
			 PROTO_DETECT_MAYBE);
	ph_init(&c, &proto_mqtt_ops, &srv);
	c.side[IN].stream_off = 2;
	ph_feed(&c, IN, (const uint8_t *)body, sizeof(body) - 1, 0, 10, 11, 1002);
	ph_feed(&c, EG, (const uint8_t *)RT_CONNACK, 4, 0, 20, 21, 5000);
	ph_feed(&c, IN, (const uint8_t *)RT_SUB1, 1, 0, 30, 31, 1028);
	ph_feed(&c, IN, (const uint8_t *)RT_SUB1 + 1, 1, 0, 32, 33, 1029);
	ph_feed(&c, IN, (const uint8_t *)RT_SUB1 + 2, sizeof(RT_SUB1) - 3, 0, 34, 35, 1030);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 3);
	expect(&c, 0, PROTO_MSG_REQUEST, "CONNECT", NULL, 0);
	assert_string_equal(c.msgs[0].domain, "mqttx_eaf9a0c9");
	assert_int_equal(c.msgs[0].m.length, 28);
	assert_int_equal(c.msgs[0].m.tcp_seq, 1000);
	expect(&c, 1, PROTO_MSG_RESPONSE, "CONNACK", NULL, 0);
	expect(&c, 2, PROTO_MSG_REQUEST, "SUBSCRIBE", "testtopic", 0);
	assert_int_equal(c.msgs[2].m.start_ts, 30);
	assert_int_equal(c.msgs[2].m.end_ts, 35);
	ph_free(&c);
	/* MQTT 5 with a will (and its properties), a user name and a password */
	ph_init(&c, &proto_mqtt_ops, &srv);
	c.side[IN].stream_off = 2;
	ph_feed(&c, IN, (const uint8_t *)v5body, 10, 0, 10, 11, 1002);
	ph_feed(&c, IN, (const uint8_t *)v5body + 10, sizeof(v5body) - 11, 0, 10, 11, 1012);
	ph_feed(&c, IN, (const uint8_t *)"\xc0\x00", 2, 0, 12, 13, 1002 + sizeof(v5body) - 1);
	assert_int_equal(c.st.parse_errors, 0);
	assert_int_equal(c.nmsgs, 2);
	expect(&c, 0, PROTO_MSG_REQUEST, "CONNECT", NULL, 0);
	assert_string_equal(c.msgs[0].domain, "c5x");
	assert_string_equal(c.msgs[0].version, "5");
	assert_int_equal(c.msgs[0].m.length, sizeof(v5body) - 1 + 2);
	expect(&c, 1, PROTO_MSG_REQUEST, "PINGREQ", NULL, 0);
	ph_free(&c);
}

static void test_detect(void **unused)
{
	const struct proto_ctx other = { .l4_proto = 6,
					 .role = PROTO_ROLE_CLIENT,
					 .server_port = 9000 };
	const struct proto_ctx udp = { .l4_proto = 17, .server_port = 1883 };
	static const char v31[] = "\x10\x12\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x02id";
	const struct {
		const char *s;
		size_t n;
		const struct proto_ctx *ctx;
		enum proto_dir dir;
		enum proto_detect want;
	} cases[] = {
		{ RT_CONNECT, sizeof(RT_CONNECT) - 1, &cli, EG, PROTO_DETECT_YES },
		{ RT_CONNECT, sizeof(RT_CONNECT) - 1, &other, EG, PROTO_DETECT_YES },
		{ RT_CONNECT, sizeof(RT_CONNECT) - 1, NULL, EG, PROTO_DETECT_YES },
		{ RT_CONNECT, sizeof(RT_CONNECT) - 1, &srv, IN, PROTO_DETECT_YES },
		{ RT_CONNECT, sizeof(RT_CONNECT) - 1, &srv, EG, PROTO_DETECT_NO },
		{ RT_CONNECT, sizeof(RT_CONNECT) - 1, &udp, EG, PROTO_DETECT_NO },
		{ RT_CONNECT, 12, &other, EG, PROTO_DETECT_YES }, /* the start is enough */
		{ RT_CONNECT, 6, &other, EG, PROTO_DETECT_NO },
		{ V5_CONNECT, sizeof(V5_CONNECT) - 1, &other, EG, PROTO_DETECT_YES },
		{ v31, sizeof(v31) - 1, &other, EG, PROTO_DETECT_YES },
		{ "\x10\x1a\x00\x04MQTT\x06\x02\x00\x0a", 12, &other, EG, PROTO_DETECT_NO },
		{ "\x10\x1a\x00\x04MQTT\x04\x03\x00\x0a", 12, &other, EG, PROTO_DETECT_NO },
		{ RT_SUB1, sizeof(RT_SUB1) - 1, &cli, EG, PROTO_DETECT_MAYBE },
		{ RT_SUB1, sizeof(RT_SUB1) - 1, &other, EG, PROTO_DETECT_NO },
		{ RT_PUB1, sizeof(RT_PUB1) - 1, &cli, EG, PROTO_DETECT_MAYBE },
		{ RT_PINGREQ, 2, &cli, EG, PROTO_DETECT_MAYBE },
		{ RT_PINGREQ "x", 3, &cli, EG, PROTO_DETECT_NO },
		{ "\x30\x05\x00\x09zz", 6, &cli, EG, PROTO_DETECT_NO },
		{ "GET / HTTP/1.1\r\n\r\n", 18, &cli, EG, PROTO_DETECT_NO },
		{ "*1\r\n$4\r\nPING\r\n", 14, &cli, EG, PROTO_DETECT_NO },
		/* mqtt_error.pcap: a DNS query over TCP, which DeepFlow took for a CONNACK */
		{ "\x20\x9c\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x06zipkin", 19, &other, EG,
		  PROTO_DETECT_NO },
		{ "", 0, &cli, EG, PROTO_DETECT_NO },
	};

	(void)unused;
	for (size_t i = 0; i < N(cases); i++) {
		enum proto_detect got = proto_mqtt_ops.detect(
			(const uint8_t *)cases[i].s, cases[i].n, cases[i].dir, cases[i].ctx);

		if (got != cases[i].want)
			fail_msg("detect case %zu = %d, want %d", i, got, cases[i].want);
	}
}

static void test_registry(void **unused)
{
	(void)unused;
	assert_ptr_equal(proto_by_id(PROTO_MQTT), &proto_mqtt_ops);
	assert_string_equal(proto_name(PROTO_MQTT), "MQTT");
	assert_string_equal(proto_mqtt_ops.name, "MQTT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture_roundtrip),
		cmocka_unit_test(test_several_per_segment),
		cmocka_unit_test(test_capture_connect_and_sub),
		cmocka_unit_test(test_mqtt5),
		cmocka_unit_test(test_connack_refused),
		cmocka_unit_test(test_subscriber_side),
		cmocka_unit_test(test_big_publish),
		cmocka_unit_test(test_garbage_and_resync),
		cmocka_unit_test(test_gaps),
		cmocka_unit_test(test_close_mid_packet),
		cmocka_unit_test(test_broker_reads_apart),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
