/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PostgreSQL frontend/backend protocol (version 3) parser.
 *
 * Framing: a message is a type byte and a 4-byte big-endian length that counts itself;
 * only the client's first messages (StartupMessage, SSLRequest, GSSENCRequest,
 * CancelRequest) have no type byte, and the server answers SSLRequest / GSSENCRequest with
 * one bare byte ('S'/'G': encryption follows, the rest is opaque to us; 'N': go on).
 *
 * Like the MySQL parser this is a push parser: every byte is consumed, each message's type,
 * length and a bounded prefix of its body are kept in the state, so DataRow streams and
 * COPY data of any size pass in constant memory.
 *
 * Exchanges, as DeepFlow counts them:
 * - a simple Query ('Q') is one request ("simple query"), whatever statements it holds;
 * - in the extended protocol, the messages up to and including a Sync form one request,
 *   named after its most telling message (Parse > Execute > Bind > Describe > Close > Sync),
 *   whose SQL comes from its Parse, or from the statement its Bind names (statements
 *   parsed earlier are remembered in a small table, unnamed one included);
 * - a FunctionCall ('F') is one request;
 * - the server's answer runs until ReadyForQuery ('Z'): CommandComplete tags give the
 *   affected rows (summed over the exchange), an ErrorResponse gives response_result (the
 *   SQLSTATE), response_exception (its message) and the status by SQLSTATE class.
 *   NoticeResponse, ParameterStatus and NotificationResponse are not answers.
 * The startup and authentication exchange is not reported, except a refused one (its
 * ErrorResponse is reported as a response).
 */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/proto_util.h"
#include "proto/sql_text.h"

#define PG_PRE_CAP   1200 /* message body bytes kept */
#define PG_SQL_CAP   1024 /* request_resource */
#define PG_MSG_CAP   256  /* response_exception */
#define PG_NSTMT     8
#define PG_STMT_NAME 64
#define PG_STMT_SQL  512
#define PG_MAX_LEN   (1u << 30) /* the server's own limit on a message */

#define PG_PROTO_V3 196608u
#define PG_SSL_REQ  80877103u
#define PG_GSS_REQ  80877104u
#define PG_CANCEL   80877102u

enum pg_phase {
	PP_INIT = 0, /* nothing seen: a startup or any message may come */
	PP_STARTUP,  /* startup sent: authentication and parameters until ReadyForQuery */
	PP_READY,
	PP_OPAQUE, /* TLS / GSS encryption */
};

/* Request kinds, by precedence within an extended-protocol group. */
enum pg_kind {
	K_NONE = 0,
	K_SYNC,
	K_CLOSE,
	K_DESCRIBE,
	K_BIND,
	K_EXECUTE,
	K_PARSE,
	K_QUERY,
	K_FUNCTION,
};

static const char *const pg_kind_names[] = {
	[K_NONE] = "",
	[K_SYNC] = "sync",
	[K_CLOSE] = "close",
	[K_DESCRIBE] = "describe",
	[K_BIND] = "bind",
	[K_EXECUTE] = "execute",
	[K_PARSE] = "parse",
	[K_QUERY] = "simple query",
	[K_FUNCTION] = "fastpath function call",
};

struct pg_dir {
	uint8_t hdr[5];
	uint8_t hdr_n;
	uint8_t hdr_want; /* 5 tagged, 4 untagged */
	uint8_t lost;
	uint32_t left; /* body bytes still to come */
	uint32_t body_len;
	uint64_t m_start_ts, m_end_ts;
	uint32_t m_tcp_seq;
	uint32_t pre_n;
	uint8_t pre[PG_PRE_CAP];
};

struct pg_stmt {
	uint8_t used;
	uint8_t name_len;
	uint16_t sql_len;
	char name[PG_STMT_NAME];
	char sql[PG_STMT_SQL];
};

struct pg_req {
	uint8_t active;
	uint8_t kind;
	uint8_t has_sql;
	uint8_t truncated;
	uint16_t sql_len;
	uint64_t start_ts, end_ts, length;
	uint32_t tcp_seq;
	char sql[PG_SQL_CAP];
};

struct pg_resp {
	uint8_t active;
	uint8_t status;
	uint8_t has_rows;
	uint8_t has_error;
	uint8_t state_len;
	uint16_t msg_len;
	uint64_t rows;
	uint64_t start_ts, end_ts, length;
	uint32_t tcp_seq;
	uint32_t flags;
	char sqlstate[5];
	char msg[PG_MSG_CAP];
};

