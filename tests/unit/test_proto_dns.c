/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the DNS parser: messages taken from the reference captures (UDP and
 * TCP), messages built here for what the captures lack (other types, rcodes, compression
 * loops, oversized TCP messages, gaps), detection, and split-at-every-offset replay of
 * every TCP fixture through the shared harness.
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

#define EG PROTO_DIR_EGRESS
#define IN PROTO_DIR_INGRESS

static const struct proto_ctx udp53 = { .l4_proto = 17,
					.role = PROTO_ROLE_CLIENT,
					.server_port = 53 };
static const struct proto_ctx tcp53 = { .l4_proto = 6,
					.role = PROTO_ROLE_CLIENT,
					.server_port = 53 };

/* ---- fixtures from /work/shared/pcaps/dns (tshark -T fields -e udp.payload) ---------- */

/* a-and-ns.pcap: A query, and its answer with an A, an NS in authority, a glue A. */
static const char AQ_HEX[] = "319901000001000000000000026161026262026363036464640365656503666666"
			     "077a71797465737403636f6d0000010001";
static const char AR_HEX[] = "319985800001000100010001026161026262026363036464640365656503666666"
			     "077a71797465737403636f6d0000010001c00c000100010001518000040a324705"
			     "c02100020001000151800005026e73c021c04e000100010001518000040a10206f";
/* the AAAA query, answered by an SOA in authority */
static const char AAAAQ_HEX[] = "1cf401000001000000000000026161026262026363036464640365656503"
				"666666077a71797465737403636f6d00001c0001";
static const char AAAAR_HEX[] = "1cf485800001000000010000026161026262026363036464640365656503"
				"666666077a71797465737403636f6d00001c0001c0210006000100002a3000"
				"20026e73c02104726f6f74c02178492d2100002a3000000e1000093a800000"
				"2a30";
/* dns.pcap (TCP, with length prefixes): NXDOMAIN with an SOA and an OPT record. */
static const char TQ_HEX[] = "002bdfe3012000010000000000010a67756f796f6e6778696e03636f6d000001"
			     "00010000291000000000000000";
static const char TR_HEX[] = "0074dfe3818300010000000100010a67756f796f6e6778696e03636f6d000001"
			     "0001c0170006000100000384003d01610c67746c642d73657276657273036e6574"
			     "00056e73746c640c766572697369676e2d677273c0175ef17d4300000708000003"
			     "8400093a80000151800000291000000000000000";
static const char TQ2_HEX[] = "002becd4012000010000000000010779756e7368616e036e657402636e0000"
			      "0100010000291000000000000000";
static const char TR2_HEX[] = "0078ecd4818000010000000100010779756e7368616e036e657402636e0000"
			      "010001c00c0006000100000001004107663167316e733106646e73706f6403"
			      "6e6574000c66726565646e7361646d696e06646e73706f6403636f6d005e37"
			      "8d8300000e10000000b400127500000000b40000291000000000000000";

struct bytes {
	uint8_t b[70000];
	size_t n;
};

static void hex(struct bytes *o, const char *h)
{
	size_t l = strlen(h);

	for (size_t i = 0; i + 1 < l; i += 2) {
		unsigned v;

		assert_int_equal(sscanf(h + i, "%2x", &v), 1);
		o->b[o->n++] = (uint8_t)v;
	}
}

static void put(struct bytes *o, const void *p, size_t n)
{
	assert_true(o->n + n <= sizeof(o->b));
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void put16(struct bytes *o, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(o, b, 2);
}

static void put32(struct bytes *o, uint32_t v)
{
	put16(o, (uint16_t)(v >> 16));
	put16(o, (uint16_t)v);
}

static void put_name(struct bytes *o, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		uint8_t c = (uint8_t)l;

		put(o, &c, 1);
		put(o, name, l);
		name += l + (dot ? 1 : 0);
	}
	put(o, "", 1);
}

