/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest throughput of flowscope-server through the real wire path: synthetic
 * l7_flow_log records (about 50 endpoints with skewed popularity, query strings, methods,
 * 2xx-5xx codes and timeouts, long-tailed durations, IPv4 and IPv6 peers, pids, comms,
 * X-Request-IDs and W3C trace ids) are encoded with wire_encode into batches, all before
 * the clock starts, and then POSTed to /v1/ingest over keep-alive libcurl connections,
 * one thread per connection. Every reply must be 200 {"acked":SEQ,"rows":N} with the
 * batch's own seq and size. Prints wall time, rows/s, bytes and per-batch latency.
 *
 * Record times are spread evenly (with jitter) over --window-minutes ending at start-up,
 * in order, as agents deliver them; each connection is its own agent (agent_id, or
 * agent_id-K with several connections) with seq rising by one from --seq-start.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent/record.h"
#include "wire/wire.h"

#define DEF_URL	      "http://127.0.0.1:20416"
#define INGEST_PATH   "/v1/ingest"
#define DEF_ROWS      1000000
#define DEF_BATCH     1000
#define DEF_WINDOW    15
#define MAX_CONNS     64
#define NCLIENTS      200
#define REPLY_MAX     512
#define ZIPF_EXPONENT 0.9

struct opts {
	char url[1024];
	uint64_t rows;
	uint64_t batch;
	unsigned int conns;
	uint64_t window_min;
	char agent_id[64];
	uint64_t seq_start;
	int zstd_level;
	uint64_t seed;
	bool json;
};

struct batch {
	uint8_t *buf;
	size_t len;
	size_t nrows;
	uint64_t seq;
	unsigned int conn;
	uint64_t lat_us; /* POST to reply */
};

struct conn_ctx {
	pthread_t tid;
	unsigned int idx;
	const struct opts *o;
	struct batch *batches;
	size_t nbatches;
	uint64_t rows_acked;
	uint64_t bytes_sent;
};

static atomic_bool failed;

/* ---- helpers ---------------------------------------------------------------------------- */

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

/* splitmix64: small, fast, and good enough for synthetic data. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rnd01(uint64_t *s)
{
	return (double)(rnd(s) >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

/* Standard normal (Box-Muller). */
static double rnd_normal(uint64_t *s)
{
	double u = rnd01(s), v = rnd01(s);

	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static void set_str(char *dst, uint16_t *len, size_t cap, const char *src)
{
	rec_copy(dst, len, cap, src, (uint32_t)strlen(src));
}

#define SET_STR(field, src) set_str((field).s, &(field).len, sizeof((field).s), (src))

static void hex_id(char *out, size_t nhex, uint64_t *s)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t v = 0;

	for (size_t i = 0; i < nhex; i++) {
		if (i % 16 == 0)
			v = rnd(s);
		out[i] = hex[v & 15];
		v >>= 4;
	}
	out[nhex] = 0;
}

/* ---- the synthetic population -------------------------------------------------------- */

struct service {
	const char *domain;
	const char *comm;
	uint8_t ip4[4];
	uint8_t ip6[16];
	uint16_t port;
	uint32_t pid;
	double base_ms; /* median duration */
	double err5xx;	/* 5xx probability */
};

