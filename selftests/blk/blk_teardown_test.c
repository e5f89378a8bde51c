// SPDX-License-Identifier: GPL-2.0
/*
 * vhx-blk teardown under load, with leak accounting (selftests/lib/leak.h):
 * every case runs its workload in a memory cgroup of its own and checks,
 * after the loop, that no task is stuck in D state, no vhx-blk-* worker
 * is left, the kernel memory charged to the cgroup is back at the
 * baseline and the kernel logged no splat.
 *
 *   kill_loop, close_loop, reset_loop: 100 cycles each of SIGKILL of the
 *     owner (a forked child), close, and RESET_OWNER, each with hundreds
 *     of reads in flight on a slow null_blk (5 ms completion timer); the
 *     block layer's inflight counter must be non-zero at every kill.
 *   race_*: ioctls racing traffic from another thread for a few seconds:
 *     backend switching, memory table swaps (one drops the rings), vring
 *     eventfd swaps, RESET_OWNER, close.  Then the device must work.
 *   vanish_*: the null_blk powered off and removed, or the backing file
 *     truncated, under I/O.  The device must then reset and close.
 *   scale_16q: sixteen queues of one device, all with traffic.
 *   backend_fd_closed: the VMM closes its fd of the disk right after
 *     SET_BACKEND; I/O goes on, and closing the device releases the disk.
 * At the end the slow null_blk must power off and rmdir cleanly, and the
 * null_blk module's reference count (one per open disk) be back where
 * it was: no bdev reference leaked.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/fs.h>

#include "harness.h"
#include "blk_common.h"
#include "leak.h"
#include "nullb.h"

#define CYCLES		100
#define NQ		2
#define NUM		128		/* per queue, indirect: NUM in flight */
#define CHUNK		4096
#define SLOW_MB		64
#define SLOW_NSEC	5000000		/* null_blk completion timer */
#define RACE_MS		3000
#define ARENA		(4u << 20)
#define NULLB_REFCNT	"/sys/module/null_blk/refcnt"

/* ---- a slow null_blk whose removal we check ---------------------------- */

struct slow_disk {
	struct nullb nb;
	char inflight[96];	/* /sys/block/NAME/inflight */
	long long refcnt0;	/* null_blk's module refcount before */
};

static int slow_create(struct slow_disk *s, const char *tag)
{
	char size[32], nsec[32];
	const char *const attrs[] = { size, "memory_backed=1", "irqmode=2",
				      nsec, "hw_queue_depth=256", NULL };
	struct stat st;
	int ret;

	memset(s, 0, sizeof(*s));
	snprintf(size, sizeof(size), "size=%u", SLOW_MB);
	snprintf(nsec, sizeof(nsec), "completion_nsec=%u", SLOW_NSEC);
	s->refcnt0 = leak_read_ll(NULLB_REFCNT);
	ret = nullb_create(&s->nb, tag, attrs);
	if (ret)
		return ret;
	snprintf(s->inflight, sizeof(s->inflight), "/sys/block/%s/inflight",
		 s->nb.name);
	if (stat(s->inflight, &st)) {
		ksft_print_msg("null_blk %s: no %s\n", s->nb.dir, s->inflight);
		nullb_destroy(&s->nb);
		return -ENOENT;
	}
	return 0;
}

/* Wait for null_blk's module refcount to be back at @want. */
static void nullb_refcnt_back(struct __test_metadata *_metadata, long long want)
{
	long long ref = -1;
	int i;

	/* Deferred fputs run soon after the last close: give them time. */
	for (i = 0; i < 50; i++) {
		ref = leak_read_ll(NULLB_REFCNT);
		if (ref == want)
			break;
		leak_msleep(100);
	}
	ASSERT_TRUE(ref == want)
		TH_LOG("null_blk refcnt %lld, was %lld: a disk is still open",
		       ref, want);
}

/* Once removed: no reference is left. */
static void slow_released(struct __test_metadata *_metadata,
			  struct slow_disk *s)
{
	nullb_refcnt_back(_metadata, s->refcnt0);
}

/* Power off, rmdir, and check that no open reference is left. */
static void slow_destroy(struct __test_metadata *_metadata, struct slow_disk *s)
{
	int ret;

	if (!s->nb.dir[0])
		return;
	ret = nullb_power(&s->nb, false);
	ASSERT_TRUE(!ret)
		TH_LOG("power=0 on %s: %s", s->nb.dir, strerror(-ret));
	ret = nullb_remove(&s->nb);
	ASSERT_TRUE(!ret)
		TH_LOG("rmdir %s: %s", s->nb.dir, strerror(-ret));
	slow_released(_metadata, s);
	TH_LOG("null_blk removed cleanly, module refcnt back to %lld",
	       s->refcnt0);
}

