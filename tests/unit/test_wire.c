/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent -> server batch codec: records survive the round trip field for field (their
 * JSON renderings are compared), and every kind of bad body is refused with its reason.
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
	uint8_t *buf = NULL;
	size_t len = 0, n = 0;
	char err[128] = "";

	(void)unused;
	make_records(in);
	assert_int_equal(wire_encode(&info, in, 2, 3, &buf, &len), 0);
	assert_int_equal(wire_decode(buf, len, WIRE_MAX_DECODED, &got, &out, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 2);
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
	free(out);
	free(buf);

	/* An empty batch is valid (a heartbeat). */
	assert_int_equal(wire_encode(&info, NULL, 0, 3, &buf, &len), 0);
	assert_int_equal(wire_decode(buf, len, WIRE_MAX_DECODED, &got, &out, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 0);
	assert_null(out);
	free(buf);
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
	struct l7_record *out = NULL;
	size_t n = 0;
	int rc = wire_decode(buf, len, max, &got, &out, &n, err, 128);

	free(out);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_bodies),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