static struct service services[] = {
	{ "frontend.shop.svc.cluster.local", "nginx", { 10, 96, 0, 10 }, { 0 }, 80, 0, 0.8, 0.002 },
	{ "api-gateway.shop.svc.cluster.local:8080",
	  "envoy",
	  { 10, 96, 0, 11 },
	  { 0 },
	  8080,
	  0,
	  1.5,
	  0.004 },
	{ "users.shop.svc.cluster.local:8080",
	  "java",
	  { 10, 96, 1, 20 },
	  { 0 },
	  8080,
	  0,
	  3.0,
	  0.005 },
	{ "orders.shop.svc.cluster.local:8080",
	  "java",
	  { 10, 96, 1, 21 },
	  { 0 },
	  8080,
	  0,
	  6.0,
	  0.012 },
	{ "cart.shop.svc.cluster.local:9090",
	  "node",
	  { 10, 96, 1, 22 },
	  { 0 },
	  9090,
	  0,
	  2.0,
	  0.003 },
	{ "payments.shop.svc.cluster.local:8443",
	  "python3",
	  { 10, 96, 2, 30 },
	  { 0 },
	  8443,
	  0,
	  25.0,
	  0.030 },
	{ "catalog.shop.svc.cluster.local:8080",
	  "gunicorn",
	  { 10, 96, 2, 31 },
	  { 0 },
	  8080,
	  0,
	  4.0,
	  0.004 },
	{ "search.shop.svc.cluster.local:9200",
	  "java",
	  { 10, 96, 2, 32 },
	  { 0 },
	  9200,
	  0,
	  12.0,
	  0.008 },
	{ "auth.shop.svc.cluster.local:8080",
	  "auth-server",
	  { 10, 96, 3, 40 },
	  { 0 },
	  8080,
	  0,
	  1.2,
	  0.002 },
	{ "static.shop.svc.cluster.local", "nginx", { 10, 96, 3, 41 }, { 0 }, 80, 0, 0.3, 0.0005 },
	{ "reports.shop.svc.cluster.local:8000",
	  "python3",
	  { 10, 96, 4, 50 },
	  { 0 },
	  8000,
	  0,
	  80.0,
	  0.020 },
	{ "flowscope.observability:20416",
	  "flowscope-serve",
	  { 10, 96, 4, 51 },
	  { 0 },
	  20416,
	  0,
	  5.0,
	  0.001 },
};

#define NSERVICES (sizeof(services) / sizeof(services[0]))

struct endpoint {
	const char *path;
	unsigned int svc;
	const char *query; /* printf format with one %u, or NULL */
	uint8_t method;	   /* index into methods[]: the usual one */
};

static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD" };

static const struct endpoint endpoints[] = {
	{ "/", 0, NULL, 0 },
	{ "/index.html", 0, NULL, 0 },
	{ "/healthz", 1, NULL, 0 },
	{ "/metrics", 1, NULL, 0 },
	{ "/api/v1/users", 2, "?page=%u", 0 },
	{ "/api/v1/users/profile", 2, "?id=%u", 0 },
	{ "/api/v1/orders", 3, "?customer=%u", 1 },
	{ "/api/v1/orders/history", 3, "?customer=%u&limit=20", 0 },
	{ "/api/v1/cart", 4, "?session=%u", 0 },
	{ "/api/v1/cart/items", 4, NULL, 1 },
	{ "/api/v1/checkout", 3, NULL, 1 },
	{ "/api/v1/payments", 5, NULL, 1 },
	{ "/api/v1/payments/refund", 5, NULL, 1 },
	{ "/api/v1/products", 6, "?category=%u", 0 },
	{ "/api/v1/products/search", 7, "?q=item%u", 0 },
	{ "/api/v1/products/recommendations", 7, "?user=%u", 0 },
	{ "/api/v1/inventory", 6, "?sku=%u", 0 },
	{ "/api/v1/shipping/quote", 3, "?zip=%u", 0 },
	{ "/api/v1/login", 8, NULL, 1 },
	{ "/api/v1/logout", 8, NULL, 1 },
	{ "/api/v1/session", 8, NULL, 0 },
	{ "/api/v2/catalog", 6, "?page=%u", 0 },
	{ "/api/v2/catalog/categories", 6, NULL, 0 },
	{ "/api/v2/reviews", 6, "?product=%u", 0 },
	{ "/api/v2/ratings", 6, "?product=%u", 2 },
	{ "/api/v2/search", 7, "?q=term%u&page=1", 0 },
	{ "/static/app.js", 9, "?v=%u", 0 },
	{ "/static/app.css", 9, "?v=%u", 0 },
	{ "/static/logo.png", 9, NULL, 0 },
	{ "/favicon.ico", 9, NULL, 0 },
	{ "/graphql", 1, NULL, 1 },
	{ "/auth/token", 8, NULL, 1 },
	{ "/auth/refresh", 8, NULL, 1 },
	{ "/oauth/authorize", 8, "?client_id=%u&response_type=code", 0 },
	{ "/oauth/callback", 8, "?code=%u", 0 },
	{ "/v1/ingest", 11, NULL, 1 },
	{ "/v1/query", 11, NULL, 1 },
	{ "/internal/config", 1, NULL, 0 },
	{ "/internal/flags", 1, NULL, 0 },
	{ "/internal/cache/purge", 6, NULL, 3 },
	{ "/admin/stats", 10, NULL, 0 },
	{ "/admin/users", 2, "?page=%u", 0 },
	{ "/ws/notifications", 1, NULL, 0 },
	{ "/api/v1/notifications", 2, "?user=%u", 0 },
	{ "/api/v1/messages", 2, "?thread=%u", 1 },
	{ "/api/v1/messages/unread", 2, "?user=%u", 0 },
	{ "/api/v1/files/upload", 10, NULL, 1 },
	{ "/api/v1/files/download", 10, "?file=%u", 0 },
	{ "/api/v1/reports/daily", 10, "?day=%u", 0 },
	{ "/api/v1/reports/export", 10, "?format=csv&id=%u", 4 },
};

