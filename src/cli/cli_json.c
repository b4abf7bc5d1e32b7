/* SPDX-License-Identifier: Apache-2.0 */
/* See cli_json.h. Recursive descent, bounded by max_depth; nodes and text in one arena. */
#include "cli/cli_json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CJ_DEFAULT_DEPTH  64
#define CJ_DEFAULT_VALUES (4u << 20)
/* Arena blocks: big enough that a typical reply needs a handful of mallocs. */
#define CJ_BLOCK_MIN (64u << 10)

struct cj_block {
	struct cj_block *next;
	size_t used, cap;
	_Alignas(max_align_t) unsigned char mem[];
};

struct cj_doc {
	struct cj_block *blocks;
	struct cj_node *root;
};

struct cj_parser {
	const char *p, *start, *end;
	struct cj_doc *doc;
	unsigned depth, max_depth;
	size_t values, max_values;
	bool oom;
	char *err;
	size_t errlen;
};

static void *arena_alloc(struct cj_doc *doc, size_t size)
{
	struct cj_block *b = doc->blocks;
	size_t need = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
	void *mem;

	if (!b || b->cap - b->used < need) {
		size_t cap = need > CJ_BLOCK_MIN ? need : CJ_BLOCK_MIN;

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = doc->blocks;
		doc->blocks = b;
	}
	mem = b->mem + b->used;
	b->used += need;
	return mem;
}

