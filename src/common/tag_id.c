/* SPDX-License-Identifier: Apache-2.0 */
#include "common/tag_id.h"

#include <string.h>
#include <xxhash.h>

static const char *const kind_names[TAG__MAX] = {
	[TAG_NONE] = "none",
	[TAG_IP] = "ip",
	[TAG_HOST] = "host",
	[TAG_GPROCESS] = "gprocess",
	[TAG_CONTAINER] = "container",
	[TAG_NETNS] = "netns",
	[TAG_CUSTOM_SERVICE] = "custom_service",
	[TAG_POD_CLUSTER] = "pod_cluster",
	[TAG_POD_NS] = "pod_ns",
	[TAG_POD_NODE] = "pod_node",
	[TAG_POD] = "pod",
	[TAG_POD_GROUP] = "pod_group",
	[TAG_POD_SERVICE] = "pod_service",
	[TAG_AGENT] = "agent",
};

const char *tag_kind_name(enum tag_kind kind)
{
	return (unsigned)kind < TAG__MAX ? kind_names[kind] : NULL;
}

int64_t tag_id(enum tag_kind kind, const char *key, size_t len)
{
	/* The kind is the seed, so "10.0.0.1" as an IP and as a host name differ. */
	uint64_t h = XXH3_64bits_withSeed(key, len, (uint64_t)kind);
	int64_t id = (int64_t)(h & INT64_MAX);
	return id ? id : 1;
}

int64_t tag_id_str(enum tag_kind kind, const char *key)
{
	return tag_id(kind, key, strlen(key));
}