#define NENDPOINTS (sizeof(endpoints) / sizeof(endpoints[0]))

static const char *const client_comms[] = {
	"python3", "java", "node", "curl", "envoy", "nginx", "ruby", "wget", "Chrome_IOThread",
};
#define NCLIENT_COMMS (sizeof(client_comms) / sizeof(client_comms[0]))

static double zipf_cdf[NENDPOINTS];

static void population_init(uint64_t seed)
{
	uint64_t s = seed ^ 0x5eedull;
	double sum = 0;

	for (size_t i = 0; i < NSERVICES; i++) {
		services[i].pid = 1000 + (uint32_t)rnd_below(&s, 60000);
		/* fd00::/8 unique local address mirroring the IPv4 one */
		services[i].ip6[0] = 0xfd;
		services[i].ip6[1] = 0x96;
		memcpy(services[i].ip6 + 12, services[i].ip4, 4);
	}
	for (size_t i = 0; i < NENDPOINTS; i++) {
		sum += 1.0 / pow((double)(i + 1), ZIPF_EXPONENT);
		zipf_cdf[i] = sum;
	}
	for (size_t i = 0; i < NENDPOINTS; i++)
		zipf_cdf[i] /= sum;
}

static size_t pick_endpoint(uint64_t *s)
{
	double u = rnd01(s);
	size_t lo = 0, hi = NENDPOINTS - 1;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct code_reason {
	int code;
	const char *reason;
};

static const struct code_reason client_errors[] = { { 400, "Bad Request" },
						    { 401, "Unauthorized" },
						    { 403, "Forbidden" },
						    { 404, "Not Found" },
						    { 429, "Too Many Requests" } };
static const struct code_reason server_errors[] = { { 500, "Internal Server Error" },
						    { 502, "Bad Gateway" },
						    { 503, "Service Unavailable" },
						    { 504, "Gateway Timeout" } };

/* Record number i of n, ending at window_start + (i + U[0, 1)) * window / n. */
static void gen_record(struct l7_record *r, uint64_t i, uint64_t n, uint64_t window_start_us,
		       uint64_t window_us, uint64_t *s)
{
	const struct endpoint *ep = &endpoints[pick_endpoint(s)];
	const struct service *sv = &services[ep->svc];
	uint32_t client = (uint32_t)rnd_below(s, NCLIENTS);
	bool v6 = rnd_below(s, 10) == 0, client_side = rnd_below(s, 2) == 0;
	double u = rnd01(s), dur_ms;
	uint64_t end_us, dur_us;
	char buf[256];

	record_reset(r);
	r->family = v6 ? 6 : 4;
	r->l4_proto = 6;
	r->l7_proto = PROTO_HTTP1;
	r->obs = client_side ? REC_OBS_CLIENT_PROCESS : REC_OBS_SERVER_PROCESS;
	/* Addresses: 200 clients in 10.0.0.0/14 (or fd00::/8), servers from the service. */
	if (v6) {
		r->addr0[0] = 0xfd;
		r->addr0[13] = (uint8_t)(client >> 8);
		r->addr0[15] = (uint8_t)client;
		memcpy(r->addr1, sv->ip6, 16);
	} else {
		r->addr0[0] = 10;
		r->addr0[1] = (uint8_t)(client % 4);
		r->addr0[2] = (uint8_t)(client / 4);
		r->addr0[3] = (uint8_t)(client * 7 + 11);
		memcpy(r->addr1, sv->ip4, 4);
	}
	r->client_port = (uint16_t)(32768 + rnd_below(s, 28232));
	r->server_port = sv->port;
	if (client_side) {
		r->pid = 2000 + client * 13;
		snprintf(r->comm, sizeof(r->comm), "%s", client_comms[client % NCLIENT_COMMS]);
	} else {
		r->pid = sv->pid;
		snprintf(r->comm, sizeof(r->comm), "%s", sv->comm);
	}
	r->req_tid = r->pid + (uint32_t)rnd_below(s, 8);
	r->resp_tid = rnd_below(s, 4) ? r->req_tid : r->pid + (uint32_t)rnd_below(s, 8);

	SET_STR(r->version, rnd_below(s, 50) ? "1.1" : "1.0");
	/* Mostly the endpoint's usual method; now and then another one. */
	SET_STR(r->method, rnd_below(s, 20) ? methods[ep->method] : methods[rnd_below(s, 6)]);
	SET_STR(r->domain, sv->domain);
	SET_STR(r->endpoint, ep->path);
	if (ep->query && rnd_below(s, 10) < 7) {
		int len = snprintf(buf, sizeof(buf), "%s", ep->path);

		snprintf(buf + len, sizeof(buf) - (size_t)len, ep->query,
			 (unsigned int)rnd_below(s, 100000));
		SET_STR(r->resource, buf);
	} else {
		SET_STR(r->resource, ep->path);
	}

	/* Durations: log-normal around the service's median, 0.5% stragglers 20-200x. */
	dur_ms = sv->base_ms * exp(0.8 * rnd_normal(s));
	if (rnd_below(s, 1000) < 5)
		dur_ms *= 20 + rnd01(s) * 180;
	dur_us = (uint64_t)(dur_ms * 1000.0) + 1;

	end_us = window_start_us +
		 (uint64_t)(((double)i + rnd01(s)) * (double)window_us / (double)n);
	if (dur_us > end_us)
		dur_us = end_us;
	r->end_ns = end_us * 1000;
	r->start_ns = (end_us - dur_us) * 1000;
	r->req_tcp_seq = (uint32_t)rnd(s);
	r->resp_tcp_seq = (uint32_t)rnd(s);

	if (rnd_below(s, 10) < 3) {
		hex_id(buf, 32, s);
		SET_STR(r->x_request_id_0, buf);
	}
	if (rnd_below(s, 5) == 0) {
		hex_id(buf, 32, s);
		SET_STR(r->trace_id, buf);
		hex_id(buf, 16, s);
		SET_STR(r->span_id, buf);
	}

	r->has_request = true;
	r->request_length = 120 + rnd_below(s, 400);
	if (ep->method == 1 || ep->method == 2)
		r->request_length += rnd_below(s, 4096);

	/* 0.3% timeouts: a request without a response. */
	if (u < 0.003) {
		r->type = REC_TYPE_REQUEST;
		r->status = PROTO_STATUS_TIMEOUT;
		r->has_response = false;
		r->code = -1;
		return;
	}
	r->type = REC_TYPE_SESSION;
	r->has_response = true;
	r->response_length = 150 + rnd_below(s, 2000);
	if (rnd_below(s, 100) < 3)
		r->response_length += rnd_below(s, 1 << 20);
	if (r->x_request_id_0.len && rnd_below(s, 2))
		rec_copy(r->x_request_id_1.s, &r->x_request_id_1.len, sizeof(r->x_request_id_1.s),
			 r->x_request_id_0.s, r->x_request_id_0.len);
	u = rnd01(s);
	if (u < sv->err5xx) {
		const struct code_reason *c = &server_errors[rnd_below(s, 4)];

		r->code = c->code;
		r->status = PROTO_STATUS_SERVER_ERROR;
		SET_STR(r->exception, c->reason);
	} else if (u < sv->err5xx + 0.04) {
		const struct code_reason *c = &client_errors[rnd_below(s, 5)];

		r->code = c->code;
		r->status = PROTO_STATUS_CLIENT_ERROR;
		SET_STR(r->exception, c->reason);
	} else {
		static const int ok_codes[] = { 200, 200, 200, 200, 200, 200, 200, 200, 200, 200,
						200, 200, 200, 200, 201, 204, 301, 302, 304, 200 };

		r->code = ok_codes[rnd_below(s, 20)];
		r->status = PROTO_STATUS_OK;
	}
}

/* ---- encoding -------------------------------------------------------------------------- */

/* Build and encode every batch. Returns 0 or -errno. */
static int encode_all(const struct opts *o, struct batch *batches, size_t nbatches,
		      uint64_t *bytes_out, uint64_t *window_end_us)
{
	uint64_t window_us = o->window_min * 60ull * 1000000ull;
	uint64_t window_start = real_us() - window_us, seed = o->seed, bytes = 0;
	struct l7_record *recs = malloc(o->batch * sizeof(*recs));
	struct wire_batch_info info = { .version = WIRE_VERSION };
	int rc = 0;

	if (!recs)
		return -ENOMEM;
	*window_end_us = window_start + window_us;
	for (size_t b = 0; b < nbatches; b++) {
		struct batch *bt = &batches[b];
		uint64_t first = (uint64_t)b * o->batch;

		bt->nrows = o->rows - first < o->batch ? o->rows - first : o->batch;
		bt->conn = (unsigned int)(b % o->conns);
		bt->seq = o->seq_start + b / o->conns;
		for (size_t i = 0; i < bt->nrows; i++)
			gen_record(&recs[i], first + i, o->rows, window_start, window_us, &seed);
		if (o->conns > 1)
			snprintf(info.agent_id, sizeof(info.agent_id), "%.55s-%u", o->agent_id,
				 bt->conn);
		else
			snprintf(info.agent_id, sizeof(info.agent_id), "%s", o->agent_id);
		info.seq = bt->seq;
		rc = wire_encode(&info, recs, bt->nrows, o->zstd_level, &bt->buf, &bt->len);
		if (rc) {
			fprintf(stderr, "ingest_bench: wire_encode of batch %zu: %s\n", b,
				strerror(-rc));
			break;
		}
		bytes += bt->len;
	}
	free(recs);
	*bytes_out = bytes;
	return rc;
}

/* ---- HTTP ------------------------------------------------------------------------------- */

struct reply {
	char body[REPLY_MAX];
	size_t len;
};

static size_t on_reply(char *data, size_t size, size_t nmemb, void *ud)
{
	struct reply *r = ud;
	size_t n = size * nmemb, room = sizeof(r->body) - 1 - r->len;

	memcpy(r->body + r->len, data, n < room ? n : room);
	r->len += n < room ? n : room;
	r->body[r->len] = 0;
	return n;
}

/* The number after "key": in a flat JSON object, or false. */
static bool json_u64(const char *body, const char *key, uint64_t *out)
{
	char pat[32];
	const char *p;
	char *end;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(body, pat);
	if (!p)
		return false;
	p += strlen(pat);
	errno = 0;
	*out = strtoull(p, &end, 10);
	return !errno && end != p;
}

static void *conn_main(void *arg)
{
	struct conn_ctx *c = arg;
	struct curl_slist *hdrs = NULL;
	struct reply rep;
	char errbuf[CURL_ERROR_SIZE];
	CURL *h = curl_easy_init();

	hdrs = curl_slist_append(hdrs, "Content-Type: application/x-flowscope-batch");
	hdrs = curl_slist_append(hdrs, "Content-Encoding: zstd");
	hdrs = curl_slist_append(hdrs, "Flowscope-Wire: 1");
	hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
	if (!h || !hdrs) {
		fprintf(stderr, "ingest_bench: connection %u: out of memory\n", c->idx);
		atomic_store(&failed, true);
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, c->o->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &rep);
	for (size_t i = 0; i < c->nbatches && !atomic_load(&failed); i++) {
		struct batch *b = &c->batches[i];
		uint64_t t0, acked = 0, rows = 0;
		long status = 0;
		CURLcode cc;

		if (b->conn != c->idx)
			continue;
		rep.len = 0;
		rep.body[0] = 0;
		errbuf[0] = 0;
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)b->buf);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
		t0 = mono_us();
		cc = curl_easy_perform(h);
		b->lat_us = mono_us() - t0;
		if (cc != CURLE_OK) {
			fprintf(stderr, "ingest_bench: POST seq %llu: %s\n",
				(unsigned long long)b->seq,
				errbuf[0] ? errbuf : curl_easy_strerror(cc));
			atomic_store(&failed, true);
			break;
		}
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		while (rep.len && (rep.body[rep.len - 1] == '\n' || rep.body[rep.len - 1] == '\r'))
			rep.body[--rep.len] = 0;
		if (status != 200 || !json_u64(rep.body, "acked", &acked) ||
		    !json_u64(rep.body, "rows", &rows) || acked != b->seq || rows != b->nrows) {
			fprintf(stderr,
				"ingest_bench: POST seq %llu (%zu rows): HTTP %ld, expected 200 "
				"{\"acked\":%llu,\"rows\":%zu}, got: %s\n",
				(unsigned long long)b->seq, b->nrows, status,
				(unsigned long long)b->seq, b->nrows, rep.body);
			if (strstr(rep.body, "\"duplicate\":true"))
				fprintf(stderr,
					"ingest_bench: the server already had this agent's "
					"seq: use another --agent-id or a higher --seq-start\n");
			atomic_store(&failed, true);
			break;
		}
		c->rows_acked += rows;
		c->bytes_sent += b->len;
	}
