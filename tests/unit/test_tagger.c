/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's tagger (src/tag/tagger.c) and custom service rules (src/tag/custom_rules.c):
 * rules parse with clear refusals and match the most specific; both sides of l7 and l4
 * records get host, gprocess, container, netns, custom_service and auto_* ids from the
 * agents' reports, exactly the ids tag_id() gives the natural keys; dictionary rows are
 * listed when an entry is new, changed, or a day old, not again otherwise, and again after
 * a failed write; two taggers fed the same batches produce the same ids and rows.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/tag_id.h"
#include "tag/custom_rules.h"
#include "tag/tagger.h"

#define CID "3f2a9c1d5e7b4a60891c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6"
#define NOW 1795300000

static void test_rules_parse(void **state)
{
	static const struct {
		const char *in, *err;
	} bad[] = {
		{ "web", "custom service 'web': expected NAME=CIDR[:PORT]" },
		{ "=10.0.0.1",
		  "custom service '=10.0.0.1': the name must be 1..63 of A-Z a-z 0-9 . _ -" },
		{ "a b=10.0.0.1",
		  "custom service 'a b=10.0.0.1': the name must be 1..63 of A-Z a-z 0-9 . _ -" },
		{ "web=10.0.0.256",
		  "custom service 'web=10.0.0.256': not an IPv4 or IPv6 address" },
		{ "web=10.0.0.0/33",
		  "custom service 'web=10.0.0.0/33': prefix length out of range" },
		{ "web=10.0.0.1/24",
		  "custom service 'web=10.0.0.1/24': address bits set beyond the prefix length" },
		{ "web=10.0.0.0/24:0",
		  "custom service 'web=10.0.0.0/24:0': port out of range (1..65535)" },
		{ "web=10.0.0.0/24:65536",
		  "custom service 'web=10.0.0.0/24:65536': port out of range (1..65535)" },
		{ "web=10.0.0.0/24:",
		  "custom service 'web=10.0.0.0/24:': port out of range (1..65535)" },
		{ "v6=[fd00::/64", "custom service 'v6=[fd00::/64': '[' without ']'" },
		{ "v6=[fd00::/64]80",
		  "custom service 'v6=[fd00::/64]80': expected ':PORT' after ']'" },
		{ "ok=10.0.0.1, bad=x", "custom service 'bad=x': not an IPv4 or IPv6 address" },
	};
	struct custom_rules rs;
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(custom_rules_parse(bad[i].in, &rs, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, bad[i].err);
		assert_int_equal(rs.n, 0);
		assert_null(rs.r);
	}
	assert_int_equal(custom_rules_parse("", &rs, err, sizeof(err)), 0);
	assert_int_equal(rs.n, 0);
	assert_int_equal(custom_rules_parse(" web=10.0.0.0/24:80 , db=10.0.0.5,v6=[fd00::/64]:443,"
					    "host6=fd00::1,",
					    &rs, err, sizeof(err)),
			 0);
	assert_int_equal(rs.n, 4);
	assert_string_equal(rs.r[0].name, "web");
	assert_int_equal(rs.r[0].prefix, 24);
	assert_int_equal(rs.r[0].port, 80);
	assert_int_equal(rs.r[0].id, tag_id_str(TAG_CUSTOM_SERVICE, "web"));
	assert_int_equal(rs.r[1].prefix, 32);
	assert_int_equal(rs.r[1].port, 0);
	assert_int_equal(rs.r[2].family, 6);
	assert_int_equal(rs.r[2].prefix, 64);
	assert_int_equal(rs.r[2].port, 443);
	assert_int_equal(rs.r[3].prefix, 128);
	custom_rules_free(&rs);
}

static void a4(uint8_t *a, const char *s)
{
	memset(a, 0, 16);
	assert_int_equal(inet_pton(AF_INET, s, a), 1);
}

