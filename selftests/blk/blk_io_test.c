// SPDX-License-Identifier: GPL-2.0
/*
 * vhx-blk requests through the ring, checked against the backend with
 * pread/pwrite: reads, writes, scattered and indirect buffers, flush,
 * discard, write-zeroes, get-id, read-only backends, and every malformed
 * request the device must refuse without touching anything it does not
 * name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "blk_common.h"
#include "blk_slow.h"

#define FILE_BYTES	(8ULL << 20)
#define FILE_SECTORS	(FILE_BYTES / SECTOR)

/* Open the device on a fresh file of FILE_BYTES; *fd gets the file. */
static int open_file_dev(struct blk_dev *b, int *fd, uint64_t features)
{
	struct blk_cfg cfg = { .features = features };

	*fd = blk_tmpfile(FILE_BYTES);
	if (*fd < 0)
		return *fd;
	return blk_dev_open(b, &cfg, *fd);
}

static int check_file(int fd, uint64_t off, size_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);
	size_t bad;

	KT_ASSERT(buf, "malloc");
	KT_ASSERT(pread(fd, buf, len, off) == (ssize_t)len, "pread: %m");
	bad = blk_check_pattern(buf, len, seed, off);
	free(buf);
	KT_ASSERT(!bad, "backend byte %llu differs",
		  (unsigned long long)(off + bad - 1));
	return KT_PASS;
}

static int check_file_zero(int fd, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	bool zero;

	KT_ASSERT(buf, "malloc");
	KT_ASSERT(pread(fd, buf, len, off) == (ssize_t)len, "pread: %m");
	zero = blk_is_zero(buf, len);
	free(buf);
	KT_ASSERT(zero, "range at %llu is not zero", (unsigned long long)off);
	return KT_PASS;
}

static int fill_file(int fd, uint64_t off, size_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);
	ssize_t n;

	KT_ASSERT(buf, "malloc");
	blk_pattern(buf, len, seed, off);
	n = pwrite(fd, buf, len, off);
	free(buf);
	KT_ASSERT(n == (ssize_t)len, "pwrite: %m");
	KT_ASSERT(!fsync(fd), "fsync: %m");
	return KT_PASS;
}

static int tc_config(void)
{
	struct vhx_blk_config cfg;
	uint8_t serial[VHX_BLK_SERIAL_LEN] = "vhx-test-serial";
	struct blk_dev b;
	uint64_t f;
	int fd;

	KT_OK(open_file_dev(&b, &fd, 0));
	KT_OK(vhxg_get_features(&b.dev, &f));
	KT_ASSERT(f == BLK_FEATURES, "features %#llx, want %#llx",
		  (unsigned long long)f, (unsigned long long)BLK_FEATURES);
	KT_OK(blk_get_config(&b, &cfg));
	KT_ASSERT(cfg.capacity == FILE_SECTORS, "capacity %llu",
		  (unsigned long long)cfg.capacity);
	KT_ASSERT(cfg.blk_size == 512, "blk_size %u", cfg.blk_size);
	KT_ASSERT(cfg.num_queues >= 4, "num_queues %u", cfg.num_queues);
	KT_ASSERT(cfg.seg_max >= 128, "seg_max %u", cfg.seg_max);
	KT_ASSERT(!cfg.ro, "ro on a writable file");
	KT_ASSERT(cfg.max_discard_sectors && cfg.max_write_zeroes_sectors &&
		  cfg.max_discard_seg && cfg.max_write_zeroes_seg,
		  "discard/write-zeroes limits missing");
	/* Nothing about the host by default: the VMM names the disk. */
	for (size_t j = 0; j < sizeof(cfg.serial); j++)
		KT_ASSERT(!cfg.serial[j], "default serial '%.20s' not empty",
			  cfg.serial);
	KT_OK(vhxg_ioctl(&b.dev, VHX_BLK_SET_SERIAL, serial));
	KT_OK(blk_get_config(&b, &cfg));
	KT_ASSERT(!memcmp(cfg.serial, serial, sizeof(serial)), "serial not set");
	/* Detached: capacity 0. */
	KT_OK(blk_set_backend(&b, -1));
	KT_OK(blk_get_config(&b, &cfg));
	KT_ASSERT(cfg.capacity == 0, "capacity %llu after detach",
		  (unsigned long long)cfg.capacity);
	return KT_PASS;
}

static int tc_backend_errors(void)
{
	struct blk_cfg cfg = { .no_backend = true };
	struct vhxg_dev other;
	struct blk_dev b;
	int fd, wfd, pfd[2];
	char path[64];

	fd = blk_tmpfile(FILE_BYTES);
	KT_OK(fd);
	KT_OK(blk_dev_open(&b, &cfg, -1));
	KT_ASSERT(!pipe(pfd), "pipe");
	KT_ERR(blk_set_backend(&b, pfd[0]), EINVAL);
	KT_ERR(blk_set_backend(&b, b.dev.vqs[0].kick_fd), EINVAL);
	KT_ERR(blk_set_backend(&b, 12345), EBADF);
	KT_ERR(blk_set_backend(&b, -2), EBADF);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wfd = open(path, O_WRONLY);
	KT_ASSERT(wfd >= 0, "reopen write-only: %m");
	KT_ERR(blk_set_backend(&b, wfd), EBADF);
	KT_OK(blk_set_backend(&b, fd));
	KT_OK(blk_set_backend(&b, fd));
	KT_OK(blk_set_backend(&b, -1));
	KT_OK(blk_set_backend(&b, -1));
	/* Only the owner may attach. */
	KT_OK(vhxg_open(&other, kt_dev, NULL));
	KT_ERR(vhxg_ioctl(&other, VHX_BLK_SET_BACKEND, &fd), EPERM);
	vhxg_close(&other);
	return KT_PASS;
}

