/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store contract: what every backend behind src/store/store.h must do, written against
 * that header only and run for each entry of the backends[] table: SQLite, and ClickHouse
 * at FLOWSCOPE_TEST_CLICKHOUSE (http://HOST:PORT; `make unit-test` starts a server for it
 * with tests/integration/chserver.py; without it the ClickHouse cases fail, they are never
 * skipped). Each test gets a fresh temporary data directory (SQLite) or a fresh database
 * (ClickHouse). The few statements whose SQL differs between the backends' dialects
 * (VALUES lists, typeof, integer division, a runaway query) come from the backend's entry.
 *
 * Covered: every l7_flow_log column read back exactly as record_write_json() renders it
 * (c-p and s-p, IPv4 and IPv6, lone requests and responses, NULLs), every l4_flow_log
 * column read back exactly as l4_record_write_json() renders it (tunnels, IPv6, a bare
 * row), every flow_metrics network / network_map column read back exactly as
 * net_row_write_json() renders it (all four tables, both families, both roles), a batch
 * of every kind stored whole or not at all and recognised as a resend whole, day
 * partitions and retention by whole days for every table, partition pruning equal to no
 * pruning, persistence across reopen and after a process dies without closing, bound
 * parameters carrying SQL-looking text verbatim, refusal of writes and of several
 * statements, the row limit and the timeout, exact percentile() results, and (SQLite)
 * the upgrade of schema version 2 and 3 databases, (ClickHouse) the schema columns an
 * older table lacks added in place and a newer schema version refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "agent/l4_record.h"
#include "agent/net_meter.h"
#include "agent/record.h"
#include "common/jsonw.h"
#include "store/rowid.h"
#include "store/schema.h"
#include "store/ch_http.h"
#include "store/store.h"

#define DAY0  19792ll /* 2024-03-10, days since the epoch */
#define DAY_S 86400ll
#define SEC   1000000000ull

struct backend {
	const char *name;
	const struct store_ops *ops;
	bool (*available)(void);
	bool by_url; /* opened by cfg.url (a server), not cfg.dir */
	/* Dialect: the same statements in the backend's own SQL. */
	const char *typeof_sql; /* "SELECT ? AS v, <type of ?> AS t" */
	const char *typeof_int; /* its answer for an integer parameter of 40000 */
	const char *runaway;	/* a query that runs until stopped */
	const char *values_1_10, *values_42, *values_null; /* column1 sets */
	const char *day_of_time;			   /* integer day of `time` */
	const char *unreachable_url;			   /* opening fails */
};

static bool always(void)
{
	return true;
}

static bool have_clickhouse(void)
{
	return getenv("FLOWSCOPE_TEST_CLICKHOUSE") != NULL;
}

static const struct backend backends[] = {
	{
		.name = "sqlite",
		.ops = &store_sqlite_ops,
		.available = always,
		.typeof_sql = "SELECT ? AS v, typeof(?) AS t",
		.typeof_int = "integer",
		.runaway = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
			   "SELECT max(x) FROM c",
		.values_1_10 = "(VALUES (7), (1), (10), (3), (NULL), (2), (9), (4), (8), (6), (5))",
		.values_42 = "(VALUES (42))",
		.values_null = "(VALUES (NULL))",
		.day_of_time = "time / 86400",
	},
	{
		.name = "clickhouse",
		.ops = &store_clickhouse_ops,
		.available = have_clickhouse,
		.by_url = true,
		.typeof_sql = "SELECT ? AS v, toTypeName(?) AS t",
		.typeof_int = "UInt16",
		.runaway = "SELECT count() FROM system.numbers",
		.values_1_10 =
			"(SELECT arrayJoin([7, 1, 10, 3, NULL, 2, 9, 4, 8, 6, 5]) AS column1)",
		.values_42 = "(SELECT 42 AS column1)",
		.values_null = "(SELECT arrayJoin([NULL]) AS column1)",
		.day_of_time = "intDiv(time, 86400)",
		.unreachable_url = "clickhouse://127.0.0.1:1/flowscope_nowhere",
	},
};

struct fixture {
	const struct backend *be;
	char dir[64];
	char url[160]; /* by_url backends: a database of this test alone */
	struct store *s;
};

/* ---- helpers ---------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->be = *state;
	if (!f->be->available()) {
		/* Never skipped: a backend without its server is a failure that says why. */
		const char *name = f->be->name;

		free(f);
		fail_msg("backend %s: no server; set FLOWSCOPE_TEST_CLICKHOUSE=http://HOST:PORT or "
			 "run through tests/integration/chserver.py (make unit-test does)",
			 name);
		return -1;
	}
	strcpy(f->dir, "/tmp/flowscope-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	/* A subdirectory that does not exist yet: the store creates it. */
	strcat(f->dir, "/data");
	if (f->be->by_url) {
		static unsigned int n;
		const char *base = getenv("FLOWSCOPE_TEST_CLICKHOUSE");

		assert_true(!strncmp(base, "http://", 7));
		snprintf(f->url, sizeof(f->url), "clickhouse://%s/flowscope_t%d_%u", base + 7,
			 (int)getpid(), ++n);
	}
	*state = f;
	return 0;
}

/* Drop the test's ClickHouse database. */
static void drop_url_db(struct fixture *f)
{
	const char *base = getenv("FLOWSCOPE_TEST_CLICKHOUSE");
	struct ch_http *h = ch_http_new(base);
	struct ch_http_result r;
	char sql[200], *enc, *params = NULL;

	assert_non_null(h);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", strrchr(f->url, '/') + 1);
	enc = ch_http_escape(h, sql, strlen(sql));
	assert_non_null(enc);
	assert_true(asprintf(&params, "query=%s", enc) > 0);
	(void)ch_http_post(h, params, NULL, 0, 30000, NULL, NULL, &r);
	ch_http_free_str(enc);
	free(params);
	ch_http_free(h);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *slash;

	store_close(f->s);
	if (f->be->by_url)
		drop_url_db(f);
	slash = strrchr(f->dir, '/');
	*slash = 0;
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct store_cfg fixture_cfg(const struct fixture *f)
{
	return (struct store_cfg){ .dir = f->dir, .url = f->be->by_url ? f->url : NULL };
}

static struct store *reopen(struct fixture *f, uint32_t retention_days)
{
	struct store_cfg cfg = fixture_cfg(f);

	cfg.retention_days = retention_days;

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->be->ops, &cfg, &f->s), 0);
	assert_non_null(f->s);
	return f->s;
}

#define SETS(field, str) rec_copy((field).s, &(field).len, sizeof((field).s), (str), strlen(str))

static void addr4(uint8_t *a, const char *s)
{
	memset(a, 0, 16);
	assert_int_equal(inet_pton(AF_INET, s, a), 1);
}

static void addr6(uint8_t *a, const char *s)
{
	assert_int_equal(inet_pton(AF_INET6, s, a), 1);
}

/* A plain c-p IPv4 exchange at second `t` (any day), with request and response. */
static void rec_basic(struct l7_record *r, uint64_t t, uint64_t resp_len)
{
	record_reset(r);
	r->start_ns = t * SEC;
	r->end_ns = t * SEC + 1000000;
	r->type = REC_TYPE_SESSION;
	r->obs = REC_OBS_CLIENT_PROCESS;
	r->family = 4;
	r->l4_proto = 6;
	r->l7_proto = PROTO_HTTP1;
	r->code = 200;
	r->has_request = r->has_response = true;
	r->request_length = 10;
	r->response_length = resp_len;
	addr4(r->addr0, "10.0.0.1");
	addr4(r->addr1, "10.0.0.2");
	r->client_port = 40000;
	r->server_port = 80;
	strcpy(r->comm, "curl");
	SETS(r->method, "GET");
	SETS(r->resource, "/");
}

/* Rows as delivered, copied so they outlive the callback. */
#define MAX_COLS 128
#define MAX_ROWS 64

struct cell {
	enum store_value_type type;
	int64_t i;
	double d;
	char *s;
	size_t len;
};

struct result {
	size_t ncols, nrows, ncalls_columns;
	char *names[MAX_COLS];
	struct cell cells[MAX_ROWS][MAX_COLS];
	int stop_after; /* on_row returns 1 after this many rows, when > 0 */
};

static int on_columns(void *ctx, size_t ncols, const char *const *names)
{
	struct result *r = ctx;

	assert_true(ncols <= MAX_COLS);
	r->ncols = ncols;
	r->ncalls_columns++;
	for (size_t i = 0; i < ncols; i++)
		r->names[i] = strdup(names[i]);
	return 0;
}

static int on_row(void *ctx, const struct store_value *v, size_t ncols)
{
	struct result *r = ctx;

	assert_int_equal(ncols, r->ncols);
	assert_true(r->nrows < MAX_ROWS);
	for (size_t i = 0; i < ncols; i++) {
		struct cell *c = &r->cells[r->nrows][i];

		c->type = v[i].type;
		c->i = v[i].i;
		c->d = v[i].d;
		if (v[i].type == STORE_TEXT) {
			c->s = strndup(v[i].s, v[i].len);
			c->len = v[i].len;
		}
	}
	r->nrows++;
	if (r->stop_after && r->nrows == (size_t)r->stop_after)
		return 1;
	return 0;
}

static void result_free(struct result *r)
{
	for (size_t i = 0; i < MAX_COLS; i++)
		free(r->names[i]);
	for (size_t i = 0; i < MAX_ROWS; i++)
		for (size_t j = 0; j < MAX_COLS; j++)
			free(r->cells[i][j].s);
	free(r);
}

static struct result *query(struct store *s, const char *sql, const struct store_value *p,
			    size_t np, uint64_t max_rows, int expect)
{
	struct store_limits lim = { .max_rows = max_rows, .timeout_ms = 10000 };
	struct result *r = calloc(1, sizeof(*r));
	int err;

	assert_non_null(r);
	err = store_query(s, sql, p, np, &lim, on_columns, on_row, r);
	if (err != expect)
		fail_msg("%s: got %d want %d (%s)", sql, err, expect, store_errmsg(s));
	return r;
}

static int64_t count(struct store *s, const char *sql)
{
	struct result *r = query(s, sql, NULL, 0, 0, 0);
	int64_t n;

	assert_int_equal(r->nrows, 1);
	assert_int_equal(r->cells[0][0].type, STORE_INT);
	n = r->cells[0][0].i;
	result_free(r);
	return n;
}

/*
 * A store whose rows hold local numbers for tag ids (STORE_CAP_LOCAL_TAG_IDS: SQLite)
 * answers a raw SELECT of l7/l4 rows with those numbers: turn each into the id it stands
 * for, through the store's map, so that rows compare to what was written on every
 * backend. Each number must be small (what the map is for: below 2^15 here) and map to
 * exactly one id. Returns how many cells were numbers.
 */
static size_t decode_local_ids(struct store *s, struct result *r, const char *table)
{
	const struct schema_table *t = schema_find_table("flow_log", table);
	size_t n = 0;

	if (!(store_caps(s) & STORE_CAP_LOCAL_TAG_IDS))
		return 0;
	for (size_t c = 0; c < r->ncols; c++) {
		const struct schema_column *col = schema_find_column(t, r->names[c]);

		if (!col || !(col->flags & SCHEMA_F_TAG_ID))
			continue;
		for (size_t row = 0; row < r->nrows; row++) {
			struct cell *cell = &r->cells[row][c];
			struct store_value p = { .type = STORE_INT, .i = cell->i };
			struct result *m;

			if (cell->type != STORE_INT || !cell->i)
				continue;
			assert_in_range(cell->i, 1, (1 << 15) - 1);
			m = query(s, "SELECT id FROM \"" STORE_TAG_LOCAL_TABLE "\" WHERE lid = ?",
				  &p, 1, 0, 0);
			assert_int_equal(m->nrows, 1);
			cell->i = m->cells[0][0].i;
			result_free(m);
			n++;
		}
	}
	return n;
}

static int64_t count_all(struct store *s)
{
	return count(s, "SELECT count(*) FROM l7_flow_log");
}

/* ---- expected rows ---------------------------------------------------------------------- */

struct exp {
	const char *col;
	enum store_value_type type;
	int64_t i;
	const char *s;
};

#define EI(c, v)                                                                                   \
	{                                                                                          \
		c, STORE_INT, v, NULL                                                              \
	}
#define ET(c, v)                                                                                   \
	{                                                                                          \
		c, STORE_TEXT, 0, v                                                                \
	}
#define EN(c)                                                                                      \
	{                                                                                          \
		c, STORE_NULL, 0, NULL                                                             \
	}
/* The row id (`_id`, store/rowid.h): an integer that names the row's minute (its time
 * column); each id is checked to be distinct from the others of the result. */
#define EXP_ROWID ((enum store_value_type)100)
#define EID(c)                                                                                     \
	{                                                                                          \
		c, EXP_ROWID, 0, NULL                                                              \
	}

/* A side's tag id columns (schema.c's TAG_ID_COLUMNS), as the tagger left them. */
#define ETAGS(side, h, gp, ct, ns, cs, pc, pn, pd, p, pg, ps, as, ast, ai, ait)                    \
	EI("host_id_" side, h), EI("gprocess_id_" side, gp), EI("container_id_" side, ct),         \
		EI("netns_id_" side, ns), EI("custom_service_id_" side, cs),                       \
		EI("pod_cluster_id_" side, pc), EI("pod_ns_id_" side, pn),                         \
		EI("pod_node_id_" side, pd), EI("pod_id_" side, p), EI("pod_group_id_" side, pg),  \
		EI("pod_service_id_" side, ps), EI("auto_service_id_" side, as),                   \
		EI("auto_service_type_" side, ast), EI("auto_instance_id_" side, ai),              \
		EI("auto_instance_type_" side, ait)
