/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the table output of `flowscope query`: the JSON reader (src/cli/cli_json.c),
 * the reply-to-table conversion (cli_reply.c) and the aligned rendering (cli_table.c).
 * Replies are written as the server writes them and the printed text is compared whole,
 * byte for byte: alignment, NULL, number formatting, cut cells, escapes, the footer and
 * the warnings. Malformed replies must be refused with a message, never half-printed.
 *
 * src/cli is not part of the core library (it is the flowscope program), so the three
 * modules are compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_json.c"
#include "cli/cli_reply.c"
#include "cli/cli_table.c"

struct rendered {
	int rc;
	char *out, *warn;
	char err[160];
};

/* Parse json and print it as flowscope query would, into r. */
static void render_reply(const char *json, size_t max_width, struct rendered *r)
{
	struct cli_reply_opts o = { .max_width = max_width };
	struct cj_doc *doc = NULL;
	size_t olen = 0, wlen = 0;
	FILE *out = open_memstream(&r->out, &olen), *warn = open_memstream(&r->warn, &wlen);

	assert_non_null(out);
	assert_non_null(warn);
	r->rc = cj_parse(json, strlen(json), NULL, &doc, r->err, sizeof(r->err));
	if (!r->rc)
		r->rc = cli_reply_print(cj_root(doc), &o, out, warn, r->err, sizeof(r->err));
	fclose(out);
	fclose(warn);
	cj_free(doc);
}

static void rendered_free(struct rendered *r)
{
	free(r->out);
	free(r->warn);
}

static void expect_table(const char *json, size_t max_width, const char *table)
{
	struct rendered r = { 0 };

	render_reply(json, max_width, &r);
	if (r.rc)
		fail_msg("rc %d: %s", r.rc, r.err);
	assert_string_equal(r.out, table);
	assert_string_equal(r.warn, "");
	rendered_free(&r);
}

static void test_mixed_types(void **state)
{
	(void)state;
	/*
	 * Strings left, numbers right (their column names too), NULL aligned with its
	 * column, reals without %.17g noise, integers as written, escapes made visible.
	 */
	expect_table("{\"columns\":[\"request_resource\",\"response_code\",\"avg\",\"note\"],"
		     "\"values\":[[\"/a\",200,1500.5,null],"
		     "[\"/bb\",404,0.10000000000000001,\"x\"],"
		     "[\"/ccc\",null,12,\"\\n\\\"\\u00e9\"]],\"took_ms\":4}\n",
		     60,
		     "request_resource  response_code     avg  note\n"
		     "----------------  -------------  ------  ----\n"
		     "/a                          200  1500.5  NULL\n"
		     "/bb                         404     0.1  x\n"
		     "/ccc                       NULL      12  \\n\"\xc3\xa9\n"
		     "3 rows (4 ms)\n");
}

static void test_one_row_and_negative_numbers(void **state)
{
	(void)state;
	expect_table("{\"columns\":[\"n\",\"x\"],\"values\":[[-5,-2.5e-3]],\"took_ms\":0}", 60,
		     " n        x\n"
		     "--  -------\n"
		     "-5  -0.0025\n"
		     "1 row (0 ms)\n");
}

static void test_big_integers_kept(void **state)
{
	(void)state;
	/* Integers are printed as the server wrote them: no trip through a double. */
	expect_table("{\"columns\":[\"seq\"],\"values\":[[9007199254740993],[1]],\"took_ms\":1}",
		     60,
		     "             seq\n"
		     "----------------\n"
		     "9007199254740993\n"
		     "               1\n"
		     "2 rows (1 ms)\n");
}

static void test_empty_result(void **state)
{
	(void)state;
	expect_table("{\"columns\":[\"time\",\"request_resource\"],\"values\":[],\"took_ms\":0}",
		     60,
		     "time  request_resource\n"
		     "----  ----------------\n"
		     "0 rows (0 ms)\n");
}

