/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the MySQL parser. Fixtures are real conversations taken from reference
 * captures (hex of the TCP payloads, with tshark) and packets built here from the protocol
 * documentation where a case is easier to state that way (compression, huge results,
 * gaps). Every conversation is also replayed cut at every offset and byte by byte
 * (ph_check_splits) and must give the very same messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "proto/proto.h"
#include "proto/sql_text.h"
#include "proto_harness.h"

#define EG PROTO_DIR_EGRESS
#define IN PROTO_DIR_INGRESS

static const struct proto_ctx client_ctx = { .l4_proto = 6, .role = PROTO_ROLE_CLIENT };
static const struct proto_ctx server_ctx = { .l4_proto = 6, .role = PROTO_ROLE_SERVER };
static const struct proto_ctx keep_ctx = { .l4_proto = 6,
					   .role = PROTO_ROLE_CLIENT,
					   .opts = PROTO_OPT_KEEP_VALUES };
static const struct proto_ctx unknown_ctx = { .l4_proto = 6 };

/* ---- byte helpers ---------------------------------------------------------------- */

static struct ph_event hexev(enum proto_dir d, const char *hex)
{
	size_t n = strlen(hex) / 2;
	uint8_t *p = ph_keep(malloc(n ? n : 1));

	for (size_t i = 0; i < n; i++) {
		unsigned int v;

		sscanf(hex + 2 * i, "%2x", &v);
		p[i] = (uint8_t)v;
	}
	return PH_EVB(d, p, n);
}

static void pk_add(struct ph_buf *b, uint8_t seq, const void *payload, size_t n)
{
	uint8_t h[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), seq };

	ph_buf_put(b, h, 4);
	ph_buf_put(b, payload, n);
}

static void pk_query(struct ph_buf *b, uint8_t cmd, const char *arg)
{
	uint8_t buf[2048];
	size_t n = strlen(arg);

	buf[0] = cmd;
	memcpy(buf + 1, arg, n);
	pk_add(b, 0, buf, n + 1);
}

static void pk_ok(struct ph_buf *b, uint8_t seq, uint8_t affected, uint16_t status)
{
	uint8_t ok[7] = { 0x00, affected, 0, (uint8_t)status, (uint8_t)(status >> 8), 0, 0 };

	pk_add(b, seq, ok, sizeof(ok));
}

static void pk_eof(struct ph_buf *b, uint8_t seq, uint16_t status)
{
	uint8_t eof[5] = { 0xfe, 0, 0, (uint8_t)status, (uint8_t)(status >> 8) };

	pk_add(b, seq, eof, sizeof(eof));
}

static void pk_err(struct ph_buf *b, uint8_t seq, uint16_t code, const char *state, const char *msg)
{
	uint8_t buf[512];
	size_t n = strlen(msg);

	buf[0] = 0xff;
	buf[1] = (uint8_t)code;
	buf[2] = (uint8_t)(code >> 8);
	buf[3] = '#';
	memcpy(buf + 4, state, 5);
	memcpy(buf + 9, msg, n);
	pk_add(b, seq, buf, 9 + n);
}

/* A text result set: ncols columns, nrows rows of one value of vlen bytes each. */
static uint8_t pk_result(struct ph_buf *b, uint8_t seq, uint8_t ncols, size_t nrows, size_t vlen,
			 bool eofs)
{
	static const uint8_t coldef[] = { 3,	'd', 'e', 'f', 0, 0,	0, 1, 'c', 0, 0x0c,
					  0x21, 0,   0,	  0,   0, 0xfd, 0, 0, 0,   0, 0 };
	uint8_t *row = malloc(vlen + 9);
	size_t rl;

	assert_non_null(row);
	pk_add(b, seq++, &ncols, 1);
	for (uint8_t i = 0; i < ncols; i++)
		pk_add(b, seq++, coldef, sizeof(coldef));
	if (eofs)
		pk_eof(b, seq++, 0x0002);
	for (size_t r = 0; r < nrows; r++) {
		if (vlen < 251) {
			row[0] = (uint8_t)vlen;
			rl = 1;
		} else {
			row[0] = 0xfc;
			row[1] = (uint8_t)vlen;
			row[2] = (uint8_t)(vlen >> 8);
			rl = 3;
		}
		memset(row + rl, 'v', vlen);
		pk_add(b, seq++, row, rl + vlen);
	}
	if (eofs) {
		pk_eof(b, seq++, 0x0002);
	} else {
		uint8_t ok[7] = { 0xfe, 0, 0, 2, 0, 0, 0 };

		pk_add(b, seq++, ok, sizeof(ok));
	}
	free(row);
	return seq;
}

/* ---- fixtures from captures ------------------------------------------------------- */

