// SPDX-License-Identifier: GPL-2.0
/*
 * vhx-blk: virtio-blk queues served from a regular file or a block device.
 * This file is the device: its ioctls, its backend and the lifecycle of
 * its queues, each with its own worker; requests are in vhx_blk_req.c.
 *
 * A queue is stopped only after every request it submitted has completed,
 * so the backend file and the request pool outlive all I/O.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/build_bug.h>
#include <linux/file.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "blk.h"

static_assert(sizeof(struct vhx_blk_config) == 72);

#define VHX_BLK_FEATURES (BIT_ULL(VIRTIO_F_VERSION_1) |			\
			  BIT_ULL(VIRTIO_RING_F_EVENT_IDX) |		\
			  BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) |	\
			  BIT_ULL(VIRTIO_BLK_F_SEG_MAX) |		\
			  BIT_ULL(VIRTIO_BLK_F_BLK_SIZE) |		\
			  BIT_ULL(VIRTIO_BLK_F_FLUSH) |			\
			  BIT_ULL(VIRTIO_BLK_F_DISCARD) |		\
			  BIT_ULL(VIRTIO_BLK_F_WRITE_ZEROES) |		\
			  BIT_ULL(VIRTIO_BLK_F_MQ) |			\
			  BIT_ULL(VIRTIO_BLK_F_RO) |			\
			  BIT_ULL(VHOST_F_LOG_ALL))

/* ---- queue lifecycle -------------------------------------------------- */

static void vhx_blk_free_pool(struct vhx_blk_queue *q)
{
	/* A request still at the backend would complete into freed memory. */
	WARN_ON_ONCE(q->inflight || !llist_empty(&q->done));
	kvfree(q->reqs);
	q->reqs = NULL;
	q->free = NULL;
	q->starved = false;
	q->cancel = false;
}

/*
 * Everything about starting a queue that can fail, before any queue runs:
 * the workers, the request pool, the ring.  d->mutex and vq->mutex held.
 * Long requests run on one worker of the device's, which is the owner's
 * as the queues' workers are.
 */
static int vhx_blk_prepare_queue(struct vhx_blk_queue *q)
{
	struct vhx_vq *vq = &q->vq;
	unsigned int n = min_t(u32, vq->ring.num, VHX_BLK_MAX_INFLIGHT), i;
	struct vhx_worker *slow;
	int ret;

	lockdep_assert_held(&vq->mutex);
	slow = vhx_dev_worker(vq->dev, vq->dev->nvqs);
	if (IS_ERR(slow))
		return PTR_ERR(slow);
	q->slow = slow;
	q->reqs = kvcalloc(n, sizeof(*q->reqs), GFP_KERNEL_ACCOUNT);
	if (!q->reqs)
		return -ENOMEM;
	q->free = NULL;
	for (i = 0; i < n; i++) {
		q->reqs[i].q = q;
		vhx_work_init(&q->reqs[i].work, vhx_blk_slow_work);
		vhx_blk_put_req(q, &q->reqs[i]);
	}
	ret = vhx_vq_prepare(vq);
	if (ret)
		vhx_blk_free_pool(q);
	return ret;
}

/*
 * Wait for every request of the queue to leave the backend, then report
 * them if we can still reach guest memory (the owner itself stops us),
 * and drop them otherwise (the owner is gone).  vq->mutex held.
 */
static void vhx_blk_drain_queue(struct vhx_blk_queue *q)
{
	struct vhx_vq *vq = &q->vq;

	lockdep_assert_held(&vq->mutex);
	/* The completion's last access to q is under q->lock: wait for it. */
	WRITE_ONCE(q->cancel, true);
	spin_lock_irq(&q->lock);
	wait_event_lock_irq(q->drain, !q->inflight, q->lock);
	spin_unlock_irq(&q->lock);
	if (current->mm && current->mm == vq->dev->mm && vhx_vq_running(vq))
		vhx_blk_complete(q);
	else
		vhx_blk_reap(q, false);
	vhx_blk_free_pool(q);
}

/*
 * The core's log_start: a read submitted before logging started keeps no
 * record of where its data goes, so it must be done writing before the
 * VMM starts copying guest memory.  vq->mutex held.
 */
static void vhx_blk_log_start(struct vhx_vq *vq)
{
	struct vhx_blk_queue *q = vq_to_blk_queue(vq);

	spin_lock_irq(&q->lock);
	wait_event_lock_irq(q->drain, !q->reading, q->lock);
	spin_unlock_irq(&q->lock);
}

/* The core's stop_vq: a new backend, a reset or a close. */
static void vhx_blk_stop_vq(struct vhx_vq *vq)
{
	vhx_blk_drain_queue(vq_to_blk_queue(vq));
}

static bool vhx_blk_configured(struct vhx_vq *vq)
{
	return vq->addr_set && vq->ring.num;
}

