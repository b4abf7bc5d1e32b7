/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP API of flowscope-server. A single libmicrohttpd access handler collects each
 * request body (bounded by max_body, 413 beyond) and then dispatches on method and path.
 * Query answers are built in one growable buffer: arrays are written here, every string
 * goes through jsonw so that escaping and the repair of invalid UTF-8 live in one place.
 * Every outcome of ingest and query is counted, and /metrics prints those counters with
 * the store's own statistics.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "common/jsonw.h"
#include "common/log.h"
#include "common/version.h"
#include "query/sql.h"
#include "query/tag_names.h"
#include "query/trace.h"
#include "server/agents.h"
#include "server/http_api.h"
#include "store/store.h"
#include "tag/k8s_cache.h"
#include "tag/tagger.h"
#include "wire/wire.h"

/* Agents keep one connection each; queries come and go. */
#define HTTP_MAX_CONNECTIONS 64
/* Handler threads: a long query must not hold up agents' ingest, nor one agent another. */
#define HTTP_THREADS 4
/* Agents remembered for /v1/agents. */
#define HTTP_MAX_AGENTS 1024

enum ingest_result {
	ING_OK,
	ING_DUPLICATE,
	ING_BAD,
	ING_RETRY,
	ING_TOO_LARGE,
	ING_DROPPED,
	ING__MAX
};
static const char *const ingest_result_names[ING__MAX] = { "ok",    "duplicate", "bad",
							   "retry", "too_large", "dropped" };

/* Upper bounds (seconds) of the ingest latency histogram's buckets; +Inf is implied. */
static const double ingest_lat_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					    0.1,   0.25,   0.5,	  1,	2.5 };
#define ING_LAT_BUCKETS (sizeof(ingest_lat_bounds) / sizeof(ingest_lat_bounds[0]))

enum query_result { QRY_OK, QRY_REFUSED, QRY_ERROR, QRY__MAX };
static const char *const query_result_names[QRY__MAX] = { "ok", "refused", "error" };

enum trace_result { TRC_OK, TRC_NOT_FOUND, TRC_REFUSED, TRC_ERROR, TRC__MAX };
static const char *const trace_result_names[TRC__MAX] = { "ok", "not_found", "refused", "error" };

struct http_api {
	struct MHD_Daemon *mhd;
	struct http_api_cfg cfg;
	char listen[64];
	_Atomic uint64_t ingest_batches[ING__MAX];
	_Atomic uint64_t ingest_rows;
	_Atomic uint64_t ingest_bytes;
	_Atomic uint64_t query_total[QRY__MAX];
	_Atomic uint64_t query_us_sum;
	_Atomic uint64_t trace_total[TRC__MAX];
	_Atomic uint64_t trace_us_sum; /* successful assemblies */
	_Atomic uint64_t trace_spans;  /* spans they returned */
	_Atomic uint64_t trace_truncated;
	_Atomic uint64_t too_large; /* 413s on every path, ingest included */
	/* Time from a complete ingest body to its answer (decode + durable store). */
	_Atomic uint64_t ingest_lat_count[ING_LAT_BUCKETS + 1]; /* per bucket, not cumulative */
	_Atomic uint64_t ingest_us_sum;
	struct agent_registry *agents;
	struct tag_names *names; /* tag ids to names for query results, cached */
	uint64_t started_mono_us;
	/*
	 * One ingest body decoded at a time: a decoded batch takes up to WIRE_MAX_RECORDS
	 * records of ~3 KiB, and the store serialises writes anyway, so this bounds ingest
	 * memory to one batch without costing throughput.
	 */
	pthread_mutex_t ingest_lock;
};

/* Per-request state, kept in MHD's con_cls between calls of the access handler. */
struct req {
	char *body;
	size_t len;
	size_t cap;
	bool too_large;
};

/* A growable output buffer; oom latches so that callers check once at the end. */
struct obuf {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
};

static void cnt_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static uint64_t cnt_get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static uint64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t mono_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

static void ob_put(struct obuf *b, const char *s, size_t n)
{
	char *np;
	size_t ncap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 1024;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void ob_puts(struct obuf *b, const char *s)
{
	ob_put(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) ob_printf(struct obuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->oom = true;
		return;
	}
	ob_put(b, tmp, (size_t)n);
}

/*
 * A JSON string value. jsonw only writes object members, so the string is written as the
 * member "s" of a scratch object and copied without the 5 bytes of `{"s":`: escaping and
 * UTF-8 repair stay jsonw's alone.
 */
static void ob_jstr(struct obuf *b, struct jsonw *scratch, const char *s, size_t len)
{
	jsonw_begin(scratch);
	jsonw_str(scratch, "s", s, len);
	if (scratch->oom || scratch->len < 5) {
		b->oom = true;
		return;
	}
	ob_put(b, scratch->buf + 5, scratch->len - 5);
}

static void ob_free(struct obuf *b)
{
	free(b->p);
	*b = (struct obuf){ 0 };
}

static enum MHD_Result send_body(struct MHD_Connection *conn, unsigned int status,
				 const char *ctype, const char *body, size_t len, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_obuf(struct MHD_Connection *conn, unsigned int status, struct obuf *b)
{
	static const char oom[] = "{\"error\":\"out of memory\"}\n";

	if (b->oom)
		return send_body(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", oom,
				 sizeof(oom) - 1, NULL);
	return send_body(conn, status, "application/json", b->p, b->len, NULL);
}

static enum MHD_Result send_error_allow(struct MHD_Connection *conn, unsigned int status,
					const char *allow, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum MHD_Result send_error_allow(struct MHD_Connection *conn, unsigned int status,
					const char *allow, const char *fmt, ...)
{
	struct jsonw w = { 0 };
	char msg[1024];
	enum MHD_Result ret;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jsonw_begin(&w);
	jsonw_cstr(&w, "error", msg);
	if (jsonw_end(&w)) {
		jsonw_free(&w);
		return MHD_NO;
	}
	ret = send_body(conn, status, "application/json", w.buf, w.len, allow);
	jsonw_free(&w);
	return ret;
}

#define send_error(conn, status, ...) send_error_allow((conn), (status), NULL, __VA_ARGS__)

/* ---- request bodies: form and JSON ---- */

struct query_req {
	char *db;
	size_t db_len;
	char *sql;
	size_t sql_len;
};

static void query_req_free(struct query_req *q)
{
	free(q->db);
	free(q->sql);
	*q = (struct query_req){ 0 };
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode [s, s + n) ('+' is a space) into a new NUL-terminated buffer. */
static int form_decode(const char *s, size_t n, char **out, size_t *out_len, char *err,
		       size_t errlen)
{
	char *d = malloc(n + 1);
	size_t i, j = 0;
	int hi, lo;

	if (!d)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			d[j++] = ' ';
		} else if (s[i] == '%') {
			hi = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
			lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "form body: bad percent escape");
				free(d);
				return -EINVAL;
			}
			d[j++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			d[j++] = s[i];
		}
	}
	d[j] = '\0';
	*out = d;
	*out_len = j;
	return 0;
}

static int set_field(struct query_req *q, const char *key, size_t klen, char *val, size_t vlen,
		     char *err, size_t errlen)
{
	char **dst;
	size_t *dlen;

	if (klen == 2 && !memcmp(key, "db", 2)) {
		dst = &q->db;
		dlen = &q->db_len;
	} else if (klen == 3 && !memcmp(key, "sql", 3)) {
		dst = &q->sql;
		dlen = &q->sql_len;
	} else {
		snprintf(err, errlen, "unknown field '%.*s' (expected db and sql)",
			 (int)(klen > 64 ? 64 : klen), key);
		free(val);
		return -EINVAL;
	}
	if (*dst) {
		snprintf(err, errlen, "field '%.*s' given twice", (int)klen, key);
		free(val);
		return -EINVAL;
	}
	*dst = val;
	*dlen = vlen;
	return 0;
}

static int parse_form(const char *body, size_t len, struct query_req *q, char *err, size_t errlen)
{
	const char *p = body, *end = body + len, *amp, *eq;
	char *key, *val;
	size_t klen, vlen;
	int rc;

	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (!amp)
			amp = end;
		if (amp == p) { /* empty pair, as in "a=1&&b=2": skip */
			p++;
			continue;
		}
		eq = memchr(p, '=', (size_t)(amp - p));
		if (!eq)
			eq = amp;
		rc = form_decode(p, (size_t)(eq - p), &key, &klen, err, errlen);
		if (rc)
			return rc;
		rc = form_decode(eq < amp ? eq + 1 : amp, eq < amp ? (size_t)(amp - eq - 1) : 0,
				 &val, &vlen, err, errlen);
		if (rc) {
			free(key);
			return rc;
		}
		rc = set_field(q, key, klen, val, vlen, err, errlen);
		free(key);
		if (rc)
			return rc;
		p = amp < end ? amp + 1 : end;
	}
	return 0;
}

