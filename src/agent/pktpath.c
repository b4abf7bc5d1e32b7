/* SPDX-License-Identifier: Apache-2.0 */
/* The packet path: see pktpath.h. */
#include "agent/pktpath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pkt_source.h"
#include "agent/record.h"
#include "bpf/shared/socket_event.h"

#define NS_PER_S	1000000000ull
#define MAX_LOCAL_ADDRS 256
/* Addresses learned behind a veth's far end: a namespace has a handful; a router behind
 * it could have any number, and past this many the rest are not learned (their records
 * fall back to the address rule: rest, or c-nd / s-nd). */
#define MAX_BEHIND 64

struct pktpath {
	struct pkt_decoder *dec;
	struct flow_table *flows;
	struct intake *l7;
	struct net_meter *meter; /* NULL: no metrics */
	pktpath_l4_fn l4_sink;
	record_sink_fn l7_sink;
	void *ctx;
	uint64_t now_ns;  /* newest capture time seen */
	uint64_t tick_ns; /* capture time of the last tick */
	size_t nlocal;
	uint8_t local_family[MAX_LOCAL_ADDRS];
	uint8_t local[MAX_LOCAL_ADDRS][16];
	bool have_local;
	/* The host end of a veth pair: addresses seen as the source of received frames. */
	bool veth;
	size_t nbehind;
	uint8_t behind_family[MAX_BEHIND];
	uint8_t behind[MAX_BEHIND][16];
	char nic[16];	      /* capture_nic of every record; "" for none */
	struct l7_record rec; /* scratch: a record with its observation point set */
};

static bool is_local(const struct pktpath *p, uint8_t family, const uint8_t *a)
{
	size_t n = family == 4 ? 4 : 16;

	for (size_t i = 0; i < p->nlocal; i++)
		if (p->local_family[i] == family && !memcmp(p->local[i], a, n))
			return true;
	return false;
}

static bool is_behind(const struct pktpath *p, uint8_t family, const uint8_t *a)
{
	size_t n = family == 4 ? 4 : 16;

	for (size_t i = 0; i < p->nbehind; i++)
		if (p->behind_family[i] == family && !memcmp(p->behind[i], a, n))
			return true;
	return false;
}

/* A frame the host end of a veth received was sent from the far end: its source is
 * behind the veth. Cheap: a namespace's one or two addresses are found at once. */
static void learn_behind(struct pktpath *p, const struct pkt *pk)
{
	if (is_behind(p, pk->family, pk->src) || p->nbehind == MAX_BEHIND)
		return;
	p->behind_family[p->nbehind] = pk->family;
	memcpy(p->behind[p->nbehind], pk->src, 16);
	p->nbehind++;
}

static uint8_t obs_for(const struct pktpath *p, uint8_t family, const uint8_t *client,
		       const uint8_t *server)
{
	bool c, s;

	if (p->veth) {
		/* Both behind is a namespace talking to itself through a hairpin: its client. */
		if (is_behind(p, family, client))
			return REC_OBS_CLIENT_NIC;
		if (is_behind(p, family, server))
			return REC_OBS_SERVER_NIC;
	}
	if (!p->have_local)
		return REC_OBS_REST;
	c = is_local(p, family, client);
	s = is_local(p, family, server);
	if (c && s)
		return REC_OBS_LOCAL;
	if (c)
		return REC_OBS_CLIENT_NODE;
	return s ? REC_OBS_SERVER_NODE : REC_OBS_REST;
}

/* Flow rows: add where they were seen and what the parsers made of the flow. */
static void on_l4(void *ctx, const struct l4_flow_rec *r)
{
	struct pktpath *p = ctx;
	struct l4_record rec = { .f = *r, .obs = obs_for(p, r->family, r->addr0, r->addr1) };

	memcpy(rec.capture_nic, p->nic, sizeof(rec.capture_nic));

	rec.l7_proto = r->l7_proto;
	if (p->l7 && !rec.l7_proto) {
		struct conn *c = conn_lookup(&p->l7->conns, r->flow_id);

		if (c)
			rec.l7_proto = c->proto;
	}
	if (p->l4_sink)
		p->l4_sink(p->ctx, &rec);
}