/* mysql-error.pcap: MySQL 8.0.26 greeting, login, two queries, a bad database, quit. */
static const char *const err_conv[] = {
	/* server greeting */
	"<4a0000000a382e302e323600078c6c015a177963445f7c1100fff7ff0200ff8f1500000000000000000000082"
	"8"
	"454d23033c0e784f2008006d7973716c5f6e61746976655f70617373776f726400",
	/* login */
	">c400000185a2bf0900000001210000000000000000000000000000000000000000000000726f6f74001444831"
	"166bc32e72674ac474c2b7bb393fb56529f6d7973716c5f6e61746976655f70617373776f72640073045f7069"
	"64053330323436095f706c6174666f726d067838365f3634035f6f73054c696e75780c5f636c69656e745f6e"
	"616d65086c69626d7973716c076f735f7573657204726f6f740f5f636c69656e745f76657273696f6e06382e"
	"302e32360c70726f6772616d5f6e616d65056d7973716c",
	"<0700000200000002000000",
	">2300000003000173656c65637420404076657273696f6e5f636f6d6d656e74206c696d69742031",
	"<0100000101270000020364656600000011404076657273696f6e5f636f6d6d656e74000c2100ffff0000fd00"
	"001f00001d0000031c4d7953514c20436f6d6d756e69747920536572766572202d2047504c07000004fe0000"
	"02000000",
	">1400000003000153454c4543542044415441424153452829",
	"<010000010120000002036465660000000a44415441424153452829000c210066000000fd00001f00000100000"
	"3"
	"fb07000004fe000002000000",
	">050000000261626364",
	"<20000001ff1904233432303030556e6b6e6f776e20646174616261736520276162636427",
	">0100000001",
};

/* mysql-login-error.pcap: the server refuses a MySQL Connector/J login. */
static const char *const login_err_conv[] = {
	"<4a0000000a352e372e313800060000004f5b26424f54510100ffff080200ffc115000000000000000000006f"
	"774a395f531f4452213f70006d7973716c5f6e61746976655f70617373776f726400",
	">db0000010fa23e01ffffff002100000000000000000000000000000000000000000000006d7964656d6f0014"
	"0e29c7ec3333e43cdfd7e8a0f714f530917d0f696d7964656d6f2d646e31006d7973716c5f6e61746976655f"
	"70617373776f7264007d105f72756e74696d655f76657273696f6e09312e382e305f3231320f5f636c69656e"
	"745f76657273696f6e06382e302e31380f5f636c69656e745f6c6963656e73650347504c0f5f72756e74696d"
	"655f76656e646f7207496365645465610c5f636c69656e745f6e616d65114d7953514c20436f6e6e6563746f"
	"722f4a",
	"<1d000002ff1004233038303034546f6f206d616e7920636f6e6e656374696f6e73",
};

static size_t load(const char *const *conv, size_t n, struct ph_event *evs)
{
	for (size_t i = 0; i < n; i++)
		evs[i] = hexev(conv[i][0] == '>' ? EG : IN, conv[i] + 1);
	return n;
}

#define NEV(a) (sizeof(a) / sizeof((a)[0]))

static void test_error_capture(void **unused)
{
	struct ph_event evs[16];
	size_t n = load(err_conv, NEV(err_conv), evs);
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, n, PH_WHOLE, true);
	/* the successful handshake is not reported */
	assert_int_equal(c.nmsgs, 7);
	assert_int_equal(c.msgs[0].m.kind, PROTO_MSG_REQUEST);
	assert_string_equal(c.msgs[0].method, "COM_QUERY");
	/* query attributes (0x00 0x01) are skipped, literals hidden */
	assert_string_equal(c.msgs[0].resource, "select @@version_comment limit ?");
	assert_int_equal(c.msgs[0].m.length, 39);
	assert_int_equal(c.msgs[0].m.tcp_seq, PH_SEQ_EGRESS + 200);
	assert_int_equal(c.msgs[1].m.kind, PROTO_MSG_RESPONSE);
	assert_int_equal(c.msgs[1].m.status, PROTO_STATUS_OK);
	assert_int_equal(c.msgs[1].m.code, -1);
	assert_int_equal(c.msgs[1].m.length, 92);
	assert_false(c.msgs[1].m.has_affected_rows);
	assert_int_equal(c.msgs[1].m.start_ts, PH_TS_START(4));
	assert_string_equal(c.msgs[2].resource, "SELECT DATABASE()");
	assert_int_equal(c.msgs[3].m.length, 57);
	assert_string_equal(c.msgs[4].method, "COM_INIT_DB");
	assert_string_equal(c.msgs[4].resource, "abcd");
	assert_int_equal(c.msgs[5].m.code, 1049);
	assert_int_equal(c.msgs[5].m.status, PROTO_STATUS_SERVER_ERROR);
	assert_string_equal(c.msgs[5].exception, "Unknown database 'abcd'");
	assert_string_equal(c.msgs[6].method, "COM_QUIT");
	assert_true(c.msgs[6].m.flags & PROTO_MSG_F_NO_RESPONSE);
	assert_int_equal(c.st.parse_errors, 0);
	ph_free(&c);
	ph_check_splits(&proto_mysql_ops, &client_ctx, evs, n, true);
	/* the same conversation seen from the server process: directions swap */
	for (size_t i = 0; i < n; i++)
		evs[i].dir = evs[i].dir == EG ? IN : EG;
	ph_run(&c, &proto_mysql_ops, &server_ctx, evs, n, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 7);
	assert_int_equal(c.msgs[0].m.dir, IN);
	assert_int_equal(c.msgs[1].m.dir, EG);
	assert_int_equal(c.msgs[5].m.code, 1049);
	ph_free(&c);
	/* and with no role given, the greeting tells the sides apart */
	ph_run(&c, &proto_mysql_ops, &unknown_ctx, evs, n, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 7);
	assert_int_equal(c.msgs[0].m.kind, PROTO_MSG_REQUEST);
	assert_int_equal(c.msgs[0].m.dir, IN);
	ph_free(&c);
	ph_pool_free();
}

