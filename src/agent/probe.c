/* SPDX-License-Identifier: Apache-2.0 */
/* BPF loader for socket_trace: see probe.h. */
#include "agent/probe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/socket_trace.skel.h"
#include "agent/golang.h"
#include "common/log.h"

/* Executables inspected for goroutine tracking, Go or not, so each is read once. */
#define PROBE_MAX_BINARIES 256

struct go_exe {
	dev_t dev;
	ino_t ino;
	int32_t goid_off; /* < 0: not a supported Go binary */
};

struct probe {
	struct socket_trace_bpf *skel;
	struct ring_buffer *rb;
	int ncpus;
	bool go;
	struct go_exe exes[PROBE_MAX_BINARIES];
	int nexes;
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
	p->go = o->go_goroutines && o->syscall_trace_id;
	p->skel->rodata->cfg_go_on = p->go;
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

static struct go_exe *go_exe_inspect(struct probe *p, uint32_t pid, const struct stat *st)
{
	char exe[64];
	struct go_binary gb;
	struct go_exe *e;
	int err;

	for (int i = 0; i < p->nexes; i++)
		if (p->exes[i].dev == st->st_dev && p->exes[i].ino == st->st_ino)
			return &p->exes[i];
	if (p->nexes == PROBE_MAX_BINARIES) {
		/* Forget the non-Go ones: they can be read again. */
		int j = 0;

		for (int i = 0; i < p->nexes; i++)
			if (p->exes[i].goid_off >= 0)
				p->exes[j++] = p->exes[i];
		p->nexes = j;
		if (p->nexes == PROBE_MAX_BINARIES)
			return NULL;
	}
	e = &p->exes[p->nexes++];
	memset(e, 0, sizeof(*e));
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->goid_off = -1;
	snprintf(exe, sizeof(exe), "/proc/%u/exe", pid);
	err = go_binary_inspect(exe, &gb);
	if (err == -ENOTSUP)
		ob_warn("[go] pid %u runs %s, whose runtime layout is not known: its goroutines "
			"are "
			"not tracked (docs/tracing.md lists the supported versions)",
			pid, gb.version);
	if (err)
		return e;
	e->goid_off = gb.goid_off;
	ob_info("[go] %s: %s, goid at offset %u of runtime.g: goroutines tracked", exe, gb.version,
		gb.goid_off);
	return e;
}

int probe_go_register(struct probe *p, uint32_t pid)
{
	char exe[64];
	struct stat st;
	struct go_exe *e;

	if (!p || !p->go)
		return 0;
	snprintf(exe, sizeof(exe), "/proc/%u/exe", pid);
	if (stat(exe, &st) != 0)
		return -errno;
	e = go_exe_inspect(p, pid, &st);
	if (!e || e->goid_off < 0)
		return 0;
	struct {
		uint32_t goid_off, pad;
	} v = { (uint32_t)e->goid_off, 0 };
	if (bpf_map_update_elem(bpf_map__fd(p->skel->maps.go_procs), &pid, &v, BPF_ANY))
		return -errno;
	ob_info("[go] pid %u registered", pid);
	return 1;
}

void probe_go_scan(struct probe *p)
{
	DIR *d;
	struct dirent *de;

	if (!p || !p->go)
		return;
	d = opendir("/proc");
	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (*end || pid == 0 || pid == (unsigned long)getpid())
			continue;
		probe_go_register(p, (uint32_t)pid);
	}
	closedir(d);
}

void probe_close(struct probe *p)
{
	if (!p)
		return;
	ring_buffer__free(p->rb);
	socket_trace_bpf__destroy(p->skel);
	free(p);
}
