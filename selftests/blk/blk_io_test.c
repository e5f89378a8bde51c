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

#include "harness.h"
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

static void check_file(struct __test_metadata *_metadata, int fd, uint64_t off,
		       size_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);
	size_t bad;

	ASSERT_TRUE(buf)
		TH_LOG("malloc");
	ASSERT_TRUE(pread(fd, buf, len, off) == (ssize_t)len)
		TH_LOG("pread: %m");
	bad = blk_check_pattern(buf, len, seed, off);
	free(buf);
	ASSERT_TRUE(!bad)
		TH_LOG("backend byte %llu differs",
		       (unsigned long long)(off + bad - 1));
}

static void check_file_zero(struct __test_metadata *_metadata, int fd,
			    uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	bool zero;

	ASSERT_TRUE(buf)
		TH_LOG("malloc");
	ASSERT_TRUE(pread(fd, buf, len, off) == (ssize_t)len)
		TH_LOG("pread: %m");
	zero = blk_is_zero(buf, len);
	free(buf);
	ASSERT_TRUE(zero)
		TH_LOG("range at %llu is not zero", (unsigned long long)off);
}

static void fill_file(struct __test_metadata *_metadata, int fd, uint64_t off,
		      size_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);
	ssize_t n;

	ASSERT_TRUE(buf)
		TH_LOG("malloc");
	blk_pattern(buf, len, seed, off);
	n = pwrite(fd, buf, len, off);
	free(buf);
	ASSERT_TRUE(n == (ssize_t)len)
		TH_LOG("pwrite: %m");
	ASSERT_TRUE(!fsync(fd))
		TH_LOG("fsync: %m");
}

TEST(config)
{
	struct vhx_blk_config cfg;
	uint8_t serial[VHX_BLK_SERIAL_LEN] = "vhx-test-serial";
	struct blk_dev b;
	uint64_t f;
	int fd;

	ASSERT_LE(0, open_file_dev(&b, &fd, 0));
	ASSERT_LE(0, vhxg_get_features(&b.dev, &f));
	ASSERT_TRUE(f == BLK_FEATURES)
		TH_LOG("features %#llx, want %#llx",
		       (unsigned long long)f, (unsigned long long)BLK_FEATURES);
	ASSERT_LE(0, blk_get_config(&b, &cfg));
	ASSERT_TRUE(cfg.capacity == FILE_SECTORS)
		TH_LOG("capacity %llu",
		       (unsigned long long)cfg.capacity);
	ASSERT_TRUE(cfg.blk_size == 512)
		TH_LOG("blk_size %u", cfg.blk_size);
	ASSERT_TRUE(cfg.num_queues >= 4)
		TH_LOG("num_queues %u", cfg.num_queues);
	ASSERT_TRUE(cfg.seg_max >= 128)
		TH_LOG("seg_max %u", cfg.seg_max);
	ASSERT_TRUE(!cfg.ro)
		TH_LOG("ro on a writable file");
	ASSERT_TRUE(cfg.max_discard_sectors && cfg.max_write_zeroes_sectors &&
		    cfg.max_discard_seg && cfg.max_write_zeroes_seg)
		TH_LOG("discard/write-zeroes limits missing");
	/* Nothing about the host by default: the VMM names the disk. */
	for (size_t j = 0; j < sizeof(cfg.serial); j++) {
		ASSERT_TRUE(!cfg.serial[j])
			TH_LOG("default serial '%.20s' not empty",
			       cfg.serial);
	}
	ASSERT_LE(0, vhxg_ioctl(&b.dev, VHX_BLK_SET_SERIAL, serial));
	ASSERT_LE(0, blk_get_config(&b, &cfg));
	ASSERT_TRUE(!memcmp(cfg.serial, serial, sizeof(serial)))
		TH_LOG("serial not set");
	/* Detached: capacity 0. */
	ASSERT_LE(0, blk_set_backend(&b, -1));
	ASSERT_LE(0, blk_get_config(&b, &cfg));
	ASSERT_TRUE(cfg.capacity == 0)
		TH_LOG("capacity %llu after detach",
		       (unsigned long long)cfg.capacity);
}

TEST(backend_errors)
{
	struct blk_cfg cfg = { .no_backend = true };
	struct vhxg_dev other;
	struct blk_dev b;
	int fd, wfd, pfd[2];
	char path[64];

	fd = blk_tmpfile(FILE_BYTES);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, -1));
	ASSERT_TRUE(!pipe(pfd))
		TH_LOG("pipe");
	ASSERT_EQ(-EINVAL, blk_set_backend(&b, pfd[0]));
	ASSERT_EQ(-EINVAL, blk_set_backend(&b, b.dev.vqs[0].kick_fd));
	ASSERT_EQ(-EBADF, blk_set_backend(&b, 12345));
	ASSERT_EQ(-EBADF, blk_set_backend(&b, -2));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wfd = open(path, O_WRONLY);
	ASSERT_TRUE(wfd >= 0)
		TH_LOG("reopen write-only: %m");
	ASSERT_EQ(-EBADF, blk_set_backend(&b, wfd));
	ASSERT_LE(0, blk_set_backend(&b, fd));
	ASSERT_LE(0, blk_set_backend(&b, fd));
	ASSERT_LE(0, blk_set_backend(&b, -1));
	ASSERT_LE(0, blk_set_backend(&b, -1));
	/* Only the owner may attach. */
	ASSERT_LE(0, vhxg_open(&other, test_dev, NULL));
	ASSERT_EQ(-EPERM, vhxg_ioctl(&other, VHX_BLK_SET_BACKEND, &fd));
	vhxg_close(&other);
}

