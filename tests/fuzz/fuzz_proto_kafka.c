/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the Kafka parser: see fuzz_proto_common.h for the input. */
#define FUZZ_OPS      proto_kafka_ops
#define FUZZ_PORT     9092
#define FUZZ_MAX_LEFT 4096
#define FUZZ_TCP_ONLY 1
#define FUZZ_MSG_FLAGS                                                                             \
	(PROTO_MSG_F_TRUNCATED | PROTO_MSG_F_LEN_GUESSED | PROTO_MSG_F_NO_RESPONSE |               \
	 PROTO_MSG_F_UNSOLICITED)
/* API names and error names are string literals */
#define FUZZ_VIEWS_MAY_BE_STATIC (FUZZ_V_METHOD | FUZZ_V_EXCEPTION | FUZZ_V_RESULT)
/* framing is by length alone: how bytes are spread over events never matters */
#define FUZZ_SPLIT_EXACT 1
#include "fuzz_proto_common.h"
