/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Session pairing: requests wait in a per-connection ring until their response arrives
 * (by order, or by the protocol's session id when it has one) and leave as one type-2
 * record. A response with nothing waiting leaves alone (type 1); a request whose response
 * never comes leaves alone (type 0) with response_status timeout.
 */
#include "agent/intake.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/*
 * The data event being parsed when it carries its own peer: a UDP socket that is not
 * connected (dnsmasq serving every client from one socket) talks to a different peer with
 * each datagram, and the kernel side reports each datagram's (recvfrom / sendto /
 * msg_name). A connected socket's events all carry its one peer, so this changes nothing
 * for it. NULL otherwise: TCP, or no data event of this connection under way (a close).
 */
static const struct fs_event *datagram_ev(const struct intake *in, const struct conn *c)
{
	const struct fs_event *ev = in->cur_ev;

	if (c->l4_proto != IPPROTO_UDP || !ev || ev->type != FS_EV_DATA ||
	    ev->socket_id != c->socket_id || !ev->dport)
		return NULL;
	return ev;
}

/* Fill the network/process fields of a new record from the connection and the message. */
static void record_init(struct intake *in, struct conn *c, struct l7_record *r,
			const struct proto_msg *m)
{
	/* Whoever sends the request is the client: an egress request means we are it. */
	bool local_is_client = (m->kind == PROTO_MSG_REQUEST) == (m->dir == PROTO_DIR_EGRESS);
	const struct fs_event *dg = datagram_ev(in, c);
	const uint8_t *saddr = dg ? dg->saddr : c->saddr, *daddr = dg ? dg->daddr : c->daddr;
	uint16_t sport = dg ? dg->sport : c->sport, dport = dg ? dg->dport : c->dport;

	record_reset(r);
	r->code = -1;
	r->status = PROTO_STATUS_UNKNOWN;
	r->family = dg ? dg->family : c->family;
	r->l4_proto = c->l4_proto;
	r->l7_proto = m->proto_override ? m->proto_override : c->proto;
	r->obs = local_is_client ? REC_OBS_CLIENT_PROCESS : REC_OBS_SERVER_PROCESS;
	if (in->cfg.packet)
		r->signal_source = REC_SIGNAL_PACKET;
	if (local_is_client) {
		memcpy(r->addr0, saddr, 16);
		memcpy(r->addr1, daddr, 16);
		r->client_port = sport;
		r->server_port = dport;
	} else {
		memcpy(r->addr0, daddr, 16);
		memcpy(r->addr1, saddr, 16);
		r->client_port = dport;
		r->server_port = sport;
	}
	r->pid = in->cur_ev ? in->cur_ev->pid : c->pid;
	memcpy(r->comm, c->comm, sizeof(r->comm));
}

/* The ids of the message's first syscall (kept per direction by feed()). */
static void set_req_ids(struct l7_record *r, const struct conn *c, const struct proto_msg *m)
{
	const struct conn_dir *d = &c->dir[m->dir == PROTO_DIR_INGRESS ? 1 : 0];

	r->req_syscall_trace_id = d->msg_trace_id;
	r->req_coroutine = d->msg_coroutine;
}

static void set_resp_ids(struct l7_record *r, const struct conn *c, const struct proto_msg *m)
{
	const struct conn_dir *d = &c->dir[m->dir == PROTO_DIR_INGRESS ? 1 : 0];

	r->resp_syscall_trace_id = d->msg_trace_id;
	r->resp_coroutine = d->msg_coroutine;
}

static void emit(struct intake *in, struct l7_record *r, uint8_t type)
{
	r->type = type;
	in->st.records[type]++;
	if (in->sink)
		in->sink(in->sink_ctx, r);
}

static struct pending_req *ring_pop(struct conn *c, uint32_t idx_from_head, uint32_t max)
{
	uint32_t pos = (c->pending_head + idx_from_head) % max;
	struct pending_req *p = c->pending[pos];

	/* Close the hole: shift the later entries one slot towards the head. */
	for (uint32_t i = idx_from_head; i + 1 < c->pending_count; i++) {
		uint32_t a = (c->pending_head + i) % max, b = (c->pending_head + i + 1) % max;

		c->pending[a] = c->pending[b];
	}
	c->pending_count--;
	if (c->pending_count == 0)
		c->pending_head = 0;
	return p;
}

static void release(struct intake *in, struct pending_req *p)
{
	if (in->nspare < INTAKE_SPARE_REQS) {
		p->next_free = in->spare;
		in->spare = p;
		in->nspare++;
		return;
	}
	free(p);
	intake_mem_give(in, sizeof(*p));
}

/* A pending request: a spare one (already charged), or a new one within the budget. */
static struct pending_req *pending_alloc(struct intake *in)
{
	struct pending_req *p = in->spare;

	if (p) {
		in->spare = p->next_free;
		in->nspare--;
		return p;
	}
	if (!intake_mem_take(in, sizeof(*p)))
		return NULL;
	p = malloc(sizeof(*p));
	if (!p)
		intake_mem_give(in, sizeof(*p));
	return p;
}

static void emit_lone_request(struct intake *in, struct pending_req *p, uint8_t status)
{
	p->rec.status = status;
	if (status == PROTO_STATUS_TIMEOUT)
		in->st.timeouts++;
	emit(in, &p->rec, REC_TYPE_REQUEST);
	release(in, p);
}

