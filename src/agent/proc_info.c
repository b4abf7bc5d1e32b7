/* SPDX-License-Identifier: Apache-2.0 */
/* Host and process reports from /proc: see proc_info.h. */
#include "agent/proc_info.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Read at most cap-1 bytes of a small file, NUL-terminated. Bytes read or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	ssize_t n, got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((size_t)got < cap - 1) {
		n = read(fd, buf + got, cap - 1 - (size_t)got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			got = -errno;
			break;
		}
		if (!n)
			break;
		got += n;
	}
	close(fd);
	if (got >= 0)
		buf[got] = 0;
	return got;
}

/* btime of /proc/stat, line by line: the file grows with the CPU count. */
static int boot_time_s(const char *proc_root, uint64_t *out)
{
	char path[256], *line = NULL;
	size_t cap = 0;
	int rc = -EPROTO;
	FILE *f;

	snprintf(path, sizeof(path), "%s/stat", proc_root);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		if (!strncmp(line, "btime ", 6)) {
			*out = strtoull(line + 6, NULL, 10);
			rc = 0;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

int proc_start_time_us(const char *proc_root, uint32_t pid, uint64_t *out)
{
	char path[256], buf[1024], *p, *end;
	unsigned long long ticks;
	uint64_t btime = 0;
	long hz = sysconf(_SC_CLK_TCK);
	ssize_t n;
	int rc;

	snprintf(path, sizeof(path), "%s/%u/stat", proc_root, pid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	/* comm (field 2) may hold spaces and parentheses: fields restart after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -EPROTO;
	p++;
	/* Field 22 (starttime) is the 20th after the ')'. */
	for (int f = 0; f < 20; f++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EPROTO;
		if (f == 19)
			break;
		while (*p && *p != ' ')
			p++;
	}
	errno = 0;
	ticks = strtoull(p, &end, 10);
	if (errno || end == p)
		return -EPROTO;
	rc = boot_time_s(proc_root, &btime);
	if (rc)
		return rc;
	if (hz <= 0)
		hz = 100;
	*out = btime * 1000000ull + ticks * 1000000ull / (unsigned long long)hz;
	return 0;
}

static bool is_hex64(const char *s, size_t n)
{
	if (n != PROC_CONTAINER_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* A path component that names a container: its id's start, or NULL. */
static const char *component_id(const char *c, size_t n)
{
	/* Prefixes of systemd scope units, longest first where one starts another. */
	static const char *const prefixes[] = {
		"docker-", "cri-containerd-", "crio-", "libpod-conmon-", "libpod-",
	};
	static const char scope[] = ".scope";

	if (is_hex64(c, n))
		return c; /* cgroupfs driver: /docker/<id>, /kubepods/burstable/pod.../<id> */
	if (n > sizeof(scope) - 1 &&
	    !memcmp(c + n - (sizeof(scope) - 1), scope, sizeof(scope) - 1)) {
		n -= sizeof(scope) - 1;
		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			size_t pl = strlen(prefixes[i]);

			if (n > pl && !memcmp(c, prefixes[i], pl) && is_hex64(c + pl, n - pl))
				return c + pl;
		}
	}
	return NULL;
}

bool proc_container_id(const char *text, size_t len, char out[PROC_CONTAINER_ID_LEN + 1])
{
	const char *line = text, *end = text + len;
	bool found = false;

	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		const char *path, *c;

		if (!eol)
			eol = end;
		/* "ID:CONTROLLERS:PATH": the path follows the second ':'. */
		path = memchr(line, ':', (size_t)(eol - line));
		if (path)
			path = memchr(path + 1, ':', (size_t)(eol - path - 1));
		for (c = path ? path + 1 : eol; c < eol;) {
			const char *slash = memchr(c, '/', (size_t)(eol - c));
			const char *ce = slash ? slash : eol;
			const char *id = component_id(c, (size_t)(ce - c));

			if (id) {
				/* The innermost wins: nested runtimes name the inner container
				 * last. */
				for (int i = 0; i < PROC_CONTAINER_ID_LEN; i++)
					out[i] = (char)tolower((unsigned char)id[i]);
				out[PROC_CONTAINER_ID_LEN] = 0;
				found = true;
			}
			c = ce + 1;
		}
		/* Every line of one process names the same container: the first that does. */
		if (found)
			return true;
		line = eol + 1;
	}
	return false;
}

static void read_status_uid(const char *proc_root, uint32_t pid, struct proc_info *out)
{
	char path[256], buf[4096], *p;

	snprintf(path, sizeof(path), "%s/%u/status", proc_root, pid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return;
	p = strstr(buf, "\nUid:");
	if (!p)
		return;
	out->uid = (uint32_t)strtoul(p + 5, NULL, 10);
	out->has_uid = true;
}

static void user_name(uid_t uid, char *out, size_t cap)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (!getpwuid_r(uid, &pw, buf, sizeof(buf), &res) && res)
		snprintf(out, cap, "%s", res->pw_name);
}

int proc_info_read(const char *proc_root, uint32_t pid, struct proc_info *out)
{
	char path[256], buf[4096];
	struct stat st;
	ssize_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	out->pid = pid;
	rc = proc_start_time_us(proc_root, pid, &out->start_time_us);
	if (rc)
		return rc == -ENOENT || rc == -ESRCH ? -ENOENT : rc;
	snprintf(path, sizeof(path), "%s/%u/comm", proc_root, pid);
	if (read_small(path, out->comm, sizeof(out->comm)) > 0)
		out->comm[strcspn(out->comm, "\n")] = 0;
	snprintf(path, sizeof(path), "%s/%u/exe", proc_root, pid);
	n = readlink(path, out->exe, sizeof(out->exe) - 1);
	out->exe[n > 0 ? n : 0] = 0;
	snprintf(path, sizeof(path), "%s/%u/cmdline", proc_root, pid);
	n = read_small(path, out->cmdline, sizeof(out->cmdline));
	/* NUL-separated arguments, the last one's NUL included: joined by spaces. */
	while (n > 0 && !out->cmdline[n - 1])
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (!out->cmdline[i])
			out->cmdline[i] = ' ';
	out->cmdline[n > 0 ? n : 0] = 0;
	read_status_uid(proc_root, pid, out);
	if (out->has_uid)
		user_name(out->uid, out->user, sizeof(out->user));
	snprintf(path, sizeof(path), "%s/%u/cgroup", proc_root, pid);
	n = read_small(path, buf, sizeof(buf));
	if (n > 0)
		proc_container_id(buf, (size_t)n, out->container_id);
	snprintf(path, sizeof(path), "%s/%u/ns/net", proc_root, pid);
	if (!stat(path, &st))
		out->netns_inode = st.st_ino;
	return 0;
}

int host_info_read(struct host_info *out)
{
	struct ifaddrs *ifa = NULL, *i;

	memset(out, 0, sizeof(*out));
	if (gethostname(out->hostname, sizeof(out->hostname) - 1) || !out->hostname[0])
		snprintf(out->hostname, sizeof(out->hostname), "localhost");
	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i && out->nips < HOST_MAX_IPS; i = i->ifa_next) {
		struct host_ip ip = { 0 };
		bool dup = false;

		if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			ip.family = 4;
			memcpy(ip.a, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *a6 =
				&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(a6) || IN6_IS_ADDR_LOOPBACK(a6))
				continue;
			ip.family = 6;
			memcpy(ip.a, a6, 16);
		} else {
			continue;
		}
		for (size_t k = 0; k < out->nips && !dup; k++)
			dup = !memcmp(&out->ips[k], &ip, sizeof(ip));
		if (!dup)
			out->ips[out->nips++] = ip;
	}
	freeifaddrs(ifa);
	return 0;
}

bool host_info_equal(const struct host_info *a, const struct host_info *b)
{
	return !strcmp(a->hostname, b->hostname) && a->nips == b->nips &&
	       !memcmp(a->ips, b->ips, a->nips * sizeof(a->ips[0]));
}
