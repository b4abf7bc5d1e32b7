/* SPDX-License-Identifier: Apache-2.0 */
/* Event intake: see intake.h. */
#include "agent/intake.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Unconsumed bytes per direction never exceed this; parsers cap their header blocks well
 * below it (HTTP: 16 KiB), so hitting it means a parser bug or hostile input. */
#define LEFTOVER_MAX (64 * 1024)

struct pid_ref {
	uint32_t pid;
	uint32_t conns;
	UT_hash_handle hh;
};

bool intake_mem_take(struct intake *in, size_t n)
{
	if (in->st.mem_used + n > in->cfg.mem_budget)
		return false;
	in->st.mem_used += n;
	return true;
}

void intake_mem_give(struct intake *in, size_t n)
{
	in->st.mem_used = in->st.mem_used >= n ? in->st.mem_used - n : 0;
}

static void pid_ref_add(struct intake *in, uint32_t pid, int delta)
{
	struct pid_ref *r = NULL;

	HASH_FIND(hh, in->pids, &pid, sizeof(pid), r);
	if (!r) {
		if (delta < 0)
			return;
		r = calloc(1, sizeof(*r));
		if (!r)
			return; /* only an optimisation: exits then scan nothing for this pid */
		r->pid = pid;
		HASH_ADD(hh, in->pids, pid, sizeof(r->pid), r);
	}
	r->conns += delta;
	if (r->conns == 0) {
		HASH_DELETE(hh, in->pids, r);
		free(r);
	}
}

static void leftover_free(struct intake *in, struct conn_dir *d)
{
	if (!d->left)
		return;
	intake_mem_give(in, sizeof(*d->left) + d->left->cap);
	free(d->left->buf);
	free(d->left);
	d->left = NULL;
}

static void emit_msg(void *ctx, const struct proto_msg *m)
{
	struct intake *in = ctx;

	session_on_msg(in, in->cur_conn, m);
}

/* Table eviction (close, exit, idle, full, shutdown): finish what can be finished, free. */
static void on_evict(void *ctx, struct conn *c, uint64_t now_ns)
{
	struct intake *in = ctx;

	in->cur_conn = c;
	if (c->ops && c->pstate)
		c->ops->on_close(c->pstate, now_ns, emit_msg, in, &in->pst);
	session_flush_conn(in, c, in->evict_status);
	if (c->pstate) {
		if (c->ops->release)
			c->ops->release(c->pstate);
		free(c->pstate);
		intake_mem_give(in, c->ops->state_size);
	}
	leftover_free(in, &c->dir[0]);
	leftover_free(in, &c->dir[1]);
	pid_ref_add(in, c->pid, -1);
	in->cur_conn = NULL;
}

struct intake *intake_create(const struct intake_cfg *cfg, record_sink_fn sink, void *sink_ctx)
{
	struct intake *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->cfg = *cfg;
	if (in->cfg.max_pending == 0)
		in->cfg.max_pending = 1;
	in->sink = sink;
	in->sink_ctx = sink_ctx;
	in->evict_status = PROTO_STATUS_TIMEOUT;
	conn_table_init(&in->conns, cfg->max_conns, on_evict, in);
	return in;
}

void intake_destroy(struct intake *in)
{
	struct pid_ref *r, *tmp;

	if (!in)
		return;
	in->sink = NULL; /* destroying emits nothing */
	conn_table_clear(&in->conns, 0);
	while (in->spare) {
		struct pending_req *p = in->spare;

		in->spare = p->next_free;
		free(p);
	}
	HASH_ITER (hh, in->pids, r, tmp) {
		HASH_DELETE(hh, in->pids, r);
		free(r);
	}
	free(in);
}

/* The segments of data[from..len), offsets from data[from]: how many (at most
 * PROTO_MAX_SEGS) are in out. */
static size_t segs_from(const struct proto_input *pi, size_t from, struct proto_seg *out)
{
	size_t n = 0;

	for (size_t i = 0; i < pi->nsegs; i++) {
		const struct proto_seg *s = &pi->segs[i];
		size_t end = s->off + s->len;

		if (end <= from)
			continue;
		out[n] = *s;
		if (s->off < from) {
			/* Keep the event's timing; its sequence moves with the cut. */
			out[n].tcp_seq += from - s->off;
			out[n].len = end - from;
			out[n].off = 0;
		} else {
			out[n].off = s->off - from;
		}
		n++;
	}
	return n;
}