static void on_request(struct intake *in, struct conn *c, const struct proto_msg *m)
{
	uint32_t max = in->cfg.max_pending;
	struct pending_req *p;

	if (!c->pending) {
		if (!intake_mem_take(in, max * sizeof(*c->pending)))
			goto no_mem;
		c->pending = calloc(max, sizeof(*c->pending));
		if (!c->pending) {
			intake_mem_give(in, max * sizeof(*c->pending));
			goto no_mem;
		}
	}
	if (c->pending_count == max) {
		/* A client that pipelines more than we keep: the oldest leaves unanswered. */
		in->st.drop_pending_overflow++;
		emit_lone_request(in, ring_pop(c, 0, max), PROTO_STATUS_UNKNOWN);
	}
	p = pending_alloc(in);
	if (!p)
		goto no_mem;
	record_init(in, c, &p->rec, m);
	record_set_request(&p->rec, m);
	p->rec.req_tid = in->cur_ev ? in->cur_ev->tid : 0;
	set_req_ids(&p->rec, c, m);
	p->deadline_ns = m->end_ts + in->cfg.request_timeout_ns;
	p->has_session_id = m->has_session_id;
	p->session_id = m->session_id;
	c->pending[(c->pending_head + c->pending_count) % max] = p;
	c->pending_count++;
	return;
no_mem:
	in->st.drop_mem_budget++;
}

/* Was the pending request exchanged with the peer of this datagram? (The remote end of
 * its record: the server when we are the client, else the client.) */
static bool same_peer(const struct l7_record *r, const struct fs_event *dg)
{
	bool local_client = r->obs == REC_OBS_CLIENT_PROCESS;

	return r->family == dg->family &&
	       !memcmp(local_client ? r->addr1 : r->addr0, dg->daddr, 16) &&
	       (local_client ? r->server_port : r->client_port) == dg->dport;
}

static void on_response(struct intake *in, struct conn *c, const struct proto_msg *m)
{
	uint32_t max = in->cfg.max_pending;
	const struct fs_event *dg = datagram_ev(in, c);
	struct pending_req *p = NULL;
	struct l7_record lone;

	for (uint32_t i = 0; i < c->pending_count; i++) {
		struct pending_req *q = c->pending[(c->pending_head + i) % max];

		/* One socket, many peers: an answer goes with a request of its own peer only
		 * (two clients may well use the same DNS transaction id). */
		if (dg && !same_peer(&q->rec, dg))
			continue;
		if (m->has_session_id ? (q->has_session_id && q->session_id == m->session_id)
				      : !q->has_session_id) {
			p = ring_pop(c, i, max);
			break;
		}
	}
	if (p) {
		record_set_response(&p->rec, m);
		p->rec.resp_tid = in->cur_ev ? in->cur_ev->tid : 0;
		set_resp_ids(&p->rec, c, m);
		emit(in, &p->rec, REC_TYPE_SESSION);
		release(in, p);
		return;
	}
	record_init(in, c, &lone, m);
	record_set_response(&lone, m);
	lone.resp_tid = in->cur_ev ? in->cur_ev->tid : 0;
	set_resp_ids(&lone, c, m);
	emit(in, &lone, REC_TYPE_RESPONSE);
}

/* A message that takes part in no exchange (PROTO_MSG_F_NO_RESPONSE / _UNSOLICITED): it
 * leaves alone at once, and the requests waiting by order are left for their responses. */
static void emit_alone(struct intake *in, struct conn *c, const struct proto_msg *m)
{
	struct l7_record r;

	record_init(in, c, &r, m);
	if (m->kind == PROTO_MSG_REQUEST) {
		record_set_request(&r, m);
		r.status = PROTO_STATUS_OK;
		r.req_tid = in->cur_ev ? in->cur_ev->tid : 0;
		set_req_ids(&r, c, m);
		emit(in, &r, REC_TYPE_REQUEST);
	} else {
		record_set_response(&r, m);
		r.resp_tid = in->cur_ev ? in->cur_ev->tid : 0;
		set_resp_ids(&r, c, m);
		emit(in, &r, REC_TYPE_RESPONSE);
	}
}

void session_on_msg(struct intake *in, struct conn *c, const struct proto_msg *m)
{
	in->st.messages++;
	/* A switch of protocols (HTTP/1.1 101 to h2c) is no exchange of its own: the request
	 * that asked for it waits for its answer in the new protocol. */
	if (m->next_proto) {
		c->next_proto = m->next_proto;
		return;
	}
	if (m->flags & (PROTO_MSG_F_NO_RESPONSE | PROTO_MSG_F_UNSOLICITED))
		emit_alone(in, c, m);
	else if (m->kind == PROTO_MSG_REQUEST)
		on_request(in, c, m);
	else
		on_response(in, c, m);
}

void session_flush_conn(struct intake *in, struct conn *c, uint8_t status)
{
	uint32_t max = in->cfg.max_pending;

	while (c->pending_count)
		emit_lone_request(in, ring_pop(c, 0, max), status);
	if (c->pending) {
		free(c->pending);
		c->pending = NULL;
		intake_mem_give(in, max * sizeof(*c->pending));
	}
}

void session_expire(struct intake *in, struct conn *c, uint64_t now_ns)
{
	uint32_t max = in->cfg.max_pending;

	/* Oldest first: stop at the first request still within its deadline. */
	while (c->pending_count && c->pending[c->pending_head]->deadline_ns <= now_ns)
		emit_lone_request(in, ring_pop(c, 0, max), PROTO_STATUS_TIMEOUT);
}