static void test_long_cells_cut(void **state)
{
	char json[512], a70[71], a59[60], want[1024];

	(void)state;
	memset(a70, 'a', 70);
	a70[70] = '\0';
	memset(a59, 'a', 59);
	a59[59] = '\0';
	snprintf(json, sizeof(json),
		 "{\"columns\":[\"path\",\"code\"],\"values\":[[\"/%s\",200],[\"/short\",404]],"
		 "\"took_ms\":2}",
		 a70);
	/* 71 characters cut to 60: 59 of them and the ellipsis. */
	snprintf(want, sizeof(want),
		 "path%56s  code\n"
		 "%.60s  ----\n"
		 "/%.58s" CLI_TABLE_ELLIPSIS "   200\n"
		 "/short%54s   404\n"
		 "2 rows (2 ms)\n",
		 "", "------------------------------------------------------------------------",
		 a59, "");
	expect_table(json, 60, want);

	/* --wide: nothing is cut. */
	snprintf(want, sizeof(want),
		 "path%67s  code\n"
		 "%.71s  ----\n"
		 "/%s   200\n"
		 "/short%65s   404\n"
		 "2 rows (2 ms)\n",
		 "", "------------------------------------------------------------------------",
		 a70, "");
	expect_table(json, 0, want);

	/* A cell of exactly max_width is left whole. */
	expect_table("{\"columns\":[\"c\"],\"values\":[[\"abcde\"],[\"abcdef\"]]}", 5,
		     "c\n"
		     "-----\n"
		     "abcde\n"
		     "abcd" CLI_TABLE_ELLIPSIS "\n"
		     "2 rows\n");
}

static void test_string_escapes(void **state)
{
	struct cj_doc *doc = NULL;
	const struct cj_node *v;
	char err[128];
	const char *json = "[\"a\\nb\", \"q\\\"q\", \"caf\\u00e9\", \"\\ud83d\\ude00\","
			   " \"\\/\\\\\\b\\f\\r\\t\", \"nul\\u0000x\", \"\xc3\xa9t\xc3\xa9\"]";

	(void)state;
	assert_int_equal(cj_parse(json, strlen(json), NULL, &doc, err, sizeof(err)), 0);
	v = cj_root(doc);
	assert_int_equal(v->type, CJ_ARRAY);
	assert_int_equal(v->count, 7);
	v = v->child;
	assert_string_equal(v->str, "a\nb");
	v = v->next;
	assert_string_equal(v->str, "q\"q");
	v = v->next;
	assert_string_equal(v->str, "caf\xc3\xa9");
	v = v->next;
	assert_string_equal(v->str, "\xf0\x9f\x98\x80"); /* U+1F600 from a surrogate pair */
	v = v->next;
	assert_string_equal(v->str, "/\\\b\f\r\t");
	v = v->next;
	assert_int_equal(v->len, 5);
	assert_memory_equal(v->str, "nul\0x", 5);
	v = v->next;
	assert_string_equal(v->str, "\xc3\xa9t\xc3\xa9"); /* raw UTF-8 passes as it is */
	cj_free(doc);

	/* In a table, control characters become visible escapes; é is one column wide. */
	expect_table("{\"columns\":[\"s\",\"n\"],\"values\":[[\"tab\\there\\r\\u0001\",1],"
		     "[\"\\u00e9\",22]]}",
		     60,
		     "s                 n\n"
		     "---------------  --\n"
		     "tab\\there\\r\\x01   1\n"
		     "\xc3\xa9                22\n"
		     "2 rows\n");
}

static void test_numbers_and_literals(void **state)
{
	struct cj_doc *doc = NULL;
	const struct cj_node *root, *v;
	char err[128];
	const char *json = "{\"i\":-0,\"f\":1.5e3,\"E\":2E-2,\"t\":true,\"f2\":false,\"n\":null,"
			   "\"o\":{},\"a\":[ ]}";

	(void)state;
	assert_int_equal(cj_parse(json, strlen(json), NULL, &doc, err, sizeof(err)), 0);
	root = cj_root(doc);
	assert_int_equal(root->count, 8);
	v = cj_get(root, "i");
	assert_string_equal(v->str, "-0");
	assert_true(cj_get(root, "f")->num == 1500.0);
	assert_true(cj_get(root, "E")->num == 0.02);
	assert_true(cj_get(root, "t")->type == CJ_BOOL && cj_get(root, "t")->b);
	assert_true(cj_get(root, "f2")->type == CJ_BOOL && !cj_get(root, "f2")->b);
	assert_int_equal(cj_get(root, "n")->type, CJ_NULL);
	assert_int_equal(cj_get(root, "o")->type, CJ_OBJECT);
	assert_int_equal(cj_get(root, "a")->count, 0);
	assert_null(cj_get(root, "missing"));
	assert_null(cj_get(cj_get(root, "a"), "x")); /* not an object */
	v = cj_get(root, "o");
	assert_memory_equal(v->raw, "{}", v->raw_len);
	cj_free(doc);
}

struct bad_json {
	const char *in;
	const char *err;
};

