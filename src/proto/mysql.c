/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MySQL / MariaDB client-server protocol parser.
 *
 * Framing: every packet is a 3-byte little-endian length, a sequence id, then the payload;
 * a payload of exactly 0xffffff bytes continues in the next packet. After the handshake a
 * connection may switch to the compressed protocol: 7-byte headers (compressed length,
 * compressed sequence, uncompressed length; 0 = stored as is) around zlib streams that
 * carry the ordinary packets, which may span compressed packets.
 *
 * The parser is a push parser: it consumes every byte it is given, keeping what it needs
 * of each packet (its header and a bounded prefix of its payload) in its state, so result
 * sets of any size stream through in constant memory, and a compressed stream can feed the
 * same packet layer from a fixed inflate window. Per connection it follows the phases of
 * the protocol:
 * - handshake: the server greeting (capabilities), the client's login (capabilities,
 *   user, database; an SSL request makes the rest of the connection opaque), the
 *   authentication exchange until the server's OK or ERR. Nothing is reported for a
 *   successful handshake; a refused login is reported as one exchange.
 * - commands: a client packet with sequence id 0 is a command (its name is the request
 *   type); the server's answer is an OK, an ERR, or a result set (column count, column
 *   definitions, an EOF unless deprecated, rows, and an EOF/OK whose status may announce
 *   more results). Prepared statements: the OK of COM_STMT_PREPARE carries the statement
 *   id and is followed by parameter and column definitions; the SQL of each statement is
 *   remembered (a small table) so COM_STMT_EXECUTE reports it.
 *
 * Captures lose bytes: a gap inside a packet only shortens what is seen of it; a gap that
 * swallows a packet boundary loses the framing. The direction then waits for the next
 * capture event that begins like a packet of the kind it expects, and a response that was
 * under way is reported at once, as ok with a guessed length.
 */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "proto/proto.h"
#include "proto/proto_util.h"
#include "proto/sql_text.h"

#define MY_HDR		 4
#define MY_CHDR		 7
#define MY_MAX_PKT	 0xffffffu
#define MY_PRE_CAP	 1100 /* payload bytes kept of each packet */
#define MY_SQL_CAP	 1024 /* request_resource */
#define MY_ERR_CAP	 256  /* response_exception */
#define MY_USER_CAP	 160  /* "Login username: ... db: ..." */
#define MY_FIFO		 16
#define MY_NSTMT	 8
#define MY_STMT_SQL	 512
#define MY_INFLATE_CHUNK 4096

/* Capability flags. */
#define CAP_CONNECT_WITH_DB    0x00000008u
#define CAP_COMPRESS	       0x00000020u
#define CAP_PROTOCOL_41	       0x00000200u
#define CAP_SSL		       0x00000800u
#define CAP_SECURE_CONNECTION  0x00008000u
#define CAP_PLUGIN_AUTH_LENENC 0x00200000u
#define CAP_DEPRECATE_EOF      0x01000000u
#define CAP_QUERY_ATTRIBUTES   0x08000000u
#define STATUS_MORE_RESULTS    0x0008u

/* Commands. */
enum {
	COM_SLEEP = 0x00,
	COM_QUIT = 0x01,
	COM_INIT_DB = 0x02,
	COM_QUERY = 0x03,
	COM_FIELD_LIST = 0x04,
	COM_CREATE_DB = 0x05,
	COM_DROP_DB = 0x06,
	COM_STATISTICS = 0x09,
	COM_PROCESS_INFO = 0x0a,
	COM_CONNECT = 0x0b,
	COM_PING = 0x0e,
	COM_CHANGE_USER = 0x11,
	COM_BINLOG_DUMP = 0x12,
	COM_STMT_PREPARE = 0x16,
	COM_STMT_EXECUTE = 0x17,
	COM_STMT_SEND_LONG_DATA = 0x18,
	COM_STMT_CLOSE = 0x19,
	COM_STMT_RESET = 0x1a,
	COM_SET_OPTION = 0x1b,
	COM_STMT_FETCH = 0x1c,
	COM_BINLOG_DUMP_GTID = 0x1e,
	COM_MAX = 0x1f,
};

/* DeepFlow's request_type names, by command byte. */
static const char *const my_cmd_names[COM_MAX + 1] = {
	[0x01] = "COM_QUIT",
	[0x02] = "COM_INIT_DB",
	[0x03] = "COM_QUERY",
	[0x04] = "COM_FIELD_LIST",
	[0x05] = "COM_CREATE_DB",
	[0x06] = "COM_DROP_DB",
	[0x07] = "COM_REFRESH",
	[0x08] = "COM_SHUTDOWN",
	[0x09] = "COM_STATISTICS",
	[0x0a] = "COM_PROCESS_INFO",
	[0x0b] = "COM_CONNECT",
	[0x0c] = "COM_PROCESS_KILL",
	[0x0d] = "COM_DEBUG",
	[0x0e] = "COM_PING",
	[0x0f] = "COM_TIME",
	[0x10] = "COM_DELAYED_INSERT",
	[0x11] = "COM_CHANGE_USER",
	[0x12] = "COM_BINLOG_DUMP",
	[0x13] = "COM_TABLE_DUMP",
	[0x14] = "COM_CONNECT_OUT",
	[0x15] = "COM_REGISTER_SLAVE",
	[0x16] = "COM_STMT_PREPARE",
	[0x17] = "COM_STMT_EXECUTE",
	[0x18] = "COM_STMT_SEND_LONG_DATA",
	[0x19] = "COM_STMT_CLOSE",
	[0x1a] = "COM_STMT_RESET",
	[0x1b] = "COM_SET_OPTION",
	[0x1c] = "COM_STMT_FETCH",
	[0x1d] = "COM_DAEMON",
	[0x1e] = "COM_BINLOG_DUMP_GTID",
	[0x1f] = "COM_RESET_CONNECTION",
};

enum my_phase {
	MP_INIT = 0, /* nothing seen: the handshake or any command may come */
	MP_LOGIN,    /* greeting seen: the client's login comes next */
	MP_AUTH,     /* login seen: authentication until the server's OK or ERR */
	MP_CMD,	     /* command phase */
	MP_OPAQUE,   /* TLS or something we do not follow */
};

enum my_rstate {
	RS_FIRST = 0,  /* the next packet begins a result */
	RS_COLDEFS,    /* column definitions to come (defs_left) */
	RS_AFTER_DEFS, /* an EOF, the first row, or the end */
	RS_ROWS,       /* rows until EOF/OK/ERR */
	RS_PREP_DEFS,  /* parameter/column definitions after a prepare OK */
	RS_PREP_EOF,   /* an EOF may close a definition block */
	RS_WAIT_END,   /* only an OK or ERR ends it (LOCAL INFILE, change user) */
};

