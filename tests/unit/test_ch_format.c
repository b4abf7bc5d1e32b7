/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ClickHouse backend's text formats (src/store/ch_format.c), without a server:
 * literals and TabSeparated escaping, the rewrite of backend SQL (parameters outside
 * strings and comments only, one statement, the percentile expansion), and the
 * TabSeparatedWithNamesAndTypes parser fed in every possible split.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/ch_format.h"

static const char *rewrite(const char *sql, const struct store_value *p, size_t n, int want,
			   struct ch_buf *out)
{
	const char *why = NULL;

	ch_buf_init(out, 1 << 20);
	assert_int_equal(ch_rewrite_sql(sql, p, n, out, &why), want);
	return want ? why : out->p;
}

static void test_literals_and_params(void **state)
{
	static const char evil[] = "it's \\\"q\"; DROP --\n\t\x01";
	struct store_value p[4] = {
		{ .type = STORE_TEXT, .s = evil, .len = sizeof(evil) - 1 },
		{ .type = STORE_INT, .i = -5 },
		{ .type = STORE_REAL, .d = 2.5 },
		{ .type = STORE_NULL },
	};
	struct ch_buf b;

	(void)state;
	/* ? inside strings, quoted names and comments is not a parameter. */
	assert_string_equal(
		rewrite("SELECT ?, '?', \"a?\", `b?` /* ? */, ?, ?, ? -- ?\n", p, 4, 0, &b),
		"SELECT 'it\\'s \\\\\"q\"; DROP --\\n\\t\x01', '?', \"a?\", `b?` /* ? */, "
		"(-5), toFloat64(2.5), NULL -- ?\n");
	ch_buf_free(&b);
	/* A quote escaped inside a string does not end it. */
	assert_string_equal(rewrite("SELECT 'a\\'?', 'b''?', ?", p + 1, 1, 0, &b),
			    "SELECT 'a\\'?', 'b''?', (-5)");
	ch_buf_free(&b);
	/* Counts must match; one statement only; trailing ; and comments are fine. */
	assert_non_null(rewrite("SELECT ?", p, 2, -EINVAL, &b));
	ch_buf_free(&b);
	assert_non_null(rewrite("SELECT ?, ?", p, 1, -EINVAL, &b));
	ch_buf_free(&b);
	assert_string_equal(rewrite("SELECT 1; SELECT 2", NULL, 0, -EINVAL, &b),
			    "more than one statement");
	ch_buf_free(&b);
	assert_string_equal(rewrite("SELECT 1 ; -- done\n ; /* x */", NULL, 0, 0, &b), "SELECT 1 ");
	ch_buf_free(&b);
	assert_string_equal(rewrite("SELECT ';' ", NULL, 0, 0, &b), "SELECT ';' ");
	ch_buf_free(&b);
	assert_string_equal(rewrite("  -- nothing\n", NULL, 0, -EINVAL, &b), "empty statement");
	ch_buf_free(&b);
	/* Non-finite reals have no literal. */
	p[2].d = 1.0 / 0.0;
	assert_non_null(rewrite("SELECT ?", p + 2, 1, -EINVAL, &b));
	ch_buf_free(&b);
	/* INT64_MIN has no positive counterpart. */
	p[1].i = INT64_MIN;
	assert_string_equal(rewrite("SELECT ?", p + 1, 1, 0, &b),
			    "SELECT (-9223372036854775807 - 1)");
	ch_buf_free(&b);
}

static void test_percentile_rewrite(void **state)
{
	struct ch_buf b;
	const char *out;

	(void)state;
	out = rewrite("SELECT percentile(f(x, y), 0.5), \"percentile\", xpercentile(1) FROM t",
		      NULL, 0, 0, &b);
	/* x appears once (in groupArray), p in the range check and the rank. */
	assert_non_null(strstr(out, "arraySort(groupArray(toFloat64(f(x, y))))"));
	assert_non_null(strstr(out, "toFloat64( 0.5) BETWEEN 0 AND 1"));
	assert_non_null(strstr(out, "\"percentile\", xpercentile(1) FROM t"));
	assert_null(strstr(out, "SELECT percentile("));
	ch_buf_free(&b);
	assert_non_null(rewrite("SELECT percentile(x) FROM t", NULL, 0, -EINVAL, &b));
	ch_buf_free(&b);
	assert_non_null(rewrite("SELECT percentile(x, 1, 2) FROM t", NULL, 0, -EINVAL, &b));
	ch_buf_free(&b);
}

