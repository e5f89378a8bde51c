// SPDX-License-Identifier: GPL-2.0
/*
 * vhx-blk: tests that pin the fixes for the kmod review findings #1, #3,
 * #5, #6, #7, #8, #12, #14, #16, #17 and SET_BACKEND atomicity.  Each case
 * fails on the module as it was before those fixes:
 *
 *   used_ring_overrun  a guest that re-posts heads as soon as their status
 *                      byte is written piles up more than num used entries
 *                      before a publish; nothing may land past the ring
 *   inflight_repost    a head posted again while the device holds it stops
 *                      the queue
 *   cred_fsize         I/O runs with the owner's RLIMIT_FSIZE
 *   cred_suid          a write through the device strips S_ISUID as the
 *                      owner's own write would
 *   cred_reserve       ext4's root reserve is not the owner's to use
 *   cred_quota         nor is the room past its ext4 block quota
 *   long_ops           SET_MEM_TABLE, SET_VRING_CALL and close() do not wait
 *                      for a 512 MiB WRITE_ZEROES
 *   slow_worker        which runs on a worker of the owner's (its cgroup,
 *                      its thread where workers are vhost_tasks)
 *   dwz_durable        without FLUSH, WRITE_ZEROES/DISCARD reach stable
 *                      storage (a flush reaches a write-back null_blk)
 *   wz_no_append       the zeroing fallback ignores O_APPEND
 *   discard_invalidates  a DISCARD on a block device leaves no stale page
 *                      cache for the host's buffered readers
 *   discard_holder     nor touches a disk another opener holds exclusively
 *   broken_queue       a queue stopped by a failed status write takes no
 *                      further request
 *   config_layout      struct vhx_blk_config: 72 bytes, no implicit
 *                      padding, padding and reserved zero
 *   serial_default     the default GET_ID serial is empty
 *   freeze             FIFREEZE waits for in-flight direct writes
 *   nonowner_ioctls    GET_CONFIG and SET_SERIAL need the owner
 *   set_backend_atomic a failing SET_BACKEND runs no request
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/quota.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>

#include "harness.h"
#include "blk_common.h"
#include "leak.h"
#include "modparam.h"
#include "nullb.h"

#define NOBODY		65534	/* uid and gid of the non-root owner */
#define CANARY		0xa5
#define CANARY_BYTES	4096

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* Field @i (0-based) of /sys/block/NAME/stat, or -1. */
static long long disk_stat(const char *name, unsigned int i)
{
	char path[96], buf[512], *p = buf, *end;
	long long v = -1;
	unsigned int k;

	snprintf(path, sizeof(path), "/sys/block/%s/stat", name);
	if (read_file(path, buf, sizeof(buf)))
		return -1;
	for (k = 0; k <= i; k++) {
		v = strtoll(p, &end, 10);
		if (end == p)
			return -1;
		p = end;
	}
	return v;
}

/* ---- a non-root owner ---------------------------------------------- */

struct node_perm {
	struct stat st;
	bool saved;
};

/* Let group NOBODY open the device node (0660) for the case's duration. */
static int node_open_to_nobody(struct node_perm *p)
{
	const char *node = test_dev ? test_dev : "/dev/vhx-blk";

	p->saved = false;
	if (stat(node, &p->st))
		return -errno;
	if (chown(node, p->st.st_uid, NOBODY) || chmod(node, 0660))
		return -errno;
	p->saved = true;
	return 0;
}

static void node_restore(struct node_perm *p)
{
	const char *node = test_dev ? test_dev : "/dev/vhx-blk";

	if (!p->saved)
		return;
	if (chown(node, p->st.st_uid, p->st.st_gid) ||
	    chmod(node, p->st.st_mode & 07777))
		ksft_print_msg("cannot restore %s: %m\n", node);
	p->saved = false;
}

/*
 * Run fn() in a child that is uid/gid NOBODY, which returns KSFT_PASS or
 * KSFT_FAIL: no ASSERT_*() there, whose jump back into the harness would
 * run the fixture's teardown as NOBODY.
 */
static void run_as_nobody(struct __test_metadata *_metadata,
			  int (*fn)(struct __test_metadata *, void *),
			  void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid)
		TH_LOG("fork: %m");
	if (!pid) {
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY)) {
			TH_LOG("cannot become %d: %m", NOBODY);
			_exit(KSFT_FAIL);
		}
		status = fn(_metadata, arg);
		fflush(stdout);
		_exit(status);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0))
		TH_LOG("waitpid: %m");
	ASSERT_TRUE(WIFEXITED(status))
		TH_LOG("child died (status %#x)", status);
	ASSERT_EQ(KSFT_PASS, WEXITSTATUS(status));
}

/* A directory only root writes to, its files reachable for NOBODY. */
static void make_dir(struct __test_metadata *_metadata, char *dir)
{
	ASSERT_TRUE(mkdtemp(dir))
		TH_LOG("mkdtemp: %m");
	ASSERT_TRUE(!chmod(dir, 0755))
		TH_LOG("chmod: %m");
}

/* A sparse file of @bytes owned by NOBODY with @mode. */
static void make_nobody_file(struct __test_metadata *_metadata,
			     const char *path, uint64_t bytes, mode_t mode)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	ASSERT_TRUE(fd >= 0)
		TH_LOG("create %s: %m", path);
	ASSERT_TRUE(!ftruncate(fd, bytes))
		TH_LOG("ftruncate: %m");
	/* chown clears S_ISUID: chmod after. */
	ASSERT_TRUE(!fchown(fd, NOBODY, NOBODY))
		TH_LOG("fchown: %m");
	ASSERT_TRUE(!fchmod(fd, mode))
		TH_LOG("fchmod: %m");
	close(fd);
}

static void range_is_zero(struct __test_metadata *_metadata, int fd,
			  uint64_t off, size_t len, bool *zero)
{
	uint8_t *buf = malloc(len);

	ASSERT_TRUE(buf)
		TH_LOG("malloc");
	ASSERT_TRUE(pread(fd, buf, len, off) == (ssize_t)len)
		TH_LOG("pread: %m");
	*zero = blk_is_zero(buf, len);
	free(buf);
}

/* One 4 KiB write of pattern @seed at @sector; the status byte. */
static int write_4k(struct blk_dev *b, uint64_t sector, uint32_t seed)
{
	void *buf = blk_buf(b, 4096, 0);

	if (!buf)
		return -ENOMEM;
	blk_pattern(buf, 4096, seed, sector * SECTOR);
	return blk_do(b, 0, VIRTIO_BLK_T_OUT, sector, buf, 4096, NULL);
}

/* ---- #1: used ring overrun ------------------------------------------ */

struct wz_req {
	struct virtio_blk_outhdr hdr;
	struct virtio_blk_discard_write_zeroes seg;
};

#define OVR_ROUNDS	200
#define OVR_BASE	3	/* start mid-ring so every size wraps */

/*
 * Ring of @num entries, its used ring followed by a canary.  Every head
 * is one request: a WRITE_ZEROES of 1 MiB of a tmpfs file (zeroed page by
 * page, so it takes a while) through a two-entry indirect table, or for
 * num 1 (where a chain has one descriptor) a lone writable byte, which
 * completes at once with IOERR.  The guest re-posts each head the moment
 * its status byte is written.
 */
static void overrun_one(struct __test_metadata *_metadata, int fd,
			unsigned int num)
{
	struct blk_cfg cfg = { .num = num, .no_backend = true };
	size_t used_bytes = 6 + 8 * num, bad = 0, i;
	unsigned int done = 0, spins = 0;
	uint64_t deadline;
	struct wz_req *req;
	struct vring_desc *ind;
	struct vhxg_vq *vq;
	struct blk_dev b;
	uint8_t *area, *canary, *status;
	bool err = false, stalled = false;
	uint16_t h, used_idx;

	ASSERT_LE(0, blk_dev_open(&b, &cfg, -1));
	vq = &b.dev.vqs[0];
	area = blk_buf(&b, used_bytes + CANARY_BYTES, 0);
	status = blk_buf(&b, num, STATUS_NONE);
	req = blk_buf(&b, num * sizeof(*req), 0);
	ind = blk_buf(&b, 2 * num * sizeof(*ind), 0);
	ASSERT_TRUE(area && status && req && ind)
		TH_LOG("arena full");
	canary = area + used_bytes;
	memset(canary, CANARY, CANARY_BYTES);
	vq->used = (struct vring_used *)area;
	vhxg_vq_rewind(vq, OVR_BASE);
	ASSERT_LE(0, vhxg_set_vring_base(&b.dev, 0, OVR_BASE));
	ASSERT_LE(0, vhxg_set_vring_addr(&b.dev, 0, (uintptr_t)vq->desc,
					 (uintptr_t)vq->avail, (uintptr_t)vq->used,
					 0));
	for (h = 0; h < num; h++) {
		if (num == 1) {
			vhxg_vq_put_desc(vq, h, (uintptr_t)&status[h], 1,
					 VRING_DESC_F_WRITE, 0);
			continue;
		}
		req[h].hdr.type = VIRTIO_BLK_T_WRITE_ZEROES;
		req[h].seg.sector = 0;
		req[h].seg.num_sectors = 2048;
		ind[2 * h] = (struct vring_desc){ (uintptr_t)&req[h],
			sizeof(req[h]), VRING_DESC_F_NEXT, 1 };
		ind[2 * h + 1] = (struct vring_desc){ (uintptr_t)&status[h], 1,
			VRING_DESC_F_WRITE, 0 };
		vhxg_vq_put_desc(vq, h, (uintptr_t)&ind[2 * h],
				 2 * sizeof(*ind), VRING_DESC_F_INDIRECT, 0);
	}
	ASSERT_LE(0, blk_set_backend(&b, fd));
	for (h = 0; h < num; h++)
		vhxg_vq_put_avail(vq, h);
	vhxg_vq_publish(vq);
	ASSERT_LE(0, vhxg_vq_kick_force(vq));

	/* The device takes the heads in avail order: head k % num is next. */
	deadline = now_ns() + 5000000000ULL;
	while (done < OVR_ROUNDS && !err) {
		h = done % num;
		if (__atomic_load_n(&status[h], __ATOMIC_ACQUIRE) ==
		    STATUS_NONE) {
			if (++spins % 4096)
				continue;
			if (vhxg_wait_fd(vq->err_fd, 0) == 1)
				err = true;
			if (now_ns() > deadline) {
				stalled = true;
				break;
			}
			continue;
		}
		status[h] = STATUS_NONE;
		vhxg_vq_put_avail(vq, h);
		vhxg_vq_publish(vq);
		vhxg_vq_kick(vq);
		done++;
	}
	usleep(100000);
	if (!err && vhxg_wait_fd(vq->err_fd, 0) == 1)
		err = true;
	used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	for (i = 0; i < CANARY_BYTES; i++)
		if (canary[i] != CANARY && !bad++)
			TH_LOG("num %u: canary byte %zu is %#x", num, i,
			       canary[i]);
	TH_LOG("num %u: %u requests re-posted, used idx +%u, ERR %s, %zu canary bytes changed",
	       num, done, (uint16_t)(used_idx - OVR_BASE), err ? "yes" : "no",
	       bad);
	blk_dev_close(&b);
	ASSERT_TRUE(!bad)
		TH_LOG("num %u: used entries written past the ring", num);
	ASSERT_TRUE(!stalled || err)
		TH_LOG("num %u: device stalled without ERR", num);
}