#define ETAGS_NONE(side) ETAGS(side, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

static void check_row(const struct result *r, size_t row, const struct exp *e)
{
	size_t n = 0;

	for (; e[n].col; n++) {
		const struct cell *c = NULL;

		for (size_t i = 0; i < r->ncols; i++)
			if (strcmp(r->names[i], e[n].col) == 0)
				c = &r->cells[row][i];
		if (!c)
			fail_msg("row %zu: no column %s", row, e[n].col);
		if (e[n].type == EXP_ROWID) {
			int64_t t = -2;

			for (size_t i = 0; i < r->ncols; i++)
				if (!strcmp(r->names[i], "time"))
					t = r->cells[row][i].i;
			if (c->type != STORE_INT || c->i <= 0 || rowid_time(c->i) != t - t % 60)
				fail_msg("row %zu %s: %lld is not a row id of time %lld", row,
					 e[n].col, (long long)c->i, (long long)t);
			for (size_t o = 0; o < r->nrows; o++)
				for (size_t i = 0; o != row && i < r->ncols; i++)
					if (!strcmp(r->names[i], e[n].col) &&
					    r->cells[o][i].i == c->i)
						fail_msg("rows %zu and %zu: one row id", row, o);
			continue;
		}
		if (c->type != e[n].type)
			fail_msg("row %zu %s: type %d want %d", row, e[n].col, c->type, e[n].type);
		if (e[n].type == STORE_INT && c->i != e[n].i)
			fail_msg("row %zu %s: %lld want %lld", row, e[n].col, (long long)c->i,
				 (long long)e[n].i);
		if (e[n].type == STORE_TEXT &&
		    (c->len != strlen(e[n].s) || memcmp(c->s, e[n].s, c->len)))
			fail_msg("row %zu %s: '%s' want '%s'", row, e[n].col, c->s, e[n].s);
	}
	/* Every column of the row is asserted. */
	assert_int_equal(n, r->ncols);
}

#define T0 ((uint64_t)DAY0 * DAY_S + 3600) /* 01:00:00 UTC on DAY0 */

/* c-p, IPv4, complete exchange with every string set. */
static void make_r1(struct l7_record *r)
{
	record_reset(r);
	r->start_ns = T0 * SEC + 123456789;
	r->end_ns = T0 * SEC + 125000999; /* µs: ...123456 -> ...125000 */
	r->type = REC_TYPE_SESSION;
	r->obs = REC_OBS_CLIENT_PROCESS;
	r->status = 0;
	r->family = 4;
	r->l4_proto = 6;
	r->l7_proto = PROTO_HTTP1;
	r->code = 200;
	r->has_request = r->has_response = true;
	r->request_length = 120;
	r->response_length = 4096;
	r->req_tcp_seq = 4000000000u;
	r->resp_tcp_seq = 17;
	addr4(r->addr0, "10.0.0.1");
	addr4(r->addr1, "192.168.100.254");
	r->client_port = 40000;
	r->server_port = 8080;
	r->pid = 1234;
	r->req_tid = 1235;
	r->resp_tid = 1236;
	strcpy(r->comm, "curl");
	SETS(r->version, "1.1");
	SETS(r->method, "GET");
	SETS(r->domain, "example.com");
	SETS(r->resource, "/a/b?c=1");
	SETS(r->endpoint, "/a/b");
	SETS(r->x_request_id_0, "req-1");
	SETS(r->x_request_id_1, "resp-1");
	SETS(r->trace_id, "0af7651916cd43dd8448eb211c80319c");
	SETS(r->span_id, "b7ad6b7169203331");
	SETS(r->result, "3 rows");
	r->has_request_id = true;
	r->request_id = 7;
	r->has_affected_rows = true;
	r->affected_rows = 3;
	r->req_syscall_trace_id = (uint64_t)INT64_MAX;
	r->resp_syscall_trace_id = 42;
	r->req_coroutine = 7001;
	r->resp_coroutine = 7002;
	SETS(r->parent_span_id, "00f067aa0ba902b7");
	r->tags[0] = (struct tag_set){ 101, 102, 103, 104, 105, 106, 107, 108,
				       109, 110, 111, 112, 113, 6,   3 };
	r->tags[1] = (struct tag_set){ 201,	  202, 203, 204, 205, 206,
				       207,	  208, 209, 210, 211, (int64_t)1 << 62,
				       INT64_MAX, 12,  10 };
}

static const struct exp exp_r1[] = {
	EI("time", (int64_t)T0),
	EI("start_time", (int64_t)T0 * 1000000 + 123456),
	EI("end_time", (int64_t)T0 * 1000000 + 125000),
	EI("response_duration", 1544),
	ET("ip4_0", "10.0.0.1"),
	ET("ip4_1", "192.168.100.254"),
	EN("ip6_0"),
	EN("ip6_1"),
	EI("client_port", 40000),
	EI("server_port", 8080),
	EI("protocol", 6),
	EI("signal_source", 3),
	ET("observation_point", "c-p"),
	ET("capture_nic", ""),
	EI("process_id_0", 1234),
	EI("process_id_1", 0),
	ET("process_kname_0", "curl"),
	ET("process_kname_1", ""),
	EI("syscall_thread_0", 1235),
	EI("syscall_thread_1", 1236),
	ET("l7_protocol", "HTTP"),
	ET("version", "1.1"),
	EI("type", 2),
	ET("request_type", "GET"),
	ET("request_domain", "example.com"),
	ET("request_resource", "/a/b?c=1"),
	ET("endpoint", "/a/b"),
	EI("response_code", 200),
	EI("response_status", 0),
	ET("response_exception", ""),
	EI("request_length", 120),
	EI("response_length", 4096),
	EI("req_tcp_seq", 4000000000ll),
	EI("resp_tcp_seq", 17),
	EI("lone_resp_tcp_seq", 0),
	ET("x_request_id_0", "req-1"),
	ET("x_request_id_1", "resp-1"),
	ET("trace_id", "0af7651916cd43dd8448eb211c80319c"),
	ET("span_id", "b7ad6b7169203331"),
	ET("response_result", "3 rows"),
	EI("request_id", 7),
	EI("sql_affected_rows", 3),
	EI("syscall_trace_id_request", INT64_MAX),
	EI("syscall_trace_id_response", 42),
	EI("syscall_coroutine_0", 7001),
	EI("syscall_coroutine_1", 7002),
	ET("parent_span_id", "00f067aa0ba902b7"),
	EID("_id"),
	/* make_r1 sets every id of both sides: each lands in its own column. */
	ETAGS("0", 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 6, 113, 3),
	ETAGS("1", 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, (int64_t)1 << 62, 12,
	      INT64_MAX, 10),
	{ NULL },
};

/* s-p, IPv6, lone request: the response half is NULL or 0 even where fields are set. */
static void make_r2(struct l7_record *r)
{
	record_reset(r);
	r->start_ns = (T0 + 10) * SEC;
	r->end_ns = (T0 + 10) * SEC + 5000;
	r->type = REC_TYPE_REQUEST;
	r->obs = REC_OBS_SERVER_PROCESS;
	r->status = 2; /* timeout */
	r->family = 6;
	r->l4_proto = 6;
	r->l7_proto = PROTO_HTTP1;
	r->code = -1;
	r->has_request = true;
	r->request_length = 77;
	r->response_length = 999; /* ignored without a response */
	r->req_tcp_seq = 5;
	r->resp_tcp_seq = 6; /* ignored */
	addr6(r->addr0, "2001:db8::1");
	addr6(r->addr1, "::1");
	r->client_port = 50000;
	r->server_port = 443;
	r->pid = 99;
	r->req_tid = 100;
	r->resp_tid = 101;			 /* ignored */
	memcpy(r->comm, "sixteen-chars-xx", 16); /* full width, no NUL */
	SETS(r->version, "1.0");
	SETS(r->method, "POST");
	SETS(r->resource, "/upload");
	SETS(r->endpoint, "/upload");
}

static const struct exp exp_r2[] = {
	EI("time", (int64_t)T0 + 10),
	EI("start_time", ((int64_t)T0 + 10) * 1000000),
	EI("end_time", ((int64_t)T0 + 10) * 1000000 + 5),
	EN("response_duration"),
	EN("ip4_0"),
	EN("ip4_1"),
	ET("ip6_0", "2001:db8::1"),
	ET("ip6_1", "::1"),
	EI("client_port", 50000),
	EI("server_port", 443),
	EI("protocol", 6),
	EI("signal_source", 3),
	ET("observation_point", "s-p"),
	ET("capture_nic", ""),
	EI("process_id_0", 0),
	EI("process_id_1", 99),
	ET("process_kname_0", ""),
	ET("process_kname_1", "sixteen-chars-xx"),
	EI("syscall_thread_0", 100),
	EI("syscall_thread_1", 0),
	ET("l7_protocol", "HTTP"),
	ET("version", "1.0"),
	EI("type", 0),
	ET("request_type", "POST"),
	ET("request_domain", ""),
	ET("request_resource", "/upload"),
	ET("endpoint", "/upload"),
	EN("response_code"),
	EI("response_status", 2),
	ET("response_exception", ""),
	EI("request_length", 77),
	EN("response_length"),
	EI("req_tcp_seq", 5),
	EI("resp_tcp_seq", 0),
	EI("lone_resp_tcp_seq", 0),
	ET("x_request_id_0", ""),
	ET("x_request_id_1", ""),
	ET("trace_id", ""),
	ET("span_id", ""),
	ET("response_result", ""),
	EN("request_id"),
	EN("sql_affected_rows"),
	EI("syscall_trace_id_request", 0),
	EI("syscall_trace_id_response", 0),
	EI("syscall_coroutine_0", 0),
	EI("syscall_coroutine_1", 0),
	ET("parent_span_id", ""),
	EID("_id"),
	ETAGS_NONE("0"),
	ETAGS_NONE("1"),
	{ NULL },
};

/* c-p, IPv4, lone response with an error. */
static void make_r3(struct l7_record *r)
{
	record_reset(r);
	r->start_ns = (T0 + 20) * SEC;
	r->end_ns = (T0 + 21) * SEC;
	r->type = REC_TYPE_RESPONSE;
	r->obs = REC_OBS_CLIENT_PROCESS;
	r->status = 3;
	r->family = 4;
	r->l4_proto = 6;
	r->l7_proto = PROTO_HTTP1;
	r->code = 503;
	r->has_response = true;
	r->request_length = 5; /* ignored */
	r->response_length = 0;
	r->req_tcp_seq = 8; /* ignored */
	r->resp_tcp_seq = 9;
	addr4(r->addr0, "127.0.0.1");
	addr4(r->addr1, "127.0.0.1");
	r->client_port = 1;
	r->server_port = 65535;
	r->pid = 7;
	r->req_tid = 70; /* ignored */
	r->resp_tid = 71;
	strcpy(r->comm, "wget");
	SETS(r->version, "1.1");
	SETS(r->exception, "Service Unavailable");
	SETS(r->x_request_id_1, "only-resp");
	r->req_syscall_trace_id = 5; /* ignored */
	r->resp_syscall_trace_id = 77;
}

static const struct exp exp_r3[] = {
	EI("time", (int64_t)T0 + 21),
	EI("start_time", ((int64_t)T0 + 20) * 1000000),
	EI("end_time", ((int64_t)T0 + 21) * 1000000),
	EN("response_duration"),
	ET("ip4_0", "127.0.0.1"),
	ET("ip4_1", "127.0.0.1"),
	EN("ip6_0"),
	EN("ip6_1"),
	EI("client_port", 1),
	EI("server_port", 65535),
	EI("protocol", 6),
	EI("signal_source", 3),
	ET("observation_point", "c-p"),
	ET("capture_nic", ""),
	EI("process_id_0", 7),
	EI("process_id_1", 0),
	ET("process_kname_0", "wget"),
	ET("process_kname_1", ""),
	EI("syscall_thread_0", 0),
	EI("syscall_thread_1", 71),
	ET("l7_protocol", "HTTP"),
	ET("version", "1.1"),
	EI("type", 1),
	ET("request_type", ""),
	ET("request_domain", ""),
	ET("request_resource", ""),
	ET("endpoint", ""),
	EI("response_code", 503),
	EI("response_status", 3),
	ET("response_exception", "Service Unavailable"),
	EN("request_length"),
	EI("response_length", 0),
	EI("req_tcp_seq", 0),
	EI("resp_tcp_seq", 9),
	EI("lone_resp_tcp_seq", 9),
	ET("x_request_id_0", ""),
	ET("x_request_id_1", "only-resp"),
	ET("trace_id", ""),
	ET("span_id", ""),
	ET("response_result", ""),
	EN("request_id"),
	EN("sql_affected_rows"),
	EI("syscall_trace_id_request", 0),
	EI("syscall_trace_id_response", 77),
	EI("syscall_coroutine_0", 0),
	EI("syscall_coroutine_1", 0),
	ET("parent_span_id", ""),
	EID("_id"),
	ETAGS_NONE("0"),
	ETAGS_NONE("1"),
	{ NULL },
};

/* s-p, IPv6, a response without a status code (code -1): response_code NULL. */
static void make_r4(struct l7_record *r)
{
	make_r1(r);
	memset(r->tags, 0, sizeof(r->tags));
	r->start_ns = (T0 + 30) * SEC;
	r->end_ns = (T0 + 30) * SEC; /* zero duration */
	r->obs = REC_OBS_SERVER_PROCESS;
	r->family = 6;
	addr6(r->addr0, "fe80::1:2");
	addr6(r->addr1, "::ffff:10.1.2.3");
	r->code = -1;
	r->status = 6;
	r->l4_proto = 17;
}

