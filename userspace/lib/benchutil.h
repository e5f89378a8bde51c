/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers the benchmark tools share (vhx-netgen, blkbench,
 * uringbench): a fast random generator, a clock, and a thread's exact
 * runtime.
 */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* xorshift64: cheap, and good enough to scatter offsets. */
static inline uint64_t bench_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The first field of a schedstat file (/proc/.../schedstat): the task's
 * runtime in ns, exact, where utime and stime count scheduler ticks.
 * -1 when it cannot be read.
 */
static inline long long bench_schedstat_ns(const char *path)
{
	long long ns = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (fscanf(f, "%lld", &ns) != 1)
		ns = -1;
	fclose(f);
	return ns;
}

#endif /* BENCHUTIL_H */
