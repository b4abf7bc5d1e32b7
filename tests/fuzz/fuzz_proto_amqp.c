/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the AMQP 0-9-1 parser: see framed_fuzz_play.h for the input. */
#define FUZZ_OPS proto_amqp_ops
#include "framed_fuzz_play.h"
