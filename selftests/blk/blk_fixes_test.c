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

#include "ktap.h"		/* until it moves to the harness */
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
	const char *node = kt_dev ? kt_dev : "/dev/vhx-blk";

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
	const char *node = kt_dev ? kt_dev : "/dev/vhx-blk";

	if (!p->saved)
		return;
	if (chown(node, p->st.st_uid, p->st.st_gid) ||
	    chmod(node, p->st.st_mode & 07777))
		kt_diag("cannot restore %s: %m", node);
	p->saved = false;
}

/* Run fn(arg) in a child that is uid/gid NOBODY; its verdict. */
static int run_as_nobody(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	KT_ASSERT(pid >= 0, "fork: %m");
	if (!pid) {
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY)) {
			kt_diag("cannot become %d: %m", NOBODY);
			_exit(KT_FAIL);
		}
		status = fn(arg);
		fflush(stdout);
		_exit(status);
	}
	KT_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid: %m");
	KT_ASSERT(WIFEXITED(status), "child died (status %#x)", status);
	return WEXITSTATUS(status);
}

/* A directory only root writes to, its files reachable for NOBODY. */
static int make_dir(char *dir)
{
	KT_ASSERT(mkdtemp(dir), "mkdtemp: %m");
	KT_ASSERT(!chmod(dir, 0755), "chmod: %m");
	return KT_PASS;
}

/* A sparse file of @bytes owned by NOBODY with @mode. */
static int make_nobody_file(const char *path, uint64_t bytes, mode_t mode)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	KT_ASSERT(fd >= 0, "create %s: %m", path);
	KT_ASSERT(!ftruncate(fd, bytes), "ftruncate: %m");
	/* chown clears S_ISUID: chmod after. */
	KT_ASSERT(!fchown(fd, NOBODY, NOBODY), "fchown: %m");
	KT_ASSERT(!fchmod(fd, mode), "fchmod: %m");
	close(fd);
	return KT_PASS;
}

