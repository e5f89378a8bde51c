// SPDX-License-Identifier: GPL-2.0
/*
 * Split virtqueue access for the few queues the VMM serves itself (the
 * virtio-net control queue).  Guest memory is untrusted: every address and
 * length is checked against guest RAM, chains are bounded by the ring size.
 */
#include <linux/virtio_ring.h>
#include <string.h>

#include "virtio.h"

static void *ring_ptr(struct virtio_dev *vdev, u64 gpa, u64 len)
{
	return gpa_to_hva(vdev->vm, gpa, len);
}

static int add_buf(struct vring_req *req, struct virtio_dev *vdev,
		   const struct vring_desc *d)
{
	void *p = ring_ptr(vdev, d->addr, d->len);

	if (!p)
		return -1;
	if (d->flags & VRING_DESC_F_WRITE) {
		if (req->nr_in == (int)ARRAY_SIZE(req->in))
			return -1;
		req->in[req->nr_in].base = p;
		req->in[req->nr_in++].len = d->len;
	} else {
		if (req->nr_in || req->nr_out == (int)ARRAY_SIZE(req->out))
			return -1;	/* readable after writable */
		req->out[req->nr_out].base = p;
		req->out[req->nr_out++].len = d->len;
	}
	return 0;
}

static int walk_indirect(struct virtio_dev *vdev, const struct vring_desc *d,
			 struct vring_req *req)
{
	u32 n = d->len / sizeof(struct vring_desc), i = 0, steps;
	struct vring_desc *table = ring_ptr(vdev, d->addr, d->len);

	if (!table || !n || d->len % sizeof(struct vring_desc))
		return -1;
	for (steps = 0; steps < n; steps++) {
		struct vring_desc sub = table[i];

		if (sub.flags & VRING_DESC_F_INDIRECT)
			return -1;
		if (add_buf(req, vdev, &sub))
			return -1;
		if (!(sub.flags & VRING_DESC_F_NEXT))
			return 0;
		i = sub.next;
		if (i >= n)
			return -1;
	}
	return -1;			/* a loop */
}

int vring_pop(struct virtio_dev *vdev, struct virtio_queue *vq,
	      struct vring_req *req)
{
	u16 size = vq->size, head, i, steps;
	struct vring_avail *avail;
	struct vring_desc *desc;

	avail = ring_ptr(vdev, vq->avail, sizeof(*avail) + 2 * size);
	desc = ring_ptr(vdev, vq->desc, sizeof(*desc) * size);
	if (!avail || !desc)
		return -1;
	if (__atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE) == vq->last_avail)
		return 0;
	head = avail->ring[vq->last_avail % size];
	vq->last_avail++;
	if (head >= size)
		return -1;

	memset(req, 0, sizeof(*req));
	req->head = head;
	for (i = head, steps = 0; steps < size; steps++) {
		struct vring_desc d = desc[i];

		if (d.flags & VRING_DESC_F_INDIRECT)
			return walk_indirect(vdev, &d, req) ? -1 : 1;
		if (add_buf(req, vdev, &d))
			return -1;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 1;
		i = d.next;
		if (i >= size)
			return -1;
	}
	return -1;
}

void vring_push(struct virtio_dev *vdev, struct virtio_queue *vq, u16 head,
		u32 len)
{
	struct vring_used *used;
	u16 idx;

	used = ring_ptr(vdev, vq->used, sizeof(*used) + 8 * vq->size);
	if (!used)
		return;
	idx = used->idx;
	used->ring[idx % vq->size].id = head;
	used->ring[idx % vq->size].len = len;
	__atomic_store_n(&used->idx, idx + 1, __ATOMIC_RELEASE);
}
