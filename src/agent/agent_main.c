/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flowscope-agent: capture every request of every process on this host through eBPF
 * syscall tracepoints and write one l7_flow_log record per exchange.
 *
 * The main loop polls the ring buffer, feeds the intake, ticks timeouts a few times a
 * second and flushes output after each round, so a record appears within about one
 * poll interval of its response. Records go to stdout (--stdout) and/or to a
 * flowscope-server (--server, through the exporter). SIGINT/SIGTERM end the loop;
 * pending requests are then written out, the exporter is given drain_timeout to deliver
 * its spool, and the process exits 0.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "agent/capture.h"
#include "agent/exporter.h"
#include "agent/l4_record.h"
#include "agent/intake.h"
#include "agent/probe.h"
#include "agent/record.h"
#include "agent/stats.h"
#include "common/conf.h"
#include "common/jsonw.h"
#include "common/log.h"

#include "common/version.h"

struct agent_cfg {
	bool out_stdout;
	char *server;
	char *agent_id;
	int64_t batch_records;
	uint64_t batch_interval_ms;
	uint64_t spool_size;
	uint64_t retry_max_backoff_ms;
	uint64_t send_timeout_ms;
	uint64_t heartbeat_interval_ms;
	uint64_t drain_timeout_ms;
	uint64_t pid;
	char *comm;
	int64_t capture_bytes;
	uint64_t ringbuf_size;
	uint64_t wakeup_bytes;
	uint64_t poll_interval_ms;
	int64_t max_connections;
	int64_t max_pending;
	uint64_t request_timeout_ms;
	uint64_t conn_idle_timeout_ms;
	uint64_t memory_budget;
	bool stats;
	uint64_t stats_interval_ms;
	char *log_level;
	bool ebpf;
	char *interfaces;
	char *read_pcap;
	char *packet_filter;
	uint64_t snaplen;
	uint64_t capture_ring_size;
	int64_t max_flows;
	uint64_t flow_report_interval_ms;
	bool packet_l7;
	bool promiscuous;
	bool network_metrics;
	int64_t metrics_max_rows;
	bool keep_sensitive_values;
	bool syscall_trace_id;
	int64_t syscall_trace_entries;
	bool go_goroutines;
};

#define K(name) offsetof(struct agent_cfg, name)

