/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent -> server batch codec: records survive the round trip field for field (their
 * JSON renderings are compared; l4 and network rows are compared as structs too), l7, l4
 * and network rows share one batch and one record bound, every network counter travels
 * under its column's name, and every kind of bad body or field is refused with its
 * reason.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "agent/l4_record.h"
#include "agent/net_meter.h"
#include "agent/record.h"
#include "common/jsonw.h"
#include "src/wire/flowscope_wire.pb-c.h"
#include "wire/wire.h"

static const struct wire_batch_info info = {
	.version = 1,
	.agent_id = "host-a",
	.seq = 42,
	.ncounters = 2,
	.counters = { { "ring_lost", 7 }, { "records_exported", 18446744073709551615ull } },
};

static void make_records(struct l7_record *r)
{
	record_reset(&r[0]);
	r[0].start_ns = 1795325483036508000ull;
	r[0].end_ns = 1795325483036613000ull;
	r[0].type = REC_TYPE_SESSION;
	r[0].obs = REC_OBS_CLIENT_PROCESS;
	r[0].status = PROTO_STATUS_CLIENT_ERROR;
	r[0].family = 4;
	r[0].l4_proto = 6;
	r[0].l7_proto = PROTO_HTTP1;
	r[0].code = 404;
	r[0].has_request = r[0].has_response = true;
	r[0].request_length = 103;
	r[0].response_length = 153;
	r[0].req_tcp_seq = 4212964396u;
	r[0].resp_tcp_seq = 7;
	memcpy(r[0].addr0, "\x7f\0\0\x01", 4);
	memcpy(r[0].addr1, "\x0a\0\0\x02", 4);
	r[0].client_port = 54880;
	r[0].server_port = 8080;
	r[0].pid = 17528;
	r[0].req_tid = 17528;
	r[0].resp_tid = 17529;
	strcpy(r[0].comm, "curl");
	rec_copy(r[0].version.s, &r[0].version.len, sizeof(r[0].version.s), "1.1", 3);
	rec_copy(r[0].method.s, &r[0].method.len, sizeof(r[0].method.s), "GET", 3);
	rec_copy(r[0].resource.s, &r[0].resource.len, sizeof(r[0].resource.s), "/ok?x='1'", 9);
	rec_copy(r[0].exception.s, &r[0].exception.len, sizeof(r[0].exception.s), "Not Found", 9);
	rec_copy(r[0].x_request_id_0.s, &r[0].x_request_id_0.len, sizeof(r[0].x_request_id_0.s),
		 "\xff\x00raw", 5);
	rec_copy(r[0].result.s, &r[0].result.len, sizeof(r[0].result.s), "A 10.0.0.2", 10);
	r[0].has_request_id = true;
	r[0].request_id = UINT32_MAX;
	r[0].has_affected_rows = true;
	r[0].affected_rows = (uint64_t)INT64_MAX;
	r[0].req_syscall_trace_id = (uint64_t)INT64_MAX;
	r[0].resp_syscall_trace_id = 1;
	r[0].req_coroutine = 5;
	r[0].resp_coroutine = 6;
	rec_copy(r[0].parent_span_id.s, &r[0].parent_span_id.len, sizeof(r[0].parent_span_id.s),
		 "00f067aa0ba902b7", 16);

	record_reset(&r[1]); /* a lone request over IPv6: no response fields at all */
	r[1].start_ns = r[1].end_ns = 1795325483000000000ull;
	r[1].type = REC_TYPE_REQUEST;
	r[1].obs = REC_OBS_SERVER_PROCESS;
	r[1].status = PROTO_STATUS_TIMEOUT;
	r[1].family = 6;
	r[1].l4_proto = 6;
	r[1].l7_proto = PROTO_HTTP1;
	r[1].code = -1;
	r[1].has_request = true;
	r[1].request_length = 20;
	r[1].addr0[15] = 1;
	r[1].addr1[15] = 1;
	strcpy(r[1].comm, "nginx");
	/* A packet record: where it was captured travels too. */
	r[1].signal_source = REC_SIGNAL_PACKET;
	r[1].obs = REC_OBS_CLIENT_NIC;
	strcpy(r[1].capture_nic, "eth0");
}

static char *json_of(const struct l7_record *r)
{
	struct jsonw w = { 0 };

	assert_int_equal(record_write_json(&w, r), 0);
	char *s = strndup(w.buf, w.len);
	jsonw_free(&w);
	return s;
}

