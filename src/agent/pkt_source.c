/* SPDX-License-Identifier: Apache-2.0 */
/* Packet sources: see pkt_source.h. */
#include "agent/pkt_source.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <linux/sockios.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "agent/pkt.h"

enum src_kind { SRC_FILE, SRC_LIVE };

struct pkt_source {
	enum src_kind kind;
	char name[IFNAMSIZ > 256 ? IFNAMSIZ : 256];
	int linktype;
	struct pkt_source_stats st;
	/* file */
	pcap_t *pcap;
	bool damaged; /* a read failed: reported once the frames before it are handed over */
	char damage[PCAP_ERRBUF_SIZE + 64];
	/* live */
	int fd;
	bool loopback;
	bool veth;
	uint8_t *ring;
	size_t ring_len;
	uint32_t block_bytes, nblocks, cur_block;
};

/* The host end of a veth pair? Its driver says so (ethtool's driver info, as `ethtool -i`). */
static bool iface_is_veth(int fd, const char *ifname)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&info;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		return false; /* no driver info (tun, some tunnels): not a veth */
	return !strcmp(info.driver, "veth");
}

static void set_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, a, b);
}

struct pkt_source *pkt_source_open_file(const char *path, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	struct pkt_source *s;
	pcap_t *p;

	/* Nanosecond timestamps where the file has them; libpcap scales microseconds. */
	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, perr);
	if (!p) {
		set_err(err, errlen, "%s: %s", path, perr);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		pcap_close(p);
		set_err(err, errlen, "%s: %s", path, "out of memory");
		return NULL;
	}
	s->kind = SRC_FILE;
	s->pcap = p;
	s->fd = -1;
	s->linktype = pcap_datalink(p);
	snprintf(s->name, sizeof(s->name), "%s", path);
	return s;
}

/* The link type frames of an interface have, from its hardware type. */
static int live_linktype(int fd, const char *ifname, bool *loopback)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		return -errno;
	*loopback = ifr.ifr_hwaddr.sa_family == ARPHRD_LOOPBACK;
	switch (ifr.ifr_hwaddr.sa_family) {
	case ARPHRD_ETHER:
	case ARPHRD_LOOPBACK: return PKT_LINK_ETHERNET; /* lo carries (zeroed) Ethernet headers */
	case ARPHRD_NONE:				/* tun, wireguard */
	case ARPHRD_TUNNEL:
	case ARPHRD_TUNNEL6:
	case ARPHRD_IPGRE:
	case ARPHRD_SIT: return PKT_LINK_RAW;
	default: return -EPROTONOSUPPORT;
	}
}

/* Compile a tcpdump expression with libpcap and let the kernel run it on the socket. */
static int attach_filter(int fd, int linktype, uint32_t snaplen, const char *expr, char *err,
			 size_t errlen)
{
	struct bpf_program prog;
	struct sock_fprog fprog;
	pcap_t *dead = pcap_open_dead(linktype == PKT_LINK_RAW ? DLT_RAW : DLT_EN10MB, snaplen);
	int rc = 0;

	if (!dead)
		return -ENOMEM;
	if (pcap_compile(dead, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		set_err(err, errlen, "capture filter \"%s\": %s", expr, pcap_geterr(dead));
		pcap_close(dead);
		return -EINVAL;
	}
	/* struct bpf_insn and struct sock_filter have the same layout (both are cBPF). */
	fprog.len = prog.bf_len;
	fprog.filter = (struct sock_filter *)prog.bf_insns;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0) {
		rc = -errno;
		set_err(err, errlen, "capture filter \"%s\": %s", expr, strerror(-rc));
	}
	pcap_freecode(&prog);
	pcap_close(dead);
	return rc;
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 4096;

	while (p < v && p < (1u << 30))
		p <<= 1;
	return p;
}