TEST(used_ring_overrun)
{
	unsigned int num;
	int fd = blk_tmpfile(4 << 20);

	ASSERT_LE(0, fd);
	for (num = 1; num <= 32; num *= 2)
		overrun_one(_metadata, fd, num);
	close(fd);
}

/*
 * A head re-posted while the device still holds it: the queue stops.
 * Head 0 is a WRITE_ZEROES of 16 MiB of a tmpfs file (zeroed page by
 * page), posted twice in one batch.
 */
TEST(inflight_repost)
{
	struct blk_cfg cfg = { .num = 4 };
	struct virtio_blk_discard_write_zeroes *s;
	struct vhxg_vq *vq;
	struct vhxg_buf buf;
	struct blk_dev b;
	int fd = blk_tmpfile(16 << 20), head;

	ASSERT_LE(0, fd);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	vq = &b.dev.vqs[0];
	s = blk_buf(&b, sizeof(*s), 0);
	ASSERT_TRUE(s)
		TH_LOG("arena full");
	s->sector = 0;
	s->num_sectors = (16 << 20) / SECTOR;
	s->flags = 0;
	buf = (struct vhxg_buf){ s, sizeof(*s) };
	head = blk_post(&b, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, &buf, 1, NULL, 0,
			0);
	ASSERT_LE(0, head);
	vhxg_vq_put_avail(vq, head);
	ASSERT_LE(0, blk_kick(&b, 0));
	ASSERT_TRUE(vhxg_vq_wait_err(vq, WAIT_MS) == 1)
		TH_LOG("head %d taken twice: no ERR eventfd", head);
	blk_dev_close(&b);
	close(fd);
}

/* ---- #3: the owner's credentials ------------------------------------ */

struct cred_arg {
	const char *path;
	uint64_t sector;	/* where the device writes */
	int want;		/* status it must report */
	int own_errno;		/* the owner's own pwrite there fails so */
	uint64_t fsize;		/* RLIMIT_FSIZE, 0: leave */
};

/* Runs as NOBODY, in a child of its own: KSFT_PASS or KSFT_FAIL. */
static int cred_child(struct __test_metadata *_metadata, void *p)
{
	struct cred_arg *a = p;
	struct blk_cfg cfg = {};
	struct blk_dev b;
	char buf[4096];
	int fd, st;

	if (a->fsize) {
		struct rlimit rl = { a->fsize, a->fsize };

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl)) {
			TH_LOG("setrlimit: %m");
			return KSFT_FAIL;
		}
	}
	fd = open(a->path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		TH_LOG("open %s as %d: %m", a->path, NOBODY);
		return KSFT_FAIL;
	}
	if (a->own_errno) {
		/* The reference: what the owner's own write gets. */
		memset(buf, 0x5a, sizeof(buf));
		if (pwrite(fd, buf, sizeof(buf), a->sector * SECTOR + 8192) >= 0 ||
		    errno != a->own_errno) {
			TH_LOG("own pwrite did not fail with %s: %m",
			       strerror(a->own_errno));
			return KSFT_FAIL;
		}
	}
	if (blk_dev_open(&b, &cfg, fd))
		return KSFT_FAIL;
	st = write_4k(&b, a->sector, 77);
	TH_LOG("write at sector %llu as uid %d: status %d",
	       (unsigned long long)a->sector, NOBODY, st);
	if (st != a->want) {
		TH_LOG("status %d, want %d", st, a->want);
		return KSFT_FAIL;
	}
	blk_dev_close(&b);
	close(fd);
	return KSFT_PASS;
}

/*
 * The credential tests: a directory only root writes to (a file system
 * mounted on it when a test mounts one), the owner's file in it, and the
 * device node opened to NOBODY's group; all undone whatever happened.
 */
FIXTURE(cred) {
	char dir[32], path[64];
	bool mounted;
	struct node_perm np;
};

FIXTURE_SETUP(cred)
{
	snprintf(self->dir, sizeof(self->dir), "/tmp/vhx-cred.XXXXXX");
	make_dir(_metadata, self->dir);
	snprintf(self->path, sizeof(self->path), "%s/disk", self->dir);
}

FIXTURE_TEARDOWN_PARENT(cred)
{
	node_restore(&self->np);
	unlink(self->path);
	if (self->mounted)
		umount2(self->dir, MNT_DETACH);
	rmdir(self->dir);
}

/* Mount @dev (formatted already) on the fixture's directory. */
static bool cred_mount(FIXTURE_DATA(cred) *self, const char *dev,
		       const char *opts)
{
	self->mounted = !mount(dev, self->dir, "ext4", 0, opts);
	return self->mounted;
}

/* As NOBODY, write through the device; the node is open to it meanwhile. */
static void cred_write(struct __test_metadata *_metadata,
		       FIXTURE_DATA(cred) *self, struct cred_arg *a)
{
	ASSERT_LE(0, node_open_to_nobody(&self->np));
	run_as_nobody(_metadata, cred_child, a);
	node_restore(&self->np);
}

