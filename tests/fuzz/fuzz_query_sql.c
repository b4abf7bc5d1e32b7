/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the SQL translator (src/query/sql.c). The input is user SQL; the
 * first byte, when it is 0x01..0x04, picks the request's db argument (none, "flow_log",
 * an unknown one, "flow_metrics") so the table/db rules, dotted table names included, are
 * exercised too. The rest goes to
 * query_translate_n as is (embedded NULs included), in both dialects, and, as a
 * NUL-terminated copy, to query_translate. On success the backend SQL must hold no single quote
 * (every user literal travels as a parameter; identifiers are double-quoted schema strings), must
 * be NUL-terminated and bounded, and each '?' must have a parameter. On failure the message must be
 * one printable line. Every plan is freed, twice, under ASan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int rc, struct query_plan *plan, const char *err)
{
	if (rc == 0) {
		size_t marks = 0;

		if (plan->is_show) {
			if (plan->sql || !plan->columns || plan->ncolumns == 0)
				__builtin_trap();
		} else {
			if (!plan->sql || strchr(plan->sql, '\'') ||
			    strlen(plan->sql) >= QUERY_MAX_SQL)
				__builtin_trap();
			for (const char *s = plan->sql; *s; s++)
				marks += *s == '?';
			if (marks != plan->nparams || plan->ncolumns == 0)
				__builtin_trap();
		}
	} else {
		if (rc != -22 || err[0] == '\0' || plan->sql || plan->ncolumns || plan->nparams)
			__builtin_trap();
		for (const char *e = err; *e; e++)
			if (*e < 0x20 || *e >= 0x7f)
				__builtin_trap();
	}
	query_plan_free(plan);
	query_plan_free(plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const dbs[] = { NULL, "flow_log", "nope", "flow_metrics" };
	const char *db = NULL;
	struct query_limits lim = { .max_rows = 100 };
	struct query_plan plan;
	char err[256];
	char *copy;
	int rc;

	if (size && data[0] >= 1 && data[0] <= 4) {
		db = dbs[data[0] - 1];
		data++;
		size--;
	}
	rc = query_translate_n((const char *)data, size, db, &lim, &plan, err, sizeof(err));
	check(rc, &plan, err);
	/* the ClickHouse dialect writes its own text (virtual tags: GLOBAL IN, label arrays) */
	lim.dialect = QUERY_DIALECT_CLICKHOUSE;
	rc = query_translate_n((const char *)data, size, db, &lim, &plan, err, sizeof(err));
	check(rc, &plan, err);

	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	rc = query_translate(copy, db, &plan, err, sizeof(err));
	check(rc, &plan, err);
	free(copy);
	return 0;
}
