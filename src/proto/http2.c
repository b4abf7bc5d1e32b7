/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 (RFC 9113) and gRPC over it: one parser, one state per connection.
 *
 * Each direction is a frame machine: the connection preface (prior knowledge), then
 * frames of 9-byte headers and payloads. Payloads are consumed as they arrive: DATA is
 * only counted, header block fragments (HEADERS, CONTINUATION, PUSH_PROMISE, padding
 * stripped) are appended to a bounded per-direction block buffer and decoded when the
 * block ends; control frames (SETTINGS, PING, GOAWAY, WINDOW_UPDATE, PRIORITY,
 * RST_STREAM) are read whole when small and skipped otherwise.
 *
 * HPACK (RFC 7541): each direction has its own dynamic table, kept here, bounded in bytes
 * and entries. A connection seen from its start (the client's preface, the server's first
 * SETTINGS) decodes exactly. One joined mid-stream does not know the entries inserted
 * before it was seen: an index beyond what is known decodes as "unknown" (the field is
 * left out, the message still reported), and the table fills again as new literals are
 * inserted, so decoding recovers. Entries are evicted at least as early as the encoder
 * evicts them (an entry whose name is unknown is charged a generous name length), so a
 * known index always means what the encoder meant. Huffman-coded strings are decoded by
 * nghttp2's HPACK inflater (a scratch one per connection, fed each string as a literal
 * that is not indexed, so its own table never changes).
 *
 * Streams: up to H2_MAX_STREAMS per connection. The request of a stream is reported when
 * its side ends the stream (END_STREAM), or before its response when that comes first;
 * the response when the server ends the stream (gRPC: the trailers with grpc-status).
 * RST_STREAM, the close, or a full stream table end a stream with what it has. Pairing is
 * by session_id = stream id; request_id = stream id. A stream whose headers carry
 * content-type application/grpc is reported as gRPC (proto_override).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "proto/proto.h"
#include "proto/proto_util.h"
#include "proto/trace_ctx.h"

#define H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24
#define H2_FRAME_HDR   9
/* A frame longer than this is not traffic we follow (SETTINGS_MAX_FRAME_SIZE is at most
 * 2^24-1; real peers stay far below). */
#define H2_FRAME_MAX (1u << 24)
/* Control frames at most this long are read whole; longer ones are skipped. */
#define H2_CTRL_MAX 512

#define H2_MAX_STREAMS 32
#define H2_HB_MAX      8192 /* header block bytes kept per direction */
#define H2_TBL_MAX     8192 /* dynamic table size (RFC accounting) we follow at most */
#define H2_TBL_ENTRIES (H2_TBL_MAX / 32)
#define H2_NAME_MAX    128  /* bytes of a name kept (longer names are none we use) */
#define H2_VALUE_MAX   1024 /* bytes of a value kept */
/* Size charged for an entry whose name is unknown: more than real names, so our table
 * evicts no later than the encoder's. */
#define H2_UNKNOWN_NAME_LEN 128

#define CAP_METHOD 16
#define CAP_AUTH   128
#define CAP_PATH   256
#define CAP_XRID   64
#define CAP_TRACE  32
#define CAP_SPAN   16
#define CAP_GMSG   128
#define CAP_EXC	   48

enum h2_type {
	T_DATA = 0,
	T_HEADERS = 1,
	T_PRIORITY = 2,
	T_RST_STREAM = 3,
	T_SETTINGS = 4,
	T_PUSH_PROMISE = 5,
	T_PING = 6,
	T_GOAWAY = 7,
	T_WINDOW_UPDATE = 8,
	T_CONTINUATION = 9,
};

#define F_END_STREAM  0x01
#define F_ACK	      0x01
#define F_END_HEADERS 0x04
#define F_PADDED      0x08
#define F_PRIORITY    0x20

enum h2_phase {
	PH_START = 0, /* zero-filled: a direction's first bytes (preface or a frame) */
	PH_HDR,	      /* at a frame header */
	PH_PREFIX,    /* pad length / priority / promised id of the current frame */
	PH_PAYLOAD,   /* the current frame's payload */
	PH_PAD,	      /* the current frame's padding */
	PH_RESYNC,    /* lost: skip to the next capture event and look for a frame there */
};

/* One dynamic table entry; its bytes live in h2_hpack.buf (oldest first). */
struct h2_ent {
	uint16_t off;
	uint8_t nlen; /* stored name bytes */
	uint8_t name_unknown;
	uint16_t vlen; /* stored value bytes */
	uint16_t size; /* RFC size: 32 + real name and value lengths */
};

struct h2_hpack {
	struct h2_ent ent[H2_TBL_ENTRIES];
	uint32_t count; /* entries, ent[0] the oldest */
	uint32_t size;	/* RFC size of all entries */
	uint32_t max;	/* current maximum (size updates), capped at H2_TBL_MAX */
	uint32_t used;	/* bytes of buf used */
	char buf[H2_TBL_MAX];
};

/* What a direction allocates once it sees a header block. */
struct h2_dyn {
	struct h2_hpack tbl;
	uint8_t hb[H2_HB_MAX];
	char val[H2_VALUE_MAX]; /* a decoded Huffman value */
	char name[H2_NAME_MAX]; /* a decoded Huffman name */
};

struct h2_dir {
	uint8_t phase;
	uint8_t ftype, fflags;
	uint8_t synced;	   /* the HPACK table is known from its start */
	uint8_t join_seen; /* an unknown index was met (counted once) */
	uint8_t in_block;  /* a header block waits for CONTINUATION */
	uint8_t hb_over;   /* the block did not fit in hb */
	uint8_t hb_type;   /* HEADERS or PUSH_PROMISE */
	uint8_t hb_flags;
	uint8_t prefix_len, prefix_got;
	uint8_t prefix[6];
	uint8_t pad;
	uint32_t fstream;
	uint32_t flen;
	uint32_t remaining; /* payload bytes left (padding excluded) */
	uint32_t hb_stream;
	uint32_t hb_len;
	uint64_t hb_wire; /* bytes of the block's frames */
	uint64_t fr_ts;	  /* first byte of the current frame */
	uint32_t fr_seq;  /* its TCP sequence */
	uint8_t ctrl[H2_CTRL_MAX];
	uint32_t ctrl_len;
	struct h2_dyn *dyn;
};

struct h2_half {
	uint8_t started, ended, emitted, truncated;
	uint64_t start_ts, end_ts, length;
	uint32_t seq;
};

