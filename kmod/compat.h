/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel API differences between the kernels vhx supports (Debian's 6.1
 * and bookworm-backports' 6.12).  Only this file tests versions.
 */
#ifndef VHX_COMPAT_H
#define VHX_COMPAT_H

#include <linux/eventfd.h>
#include <linux/uio.h>
#include <linux/version.h>

/* 6.2 named the iov_iter directions after the data flow. */
#ifndef ITER_SOURCE
#define ITER_SOURCE	WRITE
#define ITER_DEST	READ
#endif

/* 6.8 dropped the count argument of eventfd_signal(). */
static inline void vhx_eventfd_signal(struct eventfd_ctx *ctx)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
	eventfd_signal(ctx);
#else
	eventfd_signal(ctx, 1);
#endif
}

#endif /* VHX_COMPAT_H */
