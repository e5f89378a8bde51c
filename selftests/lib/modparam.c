// SPDX-License-Identifier: GPL-2.0
/* vhx's writable module parameters: see modparam.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "modparam.h"

static void param_path(char *path, size_t len, const char *name)
{
	snprintf(path, len, "/sys/module/vhx/parameters/%s", name);
}

int vhx_param_get(const char *name, unsigned long *val)
{
	char path[128], buf[32], *end;
	ssize_t n;
	int fd;

	param_path(path, sizeof(path), name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n ? -errno : -EIO;
	buf[n] = 0;
	*val = strtoul(buf, &end, 10);
	return end == buf ? -EINVAL : 0;
}

int vhx_param_set(const char *name, unsigned long val)
{
	char path[128], buf[32];
	int fd, len, ret = 0;

	param_path(path, sizeof(path), name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%lu\n", val);
	if (write(fd, buf, len) != len)
		ret = -errno;
	close(fd);
	return ret;
}