struct h2_stream {
	uint32_t id;
	uint8_t used;
	uint8_t ignore;	 /* pushed: not followed */
	uint8_t req_dir; /* direction the request came from */
	uint8_t grpc;
	uint64_t age;
	struct h2_half req, resp;
	int32_t status;	     /* :status of the final response headers, -1 */
	int32_t grpc_status; /* -1 */
	uint8_t method_len, auth_len, xrid0_len, xrid1_len, trace_len, span_len, gmsg_len;
	uint8_t exc_len;
	uint16_t path_len;
	char method[CAP_METHOD];
	char auth[CAP_AUTH];
	char path[CAP_PATH];
	char xrid0[CAP_XRID], xrid1[CAP_XRID];
	char trace[CAP_TRACE], span[CAP_SPAN];
	char gmsg[CAP_GMSG];
	char exc[CAP_EXC];
};

struct h2_conn {
	struct h2_dir dir[2];
	int8_t client_dir; /* -1 unknown, else enum proto_dir of the client's bytes */
	uint8_t init;
	uint64_t age;
	nghttp2_hd_inflater *huff; /* scratch inflater for Huffman strings */
	struct h2_stream streams[H2_MAX_STREAMS];
};

/* One parse() call's context. */
struct h2_run {
	struct h2_conn *c;
	struct h2_dir *d;
	const struct proto_input *in;
	enum proto_dir dir;
	proto_emit_fn emit;
	void *ctx;
	struct proto_stats *st;
};

/* RFC 7541 Appendix A. */
static const struct {
	const char *name, *value;
} h2_static[62] = {
	{ "", "" },
	{ ":authority", "" },
	{ ":method", "GET" },
	{ ":method", "POST" },
	{ ":path", "/" },
	{ ":path", "/index.html" },
	{ ":scheme", "http" },
	{ ":scheme", "https" },
	{ ":status", "200" },
	{ ":status", "204" },
	{ ":status", "206" },
	{ ":status", "304" },
	{ ":status", "400" },
	{ ":status", "404" },
	{ ":status", "500" },
	{ "accept-charset", "" },
	{ "accept-encoding", "gzip, deflate" },
	{ "accept-language", "" },
	{ "accept-ranges", "" },
	{ "accept", "" },
	{ "access-control-allow-origin", "" },
	{ "age", "" },
	{ "allow", "" },
	{ "authorization", "" },
	{ "cache-control", "" },
	{ "content-disposition", "" },
	{ "content-encoding", "" },
	{ "content-language", "" },
	{ "content-length", "" },
	{ "content-location", "" },
	{ "content-range", "" },
	{ "content-type", "" },
	{ "cookie", "" },
	{ "date", "" },
	{ "etag", "" },
	{ "expect", "" },
	{ "expires", "" },
	{ "from", "" },
	{ "host", "" },
	{ "if-match", "" },
	{ "if-modified-since", "" },
	{ "if-none-match", "" },
	{ "if-range", "" },
	{ "if-unmodified-since", "" },
	{ "last-modified", "" },
	{ "link", "" },
	{ "location", "" },
	{ "max-forwards", "" },
	{ "proxy-authenticate", "" },
	{ "proxy-authorization", "" },
	{ "range", "" },
	{ "referer", "" },
	{ "refresh", "" },
	{ "retry-after", "" },
	{ "server", "" },
	{ "set-cookie", "" },
	{ "strict-transport-security", "" },
	{ "transfer-encoding", "" },
	{ "user-agent", "" },
	{ "vary", "" },
	{ "via", "" },
	{ "www-authenticate", "" },
};
#define H2_STATIC_COUNT 61

/* ---- frames ---- */

struct h2_fh {
	uint32_t len;
	uint8_t type, flags;
	uint32_t stream;
};

static void fh_read(const uint8_t *p, struct h2_fh *f)
{
	f->len = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	f->type = p[3];
	f->flags = p[4];
	f->stream = ((uint32_t)p[5] << 24 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 8 | p[8]) &
		    0x7fffffffu;
}

/* Is this a frame header a peer could send? strict: also as detection would want it. */
static bool fh_valid(const struct h2_fh *f, bool strict)
{
	if (f->len >= H2_FRAME_MAX)
		return false;
	switch (f->type) {
	case T_DATA: return f->stream && (!strict || !(f->flags & ~(F_END_STREAM | F_PADDED)));
	case T_HEADERS:
		return f->stream &&
		       (!strict ||
			!(f->flags & ~(F_END_STREAM | F_END_HEADERS | F_PADDED | F_PRIORITY)));
	case T_PRIORITY: return f->stream && f->len == 5;
	case T_RST_STREAM: return f->stream && f->len == 4;
	case T_SETTINGS:
		return !f->stream && f->len % 6 == 0 && (!(f->flags & F_ACK) || !f->len) &&
		       (!strict || !(f->flags & ~F_ACK));
	case T_PUSH_PROMISE: return f->stream && f->len >= 4;
	case T_PING: return !f->stream && f->len == 8 && (!strict || !(f->flags & ~F_ACK));
	case T_GOAWAY: return !f->stream && f->len >= 8 && (!strict || !f->flags);
	case T_WINDOW_UPDATE: return f->len == 4 && (!strict || !f->flags);
	case T_CONTINUATION: return f->stream && (!strict || !(f->flags & ~F_END_HEADERS));
	}
	return false;
}

static enum proto_detect http2_detect(const uint8_t *data, size_t len, enum proto_dir dir,
				      const struct proto_ctx *ctx)
{
	size_t pos = 0, frames = 0;
	struct h2_fh f;
	bool headers = false;

	(void)dir;
	if (ctx && ctx->l4_proto == 17)
		return PROTO_DETECT_NO;
	if (len >= 16 && memcmp(data, H2_PREFACE, len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN) == 0)
		return PROTO_DETECT_YES;
	/* Joined mid-stream: the event must be a chain of well-formed frames. */
	while (pos + H2_FRAME_HDR <= len) {
		fh_read(data + pos, &f);
		if (!fh_valid(&f, true))
			return PROTO_DETECT_NO;
		if (f.type == T_HEADERS || f.type == T_CONTINUATION)
			headers = true;
		pos += H2_FRAME_HDR + f.len;
		frames++;
		if (frames >= 64)
			break;
	}
	if (!frames ||
	    (pos < len && frames < 64 && pos + H2_FRAME_HDR > len && len - pos < H2_FRAME_HDR))
		return PROTO_DETECT_NO;
	if (frames >= 2 && (pos >= len))
		return PROTO_DETECT_YES;
	if (frames == 1 && pos == len && (headers || f.type == T_SETTINGS))
		return PROTO_DETECT_MAYBE;
	/* A chain whose last frame continues in later events. */
	if (frames >= 2 && headers)
		return PROTO_DETECT_MAYBE;
	return PROTO_DETECT_NO;
}

