/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flow_log.l7_flow_log records as the agent builds them: one per request/response
 * exchange (type 2), lone request (type 0) or lone response (type 1). Strings are owned,
 * bounded copies (longer values are cut, never overflow), so a record outlives the
 * capture buffers it came from. record_write_json() renders the DESIGN §4 column names.
 */
#ifndef OB_AGENT_RECORD_H
#define OB_AGENT_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/jsonw.h"
#include "common/tag_set.h"
#include "proto/proto.h"

enum rec_type {
	REC_TYPE_REQUEST = 0,
	REC_TYPE_RESPONSE = 1,
	REC_TYPE_SESSION = 2,
};

/* observation_point values this agent produces: from eBPF (c-p, s-p) and from packets
 * (by where the capture point sits relative to the client and the server; see
 * docs/network.md). The numbers are the wire format's: add, never renumber. */
enum rec_obs_point {
	REC_OBS_CLIENT_PROCESS = 0, /* "c-p" */
	REC_OBS_SERVER_PROCESS = 1, /* "s-p" */
	REC_OBS_CLIENT_NODE = 2,    /* "c-nd": on the client host's own interface */
	REC_OBS_SERVER_NODE = 3,    /* "s-nd": on the server host's own interface */
	REC_OBS_LOCAL = 4,	    /* "local": client and server both on this host */
	REC_OBS_REST = 5,	    /* "rest": neither end known to be here (replay, transit) */
	REC_OBS_CLIENT_NIC = 6, /* "c": on the client's own NIC (its veth, seen from the host) */
	REC_OBS_SERVER_NIC = 7, /* "s": on the server's own NIC */
	REC_OBS_MAX = REC_OBS_SERVER_NIC,
};

#define REC_SIGNAL_PACKET 0
#define REC_SIGNAL_EBPF	  3

#define REC_DEF_STR(name, size)                                                                    \
	struct {                                                                                   \
		uint16_t len;                                                                      \
		char s[size];                                                                      \
	} name

struct l7_record {
	uint64_t start_ns; /* since the epoch */
	uint64_t end_ns;
	uint8_t type;	       /* enum rec_type */
	uint8_t obs;	       /* enum rec_obs_point */
	uint8_t signal_source; /* REC_SIGNAL_*: who saw the exchange */
	uint8_t status;	       /* response_status, enum proto_status */
	uint8_t family;	       /* 4 or 6 */
	uint8_t l4_proto;      /* 6 or 17 */
	uint16_t l7_proto;
	int32_t code; /* -1: none */
	bool has_request;
	bool has_response;
	uint64_t request_length;
	uint64_t response_length;
	uint32_t req_tcp_seq;
	uint32_t resp_tcp_seq;
	bool has_request_id;
	bool has_affected_rows;
	uint32_t request_id;	/* request_id: the protocol's own id of the exchange */
	uint64_t affected_rows; /* sql_affected_rows */
	uint8_t addr0[16];	/* client side */
	uint8_t addr1[16];	/* server side */
	uint16_t client_port;
	uint16_t server_port;
	/* The local process: on side 0 for c-p, side 1 for s-p. */
	uint32_t pid;
	uint32_t req_tid;  /* thread that sent/received the request: syscall_thread_0 */
	uint32_t resp_tid; /* thread that received/sent the response: syscall_thread_1 */
	/* syscall_trace_id_request / _response (DESIGN §3): the id the kernel gave the thread's
	 * inbound message, carried to its next outbound one; 0 none. */
	uint64_t req_syscall_trace_id;
	uint64_t resp_syscall_trace_id;
	/* syscall_coroutine_0 / _1: the goroutine (or other coroutine) of the request and
	 * response syscalls; 0 none or unknown. */
	uint64_t req_coroutine;
	uint64_t resp_coroutine;
	/* Side 0 (client) and side 1 (server): zero on the agent, set by the server's tagger.
	 * Before version: record_reset() zeroes them with the other scalars. */
	struct tag_set tags[2];
	char comm[16];
	char capture_nic[16]; /* packet records: the interface captured on; "" for eBPF, files */
	REC_DEF_STR(version, 8);
	REC_DEF_STR(method, 32);
	REC_DEF_STR(domain, 256);
	REC_DEF_STR(resource, 1024);
	REC_DEF_STR(endpoint, 1024);
	REC_DEF_STR(exception, 256);
	REC_DEF_STR(result, 512); /* response_result */
	REC_DEF_STR(x_request_id_0, 128);
	REC_DEF_STR(x_request_id_1, 128);
	REC_DEF_STR(trace_id, 64);
	REC_DEF_STR(span_id, 64); /* sw8 segment ids are longer than W3C's 16 hex digits */
	REC_DEF_STR(parent_span_id, 64);
};

/* Empty record: scalars zeroed and strings emptied, without clearing ~3 KiB of string
 * buffers (this runs for every request). */
void record_reset(struct l7_record *r);

/* Copy a view into a bounded record string, cutting what does not fit. */
#define REC_SET(field, view)                                                                       \
	rec_copy((field).s, &(field).len, sizeof((field).s), (view).ptr, (view).len)

void rec_copy(char *dst, uint16_t *dst_len, size_t cap, const char *src, uint32_t len);

/* Fill the request half / response half of a record from a parsed message. */
void record_set_request(struct l7_record *r, const struct proto_msg *m);
void record_set_response(struct l7_record *r, const struct proto_msg *m);

/* "c-p", "s-p", "c-nd", ...; "" for an unknown value. */
const char *record_obs_name(uint8_t obs);

/* Render as one JSON object (with "table":"l7_flow_log") followed by a newline. */
int record_write_json(struct jsonw *w, const struct l7_record *r);

#endif