TEST_F(cred, fsize)
{
	struct cred_arg a = { self->path, (2 << 20) / SECTOR,
			      VIRTIO_BLK_S_IOERR, EFBIG, 1 << 20 };
	struct stat st;
	bool zero = false;
	int fd;

	make_nobody_file(_metadata, self->path, 8 << 20, 0644);
	cred_write(_metadata, self, &a);
	fd = open(self->path, O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open: %m");
	range_is_zero(_metadata, fd, 2 << 20, 4096, &zero);
	ASSERT_TRUE(!fstat(fd, &st))
		TH_LOG("fstat: %m");
	close(fd);
	ASSERT_TRUE(zero)
		TH_LOG("data at 2 MiB, past the owner's RLIMIT_FSIZE");
	ASSERT_TRUE(st.st_size == 8 << 20)
		TH_LOG("size %lld", (long long)st.st_size);
}

TEST_F(cred, suid)
{
	struct cred_arg a = { self->path, 0, VIRTIO_BLK_S_OK, 0, 0 };
	struct stat st;

	make_nobody_file(_metadata, self->path, 1 << 20, 04755);
	ASSERT_TRUE(!stat(self->path, &st) && (st.st_mode & S_ISUID))
		TH_LOG("no S_ISUID");
	cred_write(_metadata, self, &a);
	ASSERT_TRUE(!stat(self->path, &st))
		TH_LOG("stat: %m");
	ASSERT_TRUE(!(st.st_mode & S_ISUID))
		TH_LOG("S_ISUID survived a write by the non-root owner (mode %o)",
		       st.st_mode & 07777);
}

static void eat_free_space(struct __test_metadata *_metadata, const char *mnt)
{
	char path[96];
	struct statvfs sv;
	struct stat st;
	uint64_t bytes;
	int fd, i;

	snprintf(path, sizeof(path), "%s/filler", mnt);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("create filler: %m");
	for (i = 0; i < 8; i++) {
		ASSERT_TRUE(!fsync(fd) && !statvfs(mnt, &sv))
			TH_LOG("statvfs: %m");
		if (!sv.f_bavail)
			break;
		bytes = (uint64_t)sv.f_bavail * sv.f_bsize;
		ASSERT_TRUE(!fstat(fd, &st))
			TH_LOG("fstat: %m");
		if (fallocate(fd, 0, st.st_size, bytes)) {
			ASSERT_TRUE(!fallocate(fd, 0, st.st_size, bytes / 2))
				TH_LOG("fallocate: %m");
		}
	}
	close(fd);
	sync();
	ASSERT_TRUE(!statvfs(mnt, &sv))
		TH_LOG("statvfs: %m");
	TH_LOG("ext4: %llu blocks free, %llu available to non-root",
	       (unsigned long long)sv.f_bfree,
	       (unsigned long long)sv.f_bavail);
	ASSERT_TRUE(!sv.f_bavail)
		TH_LOG("still %llu blocks available",
		       (unsigned long long)sv.f_bavail);
	ASSERT_TRUE((uint64_t)sv.f_bfree * sv.f_bsize >= (1 << 20))
		TH_LOG("no reserve left");
}

TEST_F(cred, reserve)
{
	struct cred_arg a = { self->path, (2 << 20) / SECTOR,
			      VIRTIO_BLK_S_IOERR, ENOSPC, 0 };
	bool zero = false;
	int fd;

	if (access("/dev/ram5", F_OK))
		SKIP(return, "no /dev/ram5 (brd)");
	/* Half the blocks reserved for root. */
	if (system("mkfs.ext4 -q -F -m 50 /dev/ram5 >/dev/null 2>&1"))
		SKIP(return, "mkfs.ext4 /dev/ram5 failed");
	if (system("modprobe -q ext4"))
		TH_LOG("modprobe ext4 failed");
	if (!cred_mount(self, "/dev/ram5", NULL))
		SKIP(return, "cannot mount ext4: %m");
	ASSERT_TRUE(!chmod(self->dir, 0755))
		TH_LOG("chmod: %m");
	make_nobody_file(_metadata, self->path, 4 << 20, 0644);
	eat_free_space(_metadata, self->dir);
	cred_write(_metadata, self, &a);
	fd = open(self->path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	range_is_zero(_metadata, fd, 2 << 20, 4096, &zero);
	close(fd);
	ASSERT_TRUE(zero)
		TH_LOG("the non-root owner's write used the root reserve");
}

/*
 * Mount @dev's fresh ext4 (quota feature) on @dir with user quota
 * enforced: the usrquota option, or Q_QUOTAON where that is refused.
 */
static int mount_quota(const char *dev, const char *dir)
{
	if (!mount(dev, dir, "ext4", 0, "usrquota"))
		return 0;
	ksft_print_msg("mount -o usrquota: %m; Q_QUOTAON instead\n");
	if (mount(dev, dir, "ext4", 0, NULL))
		return -errno;
	/* The quota inode is hidden: no file to name. */
	if (quotactl(QCMD(Q_QUOTAON, USRQUOTA), dev, QFMT_VFS_V1, NULL)) {
		int ret = -errno;

		umount2(dir, MNT_DETACH);
		return ret;
	}
	return 0;
}

/* NOBODY's block usage on @dev in bytes, as quota counts it. */
static void quota_usage(struct __test_metadata *_metadata, const char *dev,
			uint64_t *bytes)
{
	struct dqblk q = {};

	ASSERT_TRUE(!quotactl(QCMD(Q_GETQUOTA, USRQUOTA), dev, NOBODY,
			      (caddr_t)&q))
		TH_LOG("Q_GETQUOTA: %m");
	*bytes = q.dqb_curspace;
}

/* A hard block limit for NOBODY of exactly what it uses now. */
static void quota_limit_to_usage(struct __test_metadata *_metadata,
				 const char *dev, uint64_t *limit)
{
	struct dqblk q = {};
	uint64_t used;

	quota_usage(_metadata, dev, &used);
	ASSERT_TRUE(used)
		TH_LOG("no blocks charged to uid %d", NOBODY);
	/* Limits are in 1 KiB quota blocks. */
	q.dqb_bhardlimit = (used + 1023) / 1024;
	q.dqb_valid = QIF_BLIMITS;
	ASSERT_TRUE(!quotactl(QCMD(Q_SETQUOTA, USRQUOTA), dev, NOBODY,
			      (caddr_t)&q))
		TH_LOG("Q_SETQUOTA: %m");
	*limit = q.dqb_bhardlimit * 1024;
	TH_LOG("uid %d uses %llu bytes, hard limit %llu", NOBODY,
	       (unsigned long long)used, (unsigned long long)*limit);
}

/*
 * The owner's 4 MiB file, its first MiB written by root and fsynced so
 * that quota has charged it, the owner's block limit set there: any new
 * block is over quota.
 */
static void quota_file(struct __test_metadata *_metadata, const char *dev,
		       const char *path, uint64_t *limit)
{
	uint8_t *buf;
	int fd;

	make_nobody_file(_metadata, path, 4 << 20, 0644);
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open %s: %m", path);
	buf = malloc(1 << 20);
	ASSERT_TRUE(buf)
		TH_LOG("malloc");
	blk_pattern(buf, 1 << 20, 31, 0);
	ASSERT_TRUE(pwrite(fd, buf, 1 << 20, 0) == 1 << 20)
		TH_LOG("pwrite: %m");
	free(buf);
	ASSERT_TRUE(!fsync(fd))
		TH_LOG("fsync: %m");
	close(fd);
	quota_limit_to_usage(_metadata, dev, limit);
}

TEST_F(cred, quota)
{
	const char *dev = "/dev/ram7";
	struct cred_arg a = { self->path, (2 << 20) / SECTOR,
			      VIRTIO_BLK_S_IOERR, EDQUOT, 0 };
	uint64_t limit = 0, used = 0;
	bool zero = false;
	struct stat st = {};
	int ret, fd;

	if (access(dev, F_OK))
		SKIP(return, "no %s (brd)", dev);
	/* No root reserve: only the quota stands in the way. */
	if (system("mkfs.ext4 -q -F -m 0 -O quota -E quotatype=usrquota "
		   "/dev/ram7 >/dev/null 2>&1"))
		SKIP(return, "mkfs.ext4 -O quota %s failed", dev);
	if (system("modprobe -q ext4") || system("modprobe -q quota_v2"))
		TH_LOG("modprobe ext4 quota_v2 failed");
	ret = mount_quota(dev, self->dir);
	if (ret)
		SKIP(return, "cannot mount ext4 with quota: %s",
		     strerror(-ret));
	self->mounted = true;
	ASSERT_TRUE(!chmod(self->dir, 0755))
		TH_LOG("chmod: %m");
	quota_file(_metadata, dev, self->path, &limit);
	cred_write(_metadata, self, &a);
	fd = open(self->path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	range_is_zero(_metadata, fd, 2 << 20, 4096, &zero);
	fsync(fd);
	fstat(fd, &st);
	close(fd);
	quota_usage(_metadata, dev, &used);
	TH_LOG("after: %llu bytes allocated to the file, %llu charged",
	       (unsigned long long)st.st_blocks * 512,
	       (unsigned long long)used);
	ASSERT_TRUE(zero)
		TH_LOG("the non-root owner's write went past its quota");
	ASSERT_TRUE((uint64_t)st.st_blocks * 512 <= limit)
		TH_LOG("the file has %llu bytes allocated, the limit is %llu",
		       (unsigned long long)st.st_blocks * 512,
		       (unsigned long long)limit);
	ASSERT_TRUE(used <= limit)
		TH_LOG("uid %d charged %llu bytes, limit %llu",
		       NOBODY, (unsigned long long)used,
		       (unsigned long long)limit);
}

/* ---- #5: long operations off the submission path -------------------- */

static double ms_since(uint64_t t0)
{
	return (now_ns() - t0) / 1e6;
}

/*
 * A null_blk that takes seconds over one guest WRITE_ZEROES: no
 * write-zeroes and no memory, so zeroing falls back to writing zero
 * pages, 1 MiB requests one at a time, each held 8 ms.  The device is
 * opened on it with a WRITE_ZEROES of every segment the config allows
 * (512 MiB) posted on queue 0 and kicked; returns its head.
 */
static int long_wz_start(struct __test_metadata *_metadata, struct nullb *n,
			 const char *name, struct blk_dev *b, int *fd)
{
	static const char *const attrs[] = {
		"size=1024", "memory_backed=0", "irqmode=2",
		"completion_nsec=8000000", "hw_queue_depth=1",
		"max_sectors=2048", NULL };
	struct virtio_blk_discard_write_zeroes *segs;
	struct vhx_blk_config c;
	struct blk_cfg cfg = {};
	struct vhxg_buf buf;
	char path[96], val[32];
	unsigned int i;
	int head, ret;

	ret = nullb_create(n, name, attrs);
	if (ret)
		SKIP(return -1, "cannot make a null_blk: %s", strerror(-ret));
	snprintf(path, sizeof(path), "/sys/block/%s/queue/write_zeroes_max_bytes",
		 n->name);
	if (!read_file(path, val, sizeof(val)))
		TH_LOG("%s write_zeroes_max_bytes %s", n->name, strtok(val, "\n"));
	*fd = open(n->path, O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(*fd >= 0)
		TH_LOG("open %s: %m", n->path);
	ASSERT_LE(0, blk_dev_open(b, &cfg, *fd));
	ASSERT_LE(0, blk_get_config(b, &c));
	TH_LOG("write zeroes: %u segments of %u sectors",
	       c.max_write_zeroes_seg, c.max_write_zeroes_sectors);
	ASSERT_TRUE(c.max_write_zeroes_seg && c.max_write_zeroes_seg <= 64)
		TH_LOG("max_write_zeroes_seg %u", c.max_write_zeroes_seg);
	segs = blk_buf(b, c.max_write_zeroes_seg * sizeof(*segs), 0);
	ASSERT_TRUE(segs)
		TH_LOG("arena full");
	for (i = 0; i < c.max_write_zeroes_seg; i++) {
		segs[i].sector = (uint64_t)i * c.max_write_zeroes_sectors;
		segs[i].num_sectors = c.max_write_zeroes_sectors;
		segs[i].flags = 0;
	}
	ASSERT_TRUE((uint64_t)c.max_write_zeroes_seg *
		    c.max_write_zeroes_sectors <= c.capacity)
		TH_LOG("too small");
	TH_LOG("WRITE_ZEROES of %llu MiB",
	       (unsigned long long)c.max_write_zeroes_seg *
	       c.max_write_zeroes_sectors * SECTOR >> 20);
	buf = (struct vhxg_buf){ segs,
		c.max_write_zeroes_seg * sizeof(*segs) };
	head = blk_post(b, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, &buf, 1, NULL,
			0, 0);
	ASSERT_LE(0, head);
	ASSERT_LE(0, blk_kick(b, 0));
	return head;
}

static void long_wz_end(struct nullb *n, struct blk_dev *b, int fd)
{
	blk_dev_close(b);
	close(fd);
	usleep(100000);
	nullb_destroy(n);
}

TEST(long_ops)
{
	double t_mem, t_call, t_close;
	uint64_t t0, t_start;
	struct blk_dev b;
	struct nullb n;
	int fd, head, ret;

	head = long_wz_start(_metadata, &n, "vhxfixlo", &b, &fd);
	if (head < 0)
		return;	/* skipped */
	t_start = now_ns();
	usleep(300000);
	ASSERT_TRUE(blk_status(&b, 0, head) == STATUS_NONE)
		TH_LOG("WRITE_ZEROES done within 300 ms: backend too fast");

	t0 = now_ns();
	ret = vhxg_set_mem_identity(&b.dev);
	t_mem = ms_since(t0);
	ASSERT_LE(0, ret);
	ASSERT_TRUE(blk_status(&b, 0, head) == STATUS_NONE ||
		    t_mem >= 100)
		TH_LOG("WRITE_ZEROES ended before SET_VRING_CALL");
	t0 = now_ns();
	ret = vhxg_set_vring_fd(&b.dev, VHOST_SET_VRING_CALL, 0,
				b.dev.vqs[0].call_fd);
	t_call = ms_since(t0);
	ASSERT_LE(0, ret);
	if (blk_status(&b, 0, head) != STATUS_NONE)
		TH_LOG("WRITE_ZEROES done after %.0f ms, status %u",
		       ms_since(t_start), blk_status(&b, 0, head));
	t0 = now_ns();
	close(b.dev.fd);
	t_close = ms_since(t0);
	b.dev.fd = -1;
	TH_LOG("while a WRITE_ZEROES runs: SET_MEM_TABLE %.1f ms, SET_VRING_CALL %.1f ms, close %.1f ms",
	       t_mem, t_call, t_close);
	long_wz_end(&n, &b, fd);
	ASSERT_TRUE(t_mem < 100)
		TH_LOG("SET_MEM_TABLE took %.1f ms", t_mem);
	ASSERT_TRUE(t_call < 100)
		TH_LOG("SET_VRING_CALL took %.1f ms", t_call);
	ASSERT_TRUE(t_close < 100)
		TH_LOG("close took %.1f ms", t_close);
}

/* ---- #3/#15: long operations on a worker of the owner's ------------- */

struct worker_scan {
	char prefix[16];	/* comm of our workers: vhx-blk-PID. (cut) */
	const char *cgroup;	/* /proc/self/cgroup */
	int tasks;		/* tasks named for our vhx-blk workers */
	int blocked;		/* of those, in D: waiting for I/O */
	int threads;		/* of those, threads of this process */
	int foreign;		/* of those, in another cgroup than ours */
};

static char task_state(const char *dir)
{
	char path[640], buf[512], *p;

	snprintf(path, sizeof(path), "%s/stat", dir);
	if (read_file(path, buf, sizeof(buf)))
		return '?';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static void scan_one(const char *dir, void *arg)
{
	struct worker_scan *ws = arg;
	char path[640], buf[256], self[32];

	snprintf(path, sizeof(path), "%s/comm", dir);
	if (read_file(path, buf, sizeof(buf)) ||
	    strncmp(buf, ws->prefix, strlen(ws->prefix)))
		return;
	ws->tasks++;
	ws->blocked += task_state(dir) == 'D';
	snprintf(self, sizeof(self), "/proc/%d/task/", (int)getpid());
	ws->threads += !strncmp(dir, self, strlen(self));
	snprintf(path, sizeof(path), "%s/cgroup", dir);
	ws->foreign += read_file(path, buf, sizeof(buf)) ||
		       strcmp(buf, ws->cgroup);
}

/* Every task on the host named for our vhx-blk workers. */
static void scan_workers(struct worker_scan *ws, const char *our_cgroup)
{
	memset(ws, 0, sizeof(*ws));
	snprintf(ws->prefix, sizeof(ws->prefix), "vhx-blk-%d.", (int)getpid());
	ws->cgroup = our_cgroup;
	leak_for_each_task(scan_one, ws);
}

/*
 * A WRITE_ZEROES that blocks for seconds is done by a worker of the
 * owner's, not by a kernel workqueue: some vhx-blk worker of ours is seen
 * waiting for I/O while it runs, and every one of them is in our cgroup
 * (and, with vhost_task workers, a thread of ours).
 */
TEST(slow_worker)
{
	struct worker_scan ws, seen = {};
	char cgroup[256];
	struct blk_dev b;
	struct nullb n;
	int fd, head, i;

	ASSERT_TRUE(!read_file("/proc/self/cgroup", cgroup, sizeof(cgroup)))
		TH_LOG("read /proc/self/cgroup: %m");
	head = long_wz_start(_metadata, &n, "vhxfixsw", &b, &fd);
	if (head < 0)
		return;	/* skipped */
	for (i = 0; i < 100 && blk_status(&b, 0, head) == STATUS_NONE; i++) {
		scan_workers(&ws, cgroup);
		seen.blocked += ws.blocked > 0;
		seen.tasks = ws.tasks > seen.tasks ? ws.tasks : seen.tasks;
		seen.threads = ws.threads > seen.threads ? ws.threads :
			       seen.threads;
		seen.foreign += ws.foreign;
		usleep(20000);
	}
	TH_LOG("%d scans: %d with a worker of ours in D; up to %d workers, %d of them threads of ours; %d seen in another cgroup",
	       i, seen.blocked, seen.tasks, seen.threads, seen.foreign);
	long_wz_end(&n, &b, fd);
	ASSERT_TRUE(i >= 20)
		TH_LOG("WRITE_ZEROES done after %d scans: backend too fast",
		       i);
	ASSERT_TRUE(seen.tasks >= 2)
		TH_LOG("%d workers: want the queue's and the slow one",
		       seen.tasks);
	ASSERT_TRUE(seen.blocked >= i / 2)
		TH_LOG("a worker of ours waited for I/O in %d of %d scans",
		       seen.blocked, i);
	ASSERT_TRUE(!seen.foreign)
		TH_LOG("a worker outside the owner's cgroup");
	ASSERT_TRUE(!seen.threads || seen.threads == seen.tasks)
		TH_LOG("%d of %d workers are threads of ours", seen.threads,
		       seen.tasks);
}

/* ---- #6: write-zeroes and discard durability; no append ------------- */

static int dwz_one(struct blk_dev *b, uint32_t type, uint64_t sector,
		   uint32_t nsect)
{
	struct virtio_blk_discard_write_zeroes *s = blk_buf(b, sizeof(*s), 0);

	if (!s)
		return -ENOMEM;
	s->sector = sector;
	s->num_sectors = nsect;
	s->flags = 0;
	return blk_do(b, 0, type, 0, s, sizeof(*s), NULL);
}

/* Flushes the device saw across one request of @type. */
static void flushes_across(struct __test_metadata *_metadata, struct blk_dev *b,
			   const char *name, uint32_t type, uint64_t sector,
			   long long *flushes)
{
	long long before = disk_stat(name, 15), after;

	ASSERT_TRUE(before >= 0)
		TH_LOG("no flush count in /sys/block/%s/stat", name);
	ASSERT_TRUE(dwz_one(b, type, sector, 64) == VIRTIO_BLK_S_OK)
		TH_LOG("request %u failed", type);
	after = disk_stat(name, 15);
	*flushes = after - before;
}

TEST(dwz_durable)
{
	/* A volatile write cache, so flushes reach (and count at) it. */
	static const char *const attrs[] = {
		"size=16", "memory_backed=1", "cache_size=4", "discard=1",
		NULL };
	struct blk_cfg cfg = { .features = BLK_ACK & ~F(VIRTIO_BLK_F_FLUSH) };
	long long wz = 0, dis = 0;
	struct blk_dev b;
	struct nullb n;
	char path[96], val[32];
	bool zero = false;
	int fd, ret;

	ret = nullb_create(&n, "vhxfixwc", attrs);
	if (ret)
		SKIP(return, "cannot make a cached null_blk: %s",
			     strerror(-ret));
	snprintf(path, sizeof(path), "/sys/block/%s/queue/write_cache", n.name);
	if (read_file(path, val, sizeof(val)) || strncmp(val, "write back", 10)) {
		nullb_destroy(&n);
		SKIP(return, "null_blk has no write-back cache");
	}
	fd = open(n.path, O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open %s: %m", n.path);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	ASSERT_TRUE(write_4k(&b, 128, 3) == VIRTIO_BLK_S_OK)
		TH_LOG("write");
	flushes_across(_metadata, &b, n.name, VIRTIO_BLK_T_WRITE_ZEROES, 128, &wz);
	range_is_zero(_metadata, fd, 128 * SECTOR, 4096, &zero);
	flushes_across(_metadata, &b, n.name, VIRTIO_BLK_T_DISCARD, 1024, &dis);
	TH_LOG("FLUSH not acked: %lld flushes after WRITE_ZEROES, %lld after DISCARD",
	       wz, dis);
	blk_dev_close(&b);
	close(fd);
	nullb_destroy(&n);
	ASSERT_TRUE(zero)
		TH_LOG("WRITE_ZEROES range not zero");
	ASSERT_TRUE(wz > 0)
		TH_LOG("WRITE_ZEROES completed with nothing flushed");
	ASSERT_TRUE(dis > 0)
		TH_LOG("DISCARD completed with nothing flushed");
}

TEST(wz_no_append)
{
	char dir[] = "/tmp/vhx-app.XXXXXX", path[64];
	struct blk_cfg cfg = {};
	struct blk_dev b;
	struct statfs sfs;
	struct stat st;
	uint8_t *buf;
	int fd, afd, zr;

	make_dir(_metadata, dir);
	snprintf(path, sizeof(path), "%s/disk", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("create: %m");
	unlink(path);
	ASSERT_TRUE(!fstatfs(fd, &sfs))
		TH_LOG("fstatfs: %m");
	zr = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096);
	if (!zr || errno != EOPNOTSUPP) {
		close(fd);
		rmdir(dir);
		SKIP(return, "%s zeroes ranges (f_type %#lx): no fallback",
			     dir, (long)sfs.f_type);
	}
	TH_LOG("f_type %#lx (tmpfs %#x): no FALLOC_FL_ZERO_RANGE",
	       (long)sfs.f_type, TMPFS_MAGIC);
	buf = malloc(1 << 20);
	ASSERT_TRUE(buf)
		TH_LOG("malloc");
	blk_pattern(buf, 1 << 20, 21, 0);
	ASSERT_TRUE(pwrite(fd, buf, 1 << 20, 0) == 1 << 20)
		TH_LOG("pwrite: %m");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	afd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	ASSERT_TRUE(afd >= 0)
		TH_LOG("reopen O_APPEND: %m");
	ASSERT_LE(0, blk_dev_open(&b, &cfg, afd));
	ASSERT_TRUE(dwz_one(&b, VIRTIO_BLK_T_WRITE_ZEROES, 512, 256) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("write zeroes");
	blk_dev_close(&b);
	ASSERT_TRUE(!fstat(fd, &st))
		TH_LOG("fstat: %m");
	ASSERT_TRUE(st.st_size == 1 << 20)
		TH_LOG("file grew to %lld bytes",
		       (long long)st.st_size);
	ASSERT_TRUE(pread(fd, buf, 1 << 20, 0) == 1 << 20)
		TH_LOG("pread: %m");
	ASSERT_TRUE(blk_is_zero(buf + 512 * SECTOR, 256 * SECTOR))
		TH_LOG("range not zeroed");
	ASSERT_TRUE(!blk_check_pattern(buf, 512 * SECTOR, 21, 0))
		TH_LOG("data before the range changed");
	ASSERT_TRUE(!blk_check_pattern(buf + 768 * SECTOR, (1 << 20) -
				       768 * SECTOR, 21, 768 * SECTOR))
		TH_LOG("data after the range changed");
	free(buf);
	close(afd);
	close(fd);
	rmdir(dir);
}

/* ---- #7: discard on a block device --------------------------------- */

#define DIS_SECT	2048		/* 1 MiB in */
#define DIS_LEN		(64 << 10)

/* A memory-backed null_blk that discards: discarded sectors read zero. */
static int discard_disk(struct nullb *n, const char *tag)
{
	static const char *const attrs[] = {
		"size=16", "memory_backed=1", "discard=1", NULL };
	char path[96], val[32];
	int fd, ret;

	ret = nullb_create(n, tag, attrs);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/sys/block/%s/queue/discard_max_bytes",
		 n->name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ret = fd < 0 ? -errno : 0;
	if (!ret) {
		ssize_t len = read(fd, val, sizeof(val) - 1);

		val[len > 0 ? len : 0] = '\0';
		close(fd);
		if (!strtoull(val, NULL, 10))
			ret = -EOPNOTSUPP;
	}
	if (ret)
		nullb_destroy(n);
	return ret;
}

/* The guest's view of the range: its pattern @seed, or all zero. */
static void guest_range(struct __test_metadata *_metadata, struct blk_dev *b,
			uint32_t seed, bool *pattern, bool *zero)
{
	uint8_t *buf = blk_buf(b, DIS_LEN, 0x77);

	ASSERT_TRUE(buf)
		TH_LOG("arena full");
	ASSERT_TRUE(blk_do(b, 0, VIRTIO_BLK_T_IN, DIS_SECT, buf, DIS_LEN,
			   NULL) == VIRTIO_BLK_S_OK)
		TH_LOG("guest read");
	*pattern = !blk_check_pattern(buf, DIS_LEN, seed,
				      (uint64_t)DIS_SECT * SECTOR);
	*zero = blk_is_zero(buf, DIS_LEN);
}

/*
 * The page cache of the disk holds the range (written and read back
 * through a buffered host fd); a guest DISCARD of it must not leave that
 * cache stale for the host fd's next buffered read.
 */
TEST(discard_invalidates)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	struct nullb n;
	bool pattern = false, zero = false, host_zero, host_stale;
	uint8_t *buf;
	int hfd, vfd, ret, st;

	ret = discard_disk(&n, "vhxfixdi");
	if (ret)
		SKIP(return, "no discarding null_blk: %s", strerror(-ret));
	hfd = open(n.path, O_RDWR | O_CLOEXEC);
	vfd = open(n.path, O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(hfd >= 0 && vfd >= 0)
		TH_LOG("open %s: %m", n.path);
	buf = malloc(DIS_LEN);
	ASSERT_TRUE(buf)
		TH_LOG("malloc");
	blk_pattern(buf, DIS_LEN, 41, (uint64_t)DIS_SECT * SECTOR);
	ASSERT_TRUE(pwrite(hfd, buf, DIS_LEN, (off_t)DIS_SECT * SECTOR) ==
		    DIS_LEN)
		TH_LOG("pwrite: %m");
	ASSERT_TRUE(!fsync(hfd))
		TH_LOG("fsync: %m");
	memset(buf, 0, DIS_LEN);
	ASSERT_TRUE(pread(hfd, buf, DIS_LEN, (off_t)DIS_SECT * SECTOR) ==
		    DIS_LEN)
		TH_LOG("pread: %m");
	ASSERT_TRUE(!blk_check_pattern(buf, DIS_LEN, 41,
				       (uint64_t)DIS_SECT * SECTOR))
		TH_LOG("host read back the wrong data");

	ASSERT_LE(0, blk_dev_open(&b, &cfg, vfd));
	guest_range(_metadata, &b, 41, &pattern, &zero);
	ASSERT_TRUE(pattern)
		TH_LOG("the guest does not see the host's write");
	st = dwz_one(&b, VIRTIO_BLK_T_DISCARD, DIS_SECT, DIS_LEN / SECTOR);
	ASSERT_TRUE(st == VIRTIO_BLK_S_OK)
		TH_LOG("DISCARD status %d", st);
	guest_range(_metadata, &b, 41, &pattern, &zero);
	ASSERT_TRUE(pread(hfd, buf, DIS_LEN, (off_t)DIS_SECT * SECTOR) ==
		    DIS_LEN)
		TH_LOG("pread: %m");
	host_zero = blk_is_zero(buf, DIS_LEN);
	host_stale = !blk_check_pattern(buf, DIS_LEN, 41,
					(uint64_t)DIS_SECT * SECTOR);
	TH_LOG("after DISCARD: disk %s, host page cache %s",
	       zero ? "zero" : pattern ? "old data" : "other",
	       host_zero ? "zero" : host_stale ? "old data (stale)" : "other");
	free(buf);
	blk_dev_close(&b);
	close(vfd);
	close(hfd);
	nullb_destroy(&n);
	ASSERT_TRUE(zero)
		TH_LOG("the disk did not discard the range");
	ASSERT_TRUE(host_zero)
		TH_LOG("a buffered read after DISCARD saw %s",
		       host_stale ? "the stale cached data" : "other data");
}

/*
 * While another opener holds the disk exclusively (as a mounted file
 * system or md would), a guest DISCARD leaves its data alone; once the
 * holder is gone, the same DISCARD does discard.
 */
TEST(discard_holder)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	struct nullb n;
	bool pattern = false, zero = false;
	bool after_pattern = false, after_zero = false;
	uint8_t *buf;
	int xfd, vfd, ret, st, st2;

	ret = discard_disk(&n, "vhxfixdh");
	if (ret)
		SKIP(return, "no discarding null_blk: %s", strerror(-ret));
	vfd = open(n.path, O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(vfd >= 0)
		TH_LOG("open %s: %m", n.path);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, vfd));
	buf = blk_buf(&b, DIS_LEN, 0);
	ASSERT_TRUE(buf)
		TH_LOG("arena full");
	blk_pattern(buf, DIS_LEN, 43, (uint64_t)DIS_SECT * SECTOR);
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, DIS_SECT, buf, DIS_LEN,
			   NULL) == VIRTIO_BLK_S_OK)
		TH_LOG("guest write");
	xfd = open(n.path, O_RDWR | O_EXCL | O_CLOEXEC);
	ASSERT_TRUE(xfd >= 0)
		TH_LOG("open %s O_EXCL: %m", n.path);
	st = dwz_one(&b, VIRTIO_BLK_T_DISCARD, DIS_SECT, DIS_LEN / SECTOR);
	guest_range(_metadata, &b, 43, &pattern, &zero);
	close(xfd);
	/* The control: with no holder the same request discards. */
	st2 = dwz_one(&b, VIRTIO_BLK_T_DISCARD, DIS_SECT, DIS_LEN / SECTOR);
	guest_range(_metadata, &b, 43, &after_pattern, &after_zero);
	TH_LOG("DISCARD while held: status %d, data %s; unheld: status %d, %s",
	       st, pattern ? "intact" : zero ? "zero" : "other", st2,
	       after_zero ? "zero" : "not zero");
	blk_dev_close(&b);
	close(vfd);
	nullb_destroy(&n);
	ASSERT_TRUE(st == VIRTIO_BLK_S_OK)
		TH_LOG("DISCARD while held: status %d", st);
	ASSERT_TRUE(pattern)
		TH_LOG("a DISCARD destroyed data of a disk someone else holds exclusively");
	ASSERT_TRUE(st2 == VIRTIO_BLK_S_OK && after_zero)
		TH_LOG("no holder: DISCARD status %d, range %szero", st2,
		       after_zero ? "" : "not ");
}

/* ---- #8: a broken queue takes no more requests ---------------------- */

#define BRK_HELD	250	/* slow writes that hold the request pool */
#define BRK_FILL	5	/* the rest of the pool */
#define BRK_LATE	8	/* the writes that must not run */
#define BRK_LATE_SECT	16384

/*
 * A ring of 512 and a pool of 256 requests: BRK_HELD slow direct writes
 * hold most of the pool.  Then one batch: a write whose status byte is in
 * read-only memory, BRK_FILL more, then BRK_LATE writes.  Misaligned
 * buffers make them buffered (complete at once).  When the pool runs out
 * the device reaps the first, fails to write its status and stops the
 * queue; nothing after that may reach the backend.
 */
TEST(broken_queue)
{
	static const char *const attrs[] = {
		"size=64", "memory_backed=1", "irqmode=2",
		"completion_nsec=1500000000", "hw_queue_depth=256", NULL };
	struct blk_cfg cfg = { .num = 512 };
	struct vhost_memory_region r[2];
	struct vhxg_buf out[2], in;
	struct blk_dev b;
	struct nullb n;
	struct blk_slot *bad;
	uint8_t *ro, *data, *chk;
	unsigned int i, late = 0;
	int fd, ret;

	ret = nullb_create(&n, "vhxfixbrk", attrs);
	if (ret)
		SKIP(return, "cannot make a slow null_blk: %s",
			     strerror(-ret));
	fd = open(n.path, O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open %s: %m", n.path);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	ro = mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(ro != MAP_FAILED)
		TH_LOG("mmap: %m");
	r[0] = (struct vhost_memory_region){ (uintptr_t)b.arena.base,
		b.arena.size, (uintptr_t)b.arena.base, 0 };
	r[1] = (struct vhost_memory_region){ (uintptr_t)ro, 1 << 20,
		(uintptr_t)ro, 0 };
	ASSERT_LE(0, vhxg_set_mem_table(&b.dev, r, 2));

	data = blk_buf(&b, (BRK_HELD + BRK_FILL + BRK_LATE + 1) * 8192, 0);
	ASSERT_TRUE(data)
		TH_LOG("arena full");
	for (i = 0; i < BRK_HELD; i++) {
		struct vhxg_buf d = { data + i * 8192, 4096 };

		ASSERT_LE(0, blk_post(&b, 0, VIRTIO_BLK_T_OUT, i * 16, &d, 1,
				      NULL, 0,
				      VHXG_ADD_INDIRECT));
	}
	ASSERT_LE(0, blk_kick(&b, 0));
	usleep(300000);

	/* The bad one: its own header, status in read-only memory. */
	bad = blk_buf(&b, sizeof(*bad), 0);
	ASSERT_TRUE(bad)
		TH_LOG("arena full");
	bad->hdr.type = VIRTIO_BLK_T_OUT;
	bad->hdr.sector = 8192;
	data += BRK_HELD * 8192 + 1;	/* misaligned from here on */
	out[0] = (struct vhxg_buf){ &bad->hdr, sizeof(bad->hdr) };
	out[1] = (struct vhxg_buf){ data, 4096 };
	in = (struct vhxg_buf){ ro + 100, 1 };
	ASSERT_LE(0, vhxg_vq_add(&b.dev.vqs[0], out, 2, &in, 1,
				 VHXG_ADD_INDIRECT));
	for (i = 0; i < BRK_FILL + BRK_LATE; i++) {
		bool is_late = i >= BRK_FILL;
		uint64_t sector = is_late ?
			BRK_LATE_SECT + (i - BRK_FILL) * 16 : 8192 + 16 + i * 16;
		struct vhxg_buf d = { data + (i + 1) * 8192, 4096 };

		blk_pattern(d.addr, 4096, 100 + i, sector * SECTOR);
		ASSERT_LE(0, blk_post(&b, 0, VIRTIO_BLK_T_OUT, sector, &d, 1,
				      NULL, 0,
				      VHXG_ADD_INDIRECT));
	}
	ASSERT_LE(0, blk_kick(&b, 0));
	ASSERT_TRUE(vhxg_vq_wait_err(&b.dev.vqs[0], WAIT_MS) == 1)
		TH_LOG("status in read-only memory: no ERR eventfd");
	usleep(100000);
	/* The device's buffered writes are in the bdev's page cache. */
	chk = malloc(4096);
	ASSERT_TRUE(chk)
		TH_LOG("malloc");
	for (i = 0; i < BRK_LATE; i++) {
		uint64_t sector = BRK_LATE_SECT + i * 16;

		ASSERT_TRUE(pread(fd, chk, 4096, sector * SECTOR) == 4096)
			TH_LOG("pread: %m");
		if (!blk_is_zero(chk, 4096))
			late++;
	}
	free(chk);
	TH_LOG("%u of %u writes posted after the failing one reached the backend",
	       late, BRK_LATE);
	blk_dev_close(&b);
	close(fd);
	munmap(ro, 1 << 20);
	nullb_destroy(&n);
	ASSERT_TRUE(!late)
		TH_LOG("a stopped queue executed %u more writes", late);
}

/* ---- #12: struct vhx_blk_config ------------------------------------- */

#define MEMBER(m) { offsetof(struct vhx_blk_config, m),		\
		    sizeof(((struct vhx_blk_config *)0)->m), #m }

TEST(config_layout)
{
	static const struct { size_t off, len; const char *name; } m[] = {
		MEMBER(capacity), MEMBER(blk_size), MEMBER(seg_max),
		MEMBER(size_max), MEMBER(num_queues), MEMBER(ro),
		MEMBER(padding), MEMBER(max_discard_sectors),
		MEMBER(max_write_zeroes_sectors), MEMBER(serial),
		MEMBER(max_discard_seg), MEMBER(max_write_zeroes_seg),
		MEMBER(discard_sector_alignment), MEMBER(reserved),
	};
	union {
		struct vhx_blk_config c;
		uint8_t bytes[sizeof(struct vhx_blk_config)];
	} u;
	bool covered[sizeof(struct vhx_blk_config)] = {};
	struct blk_cfg cfg = {};
	struct blk_dev b;
	size_t i, j, holes = 0, dirty = 0;
	int fd = blk_tmpfile(1 << 20);

	ASSERT_LE(0, fd);
	ASSERT_TRUE(sizeof(struct vhx_blk_config) == 72)
		TH_LOG("sizeof %zu",
		       sizeof(struct vhx_blk_config));
	for (i = 0; i < ARRAY_SIZE(m); i++)
		for (j = 0; j < m[i].len; j++)
			covered[m[i].off + j] = true;
	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	memset(&u, 0xff, sizeof(u));
	ASSERT_LE(0, blk_get_config(&b, &u.c));
	blk_dev_close(&b);
	close(fd);
	for (i = 0; i < sizeof(u); i++) {
		if (!covered[i]) {
			holes++;
			if (u.bytes[i])
				dirty++;
		}
	}
	ASSERT_TRUE(!u.c.padding)
		TH_LOG("padding %#x", u.c.padding);
	ASSERT_TRUE(blk_is_zero(u.c.reserved, sizeof(u.c.reserved)))
		TH_LOG("reserved not zero");
	ASSERT_TRUE(!dirty)
		TH_LOG("%zu implicit padding bytes not zeroed", dirty);
	ASSERT_TRUE(!holes)
		TH_LOG("%zu bytes of implicit padding (32-bit layout differs)",
		       holes);
}

/* ---- #14: the default serial ---------------------------------------- */

static void serial_on(struct __test_metadata *_metadata, int fd,
		      const char *what)
{
	struct blk_cfg cfg = {};
	struct vhx_blk_config c;
	struct blk_dev b;
	uint8_t *id;
	uint32_t used_len;

	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	id = blk_buf(&b, VHX_BLK_SERIAL_LEN, 0x77);
	ASSERT_TRUE(id)
		TH_LOG("arena full");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_GET_ID, 0, id,
			   VHX_BLK_SERIAL_LEN,
			   &used_len) == VIRTIO_BLK_S_OK)
		TH_LOG("GET_ID");
	ASSERT_LE(0, blk_get_config(&b, &c));
	TH_LOG("%s: GET_ID \"%.20s\"", what, (char *)id);
	ASSERT_TRUE(blk_is_zero(id, VHX_BLK_SERIAL_LEN))
		TH_LOG("%s: default serial \"%.20s\" is not empty", what, (char *)id);
	ASSERT_TRUE(blk_is_zero(c.serial, sizeof(c.serial)))
		TH_LOG("%s: GET_CONFIG serial not empty", what);
	blk_dev_close(&b);
}

TEST(serial_default)
{
	int fd = blk_tmpfile(1 << 20);

	ASSERT_LE(0, fd);
	serial_on(_metadata, fd, "file");
	close(fd);
	fd = blk_open_ramdisk(5, O_RDWR, NULL);
	if (fd == -ENOENT)
		return;
	ASSERT_LE(0, fd);
	serial_on(_metadata, fd, "block device");
	close(fd);
}

/* ---- #16: freeze protection until completion ------------------------ */

#define FRZ_WRITES	8
#define CG_ROOT		"/sys/fs/cgroup"

struct freeze_ctx {
	const char *path;	/* the backend file */
	const char *cg;		/* the throttled cgroup */
	int to_parent, from_parent;
};

/* In a child of its own: KSFT_PASS or KSFT_FAIL, no ASSERT_*(). */
static int freeze_child(struct __test_metadata *_metadata, void *p)
{
	struct freeze_ctx *x = p;
	struct blk_cfg cfg = {};
	struct blk_dev b;
	char pid[16], procs[160], c = 0;
	uint16_t *used_idx;
	int fd, heads[FRZ_WRITES], i, ok = 0;
	uint8_t *data;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", x->cg);
	if (write_file(procs, pid))
		return KSFT_FAIL;
	fd = open(x->path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		TH_LOG("open O_DIRECT: %m");
		return KSFT_FAIL;
	}
	if (blk_dev_open(&b, &cfg, fd))
		return KSFT_FAIL;
	data = blk_buf(&b, FRZ_WRITES * 4096, 0);
	if (!data) {
		TH_LOG("arena full");
		return KSFT_FAIL;
	}
	for (i = 0; i < FRZ_WRITES; i++) {
		struct vhxg_buf d = { data + i * 4096, 4096 };

		blk_pattern(d.addr, 4096, 60 + i, (uint64_t)i * 65536);
		heads[i] = blk_post(&b, 0, VIRTIO_BLK_T_OUT, i * 128, &d, 1,
				    NULL, 0, 0);
		if (heads[i] < 0)
			return KSFT_FAIL;
	}
	if (blk_kick(&b, 0) < 0)
		return KSFT_FAIL;
	/* Let the worker submit them all before the freeze. */
	usleep(500000);
	used_idx = &b.dev.vqs[0].used->idx;
	if (write(x->to_parent, &used_idx, sizeof(used_idx)) !=
	    sizeof(used_idx) || read(x->from_parent, &c, 1) != 1) {
		TH_LOG("pipe: %m");
		return KSFT_FAIL;
	}
	for (i = 0; i < FRZ_WRITES; i++) {
		struct vhxg_used u;

		if (blk_wait_one(&b, 0, &u) == 1 &&
		    blk_status(&b, 0, u.id) == VIRTIO_BLK_S_OK)
			ok++;
	}
	blk_dev_close(&b);
	close(fd);
	if (ok != FRZ_WRITES) {
		TH_LOG("%d of %d writes completed OK", ok, FRZ_WRITES);
		return KSFT_FAIL;
	}
	return KSFT_PASS;
}

/* The child, in a cgroup whose writes to @dev are throttled, owns it. */
static void freeze_run(struct __test_metadata *_metadata, const char *mnt,
		       const char *path, const char *cg)
{
	int up[2], down[2], status, fd, mfd, memfd, i, on_disk = 0;
	uint16_t *used_idx, idx;
	char mem[32];
	struct freeze_ctx x = { path, cg, -1, -1 };
	uint8_t *buf;
	uint64_t t0;
	double t_freeze;
	pid_t pid;

	ASSERT_TRUE(!pipe(up) && !pipe(down))
		TH_LOG("pipe: %m");
	x.to_parent = up[1];
	x.from_parent = down[0];
	fflush(stdout);
	pid = fork();
	ASSERT_TRUE(pid >= 0)
		TH_LOG("fork: %m");
	if (!pid)
		_exit(freeze_child(_metadata, &x));
	close(up[1]);
	close(down[0]);
	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0 && mfd >= 0)
		TH_LOG("open: %m");
	ASSERT_TRUE(!posix_memalign((void **)&buf, 4096, 4096))
		TH_LOG("memalign");
	if (read(up[0], &used_idx, sizeof(used_idx)) != sizeof(used_idx)) {
		waitpid(pid, &status, 0);
		ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
			TH_LOG("the writer failed (status %#x)", status);
		ASSERT_TRUE(false)
			TH_LOG("the writer said nothing");
	}
	t0 = now_ns();
	ASSERT_TRUE(!ioctl(mfd, FIFREEZE, 0))
		TH_LOG("FIFREEZE: %m");
	t_freeze = ms_since(t0);
	/* The child's used->idx, through its memory. */
	snprintf(mem, sizeof(mem), "/proc/%d/mem", (int)pid);
	memfd = open(mem, O_RDONLY | O_CLOEXEC);
	if (memfd < 0 || pread(memfd, &idx, sizeof(idx),
			       (uintptr_t)used_idx) != sizeof(idx))
		idx = 0xffff;
	if (memfd >= 0)
		close(memfd);
	/* Right when the freeze returned: are the writes on the disk? */
	for (i = 0; i < FRZ_WRITES; i++) {
		if (pread(fd, buf, 4096, (uint64_t)i * 65536) == 4096 &&
		    !blk_check_pattern(buf, 4096, 60 + i, (uint64_t)i * 65536))
			on_disk++;
	}
	ioctl(mfd, FITHAW, 0);
	TH_LOG("FIFREEZE took %.0f ms; when it returned %d of %d writes were on the disk, used->idx %u",
	       t_freeze, on_disk, FRZ_WRITES, idx);
	ASSERT_TRUE(write(down[1], "t", 1) == 1)
		TH_LOG("pipe: %m");
	ASSERT_TRUE(waitpid(pid, &status, 0) == pid)
		TH_LOG("waitpid: %m");
	free(buf);
	close(fd);
	close(mfd);
	close(up[0]);
	close(down[1]);
	ASSERT_TRUE(WIFEXITED(status))
		TH_LOG("child died (status %#x)", status);
	ASSERT_EQ(KSFT_PASS, WEXITSTATUS(status));
	ASSERT_TRUE(on_disk == FRZ_WRITES)
		TH_LOG("the fs froze with %d direct writes in flight",
		       FRZ_WRITES - on_disk);
}

/*
 * ext4 on /dev/ram6, throttled for a cgroup of the test's (io.max), with
 * cgroup2 mounted for it if nothing had; whatever the test got to, the
 * teardown thaws the file system and takes it all down again.
 */
FIXTURE(freeze) {
	char dir[32], cg[96];
	bool mounted_cg, mounted;
};

FIXTURE_SETUP(freeze)
{
	snprintf(self->dir, sizeof(self->dir), "/tmp/vhx-frz.XXXXXX");
	if (access("/dev/ram6", F_OK))
		SKIP(return, "no /dev/ram6 (brd)");
	if (access(CG_ROOT "/cgroup.controllers", F_OK)) {
		if (mount("cgroup2", CG_ROOT, "cgroup2", 0, NULL))
			SKIP(return, "no cgroup2: %m");
		self->mounted_cg = true;
	}
}

FIXTURE_TEARDOWN_PARENT(freeze)
{
	int fd, i;

	if (self->mounted) {
		/* Never leave it frozen. */
		fd = open(self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			ioctl(fd, FITHAW, 0);
			close(fd);
		}
		umount2(self->dir, MNT_DETACH);
	}
	rmdir(self->dir);
	/* The worker leaves the cgroup when it exits. */
	for (i = 0; self->cg[0] && i < 100 && rmdir(self->cg); i++)
		usleep(20000);
	if (self->mounted_cg)
		umount2(CG_ROOT, MNT_DETACH);
}

TEST_F(freeze, freeze)
{
	char path[64], file[160];
	struct stat st;
	uint8_t *buf;
	int fd, ret;

	if (write_file(CG_ROOT "/cgroup.subtree_control", "+io"))
		SKIP(return, "cannot enable the io controller");
	if (system("mkfs.ext4 -q -F /dev/ram6 >/dev/null 2>&1"))
		SKIP(return, "mkfs.ext4 /dev/ram6 failed");
	if (system("modprobe -q ext4"))
		TH_LOG("modprobe ext4 failed");
	make_dir(_metadata, self->dir);
	if (mount("/dev/ram6", self->dir, "ext4", 0, NULL))
		SKIP(return, "cannot mount ext4: %m");
	self->mounted = true;
	snprintf(path, sizeof(path), "%s/disk", self->dir);
	/* Written blocks: the direct writes need no allocation. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("create: %m");
	buf = malloc(1 << 20);
	ASSERT_TRUE(buf)
		TH_LOG("malloc");
	memset(buf, 0x11, 1 << 20);
	ASSERT_TRUE(pwrite(fd, buf, 1 << 20, 0) == 1 << 20)
		TH_LOG("pwrite: %m");
	ASSERT_TRUE(!fsync(fd))
		TH_LOG("fsync: %m");
	free(buf);
	close(fd);

	/* Two writes a second for the owner's cgroup, none for us. */
	ASSERT_TRUE(!stat("/dev/ram6", &st))
		TH_LOG("stat: %m");
	snprintf(self->cg, sizeof(self->cg), CG_ROOT "/vhxfrz%d",
		 (int)getpid());
	ASSERT_TRUE(!mkdir(self->cg, 0755))
		TH_LOG("mkdir %s: %m", self->cg);
	snprintf(file, sizeof(file), "%s/io.max", self->cg);
	{
		char val[64];

		snprintf(val, sizeof(val), "%u:%u wiops=2", major(st.st_rdev),
			 minor(st.st_rdev));
		ret = write_file(file, val);
	}
	if (ret)
		SKIP(return, "cannot throttle: %s", strerror(-ret));
	freeze_run(_metadata, self->dir, path, self->cg);
}

/* ---- #17: owner-only ioctls ----------------------------------------- */

/* GET_CONFIG and SET_SERIAL refused with EPERM; usable in a child. */
static bool nonowner_calls(struct __test_metadata *_metadata, int fd,
			   const char *who)
{
	uint8_t serial[VHX_BLK_SERIAL_LEN] = "not-the-owner";
	struct vhx_blk_config c;
	int r;

	r = ioctl(fd, VHX_BLK_GET_CONFIG, &c) ? -errno : 0;
	if (r != -EPERM) {
		TH_LOG("%s: GET_CONFIG %d, want -EPERM", who, r);
		return false;
	}
	r = ioctl(fd, VHX_BLK_SET_SERIAL, serial) ? -errno : 0;
	if (r != -EPERM) {
		TH_LOG("%s: SET_SERIAL %d, want -EPERM", who, r);
		return false;
	}
	return true;
}

TEST(nonowner_ioctls)
{
	const char *node = test_dev ? test_dev : "/dev/vhx-blk";
	struct vhx_blk_config c;
	int fd, status;
	pid_t pid;

	fd = open(node, O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open: %m");
	ASSERT_TRUE(nonowner_calls(_metadata, fd, "before SET_OWNER"));
	ASSERT_TRUE(!ioctl(fd, VHOST_SET_OWNER))
		TH_LOG("SET_OWNER: %m");
	fflush(stdout);
	pid = fork();
	ASSERT_TRUE(pid >= 0)
		TH_LOG("fork: %m");
	if (!pid)
		_exit(nonowner_calls(_metadata, fd, "forked child") ?
		      KSFT_PASS : KSFT_FAIL);
	ASSERT_TRUE(waitpid(pid, &status, 0) == pid)
		TH_LOG("waitpid: %m");
	ASSERT_TRUE(WIFEXITED(status))
		TH_LOG("child died");
	ASSERT_EQ(KSFT_PASS, WEXITSTATUS(status));
	ASSERT_TRUE(!ioctl(fd, VHX_BLK_GET_CONFIG, &c))
		TH_LOG("owner: GET_CONFIG: %m");
	ASSERT_TRUE(blk_is_zero(c.serial, sizeof(c.serial)) ||
		    memcmp(c.serial, "not-the-owner", 13))
		TH_LOG("a non-owner set the serial");
	close(fd);
}

/* ---- SET_BACKEND atomicity ------------------------------------------ */

#define ATOM_NQ		8	/* queue ATOM_NQ - 1 is the bad one */
#define ATOM_WRITES	4

TEST(set_backend_atomic)
{
	struct blk_cfg cfg = { .nq = ATOM_NQ, .num = 16, .no_backend = true };
	struct vhxg_vq *bq;
	struct blk_dev b;
	uint8_t *outside, *data;
	unsigned int q, i, used = 0;
	bool zero = false;
	int fd = blk_tmpfile(4 << 20), ret;

	ASSERT_LE(0, fd);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, -1));
	data = blk_buf(&b, ATOM_NQ * ATOM_WRITES * 4096, 0);
	ASSERT_TRUE(data)
		TH_LOG("arena full");
	for (q = 0; q < ATOM_NQ - 1; q++) {
		for (i = 0; i < ATOM_WRITES; i++) {
			unsigned int k = q * ATOM_WRITES + i;
			struct vhxg_buf d = { data + k * 4096, 4096 };

			blk_pattern(d.addr, 4096, 200 + k, (uint64_t)k * 4096);
			ASSERT_LE(0, blk_post(&b, q, VIRTIO_BLK_T_OUT, k * 8,
					      &d, 1,
					      NULL, 0, 0));
		}
		ASSERT_LE(0, blk_kick(&b, q));
	}
	/* The last queue's rings: real memory, not in the memory table. */
	bq = &b.dev.vqs[ATOM_NQ - 1];
	outside = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(outside != MAP_FAILED)
		TH_LOG("mmap: %m");
	ASSERT_LE(0, vhxg_set_vring_addr(&b.dev, ATOM_NQ - 1,
					 (uintptr_t)outside,
					 (uintptr_t)outside + 16384,
					 (uintptr_t)outside + 32768, 0));
	ret = blk_set_backend(&b, fd);
	ASSERT_TRUE(ret < 0)
		TH_LOG("SET_BACKEND with a ring outside memory succeeded");
	TH_LOG("SET_BACKEND: %s", strerror(-ret));
	usleep(QUIET_MS * 1000);
	for (q = 0; q < ATOM_NQ - 1; q++)
		used += (uint16_t)(b.dev.vqs[q].used->idx);
	range_is_zero(_metadata, fd, 0, ATOM_NQ * ATOM_WRITES * 4096, &zero);
	ASSERT_TRUE(!used)
		TH_LOG("%u requests completed by a failed SET_BACKEND", used);
	ASSERT_TRUE(zero)
		TH_LOG("a failed SET_BACKEND wrote to the backend");

	/* Fixed: every request runs, the last queue works. */
	ASSERT_LE(0, vhxg_set_vring_addr(&b.dev, ATOM_NQ - 1,
					 (uintptr_t)bq->desc,
					 (uintptr_t)bq->avail, (uintptr_t)bq->used,
					 0));
	ASSERT_LE(0, blk_set_backend(&b, fd));
	for (q = 0; q < ATOM_NQ - 1; q++) {
		ASSERT_LE(0, vhxg_vq_kick_force(&b.dev.vqs[q]));
		for (i = 0; i < ATOM_WRITES; i++) {
			struct vhxg_used u;

			ASSERT_TRUE(blk_wait_one(&b, q, &u) == 1)
				TH_LOG("queue %u: request %u never completed", q, i);
			ASSERT_TRUE(blk_status(&b, q, u.id) == VIRTIO_BLK_S_OK)
				TH_LOG("queue %u: status %u", q,
				       blk_status(&b, q, u.id));
		}
	}
	for (i = 0; i < (ATOM_NQ - 1) * ATOM_WRITES; i++) {
		ASSERT_TRUE(pread(fd, data, 4096, (uint64_t)i * 4096) == 4096)
			TH_LOG("pread: %m");
		ASSERT_TRUE(!blk_check_pattern(data, 4096, 200 + i,
					       (uint64_t)i * 4096))
			TH_LOG("write %u did not reach the backend", i);
	}
	ASSERT_TRUE(write_4k(&b, 0, 9) == VIRTIO_BLK_S_OK)
		TH_LOG("queue 0 write");
	{
		uint8_t *id = blk_buf(&b, VHX_BLK_SERIAL_LEN, 0);

		ASSERT_TRUE(blk_do(&b, ATOM_NQ - 1, VIRTIO_BLK_T_GET_ID, 0, id,
				   VHX_BLK_SERIAL_LEN, NULL) == VIRTIO_BLK_S_OK)
			TH_LOG("last queue GET_ID");
	}
	blk_dev_close(&b);
	munmap(outside, 65536);
	close(fd);
}

