/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dubbo (the dubbo:// protocol of Apache Dubbo 2.x) parser.
 *
 * Every message is a 16-byte header (magic 0xdabb; a flag byte: request 0x80, two-way
 * 0x40, event 0x20, serialization id in the low 5 bits; a status byte for responses; an
 * 8-byte request id; a 4-byte body length) and a body. Requests and responses pair by the
 * request id (session id = its low 32 bits, which is also request_id as DeepFlow keeps it).
 *
 * A hessian2 request body is: dubbo version, service path, service version, method name,
 * parameter types, the arguments, and the attachments map. The strings before the
 * arguments are read in order; the arguments are not walked (an object graph): the
 * attachments are found as the one untyped map that runs exactly to the body's end, and
 * give the trace context (traceparent, sw8, EagleEye-TraceID/SpanID) and X-Request-ID.
 * Other serializations (fastjson, kryo, protobuf...) give the header fields only.
 *
 * A response's status byte gives response_code and the status (20 ok; 30, 40, 90 client
 * error; 31, 50, 60, 70, 80, 100 server error); a failed response's body is the error
 * message, an OK one that carries an exception names its class. Heartbeats (the event
 * flag) are consumed without a record; one-way requests expect no response.
 *
 * Only the first DUBBO_HEAD_CAP bytes of a body are parsed; the rest is skipped as it
 * streams, and the message is reported at its last byte.
 */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/proto_util.h"
#include "proto/trace_ctx.h"

#define DUBBO_HDR	16
#define DUBBO_HEAD_CAP	8192
#define DUBBO_MAX_BODY	(64u << 20) /* providers default to 8 MiB payloads */
#define DUBBO_MAX_MAPS	64	    /* attachment-map candidates tried per body */
#define DUBBO_CAP_STR	256
#define DUBBO_CAP_EP	(2 * DUBBO_CAP_STR + 1)
#define DUBBO_CAP_TRACE 128
#define DUBBO_CAP_XRID	128

#define F_REQUEST    0x80
#define F_TWOWAY     0x40
#define F_EVENT	     0x20
#define SER_HESSIAN2 2

enum phase {
	PH_MSG = 0,
	PH_RESYNC,
};

struct dstr {
	uint16_t len;
	char s[DUBBO_CAP_STR];
};

struct dmsg {
	uint64_t start_ts, end_ts, length;
	uint32_t tcp_seq, flags, id;
	int32_t code;
	uint8_t kind, status, event;
	uint16_t ep_len, trace_len, span_len, xrid_len;
	struct dstr version, service, method, exc;
	char ep[DUBBO_CAP_EP];
	char trace[DUBBO_CAP_TRACE];
	char span[DUBBO_CAP_TRACE];
	char xrid[DUBBO_CAP_XRID];
};

struct ddir {
	uint64_t left;
	uint8_t phase, skipping, active;
	struct dmsg m;
};

struct dconn {
	struct ddir dir[2];
};