static void test_login_refused(void **unused)
{
	struct ph_event evs[4];
	size_t n = load(login_err_conv, NEV(login_err_conv), evs);
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, n, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	assert_int_equal(c.msgs[0].m.kind, PROTO_MSG_REQUEST);
	assert_null(c.msgs[0].method);
	assert_string_equal(c.msgs[0].resource, "Login username: mydemo db: mydemo-dn1");
	assert_int_equal(c.msgs[0].m.length, 223);
	assert_int_equal(c.msgs[1].m.code, 1040);
	assert_int_equal(c.msgs[1].m.status, PROTO_STATUS_SERVER_ERROR);
	assert_string_equal(c.msgs[1].exception, "Too many connections");
	ph_free(&c);
	ph_check_splits(&proto_mysql_ops, &client_ctx, evs, n, true);
	ph_pool_free();
}

/* truncate-1024.pcap: prepare, execute, close, then a plain query (from ProxySQL). */
static void test_prepared_capture(void **unused)
{
	struct ph_event evs[8];
	struct ph_buf prep_resp = { 0 }, exec_resp = { 0 }, q_resp = { 0 };
	static const uint8_t coldef[] = { 3,	'd', 'e', 'f', 0, 0,	0,    1, '?', 0, 0x0c,
					  0x3f, 0,   0,	  0,   0, 0xfd, 0x80, 0, 0,   0, 0 };
	uint8_t prep_ok[12] = { 0x00, 0x01, 0, 0, 0, 0x02, 0, 0x01, 0, 0, 0, 0 };
	uint8_t row[] = { 0x00, 0x00, 0x05, 0, 0, 0, 0, 0, 0, 0 };
	struct ph_conv c;
	size_t n = 0;

	(void)unused;
	evs[n++] = hexev(EG, "280000001653454c454354202a2046524f4d2060646f6d61696e6020574845524520"
			     "737461746520213d203f");
	/* OK with statement id 1, two columns, one parameter; definitions and EOFs */
	pk_add(&prep_resp, 1, prep_ok, sizeof(prep_ok));
	pk_add(&prep_resp, 2, coldef, sizeof(coldef));
	pk_eof(&prep_resp, 3, 2);
	pk_add(&prep_resp, 4, coldef, sizeof(coldef));
	pk_add(&prep_resp, 5, coldef, sizeof(coldef));
	pk_eof(&prep_resp, 6, 2);
	evs[n++] = ph_buf_event(IN, &prep_resp);
	evs[n++] = hexev(EG, "1600000017010000000001000000000108000500000000000000");
	/* a binary result: count, two definitions, EOF, one binary row, EOF */
	{
		uint8_t two = 2;

		pk_add(&exec_resp, 1, &two, 1);
		pk_add(&exec_resp, 2, coldef, sizeof(coldef));
		pk_add(&exec_resp, 3, coldef, sizeof(coldef));
		pk_eof(&exec_resp, 4, 0x22);
		pk_add(&exec_resp, 5, row, sizeof(row));
		pk_eof(&exec_resp, 6, 0x22);
	}
	evs[n++] = ph_buf_event(IN, &exec_resp);
	evs[n++] = hexev(EG, "050000001901000000");
	evs[n++] = hexev(EG, "1b0000000353454c454354202a2046524f4d2060636f6e74726f6c6c657260");
	pk_result(&q_resp, 1, 2, 3, 10, true);
	evs[n++] = ph_buf_event(IN, &q_resp);

	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, n, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 7);
	assert_string_equal(c.msgs[0].method, "COM_STMT_PREPARE");
	assert_string_equal(c.msgs[0].resource, "SELECT * FROM `domain` WHERE state != ?");
	assert_false(c.msgs[0].m.has_request_id);
	assert_true(c.msgs[1].m.has_request_id);
	assert_int_equal(c.msgs[1].m.request_id, 1);
	assert_int_equal(c.msgs[1].m.length, prep_resp.n);
	assert_string_equal(c.msgs[2].method, "COM_STMT_EXECUTE");
	assert_true(c.msgs[2].m.has_request_id);
	assert_int_equal(c.msgs[2].m.request_id, 1);
	assert_string_equal(c.msgs[2].resource, "SELECT * FROM `domain` WHERE state != ?");
	assert_int_equal(c.msgs[3].m.length, exec_resp.n);
	assert_string_equal(c.msgs[4].method, "COM_STMT_CLOSE");
	assert_true(c.msgs[4].m.flags & PROTO_MSG_F_NO_RESPONSE);
	assert_int_equal(c.msgs[4].m.request_id, 1);
	assert_string_equal(c.msgs[5].resource, "SELECT * FROM `controller`");
	assert_int_equal(c.msgs[6].m.length, q_resp.n);
	ph_free(&c);
	ph_check_splits(&proto_mysql_ops, &client_ctx, evs, n, true);
	ph_pool_free();
}

