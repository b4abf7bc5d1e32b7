/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table descriptions: see schema.h. The column lists match record_write_json(),
 * l4_record_write_json() and net_row_write_json() (src/agent), key for key ("table"
 * aside).
 */
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
/* A sparse integer tag (0 or NULL on most rows): see SCHEMA_F_SPARSE. */
#define IS(n, h)                                                                                   \
	{                                                                                          \
		n, SCHEMA_INT, SCHEMA_TAG, h, SCHEMA_F_SPARSE                                      \
	}
/* An ordered integer tag: see SCHEMA_F_ORDERED. */
#define IO(n, h)                                                                                   \
	{                                                                                          \
		n, SCHEMA_INT, SCHEMA_TAG, h, SCHEMA_F_ORDERED                                     \
	}

/* A tag id column (SCHEMA_F_TAG_ID) and a tag kind column: both few-valued. */
#define TI(n, h)                                                                                   \
	{                                                                                          \
		n, SCHEMA_INT, SCHEMA_TAG, h, SCHEMA_F_TAG_ID | SCHEMA_F_FEW                       \
	}
#define TK(n, h)                                                                                   \
	{                                                                                          \
		n, SCHEMA_INT, SCHEMA_TAG, h, SCHEMA_F_FEW                                         \
	}

/*
 * SmartEncoding (DESIGN §5, docs/tagging.md): each side's tags as integer ids (common/
 * tag_id.h), 0 for none. Names live in the flow_tag dictionaries; the query layer turns
 * virtual columns (auto_service_1, pod_ns_0, k8s.label.app_1, ...) into predicates on these.
 */
#define TAG_ID_COLUMNS(side, who)                                                                  \
	TI("host_id_" side, who " host"), TI("gprocess_id_" side, who " process, globally"),       \
		TI("container_id_" side, who " container"),                                        \
		TI("netns_id_" side, who " network namespace"),                                    \
		TI("custom_service_id_" side, who " custom service (server config rules)"),        \
		TI("pod_cluster_id_" side, who " Kubernetes cluster"),                             \
		TI("pod_ns_id_" side, who " Kubernetes namespace"),                                \
		TI("pod_node_id_" side, who " Kubernetes node"), TI("pod_id_" side, who " pod"),   \
		TI("pod_group_id_" side, who " workload (deployment, statefulset, ...)"),          \
		TI("pod_service_id_" side, who " Kubernetes service"),                             \
		TI("auto_service_id_" side, who " service: custom > k8s service > workload > "     \
						"process > IP"),                                   \
		TK("auto_service_type_" side, "kind of auto_service_id_" side " (tag_kind)"),      \
		TI("auto_instance_id_" side, who " instance: pod > process > IP"),                 \
		TK("auto_instance_type_" side, "kind of auto_instance_id_" side " (tag_kind)")
#define TAG_COLUMNS TAG_ID_COLUMNS("0", "client's"), TAG_ID_COLUMNS("1", "server's")

static const struct schema_column l7_columns[] = {
	I("time", "end of the exchange, Unix seconds"),
	IO("start_time", "first byte of the request, µs since the epoch"),
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
	T("capture_nic", "packet records: the interface captured on"),
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
	TS("x_request_id_1", "X-Request-ID of the response"),
	TS("trace_id", "W3C trace id"),
	T("span_id", "W3C span id"),
	T("response_result", "what the response said: DNS answers, a Redis reply, ..."),
	IS("request_id", "the protocol's id of the exchange (DNS id, stream id, ...)"),
	M("sql_affected_rows", "rows a SQL statement changed or returned"),
	IS("syscall_trace_id_request", "kernel trace id of the request syscall: joins a service's "
				       "inbound request to its downstream calls"),
	IS("syscall_trace_id_response", "kernel trace id of the response syscall"),
	I("syscall_coroutine_0", "goroutine of the request syscall; 0 none"),
	I("syscall_coroutine_1", "goroutine of the response syscall; 0 none"),
	T("parent_span_id", "span id of the caller's span, where the protocol carries it"),
	IS("lone_resp_tcp_seq", "resp_tcp_seq of a response stored without its request (type "
				"1), else 0: indexed for trace assembly (not in the agent's JSON)"),
	I("_id", "row id, unique per row, assigned by the server at ingest (not in the agent's "
		 "JSON): the row's time in its top bits, see docs/records.md"),
	TAG_COLUMNS,
};