struct jparser {
	const char *p;
	const char *end;
};

static void jskip_ws(struct jparser *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int jhex4(struct jparser *j, unsigned int *out)
{
	unsigned int v = 0;
	int i, h;

	if (j->end - j->p < 4)
		return -EINVAL;
	for (i = 0; i < 4; i++) {
		h = hexval((unsigned char)j->p[i]);
		if (h < 0)
			return -EINVAL;
		v = v * 16 + (unsigned int)h;
	}
	j->p += 4;
	*out = v;
	return 0;
}

static size_t put_utf8(char *d, unsigned int cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | (cp >> 6));
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | (cp >> 12));
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | (cp >> 18));
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * A JSON string at j->p (on the opening quote) into a new NUL-terminated buffer. The
 * output is never longer than the input: every escape is at least as long as its UTF-8.
 */
static int jstring(struct jparser *j, char **out, size_t *out_len)
{
	const char *start;
	unsigned int cp, lo;
	char *d;
	size_t n = 0;

	if (j->p >= j->end || *j->p != '"')
		return -EINVAL;
	start = ++j->p;
	d = malloc((size_t)(j->end - start) + 1);
	if (!d)
		return -ENOMEM;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p;

		if (c < 0x20)
			goto bad;
		if (c != '\\') {
			d[n++] = (char)c;
			j->p++;
			continue;
		}
		if (++j->p >= j->end)
			goto bad;
		c = (unsigned char)*j->p++;
		switch (c) {
		case '"':
		case '\\':
		case '/': d[n++] = (char)c; break;
		case 'b': d[n++] = '\b'; break;
		case 'f': d[n++] = '\f'; break;
		case 'n': d[n++] = '\n'; break;
		case 'r': d[n++] = '\r'; break;
		case 't': d[n++] = '\t'; break;
		case 'u':
			if (jhex4(j, &cp))
				goto bad;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				/* A high surrogate must be followed by \u and a low one. */
				if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
					goto bad;
				j->p += 2;
				if (jhex4(j, &lo) || lo < 0xdc00 || lo > 0xdfff)
					goto bad;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				goto bad;
			}
			n += put_utf8(d + n, cp);
			break;
		default: goto bad;
		}
	}
	if (j->p >= j->end)
		goto bad;
	j->p++; /* closing quote */
	d[n] = '\0';
	*out = d;
	*out_len = n;
	return 0;
bad:
	free(d);
	return -EINVAL;
}

static int parse_json(const char *body, size_t len, struct query_req *q, char *err, size_t errlen)
{
	struct jparser j = { body, body + len };
	char *key, *val;
	size_t klen, vlen;
	int rc;

	jskip_ws(&j);
	if (j.p >= j.end || *j.p != '{')
		goto bad;
	j.p++;
	jskip_ws(&j);
	if (j.p < j.end && *j.p == '}') {
		j.p++;
		goto done;
	}
	for (;;) {
		jskip_ws(&j);
		rc = jstring(&j, &key, &klen);
		if (rc == -ENOMEM)
			return rc;
		if (rc)
			goto bad;
		jskip_ws(&j);
		if (j.p >= j.end || *j.p != ':') {
			free(key);
			goto bad;
		}
		j.p++;
		jskip_ws(&j);
		if (j.p >= j.end || *j.p != '"') {
			snprintf(err, errlen, "JSON body: field '%.*s' must be a string",
				 (int)(klen > 64 ? 64 : klen), key);
			free(key);
			return -EINVAL;
		}
		rc = jstring(&j, &val, &vlen);
		if (rc) {
			free(key);
			if (rc == -ENOMEM)
				return rc;
			goto bad;
		}
		rc = set_field(q, key, klen, val, vlen, err, errlen);
		free(key);
		if (rc)
			return rc;
		jskip_ws(&j);
		if (j.p < j.end && *j.p == ',') {
			j.p++;
			continue;
		}
		if (j.p < j.end && *j.p == '}') {
			j.p++;
			break;
		}
		goto bad;
	}
done:
	jskip_ws(&j);
	if (j.p != j.end)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen,
		 "JSON body: expected one object of string fields, e.g. "
		 "{\"db\":\"flow_log\",\"sql\":\"SHOW TABLES\"}");
	return -EINVAL;
}

