// SPDX-License-Identifier: GPL-2.0
/*
 * The memory table: which guest physical ranges the owner's user memory
 * backs, and the translation of guest ranges into user-address segments.
 * Every address a queue uses goes through here first.
 *
 * This file is built both into the module and into userspace tests.
 */
#include "mem.h"

/* A table is valid when regions are non-empty, sorted and disjoint. */
int vhx_mem_check(const struct vhx_mem *mem)
{
	const struct vhx_mem_region *r;
	u32 i;

	for (i = 0; i < mem->nregions; i++) {
		r = &mem->regions[i];
		/* Empty or wrapping regions: -EFAULT, as upstream says. */
		if (!r->size || r->size > ~0ULL - r->gpa ||
		    r->size > ~0ULL - r->uaddr)
			return -EFAULT;
		if (i && r->gpa - mem->regions[i - 1].gpa <
			 mem->regions[i - 1].size)
			return -EINVAL;
	}
	return 0;
}

const struct vhx_mem_region *vhx_mem_find(const struct vhx_mem *mem, u64 gpa)
{
	u32 lo = 0, hi = mem->nregions;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		const struct vhx_mem_region *r = &mem->regions[mid];

		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/*
 * Append the user-address segments that back [gpa, gpa + len) to iov, or
 * with iov NULL just check the range.  A range that wraps or leaves the
 * table, even by one byte, is -EFAULT.
 */
int vhx_mem_to_iov(const struct vhx_mem *mem, u64 gpa, u64 len,
		   struct iovec *iov, u32 max, u32 *n)
{
	const struct vhx_mem_region *r;
	u64 off, chunk;

	if (!mem || len > ~0ULL - gpa)
		return -EFAULT;
	while (len) {
		r = vhx_mem_find(mem, gpa);
		if (!r)
			return -EFAULT;
		off = gpa - r->gpa;
		chunk = r->size - off < len ? r->size - off : len;
		if (iov) {
			if (*n >= max)
				return -ENOBUFS;
			vhx_set_iov(&iov[(*n)++], r->uaddr + off, chunk);
		}
		gpa += chunk;
		len -= chunk;
	}
	return 0;
}

bool vhx_mem_holds_uaddr(const struct vhx_mem *mem, u64 uaddr, u64 len)
{
	const struct vhx_mem_region *r;
	u32 i;

	if (!mem)
		return false;
	for (i = 0; i < mem->nregions; i++) {
		r = &mem->regions[i];
		if (uaddr >= r->uaddr && uaddr - r->uaddr <= r->size &&
		    len <= r->size - (uaddr - r->uaddr))
			return true;
	}
	return false;
}
