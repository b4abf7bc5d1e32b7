/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backend-neutral half of the store: dispatch through struct store_ops, and the one
 * mapping from struct l7_record to l7_flow_log column values, from struct l4_record to
 * l4_flow_log column values and from struct net_row to flow_metrics.network / network_map
 * column values. They follow record_write_json() (src/agent/record.c),
 * l4_record_write_json() (src/agent/l4_record.c) and net_row_write_json()
 * (src/agent/net_meter.c) field by field, so that a row read back from any backend equals
 * the agent's --stdout JSON for the same record.
 */
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/l4_record.h"
#include "agent/net_meter.h"
#include "agent/record.h"
#include "common/tag_set.h"
#include "store/store_clickhouse.h"
#include "store/rowid.h"

_Static_assert(STORE_NET_COUNTERS == NC_MAX, "store.h: STORE_NET_COUNTERS is NC_MAX");

/* A side's tag column names at base + enum store_tag_col, as schema.c names them. */
#define TAG_COL_NAMES(base, side)                                                                  \
	[(base) + TAGC_HOST_ID] = "host_id_" side,                                                 \
		  [(base) + TAGC_GPROCESS_ID] = "gprocess_id_" side,                               \
		  [(base) + TAGC_CONTAINER_ID] = "container_id_" side,                             \
		  [(base) + TAGC_NETNS_ID] = "netns_id_" side,                                     \
		  [(base) + TAGC_CUSTOM_SERVICE_ID] = "custom_service_id_" side,                   \
		  [(base) + TAGC_POD_CLUSTER_ID] = "pod_cluster_id_" side,                         \
		  [(base) + TAGC_POD_NS_ID] = "pod_ns_id_" side,                                   \
		  [(base) + TAGC_POD_NODE_ID] = "pod_node_id_" side,                               \
		  [(base) + TAGC_POD_ID] = "pod_id_" side,                                         \
		  [(base) + TAGC_POD_GROUP_ID] = "pod_group_id_" side,                             \
		  [(base) + TAGC_POD_SERVICE_ID] = "pod_service_id_" side,                         \
		  [(base) + TAGC_AUTO_SERVICE_ID] = "auto_service_id_" side,                       \
		  [(base) + TAGC_AUTO_SERVICE_TYPE] = "auto_service_type_" side,                   \
		  [(base) + TAGC_AUTO_INSTANCE_ID] = "auto_instance_id_" side,                     \
		  [(base) + TAGC_AUTO_INSTANCE_TYPE] = "auto_instance_type_" side

const char *const store_l7_col_names[L7C__MAX] = {
	[L7C_TIME] = "time",
	[L7C_START_TIME] = "start_time",
	[L7C_END_TIME] = "end_time",
	[L7C_RESPONSE_DURATION] = "response_duration",
	[L7C_IP4_0] = "ip4_0",
	[L7C_IP4_1] = "ip4_1",
	[L7C_IP6_0] = "ip6_0",
	[L7C_IP6_1] = "ip6_1",
	[L7C_CLIENT_PORT] = "client_port",
	[L7C_SERVER_PORT] = "server_port",
	[L7C_PROTOCOL] = "protocol",
	[L7C_SIGNAL_SOURCE] = "signal_source",
	[L7C_OBSERVATION_POINT] = "observation_point",
	[L7C_CAPTURE_NIC] = "capture_nic",
	[L7C_PROCESS_ID_0] = "process_id_0",
	[L7C_PROCESS_ID_1] = "process_id_1",
	[L7C_PROCESS_KNAME_0] = "process_kname_0",
	[L7C_PROCESS_KNAME_1] = "process_kname_1",
	[L7C_SYSCALL_THREAD_0] = "syscall_thread_0",
	[L7C_SYSCALL_THREAD_1] = "syscall_thread_1",
	[L7C_L7_PROTOCOL] = "l7_protocol",
	[L7C_VERSION] = "version",
	[L7C_TYPE] = "type",
	[L7C_REQUEST_TYPE] = "request_type",
	[L7C_REQUEST_DOMAIN] = "request_domain",
	[L7C_REQUEST_RESOURCE] = "request_resource",
	[L7C_ENDPOINT] = "endpoint",
	[L7C_RESPONSE_CODE] = "response_code",
	[L7C_RESPONSE_STATUS] = "response_status",
	[L7C_RESPONSE_EXCEPTION] = "response_exception",
	[L7C_REQUEST_LENGTH] = "request_length",
	[L7C_RESPONSE_LENGTH] = "response_length",
	[L7C_REQ_TCP_SEQ] = "req_tcp_seq",
	[L7C_RESP_TCP_SEQ] = "resp_tcp_seq",
	[L7C_X_REQUEST_ID_0] = "x_request_id_0",
	[L7C_X_REQUEST_ID_1] = "x_request_id_1",
	[L7C_TRACE_ID] = "trace_id",
	[L7C_SPAN_ID] = "span_id",
	[L7C_RESPONSE_RESULT] = "response_result",
	[L7C_REQUEST_ID] = "request_id",
	[L7C_SQL_AFFECTED_ROWS] = "sql_affected_rows",
	[L7C_SYSCALL_TRACE_ID_REQUEST] = "syscall_trace_id_request",
	[L7C_SYSCALL_TRACE_ID_RESPONSE] = "syscall_trace_id_response",
	[L7C_SYSCALL_COROUTINE_0] = "syscall_coroutine_0",
	[L7C_SYSCALL_COROUTINE_1] = "syscall_coroutine_1",
	[L7C_PARENT_SPAN_ID] = "parent_span_id",
	[L7C_LONE_RESP_TCP_SEQ] = "lone_resp_tcp_seq",
	[L7C__ID] = "_id",
	TAG_COL_NAMES(L7C_TAGS_0, "0"),
	TAG_COL_NAMES(L7C_TAGS_1, "1"),
};