/* ---- adaptive polling --------------------------------------------------- */

#define POLL_REQS	200

/*
 * Kicks the second half of POLL_REQS reads of 4 KiB took, one at a time,
 * each posted as soon as the previous one was used.
 */
static void poll_kicks(struct __test_metadata *_metadata, int backend,
		       unsigned long window_ns, uint64_t *kicks)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	uint64_t k0 = 0;
	unsigned int i;
	void *buf;
	int st;

	ASSERT_LE(0, vhx_param_set("poll_max_ns", window_ns));
	ASSERT_LE(0, blk_dev_open(&b, &cfg, backend));
	buf = blk_buf(&b, 4096, 0);
	ASSERT_TRUE(buf)
		TH_LOG("arena full");
	for (i = 0; i < POLL_REQS; i++) {
		if (i == POLL_REQS / 2)
			k0 = b.dev.vqs[0].kicks;
		st = blk_do(&b, 0, VIRTIO_BLK_T_IN, (i % 64) * 8, buf, 4096,
			    NULL);
		ASSERT_TRUE(st == VIRTIO_BLK_S_OK)
			TH_LOG("read %u: status %d", i, st);
	}
	*kicks = b.dev.vqs[0].kicks - k0;
	blk_dev_close(&b);
}

/* Kicks without polling and with a long window: see tc_poll_reaps(). */
static void poll_compare(struct __test_metadata *_metadata, const char *what,
			 int backend)
{
	uint64_t off, on;

	poll_kicks(_metadata, backend, 0, &off);
	poll_kicks(_metadata, backend, 50000000, &on);
	TH_LOG("%s: %u reads one by one: %llu kicks without polling, %llu with",
	       what, POLL_REQS / 2, (unsigned long long)off,
	       (unsigned long long)on);
	ASSERT_TRUE(off >= POLL_REQS / 2 * 9 / 10)
		TH_LOG("%s: control: only %llu kicks without polling", what,
		       (unsigned long long)off);
	ASSERT_TRUE(on <= POLL_REQS / 2 / 4)
		TH_LOG("%s: %llu kicks while polling",
		       what, (unsigned long long)on);
}