/* Keep data[consumed..len) (covered by segs) as the direction's leftover. */
static int keep_leftover(struct intake *in, struct conn_dir *d, const struct proto_input *pi,
			 size_t consumed)
{
	size_t rest = pi->len - consumed;
	struct leftover *l = d->left;
	struct proto_seg segs[PROTO_MAX_SEGS];
	size_t n = segs_from(pi, consumed, segs);

	if (!l) {
		if (!intake_mem_take(in, sizeof(*l)))
			return -ENOMEM;
		l = calloc(1, sizeof(*l));
		if (!l) {
			intake_mem_give(in, sizeof(*l));
			return -ENOMEM;
		}
		d->left = l;
	}
	if (rest > l->cap) {
		size_t ncap = rest < 4096 ? 4096 : rest;
		uint8_t *nb;

		if (!intake_mem_take(in, ncap - l->cap))
			return -ENOMEM;
		nb = malloc(ncap);
		if (!nb) {
			intake_mem_give(in, ncap - l->cap);
			return -ENOMEM;
		}
		memcpy(nb, pi->data + consumed, rest);
		free(l->buf);
		l->buf = nb;
		l->cap = ncap;
	} else {
		memmove(l->buf, pi->data + consumed, rest);
	}
	l->len = rest;
	memcpy(l->segs, segs, n * sizeof(segs[0]));
	l->nsegs = n;
	return 0;
}

/* Append an event to the leftover; returns -ENOMEM/-E2BIG when it cannot be kept. */
static int leftover_append(struct intake *in, struct leftover *l, const uint8_t *p, size_t n,
			   const struct proto_seg *seg)
{
	if (l->len + n > LEFTOVER_MAX)
		return -E2BIG;
	if (l->len + n > l->cap) {
		size_t ncap = l->cap * 2 > l->len + n ? l->cap * 2 : l->len + n;
		uint8_t *nb;

		if (ncap > LEFTOVER_MAX)
			ncap = LEFTOVER_MAX;
		if (!intake_mem_take(in, ncap - l->cap))
			return -ENOMEM;
		nb = realloc(l->buf, ncap);
		if (!nb) {
			intake_mem_give(in, ncap - l->cap);
			return -ENOMEM;
		}
		l->buf = nb;
		l->cap = ncap;
	}
	if (l->nsegs == PROTO_MAX_SEGS) {
		/* Fold the second segment into the first: the first byte keeps its exact time,
		 * and sequence numbers stay derivable because leftover bytes are contiguous. */
		l->segs[0].len += l->segs[1].len;
		l->segs[0].ts_end = l->segs[1].ts_end;
		memmove(&l->segs[1], &l->segs[2], (PROTO_MAX_SEGS - 2) * sizeof(l->segs[0]));
		l->nsegs--;
	}
	memcpy(l->buf + l->len, p, n);
	l->segs[l->nsegs] = *seg;
	l->segs[l->nsegs].off = l->len;
	l->nsegs++;
	l->len += n;
	return 0;
}

/* The partial message of one direction cannot be kept: drop it, and tell the parser,
 * which would otherwise expect those bytes again. */
static void drop_partial(struct intake *in, struct conn *c, uint8_t dir)
{
	in->st.drop_mem_budget++;
	leftover_free(in, &c->dir[dir]);
	if (c->ops->reset)
		c->ops->reset(c->pstate, dir);
}

/*
 * The parser reported a protocol switch (proto_msg.next_proto) and consumed the input up
 * to the message that made it. Put the new protocol's parser in its place, and make *pi
 * the rest of the input, at the start of the new protocol's byte streams. False when that
 * cannot be done (no such parser, no memory): the old parser goes on, and it consumes
 * what it no longer understands.
 */
static bool switch_parser(struct intake *in, struct conn *c, uint8_t dir, struct proto_input *pi,
			  size_t consumed, struct proto_seg *segs)
{
	const struct proto_ops *ops = proto_by_id(c->next_proto);
	void *st;

	c->next_proto = 0;
	if (!ops || ops == c->ops)
		return false;
	if (!intake_mem_take(in, ops->state_size)) {
		in->st.drop_mem_budget++;
		return false;
	}
	st = calloc(1, ops->state_size);
	if (!st) {
		intake_mem_give(in, ops->state_size);
		in->st.drop_mem_budget++;
		return false;
	}
	/* The switch ended the old protocol: its on_close() has nothing left to report. */
	if (c->ops->release)
		c->ops->release(c->pstate);
	free(c->pstate);
	intake_mem_give(in, c->ops->state_size);
	c->ops = ops;
	c->proto = ops->id;
	c->pstate = st;
	in->st.proto_switches++;
	/* The other direction's next byte is the new protocol's first. */
	leftover_free(in, &c->dir[!dir]);
	c->dir[!dir].stream_off = 0;
	pi->nsegs = segs_from(pi, consumed, segs);
	pi->segs = segs;
	pi->data += consumed;
	pi->len -= consumed;
	pi->event_start = pi->event_start > consumed ? pi->event_start - consumed : 0;
	pi->stream_off = 0;
	c->dir[dir].stream_off = pi->len + pi->gap;
	return true;
}