static int range_is_zero(int fd, uint64_t off, size_t len, bool *zero)
{
	uint8_t *buf = malloc(len);

	KT_ASSERT(buf, "malloc");
	KT_ASSERT(pread(fd, buf, len, off) == (ssize_t)len, "pread: %m");
	*zero = blk_is_zero(buf, len);
	free(buf);
	return KT_PASS;
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
static int overrun_one(int fd, unsigned int num)
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

	KT_OK(blk_dev_open(&b, &cfg, -1));
	vq = &b.dev.vqs[0];
	area = blk_buf(&b, used_bytes + CANARY_BYTES, 0);
	status = blk_buf(&b, num, STATUS_NONE);
	req = blk_buf(&b, num * sizeof(*req), 0);
	ind = blk_buf(&b, 2 * num * sizeof(*ind), 0);
	KT_ASSERT(area && status && req && ind, "arena full");
	canary = area + used_bytes;
	memset(canary, CANARY, CANARY_BYTES);
	vq->used = (struct vring_used *)area;
	vhxg_vq_rewind(vq, OVR_BASE);
	KT_OK(vhxg_set_vring_base(&b.dev, 0, OVR_BASE));
	KT_OK(vhxg_set_vring_addr(&b.dev, 0, (uintptr_t)vq->desc,
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
	KT_OK(blk_set_backend(&b, fd));
	for (h = 0; h < num; h++)
		vhxg_vq_put_avail(vq, h);
	vhxg_vq_publish(vq);
	KT_OK(vhxg_vq_kick_force(vq));

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
			kt_diag("num %u: canary byte %zu is %#x", num, i,
				canary[i]);
	kt_diag("num %u: %u requests re-posted, used idx +%u, ERR %s, %zu canary bytes changed",
		num, done, (uint16_t)(used_idx - OVR_BASE), err ? "yes" : "no",
		bad);
	blk_dev_close(&b);
	KT_ASSERT(!bad, "num %u: used entries written past the ring", num);
	KT_ASSERT(!stalled || err, "num %u: device stalled without ERR", num);
	return KT_PASS;
}

static int tc_used_ring_overrun(void)
{
	unsigned int num;
	int fd = blk_tmpfile(4 << 20), ret = KT_PASS;

	KT_OK(fd);
	for (num = 1; num <= 32 && ret == KT_PASS; num *= 2)
		ret = overrun_one(fd, num);
	close(fd);
	return ret;
}

/*
 * A head re-posted while the device still holds it: the queue stops.
 * Head 0 is a WRITE_ZEROES of 16 MiB of a tmpfs file (zeroed page by
 * page), posted twice in one batch.
 */
static int tc_inflight_repost(void)
{
	struct blk_cfg cfg = { .num = 4 };
	struct virtio_blk_discard_write_zeroes *s;
	struct vhxg_vq *vq;
	struct vhxg_buf buf;
	struct blk_dev b;
	int fd = blk_tmpfile(16 << 20), head;

	KT_OK(fd);
	KT_OK(blk_dev_open(&b, &cfg, fd));
	vq = &b.dev.vqs[0];
	s = blk_buf(&b, sizeof(*s), 0);
	KT_ASSERT(s, "arena full");
	s->sector = 0;
	s->num_sectors = (16 << 20) / SECTOR;
	s->flags = 0;
	buf = (struct vhxg_buf){ s, sizeof(*s) };
	head = blk_post(&b, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, &buf, 1, NULL, 0,
			0);
	KT_OK(head);
	vhxg_vq_put_avail(vq, head);
	KT_OK(blk_kick(&b, 0));
	KT_ASSERT(vhxg_vq_wait_err(vq, WAIT_MS) == 1,
		  "head %d taken twice: no ERR eventfd", head);
	blk_dev_close(&b);
	close(fd);
	return KT_PASS;
}

/* ---- #3: the owner's credentials ------------------------------------ */

struct cred_arg {
	const char *path;
	uint64_t sector;	/* where the device writes */
	int want;		/* status it must report */
	int own_errno;		/* the owner's own pwrite there fails so */
	uint64_t fsize;		/* RLIMIT_FSIZE, 0: leave */
};

static int cred_child(void *p)
{
	struct cred_arg *a = p;
	struct blk_cfg cfg = {};
	struct blk_dev b;
	char buf[4096];
	int fd, st;

	if (a->fsize) {
		struct rlimit rl = { a->fsize, a->fsize };

		signal(SIGXFSZ, SIG_IGN);
		KT_ASSERT(!setrlimit(RLIMIT_FSIZE, &rl), "setrlimit: %m");
	}
	fd = open(a->path, O_RDWR | O_CLOEXEC);
	KT_ASSERT(fd >= 0, "open %s as %d: %m", a->path, NOBODY);
	if (a->own_errno) {
		/* The reference: what the owner's own write gets. */
		memset(buf, 0x5a, sizeof(buf));
		KT_ASSERT(pwrite(fd, buf, sizeof(buf),
				 a->sector * SECTOR + 8192) < 0 &&
			  errno == a->own_errno,
			  "own pwrite did not fail with %s: %m",
			  strerror(a->own_errno));
	}
	KT_OK(blk_dev_open(&b, &cfg, fd));
	st = write_4k(&b, a->sector, 77);
	kt_diag("write at sector %llu as uid %d: status %d",
		(unsigned long long)a->sector, NOBODY, st);
	KT_ASSERT(st == a->want, "status %d, want %d", st, a->want);
	blk_dev_close(&b);
	close(fd);
	return KT_PASS;
}

static int tc_cred_fsize(void)
{
	char dir[] = "/tmp/vhx-cred.XXXXXX", path[64];
	struct cred_arg a = { path, (2 << 20) / SECTOR, VIRTIO_BLK_S_IOERR,
			      EFBIG, 1 << 20 };
	struct node_perm np;
	struct stat st;
	bool zero = false;
	int ret, fd;

	KT_RUN(make_dir(dir));
	snprintf(path, sizeof(path), "%s/disk", dir);
	KT_RUN(make_nobody_file(path, 8 << 20, 0644));
	KT_OK(node_open_to_nobody(&np));
	ret = run_as_nobody(cred_child, &a);
	node_restore(&np);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	KT_ASSERT(fd >= 0, "open: %m");
	KT_RUN(range_is_zero(fd, 2 << 20, 4096, &zero));
	KT_ASSERT(!fstat(fd, &st), "fstat: %m");
	close(fd);
	unlink(path);
	rmdir(dir);
	KT_ASSERT(zero, "data at 2 MiB, past the owner's RLIMIT_FSIZE");
	KT_ASSERT(st.st_size == 8 << 20, "size %lld", (long long)st.st_size);
	return ret;
}

static int tc_cred_suid(void)
{
	char dir[] = "/tmp/vhx-cred.XXXXXX", path[64];
	struct cred_arg a = { path, 0, VIRTIO_BLK_S_OK, 0, 0 };
	struct node_perm np;
	struct stat st;
	int ret;

	KT_RUN(make_dir(dir));
	snprintf(path, sizeof(path), "%s/disk", dir);
	KT_RUN(make_nobody_file(path, 1 << 20, 04755));
	KT_ASSERT(!stat(path, &st) && (st.st_mode & S_ISUID), "no S_ISUID");
	KT_OK(node_open_to_nobody(&np));
	ret = run_as_nobody(cred_child, &a);
	node_restore(&np);
	KT_ASSERT(!stat(path, &st), "stat: %m");
	unlink(path);
	rmdir(dir);
	KT_RUN(ret);
	KT_ASSERT(!(st.st_mode & S_ISUID),
		  "S_ISUID survived a write by the non-root owner (mode %o)",
		  st.st_mode & 07777);
	return KT_PASS;
}

/* Fill the fs as root until only the root reserve is left. */
static int eat_free_space(const char *mnt)
{
	char path[96];
	struct statvfs sv;
	struct stat st;
	uint64_t bytes;
	int fd, i;

	snprintf(path, sizeof(path), "%s/filler", mnt);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	KT_ASSERT(fd >= 0, "create filler: %m");
	for (i = 0; i < 8; i++) {
		KT_ASSERT(!fsync(fd) && !statvfs(mnt, &sv), "statvfs: %m");
		if (!sv.f_bavail)
			break;
		bytes = (uint64_t)sv.f_bavail * sv.f_bsize;
		KT_ASSERT(!fstat(fd, &st), "fstat: %m");
		if (fallocate(fd, 0, st.st_size, bytes))
			KT_ASSERT(!fallocate(fd, 0, st.st_size, bytes / 2),
				  "fallocate: %m");
	}
	close(fd);
	sync();
	KT_ASSERT(!statvfs(mnt, &sv), "statvfs: %m");
	kt_diag("ext4: %llu blocks free, %llu available to non-root",
		(unsigned long long)sv.f_bfree,
		(unsigned long long)sv.f_bavail);
	KT_ASSERT(!sv.f_bavail, "still %llu blocks available",
		  (unsigned long long)sv.f_bavail);
	KT_ASSERT((uint64_t)sv.f_bfree * sv.f_bsize >= (1 << 20),
		  "no reserve left");
	return KT_PASS;
}

static int tc_cred_reserve(void)
{
	char dir[] = "/tmp/vhx-resv.XXXXXX", path[64];
	struct cred_arg a = { path, (2 << 20) / SECTOR, VIRTIO_BLK_S_IOERR,
			      ENOSPC, 0 };
	struct node_perm np;
	bool zero = false;
	int ret, fd;

	if (access("/dev/ram5", F_OK))
		return kt_skip("no /dev/ram5 (brd)");
	/* Half the blocks reserved for root. */
	if (system("mkfs.ext4 -q -F -m 50 /dev/ram5 >/dev/null 2>&1"))
		return kt_skip("mkfs.ext4 /dev/ram5 failed");
	if (system("modprobe -q ext4"))
		kt_diag("modprobe ext4 failed");
	KT_RUN(make_dir(dir));
	if (mount("/dev/ram5", dir, "ext4", 0, NULL))
		return kt_skip("cannot mount ext4: %m");
	KT_ASSERT(!chmod(dir, 0755), "chmod: %m");
	snprintf(path, sizeof(path), "%s/disk", dir);
	ret = make_nobody_file(path, 4 << 20, 0644);
	if (ret == KT_PASS)
		ret = eat_free_space(dir);
	if (ret == KT_PASS) {
		KT_OK(node_open_to_nobody(&np));
		ret = run_as_nobody(cred_child, &a);
		node_restore(&np);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (range_is_zero(fd, 2 << 20, 4096, &zero) != KT_PASS)
			zero = false;
		close(fd);
	}
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	KT_RUN(ret);
	KT_ASSERT(zero, "the non-root owner's write used the root reserve");
	return KT_PASS;
}

/*
 * Mount @dev's fresh ext4 (quota feature) on @dir with user quota
 * enforced: the usrquota option, or Q_QUOTAON where that is refused.
 */
static int mount_quota(const char *dev, const char *dir)
{
	if (!mount(dev, dir, "ext4", 0, "usrquota"))
		return 0;
	kt_diag("mount -o usrquota: %m; Q_QUOTAON instead");
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
static int quota_usage(const char *dev, uint64_t *bytes)
{
	struct dqblk q = {};

	KT_ASSERT(!quotactl(QCMD(Q_GETQUOTA, USRQUOTA), dev, NOBODY,
			    (caddr_t)&q), "Q_GETQUOTA: %m");
	*bytes = q.dqb_curspace;
	return KT_PASS;
}

/* A hard block limit for NOBODY of exactly what it uses now. */
static int quota_limit_to_usage(const char *dev, uint64_t *limit)
{
	struct dqblk q = {};
	uint64_t used;

	KT_RUN(quota_usage(dev, &used));
	KT_ASSERT(used, "no blocks charged to uid %d", NOBODY);
	/* Limits are in 1 KiB quota blocks. */
	q.dqb_bhardlimit = (used + 1023) / 1024;
	q.dqb_valid = QIF_BLIMITS;
	KT_ASSERT(!quotactl(QCMD(Q_SETQUOTA, USRQUOTA), dev, NOBODY,
			    (caddr_t)&q), "Q_SETQUOTA: %m");
	*limit = q.dqb_bhardlimit * 1024;
	kt_diag("uid %d uses %llu bytes, hard limit %llu", NOBODY,
		(unsigned long long)used, (unsigned long long)*limit);
	return KT_PASS;
}

/*
 * The owner's 4 MiB file, its first MiB written by root and fsynced so
 * that quota has charged it, the owner's block limit set there: any new
 * block is over quota.
 */
static int quota_file(const char *dev, const char *path, uint64_t *limit)
{
	uint8_t *buf;
	int fd;

	KT_RUN(make_nobody_file(path, 4 << 20, 0644));
	fd = open(path, O_RDWR | O_CLOEXEC);
	KT_ASSERT(fd >= 0, "open %s: %m", path);
	buf = malloc(1 << 20);
	KT_ASSERT(buf, "malloc");
	blk_pattern(buf, 1 << 20, 31, 0);
	KT_ASSERT(pwrite(fd, buf, 1 << 20, 0) == 1 << 20, "pwrite: %m");
	free(buf);
	KT_ASSERT(!fsync(fd), "fsync: %m");
	close(fd);
	return quota_limit_to_usage(dev, limit);
}

static int tc_cred_quota(void)
{
	char dir[] = "/tmp/vhx-quota.XXXXXX", path[64];
	const char *dev = "/dev/ram7";
	struct cred_arg a = { path, (2 << 20) / SECTOR, VIRTIO_BLK_S_IOERR,
			      EDQUOT, 0 };
	uint64_t limit = 0, used = 0;
	struct node_perm np;
	bool zero = false;
	struct stat st = {};
	int ret, fd;

	if (access(dev, F_OK))
		return kt_skip("no %s (brd)", dev);
	/* No root reserve: only the quota stands in the way. */
	if (system("mkfs.ext4 -q -F -m 0 -O quota -E quotatype=usrquota "
		   "/dev/ram7 >/dev/null 2>&1"))
		return kt_skip("mkfs.ext4 -O quota %s failed", dev);
	if (system("modprobe -q ext4") || system("modprobe -q quota_v2"))
		kt_diag("modprobe ext4 quota_v2 failed");
	KT_RUN(make_dir(dir));
	ret = mount_quota(dev, dir);
	if (ret) {
		rmdir(dir);
		return kt_skip("cannot mount ext4 with quota: %s",
			       strerror(-ret));
	}
	KT_ASSERT(!chmod(dir, 0755), "chmod: %m");
	snprintf(path, sizeof(path), "%s/disk", dir);
	ret = quota_file(dev, path, &limit);
	if (ret == KT_PASS) {
		KT_OK(node_open_to_nobody(&np));
		ret = run_as_nobody(cred_child, &a);
		node_restore(&np);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (range_is_zero(fd, 2 << 20, 4096, &zero) != KT_PASS)
			zero = false;
		fsync(fd);
		fstat(fd, &st);
		close(fd);
	}
	if (ret == KT_PASS)
		ret = quota_usage(dev, &used);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	KT_RUN(ret);
	kt_diag("after: %llu bytes allocated to the file, %llu charged",
		(unsigned long long)st.st_blocks * 512,
		(unsigned long long)used);
	KT_ASSERT(zero, "the non-root owner's write went past its quota");
	KT_ASSERT((uint64_t)st.st_blocks * 512 <= limit,
		  "the file has %llu bytes allocated, the limit is %llu",
		  (unsigned long long)st.st_blocks * 512,
		  (unsigned long long)limit);
	KT_ASSERT(used <= limit, "uid %d charged %llu bytes, limit %llu",
		  NOBODY, (unsigned long long)used,
		  (unsigned long long)limit);
	return KT_PASS;
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
static int long_wz_start(struct nullb *n, const char *name,
			 struct blk_dev *b, int *fd)
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
		return kt_skip("cannot make a null_blk: %s", strerror(-ret));
	snprintf(path, sizeof(path), "/sys/block/%s/queue/write_zeroes_max_bytes",
		 n->name);
	if (!read_file(path, val, sizeof(val)))
		kt_diag("%s write_zeroes_max_bytes %s", n->name, strtok(val, "\n"));
	*fd = open(n->path, O_RDWR | O_CLOEXEC);
	KT_ASSERT(*fd >= 0, "open %s: %m", n->path);
	KT_OK(blk_dev_open(b, &cfg, *fd));
	KT_OK(blk_get_config(b, &c));
	kt_diag("write zeroes: %u segments of %u sectors",
		c.max_write_zeroes_seg, c.max_write_zeroes_sectors);
	KT_ASSERT(c.max_write_zeroes_seg && c.max_write_zeroes_seg <= 64,
		  "max_write_zeroes_seg %u", c.max_write_zeroes_seg);
	segs = blk_buf(b, c.max_write_zeroes_seg * sizeof(*segs), 0);
	KT_ASSERT(segs, "arena full");
	for (i = 0; i < c.max_write_zeroes_seg; i++) {
		segs[i].sector = (uint64_t)i * c.max_write_zeroes_sectors;
		segs[i].num_sectors = c.max_write_zeroes_sectors;
		segs[i].flags = 0;
	}
	KT_ASSERT((uint64_t)c.max_write_zeroes_seg *
		  c.max_write_zeroes_sectors <= c.capacity, "too small");
	kt_diag("WRITE_ZEROES of %llu MiB",
		(unsigned long long)c.max_write_zeroes_seg *
		c.max_write_zeroes_sectors * SECTOR >> 20);
	buf = (struct vhxg_buf){ segs,
		c.max_write_zeroes_seg * sizeof(*segs) };
	head = blk_post(b, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, &buf, 1, NULL,
			0, 0);
	KT_OK(head);
	KT_OK(blk_kick(b, 0));
	return head;
}

static void long_wz_end(struct nullb *n, struct blk_dev *b, int fd)
{
	blk_dev_close(b);
	close(fd);
	usleep(100000);
	nullb_destroy(n);
}

static int tc_long_ops(void)
{
	double t_mem, t_call, t_close;
	uint64_t t0, t_start;
	struct blk_dev b;
	struct nullb n;
	int fd, head, ret;

	head = long_wz_start(&n, "vhxfixlo", &b, &fd);
	if (head < 0)
		return head;
	t_start = now_ns();
	usleep(300000);
	KT_ASSERT(blk_status(&b, 0, head) == STATUS_NONE,
		  "WRITE_ZEROES done within 300 ms: backend too fast");

	t0 = now_ns();
	ret = vhxg_set_mem_identity(&b.dev);
	t_mem = ms_since(t0);
	KT_OK(ret);
	KT_ASSERT(blk_status(&b, 0, head) == STATUS_NONE ||
		  t_mem >= 100, "WRITE_ZEROES ended before SET_VRING_CALL");
	t0 = now_ns();
	ret = vhxg_set_vring_fd(&b.dev, VHOST_SET_VRING_CALL, 0,
				b.dev.vqs[0].call_fd);
	t_call = ms_since(t0);
	KT_OK(ret);
	if (blk_status(&b, 0, head) != STATUS_NONE)
		kt_diag("WRITE_ZEROES done after %.0f ms, status %u",
			ms_since(t_start), blk_status(&b, 0, head));
	t0 = now_ns();
	close(b.dev.fd);
	t_close = ms_since(t0);
	b.dev.fd = -1;
	kt_diag("while a WRITE_ZEROES runs: SET_MEM_TABLE %.1f ms, SET_VRING_CALL %.1f ms, close %.1f ms",
		t_mem, t_call, t_close);
	long_wz_end(&n, &b, fd);
	KT_ASSERT(t_mem < 100, "SET_MEM_TABLE took %.1f ms", t_mem);
	KT_ASSERT(t_call < 100, "SET_VRING_CALL took %.1f ms", t_call);
	KT_ASSERT(t_close < 100, "close took %.1f ms", t_close);
	return KT_PASS;
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
static int tc_slow_worker(void)
{
	struct worker_scan ws, seen = {};
	char cgroup[256];
	struct blk_dev b;
	struct nullb n;
	int fd, head, i;

	KT_ASSERT(!read_file("/proc/self/cgroup", cgroup, sizeof(cgroup)),
		  "read /proc/self/cgroup: %m");
	head = long_wz_start(&n, "vhxfixsw", &b, &fd);
	if (head < 0)
		return head;
	for (i = 0; i < 100 && blk_status(&b, 0, head) == STATUS_NONE; i++) {
		scan_workers(&ws, cgroup);
		seen.blocked += ws.blocked > 0;
		seen.tasks = ws.tasks > seen.tasks ? ws.tasks : seen.tasks;
		seen.threads = ws.threads > seen.threads ? ws.threads :
			       seen.threads;
		seen.foreign += ws.foreign;
		usleep(20000);
	}
	kt_diag("%d scans: %d with a worker of ours in D; up to %d workers, %d of them threads of ours; %d seen in another cgroup",
		i, seen.blocked, seen.tasks, seen.threads, seen.foreign);
	long_wz_end(&n, &b, fd);
	KT_ASSERT(i >= 20, "WRITE_ZEROES done after %d scans: backend too fast",
		  i);
	KT_ASSERT(seen.tasks >= 2, "%d workers: want the queue's and the slow one",
		  seen.tasks);
	KT_ASSERT(seen.blocked >= i / 2,
		  "a worker of ours waited for I/O in %d of %d scans",
		  seen.blocked, i);
	KT_ASSERT(!seen.foreign, "a worker outside the owner's cgroup");
	KT_ASSERT(!seen.threads || seen.threads == seen.tasks,
		  "%d of %d workers are threads of ours", seen.threads,
		  seen.tasks);
	return KT_PASS;
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
static int flushes_across(struct blk_dev *b, const char *name, uint32_t type,
			  uint64_t sector, long long *flushes)
{
	long long before = disk_stat(name, 15), after;

	KT_ASSERT(before >= 0, "no flush count in /sys/block/%s/stat", name);
	KT_ASSERT(dwz_one(b, type, sector, 64) == VIRTIO_BLK_S_OK,
		  "request %u failed", type);
	after = disk_stat(name, 15);
	*flushes = after - before;
	return KT_PASS;
}

static int tc_dwz_durable(void)
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
		return kt_skip("cannot make a cached null_blk: %s",
			       strerror(-ret));
	snprintf(path, sizeof(path), "/sys/block/%s/queue/write_cache", n.name);
	if (read_file(path, val, sizeof(val)) || strncmp(val, "write back", 10)) {
		nullb_destroy(&n);
		return kt_skip("null_blk has no write-back cache");
	}
	fd = open(n.path, O_RDWR | O_CLOEXEC);
	KT_ASSERT(fd >= 0, "open %s: %m", n.path);
	KT_OK(blk_dev_open(&b, &cfg, fd));
	KT_ASSERT(write_4k(&b, 128, 3) == VIRTIO_BLK_S_OK, "write");
	KT_RUN(flushes_across(&b, n.name, VIRTIO_BLK_T_WRITE_ZEROES, 128, &wz));
	KT_RUN(range_is_zero(fd, 128 * SECTOR, 4096, &zero));
	KT_RUN(flushes_across(&b, n.name, VIRTIO_BLK_T_DISCARD, 1024, &dis));
	kt_diag("FLUSH not acked: %lld flushes after WRITE_ZEROES, %lld after DISCARD",
		wz, dis);
	blk_dev_close(&b);
	close(fd);
	nullb_destroy(&n);
	KT_ASSERT(zero, "WRITE_ZEROES range not zero");
	KT_ASSERT(wz > 0, "WRITE_ZEROES completed with nothing flushed");
	KT_ASSERT(dis > 0, "DISCARD completed with nothing flushed");
	return KT_PASS;
}

static int tc_wz_no_append(void)
{
	char dir[] = "/tmp/vhx-app.XXXXXX", path[64];
	struct blk_cfg cfg = {};
	struct blk_dev b;
	struct statfs sfs;
	struct stat st;
	uint8_t *buf;
	int fd, afd, zr;

	KT_RUN(make_dir(dir));
	snprintf(path, sizeof(path), "%s/disk", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	KT_ASSERT(fd >= 0, "create: %m");
	unlink(path);
	KT_ASSERT(!fstatfs(fd, &sfs), "fstatfs: %m");
	zr = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096);
	if (!zr || errno != EOPNOTSUPP) {
		close(fd);
		rmdir(dir);
		return kt_skip("%s zeroes ranges (f_type %#lx): no fallback",
			       dir, (long)sfs.f_type);
	}
	kt_diag("f_type %#lx (tmpfs %#x): no FALLOC_FL_ZERO_RANGE",
		(long)sfs.f_type, TMPFS_MAGIC);
	buf = malloc(1 << 20);
	KT_ASSERT(buf, "malloc");
	blk_pattern(buf, 1 << 20, 21, 0);
	KT_ASSERT(pwrite(fd, buf, 1 << 20, 0) == 1 << 20, "pwrite: %m");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	afd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	KT_ASSERT(afd >= 0, "reopen O_APPEND: %m");
	KT_OK(blk_dev_open(&b, &cfg, afd));
	KT_ASSERT(dwz_one(&b, VIRTIO_BLK_T_WRITE_ZEROES, 512, 256) ==
		  VIRTIO_BLK_S_OK, "write zeroes");
	blk_dev_close(&b);
	KT_ASSERT(!fstat(fd, &st), "fstat: %m");
	KT_ASSERT(st.st_size == 1 << 20, "file grew to %lld bytes",
		  (long long)st.st_size);
	KT_ASSERT(pread(fd, buf, 1 << 20, 0) == 1 << 20, "pread: %m");
	KT_ASSERT(blk_is_zero(buf + 512 * SECTOR, 256 * SECTOR),
		  "range not zeroed");
	KT_ASSERT(!blk_check_pattern(buf, 512 * SECTOR, 21, 0),
		  "data before the range changed");
	KT_ASSERT(!blk_check_pattern(buf + 768 * SECTOR, (1 << 20) -
				     768 * SECTOR, 21, 768 * SECTOR),
		  "data after the range changed");
	free(buf);
	close(afd);
	close(fd);
	rmdir(dir);
	return KT_PASS;
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
static int guest_range(struct blk_dev *b, uint32_t seed, bool *pattern,
		       bool *zero)
{
	uint8_t *buf = blk_buf(b, DIS_LEN, 0x77);

	KT_ASSERT(buf, "arena full");
	KT_ASSERT(blk_do(b, 0, VIRTIO_BLK_T_IN, DIS_SECT, buf, DIS_LEN,
			 NULL) == VIRTIO_BLK_S_OK, "guest read");
	*pattern = !blk_check_pattern(buf, DIS_LEN, seed,
				      (uint64_t)DIS_SECT * SECTOR);
	*zero = blk_is_zero(buf, DIS_LEN);
	return KT_PASS;
}

/*
 * The page cache of the disk holds the range (written and read back
 * through a buffered host fd); a guest DISCARD of it must not leave that
 * cache stale for the host fd's next buffered read.
 */
static int tc_discard_invalidates(void)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	struct nullb n;
	bool pattern = false, zero = false, host_zero, host_stale;
	uint8_t *buf;
	int hfd, vfd, ret, st;

	ret = discard_disk(&n, "vhxfixdi");
	if (ret)
		return kt_skip("no discarding null_blk: %s", strerror(-ret));
	hfd = open(n.path, O_RDWR | O_CLOEXEC);
	vfd = open(n.path, O_RDWR | O_CLOEXEC);
	KT_ASSERT(hfd >= 0 && vfd >= 0, "open %s: %m", n.path);
	buf = malloc(DIS_LEN);
	KT_ASSERT(buf, "malloc");
	blk_pattern(buf, DIS_LEN, 41, (uint64_t)DIS_SECT * SECTOR);
	KT_ASSERT(pwrite(hfd, buf, DIS_LEN, (off_t)DIS_SECT * SECTOR) ==
		  DIS_LEN, "pwrite: %m");
	KT_ASSERT(!fsync(hfd), "fsync: %m");
	memset(buf, 0, DIS_LEN);
	KT_ASSERT(pread(hfd, buf, DIS_LEN, (off_t)DIS_SECT * SECTOR) ==
		  DIS_LEN, "pread: %m");
	KT_ASSERT(!blk_check_pattern(buf, DIS_LEN, 41,
				     (uint64_t)DIS_SECT * SECTOR),
		  "host read back the wrong data");

	KT_OK(blk_dev_open(&b, &cfg, vfd));
	KT_RUN(guest_range(&b, 41, &pattern, &zero));
	KT_ASSERT(pattern, "the guest does not see the host's write");
	st = dwz_one(&b, VIRTIO_BLK_T_DISCARD, DIS_SECT, DIS_LEN / SECTOR);
	KT_ASSERT(st == VIRTIO_BLK_S_OK, "DISCARD status %d", st);
	KT_RUN(guest_range(&b, 41, &pattern, &zero));
	KT_ASSERT(pread(hfd, buf, DIS_LEN, (off_t)DIS_SECT * SECTOR) ==
		  DIS_LEN, "pread: %m");
	host_zero = blk_is_zero(buf, DIS_LEN);
	host_stale = !blk_check_pattern(buf, DIS_LEN, 41,
					(uint64_t)DIS_SECT * SECTOR);
	kt_diag("after DISCARD: disk %s, host page cache %s",
		zero ? "zero" : pattern ? "old data" : "other",
		host_zero ? "zero" : host_stale ? "old data (stale)" : "other");
	free(buf);
	blk_dev_close(&b);
	close(vfd);
	close(hfd);
	nullb_destroy(&n);
	KT_ASSERT(zero, "the disk did not discard the range");
	KT_ASSERT(host_zero, "a buffered read after DISCARD saw %s",
		  host_stale ? "the stale cached data" : "other data");
	return KT_PASS;
}

/*
 * While another opener holds the disk exclusively (as a mounted file
 * system or md would), a guest DISCARD leaves its data alone; once the
 * holder is gone, the same DISCARD does discard.
 */
static int tc_discard_holder(void)
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
		return kt_skip("no discarding null_blk: %s", strerror(-ret));
	vfd = open(n.path, O_RDWR | O_CLOEXEC);
	KT_ASSERT(vfd >= 0, "open %s: %m", n.path);
	KT_OK(blk_dev_open(&b, &cfg, vfd));
	buf = blk_buf(&b, DIS_LEN, 0);
	KT_ASSERT(buf, "arena full");
	blk_pattern(buf, DIS_LEN, 43, (uint64_t)DIS_SECT * SECTOR);
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, DIS_SECT, buf, DIS_LEN,
			 NULL) == VIRTIO_BLK_S_OK, "guest write");
	xfd = open(n.path, O_RDWR | O_EXCL | O_CLOEXEC);
	KT_ASSERT(xfd >= 0, "open %s O_EXCL: %m", n.path);
	st = dwz_one(&b, VIRTIO_BLK_T_DISCARD, DIS_SECT, DIS_LEN / SECTOR);
	KT_RUN(guest_range(&b, 43, &pattern, &zero));
	close(xfd);
	/* The control: with no holder the same request discards. */
	st2 = dwz_one(&b, VIRTIO_BLK_T_DISCARD, DIS_SECT, DIS_LEN / SECTOR);
	KT_RUN(guest_range(&b, 43, &after_pattern, &after_zero));
	kt_diag("DISCARD while held: status %d, data %s; unheld: status %d, %s",
		st, pattern ? "intact" : zero ? "zero" : "other", st2,
		after_zero ? "zero" : "not zero");
	blk_dev_close(&b);
	close(vfd);
	nullb_destroy(&n);
	KT_ASSERT(st == VIRTIO_BLK_S_OK, "DISCARD while held: status %d", st);
	KT_ASSERT(pattern, "a DISCARD destroyed data of a disk someone else holds exclusively");
	KT_ASSERT(st2 == VIRTIO_BLK_S_OK && after_zero,
		  "no holder: DISCARD status %d, range %szero", st2,
		  after_zero ? "" : "not ");
	return KT_PASS;
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
static int tc_broken_queue(void)
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
		return kt_skip("cannot make a slow null_blk: %s",
			       strerror(-ret));
	fd = open(n.path, O_RDWR | O_CLOEXEC);
	KT_ASSERT(fd >= 0, "open %s: %m", n.path);
	KT_OK(blk_dev_open(&b, &cfg, fd));
	ro = mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_ASSERT(ro != MAP_FAILED, "mmap: %m");
	r[0] = (struct vhost_memory_region){ (uintptr_t)b.arena.base,
		b.arena.size, (uintptr_t)b.arena.base, 0 };
	r[1] = (struct vhost_memory_region){ (uintptr_t)ro, 1 << 20,
		(uintptr_t)ro, 0 };
	KT_OK(vhxg_set_mem_table(&b.dev, r, 2));

	data = blk_buf(&b, (BRK_HELD + BRK_FILL + BRK_LATE + 1) * 8192, 0);
	KT_ASSERT(data, "arena full");
	for (i = 0; i < BRK_HELD; i++) {
		struct vhxg_buf d = { data + i * 8192, 4096 };

		KT_OK(blk_post(&b, 0, VIRTIO_BLK_T_OUT, i * 16, &d, 1, NULL, 0,
			       VHXG_ADD_INDIRECT));
	}
	KT_OK(blk_kick(&b, 0));
	usleep(300000);

	/* The bad one: its own header, status in read-only memory. */
	bad = blk_buf(&b, sizeof(*bad), 0);
	KT_ASSERT(bad, "arena full");
	bad->hdr.type = VIRTIO_BLK_T_OUT;
	bad->hdr.sector = 8192;
	data += BRK_HELD * 8192 + 1;	/* misaligned from here on */
	out[0] = (struct vhxg_buf){ &bad->hdr, sizeof(bad->hdr) };
	out[1] = (struct vhxg_buf){ data, 4096 };
	in = (struct vhxg_buf){ ro + 100, 1 };
	KT_OK(vhxg_vq_add(&b.dev.vqs[0], out, 2, &in, 1, VHXG_ADD_INDIRECT));
	for (i = 0; i < BRK_FILL + BRK_LATE; i++) {
		bool is_late = i >= BRK_FILL;
		uint64_t sector = is_late ?
			BRK_LATE_SECT + (i - BRK_FILL) * 16 : 8192 + 16 + i * 16;
		struct vhxg_buf d = { data + (i + 1) * 8192, 4096 };

		blk_pattern(d.addr, 4096, 100 + i, sector * SECTOR);
		KT_OK(blk_post(&b, 0, VIRTIO_BLK_T_OUT, sector, &d, 1, NULL, 0,
			       VHXG_ADD_INDIRECT));
	}
	KT_OK(blk_kick(&b, 0));
	KT_ASSERT(vhxg_vq_wait_err(&b.dev.vqs[0], WAIT_MS) == 1,
		  "status in read-only memory: no ERR eventfd");
	usleep(100000);
	/* The device's buffered writes are in the bdev's page cache. */
	chk = malloc(4096);
	KT_ASSERT(chk, "malloc");
	for (i = 0; i < BRK_LATE; i++) {
		uint64_t sector = BRK_LATE_SECT + i * 16;

		KT_ASSERT(pread(fd, chk, 4096, sector * SECTOR) == 4096,
			  "pread: %m");
		if (!blk_is_zero(chk, 4096))
			late++;
	}
	free(chk);
	kt_diag("%u of %u writes posted after the failing one reached the backend",
		late, BRK_LATE);
	blk_dev_close(&b);
	close(fd);
	munmap(ro, 1 << 20);
	nullb_destroy(&n);
	KT_ASSERT(!late, "a stopped queue executed %u more writes", late);
	return KT_PASS;
}

/* ---- #12: struct vhx_blk_config ------------------------------------- */

#define MEMBER(m) { offsetof(struct vhx_blk_config, m),		\
		    sizeof(((struct vhx_blk_config *)0)->m), #m }

static int tc_config_layout(void)
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

	KT_OK(fd);
	KT_ASSERT(sizeof(struct vhx_blk_config) == 72, "sizeof %zu",
		  sizeof(struct vhx_blk_config));
	for (i = 0; i < KT_ARRAY_SIZE(m); i++)
		for (j = 0; j < m[i].len; j++)
			covered[m[i].off + j] = true;
	KT_OK(blk_dev_open(&b, &cfg, fd));
	memset(&u, 0xff, sizeof(u));
	KT_OK(blk_get_config(&b, &u.c));
	blk_dev_close(&b);
	close(fd);
	for (i = 0; i < sizeof(u); i++) {
		if (!covered[i]) {
			holes++;
			if (u.bytes[i])
				dirty++;
		}
	}
	KT_ASSERT(!u.c.padding, "padding %#x", u.c.padding);
	KT_ASSERT(blk_is_zero(u.c.reserved, sizeof(u.c.reserved)),
		  "reserved not zero");
	KT_ASSERT(!dirty, "%zu implicit padding bytes not zeroed", dirty);
	KT_ASSERT(!holes, "%zu bytes of implicit padding (32-bit layout differs)",
		  holes);
	return KT_PASS;
}

