/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `flowscope` command: one struct cli_cmd per subcommand, listed in cli_main.c, which
 * dispatches on argv[1] and derives `flowscope --help` and `flowscope help CMD` from the
 * table. Each subcommand parses its own options with cli_getopt() and returns the exit
 * status: 0 done, 1 the operation failed, 2 the command line is wrong.
 */
#ifndef OB_CLI_CLI_H
#define OB_CLI_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,  /* runtime failure: server unreachable, query refused, child died */
	CLI_EXIT_USAGE = 2, /* bad command line */
};

#define CLI_DEFAULT_LISTEN "127.0.0.1:20416"
#define CLI_DEFAULT_URL	   "http://" CLI_DEFAULT_LISTEN

struct cli_cmd {
	const char *name;
	const char *summary; /* one line for `flowscope --help` */
	const char *help;    /* full text for `flowscope help CMD` and `flowscope CMD --help` */
	/* argv[0] is the command name; returns the exit status */
	int (*run)(int argc, char **argv);
};

extern const struct cli_cmd cli_cmd_up;
extern const struct cli_cmd cli_cmd_query;
extern const struct cli_cmd cli_cmd_status;
extern const struct cli_cmd cli_cmd_trace;

/*
 * getopt_long() for subcommand cmd, with our own messages: an unknown option or a missing
 * value prints "flowscope CMD: ..." and a hint to stderr and returns '?'. 'h' is -h/--help.
 * Options and operands may be mixed; "--" ends the options.
 */
int cli_getopt(const struct cli_cmd *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);

/* Print cmd's help to stdout; returns CLI_EXIT_OK (or CLI_EXIT_FAIL if stdout fails). */
int cli_help(const struct cli_cmd *cmd);

/* Report a bad command line for cmd ("flowscope CMD: ..." plus a hint); returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parse a decimal integer in [min, max]; 0 or -EINVAL. */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * The server's base URL: opt if given, else $FLOWSCOPE_SERVER_URL, else CLI_DEFAULT_URL;
 * "host:port" gets "http://" in front and trailing slashes go. malloc'd; NULL on ENOMEM.
 */
char *cli_server_url(const char *opt);

#endif
