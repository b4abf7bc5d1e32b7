// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Socket data capture on syscall tracepoints.
 *
 * For every read/write-family syscall on a TCP or UDP socket (IPv4/IPv6) this emits one
 * event with who (pid, tid, comm), which socket (inode id, 4-tuple, role), when (entry
 * and exit), the TCP sequence of the first byte, and the first cfg_cap_bytes of payload.
 * Entry hooks remember the arguments per thread; exit hooks, which know the byte count,
 * copy the payload and emit. connect/accept record the socket's role; close and process
 * exit tell user space when connection state can go.
 *
 * Only tracepoints are used: the kernels we target have no kprobes and refuse fentry.
 * Every kernel struct access is relocated by CO-RE: BPF_CORE_READ, or loads through BTF
 * pointers (bpf_get_current_task_btf), whose field offsets are relocated the same way.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "bpf/shared/socket_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET	    2
#define AF_INET6    10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define SOCK_STREAM 1
#define SOCK_DGRAM  2
#define S_IFMT	    00170000
#define S_IFSOCK    0140000
#define MSG_PEEK    2

/* Set by the agent between open and load. */
const volatile __u32 cfg_self_tgid = 0;	  /* never trace the agent itself */
const volatile __u32 cfg_filter_tgid = 0; /* 0 = every process */
const volatile __u8 cfg_filter_comm_set = 0;
const volatile char cfg_filter_comm[16] = {};
const volatile __u32 cfg_cap_bytes = FS_CAP_DEFAULT;
/* Wake the reader only once this much is queued; it also polls on a short timer, so a
 * quiet ring is still drained. Batching wake-ups is most of what keeps overhead down. */
const volatile __u64 cfg_wakeup_bytes = 256 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/* All counters in one per-CPU value, so an event bumps several with one lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fs_counters);
} counters SEC(".maps");

enum arg_kind {
	ARG_BUF = 0,  /* (buf, len) */
	ARG_IOV = 1,  /* (struct iovec *, iovcnt) */
	ARG_MSG = 2,  /* struct msghdr * */
	ARG_MMSG = 3, /* (struct mmsghdr *, vlen) */
	ARG_NONE = 4, /* bytes we cannot copy (sendfile): counted, not captured */
};

/* What an entry hook remembers for the exit hook of the same thread. */
struct stash {
	__u64 ts_enter;
	__u64 ptr;  /* buf, iovec array, msghdr or mmsghdr vector (user memory) */
	__u64 addr; /* user sockaddr for sendto/recvfrom, 0 if none */
	__u64 ino;
	__u32 fd;
	__u32 vlen; /* iovcnt or mmsg vlen */
	__u32 tcp_seq;
	__u8 kind;
	__u8 syscall;
	__u8 direction;
	__u8 active; /* set at entry, cleared at exit: entries stay for the thread's life */
	struct fs_event tuple; /* only the address fields, family, l4_proto, role are used */
};

/* Per thread, in the thread's own BPF task storage: found without a hash lookup, written
 * in place at every entry, and freed by the kernel with the thread, so there is no table
 * to fill up. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct stash);
} stash_map SEC(".maps");

/*
 * What an fd of a process is: a traced socket (with its tuple and role) or something we
 * ignore. Resolving that takes a dozen kernel reads; a hit here takes one lookup and a
 * comparison of the file pointer, which catches an fd that now refers to another file.
 */
struct sock_info {
	__u64 file; /* the struct file the fd referred to when this was filled */
	__u64 sk;
	__u64 ino;
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 l4_proto;
	__u8 role;
	__u8 traced; /* 0: not an IPv4/IPv6 TCP/UDP socket */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* tgid << 32 | fd */
	__type(value, struct sock_info);
} sock_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);  /* socket inode */
	__type(value, __u8); /* enum fs_role */
} roles SEC(".maps");

/* The event being built: header then payload. Twice FS_CAP_MAX so that a masked offset
 * plus a masked length always stays inside, which is what the verifier needs to see. */
struct scratch {
	struct fs_event ev;
	/* sizeof(ev) + FS_CAP_MAX must stay below 2 * FS_CAP_MAX: submit() masks with it. */
	__u8 data[2 * FS_CAP_MAX];
};

/* One slot per CPU, indexed by the current CPU. A plain array because per-CPU map values
 * are capped at 32 KiB; the agent sets max_entries to the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

static __always_inline void count(__u32 idx, __u64 n)
{
	__u32 zero = 0;
	struct fs_counters *c = bpf_map_lookup_elem(&counters, &zero);

	if (c && idx < FS_CNT_MAX)
		c->v[idx] += n;
}

/*
 * Go goroutines (docs/tracing.md, "Go"). For processes the agent registered in go_procs
 * (Go 1.18+ on x86-64, whose register ABI keeps the running goroutine's g in R14), the
 * goroutine of a syscall is read at the syscall from the saved user registers: R14 is g,
 * and g.goid sits at the offset the agent found for the binary's Go version. No uprobe
 * runs. The trace state of a Go syscall is then kept per goroutine instead of per thread.
 * (Parent goroutines are not followed: borrowing a parent's id at connect() linked
 * net/http's dialing goroutines, but mislinked when its Transport hands a connection
 * dialed for one request to another; see docs/tracing.md.)
 */