/* ---- #14: the default serial ---------------------------------------- */

static int serial_on(int fd, const char *what)
{
	struct blk_cfg cfg = {};
	struct vhx_blk_config c;
	struct blk_dev b;
	uint8_t *id;
	uint32_t used_len;

	KT_OK(blk_dev_open(&b, &cfg, fd));
	id = blk_buf(&b, VHX_BLK_SERIAL_LEN, 0x77);
	KT_ASSERT(id, "arena full");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_GET_ID, 0, id, VHX_BLK_SERIAL_LEN,
			 &used_len) == VIRTIO_BLK_S_OK, "GET_ID");
	KT_OK(blk_get_config(&b, &c));
	kt_diag("%s: GET_ID \"%.20s\"", what, (char *)id);
	KT_ASSERT(blk_is_zero(id, VHX_BLK_SERIAL_LEN),
		  "%s: default serial \"%.20s\" is not empty", what, (char *)id);
	KT_ASSERT(blk_is_zero(c.serial, sizeof(c.serial)),
		  "%s: GET_CONFIG serial not empty", what);
	blk_dev_close(&b);
	return KT_PASS;
}

static int tc_serial_default(void)
{
	int fd = blk_tmpfile(1 << 20);

	KT_OK(fd);
	KT_RUN(serial_on(fd, "file"));
	close(fd);
	fd = blk_open_ramdisk(5, O_RDWR, NULL);
	if (fd == -ENOENT)
		return KT_PASS;
	KT_OK(fd);
	KT_RUN(serial_on(fd, "block device"));
	close(fd);
	return KT_PASS;
}

