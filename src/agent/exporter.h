/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's link to flowscope-server (docs/protocol.md, "Transport").
 *
 * The capture thread adds finished records (l7_flow_log requests, l4_flow_log flow rows
 * and flow_metrics network rows, into the same batches, counted alike); they are packed at
 * once into the batch being built, which is closed after batch_records records or
 * batch_interval, compressed and queued in the spool. One sender thread POSTs the spool's
 * oldest batch over a kept-alive HTTP/1.1 connection and removes it only once the server
 * acknowledged it (the server answers after a durable commit). Transient failures (no
 * connection, timeout, 429, 5xx) keep the batch and retry it with capped exponential
 * backoff; a batch the server refuses for good (other 4xx) is dropped and counted. The
 * spool is bounded in bytes: when the server stays away long enough to fill it, the
 * oldest batches are dropped and counted. An idle agent still sends an empty batch every
 * heartbeat, so the server sees it alive and has its counters. Batches are numbered from
 * the start time in microseconds, so a restarted agent keeps numbering upward and the
 * server's duplicate check stays valid.
 *
 * For the server's tagger (docs/tagging.md) batches also carry reports: the host's (name
 * and addresses) in the first batch, when it changes and every report_interval, and a
 * process report for each pid the l7 records name, in the batch of the first record that
 * names it, again when the pid was reused (another start time) and every report_interval
 * while records name it. A bounded table (PROC_TABLE_WAYS x PROC_TABLE_SETS pids, least
 * recently used out) remembers what was reported.
 */
#ifndef OB_AGENT_EXPORTER_H
#define OB_AGENT_EXPORTER_H

#include <stddef.h>
#include <stdint.h>

#include "agent/l4_record.h"
#include "agent/net_meter.h"
#include "agent/record.h"
#include "wire/wire.h"

struct exporter_cfg {
	const char *url;	    /* server base URL, e.g. http://127.0.0.1:20416 */
	const char *agent_id;	    /* at most 63 bytes */
	size_t batch_records;	    /* close a batch at this many records */
	uint64_t batch_interval_ms; /* ... or this long after its first record */
	uint64_t spool_bytes;	    /* compressed batches waiting for the server, at most */
	uint64_t backoff_max_ms;    /* longest wait between retries */
	uint64_t send_timeout_ms;   /* one POST, connection included */
	uint64_t heartbeat_ms;	    /* an empty batch when nothing was sent this long */
	int zstd_level;
	/*
	 * Called on the capture thread when a batch is closed, to fill info->counters with
	 * the agent's counters (the exporter's own included, see exporter_stats()).
	 */
	void (*collect_counters)(void *ctx, struct wire_batch_info *info);
	void *ctx;
	const char *proc_root;	     /* NULL: "/proc" (tests point it at a fixture tree) */
	uint64_t report_interval_ms; /* host and process reports again; 0: 5 minutes */
};

/* Record counts cover every kind (l7, l4 and network rows) together. */
struct exporter_stats {
	uint64_t records_exported;  /* acknowledged by the server */
	uint64_t batches_acked;	    /* heartbeats included */
	uint64_t batches_duplicate; /* acknowledged as already stored (a lost ack resent) */
	uint64_t batches_rejected;  /* refused for good by the server (4xx): dropped */
	uint64_t records_rejected;
	uint64_t spool_dropped; /* batches dropped because the spool was full */
	uint64_t spool_dropped_records;
	uint64_t exit_dropped_records; /* still unsent when the drain time at exit ran out */
	uint64_t send_failures;	       /* attempts that will be retried */
	/* records lost: out of memory while packing, or a row the server would refuse */
	uint64_t encode_failures;
	uint64_t spool_batches; /* now waiting, the one in flight included */
	uint64_t spool_bytes;
	uint64_t procs_reported; /* process reports added to batches */
	uint64_t procs_gone;	 /* ... of which for a process already gone (pid, comm) */
	uint64_t procs_deferred; /* not added (the batch's bound, out of memory): tried again */
	uint64_t hosts_reported; /* host reports added to batches */
};

struct exporter;

/* Starts the sender thread. NULL with a logged reason on failure. */
struct exporter *exporter_create(const struct exporter_cfg *cfg);

/* Capture thread: add a finished record (copied). */
void exporter_add(struct exporter *e, const struct l7_record *r);
/* Capture thread: add a flow row (copied), to the same batch. */
void exporter_add_l4(struct exporter *e, const struct l4_record *r);
/* Capture thread: add a flow_metrics network / network_map row (copied), to the same
 * batch. */
void exporter_add_net(struct exporter *e, const struct net_row *r);

/* Capture thread, a few times a second: close a batch whose interval passed, send a
 * heartbeat when due. now_ns is CLOCK_MONOTONIC. */
void exporter_tick(struct exporter *e, uint64_t now_ns);

/*
 * Close the open batch, give the sender up to drain_ms to deliver the spool, then stop
 * the sender and free everything. What is still unsent is counted (exit_dropped_records)
 * and logged. NULL-safe. stats (may be NULL) receives the final counters.
 */
void exporter_destroy(struct exporter *e, uint64_t drain_ms, struct exporter_stats *stats);

void exporter_get_stats(struct exporter *e, struct exporter_stats *out);

#endif
