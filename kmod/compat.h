/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel API differences between the kernels vhx supports (Debian's 6.1
 * and bookworm-backports' 6.12).  Only this file tests versions.
 */
#ifndef VHX_COMPAT_H
#define VHX_COMPAT_H

#include <linux/eventfd.h>
#include <linux/gfp.h>
#include <linux/mm.h>
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

/* 6.10 gained a helper to return a page_frag_cache's remaining bias. */
static inline void vhx_page_frag_drain(struct page_frag_cache *nc)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
	page_frag_cache_drain(nc);
#else
	if (nc->va)
		__page_frag_cache_drain(virt_to_head_page(nc->va),
					nc->pagecnt_bias);
	nc->va = NULL;
#endif
}

/*
 * tun and tap take a batch of frames through sendmsg (TUN_MSG_PTR), each
 * an xdp_buff whose hard start holds struct tun_xdp_hdr.  That layout is
 * internal to the kernel and later kernels changed it, so batching is only
 * used on kernels known to have it; elsewhere frames go one by one.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
#define VHX_TUN_BATCH	1
#else
#define VHX_TUN_BATCH	0
#endif

/*
 * Since 6.4 the kernel runs vhost workers as threads of their owner
 * (vhost_task, exported when CONFIG_VHOST_TASK is set).  vhx uses the
 * interface with a kill callback, checked against 6.12; before that its
 * workers are kernel threads.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0) && IS_ENABLED(CONFIG_VHOST_TASK)
#include <linux/sched/vhost_task.h>
#define VHX_USER_WORKER	1
#else
#define VHX_USER_WORKER	0
#endif

#endif /* VHX_COMPAT_H */