/* Writes through the ring land in the file; pwrites come back as reads. */
static int tc_write_read_file(void)
{
	struct blk_dev b;
	uint32_t used;
	uint8_t *buf;
	int fd, i;

	KT_OK(open_file_dev(&b, &fd, 0));
	buf = blk_buf(&b, 65536, 0);
	KT_ASSERT(buf, "arena");
	for (i = 0; i < 8; i++) {
		uint64_t sector = i * 997 % (FILE_SECTORS - 128);
		size_t len = 512 << (i % 8);

		blk_pattern(buf, len, i, sector * SECTOR);
		KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, sector, buf, len,
				 &used) == VIRTIO_BLK_S_OK, "write %d", i);
		KT_ASSERT(used == 1, "write used len %u", used);
		KT_RUN(check_file(fd, sector * SECTOR, len, i));
	}
	for (i = 0; i < 8; i++) {
		uint64_t sector = 4096 + i * 61;
		size_t len = 512 << (7 - i);

		KT_RUN(fill_file(fd, sector * SECTOR, len, 100 + i));
		memset(buf, 0xaa, len);
		KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_IN, sector, buf, len,
				 &used) == VIRTIO_BLK_S_OK, "read %d", i);
		KT_ASSERT(used == len + 1, "read used len %u for %zu", used,
			  len);
		KT_ASSERT(!blk_check_pattern(buf, len, 100 + i,
					     sector * SECTOR), "read %d data", i);
	}
	/* The last sector, and a zero-length read. */
	blk_pattern(buf, 512, 7, (FILE_SECTORS - 1) * SECTOR);
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, FILE_SECTORS - 1, buf, 512,
			 NULL) == VIRTIO_BLK_S_OK, "last sector");
	KT_RUN(check_file(fd, (FILE_SECTORS - 1) * SECTOR, 512, 7));
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_IN, 0, NULL, 0, &used) ==
		  VIRTIO_BLK_S_OK && used == 1, "empty read");
	return KT_PASS;
}

/*
 * One request over many odd-sized buffers, direct or through an indirect
 * table; @fd's backend sees exactly the concatenation.
 */
static int scattered(struct blk_dev *b, int fd, unsigned int nseg,
		     unsigned int flags, uint32_t seed)
{
	struct vhxg_buf segs[256];
	uint64_t sector = 333, off = sector * SECTOR;
	size_t total = 0, pos = 0;
	uint8_t *flat, *p;
	unsigned int i;
	int head;

	KT_ASSERT(nseg <= 256, "too many segments");
	for (i = 0; i < nseg; i++) {
		/* Odd lengths and odd addresses; the total is whole sectors. */
		size_t len = 1 + (i * 37 + seed) % 700;

		if (i == nseg - 1)
			len = (total + len + SECTOR - 1) / SECTOR * SECTOR - total;
		p = blk_buf(b, len + 8, 0);
		KT_ASSERT(p, "arena");
		segs[i] = (struct vhxg_buf){ p + 1 + i % 7, len };
		total += len;
	}
	flat = malloc(total);
	KT_ASSERT(flat, "malloc");
	blk_pattern(flat, total, seed, off);
	for (i = 0; i < nseg; i++) {
		memcpy(segs[i].addr, flat + pos, segs[i].len);
		pos += segs[i].len;
	}
	head = blk_post(b, 0, VIRTIO_BLK_T_OUT, sector, segs, nseg, NULL, 0,
			flags);
	KT_OK(head);
	KT_OK(blk_kick(b, 0));
	KT_ASSERT(blk_wait_one(b, 0, NULL) == 1, "no completion");
	KT_ASSERT(blk_status(b, 0, head) == VIRTIO_BLK_S_OK, "write status %u",
		  blk_status(b, 0, head));
	KT_RUN(check_file(fd, off, total, seed));

	/* Read it back scattered the same way, into cleared buffers. */
	for (i = 0; i < nseg; i++)
		memset(segs[i].addr, 0, segs[i].len);
	head = blk_post(b, 0, VIRTIO_BLK_T_IN, sector, NULL, 0, segs, nseg,
			flags);
	KT_OK(head);
	KT_OK(blk_kick(b, 0));
	KT_ASSERT(blk_wait_one(b, 0, NULL) == 1, "no completion");
	KT_ASSERT(blk_status(b, 0, head) == VIRTIO_BLK_S_OK, "read status");
	for (pos = 0, i = 0; i < nseg; i++) {
		KT_ASSERT(!memcmp(segs[i].addr, flat + pos, segs[i].len),
			  "segment %u differs", i);
		pos += segs[i].len;
	}
	free(flat);
	return KT_PASS;
}

/* @fd is the backend, @check_fd a buffered fd of the same data. */
static int scattered_on(int fd, int check_fd)
{
	struct blk_cfg cfg = { .num = 512, .indirect_max = 256 };
	struct blk_dev b;

	KT_OK(blk_dev_open(&b, &cfg, fd));
	KT_RUN(scattered(&b, check_fd, 200, 0, 1));
	KT_RUN(scattered(&b, check_fd, 250, VHXG_ADD_INDIRECT, 2));
	KT_RUN(scattered(&b, check_fd, 3, VHXG_ADD_INDIRECT, 3));
	blk_dev_close(&b);
	return KT_PASS;
}

static int tc_scattered_file(void)
{
	int fd = blk_tmpfile(FILE_BYTES);

	KT_OK(fd);
	return scattered_on(fd, fd);
}

static int tc_large(void)
{
	size_t len = 4 << 20;
	struct blk_dev b;
	uint8_t *buf;
	int fd;

	KT_OK(open_file_dev(&b, &fd, 0));
	buf = blk_buf(&b, len, 0);
	KT_ASSERT(buf, "arena");
	blk_pattern(buf, len, 42, 1 << 20);
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 2048, buf, len, NULL) ==
		  VIRTIO_BLK_S_OK, "large write");
	KT_RUN(check_file(fd, 1 << 20, len, 42));
	memset(buf, 0, len);
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_IN, 2048, buf, len, NULL) ==
		  VIRTIO_BLK_S_OK, "large read");
	KT_ASSERT(!blk_check_pattern(buf, len, 42, 1 << 20), "large data");
	return KT_PASS;
}