/* The media type of a Content-Type header, without parameters, compared case-blind. */
static bool ctype_is(const char *ctype, const char *want)
{
	size_t n = strlen(want);

	if (!ctype)
		return false;
	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	if (strncasecmp(ctype, want, n))
		return false;
	ctype += n;
	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	return *ctype == '\0' || *ctype == ';';
}

/* ---- /v1/query ---- */

/* A result cell holding a tag id, to be shown as its name: where it goes in the output. */
struct tag_cell {
	size_t at; /* offset in the output buffer */
	int64_t id;
};

struct qctx {
	struct obuf *out;
	struct jsonw *scratch;
	size_t nrows;
	const bool *tag_ids; /* plan.tag_ids: columns whose ids become names */
	struct tag_cell *cells;
	size_t ncells, cap;
};

/* Remember a tag id cell (written later, see decode_tags); false when out of memory. */
static bool note_tag_cell(struct qctx *q, const struct store_value *v)
{
	if (q->ncells == q->cap) {
		size_t ncap = q->cap ? q->cap * 2 : 256;
		struct tag_cell *nc = realloc(q->cells, ncap * sizeof(*nc));

		if (!nc)
			return false;
		q->cells = nc;
		q->cap = ncap;
	}
	/* NULL (a row older than the column) and 0 are "no tag" alike */
	q->cells[q->ncells++] =
		(struct tag_cell){ .at = q->out->len, .id = v->type == STORE_INT ? v->i : 0 };
	return true;
}

static int q_on_row(void *ctx, const struct store_value *vals, size_t ncols)
{
	struct qctx *q = ctx;
	size_t i;

	ob_puts(q->out, q->nrows ? ",[" : "[");
	for (i = 0; i < ncols; i++) {
		if (i)
			ob_put(q->out, ",", 1);
		if (q->tag_ids && q->tag_ids[i]) {
			if (!note_tag_cell(q, &vals[i]))
				return -ENOMEM;
			continue;
		}
		switch (vals[i].type) {
		case STORE_INT: ob_printf(q->out, "%lld", (long long)vals[i].i); break;
		case STORE_REAL:
			/* JSON has no NaN or infinities: those are null, as NULL is. */
			if (isfinite(vals[i].d))
				ob_printf(q->out, "%.17g", vals[i].d);
			else
				ob_puts(q->out, "null");
			break;
		case STORE_TEXT: ob_jstr(q->out, q->scratch, vals[i].s, vals[i].len); break;
		default: ob_puts(q->out, "null"); break;
		}
	}
	ob_put(q->out, "]", 1);
	q->nrows++;
	return q->out->oom ? -ENOMEM : 0;
}

/*
 * Write the names of the tag id cells the rows left out (note_tag_cell): one dictionary
 * lookup for the distinct ids of the whole result (tag_names.h), then the output rebuilt
 * with each name (or null) at its place. Returns 0, -ENOMEM, or the store's -errno.
 */
static int decode_tags(struct http_api *api, struct qctx *q, struct jsonw *scratch)
{
	struct store_limits lim = { .timeout_ms = api->cfg.query_timeout_ms };
	struct obuf out = { 0 };
	int64_t *ids;
	char **names;
	size_t from = 0;
	int rc;

	if (!q->ncells)
		return 0;
	ids = malloc(q->ncells * sizeof(*ids));
	names = calloc(q->ncells, sizeof(*names));
	if (!ids || !names) {
		free(ids);
		free(names);
		return -ENOMEM;
	}
	for (size_t i = 0; i < q->ncells; i++)
		ids[i] = q->cells[i].id;
	rc = tag_names_lookup(api->names, api->cfg.store, &lim, ids, q->ncells, names);
	for (size_t i = 0; !rc && i < q->ncells; i++) {
		ob_put(&out, q->out->p + from, q->cells[i].at - from);
		from = q->cells[i].at;
		if (names[i])
			ob_jstr(&out, scratch, names[i], strlen(names[i]));
		else
			ob_puts(&out, "null");
	}
	if (!rc) {
		ob_put(&out, q->out->p + from, q->out->len - from);
		if (out.oom) {
			rc = -ENOMEM;
			ob_free(&out);
		} else {
			ob_free(q->out);
			*q->out = out;
		}
	}
	for (size_t i = 0; i < q->ncells; i++)
		free(names[i]);
	free(names);
	free(ids);
	return rc;
}

