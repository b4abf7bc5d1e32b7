/* SPDX-License-Identifier: Apache-2.0 */
/* The ingest-time tagger: see tagger.h for the design and docs/tagging.md for the rules. */
#include "tag/tagger.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "common/tag_id.h"
#include "common/tag_set.h"

/* ---- per-batch text arena: the rows' strings live until tagger_done ------------------- */

#define ARENA_BLOCK (64u << 10)

struct arena_block {
	struct arena_block *next;
	size_t used;
	char data[ARENA_BLOCK];
};

/* ---- dictionary entries already written: id -> content hash, time ---------------------- */

struct dict_slot {
	int64_t id; /* 0: free */
	uint64_t hash;
	int64_t written_s; /* 0: never stored */
	uint64_t pend_hash;
	int64_t pend_s; /* 0: not listed in the batch under way */
};

/* ---- what agents reported ---------------------------------------------------------------- */

struct host_ent {
	char agent_id[64];
	struct host_info h;
	int64_t host_id;
};

struct ip_slot {
	uint8_t used;
	uint8_t family;
	uint8_t a[16];
	int64_t host_id;
};

struct proc_ent {
	int64_t host_id; /* 0: free */
	uint32_t pid;
	struct proc_info pi;
	int64_t gprocess_id, container_id, netns_id;
	char hostname[HOST_NAME_CAP];
	char agent_id[64];
};

struct tagger {
	struct tagger_cfg cfg;
	/* Sizes: max_hosts hosts with all their addresses in ip_slots (at most half full),
	 * max_procs processes in proc_slots (twice as many), dict_slots (a power of 2, at most
	 * half used). */
	size_t max_hosts, ip_slots, max_procs, proc_slots, dict_slots;
	struct dict_slot *dict;
	size_t dict_used;
	size_t *pend; /* dict slots listed in the batch under way */
	size_t npend, pend_cap;

	struct host_ent *hosts;
	size_t nhosts;
	struct ip_slot *ips; /* ip_slots: a host's address -> its id */

	struct proc_ent *procs; /* proc_slots, by (host, pid) */
	size_t nprocs;

	struct store_tag_row *rows;
	size_t nrows, rows_cap;
	struct arena_block *arena;
	bool oom;

	pthread_mutex_t stats_lock;
	struct tagger_stats st;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static char *arena_dup(struct tagger *t, const char *s, size_t n)
{
	struct arena_block *b = t->arena;
	char *p;

	if (n >= ARENA_BLOCK)
		n = ARENA_BLOCK - 1;
	if (!b || b->used + n + 1 > ARENA_BLOCK) {
		b = malloc(sizeof(*b));
		if (!b) {
			t->oom = true;
			return NULL;
		}
		b->next = t->arena;
		b->used = 0;
		t->arena = b;
	}
	p = b->data + b->used;
	memcpy(p, s, n);
	p[n] = 0;
	b->used += n + 1;
	return p;
}

static void arena_free(struct tagger *t)
{
	while (t->arena) {
		struct arena_block *n = t->arena->next;

		free(t->arena);
		t->arena = n;
	}
}

/* ---- rows ------------------------------------------------------------------------------- */

static struct store_tag_row *row_new(struct tagger *t, uint8_t table, int64_t now_s)
{
	struct store_tag_row *r;

