/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes tagging (src/tag/k8s_obj.c, k8s_cache.c and the tagger's use of them), on the
 * recorded API responses of tests/integration/k8s/ (the integration test serves the same
 * files): lists and watch events decode into the fields the API gives, with clear refusals
 * of what no API server sends; the cache answers addresses with the contract's ids (pod,
 * namespace, node, workload through the ReplicaSet's owner, service by selector, cluster);
 * relabels, deletes, re-lists and the object cap do what they say; the tagger fills the
 * pod_* columns with auto_service / auto_instance by priority and lists tag_dict, tag_link
 * and k8s_label rows, the labels again (and nothing else) after a relabel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/tag_id.h"
#include "tag/k8s_cache.h"
#include "tag/k8s_obj.h"
#include "tag/tagger.h"

#define NOW	 1795300000
#define FRONT_IP "10.231.0.20"
#define LOAD_IP	 "10.231.0.10"

/* ---- fixtures -------------------------------------------------------------------------------- */

static char *slurp(const char *name, size_t *len)
{
	char dir[512], path[768];
	FILE *f;
	char *buf;
	long n;

	snprintf(dir, sizeof(dir), "%s", __FILE__);
	snprintf(path, sizeof(path), "%s/../integration/k8s/%s", dirname(dir), name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("fixture %s: %s (run from the repository's root)", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return buf;
}

struct collected {
	size_t n;
	struct k8s_obj o[16];
};

static int collect(void *arg, struct k8s_obj *o)
{
	struct collected *c = arg;

	assert_true(c->n < 16);
	c->o[c->n++] = *o;
	return 0;
}

static void collected_free(struct collected *c)
{
	for (size_t i = 0; i < c->n; i++)
		k8s_obj_free(&c->o[i]);
	c->n = 0;
}

static const char *const list_files[K8S__KINDS] = {
	[K8S_POD] = "pods.json",
	[K8S_SERVICE] = "services.json",
	[K8S_NODE] = "nodes.json",
	[K8S_NAMESPACE] = "namespaces.json",
	[K8S_REPLICASET] = "replicasets.json",
	[K8S_DEPLOYMENT] = "deployments.json",
};

static int put_cb(void *arg, struct k8s_obj *o)
{
	k8s_cache_list_put(arg, o);
	return 0;
}

/* A cache loaded with every recorded list, as the watcher does it. */
static struct k8s_cache *loaded_cache(const char *cluster, size_t max)
{
	struct k8s_cache *c = k8s_cache_new(cluster, max);

	assert_non_null(c);
	for (int k = 0; k < K8S__KINDS; k++) {
		char rv[K8S_RV_MAX + 1], cont[K8S_CONTINUE_MAX + 1], err[200];
		size_t len, bad;
		char *buf = slurp(list_files[k], &len);

		k8s_cache_list_begin(c, k);
		assert_int_equal(
			k8s_list_parse(buf, len, k, put_cb, c, rv, cont, &bad, err, sizeof(err)),
			0);
		assert_int_equal(bad, 0);
		assert_string_equal(rv, "4300");
		assert_string_equal(cont, "");
		k8s_cache_list_end(c, k, true);
		free(buf);
	}
	return c;
}

/* Apply the recorded pod watch stream's events, in order. */
static void apply_watch(struct k8s_cache *c, const char *file, size_t max_events)
{
	size_t len, n = 0;
	char *buf = slurp(file, &len), *line = buf, *nl;

	while ((nl = strchr(line, '\n')) && n < max_events) {
		char rv[K8S_RV_MAX + 1], err[200];
		enum k8s_event ev;
		struct k8s_obj o;
		int code;

		assert_int_equal(k8s_event_parse(line, (size_t)(nl - line), K8S_POD, &ev, &o, rv,
						 &code, err, sizeof(err)),
				 0);
		if (ev <= K8S_EV_DELETED)
			k8s_cache_apply(c, ev, &o);
		line = nl + 1;
		n++;
	}
	free(buf);
}

static int64_t id(int kind, const char *key)
{
	return tag_id_str(kind, key);
}

/* ---- decoding -------------------------------------------------------------------------------- */

static void test_decode_lists(void **state)
{
	static const size_t counts[K8S__KINDS] = {
		[K8S_POD] = 5,	     [K8S_SERVICE] = 4,	   [K8S_NODE] = 2,
		[K8S_NAMESPACE] = 3, [K8S_REPLICASET] = 1, [K8S_DEPLOYMENT] = 1
	};
	struct collected c = { 0 };
	char rv[K8S_RV_MAX + 1], cont[K8S_CONTINUE_MAX + 1], err[200];
	size_t len, bad;
	char *buf;

	(void)state;
	for (int k = 0; k < K8S__KINDS; k++) {
		buf = slurp(list_files[k], &len);
		assert_int_equal(
			k8s_list_parse(buf, len, k, collect, &c, rv, cont, &bad, err, sizeof(err)),
			0);
		assert_int_equal(c.n, counts[k]);
		for (size_t i = 0; i < c.n; i++)
			assert_int_equal(c.o[i].kind, k);
		if (k == K8S_POD) {
			const struct k8s_obj *f = &c.o[0], *p = &c.o[2], *j = &c.o[3];

			assert_string_equal(f->name, "frontend-6d4cf56db6-8xk2p");
			assert_string_equal(f->ns, "shop");
			assert_string_equal(f->uid, "5b1e7c1a-7a4f-4a0e-9d0b-2f8a3c9e6d11");
			assert_string_equal(f->owner_kind, "ReplicaSet");
			assert_string_equal(f->owner_name, "frontend-6d4cf56db6");
			assert_string_equal(f->node, "node-a");
			assert_int_equal(f->nips, 1); /* podIP and podIPs[0] are one address */
			assert_string_equal(f->ips[0], FRONT_IP);
			assert_int_equal(f->nlabels, 3);
			assert_string_equal(f->labels[0].key, "app");
			assert_string_equal(f->labels[1].key, "pod-template-hash");
			assert_string_equal(f->labels[2].key, "tier");
			assert_string_equal(f->labels[2].value, "web");
			assert_false(f->host_network || f->finished);
			assert_true(p->host_network);
			assert_string_equal(p->owner_kind, "DaemonSet");
			assert_true(j->finished);
			assert_string_equal(c.o[4].owner_kind, "");
		}
		if (k == K8S_SERVICE) {
			assert_string_equal(c.o[0].name, "kubernetes");
			assert_int_equal(c.o[0].nselector, 0);
			assert_string_equal(c.o[1].ips[0], "10.96.12.34");
			assert_int_equal(c.o[1].nselector, 1);
			assert_string_equal(c.o[1].selector[0].value, "frontend");
			assert_int_equal(c.o[3].nips, 0); /* headless: clusterIP None */
		}
		if (k == K8S_NODE) {
			assert_string_equal(c.o[1].name, "node-b");
			assert_string_equal(c.o[1].ns, "");
			assert_int_equal(c.o[1].nips, 1);
			assert_string_equal(c.o[1].ips[0], "192.168.49.3");
		}
		if (k == K8S_REPLICASET) {
			assert_string_equal(c.o[0].owner_kind, "Deployment");
			assert_string_equal(c.o[0].owner_name, "frontend");
		}
		collected_free(&c);
		free(buf);
	}
}

static void test_decode_events(void **state)
{
	char rv[K8S_RV_MAX + 1], err[200];
	enum k8s_event ev[3];
	struct k8s_obj o;
	size_t len;
	char *buf = slurp("pods-watch.jsonl", &len), *line = buf, *nl;
	int code, i = 0;

	(void)state;
	while ((nl = strchr(line, '\n'))) {
		assert_true(i < 3);
		assert_int_equal(k8s_event_parse(line, (size_t)(nl - line), K8S_POD, &ev[i], &o, rv,
						 &code, err, sizeof(err)),
				 0);
		if (i == 0) {
			assert_string_equal(rv, "4410");
			assert_string_equal(o.labels[2].value, "edge");
			assert_string_equal(o.labels[3].key, "version");
		}
		if (i == 1)
			assert_string_equal(rv, "4412");
		if (i == 2)
			assert_string_equal(o.name, "debug");
		k8s_obj_free(&o);
		line = nl + 1;
		i++;
	}
	free(buf);
	assert_int_equal(i, 3);
	assert_int_equal(ev[0], K8S_EV_MODIFIED);
	assert_int_equal(ev[1], K8S_EV_BOOKMARK);
	assert_int_equal(ev[2], K8S_EV_DELETED);
	buf = slurp("watch-gone.jsonl", &len);
	assert_int_equal(
		k8s_event_parse(buf, len, K8S_POD, &ev[0], &o, rv, &code, err, sizeof(err)), 0);
	assert_int_equal(ev[0], K8S_EV_ERROR);
	assert_int_equal(code, 410);
	free(buf);
}

static void test_decode_refusals(void **state)
{
	static const struct {
		const char *in, *err;
	} bad_events[] = {
		{ "{\"type\":\"ADDED\"", "not JSON: '}' expected near end of file at byte 15" },
		{ "[1]", "not a watch event (no type or object)" },
		{ "{\"type\":\"ADDED\",\"object\":[]}", "not a watch event (no type or object)" },
		{ "{\"type\":\"SYNC\",\"object\":{}}", "unknown watch event type 'SYNC'" },
		{ "{\"type\":\"ADDED\",\"object\":{}}", "no metadata" },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"namespace\":\"a\"}}}",
		  "metadata.name is empty" },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\"}}}",
		  "Pod p has no metadata.namespace" },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":7,\"namespace\":\"a\"}}}",
		  "name is not a string" },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\\nq\","
		  "\"namespace\":\"a\"}}}",
		  "name has a control character" },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"namespace\":"
		  "\"a\","
		  "\"labels\":{\"k\":\"0123456789012345678901234567890123456789012345678901234567"
		  "890123\"}}}}",
		  "k is 64 bytes long (at most 63)" },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"namespace\":"
		  "\"a\","
		  "\"labels\":[]}}}",
		  "labels is not an object" },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"namespace\":"
		  "\"a\"},"
		  "\"status\":{\"podIP\":\"10.0.0.256\"}}}",
		  "'10.0.0.256' is not an IP address" },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"namespace\":"
		  "\"a\"},"
		  "\"status\":{\"podIPs\":[{\"ip\":1}]}}}",
		  "podIPs[0] is not an address" },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"namespace\":"
		  "\"a\","
		  "\"ownerReferences\":[{\"kind\":\"ReplicaSet\"}]}}}",
		  "an owner reference without kind or name" },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"namespace\":"
		  "\"a\","
		  "\"name\":\"q\"}}}",
		  "not JSON: duplicate object key near '\"name\"' at byte 71" },
	};
	char rv[K8S_RV_MAX + 1], cont[K8S_CONTINUE_MAX + 1], err[200], name[300];
	struct collected c = { 0 };
	enum k8s_event ev;
	struct k8s_obj o;
	size_t bad;
	int code;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_events) / sizeof(bad_events[0]); i++) {
		err[0] = 0;
		assert_int_equal(k8s_event_parse(bad_events[i].in, strlen(bad_events[i].in),
						 K8S_POD, &ev, &o, rv, &code, err, sizeof(err)),
				 -EINVAL);
		if (strcmp(err, bad_events[i].err))
			fail_msg("event %zu: got '%s', want '%s'", i, err, bad_events[i].err);
	}
	/* A name one byte longer than a DNS subdomain may be. */
	memset(name, 'a', 254);
	name[254] = 0;
	{
		char in[600];

		snprintf(in, sizeof(in),
			 "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"%s\"}}}", name);
		assert_int_equal(k8s_event_parse(in, strlen(in), K8S_NODE, &ev, &o, rv, &code, err,
						 sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, "name is 254 bytes long (at most 253)");
	}
	/* Not a list at all; a list whose items partly do not decode (skipped, counted). */
	assert_int_equal(k8s_list_parse("{\"kind\":\"Status\",\"code\":403}", 28, K8S_POD, collect,
					&c, rv, cont, &bad, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "not a PodList (kind Status)");
	{
		const char *in = "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"9\","
				 "\"continue\":\"eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ\"},\"items\":["
				 "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"}},"
				 "{\"metadata\":{\"name\":\"b\"}},"
				 "{\"metadata\":{\"name\":\"c\",\"namespace\":\"n\"},"
				 "\"status\":{\"podIP\":\"fd00::0:1\"}}]}";

		assert_int_equal(k8s_list_parse(in, strlen(in), K8S_POD, collect, &c, rv, cont,
						&bad, err, sizeof(err)),
				 0);
		assert_int_equal(bad, 1);
		assert_string_equal(err, "items[1]: Pod b has no metadata.namespace");
		assert_string_equal(rv, "9");
		assert_string_equal(cont, "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ");
		assert_int_equal(c.n, 2);
		assert_string_equal(c.o[1].ips[0], "fd00::1"); /* canonical text */
		collected_free(&c);
	}
	/* More labels than kept: the first K8S_MAX_LABELS by key, marked. */
	{
		char in[8192];
		size_t n = (size_t)snprintf(in, sizeof(in),
					    "{\"type\":\"ADDED\",\"object\":{"
					    "\"metadata\":{\"name\":\"p\",\"namespace\":"
					    "\"a\",\"labels\":{");

		for (int i = 0; i < K8S_MAX_LABELS + 6; i++)
			n += (size_t)snprintf(in + n, sizeof(in) - n, "%s\"k%03d\":\"v\"",
					      i ? "," : "", K8S_MAX_LABELS + 5 - i);
		n += (size_t)snprintf(in + n, sizeof(in) - n, "}}}}");
		assert_int_equal(
			k8s_event_parse(in, n, K8S_POD, &ev, &o, rv, &code, err, sizeof(err)), 0);
		assert_true(o.truncated);
		assert_int_equal(o.nlabels, K8S_MAX_LABELS);
		assert_string_equal(o.labels[0].key, "k000");
		assert_string_equal(o.labels[K8S_MAX_LABELS - 1].key, "k063");
		k8s_obj_free(&o);
	}
}

