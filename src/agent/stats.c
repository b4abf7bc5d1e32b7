/* SPDX-License-Identifier: Apache-2.0 */
/* Agent counters: see stats.h. */
#include "agent/stats.h"

#include <inttypes.h>

#define ADD(n, v, h)                                                                               \
	do {                                                                                       \
		if (i < AGENT_STATS_MAX)                                                           \
			out[i++] = (struct stat_kv){ (n), (v), (h) };                              \
	} while (0)

/* The packet path's counters, all named pkt_*. */
static int collect_packet(struct stat_kv *out, int i, const struct capture_stats *pk)
{
	const struct pkt_decode_stats *d = &pk->path.decode;
	const struct flow_stats *f = &pk->path.flow;
	const struct intake_stats *l = &pk->path.l7;

	ADD("pkt_frames", pk->src.frames, "frames captured (or read from the file)");
	ADD("pkt_bytes", pk->src.bytes, "wire bytes of those frames");
	ADD("drop_pkt_kernel", pk->src.drops,
	    "frames lost: capture ring full (raise capture_ring_size)");
	ADD("pkt_ok", d->ok, "IP packets decoded");
	ADD("pkt_non_ip", d->skipped_non_ip, "frames that were not IP (ARP, LLDP, ...)");
	ADD("pkt_truncated", d->truncated, "frames cut inside a header by the capture");
	ADD("pkt_malformed", d->malformed, "frames with inconsistent headers");
	ADD("pkt_bad_linktype", d->bad_linktype, "frames of a link type not decoded");
	ADD("pkt_tunneled", d->tunnels, "packets decapsulated from a tunnel");
	ADD("pkt_frag_held", d->held, "IP fragments taken in by reassembly");
	ADD("pkt_frag_reassembled", d->frag_reassembled, "packets rebuilt from IP fragments");
	ADD("drop_pkt_frag", d->frag_dropped_timeout + d->frag_dropped_full + d->frag_bad,
	    "fragmented packets given up (timeout, table full, overlap)");
	ADD("pkt_not_tcp_udp", f->packets_ignored, "IP packets neither TCP nor UDP");
	ADD("flows_created", f->flows_created, "TCP/UDP flows seen");
	ADD("flows_closed", f->flows_closed, "flows ended (final l4_flow_log row)");
	ADD("flows_evicted_full", f->flows_evicted_full,
	    "flows ended early: flow table full (raise max_flows)");
	ADD("flows_active", f->flows_active, "flows tracked now");
	ADD("flow_rows", f->reports, "l4_flow_log rows made");
	ADD("pkt_l7_bytes", f->l7_bytes, "payload bytes handed to the L7 parsers");
	ADD("pkt_reasm_gaps", f->reasm_gaps, "holes in TCP streams skipped (loss, capture drops)");
	ADD("drop_pkt_reasm", f->reasm_drop_full + f->reasm_drop_nomem,
	    "out-of-order segments not held: reassembly bound reached");
	ADD("pkt_l7_records", l->records[0] + l->records[1] + l->records[2],
	    "l7_flow_log records made from packets");
	ADD("pkt_l7_parse_failures", l->parse_errors + pk->path.parsers.parse_errors,
	    "packet payload that looked like a protocol but did not parse");
	ADD("drop_pkt_l7_mem", l->drop_mem_budget,
	    "packet payload dropped: L7 memory budget exhausted");
	ADD("metric_rows", pk->path.metrics.rows, "flow_metrics.network* rows made");
	ADD("drop_metric_full", pk->path.metrics.drop_full,
	    "flow seconds not counted in metrics: too many buckets at once");
	return i;
}

int agent_stats_collect(struct stat_kv *out, const uint64_t *kern, const struct intake *in,
			const struct capture_stats *pk, const struct output_stats *os,
			const struct exporter_stats *ex)
{
	const struct intake_stats *s = in ? &in->st : NULL;
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
		ADD("trace_ids", kern[FS_CNT_TRACE_IDS], "syscall_trace_ids handed out");
		ADD("trace_thread_entries",
		    kern[FS_CNT_TRACE_THREAD_ADD] > kern[FS_CNT_TRACE_THREAD_DEL]
			    ? kern[FS_CNT_TRACE_THREAD_ADD] - kern[FS_CNT_TRACE_THREAD_DEL]
			    : 0,
		    "threads with trace state (created - removed; above syscall_trace_entries "
		    "the oldest were evicted)");
		ADD("trace_socket_entries",
		    kern[FS_CNT_TRACE_SOCK_ADD] > kern[FS_CNT_TRACE_SOCK_DEL]
			    ? kern[FS_CNT_TRACE_SOCK_ADD] - kern[FS_CNT_TRACE_SOCK_DEL]
			    : 0,
		    "sockets with trace state (created - removed; above syscall_trace_entries "
		    "the oldest were evicted)");
		ADD("drop_trace_state", kern[FS_CNT_TRACE_STATE_FULL],
		    "syscalls whose trace state could not be stored (id 0 or a broken link)");
	}
	if (pk)
		i = collect_packet(out, i, pk);
	if (!s)
		goto outputs;
	ADD("events_data", s->events_data, "data events processed");
	ADD("events_close", s->events_close, "close events processed");
	ADD("events_exit", s->events_exit, "process exit events processed");
	ADD("events_malformed", s->events_malformed, "ring records rejected as malformed");
	ADD("bytes", s->bytes, "syscall bytes of data events");
	ADD("unclassified_events", s->unclassified,
	    "data events on connections no parser recognised");
	ADD("protocol_switches", s->proto_switches,
	    "connections whose protocol changed in flight (HTTP/1.1 upgraded to h2c)");
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
outputs:
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
		ADD("drop_encode", ex->encode_failures,
		    "records lost: out of memory packing them, or not fit to send");
		ADD("procs_reported", ex->procs_reported,
		    "process reports sent for the server's tagger");
		ADD("procs_gone", ex->procs_gone,
		    "... of processes gone before they could be read (pid and comm only)");
		ADD("procs_deferred", ex->procs_deferred,
		    "process reports left for a later batch (its bound of 1024 reached)");
		ADD("hosts_reported", ex->hosts_reported, "host reports sent");
	}
	return i;
}

void agent_stats_print(FILE *f, const struct stat_kv *kv, int n)
{
	for (int i = 0; i < n; i++)
		fprintf(f, "  %-24s %14" PRIu64 "  %s\n", kv[i].name, kv[i].value, kv[i].help);
}