static void test_round_trip(void **unused)
{
	struct l7_record in[2], *out = NULL;
	struct wire_batch_info got = { 0 };
	struct wire_decoded d;
	uint8_t *buf = NULL;
	size_t len = 0, n = 0;
	char err[128] = "";

	(void)unused;
	make_records(in);
	assert_int_equal(wire_encode(&info, in, 2, 3, &buf, &len), 0);
	assert_int_equal(wire_decode(buf, len, WIRE_MAX_DECODED, &got, &d, err, sizeof(err)), 0);
	out = d.l7;
	n = d.n7;
	assert_int_equal(n, 2);
	assert_int_equal(d.n4, 0);
	assert_null(d.l4);
	assert_int_equal(got.seq, 42);
	assert_string_equal(got.agent_id, "host-a");
	assert_int_equal(got.ncounters, 2);
	assert_string_equal(got.counters[0].name, "ring_lost");
	assert_int_equal(got.counters[0].value, 7);
	assert_string_equal(got.counters[1].name, "records_exported");
	assert_true(got.counters[1].value == UINT64_MAX);
	for (int i = 0; i < 2; i++) {
		char *a = json_of(&in[i]), *b = json_of(&out[i]);

		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	assert_false(out[1].has_response);
	assert_int_equal(out[1].code, -1);
	assert_true(out[0].has_request_id && out[0].request_id == UINT32_MAX);
	assert_true(out[0].has_affected_rows && out[0].affected_rows == (uint64_t)INT64_MAX);
	assert_false(out[1].has_request_id || out[1].has_affected_rows);
	assert_true(out[0].req_syscall_trace_id == (uint64_t)INT64_MAX);
	assert_true(out[0].resp_syscall_trace_id == 1 && out[0].req_coroutine == 5 &&
		    out[0].resp_coroutine == 6);
	assert_true(out[1].req_syscall_trace_id == 0 && out[1].resp_coroutine == 0);
	free(out);
	free(buf);

	/* An empty batch is valid (a heartbeat). */
	assert_int_equal(wire_encode(&info, NULL, 0, 3, &buf, &len), 0);
	assert_int_equal(wire_decode(buf, len, WIRE_MAX_DECODED, &got, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n7 + d.n4, 0);
	assert_null(d.l7);
	assert_null(d.l4);
	free(buf);
}

/*
 * l4 rows: [0] IPv4 with every field set to a distinct value that is not 0, inside a
 * VXLAN tunnel over IPv4; [1] IPv6 in a GRE tunnel over IPv6 with 64-bit counters at the
 * top of their range; [2] a bare row (no tunnel, MACs 0, nothing measured).
 */
static void make_l4(struct l4_record *r)
{
	struct l4_flow_rec *f;

	memset(r, 0, 3 * sizeof(*r));
	f = &r[0].f;
	r[0].obs = REC_OBS_SERVER_NIC;
	strcpy(r[0].capture_nic, "veth-0123456789"); /* 15 bytes, the most */
	r[0].l7_proto = PROTO_HTTP1;
	f->flow_id = 123456789012ull;
	f->time_ns = 1795325484000000000ull;
	f->start_ns = 1795325483036508123ull;
	f->end_ns = 1795325483999999999ull;
	f->close_type = FLOW_CLOSE_SERVER_QUEUE_LACK;
	f->is_new_flow = true;
	f->family = 4;
	f->l4_proto = 6;
	memcpy(f->addr0, "\x0a\x01\x06\x5d", 4);
	memcpy(f->addr1, "\x0a\x01\x06\x5c", 4);
	f->client_port = 43230;
	f->server_port = 65535;
	memcpy(f->mac0, "\xee\xff\xff\xff\xff\x01", 6);
	memcpy(f->mac1, "\x00\x16\x3e\x03\x84\x94", 6);
	f->vlan = 4095;
	f->tunnel_tier = 2;
	f->tunnel.type = PKT_TUN_VXLAN;
	f->tunnel.family = 4;
	f->tunnel.id = 0xffffff;
	memcpy(f->tunnel.src, "\xc0\xa8\x00\x01", 4);
	memcpy(f->tunnel.dst, "\xc0\xa8\x00\x02", 4);
	f->tcp_flags_bit_0 = 0xdb;
	f->tcp_flags_bit_1 = 0xff;
	f->syn_seq = 4294967295u;
	f->syn_ack_seq = 1550768554u;
	f->packet_tx = 8;
	f->packet_rx = 5;
	f->byte_tx = 609;
	f->byte_rx = 5411;
	f->l3_byte_tx = 497;
	f->l3_byte_rx = 5341;
	f->l4_byte_tx = 73;
	f->l4_byte_rx = 5073;
	f->rtt = 158;
	f->rtt_client = 114;
	f->rtt_server = 44;
	f->srt_sum = 12;
	f->srt_count = 1;
	f->srt_max = 13;
	f->art_sum = 149;
	f->art_count = 2;
	f->art_max = 148;
	f->cit_sum = 272;
	f->cit_count = 3;
	f->cit_max = 271;
	f->retrans_tx = 21;
	f->retrans_rx = 22;
	f->ooo_tx = 23;
	f->ooo_rx = 24;
	f->zero_win_tx = 25;
	f->zero_win_rx = 26;
	f->syn_count = 27;
	f->synack_count = 28;
	f->retrans_syn = 29;
	f->retrans_synack = 30;
	f->fin_count = 31;
	f->rst_count = 4294967295u;

	f = &r[1].f;
	r[1].obs = REC_OBS_REST;
	f->time_ns = 1795325483000000000ull;
	f->start_ns = 1795325482000000001ull;
	f->end_ns = 1795325482000000999ull;
	f->close_type = 63;
	f->family = 6;
	f->l4_proto = 17;
	f->addr0[15] = 1;
	f->addr1[0] = 0xfe;
	f->addr1[15] = 2;
	f->client_port = 1;
	f->server_port = 53;
	f->tunnel_tier = 1;
	f->tunnel.type = PKT_TUN_GRE;
	f->tunnel.family = 6;
	f->tunnel.src[0] = 0x20;
	f->tunnel.src[15] = 1;
	f->tunnel.dst[0] = 0x20;
	f->tunnel.dst[15] = 2;
	f->packet_tx = (uint64_t)INT64_MAX;
	f->byte_rx = (uint64_t)INT64_MAX;
	f->srt_count = (uint64_t)INT64_MAX;

	f = &r[2].f;
	r[2].obs = REC_OBS_CLIENT_NODE;
	f->time_ns = 1;
	f->family = 4;
}

static char *json_of_l4(const struct l4_record *r)
{
	struct jsonw w = { 0 };

	assert_int_equal(l4_record_write_json(&w, r), 0);
	char *s = strndup(w.buf, w.len);
	jsonw_free(&w);
	return s;
}

/* Both kinds in one batch, added interleaved; each comes back in its own order. */
static void test_l4_round_trip(void **unused)
{
	struct l4_record l4[3];
	struct l7_record l7[2];
	struct wire_builder b = { 0 };
	struct wire_batch_info got = { 0 };
	struct wire_decoded d;
	uint8_t *buf = NULL;
	size_t len = 0;
	char err[128] = "";

	(void)unused;
	make_l4(l4);
	make_records(l7);
	assert_int_equal(wire_builder_add_l4(&b, &l4[0]), 0);
	assert_int_equal(wire_builder_add(&b, &l7[0]), 0);
	assert_int_equal(wire_builder_add_l4(&b, &l4[1]), 0);
	assert_int_equal(wire_builder_add_l4(&b, &l4[2]), 0);
	assert_int_equal(wire_builder_add(&b, &l7[1]), 0);
	assert_int_equal(b.n, 5);
	assert_int_equal(wire_builder_finish(&b, &info, 3, &buf, &len), 0);
	assert_int_equal(b.n, 0);
	wire_builder_free(&b);
	assert_int_equal(wire_decode(buf, len, WIRE_MAX_DECODED, &got, &d, err, sizeof(err)), 0);
	assert_int_equal(got.seq, 42);
	assert_int_equal(d.n7, 2);
	assert_int_equal(d.n4, 3);
	for (int i = 0; i < 3; i++) {
		char *a = json_of_l4(&l4[i]), *c = json_of_l4(&d.l4[i]);

		assert_string_equal(a, c);
		free(a);
		free(c);
		/* Every field, not only what the JSON shows. */
		assert_memory_equal(&l4[i], &d.l4[i], sizeof(l4[i]));
	}
	for (int i = 0; i < 2; i++) {
		char *a = json_of(&l7[i]), *c = json_of(&d.l7[i]);

		assert_string_equal(a, c);
		free(a);
		free(c);
	}
	wire_decoded_free(&d);
	assert_null(d.l4);
	wire_decoded_free(&d); /* idempotent */
	free(buf);
}

/* WIRE_MAX_RECORDS counts l7 and l4 rows together, in the builder and the decoder. */
static void test_record_bound(void **unused)
{
	struct wire_builder b = { 0 };
	struct l4_record l4[3];
	struct l7_record l7[2];

	(void)unused;
	make_l4(l4);
	make_records(l7);
	for (size_t i = 0; i < WIRE_MAX_RECORDS; i++)
		assert_int_equal(
			i % 2 ? wire_builder_add(&b, &l7[0]) : wire_builder_add_l4(&b, &l4[2]), 0);
	assert_int_equal(wire_builder_add_l4(&b, &l4[2]), -E2BIG);
	assert_int_equal(wire_builder_add(&b, &l7[0]), -E2BIG);
	wire_builder_free(&b);
}

/* Compress an arbitrary Batch message, to build bodies the encoder would never make. */
static uint8_t *pack_batch(Flowscope__Wire__V1__Batch *b, size_t *len, bool with_size)
{
	size_t plen = flowscope__wire__v1__batch__get_packed_size(b);
	uint8_t *p = malloc(plen + 1), *z = malloc(ZSTD_compressBound(plen) + 64);
	ZSTD_CCtx *cc = ZSTD_createCCtx();

	flowscope__wire__v1__batch__pack(b, p);
	if (with_size) {
		*len = ZSTD_compress(z, ZSTD_compressBound(plen) + 64, p, plen, 1);
	} else {
		/* A frame that does not say how large its content is. */
		ZSTD_outBuffer o = { z, ZSTD_compressBound(plen) + 64, 0 };
		ZSTD_inBuffer i = { p, plen, 0 };

		ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
		ZSTD_compressStream2(cc, &o, &i, ZSTD_e_end);
		*len = o.pos;
	}
	ZSTD_freeCCtx(cc);
	free(p);
	return z;
}

static int decode(const uint8_t *buf, size_t len, size_t max, char *err)
{
	struct wire_batch_info got;
	struct wire_decoded d = { .n7 = 99 };
	int rc = wire_decode(buf, len, max, &got, &d, err, 128);

	/* A refusal leaves nothing to free. */
	if (rc)
		assert_true(!d.l7 && !d.l4 && !d.n7 && !d.n4);
	wire_decoded_free(&d);
	return rc;
}

static void test_bad_bodies(void **unused)
{
	struct l7_record in[2];
	uint8_t *buf, *z;
	size_t len, zlen;
	char err[128];

	(void)unused;
	make_records(in);
	assert_int_equal(wire_encode(&info, in, 2, 3, &buf, &len), 0);
	/* Truncated at every length: never accepted, never a crash. */
	for (size_t cut = 0; cut < len; cut++)
		assert_true(decode(buf, cut, WIRE_MAX_DECODED, err) < 0);
	assert_int_equal(decode(buf, len, 10, err), -EMSGSIZE);
	assert_string_equal(err + strlen(err) - 10, "exceeds 10");
	assert_int_equal(decode((const uint8_t *)"garbage!garbage!", 16, WIRE_MAX_DECODED, err),
			 -EPROTO);
	assert_string_equal(err, "not a zstd frame");
	free(buf);

	Flowscope__Wire__V1__Batch b = FLOWSCOPE__WIRE__V1__BATCH__INIT;
	b.has_version = 1;
	b.version = 2;
	b.agent_id = "x";
	b.has_seq = 1;
	z = pack_batch(&b, &zlen, true);
	assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), -EPROTONOSUPPORT);
	assert_string_equal(err, "wire version 2 not supported (this server speaks 1)");
	free(z);

	b.version = 1;
	z = pack_batch(&b, &zlen, false);
	assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), -EPROTO);
	assert_string_equal(err, "zstd frame without its content size");
	free(z);

	/* A counter whose name the server could not print safely. */
	Flowscope__Wire__V1__Counter c = FLOWSCOPE__WIRE__V1__COUNTER__INIT, *cp = &c;
	c.name = "bad name\n";
	c.has_value = 1;
	b.n_counters = 1;
	b.counters = &cp;
	z = pack_batch(&b, &zlen, true);
	assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), -EPROTO);
	assert_string_equal(err, "counter 0: name not [a-z0-9_]{1,47} or value missing");
	free(z);
	b.n_counters = 0;
	b.counters = NULL;

	/* The encoder refuses such a name too. */
	struct wire_batch_info bad = info;
	strcpy(bad.counters[0].name, "Upper");
	assert_int_equal(wire_encode(&bad, NULL, 0, 3, &buf, &len), -EINVAL);

	/* A record with an impossible field. */
	Flowscope__Wire__V1__L7Record r = FLOWSCOPE__WIRE__V1__L7_RECORD__INIT, *rp = &r;
	r.has_type = r.has_observation_point = r.has_family = 1;
	r.family = 5;
	b.n_l7 = 1;
	b.l7 = &rp;
	z = pack_batch(&b, &zlen, true);
	assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), -EPROTO);
	assert_string_equal(err, "record 0: family missing or not 4 or 6");
	free(z);

	/* Valid zstd around bytes that are not a Batch. */
	zlen = ZSTD_compressBound(8);
	z = malloc(zlen);
	zlen = ZSTD_compress(z, zlen, "\xff\xff\xff\xff\xff\xff\xff\xff", 8, 1);
	assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), -EPROTO);
	assert_string_equal(err, "not a protobuf Batch");
	free(z);
}

