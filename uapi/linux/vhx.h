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
 * space, as VHX_BLK_GET_CONFIG reports it for the current backend.
 * Before a backend is attached capacity is 0.
 */
struct vhx_blk_config {
	__u64 capacity;		/* in 512-byte sectors */
	__u32 blk_size;		/* logical block size in bytes */
	/*
	 * Max data segments in one request.  A direct chain cannot be longer
	 * than its ring; an indirect table may have up to 1024 entries
	 * (header and status included) whatever the ring's size.
	 */
	__u32 seg_max;
	__u32 size_max;		/* max bytes in one segment; 0: no limit */
	__u16 num_queues;	/* most queues this device serves */
	__u8 ro;		/* 1 when the device refuses writes */
	__u8 padding;
	__u32 max_discard_sectors;	/* per discard segment */
	__u32 max_write_zeroes_sectors;	/* per write-zeroes segment */
	__u8 serial[VHX_BLK_SERIAL_LEN];	/* GET_ID; not NUL-terminated */
	__u32 max_discard_seg;		/* segments in one discard request */
	__u32 max_write_zeroes_seg;	/* segments in one write-zeroes request */
	__u32 discard_sector_alignment;	/* in 512-byte sectors */
	__u32 reserved[2];	/* zero; makes the size 72 on every ABI */
};

/*
 * Features: VHOST_GET_FEATURES offers VERSION_1, EVENT_IDX, INDIRECT_DESC
 * and the virtio-blk SEG_MAX, BLK_SIZE, FLUSH, DISCARD, WRITE_ZEROES, MQ
 * and RO.  The VMM should offer the guest RO exactly when GET_CONFIG says
 * ro.  Acking RO (VHOST_SET_FEATURES) makes the device read-only on any
 * backend; a backend opened read-only (or a read-only block device)
 * makes it read-only whether RO is acked or not.  Writes, discards and
 * write-zeroes to a read-only device complete with VIRTIO_BLK_S_IOERR.
 * Without FLUSH acked every write is written through (O_DSYNC), and a
 * discard or write-zeroes completes once its range is synced.  DISCARD
 * and WRITE_ZEROES requests complete with VIRTIO_BLK_S_UNSUPP unless
 * their feature is acked.  Backend I/O runs with the credentials of the
 * owner (the process that called VHOST_SET_OWNER) and within its
 * RLIMIT_FSIZE: a write the owner could not make itself completes with
 * VIRTIO_BLK_S_IOERR.
 *
 * Requests follow the virtio spec (1.2, 5.2.6): a struct
 * virtio_blk_outhdr in the readable part, then data, then one status byte,
 * the last writable byte of the chain; any framing is accepted.  A chain
 * with no writable byte stops the queue (ERR eventfd).  A short header, a
 * data length that is not a multiple of 512, a sector range past the
 * capacity, a discard/write-zeroes payload that is not 1 to
 * max_*_seg whole segments, and a segment over max_*_sectors all complete
 * with VIRTIO_BLK_S_IOERR.  Unknown types complete with
 * VIRTIO_BLK_S_UNSUPP.  FLUSH returns once everything completed before it
 * is durable (fsync of the backend).  GET_ID writes up to 20 bytes of the
 * serial.  The used length is the number of bytes written to the guest,
 * the status byte included.
 */

/*
 * Attach a regular file or block device as the backend of every queue of
 * the device; -1 detaches.  Configure the rings first: every queue whose
 * ring is set up (SET_VRING_NUM and SET_VRING_ADDR) is started, the
 * others stay idle until the backend is set again.  If any of them
 * cannot start, the call fails before any queue has taken a request.  Setting or detaching
 * a backend first stops all queues and waits for their I/O.  Block
 * devices, and regular files opened with O_DIRECT, are driven with direct
 * asynchronous I/O; other files through the page cache.  The fd must be
 * readable; one opened read-only makes the device read-only.
 */
#define VHX_BLK_SET_BACKEND	_IOW(VHX_IOC_TYPE, 0x01, int)
/* Read the config the current backend gives the guest. */
#define VHX_BLK_GET_CONFIG	_IOR(VHX_IOC_TYPE, 0x02, struct vhx_blk_config)
/*
 * Set the GET_ID serial (20 bytes, zero-padded, not NUL-terminated).  It
 * survives backend changes; until it is set the serial is empty (all
 * zero), so that nothing about the host reaches the guest.
 * VHX_BLK_GET_CONFIG and VHX_BLK_SET_SERIAL need the owner (EPERM).
 */
#define VHX_BLK_SET_SERIAL	_IOW(VHX_IOC_TYPE, 0x03, __u8[VHX_BLK_SERIAL_LEN])

/*
 * A queue's counters, on /dev/vhx-net and /dev/vhx-blk alike, since the
 * device was opened: kicks (wakeups by its kick eventfd), runs (of its
 * handler), used (entries published to the used ring: buffers for net,
 * requests for blk), used_bytes (their used lengths: what the device
 * wrote to the guest), calls (signals of its call eventfd).  Set index;
 * the rest is filled in.  Read without stopping the queue: the figures
 * are each exact, not a snapshot of all at one instant.  Needs the owner
 * (EPERM); an index past the device's queues is ENOBUFS.
 */
struct vhx_vring_stats {
	__u32 index;
	__u32 padding;
	__u64 kicks;
	__u64 runs;
	__u64 used;
	__u64 used_bytes;
	__u64 calls;
	__u64 reserved[3];	/* zero */
};
#define VHX_GET_VRING_STATS	_IOWR(VHX_IOC_TYPE, 0x10, struct vhx_vring_stats)

#endif /* _UAPI_LINUX_VHX_H */
