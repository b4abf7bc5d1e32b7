/* SPDX-License-Identifier: Apache-2.0 */
/* BPF loader for socket_trace: see probe.h. */
#include "agent/probe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/socket_trace.skel.h"
#include "common/log.h"

struct probe {
	struct socket_trace_bpf *skel;
	struct ring_buffer *rb;
	int ncpus;
};

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int lvl = level == LIBBPF_WARN ? OB_LOG_WARN : OB_LOG_DEBUG;
	char *line = NULL;
	int n;

	if (lvl > ob_log_level)
		return 0;
	/* Whole messages: a verifier log arrives as one very long string. */
	n = vasprintf(&line, fmt, ap);
	if (n < 0)
		return 0;
	while (n && line[n - 1] == '\n')
		line[--n] = 0;
	ob_log(lvl, "[libbpf] %s", line);
	free(line);
	return 0;
}

/*
 * Tracepoints are found through tracefs. Minimal systems and containers often leave it
 * unmounted; as root we can mount it ourselves rather than fail.
 */
static void ensure_tracefs(void)
{
	if (access("/sys/kernel/tracing/events", F_OK) == 0 ||
	    access("/sys/kernel/debug/tracing/events", F_OK) == 0)
		return;
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0)
		ob_info("[probe] mounted tracefs at /sys/kernel/tracing");
	else
		ob_warn("[probe] tracefs is not mounted and mounting it failed: %s "
			"(mount -t tracefs nodev /sys/kernel/tracing)",
			strerror(errno));
}

/* The low 48 bits of every syscall_trace_id start here: the agent's start time in 100 ns
 * units, so that a restarted agent continues above the ids of the previous run. */
static uint64_t trace_seed(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) / 100) &
	       FS_TRACE_CTR_MASK;
}

struct probe *probe_open(const struct probe_opts *o, probe_event_fn cb, void *ctx)
{
	struct probe *p = calloc(1, sizeof(*p));
	int err = 0;

	if (!p)
		return NULL;
	libbpf_set_print(libbpf_log);
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		ob_err("[probe] /sys/kernel/btf/vmlinux is missing: this kernel has no BTF, which "
		       "flowscope's CO-RE programs need (CONFIG_DEBUG_INFO_BTF=y)");
		err = -ENOTSUP;
		goto fail;
	}
	p->skel = socket_trace_bpf__open();
	if (!p->skel) {
		err = -errno;
		ob_err("[probe] cannot open the BPF object: %s", strerror(-err));
		goto fail;
	}
	p->skel->rodata->cfg_self_tgid = o->self_tgid;
	p->skel->rodata->cfg_filter_tgid = o->filter_tgid;
	p->skel->rodata->cfg_cap_bytes = o->cap_bytes;
	p->skel->rodata->cfg_wakeup_bytes = o->wakeup_bytes;
	p->skel->rodata->cfg_trace_on = o->syscall_trace_id;
	p->skel->rodata->cfg_trace_seed = trace_seed();
	if (o->trace_entries) {
		err = bpf_map__set_max_entries(p->skel->maps.trace_threads, o->trace_entries);
		if (!err)
			err = bpf_map__set_max_entries(p->skel->maps.trace_socks, o->trace_entries);
		if (err)
			goto fail_msg;
	}
	if (o->filter_comm && *o->filter_comm) {
		strncpy((char *)p->skel->rodata->cfg_filter_comm, o->filter_comm, 15);
		p->skel->rodata->cfg_filter_comm_set = 1;
	}
	err = bpf_map__set_max_entries(p->skel->maps.events, o->ringbuf_bytes);
	if (err)
		goto fail_msg;
	p->ncpus = libbpf_num_possible_cpus();
	if (p->ncpus <= 0) {
		err = p->ncpus ? p->ncpus : -EINVAL;
		goto fail_msg;
	}
	err = bpf_map__set_max_entries(p->skel->maps.scratch_map, p->ncpus);
	if (err)
		goto fail_msg;
	err = socket_trace_bpf__load(p->skel);
	if (err) {
		ob_err("[probe] loading the BPF programs failed: %s%s", strerror(-err),
		       geteuid() ? " (run as root, or with CAP_BPF and CAP_PERFMON)"
				 : " (run with --log-level debug for the verifier's log)");
		goto fail;
	}
	ensure_tracefs();
	err = socket_trace_bpf__attach(p->skel);
	if (err) {
		ob_err("[probe] attaching to the syscall tracepoints failed: %s (is tracefs "
		       "available at /sys/kernel/tracing?)",
		       strerror(-err));
		goto fail;
	}
	p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.events), (ring_buffer_sample_fn)cb, ctx,
				 NULL);
	if (!p->rb) {
		err = -errno;
		goto fail_msg;
	}
	return p;
fail_msg:
	ob_err("[probe] setting up the BPF side failed: %s", strerror(-err));
fail:
	probe_close(p);
	errno = -err;
	return NULL;
}

int probe_poll(struct probe *p, int timeout_ms)
{
	int n = ring_buffer__poll(p->rb, timeout_ms);

	if (n < 0 && n != -EINTR)
		return n;
	/* Wake-ups are batched in the kernel: drain whatever is queued even without one. */
	int m = ring_buffer__consume(p->rb);
	if (m < 0)
		return m;
	return (n > 0 ? n : 0) + m;
}

int probe_counters(struct probe *p, uint64_t *out)
{
	struct fs_counters *vals = calloc(p->ncpus, sizeof(*vals));
	int fd = bpf_map__fd(p->skel->maps.counters);
	uint32_t zero = 0;
	int err = 0;

	if (!vals)
		return -ENOMEM;
	memset(out, 0, FS_CNT_MAX * sizeof(*out));
	if (bpf_map_lookup_elem(fd, &zero, vals)) {
		err = -errno;
	} else {
		for (int c = 0; c < p->ncpus; c++)
			for (int k = 0; k < FS_CNT_MAX; k++)
				out[k] += vals[c].v[k];
	}
	free(vals);
	return err;
}

void probe_close(struct probe *p)
{
	if (!p)
		return;
	ring_buffer__free(p->rb);
	socket_trace_bpf__destroy(p->skel);
	free(p);
}