const char *const store_l4_col_names[L4C__MAX] = {
	[L4C_TIME] = "time",
	[L4C_START_TIME] = "start_time",
	[L4C_END_TIME] = "end_time",
	[L4C_DURATION] = "duration",
	[L4C_FLOW_ID] = "flow_id",
	[L4C_CLOSE_TYPE] = "close_type",
	[L4C_CLOSE_TYPE_NAME] = "close_type_name",
	[L4C_IS_NEW_FLOW] = "is_new_flow",
	[L4C_SIGNAL_SOURCE] = "signal_source",
	[L4C_OBSERVATION_POINT] = "observation_point",
	[L4C_CAPTURE_NIC] = "capture_nic",
	[L4C_IP4_0] = "ip4_0",
	[L4C_IP4_1] = "ip4_1",
	[L4C_IP6_0] = "ip6_0",
	[L4C_IP6_1] = "ip6_1",
	[L4C_CLIENT_PORT] = "client_port",
	[L4C_SERVER_PORT] = "server_port",
	[L4C_PROTOCOL] = "protocol",
	[L4C_L7_PROTOCOL] = "l7_protocol",
	[L4C_MAC_0] = "mac_0",
	[L4C_MAC_1] = "mac_1",
	[L4C_VLAN] = "vlan",
	[L4C_TUNNEL_TIER] = "tunnel_tier",
	[L4C_TUNNEL_TYPE] = "tunnel_type",
	[L4C_TUNNEL_TYPE_NAME] = "tunnel_type_name",
	[L4C_TUNNEL_ID] = "tunnel_id",
	[L4C_TUNNEL_IP_0] = "tunnel_ip_0",
	[L4C_TUNNEL_IP_1] = "tunnel_ip_1",
	[L4C_TCP_FLAGS_BIT_0] = "tcp_flags_bit_0",
	[L4C_TCP_FLAGS_BIT_1] = "tcp_flags_bit_1",
	[L4C_SYN_SEQ] = "syn_seq",
	[L4C_SYN_ACK_SEQ] = "syn_ack_seq",
	[L4C_PACKET_TX] = "packet_tx",
	[L4C_PACKET_RX] = "packet_rx",
	[L4C_BYTE_TX] = "byte_tx",
	[L4C_BYTE_RX] = "byte_rx",
	[L4C_L3_BYTE_TX] = "l3_byte_tx",
	[L4C_L3_BYTE_RX] = "l3_byte_rx",
	[L4C_L4_BYTE_TX] = "l4_byte_tx",
	[L4C_L4_BYTE_RX] = "l4_byte_rx",
	[L4C_RTT] = "rtt",
	[L4C_RTT_CLIENT] = "rtt_client",
	[L4C_RTT_SERVER] = "rtt_server",
	[L4C_SRT_SUM] = "srt_sum",
	[L4C_SRT_COUNT] = "srt_count",
	[L4C_SRT_MAX] = "srt_max",
	[L4C_ART_SUM] = "art_sum",
	[L4C_ART_COUNT] = "art_count",
	[L4C_ART_MAX] = "art_max",
	[L4C_CIT_SUM] = "cit_sum",
	[L4C_CIT_COUNT] = "cit_count",
	[L4C_CIT_MAX] = "cit_max",
	[L4C_RETRANS_TX] = "retrans_tx",
	[L4C_RETRANS_RX] = "retrans_rx",
	[L4C_OOO_TX] = "ooo_tx",
	[L4C_OOO_RX] = "ooo_rx",
	[L4C_ZERO_WIN_TX] = "zero_win_tx",
	[L4C_ZERO_WIN_RX] = "zero_win_rx",
	[L4C_SYN_COUNT] = "syn_count",
	[L4C_SYNACK_COUNT] = "synack_count",
	[L4C_RETRANS_SYN] = "retrans_syn",
	[L4C_RETRANS_SYNACK] = "retrans_synack",
	[L4C_FIN_COUNT] = "fin_count",
	[L4C_RST_COUNT] = "rst_count",
	TAG_COL_NAMES(L4C_TAGS_0, "0"),
	TAG_COL_NAMES(L4C_TAGS_1, "1"),
};

