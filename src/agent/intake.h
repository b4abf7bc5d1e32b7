/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Event intake: turns capture events (src/bpf/shared/socket_event.h) into l7_flow_log
 * records. Each data event goes to its connection (conn.c); an undetected connection is
 * offered to the parsers' detect(); a detected one feeds its parser, keeping unconsumed
 * bytes in a bounded leftover buffer; parsed messages go to session pairing (session.c),
 * which hands finished records to the sink.
 *
 * Memory is bounded twice: max_conns entries, and a byte budget shared by leftover buffers,
 * parser states and pending requests. Running out of budget drops the data that needed
 * it and counts the drop; it never grows past the budget.
 *
 * Single-threaded: one intake per event-reading thread.
 */
#ifndef OB_AGENT_INTAKE_H
#define OB_AGENT_INTAKE_H

#include <stdint.h>

#include "agent/conn.h"
#include "agent/record.h"
#include "bpf/shared/socket_event.h"
#include "proto/proto.h"

struct intake_cfg {
	uint32_t max_conns;
	uint32_t max_pending;	     /* unanswered requests kept per connection */
	uint64_t conn_idle_ns;	     /* a connection silent this long is flushed and forgotten */
	uint64_t request_timeout_ns; /* a request unanswered this long becomes a timeout record */
	uint64_t mem_budget;	     /* bytes for leftovers, parser states and pending requests */
	/* Fed by the packet path: records get signal_source 0 and no process; the sink
	 * decides their observation point (session.c marks them c-p/s-p by who sent the
	 * request, which the sink maps). */
	bool packet;
	uint32_t
		proto_opts; /* PROTO_OPT_*: what parsers may keep (values are dropped by default) */
};

/* Counters; every drop has its own. */
struct intake_stats {
	uint64_t events_data;
	uint64_t events_close;
	uint64_t events_exit;
	uint64_t events_malformed; /* ring records too short or inconsistent */
	uint64_t bytes;		   /* syscall bytes of data events */
	uint64_t unclassified;	   /* data events on connections no parser recognised (yet) */
	uint64_t proto_switches;   /* connections handed to another parser (h2c upgrade) */
	uint64_t messages;
	uint64_t parse_errors;
	uint64_t truncated;
	uint64_t resyncs;
	uint64_t records[3];		/* by type: request, response, session */
	uint64_t timeouts;		/* requests that got no response */
	uint64_t drop_mem_budget;	/* data dropped: memory budget exhausted */
	uint64_t drop_pending_overflow; /* too many unanswered requests on one connection */
	uint64_t conns_evicted_full;	/* table full: least recently active evicted */
	uint64_t conns_evicted_idle;
	uint64_t conns_active; /* gauge */
	uint64_t conns_peak;   /* most connections tracked at once */
	uint64_t mem_used;     /* gauge, bytes */
};

typedef void (*record_sink_fn)(void *ctx, const struct l7_record *r);

struct pid_ref;

struct pending_req {
	struct l7_record rec;
	uint64_t deadline_ns;
	bool has_session_id;
	uint32_t session_id;
	struct pending_req *next_free; /* in intake.spare */
};

/* Released pending requests kept for reuse (still charged to the memory budget): a request
 * costs no malloc/free pair in the steady state. */
#define INTAKE_SPARE_REQS 64

struct intake {
	struct intake_cfg cfg;
	struct intake_stats st;
	struct conn_table conns;
	struct pending_req *spare; /* up to INTAKE_SPARE_REQS */
	uint32_t nspare;
	struct proto_stats pst; /* summed over every parser */
	record_sink_fn sink;
	void *sink_ctx;
	struct pid_ref *pids; /* pid -> number of connections, to skip exits cheaply */
	uint8_t evict_status; /* response_status for requests flushed by an eviction */
	/* Set while an event is being processed: who did the syscall. */
	const struct fs_event *cur_ev;
	struct conn *cur_conn;
};

/* NULL when out of memory. */
struct intake *intake_create(const struct intake_cfg *cfg, record_sink_fn sink, void *sink_ctx);
/* Flushes nothing: call intake_flush_all() first to keep pending requests. NULL-safe. */
void intake_destroy(struct intake *in);

/*
 * Process one ring record (header + payload) of `size` bytes. realtime_off_ns converts
 * the kernel's monotonic timestamps to the epoch. Returns 0 or -EINVAL for a malformed
 * record (counted).
 */
int intake_event(struct intake *in, const void *data, size_t size, uint64_t realtime_off_ns);

/*
 * A data event whose payload is not in the same buffer: the packet path's reassembled
 * stream (src/agent/pktpath.c) uses this with a header it fills itself. ev->cap_len
 * bytes at payload; timestamps already since the epoch. ev->type must be FS_EV_DATA.
 */
void intake_data(struct intake *in, const struct fs_event *ev, const uint8_t *payload);

/* The connection socket_id ended: finish and forget it. */
void intake_close(struct intake *in, uint64_t socket_id, uint64_t now_ns);

/* Periodic work: request timeouts and idle connections. now_ns is since the epoch. */
void intake_tick(struct intake *in, uint64_t now_ns);

/* Shutdown: emit every pending request (response_status unknown) and forget everything. */
void intake_flush_all(struct intake *in, uint64_t now_ns);

/* Budget accounting for the modules of the intake. */
bool intake_mem_take(struct intake *in, size_t n);
void intake_mem_give(struct intake *in, size_t n);

/* session.c: pairing of parsed messages into records. */
void session_on_msg(struct intake *in, struct conn *c, const struct proto_msg *m);
/* Emit every pending request of c as a lone request with the given status, free them. */
void session_flush_conn(struct intake *in, struct conn *c, uint8_t status);
/* Emit the requests of c whose deadline passed. */
void session_expire(struct intake *in, struct conn *c, uint64_t now_ns);

#endif