/* Write 4 KiB of pattern @seed at @sector through the device. */
static int write_seed(struct blk_dev *b, uint8_t *buf, uint64_t sector,
		      uint32_t seed)
{
	blk_pattern(buf, 4096, seed, sector * SECTOR);
	KT_ASSERT(blk_do(b, 0, VIRTIO_BLK_T_OUT, sector, buf, 4096, NULL) ==
		  VIRTIO_BLK_S_OK, "write at sector %llu",
		  (unsigned long long)sector);
	return KT_PASS;
}

/* Does the disk hold pattern @seed at @sector? 1 yes, 0 no, < 0 error. */
static int holds(struct nullb *s, uint64_t sector, uint32_t seed)
{
	uint8_t buf[4096];
	ssize_t n;
	int fd;

	fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, sizeof(buf), sector * SECTOR);
	close(fd);
	if (n != sizeof(buf))
		return n < 0 ? -errno : -EIO;
	return !blk_check_pattern(buf, sizeof(buf), seed, sector * SECTOR);
}

/*
 * FLUSH on a disk with a volatile write cache (a null_blk with cache_size,
 * which drops its cache when powered off): flushed data survives a power
 * cycle, unflushed data does not (which shows the check can see a FLUSH
 * that does nothing), and the disk counts a flush for each FLUSH.  Without
 * FLUSH acked, every write is durable by itself.
 */
static int flush_on_cache(void)
{
	struct blk_cfg wt = { .features = BLK_ACK & ~F(VIRTIO_BLK_F_FLUSH) };
	struct blk_cfg wb = {};
	unsigned long f0, f1, f2, f3;
	struct nullb s;
	struct blk_dev b;
	uint32_t used;
	uint8_t *buf;
	int fd, ret, kept, lost, wtk;

	ret = blk_slow_create_cached(&s, 16, 8);
	KT_ASSERT(!ret, "cannot make a null_blk with a write cache: %s",
		  strerror(-ret));
	fd = open(s.path, O_RDWR | O_EXCL | O_CLOEXEC);
	KT_ASSERT(fd >= 0, "open %s: %m", s.path);
	KT_OK(blk_dev_open(&b, &wb, fd));
	buf = blk_buf(&b, 4096, 0);
	KT_RUN(write_seed(&b, buf, 8, 1));
	KT_OK(blk_slow_flushes(&s, &f0));
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &used) ==
		  VIRTIO_BLK_S_OK, "flush");
	KT_ASSERT(used == 1, "flush used len %u", used);
	KT_OK(blk_slow_flushes(&s, &f1));
	KT_RUN(write_seed(&b, buf, 64, 2));
	blk_dev_close(&b);
	close(fd);
	KT_OK(blk_slow_power_cycle(&s));
	kept = holds(&s, 8, 1);
	lost = !holds(&s, 64, 2);
	kt_diag("after power off/on: flushed write %s, unflushed write %s; "
		"flushes at the disk %lu -> %lu", kept == 1 ? "kept" : "lost",
		lost ? "lost" : "kept", f0, f1);
	KT_ASSERT(kept == 1, "flushed data lost at power-off (%d)", kept);
	KT_ASSERT(lost, "unflushed data survived power-off: the cache is not "
		  "volatile, so this cannot tell a FLUSH from a no-op");
	KT_ASSERT(f1 > f0, "FLUSH did not reach the disk (%lu flushes)", f1);

	/* Write-through: no FLUSH negotiated, no FLUSH sent. */
	fd = open(s.path, O_RDWR | O_EXCL | O_CLOEXEC);
	KT_ASSERT(fd >= 0, "open %s: %m", s.path);
	KT_OK(blk_dev_open(&b, &wt, fd));
	buf = blk_buf(&b, 4096, 0);
	KT_OK(blk_slow_flushes(&s, &f2));
	KT_RUN(write_seed(&b, buf, 128, 3));
	KT_OK(blk_slow_flushes(&s, &f3));
	blk_dev_close(&b);
	close(fd);
	KT_OK(blk_slow_power_cycle(&s));
	wtk = holds(&s, 128, 3);
	kt_diag("write-through: write %s; flushes at the disk %lu -> %lu",
		wtk == 1 ? "kept" : "lost", f2, f3);
	/* (Direct writes to a disk that has FUA need no flush.) */
	KT_ASSERT(wtk == 1, "write without FLUSH acked lost at power-off "
		  "(%d)", wtk);
	KT_OK(blk_slow_destroy(&s));
	return KT_PASS;
}

static int tc_flush(void)
{
	struct blk_dev b;
	uint32_t used;
	uint8_t *buf;
	int fd;

	KT_OK(open_file_dev(&b, &fd, 0));
	buf = blk_buf(&b, 4096, 0x5a);
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 8, buf, 4096, NULL) ==
		  VIRTIO_BLK_S_OK, "write");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &used) ==
		  VIRTIO_BLK_S_OK, "flush");
	KT_ASSERT(used == 1, "flush used len %u", used);
	/* Without FLUSH acked the device is write-through; flush still ok. */
	blk_dev_close(&b);
	KT_OK(open_file_dev(&b, &fd, BLK_ACK & ~F(VIRTIO_BLK_F_FLUSH)));
	buf = blk_buf(&b, 4096, 0x5b);
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 8, buf, 4096, NULL) ==
		  VIRTIO_BLK_S_OK, "write-through write");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL) ==
		  VIRTIO_BLK_S_OK, "flush without FLUSH");
	blk_dev_close(&b);
	return flush_on_cache();
}

/* One discard/write-zeroes segment request. */
static int dwz(struct blk_dev *b, uint32_t type,
	       const struct virtio_blk_discard_write_zeroes *segs,
	       unsigned int n)
{
	size_t len = n * sizeof(*segs);
	void *p = blk_buf(b, len ? len : 1, 0);

	if (!p)
		return -ENOMEM;
	memcpy(p, segs, len);
	return blk_do(b, 0, type, 0, p, len, NULL);
}