out:
	curl_slist_free_all(hdrs);
	if (h)
		curl_easy_cleanup(h);
	return NULL;
}

/* ---- main -------------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ingest_bench [options]\n"
		"\n"
		"Measure flowscope-server's ingest throughput through the real wire path.\n"
		"Synthetic l7_flow_log records (about 50 endpoints, methods, 2xx-5xx codes and\n"
		"timeouts, long-tailed durations, IPv4/IPv6 peers, pids, comms, request and trace\n"
		"ids) are encoded with wire_encode into batches before the clock starts, then\n"
		"POSTed to /v1/ingest over keep-alive connections (one thread each). Every reply\n"
		"must be 200 {\"acked\":SEQ,\"rows\":N}. Prints wall time, rows/s, bytes and\n"
		"per-batch latency. The server acknowledges after a durable commit, so each batch\n"
		"pays one fsync: compare --batch 1000 with --batch 10000.\n"
		"\n"
		"options:\n"
		"  --url URL             server base URL (default " DEF_URL "), to which\n"
		"                        " INGEST_PATH " is appended, or a full URL with a path\n"
		"  --rows N              records to send (default %d)\n"
		"  --batch N             records per batch, 1..%d (default %d)\n"
		"  --connections N       parallel keep-alive connections, 1..%d (default 1); each "
		"is\n"
		"                        one agent, AGENT_ID-K, taking every Nth batch\n"
		"  --window-minutes M    record times spread evenly over the M minutes before "
		"start\n"
		"                        (default %d)\n"
		"  --agent-id ID         agent_id of the batches (default ingest-bench-PID)\n"
		"  --seq-start N         seq of the first batch (default: now in µs since the "
		"epoch,\n"
		"                        so reruns against one server never look like resends)\n"
		"  --zstd-level N        compression level for wire_encode (default 3)\n"
		"  --seed N              random seed of the synthetic data (default 1)\n"
		"  --json                print one JSON object of results on stdout (the rest goes "
		"to\n"
		"                        stderr)\n"
		"  -h, --help            this text\n"
		"\n"
		"example: ingest_bench --url http://127.0.0.1:20416 --rows 1000000 --batch 10000\n",
		DEF_ROWS, WIRE_MAX_RECORDS, DEF_BATCH, MAX_CONNS, DEF_WINDOW);
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum {
		O_URL = 256,
		O_ROWS,
		O_BATCH,
		O_CONNS,
		O_WINDOW,
		O_AGENT,
		O_SEQ,
		O_ZSTD,
		O_SEED,
		O_JSON
	};
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, O_URL },
		{ "rows", required_argument, NULL, O_ROWS },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "connections", required_argument, NULL, O_CONNS },
		{ "window-minutes", required_argument, NULL, O_WINDOW },
		{ "agent-id", required_argument, NULL, O_AGENT },
		{ "seq-start", required_argument, NULL, O_SEQ },
		{ "zstd-level", required_argument, NULL, O_ZSTD },
		{ "seed", required_argument, NULL, O_SEED },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *url = DEF_URL;
	uint64_t v;
	int c;

	*o = (struct opts){ .rows = DEF_ROWS,
			    .batch = DEF_BATCH,
			    .conns = 1,
			    .window_min = DEF_WINDOW,
			    .seq_start = real_us(),
			    .zstd_level = 3,
			    .seed = 1 };
	snprintf(o->agent_id, sizeof(o->agent_id), "ingest-bench-%ld", (long)getpid());
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_URL: url = optarg; break;
		case O_ROWS:
			if (!parse_u64(optarg, 1, UINT32_MAX, &o->rows))
				goto bad;
			break;
		case O_BATCH:
			if (!parse_u64(optarg, 1, WIRE_MAX_RECORDS, &o->batch))
				goto bad;
			break;
		case O_CONNS:
			if (!parse_u64(optarg, 1, MAX_CONNS, &v))
				goto bad;
			o->conns = (unsigned int)v;
			break;
		case O_WINDOW:
			if (!parse_u64(optarg, 1, 7 * 24 * 60, &o->window_min))
				goto bad;
			break;
		case O_AGENT:
			if (!*optarg || strlen(optarg) >= sizeof(o->agent_id) - 8) {
				fprintf(stderr, "ingest_bench: --agent-id: 1 to %zu bytes\n",
					sizeof(o->agent_id) - 9);
				return 2;
			}
			snprintf(o->agent_id, sizeof(o->agent_id), "%s", optarg);
			break;
		case O_SEQ:
			if (!parse_u64(optarg, 0, UINT64_MAX / 2, &o->seq_start))
				goto bad;
			break;
		case O_ZSTD:
			if (!parse_u64(optarg, 1, 19, &v))
				goto bad;
			o->zstd_level = (int)v;
			break;
		case O_SEED:
			if (!parse_u64(optarg, 0, UINT64_MAX, &o->seed))
				goto bad;
			break;
		case O_JSON: o->json = true; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ingest_bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	/* Append the ingest path to a bare base URL ("http://host:port" or ".../"). */
	{
		const char *p = strstr(url, "://");
		const char *path = strchr(p ? p + 3 : url, '/');
		size_t ulen = strlen(url);

		if (!path || !strcmp(path, "/"))
			snprintf(o->url, sizeof(o->url), "%.*s%s", (int)(path ? ulen - 1 : ulen),
				 url, INGEST_PATH);
		else
			snprintf(o->url, sizeof(o->url), "%s", url);
	}
	return 0;
