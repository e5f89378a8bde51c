// SPDX-License-Identifier: GPL-2.0
/*
 * The vhost side of a device: the node (vhx or upstream) gets our RAM
 * mapping as its memory table, so guest physical addresses translate to
 * our virtual addresses, and each ring gets its addresses in our address
 * space plus the kick and call eventfds of the transport.  The ioctls
 * themselves are the guest-less library's (userspace/lib/vhost_ioctl.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vhost.h"

int vm_vhost_open(struct vm *vm, const char *path, const char *hint)
{
	struct vhost_memory_region r[VM_MEM_REGIONS];
	int fd = open(path, O_RDWR | O_CLOEXEC), err;

	if (fd < 0) {
		if (errno == ENOENT && hint)
			die("cannot open %s: no such device node (%s)", path,
			    hint);
		/* The module's nodes are root's alone unless a udev rule says. */
		if (errno == EACCES)
			die("cannot open %s: permission denied (run as root, or give your group access to %s)",
			    path, path);
		die_errno("cannot open %s", path);
	}
	err = vhost_set_owner(fd);
	if (err)
		die("%s: VHOST_SET_OWNER (not a vhost device?): %s", path,
		    strerror(-err));
	err = vhost_set_mem_table(fd, r, vm_mem_regions(vm, r));
	if (err)
		die("%s: VHOST_SET_MEM_TABLE: %s", path, strerror(-err));
	return fd;
}

u64 vm_vhost_features(int fd, const char *path)
{
	uint64_t features;
	int err = vhost_get_features(fd, &features);

	if (err)
		die("%s: VHOST_GET_FEATURES: %s", path, strerror(-err));
	return features;
}

int vm_vhost_start_vring(struct vm *vm, int fd, int idx,
			 struct virtio_queue *vq)
{
	u64 desc, avail, used;
	int err = virtio_queue_uaddrs(vm, vq, &desc, &avail, &used);

	if (!err)
		err = vhost_set_vring_num(fd, idx, vq->size);
	if (!err)
		err = vhost_set_vring_base(fd, idx, 0);
	if (!err)
		err = vhost_set_vring_addr(fd, idx, desc, avail, used, 0);
	if (!err)
		err = vhost_set_vring_fd(fd, VHOST_SET_VRING_KICK, idx,
					 vq->kick_fd);
	if (!err)
		err = vhost_set_vring_fd(fd, VHOST_SET_VRING_CALL, idx,
					 vq->call_fd);
	if (!err)
		err = vhost_set_vring_fd(fd, VHOST_SET_VRING_ERR, idx,
					 vq->err_fd);
	return err;
}

void vm_vhost_stop_vring(int fd, int idx, const char *name)
{
	unsigned int base;
	int err = vhost_get_vring_base(fd, idx, &base);

	if (err)
		warnx_vm("%s: VHOST_GET_VRING_BASE %d: %s", name, idx,
			 strerror(-err));
}