	if (t->oom)
		return NULL;
	if (t->nrows == t->rows_cap) {
		size_t cap = t->rows_cap ? t->rows_cap * 2 : 256;
		struct store_tag_row *nr = realloc(t->rows, cap * sizeof(*nr));

		if (!nr) {
			t->oom = true;
			return NULL;
		}
		t->rows = nr;
		t->rows_cap = cap;
	}
	r = &t->rows[t->nrows++];
	memset(r, 0, sizeof(*r));
	r->table = table;
	r->v[0] = (struct store_value){ .type = STORE_INT, .i = now_s };
	return r;
}

static void v_int(struct store_value *v, int64_t i)
{
	*v = (struct store_value){ .type = STORE_INT, .i = i };
}

static void v_text(struct tagger *t, struct store_value *v, const char *s)
{
	const char *p = arena_dup(t, s ? s : "", s ? strlen(s) : 0);

	*v = (struct store_value){ .type = STORE_TEXT, .s = p ? p : "", .len = p ? strlen(p) : 0 };
}

static void row_dict(struct tagger *t, int64_t now_s, int64_t id, enum tag_kind kind,
		     const char *name, const char *key)
{
	struct store_tag_row *r = row_new(t, STAG_DICT, now_s);

	if (!r)
		return;
	v_int(&r->v[1], id);
	v_int(&r->v[2], kind);
	v_text(t, &r->v[3], name);
	v_text(t, &r->v[4], key);
}

static void row_link(struct tagger *t, int64_t now_s, int64_t id, enum tag_kind attr_kind,
		     int64_t attr_id)
{
	struct store_tag_row *r;

	if (!attr_id)
		return;
	r = row_new(t, STAG_LINK, now_s);
	if (!r)
		return;
	v_int(&r->v[1], id);
	v_int(&r->v[2], attr_kind);
	v_int(&r->v[3], attr_id);
}

/* ---- written-entry bookkeeping ---------------------------------------------------------- */

static void dict_reset(struct tagger *t)
{
	memset(t->dict, 0, t->dict_slots * sizeof(*t->dict));
	t->dict_used = 0;
	t->npend = 0;
	t->st.dict_resets++;
}

/*
 * Whether id's entry (content hash) must be written with this batch: never written, changed,
 * or last written a day ago, and not already listed in it. When the table is too full to
 * remember more, the answer is yes (a row written twice is a harmless extra version).
 */
static bool dict_due(struct tagger *t, int64_t id, uint64_t hash, int64_t now_s)
{
	size_t mask = t->dict_slots - 1, i = mix((uint64_t)id) & mask;
	struct dict_slot *s;

	for (;; i = (i + 1) & mask) {
		s = &t->dict[i];
		if (!s->id || s->id == id)
			break;
	}
	if (s->id == id) {
		if (s->pend_s && s->pend_hash == hash)
			return false;
		if (!s->pend_s && s->written_s && s->hash == hash &&
		    now_s - s->written_s < TAGGER_DICT_EVERY_S)
			return false;
	} else {
		if (t->dict_used >= t->dict_slots / 2)
			return true;
		s->id = id;
		t->dict_used++;
	}
	if (!s->pend_s) {
		if (t->npend == t->pend_cap) {
			size_t cap = t->pend_cap ? t->pend_cap * 2 : 1024;
			size_t *np = realloc(t->pend, cap * sizeof(*np));

			if (!np) {
				t->oom = true;
				return false;
			}
			t->pend = np;
			t->pend_cap = cap;
		}
		t->pend[t->npend++] = (size_t)(s - t->dict);
	}
	s->pend_hash = hash;
	s->pend_s = now_s;
	return true;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
	return XXH3_64bits_withSeed(s ? s : "", s ? strlen(s) + 1 : 1, h);
}

static uint64_t hash_i(uint64_t h, int64_t v)
{
	return XXH3_64bits_withSeed(&v, sizeof(v), h);
}

/* ---- entities ---------------------------------------------------------------------------- */

static void addr_text(uint8_t family, const uint8_t *a, char *buf, size_t cap)
{
	if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, a, buf, (socklen_t)cap))
		buf[0] = 0;
}

static bool is_loopback(uint8_t family, const uint8_t *a)
{
	static const uint8_t v6lo[16] = { [15] = 1 };

	return family == 4 ? a[0] == 127 : !memcmp(a, v6lo, 16);
}

static struct ip_slot *ip_find(struct tagger *t, uint8_t family, const uint8_t *a, bool insert)
{
	size_t alen = family == 4 ? 4 : 16, i;
	uint64_t h = XXH3_64bits_withSeed(a, alen, family);

	for (i = h % t->ip_slots;; i = (i + 1) % t->ip_slots) {
		struct ip_slot *s = &t->ips[i];

		if (!s->used)
			return insert ? s : NULL;
		if (s->family == family && !memcmp(s->a, a, alen))
			return s;
	}
}