struct pkt_source *pkt_source_open_live(const char *ifname, const struct pkt_live_opts *o,
					char *err, size_t errlen)
{
	struct pkt_live_opts opts = o ? *o : (struct pkt_live_opts){ 0 };
	struct pkt_source *s = NULL;
	struct tpacket_req3 req = { 0 };
	struct sockaddr_ll sll = { 0 };
	int fd = -1, ver = TPACKET_V3, lt, rc;
	unsigned int ifindex = if_nametoindex(ifname);
	char why[256];

	if (!ifindex) {
		set_err(err, errlen, "interface %s: %s (see: ip link)", ifname, strerror(errno));
		return NULL;
	}
	if (!opts.snaplen)
		opts.snaplen = 65535;
	if (!opts.ring_bytes)
		opts.ring_bytes = 32ull << 20;
	if (!opts.block_timeout_ms)
		opts.block_timeout_ms = 100;
	/* A block holds at least one whole frame: snaplen + headers, rounded to a page. */
	opts.block_bytes = pow2_at_least(opts.block_bytes ? opts.block_bytes : 1u << 20);
	if (opts.block_bytes < opts.snaplen + 512)
		opts.block_bytes = pow2_at_least(opts.snaplen + 512);

	/* Protocol 0 first: no packet is queued before the ring and the filter are in place. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		set_err(err, errlen,
			"interface %s: AF_PACKET socket: %s (run as root or give "
			"CAP_NET_RAW)",
			ifname, strerror(-rc));
		return NULL;
	}
	lt = live_linktype(fd, ifname, &(bool){ false });
	if (lt < 0) {
		set_err(err, errlen, "interface %s: %s", ifname,
			lt == -EPROTONOSUPPORT ? "link type not supported (Ethernet, loopback, "
						 "tun and IP tunnels are)"
					       : strerror(-lt));
		goto fail;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		set_err(err, errlen, "interface %s: %s", ifname, "out of memory");
		goto fail;
	}
	live_linktype(fd, ifname, &s->loopback);
	s->veth = iface_is_veth(fd, ifname);
	s->kind = SRC_LIVE;
	s->fd = fd;
	s->linktype = lt;
	snprintf(s->name, sizeof(s->name), "%s", ifname);

	if (opts.filter && *opts.filter &&
	    attach_filter(fd, lt, opts.snaplen, opts.filter, err, errlen) < 0)
		goto fail;
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver)) < 0) {
		snprintf(why, sizeof(why), "TPACKET_V3: %s", strerror(errno));
		set_err(err, errlen, "interface %s: %s", ifname, why);
		goto fail;
	}
	req.tp_block_size = opts.block_bytes;
	req.tp_block_nr = (uint32_t)(opts.ring_bytes / opts.block_bytes);
	if (req.tp_block_nr < 2)
		req.tp_block_nr = 2;
	req.tp_frame_size = 2048; /* V3 packs frames of any size; this only has to divide */
	req.tp_frame_nr = (uint32_t)((uint64_t)req.tp_block_size * req.tp_block_nr / 2048);
	req.tp_retire_blk_tov = opts.block_timeout_ms;
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) {
		snprintf(why, sizeof(why), "ring of %u x %u bytes: %s", req.tp_block_nr,
			 req.tp_block_size, strerror(errno));
		set_err(err, errlen, "interface %s: %s", ifname, why);
		goto fail;
	}
	s->block_bytes = req.tp_block_size;
	s->nblocks = req.tp_block_nr;
	s->ring_len = (size_t)req.tp_block_size * req.tp_block_nr;
	s->ring = mmap(NULL, s->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
	if (s->ring == MAP_FAILED) /* MAP_LOCKED can hit RLIMIT_MEMLOCK: go without */
		s->ring = mmap(NULL, s->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s->ring == MAP_FAILED) {
		s->ring = NULL;
		snprintf(why, sizeof(why), "mmap of the ring: %s", strerror(errno));
		set_err(err, errlen, "interface %s: %s", ifname, why);
		goto fail;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		snprintf(why, sizeof(why), "bind: %s", strerror(errno));
		set_err(err, errlen, "interface %s: %s", ifname, why);
		goto fail;
	}
	if (opts.promiscuous && !s->loopback) {
		struct packet_mreq mr = { .mr_ifindex = (int)ifindex,
					  .mr_type = PACKET_MR_PROMISC };

		if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
			snprintf(why, sizeof(why), "promiscuous mode: %s (or --no-promiscuous)",
				 strerror(errno));
			set_err(err, errlen, "interface %s: %s", ifname, why);
			goto fail;
		}
	}
	return s;