bad:
	fprintf(stderr, "ingest_bench: bad value '%s' for --%s (see --help)\n", optarg,
		longopts[c - O_URL].name);
	return 2;
}

/* POST every batch, one thread per connection; returns the wall time in µs, or 0. */
static uint64_t post_all(const struct opts *o, struct batch *batches, size_t nbatches,
			 uint64_t *rows_acked, uint64_t *bytes_sent)
{
	struct conn_ctx conns[MAX_CONNS] = { 0 };
	unsigned int started = 0;
	uint64_t t0;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "ingest_bench: curl_global_init failed\n");
		return 0;
	}
	t0 = mono_us();
	for (; started < o->conns; started++) {
		conns[started] = (struct conn_ctx){
			.idx = started, .o = o, .batches = batches, .nbatches = nbatches
		};
		if (pthread_create(&conns[started].tid, NULL, conn_main, &conns[started])) {
			fprintf(stderr, "ingest_bench: pthread_create failed\n");
			atomic_store(&failed, true);
			break;
		}
	}
	for (unsigned int i = 0; i < started; i++) {
		pthread_join(conns[i].tid, NULL);
		*rows_acked += conns[i].rows_acked;
		*bytes_sent += conns[i].bytes_sent;
	}
	t0 = mono_us() - t0;
	curl_global_cleanup();
	return t0 ? t0 : 1;
}

