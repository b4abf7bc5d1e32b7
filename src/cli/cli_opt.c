/* SPDX-License-Identifier: Apache-2.0 */
/* Command-line helpers shared by the subcommands: options, numbers, the server URL. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "flowscope %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'flowscope %s --help'.\n", cmd->name);
	return CLI_EXIT_USAGE;
}

int cli_help(const struct cli_cmd *cmd)
{
	fputs(cmd->help, stdout);
	return fflush(stdout) || ferror(stdout) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_getopt(const struct cli_cmd *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	/* The leading ':' makes a missing value ':' rather than '?', to tell them apart. */
	char spec[64];
	int c;

	snprintf(spec, sizeof(spec), ":%s", shortopts);
	opterr = 0;
	c = getopt_long(argc, argv, spec, longopts, NULL);
	if (c == ':') {
		cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
		return '?';
	}
	if (c == '?') {
		const char *arg = argv[optind - 1], *eq = strchr(arg, '=');

		if (strncmp(arg, "--", 2))
			cli_usage_error(cmd, "unknown option '-%c'", optopt);
		else if (eq && optopt)
			cli_usage_error(cmd, "option '%.*s' takes no value", (int)(eq - arg), arg);
		else
			cli_usage_error(cmd, "unknown option '%s'", arg);
		return '?';
	}
	return c;
}

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

char *cli_server_url(const char *opt)
{
	const char *url = opt;
	size_t len;
	char *out;

	if (!url || !*url)
		url = getenv("FLOWSCOPE_SERVER_URL");
	if (!url || !*url)
		url = CLI_DEFAULT_URL;
	len = strlen(url);
	while (len && url[len - 1] == '/')
		len--;
	if (strstr(url, "://")) {
		out = strndup(url, len);
	} else {
		out = malloc(len + sizeof("http://"));
		if (out)
			snprintf(out, len + sizeof("http://"), "http://%.*s", (int)len, url);
	}
	return out;
}