/*
 * vhx's poll_max_ns and hold_max_ns as they were before the test, and
 * the null_blk a test made removed, whatever the test did.
 */
FIXTURE(params) {
	unsigned long poll_max_ns, hold_max_ns;
	struct nullb n;
	bool nullb_made;
};

FIXTURE_SETUP(params)
{
	ASSERT_LE(0, vhx_param_get("poll_max_ns", &self->poll_max_ns));
	ASSERT_LE(0, vhx_param_get("hold_max_ns", &self->hold_max_ns));
}

FIXTURE_TEARDOWN_PARENT(params)
{
	if (self->nullb_made)
		EXPECT_LE(0, nullb_destroy(&self->n));
	EXPECT_LE(0, vhx_param_set("poll_max_ns", self->poll_max_ns));
	EXPECT_LE(0, vhx_param_set("hold_max_ns", self->hold_max_ns));
}

/*
 * A polling queue reports completions and takes the guest's next request
 * without a kick, whether the backend completes inline (a tmpfs file) or
 * later, from a timer (null_blk, irqmode=2, 200 us).  The window is far
 * longer than a host's default because a TCG round trip is.
 */
TEST_F(params, poll_reaps)
{
	static const char *const attrs[] = {
		"size=64", "memory_backed=0", "irqmode=2",
		"completion_nsec=200000", NULL };
	int fd, ret;

	fd = blk_tmpfile(1 << 20);
	ASSERT_LE(0, fd);
	poll_compare(_metadata, "tmpfs file", fd);
	close(fd);
	ret = nullb_create(&self->n, "vhxfixpoll", attrs);
	if (ret)
		SKIP(return, "cannot make a null_blk: %s", strerror(-ret));
	self->nullb_made = true;
	fd = open(self->n.path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd)
		TH_LOG("open %s: %m", self->n.path);
	poll_compare(_metadata, "null_blk, timer", fd);
	close(fd);
}