/* Writes through the ring land in the file; pwrites come back as reads. */
TEST(write_read_file)
{
	struct blk_dev b;
	uint32_t used;
	uint8_t *buf;
	int fd, i;

	ASSERT_LE(0, open_file_dev(&b, &fd, 0));
	buf = blk_buf(&b, 65536, 0);
	ASSERT_TRUE(buf)
		TH_LOG("arena");
	for (i = 0; i < 8; i++) {
		uint64_t sector = i * 997 % (FILE_SECTORS - 128);
		size_t len = 512 << (i % 8);

		blk_pattern(buf, len, i, sector * SECTOR);
		ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, sector, buf, len,
				   &used) == VIRTIO_BLK_S_OK)
			TH_LOG("write %d", i);
		ASSERT_TRUE(used == 1)
			TH_LOG("write used len %u", used);
		check_file(_metadata, fd, sector * SECTOR, len, i);
	}
	for (i = 0; i < 8; i++) {
		uint64_t sector = 4096 + i * 61;
		size_t len = 512 << (7 - i);

		fill_file(_metadata, fd, sector * SECTOR, len, 100 + i);
		memset(buf, 0xaa, len);
		ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_IN, sector, buf, len,
				   &used) == VIRTIO_BLK_S_OK)
			TH_LOG("read %d", i);
		ASSERT_TRUE(used == len + 1)
			TH_LOG("read used len %u for %zu", used,
			       len);
		ASSERT_TRUE(!blk_check_pattern(buf, len, 100 + i,
					       sector * SECTOR))
			TH_LOG("read %d data", i);
	}
	/* The last sector, and a zero-length read. */
	blk_pattern(buf, 512, 7, (FILE_SECTORS - 1) * SECTOR);
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, FILE_SECTORS - 1, buf, 512,
			   NULL) == VIRTIO_BLK_S_OK)
		TH_LOG("last sector");
	check_file(_metadata, fd, (FILE_SECTORS - 1) * SECTOR, 512, 7);
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_IN, 0, NULL, 0, &used) ==
		    VIRTIO_BLK_S_OK && used == 1)
		TH_LOG("empty read");
}

/*
 * One request over many odd-sized buffers, direct or through an indirect
 * table; @fd's backend sees exactly the concatenation.
 */
static void scattered(struct __test_metadata *_metadata, struct blk_dev *b,
		      int fd, unsigned int nseg, unsigned int flags,
		      uint32_t seed)
{
	struct vhxg_buf segs[256];
	uint64_t sector = 333, off = sector * SECTOR;
	size_t total = 0, pos = 0;
	uint8_t *flat, *p;
	unsigned int i;
	int head;

	ASSERT_TRUE(nseg <= 256)
		TH_LOG("too many segments");
	for (i = 0; i < nseg; i++) {
		/* Odd lengths and odd addresses; the total is whole sectors. */
		size_t len = 1 + (i * 37 + seed) % 700;

		if (i == nseg - 1)
			len = (total + len + SECTOR - 1) / SECTOR * SECTOR - total;
		p = blk_buf(b, len + 8, 0);
		ASSERT_TRUE(p)
			TH_LOG("arena");
		segs[i] = (struct vhxg_buf){ p + 1 + i % 7, len };
		total += len;
	}
	flat = malloc(total);
	ASSERT_TRUE(flat)
		TH_LOG("malloc");
	blk_pattern(flat, total, seed, off);
	for (i = 0; i < nseg; i++) {
		memcpy(segs[i].addr, flat + pos, segs[i].len);
		pos += segs[i].len;
	}
	head = blk_post(b, 0, VIRTIO_BLK_T_OUT, sector, segs, nseg, NULL, 0,
			flags);
	ASSERT_LE(0, head);
	ASSERT_LE(0, blk_kick(b, 0));
	ASSERT_TRUE(blk_wait_one(b, 0, NULL) == 1)
		TH_LOG("no completion");
	ASSERT_TRUE(blk_status(b, 0, head) == VIRTIO_BLK_S_OK)
		TH_LOG("write status %u",
		       blk_status(b, 0, head));
	check_file(_metadata, fd, off, total, seed);

	/* Read it back scattered the same way, into cleared buffers. */
	for (i = 0; i < nseg; i++)
		memset(segs[i].addr, 0, segs[i].len);
	head = blk_post(b, 0, VIRTIO_BLK_T_IN, sector, NULL, 0, segs, nseg,
			flags);
	ASSERT_LE(0, head);
	ASSERT_LE(0, blk_kick(b, 0));
	ASSERT_TRUE(blk_wait_one(b, 0, NULL) == 1)
		TH_LOG("no completion");
	ASSERT_TRUE(blk_status(b, 0, head) == VIRTIO_BLK_S_OK)
		TH_LOG("read status");
	for (pos = 0, i = 0; i < nseg; i++) {
		ASSERT_TRUE(!memcmp(segs[i].addr, flat + pos, segs[i].len))
			TH_LOG("segment %u differs", i);
		pos += segs[i].len;
	}
	free(flat);
}

/* @fd is the backend, @check_fd a buffered fd of the same data. */
static void scattered_on(struct __test_metadata *_metadata, int fd,
			 int check_fd)
{
	struct blk_cfg cfg = { .num = 512, .indirect_max = 256 };
	struct blk_dev b;

	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	scattered(_metadata, &b, check_fd, 200, 0, 1);
	scattered(_metadata, &b, check_fd, 250, VHXG_ADD_INDIRECT, 2);
	scattered(_metadata, &b, check_fd, 3, VHXG_ADD_INDIRECT, 3);
	blk_dev_close(&b);
}

TEST(scattered_file)
{
	int fd = blk_tmpfile(FILE_BYTES);

	ASSERT_LE(0, fd);
	scattered_on(_metadata, fd, fd);
}

