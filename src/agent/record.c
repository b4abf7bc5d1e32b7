/* SPDX-License-Identifier: Apache-2.0 */
/* l7_flow_log record building and JSON rendering: see record.h. */
#include "agent/record.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>

void rec_copy(char *dst, uint16_t *dst_len, size_t cap, const char *src, uint32_t len)
{
	if (!src)
		len = 0;
	if (len > cap)
		len = cap;
	if (len)
		memcpy(dst, src, len);
	*dst_len = len;
}

void record_reset(struct l7_record *r)
{
	memset(r, 0, offsetof(struct l7_record, version));
	r->signal_source = REC_SIGNAL_EBPF; /* the packet path says otherwise */
	r->version.len = r->method.len = r->domain.len = r->resource.len = 0;
	r->endpoint.len = r->exception.len = r->result.len = r->x_request_id_0.len = 0;
	r->x_request_id_1.len = r->trace_id.len = r->span_id.len = r->parent_span_id.len = 0;
}

void record_set_request(struct l7_record *r, const struct proto_msg *m)
{
	r->has_request = true;
	if (m->proto_override)
		r->l7_proto = m->proto_override;
	r->start_ns = m->start_ts;
	if (!r->end_ns || r->end_ns < m->end_ts)
		r->end_ns = m->end_ts;
	/* Reassembled from packets, a message's first byte may have been captured after a
	 * later one (out of order): a record never ends before it starts. */
	if (r->end_ns < r->start_ns)
		r->end_ns = r->start_ns;
	r->request_length = m->length;
	r->req_tcp_seq = m->tcp_seq;
	REC_SET(r->version, m->version);
	REC_SET(r->method, m->method);
	REC_SET(r->domain, m->domain);
	REC_SET(r->resource, m->resource);
	REC_SET(r->endpoint, m->endpoint);
	REC_SET(r->x_request_id_0, m->x_request_id);
	if (m->has_request_id) {
		r->has_request_id = true;
		r->request_id = m->request_id;
	}
	REC_SET(r->trace_id, m->trace_id);
	REC_SET(r->span_id, m->span_id);
	REC_SET(r->parent_span_id, m->parent_span_id);
}

void record_set_response(struct l7_record *r, const struct proto_msg *m)
{
	r->has_response = true;
	if (m->proto_override)
		r->l7_proto = m->proto_override;
	if (!r->has_request) {
		r->start_ns = m->start_ts;
		REC_SET(r->version, m->version);
		/*
		 * Alone, a response is all the record has: what it names (the topic of a broker's
		 * MQTT PUBLISH to a subscriber, the subject of a NATS MSG, the channel of a Redis
		 * push, the query of a DNS answer) is the record's request_type / domain /
		 * resource / endpoint, as DeepFlow's records of such messages show.
		 */
		REC_SET(r->method, m->method);
		REC_SET(r->domain, m->domain);
		REC_SET(r->resource, m->resource);
		REC_SET(r->endpoint, m->endpoint);
	}
	r->end_ns = m->end_ts > r->start_ns ? m->end_ts : r->start_ns;
	r->response_length = m->length;
	r->resp_tcp_seq = m->tcp_seq;
	r->code = m->code;
	r->status = m->status;
	REC_SET(r->exception, m->exception);
	REC_SET(r->result, m->result);
	if (m->has_affected_rows) {
		r->has_affected_rows = true;
		r->affected_rows = m->affected_rows;
	}
	if (m->has_request_id && !r->has_request_id) {
		r->has_request_id = true;
		r->request_id = m->request_id;
	}
	REC_SET(r->x_request_id_1, m->x_request_id);
	/* A response may carry the trace context when the request did not. */
	if (!r->trace_id.len)
		REC_SET(r->trace_id, m->trace_id);
	if (!r->span_id.len)
		REC_SET(r->span_id, m->span_id);
	if (!r->parent_span_id.len)
		REC_SET(r->parent_span_id, m->parent_span_id);
}

const char *record_obs_name(uint8_t obs)
{
	static const char *const names[] = {
		[REC_OBS_CLIENT_PROCESS] = "c-p", [REC_OBS_SERVER_PROCESS] = "s-p",
		[REC_OBS_CLIENT_NODE] = "c-nd",	  [REC_OBS_SERVER_NODE] = "s-nd",
		[REC_OBS_LOCAL] = "local",	  [REC_OBS_REST] = "rest",
		[REC_OBS_CLIENT_NIC] = "c",	  [REC_OBS_SERVER_NIC] = "s",
	};

	return obs <= REC_OBS_MAX ? names[obs] : "";
}

