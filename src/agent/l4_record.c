/* SPDX-License-Identifier: Apache-2.0 */
/* l4_flow_log JSON lines: see l4_record.h. */
#include "agent/l4_record.h"

#include <stdio.h>

#include <arpa/inet.h>

#include "agent/record.h"

static void put_ip(struct jsonw *w, int side, uint8_t family, const uint8_t *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, a, buf, sizeof(buf)))
		buf[0] = 0;
	if (family == 4 && side == 0)
		jsonw_cstr(w, "ip4_0", buf);
	else if (family == 4)
		jsonw_cstr(w, "ip4_1", buf);
	else if (side == 0)
		jsonw_cstr(w, "ip6_0", buf);
	else
		jsonw_cstr(w, "ip6_1", buf);
}

static void put_mac(struct jsonw *w, int side, const uint8_t *m)
{
	char buf[18];

	snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
		 m[5]);
	if (side == 0)
		jsonw_cstr(w, "mac_0", buf);
	else
		jsonw_cstr(w, "mac_1", buf);
}

/* Latencies: NULL-free like DeepFlow's columns (0 = not measured). */
#define U(k, v) jsonw_u64(w, k, (v))

int l4_record_write_json(struct jsonw *w, const struct l4_record *rec)
{
	const struct l4_flow_rec *r = &rec->f;
	const struct pkt_tunnel *t = &r->tunnel;

	jsonw_begin(w);
	jsonw_cstr(w, "table", "l4_flow_log");
	U("time", r->time_ns / 1000000000ull);
	U("start_time", r->start_ns / 1000);
	U("end_time", r->end_ns / 1000);
	U("duration", r->end_ns > r->start_ns ? (r->end_ns - r->start_ns) / 1000 : 0);
	U("flow_id", r->flow_id);
	U("close_type", r->close_type);
	jsonw_cstr(w, "close_type_name", flow_close_type_name(r->close_type));
	U("is_new_flow", r->is_new_flow);
	U("signal_source", REC_SIGNAL_PACKET);
	jsonw_cstr(w, "observation_point", record_obs_name(rec->obs));
	jsonw_cstr(w, "capture_nic", rec->capture_nic);
	put_ip(w, 0, r->family, r->addr0);
	put_ip(w, 1, r->family, r->addr1);
	U("client_port", r->client_port);
	U("server_port", r->server_port);
	U("protocol", r->l4_proto);
	jsonw_cstr(w, "l7_protocol", proto_name(rec->l7_proto));
	put_mac(w, 0, r->mac0);
	put_mac(w, 1, r->mac1);
	U("vlan", r->vlan);
	U("tunnel_tier", r->tunnel_tier);
	U("tunnel_type", r->tunnel_tier ? t->type : 0);
	jsonw_cstr(w, "tunnel_type_name", r->tunnel_tier ? pkt_tunnel_name(t->type) : "");
	U("tunnel_id", r->tunnel_tier ? t->id : 0);
	if (r->tunnel_tier) {
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
		int af = t->family == 4 ? AF_INET : AF_INET6;

		if (!inet_ntop(af, t->src, a, sizeof(a)))
			a[0] = 0;
		if (!inet_ntop(af, t->dst, b, sizeof(b)))
			b[0] = 0;
		jsonw_cstr(w, "tunnel_ip_0", a);
		jsonw_cstr(w, "tunnel_ip_1", b);
	} else {
		jsonw_cstr(w, "tunnel_ip_0", "");
		jsonw_cstr(w, "tunnel_ip_1", "");
	}
	U("tcp_flags_bit_0", r->tcp_flags_bit_0);
	U("tcp_flags_bit_1", r->tcp_flags_bit_1);
	U("syn_seq", r->syn_seq);
	U("syn_ack_seq", r->syn_ack_seq);
	U("packet_tx", r->packet_tx);
	U("packet_rx", r->packet_rx);
	U("byte_tx", r->byte_tx);
	U("byte_rx", r->byte_rx);
	U("l3_byte_tx", r->l3_byte_tx);
	U("l3_byte_rx", r->l3_byte_rx);
	U("l4_byte_tx", r->l4_byte_tx);
	U("l4_byte_rx", r->l4_byte_rx);
	U("rtt", r->rtt);
	U("rtt_client", r->rtt_client);
	U("rtt_server", r->rtt_server);
	U("srt_sum", r->srt_sum);
	U("srt_count", r->srt_count);
	U("srt_max", r->srt_max);
	U("art_sum", r->art_sum);
	U("art_count", r->art_count);
	U("art_max", r->art_max);
	U("cit_sum", r->cit_sum);
	U("cit_count", r->cit_count);
	U("cit_max", r->cit_max);
	U("retrans_tx", r->retrans_tx);
	U("retrans_rx", r->retrans_rx);
	U("ooo_tx", r->ooo_tx);
	U("ooo_rx", r->ooo_rx);
	U("zero_win_tx", r->zero_win_tx);
	U("zero_win_rx", r->zero_win_rx);
	U("syn_count", r->syn_count);
	U("synack_count", r->synack_count);
	U("retrans_syn", r->retrans_syn);
	U("retrans_synack", r->retrans_synack);
	U("fin_count", r->fin_count);
	U("rst_count", r->rst_count);
	return jsonw_end(w);
}