/* ---- #16: freeze protection until completion ------------------------ */

#define FRZ_WRITES	8
#define CG_ROOT		"/sys/fs/cgroup"

struct freeze_ctx {
	const char *path;	/* the backend file */
	const char *cg;		/* the throttled cgroup */
	int to_parent, from_parent;
};

static int freeze_child(void *p)
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
	KT_OK(write_file(procs, pid));
	fd = open(x->path, O_RDWR | O_DIRECT | O_CLOEXEC);
	KT_ASSERT(fd >= 0, "open O_DIRECT: %m");
	KT_OK(blk_dev_open(&b, &cfg, fd));
	data = blk_buf(&b, FRZ_WRITES * 4096, 0);
	KT_ASSERT(data, "arena full");
	for (i = 0; i < FRZ_WRITES; i++) {
		struct vhxg_buf d = { data + i * 4096, 4096 };

		blk_pattern(d.addr, 4096, 60 + i, (uint64_t)i * 65536);
		heads[i] = blk_post(&b, 0, VIRTIO_BLK_T_OUT, i * 128, &d, 1,
				    NULL, 0, 0);
		KT_OK(heads[i]);
	}
	KT_OK(blk_kick(&b, 0));
	/* Let the worker submit them all before the freeze. */
	usleep(500000);
	used_idx = &b.dev.vqs[0].used->idx;
	KT_ASSERT(write(x->to_parent, &used_idx, sizeof(used_idx)) ==
		  sizeof(used_idx), "pipe: %m");
	KT_ASSERT(read(x->from_parent, &c, 1) == 1, "pipe: %m");
	for (i = 0; i < FRZ_WRITES; i++) {
		struct vhxg_used u;

		if (blk_wait_one(&b, 0, &u) == 1 &&
		    blk_status(&b, 0, u.id) == VIRTIO_BLK_S_OK)
			ok++;
	}
	blk_dev_close(&b);
	close(fd);
	KT_ASSERT(ok == FRZ_WRITES, "%d of %d writes completed OK", ok,
		  FRZ_WRITES);
	return KT_PASS;
}