static const struct conf_key agent_keys[] = {
	{ "stdout", CONF_BOOL, K(out_stdout), "false", 0, 0, NULL,
	  "write every record to stdout as one JSON object per line" },
	{ "server", CONF_STRING, K(server), NULL, 0, 0, "URL",
	  "send every record to the flowscope-server at this URL, e.g. http://127.0.0.1:20416" },
	{ "agent_id", CONF_STRING, K(agent_id), NULL, 0, 0, "NAME",
	  "this agent's name at the server, unique per host (default: the host name)" },
	{ "batch_records", CONF_INT, K(batch_records), "1000", 1, WIRE_MAX_RECORDS, "N",
	  "records per batch sent to the server" },
	{ "batch_interval", CONF_DURATION_MS, K(batch_interval_ms), "1s", 10, 60000, "DURATION",
	  "longest a record waits for its batch to fill before it is sent" },
	{ "spool_size", CONF_SIZE, K(spool_size), "64MiB", 65536, 1ll << 36, "SIZE",
	  "compressed batches kept while the server is unreachable; beyond it the oldest are "
	  "dropped and counted" },
	{ "retry_max_backoff", CONF_DURATION_MS, K(retry_max_backoff_ms), "5s", 100, 600000,
	  "DURATION", "longest wait between two tries to reach the server" },
	{ "send_timeout", CONF_DURATION_MS, K(send_timeout_ms), "10s", 100, 600000, "DURATION",
	  "one send to the server, connecting included, fails after this" },
	{ "heartbeat_interval", CONF_DURATION_MS, K(heartbeat_interval_ms), "5s", 100, 3600000,
	  "DURATION", "an idle agent still reports its counters to the server this often" },
	{ "drain_timeout", CONF_DURATION_MS, K(drain_timeout_ms), "5s", 0, 600000, "DURATION",
	  "at exit, time given to deliver what is spooled; the rest is counted as lost" },
	{ "pid", CONF_UINT, K(pid), "0", 0, 4194304, "PID",
	  "capture only this process (0: every process)" },
	{ "comm", CONF_STRING, K(comm), NULL, 0, 0, "NAME",
	  "capture only threads with this name (the kernel comm, at most 15 chars)" },
	{ "capture_bytes", CONF_INT, K(capture_bytes), "1024", 1, FS_CAP_MAX, "N",
	  "payload bytes copied per syscall; larger messages are still measured whole" },
	{ "ringbuf_size", CONF_SIZE, K(ringbuf_size), "8MiB", 65536, 1ll << 30, "SIZE",
	  "kernel-to-agent ring buffer (a power of two); events beyond it are counted as lost" },
	{ "wakeup_bytes", CONF_SIZE, K(wakeup_bytes), "256KiB", 0, 1ll << 30, "SIZE",
	  "wake the agent early once this much is queued (batching lowers overhead)" },
	{ "poll_interval", CONF_DURATION_MS, K(poll_interval_ms), "100ms", 1, 10000, "DURATION",
	  "longest a record waits in the ring before the agent drains it" },
	{ "max_connections", CONF_INT, K(max_connections), "65536", 16, 16777216, "N",
	  "connections tracked at once; the least recently active is evicted beyond it" },
	{ "max_pending", CONF_INT, K(max_pending), "64", 1, 4096, "N",
	  "unanswered requests kept per connection (pipelining depth)" },
	{ "request_timeout", CONF_DURATION_MS, K(request_timeout_ms), "30s", 1, 86400000,
	  "DURATION", "a request without a response after this is recorded as a timeout" },
	{ "conn_idle_timeout", CONF_DURATION_MS, K(conn_idle_timeout_ms), "120s", 1, 86400000,
	  "DURATION", "a connection silent this long is flushed and forgotten" },
	{ "memory_budget", CONF_SIZE, K(memory_budget), "64MiB", 1 << 20, 1ll << 40, "SIZE",
	  "bytes for partial messages, parser state and pending requests; beyond it data "
	  "is dropped and counted" },
	{ "stats", CONF_BOOL, K(stats), "false", 0, 0, NULL,
	  "print counters to stderr at exit (and every stats_interval if set)" },
	{ "stats_interval", CONF_DURATION_MS, K(stats_interval_ms), "0", 0, 86400000, "DURATION",
	  "with --stats: also print counters this often (0: only at exit)" },
	{ "log_level", CONF_STRING, K(log_level), "info", 0, 0, "LEVEL",
	  "error, warn, info or debug" },
	{ "ebpf", CONF_BOOL, K(ebpf), "true", 0, 0, NULL,
	  "capture syscalls through eBPF (--ebpf=false: packets only)" },
	{ "interface", CONF_LIST, K(interfaces), NULL, 0, 0, "NAME",
	  "also capture packets on this interface; give it again for more, or a pattern "
	  "such as 'veth*' (lo only when named)" },
	{ "read_pcap", CONF_STRING, K(read_pcap), NULL, 0, 0, "FILE",
	  "run the packet path over a capture file (pcap or pcapng) instead, then exit" },
	{ "packet_filter", CONF_STRING, K(packet_filter), NULL, 0, 0, "FILTER",
	  "tcpdump filter expression: only matching packets are captured" },
	{ "snaplen", CONF_SIZE, K(snaplen), "65535", 64, 262144, "SIZE",
	  "bytes kept of each packet" },
	{ "promiscuous", CONF_BOOL, K(promiscuous), "true", 0, 0, NULL,
	  "put captured interfaces in promiscuous mode (as tcpdump does): a bridge then shows "
	  "the traffic it forwards between namespaces, a mirror port other hosts' traffic" },
	{ "capture_ring_size", CONF_SIZE, K(capture_ring_size), "32MiB", 1 << 20, 1ll << 32, "SIZE",
	  "kernel ring per interface; packets beyond it are counted as lost" },
	{ "max_flows", CONF_INT, K(max_flows), "65536", 16, 16777216, "N",
	  "TCP/UDP flows tracked at once per interface; the least recently active ends "
	  "beyond it" },
	{ "flow_report_interval", CONF_DURATION_MS, K(flow_report_interval_ms), "60s", 1000,
	  3600000, "DURATION", "a long flow gets an l4_flow_log row this often" },
	{ "packet_l7", CONF_BOOL, K(packet_l7), "true", 0, 0, NULL,
	  "parse request logs from packet payload too" },
	{ "network_metrics", CONF_BOOL, K(network_metrics), "true", 0, 0, NULL,
	  "make flow_metrics.network / network_map rows (1 s and 1 m) from packets" },
	{ "metrics_max_rows", CONF_INT, K(metrics_max_rows), "65536", 1024, 16777216, "N",
	  "metric rows (time buckets) held at once per interface, ~0.5 KiB each; beyond it "
	  "flow seconds are dropped from metrics and counted" },
	{ "syscall_trace_id", CONF_BOOL, K(syscall_trace_id), "true", 0, 0, NULL,
	  "give each message a syscall_trace_id that joins a service's inbound request to its "
	  "downstream calls (docs/tracing.md); false: every id is 0" },
	{ "syscall_trace_entries", CONF_INT, K(syscall_trace_entries), "65536", 1024, 16777216, "N",
	  "threads and sockets whose trace state the kernel keeps (each; least recently "
	  "used evicted beyond it)" },
	{ "go_goroutines", CONF_BOOL, K(go_goroutines), "true", 0, 0, NULL,
	  "in Go 1.18-1.22 programs (x86-64), fill syscall_coroutine_0/1 and keep "
	  "syscall_trace_id state per goroutine instead of per thread (docs/tracing.md)" },
	{ "keep_sensitive_values", CONF_BOOL, K(keep_sensitive_values), "false", 0, 0, NULL,
	  "keep SQL literals, Redis values and credentials in request logs (by default they "
	  "are replaced by '?' or left out)" },
	{ 0 },
};

