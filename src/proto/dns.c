/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DNS parser (RFC 1035), over UDP and TCP.
 *
 * On UDP every input is one datagram and one message. On TCP messages carry a two-byte
 * length prefix and a segment may hold several of them, or a part of one. A message is
 * decoded from one contiguous buffer (names may point anywhere before them), so the parser
 * waits, consuming nothing, until a whole message is there; a message longer than
 * DNS_TCP_HOLD (a zone transfer) is decoded from its first DNS_TCP_HOLD bytes only, is
 * flagged truncated, and its remaining bytes are skipped as they stream by. What it
 * reports is kept in the state until its last byte has passed, so the message ends when
 * its bytes end.
 *
 * Whatever the direction, the header's QR bit tells queries from responses. Queries and
 * responses pair by transaction id (session_id), which is also request_id.
 *
 * Fields, as DeepFlow fills them: request_type is the question's type name (A, AAAA, ...,
 * "TYPE<n>" for others), request_resource and endpoint the question's name,
 * request_domain the name too for address queries (A, AAAA); response_code is the RCODE,
 * response_status ok for NOERROR, client error for FORMERR and NXDOMAIN, server error for
 * the others; response_result lists the answer and authority records, "TYPE=value TTL=n"
 * for types with a value we render and the bare type name for the others, joined by "; ".
 *
 * Names are decompressed with the rule that a pointer must point before the pointer
 * itself, which alone guarantees the walk ends; a hop limit bounds the work anyway.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto.h"

#define DNS_HDR		12
#define DNS_NAME_TEXT	256 /* a presentation name is at most 253 characters + escapes cut */
#define DNS_RESULT_TEXT 512
#define DNS_TYPE_TEXT	12
#define DNS_MAX_HOPS	128
/* Messages up to this size are decoded whole; larger ones from this many bytes. */
#define DNS_TCP_HOLD 16384
#define DNS_PORT     53
#define MDNS_PORT    5353

#define T_A	1
#define T_NS	2
#define T_CNAME 5
#define T_SOA	6
#define T_PTR	12
#define T_MX	15
#define T_TXT	16
#define T_AAAA	28
#define T_DNAME 39
#define T_OPT	41

struct dns_text {
	uint16_t len;
	char s[DNS_NAME_TEXT];
};

/* One decoded message, with its strings. */
struct dns_msg {
	bool qr;
	uint8_t rcode;
	uint16_t id;
	uint16_t qtype;
	bool has_question;
	char type[DNS_TYPE_TEXT];
	struct dns_text name;
	uint16_t result_len;
	char result[DNS_RESULT_TEXT];
};

struct dns_dir {
	/* TCP: the bytes of an oversized message still to pass, and its report waiting. */
	uint32_t skip;
	bool pending;
	bool lost;    /* framing lost: wait for an event that begins with a message */
	bool started; /* bytes were seen in this direction */
	uint64_t p_start_ts;
	uint32_t p_seq;
	uint64_t p_length;
	struct dns_msg p;
};

