/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flowscope SQL → SQLite SQL (see sql.h for the dialect and the contract).
 *
 * Four passes over bounded memory: the tokenizer turns the input into an array of tokens
 * (string literals and quoted identifiers unescaped into one pool no longer than the
 * input); the parser builds AST nodes in a fixed-capacity array, counting recursion so
 * that hostile nesting ends in an error, not a stack overflow; the resolver looks the
 * table, the columns and the aliases up and checks the semantic rules (aggregates,
 * grouping, function arguments); the emitter writes the backend SQL, collecting literals
 * as parameters, and the output column names. Every tree is also bounded in height, so
 * the recursive passes after the parser are bounded too.
 */
#include "query/sql.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tag_id.h"
#include "query/tag_columns.h"
#include "store/store.h"

/* ---- tokens ---- */

enum tok_kind {
	TK_END = 0,
	TK_IDENT,  /* bare word: identifier or keyword */
	TK_QIDENT, /* "quoted" or `quoted` identifier, never a keyword */
	TK_INT,
	TK_REAL,
	TK_STR,
	TK_OP,
};

enum op {
	OP_NONE = 0,
	OP_LP,
	OP_RP,
	OP_COMMA,
	OP_DOT,
	OP_STAR,
	OP_PLUS,
	OP_MINUS,
	OP_SLASH,
	OP_PCT,
	OP_EQ,
	OP_NE,
	OP_LT,
	OP_LE,
	OP_GT,
	OP_GE,
	OP_SEMI,
	/* AST-only operators */
	OP_AND,
	OP_OR,
};

struct token {
	enum tok_kind kind;
	enum op op;
	const char *p; /* source text */
	size_t len;
	const char *s; /* TK_STR / TK_QIDENT: unescaped, NUL-terminated in the pool */
	size_t slen;
};

/* ---- AST ---- */

enum node_kind {
	N_IDENT = 1, /* unresolved name */
	N_COL,	     /* column of the table */
	N_REF,	     /* select item (alias or position), in GROUP BY / ORDER BY */
	N_INT,
	N_REAL,
	N_TEXT,
	N_NULL,
	N_STAR, /* Count(*) / Count(row) */
	N_BIN,	/* a op b */
	N_NEG,
	N_NOT,
	N_LIKE,	   /* a [NOT] LIKE b */
	N_IN,	   /* a [NOT] IN (list at b, linked by next) */
	N_ISNULL,  /* a IS [NOT] NULL */
	N_BETWEEN, /* a [NOT] BETWEEN b AND c */
	N_FUNC,	   /* fn(list at a, linked by next) */
	N_TAG,	   /* virtual tag column: ref indexes tag_columns[] (tag_columns.h) */
	N_LABEL,   /* k8s.label.KEY_N: ref indexes parser.labels[]; s is the name as written */
};

enum func {
	F_COUNT = 1,
	F_SUM,
	F_AVG,
	F_MAX,
	F_MIN,
	F_UNIQ,
	F_PERCENTILE,
	F_TIME,
};

struct func_desc {
	const char *name; /* canonical spelling, used in output column names and messages */
	int nargs;
	bool aggregate;
	const char *backend; /* SQLite spelling */
};

static const struct func_desc funcs[] = {
	[F_COUNT] = { "Count", 1, true, "COUNT(" },
	[F_SUM] = { "Sum", 1, true, "SUM(" },
	[F_AVG] = { "Avg", 1, true, "AVG(" },
	[F_MAX] = { "Max", 1, true, "MAX(" },
	[F_MIN] = { "Min", 1, true, "MIN(" },
	[F_UNIQ] = { "Uniq", 1, true, "COUNT(DISTINCT " },
	[F_PERCENTILE] = { "Percentile", 2, true, "percentile(" },
	[F_TIME] = { "time", 2, false, NULL },
};

#define NFUNCS (sizeof(funcs) / sizeof(funcs[0]))

struct node {
	enum node_kind kind;
	enum op op;
	bool neg;      /* NOT LIKE / NOT IN / IS NOT NULL / NOT BETWEEN; negated number */
	bool quoted;   /* N_IDENT from a quoted identifier */
	int height;    /* 1 + tallest child */
	int a, b, c;   /* children, -1 when absent */
	int next;      /* next in an argument or IN list, -1 at the end */
	int ref;       /* N_COL: column index; N_REF: item index; N_FUNC: enum func */
	int64_t i;     /* N_INT */
	double d;      /* N_REAL */
	const char *s; /* N_IDENT / N_TEXT: name or value; numbers: source text */
	size_t slen;
};

struct item {
	int expr; /* -1 for '*' */
	const char *alias;
	size_t alias_len;
	bool aliased; /* referenced from GROUP BY / ORDER BY: emit AS "_cN" */
};

struct order {
	int expr;
	bool desc;
};

#define MAX_ITEMS  QUERY_MAX_COLUMNS
#define MAX_GROUPS 256
#define MAX_ORDERS 256
/* Distinct label columns of one statement: each shown one is a join (SQLite) or a pair of
 * arrays (ClickHouse) over flow_tag.k8s_label. */
#define MAX_LABELS 8

struct label {
	const char *key; /* into the input or the pool */
	size_t keylen;
	int side;
	bool shown; /* in the select list, GROUP BY or ORDER BY, not only in WHERE */
};

struct strbuf {
	char *buf;
	size_t len, cap;
	bool failed; /* out of memory or over QUERY_MAX_SQL */
};

struct parser {
	struct token *toks;
	size_t ntoks, pos;
	char *pool;
	size_t pool_used;
	struct node *nodes;
	int nnodes;
	int depth;
	char *err;
	size_t errlen;
	bool failed;
	int rc;
	const char *db; /* API db, NULL for any */

	/* the statement */
	struct item *items;
	size_t nitems;
	int groups[MAX_GROUPS];
	size_t ngroups;
	struct order orders[MAX_ORDERS];
	size_t norders;
	int where;
	bool has_limit, has_offset;
	int64_t limit, offset;
	const struct schema_table *table;

	bool time_noindex; /* emit the time column as +"time": see top_n_ordered() */
	bool ch;	   /* QUERY_DIALECT_CLICKHOUSE */

	struct label labels[MAX_LABELS];
	size_t nlabels;

	struct strbuf sql;
	struct query_param *params;
	size_t nparams, params_cap;
};

/* ---- errors ---- */

/* User text in messages: printable ASCII only (the message goes into JSON and logs), short. */
static const char *shown(char *buf, size_t size, const char *s, size_t len)
{
	size_t n = 0, max = 48;

	for (size_t i = 0; i < len && n + 4 < size; i++) {
		if (i == max) {
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		buf[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	}
	buf[n] = '\0';
	return buf;
}

__attribute__((format(printf, 2, 3))) static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->failed) {
		p->failed = true;
		p->rc = -EINVAL;
		if (p->err && p->errlen) {
			va_start(ap, fmt);
			vsnprintf(p->err, p->errlen, fmt, ap);
			va_end(ap);
		}
	}
	return p->rc;
}

static int fail_nomem(struct parser *p)
{
	if (!p->failed) {
		fail(p, "out of memory");
		p->rc = -ENOMEM;
	}
	return p->rc;
}

/* "'text'" or "end of query", for "near ..." */
static const char *near(struct parser *p, char *buf, size_t size)
{
	const struct token *t = &p->toks[p->pos];
	char tmp[64];

	if (t->kind == TK_END)
		snprintf(buf, size, "end of query");
	else
		snprintf(buf, size, "'%s'", shown(tmp, sizeof(tmp), t->p, t->len));
	return buf;
}

static int fail_near(struct parser *p, const char *what)
{
	char nb[80];

	return fail(p, "%s near %s", what, near(p, nb, sizeof(nb)));
}

/* ---- tokenizer ---- */

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int push_token(struct parser *p, size_t *cap, const struct token *t)
{
	if (p->ntoks + 1 >= QUERY_MAX_TOKENS)
		return fail(p, "query too complex (more than %d tokens)", QUERY_MAX_TOKENS);
	if (p->ntoks + 1 >= *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct token *nt = realloc(p->toks, ncap * sizeof(*nt));

		if (!nt)
			return fail_nomem(p);
		p->toks = nt;
		*cap = ncap;
	}
	p->toks[p->ntoks++] = *t;
	return 0;
}

/* Copy a quoted run starting after the opening quote q; a doubled quote is one quote. */
static int scan_quoted(struct parser *p, const char *src, size_t len, size_t *i, char q,
		       struct token *t)
{
	char *out = p->pool + p->pool_used;
	size_t n = 0, j = *i + 1;

	for (;;) {
		if (j >= len)
			return fail(p, q == '\'' ? "unterminated string literal"
						 : "unterminated quoted identifier");
		if (src[j] == q) {
			if (j + 1 < len && src[j + 1] == q) {
				out[n++] = q;
				j += 2;
				continue;
			}
			j++;
			break;
		}
		out[n++] = src[j++];
	}
	out[n] = '\0';
	t->s = out;
	t->slen = n;
	/* n + 1 <= the quoted run's length, so the pool (input length + 1) never overflows */
	p->pool_used += n + 1;
	*i = j;
	return 0;
}

static int scan_number(struct parser *p, const char *src, size_t len, size_t *i, struct token *t)
{
	size_t j = *i;
	bool real = false;

	while (j < len && isdigit((unsigned char)src[j]))
		j++;
	if (j < len && src[j] == '.') {
		real = true;
		j++;
		while (j < len && isdigit((unsigned char)src[j]))
			j++;
	}
	if (j < len && (src[j] == 'e' || src[j] == 'E')) {
		size_t k = j + 1;

		if (k < len && (src[k] == '+' || src[k] == '-'))
			k++;
		if (k < len && isdigit((unsigned char)src[k])) {
			real = true;
			j = k;
			while (j < len && isdigit((unsigned char)src[j]))
				j++;
		}
	}
	if (j < len && (is_ident_char(src[j]) || src[j] == '.')) {
		char tmp[64];

		return fail(p, "malformed number '%s'",
			    shown(tmp, sizeof(tmp), src + *i, j + 1 - *i));
	}
	t->kind = real ? TK_REAL : TK_INT;
	*i = j;
	return 0;
}

/* The last token is a name ending right at here (no space between). */
static bool touches_name(const struct parser *p, const char *here)
{
	const struct token *t = p->ntoks ? &p->toks[p->ntoks - 1] : NULL;

	return t && (t->kind == TK_IDENT || t->kind == TK_QIDENT) && t->p + t->len == here;
}

/*
 * here follows "name." with no space anywhere: the part of a dotted name, which may start
 * with a digit (flow_metrics' network.1s; see parse_table_ref). A number is never written
 * so, so nothing else changes meaning.
 */
static bool after_name_dot(const struct parser *p, const char *here)
{
	const struct token *dot = p->ntoks ? &p->toks[p->ntoks - 1] : NULL;

	if (!dot || dot->kind != TK_OP || dot->op != OP_DOT || dot->p + 1 != here ||
	    !isdigit((unsigned char)*here))
		return false;
	return p->ntoks >= 2 &&
	       (p->toks[p->ntoks - 2].kind == TK_IDENT ||
		p->toks[p->ntoks - 2].kind == TK_QIDENT) &&
	       p->toks[p->ntoks - 2].p + p->toks[p->ntoks - 2].len == dot->p;
}

static int tokenize(struct parser *p, const char *src, size_t len)
{
	size_t cap = 0, i = 0;

	p->pool = malloc(len + 1);
	if (!p->pool)
		return fail_nomem(p);
	while (i < len) {
		struct token t = { 0 };
		char c = src[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			i++;
			continue;
		}
		if (c == '-' && i + 1 < len && src[i + 1] == '-') {
			while (i < len && src[i] != '\n')
				i++;
			continue;
		}
		if (c == '/' && i + 1 < len && src[i + 1] == '*') {
			const char *end = NULL;

			for (size_t j = i + 2; j + 1 < len; j++)
				if (src[j] == '*' && src[j + 1] == '/') {
					end = src + j;
					break;
				}
			if (!end)
				return fail(p, "unterminated comment");
			i = (size_t)(end - src) + 2;
			continue;
		}
		t.p = src + i;
		if (is_ident_start(c) || after_name_dot(p, src + i)) {
			/* After "name." a word may start with a digit: network.1s. */
			t.kind = TK_IDENT;
			while (i < len && is_ident_char(src[i]))
				i++;
		} else if (isdigit((unsigned char)c) ||
			   (c == '.' && i + 1 < len && isdigit((unsigned char)src[i + 1]) &&
			    !touches_name(p, src + i))) {
			if (scan_number(p, src, len, &i, &t))
				return p->rc;
		} else if (c == '\'' || c == '"' || c == '`') {
			t.kind = c == '\'' ? TK_STR : TK_QIDENT;
			if (scan_quoted(p, src, len, &i, c, &t))
				return p->rc;
		} else {
			char n = i + 1 < len ? src[i + 1] : '\0';

			t.kind = TK_OP;
			i++;
			switch (c) {
			case '(': t.op = OP_LP; break;
			case ')': t.op = OP_RP; break;
			case ',': t.op = OP_COMMA; break;
			case '.': t.op = OP_DOT; break;
			case '*': t.op = OP_STAR; break;
			case '+': t.op = OP_PLUS; break;
			case '-': t.op = OP_MINUS; break;
			case '/': t.op = OP_SLASH; break;
			case '%': t.op = OP_PCT; break;
			case ';': t.op = OP_SEMI; break;
			case '=':
				t.op = OP_EQ;
				if (n == '=')
					i++;
				break;
			case '!':
				if (n != '=')
					return fail(p, "unexpected character '!' at offset %zu",
						    i - 1);
				t.op = OP_NE;
				i++;
				break;
			case '<':
				t.op = n == '=' ? OP_LE : n == '>' ? OP_NE : OP_LT;
				if (n == '=' || n == '>')
					i++;
				break;
			case '>':
				t.op = n == '=' ? OP_GE : OP_GT;
				if (n == '=')
					i++;
				break;
			default:
				if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
					return fail(p, "unexpected character '%c' at offset %zu", c,
						    i - 1);
				return fail(p, "unexpected character 0x%02x at offset %zu",
					    (unsigned char)c, i - 1);
			}
		}
		t.len = (size_t)(src + i - t.p);
		if (push_token(p, &cap, &t))
			return p->rc;
	}
	{
		struct token end = { .kind = TK_END, .p = src + len };

		return push_token(p, &cap, &end);
	}
}

