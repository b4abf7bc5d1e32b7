/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes list + watch thread: see k8s_watch.h. */
#include "tag/k8s_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/log.h"

/* The order lists run in: owners and services before the pods that refer to them. */
static const enum k8s_kind order[K8S__KINDS] = { K8S_NAMESPACE,	 K8S_NODE,    K8S_REPLICASET,
						 K8S_DEPLOYMENT, K8S_SERVICE, K8S_POD };

enum res_state { RS_LIST, RS_WATCH, RS_WATCHING, RS_WAIT };

struct buf {
	char *p;
	size_t len, cap;
};

struct res {
	struct k8s_watch *w;
	enum k8s_kind kind;
	enum res_state state;
	int64_t due_ms; /* RS_WAIT: when to list again */
	unsigned backoff_ms;
	char rv[K8S_RV_MAX + 1];
	CURL *h; /* the watch under way */
	struct curl_slist *hdrs;
	struct buf line; /* the watch stream's incomplete line */
	bool gone;	 /* the stream said 410: list again at once */
	bool failed;	 /* the stream broke (an ERROR event, an oversized line) */
};

struct k8s_watch {
	char *base; /* api_url without a trailing '/' */
	char *token_file, *ca_file;
	struct k8s_cache *cache;
	CURLM *multi;
	pthread_t thread;
	bool stop; /* atomic */
	struct res res[K8S__KINDS];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stopping(struct k8s_watch *w)
{
	return __atomic_load_n(&w->stop, __ATOMIC_RELAXED);
}

static int buf_add(struct buf *b, const char *p, size_t n, size_t max)
{
	if (b->len + n + 1 > max)
		return -E2BIG;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf){ 0 };
}

/* "Authorization: Bearer ..." from the token file, read for every request: projected
 * service account tokens are rotated on disk. */
static struct curl_slist *headers(struct k8s_watch *w)
{
	struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json");
	char tok[16384], hdr[16384 + 32];
	size_t n;
	FILE *f;

	if (!w->token_file || !l)
		return l;
	f = fopen(w->token_file, "re");
	if (!f) {
		ob_warn("[k8s] cannot read the token file %s: %s", w->token_file, strerror(errno));
		return l;
	}
	n = fread(tok, 1, sizeof(tok) - 1, f);
	fclose(f);
	while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
		n--;
	tok[n] = 0;
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
	return curl_slist_append(l, hdr);
}

static int stop_cb(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)a, (void)b, (void)c, (void)d;
	return stopping(ud) ? 1 : 0;
}

static CURL *easy(struct k8s_watch *w, const char *url, struct curl_slist *hdrs)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, stop_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, w);
	if (w->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, w->ca_file);
	return h;
}

static void wait_backoff(struct res *r, const char *what)
{
	r->state = RS_WAIT;
	r->due_ms = now_ms() + r->backoff_ms;
	ob_warn("[k8s] %s %s; listing again in %u ms", k8s_kind_name(r->kind), what, r->backoff_ms);
	r->backoff_ms =
		r->backoff_ms * 2 > K8S_BACKOFF_MAX_MS ? K8S_BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* ---- list ----------------------------------------------------------------------------------- */

static size_t list_write(char *p, size_t size, size_t nmemb, void *ud)
{
	return buf_add(ud, p, size * nmemb, K8S_MAX_BODY) ? 0 : size * nmemb;
}

static int list_put(void *arg, struct k8s_obj *o)
{
	k8s_cache_list_put(arg, o);
	return 0;
}

/* One whole list, page by page. 0, or -1 (counted, logged, r in RS_WAIT). */
static int do_list(struct k8s_watch *w, struct res *r)
{
	char cont[K8S_CONTINUE_MAX + 1] = "", rv[K8S_RV_MAX + 1], err[300], what[400];
	struct buf body = { 0 };
	int rc = -1;

	k8s_cache_list_begin(w->cache, r->kind);
	for (;;) {
		struct curl_slist *hdrs = headers(w);
		char *url = NULL, *esc = NULL;
		long code = 0;
		size_t bad = 0;
		CURLcode cr;
		CURL *h;
		int pr;

		body.len = 0;
		if (cont[0] && !(esc = curl_easy_escape(NULL, cont, 0)))
			goto fail_oom;
		if (asprintf(&url, "%s%s?limit=%d%s%s", w->base, k8s_kind_path(r->kind),
			     K8S_PAGE_LIMIT, esc ? "&continue=" : "", esc ? esc : "") < 0)
			url = NULL;
		curl_free(esc);
		h = url && hdrs ? easy(w, url, hdrs) : NULL;
		if (!h) {
			free(url);
			curl_slist_free_all(hdrs);
			goto fail_oom;
		}
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, list_write);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
		/* A list page must come within a minute; a watch has no such bound. */
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
		cr = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_cleanup(h);
		curl_slist_free_all(hdrs);
		free(url);
		if (stopping(w))
			goto out;
		if (cr != CURLE_OK) {
			snprintf(what, sizeof(what), "list failed: %s", curl_easy_strerror(cr));
			goto fail;
		}
		if (code == 410 && cont[0]) {
			/* The continue token expired between pages: start the list over. */
			cont[0] = 0;
			k8s_cache_list_begin(w->cache, r->kind);
			continue;
		}
		if (code != 200) {
			snprintf(what, sizeof(what), "list answered HTTP %ld: %.200s", code,
				 body.p ? body.p : "");
			goto fail;
		}
		pr = k8s_list_parse(body.p ? body.p : "", body.len, r->kind, list_put, w->cache, rv,
				    cont, &bad, err, sizeof(err));
		if (bad) {
			K8S_COUNT(w->cache, decode_errors, bad);
			ob_warn("[k8s] %s list: %zu item%s skipped, the first: %s",
				k8s_kind_name(r->kind), bad, bad == 1 ? "" : "s", err);
		}
		if (pr) {
			snprintf(what, sizeof(what), "list response: %s", err);
			goto fail;
		}
		if (!cont[0])
			break;
	}
	k8s_cache_list_end(w->cache, r->kind, true);
	snprintf(r->rv, sizeof(r->rv), "%s", rv);
	r->state = RS_WATCH;
	r->backoff_ms = K8S_BACKOFF_MIN_MS;
	rc = 0;
	goto out;
fail_oom:
	snprintf(what, sizeof(what), "list: out of memory");
fail:
	K8S_COUNT(w->cache, list_errors, 1);
	k8s_cache_list_end(w->cache, r->kind, false);
	wait_backoff(r, what);
out:
	buf_free(&body);
	return rc;
}

