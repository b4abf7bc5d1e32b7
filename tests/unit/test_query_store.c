/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The query layer and the store together: user SQL is translated (src/query), its
 * parameters bound and run on the SQLite store (src/store), and the exact rows checked.
 * This is the path POST /v1/query takes, for l7_flow_log and for the flow_metrics network
 * tables under each spelling of their dotted names.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "agent/net_meter.h"
#include "agent/record.h"
#include "query/sql.h"
#include "store/store.h"

static char tmpl[] = "/tmp/flowscope-qs-XXXXXX";
static struct store *st;

/* Rows rendered as "a|b|c" lines, to compare with one string. */
struct out {
	char buf[4096];
	size_t len;
};

static int on_row(void *ctx, const struct store_value *v, size_t n)
{
	struct out *o = ctx;

	for (size_t i = 0; i < n; i++) {
		char cell[256];

		switch (v[i].type) {
		case STORE_NULL: snprintf(cell, sizeof(cell), "NULL"); break;
		case STORE_INT: snprintf(cell, sizeof(cell), "%lld", (long long)v[i].i); break;
		case STORE_REAL: snprintf(cell, sizeof(cell), "%g", v[i].d); break;
		case STORE_TEXT: snprintf(cell, sizeof(cell), "%.*s", (int)v[i].len, v[i].s); break;
		}
		o->len += snprintf(o->buf + o->len, sizeof(o->buf) - o->len, "%s%s", i ? "|" : "",
				   cell);
	}
	o->len += snprintf(o->buf + o->len, sizeof(o->buf) - o->len, "\n");
	return 0;
}

/* Translate for the request's db, bind, run. Returns the store's result; rows land in o. */
static int run_db(const char *sql, const char *db, struct out *o)
{
	struct query_plan plan = { 0 };
	struct store_value params[16];
	char err[256];
	int rc;

	memset(o, 0, sizeof(*o));
	rc = query_translate(sql, db, &plan, err, sizeof(err));
	if (rc) {
		print_error("translate: %s\n", err);
		return rc;
	}
	assert_true(plan.nparams <= 16);
	for (size_t i = 0; i < plan.nparams; i++) {
		const struct query_param *q = &plan.params[i];

		params[i] = (struct store_value){ 0 };
		if (q->type == QUERY_PARAM_INT) {
			params[i].type = STORE_INT;
			params[i].i = q->i;
		} else if (q->type == QUERY_PARAM_REAL) {
			params[i].type = STORE_REAL;
			params[i].d = q->d;
		} else {
			params[i].type = STORE_TEXT;
			params[i].s = q->s;
			params[i].len = q->len;
		}
	}
	rc = store_query(st, plan.sql, params, plan.nparams, NULL, NULL, on_row, o);
	query_plan_free(&plan);
	return rc;
}

static int run(const char *sql, struct out *o)
{
	return run_db(sql, "flow_log", o);
}

static void add(struct l7_record *r, const char *path, int code, uint64_t dur_us, uint64_t t_s)
{
	record_reset(r);
	r->type = REC_TYPE_SESSION;
	r->obs = REC_OBS_SERVER_PROCESS;
	r->family = 4;
	r->l4_proto = 6;
	r->l7_proto = PROTO_HTTP1;
	r->has_request = r->has_response = true;
	r->code = code;
	r->status = code >= 500	  ? PROTO_STATUS_SERVER_ERROR
		    : code >= 400 ? PROTO_STATUS_CLIENT_ERROR
				  : PROTO_STATUS_OK;
	r->start_ns = t_s * 1000000000ull;
	r->end_ns = r->start_ns + dur_us * 1000;
	r->request_length = 100;
	r->response_length = 200;
	memcpy(r->addr0, "\x7f\0\0\x01", 4);
	memcpy(r->addr1, "\x7f\0\0\x01", 4);
	r->server_port = 80;
	strcpy(r->comm, "nginx");
	rec_copy(r->method.s, &r->method.len, sizeof(r->method.s), "GET", 3);
	rec_copy(r->resource.s, &r->resource.len, sizeof(r->resource.s), path, strlen(path));
}

