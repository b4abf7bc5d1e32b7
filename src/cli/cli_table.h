/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Aligned text tables for a terminal: a header row, a row of dashes, then the rows, with
 * two spaces between columns. Used for query results and the agents of `flowscope status`.
 *
 * What a cell shows is made safe for one terminal line: control characters are written as
 * escapes (\n, \r, \t, \xHH), so a value can never break the row it is in or move the
 * cursor. Width is counted in code points, which is the column count for the text these
 * tables hold (paths, names, numbers); East Asian wide characters would take two columns
 * on screen and so misalign their row, which is accepted to stay locale-free.
 */
#ifndef OB_CLI_CLI_TABLE_H
#define OB_CLI_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The mark that ends a cell cut to max_width: one column wide. */
#define CLI_TABLE_ELLIPSIS "\xe2\x80\xa6" /* U+2026 */

struct cli_cell {
	const char *s; /* valid UTF-8 (NULs allowed); NULL shows as empty */
	size_t len;
	bool right; /* right-aligned: numbers */
};

struct cli_table {
	size_t ncols;
	size_t nrows;
	const struct cli_cell *head;  /* ncols names; head[i].right aligns the name too */
	const struct cli_cell *cells; /* nrows * ncols, row after row */
};

/*
 * Print t to out. A cell wider than max_width columns is cut to max_width, its last column
 * being CLI_TABLE_ELLIPSIS; max_width 0 never cuts. No line ends in spaces.
 * Returns 0, -ENOMEM or -EIO (out reported a write error).
 */
int cli_table_print(const struct cli_table *t, size_t max_width, FILE *out);

#endif