static const struct schema_table l7_flow_log = {
	.db = "flow_log",
	.name = "l7_flow_log",
	.store_name = "l7_flow_log",
	.columns = l7_columns,
	.ncolumns = sizeof(l7_columns) / sizeof(l7_columns[0]),
	.time_column = "time",
};

/* Counters and latencies are metrics (aggregate them); the rest are tags. Latencies are
 * 0 when not measured, as in DeepFlow. */
static const struct schema_column l4_columns[] = {
	I("time", "end of the period this row covers, Unix seconds"),
	I("start_time", "first packet of the flow, µs since the epoch"),
	I("end_time", "last packet of the flow so far, µs since the epoch"),
	M("duration", "µs from start_time to end_time"),
	I("flow_id", "the flow, unique per agent run: its rows share it"),
	I("close_type",
	  "how the flow ended: 1 finish, 3 timeout, 5 forced report (still open), ..."),
	T("close_type_name", "finish, timeout, forced_report, server_rst, ..."),
	I("is_new_flow", "1 on the first row of a flow"),
	I("signal_source", "0 packet"),
	T("observation_point", "c, s, c-nd, s-nd, local, rest"),
	T("capture_nic", "the interface captured on"),
	T("ip4_0", "client IPv4 address"),
	T("ip4_1", "server IPv4 address"),
	T("ip6_0", "client IPv6 address"),
	T("ip6_1", "server IPv6 address"),
	I("client_port", "client port"),
	I("server_port", "server port"),
	I("protocol", "IP protocol number (6 TCP, 17 UDP)"),
	T("l7_protocol", "what the L7 parsers recognised on the flow: HTTP, ...; '' nothing"),
	T("mac_0", "client MAC address"),
	T("mac_1", "server MAC address"),
	I("vlan", "802.1Q VLAN id; 0 untagged"),
	I("tunnel_tier", "tunnel layers around the packets; 0 none"),
	I("tunnel_type", "outermost tunnel: 1 VXLAN, 2 IPIP, 3 GRE, 4 Geneve, 5 ERSPAN, 6 TEB"),
	T("tunnel_type_name", "VXLAN, IPIP, GRE, GENEVE, ERSPAN, TEB; '' none"),
	I("tunnel_id", "VNI, GRE key or ERSPAN session id"),
	T("tunnel_ip_0", "outer source address of the client side's tunnel; '' none"),
	T("tunnel_ip_1", "outer destination address; '' none"),
	I("tcp_flags_bit_0", "OR of the TCP flags the client sent in the period"),
	I("tcp_flags_bit_1", "OR of the TCP flags the server sent in the period"),
	I("syn_seq", "client's initial sequence number; 0 not seen"),
	I("syn_ack_seq", "server's initial sequence number; 0 not seen"),
	M("packet_tx", "packets the client sent"),
	M("packet_rx", "packets the server sent"),
	M("byte_tx", "frame bytes the client sent"),
	M("byte_rx", "frame bytes the server sent"),
	M("l3_byte_tx", "IP bytes the client sent"),
	M("l3_byte_rx", "IP bytes the server sent"),
	M("l4_byte_tx", "L4 payload bytes the client sent"),
	M("l4_byte_rx", "L4 payload bytes the server sent"),
	M("rtt", "handshake round trip, µs"),
	M("rtt_client", "client side of the handshake (SYN-ACK to ACK), µs"),
	M("rtt_server", "server side of the handshake (SYN to SYN-ACK), µs"),
	M("srt_sum", "system response time (ACK delay), sum in µs"),
	M("srt_count", "system response times measured"),
	M("srt_max", "largest system response time, µs"),
	M("art_sum", "application response time, sum in µs"),
	M("art_count", "application response times measured"),
	M("art_max", "largest application response time, µs"),
	M("cit_sum", "client idle time between requests, sum in µs"),
	M("cit_count", "client idle times measured"),
	M("cit_max", "largest client idle time, µs"),
	M("retrans_tx", "client retransmissions"),
	M("retrans_rx", "server retransmissions"),
	M("ooo_tx", "client segments out of order"),
	M("ooo_rx", "server segments out of order"),
	M("zero_win_tx", "zero windows the client advertised"),
	M("zero_win_rx", "zero windows the server advertised"),
	M("syn_count", "SYNs"),
	M("synack_count", "SYN-ACKs"),
	M("retrans_syn", "repeated SYNs"),
	M("retrans_synack", "repeated SYN-ACKs"),
	M("fin_count", "FINs"),
	M("rst_count", "RSTs"),
	TAG_COLUMNS,
};