__attribute__((format(printf, 2, 3))) static int refuse(struct cj_parser *ps, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (ps->errlen) {
		n = snprintf(ps->err, ps->errlen, "at byte %zu: ", (size_t)(ps->p - ps->start));
		if (n < 0 || (size_t)n >= ps->errlen)
			n = 0;
		va_start(ap, fmt);
		vsnprintf(ps->err + n, ps->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

static int oom(struct cj_parser *ps)
{
	ps->oom = true;
	return -ENOMEM;
}

static void skip_ws(struct cj_parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static bool take_lit(struct cj_parser *ps, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n))
		return false;
	ps->p += n;
	return true;
}

static struct cj_node *new_node(struct cj_parser *ps, enum cj_type type)
{
	struct cj_node *n;

	if (++ps->values > ps->max_values)
		return NULL;
	n = arena_alloc(ps->doc, sizeof(*n));
	if (!n) {
		ps->oom = true;
		return NULL;
	}
	*n = (struct cj_node){ .type = type, .raw = ps->p };
	return n;
}

static int node_error(struct cj_parser *ps)
{
	if (ps->oom)
		return -ENOMEM;
	return refuse(ps, "more than %zu values", ps->max_values);
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *dst, unsigned cp)
{
	if (cp < 0x80) {
		dst[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		dst[0] = (char)(0xc0 | cp >> 6);
		dst[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		dst[0] = (char)(0xe0 | cp >> 12);
		dst[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		dst[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	dst[0] = (char)(0xf0 | cp >> 18);
	dst[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	dst[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	dst[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Length of the well-formed UTF-8 sequence at s (at most n bytes), 0 if it is not one
 * (overlong forms, surrogates and code points above U+10FFFF are not), per RFC 3629.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * A string starting at the opening quote. The decoded text is never longer than the
 * escaped text between the quotes (every escape shrinks or keeps its length), so one
 * allocation of that size, plus the NUL, is enough.
 */
static int parse_string(struct cj_parser *ps, const char **out, size_t *out_len)
{
	const char *q = ps->p + 1;
	char *dst, *d;

	/* Find the closing quote first, to size the copy. */
	while (q < ps->end && *q != '"')
		q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
	if (q >= ps->end)
		return refuse(ps, "unterminated string");
	dst = arena_alloc(ps->doc, (size_t)(q - ps->p));
	if (!dst)
		return oom(ps);
	d = dst;
	ps->p++;
	while (*ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p;

		if (c < 0x20)
			return refuse(ps, "control character 0x%02x in a string", c);
		if (c >= 0x80) {
			size_t n =
				utf8_seq((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));

			if (!n)
				return refuse(ps, "invalid UTF-8 in a string");
			memcpy(d, ps->p, n);
			d += n;
			ps->p += n;
			continue;
		}
		if (c != '\\') {
			*d++ = (char)c;
			ps->p++;
			continue;
		}
		ps->p++;
		switch (*ps->p) {
		case '"': *d++ = '"'; break;
		case '\\': *d++ = '\\'; break;
		case '/': *d++ = '/'; break;
		case 'b': *d++ = '\b'; break;
		case 'f': *d++ = '\f'; break;
		case 'n': *d++ = '\n'; break;
		case 'r': *d++ = '\r'; break;
		case 't': *d++ = '\t'; break;
		case 'u': {
			unsigned cp, lo;

			if (ps->end - ps->p < 5 || hex4(ps->p + 1, &cp))
				return refuse(ps, "\\u needs four hex digits");
			ps->p += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return refuse(ps, "lone low surrogate \\u%04x", cp);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (ps->end - ps->p < 7 || ps->p[1] != '\\' || ps->p[2] != 'u' ||
				    hex4(ps->p + 3, &lo) || lo < 0xdc00 || lo > 0xdfff)
					return refuse(ps,
						      "high surrogate \\u%04x without its low half",
						      cp);
				ps->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			d += put_utf8(d, cp);
			break;
		}
		default: return refuse(ps, "unknown escape '\\%c'", *ps->p);
		}
		ps->p++;
	}
	ps->p++;
	*d = '\0';
	*out = dst;
	*out_len = (size_t)(d - dst);
	return 0;
}

static bool is_digit(const char *p, const char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

static int parse_number(struct cj_parser *ps, struct cj_node *n)
{
	const char *s = ps->p;
	char *copy;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (!is_digit(ps->p, ps->end))
		return refuse(ps, "expected a digit");
	if (*ps->p == '0') {
		ps->p++;
		if (is_digit(ps->p, ps->end))
			return refuse(ps, "leading zero in a number");
	} else {
		while (is_digit(ps->p, ps->end))
			ps->p++;
	}
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!is_digit(ps->p, ps->end))
			return refuse(ps, "expected a digit after '.'");
		while (is_digit(ps->p, ps->end))
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!is_digit(ps->p, ps->end))
			return refuse(ps, "expected a digit in the exponent");
		while (is_digit(ps->p, ps->end))
			ps->p++;
	}
	/* A NUL-terminated copy: strtod needs one, and users of str want one. */
	copy = arena_alloc(ps->doc, (size_t)(ps->p - s) + 1);
	if (!copy)
		return oom(ps);
	memcpy(copy, s, (size_t)(ps->p - s));
	copy[ps->p - s] = '\0';
	n->str = copy;
	n->len = (size_t)(ps->p - s);
	n->num = strtod(copy, NULL);
	return 0;
}

static int parse_value(struct cj_parser *ps, struct cj_node **out);

/* Elements of an array or members of an object, after the opening bracket. */
static int parse_container(struct cj_parser *ps, struct cj_node *n)
{
	char close = n->type == CJ_ARRAY ? ']' : '}';
	struct cj_node **tail = &n->child, *v;
	const char *key = NULL;
	size_t key_len = 0;
	int rc;

	if (++ps->depth > ps->max_depth)
		return refuse(ps, "nested deeper than %u", ps->max_depth);
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		if (n->type == CJ_OBJECT) {
			if (ps->p >= ps->end || *ps->p != '"')
				return refuse(ps, "expected a member name in quotes");
			rc = parse_string(ps, &key, &key_len);
			if (rc)
				return rc;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return refuse(ps, "expected ':' after a member name");
			ps->p++;
			skip_ws(ps);
		}
		rc = parse_value(ps, &v);
		if (rc)
			return rc;
		v->key = key;
		v->key_len = key_len;
		*tail = v;
		tail = &v->next;
		n->count++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			skip_ws(ps);
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			break;
		}
		return refuse(ps, "expected ',' or '%c'", close);
	}
	ps->depth--;
	return 0;
}

static int parse_value(struct cj_parser *ps, struct cj_node **out)
{
	struct cj_node *n;
	int rc = 0;

	if (ps->p >= ps->end)
		return refuse(ps, "expected a value, found the end");
	switch (*ps->p) {
	case '{':
	case '[':
		n = new_node(ps, *ps->p == '{' ? CJ_OBJECT : CJ_ARRAY);
		if (!n)
			return node_error(ps);
		rc = parse_container(ps, n);
		break;
	case '"':
		n = new_node(ps, CJ_STRING);
		if (!n)
			return node_error(ps);
		rc = parse_string(ps, &n->str, &n->len);
		break;
	case 't':
	case 'f':
	case 'n':
		n = new_node(ps, *ps->p == 'n' ? CJ_NULL : CJ_BOOL);
		if (!n)
			return node_error(ps);
		/* The first letter decides which literal can match. */
		if (take_lit(ps, "true"))
			n->b = true;
		else if (!take_lit(ps, "false") && !take_lit(ps, "null"))
			return refuse(ps, "expected a value");
		break;
	default:
		if (*ps->p != '-' && (*ps->p < '0' || *ps->p > '9'))
			return refuse(ps, "expected a value");
		n = new_node(ps, CJ_NUMBER);
		if (!n)
			return node_error(ps);
		rc = parse_number(ps, n);
		break;
	}
	if (rc)
		return rc;
	n->raw_len = (size_t)(ps->p - n->raw);
	*out = n;
	return 0;
}

int cj_parse(const char *text, size_t len, const struct cj_limits *lim, struct cj_doc **out,
	     char *err, size_t errlen)
{
	struct cj_parser ps = {
		.p = text,
		.start = text,
		.end = text + len,
		.max_depth = lim && lim->max_depth ? lim->max_depth : CJ_DEFAULT_DEPTH,
		.max_values = lim && lim->max_values ? lim->max_values : CJ_DEFAULT_VALUES,
		.err = err,
		.errlen = errlen,
	};
	int rc;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	ps.doc = calloc(1, sizeof(*ps.doc));
	if (!ps.doc)
		return -ENOMEM;
	skip_ws(&ps);
	rc = parse_value(&ps, &ps.doc->root);
	if (!rc) {
		skip_ws(&ps);
		if (ps.p != ps.end)
			rc = refuse(&ps, "unexpected text after the value");
	}
	if (rc) {
		cj_free(ps.doc);
		return rc;
	}
	*out = ps.doc;
	return 0;
}

const struct cj_node *cj_root(const struct cj_doc *doc)
{
	return doc ? doc->root : NULL;
}

const struct cj_node *cj_get(const struct cj_node *obj, const char *key)
{
	size_t klen = strlen(key);

	if (!obj || obj->type != CJ_OBJECT)
		return NULL;
	for (const struct cj_node *m = obj->child; m; m = m->next)
		if (m->key_len == klen && !memcmp(m->key, key, klen))
			return m;
	return NULL;
}

void cj_free(struct cj_doc *doc)
{
	struct cj_block *b, *next;

	if (!doc)
		return;
	for (b = doc->blocks; b; b = next) {
		next = b->next;
		free(b);
	}
	free(doc);
}
