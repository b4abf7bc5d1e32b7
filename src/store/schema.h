/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tables users query, described once: name, columns, each column's storage type and
 * whether it is a tag (a dimension: group and filter by it) or a metric (a measure:
 * aggregate it). The store creates its schema from this, the query layer validates names
 * against it and answers SHOW TABLES / TAGS / METRICS from it. Names follow DeepFlow's
 * (DESIGN §4) so its users' queries carry over.
 */
#ifndef OB_STORE_SCHEMA_H
#define OB_STORE_SCHEMA_H

#include <stddef.h>

enum schema_type {
	SCHEMA_INT = 1,	 /* 64-bit signed integer */
	SCHEMA_REAL = 2, /* double */
	SCHEMA_TEXT = 3, /* UTF-8 string */
};

enum schema_kind {
	SCHEMA_TAG = 1,
	SCHEMA_METRIC = 2,
};

/*
 * A sparse column is empty ('' for text, 0 or NULL for integers) on most rows and looked
 * up by a non-empty value (trace ids, request ids, syscall trace ids): a store indexes
 * only its non-empty values, so rows without one cost nothing at ingest, and the query
 * layer adds the index's condition (`length(col) > 0`, `col != 0`) to an equality or IN
 * lookup of non-empty values so that such an index serves it.
 */
#define SCHEMA_F_SPARSE (1u << 0)
/*
 * An ordered column: the store keeps an index on it that `ORDER BY col LIMIT n` can walk
 * instead of sorting every row, and its values (µs since the epoch) are below the time
 * column's (s) + 1 s, so a bound on time bounds it too. The query layer turns a span list
 * ordered by such a column into that index walk (src/query/sql.c, top_n_ordered); on
 * any other column the walk would be over no index, so it does not.
 */
#define SCHEMA_F_ORDERED (1u << 1)
/*
 * A tag id column of a fact table (schema.c's TAG_ID_COLUMNS): it holds tag ids
 * (common/tag_id.h), 0 for none. The contract's ids are 63-bit hashes; the SQLite store
 * keeps a store-local dense number per id in these columns instead (flow_tag.tag_local,
 * docs/tagging.md "Storage"), which the query layer's SQLite dialect reads through.
 */
#define SCHEMA_F_TAG_ID (1u << 2)
/*
 * Few distinct values (tag ids and their kinds): ClickHouse stores the column as
 * LowCardinality(Int64), a dictionary per part, about 4x smaller than the plain column
 * (docs/benchmarks.md, SmartEncoding). 0 stands for none: such a column is never NULL.
 */
#define SCHEMA_F_FEW (1u << 3)

struct schema_column {
	const char *name;
	enum schema_type type;
	enum schema_kind kind;
	const char *help;
	unsigned int flags; /* SCHEMA_F_* */
};

struct schema_table {
	const char *db;	  /* "flow_log" */
	const char *name; /* "l7_flow_log", "network.1s": what users write */
	/*
	 * The name backends give the table's storage ("l7_flow_log", "network_1s"): letters,
	 * digits and '_' only, unique over every database, so that it needs no quoting rules
	 * of its own and a dot in it is never read as db.table. Queries never show it.
	 */
	const char *store_name;
	const struct schema_column *columns;
	size_t ncolumns;
	const char *time_column; /* partitioning and time filters: "time" (Unix seconds) */
};

/* Every table, NULL-terminated, in SHOW TABLES order. */
extern const struct schema_table *const schema_tables[];

/* The table db.name (db may be NULL to match any db), or NULL. */
const struct schema_table *schema_find_table(const char *db, const char *name);
/* The column of t called name, or NULL. */
const struct schema_column *schema_find_column(const struct schema_table *t, const char *name);

#endif
