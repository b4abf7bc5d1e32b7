/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the Dubbo parser. The fixtures are real messages, taken with
 * tshark from the reference captures (../shared/pcaps/dubbo): each event is one TCP
 * segment's payload as the consumer (CLI, egress) or the provider (SRV, ingress) sent it.
 * Every fixture is also replayed cut at every offset and byte by byte.
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

#define CLI PROTO_DIR_EGRESS
#define SRV PROTO_DIR_INGRESS

/* clang-format off */
static const char eys_0[] = /* client */
	"\xda\xbb\xc2\x00\x00\x00\x00\x00\x00\x07\x7b\x79\x00\x00\x03\x46\x05\x32\x2e"
	"\x30\x2e\x32\x30\x2d\x63\x6f\x6d\x2e\x76\x69\x76\x6f\x2e\x69\x74\x2e\x76\x77"
	"\x6f\x72\x6b\x2e\x61\x70\x69\x2e\x63\x6f\x6d\x6d\x6f\x6e\x2e\x65\x78\x70\x6f"
	"\x72\x74\x2e\x45\x78\x70\x6f\x72\x74\x41\x70\x69\x05\x30\x2e\x30\x2e\x30\x07"
	"\x67\x65\x74\x42\x79\x49\x64\x16\x4c\x6a\x61\x76\x61\x2f\x69\x6f\x2f\x53\x65"
	"\x72\x69\x61\x6c\x69\x7a\x61\x62\x6c\x65\x3b\x4c\x02\xce\x65\x06\xc3\xb4\x6f"
	"\x8f\x48\x07\x74\x72\x61\x63\x65\x49\x64\x30\x20\x62\x32\x31\x39\x32\x36\x38"
	"\x38\x37\x63\x61\x64\x34\x31\x36\x34\x39\x37\x65\x38\x37\x33\x63\x62\x66\x61"
	"\x34\x62\x35\x65\x63\x61\x0f\x69\x6e\x76\x6f\x6b\x65\x72\x48\x6f\x73\x74\x4e"
	"\x61\x6d\x65\x1a\x76\x77\x6f\x72\x6b\x2d\x77\x65\x62\x2d\x36\x36\x63\x64\x36"
	"\x62\x36\x39\x63\x37\x2d\x32\x7a\x34\x71\x32\x07\x70\x53\x70\x61\x6e\x49\x64"
	"\x11\x31\x31\x34\x33\x35\x39\x39\x37\x34\x33\x33\x30\x34\x32\x38\x38\x30\x10"
	"\x45\x61\x67\x6c\x65\x45\x79\x65\x2d\x70\x53\x70\x61\x6e\x49\x44\x13\x35\x38"
	"\x37\x37\x33\x34\x30\x38\x31\x33\x33\x36\x34\x39\x32\x39\x31\x34\x39\x11\x45"
	"\x61\x67\x6c\x65\x45\x79\x65\x2d\x70\x41\x70\x70\x4e\x61\x6d\x65\x30\x20\x31"
	"\x30\x32\x36\x30\x35\x35\x33\x36\x34\x33\x34\x31\x32\x30\x39\x40\x32\x34\x62"
	"\x32\x37\x34\x65\x33\x32\x36\x39\x63\x61\x31\x62\x30\x3e\x63\x6f\x6d\x2e\x76"
	"\x69\x76\x6f\x2e\x69\x74\x2e\x76\x77\x6f\x72\x6b\x2e\x64\x75\x62\x62\x6f\x2e"
	"\x63\x6f\x6e\x73\x74\x61\x6e\x74\x73\x2e\x52\x70\x63\x41\x74\x74\x61\x63\x68"
	"\x6d\x65\x6e\x74\x2e\x54\x49\x4d\x45\x53\x54\x41\x4d\x50\x5f\x4e\x41\x4d\x45"
	"\x0d\x31\x36\x36\x35\x34\x37\x35\x34\x37\x32\x35\x35\x30\x11\x5f\x5f\x64\x75"
	"\x62\x62\x6f\x2e\x63\x6c\x75\x73\x74\x65\x72\x5f\x5f\x11\x5f\x5f\x64\x75\x62"
	"\x62\x6f\x2e\x63\x6c\x75\x73\x74\x65\x72\x5f\x5f\x0b\x45\x61\x67\x6c\x65\x45"
	"\x79\x65\x2d\x49\x50\x0c\x31\x30\x2e\x31\x34\x35\x2e\x39\x32\x2e\x39\x35\x08"
	"\x75\x73\x65\x72\x4e\x61\x6d\x65\x4e\x09\x69\x6e\x74\x65\x72\x66\x61\x63\x65"
	"\x30\x2d\x63\x6f\x6d\x2e\x76\x69\x76\x6f\x2e\x69\x74\x2e\x76\x77\x6f\x72\x6b"
	"\x2e\x61\x70\x69\x2e\x63\x6f\x6d\x6d\x6f\x6e\x2e\x65\x78\x70\x6f\x72\x74\x2e"
	"\x45\x78\x70\x6f\x72\x74\x41\x70\x69\x07\x76\x65\x72\x73\x69\x6f\x6e\x05\x30"
	"\x2e\x30\x2e\x30\x09\x69\x6e\x76\x6f\x6b\x65\x72\x49\x70\x0c\x31\x30\x2e\x31"
	"\x34\x35\x2e\x39\x32\x2e\x39\x35\x07\x74\x69\x6d\x65\x6f\x75\x74\x06\x33\x30"
	"\x30\x30\x30\x30\x0c\x65\x6d\x70\x6c\x6f\x79\x65\x65\x43\x6f\x64\x65\x4e\x06"
	"\x73\x70\x61\x6e\x49\x64\x11\x31\x31\x34\x33\x35\x39\x39\x37\x34\x33\x33\x31"
	"\x37\x33\x39\x35\x32\x11\x45\x61\x67\x6c\x65\x45\x79\x65\x2d\x55\x73\x65\x72"
	"\x44\x61\x74\x61\x07\x74\x62\x73\x3d\x66\x72\x73\x04\x70\x61\x74\x68\x30\x2d"
	"\x63\x6f\x6d\x2e\x76\x69\x76\x6f\x2e\x69\x74\x2e\x76\x77\x6f\x72\x6b\x2e\x61"
	"\x70\x69\x2e\x63\x6f\x6d\x6d\x6f\x6e\x2e\x65\x78\x70\x6f\x72\x74\x2e\x45\x78"
	"\x70\x6f\x72\x74\x41\x70\x69\x0e\x45\x61\x67\x6c\x65\x45\x79\x65\x2d\x52\x70"
	"\x63\x49\x44\x08\x30\x2e\x31\x2e\x31\x30\x2e\x31\x10\x45\x61\x67\x6c\x65\x45"
	"\x79\x65\x2d\x54\x72\x61\x63\x65\x49\x44\x30\x20\x39\x30\x36\x30\x36\x37\x36"
	"\x35\x31\x36\x36\x35\x34\x37\x35\x34\x37\x32\x36\x32\x31\x31\x31\x35\x36\x32"
	"\x61\x51\x6b\x38\x70\x44\x0e\x69\x6e\x76\x6f\x6b\x65\x72\x41\x70\x70\x4e\x61"
	"\x6d\x65\x09\x76\x77\x6f\x72\x6b\x2d\x77\x65\x62\x0f\x45\x61\x67\x6c\x65\x45"
	"\x79\x65\x2d\x53\x70\x61\x6e\x49\x44\x14\x2d\x36\x34\x35\x35\x33\x38\x32\x36"
	"\x39\x39\x33\x36\x37\x37\x37\x34\x37\x37\x31\x0f\x61\x70\x70\x6c\x69\x63\x61"
	"\x74\x69\x6f\x6e\x4e\x61\x6d\x65\x08\x76\x77\x6f\x72\x6b\x77\x65\x62\x5a"
	;
