/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the AMQP 0-9-1 parser. The fixtures are real connections, taken with
 * tshark from the reference captures (../shared/pcaps/amqp): each event is one TCP
 * segment's payload as the client (CLI, egress) or the broker (SRV, ingress) sent it.
 * Every fixture is also replayed cut at every offset and byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/proto.h"
#include "proto_harness.h"

#define CLI PROTO_DIR_EGRESS
#define SRV PROTO_DIR_INGRESS

/* clang-format off */
/* The captures open with the same handshake: a frame seen byte for byte before is not
 * repeated, its first name stands for it. */
static const char err_pre_0[] = /* client */
	"\x41\x4d\x51\x50\x00\x00\x09\x01"
	;
static const char err_pre_1[] = /* server */
	"\x01\x00\x00\x00\x00\x02\x0a\x00\x0a\x00\x0a\x00\x09\x00\x00\x01\xdb\x0c\x63"
	"\x61\x70\x61\x62\x69\x6c\x69\x74\x69\x65\x73\x46\x00\x00\x00\xc7\x12\x70\x75"
	"\x62\x6c\x69\x73\x68\x65\x72\x5f\x63\x6f\x6e\x66\x69\x72\x6d\x73\x74\x01\x1a"
	"\x65\x78\x63\x68\x61\x6e\x67\x65\x5f\x65\x78\x63\x68\x61\x6e\x67\x65\x5f\x62"
	"\x69\x6e\x64\x69\x6e\x67\x73\x74\x01\x0a\x62\x61\x73\x69\x63\x2e\x6e\x61\x63"
	"\x6b\x74\x01\x16\x63\x6f\x6e\x73\x75\x6d\x65\x72\x5f\x63\x61\x6e\x63\x65\x6c"
	"\x5f\x6e\x6f\x74\x69\x66\x79\x74\x01\x12\x63\x6f\x6e\x6e\x65\x63\x74\x69\x6f"
	"\x6e\x2e\x62\x6c\x6f\x63\x6b\x65\x64\x74\x01\x13\x63\x6f\x6e\x73\x75\x6d\x65"
	"\x72\x5f\x70\x72\x69\x6f\x72\x69\x74\x69\x65\x73\x74\x01\x1c\x61\x75\x74\x68"
	"\x65\x6e\x74\x69\x63\x61\x74\x69\x6f\x6e\x5f\x66\x61\x69\x6c\x75\x72\x65\x5f"
	"\x63\x6c\x6f\x73\x65\x74\x01\x10\x70\x65\x72\x5f\x63\x6f\x6e\x73\x75\x6d\x65"
	"\x72\x5f\x71\x6f\x73\x74\x01\x0f\x64\x69\x72\x65\x63\x74\x5f\x72\x65\x70\x6c"
	"\x79\x5f\x74\x6f\x74\x01\x0c\x63\x6c\x75\x73\x74\x65\x72\x5f\x6e\x61\x6d\x65"
	"\x53\x00\x00\x00\x13\x72\x61\x62\x62\x69\x74\x40\x39\x34\x33\x36\x64\x64\x36"
	"\x64\x61\x38\x36\x31\x09\x63\x6f\x70\x79\x72\x69\x67\x68\x74\x53\x00\x00\x00"
	"\x3c\x43\x6f\x70\x79\x72\x69\x67\x68\x74\x20\x28\x63\x29\x20\x32\x30\x30\x37"
	"\x2d\x32\x30\x32\x35\x20\x42\x72\x6f\x61\x64\x63\x6f\x6d\x20\x49\x6e\x63\x20"
	"\x61\x6e\x64\x2f\x6f\x72\x20\x69\x74\x73\x20\x73\x75\x62\x73\x69\x64\x69\x61"
	"\x72\x69\x65\x73\x0b\x69\x6e\x66\x6f\x72\x6d\x61\x74\x69\x6f\x6e\x53\x00\x00"
	"\x00\x39\x4c\x69\x63\x65\x6e\x73\x65\x64\x20\x75\x6e\x64\x65\x72\x20\x74\x68"
	"\x65\x20\x4d\x50\x4c\x20\x32\x2e\x30\x2e\x20\x57\x65\x62\x73\x69\x74\x65\x3a"
	"\x20\x68\x74\x74\x70\x73\x3a\x2f\x2f\x72\x61\x62\x62\x69\x74\x6d\x71\x2e\x63"
	"\x6f\x6d\x08\x70\x6c\x61\x74\x66\x6f\x72\x6d\x53\x00\x00\x00\x13\x45\x72\x6c"
	"\x61\x6e\x67\x2f\x4f\x54\x50\x20\x32\x37\x2e\x33\x2e\x34\x2e\x36\x07\x70\x72"
	"\x6f\x64\x75\x63\x74\x53\x00\x00\x00\x08\x52\x61\x62\x62\x69\x74\x4d\x51\x07"
	"\x76\x65\x72\x73\x69\x6f\x6e\x53\x00\x00\x00\x05\x34\x2e\x32\x2e\x32\x00\x00"
	"\x00\x18\x50\x4c\x41\x49\x4e\x20\x41\x4e\x4f\x4e\x59\x4d\x4f\x55\x53\x20\x41"
	"\x4d\x51\x50\x4c\x41\x49\x4e\x00\x00\x00\x05\x65\x6e\x5f\x55\x53\xce"
	;
static const char err_pre_2[] = /* client */
	"\x01\x00\x00\x00\x00\x01\x21\x00\x0a\x00\x0b\x00\x00\x00\xfd\x07\x70\x72\x6f"
	"\x64\x75\x63\x74\x53\x00\x00\x00\x1a\x50\x69\x6b\x61\x20\x50\x79\x74\x68\x6f"
	"\x6e\x20\x43\x6c\x69\x65\x6e\x74\x20\x4c\x69\x62\x72\x61\x72\x79\x08\x70\x6c"
	"\x61\x74\x66\x6f\x72\x6d\x53\x00\x00\x00\x0c\x50\x79\x74\x68\x6f\x6e\x20\x33"
	"\x2e\x36\x2e\x38\x0c\x63\x61\x70\x61\x62\x69\x6c\x69\x74\x69\x65\x73\x46\x00"
	"\x00\x00\x6f\x1c\x61\x75\x74\x68\x65\x6e\x74\x69\x63\x61\x74\x69\x6f\x6e\x5f"
	"\x66\x61\x69\x6c\x75\x72\x65\x5f\x63\x6c\x6f\x73\x65\x74\x01\x0a\x62\x61\x73"
	"\x69\x63\x2e\x6e\x61\x63\x6b\x74\x01\x12\x63\x6f\x6e\x6e\x65\x63\x74\x69\x6f"
	"\x6e\x2e\x62\x6c\x6f\x63\x6b\x65\x64\x74\x01\x16\x63\x6f\x6e\x73\x75\x6d\x65"
	"\x72\x5f\x63\x61\x6e\x63\x65\x6c\x5f\x6e\x6f\x74\x69\x66\x79\x74\x01\x12\x70"
	"\x75\x62\x6c\x69\x73\x68\x65\x72\x5f\x63\x6f\x6e\x66\x69\x72\x6d\x73\x74\x01"
	"\x0b\x69\x6e\x66\x6f\x72\x6d\x61\x74\x69\x6f\x6e\x53\x00\x00\x00\x18\x53\x65"
	"\x65\x20\x68\x74\x74\x70\x3a\x2f\x2f\x70\x69\x6b\x61\x2e\x72\x74\x66\x64\x2e"
	"\x6f\x72\x67\x07\x76\x65\x72\x73\x69\x6f\x6e\x53\x00\x00\x00\x05\x31\x2e\x33"
	"\x2e\x31\x05\x50\x4c\x41\x49\x4e\x00\x00\x00\x0c\x00\x67\x75\x65\x73\x74\x00"
	"\x67\x75\x65\x73\x74\x05\x65\x6e\x5f\x55\x53\xce"
	;