static void test_tsv_value(void **state)
{
	struct store_value v[5] = {
		{ .type = STORE_TEXT, .s = "a\tb\nc\\d\0e", .len = 9 },
		{ .type = STORE_NULL },
		{ .type = STORE_INT, .i = -42 },
		{ .type = STORE_REAL, .d = 0.1 },
		{ .type = STORE_TEXT, .s = "'", .len = 1 },
	};
	struct ch_buf b;

	(void)state;
	ch_buf_init(&b, 1024);
	for (int i = 0; i < 5; i++) {
		ch_tsv_value(&b, &v[i]);
		ch_buf_add(&b, "|", 1);
	}
	assert_string_equal(b.p, "a\\tb\\nc\\\\d\\0e|\\N|-42|0.10000000000000001|'|");
	ch_buf_free(&b);
	/* The buffer's cap holds. */
	ch_buf_init(&b, 8);
	ch_buf_puts(&b, "0123456789");
	assert_true(b.failed);
	ch_buf_free(&b);
}

struct got {
	char names[256];
	char rows[1024];
	int nrows, stop_at;
};

static int g_names(void *ctx, size_t n, const char *const *names)
{
	struct got *g = ctx;

	for (size_t i = 0; i < n; i++)
		snprintf(g->names + strlen(g->names), sizeof(g->names) - strlen(g->names), "%s%s",
			 i ? "," : "", names[i]);
	return 0;
}

static int g_row(void *ctx, const struct store_value *v, size_t n)
{
	struct got *g = ctx;
	char *o = g->rows + strlen(g->rows);
	size_t room = sizeof(g->rows) - strlen(g->rows);

	for (size_t i = 0; i < n; i++) {
		int k;

		switch (v[i].type) {
		case STORE_INT: k = snprintf(o, room, "i%lld", (long long)v[i].i); break;
		case STORE_REAL: k = snprintf(o, room, "r%g", v[i].d); break;
		case STORE_TEXT: k = snprintf(o, room, "t[%.*s]", (int)v[i].len, v[i].s); break;
		default: k = snprintf(o, room, "N"); break;
		}
		o += k;
		room -= (size_t)k;
	}
	snprintf(o, room, ";");
	g->nrows++;
	return g->stop_at && g->nrows == g->stop_at ? 1 : 0;
}

static const char result[] = "a\tb c\tn\tf\n"
			     "Nullable(Int64)\tString\tUInt64\tNullable(Float64)\n"
			     "-1\tx\\ty\\\\z\t18446744073709551615\t\\N\n"
			     "\\N\t\t0\t2.5\n";

static void test_tsv_parser_every_split(void **state)
{
	(void)state;
	for (size_t cut = 0; cut <= sizeof(result) - 1; cut++) {
		struct ch_tsv_parser ps;
		struct got g = { 0 };

		ch_tsv_init(&ps, 4096, g_names, g_row, &g);
		assert_int_equal(ch_tsv_feed(&ps, result, cut), 0);
		assert_int_equal(ch_tsv_feed(&ps, result + cut, sizeof(result) - 1 - cut), 0);
		assert_int_equal(ch_tsv_finish(&ps), 0);
		assert_string_equal(g.names, "a,b c,n,f");
		assert_string_equal(g.rows, "i-1t[x\ty\\z]i9223372036854775807N;Nt[]i0r2.5;");
		ch_tsv_free(&ps);
	}
}

static void test_tsv_parser_stops_and_errors(void **state)
{
	struct ch_tsv_parser ps;
	struct got g = { .stop_at = 1 };

	(void)state;
	ch_tsv_init(&ps, 4096, g_names, g_row, &g);
	assert_int_not_equal(ch_tsv_feed(&ps, result, sizeof(result) - 1), 0);
	assert_true(ps.stopped);
	assert_int_equal(g.nrows, 1);
	ch_tsv_free(&ps);
	/* An exception in the middle of the stream. */
	memset(&g, 0, sizeof(g));
	ch_tsv_init(&ps, 4096, g_names, g_row, &g);
	{
		static const char s[] = "a\nInt8\n1\nCode: 241, e.displayText() = DB::Exception\n";

		ch_tsv_feed(&ps, s, sizeof(s) - 1);
	}
	assert_true(ps.server_error);
	ch_tsv_free(&ps);
	/* A row of the wrong width, a line over the cap. */
	ch_tsv_init(&ps, 4096, NULL, NULL, NULL);
	ch_tsv_feed(&ps, "a\tb\nInt8\tInt8\n1\n", 16);
	assert_int_equal(ps.err, -EPROTO);
	ch_tsv_free(&ps);
	ch_tsv_init(&ps, 8, NULL, NULL, NULL);
	ch_tsv_feed(&ps, "abcdefghijkl\n", 13);
	assert_int_equal(ps.err, -ENOMEM);
	ch_tsv_free(&ps);
	assert_int_equal(ch_error_code("Code: 47, e.displayText() = x"), 47);
	assert_int_equal(ch_error_code("nothing"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals_and_params),
		cmocka_unit_test(test_percentile_rewrite),
		cmocka_unit_test(test_tsv_value),
		cmocka_unit_test(test_tsv_parser_every_split),
		cmocka_unit_test(test_tsv_parser_stops_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