#define EYS_EVENTS \
PH_EV(CLI, eys_0)
static const char sw8_0[] = /* client */
	"\xda\xbb\xc2\x00\x00\x00\x00\x00\x00\x01\x90\x63\x00\x00\x01\xd1\x05\x32\x2e"
	"\x30\x2e\x32\x1b\x6d\x79\x2e\x64\x65\x6d\x6f\x2e\x73\x65\x72\x76\x69\x63\x65"
	"\x2e\x49\x74\x65\x6d\x53\x65\x72\x76\x69\x63\x65\x05\x30\x2e\x30\x2e\x30\x08"
	"\x66\x69\x6e\x64\x49\x74\x65\x6d\x00\x48\x04\x70\x61\x74\x68\x1b\x6d\x79\x2e"
	"\x64\x65\x6d\x6f\x2e\x73\x65\x72\x76\x69\x63\x65\x2e\x49\x74\x65\x6d\x53\x65"
	"\x72\x76\x69\x63\x65\x12\x72\x65\x6d\x6f\x74\x65\x2e\x61\x70\x70\x6c\x69\x63"
	"\x61\x74\x69\x6f\x6e\x08\x73\x68\x6f\x70\x2d\x77\x65\x62\x05\x73\x77\x38\x2d"
	"\x78\x01\x30\x03\x73\x77\x38\x31\x0d\x31\x2d\x59\x7a\x67\x78\x4e\x6a\x52\x6a"
	"\x59\x57\x55\x35\x4d\x47\x55\x35\x4e\x47\x5a\x6c\x4e\x6a\x67\x30\x4f\x54\x4e"
	"\x6a\x4d\x54\x41\x32\x5a\x57\x45\x35\x4e\x57\x59\x78\x5a\x57\x55\x75\x4e\x6a"
	"\x59\x75\x4d\x54\x59\x32\x4e\x6a\x63\x35\x4f\x44\x55\x30\x4f\x44\x67\x31\x4d"
	"\x54\x41\x77\x4e\x6a\x63\x3d\x2d\x59\x7a\x67\x78\x4e\x6a\x52\x6a\x59\x57\x55"
	"\x35\x4d\x47\x55\x35\x4e\x47\x5a\x6c\x4e\x6a\x67\x30\x4f\x54\x4e\x6a\x4d\x54"
	"\x41\x32\x5a\x57\x45\x35\x4e\x57\x59\x78\x5a\x57\x55\x75\x4e\x6a\x59\x75\x4d"
	"\x54\x59\x32\x4e\x6a\x63\x35\x4f\x44\x55\x30\x4f\x44\x67\x31\x4d\x54\x41\x77"
	"\x4e\x6a\x59\x3d\x2d\x33\x2d\x63\x32\x68\x76\x63\x43\x31\x33\x5a\x57\x49\x3d"
	"\x2d\x4f\x54\x67\x31\x59\x54\x41\x78\x4d\x6d\x49\x78\x4e\x54\x56\x6a\x4e\x44"
	"\x4a\x68\x4e\x54\x6c\x6d\x4d\x54\x67\x31\x4e\x47\x4e\x68\x4e\x6a\x41\x7a\x59"
	"\x32\x4a\x69\x59\x57\x56\x41\x4d\x54\x41\x75\x4e\x7a\x45\x75\x4d\x43\x34\x78"
	"\x4d\x7a\x55\x3d\x2d\x4c\x33\x4e\x6f\x62\x33\x41\x76\x5a\x6e\x56\x73\x62\x43"
	"\x31\x30\x5a\x58\x4e\x30\x2d\x4d\x54\x41\x75\x4e\x7a\x45\x75\x4d\x43\x34\x78"
	"\x4d\x7a\x59\x36\x4d\x6a\x41\x34\x4f\x44\x41\x3d\x0f\x73\x77\x38\x2d\x63\x6f"
	"\x72\x72\x65\x6c\x61\x74\x69\x6f\x6e\x00\x09\x69\x6e\x74\x65\x72\x66\x61\x63"
	"\x65\x1b\x6d\x79\x2e\x64\x65\x6d\x6f\x2e\x73\x65\x72\x76\x69\x63\x65\x2e\x49"
	"\x74\x65\x6d\x53\x65\x72\x76\x69\x63\x65\x07\x76\x65\x72\x73\x69\x6f\x6e\x05"
	"\x30\x2e\x30\x2e\x30\x5a"
	;