static struct virtio_blk_discard_write_zeroes seg(uint64_t sector,
						  uint32_t n, uint32_t flags)
{
	return (struct virtio_blk_discard_write_zeroes){
		.sector = sector, .num_sectors = n, .flags = flags };
}

static int discard_write_zeroes_on(struct blk_dev *b, int fd,
				   uint64_t sectors)
{
	struct virtio_blk_discard_write_zeroes s[3];
	uint64_t base = 1024;

	/* Pattern, then zero two ranges, one with unmap; around is kept. */
	KT_RUN(fill_file(fd, base * SECTOR, 64 * SECTOR, 9));
	s[0] = seg(base + 4, 8, 0);
	s[1] = seg(base + 20, 16, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	KT_ASSERT(dwz(b, VIRTIO_BLK_T_WRITE_ZEROES, s, 2) == VIRTIO_BLK_S_OK,
		  "write zeroes");
	KT_RUN(check_file(fd, base * SECTOR, 4 * SECTOR, 9));
	KT_RUN(check_file_zero(fd, (base + 4) * SECTOR, 8 * SECTOR));
	KT_RUN(check_file(fd, (base + 12) * SECTOR, 8 * SECTOR, 9));
	KT_RUN(check_file_zero(fd, (base + 20) * SECTOR, 16 * SECTOR));
	KT_RUN(check_file(fd, (base + 36) * SECTOR, 28 * SECTOR, 9));

	/* Discard: content unspecified, neighbours kept. */
	KT_RUN(fill_file(fd, base * SECTOR, 64 * SECTOR, 10));
	s[0] = seg(base + 8, 8, 0);
	KT_ASSERT(dwz(b, VIRTIO_BLK_T_DISCARD, s, 1) == VIRTIO_BLK_S_OK,
		  "discard");
	KT_RUN(check_file(fd, base * SECTOR, 8 * SECTOR, 10));
	KT_RUN(check_file(fd, (base + 16) * SECTOR, 48 * SECTOR, 10));

	/* Refused: unmap on discard, unknown flags, past the end, empty. */
	s[0] = seg(base, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	KT_ASSERT(dwz(b, VIRTIO_BLK_T_DISCARD, s, 1) == VIRTIO_BLK_S_UNSUPP,
		  "discard with unmap");
	s[0] = seg(base, 8, 2);
	KT_ASSERT(dwz(b, VIRTIO_BLK_T_WRITE_ZEROES, s, 1) ==
		  VIRTIO_BLK_S_UNSUPP, "unknown flag");
	s[0] = seg(base, 8, 0);
	s[1] = seg(sectors - 4, 8, 0);
	KT_ASSERT(dwz(b, VIRTIO_BLK_T_WRITE_ZEROES, s, 2) ==
		  VIRTIO_BLK_S_IOERR, "write zeroes past the end");
	/* Nothing ran: the good first segment was not zeroed either. */
	KT_RUN(check_file(fd, base * SECTOR, 8 * SECTOR, 10));
	s[0] = seg(UINT64_MAX - 2, 8, 0);
	KT_ASSERT(dwz(b, VIRTIO_BLK_T_DISCARD, s, 1) == VIRTIO_BLK_S_IOERR,
		  "discard sector overflow");
	KT_ASSERT(dwz(b, VIRTIO_BLK_T_DISCARD, s, 0) == VIRTIO_BLK_S_IOERR,
		  "discard without segment");
	return KT_PASS;
}

static int tc_discard_write_zeroes_file(void)
{
	struct virtio_blk_discard_write_zeroes s[17];
	struct blk_dev b;
	unsigned int i;
	int fd;

	KT_OK(open_file_dev(&b, &fd, 0));
	KT_RUN(discard_write_zeroes_on(&b, fd, FILE_SECTORS));
	for (i = 0; i < 17; i++)
		s[i] = seg(i * 8, 8, 0);
	KT_ASSERT(dwz(&b, VIRTIO_BLK_T_WRITE_ZEROES, s, 17) ==
		  VIRTIO_BLK_S_IOERR, "more segments than max_write_zeroes_seg");
	KT_ASSERT(dwz(&b, VIRTIO_BLK_T_WRITE_ZEROES, s, 16) ==
		  VIRTIO_BLK_S_OK, "max_write_zeroes_seg segments");
	blk_dev_close(&b);

	/* Not acked: unsupported. */
	KT_OK(open_file_dev(&b, &fd, BLK_ACK & ~(F(VIRTIO_BLK_F_DISCARD) |
					       F(VIRTIO_BLK_F_WRITE_ZEROES))));
	KT_ASSERT(dwz(&b, VIRTIO_BLK_T_DISCARD, s, 1) == VIRTIO_BLK_S_UNSUPP,
		  "discard not acked");
	KT_ASSERT(dwz(&b, VIRTIO_BLK_T_WRITE_ZEROES, s, 1) ==
		  VIRTIO_BLK_S_UNSUPP, "write zeroes not acked");
	return KT_PASS;
}

static int tc_get_id(void)
{
	uint8_t serial[VHX_BLK_SERIAL_LEN] = "0123456789abcdefghij";
	struct vhx_blk_config cfg;
	struct blk_dev b;
	uint32_t used;
	uint8_t *buf;
	int fd;

	KT_OK(open_file_dev(&b, &fd, 0));
	buf = blk_buf(&b, 64, 0x77);
	KT_OK(blk_get_config(&b, &cfg));
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_GET_ID, 0, buf, 64, &used) ==
		  VIRTIO_BLK_S_OK, "get id");
	KT_ASSERT(used == VHX_BLK_SERIAL_LEN + 1, "used len %u", used);
	KT_ASSERT(!memcmp(buf, cfg.serial, VHX_BLK_SERIAL_LEN),
		  "default serial");
	KT_ASSERT(buf[VHX_BLK_SERIAL_LEN] == 0x77, "wrote past the serial");

	KT_OK(vhxg_ioctl(&b.dev, VHX_BLK_SET_SERIAL, serial));
	memset(buf, 0x77, 64);
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_GET_ID, 0, buf, 5, &used) ==
		  VIRTIO_BLK_S_OK, "short get id");
	KT_ASSERT(used == 6 && !memcmp(buf, "01234", 5) && buf[5] == 0x77,
		  "short get id: used %u", used);
	/* The serial survives a backend change once set. */
	KT_OK(blk_set_backend(&b, fd));
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_GET_ID, 0, buf, 20, &used) ==
		  VIRTIO_BLK_S_OK && used == 21 && !memcmp(buf, serial, 20),
		  "set serial");
	return KT_PASS;
}