struct pg_conn {
	struct pg_dir dir[2];
	uint8_t client_dir; /* 0 unknown, else 1 + index */
	uint8_t phase;
	uint8_t enc_wait; /* SSL/GSS request sent: one bare byte answers it */
	uint8_t stmt_next;
	uint32_t pending; /* requests waiting for ReadyForQuery */
	struct pg_req req;
	struct pg_resp resp;
	struct pg_stmt stmts[PG_NSTMT];
	char text[PG_SQL_CAP];
};

struct pg_run {
	struct pg_conn *c;
	const struct proto_input *in;
	proto_emit_fn emit;
	void *ctx;
	struct proto_stats *st;
	int di;
};

/* ---- helpers -------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool is_client(const struct pg_conn *c, int di)
{
	return c->client_dir == di + 1;
}

static struct proto_str pstr(const char *p, size_t n)
{
	struct proto_str s = { n ? p : NULL, (uint32_t)n };

	return s;
}

/* Message types each side sends. */
static bool client_tag(uint8_t t)
{
	return t && strchr("QPBEDCHSFXdcfp", t) != NULL;
}

static bool server_tag(uint8_t t)
{
	return t && strchr("RSKZCETDI123ntsGHWdcNAVv", t) != NULL;
}

/* Length of the NUL-terminated string at p (within n), or -1 if it does not end. */
static long cstr(const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, 0, n);

	return z ? (long)(z - p) : -1;
}

static size_t put_sql(struct pg_run *r, char *out, size_t cap, const uint8_t *sql, size_t n)
{
	const struct proto_ctx *ctx = r->in ? r->in->ctx : NULL;

	if (ctx && (ctx->opts & PROTO_OPT_KEEP_VALUES)) {
		if (n > cap)
			n = cap;
		memcpy(out, sql, n);
		return n;
	}
	return sql_obfuscate(sql, n, out, cap, SQL_DIALECT_PG);
}

/* DeepFlow's split of SQLSTATE classes: the client's fault, or the server's. */
static uint8_t status_of_sqlstate(const char *s)
{
	static const char *const client_classes[] = { "03", "0A", "0B", "0F", "0L",
						      "0P", "20", "22", "23", "26",
						      "2F", "34", "3D", "3F", "42" };

	for (size_t i = 0; i < sizeof(client_classes) / sizeof(client_classes[0]); i++) {
		if (s[0] == client_classes[i][0] && s[1] == client_classes[i][1])
			return PROTO_STATUS_CLIENT_ERROR;
	}
	/* serialization failure, statement completion unknown, deadlock: retry-able */
	if (!memcmp(s, "40001", 5) || !memcmp(s, "40003", 5) || !memcmp(s, "40P01", 5))
		return PROTO_STATUS_CLIENT_ERROR;
	return PROTO_STATUS_SERVER_ERROR;
}

/* ---- statements ------------------------------------------------------------------ */

static struct pg_stmt *stmt_find(struct pg_conn *c, const uint8_t *name, size_t n)
{
	if (n >= PG_STMT_NAME)
		return NULL;
	for (int i = 0; i < PG_NSTMT; i++) {
		struct pg_stmt *s = &c->stmts[i];

		if (s->used && s->name_len == n && !memcmp(s->name, name, n))
			return s;
	}
	return NULL;
}

static void stmt_put(struct pg_conn *c, const uint8_t *name, size_t n, const char *sql, size_t len)
{
	struct pg_stmt *s;
	int i;

	if (n >= PG_STMT_NAME)
		return;
	s = stmt_find(c, name, n);
	if (!s) {
		for (i = 0; i < PG_NSTMT && c->stmts[i].used; i++)
			;
		if (i == PG_NSTMT) {
			i = c->stmt_next;
			c->stmt_next = (uint8_t)((c->stmt_next + 1) % PG_NSTMT);
		}
		s = &c->stmts[i];
	}
	if (len > PG_STMT_SQL)
		len = PG_STMT_SQL;
	s->used = 1;
	s->name_len = (uint8_t)n;
	memcpy(s->name, name, n);
	s->sql_len = (uint16_t)len;
	memcpy(s->sql, sql, len);
}

/* ---- emitting -------------------------------------------------------------------- */