#define SW8_EVENTS \
PH_EV(CLI, sw8_0)
static const char login_0[] = /* client */
	"\xda\xbb\xc2\x00\x00\x00\x00\x00\x00\x00\x59\x58\x00\x00\x00\xf8\x05\x32\x2e"
	"\x30\x2e\x32\x1b\x6d\x79\x2e\x64\x65\x6d\x6f\x2e\x73\x65\x72\x76\x69\x63\x65"
	"\x2e\x55\x73\x65\x72\x53\x65\x72\x76\x69\x63\x65\x05\x30\x2e\x30\x2e\x30\x05"
	"\x6c\x6f\x67\x69\x6e\x30\x24\x4c\x6a\x61\x76\x61\x2f\x6c\x61\x6e\x67\x2f\x53"
	"\x74\x72\x69\x6e\x67\x3b\x4c\x6a\x61\x76\x61\x2f\x6c\x61\x6e\x67\x2f\x53\x74"
	"\x72\x69\x6e\x67\x3b\x0b\x31\x33\x37\x38\x30\x34\x30\x37\x36\x30\x37\x06\x78"
	"\x33\x23\x55\x39\x26\x48\x04\x70\x61\x74\x68\x1b\x6d\x79\x2e\x64\x65\x6d\x6f"
	"\x2e\x73\x65\x72\x76\x69\x63\x65\x2e\x55\x73\x65\x72\x53\x65\x72\x76\x69\x63"
	"\x65\x12\x72\x65\x6d\x6f\x74\x65\x2e\x61\x70\x70\x6c\x69\x63\x61\x74\x69\x6f"
	"\x6e\x08\x73\x68\x6f\x70\x2d\x77\x65\x62\x05\x73\x77\x38\x2d\x78\x01\x30\x03"
	"\x73\x77\x38\x00\x0f\x73\x77\x38\x2d\x63\x6f\x72\x72\x65\x6c\x61\x74\x69\x6f"
	"\x6e\x00\x09\x69\x6e\x74\x65\x72\x66\x61\x63\x65\x1b\x6d\x79\x2e\x64\x65\x6d"
	"\x6f\x2e\x73\x65\x72\x76\x69\x63\x65\x2e\x55\x73\x65\x72\x53\x65\x72\x76\x69"
	"\x63\x65\x07\x76\x65\x72\x73\x69\x6f\x6e\x05\x30\x2e\x30\x2e\x30\x5a"
	;
