/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's answer to POST /v1/query, as a table for people:
 *   {"columns":[...],"values":[[...],...],"took_ms":N[,"truncated":true,"max_rows":N]
 *    [,"timed_out":true]}
 * becomes the table of cli_table.h and a footer ("3 rows (4 ms)"); truncation and timeouts
 * are warnings on their own stream, so that a table piped elsewhere stays clean.
 *
 * Cells: strings left-aligned; numbers right-aligned, integers exactly as the server wrote
 * them and other numbers with 15 significant digits (the server writes %.17g, whose last
 * digits are binary noise such as 0.10000000000000001); null as NULL, aligned like the
 * numbers of its column; true/false as such; an array or object as its JSON text.
 * A column is numeric, and its name right-aligned, when all its non-null values are numbers.
 */
#ifndef OB_CLI_CLI_REPLY_H
#define OB_CLI_CLI_REPLY_H

#include <stddef.h>
#include <stdio.h>

#include "cli/cli_json.h"

#define CLI_NULL_TEXT "NULL"

struct cli_reply_opts {
	size_t max_width; /* cut longer cells (cli_table_print); 0: never */
};

/*
 * Print the query reply root as a table and footer to out, and its warnings to warn.
 * Returns 0; -EPROTO when root is not a query reply (err says which part is wrong, and
 * nothing was printed); -ENOMEM; -EIO when out reported a write error.
 */
int cli_reply_print(const struct cj_node *root, const struct cli_reply_opts *opts, FILE *out,
		    FILE *warn, char *err, size_t errlen);

/* The message of an error reply {"error":"..."}, or NULL when root is not one. */
const char *cli_reply_error(const struct cj_node *root);

#endif
