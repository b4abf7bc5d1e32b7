/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.0 and HTTP/1.1 parser.
 *
 * One state covers both directions of a connection. Each direction is either between
 * messages (the next bytes must be a start line), inside a body whose framing it follows
 * (Content-Length, chunked, until close, or unknown after a capture gap), or
 * resynchronising: skipping bytes until a capture event begins with a valid start line.
 *
 * Header blocks are never consumed piecemeal: until the blank line arrives the parser
 * consumes nothing and the caller presents the same bytes again, so every header block is
 * parsed from one contiguous buffer (remembering how far it was already validated, so a
 * header trickling in byte by byte costs linear time). The strings a message reports are
 * copied into the state when its header completes, because its body may keep streaming
 * through later calls, after the header bytes are gone; the emitted views point there.
 *
 * What a capture can do to a stream decides most of the rest:
 * - A gap inside a Content-Length body counts against it; if the body ends inside the gap,
 *   whatever the gap held after it is lost and the direction resynchronises.
 * - A gap inside chunked framing, or inside a header block (the message is then reported
 *   as truncated), leaves the end unknown: the message ends where the next message of its
 *   kind visibly begins at an event boundary, where the other direction starts one, or at
 *   the close, and its length is flagged as guessed.
 * - Responses are matched to the methods of requests still unanswered (a small FIFO), so
 *   answers to HEAD have no body and a 2xx to CONNECT or a 101 ends HTTP on the connection.
 * - h2c upgrade (RFC 7540 3.2): a request offering "Upgrade: h2c" becomes HTTP/2 stream 1
 *   if the server agrees, and its answer then comes as HTTP/2 frames on stream 1. So such a
 *   request, and an HTTP/1 answer to it (a server declining), carry session id 1; a
 *   "101 Switching Protocols" with "Upgrade: h2c" is reported with next_proto HTTP/2 and
 *   ends this parser's part: parse() returns the offset just past it, and the HTTP/2
 *   parser's answer on stream 1 pairs with the request.
 * - A response that answers a request whose body is still arriving reports that request
 *   first, so request and response keep their order.
 * - Noise where no message was expected (joining mid-stream, after an error) is skipped
 *   quietly; bytes that begin like HTTP but are not, or noise where the next message had
 *   to start, are errors.
 */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/proto_util.h"
#include "proto/trace_ctx.h"

#define H1_FIFO_LEN 32
/* In a FIFO entry, beside the method: the request offered an h2c upgrade. */
#define H1_FIFO_H2C 0x80
/* RFC 7540 3.2: the upgraded request is stream 1 of the HTTP/2 connection. */
#define H1_H2C_STREAM	  1
#define H1_CHUNK_LINE_MAX 4096
/* Larger lengths are not real traffic and would only invite arithmetic overflow. */
#define H1_BODY_MAX	(1ULL << 62)
#define H1_CHUNK_DIGITS 15
/* detect() looks no further than this into the first line. */
#define H1_DETECT_SCAN 512

/* Bytes kept per reported string; DeepFlow compares only the first 1024 of a resource. */
#define H1_CAP_METHOD	8
#define H1_CAP_VERSION	4
#define H1_CAP_DOMAIN	256
#define H1_CAP_RESOURCE 1024
#define H1_CAP_XRID	128
#define H1_CAP_REASON	128
#define H1_TRACE_LEN	32
#define H1_SPAN_LEN	16
#define H1_TEXT_LEN                                                                                \
	(H1_CAP_METHOD + H1_CAP_VERSION + H1_CAP_DOMAIN + H1_CAP_RESOURCE + H1_CAP_XRID +          \
	 H1_TRACE_LEN + H1_SPAN_LEN)

_Static_assert(H1_TEXT_LEN >=
		       H1_CAP_VERSION + H1_CAP_REASON + H1_CAP_XRID + H1_TRACE_LEN + H1_SPAN_LEN,
	       "a response's strings must fit the text area too");
_Static_assert(H1_TEXT_LEN <= UINT16_MAX, "text offsets are 16 bits");
_Static_assert(PROTO_HTTP1_MAX_HDR < INT_MAX, "header cap must fit the return type");

enum h1_method {
	M_NONE,
	M_GET,
	M_POST,
	M_PUT,
	M_DELETE,
	M_HEAD,
	M_OPTIONS,
	M_PATCH,
	M_CONNECT,
	M_TRACE,
	M_COUNT,
};

/* Each method with the space that must follow it, so a prefix match is one memcmp. */
static const struct {
	char word[9];
	uint8_t len;
} h1_methods[M_COUNT] = {
	[M_GET] = { "GET ", 4 },     [M_POST] = { "POST ", 5 },
	[M_PUT] = { "PUT ", 4 },     [M_DELETE] = { "DELETE ", 7 },
	[M_HEAD] = { "HEAD ", 5 },   [M_OPTIONS] = { "OPTIONS ", 8 },
	[M_PATCH] = { "PATCH ", 6 }, [M_CONNECT] = { "CONNECT ", 8 },
	[M_TRACE] = { "TRACE ", 6 },
};

enum h1_kind {
	K_REQ = 1,
	K_RESP = 2,
	K_ANY = K_REQ | K_RESP,
};

enum h1_phase {
	/* Zero, so a zero-filled state starts here: we may be joining a stream mid-way. */
	PH_RESYNC = 0,
	PH_START,
	PH_BODY_LEN,
	PH_CHUNK_SIZE,
	PH_CHUNK_DATA,
	PH_CHUNK_END,
	PH_TRAILER,
	PH_UNTIL_CLOSE,
	PH_UNKNOWN,
};

enum h1_step {
	ST_CONT,
	ST_MORE,
	ST_ERR,
};

enum sl_result {
	SL_INVALID,
	SL_PARTIAL,
	SL_VALID,
};

struct h1_span {
	uint16_t off;
	uint16_t len;
};

/* The message a direction is working on, with copies of the strings it will report. */
struct h1_msg {
	uint64_t start_ts;
	uint64_t end_ts;
	uint64_t length;
	uint32_t flags;
	uint32_t tcp_seq;
	int32_t code;
	uint8_t kind;
	uint8_t dir;
	uint8_t method;
	uint8_t status;
	uint8_t active;	 /* header seen, end not yet */
	uint8_t emitted; /* already reported (a request answered before its body ended) */
	uint8_t h2c;	 /* an h2c upgrade offer, or the answer to one: session id 1 */
	uint8_t to_h2;	 /* a 101 to h2c: the connection speaks HTTP/2 after it */
	uint16_t used;
	struct h1_span version, method_str, domain, resource, endpoint, exception, xrid, trace,
		span;
	/* last, so resetting a direction need not touch it */
	char text[H1_TEXT_LEN];
};