/* ---- small helpers ---- */

static bool eq(const char *a, size_t n, const char *lit)
{
	size_t k = strlen(lit);

	return n == k && memcmp(a, lit, k) == 0;
}

static bool prefix_is(const char *a, size_t n, const char *lit)
{
	size_t k = strlen(lit);

	return n >= k && memcmp(a, lit, k) == 0;
}

#define PUT(st, field, p, n)                                                                       \
	do {                                                                                       \
		size_t k_ = (n) < sizeof((st)->field) ? (n) : sizeof((st)->field);                 \
		memcpy((st)->field, (p), k_);                                                      \
		(st)->field##_len = (__typeof__((st)->field##_len))k_;                             \
	} while (0)

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- streams ---- */

static struct h2_stream *stream_find(struct h2_conn *c, uint32_t id)
{
	for (size_t i = 0; i < H2_MAX_STREAMS; i++) {
		if (c->streams[i].used && c->streams[i].id == id)
			return &c->streams[i];
	}
	return NULL;
}

static uint8_t status_of_http(int32_t code)
{
	if (code >= 100 && code < 400)
		return PROTO_STATUS_OK;
	if (code >= 400 && code < 500)
		return PROTO_STATUS_CLIENT_ERROR;
	if (code >= 500 && code < 600)
		return PROTO_STATUS_SERVER_ERROR;
	return PROTO_STATUS_UNKNOWN;
}

/* gRPC status codes the caller is to blame for (bad arguments, missing things, no
 * permission), as opposed to the server failing. */
static uint8_t status_of_grpc(int32_t code)
{
	switch (code) {
	case 0: return PROTO_STATUS_OK;
	case 1:	 /* CANCELLED */
	case 3:	 /* INVALID_ARGUMENT */
	case 5:	 /* NOT_FOUND */
	case 6:	 /* ALREADY_EXISTS */
	case 7:	 /* PERMISSION_DENIED */
	case 9:	 /* FAILED_PRECONDITION */
	case 11: /* OUT_OF_RANGE */
	case 16: /* UNAUTHENTICATED */ return PROTO_STATUS_CLIENT_ERROR;
	}
	return PROTO_STATUS_SERVER_ERROR;
}

static struct proto_str sv(const char *p, size_t n)
{
	return (struct proto_str){ .ptr = n ? p : NULL, .len = (uint32_t)n };
}

static void emit_request(struct h2_run *r, struct h2_stream *s)
{
	struct proto_msg m;
	size_t i;

	if (!s->req.started || s->req.emitted)
		return;
	s->req.emitted = 1;
	memset(&m, 0, sizeof(m));
	m.kind = PROTO_MSG_REQUEST;
	m.dir = (enum proto_dir)s->req_dir;
	m.flags = s->req.truncated ? PROTO_MSG_F_TRUNCATED : 0;
	m.start_ts = s->req.start_ts;
	m.end_ts = s->req.end_ts;
	m.tcp_seq = s->req.seq;
	m.length = s->req.length;
	m.version = sv("2", 1);
	m.code = -1;
	m.domain = sv(s->auth, s->auth_len);
	m.has_request_id = m.has_session_id = true;
	m.request_id = m.session_id = s->id;
	m.x_request_id = sv(s->xrid0, s->xrid0_len);
	m.trace_id = sv(s->trace, s->trace_len);
	m.span_id = sv(s->span, s->span_len);
	if (s->grpc) {
		const char *p = s->path;
		size_t n = s->path_len, slash = 0, second = 0;

		m.proto_override = PROTO_GRPC;
		m.method = sv("POST", 4);
		m.endpoint = sv(s->path, s->path_len);
		/* "/pkg.Service/Method": the service is between the two slashes. */
		for (i = 0; i < n; i++) {
			if (p[i] == '/') {
				slash++;
				if (slash == 2)
					second = i;
			}
		}
		if (n && p[0] == '/' && slash == 2 && second > 1)
			m.resource = sv(p + 1, second - 1);
	} else {
		m.method = sv(s->method, s->method_len);
		m.resource = sv(s->path, s->path_len);
		m.endpoint = m.resource;
		for (i = 0; i < s->path_len; i++) {
			if (s->path[i] == '?' || s->path[i] == '#') {
				m.endpoint.len = (uint32_t)i;
				break;
			}
		}
		if (!m.endpoint.len)
			m.endpoint.ptr = NULL;
	}
	r->st->messages++;
	r->emit(r->ctx, &m);
}

static void emit_response(struct h2_run *r, struct h2_stream *s)
{
	struct proto_msg m;

	if (!s->resp.started || s->resp.emitted)
		return;
	emit_request(r, s);
	s->resp.emitted = 1;
	memset(&m, 0, sizeof(m));
	m.kind = PROTO_MSG_RESPONSE;
	m.dir = (enum proto_dir)(s->req_dir ^ 1);
	m.flags = s->resp.truncated ? PROTO_MSG_F_TRUNCATED : 0;
	m.start_ts = s->resp.start_ts;
	m.end_ts = s->resp.end_ts;
	m.tcp_seq = s->resp.seq;
	m.length = s->resp.length;
	m.version = sv("2", 1);
	m.has_request_id = m.has_session_id = true;
	m.request_id = m.session_id = s->id;
	m.x_request_id = sv(s->xrid1, s->xrid1_len);
	m.code = -1;
	m.status = PROTO_STATUS_UNKNOWN;
	if (s->grpc) {
		m.proto_override = PROTO_GRPC;
		if (s->grpc_status >= 0) {
			m.code = s->grpc_status;
			m.status = status_of_grpc(s->grpc_status);
		} else if (s->status >= 0) {
			m.code = s->status;
			m.status = status_of_http(s->status);
		}
		if (m.status != PROTO_STATUS_OK)
			m.exception = sv(s->gmsg, s->gmsg_len);
	} else if (s->status >= 0) {
		m.code = s->status;
		m.status = status_of_http(s->status);
	}
	if (s->exc_len && !m.exception.len) {
		m.exception = sv(s->exc, s->exc_len);
		if (m.status == PROTO_STATUS_OK || m.status == PROTO_STATUS_UNKNOWN)
			m.status = PROTO_STATUS_SERVER_ERROR;
	}
	r->st->messages++;
	r->emit(r->ctx, &m);
}