/* The address -> host map, from scratch: hosts change their addresses rarely. */
static void ips_rebuild(struct tagger *t)
{
	memset(t->ips, 0, t->ip_slots * sizeof(*t->ips));
	for (size_t h = 0; h < t->nhosts; h++) {
		for (size_t k = 0; k < t->hosts[h].h.nips; k++) {
			const struct host_ip *ip = &t->hosts[h].h.ips[k];
			struct ip_slot *s = ip_find(t, ip->family, ip->a, true);

			/* An address two hosts report goes to the later one. */
			s->used = 1;
			s->family = ip->family;
			memset(s->a, 0, 16);
			memcpy(s->a, ip->a, ip->family == 4 ? 4 : 16);
			s->host_id = t->hosts[h].host_id;
		}
	}
}

static struct host_ent *host_of_agent(struct tagger *t, const char *agent_id)
{
	for (size_t i = 0; i < t->nhosts; i++)
		if (!strcmp(t->hosts[i].agent_id, agent_id))
			return &t->hosts[i];
	return NULL;
}

static void host_report(struct tagger *t, const char *agent_id, const struct host_info *h)
{
	struct host_ent *e = host_of_agent(t, agent_id);

	t->st.host_reports++;
	if (e && !strcmp(e->h.hostname, h->hostname) && e->h.nips == h->nips &&
	    !memcmp(e->h.ips, h->ips, h->nips * sizeof(h->ips[0])))
		return;
	if (!e) {
		if (t->nhosts == t->max_hosts)
			t->nhosts = 0; /* full: start over; agents report again within minutes */
		e = &t->hosts[t->nhosts++];
		snprintf(e->agent_id, sizeof(e->agent_id), "%s", agent_id);
	}
	e->h = *h;
	e->host_id = tag_id_str(TAG_HOST, h->hostname);
	ips_rebuild(t);
	t->st.hosts = t->nhosts;
}

static void host_entry(struct tagger *t, const struct host_ent *e, int64_t now_s)
{
	char ips[HOST_MAX_IPS * 48], one[48];
	uint64_t hh;
	size_t n = 0;
	struct store_tag_row *r;

	ips[0] = 0;
	for (size_t k = 0; k < e->h.nips; k++) {
		addr_text(e->h.ips[k].family, e->h.ips[k].a, one, sizeof(one));
		n += (size_t)snprintf(ips + n, sizeof(ips) - n, "%s%s", k ? "," : "", one);
	}
	hh = hash_str(hash_str(hash_str(0, e->h.hostname), e->agent_id), ips);
	if (!dict_due(t, e->host_id, hh, now_s))
		return;
	row_dict(t, now_s, e->host_id, TAG_HOST, e->h.hostname, e->h.hostname);
	r = row_new(t, STAG_HOST, now_s);
	if (!r)
		return;
	v_int(&r->v[1], e->host_id);
	v_text(t, &r->v[2], e->h.hostname);
	v_text(t, &r->v[3], e->agent_id);
	v_text(t, &r->v[4], ips);
}

static struct proc_ent *proc_find(struct tagger *t, int64_t host_id, uint32_t pid, bool insert)
{
	size_t i = mix((uint64_t)host_id ^ ((uint64_t)pid << 1)) % t->proc_slots;

	for (;; i = (i + 1) % t->proc_slots) {
		struct proc_ent *p = &t->procs[i];

		if (!p->host_id)
			return insert ? p : NULL;
		if (p->host_id == host_id && p->pid == pid)
			return p;
	}
}

static void proc_report(struct tagger *t, const struct host_ent *he, const struct proc_info *pi)
{
	struct proc_ent *p;
	char key[HOST_NAME_CAP + 48];

	t->st.proc_reports++;
	p = proc_find(t, he->host_id, pi->pid, false);
	if (!p) {
		if (t->nprocs >= t->max_procs) {
			/* Full: start over. Agents report every process they still see again
			 * within minutes; rows meanwhile get host and IP tags only. */
			memset(t->procs, 0, t->proc_slots * sizeof(*t->procs));
			t->nprocs = 0;
			t->st.proc_resets++;
		}
		p = proc_find(t, he->host_id, pi->pid, true);
		t->nprocs++;
	}
	p->host_id = he->host_id;
	p->pid = pi->pid;
	p->pi = *pi;
	snprintf(p->hostname, sizeof(p->hostname), "%s", he->h.hostname);
	snprintf(p->agent_id, sizeof(p->agent_id), "%s", he->agent_id);
	snprintf(key, sizeof(key), "%s/%u/%" PRIu64, he->h.hostname, pi->pid, pi->start_time_us);
	p->gprocess_id = tag_id_str(TAG_GPROCESS, key);
	p->container_id = pi->container_id[0] ? tag_id_str(TAG_CONTAINER, pi->container_id) : 0;
	p->netns_id = 0;
	if (pi->netns_inode) {
		snprintf(key, sizeof(key), "%s/%" PRIu64, he->h.hostname, pi->netns_inode);
		p->netns_id = tag_id_str(TAG_NETNS, key);
	}
	t->st.procs = t->nprocs;
}