static const struct exp exp_r4[] = {
	EI("time", (int64_t)T0 + 30),
	EI("start_time", ((int64_t)T0 + 30) * 1000000),
	EI("end_time", ((int64_t)T0 + 30) * 1000000),
	EI("response_duration", 0),
	EN("ip4_0"),
	EN("ip4_1"),
	ET("ip6_0", "fe80::1:2"),
	ET("ip6_1", "::ffff:10.1.2.3"),
	EI("client_port", 40000),
	EI("server_port", 8080),
	EI("protocol", 17),
	EI("signal_source", 3),
	ET("observation_point", "s-p"),
	ET("capture_nic", ""),
	EI("process_id_0", 0),
	EI("process_id_1", 1234),
	ET("process_kname_0", ""),
	ET("process_kname_1", "curl"),
	EI("syscall_thread_0", 1235),
	EI("syscall_thread_1", 1236),
	ET("l7_protocol", "HTTP"),
	ET("version", "1.1"),
	EI("type", 2),
	ET("request_type", "GET"),
	ET("request_domain", "example.com"),
	ET("request_resource", "/a/b?c=1"),
	ET("endpoint", "/a/b"),
	EN("response_code"),
	EI("response_status", 6),
	ET("response_exception", ""),
	EI("request_length", 120),
	EI("response_length", 4096),
	EI("req_tcp_seq", 4000000000ll),
	EI("resp_tcp_seq", 17),
	EI("lone_resp_tcp_seq", 0),
	ET("x_request_id_0", "req-1"),
	ET("x_request_id_1", "resp-1"),
	ET("trace_id", "0af7651916cd43dd8448eb211c80319c"),
	ET("span_id", "b7ad6b7169203331"),
	ET("response_result", "3 rows"),
	EI("request_id", 7),
	EI("sql_affected_rows", 3),
	EI("syscall_trace_id_request", INT64_MAX),
	EI("syscall_trace_id_response", 42),
	EI("syscall_coroutine_0", 7001),
	EI("syscall_coroutine_1", 7002),
	ET("parent_span_id", "00f067aa0ba902b7"),
	EID("_id"),
	ETAGS_NONE("0"),
	ETAGS_NONE("1"),
	{ NULL },
};

/* ---- tests ------------------------------------------------------------------------------- */

static void test_empty_store(void **state)
{
	struct fixture *f = *state;
	struct store_stats st;
	struct result *r;
	char sql[128];

	reopen(f, 0);
	/* Schema migrations are idempotent: again on an open store. */
	assert_int_equal(store_ensure_schema(f->s), 0);
	assert_int_equal(store_write_batch(f->s, NULL, 0), STORE_OK);
	/* Every table is there, under its store name: its columns are the schema's, in
	 * order, even with no data. */
	for (size_t ti = 0; schema_tables[ti]; ti++) {
		const struct schema_table *t = schema_tables[ti];

		snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"", t->store_name);
		r = query(f->s, sql, NULL, 0, 0, 0);
		assert_int_equal(r->ncalls_columns, 1);
		assert_int_equal(r->ncols, t->ncolumns);
		for (size_t i = 0; i < t->ncolumns; i++)
			assert_string_equal(r->names[i], t->columns[i].name);
		assert_int_equal(r->nrows, 0);
		result_free(r);
	}
	assert_non_null(schema_find_table("flow_log", "l4_flow_log"));
	assert_string_equal(schema_find_table("flow_metrics", "network_map.1m")->store_name,
			    "network_map_1m");
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.rows_written, 0);
	assert_int_equal(st.partitions, 0);
	assert_true(st.bytes_on_disk > 0);
	assert_true(store_caps(f->s) & STORE_CAP_SQL);
}

static void test_roundtrip_every_column(void **state)
{
	struct fixture *f = *state;
	struct l7_record *recs = calloc(4, sizeof(*recs));
	struct store_stats st;
	struct result *r;

	assert_non_null(recs);
	reopen(f, 0);
	/* Out of order on purpose: the ORDER BY, not insertion, decides. */
	make_r3(&recs[0]);
	make_r1(&recs[1]);
	make_r4(&recs[2]);
	make_r2(&recs[3]);
	assert_int_equal(store_write_batch(f->s, recs, 4), STORE_OK);
	r = query(f->s, "SELECT * FROM l7_flow_log ORDER BY start_time", NULL, 0, 0, 0);
	assert_int_equal(r->nrows, 4);
	/* SQLite: r1's 26 ids (its two kinds aside); the other rows carry none */
	assert_int_equal(decode_local_ids(f->s, r, "l7_flow_log"),
			 store_caps(f->s) & STORE_CAP_LOCAL_TAG_IDS ? 26 : 0);
	check_row(r, 0, exp_r1);
	check_row(r, 1, exp_r2);
	check_row(r, 2, exp_r3);
	check_row(r, 3, exp_r4);
	result_free(r);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.rows_written, 4);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.partitions, 1);
	assert_int_equal(st.rows_dropped, 0);
	free(recs);
}

static void write_days(struct store *s, int64_t first_day, int ndays, int per_day)
{
	struct l7_record *recs = calloc((size_t)(ndays * per_day), sizeof(*recs));
	size_t n = 0;

	assert_non_null(recs);
	for (int d = 0; d < ndays; d++)
		for (int i = 0; i < per_day; i++)
			rec_basic(&recs[n++], (uint64_t)((first_day + d) * DAY_S + 60 * i),
				  (uint64_t)(d * 100 + i));
	assert_int_equal(store_write_batch(s, recs, n), STORE_OK);
	free(recs);
}

static int64_t count_day(struct store *s, int64_t day)
{
	struct store_value p[2] = { { .type = STORE_INT, .i = day * DAY_S },
				    { .type = STORE_INT, .i = (day + 1) * DAY_S } };
	struct result *r = query(s, "SELECT count(*) FROM l7_flow_log WHERE time >= ? AND time < ?",
				 p, 2, 0, 0);
	int64_t n = r->cells[0][0].i;

	result_free(r);
	return n;
}

static void test_partitions_and_retention(void **state)
{
	struct fixture *f = *state;
	struct store_stats st;

	reopen(f, 1);
	/* One batch across two days, then a third day; 23:59:59 stays on its day. */
	write_days(f->s, DAY0, 2, 3);
	write_days(f->s, DAY0 + 2, 1, 4);
	{
		struct l7_record r;

		rec_basic(&r, (uint64_t)((DAY0 + 1) * DAY_S - 1), 1);
		assert_int_equal(store_write_batch(f->s, &r, 1), STORE_OK);
	}
	assert_int_equal(count_day(f->s, DAY0), 4);
	assert_int_equal(count_day(f->s, DAY0 + 1), 3);
	assert_int_equal(count_day(f->s, DAY0 + 2), 4);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.partitions, 3);
	assert_int_equal(st.rows_written, 11);
	assert_int_equal(st.batches, 3);

	/* Retention 1 day at DAY0+2 01:00: DAY0 ended more than a day ago, DAY0+1 did not. */
	assert_int_equal(store_drop_expired(f->s, (DAY0 + 2) * DAY_S + 3600), 1);
	assert_int_equal(count_day(f->s, DAY0), 0);
	assert_int_equal(count_day(f->s, DAY0 + 1), 3);
	assert_int_equal(count_day(f->s, DAY0 + 2), 4);
	assert_int_equal(count_all(f->s), 7);
	/* Nothing more to drop at the same time; dropping is idempotent. */
	assert_int_equal(store_drop_expired(f->s, (DAY0 + 2) * DAY_S + 3600), 0);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.partitions, 2);
	assert_int_equal(st.partitions_dropped, 1);

	/* Persisted: the same after reopening. */
	reopen(f, 1);
	assert_int_equal(count_all(f->s), 7);
	assert_int_equal(count_day(f->s, DAY0 + 1), 3);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.partitions, 2);
	/* A late record for a dropped day comes back as a partition of its own. */
	write_days(f->s, DAY0, 1, 1);
	assert_int_equal(count_day(f->s, DAY0), 1);

	/* Far later: everything goes, the view stays queryable. */
	assert_int_equal(store_drop_expired(f->s, (DAY0 + 30) * DAY_S), 3);
	assert_int_equal(count_all(f->s), 0);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.partitions, 0);
}

static void test_reopen_persistence(void **state)
{
	struct fixture *f = *state;
	struct store_cfg cfg = fixture_cfg(f);
	struct store *second = NULL;

	reopen(f, 0);
	write_days(f->s, DAY0, 1, 5);
	/* A second handle on the same directory, while the first is open. */
	assert_int_equal(store_open(f->be->ops, &cfg, &second), 0);
	assert_int_equal(count_all(second), 5);
	write_days(second, DAY0 + 1, 1, 2);
	store_close(second);
	assert_int_equal(count_all(f->s), 7);
	reopen(f, 0);
	reopen(f, 0);
	assert_int_equal(count_all(f->s), 7);
	store_close(NULL);
}

static void test_crash_keeps_acknowledged(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid;

	/* Directory created, then the child writes and dies without closing anything. */
	reopen(f, 0);
	store_close(f->s);
	f->s = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_cfg cfg = fixture_cfg(f);
		struct store *s = NULL;
		struct l7_record r;

		if (store_open(f->be->ops, &cfg, &s))
			_exit(2);
		rec_basic(&r, (uint64_t)(DAY0 * DAY_S), 1);
		_exit(store_write_batch(s, &r, 1) == STORE_OK ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	reopen(f, 0);
	assert_int_equal(count_all(f->s), 1);
}

static void test_params_are_bound(void **state)
{
	static const char evil[] = "it's \"quoted\"'; DROP TABLE l7_flow_log; --";
	struct fixture *f = *state;
	struct store_value p[2] = { { .type = STORE_TEXT, .s = evil, .len = sizeof(evil) - 1 },
				    { .type = STORE_INT, .i = 40000 } };
	struct l7_record r;
	struct result *res;

	reopen(f, 0);
	write_days(f->s, DAY0, 1, 3);
	rec_basic(&r, (uint64_t)(DAY0 * DAY_S + 5), 1);
	SETS(r.x_request_id_0, evil);
	assert_int_equal(store_write_batch(f->s, &r, 1), STORE_OK);
	res = query(f->s,
		    "SELECT x_request_id_0, client_port FROM l7_flow_log "
		    "WHERE x_request_id_0 = ? AND client_port = ?",
		    p, 2, 0, 0);
	assert_int_equal(res->nrows, 1);
	assert_int_equal(res->cells[0][0].type, STORE_TEXT);
	assert_int_equal(res->cells[0][0].len, strlen(evil));
	assert_string_equal(res->cells[0][0].s, evil);
	result_free(res);
	assert_int_equal(count_all(f->s), 4);
	/* Text parameters are not NUL-terminated as far as len goes. */
	p[0].len = 4;
	res = query(f->s, f->be->typeof_sql, p, 2, 0, 0);
	assert_string_equal(res->cells[0][0].s, "it's");
	assert_string_equal(res->cells[0][1].s, f->be->typeof_int);
	result_free(res);
	/* NULL and REAL parameters. */
	p[0] = (struct store_value){ .type = STORE_NULL };
	p[1] = (struct store_value){ .type = STORE_REAL, .d = 2.5 };
	res = query(f->s, "SELECT ? IS NULL, ? * 2", p, 2, 0, 0);
	assert_int_equal(res->cells[0][0].i, 1);
	assert_int_equal(res->cells[0][1].type, STORE_REAL);
	assert_true(res->cells[0][1].d == 5.0);
	result_free(res);
	/* The parameter count must match. */
	result_free(query(f->s, "SELECT ?", p, 2, 0, -EINVAL));
	result_free(query(f->s, "SELECT ?, ?, ?", p, 2, 0, -EINVAL));
}

static void test_refuses_writes_and_multiple_statements(void **state)
{
	static const char *const writes[] = {
		"DELETE FROM l7_flow_log",
		"DROP VIEW l7_flow_log",
		"CREATE TABLE x (a)",
		"INSERT INTO l7_flow_log (time) VALUES (1)",
		"PRAGMA user_version = 3",
		"ATTACH DATABASE '/tmp/flowscope-attach.db' AS other",
		"BEGIN",
		"VACUUM",
	};
	struct fixture *f = *state;
	struct result *r;

	reopen(f, 0);
	write_days(f->s, DAY0, 1, 2);
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		struct store_limits lim = { 0 };
		int err = store_query(f->s, writes[i], NULL, 0, &lim, NULL, NULL, NULL);

		/* -EINVAL when the backend rejects it before looking at permissions (a DELETE
		 * on the view is an error in SQLite before the authorizer runs). */
		if (err != -EPERM && err != -EINVAL)
			fail_msg("%s: %d (%s)", writes[i], err, store_errmsg(f->s));
	}
	/* SQLite only: a partition is a real table, so this reaches the authorizer. */
	if (strcmp(f->be->name, "sqlite") == 0)
		assert_int_equal(store_query(f->s, "DELETE FROM l7_flow_log_20240310", NULL, 0,
					     NULL, NULL, NULL, NULL),
				 -EPERM);
	result_free(query(f->s, "SELECT 1; SELECT 2", NULL, 0, 0, -EINVAL));
	result_free(query(f->s, "SELECT 1; DELETE FROM l7_flow_log", NULL, 0, 0, -EINVAL));
	result_free(query(f->s, "SELECT 1; garbage", NULL, 0, 0, -EINVAL));
	result_free(query(f->s, "", NULL, 0, 0, -EINVAL));
	result_free(query(f->s, "SELECT nope FROM l7_flow_log", NULL, 0, 0, -EINVAL));
	assert_true(strstr(store_errmsg(f->s), "nope") != NULL);
	/* A trailing semicolon or comment is still one statement. */
	r = query(f->s, "SELECT 1 ; -- done\n ;", NULL, 0, 0, 0);
	assert_int_equal(r->nrows, 1);
	result_free(r);
	assert_int_equal(count_all(f->s), 2);
}

