/* SPDX-License-Identifier: Apache-2.0 */
/*
 * All SQL text of the SQLite backend (store_sqlite.c), in one place.
 *
 * Naming rule: every schema table (schema.h: l7_flow_log, l4_flow_log, network.1s, ...),
 * under its store_name T (l7_flow_log, l4_flow_log, network_1s, ...: no dots), is stored
 * as one regular table per UTC day, T_YYYYMMDD, chosen by the row's time column, with
 * indexes T_YYYYMMDD_<column>[_<column>...]. A regular view named T UNION ALLs every
 * partition of T with the columns in schema order; it is rebuilt in the same transaction
 * that adds or drops a partition of T, so readers see either the old or the new set, never
 * a view naming a missing table.
 * schema_version holds one row per applied migration. Identifiers are ours (digits and
 * schema.c names) and are still double-quoted; values are always bound, never formatted.
 */
#ifndef OB_STORE_STORE_SQLITE_SQL_H
#define OB_STORE_STORE_SQLITE_SQL_H

#define SQLITE_DB_FILE "flowscope.db"

/* auto_vacuum only takes effect before the first table exists: new databases only. */
#define SQL_PRAGMA_AUTO_VACUUM "PRAGMA auto_vacuum = INCREMENTAL"
#define SQL_PRAGMA_WAL	       "PRAGMA journal_mode = WAL"
/* FULL: in WAL mode NORMAL may lose the last commits on power loss; FULL syncs the WAL
 * at every commit, so a batch acknowledged with STORE_OK survives a crash. */
#define SQL_PRAGMA_SYNC	       "PRAGMA synchronous = FULL"
#define SQL_INCREMENTAL_VACUUM "PRAGMA incremental_vacuum"
/* The writer's page cache, in KiB (negative): the index pages a batch dirties stay cached
 * between batches instead of being read back (the default 2 MB re-read 17 KB per row). */
#define SQL_PRAGMA_WRITE_CACHE "PRAGMA cache_size = -65536"
/* Checkpoint every 32768 pages (128 MiB of WAL) instead of 1000: a batch dirties about a
 * page per row in each random-key index, so with the default every commit checkpointed,
 * writing each page twice; a longer WAL rewrites a page once for many batches. */
#define SQL_PRAGMA_CHECKPOINT "PRAGMA wal_autocheckpoint = 32768"

#define SQL_BEGIN    "BEGIN IMMEDIATE"
#define SQL_COMMIT   "COMMIT"
#define SQL_ROLLBACK "ROLLBACK"

#define SQL_SCHEMA_VERSION_CREATE                                                                  \
	"CREATE TABLE IF NOT EXISTS schema_version ("                                              \
	"version INTEGER NOT NULL PRIMARY KEY, "                                                   \
	"applied_at INTEGER NOT NULL)"
#define SQL_SCHEMA_VERSION_GET "SELECT coalesce(max(version), 0) FROM schema_version"
#define SQL_SCHEMA_VERSION_ADD                                                                     \
	"INSERT INTO schema_version (version, applied_at) VALUES (?, strftime('%s', 'now'))"

/* Migration 2: the last batch seq stored per ingest source (agent), for duplicate
 * detection (store.h, struct store_batch_src). */
#define SQL_SOURCES_CREATE                                                                         \
	"CREATE TABLE IF NOT EXISTS ingest_sources ("                                              \
	"source TEXT NOT NULL PRIMARY KEY, "                                                       \
	"last_seq INTEGER NOT NULL, "                                                              \
	"updated_at INTEGER NOT NULL)"
#define SQL_SOURCE_GET "SELECT last_seq FROM ingest_sources WHERE source = ?"
#define SQL_SOURCE_SET                                                                             \
	"INSERT INTO ingest_sources (source, last_seq, updated_at) "                               \
	"VALUES (?, ?, strftime('%s', 'now')) "                                                    \
	"ON CONFLICT (source) DO UPDATE SET last_seq = excluded.last_seq, "                        \
	"updated_at = excluded.updated_at"

/* %s: table name. The day suffix is exactly eight digits. */
#define SQL_LIST_PARTITIONS_FMT                                                                    \
	"SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB "                       \
	"'%s_[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' ORDER BY name"
