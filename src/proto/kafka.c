/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kafka wire protocol parser.
 *
 * Every message is a big-endian int32 size followed by that many bytes. A request starts
 * with its header (api_key int16, api_version int16, correlation_id int32, client_id
 * nullable string; header v2, used by "flexible" versions, adds tagged fields); a response
 * starts with the correlation id only (header v1 adds tagged fields), so the parser
 * remembers each pending request's api key and version by correlation id, in a small
 * table, to read its response.
 *
 * Only the head of a message is parsed (at most KF_HEAD bytes): the api key and version,
 * the topic, partition and offset of Produce / Fetch, the trace context from the first
 * record's headers, and the error code of responses. The rest is skipped by count, so
 * record batches of any size cost no memory.
 *
 * Messages pair by correlation id (session_id), which is also the request_id and the
 * x_request_id of both sides, as DeepFlow does.
 */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/proto_util.h"
#include "proto/trace_ctx.h"

#define KF_HEAD	     4096		  /* bytes of a message parsed; the rest is skipped */
#define KF_MAX_SIZE  (256u * 1024 * 1024) /* larger sizes are not Kafka */
#define KF_PENDING   16			  /* outstanding requests remembered */
#define KF_TOPIC_MAX 128
#define KF_MAX_KEY   68

enum { KF_K_ANY = 0, KF_K_REQ = 1, KF_K_RESP = 2 };
enum { KF_PH_HEAD = 0, KF_PH_SKIP = 1, KF_PH_RESYNC = 2 };

/* Api key names, as Kafka (and DeepFlow) spell them. */
static const char *const kf_names[KF_MAX_KEY + 1] = {
	"Produce",
	"Fetch",
	"ListOffsets",
	"Metadata",
	"LeaderAndIsr",
	"StopReplica",
	"UpdateMetadata",
	"ControlledShutdown",
	"OffsetCommit",
	"OffsetFetch",
	"FindCoordinator",
	"JoinGroup",
	"Heartbeat",
	"LeaveGroup",
	"SyncGroup",
	"DescribeGroups",
	"ListGroups",
	"SaslHandshake",
	"ApiVersions",
	"CreateTopics",
	"DeleteTopics",
	"DeleteRecords",
	"InitProducerId",
	"OffsetForLeaderEpoch",
	"AddPartitionsToTxn",
	"AddOffsetsToTxn",
	"EndTxn",
	"WriteTxnMarkers",
	"TxnOffsetCommit",
	"DescribeAcls",
	"CreateAcls",
	"DeleteAcls",
	"DescribeConfigs",
	"AlterConfigs",
	"AlterReplicaLogDirs",
	"DescribeLogDirs",
	"SaslAuthenticate",
	"CreatePartitions",
	"CreateDelegationToken",
	"RenewDelegationToken",
	"ExpireDelegationToken",
	"DescribeDelegationToken",
	"DeleteGroups",
	"ElectLeaders",
	"IncrementalAlterConfigs",
	"AlterPartitionReassignments",
	"ListPartitionReassignments",
	"OffsetDelete",
	"DescribeClientQuotas",
	"AlterClientQuotas",
	"DescribeUserScramCredentials",
	"AlterUserScramCredentials",
	"Vote",
	"BeginQuorumEpoch",
	"EndQuorumEpoch",
	"DescribeQuorum",
	"AlterPartition",
	"UpdateFeatures",
	"Envelope",
	"FetchSnapshot",
	"DescribeCluster",
	"DescribeProducers",
	"BrokerRegistration",
	"BrokerHeartbeat",
	"UnregisterBroker",
	"DescribeTransactions",
	"ListTransactions",
	"AllocateProducerIds",
	"ConsumerGroupHeartbeat",
};

/* First flexible version per api key (request header v2, response header v1); 255: none. */
static const uint8_t kf_flex[KF_MAX_KEY + 1] = {
	9, 12,	6, 9, 4, 2, 6, 3, 8, 6, 3, 6, 4, 4, 4, 5, 3, 255, 3, 5, 4, 2, 2,
	4, 3,	3, 3, 1, 3, 2, 2, 2, 4, 2, 2, 2, 2, 2, 2, 2, 2,	  2, 2, 2, 1, 0,
	0, 255, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,	  0, 0, 0, 0, 0,
};

/* Highest api version accepted per key (a little above what Kafka 3.x speaks). */
#define KF_MAX_VERSION 20