static const char login_1[] = /* server */
	"\xda\xbb\x02\x14\x00\x00\x00\x00\x00\x00\x59\x58\x00\x00\x00\xbf\x94\x43\x1d"
	"\x6d\x79\x2e\x64\x65\x6d\x6f\x2e\x73\x65\x72\x76\x69\x63\x65\x2e\x53\x65\x72"
	"\x76\x69\x63\x65\x52\x65\x73\x75\x6c\x74\x93\x06\x72\x65\x73\x75\x6c\x74\x07"
	"\x6d\x65\x73\x73\x61\x67\x65\x07\x73\x75\x63\x63\x65\x73\x73\x60\x43\x13\x6d"
	"\x79\x2e\x64\x65\x6d\x6f\x2e\x65\x6e\x74\x69\x74\x79\x2e\x55\x73\x65\x72\x96"
	"\x0a\x6c\x61\x73\x74\x55\x70\x64\x61\x74\x65\x09\x63\x72\x65\x61\x74\x65\x64"
	"\x41\x74\x05\x65\x6d\x61\x69\x6c\x06\x6d\x6f\x62\x69\x6c\x65\x08\x6e\x69\x63"
	"\x6b\x6e\x61\x6d\x65\x06\x75\x73\x65\x72\x49\x64\x61\x4a\x00\x00\x01\x7c\xdc"
	"\xce\x0e\x00\x4a\x00\x00\x01\x7c\xde\x85\x82\x00\x00\x0b\x31\x33\x37\x38\x30"
	"\x34\x30\x37\x36\x30\x37\x0b\x31\x33\x37\x2a\x2a\x2a\x2a\x37\x36\x30\x37\xf8"
	"\x17\x00\x54\x48\x05\x64\x75\x62\x62\x6f\x05\x32\x2e\x30\x2e\x32\x5a"
	;
