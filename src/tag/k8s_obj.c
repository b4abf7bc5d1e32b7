/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes API JSON -> struct k8s_obj: see k8s_obj.h. */
#include "tag/k8s_obj.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static const char *const kind_names[K8S__KINDS] = {
	[K8S_POD] = "Pod",
	[K8S_SERVICE] = "Service",
	[K8S_NODE] = "Node",
	[K8S_NAMESPACE] = "Namespace",
	[K8S_REPLICASET] = "ReplicaSet",
	[K8S_DEPLOYMENT] = "Deployment",
};

static const char *const kind_paths[K8S__KINDS] = {
	[K8S_POD] = "/api/v1/pods",
	[K8S_SERVICE] = "/api/v1/services",
	[K8S_NODE] = "/api/v1/nodes",
	[K8S_NAMESPACE] = "/api/v1/namespaces",
	[K8S_REPLICASET] = "/apis/apps/v1/replicasets",
	[K8S_DEPLOYMENT] = "/apis/apps/v1/deployments",
};

const char *k8s_kind_name(enum k8s_kind kind)
{
	return (unsigned)kind < K8S__KINDS ? kind_names[kind] : NULL;
}

const char *k8s_kind_path(enum k8s_kind kind)
{
	return (unsigned)kind < K8S__KINDS ? kind_paths[kind] : NULL;
}

static void labels_free(struct k8s_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].key);
		free(l[i].value);
	}
	free(l);
}

void k8s_obj_free(struct k8s_obj *o)
{
	if (!o)
		return;
	free(o->ns);
	free(o->name);
	free(o->uid);
	free(o->owner_kind);
	free(o->owner_name);
	free(o->node);
	labels_free(o->labels, o->nlabels);
	labels_free(o->selector, o->nselector);
	memset(o, 0, sizeof(*o));
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * A string member (absent or null: ""), at most max bytes and free of NUL and control
 * characters (they cannot be in any name the API server validates, and would end up in
 * dictionary rows). -EINVAL with the reason, or -ENOMEM.
 */
static int get_str(const json_t *parent, const char *member, size_t max, char **out, char *err,
		   size_t errlen)
{
	const json_t *v = parent ? json_object_get(parent, member) : NULL;
	const char *s = "";
	size_t n = 0;

	if (v && !json_is_null(v)) {
		if (!json_is_string(v)) {
			seterr(err, errlen, "%s is not a string", member);
			return -EINVAL;
		}
		s = json_string_value(v);
		n = json_string_length(v);
		if (n > max) {
			seterr(err, errlen, "%s is %zu bytes long (at most %zu)", member, n, max);
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
				seterr(err, errlen, "%s has a control character", member);
				return -EINVAL;
			}
	}
	*out = strndup(s, n);
	return *out ? 0 : -ENOMEM;
}

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct k8s_label *)a)->key, ((const struct k8s_label *)b)->key);
}

/* A string -> string map (metadata.labels, spec.selector), sorted by key, cut at
 * K8S_MAX_LABELS (*truncated). */
static int get_map(const json_t *parent, const char *member, struct k8s_label **out, size_t *n,
		   bool *truncated, char *err, size_t errlen)
{
	const json_t *m = parent ? json_object_get(parent, member) : NULL;
	const char *k;
	json_t *v;
	size_t cap, i = 0;
	struct k8s_label *l;

	*out = NULL;
	*n = 0;
	if (!m || json_is_null(m))
		return 0;
	if (!json_is_object(m)) {
		seterr(err, errlen, "%s is not an object", member);
		return -EINVAL;
	}
	cap = json_object_size(m);
	if (!cap)
		return 0;
	l = calloc(cap, sizeof(*l));
	if (!l)
		return -ENOMEM;
	json_object_foreach((json_t *)m, k, v)
	{
		size_t kl = strlen(k);
		int rc;

		if (!kl || kl > K8S_LKEY_MAX) {
			seterr(err, errlen, "%s has a key of %zu bytes", member, kl);
			labels_free(l, i);
			return -EINVAL;
		}
		l[i].key = strdup(k);
		if (!l[i].key) {
			labels_free(l, i);
			return -ENOMEM;
		}
		rc = get_str(m, k, K8S_LVAL_MAX, &l[i].value, err, errlen);
		if (rc) {
			i++;
			labels_free(l, i);
			return rc;
		}
		i++;
	}
	qsort(l, i, sizeof(*l), cmp_label);
	if (i > K8S_MAX_LABELS) {
		for (size_t j = K8S_MAX_LABELS; j < i; j++) {
			free(l[j].key);
			free(l[j].value);
		}
		i = K8S_MAX_LABELS;
		*truncated = true;
	}
	*out = l;
	*n = i;
	return 0;
}