static void proc_entry(struct tagger *t, const struct proc_ent *p, int64_t now_s)
{
	const struct proc_info *pi = &p->pi;
	char key[HOST_NAME_CAP + 48], ino[24];
	uint64_t h = 0;
	struct store_tag_row *r;

	h = hash_str(h, pi->comm);
	h = hash_str(h, pi->exe);
	h = hash_str(h, pi->cmdline);
	h = hash_str(h, pi->user);
	h = hash_str(h, pi->container_id);
	h = hash_str(h, p->agent_id);
	h = hash_i(h, pi->has_uid ? (int64_t)pi->uid : -1);
	h = hash_i(h, (int64_t)pi->netns_inode);
	h = hash_i(h, p->host_id);
	if (!dict_due(t, p->gprocess_id, h, now_s))
		return;
	snprintf(key, sizeof(key), "%s/%u/%" PRIu64, p->hostname, pi->pid, pi->start_time_us);
	row_dict(t, now_s, p->gprocess_id, TAG_GPROCESS, pi->comm, key);
	row_link(t, now_s, p->gprocess_id, TAG_HOST, p->host_id);
	row_link(t, now_s, p->gprocess_id, TAG_CONTAINER, p->container_id);
	row_link(t, now_s, p->gprocess_id, TAG_NETNS, p->netns_id);
	r = row_new(t, STAG_PROCESS, now_s);
	if (r) {
		v_int(&r->v[1], p->gprocess_id);
		v_int(&r->v[2], p->host_id);
		v_text(t, &r->v[3], p->agent_id);
		v_int(&r->v[4], pi->pid);
		v_int(&r->v[5], (int64_t)pi->start_time_us);
		v_text(t, &r->v[6], pi->comm);
		v_text(t, &r->v[7], pi->exe);
		v_text(t, &r->v[8], pi->cmdline);
		if (pi->has_uid)
			v_int(&r->v[9], pi->uid);
		else
			r->v[9].type = STORE_NULL;
		v_text(t, &r->v[10], pi->user);
		v_int(&r->v[11], p->container_id);
		v_int(&r->v[12], p->netns_id);
		v_int(&r->v[13], (int64_t)pi->netns_inode);
	}
	if (p->container_id && dict_due(t, p->container_id, hash_str(0, pi->container_id), now_s))
		row_dict(t, now_s, p->container_id, TAG_CONTAINER, pi->container_id,
			 pi->container_id);
	if (p->netns_id) {
		snprintf(ino, sizeof(ino), "%" PRIu64, pi->netns_inode);
		snprintf(key, sizeof(key), "%s/%s", p->hostname, ino);
		if (dict_due(t, p->netns_id, hash_str(0, key), now_s))
			row_dict(t, now_s, p->netns_id, TAG_NETNS, ino, key);
	}
}

/* ---- Kubernetes ---------------------------------------------------------------------------- */

static uint64_t hash_labels(uint64_t h, const struct k8s_obj *o)
{
	for (size_t i = 0; o && i < o->nlabels; i++)
		h = hash_str(hash_str(h, o->labels[i].key), o->labels[i].value);
	return hash_i(h, o ? (int64_t)o->nlabels : -1);
}

/*
 * The written-entries table remembers an entity's label set apart from its entry, under
 * another key, so that a relabel writes the labels only (a new k8s_label version) and a
 * move of a pod to another workload its entry only. The key is the id scrambled: it is
 * never written anywhere, and a clash with a real id among 2^63 costs one extra version.
 */
static int64_t labels_slot(int64_t id)
{
	int64_t k = (int64_t)(((uint64_t)id ^ 0x2545f4914f6cdd1dull) & INT64_MAX);

	return k ? k : 1;
}

