/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON answer of GET /v1/trace (docs/server.md): the kept spans in display order,
 * each with its parent's _id (null at a root), then the services. Strings go through
 * jsonw (escaping, UTF-8 repair) as the member of a scratch object, copied without the
 * `{"s":` in front.
 */
#include "query/trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"

struct out {
	char *p;
	size_t len, cap;
	bool oom;
	struct jsonw scratch;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *np;

		while (cap < o->len + n + 1)
			cap *= 2;
		np = realloc(o->p, cap);
		if (!np) {
			o->oom = true;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = 0;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void key(struct out *o, bool *first, const char *k)
{
	if (!*first)
		put(o, ",", 1);
	*first = false;
	put(o, "\"", 1);
	puts_(o, k);
	put(o, "\":", 2);
}

static void str(struct out *o, const char *s)
{
	jsonw_begin(&o->scratch);
	jsonw_cstr(&o->scratch, "s", s);
	if (o->scratch.oom || o->scratch.len < 5) {
		o->oom = true;
		return;
	}
	put(o, o->scratch.buf + 5, o->scratch.len - 5);
}

static void kstr(struct out *o, bool *first, const char *k, const char *s)
{
	key(o, first, k);
	str(o, s);
}

static void kint(struct out *o, bool *first, const char *k, int64_t v)
{
	char tmp[32];

	key(o, first, k);
	snprintf(tmp, sizeof(tmp), "%" PRId64, v);
	puts_(o, tmp);
}

/* -1 is NULL for the nullable integers. */
static void kint_null(struct out *o, bool *first, const char *k, int64_t v)
{
	if (v < 0) {
		key(o, first, k);
		puts_(o, "null");
		return;
	}
	kint(o, first, k, v);
}

static const char *link_name(unsigned link)
{
	switch (link) {
	case TRACE_LINK_TCP_SEQ: return "tcp_seq";
	case TRACE_LINK_X_REQUEST: return "x_request_id";
	case TRACE_LINK_SYSCALL: return "syscall";
	case TRACE_LINK_APP: return "trace_id";
	case TRACE_LINK_DNS: return "dns";
	default: return "";
	}
}

static void span(struct out *o, const struct trace *t, const struct trace_span *s)
{
	int side = trace_local_side(s);
	bool f = true;

	put(o, "{", 1);
	kint(o, &f, "_id", s->id);
	key(o, &f, "parent_id");
	if (s->parent >= 0) {
		char tmp[32];

		snprintf(tmp, sizeof(tmp), "%" PRId64, t->spans[s->parent].id);
		puts_(o, tmp);
	} else {
		puts_(o, "null");
	}
	kint(o, &f, "depth", s->depth);
	kstr(o, &f, "link", link_name(s->link));
	kstr(o, &f, "observation_point", s->observation_point);
	kstr(o, &f, "capture_nic", s->capture_nic);
	kint(o, &f, "signal_source", s->signal_source);
	kint(o, &f, "process_id", side < 0 ? 0 : s->process_id[side]);
	kstr(o, &f, "process_kname", side < 0 ? "" : s->process_kname[side]);
	kstr(o, &f, "auto_service", trace_auto_service(s));
	kstr(o, &f, "ip_0", s->ip[0]);
	kstr(o, &f, "ip_1", s->ip[1]);
	kint(o, &f, "client_port", s->client_port);
	kint(o, &f, "server_port", s->server_port);
	kstr(o, &f, "l7_protocol", s->l7_protocol);
	kint(o, &f, "type", s->type);
	kstr(o, &f, "request_type", s->request_type);
	kstr(o, &f, "request_domain", s->request_domain);
	kstr(o, &f, "request_resource", s->request_resource);
	kint_null(o, &f, "response_code", s->response_code);
	kint(o, &f, "response_status", s->response_status);
	kstr(o, &f, "response_exception", s->response_exception);
	kint(o, &f, "start_time", s->start_us);
	kint(o, &f, "end_time", s->end_us);
	kint_null(o, &f, "response_duration", s->response_duration);
	kint(o, &f, "self_time", s->self_time);
	kint(o, &f, "req_tcp_seq", s->req_tcp_seq);
	kint(o, &f, "resp_tcp_seq", s->resp_tcp_seq);
	kint(o, &f, "syscall_trace_id_request", s->syscall_trace_id_request);
	kint(o, &f, "syscall_trace_id_response", s->syscall_trace_id_response);
	kstr(o, &f, "x_request_id_0", s->x_request_id[0]);
	kstr(o, &f, "x_request_id_1", s->x_request_id[1]);
	kstr(o, &f, "trace_id", s->trace_id);
	kstr(o, &f, "span_id", s->span_id);
	kstr(o, &f, "parent_span_id", s->parent_span_id);
	put(o, "}", 1);
}

int trace_write_json(const struct trace *t, char **res, size_t *len)
{
	struct out o = { 0 };
	struct trace_service *svc = NULL;
	size_t nsvc;

	*res = NULL;
	*len = 0;
	puts_(&o, "{\"spans\":[");
	for (size_t k = 0; k < t->norder; k++) {
		if (k)
			put(&o, ",", 1);
		span(&o, t, &t->spans[t->order[k]]);
	}
	puts_(&o, "],\"services\":[");
	svc = calloc(t->norder + 1, sizeof(*svc));
	if (!svc) {
		o.oom = true;
	} else {
		nsvc = trace_services(t, svc, t->norder);
		for (size_t i = 0; i < nsvc; i++) {
			bool f = true;

			put(&o, i ? ",{" : "{", i ? 2 : 1);
			kstr(&o, &f, "auto_service", svc[i].name);
			kint(&o, &f, "spans", (int64_t)svc[i].spans);
			kint(&o, &f, "duration", svc[i].duration_us);
			kint(&o, &f, "self_time", svc[i].self_time_us);
			put(&o, "}", 1);
		}
	}
	{
		char tmp[160];

		snprintf(tmp, sizeof(tmp),
			 "],\"rounds\":%u,\"queries\":%u,\"truncated\":%s,\"timed_out\":%s}\n",
			 t->rounds, t->queries, t->truncated ? "true" : "false",
			 t->timed_out ? "true" : "false");
		puts_(&o, tmp);
	}
	free(svc);
	jsonw_free(&o.scratch);
	if (o.oom) {
		free(o.p);
		return -ENOMEM;
	}
	*res = o.p;
	*len = o.len;
	return 0;
}
