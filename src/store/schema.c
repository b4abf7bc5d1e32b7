/* SPDX-License-Identifier: Apache-2.0 */
/* Table descriptions: see schema.h. The column list matches record_write_json(). */
#include "store/schema.h"

#include <string.h>

#define T(n, h)                                                                                    \
	{                                                                                          \
		n, SCHEMA_TEXT, SCHEMA_TAG, h                                                      \
	}
/* A sparse text tag: see SCHEMA_F_SPARSE. */
#define TS(n, h)                                                                                   \
	{                                                                                          \
		n, SCHEMA_TEXT, SCHEMA_TAG, h, SCHEMA_F_SPARSE                                     \
	}
#define I(n, h)                                                                                    \
	{                                                                                          \
		n, SCHEMA_INT, SCHEMA_TAG, h                                                       \
	}
#define M(n, h)                                                                                    \
	{                                                                                          \
		n, SCHEMA_INT, SCHEMA_METRIC, h                                                    \
	}

static const struct schema_column l7_columns[] = {
	I("time", "end of the exchange, Unix seconds"),
	I("start_time", "first byte of the request, µs since the epoch"),
	I("end_time", "last byte of the response, µs since the epoch"),
	M("response_duration", "µs from start_time to end_time; NULL without both halves"),
	T("ip4_0", "client IPv4 address"),
	T("ip4_1", "server IPv4 address"),
	T("ip6_0", "client IPv6 address"),
	T("ip6_1", "server IPv6 address"),
	I("client_port", "client port"),
	I("server_port", "server port"),
	I("protocol", "IP protocol number (6 TCP, 17 UDP)"),
	I("signal_source", "0 packet, 3 eBPF, 4 OTel"),
	T("observation_point", "c-p, s-p, c, s, ..."),
	I("process_id_0", "client process id (c-p records)"),
	I("process_id_1", "server process id (s-p records)"),
	T("process_kname_0", "client process name"),
	T("process_kname_1", "server process name"),
	I("syscall_thread_0", "thread of the request syscall"),
	I("syscall_thread_1", "thread of the response syscall"),
	T("l7_protocol", "HTTP, ..."),
	T("version", "protocol version"),
	I("type", "0 request, 1 response, 2 session"),
	T("request_type", "method or command"),
	T("request_domain", "Host / authority"),
	T("request_resource", "path and query, statement, key, topic"),
	T("endpoint", "path without the query"),
	I("response_code", "status code; NULL without a response"),
	I("response_status", "0 ok, 2 timeout, 3 server error, 4 client error, 5 unknown"),
	T("response_exception", "reason or error text when not ok"),
	M("request_length", "request bytes on the wire"),
	M("response_length", "response bytes on the wire"),
	I("req_tcp_seq", "TCP sequence of the request's first byte"),
	I("resp_tcp_seq", "TCP sequence of the response's first byte"),
	TS("x_request_id_0", "X-Request-ID of the request"),
	T("x_request_id_1", "X-Request-ID of the response"),
	TS("trace_id", "W3C trace id"),
	T("span_id", "W3C span id"),
};

static const struct schema_table l7_flow_log = {
	.db = "flow_log",
	.name = "l7_flow_log",
	.columns = l7_columns,
	.ncolumns = sizeof(l7_columns) / sizeof(l7_columns[0]),
	.time_column = "time",
};

const struct schema_table *const schema_tables[] = { &l7_flow_log, NULL };

const struct schema_table *schema_find_table(const char *db, const char *name)
{
	for (size_t i = 0; schema_tables[i]; i++) {
		const struct schema_table *t = schema_tables[i];

		if ((!db || strcmp(db, t->db) == 0) && strcmp(name, t->name) == 0)
			return t;
	}
	return NULL;
}

const struct schema_column *schema_find_column(const struct schema_table *t, const char *name)
{
	for (size_t i = 0; i < t->ncolumns; i++)
		if (strcmp(t->columns[i].name, name) == 0)
			return &t->columns[i];
	return NULL;
}
