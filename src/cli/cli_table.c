/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See cli_table.h. Two passes over the cells: the first measures each column, the second
 * renders each cell into one reusable buffer and prints it padded, so memory is one
 * width per column and the longest rendered cell, whatever the row count.
 */
#include "cli/cli_table.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bytes a single input byte can become: "\xHH". */
#define ESC_MAX 4

/* Length of the UTF-8 sequence starting with byte c; the input is valid UTF-8. */
static size_t seq_len(unsigned char c)
{
	if (c < 0xc0)
		return 1;
	if (c < 0xe0)
		return 2;
	if (c < 0xf0)
		return 3;
	return 4;
}

/*
 * The display form of one code point at s: its bytes, or an escape for a control
 * character. Writes to piece (at least ESC_MAX bytes); returns its length, which is also
 * its width in columns except for multi-byte characters (width 1).
 */
static size_t piece(const char *s, size_t avail, char *out, size_t *width)
{
	unsigned char c = (unsigned char)*s;
	size_t n;

	if (c < 0x20 || c == 0x7f) {
		switch (c) {
		case '\n': memcpy(out, "\\n", 2); break;
		case '\r': memcpy(out, "\\r", 2); break;
		case '\t': memcpy(out, "\\t", 2); break;
		default:
			snprintf(out, ESC_MAX + 1, "\\x%02x", c);
			*width = 4;
			return 4;
		}
		*width = 2;
		return 2;
	}
	n = seq_len(c);
	if (n > avail)
		n = avail; /* cannot happen with valid UTF-8; never read past the cell */
	memcpy(out, s, n);
	*width = 1;
	return n;
}

/*
 * Render cell text s[0..len) for display into dst (NULL: only measure), cut to max_width
 * columns (0: no cut). Returns the bytes written; *width gets the columns.
 * dst needs ESC_MAX * len + sizeof(CLI_TABLE_ELLIPSIS) bytes.
 */
static size_t render(const char *s, size_t len, size_t max_width, char *dst, size_t *width)
{
	char tmp[ESC_MAX + 1];
	size_t i, w = 0, total = 0, out = 0, pw, n, room;
	bool cut;

	/* Measure first: whether the cell is cut decides where it stops. */
	for (i = 0; i < len; i += seq_len((unsigned char)s[i])) {
		piece(s + i, len - i, tmp, &pw);
		total += pw;
	}
	cut = max_width && total > max_width;
	room = cut ? max_width - 1 : total;

	for (i = 0; i < len; i += n) {
		size_t plen = piece(s + i, len - i, tmp, &pw);

		n = seq_len((unsigned char)s[i]);
		if (w + pw > room)
			break;
		if (dst)
			memcpy(dst + out, tmp, plen);
		out += plen;
		w += pw;
	}
	if (cut) {
		if (dst)
			memcpy(dst + out, CLI_TABLE_ELLIPSIS, sizeof(CLI_TABLE_ELLIPSIS) - 1);
		out += sizeof(CLI_TABLE_ELLIPSIS) - 1;
		w++;
	}
	*width = w;
	return out;
}

/*
 * Output with deferred padding: spaces are held back until text follows them on the
 * line, so padding never ends a line, however many empty cells close the row.
 */
struct line_out {
	FILE *f;
	size_t pending;
};

static void emit(struct line_out *o, const char *s, size_t n)
{
	if (!n)
		return;
	for (; o->pending; o->pending--)
		fputc(' ', o->f);
	fwrite(s, 1, n, o->f);
}

static void end_line(struct line_out *o)
{
	o->pending = 0;
	fputc('\n', o->f);
}

/* One row: cells[0..ncols) aligned into widths. buf holds the longest rendered cell. */
static void print_row(const struct cli_table *t, const struct cli_cell *cells, const size_t *widths,
		      size_t max_width, char *buf, struct line_out *o)
{
	for (size_t c = 0; c < t->ncols; c++) {
		const struct cli_cell *cell = &cells[c];
		size_t w = 0, n = 0;

		if (c)
			o->pending += 2;
		if (cell->s)
			n = render(cell->s, cell->len, max_width, buf, &w);
		if (cell->right)
			o->pending += widths[c] - w;
		emit(o, buf, n);
		if (!cell->right)
			o->pending += widths[c] - w;
	}
	end_line(o);
}

int cli_table_print(const struct cli_table *t, size_t max_width, FILE *out)
{
	struct line_out o = { .f = out };
	size_t *widths = NULL, longest = 0, r, c, w;
	char *buf = NULL;
	int rc = -ENOMEM;

	widths = calloc(t->ncols ? t->ncols : 1, sizeof(*widths));
	if (!widths)
		goto out;
	for (r = 0; r <= t->nrows; r++) {
		const struct cli_cell *row = r ? &t->cells[(r - 1) * t->ncols] : t->head;

		for (c = 0; c < t->ncols; c++) {
			if (!row[c].s)
				continue;
			render(row[c].s, row[c].len, max_width, NULL, &w);
			if (w > widths[c])
				widths[c] = w;
			if (row[c].len > longest)
				longest = row[c].len;
		}
	}
	buf = malloc(ESC_MAX * longest + sizeof(CLI_TABLE_ELLIPSIS));
	if (!buf)
		goto out;
	print_row(t, t->head, widths, max_width, buf, &o);
	for (c = 0; c < t->ncols; c++) {
		if (c)
			o.pending += 2;
		for (w = 0; w < widths[c]; w++)
			emit(&o, "-", 1);
	}
	end_line(&o);
	for (r = 0; r < t->nrows; r++)
		print_row(t, &t->cells[r * t->ncols], widths, max_width, buf, &o);
	rc = ferror(out) ? -EIO : 0;
out:
	free(buf);
	free(widths);
	return rc;
}