/* The stream is over (both ends, a reset, the close, or its slot is needed). */
static void stream_finish(struct h2_run *r, struct h2_stream *s)
{
	if (!s->ignore) {
		emit_request(r, s);
		emit_response(r, s);
	}
	memset(s, 0, sizeof(*s));
}

static struct h2_stream *stream_new(struct h2_run *r, uint32_t id)
{
	struct h2_conn *c = r->c;
	struct h2_stream *s = NULL, *old = NULL;

	for (size_t i = 0; i < H2_MAX_STREAMS; i++) {
		if (!c->streams[i].used) {
			s = &c->streams[i];
			break;
		}
		if (!old || c->streams[i].age < old->age)
			old = &c->streams[i];
	}
	if (!s) {
		/* More streams open than we follow: the oldest ends with what it has. */
		r->st->truncated++;
		stream_finish(r, old);
		s = old;
	}
	memset(s, 0, sizeof(*s));
	s->used = 1;
	s->id = id;
	s->age = ++c->age;
	s->status = -1;
	s->grpc_status = -1;
	return s;
}

/* ---- HPACK ---- */

static void tbl_evict_one(struct h2_hpack *t)
{
	struct h2_ent *e = &t->ent[0];
	uint32_t bytes = e->nlen + e->vlen;

	t->size -= e->size;
	memmove(t->buf, t->buf + bytes, t->used - bytes);
	t->used -= bytes;
	memmove(&t->ent[0], &t->ent[1], (t->count - 1) * sizeof(t->ent[0]));
	t->count--;
	for (uint32_t i = 0; i < t->count; i++)
		t->ent[i].off = (uint16_t)(t->ent[i].off - bytes);
}

static void tbl_fit(struct h2_hpack *t, uint32_t extra)
{
	while (t->count && t->size + extra > t->max)
		tbl_evict_one(t);
}

static void tbl_set_max(struct h2_hpack *t, uint64_t max)
{
	t->max = max > H2_TBL_MAX ? H2_TBL_MAX : (uint32_t)max;
	tbl_fit(t, 0);
}

static void tbl_clear(struct h2_hpack *t)
{
	t->count = t->size = t->used = 0;
}

/* Insert (name known or not). real_n/real_v are the lengths on the wire after decoding. */
static void tbl_add(struct h2_hpack *t, const char *n, size_t nlen, size_t real_n, bool n_unknown,
		    const char *v, size_t vlen, size_t real_v)
{
	uint64_t size = 32 + (n_unknown ? H2_UNKNOWN_NAME_LEN : real_n) + real_v;
	struct h2_ent *e;

	if (nlen > 255)
		nlen = 255;
	if (size > t->max) {
		/* RFC 7541 4.4: an entry larger than the table empties it. */
		tbl_clear(t);
		return;
	}
	tbl_fit(t, (uint32_t)size);
	if (t->count == H2_TBL_ENTRIES)
		tbl_evict_one(t);
	/* Stored bytes never exceed the RFC sizes, which fit in max <= H2_TBL_MAX. */
	e = &t->ent[t->count++];
	e->off = (uint16_t)t->used;
	e->nlen = (uint8_t)nlen;
	e->name_unknown = n_unknown;
	e->vlen = (uint16_t)vlen;
	e->size = (uint16_t)size;
	if (nlen)
		memcpy(t->buf + t->used, n, nlen);
	t->used += (uint32_t)nlen;
	if (vlen)
		memcpy(t->buf + t->used, v, vlen);
	t->used += (uint32_t)vlen;
	t->size += (uint32_t)size;
}

/* HPACK integer with an N-bit prefix. Returns bytes used, 0 if incomplete or too big. */
static size_t hp_int(const uint8_t *p, size_t n, unsigned int bits, uint64_t *out)
{
	uint64_t max = (1u << bits) - 1, v;
	unsigned int shift = 0;
	size_t i = 1;

	if (!n)
		return 0;
	v = p[0] & max;
	if (v < max) {
		*out = v;
		return 1;
	}
	for (; i < n; i++) {
		v += (uint64_t)(p[i] & 0x7f) << shift;
		shift += 7;
		if (!(p[i] & 0x80)) {
			*out = v;
			return i + 1;
		}
		if (shift > 28)
			return 0;
	}
	return 0;
}

/* A decoded string: a view, and its length on the wire after decoding (may exceed the
 * view when it was cut to what we keep). ok false: not decodable. */
struct hp_str {
	const char *p;
	size_t len, real;
	bool ok;
};

/* Huffman: nghttp2's inflater decodes the string as the value of an unindexed literal. */
static bool huff_decode(struct h2_conn *c, const uint8_t *raw, size_t rawlen, char *out, size_t cap,
			struct hp_str *s)
{
	uint8_t synth[3 + 5 + H2_HB_MAX];
	nghttp2_nv nv;
	int flags = 0;
	size_t off = 0;
	bool got = false;

	if (rawlen > sizeof(synth) - 3)
		return false;
	if (!c->huff && nghttp2_hd_inflate_new(&c->huff) != 0) {
		c->huff = NULL;
		return false;
	}
	synth[0] = 0x00; /* literal without indexing, new name */
	synth[1] = 0x01;
	synth[2] = 'x';
	memcpy(synth + 3, raw, rawlen);
	for (;;) {
		ssize_t rv = nghttp2_hd_inflate_hd2(c->huff, &nv, &flags, synth + off,
						    3 + rawlen - off, 1);

		if (rv < 0) {
			nghttp2_hd_inflate_del(c->huff);
			c->huff = NULL;
			return false;
		}
		off += (size_t)rv;
		if (flags & NGHTTP2_HD_INFLATE_EMIT) {
			size_t k = nv.valuelen < cap ? nv.valuelen : cap;

			memcpy(out, nv.value, k);
			s->p = out;
			s->len = k;
			s->real = nv.valuelen;
			got = true;
		}
		if (flags & NGHTTP2_HD_INFLATE_FINAL)
			break;
		if (rv == 0 && !(flags & NGHTTP2_HD_INFLATE_EMIT))
			break;
	}
	nghttp2_hd_inflate_end_headers(c->huff);
	return got;
}

/* Read a string literal at p. Returns bytes used, 0 when it is cut or bad. */
static size_t hp_string(struct h2_conn *c, const uint8_t *p, size_t n, char *out, size_t cap,
			struct hp_str *s)
{
	uint64_t len;
	size_t k = hp_int(p, n, 7, &len);

