/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flowscope query: send one SQL statement to POST /v1/query and print the answer as an
 * aligned table (cli_reply.c), or as the server's JSON with --json.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_json.h"
#include "cli/cli_reply.h"

#define DEFAULT_MAX_WIDTH 60
/* SQL from stdin: far more than any statement, far less than the server's max_body. */
#define MAX_SQL (1u << 20)

static const char query_help[] =
	"Usage: flowscope query [--server URL] [--db DB] [--json] [--wide] SQL...\n"
	"\n"
	"Run one SQL statement on flowscope-server (POST /v1/query) and print the result as\n"
	"a table: strings left-aligned, numbers right-aligned, null as NULL, then the row\n"
	"count and the server's time. The words of SQL are joined with spaces; '-' reads\n"
	"the statement from stdin. Quote the statement for the shell, and put '--' before\n"
	"it if it starts with '-'.\n"
	"\n"
	"Options:\n"
	"  -s, --server URL      server to ask (default $FLOWSCOPE_SERVER_URL, else\n"
	"                        " CLI_DEFAULT_URL ")\n"
	"  -d, --db DB           database the statement's tables are in (default: found by\n"
	"                        the table's name, e.g. network.1s is in flow_metrics)\n"
	"  -j, --json            print the server's JSON reply as it is\n"
	"  -w, --wide            never cut long cells\n"
	"      --max-width N     cut cells longer than N characters with '\xe2\x80\xa6' (default "
	"60)\n"
	"  -h, --help            show this help\n"
	"\n"
	"A cut result (the server's --max-rows) or a query stopped by the server's\n"
	"--query-timeout prints a warning to stderr.\n"
	"\n"
	"Examples:\n"
	"  flowscope query 'SHOW TABLES'\n"
	"  flowscope query 'SELECT request_resource, response_code, response_duration\n"
	"                   FROM l7_flow_log ORDER BY time DESC LIMIT 10'\n"
	"  flowscope query 'SELECT endpoint, Count(row) AS requests, Avg(response_duration)\n"
	"                   AS avg_us FROM l7_flow_log GROUP BY endpoint'\n"
	"  echo 'SELECT Count(row) FROM l7_flow_log' | flowscope query --json - | jq .values\n"
	"\n"
	"Exit status: 0 printed, 1 refused or failed (message on stderr), 2 bad command line.\n";

static int run_query(int argc, char **argv);

const struct cli_cmd cli_cmd_query = {
	.name = "query",
	.summary = "run a SQL query on the server and print the result as a table",
	.help = query_help,
	.run = run_query,
};

enum { OPT_MAX_WIDTH = 256 };

