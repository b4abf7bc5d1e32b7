/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite store backend: one database file in cfg->dir, WAL mode with synchronous=FULL
 * (a batch answered STORE_OK has been fsynced), one transaction per batch whatever tables
 * its rows go to, and for every schema table (schema.h) one table per UTC day behind a
 * UNION ALL view named after it (store_sqlite_sql.h has the naming rule and all SQL text),
 * retention by dropping whole day tables.
 *
 * Two connections: a read-write one for schema changes and inserts, and a read-only one
 * for store_query, which also carries an authorizer that allows only SELECT, reads and
 * function calls, so user-derived SQL cannot write, ATTACH or PRAGMA even if the query
 * layer lets something through. Each connection is used under its own mutex, so one
 * handle may be shared by a writer thread and query threads (WAL lets them run together).
 *
 * percentile(x, p) is an exact aggregate with linear interpolation between closest ranks
 * (the SQL percentile_cont / Hyndman-Fan type 7 definition): sort the n non-NULL numeric
 * x, h = p * (n - 1), result x[floor h] + (h - floor h) * (x[floor h + 1] - x[floor h]).
 * p is a fraction in [0, 1], taken from the first row of the group. It holds every value
 * of the group in memory, up to PCT_MAX_VALUES.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/l4_record.h"
#include "agent/net_meter.h"
#include "agent/record.h"
#include "store/schema.h"
#include "store/sqlite_tag_local.h"
#include "store/store.h"
#include "store/store_sqlite_sql.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define SCHEMA_VERSION	 7
#define MAX_TABLES	 16
#define INSERT_CACHE	 4 /* days with a cached INSERT: today, yesterday, stragglers */
#define DAY_S		 86400
#define PROGRESS_OPS	 1000	    /* VM steps between timeout checks */
#define QUERY_MAX_LENGTH (64 << 20) /* biggest string or blob a query may build */
#define PCT_MAX_VALUES	 (1u << 24) /* percentile: values held per group (128 MiB) */
#define SQLITE_MAX_UNION 500	    /* SQLITE_MAX_COMPOUND_SELECT default */

struct insert_slot {
	int64_t day;
	sqlite3_stmt *st;
	uint64_t used; /* LRU clock */
};

/* One schema table as stored here: its day partitions, their cached INSERTs, and the SQL
 * fragments built once from the schema and the table's row mapping (store.h). */
struct sq_table {
	const struct schema_table *t;
	const struct store_row_map *map; /* NULL: nothing writes this table */
	int64_t *days;			 /* sorted partition days (days since the epoch, UTC) */
	size_t ndays, days_cap;
	struct insert_slot ins[INSERT_CACHE];
	char *insert_cols;   /* "\"time\", ..." in the row mapping's order */
	char *insert_params; /* "?, ?, ..." */
	char *view_cols;     /* schema order */
	bool parts_changed;  /* partitions created in the open write transaction */
};

struct store_sqlite {
	struct store base;
	char *dir;
	char *path;
	uint32_t retention_days;
	uint32_t busy_ms;

	pthread_mutex_t wlock; /* wdb, tables' partitions and insert caches, counters */
	sqlite3 *wdb;
	struct sq_table tabs[MAX_TABLES]; /* schema_tables order */
	size_t ntabs;
	struct sq_table *l7, *l4;	    /* where the kinds of records go */
	struct sq_table *net[NET_TABLES];   /* by enum net_table */
	struct sq_table *tag[STAG__TABLES]; /* by enum store_tag_table */
	uint64_t ins_clock;
	struct store_stats st;
	struct tag_local *tl; /* tag ids to the numbers the fact tables hold */

	pthread_mutex_t qlock; /* rdb */
	sqlite3 *rdb;
	struct timespec deadline;
	bool timed_out;

	pthread_mutex_t elock;
	char err[256];
};

static struct store_sqlite *to_sq(struct store *s)
{
	return (struct store_sqlite *)s;
}

static void set_err(struct store_sqlite *q, sqlite3 *db, const char *what)
{
	pthread_mutex_lock(&q->elock);
	snprintf(q->err, sizeof(q->err), "%s%s%s", what, db ? ": " : "",
		 db ? sqlite3_errmsg(db) : "");
	pthread_mutex_unlock(&q->elock);
}

/* SQLite result code to -errno, for the int-returning functions. */
static int sq_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK: return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_AUTH:
	case SQLITE_PERM: return -EPERM;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_CANTOPEN: return -ENOENT;
	case SQLITE_ERROR:
	case SQLITE_RANGE:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG: return -EINVAL;
	case SQLITE_INTERRUPT: return -EINTR;
	default: return -EIO;
	}
}

/* Failures that go away by themselves (or by an operator freeing disk) are RETRY; the
 * rest would fail again on the same data. */
static enum store_result sq_result(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_NOMEM:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PROTOCOL:
	case SQLITE_INTERRUPT: return STORE_RETRY;
	default: return STORE_DROP;
	}
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* exec() of a printf-formatted statement. */
static int execf(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int execf(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	char *sql;
	int rc;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	if (!sql)
		return SQLITE_NOMEM;
	rc = exec(db, sql);
	sqlite3_free(sql);
	return rc;
}

static const char *sql_type(enum schema_type t)
{
	switch (t) {
	case SCHEMA_INT: return "INTEGER";
	case SCHEMA_REAL: return "REAL";
	default: return "TEXT";
	}
}

/* ---- file system ---------------------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
	char *p, *buf = strdup(dir);
	int err = 0;

	if (!buf)
		return -ENOMEM;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0750) && errno != EEXIST) {
			err = -errno;
			goto out;
		}
		*p = '/';
	}
	if (mkdir(buf, 0750) && errno != EEXIST)
		err = -errno;
out:
	free(buf);
	return err;
}

/* Make a newly created database file's directory entry durable too. */
static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

static uint64_t file_size(const char *path, const char *suffix)
{
	char buf[4096];
	struct stat sb;

	if (snprintf(buf, sizeof(buf), "%s%s", path, suffix) >= (int)sizeof(buf))
		return 0;
	return stat(buf, &sb) ? 0 : (uint64_t)sb.st_size;
}

/* ---- partitions ----------------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

static void partition_name(const struct sq_table *tb, int64_t day, char *buf, size_t cap)
{
	time_t t = (time_t)(day * DAY_S);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, cap, SQL_PARTITION_NAME_FMT, tb->t->store_name, tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday);
}

/* The day of a partition name "<table>_YYYYMMDD", or -1. */
static int64_t partition_day(const struct sq_table *tb, const char *name)
{
	size_t tl = strlen(tb->t->store_name);
	struct tm tm = { 0 };
	int y, m, d;

	if (strncmp(name, tb->t->store_name, tl) || name[tl] != '_' || strlen(name + tl + 1) != 8)
		return -1;
	if (sscanf(name + tl + 1, "%4d%2d%2d", &y, &m, &d) != 3)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	return floor_div((int64_t)timegm(&tm), DAY_S);
}

static void insert_cache_flush(struct sq_table *tb)
{
	for (size_t i = 0; i < INSERT_CACHE; i++) {
		sqlite3_finalize(tb->ins[i].st);
		tb->ins[i].st = NULL;
		tb->ins[i].used = 0;
	}
}

static int days_grow(struct sq_table *tb)
{
	size_t cap = tb->days_cap ? tb->days_cap * 2 : 16;
	int64_t *d;

	if (tb->ndays < tb->days_cap)
		return SQLITE_OK;
	d = realloc(tb->days, cap * sizeof(*d));
	if (!d)
		return SQLITE_NOMEM;
	tb->days = d;
	tb->days_cap = cap;
	return SQLITE_OK;
}

/* Reload a table's partition list from the database: at open, and after a rollback that
 * may have undone partitions created in the failed transaction. */
static int partitions_load(struct store_sqlite *q, struct sq_table *tb)
{
	sqlite3_stmt *st = NULL;
	char *sql;
	int rc;

	insert_cache_flush(tb);
	tb->ndays = 0;
	tb->parts_changed = false;
	sql = sqlite3_mprintf(SQL_LIST_PARTITIONS_FMT, tb->t->store_name);
	if (!sql)
		return SQLITE_NOMEM;
	rc = sqlite3_prepare_v2(q->wdb, sql, -1, &st, NULL);
	sqlite3_free(sql);
	if (rc)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t day = partition_day(tb, (const char *)sqlite3_column_text(st, 0));

		if (day < 0)
			continue;
		rc = days_grow(tb);
		if (rc)
			goto out;
		tb->days[tb->ndays++] = day; /* ORDER BY name is day order */
	}
	rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
out:
	sqlite3_finalize(st);
	return rc;
}

