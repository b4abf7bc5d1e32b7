/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the HTTP/1 parser: see fuzz_proto_common.h for the input. */
#include <stdbool.h>

#include "proto/proto.h"

static void check(bool ok);
static void http1_check_msg(const struct proto_msg *m);

#define FUZZ_OPS       proto_http1_ops
#define FUZZ_PORT      80
#define FUZZ_PORTS     80, 8080
#define FUZZ_MAX_LEFT  (PROTO_HTTP1_MAX_HDR - 1) /* the header block cap */
#define FUZZ_TCP_ONLY  1
#define FUZZ_MSG_FLAGS (PROTO_MSG_F_TRUNCATED | PROTO_MSG_F_CONN_CLOSE | PROTO_MSG_F_LEN_GUESSED)
/* A new event at a byte that may begin a start line may legitimately end a body of unknown
 * length or a resync: cut elsewhere. */
#define FUZZ_CUT_AVOID	     "GPDHOCT"
#define FUZZ_SPLIT_EXACT     1
#define FUZZ_CHECK_MSG(f, m) ((void)(f), http1_check_msg(m))
#include "fuzz_proto_common.h"

/* What every HTTP/1 message has: a start line, a well-formed W3C trace context or none. */
static void http1_check_msg(const struct proto_msg *m)
{
	check(m->version.len == 3);
	if (m->kind == PROTO_MSG_REQUEST) {
		check(m->method.len > 0 && m->resource.len > 0);
		check(m->endpoint.len <= m->resource.len);
	} else {
		check(m->code >= 0 && m->code <= 999 && m->method.len == 0);
	}
	check(m->trace_id.len == 0 || m->trace_id.len == 32);
	check(m->span_id.len == m->trace_id.len / 2);
}
