/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Leak accounting for teardown tests.  A workload runs in a child process
 * inside a memory cgroup of its own (cgroup v2; vhx allocates with
 * GFP_KERNEL_ACCOUNT, so what it keeps is charged there).  At each
 * leak_point() the workload stops and the parent, which stays outside
 * the cgroup so that its own /proc reads are not charged, waits for the
 * kernel to settle and then checks:
 *   - no kernel splat since the run started (/dev/kmsg);
 *   - no task left in D state (/proc/PID/task/TID/stat, persistent);
 *   - no thread left whose name starts with the worker prefix;
 *   - the cgroup's memory.stat kernel, slab and sock within the tolerance
 *     of the first point (the baseline).
 * /proc/meminfo SUnreclaim and the /proc/slabinfo total are reported too,
 * as system-wide figures that other activity also moves.
 */
#ifndef LEAK_H
#define LEAK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Tolerances in bytes.  With the per-CPU charge caches drained before
 * each reading (see leak.c), an idle loop of the kill loop's shape moved
 * slab by 0 bytes and kernel by one page; the loops themselves moved slab
 * by 0 and kernel by -4 KiB, the other cases slab by at most +1.1 KiB
 * and kernel by at most +8 KiB (page tables, file index nodes).  One
 * small object leaked per cycle, 100 cycles, is 6.4 KiB of kmalloc-64
 * and more with slub_debug's metadata, which the memcg charges too.
 */
#define LEAK_TOL_KERNEL	(16 << 10)
#define LEAK_TOL_SLAB	(4 << 10)
#define LEAK_TOL_SOCK	(4 << 10)

struct leak_snap {
	long long kernel;	/* memory.stat, bytes */
	long long slab;
	long long sock;
	long long current;	/* memory.current */
	long long sunreclaim;	/* /proc/meminfo, bytes */
	long long slabinfo;	/* sum of active_objs * objsize */
};

struct leak_opts {
	const char *worker_prefix;	/* threads that must be gone, or NULL */
	long long tol_kernel, tol_slab, tol_sock;	/* 0: defaults above */
	unsigned int settle_ms;		/* 0: 2500 (memcg stats flush: 2 s) */
};

struct leak_ctx;
struct __test_metadata;

/*
 * The workload: a child process in the cgroup, whose ASSERT_*() and
 * SKIP() reach the test through the harness's _metadata.  That is shared
 * with forked processes in a TEST_F() only, so a test that runs a
 * workload is a TEST_F().
 */
typedef void (*leak_fn)(struct __test_metadata *_metadata,
			struct leak_ctx *lc, void *arg);

/*
 * Run @fn in a fresh memory cgroup and check every point it reports.
 * Returns KSFT_PASS, KSFT_FAIL (what failed is printed), or KSFT_SKIP
 * when there is no memory cgroup.
 */
int leak_run(struct __test_metadata *_metadata, const char *name,
	     leak_fn fn, void *arg, const struct leak_opts *opts);

/*
 * In a test: fail it on what leak_run() returned (@verdict) or skip it,
 * when it or its workload skipped.  LEAK_RUN() runs and checks at once;
 * LEAK_CHECK() leaves room for the test's cleanup in between (a failed
 * ASSERT_*() in the workload ends the workload, not the test).
 */
#define LEAK_CHECK(verdict) do {					\
	int __leak = (verdict);						\
									\
	if (_metadata->exit_code == KSFT_SKIP)	/* the workload's */	\
		return;							\
	if (__leak == KSFT_SKIP)					\
		SKIP(return, "no cgroup v2 memory controller");		\
	ASSERT_EQ(KSFT_PASS, __leak);					\
} while (0)

#define LEAK_RUN(name, fn, arg, opts)					\
	LEAK_CHECK(leak_run(_metadata, name, fn, arg, opts))
/*
 * In the workload: stop here until the parent has measured.  A label
 * starting with '+' is a positive control taken while the workload holds
 * devices: slab must then have grown by more than the slab tolerance,
 * which shows that what the device allocates is charged where the test
 * looks and that leaking a whole device would be seen (one upstream
 * vhost-net device on 6.1 holds only about 4.5 KiB of slab).
 */
#define LEAK_MIN_HELD	(LEAK_TOL_SLAB + 1)
int leak_point(struct leak_ctx *lc, const char *label);

/* Helpers usable anywhere. */
/* Call @fn for every /proc/PID/task/TID directory. */
void leak_for_each_task(void (*fn)(const char *dir, void *arg), void *arg);
int leak_count_threads(const char *prefix);
/* Tasks in D state in each of several scans over ~1.5 s; prints them. */
int leak_stuck_tasks(void);
/* /dev/kmsg positioned at its end; leak_kmsg_splats() counts new splats. */
int leak_kmsg_open(void);
int leak_kmsg_splats(int fd);
/* Numeric content of a small file (first integer), or -errno. */
long long leak_read_ll(const char *path);
/* Read a sysfs-like file of integers from an open fd into @v. */
int leak_pread_ints(int fd, long long *v, int n);
void leak_msleep(unsigned int ms);

#endif /* LEAK_H */
