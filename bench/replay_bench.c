/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The packet path's own speed: a capture file read through libpcap, decoded, tracked in
 * the flow table, reassembled and parsed into request logs, with sinks that only count
 * (so neither JSON nor a terminal is measured). Prints one line of figures.
 *
 *   build/bench/replay_bench FILE [--no-l7] [--no-metrics] [--repeat N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/capture.h"

static uint64_t l4_rows, l7_recs, metric_rows;

static void count_metric(void *ctx, const struct net_row *r)
{
	(void)ctx;
	(void)r;
	metric_rows++;
}

static void count_l4(void *ctx, const struct l4_record *r)
{
	(void)ctx;
	(void)r;
	l4_rows++;
}

static void count_l7(void *ctx, const struct l7_record *r)
{
	(void)ctx;
	(void)r;
	l7_recs++;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct pktpath_cfg cfg = {
		.l7 = { .max_conns = 65536,
			.max_pending = 64,
			.conn_idle_ns = 120000000000ull,
			.request_timeout_ns = 30000000000ull,
			.mem_budget = 64ull << 20 },
		.l7_enabled = true,
	};
	struct capture_sinks sinks = { .l4 = count_l4, .l7 = count_l7, .metrics = count_metric };
	struct capture_stats st;
	char err[512];
	int repeat = 1;
	double best = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE [--no-l7] [--no-metrics] [--repeat N]\n", argv[0]);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--no-l7"))
			cfg.l7_enabled = false;
		else if (!strcmp(argv[i], "--no-metrics"))
			sinks.metrics = NULL;
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
	}
	for (int r = 0; r < repeat; r++) {
		double t0 = cpu_s(), dt;

		l4_rows = l7_recs = metric_rows = 0;
		if (capture_read_file(argv[1], &cfg, &sinks, NULL, &st, err, sizeof(err)) !=
		    CAPTURE_FILE_OK) {
			fprintf(stderr, "replay_bench: %s\n", err);
			return 1;
		}
		dt = cpu_s() - t0;
		if (!best || dt < best)
			best = dt;
	}
	printf("packets=%llu bytes=%llu cpu_s=%.3f mpps=%.3f gbps=%.2f flows=%llu "
	       "l4_rows=%llu l7_records=%llu metric_rows=%llu l7=%s\n",
	       (unsigned long long)st.src.frames, (unsigned long long)st.src.bytes, best,
	       (double)st.src.frames / best / 1e6, (double)st.src.bytes * 8 / best / 1e9,
	       (unsigned long long)st.path.flow.flows_created, (unsigned long long)l4_rows,
	       (unsigned long long)l7_recs, (unsigned long long)metric_rows,
	       cfg.l7_enabled ? "on" : "off");
	return 0;
}
