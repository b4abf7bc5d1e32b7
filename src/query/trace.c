/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trace assembly, the pure half (trace.h): link rules, span sets, parent links, self time,
 * pruning. Everything works on an array of spans and indexes into it; n is bounded by
 * trace_cfg.max_spans, so the quadratic passes stay small (1000 spans: 10^6 cheap checks).
 */
#include "query/trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void trace_cfg_defaults(struct trace_cfg *cfg)
{
	if (!cfg->delay_us)
		cfg->delay_us = TRACE_DEF_DELAY_US;
	if (!cfg->window_s)
		cfg->window_s = TRACE_DEF_WINDOW_S;
	if (!cfg->max_rounds)
		cfg->max_rounds = TRACE_DEF_MAX_ROUNDS;
	if (!cfg->max_spans)
		cfg->max_spans = TRACE_DEF_MAX_SPANS;
	if (cfg->max_spans > TRACE_MAX_SPANS)
		cfg->max_spans = TRACE_MAX_SPANS;
}

static bool obs_is(const struct trace_span *s, const char *name)
{
	return !strcmp(s->observation_point, name);
}

int trace_local_side(const struct trace_span *s)
{
	if (obs_is(s, "c-p"))
		return 0;
	if (obs_is(s, "s-p"))
		return 1;
	return -1;
}

const char *trace_auto_service(const struct trace_span *s)
{
	int side = trace_local_side(s);

	return side < 0 ? "" : s->process_kname[side];
}

/*
 * Where a span sits on the path of one message, client first: the order of a network
 * span set (c-p -> c -> c-nd -> local/rest -> s-nd -> s -> s-p). -1: not a hop of a
 * network path (app spans).
 */
static int side_rank(const struct trace_span *s)
{
	static const char *const ranks[] = {
		"c-p", "c", "c-nd", "local", "rest", "s-nd", "s", "s-p"
	};
	static const int rank[] = { 0, 1, 2, 3, 3, 4, 5, 6 };

	for (size_t i = 0; i < sizeof(ranks) / sizeof(ranks[0]); i++)
		if (obs_is(s, ranks[i]))
			return rank[i];
	return -1;
}

static int64_t i64_abs(int64_t v)
{
	return v < 0 ? -v : v;
}

static int64_t duration(const struct trace_span *s)
{
	return s->end_us > s->start_us ? s->end_us - s->start_us : 0;
}

/* Both set and different. */
static bool str_conflict(const char *a, const char *b)
{
	return *a && *b && strcmp(a, b);
}

/* HTTP2 and gRPC are one protocol seen at two depths. */
static bool proto_conflict(const char *a, const char *b)
{
	bool ga = !strcmp(a, "gRPC") || !strcmp(a, "HTTP2");
	bool gb = !strcmp(b, "gRPC") || !strcmp(b, "HTTP2");

	return !(ga && gb) && str_conflict(a, b);
}

/*
 * Two records of one message (a network path's hops) must not disagree on what the
 * message was: every field both have must be equal. Responses may be missing on one
 * side (a lone request), so only codes both have are compared.
 */
static bool fields_conflict(const struct trace_span *a, const struct trace_span *b)
{
	if (a->protocol != b->protocol || proto_conflict(a->l7_protocol, b->l7_protocol))
		return true;
	if (*a->trace_id && *b->trace_id &&
	    (strcmp(a->trace_id, b->trace_id) || str_conflict(a->span_id, b->span_id)))
		return true;
	if (str_conflict(a->x_request_id[0], b->x_request_id[0]) ||
	    str_conflict(a->x_request_id[1], b->x_request_id[1]) ||
	    str_conflict(a->request_type, b->request_type) ||
	    str_conflict(a->request_domain, b->request_domain) ||
	    str_conflict(a->request_resource, b->request_resource) ||
	    str_conflict(a->endpoint, b->endpoint))
		return true;
	if (a->request_id >= 0 && b->request_id >= 0 && a->request_id != b->request_id)
		return true;
	if (a->response_code >= 0 && b->response_code >= 0 && a->response_code != b->response_code)
		return true;
	return str_conflict(a->response_exception, b->response_exception);
}

