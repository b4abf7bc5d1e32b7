/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ClickHouse HTTP interface through libcurl: one POST per statement, the statement in
 * the `query` URL parameter or the body, settings as URL parameters, the answer streamed
 * to a callback. One struct ch_http is one reusable curl handle (keep-alive): not
 * thread-safe, callers serialise its use.
 */
#ifndef OB_STORE_CH_HTTP_H
#define OB_STORE_CH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ch_http;

/* Return 0 to go on, non-zero to abort the transfer (ch_http_post then says aborted). */
typedef int (*ch_data_fn)(void *ctx, const char *p, size_t n);

struct ch_http_result {
	long status;	   /* HTTP status, 0 when no answer arrived */
	int curl_code;	   /* CURLE_*, 0 on a completed exchange */
	bool aborted;	   /* the data callback stopped it */
	bool timed_out;	   /* the client-side timeout passed */
	bool unreachable;  /* no connection, or it broke before an answer */
	bool conn_dropped; /* connected, then closed by the peer before any answer */
	char error[512];   /* ClickHouse's error text (non-200 body), or curl's */
};

/* base: "http://HOST:PORT" (no trailing slash). NULL on failure. */
struct ch_http *ch_http_new(const char *base);
void ch_http_free(struct ch_http *h);

/*
 * POST body (may be NULL/0: the statement is then in params) to base/?params. params is
 * an already-built query string ("database=x&query=..."), see ch_http_escape. On a 200
 * the body is passed to on_data as it arrives; otherwise it is kept in res->error.
 * timeout_ms 0: none. Returns 0 when an HTTP answer came (res->status says which),
 * -ETIMEDOUT, -ECONNREFUSED/-EIO when none did, -ECANCELED when on_data aborted.
 */
int ch_http_post(struct ch_http *h, const char *params, const char *body, size_t len,
		 uint64_t timeout_ms, ch_data_fn on_data, void *ctx, struct ch_http_result *res);

/* URL-encode s (curl_easy_escape); free with ch_http_free_str. NULL on failure. */
char *ch_http_escape(struct ch_http *h, const char *s, size_t len);
void ch_http_free_str(char *s);

#endif
