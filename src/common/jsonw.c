/* SPDX-License-Identifier: Apache-2.0 */
/* JSON object writer: see jsonw.h. */
#include "common/jsonw.h"

#include <stdlib.h>
#include <string.h>

static __attribute__((noinline)) bool grow(struct jsonw *w, size_t need)
{
	size_t ncap = w->cap ? w->cap : 1024;
	char *nb;

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

/* The buffer is reused across objects, so growing is rare: keep the check inline. */
static inline __attribute__((always_inline)) bool reserve(struct jsonw *w, size_t more)
{
	if (__builtin_expect(w->len + more <= w->cap && !w->oom, 1))
		return true;
	if (w->oom)
		return false;
	return grow(w, w->len + more);
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
			/* Copy the whole run of plain bytes at once: most text is plain. */
			size_t j = i + 1;

			while (j < n && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' && s[j] != '\\')
				j++;
			memcpy(o, s + i, j - i);
			o += j - i;
			i = j;
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

/* key is the quoted key and colon (JSONW_KEY): our own column names, plain ASCII. */
static void put_key(struct jsonw *w, const char *key, size_t n)
{
	if (!reserve(w, n + 1))
		return;
	char *o = w->buf + w->len;
	if (!w->first)
		*o++ = ',';
	w->first = false;
	memcpy(o, key, n);
	w->len = o + n - w->buf;
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

void jsonw_str_k(struct jsonw *w, const char *key, size_t klen, const char *s, size_t len)
{
	put_key(w, key, klen);
	put_string(w, s ? s : "", s ? len : 0);
}

void jsonw_cstr_k(struct jsonw *w, const char *key, size_t klen, const char *s)
{
	jsonw_str_k(w, key, klen, s, s ? strlen(s) : 0);
}

/* Decimal digits without printf, two at a time: number formatting was the agent's top
 * cost in profiles (every record has ~20 numbers, timestamps with 16 digits). */
static size_t fmt_u64(char *out, uint64_t v)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
				    "25262728293031323334353637383940414243444546474849"
				    "50515253545556575859606162636465666768697071727374"
				    "75767778798081828384858687888990919293949596979899";
	char tmp[20];
	size_t p = sizeof(tmp), n;
	uint32_t v32;

	/* 64-bit divisions only while the value needs them; most numbers are small. */
	while (v > UINT32_MAX) {
		unsigned d = (unsigned)(v % 100) * 2;

		v /= 100;
		tmp[--p] = pairs[d + 1];
		tmp[--p] = pairs[d];
	}
	v32 = (uint32_t)v;
	while (v32 >= 100) {
		unsigned d = (v32 % 100) * 2;

		v32 /= 100;
		tmp[--p] = pairs[d + 1];
		tmp[--p] = pairs[d];
	}
	if (v32 >= 10) {
		tmp[--p] = pairs[v32 * 2 + 1];
		tmp[--p] = pairs[v32 * 2];
	} else {
		tmp[--p] = (char)('0' + v32);
	}
	n = sizeof(tmp) - p;
	memcpy(out, tmp + p, n);
	return n;
}

void jsonw_u64_k(struct jsonw *w, const char *key, size_t klen, uint64_t v)
{
	char tmp[24];

	put_key(w, key, klen);
	put(w, tmp, fmt_u64(tmp, v));
}

void jsonw_i64_k(struct jsonw *w, const char *key, size_t klen, int64_t v)
{
	char tmp[24];
	size_t n = 0;

	put_key(w, key, klen);
	if (v < 0) {
		tmp[n++] = '-';
		n += fmt_u64(tmp + n, (uint64_t)0 - (uint64_t)v);
	} else {
		n = fmt_u64(tmp, (uint64_t)v);
	}
	put(w, tmp, n);
}

void jsonw_null_k(struct jsonw *w, const char *key, size_t klen)
{
	put_key(w, key, klen);
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