/* NAT may rewrite one port of a connection, rarely both: one pair must agree. */
static bool ports_agree(const struct trace_span *a, const struct trace_span *b)
{
	return a->client_port == b->client_port || a->server_port == b->server_port;
}

/*
 * The times of one exchange seen at two points of its path, x nearer the client than y,
 * both with request and response: y's lies within x's, up to Δ (clock offset). Not "starts
 * within Δ": a busy server reads a request long after it was sent (it waits in the socket
 * buffer: 60 ms under the demo's load), and a busy client reads the response late.
 */
static bool tcp_times_nested(const struct trace_cfg *cfg, const struct trace_span *a,
			     const struct trace_span *b)
{
	const struct trace_span *x = side_rank(a) < side_rank(b) ? a : b;
	const struct trace_span *y = x == a ? b : a;

	return y->start_us >= x->start_us - cfg->delay_us && y->end_us <= x->end_us + cfg->delay_us;
}

/*
 * tcp_seq: the same request (equal req_tcp_seq, starts within Δ) or the same response
 * (equal resp_tcp_seq, ends within Δ); when both records have both halves, both must
 * agree, and then the times need only nest (tcp_times_nested). Never two c-p or two s-p:
 * a message has one sender and one receiver.
 */
static bool tcp_linked(const struct trace_cfg *cfg, const struct trace_span *a,
		       const struct trace_span *b)
{
	bool req = a->req_tcp_seq && b->req_tcp_seq;
	bool resp = a->resp_tcp_seq && b->resp_tcp_seq;
	int la = trace_local_side(a), lb = trace_local_side(b);
	bool nested;

	if (a->protocol != 6 || (la >= 0 && la == lb) || side_rank(a) < 0 || side_rank(b) < 0)
		return false;
	if (!req && !resp)
		return false;
	if ((req && a->req_tcp_seq != b->req_tcp_seq) ||
	    (resp && a->resp_tcp_seq != b->resp_tcp_seq))
		return false;
	nested = req && resp && side_rank(a) != side_rank(b) && tcp_times_nested(cfg, a, b);
	if (!nested && req && i64_abs(a->start_us - b->start_us) > cfg->delay_us)
		return false;
	if (!nested && resp && i64_abs(a->end_us - b->end_us) > cfg->delay_us)
		return false;
	return ports_agree(a, b) && !fields_conflict(a, b);
}

/* DNS over UDP has no tcp_seq: the query id, the ports and the time name the exchange. */
static bool dns_linked(const struct trace_cfg *cfg, const struct trace_span *a,
		       const struct trace_span *b)
{
	int la = trace_local_side(a), lb = trace_local_side(b);

	if (strcmp(a->l7_protocol, "DNS") || strcmp(b->l7_protocol, "DNS") || a->request_id < 0 ||
	    a->request_id != b->request_id)
		return false;
	if ((la >= 0 && la == lb) || side_rank(a) < 0 || side_rank(b) < 0)
		return false;
	return a->client_port == b->client_port && a->server_port == b->server_port &&
	       i64_abs(a->start_us - b->start_us) <= cfg->delay_us && !fields_conflict(a, b);
}

static bool same_process(const struct trace_span *a, const struct trace_span *b)
{
	int la = trace_local_side(a), lb = trace_local_side(b);

	return la >= 0 && lb >= 0 && a->process_id[la] && a->process_id[la] == b->process_id[lb] &&
	       !strcmp(a->process_kname[la], b->process_kname[lb]);
}

/* The span's syscall trace ids, 0 where batched (trace_mark_batched). */
static int64_t st_req(const struct trace_span *s)
{
	return s->st_batched[0] ? 0 : s->syscall_trace_id_request;
}