/* ---- holding calls ------------------------------------------------------ */

#define HOLD_REQS	2048
#define HOLD_MEASURED	512	/* the last ones: a window is found by probes */
#define HOLD_GAP_NS	200000	/* between the driver's requests */

/* Reap what is used, checking each status; the count reaped, or -1. */
static int hold_reap(struct blk_dev *b)
{
	struct vhxg_used u[64];
	int n, i;

	n = vhxg_vq_reap(&b->dev.vqs[0], u, 64);
	for (i = 0; i < n; i++) {
		if (blk_status(b, 0, u[i].id) != VIRTIO_BLK_S_OK) {
			ksft_print_msg("request %u: status %u\n", u[i].id,
				       blk_status(b, 0, u[i].id));
			return -1;
		}
	}
	return n;
}

static void pin_one(const char *dir, void *arg)
{
	const char *prefix = arg;
	char path[640], buf[64];
	cpu_set_t cpus;

	snprintf(path, sizeof(path), "%s/comm", dir);
	if (read_file(path, buf, sizeof(buf)) ||
	    strncmp(buf, prefix, strlen(prefix)))
		return;
	CPU_ZERO(&cpus);
	CPU_SET(1, &cpus);
	sched_setaffinity(atoi(strrchr(dir, '/') + 1), sizeof(cpus), &cpus);
}