/* ---- the cache ------------------------------------------------------------------------------- */

static void test_resolution(void **state)
{
	struct k8s_cache *c = loaded_cache("prod-eu", 0);
	struct k8s_stats st;
	struct k8s_view v;
	char key[600];

	(void)state;
	k8s_cache_lock(c);
	/* The frontend pod: its Deployment through its ReplicaSet; two services select it
	 * (frontend by app, web-all by tier): the first by name. */
	assert_true(k8s_cache_lookup(c, FRONT_IP, &v));
	assert_int_equal(v.cluster, id(TAG_POD_CLUSTER, "prod-eu"));
	assert_int_equal(v.ns, id(TAG_POD_NS, "prod-eu/shop"));
	assert_int_equal(v.node, id(TAG_POD_NODE, "prod-eu/node-a"));
	assert_int_equal(v.pod, id(TAG_POD, "prod-eu/shop/frontend-6d4cf56db6-8xk2p"));
	assert_int_equal(v.group, id(TAG_POD_GROUP, "prod-eu/shop/Deployment/frontend"));
	assert_int_equal(v.service, id(TAG_POD_SERVICE, "prod-eu/shop/frontend"));
	assert_string_equal(v.pod_name, "frontend-6d4cf56db6-8xk2p");
	assert_string_equal(v.group_name, "frontend");
	assert_string_equal(v.service_name, "frontend");
	assert_string_equal(v.node_name, "node-a");
	assert_int_equal(v.service_obj->nlabels, 2);
	assert_int_equal(k8s_view_key(&v, TAG_POD_GROUP, key, sizeof(key)),
			 strlen("prod-eu/shop/Deployment/frontend"));
	assert_string_equal(key, "prod-eu/shop/Deployment/frontend");
	/* A StatefulSet's pod; its service is headless (no ClusterIP, still its service). */
	assert_true(k8s_cache_lookup(c, LOAD_IP, &v));
	assert_int_equal(v.group, id(TAG_POD_GROUP, "prod-eu/shop/StatefulSet/loadgen"));
	assert_int_equal(v.service, id(TAG_POD_SERVICE, "prod-eu/shop/loadgen"));
	assert_int_equal(v.node, id(TAG_POD_NODE, "prod-eu/node-b"));
	/* A bare pod: no workload, no service. */
	assert_true(k8s_cache_lookup(c, "10.231.0.30", &v));
	assert_int_equal(v.pod, id(TAG_POD, "prod-eu/default/debug"));
	assert_int_equal(v.group, 0);
	assert_int_equal(v.service, 0);
	assert_null(v.group_name);
	assert_int_equal(k8s_view_key(&v, TAG_POD_GROUP, key, sizeof(key)), 0);
	/* A finished Job pod's address is free for reuse: not its. */
	assert_false(k8s_cache_lookup(c, "10.231.0.99", &v));
	assert_int_equal(v.cluster, 0);
	/* kube-proxy (hostNetwork) does not own its node's address: the node does. */
	assert_true(k8s_cache_lookup(c, "192.168.49.2", &v));
	assert_int_equal(v.pod, 0);
	assert_int_equal(v.node, id(TAG_POD_NODE, "prod-eu/node-a"));
	assert_int_equal(v.cluster, id(TAG_POD_CLUSTER, "prod-eu"));
	assert_int_equal(v.ns, 0);
	/* ClusterIPs: the service and its namespace. */
	assert_true(k8s_cache_lookup(c, "10.96.12.35", &v));
	assert_int_equal(v.service, id(TAG_POD_SERVICE, "prod-eu/shop/web-all"));
	assert_int_equal(v.ns, id(TAG_POD_NS, "prod-eu/shop"));
	assert_int_equal(v.pod, 0);
	assert_true(k8s_cache_lookup(c, "10.96.0.1", &v));
	assert_int_equal(v.service, id(TAG_POD_SERVICE, "prod-eu/default/kubernetes"));
	assert_false(k8s_cache_lookup(c, "10.231.0.11", &v));
	k8s_cache_unlock(c);

	/* The watch: the frontend pod relabelled (tier web -> edge: web-all no longer selects
	 * it, frontend still does), the debug pod deleted. */
	apply_watch(c, "pods-watch.jsonl", 10);
	k8s_cache_lock(c);
	assert_true(k8s_cache_lookup(c, FRONT_IP, &v));
	assert_int_equal(v.pod, id(TAG_POD, "prod-eu/shop/frontend-6d4cf56db6-8xk2p"));
	assert_int_equal(v.pod_obj->nlabels, 4);
	assert_string_equal(v.pod_obj->labels[2].value, "edge");
	assert_false(k8s_cache_lookup(c, "10.231.0.30", &v));
	k8s_cache_unlock(c);

	/* A service deleted: the pod's service is worked out again (web-all would match the old
	 * labels, not the new ones: none is left). */
	{
		struct k8s_obj o = { .kind = K8S_SERVICE,
				     .ns = strdup("shop"),
				     .name = strdup("frontend"),
				     .uid = strdup(""),
				     .owner_kind = strdup(""),
				     .owner_name = strdup(""),
				     .node = strdup("") };

		k8s_cache_apply(c, K8S_EV_DELETED, &o);
	}
	k8s_cache_lock(c);
	assert_true(k8s_cache_lookup(c, FRONT_IP, &v));
	assert_int_equal(v.service, 0);
	assert_false(k8s_cache_lookup(c, "10.96.12.34", &v));
	k8s_cache_unlock(c);
	k8s_cache_get_stats(c, &st);
	assert_int_equal(st.objects, 16 - 2);
	assert_int_equal(st.events, 3);
	assert_int_equal(st.lists, K8S__KINDS);
	k8s_cache_free(c);
}