struct go_proc {
	__u32 goid_off; /* offset of goid in runtime.g */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tgid */
	__type(value, struct go_proc);
} go_procs SEC(".maps");

#define GO_MAX_GOID (1ull << 40)

static __always_inline __u64 go_goid_of(__u64 g, const struct go_proc *gp)
{
	__u64 goid = 0;

	if (!g || bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + gp->goid_off)))
		return 0;
	return goid < GO_MAX_GOID ? goid : 0;
}

/* The goroutine making the current syscall; 0 outside registered Go processes. */
static __always_inline __u64 go_current_goid(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	struct go_proc *gp = bpf_map_lookup_elem(&go_procs, &tgid);
	struct pt_regs *regs;

	if (!gp)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return 0;
	return go_goid_of(regs->r14, gp);
}

/* The trace_threads key: the thread, or in Go the goroutine (bit 63 set, tgid in bits
 * 40-62, goid in bits 0-39; a pid_tgid never has bit 63 set). */
static __always_inline __u64 trace_key(__u64 pid_tgid, __u64 goid)
{
	if (!goid)
		return pid_tgid;
	return 1ull << 63 | (pid_tgid >> 32) << 40 | (goid & (GO_MAX_GOID - 1));
}

/*
 * Trace ids (syscall_trace_id): joining a service's inbound request to its downstream
 * calls without instrumentation.
 *
 * Every data event carries the id of the message it belongs to. The rules, per event,
 * after the syscall succeeded ("fresh" = set less than cfg_trace_ttl_ns ago):
 *
 *  Ingress on socket S:
 *   I1. S's previous event was ingress too (a message read in several calls): keep S's
 *       current id.
 *   I2. Otherwise a new message starts: take a new id. If S is a downstream socket whose
 *       outbound request served a request read on socket P (S.peer = P, see E3/C1), store
 *       the id on P (P.resp_id): P's response will carry it whatever the thread reads in
 *       between (event loops) and whichever thread writes it (hand-off of the response).
 *       The message's origin is P, else S itself.
 *   I3. The thread now holds the id, the socket and the origin ("pending"), except
 *       after a response on a socket it connected (role client) whose request served
 *       no inbound request (no peer): then it holds nothing, so a client's (or a pool
 *       worker's) successive calls are not chained to each other.
 *
 *  Egress on socket S:
 *   E1. S's previous event was egress too (a message written in several calls): keep S's
 *       current id.
 *   E2. Otherwise, first match: S.pin_id (fresh; set at connect, C1); S.resp_id (fresh;
 *       set by I2: this is the response to a request whose downstream answered); the
 *       thread's pending id if fresh and taken on another socket (E3); else 0 - in
 *       particular a response on the socket the pending id came from, with no downstream
 *       call in between, carries 0.
 *   E3. When the pending id is used, S.peer = the pending origin (unless S is it, or S
 *       is a socket we accepted), so S's response (I2) is remembered on the origin.
 *   E4. The thread's pending id is consumed when it is the id carried, and when S is the
 *       socket it came from (that message has been answered).
 *
 *   E5. Exception to E1: on a socket the thread connected (or of unknown role), a write after a
 * write is a new request when the thread holds a fresh pending id of another inbound request than
 *       the one the socket's current request serves (pipelining on a shared connection):
 *       E2-E4 apply. See trace_pipelined.
 *   E6. From then on the socket is shared: it gets no peer (E3), and loses the one it had.
 *       Several requests of different inbound requests are in flight on it, and the next
 *       response read answers the oldest, not the last written: remembering it on the last
 *       writer's inbound socket (I2) gave that request another request's response id. The
 *       thread that reads a response still holds its id (I3 on a socket of unknown role),
 *       or nothing (role client), so the links that remain are the right ones.
 *
 *  Connect (sys_enter_connect) of socket S by a thread holding a fresh pending id whose
 *  origin is not S:
 *   C1. S.pin_id = that id, S.peer = its origin. An event loop (nginx, Node.js) reads
 *       request A, connects its upstream socket, and writes the upstream request only
 *       when the connect completes, after reading other requests: the pin keeps A's id.
 *
 *  Result, for a service reading request R on A (id T1), calling downstream on B and
 *  reading the downstream response (T2) before answering on A:
 *   s-p(A).syscall_trace_id_request  == c-p(B).syscall_trace_id_request  == T1
 *   s-p(A).syscall_trace_id_response == c-p(B).syscall_trace_id_response == T2
 *  A second sequential downstream call C carries T2 (the thread's pending id after B's
 *  response, as in DeepFlow), and C's response id becomes A's response id.
 *
 *  Ids: bit 63 clear; CPU in bits 48-62; bits 0-47 a per-CPU counter (atomic add, no
 *  locks shared across CPUs) seeded with the agent's start time in 100 ns units, so a
 *  restarted agent does not repeat the ids of the previous run (within ~325 days) unless
 *  it handed out more than 10 million per second per CPU.
 *
 *  State: trace_threads (LRU, per thread) and trace_socks (LRU, per socket inode).
 *  Entries leave at thread exit and at close; the counters FS_CNT_TRACE_* let the agent
 *  report how full the maps are.
 */
