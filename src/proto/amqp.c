/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AMQP 0-9-1 parser.
 *
 * A connection is a stream of frames (type, channel, size, payload, frame-end 0xCE) after
 * the client's protocol header "AMQP\0\0\9\1". Messages are methods:
 * - a synchronous method (Queue.Declare, Basic.Get, Connection.Start...) is a request,
 *   its -Ok (or Basic.GetEmpty) the response; whoever sends it is the requester, so the
 *   broker is the requester of Connection.Start, Connection.Tune and of the closes it
 *   begins (as DeepFlow does). They pair by session id = channel + which side asked, so
 *   exchanges on interleaved channels, and a broker's Channel.Close crossing a client's
 *   request on the same channel, pair right;
 * - asynchronous methods (Basic.Publish, Basic.Deliver, Basic.Ack/Nack/Reject, methods
 *   sent with no-wait) are lone requests (PROTO_MSG_F_NO_RESPONSE);
 * - Basic.Return is an unsolicited response carrying its reply code and text;
 * - a Channel.Close or Connection.Close naming a method the other side is still waiting
 *   for answers it with its reply code and text (response_code, response_exception); a
 *   Channel.Close is then also a request of its own, answered by Channel.CloseOk.
 * Content (a header frame and body frames) following Publish, Deliver, Get-Ok or Return
 * belongs to that method's message: its size counts in the length, the trace context
 * (traceparent or sw8 in the header's "headers" table) is taken from it, and the message
 * is reported once its last body frame has passed. Bodies are skipped as they stream.
 *
 * Frame payloads are parsed from their first AMQP_HEAD_CAP bytes only (what names a queue
 * or carries a reply text is near the start); longer frames are skipped incrementally, so
 * at most 8 + AMQP_HEAD_CAP bytes are ever left unconsumed.
 */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/proto_util.h"
#include "proto/trace_ctx.h"

#define AMQP_HEAD_CAP	  4096
#define AMQP_FRAME_END	  0xCE
#define AMQP_MAX_FRAME	  (1u << 30) /* larger sizes are not traffic: frame_max is ~128 KiB */
#define AMQP_DETECT_FRAME (1u << 20) /* detection and resync want a frame this plausible */
#define AMQP_OUTSTANDING  16
#define AMQP_CAP_RES	  (255 + 1 + 255)
#define AMQP_CAP_EXC	  255
#define AMQP_CAP_TRACE	  64
#define AMQP_CAP_SPAN	  64

enum frame_type {
	FT_METHOD = 1,
	FT_HEADER = 2,
	FT_BODY = 3,
	FT_HEARTBEAT = 8,
};

/* What a method is in an exchange. */
enum mkind {
	MK_REQ,	     /* synchronous request, answered by an -Ok */
	MK_RESP,     /* the -Ok */
	MK_ASYNC,    /* no answer */
	MK_CONTENT,  /* no answer, content follows (Publish, Deliver) */
	MK_GETOK,    /* response, content follows */
	MK_RETURN,   /* unsolicited response with a reply code, content follows */
	MK_CLOSE,    /* Connection.Close / Channel.Close */
	MK_CLOSE_OK, /* their -Ok */
};

/* Which arguments name the resource. */
enum margs {
	A_NONE,
	A_OPEN,	      /* Connection.Open: virtual host */
	A_CLOSE,      /* reply code, text, class, method */
	A_EX_DECLARE, /* short, exchange, type, bits(nowait=4) */
	A_EX_DELETE,  /* short, exchange, bits(nowait=1) */
	A_EX_BIND,    /* short, destination, source, routing key, bits(nowait=0) */
	A_Q_DECLARE,  /* short, queue, bits(nowait=4) */
	A_Q_BIND,     /* short, queue, exchange, routing key, bits(nowait=0) */
	A_Q_UNBIND,   /* short, queue, exchange, routing key */
	A_Q_PURGE,    /* short, queue, bits(nowait=0) */
	A_Q_DELETE,   /* short, queue, bits(nowait=2) */
	A_CONSUME,    /* short, queue, consumer tag, bits(nowait=3) */
	A_CANCEL,     /* consumer tag, bits(nowait=0) */
	A_PUBLISH,    /* short, exchange, routing key */
	A_RETURN,     /* reply code, text, exchange, routing key */
	A_DELIVER,    /* consumer tag, delivery tag, bits, exchange, routing key */
	A_GET,	      /* short, queue */
	A_GETOK,      /* delivery tag, bits, exchange, routing key */
	A_NOWAIT0,    /* bits(nowait=0): Confirm.Select */
};

struct amethod {
	uint16_t cls, meth;
	uint8_t kind, args;
	const char *name;
};

static const struct amethod methods[] = {
	{ 10, 10, MK_REQ, A_NONE, "Connection.Start" },
	{ 10, 11, MK_RESP, A_NONE, "Connection.StartOk" },
	{ 10, 20, MK_REQ, A_NONE, "Connection.Secure" },
	{ 10, 21, MK_RESP, A_NONE, "Connection.SecureOk" },
	{ 10, 30, MK_REQ, A_NONE, "Connection.Tune" },
	{ 10, 31, MK_RESP, A_NONE, "Connection.TuneOk" },
	{ 10, 40, MK_REQ, A_OPEN, "Connection.Open" },
	{ 10, 41, MK_RESP, A_NONE, "Connection.OpenOk" },
	{ 10, 50, MK_CLOSE, A_CLOSE, "Connection.Close" },
	{ 10, 51, MK_CLOSE_OK, A_NONE, "Connection.CloseOk" },
	{ 10, 60, MK_ASYNC, A_NONE, "Connection.Blocked" },
	{ 10, 61, MK_ASYNC, A_NONE, "Connection.Unblocked" },
	{ 20, 10, MK_REQ, A_NONE, "Channel.Open" },
	{ 20, 11, MK_RESP, A_NONE, "Channel.OpenOk" },
	{ 20, 20, MK_REQ, A_NONE, "Channel.Flow" },
	{ 20, 21, MK_RESP, A_NONE, "Channel.FlowOk" },
	{ 20, 40, MK_CLOSE, A_CLOSE, "Channel.Close" },
	{ 20, 41, MK_CLOSE_OK, A_NONE, "Channel.CloseOk" },
	{ 40, 10, MK_REQ, A_EX_DECLARE, "Exchange.Declare" },
	{ 40, 11, MK_RESP, A_NONE, "Exchange.DeclareOk" },
	{ 40, 20, MK_REQ, A_EX_DELETE, "Exchange.Delete" },
	{ 40, 21, MK_RESP, A_NONE, "Exchange.DeleteOk" },
	{ 40, 30, MK_REQ, A_EX_BIND, "Exchange.Bind" },
	{ 40, 31, MK_RESP, A_NONE, "Exchange.BindOk" },
	{ 40, 40, MK_REQ, A_EX_BIND, "Exchange.Unbind" },
	{ 40, 51, MK_RESP, A_NONE, "Exchange.UnbindOk" },
	{ 50, 10, MK_REQ, A_Q_DECLARE, "Queue.Declare" },
	{ 50, 11, MK_RESP, A_NONE, "Queue.DeclareOk" },
	{ 50, 20, MK_REQ, A_Q_BIND, "Queue.Bind" },
	{ 50, 21, MK_RESP, A_NONE, "Queue.BindOk" },
	{ 50, 30, MK_REQ, A_Q_PURGE, "Queue.Purge" },
	{ 50, 31, MK_RESP, A_NONE, "Queue.PurgeOk" },
	{ 50, 40, MK_REQ, A_Q_DELETE, "Queue.Delete" },
	{ 50, 41, MK_RESP, A_NONE, "Queue.DeleteOk" },
	{ 50, 50, MK_REQ, A_Q_UNBIND, "Queue.Unbind" },
	{ 50, 51, MK_RESP, A_NONE, "Queue.UnbindOk" },
	{ 60, 10, MK_REQ, A_NONE, "Basic.Qos" },
	{ 60, 11, MK_RESP, A_NONE, "Basic.QosOk" },
	{ 60, 20, MK_REQ, A_CONSUME, "Basic.Consume" },
	{ 60, 21, MK_RESP, A_NONE, "Basic.ConsumeOk" },
	{ 60, 30, MK_REQ, A_CANCEL, "Basic.Cancel" },
	{ 60, 31, MK_RESP, A_NONE, "Basic.CancelOk" },
	{ 60, 40, MK_CONTENT, A_PUBLISH, "Basic.Publish" },
	{ 60, 50, MK_RETURN, A_RETURN, "Basic.Return" },
	{ 60, 60, MK_CONTENT, A_DELIVER, "Basic.Deliver" },
	{ 60, 70, MK_REQ, A_GET, "Basic.Get" },
	{ 60, 71, MK_GETOK, A_GETOK, "Basic.GetOk" },
	{ 60, 72, MK_RESP, A_NONE, "Basic.GetEmpty" },
	{ 60, 80, MK_ASYNC, A_NONE, "Basic.Ack" },
	{ 60, 90, MK_ASYNC, A_NONE, "Basic.Reject" },
	{ 60, 100, MK_ASYNC, A_NONE, "Basic.RecoverAsync" },
	{ 60, 110, MK_REQ, A_NONE, "Basic.Recover" },
	{ 60, 111, MK_RESP, A_NONE, "Basic.RecoverOk" },
	{ 60, 120, MK_ASYNC, A_NONE, "Basic.Nack" },
	{ 85, 10, MK_REQ, A_NOWAIT0, "Confirm.Select" },
	{ 85, 11, MK_RESP, A_NONE, "Confirm.SelectOk" },
	{ 90, 10, MK_REQ, A_NONE, "Tx.Select" },
	{ 90, 11, MK_RESP, A_NONE, "Tx.SelectOk" },
	{ 90, 20, MK_REQ, A_NONE, "Tx.Commit" },
	{ 90, 21, MK_RESP, A_NONE, "Tx.CommitOk" },
	{ 90, 30, MK_REQ, A_NONE, "Tx.Rollback" },
	{ 90, 31, MK_RESP, A_NONE, "Tx.RollbackOk" },
};

#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

static const struct amethod *find_method(uint16_t cls, uint16_t meth)
{
	for (size_t i = 0; i < N_METHODS; i++)
		if (methods[i].cls == cls && methods[i].meth == meth)
			return &methods[i];
	return NULL;
}

enum phase {
	PH_FRAME = 0, /* at a frame start (or the protocol header) */
	PH_RESYNC,    /* skipping to a capture event that begins with a plausible frame */
};

/* A message being built: a method, and for content methods its content frames. */
struct amsg {
	uint64_t start_ts, end_ts, length, body_left;
	uint32_t tcp_seq, flags, session_id;
	int32_t code;
	uint16_t channel;
	uint8_t active, kind, status, have_header, midx;
	uint16_t res_len, exc_len;
	uint8_t trace_len, span_len;
	char res[AMQP_CAP_RES];
	char exc[AMQP_CAP_EXC];
	char trace[AMQP_CAP_TRACE];
	char span[AMQP_CAP_SPAN];
};

/* A synchronous request a side sent and still waits for. */
struct outstanding {
	uint16_t channel, cls, meth;
};

struct adir {
	uint64_t frame_left; /* bytes of the current frame still to skip (end byte included) */
	uint64_t fstart_ts;  /* the current frame's first byte */
	uint32_t fsize;	     /* the current frame's payload size */
	uint32_t fseq;
	uint16_t fchannel;
	uint8_t ftype;
	uint8_t phase;
	uint8_t skipping;
	uint8_t n_out;
	/* the current method frame, parsed from its head; dispatched at its end */
	struct amsg cur;
	/* close arguments of the current frame */
	uint16_t close_cls, close_meth;
	uint8_t cur_valid;
	/* a content method waiting for its header and body frames */
	struct amsg pend;
	struct outstanding out[AMQP_OUTSTANDING];
};

struct aconn {
	struct adir dir[2];
	uint8_t vhost_len;
	char vhost[255];
};

struct arun {
	struct aconn *c;
	struct adir *d;
	const struct proto_input *in;
	proto_emit_fn emit;
	void *ctx;
	struct proto_stats *st;
	int dir; /* 0 egress, 1 ingress */
};

/* ---- small readers -------------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t n, i;
	bool bad;
};

static uint8_t rd_u8(struct rd *r)
{
	if (r->bad || r->i + 1 > r->n) {
		r->bad = true;
		return 0;
	}
	return r->p[r->i++];
}

static uint16_t rd_u16(struct rd *r)
{
	uint16_t v;

	if (r->bad || r->i + 2 > r->n) {
		r->bad = true;
		return 0;
	}
	v = (uint16_t)(r->p[r->i] << 8 | r->p[r->i + 1]);
	r->i += 2;
	return v;
}

static uint32_t rd_u32(struct rd *r)
{
	uint32_t v;

	if (r->bad || r->i + 4 > r->n) {
		r->bad = true;
		return 0;
	}
	v = (uint32_t)r->p[r->i] << 24 | (uint32_t)r->p[r->i + 1] << 16 |
	    (uint32_t)r->p[r->i + 2] << 8 | r->p[r->i + 3];
	r->i += 4;
	return v;
}

static uint64_t rd_u64(struct rd *r)
{
	uint64_t hi = rd_u32(r);

	return hi << 32 | rd_u32(r);
}

static void rd_skip(struct rd *r, size_t k)
{
	if (r->bad || k > r->n - r->i) {
		r->bad = true;
		return;
	}
	r->i += k;
}

/* A short string: a view, valid while the input is. */
static const uint8_t *rd_sstr(struct rd *r, uint8_t *len)
{
	const uint8_t *s;

	*len = rd_u8(r);
	if (r->bad || *len > r->n - r->i) {
		r->bad = true;
		*len = 0;
		return NULL;
	}
	s = r->p + r->i;
	r->i += *len;
	return s;
}

static uint32_t rd_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- trace context ---------------------------------------------------------------- */

/* W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>. */
static bool set_traceparent(struct amsg *m, const uint8_t *v, size_t n)
{
	const char *t = (const char *)v;

	if (!trace_ctx_tp_shape(t, n) || !trace_ctx_tp_ids_hex(t))
		return false;
	memcpy(m->trace, t + TRACE_CTX_TP_TRACE_OFF, TRACE_CTX_TP_TRACE_LEN);
	m->trace_len = TRACE_CTX_TP_TRACE_LEN;
	memcpy(m->span, t + TRACE_CTX_TP_SPAN_OFF, TRACE_CTX_TP_SPAN_LEN);
	m->span_len = TRACE_CTX_TP_SPAN_LEN;
	return true;
}

/* SkyWalking sw8: trace_id = the decoded trace id; span_id = segment id "-" span id. */
static bool set_sw8(struct amsg *m, const uint8_t *v, size_t n)
{
	size_t tl = m->trace_len, sl;

	if (!trace_ctx_sw8((const char *)v, n, m->trace, sizeof(m->trace), &tl, m->span,
			   sizeof(m->span), &sl)) {
		m->trace_len = (uint8_t)tl;
		return false;
	}
	m->trace_len = (uint8_t)tl;
	m->span_len = (uint8_t)sl;
	return true;
}

static bool key_is(const uint8_t *k, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	if (n != l)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((uint8_t)(k[i] | 0x20) != (uint8_t)lit[i])
			return false;
	return true;
}

/* The top level of a field table: traceparent wins over sw8. */
static void read_headers(struct amsg *m, const uint8_t *p, size_t n)
{
	struct rd r = { p, n, 0, false };
	bool have_tp = false;

	while (!r.bad && r.i < r.n) {
		uint8_t klen, type;
		const uint8_t *key = rd_sstr(&r, &klen);
		uint32_t l;

		type = rd_u8(&r);
		if (r.bad)
			return;
		switch (type) {
		case 't':
		case 'b':
		case 'B': rd_skip(&r, 1); break;
		case 's':
		case 'u':
		case 'U': rd_skip(&r, 2); break;
		case 'I':
		case 'i':
		case 'f': rd_skip(&r, 4); break;
		case 'D': rd_skip(&r, 5); break;
		case 'l':
		case 'L':
		case 'd':
		case 'T': rd_skip(&r, 8); break;
		case 'V': break;
		case 'S':
		case 'x':
			l = rd_u32(&r);
			if (r.bad || l > r.n - r.i)
				return;
			if (type == 'S' && !have_tp && key_is(key, klen, "traceparent"))
				have_tp = set_traceparent(m, r.p + r.i, l);
			else if (type == 'S' && !have_tp && !m->trace_len &&
				 key_is(key, klen, "sw8"))
				set_sw8(m, r.p + r.i, l);
			r.i += l;
			break;
		case 'A':
		case 'F': rd_skip(&r, rd_u32(&r)); break;
		default: return; /* unknown type: the rest cannot be walked */
		}
	}
}

/* ---- messages --------------------------------------------------------------------- */

static uint8_t reply_status(uint16_t code)
{
	if (code == 200 || code == 0)
		return PROTO_STATUS_OK;
	/* connection-forced, resource-error, not-implemented, internal-error: the broker's */
	if (code == 320 || code == 506 || code == 540 || code == 541)
		return PROTO_STATUS_SERVER_ERROR;
	return PROTO_STATUS_CLIENT_ERROR;
}

static void emit_msg(struct arun *r, const struct amsg *m)
{
	struct proto_msg o;
	const struct amethod *md = &methods[m->midx];

	memset(&o, 0, sizeof(o));
	o.kind = (m->kind == MK_RESP || m->kind == MK_GETOK || m->kind == MK_RETURN ||
		  m->kind == MK_CLOSE_OK)
			 ? PROTO_MSG_RESPONSE
			 : PROTO_MSG_REQUEST;
	o.dir = r->dir ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
	o.flags = m->flags;
	o.start_ts = m->start_ts;
	o.end_ts = m->end_ts < m->start_ts ? m->start_ts : m->end_ts;
	o.tcp_seq = m->tcp_seq;
	o.length = m->length;
	o.code = -1;
	/* A Basic.Return answers no request: it names the method, exchange and routing key
	 * it returns, which is all its record has. */
	if (o.kind == PROTO_MSG_REQUEST || m->kind == MK_RETURN) {
		o.method = (struct proto_str){ md->name, (uint32_t)strlen(md->name) };
		o.domain = (struct proto_str){ r->c->vhost, r->c->vhost_len };
		o.resource = (struct proto_str){ m->res, m->res_len };
		o.endpoint = o.resource;
	}
	if (o.kind == PROTO_MSG_RESPONSE) {
		o.status = m->status;
		o.code = m->code;
		o.exception = (struct proto_str){ m->exc, m->exc_len };
	}
	o.trace_id = (struct proto_str){ m->trace, m->trace_len };
	o.span_id = (struct proto_str){ m->span, m->span_len };
	o.has_session_id = true;
	o.session_id = m->session_id;
	if (r->emit)
		r->emit(r->ctx, &o);
	r->st->messages++;
}

static void out_push(struct adir *d, uint16_t ch, uint16_t cls, uint16_t meth)
{
	uint8_t i;

	for (i = 0; i < d->n_out; i++)
		if (d->out[i].channel == ch)
			break;
	if (i == d->n_out) {
		if (d->n_out == AMQP_OUTSTANDING) {
			memmove(&d->out[0], &d->out[1], sizeof(d->out[0]) * (AMQP_OUTSTANDING - 1));
			i = AMQP_OUTSTANDING - 1;
		} else {
			d->n_out++;
		}
	}
	d->out[i] = (struct outstanding){ ch, cls, meth };
}

static void out_del(struct adir *d, uint8_t i)
{
	memmove(&d->out[i], &d->out[i + 1], sizeof(d->out[0]) * (size_t)(d->n_out - i - 1));
	d->n_out--;
}

static void out_del_channel(struct adir *d, uint16_t ch)
{
	for (uint8_t i = 0; i < d->n_out; i++) {
		if (d->out[i].channel == ch) {
			out_del(d, i);
			return;
		}
	}
}

static void res_put(struct amsg *m, const uint8_t *a, uint8_t alen, bool dot, const uint8_t *b,
		    uint8_t blen)
{
	m->res_len = 0;
	if (alen)
		memcpy(m->res, a, alen);
	m->res_len = alen;
	if (dot) {
		m->res[m->res_len++] = '.';
		if (blen)
			memcpy(m->res + m->res_len, b, blen);
		m->res_len = (uint16_t)(m->res_len + blen);
	}
}

/* Parse a method frame's head into d->cur; false when its arguments do not fit. */
static bool parse_method(struct arun *r, const uint8_t *p, size_t n, bool whole)
{
	struct adir *d = r->d;
	struct amsg *m = &d->cur;
	struct rd a = { p, n, 0, false };
	const struct amethod *md;
	const uint8_t *s1, *s2, *s3;
	uint8_t l1, l2, l3, bits;
	uint16_t cls, meth, code;

	cls = rd_u16(&a);
	meth = rd_u16(&a);
	if (a.bad)
		return false;
	md = find_method(cls, meth);
	if (!md)
		return false;
	memset(m, 0, offsetof(struct amsg, res));
	m->midx = (uint8_t)(md - methods);
	m->kind = md->kind;
	m->code = -1;
	m->status = PROTO_STATUS_OK;
	d->close_cls = d->close_meth = 0;
	switch (md->args) {
	case A_OPEN:
		s1 = rd_sstr(&a, &l1);
		if (!a.bad) {
			memcpy(r->c->vhost, s1, l1);
			r->c->vhost_len = l1;
		}
		break;
	case A_CLOSE:
	case A_RETURN:
		code = rd_u16(&a);
		s1 = rd_sstr(&a, &l1);
		if (a.bad)
			break;
		m->code = code;
		m->status = reply_status(code);
		memcpy(m->exc, s1, l1);
		m->exc_len = l1;
		if (md->args == A_CLOSE) {
			d->close_cls = rd_u16(&a);
			d->close_meth = rd_u16(&a);
		} else {
			s2 = rd_sstr(&a, &l2);
			s3 = rd_sstr(&a, &l3);
			if (!a.bad)
				res_put(m, s2, l2, true, s3, l3);
		}
		break;
	case A_EX_DECLARE:
		rd_u16(&a);
		s1 = rd_sstr(&a, &l1);
		rd_sstr(&a, &l2);
		bits = rd_u8(&a);
		if (!a.bad) {
			res_put(m, s1, l1, true, NULL, 0);
			if (bits & 0x10)
				m->flags |= PROTO_MSG_F_NO_RESPONSE;
		}
		break;
	case A_EX_DELETE:
		rd_u16(&a);
		s1 = rd_sstr(&a, &l1);
		bits = rd_u8(&a);
		if (!a.bad) {
			res_put(m, s1, l1, true, NULL, 0);
			if (bits & 0x02)
				m->flags |= PROTO_MSG_F_NO_RESPONSE;
		}
		break;
	case A_EX_BIND:
		rd_u16(&a);
		s1 = rd_sstr(&a, &l1);
		rd_sstr(&a, &l2);
		s3 = rd_sstr(&a, &l3);
		bits = rd_u8(&a);
		if (!a.bad) {
			res_put(m, s1, l1, true, s3, l3);
			if (bits & 0x01)
				m->flags |= PROTO_MSG_F_NO_RESPONSE;
		}
		break;
	case A_Q_DECLARE:
	case A_Q_PURGE:
	case A_Q_DELETE:
	case A_GET:
		rd_u16(&a);
		s1 = rd_sstr(&a, &l1);
		bits = rd_u8(&a);
		if (!a.bad) {
			res_put(m, s1, l1, false, NULL, 0);
			if ((md->args == A_Q_DECLARE && (bits & 0x10)) ||
			    (md->args == A_Q_PURGE && (bits & 0x01)) ||
			    (md->args == A_Q_DELETE && (bits & 0x04)))
				m->flags |= PROTO_MSG_F_NO_RESPONSE;
		}
		break;
	case A_Q_BIND:
	case A_Q_UNBIND:
		rd_u16(&a);
		rd_sstr(&a, &l1);
		s2 = rd_sstr(&a, &l2);
		s3 = rd_sstr(&a, &l3);
		bits = md->args == A_Q_BIND ? rd_u8(&a) : 0;
		if (!a.bad) {
			res_put(m, s2, l2, true, s3, l3);
			if (bits & 0x01)
				m->flags |= PROTO_MSG_F_NO_RESPONSE;
		}
		break;
	case A_CONSUME:
		rd_u16(&a);
		s1 = rd_sstr(&a, &l1);
		rd_sstr(&a, &l2);
		bits = rd_u8(&a);
		if (!a.bad) {
			res_put(m, s1, l1, false, NULL, 0);
			if (bits & 0x08)
				m->flags |= PROTO_MSG_F_NO_RESPONSE;
		}
		break;
	case A_CANCEL:
		rd_sstr(&a, &l1);
		bits = rd_u8(&a);
		if (!a.bad && (bits & 0x01))
			m->flags |= PROTO_MSG_F_NO_RESPONSE;
		break;
	case A_NOWAIT0:
		bits = rd_u8(&a);
		if (!a.bad && (bits & 0x01))
			m->flags |= PROTO_MSG_F_NO_RESPONSE;
		break;
	case A_PUBLISH:
		rd_u16(&a);
		s1 = rd_sstr(&a, &l1);
		s2 = rd_sstr(&a, &l2);
		if (!a.bad)
			res_put(m, s1, l1, true, s2, l2);
		break;
	case A_DELIVER:
	case A_GETOK:
		if (md->args == A_DELIVER)
			rd_sstr(&a, &l1);
		rd_u64(&a);
		rd_u8(&a);
		s1 = rd_sstr(&a, &l1);
		s2 = rd_sstr(&a, &l2);
		if (!a.bad)
			res_put(m, s1, l1, true, s2, l2);
		break;
	default: break;
	}
	/* Arguments cut by the head cap are tolerated; arguments missing from a whole frame
	 * are not. */
	return !(a.bad && whole);
}

/* Report the content message waiting in this direction. */
static void flush_pend(struct arun *r, uint32_t flags)
{
	struct amsg *m = &r->d->pend;

	if (!m->active)
		return;
	m->flags |= flags;
	emit_msg(r, m);
	if (m->kind == MK_GETOK)
		out_del_channel(&r->c->dir[!r->dir], m->channel);
	m->active = 0;
}

/* The method frame in d->cur has ended. */
static void method_done(struct arun *r)
{
	struct adir *d = r->d, *other = &r->c->dir[!r->dir];
	struct amsg *m = &d->cur;
	const struct amethod *md = &methods[m->midx];
	uint16_t ch = d->fchannel;

	if (d->pend.active && (d->pend.channel == ch || m->kind == MK_CONTENT ||
			       m->kind == MK_GETOK || m->kind == MK_RETURN))
		flush_pend(r, PROTO_MSG_F_LEN_GUESSED);
	m->channel = ch;
	switch (m->kind) {
	case MK_REQ:
		m->session_id = ch | (uint32_t)r->dir << 16;
		emit_msg(r, m);
		if (!(m->flags & PROTO_MSG_F_NO_RESPONSE))
			out_push(d, ch, md->cls, md->meth);
		break;
	case MK_RESP:
	case MK_CLOSE_OK:
		m->session_id = ch | (uint32_t)!r->dir << 16;
		emit_msg(r, m);
		out_del_channel(other, ch);
		break;
	case MK_ASYNC:
		m->flags |= PROTO_MSG_F_NO_RESPONSE;
		m->session_id = ch | (uint32_t)r->dir << 16;
		emit_msg(r, m);
		break;
	case MK_CONTENT:
	case MK_GETOK:
	case MK_RETURN:
		if (m->kind == MK_CONTENT)
			m->flags |= PROTO_MSG_F_NO_RESPONSE;
		else if (m->kind == MK_RETURN)
			m->flags |= PROTO_MSG_F_UNSOLICITED;
		m->session_id = ch | (uint32_t)(m->kind == MK_GETOK ? !r->dir : r->dir) << 16;
		m->active = 1;
		d->pend = *m;
		break;
	case MK_CLOSE: {
		/* Does it answer a request the other side is waiting for? */
		int hit = -1;

		for (uint8_t i = 0; i < other->n_out && d->close_cls; i++) {
			if (md->cls == 20 ? other->out[i].channel == ch
					  : (other->out[i].cls == d->close_cls &&
					     other->out[i].meth == d->close_meth)) {
				hit = i;
				break;
			}
		}
		if (hit >= 0) {
			struct amsg resp = *m;

			resp.kind = MK_RESP;
			resp.session_id = other->out[hit].channel | (uint32_t)!r->dir << 16;
			out_del(other, (uint8_t)hit);
			emit_msg(r, &resp);
			if (md->cls == 10)
				break; /* the broker closes the socket; no close-ok will come */
		}
		m->session_id = ch | (uint32_t)r->dir << 16;
		emit_msg(r, m);
		out_push(d, ch, md->cls, md->meth);
		break;
	}
	}
}

/* A frame has ended (its end byte at in->data[last]). */
static void frame_done(struct arun *r, size_t last)
{
	struct adir *d = r->d;
	struct amsg *p = &d->pend;
	uint64_t flen = (uint64_t)d->fsize + 8, te = proto_ts_end_at(r->in, last);

	switch (d->ftype) {
	case FT_METHOD:
		if (!d->cur_valid)
			break;
		d->cur.start_ts = d->fstart_ts;
		d->cur.end_ts = te;
		d->cur.tcp_seq = d->fseq;
		d->cur.length = flen;
		method_done(r);
		break;
	case FT_HEADER:
		if (!p->active || p->channel != d->fchannel || p->have_header)
			break;
		p->have_header = 1;
		p->length += flen;
		p->end_ts = te;
		if (!p->body_left)
			flush_pend(r, 0);
		break;
	case FT_BODY:
		if (!p->active || p->channel != d->fchannel || !p->have_header)
			break;
		p->length += flen;
		p->end_ts = te;
		p->body_left = d->fsize >= p->body_left ? 0 : p->body_left - d->fsize;
		if (!p->body_left)
			flush_pend(r, 0);
		break;
	default: break;
	}
	d->cur_valid = 0;
}

/* A content header frame's head: body size and the trace context. */
static void parse_header(struct arun *r, const uint8_t *p, size_t n)
{
	struct adir *d = r->d;
	struct amsg *m = &d->pend;
	struct rd a = { p, n, 0, false };
	uint16_t flags;
	uint8_t l;
	uint32_t tl;

	if (!m->active || m->channel != d->fchannel || m->have_header)
		return;
	rd_u16(&a); /* class */
	rd_u16(&a); /* weight */
	m->body_left = rd_u64(&a);
	flags = rd_u16(&a);
	if (a.bad) {
		m->body_left = 0;
		return;
	}
	if (flags & 0x8000)
		rd_sstr(&a, &l); /* content-type */
	if (flags & 0x4000)
		rd_sstr(&a, &l); /* content-encoding */
	if (!(flags & 0x2000))
		return;
	tl = rd_u32(&a);
	if (a.bad)
		return;
	read_headers(m, a.p + a.i, tl <= a.n - a.i ? tl : a.n - a.i);
}

/* ---- framing ---------------------------------------------------------------------- */

static const uint8_t proto_header[8] = { 'A', 'M', 'Q', 'P', 0, 0, 9, 1 };

/* Could a frame begin here? Method frames must name a known method. */
static bool frame_plausible(const uint8_t *p, size_t n, uint32_t max_size)
{
	uint32_t size;

	if (n < 7)
		return false;
	size = rd_be32(p + 3);
	if (size > max_size)
		return false;
	if (n >= (size_t)size + 8 && p[7 + size] != AMQP_FRAME_END)
		return false;
	switch (p[0]) {
	case FT_METHOD:
		return n >= 11 && size >= 4 &&
		       find_method((uint16_t)(p[7] << 8 | p[8]), (uint16_t)(p[9] << 8 | p[10]));
	case FT_HEADER: return size >= 14 && n >= (size_t)size + 8;
	case FT_BODY: return n >= (size_t)size + 8;
	case FT_HEARTBEAT: return size == 0 && p[1] == 0 && p[2] == 0 && n >= 8;
	default: return false;
	}
}

/* Could these bytes, too few to judge, still grow into a plausible frame start? */
static bool frame_maybe(const uint8_t *p, size_t n)
{
	uint32_t size;

	if (p[0] == 'A')
		return n < 8 && !memcmp(p, proto_header, n);
	if (p[0] != FT_METHOD && p[0] != FT_HEADER && p[0] != FT_BODY && p[0] != FT_HEARTBEAT)
		return false;
	if (n < 7)
		return true;
	size = rd_be32(p + 3);
	if (size > AMQP_DETECT_FRAME || (size_t)size + 8 <= n)
		return false; /* whole, and not plausible (or the caller took it) */
	if (p[0] == FT_METHOD && n >= 11)
		return find_method((uint16_t)(p[7] << 8 | p[8]), (uint16_t)(p[9] << 8 | p[10])) &&
		       n < 8 + AMQP_HEAD_CAP;
	return n < 8 + AMQP_HEAD_CAP;
}

enum step {
	S_CONT,
	S_MORE,
	S_ERR,
};

static enum step step_frame(struct arun *r, size_t *pos)
{
	const uint8_t *p = r->in->data + *pos;
	size_t avail = r->in->len - *pos, head, need;
	struct adir *d = r->d;
	uint32_t size;

	if (p[0] == 'A') {
		size_t k = avail < 8 ? avail : 8;

		if (memcmp(p, proto_header, k) != 0)
			return S_ERR;
		if (k < 8)
			return S_MORE;
		*pos += 8;
		return S_CONT;
	}
	if (avail < 7)
		return S_MORE;
	size = rd_be32(p + 3);
	if ((p[0] != FT_METHOD && p[0] != FT_HEADER && p[0] != FT_BODY && p[0] != FT_HEARTBEAT) ||
	    size > AMQP_MAX_FRAME)
		return S_ERR;
	d->ftype = p[0];
	d->fchannel = (uint16_t)(p[1] << 8 | p[2]);
	d->fsize = size;
	d->fstart_ts = proto_ts_start_at(r->in, *pos);
	d->fseq = proto_input_seq_at(r->in, *pos);
	d->cur_valid = 0;
	if (p[0] == FT_BODY) {
		*pos += 7;
		d->frame_left = (uint64_t)size + 1;
		return S_CONT;
	}
	head = size < AMQP_HEAD_CAP ? size : AMQP_HEAD_CAP;
	need = 7 + head + (size <= AMQP_HEAD_CAP ? 1 : 0);
	if (avail < need)
		return S_MORE;
	if (size <= AMQP_HEAD_CAP && p[7 + size] != AMQP_FRAME_END)
		return S_ERR;
	if (p[0] == FT_METHOD) {
		if (!parse_method(r, p + 7, head, size <= AMQP_HEAD_CAP))
			return S_ERR;
		d->cur_valid = 1;
	} else if (p[0] == FT_HEADER) {
		parse_header(r, p + 7, head);
	} else if (size || d->fchannel) {
		return S_ERR; /* heartbeats are empty, on channel 0 */
	}
	if (size <= AMQP_HEAD_CAP) {
		*pos += 8 + size;
		frame_done(r, *pos - 1);
	} else {
		*pos += 7 + head;
		d->frame_left = (uint64_t)(size - head) + 1;
	}
	return S_CONT;
}

static enum step step_skip(struct arun *r, size_t *pos)
{
	struct adir *d = r->d;
	size_t avail = r->in->len - *pos;
	uint64_t take = d->frame_left < avail ? d->frame_left : avail;

	if (take == d->frame_left && r->in->data[*pos + take - 1] != AMQP_FRAME_END)
		return S_ERR;
	*pos += (size_t)take;
	d->frame_left -= take;
	if (d->frame_left)
		return S_MORE;
	frame_done(r, *pos - 1);
	return S_CONT;
}

static enum step step_resync(struct arun *r, size_t *pos)
{
	const struct proto_input *in = r->in;

	for (size_t i = 0; in->segs && i < in->nsegs; i++) {
		size_t b = in->segs[i].off, n;

		if (b < *pos || b >= in->len || !in->segs[i].len)
			continue;
		n = in->len - b;
		if ((n >= 8 && !memcmp(in->data + b, proto_header, 8)) ||
		    frame_plausible(in->data + b, n, AMQP_DETECT_FRAME)) {
			if (b > *pos)
				r->st->resyncs += r->d->skipping ? 0 : 1;
			*pos = b;
			r->d->skipping = 0;
			r->d->phase = PH_FRAME;
			return S_CONT;
		}
	}
	/* A frame may still complete at an event start near the end: keep from there. */
	for (size_t i = 0; in->segs && i < in->nsegs; i++) {
		size_t b = in->segs[i].off;

		if (b < *pos || b >= in->len || !frame_maybe(in->data + b, in->len - b))
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

static void reset_dir(struct adir *d)
{
	d->frame_left = 0;
	d->cur_valid = 0;
	d->pend.active = 0;
	d->phase = PH_RESYNC;
}

/* The input ends with uncaptured bytes: account for them, consume everything. */
static void apply_gap(struct arun *r, size_t pos)
{
	struct adir *d = r->d;
	uint64_t gap = r->in->gap;

	if (d->phase == PH_FRAME && d->frame_left && pos == r->in->len) {
		if (gap < d->frame_left) {
			/* the frame's whole size counts when it ends */
			d->frame_left -= gap;
			return;
		}
		/* the frame ended inside the gap; so did whatever followed it */
	} else if (d->phase == PH_FRAME && pos < r->in->len) {
		r->st->truncated++;
	}
	if (d->pend.active) {
		d->pend.length += gap;
		flush_pend(r, PROTO_MSG_F_TRUNCATED | PROTO_MSG_F_LEN_GUESSED);
	}
	d->frame_left = 0;
	d->cur_valid = 0;
	d->phase = PH_RESYNC;
	d->skipping = 1;
	r->st->resyncs++;
}

static int amqp_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		      struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct aconn *c = state;
	struct arun r;
	enum step s = S_MORE;
	size_t pos = 0;

	stats = proto_parse_begin(c, in, stats, &scratch);
	if (!stats)
		return PROTO_ERROR;
	r = (struct arun){ c,	  &c->dir[in->dir == PROTO_DIR_INGRESS], in, emit, ctx,
			   stats, in->dir == PROTO_DIR_INGRESS };
	while (pos < in->len) {
		if (r.d->phase == PH_RESYNC)
			s = step_resync(&r, &pos);
		else if (r.d->frame_left)
			s = step_skip(&r, &pos);
		else
			s = step_frame(&r, &pos);
		if (s == S_ERR) {
			reset_dir(r.d);
			r.d->skipping = 1;
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

static void amqp_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			  struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct aconn *c = state;

	if (!c)
		return;
	stats = proto_stats_or_scratch(stats, &scratch);
	for (int i = 0; i < 2; i++) {
		struct arun r = { c, &c->dir[i], NULL, emit, ctx, stats, i };

		if (c->dir[i].pend.active) {
			if (!c->dir[i].pend.end_ts)
				c->dir[i].pend.end_ts = ts;
			flush_pend(&r, PROTO_MSG_F_LEN_GUESSED);
		}
	}
	memset(c, 0, sizeof(*c));
}

static enum proto_detect amqp_detect(const uint8_t *data, size_t len, enum proto_dir dir,
				     const struct proto_ctx *ctx)
{
	(void)dir;
	if (!data || !len)
		return PROTO_DETECT_NO;
	if (len >= 8 && !memcmp(data, proto_header, 8))
		return PROTO_DETECT_YES;
	if (len < 8 && !memcmp(data, proto_header, len) && len >= 4)
		return PROTO_DETECT_MAYBE;
	if (len >= 11 && data[0] == FT_METHOD && frame_plausible(data, len, AMQP_DETECT_FRAME)) {
		uint32_t size = rd_be32(data + 3);

		if (len >= (size_t)size + 8)
			return PROTO_DETECT_YES;
		return ctx && ctx->server_port == 5672 ? PROTO_DETECT_MAYBE : PROTO_DETECT_NO;
	}
	return PROTO_DETECT_NO;
}

static void amqp_reset(void *state, enum proto_dir dir)
{
	struct aconn *c = state;

	if (c && (dir == PROTO_DIR_EGRESS || dir == PROTO_DIR_INGRESS)) {
		reset_dir(&c->dir[dir == PROTO_DIR_INGRESS]);
		c->dir[dir == PROTO_DIR_INGRESS].skipping = 1;
	}
}

const struct proto_ops proto_amqp_ops = {
	.name = "AMQP",
	.id = PROTO_AMQP,
	.state_size = sizeof(struct aconn),
	.detect = amqp_detect,
	.parse = amqp_parse,
	.on_close = amqp_on_close,
	.reset = amqp_reset,
	.release = NULL,
};
