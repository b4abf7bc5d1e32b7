/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small, strict JSON reader for the server's replies (RFC 8259, nothing more): objects,
 * arrays, strings with every escape, numbers, true, false, null. It builds a read-only tree
 * in one arena that cj_free() releases at once.
 *
 * Strict, because a reply that is not exactly JSON means the program on the other end is
 * not the flowscope server we think it is, and saying so beats printing a half-right table:
 * no comments, no trailing commas, no leading zeros, no raw control characters or invalid
 * UTF-8 in strings, no lone surrogates, nothing after the value but whitespace.
 * Bounded, because the reply comes from the network: nesting depth and the number of
 * values are capped (cj_limits), so memory is proportional to the input and a small
 * multiple of it at most.
 */
#ifndef OB_CLI_CLI_JSON_H
#define OB_CLI_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum cj_type {
	CJ_NULL,
	CJ_BOOL,
	CJ_NUMBER,
	CJ_STRING,
	CJ_ARRAY,
	CJ_OBJECT,
};

struct cj_node {
	enum cj_type type;
	bool b; /* CJ_BOOL */
	/*
	 * CJ_NUMBER: the number as written; CJ_STRING: the decoded UTF-8 text. NUL-terminated,
	 * but a string may hold NULs (from \u0000): len is its length.
	 */
	const char *str;
	size_t len;
	double num; /* CJ_NUMBER, as strtod() reads str */
	/* Member of an object: its decoded name, NUL-terminated; NULL otherwise. */
	const char *key;
	size_t key_len;
	size_t count;	       /* CJ_ARRAY, CJ_OBJECT: number of elements or members */
	struct cj_node *child; /* CJ_ARRAY, CJ_OBJECT: first element or member */
	struct cj_node *next;  /* next element or member of the parent */
	const char *raw;       /* the value's text in the input (valid until the input goes) */
	size_t raw_len;
};

struct cj_limits {
	unsigned max_depth; /* arrays and objects nested deeper are refused; 0: 64 */
	size_t max_values;  /* values in the whole document; 0: 4194304 */
};

struct cj_doc;

/*
 * Parse text[0..len) (no NUL needed) into *out. err receives a one-line reason naming the
 * byte offset ("at byte 17: expected ',' or ']'") when the text is refused. The tree points
 * into text through raw, so text must outlive the document when raw is used.
 * Returns 0, -EPROTO (not JSON, or beyond the limits; *out is NULL) or -ENOMEM.
 */
int cj_parse(const char *text, size_t len, const struct cj_limits *lim, struct cj_doc **out,
	     char *err, size_t errlen);

const struct cj_node *cj_root(const struct cj_doc *doc);

/* The first member of obj named key; NULL when obj is not an object or has no such member. */
const struct cj_node *cj_get(const struct cj_node *obj, const char *key);

/* Free the document and everything in it. NULL is fine. */
void cj_free(struct cj_doc *doc);

#endif
