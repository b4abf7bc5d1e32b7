/* SPDX-License-Identifier: Apache-2.0 */
/* Records to flowscope-server: see exporter.h for the design. */
#include "agent/exporter.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "agent/proc_info.h"
#include "common/log.h"

#define BACKOFF_START_MS 100
/* The reported-process table: sets of ways, a pid's set by its hash. */
#define PROC_TABLE_SETS 512
#define PROC_TABLE_WAYS 8
/* A known pid's start time is read again (pid reuse) at most this often. */
#define PROC_RECHECK_NS (10 * 1000000000ull)
/* The host's addresses are read again at most this often. */
#define HOST_RECHECK_NS (10 * 1000000000ull)
#define REPORT_DEF_MS	(5 * 60 * 1000ull)

struct proc_seen {
	uint32_t pid; /* 0: free */
	uint64_t start_time_us;
	uint64_t reported_ns, checked_ns, used_ns;
};

/* Log again about a server that stays away at most this often. */
#define DOWN_LOG_EVERY_NS (60 * 1000000000ull)

struct spool_batch {
	struct spool_batch *next;
	uint64_t seq;
	size_t nrec;
	size_t len;
	uint8_t *body;
};

enum send_result { SEND_OK, SEND_DUPLICATE, SEND_REJECTED, SEND_RETRY };

struct exporter {
	struct exporter_cfg cfg;
	char ingest_url[1024];
	char agent_id[64];

	/* Capture thread only. */
	struct wire_builder wb;
	struct wire_batch_info *info; /* ~7 KiB: on the heap */
	uint64_t batch_open_ns;	      /* when the open batch got its first record */
	uint64_t last_close_ns;	      /* when a batch was last closed (0: never) */
	uint64_t next_seq;
	struct proc_seen procs[PROC_TABLE_SETS][PROC_TABLE_WAYS];
	struct proc_info *pinfo;	   /* scratch for one report: ~1 KiB */
	struct host_info *host, *host_new; /* last reported / just read */
	bool host_reported;
	uint64_t host_reported_ns, host_checked_ns;

	/* Shared with the sender: under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* spool changed, stop asked, a send finished */
	struct spool_batch *head, *tail;
	size_t inflight_len, inflight_nrec;
	bool draining;
	atomic_bool stop; /* read without the lock by the transfer callback */
	struct exporter_stats st;
	pthread_t thread;
	bool thread_started;

	/* Sender thread only. */
	CURL *curl;
	struct curl_slist *headers;
	char reply[512];
	size_t reply_len;
	char curl_err[CURL_ERROR_SIZE];
	bool down;
	uint64_t down_since_ns, down_logged_ns;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static void batch_free(struct spool_batch *b)
{
	if (b) {
		free(b->body);
		free(b);
	}
}

/* ---- spool (under lock) -------------------------------------------------------------- */

static void spool_push_back(struct exporter *e, struct spool_batch *b)
{
	b->next = NULL;
	if (e->tail)
		e->tail->next = b;
	else
		e->head = b;
	e->tail = b;
	e->st.spool_batches++;
	e->st.spool_bytes += b->len;
}

static void spool_push_front(struct exporter *e, struct spool_batch *b)
{
	b->next = e->head;
	e->head = b;
	if (!e->tail)
		e->tail = b;
	e->st.spool_batches++;
	e->st.spool_bytes += b->len;
}

static struct spool_batch *spool_pop(struct exporter *e)
{
	struct spool_batch *b = e->head;

