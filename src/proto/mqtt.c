/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MQTT parser: versions 3.1 (protocol "MQIsdp", level 3), 3.1.1 (level 4) and 5 (level 5).
 *
 * Every control packet is a fixed header (type and flags in one byte, then the remaining
 * length as a varint of 1 to 4 bytes) followed by that many bytes. Only the head of a
 * packet is read (at most MQ_HEAD bytes: topic, packet identifier, client id, reason
 * codes); the rest (a PUBLISH payload of any size) is skipped by count, so nothing is held.
 * The fixed header is checked strictly (the flags each type must carry, a minimal
 * varint, lengths each type can have), which is what makes resynchronisation safe.
 *
 * Who is the client is told by the role, else by the first packet whose type only one
 * side sends (CONNECT, SUBSCRIBE, ... / CONNACK, SUBACK, ...), else the first to speak.
 * Packets the client sends are requests, the broker's are responses:
 *   CONNECT -> CONNACK, PINGREQ -> PINGRESP, AUTH -> AUTH        by order;
 *   PUBLISH QoS 1 -> PUBACK, QoS 2 -> PUBREC, PUBREL -> PUBCOMP,
 *   SUBSCRIBE -> SUBACK, UNSUBSCRIBE -> UNSUBACK                 by packet identifier;
 *   PUBLISH QoS 0, DISCONNECT                                     no response;
 * The broker's PUBLISH to a subscriber (and its PUBREL, its DISCONNECT in MQTT 5) answer
 * no request: they leave as unsolicited responses, and the subscriber's acknowledgements
 * of them (PUBACK, PUBREC, PUBCOMP) as requests that get no response. The session id is
 * the packet identifier with bit 16 set for identifiers the broker chose, so the two id
 * spaces never meet.
 *
 * request_type is the packet type name, request_domain the client id of the connection
 * (from CONNECT), request_resource (and endpoint) the topic, or the topic filters of
 * SUBSCRIBE / UNSUBSCRIBE joined by ',', request_id the packet identifier, version "3.1",
 * "3.1.1" or "5", response_code the CONNACK return code or the MQTT 5 reason code (the
 * first failing one of SUBACK / UNSUBACK). Payloads, user names and passwords never show.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto.h"

#define MQ_HEAD	     4096 /* bytes of a packet read; the rest is skipped */
#define MQ_PORT	     1883
#define MQ_RES_CAP   512
#define MQ_ID_CAP    128
#define MQ_SRV_BIT   (1u << 16)
#define MQ_MAX_TOPIC 65535

enum { MQ_IDLE = 0, MQ_SKIP, MQ_RESYNC };

enum mq_type {
	MQ_CONNECT = 1,
	MQ_CONNACK,
	MQ_PUBLISH,
	MQ_PUBACK,
	MQ_PUBREC,
	MQ_PUBREL,
	MQ_PUBCOMP,
	MQ_SUBSCRIBE,
	MQ_SUBACK,
	MQ_UNSUBSCRIBE,
	MQ_UNSUBACK,
	MQ_PINGREQ,
	MQ_PINGRESP,
	MQ_DISCONNECT,
	MQ_AUTH,
};

static const char *const mq_names[16] = {
	"",	   "CONNECT",  "CONNACK",    "PUBLISH", "PUBACK",      "PUBREC",
	"PUBREL",  "PUBCOMP",  "SUBSCRIBE",  "SUBACK",	"UNSUBSCRIBE", "UNSUBACK",
	"PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
};

/* The packet being read in one direction, kept until its last byte passes. */
struct mq_dir {
	uint8_t phase;
	bool seen;   /* a packet (or bytes the parser never saw) went by in this direction */
	bool active; /* a packet's head was read; its body is being skipped */
	bool truncated;
	uint8_t type;
	uint8_t kind;
	uint32_t flags;
	uint64_t body_left;
	uint64_t start_ts, end_ts;
	uint32_t seq;
	uint64_t length;
	int32_t code;
	uint8_t status;
	const char *exc; /* reason text of a failure */
	bool has_pid;
	uint16_t pid;
	bool has_session;
	uint32_t session;
	uint16_t res_len;
	char res[MQ_RES_CAP];
};

