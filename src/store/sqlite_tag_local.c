/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store-local tag numbers: see sqlite_tag_local.h. The cache is a fixed array of slots; an
 * id may sit in any of PROBE slots from its hash, a newcomer takes an empty one there or
 * evicts the least recently used of them: no lists, memory fixed at creation.
 */
#include "store/sqlite_tag_local.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PROBE 4

struct slot {
	int64_t id; /* 0: empty (0 is never mapped) */
	int64_t lid;
	int64_t day; /* the day the table holds for it */
	uint64_t used;
};

struct tag_local {
	sqlite3 *db;
	sqlite3_stmt *get, *add, *touch;
	struct slot *slots;
	size_t mask;
	uint64_t clock;
	struct tag_local_stats st;
};

int tag_local_create_table(sqlite3 *db)
{
	return sqlite3_exec(db,
			    "CREATE TABLE IF NOT EXISTS \"" TAG_LOCAL_TABLE "\" ("
			    "\"lid\" INTEGER PRIMARY KEY AUTOINCREMENT, "
			    "\"id\" INTEGER NOT NULL UNIQUE, \"day\" INTEGER NOT NULL)",
			    NULL, NULL, NULL);
}

struct tag_local *tag_local_new(sqlite3 *db, size_t slots)
{
	struct tag_local *tl = calloc(1, sizeof(*tl));
	size_t n = PROBE;

	if (!tl)
		return NULL;
	if (!slots)
		slots = TAG_LOCAL_DEF_SLOTS;
	while (n < slots && n < ((size_t)1 << 28))
		n <<= 1;
	tl->slots = calloc(n, sizeof(*tl->slots));
	if (!tl->slots) {
		free(tl);
		return NULL;
	}
	tl->mask = n - 1;
	tl->db = db;
	return tl;
}

void tag_local_free(struct tag_local *tl)
{
	if (!tl)
		return;
	sqlite3_finalize(tl->get);
	sqlite3_finalize(tl->add);
	sqlite3_finalize(tl->touch);
	free(tl->slots);
	free(tl);
}

void tag_local_reset(struct tag_local *tl)
{
	memset(tl->slots, 0, (tl->mask + 1) * sizeof(*tl->slots));
}

void tag_local_stats(const struct tag_local *tl, struct tag_local_stats *out)
{
	*out = tl->st;
}

/* Ids are hashes, but hostile or test ids (1, 2, 3) are not: mix. */
static size_t slot_of(const struct tag_local *tl, int64_t id)
{
	uint64_t x = (uint64_t)id;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (size_t)x & tl->mask;
}