/* Error code names (Kafka's Errors enum), from -1 (UNKNOWN_SERVER_ERROR). */
static const char *const kf_errors[] = {
	"UNKNOWN_SERVER_ERROR",
	"NONE",
	"OFFSET_OUT_OF_RANGE",
	"CORRUPT_MESSAGE",
	"UNKNOWN_TOPIC_OR_PARTITION",
	"INVALID_FETCH_SIZE",
	"LEADER_NOT_AVAILABLE",
	"NOT_LEADER_OR_FOLLOWER",
	"REQUEST_TIMED_OUT",
	"BROKER_NOT_AVAILABLE",
	"REPLICA_NOT_AVAILABLE",
	"MESSAGE_TOO_LARGE",
	"STALE_CONTROLLER_EPOCH",
	"OFFSET_METADATA_TOO_LARGE",
	"NETWORK_EXCEPTION",
	"COORDINATOR_LOAD_IN_PROGRESS",
	"COORDINATOR_NOT_AVAILABLE",
	"NOT_COORDINATOR",
	"INVALID_TOPIC_EXCEPTION",
	"RECORD_LIST_TOO_LARGE",
	"NOT_ENOUGH_REPLICAS",
	"NOT_ENOUGH_REPLICAS_AFTER_APPEND",
	"INVALID_REQUIRED_ACKS",
	"ILLEGAL_GENERATION",
	"INCONSISTENT_GROUP_PROTOCOL",
	"INVALID_GROUP_ID",
	"UNKNOWN_MEMBER_ID",
	"INVALID_SESSION_TIMEOUT",
	"REBALANCE_IN_PROGRESS",
	"INVALID_COMMIT_OFFSET_SIZE",
	"TOPIC_AUTHORIZATION_FAILED",
	"GROUP_AUTHORIZATION_FAILED",
	"CLUSTER_AUTHORIZATION_FAILED",
	"INVALID_TIMESTAMP",
	"UNSUPPORTED_SASL_MECHANISM",
	"ILLEGAL_SASL_STATE",
	"UNSUPPORTED_VERSION",
	"TOPIC_ALREADY_EXISTS",
	"INVALID_PARTITIONS",
	"INVALID_REPLICATION_FACTOR",
	"INVALID_REPLICA_ASSIGNMENT",
	"INVALID_CONFIG",
	"NOT_CONTROLLER",
	"INVALID_REQUEST",
	"UNSUPPORTED_FOR_MESSAGE_FORMAT",
	"POLICY_VIOLATION",
	"OUT_OF_ORDER_SEQUENCE_NUMBER",
	"DUPLICATE_SEQUENCE_NUMBER",
	"INVALID_PRODUCER_EPOCH",
	"INVALID_TXN_STATE",
	"INVALID_PRODUCER_ID_MAPPING",
	"INVALID_TRANSACTION_TIMEOUT",
	"CONCURRENT_TRANSACTIONS",
	"TRANSACTION_COORDINATOR_FENCED",
	"TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
	"SECURITY_DISABLED",
	"OPERATION_NOT_ATTEMPTED",
	"KAFKA_STORAGE_ERROR",
	"LOG_DIR_NOT_FOUND",
	"SASL_AUTHENTICATION_FAILED",
	"UNKNOWN_PRODUCER_ID",
	"REASSIGNMENT_IN_PROGRESS",
	"DELEGATION_TOKEN_AUTH_DISABLED",
	"DELEGATION_TOKEN_NOT_FOUND",
	"DELEGATION_TOKEN_OWNER_MISMATCH",
	"DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
	"DELEGATION_TOKEN_AUTHORIZATION_FAILED",
	"DELEGATION_TOKEN_EXPIRED",
	"INVALID_PRINCIPAL_TYPE",
	"NON_EMPTY_GROUP",
	"GROUP_ID_NOT_FOUND",
	"FETCH_SESSION_ID_NOT_FOUND",
	"INVALID_FETCH_SESSION_EPOCH",
	"LISTENER_NOT_FOUND",
	"TOPIC_DELETION_DISABLED",
	"FENCED_LEADER_EPOCH",
	"UNKNOWN_LEADER_EPOCH",
	"UNSUPPORTED_COMPRESSION_TYPE",
	"STALE_BROKER_EPOCH",
	"OFFSET_NOT_AVAILABLE",
	"MEMBER_ID_REQUIRED",
	"PREFERRED_LEADER_NOT_AVAILABLE",
	"GROUP_MAX_SIZE_REACHED",
	"FENCED_INSTANCE_ID",
	"ELIGIBLE_LEADERS_NOT_AVAILABLE",
	"ELECTION_NOT_NEEDED",
	"NO_REASSIGNMENT_IN_PROGRESS",
	"GROUP_SUBSCRIBED_TO_TOPIC",
	"INVALID_RECORD",
	"UNSTABLE_OFFSET_COMMIT",
	"THROTTLING_QUOTA_EXCEEDED",
	"PRODUCER_FENCED",
	"RESOURCE_NOT_FOUND",
	"DUPLICATE_RESOURCE",
	"UNACCEPTABLE_CREDENTIAL",
	"INCONSISTENT_VOTER_SET",
	"INVALID_UPDATE_VERSION",
	"FEATURE_UPDATE_FAILED",
	"PRINCIPAL_DESERIALIZATION_FAILURE",
	"SNAPSHOT_NOT_FOUND",
	"POSITION_OUT_OF_RANGE",
	"UNKNOWN_TOPIC_ID",
	"DUPLICATE_BROKER_REGISTRATION",
	"BROKER_ID_NOT_REGISTERED",
	"INCONSISTENT_TOPIC_ID",
	"INCONSISTENT_CLUSTER_ID",
	"TRANSACTIONAL_ID_NOT_FOUND",
	"FETCH_SESSION_TOPIC_ID_ERROR",
	"INELIGIBLE_REPLICA",
	"NEW_LEADER_ELECTED",
};

