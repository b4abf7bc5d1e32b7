/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the Dubbo parser: see framed_fuzz_play.h for the input. */
#define FUZZ_OPS proto_dubbo_ops
#include "framed_fuzz_play.h"
