/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flowscope-server: store the records agents send and answer queries over them
 * (DESIGN §6). It opens the store (SQLite in data_dir, or ClickHouse: --store), serves the HTTP API
 * of http_api.c on one IPv4 address, and drops partitions older than retention_days at start and
 * then hourly. SIGINT/SIGTERM stop it cleanly: in-flight requests finish, the store is closed, and
 * the process exits 0.
 *
 * The signals are blocked before the HTTP thread starts (so it inherits the mask) and
 * taken synchronously with sigtimedwait() here, whose timeout is also the retention timer:
 * no handler, no flag, no polling.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/conf.h"
#include "common/log.h"
#include "query/sql.h"
#include "server/http_api.h"
#include "store/store.h"
#include "tag/custom_rules.h"
#include "tag/k8s_cache.h"
#include "tag/k8s_watch.h"
#include "tag/tagger.h"

#include "common/version.h"
#define RETENTION_EVERY_S 3600

struct server_cfg {
	char *listen;
	char *data_dir;
	char *store;
	int64_t retention_days;
	uint64_t max_rows;
	uint64_t query_timeout_ms;
	uint64_t max_body;
	char *log_level;
	char *custom_services;
	char *k8s_api_url;
	char *k8s_token_file;
	char *k8s_ca_file;
	char *k8s_cluster_name;
	uint64_t k8s_max_objects;
	uint64_t tag_max_hosts;
	uint64_t tag_max_procs;
	uint64_t tag_dict_entries;
};

#define K(name) offsetof(struct server_cfg, name)

static const struct conf_key server_keys[] = {
	{ "listen", CONF_STRING, K(listen), "127.0.0.1:20416", 0, 0, "ADDR:PORT",
	  "IPv4 address and port of the HTTP API (loopback only by default)" },
	{ "data_dir", CONF_STRING, K(data_dir), "./flowscope-data", 0, 0, "DIR",
	  "directory of the store, created if missing" },
	{ "store", CONF_STRING, K(store), "sqlite:", 0, 0, "URL",
	  "where records go: sqlite: (a database in data_dir) or "
	  "clickhouse://HOST:PORT/DB[?cluster=NAME] (ClickHouse's HTTP port)" },
	{ "retention_days", CONF_INT, K(retention_days), "7", 1, STORE_MAX_RETENTION_DAYS, "N",
	  "whole days of records kept; older partitions are dropped hourly" },
	{ "max_rows", CONF_UINT, K(max_rows), "10000", 1, INT64_MAX - 1, "N",
	  "rows one query may return; larger results are truncated and say so" },
	{ "query_timeout", CONF_DURATION_MS, K(query_timeout_ms), "10s", 0, 86400000, "DURATION",
	  "a query running longer is stopped and returns the rows so far (0: no limit)" },
	{ "max_body", CONF_SIZE, K(max_body), "16MiB", 1, 1ll << 30, "SIZE",
	  "largest request body accepted (ingest batches, queries); larger ones get 413" },
	{ "log_level", CONF_STRING, K(log_level), "info", 0, 0, "LEVEL",
	  "error, warn, info or debug" },
	{ "custom_services", CONF_LIST, K(custom_services), "", 0, 0, "NAME=CIDR[:PORT],...",
	  "name traffic: rows whose server address (and port) or client address matches get "
	  "custom_service and auto_service NAME (docs/tagging.md); IPv6 with a port as "
	  "NAME=[CIDR]:PORT" },
	{ "k8s_api_url", CONF_STRING, K(k8s_api_url), "", 0, 0, "URL",
	  "Kubernetes API server to list and watch pods, services, nodes, namespaces, "
	  "replicasets and deployments from, for the pod_* tags (docs/tagging.md); empty: none. "
	  "In a pod: https://kubernetes.default.svc" },
	{ "k8s_token_file", CONF_STRING, K(k8s_token_file), "", 0, 0, "FILE",
	  "bearer token for the API server, read again for every request "
	  "(/var/run/secrets/kubernetes.io/serviceaccount/token in a pod)" },
	{ "k8s_ca_file", CONF_STRING, K(k8s_ca_file), "", 0, 0, "FILE",
	  "CA bundle to verify the API server with (empty: the system's)" },
	{ "k8s_cluster_name", CONF_STRING, K(k8s_cluster_name), "default", 0, 0, "NAME",
	  "the pod_cluster name, part of every pod_* id: servers watching one cluster must use "
	  "the same" },
	{ "k8s_max_objects", CONF_UINT, K(k8s_max_objects), "200000", 1, 100000000, "N",
	  "Kubernetes objects kept (all kinds); new ones beyond are dropped and counted" },
	{ "tag_max_hosts", CONF_UINT, K(tag_max_hosts), "1024", 1, TAGGER_MAX_HOSTS, "N",
	  "agent hosts the tagger remembers (about 5.5 KiB each); when full it starts over" },
	{ "tag_max_procs", CONF_UINT, K(tag_max_procs), "8192", 16, TAGGER_MAX_PROCS, "N",
	  "processes the tagger remembers (about 2.6 KiB each); when full it starts over and "
	  "rows get no gprocess tag until agents report again (within 5 minutes)" },
	{ "tag_dict_entries", CONF_UINT, K(tag_dict_entries), "131072", 1024, TAGGER_MAX_DICT, "N",
	  "dictionary entries the tagger remembers as written (80 bytes each); when full it "
	  "starts over and writes entries again as new versions" },
	{ 0 },
};