/* A logical packet as the semantic layer sees it. */
struct my_pkt {
	const uint8_t *pre; /* first pre_n payload bytes */
	uint32_t pre_n;
	uint64_t len; /* payload length (continuations included) */
	uint8_t seq;
	uint64_t start_ts, end_ts;
	uint32_t tcp_seq;
};

struct my_dir {
	/* compressed layer */
	void *zs; /* z_stream, allocated while compressed packets are inflated */
	uint8_t comp;
	uint8_t ch[MY_CHDR];
	uint8_t ch_n;
	uint8_t c_inflating; /* zs holds a live stream for the current packet */
	uint8_t c_broken;    /* the current compressed packet cannot be decoded */
	uint8_t clost;	     /* compressed framing lost: wait for a header at an event start */
	uint32_t c_left;     /* bytes of the current compressed packet still to come */
	uint32_t c_ulen;     /* its uncompressed length, 0: stored */
	uint32_t c_out;	     /* bytes inflated from it so far */
	uint64_t c_ts;	     /* where it began */
	uint32_t c_seq;
	/* packet layer */
	uint8_t ph[MY_HDR];
	uint8_t ph_n;
	uint8_t cont; /* the logical packet continues in the next one */
	uint8_t lost; /* framing lost: wait for a plausible packet start at an event start */
	uint8_t seen; /* any byte seen in this direction */
	uint8_t first_seq;
	uint32_t p_left;
	uint64_t lp_len;
	uint64_t p_start_ts, p_end_ts;
	uint32_t p_tcp_seq;
	uint32_t pre_n;
	uint8_t pre[MY_PRE_CAP];
};

struct my_stmt {
	uint32_t id;
	uint16_t len;
	uint8_t used;
	char sql[MY_STMT_SQL];
};

struct my_resp {
	uint8_t active;
	uint8_t state;
	uint8_t cmd;
	uint8_t has_rows;
	uint8_t has_id;
	uint8_t status;
	uint8_t blocks; /* prepare: definition blocks after this one */
	uint8_t pkts;
	uint8_t last_seq;
	uint32_t defs_left;
	uint32_t next_block;
	uint32_t id;
	int32_t code;
	uint64_t rows;
	uint64_t start_ts, end_ts;
	uint32_t tcp_seq;
	uint32_t flags;
	uint64_t length;
	uint16_t err_len;
	char err[MY_ERR_CAP];
};

struct my_conn {
	struct my_dir dir[2];
	uint8_t client_dir; /* 0 unknown, else 1 + index of the client's direction */
	uint8_t phase;
	uint8_t fifo[MY_FIFO]; /* commands waiting for their response */
	uint8_t fifo_head, fifo_count;
	uint8_t stmt_next;
	uint8_t framing_known;
	uint32_t server_caps, client_caps;
	uint8_t have_server_caps, have_client_caps;
	struct my_resp resp;
	/* the login, reported only if it is refused */
	uint8_t login_seen;
	uint16_t login_len;
	uint64_t login_start_ts, login_end_ts, login_length;
	uint32_t login_tcp_seq;
	char login[MY_USER_CAP];
	/* the SQL of the prepare waiting for its OK */
	uint16_t prep_len;
	uint8_t prep_valid;
	char prep_sql[MY_STMT_SQL];
	struct my_stmt stmts[MY_NSTMT];
	char text[MY_SQL_CAP];
};

/* One parse() call. */
struct my_run {
	struct my_conn *c;
	const struct proto_input *in;
	proto_emit_fn emit;
	void *ctx;
	struct proto_stats *st;
	int di;	    /* index of the direction being fed */
	bool plain; /* bytes come straight from the input (else from inflate) */
};

/* ---- helpers -------------------------------------------------------------------- */