/*
 * Request logs: session pairing marked the record c-p when the request went from the
 * flow's client side, s-p otherwise (the intake sees the client as "local"), and placed
 * the client in addr0 either way; the capture position decides the observation point.
 */
static void on_l7(void *ctx, const struct l7_record *r)
{
	struct pktpath *p = ctx;

	if (!p->l7_sink)
		return;
	memcpy(&p->rec, r, sizeof(*r));
	p->rec.obs = obs_for(p, r->family, r->addr0, r->addr1);
	p->rec.signal_source = REC_SIGNAL_PACKET;
	p->rec.pid = 0;
	p->rec.comm[0] = 0;
	memcpy(p->rec.capture_nic, p->nic, sizeof(p->rec.capture_nic));
	p->l7_sink(p->ctx, &p->rec);
}

/* Reassembled payload as if the client's process had sent it (dir 0) or received it:
 * the intake's connection model with the flow id as the socket id. */
static void on_l7_data(void *ctx, const struct flow_view *f, uint8_t dir, uint64_t ts_ns,
		       uint32_t seq, const uint8_t *data, uint32_t len, uint32_t gap)
{
	struct pktpath *p = ctx;
	struct fs_event ev = {
		.ts_enter_ns = ts_ns,
		.ts_exit_ns = ts_ns,
		.socket_id = f->flow_id,
		.syscall_len = (uint64_t)len + gap,
		.type = FS_EV_DATA,
		.tcp_seq = seq,
		.cap_len = len,
		.sport = f->client_port,
		.dport = f->server_port,
		.family = f->family,
		.l4_proto = f->l4_proto,
		.direction = dir ? FS_DIR_INGRESS : FS_DIR_EGRESS,
		.role = FS_ROLE_CLIENT,
	};

	static const uint8_t none[1];

	memcpy(ev.saddr, f->addr0, 16);
	memcpy(ev.daddr, f->addr1, 16);
	/* A hole reported alone comes with no bytes (data NULL): the intake copies len bytes
	 * from it, and memcpy wants a valid pointer even for zero. */
	intake_data(p->l7, &ev, data ? data : none);
}

static uint16_t on_l7_closed(void *ctx, const struct flow_view *f, uint64_t ts_ns)
{
	struct pktpath *p = ctx;
	struct conn *c = conn_lookup(&p->l7->conns, f->flow_id);
	uint16_t proto = c ? c->proto : PROTO_UNKNOWN;

	intake_close(p->l7, f->flow_id, ts_ns);
	return proto;
}

/* A flow's second, for the metrics: where it was seen decides the map row's point. */
static void on_flow_second(void *ctx, const struct l4_flow_rec *r)
{
	struct pktpath *p = ctx;

	net_meter_add(p->meter, r, obs_for(p, r->family, r->addr0, r->addr1));
}

int pktpath_set_metrics(struct pktpath *p, net_row_fn emit, void *ctx, uint32_t max_rows)
{
	net_meter_destroy(p->meter);
	p->meter = net_meter_create(max_rows, emit, ctx);
	if (!p->meter)
		return -ENOMEM;
	flow_table_set_meter(p->flows, on_flow_second, p);
	return 0;
}

static const struct flow_l7_ops l7_ops = {
	.data = on_l7_data,
	.closed = on_l7_closed,
};