const char *const store_net_col_names[NETC__KEYS] = {
	[NETC_TIME] = "time",
	[NETC_IP4] = "ip4",
	[NETC_IP6] = "ip6",
	[NETC_ROLE] = "role",
	[NETC_SERVER_PORT] = "server_port",
	[NETC_PROTOCOL] = "protocol",
	[NETC_SIGNAL_SOURCE] = "signal_source",
};

const char *const store_netmap_col_names[NMAPC__KEYS] = {
	[NMAPC_TIME] = "time",
	[NMAPC_IP4_0] = "ip4_0",
	[NMAPC_IP4_1] = "ip4_1",
	[NMAPC_IP6_0] = "ip6_0",
	[NMAPC_IP6_1] = "ip6_1",
	[NMAPC_OBSERVATION_POINT] = "observation_point",
	[NMAPC_SERVER_PORT] = "server_port",
	[NMAPC_PROTOCOL] = "protocol",
	[NMAPC_SIGNAL_SOURCE] = "signal_source",
};

static const char *const tag_dict_cols[] = { "time", "id", "kind", "name", "key" };
static const char *const tag_link_cols[] = { "time", "id", "attr_kind", "attr_id" };
static const char *const k8s_label_cols[] = { "time", "id", "key", "value" };
static const char *const process_cols[] = { "time",	"gprocess_id", "host_id", "agent_id",
					    "pid",	"start_time",  "comm",	  "exe",
					    "cmdline",	"uid",	       "user",	  "container_id",
					    "netns_id", "netns_inode" };
static const char *const host_cols[] = { "time", "host_id", "hostname", "agent_id", "ips" };

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(NCOLS(process_cols) == STORE_TAG_ROW_MAX, "the widest flow_tag row");

const char *const store_tag_table_names[STAG__TABLES] = {
	[STAG_DICT] = "tag_dict",   [STAG_LINK] = "tag_link", [STAG_LABEL] = "k8s_label",
	[STAG_PROCESS] = "process", [STAG_HOST] = "host",
};
const char *const *const store_tag_table_cols[STAG__TABLES] = {
	[STAG_DICT] = tag_dict_cols,   [STAG_LINK] = tag_link_cols, [STAG_LABEL] = k8s_label_cols,
	[STAG_PROCESS] = process_cols, [STAG_HOST] = host_cols,
};
const size_t store_tag_table_ncols[STAG__TABLES] = {
	[STAG_DICT] = NCOLS(tag_dict_cols),   [STAG_LINK] = NCOLS(tag_link_cols),
	[STAG_LABEL] = NCOLS(k8s_label_cols), [STAG_PROCESS] = NCOLS(process_cols),
	[STAG_HOST] = NCOLS(host_cols),
};

/* The network tables by the names the agent writes its rows under (net_table_name()). */
const struct store_row_map store_row_maps[] = {
	{ "l7_flow_log", store_l7_col_names, L7C__MAX, NULL, 0 },
	{ "l4_flow_log", store_l4_col_names, L4C__MAX, NULL, 0 },
	{ "network.1s", store_net_col_names, NETC__KEYS, net_counter_names, NC_MAX },
	{ "network.1m", store_net_col_names, NETC__KEYS, net_counter_names, NC_MAX },
	{ "network_map.1s", store_netmap_col_names, NMAPC__KEYS, net_counter_names, NC_MAX },
	{ "network_map.1m", store_netmap_col_names, NMAPC__KEYS, net_counter_names, NC_MAX },
	/* flow_tag, in enum store_tag_table order (backends find a row's table by its index) */
	{ "tag_dict", tag_dict_cols, NCOLS(tag_dict_cols), NULL, 0 },
	{ "tag_link", tag_link_cols, NCOLS(tag_link_cols), NULL, 0 },
	{ "k8s_label", k8s_label_cols, NCOLS(k8s_label_cols), NULL, 0 },
	{ "process", process_cols, NCOLS(process_cols), NULL, 0 },
	{ "host", host_cols, NCOLS(host_cols), NULL, 0 },
	{ NULL, NULL, 0, NULL, 0 },
};

