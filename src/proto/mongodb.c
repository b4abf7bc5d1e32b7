/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MongoDB wire protocol parser.
 *
 * Every message has a 16-byte header (messageLength, requestID, responseTo, opCode, all
 * little-endian). A request has responseTo 0; a reply names the request it answers, so
 * pairing is by session id = requestID of a request / responseTo of a reply.
 *
 * - OP_MSG: flag bits, then sections (kind 0: the command document; kind 1: a document
 *   sequence). A request with moreToCome expects no reply (PROTO_MSG_F_NO_RESPONSE).
 * - OP_QUERY / OP_REPLY: the legacy pair, still used for the first handshake (isMaster).
 * - OP_COMPRESSED: the original opcode is reported; the noop compressor's payload is
 *   parsed as that opcode, other compressors' are not decompressed.
 * - The other legacy opcodes (insert, update, delete, get-more, kill-cursors) are named by
 *   their opcode.
 *
 * request_type is the command name (the first key of the command document: "find",
 * "insert", "isMaster", "hello"...); request_resource renders the command document as
 * DeepFlow does, but by default with every value replaced by '?' except the command's own
 * value (the collection) and "$db"; request_domain is "$db" and endpoint the collection. A
 * reply's "ok" decides the status; "code" and "errmsg" (or the first of "writeErrors", or
 * OP_REPLY's "$err") give response_code and response_exception.
 *
 * Only the first MONGO_HEAD_CAP bytes of a message are parsed (a bounded BSON walk with a
 * nesting limit); the rest is skipped as it streams, and the message is reported when its
 * last byte has passed.
 */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/proto_util.h"

#define MONGO_HDR	 16
#define MONGO_HEAD_CAP	 8192
#define MONGO_MAX_MSG	 (64u << 20) /* servers refuse more than 48 MB */
#define MONGO_MAX_DEPTH	 8
#define MONGO_CAP_RES	 1024
#define MONGO_CAP_RESULT 1024
#define MONGO_CAP_EXC	 256
#define MONGO_CAP_NAME	 64
#define MONGO_CAP_DB	 128
#define MONGO_CAP_COLL	 128

enum opcode {
	OP_REPLY = 1,
	OP_UPDATE = 2001,
	OP_INSERT = 2002,
	OP_QUERY = 2004,
	OP_GET_MORE = 2005,
	OP_DELETE = 2006,
	OP_KILL_CURSORS = 2007,
	OP_COMPRESSED = 2012,
	OP_MSG = 2013,
};

static const char *op_name(int32_t op)
{
	switch (op) {
	case OP_REPLY: return "OP_REPLY";
	case OP_UPDATE: return "OP_UPDATE";
	case OP_INSERT: return "OP_INSERT";
	case OP_QUERY: return "OP_QUERY";
	case OP_GET_MORE: return "OP_GET_MORE";
	case OP_DELETE: return "OP_DELETE";
	case OP_KILL_CURSORS: return "OP_KILL_CURSORS";
	case OP_COMPRESSED: return "OP_COMPRESSED";
	case OP_MSG: return "OP_MSG";
	default: return NULL;
	}
}

enum phase {
	PH_MSG = 0,
	PH_RESYNC,
};

/* The message a direction is in, its strings copied: it is reported at its last byte. */
struct mmsg {
	uint64_t start_ts, end_ts, length;
	uint32_t tcp_seq, flags, request_id, session_id;
	int32_t code;
	uint8_t kind, status, has_request_id;
	uint16_t method_len, res_len, result_len, exc_len, db_len, coll_len;
	char method[MONGO_CAP_NAME];
	char res[MONGO_CAP_RES];
	char result[MONGO_CAP_RESULT];
	char exc[MONGO_CAP_EXC];
	char db[MONGO_CAP_DB];
	char coll[MONGO_CAP_COLL];
};

struct mdir {
	uint64_t left; /* bytes of the current message still to skip */
	uint8_t phase;
	uint8_t skipping;
	uint8_t active;
	struct mmsg m;
};

struct mconn {
	struct mdir dir[2];
};

