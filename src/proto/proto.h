/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L7 parser interface. Every protocol parser (src/proto/<name>.c) exports one
 * constant `struct proto_ops` and nothing else. Parsers are pure: no I/O, no globals,
 * no logging, bounded memory. They are fed one connection's bytes, per direction, in
 * capture order, and report each complete message through an emit callback.
 *
 * What a parser does not do: pair requests with responses (src/agent/session.c does,
 * by order or by the session id a parser reports), decide observation points, or own
 * any buffering beyond its fixed-size state. The caller keeps unconsumed bytes.
 */
#ifndef OB_PROTO_PROTO_H
#define OB_PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Numeric ids follow DeepFlow's l7_protocol values so queries carry over. */
enum proto_id {
	PROTO_UNKNOWN = 0,
	PROTO_OTHER = 1,
	PROTO_HTTP1 = 20,
	PROTO_HTTP2 = 21,
	PROTO_DUBBO = 40,
	PROTO_GRPC = 41,
	PROTO_MYSQL = 60,
	PROTO_POSTGRESQL = 61,
	PROTO_REDIS = 80,
	PROTO_MONGODB = 81,
	PROTO_MEMCACHED = 82,
	PROTO_KAFKA = 100,
	PROTO_MQTT = 101,
	PROTO_AMQP = 102,
	PROTO_NATS = 104,
	PROTO_DNS = 120,
	PROTO_TLS = 121,
	PROTO_ID_MAX = 256,
};

/* Direction as the local process sees it: its writes are egress, its reads ingress. */
enum proto_dir {
	PROTO_DIR_EGRESS = 0,
	PROTO_DIR_INGRESS = 1,
};

/* Which end of the connection the observed side is (the process whose syscalls are seen;
 * for packets, the flow's client). Parsers use it to tell requests from responses where
 * the bytes alone are ambiguous, and fall back to the bytes when it is unknown. */
enum proto_role {
	PROTO_ROLE_UNKNOWN = 0,
	PROTO_ROLE_CLIENT = 1, /* egress bytes are requests */
	PROTO_ROLE_SERVER = 2, /* egress bytes are responses */
};

/* Options (proto_ctx.opts). By default values that may be secrets or personal data are
 * not stored: SQL literals become '?', Redis values and AUTH arguments are dropped. */
#define PROTO_OPT_KEEP_VALUES (1u << 0) /* keep SQL literals, Redis values, auth values */

/* What is known of a connection besides its bytes. Ports are hints: detection must work
 * on unusual ports, but a parser may accept weaker evidence on its well-known port. */
struct proto_ctx {
	uint8_t l4_proto;     /* 6 TCP, 17 UDP: on UDP every input is exactly one datagram */
	uint8_t role;	      /* enum proto_role */
	uint16_t server_port; /* 0 when unknown */
	uint32_t opts;	      /* PROTO_OPT_* */
};

enum proto_msg_kind {
	PROTO_MSG_REQUEST = 0,
	PROTO_MSG_RESPONSE = 1,
};

enum proto_detect {
	PROTO_DETECT_NO = 0,
	PROTO_DETECT_MAYBE = 1,
	PROTO_DETECT_YES = 2,
};

/* response_status values (DESIGN §4). */
enum proto_status {
	PROTO_STATUS_OK = 0,
	PROTO_STATUS_TIMEOUT = 2,
	PROTO_STATUS_SERVER_ERROR = 3,
	PROTO_STATUS_CLIENT_ERROR = 4,
	PROTO_STATUS_UNKNOWN = 5,
	PROTO_STATUS_PARSE_FAILED = 6,
};

/* parse() result: bytes consumed (>= 0), or this error. */
#define PROTO_ERROR (-1)

/* A view into the input; valid only during the parse() call / emit callback. */
struct proto_str {
	const char *ptr;
	uint32_t len;
};

/*
 * One capture event's share of a parse() input. The caller passes, with the bytes, one
 * segment per capture event the bytes came from, so a parser can tell when and at which
 * TCP sequence any byte was seen (proto_input_locate()).
 */
