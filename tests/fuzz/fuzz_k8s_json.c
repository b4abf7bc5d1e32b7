/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the Kubernetes API decoder (src/tag/k8s_obj.c) and the cache that
 * takes its objects (src/tag/k8s_cache.c): what an API server (or anything answering at
 * k8s_api_url) sends reaches both. The first byte picks the kind and whether the rest is a
 * list response or a stream of watch events (one per line); every object decoded goes into
 * a small cache (so that the cap is hit too), and every address of it is looked up, which
 * works out services by selector and workloads through ReplicaSets. Decoded objects must
 * keep the decoder's promises: bounded names, sorted labels, canonical addresses.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/tag_id.h"
#include "tag/k8s_cache.h"
#include "tag/k8s_obj.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct k8s_obj *o)
{
	if (!o->name || !*o->name || strlen(o->name) > K8S_NAME_MAX || !o->ns ||
	    strlen(o->ns) > K8S_NAME_MAX || !o->owner_kind || !o->owner_name || !o->node ||
	    o->nips > K8S_MAX_IPS || o->nlabels > K8S_MAX_LABELS || o->nselector > K8S_MAX_LABELS)
		__builtin_trap();
	for (size_t i = 1; i < o->nlabels; i++)
		if (strcmp(o->labels[i - 1].key, o->labels[i].key) >= 0)
			__builtin_trap();
	for (size_t i = 0; i < o->nips; i++) {
		uint8_t a[16];
		char back[K8S_IP_TEXT];
		int af = strchr(o->ips[i], ':') ? AF_INET6 : AF_INET;

		if (inet_pton(af, o->ips[i], a) != 1 || !inet_ntop(af, a, back, sizeof(back)) ||
		    strcmp(back, o->ips[i]))
			__builtin_trap();
	}
}

struct ctx {
	struct k8s_cache *c;
	char ips[16][K8S_IP_TEXT]; /* addresses to look up at the end */
	size_t nips;
};

/* Remember o's addresses (before o goes into the cache, which takes it). */
static void remember(struct ctx *x, const struct k8s_obj *o)
{
	for (size_t i = 0; i < o->nips && x->nips < 16; i++)
		memcpy(x->ips[x->nips++], o->ips[i], K8S_IP_TEXT);
}

static int put(void *arg, struct k8s_obj *o)
{
	struct ctx *x = arg;

	check(o);
	remember(x, o);
	k8s_cache_list_put(x->c, o);
	return 0;
}

static void resolve_all(struct ctx *x)
{
	char key[1200];
	struct k8s_view v;

	k8s_cache_lock(x->c);
	for (size_t i = 0; i < x->nips; i++) {
		if (!k8s_cache_lookup(x->c, x->ips[i], &v))
			continue;
		for (int k = TAG_POD_CLUSTER; k <= TAG_POD_SERVICE; k++) {
			size_t n = k8s_view_key(&v, k, key, sizeof(key));
			int64_t want = k == TAG_POD_CLUSTER ? v.cluster
				       : k == TAG_POD_NS    ? v.ns
				       : k == TAG_POD_NODE  ? v.node
				       : k == TAG_POD	    ? v.pod
				       : k == TAG_POD_GROUP ? v.group
							    : v.service;

			/* Every id in a view is the id of the key it prints. */
			if (!want != !n || (n && tag_id(k, key, n) != want))
				__builtin_trap();
		}
	}
	k8s_cache_unlock(x->c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx x = { 0 };
	enum k8s_kind kind;
	bool list;

	if (size < 1)
		return 0;
	kind = (enum k8s_kind)((data[0] & 0x7f) % K8S__KINDS);
	list = data[0] & 0x80;
	data++, size--;
	x.c = k8s_cache_new("fuzz", 8);
	if (!x.c)
		return 0;
	if (list) {
		char rv[K8S_RV_MAX + 1], cont[K8S_CONTINUE_MAX + 1], err[200];
		size_t bad;

		k8s_cache_list_begin(x.c, kind);
		k8s_list_parse((const char *)data, size, kind, put, &x, rv, cont, &bad, err,
			       sizeof(err));
		k8s_cache_list_end(x.c, kind, true);
	} else {
		const char *p = (const char *)data, *end = p + size;

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
			char rv[K8S_RV_MAX + 1], err[200];
			enum k8s_event ev;
			struct k8s_obj o;
			int code;

			if (!k8s_event_parse(p, len, kind, &ev, &o, rv, &code, err, sizeof(err)) &&
			    ev <= K8S_EV_DELETED) {
				check(&o);
				remember(&x, &o);
				k8s_cache_apply(x.c, ev, &o);
			}
			p += len + 1;
		}
	}
	resolve_all(&x);
	k8s_cache_free(x.c);
	return 0;
}