static int partitions_load_all(struct store_sqlite *q)
{
	int rc = SQLITE_OK;

	for (size_t i = 0; i < q->ntabs && !rc; i++)
		rc = partitions_load(q, &q->tabs[i]);
	return rc;
}

static uint64_t partitions_total(const struct store_sqlite *q)
{
	uint64_t n = 0;

	for (size_t i = 0; i < q->ntabs; i++)
		n += q->tabs[i].ndays;
	return n;
}

static bool partition_known(const struct sq_table *tb, int64_t day)
{
	size_t lo = 0, hi = tb->ndays;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (tb->days[mid] == day)
			return true;
		if (tb->days[mid] < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int partition_remember(struct sq_table *tb, int64_t day)
{
	size_t i;

	if (days_grow(tb))
		return SQLITE_NOMEM;
	for (i = tb->ndays; i > 0 && tb->days[i - 1] > day; i--)
		tb->days[i] = tb->days[i - 1];
	tb->days[i] = day;
	tb->ndays++;
	return SQLITE_OK;
}

/* Add the schema's columns that an older partition lacks: schema.c only ever grows. */
static int partition_add_columns(struct store_sqlite *q, const struct sq_table *tb,
				 const char *part)
{
	const struct schema_table *t = tb->t;
	bool *have = calloc(t->ncolumns, sizeof(*have));
	sqlite3_stmt *st = NULL;
	char *sql = NULL;
	int rc = SQLITE_NOMEM;

	if (!have)
		goto out;
	sql = sqlite3_mprintf(SQL_TABLE_COLUMNS_FMT, part);
	if (!sql)
		goto out;
	rc = sqlite3_prepare_v2(q->wdb, sql, -1, &st, NULL);
	if (rc)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);

		for (size_t i = 0; name && i < t->ncolumns; i++)
			if (strcmp(name, t->columns[i].name) == 0)
				have[i] = true;
	}
	if (rc != SQLITE_DONE)
		goto out;
	rc = SQLITE_OK;
	for (size_t i = 0; i < t->ncolumns && !rc; i++)
		if (!have[i])
			rc = execf(q->wdb, SQL_ADD_COLUMN_FMT, part, t->columns[i].name,
				   sql_type(t->columns[i].type));
out:
	sqlite3_finalize(st);
	sqlite3_free(sql);
	free(have);
	return rc;
}

struct sq_index {
	const char *table;
	const char *cols[SQL_INDEX_MAX_COLUMNS];
};

static const struct sq_index sq_indexes[] = SQL_INDEXES;

/* A composite index: "<part>_<c1>_<c2>..." on (c1, c2, ...). */
static int composite_index(struct store_sqlite *q, const char *part, const struct sq_index *ix)
{
	sqlite3_str *name = sqlite3_str_new(q->wdb), *s = sqlite3_str_new(q->wdb);
	char *n, *sql;
	int rc;

	for (size_t c = 0; c < SQL_INDEX_MAX_COLUMNS && ix->cols[c]; c++)
		sqlite3_str_appendf(name, "_%s", ix->cols[c]);
	n = sqlite3_str_finish(name);
	if (!n) {
		sqlite3_free(sqlite3_str_finish(s));
		return SQLITE_NOMEM;
	}
	sqlite3_str_appendf(s, SQL_CREATE_INDEX_HEAD_FMT, part, n, part);
	for (size_t c = 0; c < SQL_INDEX_MAX_COLUMNS && ix->cols[c]; c++)
		sqlite3_str_appendf(s, "%s\"%s\"", c ? ", " : "", ix->cols[c]);
	sqlite3_str_appendall(s, ")");
	sqlite3_free(n);
	sql = sqlite3_str_finish(s);
	if (!sql)
		return SQLITE_NOMEM;
	rc = exec(q->wdb, sql);
	sqlite3_free(sql);
	return rc;
}

static int partition_indexes(struct store_sqlite *q, const struct sq_table *tb, const char *part)
{
	int rc;

	rc = execf(q->wdb, SQL_CREATE_INDEX_FMT, part, tb->t->time_column, part,
		   tb->t->time_column);
	for (size_t i = 0; i < ARRAY_SIZE(sq_indexes) && !rc; i++) {
		const struct sq_index *ix = &sq_indexes[i];
		const struct schema_column *c;

		if (strcmp(ix->table, tb->t->name))
			continue;
		if (ix->cols[1]) {
			rc = composite_index(q, part, ix);
			continue;
		}
		c = schema_find_column(tb->t, ix->cols[0]);
		if (!c)
			continue;
		if (c->flags & SCHEMA_F_SPARSE) {
			/* Random keys cost one dirty index page per row at ingest: only rows that
			 * have a value pay it. */
			rc = execf(q->wdb, SQL_DROP_INDEX_FMT, part, c->name);
			if (!rc && c->type == SCHEMA_INT)
				rc = execf(q->wdb, SQL_CREATE_SPARSE_INT_INDEX_FMT, part, c->name,
					   part, c->name, c->name);
			else if (!rc)
				rc = execf(q->wdb, SQL_CREATE_SPARSE_INDEX_FMT, part, c->name, part,
					   c->name, c->name);
		} else {
			rc = execf(q->wdb, SQL_CREATE_INDEX_FMT, part, c->name, part, c->name);
		}
	}
	return rc;
}