static const struct conf_spec agent_spec = {
	.prog = "flowscope-agent",
	.summary = "Capture every HTTP/1.x request and response of every process on this host,\n"
		   "with no change to the applications, through eBPF syscall tracepoints. Each\n"
		   "request/response exchange becomes one flow_log.l7_flow_log record. Needs root\n"
		   "(or CAP_BPF + CAP_PERFMON) and a kernel with BTF.\n"
		   "\n"
		   "With --interface it also captures packets (AF_PACKET): every TCP/UDP flow\n"
		   "becomes flow_log.l4_flow_log rows (bytes, RTT, retransmissions, zero windows,\n"
		   "close type), and requests on the wire become l7_flow_log records too.\n"
		   "--read-pcap runs the same packet path over a capture file and exits: 0 when\n"
		   "it was read whole, 1 when it could not be opened, 3 when it was cut short\n"
		   "or corrupt (what came before is still reported).",
	.examples = "  flowscope-agent --stdout                    every process, JSON lines\n"
		    "  flowscope-agent --server http://127.0.0.1:20416   send to flowscope-server\n"
		    "  flowscope-agent --stdout --comm nginx       only nginx\n"
		    "  flowscope-agent --stdout --pid 1234 --capture-bytes 4096\n"
		    "  flowscope-agent --stdout --stats | jq -c '{request_resource, "
		    "response_code}'\n"
		    "  flowscope-agent --stdout --interface eth0   syscalls and eth0's packets\n"
		    "  flowscope-agent --stdout --ebpf=false --interface 'veth*'\n"
		    "  flowscope-agent --stdout --read-pcap trace.pcapng\n",
	.default_path = "/etc/flowscope/agent.yaml",
	.keys = agent_keys,
	.version = FLOWSCOPE_VERSION,
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct agent {
	struct agent_cfg cfg;
	struct intake *intake;
	struct probe *probe;
	struct jsonw json;
	struct output_stats out;
	struct exporter *exporter;
	struct capture *capture;
	/* Records come from the eBPF loop and the capture thread: one writer at a time. */
	pthread_mutex_t out_lock;
	struct capture_stats pcap_stats; /* --read-pcap: counters once the file is done */
	bool have_pcap_stats;
	/* The server's own address: its ingest traffic is not recorded (see skip_self). */
	struct {
		uint8_t family;
		uint8_t addr[16];
		uint16_t port;
	} self[8];
	size_t nself;
	uint64_t realtime_off_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	bool output_broken;
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * Records of exchanges with our own server (the exporter's POSTs as the server sees them,
 * and queries to it) are not kept: otherwise every batch sent would make a record to send.
 */
static bool is_self(const struct agent *a, const struct l7_record *r)
{
	for (size_t i = 0; i < a->nself; i++)
		if (r->server_port == a->self[i].port && r->family == a->self[i].family &&
		    !memcmp(r->addr1, a->self[i].addr, r->family == 4 ? 4 : 16))
			return true;
	return false;
}

/* Resolve --server's host and port into a->self. Best effort: a name that does not
 * resolve now only means its traffic is recorded. */
static void resolve_self(struct agent *a, const char *url)
{
	const char *h = strstr(url, "://");
	char host[256], port[8] = "80";
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	size_t n;

	h = h ? h + 3 : url;
	if (!strncmp(url, "https://", 8))
		snprintf(port, sizeof(port), "443");
	if (*h == '[') { /* [IPv6]:port */
		n = strcspn(h + 1, "]");
		snprintf(host, sizeof(host), "%.*s", (int)n, h + 1);
		h += n + 2;
	} else {
		n = strcspn(h, ":/");
		snprintf(host, sizeof(host), "%.*s", (int)n, h);
		h += n;
	}
	if (*h == ':')
		snprintf(port, sizeof(port), "%.*s", (int)strcspn(h + 1, "/"), h + 1);
	if (getaddrinfo(host, port, &hints, &res))
		return;
	for (ai = res; ai && a->nself < sizeof(a->self) / sizeof(a->self[0]); ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)ai->ai_addr;

			a->self[a->nself].family = 4;
			memcpy(a->self[a->nself].addr, &sin->sin_addr, 4);
			a->self[a->nself++].port = ntohs(sin->sin_port);
		} else if (ai->ai_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const void *)ai->ai_addr;

			a->self[a->nself].family = 6;
			memcpy(a->self[a->nself].addr, &sin6->sin6_addr, 16);
			a->self[a->nself++].port = ntohs(sin6->sin6_port);
		}
	}
	freeaddrinfo(res);
}

