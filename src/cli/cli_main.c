/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flowscope: the command users type. `flowscope CMD ...` runs one subcommand of the table
 * below; the top-level help is derived from the same table, so a command cannot exist
 * without being listed.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "common/version.h"

static const struct cli_cmd *const commands[] = {
	&cli_cmd_up,
	&cli_cmd_query,
	&cli_cmd_trace,
	&cli_cmd_status,
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cli_cmd *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	fputs("Usage: flowscope COMMAND [OPTIONS] [ARGS]\n"
	      "\n"
	      "flowscope is zero-code observability for Linux. flowscope-agent records every\n"
	      "HTTP request on this host through eBPF; flowscope-server stores the records and\n"
	      "answers SQL. This command starts both and asks the server questions.\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
	fputs("  help     show the help of a command, e.g. flowscope help query\n"
	      "\n"
	      "Options:\n"
	      "  -h, --help     show this help\n"
	      "      --version  print the version\n"
	      "\n"
	      "Environment:\n"
	      "  FLOWSCOPE_SERVER_URL  the server query and status ask (default " CLI_DEFAULT_URL
	      ")\n"
	      "  FLOWSCOPE_SERVER      flowscope-server program up starts (default: the one\n"
	      "                        next to this flowscope)\n"
	      "  FLOWSCOPE_AGENT       flowscope-agent program up starts (likewise)\n"
	      "\n"
	      "Examples:\n"
	      "  sudo flowscope up\n"
	      "  flowscope query 'SELECT request_resource, response_code FROM l7_flow_log\n"
	      "                   ORDER BY time DESC LIMIT 10'\n"
	      "  flowscope status\n"
	      "\n"
	      "Exit status: 0 done, 1 the operation failed, 2 the command line is wrong.\n",
	      out);
}

static int bad_command(const char *fmt, const char *arg)
{
	fputs("flowscope: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'flowscope --help'.\n", stderr);
	return CLI_EXIT_USAGE;
}

/* flowscope help [CMD] */
static int help(int argc, char **argv)
{
	const struct cli_cmd *cmd;

	if (argc < 2 || !strcmp(argv[1], "help")) {
		usage(stdout);
		return fflush(stdout) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	}
	if (argc > 2)
		return bad_command("help takes one command name, not '%s'", argv[2]);
	cmd = find(argv[1]);
	if (!cmd)
		return bad_command("no command named '%s'", argv[1]);
	return cli_help(cmd);
}

int main(int argc, char **argv)
{
	const struct cli_cmd *cmd;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return help(1, argv);
	if (!strcmp(argv[1], "--version")) {
		printf("flowscope %s\n", FLOWSCOPE_VERSION);
		return fflush(stdout) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "help"))
		return help(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		return bad_command("unknown option '%s' (options go after the command)", argv[1]);
	cmd = find(argv[1]);
	if (!cmd)
		return bad_command("unknown command '%s'", argv[1]);
	if (cli_http_init()) {
		fprintf(stderr, "flowscope: cannot initialise libcurl\n");
		return CLI_EXIT_FAIL;
	}
	rc = cmd->run(argc - 1, argv + 1);
	cli_http_cleanup();
	return rc;
}