static void test_malformed_json(void **state)
{
	static const struct bad_json cases[] = {
		{ "", "at byte 0: expected a value, found the end" },
		{ "   ", "at byte 3: expected a value, found the end" },
		{ "{\"columns\":[\"a\"],}", "at byte 17: expected a member name in quotes" },
		{ "[1,]", "at byte 3: expected a value" },
		{ "[1 2]", "at byte 3: expected ',' or ']'" },
		{ "[01]", "at byte 2: leading zero in a number" },
		{ "[1.]", "at byte 3: expected a digit after '.'" },
		{ "[1e]", "at byte 3: expected a digit in the exponent" },
		{ "[-]", "at byte 2: expected a digit" },
		{ "[+1]", "at byte 1: expected a value" },
		{ "[.5]", "at byte 1: expected a value" },
		{ "[\"abc]", "at byte 1: unterminated string" },
		{ "[\"a\tb\"]", "at byte 3: control character 0x09 in a string" },
		{ "[\"\\x41\"]", "at byte 3: unknown escape '\\x'" },
		{ "[\"\\u12\"]", "at byte 3: \\u needs four hex digits" },
		{ "[\"\\udc00\"]", "at byte 7: lone low surrogate \\udc00" },
		{ "[\"\\ud83d\"]", "at byte 7: high surrogate \\ud83d without its low half" },
		{ "[\"\\ud83dx\"]", "at byte 7: high surrogate \\ud83d without its low half" },
		{ "[\"\xff\"]", "at byte 2: invalid UTF-8 in a string" },
		{ "[\"\xc0\xaf\"]", "at byte 2: invalid UTF-8 in a string" },	  /* overlong */
		{ "[\"\xed\xa0\x80\"]", "at byte 2: invalid UTF-8 in a string" }, /* surrogate */
		{ "[\"\xc3\"]", "at byte 2: invalid UTF-8 in a string" },	  /* truncated */
		{ "[tru]", "at byte 1: expected a value" },
		{ "[nul]", "at byte 1: expected a value" },
		{ "[True]", "at byte 1: expected a value" },
		{ "{\"a\" 1}", "at byte 5: expected ':' after a member name" },
		{ "{1:2}", "at byte 1: expected a member name in quotes" },
		{ "{\"a\":1} x", "at byte 8: unexpected text after the value" },
		{ "{\"a\":1}{}", "at byte 7: unexpected text after the value" },
		{ "[1] // comment", "at byte 4: unexpected text after the value" },
		{ "<html>502 Bad Gateway</html>", "at byte 0: expected a value" },
	};
	struct cj_doc *doc;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		doc = (struct cj_doc *)1;
		if (cj_parse(cases[i].in, strlen(cases[i].in), NULL, &doc, err, sizeof(err)) !=
		    -EPROTO)
			fail_msg("accepted: %s", cases[i].in);
		assert_null(doc);
		if (strcmp(err, cases[i].err))
			fail_msg("%s: got '%s', want '%s'", cases[i].in, err, cases[i].err);
	}
}