TEST(large)
{
	size_t len = 4 << 20;
	struct blk_dev b;
	uint8_t *buf;
	int fd;

	ASSERT_LE(0, open_file_dev(&b, &fd, 0));
	buf = blk_buf(&b, len, 0);
	ASSERT_TRUE(buf)
		TH_LOG("arena");
	blk_pattern(buf, len, 42, 1 << 20);
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 2048, buf, len, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("large write");
	check_file(_metadata, fd, 1 << 20, len, 42);
	memset(buf, 0, len);
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_IN, 2048, buf, len, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("large read");
	ASSERT_TRUE(!blk_check_pattern(buf, len, 42, 1 << 20))
		TH_LOG("large data");
}

/* Write 4 KiB of pattern @seed at @sector through the device. */
static void write_seed(struct __test_metadata *_metadata, struct blk_dev *b,
		       uint8_t *buf, uint64_t sector, uint32_t seed)
{
	blk_pattern(buf, 4096, seed, sector * SECTOR);
	ASSERT_TRUE(blk_do(b, 0, VIRTIO_BLK_T_OUT, sector, buf, 4096, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("write at sector %llu",
		       (unsigned long long)sector);
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
static void flush_on_cache(struct __test_metadata *_metadata)
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
	ASSERT_TRUE(!ret)
		TH_LOG("cannot make a null_blk with a write cache: %s",
		       strerror(-ret));
	fd = open(s.path, O_RDWR | O_EXCL | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open %s: %m", s.path);
	ASSERT_LE(0, blk_dev_open(&b, &wb, fd));
	buf = blk_buf(&b, 4096, 0);
	write_seed(_metadata, &b, buf, 8, 1);
	ASSERT_LE(0, blk_slow_flushes(&s, &f0));
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &used) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("flush");
	ASSERT_TRUE(used == 1)
		TH_LOG("flush used len %u", used);
	ASSERT_LE(0, blk_slow_flushes(&s, &f1));
	write_seed(_metadata, &b, buf, 64, 2);
	blk_dev_close(&b);
	close(fd);
	ASSERT_LE(0, blk_slow_power_cycle(&s));
	kept = holds(&s, 8, 1);
	lost = !holds(&s, 64, 2);
	TH_LOG("after power off/on: flushed write %s, unflushed write %s; "
	       "flushes at the disk %lu -> %lu", kept == 1 ? "kept" : "lost",
	       lost ? "lost" : "kept", f0, f1);
	ASSERT_TRUE(kept == 1)
		TH_LOG("flushed data lost at power-off (%d)", kept);
	ASSERT_TRUE(lost)
		TH_LOG("unflushed data survived power-off: the cache is not "
		       "volatile, so this cannot tell a FLUSH from a no-op");
	ASSERT_TRUE(f1 > f0)
		TH_LOG("FLUSH did not reach the disk (%lu flushes)", f1);

	/* Write-through: no FLUSH negotiated, no FLUSH sent. */
	fd = open(s.path, O_RDWR | O_EXCL | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open %s: %m", s.path);
	ASSERT_LE(0, blk_dev_open(&b, &wt, fd));
	buf = blk_buf(&b, 4096, 0);
	ASSERT_LE(0, blk_slow_flushes(&s, &f2));
	write_seed(_metadata, &b, buf, 128, 3);
	ASSERT_LE(0, blk_slow_flushes(&s, &f3));
	blk_dev_close(&b);
	close(fd);
	ASSERT_LE(0, blk_slow_power_cycle(&s));
	wtk = holds(&s, 128, 3);
	TH_LOG("write-through: write %s; flushes at the disk %lu -> %lu",
	       wtk == 1 ? "kept" : "lost", f2, f3);
	/* (Direct writes to a disk that has FUA need no flush.) */
	ASSERT_TRUE(wtk == 1)
		TH_LOG("write without FLUSH acked lost at power-off "
		       "(%d)", wtk);
	ASSERT_LE(0, blk_slow_destroy(&s));
}

TEST(flush)
{
	struct blk_dev b;
	uint32_t used;
	uint8_t *buf;
	int fd;

	ASSERT_LE(0, open_file_dev(&b, &fd, 0));
	buf = blk_buf(&b, 4096, 0x5a);
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 8, buf, 4096, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("write");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &used) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("flush");
	ASSERT_TRUE(used == 1)
		TH_LOG("flush used len %u", used);
	/* Without FLUSH acked the device is write-through; flush still ok. */
	blk_dev_close(&b);
	ASSERT_LE(0, open_file_dev(&b, &fd, BLK_ACK & ~F(VIRTIO_BLK_F_FLUSH)));
	buf = blk_buf(&b, 4096, 0x5b);
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 8, buf, 4096, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("write-through write");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("flush without FLUSH");
	blk_dev_close(&b);
	flush_on_cache(_metadata);
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

static void discard_write_zeroes_on(struct __test_metadata *_metadata,
				    struct blk_dev *b, int fd, uint64_t sectors)
{
	struct virtio_blk_discard_write_zeroes s[3];
	uint64_t base = 1024;

	/* Pattern, then zero two ranges, one with unmap; around is kept. */
	fill_file(_metadata, fd, base * SECTOR, 64 * SECTOR, 9);
	s[0] = seg(base + 4, 8, 0);
	s[1] = seg(base + 20, 16, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	ASSERT_TRUE(dwz(b, VIRTIO_BLK_T_WRITE_ZEROES, s, 2) == VIRTIO_BLK_S_OK)
		TH_LOG("write zeroes");
	check_file(_metadata, fd, base * SECTOR, 4 * SECTOR, 9);
	check_file_zero(_metadata, fd, (base + 4) * SECTOR, 8 * SECTOR);
	check_file(_metadata, fd, (base + 12) * SECTOR, 8 * SECTOR, 9);
	check_file_zero(_metadata, fd, (base + 20) * SECTOR, 16 * SECTOR);
	check_file(_metadata, fd, (base + 36) * SECTOR, 28 * SECTOR, 9);

	/* Discard: content unspecified, neighbours kept. */
	fill_file(_metadata, fd, base * SECTOR, 64 * SECTOR, 10);
	s[0] = seg(base + 8, 8, 0);
	ASSERT_TRUE(dwz(b, VIRTIO_BLK_T_DISCARD, s, 1) == VIRTIO_BLK_S_OK)
		TH_LOG("discard");
	check_file(_metadata, fd, base * SECTOR, 8 * SECTOR, 10);
	check_file(_metadata, fd, (base + 16) * SECTOR, 48 * SECTOR, 10);

	/* Refused: unmap on discard, unknown flags, past the end, empty. */
	s[0] = seg(base, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	ASSERT_TRUE(dwz(b, VIRTIO_BLK_T_DISCARD, s, 1) == VIRTIO_BLK_S_UNSUPP)
		TH_LOG("discard with unmap");
	s[0] = seg(base, 8, 2);
	ASSERT_TRUE(dwz(b, VIRTIO_BLK_T_WRITE_ZEROES, s, 1) ==
		    VIRTIO_BLK_S_UNSUPP)
		TH_LOG("unknown flag");
	s[0] = seg(base, 8, 0);
	s[1] = seg(sectors - 4, 8, 0);
	ASSERT_TRUE(dwz(b, VIRTIO_BLK_T_WRITE_ZEROES, s, 2) ==
		    VIRTIO_BLK_S_IOERR)
		TH_LOG("write zeroes past the end");
	/* Nothing ran: the good first segment was not zeroed either. */
	check_file(_metadata, fd, base * SECTOR, 8 * SECTOR, 10);
	s[0] = seg(UINT64_MAX - 2, 8, 0);
	ASSERT_TRUE(dwz(b, VIRTIO_BLK_T_DISCARD, s, 1) == VIRTIO_BLK_S_IOERR)
		TH_LOG("discard sector overflow");
	ASSERT_TRUE(dwz(b, VIRTIO_BLK_T_DISCARD, s, 0) == VIRTIO_BLK_S_IOERR)
		TH_LOG("discard without segment");
}

TEST(discard_write_zeroes_file)
{
	struct virtio_blk_discard_write_zeroes s[17];
	struct blk_dev b;
	unsigned int i;
	int fd;

	ASSERT_LE(0, open_file_dev(&b, &fd, 0));
	discard_write_zeroes_on(_metadata, &b, fd, FILE_SECTORS);
	for (i = 0; i < 17; i++)
		s[i] = seg(i * 8, 8, 0);
	ASSERT_TRUE(dwz(&b, VIRTIO_BLK_T_WRITE_ZEROES, s, 17) ==
		    VIRTIO_BLK_S_IOERR)
		TH_LOG("more segments than max_write_zeroes_seg");
	ASSERT_TRUE(dwz(&b, VIRTIO_BLK_T_WRITE_ZEROES, s, 16) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("max_write_zeroes_seg segments");
	blk_dev_close(&b);

	/* Not acked: unsupported. */
	ASSERT_LE(0, open_file_dev(&b, &fd,
				   BLK_ACK & ~(F(VIRTIO_BLK_F_DISCARD) |
						      F(VIRTIO_BLK_F_WRITE_ZEROES))));
	ASSERT_TRUE(dwz(&b, VIRTIO_BLK_T_DISCARD, s, 1) == VIRTIO_BLK_S_UNSUPP)
		TH_LOG("discard not acked");
	ASSERT_TRUE(dwz(&b, VIRTIO_BLK_T_WRITE_ZEROES, s, 1) ==
		    VIRTIO_BLK_S_UNSUPP)
		TH_LOG("write zeroes not acked");
}

TEST(get_id)
{
	uint8_t serial[VHX_BLK_SERIAL_LEN] = "0123456789abcdefghij";
	struct vhx_blk_config cfg;
	struct blk_dev b;
	uint32_t used;
	uint8_t *buf;
	int fd;

	ASSERT_LE(0, open_file_dev(&b, &fd, 0));
	buf = blk_buf(&b, 64, 0x77);
	ASSERT_LE(0, blk_get_config(&b, &cfg));
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_GET_ID, 0, buf, 64, &used) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("get id");
	ASSERT_TRUE(used == VHX_BLK_SERIAL_LEN + 1)
		TH_LOG("used len %u", used);
	ASSERT_TRUE(!memcmp(buf, cfg.serial, VHX_BLK_SERIAL_LEN))
		TH_LOG("default serial");
	ASSERT_TRUE(buf[VHX_BLK_SERIAL_LEN] == 0x77)
		TH_LOG("wrote past the serial");

	ASSERT_LE(0, vhxg_ioctl(&b.dev, VHX_BLK_SET_SERIAL, serial));
	memset(buf, 0x77, 64);
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_GET_ID, 0, buf, 5, &used) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("short get id");
	ASSERT_TRUE(used == 6 && !memcmp(buf, "01234", 5) && buf[5] == 0x77)
		TH_LOG("short get id: used %u", used);
	/* The serial survives a backend change once set. */
	ASSERT_LE(0, blk_set_backend(&b, fd));
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_GET_ID, 0, buf, 20, &used) ==
		    VIRTIO_BLK_S_OK && used == 21 && !memcmp(buf, serial, 20))
		TH_LOG("set serial");
}

/* A good request still works after a bad one. */
static void still_works(struct __test_metadata *_metadata, struct blk_dev *b,
			int fd)
{
	uint8_t *buf = blk_buf(b, 512, 0);

	blk_pattern(buf, 512, 77, 512 * 77);
	ASSERT_TRUE(blk_do(b, 0, VIRTIO_BLK_T_OUT, 77, buf, 512, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("queue dead after a bad request");
	check_file(_metadata, fd, 512 * 77, 512, 77);
}

TEST(bad_requests)
{
	struct vhxg_buf out[2], in[2];
	uint8_t *buf, *hdrbuf, *status;
	struct virtio_blk_outhdr *hdr;
	struct blk_dev b;
	uint32_t used;
	struct stat st;
	int fd;

	ASSERT_LE(0, open_file_dev(&b, &fd, 0));
	fill_file(_metadata, fd, 0, FILE_BYTES, 5);
	buf = blk_buf(&b, 8192, 0x33);
	hdrbuf = blk_buf(&b, 64, 0);
	hdr = (void *)hdrbuf;

	/* Lengths that are not whole sectors. */
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_IN, 0, buf, 100, &used) ==
		    VIRTIO_BLK_S_IOERR)
		TH_LOG("read of 100 bytes");
	ASSERT_TRUE(used == 1)
		TH_LOG("failed read used len %u", used);
	ASSERT_TRUE(buf[0] == 0x33)
		TH_LOG("failed read wrote data");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 0, buf, 513, NULL) ==
		    VIRTIO_BLK_S_IOERR)
		TH_LOG("write of 513 bytes");
	/* Past the capacity, partly or wholly, and overflowing. */
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, FILE_SECTORS, buf, 512,
			   NULL) == VIRTIO_BLK_S_IOERR)
		TH_LOG("write at capacity");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, FILE_SECTORS - 1, buf, 1024,
			   NULL) == VIRTIO_BLK_S_IOERR)
		TH_LOG("write across the end");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_IN, FILE_SECTORS - 1, buf, 1024,
			   NULL) == VIRTIO_BLK_S_IOERR)
		TH_LOG("read across the end");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 1ULL << 55, buf, 512,
			   NULL) == VIRTIO_BLK_S_IOERR)
		TH_LOG("write at 2^55");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, UINT64_MAX, buf, 512,
			   NULL) == VIRTIO_BLK_S_IOERR)
		TH_LOG("write at 2^64-1");
	ASSERT_TRUE(!fstat(fd, &st) && (uint64_t)st.st_size == FILE_BYTES)
		TH_LOG("file size changed to %lld", (long long)st.st_size);
	/* Nothing was written anywhere by the refused writes. */
	check_file(_metadata, fd, 0, FILE_BYTES, 5);
	/* Unknown types. */
	ASSERT_TRUE(blk_do(&b, 0, 99, 0, buf, 512, &used) ==
		    VIRTIO_BLK_S_UNSUPP && used == 1)
		TH_LOG("type 99");
	ASSERT_TRUE(blk_do(&b, 0, 10 /* GET_LIFETIME */, 0, buf, 512,
			   NULL) == VIRTIO_BLK_S_UNSUPP)
		TH_LOG("get lifetime");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT | 0x80000000u, 0, buf, 512,
			   NULL) == VIRTIO_BLK_S_UNSUPP)
		TH_LOG("legacy barrier");

	/* A header shorter than struct virtio_blk_outhdr. */
	status = hdrbuf + 32;
	*status = STATUS_NONE;
	hdr->type = VIRTIO_BLK_T_OUT;
	hdr->sector = 0;
	out[0] = (struct vhxg_buf){ hdr, 8 };
	in[0] = (struct vhxg_buf){ status, 1 };
	ASSERT_TRUE(blk_do_raw(&b, 0, out, 1, in, 1, 0, status, &used) ==
		    VIRTIO_BLK_S_IOERR)
		TH_LOG("short header");
	ASSERT_TRUE(used == 1)
		TH_LOG("short header used len %u", used);
	/* Header split over two descriptors, status sharing the data one. */
	hdr->type = VIRTIO_BLK_T_IN;
	hdr->sector = 77;
	out[0] = (struct vhxg_buf){ hdrbuf, 5 };
	out[1] = (struct vhxg_buf){ hdrbuf + 5, 11 };
	in[0] = (struct vhxg_buf){ buf, 513 };
	buf[512] = STATUS_NONE;
	ASSERT_TRUE(blk_do_raw(&b, 0, out, 2, in, 1, 0, buf + 512, &used) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("any framing");
	ASSERT_TRUE(used == 513)
		TH_LOG("any framing used len %u", used);
	ASSERT_TRUE(!blk_check_pattern(buf, 512, 5, 77 * 512))
		TH_LOG("framing data");
	/* A request with data before the status in one writable buffer. */
	still_works(_metadata, &b, fd);
}