#define LOGIN_EVENTS \
PH_EV(CLI, login_0), PH_EV(SRV, login_1)
/* clang-format on */

static const struct proto_ctx cli_ctx = { .l4_proto = 6, .role = PROTO_ROLE_CLIENT };

#define NEV(a) (sizeof(a) / sizeof((a)[0]))

static void expect_req(const struct ph_msg *x, const char *service, const char *method, uint32_t id,
		       uint64_t length)
{
	char ep[512];

	assert_int_equal(x->m.kind, PROTO_MSG_REQUEST);
	assert_int_equal(x->m.dir, CLI);
	assert_string_equal(x->method, method);
	assert_string_equal(x->domain, service);
	assert_string_equal(x->resource, service);
	snprintf(ep, sizeof(ep), "%s/%s", service, method);
	assert_string_equal(x->endpoint, ep);
	assert_string_equal(x->version, "2.0.2");
	assert_true(x->m.has_request_id);
	assert_int_equal(x->m.request_id, id);
	assert_true(x->m.has_session_id);
	assert_int_equal(x->m.session_id, id);
	assert_int_equal(x->m.length, length);
	assert_int_equal(x->m.code, -1);
}

static void test_login_exchange(void **unused)
{
	const struct ph_event evs[] = { LOGIN_EVENTS };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_dubbo_ops, &cli_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.nmsgs, 2);
	expect_req(&c.msgs[0], "my.demo.service.UserService", "login", 22872, 264);
	assert_int_equal(c.msgs[0].m.flags, 0);
	assert_null(c.msgs[0].trace_id); /* its sw8 attachment is empty */
	assert_int_equal(c.msgs[1].m.kind, PROTO_MSG_RESPONSE);
	assert_int_equal(c.msgs[1].m.session_id, 22872);
	assert_int_equal(c.msgs[1].m.code, 20);
	assert_int_equal(c.msgs[1].m.status, PROTO_STATUS_OK);
	assert_null(c.msgs[1].exception);
	assert_int_equal(c.msgs[1].m.length, 207);
	assert_int_equal(c.msgs[1].m.tcp_seq, PH_SEQ_INGRESS);
	ph_free(&c);
	ph_check_splits(&proto_dubbo_ops, &cli_ctx, evs, NEV(evs), true);
}

static void test_trace_attachments(void **unused)
{
	const struct ph_event sw8[] = { SW8_EVENTS };
	const struct ph_event eys[] = { EYS_EVENTS };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_dubbo_ops, &cli_ctx, sw8, NEV(sw8), PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 1);
	expect_req(&c.msgs[0], "my.demo.service.ItemService", "findItem", 102499, 481);
	assert_string_equal(c.msgs[0].trace_id,
			    "c8164cae90e94fe68493c106ea95f1ee.66.16667985488510067");
	assert_string_equal(c.msgs[0].span_id,
			    "c8164cae90e94fe68493c106ea95f1ee.66.16667985488510066-3");
	ph_free(&c);
	ph_check_splits(&proto_dubbo_ops, &cli_ctx, sw8, NEV(sw8), true);

	ph_run(&c, &proto_dubbo_ops, &cli_ctx, eys, NEV(eys), PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 1);
	expect_req(&c.msgs[0], "com.vivo.it.vwork.api.common.export.ExportApi", "getById", 490361,
		   854);
	assert_string_equal(c.msgs[0].trace_id, "90606765166547547262111562aQk8pD");
	assert_string_equal(c.msgs[0].span_id, "-6455382699367774771");
	ph_free(&c);
	ph_check_splits(&proto_dubbo_ops, &cli_ctx, eys, NEV(eys), true);
}