int store_ops_for_url(const char *url, const struct store_ops **ops, char *err, size_t errlen)
{
	if (!url || !*url || !strcmp(url, "sqlite") || !strcmp(url, "sqlite:")) {
		*ops = &store_sqlite_ops;
		return 0;
	}
	if (!strncmp(url, "clickhouse://", 13)) {
		struct ch_url u;
		int rc = ch_parse_url(url, &u, err, errlen);

		if (!rc)
			*ops = &store_clickhouse_ops;
		return rc;
	}
	if (err && errlen)
		snprintf(err, errlen,
			 "store '%.64s': expected sqlite: or "
			 "clickhouse://HOST:PORT/DB[?cluster=NAME]",
			 url);
	return -EINVAL;
}

int store_open(const struct store_ops *ops, const struct store_cfg *cfg, struct store **out)
{
	return store_open_msg(ops, cfg, out, NULL, 0);
}

int store_open_msg(const struct store_ops *ops, const struct store_cfg *cfg, struct store **out,
		   char *errbuf, size_t errlen)
{
	struct store *s = NULL;
	int err;

	if (errbuf && errlen)
		errbuf[0] = 0;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!ops || !ops->open || !cfg)
		return -EINVAL;
	err = ops->open(cfg, &s);
	if (err)
		return err;
	s->ops = ops;
	if (ops->ensure_schema) {
		err = ops->ensure_schema(s);
		if (err)
			goto err;
	}
	*out = s;
	return 0;
err:
	if (errbuf && errlen && ops->errmsg)
		snprintf(errbuf, errlen, "%s", ops->errmsg(s));
	ops->close(s);
	return err;
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

int store_ensure_schema(struct store *s)
{
	if (!s)
		return -EINVAL;
	return s->ops->ensure_schema ? s->ops->ensure_schema(s) : 0;
}

enum store_result store_write_rows(struct store *s, const struct store_batch_src *src,
				   const struct store_batch *b)
{
	struct store_batch bb;

	if (!s || !b || (b->n7 && !b->l7) || (b->n4 && !b->l4) || (b->nnet && !b->net) ||
	    (b->ntags && !b->tags))
		return STORE_DROP;
	if (src && (!src->id || strlen(src->id) > STORE_SRC_ID_MAX))
		return STORE_DROP;
	/* A row of no network table can never be stored: the batch with it. */
	for (size_t i = 0; i < b->nnet; i++)
		if (b->net[i].k.table >= NET_TABLES)
			return STORE_DROP;
	for (size_t i = 0; i < b->ntags; i++)
		if (b->tags[i].table >= STAG__TABLES)
			return STORE_DROP;
	/* Without a source there is no seq to advance: nothing to do. */
	if (!src && !b->n7 && !b->n4 && !b->nnet && !b->ntags)
		return STORE_OK;
	/* Row ids here, not in a backend: every backend stores the same ones. A retried
	 * batch gets new ids, which is fine: the failed attempt stored nothing. */
	bb = *b;
	bb.l7_id_seq = b->n7 ? rowid_reserve(b->n7) : 0;
	return s->ops->write_batch(s, src, &bb);
}

enum store_result store_write_batch(struct store *s, const struct l7_record *recs, size_t n)
{
	struct store_batch b = { .l7 = recs, .n7 = n };

	return store_write_rows(s, NULL, &b);
}

enum store_result store_write_batch_from(struct store *s, const struct store_batch_src *src,
					 const struct l7_record *recs, size_t n)
{
	struct store_batch b = { .l7 = recs, .n7 = n };

	if (!src)
		return STORE_DROP;
	return store_write_rows(s, src, &b);
}

int store_query(struct store *s, const char *backend_sql, const struct store_value *params,
		size_t nparams, const struct store_limits *lim, store_columns_fn on_columns,
		store_row_fn on_row, void *ctx)
{
	if (!s || !backend_sql || (nparams && !params))
		return -EINVAL;
	if (!s->ops->query)
		return -EOPNOTSUPP;
	return s->ops->query(s, backend_sql, params, nparams, lim, on_columns, on_row, ctx);
}

int store_drop_expired(struct store *s, int64_t now_s)
{
	if (!s)
		return -EINVAL;
	return s->ops->drop_expired ? s->ops->drop_expired(s, now_s) : 0;
}