static void emit_out(struct pg_run *r, struct proto_msg *m)
{
	if (r->emit)
		r->emit(r->ctx, m);
	r->st->messages++;
}

static void req_emit(struct pg_run *r)
{
	struct pg_conn *c = r->c;
	struct pg_req *q = &c->req;
	const char *name = pg_kind_names[q->kind];
	struct proto_msg m;

	if (!q->active)
		return;
	memset(&m, 0, sizeof(m));
	m.kind = PROTO_MSG_REQUEST;
	m.dir = r->di ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
	m.flags = q->truncated ? PROTO_MSG_F_TRUNCATED : 0;
	m.start_ts = q->start_ts;
	m.end_ts = q->end_ts < q->start_ts ? q->start_ts : q->end_ts;
	m.tcp_seq = q->tcp_seq;
	m.length = q->length;
	m.code = -1;
	m.method = pstr(name, strlen(name));
	m.resource = pstr(q->sql, q->has_sql ? q->sql_len : 0);
	emit_out(r, &m);
	q->active = 0;
	q->has_sql = 0;
	q->truncated = 0;
	q->kind = K_NONE;
	c->pending++;
}

static void resp_emit(struct pg_run *r)
{
	struct pg_conn *c = r->c;
	struct pg_resp *s = &c->resp;
	struct proto_msg m;

	if (!s->active)
		return;
	memset(&m, 0, sizeof(m));
	m.kind = PROTO_MSG_RESPONSE;
	m.dir = r->di ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
	m.flags = s->flags;
	m.start_ts = s->start_ts;
	m.end_ts = s->end_ts < s->start_ts ? s->start_ts : s->end_ts;
	m.tcp_seq = s->tcp_seq;
	m.length = s->length;
	m.code = -1;
	m.status = s->has_error ? s->status : PROTO_STATUS_OK;
	if (s->has_error) {
		m.result = pstr(s->sqlstate, s->state_len);
		m.exception = pstr(s->msg, s->msg_len);
	}
	m.has_affected_rows = s->has_rows;
	m.affected_rows = s->rows;
	emit_out(r, &m);
	memset(s, 0, offsetof(struct pg_resp, sqlstate));
	if (c->pending)
		c->pending--;
}

/* ---- client messages -------------------------------------------------------------- */

static void req_touch(struct pg_run *r, const struct pg_dir *d, uint8_t kind)
{
	struct pg_req *q = &r->c->req;

	if (!q->active) {
		q->active = 1;
		q->kind = K_NONE;
		q->start_ts = d->m_start_ts;
		q->tcp_seq = d->m_tcp_seq;
		q->length = 0;
	}
	if (kind > q->kind)
		q->kind = kind;
	q->end_ts = d->m_end_ts;
	q->length += (uint64_t)d->body_len + 5;
}

static void req_set_sql(struct pg_run *r, const uint8_t *sql, size_t n, bool cut)
{
	struct pg_req *q = &r->c->req;

	if (q->has_sql)
		return;
	q->sql_len = (uint16_t)put_sql(r, q->sql, sizeof(q->sql), sql, n);
	q->has_sql = 1;
	q->truncated = cut;
}

static void client_message(struct pg_run *r, uint8_t tag, const struct pg_dir *d)
{
	struct pg_conn *c = r->c;
	const uint8_t *b = d->pre;
	size_t n = d->pre_n;
	bool cut = d->pre_n < d->body_len;
	long a, q;
	struct pg_stmt *s;

	switch (tag) {
	case 'Q':
		req_emit(r); /* an unsynced extended group ends here */
		req_touch(r, d, K_QUERY);
		a = cstr(b, n);
		req_set_sql(r, b, a >= 0 ? (size_t)a : n, cut);
		req_emit(r);
		break;
	case 'F':
		req_emit(r);
		req_touch(r, d, K_FUNCTION);
		req_emit(r);
		break;
	case 'P':
		req_touch(r, d, K_PARSE);
		a = cstr(b, n);
		if (a < 0)
			break;
		q = cstr(b + a + 1, n - (size_t)a - 1);
		c->req.has_sql = 0; /* the Parse's SQL wins over a Bind's */
		req_set_sql(r, b + a + 1, q >= 0 ? (size_t)q : n - (size_t)a - 1, q < 0 && cut);
		stmt_put(c, b, (size_t)a, c->req.sql, c->req.sql_len);
		break;
	case 'B':
		req_touch(r, d, K_BIND);
		a = cstr(b, n);
		if (a < 0)
			break;
		q = cstr(b + a + 1, n - (size_t)a - 1);
		if (q < 0)
			break;
		s = stmt_find(c, b + a + 1, (size_t)q);
		if (s && !c->req.has_sql) {
			memcpy(c->req.sql, s->sql, s->sql_len);
			c->req.sql_len = s->sql_len;
			c->req.has_sql = 1;
		}
		break;
	case 'E': req_touch(r, d, K_EXECUTE); break;
	case 'D': req_touch(r, d, K_DESCRIBE); break;
	case 'C':
		req_touch(r, d, K_CLOSE);
		if (n >= 2 && b[0] == 'S') {
			a = cstr(b + 1, n - 1);
			s = a >= 0 ? stmt_find(c, b + 1, (size_t)a) : NULL;
			if (s)
				s->used = 0;
		}
		break;
	case 'H': req_touch(r, d, K_NONE); break;
	case 'S':
		req_touch(r, d, K_SYNC);
		req_emit(r);
		break;
	default: break; /* Terminate, COPY data, password and SASL messages */
	}
}