/*
 * A holding worker lets go as soon as another task wants its CPU, so a
 * driver spinning on the same CPU would end every hold: the driver runs
 * on CPU 0, our vhx-blk workers on CPU 1.
 */
static int pin_apart(void)
{
	char prefix[32];
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 ||
	    sched_setaffinity(0, sizeof(cpus), &cpus))
		return -errno ?: -ENODEV;
	snprintf(prefix, sizeof(prefix), "vhx-blk-%d.", (int)getpid());
	leak_for_each_task(pin_one, prefix);
	return 0;
}

/*
 * HOLD_REQS reads, one every HOLD_GAP_NS, each kicked if the device asks
 * for kicks, reaping completions in between as a guest's interrupt
 * handler would (interrupts always enabled, no EVENT_IDX): the calls the
 * device made for the last HOLD_MEASURED.
 */
static void hold_calls(struct __test_metadata *_metadata, int backend,
		       unsigned long max_ns, uint64_t *calls)
{
	struct blk_cfg cfg = { .features = BLK_ACK &
					   ~F(VIRTIO_RING_F_EVENT_IDX) };
	struct vhxg_vq *vq;
	struct blk_dev b;
	unsigned int i, done = 0;
	uint64_t c0 = 0, t;
	struct vhxg_buf buf;
	int n;

	ASSERT_LE(0, vhx_param_set("hold_max_ns", max_ns));
	ASSERT_LE(0, blk_dev_open(&b, &cfg, backend));
	vq = &b.dev.vqs[0];
	/* The worker exists once the queue ran. */
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_GET_ID, 0,
			   blk_buf(&b, VHX_BLK_SERIAL_LEN, 0), VHX_BLK_SERIAL_LEN,
			   NULL) == VIRTIO_BLK_S_OK)
		TH_LOG("GET_ID");
	ASSERT_LE(0, pin_apart());
	buf = (struct vhxg_buf){ blk_buf(&b, 4096, 0), 4096 };
	ASSERT_TRUE(buf.addr)
		TH_LOG("arena full");
	for (i = 0; i < HOLD_REQS; i++) {
		if (i == HOLD_REQS - HOLD_MEASURED) {
			vhxg_vq_wait_call(vq, 0);
			c0 = vq->calls;
		}
		t = now_ns() + HOLD_GAP_NS;
		/* A device slower than the pace makes it wait. */
		while (vq->num_free < 3) {
			ASSERT_TRUE(vhxg_vq_wait_used(vq, WAIT_MS) == 1)
				TH_LOG("ring full, nothing used");
			n = hold_reap(&b);
			ASSERT_TRUE(n >= 0)
				TH_LOG("request failed");
			done += n;
		}
		ASSERT_TRUE(blk_post(&b, 0, VIRTIO_BLK_T_IN, (i % 64) * 8, NULL,
				     0, &buf, 1, 0) >= 0)
			TH_LOG("request %u", i);
		ASSERT_LE(0, blk_kick(&b, 0));
		do {
			n = hold_reap(&b);
			ASSERT_TRUE(n >= 0)
				TH_LOG("request failed");
			done += n;
		} while (now_ns() < t);
	}
	while (done < HOLD_REQS) {
		ASSERT_TRUE(vhxg_vq_wait_used(vq, WAIT_MS) == 1)
			TH_LOG("%u of %u requests never completed",
			       HOLD_REQS - done, HOLD_REQS);
		n = hold_reap(&b);
		ASSERT_TRUE(n >= 0)
			TH_LOG("request failed");
		done += n;
	}
	/* The last completions come with a call, not only to a poller. */
	ASSERT_TRUE(vhxg_vq_wait_call(vq, WAIT_MS) == 1 ||
		    vq->calls > c0)
		TH_LOG("no call for the last completions");
	vhxg_vq_wait_call(vq, 0);
	*calls = vq->calls - c0;
	blk_dev_close(&b);
}