const volatile __u8 cfg_trace_on = 1;
const volatile __u8 cfg_go_on = 0; /* report exec()s so the agent can register Go programs */
const volatile __u64 cfg_trace_seed = 0;
const volatile __u64 cfg_trace_ttl_ns = 10ull * 1000000000ull;

#define TRACE_DIR_NONE 0
#define TRACE_DIR_IN   1
#define TRACE_DIR_OUT  2

struct trace_thread {
	__u64 id;     /* pending id: the last ingress message's, until consumed (E4) */
	__u64 sock;   /* the socket it was read on */
	__u64 origin; /* the socket of the request it belongs to (I2) */
	__u64 ts;
};

struct trace_sock {
	__u64 cur_id; /* the id of the socket's current message */
	__u64 origin; /* the current ingress message's origin (I2) */
	__u64 peer;   /* downstream socket: the socket whose request its request serves */
	__u64 pin_id; /* C1 */
	__u64 pin_ts;
	__u64 resp_id; /* I2: id of the downstream response, for this socket's response */
	__u64 resp_ts;
	__u8 last_dir; /* TRACE_DIR_* */
	__u8 shared;   /* E5 happened: requests of several inbound requests in flight (E6) */
	__u8 _pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct trace_thread);
} trace_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* socket inode */
	__type(value, struct trace_sock);
} trace_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} trace_ctr SEC(".maps");

static __always_inline __u64 trace_new_id(void)
{
	__u32 zero = 0;
	__u64 *c = bpf_map_lookup_elem(&trace_ctr, &zero);
	__u64 cpu = bpf_get_smp_processor_id() & FS_TRACE_CPU_MASK, low;

	if (!c)
		return 0;
	/* Atomic: another program may preempt this one on the same CPU. */
	low = (cfg_trace_seed + __sync_fetch_and_add(c, 1) + 1) & FS_TRACE_CTR_MASK;
	if (!low) /* 0 means "no id": skip it when the counter wraps */
		low = (cfg_trace_seed + __sync_fetch_and_add(c, 1) + 1) & FS_TRACE_CTR_MASK;
	count(FS_CNT_TRACE_IDS, 1);
	return cpu << FS_TRACE_CPU_SHIFT | low;
}

static __always_inline bool trace_fresh(__u64 ts, __u64 now)
{
	return ts && now - ts < cfg_trace_ttl_ns;
}

static __always_inline struct trace_sock *trace_sock_get(__u64 ino)
{
	struct trace_sock *ss = bpf_map_lookup_elem(&trace_socks, &ino);
	struct trace_sock fresh = {};

	if (ss)
		return ss;
	if (bpf_map_update_elem(&trace_socks, &ino, &fresh, BPF_NOEXIST) == 0)
		count(FS_CNT_TRACE_SOCK_ADD, 1);
	ss = bpf_map_lookup_elem(&trace_socks, &ino);
	if (!ss)
		count(FS_CNT_TRACE_STATE_FULL, 1);
	return ss;
}

static __always_inline void trace_thread_set(__u64 key, struct trace_thread *ts,
					     const struct trace_thread *v)
{
	if (ts) {
		*ts = *v;
		return;
	}
	if (bpf_map_update_elem(&trace_threads, &key, v, BPF_NOEXIST) == 0)
		count(FS_CNT_TRACE_THREAD_ADD, 1);
	else
		count(FS_CNT_TRACE_STATE_FULL, 1);
}

/*
 * E5: a write on a downstream socket (one we connected) right after another write is a
 * new request, not the rest of the previous one, when the thread has read a request of
 * another inbound connection since: an event loop sharing one kept-alive connection among
 * its requests (Node.js writing each request's Redis command as it reads the request,
 * any pipelining client) writes back to back for different requests. Rest-of-message
 * writes serve the same inbound request (its continued reads leave the same id and origin
 * pending), so they keep their id (E1). Sockets of unknown role (opened before the agent
 * started) count as ours: a service's connection pool usually predates the agent.
 */
static __always_inline bool trace_pipelined(const struct trace_thread *ts,
					    const struct trace_sock *ss, __u64 ino, __u8 role,
					    __u64 now)
{
	return role != FS_ROLE_SERVER && ts && ts->id && trace_fresh(ts->ts, now) &&
	       ts->sock != ino && ts->id != ss->cur_id && ts->origin != ss->peer &&
	       ts->origin != ino;
}

