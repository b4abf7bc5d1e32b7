/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the NATS parser: see fuzz_proto_common.h. */
#define FUZZ_OPS      proto_nats_ops
#define FUZZ_PORT     4222
#define FUZZ_MAX_LEFT 4096
#include "fuzz_proto_common.h"
