/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the MongoDB parser: see framed_fuzz_play.h for the input. */
#define FUZZ_OPS proto_mongodb_ops
#include "framed_fuzz_play.h"
