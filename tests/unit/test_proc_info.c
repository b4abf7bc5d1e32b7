/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's process and host reports (src/agent/proc_info.c): container ids from
 * /proc/PID/cgroup in every runtime's layout (cgroup v1 and v2, systemd and cgroupfs
 * drivers) and lines that are not containers; a process read from a fixture /proc tree
 * field by field (start time from btime and clock ticks, cmdline joined, uid to name); this
 * very process read from the real /proc; the host's name and addresses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/proc_info.h"

#define ID_A "3f2a9c1d5e7b4a60891c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6"
#define ID_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct cg_case {
	const char *what;
	const char *text;
	const char *want; /* NULL: not a container */
};

static const struct cg_case cg_cases[] = {
	{ "docker, cgroup v1, cgroupfs driver",
	  "12:memory:/docker/" ID_A "\n11:cpu,cpuacct:/docker/" ID_A "\n0::/docker/" ID_A "\n",
	  ID_A },
	{ "docker, cgroup v2, systemd driver", "0::/system.slice/docker-" ID_A ".scope\n", ID_A },
	{ "containerd (CRI), cgroup v2, systemd driver",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_5f60_"
	  "7182_93a4_b5c6d7e8f901.slice/cri-containerd-" ID_A ".scope\n",
	  ID_A },
	{ "kubernetes, cgroup v1, cgroupfs driver",
	  "4:pids:/kubepods/burstable/pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901/" ID_A "\n", ID_A },
	{ "kubernetes besteffort, cgroup v2, cgroupfs driver",
	  "0::/kubepods/besteffort/pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901/" ID_A "\n", ID_A },
	{ "CRI-O", "0::/kubepods.slice/kubepods-pod1.slice/crio-" ID_A ".scope\n", ID_A },
	{ "podman", "0::/machine.slice/libpod-" ID_A ".scope/container\n", ID_A },
	{ "podman's conmon", "0::/machine.slice/libpod-conmon-" ID_A ".scope\n", ID_A },
	{ "upper case hex is lowered",
	  "0::/system.slice/docker-3F2A9C1D5E7B4A60891C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F708192A3B4C5D6"
	  ".scope\n",
	  ID_A },
	{ "nested: the innermost", "0::/docker/" ID_B "/docker/" ID_A "\n", ID_A },
	{ "v1 line without the id, a later one with it",
	  "12:freezer:/\n11:devices:/docker/" ID_B "\n", ID_B },
	{ "no newline at the end", "0::/docker/" ID_A, ID_A },
	/* Not containers. */
	{ "a login session", "0::/user.slice/user-1000.slice/session-2.scope\n", NULL },
	{ "init", "0::/init.scope\n", NULL },
	{ "a system service", "0::/system.slice/ssh.service\n", NULL },
	{ "the root", "0::/\n", NULL },
	{ "63 hex digits",
	  "0::/docker/"
	  "3f2a9c1d5e7b4a60891c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d"
	  "\n",
	  NULL },
	{ "65 hex digits", "0::/docker/" ID_A "0\n", NULL },
	{ "not hex",
	  "0::/system.slice/docker-"
	  "3f2a9c1d5e7b4a60891c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5dg"
	  ".scope\n",
	  NULL },
	{ "a scope of another runtime prefix", "0::/system.slice/rkt-" ID_A ".scope\n", NULL },
	{ "docker- without .scope", "0::/system.slice/docker-" ID_A "\n", NULL },
	{ "the id in the controllers, not the path", "1:" ID_A ":/\n", NULL },
	{ "empty", "", NULL },
};

static void test_cgroup_layouts(void **state)
{
	char id[PROC_CONTAINER_ID_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(cg_cases) / sizeof(cg_cases[0]); i++) {
		const struct cg_case *c = &cg_cases[i];
		bool got;

		memset(id, 'x', sizeof(id));
		got = proc_container_id(c->text, strlen(c->text), id);
		if (got != (c->want != NULL))
			fail_msg("%s: found %d", c->what, got);
		if (c->want && strcmp(id, c->want))
			fail_msg("%s: '%s' want '%s'", c->what, id, c->want);
	}
}

static char root[64];