static void write_record_locked(struct agent *a, const struct l7_record *r);

static void write_record(void *ctx, const struct l7_record *r)
{
	struct agent *a = ctx;

	pthread_mutex_lock(&a->out_lock);
	write_record_locked(a, r);
	pthread_mutex_unlock(&a->out_lock);
}

/* Flow rows: to the server (--server) and/or stdout, like request records. */
static void write_l4(void *ctx, const struct l4_record *r)
{
	struct agent *a = ctx;
	const struct l4_flow_rec *f = &r->f;

	pthread_mutex_lock(&a->out_lock);
	/* The flows of our own exchanges with the server are skipped like their requests
	 * (is_self): every batch sent would otherwise make a flow row to send. */
	for (size_t i = 0; i < a->nself; i++) {
		if (f->server_port == a->self[i].port && f->family == a->self[i].family &&
		    !memcmp(f->addr1, a->self[i].addr, f->family == 4 ? 4 : 16)) {
			a->out.self_skipped++;
			pthread_mutex_unlock(&a->out_lock);
			return;
		}
	}
	if (a->exporter)
		exporter_add_l4(a->exporter, r);
	if (a->cfg.out_stdout && !a->output_broken) {
		if (l4_record_write_json(&a->json, r) ||
		    fwrite(a->json.buf, 1, a->json.len, stdout) != a->json.len) {
			a->out.write_errors++;
			if (ferror(stdout) && errno == EPIPE) {
				a->output_broken = true;
				stop_requested = 1;
			}
		} else {
			a->out.records_written++;
		}
	}
	pthread_mutex_unlock(&a->out_lock);
}

/*
 * flow_metrics rows: to the server (--server) and/or stdout, like flow rows. Unlike those,
 * rows of the agent's own traffic with the server are not looked for here: a network row
 * sums every flow of one endpoint, so they could not be told apart. They do not occur:
 * live capture keeps that traffic out of the flow table with its kernel filter
 * (capture_filter).
 */
