/* SPDX-License-Identifier: Apache-2.0 */
/* Batch codec: see wire.h. protobuf-c does the message encoding, zstd the compression. */
#include "wire/wire.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "src/wire/flowscope_wire.pb-c.h"

typedef Flowscope__Wire__V1__L7Record pb_rec;
typedef Flowscope__Wire__V1__L4Record pb_l4;
typedef Flowscope__Wire__V1__NetRow pb_net;
typedef Flowscope__Wire__V1__Batch pb_batch;
typedef Flowscope__Wire__V1__Counter pb_counter;
typedef Flowscope__Wire__V1__Host pb_host;
typedef Flowscope__Wire__V1__Process pb_proc;

static bool counter_name_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= WIRE_COUNTER_NAME_MAX - 1 ||
		    !((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return false;
	return n > 0;
}

#define BIN(field) ((ProtobufCBinaryData){ .len = (field).len, .data = (uint8_t *)(field).s })

static void to_pb(const struct l7_record *r, pb_rec *p)
{
	flowscope__wire__v1__l7_record__init(p);
#define SET(f, v)                                                                                  \
	do {                                                                                       \
		p->has_##f = 1;                                                                    \
		p->f = (v);                                                                        \
	} while (0)
	SET(start_time_us, r->start_ns / 1000);
	SET(end_time_us, r->end_ns / 1000);
	SET(type, r->type);
	SET(observation_point, r->obs);
	if (r->signal_source != REC_SIGNAL_EBPF) /* absent means eBPF (wire version 1) */
		SET(signal_source, r->signal_source);
	SET(response_status, r->status);
	SET(family, r->family);
	SET(l4_protocol, r->l4_proto);
	SET(l7_protocol, r->l7_proto);
	if (r->has_response && r->code >= 0)
		SET(response_code, r->code);
	if (r->has_request)
		SET(request_length, r->request_length);
	if (r->has_response)
		SET(response_length, r->response_length);
	SET(req_tcp_seq, r->req_tcp_seq);
	SET(resp_tcp_seq, r->resp_tcp_seq);
	SET(addr_0, ((ProtobufCBinaryData){ r->family == 4 ? 4 : 16, (uint8_t *)r->addr0 }));
	SET(addr_1, ((ProtobufCBinaryData){ r->family == 4 ? 4 : 16, (uint8_t *)r->addr1 }));
	SET(client_port, r->client_port);
	SET(server_port, r->server_port);
	SET(pid, r->pid);
	SET(req_tid, r->req_tid);
	SET(resp_tid, r->resp_tid);
	SET(process_kname,
	    ((ProtobufCBinaryData){ strnlen(r->comm, sizeof(r->comm)), (uint8_t *)r->comm }));
	if (r->capture_nic[0])
		SET(capture_nic,
		    ((ProtobufCBinaryData){ strnlen(r->capture_nic, sizeof(r->capture_nic)),
					    (uint8_t *)r->capture_nic }));
	SET(version, BIN(r->version));
	SET(request_type, BIN(r->method));
	SET(request_domain, BIN(r->domain));
	SET(request_resource, BIN(r->resource));
	SET(endpoint, BIN(r->endpoint));
	SET(response_exception, BIN(r->exception));
	if (r->result.len)
		SET(response_result, BIN(r->result));
	if (r->has_request_id)
		SET(request_id, r->request_id);
	if (r->has_affected_rows)
		SET(sql_affected_rows, r->affected_rows);
	SET(x_request_id_0, BIN(r->x_request_id_0));
	SET(x_request_id_1, BIN(r->x_request_id_1));
	SET(trace_id, BIN(r->trace_id));
	SET(span_id, BIN(r->span_id));
	if (r->req_syscall_trace_id)
		SET(syscall_trace_id_request, r->req_syscall_trace_id);
	if (r->resp_syscall_trace_id)
		SET(syscall_trace_id_response, r->resp_syscall_trace_id);
	if (r->req_coroutine)
		SET(syscall_coroutine_0, r->req_coroutine);
	if (r->resp_coroutine)
		SET(syscall_coroutine_1, r->resp_coroutine);
	if (r->parent_span_id.len)
		SET(parent_span_id, BIN(r->parent_span_id));
#undef SET
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * An l4 row: numeric fields only when not 0 (the decoder reads absent as 0), which keeps
 * the many counters of a quiet flow off the wire; tunnel fields only inside a tunnel.
 */
static void to_pb_l4(const struct l4_record *rec, pb_l4 *p)
{
	const struct l4_flow_rec *r = &rec->f;
	const struct pkt_tunnel *t = &r->tunnel;
	size_t alen = r->family == 4 ? 4 : 16, tlen = t->family == 4 ? 4 : 16;

	flowscope__wire__v1__l4_record__init(p);
#define SET(f, v)                                                                                  \
	do {                                                                                       \
		p->has_##f = 1;                                                                    \
		p->f = (v);                                                                        \
	} while (0)
#define NZ(f, v)                                                                                   \
	do {                                                                                       \
		if (v)                                                                             \
			SET(f, v);                                                                 \
	} while (0)
	SET(time_ns, r->time_ns);
	SET(observation_point, rec->obs);
	if (rec->capture_nic[0])
		SET(capture_nic,
		    ((ProtobufCBinaryData){ strnlen(rec->capture_nic, sizeof(rec->capture_nic)),
					    (uint8_t *)rec->capture_nic }));
	SET(family, r->family);
	SET(addr_0, ((ProtobufCBinaryData){ alen, (uint8_t *)r->addr0 }));
	SET(addr_1, ((ProtobufCBinaryData){ alen, (uint8_t *)r->addr1 }));
	NZ(flow_id, r->flow_id);
	NZ(start_time_ns, r->start_ns);
	NZ(end_time_ns, r->end_ns);
	NZ(close_type, r->close_type);
	NZ(is_new_flow, r->is_new_flow);
	NZ(l4_protocol, r->l4_proto);
	NZ(l7_protocol, rec->l7_proto);
	NZ(client_port, r->client_port);
	NZ(server_port, r->server_port);
	if (!all_zero(r->mac0, 6))
		SET(mac_0, ((ProtobufCBinaryData){ 6, (uint8_t *)r->mac0 }));
	if (!all_zero(r->mac1, 6))
		SET(mac_1, ((ProtobufCBinaryData){ 6, (uint8_t *)r->mac1 }));
	NZ(vlan, r->vlan);
	if (r->tunnel_tier) {
		SET(tunnel_tier, r->tunnel_tier);
		SET(tunnel_type, t->type);
		NZ(tunnel_id, t->id);
		SET(tunnel_ip_0, ((ProtobufCBinaryData){ tlen, (uint8_t *)t->src }));
		SET(tunnel_ip_1, ((ProtobufCBinaryData){ tlen, (uint8_t *)t->dst }));
	}
	NZ(tcp_flags_bit_0, r->tcp_flags_bit_0);
	NZ(tcp_flags_bit_1, r->tcp_flags_bit_1);
	NZ(syn_seq, r->syn_seq);
	NZ(syn_ack_seq, r->syn_ack_seq);
	NZ(packet_tx, r->packet_tx);
	NZ(packet_rx, r->packet_rx);
	NZ(byte_tx, r->byte_tx);
	NZ(byte_rx, r->byte_rx);
	NZ(l3_byte_tx, r->l3_byte_tx);
	NZ(l3_byte_rx, r->l3_byte_rx);
	NZ(l4_byte_tx, r->l4_byte_tx);
	NZ(l4_byte_rx, r->l4_byte_rx);
	NZ(rtt, r->rtt);
	NZ(rtt_client, r->rtt_client);
	NZ(rtt_server, r->rtt_server);
	NZ(srt_sum, r->srt_sum);
	NZ(srt_count, r->srt_count);
	NZ(srt_max, r->srt_max);
	NZ(art_sum, r->art_sum);
	NZ(art_count, r->art_count);
	NZ(art_max, r->art_max);
	NZ(cit_sum, r->cit_sum);
	NZ(cit_count, r->cit_count);
	NZ(cit_max, r->cit_max);
	NZ(retrans_tx, r->retrans_tx);
	NZ(retrans_rx, r->retrans_rx);
	NZ(ooo_tx, r->ooo_tx);
	NZ(ooo_rx, r->ooo_rx);
	NZ(zero_win_tx, r->zero_win_tx);
	NZ(zero_win_rx, r->zero_win_rx);
	NZ(syn_count, r->syn_count);
	NZ(synack_count, r->synack_count);
	NZ(retrans_syn, r->retrans_syn);
	NZ(retrans_synack, r->retrans_synack);
	NZ(fin_count, r->fin_count);
	NZ(rst_count, r->rst_count);
#undef NZ
#undef SET
}

/*
 * Every counter of struct net_row (enum net_counter) with its NetRow field, which is named
 * as the counter's column (net_counter_names; tests/unit/test_wire.c checks the names).
 * Spelled out, rather than found through the descriptor at run time, so that a field
 * missing from the .proto fails the build.
 */
#define NET_COUNTERS(X)                                                                            \
	X(PACKET_TX, packet_tx)                                                                    \
	X(PACKET_RX, packet_rx)                                                                    \
	X(BYTE_TX, byte_tx)                                                                        \
	X(BYTE_RX, byte_rx)                                                                        \
	X(L3_BYTE_TX, l3_byte_tx)                                                                  \
	X(L3_BYTE_RX, l3_byte_rx)                                                                  \
	X(L4_BYTE_TX, l4_byte_tx)                                                                  \
	X(L4_BYTE_RX, l4_byte_rx)                                                                  \
	X(NEW_FLOW, new_flow)                                                                      \
	X(CLOSED_FLOW, closed_flow)                                                                \
	X(SYN_COUNT, syn_count)                                                                    \
	X(SYNACK_COUNT, synack_count)                                                              \
	X(RTT_SUM, rtt_sum)                                                                        \
	X(RTT_COUNT, rtt_count)                                                                    \
	X(RTT_MAX, rtt_max)                                                                        \
	X(RTT_CLIENT_SUM, rtt_client_sum)                                                          \
	X(RTT_CLIENT_COUNT, rtt_client_count)                                                      \
	X(RTT_CLIENT_MAX, rtt_client_max)                                                          \
	X(RTT_SERVER_SUM, rtt_server_sum)                                                          \
	X(RTT_SERVER_COUNT, rtt_server_count)                                                      \
	X(RTT_SERVER_MAX, rtt_server_max)                                                          \
	X(SRT_SUM, srt_sum)                                                                        \
	X(SRT_COUNT, srt_count)                                                                    \
	X(SRT_MAX, srt_max)                                                                        \
	X(ART_SUM, art_sum)                                                                        \
	X(ART_COUNT, art_count)                                                                    \
	X(ART_MAX, art_max)                                                                        \
	X(CIT_SUM, cit_sum)                                                                        \
	X(CIT_COUNT, cit_count)                                                                    \
	X(CIT_MAX, cit_max)                                                                        \
	X(RETRANS_TX, retrans_tx)                                                                  \
	X(RETRANS_RX, retrans_rx)                                                                  \
	X(ZERO_WIN_TX, zero_win_tx)                                                                \
	X(ZERO_WIN_RX, zero_win_rx)                                                                \
	X(RETRANS_SYN, retrans_syn)                                                                \
	X(RETRANS_SYNACK, retrans_synack)                                                          \
	X(OOO_TX, ooo_tx)                                                                          \
	X(OOO_RX, ooo_rx)                                                                          \
	X(CLIENT_RST_FLOW, client_rst_flow)                                                        \
	X(SERVER_RST_FLOW, server_rst_flow)                                                        \
	X(SERVER_SYN_MISS, server_syn_miss)                                                        \
	X(CLIENT_ACK_MISS, client_ack_miss)                                                        \
	X(CLIENT_HALF_CLOSE_FLOW, client_half_close_flow)                                          \
	X(SERVER_HALF_CLOSE_FLOW, server_half_close_flow)                                          \
	X(CLIENT_SOURCE_PORT_REUSE, client_source_port_reuse)                                      \
	X(CLIENT_ESTABLISH_OTHER_RST, client_establish_other_rst)                                  \
	X(SERVER_RESET, server_reset)                                                              \
	X(SERVER_QUEUE_LACK, server_queue_lack)                                                    \
	X(SERVER_ESTABLISH_OTHER_RST, server_establish_other_rst)                                  \
	X(TCP_TIMEOUT, tcp_timeout)                                                                \
	X(CLIENT_ESTABLISH_FAIL, client_establish_fail)                                            \
	X(SERVER_ESTABLISH_FAIL, server_establish_fail)                                            \
	X(TCP_ESTABLISH_FAIL, tcp_establish_fail)                                                  \
	X(TCP_TRANSFER_FAIL, tcp_transfer_fail)                                                    \
	X(TCP_RST_FAIL, tcp_rst_fail)
#define NET_ONE(e, f) +1
_Static_assert(0 NET_COUNTERS(NET_ONE) == NC_MAX, "every net counter needs its NetRow field");
#undef NET_ONE

static bool net_is_map(uint8_t table)
{
	return table == NET_MAP_1S || table == NET_MAP_1M;
}

/*
 * A network row: the key, then each counter only when not 0 (most of a row's 55 are 0:
 * the anomaly counters, the latencies of UDP). role goes only on network rows and
 * observation_point and ip_1 only on network_map rows, the fields that tell them apart.
 */
static void to_pb_net(const struct net_row *r, pb_net *p)
{
	const struct net_key *k = &r->k;
	size_t alen = k->family == 4 ? 4 : 16;

	flowscope__wire__v1__net_row__init(p);
#define SET(f, v)                                                                                  \
	do {                                                                                       \
		p->has_##f = 1;                                                                    \
		p->f = (v);                                                                        \
	} while (0)
#define NZ(f, v)                                                                                   \
	do {                                                                                       \
		if (v)                                                                             \
			SET(f, v);                                                                 \
	} while (0)
	SET(time_s, (uint64_t)k->time_s);
	SET(table, k->table);
	SET(family, k->family);
	NZ(protocol, k->protocol);
	NZ(server_port, k->server_port);
	SET(ip_0, ((ProtobufCBinaryData){ alen, (uint8_t *)k->ip0 }));
	if (net_is_map(k->table)) {
		SET(observation_point, k->obs);
		SET(ip_1, ((ProtobufCBinaryData){ alen, (uint8_t *)k->ip1 }));
	} else {
		NZ(role, k->role);
	}
#define X(e, f) NZ(f, r->v[NC_##e]);
	NET_COUNTERS(X)
#undef X
#undef NZ
#undef SET
}

/* A protobuf varint at p (at most 10 bytes); returns its length. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static int builder_reserve(struct wire_builder *b, size_t more)
{
	size_t ncap;
	uint8_t *np;

	if (b->len + more <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 4096;
	while (ncap < b->len + more)
		ncap *= 2;
	np = realloc(b->buf, ncap);
	if (!np)
		return -ENOMEM;
	b->buf = np;
	b->cap = ncap;
	return 0;
}

/* Batch.l7 is field 4, Batch.l4 field 6 and Batch.net field 7, length-delimited:
 * tag (N << 3) | 2. */
#define TAG_BATCH_L7  0x22
#define TAG_BATCH_L4  0x32
#define TAG_BATCH_NET 0x3a
/* Batch.host (8) and Batch.procs (9), length-delimited too. */
#define TAG_BATCH_HOST	0x42
#define TAG_BATCH_PROCS 0x4a

/* Append one packed message as the Batch field of that tag. */
static int builder_put_msg(struct wire_builder *b, uint8_t tag, const ProtobufCMessage *m)
{
	size_t plen = protobuf_c_message_get_packed_size(m);

	if (builder_reserve(b, 1 + 10 + plen))
		return -ENOMEM;
	b->buf[b->len++] = tag;
	b->len += put_varint(b->buf + b->len, plen);
	b->len += protobuf_c_message_pack(m, b->buf + b->len);
	return 0;
}

/* Append one packed record: it counts against WIRE_MAX_RECORDS. */
static int builder_put(struct wire_builder *b, uint8_t tag, const ProtobufCMessage *m)
{
	int err = builder_put_msg(b, tag, m);

	if (!err)
		b->n++;
	return err;
}

static bool hostname_ok(const char *s, size_t n)
{
	if (!n || n >= HOST_NAME_CAP)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool container_id_ok(const char *s, size_t n)
{
	if (n != PROC_CONTAINER_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int wire_builder_set_host(struct wire_builder *b, const struct host_info *h)
{
	pb_host p;
	ProtobufCBinaryData ips[HOST_MAX_IPS];
	int err;

	if (b->has_host)
		return -EALREADY;
	if (!hostname_ok(h->hostname, strnlen(h->hostname, sizeof(h->hostname))) ||
	    h->nips > HOST_MAX_IPS)
		return -EINVAL;
	flowscope__wire__v1__host__init(&p);
	p.hostname = (char *)h->hostname;
	for (size_t i = 0; i < h->nips; i++) {
		if (h->ips[i].family != 4 && h->ips[i].family != 6)
			return -EINVAL;
		ips[i] = (ProtobufCBinaryData){ h->ips[i].family == 4 ? 4 : 16,
						(uint8_t *)h->ips[i].a };
	}
	p.n_ips = h->nips;
	p.ips = h->nips ? ips : NULL;
	err = builder_put_msg(b, TAG_BATCH_HOST, &p.base);
	if (!err)
		b->has_host = true;
	return err;
}

#define PBSTR(s) ((ProtobufCBinaryData){ strnlen((s), sizeof(s)), (uint8_t *)(s) })

int wire_builder_add_proc(struct wire_builder *b, const struct proc_info *pi)
{
	pb_proc p;
	int err;

	if (b->nprocs >= WIRE_MAX_PROCS)
		return -E2BIG;
	if (!pi->pid || pi->pid > WIRE_MAX_PID ||
	    (pi->container_id[0] && !container_id_ok(pi->container_id, strlen(pi->container_id))))
		return -EINVAL;
	flowscope__wire__v1__process__init(&p);
	p.has_pid = 1;
	p.pid = pi->pid;
	if (pi->start_time_us) {
		p.has_start_time_us = 1;
		p.start_time_us = pi->start_time_us;
	}
	/* The struct's sizes are the decoder's bounds: cut strings arrive whole. */
	p.has_comm = 1;
	p.comm = PBSTR(pi->comm);
	if (pi->exe[0]) {
		p.has_exe = 1;
		p.exe = PBSTR(pi->exe);
	}
	if (pi->cmdline[0]) {
		p.has_cmdline = 1;
		p.cmdline = PBSTR(pi->cmdline);
	}
	if (pi->has_uid) {
		p.has_uid = 1;
		p.uid = pi->uid;
	}
	if (pi->user[0]) {
		p.has_user = 1;
		p.user = PBSTR(pi->user);
	}
	if (pi->container_id[0])
		p.container_id = (char *)pi->container_id;
	if (pi->netns_inode) {
		p.has_netns_inode = 1;
		p.netns_inode = pi->netns_inode;
	}
	err = builder_put_msg(b, TAG_BATCH_PROCS, &p.base);
	if (!err)
		b->nprocs++;
	return err;
}
#undef PBSTR

int wire_builder_add(struct wire_builder *b, const struct l7_record *r)
{
	pb_rec p;

	if (b->n >= WIRE_MAX_RECORDS)
		return -E2BIG;
	to_pb(r, &p);
	return builder_put(b, TAG_BATCH_L7, &p.base);
}

int wire_builder_add_l4(struct wire_builder *b, const struct l4_record *r)
{
	pb_l4 p;

	if (b->n >= WIRE_MAX_RECORDS)
		return -E2BIG;
	to_pb_l4(r, &p);
	return builder_put(b, TAG_BATCH_L4, &p.base);
}

int wire_builder_add_net(struct wire_builder *b, const struct net_row *r)
{
	const struct net_key *k = &r->k;
	pb_net p;

	if (b->n >= WIRE_MAX_RECORDS)
		return -E2BIG;
	/* A key the server would refuse would cost the whole batch: it stays here. */
	if (k->table >= NET_TABLES || (k->family != 4 && k->family != 6) || k->time_s < 0 ||
	    ((k->table == NET_1M || k->table == NET_MAP_1M) && k->time_s % 60) ||
	    (net_is_map(k->table) ? k->obs > REC_OBS_MAX : k->role > 1))
		return -EINVAL;
	to_pb_net(r, &p);
	return builder_put(b, TAG_BATCH_NET, &p.base);
}

int wire_builder_finish(struct wire_builder *b, const struct wire_batch_info *info, int zstd_level,
			uint8_t **out, size_t *out_len)
{
	pb_batch h = FLOWSCOPE__WIRE__V1__BATCH__INIT;
	pb_counter pcs[WIRE_MAX_COUNTERS], *pcptrs[WIRE_MAX_COUNTERS];
	ZSTD_CCtx *cc = NULL;
	ZSTD_inBuffer in;
	ZSTD_outBuffer zo = { 0 };
	uint8_t *head = NULL;
	size_t hlen, total, left;
	int err = -ENOMEM;

	if (strnlen(info->agent_id, sizeof(info->agent_id)) >= sizeof(info->agent_id) ||
	    info->ncounters > WIRE_MAX_COUNTERS)
		return -EINVAL;
	for (size_t i = 0; i < info->ncounters; i++) {
		if (strnlen(info->counters[i].name, WIRE_COUNTER_NAME_MAX) >=
			    WIRE_COUNTER_NAME_MAX ||
		    !counter_name_ok(info->counters[i].name))
			return -EINVAL;
		flowscope__wire__v1__counter__init(&pcs[i]);
		pcs[i].name = (char *)info->counters[i].name;
		pcs[i].has_value = 1;
		pcs[i].value = info->counters[i].value;
		pcptrs[i] = &pcs[i];
	}
	/*
	 * The header (version, agent_id, seq, counters) is packed on its own and followed by
	 * the records already packed one by one: protobuf parses concatenated fields of one
	 * message as that message, repeated fields appended.
	 */
	h.has_version = 1;
	h.version = WIRE_VERSION;
	h.agent_id = (char *)info->agent_id;
	h.has_seq = 1;
	h.seq = info->seq;
	h.n_counters = info->ncounters;
	h.counters = info->ncounters ? pcptrs : NULL;
	hlen = flowscope__wire__v1__batch__get_packed_size(&h);
	head = malloc(hlen ? hlen : 1);
	cc = ZSTD_createCCtx();
	if (!head || !cc)
		goto out;
	flowscope__wire__v1__batch__pack(&h, head);
	total = hlen + b->len;
	zo.size = ZSTD_compressBound(total);
	zo.dst = malloc(zo.size);
	if (!zo.dst)
		goto out;
	err = -EINVAL;
	/* The pledged size puts the content size in the frame header: the decoder bounds
	 * its allocation with it before decompressing. */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, zstd_level)) ||
	    ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cc, total)))
		goto out;
	in = (ZSTD_inBuffer){ head, hlen, 0 };
	while (in.pos < in.size)
		if (ZSTD_isError(ZSTD_compressStream2(cc, &zo, &in, ZSTD_e_continue)))
			goto out;
	in = (ZSTD_inBuffer){ b->buf ? b->buf : (const uint8_t *)"", b->len, 0 };
	do {
		left = ZSTD_compressStream2(cc, &zo, &in, ZSTD_e_end);
		if (ZSTD_isError(left))
			goto out;
	} while (left);
	*out = zo.dst;
	*out_len = zo.pos;
	zo.dst = NULL;
	wire_builder_reset(b);
	err = 0;
out:
	free(zo.dst);
	ZSTD_freeCCtx(cc);
	free(head);
	return err;
}