/* A valid L4Record the cases below spoil one field at a time. */
static void good_l4(Flowscope__Wire__V1__L4Record *r)
{
	static uint8_t a4[4] = { 10, 0, 0, 1 };

	flowscope__wire__v1__l4_record__init(r);
	r->has_time_ns = r->has_observation_point = r->has_family = 1;
	r->time_ns = 1795325483000000000ull;
	r->observation_point = REC_OBS_REST;
	r->family = 4;
	r->has_addr_0 = r->has_addr_1 = 1;
	r->addr_0 = r->addr_1 = (ProtobufCBinaryData){ 4, a4 };
}

static void test_bad_l4_fields(void **unused)
{
	static uint8_t a16[16], m5[5] = { 1, 2, 3, 4, 5 };
	static const struct {
		const char *field;
		const char *err;
	} cases[] = {
		{ "none", NULL },
		{ "time", "l4 record 1: time_ns missing" },
		{ "obs", "l4 record 1: observation_point missing or out of range" },
		{ "family", "l4 record 1: family missing or not 4 or 6" },
		{ "addr", "l4 record 1: addresses missing or of the wrong length for the family" },
		{ "port", "l4 record 1: port out of range" },
		{ "l4proto", "l4 record 1: protocol out of range" },
		{ "l7proto", "l4 record 1: protocol out of range" },
		{ "close", "l4 record 1: close_type out of range (0..63)" },
		{ "mac", "l4 record 1: mac not 6 bytes" },
		{ "vlan", "l4 record 1: vlan out of range (0..4095)" },
		{ "flags", "l4 record 1: tcp_flags_bit out of range (0..255)" },
		{ "tier", "l4 record 1: tunnel_tier out of range (0..255)" },
		{ "notier", "l4 record 1: tunnel fields without tunnel_tier" },
		{ "tuntype", "l4 record 1: tunnel_type missing or not 1..6" },
		{ "tunip",
		  "l4 record 1: tunnel addresses missing, or not both 4 or both 16 bytes" },
		{ "big", "l4 record 1: a 64-bit counter above 2^63-1" },
		{ "nic", "l4 record 1: capture_nic longer than 15 bytes or with a NUL" },
		{ "nicnul", "l4 record 1: capture_nic longer than 15 bytes or with a NUL" },
	};
	Flowscope__Wire__V1__Batch b = FLOWSCOPE__WIRE__V1__BATCH__INIT;
	Flowscope__Wire__V1__L4Record r[2], *rp[2] = { &r[0], &r[1] };
	uint8_t *z;
	size_t zlen;
	char err[128];

	(void)unused;
	b.has_version = b.has_seq = 1;
	b.version = 1;
	b.agent_id = "x";
	b.n_l4 = 2;
	b.l4 = rp;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *f = cases[i].field;
		Flowscope__Wire__V1__L4Record *p = &r[1];

		good_l4(&r[0]);
		good_l4(p);
		if (!strcmp(f, "time"))
			p->has_time_ns = 0;
		else if (!strcmp(f, "obs"))
			p->observation_point = REC_OBS_MAX + 1;
		else if (!strcmp(f, "family"))
			p->family = 5;
		else if (!strcmp(f, "addr"))
			p->addr_1 = (ProtobufCBinaryData){ 16, a16 };
		else if (!strcmp(f, "port"))
			p->has_server_port = 1, p->server_port = 65536;
		else if (!strcmp(f, "l4proto"))
			p->has_l4_protocol = 1, p->l4_protocol = 256;
		else if (!strcmp(f, "l7proto"))
			p->has_l7_protocol = 1, p->l7_protocol = PROTO_ID_MAX;
		else if (!strcmp(f, "close"))
			p->has_close_type = 1, p->close_type = 64;
		else if (!strcmp(f, "mac"))
			p->has_mac_1 = 1, p->mac_1 = (ProtobufCBinaryData){ 5, m5 };
		else if (!strcmp(f, "vlan"))
			p->has_vlan = 1, p->vlan = 4096;
		else if (!strcmp(f, "flags"))
			p->has_tcp_flags_bit_1 = 1, p->tcp_flags_bit_1 = 256;
		else if (!strcmp(f, "tier"))
			p->has_tunnel_tier = 1, p->tunnel_tier = 256;
		else if (!strcmp(f, "notier"))
			p->has_tunnel_id = 1, p->tunnel_id = 7;
		else if (!strcmp(f, "tuntype") || !strcmp(f, "tunip")) {
			p->has_tunnel_tier = p->has_tunnel_type = 1;
			p->tunnel_tier = 1;
			p->tunnel_type = !strcmp(f, "tuntype") ? PKT_TUN_TEB + 1 : PKT_TUN_IPIP;
			p->has_tunnel_ip_0 = p->has_tunnel_ip_1 = 1;
			p->tunnel_ip_0 = r[0].addr_0;
			/* the two ends of different lengths */
			p->tunnel_ip_1 = (ProtobufCBinaryData){ 16, a16 };
			if (!strcmp(f, "tuntype"))
				p->tunnel_ip_1 = r[0].addr_0;
		} else if (!strcmp(f, "big"))
			p->has_byte_tx = 1, p->byte_tx = (uint64_t)INT64_MAX + 1;
		else if (!strcmp(f, "nic"))
			p->has_capture_nic = 1,
			p->capture_nic = (ProtobufCBinaryData){ 16, (uint8_t *)"0123456789abcdef" };
		else if (!strcmp(f, "nicnul"))
			p->has_capture_nic = 1,
			p->capture_nic = (ProtobufCBinaryData){ 3, (uint8_t *)"a\0b" };
		z = pack_batch(&b, &zlen, true);
		if (!cases[i].err) {
			assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), 0);
		} else {
			assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), -EPROTO);
			assert_string_equal(err, cases[i].err);
		}
		free(z);
	}

	/* One more record than the bound, l7 and l4 together: too large, before any check. */
	{
		size_t n4 = WIRE_MAX_RECORDS;
		Flowscope__Wire__V1__L4Record **many = calloc(n4, sizeof(*many));
		Flowscope__Wire__V1__L7Record l7 = FLOWSCOPE__WIRE__V1__L7_RECORD__INIT, *l7p = &l7;

		assert_non_null(many);
		good_l4(&r[0]);
		for (size_t i = 0; i < n4; i++)
			many[i] = &r[0];
		b.n_l4 = n4;
		b.l4 = many;
		b.n_l7 = 1;
		b.l7 = &l7p;
		z = pack_batch(&b, &zlen, true);
		assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), -EMSGSIZE);
		assert_string_equal(err, "16385 records exceed 16384");
		free(z);
		/* Without the l7 record it is within the bound. */
		b.n_l7 = 0;
		z = pack_batch(&b, &zlen, true);
		assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), 0);
		free(z);
		free(many);
	}
}

