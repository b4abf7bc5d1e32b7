/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ClickHouse store backend, over ClickHouse's HTTP interface (ch_http.c), for
 * ClickHouse 18.16 and later.
 *
 * Layout, in the URL's database: every schema table (schema.h) is one MergeTree table
 * under its store_name, PARTITION BY intDiv(time, 86400) (one partition per UTC day, as
 * the SQLite backend's day tables) and ORDER BY time. The time column is Int64; the tag id
 * and kind columns (SCHEMA_F_FEW) are LowCardinality(Int64), 0 for none; every other
 * column is Nullable (Int64, Float64 or String by its schema type) because the schema's
 * NULLs (response_code without a response, ip6_0 of an IPv4 row) must come back as NULL.
 * Tables are created once: a database made before tag columns were LowCardinality keeps
 * its Nullable(Int64) ones, which read and write the same, only larger (docs/tagging.md).
 * With ?cluster=NAME the MergeTree table is <store_name>_local on this server and
 * <store_name> is a Distributed table over every shard's _local table: this server writes
 * its own shard, queries read all of them. Retention drops whole partitions
 * (ALTER TABLE ... DROP PARTITION; 18.16 has no TTL), found in system.parts.
 *
 * Writes: one INSERT ... FORMAT TabSeparated per table per batch, built in a reused,
 * capped buffer. ClickHouse has no transactions, so "every row or none" and exactly-once
 * are approached this way (docs/server.md states the guarantee):
 *   - ingest_sources (source, seq) holds each source's last complete batch; a batch whose
 *     seq is not above it is STORE_DUPLICATE.
 *   - ingest_parts (source, seq, tbl) records each table of a numbered batch once its
 *     INSERT succeeded; a resend of a batch that failed half-way skips those tables.
 *   - the source's seq is written last, after every table.
 * What remains: if the server dies (or the connection breaks) after a table's INSERT
 * succeeded but before its ingest_parts row is written, the resend stores that table's
 * rows of that batch a second time. A batch whose rows span several days is several
 * parts in one table, which ClickHouse 18.16 does not commit atomically.
 *
 * Queries: the backend SQL (src/query with dialect ClickHouse, or the contract test's) has
 * its `?` replaced by escaped literals built here from the parameters (ch_format.c), never
 * from user text, and runs with readonly=1 so that ClickHouse itself refuses any write;
 * max_execution_time and a client timeout bound it, and a query stopped at the client is
 * killed on the server by its query_id. Results stream as TabSeparatedWithNamesAndTypes
 * and are parsed line by line from the curl callback: only one line is held at a time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/l4_record.h"
#include "agent/net_meter.h"
#include "agent/record.h"
#include "store/ch_format.h"
#include "store/ch_http.h"
#include "store/schema.h"
#include "store/store.h"
#include "store/store_clickhouse.h"

#define CH_SCHEMA_VERSION 1
#define MAX_TABLES	  16
#define DAY_S		  86400
#define INSERT_CAP	  (256u << 20) /* bytes of one table's INSERT body */
#define SQL_CAP		  (4u << 20)   /* bytes of one statement after rewriting */
#define LINE_CAP	  (64u << 20)  /* bytes of one result line */
#define DDL_TIMEOUT_MS	  60000
#define WRITE_TIMEOUT_MS  60000
#define FORMAT_PARAM	  "default_format=TabSeparatedWithNamesAndTypes"
/* 18.16 refuses LowCardinality columns (col_type) in CREATE and ALTER ... ADD COLUMN
 * without it; later releases accept it as an obsolete setting. */
#define DDL_SETTINGS "allow_experimental_low_cardinality_type=1"
/* ClickHouse's max_partitions_per_insert_block default: an INSERT touching more day
 * partitions fails whole. Checked before anything is written, so that such a batch is
 * refused before any of its tables took rows. */
#define MAX_DAYS_PER_INSERT 100

struct ch_table {
	const struct schema_table *t;
	const struct store_row_map *map; /* NULL: nothing writes it */
	char data[96];			 /* the MergeTree table: store_name[_local] */
	char *insert_params;		 /* "database=..&query=INSERT..." URL-encoded */
	struct ch_buf rows;		 /* this batch's TabSeparated rows */
	size_t nrows;
	int64_t days[MAX_DAYS_PER_INSERT + 1]; /* distinct days of those rows, up to one too many */
	size_t ndays;
};

struct store_ch {
	struct store base;
	struct ch_url url;
	char base_url[300];
	uint32_t retention_days;

	pthread_mutex_t wlock; /* w, tables' buffers, st */
	struct ch_http *w;
	struct ch_table tabs[MAX_TABLES];
	size_t ntabs;
	struct ch_table *l7, *l4, *net[NET_TABLES];
	struct ch_table *tag[STAG__TABLES]; /* by enum store_tag_table */
	struct store_stats st;
	bool schema_lost; /* a write found a table or the database missing: ensure again */

	pthread_mutex_t qlock; /* q, query_seq */
	struct ch_http *q;
	uint64_t query_seq;

	pthread_mutex_t elock;
	char err[512];
};

static struct store_ch *to_ch(struct store *s)
{
	return (struct store_ch *)s;
}

static void set_err(struct store_ch *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct store_ch *c, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&c->elock);
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&c->elock);
}

/*
 * ClickHouse's error text without its wrapping: "Code: 47, e.displayText() =
 * DB::Exception: Missing columns: 'x' ..., e.what() = DB::Exception" -> "Missing columns:
 * 'x' ...".
 */
