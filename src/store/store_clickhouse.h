/* SPDX-License-Identifier: Apache-2.0 */
/* The ClickHouse backend's URL (store_clickhouse.c). */
#ifndef OB_STORE_STORE_CLICKHOUSE_H
#define OB_STORE_STORE_CLICKHOUSE_H

#include <stddef.h>

#define CH_NAME_MAX 63

struct ch_url {
	char host[256];
	unsigned int port;
	char db[CH_NAME_MAX + 1];
	char cluster[CH_NAME_MAX + 1]; /* "" without one */
};

/*
 * Parse "clickhouse://HOST:PORT/DB[?cluster=NAME]": HOST a name or IPv4 address, PORT the
 * HTTP port (1..65535), DB and NAME letters, digits and '_'. 0, or -EINVAL with a
 * one-line reason in err.
 */
int ch_parse_url(const char *url, struct ch_url *out, char *err, size_t errlen);

#endif