/* ---- synthetic messages ----------------------------------------------------------- */

struct db {
	uint8_t b[40000];
	size_t n;
};

static size_t hdr(struct db *d, uint8_t flag, uint8_t status, uint64_t id)
{
	size_t at = d->n;

	d->b[d->n++] = 0xda;
	d->b[d->n++] = 0xbb;
	d->b[d->n++] = flag;
	d->b[d->n++] = status;
	for (int i = 7; i >= 0; i--)
		d->b[d->n++] = (uint8_t)(id >> (8 * i));
	d->n += 4;
	return at;
}

static void fin(struct db *d, size_t at)
{
	uint32_t l = (uint32_t)(d->n - at - 16);

	d->b[at + 12] = (uint8_t)(l >> 24);
	d->b[at + 13] = (uint8_t)(l >> 16);
	d->b[at + 14] = (uint8_t)(l >> 8);
	d->b[at + 15] = (uint8_t)l;
}

static void hs(struct db *d, const char *s)
{
	size_t n = strlen(s);

	if (n < 32) {
		d->b[d->n++] = (uint8_t)n;
	} else {
		d->b[d->n++] = (uint8_t)(0x30 + (n >> 8));
		d->b[d->n++] = (uint8_t)n;
	}
	memcpy(d->b + d->n, s, n);
	d->n += n;
}

/* A hessian2 request: an argument map that must not be taken for the attachments, a
 * padding string, then the attachments (key, value pairs; NULL key ends). */
static size_t request(struct db *d, uint8_t flag, uint64_t id, const char *svc, const char *m,
		      size_t pad, const char *const *att)
{
	size_t at = hdr(d, flag, 0, id);

	hs(d, "2.0.2");
	hs(d, svc);
	hs(d, "1.0.0");
	hs(d, m);
	hs(d, "Ljava/util/Map;Ljava/lang/String;");
	d->b[d->n++] = 'H'; /* argument 1: a map with an object value, not attachments */
	hs(d, "k");
	d->b[d->n++] = 'C';
	hs(d, "x.Y");
	d->b[d->n++] = 0x90;
	d->b[d->n++] = 0x60;
	d->b[d->n++] = 'Z';
	/* argument 2: a string, chunked when long */
	while (pad) {
		size_t k = pad > 1000 ? 1000 : pad;

		d->b[d->n++] = pad > 1000 ? 'R' : 'S';
		d->b[d->n++] = (uint8_t)(k >> 8);
		d->b[d->n++] = (uint8_t)k;
		memset(d->b + d->n, 'p', k);
		d->n += k;
		pad -= k;
	}
	d->b[d->n++] = 'H';
	for (; att && *att; att += 2) {
		hs(d, att[0]);
		if (att[1]) {
			hs(d, att[1]);
		} else {
			d->b[d->n++] = 0xd4; /* an int */
			d->b[d->n++] = 0x10;
			d->b[d->n++] = 0x00;
		}
	}
	d->b[d->n++] = 'Z';
	fin(d, at);
	return d->n - at;
}

static size_t response(struct db *d, uint8_t status, uint64_t id, const char *err,
		       const char *exc_class)
{
	size_t at = hdr(d, 0x02, status, id);

	if (err) {
		hs(d, err);
	} else if (exc_class) {
		d->b[d->n++] = 0x90;
		d->b[d->n++] = 'C';
		hs(d, exc_class);
		d->b[d->n++] = 0x90;
	} else {
		d->b[d->n++] = 0x91;
		hs(d, "ok");
	}
	fin(d, at);
	return d->n - at;
}

