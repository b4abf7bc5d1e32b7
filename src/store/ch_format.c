/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ClickHouse text formats: see ch_format.h. Escaping follows ClickHouse's documented
 * rules for TabSeparated (backslash escapes, \N for NULL) and for quoted string literals
 * (backslash escapes, so a backslash must itself be escaped: unlike SQLite's literals).
 */
#include "store/ch_format.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffer ---- */

void ch_buf_init(struct ch_buf *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->cap = cap;
}

void ch_buf_free(struct ch_buf *b)
{
	if (!b)
		return;
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void ch_buf_reset(struct ch_buf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->p)
		b->p[0] = 0;
}

void ch_buf_add(struct ch_buf *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		b->failed = true;
		return;
	}
	if (b->len + n + 1 > b->cap_now) {
		size_t ncap = b->cap_now ? b->cap_now : 4096;
		char *np;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		if (ncap > b->cap)
			ncap = b->cap;
		np = realloc(b->p, ncap);
		if (!np) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap_now = ncap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
}

void ch_buf_puts(struct ch_buf *b, const char *s)
{
	ch_buf_add(b, s, strlen(s));
}

void ch_buf_printf(struct ch_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->failed = true;
		return;
	}
	ch_buf_add(b, tmp, (size_t)n);
}

/* ---- values ---- */

/* Backslash escapes shared by TabSeparated fields and quoted literals; quote is the
 * literal's quote character (0 in TSV). */
static void escape_text(struct ch_buf *b, const char *s, size_t len, char quote)
{
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		const char *esc = NULL;

		switch (s[i]) {
		case '\\': esc = "\\\\"; break;
		case '\t': esc = "\\t"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\0': esc = "\\0"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\'': esc = quote == '\'' ? "\\'" : NULL; break;
		default: break;
		}
		if (!esc)
			continue;
		ch_buf_add(b, s + run, i - run);
		ch_buf_puts(b, esc);
		run = i + 1;
	}
	ch_buf_add(b, s + run, len - run);
}

void ch_tsv_value(struct ch_buf *b, const struct store_value *v)
{
	switch (v->type) {
	case STORE_INT: ch_buf_printf(b, "%lld", (long long)v->i); break;
	case STORE_REAL:
		if (isnan(v->d))
			ch_buf_puts(b, "nan");
		else if (isinf(v->d))
			ch_buf_puts(b, v->d > 0 ? "inf" : "-inf");
		else
			ch_buf_printf(b, "%.17g", v->d);
		break;
	case STORE_TEXT: escape_text(b, v->s ? v->s : "", v->s ? v->len : 0, 0); break;
	default: ch_buf_puts(b, "\\N"); break;
	}
}

int ch_sql_literal(struct ch_buf *b, const struct store_value *v)
{
	switch (v->type) {
	case STORE_INT:
		/* INT64_MIN has no positive literal to negate: write it as an expression. */
		if (v->i == INT64_MIN)
			ch_buf_puts(b, "(-9223372036854775807 - 1)");
		else if (v->i < 0)
			ch_buf_printf(b, "(%lld)", (long long)v->i);
		else
			ch_buf_printf(b, "%lld", (long long)v->i);
		return 0;
	case STORE_REAL:
		if (!isfinite(v->d))
			return -EINVAL;
		/* A literal with a point or exponent, so that ClickHouse reads a Float64. */
		ch_buf_printf(b, "toFloat64(%.17g)", v->d);
		return 0;
	case STORE_TEXT:
		ch_buf_puts(b, "'");
		escape_text(b, v->s ? v->s : "", v->s ? v->len : 0, '\'');
		ch_buf_puts(b, "'");
		return 0;
	default: ch_buf_puts(b, "NULL"); return 0;
	}
}

/* ---- SQL scanning ---- */

/*
 * The end of the lexical element at s[i] when it is a string, a quoted name or a comment
 * (so that `?`, `;` and names inside it are not seen), or i when it is none.
 */
