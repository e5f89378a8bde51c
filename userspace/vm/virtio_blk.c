// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-blk over vhx-blk: one /dev/vhx-blk fd serves all request queues
 * (vhost ring i is queue i) of a file or block device it was given with
 * VHX_BLK_SET_BACKEND.  The config space comes from VHX_BLK_GET_CONFIG.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vhx.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost.h"

struct blk_dev {
	struct virtio_dev vdev;
	char name[32];
	const char *path;
	int vhost_fd;
	int file_fd;
	int queues;
	bool attached;
	bool paused;		/* attached, but detached while paused */
	bool no_discard;	/* discard=off: DISCARD not offered */
	u64 vhost_features;
	struct virtio_blk_config config;
};

static struct blk_dev *blks[8];
static int nr_blks;

static struct blk_dev *to_blk(struct virtio_dev *vdev)
{
	return container_of(vdev, struct blk_dev, vdev);
}

static int set_backend(struct blk_dev *blk, int fd)
{
	int err = vhx_blk_set_backend(blk->vhost_fd, fd);

	if (err)
		return err;
	blk->attached = fd >= 0;
	return 0;
}

static void blk_stop(struct virtio_dev *vdev)
{
	struct blk_dev *blk = to_blk(vdev);
	int q;

	if (blk->attached)
		set_backend(blk, -1);
	blk->paused = false;
	for (q = 0; q < blk->queues; q++)
		if (vdev->vqs[q].enabled)
			vm_vhost_stop_vring(blk->vhost_fd, q, blk->name);
}

static int blk_start(struct virtio_dev *vdev)
{
	struct blk_dev *blk = to_blk(vdev);
	int q, err;

	if (blk->attached) {
		err = set_backend(blk, -1);
		if (err)
			return err;
	}
	err = vhost_set_features(blk->vhost_fd, vdev->guest_features &
				 blk->vhost_features);
	if (err)
		return err;
	for (q = 0; q < blk->queues; q++) {
		if (!vdev->vqs[q].enabled)
			continue;
		err = vm_vhost_start_vring(vdev->vm, blk->vhost_fd, q,
					   &vdev->vqs[q]);
		if (err)
			return err;
	}
	return set_backend(blk, blk->file_fd);
}

/* The module's capacity, which it takes when its backend is set. */
static int refresh_capacity(struct blk_dev *blk)
{
	struct vhx_blk_config c;

	if (ioctl(blk->vhost_fd, VHX_BLK_GET_CONFIG, &c) < 0)
		return -errno;
	if (c.capacity != blk->config.capacity) {
		blk->config.capacity = c.capacity;
		virtio_config_changed(&blk->vdev);
	}
	return 0;
}

/* Detaching waits for the requests in flight; none starts until resumed. */
static int blk_pause(struct virtio_dev *vdev, bool pause)
{
	struct blk_dev *blk = to_blk(vdev);
	int err;

	if (pause) {
		if (!blk->attached)
			return 0;
		blk->paused = true;
		return set_backend(blk, -1);
	}
	if (!blk->paused)
		return 0;
	blk->paused = false;
	err = set_backend(blk, blk->file_fd);
	return err ? err : refresh_capacity(blk);	/* resized while paused */
}

static int blk_vhost_of(struct virtio_dev *vdev, int q, unsigned int *index)
{
	*index = q;
	return to_blk(vdev)->vhost_fd;
}

static void blk_config(struct virtio_dev *vdev, u32 off, u8 *data, int size,
		       bool is_write)
{
	struct blk_dev *blk = to_blk(vdev);

	if (is_write)
		return;		/* no writeback toggle (CONFIG_WCE) offered */
	if (off + size > sizeof(blk->config)) {
		memset(data, 0, size);
		return;
	}
	memcpy(data, (u8 *)&blk->config + off, size);
}

static const struct virtio_dev_ops blk_ops = {
	.config = blk_config,
	.start = blk_start,
	.stop = blk_stop,
	.pause = blk_pause,
	.vhost_of = blk_vhost_of,
};

