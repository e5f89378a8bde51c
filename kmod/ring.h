/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The split virtqueue as it sits in guest memory, and the walker that reads
 * it.  Shared with userspace, selftests/unit and selftests/fuzz (libFuzzer):
 * ring.c touches guest memory only through ring_access.h.
 */
#ifndef VHX_RING_H
#define VHX_RING_H

#include "mem.h"

/* Largest ring the virtio spec allows for a split queue. */
#define VHX_RING_MAX		32768
/* Most segments one request may gather (UIO_MAXIOV). */
#define VHX_IOV_MAX		1024

/* Descriptor flags (virtio spec 2.7.5). */
#define VHX_DESC_F_NEXT		1
#define VHX_DESC_F_WRITE	2
#define VHX_DESC_F_INDIRECT	4
#define VHX_USED_F_NO_NOTIFY	1
#define VHX_AVAIL_F_NO_INTERRUPT 1

struct vhx_desc {
	__le64 addr;
	__le32 len;
	__le16 flags;
	__le16 next;
};

struct vhx_used_elem {
	__le32 id;
	__le32 len;
};

/* Where a chain's data lies: out (device-readable) segments first. */
struct vhx_chain {
	u16 head;
	u16 ndesc;		/* descriptors walked, for accounting */
	u32 out;		/* number of readable segments */
	u32 in;			/* number of writable segments */
	u64 out_len;
	u64 in_len;
};

struct vhx_ring {
	const struct vhx_mem *mem;
	u64 desc, avail, used;	/* owner's user addresses */
	u32 num;
	u16 last_avail;		/* next avail slot the device takes */
	u16 avail_idx;		/* avail->idx as last read */
	u16 used_idx;		/* used->idx as last published */
	u16 signalled_used;	/* used_idx at the last call */
	bool signalled_valid;
	bool event_idx;		/* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;		/* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool notify_on_empty;	/* VIRTIO_F_NOTIFY_ON_EMPTY negotiated */
	/*
	 * Dirty logging of the used ring (VHOST_VRING_F_LOG): called after
	 * each store into it with the offset and length stored; log_addr is
	 * the ring's guest address.  NULL when not logging.
	 */
	int (*log_used)(struct vhx_ring *r, u64 off, u64 len);
	u64 log_addr;
};

int vhx_ring_check(const struct vhx_ring *r);
int vhx_ring_start(struct vhx_ring *r);
int vhx_ring_get(struct vhx_ring *r, struct vhx_chain *c,
		 struct iovec *iov, u32 iov_max);
void vhx_ring_unget(struct vhx_ring *r, u16 n);
int vhx_ring_put(struct vhx_ring *r, const struct vhx_used_elem *elems,
		 u32 n);
int vhx_ring_need_call(struct vhx_ring *r);
int vhx_ring_notify_on(struct vhx_ring *r);
int vhx_ring_notify_off(struct vhx_ring *r);
int vhx_ring_pending(struct vhx_ring *r);

#endif /* VHX_RING_H */