static size_t skip_quoted(const char *s, size_t i)
{
	char q = s[i];

	if (q == '\'' || q == '"' || q == '`') {
		for (i++; s[i]; i++) {
			if (s[i] == '\\' && s[i + 1]) {
				i++;
				continue;
			}
			if (s[i] == q) {
				if (s[i + 1] == q) { /* doubled quote */
					i++;
					continue;
				}
				return i + 1;
			}
		}
		return i;
	}
	if (q == '-' && s[i + 1] == '-') {
		while (s[i] && s[i] != '\n')
			i++;
		return i;
	}
	if (q == '/' && s[i + 1] == '*') {
		const char *e = strstr(s + i + 2, "*/");

		return e ? (size_t)(e - s) + 2 : strlen(s);
	}
	return i;
}

static bool is_comment(const char *s, size_t i)
{
	return (s[i] == '-' && s[i + 1] == '-') || (s[i] == '/' && s[i + 1] == '*');
}

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/*
 * Pass 1: parameters and the one-statement rule. Text after a top-level ';' may only be
 * blanks, comments and more ';', and is dropped.
 */
static int substitute(const char *sql, const struct store_value *params, size_t nparams,
		      struct ch_buf *out, const char **why)
{
	size_t i = 0, used = 0;
	bool content = false;

	while (sql[i]) {
		size_t e = skip_quoted(sql, i);

		if (e != i) {
			content |= !is_comment(sql, i);
			ch_buf_add(out, sql + i, e - i);
			i = e;
			continue;
		}
		if (sql[i] == ';') {
			for (i++; sql[i];) {
				e = skip_quoted(sql, i);
				if (e != i && is_comment(sql, i)) {
					i = e;
				} else if (isspace((unsigned char)sql[i]) || sql[i] == ';') {
					i++;
				} else {
					*why = "more than one statement";
					return -EINVAL;
				}
			}
			break;
		}
		if (sql[i] == '?') {
			if (used == nparams) {
				*why = "parameter count does not match the statement";
				return -EINVAL;
			}
			if (ch_sql_literal(out, &params[used++])) {
				*why = "a real parameter is not finite";
				return -EINVAL;
			}
			content = true;
			i++;
			continue;
		}
		content |= !isspace((unsigned char)sql[i]);
		ch_buf_add(out, sql + i, 1);
		i++;
	}
	if (used != nparams) {
		*why = "parameter count does not match the statement";
		return -EINVAL;
	}
	if (!content) {
		*why = "empty statement";
		return -EINVAL;
	}
	return 0;
}

/*
 * percentile(x, p): exact, linear interpolation between closest ranks, as the SQLite
 * backend's aggregate (store_sqlite.c): the sorted non-NULL values a, h = p * (n - 1),
 * a[floor h] + (h - floor h) * (a[floor h + 1] - a[floor h]) (1-based below), NULL without
 * values, an error for p outside [0, 1]. ClickHouse 18.16 has no interpolating exact
 * quantile, so it is written with groupArray and lambdas; x and p each appear once.
 */
#define PCT_HEAD                                                                                   \
	"arrayMap(_fs_a -> arrayMap(_fs_h -> if(length(_fs_a) = 0, NULL, "                         \
	"_fs_a[toUInt64(floor(_fs_h)) + 1] + (_fs_h - floor(_fs_h)) * "                            \
	"(_fs_a[toUInt64(least(floor(_fs_h) + 2, toFloat64(length(_fs_a))))] - "                   \
	"_fs_a[toUInt64(floor(_fs_h)) + 1])), [if(throwIf(NOT (toFloat64("
#define PCT_MID	 ") BETWEEN 0 AND 1)) = 0, toFloat64("
#define PCT_MID2 "), 0) * (toFloat64(length(_fs_a)) - 1)])[1], [arraySort(groupArray(toFloat64("
#define PCT_TAIL ")))])[1]"

