/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trace assembly, the gathering half (trace.h, trace_assemble): the seed's row(s), then
 * rounds of one lookup each, until no new key turns up. A round's lookup is one statement
 * of flowscope's SQL dialect:
 *
 *   SELECT <columns> FROM flow_log.l7_flow_log
 *   WHERE time >= lo AND time <= hi AND (req_tcp_seq IN (...) OR lone_resp_tcp_seq IN (...)
 *         OR syscall_trace_id_request IN (...) OR syscall_trace_id_response IN (...)
 *         OR x_request_id_0 IN (...) OR x_request_id_1 IN (...) OR trace_id IN (...)
 *         OR request_id IN (...)
 *         OR (resp_tcp_seq = R AND time >= a AND time <= b) ...)
 *
 * with only the keys not asked for before, translated by src/query (every literal bound,
 * sparse columns' index conditions added, the time range handed to the store to skip
 * partitions), so the same text serves every backend. Each term is an indexed lookup.
 * Rows are kept only when linked to an accepted row (trace_linked); keys come only from
 * accepted rows, so an unrelated row that shares one key does not pull in its own.
 */
#include "query/trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/sql.h"
#include "store/rowid.h"
#include "store/store.h"

/* The columns read, in this order. */
enum tcol {
	TC_ID,
	TC_TIME,
	TC_START,
	TC_END,
	TC_DURATION,
	TC_SIGNAL,
	TC_OBS,
	TC_NIC,
	TC_TYPE,
	TC_PROTOCOL,
	TC_CPORT,
	TC_SPORT,
	TC_IP4_0,
	TC_IP4_1,
	TC_IP6_0,
	TC_IP6_1,
	TC_PID0,
	TC_PID1,
	TC_KNAME0,
	TC_KNAME1,
	TC_L7,
	TC_REQ_TYPE,
	TC_DOMAIN,
	TC_RESOURCE,
	TC_ENDPOINT,
	TC_CODE,
	TC_STATUS,
	TC_EXC,
	TC_REQ_SEQ,
	TC_RESP_SEQ,
	TC_ST_REQ,
	TC_ST_RESP,
	TC_REQ_ID,
	TC_XID0,
	TC_XID1,
	TC_TRACE_ID,
	TC_SPAN_ID,
	TC_PARENT_SPAN_ID,
	TC__MAX,
};

static const char *const tcol_names[TC__MAX] = {
	"_id",
	"time",
	"start_time",
	"end_time",
	"response_duration",
	"signal_source",
	"observation_point",
	"capture_nic",
	"type",
	"protocol",
	"client_port",
	"server_port",
	"ip4_0",
	"ip4_1",
	"ip6_0",
	"ip6_1",
	"process_id_0",
	"process_id_1",
	"process_kname_0",
	"process_kname_1",
	"l7_protocol",
	"request_type",
	"request_domain",
	"request_resource",
	"endpoint",
	"response_code",
	"response_status",
	"response_exception",
	"req_tcp_seq",
	"resp_tcp_seq",
	"syscall_trace_id_request",
	"syscall_trace_id_response",
	"request_id",
	"x_request_id_0",
	"x_request_id_1",
	"trace_id",
	"span_id",
	"parent_span_id",
};

/* A growable text buffer for the statement. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_int(struct sbuf *b, int64_t v)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%" PRId64, v);
	sb_str(b, tmp);
}

/* A dialect string literal: quotes doubled. */
static void sb_lit(struct sbuf *b, const char *s)
{
	sb_add(b, "'", 1);
	for (const char *q; (q = strchr(s, '\'')); s = q + 1) {
		sb_add(b, s, (size_t)(q - s));
		sb_add(b, "''", 2);
	}
	sb_str(b, s);
	sb_add(b, "'", 1);
}

static void sb_select(struct sbuf *b)
{
	sb_str(b, "SELECT ");
	for (size_t i = 0; i < TC__MAX; i++) {
		if (i)
			sb_str(b, ", ");
		sb_str(b, tcol_names[i]);
	}
	sb_str(b, " FROM flow_log.l7_flow_log WHERE ");
}