/* Inside the caller's transaction. */
static int partition_create(struct store_sqlite *q, struct sq_table *tb, int64_t day)
{
	const struct schema_table *t = tb->t;
	sqlite3_str *s = sqlite3_str_new(q->wdb);
	char part[128], *sql;
	int rc;

	partition_name(tb, day, part, sizeof(part));
	sqlite3_str_appendf(s, SQL_CREATE_PARTITION_HEAD_FMT, part);
	for (size_t i = 0; i < t->ncolumns; i++) {
		if (i)
			sqlite3_str_appendall(s, ", ");
		sqlite3_str_appendf(s, SQL_COLUMN_DEF_FMT, t->columns[i].name,
				    sql_type(t->columns[i].type));
	}
	sqlite3_str_appendall(s, ")");
	sql = sqlite3_str_finish(s);
	if (!sql)
		return SQLITE_NOMEM;
	rc = exec(q->wdb, sql);
	sqlite3_free(sql);
	if (!rc)
		rc = partition_indexes(q, tb, part);
	if (!rc)
		rc = partition_remember(tb, day);
	return rc;
}

/* Inside the caller's transaction, after the table's partition set changed. */
static int view_rebuild(struct store_sqlite *q, const struct sq_table *tb)
{
	const struct schema_table *t = tb->t;
	sqlite3_str *s;
	char part[128], *sql;
	int rc;

	if (tb->ndays > SQLITE_MAX_UNION)
		return SQLITE_TOOBIG;
	rc = execf(q->wdb, SQL_DROP_VIEW_FMT, t->store_name);
	if (rc)
		return rc;
	s = sqlite3_str_new(q->wdb);
	sqlite3_str_appendf(s, SQL_CREATE_VIEW_HEAD_FMT, t->store_name);
	for (size_t i = 0; i < tb->ndays; i++) {
		partition_name(tb, tb->days[i], part, sizeof(part));
		if (i)
			sqlite3_str_appendall(s, SQL_VIEW_UNION);
		sqlite3_str_appendf(s, SQL_VIEW_PART_FMT, tb->view_cols, part);
	}
	if (!tb->ndays) {
		sqlite3_str_appendall(s, "SELECT ");
		for (size_t i = 0; i < t->ncolumns; i++) {
			if (i)
				sqlite3_str_appendall(s, ", ");
			sqlite3_str_appendf(s, SQL_VIEW_EMPTY_COLUMN_FMT,
					    sql_type(t->columns[i].type), t->columns[i].name);
		}
		sqlite3_str_appendall(s, SQL_VIEW_EMPTY_TAIL);
	}
	sql = sqlite3_str_finish(s);
	if (!sql)
		return SQLITE_NOMEM;
	rc = exec(q->wdb, sql);
	sqlite3_free(sql);
	return rc;
}

/* The cached INSERT for a day of a table, creating the partition first if needed. */
static int insert_stmt(struct store_sqlite *q, struct sq_table *tb, int64_t day, sqlite3_stmt **out)
{
	struct insert_slot *slot = &tb->ins[0];
	char part[128], *sql;
	int rc;

	for (size_t i = 0; i < INSERT_CACHE; i++) {
		if (tb->ins[i].st && tb->ins[i].day == day) {
			tb->ins[i].used = ++q->ins_clock;
			*out = tb->ins[i].st;
			return SQLITE_OK;
		}
		if (tb->ins[i].used < slot->used)
			slot = &tb->ins[i];
	}
	if (!partition_known(tb, day)) {
		rc = partition_create(q, tb, day);
		if (rc)
			return rc;
		tb->parts_changed = true;
	}
	sqlite3_finalize(slot->st);
	slot->st = NULL;
	slot->used = 0;
	partition_name(tb, day, part, sizeof(part));
	sql = sqlite3_mprintf(SQL_INSERT_FMT, part, tb->insert_cols, tb->insert_params);
	if (!sql)
		return SQLITE_NOMEM;
	rc = sqlite3_prepare_v3(q->wdb, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->st, NULL);
	sqlite3_free(sql);
	if (rc)
		return rc;
	slot->day = day;
	slot->used = ++q->ins_clock;
	*out = slot->st;
	return SQLITE_OK;
}

/* ---- percentile(x, p) ------------------------------------------------------------------- */

struct pct {
	double *v;
	size_t n, cap;
	double p;
	bool have_p;
};

static void pct_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct pct *a = sqlite3_aggregate_context(ctx, sizeof(*a));
	int xt;

	(void)argc;
	if (!a) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (!a->have_p) {
		int pt = sqlite3_value_numeric_type(argv[1]);
		double p = sqlite3_value_double(argv[1]);

		if ((pt != SQLITE_INTEGER && pt != SQLITE_FLOAT) || !(p >= 0.0 && p <= 1.0)) {
			sqlite3_result_error(ctx, "percentile: p must be a number in [0, 1]", -1);
			return;
		}
		a->p = p;
		a->have_p = true;
	}
	/* NULL and non-numeric values are skipped, as avg() skips NULL. */
	xt = sqlite3_value_numeric_type(argv[0]);
	if (xt != SQLITE_INTEGER && xt != SQLITE_FLOAT)
		return;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		double *v;

		if (cap > PCT_MAX_VALUES) {
			sqlite3_result_error(ctx, "percentile: too many values in one group", -1);
			return;
		}
		v = sqlite3_realloc64(a->v, cap * sizeof(*v));
		if (!v) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = sqlite3_value_double(argv[0]);
}

static void swap_d(double *v, size_t a, size_t b)
{
	double t = v[a];

	v[a] = v[b];
	v[b] = t;
}

/*
 * Hoare's selection: afterwards v[k] is the k-th smallest of v[0, n), nothing before it is
 * larger and nothing after it smaller. O(n) on average, where sorting was O(n log n).
 */
static void select_kth(double *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	while (hi > lo) {
		size_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
		double piv;

		if (v[mid] < v[lo])
			swap_d(v, lo, mid);
		if (v[hi] < v[lo])
			swap_d(v, lo, hi);
		if (v[hi] < v[mid])
			swap_d(v, mid, hi);
		piv = v[mid];
		while (i <= j) {
			while (v[i] < piv)
				i++;
			while (v[j] > piv)
				j--;
			if (i <= j) {
				swap_d(v, i, j);
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return;
	}
}

static void pct_final(sqlite3_context *ctx)
{
	struct pct *a = sqlite3_aggregate_context(ctx, 0);
	double h, lo_v, hi_v;
	size_t lo;

	if (!a || !a->n) {
		sqlite3_result_null(ctx);
		goto out;
	}
	h = a->p * (double)(a->n - 1);
	lo = (size_t)floor(h);
	select_kth(a->v, a->n, lo);
	lo_v = a->v[lo];
	hi_v = lo_v;
	if (lo + 1 < a->n) {
		/* the next rank is the smallest of what select_kth left above lo */
		hi_v = a->v[lo + 1];
		for (size_t i = lo + 2; i < a->n; i++)
			if (a->v[i] < hi_v)
				hi_v = a->v[i];
	}
	sqlite3_result_double(ctx, lo_v + (h - (double)lo) * (hi_v - lo_v));
out:
	if (a)
		sqlite3_free(a->v);
}

/* ---- connections ------------------------------------------------------------------------ */

/* User-derived queries may read and call functions, nothing else. */
static int query_authorizer(void *ud, int action, const char *a, const char *b, const char *c,
			    const char *d)
{
	(void)ud, (void)a, (void)b, (void)c, (void)d;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_FUNCTION:
	case SQLITE_RECURSIVE: return SQLITE_OK;
	default: return SQLITE_DENY;
	}
}

static int query_progress(void *ud)
{
	struct store_sqlite *q = ud;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > q->deadline.tv_sec ||
	    (now.tv_sec == q->deadline.tv_sec && now.tv_nsec >= q->deadline.tv_nsec)) {
		q->timed_out = true;
		return 1;
	}
	return 0;
}