static void test_rules_match(void **state)
{
	struct custom_rules rs;
	uint8_t a[16];
	char err[200];
	const struct custom_rule *r;

	(void)state;
	assert_int_equal(custom_rules_parse("net=10.0.0.0/16,web=10.0.0.0/24:80,exact=10.0.0.5,"
					    "net2=10.0.0.0/16,api=10.0.0.0/8:80",
					    &rs, err, sizeof(err)),
			 0);
	a4(a, "10.0.0.5");
	/* Server side, port 80: a port rule beats any portless one; the longer prefix wins. */
	r = custom_rules_match(&rs, 4, a, 80);
	assert_string_equal(r->name, "web");
	/* Another port: portless rules only, the longest prefix. */
	r = custom_rules_match(&rs, 4, a, 81);
	assert_string_equal(r->name, "exact");
	/* Client side (port 0): never a port rule. */
	r = custom_rules_match(&rs, 4, a, 0);
	assert_string_equal(r->name, "exact");
	a4(a, "10.0.9.9");
	r = custom_rules_match(&rs, 4, a, 0);
	assert_string_equal(r->name, "net"); /* first of two equal rules */
	r = custom_rules_match(&rs, 4, a, 80);
	assert_string_equal(r->name, "api");
	a4(a, "11.0.0.1");
	assert_null(custom_rules_match(&rs, 4, a, 80));
	memset(a, 0, 16);
	assert_null(custom_rules_match(&rs, 6, a, 80));
	custom_rules_free(&rs);
}

/* A batch from agent "agent-a" on host "node-a" (10.0.0.7): nginx (pid 4242, in a docker
 * container) serves curl (pid 77, gone before it was read) over 10.0.0.7 -> 10.0.0.5:80, seen
 * by both processes, plus a packet l4 row of the same flow. */
static void make_batch(struct wire_decoded *d, bool with_reports)
{
	static struct l7_record l7[2];
	static struct l4_record l4[1];
	static struct proc_info procs[2];

	memset(d, 0, sizeof(*d));
	memset(l7, 0, sizeof(l7));
	memset(l4, 0, sizeof(l4));
	for (int i = 0; i < 2; i++) {
		record_reset(&l7[i]);
		l7[i].family = 4;
		a4(l7[i].addr0, "10.0.0.7");
		a4(l7[i].addr1, "10.0.0.5");
		l7[i].client_port = 40000;
		l7[i].server_port = 80;
		l7[i].end_ns = (uint64_t)NOW * 1000000000ull;
	}
	l7[0].obs = REC_OBS_CLIENT_PROCESS;
	l7[0].pid = 77;
	l7[1].obs = REC_OBS_SERVER_PROCESS;
	l7[1].pid = 4242;
	l4[0].obs = REC_OBS_CLIENT_NODE;
	l4[0].f.family = 4;
	a4(l4[0].f.addr0, "10.0.0.7");
	a4(l4[0].f.addr1, "127.0.0.1");
	l4[0].f.server_port = 80;
	d->l7 = l7;
	d->n7 = 2;
	d->l4 = l4;
	d->n4 = 1;
	if (!with_reports)
		return;
	d->has_host = true;
	strcpy(d->host.hostname, "node-a");
	d->host.nips = 1;
	d->host.ips[0].family = 4;
	a4(d->host.ips[0].a, "10.0.0.7");
	memset(procs, 0, sizeof(procs));
	procs[0].pid = 4242;
	procs[0].start_time_us = 1700000000120000ull;
	strcpy(procs[0].comm, "nginx");
	strcpy(procs[0].exe, "/usr/sbin/nginx");
	strcpy(procs[0].cmdline, "nginx -g daemon off;");
	procs[0].has_uid = true;
	strcpy(procs[0].user, "root");
	strcpy(procs[0].container_id, CID);
	procs[0].netns_inode = 4026532000ull;
	procs[1].pid = 77;
	strcpy(procs[1].comm, "curl");
	d->procs = procs;
	d->nprocs = 2;
}

