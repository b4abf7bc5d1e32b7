/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the MQTT parser: see fuzz_proto_common.h. */
#define FUZZ_OPS      proto_mqtt_ops
#define FUZZ_PORT     1883
#define FUZZ_MAX_LEFT 4096
#include "fuzz_proto_common.h"