struct mq_state {
	struct mq_dir dir[2];
	bool cli_known;
	uint8_t cli_dir; /* the direction the client's packets travel */
	uint8_t level;	 /* protocol level from CONNECT: 3, 4, 5; 0 unknown */
	uint8_t id_len;
	char client_id[MQ_ID_CAP];
	/* what an emitted message's views show, copied so they live in the state */
	char method[16];
	char version[8];
	char exc[48];
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The remaining-length varint at p[0..n): 1 its length, 0 need more, -1 invalid. */
static int read_varint(const uint8_t *p, size_t n, uint32_t *val, size_t *used)
{
	uint32_t v = 0;

	for (size_t i = 0; i < 4; i++) {
		if (i >= n)
			return 0;
		v |= (uint32_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			/* not minimal (a trailing zero byte) is malformed */
			if (i > 0 && p[i] == 0)
				return -1;
			*val = v;
			*used = i + 1;
			return 1;
		}
	}
	return -1;
}

/* Fixed-header flags and remaining length each type can have (both versions). */
static bool header_ok(uint8_t b0, uint32_t rem)
{
	uint8_t t = b0 >> 4, f = b0 & 0x0f;

	switch (t) {
	case MQ_CONNECT: return f == 0 && rem >= 12;
	case MQ_CONNACK: return f == 0 && rem >= 2 && rem <= 65536;
	case MQ_PUBLISH:
		if ((f & 6) == 6)
			return false; /* QoS 3 */
		return rem >= ((f & 6) ? 5u : 3u);
	case MQ_PUBACK:
	case MQ_PUBREC:
	case MQ_PUBCOMP: return f == 0 && rem >= 2 && rem <= 65536;
	case MQ_PUBREL: return f == 2 && rem >= 2 && rem <= 65536;
	case MQ_SUBSCRIBE: return f == 2 && rem >= 6;
	case MQ_SUBACK: return f == 0 && rem >= 3;
	case MQ_UNSUBSCRIBE: return f == 2 && rem >= 5;
	case MQ_UNSUBACK: return f == 0 && rem >= 2;
	case MQ_PINGREQ:
	case MQ_PINGRESP: return f == 0 && rem == 0;
	case MQ_DISCONNECT:
	case MQ_AUTH: return f == 0 && rem <= 65536;
	default: return false;
	}
}

/* Sent only by the client (1), only by the broker (2), or by either (0). */
static int sender_of(uint8_t t)
{
	switch (t) {
	case MQ_CONNECT:
	case MQ_SUBSCRIBE:
	case MQ_UNSUBSCRIBE:
	case MQ_PINGREQ: return 1;
	case MQ_CONNACK:
	case MQ_SUBACK:
	case MQ_UNSUBACK:
	case MQ_PINGRESP: return 2;
	default: return 0;
	}
}

/* The flags each type must carry. */
static bool flags_ok(uint8_t b0)
{
	uint8_t t = b0 >> 4, f = b0 & 0x0f;

	if (t == MQ_PUBLISH)
		return (f & 6) != 6;
	if (t == MQ_PUBREL || t == MQ_SUBSCRIBE || t == MQ_UNSUBSCRIBE)
		return f == 2;
	return t != 0 && f == 0;
}

/* A fixed header at p: 1 valid (its total size in *total), 0 need more, -1 invalid. */
static int fixed_header(const uint8_t *p, size_t n, uint64_t *total, size_t *hlen)
{
	uint32_t rem;
	size_t used;
	int r;

	if (!n)
		return 0;
	if (!flags_ok(p[0]))
		return -1;
	r = read_varint(p + 1, n - 1, &rem, &used);
	if (r <= 0)
		return r;
	if (!header_ok(p[0], rem))
		return -1;
	*total = 1 + used + (uint64_t)rem;
	*hlen = 1 + used;
	return 1;
}

/* A CONNECT variable header at b (protocol name, level, flags): 1 yes, 0 no, -1 too short. */
static int connect_vh(const uint8_t *b, size_t n)
{
	if (n < 2)
		return -1;
	if (b[0] != 0 || (b[1] != 4 && b[1] != 6))
		return 0;
	if (b[1] == 4) {
		if (n < 8)
			return memcmp(b + 2, "MQTT", n - 2 < 4 ? n - 2 : 4) ? 0 : -1;
		return !memcmp(b + 2, "MQTT", 4) && (b[6] == 4 || b[6] == 5) && !(b[7] & 1);
	}
	if (n < 10)
		return memcmp(b + 2, "MQIsdp", n - 2 < 6 ? n - 2 : 6) ? 0 : -1;
	return !memcmp(b + 2, "MQIsdp", 6) && b[8] == 3 && !(b[9] & 1);
}

/*
 * The size of a CONNECT body read from its fields, for a CONNECT whose fixed header went by
 * in reads the parser never saw (a broker that reads the fixed header byte by byte before
 * the connection is known to be MQTT). 1 found, 0 need more, -1 malformed.
 */
static int connect_body_len(const uint8_t *b, size_t n, size_t *out)
{
	size_t i;
	uint8_t flags, level;
	int nfields;

	if (connect_vh(b, n) != 1)
		return connect_vh(b, n) < 0 ? 0 : -1;
	i = 2 + (size_t)b[1];
	level = b[i];
	flags = b[i + 1];
	i += 4; /* level, flags, keep alive */
	if (i > n)
		return 0;
	if (level == 5) {
		uint32_t plen;
		size_t used;
		int r = read_varint(b + i, n - i, &plen, &used);

		if (r <= 0)
			return r;
		i += used + plen;
		if (i > n)
			return 0;
	}
	/* client id; will properties (5), will topic, will payload; user name; password */
	nfields = 1;
	if (flags & 4) {
		if (level == 5) {
			uint32_t plen;
			size_t used;
			int r;

			/* the client id first */
			if (n < i + 2)
				return 0;
			i += 2 + be16(b + i);
			if (i > n)
				return 0;
			r = read_varint(b + i, n - i, &plen, &used);
			if (r <= 0)
				return r;
			i += used + plen;
			if (i > n)
				return 0;
			nfields = 0;
		}
		nfields += 2;
	}
	nfields += !!(flags & 0x80) + !!(flags & 0x40);
	for (int k = 0; k < nfields; k++) {
		if (i > n || n - i < 2)
			return 0;
		i += 2 + be16(b + i);
	}
	if (i > n)
		return 0;
	*out = i;
	return 1;
}

static void put_text(struct mq_dir *d, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && d->res_len < MQ_RES_CAP; i++) {
		uint8_t c = p[i];

		d->res[d->res_len++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
}

/* MQTT 5 reason codes of failures, as the specification names them. */
static const char *reason_text(uint8_t rc)
{
	static const char *const t[] = {
		"unspecified error",
		"malformed packet",
		"protocol error",
		"implementation specific error",
		"unsupported protocol version",
		"client identifier not valid",
		"bad user name or password",
		"not authorized",
		"server unavailable",
		"server busy",
		"banned",
		"server shutting down",
		"bad authentication method",
		"keep alive timeout",
		"session taken over",
		"topic filter invalid",
		"topic name invalid",
		"packet identifier in use",
		"packet identifier not found",
		"receive maximum exceeded",
		"topic alias invalid",
		"packet too large",
		"message rate too high",
		"quota exceeded",
		"administrative action",
		"payload format invalid",
		"retain not supported",
		"QoS not supported",
		"use another server",
		"server moved",
		"shared subscriptions not supported",
		"connection rate exceeded",
		"maximum connect time",
		"subscription identifiers not supported",
		"wildcard subscriptions not supported",
	};

	if (rc < 0x80 || rc - 0x80 >= (int)(sizeof(t) / sizeof(t[0])))
		return rc < 0x80 ? NULL : "error";
	return t[rc - 0x80];
}

/* MQTT 3.x CONNACK return codes. */
static const char *connack3_text(uint8_t rc)
{
	static const char *const t[] = {
		NULL,
		"unacceptable protocol version",
		"identifier rejected",
		"server unavailable",
		"bad user name or password",
		"not authorized",
	};

	return rc < 6 ? t[rc] : "refused";
}

static uint8_t reason_status(uint8_t rc)
{
	if (rc < 0x80)
		return PROTO_STATUS_OK;
	switch (rc) {
	case 0x80: /* unspecified error */
	case 0x83: /* implementation specific error */
	case 0x88: /* server unavailable */
	case 0x89: /* server busy */
	case 0x8b: /* server shutting down */
	case 0x97: /* quota exceeded */
	case 0x9c: /* use another server */
	case 0x9d: /* server moved */ return PROTO_STATUS_SERVER_ERROR;
	default: return PROTO_STATUS_CLIENT_ERROR;
	}
}

/* MQTT 3.x CONNACK return codes. */
static uint8_t connack3_status(uint8_t rc)
{
	if (rc == 0)
		return PROTO_STATUS_OK;
	return rc == 3 ? PROTO_STATUS_SERVER_ERROR : PROTO_STATUS_CLIENT_ERROR;
}

/* Skip MQTT 5 properties at b[*i..n): false when they run past what is there. */
static bool skip_props(const uint8_t *b, size_t n, size_t *i)
{
	uint32_t plen;
	size_t used;

	if (read_varint(b + *i, n - *i, &plen, &used) != 1)
		return false;
	if (plen > n - *i - used)
		return false;
	*i += used + plen;
	return true;
}

/*
 * Topic filters of SUBSCRIBE (opts: one options byte after each) or UNSUBSCRIBE, from b[i..]
 * of a body whose head holds n bytes of rem. Returns false if malformed; with whole (the
 * body is all there) the filters must fill it exactly.
 */
static bool read_filters(struct mq_dir *d, const uint8_t *b, size_t n, size_t i, bool opts,
			 bool whole, bool fill)
{
	size_t count = 0;

	while (i < n) {
		uint16_t tl;

		if (n - i < 2) {
			if (whole)
				return false;
			d->truncated = true;
			break;
		}
		tl = be16(b + i);
		i += 2;
		if (!tl && whole)
			return false;
		if (fill && count && d->res_len < MQ_RES_CAP)
			d->res[d->res_len++] = ',';
		if ((size_t)tl > n - i) {
			if (whole)
				return false;
			if (fill)
				put_text(d, b + i, n - i);
			d->truncated = true;
			i = n;
			break;
		}
		if (fill)
			put_text(d, b + i, tl);
		i += tl;
		count++;
		if (opts) {
			if (i >= n) {
				if (whole)
					return false;
				break;
			}
			if (b[i] & 0xc0)
				return false; /* reserved bits */
			if ((b[i] & 3) == 3)
				return false; /* QoS 3 */
			i++;
		}
	}
	return count > 0;
}

/* The reason codes of SUBACK / UNSUBACK: the first failure, if any. */
static void ack_codes(struct mq_dir *d, const uint8_t *b, size_t n, size_t i)
{
	for (; i < n; i++) {
		if (b[i] >= 0x80) {
			d->code = b[i];
			d->status = reason_status(b[i]);
			d->exc = reason_text(b[i]);
			if (b[i] == 0x80 && d->status == PROTO_STATUS_SERVER_ERROR)
				d->status = PROTO_STATUS_CLIENT_ERROR; /* "failure": refused */
			return;
		}
	}
}

/*
 * Read a packet's head: b[0..n) of its body of rem bytes (n < rem when only MQ_HEAD bytes
 * were taken or the capture was cut). from_cli: the client sent it. false: malformed.
 */
static bool read_head(struct mq_state *s, struct mq_dir *d, uint8_t b0, const uint8_t *b, size_t n,
		      uint32_t rem, bool from_cli)
{
	uint8_t t = b0 >> 4;
	bool whole = n == rem;
	size_t i = 0;
	int snd = sender_of(t);
	uint8_t v5 = s->level == 5;

	if ((snd == 1 && !from_cli) || (snd == 2 && from_cli))
		return false;
	d->type = t;
	d->kind = from_cli ? PROTO_MSG_REQUEST : PROTO_MSG_RESPONSE;
	d->flags = 0;
	d->code = -1;
	d->status = PROTO_STATUS_OK;
	d->exc = NULL;
	d->has_pid = d->has_session = false;
	d->res_len = 0;
	d->truncated = false; /* set when a field the record shows is cut */

	switch (t) {
	case MQ_CONNECT: {
		uint16_t nl, il;
		uint8_t level;

		if (n < 2)
			return false;
		nl = be16(b);
		if (!((nl == 4 && n >= 6 && !memcmp(b + 2, "MQTT", 4)) ||
		      (nl == 6 && n >= 8 && !memcmp(b + 2, "MQIsdp", 6))))
			return false;
		i = 2 + nl;
		if (n < i + 4)
			return false;
		level = b[i];
		if (!((nl == 4 && (level == 4 || level == 5)) || (nl == 6 && level == 3)))
			return false;
		if (b[i + 1] & 1)
			return false; /* reserved flag */
		i += 4;
		s->level = level;
		v5 = level == 5;
		s->id_len = 0;
		if (v5 && !skip_props(b, n, &i)) {
			if (whole)
				return false;
			d->truncated = true;
			break;
		}
		if (n - i < 2) {
			if (whole)
				return false;
			d->truncated = true;
			break;
		}
		il = be16(b + i);
		i += 2;
		if (il > n - i) {
			if (whole)
				return false;
			il = (uint16_t)(n - i);
			d->truncated = true;
		}
		for (size_t k = 0; k < il && s->id_len < MQ_ID_CAP; k++) {
			uint8_t c = b[i + k];

			s->client_id[s->id_len++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		}
		break;
	}
	case MQ_CONNACK:
		if (n < 2)
			return false;
		if (b[0] & 0xfe)
			return false; /* reserved acknowledge flags */
		d->code = b[1];
		if (s->level == 5 || (s->level == 0 && rem > 2)) {
			d->status = reason_status(b[1]);
			d->exc = reason_text(b[1]);
		} else {
			d->status = connack3_status(b[1]);
			d->exc = connack3_text(b[1]);
		}
		break;
	case MQ_PUBLISH: {
		uint8_t qos = (b0 >> 1) & 3;
		uint16_t tl;

		if (n < 2)
			return false;
		tl = be16(b);
		if ((uint64_t)tl + 2 + (qos ? 2 : 0) > rem)
			return false;
		if (!tl && !v5)
			return false; /* MQTT 5 may send a topic alias instead */
		if ((size_t)tl + 2 > n) {
			put_text(d, b + 2, n - 2);
			d->truncated = true;
			break;
		}
		for (size_t k = 0; k < tl; k++)
			if (b[2 + k] == 0 || b[2 + k] == '+' || b[2 + k] == '#')
				return false; /* not in a topic name */
		put_text(d, b + 2, tl);
		i = 2 + (size_t)tl;
		if (qos) {
			if (n - i < 2) {
				d->truncated = true;
				break;
			}
			d->has_pid = true;
			d->pid = be16(b + i);
			if (!d->pid)
				return false;
		} else {
			d->flags = from_cli ? PROTO_MSG_F_NO_RESPONSE : 0;
		}
		if (!from_cli)
			d->flags = PROTO_MSG_F_UNSOLICITED;
		break;
	}
	case MQ_PUBACK:
	case MQ_PUBREC:
	case MQ_PUBREL:
	case MQ_PUBCOMP:
		if (n < 2)
			return false;
		d->has_pid = true;
		d->pid = be16(b);
		if (!d->pid)
			return false;
		if (!from_cli && n >= 3 && t != MQ_PUBREL) {
			d->code = b[2];
			d->status = reason_status(b[2]);
			d->exc = reason_text(b[2]);
		}
		if (t == MQ_PUBREL ? !from_cli : from_cli)
			/* the subscriber's side of a delivery the broker started */
			d->flags = from_cli ? PROTO_MSG_F_NO_RESPONSE : PROTO_MSG_F_UNSOLICITED;
		break;
	case MQ_SUBSCRIBE:
	case MQ_UNSUBSCRIBE: {
		bool opts = t == MQ_SUBSCRIBE;

		if (n < 2)
			return false;
		d->has_pid = true;
		d->pid = be16(b);
		if (!d->pid)
			return false;
		i = 2;
		if (s->level == 0 && whole) {
			/* version unknown (joined mid-connection): the 3.1.1 layout, else 5 */
			size_t j = 2;

			if (read_filters(d, b, n, 2, opts, true, false))
				v5 = 0;
			else if (skip_props(b, n, &j) &&
				 read_filters(d, b, n, j, opts, true, false))
				v5 = 1;
			else
				return false;
		}
		if (v5 && !skip_props(b, n, &i)) {
			if (whole)
				return false;
			d->truncated = true;
			break;
		}
		if (!read_filters(d, b, n, i, opts, whole, true) && whole)
			return false;
		break;
	}
	case MQ_SUBACK:
	case MQ_UNSUBACK:
		if (n < 2)
			return false;
		d->has_pid = true;
		d->pid = be16(b);
		if (!d->pid)
			return false;
		i = 2;
		if (v5 && !skip_props(b, n, &i)) {
			if (whole)
				return false;
			break;
		}
		if (t == MQ_SUBACK || v5)
			ack_codes(d, b, n, i);
		break;
	case MQ_PINGREQ:
	case MQ_PINGRESP: break;
	case MQ_DISCONNECT:
		if (n >= 1) {
			if (from_cli)
				break;
			d->code = b[0];
			d->status = reason_status(b[0]);
			d->exc = reason_text(b[0]);
		}
		break;
	case MQ_AUTH:
		if (n >= 1 && !from_cli) {
			d->code = b[0];
			d->status = reason_status(b[0]);
			d->exc = reason_text(b[0]);
		}
		break;
	default: return false;
	}
	if (t == MQ_DISCONNECT)
		d->flags = from_cli ? PROTO_MSG_F_NO_RESPONSE : PROTO_MSG_F_UNSOLICITED;
	if (d->has_pid && !(d->flags & (PROTO_MSG_F_NO_RESPONSE | PROTO_MSG_F_UNSOLICITED))) {
		d->has_session = true;
		/* the client chose the identifiers of the exchanges it started */
		d->session = d->pid;
	} else if (d->has_pid) {
		d->has_session = true;
		d->session = d->pid | MQ_SRV_BIT;
	}
	return true;
}

static const char *version_str(uint8_t level)
{
	switch (level) {
	case 3: return "3.1";
	case 4: return "3.1.1";
	case 5: return "5";
	default: return "";
	}
}

static void emit_msg(struct mq_state *s, struct mq_dir *d, enum proto_dir dir, proto_emit_fn emit,
		     void *ctx, struct proto_stats *st)
{
	struct proto_msg m;
	size_t vl = strlen(version_str(s->level)), ml = strlen(mq_names[d->type & 15]);

	memcpy(s->version, version_str(s->level), vl);
	memcpy(s->method, mq_names[d->type & 15], ml);
	memset(&m, 0, sizeof(m));
	m.kind = d->kind;
	m.dir = dir;
	m.flags = d->flags | (d->truncated ? PROTO_MSG_F_TRUNCATED : 0);
	m.start_ts = d->start_ts;
	m.end_ts = d->end_ts < d->start_ts ? d->start_ts : d->end_ts;
	m.tcp_seq = d->seq;
	m.length = d->length ? d->length : 1;
	m.version = (struct proto_str){ s->version, (uint32_t)vl };
	m.method = (struct proto_str){ s->method, (uint32_t)ml };
	m.domain = (struct proto_str){ s->client_id, s->id_len };
	m.resource = (struct proto_str){ d->res, d->res_len };
	m.endpoint = m.resource;
	m.code = d->kind == PROTO_MSG_REQUEST ? -1 : d->code;
	m.status = d->status;
	if (m.kind == PROTO_MSG_RESPONSE && m.status != PROTO_STATUS_OK && d->exc) {
		size_t el = strlen(d->exc);

		if (el > sizeof(s->exc))
			el = sizeof(s->exc);
		memcpy(s->exc, d->exc, el);
		m.exception = (struct proto_str){ s->exc, (uint32_t)el };
	}
	m.has_request_id = d->has_pid;
	m.request_id = d->pid;
	m.has_session_id = d->has_session;
	m.session_id = d->session;
	st->messages++;
	if (m.flags & PROTO_MSG_F_TRUNCATED)
		st->truncated++;
	emit(ctx, &m);
	d->active = false;
	d->truncated = false;
}

/* Does a packet plausibly begin at p? 1 yes, 0 no, -1 too few bytes to tell. */
static int plausible(const uint8_t *p, size_t n)
{
	uint64_t total;
	size_t hl;
	int r = fixed_header(p, n, &total, &hl);

	if (r <= 0)
		return r < 0 ? 0 : -1;
	if ((p[0] >> 4) == MQ_PUBLISH && n >= hl + 2) {
		uint16_t tl = be16(p + hl);

		if ((uint64_t)tl + 2 > total - hl)
			return 0;
		for (size_t k = 0; k < tl && hl + 2 + k < n; k++) {
			uint8_t c = p[hl + 2 + k];

			if (c < 0x20 || c == 0x7f || c == '+' || c == '#')
				return 0;
		}
	}
	if ((p[0] >> 4) == MQ_CONNECT && n >= hl + 2) {
		uint16_t nl = be16(p + hl);

		if (nl != 4 && nl != 6)
			return 0;
	}
	return 1;
}

static void enter_resync(struct mq_dir *d)
{
	d->phase = MQ_RESYNC;
	d->active = false;
	d->body_left = 0;
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

static void learn_client(struct mq_state *s, const struct proto_input *in, uint8_t type)
{
	uint8_t role = in->ctx ? in->ctx->role : PROTO_ROLE_UNKNOWN;

	if (s->cli_known)
		return;
	if (role == PROTO_ROLE_CLIENT)
		s->cli_dir = PROTO_DIR_EGRESS;
	else if (role == PROTO_ROLE_SERVER)
		s->cli_dir = PROTO_DIR_INGRESS;
	else if (sender_of(type) == 2)
		s->cli_dir = (uint8_t)!in->dir;
	else
		s->cli_dir = (uint8_t)in->dir; /* the first to speak */
	s->cli_known = true;
}

static int mq_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		    struct proto_stats *st)
{
	struct mq_state *s = state;
	struct mq_dir *d;
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
	if (d->phase == MQ_RESYNC) {
		size_t e = in->event_start;

		if (e < len && plausible(data + e, len - e) != 0) {
			d->phase = MQ_IDLE;
			st->resyncs++;
			p = e;
		} else {
			return (int)len;
		}
	}
	while (p < len) {
		uint64_t total;
		size_t hl, want, avail = len - p;
		int r;

		if (d->phase == MQ_SKIP) {
			size_t k = avail < d->body_left ? avail : (size_t)d->body_left;

			p += k;
			d->body_left -= k;
			d->end_ts = ts_end_at(in, p - 1);
			if (!d->body_left) {
				d->phase = MQ_IDLE;
				emit_msg(s, d, in->dir, emit, ctx, st);
			}
			continue;
		}
		if (!d->seen && p == 0 && in->stream_off && in->stream_off <= 5 &&
		    connect_vh(data, avail) != 0) {
			/* the body of a CONNECT whose fixed header was read apart */
			size_t blen = 0;

			r = connect_body_len(data, avail < MQ_HEAD ? avail : MQ_HEAD, &blen);
			if (r < 0 || (r == 0 && (avail >= MQ_HEAD || in->gap)))
				goto bad;
			if (r == 0)
				break;
			learn_client(s, in, MQ_CONNECT);
			if (!read_head(s, d, MQ_CONNECT << 4, data, blen, (uint32_t)blen,
				       s->cli_dir == in->dir))
				goto bad;
			d->seen = true;
			d->start_ts = ts_start_at(in, 0);
			d->seq = proto_input_seq_at(in, 0);
			if (d->seq)
				d->seq -= (uint32_t)in->stream_off;
			d->end_ts = ts_end_at(in, blen - 1);
			d->length = blen + in->stream_off;
			p = blen;
			emit_msg(s, d, in->dir, emit, ctx, st);
			continue;
		}
		r = fixed_header(data + p, avail, &total, &hl);
		if (r < 0)
			goto bad;
		if (r == 0)
			break;
		want = total < MQ_HEAD ? (size_t)total : MQ_HEAD;
		if (avail < want && !in->gap)
			break;
		if (avail < want)
			want = avail; /* the gap cuts the head: read what is there */
		learn_client(s, in, data[p] >> 4);
		if (!read_head(s, d, data[p], data + p + hl, want - hl, (uint32_t)(total - hl),
			       s->cli_dir == in->dir))
			goto bad;
		d->active = true;
		d->seen = true;
		d->start_ts = ts_start_at(in, p);
		d->seq = proto_input_seq_at(in, p);
		d->end_ts = ts_end_at(in, p + want - 1);
		d->length = total;
		d->body_left = total - want;
		p += want;
		if (d->body_left)
			d->phase = MQ_SKIP;
		else
			emit_msg(s, d, in->dir, emit, ctx, st);
	}
	if (in->gap) {
		if (p < len) {
			/* a fixed header cut by the gap: its packet's end is unknown */
			st->truncated++;
			enter_resync(d);
		} else if (d->phase == MQ_SKIP) {
			if (in->gap < d->body_left) {
				d->body_left -= in->gap;
			} else {
				uint64_t over = in->gap - d->body_left;

				d->body_left = 0;
				d->phase = MQ_IDLE;
				emit_msg(s, d, in->dir, emit, ctx, st);
				if (over)
					enter_resync(d);
			}
		} else {
			enter_resync(d);
		}
		return (int)len;
	}
	return (int)p;
bad:
	st->parse_errors++;
	enter_resync(d);
	return PROTO_ERROR;
}

static void mq_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			struct proto_stats *st)
{
	struct mq_state *s = state;

	for (int i = 0; i < 2; i++) {
		struct mq_dir *d = &s->dir[i];

		if (d->active) {
			d->truncated = true;
			if (!d->end_ts)
				d->end_ts = ts;
			emit_msg(s, d, (enum proto_dir)i, emit, ctx, st);
		}
		d->phase = MQ_IDLE;
		d->active = false;
		d->body_left = 0;
	}
}

static void mq_reset(void *state, enum proto_dir dir)
{
	struct mq_state *s = state;

	if (s && (dir == PROTO_DIR_EGRESS || dir == PROTO_DIR_INGRESS))
		enter_resync(&s->dir[dir]);
}

/* A CONNECT at data: 1 yes, 0 no, -1 too short to tell. */
static int is_connect(const uint8_t *data, size_t len)
{
	uint64_t total;
	size_t hl;
	int r = fixed_header(data, len, &total, &hl);
	const uint8_t *b;

	if (r <= 0)
		return r < 0 ? 0 : -1;
	if ((data[0] >> 4) != MQ_CONNECT)
		return 0;
	if (len < hl + 10)
		return -1;
	b = data + hl;
	if (b[0] == 0 && b[1] == 4 && !memcmp(b + 2, "MQTT", 4) && (b[6] == 4 || b[6] == 5) &&
	    !(b[7] & 1))
		return 1;
	if (len < hl + 12)
		return -1;
	if (b[0] == 0 && b[1] == 6 && !memcmp(b + 2, "MQIsdp", 6) && b[8] == 3 && !(b[9] & 1))
		return 1;
	return 0;
}

static enum proto_detect mq_detect(const uint8_t *data, size_t len, enum proto_dir dir,
				   const struct proto_ctx *ctx)
{
	bool port = ctx && ctx->server_port == MQ_PORT;
	int c;

	if (!data || !len)
		return PROTO_DETECT_NO;
	if (ctx && ctx->l4_proto != 6)
		return PROTO_DETECT_NO;
	c = is_connect(data, len);
	if (c != 1 && connect_vh(data, len) == 1)
		c = 1; /* a CONNECT body: its fixed header was read apart */
	if (c == 1) {
		/* only the client sends CONNECT */
		if (ctx && ((ctx->role == PROTO_ROLE_CLIENT && dir != PROTO_DIR_EGRESS) ||
			    (ctx->role == PROTO_ROLE_SERVER && dir != PROTO_DIR_INGRESS)))
			return PROTO_DETECT_NO;
		return PROTO_DETECT_YES;
	}
	/* a fixed header read apart from its packet (a broker reading byte by byte) */
	if (port && len < 5 && plausible(data, len) == -1)
		return PROTO_DETECT_MAYBE;
	if (port && plausible(data, len) == 1) {
		uint64_t total;
		size_t hl;

		/* a whole packet, or the head of a larger one, not some bytes that happen
		 * to start like one */
		if (fixed_header(data, len, &total, &hl) == 1 &&
		    (total == len || (total > len && len >= 8) ||
		     (total < len && plausible(data + total, len - total) != 0)))
			return PROTO_DETECT_MAYBE;
	}
	return PROTO_DETECT_NO;
}

const struct proto_ops proto_mqtt_ops = {
	.name = "MQTT",
	.id = PROTO_MQTT,
	.state_size = sizeof(struct mq_state),
	.detect = mq_detect,
	.parse = mq_parse,
	.on_close = mq_on_close,
	.reset = mq_reset,
	.release = NULL,
};
