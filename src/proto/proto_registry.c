/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parser registry: which parser serves which protocol id, the order in which
 * detection tries them, the names users see, and the helpers parsers use to map an input
 * byte back to the capture event that carried it.
 */
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct proto_ops *const proto_table[PROTO_ID_MAX] = {
	[PROTO_HTTP1] = &proto_http1_ops,
	[PROTO_KAFKA] = &proto_kafka_ops,
	[PROTO_HTTP2] = &proto_http2_ops,
	[PROTO_DNS] = &proto_dns_ops,
	[PROTO_REDIS] = &proto_redis_ops,
	[PROTO_MYSQL] = &proto_mysql_ops,
	[PROTO_POSTGRESQL] = &proto_postgresql_ops,
	[PROTO_AMQP] = &proto_amqp_ops,
	[PROTO_MONGODB] = &proto_mongodb_ops,
	[PROTO_DUBBO] = &proto_dubbo_ops,
	[PROTO_MQTT] = &proto_mqtt_ops,
	[PROTO_NATS] = &proto_nats_ops,
	[PROTO_MEMCACHED] = &proto_memcached_ops,
};
_Static_assert(ARRAY_SIZE(proto_table) == PROTO_ID_MAX, "one slot per protocol id");

/* DeepFlow's display names, so queries and dashboards carry over. */
static const char *const proto_names[PROTO_ID_MAX] = {
	[PROTO_HTTP1] = "HTTP",	 [PROTO_HTTP2] = "HTTP2",     [PROTO_DUBBO] = "Dubbo",
	[PROTO_GRPC] = "gRPC",	 [PROTO_MYSQL] = "MySQL",     [PROTO_POSTGRESQL] = "PostgreSQL",
	[PROTO_REDIS] = "Redis", [PROTO_MONGODB] = "MongoDB", [PROTO_MEMCACHED] = "Memcached",
	[PROTO_KAFKA] = "Kafka", [PROTO_MQTT] = "MQTT",	      [PROTO_AMQP] = "AMQP",
	[PROTO_NATS] = "NATS",	 [PROTO_DNS] = "DNS",	      [PROTO_TLS] = "TLS",
};
_Static_assert(ARRAY_SIZE(proto_names) == PROTO_ID_MAX, "one name slot per protocol id");

const struct proto_ops *const proto_detect_order[] = {
	&proto_http1_ops,   &proto_http2_ops, /* the connection preface or well-formed frames:
						 strong evidence */
	&proto_mysql_ops,   &proto_postgresql_ops, &proto_amqp_ops,	 &proto_dubbo_ops,
	&proto_mongodb_ops, &proto_kafka_ops,	   &proto_dns_ops,	 &proto_redis_ops,
	&proto_mqtt_ops,    &proto_nats_ops,	   &proto_memcached_ops, NULL,
};

const struct proto_seg *proto_input_locate(const struct proto_input *in, size_t idx)
{
	size_t lo = 0, hi, mid;

	if (!in || !in->segs || !in->nsegs)
		return NULL;
	if (idx >= in->len)
		return &in->segs[in->nsegs - 1];
	/*
	 * The last segment starting at or before idx. Taking the last one skips empty
	 * segments (events that brought no captured bytes) sharing its offset.
	 */
	hi = in->nsegs;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (in->segs[mid].off <= idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return &in->segs[lo ? lo - 1 : 0];
}

uint32_t proto_input_seq_at(const struct proto_input *in, size_t idx)
{
	const struct proto_seg *s = proto_input_locate(in, idx);

	/* 0 marks "not TCP"; adding an offset to it would invent a sequence number. */
	if (!s || !s->tcp_seq || idx < s->off)
		return 0;
	return s->tcp_seq + (uint32_t)(idx - s->off);
}

const struct proto_ops *proto_by_id(enum proto_id id)
{
	if ((unsigned int)id >= PROTO_ID_MAX)
		return NULL;
	return proto_table[id];
}

const char *proto_name(enum proto_id id)
{
	if ((unsigned int)id >= PROTO_ID_MAX)
		return "";
	if (proto_table[id])
		return proto_table[id]->name;
	return proto_names[id] ? proto_names[id] : "";
}