/* An untagged message: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest. */
static void client_untagged(struct pg_run *r, const struct pg_dir *d)
{
	struct pg_conn *c = r->c;
	uint32_t code = d->pre_n >= 4 ? be32(d->pre) : 0;

	if (code == PG_SSL_REQ || code == PG_GSS_REQ) {
		c->enc_wait = 1;
	} else if (code == PG_PROTO_V3 || (code >> 16) == 3) {
		c->phase = PP_STARTUP;
	}
}

/* ---- server messages -------------------------------------------------------------- */

static void resp_touch(struct pg_run *r, const struct pg_dir *d)
{
	struct pg_resp *s = &r->c->resp;

	if (!s->active) {
		s->active = 1;
		s->start_ts = d->m_start_ts;
		s->tcp_seq = d->m_tcp_seq;
		s->length = 0;
	}
	s->end_ts = d->m_end_ts;
	s->length += (uint64_t)d->body_len + 5;
}

static void on_command_complete(struct pg_resp *s, const uint8_t *b, size_t n)
{
	long len = cstr(b, n);
	const uint8_t *sp;
	uint64_t v = 0;
	size_t i;
	int digits = 0;

	if (len <= 0)
		return;
	/* "INSERT oid rows", "UPDATE n", "DELETE n", "SELECT n", "MERGE n", "COPY n", ... */
	sp = memrchr(b, ' ', (size_t)len);
	if (!sp)
		return;
	if (!((len >= 6 && (!memcmp(b, "INSERT", 6) || !memcmp(b, "UPDATE", 6) ||
			    !memcmp(b, "DELETE", 6) || !memcmp(b, "SELECT", 6))) ||
	      (len >= 5 && (!memcmp(b, "MERGE", 5) || !memcmp(b, "FETCH", 5))) ||
	      (len >= 4 && (!memcmp(b, "COPY", 4) || !memcmp(b, "MOVE", 4)))))
		return;
	for (i = (size_t)(sp - b) + 1; i < (size_t)len; i++) {
		if (b[i] < '0' || b[i] > '9' || ++digits > 19)
			return;
		v = v * 10 + (uint64_t)(b[i] - '0');
	}
	if (!digits)
		return;
	s->rows += v;
	s->has_rows = 1;
}

static void on_error(struct pg_resp *s, const uint8_t *b, size_t n)
{
	size_t i = 0;
	long l;

	s->has_error = 1;
	s->status = PROTO_STATUS_SERVER_ERROR;
	while (i < n && b[i]) {
		uint8_t f = b[i++];

		l = cstr(b + i, n - i);
		if (l < 0)
			l = (long)(n - i); /* cut by the capture: take what is there */
		if (f == 'C' && l == 5) {
			memcpy(s->sqlstate, b + i, 5);
			s->state_len = 5;
			s->status = status_of_sqlstate(s->sqlstate);
		} else if (f == 'M') {
			s->msg_len = (uint16_t)(l < PG_MSG_CAP ? l : PG_MSG_CAP);
			memcpy(s->msg, b + i, s->msg_len);
		}
		i += (size_t)l + 1;
	}
}