static int open_rw(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* ---- traffic ------------------------------------------------------------ */

struct traffic {
	struct blk_dev b;
	int backend;
	uint8_t *bufs[VHXG_MAX_VQS];	/* CHUNK per head */
	uint64_t sectors;		/* spread reads over this many */
	unsigned long posted, ok, ioerr, other, badlen;
	unsigned int seed;
};

static int tr_open(struct traffic *t, unsigned int nq, int backend,
		   uint64_t bytes)
{
	struct blk_cfg cfg = { .nq = nq, .num = NUM, .arena = ARENA };
	unsigned int q;
	int ret;

	memset(t, 0, sizeof(*t));
	t->backend = backend;
	t->sectors = bytes / SECTOR;
	ret = blk_dev_open(&t->b, &cfg, backend);
	if (ret)
		return ret;
	for (q = 0; q < nq; q++) {
		t->bufs[q] = blk_buf(&t->b, (size_t)NUM * CHUNK, 0);
		if (!t->bufs[q])
			return -ENOMEM;
	}
	return 0;
}

/* Fill queue @q's ring with 4 KiB reads (one indirect descriptor each). */
static int tr_post(struct traffic *t, unsigned int q)
{
	struct vhxg_vq *vq = &t->b.dev.vqs[q];
	unsigned int n = 0;

	while (vq->num_free) {
		unsigned int head = vq->free_head;
		struct vhxg_buf d = { t->bufs[q] + (size_t)head * CHUNK, CHUNK };
		uint64_t chunks = t->sectors / (CHUNK / SECTOR);
		uint64_t sector = (rand_r(&t->seed) % chunks) * (CHUNK / SECTOR);
		int ret = blk_post(&t->b, q, VIRTIO_BLK_T_IN, sector, NULL, 0,
				   &d, 1, VHXG_ADD_INDIRECT);

		if (ret < 0)
			return ret;
		n++;
	}
	t->posted += n;
	if (n)
		blk_kick(&t->b, q);
	return n;
}

static void tr_reap(struct traffic *t, unsigned int q)
{
	struct vhxg_used u[NUM];
	int n, i;

	n = vhxg_vq_reap(&t->b.dev.vqs[q], u, NUM);
	for (i = 0; i < n; i++) {
		uint8_t st = blk_status(&t->b, q, u[i].id % NUM);

		if (st == VIRTIO_BLK_S_OK)
			t->ok++;
		else if (st == VIRTIO_BLK_S_IOERR)
			t->ioerr++;
		else
			t->other++;
		if (u[i].len > CHUNK + 1)
			t->badlen++;
	}
}

/* Reap, refill and kick every queue once. */
static void tr_step(struct traffic *t)
{
	unsigned int q;

	for (q = 0; q < t->b.nq; q++) {
		tr_reap(t, q);
		tr_post(t, q);
	}
}

/* Rings back to index 0 with the current backend; nothing in flight. */
static int tr_rewind(struct traffic *t)
{
	unsigned int q;
	int ret = 0;

	for (q = 0; q < t->b.nq && !ret; q++) {
		vhxg_vq_rewind(&t->b.dev.vqs[q], 0);
		ret = vhxg_vq_configure(&t->b.dev.vqs[q]);
	}
	return ret;
}

/* Owner, features, memory, rings, backend again (after a reset). */
static int tr_resetup(struct traffic *t)
{
	int ret = vhxg_set_owner(&t->b.dev);

	if (!ret)
		ret = vhxg_set_features(&t->b.dev, BLK_ACK);
	if (!ret)
		ret = vhxg_set_mem_identity(&t->b.dev);
	if (!ret)
		ret = tr_rewind(t);
	if (!ret)
		ret = blk_set_backend(&t->b, t->backend);
	return ret;
}

/* After the traffic: reset, set up again, and one write read back. */
static void tr_verify(struct __test_metadata *_metadata, struct traffic *t)
{
	uint8_t *buf = t->bufs[0];
	int st;

	ASSERT_LE(0, vhxg_reset_owner(&t->b.dev));
	ASSERT_LE(0, tr_resetup(t));
	blk_pattern(buf, CHUNK, 0x7e57, 0);
	st = blk_do(&t->b, 0, VIRTIO_BLK_T_OUT, 8, buf, CHUNK, NULL);
	ASSERT_TRUE(st == VIRTIO_BLK_S_OK)
		TH_LOG("write after the race: %d", st);
	memset(buf, 0, CHUNK);
	st = blk_do(&t->b, 0, VIRTIO_BLK_T_IN, 8, buf, CHUNK, NULL);
	ASSERT_TRUE(st == VIRTIO_BLK_S_OK)
		TH_LOG("read after the race: %d", st);
	ASSERT_TRUE(!blk_check_pattern(buf, CHUNK, 0x7e57, 0))
		TH_LOG("data read back differs");
}

/* The block layer's count of requests in flight on @fd's disk. */
static long long inflight(int fd)
{
	long long v[2];

	return leak_pread_ints(fd, v, 2) ? -1 : v[0] + v[1];
}

/* Wait until the disk has requests in flight; returns how many, or 0. */
static long long wait_inflight(int fd, struct traffic *t)
{
	long long n = 0;
	int i;

	for (i = 0; i < 2000; i++) {
		n = inflight(fd);
		if (n > 0)
			return n;
		if (t)
			tr_step(t);
		usleep(1000);
	}
	return 0;
}

/* ---- the cases' shared state -------------------------------------------- */

struct env {
	struct slow_disk slow;
	int slow_fd;		/* opened by the workload */
	int inflight_fd;
	struct { long long min, max, sum; unsigned int n; } seen;
};

static void seen_add(struct env *e, long long n)
{
	if (!e->seen.n || n < e->seen.min)
		e->seen.min = n;
	if (n > e->seen.max)
		e->seen.max = n;
	e->seen.sum += n;
	e->seen.n++;
}

static void seen_report(struct env *e, const char *what)
{
	ksft_print_msg("%s: requests in flight at the disk when it happened: "
		       "min %lld avg %lld max %lld over %u cycles\n", what,
		       e->seen.min, e->seen.n ? e->seen.sum / e->seen.n : 0,
		       e->seen.max, e->seen.n);
}

/* In the workload: open what every cycle uses, once, before the baseline. */
static void env_open(struct __test_metadata *_metadata, struct env *e)
{
	e->slow_fd = open_rw(e->slow.nb.path);
	ASSERT_LE(0, e->slow_fd);
	e->inflight_fd = open(e->slow.inflight, O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(e->inflight_fd >= 0)
		TH_LOG("open %s: %m", e->slow.inflight);
}

/* Run @fn under leak accounting with a slow null_blk made for it. */
/*
 * The tests that run a workload under leak_run() (see leak.h): TEST_F(),
 * so that the workload's ASSERT_*() and SKIP() reach the test.
 */
FIXTURE(leak) {
};

FIXTURE_SETUP(leak)
{
}

FIXTURE_TEARDOWN_PARENT(leak)
{
}

static void with_slow(struct __test_metadata *_metadata, const char *name,
		      leak_fn fn)
{
	struct leak_opts o = { .worker_prefix = "vhx-blk-" };
	struct env e = { 0 };
	int ret, v;

	ret = slow_create(&e.slow, "vhxtd");
	if (ret)
		SKIP(return, "no slow null_blk: %s", strerror(-ret));
	v = leak_run(_metadata, name, fn, &e, &o);
	slow_destroy(_metadata, &e.slow);
	LEAK_CHECK(v);
}

/* ---- (a) SIGKILL of the owner ---------------------------------------- */

static void kill_child(struct env *e, int wfd)
{
	struct traffic t;
	char c = 1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (tr_open(&t, NQ, e->slow_fd, (uint64_t)SLOW_MB << 20))
		c = 0;
	else
		tr_step(&t);
	if (write(wfd, &c, 1) != 1 || !c)
		_exit(1);
	/* Keep the rings full until the end. */
	for (;;) {
		vhxg_vq_wait_used(&t.b.dev.vqs[0], 50);
		tr_step(&t);
	}
}

static void kill_cycle(struct __test_metadata *_metadata, struct env *e,
		       unsigned int i, bool check)
{
	int pfd[2], status;
	struct pollfd p;
	long long n;
	char c = 0;
	pid_t pid;

	ASSERT_TRUE(!pipe(pfd))
		TH_LOG("pipe");
	pid = fork();
	ASSERT_TRUE(pid >= 0)
		TH_LOG("fork");
	if (!pid) {
		close(pfd[0]);
		kill_child(e, pfd[1]);
	}
	close(pfd[1]);
	p = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
	if (poll(&p, 1, WAIT_MS) != 1 || read(pfd[0], &c, 1) != 1)
		c = 0;
	close(pfd[0]);
	n = c ? wait_inflight(e->inflight_fd, NULL) : 0;
	/* Vary the moment a little. */
	if (i % 3 == 1)
		usleep(300 * (i % 7));
	kill(pid, SIGKILL);
	ASSERT_TRUE(waitpid(pid, &status, 0) == pid)
		TH_LOG("waitpid");
	ASSERT_TRUE(c == 1)
		TH_LOG("cycle %u: the owner could not set up", i);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("cycle %u: owner status %#x", i, status);
	ASSERT_TRUE(n > 0)
		TH_LOG("cycle %u: no request in flight at the kill", i);
	if (check)
		seen_add(e, n);
}

static void kill_loop(struct __test_metadata *_metadata, struct leak_ctx *lc,
		      void *arg)
{
	struct env *e = arg;
	unsigned int i;

	env_open(_metadata, e);
	kill_cycle(_metadata, e, 0, false);	/* warm up */
	ASSERT_LE(0, leak_point(lc, "baseline"));
	for (i = 0; i < CYCLES; i++)
		kill_cycle(_metadata, e, i, true);
	seen_report(e, "kill");
	ASSERT_LE(0, leak_point(lc, "after 100 kills"));
	close(e->slow_fd);
	close(e->inflight_fd);
}

TEST_F(leak, kill_loop)
{
	with_slow(_metadata, "kill_loop", kill_loop);
}

/* ---- (b) close with I/O in flight ------------------------------------- */

static void close_cycle(struct __test_metadata *_metadata, struct env *e,
			bool check)
{
	struct traffic t;
	long long n;

	ASSERT_LE(0, tr_open(&t, NQ, e->slow_fd, (uint64_t)SLOW_MB << 20));
	tr_step(&t);
	n = wait_inflight(e->inflight_fd, &t);
	ASSERT_TRUE(n > 0)
		TH_LOG("no request in flight at the close");
	if (check)
		seen_add(e, n);
	blk_dev_close(&t.b);
}

static void close_loop(struct __test_metadata *_metadata, struct leak_ctx *lc,
		       void *arg)
{
	struct env *e = arg;
	unsigned int i;

	struct traffic t;

	env_open(_metadata, e);
	close_cycle(_metadata, e, false);
	ASSERT_LE(0, leak_point(lc, "baseline"));
	/* Positive control: one device with I/O in flight is seen. */
	ASSERT_LE(0, tr_open(&t, NQ, e->slow_fd, (uint64_t)SLOW_MB << 20));
	tr_step(&t);
	ASSERT_LE(0, leak_point(lc, "+holding one device"));
	blk_dev_close(&t.b);
	for (i = 0; i < CYCLES; i++)
		close_cycle(_metadata, e, true);
	seen_report(e, "close");
	ASSERT_LE(0, leak_point(lc, "after 100 closes"));
	close(e->slow_fd);
	close(e->inflight_fd);
}

TEST_F(leak, close_loop)
{
	with_slow(_metadata, "close_loop", close_loop);
}

/* ---- (c) RESET_OWNER with I/O in flight -------------------------------- */

static void reset_cycle(struct __test_metadata *_metadata, struct env *e,
			struct traffic *t, bool check)
{
	unsigned long reported = t->ok + t->ioerr + t->other;
	unsigned int q;
	long long n;

	tr_step(t);
	n = wait_inflight(e->inflight_fd, t);
	ASSERT_TRUE(n > 0)
		TH_LOG("no request in flight at RESET_OWNER");
	if (check)
		seen_add(e, n);
	ASSERT_LE(0, vhxg_reset_owner(&t->b.dev));
	/* What the device took it reported: the owner itself reset it. */
	for (q = 0; q < t->b.nq; q++)
		tr_reap(t, q);
	ASSERT_TRUE(!t->ioerr && !t->other && !t->badlen)
		TH_LOG("after reset: %lu IOERR, %lu other, %lu bad lengths",
		       t->ioerr, t->other, t->badlen);
	ASSERT_TRUE(t->ok + t->ioerr + t->other > reported)
		TH_LOG("nothing reported across the reset");
	ASSERT_EQ(0, tr_resetup(t));
}

static void reset_loop(struct __test_metadata *_metadata, struct leak_ctx *lc,
		       void *arg)
{
	struct env *e = arg;
	struct traffic t;
	unsigned int i;

	env_open(_metadata, e);
	ASSERT_LE(0, tr_open(&t, NQ, e->slow_fd, (uint64_t)SLOW_MB << 20));
	reset_cycle(_metadata, e, &t, false);
	ASSERT_LE(0, vhxg_reset_owner(&t.b.dev));
	blk_dev_close(&t.b);
	ASSERT_LE(0, leak_point(lc, "baseline"));
	ASSERT_LE(0, tr_open(&t, NQ, e->slow_fd, (uint64_t)SLOW_MB << 20));
	for (i = 0; i < CYCLES; i++)
		reset_cycle(_metadata, e, &t, true);
	seen_report(e, "RESET_OWNER");
	TH_LOG("%lu requests completed OK across the resets", t.ok);
	blk_dev_close(&t.b);
	ASSERT_LE(0, leak_point(lc, "after 100 resets"));
	close(e->slow_fd);
	close(e->inflight_fd);
}

TEST_F(leak, reset_loop)
{
	with_slow(_metadata, "reset_loop", reset_loop);
}

/* ---- races -------------------------------------------------------------- */

struct race {
	struct env *e;
	struct traffic t;
	pthread_mutex_t lock;	/* the driver's ring state */
	volatile bool stop;
	int (*op)(struct race *r, unsigned int i);
	unsigned long ops, op_errors;
	int other_fd;		/* second backend (a file) */
	int spare[3][VHXG_MAX_VQS];	/* eventfds to swap in */
	int orig[3][VHXG_MAX_VQS];
	struct vhost_memory_region full, half[2];
	int verdict;
};

static void *race_driver(void *arg)
{
	struct race *r = arg;
	unsigned int n = 0;

	while (!r->stop) {
		pthread_mutex_lock(&r->lock);
		tr_step(&r->t);
		/* An ioctl now and then, for close to race with. */
		if (!(++n & 7)) {
			unsigned int base;

			vhxg_get_vring_base(&r->t.b.dev, 0, &base);
		}
		pthread_mutex_unlock(&r->lock);
		usleep(500);
	}
	return NULL;
}

static void *race_racer(void *arg)
{
	struct race *r = arg;
	unsigned int i;

	for (i = 0; !r->stop; i++) {
		if (r->op(r, i))
			r->op_errors++;
		r->ops++;
		usleep(1000 + (i % 5) * 700);
	}
	return NULL;
}

static int race_backend_op(struct race *r, unsigned int i)
{
	static const int seq[] = { 1, 0, -1, 0, 1, -1 };
	int which = seq[i % 6], fd;

	fd = which < 0 ? -1 : which ? r->other_fd : r->e->slow_fd;
	r->t.backend = fd < 0 ? r->e->slow_fd : fd;
	return blk_set_backend(&r->t.b, fd);
}

static int race_mem_op(struct race *r, unsigned int i)
{
	int ret;

	switch (i % 4) {
	case 0:
	case 2:
		return vhxg_set_mem_table(&r->t.b.dev, &r->full, 1);
	case 1:
		return vhxg_set_mem_table(&r->t.b.dev, r->half, 2);
	}
	/* Drop the first half, rings and all; then repair. */
	ret = vhxg_set_mem_table(&r->t.b.dev, &r->half[1], 1);
	usleep(2000);
	if (!ret)
		ret = vhxg_set_mem_table(&r->t.b.dev, &r->full, 1);
	pthread_mutex_lock(&r->lock);
	blk_set_backend(&r->t.b, -1);
	if (!ret)
		ret = tr_rewind(&r->t);
	if (!ret)
		ret = blk_set_backend(&r->t.b, r->t.backend);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static const unsigned long fd_req[3] = {
	VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL, VHOST_SET_VRING_ERR,
};

static int race_vring_op(struct race *r, unsigned int i)
{
	unsigned int kind = i % 3, q = (i / 3) % r->t.b.nq;
	struct vhxg_vq *vq = &r->t.b.dev.vqs[q];
	int *slot = kind == 0 ? &vq->kick_fd : kind == 1 ? &vq->call_fd :
		    &vq->err_fd;
	int fd, ret;

	/* original -> spare -> unbound -> original ... */
	switch ((i / (3 * r->t.b.nq)) % 3) {
	case 0:
		fd = r->spare[kind][q];
		break;
	case 1:
		fd = VHOST_FILE_UNBIND;
		break;
	default:
		fd = r->orig[kind][q];
	}
	ret = vhxg_set_vring_fd(&r->t.b.dev, fd_req[kind], q, fd);
	pthread_mutex_lock(&r->lock);
	if (!ret && fd >= 0)
		*slot = fd;
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static int race_reset_op(struct race *r, unsigned int i)
{
	int ret = vhxg_reset_owner(&r->t.b.dev);

	(void)i;
	pthread_mutex_lock(&r->lock);
	if (!ret)
		ret = tr_resetup(&r->t);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static int race_close_op(struct race *r, unsigned int i)
{
	int fd = r->t.b.dev.fd, ret;

	(void)i;
	close(fd);
	pthread_mutex_lock(&r->lock);
	r->t.b.dev.fd = open(test_dev, O_RDWR | O_CLOEXEC);
	ret = r->t.b.dev.fd < 0 ? -errno : tr_resetup(&r->t);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static void race_once(struct __test_metadata *_metadata, struct race *r,
		      unsigned int ms)
{
	pthread_t d, x;
	unsigned int q, k;

	r->stop = false;
	r->ops = r->op_errors = 0;
	ASSERT_LE(0, tr_open(&r->t, NQ, r->e->slow_fd,
			     (uint64_t)SLOW_MB << 20));
	r->full = (struct vhost_memory_region){
		.guest_phys_addr = (uintptr_t)r->t.b.arena.base,
		.memory_size = r->t.b.arena.size,
		.userspace_addr = (uintptr_t)r->t.b.arena.base,
	};
	r->half[0] = r->full;
	r->half[0].memory_size /= 2;
	r->half[1] = r->half[0];
	r->half[1].guest_phys_addr += r->half[0].memory_size;
	r->half[1].userspace_addr += r->half[0].memory_size;
	for (q = 0; q < NQ; q++) {
		r->orig[0][q] = r->t.b.dev.vqs[q].kick_fd;
		r->orig[1][q] = r->t.b.dev.vqs[q].call_fd;
		r->orig[2][q] = r->t.b.dev.vqs[q].err_fd;
		for (k = 0; k < 3; k++) {
			r->spare[k][q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			ASSERT_TRUE(r->spare[k][q] >= 0)
				TH_LOG("eventfd");
		}
	}
	ASSERT_TRUE(!pthread_create(&d, NULL, race_driver, r))
		TH_LOG("thread");
	ASSERT_TRUE(!pthread_create(&x, NULL, race_racer, r))
		TH_LOG("thread");
	leak_msleep(ms);
	r->stop = true;
	pthread_join(x, NULL);
	pthread_join(d, NULL);
	/* Give vhxg back its own eventfds, close the spares. */
	for (q = 0; q < NQ; q++) {
		r->t.b.dev.vqs[q].kick_fd = r->orig[0][q];
		r->t.b.dev.vqs[q].call_fd = r->orig[1][q];
		r->t.b.dev.vqs[q].err_fd = r->orig[2][q];
		for (k = 0; k < 3; k++)
			close(r->spare[k][q]);
	}
	r->t.backend = r->e->slow_fd;
	tr_verify(_metadata, &r->t);
	blk_dev_close(&r->t.b);
}

static void race_work(struct __test_metadata *_metadata, struct leak_ctx *lc,
		      void *arg)
{
	struct race *r = arg;

	env_open(_metadata, r->e);
	r->other_fd = blk_tmpfile((uint64_t)SLOW_MB << 20);
	ASSERT_LE(0, r->other_fd);
	pthread_mutex_init(&r->lock, NULL);
	race_once(_metadata, r, 100);	/* warm up: threads, caches */
	ASSERT_LE(0, leak_point(lc, "baseline"));
	race_once(_metadata, r, RACE_MS);
	TH_LOG("%lu ops (%lu failed) racing traffic: %lu reads OK, "
	       "%lu IOERR, %lu other status, %lu bad lengths", r->ops,
	       r->op_errors, r->t.ok, r->t.ioerr, r->t.other, r->t.badlen);
	ASSERT_TRUE(r->ops > 10 && r->t.ok > 0)
		TH_LOG("no race happened");
	ASSERT_TRUE(!r->t.badlen)
		TH_LOG("used length past the buffer");
	if (r->op == race_backend_op) {
		ASSERT_TRUE(!r->t.ioerr && !r->t.other)
			TH_LOG("requests drained at a switch must complete OK");
	}
	close(r->other_fd);
	close(r->e->slow_fd);
	close(r->e->inflight_fd);
	ASSERT_LE(0, leak_point(lc, "after the race"));
}

static void run_race(struct __test_metadata *_metadata, const char *name,
		     int (*op)(struct race *, unsigned int))
{
	struct leak_opts o = { .worker_prefix = "vhx-blk-" };
	static struct race r;
	struct env e = { 0 };
	int ret, v;

	ret = slow_create(&e.slow, "vhxtd");
	if (ret)
		SKIP(return, "no slow null_blk: %s", strerror(-ret));
	memset(&r, 0, sizeof(r));
	r.e = &e;
	r.op = op;
	v = leak_run(_metadata, name, race_work, &r, &o);
	slow_destroy(_metadata, &e.slow);
	LEAK_CHECK(v);
}

TEST_F(leak, race_backend)
{
	run_race(_metadata, "race_backend", race_backend_op);
}

TEST_F(leak, race_mem_table)
{
	run_race(_metadata, "race_mem_table", race_mem_op);
}

TEST_F(leak, race_vring_fds)
{
	run_race(_metadata, "race_vring_fds", race_vring_op);
}

TEST_F(leak, race_reset_owner)
{
	run_race(_metadata, "race_reset_owner", race_reset_op);
}

TEST_F(leak, race_close)
{
	run_race(_metadata, "race_close", race_close_op);
}

/* ---- backends vanishing ------------------------------------------------- */

/* Traffic in a thread until stopped. */
struct pump {
	struct traffic *t;
	volatile bool stop;
};

static void *pump_fn(void *arg)
{
	struct pump *p = arg;

	while (!p->stop) {
		tr_step(p->t);
		vhxg_vq_wait_used(&p->t->b.dev.vqs[0], 5);
	}
	return NULL;
}

static void power_off(struct __test_metadata *_metadata, struct leak_ctx *lc,
		      void *arg)
{
	struct env *e = arg;
	struct pump p = { 0 };
	struct traffic t;
	unsigned long ioerr0;
	pthread_t th;
	long long n;
	int ret;

	env_open(_metadata, e);
	ASSERT_LE(0, tr_open(&t, NQ, e->slow_fd, (uint64_t)SLOW_MB << 20));
	blk_dev_close(&t.b);
	ASSERT_LE(0, leak_point(lc, "baseline"));

	ASSERT_LE(0, tr_open(&t, NQ, e->slow_fd, (uint64_t)SLOW_MB << 20));
	p.t = &t;
	tr_step(&t);
	n = wait_inflight(e->inflight_fd, &t);
	ASSERT_TRUE(n > 0)
		TH_LOG("no request in flight");
	ASSERT_TRUE(!pthread_create(&th, NULL, pump_fn, &p))
		TH_LOG("thread");
	usleep(20000);
	n = inflight(e->inflight_fd);
	ret = nullb_power(&e->slow.nb, false);
	TH_LOG("powered off with %lld requests in flight: %s", n,
	       ret ? strerror(-ret) : "ok");
	if (!ret) {
		ret = nullb_remove(&e->slow.nb);
		TH_LOG("rmdir under I/O: %s", ret ? strerror(-ret) : "ok");
	}
	ioerr0 = t.ioerr;
	usleep(300000);
	p.stop = true;
	pthread_join(th, NULL);
	TH_LOG("%lu reads OK, %lu IOERR (%lu after the power-off), %lu other",
	       t.ok, t.ioerr, t.ioerr - ioerr0, t.other);
	ASSERT_TRUE(!ret)
		TH_LOG("could not power off and remove the disk");
	ASSERT_TRUE(t.ioerr > 0)
		TH_LOG("no read failed on a removed disk");
	ASSERT_TRUE(!t.other && !t.badlen)
		TH_LOG("bad status or length");
	ASSERT_LE(0, vhxg_reset_owner(&t.b.dev));
	blk_dev_close(&t.b);
	close(e->slow_fd);
	close(e->inflight_fd);
	ASSERT_LE(0, leak_point(lc, "after removal and close"));
}

TEST_F(leak, vanish_nullb)
{
	struct leak_opts o = { .worker_prefix = "vhx-blk-" };
	struct env e = { 0 };
	int ret, v;

	ret = slow_create(&e.slow, "vhxtdp");
	if (ret)
		SKIP(return, "no slow null_blk: %s", strerror(-ret));
	v = leak_run(_metadata, "vanish_nullb", power_off, &e, &o);
	/* The workload removed it, unless it failed before. */
	if (e.slow.nb.dir[0] && !access(e.slow.nb.dir, F_OK)) {
		/* The workload did not get that far. */
		slow_destroy(_metadata, &e.slow);
		LEAK_CHECK(v);
		return;
	}
	slow_released(_metadata, &e.slow);
	LEAK_CHECK(v);
}

struct trunc {
	int fd;
	volatile bool stop;
	unsigned long n;
};

static void *truncate_fn(void *arg)
{
	struct trunc *tr = arg;
	static const off_t sizes[] = { 0, 4 << 20, 12345, 8 << 20, 16 << 20 };

	while (!tr->stop) {
		if (ftruncate(tr->fd, sizes[tr->n % 5]))
			break;
		tr->n++;
		usleep(3000);
	}
	return NULL;
}

static void truncate_work(struct __test_metadata *_metadata,
			  struct leak_ctx *lc, void *arg)
{
	struct trunc tr = { 0 };
	struct pump p = { 0 };
	struct traffic t;
	pthread_t a, b;

	(void)arg;
	tr.fd = blk_tmpfile(16 << 20);
	ASSERT_LE(0, tr.fd);
	ASSERT_LE(0, tr_open(&t, NQ, tr.fd, 16 << 20));
	blk_dev_close(&t.b);
	ASSERT_LE(0, leak_point(lc, "baseline"));

	ASSERT_LE(0, tr_open(&t, NQ, tr.fd, 16 << 20));
	p.t = &t;
	ASSERT_TRUE(!pthread_create(&a, NULL, pump_fn, &p))
		TH_LOG("thread");
	ASSERT_TRUE(!pthread_create(&b, NULL, truncate_fn, &tr))
		TH_LOG("thread");
	leak_msleep(RACE_MS / 2);
	tr.stop = p.stop = true;
	pthread_join(b, NULL);
	pthread_join(a, NULL);
	TH_LOG("%lu truncations under %lu reads: %lu OK, %lu IOERR, "
	       "%lu other, %lu bad lengths", tr.n, t.posted, t.ok, t.ioerr,
	       t.other, t.badlen);
	ASSERT_TRUE(tr.n > 10 && t.ok > 0)
		TH_LOG("no race happened");
	ASSERT_TRUE(!t.other && !t.badlen)
		TH_LOG("bad status or length");
	ASSERT_LE(0, vhxg_reset_owner(&t.b.dev));
	blk_dev_close(&t.b);
	close(tr.fd);
	ASSERT_LE(0, leak_point(lc, "after truncation and close"));
}

TEST_F(leak, vanish_truncate)
{
	struct leak_opts o = { .worker_prefix = "vhx-blk-" };

	LEAK_RUN("vanish_truncate", truncate_work, NULL, &o);
}

/*
 * The VMM closes its fd of the disk right after SET_BACKEND: the device
 * keeps its own reference (I/O works, the disk stays open: null_blk's
 * refcount is one up), and drops it when the device is closed; then the
 * disk powers off and goes with no reference left.
 */
TEST(backend_fd_closed)
{
	struct blk_cfg cfg = { .no_backend = true };
	struct slow_disk s;
	struct blk_dev b;
	long long base, held;
	uint8_t *buf;
	int fd, ret, i, st;

	ret = slow_create(&s, "vhxtdc");
	if (ret)
		SKIP(return, "no slow null_blk: %s", strerror(-ret));
	/* Its configfs directory may hold a reference of its own. */
	base = leak_read_ll(NULLB_REFCNT);
	fd = open_rw(s.nb.path);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, -1));
	ASSERT_LE(0, blk_set_backend(&b, fd));
	close(fd);
	buf = blk_buf(&b, 8 * CHUNK, 0);
	ASSERT_TRUE(buf)
		TH_LOG("arena full");
	for (i = 0; i < 8; i++) {
		blk_pattern(buf + i * CHUNK, CHUNK, 50 + i,
			    (uint64_t)i * 64 * SECTOR);
		st = blk_do(&b, 0, VIRTIO_BLK_T_OUT, i * 64, buf + i * CHUNK,
			    CHUNK, NULL);
		ASSERT_TRUE(st == VIRTIO_BLK_S_OK)
			TH_LOG("write %d: status %d", i, st);
	}
	memset(buf, 0, 8 * CHUNK);
	for (i = 0; i < 8; i++) {
		st = blk_do(&b, 0, VIRTIO_BLK_T_IN, i * 64, buf + i * CHUNK,
			    CHUNK, NULL);
		ASSERT_TRUE(st == VIRTIO_BLK_S_OK)
			TH_LOG("read %d: status %d", i, st);
		ASSERT_TRUE(!blk_check_pattern(buf + i * CHUNK, CHUNK, 50 + i,
					       (uint64_t)i * 64 * SECTOR))
			TH_LOG("read %d: not what was written", i);
	}
	held = leak_read_ll(NULLB_REFCNT);
	TH_LOG("8 writes and reads with the VMM's fd closed; null_blk refcnt %lld (%lld before the open)",
	       held, base);
	ASSERT_TRUE(held == base + 1)
		TH_LOG("null_blk refcnt %lld while the device holds the disk, want %lld",
		       held, base + 1);
	blk_dev_close(&b);
	/* The data reached the disk, read from a fresh open. */
	ASSERT_TRUE(!posix_memalign((void **)&buf, 4096, CHUNK))
		TH_LOG("memalign");
	fd = open(s.nb.path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open %s: %m", s.nb.path);
	ASSERT_TRUE(pread(fd, buf, CHUNK, 7 * 64 * SECTOR) == CHUNK)
		TH_LOG("pread: %m");
	close(fd);
	ret = blk_check_pattern(buf, CHUNK, 57, 7 * 64 * SECTOR);
	free(buf);
	ASSERT_EQ(0, ret)
		TH_LOG("the last write is not on the disk");
	/* Closing the device dropped its reference to the disk. */
	nullb_refcnt_back(_metadata, base);
	slow_destroy(_metadata, &s);
}

/* ---- scale: 16 queues ------------------------------------------------- */

#define SQ	16
#define SNUM	32

static void scale_work(struct __test_metadata *_metadata, struct leak_ctx *lc,
		       void *arg)
{
	/* vhxg handles 8 queues per struct: queues 8..15 live in b[1]. */
	static struct blk_dev b[2];
	struct env *e = arg;
	unsigned int q, round, done[SQ] = { 0 };
	uint8_t *bufs;
	int pass;

	env_open(_metadata, e);
	for (pass = 0; pass < 2; pass++) {
		struct vhxg_dev *d0 = &b[0].dev;

		memset(b, 0, sizeof(b));
		ASSERT_LE(0, vhxg_arena_init(&b[0].arena, ARENA));
		ASSERT_LE(0, vhxg_open(d0, test_dev, &b[0].arena));
		ASSERT_LE(0, vhxg_set_owner(d0));
		ASSERT_LE(0, vhxg_set_features(d0, BLK_ACK));
		ASSERT_LE(0, vhxg_set_mem_identity(d0));
		ASSERT_LE(0, vhxg_open(&b[1].dev, "/dev/null", &b[0].arena));
		close(b[1].dev.fd);
		b[1].dev.fd = d0->fd;
		b[1].dev.features = d0->features;
		b[0].nq = b[1].nq = 8;
		for (q = 0; q < SQ; q++) {
			struct blk_dev *h = &b[q / 8];
			struct vhxg_vq *vq = &h->dev.vqs[q % 8];

			ASSERT_LE(0, vhxg_vq_init(&h->dev, q % 8, SNUM, 0));
			vq->index = q;
			ASSERT_LE(0, vhxg_vq_configure(vq));
			h->slots[q % 8] = vhxg_alloc(&b[0].arena,
						    SNUM * sizeof(struct blk_slot),
						    16);
			ASSERT_TRUE(h->slots[q % 8])
				TH_LOG("arena");
		}
		bufs = blk_buf(&b[0], (size_t)SQ * SNUM * CHUNK, 0);
		ASSERT_TRUE(bufs)
			TH_LOG("arena");
		ASSERT_LE(0, blk_set_backend(&b[0], e->slow_fd));
		/* Every queue full of reads, refilled four times. */
		for (round = 0; round < 5; round++) {
			for (q = 0; q < SQ; q++) {
				struct blk_dev *h = &b[q / 8];
				struct vhxg_vq *vq = &h->dev.vqs[q % 8];
				struct vhxg_used u[SNUM];
				int n, j;

				n = vhxg_vq_reap(vq, u, SNUM);
				for (j = 0; j < n; j++) {
					ASSERT_TRUE(blk_status(h, q % 8,
							       u[j].id) ==
						    VIRTIO_BLK_S_OK)
						TH_LOG("q%u status", q);
				}
				done[q] += n;
				while (vq->num_free) {
					struct vhxg_buf d = {
						bufs + ((size_t)q * SNUM +
							vq->free_head) * CHUNK,
						CHUNK,
					};

					ASSERT_TRUE(blk_post(h, q % 8,
							     VIRTIO_BLK_T_IN,
							     q * 64, NULL, 0, &d,
							     1, VHXG_ADD_INDIRECT)
						    >= 0)
						TH_LOG("post");
				}
				blk_kick(h, q % 8);
			}
			if (!round) {
				ASSERT_TRUE(wait_inflight(e->inflight_fd,
							  NULL) > 0)
					TH_LOG("nothing in flight");
			}
			leak_msleep(30);
		}
		for (q = 0; q < SQ; q++) {
			if (pass && !done[q])
				TH_LOG("queue %u: no request completed", q);
			ASSERT_TRUE(!pass || done[q])
				TH_LOG("queue %u idle", q);
		}
		TH_LOG("pass %d: %d vhx-blk workers; closing with %lld in "
		       "flight", pass, leak_count_threads("vhx-blk-"),
		       inflight(e->inflight_fd));
		for (q = 0; q < 8; q++)
			vhxg_vq_fini(&b[1].dev.vqs[q]);
		blk_dev_close(&b[0]);
		if (!pass) {
			ASSERT_LE(0, leak_point(lc, "baseline"));
		}
	}
	close(e->slow_fd);
	close(e->inflight_fd);
	ASSERT_LE(0, leak_point(lc, "after 16 queues"));
}

TEST_F(leak, scale_16q)
{
	with_slow(_metadata, "scale_16q", scale_work);
}

/* ---- noise -------------------------------------------------------------- */

/* The kill loop's shape without vhx: how much the figures move anyway. */
static void idle_cycle(struct __test_metadata *_metadata, struct env *e)
{
	int pfd[2], status;
	char c = 0;
	pid_t pid;

	ASSERT_TRUE(!pipe(pfd))
		TH_LOG("pipe");
	pid = fork();
	ASSERT_TRUE(pid >= 0)
		TH_LOG("fork");
	if (!pid) {
		struct vhxg_arena a;
		int fd = open("/dev/null", O_RDWR);

		c = !vhxg_arena_init(&a, ARENA) && fd >= 0;
		memset(a.base, 0, 1 << 20);
		if (write(pfd[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	ASSERT_TRUE(read(pfd[0], &c, 1) == 1 && c)
		TH_LOG("child");
	close(pfd[0]);
	inflight(e->inflight_fd);
	kill(pid, SIGKILL);
	ASSERT_TRUE(waitpid(pid, &status, 0) == pid)
		TH_LOG("waitpid");
}

static void idle_loop(struct __test_metadata *_metadata, struct leak_ctx *lc,
		      void *arg)
{
	struct env *e = arg;
	unsigned int i;

	env_open(_metadata, e);
	idle_cycle(_metadata, e);
	ASSERT_LE(0, leak_point(lc, "baseline"));
	for (i = 0; i < CYCLES; i++)
		idle_cycle(_metadata, e);
	ASSERT_LE(0, leak_point(lc, "after 100 idle cycles"));
	close(e->slow_fd);
	close(e->inflight_fd);
}

TEST_F(leak, idle_noise)
{
	with_slow(_metadata, "idle_noise", idle_loop);
}


VHX_TEST_MAIN("/dev/vhx-blk")
