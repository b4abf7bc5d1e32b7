/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trace assembly latency (docs/benchmarks.md, "Trace assembly"). Builds a SQLite store of
 * --rows l7_flow_log rows written through store_write_rows in batches of --batch:
 * background traffic (independent c-p/s-p exchanges, a fifth of them with c-nd/s-nd
 * packet spans, random tcp_seq, syscall trace ids growing with time as the kernel's do,
 * X-Request-IDs on 30 % of rows, W3C trace ids on 20 %) over --window-s seconds, in time
 * order batch by batch as agents deliver them, with --traces traces of 40 spans mixed in
 * (10 hops: client -> gateway -> 3 services -> 2 downstreams each; every hop c-p, c-nd,
 * s-nd, s-p joined by tcp_seq; each service's inbound s-p and its downstream c-p chained
 * by syscall trace ids as the kernel gives them). Then assembles --samples traces, each
 * from a random one of its spans' _id, through trace_assemble (the path of GET /v1/trace)
 * and prints p50 / p99 / max latency, rounds, queries and how many came back complete.
 *
 *   build/bench/trace_bench --rows 1000000 --dir /tmp/trace-bench-1m
 *   build/bench/trace_bench --reuse --dir /tmp/trace-bench-1m   (assemble only)
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/record.h"
#include "proto/proto.h"
#include "query/trace.h"
#include "store/rowid.h"
#include "store/store.h"

#define HOPS	  10
#define SPANS	  (HOPS * 4)
#define META_FILE "trace_bench.meta"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hex(char *dst, uint16_t *len, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
		dst[i] = digits[rnd() & 15];
	*len = (uint16_t)n;
}

static void base_record(struct l7_record *r, uint8_t obs, uint64_t start_us, uint64_t end_us)
{
	record_reset(r);
	r->start_ns = start_us * 1000;
	r->end_ns = end_us * 1000;
	r->type = REC_TYPE_SESSION;
	r->obs = obs;
	r->signal_source = obs <= REC_OBS_SERVER_PROCESS ? REC_SIGNAL_EBPF : REC_SIGNAL_PACKET;
	r->family = 4;
	r->l4_proto = 6;
	r->l7_proto = PROTO_HTTP1;
	r->code = 200;
	r->has_request = r->has_response = true;
	r->request_length = 200;
	r->response_length = 1500;
	r->addr0[0] = 10;
	r->addr0[3] = 1;
	r->addr1[0] = 10;
	r->addr1[3] = 2;
	memcpy(r->method.s, "GET", 3);
	r->method.len = 3;
}

/* One exchange seen at up to four points: c-p, (c-nd, s-nd,) s-p. */
struct hop {
	uint64_t start, end;
	uint32_t req_seq, resp_seq;
	uint16_t cport, sport;
	uint32_t cpid, spid;
	const char *ccomm, *scomm;
	uint64_t c_st[2], s_st[2]; /* syscall trace ids: request, response */
	bool net;
	const char *path;
	char xid[33];
	char tid[33];
};

static size_t emit_hop(const struct hop *h, struct l7_record *out)
{
	size_t n = 0;
	struct {
		uint8_t obs;
		uint64_t d;
	} pts[4] = { { REC_OBS_CLIENT_PROCESS, 0 },
		     { REC_OBS_CLIENT_NODE, 20 },
		     { REC_OBS_SERVER_NODE, 40 },
		     { REC_OBS_SERVER_PROCESS, 60 } };

	for (int i = 0; i < 4; i++) {
		struct l7_record *r = &out[n];

		if (!h->net && (i == 1 || i == 2))
			continue;
		base_record(r, pts[i].obs, h->start + pts[i].d, h->end - pts[i].d);
		r->req_tcp_seq = h->req_seq;
		r->resp_tcp_seq = h->resp_seq;
		r->client_port = h->cport;
		r->server_port = h->sport;
		if (i == 0) {
			r->pid = h->cpid;
			snprintf(r->comm, sizeof(r->comm), "%s", h->ccomm);
			r->req_syscall_trace_id = h->c_st[0];
			r->resp_syscall_trace_id = h->c_st[1];
		} else if (i == 3) {
			r->pid = h->spid;
			snprintf(r->comm, sizeof(r->comm), "%s", h->scomm);
			r->req_syscall_trace_id = h->s_st[0];
			r->resp_syscall_trace_id = h->s_st[1];
		}
		rec_copy(r->resource.s, &r->resource.len, sizeof(r->resource.s), h->path,
			 (uint32_t)strlen(h->path));
		rec_copy(r->x_request_id_0.s, &r->x_request_id_0.len, sizeof(r->x_request_id_0.s),
			 h->xid, (uint32_t)strlen(h->xid));
		rec_copy(r->trace_id.s, &r->trace_id.len, sizeof(r->trace_id.s), h->tid,
			 (uint32_t)strlen(h->tid));
		n++;
	}
	return n;
}

