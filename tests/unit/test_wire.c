/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent -> server batch codec: records survive the round trip field for field (their
 * JSON renderings are compared; l4 rows are compared as structs too), l7 and l4 rows
 * share one batch and one record bound, and every kind of bad body or field is refused
 * with its reason.
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
	r[0].obs = REC_OBS_SERVER_NODE;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_l4_round_trip),
		cmocka_unit_test(test_record_bound),  cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_bad_l4_fields),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