static enum MHD_Result handle_query(struct http_api *api, struct MHD_Connection *conn,
				    const struct req *r)
{
	struct query_limits ql = { .max_rows = api->cfg.max_rows,
				   .dialect = (enum query_dialect)api->cfg.sql_dialect };
	struct store_limits sl = { 0 };
	struct query_plan plan = { 0 };
	struct query_req q = { 0 };
	struct store_value *params = NULL;
	struct jsonw scratch = { 0 };
	struct obuf out = { 0 };
	struct qctx qc = { .out = &out, .scratch = &scratch };
	const char *ctype;
	uint64_t t0 = mono_us(), took;
	enum MHD_Result ret;
	char err[512] = "";
	size_t i;
	int rc;

	ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ctype_is(ctype, "application/x-www-form-urlencoded")) {
		rc = parse_form(r->body ? r->body : "", r->len, &q, err, sizeof(err));
	} else if (ctype_is(ctype, "application/json")) {
		rc = parse_json(r->body ? r->body : "", r->len, &q, err, sizeof(err));
	} else {
		snprintf(err, sizeof(err),
			 "Content-Type must be application/x-www-form-urlencoded or "
			 "application/json");
		rc = -EINVAL;
	}
	if (!rc && !q.sql) {
		snprintf(err, sizeof(err), "missing field: sql");
		rc = -EINVAL;
	}
	if (!rc && q.db && strlen(q.db) != q.db_len) {
		snprintf(err, sizeof(err), "db contains a NUL byte");
		rc = -EINVAL;
	}
	if (!rc)
		rc = query_translate_n(q.sql, q.sql_len, q.db, &ql, &plan, err, sizeof(err));
	if (rc == -ENOMEM)
		goto oom;
	if (rc) {
		cnt_add(&api->query_total[QRY_REFUSED], 1);
		ret = send_error(conn, MHD_HTTP_BAD_REQUEST, "%s", err);
		goto out;
	}

	ob_puts(&out, "{\"columns\":[");
	for (i = 0; i < plan.ncolumns; i++) {
		if (i)
			ob_put(&out, ",", 1);
		ob_jstr(&out, &scratch, plan.columns[i], strlen(plan.columns[i]));
	}
	ob_puts(&out, "],\"values\":[");
	if (plan.is_show) {
		for (i = 0; i < plan.nrows; i++) {
			size_t c;

			ob_puts(&out, i ? ",[" : "[");
			for (c = 0; c < plan.ncolumns; c++) {
				const char *s = plan.rows[i * plan.ncolumns + c];

				if (c)
					ob_put(&out, ",", 1);
				if (s)
					ob_jstr(&out, &scratch, s, strlen(s));
				else
					ob_puts(&out, "null");
			}
			ob_put(&out, "]", 1);
		}
		rc = 0;
	} else {
		if (plan.nparams) {
			params = calloc(plan.nparams, sizeof(*params));
			if (!params)
				goto oom;
		}
		for (i = 0; i < plan.nparams; i++) {
			const struct query_param *p = &plan.params[i];

			switch (p->type) {
			case QUERY_PARAM_INT:
				params[i] = (struct store_value){ .type = STORE_INT, .i = p->i };
				break;
			case QUERY_PARAM_REAL:
				params[i] = (struct store_value){ .type = STORE_REAL, .d = p->d };
				break;
			case QUERY_PARAM_TEXT:
				params[i] = (struct store_value){ .type = STORE_TEXT,
								  .s = p->s,
								  .len = p->len };
				break;
			}
		}
		/*
		 * One rule for the row cap: the plan asked the backend for max_rows + 1 rows
		 * when it is truncatable, and the store stops at max_rows with -E2BIG when
		 * more were available. So the store's cap is the plan's, and -E2BIG is
		 * "truncated". A user LIMIT at most max_rows never reaches the cap.
		 */
		sl.max_rows = plan.max_rows;
		sl.timeout_ms = api->cfg.query_timeout_ms;
		sl.has_time_range = plan.has_time_range;
		sl.time_lo = plan.time_lo;
		sl.time_hi = plan.time_hi;
		qc.tag_ids = plan.tag_ids;
		rc = store_query(api->cfg.store, plan.sql, params, plan.nparams, &sl, NULL,
				 q_on_row, &qc);
		if (rc == -ENOMEM || out.oom)
			goto oom;
		if (rc && rc != -E2BIG && rc != -ETIME) {
			cnt_add(&api->query_total[QRY_ERROR], 1);
			ret = send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
					 store_errmsg(api->cfg.store));
			goto out;
		}
		{
			int drc = decode_tags(api, &qc, &scratch);

			if (drc == -ENOMEM)
				goto oom;
			if (drc) {
				cnt_add(&api->query_total[QRY_ERROR], 1);
				ret = send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
						 "tag names (flow_tag.tag_dict): %s",
						 store_errmsg(api->cfg.store));
				goto out;
			}
		}
	}
	took = mono_us() - t0;
	ob_printf(&out, "],\"took_ms\":%llu", (unsigned long long)(took / 1000));
	if (rc == -E2BIG)
		ob_printf(&out, ",\"truncated\":true,\"max_rows\":%llu",
			  (unsigned long long)plan.max_rows);
	if (rc == -ETIME)
		ob_puts(&out, ",\"timed_out\":true");
	ob_puts(&out, "}\n");
	cnt_add(&api->query_total[QRY_OK], 1);
	cnt_add(&api->query_us_sum, took);
	ret = send_obuf(conn, MHD_HTTP_OK, &out);
	goto out;
oom:
	cnt_add(&api->query_total[QRY_ERROR], 1);
	ret = send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
out:
	free(qc.cells);
	free(params);
	query_plan_free(&plan);
	query_req_free(&q);
	jsonw_free(&scratch);
	ob_free(&out);
	return ret;
}

/* ---- /v1/ingest ---- */

static void ingest_latency(struct http_api *api, uint64_t t0)
{
	uint64_t us = mono_us() - t0;
	size_t b = 0;

	while (b < ING_LAT_BUCKETS && (double)us / 1e6 > ingest_lat_bounds[b])
		b++;
	cnt_add(&api->ingest_lat_count[b], 1);
	cnt_add(&api->ingest_us_sum, us);
}

static enum MHD_Result handle_ingest(struct http_api *api, struct MHD_Connection *conn,
				     const struct req *r)
{
	struct wire_batch_info *info;
	struct store_batch_src src;
	struct wire_decoded recs = { 0 };
	struct store_batch rows;
	enum store_result sr;
	enum MHD_Result ret;
	struct obuf out = { 0 };
	char err[256] = "";
	uint64_t t0 = mono_us();
	size_t n = 0;
	int rc;

	cnt_add(&api->ingest_bytes, r->len);
	/* On the heap: the counters make it ~7 KiB, too much for a handler thread's stack. */
	info = malloc(sizeof(*info));
	if (!info) {
		cnt_add(&api->ingest_batches[ING_RETRY], 1);
		return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	pthread_mutex_lock(&api->ingest_lock);
	rc = wire_decode((const uint8_t *)(r->body ? r->body : ""), r->len, WIRE_MAX_DECODED, info,
			 &recs, err, sizeof(err));
	if (rc == -EMSGSIZE) {
		cnt_add(&api->ingest_batches[ING_TOO_LARGE], 1);
		cnt_add(&api->too_large, 1);
		ret = send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "%s",
				 err[0] ? err : "batch too large");
		goto out;
	}
	if (rc == -ENOMEM) {
		cnt_add(&api->ingest_batches[ING_RETRY], 1);
		ret = send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		goto out;
	}
	if (rc) {
		cnt_add(&api->ingest_batches[ING_BAD], 1);
		ret = send_error(conn, MHD_HTTP_BAD_REQUEST, "%s", err[0] ? err : strerror(-rc));
		goto out;
	}
	src = (struct store_batch_src){ .id = info->agent_id, .seq = info->seq };
	rows = (struct store_batch){ .l7 = recs.l7,
				     .n7 = recs.n7,
				     .l4 = recs.l4,
				     .n4 = recs.n4,
				     .net = recs.net,
				     .nnet = recs.nnet };
	/* Tags before the write: the records' id columns and the dictionary rows they need
	 * go in the batch's one transaction (docs/tagging.md). */
	if (api->cfg.tagger &&
	    tagger_batch(api->cfg.tagger, info->agent_id, &recs,
			 (int64_t)(clock_us(CLOCK_REALTIME) / 1000000), &rows.tags, &rows.ntags)) {
		cnt_add(&api->ingest_batches[ING_RETRY], 1);
		ret = send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory tagging");
		goto out;
	}
	/* "rows" counts every kind: the batch's l7_flow_log, l4_flow_log and flow_metrics
	 * rows. */
	n = recs.n7 + recs.n4 + recs.nnet;
	sr = store_write_rows(api->cfg.store, &src, &rows);
	if (api->cfg.tagger)
		tagger_done(api->cfg.tagger, sr == STORE_OK);
	switch (sr) {
	case STORE_OK:
	case STORE_DUPLICATE:
		cnt_add(&api->ingest_batches[sr == STORE_OK ? ING_OK : ING_DUPLICATE], 1);
		if (sr == STORE_OK)
			cnt_add(&api->ingest_rows, n);
		agents_note(api->agents, info, n, sr == STORE_DUPLICATE, clock_us(CLOCK_REALTIME));
		/* A duplicate was stored before: acknowledging it again is what lets the agent
		 * move on after a lost acknowledgement. */
		ob_printf(&out, "{\"acked\":%llu,\"rows\":%zu%s}\n", (unsigned long long)info->seq,
			  sr == STORE_OK ? n : 0, sr == STORE_OK ? "" : ",\"duplicate\":true");
		ret = send_obuf(conn, MHD_HTTP_OK, &out);
		ob_free(&out);
		break;
	case STORE_RETRY:
		cnt_add(&api->ingest_batches[ING_RETRY], 1);
		ret = send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "store busy, retry: %s",
				 store_errmsg(api->cfg.store));
		break;
	default:
		/* It can never be stored: the agent must drop it, which a 4xx tells it. */
		cnt_add(&api->ingest_batches[ING_DROPPED], 1);
		ret = send_error(conn, MHD_HTTP_UNPROCESSABLE_CONTENT, "batch cannot be stored: %s",
				 store_errmsg(api->cfg.store));
		break;
	}
