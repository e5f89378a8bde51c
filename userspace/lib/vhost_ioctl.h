/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vhost ioctls of <linux/vhost.h> (and vhx-blk's own) on a bare fd,
 * one function each, returning 0 or -errno.  vhx-vm and the guest-less
 * library (vhxg) both drive devices through these and nothing else.
 */
#ifndef VHOST_IOCTL_H
#define VHOST_IOCTL_H

#include <stdint.h>
#include <linux/vhost.h>

int vhost_ioctl(int fd, unsigned long req, void *arg);
int vhost_set_owner(int fd);
int vhost_reset_owner(int fd);
int vhost_get_features(int fd, uint64_t *features);
int vhost_set_features(int fd, uint64_t features);
int vhost_get_backend_features(int fd, uint64_t *features);
int vhost_set_backend_features(int fd, uint64_t features);
int vhost_set_mem_table(int fd, const struct vhost_memory_region *regions,
			unsigned int nregions);
int vhost_set_vring_num(int fd, unsigned int idx, unsigned int num);
int vhost_set_vring_base(int fd, unsigned int idx, unsigned int base);
int vhost_get_vring_base(int fd, unsigned int idx, unsigned int *base);
int vhost_set_vring_addr(int fd, unsigned int idx, uint64_t desc,
			 uint64_t avail, uint64_t used, unsigned int flags);
/* SET_VRING_KICK, _CALL or _ERR (req) of ring idx to eventfd efd. */
int vhost_set_vring_fd(int fd, unsigned long req, unsigned int idx,
		       int efd);
int vhost_net_set_backend(int fd, unsigned int idx, int tap);
int vhx_blk_set_backend(int fd, int backend);

#endif /* VHOST_IOCTL_H */
