/* SPDX-License-Identifier: Apache-2.0 */
/* See cli_http.h. */
#include "cli/cli_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/version.h"

#define CONNECT_TIMEOUT_MS 5000

struct sink {
	struct cli_http_reply *r;
	size_t cap;
	bool too_big, oom;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct sink *s = ctx;
	size_t n = size * nmemb;

	if (n > CLI_HTTP_MAX_BODY - s->r->len) {
		s->too_big = true;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	if (s->r->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 16384;
		char *p;

		while (cap < s->r->len + n + 1)
			cap *= 2;
		p = realloc(s->r->body, cap);
		if (!p) {
			s->oom = true;
			return 0;
		}
		s->r->body = p;
		s->cap = cap;
	}
	memcpy(s->r->body + s->r->len, data, n);
	s->r->len += n;
	s->r->body[s->r->len] = '\0';
	return n;
}

int cli_http_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void cli_http_cleanup(void)
{
	curl_global_cleanup();
}

int cli_http_request(const char *url, const char *form, long timeout_ms, struct cli_http_reply *r,
		     char *err, size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	struct sink s = { .r = r };
	CURLcode cc;
	CURL *h;
	int rc;

	*r = (struct cli_http_reply){ 0 };
	if (errlen)
		err[0] = '\0';
	h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "flowscope/" FLOWSCOPE_VERSION);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	/* No signals from curl: flowscope up takes its signals through a signalfd. */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/*
	 * The server is usually on loopback, which must never go through an http_proxy from
	 * the environment; a no_proxy the user set still decides.
	 */
	if (!getenv("no_proxy") && !getenv("NO_PROXY"))
		curl_easy_setopt(h, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	if (form) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(form));
	}
	cc = curl_easy_perform(h);
	switch (cc) {
	case CURLE_OK:
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
		rc = 0;
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: rc = -ECONNREFUSED; break;
	case CURLE_OPERATION_TIMEDOUT: rc = -ETIMEDOUT; break;
	case CURLE_OUT_OF_MEMORY: rc = -ENOMEM; break;
	case CURLE_WRITE_ERROR: rc = s.too_big ? -EFBIG : s.oom ? -ENOMEM : -EIO; break;
	default: rc = -EIO; break;
	}
	if (rc && errlen)
		snprintf(err, errlen, "%s", *curl_err ? curl_err : curl_easy_strerror(cc));
	if (rc) {
		cli_http_reply_free(r);
		*r = (struct cli_http_reply){ 0 };
	} else if (!r->body) {
		/* An empty reply still gets its NUL, so callers never see a NULL body. */
		r->body = calloc(1, 1);
		if (!r->body)
			rc = -ENOMEM;
	}
	curl_easy_cleanup(h);
	return rc;
}

void cli_http_reply_free(struct cli_http_reply *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

int cli_http_form_add(char **form, const char *name, const char *value)
{
	size_t old = *form ? strlen(*form) : 0, n;
	char *esc, *p;

	esc = curl_easy_escape(NULL, value, (int)strlen(value));
	if (!esc)
		return -ENOMEM;
	n = old + (old ? 1 : 0) + strlen(name) + 1 + strlen(esc) + 1;
	p = realloc(*form, n);
	if (!p) {
		curl_free(esc);
		return -ENOMEM;
	}
	snprintf(p + old, n - old, "%s%s=%s", old ? "&" : "", name, esc);
	curl_free(esc);
	*form = p;
	return 0;
}

void cli_http_report(int rc, const char *base_url, const char *err)
{
	switch (rc) {
	case -ECONNREFUSED:
		fprintf(stderr,
			"flowscope: cannot reach the server at %s (is it running? start one "
			"with 'flowscope up')\n",
			base_url);
		break;
	case -ETIMEDOUT:
		fprintf(stderr, "flowscope: the server at %s did not answer in time (%s)\n",
			base_url, err);
		break;
	case -EFBIG:
		fprintf(stderr,
			"flowscope: the reply from %s is larger than %u MiB; ask for fewer rows\n",
			base_url, CLI_HTTP_MAX_BODY >> 20);
		break;
	case -ENOMEM: fprintf(stderr, "flowscope: out of memory\n"); break;
	default:
		fprintf(stderr, "flowscope: request to the server at %s failed: %s\n", base_url,
			err && *err ? err : strerror(-rc));
		break;
	}
}