static const struct schema_table l4_flow_log = {
	.db = "flow_log",
	.name = "l4_flow_log",
	.store_name = "l4_flow_log",
	.columns = l4_columns,
	.ncolumns = sizeof(l4_columns) / sizeof(l4_columns[0]),
	.time_column = "time",
};

/*
 * flow_metrics.network and network_map (net_meter.h): the counters of both, in the agent's
 * order (net_counter_names). "tx" is what the client sent on a network_map row, and what
 * the row's own side (role) sent on a network row. Every one is a metric: sums, but the
 * *_max, which are maxima (aggregate those with Max).
 */
#define NET_COUNTER_COLUMNS                                                                        \
	M("packet_tx", "packets sent by the client (network: by this side)"),                      \
		M("packet_rx", "packets sent by the server (network: to this side)"),              \
		M("byte_tx", "frame bytes sent by the client (network: by this side)"),            \
		M("byte_rx", "frame bytes sent by the server (network: to this side)"),            \
		M("l3_byte_tx", "IP bytes sent by the client (network: by this side)"),            \
		M("l3_byte_rx", "IP bytes sent by the server (network: to this side)"),            \
		M("l4_byte_tx", "L4 payload bytes sent by the client (network: by this side)"),    \
		M("l4_byte_rx", "L4 payload bytes sent by the server (network: to this side)"),    \
		M("new_flow", "flows that began"),                                                 \
		M("closed_flow", "flows that ended (periodic rows of live flows aside)"),          \
		M("syn_count", "SYNs"), M("synack_count", "SYN-ACKs"),                             \
		M("rtt_sum", "handshake round trips, sum in µs (one per flow)"),                   \
		M("rtt_count", "handshake round trips measured"),                                  \
		M("rtt_max", "largest handshake round trip, µs"),                                  \
		M("rtt_client_sum", "client side of the handshakes (SYN-ACK to ACK), sum in µs"),  \
		M("rtt_client_count", "client sides of handshakes measured"),                      \
		M("rtt_client_max", "largest client side of a handshake, µs"),                     \
		M("rtt_server_sum", "server side of the handshakes (SYN to SYN-ACK), sum in µs"),  \
		M("rtt_server_count", "server sides of handshakes measured"),                      \
		M("rtt_server_max", "largest server side of a handshake, µs"),                     \
		M("srt_sum", "system response time (ACK delay), sum in µs"),                       \
		M("srt_count", "system response times measured"),                                  \
		M("srt_max", "largest system response time, µs"),                                  \
		M("art_sum", "application response time, sum in µs"),                              \
		M("art_count", "application response times measured"),                             \
		M("art_max", "largest application response time, µs"),                             \
		M("cit_sum", "client idle time between requests, sum in µs"),                      \
		M("cit_count", "client idle times measured"),                                      \
		M("cit_max", "largest client idle time, µs"),                                      \
		M("retrans_tx", "retransmissions by the client (network: by this side)"),          \
		M("retrans_rx", "retransmissions by the server (network: by the other side)"),     \
		M("zero_win_tx", "zero windows the client advertised (network: this side)"),       \
		M("zero_win_rx", "zero windows the server advertised (network: the other side)"),  \
		M("retrans_syn", "repeated SYNs"), M("retrans_synack", "repeated SYN-ACKs"),       \
		M("ooo_tx", "client segments out of order (network: this side's)"),                \
		M("ooo_rx", "server segments out of order (network: the other side's)"),           \
		M("client_rst_flow", "flows the client reset (client_rst, fin_client_rst)"),       \
		M("server_rst_flow", "established flows the server reset (server_rst)"),           \
		M("server_syn_miss", "handshakes whose SYN was never answered"),                   \
		M("client_ack_miss", "handshakes whose SYN-ACK was never acknowledged"),           \
		M("client_half_close_flow", "flows only the client closed"),                       \
		M("server_half_close_flow", "flows only the server closed"),                       \
		M("client_source_port_reuse", "flows ended by a new SYN on their 4-tuple"),        \
		M("client_establish_other_rst", "handshakes the client reset"),                    \
		M("server_reset", "SYNs the server answered with a reset (port closed)"),          \
		M("server_queue_lack", "handshakes the server repeated after the client's ACK "    \
				       "(accept queue full)"),                                     \
		M("server_establish_other_rst", "handshakes the server reset"),                    \
		M("tcp_timeout", "TCP flows that ended silent (timeout)"),                         \
		M("client_establish_fail",                                                         \
		  "client_ack_miss + client_source_port_reuse + client_establish_other_rst"),      \
		M("server_establish_fail", "server_syn_miss + server_reset + server_queue_lack + " \
					   "server_establish_other_rst"),                          \
		M("tcp_establish_fail", "client_establish_fail + server_establish_fail"),          \
		M("tcp_transfer_fail", "established flows that failed: resets, timeouts, half "    \
				       "closes"),                                                  \
		M("tcp_rst_fail", "flows that ended in a reset")

