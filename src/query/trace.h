/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trace assembly (docs/tracing.md, "Trace assembly"): from one l7_flow_log row (`_id`) or
 * a trace id, the tree of every request log of the same distributed request.
 *
 * Two halves:
 * - Pure functions over an array of spans (trace_linked, trace_build): which rows are
 *   related and how (the link rules), span sets, parent links, self time, pruning. No
 *   store, no I/O: unit tests call them on hand-built rows.
 * - trace_assemble (trace_store.c): gathers the rows from a store with a few indexed
 *   lookups (one per round, each an OR of IN lists over the correlation keys), written in
 *   flowscope's SQL dialect and translated by src/query, so any backend serves them; then
 *   trace_build.
 *
 * Conventions: int functions return 0 or -errno; trace_free accepts NULL; memory is
 * bounded by trace_cfg.max_spans.
 */
#ifndef OB_QUERY_TRACE_H
#define OB_QUERY_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* Text fields are cut to these sizes (NUL included); comparisons see what is kept. */
#define TRACE_OBS_LEN	 8
#define TRACE_NIC_LEN	 16
#define TRACE_IP_LEN	 48
#define TRACE_KNAME_LEN	 17
#define TRACE_PROTO_LEN	 24
#define TRACE_TYPE_LEN	 33
#define TRACE_DOMAIN_LEN 257
#define TRACE_RES_LEN	 1025
#define TRACE_EXC_LEN	 257
#define TRACE_XID_LEN	 129
#define TRACE_TID_LEN	 65

/* How a span got its parent (trace_span.link), and link kinds (trace_linked). */
enum trace_link {
	TRACE_LINK_NONE = 0,
	TRACE_LINK_TCP_SEQ = 1 << 0,   /* same message: equal tcp_seq, ports, time, fields */
	TRACE_LINK_X_REQUEST = 1 << 1, /* X-Request-ID carried through a gateway */
	TRACE_LINK_SYSCALL = 1 << 2,   /* same thread: syscall_trace_id, same process */
	TRACE_LINK_APP = 1 << 3,       /* trace_id (+ span_id / parent_span_id) */
	TRACE_LINK_DNS = 1 << 4,       /* same DNS exchange: request id, ports, time */
};

/* One l7_flow_log row, as assembly needs it, plus what assembly computes. */
struct trace_span {
	int64_t id; /* _id */
	int64_t time_s, start_us, end_us;
	int64_t response_duration; /* -1: NULL */
	int signal_source;
	char observation_point[TRACE_OBS_LEN];
	char capture_nic[TRACE_NIC_LEN]; /* network spans: the interface; "" otherwise */
	int type;
	int protocol;
	int client_port, server_port;
	char ip[2][TRACE_IP_LEN];
	int64_t process_id[2];
	char process_kname[2][TRACE_KNAME_LEN];
	char l7_protocol[TRACE_PROTO_LEN];
	char request_type[TRACE_TYPE_LEN];
	char request_domain[TRACE_DOMAIN_LEN];
	char request_resource[TRACE_RES_LEN];
	char endpoint[TRACE_RES_LEN];
	int64_t response_code; /* -1: NULL */
	int response_status;
	char response_exception[TRACE_EXC_LEN];
	int64_t req_tcp_seq, resp_tcp_seq;
	int64_t syscall_trace_id_request, syscall_trace_id_response;
	int64_t request_id; /* -1: NULL */
	char x_request_id[2][TRACE_XID_LEN];
	char trace_id[TRACE_TID_LEN], span_id[TRACE_TID_LEN], parent_span_id[TRACE_TID_LEN];

	/* Filled by trace_mark_batched: the syscall trace id is a batched response's. */
	bool st_batched[2]; /* [0] syscall_trace_id_request, [1] _response */
	/* Filled by trace_build. */
	int parent;	   /* index in the array, -1 at a root */
	unsigned link;	   /* enum trace_link: how the parent was found */
	bool kept;	   /* in the answer */
	int depth;	   /* 0 at a root */
	int64_t self_time; /* µs: duration minus the time its children cover */
};