static void test_statuses_oneway_heartbeat(void **unused)
{
	static struct db cli, srv;
	static const char *const att[] = {
		"traceparent",	"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"X-Request-ID", "rid-7",
		"timeout",	NULL,
		NULL,
	};
	struct ph_conv c;
	size_t l1, l2, l3, r1, r2, r3;

	(void)unused;
	cli.n = srv.n = 0;
	l1 = request(&cli, 0xc2, 1, "a.B", "m1", 0, att);
	l2 = request(&cli, 0x82, 2, "a.B", "m2", 0, NULL); /* one-way */
	hdr(&cli, 0xe2, 0, 3);				   /* heartbeat request, null body */
	cli.b[cli.n++] = 'N';
	fin(&cli, cli.n - 17);
	l3 = request(&cli, 0xc2, (1ull << 40) | 4, "a.B", "m3", 0, NULL);
	r1 = response(&srv, 70, (1ull << 40) | 4, "java.lang.IllegalStateException: boom", NULL);
	hdr(&srv, 0x22, 20, 3); /* heartbeat response */
	srv.b[srv.n++] = 'N';
	fin(&srv, srv.n - 17);
	r2 = response(&srv, 20, 1, NULL, "com.acme.BizException");
	r3 = response(&srv, 40, 9, "bad request", NULL);

	const struct ph_event evs[] = { PH_EVB(CLI, cli.b, cli.n), PH_EVB(SRV, srv.b, srv.n) };

	ph_run(&c, &proto_dubbo_ops, &cli_ctx, evs, 2, PH_WHOLE, true);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.nmsgs, 6);
	expect_req(&c.msgs[0], "a.B", "m1", 1, l1);
	assert_string_equal(c.msgs[0].trace_id, "0af7651916cd43dd8448eb211c80319c");
	assert_string_equal(c.msgs[0].span_id, "b7ad6b7169203331");
	assert_string_equal(c.msgs[0].x_request_id, "rid-7");
	expect_req(&c.msgs[1], "a.B", "m2", 2, l2);
	assert_int_equal(c.msgs[1].m.flags, PROTO_MSG_F_NO_RESPONSE);
	expect_req(&c.msgs[2], "a.B", "m3", 4, l3); /* the id's low 32 bits */
	assert_int_equal(c.msgs[3].m.code, 70);
	assert_int_equal(c.msgs[3].m.status, PROTO_STATUS_SERVER_ERROR);
	assert_string_equal(c.msgs[3].exception, "java.lang.IllegalStateException: boom");
	assert_int_equal(c.msgs[3].m.length, r1);
	assert_int_equal(c.msgs[4].m.code, 20);
	assert_int_equal(c.msgs[4].m.status, PROTO_STATUS_SERVER_ERROR);
	assert_string_equal(c.msgs[4].exception, "com.acme.BizException");
	assert_int_equal(c.msgs[4].m.length, r2);
	assert_int_equal(c.msgs[5].m.code, 40);
	assert_int_equal(c.msgs[5].m.status, PROTO_STATUS_CLIENT_ERROR);
	assert_int_equal(c.msgs[5].m.session_id, 9);
	assert_int_equal(c.msgs[5].m.length, r3);
	ph_free(&c);
	ph_check_splits(&proto_dubbo_ops, &cli_ctx, evs, 2, true);
}

/* A body larger than the parsed head: its strings are read, the attachments (at the end)
 * are out of reach; the rest streams, a gap inside it is absorbed. Non-hessian
 * serializations give the header fields only. */
