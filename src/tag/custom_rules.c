/* SPDX-License-Identifier: Apache-2.0 */
/* Custom service rules: see custom_rules.h. */
#include "tag/custom_rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tag_id.h"

static bool name_ok(const char *s, size_t n)
{
	if (!n || n >= CUSTOM_RULE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, net, whole))
		return false;
	return !rest || ((a[whole] ^ net[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* One "NAME=CIDR[:PORT]" item of len bytes: NULL or why it is wrong. */
static const char *parse_item(const char *s, size_t len, struct custom_rule *r)
{
	char addr[64], *slash, *end;
	const char *eq = memchr(s, '=', len), *a, *ae, *port = NULL;
	size_t alen, plen = 0;
	unsigned long v;

	memset(r, 0, sizeof(*r));
	if (!eq)
		return "expected NAME=CIDR[:PORT]";
	if (!name_ok(s, (size_t)(eq - s)))
		return "the name must be 1..63 of A-Z a-z 0-9 . _ -";
	memcpy(r->name, s, (size_t)(eq - s));
	a = eq + 1;
	ae = s + len;
	if (a < ae && *a == '[') { /* [IPv6/len]:port */
		const char *close = memchr(a, ']', (size_t)(ae - a));

		if (!close)
			return "'[' without ']'";
		a++;
		if (close + 1 < ae) {
			if (close[1] != ':')
				return "expected ':PORT' after ']'";
			port = close + 2;
			plen = (size_t)(ae - port);
		}
		ae = close;
	} else {
		const char *c1 = memchr(a, ':', (size_t)(ae - a));

		/* One ':' is IPv4:PORT; more are an IPv6 address (ports need brackets). */
		if (c1 && !memchr(c1 + 1, ':', (size_t)(ae - c1 - 1))) {
			port = c1 + 1;
			plen = (size_t)(ae - port);
			ae = c1;
		}
	}
	alen = (size_t)(ae - a);
	if (!alen || alen >= sizeof(addr))
		return "missing or overlong address";
	memcpy(addr, a, alen);
	addr[alen] = 0;
	slash = strchr(addr, '/');
	if (slash)
		*slash++ = 0;
	if (inet_pton(AF_INET, addr, r->addr) == 1)
		r->family = 4;
	else if (inet_pton(AF_INET6, addr, r->addr) == 1)
		r->family = 6;
	else
		return "not an IPv4 or IPv6 address";
	r->prefix = r->family == 4 ? 32 : 128;
	if (slash) {
		errno = 0;
		v = strtoul(slash, &end, 10);
		if (errno || end == slash || *end || v > r->prefix)
			return "prefix length out of range";
		r->prefix = (uint8_t)v;
	}
	/* Host bits set (10.0.0.1/24) are a typo more often than not: refused. */
	for (unsigned b = r->prefix; b < (r->family == 4 ? 32u : 128u); b++)
		if (r->addr[b / 8] & (0x80 >> (b % 8)))
			return "address bits set beyond the prefix length";
	if (port) {
		char pb[8];

		if (!plen || plen >= sizeof(pb))
			return "port out of range (1..65535)";
		memcpy(pb, port, plen);
		pb[plen] = 0;
		errno = 0;
		v = strtoul(pb, &end, 10);
		if (errno || end == pb || *end || !v || v > 65535)
			return "port out of range (1..65535)";
		r->port = (uint16_t)v;
	}
	r->id = tag_id_str(TAG_CUSTOM_SERVICE, r->name);
	return NULL;
}

int custom_rules_parse(const char *list, struct custom_rules *out, char *err, size_t errlen)
{
	const char *p = list ? list : "";
	struct custom_rules rs = { 0 };
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	while (*p) {
		const char *comma = strchr(p, ','), *e = comma ? comma : p + strlen(p);
		const char *b = p, *why;

		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > b) {
			if (rs.n == CUSTOM_RULES_MAX) {
				snprintf(err, errlen, "more than %d custom service rules",
					 CUSTOM_RULES_MAX);
				custom_rules_free(&rs);
				return -EINVAL;
			}
			if (rs.n == cap) {
				struct custom_rule *nr;

				cap = cap ? cap * 2 : 8;
				nr = realloc(rs.r, cap * sizeof(*nr));
				if (!nr) {
					custom_rules_free(&rs);
					return -ENOMEM;
				}
				rs.r = nr;
			}
			why = parse_item(b, (size_t)(e - b), &rs.r[rs.n]);
			if (why) {
				snprintf(err, errlen, "custom service '%.*s': %s",
					 (int)(e - b > 100 ? 100 : e - b), b, why);
				custom_rules_free(&rs);
				return -EINVAL;
			}
			rs.n++;
		}
		p = comma ? comma + 1 : e + strlen(e);
	}
	*out = rs;
	return 0;
}

void custom_rules_free(struct custom_rules *rs)
{
	if (!rs)
		return;
	free(rs->r);
	memset(rs, 0, sizeof(*rs));
}

const struct custom_rule *custom_rules_match(const struct custom_rules *rs, uint8_t family,
					     const uint8_t *addr, uint16_t port)
{
	const struct custom_rule *best = NULL;

	if (!rs)
		return NULL;
	for (size_t i = 0; i < rs->n; i++) {
		const struct custom_rule *r = &rs->r[i];

		if (r->family != family || (r->port && r->port != port) ||
		    !prefix_match(addr, r->addr, r->prefix))
			continue;
		if (!best || (r->port && !best->port) ||
		    (!r->port == !best->port && r->prefix > best->prefix))
			best = r;
	}
	return best;
}