/* All of an entity's labels with one time (a new version of its label set); one row with
 * key '' when it has none, so that "no labels" is a version too. */
static void label_rows(struct tagger *t, int64_t now_s, int64_t id, const struct k8s_obj *o)
{
	size_t n = o ? o->nlabels : 0;

	for (size_t i = 0; i < (n ? n : 1); i++) {
		struct store_tag_row *r = row_new(t, STAG_LABEL, now_s);

		if (!r)
			return;
		v_int(&r->v[1], id);
		v_text(t, &r->v[2], n ? o->labels[i].key : "");
		v_text(t, &r->v[3], n ? o->labels[i].value : "");
	}
}

/* The dictionary entries of a Kubernetes view that are due: each entity with its links
 * (tag_model: pod -> cluster, ns, node, group; group and service -> ns, cluster; ns and
 * node -> cluster) and, for pods and services, their labels. */
static void k8s_entries(struct tagger *t, const struct k8s_view *v, int64_t now_s)
{
	char key[4 * (K8S_NAME_MAX + 1) + K8S_KIND_MAX + 8];
	uint64_t h;

	if (v->cluster && dict_due(t, v->cluster, hash_str(0, v->cluster_name), now_s))
		row_dict(t, now_s, v->cluster, TAG_POD_CLUSTER, v->cluster_name, v->cluster_name);
	if (v->ns && dict_due(t, v->ns, hash_str(0, v->ns_name), now_s)) {
		k8s_view_key(v, TAG_POD_NS, key, sizeof(key));
		row_dict(t, now_s, v->ns, TAG_POD_NS, v->ns_name, key);
		row_link(t, now_s, v->ns, TAG_POD_CLUSTER, v->cluster);
	}
	if (v->node && dict_due(t, v->node, hash_str(0, v->node_name), now_s)) {
		k8s_view_key(v, TAG_POD_NODE, key, sizeof(key));
		row_dict(t, now_s, v->node, TAG_POD_NODE, v->node_name, key);
		row_link(t, now_s, v->node, TAG_POD_CLUSTER, v->cluster);
	}
	if (v->group &&
	    dict_due(t, v->group, hash_str(hash_str(0, v->group_kind), v->group_name), now_s)) {
		k8s_view_key(v, TAG_POD_GROUP, key, sizeof(key));
		row_dict(t, now_s, v->group, TAG_POD_GROUP, v->group_name, key);
		row_link(t, now_s, v->group, TAG_POD_NS, v->ns);
		row_link(t, now_s, v->group, TAG_POD_CLUSTER, v->cluster);
	}
	if (v->service) {
		if (dict_due(t, v->service, hash_str(0, v->service_name), now_s)) {
			k8s_view_key(v, TAG_POD_SERVICE, key, sizeof(key));
			row_dict(t, now_s, v->service, TAG_POD_SERVICE, v->service_name, key);
			/* A pod's service is in the pod's namespace. */
			row_link(t, now_s, v->service, TAG_POD_NS, v->ns);
			row_link(t, now_s, v->service, TAG_POD_CLUSTER, v->cluster);
		}
		if (dict_due(t, labels_slot(v->service), hash_labels(0, v->service_obj), now_s))
			label_rows(t, now_s, v->service, v->service_obj);
	}
	if (v->pod) {
		h = hash_str(0, v->pod_name);
		h = hash_i(h, v->node);
		h = hash_i(h, v->group);
		if (dict_due(t, v->pod, h, now_s)) {
			k8s_view_key(v, TAG_POD, key, sizeof(key));
			row_dict(t, now_s, v->pod, TAG_POD, v->pod_name, key);
			row_link(t, now_s, v->pod, TAG_POD_CLUSTER, v->cluster);
			row_link(t, now_s, v->pod, TAG_POD_NS, v->ns);
			row_link(t, now_s, v->pod, TAG_POD_NODE, v->node);
			row_link(t, now_s, v->pod, TAG_POD_GROUP, v->group);
		}
		if (dict_due(t, labels_slot(v->pod), hash_labels(0, v->pod_obj), now_s))
			label_rows(t, now_s, v->pod, v->pod_obj);
	}
}

/* ---- resolution --------------------------------------------------------------------------- */