/* The child, in a cgroup whose writes to @dev are throttled, owns it. */
static int freeze_run(const char *mnt, const char *path, const char *cg)
{
	int up[2], down[2], status, fd, mfd, memfd, i, on_disk = 0;
	uint16_t *used_idx, idx;
	char mem[32];
	struct freeze_ctx x = { path, cg, -1, -1 };
	uint8_t *buf;
	uint64_t t0;
	double t_freeze;
	pid_t pid;

	KT_ASSERT(!pipe(up) && !pipe(down), "pipe: %m");
	x.to_parent = up[1];
	x.from_parent = down[0];
	fflush(stdout);
	pid = fork();
	KT_ASSERT(pid >= 0, "fork: %m");
	if (!pid)
		_exit(freeze_child(&x));
	close(up[1]);
	close(down[0]);
	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	KT_ASSERT(fd >= 0 && mfd >= 0, "open: %m");
	KT_ASSERT(!posix_memalign((void **)&buf, 4096, 4096), "memalign");
	if (read(up[0], &used_idx, sizeof(used_idx)) != sizeof(used_idx)) {
		waitpid(pid, &status, 0);
		return WIFEXITED(status) ? WEXITSTATUS(status) : KT_FAIL;
	}
	t0 = now_ns();
	KT_ASSERT(!ioctl(mfd, FIFREEZE, 0), "FIFREEZE: %m");
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
	kt_diag("FIFREEZE took %.0f ms; when it returned %d of %d writes were on the disk, used->idx %u",
		t_freeze, on_disk, FRZ_WRITES, idx);
	KT_ASSERT(write(down[1], "t", 1) == 1, "pipe: %m");
	KT_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid: %m");
	free(buf);
	close(fd);
	close(mfd);
	close(up[0]);
	close(down[1]);
	KT_ASSERT(WIFEXITED(status), "child died (status %#x)", status);
	KT_RUN(WEXITSTATUS(status));
	KT_ASSERT(on_disk == FRZ_WRITES,
		  "the fs froze with %d direct writes in flight",
		  FRZ_WRITES - on_disk);
	return KT_PASS;
}