static uint32_t le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le24(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static uint32_t le32(const uint8_t *p)
{
	return le24(p) | (uint32_t)p[3] << 24;
}

/* A length-encoded integer at p[*i] (within n); false if cut short or invalid. */
static bool lenenc(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
	size_t k, w;

	if (*i >= n)
		return false;
	switch (p[*i]) {
	case 0xfc: w = 2; break;
	case 0xfd: w = 3; break;
	case 0xfe: w = 8; break;
	case 0xfb:
	case 0xff: return false;
	default: *v = p[(*i)++]; return true;
	}
	if (*i + 1 + w > n)
		return false;
	*v = 0;
	for (k = 0; k < w; k++)
		*v |= (uint64_t)p[*i + 1 + k] << (8 * k);
	*i += 1 + w;
	return true;
}

static bool dir_is_client(const struct my_conn *c, int di)
{
	return c->client_dir == di + 1;
}

static void set_client_dir(struct my_conn *c, int di)
{
	if (!c->client_dir)
		c->client_dir = (uint8_t)(di + 1);
}

static struct proto_str pstr(const char *p, size_t n)
{
	struct proto_str s = { p, (uint32_t)n };

	if (!n)
		s.ptr = NULL;
	return s;
}

static bool known_command(uint8_t cmd)
{
	return cmd >= COM_QUIT && cmd <= COM_MAX && my_cmd_names[cmd];
}

static uint8_t status_of_error(uint32_t code)
{
	/* DeepFlow: 2000-2999 are client library errors; the rest come from the server. */
	return code >= 2000 && code <= 2999 ? PROTO_STATUS_CLIENT_ERROR : PROTO_STATUS_SERVER_ERROR;
}

/* ---- statements ------------------------------------------------------------------ */

static struct my_stmt *stmt_find(struct my_conn *c, uint32_t id)
{
	for (int i = 0; i < MY_NSTMT; i++) {
		if (c->stmts[i].used && c->stmts[i].id == id)
			return &c->stmts[i];
	}
	return NULL;
}

static void stmt_put(struct my_conn *c, uint32_t id, const char *sql, size_t len)
{
	struct my_stmt *s = stmt_find(c, id);
	int i;

	if (!s) {
		for (i = 0; i < MY_NSTMT && c->stmts[i].used; i++)
			;
		if (i == MY_NSTMT) {
			/* full: replace in turn, the oldest first */
			i = c->stmt_next;
			c->stmt_next = (uint8_t)((c->stmt_next + 1) % MY_NSTMT);
		}
		s = &c->stmts[i];
	}
	if (len > MY_STMT_SQL)
		len = MY_STMT_SQL;
	s->used = 1;
	s->id = id;
	s->len = (uint16_t)len;
	memcpy(s->sql, sql, len);
}

static void stmt_drop(struct my_conn *c, uint32_t id)
{
	struct my_stmt *s = stmt_find(c, id);

	if (s)
		s->used = 0;
}

/* ---- messages ------------------------------------------------------------------- */

static void fifo_push(struct my_conn *c, uint8_t cmd)
{
	if (c->fifo_count == MY_FIFO) {
		c->fifo_head = (uint8_t)((c->fifo_head + 1) % MY_FIFO);
		c->fifo_count--;
	}
	c->fifo[(c->fifo_head + c->fifo_count) % MY_FIFO] = cmd;
	c->fifo_count++;
}

static int fifo_pop(struct my_conn *c)
{
	uint8_t cmd;

	if (!c->fifo_count)
		return -1;
	cmd = c->fifo[c->fifo_head];
	c->fifo_head = (uint8_t)((c->fifo_head + 1) % MY_FIFO);
	c->fifo_count--;
	return cmd;
}

static void emit_out(struct my_run *r, struct proto_msg *m)
{
	if (r->emit)
		r->emit(r->ctx, m);
	r->st->messages++;
}

static void resp_finish(struct my_run *r)
{
	struct my_conn *c = r->c;
	struct my_resp *s = &c->resp;
	struct proto_msg m;

	if (!s->active)
		return;
	memset(&m, 0, sizeof(m));
	m.kind = PROTO_MSG_RESPONSE;
	m.dir = c->client_dir == 1 ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
	if (!c->client_dir)
		m.dir = r->di ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
	m.flags = s->flags;
	m.start_ts = s->start_ts;
	m.end_ts = s->end_ts < s->start_ts ? s->start_ts : s->end_ts;
	m.tcp_seq = s->tcp_seq;
	m.length = s->length;
	m.code = s->code;
	m.status = s->status;
	m.exception = pstr(s->err, s->err_len);
	m.has_affected_rows = s->has_rows;
	m.affected_rows = s->rows;
	m.has_request_id = s->has_id;
	m.request_id = s->id;
	emit_out(r, &m);
	memset(s, 0, offsetof(struct my_resp, err));
}

/* A response under way loses its framing: report it as it stands. */
static void resp_cut(struct my_run *r)
{
	if (!r->c->resp.active)
		return;
	r->c->resp.flags |= PROTO_MSG_F_LEN_GUESSED;
	resp_finish(r);
}

static void resp_begin(struct my_run *r, const struct my_pkt *p, int cmd)
{
	struct my_resp *s = &r->c->resp;

	memset(s, 0, offsetof(struct my_resp, err));
	s->active = 1;
	s->cmd = (uint8_t)(cmd < 0 ? COM_QUERY : cmd);
	s->state = RS_FIRST;
	s->code = -1;
	s->status = PROTO_STATUS_OK;
	s->start_ts = p->start_ts;
	s->tcp_seq = p->tcp_seq;
}

static void resp_error(struct my_run *r, const struct my_pkt *p)
{
	struct my_resp *s = &r->c->resp;
	size_t off = 3, n;
	uint32_t code;

	if (p->pre_n < 3) {
		s->status = PROTO_STATUS_SERVER_ERROR;
		return;
	}
	code = le16(p->pre + 1);
	s->code = (int32_t)code;
	s->status = status_of_error(code);
	/* "#" and a five-character SQLSTATE precede the message (protocol 4.1) */
	if (p->pre_n >= 9 && p->pre[3] == '#')
		off = 9;
	n = p->pre_n > off ? p->pre_n - off : 0;
	if (n > MY_ERR_CAP)
		n = MY_ERR_CAP;
	memcpy(s->err, p->pre + off, n);
	s->err_len = (uint16_t)n;
}

/* The status flags of an OK packet (header 0x00 or 0xfe) or of a 5-byte EOF. */
static uint32_t ok_status(const struct my_pkt *p, uint64_t *affected, bool *has_affected)
{
	size_t i = 1;
	uint64_t rows = 0, id;

	*has_affected = false;
	if (p->pre[0] == 0xfe && p->len <= 5)
		return p->pre_n >= 5 ? le16(p->pre + 3) : 0;
	if (!lenenc(p->pre, p->pre_n, &i, &rows) || !lenenc(p->pre, p->pre_n, &i, &id) ||
	    i + 2 > p->pre_n)
		return 0;
	*affected = rows;
	*has_affected = true;
	return le16(p->pre + i);
}

static bool is_terminator(const struct my_pkt *p)
{
	/* 0xfe begins a row only when its first value is longer than 2^24 bytes */
	return p->pre_n && p->pre[0] == 0xfe && p->len < MY_MAX_PKT;
}

/* A result ended with an EOF or OK: more results may follow in the same response. */
static void result_end(struct my_run *r, const struct my_pkt *p)
{
	struct my_resp *s = &r->c->resp;
	uint64_t rows = 0;
	bool has;
	uint32_t st = ok_status(p, &rows, &has);

	if (p->pre[0] == 0x00 && has) {
		s->has_rows = 1;
		s->rows = rows;
	}
	if (st & STATUS_MORE_RESULTS) {
		s->state = RS_FIRST;
		return;
	}
	resp_finish(r);
}

static void prep_next_block(struct my_run *r)
{
	struct my_resp *s = &r->c->resp;

	if (s->blocks) {
		s->blocks--;
		s->defs_left = s->next_block;
		s->next_block = 0;
		if (s->defs_left) {
			s->state = RS_PREP_DEFS;
			return;
		}
	}
	resp_finish(r);
}

static bool deprecate_eof(const struct my_conn *c)
{
	return c->have_server_caps && c->have_client_caps &&
	       (c->server_caps & c->client_caps & CAP_DEPRECATE_EOF);
}

static void resp_first(struct my_run *r, const struct my_pkt *p)
{
	struct my_conn *c = r->c;
	struct my_resp *s = &c->resp;
	uint8_t b = p->pre_n ? p->pre[0] : 0;
	uint64_t count;
	size_t i = 0;

	if (!p->pre_n) {
		resp_finish(r);
		return;
	}
	if (b == 0xff) {
		resp_error(r, p);
		resp_finish(r);
		return;
	}
	switch (s->cmd) {
	case COM_STATISTICS: resp_finish(r); return;
	case COM_FIELD_LIST:
		if (is_terminator(p))
			resp_finish(r);
		else
			s->state = RS_ROWS;
		return;
	case COM_CHANGE_USER:
		if (b == 0x00)
			resp_finish(r);
		else
			s->state = RS_WAIT_END;
		return;
	case COM_STMT_PREPARE:
		if (b == 0x00 && p->pre_n >= 9) {
			uint32_t id = le32(p->pre + 1);

			s->has_id = 1;
			s->id = id;
			if (c->prep_valid)
				stmt_put(c, id, c->prep_sql, c->prep_len);
			c->prep_valid = 0;
			/* parameter definitions, then column definitions */
			s->defs_left = le16(p->pre + 7);
			s->next_block = le16(p->pre + 5);
			s->blocks = 1;
			if (s->defs_left)
				s->state = RS_PREP_DEFS;
			else
				prep_next_block(r);
			return;
		}
		break;
	case COM_STMT_FETCH:
		if (b != 0x00 && !is_terminator(p)) {
			s->state = RS_ROWS;
			return;
		}
		break;
	default: break;
	}
	if (b == 0x00 && p->len >= 7) {
		result_end(r, p);
		return;
	}
	if (is_terminator(p)) {
		result_end(r, p);
		return;
	}
	if (b == 0xfb) {
		s->state = RS_WAIT_END; /* LOCAL INFILE: the file, then the server's OK */
		return;
	}
	/* MariaDB's cached metadata: a flag after the count says whether definitions follow */
	if (!lenenc(p->pre, p->pre_n, &i, &count) || (i != p->len && i + 1 != p->len) || !count ||
	    (i + 1 == p->len && p->pre[i] > 1)) {
		r->st->parse_errors++;
		resp_finish(r);
		return;
	}
	if (i + 1 == p->len && !p->pre[i]) {
		s->state = deprecate_eof(c) ? RS_ROWS : RS_AFTER_DEFS;
		return;
	}
	s->defs_left = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
	s->state = RS_COLDEFS;
}

static void server_response_packet(struct my_run *r, const struct my_pkt *p)
{
	struct my_conn *c = r->c;
	struct my_resp *s = &c->resp;
	uint8_t b = p->pre_n ? p->pre[0] : 0;

	/* A new response starts with sequence id 1: whatever was under way has ended. */
	if (s->active && p->seq == 1 && s->pkts && s->last_seq != 0)
		resp_cut(r);
	if (!s->active) {
		int cmd = fifo_pop(c);

		if (cmd < 0)
			return; /* answers nothing we saw */
		resp_begin(r, p, cmd);
	}
	s->pkts = s->pkts < 255 ? s->pkts + 1 : 255;
	s->last_seq = p->seq;
	s->length += p->len + MY_HDR * (1 + p->len / MY_MAX_PKT);
	s->end_ts = p->end_ts;
	switch (s->state) {
	case RS_FIRST: resp_first(r, p); break;
	case RS_COLDEFS:
		if (b == 0xff) {
			resp_error(r, p);
			resp_finish(r);
		} else if (!--s->defs_left) {
			s->state = deprecate_eof(c) ? RS_ROWS : RS_AFTER_DEFS;
		}
		break;
	case RS_AFTER_DEFS:
		if (b == 0xfe && p->len <= 5)
			s->state = RS_ROWS; /* the EOF after the definitions */
		else if (is_terminator(p))
			result_end(r, p);
		else if (b == 0xff) {
			resp_error(r, p);
			resp_finish(r);
		} else
			s->state = RS_ROWS;
		break;
	case RS_ROWS:
		if (is_terminator(p)) {
			result_end(r, p);
		} else if (b == 0xff) {
			resp_error(r, p);
			resp_finish(r);
		}
		break;
	case RS_PREP_DEFS:
		if (!--s->defs_left)
			s->state = RS_PREP_EOF;
		if (!s->defs_left && deprecate_eof(c))
			prep_next_block(r);
		break;
	case RS_PREP_EOF:
		if (b == 0xfe && p->len <= 5) {
			prep_next_block(r);
			break;
		}
		/* no EOF after definitions (deprecated): this packet begins the next block */
		if (s->blocks) {
			s->blocks--;
			s->defs_left = s->next_block;
			s->next_block = 0;
			if (s->defs_left > 1) {
				s->defs_left--;
				s->state = RS_PREP_DEFS;
				break;
			}
			s->state = RS_PREP_EOF;
			if (!s->defs_left)
				resp_finish(r);
			break;
		}
		resp_finish(r);
		break;
	case RS_WAIT_END:
		if (b == 0x00) {
			result_end(r, p);
		} else if (b == 0xff) {
			resp_error(r, p);
			resp_finish(r);
		}
		break;
	default: resp_finish(r); break;
	}
}

/* ---- handshake ------------------------------------------------------------------- */

static bool greeting_ok(const uint8_t *p, size_t n, uint64_t len, size_t *ver_end)
{
	size_t i;

	if (n < 2 || len < 20 || p[0] != 0x0a || !(p[1] >= '0' && p[1] <= '9'))
		return false;
	for (i = 1; i < n && i < 80 && p[i]; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	}
	if (i >= n || p[i])
		return false;
	*ver_end = i;
	return true;
}

static void on_greeting(struct my_conn *c, const struct my_pkt *p, size_t ver_end)
{
	size_t i = ver_end + 1 + 4 + 8 + 1; /* thread id, salt part 1, filler */

	c->server_caps = 0;
	if (i + 2 <= p->pre_n) {
		c->server_caps = le16(p->pre + i);
		if (i + 7 <= p->pre_n)
			c->server_caps |= le16(p->pre + i + 5) << 16;
		c->have_server_caps = 1;
	}
	c->phase = MP_LOGIN;
	c->fifo_count = 0;
	c->login_seen = 0;
}

static bool login_shape(const struct my_pkt *p)
{
	uint32_t caps;

	if (p->pre_n < 32 || p->len < 32)
		return false;
	caps = le32(p->pre);
	if (!(caps & CAP_PROTOCOL_41))
		return false;
	/* 23 bytes of filler; MariaDB keeps its extended capabilities in the last four */
	for (int i = 9; i < 28; i++) {
		if (p->pre[i])
			return false;
	}
	return true;
}

static size_t cstr_len(const uint8_t *p, size_t n, size_t cap)
{
	size_t i;

	for (i = 0; i < n && i < cap && p[i]; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	}
	return i < n && !p[i] ? i : 0;
}

static void on_login(struct my_run *r, const struct my_pkt *p)
{
	struct my_conn *c = r->c;
	uint32_t caps = le32(p->pre);
	size_t i = 32, ul, dl = 0, pos;
	uint64_t alen = 0;
	const uint8_t *user = p->pre + 32;

	c->client_caps = caps;
	c->have_client_caps = 1;
	if ((caps & CAP_SSL) && p->len == 32) {
		c->phase = MP_OPAQUE; /* TLS follows */
		return;
	}
	c->phase = MP_AUTH;
	c->login_seen = 1;
	c->login_start_ts = p->start_ts;
	c->login_end_ts = p->end_ts;
	c->login_tcp_seq = p->tcp_seq;
	c->login_length = p->len + MY_HDR;
	ul = cstr_len(user, p->pre_n - i, 64);
	pos = 0;
	memcpy(c->login, "Login username: ", 16);
	pos = 16;
	if (ul > MY_USER_CAP / 2)
		ul = MY_USER_CAP / 2;
	memcpy(c->login + pos, user, ul);
	pos += ul;
	i += ul + 1;
	if ((caps & CAP_CONNECT_WITH_DB) && i < p->pre_n) {
		if (caps & CAP_PLUGIN_AUTH_LENENC) {
			if (!lenenc(p->pre, p->pre_n, &i, &alen))
				alen = UINT32_MAX;
		} else if (caps & CAP_SECURE_CONNECTION) {
			alen = p->pre[i++];
		} else {
			alen = cstr_len(p->pre + i, p->pre_n - i, 256) + 1;
		}
		if (alen < p->pre_n && i + alen < p->pre_n) {
			i += (size_t)alen;
			dl = cstr_len(p->pre + i, p->pre_n - i, 64);
		}
		if (dl) {
			if (dl > MY_USER_CAP - pos - 5)
				dl = MY_USER_CAP - pos - 5;
			memcpy(c->login + pos, " db: ", 5);
			memcpy(c->login + pos + 5, p->pre + i, dl);
			pos += 5 + dl;
		}
	}
	c->login_len = (uint16_t)pos;
}

/* The server refused the login: report it as one exchange, as DeepFlow does. */
static void login_refused(struct my_run *r, const struct my_pkt *p)
{
	struct my_conn *c = r->c;
	struct proto_msg m;
	int cdi = c->client_dir ? c->client_dir - 1 : !r->di;

	if (c->login_seen) {
		memset(&m, 0, sizeof(m));
		m.kind = PROTO_MSG_REQUEST;
		m.dir = cdi ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
		m.start_ts = c->login_start_ts;
		m.end_ts = c->login_end_ts;
		m.tcp_seq = c->login_tcp_seq;
		m.length = c->login_length;
		m.code = -1;
		m.resource = pstr(c->login, c->login_len);
		emit_out(r, &m);
	}
	c->login_seen = 0;
	resp_begin(r, p, COM_CONNECT);
	c->resp.length = p->len + MY_HDR;
	c->resp.end_ts = p->end_ts;
	resp_error(r, p);
	resp_finish(r);
}

static void enable_compression(struct my_conn *c)
{
	c->dir[0].comp = c->dir[1].comp = 1;
	c->framing_known = 1;
}

static void server_packet(struct my_run *r, const struct my_pkt *p)
{
	struct my_conn *c = r->c;
	size_t ver_end;

	if (p->seq == 0 && greeting_ok(p->pre, p->pre_n, p->len, &ver_end) && c->phase != MP_CMD) {
		set_client_dir(c, !r->di);
		on_greeting(c, p, ver_end);
		return;
	}
	if (!p->pre_n)
		return;
	switch (c->phase) {
	case MP_LOGIN:
		if (p->pre[0] == 0xff)
			login_refused(r,
				      p); /* refused before any login, e.g. too many connections */
		return;
	case MP_AUTH:
		if (p->pre[0] == 0x00) {
			c->phase = MP_CMD;
			c->login_seen = 0;
			if (c->have_server_caps && c->have_client_caps &&
			    (c->server_caps & c->client_caps & CAP_COMPRESS))
				enable_compression(c);
		} else if (p->pre[0] == 0xff) {
			login_refused(r, p);
			c->phase = MP_CMD;
		}
		return; /* 0xfe auth switch, 0x01 more data */
	case MP_OPAQUE: return;
	default: server_response_packet(r, p); return;
	}
}

/* ---- requests -------------------------------------------------------------------- */

static size_t put_sql(struct my_run *r, char *out, size_t cap, const uint8_t *sql, size_t n)
{
	const struct proto_ctx *ctx = r->in->ctx;

	if (ctx && (ctx->opts & PROTO_OPT_KEEP_VALUES)) {
		if (n > cap)
			n = cap;
		memcpy(out, sql, n);
		return n;
	}
	return sql_obfuscate(sql, n, out, cap, SQL_DIALECT_MYSQL);
}

static void client_command(struct my_run *r, const struct my_pkt *p)
{
	struct my_conn *c = r->c;
	uint8_t cmd = p->pre[0];
	const uint8_t *arg = p->pre + 1;
	size_t an = p->pre_n - 1, rl = 0, k;
	struct proto_msg m;
	struct my_stmt *s;

	if (!known_command(cmd)) {
		r->st->parse_errors++;
		return;
	}
	memset(&m, 0, sizeof(m));
	m.kind = PROTO_MSG_REQUEST;
	m.dir = r->di ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
	m.start_ts = p->start_ts;
	m.end_ts = p->end_ts;
	m.tcp_seq = p->tcp_seq;
	m.length = p->len + MY_HDR * (1 + p->len / MY_MAX_PKT);
	m.code = -1;
	m.method = pstr(my_cmd_names[cmd], strlen(my_cmd_names[cmd]));
	if (p->pre_n < p->len)
		m.flags |= p->pre_n < MY_PRE_CAP ? PROTO_MSG_F_TRUNCATED : 0;
	switch (cmd) {
	case COM_QUERY:
		/* query attributes (MySQL 8): parameter count 0 and one parameter set */
		if (an >= 2 && arg[0] == 0 && arg[1] == 1 &&
		    (!c->have_client_caps || (c->client_caps & CAP_QUERY_ATTRIBUTES))) {
			arg += 2;
			an -= 2;
		}
		rl = put_sql(r, c->text, sizeof(c->text), arg, an);
		break;
	case COM_STMT_PREPARE:
		rl = put_sql(r, c->text, sizeof(c->text), arg, an);
		c->prep_len = (uint16_t)(rl < MY_STMT_SQL ? rl : MY_STMT_SQL);
		memcpy(c->prep_sql, c->text, c->prep_len);
		c->prep_valid = 1;
		break;
	case COM_INIT_DB:
	case COM_CREATE_DB:
	case COM_DROP_DB:
	case COM_FIELD_LIST:
		for (k = 0; k < an && arg[k] && k < sizeof(c->text); k++)
			c->text[k] = (char)arg[k];
		rl = k;
		break;
	case COM_STMT_EXECUTE:
	case COM_STMT_SEND_LONG_DATA:
	case COM_STMT_CLOSE:
	case COM_STMT_RESET:
	case COM_STMT_FETCH:
		if (an >= 4) {
			m.has_request_id = true;
			m.request_id = le32(arg);
			s = stmt_find(c, m.request_id);
			if (s) {
				memcpy(c->text, s->sql, s->len);
				rl = s->len;
			}
			if (cmd == COM_STMT_CLOSE)
				stmt_drop(c, m.request_id);
		}
		break;
	default: break;
	}
	m.resource = pstr(c->text, rl);
	if (cmd == COM_QUIT || cmd == COM_STMT_CLOSE || cmd == COM_STMT_SEND_LONG_DATA) {
		m.flags |= PROTO_MSG_F_NO_RESPONSE;
	} else {
		fifo_push(c, cmd);
	}
	emit_out(r, &m);
}

static void client_packet(struct my_run *r, const struct my_pkt *p)
{
	struct my_conn *c = r->c;

	if (!p->pre_n)
		return;
	switch (c->phase) {
	case MP_OPAQUE: return;
	case MP_LOGIN:
		if (login_shape(p))
			on_login(r, p);
		return;
	case MP_AUTH:
		if (p->seq != 0)
			return;	   /* authentication data */
		c->phase = MP_CMD; /* the server's OK went unseen */
		break;
	case MP_INIT:
		if (p->seq == 1 && login_shape(p)) {
			on_login(r, p);
			return;
		}
		break;
	default: break;
	}
	if (p->seq != 0)
		return; /* LOCAL INFILE contents and the like */
	client_command(r, p);
}

/* ---- packet layer ---------------------------------------------------------------- */

/* Where a byte fed to the packet layer was seen. */
struct my_loc {
	size_t idx; /* input index (plain) */
};

static void loc_start(struct my_run *r, size_t idx, uint64_t *ts, uint32_t *seq)
{
	struct my_dir *d = &r->c->dir[r->di];

	if (!r->plain) {
		*ts = d->c_ts;
		*seq = d->c_seq;
		return;
	}
	*ts = proto_ts_start_at(r->in, idx);
	*seq = proto_input_seq_at(r->in, idx);
}

static uint64_t loc_end(struct my_run *r, size_t idx)
{
	return proto_ts_end_at(r->in, idx);
}

static void packet_done(struct my_run *r, struct my_dir *d, uint64_t end_ts)
{
	struct my_conn *c = r->c;
	struct my_pkt p;
	uint32_t plen = le24(d->ph);

	d->ph_n = 0;
	d->p_end_ts = end_ts;
	if (plen == MY_MAX_PKT) {
		d->cont = 1; /* the payload goes on in the next packet */
		return;
	}
	d->cont = 0;
	p.pre = d->pre;
	p.pre_n = d->pre_n;
	p.len = d->lp_len;
	p.seq = d->first_seq;
	p.start_ts = d->p_start_ts;
	p.end_ts = end_ts;
	p.tcp_seq = d->p_tcp_seq;
	d->pre_n = 0;
	d->lp_len = 0;
	if (!c->client_dir) {
		size_t ve;

		if (p.seq == 0 && greeting_ok(p.pre, p.pre_n, p.len, &ve))
			set_client_dir(c, !r->di);
		else if (p.seq == 0 && p.pre_n && known_command(p.pre[0]))
			set_client_dir(c, r->di);
		else if (p.seq == 1 && login_shape(&p))
			set_client_dir(c, r->di);
		else
			return; /* cannot tell yet which side this is */
	}
	if (dir_is_client(c, r->di))
		client_packet(r, &p);
	else
		server_packet(r, &p);
}

/* Does a packet plausibly begin at p (n bytes available)? -1: cannot tell yet. */
static int plausible_start(const struct my_conn *c, int di, const uint8_t *p, size_t n)
{
	uint32_t len;

	if (n < MY_HDR + 1)
		return -1;
	len = le24(p);
	if (!len)
		return 0;
	if (dir_is_client(c, di))
		return p[3] == 0 && known_command(p[4]);
	if (c->client_dir)
		return p[3] == 1 && c->fifo_count > 0;
	return p[3] <= 1;
}

/*
 * Feed payload-layer bytes p[0..n) (plain: input bytes from index base). Returns how many
 * were taken; fewer than n only when the direction switched to compressed framing.
 */
static size_t packets_feed(struct my_run *r, const uint8_t *p, size_t n, size_t base,
			   uint64_t end_ts)
{
	struct my_dir *d = &r->c->dir[r->di];
	bool was_comp = d->comp;
	size_t k = 0, take, room;

	while (k < n) {
		if (d->lost)
			return n;
		if (r->c->phase == MP_OPAQUE)
			return n;
		if (d->ph_n < MY_HDR) {
			if (d->ph_n == 0 && !d->cont) {
				loc_start(r, base + k, &d->p_start_ts, &d->p_tcp_seq);
				d->pre_n = 0;
				d->lp_len = 0;
			}
			d->ph[d->ph_n++] = p[k++];
			if (d->ph_n < MY_HDR)
				continue;
			if (!d->cont)
				d->first_seq = d->ph[3];
			d->p_left = le24(d->ph);
			d->lp_len += d->p_left;
			if (!d->p_left) {
				packet_done(r, d, r->plain ? loc_end(r, base + k - 1) : end_ts);
				if (d->comp != was_comp)
					return k;
			}
			continue;
		}
		take = n - k;
		if (take > d->p_left)
			take = d->p_left;
		room = MY_PRE_CAP - d->pre_n;
		memcpy(d->pre + d->pre_n, p + k, take < room ? take : room);
		d->pre_n += (uint32_t)(take < room ? take : room);
		k += take;
		d->p_left -= (uint32_t)take;
		if (!d->p_left) {
			packet_done(r, d, r->plain ? loc_end(r, base + k - 1) : end_ts);
			if (d->comp != was_comp)
				return k;
		}
	}
	return k;
}

/* Bytes lost inside the packet layer. */
static void packets_gap(struct my_run *r, uint64_t gap, uint64_t end_ts)
{
	struct my_dir *d = &r->c->dir[r->di];

	if (!gap || d->lost)
		return;
	if (d->ph_n == MY_HDR && gap <= d->p_left) {
		d->p_left -= (uint32_t)gap;
		if (!d->p_left)
			packet_done(r, d, end_ts);
		return;
	}
	if (d->ph_n == MY_HDR) {
		/* the packet ends inside the gap; what followed it there is unseen */
		gap -= d->p_left;
		d->p_left = 0;
		packet_done(r, d, end_ts);
	}
	d->ph_n = 0;
	d->cont = 0;
	d->lost = 1;
	r->st->resyncs++;
	if (!dir_is_client(r->c, r->di) && r->c->resp.active) {
		/* the rest of the event most likely belongs to the response under way */
		r->c->resp.length += gap;
		resp_cut(r);
	}
}

/* ---- compressed layer ------------------------------------------------------------ */

static void *z_alloc(void *opaque, unsigned int items, unsigned int size)
{
	(void)opaque;
	return calloc(items, size);
}

static void z_free(void *opaque, void *p)
{
	(void)opaque;
	free(p);
}

static void z_drop(struct my_dir *d)
{
	if (d->zs) {
		inflateEnd(d->zs);
		free(d->zs);
		d->zs = NULL;
	}
	d->c_inflating = 0;
}

static bool z_begin(struct my_dir *d)
{
	z_stream *zs = d->zs;

	if (!zs) {
		zs = calloc(1, sizeof(*zs));
		if (!zs)
			return false;
		zs->zalloc = z_alloc;
		zs->zfree = z_free;
		if (inflateInit(zs) != Z_OK) {
			free(zs);
			return false;
		}
		d->zs = zs;
	} else if (inflateReset(zs) != Z_OK) {
		z_drop(d);
		return false;
	}
	d->c_inflating = 1;
	return true;
}

/* The inner stream of a compressed direction is broken until the next compressed packet. */
static void inner_lost(struct my_run *r)
{
	struct my_dir *d = &r->c->dir[r->di];

	if (!d->lost) {
		d->lost = 1;
		r->st->resyncs++;
		if (!dir_is_client(r->c, r->di))
			resp_cut(r);
	}
	d->ph_n = 0;
	d->cont = 0;
}

/* A compressed packet begins: the inner stream resumes here if it was lost. */
static void comp_packet_start(struct my_run *r, const uint8_t *p, size_t n)
{
	struct my_dir *d = &r->c->dir[r->di];

	if (!d->lost)
		return;
	/* only a stored packet can be checked before inflating; trust inflated ones */
	if (d->c_ulen == 0 && plausible_start(r->c, r->di, p, n) == 0)
		return;
	d->lost = 0;
	d->ph_n = 0;
	d->cont = 0;
}

static size_t comp_feed(struct my_run *r, const uint8_t *p, size_t n, size_t base)
{
	struct my_dir *d = &r->c->dir[r->di];
	uint8_t out[MY_INFLATE_CHUNK];
	size_t k = 0, take;
	uint64_t te;

	while (k < n) {
		if (r->c->phase == MP_OPAQUE)
			return n;
		if (d->ch_n < MY_CHDR) {
			if (d->ch_n == 0) {
				const struct proto_seg *g = proto_input_locate(r->in, base + k);

				d->c_ts = g ? g->ts_start : 0;
				d->c_seq = proto_input_seq_at(r->in, base + k);
			}
			d->ch[d->ch_n++] = p[k++];
			if (d->ch_n < MY_CHDR)
				continue;
			d->c_left = le24(d->ch);
			d->c_ulen = le24(d->ch + 4);
			d->c_out = 0;
			d->c_broken = 0;
			if (d->c_ulen && !z_begin(d))
				d->c_broken = 1;
			comp_packet_start(r, p + k, n - k);
			if (!d->c_left)
				d->ch_n = 0;
			continue;
		}
		take = n - k;
		if (take > d->c_left)
			take = d->c_left;
		te = loc_end(r, base + k + take - 1);
		if (!d->c_ulen) {
			r->plain = false;
			packets_feed(r, p + k, take, 0, te);
			r->plain = true;
		} else if (!d->c_broken) {
			z_stream *zs = d->zs;
			int rc = Z_OK;

			zs->next_in = (Bytef *)(uintptr_t)(p + k);
			zs->avail_in = (uInt)take;
			while (zs->avail_in && rc == Z_OK) {
				size_t got;

				zs->next_out = out;
				zs->avail_out = sizeof(out);
				rc = inflate(zs, Z_NO_FLUSH);
				got = sizeof(out) - zs->avail_out;
				if ((rc != Z_OK && rc != Z_STREAM_END) ||
				    d->c_out + got > d->c_ulen) {
					d->c_broken = 1;
					r->st->parse_errors++;
					inner_lost(r);
					break;
				}
				d->c_out += (uint32_t)got;
				r->plain = false;
				packets_feed(r, out, got, 0, te);
				r->plain = true;
				if (rc == Z_STREAM_END)
					break;
			}
		}
		k += take;
		d->c_left -= (uint32_t)take;
		if (!d->c_left) {
			d->ch_n = 0;
			if (d->c_ulen && !d->c_broken && d->c_out != d->c_ulen) {
				r->st->parse_errors++;
				inner_lost(r);
			}
		}
	}
	return k;
}

/* ---- parse ----------------------------------------------------------------------- */

static bool zlib_header(const uint8_t *p)
{
	return (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7 && ((uint32_t)p[0] << 8 | p[1]) % 31 == 0;
}

/*
 * A plausible compressed packet header at p (n bytes): its inner data begins like a packet
 * (stored) or like a zlib stream. -1: cannot tell yet.
 */
static int comp_header_ok(const struct my_conn *c, int di, const uint8_t *p, size_t n)
{
	uint32_t clen, ulen;

	if (n < MY_CHDR + 2)
		return -1;
	clen = le24(p);
	ulen = le24(p + 4);
	if (!clen)
		return 0;
	if (ulen)
		return ulen >= clen / 2 && zlib_header(p + MY_CHDR);
	if (n < MY_CHDR + MY_HDR + 1)
		return -1;
	return le24(p + MY_CHDR) + MY_HDR <= clen &&
	       plausible_start(c, di, p + MY_CHDR, n - MY_CHDR);
}

/*
 * A connection joined without its handshake: tell plain from compressed framing by the
 * first bytes seen. As a plain packet, a stored compressed packet would be a COM_SLEEP
 * (which clients never send) and a zlib one would carry a zlib header where the SQL goes.
 * Returns false while there are too few bytes to tell.
 */
static bool guess_framing(struct my_run *r, const uint8_t *p, size_t n, bool final)
{
	struct my_conn *c = r->c;
	uint32_t clen, ulen;

	if (c->framing_known || c->phase != MP_INIT)
		return true;
	/* only the client's commands tell: a server's stored packet looks like an OK */
	if (!dir_is_client(c, r->di)) {
		if (!c->client_dir)
			c->framing_known = 1;
		return true;
	}
	if (n >= MY_CHDR + 2 && le24(p) && le24(p + 4) >= le24(p) / 2 && zlib_header(p + MY_CHDR)) {
		c->framing_known = 1;
		enable_compression(c);
		return true;
	}
	if (n >= MY_HDR + 1 && p[4] != 0 && (size_t)le24(p) + MY_HDR == n) {
		c->framing_known = 1; /* one plain packet, exactly */
		return true;
	}
	if (n < MY_CHDR + MY_HDR + 1 && !final)
		return false;
	c->framing_known = 1;
	if (n < MY_CHDR + MY_HDR + 1)
		return true;
	clen = le24(p);
	ulen = le24(p + 4);
	if (clen && !ulen && p[3] == 0 && le24(p + MY_CHDR) + MY_HDR <= clen &&
	    p[MY_CHDR + 3] == 0 && known_command(p[MY_CHDR + 4]))
		enable_compression(c);
	return true;
}

static int mysql_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		       struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct my_conn *c = state;
	struct my_dir *d;
	struct my_run r;
	size_t k = 0;
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
	r.plain = true;
	d = &c->dir[r.di];
	if (!c->client_dir && in->ctx && in->ctx->role != PROTO_ROLE_UNKNOWN)
		c->client_dir = (uint8_t)((in->ctx->role == PROTO_ROLE_CLIENT) ? 1 : 2);
	if (c->phase == MP_OPAQUE)
		return (int)in->len;
	if (!d->seen && in->len) {
		bool guessing = !c->framing_known && c->phase == MP_INIT && dir_is_client(c, r.di);

		if (!guess_framing(&r, in->data, in->len, in->gap > 0))
			return 0; /* too few bytes to judge the framing */
		/*
		 * A connection picked up after its handshake: the framing was guessed from the
		 * first client event, and where that event starts and ends decided it. That is a
		 * resynchronisation (and tells a replay cut elsewhere that it may differ).
		 */
		if (guessing)
			stats->resyncs++;
		d->seen = 1;
	}
	/* Framing lost: only a capture event that begins like a packet resumes it. */
	if (d->lost && !d->comp) {
		ps = plausible_start(c, r.di, in->data, in->len);
		if (ps < 0 && !in->gap)
			return 0;
		if (ps <= 0)
			return (int)in->len;
		d->lost = 0;
		d->ph_n = 0;
		d->cont = 0;
	}
	if (d->clost) {
		ps = comp_header_ok(c, r.di, in->data, in->len);
		if (ps < 0 && !in->gap)
			return 0;
		if (ps <= 0)
			return (int)in->len;
		d->clost = 0;
		d->ch_n = 0;
		d->c_left = 0;
	}
	while (k < in->len) {
		if (d->comp)
			k += comp_feed(&r, in->data + k, in->len - k, k);
		else
			k += packets_feed(&r, in->data + k, in->len - k, k, 0);
	}
	if (in->gap) {
		uint64_t te = loc_end(&r, in->len ? in->len - 1 : 0);

		if (!d->comp) {
			packets_gap(&r, in->gap, te);
		} else if (d->ch_n == MY_CHDR && in->gap <= d->c_left) {
			d->c_left -= (uint32_t)in->gap;
			if (d->c_ulen == 0)
				packets_gap(&r, in->gap, te);
			else
				inner_lost(&r);
			if (!d->c_left)
				d->ch_n = 0;
		} else {
			/* the compressed framing itself is lost */
			inner_lost(&r);
			d->ch_n = 0;
			d->c_left = 0;
			d->clost = 1;
		}
	}
	return (int)in->len;
}

static void dir_clear(struct my_dir *d)
{
	void *zs = d->zs;
	uint8_t comp = d->comp, seen = d->seen;

	if (zs)
		inflateReset(zs);
	memset(d, 0, offsetof(struct my_dir, pre));
	d->zs = zs;
	d->comp = comp;
	d->seen = seen;
}

static void mysql_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			   struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct my_conn *c = state;
	struct my_run r;

	if (!c)
		return;
	stats = proto_stats_or_scratch(stats, &scratch);
	memset(&r, 0, sizeof(r));
	r.c = c;
	r.emit = emit;
	r.ctx = ctx;
	r.st = stats;
	r.di = c->client_dir ? 2 - c->client_dir : 1;
	if (c->resp.active) {
		if (!c->resp.end_ts)
			c->resp.end_ts = ts;
		resp_cut(&r);
	}
	if (c->dir[0].ph_n || c->dir[1].ph_n)
		stats->truncated++;
	z_drop(&c->dir[0]);
	z_drop(&c->dir[1]);
	memset(c, 0, sizeof(*c));
}