/* A re-list removes what it no longer has; the cap refuses new objects, not updates. */
static void test_relist_and_cap(void **state)
{
	struct k8s_cache *c = loaded_cache("default", 0);
	struct collected col = { 0 };
	char rv[K8S_RV_MAX + 1], cont[K8S_CONTINUE_MAX + 1], err[200];
	struct k8s_stats st;
	struct k8s_view v;
	size_t len, bad;
	char *buf = slurp("pods.json", &len);

	(void)state;
	assert_int_equal(
		k8s_list_parse(buf, len, K8S_POD, collect, &col, rv, cont, &bad, err, sizeof(err)),
		0);
	/* The second list has the frontend pod only. */
	k8s_cache_list_begin(c, K8S_POD);
	k8s_cache_list_put(c, &col.o[0]);
	k8s_cache_list_end(c, K8S_POD, true);
	for (size_t i = 1; i < col.n; i++)
		k8s_obj_free(&col.o[i]);
	k8s_cache_get_stats(c, &st);
	assert_int_equal(st.resyncs_removed, 4);
	assert_int_equal(st.objects, 12);
	k8s_cache_lock(c);
	assert_true(k8s_cache_lookup(c, FRONT_IP, &v));
	assert_false(k8s_cache_lookup(c, LOAD_IP, &v));
	k8s_cache_unlock(c);
	k8s_cache_free(c);

	/* A list that failed half way removes nothing. */
	c = loaded_cache("default", 0);
	k8s_cache_list_begin(c, K8S_POD);
	k8s_cache_list_end(c, K8S_POD, false);
	k8s_cache_get_stats(c, &st);
	assert_int_equal(st.objects, 16);
	assert_int_equal(st.resyncs_removed, 0);
	k8s_cache_free(c);

	/* Room for 3 objects: the first three pods fill it, the other two are dropped, counted. */
	c = k8s_cache_new("default", 3);
	col.n = 0;
	assert_int_equal(
		k8s_list_parse(buf, len, K8S_POD, collect, &col, rv, cont, &bad, err, sizeof(err)),
		0);
	k8s_cache_list_begin(c, K8S_POD);
	for (size_t i = 0; i < col.n; i++)
		k8s_cache_list_put(c, &col.o[i]);
	k8s_cache_list_end(c, K8S_POD, true);
	k8s_cache_get_stats(c, &st);
	assert_int_equal(st.objects, 3);
	assert_int_equal(st.objects_dropped, 2);
	free(buf);
	/* An update of a held object still applies at the cap. */
	apply_watch(c, "pods-watch.jsonl", 1);
	k8s_cache_lock(c);
	assert_true(k8s_cache_lookup(c, FRONT_IP, &v));
	assert_string_equal(v.pod_obj->labels[2].value, "edge");
	k8s_cache_unlock(c);
	k8s_cache_get_stats(c, &st);
	assert_int_equal(st.objects_dropped, 2);
	k8s_cache_free(c);
	assert_null(k8s_cache_new("bad name", 0));
	assert_null(k8s_cache_new("", 0));
}