static int prepare(struct tag_local *tl, sqlite3_stmt **st, const char *sql)
{
	if (*st)
		return SQLITE_OK;
	/* Persistent: one statement each for the connection's life. */
	return sqlite3_prepare_v3(tl->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

/* The table's (lid, day) of id: SQLITE_ROW, SQLITE_DONE (none), or an error. */
static int table_get(struct tag_local *tl, int64_t id, int64_t *lid, int64_t *day)
{
	int rc = prepare(tl, &tl->get,
			 "SELECT \"lid\", \"day\" FROM \"" TAG_LOCAL_TABLE "\" WHERE \"id\" = ?");

	if (rc)
		return rc;
	sqlite3_bind_int64(tl->get, 1, id);
	rc = sqlite3_step(tl->get);
	if (rc == SQLITE_ROW) {
		*lid = sqlite3_column_int64(tl->get, 0);
		*day = sqlite3_column_int64(tl->get, 1);
	}
	sqlite3_reset(tl->get);
	return rc;
}

static int table_add(struct tag_local *tl, int64_t id, int64_t day, int64_t *lid)
{
	int rc = prepare(tl, &tl->add,
			 "INSERT INTO \"" TAG_LOCAL_TABLE "\" (\"id\", \"day\") VALUES (?, ?)");

	if (rc)
		return rc;
	sqlite3_bind_int64(tl->add, 1, id);
	sqlite3_bind_int64(tl->add, 2, day);
	rc = sqlite3_step(tl->add);
	sqlite3_reset(tl->add);
	if (rc != SQLITE_DONE)
		return rc;
	*lid = sqlite3_last_insert_rowid(tl->db);
	tl->st.created++;
	return SQLITE_OK;
}

static int table_touch(struct tag_local *tl, int64_t lid, int64_t day)
{
	int rc = prepare(tl, &tl->touch,
			 "UPDATE \"" TAG_LOCAL_TABLE "\" SET \"day\" = ? WHERE \"lid\" = ?");

	if (rc)
		return rc;
	sqlite3_bind_int64(tl->touch, 1, day);
	sqlite3_bind_int64(tl->touch, 2, lid);
	rc = sqlite3_step(tl->touch);
	sqlite3_reset(tl->touch);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int tag_local_map(struct tag_local *tl, int64_t id, int64_t day, int64_t *lid)
{
	size_t h = slot_of(tl, id);
	struct slot *sl = NULL, *victim = NULL;
	int64_t got = 0, got_day = 0;
	int rc;

	if (!id) {
		*lid = 0;
		return SQLITE_OK;
	}
	for (size_t k = 0; k < PROBE; k++) {
		struct slot *s = &tl->slots[(h + k) & tl->mask];

		if (s->id == id) {
			sl = s;
			break;
		}
		if (!victim || !s->id || (victim->id && s->used < victim->used))
			victim = s;
	}
	if (sl) {
		tl->st.hits++;
		/* Once per id and day: the day a retention may delete the number after. */
		if (sl->day < day) {
			rc = table_touch(tl, sl->lid, day);
			if (rc)
				return rc;
			sl->day = day;
		}
		sl->used = ++tl->clock;
		*lid = sl->lid;
		return SQLITE_OK;
	}
	tl->st.lookups++;
	rc = table_get(tl, id, &got, &got_day);
	if (rc == SQLITE_DONE) {
		rc = table_add(tl, id, day, &got);
		got_day = day;
	} else if (rc == SQLITE_ROW) {
		rc = got_day < day ? table_touch(tl, got, day) : SQLITE_OK;
		if (got_day < day)
			got_day = day;
	}
	if (rc)
		return rc;
	*victim = (struct slot){ .id = id, .lid = got, .day = got_day, .used = ++tl->clock };
	*lid = got;
	return SQLITE_OK;
}

int tag_local_expire(struct tag_local *tl, int64_t last_day)
{
	char *sql = sqlite3_mprintf("DELETE FROM \"" TAG_LOCAL_TABLE "\" WHERE \"day\" <= %lld",
				    (long long)last_day);
	int rc;

	if (!sql)
		return SQLITE_NOMEM;
	rc = sqlite3_exec(tl->db, sql, NULL, NULL, NULL);
	sqlite3_free(sql);
	tag_local_reset(tl);
	return rc;
}

int tag_local_convert(sqlite3 *db, const char *part, int64_t day, const char *const *cols,
		      size_t ncols)
{
	sqlite3_str *q = sqlite3_str_new(db);
	char *sql;
	int rc;

	/* Numbers for the columns' ids not numbered yet (no upsert: a conflict would still
	 * use up an AUTOINCREMENT number), their day raised to this partition's... */
	for (size_t i = 0; i < ncols; i++) {
		sqlite3_str_appendf(q,
				    "INSERT INTO \"" TAG_LOCAL_TABLE "\" (\"id\", \"day\") SELECT "
				    "DISTINCT \"%w\", %lld FROM \"%w\" WHERE \"%w\" != 0 AND "
				    "\"%w\" NOT IN (SELECT \"id\" FROM \"" TAG_LOCAL_TABLE "\"); "
				    "UPDATE \"" TAG_LOCAL_TABLE "\" SET \"day\" = %lld WHERE "
				    "\"day\" < %lld AND \"id\" IN (SELECT \"%w\" FROM \"%w\"); ",
				    cols[i], (long long)day, part, cols[i], cols[i], (long long)day,
				    (long long)day, cols[i], part);
	}
	/* ... then every row rewritten once, all its columns at a time (NULL, a row older
	 * than the columns, stays NULL). */
	sqlite3_str_appendf(q, "UPDATE \"%w\" SET ", part);
	for (size_t i = 0; i < ncols; i++)
		sqlite3_str_appendf(q,
				    "%s\"%w\" = CASE WHEN \"%w\" != 0 THEN (SELECT \"lid\" FROM "
				    "\"" TAG_LOCAL_TABLE "\" WHERE \"id\" = \"%w\".\"%w\") ELSE "
				    "\"%w\" END",
				    i ? ", " : "", cols[i], cols[i], part, cols[i], cols[i]);
	sql = sqlite3_str_finish(q);
	if (!sql)
		return SQLITE_NOMEM;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_free(sql);
	return rc;
}