static int open_write(struct store_sqlite *q)
{
	/* NOMUTEX: wlock already serialises every use of wdb (SQLite's own per-call mutex
	 * cost ~15% of ingest CPU: 37 binds + step + reset per row). */
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	sqlite3_stmt *st = NULL;
	bool existed = access(q->path, F_OK) == 0;
	int rc;

	rc = sqlite3_open_v2(q->path, &q->wdb, flags, NULL);
	if (rc)
		goto out;
	sqlite3_extended_result_codes(q->wdb, 1);
	sqlite3_busy_timeout(q->wdb, (int)q->busy_ms);
	if (!existed)
		(void)exec(q->wdb, SQL_PRAGMA_AUTO_VACUUM);
	/* journal_mode answers with the mode it ended up in: anything but wal is an error. */
	rc = sqlite3_prepare_v2(q->wdb, SQL_PRAGMA_WAL, -1, &st, NULL);
	if (rc)
		goto out;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		goto out;
	}
	if (sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal")) {
		rc = SQLITE_CANTOPEN;
		goto out;
	}
	rc = exec(q->wdb, SQL_PRAGMA_SYNC);
	if (!rc)
		rc = exec(q->wdb, SQL_PRAGMA_WRITE_CACHE);
	if (!rc)
		rc = exec(q->wdb, SQL_PRAGMA_CHECKPOINT);
	if (rc)
		goto out;
	if (!existed)
		fsync_dir(q->dir);
out:
	sqlite3_finalize(st);
	if (rc && q->wdb)
		set_err(q, q->wdb, "open");
	return rc;
}

