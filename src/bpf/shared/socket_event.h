/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel ↔ user ABI of the socket capture programs (src/bpf/socket_trace.bpf.c).
 * Included by both sides: fixed-width fields only, no pointers, no enums as field types,
 * largest fields first. tests/unit/test_bpf_abi.c pins sizes and offsets.
 */
#ifndef OB_BPF_SHARED_SOCKET_EVENT_H
#define OB_BPF_SHARED_SOCKET_EVENT_H

#ifndef __VMLINUX_H__ /* user space; the BPF side gets these types from vmlinux.h */
#include <linux/types.h>
#endif

/* Payload bytes copied per event: default, and the hard ceiling (a power of two, because
 * the BPF side masks lengths with FS_CAP_MAX - 1 to satisfy the verifier). */
#define FS_CAP_DEFAULT 1024
#define FS_CAP_MAX     16384

/* iovecs visited per readv/writev/sendmsg/recvmsg (the kernel's own limit, UIO_MAXIOV),
 * and messages per sendmmsg/recvmmsg. */
#define FS_MAX_IOV  1024
#define FS_MAX_MMSG 8

enum fs_event_type {
	FS_EV_DATA = 1,	     /* bytes read or written on a socket */
	FS_EV_CLOSE = 2,     /* close() of a socket fd */
	FS_EV_PROC_EXIT = 3, /* a process (thread group) exited */
	FS_EV_EXEC = 4,	     /* a process exec()ed (only with Go goroutine tracking on) */
};

enum fs_direction {
	FS_DIR_EGRESS = 0,  /* write, send*: the process sent */
	FS_DIR_INGRESS = 1, /* read, recv*: the process received */
};

enum fs_role {
	FS_ROLE_UNKNOWN = 0,
	FS_ROLE_CLIENT = 1, /* the socket was connect()ed */
	FS_ROLE_SERVER = 2, /* the socket came from accept() */
};

enum fs_syscall {
	FS_SYS_READ = 1,
	FS_SYS_WRITE,
	FS_SYS_READV,
	FS_SYS_WRITEV,
	FS_SYS_RECVFROM,
	FS_SYS_SENDTO,
	FS_SYS_RECVMSG,
	FS_SYS_SENDMSG,
	FS_SYS_RECVMMSG,
	FS_SYS_SENDMMSG,
	FS_SYS_CLOSE,
	FS_SYS_SENDFILE,
};

/* syscall_trace_id layout: bit 63 is 0 (the store keeps signed 64-bit integers), bits
 * 48-62 the CPU that made it, bits 0-47 a per-CPU counter that starts at the agent's start
 * time in 100 ns units (modulo 2^48, ~325 days). */
#define FS_TRACE_CPU_SHIFT 48
#define FS_TRACE_CTR_MASK  ((1ull << 48) - 1)
#define FS_TRACE_CPU_MASK  0x7fffull

/* Per-CPU counters, summed by the agent. Every drop has its reason here. */
enum fs_counter {
	FS_CNT_EVENTS = 0,	/* events written to the ring */
	FS_CNT_BYTES,		/* syscall bytes of the events written */
	FS_CNT_CAP_BYTES,	/* payload bytes copied */
	FS_CNT_DROP_RINGBUF,	/* ring buffer full: event lost */
	FS_CNT_DROP_STASH_FULL, /* no memory to remember a syscall between entry and exit */
	FS_CNT_DROP_READ_FAIL,	/* payload could not be read from user memory */
	FS_CNT_TRUNCATED,	/* payload not copied whole (capture size, iov limit); event kept */
	FS_CNT_IOV_LIMIT,	/* more iovecs/messages than we visit: tail not captured */
	FS_CNT_FILTERED,	/* syscalls skipped by the pid/comm filters or self-exclusion */
	/* syscall_trace_id state (socket_trace.bpf.c, "Trace ids"): entries added to and
	 * removed from the per-thread and per-socket LRU maps, so the agent can tell how full
	 * they are (added - removed; beyond max_entries the LRU evicted the difference). */
	FS_CNT_TRACE_IDS,	 /* syscall_trace_ids handed out */
	FS_CNT_TRACE_THREAD_ADD, /* per-thread trace entries created */
	FS_CNT_TRACE_THREAD_DEL, /* ... removed at thread exit */
	FS_CNT_TRACE_SOCK_ADD,	 /* per-socket trace entries created */
	FS_CNT_TRACE_SOCK_DEL,	 /* ... removed at close */
	FS_CNT_TRACE_STATE_FULL, /* an entry could not be created (map update failed) */
	FS_CNT_MAX,
};

struct fs_counters {
	__u64 v[FS_CNT_MAX];
};

/* Everything below is one ring-buffer record: header, then cap_len payload bytes. */
struct fs_event {
	__u64 ts_enter_ns;  /* CLOCK_MONOTONIC (bpf_ktime_get_ns) at syscall entry */
	__u64 ts_exit_ns;   /* ... at syscall exit */
	__u64 socket_id;    /* the socket's inode number: unique per socket while it lives */
	__u64 syscall_len;  /* bytes the syscall transferred (whole message, not what we copied) */
	__u64 trace_id;	    /* syscall_trace_id of the message this syscall belongs to; 0 none */
	__u64 coroutine_id; /* goroutine id of the calling thread; 0 none or unknown */
	__u32 type;	    /* enum fs_event_type */
	__u32 pid;	    /* thread group id (what users call the pid) */
	__u32 tid;	    /* thread id */
	__u32 fd;
	__u32 tcp_seq;	/* write_seq at send entry / copied_seq at receive entry */
	__u32 cap_len;	/* payload bytes that follow this header */
	__u8 saddr[16]; /* local address (IPv4 in the first 4 bytes) */
	__u8 daddr[16]; /* remote address */
	__u16 sport;	/* local port, host order */
	__u16 dport;	/* remote port, host order */
	__u8 family;	/* 4 or 6 (v4-mapped v6 is reported as 4) */
	__u8 l4_proto;	/* 6 TCP, 17 UDP */
	__u8 direction; /* enum fs_direction */
	__u8 role;	/* enum fs_role */
	__u8 syscall;	/* enum fs_syscall */
	__u8 _pad[7];
	char comm[16]; /* thread group leader's comm at the time of the syscall */
};

#endif
