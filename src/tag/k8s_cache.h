/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the server knows of one Kubernetes cluster (docs/tagging.md): the objects the watcher
 * (k8s_watch.h) lists and watches, in bounded memory, and the answers the tagger needs from
 * them, by address:
 *   - a pod's IP: the pod, its namespace, node, workload (pod_group: the Deployment that
 *     owns its ReplicaSet, else its direct owner) and service (one whose selector matches
 *     its labels, in its namespace; the first by name when several do);
 *   - a service's ClusterIP: the service and its namespace;
 *   - a node's InternalIP: the node (traffic of host-network pods and of the node itself).
 * Ids are tag_id() of the contract's natural keys ("CLUSTER/NAMESPACE/POD", ...), so every
 * server watching the cluster under the same cluster name gives the same ids.
 *
 * One lock: the watcher's thread changes the cache under it, the tagger holds it while it
 * tags a batch (k8s_cache_lock), and what the lookups return is valid until it unlocks.
 */
#ifndef OB_TAG_K8S_CACHE_H
#define OB_TAG_K8S_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tag/k8s_obj.h"

#define K8S_DEFAULT_MAX_OBJECTS 200000
#define K8S_CLUSTER_MAX		63

struct k8s_stats {
	uint64_t objects;	   /* objects held now (gauge) */
	uint64_t objects_dropped;  /* new objects refused: the cache was full */
	uint64_t labels_truncated; /* objects whose labels/selector were cut */
	uint64_t events;	   /* watch events applied (ADDED, MODIFIED, DELETED) */
	uint64_t bookmarks;	   /* watch BOOKMARK events */
	uint64_t lists;		   /* complete lists (all pages) of one kind */
	uint64_t list_errors;	   /* list requests that failed (HTTP, transport, not a list) */
	uint64_t watch_errors;	   /* watch streams that failed or sent an ERROR event */
	uint64_t relists_gone;	   /* re-lists because the API answered 410 Gone */
	uint64_t decode_errors;	   /* objects or events that did not decode */
	uint64_t resyncs_removed;  /* objects a re-list no longer had (deletes missed) */
};

/* The Kubernetes tags of one address; ids 0 and names NULL where there is none. */
struct k8s_view {
	int64_t cluster, ns, node, pod, group, service;
	const char *cluster_name, *ns_name, *node_name, *pod_name;
	const char *group_kind, *group_name, *service_name;
	const struct k8s_obj *pod_obj, *service_obj; /* for their labels */
};

struct k8s_cache;

/* cluster: the pod_cluster name (1..63 of [A-Za-z0-9._-]); max_objects over all kinds. */
struct k8s_cache *k8s_cache_new(const char *cluster, size_t max_objects);
void k8s_cache_free(struct k8s_cache *c);

void k8s_cache_lock(struct k8s_cache *c);
void k8s_cache_unlock(struct k8s_cache *c);

/* Apply one watch event (ADDED, MODIFIED, DELETED); the cache takes o (and frees it). */
void k8s_cache_apply(struct k8s_cache *c, enum k8s_event ev, struct k8s_obj *o);

/*
 * A (re-)list of one kind: begin, put every item (the cache takes it), end. With complete,
 * objects of that kind the list did not have are removed (deletes the watch missed);
 * a list that failed half way removes nothing.
 */
void k8s_cache_list_begin(struct k8s_cache *c, enum k8s_kind kind);
void k8s_cache_list_put(struct k8s_cache *c, struct k8s_obj *o);
void k8s_cache_list_end(struct k8s_cache *c, enum k8s_kind kind, bool complete);

/* Count into the stats (the watcher's counters); under the lock or not. */
void k8s_cache_count(struct k8s_cache *c, size_t offset_in_stats, uint64_t n);
#define K8S_COUNT(c, field, n) k8s_cache_count((c), offsetof(struct k8s_stats, field), (n))
void k8s_cache_get_stats(struct k8s_cache *c, struct k8s_stats *out);

/* With the lock held: the tags of an address (canonical text, as inet_ntop prints it).
 * false when Kubernetes knows nothing of it. */
bool k8s_cache_lookup(struct k8s_cache *c, const char *ip, struct k8s_view *v);

/* The natural key of a view's entity of kind (TAG_POD_CLUSTER .. TAG_POD_SERVICE) into buf;
 * its length, 0 when the view has no such entity. */
size_t k8s_view_key(const struct k8s_view *v, int kind, char *buf, size_t cap);

/* The cluster name is usable: 1..63 of [A-Za-z0-9._-]. */
bool k8s_cluster_name_ok(const char *s);

#endif