struct h1_dir {
	uint64_t remaining; /* body or chunk bytes still to come */
	uint32_t hdr_scan;  /* header lines already validated, from the message start */
	uint32_t trailer_len;
	uint8_t phase;
	uint8_t skipping; /* inside a resync episode already counted */
	uint8_t partial;  /* left a header with a valid start line unconsumed */
	struct h1_msg msg;
};

struct h1_conn {
	struct h1_dir dir[2];
	uint8_t fifo[H1_FIFO_LEN]; /* methods of requests not yet answered */
	uint8_t fifo_head;
	uint8_t fifo_count;
	uint8_t req_dir;  /* 0 unknown, else 1 + the direction carrying requests */
	uint8_t opaque;	  /* upgraded or tunnelled: nothing more to parse */
	uint8_t switched; /* opaque because the connection switched to HTTP/2 just now */
};

/* What a start line says. */
struct h1_line {
	uint8_t kind;
	uint8_t method;
	uint8_t minor;
	uint8_t plausible; /* began like HTTP: failing later is an error, not noise */
	int32_t code;
	size_t target_off, target_len;
	size_t reason_off, reason_len;
	size_t len; /* including the line end */
};

/* Header fields the parser acts on, as views into the input. */
struct h1_head {
	const uint8_t *host, *xrid, *traceparent;
	size_t host_len, xrid_len, traceparent_len;
	uint64_t content_length;
	bool has_host, has_xrid, has_traceparent;
	bool has_cl, has_te, te_chunked, conn_close;
	bool upgrade_h2c; /* Upgrade lists h2c */
	bool bad;	  /* framing headers that make the length ambiguous */
};

/* One parse() call. */
struct h1_run {
	struct h1_conn *c;
	struct h1_dir *d;
	const struct proto_input *in;
	const uint8_t *data;
	size_t len;
	proto_emit_fn emit;
	void *ctx;
	struct proto_stats *st;
	int dir;
	uint32_t saved_scan;
};

/* ---- characters ----------------------------------------------------------------- */