	memset(s, 0, sizeof(*s));
	if (!k || len > n - k)
		return 0;
	if (p[0] & 0x80) {
		s->ok = huff_decode(c, p, k + (size_t)len, out, cap, s);
	} else {
		s->p = (const char *)p + k;
		s->real = (size_t)len;
		s->len = s->real < cap ? s->real : cap;
		s->ok = true;
	}
	return k + (size_t)len;
}

/* The headers of one block, as they matter to a message. */
struct h2_fields {
	bool has_method, has_status, has_path;
	bool unknown; /* some field could not be decoded */
};

static bool block_is_request(struct h2_run *r, struct h2_stream *s, const struct h2_fields *f)
{
	if (f->has_method || f->has_path)
		return true;
	if (f->has_status)
		return false;
	if (s && s->req.started)
		return r->dir == s->req_dir;
	if (r->c->client_dir >= 0)
		return r->dir == (enum proto_dir)r->c->client_dir;
	if (r->in->ctx && r->in->ctx->role == PROTO_ROLE_CLIENT)
		return r->dir == PROTO_DIR_EGRESS;
	if (r->in->ctx && r->in->ctx->role == PROTO_ROLE_SERVER)
		return r->dir == PROTO_DIR_INGRESS;
	return true;
}

/* One decoded header field, for a stream (NULL: decode only, for the table). */
static void on_field(struct h2_stream *s, bool req, const char *n, size_t nl, const char *v,
		     size_t vl, struct h2_fields *f)
{
	if (nl && n[0] == ':') {
		if (eq(n, nl, ":method")) {
			f->has_method = true;
			if (s)
				PUT(s, method, v, vl);
		} else if (eq(n, nl, ":path")) {
			f->has_path = true;
			if (s)
				PUT(s, path, v, vl);
		} else if (eq(n, nl, ":authority")) {
			if (s)
				PUT(s, auth, v, vl);
		} else if (eq(n, nl, ":status")) {
			int32_t code = 0;

			f->has_status = true;
			if (vl != 3)
				return;
			for (size_t i = 0; i < 3; i++) {
				if (v[i] < '0' || v[i] > '9')
					return;
				code = code * 10 + (v[i] - '0');
			}
			if (s && code >= 200)
				s->status = code;
			else if (s && code >= 100 && s->status < 0)
				s->status = -100 - code; /* informational: not final */
		}
		return;
	}
	if (!s)
		return;
	if (eq(n, nl, "host")) {
		if (!s->auth_len)
			PUT(s, auth, v, vl);
	} else if (eq(n, nl, "content-type")) {
		if (prefix_is(v, vl, "application/grpc"))
			s->grpc = 1;
	} else if (eq(n, nl, "grpc-status")) {
		int32_t code = 0;

		if (!vl || vl > 3)
			return;
		for (size_t i = 0; i < vl; i++) {
			if (v[i] < '0' || v[i] > '9')
				return;
			code = code * 10 + (v[i] - '0');
		}
		s->grpc_status = code;
	} else if (eq(n, nl, "grpc-message")) {
		/* percent-encoded on the wire (gRPC over HTTP/2) */
		size_t o = 0;

		for (size_t i = 0; i < vl && o < sizeof(s->gmsg); i++) {
			int hi, lo;

			if (v[i] == '%' && i + 2 < vl && (hi = hexval(v[i + 1])) >= 0 &&
			    (lo = hexval(v[i + 2])) >= 0) {
				s->gmsg[o++] = (char)(hi << 4 | lo);
				i += 2;
			} else {
				s->gmsg[o++] = v[i];
			}
		}
		s->gmsg_len = (uint8_t)o;
	} else if (eq(n, nl, "x-request-id")) {
		if (req)
			PUT(s, xrid0, v, vl);
		else
			PUT(s, xrid1, v, vl);
	} else if (eq(n, nl, "traceparent")) {
		if (trace_ctx_traceparent_ok(v, vl) && !s->trace_len) {
			PUT(s, trace, v + TRACE_CTX_TP_TRACE_OFF, TRACE_CTX_TP_TRACE_LEN);
			PUT(s, span, v + TRACE_CTX_TP_SPAN_OFF, TRACE_CTX_TP_SPAN_LEN);
		}
	}
}

/*
 * Walk a header block. Pass 1 (s NULL) only classifies (has :method / :status) without
 * touching the table; pass 2 decodes into the stream and updates the table. Returns false
 * when the block is malformed (the table is then out of step).
 */
static bool hp_block(struct h2_run *r, struct h2_stream *s, bool req, bool update,
		     struct h2_fields *f)
{
	struct h2_dir *d = r->d;
	struct h2_dyn *y = d->dyn;
	struct h2_hpack *t = &y->tbl;
	const uint8_t *p = y ? y->hb : NULL;
	size_t n = y ? d->hb_len : 0, pos = 0, k;
	/* Pass 1 must see the table as it was: insertions are only counted. */
	uint32_t pending = 0;

