/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the Memcached parser (text and binary): see fuzz_proto_common.h. */
#define FUZZ_OPS      proto_memcached_ops
#define FUZZ_PORT     11211
#define FUZZ_MAX_LEFT 4096
#include "fuzz_proto_common.h"