/* ---- built conversations ---------------------------------------------------------- */

static void test_affected_rows_and_privacy(void **unused)
{
	struct ph_buf q = { 0 }, r = { 0 }, q2 = { 0 }, r2 = { 0 };
	struct ph_event evs[4];
	struct ph_conv c;

	(void)unused;
	pk_query(&q, 0x03, "insert into t values (1,'a'),(2,'b''c'),(3,\"d\") -- 4");
	pk_ok(&r, 1, 3, 2);
	pk_query(&q2, 0x03, "UPDATE t SET v = 0x1F, w=-2.5e3 WHERE k IN (10, 20) AND n = `c1`");
	pk_ok(&r2, 1, 2, 2);
	evs[0] = ph_buf_event(EG, &q);
	evs[1] = ph_buf_event(IN, &r);
	evs[2] = ph_buf_event(EG, &q2);
	evs[3] = ph_buf_event(IN, &r2);
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, 4, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 4);
	assert_string_equal(c.msgs[0].resource, "insert into t values (?,?),(?,?),(?,?) -- 4");
	assert_true(c.msgs[1].m.has_affected_rows);
	assert_int_equal(c.msgs[1].m.affected_rows, 3);
	assert_string_equal(c.msgs[2].resource,
			    "UPDATE t SET v = ?, w=-? WHERE k IN (?, ?) AND n = `c1`");
	assert_int_equal(c.msgs[3].m.affected_rows, 2);
	ph_free(&c);
	ph_check_splits(&proto_mysql_ops, &client_ctx, evs, 4, true);
	ph_run(&c, &proto_mysql_ops, &keep_ctx, evs, 4, PH_WHOLE, true);
	assert_string_equal(c.msgs[0].resource,
			    "insert into t values (1,'a'),(2,'b''c'),(3,\"d\") -- 4");
	ph_free(&c);
	ph_pool_free();
}

/* A result much larger than anything kept streams through, whole or byte by byte. */
static void test_large_result_streams(void **unused)
{
	struct ph_buf q = { 0 }, r = { 0 }, q2 = { 0 }, r2 = { 0 };
	struct ph_event evs[4];
	struct ph_conv c;

	(void)unused;
	pk_query(&q, 0x03, "select v from big");
	pk_result(&r, 1, 3, 300, 3000, false); /* ~900 KB, deprecated EOF */
	pk_query(&q2, 0x0e, "");
	pk_ok(&r2, 1, 0, 2);
	evs[0] = ph_buf_event(EG, &q);
	evs[1] = ph_buf_event(IN, &r);
	evs[2] = ph_buf_event(EG, &q2);
	evs[3] = ph_buf_event(IN, &r2);
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, 4, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 4);
	assert_int_equal(c.msgs[1].m.length, r.n);
	assert_int_equal(c.msgs[1].m.flags, 0);
	assert_string_equal(c.msgs[2].method, "COM_PING");
	assert_int_equal(c.msgs[3].m.status, PROTO_STATUS_OK);
	ph_free(&c);
	/* every byte consumed at once: nothing held for the caller */
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, 4, PH_BYTES, true);
	assert_int_equal(c.nmsgs, 4);
	assert_int_equal(c.msgs[1].m.length, r.n);
	assert_int_equal(c.side[1].len, 0);
	ph_free(&c);
	ph_pool_free();
}

