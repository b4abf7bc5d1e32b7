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
void jsonw_str(struct jsonw *w, const char *key, const char *s, size_t len);
void jsonw_cstr(struct jsonw *w, const char *key, const char *s);
void jsonw_u64(struct jsonw *w, const char *key, uint64_t v);
void jsonw_i64(struct jsonw *w, const char *key, int64_t v);
void jsonw_null(struct jsonw *w, const char *key);
/* Free the buffer; NULL-safe. */
void jsonw_free(struct jsonw *w);

#endif