static const char *const comms[] = { "nginx",	     "java",   "python3", "node",     "envoy",
				     "redis-server", "mysqld", "curl",	  "gunicorn", "php-fpm" };
static const char *const paths[] = { "/api/v1/users",  "/api/v1/orders", "/login",  "/",
				     "/static/app.js", "/api/v1/cart",	 "/health", "/search" };

/* Syscall trace ids as the kernel makes them: a per-CPU base from the clock, then +1 per
 * id, so they grow with time (DESIGN §3). */
static uint64_t st_next = (1ull << 56) | 0x123456789ull;

static uint64_t st_id(void)
{
	return ++st_next;
}

/* Rows come in time order, as agents deliver them: each batch covers the next slice
 * [t0_us, t0_us + slice_us) of the window. */
static size_t background(struct l7_record *out, uint64_t t0_us, uint64_t slice_us)
{
	struct hop h = { 0 };
	uint64_t dur = 100 + rnd() % 1000 * (1 + rnd() % 1000);

	h.start = t0_us + rnd() % slice_us;
	h.end = h.start + dur + 200;
	h.req_seq = (uint32_t)rnd();
	h.resp_seq = (uint32_t)rnd();
	h.cport = (uint16_t)(1024 + rnd() % 60000);
	h.sport = (uint16_t)(80 + rnd() % 8);
	h.cpid = (uint32_t)(1000 + rnd() % 5000);
	h.spid = (uint32_t)(1000 + rnd() % 5000);
	h.ccomm = comms[rnd() % 10];
	h.scomm = comms[rnd() % 10];
	h.c_st[0] = st_id();
	h.c_st[1] = st_id();
	h.s_st[0] = st_id();
	h.s_st[1] = st_id();
	h.net = rnd() % 5 == 0;
	h.path = paths[rnd() % 8];
	if (rnd() % 10 < 3) {
		uint16_t l;

		hex(h.xid, &l, 32);
		h.xid[l] = 0;
	}
	if (rnd() % 10 < 2) {
		uint16_t l;

		hex(h.tid, &l, 32);
		h.tid[l] = 0;
	}
	return emit_hop(&h, out);
}

