/* SPDX-License-Identifier: Apache-2.0 */
/* Agent counters: see stats.h. */
#include "agent/stats.h"

#include <inttypes.h>

#define ADD(n, v, h)                                                                               \
	do {                                                                                       \
		if (i < AGENT_STATS_MAX)                                                           \
			out[i++] = (struct stat_kv){ (n), (v), (h) };                              \
	} while (0)

int agent_stats_collect(struct stat_kv *out, const uint64_t *kern, const struct intake *in,
			const struct output_stats *os, const struct exporter_stats *ex)
{
	const struct intake_stats *s = &in->st;
	int i = 0;

	if (kern) {
		ADD("kernel_events", kern[FS_CNT_EVENTS], "events written to the ring buffer");
		ADD("kernel_bytes", kern[FS_CNT_BYTES], "syscall bytes of the events written");
		ADD("kernel_captured_bytes", kern[FS_CNT_CAP_BYTES], "payload bytes copied");
		ADD("kernel_truncated", kern[FS_CNT_TRUNCATED],
		    "events whose payload was not copied whole (capture size)");
		ADD("kernel_filtered", kern[FS_CNT_FILTERED], "syscalls skipped by --pid/--comm");
		ADD("drop_ringbuf_full", kern[FS_CNT_DROP_RINGBUF],
		    "events lost: ring buffer full (raise ringbuf_size)");
		ADD("drop_stash_full", kern[FS_CNT_DROP_STASH_FULL],
		    "syscalls lost: no memory for the thread's syscall state");
		ADD("drop_read_fail", kern[FS_CNT_DROP_READ_FAIL],
		    "payloads unreadable from user memory");
		ADD("drop_iov_limit", kern[FS_CNT_IOV_LIMIT],
		    "iovec/mmsg entries past the per-call limit");
	}
	ADD("events_data", s->events_data, "data events processed");
	ADD("events_close", s->events_close, "close events processed");
	ADD("events_exit", s->events_exit, "process exit events processed");
	ADD("events_malformed", s->events_malformed, "ring records rejected as malformed");
	ADD("bytes", s->bytes, "syscall bytes of data events");
	ADD("unclassified_events", s->unclassified,
	    "data events on connections no parser recognised");
	ADD("messages", s->messages, "L7 messages parsed");
	ADD("parse_failures", s->parse_errors + in->pst.parse_errors,
	    "data that looked like a protocol but did not parse");
	ADD("truncated_headers", in->pst.truncated, "messages whose header block was cut");
	ADD("resyncs", in->pst.resyncs, "times a parser skipped bytes to find a message start");
	ADD("records_request", s->records[REC_TYPE_REQUEST], "records with a request only");
	ADD("records_response", s->records[REC_TYPE_RESPONSE], "records with a response only");
	ADD("records_session", s->records[REC_TYPE_SESSION], "request+response records");
	ADD("timeouts", s->timeouts, "requests that got no response");
	ADD("drop_mem_budget", s->drop_mem_budget,
	    "data dropped: memory budget exhausted (raise memory_budget)");
	ADD("drop_pending_overflow", s->drop_pending_overflow,
	    "requests closed early: more unanswered than max_pending");
	ADD("conns_evicted_full", s->conns_evicted_full,
	    "connections forgotten because the table was full");
	ADD("conns_evicted_idle", s->conns_evicted_idle, "connections forgotten when idle");
	ADD("conns_active", s->conns_active, "connections tracked now");
	ADD("conns_peak", s->conns_peak, "most connections tracked at once");
	ADD("mem_used_bytes", s->mem_used, "bytes of the memory budget in use");
	if (os) {
		ADD("records_written", os->records_written, "records written to the output");
		ADD("drop_write_errors", os->write_errors, "records lost: output write failed");
		ADD("records_self_skipped", os->self_skipped,
		    "records of traffic with flowscope-server itself, not kept");
	}
	if (ex) {
		ADD("records_exported", ex->records_exported,
		    "records the server acknowledged as stored");
		ADD("batches_acked", ex->batches_acked, "batches the server acknowledged");
		ADD("batches_duplicate", ex->batches_duplicate,
		    "resent batches the server already had (a lost acknowledgement)");
		ADD("send_failures", ex->send_failures,
		    "sends that failed and were retried (server away or busy)");
		ADD("spool_batches", ex->spool_batches, "batches waiting for the server now");
		ADD("spool_bytes", ex->spool_bytes, "bytes of those batches");
		ADD("drop_spool_full", ex->spool_dropped_records,
		    "records lost: spool full while the server was away (raise spool_size)");
		ADD("drop_rejected", ex->records_rejected,
		    "records lost: the server refused their batch (see the agent log)");
		ADD("drop_exit_unsent", ex->exit_dropped_records,
		    "records lost: still unsent when the drain time at exit ran out");
		ADD("drop_encode", ex->encode_failures, "records lost: out of memory packing them");
	}
	return i;
}

void agent_stats_print(FILE *f, const struct stat_kv *kv, int n)
{
	for (int i = 0; i < n; i++)
		fprintf(f, "  %-24s %14" PRIu64 "  %s\n", kv[i].name, kv[i].value, kv[i].help);
}
