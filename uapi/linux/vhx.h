/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vhx: what vhx adds to <linux/vhost.h>.
 *
 * /dev/vhx-net speaks the upstream vhost-net ABI unchanged and needs nothing
 * from this file.  /dev/vhx-blk takes the generic vhost ioctls of
 * <linux/vhost.h> (owner, memory table, vrings) plus the ones below.  They
 * use their own ioctl type so that they can never collide with a number
 * upstream vhost (type VHOST_VIRTIO, 0xAF) assigns later.
 */
#ifndef _UAPI_LINUX_VHX_H
#define _UAPI_LINUX_VHX_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/vhost.h>

#define VHX_IOC_TYPE		0xB7

/* Length of the serial that VIRTIO_BLK_T_GET_ID returns (VIRTIO_BLK_ID_BYTES). */
#define VHX_BLK_SERIAL_LEN	20

/*
 * The configuration a VMM exposes to the guest in the virtio-blk config
 * space.  Filled by the module from the backend set with
 * VHX_BLK_SET_BACKEND.
 */
struct vhx_blk_config {
	__u64 capacity;		/* in 512-byte sectors */
	__u32 blk_size;		/* logical block size in bytes */
	__u32 seg_max;		/* max data segments in one request */
	__u32 size_max;		/* max bytes in one segment */
	__u16 num_queues;	/* queues this device serves */
	__u8 ro;		/* 1 when the backend is read-only */
	__u8 padding;
	__u32 max_discard_sectors;
	__u32 max_write_zeroes_sectors;
	__u8 serial[VHX_BLK_SERIAL_LEN];
	__u32 reserved[4];	/* must be zero */
};

/*
 * Attach a regular file or block device as the backend of every queue of
 * the device.  The argument is the fd; -1 detaches.  A backend opened
 * read-only makes the device read-only (VIRTIO_BLK_F_RO).
 */
#define VHX_BLK_SET_BACKEND	_IOW(VHX_IOC_TYPE, 0x01, int)
/* Read the config the current backend gives the guest. */
#define VHX_BLK_GET_CONFIG	_IOR(VHX_IOC_TYPE, 0x02, struct vhx_blk_config)
/* Set the GET_ID serial; the default names the backing inode. */
#define VHX_BLK_SET_SERIAL	_IOW(VHX_IOC_TYPE, 0x03, __u8[VHX_BLK_SERIAL_LEN])

#endif /* _UAPI_LINUX_VHX_H */
