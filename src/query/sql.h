/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flowscope's SQL dialect (DeepFlow style, DESIGN §6): a tokenizer, a recursive-descent
 * parser to a small AST, a validator against the tables of store/schema.h, and a
 * translator to SQLite SQL (or, with QUERY_DIALECT_CLICKHOUSE, ClickHouse SQL). Nothing the user
 * typed reaches the backend as text: every literal becomes a `?` parameter, every identifier is
 * looked up in the schema and re-emitted from the schema's own string (double-quoted), every
 * keyword and function name is written by the translator. The output SQL therefore never contains a
 * single quote. SHOW statements need no backend: their rows come straight from the schema.
 *
 * Accepted:
 *   SELECT item, ... FROM [db.]table [WHERE cond] [GROUP BY expr, ...]
 *          [ORDER BY expr [ASC|DESC], ...] [LIMIT n [OFFSET m] | LIMIT m, n]
 *   item: * | expr [AS alias]
 *   SHOW DATABASES | SHOW TABLES | SHOW TAGS FROM [db.]t | SHOW METRICS FROM [db.]t
 *   (SHOW TAGS lists the virtual tag columns after the stored ones, with type "tag")
 * A table whose name holds a dot (flow_metrics' network.1s, network_map.1m, ...) may be
 * written bare or quoted, with or without its db: network.1s, "network.1s",
 * flow_metrics.network.1s, flow_metrics."network.1s".
 * Expressions: columns, integer/float/'string' literals ('' escapes a quote), NULL,
 * + - * / % (usual precedence), unary minus, = == != <> < <= > >=, [NOT] LIKE,
 * [NOT] IN (list), IS [NOT] NULL, [NOT] BETWEEN a AND b, AND, OR, NOT, and the functions
 * Count(row|*|expr), Sum, Avg, Max, Min, Uniq (COUNT(DISTINCT)), Percentile(expr, p)
 * (0 <= p <= 100, passed to the store's `percentile` aggregate as p/100) and time(col, N)
 * (((col / N) * N), N a positive integer). Function names and keywords are case-insensitive,
 * column and table names are not. "..." and `...` quote identifiers. GROUP BY and ORDER BY
 * may name a select alias or a 1-based select position. -- and block comments are skipped,
 * one trailing ';' is tolerated. LIKE is SQLite's (ASCII case-insensitive unless the store
 * sets case_sensitive_like, which ours does not; the ClickHouse dialect matches it);
 * backslash is an ordinary character in strings and patterns.
 *
 * Virtual tag columns (tag_columns.h) on l7_flow_log and l4_flow_log: pod_1, auto_service_0,
 * k8s.label.app_1 (bare, or quoted whole: "k8s.label.app.kubernetes.io/name_1"), ... In
 * WHERE, `tag = 'x'`, `!=`, `[NOT] IN ('x', ...)`, `[NOT] LIKE 'x'`, `IS [NOT] NULL` become
 * integer lookups of the stored id column through the flow_tag dictionaries (a row without
 * the tag is NULL: only IS NULL takes it; NOT is pushed down to keep that). In the select
 * list, GROUP BY and ORDER BY a tag is its id (query_plan.tag_ids: the executor shows
 * names), a label its value; Count() and Uniq() take either. Nothing else takes them.
 */
#ifndef OB_QUERY_SQL_H
#define OB_QUERY_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/schema.h"

#define QUERY_MAX_INPUT	       65536	 /* bytes of user SQL */
#define QUERY_MAX_TOKENS       16384	 /* tokens of user SQL */
#define QUERY_MAX_NODES	       4096	 /* AST nodes */
#define QUERY_MAX_DEPTH	       64	 /* nesting of parentheses, NOT, unary minus, calls */
#define QUERY_MAX_TREE	       256	 /* height of any expression tree (a+b+c+... chains) */
#define QUERY_MAX_COLUMNS      1024	 /* result columns, after expanding '*' */
#define QUERY_MAX_SQL	       (1 << 20) /* bytes of translated SQL */
#define QUERY_DEFAULT_MAX_ROWS 10000

/*
 * Row cap. When the user's LIMIT is absent or larger than max_rows, the translation uses
 * LIMIT max_rows + 1 and sets plan->truncatable: the executor returns at most max_rows
 * rows and, if it got max_rows + 1, reports the result as "truncated at max_rows". When
 * the user's LIMIT is at most max_rows it is used as is and truncatable is false.
 * max_rows 0 means QUERY_DEFAULT_MAX_ROWS; values above INT64_MAX - 1 are clamped.
 */
struct query_limits {
	uint64_t max_rows;
	enum query_dialect {
		QUERY_DIALECT_SQLITE = 0, /* the default: SQLite SQL */
		/*
		 * ClickHouse SQL (18.16+) with the same answers: integer division and modulo
		 * where both sides are integers (NULL when dividing by 0, as in SQLite), LIKE
		 * ASCII case-insensitive with backslash an ordinary character (as SQLite's),
		 * Sum/Avg/Max/Min NULL over no values, NULLs first ascending and last
		 * descending, `percentile(x, p)` left for the store to expand (its LIKE needs
		 * a constant pattern: a literal, as the dialect writes it).
		 */
		QUERY_DIALECT_CLICKHOUSE = 1,
	} dialect;
};

enum query_param_type {
	QUERY_PARAM_INT = 1,
	QUERY_PARAM_REAL = 2,
	QUERY_PARAM_TEXT = 3,
};

/* One `?` of plan->sql, in order: bind params[i] to index i + 1. */
struct query_param {
	enum query_param_type type;
	int64_t i;  /* QUERY_PARAM_INT */
	double d;   /* QUERY_PARAM_REAL */
	char *s;    /* QUERY_PARAM_TEXT: owned, NUL-terminated, UTF-8 as the user sent it */
	size_t len; /* strlen(s) */
};

struct query_plan {
	bool is_show; /* no backend: columns + rows are the answer */
	char *sql;    /* SELECT: backend SQL, `?` for every literal; NULL for SHOW */
	struct query_param *params;
	size_t nparams;
	char **columns; /* output column names as the user sees them (alias or expression) */
	size_t ncolumns;
	/* SELECT: per column, whether it holds the ids of a virtual tag column (pod_1, ...:
	 * tag_columns.h) that the executor shows as names (query/tag_names.h); NULL for SHOW. */
	bool *tag_ids;
	const char **rows; /* SHOW: nrows * ncolumns cells, row-major, static schema strings */
	size_t nrows;
	const struct schema_table *table; /* SELECT: the table queried */
	uint64_t max_rows;		  /* the cap that applied */
	bool truncatable;		  /* LIMIT max_rows + 1 was applied, see query_limits */
	/* SELECT: the WHERE clause's top-level AND terms keep the time column within
	 * [time_lo, time_hi) (seconds), so the store may skip partitions outside it. */
	bool has_time_range;
	int64_t time_lo, time_hi;
};

/*
 * Translate NUL-terminated user_sql (so it cannot contain a NUL; callers holding a
 * length-delimited string use query_translate_n, which refuses embedded NULs). db is the
 * API's `db` field ("flow_log"); NULL or "" means any database, otherwise the table must
 * belong to it. Uses QUERY_DEFAULT_MAX_ROWS. Returns 0 and fills *out (release it with
 * query_plan_free), or -EINVAL with a one-line message in err (if err and errlen > 0) and
 * *out left empty, or -ENOMEM.
 */
int query_translate(const char *user_sql, const char *db, struct query_plan *out, char *err,
		    size_t errlen);
/* The same for len bytes at sql, with limits (NULL: defaults). */
int query_translate_n(const char *sql, size_t len, const char *db,
		      const struct query_limits *limits, struct query_plan *out, char *err,
		      size_t errlen);
/* Release what a plan owns and empty it. NULL-safe and idempotent. */
void query_plan_free(struct query_plan *plan);

#endif
