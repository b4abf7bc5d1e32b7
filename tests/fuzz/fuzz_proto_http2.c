/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the HTTP/2 + gRPC parser: see fuzz_proto_common.h for the input. */
#include <stdbool.h>

#include "proto/proto.h"

static void check(bool ok);

#define FUZZ_OPS      proto_http2_ops
#define FUZZ_PORT     443
#define FUZZ_PORTS    443, 50051
#define FUZZ_MAX_LEFT 1024 /* a frame header or a small control frame */
#define FUZZ_TCP_ONLY 1
/* header values may come from the HPACK tables, which the state owns on the heap */
#define FUZZ_VIEWS_MAY_BE_STATIC FUZZ_V_ALL
#define FUZZ_PROTO_OVERRIDE	 PROTO_GRPC
/* the state owns memory: a new connection starts from a released, zeroed one */
#define FUZZ_RESTART_ON_CLOSE 1
/* every message is paired by its stream id */
#define FUZZ_CHECK_MSG(f, m)                                                                       \
	((void)(f), check((m)->has_session_id && (m)->session_id == (m)->request_id))
#include "fuzz_proto_common.h"