static void net_row(struct net_row *r, uint8_t table, int64_t t, const char *ip0, const char *ip1,
		    uint8_t role, uint64_t byte_tx, uint64_t rtt_max)
{
	memset(r, 0, sizeof(*r));
	r->k.time_s = t;
	r->k.table = table;
	r->k.family = 4;
	r->k.protocol = 6;
	r->k.role = role;
	r->k.obs = table == NET_MAP_1S || table == NET_MAP_1M ? REC_OBS_REST : 0;
	r->k.server_port = 80;
	assert_int_equal(inet_pton(AF_INET, ip0, r->k.ip0), 1);
	if (ip1)
		assert_int_equal(inet_pton(AF_INET, ip1, r->k.ip1), 1);
	r->v[NC_BYTE_TX] = byte_tx;
	r->v[NC_PACKET_TX] = 1;
	r->v[NC_RTT_MAX] = rtt_max;
	r->v[NC_RTT_COUNT] = rtt_max ? 1 : 0;
}

/*
 * Network rows of two clients of 10.0.0.9:80 over two seconds and their minute, the way
 * the agent sends them (a batch of its own, with a source).
 */
static void add_net(uint64_t t)
{
	struct net_row r[10];
	struct store_batch b = { .net = r, .nnet = 10 };
	struct store_batch_src src = { "agent-1", 1 };

	net_row(&r[0], NET_1S, (int64_t)t, "10.0.0.1", NULL, 0, 100, 0);
	net_row(&r[1], NET_1S, (int64_t)t, "10.0.0.9", NULL, 1, 900, 0);
	net_row(&r[2], NET_1S, (int64_t)t + 1, "10.0.0.2", NULL, 0, 200, 0);
	net_row(&r[3], NET_1S, (int64_t)t + 1, "10.0.0.9", NULL, 1, 800, 0);
	net_row(&r[4], NET_1M, (int64_t)t, "10.0.0.1", NULL, 0, 100, 0);
	net_row(&r[5], NET_1M, (int64_t)t, "10.0.0.2", NULL, 0, 200, 0);
	net_row(&r[6], NET_1M, (int64_t)t, "10.0.0.9", NULL, 1, 1700, 0);
	net_row(&r[7], NET_MAP_1S, (int64_t)t, "10.0.0.1", "10.0.0.9", 0, 100, 150);
	net_row(&r[8], NET_MAP_1S, (int64_t)t + 1, "10.0.0.2", "10.0.0.9", 0, 200, 250);
	net_row(&r[9], NET_MAP_1M, (int64_t)t, "10.0.0.1", "10.0.0.9", 0, 100, 150);
	assert_int_equal(store_write_rows(st, &src, &b), STORE_OK);
}

static int setup(void **unused)
{
	struct store_cfg cfg = { .dir = NULL, .retention_days = 366 };
	struct l7_record recs[6];
	const uint64_t t = 1795325400; /* one minute's worth, then the next */

	(void)unused;
	cfg.dir = mkdtemp(tmpl);
	assert_non_null(cfg.dir);
	assert_int_equal(store_open(&store_sqlite_ops, &cfg, &st), 0);
	add(&recs[0], "/a", 200, 100, t);
	add(&recs[1], "/a", 200, 300, t + 10);
	add(&recs[2], "/a", 500, 900, t + 70);
	add(&recs[3], "/b", 404, 50, t + 5);
	add(&recs[4], "/b", 200, 150, t + 65);
	add(&recs[5], "/c'; DROP TABLE x; --", 200, 10, t + 1);
	assert_int_equal(store_write_batch(st, recs, 6), STORE_OK);
	add_net(t);
	return 0;
}

static int teardown(void **unused)
{
	char cmd[128];

	(void)unused;
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	return system(cmd);
}

static void test_red_per_endpoint(void **unused)
{
	struct out o;

	(void)unused;
	assert_int_equal(run("SELECT endpoint, Count(row) AS requests, "
			     "Sum(response_status = 3) AS server_errors, "
			     "Avg(response_duration) AS rt, Max(response_duration) AS rt_max, "
			     "Percentile(response_duration, 50) AS p50 "
			     "FROM l7_flow_log GROUP BY endpoint ORDER BY requests DESC, endpoint",
			     &o),
			 0);
	/* endpoint is not filled by add(): all rows group under the empty endpoint. */
	assert_string_equal(o.buf, "|6|1|251.667|900|125\n");

	assert_int_equal(run("select request_resource, Count(row) as n, "
			     "Percentile(response_duration, 50) as p50 from l7_flow_log "
			     "where response_code >= 200 and request_type = 'GET' "
			     "group by request_resource order by request_resource",
			     &o),
			 0);
	assert_string_equal(o.buf, "/a|3|300\n/b|2|100\n/c'; DROP TABLE x; --|1|10\n");
}

