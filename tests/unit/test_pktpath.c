/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The packet path's observation points and capture_nic: one HTTP exchange between
 * 10.0.0.1:50000 (client) and 10.0.0.2:80 (server) fed as Ethernet frames, with the way
 * each frame crossed the interface, to paths set up as different capture points.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/pkt_source.h"
#include "agent/pktpath.h"
#include "agent/record.h"

#define T0 1700000000000000000ull

struct seen {
	int l7, l4;
	struct l7_record rec;
	struct l4_record flow;
};

static void on_l4(void *ctx, const struct l4_record *r)
{
	struct seen *s = ctx;

	s->l4++;
	s->flow = *r;
}

static void on_l7(void *ctx, const struct l7_record *r)
{
	struct seen *s = ctx;

	s->l7++;
	s->rec = *r;
}

static const uint8_t CLIENT[4] = { 10, 0, 0, 1 }, SERVER[4] = { 10, 0, 0, 2 };

/* Ethernet/IPv4/TCP from the client (to_server) or the server; checksums left zero. */
static size_t frame(uint8_t *f, bool to_server, uint8_t flags, uint32_t seq, uint32_t ack,
		    const char *payload)
{
	size_t plen = payload ? strlen(payload) : 0;
	uint16_t ipl = (uint16_t)(20 + 20 + plen);
	uint16_t sport = to_server ? 50000 : 80, dport = to_server ? 80 : 50000;

	memset(f, 0, 54);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)(ipl >> 8), f[17] = (uint8_t)ipl;
	f[22] = 64;
	f[23] = 6;
	memcpy(f + 26, to_server ? CLIENT : SERVER, 4);
	memcpy(f + 30, to_server ? SERVER : CLIENT, 4);
	f[34] = (uint8_t)(sport >> 8), f[35] = (uint8_t)sport;
	f[36] = (uint8_t)(dport >> 8), f[37] = (uint8_t)dport;
	f[38] = (uint8_t)(seq >> 24), f[39] = (uint8_t)(seq >> 16);
	f[40] = (uint8_t)(seq >> 8), f[41] = (uint8_t)seq;
	f[42] = (uint8_t)(ack >> 24), f[43] = (uint8_t)(ack >> 16);
	f[44] = (uint8_t)(ack >> 8), f[45] = (uint8_t)ack;
	f[46] = 0x50;
	f[47] = flags;
	f[48] = 0xff, f[49] = 0xff;
	if (plen)
		memcpy(f + 54, payload, plen);
	return 54 + plen;
}

/*
 * A whole exchange through path p: handshake, one request, one response, FINs.
 * client_dir / server_dir: how each side's frames crossed the interface.
 */
static void exchange(struct pktpath *p, uint8_t client_dir, uint8_t server_dir)
{
	static const char req[] = "GET /x HTTP/1.1\r\nHost: s\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	uint32_t c = 1000, s = 5000;
	uint8_t f[256];
	uint64_t t = T0;
	size_t n;

#define SEND(to_server, flags, seq, ack, data)                                                     \
	do {                                                                                       \
		n = frame(f, to_server, flags, seq, ack, data);                                    \
		t += 1000000;                                                                      \
		pktpath_frame(p, 1, f, (uint32_t)n, (uint32_t)n, t,                                \
			      to_server ? client_dir : server_dir);                                \
	} while (0)
	SEND(true, 0x02, c, 0, NULL);
	SEND(false, 0x12, s, c + 1, NULL);
	SEND(true, 0x10, c + 1, s + 1, NULL);
	SEND(true, 0x18, c + 1, s + 1, req);
	SEND(false, 0x18, s + 1, c + 1 + (uint32_t)strlen(req), resp);
	SEND(true, 0x11, c + 1 + (uint32_t)strlen(req), s + 1 + (uint32_t)strlen(resp), NULL);
	SEND(false, 0x11, s + 1 + (uint32_t)strlen(resp), c + 2 + (uint32_t)strlen(req), NULL);
	SEND(true, 0x10, c + 2 + (uint32_t)strlen(req), s + 2 + (uint32_t)strlen(resp), NULL);
#undef SEND
	pktpath_flush(p, t + 1000000000ull);
}

