/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trace context carried in message headers, shared by the parsers that read it (HTTP/1,
 * HTTP/2, Kafka, AMQP, Dubbo): the W3C traceparent layout and checks, and SkyWalking
 * sw8 with its base64 ids. The parsers differ in how strictly they accept a header, so
 * the checks come as pieces each parser combines as it always did; where ids are copied
 * to stays the parser's business. Pure functions, no state.
 */
#ifndef OB_PROTO_TRACE_CTX_H
#define OB_PROTO_TRACE_CTX_H

#include <stdbool.h>
#include <stddef.h>

/* traceparent: <2 hex version>-<32 hex trace id>-<16 hex parent id>-<2 hex flags> */
#define TRACE_CTX_TP_LEN       55
#define TRACE_CTX_TP_TRACE_OFF 3
#define TRACE_CTX_TP_TRACE_LEN 32
#define TRACE_CTX_TP_SPAN_OFF  36
#define TRACE_CTX_TP_SPAN_LEN  16

/* At least TRACE_CTX_TP_LEN bytes with the three dashes where the layout puts them. */
bool trace_ctx_tp_shape(const char *v, size_t n);

/* The trace id and parent id of a shaped traceparent are lower-case hex, neither all
 * zeros. */
bool trace_ctx_tp_ids_hex(const char *v);

/* A traceparent as W3C trace-context level 1 defines it: shape, ids, a known version
 * (not ff; exactly 55 bytes for 00, a dash after them for later ones) and hex flags. */
bool trace_ctx_traceparent_ok(const char *v, size_t n);

/*
 * Base64 (standard or URL alphabet, trailing '=' optional) decoded into out, which must
 * then hold printable ASCII only. False when s is not that, decodes to nothing, or needs
 * more than cap bytes; *olen is set only on success.
 */
bool trace_ctx_b64_text(const char *s, size_t n, char *out, size_t cap, size_t *olen);

/* sw8: sample-traceId-segmentId-spanId-service-instance-endpoint-peer. */
struct trace_ctx_sw8 {
	const char *f[4]; /* sample flag, trace id, segment id, span id (the first four) */
	size_t len[4];
};

/* Split off the first four '-'-separated fields; false when there are fewer. */
bool trace_ctx_sw8_split(const char *v, size_t n, struct trace_ctx_sw8 *s);

/* Room a span id needs after its decoded segment id: '-' and up to 10 digits. */
#define TRACE_CTX_SW8_SPAN_TAIL 11

/*
 * A well-formed sw8 (sample flag 0 or 1, a span id of 1 to 10 digits, ids that decode to
 * printable text) into trace = the decoded trace id and span = the decoded segment id,
 * '-', the span id. span_cap counts the TRACE_CTX_SW8_SPAN_TAIL bytes. False if not
 * well formed; trace and span may then have been written to, and *trace_len is set to 0
 * when trace was (a parser that already held a trace id there loses it, as it always did).
 */
bool trace_ctx_sw8(const char *v, size_t n, char *trace, size_t trace_cap, size_t *trace_len,
		   char *span, size_t span_cap, size_t *span_len);

#endif