static void mysql_reset(void *state, enum proto_dir dir)
{
	struct my_conn *c = state;
	struct my_dir *d;

	if (!c || (dir != PROTO_DIR_EGRESS && dir != PROTO_DIR_INGRESS))
		return;
	d = &c->dir[dir == PROTO_DIR_INGRESS];
	dir_clear(d);
	d->lost = 1;
}

static void mysql_release(void *state)
{
	struct my_conn *c = state;

	if (!c)
		return;
	z_drop(&c->dir[0]);
	z_drop(&c->dir[1]);
}

/* ---- detection ------------------------------------------------------------------- */

static enum proto_detect detect_packet(const uint8_t *p, size_t n, bool on_port)
{
	uint32_t len;
	size_t ve;
	uint8_t cmd;

	if (n < MY_HDR + 1)
		return PROTO_DETECT_NO;
	len = le24(p);
	if (!len)
		return PROTO_DETECT_NO;
	/* the server greeting: protocol 10 and a version string */
	if (p[3] == 0 && p[4] == 0x0a && len >= 30 && len <= 1024 &&
	    greeting_ok(p + 4, n - 4, len, &ve) && ve >= 4)
		return PROTO_DETECT_YES;
	/* a login request: capabilities, 23 zero bytes of filler */
	if (p[3] == 1 && len >= 32 && len <= 4096 && n >= 4 + 32) {
		struct my_pkt k = { .pre = p + 4, .pre_n = 32, .len = len };

		if (login_shape(&k))
			return PROTO_DETECT_YES;
	}
	if (p[3] != 0)
		return on_port && p[3] == 1 && (size_t)len + MY_HDR == n ? PROTO_DETECT_MAYBE
									 : PROTO_DETECT_NO;
	cmd = p[4];
	if (!known_command(cmd))
		return PROTO_DETECT_NO;
	if (cmd == COM_QUERY || cmd == COM_STMT_PREPARE) {
		const uint8_t *sql = p + 5;
		size_t sn = n - 5;

		if (sn >= 2 && sql[0] == 0 && sql[1] == 1) {
			sql += 2;
			sn -= 2;
		}
		if (sn > len - 1)
			sn = len - 1;
		return sql_starts_like_statement(sql, sn) ? PROTO_DETECT_YES : PROTO_DETECT_NO;
	}
	/* other commands carry little to check: the packet must frame the event exactly */
	if ((size_t)len + MY_HDR != n || len > 1024)
		return PROTO_DETECT_NO;
	if (cmd == COM_PING || cmd == COM_QUIT || cmd == COM_STATISTICS) {
		if (len != 1)
			return PROTO_DETECT_NO;
	} else if (cmd == COM_STMT_EXECUTE || cmd == COM_STMT_CLOSE || cmd == COM_STMT_RESET) {
		if (len < 5)
			return PROTO_DETECT_NO;
	} else if (cmd == COM_INIT_DB) {
		for (size_t i = 5; i < n; i++) {
			if (p[i] < 0x20 || p[i] > 0x7e)
				return PROTO_DETECT_NO;
		}
	} else if (!on_port) {
		return PROTO_DETECT_NO;
	}
	return on_port ? PROTO_DETECT_YES : PROTO_DETECT_MAYBE;
}

static enum proto_detect mysql_detect(const uint8_t *data, size_t len, enum proto_dir dir,
				      const struct proto_ctx *ctx)
{
	bool on_port = ctx && ctx->server_port == 3306;
	enum proto_detect d;
	uint32_t clen, ulen;

	(void)dir;
	if (!data || len < MY_HDR + 1 || (ctx && ctx->l4_proto == 17))
		return PROTO_DETECT_NO;
	d = detect_packet(data, len, on_port);
	if (d != PROTO_DETECT_NO)
		return d;
	/* a compressed packet holding a stored (uncompressed) command */
	if (len > MY_CHDR + MY_HDR) {
		clen = le24(data);
		ulen = le24(data + 4);
		if (ulen == 0 && data[3] == 0 && (size_t)clen + MY_CHDR == len)
			return detect_packet(data + MY_CHDR, len - MY_CHDR, on_port);
	}
	return PROTO_DETECT_NO;
}

const struct proto_ops proto_mysql_ops = {
	.name = "MySQL",
	.id = PROTO_MYSQL,
	.state_size = sizeof(struct my_conn),
	.detect = mysql_detect,
	.parse = mysql_parse,
	.on_close = mysql_on_close,
	.reset = mysql_reset,
	.release = mysql_release,
};