struct dns_state {
	struct dns_dir dir[2];
	struct dns_msg scratch; /* the message being reported (views point here) */
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char *type_name(uint16_t t)
{
	switch (t) {
	case 1: return "A";
	case 2: return "NS";
	case 3: return "MD";
	case 4: return "MF";
	case 5: return "CNAME";
	case 6: return "SOA";
	case 7: return "MB";
	case 8: return "MG";
	case 9: return "MR";
	case 10: return "NULL";
	case 11: return "WKS";
	case 12: return "PTR";
	case 13: return "HINFO";
	case 14: return "MINFO";
	case 15: return "MX";
	case 16: return "TXT";
	case 28: return "AAAA";
	case 33: return "SRV";
	case 35: return "NAPTR";
	case 39: return "DNAME";
	case 41: return "OPT";
	case 43: return "DS";
	case 46: return "RRSIG";
	case 47: return "NSEC";
	case 48: return "DNSKEY";
	case 52: return "TLSA";
	case 64: return "SVCB";
	case 65: return "HTTPS";
	case 99: return "SPF";
	case 251: return "IXFR";
	case 252: return "AXFR";
	case 253: return "MAILB";
	case 254: return "MAILA";
	case 255: return "ANY";
	case 257: return "CAA";
	default: return NULL;
	}
}

static void type_text(uint16_t t, char *out)
{
	const char *n = type_name(t);

	if (n)
		snprintf(out, DNS_TYPE_TEXT, "%s", n);
	else
		snprintf(out, DNS_TYPE_TEXT, "TYPE%u", t);
}

static void text_put(struct dns_text *t, const char *s, size_t n)
{
	if (n > sizeof(t->s) - t->len)
		n = sizeof(t->s) - t->len;
	memcpy(t->s + t->len, s, n);
	t->len += (uint16_t)n;
}

/*
 * Decode the name at m[off] into out (presentation form, without the final dot; the root
 * is empty). *next is the offset after the name where it was written (not where pointers
 * led). Returns false when the name is malformed or runs past n.
 */
static bool decode_name(const uint8_t *m, size_t n, size_t off, struct dns_text *out, size_t *next)
{
	size_t pos = off, hops = 0, wire = 0;
	bool jumped = false;

	out->len = 0;
	for (;;) {
		uint8_t c;

		if (pos >= n)
			return false;
		c = m[pos];
		if (c == 0) {
			if (!jumped)
				*next = pos + 1;
			return true;
		}
		if ((c & 0xc0) == 0xc0) {
			size_t to;

			if (pos + 1 >= n)
				return false;
			to = (size_t)(c & 0x3f) << 8 | m[pos + 1];
			/* Only backwards: every jump lowers pos, so the walk must end. */
			if (to >= pos || ++hops > DNS_MAX_HOPS)
				return false;
			if (!jumped)
				*next = pos + 2;
			jumped = true;
			pos = to;
			continue;
		}
		if (c & 0xc0) /* 0x40 / 0x80: extended label types, not in use */
			return false;
		if (pos + 1 + c > n)
			return false;
		wire += 1u + c;
		if (wire > 255)
			return false;
		if (out->len)
			text_put(out, ".", 1);
		for (size_t i = 0; i < c; i++) {
			uint8_t b = m[pos + 1 + i];

			if (b > 0x20 && b < 0x7f && b != '.' && b != '\\') {
				text_put(out, (const char *)&b, 1);
			} else {
				char e[5];

				snprintf(e, sizeof(e), "\\%03u", b);
				text_put(out, e, 4);
			}
		}
		pos += 1u + c;
	}
}

static void result_put(struct dns_msg *d, const char *s, size_t n)
{
	if (n > sizeof(d->result) - d->result_len)
		n = sizeof(d->result) - d->result_len;
	memcpy(d->result + d->result_len, s, n);
	d->result_len += (uint16_t)n;
}

/* One answer / authority record into the result. Returns false when malformed. */
static bool decode_rr(const uint8_t *m, size_t n, size_t *off, struct dns_msg *d)
{
	struct dns_text name;
	size_t p, rd;
	uint16_t type, rdlen;
	uint32_t ttl;
	char buf[DNS_NAME_TEXT + 48];
	int k = -1;

	if (!decode_name(m, n, *off, &name, &p))
		return false;
	if (p + 10 > n)
		return false;
	type = be16(m + p);
	ttl = be32(m + p + 4);
	rdlen = be16(m + p + 8);
	rd = p + 10;
	if (rd + rdlen > n)
		return false;
	*off = rd + rdlen;
	if (type == T_OPT)
		return true;
	switch (type) {
	case T_A:
		if (rdlen == 4)
			k = snprintf(buf, sizeof(buf), "A=%u.%u.%u.%u", m[rd], m[rd + 1], m[rd + 2],
				     m[rd + 3]);
		break;
	case T_AAAA:
		if (rdlen == 16) {
			/* RFC 5952 text: the longest run (>= 2) of zero groups becomes "::". */
			int best = -1, bestn = 0, cur = -1, curn = 0, w;
			uint16_t g[8];

			for (int i = 0; i < 8; i++) {
				g[i] = be16(m + rd + 2 * i);
				if (!g[i]) {
					if (cur < 0)
						cur = i, curn = 0;
					if (++curn > bestn)
						best = cur, bestn = curn;
				} else {
					cur = -1;
				}
			}
			if (bestn < 2)
				best = -1;
			w = snprintf(buf, sizeof(buf), "AAAA=");
			for (int i = 0; i < 8; i++) {
				if (i == best) {
					w += snprintf(buf + w, sizeof(buf) - w, "::");
					i += bestn - 1;
					continue;
				}
				w += snprintf(buf + w, sizeof(buf) - w, "%s%x",
					      i && i != best + bestn ? ":" : "", g[i]);
			}
			k = w;
		}
		break;
	case T_NS:
	case T_CNAME:
	case T_PTR:
	case T_DNAME:
	case T_SOA: {
		struct dns_text v;
		size_t end;

		/* SOA: the primary server's name, as DeepFlow shows it. */
		if (!decode_name(m, rd + rdlen, rd, &v, &end))
			break;
		k = snprintf(buf, sizeof(buf), "%s=%.*s", type_name(type), (int)v.len, v.s);
		break;
	}
	case T_MX: {
		struct dns_text v;
		size_t end;

		if (rdlen < 3 || !decode_name(m, rd + rdlen, rd + 2, &v, &end))
			break;
		k = snprintf(buf, sizeof(buf), "MX=%u %.*s", be16(m + rd), (int)v.len, v.s);
		break;
	}
	case T_TXT: {
		/* The character-strings one after the other, each cut to what fits. */
		size_t q = rd, w;

		w = (size_t)snprintf(buf, sizeof(buf), "TXT=");
		while (q < rd + rdlen) {
			size_t l = m[q++];

			if (q + l > rd + rdlen)
				break;
			for (size_t i = 0; i < l && w + 2 < 128; i++) {
				uint8_t b = m[q + i];

				buf[w++] = (b >= 0x20 && b < 0x7f && b != ';') ? (char)b : '?';
			}
			q += l;
		}
		buf[w] = 0;
		k = (int)w;
		break;
	}
	default: break;
	}
	if (d->result_len)
		result_put(d, "; ", 2);
	if (k < 0) {
		char t[DNS_TYPE_TEXT];

		type_text(type, t);
		result_put(d, t, strlen(t));
		return true;
	}
	if ((size_t)k >= sizeof(buf))
		k = sizeof(buf) - 1;
	result_put(d, buf, (size_t)k);
	k = snprintf(buf, sizeof(buf), " TTL=%u", ttl);
	result_put(d, buf, (size_t)k);
	return true;
}

/*
 * Decode a message of n bytes (m may hold only the first n of a longer one when cut:
 * then records that run past n are left out). Returns false when the header or the
 * question is not DNS.
 */
static bool decode(const uint8_t *m, size_t n, struct dns_msg *d)
{
	uint16_t qd, an, ns;
	size_t off = DNS_HDR;

	memset(d, 0, offsetof(struct dns_msg, name));
	d->name.len = 0;
	d->result_len = 0;
	if (n < DNS_HDR)
		return false;
	d->id = be16(m);
	d->qr = m[2] & 0x80;
	if (((m[2] >> 3) & 0xf) > 6) /* opcodes 0..6 are assigned */
		return false;
	d->rcode = m[3] & 0xf;
	qd = be16(m + 4);
	an = be16(m + 6);
	ns = be16(m + 8);
	if (qd > 32 || (!d->qr && qd == 0))
		return false;
	for (uint16_t i = 0; i < qd; i++) {
		struct dns_text nm;
		size_t next;

		if (!decode_name(m, n, off, &nm, &next) || next + 4 > n)
			return false;
		if (i == 0) {
			d->name = nm;
			d->qtype = be16(m + next);
			d->has_question = true;
		}
		off = next + 4;
	}
	if (d->has_question)
		type_text(d->qtype, d->type);
	if (!d->qr)
		return true;
	/* Answers, then authority (an NXDOMAIN's SOA); the additional section is left out. */
	for (uint32_t i = 0; i < (uint32_t)an + ns; i++) {
		if (!decode_rr(m, n, &off, d))
			break;
	}
	return true;
}

static void fill(struct proto_msg *pm, const struct dns_msg *d, enum proto_dir dir)
{
	memset(pm, 0, sizeof(*pm));
	pm->dir = dir;
	pm->kind = d->qr ? PROTO_MSG_RESPONSE : PROTO_MSG_REQUEST;
	pm->code = -1;
	pm->has_request_id = pm->has_session_id = true;
	pm->request_id = pm->session_id = d->id;
	if (d->has_question) {
		pm->method = (struct proto_str){ d->type, (uint32_t)strlen(d->type) };
		pm->resource = (struct proto_str){ d->name.s, d->name.len };
		pm->endpoint = pm->resource;
		if (d->qtype == T_A || d->qtype == T_AAAA)
			pm->domain = pm->resource;
	}
	if (d->qr) {
		pm->code = d->rcode;
		if (d->rcode == 0)
			pm->status = PROTO_STATUS_OK;
		else if (d->rcode == 1 || d->rcode == 3)
			pm->status = PROTO_STATUS_CLIENT_ERROR;
		else
			pm->status = PROTO_STATUS_SERVER_ERROR;
		pm->result = (struct proto_str){ d->result, d->result_len };
	}
}

/* Where the message in m ends when all its sections are walked, or 0 when they are not
 * all there or not well-formed. */
static size_t msg_end(const uint8_t *m, size_t n)
{
	struct dns_text nm;
	size_t off = DNS_HDR, next;
	uint32_t rrs;

	if (n < DNS_HDR)
		return 0;
	rrs = (uint32_t)be16(m + 6) + be16(m + 8) + be16(m + 10);
	for (uint16_t i = 0; i < be16(m + 4); i++) {
		if (!decode_name(m, n, off, &nm, &next) || next + 4 > n)
			return 0;
		off = next + 4;
	}
	for (uint32_t i = 0; i < rrs; i++) {
		if (!decode_name(m, n, off, &nm, &next) || next + 10 > n)
			return 0;
		off = next + 10 + be16(m + next + 8);
		if (off > n)
			return 0;
	}
	return off;
}

/* Plausible start of a message: header sane and the first question decodes. */
static bool plausible(const uint8_t *m, size_t n, struct dns_msg *d)
{
	if (n < DNS_HDR || be16(m + 4) != 1)
		return false;
	return decode(m, n, d) && d->has_question;
}

static bool port_is_dns(const struct proto_ctx *ctx)
{
	return ctx && (ctx->server_port == DNS_PORT || ctx->server_port == MDNS_PORT);
}

static enum proto_detect dns_detect(const uint8_t *data, size_t len, enum proto_dir dir,
				    const struct proto_ctx *ctx)
{
	struct dns_msg d;
	bool tcp = ctx && ctx->l4_proto == 6;
	bool well_known = port_is_dns(ctx);
	uint16_t an, ns, ar;

	(void)dir;
	if (ctx && ctx->l4_proto != 6 && ctx->l4_proto != 17)
		return PROTO_DETECT_NO;
	if (tcp) {
		/*
		 * Prefixed, or bare: a server that reads the two length bytes on their own has
		 * its first read go unrecognised, and the second hold exactly one message.
		 */
		if (len >= DNS_HDR && msg_end(data, len) == len) {
			/* bare */
		} else if (len < 2 + DNS_HDR || be16(data) < DNS_HDR ||
			   (size_t)be16(data) + 2 < len) {
			/* The length must cover what is there (a first segment may be partial). */
			return PROTO_DETECT_NO;
		} else {
			data += 2;
			len -= 2;
		}
	}
	if (len < DNS_HDR + 5 || !plausible(data, len, &d))
		return PROTO_DETECT_NO;
	an = be16(data + 6);
	ns = be16(data + 8);
	ar = be16(data + 10);
	if (!d.qr) {
		/* A query: one question, no answers, at most an OPT and a TSIG/cookie. */
		if (an || ns > 1 || ar > 2 || (data[3] & 0x0f))
			return PROTO_DETECT_NO;
		return well_known || !ctx ? PROTO_DETECT_YES : PROTO_DETECT_MAYBE;
	}
	/* A response seen first (joining late): only on DNS's ports. */
	return well_known ? PROTO_DETECT_MAYBE : PROTO_DETECT_NO;
}

static void emit_msg(struct dns_state *s, const struct dns_msg *d, enum proto_dir dir,
		     uint64_t start_ts, uint64_t end_ts, uint32_t seq, uint64_t length,
		     uint32_t flags, proto_emit_fn emit, void *ctx, struct proto_stats *st)
{
	struct proto_msg pm;

	if (d != &s->scratch)
		s->scratch = *d;
	fill(&pm, &s->scratch, dir);
	pm.flags = flags;
	pm.start_ts = start_ts;
	pm.end_ts = end_ts < start_ts ? start_ts : end_ts;
	pm.tcp_seq = seq;
	pm.length = length;
	st->messages++;
	if (flags & PROTO_MSG_F_TRUNCATED)
		st->truncated++;
	emit(ctx, &pm);
}

static int parse_udp(struct dns_state *s, const struct proto_input *in, proto_emit_fn emit,
		     void *ctx, struct proto_stats *st)
{
	const struct proto_seg *a = proto_input_locate(in, 0), *b;

	if (!in->len)
		return 0;
	if (!decode(in->data, in->len, &s->scratch) || !s->scratch.has_question) {
		st->parse_errors++;
		return PROTO_ERROR;
	}
	b = proto_input_locate(in, in->len - 1);
	emit_msg(s, &s->scratch, in->dir, a ? a->ts_start : 0, b ? b->ts_end : 0, 0,
		 in->len + in->gap, in->gap ? PROTO_MSG_F_TRUNCATED : 0, emit, ctx, st);
	return (int)in->len;
}

static int parse_tcp(struct dns_state *s, const struct proto_input *in, proto_emit_fn emit,
		     void *ctx, struct proto_stats *st)
{
	struct dns_dir *d = &s->dir[in->dir];
	size_t p = 0, len = in->len;

	if (d->lost) {
		/* Only an event that begins with a plausible message restarts the framing. */
		size_t e = in->event_start;

		if (e < len && len - e >= 2 + DNS_HDR && be16(in->data + e) >= DNS_HDR &&
		    plausible(in->data + e + 2,
			      len - e - 2 < be16(in->data + e) ? len - e - 2 : be16(in->data + e),
			      &s->scratch)) {
			d->lost = false;
			st->resyncs++;
			p = e;
		} else {
			return (int)len; /* gap handled: nothing is framed */
		}
	}
	if (!d->started) {
		d->started = true;
		/* The first bytes of a direction may be a message whose length was read in an
		 * event nobody recognised (see dns_detect): exactly one whole message, not
		 * readable as a prefixed one. It is reported with its prefix's two bytes. */
		if (p == 0 && len >= DNS_HDR && msg_end(in->data, len) == len &&
		    !(len >= 2 + DNS_HDR && (size_t)be16(in->data) + 2 == len &&
		      msg_end(in->data + 2, len - 2) == len - 2) &&
		    decode(in->data, len, &s->scratch) && s->scratch.has_question) {
			const struct proto_seg *a = proto_input_locate(in, 0);
			const struct proto_seg *b = proto_input_locate(in, len - 1);
			uint32_t seq = proto_input_seq_at(in, 0);

			st->resyncs++; /* framing picked up from the bytes, not followed */
			emit_msg(s, &s->scratch, in->dir, a ? a->ts_start : 0, b ? b->ts_end : 0,
				 seq ? seq - 2 : 0, len + 2 + in->gap,
				 in->gap ? PROTO_MSG_F_TRUNCATED : 0, emit, ctx, st);
			if (in->gap)
				d->lost = true;
			return (int)len;
		}
	}
	while (p < len) {
		size_t avail = len - p, total;

		if (d->skip) {
			size_t k = avail < d->skip ? avail : d->skip;

			p += k;
			d->skip -= (uint32_t)k;
			if (!d->skip && d->pending) {
				const struct proto_seg *g = proto_input_locate(in, p - 1);

				d->pending = false;
				emit_msg(s, &d->p, in->dir, d->p_start_ts, g ? g->ts_end : 0,
					 d->p_seq, d->p_length, PROTO_MSG_F_TRUNCATED, emit, ctx,
					 st);
			}
			continue;
		}
		if (avail < 2)
			break;
		total = 2 + (size_t)be16(in->data + p);
		if (total < 2 + DNS_HDR) {
			st->parse_errors++;
			d->lost = true;
			return PROTO_ERROR;
		}
		if (total <= DNS_TCP_HOLD + 2) {
			const struct proto_seg *a, *b;

			if (avail < total)
				break;
			if (!decode(in->data + p + 2, total - 2, &s->scratch) ||
			    !s->scratch.has_question) {
				st->parse_errors++;
				d->lost = true;
				return PROTO_ERROR;
			}
			a = proto_input_locate(in, p);
			b = proto_input_locate(in, p + total - 1);
			emit_msg(s, &s->scratch, in->dir, a ? a->ts_start : 0, b ? b->ts_end : 0,
				 proto_input_seq_at(in, p), total, 0, emit, ctx, st);
			p += total;
			continue;
		}
		/* Oversized: decode its first DNS_TCP_HOLD bytes, let the rest stream by. */
		if (avail < DNS_TCP_HOLD + 2 && !in->gap)
			break;
		{
			const struct proto_seg *a = proto_input_locate(in, p);
			size_t have = avail < DNS_TCP_HOLD + 2 ? avail : DNS_TCP_HOLD + 2;

			if (!decode(in->data + p + 2, have - 2, &d->p) || !d->p.has_question) {
				st->parse_errors++;
				d->lost = true;
				return PROTO_ERROR;
			}
			d->pending = true;
			d->p_start_ts = a ? a->ts_start : 0;
			d->p_seq = proto_input_seq_at(in, p);
			d->p_length = total;
			d->skip = (uint32_t)(total - have);
			p += have;
		}
	}
	if (in->gap) {
		uint64_t gap = in->gap;

		if (p < len) {
			/* A message cut by the gap: report what there is of it. */
			size_t avail = len - p;
			size_t total = avail >= 2 ? 2 + (size_t)be16(in->data + p) : 0;
			const struct proto_seg *a = proto_input_locate(in, p);
			const struct proto_seg *b = proto_input_locate(in, len - 1);

			if (total >= 2 + DNS_HDR && avail > 2 + DNS_HDR &&
			    decode(in->data + p + 2, avail - 2, &s->scratch) &&
			    s->scratch.has_question && total - avail <= gap) {
				emit_msg(s, &s->scratch, in->dir, a ? a->ts_start : 0,
					 b ? b->ts_end : 0, proto_input_seq_at(in, p), total,
					 PROTO_MSG_F_TRUNCATED, emit, ctx, st);
				gap -= total - avail;
			} else {
				d->lost = true;
			}
			p = len;
		} else if (d->skip) {
			if (gap <= d->skip) {
				d->skip -= (uint32_t)gap;
				gap = 0;
				if (!d->skip && d->pending) {
					d->pending = false;
					emit_msg(s, &d->p, in->dir, d->p_start_ts,
						 proto_input_locate(in, len ? len - 1 : 0)->ts_end,
						 d->p_seq, d->p_length, PROTO_MSG_F_TRUNCATED, emit,
						 ctx, st);
				}
			} else {
				gap -= d->skip;
				d->skip = 0;
				if (d->pending) {
					d->pending = false;
					emit_msg(s, &d->p, in->dir, d->p_start_ts,
						 proto_input_locate(in, len ? len - 1 : 0)->ts_end,
						 d->p_seq, d->p_length, PROTO_MSG_F_TRUNCATED, emit,
						 ctx, st);
				}
			}
		}
		/* Bytes of the gap beyond any message we know of: where the next one starts
		 * is unknown. */
		if (gap && !d->lost)
			d->lost = true;
	}
	return (int)p;
}

static int dns_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		     struct proto_stats *st)
{
	struct dns_state *s = state;

	if (in->dir != PROTO_DIR_EGRESS && in->dir != PROTO_DIR_INGRESS) {
		st->parse_errors++;
		return PROTO_ERROR;
	}
	if (!in->len && !in->gap)
		return 0;
	if (in->len && (!in->data || !in->segs || !in->nsegs)) {
		st->parse_errors++;
		return PROTO_ERROR;
	}
	if (in->ctx && in->ctx->l4_proto == 17)
		return parse_udp(s, in, emit, ctx, st);
	if (!in->len) {
		/* Only a gap: it counts against a message being skipped, or loses framing. */
		struct dns_dir *d = &s->dir[in->dir];

		if (d->skip && in->gap <= d->skip) {
			d->skip -= (uint32_t)in->gap;
		} else {
			d->skip = 0;
			d->lost = true;
		}
		if (!d->skip && d->pending) {
			d->pending = false;
			emit_msg(s, &d->p, in->dir, d->p_start_ts, d->p_start_ts, d->p_seq,
				 d->p_length, PROTO_MSG_F_TRUNCATED, emit, ctx, st);
		}
		return 0;
	}
	return parse_tcp(s, in, emit, ctx, st);
}

static void dns_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			 struct proto_stats *st)
{
	struct dns_state *s = state;

	for (int i = 0; i < 2; i++) {
		struct dns_dir *d = &s->dir[i];

		if (d->pending)
			emit_msg(s, &d->p, (enum proto_dir)i, d->p_start_ts, ts, d->p_seq,
				 d->p_length, PROTO_MSG_F_TRUNCATED, emit, ctx, st);
		memset(d, 0, sizeof(*d));
	}
}

static void dns_reset(void *state, enum proto_dir dir)
{
	struct dns_state *s = state;

	if (dir != PROTO_DIR_EGRESS && dir != PROTO_DIR_INGRESS)
		return;
	memset(&s->dir[dir], 0, sizeof(s->dir[dir]));
	s->dir[dir].lost = true;
}

const struct proto_ops proto_dns_ops = {
	.name = "DNS",
	.id = PROTO_DNS,
	.state_size = sizeof(struct dns_state),
	.detect = dns_detect,
	.parse = dns_parse,
	.on_close = dns_on_close,
	.reset = dns_reset,
	.release = NULL,
};
