/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the PostgreSQL parser: see sql_fuzz.h for the input format and checks. */
#define FZ_OPS proto_postgresql_ops
#include "sql_fuzz.h"
