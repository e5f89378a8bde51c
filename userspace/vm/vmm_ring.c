// SPDX-License-Identifier: GPL-2.0
/*
 * The queues the VMM serves itself (the virtio-net control queue) are
 * walked by the module's own ring walker, kmod/ring.c, built here as in
 * selftests/unit: one walker with one set of rules for hostile rings.
 * Its memory table is guest RAM as this process maps it, the table vhost
 * gets too, and its accessors refuse anything outside that mapping.
 */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/vhost.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#include "virtio.h"

/* The one VM of this process, whose RAM the accessors may touch. */
static struct vm *ring_vm;
static struct vhx_mem *ring_mem;

static bool in_ram(u64 uaddr, size_t len)
{
	u64 base = (u64)(unsigned long)ring_vm->ram;
	u64 size = ring_vm->low_ram + ring_vm->high_ram;

	return uaddr >= base && len <= size && uaddr - base <= size - len;
}

int vhx_user_read(void *dst, u64 uaddr, size_t len)
{
	if (!ring_vm || !in_ram(uaddr, len))
		return -EFAULT;
	memcpy(dst, (void *)(unsigned long)uaddr, len);
	return 0;
}

int vhx_user_write(u64 uaddr, const void *src, size_t len)
{
	if (!ring_vm || !in_ram(uaddr, len))
		return -EFAULT;
	memcpy((void *)(unsigned long)uaddr, src, len);
	return 0;
}

static const struct vhx_mem *vm_ring_mem(struct vm *vm)
{
	struct vhost_memory_region r[VM_MEM_REGIONS];
	int i, n;

	if (ring_mem)
		return ring_mem;
	n = vm_mem_regions(vm, r);
	ring_mem = xzalloc(sizeof(*ring_mem) + n * sizeof(ring_mem->regions[0]));
	for (i = 0; i < n; i++)
		ring_mem->regions[i] = (struct vhx_mem_region){
			.gpa = r[i].guest_phys_addr,
			.size = r[i].memory_size,
			.uaddr = r[i].userspace_addr,
		};
	ring_mem->nregions = n;
	if (vhx_mem_check(ring_mem))
		die("guest RAM does not make a memory table");
	ring_vm = vm;
	return ring_mem;
}

int vmm_ring_start(struct virtio_dev *vdev, int q)
{
	struct virtio_queue *vq = &vdev->vqs[q];
	struct vhx_ring *r = &vq->ring;
	int err;

	memset(r, 0, sizeof(*r));
	r->mem = vm_ring_mem(vdev->vm);
	r->num = vq->size;
	err = virtio_queue_uaddrs(vdev->vm, vq, &r->desc, &r->avail, &r->used);
	if (err)
		return err;
	r->event_idx = virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX);
	r->indirect = virtio_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC);
	r->notify_on_empty = virtio_has_feature(vdev, VIRTIO_F_NOTIFY_ON_EMPTY);
	err = vhx_ring_start(r);
	if (err)
		return err;
	/* Kicks wanted from the start, avail_event included. */
	err = vhx_ring_notify_on(r);
	return err < 0 ? err : 0;
}

int vmm_ring_put(struct virtio_dev *vdev, int q, u16 head, u32 len)
{
	struct vhx_ring *r = &vdev->vqs[q].ring;
	struct vhx_used_elem e = { .id = cpu_to_le32(head),
				   .len = cpu_to_le32(len) };
	int ret = vhx_ring_put(r, &e, 1);

	if (ret)
		return ret;
	ret = vhx_ring_need_call(r);
	if (ret > 0)
		virtio_signal(vdev, q);
	return ret < 0 ? ret : 0;
}
