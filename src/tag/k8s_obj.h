/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes API objects as the tagger needs them (docs/tagging.md): the few fields of a
 * Pod, Service, Node, Namespace, ReplicaSet or Deployment that name traffic, decoded from
 * the API server's JSON (a list response or one watch event). The decoder is pure (no I/O,
 * no global state) so that it can be fuzzed (tests/fuzz/fuzz_k8s_json.c) and tested on
 * recorded responses.
 *
 * Limits follow what the API server itself validates (names are DNS subdomains of at most
 * 253 characters, label values at most 63, keys a 253-character prefix and a 63-character
 * name): an object beyond them is not something a real API server sends, and is refused.
 * Labels and selectors beyond K8S_MAX_LABELS are cut to the first K8S_MAX_LABELS by key
 * and counted, since the object is still worth tagging.
 */
#ifndef OB_TAG_K8S_OBJ_H
#define OB_TAG_K8S_OBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define K8S_NAME_MAX	 253 /* metadata.name, namespace, owner names */
#define K8S_KIND_MAX	 63  /* an owner reference's kind ("Deployment") */
#define K8S_UID_MAX	 64
#define K8S_LKEY_MAX	 317 /* label key: prefix (253) '/' name (63) */
#define K8S_LVAL_MAX	 63
#define K8S_MAX_LABELS	 64
#define K8S_MAX_IPS	 2  /* dual stack: one IPv4 and one IPv6 address */
#define K8S_IP_TEXT	 46 /* INET6_ADDRSTRLEN */
#define K8S_RV_MAX	 63 /* resourceVersion (opaque; etcd revisions are decimal) */
#define K8S_CONTINUE_MAX 4096

enum k8s_kind {
	K8S_POD,
	K8S_SERVICE,
	K8S_NODE,
	K8S_NAMESPACE,
	K8S_REPLICASET,
	K8S_DEPLOYMENT,
	K8S__KINDS,
};

enum k8s_event {
	K8S_EV_ADDED,
	K8S_EV_MODIFIED,
	K8S_EV_DELETED,
	K8S_EV_BOOKMARK, /* only a resourceVersion to resume from */
	K8S_EV_ERROR,	 /* a Status: *code says why (410: resourceVersion too old) */
};

struct k8s_label {
	char *key, *value;
};

struct k8s_obj {
	enum k8s_kind kind;
	char *ns; /* "" for cluster-scoped kinds (Node, Namespace) */
	char *name;
	char *uid;
	/* The controlling owner (ownerReferences[] with controller: true, else the first):
	 * a Pod's ReplicaSet/StatefulSet/DaemonSet/Job, a ReplicaSet's Deployment. "" when
	 * none. */
	char *owner_kind, *owner_name;
	char *node;	   /* Pod: spec.nodeName */
	bool host_network; /* Pod: spec.hostNetwork (its IP is the node's, not its own) */
	bool finished;	   /* Pod: status.phase Succeeded or Failed (its IP may be reused) */
	size_t nips;	   /* Pod: status.podIPs; Service: spec.clusterIPs; Node: InternalIP */
	char ips[K8S_MAX_IPS][K8S_IP_TEXT]; /* canonical text (inet_ntop of the parsed address) */
	size_t nlabels;			    /* metadata.labels, sorted by key */
	struct k8s_label *labels;
	size_t nselector; /* Service: spec.selector, sorted by key; 0: selects no pod */
	struct k8s_label *selector;
	bool truncated; /* labels or selector were cut to K8S_MAX_LABELS */
};

void k8s_obj_free(struct k8s_obj *o);

/* "Pod", "Service", ...; and the API paths listed and watched ("/api/v1/pods"). */
const char *k8s_kind_name(enum k8s_kind kind);
const char *k8s_kind_path(enum k8s_kind kind);

/* Called for every item of a list; return nonzero to stop (the parse then fails with it). */
typedef int (*k8s_item_fn)(void *arg, struct k8s_obj *o);

/*
 * A list response (PodList, ServiceList, ...) of kind: every item decodes into an object
 * handed to fn (which owns it afterwards), rv gets metadata.resourceVersion and cont
 * metadata.continue ("" on the last page). Items that do not decode are skipped and
 * counted in *bad (the reason of the first in err). 0, -EINVAL (not a list: err says why),
 * -ENOMEM, or fn's nonzero answer.
 */
int k8s_list_parse(const char *buf, size_t len, enum k8s_kind kind, k8s_item_fn fn, void *arg,
		   char rv[K8S_RV_MAX + 1], char cont[K8S_CONTINUE_MAX + 1], size_t *bad, char *err,
		   size_t errlen);

/*
 * One watch event line ({"type":"MODIFIED","object":{...}}) of kind. ADDED / MODIFIED /
 * DELETED fill *o (the caller frees it) and rv (the object's resourceVersion); BOOKMARK fills
 * rv only; ERROR sets *code to the Status's code (0 if it has none). 0, -EINVAL (err says
 * why) or -ENOMEM.
 */
int k8s_event_parse(const char *line, size_t len, enum k8s_kind kind, enum k8s_event *type,
		    struct k8s_obj *o, char rv[K8S_RV_MAX + 1], int *code, char *err,
		    size_t errlen);

#endif