int store_stats(struct store *s, struct store_stats *out)
{
	if (!s || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	return s->ops->stats ? s->ops->stats(s, out) : 0;
}

unsigned int store_caps(const struct store *s)
{
	return s ? s->ops->caps : 0;
}

const char *store_errmsg(struct store *s)
{
	if (!s || !s->ops->errmsg)
		return "";
	return s->ops->errmsg(s);
}

/* ---- record -> row ------------------------------------------------------------------- */

static void v_int(struct store_value *v, uint64_t x)
{
	/* Lengths are u64 on the wire; a value past INT64_MAX would come back negative. */
	v->type = STORE_INT;
	v->i = x > INT64_MAX ? INT64_MAX : (int64_t)x;
}

static void v_text(struct store_value *v, const char *p, size_t len)
{
	v->type = STORE_TEXT;
	v->s = p;
	v->len = len;
}

static void v_cstr(struct store_value *v, const char *p)
{
	v_text(v, p, strlen(p));
}

static void v_null(struct store_value *v)
{
	v->type = STORE_NULL;
}

#define V_STR(v, f) v_text((v), (f).s, (f).len)

void store_tag_values(const struct tag_set *t, struct store_value v[STORE_TAG_NCOLS])
{
	const int64_t ids[STORE_TAG_NCOLS] = {
		[TAGC_HOST_ID] = t->host,
		[TAGC_GPROCESS_ID] = t->gprocess,
		[TAGC_CONTAINER_ID] = t->container,
		[TAGC_NETNS_ID] = t->netns,
		[TAGC_CUSTOM_SERVICE_ID] = t->custom_service,
		[TAGC_POD_CLUSTER_ID] = t->pod_cluster,
		[TAGC_POD_NS_ID] = t->pod_ns,
		[TAGC_POD_NODE_ID] = t->pod_node,
		[TAGC_POD_ID] = t->pod,
		[TAGC_POD_GROUP_ID] = t->pod_group,
		[TAGC_POD_SERVICE_ID] = t->pod_service,
		[TAGC_AUTO_SERVICE_ID] = t->auto_service,
		[TAGC_AUTO_SERVICE_TYPE] = t->auto_service_type,
		[TAGC_AUTO_INSTANCE_ID] = t->auto_instance,
		[TAGC_AUTO_INSTANCE_TYPE] = t->auto_instance_type,
	};

	for (int c = 0; c < STORE_TAG_NCOLS; c++)
		v[c] = (struct store_value){ .type = STORE_INT, .i = ids[c] };
}

static void put_addr(struct store_value *ip4, struct store_value *ip6, uint8_t family,
		     const uint8_t *a, char *buf, size_t cap)
{
	/* record_write_json writes ip4_N for family 4 and ip6_N otherwise; the other is
	 * absent from the JSON, NULL here. */
	if (family == 4) {
		if (!inet_ntop(AF_INET, a, buf, cap))
			buf[0] = 0;
		v_cstr(ip4, buf);
		v_null(ip6);
		return;
	}
	if (!inet_ntop(AF_INET6, a, buf, cap))
		buf[0] = 0;
	v_null(ip4);
	v_cstr(ip6, buf);
}

void store_l7_row(const struct l7_record *r, uint64_t id_seq, struct store_value v[L7C__MAX],
		  struct store_addr_buf *buf)
{
	bool client = r->obs == REC_OBS_CLIENT_PROCESS;
	uint64_t start_us = r->start_ns / 1000, end_us = r->end_ns / 1000;
	size_t comm_len = strnlen(r->comm, sizeof(r->comm));

	memset(v, 0, sizeof(*v) * L7C__MAX);
	v_int(&v[L7C_TIME], r->end_ns / 1000000000ull);
	v_int(&v[L7C_START_TIME], start_us);
	v_int(&v[L7C_END_TIME], end_us);
	if (r->has_request && r->has_response)
		v_int(&v[L7C_RESPONSE_DURATION], end_us > start_us ? end_us - start_us : 0);
	else
		v_null(&v[L7C_RESPONSE_DURATION]);
	put_addr(&v[L7C_IP4_0], &v[L7C_IP6_0], r->family, r->addr0, buf->a[0], sizeof(buf->a[0]));
	put_addr(&v[L7C_IP4_1], &v[L7C_IP6_1], r->family, r->addr1, buf->a[1], sizeof(buf->a[1]));
	v_int(&v[L7C_CLIENT_PORT], r->client_port);
	v_int(&v[L7C_SERVER_PORT], r->server_port);
	v_int(&v[L7C_PROTOCOL], r->l4_proto);
	v_int(&v[L7C_SIGNAL_SOURCE], r->signal_source);
	v_cstr(&v[L7C_OBSERVATION_POINT], record_obs_name(r->obs));
	v_text(&v[L7C_CAPTURE_NIC], r->capture_nic,
	       strnlen(r->capture_nic, sizeof(r->capture_nic)));
	v_int(&v[L7C_PROCESS_ID_0], client ? r->pid : 0);
	v_int(&v[L7C_PROCESS_ID_1], client ? 0 : r->pid);
	/* comm is a kernel task name: NUL-terminated when shorter than 16, maybe not at 16. */
	v_text(&v[L7C_PROCESS_KNAME_0], client ? r->comm : "", client ? comm_len : 0);
	v_text(&v[L7C_PROCESS_KNAME_1], client ? "" : r->comm, client ? 0 : comm_len);
	v_int(&v[L7C_SYSCALL_THREAD_0], r->has_request ? r->req_tid : 0);
	v_int(&v[L7C_SYSCALL_THREAD_1], r->has_response ? r->resp_tid : 0);
	v_cstr(&v[L7C_L7_PROTOCOL], proto_name(r->l7_proto));
	V_STR(&v[L7C_VERSION], r->version);
	v_int(&v[L7C_TYPE], r->type);
	V_STR(&v[L7C_REQUEST_TYPE], r->method);
	V_STR(&v[L7C_REQUEST_DOMAIN], r->domain);
	V_STR(&v[L7C_REQUEST_RESOURCE], r->resource);
	V_STR(&v[L7C_ENDPOINT], r->endpoint);
	if (r->has_response && r->code >= 0) {
		v[L7C_RESPONSE_CODE].type = STORE_INT;
		v[L7C_RESPONSE_CODE].i = r->code;
	} else {
		v_null(&v[L7C_RESPONSE_CODE]);
	}
	v_int(&v[L7C_RESPONSE_STATUS], r->status);
	V_STR(&v[L7C_RESPONSE_EXCEPTION], r->exception);
	if (r->has_request)
		v_int(&v[L7C_REQUEST_LENGTH], r->request_length);
	else
		v_null(&v[L7C_REQUEST_LENGTH]);
	if (r->has_response)
		v_int(&v[L7C_RESPONSE_LENGTH], r->response_length);
	else
		v_null(&v[L7C_RESPONSE_LENGTH]);
	v_int(&v[L7C_REQ_TCP_SEQ], r->has_request ? r->req_tcp_seq : 0);
	v_int(&v[L7C_RESP_TCP_SEQ], r->has_response ? r->resp_tcp_seq : 0);
	V_STR(&v[L7C_X_REQUEST_ID_0], r->x_request_id_0);
	V_STR(&v[L7C_X_REQUEST_ID_1], r->x_request_id_1);
	V_STR(&v[L7C_TRACE_ID], r->trace_id);
	V_STR(&v[L7C_SPAN_ID], r->span_id);
	V_STR(&v[L7C_RESPONSE_RESULT], r->result);
	if (r->has_request_id)
		v_int(&v[L7C_REQUEST_ID], r->request_id);
	else
		v_null(&v[L7C_REQUEST_ID]);
	if (r->has_affected_rows)
		v_int(&v[L7C_SQL_AFFECTED_ROWS], (int64_t)r->affected_rows);
	else
		v_null(&v[L7C_SQL_AFFECTED_ROWS]);
	/* Trace ids stay below 2^63 (the kernel side's layout), so they fit SQL's INTEGER. */
	v_int(&v[L7C_SYSCALL_TRACE_ID_REQUEST], r->has_request ? r->req_syscall_trace_id : 0);
	v_int(&v[L7C_SYSCALL_TRACE_ID_RESPONSE], r->has_response ? r->resp_syscall_trace_id : 0);
	v_int(&v[L7C_SYSCALL_COROUTINE_0], r->has_request ? r->req_coroutine : 0);
	v_int(&v[L7C_SYSCALL_COROUTINE_1], r->has_response ? r->resp_coroutine : 0);
	V_STR(&v[L7C_PARENT_SPAN_ID], r->parent_span_id);
	/* Server-side, not in the agent's JSON: sessions are found by req_tcp_seq, so only
	 * responses without their request need resp_tcp_seq indexed (trace assembly). */
	v_int(&v[L7C_LONE_RESP_TCP_SEQ], !r->has_request && r->has_response ? r->resp_tcp_seq : 0);
	v[L7C__ID].type = STORE_INT;
	v[L7C__ID].i = rowid_make((int64_t)(r->end_ns / 1000000000ull), id_seq);
	store_tag_values(&r->tags[0], &v[L7C_TAGS_0]);
	store_tag_values(&r->tags[1], &v[L7C_TAGS_1]);
}

/*
 * l4_record_write_json() writes every key on every row (ip4_N or ip6_N by family, as for
 * l7); what it prints for the tunnel of a row outside a tunnel is 0 and "".
 */
void store_l4_row(const struct l4_record *rec, struct store_value v[L4C__MAX],
		  struct store_l4_buf *buf)
{
	const struct l4_flow_rec *r = &rec->f;
	const struct pkt_tunnel *t = &r->tunnel;

	memset(v, 0, sizeof(*v) * L4C__MAX);
	v_int(&v[L4C_TIME], r->time_ns / 1000000000ull);
	v_int(&v[L4C_START_TIME], r->start_ns / 1000);
	v_int(&v[L4C_END_TIME], r->end_ns / 1000);
	v_int(&v[L4C_DURATION], r->end_ns > r->start_ns ? (r->end_ns - r->start_ns) / 1000 : 0);
	v_int(&v[L4C_FLOW_ID], r->flow_id);
	v_int(&v[L4C_CLOSE_TYPE], r->close_type);
	v_cstr(&v[L4C_CLOSE_TYPE_NAME], flow_close_type_name(r->close_type));
	v_int(&v[L4C_IS_NEW_FLOW], r->is_new_flow);
	v_int(&v[L4C_SIGNAL_SOURCE], REC_SIGNAL_PACKET);
	v_cstr(&v[L4C_OBSERVATION_POINT], record_obs_name(rec->obs));
	v_text(&v[L4C_CAPTURE_NIC], rec->capture_nic,
	       strnlen(rec->capture_nic, sizeof(rec->capture_nic)));
	put_addr(&v[L4C_IP4_0], &v[L4C_IP6_0], r->family, r->addr0, buf->ip[0], sizeof(buf->ip[0]));
	put_addr(&v[L4C_IP4_1], &v[L4C_IP6_1], r->family, r->addr1, buf->ip[1], sizeof(buf->ip[1]));
	v_int(&v[L4C_CLIENT_PORT], r->client_port);
	v_int(&v[L4C_SERVER_PORT], r->server_port);
	v_int(&v[L4C_PROTOCOL], r->l4_proto);
	v_cstr(&v[L4C_L7_PROTOCOL], proto_name(rec->l7_proto));
	for (int i = 0; i < 2; i++) {
		const uint8_t *m = i ? r->mac1 : r->mac0;

		snprintf(buf->mac[i], sizeof(buf->mac[i]), "%02x:%02x:%02x:%02x:%02x:%02x", m[0],
			 m[1], m[2], m[3], m[4], m[5]);
		v_cstr(&v[i ? L4C_MAC_1 : L4C_MAC_0], buf->mac[i]);
	}
	v_int(&v[L4C_VLAN], r->vlan);
	v_int(&v[L4C_TUNNEL_TIER], r->tunnel_tier);
	v_int(&v[L4C_TUNNEL_TYPE], r->tunnel_tier ? t->type : 0);
	v_cstr(&v[L4C_TUNNEL_TYPE_NAME], r->tunnel_tier ? pkt_tunnel_name(t->type) : "");
	v_int(&v[L4C_TUNNEL_ID], r->tunnel_tier ? t->id : 0);
	for (int i = 0; i < 2; i++) {
		char *b = buf->tunnel_ip[i];

		b[0] = 0;
		if (r->tunnel_tier && !inet_ntop(t->family == 4 ? AF_INET : AF_INET6,
						 i ? t->dst : t->src, b, sizeof(buf->tunnel_ip[i])))
			b[0] = 0;
		v_cstr(&v[i ? L4C_TUNNEL_IP_1 : L4C_TUNNEL_IP_0], b);
	}
	v_int(&v[L4C_TCP_FLAGS_BIT_0], r->tcp_flags_bit_0);
	v_int(&v[L4C_TCP_FLAGS_BIT_1], r->tcp_flags_bit_1);
	v_int(&v[L4C_SYN_SEQ], r->syn_seq);
	v_int(&v[L4C_SYN_ACK_SEQ], r->syn_ack_seq);
	v_int(&v[L4C_PACKET_TX], r->packet_tx);
	v_int(&v[L4C_PACKET_RX], r->packet_rx);
	v_int(&v[L4C_BYTE_TX], r->byte_tx);
	v_int(&v[L4C_BYTE_RX], r->byte_rx);
	v_int(&v[L4C_L3_BYTE_TX], r->l3_byte_tx);
	v_int(&v[L4C_L3_BYTE_RX], r->l3_byte_rx);
	v_int(&v[L4C_L4_BYTE_TX], r->l4_byte_tx);
	v_int(&v[L4C_L4_BYTE_RX], r->l4_byte_rx);
	v_int(&v[L4C_RTT], r->rtt);
	v_int(&v[L4C_RTT_CLIENT], r->rtt_client);
	v_int(&v[L4C_RTT_SERVER], r->rtt_server);
	v_int(&v[L4C_SRT_SUM], r->srt_sum);
	v_int(&v[L4C_SRT_COUNT], r->srt_count);
	v_int(&v[L4C_SRT_MAX], r->srt_max);
	v_int(&v[L4C_ART_SUM], r->art_sum);
	v_int(&v[L4C_ART_COUNT], r->art_count);
	v_int(&v[L4C_ART_MAX], r->art_max);
	v_int(&v[L4C_CIT_SUM], r->cit_sum);
	v_int(&v[L4C_CIT_COUNT], r->cit_count);
	v_int(&v[L4C_CIT_MAX], r->cit_max);
	v_int(&v[L4C_RETRANS_TX], r->retrans_tx);
	v_int(&v[L4C_RETRANS_RX], r->retrans_rx);
	v_int(&v[L4C_OOO_TX], r->ooo_tx);
	v_int(&v[L4C_OOO_RX], r->ooo_rx);
	v_int(&v[L4C_ZERO_WIN_TX], r->zero_win_tx);
	v_int(&v[L4C_ZERO_WIN_RX], r->zero_win_rx);
	v_int(&v[L4C_SYN_COUNT], r->syn_count);
	v_int(&v[L4C_SYNACK_COUNT], r->synack_count);
	v_int(&v[L4C_RETRANS_SYN], r->retrans_syn);
	v_int(&v[L4C_RETRANS_SYNACK], r->retrans_synack);
	v_int(&v[L4C_FIN_COUNT], r->fin_count);
	v_int(&v[L4C_RST_COUNT], r->rst_count);
	store_tag_values(&rec->tags[0], &v[L4C_TAGS_0]);
	store_tag_values(&rec->tags[1], &v[L4C_TAGS_1]);
}

/*
 * net_row_write_json() writes ip4 / ip6 (network) or ip4_N / ip6_N (network_map) by
 * family, the other family's absent (NULL here), as for l7 and l4 rows; every row has
 * signal_source 0 (packets).
 */
size_t store_net_row(const struct net_row *r, struct store_value v[STORE_NET_MAX_COLS],
		     struct store_net_buf *buf)
{
	const struct net_key *k = &r->k;
	size_t nkeys;

	memset(v, 0, sizeof(*v) * STORE_NET_MAX_COLS);
	if (k->table == NET_MAP_1S || k->table == NET_MAP_1M) {
		v[NMAPC_TIME] = (struct store_value){ .type = STORE_INT, .i = k->time_s };
		put_addr(&v[NMAPC_IP4_0], &v[NMAPC_IP6_0], k->family, k->ip0, buf->ip[0],
			 sizeof(buf->ip[0]));
		put_addr(&v[NMAPC_IP4_1], &v[NMAPC_IP6_1], k->family, k->ip1, buf->ip[1],
			 sizeof(buf->ip[1]));
		v_cstr(&v[NMAPC_OBSERVATION_POINT], record_obs_name(k->obs));
		v_int(&v[NMAPC_SERVER_PORT], k->server_port);
		v_int(&v[NMAPC_PROTOCOL], k->protocol);
		v_int(&v[NMAPC_SIGNAL_SOURCE], REC_SIGNAL_PACKET);
		nkeys = NMAPC__KEYS;
	} else {
		v[NETC_TIME] = (struct store_value){ .type = STORE_INT, .i = k->time_s };
		put_addr(&v[NETC_IP4], &v[NETC_IP6], k->family, k->ip0, buf->ip[0],
			 sizeof(buf->ip[0]));
		v_int(&v[NETC_ROLE], k->role);
		v_int(&v[NETC_SERVER_PORT], k->server_port);
		v_int(&v[NETC_PROTOCOL], k->protocol);
		v_int(&v[NETC_SIGNAL_SOURCE], REC_SIGNAL_PACKET);
		nkeys = NETC__KEYS;
	}
	for (int c = 0; c < NC_MAX; c++)
		v_int(&v[nkeys + c], r->v[c]);
	return nkeys + NC_MAX;
}