/* The message being read in one direction; strings live in its own buffers. */
struct kf_msg {
	uint8_t kind; /* KF_K_REQ / KF_K_RESP */
	uint8_t has_api;
	uint8_t api_key;
	uint8_t api_version;
	uint32_t flags;
	uint32_t corr;
	int32_t code;
	uint8_t status;
	uint64_t start_ts, end_ts;
	uint32_t tcp_seq;
	uint64_t length;
	uint8_t topic_len, res_len, ep_len, trace_len, span_len, ver_len, xrid_len;
	char topic[KF_TOPIC_MAX];
	char res[KF_TOPIC_MAX + 32];
	char ep[KF_TOPIC_MAX + 16];
	char trace[64];
	char span[96];
	char ver[4];
	char xrid[12];
};

struct kf_dir {
	uint8_t phase;
	uint8_t active; /* msg holds a message whose end is not yet seen */
	uint64_t remaining;
	struct kf_msg msg;
};

struct kf_pending {
	uint32_t corr;
	uint8_t used, api_key, api_version;
};

struct kf_conn {
	uint8_t req_dir; /* 0 unknown, 1 + the direction carrying requests */
	uint8_t pend_next;
	struct kf_pending pend[KF_PENDING];
	struct kf_dir dir[2];
};

/* ---- a bounded reader ------------------------------------------------------------ */

struct rd {
	const uint8_t *p;
	size_t n, i;
	bool bad;
};

static bool rd_need(struct rd *r, size_t k)
{
	if (r->bad || r->n - r->i < k) {
		r->bad = true;
		return false;
	}
	return true;
}

static uint32_t rd_u(struct rd *r, size_t k)
{
	uint32_t v = 0;

	if (!rd_need(r, k))
		return 0;
	for (size_t j = 0; j < k; j++)
		v = v << 8 | r->p[r->i + j];
	r->i += k;
	return v;
}

static int16_t rd_i16(struct rd *r)
{
	return (int16_t)rd_u(r, 2);
}

static int32_t rd_i32(struct rd *r)
{
	return (int32_t)rd_u(r, 4);
}

static int64_t rd_i64(struct rd *r)
{
	uint64_t hi = rd_u(r, 4);

	return (int64_t)(hi << 32 | rd_u(r, 4));
}

static void rd_skip(struct rd *r, uint64_t k)
{
	if (r->bad || r->n - r->i < k) {
		r->bad = true;
		return;
	}
	r->i += (size_t)k;
}

