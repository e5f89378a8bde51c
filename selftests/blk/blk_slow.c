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

int blk_slow_create(struct blk_slow *s, unsigned int size_mb,
		    unsigned int completion_us, bool discard)
{
	char val[32], idx[32];
	struct stat st;
	int ret, i;

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
	if (!ret)
		ret = write_attr(s->dir, "irqmode", "2");
	snprintf(val, sizeof(val), "%u", completion_us * 1000);
	if (!ret)
		ret = write_attr(s->dir, "completion_nsec", val);
	if (!ret)
		ret = write_attr(s->dir, "hw_queue_depth", "256");
	if (!ret && discard)
		ret = write_attr(s->dir, "discard", "1");
	if (!ret)
		ret = write_attr(s->dir, "power", "1");
	if (!ret)
		ret = read_attr(s->dir, "index", idx, sizeof(idx));
	if (ret) {
		blk_slow_destroy(s);
		return ret;
	}
	/*
	 * Older kernels name the disk after the configfs directory, newer
	 * ones nullbN.  udev is not running: wait for devtmpfs to show it.
	 */
	for (i = 0; i < 100; i++) {
		snprintf(s->path, sizeof(s->path), "/dev/%s",
			 strrchr(s->dir, '/') + 1);
		if (!stat(s->path, &st))
			break;
		snprintf(s->path, sizeof(s->path), "/dev/nullb%d", atoi(idx));
		if (!stat(s->path, &st))
			break;
		usleep(10000);
	}
	if (stat(s->path, &st)) {
		blk_slow_destroy(s);
		return -ENOENT;
	}
	return 0;
}

void blk_slow_destroy(struct blk_slow *s)
{
	if (!s->dir[0])
		return;
	write_attr(s->dir, "power", "0");
	rmdir(s->dir);
	s->dir[0] = '\0';
}
