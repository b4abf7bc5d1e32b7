/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where packets come from: a network interface through an AF_PACKET TPACKET_V3 ring
 * (zero-copy: frames are read in the kernel's ring blocks), or a capture file through
 * libpcap (pcap and pcapng). Both hand frames to the same callback, so everything after
 * this module runs the same way live and offline.
 *
 * A live source can carry a classic BPF filter (compiled by libpcap from a tcpdump
 * expression) that the kernel applies before copying: the agent uses it to leave out its
 * own export traffic. On loopback every packet passes the tap twice (once leaving, once
 * arriving): the outgoing copy is skipped, as tcpdump does.
 */
#ifndef OB_AGENT_PKT_SOURCE_H
#define OB_AGENT_PKT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which way a live frame crossed the interface; a file does not say. */
enum pkt_frame_dir {
	PKT_DIR_UNKNOWN = 0, /* capture files */
	PKT_DIR_IN = 1,	     /* received on the interface */
	PKT_DIR_OUT = 2,     /* sent through it */
};

/* One frame; data valid during the call only. ts_ns: capture time since the epoch;
 * dir: enum pkt_frame_dir. */
typedef void (*pkt_frame_fn)(void *ctx, int linktype, const uint8_t *data, uint32_t cap_len,
			     uint32_t wire_len, uint64_t ts_ns, uint8_t dir);

struct pkt_source_stats {
	uint64_t frames;     /* handed to the callback */
	uint64_t bytes;	     /* wire bytes of those frames */
	uint64_t drops;	     /* the kernel's count of frames it could not queue (ring full) */
	uint64_t skipped_tx; /* loopback's outgoing copies */
};

struct pkt_live_opts {
	uint32_t snaplen;	   /* bytes kept per frame (default 65535) */
	uint64_t ring_bytes;	   /* ring size (default 32 MiB), in blocks of block_bytes */
	uint32_t block_bytes;	   /* default 1 MiB; at least snaplen + headers, a power of two */
	uint32_t block_timeout_ms; /* a partly filled block is handed over after this (100) */
	const char *filter;	   /* tcpdump filter expression or NULL */
	/* Put the interface in promiscuous mode while the source is open (as tcpdump does
	 * unless -p): a bridge then hands its taps the frames it forwards between its ports,
	 * a NIC the frames of other hosts on a mirror port. The kernel counts the mode per
	 * socket, so it ends with the source and never clears another program's. */
	bool promiscuous;
};

struct pkt_source;

/* Open a capture file. NULL on error, with the reason in err. */
struct pkt_source *pkt_source_open_file(const char *path, char *err, size_t errlen);

/* Open interface ifname for capture. NULL on error, with the reason in err. */
struct pkt_source *pkt_source_open_live(const char *ifname, const struct pkt_live_opts *o,
					char *err, size_t errlen);

void pkt_source_close(struct pkt_source *s); /* NULL-safe */

/* Descriptor to poll() for POLLIN (live), or -1 (file: always ready). */
int pkt_source_fd(const struct pkt_source *s);

/*
 * Hand up to max_frames frames to fn. Returns how many (0: nothing ready now), -ENODATA
 * at the end of a file, or another -errno (a file's error text is then in err).
 */
int pkt_source_read(struct pkt_source *s, int max_frames, pkt_frame_fn fn, void *ctx, char *err,
		    size_t errlen);

/* Counters; for a live source this also fetches the kernel's drop count. */
void pkt_source_stats(struct pkt_source *s, struct pkt_source_stats *out);

/* "eth0", or the file's path. */
const char *pkt_source_name(const struct pkt_source *s);

/* A live source on the host end of a veth pair (its far end is a namespace's NIC). */
bool pkt_source_is_veth(const struct pkt_source *s);

/* Link type of a file source (all frames of a file share it), PKT_LINK_* of a live one. */
int pkt_source_linktype(const struct pkt_source *s);

#endif