/* Call fn on each configured queue, under its mutex, until one fails. */
static int vhx_blk_each_configured(struct vhx_blk *b,
				   int (*fn)(struct vhx_blk_queue *q))
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < ARRAY_SIZE(b->queues) && !ret; i++) {
		struct vhx_blk_queue *q = &b->queues[i];

		vhx_vq_lock(&q->vq);
		if (vhx_blk_configured(&q->vq))
			ret = fn(q);
		mutex_unlock(&q->vq.mutex);
	}
	return ret;
}

static int vhx_blk_check_queue(struct vhx_blk_queue *q)
{
	return vhx_vq_prepare(&q->vq);
}

static int vhx_blk_run_queue(struct vhx_blk_queue *q)
{
	return vhx_vq_start(&q->vq);
}

/*
 * Can every configured queue start?  Asked before the old backend stops,
 * so that a call bound to fail changes nothing.
 */
static int vhx_blk_check_all(struct vhx_blk *b)
{
	return vhx_blk_each_configured(b, vhx_blk_check_queue);
}

/*
 * Start every configured queue, or none: every queue is prepared before
 * the first one runs, so a queue that cannot start fails the call before
 * any request was taken.  On failure the caller stops them all again.
 */
static int vhx_blk_start_all(struct vhx_blk *b)
{
	int ret = vhx_blk_each_configured(b, vhx_blk_prepare_queue);

	return ret ? ret : vhx_blk_each_configured(b, vhx_blk_run_queue);
}

/* ---- backend ---------------------------------------------------------- */

static int vhx_blk_probe(struct file *file, struct vhx_blk_backend *be)
{
	struct inode *inode = file->f_mapping->host;
	umode_t mode = file_inode(file)->i_mode;

	if (!(file->f_mode & FMODE_READ))
		return -EBADF;
	if (!file->f_op->read_iter || !file->f_op->write_iter)
		return -EINVAL;
	be->ro = !(file->f_mode & FMODE_WRITE);
	if (S_ISBLK(mode)) {
		struct block_device *bdev = I_BDEV(inode);

		be->blk_size = bdev_logical_block_size(bdev);
		be->ro |= bdev_read_only(bdev);
		be->direct = true;
	} else if (S_ISREG(mode)) {
		struct super_block *sb = inode->i_sb;

		/* Only an O_DIRECT open proved the fs can do direct I/O. */
		be->direct = file->f_flags & O_DIRECT;
		be->blk_size = SECTOR_SIZE;
		if (be->direct && sb->s_bdev)
			be->blk_size = bdev_logical_block_size(sb->s_bdev);
	} else {
		return -EINVAL;
	}
	be->capacity = i_size_read(inode) >> SECTOR_SHIFT;
	be->file = file;
	return 0;
}

/* No request may use the backend file any more: no queue has a pool. */
static void vhx_blk_assert_stopped(struct vhx_blk *b)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(b->queues); i++)
		WARN_ON_ONCE(b->queues[i].reqs);
}

static long vhx_blk_set_backend(struct vhx_blk *b, int __user *argp)
{
	struct vhx_blk_backend be = {};
	struct file *file = NULL, *old;
	int fd, ret;

	lockdep_assert_held(&b->dev.mutex);
	if (get_user(fd, argp))
		return -EFAULT;
	ret = vhx_dev_check_owner(&b->dev);
	if (ret)
		return ret;
	if (fd != VHOST_FILE_UNBIND) {
		file = fget(fd);
		if (!file)
			return -EBADF;
		ret = vhx_blk_probe(file, &be);
		if (!ret)
			ret = vhx_blk_check_all(b);
		if (ret) {
			fput(file);
			return ret;
		}
	}
	vhx_dev_stop_vqs(&b->dev);
	vhx_blk_assert_stopped(b);
	old = b->be.file;
	b->be = be;
	if (file) {
		ret = vhx_blk_start_all(b);
		if (ret) {
			vhx_dev_stop_vqs(&b->dev);
			memset(&b->be, 0, sizeof(b->be));
			fput(file);
		}
	}
	if (old)
		fput(old);
	return ret;
}

/* The core's reset: every queue stopped, the owner gone. */
static void vhx_blk_reset(struct vhx_dev *d)
{
	struct vhx_blk *b = vhx_blk_from_dev(d);

	vhx_blk_assert_stopped(b);
	if (b->be.file)
		fput(b->be.file);
	memset(&b->be, 0, sizeof(b->be));
}

