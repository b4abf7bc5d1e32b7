/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes watcher (docs/tagging.md): one server thread that keeps a k8s_cache in
 * step with an API server. For each kind (namespaces, nodes, replicasets, deployments,
 * services, pods, in that order so that owners and services are known before the pods
 * that refer to them) it lists (pages of K8S_PAGE_LIMIT), then watches from the list's
 * resourceVersion (?watch=1: a chunked stream of one JSON event per line). A stream the
 * server ends (timeoutSeconds) is resumed from the last resourceVersion seen; 410 Gone
 * (that version is compacted away) means a fresh list; any other failure (including an
 * event that does not decode: an object's change would be lost) a fresh list after a
 * backoff (1 s doubling to 30 s). All watches run at once on one curl multi handle.
 *
 * Errors are counted in the cache's stats and logged, never fatal: the server keeps
 * ingesting, and rows get what Kubernetes tags the cache has.
 */
#ifndef OB_TAG_K8S_WATCH_H
#define OB_TAG_K8S_WATCH_H

#include <stddef.h>

#include "tag/k8s_cache.h"

#define K8S_PAGE_LIMIT	   500
#define K8S_WATCH_TIMEOUT  300		/* s: timeoutSeconds asked of the API server */
#define K8S_MAX_BODY	   (256u << 20) /* a list page larger than this fails */
#define K8S_MAX_EVENT	   (16u << 20)	/* a watch event line larger than this fails */
#define K8S_BACKOFF_MIN_MS 1000
#define K8S_BACKOFF_MAX_MS 30000

struct k8s_watch_cfg {
	const char *api_url;	/* "https://10.96.0.1:443", "http://127.0.0.1:8001" */
	const char *token_file; /* bearer token, read again for every request; NULL: none */
	const char *ca_file;	/* CA bundle for https; NULL: the system's */
	struct k8s_cache *cache;
};

struct k8s_watch;

/* 0, or -EINVAL (err says why: a bad URL, an unreadable token or CA file) or -ENOMEM. */
int k8s_watch_start(const struct k8s_watch_cfg *cfg, struct k8s_watch **out, char *err,
		    size_t errlen);
/* Stop the thread (within a second) and free everything; NULL is fine. */
void k8s_watch_stop(struct k8s_watch *w);

#endif