/* The id of one data syscall on socket ino: the rules above. */
static __noinline __u64 trace_event(__u64 pid_tgid, __u64 goid, __u64 ino, __u8 dir, __u8 role)
{
	__u64 now = bpf_ktime_get_ns(), id = 0, key = trace_key(pid_tgid, goid);
	struct trace_thread *ts;
	struct trace_sock *ss;

	if (!cfg_trace_on)
		return 0;
	ss = trace_sock_get(ino);
	if (!ss)
		return 0;
	ts = bpf_map_lookup_elem(&trace_threads, &key);
	if (dir == FS_DIR_INGRESS) {
		struct trace_thread v;

		if (ss->last_dir == TRACE_DIR_IN && ss->cur_id) { /* I1 */
			id = ss->cur_id;
		} else { /* I2 */
			id = trace_new_id();
			ss->origin = ino;
			if (ss->peer) {
				__u64 peer = ss->peer;
				struct trace_sock *p = bpf_map_lookup_elem(&trace_socks, &peer);

				if (p) {
					p->resp_id = id;
					p->resp_ts = now;
				}
				ss->origin = peer;
				ss->peer = 0;
			}
			ss->cur_id = id;
			ss->last_dir = TRACE_DIR_IN;
		}
		/* I3; but a response on a socket we connected, to a request that served no
		 * inbound one, starts nothing: a client's calls (or a pool worker's) would
		 * otherwise chain one call's response to its next, unrelated call. */
		v.id = role == FS_ROLE_CLIENT && ss->origin == ino ? 0 : id;
		v.sock = ino;
		v.origin = ss->origin;
		v.ts = now;
		trace_thread_set(key, ts, &v);
		return id;
	}
	if (ss->last_dir == TRACE_DIR_OUT) {
		if (!trace_pipelined(ts, ss, ino, role, now)) /* E1 */
			return ss->cur_id;
		ss->shared = 1; /* E6 */
		ss->peer = 0;
	}
	/* E2 (or E5: the pending id, as pin and resp_id were cleared by the previous write) */
	if (ss->pin_id && trace_fresh(ss->pin_ts, now)) {
		id = ss->pin_id;
	} else if (ss->resp_id && trace_fresh(ss->resp_ts, now)) {
		id = ss->resp_id;
	} else if (ts && ts->id && trace_fresh(ts->ts, now) && ts->sock != ino) {
		id = ts->id;
		/* E3; not on a socket we accepted: answering a request is no downstream call, and
		 * a peer there would send its next request's id to another client (I2). */
		if (ts->origin != ino && role != FS_ROLE_SERVER && !ss->shared)
			ss->peer = ts->origin;
	}
	if (ts && ts->id && (ts->id == id || ts->sock == ino)) /* E4 */
		ts->id = 0;
	ss->pin_id = 0;
	ss->resp_id = 0;
	ss->cur_id = id;
	ss->last_dir = TRACE_DIR_OUT;
	return id;
}

static __always_inline bool trace_pending(const struct trace_thread *ts, __u64 now)
{
	return ts && ts->id && trace_fresh(ts->ts, now);
}

/* C1: connect() of socket ino by a thread (goroutine) holding a pending id. */
static __noinline void trace_connect(__u64 pid_tgid, __u64 ino)
{
	__u64 key = trace_key(pid_tgid, go_current_goid(pid_tgid));
	__u64 now = bpf_ktime_get_ns();
	struct trace_thread *ts;
	struct trace_sock *ss;

	if (!cfg_trace_on)
		return;
	ts = bpf_map_lookup_elem(&trace_threads, &key);
	if (!trace_pending(ts, now) || ts->origin == ino || ts->sock == ino)
		return;
	ss = trace_sock_get(ino);
	if (!ss)
		return;
	ss->pin_id = ts->id;
	ss->pin_ts = now;
	ss->peer = ts->origin;
}

/* Filters that need no kernel walk: self, --pid, --comm. */
static __always_inline bool wanted(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;

	if (tgid == cfg_self_tgid)
		return false;
	if (cfg_filter_tgid && tgid != cfg_filter_tgid)
		goto filtered;
	if (cfg_filter_comm_set) {
		char comm[16];

		bpf_get_current_comm(&comm, sizeof(comm));
		for (int i = 0; i < 16; i++) {
			if (comm[i] != cfg_filter_comm[i])
				goto filtered;
			if (!comm[i])
				break;
		}
	}
	return true;
filtered:
	count(FS_CNT_FILTERED, 1);
	return false;
}

/*
 * The struct file behind fd in the current process. The walk task -> files -> fdtable uses
 * BTF pointers (plain loads the verifier checks) instead of one probe read per hop: this
 * runs on every hooked syscall, files and pipes included. Only the slot in the fd array
 * needs a probe read, because BTF cannot type an array of pointers.
 */
static __always_inline struct file *fd_to_file(__u32 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct files_struct *files = task->files;
	struct fdtable *fdt;
	struct file *f = NULL;

	if (!files)
		return NULL;
	fdt = files->fdt;
	if (!fdt || fd >= fdt->max_fds)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]);
	return f;
}