static void put(const char *rel, const char *data, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void test_fixture_process(void **state)
{
	static const char cmdline[] = "/usr/sbin/nginx\0-g\0daemon off;\0";
	/* comm with a space and a ')' in it: fields are counted after the last ')'. */
	static const char stat_line[] =
		"4242 (ng x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 5 6 0 0 20 0 1 0 "
		"123456 12345678 1000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 3 0 0\n";
	static const char status[] = "Name:\tnginx\nUmask:\t0022\nState:\tS (sleeping)\n"
				     "Uid:\t0\t33\t33\t33\nGid:\t0\t0\t0\t0\n";
	char dir[128], target[256];
	struct proc_info pi;
	long hz = sysconf(_SC_CLK_TCK);

	(void)state;
	snprintf(root, sizeof(root), "/tmp/proc_info_test.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/4242", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/4242/ns", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	put("stat", "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 5\nctxt 6\nbtime 1700000000\n", 57);
	put("4242/stat", stat_line, sizeof(stat_line) - 1);
	put("4242/comm", "ng x) y\n", 8);
	put("4242/cmdline", cmdline, sizeof(cmdline) - 1);
	put("4242/status", status, sizeof(status) - 1);
	put("4242/cgroup", "0::/system.slice/docker-" ID_A ".scope\n", 24 + 64 + 7);
	put("4242/ns/net", "", 0);
	snprintf(target, sizeof(target), "%s/4242/exe", root);
	assert_int_equal(symlink("/usr/sbin/nginx", target), 0);

	assert_int_equal(proc_info_read(root, 4242, &pi), 0);
	assert_int_equal(pi.pid, 4242);
	assert_int_equal(pi.start_time_us, 1700000000ull * 1000000 + 123456ull * 1000000 / hz);
	assert_string_equal(pi.comm, "ng x) y");
	assert_string_equal(pi.exe, "/usr/sbin/nginx");
	assert_string_equal(pi.cmdline, "/usr/sbin/nginx -g daemon off;");
	assert_true(pi.has_uid);
	assert_int_equal(pi.uid, 0);
	assert_string_equal(pi.user, "root");
	assert_string_equal(pi.container_id, ID_A);
	{
		struct stat st;

		snprintf(target, sizeof(target), "%s/4242/ns/net", root);
		assert_int_equal(stat(target, &st), 0);
		assert_int_equal(pi.netns_inode, st.st_ino);
	}
	/* Gone: only the pid. */
	assert_int_equal(proc_info_read(root, 4243, &pi), -ENOENT);
	assert_int_equal(pi.pid, 4243);
	assert_int_equal(pi.start_time_us, 0);
	assert_string_equal(pi.comm, "");
	/* A stat line cut before field 22 is refused, not read as 0. */
	put("4242/stat", "4242 (nginx) S 1 4242\n", 22);
	assert_int_equal(proc_info_read(root, 4242, &pi), -EPROTO);
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		assert_int_equal(system(cmd), 0);
	}
}

static void test_self(void **state)
{
	struct proc_info pi;
	struct stat st;
	uint64_t again;

	(void)state;
	assert_int_equal(proc_info_read("/proc", (uint32_t)getpid(), &pi), 0);
	assert_string_equal(pi.comm, "test_proc_info");
	assert_non_null(strstr(pi.exe, "test_proc_info"));
	assert_non_null(strstr(pi.cmdline, "test_proc_info"));
	assert_true(pi.has_uid);
	assert_int_equal(pi.uid, getuid());
	assert_int_equal(stat("/proc/self/ns/net", &st), 0);
	assert_int_equal(pi.netns_inode, st.st_ino);
	/* The start time is stable from read to read (it names the process in gprocess ids). */
	assert_int_equal(proc_start_time_us("/proc", (uint32_t)getpid(), &again), 0);
	assert_int_equal(again, pi.start_time_us);
	assert_true(pi.start_time_us > 1600000000ull * 1000000);
}

static void test_host(void **state)
{
	struct host_info h, h2;
	char name[HOST_NAME_CAP];

	(void)state;
	assert_int_equal(host_info_read(&h), 0);
	assert_int_equal(gethostname(name, sizeof(name)), 0);
	assert_string_equal(h.hostname, name);
	for (size_t i = 0; i < h.nips; i++) {
		assert_true(h.ips[i].family == 4 || h.ips[i].family == 6);
		/* No loopback. */
		assert_false(h.ips[i].family == 4 && h.ips[i].a[0] == 127);
	}
	assert_int_equal(host_info_read(&h2), 0);
	assert_true(host_info_equal(&h, &h2));
	snprintf(h2.hostname, sizeof(h2.hostname), "other");
	assert_false(host_info_equal(&h, &h2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroup_layouts),
		cmocka_unit_test(test_fixture_process),
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_host),
	};

	return cmocka_run_group_tests_name("proc_info", tests, NULL, NULL);
}
