/* SPDX-License-Identifier: Apache-2.0 */
/* Batch codec: see wire.h. protobuf-c does the message encoding, zstd the compression. */
#include "wire/wire.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "src/wire/flowscope_wire.pb-c.h"

typedef Flowscope__Wire__V1__L7Record pb_rec;
typedef Flowscope__Wire__V1__Batch pb_batch;
typedef Flowscope__Wire__V1__Counter pb_counter;

static bool counter_name_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= WIRE_COUNTER_NAME_MAX - 1 ||
		    !((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return false;
	return n > 0;
}

#define BIN(field) ((ProtobufCBinaryData){ .len = (field).len, .data = (uint8_t *)(field).s })

static void to_pb(const struct l7_record *r, pb_rec *p)
{
	flowscope__wire__v1__l7_record__init(p);
#define SET(f, v)                                                                                  \
	do {                                                                                       \
		p->has_##f = 1;                                                                    \
		p->f = (v);                                                                        \
	} while (0)
	SET(start_time_us, r->start_ns / 1000);
	SET(end_time_us, r->end_ns / 1000);
	SET(type, r->type);
	SET(observation_point, r->obs);
	if (r->signal_source != REC_SIGNAL_EBPF) /* absent means eBPF (wire version 1) */
		SET(signal_source, r->signal_source);
	SET(response_status, r->status);
	SET(family, r->family);
	SET(l4_protocol, r->l4_proto);
	SET(l7_protocol, r->l7_proto);
	if (r->has_response && r->code >= 0)
		SET(response_code, r->code);
	if (r->has_request)
		SET(request_length, r->request_length);
	if (r->has_response)
		SET(response_length, r->response_length);
	SET(req_tcp_seq, r->req_tcp_seq);
	SET(resp_tcp_seq, r->resp_tcp_seq);
	SET(addr_0, ((ProtobufCBinaryData){ r->family == 4 ? 4 : 16, (uint8_t *)r->addr0 }));
	SET(addr_1, ((ProtobufCBinaryData){ r->family == 4 ? 4 : 16, (uint8_t *)r->addr1 }));
	SET(client_port, r->client_port);
	SET(server_port, r->server_port);
	SET(pid, r->pid);
	SET(req_tid, r->req_tid);
	SET(resp_tid, r->resp_tid);
	SET(process_kname,
	    ((ProtobufCBinaryData){ strnlen(r->comm, sizeof(r->comm)), (uint8_t *)r->comm }));
	SET(version, BIN(r->version));
	SET(request_type, BIN(r->method));
	SET(request_domain, BIN(r->domain));
	SET(request_resource, BIN(r->resource));
	SET(endpoint, BIN(r->endpoint));
	SET(response_exception, BIN(r->exception));
	SET(x_request_id_0, BIN(r->x_request_id_0));
	SET(x_request_id_1, BIN(r->x_request_id_1));
	SET(trace_id, BIN(r->trace_id));
	SET(span_id, BIN(r->span_id));
#undef SET
}

/* A protobuf varint at p (at most 10 bytes); returns its length. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static int builder_reserve(struct wire_builder *b, size_t more)
{
	size_t ncap;
	uint8_t *np;

	if (b->len + more <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 4096;
	while (ncap < b->len + more)
		ncap *= 2;
	np = realloc(b->buf, ncap);
	if (!np)
		return -ENOMEM;
	b->buf = np;
	b->cap = ncap;
	return 0;
}

/* Batch.l7 is field 4, length-delimited: tag (4 << 3) | 2. */
#define TAG_BATCH_L7 0x22

int wire_builder_add(struct wire_builder *b, const struct l7_record *r)
{
	pb_rec p;
	size_t plen;

	if (b->n >= WIRE_MAX_RECORDS)
		return -E2BIG;
	to_pb(r, &p);
	plen = flowscope__wire__v1__l7_record__get_packed_size(&p);
	if (builder_reserve(b, 1 + 10 + plen))
		return -ENOMEM;
	b->buf[b->len++] = TAG_BATCH_L7;
	b->len += put_varint(b->buf + b->len, plen);
	b->len += flowscope__wire__v1__l7_record__pack(&p, b->buf + b->len);
	b->n++;
	return 0;
}

int wire_builder_finish(struct wire_builder *b, const struct wire_batch_info *info, int zstd_level,
			uint8_t **out, size_t *out_len)
{
	pb_batch h = FLOWSCOPE__WIRE__V1__BATCH__INIT;
	pb_counter pcs[WIRE_MAX_COUNTERS], *pcptrs[WIRE_MAX_COUNTERS];
	ZSTD_CCtx *cc = NULL;
	ZSTD_inBuffer in;
	ZSTD_outBuffer zo = { 0 };
	uint8_t *head = NULL;
	size_t hlen, total, left;
	int err = -ENOMEM;

	if (strnlen(info->agent_id, sizeof(info->agent_id)) >= sizeof(info->agent_id) ||
	    info->ncounters > WIRE_MAX_COUNTERS)
		return -EINVAL;
	for (size_t i = 0; i < info->ncounters; i++) {
		if (strnlen(info->counters[i].name, WIRE_COUNTER_NAME_MAX) >=
			    WIRE_COUNTER_NAME_MAX ||
		    !counter_name_ok(info->counters[i].name))
			return -EINVAL;
		flowscope__wire__v1__counter__init(&pcs[i]);
		pcs[i].name = (char *)info->counters[i].name;
		pcs[i].has_value = 1;
		pcs[i].value = info->counters[i].value;
		pcptrs[i] = &pcs[i];
	}
	/*
	 * The header (version, agent_id, seq, counters) is packed on its own and followed by
	 * the records already packed one by one: protobuf parses concatenated fields of one
	 * message as that message, repeated fields appended.
	 */
	h.has_version = 1;
	h.version = WIRE_VERSION;
	h.agent_id = (char *)info->agent_id;
	h.has_seq = 1;
	h.seq = info->seq;
	h.n_counters = info->ncounters;
	h.counters = info->ncounters ? pcptrs : NULL;
	hlen = flowscope__wire__v1__batch__get_packed_size(&h);
	head = malloc(hlen ? hlen : 1);
	cc = ZSTD_createCCtx();
	if (!head || !cc)
		goto out;
	flowscope__wire__v1__batch__pack(&h, head);
	total = hlen + b->len;
	zo.size = ZSTD_compressBound(total);
	zo.dst = malloc(zo.size);
	if (!zo.dst)
		goto out;
	err = -EINVAL;
	/* The pledged size puts the content size in the frame header: the decoder bounds
	 * its allocation with it before decompressing. */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, zstd_level)) ||
	    ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cc, total)))
		goto out;
	in = (ZSTD_inBuffer){ head, hlen, 0 };
	while (in.pos < in.size)
		if (ZSTD_isError(ZSTD_compressStream2(cc, &zo, &in, ZSTD_e_continue)))
			goto out;
	in = (ZSTD_inBuffer){ b->buf ? b->buf : (const uint8_t *)"", b->len, 0 };
	do {
		left = ZSTD_compressStream2(cc, &zo, &in, ZSTD_e_end);
		if (ZSTD_isError(left))
			goto out;
	} while (left);
	*out = zo.dst;
	*out_len = zo.pos;
	zo.dst = NULL;
	b->len = 0;
	b->n = 0;
	err = 0;