static void test_large_body_gap_other_serialization(void **unused)
{
	static struct db a, b;
	static const char *const att[] = {
		"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL
	};
	struct ph_event evs[3];
	struct ph_conv c;
	size_t l, l2;

	(void)unused;
	a.n = b.n = 0;
	l = request(&a, 0xc2, 5, "big.Svc", "put", 20000, att);
	l2 = hdr(&b, 0xc6, 0, 6); /* fastjson */
	memcpy(b.b + b.n, "\"2.0.2\"\n\"x.Y\"", 13);
	b.n += 13;
	fin(&b, l2);
	evs[0] = (struct ph_event){ CLI, a.b, 9000, 2000 };
	evs[1] = PH_EVB(CLI, a.b + 11000, l - 11000);
	evs[2] = PH_EVB(CLI, b.b, b.n);
	ph_run(&c, &proto_dubbo_ops, &cli_ctx, evs, 3, PH_WHOLE, true);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.nmsgs, 2);
	expect_req(&c.msgs[0], "big.Svc", "put", 5, l);
	assert_null(c.msgs[0].trace_id);
	assert_int_equal(c.msgs[0].m.end_ts, PH_TS_END(1));
	assert_int_equal(c.msgs[1].m.request_id, 6);
	assert_null(c.msgs[1].method);
	assert_int_equal(c.msgs[1].m.length, 16 + 13);
	ph_free(&c);
	ph_check_splits(&proto_dubbo_ops, &cli_ctx, evs + 1, 2, true);
}

static void test_malformed_resync_detect(void **unused)
{
	static struct db good, bad;
	const struct proto_ctx other = { .l4_proto = 6, .server_port = 40000 };
	const struct ph_event login[] = { LOGIN_EVENTS };
	struct ph_conv c;

	(void)unused;
	good.n = bad.n = 0;
	request(&good, 0xc2, 11, "a.B", "m", 0, NULL);
	/* a request whose strings lie about their lengths: header fields only */
	hdr(&bad, 0xc2, 0, 12);
	bad.b[bad.n++] = 0x1f;
	bad.b[bad.n++] = '2';
	fin(&bad, 0);

	const struct ph_event evs[] = {
		PH_EVB(CLI, bad.b, bad.n),
		PH_EVB(CLI, "\xda\xbb\xc2\x00garbage-here-not-a-header", 29),
		PH_EVB(CLI, "more garbage", 12),
		PH_EVB(CLI, good.b, good.n),
	};

	ph_run(&c, &proto_dubbo_ops, &cli_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.errors, 1);
	assert_int_equal(c.nmsgs, 2);
	assert_int_equal(c.msgs[0].m.request_id, 12);
	assert_null(c.msgs[0].method);
	expect_req(&c.msgs[1], "a.B", "m", 11, good.n);
	assert_int_equal(c.msgs[1].m.start_ts, PH_TS_START(3));
	ph_free(&c);

	assert_int_equal(proto_dubbo_ops.detect(good.b, good.n, CLI, &other), PROTO_DETECT_YES);
	assert_int_equal(proto_dubbo_ops.detect(login[1].data, login[1].len, SRV, &other),
			 PROTO_DETECT_YES);
	assert_int_equal(proto_dubbo_ops.detect(good.b, 15, CLI, &other), PROTO_DETECT_NO);
	good.b[3] = 20; /* a request with a status */
	assert_int_equal(proto_dubbo_ops.detect(good.b, good.n, CLI, &other), PROTO_DETECT_NO);
	good.b[3] = 0;
	good.b[2] = 0xc0; /* serialization id 0 */
	assert_int_equal(proto_dubbo_ops.detect(good.b, good.n, CLI, &other), PROTO_DETECT_NO);
	assert_int_equal(
		proto_dubbo_ops.detect((const uint8_t *)"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27,
				       CLI, &other),
		PROTO_DETECT_NO);
	assert_int_equal(proto_dubbo_ops.detect(NULL, 0, CLI, NULL), PROTO_DETECT_NO);
}

static void test_registry_and_args(void **unused)
{
	(void)unused;
	ph_check_registered(&proto_dubbo_ops, PROTO_DUBBO, "Dubbo");
	ph_check_bad_args(&proto_dubbo_ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_exchange),
		cmocka_unit_test(test_trace_attachments),
		cmocka_unit_test(test_statuses_oneway_heartbeat),
		cmocka_unit_test(test_large_body_gap_other_serialization),
		cmocka_unit_test(test_malformed_resync_detect),
		cmocka_unit_test(test_registry_and_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
