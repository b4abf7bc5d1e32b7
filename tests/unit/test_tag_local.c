/* SPDX-License-Identifier: Apache-2.0 */
/*
 * src/store/sqlite_tag_local.c on an in-memory SQLite database: numbers are dense and
 * given in the order ids are met; 0 stays 0; a cache far smaller than the ids in use (4
 * slots, 3000 ids met in a shuffled, repeating order) still gives every id its one number,
 * each looked up in the table when the cache lost it; a rollback's numbers are forgotten;
 * a new mapper over the same table (a restart) keeps every number; a number's day only
 * grows; expiry deletes by day and never lets a number be given again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/sqlite_tag_local.h"

#define NIDS 3000

static int64_t scalar(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

/* A 63-bit-looking id for i (distinct for distinct i). */
static int64_t id_of(int i)
{
	return (int64_t)(((uint64_t)i * 0x9e3779b97f4a7c15ull) & INT64_MAX) | 1;
}

static sqlite3 *open_db(void)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(tag_local_create_table(db), SQLITE_OK);
	return db;
}

static void test_small_cache(void **state)
{
	sqlite3 *db = open_db();
	struct tag_local *tl = tag_local_new(db, 4);
	struct tag_local_stats st;
	int64_t lid, got[NIDS + 1] = { 0 };

	(void)state;
	assert_non_null(tl);
	assert_int_equal(tag_local_map(tl, 0, 5, &lid), SQLITE_OK);
	assert_int_equal(lid, 0);
	exec_ok(db, "BEGIN");
	/* First meeting in order 1..NIDS: numbers 1..NIDS. */
	for (int i = 1; i <= NIDS; i++) {
		assert_int_equal(tag_local_map(tl, id_of(i), 5, &lid), SQLITE_OK);
		assert_int_equal(lid, i);
		got[i] = lid;
	}
	/* Then a repeating walk (stride 7 over NIDS, coprime): each id its own number. */
	for (int k = 0, i = 1; k < 4 * NIDS; k++, i = 1 + (i - 1 + 7) % NIDS) {
		assert_int_equal(tag_local_map(tl, id_of(i), 5, &lid), SQLITE_OK);
		assert_int_equal(lid, got[i]);
	}
	exec_ok(db, "COMMIT");
	tag_local_stats(tl, &st);
	assert_int_equal(st.created, NIDS);
	/* 4 slots: nearly every one of the walk's lookups went to the table */
	assert_int_equal(st.hits + st.lookups, 5 * NIDS);
	assert_true(st.lookups >= 4 * NIDS);
	assert_int_equal(scalar(db, "SELECT count(*) FROM " TAG_LOCAL_TABLE), NIDS);
	tag_local_free(tl);
	sqlite3_close(db);
}

static void test_odd_ids_restart_rollback(void **state)
{
	sqlite3 *db = open_db();
	struct tag_local *tl = tag_local_new(db, 0);
	int64_t lid;

	(void)state;
	exec_ok(db, "BEGIN");
	assert_int_equal(tag_local_map(tl, INT64_MAX, 10, &lid), SQLITE_OK);
	assert_int_equal(lid, 1);
	assert_int_equal(tag_local_map(tl, 1, 10, &lid), SQLITE_OK);
	assert_int_equal(lid, 2);
	assert_int_equal(tag_local_map(tl, INT64_MIN, 10, &lid), SQLITE_OK);
	assert_int_equal(lid, 3);
	exec_ok(db, "COMMIT");
	/* Rolled back: 42's number 4 is not kept, and the cache must not keep it either. */
	exec_ok(db, "BEGIN");
	assert_int_equal(tag_local_map(tl, 42, 10, &lid), SQLITE_OK);
	assert_int_equal(lid, 4);
	exec_ok(db, "ROLLBACK");
	tag_local_reset(tl);
	assert_int_equal(scalar(db, "SELECT count(*) FROM " TAG_LOCAL_TABLE " WHERE id = 42"), 0);
	exec_ok(db, "BEGIN");
	assert_int_equal(tag_local_map(tl, 42, 10, &lid), SQLITE_OK);
	assert_int_equal(scalar(db, "SELECT lid FROM " TAG_LOCAL_TABLE " WHERE id = 42"), lid);
	/* A later day raises the number's day, an earlier one leaves it. */
	assert_int_equal(tag_local_map(tl, INT64_MAX, 12, &lid), SQLITE_OK);
	assert_int_equal(tag_local_map(tl, INT64_MAX, 11, &lid), SQLITE_OK);
	assert_int_equal(lid, 1);
	exec_ok(db, "COMMIT");
	assert_int_equal(scalar(db, "SELECT day FROM " TAG_LOCAL_TABLE " WHERE lid = 1"), 12);
	tag_local_free(tl);

	/* A restart: a new mapper, nothing cached, the same numbers. */
	tl = tag_local_new(db, 4);
	exec_ok(db, "BEGIN");
	assert_int_equal(tag_local_map(tl, 1, 10, &lid), SQLITE_OK);
	assert_int_equal(lid, 2);
	assert_int_equal(tag_local_map(tl, INT64_MIN, 10, &lid), SQLITE_OK);
	assert_int_equal(lid, 3);
	assert_int_equal(tag_local_map(tl, INT64_MAX, 10, &lid), SQLITE_OK);
	assert_int_equal(lid, 1);
	/* Expiry of days <= 10: everything but INT64_MAX (day 12). */
	assert_int_equal(tag_local_expire(tl, 10), SQLITE_OK);
	assert_int_equal(scalar(db, "SELECT count(*) FROM " TAG_LOCAL_TABLE), 1);
	/* 1 comes back: a number never given before (the largest so far was 42's) */
	assert_int_equal(tag_local_map(tl, 1, 13, &lid), SQLITE_OK);
	assert_int_equal(lid, scalar(db, "SELECT max(lid) FROM " TAG_LOCAL_TABLE));
	assert_true(lid > 4);
	exec_ok(db, "COMMIT");
	tag_local_free(tl);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_cache),
		cmocka_unit_test(test_odd_ids_restart_rollback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
