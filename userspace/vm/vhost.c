// SPDX-License-Identifier: GPL-2.0
/*
 * The vhost side of a device: the node (vhx or upstream) gets our RAM
 * mapping as its memory table, so guest physical addresses translate to
 * our virtual addresses, and each ring gets its addresses in our address
 * space plus the kick and call eventfds of the transport.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vhost.h"

static void set_mem_table(struct vm *vm, int fd, const char *path)
{
	struct vhost_memory *mem;
	int n = 0;

	mem = xzalloc(sizeof(*mem) + 2 * sizeof(struct vhost_memory_region));
	mem->regions[n].guest_phys_addr = 0;
	mem->regions[n].memory_size = vm->low_ram;
	mem->regions[n++].userspace_addr = (u64)(unsigned long)vm->ram;
	if (vm->high_ram) {
		mem->regions[n].guest_phys_addr = HIGH_RAM_START;
		mem->regions[n].memory_size = vm->high_ram;
		mem->regions[n++].userspace_addr =
			(u64)(unsigned long)(vm->ram + vm->low_ram);
	}
	mem->nregions = n;
	if (ioctl(fd, VHOST_SET_MEM_TABLE, mem) < 0)
		die_errno("%s: VHOST_SET_MEM_TABLE", path);
	free(mem);
}

int vhost_open(struct vm *vm, const char *path, const char *hint)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT && hint)
			die("cannot open %s: no such device node (%s)", path,
			    hint);
		die_errno("cannot open %s", path);
	}
	if (ioctl(fd, VHOST_SET_OWNER, NULL) < 0)
		die_errno("%s: VHOST_SET_OWNER (not a vhost device?)", path);
	set_mem_table(vm, fd, path);
	return fd;
}

u64 vhost_get_features(int fd, const char *path)
{
	u64 features;

	if (ioctl(fd, VHOST_GET_FEATURES, &features) < 0)
		die_errno("%s: VHOST_GET_FEATURES", path);
	return features;
}

int vhost_set_features(int fd, u64 features)
{
	return ioctl(fd, VHOST_SET_FEATURES, &features) < 0 ? -errno : 0;
}

static int ring_addresses(struct vm *vm, struct virtio_queue *vq,
			  struct vhost_vring_addr *a)
{
	void *desc = gpa_to_hva(vm, vq->desc, 16ULL * vq->size);
	void *avail = gpa_to_hva(vm, vq->avail, 6 + 2ULL * vq->size);
	void *used = gpa_to_hva(vm, vq->used, 6 + 8ULL * vq->size);

	if (!desc || !avail || !used)
		return -EFAULT;
	a->flags = 0;
	a->desc_user_addr = (u64)(unsigned long)desc;
	a->avail_user_addr = (u64)(unsigned long)avail;
	a->used_user_addr = (u64)(unsigned long)used;
	a->log_guest_addr = 0;
	return 0;
}

int vhost_start_vring(struct vm *vm, int fd, int idx, struct virtio_queue *vq)
{
	struct vhost_vring_state num = { .index = idx, .num = vq->size };
	struct vhost_vring_state base = { .index = idx, .num = 0 };
	struct vhost_vring_file kick = { .index = idx, .fd = vq->kick_fd };
	struct vhost_vring_file call = { .index = idx, .fd = vq->call_fd };
	struct vhost_vring_addr addr = { .index = idx };
	int err = ring_addresses(vm, vq, &addr);

	if (err)
		return err;
	if (ioctl(fd, VHOST_SET_VRING_NUM, &num) < 0 ||
	    ioctl(fd, VHOST_SET_VRING_BASE, &base) < 0 ||
	    ioctl(fd, VHOST_SET_VRING_ADDR, &addr) < 0 ||
	    ioctl(fd, VHOST_SET_VRING_KICK, &kick) < 0 ||
	    ioctl(fd, VHOST_SET_VRING_CALL, &call) < 0)
		return -errno;
	return 0;
}

void vhost_stop_vring(int fd, int idx, const char *name)
{
	struct vhost_vring_state state = { .index = idx };

	if (ioctl(fd, VHOST_GET_VRING_BASE, &state) < 0)
		warnx_vm("%s: VHOST_GET_VRING_BASE %d: %s", name, idx,
			 strerror(errno));
}