/* A chain without any writable byte stops the queue: nowhere to say. */
TEST(no_status)
{
	struct virtio_blk_outhdr *hdr;
	struct vhxg_buf out;
	struct blk_dev b;
	int fd;

	ASSERT_LE(0, open_file_dev(&b, &fd, 0));
	hdr = blk_buf(&b, sizeof(*hdr), 0);
	hdr->type = VIRTIO_BLK_T_FLUSH;
	out = (struct vhxg_buf){ hdr, sizeof(*hdr) };
	ASSERT_LE(0, vhxg_vq_add(&b.dev.vqs[0], &out, 1, NULL, 0, 0));
	ASSERT_LE(0, blk_kick(&b, 0));
	ASSERT_TRUE(vhxg_vq_wait_err(&b.dev.vqs[0], WAIT_MS) == 1)
		TH_LOG("no ERR eventfd");
	ASSERT_TRUE(vhxg_vq_pending(&b.dev.vqs[0]) == 0)
		TH_LOG("used entry for it");
}

static void read_only_checks(struct __test_metadata *_metadata,
			     struct blk_dev *b, int fd)
{
	struct virtio_blk_discard_write_zeroes s = seg(0, 8, 0);
	struct vhx_blk_config cfg;
	uint8_t *buf = blk_buf(b, 4096, 0x11);

