/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How the ring walker reaches guest memory.  In the module every access is
 * a checked user copy in the owner's address space (the worker runs with
 * the owner's mm); in userspace selftests/unit and selftests/fuzz supply
 * vhx_user_read()/vhx_user_write(), which refuse anything outside the
 * memory they handed out, so a stray access is a test failure rather than
 * silent corruption.
 */
#ifndef VHX_RING_ACCESS_H
#define VHX_RING_ACCESS_H

#ifdef __KERNEL__

#include <linux/errno.h>
#include <linux/types.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#ifdef __BIG_ENDIAN
#error "vhx serves little-endian virtio rings only"
#endif

static inline void __user *vhx_uptr(u64 uaddr)
{
	return (void __user *)(uintptr_t)uaddr;
}

static inline int vhx_read(void *dst, u64 uaddr, size_t len)
{
	return copy_from_user(dst, vhx_uptr(uaddr), len) ? -EFAULT : 0;
}

static inline int vhx_write(u64 uaddr, const void *src, size_t len)
{
	return copy_to_user(vhx_uptr(uaddr), src, len) ? -EFAULT : 0;
}

static inline int vhx_read16(u64 uaddr, u16 *val)
{
	__le16 v;

	if (get_user(v, (__le16 __user *)vhx_uptr(uaddr)))
		return -EFAULT;
	*val = le16_to_cpu(v);
	return 0;
}

static inline int vhx_write16(u64 uaddr, u16 val)
{
	return put_user(cpu_to_le16(val), (__le16 __user *)vhx_uptr(uaddr)) ?
	       -EFAULT : 0;
}

static inline void vhx_set_iov(struct iovec *iov, u64 uaddr, u64 len)
{
	iov->iov_base = vhx_uptr(uaddr);
	iov->iov_len = len;
}

#define vhx_mb()	smp_mb()
#define vhx_rmb()	smp_rmb()
#define vhx_wmb()	smp_wmb()

#else /* userspace */

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <linux/types.h>

typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define le16_to_cpu(x)	le16toh(x)
#define le32_to_cpu(x)	le32toh(x)
#define le64_to_cpu(x)	le64toh(x)
#define cpu_to_le16(x)	htole16(x)
#define cpu_to_le32(x)	htole32(x)
#define cpu_to_le64(x)	htole64(x)

/* Supplied by whoever links ring.c in userspace; return 0 or -EFAULT. */
int vhx_user_read(void *dst, u64 uaddr, size_t len);
int vhx_user_write(u64 uaddr, const void *src, size_t len);

static inline int vhx_read(void *dst, u64 uaddr, size_t len)
{
	return vhx_user_read(dst, uaddr, len);
}

static inline int vhx_write(u64 uaddr, const void *src, size_t len)
{
	return vhx_user_write(uaddr, src, len);
}

static inline int vhx_read16(u64 uaddr, u16 *val)
{
	__le16 v;
	int ret = vhx_user_read(&v, uaddr, sizeof(v));

	if (!ret)
		*val = le16_to_cpu(v);
	return ret;
}

static inline int vhx_write16(u64 uaddr, u16 val)
{
	__le16 v = cpu_to_le16(val);

	return vhx_user_write(uaddr, &v, sizeof(v));
}

static inline void vhx_set_iov(struct iovec *iov, u64 uaddr, u64 len)
{
	iov->iov_base = (void *)(uintptr_t)uaddr;
	iov->iov_len = len;
}

#define vhx_mb()	__atomic_thread_fence(__ATOMIC_SEQ_CST)
#define vhx_rmb()	__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define vhx_wmb()	__atomic_thread_fence(__ATOMIC_RELEASE)

#endif /* __KERNEL__ */
#endif /* VHX_RING_ACCESS_H */