	if (!b)
		return NULL;
	e->head = b->next;
	if (!e->head)
		e->tail = NULL;
	e->st.spool_batches--;
	e->st.spool_bytes -= b->len;
	return b;
}

/* ---- capture thread ------------------------------------------------------------------ */

/* Queue a closed batch, making room by dropping the oldest ones. */
static void spool_add(struct exporter *e, struct spool_batch *b)
{
	struct spool_batch *old;
	bool dropped_new = false;
	size_t ndropped = 0;

	pthread_mutex_lock(&e->lock);
	while (e->head && e->st.spool_bytes + e->inflight_len + b->len > e->cfg.spool_bytes) {
		old = spool_pop(e);
		e->st.spool_dropped++;
		e->st.spool_dropped_records += old->nrec;
		ndropped++;
		batch_free(old);
	}
	if (e->st.spool_bytes + e->inflight_len + b->len > e->cfg.spool_bytes) {
		e->st.spool_dropped++;
		e->st.spool_dropped_records += b->nrec;
		dropped_new = true;
	} else {
		spool_push_back(e, b);
		pthread_cond_broadcast(&e->cond);
	}
	pthread_mutex_unlock(&e->lock);
	if (ndropped || dropped_new)
		ob_warn("[exporter] spool full (%llu bytes): dropped %zu batch(es) of records "
			"(raise spool_size, or bring the server back)",
			(unsigned long long)e->cfg.spool_bytes, ndropped + dropped_new);
	if (dropped_new)
		batch_free(b);
}

static uint64_t report_ns(const struct exporter *e)
{
	return e->cfg.report_interval_ms * 1000000ull;
}

/* The host report goes with this batch: the first, a changed host, or its interval. */
static void host_report(struct exporter *e, uint64_t now_ns)
{
	bool changed = false;

	if (!e->host_checked_ns || now_ns - e->host_checked_ns >= HOST_RECHECK_NS) {
		e->host_checked_ns = now_ns;
		if (!host_info_read(e->host_new))
			changed = !e->host_reported || !host_info_equal(e->host, e->host_new);
		else if (!e->host_reported)
			return; /* nothing read yet: nothing to say */
		if (changed)
			memcpy(e->host, e->host_new, sizeof(*e->host));
	}
	if (!changed && e->host_reported && now_ns - e->host_reported_ns < report_ns(e))
		return;
	if (!wire_builder_set_host(&e->wb, e->host)) {
		e->host_reported = true;
		e->host_reported_ns = now_ns;
		pthread_mutex_lock(&e->lock);
		e->st.hosts_reported++;
		pthread_mutex_unlock(&e->lock);
	}
}

static void close_batch(struct exporter *e, uint64_t now_ns)
{
	struct spool_batch *b;
	size_t nrec;
	int err;

	host_report(e, now_ns);
	nrec = e->wb.n;

	e->last_close_ns = now_ns;
	e->batch_open_ns = 0;
	b = calloc(1, sizeof(*b));
	if (!b) {
		err = -ENOMEM;
		goto fail;
	}
	memset(e->info, 0, sizeof(*e->info));
	e->info->version = WIRE_VERSION;
	memcpy(e->info->agent_id, e->agent_id, sizeof(e->info->agent_id));
	e->info->seq = e->next_seq;
	if (e->cfg.collect_counters)
		e->cfg.collect_counters(e->cfg.ctx, e->info);
	err = wire_builder_finish(&e->wb, e->info, e->cfg.zstd_level, &b->body, &b->len);
	if (err)
		goto fail;
	b->seq = e->next_seq++;
	b->nrec = nrec;
	spool_add(e, b);
	return;
fail:
	free(b);
	wire_builder_reset(&e->wb);
	pthread_mutex_lock(&e->lock);
	e->st.encode_failures += nrec;
	pthread_mutex_unlock(&e->lock);
	ob_warn("[exporter] could not build a batch of %zu records: %s", nrec, strerror(-err));
}

/* After a record was packed (err 0) or not: the batch timing and size rules, which count
 * records of every kind alike. */
static void added(struct exporter *e, int err)
{
	uint64_t now = mono_ns();

	if (err) {
		pthread_mutex_lock(&e->lock);
		e->st.encode_failures++;
		pthread_mutex_unlock(&e->lock);
		return;
	}
	if (e->wb.n == 1)
		e->batch_open_ns = now;
	if (e->wb.n >= e->cfg.batch_records)
		close_batch(e, now);
}

/* The way of pid in its set, or the one to reuse (free, else least recently used). */
static struct proc_seen *proc_slot(struct exporter *e, uint32_t pid, bool *found)
{
	struct proc_seen *set = e->procs[(pid * 2654435761u) % PROC_TABLE_SETS], *old = &set[0];

