/* SPDX-License-Identifier: Apache-2.0 */
/* See cli_reply.h. The whole reply is checked before the first byte is printed. */
#include "cli/cli_reply.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_table.h"

/* Room for one number printed with %.15g, sign, exponent and NUL included. */
#define NUM_TEXT 32

__attribute__((format(printf, 3, 4))) static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

static bool is_integer_text(const struct cj_node *v)
{
	return !memchr(v->str, '.', v->len) && !memchr(v->str, 'e', v->len) &&
	       !memchr(v->str, 'E', v->len);
}

/* Check the shape of the reply; on success *columns and *values are its two arrays. */
static int check(const struct cj_node *root, const struct cj_node **columns,
		 const struct cj_node **values, char *err, size_t errlen)
{
	const struct cj_node *c, *row, *v;
	size_t r = 0;

	if (!root || root->type != CJ_OBJECT)
		return bad(err, errlen, "the reply is not a JSON object");
	*columns = cj_get(root, "columns");
	*values = cj_get(root, "values");
	if (!*columns || (*columns)->type != CJ_ARRAY)
		return bad(err, errlen, "the reply has no \"columns\" array");
	if (!*values || (*values)->type != CJ_ARRAY)
		return bad(err, errlen, "the reply has no \"values\" array");
	for (c = (*columns)->child; c; c = c->next)
		if (c->type != CJ_STRING)
			return bad(err, errlen, "a column name is not a string");
	for (row = (*values)->child; row; row = row->next, r++) {
		if (row->type != CJ_ARRAY)
			return bad(err, errlen, "row %zu is not an array", r);
		if (row->count != (*columns)->count)
			return bad(err, errlen, "row %zu has %zu values for %zu columns", r,
				   row->count, (*columns)->count);
	}
	v = cj_get(root, "took_ms");
	if (v && v->type != CJ_NUMBER)
		return bad(err, errlen, "\"took_ms\" is not a number");
	return 0;
}

static bool flag(const struct cj_node *root, const char *key)
{
	const struct cj_node *v = cj_get(root, key);

	return v && v->type == CJ_BOOL && v->b;
}

int cli_reply_print(const struct cj_node *root, const struct cli_reply_opts *opts, FILE *out,
		    FILE *warn, char *err, size_t errlen)
{
	const struct cj_node *columns = NULL, *values = NULL, *row, *v, *took, *max_rows;
	struct cli_cell *cells = NULL, *head = NULL, *cell;
	bool *numeric = NULL, *seen_other = NULL;
	size_t ncols, nrows, c, nreal = 0;
	char *nums = NULL, *num;
	struct cli_table t;
	int rc;

	rc = check(root, &columns, &values, err, errlen);
	if (rc)
		return rc;
	ncols = columns->count;
	nrows = values->count;
	rc = -ENOMEM;
	head = calloc(ncols ? ncols : 1, sizeof(*head));
	numeric = calloc(ncols ? ncols : 1, sizeof(*numeric));
	seen_other = calloc(ncols ? ncols : 1, sizeof(*seen_other));
	if (ncols && nrows > SIZE_MAX / sizeof(*cells) / ncols)
		goto out;
	cells = calloc(nrows && ncols ? nrows * ncols : 1, sizeof(*cells));
	if (!head || !numeric || !seen_other || !cells)
		goto out;

	/* Pass 1: which columns are numeric, and how much room the reformatted reals need. */
	for (row = values->child; row; row = row->next)
		for (c = 0, v = row->child; v; v = v->next, c++) {
			if (v->type == CJ_NUMBER) {
				numeric[c] = true;
				nreal += !is_integer_text(v);
			} else if (v->type != CJ_NULL) {
				seen_other[c] = true;
			}
		}
	for (c = 0; c < ncols; c++)
		numeric[c] = numeric[c] && !seen_other[c];
	nums = malloc(nreal ? nreal * NUM_TEXT : 1);
	if (!nums)
		goto out;

	/* Pass 2: the cells. */
	for (c = 0, v = columns->child; v; v = v->next, c++)
		head[c] = (struct cli_cell){ .s = v->str, .len = v->len, .right = numeric[c] };
	cell = cells;
	num = nums;
	for (row = values->child; row; row = row->next) {
		for (c = 0, v = row->child; v; v = v->next, c++, cell++) {
			switch (v->type) {
			case CJ_NULL:
				*cell = (struct cli_cell){ CLI_NULL_TEXT, strlen(CLI_NULL_TEXT),
							   numeric[c] };
				break;
			case CJ_NUMBER:
				if (is_integer_text(v)) {
					*cell = (struct cli_cell){ v->str, v->len, true };
				} else {
					int n = snprintf(num, NUM_TEXT, "%.15g", v->num);

					*cell = (struct cli_cell){ num, (size_t)n, true };
					num += NUM_TEXT;
				}
				break;
			case CJ_STRING: *cell = (struct cli_cell){ v->str, v->len, false }; break;
			case CJ_BOOL:
				*cell = (struct cli_cell){ v->b ? "true" : "false", v->b ? 4 : 5,
							   false };
				break;
			default: *cell = (struct cli_cell){ v->raw, v->raw_len, false }; break;
			}
		}
	}

	t = (struct cli_table){ .ncols = ncols, .nrows = nrows, .head = head, .cells = cells };
	rc = cli_table_print(&t, opts ? opts->max_width : 0, out);
	if (rc)
		goto out;
	took = cj_get(root, "took_ms");
	fprintf(out, "%zu row%s", nrows, nrows == 1 ? "" : "s");
	if (took)
		fprintf(out, " (%s ms)", took->str);
	fputc('\n', out);
	if (flag(root, "truncated")) {
		max_rows = cj_get(root, "max_rows");
		fprintf(warn,
			"flowscope: warning: the result was cut at %s%s (the server's "
			"--max-rows); add a LIMIT or a narrower WHERE\n",
			max_rows && max_rows->type == CJ_NUMBER ? max_rows->str : "the maximum",
			max_rows && max_rows->type == CJ_NUMBER ? " rows" : "");
	}
	if (flag(root, "timed_out"))
		fputs("flowscope: warning: the query ran out of time (the server's "
		      "--query-timeout); these are the rows found until then\n",
		      warn);
	rc = ferror(out) ? -EIO : 0;
out:
	free(nums);
	free(cells);
	free(seen_other);
	free(numeric);
	free(head);
	return rc;
}

const char *cli_reply_error(const struct cj_node *root)
{
	const struct cj_node *e = cj_get(root, "error");

	return e && e->type == CJ_STRING ? e->str : NULL;
}
