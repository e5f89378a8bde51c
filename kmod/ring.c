// SPDX-License-Identifier: GPL-2.0
/*
 * The split virtqueue walker.  Every byte it reads from the ring is written
 * by the guest, possibly while we read it, so each descriptor is copied
 * once into local memory and only that copy is checked and used.  Anything
 * out of bounds is an error for the caller to turn into a stopped queue;
 * nothing here retries or guesses.
 *
 * This file is built both into the module and into userspace tests.
 */
#include "ring.h"

#define AVAIL_FLAGS(r)		((r)->avail)
#define AVAIL_IDX(r)		((r)->avail + 2)
#define AVAIL_ENTRY(r, i)	((r)->avail + 4 + 2 * (u64)(i))
#define USED_EVENT(r)		AVAIL_ENTRY(r, (r)->num)
#define USED_FLAGS(r)		((r)->used)
#define USED_IDX(r)		((r)->used + 2)
#define USED_ENTRY(r, i)	((r)->used + 4 + 8 * (u64)(i))
#define AVAIL_EVENT(r)		USED_ENTRY(r, (r)->num)

static u64 desc_bytes(u32 num)
{
	return 16 * (u64)num;
}

static u64 avail_bytes(u32 num)
{
	return 6 + 2 * (u64)num;
}

static u64 used_bytes(u32 num)
{
	return 6 + 8 * (u64)num;
}

/* A store into the used ring, logged when the VMM asked for it. */
static int used_write(struct vhx_ring *r, u64 uaddr, const void *src,
		      size_t len)
{
	int ret = vhx_write(uaddr, src, len);

	if (ret || !r->log_used)
		return ret;
	return r->log_used(r, uaddr - r->used, len);
}

static int used_write16(struct vhx_ring *r, u64 uaddr, u16 val)
{
	int ret = vhx_write16(uaddr, val);

	if (ret || !r->log_used)
		return ret;
	return r->log_used(r, uaddr - r->used, sizeof(val));
}

/*
 * Copy a descriptor at guest address gpa, which may span regions: as many
 * as it has bytes at most, since no region is empty.
 */
static int read_desc(const struct vhx_mem *mem, u64 gpa, struct vhx_desc *dst)
{
	struct iovec iov[sizeof(*dst)];
	char *p = (char *)dst;
	u32 i, n = 0;
	int ret;

	ret = vhx_mem_to_iov(mem, gpa, sizeof(*dst), iov, sizeof(*dst), &n);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		ret = vhx_read(p, (u64)(uintptr_t)iov[i].iov_base,
			       iov[i].iov_len);
		if (ret)
			return ret;
		p += iov[i].iov_len;
	}
	return 0;
}

/* Does the ring layout fit the memory table?  Reads no guest memory. */
int vhx_ring_check(const struct vhx_ring *r)
{
	if (!r->num || r->num > VHX_RING_MAX || (r->num & (r->num - 1)))
		return -EINVAL;
	if (!vhx_mem_holds_uaddr(r->mem, r->desc, desc_bytes(r->num)) ||
	    !vhx_mem_holds_uaddr(r->mem, r->avail, avail_bytes(r->num)) ||
	    !vhx_mem_holds_uaddr(r->mem, r->used, used_bytes(r->num)))
		return -EFAULT;
	return 0;
}

/*
 * Check the layout and pick up where the guest's used ring stands.  Called
 * only before a queue starts processing: a running queue keeps its own
 * used index, whatever the guest writes there.
 */
int vhx_ring_start(struct vhx_ring *r)
{
	int ret = vhx_ring_check(r);

	if (ret)
		return ret;
	r->signalled_valid = false;
	r->avail_idx = r->last_avail;
	return vhx_read16(USED_IDX(r), &r->used_idx);
}

/* Re-read avail->idx: > 0 when entries are waiting, 0 when empty. */
int vhx_ring_pending(struct vhx_ring *r)
{
	u16 idx;
	int ret;

	ret = vhx_read16(AVAIL_IDX(r), &idx);
	if (ret)
		return ret;
	/* The guest may only publish entries it has; more is a broken ring. */
	if ((u16)(idx - r->last_avail) > r->num)
		return -EINVAL;
	r->avail_idx = idx;
	if (idx == r->last_avail)
		return 0;
	/* Entries are read only after the index that published them. */
	vhx_rmb();
	return 1;
}