static void test_row_limit_and_timeout(void **state)
{
	struct fixture *f = *state;
	struct store_limits lim = { .timeout_ms = 50 };
	struct result *r;
	int err;

	reopen(f, 0);
	write_days(f->s, DAY0, 1, 10);
	r = query(f->s, "SELECT response_length FROM l7_flow_log ORDER BY response_length", NULL, 0,
		  3, -E2BIG);
	assert_int_equal(r->nrows, 3);
	assert_int_equal(r->cells[2][0].i, 2);
	result_free(r);
	/* Exactly max_rows rows is not truncation. */
	result_free(query(f->s, "SELECT * FROM l7_flow_log", NULL, 0, 10, 0));
	/* The callback may stop the stream itself. */
	r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->stop_after = 4;
	assert_int_equal(store_query(f->s, "SELECT * FROM l7_flow_log", NULL, 0, NULL, on_columns,
				     on_row, r),
			 0);
	assert_int_equal(r->nrows, 4);
	result_free(r);
	/* A runaway query stops at the deadline. */
	r = calloc(1, sizeof(*r));
	assert_non_null(r);
	err = store_query(f->s, f->be->runaway, NULL, 0, &lim, on_columns, on_row, r);
	assert_int_equal(err, -ETIME);
	assert_int_equal(r->nrows, 0);
	result_free(r);
	/* The handler does not linger: the next query without a limit completes. */
	assert_int_equal(count_all(f->s), 10);
}

static double pct(struct store *s, const char *sql)
{
	struct result *r = query(s, sql, NULL, 0, 0, 0);
	double d;

	assert_int_equal(r->nrows, 1);
	assert_int_equal(r->cells[0][0].type, STORE_REAL);
	d = r->cells[0][0].d;
	result_free(r);
	return d;
}

/* "SELECT percentile(column1, <p>) FROM <the backend's list>" */
static double pct_of(struct fixture *f, const char *p, const char *from)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT percentile(column1, %s) FROM %s", p, from);
	return pct(f->s, sql);
}

static void test_percentile(void **state)
{
	struct fixture *f = *state;
	const char *v = f->be->values_1_10;
	struct result *r;
	char sql[512];

	reopen(f, 0);
	assert_true(store_caps(f->s) & STORE_CAP_PERCENTILE);
	/* Linear interpolation between closest ranks over 1..10 (NULL skipped). */
	assert_true(pct_of(f, "0", v) == 1.0);
	assert_true(pct_of(f, "1", v) == 10.0);
	assert_true(pct_of(f, "0.5", v) == 5.5);
	assert_true(pct_of(f, "0.25", v) == 3.25);
	assert_true(fabs(pct_of(f, "0.9", v) - 9.1) < 1e-12);
	assert_true(pct_of(f, "0.5", f->be->values_42) == 42.0);
	/* No values: NULL. p outside [0, 1]: an error. */
	snprintf(sql, sizeof(sql), "SELECT percentile(column1, 0.5) FROM %s", f->be->values_null);
	r = query(f->s, sql, NULL, 0, 0, 0);
	assert_int_equal(r->cells[0][0].type, STORE_NULL);
	result_free(r);
	snprintf(sql, sizeof(sql), "SELECT percentile(column1, 95) FROM %s", v);
	result_free(query(f->s, sql, NULL, 0, 0, -EINVAL));
	/* Over stored rows, per group. */
	write_days(f->s, DAY0, 2, 5); /* response_length 0..4 and 100..104 */
	snprintf(sql, sizeof(sql),
		 "SELECT %s AS d, percentile(response_length, 0.5), "
		 "percentile(response_length, 0.95) FROM l7_flow_log GROUP BY d ORDER BY d",
		 f->be->day_of_time);
	r = query(f->s, sql, NULL, 0, 0, 0);
	assert_int_equal(r->nrows, 2);
	assert_true(r->cells[0][1].d == 2.0);
	assert_true(fabs(r->cells[0][2].d - 3.8) < 1e-12);
	assert_true(r->cells[1][1].d == 102.0);
	assert_true(fabs(r->cells[1][2].d - 103.8) < 1e-12);
	result_free(r);
}

static void test_bad_config(void **state)
{
	struct fixture *f = *state;
	struct store_cfg cfg = { .dir = NULL };
	struct store *s = (struct store *)1;

	assert_int_equal(store_open(f->be->ops, &cfg, &s), -EINVAL);
	assert_null(s);
	/* SQLite: a directory that cannot be made; a server: nothing listening there. */
	cfg.dir = "/proc/flowscope-cannot-exist";
	cfg.url = f->be->unreachable_url;
	assert_true(store_open(f->be->ops, &cfg, &s) < 0);
	assert_null(s);
	assert_int_equal(store_query(NULL, "SELECT 1", NULL, 0, NULL, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(store_write_batch(NULL, NULL, 1), STORE_DROP);
}

/*
 * Rows of table whose time is in [lo, hi), counted with the range given to the store as a
 * hint (a backend may then skip partitions) and without it: both must agree. The FROM is
 * written as src/query writes it (a quoted name), which is what a backend recognises.
 */
static int64_t count_scoped_in(struct store *s, const char *table, int64_t lo, int64_t hi)
{
	struct store_value p[2] = { { .type = STORE_INT, .i = lo },
				    { .type = STORE_INT, .i = hi } };
	struct store_limits lim = {
		.timeout_ms = 10000, .has_time_range = true, .time_lo = lo, .time_hi = hi
	};
	struct result *r = calloc(1, sizeof(*r)), *plain;
	char sql[160];
	int64_t n;

	assert_non_null(r);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*), min(time) FROM \"%s\" WHERE time >= ? AND time < ?", table);
	assert_int_equal(store_query(s, sql, p, 2, &lim, on_columns, on_row, r), 0);
	assert_int_equal(r->nrows, 1);
	assert_int_equal(r->ncols, 2);
	n = r->cells[0][0].i;
	plain = query(s, sql, p, 2, 0, 0);
	assert_int_equal(plain->cells[0][0].i, n);
	assert_int_equal(plain->cells[0][1].type, r->cells[0][1].type);
	assert_int_equal(plain->cells[0][1].i, r->cells[0][1].i);
	result_free(plain);
	result_free(r);
	return n;
}

static int64_t count_scoped(struct store *s, int64_t lo, int64_t hi)
{
	return count_scoped_in(s, "l7_flow_log", lo, hi);
}

static void test_time_range_hint(void **state)
{
	struct fixture *f = *state;

	reopen(f, 0);
	write_days(f->s, DAY0, 3, 5); /* 5 rows a day at 00:00, 00:01, ... */
	assert_int_equal(count_scoped(f->s, DAY0 * DAY_S, (DAY0 + 3) * DAY_S), 15);
	assert_int_equal(count_scoped(f->s, (DAY0 + 1) * DAY_S, (DAY0 + 2) * DAY_S), 5);
	/* Across a day boundary: the last 2 minutes... of nothing, then day 2's first two. */
	assert_int_equal(count_scoped(f->s, (DAY0 + 2) * DAY_S - 120, (DAY0 + 2) * DAY_S + 61), 2);
	assert_int_equal(count_scoped(f->s, (DAY0 + 1) * DAY_S + 60, (DAY0 + 2) * DAY_S + 1), 5);
	/* No partition in range: no rows, and still the columns. */
	assert_int_equal(count_scoped(f->s, (DAY0 + 10) * DAY_S, (DAY0 + 11) * DAY_S), 0);
	assert_int_equal(count_scoped(f->s, INT64_MIN / 2, INT64_MAX / 2), 15);
}

/* A resent batch (same source, seq not above the last stored) is acknowledged, not stored,
 * and that holds across a reopen. */
static void test_duplicate_batches(void **state)
{
	struct fixture *f = *state;
	struct store_batch_src a5 = { "host-a", 5 }, a4 = { "host-a", 4 }, a6 = { "host-a", 6 },
			       b1 = { "host-b", 1 }, a7 = { "host-a", 7 };
	struct store_batch_src too_long = { "0123456789012345678901234567890123456789012345678901"
					    "234567890123",
					    1 };
	struct l7_record r[2];
	struct store_stats st;

	reopen(f, 0);
	rec_basic(&r[0], (uint64_t)(DAY0 * DAY_S + 10), 1);
	rec_basic(&r[1], (uint64_t)(DAY0 * DAY_S + 20), 2);
	assert_int_equal(store_write_batch_from(f->s, &a5, r, 2), STORE_OK);
	assert_int_equal(store_write_batch_from(f->s, &a5, r, 2), STORE_DUPLICATE);
	assert_int_equal(store_write_batch_from(f->s, &a4, r, 2), STORE_DUPLICATE);
	assert_int_equal(count_all(f->s), 2);
	/* Another source has its own numbering. */
	assert_int_equal(store_write_batch_from(f->s, &b1, r, 1), STORE_OK);
	/* An empty batch (a heartbeat) still moves the source on. */
	assert_int_equal(store_write_batch_from(f->s, &a6, NULL, 0), STORE_OK);
	assert_int_equal(store_write_batch_from(f->s, &a6, r, 2), STORE_DUPLICATE);
	assert_int_equal(count_all(f->s), 3);
	assert_int_equal(store_write_batch_from(f->s, &too_long, r, 1), STORE_DROP);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.batches_duplicate, 3);

	reopen(f, 0);
	assert_int_equal(store_write_batch_from(f->s, &a6, r, 2), STORE_DUPLICATE);
	assert_int_equal(store_write_batch_from(f->s, &b1, r, 2), STORE_DUPLICATE);
	assert_int_equal(store_write_batch_from(f->s, &a7, r, 1), STORE_OK);
	assert_int_equal(count_all(f->s), 4);
	/* A batch without a source is never a duplicate. */
	assert_int_equal(store_write_batch(f->s, r, 1), STORE_OK);
	assert_int_equal(count_all(f->s), 5);
}

/* ---- l4_flow_log --------------------------------------------------------------------- */

/* A plain TCP flow row at second `t`, IPv4 10.0.0.1:40000 -> 10.0.0.2:80. */
static void l4_basic(struct l4_record *r, uint64_t t, uint64_t flow_id)
{
	memset(r, 0, sizeof(*r));
	r->obs = REC_OBS_REST;
	r->f.flow_id = flow_id;
	r->f.time_ns = t * SEC;
	r->f.start_ns = t * SEC - 500000;
	r->f.end_ns = t * SEC - 1000;
	r->f.close_type = FLOW_CLOSE_FIN;
	r->f.is_new_flow = true;
	r->f.family = 4;
	r->f.l4_proto = 6;
	addr4(r->f.addr0, "10.0.0.1");
	addr4(r->f.addr1, "10.0.0.2");
	r->f.client_port = 40000;
	r->f.server_port = 80;
	r->f.packet_tx = 3;
	r->f.byte_tx = 100 + flow_id;
}

/*
 * [0] IPv4 HTTP flow in a VXLAN tunnel, every field set; [1] IPv6 UDP in a GRE tunnel over
 * IPv6, still open (forced report), end before start; [2] a bare row: no tunnel, no MACs,
 * nothing measured, an unknown close type.
 */
static void make_l4(struct l4_record *r)
{
	struct l4_flow_rec *f;

	memset(r, 0, 3 * sizeof(*r));
	f = &r[0].f;
	r[0].obs = REC_OBS_SERVER_NODE;
	memcpy(r[0].capture_nic, "eth0", 5);
	r[0].l7_proto = PROTO_HTTP1;
	f->flow_id = 1;
	f->time_ns = T0 * SEC + 999999999;
	/* duration comes from the ns: 2000000.002 ms -> 2000000 µs, where the µs columns
	 * differ by 2000001 */
	f->start_ns = T0 * SEC - 2000000001;
	f->end_ns = T0 * SEC + 1;
	f->close_type = FLOW_CLOSE_SERVER_QUEUE_LACK;
	f->is_new_flow = true;
	f->family = 4;
	f->l4_proto = 6;
	addr4(f->addr0, "10.1.6.93");
	addr4(f->addr1, "10.1.6.92");
	f->client_port = 43230;
	f->server_port = 80;
	memcpy(f->mac0, "\xee\xff\xff\xff\xff\xff", 6);
	memcpy(f->mac1, "\x00\x16\x3e\x03\x84\x94", 6);
	f->vlan = 100;
	f->tunnel_tier = 1;
	f->tunnel.type = PKT_TUN_VXLAN;
	f->tunnel.family = 4;
	f->tunnel.id = 4096;
	addr4(f->tunnel.src, "192.168.0.1");
	addr4(f->tunnel.dst, "192.168.0.2");
	f->tcp_flags_bit_0 = 27;
	f->tcp_flags_bit_1 = 31;
	f->syn_seq = 4000000000u;
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
	f->srt_max = 12;
	f->art_sum = 149;
	f->art_count = 1;
	f->art_max = 149;
	f->cit_sum = 272;
	f->cit_count = 1;
	f->cit_max = 272;
	f->retrans_tx = 1;
	f->retrans_rx = 2;
	f->ooo_tx = 3;
	f->ooo_rx = 4;
	f->zero_win_tx = 5;
	f->zero_win_rx = 6;
	f->syn_count = 2;
	f->synack_count = 3;
	f->retrans_syn = 1;
	f->retrans_synack = 2;
	f->fin_count = 2;
	f->rst_count = 1;

	f = &r[1].f;
	r[1].obs = REC_OBS_LOCAL;
	f->flow_id = 2;
	f->time_ns = T0 * SEC + 60 * SEC;
	f->start_ns = T0 * SEC + 5000;
	f->end_ns = T0 * SEC + 4000;
	f->close_type = FLOW_CLOSE_FORCED_REPORT;
	f->family = 6;
	f->l4_proto = 17;
	addr6(f->addr0, "2001:db8::1");
	addr6(f->addr1, "fe80::2");
	f->client_port = 5353;
	f->server_port = 53;
	memcpy(f->mac0, "\x02\x00\x00\x00\x00\x01", 6);
	f->tunnel_tier = 2;
	f->tunnel.type = PKT_TUN_GRE;
	f->tunnel.family = 6;
	addr6(f->tunnel.src, "2001:db8:1::1");
	addr6(f->tunnel.dst, "2001:db8:1::2");
	f->packet_tx = 1;
	f->byte_tx = 90;

	f = &r[2].f;
	r[2].obs = REC_OBS_CLIENT_NODE;
	f->flow_id = 3;
	f->time_ns = T0 * SEC + 120 * SEC;
	f->close_type = 62;
	f->family = 4;
	f->l4_proto = 6;
}