static const struct conf_spec server_spec = {
	.prog = "flowscope-server",
	.summary = "Store the rows flowscope agents send (POST /v1/ingest): l7_flow_log and\n"
		   "l4_flow_log in flow_log, network.1s/1m and network_map.1s/1m in\n"
		   "flow_metrics; answer SQL queries over them (POST /v1/query). Also serves\n"
		   "/healthz and Prometheus /metrics. Listens on loopback only unless told\n"
		   "otherwise.",
	.examples = "  flowscope-server                                  127.0.0.1:20416, "
		    "./flowscope-data\n"
		    "  flowscope-server --data-dir /var/lib/flowscope --retention-days 30\n"
		    "  flowscope-server --store clickhouse://127.0.0.1:8123/flowscope\n"
		    "  curl -s localhost:20416/v1/query --data-urlencode 'sql=SHOW TABLES'\n",
	.default_path = "/etc/flowscope/server.yaml",
	.keys = server_keys,
	.version = FLOWSCOPE_VERSION,
};

static void drop_expired(struct store *st)
{
	int rc = store_drop_expired(st, (int64_t)time(NULL));

	if (rc < 0)
		ob_warn("[server] dropping expired partitions failed: %s (%s)", strerror(-rc),
			store_errmsg(st));
	else if (rc > 0)
		ob_info("[server] dropped %d expired partition%s", rc, rc == 1 ? "" : "s");
}