static void server_message(struct pg_run *r, uint8_t tag, const struct pg_dir *d)
{
	struct pg_conn *c = r->c;
	struct pg_resp *s = &c->resp;

	switch (tag) {
	case 'Z':
		if (c->phase == PP_STARTUP || c->phase == PP_INIT)
			c->phase = PP_READY;
		if (s->active) {
			resp_touch(r, d);
			resp_emit(r);
		} else if (c->pending) {
			/* an answer with nothing in it but ReadyForQuery (an empty Sync) */
			resp_touch(r, d);
			resp_emit(r);
		}
		return;
	case 'N': /* notices, parameter changes, notifications: not answers */
	case 'A':
	case 'S':
	case 'R':
	case 'K':
		if (s->active)
			s->length += (uint64_t)d->body_len + 5;
		return;
	case 'E':
		resp_touch(r, d);
		on_error(s, d->pre, d->pre_n);
		/* refused at startup: no ReadyForQuery follows, the server closes */
		if (c->phase == PP_STARTUP)
			resp_emit(r);
		return;
	case 'C':
		resp_touch(r, d);
		on_command_complete(s, d->pre, d->pre_n);
		return;
	default: resp_touch(r, d); return;
	}
}

/* ---- framing ----------------------------------------------------------------------- */

static void message_done(struct pg_run *r, struct pg_dir *d)
{
	struct pg_conn *c = r->c;
	uint8_t tag = d->hdr_want == 5 ? d->hdr[0] : 0;

	if (!c->client_dir) {
		if (!tag || client_tag(tag) != server_tag(tag))
			c->client_dir =
				(uint8_t)((!tag || client_tag(tag)) ? r->di + 1 : 2 - r->di);
		else
			return; /* cannot tell the sides apart yet */
	}
	if (is_client(c, r->di)) {
		if (!tag)
			client_untagged(r, d);
		else if (!client_tag(tag))
			r->st->parse_errors++;
		else
			client_message(r, tag, d);
	} else {
		if (!server_tag(tag))
			r->st->parse_errors++;
		else
			server_message(r, tag, d);
	}
}

/* Does a message plausibly begin at p? -1: cannot tell yet. */
static int plausible_start(const struct pg_conn *c, int di, const uint8_t *p, size_t n)
{
	uint32_t len;

	if (n < 5)
		return -1;
	len = be32(p + 1);
	if (len < 4 || len > PG_MAX_LEN)
		return 0;
	if (is_client(c, di))
		return client_tag(p[0]);
	return server_tag(p[0]);
}

/* The next message from this side has no type byte. */
static bool expect_untagged(const struct pg_conn *c, int di, const uint8_t *p, size_t n)
{
	uint32_t len, code;

	if (c->phase != PP_INIT || (c->client_dir && !is_client(c, di)) || n < 8)
		return false;
	len = be32(p);
	code = be32(p + 4);
	if (len < 8 || len > 10000)
		return false;
	return ((code == PG_SSL_REQ || code == PG_GSS_REQ) && len == 8) ||
	       (code == PG_CANCEL && len == 16) || code == PG_PROTO_V3;
}

static void pg_feed(struct pg_run *r, const uint8_t *p, size_t n)
{
	struct pg_conn *c = r->c;
	struct pg_dir *d = &c->dir[r->di];
	size_t k = 0, take, room;
	uint32_t len;

	while (k < n) {
		if (c->phase == PP_OPAQUE || d->lost)
			return;
		if (d->hdr_n == 0) {
			const struct proto_seg *g = proto_input_locate(r->in, k);

			/* the server's bare answer to SSLRequest / GSSENCRequest */
			if (c->enc_wait && !is_client(c, r->di)) {
				c->enc_wait = 0;
				if (p[k] == 'S' || p[k] == 'G') {
					c->phase = PP_OPAQUE;
					return;
				}
				if (p[k] == 'N') {
					k++;
					continue;
				}
			}
			d->hdr_want = expect_untagged(c, r->di, p + k, n - k) ? 4 : 5;
			d->m_start_ts = g ? g->ts_start : 0;
			d->m_tcp_seq = proto_input_seq_at(r->in, k);
			d->pre_n = 0;
		}
		if (d->hdr_n < d->hdr_want) {
			d->hdr[d->hdr_n++] = p[k++];
			if (d->hdr_n < d->hdr_want)
				continue;
			len = be32(d->hdr + d->hdr_want - 4);
			if (len < 4 || len > PG_MAX_LEN ||
			    (d->hdr_want == 5 &&
			     !(is_client(c, r->di) ? client_tag(d->hdr[0])
						   : server_tag(d->hdr[0])) &&
			     c->client_dir)) {
				/* not a message: the framing is lost */
				r->st->parse_errors++;
				r->st->resyncs++;
				d->lost = 1;
				d->hdr_n = 0;
				return;
			}
			/* an untagged message's length counts its code too: keep it in the body */
			d->body_len = len - 4;
			d->left = d->body_len;
			if (!d->left) {
				d->m_end_ts = proto_input_locate(r->in, k - 1)->ts_end;
				d->hdr_n = 0;
				message_done(r, d);
			}
			continue;
		}
		take = n - k;
		if (take > d->left)
			take = d->left;
		room = PG_PRE_CAP - d->pre_n;
		memcpy(d->pre + d->pre_n, p + k, take < room ? take : room);
		d->pre_n += (uint32_t)(take < room ? take : room);
		k += take;
		d->left -= (uint32_t)take;
		if (!d->left) {
			d->m_end_ts = proto_input_locate(r->in, k - 1)->ts_end;
			d->hdr_n = 0;
			message_done(r, d);
		}
	}
}