/* A good request still works after a bad one. */
static int still_works(struct blk_dev *b, int fd)
{
	uint8_t *buf = blk_buf(b, 512, 0);

	blk_pattern(buf, 512, 77, 512 * 77);
	KT_ASSERT(blk_do(b, 0, VIRTIO_BLK_T_OUT, 77, buf, 512, NULL) ==
		  VIRTIO_BLK_S_OK, "queue dead after a bad request");
	return check_file(fd, 512 * 77, 512, 77);
}

static int tc_bad_requests(void)
{
	struct vhxg_buf out[2], in[2];
	uint8_t *buf, *hdrbuf, *status;
	struct virtio_blk_outhdr *hdr;
	struct blk_dev b;
	uint32_t used;
	struct stat st;
	int fd;

	KT_OK(open_file_dev(&b, &fd, 0));
	KT_RUN(fill_file(fd, 0, FILE_BYTES, 5));
	buf = blk_buf(&b, 8192, 0x33);
	hdrbuf = blk_buf(&b, 64, 0);
	hdr = (void *)hdrbuf;

	/* Lengths that are not whole sectors. */
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_IN, 0, buf, 100, &used) ==
		  VIRTIO_BLK_S_IOERR, "read of 100 bytes");
	KT_ASSERT(used == 1, "failed read used len %u", used);
	KT_ASSERT(buf[0] == 0x33, "failed read wrote data");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 0, buf, 513, NULL) ==
		  VIRTIO_BLK_S_IOERR, "write of 513 bytes");
	/* Past the capacity, partly or wholly, and overflowing. */
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, FILE_SECTORS, buf, 512,
			 NULL) == VIRTIO_BLK_S_IOERR, "write at capacity");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, FILE_SECTORS - 1, buf, 1024,
			 NULL) == VIRTIO_BLK_S_IOERR, "write across the end");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_IN, FILE_SECTORS - 1, buf, 1024,
			 NULL) == VIRTIO_BLK_S_IOERR, "read across the end");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 1ULL << 55, buf, 512,
			 NULL) == VIRTIO_BLK_S_IOERR, "write at 2^55");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, UINT64_MAX, buf, 512,
			 NULL) == VIRTIO_BLK_S_IOERR, "write at 2^64-1");
	KT_ASSERT(!fstat(fd, &st) && (uint64_t)st.st_size == FILE_BYTES,
		  "file size changed to %lld", (long long)st.st_size);
	/* Nothing was written anywhere by the refused writes. */
	KT_RUN(check_file(fd, 0, FILE_BYTES, 5));
	/* Unknown types. */
	KT_ASSERT(blk_do(&b, 0, 99, 0, buf, 512, &used) ==
		  VIRTIO_BLK_S_UNSUPP && used == 1, "type 99");
	KT_ASSERT(blk_do(&b, 0, 10 /* GET_LIFETIME */, 0, buf, 512,
			 NULL) == VIRTIO_BLK_S_UNSUPP, "get lifetime");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT | 0x80000000u, 0, buf, 512,
			 NULL) == VIRTIO_BLK_S_UNSUPP, "legacy barrier");

	/* A header shorter than struct virtio_blk_outhdr. */
	status = hdrbuf + 32;
	*status = STATUS_NONE;
	hdr->type = VIRTIO_BLK_T_OUT;
	hdr->sector = 0;
	out[0] = (struct vhxg_buf){ hdr, 8 };
	in[0] = (struct vhxg_buf){ status, 1 };
	KT_ASSERT(blk_do_raw(&b, 0, out, 1, in, 1, 0, status, &used) ==
		  VIRTIO_BLK_S_IOERR, "short header");
	KT_ASSERT(used == 1, "short header used len %u", used);
	/* Header split over two descriptors, status sharing the data one. */
	hdr->type = VIRTIO_BLK_T_IN;
	hdr->sector = 77;
	out[0] = (struct vhxg_buf){ hdrbuf, 5 };
	out[1] = (struct vhxg_buf){ hdrbuf + 5, 11 };
	in[0] = (struct vhxg_buf){ buf, 513 };
	buf[512] = STATUS_NONE;
	KT_ASSERT(blk_do_raw(&b, 0, out, 2, in, 1, 0, buf + 512, &used) ==
		  VIRTIO_BLK_S_OK, "any framing");
	KT_ASSERT(used == 513, "any framing used len %u", used);
	KT_ASSERT(!blk_check_pattern(buf, 512, 5, 77 * 512), "framing data");
	/* A request with data before the status in one writable buffer. */
	KT_RUN(still_works(&b, fd));
	return KT_PASS;
}

/* A chain without any writable byte stops the queue: nowhere to say. */
static int tc_no_status(void)
{
	struct virtio_blk_outhdr *hdr;
	struct vhxg_buf out;
	struct blk_dev b;
	int fd;

	KT_OK(open_file_dev(&b, &fd, 0));
	hdr = blk_buf(&b, sizeof(*hdr), 0);
	hdr->type = VIRTIO_BLK_T_FLUSH;
	out = (struct vhxg_buf){ hdr, sizeof(*hdr) };
	KT_OK(vhxg_vq_add(&b.dev.vqs[0], &out, 1, NULL, 0, 0));
	KT_OK(blk_kick(&b, 0));
	KT_ASSERT(vhxg_vq_wait_err(&b.dev.vqs[0], WAIT_MS) == 1,
		  "no ERR eventfd");
	KT_ASSERT(vhxg_vq_pending(&b.dev.vqs[0]) == 0, "used entry for it");
	return KT_PASS;
}