	while (pos < n) {
		uint8_t b = p[pos];
		uint64_t idx = 0;
		const char *name = NULL, *value = NULL;
		size_t nl = 0, vl = 0, real_n = 0, real_v = 0;
		bool n_unknown = false, v_unknown = false;
		bool incr;
		struct hp_str hs;

		if (b & 0x80) { /* indexed field */
			k = hp_int(p + pos, n - pos, 7, &idx);
			if (!k || idx == 0)
				return false;
			pos += k;
			if (idx <= H2_STATIC_COUNT) {
				name = h2_static[idx].name;
				value = h2_static[idx].value;
				nl = strlen(name);
				vl = strlen(value);
			} else if (update && idx - H2_STATIC_COUNT <= t->count) {
				struct h2_ent *e = &t->ent[t->count - (idx - H2_STATIC_COUNT)];

				n_unknown = e->name_unknown;
				name = t->buf + e->off;
				nl = e->nlen;
				value = t->buf + e->off + e->nlen;
				vl = e->vlen;
			} else if (!update && idx - H2_STATIC_COUNT + pending <= t->count) {
				/* pass 1: shifted by this block's earlier insertions */
				struct h2_ent *e;
				uint64_t j = idx - H2_STATIC_COUNT;

				if (j <= pending) {
					n_unknown = true; /* inserted earlier in this block */
				} else {
					e = &t->ent[t->count - (j - pending)];
					n_unknown = e->name_unknown;
					name = t->buf + e->off;
					nl = e->nlen;
					value = t->buf + e->off + e->nlen;
					vl = e->vlen;
				}
			} else {
				n_unknown = true;
			}
			if (n_unknown) {
				f->unknown = true;
				continue;
			}
			on_field(update ? s : NULL, req, name, nl, value, vl, f);
			continue;
		}
		if ((b & 0xe0) == 0x20) { /* dynamic table size update */
			k = hp_int(p + pos, n - pos, 5, &idx);
			if (!k)
				return false;
			pos += k;
			if (update)
				tbl_set_max(t, idx);
			continue;
		}
		incr = (b & 0xc0) == 0x40;
		k = hp_int(p + pos, n - pos, incr ? 6 : 4, &idx);
		if (!k)
			return false;
		pos += k;
		if (idx) {
			if (idx <= H2_STATIC_COUNT) {
				name = h2_static[idx].name;
				nl = real_n = strlen(name);
			} else {
				uint64_t j = idx - H2_STATIC_COUNT;
				uint32_t shift = update ? 0 : pending;

				if (j > shift && j - shift <= t->count) {
					struct h2_ent *e = &t->ent[t->count - (j - shift)];

					n_unknown = e->name_unknown;
					name = t->buf + e->off;
					nl = real_n = e->nlen;
				} else {
					n_unknown = true;
				}
			}
		} else {
			k = hp_string(r->c, p + pos, n - pos, y->name, sizeof(y->name), &hs);
			if (!k)
				return false;
			pos += k;
			if (!hs.ok) {
				r->st->parse_errors++;
				n_unknown = true;
			} else {
				name = hs.p;
				nl = hs.len;
				real_n = hs.real;
			}
		}
		k = hp_string(r->c, p + pos, n - pos, y->val, sizeof(y->val), &hs);
		if (!k)
			return false;
		pos += k;
		if (!hs.ok) {
			r->st->parse_errors++;
			v_unknown = true;
		} else {
			value = hs.p;
			vl = hs.len;
			real_v = hs.real;
		}
		if (n_unknown || v_unknown)
			f->unknown = true;
		else
			on_field(update ? s : NULL, req, name, nl, value, vl, f);
		if (incr) {
			if (!update) {
				pending++;
			} else if (v_unknown) {
				/* A value we could not read still takes room: charge it fully. */
				tbl_add(t, NULL, 0, 0, true, NULL, 0, t->max);
			} else {
				tbl_add(t, name, n_unknown ? 0 : nl, real_n, n_unknown, value, vl,
					real_v);
			}
		}
	}
	return true;
}

/* The table's history is lost (a block we could not read whole, a gap). */
static void hp_lost(struct h2_run *r)
{
	struct h2_dir *d = r->d;

	if (d->dyn)
		tbl_clear(&d->dyn->tbl);
	d->synced = 0;
	r->st->resyncs++;
}

static void half_start(struct h2_half *h, uint64_t ts, uint32_t seq)
{
	h->started = 1;
	h->start_ts = ts;
	h->seq = seq;
}

/* A whole header block (HEADERS or PUSH_PROMISE + CONTINUATIONs) has been received. */
static void block_done(struct h2_run *r, uint64_t end_ts)
{
	struct h2_dir *d = r->d;
	struct h2_stream *s = stream_find(r->c, d->hb_stream);
	struct h2_fields f = { 0 };
	bool req, ok;

	d->in_block = 0;
	if (!d->dyn)
		return;
	if (d->hb_type == T_PUSH_PROMISE) {
		/* Decoded to keep the table in step; pushed streams are not followed. */
		ok = hp_block(r, NULL, true, true, &f);
		if (!ok || d->hb_over)
			hp_lost(r);
		if (d->hb_stream && !stream_find(r->c, d->hb_stream))
			stream_new(r, d->hb_stream)->ignore = 1;
		d->hb_len = 0;
		return;
	}
	/* Pass 1 tells request from response before anything is stored. */
	hp_block(r, NULL, true, false, &f);
	req = block_is_request(r, s, &f);
	if (!s)
		s = stream_new(r, d->hb_stream);
	memset(&f, 0, sizeof(f));
	ok = hp_block(r, s && !s->ignore ? s : NULL, req, true, &f);
	if (!ok || d->hb_over) {
		r->st->truncated++;
		hp_lost(r);
	}
	if (f.unknown && !d->join_seen) {
		/* Joined mid-stream: entries from before we looked are unknown. */
		d->join_seen = 1;
		if (!d->synced)
			r->st->resyncs++;
		else
			r->st->parse_errors++;
	}
	d->hb_len = 0;
	d->hb_over = 0;
	if (!s || s->ignore)
		return;
	if (req) {
		if (r->c->client_dir < 0)
			r->c->client_dir = (int8_t)r->dir;
		if (!s->req.started) {
			s->req_dir = (uint8_t)r->dir;
			half_start(&s->req, d->fr_ts, d->fr_seq);
		}
		s->req.length += d->hb_wire;
		s->req.truncated |= !ok;
		s->req.end_ts = end_ts;
		if (d->hb_flags & F_END_STREAM) {
			s->req.ended = 1;
			emit_request(r, s);
		}
	} else {
		if (r->c->client_dir < 0)
			r->c->client_dir = (int8_t)(r->dir ^ 1);
		if (!s->req.started)
			s->req_dir = (uint8_t)(r->dir ^ 1);
		if (s->status <= -100 && !(d->hb_flags & F_END_STREAM)) {
			/* 1xx: the final response is still to come. */
			s->status = -1;
			return;
		}
		if (s->status <= -100)
			s->status = -100 - s->status;
		s->resp.end_ts = end_ts;
		if (!s->resp.started)
			half_start(&s->resp, d->fr_ts, d->fr_seq);
		s->resp.length += d->hb_wire;
		s->resp.truncated |= !ok;
		if (d->hb_flags & F_END_STREAM) {
			s->resp.ended = 1;
			stream_finish(r, s);
		}
	}
}

/* ---- the frame machine ---- */

static const char *rst_name(uint32_t code)
{
	static const char *const names[] = {
		"NO_ERROR",
		"PROTOCOL_ERROR",
		"INTERNAL_ERROR",
		"FLOW_CONTROL_ERROR",
		"SETTINGS_TIMEOUT",
		"STREAM_CLOSED",
		"FRAME_SIZE_ERROR",
		"REFUSED_STREAM",
		"CANCEL",
		"COMPRESSION_ERROR",
		"CONNECT_ERROR",
		"ENHANCE_YOUR_CALM",
		"INADEQUATE_SECURITY",
		"HTTP_1_1_REQUIRED",
	};

	return code < sizeof(names) / sizeof(names[0]) ? names[code] : "UNKNOWN";
}