/*
 * A request at a time: no call is held, so holding costs such a guest
 * nothing.  The window allowed is huge: one held call would show.
 */
static void hold_qd1(struct __test_metadata *_metadata, int backend)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	uint64_t t0, took;
	unsigned int i;
	void *buf;
	int st;

	ASSERT_LE(0, vhx_param_set("hold_max_ns", 200000000));
	ASSERT_LE(0, blk_dev_open(&b, &cfg, backend));
	buf = blk_buf(&b, 4096, 0);
	ASSERT_TRUE(buf)
		TH_LOG("arena full");
	t0 = now_ns();
	for (i = 0; i < 100; i++) {
		st = blk_do(&b, 0, VIRTIO_BLK_T_IN, (i % 64) * 8, buf, 4096,
			    NULL);
		ASSERT_TRUE(st == VIRTIO_BLK_S_OK)
			TH_LOG("read %u: status %d", i, st);
	}
	took = now_ns() - t0;
	blk_dev_close(&b);
	TH_LOG("100 reads one at a time: %llu ms",
	       (unsigned long long)took / 1000000);
	ASSERT_TRUE(took < 2000000000ULL)
		TH_LOG("calls held: 100 reads took %llu ms",
		       (unsigned long long)took / 1000000);
}

/*
 * A guest that goes on submitting while its requests complete gets its
 * completions in fewer calls than requests; one that waits for each gets
 * each call at once; a call held always comes.  Windows sized for TCG.
 */
TEST_F(params, call_hold)
{
	uint64_t off = 0, on = 0;
	int fd;

	fd = blk_tmpfile(1 << 20);
	ASSERT_LE(0, fd);
	hold_calls(_metadata, fd, 0, &off);
	hold_calls(_metadata, fd, 20000000, &on);
	hold_qd1(_metadata, fd);
	close(fd);
	TH_LOG("%u reads %u us apart: %llu calls unheld, %llu held",
	       HOLD_MEASURED, HOLD_GAP_NS / 1000, (unsigned long long)off,
	       (unsigned long long)on);
	ASSERT_TRUE(off >= HOLD_MEASURED / 2)
		TH_LOG("control: only %llu calls unheld",
		       (unsigned long long)off);
	ASSERT_TRUE(on <= HOLD_MEASURED / 8)
		TH_LOG("%llu calls while holding",
		       (unsigned long long)on);
}


VHX_TEST_MAIN("/dev/vhx-blk")