fail:
	if (s) {
		if (s->ring)
			munmap(s->ring, s->ring_len);
		free(s);
	}
	close(fd);
	return NULL;
}

void pkt_source_close(struct pkt_source *s)
{
	if (!s)
		return;
	if (s->pcap)
		pcap_close(s->pcap);
	if (s->ring)
		munmap(s->ring, s->ring_len);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

int pkt_source_fd(const struct pkt_source *s)
{
	return s->kind == SRC_LIVE ? s->fd : -1;
}

const char *pkt_source_name(const struct pkt_source *s)
{
	return s->name;
}

int pkt_source_linktype(const struct pkt_source *s)
{
	return s->linktype;
}

bool pkt_source_is_veth(const struct pkt_source *s)
{
	return s->kind == SRC_LIVE && s->veth;
}

static int read_file(struct pkt_source *s, int max, pkt_frame_fn fn, void *ctx, char *err,
		     size_t errlen)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int n = 0, rc;

	if (s->damaged) {
		set_err(err, errlen, "%s%s", s->damage, "");
		return -EIO;
	}
	while (n < max) {
		rc = pcap_next_ex(s->pcap, &h, &data);
		if (rc == PCAP_ERROR_BREAK)
			return n ? n : -ENODATA;
		if (rc != 1) {
			/* A file cut short mid-record lands here: keep what was read, say so on the
			 * next call. */
			s->damaged = true;
			snprintf(s->damage, sizeof(s->damage), "%s", pcap_geterr(s->pcap));
			set_err(err, errlen, "%s%s", s->damage, "");
			return n ? n : -EIO;
		}
		s->st.frames++;
		s->st.bytes += h->len;
		fn(ctx, s->linktype, data, h->caplen, h->len,
		   (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec,
		   PKT_DIR_UNKNOWN);
		n++;
	}
	return n;
}

/* Walk one ring block the kernel handed over; give it back. */
static int read_block(struct pkt_source *s, struct tpacket_block_desc *b, pkt_frame_fn fn,
		      void *ctx)
{
	uint32_t npkts = b->hdr.bh1.num_pkts;
	uint8_t *p = (uint8_t *)b + b->hdr.bh1.offset_to_first_pkt;
	int n = 0;

	for (uint32_t i = 0; i < npkts; i++) {
		struct tpacket3_hdr *h = (struct tpacket3_hdr *)p;
		const struct sockaddr_ll *sll =
			(const void *)(p + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));

		if (s->loopback && sll->sll_pkttype == PACKET_OUTGOING) {
			s->st.skipped_tx++;
		} else {
			s->st.frames++;
			s->st.bytes += h->tp_len;
			fn(ctx, s->linktype, p + h->tp_mac, h->tp_snaplen, h->tp_len,
			   (uint64_t)h->tp_sec * 1000000000ull + h->tp_nsec,
			   sll->sll_pkttype == PACKET_OUTGOING ? PKT_DIR_OUT : PKT_DIR_IN);
			n++;
		}
		p += h->tp_next_offset;
	}
	__atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
	return n;
}

static int read_live(struct pkt_source *s, int max, pkt_frame_fn fn, void *ctx)
{
	int n = 0;

	while (n < max) {
		struct tpacket_block_desc *b =
			(void *)(s->ring + (size_t)s->cur_block * s->block_bytes);

		if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			break;
		n += read_block(s, b, fn, ctx);
		s->cur_block = (s->cur_block + 1) % s->nblocks;
	}
	return n;
}

int pkt_source_read(struct pkt_source *s, int max_frames, pkt_frame_fn fn, void *ctx, char *err,
		    size_t errlen)
{
	if (s->kind == SRC_FILE)
		return read_file(s, max_frames, fn, ctx, err, errlen);
	return read_live(s, max_frames, fn, ctx);
}

void pkt_source_stats(struct pkt_source *s, struct pkt_source_stats *out)
{
	if (s->kind == SRC_LIVE) {
		struct tpacket_stats_v3 ks;
		socklen_t len = sizeof(ks);

		/* The kernel resets these on every read: accumulate. */
		if (getsockopt(s->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0)
			s->st.drops += ks.tp_drops;
	}
	*out = s->st;
}