static const struct option query_opts[] = {
	{ "server", required_argument, NULL, 's' },
	{ "db", required_argument, NULL, 'd' },
	{ "json", no_argument, NULL, 'j' },
	{ "wide", no_argument, NULL, 'w' },
	{ "max-width", required_argument, NULL, OPT_MAX_WIDTH },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* The statement from stdin, bounded. NULL after printing why. */
static char *read_stdin_sql(void)
{
	size_t len = 0, n;
	char *buf = malloc(MAX_SQL + 1);

	if (!buf) {
		fprintf(stderr, "flowscope: out of memory\n");
		return NULL;
	}
	while ((n = fread(buf + len, 1, MAX_SQL + 1 - len, stdin)) > 0) {
		len += n;
		if (len > MAX_SQL) {
			fprintf(stderr,
				"flowscope: the statement on stdin is longer than %u bytes\n",
				MAX_SQL);
			free(buf);
			return NULL;
		}
	}
	if (ferror(stdin)) {
		fprintf(stderr, "flowscope: reading stdin: %s\n", strerror(errno));
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* The operands joined with single spaces. */
static char *join_words(int n, char **words)
{
	size_t len = 1, off = 0;
	char *s;

	for (int i = 0; i < n; i++)
		len += strlen(words[i]) + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, len - off, "%s%s", i ? " " : "", words[i]);
	s[off] = '\0';
	return s;
}

static bool blank(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

/* Say why the server refused, from its {"error": ...} body when it has one. */
static void report_refusal(const char *url, const struct cli_http_reply *r)
{
	char perr[128];
	struct cj_doc *doc = NULL;
	const char *msg = NULL;

	if (!cj_parse(r->body, r->len, NULL, &doc, perr, sizeof(perr)))
		msg = cli_reply_error(cj_root(doc));
	if (msg && r->status < 500)
		fprintf(stderr, "flowscope: query refused: %s\n", msg);
	else if (msg)
		fprintf(stderr, "flowscope: query failed on the server (HTTP %ld): %s\n", r->status,
			msg);
	else
		fprintf(stderr,
			"flowscope: the server at %s answered HTTP %ld without a flowscope error "
			"message; is it flowscope-server?\n",
			url, r->status);
	cj_free(doc);
}

static int run_query(int argc, char **argv)
{
	const char *server_opt = NULL, *db = NULL;
	struct cli_reply_opts ropts = { .max_width = DEFAULT_MAX_WIDTH };
	struct cli_http_reply r = { 0 };
	char *url = NULL, *endpoint = NULL, *sql = NULL, *form = NULL;
	char err[CLI_HTTP_ERR_ROOM], perr[160];
	struct cj_doc *doc = NULL;
	bool json = false;
	uint64_t width;
	int c, rc, exit_code = CLI_EXIT_FAIL;

	while ((c = cli_getopt(&cli_cmd_query, argc, argv, "s:d:jwh", query_opts)) != -1) {
		switch (c) {
		case 's': server_opt = optarg; break;
		case 'd': db = optarg; break;
		case 'j': json = true; break;
		case 'w': ropts.max_width = 0; break;
		case OPT_MAX_WIDTH:
			if (cli_parse_u64(optarg, 2, 1u << 20, &width))
				return cli_usage_error(&cli_cmd_query,
						       "--max-width: '%s' is not a number from 2 "
						       "to 1048576",
						       optarg);
			ropts.max_width = width;
			break;
		case 'h': return cli_help(&cli_cmd_query);
		default: return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage_error(&cli_cmd_query, "no SQL statement given");
	if (db && !*db)
		return cli_usage_error(&cli_cmd_query, "--db must not be empty");
	if (argc - optind == 1 && !strcmp(argv[optind], "-"))
		sql = read_stdin_sql();
	else
		sql = join_words(argc - optind, argv + optind);
	if (!sql)
		goto out; /* read_stdin_sql said why; join_words fails only for memory */
	if (blank(sql)) {
		exit_code = cli_usage_error(&cli_cmd_query, "the SQL statement is empty");
		goto out;
	}
	url = cli_server_url(server_opt);
	if (url && asprintf(&endpoint, "%s/v1/query", url) < 0)
		endpoint = NULL; /* asprintf leaves it undefined on failure */
	/* Without --db the server finds each table by its name, in whichever database. */
	if (!endpoint || (db && cli_http_form_add(&form, "db", db)) ||
	    cli_http_form_add(&form, "sql", sql)) {
		fprintf(stderr, "flowscope: out of memory\n");
		goto out;
	}
	/* No timeout of our own: the server's --query-timeout bounds the work. */
	rc = cli_http_request(endpoint, form, 0, &r, err, sizeof(err));
	if (rc) {
		cli_http_report(rc, url, err);
		goto out;
	}
	if (r.status != 200) {
		report_refusal(url, &r);
		goto out;
	}
	if (json) {
		fwrite(r.body, 1, r.len, stdout);
		if (r.len && r.body[r.len - 1] != '\n')
			fputc('\n', stdout);
	} else {
		rc = cj_parse(r.body, r.len, NULL, &doc, perr, sizeof(perr));
		if (rc == -EPROTO) {
			fprintf(stderr, "flowscope: cannot read the server's reply: %s\n", perr);
			goto out;
		}
		if (!rc)
			rc = cli_reply_print(cj_root(doc), &ropts, stdout, stderr, perr,
					     sizeof(perr));
		if (rc == -EPROTO) {
			fprintf(stderr, "flowscope: unexpected reply from the server: %s\n", perr);
			goto out;
		}
		if (rc == -ENOMEM) {
			fprintf(stderr, "flowscope: out of memory\n");
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
	free(form);
	free(endpoint);
	free(url);
	free(sql);
	return exit_code;
}
