/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SmartEncoding vs plain tag strings (issue 7, docs/benchmarks.md "SmartEncoding"), side by
 * side in one run. One seeded, fixed dataset (a Kubernetes cluster: nodes, namespaces,
 * workloads, pods with containers, processes, network namespaces and labels, services,
 * custom services, outside clients) and --rows l7_flow_log rows over one UTC day whose two
 * sides carry about 30 tags, callers and callees drawn with Zipf-like popularity. The same
 * rows are stored as:
 *   sa  SQLite, SmartEncoded: the schema's integer id columns (tag_id()), names only in the
 *       flow_tag dictionaries, written once;
 *   sb  SQLite, the same tags as text columns in every row (and the labels with them);
 *   sd  (--dense) SQLite, SmartEncoded with small dense ids instead of 63-bit hashes;
 *   ca  ClickHouse, SmartEncoded, tables created by our store (Nullable(Int64) ids);
 *   cb  ClickHouse, tags as String columns;
 *   cc  ClickHouse, tags as LowCardinality(String) columns;
 *   cd  (--dense) ClickHouse, SmartEncoded with dense ids;
 *   ce, cn  ClickHouse, the ids of ca in Int64 or in Nullable(Int64) (the store's type
 *           before LowCardinality(Int64));
 *   s0, c0  no tag columns at all: the baseline that tells what the tags themselves cost.
 * The SQLite variants are written here, not through store_write_batch (whose records have
 * no tag ids yet), with the store's settings: WAL, synchronous=FULL, its cache and
 * checkpoint sizes, one table per UTC day with the store's indexes behind a view, one
 * transaction per batch; the base columns are store_l7_row()'s values, as the store binds
 * them. The ClickHouse variants are written the way our store writes: INSERT ... FORMAT
 * TabSeparated over HTTP, values encoded by ch_tsv_value().
 *
 * Measured per variant: bytes on disk (SQLite: the database file after a TRUNCATE
 * checkpoint; ClickHouse: active parts' bytes_on_disk after OPTIMIZE FINAL, dictionaries
 * included), insert CPU (this process's user+sys spent in the store calls; for ClickHouse
 * also the server's user+sys from /proc/PID/stat over the inserts, PID from
 * $FLOWSCOPE_TEST_CLICKHOUSE_PID), and the best of --runs timings of one tag-filtered
 * aggregation: requests and average latency per calling pod of one namespace to one
 * auto_service. For the SmartEncoded variants its filters are integer predicates through
 * the dictionaries as the tag contract has the query layer write them (written by hand here), and
 * its pod names are decoded from the dictionary. All variants' answers must agree.
 *
 *   python3 tests/integration/chserver.py -- build/bench/encoding_bench --rows 1000000
 *   build/bench/encoding_bench --variants sa,sb,sd --rows 1000000   (SQLite only)
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/record.h"
#include "common/tag_id.h"
#include "common/tag_set.h"
#include "proto/proto.h"
#include "query/sql.h"
#include "query/tag_names.h"
#include "store/ch_format.h"
#include "store/ch_http.h"
#include "store/rowid.h"
#include "store/schema.h"
#include "store/store.h"
#include "store/store_sqlite_sql.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define DEF_ROWS      10000000ull
#define DEF_BATCH     10000u
#define DEF_CH_BATCH  100000u
#define DEF_RUNS      3
#define DEF_SEED      20261122ull
#define DAY0	      1699920000ll /* 2023-11-14 00:00 UTC: every row in this one day */
#define DAY_S	      86400
#define CH_INSERT_CAP (1u << 30)

/* ---- the dataset ---------------------------------------------------------------------- */

#define N_NODES	    20
#define N_NS	    30
#define N_ROLES	    10
#define N_WORKLOADS (N_NS * N_ROLES) /* 300: workload w is role w / 30 in namespace w % 30 */
#define N_SERVICES  200		     /* services select workloads 0..199 */
#define N_CUSTOM    5
#define N_EXTERNAL  50
#define NLABELS	    3 /* labels carried by rows in the plain variants: app, version, team */

/* One side's tags, in the order of the schema's id columns (TAG_ID_COLUMNS). */
enum slot {
	S_HOST,
	S_GPROCESS,
	S_CONTAINER,
	S_NETNS,
	S_CUSTOM_SERVICE,
	S_POD_CLUSTER,
	S_POD_NS,
	S_POD_NODE,
	S_POD,
	S_POD_GROUP,
	S_POD_SERVICE,
	S_AUTO_SERVICE,
	S_AUTO_INSTANCE,
	S__MAX,
};
static const char *const slot_id_col[S__MAX] = {
	"host_id",	  "gprocess_id",     "container_id",	 "netns_id", "custom_service_id",
	"pod_cluster_id", "pod_ns_id",	     "pod_node_id",	 "pod_id",   "pod_group_id",
	"pod_service_id", "auto_service_id", "auto_instance_id",
};
/* The virtual column names of the contract, as the plain variants' text columns. */
static const char *const slot_name_col[S__MAX] = {
	"host",	       "process",      "container",	"netns", "custom_service",
	"pod_cluster", "pod_ns",       "pod_node",	"pod",	 "pod_group",
	"pod_service", "auto_service", "auto_instance",
};
static const char *const label_keys[NLABELS] = { "app", "version", "team" };

struct tag {
	enum tag_kind kind;
	int64_t id;    /* tag_id(kind, key) */
	int64_t dense; /* 1, 2, 3, ... in creation order: the --dense variant's id */
	char *name;
	char *key;
};

struct side {
	const struct tag *t[S__MAX];
	uint8_t ast, ait; /* auto_service / auto_instance kind */
	const char *label[NLABELS];
	uint8_t ip[4];
	uint32_t pid;
	const char *comm;
};

struct workload {
	const struct tag *group, *ns, *service;
	int role;
	size_t pod0, npods; /* its pods: pods[pod0 .. pod0 + npods) */
	char version[16];
	const char *team;
};

struct link {
	const struct tag *id, *attr;
};

struct label {
	const struct tag *id;
	const char *key, *value;
};

struct dataset {
	struct tag *tags;
	size_t ntags, tags_cap;
	struct link *links;
	size_t nlinks, links_cap;
	struct label *labels;
	size_t nlabels, labels_cap;
	struct workload wl[N_WORKLOADS];
	struct side *pods; /* one side per pod (as client or as server) */
	size_t npods;
	struct side custom[N_CUSTOM], external[N_EXTERNAL];
	/* Zipf CDFs: client pods (in a shuffled popularity order), services */
	double *pod_cdf, svc_cdf[N_SERVICES];
	size_t *pod_rank;
	int svc_proto[N_SERVICES];
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static double rnd01(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	return p;
}

static void grow(void **p, size_t *cap, size_t n, size_t sz)
{
	void *q;

	if (n < *cap)
		return;
	*cap = *cap ? *cap * 2 : 1024;
	q = realloc(*p, *cap * sz);
	if (!q) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	*p = q;
}

/* Tags are allocated in chunks that never move, so sides can point at them. */
#define TAG_CHUNK 65536

static const struct tag *new_tag(struct dataset *d, enum tag_kind kind, const char *key,
				 const char *name)
{
	struct tag *t;

	if (!d->tags)
		d->tags = xcalloc(TAG_CHUNK, sizeof(*d->tags));
	if (d->ntags == TAG_CHUNK) {
		fprintf(stderr, "dataset: more than %d tags\n", TAG_CHUNK);
		exit(1);
	}
	t = &d->tags[d->ntags++];
	t->kind = kind;
	t->key = xstrdup(key);
	t->name = xstrdup(name);
	t->id = tag_id_str(kind, key);
	t->dense = (int64_t)d->ntags;
	return t;
}

static void add_link(struct dataset *d, const struct tag *id, const struct tag *attr)
{
	grow((void **)&d->links, &d->links_cap, d->nlinks, sizeof(*d->links));
	d->links[d->nlinks++] = (struct link){ id, attr };
}

static void add_label(struct dataset *d, const struct tag *id, const char *key, const char *val)
{
	grow((void **)&d->labels, &d->labels_cap, d->nlabels, sizeof(*d->labels));
	d->labels[d->nlabels++] = (struct label){ id, xstrdup(key), xstrdup(val) };
}

static const char *const ns_names[N_NS] = {
	"checkout",
	"payments",
	"catalog",
	"search",
	"recommendations",
	"identity",
	"notifications",
	"shipping",
	"inventory",
	"pricing",
	"reviews",
	"ads-serving",
	"analytics",
	"billing",
	"fraud-detection",
	"media",
	"messaging",
	"loyalty",
	"partner-gateway",
	"customer-support",
	"logistics",
	"warehouse",
	"returns",
	"subscriptions",
	"experiments",
	"feature-flags",
	"data-platform",
	"observability",
	"edge",
	"platform-auth",
};
/* role: name suffix, process comm, protocol its service speaks */
static const struct {
	const char *suffix, *comm;
	int proto;
} roles[N_ROLES] = {
	{ "api", "java", PROTO_HTTP1 },		{ "frontend", "node", PROTO_HTTP1 },
	{ "grpc-server", "envoy", PROTO_GRPC }, { "gateway", "nginx", PROTO_HTTP1 },
	{ "db-proxy", "mysqld", PROTO_MYSQL },	{ "cache", "redis-server", PROTO_REDIS },
	{ "backend", "python3", PROTO_HTTP1 },	{ "worker", "python3", PROTO_HTTP1 },
	{ "consumer", "java", PROTO_HTTP1 },	{ "scheduler", "gunicorn", PROTO_HTTP1 },
};
static const char *const teams[] = { "team-core",  "team-growth", "team-infra", "team-data",
				     "team-money", "team-edge",	  "team-trust" };
static const char *const custom_names[N_CUSTOM] = {
	"rds-orders-primary",	    "elasticache-sessions", "s3-gateway-endpoint",
	"legacy-billing-mainframe", "partner-api-payments",
};

static void rand_chars(char *out, size_t n, const char *alphabet)
{
	size_t a = strlen(alphabet);

	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[rnd() % a];
	out[n] = 0;
}

static void zipf_cdf(double *cdf, size_t n, double s)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++) {
		sum += 1.0 / pow((double)(i + 1), s);
		cdf[i] = sum;
	}
	for (size_t i = 0; i < n; i++)
		cdf[i] /= sum;
}

