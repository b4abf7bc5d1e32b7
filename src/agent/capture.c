/* SPDX-License-Identifier: Apache-2.0 */
/* Packet capture runner: see capture.h. */
#include "agent/capture.h"

#include <errno.h>
#include <fnmatch.h>
#include <ifaddrs.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <net/if.h>
#include <netinet/in.h>

#include "common/log.h"

#define MAX_IFACES	 64
#define READ_BATCH	 4096
#define TICK_NS		 (200 * 1000000ull)
#define LOCAL_REFRESH_NS (10 * 1000000000ull)
#define MAX_LOCAL	 256

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Every counter struct summed here is made of uint64_t only (checked below), so a sum is
 * a loop over words: adding a counter to any of them needs no change here.
 */
static void add_words(void *dst, const void *src, size_t size)
{
	uint64_t *d = dst;
	const uint64_t *s = src;

	for (size_t i = 0; i < size / sizeof(uint64_t); i++)
		d[i] += s[i];
}

_Static_assert(sizeof(struct pktpath_stats) % sizeof(uint64_t) == 0, "u64 counters only");
_Static_assert(sizeof(struct pkt_source_stats) % sizeof(uint64_t) == 0, "u64 counters only");

enum capture_file_result capture_read_file(const char *path, const struct pktpath_cfg *cfg,
					   const struct capture_sinks *sinks,
					   volatile sig_atomic_t *stop, struct capture_stats *st,
					   char *err, size_t errlen)
{
	struct pkt_source *src = pkt_source_open_file(path, err, errlen);
	enum capture_file_result res = CAPTURE_FILE_OK;
	struct pktpath *p;
	int n;

	if (st)
		memset(st, 0, sizeof(*st));
	if (!src)
		return CAPTURE_FILE_UNREADABLE;
	p = pktpath_create(cfg, sinks->l4, sinks->l7, sinks->ctx);
	if (!p || (sinks->metrics &&
		   pktpath_set_metrics(p, sinks->metrics, sinks->ctx, cfg->metrics_max_rows))) {
		pktpath_destroy(p);
		pkt_source_close(src);
		return CAPTURE_FILE_NOMEM;
	}
	for (;;) {
		if (stop && *stop) {
			res = CAPTURE_FILE_STOPPED;
			break;
		}
		n = pkt_source_read(src, READ_BATCH, pktpath_frame, p, err, errlen);
		if (n == -ENODATA)
			break;
		if (n < 0) {
			res = CAPTURE_FILE_DAMAGED;
			break;
		}
	}
	/* Whatever happened, what was read is reported: flows end at the last packet's time. */
	pktpath_flush(p, 0);
	if (st) {
		pktpath_stats(p, &st->path);
		pkt_source_stats(src, &st->src);
		st->sources = 1;
	}
	pktpath_destroy(p);
	pkt_source_close(src);
	return res;
}

struct capture_if {
	struct pkt_source *src;
	struct pktpath *path;
	char name[IF_NAMESIZE];
	bool veth;
};

struct capture {
	struct capture_if ifs[MAX_IFACES];
	size_t nifs;
	char names[512];
	struct capture_sinks sinks;
	pthread_t thread;
	bool started;
	volatile int stop;
	pthread_mutex_t lock; /* guards snap */
	struct capture_stats snap;
};

/*
 * This host's addresses, for the paths' observation points, and which captured veths are
 * a namespace's link to a bridge or to the host (no address of their own: what they
 * carry belongs to the far end; IPv6 link-local addresses do not count) rather than an
 * endpoint's own NIC (the agent runs in that
 * namespace, the veth has its address: the address rule applies).
 */
