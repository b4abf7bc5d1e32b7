/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flowscope trace: ask GET /v1/trace for the trace of one span (its _id) or of a trace id
 * and print it as an indented tree, one span per line, then its services; --json prints
 * the server's JSON as it is.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_json.h"
#include "cli/cli_reply.h"

static const char trace_help[] =
	"Usage: flowscope trace [--server URL] [--json] ID\n"
	"       flowscope trace [--server URL] [--json] --trace-id TRACE_ID\n"
	"\n"
	"Assemble the distributed trace of one request log (GET /v1/trace) and print it as a\n"
	"tree: one span per line, indented under its parent, with its observation point\n"
	"(c-p client process, s-p server process; packet captures: c / s the client's /\n"
	"server's own NIC, c-nd / s-nd the host's, rest elsewhere, with the interface as\n"
	"in s@eth0), process,\n"
	"protocol, request, response code, duration and self time (its duration minus the\n"
	"time its children cover); then each service (process) with its spans and times.\n"
	"ID is a span's _id, as `flowscope query 'SELECT _id, request_resource FROM\n"
	"l7_flow_log ...'` shows it; any span of the trace gives the same tree.\n"
	"\n"
	"Options:\n"
	"  -s, --server URL       server to ask (default $FLOWSCOPE_SERVER_URL, else\n"
	"                         " CLI_DEFAULT_URL ")\n"
	"  -t, --trace-id ID      start from every span of this trace id (W3C trace id)\n"
	"      --time-start S     only spans whose time is at or after S (Unix seconds)\n"
	"      --time-end S       only spans whose time is at or before S (Unix seconds)\n"
	"  -j, --json             print the server's JSON reply as it is\n"
	"  -h, --help             show this help\n"
	"\n"
	"Examples:\n"
	"  flowscope query \"SELECT _id, request_resource FROM l7_flow_log WHERE\n"
	"                   observation_point = 'c-p' ORDER BY start_time DESC LIMIT 5\"\n"
	"  flowscope trace 123456789012345\n"
	"  flowscope trace --trace-id 4bf92f3577b34da6a3ce929d0e0e4736 --json | jq .services\n"
	"\n"
	"Exit status: 0 printed, 1 no such span or the server failed (message on stderr),\n"
	"2 bad command line.\n";

static int run_trace(int argc, char **argv);

const struct cli_cmd cli_cmd_trace = {
	.name = "trace",
	.summary = "assemble the distributed trace of a span and print it as a tree",
	.help = trace_help,
	.run = run_trace,
};

enum { OPT_TIME_START = 256, OPT_TIME_END };

