/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP to flowscope-server, on libcurl: one blocking request at a time, the whole reply
 * body in memory (capped at CLI_HTTP_MAX_BODY), and errors sorted into the few cases a
 * user acts on differently: nothing answers at that address, the request timed out, or
 * something else went wrong.
 */
#ifndef OB_CLI_CLI_HTTP_H
#define OB_CLI_CLI_HTTP_H

#include <stddef.h>

/* Replies larger than this are refused rather than buffered: no table needs more. */
#define CLI_HTTP_MAX_BODY (256u << 20)
/* Room for the err text of cli_http_request (curl's CURL_ERROR_SIZE). */
#define CLI_HTTP_ERR_ROOM 256

struct cli_http_reply {
	long status; /* HTTP status code */
	char *body;  /* NUL-terminated (the NUL is not counted in len) */
	size_t len;
};

/* curl_global_init(); 0 or -EIO. Call once before any request. */
int cli_http_init(void);
void cli_http_cleanup(void);

/*
 * GET url, or POST form (application/x-www-form-urlencoded) to it when form is not NULL.
 * timeout_ms bounds the whole request (0: no bound; connecting is always bounded).
 * *r is filled whatever the HTTP status. err gets curl's description of a failure.
 * Returns 0; -ECONNREFUSED (nothing answers: refused, unresolvable or unreachable host),
 * -ETIMEDOUT, -EFBIG (reply larger than CLI_HTTP_MAX_BODY), -ENOMEM, or -EIO.
 */
int cli_http_request(const char *url, const char *form, long timeout_ms, struct cli_http_reply *r,
		     char *err, size_t errlen);

/* Free the body; NULL is fine. */
void cli_http_reply_free(struct cli_http_reply *r);

/* "name=value" with value percent-encoded, appended to *form with '&' when not first. */
int cli_http_form_add(char **form, const char *name, const char *value);

/*
 * Print the standard message for a failed request to the server at base_url (rc from
 * cli_http_request, err its text): "cannot reach the server at URL (is it running? ...)"
 * for -ECONNREFUSED, and a plain description otherwise.
 */
void cli_http_report(int rc, const char *base_url, const char *err);

#endif