/* ---- parser helpers ---- */

static const struct token *peek(struct parser *p)
{
	return &p->toks[p->pos];
}

static bool word_is(const struct token *t, const char *kw)
{
	return t->kind == TK_IDENT && strlen(kw) == t->len && strncasecmp(t->p, kw, t->len) == 0;
}

static bool accept_kw(struct parser *p, const char *kw)
{
	if (word_is(peek(p), kw)) {
		p->pos++;
		return true;
	}
	return false;
}

static bool accept_op(struct parser *p, enum op op)
{
	const struct token *t = peek(p);

	if (t->kind == TK_OP && t->op == op) {
		p->pos++;
		return true;
	}
	return false;
}

static bool is_op(const struct token *t, enum op op)
{
	return t->kind == TK_OP && t->op == op;
}

static int new_node(struct parser *p, enum node_kind kind, int a, int b, int c)
{
	struct node *n;
	int h = 0;

	if (p->nnodes >= QUERY_MAX_NODES) {
		fail(p, "query too complex (more than %d expression nodes)", QUERY_MAX_NODES);
		return -1;
	}
	for (int k = 0; k < 3; k++) {
		int child = k == 0 ? a : k == 1 ? b : c;

		if (child >= 0 && p->nodes[child].height > h)
			h = p->nodes[child].height;
	}
	if (h + 1 > QUERY_MAX_TREE) {
		fail(p, "query nested too deeply (limit %d)", QUERY_MAX_TREE);
		return -1;
	}
	n = &p->nodes[p->nnodes];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->a = a;
	n->b = b;
	n->c = c;
	n->next = -1;
	n->height = h + 1;
	return p->nnodes++;
}

/* Height of a list head covers its siblings too, so list walks stay bounded. */
static void list_height(struct parser *p, int owner, int head)
{
	for (int k = head; k >= 0; k = p->nodes[k].next)
		if (p->nodes[k].height + 1 > p->nodes[owner].height)
			p->nodes[owner].height = p->nodes[k].height + 1;
}

static int enter(struct parser *p)
{
	if (++p->depth > QUERY_MAX_DEPTH)
		return fail(p, "query nested too deeply (limit %d)", QUERY_MAX_DEPTH);
	return 0;
}

static int parse_expr(struct parser *p);

static bool at_subquery(struct parser *p)
{
	return word_is(peek(p), "SELECT") || word_is(peek(p), "WITH");
}

/* Comma-separated expressions up to ')' (consumed); returns the head, -1 on error. */
static int parse_list(struct parser *p, int *count)
{
	int head = -1, tail = -1;

	*count = 0;
	if (at_subquery(p)) {
		fail(p, "subqueries are not supported");
		return -1;
	}
	for (;;) {
		int e = parse_expr(p);

		if (e < 0)
			return -1;
		if (tail < 0)
			head = e;
		else
			p->nodes[tail].next = e;
		tail = e;
		(*count)++;
		if (accept_op(p, OP_COMMA))
			continue;
		if (accept_op(p, OP_RP))
			return head;
		fail_near(p, "expected ',' or ')'");
		return -1;
	}
}

static int lookup_func(const struct token *t)
{
	for (size_t f = 1; f < NFUNCS; f++)
		if (strlen(funcs[f].name) == t->len &&
		    strncasecmp(funcs[f].name, t->p, t->len) == 0)
			return (int)f;
	return 0;
}

static int parse_call(struct parser *p)
{
	const struct token *name = peek(p);
	int f = lookup_func(name), n, head, count = 0;
	char tmp[64];

	if (!f) {
		fail(p, "unknown function '%s'", shown(tmp, sizeof(tmp), name->p, name->len));
		return -1;
	}
	p->pos += 2; /* name ( */
	if (f == F_COUNT && is_op(peek(p), OP_STAR) && is_op(&p->toks[p->pos + 1], OP_RP)) {
		p->pos += 2;
		head = new_node(p, N_STAR, -1, -1, -1);
		count = 1;
	} else if (f == F_COUNT && word_is(peek(p), "row") && is_op(&p->toks[p->pos + 1], OP_RP)) {
		p->pos += 2;
		head = new_node(p, N_STAR, -1, -1, -1);
		if (head >= 0)
			p->nodes[head].s = "row";
		count = 1;
	} else if (accept_op(p, OP_RP)) {
		head = -1;
	} else {
		head = parse_list(p, &count);
		if (head < 0)
			return -1;
	}
	if (p->failed)
		return -1;
	if (count != funcs[f].nargs) {
		fail(p, "%s takes %d argument%s (got %d)", funcs[f].name, funcs[f].nargs,
		     funcs[f].nargs == 1 ? "" : "s", count);
		return -1;
	}
	n = new_node(p, N_FUNC, head, -1, -1);
	if (n < 0)
		return -1;
	p->nodes[n].ref = f;
	list_height(p, n, head);
	return n;
}

/*
 * After the name token of node n: "k8s" "." "label" "." NAME written without spaces is
 * the label column k8s.label.NAME (tag_columns.h), one name spanning the source text. A
 * key with other characters (app.kubernetes.io/name) is written quoted, whole:
 * "k8s.label.app.kubernetes.io/name_1".
 */
static bool bare_label(struct parser *p, int n)
{
	const struct token *t = &p->toks[p->pos - 1], *prev = t;

	if (t->kind != TK_IDENT || t->len != 3 || memcmp(t->p, "k8s", 3) != 0)
		return false;
	/* . label . NAME, each touching the one before; TK_END ends the walk in time */
	for (size_t k = 0; k < 4; k++) {
		const struct token *u = &p->toks[p->pos + k];

		if (u->kind == TK_END || u->p != prev->p + prev->len)
			return false;
		if (k % 2 == 0 ? !is_op(u, OP_DOT) : u->kind != TK_IDENT)
			return false;
		if (k == 1 && (u->len != 5 || memcmp(u->p, "label", 5) != 0))
			return false;
		prev = u;
	}
	p->nodes[n].slen = (size_t)(prev->p + prev->len - t->p);
	p->pos += 4;
	return true;
}

static int parse_primary(struct parser *p)
{
	const struct token *t = peek(p);
	int n;

	switch (t->kind) {
	case TK_INT:
	case TK_REAL:
		n = new_node(p, t->kind == TK_INT ? N_INT : N_REAL, -1, -1, -1);
		if (n < 0)
			return -1;
		p->nodes[n].s = t->p;
		p->nodes[n].slen = t->len;
		if (t->kind == TK_INT) {
			char buf[32];

			errno = 0;
			if (t->len < sizeof(buf)) {
				memcpy(buf, t->p, t->len);
				buf[t->len] = '\0';
				p->nodes[n].i = strtoll(buf, NULL, 10);
			}
			if (t->len >= sizeof(buf) || errno) {
				char tmp[64];

				fail(p, "integer literal '%s' out of range",
				     shown(tmp, sizeof(tmp), t->p, t->len));
				return -1;
			}
		} else {
			char *buf = strndup(t->p, t->len);

			if (!buf) {
				fail_nomem(p);
				return -1;
			}
			p->nodes[n].d = strtod(buf, NULL);
			free(buf);
			if (!isfinite(p->nodes[n].d)) {
				char tmp[64];

				fail(p, "number '%s' out of range",
				     shown(tmp, sizeof(tmp), t->p, t->len));
				return -1;
			}
		}
		p->pos++;
		return n;
	case TK_STR:
		n = new_node(p, N_TEXT, -1, -1, -1);
		if (n < 0)
			return -1;
		p->nodes[n].s = t->s;
		p->nodes[n].slen = t->slen;
		p->pos++;
		return n;
	case TK_QIDENT:
		n = new_node(p, N_IDENT, -1, -1, -1);
		if (n < 0)
			return -1;
		p->nodes[n].s = t->s;
		p->nodes[n].slen = t->slen;
		p->nodes[n].quoted = true;
		p->pos++;
		return n;
	case TK_IDENT:
		if (word_is(t, "NULL")) {
			p->pos++;
			return new_node(p, N_NULL, -1, -1, -1);
		}
		if (word_is(t, "SELECT") || word_is(t, "WITH") || word_is(t, "EXISTS")) {
			fail(p, "subqueries are not supported");
			return -1;
		}
		if (is_op(&p->toks[p->pos + 1], OP_LP)) {
			if (enter(p))
				return -1;
			n = parse_call(p);
			p->depth--;
			return n;
		}
		n = new_node(p, N_IDENT, -1, -1, -1);
		if (n < 0)
			return -1;
		p->nodes[n].s = t->p;
		p->nodes[n].slen = t->len;
		p->pos++;
		if (bare_label(p, n))
			return n;
		if (is_op(peek(p), OP_DOT)) {
			fail(p, "qualified column names are not supported");
			return -1;
		}
		return n;
	case TK_OP:
		if (t->op == OP_LP) {
			p->pos++;
			if (at_subquery(p)) {
				fail(p, "subqueries are not supported");
				return -1;
			}
			n = parse_expr(p);
			if (n < 0)
				return -1;
			if (!accept_op(p, OP_RP)) {
				fail_near(p, "expected ')'");
				return -1;
			}
			return n;
		}
		if (t->op == OP_STAR) {
			fail(p, "'*' is only allowed alone in the select list or in Count(*)");
			return -1;
		}
		break;
	case TK_END: break;
	}
	fail_near(p, "expected an expression");
	return -1;
}

static int parse_unary(struct parser *p)
{
	int n, c;

	if (!accept_op(p, OP_MINUS)) {
		if (accept_op(p, OP_PLUS)) {
			if (enter(p))
				return -1;
			n = parse_unary(p);
			p->depth--;
			return n;
		}
		return parse_primary(p);
	}
	if (enter(p))
		return -1;
	c = parse_unary(p);
	p->depth--;
	if (c < 0)
		return -1;
	/* fold -literal into the literal, so "-5" is one parameter and Percentile/LIMIT see it */
	if ((p->nodes[c].kind == N_INT && !p->nodes[c].neg) ||
	    (p->nodes[c].kind == N_REAL && !p->nodes[c].neg)) {
		p->nodes[c].neg = true;
		p->nodes[c].i = -p->nodes[c].i;
		p->nodes[c].d = -p->nodes[c].d;
		return c;
	}
	return new_node(p, N_NEG, c, -1, -1);
}

static int parse_binary_level(struct parser *p, int level);

/* level 0: * / %, level 1: + - */
static int parse_binary_level(struct parser *p, int level)
{
	int l = level == 0 ? parse_unary(p) : parse_binary_level(p, level - 1);

	while (l >= 0) {
		const struct token *t = peek(p);
		enum op op = t->kind == TK_OP ? t->op : OP_NONE;
		int r;

		if (level == 0 ? (op != OP_STAR && op != OP_SLASH && op != OP_PCT)
			       : (op != OP_PLUS && op != OP_MINUS))
			break;
		p->pos++;
		r = level == 0 ? parse_unary(p) : parse_binary_level(p, level - 1);
		if (r < 0)
			return -1;
		l = new_node(p, N_BIN, l, r, -1);
		if (l >= 0)
			p->nodes[l].op = op;
	}
	return l;
}

static int parse_additive(struct parser *p)
{
	return parse_binary_level(p, 1);
}