static int tc_freeze(void)
{
	char dir[] = "/tmp/vhx-frz.XXXXXX", path[64], cg[96], file[160];
	bool mounted_cg = false;
	struct stat st;
	uint8_t *buf;
	int fd, ret, i;

	if (access("/dev/ram6", F_OK))
		return kt_skip("no /dev/ram6 (brd)");
	if (access(CG_ROOT "/cgroup.controllers", F_OK)) {
		if (mount("cgroup2", CG_ROOT, "cgroup2", 0, NULL))
			return kt_skip("no cgroup2: %m");
		mounted_cg = true;
	}
	if (write_file(CG_ROOT "/cgroup.subtree_control", "+io"))
		return kt_skip("cannot enable the io controller");
	if (system("mkfs.ext4 -q -F /dev/ram6 >/dev/null 2>&1"))
		return kt_skip("mkfs.ext4 /dev/ram6 failed");
	if (system("modprobe -q ext4"))
		kt_diag("modprobe ext4 failed");
	KT_RUN(make_dir(dir));
	if (mount("/dev/ram6", dir, "ext4", 0, NULL))
		return kt_skip("cannot mount ext4: %m");
	snprintf(path, sizeof(path), "%s/disk", dir);
	/* Written blocks: the direct writes need no allocation. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	KT_ASSERT(fd >= 0, "create: %m");
	buf = malloc(1 << 20);
	KT_ASSERT(buf, "malloc");
	memset(buf, 0x11, 1 << 20);
	KT_ASSERT(pwrite(fd, buf, 1 << 20, 0) == 1 << 20, "pwrite: %m");
	KT_ASSERT(!fsync(fd), "fsync: %m");
	free(buf);
	close(fd);

	/* Two writes a second for the owner's cgroup, none for us. */
	KT_ASSERT(!stat("/dev/ram6", &st), "stat: %m");
	snprintf(cg, sizeof(cg), CG_ROOT "/vhxfrz%d", (int)getpid());
	KT_ASSERT(!mkdir(cg, 0755), "mkdir %s: %m", cg);
	snprintf(file, sizeof(file), "%s/io.max", cg);
	{
		char val[64];

		snprintf(val, sizeof(val), "%u:%u wiops=2", major(st.st_rdev),
			 minor(st.st_rdev));
		ret = write_file(file, val);
	}
	if (ret) {
		rmdir(cg);
		umount2(dir, MNT_DETACH);
		rmdir(dir);
		return kt_skip("cannot throttle: %s", strerror(-ret));
	}
	ret = freeze_run(dir, path, cg);
	/* Never leave it frozen, whatever freeze_run() got to. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		ioctl(fd, FITHAW, 0);
		close(fd);
	}
	/* The worker leaves the cgroup when it exits. */
	for (i = 0; i < 100 && rmdir(cg); i++)
		usleep(20000);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	if (mounted_cg)
		umount2(CG_ROOT, MNT_DETACH);
	return ret;
}