static void clean_error(const char *in, char *out, size_t cap)
{
	const char *p = strstr(in, "DB::Exception: ");
	const char *e;
	size_t n;

	p = p ? p + 15 : in;
	e = strstr(p, ", e.what()");
	n = e ? (size_t)(e - p) : strlen(p);
	while (n && (p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	snprintf(out, cap, "%.*s", (int)n, p);
}

static void set_http_err(struct store_ch *c, const char *what, const struct ch_http_result *r)
{
	char msg[512];

	clean_error(r->error, msg, sizeof(msg));
	if (!r->status)
		set_err(c, "%s: %s", what, msg);
	else
		set_err(c, "%s: %s (ClickHouse code %d, HTTP %ld)", what, msg,
			ch_error_code(r->error), r->status);
}

/* ---- URL ---------------------------------------------------------------------------- */

static bool name_ok(const char *s, size_t n)
{
	if (!n || n > CH_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

int ch_parse_url(const char *url, struct ch_url *out, char *err, size_t errlen)
{
	const char *p, *colon, *slash, *q;
	char *end;
	unsigned long port;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (!url || strncmp(url, "clickhouse://", 13))
		goto bad;
	p = url + 13;
	slash = strchr(p, '/');
	if (!slash)
		goto bad;
	colon = memchr(p, ':', (size_t)(slash - p));
	if (!colon)
		goto bad;
	hl = (size_t)(colon - p);
	if (!hl || hl >= sizeof(out->host))
		goto bad;
	for (size_t i = 0; i < hl; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '-'))
			goto bad;
	memcpy(out->host, p, hl);
	port = strtoul(colon + 1, &end, 10);
	if (end != slash || colon + 1 == slash || port < 1 || port > 65535)
		goto bad;
	out->port = (unsigned int)port;
	q = strchr(slash + 1, '?');
	if (!name_ok(slash + 1, q ? (size_t)(q - slash - 1) : strlen(slash + 1)))
		goto bad;
	memcpy(out->db, slash + 1, q ? (size_t)(q - slash - 1) : strlen(slash + 1));
	if (q) {
		if (strncmp(q, "?cluster=", 9) || !name_ok(q + 9, strlen(q + 9)))
			goto bad;
		strcpy(out->cluster, q + 9);
	}
	return 0;
bad:
	if (err && errlen)
		snprintf(err, errlen,
			 "store '%.80s': expected clickhouse://HOST:PORT/DB[?cluster=NAME] (PORT "
			 "the HTTP port, DB and NAME of letters, digits and _)",
			 url ? url : "");
	return -EINVAL;
}

/* ---- statements ------------------------------------------------------------------------ */

/* "database=DB&<extra>&query=<sql>" with sql URL-encoded; NULL on failure. */
static char *params_with_query(struct store_ch *c, struct ch_http *h, const char *extra,
			       const char *sql)
{
	char *enc = sql ? ch_http_escape(h, sql, strlen(sql)) : NULL, *out = NULL;

	if (sql && !enc)
		return NULL;
	if (asprintf(&out, "database=%s%s%s%s%s", c->url.db, extra ? "&" : "", extra ? extra : "",
		     enc ? "&query=" : "", enc ? enc : "") < 0)
		out = NULL;
	ch_http_free_str(enc);
	return out;
}

/* Map a failed exchange to -errno for int-returning functions. */
static int http_errno(const struct ch_http_result *r, int rc)
{
	int code;

	if (rc == -ETIMEDOUT)
		return -ETIME;
	if (rc)
		return rc == -ECONNREFUSED ? -EIO : rc;
	if (r->status == 200)
		return 0;
	code = ch_error_code(r->error);
	switch (code) {
	case 164: /* READONLY */
	case 497: /* ACCESS_DENIED */ return -EPERM;
	case 159: /* TIMEOUT_EXCEEDED */ return -ETIME;
	case 241: /* MEMORY_LIMIT_EXCEEDED */ return -ENOMEM;
	case 202: /* TOO_MANY_SIMULTANEOUS_QUERIES */ return -EBUSY;
	case 1:	  /* UNSUPPORTED_METHOD */
	case 16:  /* NO_SUCH_COLUMN_IN_TABLE */
	case 35:  /* TOO_LESS_ARGUMENTS_FOR_FUNCTION */
	case 42:  /* NUMBER_OF_ARGUMENTS_DOESNT_MATCH */
	case 43:  /* ILLEGAL_TYPE_OF_ARGUMENT */
	case 44:  /* ILLEGAL_COLUMN */
	case 46:  /* UNKNOWN_FUNCTION */
	case 47:  /* UNKNOWN_IDENTIFIER */
	case 48:  /* NOT_IMPLEMENTED */
	case 53:  /* TYPE_MISMATCH */
	case 59:  /* ILLEGAL_TYPE_OF_COLUMN_FOR_FILTER */
	case 60:  /* UNKNOWN_TABLE */
	case 62:  /* SYNTAX_ERROR */
	case 63:  /* UNKNOWN_AGGREGATE_FUNCTION */
	case 70:  /* CANNOT_CONVERT_TYPE */
	case 73:  /* UNKNOWN_FORMAT */
	case 80:  /* INCORRECT_QUERY */
	case 81:  /* UNKNOWN_DATABASE */
	case 153: /* ILLEGAL_DIVISION */
	case 184: /* ILLEGAL_AGGREGATION */
	case 215: /* NOT_AN_AGGREGATE */
	case 386: /* NO_COMMON_TYPE */
	case 395: /* FUNCTION_THROW_IF_VALUE_IS_NON_ZERO */ return -EINVAL;
	default: return -EIO;
	}
}

/* One statement whose answer is not needed (DDL, small INSERTs). 0 or -errno. */
static int exec_sql(struct store_ch *c, struct ch_http *h, bool in_db, const char *sql,
		    const char *body, size_t len, const char *what)
{
	struct ch_http_result r;
	char *params;
	int rc;

	if (in_db) {
		params = params_with_query(c, h, DDL_SETTINGS, sql);
	} else {
		char *enc = ch_http_escape(h, sql, strlen(sql));

		params = NULL;
		if (enc && asprintf(&params, "query=%s", enc) < 0)
			params = NULL;
		ch_http_free_str(enc);
	}
	if (!params)
		return -ENOMEM;
	rc = ch_http_post(h, params, body, len, DDL_TIMEOUT_MS, NULL, NULL, &r);
	free(params);
	rc = http_errno(&r, rc);
	if (rc)
		set_http_err(c, what, &r);
	return rc;
}

static int execf(struct store_ch *c, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int execf(struct store_ch *c, const char *what, const char *fmt, ...)
{
	va_list ap;
	char *sql;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&sql, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -ENOMEM;
	rc = exec_sql(c, c->w, true, sql, NULL, 0, what);
	free(sql);
	return rc;
}

/* The curl data callback of a result: into the TabSeparated parser. */
static int feed_tsv(void *ctx, const char *p, size_t n)
{
	return ch_tsv_feed(ctx, p, n);
}

/* A small SELECT of our own (not user-derived) on the write handle, rows to fn. */
static int select_rows(struct store_ch *c, const char *what, ch_row_fn fn, void *ctx,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int select_rows(struct store_ch *c, const char *what, ch_row_fn fn, void *ctx,
		       const char *fmt, ...)
{
	struct ch_tsv_parser ps;
	struct ch_http_result r;
	char *sql = NULL, *params = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&sql, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -ENOMEM;
	params = params_with_query(c, c->w, FORMAT_PARAM, NULL);
	if (!params) {
		free(sql);
		return -ENOMEM;
	}
	ch_tsv_init(&ps, LINE_CAP, NULL, fn, ctx);
	rc = ch_http_post(c->w, params, sql, strlen(sql), DDL_TIMEOUT_MS, feed_tsv, &ps, &r);
	if (!rc && r.status == 200)
		rc = ch_tsv_finish(&ps);
	else if (rc == -ECANCELED)
		rc = ps.err;
	else
		rc = http_errno(&r, rc);
	if (rc && !r.error[0])
		snprintf(r.error, sizeof(r.error), "%s", strerror(-rc));
	if (rc)
		set_http_err(c, what, &r);
	ch_tsv_free(&ps);
	free(params);
	free(sql);
	return rc;
}

/* ---- schema ------------------------------------------------------------------------------ */

static const char *col_type(const struct schema_table *t, const struct schema_column *col)
{
	if (t->time_column && !strcmp(col->name, t->time_column))
		return "Int64";
	/* Tag ids and kinds: a dictionary per part instead of LZ4 over random 8-byte values
	 * (x4.15 less disk on the tags' share, docs/benchmarks.md); 0 is none, never NULL. */
	if (col->type == SCHEMA_INT && (col->flags & SCHEMA_F_FEW))
		return "LowCardinality(Int64)";
	switch (col->type) {
	case SCHEMA_INT: return "Nullable(Int64)";
	case SCHEMA_REAL: return "Nullable(Float64)";
	default: return "Nullable(String)";
	}
}

static int get_int(void *ctx, const struct store_value *v, size_t n)
{
	int64_t *out = ctx;

	if (n >= 1 && v[0].type == STORE_INT)
		*out = v[0].i;
	return 0;
}

struct have_cols {
	const struct schema_table *t;
	bool *have;
};

static int note_col(void *ctx, const struct store_value *v, size_t n)
{
	struct have_cols *h = ctx;

	if (n < 1 || v[0].type != STORE_TEXT)
		return 0;
	for (size_t i = 0; i < h->t->ncolumns; i++)
		if (strlen(h->t->columns[i].name) == v[0].len &&
		    !memcmp(h->t->columns[i].name, v[0].s, v[0].len))
			h->have[i] = true;
	return 0;
}

/* Add the schema's columns that table `name` lacks, each after its schema predecessor. */
static int add_columns(struct store_ch *c, const struct schema_table *t, const char *name)
{
	struct have_cols h = { .t = t, .have = calloc(t->ncolumns, sizeof(bool)) };
	int rc;

	if (!h.have)
		return -ENOMEM;
	rc = select_rows(c, "schema", note_col, &h,
			 "SELECT name FROM system.columns WHERE database = '%s' AND table = '%s'",
			 c->url.db, name);
	for (size_t i = 0; i < t->ncolumns && !rc; i++) {
		if (h.have[i])
			continue;
		if (i)
			rc = execf(c, "schema",
				   "ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s AFTER \"%s\"", name,
				   t->columns[i].name, col_type(t, &t->columns[i]),
				   t->columns[i - 1].name);
		else
			rc = execf(c, "schema", "ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s", name,
				   t->columns[i].name, col_type(t, &t->columns[i]));
	}
	free(h.have);
	return rc;
}

static int create_table(struct store_ch *c, const struct ch_table *tb)
{
	const struct schema_table *t = tb->t;
	struct ch_buf b;
	int rc;

	ch_buf_init(&b, SQL_CAP);
	ch_buf_printf(&b, "CREATE TABLE IF NOT EXISTS \"%s\" (", tb->data);
	for (size_t i = 0; i < t->ncolumns; i++)
		ch_buf_printf(&b, "%s\"%s\" %s", i ? ", " : "", t->columns[i].name,
			      col_type(t, &t->columns[i]));
	ch_buf_printf(&b, ") ENGINE = MergeTree PARTITION BY intDiv(\"%s\", %d) ORDER BY \"%s\"",
		      t->time_column, DAY_S, t->time_column);
	if (b.failed) {
		ch_buf_free(&b);
		return -ENOMEM;
	}
	rc = exec_sql(c, c->w, true, b.p, NULL, 0, "schema");
	ch_buf_free(&b);
	if (!rc)
		rc = add_columns(c, t, tb->data);
	if (!rc && c->url.cluster[0]) {
		rc = execf(c, "schema",
			   "CREATE TABLE IF NOT EXISTS \"%s\" AS \"%s\" ENGINE = "
			   "Distributed(%s, %s, %s, rand())",
			   t->store_name, tb->data, c->url.cluster, c->url.db, tb->data);
		if (!rc)
			rc = add_columns(c, t, t->store_name);
	}
	return rc;
}

/*
 * Version 1: the tables of schema.c (created or grown on every open, like the SQLite
 * backend's partitions and views), ingest_sources and ingest_parts. Later versions add
 * steps here; a database of a newer flowscope is refused (-EPROTO).
 */
static int ch_ensure_locked(struct store_ch *c)
{
	int64_t have = 0;
	char sql[160];
	int rc;

	snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS \"%s\"", c->url.db);
	rc = exec_sql(c, c->w, false, sql, NULL, 0, "schema");
	if (!rc)
		rc = execf(c, "schema",
			   "CREATE TABLE IF NOT EXISTS schema_version (version UInt32, applied_at "
			   "DateTime) ENGINE = MergeTree ORDER BY version");
	if (!rc)
		rc = select_rows(c, "schema", get_int, &have,
				 "SELECT toInt64(max(version)) FROM schema_version");
	if (rc)
		return rc;
	if (have > CH_SCHEMA_VERSION) {
		set_err(c, "database schema is newer than this program (version %" PRId64 ")",
			have);
		return -EPROTO;
	}
	rc = execf(c, "schema",
		   "CREATE TABLE IF NOT EXISTS ingest_sources (source String, seq UInt64, "
		   "updated DateTime) ENGINE = ReplacingMergeTree(seq) ORDER BY source");
	if (!rc)
		rc = execf(c, "schema",
			   "CREATE TABLE IF NOT EXISTS ingest_parts (source String, seq UInt64, "
			   "tbl String) ENGINE = MergeTree ORDER BY (source, seq)");
	for (size_t i = 0; i < c->ntabs && !rc; i++)
		rc = create_table(c, &c->tabs[i]);
	if (!rc && have < CH_SCHEMA_VERSION)
		rc = execf(c, "schema", "INSERT INTO schema_version VALUES (%d, now())",
			   CH_SCHEMA_VERSION);
	if (!rc)
		c->schema_lost = false;
	return rc;
}

static int ch_ensure_schema(struct store *s)
{
	struct store_ch *c = to_ch(s);
	int rc;

	pthread_mutex_lock(&c->wlock);
	rc = ch_ensure_locked(c);
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

struct two_ints {
	int64_t a, b;
};

static int get_two(void *ctx, const struct store_value *v, size_t n)
{
	struct two_ints *t = ctx;

	if (n >= 2) {
		t->a = v[0].type == STORE_INT ? v[0].i : 0;
		t->b = v[1].type == STORE_INT ? v[1].i : 0;
	}
	return 0;
}

/* ---- writes ------------------------------------------------------------------------------ */

/* Failures that may pass (server down or overloaded, disk full, a table being dropped or
 * missing after a ClickHouse reinstall) are RETRY; data ClickHouse cannot parse is DROP. */
static enum store_result write_result(struct store_ch *c, const struct ch_http_result *r, int rc)
{
	if (rc || !r->status)
		return STORE_RETRY;
	switch (ch_error_code(r->error)) {
	case 6:	  /* CANNOT_PARSE_TEXT */
	case 26:  /* CANNOT_PARSE_QUOTED_STRING */
	case 27:  /* CANNOT_PARSE_INPUT_ASSERTION_FAILED */
	case 32:  /* ATTEMPT_TO_READ_AFTER_EOF */
	case 33:  /* CANNOT_READ_ALL_DATA */
	case 53:  /* TYPE_MISMATCH */
	case 69:  /* ARGUMENT_OUT_OF_BOUND */
	case 70:  /* CANNOT_CONVERT_TYPE */
	case 72:  /* CANNOT_PARSE_NUMBER */
	case 117: /* INCORRECT_DATA */
	case 131: /* TOO_LARGE_STRING_SIZE */ return STORE_DROP;
	case 16: /* NO_SUCH_COLUMN_IN_TABLE */
	case 60: /* UNKNOWN_TABLE */
	case 81: /* UNKNOWN_DATABASE */ c->schema_lost = true; return STORE_RETRY;
	default: return STORE_RETRY;
	}
}

/* A source id as an SQL literal (it is agent-provided text). */
static int src_literal(const struct store_batch_src *src, struct ch_buf *b)
{
	struct store_value v = { .type = STORE_TEXT, .s = src->id, .len = strlen(src->id) };

	ch_buf_init(b, 4 * STORE_SRC_ID_MAX + 8);
	ch_sql_literal(b, &v);
	return b->failed ? -ENOMEM : 0;
}

struct done_tables {
	struct store_ch *c;
	bool done[MAX_TABLES];
};

static int note_done(void *ctx, const struct store_value *v, size_t n)
{
	struct done_tables *d = ctx;

	for (size_t i = 0; n && v[0].type == STORE_TEXT && i < d->c->ntabs; i++)
		if (strlen(d->c->tabs[i].t->store_name) == v[0].len &&
		    !memcmp(d->c->tabs[i].t->store_name, v[0].s, v[0].len))
			d->done[i] = true;
	return 0;
}

/* v[0] is the time column in every row mapping (store.h). */
static void add_row(struct ch_table *tb, const struct store_value *v, size_t n)
{
	int64_t day = v[0].i / DAY_S - (v[0].i % DAY_S < 0);
	size_t d = 0;

	while (d < tb->ndays && tb->days[d] != day)
		d++;
	if (d == tb->ndays && tb->ndays <= MAX_DAYS_PER_INSERT)
		tb->days[tb->ndays++] = day;
	for (size_t i = 0; i < n; i++) {
		if (i)
			ch_buf_add(&tb->rows, "\t", 1);
		ch_tsv_value(&tb->rows, &v[i]);
	}
	ch_buf_add(&tb->rows, "\n", 1);
	tb->nrows++;
}

static enum store_result ch_write_batch(struct store *s, const struct store_batch_src *src,
					const struct store_batch *b)
{
	struct store_ch *c = to_ch(s);
	struct store_value v7[L7C__MAX], v4[L4C__MAX], vn[STORE_NET_MAX_COLS];
	struct store_addr_buf ab;
	struct store_l4_buf lb;
	struct store_net_buf nb;
	struct done_tables done = { .c = c };
	struct ch_http_result r;
	struct ch_buf lit = { 0 };
	enum store_result res = STORE_OK;
	size_t n = b->n7 + b->n4 + b->nnet; /* records; the tagger counts its own rows */
	int rc = 0;

	pthread_mutex_lock(&c->wlock);
	if (c->schema_lost) {
		rc = ch_ensure_locked(c);
		if (rc) {
			res = STORE_RETRY;
			goto count;
		}
	}
	if (src) {
		struct two_ints last = { 0 };

		if (src_literal(src, &lit) || src->seq > INT64_MAX) {
			set_err(c, "write: bad source");
			res = STORE_DROP;
			goto count;
		}
		rc = select_rows(c, "write", get_two, &last,
				 "SELECT toInt64(max(seq)), toInt64(count()) FROM ingest_sources "
				 "WHERE source = %s",
				 lit.p);
		if (rc) {
			res = STORE_RETRY;
			goto count;
		}
		if (last.b > 0 && (uint64_t)last.a >= src->seq) {
			c->st.batches_duplicate++;
			res = STORE_DUPLICATE;
			goto out;
		}
		rc = select_rows(c, "write", note_done, &done,
				 "SELECT DISTINCT tbl FROM ingest_parts WHERE source = %s AND "
				 "seq = %" PRIu64,
				 lit.p, src->seq);
		if (rc) {
			res = STORE_RETRY;
			goto count;
		}
	}
	for (size_t t = 0; t < c->ntabs; t++) {
		ch_buf_reset(&c->tabs[t].rows);
		c->tabs[t].nrows = 0;
		c->tabs[t].ndays = 0;
	}
	for (size_t i = 0; i < b->n7; i++) {
		store_l7_row(&b->l7[i], b->l7_id_seq + i, v7, &ab);
		add_row(c->l7, v7, L7C__MAX);
	}
	for (size_t i = 0; i < b->n4; i++) {
		store_l4_row(&b->l4[i], v4, &lb);
		add_row(c->l4, v4, L4C__MAX);
	}
	for (size_t i = 0; i < b->nnet; i++) {
		size_t nv = store_net_row(&b->net[i], vn, &nb);

		add_row(c->net[b->net[i].k.table], vn, nv);
	}
	for (size_t i = 0; i < b->ntags; i++)
		add_row(c->tag[b->tags[i].table], b->tags[i].v,
			store_tag_table_ncols[b->tags[i].table]);
	for (size_t t = 0; t < c->ntabs; t++) {
		if (c->tabs[t].rows.failed) {
			set_err(c, "write: batch larger than the insert buffer (%u MiB per table)",
				INSERT_CAP >> 20);
			res = STORE_DROP;
			goto count;
		}
		if (c->tabs[t].ndays > MAX_DAYS_PER_INSERT) {
			set_err(c, "write: %s rows over more than %d days in one batch",
				c->tabs[t].t->name, MAX_DAYS_PER_INSERT);
			res = STORE_DROP;
			goto count;
		}
	}
	for (size_t t = 0; t < c->ntabs; t++) {
		struct ch_table *tb = &c->tabs[t];

		if (!tb->nrows || done.done[t])
			continue;
		rc = ch_http_post(c->w, tb->insert_params, tb->rows.p, tb->rows.len,
				  WRITE_TIMEOUT_MS, NULL, NULL, &r);
		if (rc || r.status != 200) {
			set_http_err(c, "write", &r);
			res = write_result(c, &r, rc);
			goto count;
		}
		if (src) {
			rc = execf(c, "write",
				   "INSERT INTO ingest_parts VALUES (%s, %" PRIu64 ", '%s')", lit.p,
				   src->seq, tb->t->store_name);
			if (rc) {
				res = STORE_RETRY;
				goto count;
			}
		}
	}
	if (src) {
		rc = execf(c, "write", "INSERT INTO ingest_sources VALUES (%s, %" PRIu64 ", now())",
			   lit.p, src->seq);
		if (rc) {
			res = STORE_RETRY;
			goto count;
		}
	}
	c->st.rows_written += n;
	c->st.batches++;
	goto out;
count:
	if (res == STORE_RETRY) {
		c->st.batches_retry++;
	} else {
		c->st.batches_dropped++;
		c->st.rows_dropped += n;
	}
out:
	pthread_mutex_unlock(&c->wlock);
	ch_buf_free(&lit);
	return res;
}

/* ---- retention, stats ------------------------------------------------------------------- */

/* "table IN ('a', 'b', ...)" over the MergeTree tables. */
static void data_tables_in(struct store_ch *c, struct ch_buf *b)
{
	ch_buf_puts(b, "table IN (");
	for (size_t i = 0; i < c->ntabs; i++)
		ch_buf_printf(b, "%s'%s'", i ? ", " : "", c->tabs[i].data);
	ch_buf_puts(b, ")");
}

struct part_list {
	struct store_ch *c;
	int64_t last_drop;
	struct {
		size_t tab;
		int64_t day;
	} * v;
	size_t n, cap;
	int err;
};

static int note_part(void *ctx, const struct store_value *v, size_t n)
{
	struct part_list *pl = ctx;
	int64_t day;

	if (n < 2 || v[0].type != STORE_TEXT || v[1].type != STORE_TEXT)
		return 0;
	{
		char tmp[32];

		snprintf(tmp, sizeof(tmp), "%.*s", (int)(v[1].len < 31 ? v[1].len : 31), v[1].s);
		day = strtoll(tmp, NULL, 10);
	}
	if (day > pl->last_drop)
		return 0;
	for (size_t t = 0; t < pl->c->ntabs; t++) {
		if (strlen(pl->c->tabs[t].data) != v[0].len ||
		    memcmp(pl->c->tabs[t].data, v[0].s, v[0].len))
			continue;
		if (pl->n == pl->cap) {
			size_t cap = pl->cap ? pl->cap * 2 : 16;
			void *nv = realloc(pl->v, cap * sizeof(*pl->v));

			if (!nv)
				return -ENOMEM;
			pl->v = nv;
			pl->cap = cap;
		}
		pl->v[pl->n].tab = t;
		pl->v[pl->n].day = day;
		pl->n++;
	}
	return 0;
}

static int ch_drop_expired(struct store *s, int64_t now_s)
{
	struct store_ch *c = to_ch(s);
	/* A day goes once all of it is older than the retention, as in store_sqlite.c. */
	struct part_list pl = { .c = c,
				.last_drop = now_s / DAY_S - (now_s % DAY_S < 0) -
					     (int64_t)c->retention_days - 1 };
	struct ch_buf in;
	int rc, dropped = 0;

	ch_buf_init(&in, SQL_CAP);
	data_tables_in(c, &in);
	pthread_mutex_lock(&c->wlock);
	rc = in.failed ? -ENOMEM
		       : select_rows(c, "drop expired", note_part, &pl,
				     "SELECT table, partition FROM system.parts WHERE database = "
				     "'%s' AND active AND %s GROUP BY table, partition",
				     c->url.db, in.p);
	for (size_t i = 0; i < pl.n && !rc; i++) {
		rc = execf(c, "drop expired", "ALTER TABLE \"%s\" DROP PARTITION %" PRId64,
			   c->tabs[pl.v[i].tab].data, pl.v[i].day);
		if (!rc)
			dropped++;
	}
	c->st.partitions_dropped += (uint64_t)dropped;
	pthread_mutex_unlock(&c->wlock);
	free(pl.v);
	ch_buf_free(&in);
	return rc ? rc : dropped;
}

static int ch_stats(struct store *s, struct store_stats *out)
{
	struct store_ch *c = to_ch(s);
	struct two_ints parts = { 0 }, bytes = { 0 };
	struct ch_buf in;
	int rc;

	ch_buf_init(&in, SQL_CAP);
	data_tables_in(c, &in);
	pthread_mutex_lock(&c->wlock);
	*out = c->st;
	rc = in.failed ? -ENOMEM
		       : select_rows(c, "stats", get_two, &parts,
				     "SELECT toInt64(uniqExact(table, partition)), toInt64(0) FROM "
				     "system.parts WHERE database = '%s' AND active AND %s",
				     c->url.db, in.p);
	if (!rc)
		rc = select_rows(c, "stats", get_two, &bytes,
				 "SELECT toInt64(sum(bytes_on_disk)), toInt64(count()) FROM "
				 "system.parts WHERE database = '%s' AND active",
				 c->url.db);
	pthread_mutex_unlock(&c->wlock);
	out->partitions = (uint64_t)parts.a;
	out->bytes_on_disk = (uint64_t)bytes.a;
	ch_buf_free(&in);
	return rc;
}

/* ---- queries ------------------------------------------------------------------------------ */

struct qstate {
	store_columns_fn on_columns;
	store_row_fn on_row;
	void *ctx;
	uint64_t max_rows, rows;
	bool e2big, user_stop;
	int user_err;
};

static int q_names(void *ctx, size_t n, const char *const *names)
{
	struct qstate *q = ctx;
	int r = q->on_columns ? q->on_columns(q->ctx, n, names) : 0;

	if (r < 0)
		q->user_err = r;
	return r ? -1 : 0;
}

static int q_row(void *ctx, const struct store_value *v, size_t n)
{
	struct qstate *q = ctx;
	int r;

	if (q->max_rows && q->rows == q->max_rows) {
		q->e2big = true;
		return 1;
	}
	q->rows++;
	if (!q->on_row)
		return 0;
	r = q->on_row(q->ctx, v, n);
	if (r > 0)
		q->user_stop = true;
	if (r < 0)
		q->user_err = r;
	return r ? 1 : 0;
}

/* Stop a query the client gave up on: ClickHouse would otherwise run it to its end. */
static void kill_query(struct store_ch *c, const char *qid)
{
	struct ch_http_result r;
	char sql[160], *enc, *params = NULL;

	snprintf(sql, sizeof(sql), "KILL QUERY WHERE query_id = '%s' ASYNC", qid);
	enc = ch_http_escape(c->q, sql, strlen(sql));
	if (enc && asprintf(&params, "query=%s", enc) >= 0)
		(void)ch_http_post(c->q, params, NULL, 0, 5000, NULL, NULL, &r);
	ch_http_free_str(enc);
	free(params);
}

static int ch_query(struct store *s, const char *sql, const struct store_value *params,
		    size_t nparams, const struct store_limits *lim, store_columns_fn on_columns,
		    store_row_fn on_row, void *ctx)
{
	struct store_ch *c = to_ch(s);
	struct qstate qs = { .on_columns = on_columns,
			     .on_row = on_row,
			     .ctx = ctx,
			     .max_rows = lim ? lim->max_rows : 0 };
	uint64_t timeout_ms = lim ? lim->timeout_ms : 0;
	struct ch_tsv_parser ps;
	struct ch_http_result r;
	struct ch_buf text;
	const char *why = "";
	char extra[256], qid[64], *p = NULL;
	int rc;

	ch_buf_init(&text, SQL_CAP);
	rc = ch_rewrite_sql(sql, params, nparams, &text, &why);
	if (rc) {
		set_err(c, "query: %s", why);
		ch_buf_free(&text);
		return rc;
	}
	pthread_mutex_lock(&c->qlock);
	set_err(c, "%s", "");
	snprintf(qid, sizeof(qid), "flowscope-%d-%" PRIu64, (int)getpid(), ++c->query_seq);
	/* readonly=1: ClickHouse refuses every write and setting change itself. */
	snprintf(extra, sizeof(extra),
		 FORMAT_PARAM "&query_id=%s&max_execution_time=%" PRIu64 "&readonly=1", qid,
		 timeout_ms ? (timeout_ms + 999) / 1000 : 0);
	p = params_with_query(c, c->q, extra, NULL);
	if (!p) {
		rc = -ENOMEM;
		goto out;
	}
	ch_tsv_init(&ps, LINE_CAP, q_names, q_row, &qs);
	rc = ch_http_post(c->q, p, text.p, text.len, timeout_ms, feed_tsv, &ps, &r);
	/*
	 * A kept-alive connection that ClickHouse closed (keep_alive_timeout) just as it was
	 * reused fails before any answer: a query has no effect, so it is sent once more on
	 * a new connection. Writes are not (their INSERT may have been done).
	 */
	if (rc == -EIO && r.conn_dropped && ps.state == 0 && !ps.line.len)
		rc = ch_http_post(c->q, p, text.p, text.len, timeout_ms, feed_tsv, &ps, &r);
	if (rc == -ECANCELED || (!rc && r.status == 200)) {
		int perr = rc ? ps.err : ch_tsv_finish(&ps);

		if (qs.user_err) {
			rc = qs.user_err;
		} else if (ps.server_error) {
			set_err(c, "query: the server failed while sending rows");
			rc = -EIO;
		} else if (perr) {
			set_err(c, "query: malformed result (%s)", strerror(-perr));
			rc = perr;
		} else if (qs.e2big) {
			set_err(c, "query: row limit reached");
			rc = -E2BIG;
		} else if (!rc && ps.state < 2) {
			set_err(c, "query: no result header");
			rc = -EPROTO;
		} else {
			rc = 0;
		}
		if (rc == -E2BIG || qs.user_stop)
			kill_query(c, qid);
	} else if (rc == -ETIMEDOUT || (!rc && ch_error_code(r.error) == 159)) {
		set_err(c, "query: timeout");
		if (rc)
			kill_query(c, qid);
		rc = -ETIME;
	} else {
		int err = http_errno(&r, rc);

		set_http_err(c, "query", &r);
		rc = err ? err : -EIO;
	}
	ch_tsv_free(&ps);
out:
	pthread_mutex_unlock(&c->qlock);
	free(p);
	ch_buf_free(&text);
	return rc;
}

static const char *ch_errmsg(struct store *s)
{
	return to_ch(s)->err;
}

/* ---- open, close --------------------------------------------------------------------------- */

static void ch_close(struct store *s)
{
	struct store_ch *c = to_ch(s);

	if (!c)
		return;
	for (size_t i = 0; i < c->ntabs; i++) {
		free(c->tabs[i].insert_params);
		ch_buf_free(&c->tabs[i].rows);
	}
	ch_http_free(c->w);
	ch_http_free(c->q);
	pthread_mutex_destroy(&c->wlock);
	pthread_mutex_destroy(&c->qlock);
	pthread_mutex_destroy(&c->elock);
	free(c);
}

/* The INSERT of a table, URL-encoded once: its columns in the row mapping's order. */
static int table_setup(struct store_ch *c, struct ch_table *tb, const struct schema_table *t)
{
	struct ch_buf b;

	tb->t = t;
	snprintf(tb->data, sizeof(tb->data), "%s%s", t->store_name,
		 c->url.cluster[0] ? "_local" : "");
	ch_buf_init(&tb->rows, INSERT_CAP);
	for (size_t i = 0; store_row_maps[i].table; i++)
		if (!strcmp(store_row_maps[i].table, t->name))
			tb->map = &store_row_maps[i];
	if (!tb->map)
		return 0;
	ch_buf_init(&b, SQL_CAP);
	ch_buf_printf(&b, "INSERT INTO \"%s\" (", tb->data);
	for (size_t i = 0; i < tb->map->ncols + tb->map->nmore; i++) {
		const char *col = i < tb->map->ncols ? tb->map->cols[i]
						     : tb->map->more_cols[i - tb->map->ncols];

		if (!schema_find_column(t, col)) {
			ch_buf_free(&b);
			set_err(c, "record column %s missing from the schema", col);
			return -EINVAL;
		}
		ch_buf_printf(&b, "%s\"%s\"", i ? ", " : "", col);
	}
	ch_buf_puts(&b, ") FORMAT TabSeparated");
	tb->insert_params = b.failed ? NULL : params_with_query(c, c->w, NULL, b.p);
	ch_buf_free(&b);
	return tb->insert_params ? 0 : -ENOMEM;
}

static int ch_open(const struct store_cfg *cfg, struct store **out)
{
	struct store_ch *c;
	int err = 0;

	*out = NULL;
	if (!cfg->url || cfg->retention_days > STORE_MAX_RETENTION_DAYS)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->wlock, NULL);
	pthread_mutex_init(&c->qlock, NULL);
	pthread_mutex_init(&c->elock, NULL);
	c->base.ops = &store_clickhouse_ops;
	c->retention_days = cfg->retention_days ? cfg->retention_days : STORE_DEF_RETENTION_DAYS;
	err = ch_parse_url(cfg->url, &c->url, c->err, sizeof(c->err));
	if (err)
		goto err;
	snprintf(c->base_url, sizeof(c->base_url), "http://%s:%u", c->url.host, c->url.port);
	c->w = ch_http_new(c->base_url);
	c->q = ch_http_new(c->base_url);
	if (!c->w || !c->q) {
		err = -ENOMEM;
		goto err;
	}
	for (size_t i = 0; schema_tables[i] && !err; i++) {
		if (c->ntabs == MAX_TABLES) {
			err = -E2BIG;
			break;
		}
		err = table_setup(c, &c->tabs[c->ntabs], schema_tables[i]);
		c->ntabs++;
	}
	if (err)
		goto err;
	for (size_t i = 0; i < c->ntabs; i++) {
		if (!strcmp(c->tabs[i].t->name, "l7_flow_log"))
			c->l7 = &c->tabs[i];
		else if (!strcmp(c->tabs[i].t->name, "l4_flow_log"))
			c->l4 = &c->tabs[i];
	}
	for (int n = 0; n < NET_TABLES; n++) {
		for (size_t i = 0; i < c->ntabs; i++)
			if (!strcmp(c->tabs[i].t->name, net_table_name((uint8_t)n)))
				c->net[n] = &c->tabs[i];
		if (!c->net[n] || !c->net[n]->map) {
			err = -EINVAL;
			goto err;
		}
	}
	for (int n = 0; n < STAG__TABLES; n++) {
		for (size_t i = 0; i < c->ntabs; i++)
			if (!strcmp(c->tabs[i].t->db, "flow_tag") &&
			    !strcmp(c->tabs[i].t->name, store_tag_table_names[n]))
				c->tag[n] = &c->tabs[i];
		if (!c->tag[n] || !c->tag[n]->map) {
			err = -EINVAL;
			goto err;
		}
	}
	if (!c->l7 || !c->l7->map || !c->l4 || !c->l4->map) {
		err = -EINVAL;
		goto err;
	}
	*out = &c->base;
	return 0;
err:
	ch_close(&c->base);
	return err;
}

const struct store_ops store_clickhouse_ops = {
	.name = "clickhouse",
	.caps = STORE_CAP_SQL | STORE_CAP_PERCENTILE | STORE_CAP_PARTITIONS,
	.open = ch_open,
	.close = ch_close,
	.ensure_schema = ch_ensure_schema,
	.write_batch = ch_write_batch,
	.query = ch_query,
	.drop_expired = ch_drop_expired,
	.stats = ch_stats,
	.errmsg = ch_errmsg,
};