static int parse_comparison(struct parser *p)
{
	int l = parse_additive(p), n, r;
	const struct token *t;
	bool neg;

	if (l < 0)
		return -1;
	t = peek(p);
	if (t->kind == TK_OP && t->op >= OP_EQ && t->op <= OP_GE) {
		enum op op = t->op;

		p->pos++;
		r = parse_additive(p);
		if (r < 0)
			return -1;
		n = new_node(p, N_BIN, l, r, -1);
		if (n >= 0)
			p->nodes[n].op = op;
		return n;
	}
	if (accept_kw(p, "IS")) {
		neg = accept_kw(p, "NOT");
		if (!accept_kw(p, "NULL")) {
			fail_near(p, "expected NULL");
			return -1;
		}
		n = new_node(p, N_ISNULL, l, -1, -1);
		if (n >= 0)
			p->nodes[n].neg = neg;
		return n;
	}
	neg = false;
	if (word_is(t, "NOT") &&
	    (word_is(&p->toks[p->pos + 1], "LIKE") || word_is(&p->toks[p->pos + 1], "IN") ||
	     word_is(&p->toks[p->pos + 1], "BETWEEN"))) {
		neg = true;
		p->pos++;
	}
	if (accept_kw(p, "LIKE")) {
		r = parse_additive(p);
		if (r < 0)
			return -1;
		n = new_node(p, N_LIKE, l, r, -1);
	} else if (accept_kw(p, "IN")) {
		int count, head;

		if (!accept_op(p, OP_LP)) {
			fail_near(p, "expected '(' after IN");
			return -1;
		}
		if (enter(p))
			return -1;
		head = parse_list(p, &count);
		p->depth--;
		if (head < 0)
			return -1;
		n = new_node(p, N_IN, l, head, -1);
		if (n >= 0)
			list_height(p, n, head);
	} else if (accept_kw(p, "BETWEEN")) {
		int lo = parse_additive(p), hi;

		if (lo < 0)
			return -1;
		if (!accept_kw(p, "AND")) {
			fail_near(p, "expected AND");
			return -1;
		}
		hi = parse_additive(p);
		if (hi < 0)
			return -1;
		n = new_node(p, N_BETWEEN, l, lo, hi);
	} else {
		return l;
	}
	if (n >= 0)
		p->nodes[n].neg = neg;
	return n;
}

static int parse_not(struct parser *p)
{
	int c;

	if (!accept_kw(p, "NOT"))
		return parse_comparison(p);
	if (enter(p))
		return -1;
	c = parse_not(p);
	p->depth--;
	if (c < 0)
		return -1;
	return new_node(p, N_NOT, c, -1, -1);
}

static int parse_logic(struct parser *p, bool or)
{
	int l = or ? parse_logic(p, false) : parse_not(p);

	while (l >= 0 && accept_kw(p, or ? "OR" : "AND")) {
		int r = or ? parse_logic(p, false) : parse_not(p);

		if (r < 0)
			return -1;
		l = new_node(p, N_BIN, l, r, -1);
		if (l >= 0)
			p->nodes[l].op = or ? OP_OR : OP_AND;
	}
	return l;
}

static int parse_expr(struct parser *p)
{
	int n;

	if (enter(p))
		return -1;
	n = parse_logic(p, true);
	p->depth--;
	return n;
}

/* ---- statements ---- */

/* Copy a name token's text (unquoted) to buf as a C string; false when it does not fit. */
static bool name_text(const struct token *t, char *buf, size_t size)
{
	const char *s = t->kind == TK_QIDENT ? t->s : t->p;
	size_t len = t->kind == TK_QIDENT ? t->slen : t->len;

	if (len >= size)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return true;
}

/* "a.b" from two name tokens; false when it does not fit. */
static bool join_names(const struct token *a, const struct token *b, char *buf, size_t size)
{
	size_t n;

	if (!name_text(a, buf, size))
		return false;
	n = strlen(buf);
	if (n + 1 >= size)
		return false;
	buf[n] = '.';
	return name_text(b, buf + n + 1, size - n - 1);
}

/* The table tn of database db (NULL: the request's db, or any), into *out. */
static int find_table(struct parser *p, const char *db, const char *tn,
		      const struct schema_table **out)
{
	char tmp[64], list[256];
	const struct schema_table *elsewhere;
	size_t n = 0;
	const char *want_db = p->db;

	if (db) {
		if (want_db && strcmp(db, want_db) != 0)
			return fail(p, "database '%s' does not match the request's db '%s'",
				    shown(tmp, sizeof(tmp), db, strlen(db)),
				    shown(list, sizeof(list), want_db, strlen(want_db)));
		want_db = db;
	}
	if (want_db) {
		bool db_known = false;

		for (size_t i = 0; schema_tables[i]; i++)
			if (strcmp(schema_tables[i]->db, want_db) == 0)
				db_known = true;
		if (!db_known) {
			for (size_t i = 0; schema_tables[i] && n + 1 < sizeof(list); i++) {
				bool seen = false;

				/* Each database once, however many tables it has. */
				for (size_t j = 0; j < i; j++)
					seen |= !strcmp(schema_tables[j]->db, schema_tables[i]->db);
				if (!seen)
					n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
							      n ? ", " : "", schema_tables[i]->db);
			}
			return fail(p, "unknown database '%s' (databases: %s)",
				    shown(tmp, sizeof(tmp), want_db, strlen(want_db)), list);
		}
	}
	*out = schema_find_table(want_db, tn);
	if (*out)
		return 0;
	/* The request's db, not the statement, left it out: say where it is. */
	elsewhere = !db && want_db ? schema_find_table(NULL, tn) : NULL;
	if (elsewhere)
		return fail(p, "table '%s' is in database '%s', not the request's db '%s'",
			    elsewhere->name, elsewhere->db,
			    shown(list, sizeof(list), want_db, strlen(want_db)));
	for (size_t i = 0; schema_tables[i] && n + 1 < sizeof(list); i++)
		if (!want_db || strcmp(schema_tables[i]->db, want_db) == 0)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "",
					      schema_tables[i]->name);
	list[n] = '\0';
	return fail(p, "unknown table '%s' (tables: %s)", shown(tmp, sizeof(tmp), tn, strlen(tn)),
		    list);
}

/*
 * a.b names no table, but a is what a dotted table name starts with and no database:
 * network.1h is an unknown table of the network family, not table 1h of a database
 * "network".
 */
static bool dotted_prefix(const char *joined)
{
	size_t n = strcspn(joined, ".");

	for (size_t i = 0; schema_tables[i]; i++)
		if (!strncmp(schema_tables[i]->db, joined, n) && !schema_tables[i]->db[n])
			return false;
	for (size_t i = 0; schema_tables[i]; i++)
		if (!strncmp(schema_tables[i]->name, joined, n + 1))
			return true;
	return false;
}

static bool is_name(const struct token *t)
{
	return t->kind == TK_IDENT || t->kind == TK_QIDENT;
}

/*
 * [db.]table, where a table's own name may hold a dot (flow_metrics' network.1s): quoted,
 * "network.1s", or bare, network.1s (the tokenizer reads the 1s after a name and its dot
 * as a name). So a.b.c is table "b.c" of database a, and a.b is the table "a.b" when
 * there is one, else table b of database a.
 */
static int parse_table_ref(struct parser *p)
{
	const struct token *part[3];
	char db[64], tn[128], joined[128];
	size_t n = 0;

	if (is_op(peek(p), OP_LP)) {
		if (at_subquery(p) || word_is(&p->toks[p->pos + 1], "SELECT"))
			return fail(p, "subqueries are not supported");
		return fail_near(p, "expected a table name");
	}
	for (;;) {
		if (!is_name(peek(p)))
			return fail_near(p, "expected a table name");
		part[n++] = peek(p);
		p->pos++;
		if (!is_op(peek(p), OP_DOT))
			break;
		if (n == 3)
			return fail_near(p, "too many parts in a table name");
		p->pos++;
	}
	if (n == 1) {
		if (!name_text(part[0], tn, sizeof(tn)))
			goto too_long;
		return find_table(p, NULL, tn, &p->table);
	}
	if (n == 3) {
		if (!name_text(part[0], db, sizeof(db)) ||
		    !join_names(part[1], part[2], tn, sizeof(tn)))
			goto too_long;
		return find_table(p, db, tn, &p->table);
	}
	if (join_names(part[0], part[1], joined, sizeof(joined)) &&
	    (schema_find_table(NULL, joined) || dotted_prefix(joined)))
		return find_table(p, NULL, joined, &p->table);
	if (!name_text(part[0], db, sizeof(db)) || !name_text(part[1], tn, sizeof(tn)))
		goto too_long;
	return find_table(p, db, tn, &p->table);
too_long:
	return fail(p, "table name too long");
}

static int parse_uint_literal(struct parser *p, const char *what, int64_t *out)
{
	const struct token *t = peek(p);

	if (t->kind == TK_INT) {
		int n = parse_primary(p);

		if (n < 0)
			return p->rc;
		*out = p->nodes[n].i;
		return 0;
	}
	return fail(p, "%s must be a non-negative integer", what);
}

static int parse_select(struct parser *p)
{
	int n;

	p->items = calloc(MAX_ITEMS, sizeof(*p->items));
	if (!p->items)
		return fail_nomem(p);
	do {
		struct item *it;

		if (p->nitems >= MAX_ITEMS)
			return fail(p, "too many select items (limit %d)", MAX_ITEMS);
		it = &p->items[p->nitems++];
		it->expr = -1;
		if (accept_op(p, OP_STAR))
			continue;
		if (word_is(peek(p), "FROM"))
			return fail_near(p, "expected an expression");
		if (word_is(peek(p), "DISTINCT") || word_is(peek(p), "ALL"))
			return fail(p, "SELECT DISTINCT is not supported");
		it->expr = parse_expr(p);
		if (it->expr < 0)
			return p->rc;
		if (accept_kw(p, "AS")) {
			const struct token *t = peek(p);

			if (!is_name(t))
				return fail_near(p, "expected an alias");
			it->alias = t->kind == TK_QIDENT ? t->s : t->p;
			it->alias_len = t->kind == TK_QIDENT ? t->slen : t->len;
			if (it->alias_len == 0)
				return fail(p, "empty alias");
			p->pos++;
		}
	} while (accept_op(p, OP_COMMA));
	if (!accept_kw(p, "FROM"))
		return fail_near(p, "expected FROM");
	if (parse_table_ref(p))
		return p->rc;
	if (is_op(peek(p), OP_COMMA) || word_is(peek(p), "JOIN") || word_is(peek(p), "INNER") ||
	    word_is(peek(p), "LEFT") || word_is(peek(p), "CROSS") || word_is(peek(p), "RIGHT") ||
	    word_is(peek(p), "FULL"))
		return fail(p, "joins are not supported");
	p->where = -1;
	if (accept_kw(p, "WHERE")) {
		p->where = parse_expr(p);
		if (p->where < 0)
			return p->rc;
	}
	if (accept_kw(p, "GROUP")) {
		if (!accept_kw(p, "BY"))
			return fail_near(p, "expected BY");
		do {
			if (p->ngroups >= MAX_GROUPS)
				return fail(p, "too many GROUP BY terms (limit %d)", MAX_GROUPS);
			n = parse_expr(p);
			if (n < 0)
				return p->rc;
			p->groups[p->ngroups++] = n;
		} while (accept_op(p, OP_COMMA));
	}
	if (word_is(peek(p), "HAVING"))
		return fail(p, "HAVING is not supported");
	if (accept_kw(p, "ORDER")) {
		if (!accept_kw(p, "BY"))
			return fail_near(p, "expected BY");
		do {
			if (p->norders >= MAX_ORDERS)
				return fail(p, "too many ORDER BY terms (limit %d)", MAX_ORDERS);
			n = parse_expr(p);
			if (n < 0)
				return p->rc;
			p->orders[p->norders].expr = n;
			p->orders[p->norders].desc = false;
			if (accept_kw(p, "DESC"))
				p->orders[p->norders].desc = true;
			else
				accept_kw(p, "ASC");
			p->norders++;
		} while (accept_op(p, OP_COMMA));
	}
	if (accept_kw(p, "LIMIT")) {
		int64_t a;

		if (parse_uint_literal(p, "LIMIT", &a))
			return p->rc;
		p->has_limit = true;
		p->limit = a;
		if (accept_op(p, OP_COMMA)) {
			/* LIMIT offset, count (ClickHouse / MySQL) */
			if (parse_uint_literal(p, "LIMIT", &p->limit))
				return p->rc;
			p->offset = a;
			p->has_offset = true;
		} else if (accept_kw(p, "OFFSET")) {
			if (parse_uint_literal(p, "OFFSET", &p->offset))
				return p->rc;
			p->has_offset = true;
		}
	}
	if (peek(p)->kind != TK_END)
		return fail_near(p, "syntax error");
	return 0;
}

/* ---- resolution and checks ---- */

enum clause { C_SELECT, C_WHERE, C_GROUP, C_ORDER };

static const char *const clause_names[] = { "the select list", "WHERE", "GROUP BY", "ORDER BY" };

static bool contains_aggregate(struct parser *p, int n)
{
	const struct node *x;

	if (n < 0)
		return false;
	x = &p->nodes[n];
	if (x->kind == N_FUNC && funcs[x->ref].aggregate)
		return true;
	if (x->kind == N_REF)
		return p->items[x->ref].expr >= 0 && contains_aggregate(p, p->items[x->ref].expr);
	if (x->kind == N_FUNC || x->kind == N_IN) {
		for (int k = x->kind == N_FUNC ? x->a : x->b; k >= 0; k = p->nodes[k].next)
			if (contains_aggregate(p, k))
				return true;
		return x->kind == N_IN && contains_aggregate(p, x->a);
	}
	return contains_aggregate(p, x->a) || contains_aggregate(p, x->b) ||
	       contains_aggregate(p, x->c);
}

static bool is_text(struct parser *p, int n)
{
	const struct node *x = &p->nodes[n];

	if (x->kind == N_TEXT || x->kind == N_TAG || x->kind == N_LABEL)
		return true; /* tags show names */
	if (x->kind == N_COL)
		return p->table->columns[x->ref].type == SCHEMA_TEXT;
	if (x->kind == N_FUNC && (x->ref == F_MAX || x->ref == F_MIN))
		return is_text(p, x->a);
	if (x->kind == N_REF && p->items[x->ref].expr >= 0)
		return is_text(p, p->items[x->ref].expr);
	return false;
}