/* ---- #17: owner-only ioctls ----------------------------------------- */

static int nonowner_calls(int fd, const char *who)
{
	uint8_t serial[VHX_BLK_SERIAL_LEN] = "not-the-owner";
	struct vhx_blk_config c;
	int r;

	r = ioctl(fd, VHX_BLK_GET_CONFIG, &c) ? -errno : 0;
	KT_ASSERT(r == -EPERM, "%s: GET_CONFIG %d, want -EPERM", who, r);
	r = ioctl(fd, VHX_BLK_SET_SERIAL, serial) ? -errno : 0;
	KT_ASSERT(r == -EPERM, "%s: SET_SERIAL %d, want -EPERM", who, r);
	return KT_PASS;
}

static int tc_nonowner_ioctls(void)
{
	const char *node = kt_dev ? kt_dev : "/dev/vhx-blk";
	struct vhx_blk_config c;
	int fd, status;
	pid_t pid;

	fd = open(node, O_RDWR | O_CLOEXEC);
	KT_ASSERT(fd >= 0, "open: %m");
	KT_RUN(nonowner_calls(fd, "before SET_OWNER"));
	KT_ASSERT(!ioctl(fd, VHOST_SET_OWNER), "SET_OWNER: %m");
	fflush(stdout);
	pid = fork();
	KT_ASSERT(pid >= 0, "fork: %m");
	if (!pid)
		_exit(nonowner_calls(fd, "forked child"));
	KT_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid: %m");
	KT_ASSERT(WIFEXITED(status), "child died");
	KT_RUN(WEXITSTATUS(status));
	KT_ASSERT(!ioctl(fd, VHX_BLK_GET_CONFIG, &c), "owner: GET_CONFIG: %m");
	KT_ASSERT(blk_is_zero(c.serial, sizeof(c.serial)) ||
		  memcmp(c.serial, "not-the-owner", 13),
		  "a non-owner set the serial");
	close(fd);
	return KT_PASS;
}

/* ---- SET_BACKEND atomicity ------------------------------------------ */

#define ATOM_NQ		8	/* queue ATOM_NQ - 1 is the bad one */
#define ATOM_WRITES	4

static int tc_set_backend_atomic(void)
{
	struct blk_cfg cfg = { .nq = ATOM_NQ, .num = 16, .no_backend = true };
	struct vhxg_vq *bq;
	struct blk_dev b;
	uint8_t *outside, *data;
	unsigned int q, i, used = 0;
	bool zero = false;
	int fd = blk_tmpfile(4 << 20), ret;

	KT_OK(fd);
	KT_OK(blk_dev_open(&b, &cfg, -1));
	data = blk_buf(&b, ATOM_NQ * ATOM_WRITES * 4096, 0);
	KT_ASSERT(data, "arena full");
	for (q = 0; q < ATOM_NQ - 1; q++) {
		for (i = 0; i < ATOM_WRITES; i++) {
			unsigned int k = q * ATOM_WRITES + i;
			struct vhxg_buf d = { data + k * 4096, 4096 };

			blk_pattern(d.addr, 4096, 200 + k, (uint64_t)k * 4096);
			KT_OK(blk_post(&b, q, VIRTIO_BLK_T_OUT, k * 8, &d, 1,
				       NULL, 0, 0));
		}
		KT_OK(blk_kick(&b, q));
	}
	/* The last queue's rings: real memory, not in the memory table. */
	bq = &b.dev.vqs[ATOM_NQ - 1];
	outside = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_ASSERT(outside != MAP_FAILED, "mmap: %m");
	KT_OK(vhxg_set_vring_addr(&b.dev, ATOM_NQ - 1, (uintptr_t)outside,
				  (uintptr_t)outside + 16384,
				  (uintptr_t)outside + 32768, 0));
	ret = blk_set_backend(&b, fd);
	KT_ASSERT(ret < 0, "SET_BACKEND with a ring outside memory succeeded");
	kt_diag("SET_BACKEND: %s", strerror(-ret));
	usleep(QUIET_MS * 1000);
	for (q = 0; q < ATOM_NQ - 1; q++)
		used += (uint16_t)(b.dev.vqs[q].used->idx);
	KT_RUN(range_is_zero(fd, 0, ATOM_NQ * ATOM_WRITES * 4096, &zero));
	KT_ASSERT(!used, "%u requests completed by a failed SET_BACKEND", used);
	KT_ASSERT(zero, "a failed SET_BACKEND wrote to the backend");

	/* Fixed: every request runs, the last queue works. */
	KT_OK(vhxg_set_vring_addr(&b.dev, ATOM_NQ - 1, (uintptr_t)bq->desc,
				  (uintptr_t)bq->avail, (uintptr_t)bq->used,
				  0));
	KT_OK(blk_set_backend(&b, fd));
	for (q = 0; q < ATOM_NQ - 1; q++) {
		KT_OK(vhxg_vq_kick_force(&b.dev.vqs[q]));
		for (i = 0; i < ATOM_WRITES; i++) {
			struct vhxg_used u;

			KT_ASSERT(blk_wait_one(&b, q, &u) == 1,
				  "queue %u: request %u never completed", q, i);
			KT_ASSERT(blk_status(&b, q, u.id) == VIRTIO_BLK_S_OK,
				  "queue %u: status %u", q,
				  blk_status(&b, q, u.id));
		}
	}
	for (i = 0; i < (ATOM_NQ - 1) * ATOM_WRITES; i++) {
		KT_ASSERT(pread(fd, data, 4096, (uint64_t)i * 4096) == 4096,
			  "pread: %m");
		KT_ASSERT(!blk_check_pattern(data, 4096, 200 + i,
					     (uint64_t)i * 4096),
			  "write %u did not reach the backend", i);
	}
	KT_ASSERT(write_4k(&b, 0, 9) == VIRTIO_BLK_S_OK, "queue 0 write");
	{
		uint8_t *id = blk_buf(&b, VHX_BLK_SERIAL_LEN, 0);

		KT_ASSERT(blk_do(&b, ATOM_NQ - 1, VIRTIO_BLK_T_GET_ID, 0, id,
				 VHX_BLK_SERIAL_LEN, NULL) == VIRTIO_BLK_S_OK,
			  "last queue GET_ID");
	}
	blk_dev_close(&b);
	munmap(outside, 65536);
	close(fd);
	return KT_PASS;
}

/* ---- adaptive polling --------------------------------------------------- */

#define POLL_REQS	200

/*
 * Kicks the second half of POLL_REQS reads of 4 KiB took, one at a time,
 * each posted as soon as the previous one was used.
 */
static int poll_kicks(int backend, unsigned long window_ns, uint64_t *kicks)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	uint64_t k0 = 0;
	unsigned int i;
	void *buf;
	int st;

	KT_OK(vhx_param_set("poll_max_ns", window_ns));
	KT_OK(blk_dev_open(&b, &cfg, backend));
	buf = blk_buf(&b, 4096, 0);
	KT_ASSERT(buf, "arena full");
	for (i = 0; i < POLL_REQS; i++) {
		if (i == POLL_REQS / 2)
			k0 = b.dev.vqs[0].kicks;
		st = blk_do(&b, 0, VIRTIO_BLK_T_IN, (i % 64) * 8, buf, 4096,
			    NULL);
		KT_ASSERT(st == VIRTIO_BLK_S_OK, "read %u: status %d", i, st);
	}
	*kicks = b.dev.vqs[0].kicks - k0;
	blk_dev_close(&b);
	return KT_PASS;
}

/* Kicks without polling and with a long window: see tc_poll_reaps(). */
static int poll_compare(const char *what, int backend)
{
	unsigned long saved;
	uint64_t off, on;
	int v;

	KT_OK(vhx_param_get("poll_max_ns", &saved));
	v = poll_kicks(backend, 0, &off);
	if (v == KT_PASS)
		v = poll_kicks(backend, 50000000, &on);
	KT_OK(vhx_param_set("poll_max_ns", saved));
	if (v != KT_PASS)
		return v;
	kt_diag("%s: %u reads one by one: %llu kicks without polling, %llu with",
		what, POLL_REQS / 2, (unsigned long long)off,
		(unsigned long long)on);
	KT_ASSERT(off >= POLL_REQS / 2 * 9 / 10,
		  "%s: control: only %llu kicks without polling", what,
		  (unsigned long long)off);
	KT_ASSERT(on <= POLL_REQS / 2 / 4, "%s: %llu kicks while polling",
		  what, (unsigned long long)on);
	return KT_PASS;
}

