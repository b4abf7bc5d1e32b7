/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NATS parser: the client protocol (INFO, CONNECT, PUB, HPUB, SUB, UNSUB, MSG, HMSG, PING,
 * PONG, +OK, -ERR).
 *
 * Every message is a control line (a verb, case-insensitive, and its arguments, ending in
 * CRLF), and PUB / HPUB / MSG / HMSG carry a payload of the byte count the line gives,
 * followed by CRLF. Lines are read whole (at most NT_LINE_MAX bytes; an INFO or CONNECT
 * longer than that is read from its first NT_LINE_MAX bytes and the rest skipped), payloads
 * are consumed as they pass: only the headers of HPUB / HMSG (the first NT_HDR_CAP bytes)
 * are kept, for the trace context they may carry (traceparent, sw8).
 *
 * Pairing follows DeepFlow where the sender of a request is the client: the client's PING
 * and the server's PONG make one exchange. Everything else stands alone: CONNECT, PUB,
 * HPUB, SUB, UNSUB (and the client's PONG to a server's PING) are requests that get no
 * response; INFO, MSG, HMSG, +OK, -ERR (and the server's PING) responses that answer none.
 * (DeepFlow pairs the server's INFO with the client's CONNECT, and a server's PING with
 * the client's PONG, as exchanges the server starts; here whoever sends a request is the
 * client of its record, so those would show with the ends swapped.) -ERR is a client
 * error with its text as the exception.
 *
 * request_type is the verb in upper case, request_domain the server name and version the
 * server version (both from INFO, kept for the connection), request_resource the subject,
 * endpoint the subject's first token. Payloads and header values never show.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto.h"

#define NT_LINE_MAX  4096
#define NT_HDR_CAP   1024
#define NT_RES_CAP   256
#define NT_PORT	     4222
#define NT_MAX_BYTES (64ull * 1024 * 1024)

enum { NT_IDLE = 0, NT_PAYLOAD, NT_SKIPLINE, NT_RESYNC };

enum nt_cmd {
	C_INFO = 0,
	C_CONNECT,
	C_PUB,
	C_HPUB,
	C_SUB,
	C_UNSUB,
	C_MSG,
	C_HMSG,
	C_PING,
	C_PONG,
	C_OK,
	C_ERR,
	C_N,
};

/* 1: only the client sends it, 2: only the server, 0: either */
static const struct {
	const char *name;
	uint8_t len;
	uint8_t sender;
} nt_cmds[C_N] = {
	[C_INFO] = { "INFO", 4, 2 }, [C_CONNECT] = { "CONNECT", 7, 1 },
	[C_PUB] = { "PUB", 3, 1 },   [C_HPUB] = { "HPUB", 4, 1 },
	[C_SUB] = { "SUB", 3, 1 },   [C_UNSUB] = { "UNSUB", 5, 1 },
	[C_MSG] = { "MSG", 3, 2 },   [C_HMSG] = { "HMSG", 4, 2 },
	[C_PING] = { "PING", 4, 0 }, [C_PONG] = { "PONG", 4, 0 },
	[C_OK] = { "+OK", 3, 2 },    [C_ERR] = { "-ERR", 4, 2 },
};

/* session id of the client's PING and the server's PONG */
#define NT_SID_PING_CLI 2

struct nt_dir {
	uint8_t phase;
	bool active;
	bool truncated;
	uint8_t cmd;
	uint64_t start_ts, end_ts;
	uint32_t seq;
	uint64_t length;
	uint64_t pay_left; /* payload bytes + CRLF still to come */
	uint32_t hdr_left; /* header bytes still to come (part of pay_left) */
	uint16_t hdr_len;
	uint16_t res_len, ep_len, exc_len, trace_len, span_len;
	char res[NT_RES_CAP];
	char exc[NT_RES_CAP];
	char hdr[NT_HDR_CAP];
	char trace[96];
	char span[128];
};

struct nt_state {
	struct nt_dir dir[2];
	bool cli_known;
	uint8_t cli_dir;
	uint8_t name_len, ver_len;
	char server_name[64];
	char version[32];
	char method[8];
};

static char up(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static bool is_sp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* The verb at the start of a line: its index, or -1. */
static int verb_of(const uint8_t *l, size_t n)
{
	size_t v = 0;

	while (v < n && !is_sp(l[v]) && l[v] != '\r' && l[v] != '\n')
		v++;
	for (int i = 0; i < C_N; i++) {
		if (nt_cmds[i].len != v)
			continue;
		size_t k = 0;

		while (k < v && up((char)l[k]) == nt_cmds[i].name[k])
			k++;
		if (k == v)
			return i;
	}
	return -1;
}

struct tok {
	const uint8_t *p;
	size_t n;
};

/* Split l[0..n) (after the verb) into at most max words; returns the count, max+1 if more. */
static size_t split(const uint8_t *l, size_t n, struct tok *t, size_t max)
{
	size_t i = 0, k = 0;

	while (i < n) {
		size_t j;

		while (i < n && is_sp(l[i]))
			i++;
		if (i == n)
			break;
		j = i;
		while (j < n && !is_sp(l[j]))
			j++;
		if (k == max)
			return max + 1;
		t[k].p = l + i;
		t[k].n = j - i;
		k++;
		i = j;
	}
	return k;
}

static bool number(struct tok t, uint64_t *v)
{
	uint64_t x = 0;

	if (!t.n || t.n > 12)
		return false;
	for (size_t i = 0; i < t.n; i++) {
		if (t.p[i] < '0' || t.p[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(t.p[i] - '0');
	}
	*v = x;
	return true;
}

/* A subject: printable, no spaces, no empty tokens. */
static bool subject_ok(struct tok t)
{
	if (!t.n || t.p[0] == '.' || t.p[t.n - 1] == '.')
		return false;
	for (size_t i = 0; i < t.n; i++) {
		if (t.p[i] <= 0x20 || t.p[i] >= 0x7f)
			return false;
		if (t.p[i] == '.' && i + 1 < t.n && t.p[i + 1] == '.')
			return false;
	}
	return true;
}

static void put(char *buf, uint16_t *len, size_t cap, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && *len < cap; i++) {
		uint8_t c = p[i];

		buf[(*len)++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
}

/* The string value of "key" in a JSON object (no escapes decoded; stops at a quote). */
static void json_str(const uint8_t *l, size_t n, const char *key, char *out, uint8_t *olen,
		     size_t cap)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i + kl + 3 < n; i++) {
		size_t j;

		if (l[i] != '"' || memcmp(l + i + 1, key, kl) || l[i + 1 + kl] != '"')
			continue;
		j = i + kl + 2;
		while (j < n && is_sp(l[j]))
			j++;
		if (j >= n || l[j] != ':')
			continue;
		j++;
		while (j < n && is_sp(l[j]))
			j++;
		if (j >= n || l[j] != '"')
			continue;
		j++;
		*olen = 0;
		while (j < n && l[j] != '"' && *olen < cap) {
			uint8_t c = l[j++];

			out[(*olen)++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		}
		return;
	}
}

/* ---- trace context in headers ------------------------------------------------------ */

static int b64v(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Base64-decode p[0..n) (padding allowed) into out; false on bad input or no room. */
static bool b64dec(const uint8_t *p, size_t n, char *out, uint16_t *olen, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;

	*olen = 0;
	for (size_t i = 0; i < n; i++) {
		int v;

		if (p[i] == '=')
			break;
		v = b64v(p[i]);
		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			uint8_t c = (uint8_t)(acc >> (bits - 8));

			bits -= 8;
			if (*olen >= cap || c < 0x20 || c >= 0x7f)
				return false;
			out[(*olen)++] = (char)c;
		}
	}
	return *olen > 0;
}

static bool hexs(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

static bool name_is(const uint8_t *p, size_t n, const char *name)
{
	size_t k = strlen(name);

	if (n != k)
		return false;
	for (size_t i = 0; i < k; i++)
		if ((char)(up((char)p[i]) | 0x20) != (char)(up(name[i]) | 0x20))
			return false;
	return true;
}

/* traceparent (W3C) or sw8 (SkyWalking) in the kept headers of an HPUB / HMSG. */
static void header_trace(struct nt_dir *d)
{
	const uint8_t *h = (const uint8_t *)d->hdr;
	size_t n = d->hdr_len, i = 0;

	while (i < n) {
		size_t e = i, c, v;

		while (e < n && h[e] != '\r' && h[e] != '\n')
			e++;
		for (c = i; c < e && h[c] != ':'; c++)
			;
		if (c < e) {
			v = c + 1;
			while (v < e && is_sp(h[v]))
				v++;
			if (name_is(h + i, c - i, "traceparent") && e - v >= 55 &&
			    h[v + 2] == '-' && h[v + 35] == '-' && h[v + 52] == '-' &&
			    hexs(h + v + 3, 32) && hexs(h + v + 36, 16)) {
				memcpy(d->trace, h + v + 3, 32);
				d->trace_len = 32;
				memcpy(d->span, h + v + 36, 16);
				d->span_len = 16;
				return;
			}
			if (name_is(h + i, c - i, "sw8")) {
				/* sample-traceid-segmentid-spanid-... (ids in base64) */
				size_t f[5], nf = 0, k = v;

				f[nf++] = v;
				for (; k < e && nf < 5; k++)
					if (h[k] == '-')
						f[nf++] = k + 1;
				if (nf == 5 && b64dec(h + f[1], f[2] - 1 - f[1], d->trace,
						      &d->trace_len, sizeof(d->trace))) {
					uint16_t sl = 0;

					if (b64dec(h + f[2], f[3] - 1 - f[2], d->span, &sl,
						   sizeof(d->span) - 24)) {
						d->span[sl++] = '-';
						for (size_t q = f[3];
						     q < f[4] - 1 && sl < sizeof(d->span); q++)
							d->span[sl++] = (char)h[q];
						d->span_len = sl;
					}
					return;
				}
				d->trace_len = 0;
			}
		}
		i = e;
		while (i < n && (h[i] == '\r' || h[i] == '\n'))
			i++;
	}
}

/* ---- messages ---------------------------------------------------------------------- */

static void emit_msg(struct nt_state *s, struct nt_dir *d, enum proto_dir dir, proto_emit_fn emit,
		     void *ctx, struct proto_stats *st)
{
	struct proto_msg m;
	bool from_cli = s->cli_dir == (uint8_t)dir;
	uint8_t c = d->cmd;

	memset(&m, 0, sizeof(m));
	memcpy(s->method, nt_cmds[c].name, nt_cmds[c].len);
	m.dir = dir;
	m.flags = d->truncated ? PROTO_MSG_F_TRUNCATED : 0;
	m.start_ts = d->start_ts;
	m.end_ts = d->end_ts < d->start_ts ? d->start_ts : d->end_ts;
	m.tcp_seq = d->seq;
	m.length = d->length ? d->length : 1;
	m.code = -1;
	m.status = PROTO_STATUS_OK;
	m.method = (struct proto_str){ s->method, nt_cmds[c].len };
	m.domain = (struct proto_str){ s->server_name, s->name_len };
	m.version = (struct proto_str){ s->version, s->ver_len };
	m.resource = (struct proto_str){ d->res, d->res_len };
	m.endpoint = (struct proto_str){ d->res, d->ep_len };
	m.trace_id = (struct proto_str){ d->trace, d->trace_len };
	m.span_id = (struct proto_str){ d->span, d->span_len };
	switch (c) {
	case C_PING:
	case C_PONG:
		if ((c == C_PING) == from_cli) {
			/* the client's PING and the server's PONG */
			m.kind = from_cli ? PROTO_MSG_REQUEST : PROTO_MSG_RESPONSE;
			m.has_session_id = true;
			m.session_id = NT_SID_PING_CLI;
		} else if (from_cli) {
			m.kind = PROTO_MSG_REQUEST; /* answers the server's PING */
			m.flags |= PROTO_MSG_F_NO_RESPONSE;
		} else {
			m.kind = PROTO_MSG_RESPONSE; /* the server's PING */
			m.flags |= PROTO_MSG_F_UNSOLICITED;
		}
		break;
	case C_CONNECT:
		m.kind = PROTO_MSG_REQUEST;
		m.flags |= PROTO_MSG_F_NO_RESPONSE;
		break;
	case C_PUB:
	case C_HPUB:
	case C_SUB:
	case C_UNSUB:
		m.kind = PROTO_MSG_REQUEST;
		m.flags |= PROTO_MSG_F_NO_RESPONSE;
		break;
	case C_ERR:
		m.kind = PROTO_MSG_RESPONSE;
		m.flags |= PROTO_MSG_F_UNSOLICITED;
		m.status = PROTO_STATUS_CLIENT_ERROR;
		m.exception = (struct proto_str){ d->exc, d->exc_len };
		break;
	default:
		m.kind = PROTO_MSG_RESPONSE;
		m.flags |= PROTO_MSG_F_UNSOLICITED;
		break;
	}
	st->messages++;
	if (m.flags & PROTO_MSG_F_TRUNCATED)
		st->truncated++;
	emit(ctx, &m);
	d->active = false;
	d->truncated = false;
}

/*
 * A control line l[0..n) (no line end) of command c: fill the message, and the payload
 * size. false: malformed.
 */
static bool take_line(struct nt_state *s, struct nt_dir *d, int c, const uint8_t *l, size_t n)
{
	struct tok t[6];
	size_t nt, v = nt_cmds[c].len;
	const uint8_t *a = l + v;
	size_t an = n - v;
	uint64_t hdr = 0, tot = 0;
	struct tok subj = { NULL, 0 };

	d->cmd = (uint8_t)c;
	d->res_len = d->ep_len = d->exc_len = d->trace_len = d->span_len = 0;
	d->hdr_len = 0;
	d->hdr_left = 0;
	d->pay_left = 0;
	if (an && !is_sp(a[0]))
		return false;
	switch (c) {
	case C_INFO:
		json_str(a, an, "server_name", s->server_name, &s->name_len,
			 sizeof(s->server_name));
		json_str(a, an, "version", s->version, &s->ver_len, sizeof(s->version));
		/* fall through */
	case C_CONNECT: nt = split(a, an, t, 1); return nt >= 1 && t[0].p[0] == '{';
	case C_PUB:
		nt = split(a, an, t, 3);
		if (nt < 2 || nt > 3 || !number(t[nt - 1], &tot))
			return false;
		subj = t[0];
		break;
	case C_HPUB:
		nt = split(a, an, t, 4);
		if (nt < 3 || nt > 4 || !number(t[nt - 2], &hdr) || !number(t[nt - 1], &tot))
			return false;
		subj = t[0];
		break;
	case C_MSG:
		nt = split(a, an, t, 4);
		if (nt < 3 || nt > 4 || !number(t[nt - 1], &tot))
			return false;
		subj = t[0];
		break;
	case C_HMSG:
		nt = split(a, an, t, 5);
		if (nt < 4 || nt > 5 || !number(t[nt - 2], &hdr) || !number(t[nt - 1], &tot))
			return false;
		subj = t[0];
		break;
	case C_SUB:
		nt = split(a, an, t, 3);
		if (nt < 2 || nt > 3)
			return false;
		subj = t[0];
		break;
	case C_UNSUB:
		nt = split(a, an, t, 2);
		if (nt < 1 || nt > 2 || (nt == 2 && !number(t[1], &tot)))
			return false;
		tot = 0;
		break;
	case C_PING:
	case C_PONG:
	case C_OK:
		if (split(a, an, t, 0) != 0)
			return false;
		break;
	case C_ERR: {
		size_t i = 0;

		while (i < an && is_sp(a[i]))
			i++;
		put(d->exc, &d->exc_len, sizeof(d->exc), a + i, an - i);
		break;
	}
	default: return false;
	}
	if (subj.n) {
		if (!subject_ok(subj))
			return false;
		put(d->res, &d->res_len, NT_RES_CAP, subj.p, subj.n);
		while (d->ep_len < d->res_len && d->res[d->ep_len] != '.')
			d->ep_len++;
	}
	if (hdr > tot || tot > NT_MAX_BYTES)
		return false;
	if (c == C_PUB || c == C_HPUB || c == C_MSG || c == C_HMSG)
		d->pay_left = tot + 2;
	d->hdr_left = (uint32_t)hdr;
	return true;
}

static uint64_t ts_end_at(const struct proto_input *in, size_t idx)
{
	const struct proto_seg *g = proto_input_locate(in, idx);

	return g ? g->ts_end : 0;
}

static uint64_t ts_start_at(const struct proto_input *in, size_t idx)
{
	const struct proto_seg *g = proto_input_locate(in, idx);

	return g ? g->ts_start : 0;
}

/* Does an event begin like a message? (a known verb then a space or the line end) */
static bool looks_like_start(const uint8_t *p, size_t n)
{
	int c = verb_of(p, n);

	if (c < 0)
		return false;
	return n == nt_cmds[c].len || is_sp(p[nt_cmds[c].len]) || p[nt_cmds[c].len] == '\r' ||
	       p[nt_cmds[c].len] == '\n';
}

static void learn_client(struct nt_state *s, const struct proto_input *in, int c)
{
	uint8_t role = in->ctx ? in->ctx->role : PROTO_ROLE_UNKNOWN;

	if (s->cli_known)
		return;
	if (role == PROTO_ROLE_CLIENT)
		s->cli_dir = PROTO_DIR_EGRESS;
	else if (role == PROTO_ROLE_SERVER)
		s->cli_dir = PROTO_DIR_INGRESS;
	else if (nt_cmds[c].sender == 1)
		s->cli_dir = (uint8_t)in->dir;
	else
		s->cli_dir = (uint8_t)!in->dir; /* the server speaks first */
	s->cli_known = true;
}

static int nt_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		    struct proto_stats *st)
{
	struct nt_state *s = state;
	struct nt_dir *d;
	size_t p = 0, len;
	const uint8_t *data;

	if (!s || !in || (in->dir != PROTO_DIR_EGRESS && in->dir != PROTO_DIR_INGRESS) ||
	    (in->len && (!in->data || !in->segs || !in->nsegs))) {
		st->parse_errors++;
		return PROTO_ERROR;
	}
	d = &s->dir[in->dir];
	data = in->data;
	len = in->len;
	if (d->phase == NT_RESYNC) {
		size_t e = in->event_start;

		if (e < len && looks_like_start(data + e, len - e)) {
			d->phase = NT_IDLE;
			st->resyncs++;
			p = e;
		} else {
			return (int)len;
		}
	}
	while (p < len) {
		size_t avail = len - p;

		if (d->phase == NT_PAYLOAD) {
			size_t k = avail < d->pay_left ? avail : (size_t)d->pay_left;

			if (d->hdr_left) {
				size_t h = k < d->hdr_left ? k : d->hdr_left;

				for (size_t i = 0; i < h && d->hdr_len < NT_HDR_CAP; i++)
					d->hdr[d->hdr_len++] = (char)data[p + i];
				d->hdr_left -= (uint32_t)h;
				if (!d->hdr_left)
					header_trace(d);
			}
			/* the payload ends with CRLF */
			for (size_t i = 0; i < k; i++) {
				uint64_t left = d->pay_left - i;

				if ((left == 2 && data[p + i] != '\r') ||
				    (left == 1 && data[p + i] != '\n'))
					goto bad;
			}
			p += k;
			d->pay_left -= k;
			d->length += k;
			d->end_ts = ts_end_at(in, p - 1);
			if (!d->pay_left) {
				d->phase = NT_IDLE;
				emit_msg(s, d, in->dir, emit, ctx, st);
			}
			continue;
		}
		if (d->phase == NT_SKIPLINE) {
			const uint8_t *nl = memchr(data + p, '\n', avail);
			size_t k = nl ? (size_t)(nl - (data + p)) + 1 : avail;

			p += k;
			d->length += k;
			d->end_ts = ts_end_at(in, p - 1);
			if (nl) {
				d->phase = NT_IDLE;
				emit_msg(s, d, in->dir, emit, ctx, st);
			}
			continue;
		}
		{
			const uint8_t *l = data + p;
			size_t lim = avail < NT_LINE_MAX ? avail : NT_LINE_MAX, n;
			const uint8_t *nl = memchr(l, '\n', lim);
			int c = verb_of(l, lim);
			bool from_cli;

			if (c < 0) {
				/* too few bytes to tell yet? */
				if (!nl && avail < 8) {
					bool prefix = false;

					for (int i = 0; i < C_N && !prefix; i++) {
						size_t k = 0;

						while (k < avail && k < nt_cmds[i].len &&
						       up((char)l[k]) == nt_cmds[i].name[k])
							k++;
						prefix = k == avail;
					}
					if (prefix)
						break;
				}
				goto bad;
			}
			if (!nl) {
				if (avail < NT_LINE_MAX)
					break; /* the line continues (or a gap cuts it) */
				if (c != C_INFO && c != C_CONNECT)
					goto bad;
				/* a long INFO / CONNECT: read its start, skip the rest */
				learn_client(s, in, c);
				if (!take_line(s, d, c, l, lim))
					goto bad;
				d->active = true;
				d->start_ts = ts_start_at(in, p);
				d->seq = proto_input_seq_at(in, p);
				d->length = lim;
				d->end_ts = ts_end_at(in, p + lim - 1);
				d->phase = NT_SKIPLINE;
				p += lim;
				continue;
			}
			n = (size_t)(nl - l) + 1;
			learn_client(s, in, c);
			from_cli = s->cli_dir == in->dir;
			if ((nt_cmds[c].sender == 1 && !from_cli) ||
			    (nt_cmds[c].sender == 2 && from_cli))
				goto bad;
			if (!take_line(s, d, c, l, n - 1 - (n >= 2 && l[n - 2] == '\r')))
				goto bad;
			d->active = true;
			d->start_ts = ts_start_at(in, p);
			d->seq = proto_input_seq_at(in, p);
			d->length = n;
			d->end_ts = ts_end_at(in, p + n - 1);
			p += n;
			if (d->pay_left)
				d->phase = NT_PAYLOAD;
			else
				emit_msg(s, d, in->dir, emit, ctx, st);
		}
	}
	if (in->gap) {
		if (d->phase == NT_PAYLOAD && p == len && in->gap <= d->pay_left) {
			/* the payload absorbs the bytes not captured */
			uint64_t g = in->gap;

			if (d->hdr_left) {
				d->truncated =
					true; /* headers cut: the trace context may be lost */
				d->hdr_left = g < d->hdr_left ? (uint32_t)(d->hdr_left - g) : 0;
			}
			d->pay_left -= g;
			d->length += g;
			if (!d->pay_left) {
				d->phase = NT_IDLE;
				emit_msg(s, d, in->dir, emit, ctx, st);
			}
		} else {
			if (d->active) {
				d->truncated = true;
				if (d->phase == NT_PAYLOAD) {
					uint64_t k = in->gap < d->pay_left ? in->gap : d->pay_left;

					d->length += k;
				}
				emit_msg(s, d, in->dir, emit, ctx, st);
			} else if (p < len) {
				st->truncated++;
			}
			d->phase = NT_RESYNC;
		}
		return (int)len;
	}
	return (int)p;
bad:
	st->parse_errors++;
	d->phase = NT_RESYNC;
	d->active = false;
	return PROTO_ERROR;
}

static void nt_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			struct proto_stats *st)
{
	struct nt_state *s = state;

	for (int i = 0; i < 2; i++) {
		struct nt_dir *d = &s->dir[i];

		if (d->active) {
			d->truncated = true;
			if (!d->end_ts)
				d->end_ts = ts;
			emit_msg(s, d, (enum proto_dir)i, emit, ctx, st);
		}
		d->phase = NT_IDLE;
		d->active = false;
	}
}

static void nt_reset(void *state, enum proto_dir dir)
{
	struct nt_state *s = state;

	if (s && (dir == PROTO_DIR_EGRESS || dir == PROTO_DIR_INGRESS)) {
		s->dir[dir].phase = NT_RESYNC;
		s->dir[dir].active = false;
	}
}

static enum proto_detect nt_detect(const uint8_t *data, size_t len, enum proto_dir dir,
				   const struct proto_ctx *ctx)
{
	struct nt_state s;
	struct nt_dir d;
	bool port = ctx && ctx->server_port == NT_PORT;
	const uint8_t *nl;
	size_t n;
	int c;

	if (!data || len < 3 || (ctx && ctx->l4_proto != 6))
		return PROTO_DETECT_NO;
	c = verb_of(data, len < 16 ? len : 16);
	if (c < 0)
		return PROTO_DETECT_NO;
	/* the side the role says sends it */
	if (ctx && ctx->role != PROTO_ROLE_UNKNOWN && nt_cmds[c].sender) {
		bool cli_side = (ctx->role == PROTO_ROLE_CLIENT) == (dir == PROTO_DIR_EGRESS);

		if ((nt_cmds[c].sender == 1) != cli_side)
			return PROTO_DETECT_NO;
	}
	/* INFO {...} / CONNECT {...}: the greeting and its answer */
	if ((c == C_INFO || c == C_CONNECT) && len >= (size_t)nt_cmds[c].len + 3 &&
	    data[nt_cmds[c].len] == ' ' && data[nt_cmds[c].len + 1] == '{' &&
	    data[nt_cmds[c].len + 2] == '"')
		return PROTO_DETECT_YES;
	nl = memchr(data, '\n', len < NT_LINE_MAX ? len : NT_LINE_MAX);
	if (!nl)
		return PROTO_DETECT_NO;
	n = (size_t)(nl - data);
	if (!n || data[n - 1] != '\r')
		return PROTO_DETECT_NO;
	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	if (!take_line(&s, &d, c, data, n - 1))
		return PROTO_DETECT_NO;
	switch (c) {
	case C_PUB:
	case C_HPUB:
	case C_MSG:
	case C_HMSG:
		/* a payload line: its CRLF where the count says, when it is all there */
		if (len >= n + 1 + d.pay_left) {
			size_t e = n + 1 + (size_t)d.pay_left;

			if (data[e - 2] != '\r' || data[e - 1] != '\n')
				return PROTO_DETECT_NO;
			if (c == C_HPUB || c == C_HMSG) {
				if (d.hdr_left < 8 || memcmp(data + n + 1, "NATS/1.0", 8))
					return PROTO_DETECT_NO;
			}
			return PROTO_DETECT_YES;
		}
		return port ? PROTO_DETECT_MAYBE : PROTO_DETECT_NO;
	case C_SUB: return n + 1 == len ? PROTO_DETECT_YES : (port ? PROTO_DETECT_MAYBE : 0);
	default: return port ? PROTO_DETECT_MAYBE : PROTO_DETECT_NO;
	}
}

const struct proto_ops proto_nats_ops = {
	.name = "NATS",
	.id = PROTO_NATS,
	.state_size = sizeof(struct nt_state),
	.detect = nt_detect,
	.parse = nt_parse,
	.on_close = nt_on_close,
	.reset = nt_reset,
	.release = NULL,
};
