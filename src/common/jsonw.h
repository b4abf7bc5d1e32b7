/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small JSON object writer into a growable buffer, for one-object-per-line output.
 * Strings are escaped and made valid UTF-8 (invalid bytes become U+FFFD), because
 * payload-derived text (paths, headers) is arbitrary bytes and consumers such as jq and
 * Python reject invalid UTF-8. Flat objects only: that is all the record formats need.
 */
#ifndef OB_COMMON_JSONW_H
#define OB_COMMON_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jsonw {
	char *buf;
	size_t len;
	size_t cap;
	bool first;
	bool oom; /* an allocation failed: the object is incomplete and must be dropped */
};

/* Reset to an empty object "{". The buffer is kept between objects. */
void jsonw_begin(struct jsonw *w);
/* Close the object with "}\n". Returns 0 or -ENOMEM if any append failed. */
int jsonw_end(struct jsonw *w);
/*
 * Members. Keys must be string literals: the macros take their length at compile time
 * (concatenation with the quotes refuses anything else), which saves a strlen per member.
 */
/* The key arrives already quoted and followed by the colon: one copy per member. */
#define JSONW_KEY(k)		("\"" k "\":"), (sizeof("\"" k "\":") - 1)
#define jsonw_str(w, k, s, len) jsonw_str_k((w), JSONW_KEY(k), (s), (len))
#define jsonw_cstr(w, k, s)	jsonw_cstr_k((w), JSONW_KEY(k), (s))
#define jsonw_u64(w, k, v)	jsonw_u64_k((w), JSONW_KEY(k), (v))
#define jsonw_i64(w, k, v)	jsonw_i64_k((w), JSONW_KEY(k), (v))
#define jsonw_null(w, k)	jsonw_null_k((w), JSONW_KEY(k))

void jsonw_str_k(struct jsonw *w, const char *key, size_t klen, const char *s, size_t len);
void jsonw_cstr_k(struct jsonw *w, const char *key, size_t klen, const char *s);
void jsonw_u64_k(struct jsonw *w, const char *key, size_t klen, uint64_t v);
void jsonw_i64_k(struct jsonw *w, const char *key, size_t klen, int64_t v);
void jsonw_null_k(struct jsonw *w, const char *key, size_t klen);
/* Free the buffer; NULL-safe. */
void jsonw_free(struct jsonw *w);

#endif
