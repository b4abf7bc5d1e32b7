/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leveled logging to stderr with a component prefix ("[agent] ..."). The level check is
 * in the macro so disabled messages cost one comparison. Data-path code rate-limits its
 * own messages (ob_log_ratelimit); counters, not logs, are how drops are reported.
 */
#ifndef OB_COMMON_LOG_H
#define OB_COMMON_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum ob_log_level {
	OB_LOG_ERROR = 0,
	OB_LOG_WARN = 1,
	OB_LOG_INFO = 2,
	OB_LOG_DEBUG = 3,
};

extern int ob_log_level;

void ob_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ob_log(level, ...)                                                                         \
	do {                                                                                       \
		if ((level) <= ob_log_level)                                                       \
			ob_log_write((level), __VA_ARGS__);                                        \
	} while (0)

#define ob_err(...)   ob_log(OB_LOG_ERROR, __VA_ARGS__)
#define ob_warn(...)  ob_log(OB_LOG_WARN, __VA_ARGS__)
#define ob_info(...)  ob_log(OB_LOG_INFO, __VA_ARGS__)
#define ob_debug(...) ob_log(OB_LOG_DEBUG, __VA_ARGS__)

/* Parse "error|warn|info|debug"; returns the level or -EINVAL. */
int ob_log_parse_level(const char *name);

/* True at most once per `interval_ns` for the given slot (a static uint64_t). */
bool ob_log_ratelimit(uint64_t *last_ns, uint64_t now_ns, uint64_t interval_ns);

#endif