/* ---- the tagger ------------------------------------------------------------------------------ */

static void a4(uint8_t *a, const char *s)
{
	assert_int_equal(inet_pton(AF_INET, s, a), 1);
}

/* loadgen-0 -> frontend:8080, seen as packets (an l4 row) and by the server process (an l7
 * row with a pid the agent did not report). */
static void make_batch(struct wire_decoded *d)
{
	static struct l7_record l7[1];
	static struct l4_record l4[1];

	memset(d, 0, sizeof(*d));
	memset(l4, 0, sizeof(l4));
	record_reset(&l7[0]);
	l7[0].family = 4;
	a4(l7[0].addr0, LOAD_IP);
	a4(l7[0].addr1, FRONT_IP);
	l7[0].server_port = 8080;
	l7[0].obs = REC_OBS_SERVER_PROCESS;
	l7[0].pid = 999;
	l4[0].obs = REC_OBS_CLIENT_NODE;
	l4[0].f.family = 4;
	a4(l4[0].f.addr0, LOAD_IP);
	a4(l4[0].f.addr1, FRONT_IP);
	l4[0].f.server_port = 8080;
	d->l7 = l7;
	d->n7 = 1;
	d->l4 = l4;
	d->n4 = 1;
}

static size_t count_rows(const struct store_tag_row *rows, size_t n, int table, int64_t id_)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (rows[i].table == table && (id_ == 0 || rows[i].v[1].i == id_))
			c++;
	return c;
}

