/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the Redis parser: see fuzz_proto_common.h. */
#define FUZZ_OPS      proto_redis_ops
#define FUZZ_PORT     6379
#define FUZZ_MAX_LEFT 4096
#include "fuzz_proto_common.h"