/* One endpoint: the client side (role 0) or the server side (role 1) of the flows. */
static const struct schema_column network_columns[] = {
	I("time", "start of the second or minute, Unix seconds"),
	T("ip4", "this side's IPv4 address"),
	T("ip6", "this side's IPv6 address"),
	I("role", "0 the client side, 1 the server side"),
	I("server_port", "the flows' server port"),
	I("protocol", "IP protocol number (6 TCP, 17 UDP)"),
	I("signal_source", "0 packet"),
	NET_COUNTER_COLUMNS,
};

/* One client -> server edge at one observation point. */
static const struct schema_column network_map_columns[] = {
	I("time", "start of the second or minute, Unix seconds"),
	T("ip4_0", "client IPv4 address"),
	T("ip4_1", "server IPv4 address"),
	T("ip6_0", "client IPv6 address"),
	T("ip6_1", "server IPv6 address"),
	T("observation_point", "c-nd, s-nd, local, rest"),
	I("server_port", "server port"),
	I("protocol", "IP protocol number (6 TCP, 17 UDP)"),
	I("signal_source", "0 packet"),
	NET_COUNTER_COLUMNS,
};

#define NET_TABLE(var, tname, sname, cols)                                                         \
	static const struct schema_table var = {                                                   \
		.db = "flow_metrics",                                                              \
		.name = tname,                                                                     \
		.store_name = sname,                                                               \
		.columns = cols,                                                                   \
		.ncolumns = sizeof(cols) / sizeof(cols[0]),                                        \
		.time_column = "time",                                                             \
	}