/* Bytes of a frame on a stream count towards that side's message. */
static void count_frame(struct h2_run *r, struct h2_stream *s, uint64_t bytes)
{
	struct h2_half *h;

	if (!s || s->ignore)
		return;
	h = r->dir == s->req_dir ? &s->req : &s->resp;
	if (h->started)
		h->length += bytes;
}

/* The current frame is complete (its last byte at data[last]). */
static void frame_done(struct h2_run *r, size_t last)
{
	struct h2_dir *d = r->d;
	uint64_t te = proto_ts_end_at(r->in, last);
	struct h2_stream *s;

	switch (d->ftype) {
	case T_DATA:
		s = stream_find(r->c, d->fstream);
		if (!s || s->ignore || !(d->fflags & F_END_STREAM))
			break;
		if (s->req.started && r->dir == s->req_dir) {
			s->req.end_ts = te;
			s->req.ended = 1;
			emit_request(r, s);
		} else if (s->resp.started) {
			s->resp.end_ts = te;
			s->resp.ended = 1;
			stream_finish(r, s);
		}
		break;
	case T_HEADERS:
	case T_PUSH_PROMISE:
	case T_CONTINUATION:
		if (d->fflags & F_END_HEADERS)
			block_done(r, te);
		break;
	case T_SETTINGS:
		/* The peer's SETTINGS_HEADER_TABLE_SIZE bounds the other side's encoder,
		 * which says what it uses with a size update: nothing to do here. */
		break;
	case T_RST_STREAM:
		s = stream_find(r->c, d->fstream);
		if (s && d->ctrl_len == 4) {
			uint32_t code = (uint32_t)d->ctrl[0] << 24 | (uint32_t)d->ctrl[1] << 16 |
					(uint32_t)d->ctrl[2] << 8 | d->ctrl[3];

			if (!s->ignore && s->req.started && !s->resp.started) {
				/* No answer will come: the reset is the answer. */
				const char *nm = rst_name(code);
				size_t k = strlen(nm);

				half_start(&s->resp, d->fr_ts, d->fr_seq);
				s->resp.end_ts = te;
				/* The reset frame ends the exchange, whichever side sent it (a
				 * client's cancel too): its bytes are the answer's size, never 0.
				 */
				s->resp.length = H2_FRAME_HDR + 4;
				memcpy(s->exc, "RST_STREAM ", 11);
				memcpy(s->exc + 11, nm, k);
				s->exc_len = (uint8_t)(11 + k);
			}
			stream_finish(r, s);
		}
		break;
	default: break;
	}
}

/* Start of a frame whose 9-byte header is at data[pos]. Returns false when it is not a
 * frame we can follow. */
static bool frame_start(struct h2_run *r, size_t pos, const struct h2_fh *f)
{
	struct h2_dir *d = r->d;
	struct h2_stream *s;

	if (!fh_valid(f, false))
		return false;
	if (d->in_block && (f->type != T_CONTINUATION || f->stream != d->hb_stream))
		return false;
	if (!d->in_block && f->type == T_CONTINUATION)
		return false;
	d->ftype = f->type;
	d->fflags = f->flags;
	d->fstream = f->stream;
	d->flen = f->len;
	d->remaining = f->len;
	d->pad = 0;
	d->prefix_got = 0;
	d->prefix_len = 0;
	d->ctrl_len = 0;
	if (f->type != T_CONTINUATION) {
		d->fr_ts = proto_ts_start_at(r->in, pos);
		d->fr_seq = proto_input_seq_at(r->in, pos);
	}
	switch (f->type) {
	case T_DATA: d->prefix_len = (f->flags & F_PADDED) ? 1 : 0; break;
	case T_HEADERS:
		d->prefix_len = (uint8_t)(((f->flags & F_PADDED) ? 1 : 0) +
					  ((f->flags & F_PRIORITY) ? 5 : 0));
		break;
	case T_PUSH_PROMISE: d->prefix_len = (uint8_t)(((f->flags & F_PADDED) ? 1 : 0) + 4); break;
	default: break;
	}
	if (d->prefix_len > f->len)
		return false;
	if (f->type == T_HEADERS || f->type == T_PUSH_PROMISE) {
		if (!d->dyn) {
			d->dyn = calloc(1, sizeof(*d->dyn));
			if (!d->dyn)
				return false;
			d->dyn->tbl.max = 4096;
		}
		d->in_block = !(f->flags & F_END_HEADERS);
		d->hb_type = f->type;
		d->hb_flags = f->flags;
		d->hb_stream = f->stream;
		d->hb_len = 0;
		d->hb_over = 0;
	}
	/* Stream bytes: header and data frames count towards their message; a header
	 * block's once it is decoded (and so its stream known). */
	if (f->type == T_HEADERS || f->type == T_PUSH_PROMISE)
		d->hb_wire = H2_FRAME_HDR + (uint64_t)f->len;
	else if (f->type == T_CONTINUATION)
		d->hb_wire += H2_FRAME_HDR + (uint64_t)f->len;
	else if (f->type == T_DATA) {
		s = stream_find(r->c, f->stream);
		count_frame(r, s, H2_FRAME_HDR + (uint64_t)f->len);
	}
	return true;
}

static size_t next_event(const struct proto_input *in, size_t pos)
{
	for (size_t i = 0; i < in->nsegs; i++) {
		if (in->segs[i].off > pos && in->segs[i].len)
			return in->segs[i].off;
	}
	return in->len;
}