/* An address as the API gives it, stored in canonical form (so that it compares equal to
 * what the tagger prints for a row's address). Not an address: -EINVAL. */
static int add_ip(struct k8s_obj *o, const char *s, char *err, size_t errlen)
{
	uint8_t a[16];
	int af = strchr(s, ':') ? AF_INET6 : AF_INET;

	if (!*s || !strcmp(s, "None")) /* a headless service's clusterIP */
		return 0;
	if (inet_pton(af, s, a) != 1) {
		seterr(err, errlen, "'%.64s' is not an IP address", s);
		return -EINVAL;
	}
	if (o->nips == K8S_MAX_IPS)
		return 0;
	for (size_t i = 0; i < o->nips; i++) {
		char t[K8S_IP_TEXT];

		if (inet_ntop(af, a, t, sizeof(t)) && !strcmp(t, o->ips[i]))
			return 0;
	}
	if (!inet_ntop(af, a, o->ips[o->nips], K8S_IP_TEXT))
		return -EINVAL;
	o->nips++;
	return 0;
}

/* Addresses from a string member and an array of strings or of {member: address} objects
 * (status.podIP + status.podIPs[].ip; spec.clusterIP + spec.clusterIPs[]). */
static int get_ips(struct k8s_obj *o, const json_t *parent, const char *one, const char *many,
		   const char *sub, char *err, size_t errlen)
{
	const json_t *v = parent ? json_object_get(parent, one) : NULL, *arr, *e;
	size_t i;
	int rc;

	if (v && json_is_string(v) && (rc = add_ip(o, json_string_value(v), err, errlen)))
		return rc;
	arr = parent ? json_object_get(parent, many) : NULL;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr)) {
		seterr(err, errlen, "%s is not an array", many);
		return -EINVAL;
	}
	json_array_foreach(arr, i, e)
	{
		const json_t *s = sub ? json_object_get(e, sub) : e;

		if (!s || !json_is_string(s)) {
			seterr(err, errlen, "%s[%zu] is not an address", many, i);
			return -EINVAL;
		}
		if ((rc = add_ip(o, json_string_value(s), err, errlen)))
			return rc;
	}
	return 0;
}

/* The controlling owner reference: controller: true, else the first one. */
static int get_owner(struct k8s_obj *o, const json_t *meta, char *err, size_t errlen)
{
	const json_t *refs = json_object_get(meta, "ownerReferences"), *r, *pick = NULL;
	size_t i;
	int rc;

	if (refs && !json_is_null(refs)) {
		if (!json_is_array(refs)) {
			seterr(err, errlen, "metadata.ownerReferences is not an array");
			return -EINVAL;
		}
		json_array_foreach(refs, i, r)
		{
			if (!json_is_object(r)) {
				seterr(err, errlen,
				       "metadata.ownerReferences[%zu] is not an object", i);
				return -EINVAL;
			}
			if (!pick || json_is_true(json_object_get(r, "controller"))) {
				if (pick && json_is_true(json_object_get(pick, "controller")))
					continue;
				pick = r;
			}
		}
	}
	if ((rc = get_str(pick, "kind", K8S_KIND_MAX, &o->owner_kind, err, errlen)) ||
	    (rc = get_str(pick, "name", K8S_NAME_MAX, &o->owner_name, err, errlen)))
		return rc;
	if (!*o->owner_kind != !*o->owner_name) {
		seterr(err, errlen, "an owner reference without kind or name");
		return -EINVAL;
	}
	return 0;
}

