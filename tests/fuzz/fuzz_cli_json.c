// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the CLI's JSON reader and the query-reply table on arbitrary server
 * replies. Any input must be either refused with a message or parsed into a tree that the
 * table renderer can walk; nothing may crash, leak or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* src/cli is not in the core library: the modules under test are compiled in here. */
#include "cli/cli_json.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t walk(const struct cj_node *n)
{
	size_t count = 1;

	for (const struct cj_node *c = n->child; c; c = c->next)
		count += walk(c);
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cj_limits lim = { .max_depth = 32, .max_values = 100000 };
	struct cj_doc *doc = NULL;
	char err[160];

	if (cj_parse((const char *)data, size, &lim, &doc, err, sizeof(err)) == 0) {
		const struct cj_node *root = cj_root(doc);

		if (walk(root) > lim.max_values)
			abort();
		(void)cj_get(root, "values");
		(void)cj_get(root, "columns");
	}
	cj_free(doc);
	return 0;
}