static int resolve(struct parser *p, int n, enum clause cl, int agg);

/* A name that is no stored column: a virtual tag column (tag_columns.h), or an error
 * naming the near names. */
static int resolve_virtual(struct parser *p, struct node *x)
{
	const struct tag_column *tc = tag_column_find(p->table, x->s, x->slen);
	const char *key;
	size_t keylen, i;
	int side;
	char tmp[64], near_list[200];

	if (tc) {
		x->kind = N_TAG;
		x->ref = (int)(tc - tag_columns);
		return 0;
	}
	if (tag_columns_on(p->table) && tag_label_parse(x->s, x->slen, &key, &keylen, &side)) {
		for (i = 0; i < p->nlabels; i++)
			if (p->labels[i].side == side && p->labels[i].keylen == keylen &&
			    !memcmp(p->labels[i].key, key, keylen))
				break;
		if (i == p->nlabels) {
			if (p->nlabels == MAX_LABELS)
				return fail(p, "too many label columns (limit %d)", MAX_LABELS);
			if (memchr(key, '\0', keylen))
				return fail(p, "label key contains a NUL byte");
			p->labels[p->nlabels++] =
				(struct label){ .key = key, .keylen = keylen, .side = side };
		}
		x->kind = N_LABEL;
		x->ref = (int)i;
		return 0;
	}
	if (tag_columns_on(p->table) && x->slen >= strlen(TAG_LABEL_PREFIX) &&
	    !memcmp(x->s, TAG_LABEL_PREFIX, strlen(TAG_LABEL_PREFIX)))
		return fail(p,
			    "unknown column '%s' in %s: a label is k8s.label.KEY_0 (the client's "
			    "pod) or k8s.label.KEY_1 (the server's)",
			    shown(tmp, sizeof(tmp), x->s, x->slen), p->table->name);
	if (tag_near_names(p->table, x->s, x->slen, near_list, sizeof(near_list), 8))
		return fail(p, "unknown column '%s' in %s (near: %s)",
			    shown(tmp, sizeof(tmp), x->s, x->slen), p->table->name, near_list);
	return fail(p, "unknown column '%s' in %s", shown(tmp, sizeof(tmp), x->s, x->slen),
		    p->table->name);
}

static int resolve_list(struct parser *p, int head, enum clause cl, int agg)
{
	for (int k = head; k >= 0; k = p->nodes[k].next)
		if (resolve(p, k, cl, agg))
			return p->rc;
	return 0;
}

static int check_func(struct parser *p, struct node *x)
{
	const struct func_desc *f = &funcs[x->ref];
	int a = x->a, b = a >= 0 ? p->nodes[a].next : -1;

	if ((x->ref == F_SUM || x->ref == F_AVG || x->ref == F_PERCENTILE) && is_text(p, a))
		return fail(p, "%s needs a numeric argument", f->name);
	if (x->ref == F_PERCENTILE) {
		struct node *q = &p->nodes[b];
		double v = q->kind == N_INT ? (double)q->i : q->d;

		if ((q->kind != N_INT && q->kind != N_REAL) || v < 0 || v > 100)
			return fail(p, "Percentile: p must be a number between 0 and 100");
		/* Users write percent (DeepFlow's Percentile(x, 95)); the store's aggregate
		 * takes a fraction. */
		q->kind = N_REAL;
		q->d = v / 100.0;
	}
	if (x->ref == F_TIME) {
		const struct node *c = &p->nodes[a], *q = &p->nodes[b];

		if (c->kind != N_COL || p->table->columns[c->ref].type != SCHEMA_INT)
			return fail(p, "time: first argument must be an integer column");
		if (q->kind != N_INT || q->i <= 0)
			return fail(p, "time: bucket size must be a positive integer");
	}
	return 0;
}

/*
 * Resolve names under clause cl. agg is the enclosing aggregate function (0 if none), to
 * refuse nesting. In GROUP BY and ORDER BY a name is first a select alias, then a column,
 * and a bare integer is a select position.
 */
static int resolve(struct parser *p, int n, enum clause cl, int agg)
{
	struct node *x = &p->nodes[n];

	switch (x->kind) {
	case N_IDENT: {
		const struct schema_column *c = NULL;
		char name[128];

		if (cl == C_GROUP || cl == C_ORDER) {
			for (size_t i = 0; i < p->nitems; i++) {
				const struct item *it = &p->items[i];

				if (it->alias && it->alias_len == x->slen &&
				    memcmp(it->alias, x->s, x->slen) == 0) {
					x->kind = N_REF;
					x->ref = (int)i;
					p->items[i].aliased = true;
					if (cl == C_GROUP && contains_aggregate(p, it->expr))
						return fail(p, "aggregate functions are not "
							       "allowed in GROUP BY");
					return 0;
				}
			}
		}
		if (x->slen < sizeof(name) && !memchr(x->s, '\0', x->slen)) {
			memcpy(name, x->s, x->slen);
			name[x->slen] = '\0';
			c = schema_find_column(p->table, name);
		}
		if (!c)
			return resolve_virtual(p, x);
		x->kind = N_COL;
		x->ref = (int)(c - p->table->columns);
		return 0;
	}
	case N_FUNC:
		if (funcs[x->ref].aggregate) {
			if (cl == C_WHERE || cl == C_GROUP)
				return fail(p, "aggregate functions are not allowed in %s",
					    clause_names[cl]);
			if (agg)
				return fail(p, "aggregate function %s inside %s is not allowed",
					    funcs[x->ref].name, funcs[agg].name);
			if (resolve_list(p, x->a, cl, x->ref))
				return p->rc;
		} else if (resolve_list(p, x->a, cl, agg)) {
			return p->rc;
		}
		return check_func(p, x);
	case N_IN:
		if (resolve(p, x->a, cl, agg))
			return p->rc;
		return resolve_list(p, x->b, cl, agg);
	default:
		for (int k = 0; k < 3; k++) {
			int child = k == 0 ? x->a : k == 1 ? x->b : x->c;

			if (child >= 0 && resolve(p, child, cl, agg))
				return p->rc;
		}
		return 0;
	}
}

static int resolve_position(struct parser *p, int n, enum clause cl)
{
	struct node *x = &p->nodes[n];

	if (x->kind != N_INT)
		return resolve(p, n, cl, 0);
	if (x->i < 1 || (uint64_t)x->i > p->nitems)
		return fail(p, "%s position %lld is out of range (1..%zu)", clause_names[cl],
			    (long long)x->i, p->nitems);
	if (p->items[x->i - 1].expr < 0)
		return fail(p, "%s position %lld refers to '*'", clause_names[cl], (long long)x->i);
	if (cl == C_GROUP && contains_aggregate(p, p->items[x->i - 1].expr))
		return fail(p, "aggregate functions are not allowed in GROUP BY");
	x->kind = N_REF;
	x->ref = (int)(x->i - 1);
	p->items[x->ref].aliased = true;
	return 0;
}

static bool same_expr(struct parser *p, int a, int b)
{
	const struct node *x, *y;

	if (a < 0 || b < 0)
		return a == b;
	x = &p->nodes[a];
	y = &p->nodes[b];
	if (x->kind == N_REF)
		return same_expr(p, p->items[x->ref].expr, b);
	if (y->kind == N_REF)
		return same_expr(p, a, p->items[y->ref].expr);
	if (x->kind != y->kind || x->op != y->op || x->neg != y->neg)
		return false;
	switch (x->kind) {
	case N_COL:
	case N_TAG:
	case N_LABEL:
	case N_STAR: return x->ref == y->ref;
	case N_INT: return x->i == y->i;
	case N_REAL: return x->d == y->d;
	case N_TEXT: return x->slen == y->slen && memcmp(x->s, y->s, x->slen) == 0;
	case N_NULL: return true;
	case N_FUNC:
	case N_IN:
		if (x->ref != y->ref || (x->kind == N_IN && !same_expr(p, x->a, y->a)))
			return false;
		{
			int i = x->kind == N_FUNC ? x->a : x->b,
			    j = y->kind == N_FUNC ? y->a : y->b;

			for (; i >= 0 && j >= 0; i = p->nodes[i].next, j = p->nodes[j].next)
				if (!same_expr(p, i, j))
					return false;
			return i < 0 && j < 0;
		}
	default:
		return same_expr(p, x->a, y->a) && same_expr(p, x->b, y->b) &&
		       same_expr(p, x->c, y->c);
	}
}

/* Under aggregation every column must sit inside an aggregate or a GROUP BY expression. */
static int check_grouped(struct parser *p, int n)
{
	const struct node *x;
	char tmp[64];

	if (n < 0)
		return 0;
	x = &p->nodes[n];
	if (x->kind == N_FUNC && funcs[x->ref].aggregate)
		return 0;
	for (size_t g = 0; g < p->ngroups; g++)
		if (same_expr(p, n, p->groups[g]))
			return 0;
	switch (x->kind) {
	case N_COL:
	case N_TAG:
	case N_LABEL: {
		const char *name = x->kind == N_COL   ? p->table->columns[x->ref].name
				   : x->kind == N_TAG ? tag_columns[x->ref].name
						      : NULL;

		return fail(p, "column '%s' must be in GROUP BY or inside an aggregate function",
			    name ? shown(tmp, sizeof(tmp), name, strlen(name))
				 : shown(tmp, sizeof(tmp), x->s, x->slen));
	}
	case N_REF: return check_grouped(p, p->items[x->ref].expr);
	case N_FUNC:
	case N_IN:
		if (x->kind == N_IN && check_grouped(p, x->a))
			return p->rc;
		for (int k = x->kind == N_FUNC ? x->a : x->b; k >= 0; k = p->nodes[k].next)
			if (check_grouped(p, k))
				return p->rc;
		return 0;
	default:
		if (check_grouped(p, x->a) || check_grouped(p, x->b) || check_grouped(p, x->c))
			return p->rc;
		return 0;
	}
}

static int check_select(struct parser *p)
{
	bool agg = p->ngroups > 0;

	for (size_t i = 0; i < p->nitems; i++) {
		const struct item *it = &p->items[i];

		if (it->expr >= 0 && resolve(p, it->expr, C_SELECT, 0))
			return p->rc;
		for (size_t j = 0; it->alias && j < i; j++)
			if (p->items[j].alias && p->items[j].alias_len == it->alias_len &&
			    memcmp(p->items[j].alias, it->alias, it->alias_len) == 0) {
				char tmp[64];

				return fail(p, "duplicate alias '%s'",
					    shown(tmp, sizeof(tmp), it->alias, it->alias_len));
			}
	}
	if (p->where >= 0 && resolve(p, p->where, C_WHERE, 0))
		return p->rc;
	for (size_t g = 0; g < p->ngroups; g++)
		if (resolve_position(p, p->groups[g], C_GROUP))
			return p->rc;
	for (size_t o = 0; o < p->norders; o++)
		if (resolve_position(p, p->orders[o].expr, C_ORDER))
			return p->rc;
	for (size_t i = 0; i < p->nitems && !agg; i++)
		agg = contains_aggregate(p, p->items[i].expr);
	for (size_t o = 0; o < p->norders && !agg; o++)
		agg = contains_aggregate(p, p->orders[o].expr);
	if (!agg)
		return 0;
	for (size_t i = 0; i < p->nitems; i++) {
		if (p->items[i].expr < 0)
			return fail(p, "SELECT * cannot be combined with aggregation");
		if (check_grouped(p, p->items[i].expr))
			return p->rc;
	}
	for (size_t o = 0; o < p->norders; o++)
		if (check_grouped(p, p->orders[o].expr))
			return p->rc;
	return 0;
}

/* ---- virtual tag columns: where they may stand ---- */

static bool is_tag(const struct node *x)
{
	return x->kind == N_TAG || x->kind == N_LABEL;
}

/* The first virtual tag column under n (not through select aliases), or -1. */
static int find_tag(struct parser *p, int n)
{
	const struct node *x;
	int r;

	if (n < 0)
		return -1;
	x = &p->nodes[n];
	if (is_tag(x))
		return n;
	if (x->kind == N_FUNC || x->kind == N_IN) {
		for (int k = x->kind == N_FUNC ? x->a : x->b; k >= 0; k = p->nodes[k].next)
			if ((r = find_tag(p, k)) >= 0)
				return r;
		return x->kind == N_IN ? find_tag(p, x->a) : -1;
	}
	if ((r = find_tag(p, x->a)) >= 0 || (r = find_tag(p, x->b)) >= 0)
		return r;
	return find_tag(p, x->c);
}

/*
 * A WHERE term on a virtual tag that becomes a dictionary lookup: tag = 'text' (either
 * side), tag != 'text', tag [NOT] IN ('text', ...), tag [NOT] LIKE 'text', tag IS [NOT]
 * NULL. Returns the tag's node, or -1 when x is not such a term.
 */