/* A capture that loses bytes: inside a row (harmless), then across packet boundaries. */
static void test_gaps(void **unused)
{
	struct ph_buf q = { 0 }, r = { 0 }, q2 = { 0 }, r2 = { 0 }, q3 = { 0 }, r3 = { 0 };
	struct ph_event evs[8];
	struct ph_conv c;
	size_t cut;

	(void)unused;
	pk_query(&q, 0x03, "select a from t");
	pk_result(&r, 1, 1, 2, 2000, true);
	pk_query(&q2, 0x03, "select b from t");
	pk_result(&r2, 1, 1, 5, 2000, true);
	pk_query(&q3, 0x03, "select c from t");
	pk_err(&r3, 1, 1146, "42S02", "Table 'd.t' doesn't exist");
	ph_keep(r.p);
	ph_keep(r2.p);
	evs[0] = ph_buf_event(EG, &q);
	/* 1024 bytes captured: the gap ends inside the first row */
	evs[1] = PH_EVB(IN, r.p, 1024);
	evs[1].gap = 1000;
	evs[2] = PH_EVB(IN, r.p + 2024, r.n - 2024);
	evs[3] = ph_buf_event(EG, &q2);
	/* the gap swallows several rows and the end: the response ends at the gap */
	cut = 1024;
	evs[4] = PH_EVB(IN, r2.p, cut);
	evs[4].gap = r2.n - cut;
	evs[5] = ph_buf_event(EG, &q3);
	evs[6] = ph_buf_event(IN, &r3);
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, 7, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 6);
	assert_int_equal(c.msgs[1].m.length, r.n);
	assert_int_equal(c.msgs[1].m.flags, 0);
	assert_string_equal(c.msgs[2].resource, "select b from t");
	assert_true(c.msgs[3].m.flags & PROTO_MSG_F_LEN_GUESSED);
	assert_int_equal(c.msgs[3].m.length, r2.n);
	assert_int_equal(c.msgs[3].m.status, PROTO_STATUS_OK);
	assert_string_equal(c.msgs[4].resource, "select c from t");
	assert_int_equal(c.msgs[5].m.code, 1146);
	assert_string_equal(c.msgs[5].exception, "Table 'd.t' doesn't exist");
	ph_free(&c);
	ph_check_splits(&proto_mysql_ops, &client_ctx, evs, 7, true);
	ph_pool_free();
}

/* CLIENT_COMPRESS negotiated: commands and results travel in zlib (or stored) packets. */
static void test_compressed(void **unused)
{
	static const char greeting[] =
		"4a0000000a382e302e323600078c6c015a177963445f7c1100fff7ff0200ff8f150000000000000000"
		"00000828454d23033c0e784f2008006d7973716c5f6e61746976655f70617373776f726400";
	uint8_t login[64] = { 0 };
	struct ph_buf lg = { 0 }, ok = { 0 }, inner_q = { 0 }, inner_r = { 0 }, q = { 0 },
		      r = { 0 };
	struct ph_buf q2 = { 0 }, inner_q2 = { 0 }, r2 = { 0 }, inner_r2 = { 0 };
	struct ph_event evs[8];
	struct ph_conv c;
	uLongf zn;
	uint8_t *z;
	uint8_t hdr[7];

	(void)unused;
	/* capabilities: PROTOCOL_41 | SECURE_CONNECTION | COMPRESS, user "u" */
	login[0] = 0x20;
	login[1] = 0x82;
	login[32] = 'u';
	pk_add(&lg, 1, login, 35);
	pk_ok(&ok, 2, 0, 2);
	/* a query in a stored compressed packet */
	pk_query(&inner_q, 0x03, "select 1");
	hdr[0] = (uint8_t)inner_q.n;
	hdr[1] = hdr[2] = hdr[3] = 0;
	hdr[4] = hdr[5] = hdr[6] = 0;
	ph_buf_put(&q, hdr, 7);
	ph_buf_put(&q, inner_q.p, inner_q.n);
	/* its result, deflated, split over two compressed packets */
	pk_result(&inner_r, 1, 1, 40, 100, true);
	for (int half = 0; half < 2; half++) {
		size_t off = half ? inner_r.n / 2 : 0;
		size_t len = half ? inner_r.n - inner_r.n / 2 : inner_r.n / 2;

		zn = compressBound(len);
		z = malloc(zn);
		assert_int_equal(compress(z, &zn, inner_r.p + off, len), Z_OK);
		hdr[0] = (uint8_t)zn;
		hdr[1] = (uint8_t)(zn >> 8);
		hdr[2] = 0;
		hdr[3] = (uint8_t)(1 + half);
		hdr[4] = (uint8_t)len;
		hdr[5] = (uint8_t)(len >> 8);
		hdr[6] = 0;
		ph_buf_put(&r, hdr, 7);
		ph_buf_put(&r, z, zn);
		free(z);
	}
	/* a deflated command and a stored error */
	pk_query(&inner_q2, 0x03, "select * from t where name = 'secret'");
	zn = compressBound(inner_q2.n);
	z = malloc(zn);
	assert_int_equal(compress(z, &zn, inner_q2.p, inner_q2.n), Z_OK);
	hdr[0] = (uint8_t)zn;
	hdr[1] = hdr[2] = hdr[3] = 0;
	hdr[4] = (uint8_t)inner_q2.n;
	hdr[5] = hdr[6] = 0;
	ph_buf_put(&q2, hdr, 7);
	ph_buf_put(&q2, z, zn);
	free(z);
	pk_err(&inner_r2, 1, 1146, "42S02", "no table");
	hdr[0] = (uint8_t)inner_r2.n;
	hdr[1] = hdr[2] = 0;
	hdr[3] = 1;
	hdr[4] = hdr[5] = hdr[6] = 0;
	ph_buf_put(&r2, hdr, 7);
	ph_buf_put(&r2, inner_r2.p, inner_r2.n);

	evs[0] = hexev(IN, greeting);
	evs[1] = ph_buf_event(EG, &lg);
	evs[2] = ph_buf_event(IN, &ok);
	evs[3] = ph_buf_event(EG, &q);
	evs[4] = ph_buf_event(IN, &r);
	evs[5] = ph_buf_event(EG, &q2);
	evs[6] = ph_buf_event(IN, &r2);
	free(inner_q.p);
	free(inner_r.p);
	free(inner_q2.p);
	free(inner_r2.p);
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, 7, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 4);
	assert_string_equal(c.msgs[0].resource, "select ?");
	assert_int_equal(c.msgs[1].m.status, PROTO_STATUS_OK);
	assert_int_equal(c.msgs[1].m.flags, 0);
	assert_string_equal(c.msgs[2].resource, "select * from t where name = ?");
	assert_int_equal(c.msgs[3].m.code, 1146);
	assert_int_equal(c.st.parse_errors, 0);
	ph_free(&c);
	ph_check_splits(&proto_mysql_ops, &client_ctx, evs, 7, true);
	/* joined without the handshake: the first command's framing tells compression */
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs + 3, 4, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 4);
	assert_string_equal(c.msgs[0].resource, "select ?");
	assert_int_equal(c.msgs[3].m.code, 1146);
	ph_free(&c);
	ph_check_splits(&proto_mysql_ops, &client_ctx, evs + 3, 4, true);
	ph_pool_free();
}