static const char err_pre_3[] = /* server */
	"\x01\x00\x00\x00\x00\x00\x0c\x00\x0a\x00\x1e\x07\xff\x00\x02\x00\x00\x00\x3c"
	"\xce"
	;
static const char err_pre_4[] = /* client */
	"\x01\x00\x00\x00\x00\x00\x0c\x00\x0a\x00\x1f\x07\xff\x00\x02\x00\x00\x00\x3c"
	"\xce"
	;
static const char err_pre_5[] = /* client */
	"\x01\x00\x00\x00\x00\x00\x08\x00\x0a\x00\x28\x01\x2f\x00\x01\xce"
	;
static const char err_pre_6[] = /* server */
	"\x01\x00\x00\x00\x00\x00\x05\x00\x0a\x00\x29\x00\xce"
	;
static const char err_pre_7[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x05\x00\x14\x00\x0a\x00\xce"
	;
static const char err_pre_8[] = /* server */
	"\x01\x00\x01\x00\x00\x00\x08\x00\x14\x00\x0b\x00\x00\x00\x00\xce"
	;
static const char err_pre_9[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x1a\x00\x28\x00\x0a\x00\x00\x07\x74\x65\x73\x74\x5f"
	"\x65\x78\x06\x64\x69\x72\x65\x63\x74\x00\x00\x00\x00\x00\xce"
	;
static const char err_pre_10[] = /* server */
	"\x01\x00\x01\x00\x00\x00\x04\x00\x28\x00\x0b\xce"
	;
static const char err_pre_11[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x19\x00\x28\x00\x0a\x00\x00\x07\x74\x65\x73\x74\x5f"
	"\x65\x78\x05\x74\x6f\x70\x69\x63\x00\x00\x00\x00\x00\xce"
	;
static const char err_pre_12[] = /* server */
	"\x01\x00\x01\x00\x00\x00\x86\x00\x14\x00\x28\x01\x96\x7b\x50\x52\x45\x43\x4f"
	"\x4e\x44\x49\x54\x49\x4f\x4e\x5f\x46\x41\x49\x4c\x45\x44\x20\x2d\x20\x69\x6e"
	"\x65\x71\x75\x69\x76\x61\x6c\x65\x6e\x74\x20\x61\x72\x67\x20\x27\x74\x79\x70"
	"\x65\x27\x20\x66\x6f\x72\x20\x65\x78\x63\x68\x61\x6e\x67\x65\x20\x27\x74\x65"
	"\x73\x74\x5f\x65\x78\x27\x20\x69\x6e\x20\x76\x68\x6f\x73\x74\x20\x27\x2f\x27"
	"\x3a\x20\x72\x65\x63\x65\x69\x76\x65\x64\x20\x27\x74\x6f\x70\x69\x63\x27\x20"
	"\x62\x75\x74\x20\x63\x75\x72\x72\x65\x6e\x74\x20\x69\x73\x20\x27\x64\x69\x72"
	"\x65\x63\x74\x27\x00\x28\x00\x0a\xce"
	;
static const char err_pre_13[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x04\x00\x14\x00\x29\xce"
	;
static const char err_pre_14[] = /* client */
	"\x01\x00\x00\x00\x00\x00\x1a\x00\x0a\x00\x32\x00\xc8\x0f\x4e\x6f\x72\x6d\x61"
	"\x6c\x20\x73\x68\x75\x74\x64\x6f\x77\x6e\x00\x00\x00\x00\xce"
	;
static const char err_pre_15[] = /* server */
	"\x01\x00\x00\x00\x00\x00\x04\x00\x0a\x00\x33\xce"
	;
#define ERR_PRE_EVENTS \
PH_EV(CLI, err_pre_0), PH_EV(SRV, err_pre_1), PH_EV(CLI, err_pre_2), PH_EV(SRV, err_pre_3), PH_EV(CLI, err_pre_4), PH_EV(CLI, err_pre_5), PH_EV(SRV, err_pre_6), PH_EV(CLI, err_pre_7), PH_EV(SRV, err_pre_8), PH_EV(CLI, err_pre_9), PH_EV(SRV, err_pre_10), PH_EV(CLI, err_pre_11), PH_EV(SRV, err_pre_12), PH_EV(CLI, err_pre_13), PH_EV(CLI, err_pre_14), PH_EV(SRV, err_pre_15)
static const char err_ret_9[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x1e\x00\x28\x00\x0a\x00\x00\x0b\x72\x65\x74\x75\x72"
	"\x6e\x5f\x74\x65\x73\x74\x06\x64\x69\x72\x65\x63\x74\x00\x00\x00\x00\x00\xce"
	;
static const char err_ret_11[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x1b\x00\x3c\x00\x28\x00\x00\x0b\x72\x65\x74\x75\x72"
	"\x6e\x5f\x74\x65\x73\x74\x07\x6e\x6f\x77\x68\x65\x72\x65\x01\xce"
	;
static const char err_ret_12[] = /* client */
	"\x02\x00\x01\x00\x00\x00\x0e\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x12"
	"\x00\x00\xce"
	;
static const char err_ret_13[] = /* client */
	"\x03\x00\x01\x00\x00\x00\x12\x55\x6e\x72\x6f\x75\x74\x61\x62\x6c\x65\x20\x6d"
	"\x65\x73\x73\x61\x67\x65\xce"
	;
static const char err_ret_14[] = /* server */
	"\x01\x00\x01\x00\x00\x00\x23\x00\x3c\x00\x32\x01\x38\x08\x4e\x4f\x5f\x52\x4f"
	"\x55\x54\x45\x0b\x72\x65\x74\x75\x72\x6e\x5f\x74\x65\x73\x74\x07\x6e\x6f\x77"
	"\x68\x65\x72\x65\xce\x02\x00\x01\x00\x00\x00\x0e\x00\x3c\x00\x00\x00\x00\x00"
	"\x00\x00\x00\x00\x12\x00\x00\xce\x03\x00\x01\x00\x00\x00\x12\x55\x6e\x72\x6f"
	"\x75\x74\x61\x62\x6c\x65\x20\x6d\x65\x73\x73\x61\x67\x65\xce"
	;
static const char err_ret_15[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x1a\x00\x14\x00\x28\x00\xc8\x0f\x4e\x6f\x72\x6d\x61"
	"\x6c\x20\x73\x68\x75\x74\x64\x6f\x77\x6e\x00\x00\x00\x00\xce"
	;
#define ERR_RET_EVENTS \
PH_EV(CLI, err_pre_0), PH_EV(SRV, err_pre_1), PH_EV(CLI, err_pre_2), PH_EV(SRV, err_pre_3), PH_EV(CLI, err_pre_4), PH_EV(CLI, err_pre_5), PH_EV(SRV, err_pre_6), PH_EV(CLI, err_pre_7), PH_EV(SRV, err_pre_8), PH_EV(CLI, err_ret_9), PH_EV(SRV, err_pre_10), PH_EV(CLI, err_ret_11), PH_EV(CLI, err_ret_12), PH_EV(CLI, err_ret_13), PH_EV(SRV, err_ret_14), PH_EV(CLI, err_ret_15), PH_EV(SRV, err_pre_13), PH_EV(CLI, err_pre_14), PH_EV(SRV, err_pre_15)
static const char err_vhost_5[] = /* client */
	"\x01\x00\x00\x00\x00\x00\x0b\x00\x0a\x00\x28\x04\x2f\x62\x61\x64\x00\x01\xce"
	;
static const char err_vhost_6[] = /* server */
	"\x01\x00\x00\x00\x00\x00\x2d\x00\x0a\x00\x32\x02\x12\x22\x4e\x4f\x54\x5f\x41"
	"\x4c\x4c\x4f\x57\x45\x44\x20\x2d\x20\x76\x68\x6f\x73\x74\x20\x2f\x62\x61\x64"
	"\x20\x6e\x6f\x74\x20\x66\x6f\x75\x6e\x64\x00\x0a\x00\x28\xce"
	;
#define ERR_VHOST_EVENTS \
PH_EV(CLI, err_pre_0), PH_EV(SRV, err_pre_1), PH_EV(CLI, err_pre_2), PH_EV(SRV, err_pre_3), PH_EV(CLI, err_pre_4), PH_EV(CLI, err_vhost_5), PH_EV(SRV, err_vhost_6)
static const char tp_pub_1[] = /* server */
	"\x01\x00\x00\x00\x00\x01\xfc\x00\x0a\x00\x0a\x00\x09\x00\x00\x01\xd7\x0c\x63"
	"\x61\x70\x61\x62\x69\x6c\x69\x74\x69\x65\x73\x46\x00\x00\x00\xc7\x12\x70\x75"
	"\x62\x6c\x69\x73\x68\x65\x72\x5f\x63\x6f\x6e\x66\x69\x72\x6d\x73\x74\x01\x1a"
	"\x65\x78\x63\x68\x61\x6e\x67\x65\x5f\x65\x78\x63\x68\x61\x6e\x67\x65\x5f\x62"
	"\x69\x6e\x64\x69\x6e\x67\x73\x74\x01\x0a\x62\x61\x73\x69\x63\x2e\x6e\x61\x63"
	"\x6b\x74\x01\x16\x63\x6f\x6e\x73\x75\x6d\x65\x72\x5f\x63\x61\x6e\x63\x65\x6c"
	"\x5f\x6e\x6f\x74\x69\x66\x79\x74\x01\x12\x63\x6f\x6e\x6e\x65\x63\x74\x69\x6f"
	"\x6e\x2e\x62\x6c\x6f\x63\x6b\x65\x64\x74\x01\x13\x63\x6f\x6e\x73\x75\x6d\x65"
	"\x72\x5f\x70\x72\x69\x6f\x72\x69\x74\x69\x65\x73\x74\x01\x1c\x61\x75\x74\x68"
	"\x65\x6e\x74\x69\x63\x61\x74\x69\x6f\x6e\x5f\x66\x61\x69\x6c\x75\x72\x65\x5f"
	"\x63\x6c\x6f\x73\x65\x74\x01\x10\x70\x65\x72\x5f\x63\x6f\x6e\x73\x75\x6d\x65"
	"\x72\x5f\x71\x6f\x73\x74\x01\x0f\x64\x69\x72\x65\x63\x74\x5f\x72\x65\x70\x6c"
	"\x79\x5f\x74\x6f\x74\x01\x0c\x63\x6c\x75\x73\x74\x65\x72\x5f\x6e\x61\x6d\x65"
	"\x53\x00\x00\x00\x0d\x72\x61\x62\x62\x69\x74\x40\x64\x65\x76\x32\x30\x32\x09"
	"\x63\x6f\x70\x79\x72\x69\x67\x68\x74\x53\x00\x00\x00\x3c\x43\x6f\x70\x79\x72"
	"\x69\x67\x68\x74\x20\x28\x63\x29\x20\x32\x30\x30\x37\x2d\x32\x30\x32\x33\x20"
	"\x42\x72\x6f\x61\x64\x63\x6f\x6d\x20\x49\x6e\x63\x20\x61\x6e\x64\x2f\x6f\x72"
	"\x20\x69\x74\x73\x20\x73\x75\x62\x73\x69\x64\x69\x61\x72\x69\x65\x73\x0b\x69"
	"\x6e\x66\x6f\x72\x6d\x61\x74\x69\x6f\x6e\x53\x00\x00\x00\x39\x4c\x69\x63\x65"
	"\x6e\x73\x65\x64\x20\x75\x6e\x64\x65\x72\x20\x74\x68\x65\x20\x4d\x50\x4c\x20"
	"\x32\x2e\x30\x2e\x20\x57\x65\x62\x73\x69\x74\x65\x3a\x20\x68\x74\x74\x70\x73"
	"\x3a\x2f\x2f\x72\x61\x62\x62\x69\x74\x6d\x71\x2e\x63\x6f\x6d\x08\x70\x6c\x61"
	"\x74\x66\x6f\x72\x6d\x53\x00\x00\x00\x13\x45\x72\x6c\x61\x6e\x67\x2f\x4f\x54"
	"\x50\x20\x32\x35\x2e\x33\x2e\x32\x2e\x38\x07\x70\x72\x6f\x64\x75\x63\x74\x53"
	"\x00\x00\x00\x08\x52\x61\x62\x62\x69\x74\x4d\x51\x07\x76\x65\x72\x73\x69\x6f"
	"\x6e\x53\x00\x00\x00\x07\x33\x2e\x31\x32\x2e\x31\x31\x00\x00\x00\x0e\x41\x4d"
	"\x51\x50\x4c\x41\x49\x4e\x20\x50\x4c\x41\x49\x4e\x00\x00\x00\x05\x65\x6e\x5f"
	"\x55\x53\xce"
	;
static const char tp_pub_2[] = /* client */
	"\x01\x00\x00\x00\x00\x01\x3b\x00\x0a\x00\x0b\x00\x00\x01\x17\x07\x70\x72\x6f"
	"\x64\x75\x63\x74\x53\x00\x00\x00\x07\x61\x6d\x71\x70\x6c\x69\x62\x07\x76\x65"
	"\x72\x73\x69\x6f\x6e\x53\x00\x00\x00\x06\x30\x2e\x31\x30\x2e\x33\x08\x70\x6c"
	"\x61\x74\x66\x6f\x72\x6d\x53\x00\x00\x00\x10\x4e\x6f\x64\x65\x2e\x4a\x53\x20"
	"\x76\x32\x30\x2e\x31\x30\x2e\x30\x0b\x69\x6e\x66\x6f\x72\x6d\x61\x74\x69\x6f"
	"\x6e\x53\x00\x00\x00\x23\x68\x74\x74\x70\x3a\x2f\x2f\x73\x71\x75\x61\x72\x65"
	"\x6d\x6f\x2e\x67\x69\x74\x68\x75\x62\x2e\x69\x6f\x2f\x61\x6d\x71\x70\x2e\x6e"
	"\x6f\x64\x65\x0c\x63\x61\x70\x61\x62\x69\x6c\x69\x74\x69\x65\x73\x46\x00\x00"
	"\x00\x8c\x12\x70\x75\x62\x6c\x69\x73\x68\x65\x72\x5f\x63\x6f\x6e\x66\x69\x72"
	"\x6d\x73\x74\x01\x1a\x65\x78\x63\x68\x61\x6e\x67\x65\x5f\x65\x78\x63\x68\x61"
	"\x6e\x67\x65\x5f\x62\x69\x6e\x64\x69\x6e\x67\x73\x74\x01\x0a\x62\x61\x73\x69"
	"\x63\x2e\x6e\x61\x63\x6b\x74\x01\x16\x63\x6f\x6e\x73\x75\x6d\x65\x72\x5f\x63"
	"\x61\x6e\x63\x65\x6c\x5f\x6e\x6f\x74\x69\x66\x79\x74\x01\x12\x63\x6f\x6e\x6e"
	"\x65\x63\x74\x69\x6f\x6e\x2e\x62\x6c\x6f\x63\x6b\x65\x64\x74\x01\x1c\x61\x75"
	"\x74\x68\x65\x6e\x74\x69\x63\x61\x74\x69\x6f\x6e\x5f\x66\x61\x69\x6c\x75\x72"
	"\x65\x5f\x63\x6c\x6f\x73\x65\x74\x01\x05\x50\x4c\x41\x49\x4e\x00\x00\x00\x0c"
	"\x00\x67\x75\x65\x73\x74\x00\x67\x75\x65\x73\x74\x05\x65\x6e\x5f\x55\x53\xce"
	;
static const char tp_pub_4[] = /* client */
	"\x01\x00\x00\x00\x00\x00\x0c\x00\x0a\x00\x1f\x07\xff\x00\x00\x10\x00\x00\x3c"
	"\xce"
	;
static const char tp_pub_5[] = /* client */
	"\x01\x00\x00\x00\x00\x00\x08\x00\x0a\x00\x28\x01\x2f\x00\x00\xce"
	;
static const char tp_pub_9[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x17\x00\x28\x00\x0a\x00\x00\x04\x6c\x6f\x67\x73\x06"
	"\x66\x61\x6e\x6f\x75\x74\x02\x00\x00\x00\x00\xce"
	;
static const char tp_pub_11[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x0d\x00\x3c\x00\x28\x00\x00\x04\x6c\x6f\x67\x73\x00"
	"\x00\xce\x02\x00\x01\x00\x00\x00\x5a\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00"
	"\x00\x0c\x20\x00\x00\x00\x00\x48\x0b\x74\x72\x61\x63\x65\x70\x61\x72\x65\x6e"
	"\x74\x53\x00\x00\x00\x37\x30\x30\x2d\x35\x35\x61\x34\x62\x66\x36\x66\x64\x34"
	"\x66\x38\x35\x35\x66\x32\x35\x38\x63\x32\x63\x31\x62\x33\x63\x64\x62\x32\x38"
	"\x63\x38\x33\x2d\x61\x30\x65\x37\x39\x64\x36\x30\x30\x37\x63\x34\x65\x37\x63"
	"\x32\x2d\x30\x31\xce\x03\x00\x01\x00\x00\x00\x0c\x48\x65\x6c\x6c\x6f\x20\x57"
	"\x6f\x72\x6c\x64\x21\xce"
	;
#define TP_PUB_EVENTS \
PH_EV(CLI, err_pre_0), PH_EV(SRV, tp_pub_1), PH_EV(CLI, tp_pub_2), PH_EV(SRV, err_pre_3), PH_EV(CLI, tp_pub_4), PH_EV(CLI, tp_pub_5), PH_EV(SRV, err_pre_6), PH_EV(CLI, err_pre_7), PH_EV(SRV, err_pre_8), PH_EV(CLI, tp_pub_9), PH_EV(SRV, err_pre_10), PH_EV(CLI, tp_pub_11)
static const char consume_2[] = /* client */
	"\x01\x00\x00\x00\x00\x01\x22\x00\x0a\x00\x0b\x00\x00\x00\xfe\x07\x70\x72\x6f"
	"\x64\x75\x63\x74\x53\x00\x00\x00\x1a\x50\x69\x6b\x61\x20\x50\x79\x74\x68\x6f"
	"\x6e\x20\x43\x6c\x69\x65\x6e\x74\x20\x4c\x69\x62\x72\x61\x72\x79\x08\x70\x6c"
	"\x61\x74\x66\x6f\x72\x6d\x53\x00\x00\x00\x0d\x50\x79\x74\x68\x6f\x6e\x20\x33"
	"\x2e\x31\x31\x2e\x32\x0c\x63\x61\x70\x61\x62\x69\x6c\x69\x74\x69\x65\x73\x46"
	"\x00\x00\x00\x6f\x1c\x61\x75\x74\x68\x65\x6e\x74\x69\x63\x61\x74\x69\x6f\x6e"
	"\x5f\x66\x61\x69\x6c\x75\x72\x65\x5f\x63\x6c\x6f\x73\x65\x74\x01\x0a\x62\x61"
	"\x73\x69\x63\x2e\x6e\x61\x63\x6b\x74\x01\x12\x63\x6f\x6e\x6e\x65\x63\x74\x69"
	"\x6f\x6e\x2e\x62\x6c\x6f\x63\x6b\x65\x64\x74\x01\x16\x63\x6f\x6e\x73\x75\x6d"
	"\x65\x72\x5f\x63\x61\x6e\x63\x65\x6c\x5f\x6e\x6f\x74\x69\x66\x79\x74\x01\x12"
	"\x70\x75\x62\x6c\x69\x73\x68\x65\x72\x5f\x63\x6f\x6e\x66\x69\x72\x6d\x73\x74"
	"\x01\x0b\x69\x6e\x66\x6f\x72\x6d\x61\x74\x69\x6f\x6e\x53\x00\x00\x00\x18\x53"
	"\x65\x65\x20\x68\x74\x74\x70\x3a\x2f\x2f\x70\x69\x6b\x61\x2e\x72\x74\x66\x64"
	"\x2e\x6f\x72\x67\x07\x76\x65\x72\x73\x69\x6f\x6e\x53\x00\x00\x00\x05\x31\x2e"
	"\x32\x2e\x30\x05\x50\x4c\x41\x49\x4e\x00\x00\x00\x0c\x00\x67\x75\x65\x73\x74"
	"\x00\x67\x75\x65\x73\x74\x05\x65\x6e\x5f\x55\x53\xce"
	;
static const char consume_9[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x11\x00\x32\x00\x0a\x00\x00\x05\x68\x65\x6c\x6c\x6f"
	"\x00\x00\x00\x00\x00\xce"
	;
static const char consume_10[] = /* server */
	"\x01\x00\x01\x00\x00\x00\x12\x00\x32\x00\x0b\x05\x68\x65\x6c\x6c\x6f\x00\x00"
	"\x00\x01\x00\x00\x00\x00\xce"
	;
static const char consume_11[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x1d\x00\x28\x00\x0a\x00\x00\x0a\x65\x78\x63\x68\x61"
	"\x6e\x67\x65\x2d\x31\x06\x64\x69\x72\x65\x63\x74\x00\x00\x00\x00\x00\xce"
	;
static const char consume_13[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x21\x00\x32\x00\x14\x00\x00\x05\x68\x65\x6c\x6c\x6f"
	"\x0a\x65\x78\x63\x68\x61\x6e\x67\x65\x2d\x31\x04\x72\x6b\x2d\x31\x00\x00\x00"
	"\x00\x00\xce"
	;
static const char consume_14[] = /* server */
	"\x01\x00\x01\x00\x00\x00\x04\x00\x32\x00\x15\xce"
	;
static const char consume_15[] = /* client */
	"\x01\x00\x01\x00\x00\x00\x17\x00\x3c\x00\x14\x00\x00\x05\x68\x65\x6c\x6c\x6f"
	"\x05\x41\x6c\x69\x63\x65\x02\x00\x00\x00\x00\xce"
	;
static const char consume_16[] = /* server */
	"\x01\x00\x01\x00\x00\x00\x0a\x00\x3c\x00\x15\x05\x41\x6c\x69\x63\x65\xce\x01"
	"\x00\x01\x00\x00\x00\x23\x00\x3c\x00\x3c\x05\x41\x6c\x69\x63\x65\x00\x00\x00"
	"\x00\x00\x00\x00\x01\x00\x0a\x65\x78\x63\x68\x61\x6e\x67\x65\x2d\x31\x04\x72"
	"\x6b\x2d\x31\xce\x02\x00\x01\x00\x00\x00\x0e\x00\x3c\x00\x00\x00\x00\x00\x00"
	"\x00\x00\x00\x0c\x00\x00\xce\x03\x00\x01\x00\x00\x00\x0c\x48\x65\x6c\x6c\x6f"
	"\x20\x57\x6f\x72\x6c\x64\x21\xce"
	;
#define CONSUME_EVENTS \
PH_EV(CLI, err_pre_0), PH_EV(SRV, tp_pub_1), PH_EV(CLI, consume_2), PH_EV(SRV, err_pre_3), PH_EV(CLI, err_pre_4), PH_EV(CLI, err_pre_5), PH_EV(SRV, err_pre_6), PH_EV(CLI, err_pre_7), PH_EV(SRV, err_pre_8), PH_EV(CLI, consume_9), PH_EV(SRV, consume_10), PH_EV(CLI, consume_11), PH_EV(SRV, err_pre_10), PH_EV(CLI, consume_13), PH_EV(SRV, consume_14), PH_EV(CLI, consume_15), PH_EV(SRV, consume_16)
/* clang-format on */

static const struct proto_ctx cli_ctx = { .l4_proto = 6, .role = PROTO_ROLE_CLIENT };

#define NEV(a) (sizeof(a) / sizeof((a)[0]))

static void expect(const struct ph_msg *x, enum proto_msg_kind kind, enum proto_dir dir,
		   const char *method, const char *domain, const char *resource, uint32_t session,
		   uint64_t length)
{
	assert_int_equal(x->m.kind, kind);
	assert_int_equal(x->m.dir, dir);
	if (!ph_str_eq(x->method, method))
		fail_msg("method '%s', want '%s'", x->method ? x->method : "",
			 method ? method : "");
	if (!ph_str_eq(x->domain, domain))
		fail_msg("domain '%s', want '%s'", x->domain ? x->domain : "",
			 domain ? domain : "");
	if (!ph_str_eq(x->resource, resource))
		fail_msg("resource '%s', want '%s'", x->resource ? x->resource : "",
			 resource ? resource : "");
	assert_true(ph_str_eq(x->endpoint, resource));
	assert_true(x->m.has_session_id);
	assert_int_equal(x->m.session_id, session);
	assert_int_equal(x->m.length, length);
	assert_false(x->m.has_request_id);
}

static void expect_ok(const struct ph_msg *x, enum proto_dir dir, uint32_t session, uint64_t length)
{
	expect(x, PROTO_MSG_RESPONSE, dir, NULL, NULL, NULL, session, length);
	assert_int_equal(x->m.code, -1);
	assert_int_equal(x->m.status, PROTO_STATUS_OK);
	assert_null(x->exception);
	assert_int_equal(x->m.flags, 0);
}

/* The broker's handshake requests and the client's answers, common to every fixture. */
static void expect_handshake(const struct ph_conv *c, const char *vhost, uint64_t start_len,
			     uint64_t startok_len)
{
	expect(&c->msgs[0], PROTO_MSG_REQUEST, SRV, "Connection.Start", NULL, NULL, 1u << 16,
	       start_len);
	assert_int_equal(c->msgs[0].m.tcp_seq, PH_SEQ_INGRESS);
	assert_int_equal(c->msgs[0].m.start_ts, PH_TS_START(1));
	expect_ok(&c->msgs[1], CLI, 1u << 16, startok_len);
	assert_int_equal(c->msgs[1].m.tcp_seq, PH_SEQ_EGRESS + 8); /* after the protocol header */
	expect(&c->msgs[2], PROTO_MSG_REQUEST, SRV, "Connection.Tune", NULL, NULL, 1u << 16, 20);
	expect_ok(&c->msgs[3], CLI, 1u << 16, 20);
	expect(&c->msgs[4], PROTO_MSG_REQUEST, CLI, "Connection.Open", vhost, NULL, 0,
	       15 + strlen(vhost));
}

static void test_precondition_failed(void **unused)
{
	const struct ph_event evs[] = { ERR_PRE_EVENTS };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_amqp_ops, &cli_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.nmsgs, 16);
	expect_handshake(&c, "/", 530, 297);
	expect_ok(&c.msgs[5], SRV, 0, 13);
	expect(&c.msgs[6], PROTO_MSG_REQUEST, CLI, "Channel.Open", "/", NULL, 1, 13);
	expect_ok(&c.msgs[7], SRV, 1, 16);
	expect(&c.msgs[8], PROTO_MSG_REQUEST, CLI, "Exchange.Declare", "/", "test_ex.", 1, 34);
	expect_ok(&c.msgs[9], SRV, 1, 12);
	expect(&c.msgs[10], PROTO_MSG_REQUEST, CLI, "Exchange.Declare", "/", "test_ex.", 1, 33);
	/* The broker's Channel.Close answers the declare, then waits for its own close-ok. */
	expect(&c.msgs[11], PROTO_MSG_RESPONSE, SRV, NULL, NULL, NULL, 1, 142);
	assert_int_equal(c.msgs[11].m.code, 406);
	assert_int_equal(c.msgs[11].m.status, PROTO_STATUS_CLIENT_ERROR);
	assert_string_equal(c.msgs[11].exception,
			    "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'test_ex' "
			    "in vhost '/': received 'topic' but current is 'direct'");
	expect(&c.msgs[12], PROTO_MSG_REQUEST, SRV, "Channel.Close", "/", NULL, 1 | 1u << 16, 142);
	assert_int_equal(c.msgs[12].m.tcp_seq, c.msgs[11].m.tcp_seq);
	expect_ok(&c.msgs[13], CLI, 1 | 1u << 16, 12);
	expect(&c.msgs[14], PROTO_MSG_REQUEST, CLI, "Connection.Close", "/", NULL, 0, 34);
	expect_ok(&c.msgs[15], SRV, 0, 12);
	assert_int_equal(c.st.messages, 16);
	assert_int_equal(c.st.parse_errors, 0);
	ph_free(&c);
	ph_check_splits(&proto_amqp_ops, &cli_ctx, evs, NEV(evs), true);
}

static void test_publish_return(void **unused)
{
	const struct ph_event evs[] = { ERR_RET_EVENTS };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_amqp_ops, &cli_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.nmsgs, 16);
	expect_handshake(&c, "/", 530, 297);
	expect(&c.msgs[8], PROTO_MSG_REQUEST, CLI, "Exchange.Declare", "/", "return_test.", 1, 38);
	expect_ok(&c.msgs[9], SRV, 1, 12);
	/* Publish, its header and its 18-byte body, sent in three segments: one message. */
	expect(&c.msgs[10], PROTO_MSG_REQUEST, CLI, "Basic.Publish", "/", "return_test.nowhere", 1,
	       35 + 22 + 26);
	assert_int_equal(c.msgs[10].m.flags, PROTO_MSG_F_NO_RESPONSE);
	assert_true(c.msgs[10].m.end_ts > c.msgs[10].m.start_ts);
	/* The broker returns it: an unsolicited response with the reply code, naming what it
	 * returns (a record of it alone shows that). */
	expect(&c.msgs[11], PROTO_MSG_RESPONSE, SRV, "Basic.Return", "/", "return_test.nowhere",
	       1 | 1u << 16, 43 + 22 + 26);
	assert_int_equal(c.msgs[11].m.flags, PROTO_MSG_F_UNSOLICITED);
	assert_int_equal(c.msgs[11].m.code, 312);
	assert_int_equal(c.msgs[11].m.status, PROTO_STATUS_CLIENT_ERROR);
	assert_string_equal(c.msgs[11].exception, "NO_ROUTE");
	expect(&c.msgs[12], PROTO_MSG_REQUEST, CLI, "Channel.Close", "/", NULL, 1, 34);
	expect_ok(&c.msgs[13], SRV, 1, 12);
	ph_free(&c);
	ph_check_splits(&proto_amqp_ops, &cli_ctx, evs, NEV(evs), true);
}

static void test_vhost_refused(void **unused)
{
	const struct ph_event evs[] = { ERR_VHOST_EVENTS };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_amqp_ops, &cli_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.nmsgs, 6);
	expect_handshake(&c, "/bad", 530, 297);
	/* A Connection.Close answers the open; the broker then closes the socket. */
	expect(&c.msgs[5], PROTO_MSG_RESPONSE, SRV, NULL, NULL, NULL, 0, 53);
	assert_int_equal(c.msgs[5].m.code, 530);
	assert_int_equal(c.msgs[5].m.status, PROTO_STATUS_CLIENT_ERROR);
	assert_string_equal(c.msgs[5].exception, "NOT_ALLOWED - vhost /bad not found");
	ph_free(&c);
	ph_check_splits(&proto_amqp_ops, &cli_ctx, evs, NEV(evs), true);
}

static void test_traceparent(void **unused)
{
	const struct ph_event evs[] = { TP_PUB_EVENTS };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_amqp_ops, &cli_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.nmsgs, 11);
	expect_handshake(&c, "/", 516, 323);
	expect(&c.msgs[8], PROTO_MSG_REQUEST, CLI, "Exchange.Declare", "/", "logs.", 1, 31);
	expect_ok(&c.msgs[9], SRV, 1, 12);
	expect(&c.msgs[10], PROTO_MSG_REQUEST, CLI, "Basic.Publish", "/", "logs.", 1, 21 + 98 + 20);
	assert_int_equal(c.msgs[10].m.flags, PROTO_MSG_F_NO_RESPONSE);
	assert_string_equal(c.msgs[10].trace_id, "55a4bf6fd4f855f258c2c1b3cdb28c83");
	assert_string_equal(c.msgs[10].span_id, "a0e79d6007c4e7c2");
	ph_free(&c);
	ph_check_splits(&proto_amqp_ops, &cli_ctx, evs, NEV(evs), true);
}

static void test_consume_deliver(void **unused)
{
	const struct ph_event evs[] = { CONSUME_EVENTS };
	struct ph_conv c;

	(void)unused;
	ph_run(&c, &proto_amqp_ops, &cli_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.nmsgs, 17);
	expect(&c.msgs[12], PROTO_MSG_REQUEST, CLI, "Queue.Bind", "/", "exchange-1.rk-1", 1, 41);
	expect(&c.msgs[14], PROTO_MSG_REQUEST, CLI, "Basic.Consume", "/", "hello", 1, 31);
	expect_ok(&c.msgs[15], SRV, 1, 18);
	expect(&c.msgs[16], PROTO_MSG_REQUEST, SRV, "Basic.Deliver", "/", "exchange-1.rk-1",
	       1 | 1u << 16, 43 + 22 + 20);
	assert_int_equal(c.msgs[16].m.flags, PROTO_MSG_F_NO_RESPONSE);
	ph_free(&c);
	ph_check_splits(&proto_amqp_ops, &cli_ctx, evs, NEV(evs), true);
}

/* ---- synthetic frames ------------------------------------------------------------- */

struct fb {
	uint8_t b[70000];
	size_t n;
};

static void put8(struct fb *f, uint8_t v)
{
	f->b[f->n++] = v;
}

static void put16(struct fb *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}

static void put32(struct fb *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

static void put64(struct fb *f, uint64_t v)
{
	put32(f, (uint32_t)(v >> 32));
	put32(f, (uint32_t)v);
}

static void putss(struct fb *f, const char *s)
{
	put8(f, (uint8_t)strlen(s));
	memcpy(f->b + f->n, s, strlen(s));
	f->n += strlen(s);
}

static size_t frame_begin(struct fb *f, uint8_t type, uint16_t ch)
{
	put8(f, type);
	put16(f, ch);
	put32(f, 0);
	return f->n;
}

static void frame_end(struct fb *f, size_t start)
{
	uint32_t size = (uint32_t)(f->n - start);

	f->b[start - 4] = (uint8_t)(size >> 24);
	f->b[start - 3] = (uint8_t)(size >> 16);
	f->b[start - 2] = (uint8_t)(size >> 8);
	f->b[start - 1] = (uint8_t)size;
	put8(f, 0xCE);
}

/* A method with no arguments worth parsing (and a few filler bytes). */
static void m_plain(struct fb *f, uint16_t ch, uint16_t cls, uint16_t meth)
{
	size_t s = frame_begin(f, 1, ch);

	put16(f, cls);
	put16(f, meth);
	frame_end(f, s);
}

static void m_queue(struct fb *f, uint16_t ch, uint16_t meth, const char *q, uint8_t bits)
{
	size_t s = frame_begin(f, 1, ch);

	put16(f, meth == 70 ? 60 : 50);
	put16(f, meth);
	put16(f, 0);
	putss(f, q);
	put8(f, bits);
	if (meth == 10)
		put32(f, 0); /* arguments */
	frame_end(f, s);
}

static void m_close(struct fb *f, uint16_t ch, uint16_t cls, uint16_t code, const char *text,
		    uint16_t fcls, uint16_t fmeth)
{
	size_t s = frame_begin(f, 1, ch);

	put16(f, cls);
	put16(f, cls == 10 ? 50 : 40);
	put16(f, code);
	putss(f, text);
	put16(f, fcls);
	put16(f, fmeth);
	frame_end(f, s);
}

static void m_publish(struct fb *f, uint16_t ch, const char *ex, const char *rk)
{
	size_t s = frame_begin(f, 1, ch);

	put16(f, 60);
	put16(f, 40);
	put16(f, 0);
	putss(f, ex);
	putss(f, rk);
	put8(f, 0);
	frame_end(f, s);
}

static void m_getok(struct fb *f, uint16_t ch, const char *ex, const char *rk)
{
	size_t s = frame_begin(f, 1, ch);

	put16(f, 60);
	put16(f, 71);
	put64(f, 1);
	put8(f, 0);
	putss(f, ex);
	putss(f, rk);
	put32(f, 0);
	frame_end(f, s);
}

/* A content header with an optional headers table entry (key, long string value). */
static void c_header(struct fb *f, uint16_t ch, uint64_t body, const char *key, const char *val)
{
	size_t s = frame_begin(f, 2, ch), t;

	put16(f, 60);
	put16(f, 0);
	put64(f, body);
	put16(f, key ? 0xA000 : 0x8000);
	putss(f, "text/plain");
	if (key) {
		put32(f, 0);
		t = f->n;
		putss(f, "n");
		put8(f, 'I');
		put32(f, 7);
		putss(f, key);
		put8(f, 'S');
		put32(f, (uint32_t)strlen(val));
		memcpy(f->b + f->n, val, strlen(val));
		f->n += strlen(val);
		f->b[t - 1] = (uint8_t)(f->n - t);
	}
	frame_end(f, s);
}

static void c_body(struct fb *f, uint16_t ch, size_t n)
{
	size_t s = frame_begin(f, 3, ch);

	memset(f->b + f->n, 'x', n);
	f->n += n;
	frame_end(f, s);
}

static void heartbeat(struct fb *f)
{
	size_t s = frame_begin(f, 8, 0);

	frame_end(f, s);
}

/* Two channels interleave their requests and answers; a get with content and an empty
 * get; heartbeats anywhere; a no-wait declare. */
static void test_channels_interleave(void **unused)
{
	static struct fb cli, srv, cli2, srv2;
	struct ph_conv c;

	(void)unused;
	cli.n = srv.n = cli2.n = srv2.n = 0;
	m_queue(&cli, 1, 10, "q1", 0);
	m_queue(&cli, 2, 10, "q2", 0);
	heartbeat(&cli);
	m_queue(&cli, 3, 10, "q3", 0x10); /* no-wait */
	m_plain(&srv, 2, 50, 11);
	heartbeat(&srv);
	m_plain(&srv, 1, 50, 11);
	m_queue(&cli2, 1, 70, "q1", 0);
	m_queue(&cli2, 2, 70, "q2", 0);
	m_plain(&srv2, 2, 60, 72); /* empty */
	m_getok(&srv2, 1, "", "q1");
	c_header(&srv2, 1, 5000, NULL, NULL);
	c_body(&srv2, 1, 3000);
	c_body(&srv2, 1, 2000);

	const struct ph_event evs[] = {
		PH_EVB(CLI, cli.b, cli.n),
		PH_EVB(SRV, srv.b, srv.n),
		PH_EVB(CLI, cli2.b, cli2.n),
		PH_EVB(SRV, srv2.b, srv2.n),
	};

	ph_run(&c, &proto_amqp_ops, &cli_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.nmsgs, 9);
	expect(&c.msgs[0], PROTO_MSG_REQUEST, CLI, "Queue.Declare", NULL, "q1", 1, 8 + 14);
	expect(&c.msgs[1], PROTO_MSG_REQUEST, CLI, "Queue.Declare", NULL, "q2", 2, 8 + 14);
	expect(&c.msgs[2], PROTO_MSG_REQUEST, CLI, "Queue.Declare", NULL, "q3", 3, 8 + 14);
	assert_int_equal(c.msgs[2].m.flags, PROTO_MSG_F_NO_RESPONSE);
	assert_int_equal(c.msgs[0].m.flags, 0);
	expect_ok(&c.msgs[3], SRV, 2, 12);
	expect_ok(&c.msgs[4], SRV, 1, 12);
	expect(&c.msgs[5], PROTO_MSG_REQUEST, CLI, "Basic.Get", NULL, "q1", 1, 8 + 10);
	expect(&c.msgs[6], PROTO_MSG_REQUEST, CLI, "Basic.Get", NULL, "q2", 2, 8 + 10);
	expect_ok(&c.msgs[7], SRV, 2, 12);
	expect_ok(&c.msgs[8], SRV, 1, (8 + 21) + (8 + 25) + (8 + 3000) + (8 + 2000));
	ph_free(&c);
	ph_check_splits(&proto_amqp_ops, &cli_ctx, evs, NEV(evs), true);
}

/* A body far larger than anything kept is skipped as it streams; a gap inside it is
 * absorbed; and a gap that swallows the frame end loses sync until a frame shows up. */
static void test_large_body_and_gaps(void **unused)
{
	static struct fb a, b, rest, next;
	struct ph_event evs[4];
	struct ph_conv c;

	(void)unused;
	a.n = b.n = rest.n = next.n = 0;
	m_publish(&a, 1, "ex", "rk");
	c_header(&a, 1, 60000, "traceparent",
		 "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	c_body(&a, 1, 60000);
	/* the same message, its body cut short by a 10000-byte gap in the middle */
	memcpy(b.b, a.b, a.n);
	b.n = a.n - 30000;
	memcpy(rest.b, a.b + a.n - 20000, 20000);
	rest.n = 20000;
	m_publish(&next, 1, "ex", "after");
	c_header(&next, 1, 0, NULL, NULL);

	evs[0] = PH_EVB(CLI, a.b, a.n);
	evs[1] = (struct ph_event){ CLI, b.b, b.n, 10000 };
	evs[2] = PH_EVB(CLI, rest.b, rest.n);
	evs[3] = PH_EVB(CLI, next.b, next.n);
	ph_run(&c, &proto_amqp_ops, &cli_ctx, evs, 4, PH_WHOLE, true);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.nmsgs, 3);
	expect(&c.msgs[0], PROTO_MSG_REQUEST, CLI, "Basic.Publish", NULL, "ex.rk", 1 << 0, a.n);
	assert_string_equal(c.msgs[0].trace_id, "0af7651916cd43dd8448eb211c80319c");
	assert_string_equal(c.msgs[0].span_id, "b7ad6b7169203331");
	expect(&c.msgs[1], PROTO_MSG_REQUEST, CLI, "Basic.Publish", NULL, "ex.rk", 1, a.n);
	assert_int_equal(c.msgs[1].m.start_ts, PH_TS_START(1));
	assert_int_equal(c.msgs[1].m.end_ts, PH_TS_END(2));
	expect(&c.msgs[2], PROTO_MSG_REQUEST, CLI, "Basic.Publish", NULL, "ex.after", 1, next.n);
	assert_null(c.msgs[2].trace_id);
	ph_free(&c);

	/* The gap runs past the body's end: what followed is lost, the next event resyncs. */
	evs[1].gap = 40000;
	ph_run(&c, &proto_amqp_ops, &cli_ctx, evs, 4, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 3);
	assert_int_equal(c.msgs[1].m.flags,
			 PROTO_MSG_F_NO_RESPONSE | PROTO_MSG_F_TRUNCATED | PROTO_MSG_F_LEN_GUESSED);
	assert_string_equal(c.msgs[2].resource, "ex.after");
	assert_int_equal(c.st.resyncs, 1);
	ph_free(&c);
}

/* A method frame larger than the parsed head (a big argument table) is skipped whole. */
static void test_large_method_frame(void **unused)
{
	static struct fb f;
	struct ph_conv c;
	size_t s;

	(void)unused;
	f.n = 0;
	s = frame_begin(&f, 1, 1);
	put16(&f, 50);
	put16(&f, 10);
	put16(&f, 0);
	putss(&f, "bigq");
	put8(&f, 0);
	put32(&f, 10000);
	memset(f.b + f.n, 0, 10000);
	f.n += 10000;
	frame_end(&f, s);
	m_queue(&f, 1, 10, "small", 0);

	const struct ph_event evs[] = { PH_EVB(CLI, f.b, f.n) };

	ph_run(&c, &proto_amqp_ops, &cli_ctx, evs, 1, PH_WHOLE, true);
	assert_int_equal(c.nmsgs, 2);
	expect(&c.msgs[0], PROTO_MSG_REQUEST, CLI, "Queue.Declare", NULL, "bigq", 1, 10024);
	expect(&c.msgs[1], PROTO_MSG_REQUEST, CLI, "Queue.Declare", NULL, "small", 1, 25);
	ph_free(&c);
	ph_check_splits(&proto_amqp_ops, &cli_ctx, evs, 1, true);
}

/* A close from the broker that answers nothing is a request of its own; a connection
 * close naming the failed method answers it; sw8 trace context. */
static void test_closes_and_sw8(void **unused)
{
	static struct fb cli, srv, cli2, srv2;
	struct ph_conv c;

	(void)unused;
	cli.n = srv.n = cli2.n = srv2.n = 0;
	m_publish(&cli, 5, "nope", "k");
	c_header(&cli, 5, 0, "sw8",
		 "1-MTIzNDUuNjc4OTAuMTExMQ==-c2VnbWVudDE=-3-c3Zj-aW5zdA==-L2VuZHBvaW50-"
		 "MTI3LjAuMC4xOjgwODA=");
	m_close(&srv, 5, 20, 404, "NOT_FOUND - no exchange 'nope'", 60, 40);
	m_plain(&cli2, 5, 20, 41);
	m_queue(&cli2, 6, 70, "q", 0);
	m_close(&srv2, 0, 10, 541, "INTERNAL_ERROR", 60, 70);

	const struct ph_event evs[] = {
		PH_EVB(CLI, cli.b, cli.n),
		PH_EVB(SRV, srv.b, srv.n),
		PH_EVB(CLI, cli2.b, cli2.n),
		PH_EVB(SRV, srv2.b, srv2.n),
	};

	ph_run(&c, &proto_amqp_ops, &cli_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.nmsgs, 5);
	expect(&c.msgs[0], PROTO_MSG_REQUEST, CLI, "Basic.Publish", NULL, "nope.k", 5, cli.n);
	assert_string_equal(c.msgs[0].trace_id, "12345.67890.1111");
	assert_string_equal(c.msgs[0].span_id, "segment1-3");
	/* the publish failed asynchronously: the broker's close is its own request */
	expect(&c.msgs[1], PROTO_MSG_REQUEST, SRV, "Channel.Close", NULL, NULL, 5 | 1u << 16,
	       srv.n);
	expect_ok(&c.msgs[2], CLI, 5 | 1u << 16, 12);
	expect(&c.msgs[3], PROTO_MSG_REQUEST, CLI, "Basic.Get", NULL, "q", 6, 17);
	/* a connection close naming Basic.Get answers it, whatever the channel */
	expect(&c.msgs[4], PROTO_MSG_RESPONSE, SRV, NULL, NULL, NULL, 6, srv2.n);
	assert_int_equal(c.msgs[4].m.code, 541);
	assert_int_equal(c.msgs[4].m.status, PROTO_STATUS_SERVER_ERROR);
	assert_string_equal(c.msgs[4].exception, "INTERNAL_ERROR");
	ph_check_splits(&proto_amqp_ops, &cli_ctx, evs, NEV(evs), true);
	ph_free(&c);
}

/* Malformed frames are errors; the direction then resynchronises at the next event that
 * begins with a plausible frame, skipping noise quietly. */
static void test_malformed_and_resync(void **unused)
{
	static struct fb good, nomethod, badend, shortargs;
	static const char noise[] = "\x01\x00\x01\xff\xff\xff\xffgarbage";
	struct ph_conv c;

	(void)unused;
	good.n = nomethod.n = badend.n = shortargs.n = 0;
	m_queue(&good, 1, 10, "ok", 0);
	m_plain(&nomethod, 1, 77, 1); /* unknown class */
	m_queue(&badend, 1, 10, "x", 0);
	badend.b[badend.n - 1] = 0xCD;
	m_plain(&shortargs, 1, 50, 10); /* Queue.Declare without arguments */

	const struct ph_event evs[] = {
		PH_EVB(CLI, nomethod.b, nomethod.n),
		PH_EVB(CLI, good.b, good.n),
		PH_EVB(CLI, badend.b, badend.n),
		PH_EV(CLI, noise),
		PH_EVB(CLI, good.b, good.n),
		PH_EVB(CLI, shortargs.b, shortargs.n),
		PH_EVB(CLI, "GET / HTTP/1.1\r\n\r\n", 18),
		PH_EVB(CLI, good.b, good.n),
	};

	ph_run(&c, &proto_amqp_ops, &cli_ctx, evs, NEV(evs), PH_WHOLE, true);
	assert_int_equal(c.errors, 3);
	assert_int_equal(c.st.parse_errors, 3);
	assert_int_equal(c.nmsgs, 3);
	for (size_t i = 0; i < 3; i++)
		expect(&c.msgs[i], PROTO_MSG_REQUEST, CLI, "Queue.Declare", NULL, "ok", 1, 22);
	assert_int_equal(c.msgs[2].m.start_ts, PH_TS_START(7));
	ph_free(&c);
}

static void test_detect(void **unused)
{
	static struct fb f;
	const struct proto_ctx on_port = { .l4_proto = 6, .server_port = 5672 };
	const struct proto_ctx other = { .l4_proto = 6, .server_port = 40000 };

	(void)unused;
	f.n = 0;
	m_queue(&f, 1, 10, "q", 0);
	assert_int_equal(proto_amqp_ops.detect((const uint8_t *)"AMQP\0\0\x09\x01", 8, CLI, NULL),
			 PROTO_DETECT_YES);
	assert_int_equal(proto_amqp_ops.detect((const uint8_t *)"AMQP", 4, CLI, NULL),
			 PROTO_DETECT_MAYBE);
	assert_int_equal(
		proto_amqp_ops.detect((const uint8_t *)"AMQP\x01\x01\x00\x0a", 8, CLI, NULL),
		PROTO_DETECT_NO); /* AMQP 1.0 */
	/* a whole method frame: yes on any port; cut short, only a maybe on 5672 */
	assert_int_equal(proto_amqp_ops.detect(f.b, f.n, CLI, &other), PROTO_DETECT_YES);
	assert_int_equal(proto_amqp_ops.detect(f.b, 12, CLI, &on_port), PROTO_DETECT_MAYBE);
	assert_int_equal(proto_amqp_ops.detect(f.b, 12, CLI, &other), PROTO_DETECT_NO);
	f.b[f.n - 1] = 0;
	assert_int_equal(proto_amqp_ops.detect(f.b, f.n, CLI, &on_port), PROTO_DETECT_NO);
	/* other protocols */
	assert_int_equal(
		proto_amqp_ops.detect((const uint8_t *)"GET / HTTP/1.1\r\n", 16, CLI, &on_port),
		PROTO_DETECT_NO);
	assert_int_equal(
		proto_amqp_ops.detect((const uint8_t *)"*1\r\n$4\r\nPING\r\n", 14, CLI, &on_port),
		PROTO_DETECT_NO);
	/* MySQL greeting-like: 3-byte length, sequence 0 */
	assert_int_equal(proto_amqp_ops.detect((const uint8_t *)"\x01\x00\x00\x00\x0a5.7\x00\x00"
								"\x00\x00\x00",
					       12, SRV, &on_port),
			 PROTO_DETECT_NO);
	assert_int_equal(proto_amqp_ops.detect(NULL, 0, CLI, NULL), PROTO_DETECT_NO);
}

static void test_registry_and_args(void **unused)
{
	(void)unused;
	ph_check_registered(&proto_amqp_ops, PROTO_AMQP, "AMQP");
	ph_check_bad_args(&proto_amqp_ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precondition_failed),
		cmocka_unit_test(test_publish_return),
		cmocka_unit_test(test_vhost_refused),
		cmocka_unit_test(test_traceparent),
		cmocka_unit_test(test_consume_deliver),
		cmocka_unit_test(test_channels_interleave),
		cmocka_unit_test(test_large_body_and_gaps),
		cmocka_unit_test(test_large_method_frame),
		cmocka_unit_test(test_closes_and_sw8),
		cmocka_unit_test(test_malformed_and_resync),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_registry_and_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