static void write_metric(void *ctx, const struct net_row *r)
{
	struct agent *a = ctx;

	pthread_mutex_lock(&a->out_lock);
	if (a->exporter)
		exporter_add_net(a->exporter, r);
	if (a->cfg.out_stdout && !a->output_broken) {
		if (net_row_write_json(&a->json, r) ||
		    fwrite(a->json.buf, 1, a->json.len, stdout) != a->json.len) {
			a->out.write_errors++;
			if (ferror(stdout) && errno == EPIPE) {
				a->output_broken = true;
				stop_requested = 1;
			}
		} else {
			a->out.records_written++;
		}
	}
	pthread_mutex_unlock(&a->out_lock);
}

static void write_record_locked(struct agent *a, const struct l7_record *r)
{
	if (a->nself && is_self(a, r)) {
		a->out.self_skipped++;
		return;
	}
	if (a->exporter)
		exporter_add(a->exporter, r);
	if (!a->cfg.out_stdout || a->output_broken)
		return;
	if (record_write_json(&a->json, r) ||
	    fwrite(a->json.buf, 1, a->json.len, stdout) != a->json.len) {
		a->out.write_errors++;
		if (ferror(stdout) && errno == EPIPE) {
			/* The reader went away (e.g. `| head`): stop like a well-behaved filter. */
			a->output_broken = true;
			stop_requested = 1;
		}
		return;
	}
	a->out.records_written++;
}

static int on_ring_record(void *ctx, void *data, size_t size)
{
	struct agent *a = ctx;
	const struct fs_event *ev = data;

	if (size >= sizeof(*ev) && ev->type == FS_EV_EXEC) {
		probe_go_register(a->probe, ev->pid);
		return 0;
	}
	intake_event(a->intake, data, size, a->realtime_off_ns);
	return 0;
}

static int collect(struct agent *a, struct stat_kv *kv, const struct exporter_stats *final_ex)
{
	struct exporter_stats ex;
	uint64_t kern[FS_CNT_MAX];

	if (a->exporter && !final_ex) {
		exporter_get_stats(a->exporter, &ex);
		final_ex = &ex;
	}
	struct capture_stats pk;
	const struct capture_stats *pkp = NULL;

	if (a->capture) {
		capture_get_stats(a->capture, &pk);
		pkp = &pk;
	} else if (a->have_pcap_stats) {
		pkp = &a->pcap_stats;
	}
	return agent_stats_collect(kv, a->probe && !probe_counters(a->probe, kern) ? kern : NULL,
				   a->intake, pkp, &a->out, final_ex);
}

static void print_stats(struct agent *a, const char *when, const struct exporter_stats *final_ex)
{
	struct stat_kv kv[AGENT_STATS_MAX];
	int n = collect(a, kv, final_ex);

	fprintf(stderr, "flowscope-agent counters (%s):\n", when);
	agent_stats_print(stderr, kv, n);
}

/* Every batch carries the agent's counters, so the server can show them (flowscope status). */
static void collect_counters(void *ctx, struct wire_batch_info *info)
{
	struct stat_kv kv[AGENT_STATS_MAX];
	int n = collect(ctx, kv, NULL);

	info->ncounters = 0;
	for (int i = 0; i < n && info->ncounters < WIRE_MAX_COUNTERS; i++) {
		struct wire_counter *c = &info->counters[info->ncounters++];

		snprintf(c->name, sizeof(c->name), "%s", kv[i].name);
		c->value = kv[i].value;
	}
}

static int run(struct agent *a)
{
	uint64_t now, last_tick = 0, last_stats = clock_ns(CLOCK_MONOTONIC);
	uint64_t tick_ns = 200 * 1000000ull;
	int err;

	while (!stop_requested) {
		if (a->probe) {
			err = probe_poll(a->probe, (int)a->cfg.poll_interval_ms);
			if (err < 0) {
				ob_err("[agent] reading the ring buffer failed: %s",
				       strerror(-err));
				return err;
			}
		} else {
			/* Packets only: the capture thread works; this loop keeps time. */
			usleep((useconds_t)a->cfg.poll_interval_ms * 1000);
		}
		now = clock_ns(CLOCK_MONOTONIC);
		if (a->probe && now - last_tick >= tick_ns) {
			/* Re-derive the clock offset: NTP may step the wall clock. */
			a->realtime_off_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
			intake_tick(a->intake, now + a->realtime_off_ns);
			last_tick = now;
		}
		if (a->exporter) {
			pthread_mutex_lock(&a->out_lock);
			exporter_tick(a->exporter, now);
			pthread_mutex_unlock(&a->out_lock);
		}
		if (a->cfg.stats && a->cfg.stats_interval_ms &&
		    now - last_stats >= a->cfg.stats_interval_ms * 1000000ull) {
			print_stats(a, "periodic", NULL);
			last_stats = now;
		}
		if (a->cfg.out_stdout && !a->output_broken) {
			pthread_mutex_lock(&a->out_lock);
			fflush(stdout);
			pthread_mutex_unlock(&a->out_lock);
		}
	}
	/* Drain what the kernel queued before the signal, then finish pending requests. */
	if (a->probe) {
		probe_poll(a->probe, 0);
		intake_flush_all(a->intake, clock_ns(CLOCK_REALTIME));
	}
	if (a->capture) {
		capture_stop(a->capture, &a->pcap_stats);
		a->capture = NULL;
		a->have_pcap_stats = true;
	}
	return 0;
}