/* Procedures answer with several results (SERVER_MORE_RESULTS_EXISTS) and a final OK. */
static void test_multi_results_and_metadata(void **unused)
{
	struct ph_buf q = { 0 }, r = { 0 }, q2 = { 0 }, r2 = { 0 };
	struct ph_event evs[4];
	struct ph_conv c;
	uint8_t seq, cnt[2] = { 1, 0 }, row[2] = { 1, 'x' };

	(void)unused;
	pk_query(&q, 0x03, "call p()");
	seq = pk_result(&r, 1, 1, 2, 5, true);
	/* patch the last EOF's status: more results */
	r.p[r.n - 2] = 0x0a;
	seq = pk_result(&r, seq, 2, 1, 5, true);
	r.p[r.n - 2] = 0x0a;
	pk_ok(&r, seq, 0, 2);
	/* MariaDB cached metadata: the count says no definitions follow */
	pk_query(&q2, 0x03, "select x");
	pk_add(&r2, 1, cnt, 2);
	pk_eof(&r2, 2, 2);
	pk_add(&r2, 3, row, 2);
	pk_eof(&r2, 4, 2);
	evs[0] = ph_buf_event(EG, &q);
	evs[1] = ph_buf_event(IN, &r);
	evs[2] = ph_buf_event(EG, &q2);
	evs[3] = ph_buf_event(IN, &r2);
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, 4, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 4);
	assert_int_equal(c.msgs[1].m.length, r.n);
	assert_int_equal(c.msgs[1].m.flags, 0);
	assert_true(c.msgs[1].m.has_affected_rows);
	assert_int_equal(c.msgs[3].m.length, r2.n);
	assert_int_equal(c.st.parse_errors, 0);
	ph_free(&c);
	ph_check_splits(&proto_mysql_ops, &client_ctx, evs, 4, true);
	ph_pool_free();
}