struct proto_seg {
	size_t off;	   /* index in proto_input.data where this event's bytes begin */
	size_t len;	   /* captured bytes of this event present in data */
	uint64_t ts_start; /* ns since the epoch: syscall entry (send) or exit (receive) */
	uint64_t ts_end;   /* ns since the epoch: syscall exit */
	uint32_t tcp_seq;  /* TCP sequence of the event's first byte (0 if not TCP) */
};

#define PROTO_MAX_SEGS 64

struct proto_input {
	enum proto_dir dir;
	const uint8_t
		*data; /* leftover bytes the parser did not consume last time, then new ones */
	size_t len;
	uint64_t stream_off; /* offset of data[0] in this direction's byte stream (gaps count) */
	const struct proto_seg *segs; /* in order, covering data[0..len) exactly */
	size_t nsegs;
	/*
	 * Bytes that followed data[len-1] on the wire but were not captured (a syscall larger
	 * than the capture size). When gap > 0 the parser must consume all of data: a message
	 * body absorbs the gap; a header block cut by it is reported as truncated. The one
	 * exception is a protocol switch (proto_msg.next_proto): the rest is the next
	 * protocol's.
	 */
	uint64_t gap;
	/* Index in data where the newest event's bytes begin (== segs[nsegs-1].off). A message
	 * boundary is most likely there, which matters when resynchronising. */
	size_t event_start;
	const struct proto_ctx *ctx; /* NULL: nothing known (unknown role, no options) */
};

#define PROTO_MSG_F_TRUNCATED	(1u << 0) /* header block incomplete (capture limit or gap) */
#define PROTO_MSG_F_CONN_CLOSE	(1u << 1) /* "Connection: close" */
#define PROTO_MSG_F_LEN_GUESSED (1u << 2) /* length not framed; ended at a boundary or close */
/* A request that gets no response by design (MQTT QoS 0 PUBLISH, Kafka acks=0, NATS PUB,
 * Memcached noreply): it leaves at once as a lone request with status ok, instead of
 * waiting for a response that would be paired with it by order. */
#define PROTO_MSG_F_NO_RESPONSE (1u << 3)
/* A message from the server that answers no request (Redis pub/sub push, MQTT PUBLISH to
 * a subscriber, NATS MSG): it leaves at once as a lone response and takes no request. */
#define PROTO_MSG_F_UNSOLICITED (1u << 4)

/* One complete message. Strings not present have len 0. */
struct proto_msg {
	enum proto_msg_kind kind;
	enum proto_dir dir;
	uint32_t flags;		  /* PROTO_MSG_F_* */
	uint64_t start_ts;	  /* ns since the epoch: when its first byte was seen */
	uint64_t end_ts;	  /* ns since the epoch: when its last byte was seen */
	uint32_t tcp_seq;	  /* TCP sequence of its first byte */
	uint64_t length;	  /* whole message size on the wire, uncaptured bytes included */
	struct proto_str version; /* "1.1" */
	/* requests */
	struct proto_str method;   /* request_type */
	struct proto_str domain;   /* request_domain: Host */
	struct proto_str resource; /* request_resource: path and query */
	struct proto_str endpoint; /* endpoint: path without query */
	/* responses */
	int32_t code;		    /* response_code, -1 when none */
	uint8_t status;		    /* enum proto_status, for responses */
	struct proto_str exception; /* response_exception: reason phrase when status != ok */
	struct proto_str result;    /* response_result: DNS answers, a Redis reply, ... */
	bool has_affected_rows;	    /* sql_affected_rows is set (SQL responses) */
	uint64_t affected_rows;
	/* request_id as users see it (DNS transaction id, HTTP/2 stream id, Kafka correlation
	 * id, Dubbo request id, MySQL statement id); independent of pairing */
	bool has_request_id;
	uint32_t request_id;
	/* correlation */
	struct proto_str x_request_id;	 /* X-Request-ID of this message */
	struct proto_str trace_id;	 /* from W3C traceparent */
	struct proto_str span_id;	 /* from W3C traceparent */
	struct proto_str parent_span_id; /* where the protocol carries the caller's span */
	bool has_session_id;		 /* pairing by id instead of by order */
	uint32_t session_id;
	/* enum proto_id this message is, when not the connection's parser's (gRPC streams on
	 * an HTTP/2 connection); 0: the parser's */
	uint16_t proto_override;
	/*
	 * enum proto_id the connection speaks from the byte after this message on (an HTTP/1.1
	 * "101 Switching Protocols" to "Upgrade: h2c"); 0: no switch. Such a message is no
	 * record of its own. The parse() call that emits it emits nothing after it and returns
	 * the offset just past it, even when a gap follows; the caller hands the rest of that
	 * input, and every later byte of both directions, to the parser of next_proto, whose
	 * byte streams start there (stream_off 0).
	 */
	uint16_t next_proto;
};