/* A 40-span trace: hop 0 client -> svc 1; svc 1 -> svcs 2..4; each of those -> 2 more. */
static size_t trace_rows(struct l7_record *out, uint64_t t0_us, uint64_t slice_us)
{
	struct hop hops[HOPS];
	int parent[HOPS] = { -1, 0, 1, 1, 2, 2, 3, 3, 4, 4 };
	uint64_t start = t0_us + rnd() % slice_us;
	uint32_t base_pid = (uint32_t)(20000 + rnd() % 20000);
	size_t n = 0;

	memset(hops, 0, sizeof(hops));
	for (int k = 0; k < HOPS; k++) {
		struct hop *h = &hops[k];

		h->req_seq = (uint32_t)rnd();
		h->resp_seq = (uint32_t)rnd();
		h->cport = (uint16_t)(1024 + rnd() % 60000);
		h->sport = (uint16_t)(8000 + k);
		h->spid = base_pid + (uint32_t)k + 1;
		h->scomm = comms[k % 10];
		h->net = true;
		h->path = paths[k % 8];
		h->s_st[0] = st_id();
		if (k == 0) {
			h->start = start;
			h->end = start + 200000;
			h->cpid = base_pid;
			h->ccomm = "curl";
		} else {
			const struct hop *p = &hops[parent[k]];

			h->cpid = p->spid;
			h->ccomm = p->scomm;
		}
	}
	/* Children in sequence inside the parent's s-p; the syscall chain threads them. */
	for (int k = 0; k < HOPS; k++) {
		struct hop *p = &hops[k];
		int kids[HOPS], nk = 0;
		uint64_t a = p->start + 60 + 1000, b = p->end - 60 - 1000, slot;
		uint64_t cur_id = p->s_st[0];

		for (int c = 0; c < HOPS; c++)
			if (parent[c] == k)
				kids[nk++] = c;
		if (!nk) {
			p->s_st[1] = p->s_st[0]; /* a leaf: no I/O between request and response */
			continue;
		}
		slot = (b - a) / (uint64_t)nk;
		for (int i = 0; i < nk; i++) {
			struct hop *c = &hops[kids[i]];

			c->start = a + slot * (uint64_t)i + 100;
			c->end = a + slot * (uint64_t)(i + 1) - 100;
			c->c_st[0] = cur_id;
			c->c_st[1] = st_id();
			cur_id = c->c_st[1];
		}
		p->s_st[1] = cur_id;
	}
	for (int k = 0; k < HOPS; k++)
		n += emit_hop(&hops[k], out + n);
	return n;
}

