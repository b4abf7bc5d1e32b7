/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flow_log.l4_flow_log rows as JSON lines (the agent's --stdout), with DESIGN §4's column
 * names and "table":"l4_flow_log".
 */
#ifndef OB_AGENT_L4_RECORD_H
#define OB_AGENT_L4_RECORD_H

#include "agent/flow.h"
#include "common/jsonw.h"
#include "common/tag_set.h"

/* A row as the agent outputs it: the flow table's measurements, where they were taken and
 * what the L7 parsers recognised on the flow. */
struct l4_record {
	struct l4_flow_rec f;
	uint8_t obs; /* enum rec_obs_point (packet values: c, s, c-nd, s-nd, local, rest) */
	char capture_nic[16];	/* the interface the flow was captured on; "" for files */
	uint16_t l7_proto;	/* enum proto_id; PROTO_UNKNOWN when nothing was recognised */
	struct tag_set tags[2]; /* zero on the agent; set by the server's tagger */
};

int l4_record_write_json(struct jsonw *w, const struct l4_record *rec);

#endif
