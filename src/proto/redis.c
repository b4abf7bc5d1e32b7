/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Redis parser: RESP2 and RESP3 (simple strings and errors, integers, bulk strings and
 * errors, arrays, maps, sets, pushes, attributes, nulls, booleans, doubles, big numbers,
 * verbatim strings) and inline commands.
 *
 * Each direction is a streaming walk over one value tree: lines (a type byte and what
 * follows up to CRLF) are read whole from the input, at most RD_LINE_MAX bytes, and bulk
 * payloads are consumed as they come, so a 500 MB value costs no memory: only a bounded
 * prefix of each request argument is copied, into the state, where the strings a message
 * reports live until it ends. Aggregates nest up to RD_MAX_DEPTH levels.
 *
 * Requests are arrays of bulk strings (or inline lines) on the side the role says sends
 * requests (the first side to speak when the role is unknown). request_type is the command
 * in upper case, with the subcommand for container commands ("CONFIG GET", "CLIENT
 * SETNAME"). request_resource is the command and its key(s): other arguments may be
 * values, and passwords (AUTH, HELLO) never show; PROTO_OPT_KEEP_VALUES keeps every
 * argument. Responses: errors ('-', '!') are server errors with their text as the
 * exception, as DeepFlow has it; simple replies (status, integer, double, boolean, big
 * number, null) are rendered into response_result; bulk replies only with
 * PROTO_OPT_KEEP_VALUES.
 *
 * Pub/sub: a message pushed to a subscriber (RESP2 "message"/"pmessage"/"smessage"
 * arrays, RESP3 '>' pushes) answers no request and is reported unsolicited. A SUBSCRIBE of
 * N channels gets N confirmations: the first answers it, the others are unsolicited.
 *
 * A capture gap inside a bulk payload counts against it; elsewhere the message is
 * reported truncated and the direction waits for an event that begins like a message.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto.h"

#define RD_LINE_MAX   4096
#define RD_MAX_DEPTH  16
#define RD_CMD_CAP    24
#define RD_RES_CAP    512
#define RD_ARG_CAP    128 /* bytes of one argument shown */
#define RD_RESULT_CAP 256
#define RD_FIRST_CAP  16
#define RD_SUB_FIFO   8
#define RD_PORT	      6379
#define RD_BULK_MAX   (1ull << 40)
#define RD_AGG_MAX    (1ll << 31)

enum rd_phase {
	RP_IDLE = 0, /* the next byte begins a message */
	RP_IN,	     /* inside a message */
	RP_RESYNC,   /* waiting for an event that begins like a message */
};

/* How a request's arguments show in request_resource. */
enum rd_keys {
	K_FIRST = 0, /* the first argument (the key) */
	K_NONE,	     /* none: AUTH, HELLO, ECHO, PING */
	K_ALL,	     /* every argument is a key or a channel */
	K_EVERY2,    /* MSET: the 1st, 3rd, ... */
	K_SUB_FIRST, /* container: subcommand, then its first argument */
};

struct rd_dir {
	uint8_t phase;
	uint8_t depth;
	bool truncated;
	bool inline_req;
	uint8_t top;		   /* type byte of the top-level value */
	uint8_t kind;		   /* PROTO_MSG_* */
	uint8_t agg[RD_MAX_DEPTH]; /* type byte of each open aggregate */
	int64_t left[RD_MAX_DEPTH];
	uint64_t bulk_left; /* payload bytes + CRLF still to come in the current bulk */
	bool bulk_is_err;   /* '!' */
	uint32_t elem;	    /* index of the current element of the top-level aggregate */
	uint64_t start_ts;
	uint32_t seq;
	uint64_t length;
	/* The command name is whole (cmd_done ran): a request cut inside it (capture limit,
	 * close) reports no command rather than the part seen. */
	bool cmd_known;
	/* request text */
	uint8_t keys; /* enum rd_keys */
	bool keep;
	uint8_t chan_elem; /* pub/sub push: the element last copied into res */
	uint8_t cmd_len, sub_len;
	char cmd[RD_CMD_CAP];
	char sub[RD_CMD_CAP];
	uint32_t arg_shown; /* bytes of the current argument copied */
	bool arg_on;	    /* the current argument shows */
	uint16_t res_len;
	char res[RD_RES_CAP];
	char method[2 * RD_CMD_CAP];
	/* response text */
	uint16_t result_len, exc_len;
	char result[RD_RESULT_CAP];
	char exc[RD_RESULT_CAP];
	uint8_t first_len;
	char first[RD_FIRST_CAP]; /* first element of a top-level aggregate, lower case */
	int64_t third;		  /* third element when an integer (subscription count) */
};

struct rd_state {
	struct rd_dir dir[2];
	bool req_dir_known;
	uint8_t req_dir;
	/* pub/sub: confirmations expected per SUBSCRIBE-family request, oldest first */
	uint8_t sub_n;
	uint32_t sub_fifo[RD_SUB_FIFO];
	uint32_t confirm_left;
	bool confirm_until_zero;
};

static const char *const known_cmds[] = {
	"APPEND",	 "AUTH",      "BLPOP",	      "BRPOP",	      "BZPOPMIN",    "CLIENT",
	"CLUSTER",	 "COMMAND",   "CONFIG",	      "COPY",	      "DBSIZE",	     "DECR",
	"DECRBY",	 "DEL",	      "DISCARD",      "DUMP",	      "ECHO",	     "EVAL",
	"EVALSHA",	 "EXEC",      "EXISTS",	      "EXPIRE",	      "EXPIREAT",    "FLUSHALL",
	"FLUSHDB",	 "GEOADD",    "GEOPOS",	      "GET",	      "GETDEL",	     "GETEX",
	"GETRANGE",	 "GETSET",    "HDEL",	      "HELLO",	      "HEXISTS",     "HGET",
	"HGETALL",	 "HINCRBY",   "HKEYS",	      "HLEN",	      "HMGET",	     "HMSET",
	"HSCAN",	 "HSET",      "HSETNX",	      "HVALS",	      "INCR",	     "INCRBY",
	"INFO",		 "KEYS",      "LINDEX",	      "LLEN",	      "LPOP",	     "LPUSH",
	"LRANGE",	 "LREM",      "LSET",	      "LTRIM",	      "MGET",	     "MONITOR",
	"MSET",		 "MSETNX",    "MULTI",	      "OBJECT",	      "PERSIST",     "PEXPIRE",
	"PFADD",	 "PFCOUNT",   "PING",	      "PSETEX",	      "PSUBSCRIBE",  "PTTL",
	"PUBLISH",	 "PUBSUB",    "PUNSUBSCRIBE", "QUIT",	      "RENAME",	     "RPOP",
	"RPUSH",	 "SADD",      "SCAN",	      "SCARD",	      "SCRIPT",	     "SDIFF",
	"SELECT",	 "SET",	      "SETEX",	      "SETNX",	      "SINTER",	     "SISMEMBER",
	"SMEMBERS",	 "SPOP",      "SREM",	      "SSCAN",	      "STRLEN",	     "SUBSCRIBE",
	"SUNION",	 "TIME",      "TTL",	      "TYPE",	      "UNLINK",	     "UNSUBSCRIBE",
	"UNWATCH",	 "WATCH",     "XADD",	      "XLEN",	      "XRANGE",	     "XREAD",
	"ZADD",		 "ZCARD",     "ZINCRBY",      "ZRANGE",	      "ZRANK",	     "ZREM",
	"ZSCORE",	 "FUNCTION",  "FCALL",	      "MEMORY",	      "ACL",	     "LATENCY",
	"SLOWLOG",	 "XGROUP",    "XINFO",	      "XREADGROUP",   "XACK",	     "SSUBSCRIBE",
	"SUNSUBSCRIBE",	 "SPUBLISH",  "RESET",	      "SAVE",	      "BGSAVE",	     "LASTSAVE",
	"SHUTDOWN",	 "RANDOMKEY", "MOVE",	      "SORT",	      "TOUCH",	     "WAIT",
	"ROLE",		 "REPLICAOF", "SLAVEOF",      "SYNC",	      "PSYNC",	     "READONLY",
	"READWRITE",	 "ASKING",    "LMOVE",	      "LPOS",	      "LPUSHX",	     "RPUSHX",
	"RPOPLPUSH",	 "BLMOVE",    "INCRBYFLOAT",  "HINCRBYFLOAT", "ZCOUNT",	     "ZREVRANGE",
	"ZRANGEBYSCORE", "ZPOPMIN",   "ZPOPMAX",      "SMOVE",	      "SRANDMEMBER", "SETRANGE",
	"SETBIT",	 "GETBIT",    "BITCOUNT",     "BITOP",	      "BITFIELD",    "GEODIST",
	"GEORADIUS",	 "GEOSEARCH", "PFMERGE",      "EXPIRETIME",   "OBJECT",
};

static const char *const container_cmds[] = {
	"ACL",	  "CLIENT", "CLUSTER", "COMMAND", "CONFIG",  "FUNCTION", "LATENCY", "MEMORY",
	"MODULE", "OBJECT", "PUBSUB",  "SCRIPT",  "SLOWLOG", "XGROUP",	 "XINFO",
};

static const char *const all_key_cmds[] = {
	"DEL",	 "EXISTS", "MGET",	  "PFCOUNT",   "PSUBSCRIBE", "PUNSUBSCRIBE",
	"SDIFF", "SINTER", "SSUBSCRIBE",  "SUBSCRIBE", "SUNION",     "SUNSUBSCRIBE",
	"TOUCH", "UNLINK", "UNSUBSCRIBE", "WATCH",
};

static const char *const no_arg_cmds[] = { "AUTH", "HELLO", "ECHO", "PING" };

static bool in_list(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

#define IN_LIST(l, s) in_list((l), sizeof(l) / sizeof((l)[0]), (s))

static bool is_sub_cmd(const char *c)
{
	return !strcmp(c, "SUBSCRIBE") || !strcmp(c, "PSUBSCRIBE") || !strcmp(c, "SSUBSCRIBE") ||
	       !strcmp(c, "UNSUBSCRIBE") || !strcmp(c, "PUNSUBSCRIBE") ||
	       !strcmp(c, "SUNSUBSCRIBE");
}

static bool is_resp_type(uint8_t c)
{
	return c && strchr("+-:$*_,#!=(%~>|", c) != NULL;
}

static bool is_agg(uint8_t c)
{
	return c == '*' || c == '%' || c == '~' || c == '>' || c == '|';
}

/* ---- text helpers ------------------------------------------------------------------ */

static void put_res(struct rd_dir *d, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && d->res_len < RD_RES_CAP; i++) {
		uint8_t c = p[i];

		d->res[d->res_len++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
}

static void put_text(char *buf, uint16_t *len, size_t cap, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && *len < cap; i++) {
		uint8_t c = p[i];

		buf[(*len)++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
}

static void put_cstr(char *buf, uint16_t *len, size_t cap, const char *s)
{
	put_text(buf, len, cap, (const uint8_t *)s, strlen(s));
}

/* ---- message lifecycle ------------------------------------------------------------- */

static void dir_clear(struct rd_dir *d)
{
	uint8_t phase = d->phase;

	memset(d, 0, offsetof(struct rd_dir, cmd));
	d->phase = phase;
	d->res_len = d->result_len = d->exc_len = 0;
	d->first_len = 0;
	d->third = -1;
	d->cmd[0] = d->sub[0] = d->method[0] = 0;
}

static bool dir_is_req(const struct rd_state *s, enum proto_dir dir)
{
	return s->req_dir == (uint8_t)dir;
}

/* The request's arguments so far decide how the next one shows. */
static void arg_begin(struct rd_dir *d)
{
	uint32_t i = d->elem; /* 0 is the command */

	d->arg_shown = 0;
	d->arg_on = false;
	if (i == 0)
		return;
	if (d->keep) {
		d->arg_on = true;
	} else {
		switch (d->keys) {
		case K_NONE: break;
		case K_ALL: d->arg_on = true; break;
		case K_EVERY2: d->arg_on = (i % 2) == 1; break;
		case K_SUB_FIRST: d->arg_on = i <= 2; break;
		default: d->arg_on = i == 1; break;
		}
	}
	if (d->keys == K_SUB_FIRST && i == 1)
		d->arg_on = true; /* the subcommand */
	if (d->arg_on && d->res_len < RD_RES_CAP)
		d->res[d->res_len++] = ' ';
}

/* The command name is complete: classify it. */
static void cmd_done(struct rd_dir *d)
{
	for (uint8_t i = 0; i < d->cmd_len; i++)
		if (d->cmd[i] >= 'a' && d->cmd[i] <= 'z')
			d->cmd[i] = (char)(d->cmd[i] - 'a' + 'A');
	d->cmd[d->cmd_len] = 0;
	d->cmd_known = true;
	d->res_len = 0;
	put_cstr(d->res, &d->res_len, RD_RES_CAP, d->cmd);
	if (IN_LIST(container_cmds, d->cmd))
		d->keys = K_SUB_FIRST;
	else if (IN_LIST(no_arg_cmds, d->cmd))
		d->keys = K_NONE;
	else if (IN_LIST(all_key_cmds, d->cmd))
		d->keys = K_ALL;
	else if (!strcmp(d->cmd, "MSET") || !strcmp(d->cmd, "MSETNX"))
		d->keys = K_EVERY2;
	else
		d->keys = K_FIRST;
}

/* Bytes of a request argument (piece of a bulk payload or inline word). */
static void arg_bytes(struct rd_dir *d, const uint8_t *p, size_t n)
{
	if (d->elem == 0) {
		for (size_t i = 0; i < n && d->cmd_len < RD_CMD_CAP - 1; i++)
			d->cmd[d->cmd_len++] = (char)p[i];
		return;
	}
	if (d->keys == K_SUB_FIRST && d->elem == 1) {
		for (size_t i = 0; i < n && d->sub_len < RD_CMD_CAP - 1; i++) {
			char c = (char)p[i];

			d->sub[d->sub_len++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
		}
		d->sub[d->sub_len] = 0;
		put_res(d, p, n); /* as written; request_type has it upper-cased */
		return;
	}
	if (!d->arg_on)
		return;
	if (d->arg_shown < RD_ARG_CAP) {
		size_t k = n < RD_ARG_CAP - d->arg_shown ? n : RD_ARG_CAP - d->arg_shown;

		put_res(d, p, k);
		d->arg_shown += (uint32_t)k;
	}
}

static void arg_end(struct rd_dir *d)
{
	if (d->elem == 0)
		cmd_done(d);
}

static void emit_msg(struct rd_state *s, struct rd_dir *d, enum proto_dir dir, uint64_t end_ts,
		     uint32_t flags, proto_emit_fn emit, void *ctx, struct proto_stats *st)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = d->kind;
	m.dir = dir;
	m.flags = flags | (d->truncated ? PROTO_MSG_F_TRUNCATED : 0);
	m.start_ts = d->start_ts;
	m.end_ts = end_ts < d->start_ts ? d->start_ts : end_ts;
	m.tcp_seq = d->seq;
	m.length = d->length ? d->length : 1;
	m.code = -1;
	if (d->kind == PROTO_MSG_REQUEST) {
		size_t ml = 0;

		/* Unknown command: cmd holds the part seen, over the previous command's bytes. */
		if (d->cmd_known) {
			ml = (size_t)snprintf(d->method, sizeof(d->method), "%s%s%s", d->cmd,
					      d->keys == K_SUB_FIRST && d->sub_len ? " " : "",
					      d->keys == K_SUB_FIRST ? d->sub : "");
			if (ml >= sizeof(d->method))
				ml = sizeof(d->method) - 1;
			m.method = (struct proto_str){ d->method, (uint32_t)ml };
			m.resource = (struct proto_str){ d->res, d->res_len };
		}
		/* pub/sub: how many confirmations this request will get */
		if (d->cmd_known && is_sub_cmd(d->cmd) && s->sub_n < RD_SUB_FIFO)
			s->sub_fifo[s->sub_n++] = d->elem; /* arguments: channels; 0: all */
	} else {
		/* A pub/sub push names its kind and channel (a record of it alone shows them). */
		if (d->res_len) {
			m.method = (struct proto_str){ d->first, d->first_len };
			m.resource = (struct proto_str){ d->res, d->res_len };
		}
		m.status = PROTO_STATUS_OK;
		if (d->exc_len) {
			m.status = PROTO_STATUS_SERVER_ERROR;
			m.exception = (struct proto_str){ d->exc, d->exc_len };
		}
		m.result = (struct proto_str){ d->result, d->result_len };
	}
	st->messages++;
	if (m.flags & PROTO_MSG_F_TRUNCATED)
		st->truncated++;
	emit(ctx, &m);
}

/* A whole response: is it a pub/sub push, a confirmation, or an answer? */
static uint32_t response_flags(struct rd_state *s, struct rd_dir *d)
{
	bool confirm;

	if (!is_agg(d->top) || d->top == '|')
		return 0;
	if (d->first_len == 7 && !memcmp(d->first, "message", 7))
		return PROTO_MSG_F_UNSOLICITED;
	if ((d->first_len == 8 && !memcmp(d->first, "pmessage", 8)) ||
	    (d->first_len == 8 && !memcmp(d->first, "smessage", 8)))
		return PROTO_MSG_F_UNSOLICITED;
	confirm = (d->first_len == 9 && !memcmp(d->first, "subscribe", 9)) ||
		  (d->first_len == 10 &&
		   (!memcmp(d->first, "psubscribe", 10) || !memcmp(d->first, "ssubscribe", 10))) ||
		  (d->first_len == 11 && !memcmp(d->first, "unsubscribe", 11)) ||
		  (d->first_len == 12 && (!memcmp(d->first, "punsubscribe", 12) ||
					  !memcmp(d->first, "sunsubscribe", 12)));
	if (!confirm)
		return d->top == '>' ? PROTO_MSG_F_UNSOLICITED : 0;
	if (s->confirm_left) {
		s->confirm_left--;
		return PROTO_MSG_F_UNSOLICITED;
	}
	if (s->confirm_until_zero) {
		if (d->third == 0)
			s->confirm_until_zero = false;
		return PROTO_MSG_F_UNSOLICITED;
	}
	if (!s->sub_n)
		return PROTO_MSG_F_UNSOLICITED; /* its request was not seen */
	{
		uint32_t n = s->sub_fifo[0];

		memmove(&s->sub_fifo[0], &s->sub_fifo[1], (s->sub_n - 1) * sizeof(s->sub_fifo[0]));
		s->sub_n--;
		if (n > 1)
			s->confirm_left = n - 1;
		else if (n == 0 && d->third > 0)
			s->confirm_until_zero = true;
	}
	return 0;
}

static void msg_done(struct rd_state *s, struct rd_dir *d, enum proto_dir dir, uint64_t end_ts,
		     proto_emit_fn emit, void *ctx, struct proto_stats *st)
{
	uint32_t flags = 0;

	if (d->kind == PROTO_MSG_RESPONSE)
		flags = response_flags(s, d);
	emit_msg(s, d, dir, end_ts, flags, emit, ctx, st);
	dir_clear(d);
	d->phase = RP_IDLE;
}

/* ---- line parsing ------------------------------------------------------------------ */

/* Signed decimal in p[0..n). */
static bool parse_int(const uint8_t *p, size_t n, int64_t *out)
{
	int64_t v = 0;
	bool neg = false;
	size_t i = 0;

	if (n && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i == n || n - i > 18)
		return false;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = neg ? -v : v;
	return true;
}

/* An element at depth ended: pop finished aggregates. Returns true when the top-level value
 * (the message) is complete. */
static bool elem_done(struct rd_dir *d)
{
	for (;;) {
		if (d->depth == 0)
			return true;
		if (--d->left[d->depth - 1] > 0) {
			if (d->depth == 1)
				d->elem++;
			return false;
		}
		d->depth--;
		/* An attribute precedes the value it describes: it does not count. */
		if (d->agg[d->depth] == '|') {
			if (d->depth == 0) {
				d->top = 0;
				d->first_len = 0;
				d->third = -1;
				return false;
			}
			d->left[d->depth - 1]++;
			continue;
		}
		if (d->depth == 0)
			return true;
	}
}

/* A pub/sub push or confirmation ("message", "pmessage", "smessage", "subscribe", ...):
 * its first element, lower case, names the kind. */
static bool is_pubsub_kind(const struct rd_dir *d)
{
	static const char *const kinds[] = {
		"message",    "pmessage",    "smessage",     "subscribe",    "psubscribe",
		"ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (d->first_len == strlen(kinds[i]) && !memcmp(d->first, kinds[i], d->first_len))
			return true;
	}
	return false;
}

/*
 * A response's bulk element at depth 1: in a pub/sub push, the channel (element 1; for
 * "pmessage" the pattern, then the channel, element 2) goes into res, after the kind:
 * "message news", "pmessage n* news". A message's payload is a value and never kept here.
 */
static void note_channel(struct rd_dir *d, const uint8_t *p, size_t n)
{
	if (!(d->elem == 1 ||
	      (d->elem == 2 && d->first_len == 8 && !memcmp(d->first, "pmessage", 8))) ||
	    !is_pubsub_kind(d))
		return;
	if (d->chan_elem != d->elem) {
		if (!d->res_len)
			put_res(d, (const uint8_t *)d->first, d->first_len);
		put_res(d, (const uint8_t *)" ", 1);
		d->chan_elem = (uint8_t)d->elem;
	}
	put_res(d, p, n);
}

/* The simple text of a top-level or first-level element, for results and pub/sub. */
static void note_simple(struct rd_dir *d, uint8_t type, const uint8_t *p, size_t n, bool keep)
{
	if (d->depth == 0) {
		if (type == '-') {
			put_text(d->exc, &d->exc_len, RD_RESULT_CAP, p, n);
			return;
		}
		if (type == '$' || type == '=') {
			if (keep)
				put_text(d->result, &d->result_len, RD_RESULT_CAP, p, n);
			return;
		}
		put_text(d->result, &d->result_len, RD_RESULT_CAP, p, n);
		return;
	}
	if (d->depth == 1 && d->elem == 0) {
		for (size_t i = 0; i < n && d->first_len < RD_FIRST_CAP; i++) {
			uint8_t c = p[i];

			d->first[d->first_len++] =
				(char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
		}
	}
}

/*
 * One line of a response or array-form request at data[p..e) (e: the CR). Returns 1 when
 * the message completed, 0 to go on, -1 on error.
 */
static int take_line(struct rd_state *s, struct rd_dir *d, bool req, const uint8_t *l, size_t n,
		     bool keep)
{
	uint8_t t = l[0];
	int64_t v;

	(void)s;
	if (req && d->depth == 0 && t != '*')
		return -1;
	if (req && d->depth > 0 && t != '$')
		return -1;
	if (d->depth == 0 && !d->top)
		d->top = t;
	switch (t) {
	case '+':
	case '-':
	case ',':
	case '(': note_simple(d, t, l + 1, n - 1, keep); return elem_done(d);
	case ':':
		if (!parse_int(l + 1, n - 1, &v))
			return -1;
		if (d->depth == 1 && d->elem == 2)
			d->third = v;
		note_simple(d, t, l + 1, n - 1, keep);
		return elem_done(d);
	case '#':
		if (n != 2 || (l[1] != 't' && l[1] != 'f'))
			return -1;
		if (d->depth == 0)
			put_cstr(d->result, &d->result_len, RD_RESULT_CAP,
				 l[1] == 't' ? "true" : "false");
		return elem_done(d);
	case '_':
		if (n != 1)
			return -1;
		if (d->depth == 0)
			put_cstr(d->result, &d->result_len, RD_RESULT_CAP, "NULL");
		return elem_done(d);
	case '$':
	case '!':
	case '=':
		if (!parse_int(l + 1, n - 1, &v) || v < -1 || v > (int64_t)RD_BULK_MAX)
			return -1;
		if (v == -1) {
			if (d->depth == 0)
				put_cstr(d->result, &d->result_len, RD_RESULT_CAP, "NULL");
			if (req)
				arg_end(d);
			return elem_done(d);
		}
		d->bulk_left = (uint64_t)v + 2;
		d->bulk_is_err = t == '!';
		if (req)
			arg_begin(d);
		return 0;
	case '*':
	case '%':
	case '~':
	case '>':
	case '|':
		if (!parse_int(l + 1, n - 1, &v) || v < -1 || v > RD_AGG_MAX)
			return -1;
		if (req && v < 1)
			return -1;
		if (v == -1 || v == 0) {
			if (v == -1 && d->depth == 0)
				put_cstr(d->result, &d->result_len, RD_RESULT_CAP, "NULL");
			if (t == '|' && d->depth == 0) {
				d->top = 0;
				return 0;
			}
			return elem_done(d);
		}
		if (d->depth == RD_MAX_DEPTH)
			return -1;
		if (t == '%' || t == '|')
			v *= 2;
		d->agg[d->depth] = t;
		d->left[d->depth] = v;
		d->depth++;
		if (d->depth == 1)
			d->elem = 0;
		return 0;
	default: return -1;
	}
}

/* An inline command line l[0..n): words split by spaces. */
static void take_inline(struct rd_dir *d, const uint8_t *l, size_t n)
{
	size_t i = 0;

	d->elem = 0;
	while (i < n) {
		size_t j;

		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		if (i == n)
			break;
		j = i;
		while (j < n && l[j] != ' ' && l[j] != '\t')
			j++;
		arg_begin(d);
		arg_bytes(d, l + i, j - i);
		arg_end(d);
		d->elem++;
		i = j;
	}
	if (d->elem)
		d->elem--; /* the index of the last word, as for the array form */
}

/* Does an event begin like a message of this direction? */
static bool looks_like_start(const uint8_t *p, size_t n, bool req)
{
	if (!n)
		return false;
	if (req) {
		if (p[0] == '*')
			return n < 2 || (p[1] >= '1' && p[1] <= '9');
		return (p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z');
	}
	return is_resp_type(p[0]);
}

/* ---- the walk ---------------------------------------------------------------------- */

static int rd_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		    struct proto_stats *st)
{
	struct rd_state *s = state;
	struct rd_dir *d;
	size_t p = 0, len = in->len;
	bool req, keep = in->ctx && (in->ctx->opts & PROTO_OPT_KEEP_VALUES);
	uint64_t gap = in->gap;

	if (in->dir != PROTO_DIR_EGRESS && in->dir != PROTO_DIR_INGRESS) {
		st->parse_errors++;
		return PROTO_ERROR;
	}
	if (len && (!in->data || !in->segs || !in->nsegs)) {
		st->parse_errors++;
		return PROTO_ERROR;
	}
	if (!s->req_dir_known) {
		uint8_t role = in->ctx ? in->ctx->role : PROTO_ROLE_UNKNOWN;

		if (role == PROTO_ROLE_CLIENT)
			s->req_dir = PROTO_DIR_EGRESS;
		else if (role == PROTO_ROLE_SERVER)
			s->req_dir = PROTO_DIR_INGRESS;
		else if (len)
			s->req_dir = (uint8_t)in->dir; /* the client speaks first */
		else
			return 0;
		s->req_dir_known = true;
	}
	d = &s->dir[in->dir];
	req = dir_is_req(s, in->dir);
	if (d->phase == RP_RESYNC) {
		size_t e = in->event_start;

		if (e < len && looks_like_start(in->data + e, len - e, req)) {
			d->phase = RP_IDLE;
			st->resyncs++;
			p = e;
		} else {
			return (int)len;
		}
	}
	while (p < len) {
		const struct proto_seg *g;

		if (d->phase == RP_IN && d->bulk_left) {
			size_t k = len - p;
			uint64_t pay;

			if (k > d->bulk_left)
				k = (size_t)d->bulk_left;
			/* payload bytes of this piece (the last two of a bulk are its CRLF) */
			pay = d->bulk_left > 2 ? d->bulk_left - 2 : 0;
			if (pay > k)
				pay = k;
			if (req)
				arg_bytes(d, in->data + p, (size_t)pay);
			else if (d->depth == 0 && (keep || d->bulk_is_err))
				put_text(d->bulk_is_err ? d->exc : d->result,
					 d->bulk_is_err ? &d->exc_len : &d->result_len,
					 RD_RESULT_CAP, in->data + p, (size_t)pay);
			else if (d->depth == 1 && d->elem == 0)
				note_simple(d, '$', in->data + p, (size_t)pay, keep);
			else if (d->depth == 1)
				note_channel(d, in->data + p, (size_t)pay);
			for (size_t i = (size_t)pay; i < k; i++) {
				uint8_t want = (d->bulk_left - i == 2) ? '\r' : '\n';

				if (in->data[p + i] != want)
					goto bad;
			}
			d->bulk_left -= k;
			d->length += k;
			p += k;
			if (!d->bulk_left) {
				if (req)
					arg_end(d);
				if (elem_done(d)) {
					g = proto_input_locate(in, p - 1);
					msg_done(s, d, in->dir, g ? g->ts_end : 0, emit, ctx, st);
				}
			}
			continue;
		}
		{
			const uint8_t *l = in->data + p;
			size_t avail = len - p, n;
			const uint8_t *cr =
				memchr(l, '\n', avail < RD_LINE_MAX ? avail : RD_LINE_MAX);
			int r;

			if (!cr) {
				if (avail >= RD_LINE_MAX)
					goto bad;
				break; /* the line continues in bytes to come */
			}
			n = (size_t)(cr - l) + 1;
			if (n < 2 || l[n - 2] != '\r') {
				/* Inline commands may end with a bare LF. */
				if (!(req && d->phase == RP_IDLE && n >= 2 && l[0] != '*'))
					goto bad;
			}
			if (d->phase == RP_IDLE) {
				g = proto_input_locate(in, p);
				dir_clear(d);
				d->phase = RP_IN;
				d->kind = req ? PROTO_MSG_REQUEST : PROTO_MSG_RESPONSE;
				d->keep = keep;
				d->start_ts = g ? g->ts_start : 0;
				d->seq = proto_input_seq_at(in, p);
				if (req && l[0] != '*') {
					size_t w = n - 1 - (l[n - 2] == '\r');

					if (!w || !((l[0] >= 'A' && l[0] <= 'Z') ||
						    (l[0] >= 'a' && l[0] <= 'z')))
						goto bad;
					d->inline_req = true;
					take_inline(d, l, w);
					d->length = n;
					p += n;
					g = proto_input_locate(in, p - 1);
					msg_done(s, d, in->dir, g ? g->ts_end : 0, emit, ctx, st);
					continue;
				}
			}
			if (n < 3)
				goto bad;
			r = take_line(s, d, req, l, n - 2, keep);
			if (r < 0)
				goto bad;
			d->length += n;
			p += n;
			if (r == 1) {
				g = proto_input_locate(in, p - 1);
				msg_done(s, d, in->dir, g ? g->ts_end : 0, emit, ctx, st);
			}
		}
	}
	if (gap) {
		/* The bytes that were not captured: a bulk payload absorbs them; anything else
		 * leaves the message's end unknown. */
		if (p < len) {
			/* an incomplete line cut by the gap */
			d->length += len - p;
			p = len;
			if (d->phase == RP_IN) {
				d->truncated = true;
				d->length += gap;
				msg_done(s, d, in->dir, proto_input_locate(in, len - 1)->ts_end,
					 emit, ctx, st);
			}
			d->phase = RP_RESYNC;
		} else if (d->phase == RP_IN && d->bulk_left && gap <= d->bulk_left) {
			d->bulk_left -= gap;
			d->length += gap;
			if (!d->bulk_left) {
				const struct proto_seg *g =
					len ? proto_input_locate(in, len - 1) : NULL;

				if (req)
					arg_end(d);
				if (elem_done(d))
					msg_done(s, d, in->dir, g ? g->ts_end : d->start_ts, emit,
						 ctx, st);
			}
		} else {
			if (d->phase == RP_IN) {
				const struct proto_seg *g =
					len ? proto_input_locate(in, len - 1) : NULL;

				d->truncated = true;
				d->length += d->bulk_left;
				msg_done(s, d, in->dir, g ? g->ts_end : d->start_ts, emit, ctx, st);
			}
			d->phase = RP_RESYNC;
		}
	}
	return (int)p;
bad:
	st->parse_errors++;
	dir_clear(d);
	d->phase = RP_RESYNC;
	return PROTO_ERROR;
}

static void rd_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			struct proto_stats *st)
{
	struct rd_state *s = state;

	for (int i = 0; i < 2; i++) {
		struct rd_dir *d = &s->dir[i];

		if (d->phase == RP_IN && (d->cmd_len || d->kind == PROTO_MSG_RESPONSE) &&
		    d->length) {
			d->truncated = true;
			msg_done(s, d, (enum proto_dir)i, ts, emit, ctx, st);
		}
		dir_clear(d);
		d->phase = RP_IDLE;
	}
	s->sub_n = 0;
	s->confirm_left = 0;
	s->confirm_until_zero = false;
}

static void rd_reset(void *state, enum proto_dir dir)
{
	struct rd_state *s = state;

	if (dir != PROTO_DIR_EGRESS && dir != PROTO_DIR_INGRESS)
		return;
	dir_clear(&s->dir[dir]);
	s->dir[dir].phase = RP_RESYNC;
}

static bool letters(const uint8_t *p, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') || p[i] == '_' ||
		      p[i] == '.' || p[i] == '|' || p[i] == '-'))
			return false;
	return true;
}

static bool known(const uint8_t *p, size_t n)
{
	char c[RD_CMD_CAP];

	if (n >= sizeof(c))
		return false;
	for (size_t i = 0; i < n; i++)
		c[i] = (char)((p[i] >= 'a' && p[i] <= 'z') ? p[i] - 'a' + 'A' : p[i]);
	c[n] = 0;
	return IN_LIST(known_cmds, c);
}

static enum proto_detect rd_detect(const uint8_t *data, size_t len, enum proto_dir dir,
				   const struct proto_ctx *ctx)
{
	bool port = ctx && ctx->server_port == RD_PORT;
	size_t i = 1, j;
	int64_t v;

	if (ctx && ctx->l4_proto != 6)
		return PROTO_DETECT_NO;
	/* Requests only: a response seen first says too little. */
	if (ctx && ((ctx->role == PROTO_ROLE_CLIENT && dir != PROTO_DIR_EGRESS) ||
		    (ctx->role == PROTO_ROLE_SERVER && dir != PROTO_DIR_INGRESS)))
		return PROTO_DETECT_NO;
	if (len < 4)
		return PROTO_DETECT_NO;
	if (data[0] != '*') {
		/* inline: a known command then a space or the line end, on Redis's port */
		for (j = 0; j < len && j < RD_CMD_CAP && data[j] != ' ' && data[j] != '\r' &&
			    data[j] != '\n';
		     j++)
			;
		if (!port || j == len || !letters(data, j) || !known(data, j))
			return PROTO_DETECT_NO;
		/* an HTTP request line is not an inline command */
		for (size_t k = j; k + 5 <= len && k < 512 && data[k] != '\n'; k++)
			if (!memcmp(data + k, "HTTP/", 5))
				return PROTO_DETECT_NO;
		return PROTO_DETECT_MAYBE;
	}
	/* *<n>\r\n$<m>\r\n<command>\r\n */
	while (i < len && i < 12 && data[i] >= '0' && data[i] <= '9')
		i++;
	if (i == 1 || i + 1 >= len || data[i] != '\r' || data[i + 1] != '\n' ||
	    !parse_int(data + 1, i - 1, &v) || v < 1 || v > RD_AGG_MAX)
		return PROTO_DETECT_NO;
	i += 2;
	if (i >= len || data[i] != '$')
		return PROTO_DETECT_NO;
	j = ++i;
	while (i < len && i - j < 10 && data[i] >= '0' && data[i] <= '9')
		i++;
	if (i == j || i + 1 >= len || data[i] != '\r' || data[i + 1] != '\n' ||
	    !parse_int(data + j, i - j, &v) || v < 1 || v >= RD_CMD_CAP)
		return PROTO_DETECT_NO;
	i += 2;
	if (i + (size_t)v + 2 > len)
		return port ? PROTO_DETECT_MAYBE : PROTO_DETECT_NO;
	if (data[i + v] != '\r' || data[i + v + 1] != '\n' || !letters(data + i, (size_t)v))
		return PROTO_DETECT_NO;
	if (known(data + i, (size_t)v))
		return PROTO_DETECT_YES;
	return port ? PROTO_DETECT_MAYBE : PROTO_DETECT_NO;
}

const struct proto_ops proto_redis_ops = {
	.name = "Redis",
	.id = PROTO_REDIS,
	.state_size = sizeof(struct rd_state),
	.detect = rd_detect,
	.parse = rd_parse,
	.on_close = rd_on_close,
	.reset = rd_reset,
	.release = NULL,
};
