/*
 * rate.c: how fast bytes arrive on stdin, from the first byte to the last.
 *
 * A download's elapsed time includes connecting and starting the remote
 * command; timing from the first byte to the last measures the stream
 * alone. Reads stdin to EOF (discarding it) and prints
 * "bytes N", "seconds S" (first to last byte) and "Bps R", where R counts
 * the bytes after the first read over that span.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(void)
{
	static char b[256 * 1024];
	uint64_t total = 0, first = 0;
	double t0 = 0, t1 = 0;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, b, sizeof(b));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("rate: read");
			return 1;
		}
		if (n == 0)
			break;
		t1 = now_s();
		if (total == 0) {
			t0 = t1;
			first = (uint64_t)n;
		}
		total += (uint64_t)n;
	}
	printf("bytes %llu\nseconds %.6f\nBps %.0f\n", (unsigned long long)total, t1 - t0,
	       t1 > t0 ? (double)(total - first) / (t1 - t0) : 0.0);
	return 0;
}
