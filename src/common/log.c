/* SPDX-License-Identifier: Apache-2.0 */
/* Logging to stderr: "2026-11-22T04:30:00.123Z warn  message". */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int ob_log_level = OB_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void ob_log_write(int level, const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	if (level < 0 || level > OB_LOG_DEBUG)
		level = OB_LOG_ERROR;
	va_start(ap, fmt);
	/* One fprintf for the prefix and one for the text: stderr is unbuffered, so lines from
	 * different threads may interleave only at that boundary. */
	fprintf(stderr, "%s.%03ldZ %-5s ", stamp, ts.tv_nsec / 1000000, level_names[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int ob_log_parse_level(const char *name)
{
	for (int i = 0; i <= OB_LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -EINVAL;
}

bool ob_log_ratelimit(uint64_t *last_ns, uint64_t now_ns, uint64_t interval_ns)
{
	if (*last_ns && now_ns - *last_ns < interval_ns)
		return false;
	*last_ns = now_ns;
	return true;
}