	for (int w = 0; w < PROC_TABLE_WAYS; w++) {
		if (set[w].pid == pid) {
			*found = true;
			return &set[w];
		}
		if (!set[w].pid || (old->pid && set[w].used_ns < old->used_ns))
			old = &set[w];
	}
	*found = false;
	return old;
}

/*
 * Before the record that names pid is packed, so that its report is in the same batch: a
 * report when the pid is new to the table, was reused, or was last reported an interval
 * ago. Reading a known pid's start time again is rate-limited (PROC_RECHECK_NS): reuse
 * within that time goes unseen until the next check.
 */
static void proc_report(struct exporter *e, uint32_t pid, const char *comm, uint64_t now_ns)
{
	const char *root = e->cfg.proc_root ? e->cfg.proc_root : "/proc";
	bool found, gone;
	struct proc_seen *ps = proc_slot(e, pid, &found);
	uint64_t start = 0;
	int err;

	if (found) {
		ps->used_ns = now_ns;
		if (now_ns - ps->checked_ns < PROC_RECHECK_NS &&
		    now_ns - ps->reported_ns < report_ns(e))
			return;
		ps->checked_ns = now_ns;
		if (proc_start_time_us(root, pid, &start))
			return; /* gone since it was reported: nothing new to say */
		if (start == ps->start_time_us && now_ns - ps->reported_ns < report_ns(e))
			return;
	}
	gone = proc_info_read(root, pid, e->pinfo) != 0;
	if (gone) {
		/* Exited before it could be read: what the record says. */
		memset(e->pinfo, 0, sizeof(*e->pinfo));
		e->pinfo->pid = pid;
		snprintf(e->pinfo->comm, sizeof(e->pinfo->comm), "%.15s", comm);
	}
	err = wire_builder_add_proc(&e->wb, e->pinfo);
	pthread_mutex_lock(&e->lock);
	if (!err) {
		e->st.procs_reported++;
		e->st.procs_gone += gone;
	} else {
		e->st.procs_deferred++;
	}
	pthread_mutex_unlock(&e->lock);
	if (err)
		return; /* not remembered: the next record naming it tries again */
	*ps = (struct proc_seen){ .pid = pid,
				  .start_time_us = e->pinfo->start_time_us,
				  .reported_ns = now_ns,
				  .checked_ns = now_ns,
				  .used_ns = now_ns };
}

void exporter_add(struct exporter *e, const struct l7_record *r)
{
	if (r->pid)
		proc_report(e, r->pid, r->comm, mono_ns());
	added(e, wire_builder_add(&e->wb, r));
}

void exporter_add_l4(struct exporter *e, const struct l4_record *r)
{
	added(e, wire_builder_add_l4(&e->wb, r));
}

void exporter_add_net(struct exporter *e, const struct net_row *r)
{
	added(e, wire_builder_add_net(&e->wb, r));
}

void exporter_tick(struct exporter *e, uint64_t now_ns)
{
	bool spool_empty;

	if (e->wb.n) {
		if (now_ns - e->batch_open_ns >= e->cfg.batch_interval_ms * 1000000ull)
			close_batch(e, now_ns);
		return;
	}
	if (e->last_close_ns && now_ns - e->last_close_ns < e->cfg.heartbeat_ms * 1000000ull)
		return;
	/* A heartbeat only when the spool is empty: while batches wait, the first one the
	 * server takes tells it the agent is alive, and a heartbeat would only add to them. */
	pthread_mutex_lock(&e->lock);
	spool_empty = !e->head && !e->inflight_len;
	pthread_mutex_unlock(&e->lock);
	if (spool_empty)
		close_batch(e, now_ns);
	else
		e->last_close_ns = now_ns;
}

/* ---- sender thread ------------------------------------------------------------------- */

static size_t on_reply(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct exporter *e = ctx;
	size_t n = size * nmemb, room = sizeof(e->reply) - 1 - e->reply_len;

	/* Only the start matters (the ack or the error message); the rest is skipped. */
	if (room) {
		memcpy(e->reply + e->reply_len, data, n < room ? n : room);
		e->reply_len += n < room ? n : room;
		e->reply[e->reply_len] = '\0';
	}
	return n;
}

/* Lets exporter_destroy abort a transfer that would outlast the drain time. */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct exporter *e = ctx;

	(void)dt, (void)dn, (void)ut, (void)un;
	return atomic_load(&e->stop) ? 1 : 0;
}

static int sender_setup(struct exporter *e)
{
	static const char *const hdrs[] = {
		"Content-Type: application/x-flowscope-batch",
		"Content-Encoding: zstd",
		"Flowscope-Wire: 1",
		/* Without this, curl waits for "100 Continue" before larger bodies. */
		"Expect:",
	};
	struct curl_slist *l;
	long timeout = (long)e->cfg.send_timeout_ms;

	e->curl = curl_easy_init();
	if (!e->curl)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		l = curl_slist_append(e->headers, hdrs[i]);
		if (!l)
			return -ENOMEM;
		e->headers = l;
	}
	curl_easy_setopt(e->curl, CURLOPT_URL, e->ingest_url);
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers);
	curl_easy_setopt(e->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout < 5000 ? timeout : 5000L);
	curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, e);
	curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, e->curl_err);
	curl_easy_setopt(e->curl, CURLOPT_USERAGENT, "flowscope-agent");
	return 0;
}

/* The server's 200 must acknowledge this very batch: {"acked":SEQ,...}. */
static bool ack_matches(const char *reply, uint64_t seq)
{
	const char *p = strstr(reply, "\"acked\":");
	char *end;

	if (!p)
		return false;
	errno = 0;
	return strtoull(p + 8, &end, 10) == seq && !errno && end != p + 8;
}

