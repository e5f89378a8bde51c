/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vhost side of the vhost-net and vhost-blk (vhx) devices, on top of
 * the shared ioctl layer.
 */
#ifndef VHX_VHOST_H
#define VHX_VHOST_H

#include "vhost_ioctl.h"
#include "virtio.h"

/* Open, take ownership and give it the guest memory table; dies on error. */
int vm_vhost_open(struct vm *vm, const char *path, const char *hint);
/* VHOST_GET_FEATURES; dies on error. */
u64 vm_vhost_features(int fd, const char *path);
/* Hand queue vq to vhost ring idx of fd.  0 or -errno. */
int vm_vhost_start_vring(struct vm *vm, int fd, int idx,
			 struct virtio_queue *vq);
/* Stop ring idx (its backend must be detached first). */
void vm_vhost_stop_vring(int fd, int idx, const char *name);

#endif /* VHX_VHOST_H */