static int tag_atom(struct parser *p, const struct node *x)
{
	const struct node *a = x->a >= 0 ? &p->nodes[x->a] : NULL,
			  *b = x->b >= 0 ? &p->nodes[x->b] : NULL;

	switch (x->kind) {
	case N_BIN:
		if (x->op != OP_EQ && x->op != OP_NE)
			return -1;
		if (is_tag(a) && b->kind == N_TEXT)
			return x->a;
		return is_tag(b) && a->kind == N_TEXT ? x->b : -1;
	case N_IN:
		if (!is_tag(a))
			return -1;
		for (int k = x->b; k >= 0; k = p->nodes[k].next)
			if (p->nodes[k].kind != N_TEXT)
				return -1;
		return x->a;
	case N_LIKE: return is_tag(a) && b->kind == N_TEXT ? x->a : -1;
	case N_ISNULL: return is_tag(a) ? x->a : -1;
	default: return -1;
	}
}

static const char *tag_name(const struct node *x, char *buf, size_t size)
{
	if (x->kind == N_TAG)
		return tag_columns[x->ref].name;
	return shown(buf, size, x->s, x->slen);
}

static int tag_misused(struct parser *p, int t, const char *clause)
{
	char tmp[64];

	return fail(
		p,
		"tag '%s' in %s: a tag may be shown, grouped, ordered, counted (Count, Uniq) or "
		"filtered in WHERE with = != IN LIKE IS NULL against text",
		tag_name(&p->nodes[t], tmp, sizeof(tmp)), clause);
}

/* A select item, GROUP BY or ORDER BY term: a tag alone or in Count()/Uniq(). */
static int check_shown_tag(struct parser *p, int n, enum clause cl)
{
	const struct node *x = &p->nodes[n];
	int t;

	if (x->kind == N_FUNC && (x->ref == F_COUNT || x->ref == F_UNIQ) && x->a >= 0 &&
	    is_tag(&p->nodes[x->a]))
		x = &p->nodes[x->a];
	if (is_tag(x)) {
		if (x->kind == N_LABEL)
			p->labels[x->ref].shown = true;
		return 0;
	}
	t = find_tag(p, n);
	return t < 0 ? 0 : tag_misused(p, t, clause_names[cl]);
}

static int check_where_tags(struct parser *p, int n)
{
	const struct node *x = &p->nodes[n];
	int t = find_tag(p, n);

	if (t < 0)
		return 0;
	if (x->kind == N_NOT)
		return check_where_tags(p, x->a);
	if (x->kind == N_BIN && (x->op == OP_AND || x->op == OP_OR))
		return check_where_tags(p, x->a) || check_where_tags(p, x->b) ? p->rc : 0;
	return tag_atom(p, x) >= 0 ? 0 : tag_misused(p, t, "WHERE");
}

static int check_tags(struct parser *p)
{
	for (size_t i = 0; i < p->nitems; i++)
		if (p->items[i].expr >= 0 && check_shown_tag(p, p->items[i].expr, C_SELECT))
			return p->rc;
	for (size_t g = 0; g < p->ngroups; g++)
		if (check_shown_tag(p, p->groups[g], C_GROUP))
			return p->rc;
	for (size_t o = 0; o < p->norders; o++)
		if (check_shown_tag(p, p->orders[o].expr, C_ORDER))
			return p->rc;
	return p->where >= 0 ? check_where_tags(p, p->where) : 0;
}

/* ---- output ---- */

static void sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > QUERY_MAX_SQL) {
		b->failed = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		char *nb;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		nb = realloc(b->buf, ncap);
		if (!nb) {
			b->failed = true;
			return;
		}
		b->buf = nb;
		b->cap = ncap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void sb_puts(struct strbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Identifiers come from the schema; none holds a '"', quote them anyway. */
static void sb_ident(struct strbuf *b, const char *name)
{
	sb_puts(b, "\"");
	sb_puts(b, name);
	sb_puts(b, "\"");
}

static int add_param(struct parser *p, const struct node *x)
{
	struct query_param *q;

	if (p->nparams == p->params_cap) {
		size_t ncap = p->params_cap ? p->params_cap * 2 : 8;
		struct query_param *np = realloc(p->params, ncap * sizeof(*np));

		if (!np)
			return fail_nomem(p);
		p->params = np;
		p->params_cap = ncap;
	}
	q = &p->params[p->nparams];
	memset(q, 0, sizeof(*q));
	switch (x->kind) {
	case N_INT:
		q->type = QUERY_PARAM_INT;
		q->i = x->i;
		break;
	case N_REAL:
		q->type = QUERY_PARAM_REAL;
		q->d = x->d;
		break;
	default:
		q->type = QUERY_PARAM_TEXT;
		q->s = malloc(x->slen + 1);
		if (!q->s)
			return fail_nomem(p);
		memcpy(q->s, x->s, x->slen);
		q->s[x->slen] = '\0';
		q->len = x->slen;
		break;
	}
	p->nparams++;
	sb_puts(&p->sql, "?");
	return 0;
}

static const char *op_text(enum op op)
{
	switch (op) {
	case OP_STAR: return "*";
	case OP_PLUS: return "+";
	case OP_MINUS: return "-";
	case OP_SLASH: return "/";
	case OP_PCT: return "%";
	case OP_EQ: return "=";
	case OP_NE: return "!=";
	case OP_LT: return "<";
	case OP_LE: return "<=";
	case OP_GT: return ">";
	case OP_GE: return ">=";
	case OP_AND: return "AND";
	case OP_OR: return "OR";
	default: return "?";
	}
}

static void item_alias(struct strbuf *b, size_t i)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "\"_c%zu\"", i + 1);
	sb_puts(b, buf);
}

/*
 * Whether n is an integer in SQLite's eyes (so that / and % are integer operations there):
 * integer columns and literals, counts, comparisons, and arithmetic, sums, minima and
 * maxima of integers. Used by the ClickHouse dialect, whose `/` is always real division.
 */
static bool is_int(struct parser *p, int n)
{
	const struct node *x = &p->nodes[n];

	switch (x->kind) {
	case N_COL: return p->table->columns[x->ref].type == SCHEMA_INT;
	case N_REF: return p->items[x->ref].expr >= 0 && is_int(p, p->items[x->ref].expr);
	case N_INT: return true;
	case N_NEG: return is_int(p, x->a);
	case N_BIN:
		switch (x->op) {
		case OP_PLUS:
		case OP_MINUS:
		case OP_STAR:
		case OP_SLASH:
		case OP_PCT: return is_int(p, x->a) && is_int(p, x->b);
		default: return true; /* comparisons, AND, OR: 0 or 1 */
		}
	case N_NOT:
	case N_LIKE:
	case N_IN:
	case N_ISNULL:
	case N_BETWEEN: return true;
	case N_FUNC:
		switch (x->ref) {
		case F_COUNT:
		case F_UNIQ:
		case F_TIME: return true;
		case F_SUM:
		case F_MAX:
		case F_MIN: return x->a >= 0 && is_int(p, x->a);
		default: return false;
		}
	default: return false;
	}
}

static int emit(struct parser *p, int n);

/*
 * ClickHouse: a / b and a % b as SQLite computes them: integer division (truncating) when
 * both are integers, NULL for a zero divisor. `if` evaluates both branches there, so the
 * divisor is replaced by 1 where it is 0 to keep intDiv from raising.
 */
static void emit_ch_division(struct parser *p, const struct node *x)
{
	struct strbuf *b = &p->sql;
	bool ints = is_int(p, x->a) && is_int(p, x->b);

	sb_puts(b, "if((");
	emit(p, x->b);
	sb_puts(b, ") = 0, NULL, ");
	if (x->op == OP_SLASH && ints) {
		sb_puts(b, "intDiv(");
		emit(p, x->a);
		sb_puts(b, ", if((");
		emit(p, x->b);
		sb_puts(b, ") = 0, 1, ");
		emit(p, x->b);
		sb_puts(b, "))");
	} else {
		sb_puts(b, "(");
		emit(p, x->a);
		sb_puts(b, x->op == OP_SLASH ? " / if((" : " % if((");
		emit(p, x->b);
		sb_puts(b, ") = 0, 1, ");
		emit(p, x->b);
		sb_puts(b, "))");
	}
	sb_puts(b, ")");
}

/* ClickHouse: LIKE ASCII case-insensitive with backslash ordinary, as SQLite's. */
static int emit_ch_like(struct parser *p, const struct node *x)
{
	static const struct node one = { .kind = N_TEXT, .s = "\\", .slen = 1 };
	static const struct node two = { .kind = N_TEXT, .s = "\\\\", .slen = 2 };
	struct strbuf *b = &p->sql;

	sb_puts(b, "(lower(");
	emit(p, x->a);
	sb_puts(b, x->neg ? ") NOT LIKE replaceAll(lower(" : ") LIKE replaceAll(lower(");
	emit(p, x->b);
	sb_puts(b, "), ");
	if (add_param(p, &one))
		return p->rc;
	sb_puts(b, ", ");
	if (add_param(p, &two))
		return p->rc;
	sb_puts(b, "))");
	return 0;
}

/* A non-empty value of a sparse column: non-empty text, or a non-zero integer. */
static bool sparse_value(const struct schema_column *col, const struct node *v)
{
	if (!(col->flags & SCHEMA_F_SPARSE))
		return false;
	if (col->type == SCHEMA_TEXT)
		return v->kind == N_TEXT && v->slen;
	return col->type == SCHEMA_INT && v->kind == N_INT && v->i != 0;
}

/* `col IN (list)` on a sparse column, every value non-empty. */
static bool sparse_in(struct parser *p, const struct node *x)
{
	const struct node *c = &p->nodes[x->a];

	if (c->kind != N_COL || x->b < 0)
		return false;
	for (int k = x->b; k >= 0; k = p->nodes[k].next)
		if (!sparse_value(&p->table->columns[c->ref], &p->nodes[k]))
			return false;
	return true;
}

/* ` AND (<the store's partial-index condition on col>)` */
static void emit_sparse_cond(struct parser *p, const char *name, enum schema_type type)
{
	if (type == SCHEMA_INT) {
		sb_puts(&p->sql, " AND (");
		sb_ident(&p->sql, name);
		sb_puts(&p->sql, " != 0)");
		return;
	}
	sb_puts(&p->sql, " AND (length(");
	sb_ident(&p->sql, name);
	sb_puts(&p->sql, ") > 0)");
}

/*
 * ---- virtual tag columns: emission ----
 *
 * A tag's value is its id (coalesce(col, 0): rows stored before the column existed hold
 * NULL, and grouping must not split "none" in two); the server shows names for it. A
 * label's value is the label's text, found through flow_tag.k8s_label by the side's pod
 * id, or its service's id when it has no pod (label_entity). Filters never compare text
 * on the fact table: each WHERE term on a tag becomes `id_col IN (ids whose dictionary
 * entry satisfies the term)`, see emit_tag_term.
 */

/* The dictionary tables: the SQLite dialect names them main."x" so that the store's
 * partition pruning, which looks for the one `FROM "view"` of the statement, still finds
 * the fact table's alone (store_sqlite.c, scope_to_partitions). */
static void sb_dict(struct parser *p, const char *table)
{
	const struct schema_table *t = schema_find_table("flow_tag", table);

	if (!p->ch)
		sb_puts(&p->sql, "main.");
	sb_ident(&p->sql, t ? t->store_name : table);
}

static void sb_in(struct parser *p, bool not )
{
	/* ClickHouse: the dictionaries are Distributed tables in a cluster, and an IN over one
	 * inside a query over another is refused unless GLOBAL (run once, sent to shards);
	 * on a single server GLOBAL IN is plain IN. */
	if (p->ch)
		sb_puts(&p->sql, not ? " GLOBAL NOT IN (" : " GLOBAL IN (");
	else
		sb_puts(&p->sql, not ? " NOT IN (" : " IN (");
}

/*
 * SQLite: the fact tables hold store-local numbers for tag ids (STORE_CAP_LOCAL_TAG_IDS,
 * docs/tagging.md "Storage"), so a set of dictionary ids becomes the set of their numbers:
 * `SELECT "lid" FROM main.<tag_local> WHERE "id" IN (<ids>)`, opened here and closed by
 * local_ids_close. ClickHouse rows hold the ids themselves: nothing to add.
 */
static void local_ids_open(struct parser *p)
{
	if (p->ch)
		return;
	sb_puts(&p->sql, "SELECT \"lid\" FROM main.");
	sb_ident(&p->sql, STORE_TAG_LOCAL_TABLE);
	sb_puts(&p->sql, " WHERE \"id\" IN (");
}

static void local_ids_close(struct parser *p)
{
	if (!p->ch)
		sb_puts(&p->sql, ")");
}

/* The id a label of side is looked up by: the pod's, else the pod service's, else 0. */
static void emit_label_entity(struct parser *p, int side)
{
	struct strbuf *b = &p->sql;

	sb_puts(b, "(CASE WHEN coalesce(");
	sb_ident(b, tag_label_pod_column(side));
	sb_puts(b, ", 0) != 0 THEN coalesce(");
	sb_ident(b, tag_label_pod_column(side));
	sb_puts(b, ", 0) ELSE coalesce(");
	sb_ident(b, tag_label_service_column(side));
	sb_puts(b, ", 0) END)");
}

static int add_text_param(struct parser *p, const char *s, size_t len)
{
	const struct node t = { .kind = N_TEXT, .s = s, .slen = len };

	return add_param(p, &t);
}