static uint64_t rd_uvarint(struct rd *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (!rd_need(r, 1))
			return 0;
		b = r->p[r->i++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

/* Zigzag varint (record fields). */
static int64_t rd_varint(struct rd *r)
{
	uint64_t u = rd_uvarint(r);

	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* A string: int16 length (-1 null) or, flexible, uvarint length + 1 (0 null). */
static bool rd_str(struct rd *r, bool flex, const uint8_t **s, size_t *len)
{
	int64_t n;

	*s = NULL;
	*len = 0;
	if (flex) {
		uint64_t u = rd_uvarint(r);

		if (r->bad || u > INT32_MAX)
			return (r->bad = true, false);
		n = (int64_t)u - 1;
	} else {
		n = rd_i16(r);
		if (r->bad)
			return false;
	}
	if (n < 0)
		return n == -1;
	if (!rd_need(r, (size_t)n))
		return false;
	*s = r->p + r->i;
	*len = (size_t)n;
	r->i += (size_t)n;
	return true;
}

/* An array count (-1 / null as 0). */
static int64_t rd_array(struct rd *r, bool flex)
{
	int64_t n;

	if (flex) {
		uint64_t u = rd_uvarint(r);

		if (u > INT32_MAX)
			r->bad = true;
		n = (int64_t)u - 1;
	} else {
		n = rd_i32(r);
	}
	if (r->bad)
		return 0;
	return n < 0 ? 0 : n;
}

static void rd_tags(struct rd *r)
{
	uint64_t n = rd_uvarint(r);

	for (uint64_t k = 0; k < n && !r->bad; k++) {
		rd_uvarint(r);
		rd_skip(r, rd_uvarint(r));
	}
}

/* ---- helpers -------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool is_flex(uint8_t key, uint8_t ver)
{
	return key <= KF_MAX_KEY && ver >= kf_flex[key];
}

static bool printable(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

static uint8_t put(char *dst, size_t cap, const char *fmt, const void *a, size_t alen,
		   long long num)
{
	int n;

	if (a)
		n = snprintf(dst, cap, fmt, (int)alen, (const char *)a, num);
	else
		n = snprintf(dst, cap, fmt, num);
	if (n < 0)
		return 0;
	return (uint8_t)((size_t)n >= cap ? cap - 1 : (size_t)n);
}

/*
 * Is there a plausible request header at p (n bytes available)? 1 yes, 0 no, -1 need
 * more bytes. Checks the size, the api key and version, and the client id string.
 */
static int plausible_request(const uint8_t *p, size_t n)
{
	uint32_t size;
	uint16_t key, ver;
	int16_t cl;

	if (n < 4)
		return -1;
	size = be32(p);
	if (size < 8 || size > KF_MAX_SIZE)
		return 0;
	if (n < 6)
		return -1;
	key = (uint16_t)(p[4] << 8 | p[5]);
	if (key > KF_MAX_KEY)
		return 0;
	if (n < 8)
		return -1;
	ver = (uint16_t)(p[6] << 8 | p[7]);
	if (ver > KF_MAX_VERSION)
		return 0;
	if (key == 7 && ver == 0) /* ControlledShutdown v0: header v0, no client id */
		return 1;
	if (size < 10)
		return 0;
	if (n < 14)
		return -1;
	cl = (int16_t)(p[12] << 8 | p[13]);
	if (cl < -1 || (cl > 0 && (uint32_t)cl > size - 10))
		return 0;
	if (cl > 0) {
		/* The first 64 bytes of the client id, whatever is seen beyond them, so the
		 * answer does not depend on how much has arrived. */
		size_t chk = cl < 64 ? (size_t)cl : 64;
		size_t have = n - 14 < chk ? n - 14 : chk;

		if (!printable(p + 14, have))
			return 0;
		if (have < chk)
			return -1;
	}
	return 1;
}

static struct kf_pending *pend_find(struct kf_conn *c, uint32_t corr)
{
	for (int i = 0; i < KF_PENDING; i++)
		if (c->pend[i].used && c->pend[i].corr == corr)
			return &c->pend[i];
	return NULL;
}

static void pend_add(struct kf_conn *c, uint32_t corr, uint8_t key, uint8_t ver)
{
	struct kf_pending *p = pend_find(c, corr);

	if (!p) {
		p = &c->pend[c->pend_next];
		c->pend_next = (uint8_t)((c->pend_next + 1) % KF_PENDING);
	}
	p->used = 1;
	p->corr = corr;
	p->api_key = key;
	p->api_version = ver;
}

/* ---- trace context from record headers ------------------------------------------- */

/* Kafka's reading of base64 ends at the first '=', whatever follows it. */
static size_t b64dec(const uint8_t *s, size_t n, char *out, size_t cap)
{
	const uint8_t *pad = memchr(s, '=', n);
	size_t k;

	if (pad)
		n = (size_t)(pad - s);
	return trace_ctx_b64_text((const char *)s, n, out, cap, &k) ? k : 0;
}

static void trace_from(struct kf_msg *m, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn)
{
	if (m->trace_len)
		return;
	if (kn == 11 && memcmp(k, "traceparent", 11) == 0) {
		/* 00-<32 hex trace>-<16 hex span>-<2 hex flags>, taken if printable */
		if (!trace_ctx_tp_shape((const char *)v, vn) || !printable(v, TRACE_CTX_TP_LEN))
			return;
		memcpy(m->trace, v + TRACE_CTX_TP_TRACE_OFF, TRACE_CTX_TP_TRACE_LEN);
		m->trace_len = TRACE_CTX_TP_TRACE_LEN;
		memcpy(m->span, v + TRACE_CTX_TP_SPAN_OFF, TRACE_CTX_TP_SPAN_LEN);
		m->span_len = TRACE_CTX_TP_SPAN_LEN;
	} else if (kn == 3 && memcmp(k, "sw8", 3) == 0) {
		/* sample-traceId-segmentId-spanId-...: ids base64; span = segment-spanId */
		struct trace_ctx_sw8 f;
		size_t a, b;

		if (!trace_ctx_sw8_split((const char *)v, vn, &f))
			return;
		a = b64dec((const uint8_t *)f.f[1], f.len[1], m->trace, sizeof(m->trace));
		b = b64dec((const uint8_t *)f.f[2], f.len[2], m->span, sizeof(m->span) - 12);
		if (!a || !b || f.len[3] > 10 || !printable((const uint8_t *)f.f[3], f.len[3]))
			return;
		m->span[b++] = '-';
		memcpy(m->span + b, f.f[3], f.len[3]);
		m->trace_len = (uint8_t)a;
		m->span_len = (uint8_t)(b + f.len[3]);
	}
}

/* The first record of a v2 record batch: its headers may carry the trace context. */
static void parse_batch(struct kf_msg *m, const uint8_t *p, size_t n)
{
	struct rd r = { p, n, 0, false };
	int64_t hcount;
	uint16_t attrs;

	rd_skip(&r, 8 + 4 + 4); /* base offset, batch length, leader epoch */
	if (!rd_need(&r, 1) || p[r.i] != 2)
		return; /* only magic 2 batches have headers */
	rd_skip(&r, 1 + 4);
	attrs = (uint16_t)rd_i16(&r);
	if (r.bad || (attrs & 7)) /* compressed records are not read */
		return;
	rd_skip(&r, 4 + 8 + 8 + 8 + 2 + 4);
	if (rd_i32(&r) <= 0)
		return;
	rd_varint(&r); /* record length */
	rd_skip(&r, 1);
	rd_varint(&r);		      /* timestamp delta */
	rd_varint(&r);		      /* offset delta */
	for (int i = 0; i < 2; i++) { /* key, value */
		int64_t l = rd_varint(&r);

		if (l > 0)
			rd_skip(&r, (uint64_t)l);
	}
	hcount = rd_varint(&r);
	for (int64_t h = 0; h < hcount && h < 64 && !r.bad; h++) {
		int64_t kl = rd_varint(&r), vl;
		const uint8_t *k, *v;

		if (kl < 0 || !rd_need(&r, (size_t)kl))
			return;
		k = p + r.i;
		r.i += (size_t)kl;
		vl = rd_varint(&r);
		if (vl < 0) {
			continue;
		}
		if (!rd_need(&r, (size_t)vl))
			return;
		v = p + r.i;
		r.i += (size_t)vl;
		trace_from(m, k, (size_t)kl, v, (size_t)vl);
	}
}

static void set_topic(struct kf_msg *m, const uint8_t *t, size_t tn)
{
	if (!t || !tn || !printable(t, tn))
		return;
	if (tn > KF_TOPIC_MAX - 1)
		tn = KF_TOPIC_MAX - 1;
	memcpy(m->topic, t, tn);
	m->topic_len = (uint8_t)tn;
}

static void set_partition(struct kf_msg *m, int32_t part, bool has_off, int64_t off)
{
	if (!m->topic_len)
		return;
	m->ep_len = put(m->ep, sizeof(m->ep), "%.*s-%lld", m->topic, m->topic_len, part);
	if (has_off)
		m->res_len = (uint8_t)snprintf(m->res, sizeof(m->res), "%.*s:%lld", (int)m->ep_len,
					       m->ep, (long long)off);
	else
		m->res_len =
			(uint8_t)snprintf(m->res, sizeof(m->res), "%.*s", (int)m->ep_len, m->ep);
}

static void parse_produce(struct kf_msg *m, struct rd *r, bool flex)
{
	const uint8_t *s;
	size_t sn;
	int16_t acks;
	int64_t nt, np;
	int32_t part;
	uint64_t blen;

	if (m->api_version >= 3)
		rd_str(r, flex, &s, &sn); /* transactional id */
	acks = rd_i16(r);
	rd_skip(r, 4);
	if (r->bad)
		return;
	if (acks == 0)
		m->flags |= PROTO_MSG_F_NO_RESPONSE;
	nt = rd_array(r, flex);
	if (nt < 1 || !rd_str(r, flex, &s, &sn))
		return;
	set_topic(m, s, sn);
	np = rd_array(r, flex);
	if (np < 1)
		return;
	part = rd_i32(r);
	if (r->bad)
		return;
	set_partition(m, part, false, 0);
	if (flex) {
		blen = rd_uvarint(r);
		blen = blen ? blen - 1 : 0;
	} else {
		int32_t l = rd_i32(r);

		blen = l > 0 ? (uint64_t)l : 0;
	}
	if (r->bad || !blen)
		return;
	/* The batch may run past the parsed head: read what is here. */
	parse_batch(m, r->p + r->i, r->n - r->i < blen ? r->n - r->i : (size_t)blen);
}

static void parse_fetch(struct kf_msg *m, struct rd *r, bool flex)
{
	uint8_t v = m->api_version;
	const uint8_t *s;
	size_t sn;
	int32_t part;
	int64_t off;

	if (v < 15)
		rd_skip(r, 4); /* replica id */
	rd_skip(r, 8);	       /* max wait, min bytes */
	if (v >= 3)
		rd_skip(r, 4);
	if (v >= 4)
		rd_skip(r, 1);
	if (v >= 7)
		rd_skip(r, 8);
	if (r->bad || rd_array(r, flex) < 1)
		return;
	if (v >= 13) {
		rd_skip(r, 16); /* topic id: no name on the wire */
		return;
	}
	if (!rd_str(r, flex, &s, &sn))
		return;
	set_topic(m, s, sn);
	if (rd_array(r, flex) < 1)
		return;
	part = rd_i32(r);
	if (v >= 9)
		rd_skip(r, 4);
	off = rd_i64(r);
	if (!r->bad)
		set_partition(m, part, true, off);
}

/* The request body after the header. */
static void parse_request_body(struct kf_msg *m, struct rd *r, bool flex)
{
	if (m->api_key == 0)
		parse_produce(m, r, flex);
	else if (m->api_key == 1)
		parse_fetch(m, r, flex);
}

/* Offset of error_code in responses that begin with it (after an optional throttle). */
static int simple_error_at(uint8_t key, uint8_t v)
{
	switch (key) {
	case 17: /* SaslHandshake */
	case 18: /* ApiVersions */
	case 36: /* SaslAuthenticate */ return 0;
	case 10: /* FindCoordinator: v4+ has per-key errors */ return v == 0 ? 0 : v < 4 ? 4 : -1;
	case 11: /* JoinGroup */ return v < 2 ? 0 : 4;
	case 12: /* Heartbeat */
	case 13: /* LeaveGroup */
	case 14: /* SyncGroup */
	case 16: /* ListGroups */ return v == 0 ? 0 : 4;
	case 22: /* InitProducerId */
	case 25: /* AddOffsetsToTxn */
	case 26: /* EndTxn */
	case 60: /* DescribeCluster */
	case 68: /* ConsumerGroupHeartbeat */ return 4;
	default: return -1;
	}
}

/* The first partition's error code in topics[] of Produce / Fetch / OffsetCommit. */
static bool first_partition_error(struct rd *r, bool flex, bool topic_id, int16_t *err)
{
	const uint8_t *s;
	size_t sn;

	if (rd_array(r, flex) < 1)
		return false;
	if (topic_id)
		rd_skip(r, 16);
	else
		rd_str(r, flex, &s, &sn);
	if (r->bad || rd_array(r, flex) < 1)
		return false;
	rd_skip(r, 4);
	*err = rd_i16(r);
	return !r->bad;
}

static void parse_response_body(struct kf_msg *m, struct rd *r, bool flex)
{
	uint8_t key = m->api_key, v = m->api_version;
	int at = simple_error_at(key, v);
	int16_t err = 0;
	bool have = false;

	if (at >= 0) {
		rd_skip(r, (size_t)at);
		err = rd_i16(r);
		have = !r->bad;
	} else if (key == 0) { /* Produce */
		have = first_partition_error(r, flex, false, &err);
	} else if (key == 1) { /* Fetch */
		if (v >= 1)
			rd_skip(r, 4);
		if (v >= 7) {
			err = rd_i16(r);
			have = !r->bad;
			rd_skip(r, 4);
		}
		if (!err) {
			int16_t perr = 0;

			if (first_partition_error(r, flex, v >= 13, &perr)) {
				err = perr;
				have = true;
			}
		}
		if (v < 7 && !have && !r->bad)
			have = true; /* no topics: nothing went wrong */
	} else if (key == 8) {	     /* OffsetCommit */
		if (v >= 3)
			rd_skip(r, 4);
		have = first_partition_error(r, flex, false, &err);
	}
	if (!have) {
		m->code = -1;
		m->status = PROTO_STATUS_OK;
		return;
	}
	m->code = err;
	/* DeepFlow reports every non-zero Kafka error code as a server error. */
	m->status = err ? PROTO_STATUS_SERVER_ERROR : PROTO_STATUS_OK;
}

/* ---- the connection ------------------------------------------------------------- */

static void emit_msg(struct kf_dir *d, int dir, proto_emit_fn emit, void *ctx,
		     struct proto_stats *st)
{
	struct kf_msg *m = &d->msg;
	struct proto_msg out;

	memset(&out, 0, sizeof(out));
	out.kind = m->kind == KF_K_REQ ? PROTO_MSG_REQUEST : PROTO_MSG_RESPONSE;
	out.dir = dir ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
	out.flags = m->flags;
	out.start_ts = m->start_ts;
	out.end_ts = m->end_ts;
	out.tcp_seq = m->tcp_seq;
	out.length = m->length;
	out.code = m->kind == KF_K_REQ ? -1 : m->code;
	out.status = m->status;
	if (m->has_api) {
		out.method.ptr = kf_names[m->api_key];
		out.method.len = (uint32_t)strlen(kf_names[m->api_key]);
		out.version.ptr = m->ver;
		out.version.len = m->ver_len;
	}
	if (m->kind == KF_K_RESP && m->code > 0 &&
	    (size_t)m->code + 1 < sizeof(kf_errors) / sizeof(kf_errors[0])) {
		out.exception.ptr = kf_errors[m->code + 1];
		out.exception.len = (uint32_t)strlen(kf_errors[m->code + 1]);
	} else if (m->kind == KF_K_RESP && m->code == -1 && m->status != PROTO_STATUS_OK) {
		out.exception.ptr = kf_errors[0];
		out.exception.len = (uint32_t)strlen(kf_errors[0]);
	}
	out.domain = (struct proto_str){ m->topic, m->topic_len };
	out.resource = (struct proto_str){ m->res, m->res_len };
	out.endpoint = (struct proto_str){ m->ep, m->ep_len };
	out.trace_id = (struct proto_str){ m->trace, m->trace_len };
	out.span_id = (struct proto_str){ m->span, m->span_len };
	out.x_request_id = (struct proto_str){ m->xrid, m->xrid_len };
	out.has_request_id = true;
	out.request_id = m->corr;
	out.has_session_id = true;
	out.session_id = m->corr;
	if (emit)
		emit(ctx, &out);
	st->messages++;
	d->active = 0;
}

static int kind_of(const struct kf_conn *c, int dir)
{
	if (!c->req_dir)
		return KF_K_ANY;
	return c->req_dir == dir + 1 ? KF_K_REQ : KF_K_RESP;
}

/*
 * Parse the head of the message at p: size (n >= 4 bytes available, at most the whole
 * message). Fills d->msg. Returns false when it is not a message of the expected kind.
 */
static bool parse_head(struct kf_conn *c, int dir, const uint8_t *p, size_t n, int kind)
{
	struct kf_msg *m = &c->dir[dir].msg;
	uint32_t size = be32(p);
	struct rd r = { p + 4, n - 4, 0, false };
	const uint8_t *s;
	size_t sn;

	memset(m, 0, offsetof(struct kf_msg, topic));
	m->length = 4 + (uint64_t)size;
	m->code = -1;
	if (kind == KF_K_REQ) {
		uint16_t key = (uint16_t)rd_i16(&r), ver = (uint16_t)rd_i16(&r);
		bool flex;

		m->corr = (uint32_t)rd_i32(&r);
		if (r.bad || key > KF_MAX_KEY || ver > KF_MAX_VERSION)
			return false;
		m->kind = KF_K_REQ;
		m->has_api = 1;
		m->api_key = (uint8_t)key;
		m->api_version = (uint8_t)ver;
		flex = is_flex(m->api_key, m->api_version);
		if (!(key == 7 && ver == 0)) {
			rd_str(&r, false, &s, &sn); /* client id */
			if (r.bad && r.i + 4 < size)
				return false;
			if (flex)
				rd_tags(&r);
		}
		if (!r.bad)
			parse_request_body(m, &r, flex);
		if (!(m->flags & PROTO_MSG_F_NO_RESPONSE))
			pend_add(c, m->corr, m->api_key, m->api_version);
	} else {
		struct kf_pending *pe;

		m->corr = (uint32_t)rd_i32(&r);
		if (r.bad)
			return false;
		m->kind = KF_K_RESP;
		m->status = PROTO_STATUS_OK;
		pe = pend_find(c, m->corr);
		if (pe) {
			bool flex;

			m->has_api = 1;
			m->api_key = pe->api_key;
			m->api_version = pe->api_version;
			pe->used = 0;
			flex = is_flex(m->api_key, m->api_version) && m->api_key != 18;
			if (flex)
				rd_tags(&r);
			/* ApiVersions answers with header v0, but its body is still flexible. */
			parse_response_body(m, &r, is_flex(m->api_key, m->api_version));
		}
	}
	if (m->has_api)
		m->ver_len = put(m->ver, sizeof(m->ver), "%lld", NULL, 0, m->api_version);
	m->xrid_len = put(m->xrid, sizeof(m->xrid), "%lld", NULL, 0, m->corr);
	return true;
}

static void reset_dir(struct kf_dir *d)
{
	d->phase = KF_PH_HEAD;
	d->active = 0;
	d->remaining = 0;
}

static void enter_resync(struct kf_dir *d, struct proto_stats *st)
{
	if (d->phase != KF_PH_RESYNC)
		st->resyncs++;
	d->phase = KF_PH_RESYNC;
	d->active = 0;
	d->remaining = 0;
}

/* Can a message of this direction's kind start at p? 1 yes, 0 no, -1 need more. */
static int plausible_at(struct kf_conn *c, int kind, const uint8_t *p, size_t n)
{
	uint32_t size;

	if (kind != KF_K_RESP)
		return plausible_request(p, n);
	if (n < 8)
		return -1;
	size = be32(p);
	if (size < 4 || size > KF_MAX_SIZE)
		return 0;
	return pend_find(c, be32(p + 4)) ? 1 : 0;
}

static int kafka_parse(void *state, const struct proto_input *in, proto_emit_fn emit, void *ctx,
		       struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct kf_conn *c = state;
	struct kf_dir *d;
	size_t pos = 0, len;
	const uint8_t *data;
	int dir;

	stats = proto_parse_begin(c, in, stats, &scratch);
	if (!stats)
		return PROTO_ERROR;
	dir = in->dir == PROTO_DIR_INGRESS;
	d = &c->dir[dir];
	data = in->data;
	len = in->len;

	for (;;) {
		size_t avail = len - pos, want;
		uint32_t size;
		int kind, pl;

		if (d->phase == KF_PH_SKIP) {
			size_t k = avail < d->remaining ? avail : (size_t)d->remaining;

			if (!k)
				break;
			pos += k;
			d->remaining -= k;
			d->msg.end_ts = proto_ts_end_at(in, pos - 1);
			if (!d->remaining) {
				d->phase = KF_PH_HEAD;
				emit_msg(d, dir, emit, ctx, stats);
			}
			continue;
		}
		kind = kind_of(c, dir);
		if (d->phase == KF_PH_RESYNC) {
			/* Look for the next plausible message start; bytes that may begin one
			 * but are too few to tell are kept for the next call. */
			pl = 0;
			while (pos < len &&
			       (pl = plausible_at(c, kind, data + pos, len - pos)) == 0)
				pos++;
			if (pl <= 0)
				break;
			avail = len - pos;
			d->phase = KF_PH_HEAD;
		}
		if (avail < 4)
			break;
		size = be32(data + pos);
		if (kind == KF_K_ANY) {
			/* The bytes tell a request well (api key, version, client id), better
			 * than a role guessed for a connection joined mid-stream. */
			pl = plausible_request(data + pos, avail);
			if (pl < 0)
				break;
			kind = pl ? KF_K_REQ : KF_K_RESP;
			if (!pl && in->ctx && in->ctx->role != PROTO_ROLE_UNKNOWN &&
			    (in->ctx->role == PROTO_ROLE_CLIENT) == (dir == 0)) {
				/* Not a request where the requests should be: not Kafka. */
				stats->parse_errors++;
				enter_resync(d, stats);
				continue;
			}
			c->req_dir = (uint8_t)((kind == KF_K_REQ ? dir : !dir) + 1);
		}
		if (size < (kind == KF_K_REQ ? 8u : 4u) || size > KF_MAX_SIZE) {
			stats->parse_errors++;
			enter_resync(d, stats);
			continue;
		}
		want = (uint64_t)size + 4 < KF_HEAD ? (size_t)size + 4 : KF_HEAD;
		if (avail < want)
			break;
		if (!parse_head(c, dir, data + pos, want, kind)) {
			stats->parse_errors++;
			enter_resync(d, stats);
			continue;
		}
		d->msg.start_ts = proto_ts_start_at(in, pos);
		d->msg.tcp_seq = proto_input_seq_at(in, pos);
		d->msg.end_ts = proto_ts_end_at(in, pos + want - 1);
		d->active = 1;
		d->remaining = (uint64_t)size + 4 - want;
		pos += want;
		if (d->remaining)
			d->phase = KF_PH_SKIP;
		else
			emit_msg(d, dir, emit, ctx, stats);
	}
	if (in->gap) {
		size_t avail = len - pos;

		if (d->phase == KF_PH_SKIP) {
			/* The message's tail is in the gap, or the gap holds its end and more. */
			if (in->gap < d->remaining) {
				d->remaining -= in->gap;
			} else {
				uint64_t over = in->gap - d->remaining;

				d->remaining = 0;
				d->phase = KF_PH_HEAD;
				emit_msg(d, dir, emit, ctx, stats);
				if (over)
					enter_resync(d, stats);
			}
		} else if (d->phase == KF_PH_HEAD && avail >= 8) {
			/* A head cut by the gap: report what it says, skip the rest. */
			uint32_t size = be32(data + pos);
			int kind = kind_of(c, dir);

			if (kind != KF_K_ANY && size <= KF_MAX_SIZE &&
			    (uint64_t)size + 4 >= avail &&
			    parse_head(c, dir, data + pos, avail, kind)) {
				uint64_t rest = (uint64_t)size + 4 - avail;

				d->msg.flags |= PROTO_MSG_F_TRUNCATED;
				d->msg.start_ts = proto_ts_start_at(in, pos);
				d->msg.tcp_seq = proto_input_seq_at(in, pos);
				d->msg.end_ts = proto_ts_end_at(in, len);
				d->active = 1;
				stats->truncated++;
				if (in->gap < rest) {
					d->remaining = rest - in->gap;
					d->phase = KF_PH_SKIP;
				} else {
					emit_msg(d, dir, emit, ctx, stats);
					if (in->gap > rest)
						enter_resync(d, stats);
				}
			} else {
				stats->truncated++;
				enter_resync(d, stats);
			}
		} else {
			if (avail && d->phase == KF_PH_HEAD)
				stats->truncated++;
			enter_resync(d, stats);
		}
		return (int)len;
	}
	return (int)pos;
}

static void kafka_on_close(void *state, uint64_t ts, proto_emit_fn emit, void *ctx,
			   struct proto_stats *stats)
{
	struct proto_stats scratch;
	struct kf_conn *c = state;
	int first;

	if (!c)
		return;
	stats = proto_stats_or_scratch(stats, &scratch);
	first = c->dir[1].msg.start_ts < c->dir[0].msg.start_ts;
	for (int k = 0; k < 2; k++) {
		int i = k ? !first : first;
		struct kf_dir *d = &c->dir[i];

		if (d->active) {
			/* Its announced size was not all seen. */
			d->msg.flags |= PROTO_MSG_F_TRUNCATED;
			if (!d->msg.end_ts)
				d->msg.end_ts = ts;
			emit_msg(d, i, emit, ctx, stats);
		}
		reset_dir(d);
	}
	memset(c->pend, 0, sizeof(c->pend));
	c->pend_next = 0;
	c->req_dir = 0;
}

static enum proto_detect kafka_detect(const uint8_t *data, size_t len, enum proto_dir dir,
				      const struct proto_ctx *ctx)
{
	uint32_t size;
	int16_t cl;
	uint16_t key, ver;

	(void)dir;
	if (!data || len < 14)
		return PROTO_DETECT_NO;
	if (plausible_request(data, len) != 1)
		return PROTO_DETECT_NO;
	size = be32(data);
	key = (uint16_t)(data[4] << 8 | data[5]);
	ver = (uint16_t)(data[6] << 8 | data[7]);
	if (key == 7 && ver == 0)
		return PROTO_DETECT_NO; /* too little to tell */
	cl = (int16_t)(data[12] << 8 | data[13]);
	/* The whole message in one read, with a printable client id of some length, is
	 * strong evidence: a 4-byte size that matches the bytes exactly. */
	if ((uint64_t)size + 4 == len && cl >= 1)
		return PROTO_DETECT_YES;
	/* Larger messages arrive in pieces: a client id and the well-known port. */
	if (cl >= 3 && (uint64_t)size + 4 > len && (size_t)cl + 14 <= len &&
	    (!ctx || !ctx->server_port || ctx->server_port == 9092))
		return ctx && ctx->server_port == 9092 ? PROTO_DETECT_YES : PROTO_DETECT_MAYBE;
	if (ctx && ctx->server_port == 9092)
		return PROTO_DETECT_MAYBE;
	return PROTO_DETECT_NO;
}

static void kafka_reset(void *state, enum proto_dir dir)
{
	struct kf_conn *c = state;

	if (c && (dir == PROTO_DIR_EGRESS || dir == PROTO_DIR_INGRESS)) {
		struct kf_dir *d = &c->dir[dir == PROTO_DIR_INGRESS];

		d->phase = KF_PH_RESYNC;
		d->active = 0;
		d->remaining = 0;
	}
}

const struct proto_ops proto_kafka_ops = {
	.name = "Kafka",
	.id = PROTO_KAFKA,
	.state_size = sizeof(struct kf_conn),
	.detect = kafka_detect,
	.parse = kafka_parse,
	.on_close = kafka_on_close,
	.reset = kafka_reset,
	.release = NULL,
};