	ASSERT_LE(0, blk_get_config(b, &cfg));
	ASSERT_TRUE(cfg.ro == 1)
		TH_LOG("config ro %u", cfg.ro);
	ASSERT_TRUE(blk_do(b, 0, VIRTIO_BLK_T_OUT, 0, buf, 4096, NULL) ==
		    VIRTIO_BLK_S_IOERR)
		TH_LOG("write to read-only");
	ASSERT_TRUE(dwz(b, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1) ==
		    VIRTIO_BLK_S_IOERR)
		TH_LOG("write zeroes to read-only");
	ASSERT_TRUE(dwz(b, VIRTIO_BLK_T_DISCARD, &s, 1) == VIRTIO_BLK_S_IOERR)
		TH_LOG("discard on read-only");
	check_file(_metadata, fd, 0, 8192, 6);
	ASSERT_TRUE(blk_do(b, 0, VIRTIO_BLK_T_IN, 0, buf, 4096, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("read from read-only");
	ASSERT_TRUE(!blk_check_pattern(buf, 4096, 6, 0))
		TH_LOG("read-only data");
	ASSERT_TRUE(blk_do(b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("flush on read-only");
}

TEST(read_only)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	char path[64];
	int fd, rfd;

	fd = blk_tmpfile(FILE_BYTES);
	ASSERT_LE(0, fd);
	fill_file(_metadata, fd, 0, 8192, 6);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rfd = open(path, O_RDONLY);
	ASSERT_TRUE(rfd >= 0)
		TH_LOG("reopen read-only: %m");
	ASSERT_LE(0, blk_dev_open(&b, &cfg, rfd));
	read_only_checks(_metadata, &b, fd);
	blk_dev_close(&b);
	/* RO acked makes a writable backend read-only too. */
	cfg.features = BLK_ACK | F(VIRTIO_BLK_F_RO);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	read_only_checks(_metadata, &b, fd);
}

/* The same on a brd ram disk, driven with direct I/O. */
TEST(block_device)
{
	struct blk_cfg cfg = {};
	struct vhx_blk_config c;
	uint64_t bytes, sectors;
	struct blk_dev b;
	uint8_t *buf;
	int fd, i;

	fd = blk_open_ramdisk(0, O_RDWR, &bytes);
	if (fd == -ENOENT)
		SKIP(return, "no /dev/ram0 (brd)");
	ASSERT_LE(0, fd);
	sectors = bytes / SECTOR;
	ASSERT_TRUE(sectors >= 4096)
		TH_LOG("ram disk of %llu bytes too small",
		       (unsigned long long)bytes);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	ASSERT_LE(0, blk_get_config(&b, &c));
	ASSERT_TRUE(c.capacity == sectors)
		TH_LOG("capacity %llu, want %llu",
		       (unsigned long long)c.capacity, (unsigned long long)sectors);
	buf = blk_buf(&b, 1 << 20, 0);
	for (i = 0; i < 6; i++) {
		uint64_t sector = (i * 1237) % (sectors - 2048);
		size_t len = 4096 << i;

		blk_pattern(buf, len, 20 + i, sector * SECTOR);
		ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, sector, buf, len,
				   NULL) == VIRTIO_BLK_S_OK)
			TH_LOG("write %d", i);
		check_file(_metadata, fd, sector * SECTOR, len, 20 + i);
		fill_file(_metadata, fd, sector * SECTOR, len, 40 + i);
		memset(buf, 0, len);
		ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_IN, sector, buf, len,
				   NULL) == VIRTIO_BLK_S_OK)
			TH_LOG("read %d", i);
		ASSERT_TRUE(!blk_check_pattern(buf, len, 40 + i,
					       sector * SECTOR))
			TH_LOG("read %d data",
			       i);
	}
	/* Unaligned buffers cannot go direct; they must still work. */
	blk_pattern(buf + 3, 1024, 60, 0);
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 0, buf + 3, 1024, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("unaligned write");
	check_file(_metadata, fd, 0, 1024, 60);
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, sectors, buf, 512, NULL) ==
		    VIRTIO_BLK_S_IOERR)
		TH_LOG("write past the end");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("flush");
	discard_write_zeroes_on(_metadata, &b, fd, sectors);
	blk_dev_close(&b);
	scattered_on(_metadata, fd, fd);
}