static size_t zipf_pick(const double *cdf, size_t n)
{
	double u = rnd01();
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct tag *ip_tag(struct dataset *d, const uint8_t ip[4])
{
	char a[16];

	snprintf(a, sizeof(a), "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
	return new_tag(d, TAG_IP, a, a);
}

static void dataset_build(struct dataset *d, uint64_t seed)
{
	static const char cluster_name[] = "prod-eu-west-1";
	const struct tag *cluster, *nodes[N_NODES], *hosts[N_NODES], *ns[N_NS];
	char key[512], name[256], hex[80];
	size_t pod_cap = 0;

	rng_state = seed | 1;
	cluster = new_tag(d, TAG_POD_CLUSTER, cluster_name, cluster_name);
	for (int i = 0; i < N_NODES; i++) {
		snprintf(name, sizeof(name), "ip-10-0-%d-%d.eu-west-1.compute.internal", 16 + i / 8,
			 (int)(10 + rnd() % 240));
		hosts[i] = new_tag(d, TAG_HOST, name, name);
		snprintf(key, sizeof(key), "%s/%s", cluster_name, name);
		nodes[i] = new_tag(d, TAG_POD_NODE, key, name);
		add_link(d, nodes[i], cluster);
	}
	for (int i = 0; i < N_NS; i++) {
		snprintf(key, sizeof(key), "%s/%s", cluster_name, ns_names[i]);
		ns[i] = new_tag(d, TAG_POD_NS, key, ns_names[i]);
		add_link(d, ns[i], cluster);
	}
	for (int w = 0; w < N_WORKLOADS; w++)
		pod_cap += 2 + (size_t)(w % 7);
	d->pods = xcalloc(pod_cap, sizeof(*d->pods));
	for (int w = 0; w < N_WORKLOADS; w++) {
		struct workload *wl = &d->wl[w];
		int r = w / N_NS, n = w % N_NS;
		bool sts = r == 4 || r == 5; /* databases and caches are StatefulSets */
		char wname[128], rs[16];

		wl->role = r;
		wl->ns = ns[n];
		snprintf(wname, sizeof(wname), "%s-%s", ns_names[n], roles[r].suffix);
		snprintf(key, sizeof(key), "%s/%s/%s/%s", cluster_name, ns_names[n],
			 sts ? "StatefulSet" : "Deployment", wname);
		wl->group = new_tag(d, TAG_POD_GROUP, key, wname);
		add_link(d, wl->group, ns[n]);
		add_link(d, wl->group, cluster);
		snprintf(wl->version, sizeof(wl->version), "v%d.%d.%d", 1 + (int)(rnd() % 3),
			 (int)(rnd() % 20), (int)(rnd() % 10));
		wl->team = teams[rnd() % ARRAY_SIZE(teams)];
		if (w < N_SERVICES) {
			snprintf(key, sizeof(key), "%s/%s/%s", cluster_name, ns_names[n], wname);
			wl->service = new_tag(d, TAG_POD_SERVICE, key, wname);
			add_link(d, wl->service, ns[n]);
			add_link(d, wl->service, cluster);
			add_label(d, wl->service, "app", wname);
		}
		rand_chars(rs, 10, "bcdfghjklmnpqrstvwxz2456789");
		wl->pod0 = d->npods;
		wl->npods = 2 + (size_t)(w % 7);
		for (size_t p = 0; p < wl->npods; p++) {
			struct side *s = &d->pods[d->npods++];
			int node = (int)(rnd() % N_NODES);
			uint64_t start_us = 1699000000000000ull + rnd() % 900000000000ull;
			char suffix[8];

			if (sts) {
				snprintf(name, sizeof(name), "%s-%zu", wname, p);
			} else {
				rand_chars(suffix, 5, "bcdfghjklmnpqrstvwxz2456789");
				snprintf(name, sizeof(name), "%s-%s-%s", wname, rs, suffix);
			}
			snprintf(key, sizeof(key), "%s/%s/%s", cluster_name, ns_names[n], name);
			s->t[S_POD] = new_tag(d, TAG_POD, key, name);
			s->t[S_POD_CLUSTER] = cluster;
			s->t[S_POD_NS] = ns[n];
			s->t[S_POD_NODE] = nodes[node];
			s->t[S_POD_GROUP] = wl->group;
			s->t[S_HOST] = hosts[node];
			add_link(d, s->t[S_POD], cluster);
			add_link(d, s->t[S_POD], ns[n]);
			add_link(d, s->t[S_POD], nodes[node]);
			add_link(d, s->t[S_POD], wl->group);
			s->pid = 1000 + (uint32_t)(rnd() % 4000000);
			s->comm = roles[r].comm;
			snprintf(key, sizeof(key), "%s/%u/%" PRIu64, hosts[node]->name, s->pid,
				 start_us);
			s->t[S_GPROCESS] = new_tag(d, TAG_GPROCESS, key, s->comm);
			rand_chars(hex, 64, "0123456789abcdef");
			s->t[S_CONTAINER] = new_tag(d, TAG_CONTAINER, hex, hex);
			snprintf(name, sizeof(name), "%u",
				 4026531840u + (unsigned)(rnd() % 100000));
			snprintf(key, sizeof(key), "%s/%s", hosts[node]->name, name);
			s->t[S_NETNS] = new_tag(d, TAG_NETNS, key, name);
			add_link(d, s->t[S_GPROCESS], hosts[node]);
			add_link(d, s->t[S_GPROCESS], s->t[S_CONTAINER]);
			add_link(d, s->t[S_GPROCESS], s->t[S_NETNS]);
			s->ip[0] = 10, s->ip[1] = 244;
			s->ip[2] = (uint8_t)(d->npods >> 8), s->ip[3] = (uint8_t)d->npods;
			/* The pod's auto_instance is the pod; its auto_service its service as a
			 * server; as a client, the one its workload backs, else the workload. */
			s->t[S_POD_SERVICE] = wl->service;
			s->t[S_AUTO_SERVICE] = wl->service ? wl->service : wl->group;
			s->ast = wl->service ? TAG_POD_SERVICE : TAG_POD_GROUP;
			s->t[S_AUTO_INSTANCE] = s->t[S_POD];
			s->ait = TAG_POD;
			s->label[0] = wname;
			s->label[1] = wl->version;
			s->label[2] = wl->team;
			add_label(d, s->t[S_POD], "app", wname);
			add_label(d, s->t[S_POD], "version", wl->version);
			add_label(d, s->t[S_POD], "team", wl->team);
			if (rnd() % 2)
				add_label(d, s->t[S_POD], "tier", r < 4 ? "frontend" : "backend");
			if (rnd() % 2)
				add_label(d, s->t[S_POD], "pod-template-hash", rs);
		}
	}
	/* Custom services: databases and partners outside the cluster, by server IP. */
	for (int i = 0; i < N_CUSTOM; i++) {
		struct side *s = &d->custom[i];

		s->ip[0] = 172, s->ip[1] = 16, s->ip[2] = (uint8_t)i, s->ip[3] = 10;
		s->t[S_CUSTOM_SERVICE] =
			new_tag(d, TAG_CUSTOM_SERVICE, custom_names[i], custom_names[i]);
		s->t[S_AUTO_SERVICE] = s->t[S_CUSTOM_SERVICE];
		s->ast = TAG_CUSTOM_SERVICE;
		s->t[S_AUTO_INSTANCE] = ip_tag(d, s->ip);
		s->ait = TAG_IP;
	}
	/* Clients outside the cluster: only their IP is known. */
	for (int i = 0; i < N_EXTERNAL; i++) {
		struct side *s = &d->external[i];

		s->ip[0] = 203, s->ip[1] = 0, s->ip[2] = 113, s->ip[3] = (uint8_t)(10 + i);
		s->t[S_AUTO_SERVICE] = s->t[S_AUTO_INSTANCE] = ip_tag(d, s->ip);
		s->ast = s->ait = TAG_IP;
	}
	/* Popularity: a random order of pods as callers, services by index. */
	d->pod_cdf = xcalloc(d->npods, sizeof(double));
	d->pod_rank = xcalloc(d->npods, sizeof(size_t));
	for (size_t i = 0; i < d->npods; i++)
		d->pod_rank[i] = i;
	for (size_t i = d->npods - 1; i > 0; i--) {
		size_t j = rnd() % (i + 1), t = d->pod_rank[i];

		d->pod_rank[i] = d->pod_rank[j];
		d->pod_rank[j] = t;
	}
	zipf_cdf(d->pod_cdf, d->npods, 1.0);
	zipf_cdf(d->svc_cdf, N_SERVICES, 1.0);
	for (int i = 0; i < N_SERVICES; i++)
		d->svc_proto[i] = roles[d->wl[i].role].proto;
}

/* ---- rows ----------------------------------------------------------------------------- */

struct row {
	struct l7_record r;
	const struct side *c, *s;
};

static const char *const http_nouns[] = { "orders",   "users",	  "items",  "carts",	"sessions",
					  "invoices", "products", "events", "accounts", "quotes" };

static void row_gen(const struct dataset *d, uint64_t i, uint64_t n, struct row *out)
{
	struct l7_record *r = &out->r;
	uint64_t x = rnd(), t_us, dur_us;
	const struct workload *wl;
	int svc, proto;
	char buf[256];
	int len;

	/* 95 % of callers are pods, 5 % outside clients; 90 % of calls go to services,
	 * 10 % to custom services. */
	if (x % 100 < 95)
		out->c = &d->pods[d->pod_rank[zipf_pick(d->pod_cdf, d->npods)]];
	else
		out->c = &d->external[(x >> 8) % N_EXTERNAL];
	x = rnd();
	if (x % 100 < 90) {
		svc = (int)zipf_pick(d->svc_cdf, N_SERVICES);
		wl = &d->wl[svc];
		out->s = &d->pods[wl->pod0 + (x >> 8) % wl->npods];
		proto = d->svc_proto[svc];
	} else {
		svc = -1;
		wl = NULL;
		out->s = &d->custom[(x >> 8) % N_CUSTOM];
		proto = (x >> 8) % N_CUSTOM == 0   ? PROTO_MYSQL
			: (x >> 8) % N_CUSTOM == 1 ? PROTO_REDIS
						   : PROTO_HTTP1;
	}
	x = rnd();
	/* latency: long-tailed, 200 µs to a few seconds */
	dur_us = 200 + (uint64_t)(exp(rnd01() * 9.0) * (proto == PROTO_REDIS ? 1 : 20));
	t_us = (uint64_t)DAY0 * 1000000ull + (DAY_S * 1000000ull - 10000000ull) * i / n +
	       x % 1000000;
	record_reset(r);
	r->start_ns = (t_us - dur_us) * 1000;
	r->end_ns = t_us * 1000;
	r->type = REC_TYPE_SESSION;
	r->obs = x % 2 ? REC_OBS_CLIENT_PROCESS : REC_OBS_SERVER_PROCESS;
	r->signal_source = REC_SIGNAL_EBPF;
	r->family = 4;
	r->l4_proto = 6;
	r->l7_proto = (uint16_t)proto;
	r->has_request = r->has_response = true;
	memcpy(r->addr0, out->c->ip, 4);
	memcpy(r->addr1, out->s->ip, 4);
	r->client_port = (uint16_t)(32768 + rnd() % 28000);
	r->req_tcp_seq = (uint32_t)rnd();
	r->resp_tcp_seq = (uint32_t)rnd();
	r->req_tid = r->resp_tid = (uint32_t)(1000 + rnd() % 100000);
	if (r->obs == REC_OBS_CLIENT_PROCESS && out->c->comm) {
		r->pid = out->c->pid;
		snprintf(r->comm, sizeof(r->comm), "%s", out->c->comm);
	} else if (out->s->comm) {
		r->pid = out->s->pid;
		snprintf(r->comm, sizeof(r->comm), "%s", out->s->comm);
	}
	x = rnd();
	switch (proto) {
	case PROTO_MYSQL: {
		static const char *const q[] = { "SELECT", "UPDATE", "INSERT", "DELETE" };
		const char *noun = http_nouns[(x >> 8) % ARRAY_SIZE(http_nouns)];

		r->server_port = 3306;
		rec_copy(r->method.s, &r->method.len, sizeof(r->method.s), "COM_QUERY", 9);
		len = snprintf(buf, sizeof(buf), "%s %s WHERE id = %llu", q[x % 4], noun,
			       (unsigned long long)(x % 1000000));
		rec_copy(r->resource.s, &r->resource.len, sizeof(r->resource.s), buf,
			 (uint32_t)len);
		len = snprintf(buf, sizeof(buf), "%s %s", q[x % 4], noun);
		rec_copy(r->endpoint.s, &r->endpoint.len, sizeof(r->endpoint.s), buf,
			 (uint32_t)len);
		r->has_affected_rows = true;
		r->affected_rows = x % 4;
		r->code = -1;
		break;
	}
	case PROTO_REDIS: {
		static const char *const c[] = { "GET", "SET", "HGETALL", "EXPIRE", "DEL" };

		r->server_port = 6379;
		len = snprintf(buf, sizeof(buf), "%s", c[x % 5]);
		rec_copy(r->method.s, &r->method.len, sizeof(r->method.s), buf, (uint32_t)len);
		len = snprintf(buf, sizeof(buf), "%s session:%016llx", c[x % 5],
			       (unsigned long long)(x >> 4));
		rec_copy(r->resource.s, &r->resource.len, sizeof(r->resource.s), buf,
			 (uint32_t)len);
		r->code = -1;
		break;
	}
	default: {
		static const char *const m[] = { "GET", "GET", "GET", "POST", "PUT", "DELETE" };
		const char *noun = http_nouns[(x >> 8) % ARRAY_SIZE(http_nouns)];
		static const int codes[] = { 200, 200, 200, 200, 200, 200, 200, 201,
					     204, 304, 400, 404, 429, 500, 503 };
		const char *ns = wl ? wl->ns->name : "external";

		r->server_port = proto == PROTO_GRPC ? 9090 : 8080;
		len = snprintf(buf, sizeof(buf), "%s", m[x % 6]);
		rec_copy(r->method.s, &r->method.len, sizeof(r->method.s), buf, (uint32_t)len);
		rec_copy(r->version.s, &r->version.len, sizeof(r->version.s),
			 proto == PROTO_GRPC ? "2" : "1.1", proto == PROTO_GRPC ? 1 : 3);
		if (wl)
			len = snprintf(buf, sizeof(buf), "%s.%s.svc.cluster.local:%u",
				       wl->group->name, ns, r->server_port);
		else
			len = snprintf(buf, sizeof(buf), "api.%s.example.com",
				       out->s->t[S_AUTO_SERVICE]->name);
		rec_copy(r->domain.s, &r->domain.len, sizeof(r->domain.s), buf, (uint32_t)len);
		if (proto == PROTO_GRPC)
			len = snprintf(buf, sizeof(buf), "/%s.v1.%sService/Get%s", ns, noun, noun);
		else
			len = snprintf(buf, sizeof(buf), "/api/v1/%s/%llu?include=details", noun,
				       (unsigned long long)(x % 10000000));
		rec_copy(r->resource.s, &r->resource.len, sizeof(r->resource.s), buf,
			 (uint32_t)len);
		if (proto != PROTO_GRPC)
			len = snprintf(buf, sizeof(buf), "/api/v1/%s/{id}", noun);
		rec_copy(r->endpoint.s, &r->endpoint.len, sizeof(r->endpoint.s), buf,
			 (uint32_t)len);
		r->code = codes[(x >> 16) % ARRAY_SIZE(codes)];
		break;
	}
	}
	r->status = r->code >= 500 ? 3 : r->code >= 400 ? 4 : 0;
	r->request_length = 80 + rnd() % 2000;
	r->response_length = 100 + rnd() % 30000;
	if (rnd() % 10 < 4) {
		/* W3C trace context on 40 % of rows */
		rand_chars(buf, 32, "0123456789abcdef");
		rec_copy(r->trace_id.s, &r->trace_id.len, sizeof(r->trace_id.s), buf, 32);
		rand_chars(buf, 16, "0123456789abcdef");
		rec_copy(r->span_id.s, &r->span_id.len, sizeof(r->span_id.s), buf, 16);
	}
}

/* ---- variants ------------------------------------------------------------------------- */

/* ENC_NONE: no tag columns at all, the baseline that tells what the tags cost. */
/* ENC_IDS_INT64 / ENC_IDS_NULLABLE: the same ids in Int64 columns, or in Nullable(Int64)
 * (the store's columns before LowCardinality(Int64)) (ClickHouse only: what another column type
 * would give). */
enum encoding {
	ENC_NONE,
	ENC_IDS,
	ENC_DENSE,
	ENC_IDS_INT64,
	ENC_IDS_NULLABLE,
	ENC_STRING,
	ENC_LOWCARD,
};

struct variant {
	const char *code, *what;
	bool ch;
	enum encoding enc;
	/* results */
	bool ran;
	uint64_t bytes, fact_bytes;
	double cpu, server_cpu, wall, optimize_cpu, query_ms;
	char answer[16384];
};

static struct variant variants[] = {
	{ .code = "s0", .what = "SQLite, no tags (baseline)", .enc = ENC_NONE },
	{ .code = "sa", .what = "SQLite, SmartEncoded (the store: local numbers)", .enc = ENC_IDS },
	{ .code = "sb", .what = "SQLite, plain strings", .enc = ENC_STRING },
	{ .code = "sd", .what = "SQLite, SmartEncoded (dense ids)", .enc = ENC_DENSE },
	{ .code = "c0", .what = "ClickHouse, no tags (baseline)", .ch = true, .enc = ENC_NONE },
	{ .code = "ca",
	  .what = "ClickHouse, SmartEncoded (the store: LowCardinality(Int64))",
	  .ch = true,
	  .enc = ENC_IDS },
	{ .code = "cb", .what = "ClickHouse, String", .ch = true, .enc = ENC_STRING },
	{ .code = "cc",
	  .what = "ClickHouse, LowCardinality(String)",
	  .ch = true,
	  .enc = ENC_LOWCARD },
	{ .code = "cd",
	  .what = "ClickHouse, SmartEncoded (dense ids)",
	  .ch = true,
	  .enc = ENC_DENSE },
	{ .code = "ce",
	  .what = "ClickHouse, SmartEncoded, Int64 (not Nullable)",
	  .ch = true,
	  .enc = ENC_IDS_INT64 },
	{ .code = "cn",
	  .what = "ClickHouse, SmartEncoded, Nullable(Int64) (before)",
	  .ch = true,
	  .enc = ENC_IDS_NULLABLE },
};

static bool encoded(const struct variant *v)
{
	return v->enc == ENC_IDS || v->enc == ENC_DENSE || v->enc == ENC_IDS_INT64 ||
	       v->enc == ENC_IDS_NULLABLE;
}

static int64_t tag_value(const struct variant *v, const struct tag *t)
{
	return !t ? 0 : v->enc == ENC_DENSE ? t->dense : t->id;
}

/* Tag columns of a row, appended after the store_l7_row values, in tag_cols() order. */
#define MAX_TAG_COLS (2 * (S__MAX + 2 + NLABELS))

static size_t tag_cols(const struct variant *v, char names[MAX_TAG_COLS][48], bool text[])
{
	size_t n = 0;

	for (int side = 0; side < 2 && v->enc != ENC_NONE; side++) {
		for (int s = 0; s < S__MAX; s++) {
			text[n] = !encoded(v);
			snprintf(names[n++], 48, "%s_%d",
				 encoded(v) ? slot_id_col[s] : slot_name_col[s], side);
			if (s == S_AUTO_SERVICE || s == S_AUTO_INSTANCE) {
				text[n] = false;
				snprintf(names[n++], 48, "%s_type_%d",
					 s == S_AUTO_SERVICE ? "auto_service" : "auto_instance",
					 side);
			}
		}
		for (int l = 0; !encoded(v) && l < NLABELS; l++) {
			text[n] = true;
			snprintf(names[n++], 48, "label_%s_%d", label_keys[l], side);
		}
	}
	return n;
}

static size_t tag_values(const struct variant *v, const struct row *row, struct store_value *out)
{
	size_t n = 0;

	for (int side = 0; side < 2 && v->enc != ENC_NONE; side++) {
		const struct side *sd = side ? row->s : row->c;

		for (int s = 0; s < S__MAX; s++) {
			const struct tag *t = sd->t[s];

			if (encoded(v))
				out[n++] = (struct store_value){ .type = STORE_INT,
								 .i = tag_value(v, t) };
			else
				out[n++] = (struct store_value){ .type = STORE_TEXT,
								 .s = t ? t->name : "",
								 .len = t ? strlen(t->name) : 0 };
			if (s == S_AUTO_SERVICE || s == S_AUTO_INSTANCE)
				out[n++] =
					(struct store_value){ .type = STORE_INT,
							      .i = s == S_AUTO_SERVICE ? sd->ast
										       : sd->ait };
		}
		for (int l = 0; !encoded(v) && l < NLABELS; l++) {
			const char *lv = sd->label[l] ? sd->label[l] : "";

			out[n++] = (struct store_value){ .type = STORE_TEXT,
							 .s = lv,
							 .len = strlen(lv) };
		}
	}
	return n;
}

static bool is_id_col(const char *name)
{
	char buf[48];

	for (int side = 0; side < 2; side++) {
		for (int s = 0; s < S__MAX; s++) {
			snprintf(buf, sizeof(buf), "%s_%d", slot_id_col[s], side);
			if (!strcmp(buf, name))
				return true;
		}
		snprintf(buf, sizeof(buf), "auto_service_type_%d", side);
		if (!strcmp(buf, name))
			return true;
		snprintf(buf, sizeof(buf), "auto_instance_type_%d", side);
		if (!strcmp(buf, name))
			return true;
	}
	return false;
}

/* The query's constants: the namespace of the most popular caller, the top service. */
struct query_args {
	const char *ns, *svc;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

/* ---- SQLite ------------------------------------------------------------------------------ */

struct sq {
	sqlite3 *db;
	sqlite3_stmt *ins;
	char path[640];
};

static int sq_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc) {
		fprintf(stderr, "sqlite: %s\n  in: %.300s\n", err ? err : sqlite3_errstr(rc), sql);
		sqlite3_free(err);
	}
	return rc;
}

static void day_suffix(char *buf, size_t cap)
{
	time_t t = (time_t)DAY0;
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, cap, "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* The store's open: WAL, synchronous=FULL, its page cache and checkpoint interval. */
static int sq_open_db(struct sq *q, const char *dir)
{
	int rc;

	mkdir(dir, 0755);
	snprintf(q->path, sizeof(q->path), "%s/%s", dir, SQLITE_DB_FILE);
	unlink(q->path);
	rc = sqlite3_open_v2(q->path, &q->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc)
		return rc;
	rc = sq_exec(q->db, SQL_PRAGMA_AUTO_VACUUM);
	if (!rc)
		rc = sq_exec(q->db, SQL_PRAGMA_WAL);
	if (!rc)
		rc = sq_exec(q->db, SQL_PRAGMA_SYNC);
	if (!rc)
		rc = sq_exec(q->db, SQL_PRAGMA_WRITE_CACHE);
	if (!rc)
		rc = sq_exec(q->db, SQL_PRAGMA_CHECKPOINT);
	return rc;
}

/* One day table of a store table plus its view, with the store's indexes (store_sqlite.c
 * partition_indexes: the time column, then SQL_INDEXES, sparse ones where not empty). */
static int sq_create(sqlite3 *db, const char *store_name, const char *schema_name,
		     const char *cols_sql, const char *view_cols)
{
	static const struct {
		const char *table;
		const char *cols[SQL_INDEX_MAX_COLUMNS];
	} ix[] = SQL_INDEXES;
	const struct schema_table *t = schema_find_table(NULL, schema_name);
	char day[40], part[128];
	sqlite3_str *s = sqlite3_str_new(db);
	char *sql;
	int rc;

	day_suffix(day, sizeof(day));
	snprintf(part, sizeof(part), "%s_%s", store_name, day);
	sqlite3_str_appendf(s, SQL_CREATE_PARTITION_HEAD_FMT "%s)", part, cols_sql);
	sqlite3_str_appendf(s, ";" SQL_CREATE_INDEX_FMT, part, "time", part, "time");
	for (size_t i = 0; t && i < ARRAY_SIZE(ix); i++) {
		const struct schema_column *c;

		if (strcmp(ix[i].table, schema_name))
			continue;
		if (ix[i].cols[1]) {
			continue; /* composite ones are l4_flow_log's only */
		}
		c = schema_find_column(t, ix[i].cols[0]);
		if (!c)
			continue;
		if (!(c->flags & SCHEMA_F_SPARSE))
			sqlite3_str_appendf(s, ";" SQL_CREATE_INDEX_FMT, part, c->name, part,
					    c->name);
		else if (c->type == SCHEMA_INT)
			sqlite3_str_appendf(s, ";" SQL_CREATE_SPARSE_INT_INDEX_FMT, part, c->name,
					    part, c->name, c->name);
		else
			sqlite3_str_appendf(s, ";" SQL_CREATE_SPARSE_INDEX_FMT, part, c->name, part,
					    c->name, c->name);
	}
	sqlite3_str_appendf(s, ";" SQL_CREATE_VIEW_HEAD_FMT SQL_VIEW_PART_FMT, store_name,
			    view_cols, part);
	sql = sqlite3_str_finish(s);
	if (!sql)
		return SQLITE_NOMEM;
	rc = sq_exec(db, sql);
	sqlite3_free(sql);
	return rc;
}

static const char *sq_type(enum schema_type t)
{
	return t == SCHEMA_INT ? "INTEGER" : t == SCHEMA_REAL ? "REAL" : "TEXT";
}

/* A schema table's day table and view, exactly as the store creates it. */
static int sq_create_schema_table(sqlite3 *db, const char *db_name, const char *name)
{
	const struct schema_table *t = schema_find_table(db_name, name);
	sqlite3_str *c = sqlite3_str_new(db), *v = sqlite3_str_new(db);
	char *cs, *vs;
	int rc;

	for (size_t i = 0; i < t->ncolumns; i++) {
		sqlite3_str_appendf(c, "%s\"%s\" %s", i ? ", " : "", t->columns[i].name,
				    sq_type(t->columns[i].type));
		sqlite3_str_appendf(v, "%s\"%s\"", i ? ", " : "", t->columns[i].name);
	}
	cs = sqlite3_str_finish(c);
	vs = sqlite3_str_finish(v);
	rc = cs && vs ? sq_create(db, t->store_name, t->name, cs, vs) : SQLITE_NOMEM;
	sqlite3_free(cs);
	sqlite3_free(vs);
	return rc;
}

/*
 * l7_flow_log of a variant: the SmartEncoded ones are the schema's table as it is; the
 * plain one is the schema's table without the id columns and with the text tag columns.
 */
static int sq_create_l7(struct sq *q, const struct variant *v)
{
	const struct schema_table *t = schema_find_table("flow_log", "l7_flow_log");
	char names[MAX_TAG_COLS][48];
	bool text[MAX_TAG_COLS];
	size_t nt = tag_cols(v, names, text);
	sqlite3_str *c, *vc;
	char *cs, *vs;
	int rc, nc = 0;

	if (encoded(v))
		return sq_create_schema_table(q->db, "flow_log", "l7_flow_log");
	c = sqlite3_str_new(q->db);
	vc = sqlite3_str_new(q->db);
	for (size_t i = 0; i < t->ncolumns; i++) {
		if (is_id_col(t->columns[i].name))
			continue;
		sqlite3_str_appendf(c, "%s\"%s\" %s", nc ? ", " : "", t->columns[i].name,
				    sq_type(t->columns[i].type));
		sqlite3_str_appendf(vc, "%s\"%s\"", nc++ ? ", " : "", t->columns[i].name);
	}
	for (size_t i = 0; i < nt; i++) {
		sqlite3_str_appendf(c, ", \"%s\" %s", names[i], text[i] ? "TEXT" : "INTEGER");
		sqlite3_str_appendf(vc, ", \"%s\"", names[i]);
	}
	cs = sqlite3_str_finish(c);
	vs = sqlite3_str_finish(vc);
	rc = cs && vs ? sq_create(q->db, "l7_flow_log", "l7_flow_log", cs, vs) : SQLITE_NOMEM;
	sqlite3_free(cs);
	sqlite3_free(vs);
	return rc;
}

static int sq_prepare_insert(sqlite3 *db, const char *store_name, const char *const *cols, size_t n,
			     sqlite3_stmt **out)
{
	sqlite3_str *c = sqlite3_str_new(db), *p = sqlite3_str_new(db);
	char day[40], part[128], *cs, *ps, *sql;
	int rc;

	day_suffix(day, sizeof(day));
	snprintf(part, sizeof(part), "%s_%s", store_name, day);
	for (size_t i = 0; i < n; i++) {
		sqlite3_str_appendf(c, "%s\"%s\"", i ? ", " : "", cols[i]);
		sqlite3_str_appendf(p, "%s?", i ? ", " : "");
	}
	cs = sqlite3_str_finish(c);
	ps = sqlite3_str_finish(p);
	sql = sqlite3_mprintf(SQL_INSERT_FMT, part, cs, ps);
	rc = sql ? sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL)
		 : SQLITE_NOMEM;
	if (rc)
		fprintf(stderr, "sqlite: prepare: %s\n", sqlite3_errmsg(db));
	sqlite3_free(cs);
	sqlite3_free(ps);
	sqlite3_free(sql);
	return rc;
}

static int sq_bind(sqlite3_stmt *st, int idx, const struct store_value *v)
{
	switch (v->type) {
	case STORE_INT: return sqlite3_bind_int64(st, idx, v->i);
	case STORE_REAL: return sqlite3_bind_double(st, idx, v->d);
	case STORE_TEXT:
		return sqlite3_bind_text64(st, idx, v->s ? v->s : "", v->s ? v->len : 0,
					   SQLITE_STATIC, SQLITE_UTF8);
	default: return sqlite3_bind_null(st, idx);
	}
}

static int sq_step(sqlite3_stmt *st, const struct store_value *vals, size_t n)
{
	int rc = SQLITE_OK;

	for (size_t c = 0; c < n && !rc; c++)
		rc = sq_bind(st, (int)c + 1, &vals[c]);
	if (!rc)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc ? rc : SQLITE_ERROR;
}

/* The dictionaries of a SmartEncoded variant, written once (the tagger writes an entry
 * when it first sees it): tag_dict, tag_link, k8s_label, in one transaction. */
static int sq_write_dicts(struct sq *q, const struct variant *v, const struct dataset *d)
{
	static const char *const dict_cols[] = { "time", "id", "kind", "name", "key" };
	static const char *const link_cols[] = { "time", "id", "attr_kind", "attr_id" };
	static const char *const label_cols[] = { "time", "id", "key", "value" };
	sqlite3_stmt *sd = NULL, *sl = NULL, *sk = NULL;
	struct store_value val[5];
	int rc;

	rc = sq_create_schema_table(q->db, "flow_tag", "tag_dict");
	if (!rc)
		rc = sq_create_schema_table(q->db, "flow_tag", "tag_link");
	if (!rc)
		rc = sq_create_schema_table(q->db, "flow_tag", "k8s_label");
	if (!rc)
		rc = sq_prepare_insert(q->db, "flow_tag_tag_dict", dict_cols, 5, &sd);
	if (!rc)
		rc = sq_prepare_insert(q->db, "flow_tag_tag_link", link_cols, 4, &sl);
	if (!rc)
		rc = sq_prepare_insert(q->db, "flow_tag_k8s_label", label_cols, 4, &sk);
	if (!rc)
		rc = sq_exec(q->db, SQL_BEGIN);
	for (size_t i = 0; i < d->ntags && !rc; i++) {
		const struct tag *t = &d->tags[i];

		val[0] = (struct store_value){ .type = STORE_INT, .i = DAY0 };
		val[1] = (struct store_value){ .type = STORE_INT, .i = tag_value(v, t) };
		val[2] = (struct store_value){ .type = STORE_INT, .i = t->kind };
		val[3] = (struct store_value){ .type = STORE_TEXT,
					       .s = t->name,
					       .len = strlen(t->name) };
		val[4] = (struct store_value){ .type = STORE_TEXT,
					       .s = t->key,
					       .len = strlen(t->key) };
		rc = sq_step(sd, val, 5);
	}
	for (size_t i = 0; i < d->nlinks && !rc; i++) {
		val[1] = (struct store_value){ .type = STORE_INT,
					       .i = tag_value(v, d->links[i].id) };
		val[2] = (struct store_value){ .type = STORE_INT, .i = d->links[i].attr->kind };
		val[3] = (struct store_value){ .type = STORE_INT,
					       .i = tag_value(v, d->links[i].attr) };
		rc = sq_step(sl, val, 4);
	}
	for (size_t i = 0; i < d->nlabels && !rc; i++) {
		const struct label *l = &d->labels[i];

		val[1] = (struct store_value){ .type = STORE_INT, .i = tag_value(v, l->id) };
		val[2] = (struct store_value){ .type = STORE_TEXT,
					       .s = l->key,
					       .len = strlen(l->key) };
		val[3] = (struct store_value){ .type = STORE_TEXT,
					       .s = l->value,
					       .len = strlen(l->value) };
		rc = sq_step(sk, val, 4);
	}
	if (!rc)
		rc = sq_exec(q->db, SQL_COMMIT);
	sqlite3_finalize(sd);
	sqlite3_finalize(sl);
	sqlite3_finalize(sk);
	return rc;
}

/* ---- the query ------------------------------------------------------------------------------ */

/* For the SmartEncoded variants, as the query layer translates `pod_ns_0 = ? AND
 * auto_service_1 = ?` grouped by pod_0 (the tag contract, DESIGN §5): integer predicates through
 * the dictionary, names decoded from its newest version. */
#define SQ_QUERY_IDS                                                                               \
	"SELECT d.name, g.n, g.lat FROM (SELECT \"pod_id_0\" AS id, count(*) AS n, "               \
	"avg(\"response_duration\") AS lat FROM \"l7_flow_log\" WHERE \"pod_ns_id_0\" IN "         \
	"(SELECT id FROM \"flow_tag_tag_dict\" WHERE kind = 8 AND name = ?1) AND "                 \
	"\"auto_service_id_1\" IN (SELECT id FROM \"flow_tag_tag_dict\" WHERE kind IN "            \
	"(1, 3, 6, 11, 12) AND name = ?2) GROUP BY \"pod_id_0\") AS g LEFT JOIN (SELECT id, "      \
	"name, max(time) FROM \"flow_tag_tag_dict\" WHERE kind = 10 GROUP BY id) AS d ON "         \
	"d.id = g.id ORDER BY d.name"
#define SQ_QUERY_STRINGS                                                                           \
	"SELECT \"pod_0\", count(*), avg(\"response_duration\") FROM \"l7_flow_log\" WHERE "       \
	"\"pod_ns_0\" = ?1 AND \"auto_service_1\" = ?2 GROUP BY \"pod_0\" ORDER BY \"pod_0\""

static void answer_add(char *ans, size_t cap, const char *name, long long n, double lat)
{
	size_t len = strlen(ans);

	snprintf(ans + len, cap - len, "%s|%lld|%.3f\n", name, n, lat);
}

static int sq_query(struct sq *q, const struct variant *v, const struct query_args *qa, char *ans,
		    size_t cap)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(q->db, encoded(v) ? SQ_QUERY_IDS : SQ_QUERY_STRINGS, -1, &st, NULL);
	if (rc) {
		fprintf(stderr, "sqlite: query: %s\n", sqlite3_errmsg(q->db));
		return rc;
	}
	sqlite3_bind_text(st, 1, qa->ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, qa->svc, -1, SQLITE_STATIC);
	ans[0] = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		answer_add(ans, cap, (const char *)sqlite3_column_text(st, 0),
			   sqlite3_column_int64(st, 1), sqlite3_column_double(st, 2));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static uint64_t file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) ? 0 : (uint64_t)sb.st_size;
}