static int open_read(struct store_sqlite *q)
{
	int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX; /* qlock serialises rdb */
	int rc;

	rc = sqlite3_open_v2(q->path, &q->rdb, flags, NULL);
	if (rc)
		goto out;
	sqlite3_extended_result_codes(q->rdb, 1);
	sqlite3_busy_timeout(q->rdb, (int)q->busy_ms);
	sqlite3_limit(q->rdb, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_limit(q->rdb, SQLITE_LIMIT_LENGTH, QUERY_MAX_LENGTH);
	rc = sqlite3_create_function_v2(q->rdb, "percentile", 2,
					SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
					NULL, pct_step, pct_final, NULL);
	if (rc)
		goto out;
	rc = sqlite3_set_authorizer(q->rdb, query_authorizer, NULL);
out:
	if (rc && q->rdb)
		set_err(q, q->rdb, "open read-only");
	return rc;
}

static size_t map_ncols(const struct store_row_map *m)
{
	return m->ncols + m->nmore;
}

/* The i-th column of a mapping: its cols, then its more_cols. */
static const char *map_col(const struct store_row_map *m, size_t i)
{
	return i < m->ncols ? m->cols[i] : m->more_cols[i - m->ncols];
}

/*
 * A table's column lists and its INSERT's placeholders, built once from the schema and
 * the table's row mapping. A mapped column missing from the schema, or a sparse or
 * ordered column (schema.h) without its own index, is a programming error (-EINVAL).
 */
static int table_setup(struct store_sqlite *q, struct sq_table *tb, const struct schema_table *t)
{
	sqlite3_str *ic = sqlite3_str_new(NULL), *ip = sqlite3_str_new(NULL);
	sqlite3_str *vc = sqlite3_str_new(NULL);
	const char *why = NULL;
	int err = 0;

	tb->t = t;
	for (size_t i = 0; store_row_maps[i].table; i++)
		if (!strcmp(store_row_maps[i].table, t->name))
			tb->map = &store_row_maps[i];
	for (size_t i = 0; tb->map && i < map_ncols(tb->map); i++) {
		const char *col = map_col(tb->map, i);

		if (!schema_find_column(t, col))
			why = "record column missing from the schema";
		sqlite3_str_appendf(ic, "%s\"%s\"", i ? ", " : "", col);
		sqlite3_str_appendf(ip, "%s?", i ? ", " : "");
	}
	for (size_t i = 0; i < t->ncolumns; i++) {
		bool indexed = false;

		sqlite3_str_appendf(vc, "%s\"%s\"", i ? ", " : "", t->columns[i].name);
		for (size_t x = 0; x < ARRAY_SIZE(sq_indexes); x++)
			indexed |= !strcmp(sq_indexes[x].table, t->name) &&
				   !sq_indexes[x].cols[1] &&
				   !strcmp(sq_indexes[x].cols[0], t->columns[i].name);
		if ((t->columns[i].flags & (SCHEMA_F_SPARSE | SCHEMA_F_ORDERED)) && !indexed)
			why = "sparse or ordered column without its index";
	}
	tb->insert_cols = sqlite3_str_finish(ic);
	tb->insert_params = sqlite3_str_finish(ip);
	tb->view_cols = sqlite3_str_finish(vc);
	/* An empty sqlite3_str finishes as NULL: only a table with a mapping has an INSERT. */
	if ((tb->map && (!tb->insert_cols || !tb->insert_params)) || !tb->view_cols)
		err = -ENOMEM;
	if (why && !err) {
		set_err(q, NULL, why);
		err = -EINVAL;
	}
	return err;
}

static void sq_close(struct store *s)
{
	struct store_sqlite *q = to_sq(s);

	if (!q)
		return;
	for (size_t i = 0; i < q->ntabs; i++)
		insert_cache_flush(&q->tabs[i]);
	tag_local_free(q->tl);
	sqlite3_close_v2(q->rdb);
	sqlite3_close_v2(q->wdb);
	for (size_t i = 0; i < q->ntabs; i++) {
		sqlite3_free(q->tabs[i].insert_cols);
		sqlite3_free(q->tabs[i].insert_params);
		sqlite3_free(q->tabs[i].view_cols);
		free(q->tabs[i].days);
	}
	free(q->path);
	free(q->dir);
	pthread_mutex_destroy(&q->wlock);
	pthread_mutex_destroy(&q->qlock);
	pthread_mutex_destroy(&q->elock);
	free(q);
}

static int sq_open(const struct store_cfg *cfg, struct store **out)
{
	struct store_sqlite *q;
	int err = 0;

	*out = NULL;
	if (!cfg->dir || !*cfg->dir || cfg->retention_days > STORE_MAX_RETENTION_DAYS)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	pthread_mutex_init(&q->wlock, NULL);
	pthread_mutex_init(&q->qlock, NULL);
	pthread_mutex_init(&q->elock, NULL);
	q->base.ops = &store_sqlite_ops;
	q->retention_days = cfg->retention_days ? cfg->retention_days : STORE_DEF_RETENTION_DAYS;
	q->busy_ms = cfg->busy_timeout_ms ? cfg->busy_timeout_ms : STORE_DEF_BUSY_MS;
	q->dir = strdup(cfg->dir);
	if (!q->dir || asprintf(&q->path, "%s/%s", cfg->dir, SQLITE_DB_FILE) < 0) {
		q->path = NULL;
		err = -ENOMEM;
		goto err;
	}
	for (size_t i = 0; schema_tables[i] && !err; i++) {
		if (q->ntabs == MAX_TABLES) {
			err = -E2BIG;
			break;
		}
		err = table_setup(q, &q->tabs[q->ntabs], schema_tables[i]);
		q->ntabs++;
	}
	if (err)
		goto err;
	for (size_t i = 0; i < q->ntabs; i++) {
		if (!strcmp(q->tabs[i].t->name, "l7_flow_log"))
			q->l7 = &q->tabs[i];
		else if (!strcmp(q->tabs[i].t->name, "l4_flow_log"))
			q->l4 = &q->tabs[i];
	}
	/* The network tables are found by the names the agent gives its rows. */
	for (int n = 0; n < NET_TABLES; n++) {
		for (size_t i = 0; i < q->ntabs; i++)
			if (!strcmp(q->tabs[i].t->name, net_table_name((uint8_t)n)))
				q->net[n] = &q->tabs[i];
		if (!q->net[n] || !q->net[n]->map) {
			err = -EINVAL;
			goto err;
		}
	}
	for (int n = 0; n < STAG__TABLES; n++) {
		for (size_t i = 0; i < q->ntabs; i++)
			if (!strcmp(q->tabs[i].t->db, "flow_tag") &&
			    !strcmp(q->tabs[i].t->name, store_tag_table_names[n]))
				q->tag[n] = &q->tabs[i];
		if (!q->tag[n] || !q->tag[n]->map) {
			err = -EINVAL;
			goto err;
		}
	}
	if (!q->l7 || !q->l7->map || !q->l4 || !q->l4->map) {
		err = -EINVAL;
		goto err;
	}
	err = mkdir_p(q->dir);
	if (err)
		goto err;
	err = sq_errno(open_write(q));
	if (err)
		goto err;
	q->tl = tag_local_new(q->wdb, 0);
	if (!q->tl) {
		err = -ENOMEM;
		goto err;
	}
	/* The read-only connection needs the WAL files the writer just made. */
	err = sq_errno(open_read(q));
	if (err)
		goto err;
	*out = &q->base;
	return 0;
err:
	sq_close(&q->base);
	return err;
}

/* ---- schema ------------------------------------------------------------------------------- */

/*
 * Version 1: the per-day partitioned layout. Partitions are created on demand and the view
 * is rebuilt on every open, so there is nothing to create here; later versions add their
 * steps to this table and never edit an applied one.
 */
static int migrate_v1(struct store_sqlite *q)
{
	(void)q;
	return SQLITE_OK;
}

/* Version 2: ingest sources and their last batch seq (exactly-once ingest). */
static int migrate_v2(struct store_sqlite *q)
{
	return exec(q->wdb, SQL_SOURCES_CREATE);
}

/*
 * Version 3: flow_log.l4_flow_log. Like every table's, its partitions come on demand and
 * its view is built on every open (sq_ensure_schema, right after the migrations, in the
 * same transaction), so a version 2 database gains an empty l4_flow_log here. The version
 * row is what matters: a flowscope that knows only version 2 refuses this database rather
 * than serving it without its l4 rows and never expiring their partitions.
 */
static int migrate_v3(struct store_sqlite *q)
{
	(void)q;
	return SQLITE_OK;
}

/*
 * Version 4: flow_metrics.network.1s / .1m and network_map.1s / .1m, the same way as
 * version 3: nothing to create here (an older database gains their four empty views on
 * this open), and a flowscope that knows only version 3 refuses the database rather than
 * serve it without them.
 */
static int migrate_v4(struct store_sqlite *q)
{
	(void)q;
	return SQLITE_OK;
}

/*
 * Version 5: the tag id columns of l7_flow_log and l4_flow_log (partitions grow them on
 * open, 0 in older rows) and the flow_tag dictionaries, the same way as version 3: an
 * older flowscope refuses the database rather than serve it without its tags.
 */
static int migrate_v5(struct store_sqlite *q)
{
	(void)q;
	return SQLITE_OK;
}

/*
 * Version 6: store-local tag numbers (sqlite_tag_local.h). The fact tables' tag id columns
 * hold a dense number per id instead of the 63-bit id (about 3x less room for the tags);
 * the query layer reads them through flow_tag_tag_local. Existing l7 and l4 partitions are
 * rewritten here, in the migration's transaction, so that every row holds numbers. An
 * older flowscope refuses the database: it would read the numbers as ids.
 */
static int migrate_v6(struct store_sqlite *q)
{
	struct sq_table *fact[2] = { q->l7, q->l4 };
	const char *cols[2 * STORE_TAG_NCOLS];
	char part[128];
	int rc = tag_local_create_table(q->wdb);

	for (size_t f = 0; f < 2 && !rc; f++) {
		struct sq_table *tb = fact[f];
		size_t n = 0;

		for (size_t c = 0; c < tb->t->ncolumns && n < ARRAY_SIZE(cols); c++)
			if (tb->t->columns[c].flags & SCHEMA_F_TAG_ID)
				cols[n++] = tb->t->columns[c].name;
		rc = partitions_load(q, tb);
		for (size_t d = 0; d < tb->ndays && !rc; d++) {
			partition_name(tb, tb->days[d], part, sizeof(part));
			/* a partition older than version 5 gains the columns first (NULL) */
			rc = partition_add_columns(q, tb, part);
			if (!rc)
				rc = tag_local_convert(q->wdb, part, tb->days[d], cols, n);
		}
	}
	return rc;
}

/*
 * Version 7: capture_nic on l7_flow_log and l4_flow_log (partitions grow it on open, empty
 * in older rows) and the packet observation points "c" and "s": an older flowscope refuses
 * the database rather than serve rows it cannot name.
 */
static int migrate_v7(struct store_sqlite *q)
{
	(void)q;
	return SQLITE_OK;
}

static const struct migration {
	int version;
	int (*apply)(struct store_sqlite *q);
} migrations[] = {
	{ 1, migrate_v1 }, { 2, migrate_v2 }, { 3, migrate_v3 }, { 4, migrate_v4 },
	{ 5, migrate_v5 }, { 6, migrate_v6 }, { 7, migrate_v7 },
};
_Static_assert(SCHEMA_VERSION == 7, "add the migration for the new version");

static int sq_ensure_schema(struct store *s)
{
	struct store_sqlite *q = to_sq(s);
	sqlite3_stmt *st = NULL;
	int64_t have = 0;
	char part[128];
	int rc, err = 0;

	pthread_mutex_lock(&q->wlock);
	rc = exec(q->wdb, SQL_BEGIN);
	if (rc) {
		set_err(q, q->wdb, "schema");
		err = sq_errno(rc);
		goto out;
	}
	rc = exec(q->wdb, SQL_SCHEMA_VERSION_CREATE);
	if (rc)
		goto rollback;
	rc = sqlite3_prepare_v2(q->wdb, SQL_SCHEMA_VERSION_GET, -1, &st, NULL);
	if (rc)
		goto rollback;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		goto rollback;
	have = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (have > SCHEMA_VERSION) {
		/* Written by a newer flowscope: do not guess at its layout. */
		err = -EPROTO;
		goto rollback;
	}
	for (size_t i = 0; i < ARRAY_SIZE(migrations); i++) {
		if (migrations[i].version <= have)
			continue;
		rc = migrations[i].apply(q);
		if (rc)
			goto rollback;
		rc = sqlite3_prepare_v2(q->wdb, SQL_SCHEMA_VERSION_ADD, -1, &st, NULL);
		if (rc)
			goto rollback;
		sqlite3_bind_int(st, 1, migrations[i].version);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		st = NULL;
		if (rc != SQLITE_DONE)
			goto rollback;
	}
	/* Idempotent on every open, for every table: partitions grow new schema columns, keep
	 * their indexes, and each view matches its partitions on disk (a table new to this
	 * database gets its empty view here). */
	rc = partitions_load_all(q);
	for (size_t t = 0; t < q->ntabs && !rc; t++) {
		struct sq_table *tb = &q->tabs[t];

		for (size_t i = 0; i < tb->ndays && !rc; i++) {
			partition_name(tb, tb->days[i], part, sizeof(part));
			rc = partition_add_columns(q, tb, part);
			if (!rc)
				rc = partition_indexes(q, tb, part);
		}
		if (!rc)
			rc = view_rebuild(q, tb);
	}
	if (rc)
		goto rollback;
	rc = exec(q->wdb, SQL_COMMIT);
	if (rc)
		goto rollback;
	goto out;
rollback:
	sqlite3_finalize(st);
	if (!err) {
		set_err(q, q->wdb, "schema");
		err = sq_errno(rc);
	} else {
		set_err(q, NULL, "database schema is newer than this program");
	}
	(void)exec(q->wdb, SQL_ROLLBACK);
	(void)partitions_load_all(q);
	tag_local_reset(q->tl);
out:
	q->st.partitions = partitions_total(q);
	pthread_mutex_unlock(&q->wlock);
	return err;
}

/* ---- writes ---------------------------------------------------------------------------- */

static int bind_value(sqlite3_stmt *st, int idx, const struct store_value *v)
{
	switch (v->type) {
	case STORE_INT: return sqlite3_bind_int64(st, idx, v->i);
	case STORE_REAL: return sqlite3_bind_double(st, idx, v->d);
	case STORE_TEXT:
		return sqlite3_bind_text64(st, idx, v->s ? v->s : "", v->s ? v->len : 0,
					   SQLITE_STATIC, SQLITE_UTF8);
	default: return sqlite3_bind_null(st, idx);
	}
}

/*
 * Inside the write transaction: SQLITE_DONE when src->seq is new (and now recorded),
 * SQLITE_ROW when it is a resend, or an SQLite error.
 */
static int source_advance(struct store_sqlite *q, const struct store_batch_src *src)
{
	sqlite3_stmt *st = NULL;
	int rc;

	/* SQLite integers are signed: seq above INT64_MAX would not compare as sent. */
	if (src->seq > INT64_MAX)
		return SQLITE_MISMATCH;
	rc = sqlite3_prepare_v2(q->wdb, SQL_SOURCE_GET, -1, &st, NULL);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, src->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (uint64_t)sqlite3_column_int64(st, 0) >= src->seq) {
		sqlite3_finalize(st);
		return SQLITE_ROW;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return rc;
	rc = sqlite3_prepare_v2(q->wdb, SQL_SOURCE_SET, -1, &st, NULL);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, src->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)src->seq);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc;
}