struct drun {
	struct ddir *d;
	const struct proto_input *in;
	proto_emit_fn emit;
	void *ctx;
	struct proto_stats *st;
	int dir;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- hessian2, only what is needed ------------------------------------------------ */

struct hr {
	const uint8_t *p;
	size_t n, i;
};

/* Advance over `chars` UTF-16 units of UTF-8 text; false if the bytes run out. */
static bool utf8_skip(struct hr *r, uint32_t chars)
{
	while (chars) {
		uint8_t b;
		size_t k;

		if (r->i >= r->n)
			return false;
		b = r->p[r->i];
		k = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
		if (k > r->n - r->i)
			return false;
		r->i += k;
		chars -= (k == 4 && chars >= 2) ? 2 : 1;
	}
	return true;
}

/*
 * A string: compact (0x00-0x1f), medium (0x30-0x33), 'S' final or 'R' chunks. Its bytes
 * are copied into out (up to cap, when out is not NULL). False if it is not a string or
 * runs past the data.
 */
static bool h_string(struct hr *r, char *out, uint16_t *olen, size_t cap)
{
	size_t k = 0;
	bool last = false;

	if (olen)
		*olen = 0;
	for (int chunk = 0; !last && chunk < 64; chunk++) {
		uint32_t chars;
		size_t start;
		uint8_t t;

		if (r->i >= r->n)
			return false;
		t = r->p[r->i];
		if (t <= 0x1f) {
			chars = t;
			r->i += 1;
			last = true;
		} else if (t >= 0x30 && t <= 0x33) {
			if (r->n - r->i < 2)
				return false;
			chars = (uint32_t)(t - 0x30) << 8 | r->p[r->i + 1];
			r->i += 2;
			last = true;
		} else if (t == 'S' || t == 'R') {
			if (r->n - r->i < 3)
				return false;
			chars = (uint32_t)r->p[r->i + 1] << 8 | r->p[r->i + 2];
			r->i += 3;
			last = t == 'S';
		} else {
			return false;
		}
		start = r->i;
		if (!utf8_skip(r, chars))
			return false;
		if (out) {
			size_t n = r->i - start;

			if (n > cap - k)
				n = cap - k;
			for (size_t j = 0; j < n; j++) {
				uint8_t ch = r->p[start + j];

				out[k + j] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
			}
			k += n;
		}
	}
	if (!last)
		return false;
	if (olen)
		*olen = (uint16_t)k;
	return true;
}

/* A scalar attachment value: null, booleans, numbers, strings. */
static bool h_scalar(struct hr *r)
{
	uint8_t t;
	size_t k;

	if (r->i >= r->n)
		return false;
	t = r->p[r->i];
	if (t <= 0x1f || (t >= 0x30 && t <= 0x33) || t == 'S' || t == 'R')
		return h_string(r, NULL, NULL, 0);
	if (t == 'N' || t == 'T' || t == 'F' || (t >= 0x80 && t <= 0xbf) ||
	    (t >= 0xd8 && t <= 0xef) || t == 0x5b || t == 0x5c)
		k = 1;
	else if ((t >= 0xc0 && t <= 0xcf) || (t >= 0xf0) || t == 0x5d)
		k = 2;
	else if ((t >= 0xd0 && t <= 0xd7) || (t >= 0x38 && t <= 0x3f) || t == 0x5e)
		k = 3;
	else if (t == 'I' || t == 'Y' || t == 0x5f)
		k = 5;
	else if (t == 'L' || t == 'D' || t == 0x4a)
		k = 9;
	else
		return false;
	if (k > r->n - r->i)
		return false;
	r->i += k;
	return true;
}

static bool key_is(const char *k, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	if (n != l)
		return false;
	for (size_t i = 0; i < n; i++) {
		char a = k[i], b = lit[i];

		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}

/* ---- trace context ---------------------------------------------------------------- */

static void put(char *dst, uint16_t *dlen, size_t cap, const char *s, size_t n)
{
	if (n > cap)
		n = cap;
	memcpy(dst, s, n);
	*dlen = (uint16_t)n;
}

static bool set_traceparent(struct dmsg *m, const char *v, size_t n)
{
	if (!trace_ctx_tp_shape(v, n) || !trace_ctx_tp_ids_hex(v))
		return false;
	put(m->trace, &m->trace_len, sizeof(m->trace), v + TRACE_CTX_TP_TRACE_OFF,
	    TRACE_CTX_TP_TRACE_LEN);
	put(m->span, &m->span_len, sizeof(m->span), v + TRACE_CTX_TP_SPAN_OFF,
	    TRACE_CTX_TP_SPAN_LEN);
	return true;
}

/* SkyWalking sw8: trace id = decoded field 1; span id = decoded field 2 "-" field 3. */
static bool set_sw8(struct dmsg *m, const char *v, size_t n)
{
	size_t tl = m->trace_len, sl;
	bool ok =
		trace_ctx_sw8(v, n, m->trace, sizeof(m->trace), &tl, m->span, sizeof(m->span), &sl);

	m->trace_len = (uint16_t)tl;
	if (ok)
		m->span_len = (uint16_t)sl;
	return ok;
}

/*
 * Try the untyped map ('H' ... 'Z') at p[at]: string keys, scalar values, ending exactly
 * at the body's end. On success, take what it carries.
 */
static bool attachments_at(struct dmsg *m, const uint8_t *p, size_t n, size_t at)
{
	struct hr r = { p, n, at + 1 };
	char key[32], val[DUBBO_CAP_STR];
	uint16_t kl, vl;
	uint8_t prio = 0; /* 3 traceparent, 2 sw8, 1 EagleEye */
	char eagle_span[DUBBO_CAP_TRACE];
	uint16_t eagle_span_len = 0;
	struct dmsg tmp;

	tmp.trace_len = tmp.span_len = tmp.xrid_len = 0;
	for (int pairs = 0; pairs < 256; pairs++) {
		size_t vs;

		if (r.i >= r.n)
			return false;
		if (r.p[r.i] == 'Z')
			break;
		if (!h_string(&r, key, &kl, sizeof(key)))
			return false;
		vs = r.i;
		if (!h_scalar(&r))
			return false;
		r.i = vs;
		if (r.p[r.i] <= 0x1f || (r.p[r.i] >= 0x30 && r.p[r.i] <= 0x33) || r.p[r.i] == 'S' ||
		    r.p[r.i] == 'R') {
			if (!h_string(&r, val, &vl, sizeof(val)))
				return false;
		} else {
			vl = 0;
			if (!h_scalar(&r))
				return false;
		}
		if (!vl)
			continue;
		if (prio < 3 && key_is(key, kl, "traceparent") && set_traceparent(&tmp, val, vl)) {
			prio = 3;
		} else if (prio < 2 && key_is(key, kl, "sw8") && set_sw8(&tmp, val, vl)) {
			prio = 2;
		} else if (prio < 1 && key_is(key, kl, "EagleEye-TraceID")) {
			put(tmp.trace, &tmp.trace_len, sizeof(tmp.trace), val, vl);
			prio = 1;
		} else if (key_is(key, kl, "EagleEye-SpanID")) {
			put(eagle_span, &eagle_span_len, sizeof(eagle_span), val, vl);
		} else if (key_is(key, kl, "X-Request-ID")) {
			put(tmp.xrid, &tmp.xrid_len, sizeof(tmp.xrid), val, vl);
		}
	}
	if (r.i + 1 != r.n)
		return false;
	if (prio == 1)
		put(tmp.span, &tmp.span_len, sizeof(tmp.span), eagle_span, eagle_span_len);
	memcpy(m->trace, tmp.trace, tmp.trace_len);
	m->trace_len = tmp.trace_len;
	memcpy(m->span, tmp.span, tmp.span_len);
	m->span_len = tmp.span_len;
	memcpy(m->xrid, tmp.xrid, tmp.xrid_len);
	m->xrid_len = tmp.xrid_len;
	return true;
}

static void hessian_request(struct dmsg *m, const uint8_t *p, size_t n, bool whole)
{
	struct hr r = { p, n, 0 };
	int tries = 0;

	if (!h_string(&r, m->version.s, &m->version.len, DUBBO_CAP_STR) ||
	    !h_string(&r, m->service.s, &m->service.len, DUBBO_CAP_STR) ||
	    !h_string(&r, NULL, NULL, 0) || /* service version */
	    !h_string(&r, m->method.s, &m->method.len, DUBBO_CAP_STR) ||
	    !h_string(&r, NULL, NULL, 0)) /* parameter types */
		return;
	if (!whole || n < 2 || p[n - 1] != 'Z')
		return;
	for (size_t i = r.i; i + 1 < n && tries < DUBBO_MAX_MAPS; i++) {
		if (p[i] != 'H')
			continue;
		tries++;
		if (attachments_at(m, p, n, i))
			return;
	}
}

static void hessian_response(struct dmsg *m, const uint8_t *p, size_t n)
{
	struct hr r = { p, n, 0 };
	uint8_t t;

	if (m->code != 20) {
		/* the body is the error message */
		h_string(&r, m->exc.s, &m->exc.len, DUBBO_CAP_STR);
		return;
	}
	if (!n)
		return;
	t = p[0];
	/* RESPONSE_WITH_EXCEPTION (0) or with attachments (3): a throwable object follows,
	 * its class definition first ('C', name) */
	if ((t == 0x90 || t == 0x93) && n > 2 && p[1] == 'C') {
		r.i = 2;
		h_string(&r, m->exc.s, &m->exc.len, DUBBO_CAP_STR);
		m->status = PROTO_STATUS_SERVER_ERROR;
	}
}

/* ---- messages --------------------------------------------------------------------- */

static uint8_t status_of(uint8_t code)
{
	switch (code) {
	case 20: return PROTO_STATUS_OK;
	case 30: /* client timeout */
	case 40: /* bad request */
	case 90: /* client error */ return PROTO_STATUS_CLIENT_ERROR;
	case 31: /* server timeout */
	case 50: /* bad response */
	case 60: /* service not found */
	case 70: /* service error */
	case 80: /* server error */
	case 100: /* server thread pool exhausted */ return PROTO_STATUS_SERVER_ERROR;
	default: return PROTO_STATUS_UNKNOWN;
	}
}

static struct proto_str view(const struct dstr *s)
{
	return (struct proto_str){ s->s, s->len };
}

static void emit_msg(struct drun *r)
{
	struct dmsg *m = &r->d->m;
	struct proto_msg o;

	r->d->active = 0;
	if (m->event)
		return; /* heartbeats and other events: no record */
	memset(&o, 0, sizeof(o));
	o.kind = m->kind;
	o.dir = r->dir ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
	o.flags = m->flags;
	o.start_ts = m->start_ts;
	o.end_ts = m->end_ts < m->start_ts ? m->start_ts : m->end_ts;
	o.tcp_seq = m->tcp_seq;
	o.length = m->length;
	o.code = -1;
	o.version = view(&m->version);
	if (m->kind == PROTO_MSG_REQUEST) {
		o.method = view(&m->method);
		o.domain = view(&m->service);
		o.resource = view(&m->service);
		o.endpoint = (struct proto_str){ m->ep, m->ep_len };
	} else {
		o.code = m->code;
		o.status = m->status;
		o.exception = view(&m->exc);
	}
	o.trace_id = (struct proto_str){ m->trace, m->trace_len };
	o.span_id = (struct proto_str){ m->span, m->span_len };
	o.x_request_id = (struct proto_str){ m->xrid, m->xrid_len };
	o.has_request_id = true;
	o.request_id = m->id;
	o.has_session_id = true;
	o.session_id = m->id;
	if (r->emit)
		r->emit(r->ctx, &o);
	r->st->messages++;
}

static bool header_ok(const uint8_t *p)
{
	return p[0] == 0xda && p[1] == 0xbb && (p[2] & 0x1f) != 0 && be32(p + 12) <= DUBBO_MAX_BODY;
}

enum step {
	S_CONT,
	S_MORE,
	S_ERR,
};

static enum step step_msg(struct drun *r, size_t *pos)
{
	const uint8_t *p = r->in->data + *pos;
	size_t avail = r->in->len - *pos, head;
	struct ddir *d = r->d;
	struct dmsg *m = &d->m;
	uint32_t blen;
	uint8_t flag;

	if (avail < 2)
		return (avail && p[0] != 0xda) ? S_ERR : S_MORE;
	if (p[0] != 0xda || p[1] != 0xbb)
		return S_ERR;
	if (avail < DUBBO_HDR)
		return S_MORE;
	if (!header_ok(p))
		return S_ERR;
	flag = p[2];
	blen = be32(p + 12);
	head = blen < DUBBO_HEAD_CAP ? blen : DUBBO_HEAD_CAP;
	if (avail < DUBBO_HDR + head)
		return S_MORE;
	memset(m, 0, offsetof(struct dmsg, version));
	m->version.len = m->service.len = m->method.len = m->exc.len = 0;
	m->kind = (flag & F_REQUEST) ? PROTO_MSG_REQUEST : PROTO_MSG_RESPONSE;
	m->event = (flag & F_EVENT) != 0;
	m->id = be32(p + 8);
	m->start_ts = proto_ts_start_at(r->in, *pos);
	m->tcp_seq = proto_input_seq_at(r->in, *pos);
	m->length = (uint64_t)DUBBO_HDR + blen;
	m->code = -1;
	if (m->kind == PROTO_MSG_REQUEST) {
		if (!(flag & F_TWOWAY))
			m->flags |= PROTO_MSG_F_NO_RESPONSE;
		if ((flag & 0x1f) == SER_HESSIAN2 && !m->event)
			hessian_request(m, p + DUBBO_HDR, head, head == blen);
		if (m->service.len || m->method.len) {
			size_t k = 0;

			memcpy(m->ep, m->service.s, m->service.len);
			k = m->service.len;
			m->ep[k++] = '/';
			memcpy(m->ep + k, m->method.s, m->method.len);
			m->ep_len = (uint16_t)(k + m->method.len);
		}
	} else {
		m->code = p[3];
		m->status = status_of(p[3]);
		if ((flag & 0x1f) == SER_HESSIAN2 && !m->event)
			hessian_response(m, p + DUBBO_HDR, head);
	}
	d->active = 1;
	*pos += DUBBO_HDR + head;
	d->left = blen - head;
	if (!d->left) {
		m->end_ts = proto_ts_end_at(r->in, *pos - 1);
		emit_msg(r);
	}
	return S_CONT;
}

static enum step step_skip(struct drun *r, size_t *pos)
{
	struct ddir *d = r->d;
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

static enum step step_resync(struct drun *r, size_t *pos)
{
	const struct proto_input *in = r->in;

	for (size_t i = 0; in->segs && i < in->nsegs; i++) {
		size_t b = in->segs[i].off;

		if (b < *pos || b >= in->len || !in->segs[i].len || in->len - b < DUBBO_HDR)
			continue;
		if (header_ok(in->data + b)) {
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

		if (b < *pos || b >= in->len || in->len - b >= DUBBO_HDR || in->data[b] != 0xda ||
		    (in->len - b > 1 && in->data[b + 1] != 0xbb))
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

static void apply_gap(struct drun *r, size_t pos)
{
	struct ddir *d = r->d;
	uint64_t gap = r->in->gap;

	if (d->phase == PH_MSG && d->left && pos == r->in->len) {
		if (gap < d->left) {
			d->left -= gap;
			return;
		}
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

static int dubbo_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		       struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct dconn *c = state;
	struct drun r;
	enum step s = S_MORE;
	size_t pos = 0;

	stats = proto_parse_begin(c, in, stats, &scratch);
	if (!stats)
		return PROTO_ERROR;
	r = (struct drun){ &c->dir[in->dir == PROTO_DIR_INGRESS], in, emit, ctx, stats,
			   in->dir == PROTO_DIR_INGRESS };
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

static void dubbo_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			   struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct dconn *c = state;

	if (!c)
		return;
	stats = proto_stats_or_scratch(stats, &scratch);
	for (int i = 0; i < 2; i++) {
		struct drun r = { &c->dir[i], NULL, emit, ctx, stats, i };

		if (c->dir[i].active) {
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

static enum proto_detect dubbo_detect(const uint8_t *data, size_t len, enum proto_dir dir,
				      const struct proto_ctx *ctx)
{
	uint8_t flag;

	(void)dir;
	if (!data || len < DUBBO_HDR || !header_ok(data))
		return PROTO_DETECT_NO;
	flag = data[2];
	/* a request has no status; a response's status is one Dubbo defines */
	if (flag & F_REQUEST) {
		if (data[3] != 0)
			return PROTO_DETECT_NO;
	} else if (status_of(data[3]) == PROTO_STATUS_UNKNOWN) {
		return PROTO_DETECT_NO;
	}
	/* hessian2 requests begin with the dubbo version string */
	if ((flag & F_REQUEST) && !(flag & F_EVENT) && (flag & 0x1f) == SER_HESSIAN2 &&
	    len > DUBBO_HDR && be32(data + 12) > 0) {
		uint8_t t = data[DUBBO_HDR];

		if (!(t <= 0x1f || (t >= 0x30 && t <= 0x33) || t == 'S'))
			return PROTO_DETECT_NO;
	}
	(void)ctx;
	return PROTO_DETECT_YES;
}

static void dubbo_reset(void *state, enum proto_dir dir)
{
	struct dconn *c = state;
	struct ddir *d;

	if (!c || (dir != PROTO_DIR_EGRESS && dir != PROTO_DIR_INGRESS))
		return;
	d = &c->dir[dir == PROTO_DIR_INGRESS];
	d->left = 0;
	d->active = 0;
	d->phase = PH_RESYNC;
	d->skipping = 1;
}

const struct proto_ops proto_dubbo_ops = {
	.name = "Dubbo",
	.id = PROTO_DUBBO,
	.state_size = sizeof(struct dconn),
	.detect = dubbo_detect,
	.parse = dubbo_parse,
	.on_close = dubbo_on_close,
	.reset = dubbo_reset,
	.release = NULL,
};
