/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the MySQL parser: see fuzz_proto_common.h for the input. */
#define FUZZ_OPS      proto_mysql_ops
#define FUZZ_PORT     3306
#define FUZZ_MAX_LEFT 64 /* a packet header and little more */
#define FUZZ_TCP_ONLY 1
/* command names and the version come from constant tables */
#define FUZZ_VIEWS_MAY_BE_STATIC (FUZZ_V_VERSION | FUZZ_V_METHOD)
#define FUZZ_STATIC_MAX_LEN	 32
#include "fuzz_proto_common.h"
