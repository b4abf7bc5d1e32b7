/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the DNS parser (UDP and TCP): see fuzz_proto_common.h. */
#define FUZZ_OPS      proto_dns_ops
#define FUZZ_PORT     53
#define FUZZ_MAX_LEFT (16 * 1024 + 2)
#include "fuzz_proto_common.h"