static void report(const struct opts *o, FILE *out, const struct batch *batches, size_t nbatches,
		   uint64_t *lat, uint64_t rows_acked, uint64_t bytes_sent, double wall_s,
		   double encode_s, uint64_t window_end)
{
	double rps = (double)rows_acked / wall_s, p50, p99, mx;

	for (size_t b = 0; b < nbatches; b++)
		lat[b] = batches[b].lat_us;
	qsort(lat, nbatches, sizeof(*lat), cmp_u64);
	p50 = (double)lat[nbatches / 2] / 1e3;
	p99 = (double)lat[(size_t)((double)(nbatches - 1) * 0.99)] / 1e3;
	mx = (double)lat[nbatches - 1] / 1e3;
	fprintf(out,
		"ingest_bench: %llu rows acknowledged in %.3f s: %.0f rows/s, %.2f MB/s "
		"compressed; batch latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		(unsigned long long)rows_acked, wall_s, rps, (double)bytes_sent / 1e6 / wall_s, p50,
		p99, mx);
	if (!o->json)
		return;
	printf("{\"rows\":%llu,\"batches\":%zu,\"batch\":%llu,\"connections\":%u,\"bytes\":%llu,"
	       "\"bytes_per_row\":%.2f,\"encode_s\":%.3f,\"wall_s\":%.6f,\"rows_per_s\":%.1f,"
	       "\"batch_p50_ms\":%.3f,\"batch_p99_ms\":%.3f,\"batch_max_ms\":%.3f,"
	       "\"window_minutes\":%llu,\"window_end_us\":%llu,\"seq_start\":%llu}\n",
	       (unsigned long long)rows_acked, nbatches, (unsigned long long)o->batch, o->conns,
	       (unsigned long long)bytes_sent, (double)bytes_sent / (double)rows_acked, encode_s,
	       wall_s, rps, p50, p99, mx, (unsigned long long)o->window_min,
	       (unsigned long long)window_end, (unsigned long long)o->seq_start);
}