static int obj_decode(enum k8s_kind kind, const json_t *j, struct k8s_obj *o, char rv[], char *err,
		      size_t errlen)
{
	const json_t *meta, *spec, *status, *v;
	char *rvs = NULL;
	int rc;

	memset(o, 0, sizeof(*o));
	o->kind = kind;
	if (!json_is_object(j)) {
		seterr(err, errlen, "the object is not a JSON object");
		return -EINVAL;
	}
	meta = json_object_get(j, "metadata");
	if (!json_is_object(meta)) {
		seterr(err, errlen, "no metadata");
		return -EINVAL;
	}
	spec = json_object_get(j, "spec");
	status = json_object_get(j, "status");
	if ((rc = get_str(meta, "name", K8S_NAME_MAX, &o->name, err, errlen)) ||
	    (rc = get_str(meta, "namespace", K8S_NAME_MAX, &o->ns, err, errlen)) ||
	    (rc = get_str(meta, "uid", K8S_UID_MAX, &o->uid, err, errlen)) ||
	    (rc = get_str(meta, "resourceVersion", K8S_RV_MAX, &rvs, err, errlen)) ||
	    (rc = get_map(meta, "labels", &o->labels, &o->nlabels, &o->truncated, err, errlen)) ||
	    (rc = get_owner(o, meta, err, errlen)))
		goto fail;
	if (rv)
		snprintf(rv, K8S_RV_MAX + 1, "%s", rvs);
	if (!*o->name) {
		seterr(err, errlen, "metadata.name is empty");
		rc = -EINVAL;
		goto fail;
	}
	/* Namespaced kinds have a namespace; cluster-scoped ones none, whatever is sent. */
	if (kind == K8S_NODE || kind == K8S_NAMESPACE) {
		o->ns[0] = 0;
	} else if (!*o->ns) {
		seterr(err, errlen, "%s %s has no metadata.namespace", kind_names[kind], o->name);
		rc = -EINVAL;
		goto fail;
	}
	switch (kind) {
	case K8S_POD:
		if ((rc = get_str(spec, "nodeName", K8S_NAME_MAX, &o->node, err, errlen)) ||
		    (rc = get_ips(o, status, "podIP", "podIPs", "ip", err, errlen)))
			goto fail;
		o->host_network = spec && json_is_true(json_object_get(spec, "hostNetwork"));
		v = status ? json_object_get(status, "phase") : NULL;
		o->finished = v && json_is_string(v) &&
			      (!strcmp(json_string_value(v), "Succeeded") ||
			       !strcmp(json_string_value(v), "Failed"));
		break;
	case K8S_SERVICE:
		if ((rc = get_ips(o, spec, "clusterIP", "clusterIPs", NULL, err, errlen)) ||
		    (rc = get_map(spec, "selector", &o->selector, &o->nselector, &o->truncated, err,
				  errlen)))
			goto fail;
		break;
	case K8S_NODE: {
		const json_t *addrs = status ? json_object_get(status, "addresses") : NULL, *a;
		size_t i;

		if (addrs && !json_is_array(addrs)) {
			seterr(err, errlen, "status.addresses is not an array");
			rc = -EINVAL;
			goto fail;
		}
		json_array_foreach(addrs, i, a)
		{
			const json_t *t = json_object_get(a, "type");

			if (t && json_is_string(t) && !strcmp(json_string_value(t), "InternalIP") &&
			    (rc = get_ips(o, a, "address", "", NULL, err, errlen)))
				goto fail;
		}
		break;
	}
	default: break;
	}
	if (!o->node && !(o->node = strdup(""))) {
		rc = -ENOMEM;
		goto fail;
	}
	free(rvs);
	return 0;
fail:
	free(rvs);
	k8s_obj_free(o);
	return rc;
}

static json_t *load(const char *buf, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);

	if (!j)
		seterr(err, errlen, "not JSON: %s at byte %d", je.text, je.position);
	return j;
}