/* Path settings shared by live capture and --read-pcap. */
static void packet_cfg(const struct agent *a, const struct intake_cfg *icfg, struct pktpath_cfg *pc)
{
	*pc = (struct pktpath_cfg){
		.flow = {
			.max_flows = (uint32_t)a->cfg.max_flows,
			.report_interval_ns = a->cfg.flow_report_interval_ms * 1000000ull,
		},
		.l7 = *icfg,
		.l7_enabled = a->cfg.packet_l7,
		.metrics_max_rows = (uint32_t)a->cfg.metrics_max_rows,
	};
}

/* --read-pcap: the packet path over a file, on this thread; the exit status says how the
 * file was (see --help). */
static int run_file(struct agent *a, const struct intake_cfg *icfg)
{
	struct capture_sinks sinks = {
		.l4 = write_l4,
		.l7 = write_record,
		.metrics = a->cfg.network_metrics ? write_metric : NULL,
		.ctx = a,
	};
	struct pktpath_cfg pc;
	enum capture_file_result res;
	char err[512] = "";

	packet_cfg(a, icfg, &pc);
	res = capture_read_file(a->cfg.read_pcap, &pc, &sinks, &stop_requested, &a->pcap_stats, err,
				sizeof(err));
	a->have_pcap_stats = res != CAPTURE_FILE_UNREADABLE;
	switch (res) {
	case CAPTURE_FILE_OK:
	case CAPTURE_FILE_STOPPED:
		ob_info("[agent] %s: %llu frames, %llu flows", a->cfg.read_pcap,
			(unsigned long long)a->pcap_stats.src.frames,
			(unsigned long long)a->pcap_stats.path.flow.flows_created);
		return 0;
	case CAPTURE_FILE_DAMAGED:
		ob_err("[agent] %s is damaged after %llu frames: %s (what came before is "
		       "reported)",
		       a->cfg.read_pcap, (unsigned long long)a->pcap_stats.src.frames, err);
		return 3;
	case CAPTURE_FILE_UNREADABLE: ob_err("[agent] cannot read the capture: %s", err); return 1;
	default: ob_err("[agent] out of memory"); return 1;
	}
}

/*
 * The kernel filter for live capture: the user's, minus our own traffic with the server
 * (it would otherwise be measured, and parsed, for every batch sent).
 */
static char *capture_filter(const struct agent *a)
{
	char *f = NULL, *next;
	char ip[INET6_ADDRSTRLEN];

	if (a->cfg.packet_filter && *a->cfg.packet_filter &&
	    asprintf(&f, "(%s)", a->cfg.packet_filter) < 0)
		return NULL;
	for (size_t i = 0; i < a->nself; i++) {
		inet_ntop(a->self[i].family == 4 ? AF_INET : AF_INET6, a->self[i].addr, ip,
			  sizeof(ip));
		if (asprintf(&next, "%s%snot (host %s and tcp port %u)", f ? f : "",
			     f ? " and " : "", ip, a->self[i].port) < 0) {
			free(f);
			return NULL;
		}
		free(f);
		f = next;
	}
	return f;
}

