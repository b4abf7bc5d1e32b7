/* SPDX-License-Identifier: Apache-2.0 */
/* JSON object writer: see jsonw.h. */
#include "common/jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(struct jsonw *w, size_t more)
{
	size_t need = w->len + more;
	char *nb;

	if (w->oom)
		return false;
	if (need <= w->cap)
		return true;
	size_t ncap = w->cap ? w->cap : 1024;
	while (ncap < need)
		ncap *= 2;
	nb = realloc(w->buf, ncap);
	if (!nb) {
		w->oom = true;
		return false;
	}
	w->buf = nb;
	w->cap = ncap;
	return true;
}

static void put(struct jsonw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

/* Length of a valid UTF-8 sequence at s (1..4), or 0 if the bytes there are invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t need;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

static void put_string(struct jsonw *w, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	static const char hex[] = "0123456789abcdef";

	/* Worst case 6 output bytes per input byte, plus quotes. */
	if (!reserve(w, n * 6 + 2))
		return;
	char *o = w->buf + w->len;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t k;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*o++ = c;
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = c;
			i++;
			continue;
		}
		if (c < 0x20) {
			*o++ = '\\';
			switch (c) {
			case '\n': *o++ = 'n'; break;
			case '\r': *o++ = 'r'; break;
			case '\t': *o++ = 't'; break;
			default:
				*o++ = 'u';
				*o++ = '0';
				*o++ = '0';
				*o++ = hex[c >> 4];
				*o++ = hex[c & 15];
			}
			i++;
			continue;
		}
		k = utf8_seq(s + i, n - i);
		if (k == 0) {
			memcpy(o, "\\ufffd", 6);
			o += 6;
			i++;
			continue;
		}
		memcpy(o, s + i, k);
		o += k;
		i += k;
	}
	*o++ = '"';
	w->len = o - w->buf;
}

static void put_key(struct jsonw *w, const char *key)
{
	if (!w->first)
		put(w, ",", 1);
	w->first = false;
	put_string(w, key, strlen(key));
	put(w, ":", 1);
}

void jsonw_begin(struct jsonw *w)
{
	w->len = 0;
	w->oom = false;
	w->first = true;
	put(w, "{", 1);
}

int jsonw_end(struct jsonw *w)
{
	put(w, "}\n", 2);
	return w->oom ? -12 /* -ENOMEM */ : 0;
}

void jsonw_str(struct jsonw *w, const char *key, const char *s, size_t len)
{
	put_key(w, key);
	put_string(w, s ? s : "", s ? len : 0);
}

void jsonw_cstr(struct jsonw *w, const char *key, const char *s)
{
	jsonw_str(w, key, s, s ? strlen(s) : 0);
}

void jsonw_u64(struct jsonw *w, const char *key, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);

	put_key(w, key);
	put(w, tmp, n);
}

void jsonw_i64(struct jsonw *w, const char *key, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

	put_key(w, key);
	put(w, tmp, n);
}

void jsonw_null(struct jsonw *w, const char *key)
{
	put_key(w, key);
	put(w, "null", 4);
}

void jsonw_free(struct jsonw *w)
{
	if (!w)
		return;
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}
