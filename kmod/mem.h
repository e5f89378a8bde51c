/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The memory table, as the ring walker and the device use it.  Shared
 * with userspace like ring.h: mem.c touches no guest memory at all.
 */
#ifndef VHX_MEM_H
#define VHX_MEM_H

#include "ring_access.h"

struct vhx_mem_region {
	u64 gpa;
	u64 size;
	u64 uaddr;
};

/* A memory table: regions sorted by gpa, none overlapping, none empty. */
struct vhx_mem {
	u32 nregions;
	struct vhx_mem_region regions[];
};

int vhx_mem_check(const struct vhx_mem *mem);
const struct vhx_mem_region *vhx_mem_find(const struct vhx_mem *mem, u64 gpa);
int vhx_mem_to_iov(const struct vhx_mem *mem, u64 gpa, u64 len,
		   struct iovec *iov, u32 max, u32 *n);
bool vhx_mem_holds_uaddr(const struct vhx_mem *mem, u64 uaddr, u64 len);

#endif /* VHX_MEM_H */