static void test_ssl_request_goes_opaque(void **unused)
{
	static const char greeting[] =
		"4a0000000a382e302e323600078c6c015a177963445f7c1100fff7ff0200ff8f150000000000000000"
		"00000828454d23033c0e784f2008006d7973716c5f6e61746976655f70617373776f726400";
	uint8_t sslreq[32] = { 0x00, 0x8a, 0, 0 }; /* PROTOCOL_41 | SSL | SECURE_CONNECTION */
	struct ph_buf s = { 0 }, q = { 0 };
	struct ph_event evs[4];
	struct ph_conv c;

	(void)unused;
	sslreq[1] = 0x8a;
	sslreq[0] = 0x00;
	pk_add(&s, 1, sslreq, 32);
	pk_query(&q, 0x03, "select 1"); /* would be TLS records on a real connection */
	evs[0] = hexev(IN, greeting);
	evs[1] = ph_buf_event(EG, &s);
	evs[2] = ph_buf_event(EG, &q);
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, 3, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 0);
	ph_free(&c);
	ph_pool_free();
}

static void test_statement_table_bounded(void **unused)
{
	struct ph_buf q[24], r[24];
	struct ph_event evs[48];
	uint8_t ok[12] = { 0 }, exec[10] = { 0x17 };
	char sql[64];
	struct ph_conv c;
	size_t n = 0;

	(void)unused;
	memset(q, 0, sizeof(q));
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 10; i++) {
		snprintf(sql, sizeof(sql), "select %d from t%d where a = ?", i, i);
		pk_query(&q[i], 0x16, sql);
		ok[1] = (uint8_t)(100 + i);
		pk_add(&r[i], 1, ok, sizeof(ok));
		evs[n++] = ph_buf_event(EG, &q[i]);
		evs[n++] = ph_buf_event(IN, &r[i]);
	}
	/* execute the first (evicted) and the last (kept) */
	exec[1] = 100;
	pk_add(&q[10], 0, exec, sizeof(exec));
	pk_ok(&r[10], 1, 1, 2);
	exec[1] = 109;
	pk_add(&q[11], 0, exec, sizeof(exec));
	pk_ok(&r[11], 1, 1, 2);
	evs[n++] = ph_buf_event(EG, &q[10]);
	evs[n++] = ph_buf_event(IN, &r[10]);
	evs[n++] = ph_buf_event(EG, &q[11]);
	evs[n++] = ph_buf_event(IN, &r[11]);
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, n, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 24);
	assert_int_equal(c.msgs[19].m.request_id, 109);
	assert_int_equal(c.msgs[20].m.request_id, 100);
	assert_null(c.msgs[20].resource);
	assert_int_equal(c.msgs[22].m.request_id, 109);
	assert_string_equal(c.msgs[22].resource, "select ? from t9 where a = ?");
	ph_free(&c);
	ph_pool_free();
}

/* Garbage where a command should be is counted and skipped; the next event resumes. */
static void test_garbage_and_resync(void **unused)
{
	struct ph_buf q = { 0 }, r = { 0 };
	struct ph_event evs[4];
	struct ph_conv c;

	(void)unused;
	pk_query(&q, 0x03, "select 1");
	pk_ok(&r, 1, 0, 2);
	struct ph_event qe = ph_buf_event(EG, &q), re = ph_buf_event(IN, &r);

	evs[0] = PH_EV(EG, "\x05\x00\x00\x00\xee\x01\x02\x03\x04");
	evs[1] = qe;
	evs[2] = re;
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, 3, PH_WHOLE, true);
	assert_int_equal(c.st.parse_errors, 1);
	assert_int_equal(c.nmsgs, 2);
	assert_string_equal(c.msgs[0].resource, "select ?");
	ph_free(&c);
	/* a gap that loses the framing mid-request, then noise, then a real command */
	evs[0] = PH_EV(EG, "\x40\x00\x00\x00\x03select");
	evs[0].gap = 200;
	evs[1] = PH_EV(EG, "noise that is not a packet at all");
	evs[2] = qe;
	evs[3] = re;
	ph_run(&c, &proto_mysql_ops, &client_ctx, evs, 4, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 3);
	assert_string_equal(c.msgs[0].resource, "select");
	assert_true(c.msgs[0].m.flags & PROTO_MSG_F_TRUNCATED);
	assert_string_equal(c.msgs[1].resource, "select ?");
	assert_int_equal(c.msgs[2].m.kind, PROTO_MSG_RESPONSE);
	ph_free(&c);
	ph_pool_free();
}