struct mrun {
	struct mconn *c;
	struct mdir *d;
	const struct proto_input *in;
	proto_emit_fn emit;
	void *ctx;
	struct proto_stats *st;
	int dir;
	bool keep;
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* ---- output buffer ---------------------------------------------------------------- */

struct sb {
	char *p;
	size_t cap, n;
	bool full;
};

static void sb_put(struct sb *b, const char *s, size_t n)
{
	size_t room = b->cap - b->n;

	if (n > room) {
		n = room;
		b->full = true;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void sb_str(struct sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* A string value or key, quoted, control bytes and quotes escaped away. */
static void sb_quoted(struct sb *b, const uint8_t *s, size_t n)
{
	sb_put(b, "\"", 1);
	for (size_t i = 0; i < n && !b->full; i++) {
		char ch = (char)s[i];

		if (s[i] < 0x20 || s[i] == 0x7f)
			ch = ' ';
		if (ch == '"' || ch == '\\')
			sb_put(b, "\\", 1);
		sb_put(b, &ch, 1);
	}
	sb_put(b, "\"", 1);
}

/* ---- BSON ------------------------------------------------------------------------- */

/* Length of a cstring at p[0..n): up to its NUL (excluded), or -1 if none. */
static long cstr_len(const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, 0, n);

	return z ? (long)(z - p) : -1;
}

/* Bytes a value of this type takes at p (n available, the value possibly cut short by
 * the parse cap); -1 when the type is unknown or the value is malformed. *cut: it goes
 * beyond n. */
static long value_len(uint8_t type, const uint8_t *p, size_t n, bool *cut)
{
	long l, l2;
	uint32_t v;

	*cut = false;
	switch (type) {
	case 0x01:
	case 0x09:
	case 0x11:
	case 0x12: l = 8; break;
	case 0x07: l = 12; break;
	case 0x08: l = 1; break;
	case 0x06:
	case 0x0A:
	case 0xFF:
	case 0x7F: l = 0; break;
	case 0x10: l = 4; break;
	case 0x13: l = 16; break;
	case 0x02:
	case 0x0D:
	case 0x0E:
		if (n < 4) {
			*cut = true;
			return 4;
		}
		v = le32(p);
		if (v < 1 || v > MONGO_MAX_MSG)
			return -1;
		l = 4 + (long)v;
		break;
	case 0x0C:
		if (n < 4) {
			*cut = true;
			return 4;
		}
		v = le32(p);
		if (v < 1 || v > MONGO_MAX_MSG)
			return -1;
		l = 4 + (long)v + 12;
		break;
	case 0x03:
	case 0x04:
	case 0x0F:
		if (n < 4) {
			*cut = true;
			return 4;
		}
		v = le32(p);
		if (v < 5 || v > MONGO_MAX_MSG)
			return -1;
		l = (long)v;
		break;
	case 0x05:
		if (n < 4) {
			*cut = true;
			return 4;
		}
		v = le32(p);
		if (v > MONGO_MAX_MSG)
			return -1;
		l = 5 + (long)v;
		break;
	case 0x0B:
		l = cstr_len(p, n);
		if (l < 0) {
			*cut = true;
			return (long)n + 1;
		}
		l2 = cstr_len(p + l + 1, n - (size_t)l - 1);
		if (l2 < 0) {
			*cut = true;
			return (long)n + 1;
		}
		l = l + 1 + l2 + 1;
		break;
	default: return -1;
	}
	if ((size_t)l > n)
		*cut = true;
	return l;
}

struct render {
	struct sb *out;
	bool keep;
};

static void render_doc(struct render *r, const uint8_t *p, size_t n, bool array, int depth);

static void render_value(struct render *r, uint8_t type, const uint8_t *v, size_t n, bool cut,
			 bool show, int depth)
{
	char num[48];

	if (cut && type != 0x03 && type != 0x04) {
		sb_str(r->out, "...");
		return;
	}
	if (type == 0x03 || type == 0x04) { /* a document cut short shows what is there */
		if (depth >= MONGO_MAX_DEPTH) {
			sb_str(r->out, type == 0x03 ? "{...}" : "[...]");
			return;
		}
		render_doc(r, v, n, type == 0x04, depth + 1);
		return;
	}
	if (!show) {
		sb_str(r->out, "?");
		return;
	}
	switch (type) {
	case 0x01: {
		double d;
		uint64_t u = le64(v);

		memcpy(&d, &u, sizeof(d));
		snprintf(num, sizeof(num), "%.17g", d);
		sb_str(r->out, num);
		break;
	}
	case 0x02:
	case 0x0D:
	case 0x0E: sb_quoted(r->out, v + 4, le32(v) - 1); break;
	case 0x07:
		sb_str(r->out, "ObjectId(\"");
		for (int i = 0; i < 12; i++) {
			snprintf(num, sizeof(num), "%02x", v[i]);
			sb_str(r->out, num);
		}
		sb_str(r->out, "\")");
		break;
	case 0x08: sb_str(r->out, v[0] ? "true" : "false"); break;
	case 0x09:
		snprintf(num, sizeof(num), "DateTime(%lld)", (long long)le64(v));
		sb_str(r->out, num);
		break;
	case 0x0A: sb_str(r->out, "null"); break;
	case 0x10:
		snprintf(num, sizeof(num), "%d", (int32_t)le32(v));
		sb_str(r->out, num);
		break;
	case 0x11:
		snprintf(num, sizeof(num), "Timestamp(%u, %u)", le32(v + 4), le32(v));
		sb_str(r->out, num);
		break;
	case 0x12:
		snprintf(num, sizeof(num), "%lld", (long long)le64(v));
		sb_str(r->out, num);
		break;
	case 0x05:
		snprintf(num, sizeof(num), "Binary(0x%x, %u bytes)", v[4], le32(v));
		sb_str(r->out, num);
		break;
	default: sb_str(r->out, "?"); break;
	}
}

/*
 * Render a document (JSON-like, DeepFlow's layout) from the n bytes available at p; a
 * document cut short by the parse cap ends with "...". The depth is bounded by the caller.
 */
static void render_doc(struct render *r, const uint8_t *p, size_t n, bool array, int depth)
{
	size_t i = 4, lim;
	uint32_t dl;
	bool first = true;

	if (n < 5) {
		sb_str(r->out, "...");
		return;
	}
	dl = le32(p);
	lim = dl < n ? dl : n;
	sb_str(r->out, array ? "[" : "{ ");
	while (i < lim && p[i] != 0 && !r->out->full) {
		uint8_t type = p[i++];
		long kl = cstr_len(p + i, lim - i), vl;
		const uint8_t *key = p + i;
		bool cut;

		if (kl < 0) {
			sb_str(r->out, first ? "..." : ", ...");
			break;
		}
		i += (size_t)kl + 1;
		vl = value_len(type, p + i, lim - i, &cut);
		if (vl < 0)
			break;
		if (!first)
			sb_str(r->out, ", ");
		if (!array) {
			sb_quoted(r->out, key, (size_t)kl);
			sb_str(r->out, ": ");
		}
		render_value(r, type, p + i, cut ? lim - i : (size_t)vl, cut, r->keep, depth);
		first = false;
		if (cut)
			break;
		i += (size_t)vl;
	}
	sb_str(r->out, array ? "]" : " }");
}

/* Find a top-level key; the value's type, view and availability. */
static bool bson_find(const uint8_t *p, size_t n, const char *want, uint8_t *type,
		      const uint8_t **v, size_t *vn)
{
	size_t i = 4, lim, wl = strlen(want);
	uint32_t dl;

	if (n < 5)
		return false;
	dl = le32(p);
	lim = dl < n ? dl : n;
	while (i < lim && p[i] != 0) {
		uint8_t t = p[i++];
		long kl = cstr_len(p + i, lim - i), vl;
		bool cut;

		if (kl < 0)
			return false;
		const uint8_t *key = p + i;

		i += (size_t)kl + 1;
		vl = value_len(t, p + i, lim - i, &cut);
		if (vl < 0 || cut)
			return false;
		if ((size_t)kl == wl && !memcmp(key, want, wl)) {
			*type = t;
			*v = p + i;
			*vn = (size_t)vl;
			return true;
		}
		i += (size_t)vl;
	}
	return false;
}

static bool bson_num(const uint8_t *p, size_t n, const char *key, double *out)
{
	const uint8_t *v;
	uint8_t t;
	size_t vn;
	uint64_t u;

	if (!bson_find(p, n, key, &t, &v, &vn))
		return false;
	switch (t) {
	case 0x01:
		u = le64(v);
		memcpy(out, &u, sizeof(*out));
		return true;
	case 0x10: *out = (int32_t)le32(v); return true;
	case 0x12: *out = (double)(int64_t)le64(v); return true;
	case 0x08: *out = v[0] ? 1 : 0; return true;
	default: return false;
	}
}

static void copy_str(char *dst, uint16_t *dlen, size_t cap, const uint8_t *s, size_t n)
{
	if (n > cap)
		n = cap;
	for (size_t i = 0; i < n; i++)
		dst[i] = (s[i] < 0x20 || s[i] == 0x7f) ? ' ' : (char)s[i];
	*dlen = (uint16_t)n;
}

static bool bson_str(const uint8_t *p, size_t n, const char *key, char *dst, uint16_t *dlen,
		     size_t cap)
{
	const uint8_t *v;
	uint8_t t;
	size_t vn;

	if (!bson_find(p, n, key, &t, &v, &vn) || t != 0x02)
		return false;
	copy_str(dst, dlen, cap, v + 4, vn - 5);
	return true;
}

/* ---- commands and replies --------------------------------------------------------- */

static bool server_code(int32_t code)
{
	switch (code) {
	case 1:	    /* InternalError */
	case 6:	    /* HostUnreachable */
	case 7:	    /* HostNotFound */
	case 50:    /* MaxTimeMSExpired */
	case 89:    /* NetworkTimeout */
	case 91:    /* ShutdownInProgress */
	case 189:   /* PrimarySteppedDown */
	case 262:   /* ExceededTimeLimit */
	case 10107: /* NotWritablePrimary */
	case 11600: /* InterruptedAtShutdown */
	case 11602: /* InterruptedDueToReplStateChange */
	case 13435: /* NotPrimaryNoSecondaryOk */
	case 13436: /* NotPrimaryOrSecondary */ return true;
	default: return false;
	}
}

/* A request's command document: its name, collection, database and rendering. */
static void command_doc(struct mrun *r, const uint8_t *p, size_t n)
{
	struct mmsg *m = &r->d->m;
	struct sb out = { m->res, sizeof(m->res), 0, false };
	struct render rd = { &out, r->keep };
	size_t i = 4, lim;
	uint32_t dl;
	long kl, vl;
	bool cut;

	if (n < 5)
		return;
	dl = le32(p);
	lim = dl < n ? dl : n;
	if (lim > 5 && p[4] != 0) {
		uint8_t t = p[4];

		kl = cstr_len(p + 5, lim - 5);
		if (kl > 0) {
			copy_str(m->method, &m->method_len, sizeof(m->method), p + 5, (size_t)kl);
			i = 5 + (size_t)kl + 1;
			vl = value_len(t, p + i, lim - i, &cut);
			if (t == 0x02 && vl > 4 && !cut)
				copy_str(m->coll, &m->coll_len, sizeof(m->coll), p + i + 4,
					 (size_t)vl - 5);
		}
	}
	bson_str(p, n, "$db", m->db, &m->db_len, sizeof(m->db));
	/* The command's value (the collection) and $db are names, shown even when values
	 * are hidden: render them by hand around the generic walk. */
	if (r->keep) {
		render_doc(&rd, p, n, false, 1);
	} else {
		size_t j = 4;
		bool first = true;

		sb_str(&out, "{ ");
		while (j < lim && p[j] != 0 && !out.full) {
			uint8_t t = p[j++];
			const uint8_t *key = p + j;

			kl = cstr_len(p + j, lim - j);
			if (kl < 0) {
				sb_str(&out, first ? "..." : ", ...");
				break;
			}
			j += (size_t)kl + 1;
			vl = value_len(t, p + j, lim - j, &cut);
			if (vl < 0)
				break;
			if (!first)
				sb_str(&out, ", ");
			sb_quoted(&out, key, (size_t)kl);
			sb_str(&out, ": ");
			render_value(&rd, t, p + j, cut ? lim - j : (size_t)vl, cut,
				     t == 0x02 && (first || (kl == 3 && !memcmp(key, "$db", 3))),
				     1);
			first = false;
			if (cut)
				break;
			j += (size_t)vl;
		}
		sb_str(&out, " }");
	}
	m->res_len = (uint16_t)out.n;
}

/* A reply document: ok, code, errmsg, writeErrors; the rendering only with values kept. */
static void reply_doc(struct mrun *r, const uint8_t *p, size_t n, bool legacy_failure)
{
	struct mmsg *m = &r->d->m;
	double ok = 1, code;
	const uint8_t *v;
	uint8_t t;
	size_t vn;

	m->status = PROTO_STATUS_OK;
	m->code = 0;
	if (r->keep) {
		struct sb out = { m->result, sizeof(m->result), 0, false };
		struct render rd = { &out, true };

		render_doc(&rd, p, n, false, 1);
		m->result_len = (uint16_t)out.n;
	}
	if (legacy_failure) {
		ok = 0;
		bson_str(p, n, "$err", m->exc, &m->exc_len, sizeof(m->exc));
	} else if (!bson_num(p, n, "ok", &ok)) {
		m->status = PROTO_STATUS_UNKNOWN;
		m->code = -1;
		return;
	}
	if (ok == 1) {
		/* ok, but a write failed: the first write error tells */
		if (!bson_find(p, n, "writeErrors", &t, &v, &vn) || t != 0x04 || vn < 5 ||
		    v[4] != 0x03)
			return;
		/* the first element: type, key "0", then the document */
		if (vn < 7 || v[5] != '0' || v[6] != 0)
			return;
		p = v + 7;
		n = vn - 7;
	}
	m->code = bson_num(p, n, "code", &code) && code >= 0 && code <= INT32_MAX ? (int32_t)code
										  : -1;
	if (!m->exc_len)
		bson_str(p, n, "errmsg", m->exc, &m->exc_len, sizeof(m->exc));
	m->status = server_code(m->code) ? PROTO_STATUS_SERVER_ERROR : PROTO_STATUS_CLIENT_ERROR;
}

static void set_method(struct mmsg *m, const char *s)
{
	if (!s)
		s = "OP_COMPRESSED";
	copy_str(m->method, &m->method_len, sizeof(m->method), (const uint8_t *)s, strlen(s));
}

/* The body after the header (n bytes available of it), as opcode op. */
static void parse_body(struct mrun *r, int32_t op, const uint8_t *p, size_t n, bool request,
		       int nest)
{
	struct mmsg *m = &r->d->m;
	long l;

	switch (op) {
	case OP_MSG: {
		uint32_t flags;

		if (n < 5)
			return;
		flags = le32(p);
		if (request && (flags & 2))
			m->flags |= PROTO_MSG_F_NO_RESPONSE;
		/* the kind-0 section is the command (or reply) document */
		for (size_t i = 4; i < n;) {
			if (p[i] == 0) {
				if (request)
					command_doc(r, p + i + 1, n - i - 1);
				else
					reply_doc(r, p + i + 1, n - i - 1, false);
				return;
			}
			if (p[i] != 1 || n - i < 5)
				return;
			i += 1 + (size_t)le32(p + i + 1);
		}
		return;
	}
	case OP_QUERY:
		if (n < 4)
			return;
		l = cstr_len(p + 4, n - 4);
		if (l < 0 || (size_t)l + 13 > n)
			return;
		command_doc(r, p + 4 + l + 1 + 8, n - 4 - (size_t)l - 1 - 8);
		if (!m->db_len) {
			const uint8_t *dot = memchr(p + 4, '.', (size_t)l);

			if (dot)
				copy_str(m->db, &m->db_len, sizeof(m->db), p + 4,
					 (size_t)(dot - (p + 4)));
		}
		/* a legacy query on a collection, not a command */
		if (l < 5 || memcmp(p + 4 + l - 5, ".$cmd", 5) != 0) {
			set_method(m, "find");
			copy_str(m->coll, &m->coll_len, sizeof(m->coll), p + 4, (size_t)l);
		}
		return;
	case OP_REPLY:
		if (n < 20)
			return;
		reply_doc(r, p + 20, n - 20, (le32(p) & 2) != 0);
		return;
	case OP_COMPRESSED:
		if (n < 9)
			return;
		set_method(m, op_name((int32_t)le32(p)));
		if (!request) {
			m->code = -1;
			m->status = PROTO_STATUS_UNKNOWN;
		}
		/* the noop compressor: the original message follows as is */
		if (p[8] == 0 && nest == 0 && (int32_t)le32(p) != OP_COMPRESSED) {
			m->method_len = 0;
			parse_body(r, (int32_t)le32(p), p + 9, n - 9, request, 1);
			if (!m->method_len)
				set_method(m, op_name((int32_t)le32(p)));
		}
		return;
	default:
		set_method(m, op_name(op) ? op_name(op) : "");
		if (n > 4 && op != OP_KILL_CURSORS) {
			/* the legacy CRUD ops: zero/flags, then the full collection name */
			l = cstr_len(p + 4, n - 4);
			if (l > 0)
				copy_str(m->coll, &m->coll_len, sizeof(m->coll), p + 4, (size_t)l);
		}
		return;
	}
}

/* ---- framing ---------------------------------------------------------------------- */

static bool header_ok(const uint8_t *p, uint32_t max_len)
{
	uint32_t len = le32(p);
	int32_t op = (int32_t)le32(p + 12);

	if (len < MONGO_HDR || len > max_len || !op_name(op))
		return false;
	/* legacy requests answer nothing (a reply may answer request id 0) */
	if (op != OP_MSG && op != OP_COMPRESSED && op != OP_REPLY)
		return le32(p + 8) == 0;
	return true;
}

static void emit_msg(struct mrun *r)
{
	struct mmsg *m = &r->d->m;
	struct proto_msg o;

	memset(&o, 0, sizeof(o));
	o.kind = m->kind;
	o.dir = r->dir ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
	o.flags = m->flags;
	o.start_ts = m->start_ts;
	o.end_ts = m->end_ts < m->start_ts ? m->start_ts : m->end_ts;
	o.tcp_seq = m->tcp_seq;
	o.length = m->length;
	o.code = -1;
	if (m->kind == PROTO_MSG_REQUEST) {
		o.method = (struct proto_str){ m->method, m->method_len };
		o.resource = (struct proto_str){ m->res, m->res_len };
		o.domain = (struct proto_str){ m->db, m->db_len };
		o.endpoint = (struct proto_str){ m->coll, m->coll_len };
	} else {
		o.code = m->code;
		o.status = m->status;
		o.exception = (struct proto_str){ m->exc, m->exc_len };
		o.result = (struct proto_str){ m->result, m->result_len };
	}
	o.has_request_id = true;
	o.request_id = m->request_id;
	o.has_session_id = true;
	o.session_id = m->session_id;
	if (r->emit)
		r->emit(r->ctx, &o);
	r->st->messages++;
	r->d->active = 0;
}

enum step {
	S_CONT,
	S_MORE,
	S_ERR,
};

static enum step step_msg(struct mrun *r, size_t *pos)
{
	const uint8_t *p = r->in->data + *pos;
	size_t avail = r->in->len - *pos, head;
	struct mdir *d = r->d;
	struct mmsg *m = &d->m;
	uint32_t len, req_id, resp_to;
	int32_t op;
	bool request;

	if (avail < MONGO_HDR)
		return S_MORE;
	if (!header_ok(p, MONGO_MAX_MSG))
		return S_ERR;
	len = le32(p);
	req_id = le32(p + 4);
	resp_to = le32(p + 8);
	op = (int32_t)le32(p + 12);
	head = len < MONGO_HEAD_CAP ? len : MONGO_HEAD_CAP;
	if (avail < head)
		return S_MORE;
	request = op == OP_REPLY ? false : resp_to == 0;
	memset(m, 0, offsetof(struct mmsg, method));
	m->kind = request ? PROTO_MSG_REQUEST : PROTO_MSG_RESPONSE;
	m->start_ts = proto_ts_start_at(r->in, *pos);
	m->tcp_seq = proto_input_seq_at(r->in, *pos);
	m->length = len;
	m->code = -1;
	m->status = PROTO_STATUS_UNKNOWN;
	m->has_request_id = 1;
	m->request_id = request ? req_id : resp_to;
	m->session_id = request ? req_id : resp_to;
	parse_body(r, op, p + MONGO_HDR, head - MONGO_HDR, request, 0);
	if (!m->method_len && request)
		set_method(m, op_name(op));
	d->active = 1;
	*pos += head;
	d->left = len - head;
	if (!d->left) {
		m->end_ts = proto_ts_end_at(r->in, *pos - 1);
		emit_msg(r);
	}
	return S_CONT;
}

static enum step step_skip(struct mrun *r, size_t *pos)
{
	struct mdir *d = r->d;
	size_t avail = r->in->len - *pos;
	uint64_t take = d->left < avail ? d->left : avail;

	*pos += (size_t)take;
	d->left -= take;
	if (d->left)
		return S_MORE;
	d->m.end_ts = proto_ts_end_at(r->in, *pos - 1);
	emit_msg(r);
	return S_CONT;
}

static enum step step_resync(struct mrun *r, size_t *pos)
{
	const struct proto_input *in = r->in;

	for (size_t i = 0; in->segs && i < in->nsegs; i++) {
		size_t b = in->segs[i].off;

		if (b < *pos || b >= in->len || !in->segs[i].len || in->len - b < MONGO_HDR)
			continue;
		if (header_ok(in->data + b, MONGO_MAX_MSG)) {
			if (b > *pos && !r->d->skipping)
				r->st->resyncs++;
			*pos = b;
			r->d->skipping = 0;
			r->d->phase = PH_MSG;
			return S_CONT;
		}
	}
	/* a header may still complete at an event start near the end: keep from there */
	for (size_t i = 0; in->segs && i < in->nsegs; i++) {
		size_t b = in->segs[i].off;

		if (b < *pos || b >= in->len || in->len - b >= MONGO_HDR)
			continue;
		if (b > *pos && !r->d->skipping) {
			r->st->resyncs++;
			r->d->skipping = 1;
		}
		*pos = b;
		return S_MORE;
	}
	if (*pos < in->len && !r->d->skipping) {
		r->st->resyncs++;
		r->d->skipping = 1;
	}
	*pos = in->len;
	return S_MORE;
}

static void apply_gap(struct mrun *r, size_t pos)
{
	struct mdir *d = r->d;
	uint64_t gap = r->in->gap;

	if (d->phase == PH_MSG && d->left && pos == r->in->len) {
		if (gap < d->left) {
			d->left -= gap;
			return;
		}
		/* the message ended inside the gap; if more followed, it is lost */
		gap -= d->left;
		d->m.end_ts = proto_ts_end_at(r->in, r->in->len);
		d->m.flags |= PROTO_MSG_F_LEN_GUESSED;
		d->left = 0;
		emit_msg(r);
		if (!gap)
			return;
	} else if (d->phase == PH_MSG && pos < r->in->len) {
		r->st->truncated++;
	}
	d->left = 0;
	d->active = 0;
	d->phase = PH_RESYNC;
	if (!d->skipping)
		r->st->resyncs++;
	d->skipping = 1;
}

static int mongo_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		       struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct mconn *c = state;
	struct mrun r;
	enum step s = S_MORE;
	size_t pos = 0;

	stats = proto_parse_begin(c, in, stats, &scratch);
	if (!stats)
		return PROTO_ERROR;
	r = (struct mrun){ c,
			   &c->dir[in->dir == PROTO_DIR_INGRESS],
			   in,
			   emit,
			   ctx,
			   stats,
			   in->dir == PROTO_DIR_INGRESS,
			   in->ctx && (in->ctx->opts & PROTO_OPT_KEEP_VALUES) };
	while (pos < in->len) {
		if (r.d->phase == PH_RESYNC)
			s = step_resync(&r, &pos);
		else if (r.d->left)
			s = step_skip(&r, &pos);
		else
			s = step_msg(&r, &pos);
		if (s == S_ERR) {
			r.d->phase = PH_RESYNC;
			r.d->skipping = 1;
			r.d->left = 0;
			r.d->active = 0;
			stats->parse_errors++;
			return PROTO_ERROR;
		}
		if (s == S_MORE)
			break;
	}
	if (in->gap) {
		apply_gap(&r, pos);
		return (int)in->len;
	}
	return (int)pos;
}

static void mongo_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			   struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct mconn *c = state;

	if (!c)
		return;
	stats = proto_stats_or_scratch(stats, &scratch);
	for (int i = 0; i < 2; i++) {
		struct mrun r = { c, &c->dir[i], NULL, emit, ctx, stats, i, false };

		if (c->dir[i].active) {
			/* cut short by the close */
			c->dir[i].m.flags |= PROTO_MSG_F_LEN_GUESSED;
			if (!c->dir[i].m.end_ts)
				c->dir[i].m.end_ts = ts;
			emit_msg(&r);
		}
		c->dir[i].left = 0;
		c->dir[i].phase = PH_MSG;
		c->dir[i].skipping = 0;
	}
}

static enum proto_detect mongo_detect(const uint8_t *data, size_t len, enum proto_dir dir,
				      const struct proto_ctx *ctx)
{
	uint32_t mlen, dl;
	int32_t op;
	size_t i;

	(void)dir;
	if (!data || len < MONGO_HDR || !header_ok(data, 48000000))
		return PROTO_DETECT_NO;
	mlen = le32(data);
	op = (int32_t)le32(data + 12);
	switch (op) {
	case OP_MSG:
		/* flag bits: checksumPresent, moreToCome, exhaustAllowed only */
		if (mlen < MONGO_HDR + 5 + 5 || len < MONGO_HDR + 5 + 4 ||
		    (le32(data + 16) & ~0x10003u) || data[20] > 1)
			return PROTO_DETECT_NO;
		dl = le32(data + 21);
		if (data[20] == 0 && (dl < 5 || dl > mlen - 21))
			return PROTO_DETECT_NO;
		if (data[20] == 0 && len >= 21 + (size_t)dl && data[21 + dl - 1] != 0)
			return PROTO_DETECT_NO;
		return PROTO_DETECT_YES;
	case OP_QUERY:
		/* flags, then a "db.collection" name */
		if (len < 24 || (le32(data + 16) & 1))
			return PROTO_DETECT_NO;
		for (i = 20; i < len && data[i]; i++)
			if (data[i] < 0x21 || data[i] > 0x7e)
				return PROTO_DETECT_NO;
		if (i == len || !memchr(data + 20, '.', i - 20))
			return ctx && ctx->server_port == 27017 ? PROTO_DETECT_MAYBE
								: PROTO_DETECT_NO;
		return PROTO_DETECT_YES;
	case OP_REPLY:
		if (len < 40 || mlen < 36 + 5)
			return PROTO_DETECT_NO;
		dl = le32(data + 36);
		if (dl < 5 || dl > mlen - 36)
			return PROTO_DETECT_NO;
		return PROTO_DETECT_YES;
	case OP_COMPRESSED:
		if (len < 25 || !op_name((int32_t)le32(data + 16)) || data[24] > 3)
			return PROTO_DETECT_NO;
		return PROTO_DETECT_YES;
	default: return ctx && ctx->server_port == 27017 ? PROTO_DETECT_MAYBE : PROTO_DETECT_NO;
	}
}

static void mongo_reset(void *state, enum proto_dir dir)
{
	struct mconn *c = state;
	struct mdir *d;

	if (!c || (dir != PROTO_DIR_EGRESS && dir != PROTO_DIR_INGRESS))
		return;
	d = &c->dir[dir == PROTO_DIR_INGRESS];
	d->left = 0;
	d->active = 0;
	d->phase = PH_RESYNC;
	d->skipping = 1;
}

const struct proto_ops proto_mongodb_ops = {
	.name = "MongoDB",
	.id = PROTO_MONGODB,
	.state_size = sizeof(struct mconn),
	.detect = mongo_detect,
	.parse = mongo_parse,
	.on_close = mongo_on_close,
	.reset = mongo_reset,
	.release = NULL,
};