/* A result row rendered as the agent renders a record of table: "table" first, then every
 * column in schema order, NULL columns (the other family's addresses) left out. */
static char *row_json_of(const struct result *r, size_t row, const char *table)
{
	struct jsonw w = { 0 };
	char key[80], *out;

	jsonw_begin(&w);
	jsonw_cstr(&w, "table", table);
	/* The tagger's id columns come last and are not in the agent's JSON. */
	for (size_t i = 0; i < r->ncols && strcmp(r->names[i], "host_id_0"); i++) {
		const struct cell *c = &r->cells[row][i];
		int kl = snprintf(key, sizeof(key), "\"%s\":", r->names[i]);

		if (c->type == STORE_INT)
			jsonw_u64_k(&w, key, (size_t)kl, (uint64_t)c->i);
		else if (c->type == STORE_TEXT)
			jsonw_str_k(&w, key, (size_t)kl, c->s, c->len);
		else
			assert_int_equal(c->type, STORE_NULL);
	}
	assert_int_equal(jsonw_end(&w), 0);
	out = strndup(w.buf, w.len);
	jsonw_free(&w);
	return out;
}

static char *row_json(const struct result *r, size_t row)
{
	return row_json_of(r, row, "l4_flow_log");
}

static char *rec_json(const struct l4_record *rec)
{
	struct jsonw w = { 0 };
	char *out;

	assert_int_equal(l4_record_write_json(&w, rec), 0);
	out = strndup(w.buf, w.len);
	jsonw_free(&w);
	return out;
}

static int64_t count_l4(struct store *s)
{
	return count(s, "SELECT count(*) FROM l4_flow_log");
}

static void test_l4_roundtrip_every_column(void **state)
{
	struct fixture *f = *state;
	const struct schema_table *t = schema_find_table("flow_log", "l4_flow_log");
	struct l4_record recs[3];
	struct store_batch b = { .l4 = recs, .n4 = 3 };
	struct store_stats st;
	struct result *r;

	reopen(f, 0);
	make_l4(recs);
	recs[2].tags[1] = (struct tag_set){ .host = 1,
					    .pod_service = INT64_MAX,
					    .auto_service = INT64_MAX,
					    .auto_service_type = 12,
					    .auto_instance = 77,
					    .auto_instance_type = 1 };
	assert_int_equal(store_write_rows(f->s, NULL, &b), STORE_OK);
	r = query(f->s, "SELECT * FROM l4_flow_log ORDER BY flow_id", NULL, 0, 0, 0);
	assert_int_equal(r->nrows, 3);
	/* SQLite: host, pod_service, auto_service, auto_instance of row 2 */
	assert_int_equal(decode_local_ids(f->s, r, "l4_flow_log"),
			 store_caps(f->s) & STORE_CAP_LOCAL_TAG_IDS ? 4 : 0);
	assert_int_equal(r->ncols, t->ncolumns);
	assert_int_equal(r->ncols, L4C__MAX);
	/* The tag ids, which the agent's JSON has not: every one in its own column. */
	for (size_t i = 0; i < 2 * STORE_TAG_NCOLS; i++) {
		const struct cell *c = &r->cells[2][L4C_TAGS_0 + i];
		int64_t want = 0;

		assert_string_equal(r->names[L4C_TAGS_0 + i], store_l4_col_names[L4C_TAGS_0 + i]);
		assert_int_equal(c->type, STORE_INT);
		assert_int_equal(r->cells[0][L4C_TAGS_0 + i].i, 0);
		if (i == STORE_TAG_NCOLS + TAGC_HOST_ID)
			want = 1;
		else if (i == STORE_TAG_NCOLS + TAGC_POD_SERVICE_ID ||
			 i == STORE_TAG_NCOLS + TAGC_AUTO_SERVICE_ID)
			want = INT64_MAX;
		else if (i == STORE_TAG_NCOLS + TAGC_AUTO_SERVICE_TYPE)
			want = 12;
		else if (i == STORE_TAG_NCOLS + TAGC_AUTO_INSTANCE_ID)
			want = 77;
		else if (i == STORE_TAG_NCOLS + TAGC_AUTO_INSTANCE_TYPE)
			want = 1;
		assert_int_equal(c->i, want);
	}
	assert_string_equal(r->names[L4C_TAGS_1 + TAGC_AUTO_INSTANCE_TYPE], "auto_instance_type_1");
	/* Every value, and the key order: the row is the agent's JSON line. */
	for (size_t i = 0; i < 3; i++) {
		char *want = rec_json(&recs[i]), *got = row_json(r, i);

		assert_string_equal(got, want);
		free(want);
		free(got);
	}
	/* A few by hand, so that a mistake shared by both renderings would show too. */
	{
		static const struct exp e0[] = {
			EI("time", (int64_t)T0),
			EI("start_time", (int64_t)T0 * 1000000 - 2000001),
			EI("end_time", (int64_t)T0 * 1000000),
			EI("duration", 2000000), /* (end_ns - start_ns) / 1000, not end - start */
			ET("close_type_name", "server_queue_lack"),
			ET("observation_point", "s-nd"),
			ET("capture_nic", "eth0"),
			ET("ip4_0", "10.1.6.93"),
			EN("ip6_0"),
			ET("l7_protocol", "HTTP"),
			ET("mac_0", "ee:ff:ff:ff:ff:ff"),
			ET("tunnel_type_name", "VXLAN"),
			ET("tunnel_ip_0", "192.168.0.1"),
			ET("tunnel_ip_1", "192.168.0.2"),
			EI("syn_seq", 4000000000ll),
			{ NULL },
		};
		static const struct exp e2[] = {
			EI("duration", 0),	ET("close_type_name", "unknown"),
			ET("l7_protocol", ""),	ET("mac_1", "00:00:00:00:00:00"),
			EI("tunnel_type", 0),	ET("tunnel_type_name", ""),
			ET("tunnel_ip_0", ""),	ET("tunnel_ip_1", ""),
			EI("signal_source", 0), { NULL },
		};
		struct result *one =
			query(f->s,
			      "SELECT time, start_time, end_time, duration, "
			      "close_type_name, observation_point, capture_nic, ip4_0, ip6_0, "
			      "l7_protocol, mac_0, tunnel_type_name, tunnel_ip_0, "
			      "tunnel_ip_1, syn_seq FROM l4_flow_log WHERE flow_id = 1",
			      NULL, 0, 0, 0);

		check_row(one, 0, e0);
		result_free(one);
		one = query(f->s,
			    "SELECT duration, close_type_name, l7_protocol, mac_1, tunnel_type, "
			    "tunnel_type_name, tunnel_ip_0, tunnel_ip_1, signal_source "
			    "FROM l4_flow_log WHERE flow_id = 3",
			    NULL, 0, 0, 0);
		check_row(one, 0, e2);
		result_free(one);
	}
	result_free(r);
	/* No l7 rows came from it; the counters cover every table. */
	assert_int_equal(count_all(f->s), 0);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.rows_written, 3);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.partitions, 1);
}

/*
 * A batch of both kinds goes in as one: a resend is a duplicate for both, and a batch that
 * fails in its l4 part (here: more day partitions than the l4 view may join) leaves
 * neither its l7 rows nor its seq behind.
 */
static void test_mixed_batch_atomic(void **state)
{
	struct fixture *f = *state;
	struct store_batch_src a1 = { "host-a", 1 }, a2 = { "host-a", 2 }, a3 = { "host-a", 3 };
	struct l7_record r7[2];
	struct l4_record *r4 = calloc(600, sizeof(*r4));
	struct store_batch b = { .l7 = r7, .n7 = 2, .l4 = r4, .n4 = 2 };
	struct store_stats st;

	assert_non_null(r4);
	reopen(f, 0);
	rec_basic(&r7[0], (uint64_t)(DAY0 * DAY_S + 10), 1);
	rec_basic(&r7[1], (uint64_t)(DAY0 * DAY_S + 20), 2);
	l4_basic(&r4[0], (uint64_t)(DAY0 * DAY_S + 30), 1);
	l4_basic(&r4[1], (uint64_t)((DAY0 + 1) * DAY_S + 30), 2);
	assert_int_equal(store_write_rows(f->s, &a1, &b), STORE_OK);
	assert_int_equal(count_all(f->s), 2);
	assert_int_equal(count_l4(f->s), 2);
	/* The resend, and an older one: nothing written to either table. */
	assert_int_equal(store_write_rows(f->s, &a1, &b), STORE_DUPLICATE);
	b.n7 = 0;
	assert_int_equal(store_write_rows(f->s, &a1, &b), STORE_DUPLICATE);
	b.n7 = 2;
	b.n4 = 0;
	assert_int_equal(store_write_rows(f->s, &a1, &b), STORE_DUPLICATE);
	assert_int_equal(count_all(f->s), 2);
	assert_int_equal(count_l4(f->s), 2);

	/* l4 rows over 600 days: the l4 view cannot join that many (SQLite), one INSERT may not
	 * touch that many partitions (ClickHouse). Nothing of the batch stays, and its seq is
	 * still free. */
	for (int i = 0; i < 600; i++)
		l4_basic(&r4[i], (uint64_t)((DAY0 - 700 + i) * DAY_S), (uint64_t)(100 + i));
	b.n4 = 600;
	assert_int_equal(store_write_rows(f->s, &a2, &b), STORE_DROP);
	assert_int_equal(count_all(f->s), 2);
	assert_int_equal(count_l4(f->s), 2);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.partitions, 1 + 2); /* the failed batch's partitions are gone */
	assert_int_equal(st.rows_dropped, 602);
	assert_int_equal(st.batches_dropped, 1);
	/* The same seq with a batch that can be stored is not a duplicate. */
	b.n4 = 1;
	assert_int_equal(store_write_rows(f->s, &a2, &b), STORE_OK);
	assert_int_equal(count_all(f->s), 4);
	assert_int_equal(count_l4(f->s), 3);
	/* Across a reopen too. */
	reopen(f, 0);
	assert_int_equal(store_write_rows(f->s, &a2, &b), STORE_DUPLICATE);
	b.n7 = 0;
	assert_int_equal(store_write_rows(f->s, &a3, &b), STORE_OK);
	assert_int_equal(count_all(f->s), 4);
	assert_int_equal(count_l4(f->s), 4);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.rows_written, 1);
	free(r4);
}

static int64_t count_l4_day(struct store *s, int64_t day)
{
	struct store_value p[2] = { { .type = STORE_INT, .i = day * DAY_S },
				    { .type = STORE_INT, .i = (day + 1) * DAY_S } };
	struct result *r = query(s, "SELECT count(*) FROM l4_flow_log WHERE time >= ? AND time < ?",
				 p, 2, 0, 0);
	int64_t n = r->cells[0][0].i;

	result_free(r);
	return n;
}

/* Retention drops old days of every table; l4 days and l7 days need not match. */
static void test_l4_retention(void **state)
{
	struct fixture *f = *state;
	struct l4_record r4[6];
	struct store_batch b = { .l4 = r4, .n4 = 6 };
	struct store_stats st;

	reopen(f, 1);
	write_days(f->s, DAY0 + 1, 2, 2); /* l7: DAY0+1, DAY0+2 */
	for (int i = 0; i < 6; i++)	  /* l4: DAY0, DAY0+1, DAY0+2, two each */
		l4_basic(&r4[i], (uint64_t)((DAY0 + i / 2) * DAY_S + 60 * i + 1), (uint64_t)i);
	assert_int_equal(store_write_rows(f->s, NULL, &b), STORE_OK);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.partitions, 5);
	assert_int_equal(count_l4_day(f->s, DAY0), 2);

	/* Retention 1 day at DAY0+2 01:00: DAY0 goes (l4 only), DAY0+1 stays (both). */
	assert_int_equal(store_drop_expired(f->s, (DAY0 + 2) * DAY_S + 3600), 1);
	assert_int_equal(count_l4_day(f->s, DAY0), 0);
	assert_int_equal(count_l4_day(f->s, DAY0 + 1), 2);
	assert_int_equal(count_l4(f->s), 4);
	assert_int_equal(count_all(f->s), 4);
	/* One day later: DAY0+1 of both tables. */
	assert_int_equal(store_drop_expired(f->s, (DAY0 + 3) * DAY_S + 3600), 2);
	assert_int_equal(count_l4(f->s), 2);
	assert_int_equal(count_all(f->s), 2);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.partitions, 2);
	assert_int_equal(st.partitions_dropped, 3);
	/* Persisted, and the emptied view stays queryable. */
	reopen(f, 1);
	assert_int_equal(count_l4(f->s), 2);
	assert_int_equal(store_drop_expired(f->s, (DAY0 + 30) * DAY_S), 2);
	assert_int_equal(count_l4(f->s), 0);
	assert_int_equal(count_all(f->s), 0);
	result_free(query(f->s, "SELECT * FROM l4_flow_log", NULL, 0, 0, 0));
}

