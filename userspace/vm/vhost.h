/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the generic vhost ioctls of <linux/vhost.h>, shared by the
 * vhost-net and vhost-blk (vhx) backends.
 */
#ifndef VHX_VHOST_H
#define VHX_VHOST_H

#include "virtio.h"

/* Open, take ownership and give it the guest memory table; dies on error. */
int vhost_open(struct vm *vm, const char *path, const char *hint);
u64 vhost_get_features(int fd, const char *path);
int vhost_set_features(int fd, u64 features);
/* Hand queue vq to vhost ring idx of fd.  0 or -errno. */
int vhost_start_vring(struct vm *vm, int fd, int idx,
		      struct virtio_queue *vq);
/* Stop ring idx (its backend must be detached first). */
void vhost_stop_vring(int fd, int idx, const char *name);

#endif /* VHX_VHOST_H */