static int http2_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		       struct proto_stats *st)
{
	struct h2_conn *c = state;
	struct h2_dir *d = &c->dir[in->dir];
	struct h2_run r = { c, d, in, in->dir, emit, ctx, st };
	const uint8_t *p = in->data;
	size_t pos = 0, n = in->len, take;
	struct h2_fh f;

	if (!c->init) {
		c->init = 1;
		c->client_dir = -1;
		if (in->ctx && in->ctx->role == PROTO_ROLE_CLIENT)
			c->client_dir = PROTO_DIR_EGRESS;
		else if (in->ctx && in->ctx->role == PROTO_ROLE_SERVER)
			c->client_dir = PROTO_DIR_INGRESS;
	}
	while (pos < n) {
		switch (d->phase) {
		case PH_START:
			take = n - pos < H2_PREFACE_LEN ? n - pos : H2_PREFACE_LEN;
			if (memcmp(p + pos, H2_PREFACE, take) == 0) {
				if (take < H2_PREFACE_LEN)
					goto need_more;
				pos += H2_PREFACE_LEN;
				d->synced = 1;
				c->client_dir = (int8_t)in->dir;
				d->phase = PH_HDR;
				break;
			}
			if (n - pos < H2_FRAME_HDR)
				goto need_more;
			fh_read(p + pos, &f);
			if (!fh_valid(&f, true)) {
				st->resyncs++;
				d->phase = PH_RESYNC;
				break;
			}
			/* A server's first frame is its SETTINGS: its table starts empty. */
			if (f.type == T_SETTINGS && !(f.flags & F_ACK) && in->stream_off + pos == 0)
				d->synced = 1;
			d->phase = PH_HDR;
			break;
		case PH_RESYNC:
			pos = next_event(in, pos);
			d->in_block = 0;
			d->phase = PH_START;
			break;
		case PH_HDR:
			if (n - pos < H2_FRAME_HDR)
				goto need_more;
			fh_read(p + pos, &f);
			if (!frame_start(&r, pos, &f)) {
				st->parse_errors++;
				if (d->in_block) {
					d->in_block = 0;
					hp_lost(&r);
				}
				d->phase = PH_RESYNC;
				break;
			}
			pos += H2_FRAME_HDR;
			d->phase = d->prefix_len ? PH_PREFIX : PH_PAYLOAD;
			if (!d->prefix_len && !d->remaining) {
				d->phase = PH_HDR;
				frame_done(&r, pos - 1);
			}
			break;
		case PH_PREFIX:
			while (d->prefix_got < d->prefix_len && pos < n)
				d->prefix[d->prefix_got++] = p[pos++];
			if (d->prefix_got < d->prefix_len)
				goto need_more;
			d->remaining -= d->prefix_len;
			if (d->fflags & F_PADDED && d->ftype != T_CONTINUATION) {
				d->pad = d->prefix[0];
				if (d->pad > d->remaining) {
					st->parse_errors++;
					d->phase = PH_RESYNC;
					break;
				}
				d->remaining -= d->pad;
			}
			if (d->ftype == T_PUSH_PROMISE) {
				const uint8_t *q = d->prefix + ((d->fflags & F_PADDED) ? 1 : 0);

				/* The block is about the promised stream. */
				d->hb_stream = ((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
						(uint32_t)q[2] << 8 | q[3]) &
					       0x7fffffffu;
			}
			d->phase = PH_PAYLOAD;
			/* fall through */
		case PH_PAYLOAD:
			take = n - pos < d->remaining ? n - pos : d->remaining;
			switch (d->ftype) {
			case T_HEADERS:
			case T_CONTINUATION:
			case T_PUSH_PROMISE: {
				size_t room = H2_HB_MAX - d->hb_len, k = take < room ? take : room;

				memcpy(d->dyn->hb + d->hb_len, p + pos, k);
				d->hb_len += (uint32_t)k;
				if (k < take)
					d->hb_over = 1;
				break;
			}
			case T_DATA: break;
			default:
				if (d->flen <= H2_CTRL_MAX) {
					memcpy(d->ctrl + d->ctrl_len, p + pos, take);
					d->ctrl_len += (uint32_t)take;
				}
				break;
			}
			pos += take;
			d->remaining -= (uint32_t)take;
			if (d->remaining)
				goto need_more;
			if (d->pad) {
				d->phase = PH_PAD;
				break;
			}
			d->phase = PH_HDR;
			frame_done(&r, pos - 1);
			break;
		case PH_PAD:
			take = n - pos < d->pad ? n - pos : d->pad;
			pos += take;
			d->pad = (uint8_t)(d->pad - take);
			if (d->pad)
				goto need_more;
			d->phase = PH_HDR;
			frame_done(&r, pos - 1);
			break;
		}
	}
	if (in->gap)
		goto gap;
	return (int)pos;

need_more:
	if (!in->gap)
		return (int)pos;
	pos = n;
gap:
	/* Uncaptured bytes follow: a DATA payload absorbs them; anything else is lost. */
	if ((d->phase == PH_PAYLOAD || d->phase == PH_PAD) && d->ftype == T_DATA &&
	    in->gap <= (uint64_t)d->remaining + d->pad) {
		uint64_t g = in->gap;

		if (g <= d->remaining) {
			d->remaining -= (uint32_t)g;
		} else {
			g -= d->remaining;
			d->remaining = 0;
			d->pad = (uint8_t)(d->pad - g);
		}
		return (int)n;
	}
	if (d->in_block ||
	    ((d->phase == PH_PAYLOAD || d->phase == PH_PREFIX) &&
	     (d->ftype == T_HEADERS || d->ftype == T_PUSH_PROMISE || d->ftype == T_CONTINUATION))) {
		d->in_block = 0;
		r.st->truncated++;
		hp_lost(&r);
	}
	d->phase = PH_START;
	return (int)n;
}

static void http2_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			   struct proto_stats *st)
{
	struct h2_conn *c = state;
	struct h2_run r = { c, &c->dir[0], NULL, PROTO_DIR_EGRESS, emit, ctx, st };

	(void)ts;
	/* Streams still open end with what they have, oldest first. */
	for (;;) {
		struct h2_stream *old = NULL;

		for (size_t i = 0; i < H2_MAX_STREAMS; i++) {
			if (c->streams[i].used && (!old || c->streams[i].age < old->age))
				old = &c->streams[i];
		}
		if (!old)
			break;
		stream_finish(&r, old);
	}
}

static void http2_reset(void *state, enum proto_dir dir)
{
	struct h2_conn *c = state;
	struct h2_dir *d = &c->dir[dir];

	/* The bytes we were waiting for are gone: a header block among them leaves the
	 * table out of step; frames start again at the next capture event. */
	if (d->in_block || (d->phase != PH_HDR && d->phase != PH_START && d->ftype != T_DATA)) {
		if (d->dyn)
			tbl_clear(&d->dyn->tbl);
		d->synced = 0;
	}
	d->in_block = 0;
	d->hb_len = 0;
	d->phase = PH_START;
}

static void http2_release(void *state)
{
	struct h2_conn *c = state;

	for (int i = 0; i < 2; i++) {
		free(c->dir[i].dyn);
		c->dir[i].dyn = NULL;
	}
	if (c->huff)
		nghttp2_hd_inflate_del(c->huff);
	c->huff = NULL;
}

const struct proto_ops proto_http2_ops = {
	.name = "HTTP2",
	.id = PROTO_HTTP2,
	.state_size = sizeof(struct h2_conn),
	.detect = http2_detect,
	.parse = http2_parse,
	.on_close = http2_on_close,
	.reset = http2_reset,
	.release = http2_release,
};