NET_TABLE(network_1s, "network.1s", "network_1s", network_columns);
NET_TABLE(network_1m, "network.1m", "network_1m", network_columns);
NET_TABLE(network_map_1s, "network_map.1s", "network_map_1s", network_map_columns);
NET_TABLE(network_map_1m, "network_map.1m", "network_map_1m", network_map_columns);

/*
 * flow_tag: the SmartEncoding dictionaries (docs/tagging.md). The server's tagger writes
 * an entry when it first sees it and again at least once a day, so retention (by `time`,
 * like every table) drops only entries no row of the retained days can reference.
 * Entries are versions: the newest `time` of an id is its current state.
 */
static const struct schema_column tag_dict_columns[] = {
	I("time", "when the server wrote this version, Unix seconds"),
	I("id", "tag id (common/tag_id.h): a hash of kind and key"),
	I("kind", "tag_kind: 1 ip, 2 host, 3 gprocess, 4 container, 5 netns, 6 custom_service, "
		  "7 pod_cluster, 8 pod_ns, 9 pod_node, 10 pod, 11 pod_group, 12 pod_service, "
		  "13 agent"),
	T("name", "the name queries show"),
	T("key", "the natural key the id is a hash of"),
};
static const struct schema_column tag_link_columns[] = {
	I("time", "when the server wrote this version, Unix seconds"),
	I("id", "tag id of an entity (a process, a pod, ...)"),
	I("attr_kind", "tag_kind of what it belongs to"),
	I("attr_id", "tag id of what it belongs to (its container, its namespace, ...)"),
};
static const struct schema_column k8s_label_columns[] = {
	I("time", "version: an entity's labels are the rows of its newest time"),
	I("id", "tag id of the pod or service"),
	T("key", "label key; '' on the one row of an entity that has no labels"),
	T("value", "label value"),
};
static const struct schema_column process_columns[] = {
	I("time", "when the server wrote this version, Unix seconds"),
	I("gprocess_id", "tag id of the process"),
	I("host_id", "tag id of its host"),
	T("agent_id", "the agent that reported it"),
	I("pid", "process id on its host"),
	I("start_time", "process start, µs since the epoch"),
	T("comm", "kernel process name"),
	T("exe", "executable path"),
	T("cmdline", "command line, arguments separated by spaces"),
	I("uid", "real user id"),
	T("user", "user name"),
	I("container_id", "tag id of its container; 0 none"),
	I("netns_id", "tag id of its network namespace"),
	I("netns_inode", "inode of its network namespace"),
};
static const struct schema_column host_columns[] = {
	I("time", "when the server wrote this version, Unix seconds"),
	I("host_id", "tag id of the host"),
	T("hostname", "host name"),
	T("agent_id", "the agent on it"),
	T("ips", "its addresses, comma-separated"),
};

#define TAG_TABLE(var, tname, cols)                                                                \
	static const struct schema_table var = {                                                   \
		.db = "flow_tag",                                                                  \
		.name = tname,                                                                     \
		.store_name = "flow_tag_" tname,                                                   \
		.columns = cols,                                                                   \
		.ncolumns = sizeof(cols) / sizeof(cols[0]),                                        \
		.time_column = "time",                                                             \
	}
TAG_TABLE(tag_dict, "tag_dict", tag_dict_columns);
TAG_TABLE(tag_link, "tag_link", tag_link_columns);
TAG_TABLE(k8s_label, "k8s_label", k8s_label_columns);
TAG_TABLE(process_tab, "process", process_columns);
TAG_TABLE(host_tab, "host", host_columns);

const struct schema_table *const schema_tables[] = {
	&l7_flow_log, &l4_flow_log, &network_1s, &network_1m,  &network_map_1s, &network_map_1m,
	&tag_dict,    &tag_link,    &k8s_label,	 &process_tab, &host_tab,	NULL,
};

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
