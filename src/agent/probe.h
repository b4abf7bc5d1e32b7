/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel side, from user space: open the socket_trace BPF object, set its knobs,
 * load, attach to the syscall tracepoints, and read its ring buffer and counters.
 * libbpf's own messages go through our log at debug level (warnings at warn).
 */
#ifndef OB_AGENT_PROBE_H
#define OB_AGENT_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/shared/socket_event.h"

struct probe_opts {
	uint32_t self_tgid;
	uint32_t filter_tgid;	 /* 0: all */
	const char *filter_comm; /* NULL: all */
	uint32_t cap_bytes;
	uint64_t ringbuf_bytes; /* power of two, >= page size */
	uint64_t wakeup_bytes;
	bool syscall_trace_id;	/* syscall_trace_id on (docs/tracing.md) */
	uint32_t trace_entries; /* max entries of the per-thread and per-socket trace maps */
	bool go_goroutines;	/* track Go goroutines (needs syscall_trace_id) */
};

/* Called for every ring record; return non-zero to stop the current poll. */
typedef int (*probe_event_fn)(void *ctx, void *data, size_t size);

struct probe;

/*
 * Open, load and attach. NULL on failure with errno set and the reason logged (verifier
 * output at debug level; a hint for the common causes: not root, no BTF).
 */
struct probe *probe_open(const struct probe_opts *opts, probe_event_fn cb, void *ctx);
/* Wait up to timeout_ms for a wake-up, then drain the ring. Returns records or -errno. */
int probe_poll(struct probe *p, int timeout_ms);
/* Sum the per-CPU counters into out[FS_CNT_MAX]. */
int probe_counters(struct probe *p, uint64_t *out);
void probe_close(struct probe *p);

/*
 * Go goroutine tracking (probe_opts.go_goroutines): register process pid if its
 * executable is a supported Go binary (attaching the runtime uprobes to that binary once).
 * Returns 1 registered, 0 not a Go program or not supported (logged once per binary), or
 * -errno. probe_go_scan() registers every running process.
 */
int probe_go_register(struct probe *p, uint32_t pid);
void probe_go_scan(struct probe *p);

#endif
