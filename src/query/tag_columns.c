/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtual tag columns: see tag_columns.h. The table is generated per side from one
 * list, so that the client's and the server's columns cannot drift apart.
 */
#include "query/tag_columns.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/tag_id.h"

#define K(kind) (1u << (kind))

/* auto_service: custom_service > pod_service > pod_group > gprocess > ip (the tagger's
 * order); auto_instance: pod > gprocess > ip. */
#define AUTO_SERVICE_KINDS                                                                         \
	(K(TAG_CUSTOM_SERVICE) | K(TAG_POD_SERVICE) | K(TAG_POD_GROUP) | K(TAG_GPROCESS) |         \
	 K(TAG_IP))
#define AUTO_INSTANCE_KINDS (K(TAG_POD) | K(TAG_GPROCESS) | K(TAG_IP))

#define SIDE(n, who)                                                                               \
	{ "host_" n, "host_id_" n, K(TAG_HOST), (n)[0] - '0', who " host name" },                  \
		{ "process_" n, "gprocess_id_" n, K(TAG_GPROCESS), (n)[0] - '0',                   \
		  who " process (its comm)" },                                                     \
		{ "container_" n, "container_id_" n, K(TAG_CONTAINER), (n)[0] - '0',               \
		  who " container id" },                                                           \
		{ "netns_" n, "netns_id_" n, K(TAG_NETNS), (n)[0] - '0',                           \
		  who " network namespace inode" },                                                \
		{ "custom_service_" n, "custom_service_id_" n, K(TAG_CUSTOM_SERVICE),              \
		  (n)[0] - '0', who " custom service (server config rules)" },                     \
		{ "pod_cluster_" n, "pod_cluster_id_" n, K(TAG_POD_CLUSTER), (n)[0] - '0',         \
		  who " Kubernetes cluster" },                                                     \
		{ "pod_ns_" n, "pod_ns_id_" n, K(TAG_POD_NS), (n)[0] - '0',                        \
		  who " Kubernetes namespace" },                                                   \
		{ "pod_node_" n, "pod_node_id_" n, K(TAG_POD_NODE), (n)[0] - '0',                  \
		  who " Kubernetes node" },                                                        \
		{ "pod_" n, "pod_id_" n, K(TAG_POD), (n)[0] - '0', who " pod" },                   \
		{ "pod_group_" n, "pod_group_id_" n, K(TAG_POD_GROUP), (n)[0] - '0',               \
		  who " workload (deployment, statefulset, ...)" },                                \
		{ "pod_service_" n, "pod_service_id_" n, K(TAG_POD_SERVICE), (n)[0] - '0',         \
		  who " Kubernetes service" },                                                     \
		{ "auto_service_" n, "auto_service_id_" n, AUTO_SERVICE_KINDS, (n)[0] - '0',       \
		  who " service: custom service > k8s service > workload > process > IP" },        \
	{                                                                                          \
		"auto_instance_" n, "auto_instance_id_" n, AUTO_INSTANCE_KINDS, (n)[0] - '0',      \
			who " instance: pod > process > IP"                                        \
	}

const struct tag_column tag_columns[] = {
	SIDE("0", "the client's"),
	SIDE("1", "the server's"),
};
const size_t tag_ncolumns = sizeof(tag_columns) / sizeof(tag_columns[0]);

const char *const tag_label_show[2][2] = {
	{ "k8s.label.KEY_0", "label KEY of the client's pod (of its k8s service when no pod)" },
	{ "k8s.label.KEY_1", "label KEY of the server's pod (of its k8s service when no pod)" },
};

static const char *const pod_cols[2] = { "pod_id_0", "pod_id_1" };
static const char *const service_cols[2] = { "pod_service_id_0", "pod_service_id_1" };

const char *tag_label_pod_column(int side)
{
	return pod_cols[side ? 1 : 0];
}

const char *tag_label_service_column(int side)
{
	return service_cols[side ? 1 : 0];
}

bool tag_columns_on(const struct schema_table *t)
{
	if (!t)
		return false;
	for (size_t i = 0; i < tag_ncolumns; i++)
		if (!schema_find_column(t, tag_columns[i].id_column))
			return false;
	return true;
}

const struct tag_column *tag_column_find(const struct schema_table *t, const char *name, size_t len)
{
	if (!tag_columns_on(t))
		return NULL;
	for (size_t i = 0; i < tag_ncolumns; i++)
		if (strlen(tag_columns[i].name) == len && !memcmp(tag_columns[i].name, name, len))
			return &tag_columns[i];
	return NULL;
}

bool tag_label_parse(const char *name, size_t len, const char **key, size_t *keylen, int *side)
{
	size_t plen = strlen(TAG_LABEL_PREFIX);

	/* prefix, a key of at least one byte, "_N" */
	if (len < plen + 3 || memcmp(name, TAG_LABEL_PREFIX, plen) != 0 || name[len - 2] != '_' ||
	    (name[len - 1] != '0' && name[len - 1] != '1'))
		return false;
	*key = name + plen;
	*keylen = len - plen - 2;
	*side = name[len - 1] - '0';
	return true;
}

/* Levenshtein distance of a and b, ASCII case-insensitive, capped at 9: names are short. */
static size_t distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t row[64], prev, cur;

	if (la >= sizeof(row) / sizeof(row[0]) || lb >= sizeof(row) / sizeof(row[0]))
		return 9;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev + (tolower((unsigned char)a[i - 1]) !=
					     tolower((unsigned char)b[j - 1]));

			cur = row[j];
			row[j] = sub;
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (cur + 1 < row[j])
				row[j] = cur + 1;
			prev = cur;
		}
	}
	return row[lb] > 9 ? 9 : row[lb];
}

/* How near cand is to name: 0..2, or 9 for not near. */
static size_t nearness(const char *name, size_t len, const char *cand)
{
	size_t cl = strlen(cand), d = distance(name, len, cand, cl);

	if (d <= (len <= 4 ? 1u : 2u))
		return d;
	/* "pod" names pod_0, pod_1, ...; "auto_service" auto_service_0 and _1 */
	if (cl > len && !strncasecmp(cand, name, len) && cand[len] == '_')
		return 2;
	return 9;
}

size_t tag_near_names(const struct schema_table *t, const char *name, size_t len, char *out,
		      size_t cap, size_t max)
{
	size_t n = 0, used = 0;
	bool virt = tag_columns_on(t);

	if (cap)
		out[0] = '\0';
	/* Closest first: every name at distance 0, then 1, then 2. */
	for (size_t want = 0; want <= 2; want++) {
		size_t total = t->ncolumns + (virt ? tag_ncolumns + 2 : 0);

		for (size_t i = 0; i < total && n < max; i++) {
			const char *cand =
				i < t->ncolumns ? t->columns[i].name
				: i < t->ncolumns + tag_ncolumns
					? tag_columns[i - t->ncolumns].name
					: tag_label_show[i - t->ncolumns - tag_ncolumns][0];
			int w;

			if (nearness(name, len, cand) != want)
				continue;
			w = snprintf(out + used, cap > used ? cap - used : 0, "%s%s", n ? ", " : "",
				     cand);
			if (w < 0 || used + (size_t)w >= cap)
				return n;
			used += (size_t)w;
			n++;
		}
	}
	return n;
}