struct trace_cfg {
	int64_t delay_us;    /* Δ for tcp_seq / DNS links: network delay + clock offset */
	int64_t window_s;    /* rows are searched within the seed's times ± this */
	uint32_t max_rounds; /* lookup rounds after the seed's */
	uint32_t max_spans;  /* rows gathered at most (candidates included) */
	uint64_t timeout_ms; /* per store query; 0 none */
};

#define TRACE_DEF_DELAY_US   60000
#define TRACE_DEF_WINDOW_S   60
#define TRACE_DEF_MAX_ROUNDS 30
#define TRACE_DEF_MAX_SPANS  1000
#define TRACE_MAX_SPANS	     100000

/* cfg with every 0 field at its default. */
void trace_cfg_defaults(struct trace_cfg *cfg);

/* The local process of an eBPF span (c-p: side 0, s-p: side 1); -1 for other spans. */
int trace_local_side(const struct trace_span *s);
/* The span's service until tagging exists: its local process name ("" off eBPF). */
const char *trace_auto_service(const struct trace_span *s);

/*
 * Mark the syscall trace ids that several requests' responses share (st_batched): one
 * read that brought the responses to several pipelined requests (an event loop sharing
 * one kept-alive connection, a pipelining client) gives them all its one id, so that id
 * cannot tell which inbound request each belongs to; syscall links ignore it. An id is
 * batched when it is the syscall_trace_id_response of two c-p spans of different messages
 * (req_tcp_seq or client port). Run over every gathered span before linking; trace_build
 * runs it itself. 0 or -ENOMEM.
 */
int trace_mark_batched(struct trace_span *spans, size_t n);
/*
 * The link kinds (enum trace_link bits) that relate a and b under the rules of
 * docs/tracing.md; 0 when unrelated. Symmetric.
 */
unsigned trace_linked(const struct trace_cfg *cfg, const struct trace_span *a,
		      const struct trace_span *b);

/*
 * Mark which spans are related to the seeds (seed[0..nseed)) through chains of links
 * (trace_span.kept), build the tree (parent, link, depth), compute self_time, prune
 * trees that are not the seeds' and lie outside their time, and write the kept spans in
 * display order (depth-first, children by start time) to order[0..*norder). order must
 * have room for n entries. 0 or -errno (-EINVAL, -ENOMEM).
 */
int trace_build(const struct trace_cfg *cfg, struct trace_span *spans, size_t n, const size_t *seed,
		size_t nseed, size_t *order, size_t *norder);

/* What to assemble: a row id, or a trace id; optional time hints (Unix seconds). */
struct trace_query {
	int64_t id;		  /* > 0: the span's _id */
	const char *trace_id;	  /* or: a trace id */
	int64_t time_lo, time_hi; /* 0: no hint; else rows with time in [lo, hi] */
};

struct trace {
	struct trace_span *spans; /* every row gathered; kept ones in order[] */
	size_t n;
	size_t *order;
	size_t norder;
	unsigned rounds;  /* lookup rounds run */
	unsigned queries; /* store queries run */
	bool truncated;	  /* max_spans or max_rounds stopped the search */
	bool timed_out;
};

/*
 * Gather and assemble. Returns 0 and *out, -ENOENT (no such span / trace in the window),
 * -EINVAL (bad query: message in err), -ETIME, -ENOMEM, or the store's error (message in
 * err).
 */
int trace_assemble(struct store *s, const struct trace_cfg *cfg, const struct trace_query *q,
		   struct trace **out, char *err, size_t errlen);
void trace_free(struct trace *t);

/* Services of a trace (distinct auto_service of kept spans), for the JSON answer. */
struct trace_service {
	const char *name; /* points into a span */
	size_t spans;
	int64_t duration_us;  /* sum of the spans' durations */
	int64_t self_time_us; /* sum of their self times */
};
/* Fill up to cap services in first-seen display order; returns how many. */
size_t trace_services(const struct trace *t, struct trace_service *svc, size_t cap);

/*
 * The answer of GET /v1/trace: {"spans":[...],"services":[...],...}\n, malloc'd into *out
 * (*len bytes, NUL-terminated). 0 or -ENOMEM.
 */
int trace_write_json(const struct trace *t, char **out, size_t *len);

#endif
