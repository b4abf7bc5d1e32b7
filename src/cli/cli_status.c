/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flowscope status: is the server up, what has it stored and ingested, and which agents
 * send to it. Three requests: GET /healthz, GET /v1/agents and GET /metrics. Only an
 * unreachable or unhealthy server fails the command; a part that cannot be had (an older
 * server without /v1/agents, say) is reported as unknown and the rest is still shown.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_json.h"
#include "cli/cli_prom.h"
#include "cli/cli_table.h"

#define STATUS_TIMEOUT_MS 10000

static const char status_help[] =
	"Usage: flowscope status [--server URL] [--json]\n"
	"\n"
	"Show whether flowscope-server answers, its version and uptime, what its store holds,\n"
	"what it has ingested and answered, and every agent that sends to it: when it was\n"
	"last heard from, its batches and rows, and those of its counters that matter and\n"
	"are not zero (records, drops, losses, failures, errors, spool).\n"
	"\n"
	"Options:\n"
	"  -s, --server URL   server to ask (default $FLOWSCOPE_SERVER_URL, else\n"
	"                     " CLI_DEFAULT_URL ")\n"
	"  -j, --json         print one JSON object: health, agents and the main metrics\n"
	"  -h, --help         show this help\n"
	"\n"
	"Exit status: 0 the server is healthy, 1 it is unreachable or unhealthy, 2 bad\n"
	"command line.\n";

static int run_status(int argc, char **argv);

const struct cli_cmd cli_cmd_status = {
	.name = "status",
	.summary = "show the server's health, store, ingest counters and agents",
	.help = status_help,
	.run = run_status,
};