out:
	wire_decoded_free(&recs);
	pthread_mutex_unlock(&api->ingest_lock);
	ingest_latency(api, t0);
	free(info);
	return ret;
}

/* ---- /v1/trace ---- */

/* A decimal integer argument in [min, max]: 0, -ENOENT (absent) or -EINVAL. */
static int int_arg(struct MHD_Connection *conn, const char *name, int64_t min, int64_t max,
		   int64_t *out)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
	long long x;
	char *end;

	if (!v)
		return -ENOENT;
	errno = 0;
	x = strtoll(v, &end, 10);
	if (!*v || *end || errno || x < min || x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

_Static_assert(TRACE_TID_LEN - 1 == 64 && TRACE_MAX_SPANS == 100000,
	       "the messages of handle_trace say these numbers");

static enum MHD_Result trace_refuse(struct http_api *api, struct MHD_Connection *conn,
				    const char *msg)
{
	cnt_add(&api->trace_total[TRC_REFUSED], 1);
	return send_error(conn, MHD_HTTP_BAD_REQUEST, "%s", msg);
}

static enum MHD_Result handle_trace(struct http_api *api, struct MHD_Connection *conn)
{
	struct trace_cfg cfg = { .timeout_ms = api->cfg.query_timeout_ms };
	struct trace_query q = { 0 };
	struct trace *t = NULL;
	const char *tid = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "trace_id");
	enum MHD_Result ret;
	char err[512] = "", *body = NULL;
	uint64_t t0 = mono_us();
	size_t len = 0;
	int64_t v;
	int rc;

	rc = int_arg(conn, "id", 1, INT64_MAX, &q.id);
	if (rc == -EINVAL)
		return trace_refuse(api, conn, "id must be a span's _id: a positive integer");
	if (rc == -ENOENT && (!tid || !*tid))
		return trace_refuse(api, conn, "give id=<a span's _id> or trace_id=<a trace id>");
	if (rc == 0 && tid)
		return trace_refuse(api, conn, "give id or trace_id, not both");
	if (tid && strlen(tid) >= TRACE_TID_LEN)
		return trace_refuse(api, conn,
				    "trace_id is longer than a trace id (64 bytes at most)");
	q.trace_id = tid;
	if (int_arg(conn, "time_start", 1, INT64_MAX / 2, &q.time_lo) == -EINVAL ||
	    int_arg(conn, "time_end", 1, INT64_MAX / 2, &q.time_hi) == -EINVAL)
		return trace_refuse(api, conn, "time_start and time_end are Unix seconds");
	rc = int_arg(conn, "max_spans", 1, TRACE_MAX_SPANS, &v);
	if (rc == -EINVAL)
		return trace_refuse(api, conn, "max_spans is 1 to 100000");
	if (!rc)
		cfg.max_spans = (uint32_t)v;
	rc = int_arg(conn, "window_s", 1, 86400, &v);
	if (rc == -EINVAL)
		return trace_refuse(api, conn, "window_s is 1 to 86400 seconds");
	if (!rc)
		cfg.window_s = v;
	rc = trace_assemble(api->cfg.store, &cfg, &q, &t, err, sizeof(err));
	if (rc == -ENOENT) {
		cnt_add(&api->trace_total[TRC_NOT_FOUND], 1);
		return send_error(conn, MHD_HTTP_NOT_FOUND, "%s", err);
	}
	if (rc == -EINVAL)
		return trace_refuse(api, conn, err);
	if (!rc)
		rc = trace_write_json(t, &body, &len);
	if (rc) {
		cnt_add(&api->trace_total[TRC_ERROR], 1);
		trace_free(t);
		if (rc == -ETIME)
			return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
					  "trace assembly timed out (query_timeout_ms)");
		return send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "trace: %s",
				  *err ? err : strerror(-rc));
	}
	cnt_add(&api->trace_total[TRC_OK], 1);
	cnt_add(&api->trace_us_sum, mono_us() - t0);
	cnt_add(&api->trace_spans, t->norder);
	cnt_add(&api->trace_truncated, t->truncated);
	trace_free(t);
	ret = send_body(conn, MHD_HTTP_OK, "application/json", body, len, NULL);
	free(body);
	return ret;
}

/* ---- /v1/agents, /healthz ---- */

static enum MHD_Result handle_agents(struct http_api *api, struct MHD_Connection *conn)
{
	struct jsonw scratch = { 0 };
	struct agent_info *a = NULL;
	struct obuf out = { 0 };
	enum MHD_Result ret;
	uint64_t now = clock_us(CLOCK_REALTIME);
	size_t n = 0;

