/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packet capture runner: drives packet sources (pkt_source.h) through packet paths
 * (pktpath.h), one path per source. A capture file is read to its end on the caller's
 * thread, as fast as it goes; live interfaces are read by one thread of their own, which
 * polls every ring and ticks the paths' clocks so idle flows still time out.
 *
 * The sinks are called from that thread for live capture: the caller serialises them
 * with its own output.
 */
#ifndef OB_AGENT_CAPTURE_H
#define OB_AGENT_CAPTURE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent/pkt_source.h"
#include "agent/pktpath.h"

struct capture_sinks {
	pktpath_l4_fn l4;
	record_sink_fn l7;
	net_row_fn metrics; /* NULL: no flow_metrics rows */
	void *ctx;
};

/* Counters summed over every source. */
struct capture_stats {
	struct pktpath_stats path;
	struct pkt_source_stats src;
	unsigned int sources;
};

/* Outcome of reading a capture file. */
enum capture_file_result {
	CAPTURE_FILE_OK = 0,	     /* read to its end */
	CAPTURE_FILE_DAMAGED = 1,    /* cut short or corrupt: what came before was processed */
	CAPTURE_FILE_STOPPED = 2,    /* *stop was set */
	CAPTURE_FILE_UNREADABLE = 3, /* not opened (missing, not a capture): err says why */
	CAPTURE_FILE_NOMEM = 4,
};

/*
 * Read a capture file to its end (or until *stop), then flush every flow and request.
 * err receives the reason for DAMAGED / UNREADABLE.
 */
enum capture_file_result capture_read_file(const char *path, const struct pktpath_cfg *cfg,
					   const struct capture_sinks *sinks,
					   volatile sig_atomic_t *stop, struct capture_stats *st,
					   char *err, size_t errlen);

struct capture;

/*
 * Open every interface matching the patterns (shell globs over this network namespace's
 * interfaces; "lo" is only matched by a pattern without wildcards) and start the capture
 * thread. local addresses for observation points are this host's, refreshed while it runs.
 * NULL on error with the reason in err (no interface matched, permission, ...).
 */
struct capture *capture_start_live(char *const *patterns, size_t npatterns,
				   const struct pkt_live_opts *live, const struct pktpath_cfg *cfg,
				   const struct capture_sinks *sinks, char *err, size_t errlen);

/* Stop the thread, flush every flow and request (through the sinks, on the caller's
 * thread), close the sources. NULL-safe. stats (may be NULL) gets the final counters. */
void capture_stop(struct capture *c, struct capture_stats *st);

/* Counters now (thread-safe). */
void capture_get_stats(struct capture *c, struct capture_stats *st);

/* Interface names being captured, comma-separated. */
const char *capture_ifaces(const struct capture *c);

#endif