/*
 * Network rows, one per table: [0] network.1s, the client side of an IPv4 flow, every
 * counter a distinct value that is not 0; [1] network_map.1m, an IPv6 edge with counters
 * at the top of their range; [2] network.1m, the server side (role 1), nothing counted
 * but one flow; [3] network_map.1s at the epoch, observation point 0, no server port.
 */
static void make_net(struct net_row *r)
{
	memset(r, 0, 4 * sizeof(*r));
	r[0].k.time_s = 1795325483;
	r[0].k.table = NET_1S;
	r[0].k.family = 4;
	r[0].k.protocol = 6;
	r[0].k.server_port = 65535;
	memcpy(r[0].k.ip0, "\x0a\x01\x06\x5d", 4);
	for (int c = 0; c < NC_MAX; c++)
		r[0].v[c] = 1000 + (uint64_t)c;

	r[1].k.time_s = 1795325460;
	r[1].k.table = NET_MAP_1M;
	r[1].k.family = 6;
	r[1].k.protocol = 17;
	r[1].k.obs = REC_OBS_REST;
	r[1].k.server_port = 53;
	r[1].k.ip0[15] = 1;
	r[1].k.ip1[0] = 0xfe;
	r[1].k.ip1[15] = 2;
	for (int c = 0; c < NC_MAX; c++)
		r[1].v[c] = (uint64_t)INT64_MAX - (uint64_t)c;

	r[2].k.time_s = 1795325460;
	r[2].k.table = NET_1M;
	r[2].k.family = 4;
	r[2].k.protocol = 6;
	r[2].k.role = 1;
	r[2].k.server_port = 80;
	memcpy(r[2].k.ip0, "\x0a\x01\x06\x5c", 4);
	r[2].v[NC_NEW_FLOW] = 1;

	r[3].k.table = NET_MAP_1S;
	r[3].k.family = 4;
	r[3].k.obs = REC_OBS_CLIENT_PROCESS;
	memcpy(r[3].k.ip0, "\x7f\0\0\x01", 4);
	memcpy(r[3].k.ip1, "\x7f\0\0\x01", 4);
}