/* Pruned by the time range or not, l4 counts agree; other tables' partitions do not get in
 * the way of the l4 view's rewrite. */
static void test_l4_time_range_hint(void **state)
{
	struct fixture *f = *state;
	struct l4_record r4[15];
	struct store_batch b = { .l4 = r4, .n4 = 15 };

	reopen(f, 0);
	write_days(f->s, DAY0 - 1, 5, 1); /* l7 rows on other days too */
	for (int i = 0; i < 15; i++)	  /* 5 l4 rows a day at 00:00, 00:01, ... */
		l4_basic(&r4[i], (uint64_t)((DAY0 + i / 5) * DAY_S + 60 * (i % 5)), (uint64_t)i);
	assert_int_equal(store_write_rows(f->s, NULL, &b), STORE_OK);
	assert_int_equal(count_scoped_in(f->s, "l4_flow_log", DAY0 * DAY_S, (DAY0 + 3) * DAY_S),
			 15);
	assert_int_equal(
		count_scoped_in(f->s, "l4_flow_log", (DAY0 + 1) * DAY_S, (DAY0 + 2) * DAY_S), 5);
	assert_int_equal(count_scoped_in(f->s, "l4_flow_log", (DAY0 + 2) * DAY_S - 120,
					 (DAY0 + 2) * DAY_S + 61),
			 2);
	assert_int_equal(count_scoped_in(f->s, "l4_flow_log", (DAY0 + 1) * DAY_S + 60,
					 (DAY0 + 2) * DAY_S + 1),
			 5);
	assert_int_equal(
		count_scoped_in(f->s, "l4_flow_log", (DAY0 + 10) * DAY_S, (DAY0 + 11) * DAY_S), 0);
	assert_int_equal(count_scoped_in(f->s, "l4_flow_log", INT64_MIN / 2, INT64_MAX / 2), 15);
	/* The l7 view beside it is pruned by its own partitions. */
	assert_int_equal(count_scoped(f->s, (DAY0 - 1) * DAY_S, DAY0 * DAY_S), 1);
	assert_int_equal(count_scoped(f->s, INT64_MIN / 2, INT64_MAX / 2), 5);
}

/* SQLite only: a database as schema version 2 left it (no l4_flow_log) is upgraded on
 * open, keeping its rows and its sources' seqs; the upgrade is idempotent; a database
 * from a newer flowscope is refused. */
static void test_sqlite_upgrade_from_v2(void **state)
{
	struct fixture *f = *state;
	struct store_batch_src a5 = { "host-a", 5 }, a6 = { "host-a", 6 };
	struct l7_record r7;
	struct l4_record r4;
	struct store_batch b = { .l4 = &r4, .n4 = 1 };
	struct store_cfg cfg = fixture_cfg(f);
	char path[128];
	sqlite3 *db;

	if (strcmp(f->be->name, "sqlite"))
		return;
	reopen(f, 0);
	rec_basic(&r7, (uint64_t)(DAY0 * DAY_S + 10), 1);
	assert_int_equal(store_write_batch_from(f->s, &a5, &r7, 1), STORE_OK);
	store_close(f->s);
	f->s = NULL;
	/* Back to what version 2 wrote: no l4 or network views, versions 1 and 2 applied. */
	snprintf(path, sizeof(path), "%s/flowscope.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db,
			     "DROP VIEW l4_flow_log; DROP VIEW network_1s; DROP VIEW "
			     "network_1m; DROP VIEW network_map_1s; DROP VIEW "
			     "network_map_1m; DELETE FROM schema_version WHERE version > 2",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);

	reopen(f, 0);
	assert_int_equal(count(f->s, "SELECT max(version) FROM schema_version"), 7);
	assert_int_equal(count(f->s, "SELECT count(*) FROM network_map_1m"), 0);
	/* Version 5: the flow_tag views exist, empty; an older row's tag ids read as none. */
	assert_int_equal(count(f->s, "SELECT count(*) FROM flow_tag_tag_dict"), 0);
	assert_int_equal(count(f->s, "SELECT count(*) FROM flow_tag_process"), 0);
	assert_int_equal(count(f->s, "SELECT count(*) FROM l7_flow_log WHERE "
				     "coalesce(auto_service_id_1, 0) = 0 AND "
				     "coalesce(host_id_0, 0) = 0"),
			 1);
	assert_int_equal(count_l4(f->s), 0);
	assert_int_equal(count_all(f->s), 1);
	assert_int_equal(store_write_batch_from(f->s, &a5, &r7, 1), STORE_DUPLICATE);
	l4_basic(&r4, (uint64_t)(DAY0 * DAY_S + 20), 1);
	assert_int_equal(store_write_rows(f->s, &a6, &b), STORE_OK);
	assert_int_equal(count_l4(f->s), 1);
	/* Again: nothing changes. */
	reopen(f, 0);
	assert_int_equal(store_ensure_schema(f->s), 0);
	assert_int_equal(count(f->s, "SELECT count(*) FROM schema_version"), 7);
	assert_int_equal(count_l4(f->s), 1);
	assert_int_equal(count_all(f->s), 1);
	store_close(f->s);
	f->s = NULL;

	/* A version this program does not know. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db, "INSERT INTO schema_version VALUES (8, 0)", NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->be->ops, &cfg, &f->s), -EPROTO);
	assert_null(f->s);
}

/* ---- flow_metrics.network / network_map ------------------------------------------------ */

/* A network.1s row at second t: the client side (10.0.0.1) of flows to port 80. */
static void net_basic(struct net_row *r, int64_t t, uint64_t packets)
{
	memset(r, 0, sizeof(*r));
	r->k.time_s = t;
	r->k.table = NET_1S;
	r->k.family = 4;
	r->k.protocol = 6;
	r->k.server_port = 80;
	addr4(r->k.ip0, "10.0.0.1");
	r->v[NC_PACKET_TX] = packets;
	r->v[NC_NEW_FLOW] = 1;
}

/*
 * [0] network.1s, client side, IPv4, every counter distinct; [1] the same second's server
 * side (role 1); [2] network.1m, IPv6, counters at the top of their range;
 * [3] network_map.1s, IPv4 edge seen at s-nd; [4] network_map.1m, IPv6 edge at rest, one
 * anomaly; [5] network_map.1s of UDP with no server port and nothing counted.
 */
static void make_net(struct net_row *r)
{
	memset(r, 0, 6 * sizeof(*r));
	r[0].k.time_s = (int64_t)T0;
	r[0].k.table = NET_1S;
	r[0].k.family = 4;
	r[0].k.protocol = 6;
	r[0].k.server_port = 8080;
	addr4(r[0].k.ip0, "10.1.6.93");
	for (int c = 0; c < NC_MAX; c++)
		r[0].v[c] = 100 + (uint64_t)c;

	r[1] = r[0];
	r[1].k.role = 1;
	addr4(r[1].k.ip0, "10.1.6.92");
	r[1].v[NC_PACKET_TX] = 5;

	r[2].k.time_s = (int64_t)T0 - 60;
	r[2].k.table = NET_1M;
	r[2].k.family = 6;
	r[2].k.protocol = 17;
	r[2].k.server_port = 53;
	addr6(r[2].k.ip0, "2001:db8::1");
	for (int c = 0; c < NC_MAX; c++)
		r[2].v[c] = (uint64_t)INT64_MAX - (uint64_t)c;

	r[3].k.time_s = (int64_t)T0 + 1;
	r[3].k.table = NET_MAP_1S;
	r[3].k.family = 4;
	r[3].k.protocol = 6;
	r[3].k.obs = REC_OBS_SERVER_NODE;
	r[3].k.server_port = 443;
	addr4(r[3].k.ip0, "192.168.0.1");
	addr4(r[3].k.ip1, "192.168.0.2");
	r[3].v[NC_BYTE_TX] = 609;
	r[3].v[NC_RTT_MAX] = 158;

	r[4].k.time_s = (int64_t)T0;
	r[4].k.table = NET_MAP_1M;
	r[4].k.family = 6;
	r[4].k.protocol = 6;
	r[4].k.obs = REC_OBS_REST;
	r[4].k.server_port = 80;
	addr6(r[4].k.ip0, "fe80::1:2");
	addr6(r[4].k.ip1, "::ffff:10.1.2.3");
	r[4].v[NC_SERVER_QUEUE_LACK] = 1;
	r[4].v[NC_SERVER_ESTABLISH_FAIL] = 1;
	r[4].v[NC_TCP_ESTABLISH_FAIL] = 1;

	r[5].k.time_s = (int64_t)T0 + 2;
	r[5].k.table = NET_MAP_1S;
	r[5].k.family = 4;
	r[5].k.protocol = 17;
	r[5].k.obs = REC_OBS_LOCAL;
	addr4(r[5].k.ip0, "127.0.0.1");
	addr4(r[5].k.ip1, "127.0.0.1");
}

static char *net_json(const struct net_row *r)
{
	struct jsonw w = { 0 };
	char *out;

	assert_int_equal(net_row_write_json(&w, r), 0);
	out = strndup(w.buf, w.len);
	jsonw_free(&w);
	return out;
}

static void test_net_roundtrip_every_column(void **state)
{
	static const struct {
		const char *sql, *table;
		size_t rows[2], nrows;
	} reads[] = {
		{ "SELECT * FROM network_1s ORDER BY role", "network.1s", { 0, 1 }, 2 },
		{ "SELECT * FROM network_1m", "network.1m", { 2 }, 1 },
		{ "SELECT * FROM network_map_1s ORDER BY time", "network_map.1s", { 3, 5 }, 2 },
		{ "SELECT * FROM network_map_1m", "network_map.1m", { 4 }, 1 },
	};
	struct fixture *f = *state;
	struct net_row rows[6];
	struct store_batch b = { .net = rows, .nnet = 6 };
	struct store_stats st;
	struct result *r;

	reopen(f, 0);
	make_net(rows);
	assert_int_equal(store_write_rows(f->s, NULL, &b), STORE_OK);
	/* Every value, and the key order: each row is the agent's JSON line. */
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		const struct schema_table *t = schema_find_table("flow_metrics", reads[i].table);

		assert_non_null(t);
		r = query(f->s, reads[i].sql, NULL, 0, 0, 0);
		assert_int_equal(r->nrows, reads[i].nrows);
		assert_int_equal(r->ncols, t->ncolumns);
		for (size_t j = 0; j < reads[i].nrows; j++) {
			char *want = net_json(&rows[reads[i].rows[j]]);
			char *got = row_json_of(r, j, reads[i].table);

			assert_string_equal(got, want);
			free(want);
			free(got);
		}
		result_free(r);
	}
	/* A few by hand, so that a mistake shared by both renderings would show too. */
	{
		static const struct exp e1[] = {
			EI("time", (int64_t)T0), ET("ip4", "10.1.6.92"),  EN("ip6"),
			EI("role", 1),		 EI("server_port", 8080), EI("protocol", 6),
			EI("signal_source", 0),	 EI("packet_tx", 5),	  EI("packet_rx", 101),
			EI("tcp_rst_fail", 154), EI("server_reset", 146), { NULL },
		};
		static const struct exp e2[] = {
			ET("ip6", "2001:db8::1"),	    EN("ip4"), EI("packet_tx", INT64_MAX),
			EI("tcp_rst_fail", INT64_MAX - 54), { NULL },
		};
		static const struct exp e4[] = {
			EI("time", (int64_t)T0),
			EN("ip4_0"),
			EN("ip4_1"),
			ET("ip6_0", "fe80::1:2"),
			ET("ip6_1", "::ffff:10.1.2.3"),
			ET("observation_point", "rest"),
			EI("server_queue_lack", 1),
			EI("tcp_establish_fail", 1),
			EI("packet_tx", 0),
			{ NULL },
		};
		struct result *one = query(f->s,
					   "SELECT time, ip4, ip6, role, server_port, protocol, "
					   "signal_source, packet_tx, packet_rx, tcp_rst_fail, "
					   "server_reset FROM network_1s WHERE role = 1",
					   NULL, 0, 0, 0);

		check_row(one, 0, e1);
		result_free(one);
		one = query(f->s, "SELECT ip6, ip4, packet_tx, tcp_rst_fail FROM network_1m", NULL,
			    0, 0, 0);
		check_row(one, 0, e2);
		result_free(one);
		one = query(f->s,
			    "SELECT time, ip4_0, ip4_1, ip6_0, ip6_1, observation_point, "
			    "server_queue_lack, tcp_establish_fail, packet_tx FROM network_map_1m",
			    NULL, 0, 0, 0);
		check_row(one, 0, e4);
		result_free(one);
	}
	/* Only the network tables got rows; the counters cover every table. */
	assert_int_equal(count_all(f->s), 0);
	assert_int_equal(count_l4(f->s), 0);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.rows_written, 6);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.partitions, 4); /* one day, four tables */
	/* A row of no network table: the batch can never be stored. */
	rows[1].k.table = NET_TABLES;
	assert_int_equal(store_write_rows(f->s, NULL, &b), STORE_DROP);
	assert_int_equal(count(f->s, "SELECT count(*) FROM network_1s"), 2);
}

/*
 * A batch of every kind goes in as one: its resend is a duplicate for all of them, and a
 * batch that fails in its network part (more day partitions than a view may join) leaves
 * neither its l7 nor its l4 rows nor its seq behind.
 */
