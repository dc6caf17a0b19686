#include <config.h>
/*
 * rand-iops - random 4 KiB reads per second, or their latency, for
 * scripts/bench-read.
 *
 * Usage: rand-iops [--latency] FILE buffered|direct SECONDS
 *
 * One thread pread()s random 4096-byte-aligned 4 KiB blocks of FILE
 * (opened with O_DIRECT for "direct") for at least SECONDS (a decimal
 * number), one at a time (queue depth 1). The block sequence is a fixed
 * xorshift64 stream, the same on every run. Prints the rate in reads per
 * second as a whole number, reading the clock once per batch of 64; with
 * --latency, the clock is read around every pread and it prints the
 * median time of one pread in microseconds (one decimal; the median, not
 * the mean, so that a stall of the machine does not move it). Exit status
 * 0, 1 on an error (message on stderr), 2 on a usage error.
 *
 * (tests/tools/randread.py is another tool: concurrent readers that
 * check bytes against a reference, for tests/integration/test-mount.sh.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
usage(void)
{
	fprintf(stderr, "usage: rand-iops [--latency] FILE buffered|direct SECONDS\n");
	return 2;
}

/* One random block into @buf; 0, or 1 after a message. */
static int
read_one(int fd, void *buf, uint64_t *x, uint64_t blocks)
{
	ssize_t r;

	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	r = pread(fd, buf, BLOCK, (off_t)(*x % blocks) * BLOCK);
	if (r != BLOCK) {
		fprintf(stderr, "rand-iops: pread: %s\n", r < 0 ? strerror(errno) : "short read");
		return 1;
	}
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	uint64_t x = 88172645463325252ull, ops = 0, blocks;
	double secs, t0, t, *lat = NULL;
	size_t nlat = 0, cap = 0;
	int direct, fd, latency = 0;
	struct stat st;
	char *end;
	void *buf;

	if (argc == 5 && strcmp(argv[1], "--latency") == 0) {
		latency = 1;
		argv++;
		argc--;
	}
	if (argc != 4)
		return usage();
	if (strcmp(argv[2], "direct") == 0)
		direct = 1;
	else if (strcmp(argv[2], "buffered") == 0)
		direct = 0;
	else
		return usage();
	secs = strtod(argv[3], &end);
	if (end == argv[3] || *end || !(secs > 0)) {
		fprintf(stderr, "rand-iops: SECONDS: not a positive number: %s\n", argv[3]);
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		fprintf(stderr, "rand-iops: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (fstat(fd, &st) < 0) {
		fprintf(stderr, "rand-iops: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	blocks = (uint64_t)st.st_size / BLOCK;
	if (!blocks) {
		fprintf(stderr, "rand-iops: %s: smaller than one block\n", argv[1]);
		return 1;
	}
	if (posix_memalign(&buf, BLOCK, BLOCK) != 0) {
		fprintf(stderr, "rand-iops: out of memory\n");
		return 1;
	}
	t0 = now();
	if (latency) {
		do {
			double a = now();

			if (read_one(fd, buf, &x, blocks))
				return 1;
			t = now();
			if (nlat == cap) {
				cap = cap ? 2 * cap : 4096;
				lat = realloc(lat, cap * sizeof(*lat));
				if (!lat) {
					fprintf(stderr, "rand-iops: out of memory\n");
					return 1;
				}
			}
			lat[nlat++] = t - a;
		} while (t - t0 < secs);
		qsort(lat, nlat, sizeof(*lat), cmp_double);
		printf("%.1f\n", (nlat % 2 ? lat[nlat / 2] :
		                   (lat[nlat / 2 - 1] + lat[nlat / 2]) / 2) * 1e6);
	} else {
		do {
			for (int i = 0; i < 64; i++) {
				if (read_one(fd, buf, &x, blocks))
					return 1;
				ops++;
			}
			t = now() - t0;
		} while (t < secs);
		printf("%.0f\n", (double)ops / t);
	}
	free(lat);
	free(buf);
	close(fd);
	return 0;
}