static int read_only_checks(struct blk_dev *b, int fd)
{
	struct virtio_blk_discard_write_zeroes s = seg(0, 8, 0);
	struct vhx_blk_config cfg;
	uint8_t *buf = blk_buf(b, 4096, 0x11);

	KT_OK(blk_get_config(b, &cfg));
	KT_ASSERT(cfg.ro == 1, "config ro %u", cfg.ro);
	KT_ASSERT(blk_do(b, 0, VIRTIO_BLK_T_OUT, 0, buf, 4096, NULL) ==
		  VIRTIO_BLK_S_IOERR, "write to read-only");
	KT_ASSERT(dwz(b, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1) ==
		  VIRTIO_BLK_S_IOERR, "write zeroes to read-only");
	KT_ASSERT(dwz(b, VIRTIO_BLK_T_DISCARD, &s, 1) == VIRTIO_BLK_S_IOERR,
		  "discard on read-only");
	KT_RUN(check_file(fd, 0, 8192, 6));
	KT_ASSERT(blk_do(b, 0, VIRTIO_BLK_T_IN, 0, buf, 4096, NULL) ==
		  VIRTIO_BLK_S_OK, "read from read-only");
	KT_ASSERT(!blk_check_pattern(buf, 4096, 6, 0), "read-only data");
	KT_ASSERT(blk_do(b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL) ==
		  VIRTIO_BLK_S_OK, "flush on read-only");
	return KT_PASS;
}

static int tc_read_only(void)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	char path[64];
	int fd, rfd;

	fd = blk_tmpfile(FILE_BYTES);
	KT_OK(fd);
	KT_RUN(fill_file(fd, 0, 8192, 6));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rfd = open(path, O_RDONLY);
	KT_ASSERT(rfd >= 0, "reopen read-only: %m");
	KT_OK(blk_dev_open(&b, &cfg, rfd));
	KT_RUN(read_only_checks(&b, fd));
	blk_dev_close(&b);
	/* RO acked makes a writable backend read-only too. */
	cfg.features = BLK_ACK | F(VIRTIO_BLK_F_RO);
	KT_OK(blk_dev_open(&b, &cfg, fd));
	KT_RUN(read_only_checks(&b, fd));
	return KT_PASS;
}

/* The same on a brd ram disk, driven with direct I/O. */
static int tc_block_device(void)
{
	struct blk_cfg cfg = {};
	struct vhx_blk_config c;
	uint64_t bytes, sectors;
	struct blk_dev b;
	uint8_t *buf;
	int fd, i;

	fd = blk_open_ramdisk(0, O_RDWR, &bytes);
	if (fd == -ENOENT)
		return kt_skip("no /dev/ram0 (brd)");
	KT_OK(fd);
	sectors = bytes / SECTOR;
	KT_ASSERT(sectors >= 4096, "ram disk of %llu bytes too small",
		  (unsigned long long)bytes);
	KT_OK(blk_dev_open(&b, &cfg, fd));
	KT_OK(blk_get_config(&b, &c));
	KT_ASSERT(c.capacity == sectors, "capacity %llu, want %llu",
		  (unsigned long long)c.capacity, (unsigned long long)sectors);
	buf = blk_buf(&b, 1 << 20, 0);
	for (i = 0; i < 6; i++) {
		uint64_t sector = (i * 1237) % (sectors - 2048);
		size_t len = 4096 << i;

		blk_pattern(buf, len, 20 + i, sector * SECTOR);
		KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, sector, buf, len,
				 NULL) == VIRTIO_BLK_S_OK, "write %d", i);
		KT_RUN(check_file(fd, sector * SECTOR, len, 20 + i));
		KT_RUN(fill_file(fd, sector * SECTOR, len, 40 + i));
		memset(buf, 0, len);
		KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_IN, sector, buf, len,
				 NULL) == VIRTIO_BLK_S_OK, "read %d", i);
		KT_ASSERT(!blk_check_pattern(buf, len, 40 + i,
					     sector * SECTOR), "read %d data",
			  i);
	}
	/* Unaligned buffers cannot go direct; they must still work. */
	blk_pattern(buf + 3, 1024, 60, 0);
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 0, buf + 3, 1024, NULL) ==
		  VIRTIO_BLK_S_OK, "unaligned write");
	KT_RUN(check_file(fd, 0, 1024, 60));
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, sectors, buf, 512, NULL) ==
		  VIRTIO_BLK_S_IOERR, "write past the end");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL) ==
		  VIRTIO_BLK_S_OK, "flush");
	KT_RUN(discard_write_zeroes_on(&b, fd, sectors));
	blk_dev_close(&b);
	return scattered_on(fd, fd);
}

static int tc_block_device_ro(void)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	int fd, rfd;

	fd = blk_open_ramdisk(0, O_RDWR, NULL);
	if (fd == -ENOENT)
		return kt_skip("no /dev/ram0 (brd)");
	KT_OK(fd);
	KT_RUN(fill_file(fd, 0, 8192, 6));
	rfd = blk_open_ramdisk(0, O_RDONLY, NULL);
	KT_OK(rfd);
	KT_OK(blk_dev_open(&b, &cfg, rfd));
	return read_only_checks(&b, fd);
}

