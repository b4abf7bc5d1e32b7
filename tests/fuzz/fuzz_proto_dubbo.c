/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the Dubbo parser: see fuzz_proto_common.h for the input. */
#define FUZZ_OPS	    proto_dubbo_ops
#define FUZZ_PORT	    20880
#define FUZZ_MAX_LEFT	    (16 * 1024 - 1) /* a message header plus the head it parses */
#define FUZZ_TCP_ONLY	    1
#define FUZZ_ROLE_PER_EVENT 1
#define FUZZ_CODE_MIN	    -1
/* method and reply names come from constant tables */
#define FUZZ_VIEWS_MAY_BE_STATIC (FUZZ_V_VERSION | FUZZ_V_METHOD | FUZZ_V_EXCEPTION)
#include "fuzz_proto_common.h"