TEST(block_device_ro)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	int fd, rfd;

	fd = blk_open_ramdisk(0, O_RDWR, NULL);
	if (fd == -ENOENT)
		SKIP(return, "no /dev/ram0 (brd)");
	ASSERT_LE(0, fd);
	fill_file(_metadata, fd, 0, 8192, 6);
	rfd = blk_open_ramdisk(0, O_RDONLY, NULL);
	ASSERT_LE(0, rfd);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, rfd));
	read_only_checks(_metadata, &b, fd);
}

/* Switch backends: I/O goes to the new one. */
TEST(switch_backend)
{
	struct blk_cfg cfg = {};
	struct blk_dev b;
	uint8_t *buf;
	int fd1, fd2;

	fd1 = blk_tmpfile(FILE_BYTES);
	fd2 = blk_tmpfile(FILE_BYTES / 2);
	ASSERT_LE(0, fd1);
	ASSERT_LE(0, fd2);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd1));
	buf = blk_buf(&b, 4096, 0);
	blk_pattern(buf, 4096, 1, 0);
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 0, buf, 4096, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("write 1");
	ASSERT_LE(0, blk_set_backend(&b, fd2));
	close(fd2);
	blk_pattern(buf, 4096, 2, 0);
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 0, buf, 4096, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("write 2");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, FILE_SECTORS / 2, buf, 512,
			   NULL) == VIRTIO_BLK_S_IOERR)
		TH_LOG("new capacity");
	check_file(_metadata, fd1, 0, 4096, 1);
	/* Detached: requests wait in the ring until a backend comes. */
	ASSERT_LE(0, blk_set_backend(&b, -1));
	ASSERT_LE(0, blk_post(&b, 0, VIRTIO_BLK_T_IN, 0, NULL, 0,
			      &(struct vhxg_buf){ buf, 4096 }, 1, 0));
	ASSERT_LE(0, blk_kick(&b, 0));
	ASSERT_TRUE(vhxg_vq_wait_used(&b.dev.vqs[0], QUIET_MS) == 0)
		TH_LOG("served without a backend");
	/* A second, longer look: nothing late either. */
	ASSERT_TRUE(vhxg_vq_wait_used(&b.dev.vqs[0], 1000) == 0)
		TH_LOG("served without a backend, late");
	ASSERT_LE(0, blk_set_backend(&b, fd1));
	ASSERT_TRUE(blk_wait_one(&b, 0, NULL) == 1)
		TH_LOG("not served on attach");
	ASSERT_TRUE(!blk_check_pattern(buf, 4096, 1, 0))
		TH_LOG("read after attach");
}