/* Pass 2: percentile(a, b) -> the expression above. The arguments are copied as they are. */
static int rewrite_percentile(const char *s, struct ch_buf *out, const char **why)
{
	static const char kw[] = "percentile";
	size_t i = 0;

	while (s[i]) {
		size_t e = skip_quoted(s, i), a0, comma = 0, close = 0;
		int depth = 0;

		if (e != i) {
			ch_buf_add(out, s + i, e - i);
			i = e;
			continue;
		}
		if (strncasecmp(s + i, kw, sizeof(kw) - 1) || (i && word_char(s[i - 1]))) {
			ch_buf_add(out, s + i, 1);
			i++;
			continue;
		}
		a0 = i + sizeof(kw) - 1;
		while (isspace((unsigned char)s[a0]))
			a0++;
		if (s[a0] != '(') {
			ch_buf_add(out, s + i, 1);
			i++;
			continue;
		}
		a0++;
		for (size_t k = a0; s[k] && !close;) {
			e = skip_quoted(s, k);
			if (e != k) {
				k = e;
				continue;
			}
			if (s[k] == '(' || s[k] == '[')
				depth++;
			else if ((s[k] == ')' || s[k] == ']') && depth)
				depth--;
			else if (s[k] == ')')
				close = k;
			else if (s[k] == ',' && !depth && !comma)
				comma = k;
			else if (s[k] == ',' && !depth)
				close = (size_t)-1;
			k++;
		}
		if (!comma || !close || close == (size_t)-1) {
			*why = "percentile takes two arguments: percentile(x, p)";
			return -EINVAL;
		}
		ch_buf_puts(out, PCT_HEAD);
		ch_buf_add(out, s + comma + 1, close - comma - 1);
		ch_buf_puts(out, PCT_MID);
		ch_buf_add(out, s + comma + 1, close - comma - 1);
		ch_buf_puts(out, PCT_MID2);
		ch_buf_add(out, s + a0, comma - a0);
		ch_buf_puts(out, PCT_TAIL);
		i = close + 1;
	}
	return 0;
}

int ch_rewrite_sql(const char *sql, const struct store_value *params, size_t nparams,
		   struct ch_buf *out, const char **why)
{
	struct ch_buf mid;
	int err;

	*why = "";
	ch_buf_init(&mid, out->cap);
	err = substitute(sql, params, nparams, &mid, why);
	if (!err && mid.failed) {
		*why = "statement too long";
		err = -ENOMEM;
	}
	if (!err)
		err = rewrite_percentile(mid.p, out, why);
	if (!err && out->failed) {
		*why = "statement too long";
		err = -ENOMEM;
	}
	ch_buf_free(&mid);
	return err;
}

/* ---- results ---- */

void ch_tsv_init(struct ch_tsv_parser *ps, size_t max_line, ch_names_fn on_names, ch_row_fn on_row,
		 void *ctx)
{
	memset(ps, 0, sizeof(*ps));
	ch_buf_init(&ps->line, max_line);
	ps->on_names = on_names;
	ps->on_row = on_row;
	ps->ctx = ctx;
}

void ch_tsv_free(struct ch_tsv_parser *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; ps->names && i < ps->ncols; i++)
		free(ps->names[i]);
	free(ps->names);
	free(ps->types);
	free(ps->vals);
	ch_buf_free(&ps->line);
}

/* Unescape the field [p, p + *len) in place. Returns false for the NULL marker \N. */
static bool unescape(char *p, size_t *len)
{
	size_t r = 0, w = 0, n = *len;

	if (n == 2 && p[0] == '\\' && p[1] == 'N')
		return false;
	while (r < n) {
		char c = p[r++];

		if (c == '\\' && r < n) {
			c = p[r++];
			switch (c) {
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'r': c = '\r'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '0': c = '\0'; break;
			default: break; /* \\ \' and anything else: the character itself */
			}
		}
		p[w++] = c;
	}
	*len = w;
	return true;
}

static enum ch_coltype parse_type(const char *t)
{
	/* Wrappers that change nothing for us: Nullable(X), LowCardinality(X). */
	for (;;) {
		if (!strncmp(t, "Nullable(", 9))
			t += 9;
		else if (!strncmp(t, "LowCardinality(", 15))
			t += 15;
		else
			break;
	}
	if (!strncmp(t, "Int", 3))
		return CHT_INT;
	if (!strncmp(t, "UInt", 4))
		return CHT_UINT;
	if (!strncmp(t, "Float", 5))
		return CHT_REAL;
	if (!strncmp(t, "Nothing", 7))
		return CHT_INT; /* only ever NULL */
	return CHT_TEXT;
}

/* Split the line into fields (at raw tabs); fields[i] start, lens[i] length. */
static size_t split(char *line, size_t len, char **fields, size_t *lens, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != '\t')
			continue;
		if (n < max) {
			fields[n] = line + start;
			lens[n] = i - start;
		}
		n++;
		start = i + 1;
	}
	return n;
}