/* ---- key sets: what was asked for already ---- */

/* An open-addressing set of 64-bit keys (0 is never a key). */
struct kset {
	uint64_t *k;
	size_t cap, n;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/* 1 added, 0 present, -ENOMEM. */
static int kset_add(struct kset *s, uint64_t key)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint64_t *nk = calloc(cap, sizeof(*nk));

		if (!nk)
			return -ENOMEM;
		for (size_t j = 0; j < s->cap; j++) {
			if (!s->k[j])
				continue;
			for (i = mix(s->k[j]) & (cap - 1); nk[i]; i = (i + 1) & (cap - 1))
				;
			nk[i] = s->k[j];
		}
		free(s->k);
		s->k = nk;
		s->cap = cap;
	}
	for (i = mix(key) & (s->cap - 1); s->k[i]; i = (i + 1) & (s->cap - 1))
		if (s->k[i] == key)
			return 0;
	s->k[i] = key;
	s->n++;
	return 1;
}

/* Text keys by a 64-bit hash (FNV-1a): a collision only skips a key already asked. */
static uint64_t str_key(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h ? h : 1;
}

/* Distinct key kinds: tagged so that one set serves all. */
enum kkind { K_REQ_SEQ, K_RESP_SEQ, K_LONE, K_STRACE, K_XID, K_TRACE, K_REQID, K__MAX };

struct gather {
	struct store *st;
	const struct trace_cfg *cfg;
	struct trace *t;
	struct kset asked[K__MAX];
	struct kset ids; /* _id of every row gathered */
	size_t cap;	 /* spans allocated */
	int64_t lo_s, hi_s;
	char *err;
	size_t errlen;
	int rc;
};

/* One term `col IN (v, ...)` of the new keys of kind k from span range [from, n). */
struct term {
	struct sbuf b;
	size_t nvals;
};

static void term_int(struct term *tm, const char *col, int64_t v)
{
	sb_str(&tm->b, tm->nvals ? ", " : col);
	if (!tm->nvals)
		sb_str(&tm->b, " IN (");
	sb_int(&tm->b, v);
	tm->nvals++;
}

static void term_text(struct term *tm, const char *col, const char *v)
{
	sb_str(&tm->b, tm->nvals ? ", " : col);
	if (!tm->nvals)
		sb_str(&tm->b, " IN (");
	sb_lit(&tm->b, v);
	tm->nvals++;
}

/* ---- rows ---- */

static void copy_text(char *dst, size_t cap, const struct store_value *v)
{
	size_t n = 0;

	if (v->type == STORE_TEXT) {
		n = v->len < cap - 1 ? v->len : cap - 1;
		memcpy(dst, v->s, n);
		/* A NUL inside would cut it anyway: keep C strings honest. */
		n = strnlen(dst, n);
	}
	dst[n] = 0;
}

static int64_t val_int(const struct store_value *v, int64_t null)
{
	if (v->type == STORE_INT)
		return v->i;
	if (v->type == STORE_REAL)
		return (int64_t)v->d;
	return null;
}

/*
 * Which row this is, to keep each once however many lookups return it: its _id, or for
 * a row stored before _id existed (NULL), a hash of what tells exchanges apart, with the
 * top bit set so that it never meets an id (ids are below 2^63).
 */
static uint64_t row_key(const struct store_value *v)
{
	static const enum tcol keys[] = { TC_START, TC_END,  TC_CPORT,	 TC_SPORT,
					  TC_PID0,  TC_PID1, TC_REQ_SEQ, TC_RESP_SEQ };
	int64_t id = val_int(&v[TC_ID], 0);
	uint64_t h = 0xcbf29ce484222325ull;

	if (id > 0)
		return (uint64_t)id;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		h = mix(h ^ (uint64_t)val_int(&v[keys[i]], 0)) + i;
	if (v[TC_OBS].type == STORE_TEXT)
		for (size_t i = 0; i < v[TC_OBS].len; i++)
			h = (h ^ (uint8_t)v[TC_OBS].s[i]) * 0x100000001b3ull;
	return h | (1ull << 63);
}

