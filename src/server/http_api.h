/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flowscope-server's HTTP API (DESIGN §6) on libmicrohttpd: /healthz, POST /v1/query
 * (the SQL dialect of query/sql.h answered from the store), POST /v1/ingest (agent
 * batches, docs/protocol.md), GET /v1/agents and /metrics (Prometheus text). A small
 * pool of threads serves the connections, so handlers run concurrently: counters are
 * atomics, the agent registry and the store lock what they share.
 */
#ifndef OB_SERVER_HTTP_API_H
#define OB_SERVER_HTTP_API_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

struct store;
struct http_api;
struct tagger;
struct k8s_cache;

struct http_api_cfg {
	const char *listen;	   /* "A.B.C.D:PORT", IPv4 only for now */
	struct store *store;	   /* borrowed; must outlive the API */
	uint64_t max_rows;	   /* query row cap; 0: QUERY_DEFAULT_MAX_ROWS */
	uint64_t query_timeout_ms; /* 0: none */
	uint64_t max_body;	   /* request body bytes; beyond: 413 */
	int sql_dialect;	   /* enum query_dialect of the store's SQL */
	struct tagger *tagger;	   /* borrowed; tags ingest batches (NULL: untagged) */
	struct k8s_cache *k8s;	   /* borrowed; its counters in /metrics (NULL: none) */
};

/*
 * Parse "A.B.C.D:PORT" (port 1..65535) into out. Returns 0, or -EINVAL with a one-line
 * reason in err; host names and IPv6 are refused rather than guessed at.
 */
int http_api_parse_listen(const char *s, struct sockaddr_in *out, char *err, size_t errlen);

/* Bind and start serving. 0 or -errno (message logged); *out is NULL on failure. */
int http_api_start(const struct http_api_cfg *cfg, struct http_api **out);
/* Stop serving (in-flight requests finish first) and free. NULL-safe. */
void http_api_stop(struct http_api *api);

#endif
