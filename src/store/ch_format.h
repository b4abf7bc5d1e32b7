/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text formats of the ClickHouse backend, without any I/O: a bounded growable buffer, the
 * TabSeparated encoding of insert rows, SQL literals for parameters (ClickHouse's HTTP
 * interface of 18.16 binds no `?`), the rewrite of backend SQL (parameters, the
 * percentile pseudo-aggregate, one statement only), and an incremental parser of
 * TabSeparatedWithNamesAndTypes results that hands out whole rows as they arrive.
 */
#ifndef OB_STORE_CH_FORMAT_H
#define OB_STORE_CH_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* A byte buffer that refuses to grow past cap: failed is then set and stays set. */
struct ch_buf {
	char *p;
	size_t len, cap_now, cap;
	bool failed;
};

void ch_buf_init(struct ch_buf *b, size_t cap);
void ch_buf_free(struct ch_buf *b);
void ch_buf_reset(struct ch_buf *b); /* empty, keeps memory, clears failed */
void ch_buf_add(struct ch_buf *b, const void *p, size_t n);
void ch_buf_puts(struct ch_buf *b, const char *s);
void ch_buf_printf(struct ch_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One insert value in TabSeparated: \N for NULL, text escaped (\\ \t \n \r \0 ...). */
void ch_tsv_value(struct ch_buf *b, const struct store_value *v);

/* One value as a ClickHouse SQL literal: NULL, a decimal, or a quoted, escaped string.
 * Non-finite reals cannot be written as literals: -EINVAL. */
int ch_sql_literal(struct ch_buf *b, const struct store_value *v);

/*
 * Rewrite backend SQL for ClickHouse into out: each `?` outside strings, quoted names and
 * comments becomes params[i] as a literal; `percentile(x, p)` (the store's exact
 * interpolating percentile aggregate, store.h STORE_CAP_PERCENTILE) becomes an array
 * expression over groupArray; a trailing `;` and comments are dropped. -EINVAL (with why)
 * when the text holds more than one statement, none, or the parameter count differs.
 */
int ch_rewrite_sql(const char *sql, const struct store_value *params, size_t nparams,
		   struct ch_buf *out, const char **why);

/* ---- TabSeparatedWithNamesAndTypes results ---- */

typedef int (*ch_row_fn)(void *ctx, const struct store_value *vals, size_t ncols);
typedef int (*ch_names_fn)(void *ctx, size_t ncols, const char *const *names);

enum ch_coltype { CHT_INT, CHT_UINT, CHT_REAL, CHT_TEXT };

struct ch_tsv_parser {
	struct ch_buf line; /* the incomplete line so far */
	size_t ncols;
	char **names;
	enum ch_coltype *types;
	struct store_value *vals;
	int state;	   /* 0 names, 1 types, 2 rows */
	int err;	   /* first error: callback's value, -EPROTO on a malformed line, -ENOMEM */
	bool stopped;	   /* a callback asked to stop (> 0) */
	bool server_error; /* a "Code: N, ..." line arrived where a row should be */
	ch_names_fn on_names;
	ch_row_fn on_row;
	void *ctx;
};

void ch_tsv_init(struct ch_tsv_parser *ps, size_t max_line, ch_names_fn on_names, ch_row_fn on_row,
		 void *ctx);
void ch_tsv_free(struct ch_tsv_parser *ps);
/* Feed bytes; calls back per complete line. 0 to go on, else stop (see err / stopped). */
int ch_tsv_feed(struct ch_tsv_parser *ps, const char *p, size_t n);
/* End of input: a last line without '\n' is parsed too. */
int ch_tsv_finish(struct ch_tsv_parser *ps);

/* The numeric code of a ClickHouse error text ("Code: 47, e.displayText() = ..."), or -1. */
int ch_error_code(const char *text);

#endif