static int on_row(void *ctx, const struct store_value *v, size_t ncols)
{
	struct gather *g = ctx;
	struct trace *t = g->t;
	struct trace_span *s;
	int rc;

	if (ncols != TC__MAX)
		return -EIO;
	rc = kset_add(&g->ids, row_key(v));
	if (rc <= 0)
		return rc;
	if (t->n == g->cap) {
		t->truncated = true;
		return 1;
	}
	s = &t->spans[t->n++];
	memset(s, 0, sizeof(*s));
	s->id = val_int(&v[TC_ID], 0);
	s->time_s = val_int(&v[TC_TIME], 0);
	s->start_us = val_int(&v[TC_START], 0);
	s->end_us = val_int(&v[TC_END], 0);
	s->response_duration = val_int(&v[TC_DURATION], -1);
	s->signal_source = (int)val_int(&v[TC_SIGNAL], 0);
	copy_text(s->observation_point, sizeof(s->observation_point), &v[TC_OBS]);
	copy_text(s->capture_nic, sizeof(s->capture_nic), &v[TC_NIC]);
	s->type = (int)val_int(&v[TC_TYPE], 0);
	s->protocol = (int)val_int(&v[TC_PROTOCOL], 0);
	s->client_port = (int)val_int(&v[TC_CPORT], 0);
	s->server_port = (int)val_int(&v[TC_SPORT], 0);
	copy_text(s->ip[0], sizeof(s->ip[0]),
		  v[TC_IP4_0].type == STORE_TEXT ? &v[TC_IP4_0] : &v[TC_IP6_0]);
	copy_text(s->ip[1], sizeof(s->ip[1]),
		  v[TC_IP4_1].type == STORE_TEXT ? &v[TC_IP4_1] : &v[TC_IP6_1]);
	s->process_id[0] = val_int(&v[TC_PID0], 0);
	s->process_id[1] = val_int(&v[TC_PID1], 0);
	copy_text(s->process_kname[0], sizeof(s->process_kname[0]), &v[TC_KNAME0]);
	copy_text(s->process_kname[1], sizeof(s->process_kname[1]), &v[TC_KNAME1]);
	copy_text(s->l7_protocol, sizeof(s->l7_protocol), &v[TC_L7]);
	copy_text(s->request_type, sizeof(s->request_type), &v[TC_REQ_TYPE]);
	copy_text(s->request_domain, sizeof(s->request_domain), &v[TC_DOMAIN]);
	copy_text(s->request_resource, sizeof(s->request_resource), &v[TC_RESOURCE]);
	copy_text(s->endpoint, sizeof(s->endpoint), &v[TC_ENDPOINT]);
	s->response_code = val_int(&v[TC_CODE], -1);
	s->response_status = (int)val_int(&v[TC_STATUS], 0);
	copy_text(s->response_exception, sizeof(s->response_exception), &v[TC_EXC]);
	s->req_tcp_seq = val_int(&v[TC_REQ_SEQ], 0);
	s->resp_tcp_seq = val_int(&v[TC_RESP_SEQ], 0);
	s->syscall_trace_id_request = val_int(&v[TC_ST_REQ], 0);
	s->syscall_trace_id_response = val_int(&v[TC_ST_RESP], 0);
	s->request_id = val_int(&v[TC_REQ_ID], -1);
	copy_text(s->x_request_id[0], sizeof(s->x_request_id[0]), &v[TC_XID0]);
	copy_text(s->x_request_id[1], sizeof(s->x_request_id[1]), &v[TC_XID1]);
	copy_text(s->trace_id, sizeof(s->trace_id), &v[TC_TRACE_ID]);
	copy_text(s->span_id, sizeof(s->span_id), &v[TC_SPAN_ID]);
	copy_text(s->parent_span_id, sizeof(s->parent_span_id), &v[TC_PARENT_SPAN_ID]);
	s->parent = -1;
	return 0;
}