/* The socket behind fd, with its inode number; NULL when fd is not a socket. */
static __always_inline struct socket *fd_to_socket(__u32 fd, __u64 *ino)
{
	struct file *f = fd_to_file(fd);
	struct inode *inode;

	if (!f)
		return NULL;
	inode = BPF_CORE_READ(f, f_inode);
	if (!inode || (BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	*ino = BPF_CORE_READ(inode, i_ino);
	return BPF_CORE_READ(f, private_data);
}

static __always_inline bool is_v4_mapped(const __u8 *a)
{
	__u64 lo;
	__u32 mid;

	__builtin_memcpy(&lo, a, 8);
	__builtin_memcpy(&mid, a + 8, 4);
	return lo == 0 && mid == bpf_htonl(0x0000ffff);
}

/*
 * Fill family, ports and addresses from the socket. Returns false for sockets we do not
 * trace (not IPv4/IPv6 TCP/UDP).
 */
static __always_inline bool read_tuple(struct sock *sk, struct sock_info *t)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);

	if (family != AF_INET && family != AF_INET6)
		return false;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return false;
	t->l4_proto = proto;
	t->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		t->family = 4;
		BPF_CORE_READ_INTO((__u32 *)t->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)t->daddr, sk, __sk_common.skc_daddr);
		return true;
	}
	BPF_CORE_READ_INTO(&t->saddr, sk, __sk_common.skc_v6_rcv_saddr);
	BPF_CORE_READ_INTO(&t->daddr, sk, __sk_common.skc_v6_daddr);
	if (is_v4_mapped(t->saddr) || is_v4_mapped(t->daddr)) {
		/* A dual-stack socket talking IPv4: report it as IPv4. */
		__builtin_memcpy(t->saddr, t->saddr + 12, 4);
		__builtin_memcpy(t->daddr, t->daddr + 12, 4);
		__builtin_memset(t->saddr + 4, 0, 12);
		__builtin_memset(t->daddr + 4, 0, 12);
		t->family = 4;
	} else {
		t->family = 6;
	}
	return true;
}

/* Remote address from a user sockaddr (unconnected UDP: sendto/recvfrom/msg_name). */
static __always_inline void read_user_peer(__u64 uaddr, struct fs_event *t)
{
	struct sockaddr_in6 sa = {};

	if (!uaddr || bpf_probe_read_user(&sa, sizeof(sa), (void *)uaddr))
		return;
	if (sa.sin6_family == AF_INET && t->family == 4) {
		struct sockaddr_in *s4 = (void *)&sa;

		t->dport = bpf_ntohs(s4->sin_port);
		__builtin_memcpy(t->daddr, &s4->sin_addr, 4);
	} else if (sa.sin6_family == AF_INET6) {
		t->dport = bpf_ntohs(sa.sin6_port);
		if (t->family == 4 && is_v4_mapped((__u8 *)&sa.sin6_addr))
			__builtin_memcpy(t->daddr, ((__u8 *)&sa.sin6_addr) + 12, 4);
		else if (t->family == 6)
			__builtin_memcpy(t->daddr, &sa.sin6_addr, 16);
	}
}

/* Slow path of sock_lookup(): resolve fd from scratch and remember the answer. */
static __noinline int sock_resolve(struct file *f, __u64 key, struct sock_info *out)
{
	struct inode *inode;
	struct socket *sock;
	struct sock *sk;
	__u8 *role;

	__builtin_memset(out, 0, sizeof(*out));
	out->file = (__u64)f;
	inode = BPF_CORE_READ(f, f_inode);
	if (inode && (BPF_CORE_READ(inode, i_mode) & S_IFMT) == S_IFSOCK) {
		sock = BPF_CORE_READ(f, private_data);
		sk = sock ? BPF_CORE_READ(sock, sk) : NULL;
		if (sk && read_tuple(sk, out)) {
			out->traced = 1;
			out->sk = (__u64)sk;
			out->ino = BPF_CORE_READ(inode, i_ino);
			role = bpf_map_lookup_elem(&roles, &out->ino);
			out->role = role ? *role : FS_ROLE_UNKNOWN;
		}
	}
	bpf_map_update_elem(&sock_cache, &key, out, BPF_ANY);
	return 0;
}

static __always_inline int enter(__u32 fd, __u64 ptr, __u32 vlen, __u64 addr, __u8 kind, __u8 sys,
				 __u8 dir)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 key = (pid_tgid & 0xffffffff00000000ull) | fd;
	struct sock_info fresh, *si;
	struct stash *st;
	struct file *f;

	if (!wanted(pid_tgid))
		return 0;
	f = fd_to_file(fd);
	if (!f)
		return 0;
	si = bpf_map_lookup_elem(&sock_cache, &key);
	if (!si || si->file != (__u64)f) {
		sock_resolve(f, key, &fresh);
		si = &fresh;
	}
	if (!si->traced)
		return 0;
	st = bpf_task_storage_get(&stash_map, bpf_get_current_task_btf(), 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		count(FS_CNT_DROP_STASH_FULL, 1);
		return 0;
	}
	st->ts_enter = bpf_ktime_get_ns();
	st->ptr = ptr;
	st->addr = addr;
	st->ino = si->ino;
	st->fd = fd;
	st->vlen = vlen;
	st->kind = kind;
	st->syscall = sys;
	st->direction = dir;
	__builtin_memcpy(st->tuple.saddr, si->saddr, 16);
	__builtin_memcpy(st->tuple.daddr, si->daddr, 16);
	st->tuple.sport = si->sport;
	st->tuple.dport = si->dport;
	st->tuple.family = si->family;
	st->tuple.l4_proto = si->l4_proto;
	st->tuple.role = si->role;
	st->tcp_seq = 0;
	if (si->l4_proto == IPPROTO_TCP) {
		struct tcp_sock *tp = (void *)si->sk;

		/* The sequence number of the first byte this call moves: it equals the seq in
		 * the TCP header of the packet carrying that byte, on every capture point. */
		st->tcp_seq = dir == FS_DIR_EGRESS ? BPF_CORE_READ(tp, write_seq)
						   : BPF_CORE_READ(tp, copied_seq);
	}
	st->active = 1;
	return 0;
}

