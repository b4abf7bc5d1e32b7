/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the MySQL parser: see sql_fuzz.h for the input format and checks. */
#define FZ_OPS proto_mysql_ops
#include "sql_fuzz.h"