/* Translate the dialect statement and run it, rows into g->t. */
static int run(struct gather *g, const char *sql, size_t len)
{
	struct query_limits ql = { .max_rows = g->cap + 1 };
	struct store_limits sl = { 0 };
	struct query_plan plan = { 0 };
	struct store_value *params = NULL;
	int rc;

	rc = query_translate_n(sql, len, "flow_log", &ql, &plan, g->err, g->errlen);
	if (rc)
		return rc;
	params = calloc(plan.nparams + 1, sizeof(*params));
	if (!params) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < plan.nparams; i++) {
		const struct query_param *p = &plan.params[i];

		if (p->type == QUERY_PARAM_INT)
			params[i] = (struct store_value){ .type = STORE_INT, .i = p->i };
		else if (p->type == QUERY_PARAM_REAL)
			params[i] = (struct store_value){ .type = STORE_REAL, .d = p->d };
		else
			params[i] = (struct store_value){ .type = STORE_TEXT,
							  .s = p->s,
							  .len = p->len };
	}
	sl.timeout_ms = g->cfg->timeout_ms;
	sl.has_time_range = plan.has_time_range;
	sl.time_lo = plan.time_lo;
	sl.time_hi = plan.time_hi;
	rc = store_query(g->st, plan.sql, params, plan.nparams, &sl, NULL, on_row, g);
	g->t->queries++;
	if (rc == -E2BIG) {
		g->t->truncated = true;
		rc = 0;
	}
	if (rc == -ETIME)
		g->t->timed_out = true;
	if (rc && rc != -ENOMEM && rc != -ETIME && g->errlen)
		snprintf(g->err, g->errlen, "store: %s", store_errmsg(g->st));
out:
	free(params);
	query_plan_free(&plan);
	return rc;
}

/* Text safe to send as a dialect literal: not empty. NULs were cut on the way in. */
static bool text_key(const char *s)
{
	return *s;
}

/*
 * The round's statement from the keys of accepted spans not asked for before. Returns
 * the number of keys (0: nothing new), or -ENOMEM.
 */