static int add_segment(struct vhx_ring *r, const struct vhx_desc *d,
		       struct vhx_chain *c, struct iovec *iov, u32 iov_max)
{
	u16 flags = le16_to_cpu(d->flags);
	u32 len = le32_to_cpu(d->len);
	u32 n = c->out + c->in;
	int ret;

	ret = vhx_mem_to_iov(r->mem, le64_to_cpu(d->addr), len, iov, iov_max,
			     &n);
	if (ret)
		return ret;
	if (flags & VHX_DESC_F_WRITE) {
		c->in = n - c->out;
		c->in_len += len;
	} else {
		/* The device reads first, then writes; never the reverse. */
		if (c->in)
			return -EINVAL;
		c->out = n;
		c->out_len += len;
	}
	return 0;
}

/*
 * The spec bounds a chain by the queue size (2.7.5.3.1), yet Linux puts
 * up to seg_max + 2 entries in one table whatever the size, and QEMU and
 * vhost take tables of up to 1024: so does vhx, as an honest guest with a
 * small queue would otherwise lose its disk.  The walk stays bounded.
 */
static u32 indirect_max(const struct vhx_ring *r)
{
	return r->num > VHX_IOV_MAX ? r->num : VHX_IOV_MAX;
}

static int walk_indirect(struct vhx_ring *r, const struct vhx_desc *table,
			 struct vhx_chain *c, struct iovec *iov, u32 iov_max)
{
	u32 len = le32_to_cpu(table->len);
	u64 base = le64_to_cpu(table->addr);
	u32 count = len / sizeof(struct vhx_desc);
	u32 i = 0, steps = 0;
	struct vhx_desc d;
	int ret;

	if (!r->indirect || !len || len % sizeof(struct vhx_desc) ||
	    count > VHX_RING_MAX)
		return -EINVAL;
	/* The whole table must be guest memory, not just what we walk. */
	ret = vhx_mem_to_iov(r->mem, base, len, NULL, 0, &steps);
	if (ret)
		return ret;
	for (;;) {
		if (++steps > count)
			return -ELOOP;
		ret = read_desc(r->mem, base + (u64)i * sizeof(d), &d);
		if (ret)
			return ret;
		if (le16_to_cpu(d.flags) & VHX_DESC_F_INDIRECT)
			return -EINVAL;
		if (++c->ndesc > indirect_max(r))
			return -E2BIG;
		ret = add_segment(r, &d, c, iov, iov_max);
		if (ret)
			return ret;
		if (!(le16_to_cpu(d.flags) & VHX_DESC_F_NEXT))
			return 0;
		i = le16_to_cpu(d.next);
		if (i >= count)
			return -EINVAL;
	}
}

static int walk_chain(struct vhx_ring *r, struct vhx_chain *c,
		      struct iovec *iov, u32 iov_max)
{
	u32 i = c->head, steps = 0;
	struct vhx_desc d;
	u16 flags;
	int ret;

	for (;;) {
		if (++steps > r->num)
			return -ELOOP;
		ret = vhx_read(&d, r->desc + (u64)i * sizeof(d), sizeof(d));
		if (ret)
			return ret;
		flags = le16_to_cpu(d.flags);
		if (flags & VHX_DESC_F_INDIRECT) {
			/* A table ends its chain (virtio spec 2.7.5.3.1). */
			if (flags & VHX_DESC_F_NEXT)
				return -EINVAL;
			return walk_indirect(r, &d, c, iov, iov_max);
		}
		c->ndesc++;
		ret = add_segment(r, &d, c, iov, iov_max);
		if (ret)
			return ret;
		if (!(flags & VHX_DESC_F_NEXT))
			return 0;
		i = le16_to_cpu(d.next);
		if (i >= r->num)
			return -EINVAL;
	}
}