int k8s_list_parse(const char *buf, size_t len, enum k8s_kind kind, k8s_item_fn fn, void *arg,
		   char rv[K8S_RV_MAX + 1], char cont[K8S_CONTINUE_MAX + 1], size_t *bad, char *err,
		   size_t errlen)
{
	json_t *j, *items, *meta, *it;
	char *s = NULL, first[200] = "";
	size_t i;
	int rc = 0;

	rv[0] = cont[0] = 0;
	*bad = 0;
	if ((unsigned)kind >= K8S__KINDS) {
		seterr(err, errlen, "unknown kind");
		return -EINVAL;
	}
	j = load(buf, len, err, errlen);
	if (!j)
		return -EINVAL;
	items = json_object_get(j, "items");
	meta = json_object_get(j, "metadata");
	if (!json_is_object(meta) || (items && !json_is_null(items) && !json_is_array(items))) {
		const json_t *kd = json_object_get(j, "kind");

		seterr(err, errlen, "not a %sList (kind %s)", kind_names[kind],
		       json_is_string(kd) ? json_string_value(kd) : "missing");
		json_decref(j);
		return -EINVAL;
	}
	if ((rc = get_str(meta, "resourceVersion", K8S_RV_MAX, &s, err, errlen)))
		goto out;
	snprintf(rv, K8S_RV_MAX + 1, "%s", s);
	free(s);
	if ((rc = get_str(meta, "continue", K8S_CONTINUE_MAX, &s, err, errlen)))
		goto out;
	snprintf(cont, K8S_CONTINUE_MAX + 1, "%s", s);
	free(s);
	json_array_foreach(items, i, it)
	{
		struct k8s_obj o;
		char e[160];

		rc = obj_decode(kind, it, &o, NULL, e, sizeof(e));
		if (rc == -ENOMEM)
			goto out;
		if (rc) {
			if (!(*bad)++)
				snprintf(first, sizeof(first), "items[%zu]: %s", i, e);
			rc = 0;
			continue;
		}
		rc = fn(arg, &o);
		if (rc)
			goto out;
	}
	if (*bad)
		seterr(err, errlen, "%s", first);
out:
	json_decref(j);
	return rc;
}

int k8s_event_parse(const char *line, size_t len, enum k8s_kind kind, enum k8s_event *type,
		    struct k8s_obj *o, char rv[K8S_RV_MAX + 1], int *code, char *err, size_t errlen)
{
	static const char *const types[] = { "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" };
	json_t *j, *t, *obj;
	const char *ts;
	int rc = -EINVAL;
	size_t i;

	memset(o, 0, sizeof(*o));
	rv[0] = 0;
	*code = 0;
	if ((unsigned)kind >= K8S__KINDS) {
		seterr(err, errlen, "unknown kind");
		return -EINVAL;
	}
	j = load(line, len, err, errlen);
	if (!j)
		return -EINVAL;
	t = json_object_get(j, "type");
	obj = json_object_get(j, "object");
	if (!json_is_string(t) || !json_is_object(obj)) {
		seterr(err, errlen, "not a watch event (no type or object)");
		goto out;
	}
	ts = json_string_value(t);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(ts, types[i]))
			break;
	if (i == sizeof(types) / sizeof(types[0])) {
		seterr(err, errlen, "unknown watch event type '%.32s'", ts);
		goto out;
	}
	*type = (enum k8s_event)i;
	if (*type == K8S_EV_ERROR) {
		const json_t *c = json_object_get(obj, "code");

		*code = json_is_integer(c) && json_integer_value(c) > 0 &&
					json_integer_value(c) < 1000
				? (int)json_integer_value(c)
				: 0;
		rc = 0;
	} else if (*type == K8S_EV_BOOKMARK) {
		char *s = NULL;

		rc = get_str(json_object_get(obj, "metadata"), "resourceVersion", K8S_RV_MAX, &s,
			     err, errlen);
		if (!rc)
			snprintf(rv, K8S_RV_MAX + 1, "%s", s);
		free(s);
	} else {
		rc = obj_decode(kind, obj, o, rv, err, errlen);
	}
out:
	json_decref(j);
	return rc;
}