static __always_inline long wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg_wakeup_bytes
		       ? BPF_RB_FORCE_WAKEUP
		       : BPF_RB_NO_WAKEUP;
}

static __always_inline __u32 cap_limit(void)
{
	__u32 cap = cfg_cap_bytes;

	return cap > FS_CAP_MAX ? FS_CAP_MAX : cap;
}

/* Copy up to want bytes from one user buffer into s->data at off. Returns bytes copied. */
static __always_inline __u32 copy_chunk(struct scratch *s, __u32 off, __u64 ubuf, __u64 want)
{
	__u64 o = off, n;

	if (o >= FS_CAP_MAX || want == 0)
		return 0;
	n = want > FS_CAP_MAX ? FS_CAP_MAX : want;
	/* Restate both bounds right before the access, behind compiler barriers, so the
	 * verifier sees o < FS_CAP_MAX and n <= FS_CAP_MAX in the registers it checks. */
	barrier_var(o);
	o &= FS_CAP_MAX - 1;
	barrier_var(n);
	if (n > FS_CAP_MAX)
		n = FS_CAP_MAX;
	barrier_var(n);
	if (bpf_probe_read_user(&s->data[o], n, (void *)ubuf)) {
		count(FS_CNT_DROP_READ_FAIL, 1);
		return 0;
	}
	return n;
}

/* Where copy_iov is in its iovec array: bpf_loop's context. */
struct iov_walk {
	__u64 uiov;
	__u64 want;
	__u32 iovcnt;
	__u32 off;
	__u32 cpu; /* the scratch slot (a tracepoint program stays on its CPU) */
};

/* One iovec: bpf_loop's callback. 0 goes on, 1 stops. */
static long copy_one_iov(__u64 i, void *ctx)
{
	struct iov_walk *w = ctx;
	struct iovec iov;
	struct scratch *s;
	__u32 cpu = w->cpu, off = w->off, got;
	__u64 take;

	if (i >= w->iovcnt || off >= w->want)
		return 1;
	/* Looked up again rather than passed: the verifier then knows exactly what it is. */
	s = bpf_map_lookup_elem(&scratch_map, &cpu);
	if (!s)
		return 1;
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(w->uiov + i * sizeof(iov))))
		return 1;
	take = iov.iov_len;
	if (take > w->want - off)
		take = w->want - off;
	got = copy_chunk(s, off, (__u64)iov.iov_base, take);
	w->off = off + got;
	return got != take;
}

/*
 * Gather up to `want` bytes from an iovec array. A global function on purpose: the
 * verifier checks it once, on its own, instead of once per call site (sendmmsg's loop
 * calls it per message). The iovecs are walked with bpf_loop, whose callback is verified
 * once whatever the count: an unrolled or bounded loop of more than 16 iovecs took the
 * read programs past the verifier's million instructions, and Node.js writes its queued
 * writes with one writev of as many iovecs as it has messages queued (its shared Redis
 * connection at 200 concurrent checkouts: more than 16).
 */
__noinline __u32 copy_iov(struct scratch *s, __u64 uiov, __u32 iovcnt, __u64 want)
{
	struct iov_walk w = {
		.uiov = uiov,
		.want = want,
		.iovcnt = iovcnt,
		.cpu = bpf_get_smp_processor_id(),
	};

	if (!s)
		return 0;
	bpf_loop(FS_MAX_IOV, copy_one_iov, &w, 0);
	if (w.off < want && iovcnt > FS_MAX_IOV)
		count(FS_CNT_IOV_LIMIT, 1);
	return w.off;
}

static __always_inline void submit(struct scratch *s, __u32 cap_len)
{
	__u32 size;

	if (cap_len > FS_CAP_MAX)
		cap_len = FS_CAP_MAX;
	s->ev.cap_len = cap_len;
	size = sizeof(struct fs_event) + cap_len;
	/* The barrier hides what clang knows of size, so the mask survives and the verifier
	 * sees a bound inside the scratch value (header + 2 * FS_CAP_MAX). */
	barrier_var(size);
	size &= 2 * FS_CAP_MAX - 1;
	if (bpf_ringbuf_output(&events, s, size, wakeup_flag())) {
		count(FS_CNT_DROP_RINGBUF, 1);
		return;
	}
	/* Every per-event counter with one lookup: this runs for every event. */
	__u32 zero = 0;
	struct fs_counters *c = bpf_map_lookup_elem(&counters, &zero);

	if (c) {
		c->v[FS_CNT_EVENTS] += 1;
		c->v[FS_CNT_CAP_BYTES] += cap_len;
		c->v[FS_CNT_BYTES] += s->ev.syscall_len;
		if (s->ev.syscall_len > cap_len && s->ev.syscall != FS_SYS_SENDFILE)
			c->v[FS_CNT_TRUNCATED] += 1;
	}
}

