// SPDX-License-Identifier: GPL-2.0
/* The vhost ioctls on a bare fd: see vhost_ioctl.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/vhx.h>

#include "vhost_ioctl.h"

int vhost_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

int vhost_set_owner(int fd)
{
	return vhost_ioctl(fd, VHOST_SET_OWNER, NULL);
}

int vhost_reset_owner(int fd)
{
	return vhost_ioctl(fd, VHOST_RESET_OWNER, NULL);
}

int vhost_get_features(int fd, uint64_t *features)
{
	return vhost_ioctl(fd, VHOST_GET_FEATURES, features);
}

int vhost_set_features(int fd, uint64_t features)
{
	return vhost_ioctl(fd, VHOST_SET_FEATURES, &features);
}

int vhost_get_backend_features(int fd, uint64_t *features)
{
	return vhost_ioctl(fd, VHOST_GET_BACKEND_FEATURES, features);
}

int vhost_set_backend_features(int fd, uint64_t features)
{
	return vhost_ioctl(fd, VHOST_SET_BACKEND_FEATURES, &features);
}

int vhost_set_mem_table(int fd, const struct vhost_memory_region *regions,
			unsigned int nregions)
{
	struct vhost_memory *mem;
	int ret;

	mem = calloc(1, sizeof(*mem) + nregions * sizeof(*regions));
	if (!mem)
		return -ENOMEM;
	mem->nregions = nregions;
	if (nregions)
		memcpy(mem->regions, regions, nregions * sizeof(*regions));
	ret = vhost_ioctl(fd, VHOST_SET_MEM_TABLE, mem);
	free(mem);
	return ret;
}

int vhost_set_vring_num(int fd, unsigned int idx, unsigned int num)
{
	struct vhost_vring_state s = { .index = idx, .num = num };

	return vhost_ioctl(fd, VHOST_SET_VRING_NUM, &s);
}

int vhost_set_vring_base(int fd, unsigned int idx, unsigned int base)
{
	struct vhost_vring_state s = { .index = idx, .num = base };

	return vhost_ioctl(fd, VHOST_SET_VRING_BASE, &s);
}

int vhost_get_vring_base(int fd, unsigned int idx, unsigned int *base)
{
	struct vhost_vring_state s = { .index = idx };
	int ret = vhost_ioctl(fd, VHOST_GET_VRING_BASE, &s);

	if (!ret)
		*base = s.num;
	return ret;
}

int vhost_set_vring_addr(int fd, unsigned int idx, uint64_t desc,
			 uint64_t avail, uint64_t used, unsigned int flags)
{
	struct vhost_vring_addr a = {
		.index = idx,
		.flags = flags,
		.desc_user_addr = desc,
		.avail_user_addr = avail,
		.used_user_addr = used,
	};

	return vhost_ioctl(fd, VHOST_SET_VRING_ADDR, &a);
}

int vhost_set_vring_fd(int fd, unsigned long req, unsigned int idx, int efd)
{
	struct vhost_vring_file f = { .index = idx, .fd = efd };

	return vhost_ioctl(fd, req, &f);
}

int vhost_net_set_backend(int fd, unsigned int idx, int tap)
{
	return vhost_set_vring_fd(fd, VHOST_NET_SET_BACKEND, idx, tap);
}

int vhx_blk_set_backend(int fd, int backend)
{
	return vhost_ioctl(fd, VHX_BLK_SET_BACKEND, &backend);
}
