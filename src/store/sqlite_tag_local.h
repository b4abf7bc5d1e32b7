/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store-local tag numbers for the SQLite backend (docs/tagging.md, "Storage").
 *
 * The contract's tag ids are 63-bit hashes (common/tag_id.h) so that servers sharing one
 * ClickHouse agree on them without a coordinator. SQLite's record format stores such a
 * value in 8 bytes + 1 header byte, a number below 2^15 in 2 + 1: on rows carrying about
 * 25 ids that is most of what the tags cost (docs/benchmarks.md, SmartEncoding). An SQLite
 * store has one writer, so it can number its ids itself: the table flow_tag_tag_local
 * (lid INTEGER PRIMARY KEY AUTOINCREMENT, id UNIQUE, day) gives each id that reached a row
 * a dense local number, and the fact tables' tag id columns hold that number.
 *
 * - Numbers are never reused (AUTOINCREMENT), so a number in a row or in a reader's cache
 *   never comes to mean another id.
 * - day is the last UTC day of a row that holds the number: retention deletes the numbers
 *   of dropped days only (every row that holds one is in a day <= its day).
 * - A bounded in-memory cache (slots given at creation, fixed memory) answers most lookups;
 *   a miss costs one indexed SELECT, a new id one INSERT. Everything goes through the
 *   writer's connection inside its transaction: after a rollback the caller calls
 *   tag_local_reset(), since the cache may then hold numbers the database never kept.
 *
 * Not thread-safe: the store's write lock serialises it with the connection.
 */
#ifndef OB_STORE_SQLITE_TAG_LOCAL_H
#define OB_STORE_SQLITE_TAG_LOCAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define TAG_LOCAL_TABLE	    STORE_TAG_LOCAL_TABLE
#define TAG_LOCAL_DEF_SLOTS 65536 /* 2 MiB (32 bytes a slot): ids of a large cluster's day */

struct tag_local;

struct tag_local_stats {
	uint64_t hits;	  /* ids answered by the cache */
	uint64_t lookups; /* ids looked up in the table */
	uint64_t created; /* ids given a new number */
};

/* Create the table in db if missing (inside the caller's transaction). SQLite rc. */
int tag_local_create_table(sqlite3 *db);

/* A mapper over db's table with a cache of slots (rounded up to a power of two, at least
 * 4; 0: TAG_LOCAL_DEF_SLOTS). NULL on allocation failure. */
struct tag_local *tag_local_new(sqlite3 *db, size_t slots);
void tag_local_free(struct tag_local *tl);

/*
 * The local number of id for a row of UTC day `day`, into *lid: 0 for id 0 (no tag), else
 * the number the table holds for id (made now if new; its day raised to `day`). Inside the
 * caller's write transaction. SQLITE_OK or an SQLite error (*lid untouched).
 */
int tag_local_map(struct tag_local *tl, int64_t id, int64_t day, int64_t *lid);

/* Forget the cache (after a rollback, or after tag_local_expire). */
void tag_local_reset(struct tag_local *tl);

/* Delete the numbers whose last day is <= last_day (their rows are gone), inside the
 * caller's transaction, and forget the cache. SQLite rc. */
int tag_local_expire(struct tag_local *tl, int64_t last_day);

/* Version 6 migration: the 63-bit ids in columns cols[0..ncols) of partition part (of UTC
 * day day) replaced by their local numbers, made as needed, in one pass over its rows.
 * Inside the caller's transaction, before any mapper caches numbers. SQLite rc. */
int tag_local_convert(sqlite3 *db, const char *part, int64_t day, const char *const *cols,
		      size_t ncols);

void tag_local_stats(const struct tag_local *tl, struct tag_local_stats *out);

#endif