static struct pktpath *path(struct seen *s)
{
	struct pktpath_cfg cfg = {
		.l7 = { .max_conns = 64,
			.max_pending = 8,
			.conn_idle_ns = 5000000000ull,
			.request_timeout_ns = 2000000000ull,
			.mem_budget = 1 << 20 },
		.flow = { .max_flows = 16, .reasm_bytes = 4096 },
		.l7_enabled = true,
	};
	struct pktpath *p = pktpath_create(&cfg, on_l4, on_l7, s);

	assert_non_null(p);
	memset(s, 0, sizeof(*s));
	return p;
}

/* Run the exchange; the one l7 record's and the one l4 row's observation point. */
static void check(struct pktpath *p, struct seen *s, uint8_t client_dir, uint8_t server_dir,
		  const char *obs, const char *nic)
{
	exchange(p, client_dir, server_dir);
	assert_int_equal(s->l7, 1);
	assert_int_equal(s->l4, 1);
	assert_int_equal(s->rec.type, REC_TYPE_SESSION);
	assert_int_equal(s->rec.signal_source, REC_SIGNAL_PACKET);
	assert_int_equal(s->rec.req_tcp_seq, 1001);
	assert_int_equal(s->rec.resp_tcp_seq, 5001);
	assert_string_equal(record_obs_name(s->rec.obs), obs);
	assert_string_equal(record_obs_name(s->flow.obs), obs);
	assert_string_equal(s->rec.capture_nic, nic);
	assert_string_equal(s->flow.capture_nic, nic);
	pktpath_destroy(p);
}

/* The client's veth on a bridge: its frames arrive from the far end. */
static void test_veth_of_the_client(void **state)
{
	struct seen s;
	struct pktpath *p = path(&s);

	(void)state;
	pktpath_set_capture_point(p, "veth-c", true);
	check(p, &s, PKT_DIR_IN, PKT_DIR_OUT, "c", "veth-c");
}

/* The server's veth: the server's frames arrive, the client's are sent into it. */
static void test_veth_of_the_server(void **state)
{
	struct seen s;
	struct pktpath *p = path(&s);

	(void)state;
	pktpath_set_capture_point(p, "veth-s", true);
	check(p, &s, PKT_DIR_OUT, PKT_DIR_IN, "s", "veth-s");
}

/* Not a veth (a bridge): both ways arrive, neither end is this host's: rest. */
static void test_bridge_is_rest(void **state)
{
	struct seen s;
	struct pktpath *p = path(&s);
	const uint8_t other[1][16] = { { 192, 168, 0, 1 } };

	(void)state;
	pktpath_set_local_addrs(p, other, (const uint8_t[]){ 4 }, 1);
	pktpath_set_capture_point(p, "br0", false);
	check(p, &s, PKT_DIR_IN, PKT_DIR_IN, "rest", "br0");
}

/* A veth whose far end sent nothing the path saw stays on the address rule: the client
 * is this host's address (the agent's own end of the pair), so c-nd. */
static void test_veth_address_rule_when_nothing_learned(void **state)
{
	struct seen s;
	struct pktpath *p = path(&s);
	const uint8_t mine[1][16] = { { 10, 0, 0, 1 } };

	(void)state;
	pktpath_set_local_addrs(p, mine, (const uint8_t[]){ 4 }, 1);
	pktpath_set_capture_point(p, "veth-x", true);
	/* Every frame "sent": nothing arrives from the far end, nothing is learned. */
	check(p, &s, PKT_DIR_OUT, PKT_DIR_OUT, "c-nd", "veth-x");
}

/* A capture file: no direction, no capture point: rest and no interface. */
static void test_file_is_rest(void **state)
{
	struct seen s;
	struct pktpath *p = path(&s);

	(void)state;
	check(p, &s, PKT_DIR_UNKNOWN, PKT_DIR_UNKNOWN, "rest", "");
}

/* A name longer than an interface name is cut, never overflows. */
static void test_long_nic_name_cut(void **state)
{
	struct seen s;
	struct pktpath *p = path(&s);

	(void)state;
	pktpath_set_capture_point(p, "a-name-much-longer-than-ifnamsiz", false);
	check(p, &s, PKT_DIR_UNKNOWN, PKT_DIR_UNKNOWN, "rest", "a-name-much-lon");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_veth_of_the_client),
		cmocka_unit_test(test_veth_of_the_server),
		cmocka_unit_test(test_bridge_is_rest),
		cmocka_unit_test(test_veth_address_rule_when_nothing_learned),
		cmocka_unit_test(test_file_is_rest),
		cmocka_unit_test(test_long_nic_name_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