void wire_builder_reset(struct wire_builder *b)
{
	b->len = 0;
	b->n = 0;
	b->nprocs = 0;
	b->has_host = false;
}

void wire_builder_free(struct wire_builder *b)
{
	if (!b)
		return;
	free(b->buf);
	*b = (struct wire_builder){ 0 };
}

int wire_encode(const struct wire_batch_info *info, const struct l7_record *recs, size_t n,
		int zstd_level, uint8_t **out, size_t *out_len)
{
	struct wire_builder b = { 0 };
	int err = 0;

	if (n > WIRE_MAX_RECORDS)
		return -EINVAL;
	for (size_t i = 0; i < n && !err; i++)
		err = wire_builder_add(&b, &recs[i]);
	if (!err)
		err = wire_builder_finish(&b, info, zstd_level, out, out_len);
	wire_builder_free(&b);
	return err;
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static void copy_bin(char *dst, uint16_t *dst_len, size_t cap, protobuf_c_boolean has,
		     ProtobufCBinaryData v)
{
	rec_copy(dst, dst_len, cap, has ? (const char *)v.data : NULL,
		 has ? (uint32_t)(v.len > UINT32_MAX ? UINT32_MAX : v.len) : 0);
}

#define COPY(field, pbf) copy_bin((field).s, &(field).len, sizeof((field).s), p->has_##pbf, p->pbf)

/* One record from the wire; returns NULL or what is wrong with it. */
static bool copy_str(char *dst, size_t cap, protobuf_c_boolean has, ProtobufCBinaryData v);

static const char *from_pb(const pb_rec *p, struct l7_record *r)
{
	size_t alen;

	record_reset(r);
	if (!p->has_type || p->type > REC_TYPE_SESSION)
		return "type missing or not 0..2";
	if (!p->has_observation_point || p->observation_point > REC_OBS_MAX)
		return "observation_point missing or out of range";
	if (p->has_signal_source && p->signal_source != REC_SIGNAL_PACKET &&
	    p->signal_source != REC_SIGNAL_EBPF)
		return "signal_source not 0 or 3";
	if (!p->has_family || (p->family != 4 && p->family != 6))
		return "family missing or not 4 or 6";
	alen = p->family == 4 ? 4 : 16;
	if (!p->has_addr_0 || !p->has_addr_1 || p->addr_0.len != alen || p->addr_1.len != alen)
		return "addresses missing or of the wrong length for the family";
	if ((p->has_client_port && p->client_port > 65535) ||
	    (p->has_server_port && p->server_port > 65535))
		return "port out of range";
	if (p->has_response_status && p->response_status > PROTO_STATUS_PARSE_FAILED)
		return "response_status out of range";
	if ((p->has_l4_protocol && p->l4_protocol > 255) ||
	    (p->has_l7_protocol && p->l7_protocol >= PROTO_ID_MAX))
		return "protocol out of range";
	if (p->has_start_time_us && p->has_end_time_us && p->end_time_us < p->start_time_us)
		return "end_time before start_time";
	if (p->has_sql_affected_rows && p->sql_affected_rows > INT64_MAX)
		return "sql_affected_rows out of range";
	if ((p->has_syscall_trace_id_request && p->syscall_trace_id_request > INT64_MAX) ||
	    (p->has_syscall_trace_id_response && p->syscall_trace_id_response > INT64_MAX) ||
	    (p->has_syscall_coroutine_0 && p->syscall_coroutine_0 > INT64_MAX) ||
	    (p->has_syscall_coroutine_1 && p->syscall_coroutine_1 > INT64_MAX))
		return "syscall trace or coroutine id out of range";
	if ((p->has_start_time_us && p->start_time_us > UINT64_MAX / 1000) ||
	    (p->has_end_time_us && p->end_time_us > UINT64_MAX / 1000))
		return "time out of range";
	r->type = p->type;
	r->obs = p->observation_point;
	r->signal_source = p->has_signal_source ? p->signal_source : REC_SIGNAL_EBPF;
	r->family = p->family;
	r->status = p->has_response_status ? p->response_status : PROTO_STATUS_UNKNOWN;
	r->l4_proto = p->has_l4_protocol ? p->l4_protocol : 0;
	r->l7_proto = p->has_l7_protocol ? p->l7_protocol : 0;
	r->start_ns = p->has_start_time_us ? p->start_time_us * 1000 : 0;
	r->end_ns = p->has_end_time_us ? p->end_time_us * 1000 : r->start_ns;
	r->has_request = p->has_request_length;
	r->request_length = p->has_request_length ? p->request_length : 0;
	r->has_response = p->has_response_length || p->has_response_code;
	r->response_length = p->has_response_length ? p->response_length : 0;
	r->code = p->has_response_code ? p->response_code : -1;
	r->req_tcp_seq = p->has_req_tcp_seq ? p->req_tcp_seq : 0;
	r->resp_tcp_seq = p->has_resp_tcp_seq ? p->resp_tcp_seq : 0;
	memcpy(r->addr0, p->addr_0.data, alen);
	memcpy(r->addr1, p->addr_1.data, alen);
	r->client_port = p->has_client_port ? p->client_port : 0;
	r->server_port = p->has_server_port ? p->server_port : 0;
	r->pid = p->has_pid ? p->pid : 0;
	r->req_tid = p->has_req_tid ? p->req_tid : 0;
	r->resp_tid = p->has_resp_tid ? p->resp_tid : 0;
	if (p->has_process_kname) {
		size_t k = p->process_kname.len < sizeof(r->comm) - 1 ? p->process_kname.len
								      : sizeof(r->comm) - 1;

		if (k) /* an empty bytes field has no data pointer */
			memcpy(r->comm, p->process_kname.data, k);
		r->comm[k] = 0;
	}
	if (!copy_str(r->capture_nic, sizeof(r->capture_nic), p->has_capture_nic, p->capture_nic))
		return "capture_nic longer than 15 bytes or with a NUL";
	COPY(r->version, version);
	COPY(r->method, request_type);
	COPY(r->domain, request_domain);
	COPY(r->resource, request_resource);
	COPY(r->endpoint, endpoint);
	COPY(r->exception, response_exception);
	COPY(r->result, response_result);
	r->has_request_id = p->has_request_id;
	r->request_id = p->has_request_id ? p->request_id : 0;
	r->has_affected_rows = p->has_sql_affected_rows;
	r->affected_rows = p->has_sql_affected_rows ? p->sql_affected_rows : 0;
	COPY(r->x_request_id_0, x_request_id_0);
	COPY(r->x_request_id_1, x_request_id_1);
	COPY(r->trace_id, trace_id);
	COPY(r->span_id, span_id);
	COPY(r->parent_span_id, parent_span_id);
	r->req_syscall_trace_id = p->has_syscall_trace_id_request ? p->syscall_trace_id_request : 0;
	r->resp_syscall_trace_id =
		p->has_syscall_trace_id_response ? p->syscall_trace_id_response : 0;
	r->req_coroutine = p->has_syscall_coroutine_0 ? p->syscall_coroutine_0 : 0;
	r->resp_coroutine = p->has_syscall_coroutine_1 ? p->syscall_coroutine_1 : 0;
	return NULL;
}

/* A uint64 the store could not keep: its integers are signed 64-bit. */
#define TOO_BIG(f) (p->has_##f && p->f > INT64_MAX)
#define U0(f)	   (p->has_##f ? p->f : 0)

/* One l4 row from the wire; returns NULL or what is wrong with it. */
static const char *from_pb_l4(const pb_l4 *p, struct l4_record *rec)
{
	struct l4_flow_rec *r = &rec->f;
	size_t alen, tlen;

	memset(rec, 0, sizeof(*rec));
	if (!p->has_time_ns)
		return "time_ns missing";
	if (!p->has_observation_point || p->observation_point > REC_OBS_MAX)
		return "observation_point missing or out of range";
	if (!p->has_family || (p->family != 4 && p->family != 6))
		return "family missing or not 4 or 6";
	alen = p->family == 4 ? 4 : 16;
	if (!p->has_addr_0 || !p->has_addr_1 || p->addr_0.len != alen || p->addr_1.len != alen)
		return "addresses missing or of the wrong length for the family";
	if (U0(client_port) > 65535 || U0(server_port) > 65535)
		return "port out of range";
	if (U0(l4_protocol) > 255 || U0(l7_protocol) >= PROTO_ID_MAX)
		return "protocol out of range";
	if (U0(close_type) >= 64)
		return "close_type out of range (0..63)";
	if ((p->has_mac_0 && p->mac_0.len != 6) || (p->has_mac_1 && p->mac_1.len != 6))
		return "mac not 6 bytes";
	if (U0(vlan) > 4095)
		return "vlan out of range (0..4095)";
	if (U0(tcp_flags_bit_0) > 255 || U0(tcp_flags_bit_1) > 255)
		return "tcp_flags_bit out of range (0..255)";
	if (U0(tunnel_tier) > 255)
		return "tunnel_tier out of range (0..255)";
	if (!U0(tunnel_tier) &&
	    (p->has_tunnel_type || p->has_tunnel_id || p->has_tunnel_ip_0 || p->has_tunnel_ip_1))
		return "tunnel fields without tunnel_tier";
	tlen = p->has_tunnel_ip_0 ? p->tunnel_ip_0.len : 0;
	/* PKT_TUN_TEB is the last enum pkt_tunnel_type. */
	if (U0(tunnel_tier) &&
	    (!p->has_tunnel_type || p->tunnel_type < PKT_TUN_VXLAN || p->tunnel_type > PKT_TUN_TEB))
		return "tunnel_type missing or not 1..6";
	if (U0(tunnel_tier) && (!p->has_tunnel_ip_0 || !p->has_tunnel_ip_1 ||
				(tlen != 4 && tlen != 16) || p->tunnel_ip_1.len != tlen))
		return "tunnel addresses missing, or not both 4 or both 16 bytes";
	if (TOO_BIG(flow_id) || TOO_BIG(packet_tx) || TOO_BIG(packet_rx) || TOO_BIG(byte_tx) ||
	    TOO_BIG(byte_rx) || TOO_BIG(l3_byte_tx) || TOO_BIG(l3_byte_rx) || TOO_BIG(l4_byte_tx) ||
	    TOO_BIG(l4_byte_rx) || TOO_BIG(srt_sum) || TOO_BIG(srt_count) || TOO_BIG(art_sum) ||
	    TOO_BIG(art_count) || TOO_BIG(cit_sum) || TOO_BIG(cit_count))
		return "a 64-bit counter above 2^63-1";
	if (!copy_str(rec->capture_nic, sizeof(rec->capture_nic), p->has_capture_nic,
		      p->capture_nic))
		return "capture_nic longer than 15 bytes or with a NUL";
	rec->obs = p->observation_point;
	rec->l7_proto = U0(l7_protocol);
	r->flow_id = U0(flow_id);
	r->time_ns = p->time_ns;
	r->start_ns = U0(start_time_ns);
	r->end_ns = U0(end_time_ns);
	r->close_type = U0(close_type);
	r->is_new_flow = U0(is_new_flow);
	r->family = p->family;
	r->l4_proto = U0(l4_protocol);
	memcpy(r->addr0, p->addr_0.data, alen);
	memcpy(r->addr1, p->addr_1.data, alen);
	r->client_port = U0(client_port);
	r->server_port = U0(server_port);
	if (p->has_mac_0)
		memcpy(r->mac0, p->mac_0.data, 6);
	if (p->has_mac_1)
		memcpy(r->mac1, p->mac_1.data, 6);
	r->vlan = U0(vlan);
	r->tunnel_tier = U0(tunnel_tier);
	if (r->tunnel_tier) {
		r->tunnel.type = p->tunnel_type;
		r->tunnel.family = tlen == 4 ? 4 : 6;
		r->tunnel.id = U0(tunnel_id);
		memcpy(r->tunnel.src, p->tunnel_ip_0.data, tlen);
		memcpy(r->tunnel.dst, p->tunnel_ip_1.data, tlen);
	}
	r->tcp_flags_bit_0 = U0(tcp_flags_bit_0);
	r->tcp_flags_bit_1 = U0(tcp_flags_bit_1);
	r->syn_seq = U0(syn_seq);
	r->syn_ack_seq = U0(syn_ack_seq);
	r->packet_tx = U0(packet_tx);
	r->packet_rx = U0(packet_rx);
	r->byte_tx = U0(byte_tx);
	r->byte_rx = U0(byte_rx);
	r->l3_byte_tx = U0(l3_byte_tx);
	r->l3_byte_rx = U0(l3_byte_rx);
	r->l4_byte_tx = U0(l4_byte_tx);
	r->l4_byte_rx = U0(l4_byte_rx);
	r->rtt = U0(rtt);
	r->rtt_client = U0(rtt_client);
	r->rtt_server = U0(rtt_server);
	r->srt_sum = U0(srt_sum);
	r->srt_count = U0(srt_count);
	r->srt_max = U0(srt_max);
	r->art_sum = U0(art_sum);
	r->art_count = U0(art_count);
	r->art_max = U0(art_max);
	r->cit_sum = U0(cit_sum);
	r->cit_count = U0(cit_count);
	r->cit_max = U0(cit_max);
	r->retrans_tx = U0(retrans_tx);
	r->retrans_rx = U0(retrans_rx);
	r->ooo_tx = U0(ooo_tx);
	r->ooo_rx = U0(ooo_rx);
	r->zero_win_tx = U0(zero_win_tx);
	r->zero_win_rx = U0(zero_win_rx);
	r->syn_count = U0(syn_count);
	r->synack_count = U0(synack_count);
	r->retrans_syn = U0(retrans_syn);
	r->retrans_synack = U0(retrans_synack);
	r->fin_count = U0(fin_count);
	r->rst_count = U0(rst_count);
	return NULL;
}

/* One network row from the wire; returns NULL or what is wrong with it. */
static const char *from_pb_net(const pb_net *p, struct net_row *r)
{
	struct net_key *k = &r->k;
	size_t alen;
	bool map;

	/* Zero-filled first: the key's padding and unused address bytes compare as the
	 * agent's do. */
	memset(r, 0, sizeof(*r));
	if (!p->has_time_s || p->time_s > INT64_MAX)
		return "time_s missing or above 2^63-1";
	if (!p->has_table || p->table >= NET_TABLES)
		return "table missing or not 0..3";
	map = net_is_map((uint8_t)p->table);
	if ((p->table == NET_1M || p->table == NET_MAP_1M) && p->time_s % 60)
		return "time_s of a 1m row not on a whole minute";
	if (!p->has_family || (p->family != 4 && p->family != 6))
		return "family missing or not 4 or 6";
	alen = p->family == 4 ? 4 : 16;
	if (!p->has_ip_0 || p->ip_0.len != alen || (map && (!p->has_ip_1 || p->ip_1.len != alen)))
		return "addresses missing or of the wrong length for the family";
	if (map && (!p->has_observation_point || p->observation_point > REC_OBS_MAX))
		return "observation_point missing or out of range";
	if (map && p->has_role)
		return "role on a network_map row";
	if (!map && (p->has_ip_1 || p->has_observation_point))
		return "ip_1 or observation_point on a network row";
	if (U0(role) > 1)
		return "role out of range (0..1)";
	if (U0(server_port) > 65535)
		return "port out of range";
	if (U0(protocol) > 255)
		return "protocol out of range";
#define X(e, f)                                                                                    \
	if (TOO_BIG(f))                                                                            \
		return "counter " #f " above 2^63-1";
	NET_COUNTERS(X)
#undef X
	k->time_s = (int64_t)p->time_s;
	k->table = (uint8_t)p->table;
	k->family = (uint8_t)p->family;
	k->protocol = (uint8_t)U0(protocol);
	k->role = (uint8_t)U0(role);
	k->obs = (uint8_t)U0(observation_point);
	k->server_port = (uint16_t)U0(server_port);
	memcpy(k->ip0, p->ip_0.data, alen);
	if (map)
		memcpy(k->ip1, p->ip_1.data, alen);
#define X(e, f) r->v[NC_##e] = U0(f);
	NET_COUNTERS(X)
#undef X
	return NULL;
}

#undef U0
#undef TOO_BIG

/* A bytes field into a NUL-terminated char array of cap bytes: false when longer. */
static bool copy_str(char *dst, size_t cap, protobuf_c_boolean has, ProtobufCBinaryData v)
{
	dst[0] = 0;
	if (!has)
		return true;
	if (v.len >= cap || (v.len && memchr(v.data, 0, v.len)))
		return false;
	if (v.len)
		memcpy(dst, v.data, v.len);
	dst[v.len] = 0;
	return true;
}

static const char *from_pb_host(const pb_host *p, struct host_info *h)
{
	memset(h, 0, sizeof(*h));
	if (!p->hostname || !hostname_ok(p->hostname, strlen(p->hostname)))
		return "hostname missing, longer than 255 bytes or with control characters";
	if (p->n_ips > HOST_MAX_IPS)
		return "more than 64 ips";
	strcpy(h->hostname, p->hostname);
	for (size_t i = 0; i < p->n_ips; i++) {
		if (p->ips[i].len != 4 && p->ips[i].len != 16)
			return "an ip not of 4 or 16 bytes";
		h->ips[i].family = p->ips[i].len == 4 ? 4 : 6;
		memcpy(h->ips[i].a, p->ips[i].data, p->ips[i].len);
	}
	h->nips = p->n_ips;
	return NULL;
}

static const char *from_pb_proc(const pb_proc *p, struct proc_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	if (!p->has_pid || !p->pid || p->pid > WIRE_MAX_PID)
		return "pid missing or not 1..4194304";
	if (p->has_start_time_us && p->start_time_us > INT64_MAX)
		return "start_time_us above 2^63-1";
	if (p->has_netns_inode && p->netns_inode > INT64_MAX)
		return "netns_inode above 2^63-1";
	if (p->container_id && !container_id_ok(p->container_id, strlen(p->container_id)))
		return "container_id not 64 lowercase hex digits";
	if (!copy_str(pi->comm, sizeof(pi->comm), p->has_comm, p->comm))
		return "comm longer than 15 bytes or with a NUL";
	if (!copy_str(pi->exe, sizeof(pi->exe), p->has_exe, p->exe))
		return "exe longer than 255 bytes or with a NUL";
	if (!copy_str(pi->cmdline, sizeof(pi->cmdline), p->has_cmdline, p->cmdline))
		return "cmdline longer than 511 bytes or with a NUL";
	if (!copy_str(pi->user, sizeof(pi->user), p->has_user, p->user))
		return "user longer than 63 bytes or with a NUL";
	pi->pid = p->pid;
	pi->start_time_us = p->has_start_time_us ? p->start_time_us : 0;
	pi->has_uid = p->has_uid;
	pi->uid = p->has_uid ? p->uid : 0;
	if (p->container_id)
		strcpy(pi->container_id, p->container_id);
	pi->netns_inode = p->has_netns_inode ? p->netns_inode : 0;
	return NULL;
}

void wire_decoded_free(struct wire_decoded *d)
{
	if (!d)
		return;
	free(d->l7);
	free(d->l4);
	free(d->net);
	free(d->procs);
	memset(d, 0, sizeof(*d));
}

int wire_decode(const uint8_t *buf, size_t len, size_t max_decoded, struct wire_batch_info *info,
		struct wire_decoded *out, char *err, size_t errlen)
{
	unsigned long long size;
	struct wire_decoded d;
	pb_batch *b = NULL;
	uint8_t *raw = NULL;
	size_t got;
	int rc;

	memset(&d, 0, sizeof(d));
	memset(out, 0, sizeof(*out));
	if (len > WIRE_MAX_BODY)
		return fail(err, errlen, -EMSGSIZE, "body of %zu bytes exceeds %u", len,
			    WIRE_MAX_BODY);
	size = ZSTD_getFrameContentSize(buf, len);
	if (size == ZSTD_CONTENTSIZE_ERROR)
		return fail(err, errlen, -EPROTO, "not a zstd frame");
	if (size == ZSTD_CONTENTSIZE_UNKNOWN)
		return fail(err, errlen, -EPROTO, "zstd frame without its content size");
	if (size > max_decoded)
		return fail(err, errlen, -EMSGSIZE, "batch of %llu bytes exceeds %zu", size,
			    max_decoded);
	raw = malloc(size ? size : 1);
	if (!raw)
		return -ENOMEM;
	got = ZSTD_decompress(raw, size, buf, len);
	if (ZSTD_isError(got) || got != size) {
		rc = fail(err, errlen, -EPROTO, "zstd: %s",
			  ZSTD_isError(got) ? ZSTD_getErrorName(got) : "size mismatch");
		goto out;
	}
	b = flowscope__wire__v1__batch__unpack(NULL, got, raw);
	if (!b) {
		rc = fail(err, errlen, -EPROTO, "not a protobuf Batch");
		goto out;
	}
	if (!b->has_version || b->version != WIRE_VERSION) {
		rc = fail(err, errlen, -EPROTONOSUPPORT,
			  "wire version %u not supported (this "
			  "server speaks %d)",
			  b->has_version ? b->version : 0, WIRE_VERSION);
		goto out;
	}
	if (!b->agent_id || strlen(b->agent_id) >= sizeof(info->agent_id) || !b->has_seq) {
		rc = fail(err, errlen, -EPROTO, "agent_id or seq missing, or agent_id too long");
		goto out;
	}
	/* Every kind counts against one bound: it is what sizes a batch in memory. Each
	 * count is at most what fits in the decoded bytes, so their sum cannot wrap. */
	if (b->n_l7 + b->n_l4 + b->n_net > WIRE_MAX_RECORDS) {
		rc = fail(err, errlen, -EMSGSIZE, "%zu records exceed %u",
			  b->n_l7 + b->n_l4 + b->n_net, WIRE_MAX_RECORDS);
		goto out;
	}
	if (b->n_counters > WIRE_MAX_COUNTERS) {
		rc = fail(err, errlen, -EMSGSIZE, "%zu counters exceed %u", b->n_counters,
			  WIRE_MAX_COUNTERS);
		goto out;
	}
	for (size_t i = 0; i < b->n_counters; i++) {
		if (!b->counters[i]->name || !counter_name_ok(b->counters[i]->name) ||
		    !b->counters[i]->has_value) {
			rc = fail(err, errlen, -EPROTO,
				  "counter %zu: name not [a-z0-9_]{1,%d} or value missing", i,
				  WIRE_COUNTER_NAME_MAX - 1);
			goto out;
		}
	}
	if (b->n_procs > WIRE_MAX_PROCS) {
		rc = fail(err, errlen, -EMSGSIZE, "%zu process reports exceed %u", b->n_procs,
			  WIRE_MAX_PROCS);
		goto out;
	}
	if (b->host) {
		const char *why = from_pb_host(b->host, &d.host);

		if (why) {
			rc = fail(err, errlen, -EPROTO, "host: %s", why);
			goto out;
		}
		d.has_host = true;
	}
	if (b->n_procs) {
		d.procs = malloc(b->n_procs * sizeof(*d.procs));
		if (!d.procs) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < b->n_procs; i++) {
		const char *why = from_pb_proc(b->procs[i], &d.procs[i]);

		if (why) {
			rc = fail(err, errlen, -EPROTO, "process %zu: %s", i, why);
			goto out;
		}
	}
	d.nprocs = b->n_procs;
	if (b->n_l7)
		d.l7 = malloc(b->n_l7 * sizeof(*d.l7));
	if (b->n_l4)
		d.l4 = malloc(b->n_l4 * sizeof(*d.l4));
	if (b->n_net)
		d.net = malloc(b->n_net * sizeof(*d.net));
	if ((b->n_l7 && !d.l7) || (b->n_l4 && !d.l4) || (b->n_net && !d.net)) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < b->n_l7; i++) {
		const char *why = from_pb(b->l7[i], &d.l7[i]);

		if (why) {
			rc = fail(err, errlen, -EPROTO, "record %zu: %s", i, why);
			goto out;
		}
	}
	for (size_t i = 0; i < b->n_l4; i++) {
		const char *why = from_pb_l4(b->l4[i], &d.l4[i]);

		if (why) {
			rc = fail(err, errlen, -EPROTO, "l4 record %zu: %s", i, why);
			goto out;
		}
	}
	for (size_t i = 0; i < b->n_net; i++) {
		const char *why = from_pb_net(b->net[i], &d.net[i]);

		if (why) {
			rc = fail(err, errlen, -EPROTO, "net row %zu: %s", i, why);
			goto out;
		}
	}
	d.n7 = b->n_l7;
	d.n4 = b->n_l4;
	d.nnet = b->n_net;
	info->version = b->version;
	strcpy(info->agent_id, b->agent_id);
	info->seq = b->seq;
	info->ncounters = b->n_counters;
	for (size_t i = 0; i < b->n_counters; i++) {
		strcpy(info->counters[i].name, b->counters[i]->name);
		info->counters[i].value = b->counters[i]->value;
	}
	*out = d;
	memset(&d, 0, sizeof(d));
	rc = 0;
out:
	wire_decoded_free(&d);
	if (b)
		flowscope__wire__v1__batch__free_unpacked(b, NULL);
	free(raw);
	return rc;
}