static int round_sql(struct gather *g, struct sbuf *b)
{
	static const char *const cols[] = {
		"req_tcp_seq",
		"lone_resp_tcp_seq",
		"syscall_trace_id_request",
		"syscall_trace_id_response",
		"x_request_id_0",
		"x_request_id_1",
		"trace_id",
		"request_id",
	};
	struct term tm[8] = { 0 }, lone = { 0 };
	struct trace *t = g->t;
	size_t nkeys = 0;
	int rc = 0;

	for (size_t i = 0; i < t->n && rc >= 0; i++) {
		const struct trace_span *s = &t->spans[i];

		if (!s->kept)
			continue;
		if (s->req_tcp_seq &&
		    (rc = kset_add(&g->asked[K_REQ_SEQ], (uint64_t)s->req_tcp_seq)) > 0)
			term_int(&tm[0], cols[0], s->req_tcp_seq);
		/* Responses stored without their request, by the index of theirs. */
		if (rc >= 0 && s->resp_tcp_seq &&
		    (rc = kset_add(&g->asked[K_RESP_SEQ], (uint64_t)s->resp_tcp_seq)) > 0)
			term_int(&tm[1], cols[1], s->resp_tcp_seq);
		/* Such a response itself: the rows of its resp_tcp_seq end within Δ of it, so
		 * the time index finds them (rare: only lone responses ask). */
		if (rc >= 0 && !s->req_tcp_seq && s->resp_tcp_seq &&
		    (rc = kset_add(&g->asked[K_LONE], (uint64_t)s->resp_tcp_seq)) > 0) {
			sb_str(&lone.b, " OR (resp_tcp_seq = ");
			sb_int(&lone.b, s->resp_tcp_seq);
			sb_str(&lone.b, " AND time >= ");
			sb_int(&lone.b, (s->end_us - g->cfg->delay_us) / 1000000);
			sb_str(&lone.b, " AND time <= ");
			sb_int(&lone.b, (s->end_us + g->cfg->delay_us) / 1000000);
			sb_str(&lone.b, ")");
			lone.nvals++;
		}
		for (int k = 0; k < 2 && rc >= 0; k++) {
			int64_t id = k ? s->syscall_trace_id_response : s->syscall_trace_id_request;

			/* Pooled: a request's id may be another span's response id. */
			if (id && (rc = kset_add(&g->asked[K_STRACE], (uint64_t)id)) > 0) {
				term_int(&tm[2], cols[2], id);
				term_int(&tm[3], cols[3], id);
			}
		}
		for (int k = 0; k < 2 && rc >= 0; k++) {
			const char *x = s->x_request_id[k];

			if (text_key(x) && (rc = kset_add(&g->asked[K_XID], str_key(x))) > 0) {
				term_text(&tm[4], cols[4], x);
				term_text(&tm[5], cols[5], x);
			}
		}
		if (rc >= 0 && text_key(s->trace_id) &&
		    (rc = kset_add(&g->asked[K_TRACE], str_key(s->trace_id))) > 0)
			term_text(&tm[6], cols[6], s->trace_id);
		if (rc >= 0 && s->request_id > 0 && !strcmp(s->l7_protocol, "DNS") &&
		    (rc = kset_add(&g->asked[K_REQID], (uint64_t)s->request_id)) > 0)
			term_int(&tm[7], cols[7], s->request_id);
	}
	if (rc < 0)
		goto out;
	sb_select(b);
	sb_str(b, "time >= ");
	sb_int(b, g->lo_s);
	sb_str(b, " AND time <= ");
	sb_int(b, g->hi_s);
	sb_str(b, " AND (");
	for (size_t k = 0; k < 8; k++) {
		if (!tm[k].nvals)
			continue;
		if (nkeys)
			sb_str(b, " OR ");
		sb_add(b, tm[k].b.p, tm[k].b.len);
		sb_str(b, ")");
		nkeys += tm[k].nvals;
	}
	/* Each lone term starts with " OR ": the first one goes without it. */
	if (lone.nvals && !lone.b.oom)
		sb_str(b, nkeys ? lone.b.p : lone.b.p + 4);
	nkeys += lone.nvals;
	sb_str(b, ")");
	rc = (int)(nkeys > INT32_MAX ? INT32_MAX : nkeys);
out:
	for (size_t k = 0; k < 8; k++) {
		if (tm[k].b.oom)
			rc = -ENOMEM;
		free(tm[k].b.p);
	}
	if (lone.b.oom)
		rc = -ENOMEM;
	free(lone.b.p);
	if (b->oom)
		rc = -ENOMEM;
	return rc;
}

/* Accept the gathered spans linked to accepted ones, to a fixed point. */
static void accept_new(struct gather *g)
{
	struct trace *t = g->t;
	bool more = true;

	while (more) {
		more = false;
		for (size_t i = 0; i < t->n; i++) {
			if (t->spans[i].kept)
				continue;
			for (size_t j = 0; j < t->n; j++)
				if (t->spans[j].kept &&
				    trace_linked(g->cfg, &t->spans[j], &t->spans[i])) {
					t->spans[i].kept = true;
					more = true;
					break;
				}
		}
	}
}

void trace_free(struct trace *t)
{
	if (!t)
		return;
	free(t->spans);
	free(t->order);
	free(t);
}

int trace_assemble(struct store *st, const struct trace_cfg *cfg_in, const struct trace_query *q,
		   struct trace **out, char *err, size_t errlen)
{
	struct trace_cfg cfg = cfg_in ? *cfg_in : (struct trace_cfg){ 0 };
	struct gather g = { .st = st, .cfg = &cfg, .err = err, .errlen = errlen };
	struct sbuf b = { 0 };
	struct trace *t = NULL;
	size_t *seeds = NULL, nseed = 0;
	int64_t lo_us = INT64_MAX, hi_us = INT64_MIN;
	int rc;