static bool is_digit(uint8_t ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_alpha(uint8_t ch)
{
	return (ch | 0x20) >= 'a' && (ch | 0x20) <= 'z';
}

static bool is_ows(uint8_t ch)
{
	return ch == ' ' || ch == '\t';
}

static int hex_val(uint8_t ch)
{
	if (is_digit(ch))
		return ch - '0';
	ch |= 0x20;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* RFC 9110 token characters, as a table: header names are checked byte by byte on every
 * message, and the branchy version was the parser's hottest spot in profiles. */
static const bool tchar_table[256] = {
	['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true, ['!'] = true,
	['#'] = true,	      ['$'] = true,	    ['%'] = true,	  ['&'] = true,
	['\''] = true,	      ['*'] = true,	    ['+'] = true,	  ['-'] = true,
	['.'] = true,	      ['^'] = true,	    ['_'] = true,	  ['`'] = true,
	['|'] = true,	      ['~'] = true,
};

static bool is_tchar(uint8_t ch)
{
	return tchar_table[ch];
}

/* Request targets: visible ASCII, and raw UTF-8 that some clients send unescaped. */
static bool is_target_char(uint8_t ch)
{
	return ch > 0x20 && ch != 0x7f;
}

/* Reason phrases, header values, chunk extensions. */
static bool is_text_char(uint8_t ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static bool eq_ci(const uint8_t *p, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!lit[i] || (uint8_t)(p[i] | 0x20) != (uint8_t)lit[i])
			return false;
	}
	return lit[n] == '\0';
}

static void trim_ows(const uint8_t **p, size_t *n)
{
	while (*n && is_ows((*p)[0])) {
		(*p)++;
		(*n)--;
	}
	while (*n && is_ows((*p)[*n - 1]))
		(*n)--;
}

/* ---- start lines ---------------------------------------------------------------- */

static enum sl_result line_end(const uint8_t *p, size_t n, size_t i, struct h1_line *sl)
{
	if (i == n)
		return SL_PARTIAL;
	if (p[i] == '\r' && ++i == n)
		return SL_PARTIAL;
	if (p[i] != '\n')
		return SL_INVALID;
	sl->len = i + 1;
	return SL_VALID;
}

/* "HTTP/1.0" or "HTTP/1.1" at p[*i]. */
static enum sl_result match_version(const uint8_t *p, size_t n, size_t *i, struct h1_line *sl)
{
	static const char v[] = "HTTP/1.";
	size_t k;

	for (k = 0; k < sizeof(v) - 1; k++, (*i)++) {
		if (*i == n)
			return SL_PARTIAL;
		if (p[*i] != (uint8_t)v[k])
			return SL_INVALID;
	}
	if (*i == n)
		return SL_PARTIAL;
	if (p[*i] != '0' && p[*i] != '1')
		return SL_INVALID;
	sl->minor = p[*i] - '0';
	(*i)++;
	return SL_VALID;
}

static bool target_form_ok(uint8_t method, const uint8_t *t, size_t n)
{
	size_t i;

	if (method == M_CONNECT)
		return true; /* authority-form: host:port */
	if (t[0] == '/')
		return true;
	if (t[0] == '*')
		return n == 1 && method == M_OPTIONS;
	/* absolute-form: scheme "://" */
	for (i = 1; i < n &&
		    (is_alpha(t[i]) || is_digit(t[i]) || t[i] == '+' || t[i] == '-' || t[i] == '.');
	     i++)
		;
	return n - i >= 3 && memcmp(t + i, "://", 3) == 0;
}

static enum sl_result check_request(const uint8_t *p, size_t n, struct h1_line *sl)
{
	enum sl_result res;
	bool partial = false;
	size_t i = 0, t0, k;
	int m;

	for (m = M_GET; m < M_COUNT; m++) {
		k = n < h1_methods[m].len ? n : h1_methods[m].len;
		if (memcmp(p, h1_methods[m].word, k) != 0)
			continue;
		if (k == h1_methods[m].len)
			break;
		partial = true;
	}
	if (m == M_COUNT)
		return partial ? SL_PARTIAL : SL_INVALID;
	sl->kind = K_REQ;
	sl->method = (uint8_t)m;
	sl->plausible = 1;
	i = t0 = h1_methods[m].len;
	if (i == n)
		return SL_PARTIAL;
	/* Judge the target's first byte at once, so noise after "GET " fails early. */
	if (m != M_CONNECT && p[i] != '/' && p[i] != '*' && !is_alpha(p[i]))
		return SL_INVALID;
	while (i < n && is_target_char(p[i]))
		i++;
	if (i == n)
		return SL_PARTIAL;
	if (p[i] != ' ' || i == t0 || !target_form_ok(sl->method, p + t0, i - t0))
		return SL_INVALID;
	sl->target_off = t0;
	sl->target_len = i - t0;
	i++;
	res = match_version(p, n, &i, sl);
	if (res != SL_VALID)
		return res;
	return line_end(p, n, i, sl);
}

static enum sl_result check_response(const uint8_t *p, size_t n, struct h1_line *sl)
{
	enum sl_result res;
	size_t i = 0, k;
	int32_t code = 0;

	res = match_version(p, n, &i, sl);
	if (res != SL_VALID)
		return res;
	if (i == n)
		return SL_PARTIAL;
	if (p[i++] != ' ')
		return SL_INVALID;
	for (k = 0; k < 3; k++, i++) {
		if (i == n)
			return SL_PARTIAL;
		if (!is_digit(p[i]))
			return SL_INVALID;
		code = code * 10 + (p[i] - '0');
	}
	sl->kind = K_RESP;
	sl->code = code;
	sl->plausible = 1;
	if (i < n && p[i] == ' ') {
		i++;
		sl->reason_off = i;
		while (i < n && is_text_char(p[i]))
			i++;
		sl->reason_len = i - sl->reason_off;
		while (sl->reason_len && is_ows(p[sl->reason_off + sl->reason_len - 1]))
			sl->reason_len--;
	}
	return line_end(p, n, i, sl);
}

/*
 * Does p begin with a start line of a wanted kind? PARTIAL: everything so far fits but the
 * line has not ended. sl->plausible is set even on failure when the bytes began like HTTP.
 */
static enum sl_result check_start_line(const uint8_t *p, size_t n, int want, struct h1_line *sl)
{
	enum sl_result rq = SL_INVALID, rs = SL_INVALID;
	struct h1_line a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (want & K_REQ)
		rq = check_request(p, n, &a);
	if (want & K_RESP)
		rs = check_response(p, n, &b);
	if (rq == SL_VALID || (rq == SL_PARTIAL && rs != SL_VALID)) {
		*sl = a;
		sl->plausible |= b.plausible;
		return rq;
	}
	*sl = b;
	sl->plausible |= a.plausible;
	return rs;
}

/* ---- header lines --------------------------------------------------------------- */

/* The line at p[off..lim): false if its LF is not there yet. */
static bool next_line(const uint8_t *p, size_t off, size_t lim, size_t *clen, size_t *next)
{
	const uint8_t *nl;
	size_t e;

	if (off >= lim)
		return false;
	nl = memchr(p + off, '\n', lim - off);
	if (!nl)
		return false;
	e = (size_t)(nl - p);
	*next = e + 1;
	if (e > off && p[e - 1] == '\r')
		e--;
	*clen = e - off;
	return true;
}

static bool header_line_ok(const uint8_t *p, size_t n, bool first)
{
	size_t i = 0;

	if (n && is_ows(p[0])) {
		/* obs-fold: tolerated as a continuation, but never right after the start line */
		if (first)
			return false;
	} else {
		while (i < n && is_tchar(p[i]))
			i++;
		if (i == 0 || i == n || p[i] != ':')
			return false;
		i++;
	}
	for (; i < n; i++) {
		if (!is_text_char(p[i]))
			return false;
	}
	return true;
}

/*
 * Validate the header lines of the block at p from *scan on. 1: the blank line ends at
 * *end. 0: more needed, *scan is where the unfinished line begins. -1: invalid.
 */
static int scan_header(const uint8_t *p, size_t lim, size_t line1, size_t *scan, size_t *end)
{
	size_t off = *scan, clen, next;

	while (next_line(p, off, lim, &clen, &next)) {
		if (clen == 0) {
			*end = next;
			return 1;
		}
		if (!header_line_ok(p + off, clen, off == line1))
			return -1;
		off = next;
	}
	*scan = off;
	return 0;
}

/* A Content-Length value: one number, or a list of identical ones (RFC 9110 8.6). */
static bool parse_content_length(const uint8_t *v, size_t n, uint64_t *out)
{
	uint64_t val = 0, x;
	bool have = false;
	size_t i = 0, digits;

	for (;;) {
		while (i < n && is_ows(v[i]))
			i++;
		for (x = 0, digits = 0; i < n && is_digit(v[i]); i++, digits++) {
			if (x > (H1_BODY_MAX - (uint64_t)(v[i] - '0')) / 10)
				return false;
			x = x * 10 + (uint64_t)(v[i] - '0');
		}
		if (!digits)
			return false;
		while (i < n && is_ows(v[i]))
			i++;
		if (have && x != val)
			return false;
		val = x;
		have = true;
		if (i == n)
			break;
		if (v[i++] != ',')
			return false;
	}
	*out = val;
	return true;
}

/*
 * Walk a comma-separated list (elements trimmed, parameters after ';' cut off): is tok one
 * of its elements, and is it the last one? *any tells whether the list had any element.
 */
static void list_scan(const uint8_t *v, size_t n, const char *tok, bool *any, bool *has, bool *last)
{
	size_t i = 0, s, e, k;
	bool match;

	*any = *has = *last = false;
	while (i < n) {
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i++;
		for (k = s; k < e; k++) {
			if (v[k] == ';') {
				e = k;
				break;
			}
		}
		while (s < e && is_ows(v[s]))
			s++;
		while (e > s && is_ows(v[e - 1]))
			e--;
		if (s == e)
			continue;
		match = eq_ci(v + s, e - s, tok);
		*any = true;
		*has |= match;
		*last = match;
	}
}

enum h1_field {
	F_OTHER,
	F_HOST,
	F_CL,
	F_TE,
	F_CONNECTION,
	F_XRID,
	F_TRACEPARENT,
	F_UPGRADE,
};

static enum h1_field classify(const uint8_t *name, size_t n)
{
	if (eq_ci(name, n, "host"))
		return F_HOST;
	if (eq_ci(name, n, "content-length"))
		return F_CL;
	if (eq_ci(name, n, "transfer-encoding"))
		return F_TE;
	if (eq_ci(name, n, "connection"))
		return F_CONNECTION;
	if (eq_ci(name, n, "x-request-id"))
		return F_XRID;
	if (eq_ci(name, n, "traceparent"))
		return F_TRACEPARENT;
	if (eq_ci(name, n, "upgrade"))
		return F_UPGRADE;
	return F_OTHER;
}

/* Pick the fields we use out of the (already validated) lines in p[from..to). */
static void read_head(const uint8_t *p, size_t from, size_t to, struct h1_head *h)
{
	enum h1_field f, last = F_OTHER;
	const uint8_t *line, *colon, *v;
	size_t off = from, clen, next, vn;
	bool any, has, is_last;
	uint64_t cl = 0;

	memset(h, 0, sizeof(*h));
	while (next_line(p, off, to, &clen, &next) && clen) {
		line = p + off;
		off = next;
		if (is_ows(line[0])) {
			/* a folded framing header could hide a second length: refuse */
			if (last == F_CL || last == F_TE)
				h->bad = true;
			continue;
		}
		colon = memchr(line, ':', clen);
		if (!colon)
			continue;
		v = colon + 1;
		vn = clen - (size_t)(v - line);
		trim_ows(&v, &vn);
		f = last = classify(line, (size_t)(colon - line));
		switch (f) {
		case F_HOST:
			if (!h->has_host) {
				h->host = v;
				h->host_len = vn;
				h->has_host = true;
			}
			break;
		case F_CL:
			if (!parse_content_length(v, vn, &cl) ||
			    (h->has_cl && cl != h->content_length))
				h->bad = true;
			h->content_length = cl;
			h->has_cl = true;
			break;
		case F_TE:
			/* codings accumulate across fields; what matters is the final one */
			list_scan(v, vn, "chunked", &any, &has, &is_last);
			if (any)
				h->te_chunked = is_last;
			h->has_te = true;
			break;
		case F_CONNECTION:
			list_scan(v, vn, "close", &any, &has, &is_last);
			h->conn_close |= has;
			break;
		case F_UPGRADE:
			list_scan(v, vn, "h2c", &any, &has, &is_last);
			h->upgrade_h2c |= has;
			break;
		case F_XRID:
			if (!h->has_xrid) {
				h->xrid = v;
				h->xrid_len = vn;
				h->has_xrid = true;
			}
			break;
		case F_TRACEPARENT:
			if (!h->has_traceparent) {
				h->traceparent = v;
				h->traceparent_len = vn;
				h->has_traceparent = true;
			}
			break;
		case F_OTHER: break;
		}
	}
}

/* "1a;name=value": hex size, then optional extensions. */
static bool parse_chunk_size(const uint8_t *p, size_t n, uint64_t *size)
{
	uint64_t v = 0;
	size_t i = 0, sig = 0;
	int h;

	for (; i < n && (h = hex_val(p[i])) >= 0; i++) {
		if (v || h)
			sig++;
		if (sig > H1_CHUNK_DIGITS)
			return false;
		v = v * 16 + (uint64_t)h;
	}
	if (i == 0)
		return false;
	while (i < n && is_ows(p[i]))
		i++;
	if (i < n) {
		if (p[i] != ';')
			return false;
		for (; i < n; i++) {
			if (!is_text_char(p[i]))
				return false;
		}
	}
	*size = v;
	return true;
}

/* ---- the connection ------------------------------------------------------------- */

static void fifo_push(struct h1_conn *c, uint8_t method)
{
	/* Deeper pipelining than this is not real traffic; its answers default to GET. */
	if (c->fifo_count >= H1_FIFO_LEN)
		return;
	c->fifo[(c->fifo_head + c->fifo_count) % H1_FIFO_LEN] = method;
	c->fifo_count++;
}

static uint8_t fifo_pop(struct h1_conn *c)
{
	uint8_t m;

	/* A response with no request on record: we joined mid-stream. GET is the best bet. */
	if (!c->fifo_count)
		return M_GET;
	m = c->fifo[c->fifo_head % H1_FIFO_LEN];
	c->fifo_head = (uint8_t)((c->fifo_head + 1) % H1_FIFO_LEN);
	c->fifo_count--;
	return m;
}

static int want_kind(const struct h1_run *r)
{
	if (!r->c->req_dir)
		return K_ANY;
	return r->c->req_dir == r->dir + 1 ? K_REQ : K_RESP;
}

static void set_roles(struct h1_run *r, int kind)
{
	if (!r->c->req_dir)
		r->c->req_dir = (uint8_t)((kind == K_REQ ? r->dir : !r->dir) + 1);
}

static void reset_dir(struct h1_dir *d)
{
	memset(d, 0, offsetof(struct h1_dir, msg) + offsetof(struct h1_msg, text));
}

static void mark_skip(struct h1_run *r)
{
	if (!r->d->skipping) {
		r->d->skipping = 1;
		r->st->resyncs++;
	}
}

static struct proto_str text_str(const struct h1_msg *m, struct h1_span s)
{
	struct proto_str out = { NULL, 0 };

	if (s.len) {
		out.ptr = m->text + s.off;
		out.len = s.len;
	}
	return out;
}

static void emit_msg(struct h1_msg *m, proto_emit_fn emit, void *ctx, struct proto_stats *st)
{
	struct proto_msg out;

	memset(&out, 0, sizeof(out));
	out.kind = m->kind == K_REQ ? PROTO_MSG_REQUEST : PROTO_MSG_RESPONSE;
	out.dir = m->dir ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
	out.flags = m->flags;
	out.start_ts = m->start_ts;
	out.end_ts = m->end_ts;
	out.tcp_seq = m->tcp_seq;
	out.length = m->length;
	out.version = text_str(m, m->version);
	out.method = text_str(m, m->method_str);
	out.domain = text_str(m, m->domain);
	out.resource = text_str(m, m->resource);
	out.endpoint = text_str(m, m->endpoint);
	out.code = m->code;
	out.status = m->status;
	out.exception = text_str(m, m->exception);
	out.x_request_id = text_str(m, m->xrid);
	out.trace_id = text_str(m, m->trace);
	out.span_id = text_str(m, m->span);
	if (m->h2c) {
		out.has_session_id = true;
		out.session_id = H1_H2C_STREAM;
	}
	if (m->to_h2)
		out.next_proto = PROTO_HTTP2;
	if (emit)
		emit(ctx, &out);
	st->messages++;
	m->emitted = 1;
}

/* Copy pre + src into the text area, at most cap bytes in all. */
static void text_put(struct h1_msg *m, struct h1_span *s, const char *pre, size_t pre_len,
		     const uint8_t *src, size_t n, size_t cap)
{
	size_t room = sizeof(m->text) - m->used;

	if (cap > room)
		cap = room;
	if (pre_len > cap)
		pre_len = cap;
	if (n > cap - pre_len)
		n = cap - pre_len;
	s->off = m->used;
	if (pre_len)
		memcpy(m->text + m->used, pre, pre_len);
	if (n)
		memcpy(m->text + m->used + pre_len, src, n);
	s->len = (uint16_t)(pre_len + n);
	m->used = (uint16_t)(m->used + s->len);
}

static uint8_t status_of(int32_t code)
{
	switch (code / 100) {
	case 1:
	case 2:
	case 3: return PROTO_STATUS_OK;
	case 4: return PROTO_STATUS_CLIENT_ERROR;
	case 5: return PROTO_STATUS_SERVER_ERROR;
	}
	return PROTO_STATUS_UNKNOWN;
}

/* Request target → domain (when Host is absent), resource and endpoint. */
static void put_target(struct h1_msg *m, const uint8_t *t, size_t n, const struct h1_head *h)
{
	const uint8_t *auth = NULL, *path = t;
	size_t auth_len = 0, path_len = n, i;
	const char *pre = "";

	if (m->method != M_CONNECT && t[0] != '/' && t[0] != '*') {
		/* absolute-form: scheme://[userinfo@]host[:port][/path][?query] */
		for (i = 0; t[i] != ':'; i++)
			;
		auth = t + i + 3;
		for (i = 0; auth + i < t + n && auth[i] != '/' && auth[i] != '?' && auth[i] != '#';
		     i++)
			;
		auth_len = i;
		path = auth + i;
		path_len = (size_t)(t + n - path);
		for (i = auth_len; i > 0; i--) {
			if (auth[i - 1] == '@') {
				auth += i;
				auth_len -= i;
				break;
			}
		}
		/* "http://host" and "http://host?q" mean path "/" */
		if (!path_len || path[0] != '/')
			pre = "/";
	} else if (m->method == M_CONNECT) {
		auth = t;
		auth_len = n;
	}
	if (h->has_host)
		text_put(m, &m->domain, "", 0, h->host, h->host_len, H1_CAP_DOMAIN);
	else if (auth_len)
		text_put(m, &m->domain, "", 0, auth, auth_len, H1_CAP_DOMAIN);
	text_put(m, &m->resource, pre, strlen(pre), path, path_len, H1_CAP_RESOURCE);
	m->endpoint = m->resource;
	for (i = 0; i < m->resource.len; i++) {
		char ch = m->text[m->resource.off + i];

		if (ch == '?' || ch == '#') {
			m->endpoint.len = (uint16_t)i;
			break;
		}
	}
}

/* Start the direction's message from the header block at data[pos], hdr_len bytes. */
static void fill_msg(struct h1_run *r, size_t pos, size_t hdr_len, const struct h1_line *sl,
		     const struct h1_head *h, uint8_t method)
{
	const uint8_t *p = r->data + pos;
	struct h1_msg *m = &r->d->msg;

	memset(m, 0, offsetof(struct h1_msg, text));
	m->active = 1;
	m->kind = sl->kind;
	m->dir = (uint8_t)r->dir;
	m->method = method;
	m->start_ts = proto_ts_start_at(r->in, pos);
	m->end_ts = proto_ts_end_at(r->in, pos + hdr_len - 1);
	m->tcp_seq = proto_input_seq_at(r->in, pos);
	m->length = hdr_len;
	m->code = -1;
	if (h->conn_close)
		m->flags |= PROTO_MSG_F_CONN_CLOSE;
	text_put(m, &m->version, sl->minor ? "1.1" : "1.0", 3, NULL, 0, H1_CAP_VERSION);
	if (sl->kind == K_REQ) {
		m->h2c = h->upgrade_h2c;
		text_put(m, &m->method_str, h1_methods[method].word, h1_methods[method].len - 1u,
			 NULL, 0, H1_CAP_METHOD);
		put_target(m, p + sl->target_off, sl->target_len, h);
	} else {
		m->code = sl->code;
		m->status = status_of(sl->code);
		if (m->status != PROTO_STATUS_OK)
			text_put(m, &m->exception, "", 0, p + sl->reason_off, sl->reason_len,
				 H1_CAP_REASON);
	}
	if (h->has_xrid)
		text_put(m, &m->xrid, "", 0, h->xrid, h->xrid_len, H1_CAP_XRID);
	if (h->has_traceparent &&
	    trace_ctx_traceparent_ok((const char *)h->traceparent, h->traceparent_len)) {
		text_put(m, &m->trace, "", 0, h->traceparent + TRACE_CTX_TP_TRACE_OFF, H1_TRACE_LEN,
			 H1_TRACE_LEN);
		text_put(m, &m->span, "", 0, h->traceparent + TRACE_CTX_TP_SPAN_OFF, H1_SPAN_LEN,
			 H1_SPAN_LEN);
	}
}

/* The direction's message has ended: report it unless that was done already. */
static void finish(struct h1_run *r)
{
	struct h1_dir *d = r->d;

	if (!d->msg.emitted)
		emit_msg(&d->msg, r->emit, r->ctx, r->st);
	d->msg.active = 0;
	/* Bytes after CONNECT may be tunnel data sent before the answer: skip them quietly. */
	d->phase = d->msg.kind == K_REQ && d->msg.method == M_CONNECT ? PH_RESYNC : PH_START;
	d->skipping = 0;
}

/*
 * A message is starting in this direction. An unknown-length message in the other one must
 * have ended. And a request whose body is still arriving has been answered when this is the
 * response that empties the queue: report it now, so it precedes its response.
 */
static void other_starts(struct h1_run *r, bool answers_last)
{
	struct h1_dir *o = &r->c->dir[!r->dir];
	struct h1_msg *m = &o->msg;

	if (!m->active)
		return;
	/*
	 * A client cannot send its next request on a connection whose answer only a close
	 * would end; if it does, the server framed that answer by mistake.
	 */
	if (o->phase == PH_UNTIL_CLOSE)
		m->flags |= PROTO_MSG_F_LEN_GUESSED;
	if (o->phase == PH_UNKNOWN || o->phase == PH_UNTIL_CLOSE) {
		if (!m->emitted)
			emit_msg(m, r->emit, r->ctx, r->st);
		m->active = 0;
		o->phase = PH_RESYNC;
		o->skipping = 0;
		return;
	}
	if (!answers_last || m->emitted || m->kind != K_REQ)
		return;
	if (o->phase == PH_BODY_LEN) {
		m->length += o->remaining; /* framed: its length is known */
	} else if (o->phase >= PH_CHUNK_SIZE && o->phase <= PH_TRAILER) {
		m->flags |= PROTO_MSG_F_LEN_GUESSED;
	} else {
		return;
	}
	emit_msg(m, r->emit, r->ctx, r->st);
}

/* A response is (about to be) taken as the answer to the oldest request: its method, and
 * whether that request offered h2c. */
static uint8_t answer(struct h1_run *r, bool *answers_last, bool *h2c)
{
	bool queued = r->c->fifo_count > 0;
	uint8_t entry = fifo_pop(r->c);

	*answers_last = queued && r->c->fifo_count == 0;
	*h2c = entry & H1_FIFO_H2C;
	return entry & (uint8_t)~H1_FIFO_H2C;
}

static bool is_interim(const struct h1_line *sl)
{
	return sl->kind == K_RESP && sl->code >= 100 && sl->code < 200 && sl->code != 101;
}

static bool ends_http(const struct h1_line *sl, uint8_t method)
{
	return sl->code == 101 || (method == M_CONNECT && sl->code >= 200 && sl->code < 300);
}

/* A complete header block of hdr_len bytes at data[*pos]. */
static enum h1_step begin_message(struct h1_run *r, size_t *pos, size_t hdr_len,
				  const struct h1_line *sl)
{
	struct h1_dir *d = r->d;
	struct h1_head h;
	bool answers_last = false, h2c = false;
	uint8_t method;

	read_head(r->data + *pos, sl->len, hdr_len, &h);
	if (h.bad || (sl->kind == K_REQ && h.has_te && !h.te_chunked))
		return ST_ERR;
	set_roles(r, sl->kind);
	if (is_interim(sl)) {
		/* 100 Continue, 103 Early Hints: part of the exchange, not a message */
		*pos += hdr_len;
		return ST_CONT;
	}
	method = sl->kind == K_REQ ? sl->method : answer(r, &answers_last, &h2c);
	other_starts(r, answers_last);
	fill_msg(r, *pos, hdr_len, sl, &h, method);
	*pos += hdr_len;
	if (sl->kind == K_REQ) {
		fifo_push(r->c, (uint8_t)(method | (h.upgrade_h2c ? H1_FIFO_H2C : 0)));
	} else if (sl->code == 101 && h.upgrade_h2c) {
		/* The server took the h2c offer (or so its answer says, if we missed the
		 * request): HTTP/2 frames follow this header block at once. */
		d->msg.to_h2 = 1;
		finish(r);
		r->c->opaque = 1;
		r->c->switched = 1;
		return ST_CONT;
	} else if (ends_http(sl, method)) {
		finish(r);
		r->c->opaque = 1;
		return ST_CONT;
	} else if (method == M_HEAD || sl->code == 204 || sl->code == 304) {
		d->msg.h2c = h2c;
		finish(r);
		return ST_CONT;
	}
	/* A declined offer: this HTTP/1 answer is the request's (session id 1). */
	if (sl->kind == K_RESP)
		d->msg.h2c = h2c;
	if (h.has_te) {
		d->phase = h.te_chunked ? PH_CHUNK_SIZE : PH_UNTIL_CLOSE;
	} else if (h.has_cl && h.content_length) {
		d->remaining = h.content_length;
		d->phase = PH_BODY_LEN;
	} else if (sl->kind == K_RESP && !h.has_cl) {
		d->phase = PH_UNTIL_CLOSE;
	} else {
		finish(r);
	}
	return ST_CONT;
}

/* A header block cut by a gap: report what there is, the end is found later. */
static void begin_truncated(struct h1_run *r, size_t pos, const struct h1_line *sl,
			    size_t lines_end)
{
	struct h1_dir *d = r->d;
	struct h1_head h;
	bool answers_last = false, h2c = false;
	uint8_t method;

	r->st->truncated++;
	read_head(r->data + pos, sl->len, lines_end, &h);
	set_roles(r, sl->kind);
	if (is_interim(sl)) {
		d->phase = PH_RESYNC;
		return;
	}
	method = sl->kind == K_REQ ? sl->method : answer(r, &answers_last, &h2c);
	other_starts(r, answers_last);
	fill_msg(r, pos, r->len - pos, sl, &h, method);
	d->msg.length += r->in->gap;
	d->msg.end_ts = proto_ts_end_at(r->in, r->len);
	d->msg.flags |= PROTO_MSG_F_TRUNCATED | PROTO_MSG_F_LEN_GUESSED;
	if (sl->kind == K_RESP)
		d->msg.h2c = h2c;
	/*
	 * A 101 cut by the gap does not switch: the HTTP/2 frames after it are lost with the
	 * rest of its header, and HTTP/2 could not start in step there. It ends HTTP as any
	 * 101 does, and the request gets no answer.
	 */
	if (sl->kind == K_REQ) {
		fifo_push(r->c, (uint8_t)(method | (h.upgrade_h2c ? H1_FIFO_H2C : 0)));
	} else if (ends_http(sl, method)) {
		finish(r);
		r->c->opaque = 1;
		return;
	}
	d->phase = PH_UNKNOWN;
}

/* Body bytes data[from..to) belong to the direction's message. */
static void body_bytes(struct h1_run *r, size_t from, size_t to)
{
	if (to > from) {
		r->d->msg.length += to - from;
		r->d->msg.end_ts = proto_ts_end_at(r->in, to - 1);
	}
}

/* ---- phases --------------------------------------------------------------------- */

static enum h1_step step_start(struct h1_run *r, size_t *pos)
{
	size_t avail, lim, scan, end = 0;
	struct h1_line sl;
	const uint8_t *p;
	enum sl_result res;
	int rc;

	/* Stray line ends between messages are tolerated (RFC 9112 2.2). */
	if (*pos < r->len && (r->data[*pos] == '\r' || r->data[*pos] == '\n')) {
		while (*pos < r->len && (r->data[*pos] == '\r' || r->data[*pos] == '\n'))
			(*pos)++;
		r->saved_scan = 0;
	}
	if (*pos == r->len)
		return ST_MORE;
	p = r->data + *pos;
	avail = r->len - *pos;
	lim = avail < PROTO_HTTP1_MAX_HDR ? avail : PROTO_HTTP1_MAX_HDR;
	res = check_start_line(p, lim, want_kind(r), &sl);
	if (res == SL_INVALID)
		return ST_ERR;
	if (res == SL_PARTIAL)
		return avail >= PROTO_HTTP1_MAX_HDR ? ST_ERR : ST_MORE;
	scan = sl.len;
	if (*pos == 0 && r->saved_scan > sl.len && r->saved_scan <= lim)
		scan = r->saved_scan;
	r->saved_scan = 0;
	rc = scan_header(p, lim, sl.len, &scan, &end);
	if (rc < 0)
		return ST_ERR;
	if (rc == 0) {
		if (avail >= PROTO_HTTP1_MAX_HDR)
			return ST_ERR;
		r->d->hdr_scan = (uint32_t)scan;
		r->d->partial = 1;
		return ST_MORE;
	}
	return begin_message(r, pos, end, &sl);
}

static enum h1_step step_body_len(struct h1_run *r, size_t *pos, enum h1_phase next)
{
	struct h1_dir *d = r->d;
	uint64_t take = r->len - *pos;

	if (take > d->remaining)
		take = d->remaining;
	if (!take)
		return ST_MORE;
	body_bytes(r, *pos, *pos + (size_t)take);
	*pos += (size_t)take;
	d->remaining -= take;
	if (d->remaining)
		return ST_MORE;
	if (next == PH_START)
		finish(r);
	else
		d->phase = (uint8_t)next;
	return ST_CONT;
}

static enum h1_step step_chunk_size(struct h1_run *r, size_t *pos)
{
	size_t avail = r->len - *pos, lim, clen, next;
	uint64_t size;

	lim = avail < H1_CHUNK_LINE_MAX ? avail : H1_CHUNK_LINE_MAX;
	if (!next_line(r->data, *pos, *pos + lim, &clen, &next))
		return avail >= H1_CHUNK_LINE_MAX ? ST_ERR : ST_MORE;
	if (!parse_chunk_size(r->data + *pos, clen, &size))
		return ST_ERR;
	body_bytes(r, *pos, next);
	*pos = next;
	if (size) {
		r->d->remaining = size;
		r->d->phase = PH_CHUNK_DATA;
	} else {
		r->d->trailer_len = 0;
		r->d->phase = PH_TRAILER;
	}
	return ST_CONT;
}

static enum h1_step step_chunk_end(struct h1_run *r, size_t *pos)
{
	size_t n;

	if (*pos == r->len)
		return ST_MORE;
	if (r->data[*pos] == '\n') {
		n = 1;
	} else if (r->data[*pos] == '\r') {
		if (*pos + 1 == r->len)
			return ST_MORE;
		if (r->data[*pos + 1] != '\n')
			return ST_ERR;
		n = 2;
	} else {
		return ST_ERR;
	}
	body_bytes(r, *pos, *pos + n);
	*pos += n;
	r->d->phase = PH_CHUNK_SIZE;
	return ST_CONT;
}

static enum h1_step step_trailer(struct h1_run *r, size_t *pos)
{
	struct h1_dir *d = r->d;
	size_t avail = r->len - *pos, room, lim, clen, next;

	if (d->trailer_len >= PROTO_HTTP1_MAX_HDR)
		return ST_ERR;
	room = PROTO_HTTP1_MAX_HDR - d->trailer_len;
	lim = avail < room ? avail : room;
	if (!next_line(r->data, *pos, *pos + lim, &clen, &next))
		return avail >= room ? ST_ERR : ST_MORE;
	if (clen && !header_line_ok(r->data + *pos, clen, d->trailer_len == 0))
		return ST_ERR;
	body_bytes(r, *pos, next);
	d->trailer_len += (uint32_t)(next - *pos);
	*pos = next;
	if (!clen)
		finish(r);
	return ST_CONT;
}

/*
 * Look for a start line at each capture event boundary from `from` on. Returns the result at
 * the first boundary that is not INVALID (its offset in *at), or SL_INVALID if none is. With
 * stop_plausible, a boundary that began like HTTP but is not stops the search (*plausible).
 */
static enum sl_result find_boundary(struct h1_run *r, size_t from, int want, size_t *at,
				    bool *plausible, bool stop_plausible)
{
	const struct proto_input *in = r->in;
	enum sl_result res;
	struct h1_line sl;
	size_t i, b;

	*plausible = false;
	for (i = 0; in->segs && i < in->nsegs; i++) {
		b = in->segs[i].off;
		if (b < from || b >= r->len || !in->segs[i].len)
			continue;
		res = check_start_line(r->data + b, r->len - b, want, &sl);
		if (res == SL_PARTIAL && r->len - b >= PROTO_HTTP1_MAX_HDR)
			res = SL_INVALID;
		if (res == SL_INVALID && sl.plausible && stop_plausible) {
			*plausible = true;
			*at = b;
			return res;
		}
		if (res != SL_INVALID) {
			*at = b;
			return res;
		}
	}
	return SL_INVALID;
}

static enum h1_step step_resync(struct h1_run *r, size_t *pos)
{
	struct h1_dir *d = r->d;
	enum sl_result res;
	bool plausible;
	size_t b = r->len;

	res = find_boundary(r, *pos, want_kind(r), &b, &plausible, true);
	if (res == SL_INVALID && !plausible)
		b = r->len;
	if (b > *pos)
		mark_skip(r);
	*pos = b;
	if (res == SL_INVALID) {
		/* Looked like HTTP at a boundary, but is not: that is an error, not noise. */
		return plausible ? ST_ERR : ST_MORE;
	}
	if (res == SL_PARTIAL)
		return ST_MORE;
	/*
	 * Responses were lost while we skipped, so the requests queued before them will never
	 * be answered in view. Without pipelining the newest is the one still waiting.
	 */
	if (d->skipping && want_kind(r) == K_RESP && r->c->fifo_count > 1) {
		r->c->fifo_head = (uint8_t)((r->c->fifo_head + r->c->fifo_count - 1) % H1_FIFO_LEN);
		r->c->fifo_count = 1;
	}
	d->skipping = 0;
	d->phase = PH_START;
	return ST_CONT;
}

static enum h1_step step_unknown(struct h1_run *r, size_t *pos)
{
	enum sl_result res;
	bool plausible;
	size_t b = r->len;

	/* A body is not a place for errors: only a valid start line of our kind ends it. */
	res = find_boundary(r, *pos, r->d->msg.kind, &b, &plausible, false);
	if (res == SL_INVALID)
		b = r->len;
	body_bytes(r, *pos, b);
	*pos = b;
	if (res != SL_VALID)
		return ST_MORE;
	/* Only a close ends an until-close body properly; a new message means a bad frame. */
	if (r->d->phase == PH_UNTIL_CLOSE)
		r->d->msg.flags |= PROTO_MSG_F_LEN_GUESSED;
	finish(r);
	return ST_CONT;
}

/* The input ended with a gap: everything must be consumed, the gap accounted for. */
static void apply_gap(struct h1_run *r, size_t pos)
{
	struct h1_dir *d = r->d;
	struct h1_msg *m = &d->msg;
	uint64_t gap = r->in->gap, over;
	uint64_t last_ts = proto_ts_end_at(r->in, r->len);
	struct h1_line sl;
	size_t lines_end;

	switch (d->phase) {
	case PH_START:
		if (pos < r->len &&
		    check_start_line(r->data + pos, r->len - pos, want_kind(r), &sl) == SL_VALID) {
			lines_end = d->hdr_scan >= sl.len ? d->hdr_scan : sl.len;
			begin_truncated(r, pos, &sl, lines_end);
			break;
		}
		/* A start line cut short, or a whole message start lost in the gap. */
		if (pos < r->len)
			r->st->truncated++;
		d->phase = PH_RESYNC;
		mark_skip(r);
		break;
	case PH_RESYNC: mark_skip(r); break;
	case PH_BODY_LEN:
		m->end_ts = last_ts;
		if (gap < d->remaining) {
			d->remaining -= gap;
			m->length += gap;
			break;
		}
		/* It ended inside the gap; what follows there is the next message, unseen. */
		over = gap - d->remaining;
		m->length += d->remaining;
		d->remaining = 0;
		finish(r);
		if (over) {
			d->phase = PH_RESYNC;
			mark_skip(r);
		}
		break;
	case PH_CHUNK_SIZE:
	case PH_CHUNK_DATA:
	case PH_CHUNK_END:
	case PH_TRAILER:
		/* Chunk framing is lost with the bytes. */
		m->flags |= PROTO_MSG_F_LEN_GUESSED;
		d->phase = PH_UNKNOWN;
		/* fall through */
	case PH_UNKNOWN:
	case PH_UNTIL_CLOSE:
		m->length += (r->len - pos) + gap;
		m->end_ts = last_ts;
		break;
	}
	d->hdr_scan = 0;
	d->partial = 0;
}

static int http1_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		       struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct h1_conn *c = state;
	struct h1_run r;
	enum h1_step step = ST_MORE;
	size_t pos = 0;

	stats = proto_parse_begin(c, in, stats, &scratch);
	if (!stats)
		return PROTO_ERROR;
	if (c->opaque)
		return (int)in->len;

	memset(&r, 0, sizeof(r));
	r.c = c;
	r.dir = in->dir == PROTO_DIR_INGRESS;
	r.d = &c->dir[r.dir];
	r.in = in;
	r.data = in->data;
	r.len = in->len;
	r.emit = emit;
	r.ctx = ctx;
	r.st = stats;
	r.saved_scan = r.d->hdr_scan;
	r.d->hdr_scan = 0;
	r.d->partial = 0;

	while (!c->opaque) {
		switch (r.d->phase) {
		case PH_START: step = step_start(&r, &pos); break;
		case PH_BODY_LEN: step = step_body_len(&r, &pos, PH_START); break;
		case PH_CHUNK_SIZE: step = step_chunk_size(&r, &pos); break;
		case PH_CHUNK_DATA: step = step_body_len(&r, &pos, PH_CHUNK_END); break;
		case PH_CHUNK_END: step = step_chunk_end(&r, &pos); break;
		case PH_TRAILER: step = step_trailer(&r, &pos); break;
		case PH_UNTIL_CLOSE:
		case PH_UNKNOWN: step = step_unknown(&r, &pos); break;
		case PH_RESYNC:
		default: step = step_resync(&r, &pos); break;
		}
		if (step == ST_ERR) {
			reset_dir(r.d);
			stats->parse_errors++;
			return PROTO_ERROR;
		}
		if (step == ST_MORE)
			break;
	}
	if (c->switched)
		return (int)pos; /* the rest is HTTP/2's (proto.h: next_proto) */
	if (c->opaque)
		return (int)in->len;
	if (in->gap) {
		apply_gap(&r, pos);
		return (int)in->len;
	}
	return (int)pos;
}

static void http1_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			   struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct h1_conn *c = state;
	struct h1_msg *m;
	int first, i, k;

	if (!c)
		return;
	stats = proto_stats_or_scratch(stats, &scratch);
	/* Report the older of two pending messages first. */
	first = c->dir[1].msg.start_ts < c->dir[0].msg.start_ts;
	for (k = 0; k < 2 && !c->opaque; k++) {
		i = k ? !first : first;
		m = &c->dir[i].msg;
		if (m->active && !m->emitted) {
			/* A framed body cut short by the close did not end where it said. */
			if (c->dir[i].phase != PH_UNTIL_CLOSE && c->dir[i].phase != PH_UNKNOWN)
				m->flags |= PROTO_MSG_F_LEN_GUESSED;
			/*
			 * end_ts stays the time of its last byte seen: callers also close
			 * connections on idle eviction, long after the message ended, so ts
			 * serves only when no byte time was recorded.
			 */
			if (!m->end_ts)
				m->end_ts = ts;
			emit_msg(m, emit, ctx, stats);
		}
		/* A header that never completed: seen, but not reportable. */
		if (c->dir[i].partial)
			stats->truncated++;
	}
	reset_dir(&c->dir[0]);
	reset_dir(&c->dir[1]);
	memset(c->fifo, 0, sizeof(c->fifo));
	c->fifo_head = c->fifo_count = 0;
	c->req_dir = 0;
	c->opaque = 0;
	c->switched = 0;
}