typedef void (*proto_emit_fn)(void *ctx, const struct proto_msg *msg);

struct proto_stats {
	uint64_t messages;
	uint64_t parse_errors;
	uint64_t truncated;
	uint64_t resyncs;
};

struct proto_ops {
	const char *name; /* "HTTP": the l7_protocol name users see */
	enum proto_id id;
	size_t state_size; /* per connection (both directions); zero-filled by the caller */
	/* Is this the start of a message of this protocol? Pure and cheap. */
	enum proto_detect (*detect)(const uint8_t *data, size_t len, enum proto_dir dir,
				    const struct proto_ctx *ctx); /* ctx may be NULL */
	/*
	 * Feed bytes. Returns the number consumed from the front of in->data (the caller
	 * keeps the rest and presents it again, followed by new bytes), or PROTO_ERROR, after
	 * which the parser has reset that direction and the caller drops its leftovers for
	 * it. Counts into *stats.
	 */
	int (*parse)(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		     struct proto_stats *stats);
	/* The connection closed: finish messages whose end is the close. */
	void (*on_close)(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			 struct proto_stats *stats);
	/*
	 * The caller could not keep bytes it was asked to present again (its memory budget
	 * ran out): forget that direction's partial message and resynchronise at the next
	 * message start. NULL if the parser needs nothing done.
	 */
	void (*reset)(void *state, enum proto_dir dir);
	/* Free what the state owns (NULL when the parser allocates nothing). */
	void (*release)(void *state);
};

/*
 * Where byte data[idx] of an input was seen. Returns the segment holding it, or the last
 * segment when idx == len (one past the end). Never NULL for a well-formed input with at
 * least one segment.
 */
const struct proto_seg *proto_input_locate(const struct proto_input *in, size_t idx);

/* TCP sequence of data[idx]. */
uint32_t proto_input_seq_at(const struct proto_input *in, size_t idx);

/* The parser for an id, or NULL. */
const struct proto_ops *proto_by_id(enum proto_id id);

/* Parsers in detection order, NULL-terminated. */
extern const struct proto_ops *const proto_detect_order[];

/* Name for an id ("HTTP"); "" for unknown. */
const char *proto_name(enum proto_id id);

extern const struct proto_ops proto_http1_ops;
extern const struct proto_ops proto_kafka_ops;
extern const struct proto_ops proto_http2_ops; /* HTTP/2 and gRPC */
extern const struct proto_ops proto_dns_ops;
extern const struct proto_ops proto_redis_ops;
extern const struct proto_ops proto_mysql_ops;
extern const struct proto_ops proto_postgresql_ops;
extern const struct proto_ops proto_amqp_ops;
extern const struct proto_ops proto_mongodb_ops;
extern const struct proto_ops proto_dubbo_ops;
extern const struct proto_ops proto_mqtt_ops;
extern const struct proto_ops proto_nats_ops;
extern const struct proto_ops proto_memcached_ops;

/*
 * HTTP/1 header block cap. A header block (or a chunk trailer block) longer than this is a
 * parse error, so the HTTP/1 parser never leaves this many bytes unconsumed: a caller's
 * per-direction leftover buffer of this size is enough for it.
 */
#define PROTO_HTTP1_MAX_HDR (16 * 1024)

#endif