static int64_t st_resp(const struct trace_span *s)
{
	return s->st_batched[1] ? 0 : s->syscall_trace_id_response;
}

/* A syscall trace id that says something: set, and not both halves' (no I/O between). */
static bool strace_useful(const struct trace_span *s)
{
	return (st_req(s) || st_resp(s)) &&
	       s->syscall_trace_id_request != s->syscall_trace_id_response;
}

static bool strace_has(const struct trace_span *s, int64_t id)
{
	return id && (st_req(s) == id || st_resp(s) == id);
}

struct batched_key {
	int64_t id, seq;
	int port;
};

static int cmp_batched(const void *x, const void *y)
{
	const struct batched_key *a = x, *b = y;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return (a->port > b->port) - (a->port < b->port);
}

static bool id_in(const int64_t *ids, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;

	while (id && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ids[mid] == id)
			return true;
		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int trace_mark_batched(struct trace_span *s, size_t n)
{
	struct batched_key *k = malloc((n ? n : 1) * sizeof(*k));
	int64_t *bad = malloc((n ? n : 1) * sizeof(*bad));
	size_t nk = 0, nbad = 0;

	if (!k || !bad) {
		free(k);
		free(bad);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (obs_is(&s[i], "c-p") && s[i].syscall_trace_id_response)
			k[nk++] = (struct batched_key){ s[i].syscall_trace_id_response,
							s[i].req_tcp_seq, s[i].client_port };
	qsort(k, nk, sizeof(*k), cmp_batched);
	/* Sorted by id, then message: an id is batched when its first and last differ. */
	for (size_t i = 0, j; i < nk; i = j) {
		for (j = i + 1; j < nk && k[j].id == k[i].id; j++)
			;
		if (k[i].seq != k[j - 1].seq || k[i].port != k[j - 1].port)
			bad[nbad++] = k[i].id; /* ascending: k is sorted by id */
	}
	for (size_t i = 0; i < n; i++) {
		s[i].st_batched[0] = id_in(bad, nbad, s[i].syscall_trace_id_request);
		s[i].st_batched[1] = id_in(bad, nbad, s[i].syscall_trace_id_response);
	}
	free(k);
	free(bad);
	return 0;
}

/*
 * syscall_trace_id: one thread of one process received the one message and then sent the
 * other (DESIGN §3). So: same process, either id of one among the other's, never two s-p
 * (each inbound request takes a new id), and the two within the window of each other.
 */
static bool syscall_linked(const struct trace_cfg *cfg, const struct trace_span *a,
			   const struct trace_span *b)
{
	if (!same_process(a, b) || (obs_is(a, "s-p") && obs_is(b, "s-p")))
		return false;
	if (!strace_useful(a) || !strace_useful(b))
		return false;
	if (!strace_has(b, a->syscall_trace_id_request) &&
	    !strace_has(b, a->syscall_trace_id_response))
		return false;
	return a->start_us <= b->end_us + cfg->delay_us && b->start_us <= a->end_us + cfg->delay_us;
}

/* The intervals overlap, give or take Δ. */
static bool overlap(const struct trace_cfg *cfg, const struct trace_span *a,
		    const struct trace_span *b)
{
	return a->start_us <= b->end_us + cfg->delay_us && b->start_us <= a->end_us + cfg->delay_us;
}

/*
 * X-Request-ID: a gateway that injects one gives its inbound response and its outbound
 * request the same id (x_request_id_1 == x_request_id_0), one that passes it on gives
 * both requests the same (x_request_id_0 == x_request_id_0).
 */
static bool xreq_linked(const struct trace_cfg *cfg, const struct trace_span *a,
			const struct trace_span *b)
{
	const char *a0 = a->x_request_id[0], *a1 = a->x_request_id[1];
	const char *b0 = b->x_request_id[0], *b1 = b->x_request_id[1];

	if (!((*a0 && (!strcmp(a0, b0) || !strcmp(a0, b1))) || (*a1 && !strcmp(a1, b0))))
		return false;
	return overlap(cfg, a, b);
}

unsigned trace_linked(const struct trace_cfg *cfg, const struct trace_span *a,
		      const struct trace_span *b)
{
	unsigned k = 0;

	if (a == b)
		return 0;
	if (tcp_linked(cfg, a, b))
		k |= TRACE_LINK_TCP_SEQ;
	if (dns_linked(cfg, a, b))
		k |= TRACE_LINK_DNS;
	if (syscall_linked(cfg, a, b))
		k |= TRACE_LINK_SYSCALL;
	if (xreq_linked(cfg, a, b))
		k |= TRACE_LINK_X_REQUEST;
	/* A trace id names one distributed request (128 random bits): equal is related. */
	if (*a->trace_id && !strcmp(a->trace_id, b->trace_id))
		k |= TRACE_LINK_APP;
	return k;
}

/* ---- union-find ---- */

static size_t uf_find(size_t *uf, size_t i)
{
	while (uf[i] != i) {
		uf[i] = uf[uf[i]];
		i = uf[i];
	}
	return i;
}

static void uf_union(size_t *uf, size_t a, size_t b)
{
	a = uf_find(uf, a);
	b = uf_find(uf, b);
	if (a != b)
		uf[a > b ? a : b] = a < b ? a : b;
}

/* ---- tree ---- */

struct build {
	const struct trace_cfg *cfg;
	struct trace_span *s;
	size_t n;
	size_t *net; /* union-find: network span sets (tcp_seq / DNS) */
	size_t *sys; /* union-find: one thread's syscall chain within a process */
	int *tail;   /* per net-set root: the last member (index), -1 */
	size_t *tmp;
};

/* Whether p is s itself or below s (following parents). */
static bool is_below(const struct build *b, int p, int s)
{
	for (size_t guard = 0; p >= 0 && guard <= b->n; guard++) {
		if (p == s)
			return true;
		p = b->s[p].parent;
	}
	return false;
}

static void set_parent(struct build *b, size_t child, int parent, unsigned link)
{
	b->s[child].parent = parent;
	b->s[child].link = link;
}

/* Network set order (qsort_r over indexes into ctx, the spans): client side first, then
 * by start ascending, end descending. */
static int net_order(const void *x, const void *y, void *ctx)
{
	const struct trace_span *sp = ctx;
	const struct trace_span *a = &sp[*(const size_t *)x];
	const struct trace_span *b = &sp[*(const size_t *)y];
	int ra = side_rank(a), rb = side_rank(b);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (a->start_us != b->start_us)
		return a->start_us < b->start_us ? -1 : 1;
	if (a->end_us != b->end_us)
		return a->end_us > b->end_us ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Network span sets: each member is the parent of the next, client side first. */
static void build_net_sets(struct build *b)
{
	for (size_t r = 0; r < b->n; r++) {
		size_t m = 0;

		if (!b->s[r].kept || uf_find(b->net, r) != r)
			continue;
		for (size_t i = r; i < b->n; i++)
			if (b->s[i].kept && uf_find(b->net, i) == r)
				b->tmp[m++] = i;
		qsort_r(b->tmp, m, sizeof(*b->tmp), net_order, b->s);
		for (size_t i = 1; i < m; i++)
			set_parent(b, b->tmp[i], (int)b->tmp[i - 1], TRACE_LINK_TCP_SEQ);
		b->tail[r] = (int)b->tmp[m - 1];
	}
}

/* s covers c in time (same host, same clock: no slack). */
static bool covers(const struct trace_span *s, const struct trace_span *c)
{
	return s->start_us <= c->start_us && c->end_us <= s->end_us;
}

/*
 * Process span sets: a c-p whose parent is still unknown goes under the s-p of its own
 * process that covers it in time and is tied to it by, in order of strength, the thread's
 * syscall chain, X-Request-ID (passed on or injected), or the trace id. Among several,
 * the strongest tie, then the tightest cover, wins.
 */
static void build_process_sets(struct build *b)
{
	for (size_t c = 0; c < b->n; c++) {
		struct trace_span *cp = &b->s[c];
		int best = -1, best_k = 0;

		if (!cp->kept || cp->parent >= 0 || !obs_is(cp, "c-p"))
			continue;
		for (size_t i = 0; i < b->n; i++) {
			struct trace_span *sp = &b->s[i];
			int k = 0;

			if (!sp->kept || !obs_is(sp, "s-p") || !same_process(sp, cp) ||
			    !covers(sp, cp) || is_below(b, (int)i, (int)c))
				continue;
			if (uf_find(b->sys, i) == uf_find(b->sys, c))
				k = 3;
			else if (*cp->x_request_id[0] &&
				 (!strcmp(sp->x_request_id[0], cp->x_request_id[0]) ||
				  !strcmp(sp->x_request_id[1], cp->x_request_id[0])))
				k = 2;
			else if (*cp->trace_id && !strcmp(sp->trace_id, cp->trace_id))
				k = 1;
			if (!k)
				continue;
			/* Tightest: the latest start, then the earliest end (requests pipelined on
			 * one connection are read together and start together). */
			if (k > best_k || (k == best_k && (sp->start_us > b->s[best].start_us ||
							   (sp->start_us == b->s[best].start_us &&
							    sp->end_us < b->s[best].end_us)))) {
				best = (int)i;
				best_k = k;
			}
		}
		if (best >= 0)
			set_parent(b, c, best,
				   best_k == 3	 ? TRACE_LINK_SYSCALL
				   : best_k == 2 ? TRACE_LINK_X_REQUEST
						 : TRACE_LINK_APP);
	}
}

/* The deepest member of i's network set (i itself off any set). */
static int net_tail(const struct build *b, size_t i)
{
	int t = b->tail[uf_find(b->net, i)];

	return t >= 0 ? t : (int)i;
}

/*
 * Heads still without a parent (a hop whose client is not instrumented, or whose tcp_seq
 * was not captured): under the span whose span_id they carry (the caller's span: its
 * span_id, or their parent_span_id), else under the tightest span covering them that
 * shares their X-Request-ID. The parent is the deepest hop of that span's network set.
 */
static void build_cross_links(struct build *b)
{
	for (size_t h = 0; h < b->n; h++) {
		struct trace_span *hs = &b->s[h];
		int best = -1;
		unsigned link = 0;

		if (!hs->kept || hs->parent >= 0)
			continue;
		for (size_t i = 0; i < b->n && *hs->trace_id; i++) {
			struct trace_span *p = &b->s[i];

			if (!p->kept || i == h || uf_find(b->net, i) == uf_find(b->net, h) ||
			    strcmp(p->trace_id, hs->trace_id) || !*p->span_id)
				continue;
			if (strcmp(p->span_id, hs->parent_span_id) &&
			    (strcmp(p->span_id, hs->span_id) || side_rank(p) >= side_rank(hs)))
				continue;
			if (!overlap(b->cfg, p, hs) || is_below(b, net_tail(b, i), (int)h))
				continue;
			if (best < 0 || p->start_us > b->s[best].start_us) {
				best = (int)i;
				link = TRACE_LINK_APP;
			}
		}
		for (size_t i = 0; i < b->n && best < 0; i++) {
			struct trace_span *p = &b->s[i];

			if (!p->kept || i == h || uf_find(b->net, i) == uf_find(b->net, h) ||
			    !xreq_linked(b->cfg, p, hs) ||
			    p->start_us > hs->start_us + b->cfg->delay_us ||
			    p->end_us + b->cfg->delay_us < hs->end_us ||
			    duration(p) < duration(hs) || is_below(b, net_tail(b, i), (int)h))
				continue;
			if (best < 0 || duration(p) < duration(&b->s[best]))
				best = (int)i;
		}
		if (best >= 0 && !link)
			link = TRACE_LINK_X_REQUEST;
		if (best >= 0)
			set_parent(b, h, net_tail(b, (size_t)best), link);
	}
}

/* Length of the union of [lo, hi) intervals in iv[0..n) (sorted here). */
static int cmp_iv(const void *x, const void *y)
{
	const int64_t *a = x, *b = y;

	return a[0] < b[0] ? -1 : a[0] > b[0];
}

static int64_t union_len(int64_t (*iv)[2], size_t n)
{
	int64_t total = 0, lo, hi;

	if (!n)
		return 0;
	qsort(iv, n, sizeof(*iv), cmp_iv);
	lo = iv[0][0];
	hi = iv[0][1];
	for (size_t i = 1; i < n; i++) {
		if (iv[i][0] > hi) {
			total += hi - lo;
			lo = iv[i][0];
			hi = iv[i][1];
		} else if (iv[i][1] > hi) {
			hi = iv[i][1];
		}
	}
	return total + hi - lo;
}

/* Self time: the span's duration minus the part its children's intervals (clipped to it,
 * overlaps counted once) cover. */
static int self_times(struct build *b)
{
	int64_t(*iv)[2] = malloc(b->n * sizeof(*iv) + 1);

	if (!iv)
		return -ENOMEM;
	for (size_t p = 0; p < b->n; p++) {
		struct trace_span *ps = &b->s[p];
		size_t m = 0;

		if (!ps->kept)
			continue;
		for (size_t c = 0; c < b->n; c++) {
			const struct trace_span *cs = &b->s[c];
			int64_t lo, hi;

			if (!cs->kept || cs->parent != (int)p)
				continue;
			lo = cs->start_us > ps->start_us ? cs->start_us : ps->start_us;
			hi = cs->end_us < ps->end_us ? cs->end_us : ps->end_us;
			if (hi > lo) {
				iv[m][0] = lo;
				iv[m][1] = hi;
				m++;
			}
		}
		ps->self_time = duration(ps) - union_len(iv, m);
	}
	free(iv);
	return 0;
}

static int root_of(const struct build *b, size_t i)
{
	int r = (int)i;

	for (size_t guard = 0; b->s[r].parent >= 0 && guard <= b->n; guard++)
		r = b->s[r].parent;
	return r;
}

/* Siblings (qsort_r over indexes into ctx): by start time, then client side first, then
 * id. */
static int child_order(const void *x, const void *y, void *ctx)
{
	const struct trace_span *sp = ctx;
	const struct trace_span *a = &sp[*(const size_t *)x];
	const struct trace_span *b = &sp[*(const size_t *)y];

	if (a->start_us != b->start_us)
		return a->start_us < b->start_us ? -1 : 1;
	if (side_rank(a) != side_rank(b))
		return side_rank(a) < side_rank(b) ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Depth-first from each root in roots[0..nroots), children in child_order. */
static void emit_order(struct build *b, const size_t *roots, size_t nroots, size_t *order,
		       size_t *norder)
{
	/* An explicit stack (b->tmp, n entries: each span is pushed once). */
	size_t *stack = b->tmp, sp = 0, k = 0;

	for (size_t r = nroots; r-- > 0;)
		stack[sp++] = roots[r];
	while (sp) {
		size_t cur = stack[--sp], first = sp;

		order[k++] = cur;
		for (size_t c = 0; c < b->n; c++)
			if (b->s[c].kept && b->s[c].parent == (int)cur) {
				b->s[c].depth = b->s[cur].depth + 1;
				stack[sp++] = c;
			}
		qsort_r(stack + first, sp - first, sizeof(*stack), child_order, b->s);
		/* Reverse so the first child is popped first. */
		for (size_t i = first, j = sp; i + 1 < j; i++, j--) {
			size_t t = stack[i];

			stack[i] = stack[j - 1];
			stack[j - 1] = t;
		}
	}
	*norder = k;
}

/*
 * Whether a link between two spans of different trees ties those trees together. A
 * syscall link between an s-p and a c-p that already has an s-p parent does not: the c-p
 * belongs to that parent, and the other s-p only shares its id. Requests pipelined on one
 * connection are read in one syscall and so share one request id (and, answered back to
 * back, one response id); the first one's downstream call carries that id too, goes
 * under the tightest s-p (the first request's) and must not pull the other requests into
 * its trace.
 */
static bool ties_trees(const struct build *b, size_t x, size_t y)
{
	unsigned k = trace_linked(b->cfg, &b->s[x], &b->s[y]);

	if (k & ~(unsigned)TRACE_LINK_SYSCALL)
		return true;
	if (!k)
		return false;
	for (int pass = 0; pass < 2; pass++) {
		size_t cp = pass ? x : y, sp = pass ? y : x;

		if (obs_is(&b->s[sp], "s-p") && obs_is(&b->s[cp], "c-p") && b->s[cp].parent >= 0 &&
		    obs_is(&b->s[b->s[cp].parent], "s-p"))
			return false;
	}
	return true;
}

/*
 * Prune: keep the seeds' trees and the trees that share a seed's trace id; and other trees
 * that lie within the seeds' trees' time (± Δ) and are tied to a kept tree (ties_trees),
 * transitively. Writes the kept roots to roots[0..*nroots) and clears kept on the rest.
 * 0 or -ENOMEM.
 */
static int prune(struct build *b, const size_t *seed, size_t nseed, size_t *roots, size_t *nroots)
{
	struct trace_span *s = b->s;
	size_t n = b->n, *queue = b->tmp, qh = 0, qt = 0;
	int *root = malloc(n * sizeof(*root));
	bool *keep = calloc(n, sizeof(*keep));
	int64_t lo = INT64_MAX, hi = INT64_MIN;

	if (!root || !keep) {
		free(root);
		free(keep);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		root[i] = s[i].kept ? root_of(b, i) : -1;
	for (size_t i = 0; i < nseed; i++)
		for (size_t j = 0; j < n; j++)
			if (root[j] >= 0 && root[j] == root[seed[i]]) {
				lo = s[j].start_us < lo ? s[j].start_us : lo;
				hi = s[j].end_us > hi ? s[j].end_us : hi;
			}
	for (size_t i = 0; i < n; i++) {
		if (!s[i].kept || s[i].parent >= 0)
			continue;
		for (size_t k = 0; k < nseed && !keep[i]; k++)
			keep[i] = root[seed[k]] == (int)i ||
				  (*s[i].trace_id && !strcmp(s[i].trace_id, s[seed[k]].trace_id));
	}
	for (size_t i = 0; i < n; i++)
		if (root[i] >= 0 && keep[root[i]])
			queue[qt++] = i;
	while (qh < qt) {
		size_t a = queue[qh++];

		for (size_t j = 0; j < n; j++) {
			const struct trace_span *r;

			if (root[j] < 0 || keep[root[j]])
				continue;
			r = &s[root[j]];
			if (r->start_us + b->cfg->delay_us < lo ||
			    r->end_us > hi + b->cfg->delay_us || !ties_trees(b, a, j))
				continue;
			keep[root[j]] = true;
			for (size_t m = 0; m < n; m++)
				if (root[m] == root[j])
					queue[qt++] = m;
		}
	}
	*nroots = 0;
	for (size_t i = 0; i < n; i++) {
		if (root[i] < 0)
			continue;
		s[i].kept = keep[root[i]];
		if (s[i].kept && root[i] == (int)i)
			roots[(*nroots)++] = i;
	}
	free(root);
	free(keep);
	return 0;
}

/* Accept spans linked to the seeds, transitively (the gathered candidates that are not:
 * strays of a key collision, rows outside the windows). */
static void accept(const struct trace_cfg *cfg, struct trace_span *s, size_t n, const size_t *seed,
		   size_t nseed, size_t *queue)
{
	size_t qh = 0, qt = 0;

	for (size_t i = 0; i < n; i++)
		s[i].kept = false;
	for (size_t i = 0; i < nseed; i++)
		if (seed[i] < n && !s[seed[i]].kept) {
			s[seed[i]].kept = true;
			queue[qt++] = seed[i];
		}
	while (qh < qt) {
		size_t a = queue[qh++];

		for (size_t i = 0; i < n; i++)
			if (!s[i].kept && trace_linked(cfg, &s[a], &s[i])) {
				s[i].kept = true;
				queue[qt++] = i;
			}
	}
}

int trace_build(const struct trace_cfg *cfg_in, struct trace_span *s, size_t n, const size_t *seed,
		size_t nseed, size_t *order, size_t *norder)
{
	struct trace_cfg cfg = *cfg_in;
	struct build b = { .cfg = &cfg, .s = s, .n = n };
	size_t *roots = NULL, nroots = 0;
	int rc = -ENOMEM;

	*norder = 0;
	if (!n || !nseed)
		return -EINVAL;
	trace_cfg_defaults(&cfg);
	b.net = malloc(n * sizeof(*b.net));
	b.sys = malloc(n * sizeof(*b.sys));
	b.tail = malloc(n * sizeof(*b.tail));
	b.tmp = malloc(n * sizeof(*b.tmp));
	roots = malloc(n * sizeof(*roots));
	if (!b.net || !b.sys || !b.tail || !b.tmp || !roots || trace_mark_batched(s, n))
		goto out;
	accept(&cfg, s, n, seed, nseed, b.tmp);
	for (size_t i = 0; i < n; i++) {
		b.net[i] = b.sys[i] = i;
		b.tail[i] = -1;
		s[i].parent = -1;
		s[i].link = 0;
		s[i].depth = 0;
		s[i].self_time = 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (!s[i].kept)
			continue;
		for (size_t j = i + 1; j < n; j++) {
			unsigned k;

			if (!s[j].kept)
				continue;
			k = trace_linked(&cfg, &s[i], &s[j]);
			if (k & (TRACE_LINK_TCP_SEQ | TRACE_LINK_DNS))
				uf_union(b.net, i, j);
			if (k & TRACE_LINK_SYSCALL)
				uf_union(b.sys, i, j);
		}
	}
	build_net_sets(&b);
	build_process_sets(&b);
	build_cross_links(&b);

	if (prune(&b, seed, nseed, roots, &nroots))
		goto out;
	rc = self_times(&b);
	if (rc)
		goto out;
	/* The first seed's tree first, the others by start time. */
	qsort_r(roots, nroots, sizeof(*roots), child_order, s);
	for (size_t k = 0; k < nroots; k++)
		if ((int)roots[k] == root_of(&b, seed[0]) && k) {
			size_t t = roots[k];

			memmove(roots + 1, roots, k * sizeof(*roots));
			roots[0] = t;
		}
	emit_order(&b, roots, nroots, order, norder);
	rc = 0;
out:
	free(b.net);
	free(b.sys);
	free(b.tail);
	free(b.tmp);
	free(roots);
	return rc;
}

size_t trace_services(const struct trace *t, struct trace_service *svc, size_t cap)
{
	size_t n = 0;

	for (size_t k = 0; k < t->norder; k++) {
		const struct trace_span *s = &t->spans[t->order[k]];
		const char *name = trace_auto_service(s);
		size_t i;

		if (!*name)
			continue;
		for (i = 0; i < n && strcmp(svc[i].name, name); i++)
			;
		if (i == n) {
			if (n == cap)
				continue;
			svc[n++] = (struct trace_service){ .name = name };
		}
		svc[i].spans++;
		svc[i].duration_us += duration(s);
		svc[i].self_time_us += s->self_time;
	}
	return n;
}