out:
	free(zo.dst);
	ZSTD_freeCCtx(cc);
	free(head);
	return err;
}

void wire_builder_reset(struct wire_builder *b)
{
	b->len = 0;
	b->n = 0;
}

void wire_builder_free(struct wire_builder *b)
{
	if (!b)
		return;
	free(b->buf);
	*b = (struct wire_builder){ 0 };
}

int wire_encode(const struct wire_batch_info *info, const struct l7_record *recs, size_t n,
		int zstd_level, uint8_t **out, size_t *out_len)
{
	struct wire_builder b = { 0 };
	int err = 0;

	if (n > WIRE_MAX_RECORDS)
		return -EINVAL;
	for (size_t i = 0; i < n && !err; i++)
		err = wire_builder_add(&b, &recs[i]);
	if (!err)
		err = wire_builder_finish(&b, info, zstd_level, out, out_len);
	wire_builder_free(&b);
	return err;
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static void copy_bin(char *dst, uint16_t *dst_len, size_t cap, protobuf_c_boolean has,
		     ProtobufCBinaryData v)
{
	rec_copy(dst, dst_len, cap, has ? (const char *)v.data : NULL,
		 has ? (uint32_t)(v.len > UINT32_MAX ? UINT32_MAX : v.len) : 0);
}

#define COPY(field, pbf) copy_bin((field).s, &(field).len, sizeof((field).s), p->has_##pbf, p->pbf)

/* One record from the wire; returns NULL or what is wrong with it. */
static const char *from_pb(const pb_rec *p, struct l7_record *r)
{
	size_t alen;

	record_reset(r);
	if (!p->has_type || p->type > REC_TYPE_SESSION)
		return "type missing or not 0..2";
	if (!p->has_observation_point || p->observation_point > REC_OBS_MAX)
		return "observation_point missing or out of range";
	if (p->has_signal_source && p->signal_source != REC_SIGNAL_PACKET &&
	    p->signal_source != REC_SIGNAL_EBPF)
		return "signal_source not 0 or 3";
	if (!p->has_family || (p->family != 4 && p->family != 6))
		return "family missing or not 4 or 6";
	alen = p->family == 4 ? 4 : 16;
	if (!p->has_addr_0 || !p->has_addr_1 || p->addr_0.len != alen || p->addr_1.len != alen)
		return "addresses missing or of the wrong length for the family";
	if ((p->has_client_port && p->client_port > 65535) ||
	    (p->has_server_port && p->server_port > 65535))
		return "port out of range";
	if (p->has_response_status && p->response_status > PROTO_STATUS_PARSE_FAILED)
		return "response_status out of range";
	if ((p->has_l4_protocol && p->l4_protocol > 255) ||
	    (p->has_l7_protocol && p->l7_protocol >= PROTO_ID_MAX))
		return "protocol out of range";
	if (p->has_start_time_us && p->has_end_time_us && p->end_time_us < p->start_time_us)
		return "end_time before start_time";
	if ((p->has_start_time_us && p->start_time_us > UINT64_MAX / 1000) ||
	    (p->has_end_time_us && p->end_time_us > UINT64_MAX / 1000))
		return "time out of range";
	r->type = p->type;
	r->obs = p->observation_point;
	r->signal_source = p->has_signal_source ? p->signal_source : REC_SIGNAL_EBPF;
	r->family = p->family;
	r->status = p->has_response_status ? p->response_status : PROTO_STATUS_UNKNOWN;
	r->l4_proto = p->has_l4_protocol ? p->l4_protocol : 0;
	r->l7_proto = p->has_l7_protocol ? p->l7_protocol : 0;
	r->start_ns = p->has_start_time_us ? p->start_time_us * 1000 : 0;
	r->end_ns = p->has_end_time_us ? p->end_time_us * 1000 : r->start_ns;
	r->has_request = p->has_request_length;
	r->request_length = p->has_request_length ? p->request_length : 0;
	r->has_response = p->has_response_length || p->has_response_code;
	r->response_length = p->has_response_length ? p->response_length : 0;
	r->code = p->has_response_code ? p->response_code : -1;
	r->req_tcp_seq = p->has_req_tcp_seq ? p->req_tcp_seq : 0;
	r->resp_tcp_seq = p->has_resp_tcp_seq ? p->resp_tcp_seq : 0;
	memcpy(r->addr0, p->addr_0.data, alen);
	memcpy(r->addr1, p->addr_1.data, alen);
	r->client_port = p->has_client_port ? p->client_port : 0;
	r->server_port = p->has_server_port ? p->server_port : 0;
	r->pid = p->has_pid ? p->pid : 0;
	r->req_tid = p->has_req_tid ? p->req_tid : 0;
	r->resp_tid = p->has_resp_tid ? p->resp_tid : 0;
	if (p->has_process_kname) {
		size_t k = p->process_kname.len < sizeof(r->comm) - 1 ? p->process_kname.len
								      : sizeof(r->comm) - 1;

		if (k) /* an empty bytes field has no data pointer */
			memcpy(r->comm, p->process_kname.data, k);
		r->comm[k] = 0;
	}
	COPY(r->version, version);
	COPY(r->method, request_type);
	COPY(r->domain, request_domain);
	COPY(r->resource, request_resource);
	COPY(r->endpoint, endpoint);
	COPY(r->exception, response_exception);
	COPY(r->x_request_id_0, x_request_id_0);
	COPY(r->x_request_id_1, x_request_id_1);
	COPY(r->trace_id, trace_id);
	COPY(r->span_id, span_id);
	return NULL;
}

int wire_decode(const uint8_t *buf, size_t len, size_t max_decoded, struct wire_batch_info *info,
		struct l7_record **recs_out, size_t *n_out, char *err, size_t errlen)
{
	unsigned long long size;
	struct l7_record *recs = NULL;
	pb_batch *b = NULL;
	uint8_t *raw = NULL;
	size_t got;
	int rc;

	*recs_out = NULL;
	*n_out = 0;
	if (len > WIRE_MAX_BODY)
		return fail(err, errlen, -EMSGSIZE, "body of %zu bytes exceeds %u", len,
			    WIRE_MAX_BODY);
	size = ZSTD_getFrameContentSize(buf, len);
	if (size == ZSTD_CONTENTSIZE_ERROR)
		return fail(err, errlen, -EPROTO, "not a zstd frame");
	if (size == ZSTD_CONTENTSIZE_UNKNOWN)
		return fail(err, errlen, -EPROTO, "zstd frame without its content size");
	if (size > max_decoded)
		return fail(err, errlen, -EMSGSIZE, "batch of %llu bytes exceeds %zu", size,
			    max_decoded);
	raw = malloc(size ? size : 1);
	if (!raw)
		return -ENOMEM;
	got = ZSTD_decompress(raw, size, buf, len);
	if (ZSTD_isError(got) || got != size) {
		rc = fail(err, errlen, -EPROTO, "zstd: %s",
			  ZSTD_isError(got) ? ZSTD_getErrorName(got) : "size mismatch");
		goto out;
	}
	b = flowscope__wire__v1__batch__unpack(NULL, got, raw);
	if (!b) {
		rc = fail(err, errlen, -EPROTO, "not a protobuf Batch");
		goto out;
	}
	if (!b->has_version || b->version != WIRE_VERSION) {
		rc = fail(err, errlen, -EPROTONOSUPPORT,
			  "wire version %u not supported (this "
			  "server speaks %d)",
			  b->has_version ? b->version : 0, WIRE_VERSION);
		goto out;
	}
	if (!b->agent_id || strlen(b->agent_id) >= sizeof(info->agent_id) || !b->has_seq) {
		rc = fail(err, errlen, -EPROTO, "agent_id or seq missing, or agent_id too long");
		goto out;
	}
	if (b->n_l7 > WIRE_MAX_RECORDS) {
		rc = fail(err, errlen, -EMSGSIZE, "%zu records exceed %u", b->n_l7,
			  WIRE_MAX_RECORDS);
		goto out;
	}
	if (b->n_counters > WIRE_MAX_COUNTERS) {
		rc = fail(err, errlen, -EMSGSIZE, "%zu counters exceed %u", b->n_counters,
			  WIRE_MAX_COUNTERS);
		goto out;
	}
	for (size_t i = 0; i < b->n_counters; i++) {
		if (!b->counters[i]->name || !counter_name_ok(b->counters[i]->name) ||
		    !b->counters[i]->has_value) {
			rc = fail(err, errlen, -EPROTO,
				  "counter %zu: name not [a-z0-9_]{1,%d} or value missing", i,
				  WIRE_COUNTER_NAME_MAX - 1);
			goto out;
		}
	}
	if (b->n_l7) {
		recs = malloc(b->n_l7 * sizeof(*recs));
		if (!recs) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < b->n_l7; i++) {
		const char *why = from_pb(b->l7[i], &recs[i]);

		if (why) {
			rc = fail(err, errlen, -EPROTO, "record %zu: %s", i, why);
			goto out;
		}
	}
	info->version = b->version;
	strcpy(info->agent_id, b->agent_id);
	info->seq = b->seq;
	info->ncounters = b->n_counters;
	for (size_t i = 0; i < b->n_counters; i++) {
		strcpy(info->counters[i].name, b->counters[i]->name);
		info->counters[i].value = b->counters[i]->value;
	}
	*recs_out = recs;
	*n_out = b->n_l7;
	recs = NULL;
	rc = 0;
out:
	free(recs);
	if (b)
		flowscope__wire__v1__batch__free_unpacked(b, NULL);
	free(raw);
	return rc;
}