static void test_time_buckets_and_filters(void **unused)
{
	struct out o;

	(void)unused;
	assert_int_equal(run("SELECT time(time, 60) AS t, Count(row) AS n FROM l7_flow_log "
			     "GROUP BY t ORDER BY t",
			     &o),
			 0);
	assert_string_equal(o.buf, "1795325400|4\n1795325460|2\n");

	assert_int_equal(run("SELECT request_resource FROM l7_flow_log WHERE request_resource "
			     "IN ('/b', '/c''; DROP TABLE x; --') AND response_code NOT IN (404) "
			     "ORDER BY request_resource",
			     &o),
			 0);
	assert_string_equal(o.buf, "/b\n/c'; DROP TABLE x; --\n");

	assert_int_equal(run("SELECT Count(row) FROM l7_flow_log WHERE request_resource LIKE "
			     "'/a%' AND response_duration BETWEEN 100 AND 300",
			     &o),
			 0);
	assert_string_equal(o.buf, "2\n");
}

/* Every spelling of a dotted table name reaches the same stored rows. */
static void test_network_tables(void **unused)
{
	static const char *const from[] = {
		"network.1s",
		"\"network.1s\"",
		"flow_metrics.\"network.1s\"",
		"flow_metrics.network.1s",
	};
	struct out o;
	char sql[256];

	(void)unused;
	for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT role, ip4, Sum(byte_tx) AS bytes, Count(row) AS n FROM %s "
			 "GROUP BY role, ip4 ORDER BY role, ip4",
			 from[i]);
		assert_int_equal(run_db(sql, NULL, &o), 0);
		assert_string_equal(o.buf,
				    "0|10.0.0.1|100|1\n0|10.0.0.2|200|1\n1|10.0.0.9|1700|2\n");
		/* The request's db may name flow_metrics too. */
		assert_int_equal(run_db(sql, "flow_metrics", &o), 0);
		assert_string_equal(o.buf,
				    "0|10.0.0.1|100|1\n0|10.0.0.2|200|1\n1|10.0.0.9|1700|2\n");
	}
	/* The minute holds what its seconds do. */
	assert_int_equal(run_db("SELECT role, Sum(byte_tx), Sum(packet_tx) FROM network.1m "
				"GROUP BY role ORDER BY role",
				NULL, &o),
			 0);
	assert_string_equal(o.buf, "0|300|2\n1|1700|1\n");
	/* network_map: the edges, each end a tag, with a time range and the max latency. */
	assert_int_equal(run_db("SELECT time, ip4_0, ip4_1, observation_point, Max(rtt_max), "
				"Sum(rtt_count) FROM flow_metrics.network_map.1s WHERE time >= "
				"1795325401 AND server_port = 80 GROUP BY time, ip4_0, ip4_1, "
				"observation_point",
				NULL, &o),
			 0);
	assert_string_equal(o.buf, "1795325401|10.0.0.2|10.0.0.9|rest|250|1\n");
	assert_int_equal(run_db("SELECT ip4_0, ip4_1, byte_tx FROM \"network_map.1m\"", NULL, &o),
			 0);
	assert_string_equal(o.buf, "10.0.0.1|10.0.0.9|100\n");
	/* The flow_log db of run() does not hold them, and says where they are. */
	assert_int_equal(run("SELECT Count(row) FROM network.1s", &o), -EINVAL);
}

static void test_show_and_refusals(void **unused)
{
	struct query_plan plan = { 0 };
	char err[256];

	(void)unused;
	assert_int_equal(query_translate("SHOW TABLES", NULL, &plan, err, sizeof(err)), 0);
	assert_true(plan.is_show);
	query_plan_free(&plan);
	assert_int_equal(
		query_translate("DELETE FROM l7_flow_log", "flow_log", &plan, err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err, "only SELECT and SHOW are allowed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_red_per_endpoint),
		cmocka_unit_test(test_time_buckets_and_filters),
		cmocka_unit_test(test_network_tables),
		cmocka_unit_test(test_show_and_refusals),
	};

	return cmocka_run_group_tests_name("query_store", tests, setup, teardown);
}