/* Pages of l7_flow_log's day table and its indexes (dbstat), or 0 if SQLite lacks it. */
static uint64_t sq_fact_bytes(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	uint64_t n = 0;

	if (sqlite3_prepare_v2(db, "SELECT sum(pgsize) FROM dbstat WHERE name GLOB 'l7_flow_log_*'",
			       -1, &st, NULL))
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

struct run_cfg {
	const struct dataset *d;
	const char *dir, *ch_base;
	uint64_t rows, row_seed;
	unsigned batch, ch_batch;
	int runs;
	int ch_pid;
	bool keep; /* keep each variant's data (else it goes once measured: 10^7 rows of
		    * every variant at once would need tens of GB) */
	struct query_args qa;
};

static int sq_run(struct variant *v, const struct run_cfg *rc_)
{
	const char *cols[L7C__MAX + MAX_TAG_COLS];
	char names[MAX_TAG_COLS][48], dir[512];
	bool text[MAX_TAG_COLS];
	size_t nt = tag_cols(v, names, text), ncols = L7C_TAGS_0 + nt;
	struct store_value vals[L7C__MAX + MAX_TAG_COLS];
	struct store_addr_buf ab;
	struct row *buf = xcalloc(rc_->batch, sizeof(*buf));
	struct sq q = { 0 };
	uint64_t written = 0;
	double c0, w0;
	int rc;

	/* store_l7_row()'s columns but its tag block, which the variant's own columns replace */
	for (size_t i = 0; i < L7C_TAGS_0; i++)
		cols[i] = store_l7_col_names[i];
	for (size_t i = 0; i < nt; i++)
		cols[L7C_TAGS_0 + i] = names[i];
	snprintf(dir, sizeof(dir), "%s/%s", rc_->dir, v->code);
	rc = sq_open_db(&q, dir);
	if (!rc)
		rc = sq_create_l7(&q, v);
	if (!rc)
		rc = sq_prepare_insert(q.db, "l7_flow_log", cols, ncols, &q.ins);
	if (rc)
		goto out;
	/* Timed: the dictionaries (once) and every batch's transaction, not row generation. */
	c0 = cpu_s(), w0 = mono_s();
	if (encoded(v))
		rc = sq_write_dicts(&q, v, rc_->d);
	v->cpu += cpu_s() - c0, v->wall += mono_s() - w0;
	rng_state = rc_->row_seed;
	while (!rc && written < rc_->rows) {
		size_t n = rc_->rows - written < rc_->batch ? rc_->rows - written : rc_->batch;

		for (size_t k = 0; k < n; k++)
			row_gen(rc_->d, written + k, rc_->rows, &buf[k]);
		c0 = cpu_s(), w0 = mono_s();
		rc = sq_exec(q.db, SQL_BEGIN);
		for (size_t k = 0; k < n && !rc; k++) {
			store_l7_row(&buf[k].r, written + k, vals, &ab);
			tag_values(v, &buf[k], vals + L7C_TAGS_0);
			rc = sq_step(q.ins, vals, ncols);
		}
		if (!rc)
			rc = sq_exec(q.db, SQL_COMMIT);
		v->cpu += cpu_s() - c0, v->wall += mono_s() - w0;
		written += n;
		if (written % (rc_->batch * 100) < n)
			fprintf(stderr, "  %s: %" PRIu64 " rows\n", v->code, written);
	}
	if (rc) {
		fprintf(stderr, "sqlite %s: write: %s\n", v->code, sqlite3_errmsg(q.db));
		goto out;
	}
	rc = sq_exec(q.db, "PRAGMA wal_checkpoint(TRUNCATE)");
	if (rc)
		goto out;
	{
		char wal[700];

		snprintf(wal, sizeof(wal), "%s-wal", q.path);
		v->bytes = file_size(q.path) + file_size(wal);
	}
	v->fact_bytes = sq_fact_bytes(q.db);
	v->query_ms = 0;
	for (int r = 0; r < rc_->runs && !rc && v->enc != ENC_NONE; r++) {
		double t0 = mono_s();

		rc = sq_query(&q, v, &rc_->qa, v->answer, sizeof(v->answer));
		if (!r || (mono_s() - t0) * 1000 < v->query_ms)
			v->query_ms = (mono_s() - t0) * 1000;
	}
	v->ran = !rc;
out:
	sqlite3_finalize(q.ins);
	sqlite3_close_v2(q.db);
	if (!rc_->keep)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(buf);
	return rc ? -EIO : 0;
}

/* ---- SQLite through the store ------------------------------------------------------------ */

/*
 * `sa`: the product's path. Rows carry their tags (l7_record.tags, as the tagger fills
 * them) and go through store_write_batch, which stores them as the SQLite store does
 * (store-local numbers, flow_tag_tag_local); the dictionaries go through store_write_rows
 * as the tagger's rows do; the query is the flowscope SQL translated by the query layer
 * (SQLite dialect), run with store_query, and its pod ids named by tag_names as the
 * server names them.
 */
static void side_tags(const struct side *sd, struct tag_set *ts)
{
	int64_t v[S__MAX];

	for (int s = 0; s < S__MAX; s++)
		v[s] = sd->t[s] ? sd->t[s]->id : 0;
	*ts = (struct tag_set){
		.host = v[S_HOST],
		.gprocess = v[S_GPROCESS],
		.container = v[S_CONTAINER],
		.netns = v[S_NETNS],
		.custom_service = v[S_CUSTOM_SERVICE],
		.pod_cluster = v[S_POD_CLUSTER],
		.pod_ns = v[S_POD_NS],
		.pod_node = v[S_POD_NODE],
		.pod = v[S_POD],
		.pod_group = v[S_POD_GROUP],
		.pod_service = v[S_POD_SERVICE],
		.auto_service = v[S_AUTO_SERVICE],
		.auto_instance = v[S_AUTO_INSTANCE],
		.auto_service_type = sd->ast,
		.auto_instance_type = sd->ait,
	};
}

#define STORE_TAG_BATCH 4096

static int store_write_dicts(struct store *st, const struct dataset *d)
{
	struct store_tag_row *tr = xcalloc(STORE_TAG_BATCH, sizeof(*tr));
	size_t total = d->ntags + d->nlinks + d->nlabels, n = 0;
	int rc = 0;

#define SV_I(x) ((struct store_value){ .type = STORE_INT, .i = (x) })
#define SV_T(x) ((struct store_value){ .type = STORE_TEXT, .s = (x), .len = strlen(x) })
	for (size_t i = 0; i < total && !rc; i++) {
		struct store_tag_row *r = &tr[n++];

		memset(r, 0, sizeof(*r));
		if (i < d->ntags) {
			const struct tag *t = &d->tags[i];

			*r = (struct store_tag_row){ STAG_DICT,
						     { SV_I(DAY0), SV_I(t->id), SV_I(t->kind),
						       SV_T(t->name), SV_T(t->key) } };
		} else if (i < d->ntags + d->nlinks) {
			const struct link *l = &d->links[i - d->ntags];

			*r = (struct store_tag_row){ STAG_LINK,
						     { SV_I(DAY0), SV_I(l->id->id),
						       SV_I(l->attr->kind), SV_I(l->attr->id) } };
		} else {
			const struct label *l = &d->labels[i - d->ntags - d->nlinks];

			*r = (struct store_tag_row){ STAG_LABEL,
						     { SV_I(DAY0), SV_I(l->id->id), SV_T(l->key),
						       SV_T(l->value) } };
		}
		if (n == STORE_TAG_BATCH || i + 1 == total) {
			struct store_batch b = { .tags = tr, .ntags = n };

			rc = store_write_rows(st, NULL, &b) == STORE_OK ? 0 : -EIO;
			n = 0;
		}
	}
#undef SV_I
#undef SV_T
	free(tr);
	return rc;
}

struct pod_row {
	int64_t id;
	long long n;
	double lat;
	char *name;
};

struct pod_rows {
	struct pod_row r[4096];
	size_t n;
};

static int collect_pod_row(void *ctx, const struct store_value *v, size_t ncols)
{
	struct pod_rows *pr = ctx;

	if (ncols < 3 || pr->n == ARRAY_SIZE(pr->r))
		return -E2BIG;
	pr->r[pr->n++] =
		(struct pod_row){ .id = v[0].type == STORE_INT ? v[0].i : 0,
				  .n = v[1].i,
				  .lat = v[2].type == STORE_REAL ? v[2].d : (double)v[2].i };
	return 0;
}

static int cmp_pod_row(const void *a, const void *b)
{
	const struct pod_row *x = a, *y = b;

	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static int store_query_pods(struct store *st, const struct query_args *qa, char *ans, size_t cap)
{
	char sql[512], err[256];
	struct query_plan plan;
	struct store_value params[8];
	struct pod_rows *pr = xcalloc(1, sizeof(*pr));
	struct tag_names *tn = tag_names_new(0, 0);
	int64_t *ids = NULL;
	char **names = NULL;
	int rc;

	/* The namespace and service names are the dataset's own (no quotes in them). */
	snprintf(sql, sizeof(sql),
		 "SELECT pod_0, count(*), avg(response_duration) FROM l7_flow_log WHERE "
		 "pod_ns_0 = '%s' AND auto_service_1 = '%s' GROUP BY pod_0",
		 qa->ns, qa->svc);
	rc = query_translate(sql, "flow_log", &plan, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "query: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < plan.nparams && i < ARRAY_SIZE(params); i++)
		params[i] =
			plan.params[i].type == QUERY_PARAM_TEXT
				? (struct store_value){ .type = STORE_TEXT,
							.s = plan.params[i].s,
							.len = plan.params[i].len }
				: (struct store_value){ .type = STORE_INT, .i = plan.params[i].i };
	rc = store_query(st, plan.sql, params, plan.nparams, NULL, NULL, collect_pod_row, pr);
	query_plan_free(&plan);
	if (rc) {
		fprintf(stderr, "query: %s\n", store_errmsg(st));
		goto out;
	}
	/* the server's naming of a result's tag ids */
	ids = xcalloc(pr->n + 1, sizeof(*ids));
	names = xcalloc(pr->n + 1, sizeof(*names));
	for (size_t i = 0; i < pr->n; i++)
		ids[i] = pr->r[i].id;
	rc = tag_names_lookup(tn, st, NULL, ids, pr->n, names);
	if (rc)
		goto out;
	for (size_t i = 0; i < pr->n; i++)
		pr->r[i].name = names[i];
	qsort(pr->r, pr->n, sizeof(pr->r[0]), cmp_pod_row);
	ans[0] = 0;
	for (size_t i = 0; i < pr->n; i++)
		answer_add(ans, cap, pr->r[i].name ? pr->r[i].name : "", pr->r[i].n, pr->r[i].lat);
out:
	for (size_t i = 0; names && i < pr->n; i++)
		free(names[i]);
	free(names);
	free(ids);
	free(pr);
	tag_names_free(tn);
	return rc;
}

static int sq_store_run(struct variant *v, const struct run_cfg *rc_)
{
	struct store_cfg cfg = { 0 };
	struct l7_record *recs = xcalloc(rc_->batch, sizeof(*recs));
	struct row *buf = xcalloc(rc_->batch, sizeof(*buf));
	struct store *st = NULL;
	char dir[512], path[640];
	uint64_t written = 0;
	double c0, w0;
	int rc;

	snprintf(dir, sizeof(dir), "%s/%s", rc_->dir, v->code);
	cfg.dir = dir;
	cfg.retention_days = STORE_MAX_RETENTION_DAYS; /* DAY0 is in the past */
	rc = store_open(&store_sqlite_ops, &cfg, &st);
	if (rc) {
		fprintf(stderr, "sqlite %s: open: %s\n", v->code, strerror(-rc));
		goto out;
	}
	c0 = cpu_s(), w0 = mono_s();
	rc = store_write_dicts(st, rc_->d);
	v->cpu += cpu_s() - c0, v->wall += mono_s() - w0;
	rng_state = rc_->row_seed;
	while (!rc && written < rc_->rows) {
		size_t n = rc_->rows - written < rc_->batch ? rc_->rows - written : rc_->batch;

		for (size_t k = 0; k < n; k++) {
			row_gen(rc_->d, written + k, rc_->rows, &buf[k]);
			recs[k] = buf[k].r;
			side_tags(buf[k].c, &recs[k].tags[0]);
			side_tags(buf[k].s, &recs[k].tags[1]);
		}
		c0 = cpu_s(), w0 = mono_s();
		rc = store_write_batch(st, recs, n) == STORE_OK ? 0 : -EIO;
		v->cpu += cpu_s() - c0, v->wall += mono_s() - w0;
		written += n;
		if (written % (rc_->batch * 100) < n)
			fprintf(stderr, "  %s: %" PRIu64 " rows\n", v->code, written);
	}
	if (rc) {
		fprintf(stderr, "sqlite %s: write: %s\n", v->code, store_errmsg(st));
		goto out;
	}
	v->query_ms = 0;
	for (int r = 0; r < rc_->runs && !rc; r++) {
		double t0 = mono_s();

		rc = store_query_pods(st, &rc_->qa, v->answer, sizeof(v->answer));
		if (!r || (mono_s() - t0) * 1000 < v->query_ms)
			v->query_ms = (mono_s() - t0) * 1000;
	}
	/* Closing checkpoints the WAL into the file and removes it. */
	store_close(st);
	st = NULL;
	snprintf(path, sizeof(path), "%s/flowscope.db", dir);
	v->bytes = file_size(path);
	{
		sqlite3 *db = NULL;

		if (!sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL))
			v->fact_bytes = sq_fact_bytes(db);
		sqlite3_close_v2(db);
	}
	v->ran = !rc;
out:
	store_close(st);
	if (!rc_->keep)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(recs);
	free(buf);
	return rc ? -EIO : 0;
}

/* ---- ClickHouse ------------------------------------------------------------------------------ */

static int ch_collect(void *ctx, const char *p, size_t n)
{
	ch_buf_add(ctx, p, n);
	return 0;
}

/* One statement (in the URL when body is NULL, else the body is its data). */
static int ch_exec(struct ch_http *h, const char *db, const char *extra, const char *sql,
		   const char *body, size_t len, struct ch_buf *out)
{
	struct ch_http_result res;
	char *esc = ch_http_escape(h, sql, strlen(sql)), *params;
	int rc;

	if (!esc || asprintf(&params, "database=%s&query=%s%s%s", db, esc, extra ? "&" : "",
			     extra ? extra : "") < 0) {
		ch_http_free_str(esc);
		return -ENOMEM;
	}
	ch_http_free_str(esc);
	rc = ch_http_post(h, params, body, len, 0, out ? ch_collect : NULL, out, &res);
	free(params);
	if (!rc && res.status != 200)
		rc = -EIO;
	if (rc)
		fprintf(stderr, "clickhouse: %.200s: %s (HTTP %ld)\n", sql, res.error, res.status);
	return rc;
}

static int ch_scalar(struct ch_http *h, const char *sql, int64_t *out)
{
	struct ch_buf b;
	int rc;

	ch_buf_init(&b, 1 << 20);
	rc = ch_exec(h, "default", NULL, sql, NULL, 0, &b);
	ch_buf_add(&b, "", 1);
	if (!rc)
		*out = b.p ? strtoll(b.p, NULL, 10) : 0;
	ch_buf_free(&b);
	return rc;
}

/* user+sys of the server, from /proc/PID/stat (fields 14 and 15, after the comm). */
static double proc_cpu_s(int pid)
{
	char path[64], buf[2048], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static const char *ch_type(enum schema_type t)
{
	return t == SCHEMA_INT	  ? "Nullable(Int64)"
	       : t == SCHEMA_REAL ? "Nullable(Float64)"
				  : "Nullable(String)";
}

/*
 * l7_flow_log of the variants whose table is not the store's own: the store's layout
 * (MergeTree by day, ordered by time, Nullable columns), with the tags as String or
 * LowCardinality(String) columns instead of the ids, or with the ids in another type.
 */
static int ch_create_l7(struct ch_http *h, const char *db, const struct variant *v)
{
	const struct schema_table *t = schema_find_table("flow_log", "l7_flow_log");
	const char *id_type = v->enc == ENC_IDS_INT64	   ? "Int64"
			      : v->enc == ENC_IDS_NULLABLE ? "Nullable(Int64)"
							   : NULL;
	char names[MAX_TAG_COLS][48];
	bool text[MAX_TAG_COLS];
	size_t nt = encoded(v) ? 0 : tag_cols(v, names, text);
	struct ch_buf b;
	int rc;

	ch_buf_init(&b, 1 << 20);
	ch_buf_printf(&b, "CREATE TABLE \"l7_flow_log\" (\"time\" Int64");
	for (size_t i = 0; i < t->ncolumns; i++) {
		const char *name = t->columns[i].name;

		if (!strcmp(name, "time") || (is_id_col(name) && !id_type))
			continue;
		ch_buf_printf(&b, ", \"%s\" %s", name,
			      is_id_col(name) ? id_type : ch_type(t->columns[i].type));
	}
	for (size_t i = 0; i < nt; i++)
		ch_buf_printf(&b, ", \"%s\" %s", names[i],
			      !text[i]		      ? "Nullable(Int64)"
			      : v->enc == ENC_LOWCARD ? "LowCardinality(String)"
						      : "String");
	ch_buf_printf(&b,
		      ") ENGINE = MergeTree PARTITION BY intDiv(\"time\", %d) ORDER BY \"time\"",
		      DAY_S);
	ch_buf_add(&b, "", 1);
	rc = b.failed ? -ENOMEM
		      : ch_exec(h, db, "allow_experimental_low_cardinality_type=1", b.p, NULL, 0,
				NULL);
	ch_buf_free(&b);
	return rc;
}

static void tsv_row(struct ch_buf *b, const struct store_value *vals, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			ch_buf_add(b, "\t", 1);
		ch_tsv_value(b, &vals[i]);
	}
	ch_buf_add(b, "\n", 1);
}

static int ch_insert(struct ch_http *h, const char *db, const char *table, const char *const *cols,
		     size_t n, struct ch_buf *body)
{
	struct ch_buf sql;
	int rc;

	ch_buf_init(&sql, 1 << 20);
	ch_buf_printf(&sql, "INSERT INTO \"%s\" (", table);
	for (size_t i = 0; i < n; i++)
		ch_buf_printf(&sql, "%s\"%s\"", i ? ", " : "", cols[i]);
	ch_buf_puts(&sql, ") FORMAT TabSeparated");
	ch_buf_add(&sql, "", 1);
	rc = body->failed || sql.failed ? -ENOMEM
					: ch_exec(h, db, NULL, sql.p, body->p, body->len, NULL);
	ch_buf_free(&sql);
	return rc;
}

static int ch_write_dicts(struct ch_http *h, const char *db, const struct variant *v,
			  const struct dataset *d)
{
	static const char *const dict_cols[] = { "time", "id", "kind", "name", "key" };
	static const char *const link_cols[] = { "time", "id", "attr_kind", "attr_id" };
	static const char *const label_cols[] = { "time", "id", "key", "value" };
	struct store_value val[5];
	struct ch_buf b;
	int rc;

	ch_buf_init(&b, CH_INSERT_CAP);
	val[0] = (struct store_value){ .type = STORE_INT, .i = DAY0 };
	for (size_t i = 0; i < d->ntags; i++) {
		const struct tag *t = &d->tags[i];

		val[1] = (struct store_value){ .type = STORE_INT, .i = tag_value(v, t) };
		val[2] = (struct store_value){ .type = STORE_INT, .i = t->kind };
		val[3] = (struct store_value){ .type = STORE_TEXT,
					       .s = t->name,
					       .len = strlen(t->name) };
		val[4] = (struct store_value){ .type = STORE_TEXT,
					       .s = t->key,
					       .len = strlen(t->key) };
		tsv_row(&b, val, 5);
	}
	rc = ch_insert(h, db, "flow_tag_tag_dict", dict_cols, 5, &b);
	ch_buf_reset(&b);
	for (size_t i = 0; i < d->nlinks; i++) {
		val[1] = (struct store_value){ .type = STORE_INT,
					       .i = tag_value(v, d->links[i].id) };
		val[2] = (struct store_value){ .type = STORE_INT, .i = d->links[i].attr->kind };
		val[3] = (struct store_value){ .type = STORE_INT,
					       .i = tag_value(v, d->links[i].attr) };
		tsv_row(&b, val, 4);
	}
	if (!rc)
		rc = ch_insert(h, db, "flow_tag_tag_link", link_cols, 4, &b);
	ch_buf_reset(&b);
	for (size_t i = 0; i < d->nlabels; i++) {
		const struct label *l = &d->labels[i];

		val[1] = (struct store_value){ .type = STORE_INT, .i = tag_value(v, l->id) };
		val[2] = (struct store_value){ .type = STORE_TEXT,
					       .s = l->key,
					       .len = strlen(l->key) };
		val[3] = (struct store_value){ .type = STORE_TEXT,
					       .s = l->value,
					       .len = strlen(l->value) };
		tsv_row(&b, val, 4);
	}
	if (!rc)
		rc = ch_insert(h, db, "flow_tag_k8s_label", label_cols, 4, &b);
	ch_buf_free(&b);
	return rc;
}

static int ch_query(struct ch_http *h, const char *db, const struct variant *v,
		    const struct query_args *qa, char *ans, size_t cap)
{
	char sql[2048];
	struct ch_buf out;
	int rc;

	ch_buf_init(&out, 16 << 20);
	if (encoded(v))
		snprintf(sql, sizeof(sql),
			 "SELECT name, n, lat FROM (SELECT assumeNotNull(pod_id_0) AS id, count() "
			 "AS n, avg(response_duration) AS lat FROM l7_flow_log WHERE pod_ns_id_0 "
			 "IN (SELECT id FROM flow_tag_tag_dict WHERE kind = 8 AND name = '%s') AND "
			 "auto_service_id_1 IN (SELECT id FROM flow_tag_tag_dict WHERE kind IN (1, "
			 "3, 6, 11, 12) AND name = '%s') GROUP BY id) ANY LEFT JOIN (SELECT "
			 "assumeNotNull(id) AS id, argMax(name, time) AS name FROM "
			 "flow_tag_tag_dict WHERE kind = 10 GROUP BY id) USING id ORDER BY name "
			 "FORMAT TabSeparated",
			 qa->ns, qa->svc);
	else
		snprintf(sql, sizeof(sql),
			 "SELECT pod_0, count(), avg(response_duration) FROM l7_flow_log "
			 "WHERE pod_ns_0 = '%s' AND auto_service_1 = '%s' GROUP BY pod_0 "
			 "ORDER BY pod_0 FORMAT TabSeparated",
			 qa->ns, qa->svc);
	rc = ch_exec(h, db, NULL, sql, NULL, 0, &out);
	ch_buf_add(&out, "", 1);
	ans[0] = 0;
	for (char *line = out.p, *nl; !rc && line && *line; line = nl + 1) {
		char *t1, *t2;

		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = 0;
		t1 = strchr(line, '\t');
		t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (!t2) {
			rc = -EPROTO;
			break;
		}
		*t1 = 0;
		answer_add(ans, cap, line, strtoll(t1 + 1, NULL, 10), strtod(t2 + 1, NULL));
	}
	ch_buf_free(&out);
	return rc;
}

static int ch_run(struct variant *v, const struct run_cfg *c)
{
	const char *cols[L7C__MAX + MAX_TAG_COLS];
	char names[MAX_TAG_COLS][48], db[32], sql[512], url[256];
	bool text[MAX_TAG_COLS];
	size_t nt = tag_cols(v, names, text), ncols = L7C_TAGS_0 + nt;
	struct store_value vals[L7C__MAX + MAX_TAG_COLS];
	struct store_addr_buf ab;
	struct row *buf = xcalloc(c->ch_batch, sizeof(*buf));
	struct ch_http *h = ch_http_new(c->ch_base);
	struct ch_buf body;
	uint64_t written = 0;
	int64_t n64 = 0;
	double c0, w0, s0;
	int rc;

	ch_buf_init(&body, CH_INSERT_CAP);
	/* store_l7_row()'s columns but its tag block, which the variant's own columns replace */
	for (size_t i = 0; i < L7C_TAGS_0; i++)
		cols[i] = store_l7_col_names[i];
	for (size_t i = 0; i < nt; i++)
		cols[L7C_TAGS_0 + i] = names[i];
	snprintf(db, sizeof(db), "enc_%s", v->code);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", db);
	rc = h ? ch_exec(h, "default", NULL, sql, NULL, 0, NULL) : -ENOMEM;
	if (rc)
		goto out;
	if (encoded(v)) {
		/* The SmartEncoded tables are our store's own, as it creates them. */
		struct store_cfg cfg = { .url = url };
		struct store *st = NULL;

		snprintf(url, sizeof(url), "clickhouse://%s/%s", c->ch_base + strlen("http://"),
			 db);
		rc = store_open(&store_clickhouse_ops, &cfg, &st);
		if (rc)
			fprintf(stderr, "clickhouse store_open %s: %s\n", url, strerror(-rc));
		store_close(st);
		/* ... but for the variants that try another column type for the ids */
		if (!rc && (v->enc == ENC_IDS_INT64 || v->enc == ENC_IDS_NULLABLE))
			rc = ch_exec(h, db, NULL, "DROP TABLE l7_flow_log", NULL, 0, NULL);
		if (!rc && (v->enc == ENC_IDS_INT64 || v->enc == ENC_IDS_NULLABLE))
			rc = ch_create_l7(h, db, v);
	} else {
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
		rc = ch_exec(h, "default", NULL, sql, NULL, 0, NULL);
		if (!rc)
			rc = ch_create_l7(h, db, v);
	}
	if (rc)
		goto out;
	s0 = proc_cpu_s(c->ch_pid);
	c0 = cpu_s(), w0 = mono_s();
	if (encoded(v))
		rc = ch_write_dicts(h, db, v, c->d);
	v->cpu += cpu_s() - c0, v->wall += mono_s() - w0;
	rng_state = c->row_seed;
	while (!rc && written < c->rows) {
		size_t n = c->rows - written < c->ch_batch ? c->rows - written : c->ch_batch;

		for (size_t k = 0; k < n; k++)
			row_gen(c->d, written + k, c->rows, &buf[k]);
		c0 = cpu_s(), w0 = mono_s();
		ch_buf_reset(&body);
		for (size_t k = 0; k < n; k++) {
			store_l7_row(&buf[k].r, written + k, vals, &ab);
			tag_values(v, &buf[k], vals + L7C_TAGS_0);
			tsv_row(&body, vals, ncols);
		}
		rc = ch_insert(h, db, "l7_flow_log", cols, ncols, &body);
		v->cpu += cpu_s() - c0, v->wall += mono_s() - w0;
		written += n;
		if (written % (c->ch_batch * 10) < n)
			fprintf(stderr, "  %s: %" PRIu64 " rows\n", v->code, written);
	}
	v->server_cpu = proc_cpu_s(c->ch_pid) - s0;
	if (rc)
		goto out;
	/* Merge every table into its final parts, then measure what is on disk. */
	s0 = proc_cpu_s(c->ch_pid);
	snprintf(sql, sizeof(sql),
		 "SELECT name FROM system.tables WHERE database = '%s' FORMAT TabSeparated", db);
	{
		struct ch_buf tabs;

		ch_buf_init(&tabs, 1 << 20);
		rc = ch_exec(h, "default", NULL, sql, NULL, 0, &tabs);
		ch_buf_add(&tabs, "", 1);
		for (char *t = tabs.p, *nl; !rc && t && (nl = strchr(t, '\n')); t = nl + 1) {
			char opt[256];

			*nl = 0;
			snprintf(opt, sizeof(opt), "OPTIMIZE TABLE \"%s\" FINAL", t);
			rc = ch_exec(h, db, NULL, opt, NULL, 0, NULL);
		}
		ch_buf_free(&tabs);
	}
	v->optimize_cpu = proc_cpu_s(c->ch_pid) - s0;
	snprintf(sql, sizeof(sql),
		 "SELECT toInt64(sum(bytes_on_disk)) FROM system.parts WHERE database = '%s' AND "
		 "active",
		 db);
	if (!rc)
		rc = ch_scalar(h, sql, &n64);
	v->bytes = (uint64_t)n64;
	snprintf(sql, sizeof(sql),
		 "SELECT toInt64(sum(bytes_on_disk)) FROM system.parts WHERE database = '%s' AND "
		 "active AND table = 'l7_flow_log'",
		 db);
	if (!rc)
		rc = ch_scalar(h, sql, &n64);
	v->fact_bytes = (uint64_t)n64;
	v->query_ms = 0;
	for (int r = 0; r < c->runs && !rc && v->enc != ENC_NONE; r++) {
		double t0 = mono_s();

		rc = ch_query(h, db, v, &c->qa, v->answer, sizeof(v->answer));
		if (!r || (mono_s() - t0) * 1000 < v->query_ms)
			v->query_ms = (mono_s() - t0) * 1000;
	}
	v->ran = !rc;
	if (!c->keep) {
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", db);
		(void)ch_exec(h, "default", NULL, sql, NULL, 0, NULL);
	}
out:
	ch_buf_free(&body);
	ch_http_free(h);
	free(buf);
	return rc;
}

/* ---- main ----------------------------------------------------------------------------------- */

static struct variant *find_variant(const char *code)
{
	for (size_t i = 0; i < ARRAY_SIZE(variants); i++)
		if (!strcmp(variants[i].code, code))
			return &variants[i];
	return NULL;
}

/*
 * x's figure over base's: the whole store, and what the tags alone add to it (the figure
 * minus the no-tags baseline z's, when z ran): SmartEncoding changes only that part.
 */
static void ratio_line(const char *what, const struct variant *x, const struct variant *base,
		       const struct variant *z)
{
	double cx = x->cpu + x->server_cpu, cb = base->cpu + base->server_cpu;

	if (!x->ran || !base->ran)
		return;
	printf("%-56s disk x%.2f, insert CPU x%.2f, query x%.2f", what,
	       (double)x->bytes / (double)base->bytes, cx / cb, x->query_ms / base->query_ms);
	if (z && z->ran) {
		double cz = z->cpu + z->server_cpu;

		printf("; the tags' own share: disk x%.2f, insert CPU ",
		       ((double)x->bytes - (double)z->bytes) /
			       ((double)base->bytes - (double)z->bytes));
		/* On small runs the tags' CPU can drown in the noise of the rest. */
		if (cx > cz && cb > cz)
			printf("x%.2f", (cx - cz) / (cb - cz));
		else
			printf("below the noise");
	}
	printf("\n");
}

static void usage(void)
{
	fprintf(stderr,
		"usage: encoding_bench [--rows N] [--batch N] [--ch-batch N] [--runs N] "
		"[--seed S] [--dir DIR] [--variants s0,sa,sb,c0,ca,cb,cc] [--dense] [--keep]\n"
		"  variants: s0/sa/sb/sd SQLite no tags/the store's ids/strings/dense ids; "
		"c0/ca/cb/cc/cd/ce/cn ClickHouse no tags/the store's ids/String/"
		"LowCardinality(String)/dense ids/ids in Int64/ids in Nullable(Int64); --dense "
		"adds "
		"sd and cd\n"
		"  ClickHouse at $FLOWSCOPE_TEST_CLICKHOUSE (chserver.py sets it), its pid at "
		"$FLOWSCOPE_TEST_CLICKHOUSE_PID\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rows", required_argument, NULL, 'r' },
		{ "batch", required_argument, NULL, 'b' },
		{ "ch-batch", required_argument, NULL, 'B' },
		{ "runs", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },
		{ "variants", required_argument, NULL, 'v' },
		{ "dense", no_argument, NULL, 'D' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct dataset d;
	struct run_cfg c = { .rows = DEF_ROWS,
			     .batch = DEF_BATCH,
			     .ch_batch = DEF_CH_BATCH,
			     .runs = DEF_RUNS,
			     .dir = "/tmp/flowscope-encoding-bench" };
	char list[128] = "s0,sa,sb,c0,ca,cb,cc", *tok, *save = NULL;
	const char *env_pid = getenv("FLOWSCOPE_TEST_CLICKHOUSE_PID");
	uint64_t seed = DEF_SEED;
	bool dense = false, want_ch = false, failed = false;
	struct variant *ref = NULL;
	double t_start = mono_s();
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'r': c.rows = strtoull(optarg, NULL, 10); break;
		case 'b': c.batch = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'B': c.ch_batch = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': c.runs = atoi(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'd': c.dir = optarg; break;
		case 'v': snprintf(list, sizeof(list), "%s", optarg); break;
		case 'D': dense = true; break;
		case 'k': c.keep = true; break;
		default: usage(); return opt == 'h' ? 0 : 2;
		}
	}
	if (!c.rows || !c.batch || !c.ch_batch || c.runs < 1) {
		usage();
		return 2;
	}
	/* --dense: the dense-id variant of each backend chosen */
	if (dense) {
		size_t l = strlen(list);

		snprintf(list + l, sizeof(list) - l, "%s%s", strstr(list, "sa") ? ",sd" : "",
			 strstr(list, "ca") ? ",cd" : "");
	}
	/* Which variants, and is ClickHouse needed? */
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct variant *v = find_variant(tok);

		if (!v) {
			fprintf(stderr, "unknown variant %s\n", tok);
			usage();
			return 2;
		}
		v->ran = true; /* selected; reset before running */
		want_ch |= v->ch;
	}
	c.ch_base = getenv("FLOWSCOPE_TEST_CLICKHOUSE");
	if (want_ch && (!c.ch_base || strncmp(c.ch_base, "http://", 7))) {
		fprintf(stderr, "ClickHouse variants need $FLOWSCOPE_TEST_CLICKHOUSE "
				"(http://HOST:PORT): run under tests/integration/chserver.py, or "
				"choose --variants s0,sa,sb\n");
		return 2;
	}
	c.ch_pid = env_pid ? atoi(env_pid) : 0;
	if (want_ch && c.ch_pid <= 0)
		fprintf(stderr, "no $FLOWSCOPE_TEST_CLICKHOUSE_PID: the server's CPU is not "
				"measured\n");
	rowid_set_instance(1);
	dataset_build(&d, seed);
	c.d = &d;
	c.row_seed = (seed * 0x9e3779b97f4a7c15ull) | 1;
	/* The query: callers in the namespace of the most popular caller pod, to the most
	 * popular service. */
	c.qa.ns = d.pods[d.pod_rank[0]].t[S_POD_NS]->name;
	c.qa.svc = d.wl[0].service->name;
	mkdir(c.dir, 0755);
	printf("SmartEncoding benchmark: %" PRIu64 " l7_flow_log rows, %zu tags in the "
	       "dictionaries (%zu pods, %d services, %d workloads, %d namespaces, %d nodes), "
	       "%zu links, %zu labels; seed %" PRIu64 "\n",
	       c.rows, d.ntags, d.npods, N_SERVICES, N_WORKLOADS, N_NS, N_NODES, d.nlinks,
	       d.nlabels, seed);
	printf("query: requests and mean response_duration per pod_0 WHERE pod_ns_0 = '%s' AND "
	       "auto_service_1 = '%s'\n\n",
	       c.qa.ns, c.qa.svc);
	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		struct variant *v = &variants[i];
		int rc;

		if (!v->ran)
			continue;
		v->ran = false;
		fprintf(stderr, "%s: %s\n", v->code, v->what);
		rc = v->ch		      ? ch_run(v, &c)
		     : !strcmp(v->code, "sa") ? sq_store_run(v, &c)
					      : sq_run(v, &c);
		if (rc) {
			fprintf(stderr, "%s: failed\n", v->code);
			failed = true;
			continue;
		}
		fprintf(stderr, "%s: done, %.0f s since start\n", v->code, mono_s() - t_start);
	}
	printf("%-4s %-48s %10s %8s %10s %9s %9s %9s %9s %9s\n", "", "variant", "disk MB", "B/row",
	       "l7 MB", "CPU s", "srv CPU s", "rows/CPUs", "merge s", "query ms");
	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		const struct variant *v = &variants[i];

		if (!v->ran)
			continue;
		printf("%-4s %-48s %10.1f %8.1f %10.1f %9.2f %9.2f %9.0f %9.2f %9.1f\n", v->code,
		       v->what, (double)v->bytes / 1e6, (double)v->bytes / (double)c.rows,
		       (double)v->fact_bytes / 1e6, v->cpu, v->server_cpu,
		       (double)c.rows / (v->cpu + v->server_cpu), v->optimize_cpu, v->query_ms);
	}
	printf("\n(CPU s: this process in the store calls; srv CPU s: clickhouse-server during "
	       "the inserts; merge s: its CPU for OPTIMIZE FINAL; query: best of %d)\n\n",
	       c.runs);
	ratio_line("SQLite, plain strings / SmartEncoded (sb/sa)", find_variant("sb"),
		   find_variant("sa"), find_variant("s0"));
	ratio_line("SQLite, the store / the bench's dense ids (sa/sd)", find_variant("sa"),
		   find_variant("sd"), find_variant("s0"));
	ratio_line("SQLite, plain strings / dense ids (sb/sd)", find_variant("sb"),
		   find_variant("sd"), find_variant("s0"));
	ratio_line("ClickHouse, String / SmartEncoded (cb/ca)", find_variant("cb"),
		   find_variant("ca"), find_variant("c0"));
	ratio_line("ClickHouse, LowCardinality / SmartEncoded (cc/ca)", find_variant("cc"),
		   find_variant("ca"), find_variant("c0"));
	ratio_line("ClickHouse, 63-bit / dense ids (ca/cd)", find_variant("ca"), find_variant("cd"),
		   find_variant("c0"));
	ratio_line("ClickHouse, String / dense ids (cb/cd)", find_variant("cb"), find_variant("cd"),
		   find_variant("c0"));
	ratio_line("ClickHouse, String / ids in Int64 (cb/ce)", find_variant("cb"),
		   find_variant("ce"), find_variant("c0"));
	ratio_line("ClickHouse, String / Nullable(Int64) ids, before (cb/cn)", find_variant("cb"),
		   find_variant("cn"), find_variant("c0"));
	ratio_line("ClickHouse, Nullable(Int64) / LowCardinality(Int64) ids (cn/ca)",
		   find_variant("cn"), find_variant("ca"), find_variant("c0"));
	/* Every variant must give the same answer. */
	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		struct variant *v = &variants[i];

		if (!v->ran || v->enc == ENC_NONE)
			continue;
		if (!ref) {
			ref = v;
			if (!v->answer[0]) {
				fprintf(stderr, "%s: the query matched no rows\n", v->code);
				failed = true;
			}
		} else if (strcmp(ref->answer, v->answer)) {
			fprintf(stderr, "answers differ: %s:\n%s\n%s:\n%s\n", ref->code,
				ref->answer, v->code, v->answer);
			failed = true;
		}
	}
	if (ref && !failed) {
		size_t lines = 0;

		for (const char *p = ref->answer; *p; p++)
			lines += *p == '\n';
		printf("\nanswers identical across variants (%zu pods)\n", lines);
	}
	printf("total %.0f s\n", mono_s() - t_start);
	if (!c.keep)
		nftw(c.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? 1 : 0;
}
