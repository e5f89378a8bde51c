/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers the benchmark tools share (vhx-netgen, blkbench,
 * uringbench): number parsing, a fast random generator, a clock, and the
 * exact CPU time of every thread a run involves.
 */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/vhx.h>

/*
 * Adds the handler runs so far of queue @index (VHX_GET_VRING_STATS) to
 * *runs; false where the node has no such counter (upstream vhost).
 */
static inline bool bench_vring_runs(int fd, unsigned int index,
				    uint64_t *runs)
{
	struct vhx_vring_stats s = { .index = index };

	if (ioctl(fd, VHX_GET_VRING_STATS, &s) < 0)
		return false;
	*runs += s.runs;
	return true;
}

/* A number (decimal, 0x hex), or -1. */
static inline int bench_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*out = v;
	return 0;
}

/* A decimal number from @min to @max, or -1. */
static inline int bench_parse_uint(const char *s, unsigned int min,
				   unsigned int max, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

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

/* A thread's voluntary context switches (its sleeps), or -1. */
static inline long long bench_sleeps(const char *status_path)
{
	char line[128];
	long long n = -1;
	FILE *f = fopen(status_path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %lld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * CPU time in ns of the threads of a run: the device's workers (vhx's
 * "vhx-KIND-PID.N", upstream's "vhost-PID"), this process's other threads
 * (the driver), and pktgen's kernel threads (the load generator).
 */
struct bench_cpu {
	long long worker, driver, gen;
	long long worker_sleeps;	/* voluntary context switches */
};

static inline void bench_read_comm(const char *dir, char *comm, size_t len)
{
	char path[600];
	FILE *f;

	comm[0] = 0;
	snprintf(path, sizeof(path), "%s/comm", dir);
	f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(comm, len, f))
		comm[0] = 0;
	fclose(f);
	comm[strcspn(comm, "\n")] = 0;
}

static inline bool bench_is_worker(const char *comm, const char *kind)
{
	char vhx[32], vhost[32];

	snprintf(vhx, sizeof(vhx), "vhx-%s-%d.", kind, getpid());
	snprintf(vhost, sizeof(vhost), "vhost-%d", getpid());
	return !strncmp(comm, vhx, strlen(vhx)) || !strcmp(comm, vhost);
}

/* One thread (/proc/.../DIR): its role from its name and whose it is. */
static inline void bench_account(struct bench_cpu *c, const char *dir,
				 const char *kind, bool ours)
{
	char comm[64], path[600];
	long long ns;

	bench_read_comm(dir, comm, sizeof(comm));
	snprintf(path, sizeof(path), "%s/schedstat", dir);
	ns = bench_schedstat_ns(path);
	if (ns < 0)
		return;
	if (bench_is_worker(comm, kind)) {
		snprintf(path, sizeof(path), "%s/status", dir);
		c->worker += ns;
		c->worker_sleeps += bench_sleeps(path);
	} else if (ours) {
		c->driver += ns;
	} else if (!strncmp(comm, "kpktgend_", 9)) {
		c->gen += ns;
	}
}

/*
 * Our own threads (vhost_task workers among them) through /proc/self/task;
 * kernel threads (6.1's workers, pktgen) lead their own thread group, so
 * /proc/PID is the thread.  "." and ".." are skipped: /proc/K/task/..
 * would count a kernel thread twice.  0, or -1 if /proc cannot be read.
 */
static inline int bench_cpu_read(struct bench_cpu *c, const char *kind)
{
	char dir[600];
	struct dirent *e;
	DIR *d;

	memset(c, 0, sizeof(*c));
	d = opendir("/proc/self/task");
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "/proc/self/task/%s", e->d_name);
		bench_account(c, dir, kind, true);
	}
	closedir(d);
	d = opendir("/proc");
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9' ||
		    atoi(e->d_name) == getpid())
			continue;
		snprintf(dir, sizeof(dir), "/proc/%s", e->d_name);
		bench_account(c, dir, kind, false);
	}
	closedir(d);
	return 0;
}

#endif /* BENCHUTIL_H */