static size_t count_rows(const struct store_tag_row *rows, size_t n, int table, int64_t id)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (rows[i].table == table && (id == 0 || rows[i].v[1].i == id))
			c++;
	return c;
}

static const struct store_tag_row *find_dict(const struct store_tag_row *rows, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].table == STAG_DICT && rows[i].v[1].i == id)
			return &rows[i];
	return NULL;
}

static void test_resolution(void **state)
{
	struct custom_rules rs;
	struct tagger *t;
	struct wire_decoded d;
	const struct store_tag_row *rows, *r;
	size_t n;
	char err[100];
	int64_t host = tag_id_str(TAG_HOST, "node-a");
	int64_t nginx = tag_id_str(TAG_GPROCESS, "node-a/4242/1700000000120000");
	int64_t curl = tag_id_str(TAG_GPROCESS, "node-a/77/0");
	int64_t ctr = tag_id_str(TAG_CONTAINER, CID);
	int64_t netns = tag_id_str(TAG_NETNS, "node-a/4026532000");
	int64_t web = tag_id_str(TAG_CUSTOM_SERVICE, "web");
	int64_t ip7 = tag_id_str(TAG_IP, "10.0.0.7"), ip5 = tag_id_str(TAG_IP, "10.0.0.5");
	int64_t lo = tag_id_str(TAG_IP, "127.0.0.1");

	(void)state;
	assert_int_equal(custom_rules_parse("web=10.0.0.5:80", &rs, err, sizeof(err)), 0);
	t = tagger_new(&(struct tagger_cfg){ .rules = &rs });
	assert_non_null(t);
	make_batch(&d, true);
	assert_int_equal(tagger_batch(t, "agent-a", &d, NOW, &rows, &n), 0);

	/* c-p: the client side is curl's, on node-a; the server side is named by the rule. */
	{
		const struct tag_set *c = &d.l7[0].tags[0], *s = &d.l7[0].tags[1];

		assert_int_equal(c->host, host);
		assert_int_equal(c->gprocess, curl);
		assert_int_equal(c->container, 0);
		assert_int_equal(c->netns, 0);
		assert_int_equal(c->custom_service, 0);
		assert_int_equal(c->auto_service, curl);
		assert_int_equal(c->auto_service_type, TAG_GPROCESS);
		assert_int_equal(c->auto_instance, curl);
		assert_int_equal(c->auto_instance_type, TAG_GPROCESS);
		assert_int_equal(s->host, 0); /* 10.0.0.5 is no reporting host's */
		assert_int_equal(s->gprocess, 0);
		assert_int_equal(s->custom_service, web);
		assert_int_equal(s->auto_service, web);
		assert_int_equal(s->auto_service_type, TAG_CUSTOM_SERVICE);
		assert_int_equal(s->auto_instance, ip5);
		assert_int_equal(s->auto_instance_type, TAG_IP);
	}
	/* s-p: the server side is nginx in its container and netns; custom beats gprocess for
	 * the service, gprocess is the instance. The client side's address is node-a's. */
	{
		const struct tag_set *c = &d.l7[1].tags[0], *s = &d.l7[1].tags[1];

		assert_int_equal(c->host, host);
		assert_int_equal(c->gprocess, 0);
		assert_int_equal(c->auto_service, ip7);
		assert_int_equal(c->auto_service_type, TAG_IP);
		assert_int_equal(s->host, host);
		assert_int_equal(s->gprocess, nginx);
		assert_int_equal(s->container, ctr);
		assert_int_equal(s->netns, netns);
		assert_int_equal(s->auto_service, web);
		assert_int_equal(s->auto_instance, nginx);
		assert_int_equal(s->auto_instance_type, TAG_GPROCESS);
	}
	/* l4: no pid; loopback is the sending agent's host; the rule wants port 80 on 10.0.0.5. */
	{
		const struct tag_set *c = &d.l4[0].tags[0], *s = &d.l4[0].tags[1];

		assert_int_equal(c->host, host);
		assert_int_equal(s->host, host);
		assert_int_equal(s->custom_service, 0);
		assert_int_equal(s->auto_service, lo);
		assert_int_equal(s->auto_instance_type, TAG_IP);
	}
	/* The dictionary rows: one per entry, names as the contract says. */
	r = find_dict(rows, n, host);
	assert_non_null(r);
	assert_int_equal(r->v[0].i, NOW);
	assert_int_equal(r->v[2].i, TAG_HOST);
	assert_string_equal(r->v[3].s, "node-a");
	r = find_dict(rows, n, nginx);
	assert_string_equal(r->v[3].s, "nginx");
	assert_string_equal(r->v[4].s, "node-a/4242/1700000000120000");
	r = find_dict(rows, n, ctr);
	assert_string_equal(r->v[3].s, CID);
	r = find_dict(rows, n, netns);
	assert_string_equal(r->v[3].s, "4026532000");
	assert_string_equal(r->v[4].s, "node-a/4026532000");
	r = find_dict(rows, n, web);
	assert_int_equal(r->v[2].i, TAG_CUSTOM_SERVICE);
	assert_string_equal(r->v[3].s, "web");
	r = find_dict(rows, n, ip5);
	assert_string_equal(r->v[3].s, "10.0.0.5");
	for (size_t i = 0; i < n; i++)
		if (rows[i].table == STAG_DICT)
			assert_int_equal(count_rows(rows, n, STAG_DICT, rows[i].v[1].i), 1);
	/* nginx belongs to its host, container and netns; curl to its host only. */
	assert_int_equal(count_rows(rows, n, STAG_LINK, nginx), 3);
	assert_int_equal(count_rows(rows, n, STAG_LINK, curl), 1);
	assert_int_equal(count_rows(rows, n, STAG_PROCESS, 0), 2);
	assert_int_equal(count_rows(rows, n, STAG_HOST, 0), 1);
	/* dict: host, 2 processes, container, netns, 3 ips, web */
	assert_int_equal(count_rows(rows, n, STAG_DICT, 0), 9);
	for (size_t i = 0; i < n; i++)
		if (rows[i].table == STAG_PROCESS && rows[i].v[1].i == nginx) {
			assert_int_equal(rows[i].v[2].i, host);
			assert_string_equal(rows[i].v[3].s, "agent-a");
			assert_int_equal(rows[i].v[4].i, 4242);
			assert_int_equal(rows[i].v[5].i, 1700000000120000);
			assert_string_equal(rows[i].v[8].s, "nginx -g daemon off;");
			assert_int_equal(rows[i].v[9].i, 0);
			assert_int_equal(rows[i].v[11].i, ctr);
			assert_int_equal(rows[i].v[12].i, netns);
			assert_int_equal(rows[i].v[13].i, 4026532000);
		} else if (rows[i].table == STAG_PROCESS) {
			assert_int_equal(rows[i].v[9].type, STORE_NULL); /* uid unknown */
		}
	/* The write failed: everything is listed again. */
	tagger_done(t, false);
	make_batch(&d, false);
	assert_int_equal(tagger_batch(t, "agent-a", &d, NOW + 1, &rows, &n), 0);
	assert_int_equal(count_rows(rows, n, STAG_DICT, 0), 9);
	assert_int_equal(d.l7[1].tags[1].gprocess, nginx); /* the tagger remembers reports */
	tagger_done(t, true);
	/* Stored: nothing again for a day... */
	make_batch(&d, false);
	assert_int_equal(tagger_batch(t, "agent-a", &d, NOW + 2, &rows, &n), 0);
	assert_int_equal(n, 0);
	tagger_done(t, true);
	/* ... unless it changed: nginx's new cmdline is a new version of its entry only. */
	make_batch(&d, true);
	strcpy(d.procs[0].cmdline, "nginx -s reload");
	assert_int_equal(tagger_batch(t, "agent-a", &d, NOW + 3, &rows, &n), 0);
	assert_int_equal(count_rows(rows, n, STAG_PROCESS, 0), 1);
	assert_int_equal(count_rows(rows, n, STAG_PROCESS, nginx), 1);
	assert_int_equal(count_rows(rows, n, STAG_DICT, 0), 1);
	assert_int_equal(count_rows(rows, n, STAG_LINK, nginx), 3);
	assert_int_equal(n, 5);
	tagger_done(t, true);
	/* A day later every entry a batch names is written again. */
	make_batch(&d, false);
	assert_int_equal(tagger_batch(t, "agent-a", &d, NOW + 3 + 86400, &rows, &n), 0);
	assert_int_equal(count_rows(rows, n, STAG_DICT, 0), 9);
	tagger_done(t, true);
	{
		struct tagger_stats st;

		tagger_get_stats(t, &st);
		assert_int_equal(st.hosts, 1);
		assert_int_equal(st.procs, 2);
		assert_int_equal(st.procs_unknown, 0);
		assert_int_equal(st.batches, 5);
	}
	tagger_free(t);
	custom_rules_free(&rs);
}

