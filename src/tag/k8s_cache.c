/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes object cache and address resolution: see k8s_cache.h. */
#include "tag/k8s_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "common/tag_id.h"

struct ent {
	struct k8s_obj o;
	char *key; /* "NAMESPACE/NAME" (cluster-scoped kinds: "/NAME") */
	uint64_t list_gen;
	int64_t id; /* tag id of a pod or service; 0 for other kinds */
	/* A pod's service and workload, worked out when first asked and again when services
	 * or replicasets changed since (the generation counters below). */
	uint64_t svc_gen, rs_gen;
	bool derived;
	struct ent *svc; /* valid while svc_gen == cache's */
	char *group_kind, *group_name;
	int64_t group_id, ns_id, node_id;
	UT_hash_handle hh;
};

/* Who holds an address: the newest pod, service and node that list it. */
struct ip_ent {
	char ip[K8S_IP_TEXT];
	struct ent *pod, *svc, *node;
	UT_hash_handle hh;
};

struct k8s_cache {
	pthread_mutex_t lock;
	char cluster[K8S_CLUSTER_MAX + 1];
	int64_t cluster_id;
	size_t max_objects, nobjects;
	struct ent *by_kind[K8S__KINDS];
	struct ip_ent *ips;
	uint64_t list_gen[K8S__KINDS];
	uint64_t svc_gen, rs_gen;
	struct k8s_stats st;
};

bool k8s_cluster_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n > K8S_CLUSTER_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

struct k8s_cache *k8s_cache_new(const char *cluster, size_t max_objects)
{
	struct k8s_cache *c;

	if (!k8s_cluster_name_ok(cluster))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	snprintf(c->cluster, sizeof(c->cluster), "%s", cluster);
	c->cluster_id = tag_id_str(TAG_POD_CLUSTER, c->cluster);
	c->max_objects = max_objects ? max_objects : K8S_DEFAULT_MAX_OBJECTS;
	c->svc_gen = c->rs_gen = 1;
	return c;
}

static void ent_free(struct ent *e)
{
	k8s_obj_free(&e->o);
	free(e->key);
	free(e->group_kind);
	free(e->group_name);
	free(e);
}

