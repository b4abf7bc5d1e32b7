/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/trace_ctx.h"

#include <stdint.h>
#include <string.h>

static bool is_lhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Lower-case hex, not all zeros (W3C: an all-zero id is invalid). */
static bool hex_id(const char *p, size_t n)
{
	bool nonzero = false;

	for (size_t i = 0; i < n; i++) {
		if (!is_lhex(p[i]))
			return false;
		nonzero |= p[i] != '0';
	}
	return nonzero;
}

bool trace_ctx_tp_shape(const char *v, size_t n)
{
	return n >= TRACE_CTX_TP_LEN && v[2] == '-' && v[35] == '-' && v[52] == '-';
}

bool trace_ctx_tp_ids_hex(const char *v)
{
	return hex_id(v + TRACE_CTX_TP_TRACE_OFF, TRACE_CTX_TP_TRACE_LEN) &&
	       hex_id(v + TRACE_CTX_TP_SPAN_OFF, TRACE_CTX_TP_SPAN_LEN);
}

bool trace_ctx_traceparent_ok(const char *v, size_t n)
{
	if (n < TRACE_CTX_TP_LEN || !is_lhex(v[0]) || !is_lhex(v[1]) ||
	    (v[0] == 'f' && v[1] == 'f'))
		return false;
	/* version 00 is exactly this long; later versions may append "-..." */
	if (v[0] == '0' && v[1] == '0' && n != TRACE_CTX_TP_LEN)
		return false;
	if (n > TRACE_CTX_TP_LEN && v[TRACE_CTX_TP_LEN] != '-')
		return false;
	return trace_ctx_tp_shape(v, n) && trace_ctx_tp_ids_hex(v) && is_lhex(v[53]) &&
	       is_lhex(v[54]);
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

bool trace_ctx_b64_text(const char *s, size_t n, char *out, size_t cap, size_t *olen)
{
	uint32_t acc = 0;
	int bits = 0, v;
	size_t k = 0;

	while (n && s[n - 1] == '=')
		n--;
	for (size_t i = 0; i < n; i++) {
		v = b64_val(s[i]);
		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			unsigned char ch;

			bits -= 8;
			ch = (unsigned char)(acc >> bits);
			if (k == cap || ch < 0x20 || ch > 0x7e)
				return false;
			out[k++] = (char)ch;
		}
	}
	*olen = k;
	return k > 0;
}

bool trace_ctx_sw8_split(const char *v, size_t n, struct trace_ctx_sw8 *s)
{
	size_t nf = 0, start = 0;

	for (size_t i = 0; i <= n && nf < 4; i++) {
		if (i == n || v[i] == '-') {
			s->f[nf] = v + start;
			s->len[nf++] = i - start;
			start = i + 1;
		}
	}
	return nf == 4;
}

bool trace_ctx_sw8(const char *v, size_t n, char *trace, size_t trace_cap, size_t *trace_len,
		   char *span, size_t span_cap, size_t *span_len)
{
	struct trace_ctx_sw8 s;
	size_t tl, sl;

	if (!trace_ctx_sw8_split(v, n, &s) || s.len[0] != 1 || (v[0] != '0' && v[0] != '1') ||
	    s.len[3] == 0 || s.len[3] > 10 || span_cap < TRACE_CTX_SW8_SPAN_TAIL)
		return false;
	for (size_t i = 0; i < s.len[3]; i++)
		if (s.f[3][i] < '0' || s.f[3][i] > '9')
			return false;
	if (!trace_ctx_b64_text(s.f[1], s.len[1], trace, trace_cap, &tl))
		return false;
	if (!trace_ctx_b64_text(s.f[2], s.len[2], span, span_cap - TRACE_CTX_SW8_SPAN_TAIL, &sl)) {
		/* trace was overwritten: what *trace_len described is gone */
		*trace_len = 0;
		return false;
	}
	span[sl++] = '-';
	memcpy(span + sl, s.f[3], s.len[3]);
	*trace_len = tl;
	*span_len = sl + s.len[3];
	return true;
}