#define SQL_PARTITION_NAME_FMT "%s_%04d%02d%02d"

/* %s: partition; the column definitions follow, built from the schema. */
#define SQL_CREATE_PARTITION_HEAD_FMT "CREATE TABLE IF NOT EXISTS \"%s\" ("
#define SQL_COLUMN_DEF_FMT	      "\"%s\" %s"
/* %s partition, %s column (twice): one index per lookup column. */
#define SQL_CREATE_INDEX_FMT "CREATE INDEX IF NOT EXISTS \"%s_%s\" ON \"%s\" (\"%s\")"
/* A composite index: the head, then "\"col\"" per column, comma-separated, then ")". */
#define SQL_CREATE_INDEX_HEAD_FMT "CREATE INDEX IF NOT EXISTS \"%s%s\" ON \"%s\" ("
/* %s partition, %s column (four times): a sparse column (schema.h) indexed where not
 * empty; the full index of schema version 2 and before goes. src/query adds the same
 * `length(col) > 0` term to equality lookups, which is what lets SQLite use the index. */
#define SQL_CREATE_SPARSE_INDEX_FMT                                                                \
	"CREATE INDEX IF NOT EXISTS \"%s_%s_nz\" ON \"%s\" (\"%s\") WHERE length(\"%s\") > 0"
/* The same for a sparse integer column: indexed where not 0 (nor NULL); src/query adds
 * `col != 0` to lookups of non-zero values. */
#define SQL_CREATE_SPARSE_INT_INDEX_FMT                                                            \
	"CREATE INDEX IF NOT EXISTS \"%s_%s_nz\" ON \"%s\" (\"%s\") WHERE \"%s\" != 0"
#define SQL_DROP_INDEX_FMT     "DROP INDEX IF EXISTS \"%s_%s\""
#define SQL_TABLE_COLUMNS_FMT  "SELECT name FROM pragma_table_info('%s')"
#define SQL_ADD_COLUMN_FMT     "ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s"
#define SQL_DROP_PARTITION_FMT "DROP TABLE IF EXISTS \"%s\""

#define SQL_DROP_VIEW_FMT	 "DROP VIEW IF EXISTS \"%s\""
#define SQL_CREATE_VIEW_HEAD_FMT "CREATE VIEW \"%s\" AS "
#define SQL_VIEW_PART_FMT	 "SELECT %s FROM \"%s\""
#define SQL_VIEW_UNION		 " UNION ALL "
/* No partition yet: the view still has the columns, and no rows. */
#define SQL_VIEW_EMPTY_COLUMN_FMT "CAST(NULL AS %s) AS \"%s\""
#define SQL_VIEW_EMPTY_TAIL	  " WHERE 0"

#define SQL_INSERT_FMT "INSERT INTO \"%s\" (%s) VALUES (%s)"

/*
 * Lookup indexes of every partition, besides the time column's: the table, then the
 * indexed columns (several make a composite index). A single sparse column (schema.h) is
 * indexed only where not empty. Every SCHEMA_F_SPARSE and SCHEMA_F_ORDERED column must have
 * its own single-column entry here: the query layer relies on it (checked at open).
 */
#define SQL_INDEXES                                                                                \
	{                                                                                          \
		{ "l7_flow_log", { "start_time" } }, { "l7_flow_log", { "trace_id" } },            \
			{ "l7_flow_log", { "req_tcp_seq" } },                                      \
			{ "l7_flow_log", { "lone_resp_tcp_seq" } },                                \
			{ "l7_flow_log", { "x_request_id_0" } },                                   \
			{ "l7_flow_log", { "x_request_id_1" } },                                   \
			{ "l7_flow_log", { "syscall_trace_id_request" } },                         \
			{ "l7_flow_log", { "syscall_trace_id_response" } },                        \
			{ "l7_flow_log", { "request_id" } }, { "l7_flow_log", { "_id" } },         \
			{ "l4_flow_log", { "ip4_1", "server_port" } },                             \
	}
#define SQL_INDEX_MAX_COLUMNS 3

#endif