/*
 * One side of a record. pid is the local process's on the side that has one (0 otherwise);
 * server_port is the server side's port, 0 on the client side (custom rules with a port
 * name servers only).
 */
static void tag_side(struct tagger *t, const struct host_ent *agent_host, struct tag_set *ts,
		     uint8_t family, const uint8_t *addr, uint16_t server_port, uint32_t pid,
		     int64_t now_s)
{
	char ip[48];
	const struct custom_rule *cr;
	const struct proc_ent *p = NULL;
	int64_t ip_id;

	memset(ts, 0, sizeof(*ts));
	addr_text(family, addr, ip, sizeof(ip));
	ip_id = tag_id_str(TAG_IP, ip);
	if (dict_due(t, ip_id, 1, now_s))
		row_dict(t, now_s, ip_id, TAG_IP, ip, ip);
	/* The process side and loopback traffic are on the sending agent's host. */
	if (pid || is_loopback(family, addr)) {
		if (agent_host)
			ts->host = agent_host->host_id;
	} else {
		const struct ip_slot *s = ip_find(t, family, addr, false);

		if (s)
			ts->host = s->host_id;
	}
	if (pid && agent_host) {
		p = proc_find(t, agent_host->host_id, pid, false);
		if (p) {
			ts->gprocess = p->gprocess_id;
			ts->container = p->container_id;
			ts->netns = p->netns_id;
			proc_entry(t, p, now_s);
		} else {
			t->st.procs_unknown++;
		}
	}
	if (t->cfg.k8s) {
		struct k8s_view v;

		/* The cache is locked for the whole batch (tagger_batch). */
		if (k8s_cache_lookup(t->cfg.k8s, ip, &v)) {
			t->st.k8s_matches++;
			ts->pod_cluster = v.cluster;
			ts->pod_ns = v.ns;
			ts->pod_node = v.node;
			ts->pod = v.pod;
			ts->pod_group = v.group;
			ts->pod_service = v.service;
			k8s_entries(t, &v, now_s);
		}
	}
	cr = custom_rules_match(t->cfg.rules, family, addr, server_port);
	if (cr) {
		ts->custom_service = cr->id;
		t->st.custom_matches++;
		if (dict_due(t, cr->id, 1, now_s))
			row_dict(t, now_s, cr->id, TAG_CUSTOM_SERVICE, cr->name, cr->name);
	}
	/* auto_service: custom_service > pod_service > pod_group > gprocess > ip. */
	if (ts->custom_service) {
		ts->auto_service = ts->custom_service;
		ts->auto_service_type = TAG_CUSTOM_SERVICE;
	} else if (ts->pod_service) {
		ts->auto_service = ts->pod_service;
		ts->auto_service_type = TAG_POD_SERVICE;
	} else if (ts->pod_group) {
		ts->auto_service = ts->pod_group;
		ts->auto_service_type = TAG_POD_GROUP;
	} else if (ts->gprocess) {
		ts->auto_service = ts->gprocess;
		ts->auto_service_type = TAG_GPROCESS;
	} else {
		ts->auto_service = ip_id;
		ts->auto_service_type = TAG_IP;
	}
	/* auto_instance: pod > gprocess > ip. */
	if (ts->pod) {
		ts->auto_instance = ts->pod;
		ts->auto_instance_type = TAG_POD;
	} else if (ts->gprocess) {
		ts->auto_instance = ts->gprocess;
		ts->auto_instance_type = TAG_GPROCESS;
	} else {
		ts->auto_instance = ip_id;
		ts->auto_instance_type = TAG_IP;
	}
}

