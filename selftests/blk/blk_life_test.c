// SPDX-License-Identifier: GPL-2.0
/*
 * vhx-blk lifecycle with I/O in flight: detach, RESET_OWNER, close, and
 * SIGKILL of the owner, on a slow null_blk whose requests complete on a
 * 200 ms timer (no null_blk: the cases fail).  Whatever the device took
 * from a ring it reports when the owner itself stops it; nothing hangs;
 * the workers go away with the device, and no reference to the disk is
 * left behind (it is opened exclusively and must be free again).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/wait.h>

#include "blk_common.h"
#include "blk_slow.h"
#include "blk_life.h"

#define NUM		256
#define CHUNK		4096

/* Every used entry says OK. */
static int check_used_ok(struct blk_dev *b, unsigned int q, unsigned int *n)
{
	struct vhxg_used u[NUM];
	int got, i;

	got = vhxg_vq_reap(&b->dev.vqs[q], u, NUM);
	for (i = 0; i < got; i++)
		KT_ASSERT(blk_status(b, q, u[i].id) == VIRTIO_BLK_S_OK &&
			  u[i].len == CHUNK + 1, "q%u head %u: status %u len %u",
			  q, u[i].id, blk_status(b, q, u[i].id), u[i].len);
	*n = got;
	return KT_PASS;
}

/* Used idx of queue @q as the device last published it. */
static uint16_t used_idx(struct blk_dev *b, unsigned int q)
{
	return __atomic_load_n(&b->dev.vqs[q].used->idx, __ATOMIC_ACQUIRE);
}

/*
 * Wait until the device has taken all @want requests of every queue off
 * the ring (GET_VRING_BASE); the null_blk holds each for 200 ms, so they
 * are in flight then.
 */
static int wait_taken(struct blk_dev *b, unsigned int want)
{
	unsigned int q, base = 0, waited;

	for (q = 0; q < b->nq; q++) {
		for (waited = 0; waited < WAIT_MS; waited += 5) {
			KT_OK(vhxg_get_vring_base(&b->dev, q, &base));
			if (base >= want)
				break;
			usleep(5000);
		}
		KT_ASSERT(base == want, "q%u: the device took %u of %u", q,
			  base, want);
	}
	return KT_PASS;
}

/*
 * Detach with I/O in flight: the detach waits for what the device took
 * and reports all of it, then on reattach the device goes on where it
 * left off.
 */
static int detach(int fd)
{
	struct blk_cfg cfg = { .nq = 4, .num = NUM };
	unsigned int q, base, used, reported[4], inflight = 0, during = 0;
	uint16_t before[4];
	struct blk_dev b;

	KT_OK(blk_dev_open(&b, &cfg, fd));
	KT_OK(life_flood(&b));
	KT_RUN(wait_taken(&b, NUM / 3));
	for (q = 0; q < b.nq; q++)
		before[q] = used_idx(&b, q);
	KT_OK(blk_set_backend(&b, -1));
	for (q = 0; q < b.nq; q++) {
		KT_OK(vhxg_get_vring_base(&b.dev, q, &base));
		KT_ASSERT(base == NUM / 3, "q%u: base %u after detach, want %u",
			  q, base, NUM / 3);
		/* Taken, not completed when the detach started. */
		inflight += base - before[q];
		during += (uint16_t)(used_idx(&b, q) - before[q]);
		KT_RUN(check_used_ok(&b, q, &used));
		KT_ASSERT(used == base, "q%u: %u taken, %u reported", q, base,
			  used);
		reported[q] = used;
		kt_diag("q%u: %u taken, %u in flight at detach, %u reported",
			q, base, base - before[q], used);
	}
	KT_ASSERT(inflight > 0, "nothing was in flight at detach");
	KT_ASSERT(during > 0, "nothing completed during the detach");
	kt_diag("%u requests in flight when the detach started, %u completed "
		"during it", inflight, during);
	/*
	 * Requests posted while detached wait in the ring; on reattach the
	 * device starts where it left off and serves exactly those.
	 */
	KT_OK(life_flood(&b));
	for (q = 0; q < b.nq; q++)
		KT_ASSERT(vhxg_vq_wait_used(&b.dev.vqs[q], QUIET_MS) == 0,
			  "q%u: served while detached", q);
	KT_OK(blk_set_backend(&b, fd));
	for (q = 0; q < b.nq; q++) {
		unsigned int total = 0;

		while (total < NUM / 3) {
			KT_ASSERT(vhxg_vq_wait_used(&b.dev.vqs[q], WAIT_MS) == 1,
				  "q%u stuck at %u", q, total);
			KT_RUN(check_used_ok(&b, q, &used));
			total += used;
		}
		KT_ASSERT(total == NUM / 3 && reported[q] == NUM / 3,
			  "q%u: %u then %u reported", q, reported[q], total);
	}
	KT_OK(blk_set_backend(&b, -1));
	for (q = 0; q < b.nq; q++) {
		KT_OK(vhxg_get_vring_base(&b.dev, q, &base));
		KT_ASSERT(base == 2 * (NUM / 3), "q%u: base %u, want %u", q,
			  base, 2 * (NUM / 3));
	}
	blk_dev_close(&b);
	return KT_PASS;
}