/* `"id" FROM k8s_label WHERE "key" = ? AND <the entity's newest labels>` */
static int emit_label_rows(struct parser *p, const struct label *l, const char *what)
{
	struct strbuf *b = &p->sql;

	sb_puts(b, what);
	sb_puts(b, " FROM ");
	sb_dict(p, "k8s_label");
	if (!p->ch)
		sb_puts(b, " AS \"_lk\""); /* named by the SQLite join's local number */
	sb_puts(b, " WHERE \"key\" = ");
	if (add_text_param(p, l->key, l->keylen))
		return p->rc;
	sb_puts(b, " AND (\"id\", \"time\")");
	sb_in(p, false);
	sb_puts(b, "SELECT \"id\", max(\"time\") FROM ");
	sb_dict(p, "k8s_label");
	sb_puts(b, " GROUP BY \"id\")");
	return 0;
}

/* ClickHouse: `WITH <ids> AS "_lN_ids", <values> AS "_lN_vals"` for each shown label. */
static int emit_ch_label_arrays(struct parser *p)
{
	struct strbuf *b = &p->sql;
	bool any = false;
	char name[32];

	for (size_t i = 0; i < p->nlabels; i++) {
		if (!p->labels[i].shown)
			continue;
		/* 18.16 has no correlated subqueries and one JOIN per SELECT: the label's
		 * (entity, value) pairs become two constant arrays, sorted so that every
		 * evaluation of the scalar subqueries (initiator and shards) agrees. */
		for (int arr = 0; arr < 2; arr++) {
			sb_puts(b, any ? ", (SELECT groupArray(" : "WITH (SELECT groupArray(");
			any = true;
			sb_puts(b, arr ? "\"v\") FROM (" : "\"i\") FROM (");
			if (emit_label_rows(p, &p->labels[i],
					    "SELECT assumeNotNull(\"id\") AS \"i\", "
					    "max(assumeNotNull(\"value\")) AS \"v\""))
				return p->rc;
			snprintf(name, sizeof(name), "\"_l%zu_%s\"", i, arr ? "vals" : "ids");
			sb_puts(b, " GROUP BY \"i\" ORDER BY \"i\")) AS ");
			sb_puts(b, name);
		}
	}
	if (any)
		sb_puts(b, " ");
	return 0;
}

/* SQLite: a LEFT JOIN per shown label, on its entity id, to its newest value. */
static int emit_sqlite_label_joins(struct parser *p)
{
	struct strbuf *b = &p->sql;
	char name[32];

	for (size_t i = 0; i < p->nlabels; i++) {
		if (!p->labels[i].shown)
			continue;
		/* max(value): one row per entity even if two servers wrote the same version */
		/* the entity's local number (label_entity reads the row's numbers) */
		sb_puts(b, " LEFT JOIN (");
		if (emit_label_rows(p, &p->labels[i],
				    "SELECT (SELECT \"lid\" FROM main.\"" STORE_TAG_LOCAL_TABLE
				    "\" AS \"_tl\" WHERE \"_tl\".\"id\" = \"_lk\".\"id\") AS "
				    "\"_lid\", max(\"value\") AS \"_lv\""))
			return p->rc;
		snprintf(name, sizeof(name), "\"_l%zu\"", i);
		sb_puts(b, " GROUP BY \"id\") AS ");
		sb_puts(b, name);
		sb_puts(b, " ON ");
		sb_puts(b, name);
		sb_puts(b, ".\"_lid\" = ");
		emit_label_entity(p, p->labels[i].side);
	}
	return 0;
}

/* A label's value in the select list, GROUP BY, ORDER BY: its text, NULL without it. */
static int emit_label_value(struct parser *p, int li)
{
	struct strbuf *b = &p->sql;
	char name[32];

	if (!p->ch) {
		snprintf(name, sizeof(name), "\"_l%d\".\"_lv\"", li);
		sb_puts(b, name);
		return 0;
	}
	snprintf(name, sizeof(name), "\"_l%d_ids\", ", li);
	sb_puts(b, "if(has(");
	sb_puts(b, name);
	emit_label_entity(p, p->labels[li].side);
	sb_puts(b, "), transform(");
	emit_label_entity(p, p->labels[li].side);
	sb_puts(b, ", ");
	sb_puts(b, name);
	snprintf(name, sizeof(name), "\"_l%d_vals\", ", li);
	sb_puts(b, name);
	/* never taken (has() said it is there), but transform wants a String default */
	if (add_text_param(p, "", 0))
		return p->rc;
	sb_puts(b, "), NULL)");
	return 0;
}

/* Count(tag) / Uniq(tag): rows with the tag; a label counts where it has a value. */
static int emit_counted_tag(struct parser *p, const struct node *t)
{
	struct strbuf *b = &p->sql;

	if (t->kind == N_LABEL)
		return emit_label_value(p, t->ref);
	sb_puts(b, "CASE WHEN ");
	sb_ident(b, tag_columns[t->ref].id_column);
	sb_puts(b, " != 0 THEN ");
	sb_ident(b, tag_columns[t->ref].id_column);
	sb_puts(b, " END");
	return 0;
}

enum tag_pred { TP_EQ, TP_NE, TP_IN, TP_NOT_IN, TP_LIKE, TP_NOT_LIKE, TP_NOT_NULL, TP_NULL };

/*
 * A WHERE term on a tag (tag_atom), negated when neg: `subject IN (the ids whose
 * dictionary entry satisfies it)` (for a process, its newest entry; a label, its entity's
 * newest labels). A row without the tag (id 0, or an id the dictionary
 * does not know) has the value NULL, as the result shows it: every comparison with NULL
 * is false there (pod_1 != 'x' leaves it out) and only IS NULL takes it, which is what SQL
 * does with a NULL column. The caller pushes NOT down to the terms (emit_cond) so that
 * NOT (pod_1 = 'x') is pod_1 != 'x' and leaves such rows out too.
 */
static int emit_tag_term(struct parser *p, const struct node *x, bool neg)
{
	struct strbuf *b = &p->sql;
	const struct node *t = &p->nodes[tag_atom(p, x)], *val = NULL;
	const char *attr = t->kind == N_TAG ? "\"name\"" : "\"value\"";
	enum tag_pred pred;

	switch (x->kind) {
	case N_BIN:
		pred = (x->op == OP_EQ) != neg ? TP_EQ : TP_NE;
		val = &p->nodes[t == &p->nodes[x->a] ? x->b : x->a];
		break;
	case N_IN: pred = x->neg != neg ? TP_NOT_IN : TP_IN; break;
	case N_LIKE:
		pred = x->neg != neg ? TP_NOT_LIKE : TP_LIKE;
		val = &p->nodes[x->b];
		break;
	default: pred = x->neg != neg ? TP_NOT_NULL : TP_NULL; break;
	}
	sb_puts(b, "(");
	if (t->kind == N_TAG) {
		/* NULL (a row stored before the column existed) is "none" */
		if (pred == TP_NULL)
			sb_puts(b, "coalesce(");
		sb_ident(b, tag_columns[t->ref].id_column);
		if (pred == TP_NULL)
			sb_puts(b, ", 0)");
	} else {
		emit_label_entity(p, p->labels[t->ref].side); /* never NULL */
	}
	sb_in(p, pred == TP_NULL);
	local_ids_open(p);
	if (t->kind == N_TAG) {
		uint32_t kinds = tag_columns[t->ref].kinds;
		bool first = true;
		char num[16];

		sb_puts(b, "SELECT \"id\" FROM ");
		sb_dict(p, "tag_dict");
		sb_puts(b, (kinds & (kinds - 1)) ? " WHERE \"kind\" IN (" : " WHERE \"kind\" = ");
		for (int k = 1; k < TAG__MAX; k++) {
			if (!(kinds & (1u << k)))
				continue;
			snprintf(num, sizeof(num), "%s%d", first ? "" : ", ", k);
			sb_puts(b, num);
			first = false;
		}
		if (kinds & (kinds - 1))
			sb_puts(b, ")");
		/* A process's name is its comm, which exec changes: only its newest version
		 * counts, as in results. Every other kind's name is fixed by its key. */
		if ((kinds & (1u << TAG_GPROCESS)) && pred != TP_NOT_NULL && pred != TP_NULL) {
			snprintf(num, sizeof(num), "%d", TAG_GPROCESS);
			sb_puts(b, " AND (\"kind\" != ");
			sb_puts(b, num);
			sb_puts(b, " OR (\"id\", \"time\")");
			sb_in(p, false);
			sb_puts(b, "SELECT \"id\", max(\"time\") FROM ");
			sb_dict(p, "tag_dict");
			sb_puts(b, " WHERE \"kind\" = ");
			sb_puts(b, num);
			sb_puts(b, " GROUP BY \"id\"))");
		}
	} else if (emit_label_rows(p, &p->labels[t->ref], "SELECT \"id\"")) {
		return p->rc;
	}
	switch (pred) {
	case TP_EQ:
	case TP_NE:
		sb_puts(b, " AND ");
		sb_puts(b, attr);
		sb_puts(b, pred == TP_EQ ? " = " : " != ");
		if (add_param(p, val))
			return p->rc;
		break;
	case TP_IN:
	case TP_NOT_IN:
		sb_puts(b, " AND ");
		sb_puts(b, attr);
		sb_puts(b, pred == TP_IN ? " IN (" : " NOT IN (");
		for (int k = x->b; k >= 0; k = p->nodes[k].next) {
			if (add_param(p, &p->nodes[k]))
				return p->rc;
			if (p->nodes[k].next >= 0)
				sb_puts(b, ", ");
		}
		sb_puts(b, ")");
		break;
	case TP_LIKE:
	case TP_NOT_LIKE:
		sb_puts(b, " AND ");
		if (p->ch) {
			/* as emit_ch_like: ASCII case-insensitive, backslash ordinary */
			sb_puts(b, "lower(");
			sb_puts(b, attr);
			sb_puts(b, pred == TP_LIKE ? ") LIKE replaceAll(lower("
						   : ") NOT LIKE replaceAll(lower(");
			if (add_param(p, val))
				return p->rc;
			sb_puts(b, "), ");
			if (add_text_param(p, "\\", 1))
				return p->rc;
			sb_puts(b, ", ");
			if (add_text_param(p, "\\\\", 2))
				return p->rc;
			sb_puts(b, ")");
		} else {
			sb_puts(b, attr);
			sb_puts(b, pred == TP_LIKE ? " LIKE " : " NOT LIKE ");
			if (add_param(p, val))
				return p->rc;
		}
		break;
	case TP_NOT_NULL: break;
	case TP_NULL:
		/* a NULL in a NOT IN set would make every row's answer NULL */
		sb_puts(b, " AND \"id\" IS NOT NULL");
		break;
	}
	local_ids_close(p);
	sb_puts(b, "))");
	return p->failed ? p->rc : 0;
}

/*
 * WHERE with NOT pushed down to the tag terms (De Morgan holds in SQL's three-valued
 * logic), so that each tag term can be written as the two-valued lookup emit_tag_term
 * gives it without changing what NULL does. Subtrees without tags are emitted as they are.
 */
static int emit_cond(struct parser *p, int n, bool neg)
{
	const struct node *x = &p->nodes[n];
	struct strbuf *b = &p->sql;

	if (find_tag(p, n) < 0) {
		if (neg)
			sb_puts(b, "(NOT ");
		if (emit(p, n))
			return p->rc;
		if (neg)
			sb_puts(b, ")");
		return 0;
	}
	if (x->kind == N_NOT)
		return emit_cond(p, x->a, !neg);
	if (x->kind == N_BIN && (x->op == OP_AND || x->op == OP_OR)) {
		sb_puts(b, "(");
		if (emit_cond(p, x->a, neg))
			return p->rc;
		sb_puts(b, (x->op == OP_AND) != neg ? " AND " : " OR ");
		if (emit_cond(p, x->b, neg))
			return p->rc;
		sb_puts(b, ")");
		return 0;
	}
	return emit_tag_term(p, x, neg);
}

/*
 * A stored column as users see it. On SQLite a tag id column (SCHEMA_F_TAG_ID) holds the
 * store's local number (STORE_CAP_LOCAL_TAG_IDS): read by name, it shows the id that
 * number stands for, the same 63-bit id ClickHouse shows (0 and NULL stay). Virtual tag
 * columns read the numbers directly (emit_tag_term, the server's name lookup).
 */
static void emit_stored_col(struct parser *p, size_t c)
{
	const struct schema_column *col = &p->table->columns[c];
	struct strbuf *b = &p->sql;

	if (p->ch || !(col->flags & SCHEMA_F_TAG_ID)) {
		sb_ident(b, col->name);
		return;
	}
	sb_puts(b, "coalesce((SELECT \"id\" FROM main.");
	sb_ident(b, STORE_TAG_LOCAL_TABLE);
	sb_puts(b, " WHERE \"lid\" = ");
	sb_ident(b, col->name);
	sb_puts(b, "), ");
	sb_ident(b, col->name);
	sb_puts(b, ")");
}