static void header(struct bytes *o, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
		   uint16_t ns, uint16_t ar)
{
	put16(o, id);
	put16(o, flags);
	put16(o, qd);
	put16(o, an);
	put16(o, ns);
	put16(o, ar);
}

static void question(struct bytes *o, const char *name, uint16_t type)
{
	put_name(o, name);
	put16(o, type);
	put16(o, 1);
}

/* An RR whose owner is a pointer to the question name (offset 12). */
static void rr(struct bytes *o, uint16_t type, uint32_t ttl, const void *rd, uint16_t rdlen)
{
	put16(o, 0xc00c);
	put16(o, type);
	put16(o, 1);
	put32(o, ttl);
	put16(o, rdlen);
	put(o, rd, rdlen);
}

/* Prefix a message with its TCP length. */
static void tcp_frame(struct bytes *dst, const struct bytes *m)
{
	put16(dst, (uint16_t)m->n);
	put(dst, m->b, m->n);
}

static struct bytes *B(void)
{
	struct bytes *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	return b;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_udp_a_and_ns(void **unused)
{
	struct bytes *q = B(), *r = B(), *q6 = B(), *r6 = B();
	struct ph_conv c;

	(void)unused;
	hex(q, AQ_HEX);
	hex(r, AR_HEX);
	hex(q6, AAAAQ_HEX);
	hex(r6, AAAAR_HEX);
	{
		const struct ph_event evs[] = { PH_EVB(EG, q->b, q->n), PH_EVB(EG, q6->b, q6->n),
						PH_EVB(IN, r->b, r->n), PH_EVB(IN, r6->b, r6->n) };

		ph_run(&c, &proto_dns_ops, &udp53, evs, 4, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 4);
		assert_int_equal(c.errors, 0);
		assert_int_equal(c.msgs[0].m.kind, PROTO_MSG_REQUEST);
		assert_string_equal(c.msgs[0].method, "A");
		assert_string_equal(c.msgs[0].resource, "aa.bb.cc.ddd.eee.fff.zqytest.com");
		assert_string_equal(c.msgs[0].domain, "aa.bb.cc.ddd.eee.fff.zqytest.com");
		assert_string_equal(c.msgs[0].endpoint, "aa.bb.cc.ddd.eee.fff.zqytest.com");
		assert_int_equal(c.msgs[0].m.code, -1);
		assert_true(c.msgs[0].m.has_session_id && c.msgs[0].m.has_request_id);
		assert_int_equal(c.msgs[0].m.session_id, 12697);
		assert_int_equal(c.msgs[0].m.request_id, 12697);
		assert_int_equal(c.msgs[0].m.length, 50);
		assert_int_equal(c.msgs[0].m.tcp_seq, 0);
		assert_int_equal(c.msgs[0].m.start_ts, PH_TS_START(0));
		assert_int_equal(c.msgs[0].m.end_ts, PH_TS_END(0));
		assert_null(c.msgs[0].result);

		assert_string_equal(c.msgs[1].method, "AAAA");
		assert_int_equal(c.msgs[1].m.session_id, 7412);
		assert_string_equal(c.msgs[1].domain, "aa.bb.cc.ddd.eee.fff.zqytest.com");

		assert_int_equal(c.msgs[2].m.kind, PROTO_MSG_RESPONSE);
		assert_int_equal(c.msgs[2].m.dir, IN);
		assert_int_equal(c.msgs[2].m.code, 0);
		assert_int_equal(c.msgs[2].m.status, PROTO_STATUS_OK);
		assert_int_equal(c.msgs[2].m.session_id, 12697);
		assert_int_equal(c.msgs[2].m.length, 99);
		/* the additional section (glue A) is left out, as DeepFlow does */
		assert_string_equal(c.msgs[2].result,
				    "A=10.50.71.5 TTL=86400; NS=ns.zqytest.com TTL=86400");
		assert_string_equal(c.msgs[2].method, "A");
		assert_string_equal(c.msgs[3].result, "SOA=ns.zqytest.com TTL=10800");
		assert_int_equal(c.msgs[3].m.length, 94);
		assert_int_equal(c.st.messages, 4);
		assert_int_equal(c.st.parse_errors, 0);
		ph_free(&c);
	}
	free(q);
	free(r);
	free(q6);
	free(r6);
}

static void test_tcp_nxdomain_and_soa(void **unused)
{
	struct bytes *q = B(), *r = B(), *both_q = B(), *both_r = B();
	struct ph_conv c;

	(void)unused;
	hex(q, TQ_HEX);
	hex(r, TR_HEX);
	{
		const struct ph_event evs[] = { PH_EVB(EG, q->b, q->n), PH_EVB(IN, r->b, r->n) };

		ph_run(&c, &proto_dns_ops, &tcp53, evs, 2, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 2);
		assert_string_equal(c.msgs[0].method, "A");
		assert_string_equal(c.msgs[0].resource, "guoyongxin.com");
		assert_int_equal(c.msgs[0].m.length, 45); /* the prefix counts, as in DeepFlow */
		assert_int_equal(c.msgs[0].m.tcp_seq, PH_SEQ_EGRESS);
		assert_int_equal(c.msgs[0].m.session_id, 57315);
		assert_int_equal(c.msgs[1].m.code, 3);
		assert_int_equal(c.msgs[1].m.status, PROTO_STATUS_CLIENT_ERROR);
		assert_string_equal(c.msgs[1].result, "SOA=a.gtld-servers.net TTL=900");
		assert_int_equal(c.msgs[1].m.length, 118);
		assert_int_equal(c.msgs[1].m.tcp_seq, PH_SEQ_INGRESS);
		ph_free(&c);
		ph_check_splits(&proto_dns_ops, &tcp53, evs, 2, true);
	}
	/* Two messages per segment each way; the second pair's answer is an SOA too. */
	hex(both_q, TQ_HEX);
	hex(both_q, TQ2_HEX);
	hex(both_r, TR_HEX);
	hex(both_r, TR2_HEX);
	{
		const struct ph_event evs[] = { PH_EVB(EG, both_q->b, both_q->n),
						PH_EVB(IN, both_r->b, both_r->n) };

		ph_run(&c, &proto_dns_ops, &tcp53, evs, 2, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 4);
		assert_string_equal(c.msgs[1].resource, "yunshan.net.cn");
		assert_int_equal(c.msgs[1].m.tcp_seq, PH_SEQ_EGRESS + 45);
		assert_int_equal(c.msgs[3].m.session_id, 60628);
		assert_int_equal(c.msgs[3].m.status, PROTO_STATUS_OK);
		assert_string_equal(c.msgs[3].result, "SOA=f1g1ns1.dnspod.net TTL=1");
		assert_int_equal(c.msgs[3].m.tcp_seq, PH_SEQ_INGRESS + 118);
		ph_free(&c);
		ph_check_splits(&proto_dns_ops, &tcp53, evs, 2, true);
	}
	free(q);
	free(r);
	free(both_q);
	free(both_r);
}

/* Every rcode class, and the types rendered with a value or by name only. */
static void test_rcodes_and_types(void **unused)
{
	static const struct {
		uint8_t rcode;
		uint8_t status;
	} rc[] = {
		{ 0, PROTO_STATUS_OK },		  { 1, PROTO_STATUS_CLIENT_ERROR },
		{ 2, PROTO_STATUS_SERVER_ERROR }, { 3, PROTO_STATUS_CLIENT_ERROR },
		{ 4, PROTO_STATUS_SERVER_ERROR }, { 5, PROTO_STATUS_SERVER_ERROR },
	};
	static const uint8_t v6[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
	};
	static const uint8_t v6b[16] = { 0xfe, 0x80, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t txt[] = "\x05hello\x03;ok";
	struct bytes *m = B(), *rd = B();
	struct ph_conv c;

	(void)unused;
	for (size_t i = 0; i < sizeof(rc) / sizeof(rc[0]); i++) {
		m->n = 0;
		header(m, 7, 0x8180 | rc[i].rcode, 1, 0, 0, 0);
		question(m, "x.test", 1);
		{
			const struct ph_event evs[] = { PH_EVB(IN, m->b, m->n) };

			ph_run(&c, &proto_dns_ops, &udp53, evs, 1, PH_WHOLE, true);
			assert_int_equal(c.nmsgs, 1);
			assert_int_equal(c.msgs[0].m.code, rc[i].rcode);
			assert_int_equal(c.msgs[0].m.status, rc[i].status);
			ph_free(&c);
		}
	}

	m->n = 0;
	header(m, 9, 0x8180, 1, 7, 0, 0);
	question(m, "www.example.test", 28);
	rd->n = 0;
	put_name(rd, "web.example.test");
	rr(m, 5, 60, rd->b, (uint16_t)rd->n);
	rr(m, 28, 61, v6, 16);
	rr(m, 28, 62, v6b, 16);
	rd->n = 0;
	put16(rd, 10);
	put_name(rd, "mail.example.test");
	rr(m, 15, 63, rd->b, (uint16_t)rd->n);
	rr(m, 16, 64, txt, sizeof(txt) - 1);
	rr(m, 33, 65, "\0\0\0\0\0\0\0", 7); /* SRV: by name only, as DeepFlow */
	rr(m, 0xff00, 66, "zz", 2);
	{
		const struct ph_event evs[] = { PH_EVB(IN, m->b, m->n) };

		ph_run(&c, &proto_dns_ops, &udp53, evs, 1, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 1);
		assert_string_equal(c.msgs[0].method, "AAAA");
		assert_string_equal(c.msgs[0].result,
				    "CNAME=web.example.test TTL=60; AAAA=2001:db8::1 TTL=61; "
				    "AAAA=fe80:1:0:2:: TTL=62; MX=10 mail.example.test TTL=63; "
				    "TXT=hello?ok TTL=64; SRV; TYPE65280");
		ph_free(&c);
	}
	/* query type names */
	{
		static const struct {
			uint16_t t;
			const char *name;
		} tn[] = { { 1, "A" },	  { 2, "NS" },	  { 5, "CNAME" },  { 6, "SOA" },
			   { 12, "PTR" }, { 15, "MX" },	  { 16, "TXT" },   { 28, "AAAA" },
			   { 33, "SRV" }, { 255, "ANY" }, { 65, "HTTPS" }, { 999, "TYPE999" },
			   { 0, "TYPE0" } };

		for (size_t i = 0; i < sizeof(tn) / sizeof(tn[0]); i++) {
			m->n = 0;
			header(m, 1, 0x0100, 1, 0, 0, 0);
			question(m, "4.3.2.1.in-addr.arpa", tn[i].t);
			{
				const struct ph_event evs[] = { PH_EVB(EG, m->b, m->n) };

				ph_run(&c, &proto_dns_ops, &udp53, evs, 1, PH_WHOLE, true);
				assert_int_equal(c.nmsgs, 1);
				assert_string_equal(c.msgs[0].method, tn[i].name);
				/* request_domain only for address queries */
				if (tn[i].t == 1 || tn[i].t == 28)
					assert_non_null(c.msgs[0].domain);
				else
					assert_null(c.msgs[0].domain);
				ph_free(&c);
			}
		}
	}
	free(m);
	free(rd);
}

/* Compression pointers that loop or point forward end the name as malformed. */
static void test_pointer_loops(void **unused)
{
	struct bytes *m = B();
	struct ph_conv c;

	(void)unused;
	/* question name is a pointer to itself */
	header(m, 1, 0x0100, 1, 0, 0, 0);
	put16(m, 0xc00c);
	put16(m, 1);
	put16(m, 1);
	{
		const struct ph_event evs[] = { PH_EVB(EG, m->b, m->n) };

		ph_run(&c, &proto_dns_ops, &udp53, evs, 1, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 0);
		assert_int_equal(c.errors, 1);
		assert_int_equal(c.st.parse_errors, 1);
		ph_free(&c);
		assert_int_equal(proto_dns_ops.detect(m->b, m->n, EG, &udp53), PROTO_DETECT_NO);
	}
	/* an answer whose owner points to a later pointer that points back at it */
	m->n = 0;
	header(m, 2, 0x8180, 1, 2, 0, 0);
	question(m, "loop.test", 1);
	rr(m, 1, 5, "\x0a\x00\x00\x01", 4);
	{
		size_t at = m->n;

		put16(m, (uint16_t)(0xc000 | (at + 2)));
		put16(m, (uint16_t)(0xc000 | at));
		put16(m, 1);
		put16(m, 1);
		put32(m, 0);
		put16(m, 0);
	}
	{
		const struct ph_event evs[] = { PH_EVB(IN, m->b, m->n) };

		ph_run(&c, &proto_dns_ops, &udp53, evs, 1, PH_WHOLE, true);
		/* the message stands; its records stop at the broken one */
		assert_int_equal(c.nmsgs, 1);
		assert_string_equal(c.msgs[0].result, "A=10.0.0.1 TTL=5");
		ph_free(&c);
	}
	/* a chain of 200 backward pointers is bounded by the hop limit, not a crash */
	m->n = 0;
	header(m, 3, 0x8180, 1, 1, 0, 0);
	question(m, "a", 1);
	{
		size_t first = m->n;

		put16(m, 0xc00c);
		for (int i = 1; i < 200; i++)
			put16(m, (uint16_t)(0xc000 | (first + 2 * (i - 1))));
		put16(m, (uint16_t)(0xc000 | (m->n - 2)));
		put16(m, 1);
		put16(m, 1);
		put32(m, 1);
		put16(m, 4);
		put(m, "\x01\x02\x03\x04", 4);
	}
	{
		const struct ph_event evs[] = { PH_EVB(IN, m->b, m->n) };

		ph_run(&c, &proto_dns_ops, &udp53, evs, 1, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 1);
		assert_null(c.msgs[0].result);
		ph_free(&c);
	}
	free(m);
}

/* A datagram larger than the capture: reported truncated, its whole length counted. */
static void test_udp_truncated(void **unused)
{
	struct bytes *r = B();
	struct ph_conv c;
	struct ph_event ev;

	(void)unused;
	hex(r, AR_HEX);
	ev = (struct ph_event){ IN, r->b, 60, 39 };
	ph_run(&c, &proto_dns_ops, &udp53, &ev, 1, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 1);
	assert_int_equal(c.msgs[0].m.flags, PROTO_MSG_F_TRUNCATED);
	assert_int_equal(c.msgs[0].m.length, 99);
	assert_int_equal(c.msgs[0].m.session_id, 12697);
	assert_null(c.msgs[0].result); /* the first answer is cut */
	assert_int_equal(c.st.truncated, 1);
	ph_free(&c);
	/* shorter than a header: an error, counted */
	ev = (struct ph_event){ IN, r->b, 11, 0 };
	ph_run(&c, &proto_dns_ops, &udp53, &ev, 1, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 0);
	assert_int_equal(c.st.parse_errors, 1);
	ph_free(&c);
	free(r);
}

/* A TCP message over DNS_TCP_HOLD (16 KiB): decoded from its head, the rest streamed by. */
static void test_tcp_oversized(void **unused)
{
	struct bytes *m = B(), *w = B(), *q = B();
	struct ph_conv c;
	size_t n = 0;

	(void)unused;
	header(m, 0x4242, 0x8180, 1, 1500, 0, 0);
	question(m, "big.test", 1);
	for (uint32_t i = 0; i < 1500; i++) {
		uint8_t a[4] = { 10, (uint8_t)(i >> 8), (uint8_t)i, 1 };

		rr(m, 1, 30, a, 4);
	}
	tcp_frame(w, m);
	hex(w, TR2_HEX); /* and a normal message right after it */
	hex(q, TQ2_HEX);
	assert_true(m->n > 16384);
	{
		const struct ph_event evs[] = { PH_EVB(EG, q->b, q->n), PH_EVB(IN, w->b, w->n) };

		ph_run(&c, &proto_dns_ops, &tcp53, evs, 2, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 3);
		assert_int_equal(c.msgs[1].m.flags, PROTO_MSG_F_TRUNCATED);
		assert_int_equal(c.msgs[1].m.length, m->n + 2);
		assert_int_equal(c.msgs[1].m.session_id, 0x4242);
		assert_int_equal(c.msgs[1].m.tcp_seq, PH_SEQ_INGRESS);
		assert_true(strncmp(c.msgs[1].result, "A=10.0.0.1 TTL=30; A=10.0.1.1 TTL=30", 36) ==
			    0);
		assert_int_equal(strlen(c.msgs[1].result), 512); /* bounded */
		assert_int_equal(c.msgs[2].m.session_id, 60628);
		assert_int_equal(c.msgs[2].m.tcp_seq, PH_SEQ_INGRESS + m->n + 2);
		assert_int_equal(c.st.parse_errors, 0);
		ph_free(&c);
		/* cut at a few places (every offset of 19 KiB is too slow for a unit test) */
		for (size_t cut = 1; cut < w->n; cut += 997) {
			struct ph_conv a, b;

			ph_run(&a, &proto_dns_ops, &tcp53, evs, 2, PH_WHOLE, true);
			ph_run_mode(&b, &proto_dns_ops, &tcp53, evs, 2, PH_SPLIT, 1, cut, true);
			ph_assert_same(&a, &b, "oversized cut");
			ph_free(&a);
			ph_free(&b);
			n++;
		}
		assert_true(n > 10);
	}
	free(m);
	free(w);
	free(q);
}

/* Gaps: inside a message (reported truncated), and one that loses the framing. */
static void test_tcp_gaps(void **unused)
{
	struct bytes *r = B(), *r2 = B(), *q = B();
	struct ph_conv c;

	(void)unused;
	hex(r, TR_HEX);
	hex(r2, TR2_HEX);
	hex(q, TQ_HEX);
	{
		/* the response's last 40 bytes were not captured; the next one is whole */
		const struct ph_event evs[] = {
			PH_EVB(EG, q->b, q->n),
			{ IN, r->b, r->n - 40, 40 },
			PH_EVB(IN, r2->b, r2->n),
		};

		ph_run(&c, &proto_dns_ops, &tcp53, evs, 3, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 3);
		assert_int_equal(c.msgs[1].m.flags, PROTO_MSG_F_TRUNCATED);
		assert_int_equal(c.msgs[1].m.length, 118);
		assert_int_equal(c.msgs[1].m.code, 3);
		assert_int_equal(c.msgs[2].m.session_id, 60628);
		assert_int_equal(c.st.resyncs, 0);
		ph_free(&c);
		ph_check_splits(&proto_dns_ops, &tcp53, evs, 3, true);
	}
	{
		/* a gap longer than the message: framing is lost until an event starts with a
		 * message */
		const struct ph_event evs[] = {
			PH_EVB(EG, q->b, q->n),
			{ IN, r->b, 30, 500 },
			PH_EV(IN, "\x01\x02garbage"),
			PH_EVB(IN, r2->b, r2->n),
		};

		ph_run(&c, &proto_dns_ops, &tcp53, evs, 4, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 2);
		assert_int_equal(c.msgs[1].m.session_id, 60628);
		assert_int_equal(c.st.resyncs, 1);
		ph_free(&c);
	}
	free(r);
	free(r2);
	free(q);
}

/* A length below a header is an error; the direction restarts at a message. */
static void test_tcp_garbage_resync(void **unused)
{
	struct bytes *q = B();
	struct ph_conv c;

	(void)unused;
	hex(q, TQ2_HEX);
	{
		const struct ph_event evs[] = {
			PH_EV(EG, "\x00\x03xyz"),
			PH_EV(EG, "more noise"),
			PH_EVB(EG, q->b, q->n),
		};

		ph_run(&c, &proto_dns_ops, &tcp53, evs, 3, PH_WHOLE, true);
		assert_int_equal(c.errors, 1);
		assert_int_equal(c.nmsgs, 1);
		assert_string_equal(c.msgs[0].resource, "yunshan.net.cn");
		assert_int_equal(c.st.resyncs, 1);
		ph_free(&c);
	}
	free(q);
}

/*
 * A server that reads the two length bytes alone (dnsmasq): the first read goes
 * unrecognised, so the parser starts at a bare message; later prefixes read alone wait
 * in the leftover for their message.
 */
static void test_tcp_length_read_alone(void **unused)
{
	const struct proto_ctx srv = { .l4_proto = 6,
				       .role = PROTO_ROLE_SERVER,
				       .server_port = 53 };
	struct bytes *q = B(), *r = B(), *q2 = B(), *r2 = B();
	struct ph_conv c;

	(void)unused;
	hex(q, TQ_HEX);
	hex(r, TR_HEX);
	hex(q2, TQ2_HEX);
	hex(r2, TR2_HEX);
	{
		const struct ph_event evs[] = {
			PH_EVB(IN, q->b + 2, q->n - 2), PH_EVB(EG, r->b, r->n),
			PH_EVB(IN, q2->b, 2),		PH_EVB(IN, q2->b + 2, q2->n - 2),
			PH_EVB(EG, r2->b, r2->n),
		};

		ph_run(&c, &proto_dns_ops, &srv, evs, 5, PH_WHOLE, true);
		assert_int_equal(c.nmsgs, 4);
		assert_int_equal(c.errors, 0);
		assert_int_equal(c.msgs[0].m.kind, PROTO_MSG_REQUEST);
		assert_string_equal(c.msgs[0].resource, "guoyongxin.com");
		assert_int_equal(c.msgs[0].m.length, 45); /* its prefix counted, as on the wire */
		assert_int_equal(c.msgs[0].m.tcp_seq, PH_SEQ_INGRESS - 2);
		assert_int_equal(c.msgs[1].m.code, 3);
		assert_string_equal(c.msgs[2].resource, "yunshan.net.cn");
		assert_int_equal(c.msgs[2].m.tcp_seq, PH_SEQ_INGRESS + q->n - 2);
		assert_int_equal(c.msgs[2].m.start_ts, PH_TS_START(2));
		assert_int_equal(c.msgs[2].m.end_ts, PH_TS_END(3));
		assert_int_equal(c.msgs[3].m.session_id, 60628);
		ph_free(&c);
	}
	free(q);
	free(r);
	free(q2);
	free(r2);
}

static void test_detect(void **unused)
{
	struct bytes *q = B(), *r = B(), *tq = B(), *tr = B();
	const struct proto_ctx udp_other = { .l4_proto = 17, .server_port = 9999 };
	const struct proto_ctx tcp_other = { .l4_proto = 6, .server_port = 9999 };
	static const char *const other[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"*1\r\n$4\r\nPING\r\n",
		"get foo\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		"\x80\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00",
	};

	(void)unused;
	hex(q, AQ_HEX);
	hex(r, AR_HEX);
	hex(tq, TQ_HEX);
	hex(tr, TR_HEX);
	assert_int_equal(proto_dns_ops.detect(q->b, q->n, EG, &udp53), PROTO_DETECT_YES);
	assert_int_equal(proto_dns_ops.detect(q->b, q->n, EG, NULL), PROTO_DETECT_YES);
	assert_int_equal(proto_dns_ops.detect(q->b, q->n, EG, &udp_other), PROTO_DETECT_MAYBE);
	assert_int_equal(proto_dns_ops.detect(r->b, r->n, IN, &udp53), PROTO_DETECT_MAYBE);
	assert_int_equal(proto_dns_ops.detect(r->b, r->n, IN, &udp_other), PROTO_DETECT_NO);
	assert_int_equal(proto_dns_ops.detect(tq->b, tq->n, EG, &tcp53), PROTO_DETECT_YES);
	assert_int_equal(proto_dns_ops.detect(tq->b, tq->n, EG, &tcp_other), PROTO_DETECT_MAYBE);
	/* A whole bare message on TCP is DNS (a server read its length on its own); the
	 * TCP form on UDP is not. */
	assert_int_equal(proto_dns_ops.detect(q->b, q->n, EG, &tcp53), PROTO_DETECT_YES);
	assert_int_equal(proto_dns_ops.detect(q->b, q->n - 1, EG, &tcp53), PROTO_DETECT_NO);
	assert_int_equal(proto_dns_ops.detect(tq->b, tq->n, EG, &udp53), PROTO_DETECT_NO);
	/* a partial first segment of a TCP query: the name runs past the end */
	assert_int_equal(proto_dns_ops.detect(tq->b, 20, EG, &tcp53), PROTO_DETECT_NO);
	assert_int_equal(proto_dns_ops.detect(q->b, 12, EG, &udp53), PROTO_DETECT_NO);
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		assert_int_equal(proto_dns_ops.detect((const uint8_t *)other[i],
						      strlen(other[i]) + 1, EG, &udp53),
				 PROTO_DETECT_NO);
		assert_int_equal(proto_dns_ops.detect((const uint8_t *)other[i],
						      strlen(other[i]) + 1, EG, &tcp53),
				 PROTO_DETECT_NO);
	}
	free(q);
	free(r);
	free(tq);
	free(tr);
}

static void test_registry(void **unused)
{
	(void)unused;
	ph_check_registered(&proto_dns_ops, PROTO_DNS, "DNS");
	assert_true(proto_dns_ops.state_size > 0);
	assert_non_null(proto_dns_ops.reset);
}

/* reset() loses the framing; the next event that starts with a message restarts it. */
static void test_reset(void **unused)
{
	struct bytes *q = B();
	struct ph_conv c;

	(void)unused;
	hex(q, TQ_HEX);
	ph_init(&c, &proto_dns_ops, &tcp53);
	ph_feed(&c, EG, q->b, 10, 0, 1, 2, 100);
	proto_dns_ops.reset(c.state, EG);
	c.side[EG].len = 0;
	c.side[EG].nsegs = 0;
	ph_feed(&c, EG, q->b + 10, q->n - 10, 0, 3, 4, 110);
	assert_int_equal(c.nmsgs, 0);
	ph_feed(&c, EG, q->b, q->n, 0, 5, 6, 200);
	assert_int_equal(c.nmsgs, 1);
	assert_int_equal(c.msgs[0].m.tcp_seq, 200);
	ph_free(&c);
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_a_and_ns),
		cmocka_unit_test(test_tcp_nxdomain_and_soa),
		cmocka_unit_test(test_rcodes_and_types),
		cmocka_unit_test(test_pointer_loops),
		cmocka_unit_test(test_udp_truncated),
		cmocka_unit_test(test_tcp_oversized),
		cmocka_unit_test(test_tcp_gaps),
		cmocka_unit_test(test_tcp_garbage_resync),
		cmocka_unit_test(test_tcp_length_read_alone),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