	if (agents_snapshot(api->agents, &a, &n))
		return send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	ob_puts(&out, "{\"agents\":[");
	for (size_t i = 0; i < n; i++) {
		ob_puts(&out, i ? ",{\"agent_id\":" : "{\"agent_id\":");
		ob_jstr(&out, &scratch, a[i].agent_id, strlen(a[i].agent_id));
		ob_printf(&out,
			  ",\"last_seq\":%llu,\"last_seen\":%.3f,\"age_s\":%.3f,\"batches\":%llu,"
			  "\"rows\":%llu,\"duplicates\":%llu,\"counters\":{",
			  (unsigned long long)a[i].last_seq, (double)a[i].last_seen_us / 1e6,
			  now > a[i].last_seen_us ? (double)(now - a[i].last_seen_us) / 1e6 : 0.0,
			  (unsigned long long)a[i].batches, (unsigned long long)a[i].rows,
			  (unsigned long long)a[i].duplicates);
		/* Counter names were checked to be [a-z0-9_] when the batch was decoded. */
		for (size_t c = 0; c < a[i].ncounters; c++)
			ob_printf(&out, "%s\"%s\":%llu", c ? "," : "", a[i].counters[c].name,
				  (unsigned long long)a[i].counters[c].value);
		ob_puts(&out, "}}");
	}
	ob_puts(&out, "]}\n");
	free(a);
	jsonw_free(&scratch);
	ret = send_obuf(conn, MHD_HTTP_OK, &out);
	ob_free(&out);
	return ret;
}

static enum MHD_Result handle_healthz(struct http_api *api, struct MHD_Connection *conn)
{
	struct obuf out = { 0 };
	enum MHD_Result ret;

	ob_printf(&out,
		  "{\"status\":\"ok\",\"version\":\"%s\",\"uptime_s\":%llu,\"store\":\"%s\"}\n",
		  FLOWSCOPE_VERSION,
		  (unsigned long long)((mono_us() - api->started_mono_us) / 1000000),
		  api->cfg.store->ops->name);
	ret = send_obuf(conn, MHD_HTTP_OK, &out);
	ob_free(&out);
	return ret;
}

/* ---- /metrics ---- */

static enum MHD_Result handle_metrics(struct http_api *api, struct MHD_Connection *conn)
{
	struct store_stats st = { 0 };
	struct obuf out = { 0 };
	enum MHD_Result ret;
	int i;