void k8s_cache_free(struct k8s_cache *c)
{
	struct ent *e, *tmp;
	struct ip_ent *ie, *itmp;

	if (!c)
		return;
	for (int k = 0; k < K8S__KINDS; k++)
		HASH_ITER (hh, c->by_kind[k], e, tmp) {
			HASH_DEL(c->by_kind[k], e);
			ent_free(e);
		}
	HASH_ITER (hh, c->ips, ie, itmp) {
		HASH_DEL(c->ips, ie);
		free(ie);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void k8s_cache_lock(struct k8s_cache *c)
{
	pthread_mutex_lock(&c->lock);
}

void k8s_cache_unlock(struct k8s_cache *c)
{
	pthread_mutex_unlock(&c->lock);
}

void k8s_cache_count(struct k8s_cache *c, size_t off, uint64_t n)
{
	/* Relaxed atomics: counters are read while the watcher writes them. */
	__atomic_add_fetch((uint64_t *)((char *)&c->st + off), n, __ATOMIC_RELAXED);
}

void k8s_cache_get_stats(struct k8s_cache *c, struct k8s_stats *out)
{
	const uint64_t *src = (const uint64_t *)&c->st;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

/* ---- addresses ---------------------------------------------------------------------------- */

static struct ent **ip_slot(struct ip_ent *ie, enum k8s_kind kind)
{
	return kind == K8S_POD ? &ie->pod : kind == K8S_SERVICE ? &ie->svc : &ie->node;
}

/* The addresses an object answers for: a running pod's own (not the node's, with
 * hostNetwork), a service's ClusterIPs, a node's InternalIPs. */
static bool has_ips(const struct ent *e)
{
	if (e->o.kind == K8S_POD)
		return !e->o.host_network && !e->o.finished;
	return e->o.kind == K8S_SERVICE || e->o.kind == K8S_NODE;
}

static void ips_drop(struct k8s_cache *c, struct ent *e)
{
	if (!has_ips(e))
		return;
	for (size_t i = 0; i < e->o.nips; i++) {
		struct ip_ent *ie;
		struct ent **slot;

		HASH_FIND_STR(c->ips, e->o.ips[i], ie);
		if (!ie)
			continue;
		slot = ip_slot(ie, e->o.kind);
		if (*slot == e)
			*slot = NULL;
		if (!ie->pod && !ie->svc && !ie->node) {
			HASH_DEL(c->ips, ie);
			free(ie);
		}
	}
}

static void ips_add(struct k8s_cache *c, struct ent *e)
{
	if (!has_ips(e))
		return;
	for (size_t i = 0; i < e->o.nips; i++) {
		struct ip_ent *ie;

		HASH_FIND_STR(c->ips, e->o.ips[i], ie);
		if (!ie) {
			ie = calloc(1, sizeof(*ie));
			if (!ie)
				continue; /* this address goes untagged; nothing else breaks */
			memcpy(ie->ip, e->o.ips[i], sizeof(ie->ip));
			HASH_ADD_STR(c->ips, ip, ie);
		}
		/* Two objects with one address (a pod IP reused before the old pod's delete
		 * arrived): the newer one wins. */
		*ip_slot(ie, e->o.kind) = e;
	}
}

/* ---- objects ------------------------------------------------------------------------------ */

static char *ent_key(const struct k8s_obj *o)
{
	size_t n = strlen(o->ns) + strlen(o->name) + 2;
	char *k = malloc(n);

	if (k)
		snprintf(k, n, "%s/%s", o->ns, o->name);
	return k;
}

static void changed(struct k8s_cache *c, enum k8s_kind kind)
{
	if (kind == K8S_SERVICE)
		c->svc_gen++;
	else if (kind == K8S_REPLICASET)
		c->rs_gen++;
}

static void ent_remove(struct k8s_cache *c, struct ent *e)
{
	enum k8s_kind kind = e->o.kind;

	ips_drop(c, e);
	HASH_DEL(c->by_kind[kind], e);
	ent_free(e);
	c->nobjects--;
	__atomic_store_n(&c->st.objects, c->nobjects, __ATOMIC_RELAXED);
	changed(c, kind);
}

static int64_t key_id(int kind, const char *a, const char *b, const char *d, const char *e)
{
	char key[4 * (K8S_NAME_MAX + 1) + K8S_KIND_MAX + 8];

	snprintf(key, sizeof(key), "%s/%s%s%s%s%s", a, b, d ? "/" : "", d ? d : "", e ? "/" : "",
		 e ? e : "");
	return tag_id_str(kind, key);
}

/* Insert or replace (by namespace/name). Takes o. */
static void put(struct k8s_cache *c, struct k8s_obj *o, uint64_t list_gen)
{
	struct ent *e;
	char *key;

	if ((unsigned)o->kind >= K8S__KINDS || !(key = ent_key(o))) {
		k8s_obj_free(o);
		return;
	}
	if (o->truncated)
		__atomic_add_fetch(&c->st.labels_truncated, 1, __ATOMIC_RELAXED);
	HASH_FIND_STR(c->by_kind[o->kind], key, e);
	if (e) {
		free(key);
		ips_drop(c, e);
		k8s_obj_free(&e->o);
		free(e->group_kind);
		free(e->group_name);
		e->group_kind = e->group_name = NULL;
	} else {
		if (c->nobjects >= c->max_objects || !(e = calloc(1, sizeof(*e)))) {
			__atomic_add_fetch(&c->st.objects_dropped, 1, __ATOMIC_RELAXED);
			free(key);
			k8s_obj_free(o);
			return;
		}
		e->key = key;
		HASH_ADD_KEYPTR(hh, c->by_kind[o->kind], e->key, strlen(e->key), e);
		c->nobjects++;
		__atomic_store_n(&c->st.objects, c->nobjects, __ATOMIC_RELAXED);
	}
	e->o = *o;
	memset(o, 0, sizeof(*o));
	e->list_gen = list_gen;
	e->derived = false;
	e->svc = NULL;
	e->id = 0;
	if (e->o.kind == K8S_POD)
		e->id = key_id(TAG_POD, c->cluster, e->o.ns, e->o.name, NULL);
	else if (e->o.kind == K8S_SERVICE)
		e->id = key_id(TAG_POD_SERVICE, c->cluster, e->o.ns, e->o.name, NULL);
	ips_add(c, e);
	changed(c, e->o.kind);
}

void k8s_cache_apply(struct k8s_cache *c, enum k8s_event ev, struct k8s_obj *o)
{
	struct ent *e;
	char *key;

	pthread_mutex_lock(&c->lock);
	__atomic_add_fetch(&c->st.events, 1, __ATOMIC_RELAXED);
	if (ev == K8S_EV_ADDED || ev == K8S_EV_MODIFIED) {
		put(c, o, c->list_gen[o->kind < K8S__KINDS ? o->kind : 0]);
	} else if (ev == K8S_EV_DELETED && (unsigned)o->kind < K8S__KINDS && (key = ent_key(o))) {
		HASH_FIND_STR(c->by_kind[o->kind], key, e);
		if (e)
			ent_remove(c, e);
		free(key);
	}
	k8s_obj_free(o);
	pthread_mutex_unlock(&c->lock);
}

void k8s_cache_list_begin(struct k8s_cache *c, enum k8s_kind kind)
{
	pthread_mutex_lock(&c->lock);
	c->list_gen[kind]++;
	pthread_mutex_unlock(&c->lock);
}

void k8s_cache_list_put(struct k8s_cache *c, struct k8s_obj *o)
{
	pthread_mutex_lock(&c->lock);
	put(c, o, (unsigned)o->kind < K8S__KINDS ? c->list_gen[o->kind] : 0);
	pthread_mutex_unlock(&c->lock);
}

void k8s_cache_list_end(struct k8s_cache *c, enum k8s_kind kind, bool complete)
{
	struct ent *e, *tmp;

	pthread_mutex_lock(&c->lock);
	if (complete) {
		HASH_ITER (hh, c->by_kind[kind], e, tmp) {
			if (e->list_gen != c->list_gen[kind]) {
				ent_remove(c, e);
				__atomic_add_fetch(&c->st.resyncs_removed, 1, __ATOMIC_RELAXED);
			}
		}
		__atomic_add_fetch(&c->st.lists, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- resolution --------------------------------------------------------------------------- */

static bool selects(const struct k8s_obj *svc, const struct k8s_obj *pod)
{
	size_t j = 0;

	if (!svc->nselector)
		return false; /* no selector: endpoints managed by hand, no pod is its */
	/* Both sorted by key: one merge pass. */
	for (size_t i = 0; i < svc->nselector; i++) {
		while (j < pod->nlabels && strcmp(pod->labels[j].key, svc->selector[i].key) < 0)
			j++;
		if (j == pod->nlabels || strcmp(pod->labels[j].key, svc->selector[i].key) ||
		    strcmp(pod->labels[j].value, svc->selector[i].value))
			return false;
	}
	return true;
}

static void derive(struct k8s_cache *c, struct ent *p)
{
	const char *gk = p->o.owner_kind, *gn = p->o.owner_name;
	struct ent *s, *tmp, *rs;

	if (!p->derived) {
		p->ns_id = key_id(TAG_POD_NS, c->cluster, p->o.ns, NULL, NULL);
		p->node_id =
			*p->o.node ? key_id(TAG_POD_NODE, c->cluster, p->o.node, NULL, NULL) : 0;
	}
	if (!p->derived || p->svc_gen != c->svc_gen) {
		p->svc = NULL;
		/* Every service is looked at: services are few next to pods, and this runs
		 * again only after a service changed. The first by name wins, so that every
		 * server picks the same one. */
		HASH_ITER (hh, c->by_kind[K8S_SERVICE], s, tmp) {
			if (!strcmp(s->o.ns, p->o.ns) && selects(&s->o, &p->o) &&
			    (!p->svc || strcmp(s->o.name, p->svc->o.name) < 0))
				p->svc = s;
		}
		p->svc_gen = c->svc_gen;
	}
	if (!p->derived || p->rs_gen != c->rs_gen) {
		char rskey[2 * K8S_NAME_MAX + 2];

		if (!strcmp(gk, "ReplicaSet")) {
			snprintf(rskey, sizeof(rskey), "%s/%s", p->o.ns, gn);
			HASH_FIND_STR(c->by_kind[K8S_REPLICASET], rskey, rs);
			/* A Deployment's ReplicaSet: the Deployment is the workload. */
			if (rs && *rs->o.owner_kind) {
				gk = rs->o.owner_kind;
				gn = rs->o.owner_name;
			}
		}
		free(p->group_kind);
		free(p->group_name);
		p->group_kind = *gk ? strdup(gk) : NULL;
		p->group_name = *gk ? strdup(gn) : NULL;
		p->group_id = p->group_kind && p->group_name
				      ? key_id(TAG_POD_GROUP, c->cluster, p->o.ns, p->group_kind,
					       p->group_name)
				      : 0;
		p->rs_gen = c->rs_gen;
	}
	p->derived = true;
}

bool k8s_cache_lookup(struct k8s_cache *c, const char *ip, struct k8s_view *v)
{
	struct ip_ent *ie;
	struct ent *e;

	memset(v, 0, sizeof(*v));
	HASH_FIND_STR(c->ips, ip, ie);
	if (!ie)
		return false;
	v->cluster = c->cluster_id;
	v->cluster_name = c->cluster;
	if ((e = ie->pod)) {
		derive(c, e);
		v->pod = e->id;
		v->pod_name = e->o.name;
		v->pod_obj = &e->o;
		v->ns = e->ns_id;
		v->ns_name = e->o.ns;
		v->node = e->node_id;
		v->node_name = e->node_id ? e->o.node : NULL;
		v->group = e->group_id;
		v->group_kind = e->group_kind;
		v->group_name = e->group_name;
		if (e->svc) {
			v->service = e->svc->id;
			v->service_name = e->svc->o.name;
			v->service_obj = &e->svc->o;
		}
	} else if ((e = ie->svc)) {
		v->service = e->id;
		v->service_name = e->o.name;
		v->service_obj = &e->o;
		v->ns = key_id(TAG_POD_NS, c->cluster, e->o.ns, NULL, NULL);
		v->ns_name = e->o.ns;
	} else if ((e = ie->node)) {
		v->node = key_id(TAG_POD_NODE, c->cluster, e->o.name, NULL, NULL);
		v->node_name = e->o.name;
	}
	return true;
}

size_t k8s_view_key(const struct k8s_view *v, int kind, char *buf, size_t cap)
{
	int n = 0;

	switch (kind) {
	case TAG_POD_CLUSTER: n = v->cluster ? snprintf(buf, cap, "%s", v->cluster_name) : 0; break;
	case TAG_POD_NS:
		n = v->ns ? snprintf(buf, cap, "%s/%s", v->cluster_name, v->ns_name) : 0;
		break;
	case TAG_POD_NODE:
		n = v->node ? snprintf(buf, cap, "%s/%s", v->cluster_name, v->node_name) : 0;
		break;
	case TAG_POD:
		n = v->pod ? snprintf(buf, cap, "%s/%s/%s", v->cluster_name, v->ns_name,
				      v->pod_name)
			   : 0;
		break;
	case TAG_POD_GROUP:
		n = v->group ? snprintf(buf, cap, "%s/%s/%s/%s", v->cluster_name, v->ns_name,
					v->group_kind, v->group_name)
			     : 0;
		break;
	case TAG_POD_SERVICE:
		n = v->service ? snprintf(buf, cap, "%s/%s/%s", v->cluster_name, v->service_obj->ns,
					  v->service_name)
			       : 0;
		break;
	default: break;
	}
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			buf[0] = 0;
		return 0;
	}
	return (size_t)n;
}
