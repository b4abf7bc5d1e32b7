/* SPDX-License-Identifier: Apache-2.0 */
/*
 * L7 parser throughput on captured payloads. The captures are read once through the real
 * packet path (decode, flow table, TCP reassembly) and the payload each flow delivers to
 * the L7 side is kept in memory, in order. Then only that is timed: the payloads replayed
 * through the intake (protocol detection, the parser, request/response pairing, record
 * building), over and over until enough CPU time has passed. Records go to a sink that
 * counts them. Prints one line: records/s and MB/s per core, and records per protocol.
 *
 *   build/bench/proto_bench [--min-cpu-ms N] FILE...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/flow.h"
#include "agent/intake.h"
#include "agent/pkt.h"
#include "agent/pkt_source.h"
#include "bpf/shared/socket_event.h"

/* One delivery to the L7 side: a piece of payload, or a flow's close (data NULL). */
struct delivery {
	struct fs_event ev;
	uint8_t *data;
	uint64_t close_ts;
	int close;
};

struct load {
	struct delivery *d;
	size_t n, cap;
	uint64_t bytes;
	uint64_t flow_base; /* flow ids of each file are made distinct */
	struct pkt_decoder *dec;
	struct flow_table *flows;
};

static struct delivery *push(struct load *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->d = realloc(l->d, l->cap * sizeof(*l->d));
		if (!l->d) {
			fprintf(stderr, "proto_bench: out of memory\n");
			exit(1);
		}
	}
	memset(&l->d[l->n], 0, sizeof(l->d[0]));
	return &l->d[l->n++];
}

static void on_data(void *ctx, const struct flow_view *f, uint8_t dir, uint64_t ts_ns, uint32_t seq,
		    const uint8_t *data, uint32_t len, uint32_t gap)
{
	struct load *l = ctx;
	struct delivery *d = push(l);

	d->ev = (struct fs_event){
		.ts_enter_ns = ts_ns,
		.ts_exit_ns = ts_ns,
		.socket_id = l->flow_base + f->flow_id,
		.syscall_len = (uint64_t)len + gap,
		.type = FS_EV_DATA,
		.tcp_seq = seq,
		.cap_len = len,
		.sport = f->client_port,
		.dport = f->server_port,
		.family = f->family,
		.l4_proto = f->l4_proto,
		.direction = dir ? FS_DIR_INGRESS : FS_DIR_EGRESS,
		.role = FS_ROLE_CLIENT,
	};
	memcpy(d->ev.saddr, f->addr0, 16);
	memcpy(d->ev.daddr, f->addr1, 16);
	d->data = malloc(len ? len : 1);
	if (!d->data) {
		fprintf(stderr, "proto_bench: out of memory\n");
		exit(1);
	}
	if (len)
		memcpy(d->data, data, len);
	l->bytes += len;
}

static uint16_t on_closed(void *ctx, const struct flow_view *f, uint64_t ts_ns)
{
	struct load *l = ctx;
	struct delivery *d = push(l);

	d->close = 1;
	d->close_ts = ts_ns;
	d->ev.socket_id = l->flow_base + f->flow_id;
	return 0;
}

static void on_frame(void *ctx, int linktype, const uint8_t *data, uint32_t cap_len,
		     uint32_t wire_len, uint64_t ts_ns, uint8_t dir)
{
	struct load *l = ctx;

	(void)dir;
	struct pkt pk;

	if (pkt_decode(l->dec, linktype, data, cap_len, wire_len, ts_ns, &pk) == PKT_OK)
		flow_table_packet(l->flows, &pk);
}

static void no_report(void *ctx, const struct l4_flow_rec *r)
{
	(void)ctx;
	(void)r;
}

static void load_file(struct load *l, const char *path)
{
	static const struct flow_l7_ops ops = { .data = on_data, .closed = on_closed };
	struct flow_cfg fcfg = { .l7 = true };
	char err[256];
	struct pkt_source *s = pkt_source_open_file(path, err, sizeof(err));
	int rc;

	if (!s) {
		fprintf(stderr, "proto_bench: %s\n", err);
		exit(1);
	}
	l->dec = pkt_decoder_create(NULL);
	l->flows = flow_table_create(&fcfg, no_report, NULL, &ops, l);
	if (!l->dec || !l->flows) {
		fprintf(stderr, "proto_bench: out of memory\n");
		exit(1);
	}
	do
		rc = pkt_source_read(s, 4096, on_frame, l, err, sizeof(err));
	while (rc > 0);
	/* Every flow ends, so the L7 side sees each close. */
	flow_table_flush(l->flows, UINT64_MAX / 2);
	flow_table_destroy(l->flows);
	pkt_decoder_destroy(l->dec);
	pkt_source_close(s);
	l->flow_base += 1ull << 32;
}

static uint64_t records, by_proto[PROTO_ID_MAX];

static void count(void *ctx, const struct l7_record *r)
{
	(void)ctx;
	records++;
	by_proto[r->l7_proto % PROTO_ID_MAX]++;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One pass over everything loaded through a fresh intake. */
static void replay(const struct load *l)
{
	const struct intake_cfg cfg = {
		.max_conns = 65536,
		.max_pending = 64,
		.conn_idle_ns = 120000000000ull,
		.request_timeout_ns = 30000000000ull,
		.mem_budget = 256ull << 20,
		.packet = true,
	};
	struct intake *in = intake_create(&cfg, count, NULL);
	uint64_t last = 0;

	if (!in) {
		fprintf(stderr, "proto_bench: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct delivery *d = &l->d[i];

		if (d->close) {
			intake_close(in, d->ev.socket_id, d->close_ts);
		} else {
			intake_data(in, &d->ev, d->data);
			last = d->ev.ts_exit_ns;
		}
	}
	intake_flush_all(in, last + 1);
	intake_destroy(in);
}

int main(int argc, char **argv)
{
	struct load l = { 0 };
	double min_cpu = 1.0, t0, dt;
	uint64_t passes = 0, per_pass;
	int first = 1;

	if (argc > 2 && !strcmp(argv[1], "--min-cpu-ms")) {
		min_cpu = atof(argv[2]) / 1000.0;
		first = 3;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: %s [--min-cpu-ms N] FILE...\n", argv[0]);
		return 2;
	}
	for (int i = first; i < argc; i++)
		load_file(&l, argv[i]);
	replay(&l); /* warm up, and count one pass */
	per_pass = records;
	if (!per_pass) {
		fprintf(stderr, "proto_bench: no request logs in these captures\n");
		return 1;
	}
	memset(by_proto, 0, sizeof(by_proto));
	records = 0;
	t0 = cpu_s();
	do {
		replay(&l);
		passes++;
		dt = cpu_s() - t0;
	} while (dt < min_cpu);
	printf("captures=%d deliveries=%zu payload_bytes=%llu records_per_pass=%llu passes=%llu "
	       "cpu_s=%.3f records_per_s=%.0f mb_per_s=%.1f",
	       argc - first, l.n, (unsigned long long)l.bytes, (unsigned long long)per_pass,
	       (unsigned long long)passes, dt, (double)records / dt,
	       (double)l.bytes * (double)passes / dt / 1e6);
	for (int p = 0; p < PROTO_ID_MAX; p++)
		if (by_proto[p])
			printf(" %s=%llu", p ? proto_name((enum proto_id)p) : "unknown",
			       (unsigned long long)(by_proto[p] / passes));
	printf("\n");
	for (size_t i = 0; i < l.n; i++)
		free(l.d[i].data);
	free(l.d);
	return 0;
}
