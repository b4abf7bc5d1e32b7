/* SPDX-License-Identifier: Apache-2.0 */
/*
 * src/query/tag_names.c on a real SQLite store: the dictionary (flow_tag.tag_dict) is
 * written straight into a day partition, as the tagger would leave it, then ids are turned
 * into names: the newest version of an id wins, 0 and unknown ids give no name, 601
 * distinct ids take three queries of at most 256, repeats are looked up once, the cache
 * answers the second time and forgets after its time to live, and a cache of 4 slots
 * holds at most 4 names. The SQLite store's rows hold local numbers for ids
 * (STORE_CAP_LOCAL_TAG_IDS): numbers 1..601 stand for ids 10^12 + n (the last for
 * 5 * 10^12) in its flow_tag_tag_local, and numbers are what is looked up.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "query/tag_names.h"
#include "store/store.h"

static char tmpl[] = "/tmp/flowscope-tn-XXXXXX";
static struct store *st;

#define NIDS 600

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

static int setup(void **state)
{
	struct store_cfg cfg = { 0 };
	char path[256], sql[512], day[16];
	time_t now = time(NULL) - 60;
	sqlite3 *db;
	sqlite3_stmt *ins;

	(void)state;
	cfg.dir = mkdtemp(tmpl);
	assert_non_null(cfg.dir);
	/* The store makes its schema; the partition is added while it is closed and found by
	 * its name when it opens again (store_sqlite_sql.h). */
	assert_int_equal(store_open(&store_sqlite_ops, &cfg, &st), 0);
	store_close(st);
	snprintf(path, sizeof(path), "%s/flowscope.db", tmpl);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	strftime(day, sizeof(day), "%Y%m%d", gmtime(&now));
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE \"flow_tag_tag_dict_%s\" AS SELECT * FROM \"flow_tag_tag_dict\" "
		 "WHERE 0",
		 day);
	exec_ok(db, sql);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO \"flow_tag_tag_dict_%s\" (time, id, kind, name, key) VALUES (?, ?, "
		 "10, ?, ?)",
		 day);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &ins, NULL), SQLITE_OK);
	exec_ok(db, "BEGIN");
	exec_ok(db, "INSERT INTO \"" STORE_TAG_LOCAL_TABLE "\" (lid, id, day) WITH RECURSIVE "
		    "n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 600) SELECT x, "
		    "1000000000000 + x, 0 FROM n UNION ALL SELECT 601, 5000000000000, 0");
	for (int i = 1; i <= NIDS + 1; i++) {
		char name[32];
		/* id 7: an older version ("old-7") and the newest one ("n-7"), written in
		 * that order and the other way round for id 8 */
		int versions = i == 7 || i == 8 ? 2 : 1;

		for (int v = 0; v < versions; v++) {
			bool older = (i == 7) ? v == 0 : v == 1;

			snprintf(name, sizeof(name), "%s-%d", older ? "old" : "n", i);
			sqlite3_bind_int64(ins, 1, (sqlite3_int64)now - (older ? 100 : 0));
			sqlite3_bind_int64(ins, 2,
					   i == NIDS + 1 ? 5000000000000LL : 1000000000000LL + i);
			sqlite3_bind_text(ins, 3, name, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(ins, 4, name, -1, SQLITE_TRANSIENT);
			assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
			sqlite3_reset(ins);
		}
	}
	exec_ok(db, "COMMIT");
	sqlite3_finalize(ins);
	sqlite3_close(db);
	assert_int_equal(store_open(&store_sqlite_ops, &cfg, &st), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	return system(cmd);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

static void test_lookup(void **state)
{
	struct tag_names *tn = tag_names_new(0, 0);
	/* 0, a repeat, an unknown number, the one of a large id, then 1..600 */
	int64_t ids[4 + NIDS] = { 0, 7, 9999, NIDS + 1 };
	char *names[4 + NIDS];
	struct tag_names_stats s;

	(void)state;
	assert_non_null(tn);
	assert_int_equal(tag_names_lookup(tn, st, NULL, ids, 0, names), 0);
	for (int i = 0; i < NIDS; i++)
		ids[4 + i] = i + 1;
	assert_int_equal(tag_names_lookup(tn, st, NULL, ids, 4 + NIDS, names), 0);
	assert_null(names[0]);
	assert_string_equal(names[1], "n-7");
	assert_null(names[2]);
	assert_string_equal(names[3], "n-601");
	assert_string_equal(names[4], "n-1");
	assert_string_equal(names[4 + 6], "n-7");
	assert_string_equal(names[4 + 7], "n-8");
	assert_string_equal(names[4 + NIDS - 1], "n-600");
	tag_names_stats(tn, &s);
	/* 602 distinct non-zero ids: 256 + 256 + 90, one of them unknown */
	assert_int_equal(s.hits, 0);
	assert_int_equal(s.misses, 602);
	assert_int_equal(s.unknown, 1);
	assert_int_equal(s.queries, 3);
	assert_int_equal(s.errors, 0);
	free_names(names, 4 + NIDS);

	/* again: every known name from the cache, the unknown one asked again */
	assert_int_equal(tag_names_lookup(tn, st, NULL, ids, 4 + NIDS, names), 0);
	assert_string_equal(names[1], "n-7");
	assert_null(names[2]);
	tag_names_stats(tn, &s);
	assert_int_equal(s.hits, 601);
	assert_int_equal(s.misses, 603);
	assert_int_equal(s.queries, 4);
	free_names(names, 4 + NIDS);
	tag_names_free(tn);
}

static void test_cache_bounds(void **state)
{
	struct tag_names *tn = tag_names_new(4, 0), *brief = tag_names_new(0, 1);
	int64_t ids[10];
	char *names[10];
	struct tag_names_stats s;

	(void)state;
	assert_non_null(tn);
	assert_non_null(brief);
	for (int i = 0; i < 10; i++)
		ids[i] = 100 + i;
	assert_int_equal(tag_names_lookup(tn, st, NULL, ids, 10, names), 0);
	free_names(names, 10);
	assert_int_equal(tag_names_lookup(tn, st, NULL, ids, 10, names), 0);
	assert_string_equal(names[9], "n-109");
	free_names(names, 10);
	tag_names_stats(tn, &s);
	/* 4 slots: at most 4 of the 10 names were still there */
	assert_true(s.hits <= 4);
	assert_int_equal(s.hits + s.misses, 20);

	/* a 1 ms time to live: the second lookup finds nothing cached */
	assert_int_equal(tag_names_lookup(brief, st, NULL, ids, 10, names), 0);
	free_names(names, 10);
	usleep(5000);
	assert_int_equal(tag_names_lookup(brief, st, NULL, ids, 10, names), 0);
	free_names(names, 10);
	tag_names_stats(brief, &s);
	assert_int_equal(s.hits, 0);
	assert_int_equal(s.queries, 2);
	tag_names_free(tn);
	tag_names_free(brief);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_cache_bounds),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