static int emit(struct parser *p, int n)
{
	const struct node *x = &p->nodes[n];
	struct strbuf *b = &p->sql;

	switch (x->kind) {
	case N_COL:
		if (p->time_noindex && !p->ch && p->table->time_column &&
		    !strcmp(p->table->columns[x->ref].name, p->table->time_column))
			sb_puts(b, "+");
		emit_stored_col(p, (size_t)x->ref);
		break;
	case N_REF: item_alias(b, (size_t)x->ref); break;
	case N_INT:
	case N_REAL:
	case N_TEXT: return add_param(p, x);
	case N_NULL: sb_puts(b, "NULL"); break;
	case N_STAR: sb_puts(b, "*"); break;
	case N_BIN:
		if (p->ch && (x->op == OP_SLASH || x->op == OP_PCT)) {
			emit_ch_division(p, x);
			break;
		}
		sb_puts(b, "(");
		emit(p, x->a);
		sb_puts(b, " ");
		sb_puts(b, op_text(x->op));
		sb_puts(b, " ");
		emit(p, x->b);
		sb_puts(b, ")");
		break;
	case N_NEG:
	case N_NOT:
		sb_puts(b, x->kind == N_NEG ? "(-" : "(NOT ");
		emit(p, x->a);
		sb_puts(b, ")");
		break;
	case N_LIKE:
		if (p->ch)
			return emit_ch_like(p, x);
		sb_puts(b, "(");
		emit(p, x->a);
		sb_puts(b, x->neg ? " NOT LIKE " : " LIKE ");
		emit(p, x->b);
		sb_puts(b, ")");
		break;
	case N_ISNULL:
		sb_puts(b, "(");
		emit(p, x->a);
		sb_puts(b, x->neg ? " IS NOT NULL)" : " IS NULL)");
		break;
	case N_BETWEEN:
		if (p->ch) {
			/* ClickHouse 18.16 has no NOT BETWEEN. */
			sb_puts(b, x->neg ? "(NOT (" : "(");
			emit(p, x->a);
			sb_puts(b, " BETWEEN ");
			emit(p, x->b);
			sb_puts(b, " AND ");
			emit(p, x->c);
			sb_puts(b, x->neg ? "))" : ")");
			break;
		}
		sb_puts(b, "(");
		emit(p, x->a);
		sb_puts(b, x->neg ? " NOT BETWEEN " : " BETWEEN ");
		emit(p, x->b);
		sb_puts(b, " AND ");
		emit(p, x->c);
		sb_puts(b, ")");
		break;
	case N_IN:
		sb_puts(b, "(");
		emit(p, x->a);
		sb_puts(b, x->neg ? " NOT IN (" : " IN (");
		for (int k = x->b; k >= 0; k = p->nodes[k].next) {
			emit(p, k);
			if (p->nodes[k].next >= 0)
				sb_puts(b, ", ");
		}
		sb_puts(b, ")");
		/* Wherever it stands (under OR too), a lookup of non-empty values on a sparse
		 * column carries its partial index's condition. */
		if (!x->neg && sparse_in(p, x))
			emit_sparse_cond(p, p->table->columns[p->nodes[x->a].ref].name,
					 p->table->columns[p->nodes[x->a].ref].type);
		sb_puts(b, ")");
		break;
	case N_FUNC:
		if (x->ref == F_TIME && p->ch) {
			/* N is a positive integer (check_func): no zero to guard. */
			int q = p->nodes[x->a].next;

			sb_puts(b, "(intDiv(");
			emit(p, x->a);
			sb_puts(b, ", ");
			emit(p, q);
			sb_puts(b, ") * ");
			emit(p, q);
			sb_puts(b, ")");
			break;
		}
		if (p->ch &&
		    (x->ref == F_SUM || x->ref == F_AVG || x->ref == F_MAX || x->ref == F_MIN)) {
			/* Over no values ClickHouse gives 0 (nan for avg) for a non-Nullable
			 * argument; SQLite gives NULL. */
			sb_puts(b, funcs[x->ref].backend);
			sb_puts(b, "toNullable(");
			emit(p, x->a);
			sb_puts(b, "))");
			break;
		}
		if (x->ref == F_TIME) {
			int q = p->nodes[x->a].next;

			sb_puts(b, "((");
			emit(p, x->a);
			sb_puts(b, " / ");
			emit(p, q);
			sb_puts(b, ") * ");
			emit(p, q);
			sb_puts(b, ")");
			break;
		}
		sb_puts(b, funcs[x->ref].backend);
		if (x->a >= 0 && is_tag(&p->nodes[x->a])) {
			/* Count / Uniq (check_shown_tag allows no other) */
			if (emit_counted_tag(p, &p->nodes[x->a]))
				return p->rc;
			sb_puts(b, ")");
			break;
		}
		for (int k = x->a; k >= 0; k = p->nodes[k].next) {
			emit(p, k);
			if (p->nodes[k].next >= 0)
				sb_puts(b, ", ");
		}
		sb_puts(b, ")");
		break;
	case N_TAG:
		sb_puts(b, "coalesce(");
		sb_ident(b, tag_columns[x->ref].id_column);
		sb_puts(b, ", 0)");
		break;
	case N_LABEL: return emit_label_value(p, x->ref);
	case N_IDENT: break; /* resolved before emission */
	}
	return p->failed ? p->rc : 0;
}

/* Precedence for rendering names with minimal parentheses. */
static int prec(const struct node *x)
{
	switch (x->kind) {
	case N_BIN:
		switch (x->op) {
		case OP_OR: return 1;
		case OP_AND: return 2;
		case OP_PLUS:
		case OP_MINUS: return 5;
		case OP_STAR:
		case OP_SLASH:
		case OP_PCT: return 6;
		default: return 4;
		}
	case N_NOT: return 3;
	case N_LIKE:
	case N_IN:
	case N_ISNULL:
	case N_BETWEEN: return 4;
	case N_NEG: return 7;
	case N_INT:
	case N_REAL: return x->neg ? 7 : 8;
	default: return 8;
	}
}

static void render(struct parser *p, struct strbuf *b, int n, int min_prec)
{
	const struct node *x = &p->nodes[n];
	bool paren = prec(x) < min_prec;
	char buf[48];

	if (paren)
		sb_puts(b, "(");
	switch (x->kind) {
	case N_IDENT: sb_add(b, x->s, x->slen); break;
	case N_COL: sb_puts(b, p->table->columns[x->ref].name); break;
	case N_TAG: sb_puts(b, tag_columns[x->ref].name); break;
	case N_LABEL: sb_add(b, x->s, x->slen); break;
	case N_REF: {
		const struct item *it = &p->items[x->ref];

		if (it->alias)
			sb_add(b, it->alias, it->alias_len);
		else
			render(p, b, it->expr, min_prec);
		break;
	}
	case N_INT:
	case N_REAL:
		if (x->neg)
			sb_puts(b, "-");
		sb_add(b, x->s, x->slen);
		break;
	case N_TEXT:
		sb_puts(b, "'");
		for (size_t i = 0; i < x->slen; i++)
			sb_add(b, x->s[i] == '\'' ? "''" : x->s + i, x->s[i] == '\'' ? 2 : 1);
		sb_puts(b, "'");
		break;
	case N_NULL: sb_puts(b, "NULL"); break;
	case N_STAR: sb_puts(b, x->s ? x->s : "*"); break;
	case N_BIN:
		render(p, b, x->a, prec(x));
		snprintf(buf, sizeof(buf), " %s ", op_text(x->op));
		sb_puts(b, buf);
		render(p, b, x->b, prec(x) + 1);
		break;
	case N_NEG:
		sb_puts(b, "-");
		render(p, b, x->a, 8); /* "-(-3)", never "--3", which reads as a comment */
		break;
	case N_NOT:
		sb_puts(b, "NOT ");
		render(p, b, x->a, 3);
		break;
	case N_LIKE:
		render(p, b, x->a, 5);
		sb_puts(b, x->neg ? " NOT LIKE " : " LIKE ");
		render(p, b, x->b, 5);
		break;
	case N_ISNULL:
		render(p, b, x->a, 5);
		sb_puts(b, x->neg ? " IS NOT NULL" : " IS NULL");
		break;
	case N_BETWEEN:
		render(p, b, x->a, 5);
		sb_puts(b, x->neg ? " NOT BETWEEN " : " BETWEEN ");
		render(p, b, x->b, 5);
		sb_puts(b, " AND ");
		render(p, b, x->c, 5);
		break;
	case N_IN:
	case N_FUNC:
		if (x->kind == N_IN) {
			render(p, b, x->a, 5);
			sb_puts(b, x->neg ? " NOT IN (" : " IN (");
		} else {
			sb_puts(b, funcs[x->ref].name);
			sb_puts(b, "(");
		}
		for (int k = x->kind == N_IN ? x->b : x->a; k >= 0; k = p->nodes[k].next) {
			render(p, b, k, 0);
			if (p->nodes[k].next >= 0)
				sb_puts(b, ", ");
		}
		sb_puts(b, ")");
		break;
	}
	if (paren)
		sb_puts(b, ")");
}

static int add_column(struct parser *p, struct query_plan *out, const char *s, size_t len)
{
	char *c;

	if (out->ncolumns >= QUERY_MAX_COLUMNS)
		return fail(p, "too many result columns (limit %d)", QUERY_MAX_COLUMNS);
	c = strndup(s, len);
	if (!c)
		return fail_nomem(p);
	out->columns[out->ncolumns++] = c;
	return 0;
}

/* The column node of n (directly or through a select item), or NULL. */
static const struct node *col_of(struct parser *p, int n)
{
	const struct node *x = &p->nodes[n];

	if (x->kind == N_REF && p->items[x->ref].expr >= 0)
		x = &p->nodes[p->items[x->ref].expr];
	return x->kind == N_COL ? x : NULL;
}

static bool is_column(struct parser *p, const struct node *x, const char *name)
{
	return x && x->kind == N_COL && name && !strcmp(p->table->columns[x->ref].name, name);
}

/*
 * A span list: no aggregate, no GROUP BY, ORDER BY an ordered column (schema.h,
 * SCHEMA_F_ORDERED: l7_flow_log's start_time) first, a LIMIT. The store indexes that
 * column, so SQLite can walk the index in order and stop after LIMIT rows, instead of
 * fetching and sorting every row of the time range (1.2 s for 10^6 rows). Its planner
 * prefers the time index (it cannot know the range holds every row), so the time column
 * is emitted as +"time", which no index serves. On a table whose column has no such index
 * (l4_flow_log's start_time) that would only take the time index away: no rewrite there.
 * Returns the ordered column's name, or NULL.
 */
static const char *top_n_ordered(struct parser *p)
{
	const struct node *c;

	if (!p->has_limit || p->ngroups || !p->norders)
		return NULL;
	c = col_of(p, p->orders[0].expr);
	if (!c || !(p->table->columns[c->ref].flags & SCHEMA_F_ORDERED))
		return NULL;
	for (size_t i = 0; i < p->nitems; i++)
		if (p->items[i].expr >= 0 && contains_aggregate(p, p->items[i].expr))
			return NULL;
	return p->table->columns[c->ref].name;
}

/* A literal integer that is safe to scale to microseconds. */
static bool time_literal(struct parser *p, int n, int64_t *v)
{
	const struct node *x = &p->nodes[n];

	if (x->kind != N_INT || x->i > INT64_MAX / 1000000 - 1 || x->i < INT64_MIN / 1000000 + 1)
		return false;
	*v = x->i;
	return true;
}

/*
 * Narrow [*lo, *hi) (seconds, hi exclusive) by the top-level AND terms of WHERE that compare
 * the time column with an integer: time < N, <= N, > N, >= N, = N, N op time, and
 * time BETWEEN a AND b. Other terms (OR, NOT, other columns) leave it as it is. Returns
 * whether any term bounded it.
 */
static bool time_range(struct parser *p, int n, int64_t *lo, int64_t *hi)
{
	const struct node *x = &p->nodes[n];
	const char *tc = p->table->time_column;
	int64_t v, a, b;
	int op;
	bool l, r;

	if (!tc)
		return false;
	if (x->kind == N_BIN && x->op == OP_AND) {
		l = time_range(p, x->a, lo, hi);
		r = time_range(p, x->b, lo, hi);
		return l || r;
	}
	if (x->kind == N_BETWEEN && !x->neg && is_column(p, &p->nodes[x->a], tc) &&
	    time_literal(p, x->b, &a) && time_literal(p, x->c, &b)) {
		*lo = a > *lo ? a : *lo;
		*hi = b + 1 < *hi ? b + 1 : *hi;
		return true;
	}
	if (x->kind != N_BIN)
		return false;
	op = x->op;
	if (is_column(p, &p->nodes[x->a], tc) && time_literal(p, x->b, &v)) {
		/* time op v */
	} else if (is_column(p, &p->nodes[x->b], tc) && time_literal(p, x->a, &v)) {
		/* v op time: mirror it */
		op = op == OP_LT   ? OP_GT
		     : op == OP_LE ? OP_GE
		     : op == OP_GT ? OP_LT
		     : op == OP_GE ? OP_LE
				   : op;
	} else {
		return false;
	}
	switch (op) {
	case OP_LT: break;
	case OP_LE: v = v + 1; break;
	case OP_GT: v = v + 1; goto lower;
	case OP_GE: goto lower;
	case OP_EQ:
		*lo = v > *lo ? v : *lo;
		v = v + 1;
		break;
	default: return false;
	}
	*hi = v < *hi ? v : *hi;
	return true;
lower:
	*lo = v > *lo ? v : *lo;
	return true;
}

/*
 * After WHERE: for each top-level AND term `col = value` (either side) on a sparse column
 * (schema.h) with a non-empty value, add the store's partial-index condition
 * (`AND (length("col") > 0)`, or `AND ("col" != 0)` for an integer). It changes nothing
 * (the term implies it) but SQLite uses a partial index only when the query carries the
 * index's own condition. IN lists get it inline (emit).
 */