static int tc_detach_inflight(void)
{
	struct nullb s;
	int fd = life_backend(&s), ret;

	KT_OK(fd);
	ret = detach(fd);
	KT_OK(life_backend_done(&s, fd));
	return ret;
}

static int reset_and_close(int fd)
{
	struct blk_cfg cfg = { .nq = 4, .num = NUM };
	unsigned int q, used, inflight = 0;
	struct blk_dev b;
	int i;

	/*
	 * RESET_OWNER with I/O in flight: the device took every request,
	 * and reports every one of them before the reset returns.
	 */
	KT_OK(blk_dev_open(&b, &cfg, fd));
	KT_OK(life_flood(&b));
	KT_RUN(wait_taken(&b, NUM / 3));
	for (q = 0; q < b.nq; q++)
		inflight += NUM / 3 - used_idx(&b, q);
	KT_OK(vhxg_reset_owner(&b.dev));
	for (q = 0; q < b.nq; q++) {
		KT_RUN(check_used_ok(&b, q, &used));
		KT_ASSERT(used == NUM / 3, "q%u: the device took %u, reported "
			  "%u after RESET_OWNER", q, NUM / 3, used);
	}
	kt_diag("RESET_OWNER with %u of %u requests in flight", inflight,
		4 * (NUM / 3));
	KT_ASSERT(inflight > 0, "nothing was in flight at RESET_OWNER");
	KT_ASSERT(life_wait_no_workers(getpid()) == 0, "workers left after reset");
	blk_dev_close(&b);

	/* Close with I/O in flight, many times. */
	for (i = 0; i < 20; i++) {
		KT_OK(blk_dev_open(&b, &cfg, fd));
		KT_OK(life_flood(&b));
		if (i & 1)
			usleep(500);
		blk_dev_close(&b);
	}
	KT_ASSERT(life_wait_no_workers(getpid()) == 0, "workers left after close");
	return KT_PASS;
}

static int tc_reset_and_close_inflight(void)
{
	struct nullb s;
	int fd = life_backend(&s), ret;

	KT_OK(fd);
	ret = reset_and_close(fd);
	KT_OK(life_backend_done(&s, fd));
	return ret;
}

static int tc_kill_owner(void)
{
	struct nullb s;
	int fd = life_backend(&s), ret;

	KT_OK(fd);
	ret = life_kill_rounds(fd, 10);
	KT_OK(life_backend_done(&s, fd));
	return ret;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Requests on one queue overlap at the backend: 64 reads of a device that
 * takes 20 ms for each finish far sooner than 64 * 20 ms.
 */
static int async(const char *path)
{
	struct blk_cfg cfg = { .num = 256 };
	unsigned int n = 64, i, got = 0;
	double t0, el;
	struct blk_dev b;
	uint8_t *buf;
	int fd;

	fd = open(path, O_RDWR | O_EXCL | O_CLOEXEC);
	KT_ASSERT(fd >= 0, "open %s: %m", path);
	KT_OK(blk_dev_open(&b, &cfg, fd));
	buf = blk_buf(&b, (size_t)n * CHUNK, 0);
	KT_ASSERT(buf, "arena");
	for (i = 0; i < n; i++) {
		struct vhxg_buf d = { buf + (size_t)i * CHUNK, CHUNK };

		KT_OK(blk_post(&b, 0, VIRTIO_BLK_T_IN, i * 8, NULL, 0, &d, 1,
			       0));
	}
	t0 = now_s();
	KT_OK(blk_kick(&b, 0));
	while (got < n) {
		unsigned int used;

		KT_ASSERT(vhxg_vq_wait_used(&b.dev.vqs[0], WAIT_MS) == 1,
			  "stuck at %u of %u", got, n);
		KT_RUN(check_used_ok(&b, 0, &used));
		got += used;
	}
	el = now_s() - t0;
	kt_diag("%u reads of 20 ms each took %.0f ms", n, el * 1000);
	KT_ASSERT(el < n * 0.020 / 2, "requests did not overlap");
	blk_dev_close(&b);
	close(fd);
	return KT_PASS;
}

static int tc_async_inflight(void)
{
	struct nullb s;
	int ret;

	if (blk_slow_create(&s, 16, 20000, false))
		return kt_skip("cannot make a slow null_blk");
	ret = async(s.path);
	KT_OK(blk_slow_destroy(&s));
	return ret;
}

static const struct kt_case cases[] = {
	{ "async_inflight", tc_async_inflight },
	{ "detach_inflight", tc_detach_inflight },
	{ "reset_and_close_inflight", tc_reset_and_close_inflight },
	{ "kill_owner", tc_kill_owner },
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, cases, KT_ARRAY_SIZE(cases),
		       "/dev/vhx-blk");
}