/* Header fields shared by every event of one syscall. */
static __always_inline void fill_header(struct scratch *s, struct stash *st, __u64 pid_tgid,
					__u64 len, __u64 trace_id, __u64 goid)
{
	s->ev.trace_id = trace_id;
	s->ev.coroutine_id = goid;
	__builtin_memcpy(s->ev.saddr, st->tuple.saddr, 16);
	__builtin_memcpy(s->ev.daddr, st->tuple.daddr, 16);
	s->ev.sport = st->tuple.sport;
	s->ev.dport = st->tuple.dport;
	s->ev.family = st->tuple.family;
	s->ev.l4_proto = st->tuple.l4_proto;
	s->ev.role = st->tuple.role;
	s->ev.type = FS_EV_DATA;
	s->ev.ts_enter_ns = st->ts_enter;
	s->ev.ts_exit_ns = bpf_ktime_get_ns();
	s->ev.socket_id = st->ino;
	s->ev.syscall_len = len;
	s->ev.pid = pid_tgid >> 32;
	s->ev.tid = (__u32)pid_tgid;
	s->ev.fd = st->fd;
	s->ev.tcp_seq = st->tcp_seq;
	s->ev.direction = st->direction;
	s->ev.syscall = st->syscall;
	/* The calling thread's name, as DeepFlow's process_kname: one cheap helper call. */
	bpf_get_current_comm(&s->ev.comm, sizeof(s->ev.comm));
}

static __always_inline int leave(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct stash *st = bpf_task_storage_get(&stash_map, bpf_get_current_task_btf(), 0, 0);
	struct scratch *s;
	__u32 cpu, cap = cap_limit();
	__u64 want, trace_id, goid;

	if (!st || !st->active)
		return 0;
	if (ret <= 0)
		goto out;
	/* One id per syscall, decided before any event of it is written. */
	goid = go_current_goid(pid_tgid);
	trace_id = trace_event(pid_tgid, goid, st->ino, st->direction, st->tuple.role);
	cpu = bpf_get_smp_processor_id();
	s = bpf_map_lookup_elem(&scratch_map, &cpu);
	if (!s)
		goto out;

	if (st->kind == ARG_MMSG) {
		/* ret is the number of messages; each has its own length and iovecs. */
		__u32 n = ret;

		for (int i = 0; i < FS_MAX_MMSG; i++) {
			struct mmsghdr mh;

			if (i >= n)
				break;
			if (bpf_probe_read_user(&mh, sizeof(mh),
						(void *)(st->ptr + i * sizeof(struct mmsghdr))))
				break;
			fill_header(s, st, pid_tgid, mh.msg_len, trace_id, goid);
			read_user_peer((__u64)mh.msg_hdr.msg_name, &s->ev);
			want = mh.msg_len < cap ? mh.msg_len : cap;
			submit(s,
			       copy_iov(s, (__u64)mh.msg_hdr.msg_iov, mh.msg_hdr.msg_iovlen, want));
		}
		if (n > FS_MAX_MMSG)
			count(FS_CNT_IOV_LIMIT, 1);
		goto out;
	}

	fill_header(s, st, pid_tgid, ret, trace_id, goid);
	want = (__u64)ret < cap ? (__u64)ret : cap;
	if (st->kind == ARG_NONE) {
		submit(s, 0);
	} else if (st->kind == ARG_BUF) {
		read_user_peer(st->addr, &s->ev);
		submit(s, copy_chunk(s, 0, st->ptr, want));
	} else if (st->kind == ARG_IOV) {
		submit(s, copy_iov(s, st->ptr, st->vlen, want));
	} else {
		struct user_msghdr mh;

		if (bpf_probe_read_user(&mh, sizeof(mh), (void *)st->ptr)) {
			count(FS_CNT_DROP_READ_FAIL, 1);
			goto out;
		}
		read_user_peer((__u64)mh.msg_name, &s->ev);
		submit(s, copy_iov(s, (__u64)mh.msg_iov, mh.msg_iovlen, want));
	}
out:
	st->active = 0;
	return 0;
}

#define ARG(i) (ctx->args[i])

SEC("tracepoint/syscalls/sys_enter_read")
int tp_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ARG(0), ARG(1), 0, 0, ARG_BUF, FS_SYS_READ, FS_DIR_INGRESS);
}

SEC("tracepoint/syscalls/sys_enter_write")
int tp_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ARG(0), ARG(1), 0, 0, ARG_BUF, FS_SYS_WRITE, FS_DIR_EGRESS);
}

/* sendfile moves file bytes to the socket without passing user memory: the event carries
 * the length only, so parsers can count a body they cannot see (nginx static files). */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int tp_enter_sendfile64(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ARG(0), 0, 0, 0, ARG_NONE, FS_SYS_SENDFILE, FS_DIR_EGRESS);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int tp_enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ARG(0), ARG(1), ARG(2), 0, ARG_IOV, FS_SYS_READV, FS_DIR_INGRESS);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int tp_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ARG(0), ARG(1), ARG(2), 0, ARG_IOV, FS_SYS_WRITEV, FS_DIR_EGRESS);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int tp_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	if (ARG(3) & MSG_PEEK) /* peeked bytes will be read again */
		return 0;
	return enter(ARG(0), ARG(1), 0, ARG(4), ARG_BUF, FS_SYS_RECVFROM, FS_DIR_INGRESS);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int tp_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ARG(0), ARG(1), 0, ARG(4), ARG_BUF, FS_SYS_SENDTO, FS_DIR_EGRESS);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int tp_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ARG(2) & MSG_PEEK)
		return 0;
	return enter(ARG(0), ARG(1), 0, 0, ARG_MSG, FS_SYS_RECVMSG, FS_DIR_INGRESS);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int tp_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ARG(0), ARG(1), 0, 0, ARG_MSG, FS_SYS_SENDMSG, FS_DIR_EGRESS);
}

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int tp_enter_recvmmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ARG(3) & MSG_PEEK)
		return 0;
	return enter(ARG(0), ARG(1), ARG(2), 0, ARG_MMSG, FS_SYS_RECVMMSG, FS_DIR_INGRESS);
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int tp_enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ARG(0), ARG(1), ARG(2), 0, ARG_MMSG, FS_SYS_SENDMMSG, FS_DIR_EGRESS);
}