static char *json_of_net(const struct net_row *r)
{
	struct jsonw w = { 0 };

	assert_int_equal(net_row_write_json(&w, r), 0);
	char *s = strndup(w.buf, w.len);
	jsonw_free(&w);
	return s;
}

/* Network rows with the other kinds in one batch; each kind comes back in its order. */
static void test_net_round_trip(void **unused)
{
	struct net_row net[4];
	struct l4_record l4[3];
	struct l7_record l7[2];
	struct wire_builder b = { 0 };
	struct wire_batch_info got = { 0 };
	struct wire_decoded d;
	uint8_t *buf = NULL;
	size_t len = 0;
	char err[128] = "";

	(void)unused;
	make_net(net);
	make_l4(l4);
	make_records(l7);
	assert_int_equal(wire_builder_add_net(&b, &net[0]), 0);
	assert_int_equal(wire_builder_add(&b, &l7[0]), 0);
	assert_int_equal(wire_builder_add_net(&b, &net[1]), 0);
	assert_int_equal(wire_builder_add_l4(&b, &l4[0]), 0);
	assert_int_equal(wire_builder_add_net(&b, &net[2]), 0);
	assert_int_equal(wire_builder_add_net(&b, &net[3]), 0);
	assert_int_equal(b.n, 6);
	assert_int_equal(wire_builder_finish(&b, &info, 3, &buf, &len), 0);
	wire_builder_free(&b);
	assert_int_equal(wire_decode(buf, len, WIRE_MAX_DECODED, &got, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n7, 1);
	assert_int_equal(d.n4, 1);
	assert_int_equal(d.nnet, 4);
	for (int i = 0; i < 4; i++) {
		char *a = json_of_net(&net[i]), *c = json_of_net(&d.net[i]);

		assert_string_equal(a, c);
		free(a);
		free(c);
		/* The key's every byte (padding and unused address bytes zero, as the
		 * agent's) and every counter. */
		assert_memory_equal(&net[i], &d.net[i], sizeof(net[i]));
	}
	assert_memory_equal(&l4[0], &d.l4[0], sizeof(l4[0]));
	wire_decoded_free(&d);
	assert_null(d.net);
	assert_int_equal(d.nnet, 0);
	free(buf);
}

/* Each counter is carried by the NetRow field of its column's name (net_counter_names):
 * counter c set to c + 1 is read back from the field of that name. */
static void test_net_field_names(void **unused)
{
	const ProtobufCMessageDescriptor *desc = &flowscope__wire__v1__net_row__descriptor;
	struct wire_builder b = { 0 };
	struct net_row r[4];
	Flowscope__Wire__V1__Batch *batch;
	uint8_t *z = NULL, *raw;
	size_t zlen = 0;
	unsigned long long rawlen;

	(void)unused;
	make_net(r);
	for (int c = 0; c < NC_MAX; c++)
		r[0].v[c] = (uint64_t)c + 1;
	assert_int_equal(wire_builder_add_net(&b, &r[0]), 0);
	assert_int_equal(wire_builder_finish(&b, &info, 1, &z, &zlen), 0);
	wire_builder_free(&b);
	rawlen = ZSTD_getFrameContentSize(z, zlen);
	raw = malloc(rawlen);
	assert_int_equal(ZSTD_decompress(raw, rawlen, z, zlen), rawlen);
	batch = flowscope__wire__v1__batch__unpack(NULL, rawlen, raw);
	assert_non_null(batch);
	assert_int_equal(batch->n_net, 1);
	/* Nine key fields, then one per counter: nothing else. */
	assert_int_equal(desc->n_fields, 9 + NC_MAX);
	for (int c = 0; c < NC_MAX; c++) {
		const ProtobufCFieldDescriptor *fd =
			protobuf_c_message_descriptor_get_field_by_name(desc, net_counter_names[c]);
		const uint8_t *m = (const uint8_t *)batch->net[0];

		if (!fd)
			fail_msg("no NetRow field %s", net_counter_names[c]);
		assert_int_equal(fd->type, PROTOBUF_C_TYPE_UINT64);
		assert_true(*(const protobuf_c_boolean *)(m + fd->quantifier_offset));
		assert_int_equal(*(const uint64_t *)(m + fd->offset), (uint64_t)c + 1);
	}
	/* The key: role is left out at 0, observation_point and ip_1 on network rows. */
	assert_int_equal(batch->net[0]->time_s, 1795325483);
	assert_int_equal(batch->net[0]->table, NET_1S);
	assert_false(batch->net[0]->has_role);
	assert_false(batch->net[0]->has_observation_point);
	assert_false(batch->net[0]->has_ip_1);
	assert_int_equal(batch->net[0]->ip_0.len, 4);
	flowscope__wire__v1__batch__free_unpacked(batch, NULL);
	free(raw);
	free(z);
}

/* The builder keeps keys the server would refuse out of the batch. */
static void test_net_builder_refuses(void **unused)
{
	struct wire_builder b = { 0 };
	struct net_row r[4], bad;

	(void)unused;
	make_net(r);
	bad = r[0];
	bad.k.table = NET_TABLES;
	assert_int_equal(wire_builder_add_net(&b, &bad), -EINVAL);
	bad = r[0];
	bad.k.family = 5;
	assert_int_equal(wire_builder_add_net(&b, &bad), -EINVAL);
	bad = r[0];
	bad.k.time_s = -1;
	assert_int_equal(wire_builder_add_net(&b, &bad), -EINVAL);
	bad = r[1];
	bad.k.time_s += 30; /* a minute row off the minute */
	assert_int_equal(wire_builder_add_net(&b, &bad), -EINVAL);
	bad = r[0];
	bad.k.role = 2;
	assert_int_equal(wire_builder_add_net(&b, &bad), -EINVAL);
	bad = r[1];
	bad.k.obs = REC_OBS_MAX + 1;
	assert_int_equal(wire_builder_add_net(&b, &bad), -EINVAL);
	assert_int_equal(b.n, 0);
	/* The bound counts network rows with the rest. */
	for (size_t i = 0; i < WIRE_MAX_RECORDS; i++)
		assert_int_equal(wire_builder_add_net(&b, &r[i % 4]), 0);
	assert_int_equal(wire_builder_add_net(&b, &r[0]), -E2BIG);
	assert_int_equal(wire_builder_add(&b, (struct l7_record[2]){ 0 }), -E2BIG);
	wire_builder_free(&b);
}

/* A valid NetRow (network_map.1s, IPv4) the cases below spoil one field at a time. */
static void good_net(Flowscope__Wire__V1__NetRow *r)
{
	static uint8_t a4[4] = { 10, 0, 0, 1 };

	flowscope__wire__v1__net_row__init(r);
	r->has_time_s = r->has_table = r->has_family = r->has_observation_point = 1;
	r->time_s = 1795325460;
	r->table = NET_MAP_1S;
	r->family = 4;
	r->observation_point = REC_OBS_REST;
	r->has_ip_0 = r->has_ip_1 = 1;
	r->ip_0 = r->ip_1 = (ProtobufCBinaryData){ 4, a4 };
}

static void test_bad_net_fields(void **unused)
{
	static uint8_t a16[16];
	static const struct {
		const char *field;
		const char *err;
	} cases[] = {
		{ "none", NULL },
		{ "network", NULL },
		{ "time", "net row 1: time_s missing or above 2^63-1" },
		{ "bigtime", "net row 1: time_s missing or above 2^63-1" },
		{ "table", "net row 1: table missing or not 0..3" },
		{ "notable", "net row 1: table missing or not 0..3" },
		{ "minute", "net row 1: time_s of a 1m row not on a whole minute" },
		{ "family", "net row 1: family missing or not 4 or 6" },
		{ "ip0", "net row 1: addresses missing or of the wrong length for the family" },
		{ "ip1", "net row 1: addresses missing or of the wrong length for the family" },
		{ "noip1", "net row 1: addresses missing or of the wrong length for the family" },
		{ "obs", "net row 1: observation_point missing or out of range" },
		{ "noobs", "net row 1: observation_point missing or out of range" },
		{ "maprole", "net row 1: role on a network_map row" },
		{ "netip1", "net row 1: ip_1 or observation_point on a network row" },
		{ "netobs", "net row 1: ip_1 or observation_point on a network row" },
		{ "role", "net row 1: role out of range (0..1)" },
		{ "port", "net row 1: port out of range" },
		{ "proto", "net row 1: protocol out of range" },
		{ "big", "net row 1: counter server_queue_lack above 2^63-1" },
	};
	Flowscope__Wire__V1__Batch b = FLOWSCOPE__WIRE__V1__BATCH__INIT;
	Flowscope__Wire__V1__NetRow r[2], *rp[2] = { &r[0], &r[1] };
	uint8_t *z;
	size_t zlen;
	char err[128];

	(void)unused;
	b.has_version = b.has_seq = 1;
	b.version = 1;
	b.agent_id = "x";
	b.n_net = 2;
	b.net = rp;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *f = cases[i].field;
		Flowscope__Wire__V1__NetRow *p = &r[1];

		good_net(&r[0]);
		good_net(p);
		if (!strcmp(f, "network") || !strcmp(f, "netip1") || !strcmp(f, "netobs") ||
		    !strcmp(f, "role")) {
			/* A network row: role, no ip_1 or observation_point. */
			p->table = NET_1M;
			p->has_ip_1 = p->has_observation_point = 0;
			p->has_role = 1;
			p->role = 1;
		}
		if (!strcmp(f, "time"))
			p->has_time_s = 0;
		else if (!strcmp(f, "bigtime"))
			p->time_s = (uint64_t)INT64_MAX + 1;
		else if (!strcmp(f, "table"))
			p->table = NET_TABLES;
		else if (!strcmp(f, "notable"))
			p->has_table = 0;
		else if (!strcmp(f, "minute"))
			p->table = NET_MAP_1M, p->time_s += 1;
		else if (!strcmp(f, "family"))
			p->family = 5;
		else if (!strcmp(f, "ip0"))
			p->ip_0 = (ProtobufCBinaryData){ 16, a16 };
		else if (!strcmp(f, "ip1"))
			p->ip_1 = (ProtobufCBinaryData){ 16, a16 };
		else if (!strcmp(f, "noip1"))
			p->has_ip_1 = 0;
		else if (!strcmp(f, "obs"))
			p->observation_point = REC_OBS_MAX + 1;
		else if (!strcmp(f, "noobs"))
			p->has_observation_point = 0;
		else if (!strcmp(f, "maprole"))
			p->has_role = 1, p->role = 0;
		else if (!strcmp(f, "netip1"))
			p->has_ip_1 = 1;
		else if (!strcmp(f, "netobs"))
			p->has_observation_point = 1;
		else if (!strcmp(f, "role"))
			p->role = 2;
		else if (!strcmp(f, "port"))
			p->has_server_port = 1, p->server_port = 65536;
		else if (!strcmp(f, "proto"))
			p->has_protocol = 1, p->protocol = 256;
		else if (!strcmp(f, "big"))
			p->has_server_queue_lack = 1,
			p->server_queue_lack = (uint64_t)INT64_MAX + 1;
		z = pack_batch(&b, &zlen, true);
		if (!cases[i].err) {
			assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), 0);
		} else {
			assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), -EPROTO);
			assert_string_equal(err, cases[i].err);
		}
		free(z);
	}

	/* One more record than the bound, every kind together: too large, before any
	 * check; one fewer is fine. */
	{
		size_t nn = WIRE_MAX_RECORDS - 1;
		Flowscope__Wire__V1__NetRow **many = calloc(nn, sizeof(*many));
		Flowscope__Wire__V1__L7Record l7 = FLOWSCOPE__WIRE__V1__L7_RECORD__INIT, *l7p = &l7;
		Flowscope__Wire__V1__L4Record l4, *l4p = &l4;

		assert_non_null(many);
		good_net(&r[0]);
		good_l4(&l4);
		for (size_t i = 0; i < nn; i++)
			many[i] = &r[0];
		b.n_net = nn;
		b.net = many;
		b.n_l4 = 1;
		b.l4 = &l4p;
		b.n_l7 = 1;
		b.l7 = &l7p;
		z = pack_batch(&b, &zlen, true);
		assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), -EMSGSIZE);
		assert_string_equal(err, "16385 records exceed 16384");
		free(z);
		b.n_l7 = 0;
		z = pack_batch(&b, &zlen, true);
		assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err), 0);
		free(z);
		free(many);
	}
}