static bool has_link(const struct store_tag_row *rows, size_t n, int64_t from, int kind, int64_t to)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].table == STAG_LINK && rows[i].v[1].i == from &&
		    rows[i].v[2].i == kind && rows[i].v[3].i == to)
			return true;
	return false;
}

static const char *dict_name(const struct store_tag_row *rows, size_t n, int64_t id_)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].table == STAG_DICT && rows[i].v[1].i == id_)
			return rows[i].v[3].s;
	return NULL;
}

/* The labels of id in rows, "k=v,k=v" by key. */
static void labels_of(const struct store_tag_row *rows, size_t n, int64_t id_, char *out,
		      size_t cap)
{
	size_t o = 0;

	out[0] = 0;
	for (size_t i = 0; i < n; i++)
		if (rows[i].table == STAG_LABEL && rows[i].v[1].i == id_)
			o += (size_t)snprintf(out + o, cap - o, "%s%s=%s", o ? "," : "",
					      rows[i].v[2].s, rows[i].v[3].s);
}

static void test_tagger(void **state)
{
	struct k8s_cache *c = loaded_cache("default", 0);
	struct tagger *t = tagger_new(&(struct tagger_cfg){ .k8s = c });
	const struct store_tag_row *rows;
	struct wire_decoded d;
	struct tagger_stats ts;
	char labels[512];
	size_t n;
	const int64_t cluster = id(TAG_POD_CLUSTER, "default"), ns = id(TAG_POD_NS, "default/shop"),
		      node_a = id(TAG_POD_NODE, "default/node-a"),
		      node_b = id(TAG_POD_NODE, "default/node-b"),
		      front = id(TAG_POD, "default/shop/frontend-6d4cf56db6-8xk2p"),
		      load = id(TAG_POD, "default/shop/loadgen-0"),
		      deploy = id(TAG_POD_GROUP, "default/shop/Deployment/frontend"),
		      sts = id(TAG_POD_GROUP, "default/shop/StatefulSet/loadgen"),
		      svc = id(TAG_POD_SERVICE, "default/shop/frontend"),
		      svc_load = id(TAG_POD_SERVICE, "default/shop/loadgen");

	(void)state;
	assert_non_null(t);
	make_batch(&d);
	assert_int_equal(tagger_batch(t, "agent-a", &d, NOW, &rows, &n), 0);
	for (int side = 0; side < 2; side++) {
		const struct tag_set *l7 = &d.l7[0].tags[side], *l4 = &d.l4[0].tags[side];

		assert_memory_equal(l7, l4, sizeof(*l7)); /* no pid was reported: the same tags */
		assert_int_equal(l7->pod_cluster, cluster);
		assert_int_equal(l7->pod_ns, ns);
		assert_int_equal(l7->pod, side ? front : load);
		assert_int_equal(l7->pod_node, side ? node_a : node_b);
		assert_int_equal(l7->pod_group, side ? deploy : sts);
		assert_int_equal(l7->pod_service, side ? svc : svc_load);
		/* pod_service over pod_group; the pod over the ip. */
		assert_int_equal(l7->auto_service, side ? svc : svc_load);
		assert_int_equal(l7->auto_service_type, TAG_POD_SERVICE);
		assert_int_equal(l7->auto_instance, side ? front : load);
		assert_int_equal(l7->auto_instance_type, TAG_POD);
	}
	/* Names and keys, once each. */
	assert_string_equal(dict_name(rows, n, cluster), "default");
	assert_string_equal(dict_name(rows, n, ns), "shop");
	assert_string_equal(dict_name(rows, n, node_a), "node-a");
	assert_string_equal(dict_name(rows, n, front), "frontend-6d4cf56db6-8xk2p");
	assert_string_equal(dict_name(rows, n, deploy), "frontend");
	assert_string_equal(dict_name(rows, n, sts), "loadgen");
	assert_string_equal(dict_name(rows, n, svc), "frontend");
	for (size_t i = 0; i < n; i++) {
		if (rows[i].table == STAG_DICT) {
			assert_int_equal(count_rows(rows, n, STAG_DICT, rows[i].v[1].i), 1);
			/* The id is the key's. */
			assert_int_equal(rows[i].v[1].i, id((int)rows[i].v[2].i, rows[i].v[4].s));
		}
	}
	/* 2 ips, cluster, ns, 2 nodes, 2 pods, 2 groups, 2 services. */
	assert_int_equal(count_rows(rows, n, STAG_DICT, 0), 12);
	/* The contract's links. */
	assert_true(has_link(rows, n, front, TAG_POD_CLUSTER, cluster));
	assert_true(has_link(rows, n, front, TAG_POD_NS, ns));
	assert_true(has_link(rows, n, front, TAG_POD_NODE, node_a));
	assert_true(has_link(rows, n, front, TAG_POD_GROUP, deploy));
	assert_true(has_link(rows, n, deploy, TAG_POD_NS, ns));
	assert_true(has_link(rows, n, deploy, TAG_POD_CLUSTER, cluster));
	assert_true(has_link(rows, n, svc, TAG_POD_NS, ns));
	assert_true(has_link(rows, n, svc, TAG_POD_CLUSTER, cluster));
	assert_true(has_link(rows, n, ns, TAG_POD_CLUSTER, cluster));
	assert_true(has_link(rows, n, node_a, TAG_POD_CLUSTER, cluster));
	/* pods 4 each, groups and services 2 each, ns 1, nodes 1 each. */
	assert_int_equal(count_rows(rows, n, STAG_LINK, 0), 4 * 2 + 2 * 2 + 2 * 2 + 1 + 2);
	assert_int_equal(count_rows(rows, n, STAG_LABEL, 0), 3 + 3 + 2 + 1);
	labels_of(rows, n, front, labels, sizeof(labels));
	assert_string_equal(labels, "app=frontend,pod-template-hash=6d4cf56db6,tier=web");
	labels_of(rows, n, svc, labels, sizeof(labels));
	assert_string_equal(labels, "app=frontend,team=storefront");
	/* A service without labels still has a version: one row with key ''. */
	labels_of(rows, n, svc_load, labels, sizeof(labels));
	assert_string_equal(labels, "=");
	tagger_done(t, true);

	/* Nothing again... */
	make_batch(&d);
	assert_int_equal(tagger_batch(t, "agent-a", &d, NOW + 1, &rows, &n), 0);
	assert_int_equal(n, 0);
	tagger_done(t, true);
	/* ... until the relabel: all the frontend pod's labels (a new version), the same id,
	 * nothing else. */
	apply_watch(c, "pods-watch.jsonl", 1);
	make_batch(&d);
	assert_int_equal(tagger_batch(t, "agent-a", &d, NOW + 2, &rows, &n), 0);
	assert_int_equal(d.l7[0].tags[1].pod, front);
	labels_of(rows, n, front, labels, sizeof(labels));
	assert_string_equal(labels,
			    "app=frontend,pod-template-hash=6d4cf56db6,tier=edge,version=v2");
	assert_int_equal(count_rows(rows, n, STAG_LABEL, front), n);
	assert_int_equal(rows[n - 1].v[0].i, NOW + 2);
	tagger_done(t, true);
	tagger_get_stats(t, &ts);
	assert_int_equal(ts.k8s_matches, 3 * 4);
	tagger_free(t);

	/* A custom service rule outranks the pod's service; the pod stays the instance. */
	{
		struct custom_rules rs;
		char err[100];

		assert_int_equal(
			custom_rules_parse("shop-web=10.231.0.0/24:8080", &rs, err, sizeof(err)),
			0);
		t = tagger_new(&(struct tagger_cfg){ .rules = &rs, .k8s = c });
		make_batch(&d);
		assert_int_equal(tagger_batch(t, "agent-a", &d, NOW, &rows, &n), 0);
		assert_int_equal(d.l4[0].tags[1].auto_service, id(TAG_CUSTOM_SERVICE, "shop-web"));
		assert_int_equal(d.l4[0].tags[1].auto_service_type, TAG_CUSTOM_SERVICE);
		assert_int_equal(d.l4[0].tags[1].auto_instance, front);
		assert_int_equal(d.l4[0].tags[0].auto_service, svc_load); /* a client: no port */
		tagger_done(t, true);
		tagger_free(t);
		custom_rules_free(&rs);
	}
	/* Without a service the workload is the service; a bare pod is an instance only. */
	{
		struct k8s_obj o = { .kind = K8S_SERVICE,
				     .ns = strdup("shop"),
				     .name = strdup("loadgen"),
				     .uid = strdup(""),
				     .owner_kind = strdup(""),
				     .owner_name = strdup(""),
				     .node = strdup("") };

		k8s_cache_apply(c, K8S_EV_DELETED, &o);
	}
	t = tagger_new(&(struct tagger_cfg){ .k8s = c });
	make_batch(&d);
	a4(d.l4[0].f.addr1, "10.231.0.30");
	assert_int_equal(tagger_batch(t, "agent-a", &d, NOW, &rows, &n), 0);
	assert_int_equal(d.l4[0].tags[0].auto_service, sts);
	assert_int_equal(d.l4[0].tags[0].auto_service_type, TAG_POD_GROUP);
	assert_int_equal(d.l4[0].tags[1].pod, id(TAG_POD, "default/default/debug"));
	assert_int_equal(d.l4[0].tags[1].auto_service, id(TAG_IP, "10.231.0.30"));
	assert_int_equal(d.l4[0].tags[1].auto_service_type, TAG_IP);
	assert_int_equal(d.l4[0].tags[1].auto_instance_type, TAG_POD);
	tagger_done(t, true);
	tagger_free(t);
	k8s_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_lists),	cmocka_unit_test(test_decode_events),
		cmocka_unit_test(test_decode_refusals), cmocka_unit_test(test_resolution),
		cmocka_unit_test(test_relist_and_cap),	cmocka_unit_test(test_tagger),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