/* One row of a table, inside the write transaction: SQLITE_DONE or an error. v is in the
 * order of the table's row mapping; time_s (the time column) picks the partition. */
static int insert_row(struct store_sqlite *q, struct sq_table *tb, const struct store_value *v,
		      int64_t time_s)
{
	sqlite3_stmt *st;
	int rc;

	rc = insert_stmt(q, tb, floor_div(time_s, DAY_S), &st);
	if (rc)
		return rc;
	for (size_t c = 0; c < map_ncols(tb->map) && !rc; c++)
		rc = bind_value(st, (int)c + 1, &v[c]);
	if (!rc)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc;
}

/*
 * Both sides' tag ids of a row (STORE_TAG_NCOLS values each, from tags) replaced by their
 * store-local numbers; the kind columns stay. Inside the write transaction: SQLITE_OK or
 * an error.
 */
static int local_tag_ids(struct store_sqlite *q, struct store_value *tags, int64_t time_s)
{
	int64_t day = floor_div(time_s, DAY_S);
	int rc = SQLITE_OK;

	for (int i = 0; i < 2 * STORE_TAG_NCOLS && !rc; i++) {
		int c = i % STORE_TAG_NCOLS;

		if (c == TAGC_AUTO_SERVICE_TYPE || c == TAGC_AUTO_INSTANCE_TYPE ||
		    tags[i].type != STORE_INT)
			continue;
		rc = tag_local_map(q->tl, tags[i].i, day, &tags[i].i);
	}
	return rc;
}

