/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memcached parser: the text protocol (storage, retrieval, delete, incr/decr, touch, gat,
 * flush_all, version, stats, verbosity, quit, and the meta commands mg/ms/md/ma/mn/me) and
 * the binary protocol (24-byte header, magic 0x80 / 0x81), over TCP.
 *
 * Text: a request is a command line, followed for storage commands (set, add, replace,
 * append, prepend, cas, ms) by a data block of the size the line gives and CRLF. A
 * response is one line (STORED, NOT_FOUND, a number, VERSION x, ERROR, CLIENT_ERROR x,
 * SERVER_ERROR x, HD, NF, ...), or for retrievals and stats a series of VALUE lines (each
 * with its data block) or STAT lines closed by END; a meta VA line is followed by its data.
 * Lines are read whole (at most MC_LINE_MAX bytes); data blocks are consumed by count and
 * never kept. Requests pair with responses by order; noreply requests (and quit, and meta
 * commands with the q flag) get no response.
 *
 * Binary: requests and responses pair by opaque, which is also the request_id; the quiet
 * opcodes (getq, setq, ...) get no response when they succeed. The status decides the
 * response status; the key is read, the extras and value are skipped by count.
 *
 * request_type is the command (binary opcodes by the text command's name), request_resource
 * the key(s); with PROTO_OPT_KEEP_VALUES the whole command line, as DeepFlow shows it.
 * response_result is the first line of the response ("STORED", "VALUE foo 0 3", "END", the
 * incr/decr value, "VERSION 1.6.18"); data blocks never show. ERROR and CLIENT_ERROR are
 * client errors, SERVER_ERROR a server error, with the line as the exception.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto.h"

#define MC_LINE_MAX   4096
#define MC_RES_CAP    512
#define MC_RESULT_CAP 256
#define MC_PORT	      11211
#define MC_MAX_DATA   (1ull << 31)
#define MC_BIN_HDR    24

enum { MC_IDLE = 0, MC_DATA, MC_BIN_SKIP, MC_RESYNC };

struct mc_dir {
	uint8_t phase;
	bool active;
	bool truncated;
	bool multi; /* a response of VALUE / STAT lines, until END */
	bool binary;
	uint8_t kind;
	uint32_t flags;
	uint64_t data_left; /* data block + CRLF, or binary body bytes, still to come */
	uint64_t start_ts, end_ts;
	uint32_t seq;
	uint64_t length;
	uint8_t status;
	bool has_id;
	uint32_t opaque;
	uint16_t res_len, result_len, exc_len;
	uint8_t cmd_len;
	char cmd[16];
	char res[MC_RES_CAP];
	char result[MC_RESULT_CAP];
	char exc[MC_RESULT_CAP];
};

struct mc_state {
	struct mc_dir dir[2];
	bool req_known;
	uint8_t req_dir;
};

/* text commands: storage (a data block follows), retrieval (keys from argument k) */
enum { T_STORE = 1, T_GET, T_KEY, T_NONE, T_META, T_META_DATA };

static const struct {
	const char *name;
	uint8_t type;
	uint8_t first_key; /* index of the first key among the arguments */
} mc_cmds[] = {
	{ "set", T_STORE, 0 },	  { "add", T_STORE, 0 },     { "replace", T_STORE, 0 },
	{ "append", T_STORE, 0 }, { "prepend", T_STORE, 0 }, { "cas", T_STORE, 0 },
	{ "get", T_GET, 0 },	  { "gets", T_GET, 0 },	     { "gat", T_GET, 1 },
	{ "gats", T_GET, 1 },	  { "delete", T_KEY, 0 },    { "incr", T_KEY, 0 },
	{ "decr", T_KEY, 0 },	  { "touch", T_KEY, 0 },     { "flush_all", T_NONE, 0 },
	{ "version", T_NONE, 0 }, { "stats", T_NONE, 0 },    { "verbosity", T_NONE, 0 },
	{ "quit", T_NONE, 0 },	  { "shutdown", T_NONE, 0 }, { "cache_memlimit", T_NONE, 0 },
	{ "mg", T_META, 0 },	  { "ms", T_META_DATA, 0 },  { "md", T_META, 0 },
	{ "ma", T_META, 0 },	  { "mn", T_NONE, 0 },	     { "me", T_META, 0 },
};

#define MC_NCMDS (sizeof(mc_cmds) / sizeof(mc_cmds[0]))

/* binary opcodes, by the text command's name */
static const char *bin_name(uint8_t op)
{
	static const char *const n[] = {
		"get",	  "set",       "add",	"replace", "delete",  "incr",	  "decr",
		"quit",	  "flush_all", "getq",	"noop",	   "version", "getk",	  "getkq",
		"append", "prepend",   "stats", "setq",	   "addq",    "replaceq", "deleteq",
		"incrq",  "decrq",     "quitq", "flushq",  "appendq", "prependq", "verbosity",
		"touch",  "gat",       "gatq",
	};

	if (op < sizeof(n) / sizeof(n[0]))
		return n[op];
	if (op >= 0x20 && op <= 0x22)
		return op == 0x20 ? "sasl_list" : op == 0x21 ? "sasl_auth" : "sasl_step";
	return NULL;
}

static bool bin_quiet(uint8_t op)
{
	return op == 0x09 || op == 0x0d || (op >= 0x11 && op <= 0x1a) || op == 0x1e;
}

static bool is_sp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static void put(char *buf, uint16_t *len, size_t cap, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && *len < cap; i++) {
		uint8_t c = p[i];

		buf[(*len)++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
}

struct tok {
	const uint8_t *p;
	size_t n;
};

static size_t split(const uint8_t *l, size_t n, struct tok *t, size_t max)
{
	size_t i = 0, k = 0;

	while (i < n && k < max) {
		size_t j;

		while (i < n && is_sp(l[i]))
			i++;
		if (i == n)
			break;
		j = i;
		while (j < n && !is_sp(l[j]))
			j++;
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

	if (!t.n || t.n > 20)
		return false;
	for (size_t i = 0; i < t.n; i++) {
		if (t.p[i] < '0' || t.p[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(t.p[i] - '0');
	}
	*v = x;
	return true;
}

static bool tok_is(struct tok t, const char *s)
{
	return t.n == strlen(s) && !memcmp(t.p, s, t.n);
}

/* A key: 1 to 250 bytes, no control characters or spaces. */
static bool key_ok(struct tok t)
{
	if (!t.n || t.n > 250)
		return false;
	for (size_t i = 0; i < t.n; i++)
		if (t.p[i] <= 0x20 || t.p[i] == 0x7f)
			return false;
	return true;
}

static int find_cmd(struct tok t)
{
	for (size_t i = 0; i < MC_NCMDS; i++)
		if (tok_is(t, mc_cmds[i].name))
			return (int)i;
	return -1;
}

/*
 * A text request line l[0..n): fill the message and the data block size. false: malformed.
 */
static bool take_request(struct mc_dir *d, const uint8_t *l, size_t n, bool keep)
{
	struct tok t[64];
	size_t nt = split(l, n, t, 64);
	int c;
	uint64_t bytes = 0, v;

	if (!nt || (c = find_cmd(t[0])) < 0)
		return false;
	d->cmd_len = (uint8_t)t[0].n;
	memcpy(d->cmd, t[0].p, t[0].n);
	d->flags = 0;
	if (tok_is(t[nt - 1], "noreply") && mc_cmds[c].type != T_GET) {
		d->flags = PROTO_MSG_F_NO_RESPONSE;
		nt--;
	}
	switch (mc_cmds[c].type) {
	case T_STORE: {
		size_t want = tok_is(t[0], "cas") ? 6 : 5;

		if (nt != want || !key_ok(t[1]) || !number(t[2], &v) || !number(t[3], &v) ||
		    !number(t[4], &bytes) || (want == 6 && !number(t[5], &v)) ||
		    bytes > MC_MAX_DATA)
			return false;
		d->data_left = bytes + 2;
		break;
	}
	case T_GET:
		if (nt < 2 + (size_t)mc_cmds[c].first_key)
			return false;
		for (size_t i = 1 + mc_cmds[c].first_key; i < nt; i++)
			if (!key_ok(t[i]))
				return false;
		break;
	case T_KEY:
		if (nt < 2 || !key_ok(t[1]))
			return false;
		break;
	case T_META:
	case T_META_DATA:
		if (nt < 2 || !key_ok(t[1]))
			return false;
		/* the q flag: nothing comes back on success (mn closes the batch) */
		for (size_t i = 2 + (mc_cmds[c].type == T_META_DATA); i < nt; i++)
			if (tok_is(t[i], "q"))
				d->flags = PROTO_MSG_F_NO_RESPONSE;
		if (mc_cmds[c].type == T_META_DATA) {
			if (nt < 3 || !number(t[2], &bytes) || bytes > MC_MAX_DATA)
				return false;
			d->data_left = bytes + 2;
		}
		break;
	default:
		if (tok_is(t[0], "quit"))
			d->flags = PROTO_MSG_F_NO_RESPONSE;
		break;
	}
	d->res_len = 0;
	if (keep) {
		put(d->res, &d->res_len, MC_RES_CAP, l, n);
	} else if (mc_cmds[c].type == T_GET) {
		for (size_t i = 1 + mc_cmds[c].first_key; i < nt; i++) {
			if (d->res_len && d->res_len < MC_RES_CAP)
				d->res[d->res_len++] = ' ';
			put(d->res, &d->res_len, MC_RES_CAP, t[i].p, t[i].n);
		}
	} else if (mc_cmds[c].type != T_NONE) {
		put(d->res, &d->res_len, MC_RES_CAP, t[1].p, t[1].n);
	}
	return true;
}

static bool starts(const uint8_t *l, size_t n, const char *w)
{
	size_t k = strlen(w);

	return n >= k && !memcmp(l, w, k) && (n == k || is_sp(l[k]));
}

/*
 * A text response line l[0..n). 1: the response is complete, 0: more lines (or a data
 * block) follow, -1: malformed.
 */
static int take_response_line(struct mc_dir *d, const uint8_t *l, size_t n)
{
	struct tok t[6];
	size_t nt;
	uint64_t bytes;
	bool first = !d->multi;

	if (starts(l, n, "VALUE")) {
		nt = split(l, n, t, 6);
		if ((nt != 4 && nt != 5) || !key_ok(t[1]) || !number(t[2], &bytes) ||
		    !number(t[3], &bytes) || bytes > MC_MAX_DATA)
			return -1;
		if (first)
			put(d->result, &d->result_len, MC_RESULT_CAP, l, n);
		d->multi = true;
		d->data_left = bytes + 2;
		return 0;
	}
	if (starts(l, n, "STAT")) {
		if (first)
			put(d->result, &d->result_len, MC_RESULT_CAP, l, n);
		d->multi = true;
		return 0;
	}
	if (starts(l, n, "END")) {
		if (first)
			put(d->result, &d->result_len, MC_RESULT_CAP, l, n);
		return 1;
	}
	if (d->multi)
		return -1;
	if (starts(l, n, "VA")) {
		nt = split(l, n, t, 2);
		if (nt < 2 || !number(t[1], &bytes) || bytes > MC_MAX_DATA)
			return -1;
		put(d->result, &d->result_len, MC_RESULT_CAP, l, n);
		d->data_left = bytes + 2;
		return 0;
	}
	if (starts(l, n, "ERROR") || starts(l, n, "CLIENT_ERROR") || starts(l, n, "SERVER_ERROR")) {
		d->status = l[0] == 'S' ? PROTO_STATUS_SERVER_ERROR : PROTO_STATUS_CLIENT_ERROR;
		put(d->exc, &d->exc_len, MC_RESULT_CAP, l, n);
		return 1;
	}
	{
		static const char *const words[] = {
			"STORED",  "NOT_STORED", "EXISTS", "NOT_FOUND", "DELETED", "TOUCHED",
			"OK",	   "VERSION",	 "RESET",  "HD",	"NF",	   "NS",
			"EX",	   "EN",	 "MN",	   "ME",	"BUSY",	   "BADCLASS",
			"NOSPARE", "NOTFULL",	 "UNSAFE", "SAME",
		};
		uint64_t v;
		bool ok = n && n <= 20 && number((struct tok){ l, n }, &v);

		for (size_t i = 0; !ok && i < sizeof(words) / sizeof(words[0]); i++)
			ok = starts(l, n, words[i]);
		if (!ok)
			return -1;
	}
	put(d->result, &d->result_len, MC_RESULT_CAP, l, n);
	return 1;
}

static void emit_msg(struct mc_dir *d, enum proto_dir dir, proto_emit_fn emit, void *ctx,
		     struct proto_stats *st)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = d->kind;
	m.dir = dir;
	m.flags = d->flags | (d->truncated ? PROTO_MSG_F_TRUNCATED : 0);
	m.start_ts = d->start_ts;
	m.end_ts = d->end_ts < d->start_ts ? d->start_ts : d->end_ts;
	m.tcp_seq = d->seq;
	m.length = d->length ? d->length : 1;
	m.code = -1;
	m.has_request_id = m.has_session_id = d->has_id;
	m.request_id = m.session_id = d->opaque;
	if (d->kind == PROTO_MSG_REQUEST) {
		m.method = (struct proto_str){ d->cmd, d->cmd_len };
		m.resource = (struct proto_str){ d->res, d->res_len };
	} else {
		m.status = d->status;
		m.result = (struct proto_str){ d->result, d->result_len };
		m.exception = (struct proto_str){ d->exc, d->exc_len };
		if (d->binary && d->cmd_len)
			m.method = (struct proto_str){ d->cmd, d->cmd_len };
	}
	st->messages++;
	if (m.flags & PROTO_MSG_F_TRUNCATED)
		st->truncated++;
	emit(ctx, &m);
	d->active = false;
}

static void msg_begin(struct mc_dir *d, const struct proto_input *in, size_t p, bool req)
{
	const struct proto_seg *g = proto_input_locate(in, p);

	d->active = true;
	d->truncated = false;
	d->multi = false;
	d->binary = false;
	d->kind = req ? PROTO_MSG_REQUEST : PROTO_MSG_RESPONSE;
	d->flags = 0;
	d->data_left = 0;
	d->start_ts = g ? g->ts_start : 0;
	d->seq = proto_input_seq_at(in, p);
	d->length = 0;
	d->status = PROTO_STATUS_OK;
	d->has_id = false;
	d->opaque = 0;
	d->res_len = d->result_len = d->exc_len = 0;
	d->cmd_len = 0;
}

/* The binary status: its text and the response status. */
static void bin_status(struct mc_dir *d, uint16_t s)
{
	static const struct {
		uint16_t code;
		uint8_t status;
		const char *text;
	} t[] = {
		{ 0x00, PROTO_STATUS_OK, NULL },
		{ 0x01, PROTO_STATUS_OK, "NOT_FOUND" },
		{ 0x02, PROTO_STATUS_OK, "EXISTS" },
		{ 0x03, PROTO_STATUS_CLIENT_ERROR, "Value too large" },
		{ 0x04, PROTO_STATUS_CLIENT_ERROR, "Invalid arguments" },
		{ 0x05, PROTO_STATUS_OK, "NOT_STORED" },
		{ 0x06, PROTO_STATUS_CLIENT_ERROR, "Incr/Decr on non-numeric value" },
		{ 0x07, PROTO_STATUS_CLIENT_ERROR, "Vbucket belongs to another server" },
		{ 0x08, PROTO_STATUS_CLIENT_ERROR, "Authentication error" },
		{ 0x09, PROTO_STATUS_CLIENT_ERROR, "Authentication continue" },
		{ 0x20, PROTO_STATUS_CLIENT_ERROR, "Authentication error" },
		{ 0x21, PROTO_STATUS_OK, "Authentication continue" },
		{ 0x81, PROTO_STATUS_CLIENT_ERROR, "Unknown command" },
		{ 0x82, PROTO_STATUS_SERVER_ERROR, "Out of memory" },
		{ 0x83, PROTO_STATUS_CLIENT_ERROR, "Not supported" },
		{ 0x84, PROTO_STATUS_SERVER_ERROR, "Internal error" },
		{ 0x85, PROTO_STATUS_SERVER_ERROR, "Busy" },
		{ 0x86, PROTO_STATUS_SERVER_ERROR, "Temporary failure" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].code != s)
			continue;
		d->status = t[i].status;
		if (t[i].text && t[i].status != PROTO_STATUS_OK)
			put(d->exc, &d->exc_len, MC_RESULT_CAP, (const uint8_t *)t[i].text,
			    strlen(t[i].text));
		else if (t[i].text)
			put(d->result, &d->result_len, MC_RESULT_CAP, (const uint8_t *)t[i].text,
			    strlen(t[i].text));
		return;
	}
	d->status = PROTO_STATUS_SERVER_ERROR;
	put(d->exc, &d->exc_len, MC_RESULT_CAP, (const uint8_t *)"error", 5);
}

/* A binary header at h (24 bytes): sane? total body in *body. */
static bool bin_header_ok(const uint8_t *h, bool req, uint32_t *body)
{
	uint16_t kl = (uint16_t)(h[2] << 8 | h[3]);
	uint8_t el = h[4];
	uint32_t bl = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];

	if (h[0] != (req ? 0x80 : 0x81) || !bin_name(h[1]) || h[5] != 0)
		return false;
	if ((uint64_t)kl + el > bl || bl > MC_MAX_DATA || kl > 250)
		return false;
	if (req && ((uint16_t)(h[6] << 8 | h[7])) > 1024)
		return false; /* vbucket ids are small */
	*body = bl;
	return true;
}

static bool looks_like_start(const uint8_t *p, size_t n, bool req)
{
	struct tok t;
	size_t k = 0;

	if (!n)
		return false;
	if (p[0] == (req ? 0x80 : 0x81))
		return n < 2 || bin_name(p[1]) != NULL;
	while (k < n && k < 16 && !is_sp(p[k]) && p[k] != '\r' && p[k] != '\n')
		k++;
	t = (struct tok){ p, k };
	if (req)
		return find_cmd(t) >= 0;
	return (p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= '0' && p[0] <= '9');
}

static int mc_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		    struct proto_stats *st)
{
	struct mc_state *s = state;
	struct mc_dir *d;
	size_t p = 0, len;
	const uint8_t *data;
	bool req, keep = in && in->ctx && (in->ctx->opts & PROTO_OPT_KEEP_VALUES);

	if (!s || !in || (in->dir != PROTO_DIR_EGRESS && in->dir != PROTO_DIR_INGRESS) ||
	    (in->len && (!in->data || !in->segs || !in->nsegs))) {
		st->parse_errors++;
		return PROTO_ERROR;
	}
	if (!s->req_known) {
		uint8_t role = in->ctx ? in->ctx->role : PROTO_ROLE_UNKNOWN;

		if (role == PROTO_ROLE_CLIENT)
			s->req_dir = PROTO_DIR_EGRESS;
		else if (role == PROTO_ROLE_SERVER)
			s->req_dir = PROTO_DIR_INGRESS;
		else if (in->len)
			s->req_dir = (in->data[0] == 0x81) ? (uint8_t)!in->dir : (uint8_t)in->dir;
		else
			return 0;
		s->req_known = true;
	}
	d = &s->dir[in->dir];
	req = s->req_dir == (uint8_t)in->dir;
	data = in->data;
	len = in->len;
	if (d->phase == MC_RESYNC) {
		size_t e = in->event_start;

		if (e < len && looks_like_start(data + e, len - e, req)) {
			d->phase = MC_IDLE;
			d->active = false;
			st->resyncs++;
			p = e;
		} else {
			return (int)len;
		}
	}
	while (p < len) {
		size_t avail = len - p;

		if (d->phase == MC_DATA || d->phase == MC_BIN_SKIP) {
			size_t k = avail < d->data_left ? avail : (size_t)d->data_left;

			if (d->phase == MC_DATA) {
				for (size_t i = 0; i < k; i++) {
					uint64_t left = d->data_left - i;

					if ((left == 2 && data[p + i] != '\r') ||
					    (left == 1 && data[p + i] != '\n'))
						goto bad;
				}
			}
			p += k;
			d->data_left -= k;
			d->length += k;
			d->end_ts = proto_input_locate(in, p - 1)->ts_end;
			if (!d->data_left) {
				bool done = d->phase == MC_BIN_SKIP || !d->multi;

				d->phase = MC_IDLE;
				if (done)
					emit_msg(d, in->dir, emit, ctx, st);
			}
			continue;
		}
		if (!d->active && (data[p] == 0x80 || data[p] == 0x81)) {
			/* binary */
			uint32_t body;
			uint16_t kl;
			uint8_t el;
			size_t head;

			if (avail < MC_BIN_HDR)
				break;
			if (!bin_header_ok(data + p, req, &body))
				goto bad;
			kl = (uint16_t)(data[p + 2] << 8 | data[p + 3]);
			el = data[p + 4];
			head = MC_BIN_HDR + el + kl;
			if (avail < head && !in->gap)
				break;
			msg_begin(d, in, p, req);
			d->binary = true;
			d->has_id = true;
			memcpy(&d->opaque, data + p + 12, 4);
			d->opaque = __builtin_bswap32(d->opaque);
			{
				const char *nm = bin_name(data[p + 1]);

				d->cmd_len = (uint8_t)strlen(nm);
				memcpy(d->cmd, nm, d->cmd_len);
			}
			if (avail < head) {
				head = avail;
				d->truncated = true;
			}
			if (head > (size_t)MC_BIN_HDR + el)
				put(d->res, &d->res_len, MC_RES_CAP, data + p + MC_BIN_HDR + el,
				    head - MC_BIN_HDR - el);
			if (req) {
				/* quiet opcodes answer only failures; quit closes the
				 * connection (memcached answers it with the close) */
				if (bin_quiet(data[p + 1]) || data[p + 1] == 0x07)
					d->flags = PROTO_MSG_F_NO_RESPONSE;
			} else {
				bin_status(d, (uint16_t)(data[p + 6] << 8 | data[p + 7]));
			}
			d->length = head;
			d->data_left = (uint64_t)MC_BIN_HDR + body - head;
			d->end_ts = proto_input_locate(in, p + head - 1)->ts_end;
			p += head;
			if (d->data_left)
				d->phase = MC_BIN_SKIP;
			else
				emit_msg(d, in->dir, emit, ctx, st);
			continue;
		}
		{
			const uint8_t *l = data + p;
			size_t lim = avail < MC_LINE_MAX ? avail : MC_LINE_MAX, n, w;
			const uint8_t *nl = memchr(l, '\n', lim);
			int r;

			if (!nl) {
				if (avail >= MC_LINE_MAX)
					goto bad;
				break;
			}
			n = (size_t)(nl - l) + 1;
			w = n - 1 - (n >= 2 && l[n - 2] == '\r');
			if (!d->active)
				msg_begin(d, in, p, req);
			d->length += n;
			d->end_ts = proto_input_locate(in, p + n - 1)->ts_end;
			p += n;
			if (req) {
				if (!take_request(d, l, w, keep))
					goto bad;
				r = d->data_left ? 0 : 1;
			} else {
				r = take_response_line(d, l, w);
				if (r < 0)
					goto bad;
			}
			if (d->data_left)
				d->phase = MC_DATA;
			else if (r == 1)
				emit_msg(d, in->dir, emit, ctx, st);
		}
	}
	if (in->gap) {
		if (p == len && (d->phase == MC_DATA || d->phase == MC_BIN_SKIP) &&
		    in->gap <= d->data_left) {
			/* a data block absorbs the bytes not captured */
			d->data_left -= in->gap;
			d->length += in->gap;
			if (!d->data_left) {
				bool done = d->phase == MC_BIN_SKIP || !d->multi;

				d->phase = MC_IDLE;
				if (done)
					emit_msg(d, in->dir, emit, ctx, st);
			}
		} else {
			if (d->active) {
				d->truncated = true;
				emit_msg(d, in->dir, emit, ctx, st);
			} else if (p < len) {
				st->truncated++;
			}
			d->phase = MC_RESYNC;
		}
		return (int)len;
	}
	return (int)p;
bad:
	st->parse_errors++;
	d->phase = MC_RESYNC;
	d->active = false;
	return PROTO_ERROR;
}

static void mc_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			struct proto_stats *st)
{
	struct mc_state *s = state;

	for (int i = 0; i < 2; i++) {
		struct mc_dir *d = &s->dir[i];

		if (d->active) {
			d->truncated = true;
			if (!d->end_ts)
				d->end_ts = ts;
			emit_msg(d, (enum proto_dir)i, emit, ctx, st);
		}
		d->phase = MC_IDLE;
		d->active = false;
	}
}