static void refresh_local(struct capture *c)
{
	uint8_t addrs[MAX_LOCAL][16];
	uint8_t fams[MAX_LOCAL];
	bool addressed[MAX_IFACES] = { false };
	struct ifaddrs *ifa = NULL, *i;
	size_t n = 0;

	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr ||
		    (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		/* Every interface that is up has an fe80:: address of its own making. */
		if (i->ifa_addr->sa_family == AF_INET6 &&
		    IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
			continue;
		for (size_t k = 0; k < c->nifs; k++)
			if (i->ifa_name && !strcmp(i->ifa_name, c->ifs[k].name))
				addressed[k] = true;
	}
	for (i = ifa; i && n < MAX_LOCAL; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		memset(addrs[n], 0, 16);
		if (i->ifa_addr->sa_family == AF_INET) {
			memcpy(addrs[n], &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
			fams[n++] = 4;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			memcpy(addrs[n], &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
			fams[n++] = 6;
		}
	}
	freeifaddrs(ifa);
	for (size_t k = 0; k < c->nifs; k++) {
		pktpath_set_local_addrs(c->ifs[k].path, (const uint8_t(*)[16])addrs, fams, n);
		pktpath_set_capture_point(c->ifs[k].path, c->ifs[k].name,
					  c->ifs[k].veth && !addressed[k]);
	}
}

static void snapshot(struct capture *c)
{
	struct capture_stats s = { .sources = (unsigned int)c->nifs };

	for (size_t k = 0; k < c->nifs; k++) {
		struct pktpath_stats ps;
		struct pkt_source_stats ss;

		pktpath_stats(c->ifs[k].path, &ps);
		pkt_source_stats(c->ifs[k].src, &ss);
		add_words(&s.path, &ps, sizeof(ps));
		add_words(&s.src, &ss, sizeof(ss));
	}
	pthread_mutex_lock(&c->lock);
	c->snap = s;
	pthread_mutex_unlock(&c->lock);
}

static void *capture_thread(void *arg)
{
	struct capture *c = arg;
	struct pollfd pfd[MAX_IFACES];
	uint64_t last_tick = 0, last_local = realtime_ns();

	for (size_t k = 0; k < c->nifs; k++)
		pfd[k] = (struct pollfd){ .fd = pkt_source_fd(c->ifs[k].src), .events = POLLIN };
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now;

		if (poll(pfd, c->nifs, 100) < 0 && errno != EINTR) {
			ob_err("[capture] poll: %s", strerror(errno));
			break;
		}
		for (size_t k = 0; k < c->nifs; k++)
			while (pkt_source_read(c->ifs[k].src, READ_BATCH, pktpath_frame,
					       c->ifs[k].path, NULL, 0) > 0)
				;
		now = realtime_ns();
		if (now - last_tick >= TICK_NS) {
			for (size_t k = 0; k < c->nifs; k++)
				pktpath_tick(c->ifs[k].path, now);
			snapshot(c);
			last_tick = now;
		}
		if (now - last_local >= LOCAL_REFRESH_NS) {
			refresh_local(c);
			last_local = now;
		}
	}
	return NULL;
}

static bool has_glob(const char *p)
{
	return strpbrk(p, "*?[") != NULL;
}

/* Interfaces matching the patterns, in index order, each once. */
static int match_ifaces(char *const *patterns, size_t np, char names[][IF_NAMESIZE], size_t max)
{
	struct if_nameindex *all = if_nameindex(), *i;
	size_t n = 0;

	if (!all)
		return -errno;
	for (i = all; i->if_index && n < max; i++) {
		for (size_t k = 0; k < np; k++) {
			bool glob = has_glob(patterns[k]);

			/* Loopback only on request: "*" is about the network, not lo. */
			if (glob && !strcmp(i->if_name, "lo"))
				continue;
			if (glob ? !fnmatch(patterns[k], i->if_name, 0)
				 : !strcmp(patterns[k], i->if_name)) {
				snprintf(names[n++], IF_NAMESIZE, "%s", i->if_name);
				break;
			}
		}
	}
	if_freenameindex(all);
	return (int)n;
}

struct capture *capture_start_live(char *const *patterns, size_t npatterns,
				   const struct pkt_live_opts *live, const struct pktpath_cfg *cfg,
				   const struct capture_sinks *sinks, char *err, size_t errlen)
{
	char names[MAX_IFACES][IF_NAMESIZE];
	struct capture *c = calloc(1, sizeof(*c));
	int n, rc;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->sinks = *sinks;
	n = match_ifaces(patterns, npatterns, names, MAX_IFACES);
	if (n <= 0) {
		snprintf(err, errlen,
			 n < 0 ? "listing interfaces failed"
			       : "no interface matches --interface (see: ip link; lo must be "
				 "named)");
		goto fail;
	}
	for (int k = 0; k < n; k++) {
		struct capture_if *ci = &c->ifs[c->nifs];
		size_t used = strlen(c->names);

		ci->src = pkt_source_open_live(names[k], live, err, errlen);
		if (!ci->src)
			goto fail;
		ci->path = pktpath_create(cfg, sinks->l4, sinks->l7, sinks->ctx);
		if (ci->path && sinks->metrics &&
		    pktpath_set_metrics(ci->path, sinks->metrics, sinks->ctx,
					cfg->metrics_max_rows)) {
			pktpath_destroy(ci->path);
			ci->path = NULL;
		}
		if (!ci->path) {
			pkt_source_close(ci->src);
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		memcpy(ci->name, names[k], sizeof(ci->name)); /* NUL-terminated by match_ifaces */
		ci->veth = pkt_source_is_veth(ci->src);
		pktpath_set_capture_point(ci->path, ci->name, false); /* refresh_local decides */
		c->nifs++;
		snprintf(c->names + used, sizeof(c->names) - used, "%s%s", used ? "," : "",
			 names[k]);
	}
	/* An interface named exactly that does not exist is an error: a typo must not
	 * quietly capture nothing. */
	for (size_t p = 0; p < npatterns; p++) {
		bool found = has_glob(patterns[p]);

		for (size_t k = 0; !found && k < c->nifs; k++)
			found = !strcmp(names[k], patterns[p]);
		if (!found) {
			snprintf(err, errlen, "interface %s does not exist (see: ip link)",
				 patterns[p]);
			goto fail;
		}
	}
	refresh_local(c);
	rc = pthread_create(&c->thread, NULL, capture_thread, c);
	if (rc) {
		snprintf(err, errlen, "starting the capture thread: %s", strerror(rc));
		goto fail;
	}
	c->started = true;
	return c;
fail:
	capture_stop(c, NULL);
	return NULL;
}

void capture_stop(struct capture *c, struct capture_stats *st)
{
	if (!c)
		return;
	if (c->started) {
		__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
		pthread_join(c->thread, NULL);
		/* What the rings still hold, then every flow's final row. */
		for (size_t k = 0; k < c->nifs; k++) {
			while (pkt_source_read(c->ifs[k].src, READ_BATCH, pktpath_frame,
					       c->ifs[k].path, NULL, 0) > 0)
				;
			pktpath_flush(c->ifs[k].path, realtime_ns());
		}
		snapshot(c);
	}
	if (st)
		*st = c->snap;
	for (size_t k = 0; k < c->nifs; k++) {
		pktpath_destroy(c->ifs[k].path);
		pkt_source_close(c->ifs[k].src);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void capture_get_stats(struct capture *c, struct capture_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->snap;
	pthread_mutex_unlock(&c->lock);
}

const char *capture_ifaces(const struct capture *c)
{
	return c->names;
}