	if (err && errlen)
		err[0] = 0;
	*out = NULL;
	trace_cfg_defaults(&cfg);
	if (!st || !q || (q->id <= 0 && (!q->trace_id || !*q->trace_id))) {
		if (err && errlen)
			snprintf(err, errlen, "give a span id (id) or a trace id (trace_id)");
		return -EINVAL;
	}
	g.cap = cfg.max_spans;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	g.t = t;
	t->spans = calloc(g.cap, sizeof(*t->spans));
	if (!t->spans) {
		rc = -ENOMEM;
		goto out;
	}

	/* The seed: the row of an id (its minute is in the id: one partition), or every
	 * row of a trace id. */
	sb_select(&b);
	if (q->id > 0) {
		int64_t ts = rowid_time(q->id);

		sb_str(&b, "_id = ");
		sb_int(&b, q->id);
		if (ts > 0) {
			sb_str(&b, " AND time >= ");
			sb_int(&b, ts);
			sb_str(&b, " AND time < ");
			sb_int(&b, ts + 60);
		}
	} else {
		sb_str(&b, "trace_id = ");
		sb_lit(&b, q->trace_id);
	}
	if (q->time_lo) {
		sb_str(&b, " AND time >= ");
		sb_int(&b, q->time_lo);
	}
	if (q->time_hi) {
		sb_str(&b, " AND time <= ");
		sb_int(&b, q->time_hi);
	}
	if (b.oom) {
		rc = -ENOMEM;
		goto out;
	}
	rc = run(&g, b.p, b.len);
	if (rc)
		goto out;
	if (!t->n) {
		rc = -ENOENT;
		if (err && errlen)
			snprintf(err, errlen, "no such %s%s", q->id > 0 ? "span" : "trace",
				 q->time_lo || q->time_hi ? " in that time range" : "");
		goto out;
	}
	seeds = malloc(t->n * sizeof(*seeds));
	if (!seeds) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < t->n; i++) {
		t->spans[i].kept = true;
		seeds[nseed++] = i;
		lo_us = t->spans[i].start_us < lo_us ? t->spans[i].start_us : lo_us;
		hi_us = t->spans[i].end_us > hi_us ? t->spans[i].end_us : hi_us;
	}
	/* The search window: the seeds' times ± window_s, within the hints. The time column
	 * is the end, in seconds. */
	g.lo_s = lo_us / 1000000 - cfg.window_s;
	g.hi_s = hi_us / 1000000 + 1 + cfg.window_s;
	if (q->time_lo && q->time_lo > g.lo_s)
		g.lo_s = q->time_lo;
	if (q->time_hi && q->time_hi < g.hi_s)
		g.hi_s = q->time_hi;

	while (t->rounds < cfg.max_rounds && !t->truncated && !t->timed_out) {
		b.len = 0;
		rc = round_sql(&g, &b);
		if (rc <= 0)
			break;
		t->rounds++;
		rc = run(&g, b.p, b.len);
		if (rc && rc != -ETIME)
			goto out;
		/* Before linking: a batched response's id came back with every row that
		 * carries it, so the round's rows say whether it is one. */
		if (trace_mark_batched(t->spans, t->n)) {
			rc = -ENOMEM;
			goto out;
		}
		accept_new(&g);
	}
	if (rc < 0 && rc != -ETIME)
		goto out;
	if (t->rounds == cfg.max_rounds)
		t->truncated = true;
	t->order = malloc(t->n * sizeof(*t->order));
	if (!t->order) {
		rc = -ENOMEM;
		goto out;
	}
	rc = trace_build(&cfg, t->spans, t->n, seeds, nseed, t->order, &t->norder);
	if (rc)
		goto out;
	*out = t;
	t = NULL;
out:
	for (size_t k = 0; k < K__MAX; k++)
		free(g.asked[k].k);
	free(g.ids.k);
	free(b.p);
	free(seeds);
	trace_free(t);
	return rc;
}