/* Wait for SIGINT/SIGTERM, running retention every RETENTION_EVERY_S meanwhile. */
static void serve(struct store *st, const sigset_t *stop_set)
{
	time_t next = time(NULL) + RETENTION_EVERY_S, now;
	struct timespec ts;
	int sig;

	for (;;) {
		now = time(NULL);
		if (now >= next) {
			drop_expired(st);
			next = now + RETENTION_EVERY_S;
		}
		ts = (struct timespec){ .tv_sec = next - now };
		sig = sigtimedwait(stop_set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM) {
			ob_info("[server] %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
			return;
		}
		/* -1 with EAGAIN (timer) or EINTR (another signal): go round again. */
	}
}

int main(int argc, char **argv)
{
	struct server_cfg cfg;
	struct store_cfg scfg = { 0 };
	struct http_api_cfg acfg;
	struct store *st = NULL;
	const struct store_ops *ops = NULL;
	char err[600];
	struct http_api *api = NULL;
	struct custom_rules rules = { 0 };
	struct tagger *tagger = NULL;
	struct k8s_cache *k8s = NULL;
	struct k8s_watch *k8s_watch = NULL;
	sigset_t stop_set;
	int rc, level, exit_code = 1;

	rc = conf_load(&server_spec, &cfg, argc, argv);
	if (rc == CONF_EXIT_OK) {
		exit_code = 0;
		goto out;
	}
	if (rc < 0) {
		exit_code = 2;
		goto out;
	}
	level = ob_log_parse_level(cfg.log_level ? cfg.log_level : "info");
	if (level < 0) {
		fprintf(stderr,
			"flowscope-server: --log-level: '%s' is not one of error, warn, "
			"info, debug\n",
			cfg.log_level);
		exit_code = 2;
		goto out;
	}
	ob_log_level = level;
	if (!cfg.listen || !cfg.data_dir || !*cfg.data_dir) {
		fprintf(stderr, "flowscope-server: --listen and --data-dir must be set\n");
		exit_code = 2;
		goto out;
	}

	if (custom_rules_parse(cfg.custom_services, &rules, err, sizeof(err))) {
		fprintf(stderr, "flowscope-server: --custom-services: %s\n", err);
		exit_code = 2;
		goto out;
	}
	if (cfg.k8s_api_url && *cfg.k8s_api_url) {
		if (!k8s_cluster_name_ok(cfg.k8s_cluster_name)) {
			fprintf(stderr,
				"flowscope-server: --k8s-cluster-name: '%s' is not 1..63 of "
				"A-Z a-z 0-9 . _ -\n",
				cfg.k8s_cluster_name ? cfg.k8s_cluster_name : "");
			exit_code = 2;
			goto out;
		}
		k8s = k8s_cache_new(cfg.k8s_cluster_name, cfg.k8s_max_objects);
		if (!k8s) {
			ob_err("[server] out of memory for the Kubernetes cache");
			goto out;
		}
	}
	tagger = tagger_new(&(struct tagger_cfg){ .rules = &rules,
						  .k8s = k8s,
						  .max_hosts = cfg.tag_max_hosts,
						  .max_procs = cfg.tag_max_procs,
						  .dict_entries = cfg.tag_dict_entries });
	if (!tagger) {
		ob_err("[server] out of memory for the tagger");
		goto out;
	}

	/* Blocked before any thread exists, so that only sigtimedwait() below takes them. */
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (store_ops_for_url(cfg.store, &ops, err, sizeof(err))) {
		fprintf(stderr, "flowscope-server: --store: %s\n", err);
		exit_code = 2;
		goto out;
	}
	scfg.dir = cfg.data_dir;
	scfg.url = cfg.store;
	scfg.retention_days = (uint32_t)cfg.retention_days;
	/*
	 * A ClickHouse that does not answer at start is an error, not something to wait for:
	 * the schema must exist before the first batch is acknowledged. Once running, a
	 * ClickHouse that goes away makes ingest answer 503 (agents keep their batches and
	 * resend) and queries fail with the reason, until it is back.
	 */
	rc = store_open_msg(ops, &scfg, &st, err, sizeof(err));
	if (rc) {
		if (ops == &store_sqlite_ops)
			ob_err("[server] cannot open the store in %s: %s%s%s", cfg.data_dir,
			       strerror(-rc), err[0] ? ": " : "", err);
		else
			ob_err("[server] cannot open the store %s: %s%s%s. Start ClickHouse (or "
			       "fix "
			       "the URL: its HTTP port and database) and start flowscope-server "
			       "again",
			       cfg.store, strerror(-rc), err[0] ? ": " : "", err);
		goto out;
	}
	drop_expired(st);
	if (k8s) {
		rc = k8s_watch_start(&(struct k8s_watch_cfg){ .api_url = cfg.k8s_api_url,
							      .token_file = cfg.k8s_token_file,
							      .ca_file = cfg.k8s_ca_file,
							      .cache = k8s },
				     &k8s_watch, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "flowscope-server: --k8s-api-url: %s\n",
				rc == -ENOMEM ? "out of memory" : err);
			exit_code = rc == -EINVAL ? 2 : 1;
			goto out;
		}
		ob_info("[server] watching Kubernetes at %s as cluster '%s'", cfg.k8s_api_url,
			cfg.k8s_cluster_name);
	}

	acfg = (struct http_api_cfg){
		.listen = cfg.listen,
		.store = st,
		.max_rows = cfg.max_rows,
		.query_timeout_ms = cfg.query_timeout_ms,
		.max_body = cfg.max_body,
		.sql_dialect = ops == &store_clickhouse_ops ? QUERY_DIALECT_CLICKHOUSE
							    : QUERY_DIALECT_SQLITE,
		.tagger = tagger,
		.k8s = k8s,
	};
	rc = http_api_start(&acfg, &api);
	if (rc) {
		exit_code = rc == -EINVAL ? 2 : 1;
		goto out;
	}
	fprintf(stderr, "flowscope-server: listening on http://%s\n", cfg.listen);
	serve(st, &stop_set);
	exit_code = 0;
out:
	http_api_stop(api);
	k8s_watch_stop(k8s_watch);
	tagger_free(tagger);
	k8s_cache_free(k8s);
	custom_rules_free(&rules);
	store_close(st);
	conf_free(&server_spec, &cfg);
	return exit_code;
}