struct pktpath *pktpath_create(const struct pktpath_cfg *cfg, pktpath_l4_fn l4, record_sink_fn l7,
			       void *ctx)
{
	struct pktpath *p = calloc(1, sizeof(*p));
	struct flow_cfg fcfg = cfg->flow;

	if (!p)
		return NULL;
	p->l4_sink = l4;
	p->l7_sink = l7;
	p->ctx = ctx;
	p->dec = pkt_decoder_create(&cfg->decode);
	if (!p->dec)
		goto fail;
	if (cfg->l7_enabled) {
		struct intake_cfg icfg = cfg->l7;

		icfg.packet = true;
		p->l7 = intake_create(&icfg, on_l7, p);
		if (!p->l7)
			goto fail;
	}
	fcfg.l7 = cfg->l7_enabled;
	p->flows = flow_table_create(&fcfg, on_l4, p, cfg->l7_enabled ? &l7_ops : NULL, p);
	if (!p->flows)
		goto fail;
	return p;
fail:
	pktpath_destroy(p);
	return NULL;
}

void pktpath_destroy(struct pktpath *p)
{
	if (!p)
		return;
	flow_table_destroy(p->flows);
	net_meter_destroy(p->meter);
	intake_destroy(p->l7);
	pkt_decoder_destroy(p->dec);
	free(p);
}

int pktpath_set_local_addrs(struct pktpath *p, const uint8_t (*addrs)[16], const uint8_t *families,
			    size_t n)
{
	if (n > MAX_LOCAL_ADDRS)
		n = MAX_LOCAL_ADDRS; /* beyond it, the rest count as remote: documented */
	memcpy(p->local, addrs, n * 16);
	memcpy(p->local_family, families, n);
	p->nlocal = n;
	p->have_local = true;
	return 0;
}

/* Once per second of capture time: timeouts of fragments, flows and requests. */
static void advance(struct pktpath *p, uint64_t now_ns)
{
	if (now_ns > p->now_ns)
		p->now_ns = now_ns;
	if (p->now_ns / NS_PER_S == p->tick_ns / NS_PER_S)
		return;
	p->tick_ns = p->now_ns;
	pkt_decoder_expire(p->dec, p->now_ns);
	flow_table_tick(p->flows, p->now_ns);
	/* Every flow has handed over its seconds before now: those buckets are complete. */
	if (p->meter)
		net_meter_flush_before(p->meter, (int64_t)(p->now_ns / NS_PER_S));
	if (p->l7)
		intake_tick(p->l7, p->now_ns);
}

void pktpath_frame(void *ctx, int linktype, const uint8_t *data, uint32_t cap_len,
		   uint32_t wire_len, uint64_t ts_ns, uint8_t dir)
{
	struct pktpath *p = ctx;
	struct pkt pk;

	advance(p, ts_ns);
	if (pkt_decode(p->dec, linktype, data, cap_len, wire_len, ts_ns, &pk) != PKT_OK)
		return;
	/* Inside a tunnel the inner source is not the far end's own address. */
	if (p->veth && dir == PKT_DIR_IN && !pk.tunnel_tier)
		learn_behind(p, &pk);
	flow_table_packet(p->flows, &pk);
}

void pktpath_set_capture_point(struct pktpath *p, const char *nic, bool veth)
{
	snprintf(p->nic, sizeof(p->nic), "%s", nic ? nic : "");
	p->veth = veth;
}

void pktpath_tick(struct pktpath *p, uint64_t now_ns)
{
	advance(p, now_ns);
}

void pktpath_flush(struct pktpath *p, uint64_t now_ns)
{
	if (now_ns < p->now_ns)
		now_ns = p->now_ns;
	flow_table_flush(p->flows, now_ns);
	if (p->meter)
		net_meter_flush(p->meter);
	if (p->l7)
		intake_flush_all(p->l7, now_ns);
}

void pktpath_stats(const struct pktpath *p, struct pktpath_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->decode = *pkt_decoder_stats(p->dec);
	out->flow = *flow_table_stats(p->flows);
	if (p->l7) {
		out->l7 = p->l7->st;
		out->parsers = p->l7->pst;
	}
	if (p->meter)
		out->metrics = *net_meter_stats(p->meter);
}