int tagger_batch(struct tagger *t, const char *agent_id, struct wire_decoded *d, int64_t now_s,
		 const struct store_tag_row **rows, size_t *nrows)
{
	struct host_ent *he;

	*rows = NULL;
	*nrows = 0;
	t->nrows = 0;
	t->npend = 0;
	t->oom = false;
	arena_free(t);
	if (t->dict_used >= t->dict_slots / 2)
		dict_reset(t);
	pthread_mutex_lock(&t->stats_lock);
	t->st.batches++;
	if (d->has_host)
		host_report(t, agent_id, &d->host);
	he = host_of_agent(t, agent_id);
	if (he) {
		host_entry(t, he, now_s);
		for (size_t i = 0; i < d->nprocs; i++)
			proc_report(t, he, &d->procs[i]);
	}
	for (size_t i = 0; i < d->nprocs && he; i++) {
		const struct proc_ent *p = proc_find(t, he->host_id, d->procs[i].pid, false);

		if (p)
			proc_entry(t, p, now_s);
	}
	if (t->cfg.k8s)
		k8s_cache_lock(t->cfg.k8s);
	for (size_t i = 0; i < d->n7; i++) {
		struct l7_record *r = &d->l7[i];
		uint32_t pid0 = r->obs == REC_OBS_CLIENT_PROCESS ? r->pid : 0;
		uint32_t pid1 = r->obs == REC_OBS_SERVER_PROCESS ? r->pid : 0;

		tag_side(t, he, &r->tags[0], r->family, r->addr0, 0, pid0, now_s);
		tag_side(t, he, &r->tags[1], r->family, r->addr1, r->server_port, pid1, now_s);
	}
	for (size_t i = 0; i < d->n4; i++) {
		struct l4_record *r = &d->l4[i];

		tag_side(t, he, &r->tags[0], r->f.family, r->f.addr0, 0, 0, now_s);
		tag_side(t, he, &r->tags[1], r->f.family, r->f.addr1, r->f.server_port, 0, now_s);
	}
	if (t->cfg.k8s)
		k8s_cache_unlock(t->cfg.k8s);
	if (t->oom) {
		pthread_mutex_unlock(&t->stats_lock);
		tagger_done(t, false);
		return -ENOMEM;
	}
	t->st.dict_rows += t->nrows;
	pthread_mutex_unlock(&t->stats_lock);
	*rows = t->rows;
	*nrows = t->nrows;
	return 0;
}

void tagger_done(struct tagger *t, bool stored)
{
	for (size_t i = 0; i < t->npend; i++) {
		struct dict_slot *s = &t->dict[t->pend[i]];

		if (stored && s->pend_s) {
			s->hash = s->pend_hash;
			s->written_s = s->pend_s;
		}
		s->pend_s = 0;
	}
	t->npend = 0;
	t->nrows = 0;
	arena_free(t);
}

struct tagger *tagger_new(const struct tagger_cfg *cfg)
{
	struct tagger *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cfg = *cfg;
	t->max_hosts = cfg->max_hosts ? cfg->max_hosts : TAGGER_DEFAULT_HOSTS;
	t->max_procs = cfg->max_procs ? cfg->max_procs : TAGGER_DEFAULT_PROCS;
	if (t->max_hosts > TAGGER_MAX_HOSTS)
		t->max_hosts = TAGGER_MAX_HOSTS;
	if (t->max_procs > TAGGER_MAX_PROCS)
		t->max_procs = TAGGER_MAX_PROCS;
	/* Room for every address of every host at half load: the probe always ends. */
	t->ip_slots = t->max_hosts * HOST_MAX_IPS * 2;
	t->proc_slots = t->max_procs * 2;
	t->dict_slots = 64;
	while (t->dict_slots < 2 * (cfg->dict_entries ? cfg->dict_entries : TAGGER_DEFAULT_DICT) &&
	       t->dict_slots < 2 * (size_t)TAGGER_MAX_DICT)
		t->dict_slots *= 2;
	t->dict = calloc(t->dict_slots, sizeof(*t->dict));
	t->hosts = calloc(t->max_hosts, sizeof(*t->hosts));
	t->ips = calloc(t->ip_slots, sizeof(*t->ips));
	t->procs = calloc(t->proc_slots, sizeof(*t->procs));
	pthread_mutex_init(&t->stats_lock, NULL);
	if (!t->dict || !t->hosts || !t->ips || !t->procs) {
		tagger_free(t);
		return NULL;
	}
	return t;
}

void tagger_free(struct tagger *t)
{
	if (!t)
		return;
	arena_free(t);
	free(t->dict);
	free(t->pend);
	free(t->hosts);
	free(t->ips);
	free(t->procs);
	free(t->rows);
	pthread_mutex_destroy(&t->stats_lock);
	free(t);
}

void tagger_get_stats(struct tagger *t, struct tagger_stats *out)
{
	pthread_mutex_lock(&t->stats_lock);
	*out = t->st;
	pthread_mutex_unlock(&t->stats_lock);
}