static void pg_gap(struct pg_run *r, uint64_t gap)
{
	struct pg_conn *c = r->c;
	struct pg_dir *d = &c->dir[r->di];
	const struct proto_seg *g = proto_input_locate(r->in, r->in->len);

	if (!gap || d->lost || c->phase == PP_OPAQUE)
		return;
	if (d->hdr_n && d->hdr_n == d->hdr_want && gap <= d->left) {
		d->left -= (uint32_t)gap;
		if (!d->left) {
			d->m_end_ts = g ? g->ts_end : 0;
			d->hdr_n = 0;
			message_done(r, d);
		}
		return;
	}
	if (d->hdr_n && d->hdr_n == d->hdr_want) {
		gap -= d->left;
		d->left = 0;
		d->m_end_ts = g ? g->ts_end : 0;
		d->hdr_n = 0;
		message_done(r, d);
	}
	d->hdr_n = 0;
	d->lost = 1;
	r->st->resyncs++;
	if (!is_client(c, r->di) && c->resp.active) {
		/* the rest of the event most likely belongs to the answer under way */
		c->resp.length += gap;
		c->resp.flags |= PROTO_MSG_F_LEN_GUESSED;
		resp_emit(r);
	}
}

static int pg_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		    struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct pg_conn *c = state;
	struct pg_dir *d;
	struct pg_run r;
	int ps;

	stats = proto_parse_begin(c, in, stats, &scratch);
	if (!stats)
		return PROTO_ERROR;
	memset(&r, 0, sizeof(r));
	r.c = c;
	r.in = in;
	r.emit = emit;
	r.ctx = ctx;
	r.st = stats;
	r.di = in->dir == PROTO_DIR_INGRESS;
	d = &c->dir[r.di];
	if (!c->client_dir && in->ctx && in->ctx->role != PROTO_ROLE_UNKNOWN)
		c->client_dir = (uint8_t)(in->ctx->role == PROTO_ROLE_CLIENT ? 1 : 2);
	if (c->phase == PP_OPAQUE)
		return (int)in->len;
	/* The first bytes of the client: a startup message needs 8 bytes to be recognised. */
	if (c->phase == PP_INIT && d->hdr_n == 0 && !d->lost && in->len < 8 && !in->gap &&
	    (!c->client_dir || is_client(c, r.di)) && in->len && in->data[0] == 0)
		return 0;
	if (d->lost) {
		ps = plausible_start(c, r.di, in->data, in->len);
		if (ps < 0 && !in->gap)
			return 0;
		if (ps <= 0)
			return (int)in->len;
		d->lost = 0;
		d->hdr_n = 0;
	}
	pg_feed(&r, in->data, in->len);
	if (in->gap)
		pg_gap(&r, in->gap);
	return (int)in->len;
}

