/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See cli_prom.h. The text is copied twice into one allocation: series strings are cut
 * out of the first copy and label values out of the second, in place, so that each can be
 * NUL-terminated without cutting the other.
 */
#include "cli/cli_prom.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

/*
 * One line at s[0..len) of copy a (series) and b (labels, same offsets). Returns true and
 * fills *out for a sample line.
 */
static bool parse_line(char *a, char *b, size_t len, struct prom_sample *out)
{
	size_t i = 0, name_len, series_end;
	const char *label = "";
	char *end;

	if (!len || !name_char(a[0], true))
		return false; /* blank, comment or junk */
	while (i < len && name_char(a[i], false))
		i++;
	name_len = i;
	if (i < len && a[i] == '{') {
		bool first = true;

		i++;
		while (i < len && a[i] != '}') {
			size_t vstart;

			while (i < len && a[i] != '=' && a[i] != '}')
				i++;
			if (i + 1 >= len || a[i] != '=' || a[i + 1] != '"')
				return false;
			i += 2;
			vstart = i;
			while (i < len && a[i] != '"')
				i += a[i] == '\\' ? 2 : 1;
			if (i >= len)
				return false;
			if (first) {
				b[i] = '\0';
				label = b + vstart;
				first = false;
			}
			i++;
			if (i < len && a[i] == ',')
				i++;
		}
		if (i >= len)
			return false;
		i++;
	}
	series_end = i;
	if (i >= len || (a[i] != ' ' && a[i] != '\t'))
		return false;
	while (i < len && (a[i] == ' ' || a[i] == '\t'))
		i++;
	if (i >= len)
		return false;
	/* The value ends at a blank (a timestamp may follow) or the end of the line. */
	a[len] = '\0';
	out->value = strtod(a + i, &end);
	if (end == a + i || (*end && *end != ' ' && *end != '\t'))
		return false;
	a[series_end] = '\0';
	out->series = a;
	out->name_len = name_len;
	out->label = label;
	return true;
}

int prom_parse(const char *text, size_t len, struct prom_samples *out)
{
	size_t cap = 0, pos = 0, n;
	char *a, *b;

	*out = (struct prom_samples){ 0 };
	out->text = malloc(2 * len + 2);
	if (!out->text)
		return -ENOMEM;
	a = out->text;
	b = out->text + len + 1;
	memcpy(a, text, len);
	memcpy(b, text, len);
	a[len] = b[len] = '\0';
	while (pos < len) {
		const char *nl = memchr(a + pos, '\n', len - pos);
		struct prom_sample s;

		n = nl ? (size_t)(nl - (a + pos)) : len - pos;
		if (parse_line(a + pos, b + pos, n, &s)) {
			if (out->n == cap) {
				struct prom_sample *v;

				cap = cap ? 2 * cap : 64;
				v = realloc(out->v, cap * sizeof(*v));
				if (!v) {
					prom_free(out);
					return -ENOMEM;
				}
				out->v = v;
			}
			out->v[out->n++] = s;
		}
		pos += n + 1;
	}
	return 0;
}

const struct prom_sample *prom_find(const struct prom_samples *s, const char *series)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].series, series))
			return &s->v[i];
	return NULL;
}

bool prom_is(const struct prom_sample *sample, const char *name)
{
	return strlen(name) == sample->name_len && !strncmp(sample->series, name, sample->name_len);
}

void prom_free(struct prom_samples *s)
{
	if (!s)
		return;
	free(s->v);
	free(s->text);
	*s = (struct prom_samples){ 0 };
}