#define CID "3f2a9c1d5e7b4a60891c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6"

static void make_host(struct host_info *h)
{
	memset(h, 0, sizeof(*h));
	strcpy(h->hostname, "node-1.example");
	h->nips = 2;
	h->ips[0].family = 4;
	memcpy(h->ips[0].a, "\x0a\x00\x00\x07", 4);
	h->ips[1].family = 6;
	memcpy(h->ips[1].a, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07", 16);
}

static void make_procs(struct proc_info *p)
{
	memset(p, 0, 2 * sizeof(*p));
	p[0].pid = 4194304; /* the largest pid */
	p[0].start_time_us = 1795325483036508000ull / 1000;
	strcpy(p[0].comm, "nginx: worker p"); /* 15 bytes, the most */
	memset(p[0].exe, 'e', sizeof(p[0].exe) - 1);
	memset(p[0].cmdline, 'c', sizeof(p[0].cmdline) - 1);
	p[0].has_uid = true;
	p[0].uid = 0; /* root: present and 0 */
	strcpy(p[0].user, "root");
	strcpy(p[0].container_id, CID);
	p[0].netns_inode = 4026531840ull;
	/* Gone before it was read: pid and comm only. */
	p[1].pid = 77;
	strcpy(p[1].comm, "sh");
}

/* Host and process reports ride with the records and come back field for field; they are
 * not records (the record bound and count ignore them). */
static void test_host_procs_round_trip(void **unused)
{
	struct wire_builder wb = { 0 };
	struct l7_record rec[2]; /* make_records fills two */
	struct host_info h;
	struct proc_info p[2];
	struct wire_batch_info got;
	struct wire_decoded d;
	uint8_t *buf;
	size_t len;
	char err[128] = "";

	(void)unused;
	make_host(&h);
	make_procs(p);
	make_records(rec);
	assert_int_equal(wire_builder_add_proc(&wb, &p[0]), 0);
	assert_int_equal(wire_builder_set_host(&wb, &h), 0);
	assert_int_equal(wire_builder_set_host(&wb, &h), -EALREADY);
	assert_int_equal(wire_builder_add(&wb, &rec[0]), 0);
	assert_int_equal(wire_builder_add_proc(&wb, &p[1]), 0);
	assert_int_equal(wb.n, 1);
	assert_int_equal(wb.nprocs, 2);
	assert_int_equal(wire_builder_finish(&wb, &info, 3, &buf, &len), 0);
	assert_int_equal(wb.nprocs, 0);
	assert_false(wb.has_host);
	assert_int_equal(wire_decode(buf, len, WIRE_MAX_DECODED, &got, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n7, 1);
	assert_true(d.has_host);
	assert_string_equal(d.host.hostname, "node-1.example");
	assert_int_equal(d.host.nips, 2);
	assert_memory_equal(&d.host.ips[0], &h.ips[0], sizeof(h.ips[0]));
	assert_memory_equal(&d.host.ips[1], &h.ips[1], sizeof(h.ips[1]));
	assert_int_equal(d.nprocs, 2);
	assert_memory_equal(&d.procs[0], &p[0], sizeof(p[0]));
	assert_memory_equal(&d.procs[1], &p[1], sizeof(p[1]));
	assert_false(d.procs[1].has_uid);
	wire_decoded_free(&d);
	assert_null(d.procs);
	free(buf);

	/* A batch without them has none. */
	assert_int_equal(wire_builder_add(&wb, &rec[0]), 0);
	assert_int_equal(wire_builder_finish(&wb, &info, 3, &buf, &len), 0);
	assert_int_equal(wire_decode(buf, len, WIRE_MAX_DECODED, &got, &d, err, sizeof(err)), 0);
	assert_false(d.has_host);
	assert_int_equal(d.nprocs, 0);
	assert_null(d.procs);
	wire_decoded_free(&d);
	free(buf);

	/* The builder refuses what the decoder would. */
	p[1].pid = 0;
	assert_int_equal(wire_builder_add_proc(&wb, &p[1]), -EINVAL);
	p[1].pid = 4194305;
	assert_int_equal(wire_builder_add_proc(&wb, &p[1]), -EINVAL);
	p[1].pid = 9;
	strcpy(p[1].container_id, "abc");
	assert_int_equal(wire_builder_add_proc(&wb, &p[1]), -EINVAL);
	p[1].container_id[0] = 0;
	for (int i = 0; i < WIRE_MAX_PROCS; i++)
		assert_int_equal(wire_builder_add_proc(&wb, &p[1]), 0);
	assert_int_equal(wire_builder_add_proc(&wb, &p[1]), -E2BIG);
	h.hostname[0] = 0;
	assert_int_equal(wire_builder_set_host(&wb, &h), -EINVAL);
	wire_builder_free(&wb);
}

/* Bad reports are refused with their reason, like bad records. */
static void test_bad_host_procs(void **unused)
{
	static const struct {
		int field; /* which change, below */
		const char *err;
	} cases[] = {
		{ 0, "host: hostname missing, longer than 255 bytes or with control characters" },
		{ 1, "host: hostname missing, longer than 255 bytes or with control characters" },
		{ 2, "host: hostname missing, longer than 255 bytes or with control characters" },
		{ 3, "host: an ip not of 4 or 16 bytes" },
		{ 4, "host: more than 64 ips" },
		{ 5, "process 1: pid missing or not 1..4194304" },
		{ 6, "process 1: pid missing or not 1..4194304" },
		{ 7, "process 1: pid missing or not 1..4194304" },
		{ 8, "process 1: comm longer than 15 bytes or with a NUL" },
		{ 9, "process 1: container_id not 64 lowercase hex digits" },
		{ 10, "process 1: container_id not 64 lowercase hex digits" },
		{ 11, "process 1: exe longer than 255 bytes or with a NUL" },
		{ 12, "process 1: cmdline longer than 511 bytes or with a NUL" },
		{ 13, "process 1: user longer than 63 bytes or with a NUL" },
		{ 14, "process 1: start_time_us above 2^63-1" },
		{ 15, "process 1: comm longer than 15 bytes or with a NUL" },
		{ 16, "1025 process reports exceed 1024" },
	};
	static char long_text[600];
	static uint8_t ip5[5] = { 1, 2, 3, 4, 5 };
	char err[128];

	(void)unused;
	memset(long_text, 'x', sizeof(long_text) - 1);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		Flowscope__Wire__V1__Batch b = FLOWSCOPE__WIRE__V1__BATCH__INIT;
		Flowscope__Wire__V1__Host host = FLOWSCOPE__WIRE__V1__HOST__INIT;
		Flowscope__Wire__V1__Process pr[2], *pp[WIRE_MAX_PROCS + 1];
		ProtobufCBinaryData ips[65];
		char name[300];
		uint8_t *z;
		size_t zlen;

		b.has_version = 1;
		b.version = 1;
		b.agent_id = "a";
		b.has_seq = 1;
		b.host = &host;
		host.hostname = "h";
		for (int i = 0; i < 2; i++) {
			flowscope__wire__v1__process__init(&pr[i]);
			pr[i].has_pid = 1;
			pr[i].pid = 10 + i;
			pp[i] = &pr[i];
		}
		b.n_procs = 2;
		b.procs = pp;
		switch (cases[c].field) {
		case 0: host.hostname = NULL; break;
		case 1:
			memset(name, 'n', 256);
			name[256] = 0;
			host.hostname = name;
			break;
		case 2: host.hostname = "a\tb"; break;
		case 3:
			host.n_ips = 1;
			ips[0] = (ProtobufCBinaryData){ 5, ip5 };
			host.ips = ips;
			break;
		case 4:
			for (int i = 0; i < 65; i++)
				ips[i] = (ProtobufCBinaryData){ 4, ip5 };
			host.n_ips = 65;
			host.ips = ips;
			break;
		case 5: pr[1].has_pid = 0; break;
		case 6: pr[1].pid = 0; break;
		case 7: pr[1].pid = 4194305; break;
		case 8:
			pr[1].has_comm = 1;
			pr[1].comm = (ProtobufCBinaryData){ 16, (uint8_t *)long_text };
			break;
		case 9:
			pr[1].container_id =
				"3F2A9C1D5E7B4A60891C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F708192A3B4C5D6";
			break;
		case 10: pr[1].container_id = CID "0"; break;
		case 11:
			pr[1].has_exe = 1;
			pr[1].exe = (ProtobufCBinaryData){ 256, (uint8_t *)long_text };
			break;
		case 12:
			pr[1].has_cmdline = 1;
			pr[1].cmdline = (ProtobufCBinaryData){ 512, (uint8_t *)long_text };
			break;
		case 13:
			pr[1].has_user = 1;
			pr[1].user = (ProtobufCBinaryData){ 64, (uint8_t *)long_text };
			break;
		case 14:
			pr[1].has_start_time_us = 1;
			pr[1].start_time_us = (uint64_t)INT64_MAX + 1;
			break;
		case 15:
			pr[1].has_comm = 1;
			pr[1].comm = (ProtobufCBinaryData){ 3, (uint8_t *)"a\0b" };
			break;
		case 16:
			for (int i = 2; i <= WIRE_MAX_PROCS; i++)
				pp[i] = &pr[0];
			b.n_procs = WIRE_MAX_PROCS + 1;
			break;
		}
		z = pack_batch(&b, &zlen, true);
		err[0] = 0;
		assert_int_equal(decode(z, zlen, WIRE_MAX_DECODED, err),
				 cases[c].field == 16 ? -EMSGSIZE : -EPROTO);
		if (strcmp(err, cases[c].err))
			fail_msg("case %zu: '%s' want '%s'", c, err, cases[c].err);
		free(z);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_l4_round_trip),
		cmocka_unit_test(test_record_bound),
		cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_bad_l4_fields),
		cmocka_unit_test(test_net_round_trip),
		cmocka_unit_test(test_net_field_names),
		cmocka_unit_test(test_net_builder_refuses),
		cmocka_unit_test(test_bad_net_fields),
		cmocka_unit_test(test_host_procs_round_trip),
		cmocka_unit_test(test_bad_host_procs),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