static void test_net_mixed_batch_atomic(void **state)
{
	struct fixture *f = *state;
	struct store_batch_src a1 = { "host-a", 1 }, a2 = { "host-a", 2 };
	struct l7_record r7;
	struct l4_record r4;
	struct net_row *rn = calloc(600, sizeof(*rn));
	struct store_batch b = { .l7 = &r7, .n7 = 1, .l4 = &r4, .n4 = 1, .net = rn, .nnet = 2 };
	struct store_stats st;

	assert_non_null(rn);
	reopen(f, 0);
	rec_basic(&r7, (uint64_t)(DAY0 * DAY_S + 10), 1);
	l4_basic(&r4, (uint64_t)(DAY0 * DAY_S + 20), 1);
	net_basic(&rn[0], DAY0 * DAY_S + 19, 3);
	net_basic(&rn[1], DAY0 * DAY_S + 20, 4);
	rn[1].k.table = NET_MAP_1S;
	addr4(rn[1].k.ip1, "10.0.0.2");
	assert_int_equal(store_write_rows(f->s, &a1, &b), STORE_OK);
	assert_int_equal(count_all(f->s), 1);
	assert_int_equal(count_l4(f->s), 1);
	assert_int_equal(count(f->s, "SELECT sum(packet_tx) FROM network_1s"), 3);
	assert_int_equal(count(f->s, "SELECT sum(packet_tx) FROM network_map_1s"), 4);
	/* The resend, and one with only its network rows: nothing written anywhere. */
	assert_int_equal(store_write_rows(f->s, &a1, &b), STORE_DUPLICATE);
	b.n7 = b.n4 = 0;
	assert_int_equal(store_write_rows(f->s, &a1, &b), STORE_DUPLICATE);
	assert_int_equal(count(f->s, "SELECT count(*) FROM network_1s"), 1);

	/* network.1s rows over 600 days, after the l7 and l4 rows were inserted: the view
	 * cannot join that many. Nothing of the batch stays, and its seq is still free. */
	for (int i = 0; i < 600; i++)
		net_basic(&rn[i], (DAY0 - 700 + i) * DAY_S, (uint64_t)i);
	b.n7 = b.n4 = 1;
	b.nnet = 600;
	assert_int_equal(store_write_rows(f->s, &a2, &b), STORE_DROP);
	assert_int_equal(count_all(f->s), 1);
	assert_int_equal(count_l4(f->s), 1);
	assert_int_equal(count(f->s, "SELECT count(*) FROM network_1s"), 1);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.partitions, 4); /* l7, l4, network.1s, network_map.1s */
	assert_int_equal(st.rows_dropped, 602);
	b.nnet = 1;
	assert_int_equal(store_write_rows(f->s, &a2, &b), STORE_OK);
	assert_int_equal(count_all(f->s), 2);
	assert_int_equal(count_l4(f->s), 2);
	assert_int_equal(count(f->s, "SELECT count(*) FROM network_1s"), 2);
	/* Across a reopen too. */
	reopen(f, 0);
	assert_int_equal(store_write_rows(f->s, &a2, &b), STORE_DUPLICATE);
	assert_int_equal(count(f->s, "SELECT count(*) FROM network_1s"), 2);
	free(rn);
}

/* Retention drops old days of the network tables like any other; pruning by the time
 * range gives the counts a full read does. */
static void test_net_retention_and_time_range(void **state)
{
	struct fixture *f = *state;
	struct net_row rn[12];
	struct store_batch b = { .net = rn, .nnet = 12 };
	struct store_stats st;

	reopen(f, 1);
	for (int i = 0; i < 12; i++) { /* network.1m on DAY0..DAY0+2, four minutes a day */
		net_basic(&rn[i], (DAY0 + i / 4) * DAY_S + 60 * (i % 4), 1);
		rn[i].k.table = NET_1M;
	}
	write_days(f->s, DAY0 + 1, 1, 1); /* an l7 day in between */
	assert_int_equal(store_write_rows(f->s, NULL, &b), STORE_OK);
	assert_int_equal(count_scoped_in(f->s, "network_1m", DAY0 * DAY_S, (DAY0 + 3) * DAY_S), 12);
	assert_int_equal(
		count_scoped_in(f->s, "network_1m", (DAY0 + 1) * DAY_S, (DAY0 + 2) * DAY_S), 4);
	assert_int_equal(count_scoped_in(f->s, "network_1m", (DAY0 + 1) * DAY_S + 60,
					 (DAY0 + 2) * DAY_S + 61),
			 5);
	assert_int_equal(
		count_scoped_in(f->s, "network_1m", (DAY0 + 9) * DAY_S, (DAY0 + 10) * DAY_S), 0);
	assert_int_equal(count_scoped_in(f->s, "network_map_1m", INT64_MIN / 2, INT64_MAX / 2), 0);
	/* Retention 1 day at DAY0+2 01:00: DAY0 goes. */
	assert_int_equal(store_drop_expired(f->s, (DAY0 + 2) * DAY_S + 3600), 1);
	assert_int_equal(count(f->s, "SELECT count(*) FROM network_1m"), 8);
	assert_int_equal(store_drop_expired(f->s, (DAY0 + 3) * DAY_S + 3600), 2);
	assert_int_equal(count(f->s, "SELECT count(*) FROM network_1m"), 4);
	assert_int_equal(count_all(f->s), 0);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.partitions, 1);
	reopen(f, 1);
	assert_int_equal(count(f->s, "SELECT min(time) FROM network_1m"), (DAY0 + 2) * DAY_S);
}

/* Run one statement on the test's ClickHouse database (by_url backends). */
static void ch_exec_in_db(struct fixture *f, const char *sql)
{
	struct ch_http *h = ch_http_new(getenv("FLOWSCOPE_TEST_CLICKHOUSE"));
	struct ch_http_result r;
	char *enc, *params = NULL;

	assert_non_null(h);
	enc = ch_http_escape(h, sql, strlen(sql));
	assert_non_null(enc);
	assert_true(asprintf(&params, "database=%s&query=%s", strrchr(f->url, '/') + 1, enc) > 0);
	assert_int_equal(ch_http_post(h, params, NULL, 0, 30000, NULL, NULL, &r), 0);
	if (r.status != 200)
		fail_msg("%s: %s", sql, r.error);
	ch_http_free_str(enc);
	free(params);
	ch_http_free(h);
}

/*
 * ClickHouse only: a table that lacks schema columns (an older flowscope's) gains them on
 * open, in schema order, its rows keeping their values and reading NULL in the new ones;
 * a database of a newer schema version is refused.
 */
static void test_clickhouse_upgrade(void **state)
{
	struct fixture *f = *state;
	struct store_cfg cfg = fixture_cfg(f);
	struct store_batch_src a5 = { "host-a", 5 };
	struct l7_record r7;
	struct result *r;

	if (!f->be->by_url)
		return;
	reopen(f, 0);
	rec_basic(&r7, (uint64_t)(DAY0 * DAY_S + 10), 1);
	r7.has_affected_rows = true;
	r7.affected_rows = 9;
	assert_int_equal(store_write_batch_from(f->s, &a5, &r7, 1), STORE_OK);
	store_close(f->s);
	f->s = NULL;
	ch_exec_in_db(f, "ALTER TABLE l7_flow_log DROP COLUMN request_id");
	ch_exec_in_db(f, "ALTER TABLE l7_flow_log DROP COLUMN sql_affected_rows");
	reopen(f, 0);
	r = query(f->s, "SELECT * FROM l7_flow_log", NULL, 0, 0, 0);
	assert_int_equal(r->ncols, L7C__MAX);
	for (size_t i = 0; i < r->ncols; i++)
		assert_string_equal(r->names[i],
				    schema_find_table("flow_log", "l7_flow_log")->columns[i].name);
	assert_int_equal(r->nrows, 1);
	assert_int_equal(r->cells[0][L7C_SQL_AFFECTED_ROWS].type, STORE_NULL);
	assert_int_equal(r->cells[0][L7C_RESPONSE_LENGTH].i, 1);
	result_free(r);
	/* The source's seq survived the upgrade. */
	assert_int_equal(store_write_batch_from(f->s, &a5, &r7, 1), STORE_DUPLICATE);
	store_close(f->s);
	f->s = NULL;
	ch_exec_in_db(f, "INSERT INTO schema_version VALUES (99, now())");
	assert_int_equal(store_open(f->be->ops, &cfg, &f->s), -EPROTO);
	assert_null(f->s);
}

/* The ClickHouse type of l7_flow_log's column col ("" when there is none). */
static void ch_col_type(struct fixture *f, const char *col, char *out, size_t cap)
{
	struct store_value p = { .type = STORE_TEXT, .s = col, .len = strlen(col) };
	struct result *r =
		query(f->s,
		      "SELECT type FROM system.columns WHERE database = currentDatabase() "
		      "AND table = 'l7_flow_log' AND name = ?",
		      &p, 1, 0, 0);

	snprintf(out, cap, "%s", r->nrows ? r->cells[0][0].s : "");
	result_free(r);
}

/*
 * ClickHouse only: tag id and kind columns are LowCardinality(Int64), also when open adds
 * one a table lacks; a table an older flowscope made, with Nullable(Int64) tag columns,
 * opens and stores and reads ids the same, keeping its type.
 */
static void test_clickhouse_tag_types(void **state)
{
	struct fixture *f = *state;
	const struct schema_table *t = schema_find_table("flow_log", "l7_flow_log");
	struct l7_record r7;
	struct result *r;
	char type[64];

	if (!f->be->by_url)
		return;
	reopen(f, 0);
	for (size_t i = 0; i < t->ncolumns; i++) {
		ch_col_type(f, t->columns[i].name, type, sizeof(type));
		assert_string_equal(type, (t->columns[i].flags & SCHEMA_F_FEW)
						  ? "LowCardinality(Int64)"
					  : !strcmp(t->columns[i].name, "time") ? "Int64"
					  : t->columns[i].type == SCHEMA_INT	? "Nullable(Int64)"
					  : t->columns[i].type == SCHEMA_REAL ? "Nullable(Float64)"
									      : "Nullable(String)");
	}
	store_close(f->s);
	f->s = NULL;
	ch_exec_in_db(f, "ALTER TABLE l7_flow_log DROP COLUMN pod_id_1");
	ch_exec_in_db(f, "ALTER TABLE l7_flow_log ADD COLUMN pod_id_1 Nullable(Int64) AFTER "
			 "pod_node_id_1");
	ch_exec_in_db(f, "ALTER TABLE l7_flow_log DROP COLUMN pod_id_0");
	reopen(f, 0);
	ch_col_type(f, "pod_id_1", type, sizeof(type));
	assert_string_equal(type, "Nullable(Int64)");
	ch_col_type(f, "pod_id_0", type, sizeof(type));
	assert_string_equal(type, "LowCardinality(Int64)");
	rec_basic(&r7, (uint64_t)(DAY0 * DAY_S + 10), 1);
	r7.tags[0].pod = 5;
	r7.tags[1].pod = INT64_MAX;
	assert_int_equal(store_write_batch(f->s, &r7, 1), STORE_OK);
	r = query(f->s, "SELECT pod_id_0, pod_id_1, pod_ns_id_1 FROM l7_flow_log", NULL, 0, 0, 0);
	assert_int_equal(r->nrows, 1);
	assert_int_equal(r->cells[0][0].i, 5);
	assert_int_equal(r->cells[0][1].i, INT64_MAX);
	assert_int_equal(r->cells[0][2].type, STORE_INT);
	assert_int_equal(r->cells[0][2].i, 0);
	result_free(r);
}

/* SQLite only: a database as schema version 3 left it (no network tables) is upgraded on
 * open, keeping its rows and its sources' seqs, and gains the four empty tables. */
static void test_sqlite_upgrade_from_v3(void **state)
{
	struct fixture *f = *state;
	struct store_batch_src a5 = { "host-a", 5 }, a6 = { "host-a", 6 };
	struct l4_record r4;
	struct net_row rn;
	struct store_batch b4 = { .l4 = &r4, .n4 = 1 }, bn = { .net = &rn, .nnet = 1 };
	char path[128];
	sqlite3 *db;

	if (strcmp(f->be->name, "sqlite"))
		return;
	reopen(f, 0);
	l4_basic(&r4, (uint64_t)(DAY0 * DAY_S + 10), 1);
	assert_int_equal(store_write_rows(f->s, &a5, &b4), STORE_OK);
	store_close(f->s);
	f->s = NULL;
	snprintf(path, sizeof(path), "%s/flowscope.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "DROP VIEW network_1s; DROP VIEW network_1m; DROP VIEW "
				      "network_map_1s; DROP VIEW network_map_1m; DELETE FROM "
				      "schema_version WHERE version > 3",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	reopen(f, 0);
	assert_int_equal(count(f->s, "SELECT max(version) FROM schema_version"), 7);
	assert_int_equal(count(f->s, "SELECT count(*) FROM schema_version"), 7);
	for (size_t ti = 0; schema_tables[ti]; ti++) {
		char sql[128];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"",
			 schema_tables[ti]->store_name);
		assert_int_equal(count(f->s, sql), !strcmp(schema_tables[ti]->name, "l4_flow_log"));
	}
	assert_int_equal(store_write_rows(f->s, &a5, &b4), STORE_DUPLICATE);
	net_basic(&rn, DAY0 * DAY_S + 10, 7);
	assert_int_equal(store_write_rows(f->s, &a6, &bn), STORE_OK);
	assert_int_equal(count(f->s, "SELECT sum(packet_tx) FROM network_1s"), 7);
}

