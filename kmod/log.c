// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty logging for live migration (VHOST_F_LOG_ALL, VHOST_SET_LOG_BASE):
 * every guest page the device writes is marked in a bitmap in the owner's
 * memory, bit (gpa / 4096) % 8 of byte gpa / 4096 / 8, before the used
 * index that exposes the write, so that the VMM copies that page again.
 *
 * The VMM reads and clears the bitmap while we write it (QEMU exchanges
 * whole words with zero), so a bit is set with an atomic bitop on the
 * pinned page, never with a user copy that could lose the VMM's clears.
 *
 * The bitmap covers the memory table: a bit is set only for a page below
 * the table's end, so it lies in the first vhx_log_bytes() of the log,
 * the range SET_LOG_BASE and SET_MEM_TABLE checked.
 */
#include <linux/highmem.h>
#include <linux/mm.h>

#include "vhx.h"

#define VHX_LOG_PAGE_SHIFT	12
#define VHX_LOG_BITS		(8 * PAGE_SIZE)	/* bits one log page holds */

/* Guest pages the log covers: up to the end of the highest region. */
static u64 vhx_log_pages(const struct vhx_mem *mem)
{
	const struct vhx_mem_region *r;
	u64 end;

	if (!mem || !mem->nregions)
		return 0;
	r = &mem->regions[mem->nregions - 1];
	end = r->gpa + r->size;		/* no wrap: vhx_mem_check() */
	/* Not DIV_ROUND_UP: a table may end within a page of 2^64. */
	return (end >> VHX_LOG_PAGE_SHIFT) +
	       !!(end & ((1ULL << VHX_LOG_PAGE_SHIFT) - 1));
}

/* Bytes of log the memory table needs. */
u64 vhx_log_bytes(const struct vhx_mem *mem)
{
	return DIV_ROUND_UP_ULL(vhx_log_pages(mem), 8);
}

/*
 * Can a log at base cover mem, within the owner's address space?  Not
 * access_ok(), which may let anything below the kernel's half through.
 * (The log is pinned page by page when used.)
 */
bool vhx_log_fits(u64 base, const struct vhx_mem *mem)
{
	return base < TASK_SIZE && vhx_log_bytes(mem) <= TASK_SIZE - base;
}

/* Set bits first..last of the log (one log page holds 32768 of them). */
static int vhx_log_set(u64 base, u64 first, u64 last)
{
	while (first <= last) {
		u64 byte = base + first / 8;
		u64 page_addr = byte & PAGE_MASK;
		u64 bit = (byte - page_addr) * 8 + first % 8;
		u64 n = min(last - first + 1, VHX_LOG_BITS - bit);
		struct page *page;
		unsigned long *map;
		int ret;

		ret = pin_user_pages_fast(page_addr, 1, FOLL_WRITE, &page);
		if (ret != 1)
			return ret < 0 ? ret : -EFAULT;
		map = kmap_local_page(page);
		for (; n; n--, first++, bit++)
			set_bit(bit, map);
		kunmap_local(map);
		unpin_user_pages_dirty_lock(&page, 1, true);
	}
	return 0;
}

/*
 * Mark the guest pages of [gpa, gpa + len).  A range past the memory
 * table's end is outside the log: -EFAULT, and the queue stops.
 */
static int vhx_log_gpa(struct vhx_vq *vq, u64 gpa, u64 len)
{
	u64 pages = vhx_log_pages(vq->ring.mem);
	u64 last;

	if (!len)
		return 0;
	if (len - 1 > ~0ULL - gpa)
		return -EFAULT;
	last = (gpa + len - 1) >> VHX_LOG_PAGE_SHIFT;
	if (last >= pages)
		return -EFAULT;
	/* The log is the owner's memory: only its own threads reach it. */
	if (current->mm != vq->dev->mm || !vq->log_base)
		return -EFAULT;
	vq->logged = true;
	return vhx_log_set(vq->log_base, gpa >> VHX_LOG_PAGE_SHIFT, last);
}

/*
 * Log a write of len bytes at the owner's address uaddr: the guest pages
 * of every region that maps it (a region may alias another's memory).
 * What no region maps any more (the table changed under a request) is
 * no guest memory and needs no log.
 */
int vhx_log_write(struct vhx_vq *vq, u64 uaddr, u64 len)
{
	const struct vhx_mem *mem = vq->ring.mem;
	u64 end, lo, hi;
	u32 i;
	int ret;

	if (!len)
		return 0;
	if (!mem || len > ~0ULL - uaddr)
		return -EFAULT;
	end = uaddr + len;
	for (i = 0; i < mem->nregions; i++) {
		const struct vhx_mem_region *r = &mem->regions[i];

		lo = max(uaddr, r->uaddr);
		hi = min(end, r->uaddr + r->size);
		if (lo >= hi)
			continue;
		ret = vhx_log_gpa(vq, r->gpa + (lo - r->uaddr), hi - lo);
		if (ret)
			return ret;
	}
	return 0;
}

/* Log the first len bytes written through iov[0 .. n). */
int vhx_log_iov(struct vhx_vq *vq, const struct iovec *iov, u32 n, u64 len)
{
	u32 i;
	int ret;

	for (i = 0; i < n && len; i++) {
		u64 chunk = min_t(u64, len, iov[i].iov_len);

		ret = vhx_log_write(vq, (u64)(uintptr_t)iov[i].iov_base, chunk);
		if (ret)
			return ret;
		len -= chunk;
	}
	return 0;
}

/*
 * The ring's hook for its stores into the used ring (VHOST_VRING_F_LOG):
 * off is relative to the used ring, whose guest address the VMM gave as
 * log_guest_addr.
 */
int vhx_log_used(struct vhx_ring *r, u64 off, u64 len)
{
	struct vhx_vq *vq = container_of(r, struct vhx_vq, ring);

	if (off > ~0ULL - r->log_addr)
		return -EFAULT;
	return vhx_log_gpa(vq, r->log_addr + off, len);
}

/* Tell the VMM the log changed (VHOST_SET_LOG_FD), once per publish. */
void vhx_log_signal(struct vhx_vq *vq)
{
	if (!vq->logged)
		return;
	vq->logged = false;
	if (vq->log_ctx)
		vhx_eventfd_signal(vq->log_ctx);
}