	ob_puts(&out, "# HELP flowscope_ingest_batches_total Ingest requests by outcome.\n"
		      "# TYPE flowscope_ingest_batches_total counter\n");
	for (i = 0; i < ING__MAX; i++)
		ob_printf(&out, "flowscope_ingest_batches_total{result=\"%s\"} %llu\n",
			  ingest_result_names[i],
			  (unsigned long long)cnt_get(&api->ingest_batches[i]));
	ob_printf(&out,
		  "# HELP flowscope_ingest_rows_total Records stored from ingest batches "
		  "(l7_flow_log, l4_flow_log and flow_metrics).\n"
		  "# TYPE flowscope_ingest_rows_total counter\n"
		  "flowscope_ingest_rows_total %llu\n",
		  (unsigned long long)cnt_get(&api->ingest_rows));
	ob_printf(&out,
		  "# HELP flowscope_ingest_bytes_total Compressed ingest body bytes received.\n"
		  "# TYPE flowscope_ingest_bytes_total counter\n"
		  "flowscope_ingest_bytes_total %llu\n",
		  (unsigned long long)cnt_get(&api->ingest_bytes));
	ob_puts(&out, "# HELP flowscope_ingest_batch_seconds Time from a received ingest body to "
		      "its answer (decode and durable store).\n"
		      "# TYPE flowscope_ingest_batch_seconds histogram\n");
	{
		uint64_t cum = 0;

		for (size_t b = 0; b <= ING_LAT_BUCKETS; b++) {
			cum += cnt_get(&api->ingest_lat_count[b]);
			if (b < ING_LAT_BUCKETS)
				ob_printf(&out,
					  "flowscope_ingest_batch_seconds_bucket{le=\"%g\"} %llu\n",
					  ingest_lat_bounds[b], (unsigned long long)cum);
			else
				ob_printf(
					&out,
					"flowscope_ingest_batch_seconds_bucket{le=\"+Inf\"} %llu\n"
					"flowscope_ingest_batch_seconds_sum %.6f\n"
					"flowscope_ingest_batch_seconds_count %llu\n",
					(unsigned long long)cum,
					(double)cnt_get(&api->ingest_us_sum) / 1e6,
					(unsigned long long)cum);
		}
	}
	{
		struct agent_info *a = NULL;
		size_t na = 0;

		if (!agents_snapshot(api->agents, &a, &na))
			ob_printf(&out,
				  "# HELP flowscope_agents Agents this server has heard from since "
				  "it "
				  "started.\n"
				  "# TYPE flowscope_agents gauge\n"
				  "flowscope_agents %zu\n",
				  na);
		free(a);
	}
	if (api->cfg.tagger) {
		struct tagger_stats ts;
		static const struct {
			const char *name, *type, *help;
			size_t off;
		} tm[] = {
#define TM(f, type, help) { #f, type, help, offsetof(struct tagger_stats, f) }
			TM(host_reports, "counter", "Host reports agents sent."),
			TM(proc_reports, "counter", "Process reports agents sent."),
			TM(hosts, "gauge", "Hosts the tagger knows."),
			TM(procs, "gauge", "Processes the tagger knows."),
			TM(procs_unknown, "counter",
			   "Record sides with a pid no process report named (no gprocess tag)."),
			TM(proc_resets, "counter", "Times the full process table started over."),
			TM(dict_rows, "counter", "flow_tag rows written with ingest batches."),
			TM(dict_resets, "counter",
			   "Times the full table of written dictionary entries started over."),
			TM(custom_matches, "counter",
			   "Record sides named by a custom service rule."),
			TM(k8s_matches, "counter",
			   "Record sides whose address is a Kubernetes pod, service or node."),
#undef TM
		};

		tagger_get_stats(api->cfg.tagger, &ts);
		for (size_t k = 0; k < sizeof(tm) / sizeof(tm[0]); k++) {
			ob_printf(&out, "# HELP flowscope_tagger_%s %s\n", tm[k].name, tm[k].help);
			ob_printf(&out, "# TYPE flowscope_tagger_%s %s\n", tm[k].name, tm[k].type);
			ob_printf(&out, "flowscope_tagger_%s %llu\n", tm[k].name,
				  (unsigned long long)*(const uint64_t *)((const char *)&ts +
									  tm[k].off));
		}
	}
	if (api->cfg.k8s) {
		struct k8s_stats ks;
		static const struct {
			const char *name, *type, *help;
			size_t off;
		} km[] = {
#define KM(f, type, help) { #f, type, help, offsetof(struct k8s_stats, f) }
			KM(objects, "gauge", "Kubernetes objects held."),
			KM(objects_dropped, "counter",
			   "New Kubernetes objects dropped: k8s_max_objects reached."),
			KM(labels_truncated, "counter",
			   "Objects whose labels or selector were cut to 64."),
			KM(events, "counter", "Watch events applied (ADDED, MODIFIED, DELETED)."),
			KM(bookmarks, "counter", "Watch BOOKMARK events."),
			KM(lists, "counter", "Complete lists of one kind."),
			KM(list_errors, "counter", "Lists that failed (HTTP, transport, JSON)."),
			KM(watch_errors, "counter", "Watch streams that failed or were dropped."),
			KM(relists_gone, "counter",
			   "Lists again because a watch's resourceVersion expired (410 Gone)."),
			KM(decode_errors, "counter", "Objects or events that did not decode."),
			KM(resyncs_removed, "counter",
			   "Objects a list no longer had (deletes the watch missed)."),
#undef KM
		};

		k8s_cache_get_stats(api->cfg.k8s, &ks);
		for (size_t k = 0; k < sizeof(km) / sizeof(km[0]); k++) {
			ob_printf(&out, "# HELP flowscope_k8s_%s %s\n", km[k].name, km[k].help);
			ob_printf(&out, "# TYPE flowscope_k8s_%s %s\n", km[k].name, km[k].type);
			ob_printf(&out, "flowscope_k8s_%s %llu\n", km[k].name,
				  (unsigned long long)*(const uint64_t *)((const char *)&ks +
									  km[k].off));
		}
	}
	ob_puts(&out, "# HELP flowscope_query_total Queries by outcome.\n"
		      "# TYPE flowscope_query_total counter\n");
	for (i = 0; i < QRY__MAX; i++)
		ob_printf(&out, "flowscope_query_total{result=\"%s\"} %llu\n",
			  query_result_names[i], (unsigned long long)cnt_get(&api->query_total[i]));
	ob_printf(&out,
		  "# HELP flowscope_query_seconds Time spent answering successful queries.\n"
		  "# TYPE flowscope_query_seconds summary\n"
		  "flowscope_query_seconds_sum %.6f\n"
		  "flowscope_query_seconds_count %llu\n",
		  (double)cnt_get(&api->query_us_sum) / 1e6,
		  (unsigned long long)cnt_get(&api->query_total[QRY_OK]));
	{
		struct tag_names_stats ts;

		tag_names_stats(api->names, &ts);
		ob_puts(&out, "# HELP flowscope_query_tag_ids_total Distinct tag ids of each query "
			      "result shown as names, by where the name came from.\n"
			      "# TYPE flowscope_query_tag_ids_total counter\n");
		ob_printf(&out, "flowscope_query_tag_ids_total{result=\"cached\"} %llu\n",
			  (unsigned long long)ts.hits);
		ob_printf(&out, "flowscope_query_tag_ids_total{result=\"looked_up\"} %llu\n",
			  (unsigned long long)(ts.misses - ts.unknown));
		ob_printf(&out, "flowscope_query_tag_ids_total{result=\"unknown\"} %llu\n",
			  (unsigned long long)ts.unknown);
		ob_puts(&out, "# HELP flowscope_query_tag_dict_lookups_total Queries of "
			      "flow_tag.tag_dict for result names, by outcome.\n"
			      "# TYPE flowscope_query_tag_dict_lookups_total counter\n");
		ob_printf(&out, "flowscope_query_tag_dict_lookups_total{result=\"ok\"} %llu\n",
			  (unsigned long long)(ts.queries - ts.errors));
		ob_printf(&out, "flowscope_query_tag_dict_lookups_total{result=\"error\"} %llu\n",
			  (unsigned long long)ts.errors);
	}
	ob_puts(&out, "# HELP flowscope_trace_total Trace assemblies (GET /v1/trace) by outcome.\n"
		      "# TYPE flowscope_trace_total counter\n");
	for (i = 0; i < TRC__MAX; i++)
		ob_printf(&out, "flowscope_trace_total{result=\"%s\"} %llu\n",
			  trace_result_names[i], (unsigned long long)cnt_get(&api->trace_total[i]));
	/* ob_printf formats at most 255 bytes: one value per call. */
	ob_printf(&out,
		  "# HELP flowscope_trace_seconds Time spent on successful trace assemblies.\n"
		  "# TYPE flowscope_trace_seconds summary\n"
		  "flowscope_trace_seconds_sum %.6f\n",
		  (double)cnt_get(&api->trace_us_sum) / 1e6);
	ob_printf(&out, "flowscope_trace_seconds_count %llu\n",
		  (unsigned long long)cnt_get(&api->trace_total[TRC_OK]));
	ob_printf(&out,
		  "# HELP flowscope_trace_spans_total Spans returned by trace assemblies.\n"
		  "# TYPE flowscope_trace_spans_total counter\n"
		  "flowscope_trace_spans_total %llu\n",
		  (unsigned long long)cnt_get(&api->trace_spans));
	ob_printf(&out,
		  "# HELP flowscope_trace_truncated_total Trace assemblies stopped by max_spans "
		  "or the round limit.\n"
		  "# TYPE flowscope_trace_truncated_total counter\n"
		  "flowscope_trace_truncated_total %llu\n",
		  (unsigned long long)cnt_get(&api->trace_truncated));
	ob_printf(&out,
		  "# HELP flowscope_http_too_large_total Requests refused with 413.\n"
		  "# TYPE flowscope_http_too_large_total counter\n"
		  "flowscope_http_too_large_total %llu\n",
		  (unsigned long long)cnt_get(&api->too_large));
	/* The backend's name is a static identifier ("sqlite", "clickhouse"). */
	ob_printf(&out,
		  "# HELP flowscope_store_info The storage backend this server writes to.\n"
		  "# TYPE flowscope_store_info gauge\n"
		  "flowscope_store_info{backend=\"%s\"} 1\n",
		  api->cfg.store->ops->name);
	if (store_stats(api->cfg.store, &st) == 0) {
		ob_printf(&out,
			  "# HELP flowscope_store_rows_written_total Rows committed to the store, "
			  "every table.\n"
			  "# TYPE flowscope_store_rows_written_total counter\n"
			  "flowscope_store_rows_written_total %llu\n",
			  (unsigned long long)st.rows_written);
		ob_printf(
			&out,
			"# HELP flowscope_store_partitions Time partitions present, every table.\n"
			"# TYPE flowscope_store_partitions gauge\n"
			"flowscope_store_partitions %llu\n",
			(unsigned long long)st.partitions);
		ob_printf(&out,
			  "# HELP flowscope_store_bytes Database files on disk, WAL included.\n"
			  "# TYPE flowscope_store_bytes gauge\n"
			  "flowscope_store_bytes %llu\n",
			  (unsigned long long)st.bytes_on_disk);
	}
	if (out.oom)
		ret = send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	else
		ret = send_body(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
				out.p, out.len, NULL);
	ob_free(&out);
	return ret;
}