static void pg_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct pg_conn *c = state;
	struct pg_run r;

	if (!c)
		return;
	stats = proto_stats_or_scratch(stats, &scratch);
	memset(&r, 0, sizeof(r));
	r.c = c;
	r.emit = emit;
	r.ctx = ctx;
	r.st = stats;
	/* an extended group never synced, an answer never finished */
	r.di = c->client_dir ? c->client_dir - 1 : 0;
	if (c->req.active && c->req.kind != K_NONE)
		req_emit(&r);
	r.di = c->client_dir ? 2 - c->client_dir : 1;
	if (c->resp.active) {
		if (!c->resp.end_ts)
			c->resp.end_ts = ts;
		c->resp.flags |= PROTO_MSG_F_LEN_GUESSED;
		resp_emit(&r);
	}
	if (c->dir[0].hdr_n || c->dir[1].hdr_n)
		stats->truncated++;
	memset(c, 0, sizeof(*c));
}

static void pg_reset(void *state, enum proto_dir dir)
{
	struct pg_conn *c = state;
	struct pg_dir *d;

	if (!c || (dir != PROTO_DIR_EGRESS && dir != PROTO_DIR_INGRESS))
		return;
	d = &c->dir[dir == PROTO_DIR_INGRESS];
	memset(d, 0, offsetof(struct pg_dir, pre));
	d->lost = 1;
}

/* ---- detection ------------------------------------------------------------------- */

static enum proto_detect pg_detect(const uint8_t *p, size_t n, enum proto_dir dir,
				   const struct proto_ctx *ctx)
{
	bool on_port = ctx && ctx->server_port == 5432;
	uint32_t len, code;
	long a;

	(void)dir;
	if (!p || n < 5 || (ctx && ctx->l4_proto == 17))
		return PROTO_DETECT_NO;
	if (n >= 8 && p[0] == 0) {
		len = be32(p);
		code = be32(p + 4);
		if (len == 8 && (code == PG_SSL_REQ || code == PG_GSS_REQ))
			return PROTO_DETECT_YES;
		if (len == 16 && code == PG_CANCEL)
			return PROTO_DETECT_YES;
		/* StartupMessage: protocol 3.0 and its first parameter name */
		if (code == PG_PROTO_V3 && len >= 13 && len <= 10000 && n >= 9 &&
		    ((n >= 13 && !memcmp(p + 8, "user", 4)) || (p[8] >= 'a' && p[8] <= 'z')))
			return PROTO_DETECT_YES;
		return PROTO_DETECT_NO;
	}
	len = be32(p + 1);
	if (len < 4 || len > PG_MAX_LEN)
		return PROTO_DETECT_NO;
	switch (p[0]) {
	case 'Q':
		/* the SQL ends with the message */
		if (len < 5 || (n >= (size_t)len + 1 && p[len] != 0))
			return PROTO_DETECT_NO;
		if (sql_starts_like_statement(p + 5, n - 5 < len - 4 ? n - 5 : len - 4))
			return PROTO_DETECT_YES;
		/* not SQL we know, but exactly one text message: plausible */
		if (n != (size_t)len + 1)
			return PROTO_DETECT_NO;
		for (size_t i = 5; i < n - 1; i++) {
			if (p[i] < 0x20 && p[i] != '\n' && p[i] != '\t' && p[i] != '\r')
				return PROTO_DETECT_NO;
		}
		return PROTO_DETECT_MAYBE;
	case 'P':
		a = cstr(p + 5, n - 5 < len - 4 ? n - 5 : len - 4);
		if (a < 0 || a > 63)
			return PROTO_DETECT_NO;
		return sql_starts_like_statement(p + 5 + a + 1, n - 5 - (size_t)a - 1)
			       ? PROTO_DETECT_YES
			       : PROTO_DETECT_NO;
	case 'R':
		/* AuthenticationOk / password / SASL requests */
		if (len >= 8 && len <= 2048 && n >= 9 && be32(p + 5) <= 12)
			return on_port ? PROTO_DETECT_YES : PROTO_DETECT_MAYBE;
		return PROTO_DETECT_NO;
	default:
		if (on_port && (client_tag(p[0]) || server_tag(p[0])) && len <= 1u << 20)
			return PROTO_DETECT_MAYBE;
		return PROTO_DETECT_NO;
	}
}

const struct proto_ops proto_postgresql_ops = {
	.name = "PostgreSQL",
	.id = PROTO_POSTGRESQL,
	.state_size = sizeof(struct pg_conn),
	.detect = pg_detect,
	.parse = pg_parse,
	.on_close = pg_on_close,
	.reset = pg_reset,
	.release = NULL,
};