/* ---- watch ---------------------------------------------------------------------------------- */

/* One event line of r's stream; false stops the stream. */
static bool on_event(struct res *r, const char *line, size_t len)
{
	struct k8s_watch *w = r->w;
	char rv[K8S_RV_MAX + 1], err[200];
	enum k8s_event ev;
	struct k8s_obj o;
	int code, rc;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (!len)
		return true;
	rc = k8s_event_parse(line, len, r->kind, &ev, &o, rv, &code, err, sizeof(err));
	if (rc) {
		/* An object's change is lost: the cache would keep a stale copy of it until
		 * some later list, so list again now (after the backoff, in case the API
		 * server keeps sending what does not decode). */
		K8S_COUNT(w->cache, decode_errors, 1);
		ob_warn("[k8s] %s watch: an event that does not decode: %s", k8s_kind_name(r->kind),
			err);
		r->failed = true;
		return false;
	}
	switch (ev) {
	case K8S_EV_ERROR:
		if (code == 410)
			r->gone = true;
		else
			r->failed = true;
		return false;
	case K8S_EV_BOOKMARK: K8S_COUNT(w->cache, bookmarks, 1); break;
	default: k8s_cache_apply(w->cache, ev, &o); break;
	}
	if (rv[0])
		snprintf(r->rv, sizeof(r->rv), "%s", rv);
	return true;
}

static size_t watch_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct res *r = ud;
	size_t n = size * nmemb, start = 0;
	long code = 0;

	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) /* an error body: its status decides (watch_done) */
		return n;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (r->line.len) {
			if (buf_add(&r->line, p + start, i - start, K8S_MAX_EVENT))
				goto too_big;
			if (!on_event(r, r->line.p, r->line.len))
				return 0;
			r->line.len = 0;
		} else if (!on_event(r, p + start, i - start)) {
			return 0;
		}
		start = i + 1;
	}
	if (start < n && buf_add(&r->line, p + start, n - start, K8S_MAX_EVENT))
		goto too_big;
	return n;
too_big:
	r->failed = true;
	ob_warn("[k8s] %s watch: an event larger than %u bytes", k8s_kind_name(r->kind),
		K8S_MAX_EVENT);
	return 0;
}

static void watch_begin(struct k8s_watch *w, struct res *r)
{
	char *url = NULL;

	r->gone = r->failed = false;
	r->line.len = 0;
	r->hdrs = headers(w);
	if (asprintf(&url,
		     "%s%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=%s",
		     w->base, k8s_kind_path(r->kind), K8S_WATCH_TIMEOUT, r->rv) < 0)
		url = NULL;
	r->h = url && r->hdrs ? easy(w, url, r->hdrs) : NULL;
	free(url);
	if (!r->h) {
		curl_slist_free_all(r->hdrs);
		r->hdrs = NULL;
		K8S_COUNT(w->cache, watch_errors, 1);
		wait_backoff(r, "watch: out of memory");
		return;
	}
	curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->h, CURLOPT_PRIVATE, r);
	/* The server ends the stream after timeoutSeconds; a stream silent well beyond that
	 * is dead (a vanished peer without a FIN). */
	curl_easy_setopt(r->h, CURLOPT_TIMEOUT, (long)K8S_WATCH_TIMEOUT + 60);
	curl_multi_add_handle(w->multi, r->h);
	r->state = RS_WATCHING;
}