static int header_line(struct ch_tsv_parser *ps, char *line, size_t len)
{
	size_t n = 1;

	for (size_t i = 0; i < len; i++)
		n += line[i] == '\t';
	if (ps->state == 0) {
		char **f = calloc(n, sizeof(*f));
		size_t *l = calloc(n, sizeof(*l));

		ps->names = calloc(n, sizeof(*ps->names));
		ps->types = calloc(n, sizeof(*ps->types));
		ps->vals = calloc(n, sizeof(*ps->vals));
		if (!f || !l || !ps->names || !ps->types || !ps->vals) {
			free(f);
			free(l);
			return -ENOMEM;
		}
		ps->ncols = n;
		split(line, len, f, l, n);
		for (size_t i = 0; i < n; i++) {
			unescape(f[i], &l[i]);
			ps->names[i] = strndup(f[i], l[i]);
			if (!ps->names[i]) {
				free(f);
				free(l);
				return -ENOMEM;
			}
		}
		free(f);
		free(l);
		ps->state = 1;
		return 0;
	}
	if (n != ps->ncols)
		return -EPROTO;
	{
		size_t start = 0, c = 0;

		for (size_t i = 0; i <= len; i++) {
			if (i < len && line[i] != '\t')
				continue;
			line[i] = 0; /* the line buffer has room for the NUL at len */
			ps->types[c++] = parse_type(line + start);
			start = i + 1;
		}
	}
	ps->state = 2;
	if (ps->on_names)
		return ps->on_names(ps->ctx, ps->ncols, (const char *const *)ps->names);
	return 0;
}

static int row_line(struct ch_tsv_parser *ps, char *line, size_t len)
{
	size_t c = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		struct store_value *v;
		size_t flen;
		char *f;

		if (i < len && line[i] != '\t')
			continue;
		if (c == ps->ncols)
			return -EPROTO;
		f = line + start;
		flen = i - start;
		start = i + 1;
		v = &ps->vals[c];
		memset(v, 0, sizeof(*v));
		if (!unescape(f, &flen)) {
			v->type = STORE_NULL;
			c++;
			continue;
		}
		f[flen] = 0; /* after unescaping, flen <= the field's raw length */
		switch (ps->types[c]) {
		case CHT_INT:
			v->type = STORE_INT;
			v->i = strtoll(f, NULL, 10);
			break;
		case CHT_UINT: {
			unsigned long long u = strtoull(f, NULL, 10);

			v->type = STORE_INT;
			v->i = u > INT64_MAX ? INT64_MAX : (int64_t)u;
			break;
		}
		case CHT_REAL:
			v->type = STORE_REAL;
			v->d = strtod(f, NULL);
			break;
		default:
			v->type = STORE_TEXT;
			v->s = f;
			v->len = flen;
			break;
		}
		c++;
	}
	if (c != ps->ncols)
		return -EPROTO;
	return ps->on_row ? ps->on_row(ps->ctx, ps->vals, ps->ncols) : 0;
}

static int one_line(struct ch_tsv_parser *ps, char *line, size_t len)
{
	int r;

	if (ps->state < 2) {
		r = header_line(ps, line, len);
	} else {
		/* An exception after the first rows were sent comes as text in the stream. */
		if (len > 6 && !strncmp(line, "Code: ", 6)) {
			ps->server_error = true;
			return -EIO;
		}
		r = row_line(ps, line, len);
	}
	if (r > 0)
		ps->stopped = true;
	return r;
}

int ch_tsv_feed(struct ch_tsv_parser *ps, const char *p, size_t n)
{
	while (n && !ps->err && !ps->stopped) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		int r;

		ch_buf_add(&ps->line, p, take);
		if (ps->line.failed) {
			ps->err = -ENOMEM;
			break;
		}
		p += take;
		n -= take;
		if (!nl)
			break;
		p++;
		n--;
		r = one_line(ps, ps->line.p, ps->line.len);
		ch_buf_reset(&ps->line);
		if (r < 0)
			ps->err = r;
	}
	return ps->err || ps->stopped;
}

int ch_tsv_finish(struct ch_tsv_parser *ps)
{
	if (!ps->err && !ps->stopped && ps->line.len) {
		int r = one_line(ps, ps->line.p, ps->line.len);

		ch_buf_reset(&ps->line);
		if (r < 0)
			ps->err = r;
	}
	return ps->err;
}

int ch_error_code(const char *text)
{
	const char *c = text ? strstr(text, "Code: ") : NULL;

	return c ? atoi(c + 6) : -1;
}