/*
 * A polling queue reports completions and takes the guest's next request
 * without a kick, whether the backend completes inline (a tmpfs file) or
 * later, from a timer (null_blk, irqmode=2, 200 us).  The window is far
 * longer than a host's default because a TCG round trip is.
 */
static int tc_poll_reaps(void)
{
	static const char *const attrs[] = {
		"size=64", "memory_backed=0", "irqmode=2",
		"completion_nsec=200000", NULL };
	struct nullb n;
	int fd, v, ret;

	fd = blk_tmpfile(1 << 20);
	KT_OK(fd);
	v = poll_compare("tmpfs file", fd);
	close(fd);
	if (v != KT_PASS)
		return v;
	ret = nullb_create(&n, "vhxfixpoll", attrs);
	if (ret)
		return kt_skip("cannot make a null_blk: %s", strerror(-ret));
	fd = open(n.path, O_RDONLY | O_CLOEXEC);
	v = fd < 0 ? KT_FAIL : poll_compare("null_blk, timer", fd);
	if (fd >= 0)
		close(fd);
	ret = nullb_destroy(&n);
	return v == KT_PASS && ret ? KT_FAIL : v;
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
			kt_diag("request %u: status %u", u[i].id,
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
static int hold_calls(int backend, unsigned long max_ns, uint64_t *calls)
{
	struct blk_cfg cfg = { .features = BLK_ACK &
					   ~F(VIRTIO_RING_F_EVENT_IDX) };
	struct vhxg_vq *vq;
	struct blk_dev b;
	unsigned int i, done = 0;
	uint64_t c0 = 0, t;
	struct vhxg_buf buf;
	int n;

	KT_OK(vhx_param_set("hold_max_ns", max_ns));
	KT_OK(blk_dev_open(&b, &cfg, backend));
	vq = &b.dev.vqs[0];
	/* The worker exists once the queue ran. */
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_GET_ID, 0,
			 blk_buf(&b, VHX_BLK_SERIAL_LEN, 0), VHX_BLK_SERIAL_LEN,
			 NULL) == VIRTIO_BLK_S_OK, "GET_ID");
	KT_OK(pin_apart());
	buf = (struct vhxg_buf){ blk_buf(&b, 4096, 0), 4096 };
	KT_ASSERT(buf.addr, "arena full");
	for (i = 0; i < HOLD_REQS; i++) {
		if (i == HOLD_REQS - HOLD_MEASURED) {
			vhxg_vq_wait_call(vq, 0);
			c0 = vq->calls;
		}
		t = now_ns() + HOLD_GAP_NS;
		/* A device slower than the pace makes it wait. */
		while (vq->num_free < 3) {
			KT_ASSERT(vhxg_vq_wait_used(vq, WAIT_MS) == 1,
				  "ring full, nothing used");
			n = hold_reap(&b);
			KT_ASSERT(n >= 0, "request failed");
			done += n;
		}
		KT_ASSERT(blk_post(&b, 0, VIRTIO_BLK_T_IN, (i % 64) * 8, NULL,
				   0, &buf, 1, 0) >= 0, "request %u", i);
		KT_OK(blk_kick(&b, 0));
		do {
			n = hold_reap(&b);
			KT_ASSERT(n >= 0, "request failed");
			done += n;
		} while (now_ns() < t);
	}
	while (done < HOLD_REQS) {
		KT_ASSERT(vhxg_vq_wait_used(vq, WAIT_MS) == 1,
			  "%u of %u requests never completed",
			  HOLD_REQS - done, HOLD_REQS);
		n = hold_reap(&b);
		KT_ASSERT(n >= 0, "request failed");
		done += n;
	}
	/* The last completions come with a call, not only to a poller. */
	KT_ASSERT(vhxg_vq_wait_call(vq, WAIT_MS) == 1 ||
		  vq->calls > c0, "no call for the last completions");
	vhxg_vq_wait_call(vq, 0);
	*calls = vq->calls - c0;
	blk_dev_close(&b);
	return KT_PASS;
}

/*
 * A request at a time: no call is held, so holding costs such a guest
 * nothing.  The window allowed is huge: one held call would show.
 */
static int hold_qd1(int backend)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	uint64_t t0, took;
	unsigned int i;
	void *buf;
	int st;

	KT_OK(vhx_param_set("hold_max_ns", 200000000));
	KT_OK(blk_dev_open(&b, &cfg, backend));
	buf = blk_buf(&b, 4096, 0);
	KT_ASSERT(buf, "arena full");
	t0 = now_ns();
	for (i = 0; i < 100; i++) {
		st = blk_do(&b, 0, VIRTIO_BLK_T_IN, (i % 64) * 8, buf, 4096,
			    NULL);
		KT_ASSERT(st == VIRTIO_BLK_S_OK, "read %u: status %d", i, st);
	}
	took = now_ns() - t0;
	blk_dev_close(&b);
	kt_diag("100 reads one at a time: %llu ms",
		(unsigned long long)took / 1000000);
	KT_ASSERT(took < 2000000000ULL, "calls held: 100 reads took %llu ms",
		  (unsigned long long)took / 1000000);
	return KT_PASS;
}

/*
 * A guest that goes on submitting while its requests complete gets its
 * completions in fewer calls than requests; one that waits for each gets
 * each call at once; a call held always comes.  Windows sized for TCG.
 */
static int tc_call_hold(void)
{
	uint64_t off = 0, on = 0;
	unsigned long saved;
	int fd, v;

	fd = blk_tmpfile(1 << 20);
	KT_OK(fd);
	KT_OK(vhx_param_get("hold_max_ns", &saved));
	v = hold_calls(fd, 0, &off);
	if (v == KT_PASS)
		v = hold_calls(fd, 20000000, &on);
	if (v == KT_PASS)
		v = hold_qd1(fd);
	KT_OK(vhx_param_set("hold_max_ns", saved));
	close(fd);
	if (v != KT_PASS)
		return v;
	kt_diag("%u reads %u us apart: %llu calls unheld, %llu held",
		HOLD_MEASURED, HOLD_GAP_NS / 1000, (unsigned long long)off,
		(unsigned long long)on);
	KT_ASSERT(off >= HOLD_MEASURED / 2, "control: only %llu calls unheld",
		  (unsigned long long)off);
	KT_ASSERT(on <= HOLD_MEASURED / 8, "%llu calls while holding",
		  (unsigned long long)on);
	return KT_PASS;
}

static const struct kt_case cases[] = {
	{ "config_layout", tc_config_layout },
	{ "serial_default", tc_serial_default },
	{ "nonowner_ioctls", tc_nonowner_ioctls },
	{ "set_backend_atomic", tc_set_backend_atomic },
	{ "wz_no_append", tc_wz_no_append },
	{ "dwz_durable", tc_dwz_durable },
	{ "discard_invalidates", tc_discard_invalidates },
	{ "discard_holder", tc_discard_holder },
	{ "cred_fsize", tc_cred_fsize },
	{ "cred_suid", tc_cred_suid },
	{ "cred_reserve", tc_cred_reserve },
	{ "cred_quota", tc_cred_quota },
	{ "used_ring_overrun", tc_used_ring_overrun },
	{ "inflight_repost", tc_inflight_repost },
	{ "broken_queue", tc_broken_queue },
	{ "freeze", tc_freeze },
	{ "long_ops", tc_long_ops },
	{ "slow_worker", tc_slow_worker },
	{ "poll_reaps", tc_poll_reaps },
	{ "call_hold", tc_call_hold },
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, cases, KT_ARRAY_SIZE(cases),
		       "/dev/vhx-blk");
}
