// SPDX-License-Identifier: GPL-2.0
/* null_blk disks through configfs: see nullb.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "kselftest.h"
#include "nullb.h"

#define NULLB_DIR	"/sys/kernel/config/nullb"

int nullb_set(struct nullb *n, const char *attr, const char *val)
{
	char path[256];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", n->dir, attr);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int nullb_index(struct nullb *n, int *idx)
{
	char path[256], buf[32];
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/index", n->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len < 0)
		return -errno;
	if (!len)
		return -EIO;
	buf[len] = '\0';
	*idx = atoi(buf);
	return 0;
}

/*
 * Wait for devtmpfs to show the disk (no udev in the test VM).  Some
 * kernels name it after the configfs directory, others nullbN.
 */
static int nullb_wait_disk(struct nullb *n)
{
	struct stat st;
	int i, idx = 0, ret;

	ret = nullb_index(n, &idx);
	if (ret)
		return ret;
	for (i = 0; i < 200; i++) {
		snprintf(n->name, sizeof(n->name), "%s",
			 strrchr(n->dir, '/') + 1);
		snprintf(n->path, sizeof(n->path), "/dev/%s", n->name);
		if (!stat(n->path, &st))
			return 0;
		snprintf(n->name, sizeof(n->name), "nullb%d", idx);
		snprintf(n->path, sizeof(n->path), "/dev/%s", n->name);
		if (!stat(n->path, &st))
			return 0;
		usleep(10000);
	}
	n->path[0] = n->name[0] = '\0';
	return -ENOENT;
}

int nullb_power(struct nullb *n, bool on)
{
	int ret = nullb_set(n, "power", on ? "1" : "0");

	return ret || !on ? ret : nullb_wait_disk(n);
}

int nullb_create(struct nullb *n, const char *tag, const char *const *attrs)
{
	char attr[64];
	struct stat st;
	int i, ret = 0;

	memset(n, 0, sizeof(*n));
	if (stat(NULLB_DIR, &st)) {
		mount("configfs", "/sys/kernel/config", "configfs", 0, NULL);
		if (stat(NULLB_DIR, &st))
			return -ENOENT;
	}
	snprintf(n->dir, sizeof(n->dir), NULLB_DIR "/%s%d", tag,
		 (int)getpid());
	if (mkdir(n->dir, 0755)) {
		ret = -errno;
		n->dir[0] = '\0';
		return ret;
	}
	for (i = 0; attrs[i] && !ret; i++) {
		const char *eq = strchr(attrs[i], '=');

		snprintf(attr, sizeof(attr), "%.*s", (int)(eq - attrs[i]),
			 attrs[i]);
		ret = nullb_set(n, attr, eq + 1);
		if (ret)
			ksft_print_msg("null_blk %s: %s\n", attrs[i], strerror(-ret));
	}
	if (!ret)
		ret = nullb_power(n, true);
	if (ret)
		nullb_destroy(n);
	return ret;
}

int nullb_wait_unclaimed(struct nullb *n)
{
	int i, fd = -1;

	for (i = 0; i < 100; i++) {
		fd = open(n->path, O_RDWR | O_EXCL | O_CLOEXEC);
		if (fd >= 0 || errno != EBUSY)
			break;
		usleep(20000);
	}
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int nullb_remove(struct nullb *n)
{
	if (!n->dir[0])
		return 0;
	if (rmdir(n->dir))
		return -errno;
	n->dir[0] = '\0';
	return 0;
}

int nullb_destroy(struct nullb *n)
{
	int ret, r;

	if (!n->dir[0])
		return 0;
	ret = nullb_power(n, false);
	r = nullb_remove(n);
	/* Never try again on a directory that would not go. */
	n->dir[0] = '\0';
	return ret ? ret : r;
}