static void put_addr(struct jsonw *w, int side, uint8_t family, const uint8_t *a)
{
	char buf[INET6_ADDRSTRLEN];
	size_t n = 0;

	if (family == 4) {
		/* inet_ntop formats IPv4 with sprintf; this is on every record, twice. */
		for (int i = 0; i < 4; i++) {
			uint8_t v = a[i];

			if (i)
				buf[n++] = '.';
			if (v >= 100)
				buf[n++] = '0' + v / 100;
			if (v >= 10)
				buf[n++] = '0' + v / 10 % 10;
			buf[n++] = '0' + v % 10;
		}
		if (side == 0)
			jsonw_str(w, "ip4_0", buf, n);
		else
			jsonw_str(w, "ip4_1", buf, n);
		return;
	}
	if (!inet_ntop(AF_INET6, a, buf, sizeof(buf)))
		buf[0] = 0;
	if (side == 0)
		jsonw_cstr(w, "ip6_0", buf);
	else
		jsonw_cstr(w, "ip6_1", buf);
}

#define PUT_STR(w, key, f) jsonw_str((w), key, (f).s, (f).len)

int record_write_json(struct jsonw *w, const struct l7_record *r)
{
	bool client = r->obs == REC_OBS_CLIENT_PROCESS;
	/* Whole µs first, so that end_time - start_time == response_duration exactly. */
	uint64_t start_us = r->start_ns / 1000, end_us = r->end_ns / 1000;
	uint64_t dur = end_us > start_us ? end_us - start_us : 0;

	jsonw_begin(w);
	jsonw_cstr(w, "table", "l7_flow_log");
	/* time is the record's second, as DeepFlow's DateTime column; the others are µs. */
	jsonw_u64(w, "time", r->end_ns / 1000000000ull);
	jsonw_u64(w, "start_time", start_us);
	jsonw_u64(w, "end_time", end_us);
	if (r->has_request && r->has_response)
		jsonw_u64(w, "response_duration", dur);
	else
		jsonw_null(w, "response_duration");
	put_addr(w, 0, r->family, r->addr0);
	put_addr(w, 1, r->family, r->addr1);
	jsonw_u64(w, "client_port", r->client_port);
	jsonw_u64(w, "server_port", r->server_port);
	jsonw_u64(w, "protocol", r->l4_proto);
	jsonw_u64(w, "signal_source", r->signal_source);
	jsonw_cstr(w, "observation_point", record_obs_name(r->obs));
	jsonw_cstr(w, "capture_nic", r->capture_nic);
	jsonw_u64(w, "process_id_0", client ? r->pid : 0);
	jsonw_u64(w, "process_id_1", client ? 0 : r->pid);
	jsonw_cstr(w, "process_kname_0", client ? r->comm : "");
	jsonw_cstr(w, "process_kname_1", client ? "" : r->comm);
	/* As in DeepFlow: the thread of the request syscall and of the response syscall. */
	jsonw_u64(w, "syscall_thread_0", r->has_request ? r->req_tid : 0);
	jsonw_u64(w, "syscall_thread_1", r->has_response ? r->resp_tid : 0);
	jsonw_cstr(w, "l7_protocol", proto_name(r->l7_proto));
	PUT_STR(w, "version", r->version);
	jsonw_u64(w, "type", r->type);
	PUT_STR(w, "request_type", r->method);
	PUT_STR(w, "request_domain", r->domain);
	PUT_STR(w, "request_resource", r->resource);
	PUT_STR(w, "endpoint", r->endpoint);
	if (r->has_response && r->code >= 0)
		jsonw_i64(w, "response_code", r->code);
	else
		jsonw_null(w, "response_code");
	jsonw_u64(w, "response_status", r->status);
	PUT_STR(w, "response_exception", r->exception);
	if (r->has_request)
		jsonw_u64(w, "request_length", r->request_length);
	else
		jsonw_null(w, "request_length");
	if (r->has_response)
		jsonw_u64(w, "response_length", r->response_length);
	else
		jsonw_null(w, "response_length");
	jsonw_u64(w, "req_tcp_seq", r->has_request ? r->req_tcp_seq : 0);
	jsonw_u64(w, "resp_tcp_seq", r->has_response ? r->resp_tcp_seq : 0);
	PUT_STR(w, "x_request_id_0", r->x_request_id_0);
	PUT_STR(w, "x_request_id_1", r->x_request_id_1);
	PUT_STR(w, "trace_id", r->trace_id);
	PUT_STR(w, "span_id", r->span_id);
	/* In the schema's column order (schema.c appends, never inserts). */
	PUT_STR(w, "response_result", r->result);
	if (r->has_request_id)
		jsonw_u64(w, "request_id", r->request_id);
	else
		jsonw_null(w, "request_id");
	if (r->has_affected_rows)
		jsonw_u64(w, "sql_affected_rows", r->affected_rows);
	else
		jsonw_null(w, "sql_affected_rows");
	jsonw_u64(w, "syscall_trace_id_request", r->has_request ? r->req_syscall_trace_id : 0);
	jsonw_u64(w, "syscall_trace_id_response", r->has_response ? r->resp_syscall_trace_id : 0);
	jsonw_u64(w, "syscall_coroutine_0", r->has_request ? r->req_coroutine : 0);
	jsonw_u64(w, "syscall_coroutine_1", r->has_response ? r->resp_coroutine : 0);
	PUT_STR(w, "parent_span_id", r->parent_span_id);
	return jsonw_end(w);
}
