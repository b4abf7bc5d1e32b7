/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite vs ClickHouse, side by side in one run, through the store interface (no HTTP
 * server in between, so the figures are the backends'): the same synthetic l7_flow_log
 * rows (40 endpoints of skewed popularity over 8 domains, 2xx-5xx codes, long-tailed
 * durations, one day) written in batches of --batch by one writer, then the same
 * tag-filtered aggregation of flowscope SQL, translated for each backend's dialect, run
 * --runs times (the best time counts). Both answers must be equal. Prints rows/s, query
 * time, and ClickHouse's figure as a ratio of SQLite's.
 *
 *   python3 tests/integration/chserver.py -- build/bench/store_bench [--rows N]
 * (the ClickHouse server is the one at $FLOWSCOPE_TEST_CLICKHOUSE, http://HOST:PORT).
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/record.h"
#include "query/sql.h"
#include "store/store.h"

#define DEF_ROWS  1000000
#define DEF_BATCH 5000
#define DEF_RUNS  3
#define T_BASE	  1700000000ull

static const char *const domains[] = { "api.example", "shop.example", "auth.example",
				       "img.example", "cdn.example",  "search.example",
				       "pay.example", "admin.example" };

static const char query_sql[] =
	"SELECT endpoint, Count(row), Avg(response_duration), Percentile(response_duration, 95) "
	"FROM l7_flow_log WHERE request_domain = 'api.example' AND response_code >= 400 "
	"GROUP BY endpoint ORDER BY endpoint";

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_record(struct l7_record *r, uint64_t i, uint64_t n)
{
	uint64_t x = next_rand(), ep = (uint64_t)(40 * pow((double)(x % 1000) / 1000.0, 2));
	uint64_t t_ns = (T_BASE + i * 86000 / n) * 1000000000ull + x % 1000000000ull;
	uint64_t dur_us = 200 + (uint64_t)(50000.0 / (1.0 + (double)(next_rand() % 1000)));
	static const int codes[] = { 200, 200, 200, 200, 200, 200, 201, 304, 404, 500, 503 };
	char buf[64];
	int len;

	record_reset(r);
	r->start_ns = t_ns - dur_us * 1000;
	r->end_ns = t_ns;
	r->type = REC_TYPE_SESSION;
	r->obs = REC_OBS_SERVER_PROCESS;
	r->family = 4;
	r->l4_proto = 6;
	r->l7_proto = PROTO_HTTP1;
	r->has_request = r->has_response = true;
	r->code = codes[x % (sizeof(codes) / sizeof(codes[0]))];
	r->status = r->code >= 500 ? 3 : r->code >= 400 ? 4 : 0;
	r->request_length = 100 + x % 400;
	r->response_length = 200 + x % 20000;
	r->addr0[0] = 10, r->addr0[3] = (uint8_t)(x >> 8);
	r->addr1[0] = 10, r->addr1[3] = (uint8_t)(1 + ep % 8);
	r->client_port = (uint16_t)(30000 + x % 30000);
	r->server_port = 8080;
	r->pid = 1000 + (uint32_t)(ep % 8);
	strcpy(r->comm, "api-server");
	rec_copy(r->method.s, &r->method.len, sizeof(r->method.s), "GET", 3);
	rec_copy(r->domain.s, &r->domain.len, sizeof(r->domain.s), domains[ep % 8],
		 strlen(domains[ep % 8]));
	len = snprintf(buf, sizeof(buf), "/v1/endpoint-%02llu", (unsigned long long)ep);
	rec_copy(r->endpoint.s, &r->endpoint.len, sizeof(r->endpoint.s), buf, (size_t)len);
	len = snprintf(buf, sizeof(buf), "/v1/endpoint-%02llu?id=%llu", (unsigned long long)ep,
		       (unsigned long long)(x % 100000));
	rec_copy(r->resource.s, &r->resource.len, sizeof(r->resource.s), buf, (size_t)len);
}

struct answer {
	char text[8192];
	size_t len;
};

static int on_row(void *ctx, const struct store_value *v, size_t n)
{
	struct answer *a = ctx;

	for (size_t i = 0; i < n && a->len < sizeof(a->text) - 64; i++) {
		switch (v[i].type) {
		case STORE_INT:
			a->len +=
				(size_t)snprintf(a->text + a->len, 64, "%lld|", (long long)v[i].i);
			break;
		case STORE_REAL:
			a->len += (size_t)snprintf(a->text + a->len, 64, "%.6g|", v[i].d);
			break;
		case STORE_TEXT:
			a->len += (size_t)snprintf(a->text + a->len, 64, "%.*s|", (int)v[i].len,
						   v[i].s);
			break;
		default: a->len += (size_t)snprintf(a->text + a->len, 64, "NULL|"); break;
		}
	}
	if (a->len < sizeof(a->text) - 2)
		a->text[a->len++] = '\n';
	return 0;
}

struct result {
	double insert_s, query_s;
	struct answer ans;
};

static int run(const char *name, const struct store_ops *ops, const struct store_cfg *cfg,
	       enum query_dialect dialect, const struct l7_record *recs, size_t n, size_t batch,
	       int runs, struct result *res)
{
	struct query_limits ql = { .max_rows = 1000, .dialect = dialect };
	struct store_value params[16];
	struct query_plan plan;
	struct store *s = NULL;
	char err[256];
	double t0;
	int rc;

	rc = store_open_msg(ops, cfg, &s, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "store_bench: %s: open: %s %s\n", name, strerror(-rc), err);
		return rc;
	}
	t0 = mono_s();
	for (size_t i = 0; i < n; i += batch) {
		size_t k = n - i < batch ? n - i : batch;

		if (store_write_batch(s, recs + i, k) != STORE_OK) {
			fprintf(stderr, "store_bench: %s: write: %s\n", name, store_errmsg(s));
			store_close(s);
			return -EIO;
		}
	}
	res->insert_s = mono_s() - t0;
	rc = query_translate_n(query_sql, strlen(query_sql), NULL, &ql, &plan, err, sizeof(err));
	if (rc || plan.nparams > 16) {
		fprintf(stderr, "store_bench: translate: %s\n", err);
		store_close(s);
		return -EINVAL;
	}
	for (size_t i = 0; i < plan.nparams; i++) {
		const struct query_param *p = &plan.params[i];

		params[i] = (struct store_value){ .type = p->type == QUERY_PARAM_TEXT	? STORE_TEXT
							  : p->type == QUERY_PARAM_REAL ? STORE_REAL
											: STORE_INT,
						  .i = p->i,
						  .d = p->d,
						  .s = p->s,
						  .len = p->len };
	}
	res->query_s = INFINITY;
	for (int r = 0; r < runs && !rc; r++) {
		struct store_limits lim = { .max_rows = plan.max_rows };

		memset(&res->ans, 0, sizeof(res->ans));
		t0 = mono_s();
		rc = store_query(s, plan.sql, params, plan.nparams, &lim, NULL, on_row, &res->ans);
		if (mono_s() - t0 < res->query_s)
			res->query_s = mono_s() - t0;
		if (rc)
			fprintf(stderr, "store_bench: %s: query: %s\n", name, store_errmsg(s));
	}
	query_plan_free(&plan);
	store_close(s);
	return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "rows", required_argument, NULL, 'r' },
					      { "batch", required_argument, NULL, 'b' },
					      { "runs", required_argument, NULL, 'n' },
					      { 0 } };
	size_t n = DEF_ROWS, batch = DEF_BATCH;
	int runs = DEF_RUNS, c, rc = 1;
	const char *ch = getenv("FLOWSCOPE_TEST_CLICKHOUSE");
	char dir[] = "/tmp/flowscope-store-bench-XXXXXX", url[300];
	struct result lite, click;
	struct l7_record *recs;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r')
			n = strtoull(optarg, NULL, 10);
		else if (c == 'b')
			batch = strtoull(optarg, NULL, 10);
		else if (c == 'n')
			runs = atoi(optarg);
		else
			return 2;
	}
	if (!ch || strncmp(ch, "http://", 7) || !n || !batch || runs < 1) {
		fprintf(stderr,
			"usage: FLOWSCOPE_TEST_CLICKHOUSE=http://HOST:PORT store_bench "
			"[--rows N] [--batch N] [--runs N]\n"
			"(python3 tests/integration/chserver.py -- store_bench starts one)\n");
		return 2;
	}
	recs = calloc(n, sizeof(*recs));
	if (!recs || !mkdtemp(dir))
		return 1;
	for (size_t i = 0; i < n; i++)
		make_record(&recs[i], i, n);
	snprintf(url, sizeof(url), "clickhouse://%s/flowscope_bench", ch + 7);
	{
		struct store_cfg lc = { .dir = dir, .retention_days = STORE_MAX_RETENTION_DAYS };
		struct store_cfg cc = { .url = url, .retention_days = STORE_MAX_RETENTION_DAYS };

		if (run("sqlite", &store_sqlite_ops, &lc, QUERY_DIALECT_SQLITE, recs, n, batch,
			runs, &lite) ||
		    run("clickhouse", &store_clickhouse_ops, &cc, QUERY_DIALECT_CLICKHOUSE, recs, n,
			batch, runs, &click))
			goto out;
	}
	printf("store_bench: %zu l7_flow_log rows, batches of %zu, one writer; query best of %d:\n"
	       "  %s\n",
	       n, batch, runs, query_sql);
	printf("  %-10s %12s %12s\n", "", "insert rows/s", "query ms");
	printf("  %-10s %12.0f %12.1f\n", "sqlite", (double)n / lite.insert_s, lite.query_s * 1e3);
	printf("  %-10s %12.0f %12.1f\n", "clickhouse", (double)n / click.insert_s,
	       click.query_s * 1e3);
	printf("  clickhouse / sqlite: insert rate x%.2f, query time x%.3f\n",
	       lite.insert_s / click.insert_s, click.query_s / lite.query_s);
	if (lite.ans.len != click.ans.len || memcmp(lite.ans.text, click.ans.text, lite.ans.len)) {
		fprintf(stderr, "store_bench: the backends' answers differ:\n%.*s---\n%.*s",
			(int)lite.ans.len, lite.ans.text, (int)click.ans.len, click.ans.text);
		goto out;
	}
	printf("  answers identical (%zu bytes)\n", lite.ans.len);
	rc = 0;
out:
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(recs);
	return rc;
}
