/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ClickHouse over HTTP with libcurl: see ch_http.h. The handle is kept between requests so
 * that the TCP connection is reused; its options are reset to ours before each one.
 */
#include "store/ch_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 3000

struct ch_http {
	CURL *curl;
	char *base;
	char *url; /* scratch: base + "/?" + params */
	size_t url_cap;
};

struct xfer {
	struct ch_http_result *res;
	ch_data_fn on_data;
	void *ctx;
	size_t errlen;
	bool got_status;
	CURL *curl;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	/* Not thread-safe itself, hence once; never cleaned up (other modules may use curl). */
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct ch_http *ch_http_new(const char *base)
{
	struct ch_http *h;

	pthread_once(&curl_once, curl_init_once);
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->base = strdup(base);
	h->curl = curl_easy_init();
	if (!h->base || !h->curl) {
		ch_http_free(h);
		return NULL;
	}
	return h;
}

void ch_http_free(struct ch_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->base);
	free(h->url);
	free(h);
}

char *ch_http_escape(struct ch_http *h, const char *s, size_t len)
{
	return curl_easy_escape(h->curl, s, (int)len);
}

void ch_http_free_str(char *s)
{
	curl_free(s);
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;

	if (!x->got_status) {
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->res->status);
		x->got_status = true;
	}
	if (x->res->status != 200) {
		/* An error text: keep its start, one line. */
		size_t room = sizeof(x->res->error) - 1 - x->errlen;
		size_t take = n < room ? n : room;

		memcpy(x->res->error + x->errlen, p, take);
		x->errlen += take;
		x->res->error[x->errlen] = 0;
		return n;
	}
	if (x->on_data && x->on_data(x->ctx, p, n)) {
		x->res->aborted = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	return n;
}

int ch_http_post(struct ch_http *h, const char *params, const char *body, size_t len,
		 uint64_t timeout_ms, ch_data_fn on_data, void *ctx, struct ch_http_result *res)
{
	struct xfer x = { .res = res, .on_data = on_data, .ctx = ctx, .curl = h->curl };
	size_t need = strlen(h->base) + strlen(params) + 3;
	CURLcode cc;

	memset(res, 0, sizeof(*res));
	if (need > h->url_cap) {
		char *u = realloc(h->url, need);

		if (!u)
			return -ENOMEM;
		h->url = u;
		h->url_cap = need;
	}
	snprintf(h->url, need, "%s/?%s", h->base, params);
	curl_easy_reset(h->curl);
	curl_easy_setopt(h->curl, CURLOPT_URL, h->url);
	curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	/* Loopback and cluster hosts: no proxy from the environment. */
	curl_easy_setopt(h->curl, CURLOPT_NOPROXY, "*");
	/* "Expect: 100-continue" would add a round trip per insert. */
	{
		struct curl_slist *hdr = curl_slist_append(NULL, "Expect:");

		curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdr);
		cc = curl_easy_perform(h->curl);
		curl_slist_free_all(hdr);
	}
	res->curl_code = (int)cc;
	if (!x.got_status)
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &res->status);
	if (cc == CURLE_OK) {
		/* Trim the error text to its first line. */
		char *nl = strchr(res->error, '\n');

		if (nl)
			*nl = 0;
		return 0;
	}
	if (res->aborted)
		return -ECANCELED;
	snprintf(res->error, sizeof(res->error), "ClickHouse at %s: %s", h->base,
		 curl_easy_strerror(cc));
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		res->timed_out = true;
		return -ETIMEDOUT;
	}
	res->unreachable = true;
	res->conn_dropped = !res->status && (cc == CURLE_GOT_NOTHING || cc == CURLE_SEND_ERROR ||
					     cc == CURLE_RECV_ERROR);
	return cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
}
