/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tag ids for SmartEncoding (DESIGN §5). A tag id is a pure function of its kind and its
 * natural key (a container id, "cluster/namespace/pod", a custom service's name, ...): a
 * 63-bit xxHash3 of both. Any number of servers writing to one store therefore give an
 * entity the same id with no coordinator, and ids of different kinds do not meet (the kind
 * is hashed in), so a column holding ids of several kinds (auto_service_id_0) needs no
 * type to be looked up. With 63 bits, a collision among a million entities of one store
 * has a probability near 5e-8. 0 means "no tag" and is never an id.
 */
#ifndef OB_COMMON_TAG_ID_H
#define OB_COMMON_TAG_ID_H

#include <stddef.h>
#include <stdint.h>

/* Dictionary kinds. The numbers are stored (flow_tag tables, *_type columns): permanent. */
enum tag_kind {
	TAG_NONE = 0,
	TAG_IP = 1,		/* key: the address as text ("10.0.0.1", "fd00::1") */
	TAG_HOST = 2,		/* key: the host name an agent reports */
	TAG_GPROCESS = 3,	/* key: "HOST/PID/START_TIME_US" (a process, globally) */
	TAG_CONTAINER = 4,	/* key: the full container id (64 hex characters) */
	TAG_NETNS = 5,		/* key: "HOST/INODE" of the network namespace */
	TAG_CUSTOM_SERVICE = 6, /* key: the rule's service name */
	TAG_POD_CLUSTER = 7,	/* key: the cluster name */
	TAG_POD_NS = 8,		/* key: "CLUSTER/NAMESPACE" */
	TAG_POD_NODE = 9,	/* key: "CLUSTER/NODE" */
	TAG_POD = 10,		/* key: "CLUSTER/NAMESPACE/POD" */
	TAG_POD_GROUP = 11,	/* key: "CLUSTER/NAMESPACE/KIND/NAME" (a workload) */
	TAG_POD_SERVICE = 12,	/* key: "CLUSTER/NAMESPACE/SERVICE" */
	TAG_AGENT = 13,		/* key: the agent id */
	TAG__MAX,
};

/* "ip", "host", ..., "agent"; NULL outside the enum. */
const char *tag_kind_name(enum tag_kind kind);

/* The id of (kind, key[0..len)): in [1, 2^63 - 1], the same on every machine and run. */
int64_t tag_id(enum tag_kind kind, const char *key, size_t len);
/* The same for a NUL-terminated key. */
int64_t tag_id_str(enum tag_kind kind, const char *key);

#endif