static void feed(struct intake *in, struct conn *c, const struct fs_event *ev,
		 const uint8_t *payload, uint64_t off_ns)
{
	uint8_t dir = ev->direction ? PROTO_DIR_INGRESS : PROTO_DIR_EGRESS;
	struct conn_dir *d = &c->dir[dir];
	uint64_t gap = ev->syscall_len > ev->cap_len ? ev->syscall_len - ev->cap_len : 0;
	struct proto_seg seg = {
		.off = 0,
		.len = ev->cap_len,
		/* A send starts when the call is made; a receive when the data is handed over. */
		.ts_start = (dir == PROTO_DIR_EGRESS ? ev->ts_enter_ns : ev->ts_exit_ns) + off_ns,
		.ts_end = ev->ts_exit_ns + off_ns,
		.tcp_seq = ev->tcp_seq,
	};
	struct proto_input pi = { .dir = dir, .gap = gap, .ctx = &c->pctx };
	struct proto_seg rest_segs[PROTO_MAX_SEGS];
	uint64_t msgs_before = in->st.messages;
	int rc;

	/* Nothing left over: this event begins the next message. */
	if (!d->left || !d->left->len) {
		d->msg_trace_id = ev->trace_id;
		d->msg_coroutine = ev->coroutine_id;
	}
	if (d->left && d->left->len) {
		rc = leftover_append(in, d->left, payload, ev->cap_len, &seg);
		if (rc)
			drop_partial(in, c, dir);
	}
	if (d->left && d->left->len) {
		pi.data = d->left->buf;
		pi.len = d->left->len;
		pi.segs = d->left->segs;
		pi.nsegs = d->left->nsegs;
		pi.stream_off = d->stream_off - (d->left->len - ev->cap_len);
		pi.event_start = d->left->segs[d->left->nsegs - 1].off;
	} else {
		pi.data = payload;
		pi.len = ev->cap_len;
		pi.segs = &seg;
		pi.nsegs = 1;
		pi.stream_off = d->stream_off;
		pi.event_start = 0;
	}
	d->stream_off += ev->cap_len + gap;

	rc = c->ops->parse(c->pstate, &pi, emit_msg, in, &in->pst);
	if (rc >= 0 && c->next_proto && switch_parser(in, c, dir, &pi, (size_t)rc, rest_segs))
		rc = pi.len ? c->ops->parse(c->pstate, &pi, emit_msg, in, &in->pst) : 0;
	if (rc == PROTO_ERROR || rc < 0) {
		leftover_free(in, d);
		return;
	}
	/* A datagram is a message of its own: what its parser left is not continued by the
	 * next one. */
	if ((size_t)rc >= pi.len || gap || c->l4_proto == IPPROTO_UDP) {
		/* All consumed (or a gap follows, after which leftovers cannot continue). Free
		 * the buffer: most connections need one only briefly, for a split header. */
		leftover_free(in, d);
		return;
	}
	if (keep_leftover(in, d, &pi, rc))
		drop_partial(in, c, dir);
	/* A message ended inside this event and the rest begins the next one. */
	if (in->st.messages != msgs_before) {
		d->msg_trace_id = ev->trace_id;
		d->msg_coroutine = ev->coroutine_id;
	}
}

/* The first parser sure of the bytes, else the first that finds them plausible. */
static const struct proto_ops *detect(const uint8_t *p, size_t n, uint8_t dir,
				      const struct proto_ctx *ctx)
{
	const struct proto_ops *maybe = NULL;

	for (size_t i = 0; proto_detect_order[i]; i++) {
		const struct proto_ops *ops = proto_detect_order[i];
		enum proto_detect d = ops->detect(p, n, dir, ctx);

		if (d == PROTO_DETECT_YES)
			return ops;
		if (d == PROTO_DETECT_MAYBE && !maybe)
			maybe = ops;
	}
	return maybe;
}