static const struct option status_opts[] = {
	{ "server", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* One GET: its reply, and its JSON when it parsed. */
struct part {
	int rc; /* cli_http_request's */
	struct cli_http_reply r;
	struct cj_doc *doc;
	char err[CLI_HTTP_ERR_ROOM];
};

struct status {
	const char *url;
	struct part health, agents, metrics;
	struct prom_samples prom;
	bool have_prom;
};

static void get(const char *url, const char *path, struct part *p, bool json)
{
	char *u = NULL;

	if (asprintf(&u, "%s%s", url, path) < 0) {
		p->rc = -ENOMEM;
		return;
	}
	p->rc = cli_http_request(u, NULL, STATUS_TIMEOUT_MS, &p->r, p->err, sizeof(p->err));
	free(u);
	if (!p->rc && json &&
	    cj_parse(p->r.body, p->r.len, NULL, &p->doc, p->err, sizeof(p->err)) == -ENOMEM)
		p->rc = -ENOMEM;
}

static void part_free(struct part *p)
{
	cj_free(p->doc);
	cli_http_reply_free(&p->r);
}

/* ---- formatting ---- */

static const char *fmt_duration(double s, char *buf, size_t len)
{
	long long v = s > 0 && isfinite(s) ? (long long)s : 0;

	if (v < 60)
		snprintf(buf, len, "%llds", v);
	else if (v < 3600)
		snprintf(buf, len, "%lldm%02llds", v / 60, v % 60);
	else if (v < 86400)
		snprintf(buf, len, "%lldh%02lldm", v / 3600, v / 60 % 60);
	else
		snprintf(buf, len, "%lldd%02lldh", v / 86400, v / 3600 % 24);
	return buf;
}

static const char *fmt_bytes(double b, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	int u = -1;

	if (b < 1024) {
		snprintf(buf, len, "%.0f B", b);
		return buf;
	}
	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", b, units[u]);
	return buf;
}

/* A metric value as a JSON number: integers exactly, non-finite as null. */
static void json_num(FILE *out, double v)
{
	if (!isfinite(v))
		fputs("null", out);
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		fprintf(out, "%.0f", v);
	else
		fprintf(out, "%.17g", v);
}

static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static const struct prom_sample *metric(const struct status *st, const char *series)
{
	return st->have_prom ? prom_find(&st->prom, series) : NULL;
}

/* ---- the parts ---- */

/*
 * The health object when the server says it is ok; otherwise NULL with *why set to its
 * own word for what it is ("degraded") or to what was wrong with the answer.
 */
static const struct cj_node *health(const struct status *st, const char **why)
{
	const struct cj_node *root = cj_root(st->health.doc);
	const struct cj_node *s = cj_get(root, "status");

	if (!s || s->type != CJ_STRING) {
		*why = "GET /healthz did not answer a flowscope health object";
		return NULL;
	}
	if (strcmp(s->str, "ok") || st->health.r.status != 200) {
		*why = s->str;
		return NULL;
	}
	return root;
}

static void print_server(const struct status *st, const struct cj_node *h, const char *why)
{
	const struct cj_node *v;
	char buf[32];

	printf("server   %s: ", st->url);
	if (!h) {
		printf("NOT OK: %s (HTTP %ld)\n", why, st->health.r.status);
		return;
	}
	fputs("ok", stdout);
	v = cj_get(h, "version");
	if (v && v->type == CJ_STRING)
		printf(", version %s", v->str);
	v = cj_get(h, "uptime_s");
	if (v && v->type == CJ_NUMBER)
		printf(", up %s", fmt_duration(v->num, buf, sizeof(buf)));
	fputc('\n', stdout);
}

static void metrics_unknown(const struct status *st, const char *what)
{
	if (st->metrics.rc)
		printf("%-8s unknown (GET /metrics: %s)\n", what, st->metrics.err);
	else
		printf("%-8s unknown (GET /metrics answered HTTP %ld)\n", what,
		       st->metrics.r.status);
}

/* "(12 ok, 1 bad)" for the non-zero results of name; returns the total. */
static double by_result(const struct status *st, const char *name, char *buf, size_t len)
{
	size_t off = 0;
	double total = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < st->prom.n; i++) {
		const struct prom_sample *s = &st->prom.v[i];

		if (!prom_is(s, name))
			continue;
		total += s->value;
		if (s->value && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s%.0f %s", off ? ", " : "(",
						s->value, s->label);
	}
	if (off && off < len)
		snprintf(buf + off, len - off, ")");
	return total;
}

static void print_metrics(const struct status *st)
{
	const struct prom_sample *rows, *parts, *bytes;
	char buf[256], b1[32];
	double total;

	if (!st->have_prom) {
		metrics_unknown(st, "store");
		metrics_unknown(st, "ingest");
		return;
	}
	rows = metric(st, "flowscope_store_rows");
	parts = metric(st, "flowscope_store_partitions");
	bytes = metric(st, "flowscope_store_bytes");
	/* Each part only when the server exports it: older servers have fewer. */
	if (!rows)
		rows = metric(st, "flowscope_store_rows_written_total");
	fputs("store   ", stdout);
	/* The backend, from /healthz (servers before the ClickHouse backend do not say). */
	{
		const struct cj_node *b = cj_get(cj_root(st->health.doc), "store");

		if (b && b->type == CJ_STRING)
			printf(" %s:", b->str);
	}
	if (rows)
		printf(" %.0f rows%s", rows->value,
		       prom_is(rows, "flowscope_store_rows") ? "" : " written");
	if (parts)
		printf("%s %.0f partition%s", rows ? "," : "", parts->value,
		       parts->value == 1 ? "" : "s");
	if (bytes)
		printf("%s %s on disk", rows || parts ? "," : "",
		       fmt_bytes(bytes->value, b1, sizeof(b1)));
	if (!rows && !parts && !bytes)
		fputs(" unknown (not in /metrics)", stdout);
	fputc('\n', stdout);

	total = by_result(st, "flowscope_ingest_batches_total", buf, sizeof(buf));
	printf("ingest   %.0f batch%s%s%s", total, total == 1 ? "" : "es", *buf ? " " : "", buf);
	rows = metric(st, "flowscope_ingest_rows_total");
	bytes = metric(st, "flowscope_ingest_bytes_total");
	if (rows)
		printf(", %.0f rows", rows->value);
	if (bytes)
		printf(", %s received", fmt_bytes(bytes->value, b1, sizeof(b1)));
	fputc('\n', stdout);

	total = by_result(st, "flowscope_query_total", buf, sizeof(buf));
	printf("queries  %.0f%s%s\n", total, *buf ? " " : "", buf);
}

/*
 * Counters worth a glance: what the agent delivered (records*) and trouble (drops,
 * losses, failures, errors, spooling), when not zero. The rest is in --json.
 */
static bool counter_matters(const char *name, double v)
{
	static const char *const words[] = { "records", "drop", "lost", "fail", "error", "spool" };

	if (!v)
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(name, words[i]))
			return true;
	return false;
}

static double num_or(const struct cj_node *obj, const char *key, double def)
{
	const struct cj_node *v = cj_get(obj, key);

	return v && v->type == CJ_NUMBER ? v->num : def;
}

/* The text cells of one agent row; strings point into texts[0..AGENT_COLS). */
#define AGENT_COLS 6
#define CELL_ROOM  32

static int agent_row(const struct cj_node *a, struct cli_cell *cells, char (*texts)[CELL_ROOM],
		     char **counters)
{
	const struct cj_node *id = cj_get(a, "agent_id"), *cs = cj_get(a, "counters");
	static const char *const nums[] = { "batches", "rows", "duplicates" };
	double age = num_or(a, "age_s", NAN);
	size_t len = 0;
	FILE *f;

	if (!isfinite(age) && isfinite(num_or(a, "last_seen", NAN)))
		age = (double)time(NULL) - num_or(a, "last_seen", 0);
	cells[0] = (struct cli_cell){ "?", 1, false };
	if (id && id->type == CJ_STRING)
		cells[0] = (struct cli_cell){ id->str, id->len, false };
	if (isfinite(age)) {
		char d[24];

		snprintf(texts[1], CELL_ROOM, "%s ago", fmt_duration(age, d, sizeof(d)));
	} else {
		snprintf(texts[1], CELL_ROOM, "?");
	}
	cells[1] = (struct cli_cell){ texts[1], strlen(texts[1]), true };
	for (int i = 0; i < 3; i++) {
		const struct cj_node *v = cj_get(a, nums[i]);

		snprintf(texts[2 + i], CELL_ROOM, "%s",
			 v && v->type == CJ_NUMBER && v->len < CELL_ROOM ? v->str : "?");
		cells[2 + i] = (struct cli_cell){ texts[2 + i], strlen(texts[2 + i]), true };
	}
	/* Counters as "name=value ..." in the server's order. */
	f = open_memstream(counters, &len);
	if (!f)
		return -ENOMEM;
	if (cs && cs->type == CJ_OBJECT)
		for (const struct cj_node *c = cs->child; c; c = c->next)
			if (c->type == CJ_NUMBER && counter_matters(c->key, c->num))
				fprintf(f, "%s%s=%s", ftell(f) ? " " : "", c->key, c->str);
	if (fclose(f))
		return -ENOMEM;
	cells[5] = (struct cli_cell){ *counters, len, false };
	return 0;
}

static int print_agents(const struct status *st)
{
	static const struct cli_cell head[AGENT_COLS] = {
		{ "agent_id", 8, false }, { "last seen", 9, true },   { "batches", 7, true },
		{ "rows", 4, true },	  { "duplicates", 10, true }, { "counters", 8, false },
	};
	const struct cj_node *list = cj_get(cj_root(st->agents.doc), "agents"), *a;
	struct cli_cell *cells = NULL;
	char(*texts)[CELL_ROOM] = NULL;
	char **counters = NULL;
	struct cli_table t;
	size_t n, i;
	int rc = -ENOMEM;

	if (st->agents.rc) {
		printf("agents   unknown (GET /v1/agents: %s)\n", st->agents.err);
		return 0;
	}
	if (st->agents.r.status == 404) {
		printf("agents   unknown: this server has no /v1/agents (it is older than this "
		       "flowscope)\n");
		return 0;
	}
	if (st->agents.r.status != 200 || !list || list->type != CJ_ARRAY) {
		printf("agents   unknown (GET /v1/agents answered HTTP %ld%s)\n",
		       st->agents.r.status, st->agents.doc ? "" : ", not JSON");
		return 0;
	}
	n = list->count;
	if (!n) {
		printf("agents   no agents connected\n");
		return 0;
	}
	printf("agents   %zu\n\n", n);
	cells = calloc(n * AGENT_COLS, sizeof(*cells));
	texts = calloc(n * AGENT_COLS, sizeof(*texts));
	counters = calloc(n, sizeof(*counters));
	if (!cells || !texts || !counters)
		goto out;
	for (i = 0, a = list->child; a; a = a->next, i++)
		if (agent_row(a, &cells[i * AGENT_COLS], &texts[i * AGENT_COLS], &counters[i]))
			goto out;
	t = (struct cli_table){ .ncols = AGENT_COLS, .nrows = n, .head = head, .cells = cells };
	rc = cli_table_print(&t, 0, stdout);
out:
	for (i = 0; counters && i < n; i++)
		free(counters[i]);
	free(counters);
	free(texts);
	free(cells);
	return rc;
}

/* ---- --json ---- */

static void json_results(FILE *out, const struct status *st, const char *name)
{
	bool first = true;

	fputc('{', out);
	for (size_t i = 0; i < st->prom.n; i++) {
		if (!prom_is(&st->prom.v[i], name))
			continue;
		if (!first)
			fputc(',', out);
		first = false;
		json_str(out, st->prom.v[i].label);
		fputc(':', out);
		json_num(out, st->prom.v[i].value);
	}
	fputc('}', out);
}

static void json_metric(FILE *out, const struct status *st, const char *key, const char *series,
			bool *first)
{
	const struct prom_sample *s = metric(st, series);

	if (!s)
		return;
	fprintf(out, "%s\"%s\":", *first ? "" : ",", key);
	json_num(out, s->value);
	*first = false;
}

static void print_json(const struct status *st)
{
	const struct cj_node *h = cj_root(st->health.doc);
	const struct cj_node *a = cj_get(cj_root(st->agents.doc), "agents");
	bool first;

	fputs("{\"server\":", stdout);
	json_str(stdout, st->url);
	fputs(",\"health\":", stdout);
	if (h && st->health.r.status == 200)
		fwrite(h->raw, 1, h->raw_len, stdout);
	else
		fputs("null", stdout);
	/* null: unknown (an older server, or an error); [] is "none". */
	fputs(",\"agents\":", stdout);
	if (a && a->type == CJ_ARRAY && st->agents.r.status == 200)
		fwrite(a->raw, 1, a->raw_len, stdout);
	else
		fputs("null", stdout);
	if (st->have_prom) {
		fputs(",\"store\":{", stdout);
		first = true;
		json_metric(stdout, st, "rows", "flowscope_store_rows", &first);
		json_metric(stdout, st, "rows_written", "flowscope_store_rows_written_total",
			    &first);
		json_metric(stdout, st, "partitions", "flowscope_store_partitions", &first);
		json_metric(stdout, st, "bytes", "flowscope_store_bytes", &first);
		fputs("},\"ingest\":{\"batches\":", stdout);
		json_results(stdout, st, "flowscope_ingest_batches_total");
		first = false;
		json_metric(stdout, st, "rows", "flowscope_ingest_rows_total", &first);
		json_metric(stdout, st, "bytes", "flowscope_ingest_bytes_total", &first);
		fputs("},\"queries\":", stdout);
		json_results(stdout, st, "flowscope_query_total");
	}
	fputs("}\n", stdout);
}

static int run_status(int argc, char **argv)
{
	const char *server_opt = NULL, *why = NULL;
	struct status st = { 0 };
	const struct cj_node *h;
	char *url = NULL;
	bool json = false;
	int c, exit_code = CLI_EXIT_FAIL;

	while ((c = cli_getopt(&cli_cmd_status, argc, argv, "s:jh", status_opts)) != -1) {
		switch (c) {
		case 's': server_opt = optarg; break;
		case 'j': json = true; break;
		case 'h': return cli_help(&cli_cmd_status);
		default: return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage_error(&cli_cmd_status, "unexpected argument '%s'", argv[optind]);
	url = cli_server_url(server_opt);
	if (!url) {
		fprintf(stderr, "flowscope: out of memory\n");
		return CLI_EXIT_FAIL;
	}
	st.url = url;
	get(url, "/healthz", &st.health, true);
	if (st.health.rc) {
		cli_http_report(st.health.rc, url, st.health.err);
		goto out;
	}
	get(url, "/v1/agents", &st.agents, true);
	get(url, "/metrics", &st.metrics, false);
	if (st.agents.rc == -ENOMEM || st.metrics.rc == -ENOMEM)
		goto oom;
	if (!st.metrics.rc && st.metrics.r.status == 200) {
		if (prom_parse(st.metrics.r.body, st.metrics.r.len, &st.prom))
			goto oom;
		st.have_prom = true;
	}
	h = health(&st, &why);
	if (json) {
		print_json(&st);
	} else {
		print_server(&st, h, why);
		print_metrics(&st);
		if (print_agents(&st))
			goto oom;
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "flowscope: writing the status: %s\n", strerror(errno));
		goto out;
	}
	exit_code = h ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	goto out;
oom:
	fprintf(stderr, "flowscope: out of memory\n");
out:
	prom_free(&st.prom);
	part_free(&st.health);
	part_free(&st.agents);
	part_free(&st.metrics);
	free(url);
	return exit_code;
}
