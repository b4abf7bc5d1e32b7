/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tags of one side of a flow_log row (DESIGN §5, docs/tagging.md): integer ids
 * (common/tag_id.h), 0 for "none". Agents leave them zero; the server's tagger
 * (src/tag/tagger.h) fills both sides of every l7 and l4 record of a batch before the store
 * writes it, as the *_id_0 / *_id_1 columns of l7_flow_log and l4_flow_log.
 */
#ifndef OB_COMMON_TAG_SET_H
#define OB_COMMON_TAG_SET_H

#include <stdint.h>

struct tag_set {
	int64_t host;
	int64_t gprocess;
	int64_t container;
	int64_t netns;
	int64_t custom_service;
	int64_t pod_cluster;
	int64_t pod_ns;
	int64_t pod_node;
	int64_t pod;
	int64_t pod_group;
	int64_t pod_service;
	int64_t auto_service;	    /* custom_service > pod_service > pod_group > gprocess > ip */
	int64_t auto_instance;	    /* pod > gprocess > ip */
	uint8_t auto_service_type;  /* enum tag_kind of auto_service; 0 when it is 0 */
	uint8_t auto_instance_type; /* enum tag_kind of auto_instance */
};

#endif
