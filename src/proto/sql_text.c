/* SPDX-License-Identifier: Apache-2.0 */
/* SQL literal obfuscation and statement sniffing: see sql_text.h. */
#include "proto/sql_text.h"

#include <string.h>

static bool is_ident(uint8_t ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '$' || ch >= 0x80;
}

static bool is_digit(uint8_t ch)
{
	return ch >= '0' && ch <= '9';
}

struct sql_out {
	char *p;
	size_t len, cap;
};

static void put(struct sql_out *o, const uint8_t *s, size_t n)
{
	if (n > o->cap - o->len)
		n = o->cap - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void put_q(struct sql_out *o)
{
	put(o, (const uint8_t *)"?", 1);
}

/* End of the quoted literal that opens at in[i] (quote q); n if it is cut short. */
static size_t skip_quoted(const uint8_t *in, size_t n, size_t i, uint8_t q, bool backslash)
{
	for (i++; i < n; i++) {
		if (backslash && in[i] == '\\') {
			i++;
			continue;
		}
		if (in[i] == q) {
			if (i + 1 < n && in[i + 1] == q) {
				i++; /* doubled quote */
				continue;
			}
			return i + 1;
		}
	}
	return n;
}

/* A PostgreSQL dollar quote tag "$tag$" at in[i]: its length, or 0. */
static size_t dollar_tag(const uint8_t *in, size_t n, size_t i)
{
	size_t j = i + 1;

	if (j < n && is_digit(in[j]))
		return 0; /* $1: a parameter */
	while (j < n && is_ident(in[j]) && in[j] != '$')
		j++;
	if (j < n && in[j] == '$')
		return j - i + 1;
	return 0;
}

static size_t skip_number(const uint8_t *in, size_t n, size_t i)
{
	if (in[i] == '0' && i + 1 < n &&
	    (in[i + 1] == 'x' || in[i + 1] == 'X' || in[i + 1] == 'b')) {
		i += 2;
		while (i < n && is_ident(in[i]))
			i++;
		return i;
	}
	while (i < n) {
		if (is_digit(in[i]) || in[i] == '.') {
			i++;
		} else if ((in[i] == 'e' || in[i] == 'E') && i + 1 < n &&
			   (is_digit(in[i + 1]) || ((in[i + 1] == '+' || in[i + 1] == '-') &&
						    i + 2 < n && is_digit(in[i + 2])))) {
			i += 2;
		} else {
			break;
		}
	}
	return i;
}

size_t sql_obfuscate(const uint8_t *in, size_t n, char *out, size_t cap, enum sql_dialect d)
{
	struct sql_out o = { out, 0, cap };
	size_t i = 0, j, t;
	uint8_t prev = ' ';

	if (!in || !out)
		return 0;
	while (i < n && o.len < o.cap) {
		uint8_t ch = in[i];

		if (ch == '\'' || (ch == '"' && d == SQL_DIALECT_MYSQL)) {
			/* PostgreSQL strings take backslashes literally unless written E'...' */
			bool bs = d == SQL_DIALECT_MYSQL || prev == 'E' || prev == 'e';

			i = skip_quoted(in, n, i, ch, bs);
			put_q(&o);
			prev = '?';
			continue;
		}
		if (ch == '"' || ch == '`') {
			j = skip_quoted(in, n, i, ch, false);
			put(&o, in + i, j - i);
			i = j;
			prev = 'a';
			continue;
		}
		if (ch == '/' && i + 1 < n && in[i + 1] == '*') {
			const uint8_t *e =
				i + 2 < n ? memmem(in + i + 2, n - i - 2, "*/", 2) : NULL;

			j = e ? (size_t)(e - in) + 2 : n;
			put(&o, in + i, j - i);
			i = j;
			prev = ' ';
			continue;
		}
		if ((ch == '-' && i + 1 < n && in[i + 1] == '-') ||
		    (ch == '#' && d == SQL_DIALECT_MYSQL)) {
			const uint8_t *e = memchr(in + i, '\n', n - i);

			j = e ? (size_t)(e - in) : n;
			put(&o, in + i, j - i);
			i = j;
			prev = ' ';
			continue;
		}
		if (ch == '$' && d == SQL_DIALECT_PG && !is_ident(prev)) {
			t = dollar_tag(in, n, i);
			if (t) {
				const uint8_t *e =
					i + t < n ? memmem(in + i + t, n - i - t, in + i, t) : NULL;

				i = e ? (size_t)(e - in) + t : n;
				put_q(&o);
				prev = '?';
				continue;
			}
			/* $1: a parameter, copied with its digits */
			j = i + 1;
			while (j < n && is_digit(in[j]))
				j++;
			put(&o, in + i, j - i);
			i = j;
			prev = 'a';
			continue;
		}
		if (!is_ident(prev) &&
		    (is_digit(ch) || (ch == '.' && i + 1 < n && is_digit(in[i + 1])))) {
			i = skip_number(in, n, i);
			put_q(&o);
			prev = '?';
			continue;
		}
		put(&o, in + i, 1);
		prev = ch;
		i++;
	}
	return o.len;
}

static const char *const sql_words[] = {
	"SELECT",   "INSERT",	"UPDATE",     "DELETE",	   "REPLACE",	 "CREATE",    "DROP",
	"ALTER",    "TRUNCATE", "RENAME",     "SET",	   "SHOW",	 "USE",	      "BEGIN",
	"START",    "COMMIT",	"ROLLBACK",   "SAVEPOINT", "RELEASE",	 "CALL",      "EXPLAIN",
	"DESC",	    "DESCRIBE", "PREPARE",    "EXECUTE",   "DEALLOCATE", "GRANT",     "REVOKE",
	"LOCK",	    "UNLOCK",	"WITH",	      "ANALYZE",   "OPTIMIZE",	 "FLUSH",     "KILL",
	"LOAD",	    "HANDLER",	"DO",	      "XA",	   "CHECK",	 "REPAIR",    "RESET",
	"PURGE",    "CHANGE",	"VALUES",     "TABLE",	   "COPY",	 "LISTEN",    "NOTIFY",
	"UNLISTEN", "VACUUM",	"FETCH",      "MOVE",	   "CLOSE",	 "DECLARE",   "DISCARD",
	"ABORT",    "END",	"REINDEX",    "CLUSTER",   "COMMENT",	 "REFRESH",   "SECURITY",
	"IMPORT",   "MERGE",	"CHECKPOINT", "HELP",	   "INSTALL",	 "UNINSTALL", "BINLOG",
	"CACHE",    "SHUTDOWN", "RESTART",    "GET",	   "SIGNAL",	 "RESIGNAL",  "REASSIGN",
};

bool sql_starts_like_statement(const uint8_t *in, size_t n)
{
	size_t i = 0, w;

	if (!in)
		return false;
	for (;;) {
		while (i < n && (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n' ||
				 in[i] == '('))
			i++;
		if (i + 1 < n && in[i] == '/' && in[i + 1] == '*') {
			const uint8_t *e = memmem(in + i + 2, n - i - 2, "*/", 2);

			if (!e)
				return false;
			i = (size_t)(e - in) + 2;
			continue;
		}
		if (i + 1 < n && in[i] == '-' && in[i + 1] == '-') {
			const uint8_t *e = memchr(in + i, '\n', n - i);

			if (!e)
				return false;
			i = (size_t)(e - in) + 1;
			continue;
		}
		break;
	}
	for (w = 0; i + w < n && w < 12 && ((in[i + w] | 0x20) >= 'a' && (in[i + w] | 0x20) <= 'z');
	     w++)
		;
	if (!w || (i + w < n && is_ident(in[i + w])))
		return false;
	for (size_t k = 0; k < sizeof(sql_words) / sizeof(sql_words[0]); k++) {
		const char *s = sql_words[k];
		size_t l = strlen(s), m;

		if (l != w)
			continue;
		for (m = 0; m < l && (uint8_t)(in[i + m] & ~0x20) == (uint8_t)s[m]; m++)
			;
		if (m == l)
			return true;
	}
	return false;
}
