/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the agent tells the server about its host and about the processes its records
 * name (docs/tagging.md), read from /proc and the C library: the server's tagger turns
 * these into host, gprocess, container and netns tags. Everything is bounded: strings are
 * cut at their field's size, a host reports at most HOST_MAX_IPS addresses.
 */
#ifndef OB_AGENT_PROC_INFO_H
#define OB_AGENT_PROC_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROC_COMM_MAX	      16  /* the kernel's TASK_COMM_LEN, NUL included */
#define PROC_EXE_MAX	      256 /* longer executable paths are cut */
#define PROC_CMDLINE_MAX      512 /* arguments joined by spaces, cut */
#define PROC_USER_MAX	      64
#define PROC_CONTAINER_ID_LEN 64 /* a full container id: 64 lowercase hex digits */

struct proc_info {
	uint32_t pid;
	uint64_t start_time_us; /* process start, µs since the epoch; 0 unknown (gone) */
	char comm[PROC_COMM_MAX];
	char exe[PROC_EXE_MAX];
	char cmdline[PROC_CMDLINE_MAX];
	bool has_uid;
	uint32_t uid; /* real uid */
	char user[PROC_USER_MAX];
	char container_id[PROC_CONTAINER_ID_LEN + 1]; /* "" outside a container */
	uint64_t netns_inode;			      /* 0 unknown */
};

#define HOST_NAME_CAP 256
#define HOST_MAX_IPS  64

struct host_ip {
	uint8_t family; /* 4 or 6 */
	uint8_t a[16];
};

struct host_info {
	char hostname[HOST_NAME_CAP];
	size_t nips;
	struct host_ip ips[HOST_MAX_IPS];
};

/*
 * Read process pid from proc_root ("/proc", or a fixture directory in tests). 0, or
 * -ENOENT when the process is gone (out is then left with only pid set), or -errno.
 * Fields that cannot be read (exe of a kernel thread, another user's link) stay empty.
 */
int proc_info_read(const char *proc_root, uint32_t pid, struct proc_info *out);

/*
 * The start time of pid (field 22 of /proc/PID/stat) in µs since the epoch, from the boot
 * time btime of /proc/stat: whole seconds, so the same process gets the same value in every
 * read and every agent run. 0 or -errno.
 */
int proc_start_time_us(const char *proc_root, uint32_t pid, uint64_t *out);

/*
 * The container id in the text of a /proc/PID/cgroup file (cgroup v1 or v2 lines
 * "ID:CONTROLLERS:PATH"): the last path component that is a container's, in the layouts of
 * docker (".../docker/<id>", "docker-<id>.scope"), containerd / CRI
 * ("cri-containerd-<id>.scope", "/kubepods/.../<id>"), CRI-O ("crio-<id>.scope") and podman
 * ("libpod-<id>.scope", "libpod-conmon-<id>.scope"), <id> being 64 hex digits. Writes the id
 * (lowercase) to out and returns true, or returns false (not in a container).
 */
bool proc_container_id(const char *cgroup_text, size_t len, char out[PROC_CONTAINER_ID_LEN + 1]);

/*
 * This host: gethostname() and the addresses of its interfaces (getifaddrs), loopback and
 * IPv6 link-local left out (every host has them, so they name none), duplicates once, at
 * most HOST_MAX_IPS. 0 or -errno.
 */
int host_info_read(struct host_info *out);

/* Same content (the exporter reports a host again when it changed). */
bool host_info_equal(const struct host_info *a, const struct host_info *b);

#endif