static void test_detect(void **unused)
{
	struct ph_event g = hexev(IN, err_conv[0] + 1);
	struct ph_event l = hexev(EG, login_err_conv[1] + 1);
	const struct proto_ctx port = { .l4_proto = 6, .server_port = 3306 };
	const struct proto_ctx other = { .l4_proto = 6, .server_port = 20130 };
	const struct proto_ctx udp = { .l4_proto = 17, .server_port = 3306 };
	static const uint8_t query[] = "\x0f\x00\x00\x00\x03SELECT * FROM t";
	static const uint8_t ping[] = "\x01\x00\x00\x00\x0e";
	static const uint8_t ok[] = "\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00";
	static const uint8_t notsql[] = "\x0f\x00\x00\x00\x03hello, world!!!";
	static const uint8_t http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t pg[] = "\x00\x00\x00\x08\x04\xd2\x16\x2f";
	static const uint8_t redis[] = "*1\r\n$4\r\nPING\r\n";
	const struct proto_ops *o = &proto_mysql_ops;

	(void)unused;
	assert_int_equal(o->detect(g.data, g.len, IN, &other), PROTO_DETECT_YES);
	assert_int_equal(o->detect(l.data, l.len, EG, NULL), PROTO_DETECT_YES);
	assert_int_equal(o->detect(query, sizeof(query) - 1, EG, &other), PROTO_DETECT_YES);
	assert_int_equal(o->detect(ping, sizeof(ping) - 1, EG, &other), PROTO_DETECT_MAYBE);
	assert_int_equal(o->detect(ping, sizeof(ping) - 1, EG, &port), PROTO_DETECT_YES);
	assert_int_equal(o->detect(ok, sizeof(ok) - 1, IN, &port), PROTO_DETECT_MAYBE);
	assert_int_equal(o->detect(ok, sizeof(ok) - 1, IN, &other), PROTO_DETECT_NO);
	assert_int_equal(o->detect(notsql, sizeof(notsql) - 1, EG, &port), PROTO_DETECT_NO);
	assert_int_equal(o->detect(query, sizeof(query) - 1, EG, &udp), PROTO_DETECT_NO);
	assert_int_equal(o->detect(http, sizeof(http) - 1, EG, &port), PROTO_DETECT_NO);
	assert_int_equal(o->detect(pg, sizeof(pg) - 1, EG, &port), PROTO_DETECT_NO);
	assert_int_equal(o->detect(redis, sizeof(redis) - 1, EG, &port), PROTO_DETECT_NO);
	assert_int_equal(o->detect(query, 3, EG, &port), PROTO_DETECT_NO);
	assert_int_equal(o->detect(NULL, 0, EG, NULL), PROTO_DETECT_NO);
	/* registered, after HTTP */
	ph_check_registered(&proto_mysql_ops, PROTO_MYSQL, "MySQL");
	ph_pool_free();
}

static void test_obfuscate(void **unused)
{
	char out[256];
	size_t n;

#define OBF(in, d, want)                                                                           \
	do {                                                                                       \
		n = sql_obfuscate((const uint8_t *)(in), strlen(in), out, sizeof(out), (d));       \
		out[n] = 0;                                                                        \
		assert_string_equal(out, (want));                                                  \
	} while (0)

	(void)unused;
	OBF("select * from t1 where a = 'x\\'y' and b=12", SQL_DIALECT_MYSQL,
	    "select * from t1 where a = ? and b=?");
	OBF("select \"q\", `id2` /* c 5 */ # 7", SQL_DIALECT_MYSQL,
	    "select ?, `id2` /* c 5 */ # 7");
	OBF("select \"Col1\", $1, $$a 'b' c$$, $t$x$t$ from t where x = E'a\\'b' and y = 'it''s'",
	    SQL_DIALECT_PG, "select \"Col1\", $1, ?, ? from t where x = E? and y = ?");
	OBF("values (1.5e-3, .5, 0xFF, x'0a')", SQL_DIALECT_MYSQL, "values (?, ?, ?, x?)");
	OBF("select 'unterminated", SQL_DIALECT_MYSQL, "select ?");
	n = sql_obfuscate((const uint8_t *)"select 1234", 11, out, 4, SQL_DIALECT_MYSQL);
	assert_int_equal(n, 4);
	assert_true(sql_starts_like_statement((const uint8_t *)" /* x */ (SELECT 1)", 19));
	assert_true(sql_starts_like_statement((const uint8_t *)"insert into", 11));
	assert_false(sql_starts_like_statement((const uint8_t *)"selects", 7));
	assert_false(sql_starts_like_statement((const uint8_t *)"hello", 5));
	assert_false(sql_starts_like_statement((const uint8_t *)"/* open", 7));
#undef OBF
}

static void test_bad_arguments(void **unused)
{
	(void)unused;
	ph_check_bad_args(&proto_mysql_ops);
	ph_check_null_args(&proto_mysql_ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_capture),
		cmocka_unit_test(test_login_refused),
		cmocka_unit_test(test_prepared_capture),
		cmocka_unit_test(test_affected_rows_and_privacy),
		cmocka_unit_test(test_large_result_streams),
		cmocka_unit_test(test_gaps),
		cmocka_unit_test(test_compressed),
		cmocka_unit_test(test_multi_results_and_metadata),
		cmocka_unit_test(test_ssl_request_goes_opaque),
		cmocka_unit_test(test_statement_table_bounded),
		cmocka_unit_test(test_garbage_and_resync),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_obfuscate),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