/* Split --interface's list and start the capture thread. */
static int start_capture(struct agent *a, const struct intake_cfg *icfg)
{
	struct capture_sinks sinks = {
		.l4 = write_l4,
		.l7 = write_record,
		.metrics = a->cfg.network_metrics ? write_metric : NULL,
		.ctx = a,
	};
	char *list = strdup(a->cfg.interfaces), *tok, *save = NULL, *names[64];
	char *filter = capture_filter(a);
	struct pkt_live_opts lo = {
		.snaplen = (uint32_t)a->cfg.snaplen,
		.ring_bytes = a->cfg.capture_ring_size,
		.filter = filter,
		.promiscuous = a->cfg.promiscuous,
	};
	struct pktpath_cfg pc;
	char err[512] = "";
	size_t n = 0;

	if (!list)
		return -ENOMEM;
	for (tok = strtok_r(list, ",", &save); tok && n < 64; tok = strtok_r(NULL, ",", &save))
		if (*tok)
			names[n++] = tok;
	packet_cfg(a, icfg, &pc);
	a->capture = n ? capture_start_live(names, n, &lo, &pc, &sinks, err, sizeof(err)) : NULL;
	if (!a->capture)
		ob_err("[agent] packet capture: %s", n ? err : "--interface names no interface");
	else
		ob_info("[agent] capturing packets on %s%s%s", capture_ifaces(a->capture),
			filter ? " with filter " : "", filter ? filter : "");
	free(filter);
	free(list);
	return a->capture ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	struct agent a = { 0 };
	struct intake_cfg icfg;
	struct probe_opts popts;
	struct sigaction sa = { .sa_handler = on_signal };
	int rc, level, exit_code = 1;

	rc = conf_load(&agent_spec, &a.cfg, argc, argv);
	if (rc == CONF_EXIT_OK) {
		exit_code = 0;
		goto out;
	}
	if (rc < 0) {
		exit_code = 2;
		goto out;
	}
	level = ob_log_parse_level(a.cfg.log_level ? a.cfg.log_level : "info");
	if (level < 0) {
		fprintf(stderr,
			"flowscope-agent: --log-level: '%s' is not one of error, warn, "
			"info, debug\n",
			a.cfg.log_level);
		exit_code = 2;
		goto out;
	}
	ob_log_level = level;
	if (a.cfg.ringbuf_size & (a.cfg.ringbuf_size - 1)) {
		fprintf(stderr,
			"flowscope-agent: --ringbuf-size: %llu is not a power of two (try 8MiB)\n",
			(unsigned long long)a.cfg.ringbuf_size);
		exit_code = 2;
		goto out;
	}
	if (a.cfg.comm && strlen(a.cfg.comm) > 15) {
		fprintf(stderr,
			"flowscope-agent: --comm: '%s' is longer than the kernel's 15 "
			"characters; use the name as /proc/PID/comm shows it\n",
			a.cfg.comm);
		exit_code = 2;
		goto out;
	}
	if (!a.cfg.out_stdout && !a.cfg.server) {
		fprintf(stderr,
			"flowscope-agent: no output chosen: use --server URL to send records "
			"to flowscope-server,\nor --stdout to write them as JSON lines\n");
		exit_code = 2;
		goto out;
	}
	if (a.cfg.server && strncmp(a.cfg.server, "http://", 7) &&
	    strncmp(a.cfg.server, "https://", 8)) {
		fprintf(stderr,
			"flowscope-agent: --server: '%s' is not a URL; use http://HOST:PORT, e.g. "
			"http://127.0.0.1:20416\n",
			a.cfg.server);
		exit_code = 2;
		goto out;
	}
	if (a.cfg.agent_id && (!a.cfg.agent_id[0] || strlen(a.cfg.agent_id) > 63)) {
		fprintf(stderr, "flowscope-agent: --agent-id: must be 1 to 63 bytes\n");
		exit_code = 2;
		goto out;
	}

	pthread_mutex_init(&a.out_lock, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Records are flushed once per poll round, not per line. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);

	icfg = (struct intake_cfg){
		.max_conns = a.cfg.max_connections,
		.max_pending = a.cfg.max_pending,
		.conn_idle_ns = a.cfg.conn_idle_timeout_ms * 1000000ull,
		.request_timeout_ns = a.cfg.request_timeout_ms * 1000000ull,
		.mem_budget = a.cfg.memory_budget,
		.proto_opts = a.cfg.keep_sensitive_values ? PROTO_OPT_KEEP_VALUES : 0,
	};
	if (a.cfg.read_pcap && a.cfg.interfaces) {
		fprintf(stderr, "flowscope-agent: --read-pcap and --interface exclude each other: "
				"read a file or capture live\n");
		exit_code = 2;
		goto out;
	}
	if (!a.cfg.ebpf && !a.cfg.interfaces && !a.cfg.read_pcap) {
		fprintf(stderr, "flowscope-agent: nothing to capture: --ebpf=false needs "
				"--interface NAME (or --read-pcap FILE)\n");
		exit_code = 2;
		goto out;
	}
	a.realtime_off_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	if (a.cfg.server) {
		char host[HOST_NAME_MAX + 1] = "";
		struct exporter_cfg ecfg = {
			.url = a.cfg.server,
			.agent_id = a.cfg.agent_id,
			.batch_records = (size_t)a.cfg.batch_records,
			.batch_interval_ms = a.cfg.batch_interval_ms,
			.spool_bytes = a.cfg.spool_size,
			.backoff_max_ms = a.cfg.retry_max_backoff_ms,
			.send_timeout_ms = a.cfg.send_timeout_ms,
			.heartbeat_ms = a.cfg.heartbeat_interval_ms,
			.zstd_level = 3,
			.collect_counters = collect_counters,
			.ctx = &a,
		};

		if (!ecfg.agent_id) {
			if (gethostname(host, sizeof(host)) || !host[0])
				snprintf(host, sizeof(host), "localhost");
			host[63] = '\0';
			ecfg.agent_id = host;
		}
		a.exporter = exporter_create(&ecfg);
		if (!a.exporter)
			goto out;
		resolve_self(&a, a.cfg.server);
		ob_info("[agent] sending records to %s as agent '%s'", a.cfg.server, ecfg.agent_id);
	}
	if (a.cfg.read_pcap) {
		exit_code = run_file(&a, &icfg);
		goto finish;
	}
	if (a.cfg.ebpf) {
		a.intake = intake_create(&icfg, write_record, &a);
		if (!a.intake) {
			ob_err("[agent] out of memory");
			goto out;
		}
		popts = (struct probe_opts){
			.self_tgid = getpid(),
			.filter_tgid = a.cfg.pid,
			.filter_comm = a.cfg.comm,
			.cap_bytes = a.cfg.capture_bytes,
			.ringbuf_bytes = a.cfg.ringbuf_size,
			.wakeup_bytes = a.cfg.wakeup_bytes,
			.syscall_trace_id = a.cfg.syscall_trace_id,
			.trace_entries = (uint32_t)a.cfg.syscall_trace_entries,
			.go_goroutines = a.cfg.go_goroutines,
		};
		a.probe = probe_open(&popts, on_ring_record, &a);
		if (!a.probe)
			goto out;
		probe_go_scan(a.probe);
	}
	if (a.cfg.interfaces && start_capture(&a, &icfg) < 0)
		goto out;
	if (a.cfg.ebpf)
		ob_info("[agent] capturing socket traffic (%lld payload bytes per syscall)",
			(long long)a.cfg.capture_bytes);
	if (a.cfg.pid)
		ob_info("[agent] filter: pid %llu", (unsigned long long)a.cfg.pid);
	if (a.cfg.comm)
		ob_info("[agent] filter: comm '%s'", a.cfg.comm);

	if (run(&a) == 0)
		exit_code = 0;
finish:
	if (a.cfg.out_stdout && !a.output_broken)
		fflush(stdout);
	{
		struct exporter_stats ex;
		struct exporter *e = a.exporter;

		if (e) {
			a.exporter = NULL;
			exporter_destroy(e, a.cfg.drain_timeout_ms, &ex);
		}
		if (a.cfg.stats)
			print_stats(&a, "final", e ? &ex : NULL);
		if (e)
			ob_info("[agent] stopped: %llu records sent to the server",
				(unsigned long long)ex.records_exported);
	}
	if (a.cfg.out_stdout)
		ob_info("[agent] stopped: %llu records written",
			(unsigned long long)a.out.records_written);
out:
	capture_stop(a.capture, NULL);
	exporter_destroy(a.exporter, 0, NULL);
	probe_close(a.probe);
	intake_destroy(a.intake);
	jsonw_free(&a.json);
	conf_free(&agent_spec, &a.cfg);
	return exit_code;
}
