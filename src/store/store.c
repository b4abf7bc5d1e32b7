/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backend-neutral half of the store: dispatch through struct store_ops, and the one
 * mapping from struct l7_record to l7_flow_log column values. That mapping follows
 * record_write_json() (src/agent/record.c) field by field, so that a row read back from
 * any backend equals the agent's --stdout JSON for the same record.
 */
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "agent/record.h"

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
};

int store_open(const struct store_ops *ops, const struct store_cfg *cfg, struct store **out)
{
	struct store *s = NULL;
	int err;

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

enum store_result store_write_batch(struct store *s, const struct l7_record *recs, size_t n)
{
	if (!s || (n && !recs))
		return STORE_DROP;
	if (!n)
		return STORE_OK;
	return s->ops->write_batch(s, NULL, recs, n);
}

enum store_result store_write_batch_from(struct store *s, const struct store_batch_src *src,
					 const struct l7_record *recs, size_t n)
{
	if (!s || (n && !recs) || !src || !src->id || strlen(src->id) > STORE_SRC_ID_MAX)
		return STORE_DROP;
	return s->ops->write_batch(s, src, recs, n);
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

void store_l7_row(const struct l7_record *r, struct store_value v[L7C__MAX],
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
}