/* The raw numbers of row `time` in l7_flow_log: host_id_0, pod_id_1, auto_service_id_1. */
static void raw_numbers(struct store *s, int64_t time_s, int64_t out[3])
{
	struct store_value p = { .type = STORE_INT, .i = time_s };
	struct result *r = query(s,
				 "SELECT host_id_0, pod_id_1, auto_service_id_1 FROM l7_flow_log "
				 "WHERE time = ?",
				 &p, 1, 0, 0);

	assert_int_equal(r->nrows, 1);
	for (int i = 0; i < 3; i++)
		out[i] = r->cells[0][i].i;
	result_free(r);
}

/*
 * SQLite only: store-local tag numbers (sqlite_tag_local.h). Ids, odd ones included (1,
 * INT64_MAX, a negative one no tagger makes), get dense numbers; an id repeated gets its
 * number again, also after a restart; retention deletes the numbers of dropped days only,
 * and a number is never given twice, even to an id whose number retention deleted.
 */
static void test_sqlite_local_ids(void **state)
{
	struct fixture *f = *state;
	struct l7_record recs[2];
	int64_t a[3], b[3], c[3], d[3];
	const int64_t t0 = DAY0 * DAY_S + 100, t1 = (DAY0 + 1) * DAY_S + 100;

	if (strcmp(f->be->name, "sqlite"))
		return;
	reopen(f, 1);
	rec_basic(&recs[0], (uint64_t)t0, 1);
	rec_basic(&recs[1], (uint64_t)t0 + 1, 1);
	recs[0].tags[0].host = 1;
	recs[0].tags[1].pod = INT64_MAX;
	recs[0].tags[1].auto_service = -5;
	recs[1].tags[0].host = 1;
	recs[1].tags[1].pod = (int64_t)1 << 62;
	recs[1].tags[1].auto_service = INT64_MAX;
	assert_int_equal(store_write_batch(f->s, recs, 2), STORE_OK);
	raw_numbers(f->s, t0, a);
	raw_numbers(f->s, t0 + 1, b);
	/* four ids in the order met: 1, INT64_MAX, -5, 2^62 */
	assert_int_equal(a[0], 1);
	assert_int_equal(a[1], 2);
	assert_int_equal(a[2], 3);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[1], 4);
	assert_int_equal(b[2], 2);
	assert_int_equal(count(f->s, "SELECT count(*) FROM " STORE_TAG_LOCAL_TABLE), 4);
	assert_int_equal(count(f->s, "SELECT id FROM " STORE_TAG_LOCAL_TABLE " WHERE lid = 3"), -5);

	/* After a restart (an empty cache): the same numbers, a new id the next one. */
	reopen(f, 1);
	rec_basic(&recs[0], (uint64_t)t1, 1);
	recs[0].tags[0].host = 1;
	recs[0].tags[1].pod = 77;
	recs[0].tags[1].auto_service = INT64_MAX;
	assert_int_equal(store_write_batch(f->s, recs, 1), STORE_OK);
	raw_numbers(f->s, t1, c);
	assert_int_equal(c[0], 1);
	assert_int_equal(c[1], 5);
	assert_int_equal(c[2], 2);

	/* Day DAY0 expires: -5 and 2^62 were only there; 1 and INT64_MAX are on DAY0 + 1. */
	assert_int_equal(store_drop_expired(f->s, (DAY0 + 2) * DAY_S), 1);
	assert_int_equal(count(f->s, "SELECT count(*) FROM " STORE_TAG_LOCAL_TABLE), 3);
	assert_int_equal(count(f->s, "SELECT count(*) FROM " STORE_TAG_LOCAL_TABLE
				     " WHERE id IN (1, 77, 9223372036854775807)"),
			 3);
	raw_numbers(f->s, t1, d);
	assert_memory_equal(c, d, sizeof(c));
	/* 2^62 again: a new number, not its old 4 nor any other given before */
	rec_basic(&recs[0], (uint64_t)t1 + 1, 1);
	recs[0].tags[0].host = 1;
	recs[0].tags[1].pod = (int64_t)1 << 62;
	assert_int_equal(store_write_batch(f->s, recs, 1), STORE_OK);
	raw_numbers(f->s, t1 + 1, d);
	assert_int_equal(d[0], 1);
	assert_int_equal(d[1], 6);
	assert_int_equal(d[2], 0);
}

/* SQLite only: a version 5 database (63-bit ids in the rows, no tag_local) is upgraded on
 * open: its rows then hold local numbers standing for the same ids. */
static void test_sqlite_upgrade_from_v5(void **state)
{
	struct fixture *f = *state;
	const struct schema_table *t = schema_find_table("flow_log", "l7_flow_log");
	struct l7_record rec;
	struct result *r;
	char path[128];
	sqlite3 *db;

	if (strcmp(f->be->name, "sqlite"))
		return;
	reopen(f, 0);
	make_r1(&rec);
	assert_int_equal(store_write_batch(f->s, &rec, 1), STORE_OK);
	store_close(f->s);
	f->s = NULL;
	/* Back to what version 5 wrote: the ids themselves in the partition. */
	snprintf(path, sizeof(path), "%s/flowscope.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	for (size_t i = 0; i < t->ncolumns; i++) {
		char *sql;

		if (!(t->columns[i].flags & SCHEMA_F_TAG_ID))
			continue;
		sql = sqlite3_mprintf("UPDATE l7_flow_log_20240310 SET \"%w\" = (SELECT id FROM "
				      "flow_tag_tag_local WHERE lid = \"%w\") WHERE \"%w\" != 0",
				      t->columns[i].name, t->columns[i].name, t->columns[i].name);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_free(sql);
	}
	assert_int_equal(sqlite3_exec(db,
				      "DROP TABLE flow_tag_tag_local; DELETE FROM sqlite_sequence; "
				      "DELETE FROM schema_version WHERE version > 5",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(count(f->s = reopen(f, 0), "SELECT max(version) FROM schema_version"), 7);
	/* 26 distinct ids: numbers 1..26, none used up */
	assert_int_equal(count(f->s, "SELECT count(*) FROM " STORE_TAG_LOCAL_TABLE), 26);
	assert_int_equal(count(f->s, "SELECT max(lid) FROM " STORE_TAG_LOCAL_TABLE), 26);
	r = query(f->s, "SELECT * FROM l7_flow_log", NULL, 0, 0, 0);
	assert_int_equal(r->nrows, 1);
	assert_int_equal(decode_local_ids(f->s, r, "l7_flow_log"), 26);
	check_row(r, 0, exp_r1);
	result_free(r);
}

/* The tagger's flow_tag rows go with the batch's records, all or none, every column as
 * given; a resend of the batch writes none of them again. */
static void test_tag_rows(void **state)
{
	struct fixture *f = *state;
	struct l7_record rec;
	struct store_tag_row tr[5];
	struct store_batch b = { .l7 = &rec, .n7 = 1, .tags = tr, .ntags = 5 };
	struct store_batch_src src = { .id = "agent-t", .seq = 7 };
	struct result *r;

#define TI(x) ((struct store_value){ .type = STORE_INT, .i = (x) })
#define TT(x) ((struct store_value){ .type = STORE_TEXT, .s = (x), .len = strlen(x) })
	reopen(f, 0);
	make_r1(&rec);
	memset(tr, 0, sizeof(tr));
	tr[0] = (struct store_tag_row){
		STAG_DICT, { TI(T0), TI(INT64_MAX), TI(3), TT("nginx"), TT("h/1/2") }
	};
	tr[1] = (struct store_tag_row){ STAG_LINK, { TI(T0), TI(INT64_MAX), TI(2), TI(42) } };
	tr[2] = (struct store_tag_row){ STAG_LABEL, { TI(T0), TI(9), TT("app"), TT("it's") } };
	tr[3] = (struct store_tag_row){ STAG_PROCESS,
					{ TI(T0), TI(INT64_MAX), TI(42), TT("agent-t"), TI(4194304),
					  TI(1700000000123456), TT("nginx"), TT("/usr/sbin/nginx"),
					  TT("nginx -g daemon off;"), TI(0), TT("root"), TI(5),
					  TI(6), TI(4026531840) } };
	tr[4] = (struct store_tag_row){ STAG_HOST,
					{ TI(T0 + DAY_S), TI(42), TT("node-1"), TT("agent-t"),
					  TT("10.0.0.7,2001:db8::7") } };
	assert_int_equal(store_write_rows(f->s, &src, &b), STORE_OK);
	assert_int_equal(store_write_rows(f->s, &src, &b), STORE_DUPLICATE);
	assert_int_equal(count_all(f->s), 1);

	r = query(f->s, "SELECT time, id, kind, name, key FROM flow_tag_tag_dict", NULL, 0, 0, 0);
	assert_int_equal(r->nrows, 1);
	assert_int_equal(r->cells[0][1].i, INT64_MAX);
	assert_int_equal(r->cells[0][2].i, 3);
	assert_string_equal(r->cells[0][3].s, "nginx");
	assert_string_equal(r->cells[0][4].s, "h/1/2");
	result_free(r);
	r = query(f->s, "SELECT id, attr_kind, attr_id FROM flow_tag_tag_link", NULL, 0, 0, 0);
	assert_int_equal(r->nrows, 1);
	assert_int_equal(r->cells[0][1].i, 2);
	assert_int_equal(r->cells[0][2].i, 42);
	result_free(r);
	r = query(f->s, "SELECT id, key, value FROM flow_tag_k8s_label", NULL, 0, 0, 0);
	assert_int_equal(r->nrows, 1);
	assert_string_equal(r->cells[0][2].s, "it's");
	result_free(r);
	r = query(f->s, "SELECT * FROM flow_tag_process", NULL, 0, 0, 0);
	assert_int_equal(r->nrows, 1);
	assert_int_equal(r->ncols, STORE_TAG_ROW_MAX);
	for (size_t c = 0; c < STORE_TAG_ROW_MAX; c++) {
		assert_string_equal(r->names[c], store_tag_table_cols[STAG_PROCESS][c]);
		assert_int_equal(r->cells[0][c].type, tr[3].v[c].type);
		if (tr[3].v[c].type == STORE_INT)
			assert_int_equal(r->cells[0][c].i, tr[3].v[c].i);
		else
			assert_string_equal(r->cells[0][c].s, tr[3].v[c].s);
	}
	result_free(r);
	/* A row of another day goes to that day's partition, like any row. */
	r = query(f->s, "SELECT time, hostname, ips FROM flow_tag_host", NULL, 0, 0, 0);
	assert_int_equal(r->nrows, 1);
	assert_int_equal(r->cells[0][0].i, (int64_t)(T0 + DAY_S));
	assert_string_equal(r->cells[0][2].s, "10.0.0.7,2001:db8::7");
	result_free(r);
	/* A row of no flow_tag table can never be stored: the batch with it. */
	tr[0].table = STAG__TABLES;
	src.seq = 8;
	assert_int_equal(store_write_rows(f->s, &src, &b), STORE_DROP);
#undef TI
#undef TT
}

/* ---- runner ------------------------------------------------------------------------------ */

static const struct {
	const char *name;
	CMUnitTestFunction fn;
} contract[] = {
	{ "tag_rows", test_tag_rows },
	{ "empty_store", test_empty_store },
	{ "roundtrip_every_column", test_roundtrip_every_column },
	{ "partitions_and_retention", test_partitions_and_retention },
	{ "reopen_persistence", test_reopen_persistence },
	{ "crash_keeps_acknowledged", test_crash_keeps_acknowledged },
	{ "params_are_bound", test_params_are_bound },
	{ "refuses_writes_and_multiple_statements", test_refuses_writes_and_multiple_statements },
	{ "row_limit_and_timeout", test_row_limit_and_timeout },
	{ "percentile", test_percentile },
	{ "duplicate_batches", test_duplicate_batches },
	{ "time_range_hint", test_time_range_hint },
	{ "bad_config", test_bad_config },
	{ "l4_roundtrip_every_column", test_l4_roundtrip_every_column },
	{ "mixed_batch_atomic", test_mixed_batch_atomic },
	{ "l4_retention", test_l4_retention },
	{ "l4_time_range_hint", test_l4_time_range_hint },
	{ "sqlite_upgrade_from_v2", test_sqlite_upgrade_from_v2 },
	{ "net_roundtrip_every_column", test_net_roundtrip_every_column },
	{ "net_mixed_batch_atomic", test_net_mixed_batch_atomic },
	{ "net_retention_and_time_range", test_net_retention_and_time_range },
	{ "sqlite_upgrade_from_v3", test_sqlite_upgrade_from_v3 },
	{ "sqlite_upgrade_from_v5", test_sqlite_upgrade_from_v5 },
	{ "clickhouse_tag_types", test_clickhouse_tag_types },
	{ "sqlite_local_ids", test_sqlite_local_ids },
	{ "clickhouse_upgrade", test_clickhouse_upgrade },
};

#define NCONTRACT (sizeof(contract) / sizeof(contract[0]))
#define NBACKEND  (sizeof(backends) / sizeof(backends[0]))

int main(void)
{
	static struct CMUnitTest tests[NCONTRACT * NBACKEND];
	static char names[NCONTRACT * NBACKEND][96];
	size_t n = 0;

	for (size_t b = 0; b < NBACKEND; b++) {
		for (size_t i = 0; i < NCONTRACT; i++, n++) {
			snprintf(names[n], sizeof(names[n]), "%s/%s", backends[b].name,
				 contract[i].name);
			tests[n] = (struct CMUnitTest){
				.name = names[n],
				.test_func = contract[i].fn,
				.setup_func = setup,
				.teardown_func = teardown,
				.initial_state = (void *)&backends[b],
			};
		}
	}
	return _cmocka_run_group_tests("store_contract", tests, n, NULL, NULL);
}