static enum store_result sq_write_batch(struct store *s, const struct store_batch_src *src,
					const struct store_batch *b)
{
	struct store_sqlite *q = to_sq(s);
	struct store_value v7[L7C__MAX], v4[L4C__MAX], vn[STORE_NET_MAX_COLS];
	struct store_addr_buf ab;
	struct store_l4_buf lb;
	struct store_net_buf nb;
	enum store_result res = STORE_OK;
	size_t n = b->n7 + b->n4 + b->nnet; /* records; the tagger counts its own rows */
	int rc = SQLITE_DONE;

	pthread_mutex_lock(&q->wlock);
	for (size_t t = 0; t < q->ntabs; t++)
		q->tabs[t].parts_changed = false;
	rc = exec(q->wdb, SQL_BEGIN);
	if (rc)
		goto fail;
	if (src) {
		rc = source_advance(q, src);
		if (rc == SQLITE_ROW) {
			(void)exec(q->wdb, SQL_ROLLBACK);
			q->st.batches_duplicate++;
			res = STORE_DUPLICATE;
			goto out;
		}
		if (rc != SQLITE_DONE)
			goto rollback;
	}
	/* Every kind in this one transaction, with the source's seq: a batch is stored whole
	 * or not at all, and its resend is a duplicate for every table at once. */
	for (size_t i = 0; i < b->n7; i++) {
		store_l7_row(&b->l7[i], b->l7_id_seq + i, v7, &ab);
		rc = local_tag_ids(q, &v7[L7C_TAGS_0], v7[L7C_TIME].i);
		if (!rc)
			rc = insert_row(q, q->l7, v7, v7[L7C_TIME].i);
		if (rc != SQLITE_DONE)
			goto rollback;
	}
	for (size_t i = 0; i < b->n4; i++) {
		store_l4_row(&b->l4[i], v4, &lb);
		rc = local_tag_ids(q, &v4[L4C_TAGS_0], v4[L4C_TIME].i);
		if (!rc)
			rc = insert_row(q, q->l4, v4, v4[L4C_TIME].i);
		if (rc != SQLITE_DONE)
			goto rollback;
	}
	/* Both key layouts start with the time column. store_write_rows refused tables
	 * out of range. */
	_Static_assert(NETC_TIME == 0 && NMAPC_TIME == 0, "time is the first network column");
	for (size_t i = 0; i < b->nnet; i++) {
		store_net_row(&b->net[i], vn, &nb);
		rc = insert_row(q, q->net[b->net[i].k.table], vn, vn[0].i);
		if (rc != SQLITE_DONE)
			goto rollback;
	}
	/* The tagger's dictionary rows, with the rows that name their ids. */
	for (size_t i = 0; i < b->ntags; i++) {
		rc = insert_row(q, q->tag[b->tags[i].table], b->tags[i].v, b->tags[i].v[0].i);
		if (rc != SQLITE_DONE)
			goto rollback;
	}
	rc = SQLITE_OK;
	for (size_t t = 0; t < q->ntabs && !rc; t++)
		if (q->tabs[t].parts_changed)
			rc = view_rebuild(q, &q->tabs[t]);
	if (rc)
		goto rollback;
	rc = exec(q->wdb, SQL_COMMIT);
	if (rc)
		goto rollback;
	q->st.rows_written += n;
	q->st.batches++;
	goto out;
rollback:
	set_err(q, q->wdb, "write");
	(void)exec(q->wdb, SQL_ROLLBACK);
	/* The rollback may have undone numbers the cache now holds. */
	tag_local_reset(q->tl);
	/* The rollback undid any partition this batch created. */
	for (size_t t = 0; t < q->ntabs; t++)
		if (q->tabs[t].parts_changed)
			(void)partitions_load(q, &q->tabs[t]);
	goto count;
fail:
	set_err(q, q->wdb, "write");
count:
	res = sq_result(rc);
	if (res == STORE_RETRY) {
		q->st.batches_retry++;
	} else {
		q->st.batches_dropped++;
		q->st.rows_dropped += n;
	}
out:
	q->st.partitions = partitions_total(q);
	pthread_mutex_unlock(&q->wlock);
	return res;
}

/* Retention, for every table at once in one transaction. */
static int sq_drop_expired(struct store *s, int64_t now_s)
{
	struct store_sqlite *q = to_sq(s);
	/* A day goes once all of it is older than the retention: d + 1 <= today - R. */
	int64_t last_drop = floor_div(now_s, DAY_S) - q->retention_days - 1;
	size_t ndrop[MAX_TABLES] = { 0 }, total = 0;
	char part[128];
	int rc = SQLITE_OK;

	pthread_mutex_lock(&q->wlock);
	for (size_t t = 0; t < q->ntabs; t++) {
		struct sq_table *tb = &q->tabs[t];

		while (ndrop[t] < tb->ndays && tb->days[ndrop[t]] <= last_drop)
			ndrop[t]++;
		total += ndrop[t];
		/* Finalized first: cached INSERTs into a dropped table would only fail later. */
		if (ndrop[t])
			insert_cache_flush(tb);
	}
	if (!total)
		goto out;
	rc = exec(q->wdb, SQL_BEGIN);
	if (rc)
		goto out;
	for (size_t t = 0; t < q->ntabs && !rc; t++) {
		struct sq_table *tb = &q->tabs[t];

		if (!ndrop[t])
			continue;
		for (size_t i = 0; i < ndrop[t] && !rc; i++) {
			partition_name(tb, tb->days[i], part, sizeof(part));
			rc = execf(q->wdb, SQL_DROP_PARTITION_FMT, part);
		}
		if (!rc) {
			memmove(tb->days, tb->days + ndrop[t],
				(tb->ndays - ndrop[t]) * sizeof(*tb->days));
			tb->ndays -= ndrop[t];
			rc = view_rebuild(q, tb);
		}
	}
	/* Numbers of the dropped days only: every row that holds one is gone. */
	if (!rc)
		rc = tag_local_expire(q->tl, last_drop);
	if (!rc)
		rc = exec(q->wdb, SQL_COMMIT);
	if (rc) {
		set_err(q, q->wdb, "drop expired");
		(void)exec(q->wdb, SQL_ROLLBACK);
		(void)partitions_load_all(q);
		tag_local_reset(q->tl);
		goto out;
	}
	q->st.partitions_dropped += total;
	/* Give the dropped tables' pages back to the file system (auto_vacuum databases). */
	(void)exec(q->wdb, SQL_INCREMENTAL_VACUUM);
out:
	q->st.partitions = partitions_total(q);
	pthread_mutex_unlock(&q->wlock);
	return rc ? sq_errno(rc) : (int)total;
}

static int sq_stats(struct store *s, struct store_stats *out)
{
	struct store_sqlite *q = to_sq(s);

	pthread_mutex_lock(&q->wlock);
	*out = q->st;
	out->partitions = partitions_total(q);
	pthread_mutex_unlock(&q->wlock);
	out->bytes_on_disk =
		file_size(q->path, "") + file_size(q->path, "-wal") + file_size(q->path, "-shm");
	return 0;
}

/* ---- queries ------------------------------------------------------------------------------ */

/* True when text after the first statement holds another one (not just ; or comments). */
static bool more_statements(sqlite3 *db, const char *tail)
{
	while (tail && *tail) {
		sqlite3_stmt *st = NULL;
		const char *next = NULL;
		int rc = sqlite3_prepare_v2(db, tail, -1, &st, &next);

		sqlite3_finalize(st);
		if (rc || st)
			return true;
		if (!next || next == tail)
			break;
		tail = next;
	}
	return false;
}

static void column_value(sqlite3_stmt *st, int i, struct store_value *v)
{
	memset(v, 0, sizeof(*v));
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		v->type = STORE_INT;
		v->i = sqlite3_column_int64(st, i);
		break;
	case SQLITE_FLOAT:
		v->type = STORE_REAL;
		v->d = sqlite3_column_double(st, i);
		break;
	case SQLITE_TEXT:
		v->type = STORE_TEXT;
		v->s = (const char *)sqlite3_column_text(st, i);
		v->len = (size_t)sqlite3_column_bytes(st, i);
		break;
	case SQLITE_BLOB:
		v->type = STORE_TEXT;
		v->s = sqlite3_column_blob(st, i);
		v->len = (size_t)sqlite3_column_bytes(st, i);
		if (!v->s)
			v->s = "";
		break;
	default: v->type = STORE_NULL;
	}
}

/*
 * Partition pruning: sql with its `FROM "<view>"` replaced by only the day partitions of
 * that view's table that overlap [lo, hi): one table under the view's name, a UNION ALL of
 * a few, or no rows. Without this, each partition's branch of the view is searched, which
 * matters once the plan walks an index other than time's (see the span-list rewrite in
 * src/query). The FROM is found by text: src/query writes it once and binds every
 * literal, so no user text can contain it. NULL (use sql as it is) when no view's FROM is
 * there exactly once, or several views' are; *oom on failure.
 */