/* One exit program per syscall: each tracepoint needs its own program. */
#define EXIT_PROG(name)                                                                            \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                 \
	int tp_exit_##name(struct trace_event_raw_sys_exit *ctx)                                   \
	{                                                                                          \
		return leave(ctx->ret);                                                            \
	}

EXIT_PROG(read)
EXIT_PROG(write)
EXIT_PROG(readv)
EXIT_PROG(writev)
EXIT_PROG(recvfrom)
EXIT_PROG(sendto)
EXIT_PROG(recvmsg)
EXIT_PROG(sendmsg)
EXIT_PROG(recvmmsg)
EXIT_PROG(sendmmsg)
EXIT_PROG(sendfile64)

static __always_inline void set_role(__u32 fd, __u8 role)
{
	__u64 ino = 0;

	if (fd_to_socket(fd, &ino))
		bpf_map_update_elem(&roles, &ino, &role, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int tp_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u8 role = FS_ROLE_CLIENT;
	__u64 ino = 0;

	if (!wanted(pid_tgid) || !fd_to_socket(ARG(0), &ino))
		return 0;
	bpf_map_update_elem(&roles, &ino, &role, BPF_ANY);
	trace_connect(pid_tgid, ino);
	return 0;
}

static __always_inline int accept_exit(long ret)
{
	if (ret >= 0 && wanted(bpf_get_current_pid_tgid()))
		set_role(ret, FS_ROLE_SERVER);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tp_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tp_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

/* Small events (close, exit) carry no payload and fit on the stack. */
static __always_inline void submit_small(struct fs_event *ev)
{
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), wakeup_flag()))
		count(FS_CNT_DROP_RINGBUF, 1);
	else
		count(FS_CNT_EVENTS, 1);
}

/*
 * close(): tell user space the connection is over. Only fds that went through a traced
 * data syscall can have connection state, and all of those are in sock_cache, so the
 * common close of a file costs one lookup and no fd walk. (A socket whose cache entry was
 * evicted gets no close event; its connection then ends by idle timeout.)
 */
SEC("tracepoint/syscalls/sys_enter_close")
int tp_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 key = (pid_tgid & 0xffffffff00000000ull) | (__u32)ARG(0);
	struct sock_info *si = bpf_map_lookup_elem(&sock_cache, &key);
	struct fs_event ev = {};
	__u64 ino;

	if (!si)
		return 0;
	ino = si->traced ? si->ino : 0;
	bpf_map_delete_elem(&sock_cache, &key);
	if (!ino)
		return 0;
	if (bpf_map_delete_elem(&trace_socks, &ino) == 0)
		count(FS_CNT_TRACE_SOCK_DEL, 1);
	ev.type = FS_EV_CLOSE;
	ev.syscall = FS_SYS_CLOSE;
	ev.socket_id = ino;
	ev.fd = ARG(0);
	ev.pid = pid_tgid >> 32;
	ev.tid = (__u32)pid_tgid;
	ev.ts_enter_ns = ev.ts_exit_ns = bpf_ktime_get_ns();
	submit_small(&ev);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int tp_process_exit(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task = (void *)bpf_get_current_task();
	struct fs_event ev = {};

	/* Every thread: its trace state goes with it. */
	if (bpf_map_delete_elem(&trace_threads, &pid_tgid) == 0)
		count(FS_CNT_TRACE_THREAD_DEL, 1);
	/* Only the last thread of the group: signal->live has reached zero by now. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if ((pid_tgid >> 32) == cfg_self_tgid)
		return 0;
	__u32 tgid = pid_tgid >> 32;

	bpf_map_delete_elem(&go_procs, &tgid);
	ev.type = FS_EV_PROC_EXIT;
	ev.pid = pid_tgid >> 32;
	ev.tid = (__u32)pid_tgid;
	ev.ts_enter_ns = ev.ts_exit_ns = bpf_ktime_get_ns();
	submit_small(&ev);
	return 0;
}

/* A new program image: the agent checks whether it is a Go binary to register. */
SEC("tracepoint/sched/sched_process_exec")
int tp_process_exec(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct fs_event ev = {};

	if (!cfg_go_on || !wanted(pid_tgid))
		return 0;
	ev.type = FS_EV_EXEC;
	ev.pid = pid_tgid >> 32;
	ev.tid = (__u32)pid_tgid;
	ev.ts_enter_ns = ev.ts_exit_ns = bpf_ktime_get_ns();
	submit_small(&ev);
	return 0;
}