struct sample {
	int64_t id;
};

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr, "usage: trace_bench [--rows N] [--traces T] [--samples S] [--batch B] "
			"[--window-s W] --dir DIR [--reuse]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rows", required_argument, NULL, 'r' },
		{ "traces", required_argument, NULL, 't' },
		{ "samples", required_argument, NULL, 's' },
		{ "batch", required_argument, NULL, 'b' },
		{ "window-s", required_argument, NULL, 'w' },
		{ "dir", required_argument, NULL, 'd' },
		{ "reuse", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t rows = 1000000, ntraces = 1000, nsamples = 200, batch = 10000, window_s = 3600;
	const char *dir = NULL;
	bool reuse = false;
	struct store_cfg cfg = { 0 };
	struct store *st = NULL;
	struct l7_record *buf = NULL;
	int64_t *seeds = NULL;
	double *lat = NULL;
	char path[512];
	FILE *meta;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': rows = strtoull(optarg, NULL, 10); break;
		case 't': ntraces = strtoull(optarg, NULL, 10); break;
		case 's': nsamples = strtoull(optarg, NULL, 10); break;
		case 'b': batch = strtoull(optarg, NULL, 10); break;
		case 'w': window_s = strtoull(optarg, NULL, 10); break;
		case 'd': dir = optarg; break;
		case 'u': reuse = true; break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (!dir || !batch || !ntraces || rows < ntraces * SPANS || !nsamples) {
		usage();
		return 2;
	}
	mkdir(dir, 0755);
	cfg.dir = dir;
	cfg.retention_days = 30;
	rc = store_open(&store_sqlite_ops, &cfg, &st);
	if (rc) {
		fprintf(stderr, "store_open %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	seeds = calloc(ntraces, sizeof(*seeds));
	if (!seeds)
		return 1;
	snprintf(path, sizeof(path), "%s/%s", dir, META_FILE);
	if (!reuse) {
		uint64_t t0_us = ((uint64_t)time(NULL) - 2 * 3600 - window_s) * 1000000ull;
		uint64_t window_us = window_s * 1000000ull, written = 0, seq = 0, next_trace = 0;
		uint64_t every = rows / ntraces, tr = 0;
		double t0 = now_s(), took;

		buf = calloc(batch + SPANS + 4, sizeof(*buf));
		if (!buf)
			return 1;
		/* Ids are rowid_make(time, counter): with instance 1 and the counter from 0,
		 * row k of the run gets counter value k. */
		rowid_set_instance(1);
		while (written < rows) {
			uint64_t slice_us = window_us * batch / rows + 1;
			uint64_t at_us = t0_us + window_us * written / rows;
			size_t n = 0;

			while (n < batch && written + n < rows) {
				if (tr < ntraces && written + n >= next_trace &&
				    written + n + SPANS <= rows) {
					size_t m = trace_rows(buf + n, at_us, slice_us);
					size_t pick = (size_t)(rnd() % m);

					seeds[tr++] = rowid_make(
						(int64_t)(buf[n + pick].end_ns / 1000000000ull),
						seq + n + pick);
					n += m;
					next_trace += every;
					continue;
				}
				n += background(buf + n, at_us, slice_us);
			}
			if (store_write_batch(st, buf, n) != STORE_OK) {
				fprintf(stderr, "write failed: %s\n", store_errmsg(st));
				return 1;
			}
			written += n;
			seq += n;
			if (written % (batch * 100) < n)
				fprintf(stderr, "  %" PRIu64 " rows, %.0f rows/s\n", written,
					(double)written / (now_s() - t0));
		}
		took = now_s() - t0;
		ntraces = tr;
		printf("store: %" PRIu64 " rows (%" PRIu64
		       " traces of %d spans) written in %.1f s: "
		       "%.0f rows/s through store_write_batch, batch %" PRIu64 "\n",
		       written, ntraces, SPANS, took, (double)written / took, batch);
		meta = fopen(path, "w");
		if (!meta)
			return 1;
		for (uint64_t i = 0; i < ntraces; i++)
			fprintf(meta, "%" PRId64 "\n", seeds[i]);
		fclose(meta);
		free(buf);
	} else {
		meta = fopen(path, "r");
		if (!meta || !ntraces) {
			fprintf(stderr, "%s: no seeds file (run without --reuse first)\n", path);
			return 1;
		}
		uint64_t cap = ntraces;

		ntraces = 0;
		while (ntraces < cap && fscanf(meta, "%" SCNd64, &seeds[ntraces]) == 1)
			ntraces++;
		fclose(meta);
	}
	if (nsamples > ntraces)
		nsamples = ntraces;
	lat = calloc(nsamples, sizeof(*lat));
	if (!lat)
		return 1;
	{
		uint64_t complete = 0, rounds = 0, queries = 0, spans = 0;
		double sum = 0;

		/* One warm-up assembly: the first query of a process pays for the schema. */
		for (uint64_t i = 0; i <= nsamples; i++) {
			struct trace_query q = { .id = seeds[i % ntraces] };
			struct trace *t = NULL;
			char err[256];
			double a = now_s();

			rc = trace_assemble(st, NULL, &q, &t, err, sizeof(err));
			if (rc) {
				fprintf(stderr, "trace %" PRId64 ": %s (%s)\n", q.id, strerror(-rc),
					err);
				return 1;
			}
			if (i) {
				lat[i - 1] = (now_s() - a) * 1000;
				sum += lat[i - 1];
				complete += t->norder == SPANS;
				rounds += t->rounds;
				queries += t->queries;
				spans += t->norder;
			}
			trace_free(t);
		}
		qsort(lat, nsamples, sizeof(*lat), cmp_d);
		printf("assembly over %" PRIu64 " traces of %d spans: p50 %.2f ms, p99 %.2f ms, "
		       "max %.2f ms, mean %.2f ms; %.1f rounds, %.1f queries, %.1f spans per "
		       "trace; complete %" PRIu64 "/%" PRIu64 "\n",
		       nsamples, SPANS, lat[nsamples / 2], lat[(nsamples * 99) / 100],
		       lat[nsamples - 1], sum / (double)nsamples, (double)rounds / (double)nsamples,
		       (double)queries / (double)nsamples, (double)spans / (double)nsamples,
		       complete, nsamples);
	}
	free(lat);
	free(seeds);
	store_close(st);
	return 0;
}