static void on_data(struct intake *in, const struct fs_event *ev, const uint8_t *payload,
		    uint64_t off_ns)
{
	uint64_t now = ev->ts_exit_ns + off_ns;
	struct conn *c = conn_lookup(&in->conns, ev->socket_id);

	in->st.events_data++;
	in->st.bytes += ev->syscall_len;
	if (!c) {
		c = conn_create(&in->conns, ev->socket_id, now);
		if (!c) {
			in->st.drop_mem_budget++;
			return;
		}
		c->pid = ev->pid;
		memcpy(c->comm, ev->comm, sizeof(c->comm));
		c->comm[sizeof(c->comm) - 1] = 0;
		c->family = ev->family;
		c->l4_proto = ev->l4_proto;
		memcpy(c->saddr, ev->saddr, 16);
		memcpy(c->daddr, ev->daddr, 16);
		c->sport = ev->sport;
		c->dport = ev->dport;
		c->pctx.l4_proto = ev->l4_proto;
		c->pctx.opts = in->cfg.proto_opts;
		if (ev->role == FS_ROLE_CLIENT) {
			c->pctx.role = PROTO_ROLE_CLIENT;
			c->pctx.server_port = ev->dport;
		} else if (ev->role == FS_ROLE_SERVER) {
			c->pctx.role = PROTO_ROLE_SERVER;
			c->pctx.server_port = ev->sport;
		}
		pid_ref_add(in, c->pid, 1);
	} else {
		conn_touch(&in->conns, c, now);
	}
	in->cur_conn = c;
	if (!c->ops) {
		const struct proto_ops *ops =
			ev->cap_len ? detect(payload, ev->cap_len, ev->direction, &c->pctx) : NULL;

		if (!ops) {
			in->st.unclassified++;
			c->dir[ev->direction ? 1 : 0].stream_off += ev->syscall_len;
			return;
		}
		if (!intake_mem_take(in, ops->state_size)) {
			in->st.drop_mem_budget++;
			return;
		}
		c->pstate = calloc(1, ops->state_size);
		if (!c->pstate) {
			intake_mem_give(in, ops->state_size);
			in->st.drop_mem_budget++;
			return;
		}
		c->ops = ops;
		c->proto = ops->id;
	}
	feed(in, c, ev, payload, off_ns);
}

static void on_proc_exit(struct intake *in, const struct fs_event *ev, uint64_t now)
{
	struct pid_ref *r = NULL;
	struct conn *c, *tmp;
	uint32_t pid = ev->pid;

	HASH_FIND(hh, in->pids, &pid, sizeof(pid), r);
	if (!r)
		return;
	conn_table_foreach (&in->conns, c, tmp) {
		if (c->pid == pid)
			conn_remove(&in->conns, c, now);
	}
}

static void event_done(struct intake *in)
{
	in->cur_ev = NULL;
	in->cur_conn = NULL;
	in->st.conns_active = in->conns.count;
	if (in->st.conns_active > in->st.conns_peak)
		in->st.conns_peak = in->st.conns_active;
	in->st.conns_evicted_full = in->conns.evicted_full;
}

int intake_event(struct intake *in, const void *data, size_t size, uint64_t off_ns)
{
	const struct fs_event *ev = data;
	struct conn *c;

	if (size < sizeof(*ev) || ev->cap_len > FS_CAP_MAX || size < sizeof(*ev) + ev->cap_len) {
		in->st.events_malformed++;
		return -EINVAL;
	}
	in->cur_ev = ev;
	switch (ev->type) {
	case FS_EV_DATA: on_data(in, ev, (const uint8_t *)(ev + 1), off_ns); break;
	case FS_EV_CLOSE:
		in->st.events_close++;
		c = conn_lookup(&in->conns, ev->socket_id);
		if (c)
			conn_remove(&in->conns, c, ev->ts_exit_ns + off_ns);
		break;
	case FS_EV_PROC_EXIT:
		in->st.events_exit++;
		on_proc_exit(in, ev, ev->ts_exit_ns + off_ns);
		break;
	default:
		in->st.events_malformed++;
		in->cur_ev = NULL;
		return -EINVAL;
	}
	event_done(in);
	return 0;
}

void intake_data(struct intake *in, const struct fs_event *ev, const uint8_t *payload)
{
	in->cur_ev = ev;
	on_data(in, ev, payload, 0);
	event_done(in);
}

void intake_close(struct intake *in, uint64_t socket_id, uint64_t now_ns)
{
	struct conn *c = conn_lookup(&in->conns, socket_id);

	in->st.events_close++;
	if (c)
		conn_remove(&in->conns, c, now_ns);
	event_done(in);
}

void intake_tick(struct intake *in, uint64_t now_ns)
{
	struct conn *c, *tmp;

	conn_table_foreach (&in->conns, c, tmp) {
		if (c->pending_count) {
			in->cur_conn = c;
			session_expire(in, c, now_ns);
		}
	}
	in->cur_conn = NULL;
	conn_table_expire(&in->conns, now_ns, in->cfg.conn_idle_ns);
	in->st.conns_active = in->conns.count;
	in->st.conns_evicted_idle = in->conns.evicted_idle;
}

void intake_flush_all(struct intake *in, uint64_t now_ns)
{
	in->evict_status = PROTO_STATUS_UNKNOWN;
	conn_table_clear(&in->conns, now_ns);
	in->evict_status = PROTO_STATUS_TIMEOUT;
	in->st.conns_active = 0;
}