/*
 * More requests in the ring than the device keeps in flight per queue,
 * posted with one kick: all complete, with the right data.
 */
static void deep_ring_on(struct __test_metadata *_metadata, int fd)
{
	struct blk_cfg cfg = { .num = 1024, .indirect_max = 4 };
	unsigned int n = 700, i, got = 0;
	struct vhxg_used u[64];
	struct blk_dev b;
	uint8_t *bufs;

	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	bufs = blk_buf(&b, (size_t)n * 512, 0);
	ASSERT_TRUE(bufs)
		TH_LOG("arena");
	fill_file(_metadata, fd, 0, (size_t)n * 512, 12);
	for (i = 0; i < n; i++) {
		struct vhxg_buf d = { bufs + (size_t)i * 512, 512 };

		ASSERT_LE(0, blk_post(&b, 0, VIRTIO_BLK_T_IN, i, NULL, 0, &d, 1,
				      VHXG_ADD_INDIRECT));
	}
	ASSERT_LE(0, blk_kick(&b, 0));
	while (got < n) {
		int k, j;

		ASSERT_TRUE(vhxg_vq_wait_used(&b.dev.vqs[0], WAIT_MS) == 1)
			TH_LOG("stuck after %u of %u", got, n);
		k = vhxg_vq_reap(&b.dev.vqs[0], u, 64);
		for (j = 0; j < k; j++) {
			ASSERT_TRUE(blk_status(&b, 0,
					       u[j].id) == VIRTIO_BLK_S_OK)
				TH_LOG("status %u", blk_status(&b, 0, u[j].id));
		}
		got += k;
	}
	ASSERT_TRUE(!blk_check_pattern(bufs, (size_t)n * 512, 12, 0))
		TH_LOG("deep ring data");
	blk_dev_close(&b);
}

TEST(deep_ring)
{
	uint64_t bytes;
	int fd = blk_tmpfile(FILE_BYTES);

	ASSERT_LE(0, fd);
	deep_ring_on(_metadata, fd);
	fd = blk_open_ramdisk(0, O_RDWR, &bytes);
	if (fd == -ENOENT)
		SKIP(return, "no /dev/ram0 (brd)");
	ASSERT_LE(0, fd);
	deep_ring_on(_metadata, fd);
}

static void odirect_on(struct __test_metadata *_metadata, const char *path)
{
	struct blk_cfg cfg = {};
	struct vhx_blk_config c;
	struct blk_dev b;
	int dfd, fd, i;
	uint8_t *buf;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("create %s: %m", path);
	ASSERT_TRUE(!ftruncate(fd, 2 << 20))
		TH_LOG("ftruncate: %m");
	fill_file(_metadata, fd, 0, 2 << 20, 31);
	dfd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	ASSERT_TRUE(dfd >= 0)
		TH_LOG("open O_DIRECT: %m");
	ASSERT_LE(0, blk_dev_open(&b, &cfg, dfd));
	ASSERT_LE(0, blk_get_config(&b, &c));
	ASSERT_TRUE(c.capacity == (2 << 20) / SECTOR && c.blk_size >= 512)
		TH_LOG("capacity %llu blk_size %u", (unsigned long long)c.capacity,
		       c.blk_size);
	buf = blk_buf(&b, 256 << 10, 0);
	for (i = 0; i < 6; i++) {
		uint64_t sector = i * 512;
		size_t len = 4096 << i;

		memset(buf, 0, len);
		ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_IN, sector, buf, len,
				   NULL) == VIRTIO_BLK_S_OK)
			TH_LOG("read %d", i);
		ASSERT_TRUE(!blk_check_pattern(buf, len, 31, sector * SECTOR))
			TH_LOG("read %d data", i);
		blk_pattern(buf, len, 50 + i, sector * SECTOR);
		ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, sector, buf, len,
				   NULL) == VIRTIO_BLK_S_OK)
			TH_LOG("write %d", i);
		check_file(_metadata, fd, sector * SECTOR, len, 50 + i);
	}
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("flush");
	discard_write_zeroes_on(_metadata, &b, fd, (2 << 20) / SECTOR);
	blk_dev_close(&b);
	scattered_on(_metadata, dfd, fd);
	close(dfd);
	close(fd);
}

/* A file opened O_DIRECT on ext4 (on a ram disk): async direct I/O. */
/* ext4 on /dev/ram3, mounted for the test and unmounted after it. */
FIXTURE(ext4) {
	char dir[32];
	bool mounted;
};

FIXTURE_SETUP(ext4)
{
	snprintf(self->dir, sizeof(self->dir), "/tmp/vhx-ext4.XXXXXX");
	if (access("/dev/ram3", F_OK))
		SKIP(return, "no /dev/ram3 (brd)");
	if (system("mkfs.ext4 -q -F /dev/ram3 >/dev/null 2>&1"))
		SKIP(return, "mkfs.ext4 /dev/ram3 failed");
	ASSERT_TRUE(mkdtemp(self->dir))
		TH_LOG("mkdtemp: %m");
	/* No udev or automatic module loading in the test VM. */
	if (system("modprobe -q ext4"))
		TH_LOG("modprobe ext4 failed");
	if (mount("/dev/ram3", self->dir, "ext4", 0, NULL)) {
		rmdir(self->dir);
		SKIP(return, "cannot mount ext4: %m");
	}
	self->mounted = true;
}

