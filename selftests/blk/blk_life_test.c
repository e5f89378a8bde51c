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

#include "harness.h"
#include "blk_common.h"
#include "blk_slow.h"
#include "blk_life.h"

#define NUM		256
#define CHUNK		4096

/* Every used entry says OK. */
static void check_used_ok(struct __test_metadata *_metadata, struct blk_dev *b,
			  unsigned int q, unsigned int *n)
{
	struct vhxg_used u[NUM];
	int got, i;

	got = vhxg_vq_reap(&b->dev.vqs[q], u, NUM);
	for (i = 0; i < got; i++) {
		ASSERT_TRUE(blk_status(b, q, u[i].id) == VIRTIO_BLK_S_OK &&
			    u[i].len == CHUNK + 1)
			TH_LOG("q%u head %u: status %u len %u",
			       q, u[i].id, blk_status(b, q, u[i].id), u[i].len);
	}
	*n = got;
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
static void wait_taken(struct __test_metadata *_metadata, struct blk_dev *b,
		       unsigned int want)
{
	unsigned int q, base = 0, waited;

	for (q = 0; q < b->nq; q++) {
		for (waited = 0; waited < WAIT_MS; waited += 5) {
			ASSERT_LE(0, vhxg_get_vring_base(&b->dev, q, &base));
			if (base >= want)
				break;
			usleep(5000);
		}
		ASSERT_TRUE(base == want)
			TH_LOG("q%u: the device took %u of %u", q,
			       base, want);
	}
}

/*
 * Detach with I/O in flight: the detach waits for what the device took
 * and reports all of it, then on reattach the device goes on where it
 * left off.
 */
static void detach(struct __test_metadata *_metadata, int fd)
{
	struct blk_cfg cfg = { .nq = 4, .num = NUM };
	unsigned int q, base, used, reported[4], inflight = 0, during = 0;
	uint16_t before[4];
	struct blk_dev b;

	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	ASSERT_LE(0, life_flood(&b));
	wait_taken(_metadata, &b, NUM / 3);
	for (q = 0; q < b.nq; q++)
		before[q] = used_idx(&b, q);
	ASSERT_LE(0, blk_set_backend(&b, -1));
	for (q = 0; q < b.nq; q++) {
		ASSERT_LE(0, vhxg_get_vring_base(&b.dev, q, &base));
		ASSERT_TRUE(base == NUM / 3)
			TH_LOG("q%u: base %u after detach, want %u",
			       q, base, NUM / 3);
		/* Taken, not completed when the detach started. */
		inflight += base - before[q];
		during += (uint16_t)(used_idx(&b, q) - before[q]);
		check_used_ok(_metadata, &b, q, &used);
		ASSERT_TRUE(used == base)
			TH_LOG("q%u: %u taken, %u reported", q, base,
			       used);
		reported[q] = used;
		TH_LOG("q%u: %u taken, %u in flight at detach, %u reported",
		       q, base, base - before[q], used);
	}
	ASSERT_TRUE(inflight > 0)
		TH_LOG("nothing was in flight at detach");
	ASSERT_TRUE(during > 0)
		TH_LOG("nothing completed during the detach");
	TH_LOG("%u requests in flight when the detach started, %u completed "
	       "during it", inflight, during);
	/*
	 * Requests posted while detached wait in the ring; on reattach the
	 * device starts where it left off and serves exactly those.
	 */
	ASSERT_LE(0, life_flood(&b));
	for (q = 0; q < b.nq; q++) {
		ASSERT_TRUE(vhxg_vq_wait_used(&b.dev.vqs[q], QUIET_MS) == 0)
			TH_LOG("q%u: served while detached", q);
	}
	ASSERT_LE(0, blk_set_backend(&b, fd));
	for (q = 0; q < b.nq; q++) {
		unsigned int total = 0;

		while (total < NUM / 3) {
			ASSERT_TRUE(vhxg_vq_wait_used(&b.dev.vqs[q],
						      WAIT_MS) == 1)
				TH_LOG("q%u stuck at %u", q, total);
			check_used_ok(_metadata, &b, q, &used);
			total += used;
		}
		ASSERT_TRUE(total == NUM / 3 && reported[q] == NUM / 3)
			TH_LOG("q%u: %u then %u reported", q, reported[q], total);
	}
	ASSERT_LE(0, blk_set_backend(&b, -1));
	for (q = 0; q < b.nq; q++) {
		ASSERT_LE(0, vhxg_get_vring_base(&b.dev, q, &base));
		ASSERT_TRUE(base == 2 * (NUM / 3))
			TH_LOG("q%u: base %u, want %u", q,
			       base, 2 * (NUM / 3));
	}
	blk_dev_close(&b);
}

/* A slow null_blk (life_backend()) open as the backend, removed after. */
FIXTURE(life) {
	struct nullb s;
	int fd;
};

FIXTURE_SETUP(life)
{
	self->fd = life_backend(&self->s);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN_PARENT(life)
{
	EXPECT_LE(0, life_backend_done(&self->s, self->fd));
}

TEST_F(life, detach_inflight)
{
	detach(_metadata, self->fd);
}

static void reset_and_close(struct __test_metadata *_metadata, int fd)
{
	struct blk_cfg cfg = { .nq = 4, .num = NUM };
	unsigned int q, used, inflight = 0;
	struct blk_dev b;
	int i;

	/*
	 * RESET_OWNER with I/O in flight: the device took every request,
	 * and reports every one of them before the reset returns.
	 */
	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	ASSERT_LE(0, life_flood(&b));
	wait_taken(_metadata, &b, NUM / 3);
	for (q = 0; q < b.nq; q++)
		inflight += NUM / 3 - used_idx(&b, q);
	ASSERT_LE(0, vhxg_reset_owner(&b.dev));
	for (q = 0; q < b.nq; q++) {
		check_used_ok(_metadata, &b, q, &used);
		ASSERT_TRUE(used == NUM / 3)
			TH_LOG("q%u: the device took %u, reported "
			       "%u after RESET_OWNER", q, NUM / 3, used);
	}
	TH_LOG("RESET_OWNER with %u of %u requests in flight", inflight,
	       4 * (NUM / 3));
	ASSERT_TRUE(inflight > 0)
		TH_LOG("nothing was in flight at RESET_OWNER");
	ASSERT_TRUE(life_wait_no_workers(getpid()) == 0)
		TH_LOG("workers left after reset");
	blk_dev_close(&b);

	/* Close with I/O in flight, many times. */
	for (i = 0; i < 20; i++) {
		ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
		ASSERT_LE(0, life_flood(&b));
		if (i & 1)
			usleep(500);
		blk_dev_close(&b);
	}
	ASSERT_TRUE(life_wait_no_workers(getpid()) == 0)
		TH_LOG("workers left after close");
}

TEST_F(life, reset_and_close_inflight)
{
	reset_and_close(_metadata, self->fd);
}

TEST_F(life, kill_owner)
{
	ASSERT_EQ(0, life_kill_rounds(self->fd, 10));
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
static void async(struct __test_metadata *_metadata, const char *path)
{
	struct blk_cfg cfg = { .num = 256 };
	unsigned int n = 64, i, got = 0;
	double t0, el;
	struct blk_dev b;
	uint8_t *buf;
	int fd;

	fd = open(path, O_RDWR | O_EXCL | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open %s: %m", path);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	buf = blk_buf(&b, (size_t)n * CHUNK, 0);
	ASSERT_TRUE(buf)
		TH_LOG("arena");
	for (i = 0; i < n; i++) {
		struct vhxg_buf d = { buf + (size_t)i * CHUNK, CHUNK };

		ASSERT_LE(0, blk_post(&b, 0, VIRTIO_BLK_T_IN, i * 8, NULL, 0,
				      &d, 1,
				      0));
	}
	t0 = now_s();
	ASSERT_LE(0, blk_kick(&b, 0));
	while (got < n) {
		unsigned int used;

		ASSERT_TRUE(vhxg_vq_wait_used(&b.dev.vqs[0], WAIT_MS) == 1)
			TH_LOG("stuck at %u of %u", got, n);
		check_used_ok(_metadata, &b, 0, &used);
		got += used;
	}
	el = now_s() - t0;
	TH_LOG("%u reads of 20 ms each took %.0f ms", n, el * 1000);
	ASSERT_TRUE(el < n * 0.020 / 2)
		TH_LOG("requests did not overlap");
	blk_dev_close(&b);
	close(fd);
}

/* A null_blk whose requests take 20 ms, removed after the test. */
FIXTURE(slow) {
	struct nullb s;
};

FIXTURE_SETUP(slow)
{
	if (blk_slow_create(&self->s, 16, 20000, false))
		SKIP(return, "cannot make a slow null_blk");
}

FIXTURE_TEARDOWN_PARENT(slow)
{
	EXPECT_LE(0, blk_slow_destroy(&self->s));
}

TEST_F(slow, async_inflight)
{
	async(_metadata, self->s.path);
}


VHX_TEST_MAIN("/dev/vhx-blk")
