// SPDX-License-Identifier: GPL-2.0
/* A slow null_blk device through configfs: see blk_slow.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "blk_slow.h"

#define NULLB_CONFIGFS	"/sys/kernel/config/nullb"

static int write_attr(const char *dir, const char *name, const char *val)
{
	char path[256];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int read_attr(const char *dir, const char *name, char *buf,
		     size_t len)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* Wait for devtmpfs to show the disk (udev is not running). */
static int wait_disk(struct blk_slow *s, const char *idx)
{
	struct stat st;
	int i;

	/* Older kernels name it nullbN, newer ones after the directory. */
	for (i = 0; i < 200; i++) {
		snprintf(s->path, sizeof(s->path), "/dev/%s",
			 strrchr(s->dir, '/') + 1);
		if (!stat(s->path, &st))
			return 0;
		snprintf(s->path, sizeof(s->path), "/dev/nullb%d", atoi(idx));
		if (!stat(s->path, &st))
			return 0;
		usleep(10000);
	}
	return -ENOENT;
}

static int create(struct blk_slow *s, unsigned int size_mb,
		  unsigned int completion_us, bool discard,
		  unsigned int cache_mb)
{
	char val[32], idx[32];
	struct stat st;
	int ret;

	memset(s, 0, sizeof(*s));
	if (stat(NULLB_CONFIGFS, &st)) {
		mount("configfs", "/sys/kernel/config", "configfs", 0, NULL);
		if (stat(NULLB_CONFIGFS, &st))
			return -ENOENT;
	}
	snprintf(s->dir, sizeof(s->dir), NULLB_CONFIGFS "/vhxslow%d",
		 (int)getpid());
	if (mkdir(s->dir, 0755)) {
		s->dir[0] = '\0';
		return -errno;
	}
	snprintf(val, sizeof(val), "%u", size_mb);
	ret = write_attr(s->dir, "size", val);
	if (!ret)
		ret = write_attr(s->dir, "memory_backed", "1");
	if (!ret && completion_us) {
		ret = write_attr(s->dir, "irqmode", "2");
		snprintf(val, sizeof(val), "%u", completion_us * 1000);
		if (!ret)
			ret = write_attr(s->dir, "completion_nsec", val);
	}
	/* Enough tags that nothing waits for one at the null_blk. */
	if (!ret)
		ret = write_attr(s->dir, "hw_queue_depth", "1024");
	if (!ret)
		ret = write_attr(s->dir, "no_sched", "1");
	if (!ret && discard)
		ret = write_attr(s->dir, "discard", "1");
	snprintf(val, sizeof(val), "%u", cache_mb);
	if (!ret && cache_mb)
		ret = write_attr(s->dir, "cache_size", val);
	if (!ret)
		ret = write_attr(s->dir, "power", "1");
	if (!ret)
		ret = read_attr(s->dir, "index", idx, sizeof(idx));
	if (!ret)
		ret = wait_disk(s, idx);
	if (ret) {
		blk_slow_destroy(s);
		return ret;
	}
	return 0;
}

int blk_slow_create(struct blk_slow *s, unsigned int size_mb,
		    unsigned int completion_us, bool discard)
{
	return create(s, size_mb, completion_us, discard, 0);
}

int blk_slow_create_cached(struct blk_slow *s, unsigned int size_mb,
			   unsigned int cache_mb)
{
	return create(s, size_mb, 0, false, cache_mb);
}

int blk_slow_power_cycle(struct blk_slow *s)
{
	char idx[32];
	int ret;

	ret = write_attr(s->dir, "power", "0");
	if (!ret)
		ret = write_attr(s->dir, "power", "1");
	if (!ret)
		ret = read_attr(s->dir, "index", idx, sizeof(idx));
	return ret ? ret : wait_disk(s, idx);
}

int blk_slow_flushes(struct blk_slow *s, unsigned long *n)
{
	char dir[128], buf[512], *p;
	unsigned int i;
	int ret;

	snprintf(dir, sizeof(dir), "/sys/block/%s", strrchr(s->path, '/') + 1);
	ret = read_attr(dir, "stat", buf, sizeof(buf));
	if (ret)
		return ret;
	/* Field 16 counts flushes (since 5.5); fields 12-15, discards. */
	p = buf;
	for (i = 1; i <= 16; i++) {
		*n = strtoul(p, &p, 10);
		if (!*p && i < 16)
			return -EPROTO;
	}
	return 0;
}

/* No one holds the disk open exclusively: a dropped reference went. */
static int wait_unclaimed(struct blk_slow *s)
{
	int i, fd = -1;

	for (i = 0; i < 100; i++) {
		fd = open(s->path, O_RDWR | O_EXCL | O_CLOEXEC);
		if (fd >= 0 || errno != EBUSY)
			break;
		usleep(20000);
	}
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int blk_slow_destroy(struct blk_slow *s)
{
	int ret = 0, r;

	if (!s->dir[0])
		return 0;
	if (s->path[0])
		ret = wait_unclaimed(s);
	r = write_attr(s->dir, "power", "0");
	if (!ret)
		ret = r;
	if (rmdir(s->dir) && !ret)
		ret = -errno;
	s->dir[0] = '\0';
	return ret;
}