static void test_limits(void **state)
{
	struct cj_limits lim = { .max_depth = 3, .max_values = 4 };
	struct cj_doc *doc;
	char err[128], deep[2 * 100 + 1];

	(void)state;
	assert_int_equal(cj_parse("[[[1]]]", 7, &lim, &doc, err, sizeof(err)), 0);
	cj_free(doc);
	assert_int_equal(cj_parse("[[[[1]]]]", 9, &lim, &doc, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "at byte 3: nested deeper than 3");
	assert_int_equal(cj_parse("[1,2,3,4]", 9, &lim, &doc, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "at byte 7: more than 4 values");

	/* The default depth (64) stops deep nesting before the stack could suffer. */
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	deep[200] = '\0';
	assert_int_equal(cj_parse(deep, 200, NULL, &doc, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "at byte 64: nested deeper than 64");
	/* The text need not be NUL-terminated: only len bytes are read. */
	assert_int_equal(cj_parse("[1]xyz", 3, NULL, &doc, err, sizeof(err)), 0);
	cj_free(doc);
	assert_int_equal(cj_parse("\"ab", 2, NULL, &doc, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "at byte 0: unterminated string");
}

static void expect_refused(const char *json, const char *err)
{
	struct rendered r = { 0 };

	render_reply(json, 60, &r);
	assert_int_equal(r.rc, -EPROTO);
	assert_string_equal(r.err, err);
	assert_string_equal(r.out, ""); /* nothing half-printed */
	rendered_free(&r);
}

static void test_not_a_query_reply(void **state)
{
	(void)state;
	expect_refused("[]", "the reply is not a JSON object");
	expect_refused("{\"values\":[]}", "the reply has no \"columns\" array");
	expect_refused("{\"columns\":[\"a\"]}", "the reply has no \"values\" array");
	expect_refused("{\"columns\":[\"a\"],\"values\":{}}", "the reply has no \"values\" array");
	expect_refused("{\"columns\":[1],\"values\":[]}", "a column name is not a string");
	expect_refused("{\"columns\":[\"a\"],\"values\":[[1],2]}", "row 1 is not an array");
	expect_refused("{\"columns\":[\"a\",\"b\"],\"values\":[[1,2],[3]]}",
		       "row 1 has 1 values for 2 columns");
	expect_refused("{\"columns\":[],\"values\":[],\"took_ms\":\"3\"}",
		       "\"took_ms\" is not a number");
}

static void test_warnings(void **state)
{
	struct rendered r = { 0 };

	(void)state;
	render_reply("{\"columns\":[\"r\"],\"values\":[[\"/0\"],[\"/1\"]],\"took_ms\":1,"
		     "\"truncated\":true,\"max_rows\":2}",
		     60, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "r\n--\n/0\n/1\n2 rows (1 ms)\n");
	assert_string_equal(r.warn, "flowscope: warning: the result was cut at 2 rows (the "
				    "server's --max-rows); add a LIMIT or a narrower WHERE\n");
	rendered_free(&r);

	r = (struct rendered){ 0 };
	render_reply("{\"columns\":[\"r\"],\"values\":[],\"took_ms\":10000,\"timed_out\":true}", 60,
		     &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "r\n-\n0 rows (10000 ms)\n");
	assert_string_equal(r.warn, "flowscope: warning: the query ran out of time (the "
				    "server's --query-timeout); these are the rows found until "
				    "then\n");
	rendered_free(&r);
}

static void test_other_cell_types(void **state)
{
	(void)state;
	/* Not what the server sends today, but shown rather than refused. */
	expect_table("{\"columns\":[\"b\",\"j\"],\"values\":[[true,[1, 2]],[false,{\"k\":null}]]}",
		     60,
		     "b      j\n"
		     "-----  ----------\n"
		     "true   [1, 2]\n"
		     "false  {\"k\":null}\n"
		     "2 rows\n");
	/* Empty cells at the end of a row leave no padding behind them. */
	expect_table("{\"columns\":[\"a\",\"b\",\"c\"],\"values\":[[\"x\",\"\",\"\"],[\"\",\"\","
		     "\"z\"]]}",
		     60,
		     "a  b  c\n"
		     "-  -  -\n"
		     "x\n"
		     "      z\n"
		     "2 rows\n");
	/* A column of only NULLs is not numeric. */
	expect_table("{\"columns\":[\"x\",\"y\"],\"values\":[[null,1]]}", 60,
		     "x     y\n"
		     "----  -\n"
		     "NULL  1\n"
		     "1 row\n");
}

static void test_error_reply(void **state)
{
	struct cj_doc *doc;
	char err[64];
	const char *json = "{\"error\":\"unknown column 'nope' in l7_flow_log\"}";

	(void)state;
	assert_int_equal(cj_parse(json, strlen(json), NULL, &doc, err, sizeof(err)), 0);
	assert_string_equal(cli_reply_error(cj_root(doc)), "unknown column 'nope' in l7_flow_log");
	cj_free(doc);
	assert_int_equal(cj_parse("{\"error\":1}", 11, NULL, &doc, err, sizeof(err)), 0);
	assert_null(cli_reply_error(cj_root(doc)));
	cj_free(doc);
	assert_null(cli_reply_error(NULL));
}

static void test_table_direct(void **state)
{
	/* The renderer on its own, as flowscope status uses it; cells may be NULL (empty). */
	static const struct cli_cell head[] = { { "agent_id", 8, false }, { "rows", 4, true } };
	static const struct cli_cell cells[] = {
		{ "host-a", 6, false }, { "12345", 5, true }, { NULL, 0, false }, { "7", 1, true }
	};
	struct cli_table t = { .ncols = 2, .nrows = 2, .head = head, .cells = cells };
	size_t len = 0;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_int_equal(cli_table_print(&t, 0, f), 0);
	fclose(f);
	assert_string_equal(buf, "agent_id   rows\n"
				 "--------  -----\n"
				 "host-a    12345\n"
				 "              7\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixed_types),
		cmocka_unit_test(test_one_row_and_negative_numbers),
		cmocka_unit_test(test_big_integers_kept),
		cmocka_unit_test(test_empty_result),
		cmocka_unit_test(test_long_cells_cut),
		cmocka_unit_test(test_string_escapes),
		cmocka_unit_test(test_numbers_and_literals),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_not_a_query_reply),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_other_cell_types),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_table_direct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