int main(int argc, char **argv)
{
	struct batch *batches = NULL;
	struct opts o;
	uint64_t bytes = 0, rows_acked = 0, bytes_sent = 0, t0, wall_us, *lat = NULL;
	uint64_t window_end = 0;
	size_t nbatches;
	double encode_s;
	FILE *out;
	int rc;

	rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc == 1 ? 0 : rc;
	out = o.json ? stderr : stdout;
	nbatches = (size_t)((o.rows + o.batch - 1) / o.batch);
	if (o.conns > nbatches)
		o.conns = (unsigned int)nbatches;
	rc = 1;
	batches = calloc(nbatches, sizeof(*batches));
	lat = calloc(nbatches, sizeof(*lat));
	if (!batches || !lat) {
		fprintf(stderr, "ingest_bench: out of memory\n");
		goto out;
	}
	population_init(o.seed);

	t0 = mono_us();
	if (encode_all(&o, batches, nbatches, &bytes, &window_end))
		goto out;
	encode_s = (double)(mono_us() - t0) / 1e6;
	fprintf(out,
		"ingest_bench: %llu rows in %zu batches of up to %llu, %.1f MB compressed (%.1f "
		"B/row), "
		"encoded in %.2f s (not timed)\n",
		(unsigned long long)o.rows, nbatches, (unsigned long long)o.batch,
		(double)bytes / 1e6, (double)bytes / (double)o.rows, encode_s);
	fprintf(out, "ingest_bench: POST %s over %u keep-alive connection%s\n", o.url, o.conns,
		o.conns == 1 ? "" : "s");
	fflush(out);

	wall_us = post_all(&o, batches, nbatches, &rows_acked, &bytes_sent);
	if (!wall_us || atomic_load(&failed) || rows_acked != o.rows) {
		fprintf(stderr, "ingest_bench: FAILED: %llu of %llu rows acknowledged\n",
			(unsigned long long)rows_acked, (unsigned long long)o.rows);
		goto out;
	}
	report(&o, out, batches, nbatches, lat, rows_acked, bytes_sent, (double)wall_us / 1e6,
	       encode_s, window_end);
	rc = 0;
out:
	for (size_t b = 0; batches && b < nbatches; b++)
		free(batches[b].buf);
	free(batches);
	free(lat);
	return rc;
}