static void emit_sparse_guards(struct parser *p, int n)
{
	const struct node *x = &p->nodes[n], *c, *v;

	if (x->kind != N_BIN)
		return;
	if (x->op == OP_AND) {
		emit_sparse_guards(p, x->a);
		emit_sparse_guards(p, x->b);
		return;
	}
	if (x->op != OP_EQ)
		return;
	c = &p->nodes[x->a];
	v = &p->nodes[x->b];
	if (c->kind != N_COL) {
		c = &p->nodes[x->b];
		v = &p->nodes[x->a];
	}
	if (c->kind != N_COL || !sparse_value(&p->table->columns[c->ref], v))
		return;
	emit_sparse_cond(p, p->table->columns[c->ref].name, p->table->columns[c->ref].type);
}

static int emit_select(struct parser *p, const struct query_limits *lim, struct query_plan *out)
{
	struct strbuf *b = &p->sql;
	uint64_t max_rows = lim && lim->max_rows ? lim->max_rows : QUERY_DEFAULT_MAX_ROWS;
	struct node lit = { .kind = N_INT };

	if (max_rows > (uint64_t)INT64_MAX - 1)
		max_rows = (uint64_t)INT64_MAX - 1;
	out->columns = calloc(QUERY_MAX_COLUMNS, sizeof(*out->columns));
	out->tag_ids = calloc(QUERY_MAX_COLUMNS, sizeof(*out->tag_ids));
	if (!out->columns || !out->tag_ids)
		return fail_nomem(p);
	if (p->ch && emit_ch_label_arrays(p))
		return p->rc;
	sb_puts(b, "SELECT ");
	for (size_t i = 0; i < p->nitems; i++) {
		const struct item *it = &p->items[i];

		if (i)
			sb_puts(b, ", ");
		if (it->expr < 0) {
			for (size_t c = 0; c < p->table->ncolumns; c++) {
				if (c)
					sb_puts(b, ", ");
				emit_stored_col(p, c);
				if (!p->ch && (p->table->columns[c].flags & SCHEMA_F_TAG_ID)) {
					sb_puts(b, " AS ");
					sb_ident(b, p->table->columns[c].name);
				}
				if (add_column(p, out, p->table->columns[c].name,
					       strlen(p->table->columns[c].name)))
					return p->rc;
			}
			continue;
		}
		/* the server shows the names of a tag's ids (query_plan.tag_ids) */
		out->tag_ids[out->ncolumns] = p->nodes[it->expr].kind == N_TAG;
		if (emit(p, it->expr))
			return p->rc;
		if (it->aliased) {
			sb_puts(b, " AS ");
			item_alias(b, i);
		}
		if (it->alias) {
			if (add_column(p, out, it->alias, it->alias_len))
				return p->rc;
		} else {
			struct strbuf name = { 0 };

			render(p, &name, it->expr, 0);
			if (name.failed) {
				free(name.buf);
				return fail(p, "result column name too long");
			}
			if (add_column(p, out, name.buf, name.len)) {
				free(name.buf);
				return p->rc;
			}
			free(name.buf);
		}
	}
	sb_puts(b, " FROM ");
	/* The store's name for it: "network.1s" is stored as network_1s (schema.h). */
	sb_ident(b, p->table->store_name);
	if (!p->ch && emit_sqlite_label_joins(p))
		return p->rc;
	if (p->where >= 0) {
		const char *top_n = top_n_ordered(p);
		int64_t lo = INT64_MIN, hi = INT64_MAX;

		sb_puts(b, " WHERE ");
		p->time_noindex = top_n != NULL;
		if (emit_cond(p, p->where, false))
			return p->rc;
		p->time_noindex = false;
		if (!p->ch)
			emit_sparse_guards(p, p->where);
		if (time_range(p, p->where, &lo, &hi)) {
			out->has_time_range = true;
			out->time_lo = lo;
			out->time_hi = hi;
		}
		/* An ordered column is below (time + 1) s (for l7: start_time <= end_time), so
		 * time < hi bounds it too: the index walk then starts at the range's end. */
		if (top_n && hi != INT64_MAX) {
			lit.i = hi * 1000000;
			sb_puts(b, " AND (");
			sb_ident(b, top_n);
			sb_puts(b, " < ");
			if (add_param(p, &lit))
				return p->rc;
			sb_puts(b, ")");
		}
	}
	for (size_t g = 0; g < p->ngroups; g++) {
		sb_puts(b, g ? ", " : " GROUP BY ");
		if (emit(p, p->groups[g]))
			return p->rc;
	}
	for (size_t o = 0; o < p->norders; o++) {
		sb_puts(b, o ? ", " : " ORDER BY ");
		if (emit(p, p->orders[o].expr))
			return p->rc;
		/* SQLite sorts NULL below everything; ClickHouse must be told. */
		if (p->ch)
			sb_puts(b, p->orders[o].desc ? " DESC NULLS LAST" : " ASC NULLS FIRST");
		else
			sb_puts(b, p->orders[o].desc ? " DESC" : " ASC");
	}
	out->max_rows = max_rows;
	lit.i = p->has_limit ? p->limit : 0;
	if (!p->has_limit || (uint64_t)p->limit > max_rows) {
		lit.i = (int64_t)max_rows + 1;
		out->truncatable = true;
	}
	sb_puts(b, " LIMIT ");
	if (add_param(p, &lit))
		return p->rc;
	if (p->has_offset) {
		lit.i = p->offset;
		sb_puts(b, " OFFSET ");
		if (add_param(p, &lit))
			return p->rc;
	}
	if (b->failed)
		return fail(p, "translated query too long (limit %d bytes)", QUERY_MAX_SQL);
	return 0;
}

/* ---- SHOW ---- */

static const char *type_name(enum schema_type t)
{
	switch (t) {
	case SCHEMA_INT: return "int";
	case SCHEMA_REAL: return "real";
	case SCHEMA_TEXT: return "text";
	}
	return "?";
}

static int show_setup(struct parser *p, struct query_plan *out, const char *const *cols,
		      size_t ncols, size_t maxrows)
{
	out->is_show = true;
	out->columns = calloc(ncols, sizeof(*out->columns));
	out->rows = calloc(maxrows * ncols + 1, sizeof(*out->rows));
	if (!out->columns || !out->rows)
		return fail_nomem(p);
	for (size_t i = 0; i < ncols; i++)
		if (add_column(p, out, cols[i], strlen(cols[i])))
			return p->rc;
	return 0;
}

static int parse_show(struct parser *p, struct query_plan *out)
{
	size_t ntables = 0;

	for (; schema_tables[ntables]; ntables++)
		;
	if (accept_kw(p, "DATABASES")) {
		static const char *const cols[] = { "name" };

		if (peek(p)->kind != TK_END)
			return fail_near(p, "syntax error");
		if (show_setup(p, out, cols, 1, ntables))
			return p->rc;
		for (size_t i = 0; schema_tables[i]; i++) {
			bool seen = false;

			for (size_t j = 0; j < out->nrows; j++)
				seen |= strcmp(out->rows[j], schema_tables[i]->db) == 0;
			if (!seen)
				out->rows[out->nrows++] = schema_tables[i]->db;
		}
		return 0;
	}
	if (accept_kw(p, "TABLES")) {
		static const char *const cols[] = { "name", "db" };

		if (peek(p)->kind != TK_END)
			return fail_near(p, "syntax error");
		if (show_setup(p, out, cols, 2, ntables))
			return p->rc;
		for (size_t i = 0; schema_tables[i]; i++) {
			if (p->db && strcmp(p->db, schema_tables[i]->db) != 0)
				continue;
			out->rows[out->nrows * 2] = schema_tables[i]->name;
			out->rows[out->nrows * 2 + 1] = schema_tables[i]->db;
			out->nrows++;
		}
		if (p->db && !out->nrows) {
			char tmp[64];

			return fail(p, "unknown database '%s'",
				    shown(tmp, sizeof(tmp), p->db, strlen(p->db)));
		}
		return 0;
	}
	{
		static const char *const cols[] = { "name", "type", "help" };
		enum schema_kind kind;
		const struct schema_table *t;

		if (accept_kw(p, "TAGS"))
			kind = SCHEMA_TAG;
		else if (accept_kw(p, "METRICS"))
			kind = SCHEMA_METRIC;
		else
			return fail_near(p, "expected DATABASES, TABLES, TAGS or METRICS");
		if (!accept_kw(p, "FROM"))
			return fail_near(p, "expected FROM");
		if (parse_table_ref(p))
			return p->rc;
		if (peek(p)->kind != TK_END)
			return fail_near(p, "syntax error");
		t = p->table;
		if (show_setup(p, out, cols, 3, t->ncolumns + tag_ncolumns + 2))
			return p->rc;
		for (size_t i = 0; i < t->ncolumns; i++) {
			if (t->columns[i].kind != kind)
				continue;
			out->rows[out->nrows * 3] = t->columns[i].name;
			out->rows[out->nrows * 3 + 1] = type_name(t->columns[i].type);
			out->rows[out->nrows * 3 + 2] = t->columns[i].help;
			out->nrows++;
		}
		if (kind != SCHEMA_TAG || !tag_columns_on(t))
			return 0;
		/* The virtual tag columns (tag_columns.h) after the stored ones, type "tag":
		 * names through the flow_tag dictionaries, not stored on the table. */
		for (size_t i = 0; i < tag_ncolumns + 2; i++) {
			out->rows[out->nrows * 3] = i < tag_ncolumns
							    ? tag_columns[i].name
							    : tag_label_show[i - tag_ncolumns][0];
			out->rows[out->nrows * 3 + 1] = "tag";
			out->rows[out->nrows * 3 + 2] =
				i < tag_ncolumns ? tag_columns[i].help
						 : tag_label_show[i - tag_ncolumns][1];
			out->nrows++;
		}
		return 0;
	}
}

/* ---- entry points ---- */

void query_plan_free(struct query_plan *plan)
{
	if (!plan)
		return;
	free(plan->sql);
	for (size_t i = 0; plan->params && i < plan->nparams; i++)
		free(plan->params[i].s);
	free(plan->params);
	for (size_t i = 0; plan->columns && i < plan->ncolumns; i++)
		free(plan->columns[i]);
	free(plan->columns);
	free(plan->tag_ids);
	free(plan->rows);
	memset(plan, 0, sizeof(*plan));
}

static int translate(struct parser *p, const char *sql, size_t len, const struct query_limits *lim,
		     struct query_plan *out)
{
	const struct token *t;
	size_t semi = 0;

	if (len > QUERY_MAX_INPUT)
		return fail(p, "query too long (more than %d bytes)", QUERY_MAX_INPUT);
	if (memchr(sql, '\0', len))
		return fail(p, "query contains a NUL byte");
	if (tokenize(p, sql, len))
		return p->rc;
	/* One statement: a ';' may only be followed by more ';' */
	for (size_t i = 0; i < p->ntoks; i++) {
		if (!semi && is_op(&p->toks[i], OP_SEMI)) {
			semi = i + 1;
		} else if (semi && p->toks[i].kind != TK_END && !is_op(&p->toks[i], OP_SEMI)) {
			return fail(p, "several statements are not allowed");
		}
	}
	if (semi)
		p->toks[semi - 1].kind = TK_END;
	t = peek(p);
	if (t->kind == TK_END)
		return fail(p, "empty query");
	p->nodes = calloc(QUERY_MAX_NODES, sizeof(*p->nodes));
	if (!p->nodes)
		return fail_nomem(p);
	if (accept_kw(p, "SHOW"))
		return parse_show(p, out);
	if (!accept_kw(p, "SELECT"))
		return fail(p, "only SELECT and SHOW are allowed");
	if (parse_select(p) || check_select(p) || check_tags(p) || emit_select(p, lim, out))
		return p->rc;
	out->sql = p->sql.buf;
	p->sql.buf = NULL;
	out->params = p->params;
	out->nparams = p->nparams;
	p->params = NULL;
	p->nparams = 0;
	out->table = p->table;
	return 0;
}

int query_translate_n(const char *sql, size_t len, const char *db,
		      const struct query_limits *limits, struct query_plan *out, char *err,
		      size_t errlen)
{
	struct parser p = { .err = err, .errlen = errlen, .where = -1 };
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	p.db = db && *db ? db : NULL;
	p.ch = limits && limits->dialect == QUERY_DIALECT_CLICKHOUSE;
	if (!sql) {
		fail(&p, "empty query");
		return -EINVAL;
	}
	rc = translate(&p, sql, len, limits, out);
	if (rc || p.failed) {
		rc = p.failed ? p.rc : rc;
		query_plan_free(out);
	}
	free(p.toks);
	free(p.pool);
	free(p.nodes);
	free(p.items);
	free(p.sql.buf);
	for (size_t i = 0; i < p.nparams; i++)
		free(p.params[i].s);
	free(p.params);
	return rc;
}

int query_translate(const char *user_sql, const char *db, struct query_plan *out, char *err,
		    size_t errlen)
{
	/* read one byte past the limit so that overlong input is reported, not truncated */
	size_t len = user_sql ? strnlen(user_sql, QUERY_MAX_INPUT + 1) : 0;

	return query_translate_n(user_sql, len, db, NULL, out, err, errlen);
}