static void fill_config(struct blk_dev *blk, const struct vhx_blk_config *c)
{
	struct virtio_blk_config *v = &blk->config;
	u64 f = blk->vhost_features;

	v->capacity = c->capacity;
	v->size_max = c->size_max;
	v->seg_max = c->seg_max;
	v->blk_size = c->blk_size;
	v->num_queues = blk->queues;
	v->max_discard_sectors = c->max_discard_sectors;
	v->max_discard_seg = c->max_discard_seg;
	v->discard_sector_alignment = c->discard_sector_alignment;
	v->max_write_zeroes_sectors = c->max_write_zeroes_sectors;
	v->max_write_zeroes_seg = c->max_write_zeroes_seg;

	/* Offer what the module serves, minus what this backend lacks. */
	blk->vdev.host_features = f & ((1ULL << VIRTIO_F_VERSION_1) |
				       (1ULL << VIRTIO_RING_F_EVENT_IDX) |
				       (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
				       (1ULL << VIRTIO_BLK_F_SEG_MAX) |
				       (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
				       (1ULL << VIRTIO_BLK_F_FLUSH) |
				       (1ULL << VIRTIO_BLK_F_DISCARD) |
				       (1ULL << VIRTIO_BLK_F_WRITE_ZEROES) |
				       (1ULL << VIRTIO_BLK_F_RO));
	if (c->size_max && (f & (1ULL << VIRTIO_BLK_F_SIZE_MAX)))
		blk->vdev.host_features |= 1ULL << VIRTIO_BLK_F_SIZE_MAX;
	if (blk->queues > 1)
		blk->vdev.host_features |= 1ULL << VIRTIO_BLK_F_MQ;
	if (!c->ro)
		blk->vdev.host_features &= ~(1ULL << VIRTIO_BLK_F_RO);
	if (!c->max_discard_sectors || blk->no_discard)
		blk->vdev.host_features &= ~(1ULL << VIRTIO_BLK_F_DISCARD);
	if (!c->max_write_zeroes_sectors)
		blk->vdev.host_features &= ~(1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
}

/*
 * cache=none opens the image O_DIRECT, so that the module's I/O bypasses
 * the host page cache as QEMU's cache=none does; a file system without
 * direct I/O (tmpfs before 6.6) gets the page cache, and a warning.
 */
static int open_disk(const struct disk_opts *o)
{
	int flags = (o->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int fd;

	fd = open(o->path, flags | (o->writeback ? 0 : O_DIRECT));
	if (fd < 0 && errno == EINVAL && !o->writeback) {
		fd = open(o->path, flags);
		if (fd >= 0)
			warnx_vm("disk '%s': no direct I/O here, using the page "
				 "cache (cache=writeback)", o->path);
	}
	if (fd < 0)
		die_errno("cannot open disk '%s'%s", o->path,
			  o->ro ? "" : " for writing (add ,ro?)");
	return fd;
}

/*
 * Two VMMs writing one image corrupt it: a writable disk takes a write
 * lock, a read-only one a read lock, on the whole file.  OFD locks belong
 * to the open file, which the module keeps, and go with it.
 */
static void lock_disk(int fd, const struct disk_opts *o)
{
	struct flock l = { .l_type = o->ro ? F_RDLCK : F_WRLCK,
			   .l_whence = SEEK_SET };

	if (!fcntl(fd, F_OFD_SETLK, &l))
		return;
	if (errno == EAGAIN || errno == EACCES)
		die("disk '%s' is in use: another process holds a lock on it "
		    "(a second VMM on one image would corrupt it)", o->path);
	die_errno("disk '%s': cannot lock it", o->path);
}

static void set_serial(struct blk_dev *blk, const struct disk_opts *o)
{
	__u8 serial[VHX_BLK_SERIAL_LEN] = {};

	if (!o->serial)
		return;
	memcpy(serial, o->serial, strlen(o->serial));
	if (ioctl(blk->vhost_fd, VHX_BLK_SET_SERIAL, serial) < 0)
		die_errno("%s: VHX_BLK_SET_SERIAL", o->vhost);
}

/*
 * The control socket's resize-disk: an image file is truncated to @bytes
 * (a block device keeps its own size), the module reads the new capacity
 * when the same file is set as its backend again, and the driver hears of
 * it through a config interrupt (virtio 5.2.6).  0 or -errno.
 */
int virtio_blk_resize(int index, u64 bytes)
{
	struct blk_dev *blk = index >= 0 && index < nr_blks ? blks[index] : NULL;
	struct stat st;
	int err;

	if (!blk)
		return -ENODEV;
	if (blk->vdev.stopping)
		return -EBUSY;	/* the driver's reset waits for the backend */
	if (bytes % 512 || fstat(blk->file_fd, &st) < 0)
		return -EINVAL;
	if (S_ISREG(st.st_mode) && ftruncate(blk->file_fd, bytes) < 0)
		return -errno;
	if (blk->paused)
		return 0;	/* blk_pause() takes the size at resume */
	if (blk->attached) {
		err = set_backend(blk, blk->file_fd);
		if (err)
			return err;
	}
	return refresh_capacity(blk);
}

void virtio_blk_create(struct vm *vm, struct disk_opts *o)
{
	struct blk_dev *blk = xzalloc(sizeof(*blk));
	struct vhx_blk_config c;
	int err;

	blks[nr_blks] = blk;
	snprintf(blk->name, sizeof(blk->name), "blk%d", nr_blks++);
	blk->path = o->path;
	blk->queues = o->queues;
	blk->no_discard = o->no_discard;
	blk->file_fd = open_disk(o);
	lock_disk(blk->file_fd, o);
	blk->vhost_fd = vm_vhost_open(vm, o->vhost,
				   "is the vhx module loaded?");
	set_serial(blk, o);
	blk->vhost_features = vm_vhost_features(blk->vhost_fd, o->vhost);
	if (!(blk->vhost_features & (1ULL << VIRTIO_F_VERSION_1)))
		die("%s does not offer VIRTIO_F_VERSION_1", o->vhost);

	err = set_backend(blk, blk->file_fd);
	if (err)
		die("%s: cannot use '%s' as backend: %s", o->vhost, o->path,
		    strerror(-err));
	if (ioctl(blk->vhost_fd, VHX_BLK_GET_CONFIG, &c) < 0)
		die_errno("%s: VHX_BLK_GET_CONFIG", o->vhost);
	if (blk->queues > c.num_queues)
		die("disk '%s': %d queues asked, %s serves at most %u",
		    o->path, blk->queues, o->vhost, c.num_queues);
	fill_config(blk, &c);

	blk->vdev.name = blk->name;
	blk->vdev.ops = &blk_ops;
	blk->vdev.queue_size = o->queue_size;
	virtio_pci_init(vm, &blk->vdev, VIRTIO_ID_BLOCK, 0x010000, blk->queues);
}
