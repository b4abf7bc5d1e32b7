/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cost of one socket write and one socket read, in ns, measured over N round trips on a
 * loopback TCP connection. Run it without and with the agent capturing: the difference is
 * what a hooked syscall costs. Prints one JSON object.
 *
 *   syscall_cost [N] [BYTES]     defaults: 100000 calls of 64 bytes
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
	long bytes = argc > 2 ? strtol(argv[2], NULL, 10) : 64;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int one = 1, ls, c, s;
	char *buf;
	uint64_t *wr, *rd, tw = 0, tr = 0;

	if (n <= 0 || bytes <= 0 || bytes > 65536) {
		fprintf(stderr, "usage: syscall_cost [N>0] [BYTES 1..65536]\n");
		return 2;
	}
	buf = calloc(1, bytes);
	wr = calloc(n, sizeof(*wr));
	rd = calloc(n, sizeof(*rd));
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (!buf || !wr || !rd || ls < 0 || bind(ls, (void *)&sa, sizeof(sa)) || listen(ls, 1) ||
	    getsockname(ls, (void *)&sa, &sl)) {
		perror("syscall_cost: setup");
		return 1;
	}
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (void *)&sa, sizeof(sa))) {
		perror("syscall_cost: connect");
		return 1;
	}
	s = accept(ls, NULL, NULL);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (long i = 0; i < n; i++) {
		uint64_t t0 = now_ns(), t1, t2;
		long got = 0;

		if (write(c, buf, bytes) != bytes) {
			perror("syscall_cost: write");
			return 1;
		}
		t1 = now_ns();
		while (got < bytes) {
			ssize_t r = read(s, buf, bytes - got);
			if (r <= 0) {
				perror("syscall_cost: read");
				return 1;
			}
			got += r;
		}
		t2 = now_ns();
		wr[i] = t1 - t0;
		rd[i] = t2 - t1;
		tw += wr[i];
		tr += rd[i];
	}
	qsort(wr, n, sizeof(*wr), cmp_u64);
	qsort(rd, n, sizeof(*rd), cmp_u64);
	printf("{\"calls\": %ld, \"bytes\": %ld, \"write_mean_ns\": %.1f, \"read_mean_ns\": %.1f, "
	       "\"write_median_ns\": %llu, \"read_median_ns\": %llu}\n",
	       n, bytes, (double)tw / n, (double)tr / n, (unsigned long long)wr[n / 2],
	       (unsigned long long)rd[n / 2]);
	close(c);
	close(s);
	close(ls);
	free(buf);
	free(wr);
	free(rd);
	return 0;
}