static void note_down(struct exporter *e, const char *why)
{
	uint64_t now = mono_ns();

	if (!e->down) {
		e->down = true;
		e->down_since_ns = e->down_logged_ns = now;
		ob_warn("[exporter] cannot deliver to %s: %s; keeping batches in the spool (up to "
			"%llu bytes) and retrying",
			e->ingest_url, why, (unsigned long long)e->cfg.spool_bytes);
	} else if (now - e->down_logged_ns >= DOWN_LOG_EVERY_NS) {
		e->down_logged_ns = now;
		ob_warn("[exporter] still cannot deliver to %s after %.0fs: %s", e->ingest_url,
			(double)(now - e->down_since_ns) / 1e9, why);
	}
}

static enum send_result send_batch(struct exporter *e, const struct spool_batch *b)
{
	char why[600];
	long code = 0;
	CURLcode rc;

	e->reply_len = 0;
	e->reply[0] = '\0';
	e->curl_err[0] = '\0';
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, (const char *)b->body);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
	rc = curl_easy_perform(e->curl);
	if (rc != CURLE_OK) {
		if (!atomic_load(&e->stop))
			note_down(e, e->curl_err[0] ? e->curl_err : curl_easy_strerror(rc));
		return SEND_RETRY;
	}
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code == 200 && ack_matches(e->reply, b->seq)) {
		if (e->down) {
			ob_info("[exporter] delivering to %s again after %.1fs", e->ingest_url,
				(double)(mono_ns() - e->down_since_ns) / 1e9);
			e->down = false;
		}
		return strstr(e->reply, "\"duplicate\":true") ? SEND_DUPLICATE : SEND_OK;
	}
	snprintf(why, sizeof(why), "HTTP %ld %.500s", code, e->reply);
	why[strcspn(why, "\n")] = '\0';
	if (code == 200 || code == 408 || code == 429 || code >= 500 || code < 400) {
		/* A 200 without this batch's ack, or a transient refusal: send it again. */
		note_down(e, why);
		return SEND_RETRY;
	}
	/* 400, 413, 422, ...: the server will never take this batch. */
	ob_warn("[exporter] server refused batch %llu (%zu records), dropping it: %s",
		(unsigned long long)b->seq, b->nrec, why);
	return SEND_REJECTED;
}