/* ---- dispatch ---- */

static enum MHD_Result dispatch(struct http_api *api, struct MHD_Connection *conn, const char *url,
				const char *method, const struct req *r)
{
	bool is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	bool is_post = !strcmp(method, "POST");

	if (!strcmp(url, "/healthz")) {
		if (!is_get)
			goto get_only;
		return handle_healthz(api, conn);
	}
	if (!strcmp(url, "/v1/agents")) {
		if (!is_get)
			goto get_only;
		return handle_agents(api, conn);
	}
	if (!strcmp(url, "/metrics")) {
		if (!is_get)
			goto get_only;
		return handle_metrics(api, conn);
	}
	if (!strcmp(url, "/v1/trace")) {
		if (!is_get)
			goto get_only;
		return handle_trace(api, conn);
	}
	if (!strcmp(url, "/v1/query")) {
		if (!is_post)
			goto post_only;
		return handle_query(api, conn, r);
	}
	if (!strcmp(url, "/v1/ingest")) {
		if (!is_post)
			goto post_only;
		return handle_ingest(api, conn, r);
	}
	return send_error(conn, MHD_HTTP_NOT_FOUND, "no such endpoint: %.16s %.256s", method, url);
get_only:
	return send_error_allow(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD",
				"method %.16s not allowed on %s (use GET)", method, url);
post_only:
	return send_error_allow(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "POST",
				"method %.16s not allowed on %s (use POST)", method, url);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct http_api *api = cls;
	struct req *r = *con_cls;
	const char *clen;
	size_t n = *upload_data_size;
	char *np;
	size_t ncap;

	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*con_cls = r;
		/* Refuse a declared oversize body before reading any of it. */
		clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						   MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen && strtoull(clen, NULL, 10) > api->cfg.max_body)
			r->too_large = true;
		else
			return MHD_YES;
	}
	if (n) {
		if (!r->too_large && r->len + n > api->cfg.max_body)
			r->too_large = true;
		if (!r->too_large) {
			if (r->len + n > r->cap) {
				ncap = r->cap ? r->cap : 4096;
				while (ncap < r->len + n)
					ncap *= 2;
				if (ncap > api->cfg.max_body)
					ncap = api->cfg.max_body;
				np = realloc(r->body, ncap);
				if (!np)
					return MHD_NO;
				r->body = np;
				r->cap = ncap;
			}
			memcpy(r->body + r->len, upload_data, n);
			r->len += n;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->too_large) {
		cnt_add(&api->too_large, 1);
		if (!strcmp(url, "/v1/ingest"))
			cnt_add(&api->ingest_batches[ING_TOO_LARGE], 1);
		return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
				  "request body larger than max_body (%llu bytes)",
				  (unsigned long long)api->cfg.max_body);
	}
	return dispatch(api, conn, url, method, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r) {
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

int http_api_parse_listen(const char *s, struct sockaddr_in *out, char *err, size_t errlen)
{
	char host[INET_ADDRSTRLEN];
	const char *colon;
	char *end;
	unsigned long port;

	colon = s ? strrchr(s, ':') : NULL;
	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host))
		goto bad;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
		goto bad;
	if (!isdigit((unsigned char)colon[1]))
		goto bad;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port < 1 || port > 65535)
		goto bad;
	out->sin_port = htons((uint16_t)port);
	return 0;
bad:
	snprintf(err, errlen,
		 "'%s' is not an IPv4 address and port like 127.0.0.1:20416 "
		 "(host names and IPv6 are not supported yet)",
		 s ? s : "");
	return -EINVAL;
}

int http_api_start(const struct http_api_cfg *cfg, struct http_api **out)
{
	struct sockaddr_in sin;
	struct http_api *api;
	char err[256];
	int rc;

	*out = NULL;
	rc = http_api_parse_listen(cfg->listen, &sin, err, sizeof(err));
	if (rc) {
		ob_err("[server] listen: %s", err);
		return rc;
	}
	api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->cfg = *cfg;
	if (!api->cfg.max_body)
		api->cfg.max_body = WIRE_MAX_BODY;
	snprintf(api->listen, sizeof(api->listen), "%s", cfg->listen);
	api->started_mono_us = mono_us();
	pthread_mutex_init(&api->ingest_lock, NULL);
	api->agents = agents_create(HTTP_MAX_AGENTS);
	api->names = tag_names_new(0, 0);
	if (!api->agents || !api->names) {
		agents_destroy(api->agents);
		tag_names_free(api->names);
		free(api);
		return -ENOMEM;
	}
	api->cfg.listen = api->listen;
	errno = 0;
	/* A pool of polling threads: the store handle is thread-safe, and a slow query
	 * must not stall ingest. Binding to the parsed address only, never to every interface.
	 * Each connection may buffer up to max_body, so the connection count bounds memory:
	 * HTTP_MAX_CONNECTIONS * max_body at worst, plus one decoded batch (ingest_lock). */
	api->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_access, api,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin, MHD_OPTION_NOTIFY_COMPLETED,
		on_completed, api, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_MAX_CONNECTIONS,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)HTTP_THREADS, MHD_OPTION_END);
	if (!api->mhd) {
		rc = errno ? -errno : -EADDRNOTAVAIL;
		ob_err("[server] cannot listen on %s: %s", api->listen, strerror(-rc));
		agents_destroy(api->agents);
		tag_names_free(api->names);
		free(api);
		return rc;
	}
	*out = api;
	return 0;
}

void http_api_stop(struct http_api *api)
{
	if (!api)
		return;
	if (api->mhd)
		MHD_stop_daemon(api->mhd);
	agents_destroy(api->agents);
	tag_names_free(api->names);
	pthread_mutex_destroy(&api->ingest_lock);
	free(api);
}