/*
 * Take the next available chain.  Returns 1 with the chain's segments in
 * iov[0 .. c->out + c->in), readable ones first; 0 when the ring is empty;
 * a negative errno when the ring is malformed (the entry is not consumed).
 */
int vhx_ring_get(struct vhx_ring *r, struct vhx_chain *c,
		 struct iovec *iov, u32 iov_max)
{
	u16 head;
	int ret;

	if (r->avail_idx == r->last_avail) {
		ret = vhx_ring_pending(r);
		if (ret <= 0)
			return ret;
	}
	ret = vhx_read16(AVAIL_ENTRY(r, r->last_avail & (r->num - 1)), &head);
	if (ret)
		return ret;
	if (head >= r->num)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->head = head;
	ret = walk_chain(r, c, iov, iov_max);
	if (ret)
		return ret;
	r->last_avail++;
	return 1;
}

/* Give back the last n chains taken, to be taken again later. */
void vhx_ring_unget(struct vhx_ring *r, u16 n)
{
	r->last_avail -= n;
}

/*
 * Publish n used elements, then the index that makes them visible.  More
 * than num at once would overwrite entries the guest has not seen yet.
 */
int vhx_ring_put(struct vhx_ring *r, const struct vhx_used_elem *elems,
		 u32 n)
{
	u32 done = 0, start, chunk;
	int ret;

	if (n > r->num)
		return -EINVAL;
	if (!n)
		return 0;
	while (done < n) {
		start = (u16)(r->used_idx + done) & (r->num - 1);
		chunk = n - done < r->num - start ? n - done : r->num - start;
		ret = used_write(r, USED_ENTRY(r, start), elems + done,
				 chunk * sizeof(*elems));
		if (ret)
			return ret;
		done += chunk;
	}
	vhx_wmb();
	ret = used_write16(r, USED_IDX(r), r->used_idx + n);
	if (!ret)
		r->used_idx += n;
	return ret;
}

/* Has used_idx moved past event since old?  (virtio spec 2.7.10) */
static bool event_crossed(u16 event, u16 new_idx, u16 old)
{
	return (u16)(new_idx - event - 1) < (u16)(new_idx - old);
}

/* Should the guest be interrupted for what was just published? */
int vhx_ring_need_call(struct vhx_ring *r)
{
	u16 flags, event, old;
	bool valid;
	int ret;

	/* Our used->idx store must be visible before we read its wishes. */
	vhx_mb();
	if (r->notify_on_empty) {
		ret = vhx_ring_pending(r);
		if (ret <= 0)
			return ret < 0 ? ret : 1;
	}
	if (!r->event_idx) {
		ret = vhx_read16(AVAIL_FLAGS(r), &flags);
		return ret ? ret : !(flags & VHX_AVAIL_F_NO_INTERRUPT);
	}
	ret = vhx_read16(USED_EVENT(r), &event);
	if (ret)
		return ret;
	old = r->signalled_used;
	valid = r->signalled_valid;
	r->signalled_used = r->used_idx;
	r->signalled_valid = true;
	return !valid || event_crossed(event, r->used_idx, old);
}

/*
 * Ask the guest to kick again.  Returns > 0 if entries arrived since we
 * last read avail->idx, in which case the caller should keep going instead
 * of sleeping.  Entries we saw but gave back (vhx_ring_unget) do not count:
 * the caller is waiting for more than those.
 */
int vhx_ring_notify_on(struct vhx_ring *r)
{
	u16 seen = r->avail_idx;
	int ret;

	if (r->event_idx)
		ret = used_write16(r, AVAIL_EVENT(r), r->avail_idx);
	else
		ret = used_write16(r, USED_FLAGS(r), 0);
	if (ret)
		return ret;
	/* The flag must be visible before we look at avail->idx again. */
	vhx_mb();
	ret = vhx_ring_pending(r);
	return ret < 0 ? ret : r->avail_idx != seen;
}

/* Tell the guest kicks are not needed while we are polling the ring. */
int vhx_ring_notify_off(struct vhx_ring *r)
{
	if (r->event_idx)
		return 0;
	return used_write16(r, USED_FLAGS(r), VHX_USED_F_NO_NOTIFY);
}