static void *sender_main(void *arg)
{
	struct exporter *e = arg;
	uint64_t backoff_ms = BACKOFF_START_MS;
	struct spool_batch *b;
	enum send_result res;
	struct timespec until;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		while (!e->head && !atomic_load(&e->stop) && !e->draining)
			pthread_cond_wait(&e->cond, &e->lock);
		if (atomic_load(&e->stop) || !e->head)
			break; /* stopped, or draining with nothing left */
		b = spool_pop(e);
		e->inflight_len = b->len;
		e->inflight_nrec = b->nrec;
		pthread_mutex_unlock(&e->lock);

		res = send_batch(e, b);

		pthread_mutex_lock(&e->lock);
		e->inflight_len = e->inflight_nrec = 0;
		switch (res) {
		case SEND_OK:
		case SEND_DUPLICATE:
			e->st.batches_acked++;
			e->st.records_exported += b->nrec;
			if (res == SEND_DUPLICATE)
				e->st.batches_duplicate++;
			batch_free(b);
			backoff_ms = BACKOFF_START_MS;
			break;
		case SEND_REJECTED:
			e->st.batches_rejected++;
			e->st.records_rejected += b->nrec;
			batch_free(b);
			break;
		case SEND_RETRY:
			e->st.send_failures++;
			spool_push_front(e, b);
			if (atomic_load(&e->stop))
				break;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += (time_t)(backoff_ms / 1000);
			until.tv_nsec += (long)(backoff_ms % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			/* Woken early only to stop; new batches wait for the backoff too. */
			while (!atomic_load(&e->stop) &&
			       pthread_cond_timedwait(&e->cond, &e->lock, &until) != ETIMEDOUT)
				;
			backoff_ms = backoff_ms * 2 > e->cfg.backoff_max_ms ? e->cfg.backoff_max_ms
									    : backoff_ms * 2;
			break;
		}
		pthread_cond_broadcast(&e->cond);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* ---- life cycle ---------------------------------------------------------------------- */

static int build_url(struct exporter *e, const char *base)
{
	size_t n = strlen(base);

	if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8)) {
		ob_err("[exporter] server URL '%s' must start with http:// (e.g. "
		       "http://127.0.0.1:20416)",
		       base);
		return -EINVAL;
	}
	while (n && base[n - 1] == '/')
		n--;
	if (n + sizeof("/v1/ingest") > sizeof(e->ingest_url)) {
		ob_err("[exporter] server URL is too long");
		return -EINVAL;
	}
	snprintf(e->ingest_url, sizeof(e->ingest_url), "%.*s/v1/ingest", (int)n, base);
	return 0;
}

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct exporter *exporter_create(const struct exporter_cfg *cfg)
{
	static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
	struct exporter *e;
	pthread_condattr_t ca;
	int err;

	if (!cfg->url || !cfg->agent_id || !cfg->agent_id[0] || strlen(cfg->agent_id) > 63 ||
	    !cfg->batch_records || cfg->batch_records > WIRE_MAX_RECORDS || !cfg->spool_bytes) {
		ob_err("[exporter] bad configuration (agent_id must be 1..63 bytes, batch_records "
		       "1..%d)",
		       WIRE_MAX_RECORDS);
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cfg = *cfg;
	if (!e->cfg.backoff_max_ms)
		e->cfg.backoff_max_ms = BACKOFF_START_MS;
	if (!e->cfg.send_timeout_ms)
		e->cfg.send_timeout_ms = 10000;
	snprintf(e->agent_id, sizeof(e->agent_id), "%s", cfg->agent_id);
	e->cfg.agent_id = e->agent_id;
	e->cfg.url = NULL;
	if (!e->cfg.report_interval_ms)
		e->cfg.report_interval_ms = REPORT_DEF_MS;
	e->info = calloc(1, sizeof(*e->info));
	e->pinfo = calloc(1, sizeof(*e->pinfo));
	e->host = calloc(1, sizeof(*e->host));
	e->host_new = calloc(1, sizeof(*e->host_new));
	if (!e->info || !e->pinfo || !e->host || !e->host_new || build_url(e, cfg->url))
		goto fail;
	/* Numbered from the start time: a restarted agent never reuses a number the server
	 * has stored, as long as it sent fewer than a million batches a second. */
	e->next_seq = real_us();
	pthread_mutex_init(&e->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* curl_global_init is not thread-safe: once, here, before any sender thread. */
	pthread_once(&curl_once, curl_init_once);
	err = sender_setup(e);
	if (err) {
		ob_err("[exporter] cannot set up the HTTP client: %s", strerror(-err));
		goto fail;
	}
	err = pthread_create(&e->thread, NULL, sender_main, e);
	if (err) {
		ob_err("[exporter] cannot start the sender thread: %s", strerror(err));
		goto fail;
	}
	e->thread_started = true;
	return e;
fail:
	exporter_destroy(e, 0, NULL);
	return NULL;
}

void exporter_get_stats(struct exporter *e, struct exporter_stats *out)
{
	pthread_mutex_lock(&e->lock);
	*out = e->st;
	/* The batch in flight is still waiting as far as the user is concerned. */
	out->spool_bytes += e->inflight_len;
	out->spool_batches += e->inflight_len ? 1 : 0;
	pthread_mutex_unlock(&e->lock);
}

void exporter_destroy(struct exporter *e, uint64_t drain_ms, struct exporter_stats *stats)
{
	struct spool_batch *b;
	struct timespec until;
	uint64_t left_batches = 0, left_records = 0;

	if (!e)
		return;
	if (e->thread_started) {
		if (e->wb.n)
			close_batch(e, mono_ns());
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)(drain_ms / 1000);
		until.tv_nsec += (long)(drain_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&e->lock);
		e->draining = true;
		pthread_cond_broadcast(&e->cond);
		while ((e->head || e->inflight_len) &&
		       pthread_cond_timedwait(&e->cond, &e->lock, &until) != ETIMEDOUT)
			;
		atomic_store(&e->stop, true);
		pthread_cond_broadcast(&e->cond);
		pthread_mutex_unlock(&e->lock);
		pthread_join(e->thread, NULL);
		while ((b = spool_pop(e))) {
			left_batches++;
			left_records += b->nrec;
			e->st.exit_dropped_records += b->nrec;
			batch_free(b);
		}
		if (left_batches)
			ob_warn("[exporter] server did not take %llu batch(es) (%llu records) "
				"within the drain time; they are lost",
				(unsigned long long)left_batches, (unsigned long long)left_records);
		pthread_mutex_destroy(&e->lock);
		pthread_cond_destroy(&e->cond);
	}
	if (stats)
		*stats = e->st;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	wire_builder_free(&e->wb);
	free(e->info);
	free(e->pinfo);
	free(e->host);
	free(e->host_new);
	free(e);
}