/* An agent that reported nothing: IP tags only, pids counted as unknown. */
static void test_no_reports(void **state)
{
	struct tagger *t = tagger_new(&(struct tagger_cfg){ 0 });
	struct wire_decoded d;
	const struct store_tag_row *rows;
	size_t n;
	struct tagger_stats st;

	(void)state;
	make_batch(&d, false);
	assert_int_equal(tagger_batch(t, "agent-z", &d, NOW, &rows, &n), 0);
	assert_int_equal(d.l7[1].tags[1].host, 0);
	assert_int_equal(d.l7[1].tags[1].gprocess, 0);
	assert_int_equal(d.l7[1].tags[1].auto_service, tag_id_str(TAG_IP, "10.0.0.5"));
	assert_int_equal(d.l7[1].tags[1].auto_instance_type, TAG_IP);
	assert_int_equal(count_rows(rows, n, STAG_DICT, 0), 3);
	assert_int_equal(n, 3);
	tagger_done(t, true);
	tagger_get_stats(t, &st);
	assert_int_equal(st.procs_unknown, 0); /* no host: a pid cannot be looked up at all */
	tagger_free(t);
}

/* Two servers, no coordination: the same ids for the same entities, the same rows. */
static void test_two_instances(void **state)
{
	struct custom_rules rs;
	struct tagger *a, *b;
	struct wire_decoded d;
	const struct store_tag_row *ra, *rb;
	size_t na, nb;
	struct tag_set sa[3][2];
	char err[64];

	(void)state;
	assert_int_equal(custom_rules_parse("web=10.0.0.5:80", &rs, err, sizeof(err)), 0);
	a = tagger_new(&(struct tagger_cfg){ .rules = &rs });
	b = tagger_new(&(struct tagger_cfg){ .rules = &rs });
	make_batch(&d, true);
	assert_int_equal(tagger_batch(a, "agent-a", &d, NOW, &ra, &na), 0);
	memcpy(sa[0], d.l7[0].tags, sizeof(sa[0]));
	memcpy(sa[1], d.l7[1].tags, sizeof(sa[1]));
	memcpy(sa[2], d.l4[0].tags, sizeof(sa[2]));
	make_batch(&d, true);
	assert_int_equal(tagger_batch(b, "agent-a", &d, NOW, &rb, &nb), 0);
	assert_memory_equal(sa[0], d.l7[0].tags, sizeof(sa[0]));
	assert_memory_equal(sa[1], d.l7[1].tags, sizeof(sa[1]));
	assert_memory_equal(sa[2], d.l4[0].tags, sizeof(sa[2]));
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_int_equal(ra[i].table, rb[i].table);
		for (size_t c = 0; c < store_tag_table_ncols[ra[i].table]; c++) {
			assert_int_equal(ra[i].v[c].type, rb[i].v[c].type);
			if (ra[i].v[c].type == STORE_TEXT)
				assert_string_equal(ra[i].v[c].s, rb[i].v[c].s);
			else
				assert_int_equal(ra[i].v[c].i, rb[i].v[c].i);
		}
	}
	tagger_done(a, true);
	tagger_done(b, true);
	tagger_free(a);
	tagger_free(b);
	custom_rules_free(&rs);
}