static char *scope_to_partitions(struct store_sqlite *q, const char *sql, int64_t lo, int64_t hi,
				 bool *oom)
{
	const struct sq_table *tb = NULL;
	char from[160], part[128], *out;
	const char *at = NULL, *end;
	int64_t *days = NULL;
	size_t n = 0, ndays;
	sqlite3_str *s;

	*oom = false;
	for (size_t t = 0; t < q->ntabs; t++) {
		const char *hit;

		snprintf(from, sizeof(from), " FROM \"%s\"", q->tabs[t].t->store_name);
		hit = strstr(sql, from);
		if (!hit)
			continue;
		end = hit + strlen(from);
		if (tb || strstr(hit + 1, from) || (*end && *end != ' '))
			return NULL;
		tb = &q->tabs[t];
		at = hit;
	}
	if (!tb)
		return NULL;
	snprintf(from, sizeof(from), " FROM \"%s\"", tb->t->store_name);
	end = at + strlen(from);
	pthread_mutex_lock(&q->wlock);
	ndays = tb->ndays;
	if (ndays) {
		days = malloc(ndays * sizeof(*days));
		for (size_t i = 0; days && i < ndays; i++)
			if (tb->days[i] * DAY_S < hi && (tb->days[i] + 1) * DAY_S > lo)
				days[n++] = tb->days[i];
	}
	pthread_mutex_unlock(&q->wlock);
	if (ndays && !days) {
		*oom = true;
		return NULL;
	}
	s = sqlite3_str_new(q->rdb);
	sqlite3_str_append(s, sql, (int)(at - sql));
	sqlite3_str_appendall(s, " FROM ");
	if (n == 1) {
		partition_name(tb, days[0], part, sizeof(part));
		sqlite3_str_appendf(s, "\"%s\" AS \"%s\"", part, tb->t->store_name);
	} else if (n == 0) {
		/* Nothing in range: the view's columns, and no rows. */
		sqlite3_str_appendf(s, "(SELECT * FROM \"%s\" WHERE 0) AS \"%s\"",
				    tb->t->store_name, tb->t->store_name);
	} else {
		sqlite3_str_appendall(s, "(");
		for (size_t i = 0; i < n; i++) {
			partition_name(tb, days[i], part, sizeof(part));
			if (i)
				sqlite3_str_appendall(s, SQL_VIEW_UNION);
			sqlite3_str_appendf(s, SQL_VIEW_PART_FMT, tb->view_cols, part);
		}
		sqlite3_str_appendf(s, ") AS \"%s\"", tb->t->store_name);
	}
	sqlite3_str_appendall(s, end);
	free(days);
	out = sqlite3_str_finish(s);
	if (!out)
		*oom = true;
	return out;
}

static int sq_query(struct store *s, const char *sql, const struct store_value *params,
		    size_t nparams, const struct store_limits *lim, store_columns_fn on_columns,
		    store_row_fn on_row, void *ctx)
{
	struct store_sqlite *q = to_sq(s);
	uint64_t max_rows = lim ? lim->max_rows : 0, rows = 0;
	struct store_value *vals = NULL;
	const char **names = NULL;
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	char *scoped = NULL;
	bool oom = false;
	int rc, ncols, err = 0;

	if (lim && lim->has_time_range) {
		scoped = scope_to_partitions(q, sql, lim->time_lo, lim->time_hi, &oom);
		if (oom)
			return -ENOMEM;
		if (scoped)
			sql = scoped;
	}
	pthread_mutex_lock(&q->qlock);
	set_err(q, NULL, "");
	rc = sqlite3_prepare_v2(q->rdb, sql, -1, &st, &tail);
	if (rc) {
		set_err(q, q->rdb, "query");
		err = (rc & 0xff) == SQLITE_AUTH ? -EPERM : sq_errno(rc);
		goto out;
	}
	if (!st) {
		set_err(q, NULL, "query: empty statement");
		err = -EINVAL;
		goto out;
	}
	if (more_statements(q->rdb, tail)) {
		set_err(q, NULL, "query: more than one statement");
		err = -EINVAL;
		goto out;
	}
	/* The authorizer already refuses writes; this holds even if it is ever loosened. */
	if (!sqlite3_stmt_readonly(st)) {
		set_err(q, NULL, "query: not a read-only statement");
		err = -EPERM;
		goto out;
	}
	if ((size_t)sqlite3_bind_parameter_count(st) != nparams) {
		set_err(q, NULL, "query: parameter count does not match the statement");
		err = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < nparams && !rc; i++)
		rc = bind_value(st, (int)i + 1, &params[i]);
	if (rc) {
		set_err(q, q->rdb, "query: bind");
		err = sq_errno(rc);
		goto out;
	}
	ncols = sqlite3_column_count(st);
	names = calloc((size_t)ncols + 1, sizeof(*names));
	vals = calloc((size_t)ncols + 1, sizeof(*vals));
	if (!names || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < ncols; i++) {
		names[i] = sqlite3_column_name(st, i);
		if (!names[i]) {
			err = -ENOMEM;
			goto out;
		}
	}
	if (on_columns) {
		err = on_columns(ctx, (size_t)ncols, names);
		if (err)
			goto out;
	}
	q->timed_out = false;
	if (lim && lim->timeout_ms) {
		clock_gettime(CLOCK_MONOTONIC, &q->deadline);
		q->deadline.tv_sec += (time_t)(lim->timeout_ms / 1000);
		q->deadline.tv_nsec += (long)(lim->timeout_ms % 1000) * 1000000L;
		if (q->deadline.tv_nsec >= 1000000000L) {
			q->deadline.tv_sec++;
			q->deadline.tv_nsec -= 1000000000L;
		}
		sqlite3_progress_handler(q->rdb, PROGRESS_OPS, query_progress, q);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int r;

		if (max_rows && rows == max_rows) {
			set_err(q, NULL, "query: row limit reached");
			err = -E2BIG;
			break;
		}
		rows++;
		if (!on_row)
			continue;
		for (int i = 0; i < ncols; i++)
			column_value(st, i, &vals[i]);
		r = on_row(ctx, vals, (size_t)ncols);
		if (r) {
			err = r < 0 ? r : 0;
			break;
		}
	}
	if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE) {
		set_err(q, q->rdb, q->timed_out ? "query: timeout" : "query");
		err = q->timed_out ? -ETIME : sq_errno(rc);
	}
	sqlite3_progress_handler(q->rdb, 0, NULL, NULL);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->qlock);
	sqlite3_free(scoped);
	free(names);
	free(vals);
	return err;
}

static const char *sq_errmsg(struct store *s)
{
	return to_sq(s)->err;
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.caps = STORE_CAP_SQL | STORE_CAP_PERCENTILE | STORE_CAP_PARTITIONS |
		STORE_CAP_LOCAL_TAG_IDS,
	.open = sq_open,
	.close = sq_close,
	.ensure_schema = sq_ensure_schema,
	.write_batch = sq_write_batch,
	.query = sq_query,
	.drop_expired = sq_drop_expired,
	.stats = sq_stats,
	.errmsg = sq_errmsg,
};