static enum proto_detect http1_detect(const uint8_t *data, size_t len, enum proto_dir dir,
				      const struct proto_ctx *ctx)
{
	struct h1_line sl;
	enum sl_result res;

	(void)dir;
	(void)ctx;
	if (!data || !len)
		return PROTO_DETECT_NO;
	res = check_start_line(data, len < H1_DETECT_SCAN ? len : H1_DETECT_SCAN, K_ANY, &sl);
	if (res == SL_VALID || (res == SL_PARTIAL && sl.plausible))
		return PROTO_DETECT_YES;
	return res == SL_PARTIAL ? PROTO_DETECT_MAYBE : PROTO_DETECT_NO;
}

static void http1_reset(void *state, enum proto_dir dir)
{
	struct h1_conn *c = state;

	if (c && (dir == PROTO_DIR_EGRESS || dir == PROTO_DIR_INGRESS))
		reset_dir(&c->dir[dir == PROTO_DIR_INGRESS]);
}

const struct proto_ops proto_http1_ops = {
	.name = "HTTP",
	.id = PROTO_HTTP1,
	.state_size = sizeof(struct h1_conn),
	.detect = http1_detect,
	.parse = http1_parse,
	.on_close = http1_on_close,
	.reset = http1_reset,
	.release = NULL,
};