static void mc_reset(void *state, enum proto_dir dir)
{
	struct mc_state *s = state;

	if (s && (dir == PROTO_DIR_EGRESS || dir == PROTO_DIR_INGRESS)) {
		s->dir[dir].phase = MC_RESYNC;
		s->dir[dir].active = false;
	}
}

static enum proto_detect mc_detect(const uint8_t *data, size_t len, enum proto_dir dir,
				   const struct proto_ctx *ctx)
{
	bool port = ctx && ctx->server_port == MC_PORT;
	struct mc_dir d;
	const uint8_t *nl;
	size_t n;
	int c;
	struct tok t;

	if (!data || len < 4 || (ctx && ctx->l4_proto != 6))
		return PROTO_DETECT_NO;
	/* requests only, on the side the role says sends them */
	if (ctx && ((ctx->role == PROTO_ROLE_CLIENT && dir != PROTO_DIR_EGRESS) ||
		    (ctx->role == PROTO_ROLE_SERVER && dir != PROTO_DIR_INGRESS)))
		return PROTO_DETECT_NO;
	if (data[0] == 0x80) {
		uint32_t body;

		if (len < MC_BIN_HDR || !bin_header_ok(data, true, &body))
			return PROTO_DETECT_NO;
		/* the whole request in the read, or a key of printable bytes */
		if ((uint64_t)MC_BIN_HDR + body == len)
			return PROTO_DETECT_YES;
		return port ? PROTO_DETECT_MAYBE : PROTO_DETECT_NO;
	}
	nl = memchr(data, '\n', len < MC_LINE_MAX ? len : MC_LINE_MAX);
	if (!nl)
		return PROTO_DETECT_NO;
	n = (size_t)(nl - data);
	if (!n || data[n - 1] != '\r')
		return PROTO_DETECT_NO;
	for (c = 0; c < (int)n - 1 && !is_sp(data[c]); c++)
		;
	t = (struct tok){ data, (size_t)c };
	c = find_cmd(t);
	if (c < 0)
		return PROTO_DETECT_NO;
	/* an HTTP request line is no retrieval */
	for (size_t k = 0; k + 5 <= n; k++)
		if (!memcmp(data + k, "HTTP/", 5))
			return PROTO_DETECT_NO;
	memset(&d, 0, sizeof(d));
	if (!take_request(&d, data, n - 1, false))
		return PROTO_DETECT_NO;
	if (mc_cmds[c].type == T_STORE || mc_cmds[c].type == T_META_DATA) {
		/* its data block ends where the line says, when it is all there */
		if (len >= n + 1 + d.data_left) {
			size_t e = n + 1 + (size_t)d.data_left;

			if (data[e - 2] != '\r' || data[e - 1] != '\n')
				return PROTO_DETECT_NO;
		}
		return PROTO_DETECT_YES;
	}
	/* "get k", "delete k": one whole line; weaker on Redis's port (inline commands) */
	if (n + 1 == len && mc_cmds[c].type != T_NONE)
		return ctx && ctx->server_port == 6379 ? PROTO_DETECT_MAYBE : PROTO_DETECT_YES;
	return port ? PROTO_DETECT_MAYBE : PROTO_DETECT_NO;
}

const struct proto_ops proto_memcached_ops = {
	.name = "Memcached",
	.id = PROTO_MEMCACHED,
	.state_size = sizeof(struct mc_state),
	.detect = mc_detect,
	.parse = mc_parse,
	.on_close = mc_on_close,
	.reset = mc_reset,
	.release = NULL,
};