static void watch_done(struct k8s_watch *w, struct res *r, CURLcode cr)
{
	long code = 0;
	char what[200];

	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(w->multi, r->h);
	curl_easy_cleanup(r->h);
	curl_slist_free_all(r->hdrs);
	r->h = NULL;
	r->hdrs = NULL;
	if (r->gone || code == 410) {
		/* Our resourceVersion is older than the API server keeps: list again now. */
		K8S_COUNT(w->cache, relists_gone, 1);
		ob_info("[k8s] %s watch: resourceVersion %s expired (410 Gone), listing again",
			k8s_kind_name(r->kind), r->rv);
		r->state = RS_LIST;
		return;
	}
	if (cr == CURLE_OK && code == 200 && !r->failed && !r->line.len) {
		/* The server's timeoutSeconds: resume where the stream was. */
		r->state = RS_WATCH;
		r->backoff_ms = K8S_BACKOFF_MIN_MS;
		return;
	}
	K8S_COUNT(w->cache, watch_errors, 1);
	if (r->failed)
		snprintf(what, sizeof(what), "watch stream failed");
	else if (code && code != 200)
		snprintf(what, sizeof(what), "watch answered HTTP %ld", code);
	else
		snprintf(what, sizeof(what), "watch stream dropped: %s",
			 cr == CURLE_OK ? "truncated event" : curl_easy_strerror(cr));
	wait_backoff(r, what);
}

static void *run(void *arg)
{
	struct k8s_watch *w = arg;

	while (!stopping(w)) {
		int64_t now = now_ms(), next = now + 1000;
		CURLMsg *m;
		int running, left;

		for (size_t i = 0; i < K8S__KINDS && !stopping(w); i++) {
			struct res *r = &w->res[i];

			if (r->state == RS_WAIT && now_ms() >= r->due_ms)
				r->state = RS_LIST;
			if (r->state == RS_LIST)
				do_list(w, r);
			if (r->state == RS_WATCH)
				watch_begin(w, r);
			if (r->state == RS_WAIT && r->due_ms < next)
				next = r->due_ms;
		}
		curl_multi_perform(w->multi, &running);
		while ((m = curl_multi_info_read(w->multi, &left))) {
			struct res *r = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
			if (r)
				watch_done(w, r, m->data.result);
		}
		now = now_ms();
		curl_multi_poll(w->multi, NULL, 0, next > now ? (int)(next - now) : 0, NULL);
	}
	return NULL;
}

int k8s_watch_start(const struct k8s_watch_cfg *cfg, struct k8s_watch **out, char *err,
		    size_t errlen)
{
	struct k8s_watch *w;
	size_t n;

	*out = NULL;
	if (!cfg->api_url ||
	    (strncmp(cfg->api_url, "http://", 7) && strncmp(cfg->api_url, "https://", 8))) {
		snprintf(err, errlen, "'%s' is not an http:// or https:// URL",
			 cfg->api_url ? cfg->api_url : "");
		return -EINVAL;
	}
	if (cfg->token_file && *cfg->token_file && access(cfg->token_file, R_OK)) {
		snprintf(err, errlen, "token file %s: %s", cfg->token_file, strerror(errno));
		return -EINVAL;
	}
	if (cfg->ca_file && *cfg->ca_file && access(cfg->ca_file, R_OK)) {
		snprintf(err, errlen, "CA file %s: %s", cfg->ca_file, strerror(errno));
		return -EINVAL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->cache = cfg->cache;
	w->base = strdup(cfg->api_url);
	w->token_file = cfg->token_file && *cfg->token_file ? strdup(cfg->token_file) : NULL;
	w->ca_file = cfg->ca_file && *cfg->ca_file ? strdup(cfg->ca_file) : NULL;
	w->multi = curl_multi_init();
	if (!w->base || !w->multi || (cfg->token_file && *cfg->token_file && !w->token_file) ||
	    (cfg->ca_file && *cfg->ca_file && !w->ca_file))
		goto oom;
	n = strlen(w->base);
	while (n && w->base[n - 1] == '/')
		w->base[--n] = 0;
	for (size_t i = 0; i < K8S__KINDS; i++)
		w->res[i] = (struct res){
			.w = w, .kind = order[i], .state = RS_LIST, .backoff_ms = K8S_BACKOFF_MIN_MS
		};
	if (pthread_create(&w->thread, NULL, run, w))
		goto oom;
	*out = w;
	return 0;
oom:
	if (w->multi)
		curl_multi_cleanup(w->multi);
	free(w->base);
	free(w->token_file);
	free(w->ca_file);
	free(w);
	return -ENOMEM;
}

void k8s_watch_stop(struct k8s_watch *w)
{
	if (!w)
		return;
	__atomic_store_n(&w->stop, true, __ATOMIC_RELAXED);
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);
	for (size_t i = 0; i < K8S__KINDS; i++) {
		struct res *r = &w->res[i];

		if (r->h) {
			curl_multi_remove_handle(w->multi, r->h);
			curl_easy_cleanup(r->h);
		}
		curl_slist_free_all(r->hdrs);
		buf_free(&r->line);
	}
	curl_multi_cleanup(w->multi);
	free(w->base);
	free(w->token_file);
	free(w->ca_file);
	free(w);
}