/* Switch backends: I/O goes to the new one. */
static int tc_switch_backend(void)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	uint8_t *buf;
	int fd1, fd2;

	fd1 = blk_tmpfile(FILE_BYTES);
	fd2 = blk_tmpfile(FILE_BYTES / 2);
	KT_OK(fd1);
	KT_OK(fd2);
	KT_OK(blk_dev_open(&b, &cfg, fd1));
	buf = blk_buf(&b, 4096, 0);
	blk_pattern(buf, 4096, 1, 0);
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 0, buf, 4096, NULL) ==
		  VIRTIO_BLK_S_OK, "write 1");
	KT_OK(blk_set_backend(&b, fd2));
	close(fd2);
	blk_pattern(buf, 4096, 2, 0);
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 0, buf, 4096, NULL) ==
		  VIRTIO_BLK_S_OK, "write 2");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, FILE_SECTORS / 2, buf, 512,
			 NULL) == VIRTIO_BLK_S_IOERR, "new capacity");
	KT_RUN(check_file(fd1, 0, 4096, 1));
	/* Detached: requests wait in the ring until a backend comes. */
	KT_OK(blk_set_backend(&b, -1));
	KT_OK(blk_post(&b, 0, VIRTIO_BLK_T_IN, 0, NULL, 0,
		       &(struct vhxg_buf){ buf, 4096 }, 1, 0));
	KT_OK(blk_kick(&b, 0));
	KT_ASSERT(vhxg_vq_wait_used(&b.dev.vqs[0], QUIET_MS) == 0,
		  "served without a backend");
	/* A second, longer look: nothing late either. */
	KT_ASSERT(vhxg_vq_wait_used(&b.dev.vqs[0], 1000) == 0,
		  "served without a backend, late");
	KT_OK(blk_set_backend(&b, fd1));
	KT_ASSERT(blk_wait_one(&b, 0, NULL) == 1, "not served on attach");
	KT_ASSERT(!blk_check_pattern(buf, 4096, 1, 0), "read after attach");
	return KT_PASS;
}

/*
 * More requests in the ring than the device keeps in flight per queue,
 * posted with one kick: all complete, with the right data.
 */
static int deep_ring(int fd)
{
	struct blk_cfg cfg = { .num = 1024, .indirect_max = 4 };
	unsigned int n = 700, i, got = 0;
	struct vhxg_used u[64];
	struct blk_dev b;
	uint8_t *bufs;

	KT_OK(blk_dev_open(&b, &cfg, fd));
	bufs = blk_buf(&b, (size_t)n * 512, 0);
	KT_ASSERT(bufs, "arena");
	KT_RUN(fill_file(fd, 0, (size_t)n * 512, 12));
	for (i = 0; i < n; i++) {
		struct vhxg_buf d = { bufs + (size_t)i * 512, 512 };

		KT_OK(blk_post(&b, 0, VIRTIO_BLK_T_IN, i, NULL, 0, &d, 1,
			       VHXG_ADD_INDIRECT));
	}
	KT_OK(blk_kick(&b, 0));
	while (got < n) {
		int k, j;

		KT_ASSERT(vhxg_vq_wait_used(&b.dev.vqs[0], WAIT_MS) == 1,
			  "stuck after %u of %u", got, n);
		k = vhxg_vq_reap(&b.dev.vqs[0], u, 64);
		for (j = 0; j < k; j++)
			KT_ASSERT(blk_status(&b, 0, u[j].id) == VIRTIO_BLK_S_OK,
				  "status %u", blk_status(&b, 0, u[j].id));
		got += k;
	}
	KT_ASSERT(!blk_check_pattern(bufs, (size_t)n * 512, 12, 0),
		  "deep ring data");
	blk_dev_close(&b);
	return KT_PASS;
}

static int tc_deep_ring(void)
{
	uint64_t bytes;
	int fd = blk_tmpfile(FILE_BYTES);

	KT_OK(fd);
	KT_RUN(deep_ring(fd));
	fd = blk_open_ramdisk(0, O_RDWR, &bytes);
	if (fd == -ENOENT)
		return kt_skip("no /dev/ram0 (brd)");
	KT_OK(fd);
	return deep_ring(fd);
}

static int odirect_on(const char *path)
{
	struct blk_cfg cfg = {};
	struct vhx_blk_config c;
	struct blk_dev b;
	int dfd, fd, i;
	uint8_t *buf;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	KT_ASSERT(fd >= 0, "create %s: %m", path);
	KT_ASSERT(!ftruncate(fd, 2 << 20), "ftruncate: %m");
	KT_RUN(fill_file(fd, 0, 2 << 20, 31));
	dfd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	KT_ASSERT(dfd >= 0, "open O_DIRECT: %m");
	KT_OK(blk_dev_open(&b, &cfg, dfd));
	KT_OK(blk_get_config(&b, &c));
	KT_ASSERT(c.capacity == (2 << 20) / SECTOR && c.blk_size >= 512,
		  "capacity %llu blk_size %u", (unsigned long long)c.capacity,
		  c.blk_size);
	buf = blk_buf(&b, 256 << 10, 0);
	for (i = 0; i < 6; i++) {
		uint64_t sector = i * 512;
		size_t len = 4096 << i;

		memset(buf, 0, len);
		KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_IN, sector, buf, len,
				 NULL) == VIRTIO_BLK_S_OK, "read %d", i);
		KT_ASSERT(!blk_check_pattern(buf, len, 31, sector * SECTOR),
			  "read %d data", i);
		blk_pattern(buf, len, 50 + i, sector * SECTOR);
		KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, sector, buf, len,
				 NULL) == VIRTIO_BLK_S_OK, "write %d", i);
		KT_RUN(check_file(fd, sector * SECTOR, len, 50 + i));
	}
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL) ==
		  VIRTIO_BLK_S_OK, "flush");
	KT_RUN(discard_write_zeroes_on(&b, fd, (2 << 20) / SECTOR));
	blk_dev_close(&b);
	KT_RUN(scattered_on(dfd, fd));
	close(dfd);
	close(fd);
	return KT_PASS;
}

/* A file opened O_DIRECT on ext4 (on a ram disk): async direct I/O. */
static int tc_odirect_file(void)
{
	char dir[] = "/tmp/vhx-ext4.XXXXXX", path[64];
	int ret;

	if (access("/dev/ram3", F_OK))
		return kt_skip("no /dev/ram3 (brd)");
	if (system("mkfs.ext4 -q -F /dev/ram3 >/dev/null 2>&1"))
		return kt_skip("mkfs.ext4 /dev/ram3 failed");
	KT_ASSERT(mkdtemp(dir), "mkdtemp: %m");
	/* No udev or automatic module loading in the test VM. */
	if (system("modprobe -q ext4"))
		kt_diag("modprobe ext4 failed");
	if (mount("/dev/ram3", dir, "ext4", 0, NULL))
		return kt_skip("cannot mount ext4: %m");
	snprintf(path, sizeof(path), "%s/disk", dir);
	ret = odirect_on(path);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	return ret;
}