static long vhx_blk_get_config(struct vhx_blk *b, void __user *argp)
{
	struct vhx_blk_config cfg;

	/* The whole struct goes to user space, padding included. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.capacity = b->be.capacity;
	cfg.blk_size = b->be.blk_size ? b->be.blk_size : SECTOR_SIZE;
	cfg.seg_max = VHX_BLK_SEG_MAX;
	cfg.num_queues = VHX_BLK_MAX_QUEUES;
	cfg.ro = vhx_blk_read_only(b, b->dev.features);
	cfg.max_discard_sectors = VHX_BLK_DWZ_SECTORS;
	cfg.max_write_zeroes_sectors = VHX_BLK_DWZ_SECTORS;
	cfg.max_discard_seg = VHX_BLK_DWZ_SEGS;
	cfg.max_write_zeroes_seg = VHX_BLK_DWZ_SEGS;
	cfg.discard_sector_alignment = cfg.blk_size >> SECTOR_SHIFT;
	spin_lock(&b->serial_lock);
	memcpy(cfg.serial, b->serial, sizeof(cfg.serial));
	spin_unlock(&b->serial_lock);
	return copy_to_user(argp, &cfg, sizeof(cfg)) ? -EFAULT : 0;
}

static long vhx_blk_set_serial(struct vhx_blk *b, void __user *argp)
{
	u8 serial[VHX_BLK_SERIAL_LEN];

	if (copy_from_user(serial, argp, sizeof(serial)))
		return -EFAULT;
	spin_lock(&b->serial_lock);
	memcpy(b->serial, serial, sizeof(serial));
	spin_unlock(&b->serial_lock);
	return 0;
}

/* ---- the misc device -------------------------------------------------- */

static long vhx_blk_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct vhx_blk *b = vhx_blk_from_dev(f->private_data);
	void __user *argp = (void __user *)arg;
	long ret;

	mutex_lock(&b->dev.mutex);
	switch (cmd) {
	case VHX_BLK_SET_BACKEND:
		ret = vhx_blk_set_backend(b, argp);
		break;
	case VHX_BLK_GET_CONFIG:
		ret = vhx_dev_check_owner(&b->dev);
		if (!ret)
			ret = vhx_blk_get_config(b, argp);
		break;
	case VHX_BLK_SET_SERIAL:
		ret = vhx_dev_check_owner(&b->dev);
		if (!ret)
			ret = vhx_blk_set_serial(b, argp);
		break;
	default:
		ret = vhx_dev_ioctl(&b->dev, cmd, argp);
	}
	mutex_unlock(&b->dev.mutex);
	return ret == -ENOIOCTLCMD ? -ENOTTY : ret;
}

/* The core's release: the device is closed and its backend dropped. */
static void vhx_blk_release(struct vhx_dev *d)
{
	struct vhx_blk *b = vhx_blk_from_dev(d);

	WARN_ON_ONCE(b->be.file);
	kfree(d->vqs);
	kvfree(b);
}

static const struct vhx_dev_ops vhx_blk_ops = {
	.stop_vq	= vhx_blk_stop_vq,
	.reset		= vhx_blk_reset,
	.release	= vhx_blk_release,
	.poll_more	= vhx_blk_poll_more,
	.hold_more	= vhx_blk_poll_more,
	.log_start	= vhx_blk_log_start,
};

static int vhx_blk_open(struct inode *inode, struct file *f)
{
	struct vhx_vq **vqs;
	struct vhx_blk *b;
	unsigned int i;
	int ret = -ENOMEM;

	b = kvzalloc(sizeof(*b), GFP_KERNEL_ACCOUNT);
	vqs = kmalloc_array(VHX_BLK_MAX_QUEUES, sizeof(*vqs),
			    GFP_KERNEL_ACCOUNT);
	if (!b || !vqs)
		goto fail;
	for (i = 0; i < VHX_BLK_MAX_QUEUES; i++) {
		struct vhx_blk_queue *q = &b->queues[i];

		init_llist_head(&q->done);
		vhx_work_init(&q->done_work, vhx_blk_done_work);
		spin_lock_init(&q->lock);
		init_waitqueue_head(&q->drain);
		q->vq.handle = handle_blk;
		vqs[i] = &q->vq;
	}
	ret = vhx_dev_init(&b->dev, vqs, VHX_BLK_MAX_QUEUES, "blk",
			   VHX_BLK_FEATURES, &vhx_blk_ops);
	if (ret)
		goto fail;
	b->dev.worker_per_vq = true;
	spin_lock_init(&b->serial_lock);
	f->private_data = &b->dev;
	return 0;
fail:
	kfree(vqs);
	kvfree(b);
	return ret;
}

static const struct file_operations vhx_blk_fops = {
	.owner		= THIS_MODULE,
	.open		= vhx_blk_open,
	.release	= vhx_dev_release,
	.unlocked_ioctl	= vhx_blk_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice vhx_blk_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "vhx-blk",
	.fops	= &vhx_blk_fops,
};

int vhx_blk_init(void)
{
	return misc_register(&vhx_blk_misc);
}

void vhx_blk_exit(void)
{
	misc_deregister(&vhx_blk_misc);
}