FIXTURE_TEARDOWN_PARENT(ext4)
{
	if (self->mounted)
		umount2(self->dir, MNT_DETACH);
	rmdir(self->dir);
}

TEST_F(ext4, odirect_file)
{
	char path[64];

	snprintf(path, sizeof(path), "%s/disk", self->dir);
	odirect_on(_metadata, path);
}

/*
 * Guest memory the owner declared but cannot access: a PROT_NONE region
 * and a read-only one.  Requests into them fail with IOERR, the backend
 * is untouched, and a status byte there stops the queue.
 */
static void hostile_memory_on(struct __test_metadata *_metadata, int fd,
			      int check_fd)
{
	struct blk_cfg cfg = {};
	struct vhost_memory_region r[3];
	struct vhxg_buf out[2], in[2];
	uint8_t *none, *ro, *hdrbuf;
	struct virtio_blk_outhdr *hdr;
	struct blk_dev b;

	fill_file(_metadata, check_fd, 0, 65536, 8);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	none = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	ro = mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		  0);
	ASSERT_TRUE(none != MAP_FAILED && ro != MAP_FAILED)
		TH_LOG("mmap: %m");
	r[0] = (struct vhost_memory_region){ (uintptr_t)b.arena.base,
		b.arena.size, (uintptr_t)b.arena.base, 0 };
	r[1] = (struct vhost_memory_region){ (uintptr_t)none, 1 << 20,
		(uintptr_t)none, 0 };
	r[2] = (struct vhost_memory_region){ (uintptr_t)ro, 1 << 20,
		(uintptr_t)ro, 0 };
	ASSERT_LE(0, vhxg_set_mem_table(&b.dev, r, 3));

	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_IN, 0, none, 4096, NULL) ==
		    VIRTIO_BLK_S_IOERR)
		TH_LOG("read into PROT_NONE memory");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_IN, 0, ro, 4096, NULL) ==
		    VIRTIO_BLK_S_IOERR)
		TH_LOG("read into read-only memory");
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 8, none, 4096, NULL) ==
		    VIRTIO_BLK_S_IOERR)
		TH_LOG("write from PROT_NONE memory");
	check_file(_metadata, check_fd, 0, 65536, 8);
	/* Read-only memory is fine to write to the disk from. */
	ASSERT_TRUE(blk_do(&b, 0, VIRTIO_BLK_T_OUT, 16, ro, 4096, NULL) ==
		    VIRTIO_BLK_S_OK)
		TH_LOG("write from read-only memory");
	check_file_zero(_metadata, check_fd, 16 * SECTOR, 4096);
	check_file(_metadata, check_fd, 0, 16 * SECTOR, 8);

	/* The status byte where it cannot be written: the queue stops. */
	hdrbuf = blk_buf(&b, 64, 0);
	hdr = (void *)hdrbuf;
	hdr->type = VIRTIO_BLK_T_FLUSH;
	out[0] = (struct vhxg_buf){ hdr, sizeof(*hdr) };
	in[0] = (struct vhxg_buf){ ro + 100, 1 };
	ASSERT_LE(0, vhxg_vq_add(&b.dev.vqs[0], out, 1, in, 1, 0));
	ASSERT_LE(0, blk_kick(&b, 0));
	ASSERT_TRUE(vhxg_vq_wait_err(&b.dev.vqs[0], WAIT_MS) == 1)
		TH_LOG("status in read-only memory: no ERR eventfd");
	blk_dev_close(&b);
	munmap(none, 1 << 20);
	munmap(ro, 1 << 20);
}

TEST(hostile_memory)
{
	int fd = blk_tmpfile(FILE_BYTES);

	ASSERT_LE(0, fd);
	hostile_memory_on(_metadata, fd, fd);
	fd = blk_open_ramdisk(0, O_RDWR, NULL);
	if (fd == -ENOENT)
		SKIP(return, "no /dev/ram0 (brd)");
	ASSERT_LE(0, fd);
	hostile_memory_on(_metadata, fd, fd);
}

/* DISCARD reaches a block device that can discard (null_blk frees it). */
static void discard_reaches(struct __test_metadata *_metadata, const char *path)
{
	struct virtio_blk_discard_write_zeroes s = seg(64, 16, 0);
	struct blk_cfg cfg = {};
	struct blk_dev b;
	int fd;

	fd = open(path, O_RDWR | O_EXCL | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open %s: %m", path);
	fill_file(_metadata, fd, 0, 64 << 10, 13);
	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	ASSERT_TRUE(dwz(&b, VIRTIO_BLK_T_DISCARD, &s, 1) == VIRTIO_BLK_S_OK)
		TH_LOG("discard");
	check_file(_metadata, fd, 0, 64 * SECTOR, 13);
	check_file_zero(_metadata, fd, 64 * SECTOR, 16 * SECTOR);
	check_file(_metadata, fd, 80 * SECTOR, (128 - 80) * SECTOR, 13);
	blk_dev_close(&b);
	close(fd);
}

/* A null_blk that can discard, removed after the test. */
FIXTURE(nullb) {
	struct nullb s;
};

FIXTURE_SETUP(nullb)
{
	if (blk_slow_create(&self->s, 16, 1, true))
		SKIP(return, "cannot make a null_blk with discard");
}

FIXTURE_TEARDOWN_PARENT(nullb)
{
	EXPECT_LE(0, blk_slow_destroy(&self->s));
}

TEST_F(nullb, discard_block_device)
{
	discard_reaches(_metadata, self->s.path);
}


VHX_TEST_MAIN("/dev/vhx-blk")