/* Tables sized down (tag_max_hosts, tag_max_procs, tag_dict_entries): a full process or host
 * table starts over, a full dictionary table lists entries again and starts over with the
 * next batch; nothing hangs or overflows. */
static void test_small_tables(void **state)
{
	struct tagger *t = tagger_new(
		&(struct tagger_cfg){ .max_hosts = 1, .max_procs = 1, .dict_entries = 8 });
	static struct l4_record many[40];
	const struct store_tag_row *rows;
	struct tagger_stats st;
	struct wire_decoded d;
	size_t n;

	(void)state;
	assert_non_null(t);
	/* Two process reports, room for one: the second starts the table over, so nginx
	 * (reported first) is forgotten and its side has no gprocess; curl's has one. */
	make_batch(&d, true);
	assert_int_equal(tagger_batch(t, "agent-a", &d, NOW, &rows, &n), 0);
	tagger_done(t, true);
	tagger_get_stats(t, &st);
	assert_int_equal(st.proc_resets, 1);
	assert_int_equal(st.procs, 1);
	assert_int_equal(d.l7[1].tags[1].gprocess, 0);
	assert_int_not_equal(d.l7[0].tags[0].gprocess, 0);
	assert_int_equal(st.procs_unknown, 1);
	/* A second agent's host: room for one, agent-a's is forgotten. */
	make_batch(&d, true);
	strcpy(d.host.hostname, "node-b");
	d.nprocs = 0;
	assert_int_equal(tagger_batch(t, "agent-b", &d, NOW, &rows, &n), 0);
	tagger_done(t, true);
	make_batch(&d, false);
	assert_int_equal(tagger_batch(t, "agent-a", &d, NOW, &rows, &n), 0);
	assert_int_equal(d.l7[1].tags[1].host, 0);
	tagger_done(t, true);
	tagger_get_stats(t, &st);
	assert_int_equal(st.hosts, 1);
	/* 40 new addresses with room to remember 32: every one is listed all the same... */
	memset(many, 0, sizeof(many));
	for (int i = 0; i < 40; i++) {
		char ip[16];

		many[i].f.family = 4;
		snprintf(ip, sizeof(ip), "10.9.0.%d", i + 1);
		a4(many[i].f.addr0, ip);
		a4(many[i].f.addr1, "10.9.1.1");
		many[i].f.server_port = 80;
	}
	memset(&d, 0, sizeof(d));
	d.l4 = many;
	d.n4 = 40;
	assert_int_equal(tagger_batch(t, "agent-c", &d, NOW, &rows, &n), 0);
	assert_int_equal(count_rows(rows, n, STAG_DICT, 0), 41);
	tagger_done(t, true);
	/* ... and the next batch starts the full table over (its entries written again). */
	assert_int_equal(tagger_batch(t, "agent-c", &d, NOW + 1, &rows, &n), 0);
	assert_int_equal(count_rows(rows, n, STAG_DICT, 0), 41);
	tagger_done(t, true);
	tagger_get_stats(t, &st);
	assert_int_equal(st.dict_resets, 1);
	tagger_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_parse),   cmocka_unit_test(test_rules_match),
		cmocka_unit_test(test_resolution),    cmocka_unit_test(test_no_reports),
		cmocka_unit_test(test_two_instances), cmocka_unit_test(test_small_tables),
	};

	return cmocka_run_group_tests_name("tagger", tests, NULL, NULL);
}