/*
 * Guest memory the owner declared but cannot access: a PROT_NONE region
 * and a read-only one.  Requests into them fail with IOERR, the backend
 * is untouched, and a status byte there stops the queue.
 */
static int hostile_memory(int fd, int check_fd)
{
	struct blk_cfg cfg = {};
	struct vhost_memory_region r[3];
	struct vhxg_buf out[2], in[2];
	uint8_t *none, *ro, *hdrbuf;
	struct virtio_blk_outhdr *hdr;
	struct blk_dev b;

	KT_RUN(fill_file(check_fd, 0, 65536, 8));
	KT_OK(blk_dev_open(&b, &cfg, fd));
	none = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	ro = mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		  0);
	KT_ASSERT(none != MAP_FAILED && ro != MAP_FAILED, "mmap: %m");
	r[0] = (struct vhost_memory_region){ (uintptr_t)b.arena.base,
		b.arena.size, (uintptr_t)b.arena.base, 0 };
	r[1] = (struct vhost_memory_region){ (uintptr_t)none, 1 << 20,
		(uintptr_t)none, 0 };
	r[2] = (struct vhost_memory_region){ (uintptr_t)ro, 1 << 20,
		(uintptr_t)ro, 0 };
	KT_OK(vhxg_set_mem_table(&b.dev, r, 3));

	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_IN, 0, none, 4096, NULL) ==
		  VIRTIO_BLK_S_IOERR, "read into PROT_NONE memory");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_IN, 0, ro, 4096, NULL) ==
		  VIRTIO_BLK_S_IOERR, "read into read-only memory");
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 8, none, 4096, NULL) ==
		  VIRTIO_BLK_S_IOERR, "write from PROT_NONE memory");
	KT_RUN(check_file(check_fd, 0, 65536, 8));
	/* Read-only memory is fine to write to the disk from. */
	KT_ASSERT(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 16, ro, 4096, NULL) ==
		  VIRTIO_BLK_S_OK, "write from read-only memory");
	KT_RUN(check_file_zero(check_fd, 16 * SECTOR, 4096));
	KT_RUN(check_file(check_fd, 0, 16 * SECTOR, 8));

	/* The status byte where it cannot be written: the queue stops. */
	hdrbuf = blk_buf(&b, 64, 0);
	hdr = (void *)hdrbuf;
	hdr->type = VIRTIO_BLK_T_FLUSH;
	out[0] = (struct vhxg_buf){ hdr, sizeof(*hdr) };
	in[0] = (struct vhxg_buf){ ro + 100, 1 };
	KT_OK(vhxg_vq_add(&b.dev.vqs[0], out, 1, in, 1, 0));
	KT_OK(blk_kick(&b, 0));
	KT_ASSERT(vhxg_vq_wait_err(&b.dev.vqs[0], WAIT_MS) == 1,
		  "status in read-only memory: no ERR eventfd");
	blk_dev_close(&b);
	munmap(none, 1 << 20);
	munmap(ro, 1 << 20);
	return KT_PASS;
}

static int tc_hostile_memory(void)
{
	int fd = blk_tmpfile(FILE_BYTES);

	KT_OK(fd);
	KT_RUN(hostile_memory(fd, fd));
	fd = blk_open_ramdisk(0, O_RDWR, NULL);
	if (fd == -ENOENT)
		return kt_skip("no /dev/ram0 (brd)");
	KT_OK(fd);
	return hostile_memory(fd, fd);
}

/* DISCARD reaches a block device that can discard (null_blk frees it). */
static int discard_reaches(const char *path)
{
	struct virtio_blk_discard_write_zeroes s = seg(64, 16, 0);
	struct blk_cfg cfg = {};
	struct blk_dev b;
	int fd;

	fd = open(path, O_RDWR | O_EXCL | O_CLOEXEC);
	KT_ASSERT(fd >= 0, "open %s: %m", path);
	KT_RUN(fill_file(fd, 0, 64 << 10, 13));
	KT_OK(blk_dev_open(&b, &cfg, fd));
	KT_ASSERT(dwz(&b, VIRTIO_BLK_T_DISCARD, &s, 1) == VIRTIO_BLK_S_OK,
		  "discard");
	KT_RUN(check_file(fd, 0, 64 * SECTOR, 13));
	KT_RUN(check_file_zero(fd, 64 * SECTOR, 16 * SECTOR));
	KT_RUN(check_file(fd, 80 * SECTOR, (128 - 80) * SECTOR, 13));
	blk_dev_close(&b);
	close(fd);
	return KT_PASS;
}

static int tc_discard_block_device(void)
{
	struct nullb s;
	int ret;

	if (blk_slow_create(&s, 16, 1, true))
		return kt_skip("cannot make a null_blk with discard");
	ret = discard_reaches(s.path);
	KT_OK(blk_slow_destroy(&s));
	return ret;
}

static const struct kt_case cases[] = {
	{ "discard_block_device", tc_discard_block_device },
	{ "hostile_memory", tc_hostile_memory },
	{ "odirect_file", tc_odirect_file },
	{ "deep_ring", tc_deep_ring },
	{ "config", tc_config },
	{ "backend_errors", tc_backend_errors },
	{ "write_read_file", tc_write_read_file },
	{ "scattered_file", tc_scattered_file },
	{ "large", tc_large },
	{ "flush", tc_flush },
	{ "discard_write_zeroes_file", tc_discard_write_zeroes_file },
	{ "get_id", tc_get_id },
	{ "bad_requests", tc_bad_requests },
	{ "no_status", tc_no_status },
	{ "read_only", tc_read_only },
	{ "block_device", tc_block_device },
	{ "block_device_ro", tc_block_device_ro },
	{ "switch_backend", tc_switch_backend },
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, cases, KT_ARRAY_SIZE(cases),
		       "/dev/vhx-blk");
}