static const struct option trace_opts[] = {
	{ "server", required_argument, NULL, 's' },
	{ "trace-id", required_argument, NULL, 't' },
	{ "time-start", required_argument, NULL, OPT_TIME_START },
	{ "time-end", required_argument, NULL, OPT_TIME_END },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static const char *str_of(const struct cj_node *obj, const char *key)
{
	const struct cj_node *v = cj_get(obj, key);

	return v && v->type == CJ_STRING ? v->str : "";
}

/* A number member; def when absent or null. */
static double num_of(const struct cj_node *obj, const char *key, double def)
{
	const struct cj_node *v = cj_get(obj, key);

	return v && v->type == CJ_NUMBER ? v->num : def;
}

/* µs as 850us, 12.34ms or 1.23s. */
static void fmt_us(char *buf, size_t cap, double us)
{
	if (us < 1000)
		snprintf(buf, cap, "%.0fus", us);
	else if (us < 1e6)
		snprintf(buf, cap, "%.2fms", us / 1e3);
	else
		snprintf(buf, cap, "%.2fs", us / 1e6);
}

static int print_tree(const struct cj_node *root, FILE *out)
{
	const struct cj_node *spans = cj_get(root, "spans"), *svcs = cj_get(root, "services");
	size_t n = 0;

	if (!spans || spans->type != CJ_ARRAY || !svcs || svcs->type != CJ_ARRAY)
		return -EPROTO;
	for (const struct cj_node *s = spans->child; s; s = s->next) {
		char dur[32], self[32], code[16], where[64];
		const char *proc = str_of(s, "auto_service"), *nic = str_of(s, "capture_nic");
		double c = num_of(s, "response_code", -1);
		int depth = (int)num_of(s, "depth", 0);

		if (s->type != CJ_OBJECT)
			return -EPROTO;
		fmt_us(dur, sizeof(dur), num_of(s, "end_time", 0) - num_of(s, "start_time", 0));
		fmt_us(self, sizeof(self), num_of(s, "self_time", 0));
		if (c >= 0)
			snprintf(code, sizeof(code), "%.0f", c);
		else
			snprintf(code, sizeof(code), "-");
		snprintf(where, sizeof(where), "%s%s%s", str_of(s, "observation_point"),
			 *nic ? "@" : "", nic);
		fprintf(out, "%*s%s %s %s %s %s %s %s self %s\n", depth * 2, "", where,
			*proc ? proc : "-", str_of(s, "l7_protocol"), str_of(s, "request_type"),
			str_of(s, "request_resource"), code, dur, self);
		n++;
	}
	fprintf(out, "%zu span%s; services:\n", n, n == 1 ? "" : "s");
	for (const struct cj_node *v = svcs->child; v; v = v->next) {
		char dur[32], self[32];
		double k = num_of(v, "spans", 0);

		fmt_us(dur, sizeof(dur), num_of(v, "duration", 0));
		fmt_us(self, sizeof(self), num_of(v, "self_time", 0));
		fprintf(out, "  %s: %.0f span%s, %s, self %s\n", str_of(v, "auto_service"), k,
			k == 1 ? "" : "s", dur, self);
	}
	if (cj_get(root, "truncated") && cj_get(root, "truncated")->b)
		fprintf(stderr, "flowscope: warning: the search stopped at the server's bound "
				"(spans or rounds): the tree may be incomplete\n");
	return 0;
}

static void report(const char *url, const struct cli_http_reply *r)
{
	char perr[128];
	struct cj_doc *doc = NULL;
	const char *msg = NULL;

	if (!cj_parse(r->body, r->len, NULL, &doc, perr, sizeof(perr)))
		msg = cli_reply_error(cj_root(doc));
	if (msg && r->status == 404)
		fprintf(stderr,
			"flowscope: %s (find span ids with flowscope query 'SELECT _id, "
			"request_resource FROM l7_flow_log ...')\n",
			msg);
	else if (msg && r->status < 500)
		fprintf(stderr, "flowscope: trace refused: %s\n", msg);
	else if (msg)
		fprintf(stderr, "flowscope: trace failed on the server (HTTP %ld): %s\n", r->status,
			msg);
	else
		fprintf(stderr,
			"flowscope: the server at %s answered HTTP %ld without a flowscope error "
			"message; is it flowscope-server (with /v1/trace)?\n",
			url, r->status);
	cj_free(doc);
}

static int run_trace(int argc, char **argv)
{
	const char *server_opt = NULL, *trace_id = NULL;
	uint64_t id = 0, tlo = 0, thi = 0;
	struct cli_http_reply r = { 0 };
	char *url = NULL, *endpoint = NULL, *esc = NULL;
	char err[CLI_HTTP_ERR_ROOM], perr[160], times[96] = "";
	struct cj_doc *doc = NULL;
	bool json = false;
	int c, rc, exit_code = CLI_EXIT_FAIL;

	while ((c = cli_getopt(&cli_cmd_trace, argc, argv, "s:t:jh", trace_opts)) != -1) {
		switch (c) {
		case 's': server_opt = optarg; break;
		case 't': trace_id = optarg; break;
		case 'j': json = true; break;
		case OPT_TIME_START:
		case OPT_TIME_END:
			if (cli_parse_u64(optarg, 1, INT64_MAX / 2,
					  c == OPT_TIME_START ? &tlo : &thi))
				return cli_usage_error(
					&cli_cmd_trace,
					"--time-start / --time-end: '%s' is not Unix "
					"seconds",
					optarg);
			break;
		case 'h': return cli_help(&cli_cmd_trace);
		default: return CLI_EXIT_USAGE;
		}
	}
	if (trace_id && optind < argc)
		return cli_usage_error(&cli_cmd_trace, "give a span ID or --trace-id, not both");
	if (!trace_id && optind >= argc)
		return cli_usage_error(&cli_cmd_trace, "no span ID given");
	if (argc - optind > 1)
		return cli_usage_error(&cli_cmd_trace, "one span ID only, not '%s'",
				       argv[optind + 1]);
	if (!trace_id && cli_parse_u64(argv[optind], 1, INT64_MAX, &id))
		return cli_usage_error(&cli_cmd_trace,
				       "'%s' is not a span ID (a positive integer: the _id column)",
				       argv[optind]);
	if (trace_id && !*trace_id)
		return cli_usage_error(&cli_cmd_trace, "--trace-id must not be empty");
	if (tlo)
		snprintf(times, sizeof(times), "&time_start=%" PRIu64, tlo);
	if (thi)
		snprintf(times + strlen(times), sizeof(times) - strlen(times), "&time_end=%" PRIu64,
			 thi);
	url = cli_server_url(server_opt);
	if (trace_id)
		esc = curl_easy_escape(NULL, trace_id, 0);
	if (!url || (trace_id && !esc) ||
	    (trace_id ? asprintf(&endpoint, "%s/v1/trace?trace_id=%s%s", url, esc, times)
		      : asprintf(&endpoint, "%s/v1/trace?id=%" PRIu64 "%s", url, id, times)) < 0) {
		endpoint = NULL;
		fprintf(stderr, "flowscope: out of memory\n");
		goto out;
	}
	rc = cli_http_request(endpoint, NULL, 0, &r, err, sizeof(err));
	if (rc) {
		cli_http_report(rc, url, err);
		goto out;
	}
	if (r.status != 200) {
		report(url, &r);
		goto out;
	}
	if (json) {
		fwrite(r.body, 1, r.len, stdout);
		if (r.len && r.body[r.len - 1] != '\n')
			fputc('\n', stdout);
	} else {
		rc = cj_parse(r.body, r.len, NULL, &doc, perr, sizeof(perr));
		if (!rc)
			rc = print_tree(cj_root(doc), stdout);
		if (rc) {
			fprintf(stderr, "flowscope: unexpected reply from the server: %s\n",
				rc == -EPROTO && *perr ? perr : "not a trace");
			goto out;
		}
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "flowscope: writing the result: %s\n", strerror(errno));
		goto out;
	}
	exit_code = CLI_EXIT_OK;
out:
	cj_free(doc);
	cli_http_reply_free(&r);
	curl_free(esc);
	free(endpoint);
	free(url);
	return exit_code;
}
