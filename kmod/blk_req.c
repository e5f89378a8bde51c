// SPDX-License-Identifier: GPL-2.0
/*
 * vhx-blk's requests: parsing, submission and completion.
 *
 * A queue's worker takes requests off the ring and submits reads and
 * writes to the backend as asynchronous kiocbs (direct I/O on block
 * devices and on files opened O_DIRECT, buffered and so synchronous
 * otherwise).  Completions may arrive in interrupt context: they only go
 * on a lock-free list and wake the worker, which writes the status bytes
 * and publishes the used entries in batches, because guest memory is the
 * owner's user memory and only the worker runs in its mm.  Flush, discard
 * and write-zeroes may take as long as the guest likes, so they run on a
 * worker of the device's own, in chunks that a stopping queue can cut
 * short, and complete through the same list.  Every worker runs with the
 * owner's credentials, and backend I/O within its RLIMIT_FSIZE, as if the
 * owner did it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/bvec.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/virtio_byteorder.h>

#include "blk.h"

/*
 * What became of a request once parsed: the backend has it and it
 * completes later, or it is done and its status is reported now.
 */
struct vhx_blk_res {
	bool submitted;
	u8 status;			/* VIRTIO_BLK_S_*, unless submitted */
	u32 written;			/* data bytes put into guest memory */
};

static struct vhx_blk_res vhx_blk_submitted(void)
{
	return (struct vhx_blk_res){ .submitted = true };
}

static struct vhx_blk_res vhx_blk_status(u8 status, u32 written)
{
	return (struct vhx_blk_res){ .status = status, .written = written };
}

/* ---- completions ------------------------------------------------------ */

/* The request left the backend; may run in interrupt context. */
static void vhx_blk_req_done(struct vhx_blk_req *req, long ret,
			     bool wake_worker)
{
	struct vhx_blk_queue *q = req->q;
	bool read = req->type == VIRTIO_BLK_T_IN;
	unsigned long flags;

	req->ret = ret;
	llist_add(&req->node, &q->done);
	/*
	 * A running handler reports this one itself (it polls q->done, and
	 * looks once more after clearing in_handler, see vhx_blk_end_run()).
	 */
	smp_mb();
	if (READ_ONCE(q->in_handler))
		wake_worker = false;
	/*
	 * Once inflight drops to zero the queue may stop, its worker go and
	 * the device be freed: touch nothing after the unlock.
	 */
	spin_lock_irqsave(&q->lock, flags);
	if (wake_worker)
		vhx_work_queue(q->vq.worker, &q->done_work);
	q->reading -= read;
	if (!--q->inflight || (read && !q->reading))
		wake_up(&q->drain);
	spin_unlock_irqrestore(&q->lock, flags);
}

static void vhx_blk_rw_complete(struct kiocb *iocb, long ret)
{
	struct vhx_blk_req *req = container_of(iocb, struct vhx_blk_req, iocb);

	if (req->frozen)
		kiocb_end_write(iocb);
	vhx_blk_req_done(req, ret, true);
}

/*
 * Write the status byte, then queue the used entry; written counts the
 * data bytes the device put into guest memory.  The status address came
 * from the memory table when the request was taken; the table may have
 * changed since.
 */
static int vhx_blk_finish(struct vhx_vq *vq, u16 head, u64 status, u8 val,
			  u32 written)
{
	int ret;

	if (!vhx_mem_holds_uaddr(vq->ring.mem, status, 1) ||
	    put_user(val, (u8 __user *)vhx_uptr(status)))
		return -EFAULT;
	if (vhx_vq_logging(vq)) {
		ret = vhx_log_write(vq, status, 1);
		if (ret)
			return ret;
	}
	return vhx_vq_add_used(vq, head, written + 1);
}

void vhx_blk_put_req(struct vhx_blk_queue *q, struct vhx_blk_req *req)
{
	kfree(req->segs);
	req->segs = NULL;
	kfree(req->log_iov);
	req->log_iov = NULL;
	req->next_free = q->free;
	q->free = req;
}

static struct vhx_blk_req *vhx_blk_get_req(struct vhx_blk_queue *q,
					   struct vhx_chain *c, u64 status,
					   u32 type)
{
	struct vhx_blk_req *req = q->free;

	q->free = req->next_free;
	req->head = c->head;
	req->status = status;
	req->type = type;
	req->len = 0;
	req->write = false;
	req->frozen = false;
	return req;
}

static int vhx_blk_finish_req(struct vhx_vq *vq, struct vhx_blk_req *req)
{
	bool ok = req->ret >= 0 && (size_t)req->ret == req->len;
	u32 written = 0;
	int ret;

	if (!req->write && req->ret > 0)
		written = req->ret;
	/* Logging stopped since, and the log may be gone: not a word more. */
	if (written && req->log_iov && vhx_vq_logging(vq)) {
		ret = vhx_log_iov(vq, req->log_iov, req->log_niov, written);
		if (ret)
			return ret;
	}
	return vhx_blk_finish(vq, req->head, req->status,
			      ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR,
			      written);
}

/*
 * Report completed requests; with report false they are only freed.
 * Returns the first error met: the queue must stop, and a broken queue
 * reports nothing more, so the requests after it are only freed.
 */
int vhx_blk_reap(struct vhx_blk_queue *q, bool report)
{
	struct llist_node *node = llist_del_all(&q->done);
	struct vhx_vq *vq = &q->vq;
	struct vhx_blk_req *req, *next;
	int err = 0;

	node = llist_reverse_order(node);
	llist_for_each_entry_safe(req, next, node, node) {
		if (report && !err && !vq->broken)
			err = vhx_blk_finish_req(vq, req);
		vhx_blk_put_req(q, req);
	}
	return err;
}

/* Report what completed and publish it; the queue stops if it cannot. */
void vhx_blk_complete(struct vhx_blk_queue *q)
{
	struct vhx_vq *vq = &q->vq;
	int ret = vhx_blk_reap(q, true);

	if (ret) {
		vhx_vq_fail(vq, ret, "cannot complete request");
		return;
	}
	if (!vhx_vq_running(vq))
		return;
	ret = vhx_vq_flush_used(vq);
	if (ret)
		vhx_vq_fail(vq, ret, "cannot update used ring");
}

/* Report what completed; a handler that ran out of requests goes on. */
static void vhx_blk_complete_all(struct vhx_blk_queue *q)
{
	struct vhx_vq *vq = &q->vq;

	vhx_blk_complete(q);
	if (vhx_vq_running(vq) && q->starved && q->free) {
		q->starved = false;
		vhx_vq_requeue(vq);
	}
}

void vhx_blk_done_work(struct vhx_work *work)
{
	struct vhx_blk_queue *q =
		container_of(work, struct vhx_blk_queue, done_work);

	mutex_lock(&q->vq.mutex);
	vhx_blk_complete_all(q);
	mutex_unlock(&q->vq.mutex);
}

/* ---- reads and writes ------------------------------------------------- */

static void vhx_blk_get_inflight(struct vhx_blk_queue *q,
				 struct vhx_blk_req *req)
{
	spin_lock_irq(&q->lock);
	q->inflight++;
	q->reading += req->type == VIRTIO_BLK_T_IN;
	spin_unlock_irq(&q->lock);
}

/*
 * A write to a regular file holds the file system's freeze protection
 * until it completes, as aio and io_uring do, so that a frozen file
 * system has no vhx writes in flight.
 */
static ssize_t vhx_blk_call_iter(struct vhx_blk_req *req, struct iov_iter *iter)
{
	struct file *file = req->iocb.ki_filp;
	ssize_t ret;

	if (!req->write)
		return file->f_op->read_iter(&req->iocb, iter);
	req->frozen = S_ISREG(file_inode(file)->i_mode);
	if (req->frozen)
		kiocb_start_write(&req->iocb);
	ret = file->f_op->write_iter(&req->iocb, iter);
	if (ret != -EIOCBQUEUED && req->frozen) {
		kiocb_end_write(&req->iocb);
		req->frozen = false;
	}
	return ret;
}

/* Hand a request to the backend; it completes through vhx_blk_req_done(). */
static void vhx_blk_submit(struct vhx_blk_queue *q, struct vhx_blk_req *req,
			   struct iov_iter *iter, loff_t pos)
{
	struct vhx_blk *b = vq_to_blk(&q->vq);
	struct kiocb *iocb = &req->iocb;
	struct iov_iter saved = *iter;
	ssize_t ret;

	init_sync_kiocb(iocb, b->be.file);
	iocb->ki_pos = pos;
	if (req->write)
		iocb->ki_flags |= IOCB_WRITE;
	/* Sectors are addressed: never append, whatever the fd says. */
	iocb->ki_flags &= ~IOCB_APPEND;
	if (b->be.direct)
		iocb->ki_flags |= IOCB_DIRECT;
	/* Without FLUSH negotiated the guest expects a write-through disk. */
	if (req->write && !(q->vq.features & BIT_ULL(VIRTIO_BLK_F_FLUSH)))
		iocb->ki_flags |= IOCB_DSYNC;
	iocb->ki_complete = vhx_blk_rw_complete;
	vhx_blk_get_inflight(q, req);
	ret = vhx_blk_call_iter(req, iter);
	if (ret == -EIOCBQUEUED)
		return;
	/*
	 * Direct I/O refuses buffers the device cannot DMA to; guests may
	 * use any alignment they like, so go through the page cache.
	 */
	if (ret == -EINVAL && (iocb->ki_flags & IOCB_DIRECT)) {
		*iter = saved;
		iocb->ki_flags &= ~IOCB_DIRECT;
		iocb->ki_pos = pos;
		ret = vhx_blk_call_iter(req, iter);
		if (ret == -EIOCBQUEUED)
			return;
	}
	vhx_blk_req_done(req, ret, false);
}

static bool vhx_blk_range_ok(struct vhx_blk *b, u64 sector, u64 nsect)
{
	return sector <= b->be.capacity && nsect <= b->be.capacity - sector;
}

/*
 * The owner's RLIMIT_FSIZE, as its own write() would see it (the worker
 * runs with the limits of the kernel, not of the owner).
 */
static bool vhx_blk_fsize_ok(struct vhx_blk *b, loff_t pos, size_t len)
{
	if (!S_ISREG(file_inode(b->be.file)->i_mode) ||
	    b->dev.fsize_limit == RLIM_INFINITY)
		return true;
	return pos < b->dev.fsize_limit && len <= b->dev.fsize_limit - pos;
}

static struct vhx_blk_res vhx_blk_rw(struct vhx_blk_queue *q,
				     struct vhx_chain *c, struct iov_iter *out,
				     u64 sector, bool write, u64 status)
{
	struct vhx_vq *vq = &q->vq;
	struct vhx_blk *b = vq_to_blk(vq);
	struct iovec *log_iov = NULL;
	struct iov_iter data;
	struct vhx_blk_req *req;
	size_t len;

	if (write) {
		data = *out;
	} else {
		iov_iter_init(&data, ITER_DEST, vq->iov + c->out, c->in,
			      c->in_len - 1);
	}
	len = iov_iter_count(&data);
	if ((write && vhx_blk_read_only(b, vq->features)) ||
	    len % SECTOR_SIZE || len > MAX_RW_COUNT ||
	    !vhx_blk_range_ok(b, sector, len >> SECTOR_SHIFT) ||
	    (write && !vhx_blk_fsize_ok(b, sector << SECTOR_SHIFT, len)))
		return vhx_blk_status(VIRTIO_BLK_S_IOERR, 0);
	/* A read logs at completion what it wrote: keep where it went. */
	if (!write && vhx_vq_logging(vq)) {
		log_iov = kmemdup(vq->iov + c->out, c->in * sizeof(*log_iov),
				  GFP_KERNEL_ACCOUNT);
		if (!log_iov)
			return vhx_blk_status(VIRTIO_BLK_S_IOERR, 0);
	}

	req = vhx_blk_get_req(q, c, status, write ? VIRTIO_BLK_T_OUT :
			      VIRTIO_BLK_T_IN);
	req->log_iov = log_iov;
	req->log_niov = c->in;
	req->len = len;
	req->write = write;
	vhx_blk_submit(q, req, &data, sector << SECTOR_SHIFT);
	return vhx_blk_submitted();
}

/* ---- flush, get-id, discard, write-zeroes ----------------------------- */

static struct vhx_blk_res vhx_blk_get_id(struct vhx_blk *b, struct vhx_vq *vq,
					 struct vhx_chain *c)
{
	u8 serial[VHX_BLK_SERIAL_LEN];
	size_t len = min_t(u64, c->in_len - 1, sizeof(serial));
	struct iov_iter in;

	spin_lock(&b->serial_lock);
	memcpy(serial, b->serial, sizeof(serial));
	spin_unlock(&b->serial_lock);
	iov_iter_init(&in, ITER_DEST, vq->iov + c->out, c->in, len);
	if (copy_to_iter(serial, len, &in) != len)
		return vhx_blk_status(VIRTIO_BLK_S_IOERR, 0);
	return vhx_blk_status(VIRTIO_BLK_S_OK, len);
}

/*
 * Write zeroes the slow way, for files whose fs cannot zero a range.  The
 * kiocb is ours, so an fd opened O_APPEND cannot turn this into appends.
 */
static int vhx_blk_write_zero_pages(struct file *file, loff_t pos, u64 len)
{
	struct bio_vec bv[16];
	struct iov_iter iter;
	struct kiocb kiocb;
	unsigned int i;
	ssize_t ret;

	for (i = 0; i < ARRAY_SIZE(bv); i++) {
		bv[i].bv_page = ZERO_PAGE(0);
		bv[i].bv_offset = 0;
		bv[i].bv_len = PAGE_SIZE;
	}
	while (len) {
		size_t n = min_t(u64, len, ARRAY_SIZE(bv) * PAGE_SIZE);

		iov_iter_bvec(&iter, ITER_SOURCE, bv, DIV_ROUND_UP(n, PAGE_SIZE),
			      n);
		init_sync_kiocb(&kiocb, file);
		kiocb.ki_pos = pos;
		kiocb.ki_flags &= ~IOCB_APPEND;
		kiocb.ki_flags |= IOCB_WRITE;
		file_start_write(file);
		ret = file->f_op->write_iter(&kiocb, &iter);
		file_end_write(file);
		if (ret <= 0)
			return ret ? ret : -EIO;
		pos += ret;
		len -= ret;
		cond_resched();
	}
	return 0;
}

static int vhx_blk_zero_range(struct file *file, loff_t pos, u64 len,
			      bool unmap)
{
	int ret = -EOPNOTSUPP;

	/* A punched hole reads back as zeroes in files and block devices. */
	if (unmap)
		ret = vfs_fallocate(file, FALLOC_FL_PUNCH_HOLE |
				    FALLOC_FL_KEEP_SIZE, pos, len);
	if (ret == -EOPNOTSUPP)
		ret = vfs_fallocate(file, FALLOC_FL_ZERO_RANGE |
				    FALLOC_FL_KEEP_SIZE, pos, len);
	if (ret == -EOPNOTSUPP)
		ret = vhx_blk_write_zero_pages(file, pos, len);
	return ret;
}

/*
 * A real discard on block devices that have one.  Cached pages of the
 * range go first, under the lock that keeps new ones out; pages someone
 * holds (a mounted file system's metadata, say) make it fail rather than
 * be torn away.  A device another holder opened exclusively is left
 * alone: discard is only a hint.
 */
static int vhx_blk_discard_bdev(struct file *file, loff_t pos, u64 len)
{
	struct block_device *bdev = I_BDEV(file->f_mapping->host);
	struct address_space *mapping = file->f_mapping;
	void *holder = READ_ONCE(bdev->bd_holder);
	int ret;

	if (!bdev_max_discard_sectors(bdev) || (holder && holder != file))
		return 0;
	filemap_invalidate_lock(mapping);
	ret = filemap_write_and_wait_range(mapping, pos, pos + len - 1);
	if (!ret)
		ret = invalidate_inode_pages2_range(mapping, pos >> PAGE_SHIFT,
						    (pos + len - 1) >> PAGE_SHIFT);
	if (!ret)
		ret = blkdev_issue_discard(bdev, pos >> SECTOR_SHIFT,
					   len >> SECTOR_SHIFT, GFP_KERNEL);
	filemap_invalidate_unlock(mapping);
	return ret == -EOPNOTSUPP ? 0 : ret;
}

static int vhx_blk_discard(struct file *file, loff_t pos, u64 len)
{
	int ret;

	if (S_ISBLK(file_inode(file)->i_mode))
		return vhx_blk_discard_bdev(file, pos, len);
	ret = vfs_fallocate(file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    pos, len);
	/* Discard is a hint: a backend that cannot deallocate ignores it. */
	return ret == -EOPNOTSUPP ? 0 : ret;
}

static u8 vhx_blk_check_segment(struct vhx_blk *b,
				const struct virtio_blk_discard_write_zeroes *s,
				bool discard)
{
	u32 flags = le32_to_cpu(s->flags);
	u32 nsect = le32_to_cpu(s->num_sectors);

	if (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
		return VIRTIO_BLK_S_UNSUPP;
	if (discard && flags)
		return VIRTIO_BLK_S_UNSUPP;
	if (nsect > VHX_BLK_DWZ_SECTORS ||
	    !vhx_blk_range_ok(b, le64_to_cpu(s->sector), nsect))
		return VIRTIO_BLK_S_IOERR;
	return VIRTIO_BLK_S_OK;
}

/*
 * Copy and check a DISCARD or WRITE_ZEROES payload; every segment is
 * checked before any runs.  Returns a status, OK with req->segs set.
 */
static u8 vhx_blk_dwz_parse(struct vhx_blk *b, struct vhx_vq *vq,
			    struct iov_iter *out, struct vhx_blk_req *req)
{
	bool discard = req->type == VIRTIO_BLK_T_DISCARD;
	size_t len = iov_iter_count(out);
	unsigned int n = len / sizeof(*req->segs), i;
	u64 feature = discard ? BIT_ULL(VIRTIO_BLK_F_DISCARD) :
			BIT_ULL(VIRTIO_BLK_F_WRITE_ZEROES);
	u8 status;

	if (!(vq->features & feature))
		return VIRTIO_BLK_S_UNSUPP;
	if (vhx_blk_read_only(b, vq->features))
		return VIRTIO_BLK_S_IOERR;
	if (!n || n > VHX_BLK_DWZ_SEGS || len % sizeof(*req->segs))
		return VIRTIO_BLK_S_IOERR;
	req->segs = kmalloc(len, GFP_KERNEL_ACCOUNT);
	if (!req->segs)
		return VIRTIO_BLK_S_IOERR;
	req->nsegs = n;
	if (copy_from_iter(req->segs, len, out) != len)
		return VIRTIO_BLK_S_IOERR;
	for (i = 0; i < n; i++) {
		status = vhx_blk_check_segment(b, &req->segs[i], discard);
		if (status != VIRTIO_BLK_S_OK)
			return status;
	}
	return VIRTIO_BLK_S_OK;
}

/* One segment, a chunk at a time; a stopping queue cuts it short. */
static int vhx_blk_dwz_segment(struct vhx_blk_req *req, struct file *file,
			       const struct virtio_blk_discard_write_zeroes *s)
{
	bool unmap = le32_to_cpu(s->flags) & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	loff_t pos = le64_to_cpu(s->sector) << SECTOR_SHIFT;
	u64 len = (u64)le32_to_cpu(s->num_sectors) << SECTOR_SHIFT;
	u64 chunk;
	int ret;

	while (len) {
		if (READ_ONCE(req->q->cancel))
			return -EINTR;
		chunk = min_t(u64, len, VHX_BLK_DWZ_CHUNK);
		if (req->type == VIRTIO_BLK_T_DISCARD)
			ret = vhx_blk_discard(file, pos, chunk);
		else
			ret = vhx_blk_zero_range(file, pos, chunk, unmap);
		if (ret)
			return ret;
		pos += chunk;
		len -= chunk;
		cond_resched();
	}
	return 0;
}

/*
 * Without FLUSH negotiated the guest expects what completed to be stable,
 * zeroed and discarded ranges too.
 */
static int vhx_blk_dwz(struct vhx_blk_req *req, struct file *file, bool sync)
{
	const struct virtio_blk_discard_write_zeroes *s;
	unsigned int i;
	loff_t pos;
	int ret;

	for (i = 0; i < req->nsegs; i++) {
		s = &req->segs[i];
		ret = vhx_blk_dwz_segment(req, file, s);
		if (!ret && sync && s->num_sectors) {
			pos = le64_to_cpu(s->sector) << SECTOR_SHIFT;
			ret = vfs_fsync_range(file, pos, pos - 1 +
					      ((u64)le32_to_cpu(s->num_sectors) <<
					       SECTOR_SHIFT), 1);
		}
		if (ret)
			return ret;
	}
	return 0;
}

/* Flush, discard and write-zeroes, on the device's slow worker. */
void vhx_blk_slow_work(struct vhx_work *work)
{
	struct vhx_blk_req *req = container_of(work, struct vhx_blk_req, work);
	struct file *file = vq_to_blk(&req->q->vq)->be.file;
	int ret;

	if (req->type == VIRTIO_BLK_T_FLUSH)
		ret = vfs_fsync(file, 0);
	else
		ret = vhx_blk_dwz(req, file, req->sync);
	vhx_blk_req_done(req, ret, true);
}

/* Hand a flush, discard or write-zeroes to the slow worker, or refuse it. */
static struct vhx_blk_res vhx_blk_slow(struct vhx_blk_queue *q,
				       struct vhx_chain *c,
				       struct iov_iter *out, u32 type,
				       u64 status)
{
	struct vhx_blk *b = vq_to_blk(&q->vq);
	struct vhx_blk_req *req = vhx_blk_get_req(q, c, status, type);
	u8 ret = VIRTIO_BLK_S_OK;

	req->sync = !(q->vq.features & BIT_ULL(VIRTIO_BLK_F_FLUSH));
	if (type != VIRTIO_BLK_T_FLUSH)
		ret = vhx_blk_dwz_parse(b, &q->vq, out, req);
	if (ret != VIRTIO_BLK_S_OK) {
		vhx_blk_put_req(q, req);
		return vhx_blk_status(ret, 0);
	}
	vhx_blk_get_inflight(q, req);
	/* Only an owner killed meanwhile takes the slow worker with it. */
	if (!vhx_work_queue(q->slow, &req->work))
		vhx_blk_req_done(req, -ESHUTDOWN, false);
	return vhx_blk_submitted();
}

/* ---- the request loop ------------------------------------------------- */

/* The status byte is the last byte the request lets the device write. */
static u64 vhx_blk_status_addr(const struct iovec *iov, u32 n)
{
	while (n--) {
		if (iov[n].iov_len)
			return (u64)(uintptr_t)iov[n].iov_base +
			       iov[n].iov_len - 1;
	}
	return 0;
}

/* Parse a request and submit it, or say what to report now. */
static struct vhx_blk_res vhx_blk_dispatch(struct vhx_blk_queue *q,
					   struct vhx_chain *c, u64 status)
{
	struct vhx_vq *vq = &q->vq;
	struct virtio_blk_outhdr hdr;
	struct iov_iter out;
	u64 sector;
	u32 type;

	iov_iter_init(&out, ITER_SOURCE, vq->iov, c->out, c->out_len);
	if (copy_from_iter(&hdr, sizeof(hdr), &out) != sizeof(hdr))
		return vhx_blk_status(VIRTIO_BLK_S_IOERR, 0);
	/* vhx serves little-endian rings only (see ring_access.h). */
	sector = __virtio64_to_cpu(true, hdr.sector);
	type = __virtio32_to_cpu(true, hdr.type);

	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return vhx_blk_rw(q, c, &out, sector, type == VIRTIO_BLK_T_OUT,
				  status);
	case VIRTIO_BLK_T_FLUSH:
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return vhx_blk_slow(q, c, &out, type, status);
	case VIRTIO_BLK_T_GET_ID:
		return vhx_blk_get_id(vq_to_blk(vq), vq, c);
	}
	return vhx_blk_status(VIRTIO_BLK_S_UNSUPP, 0);
}

/* Take one request; returns < 0, with why, when the queue must stop. */
static int vhx_blk_request(struct vhx_blk_queue *q, struct vhx_chain *c,
			   const char **why)
{
	struct vhx_vq *vq = &q->vq;
	struct vhx_blk_res res;
	u64 status;
	int ret;

	status = vhx_blk_status_addr(vq->iov + c->out, c->in);
	if (!c->in_len || !status) {
		/* Nowhere to say what happened: the driver is broken. */
		*why = "request without status byte";
		return -EINVAL;
	}
	res = vhx_blk_dispatch(q, c, status);
	if (res.submitted)
		return 0;
	*why = "cannot complete request";
	if (res.written && vhx_vq_logging(vq)) {
		ret = vhx_log_iov(vq, vq->iov + c->out, c->in, res.written);
		if (ret)
			return ret;
	}
	return vhx_blk_finish(vq, c->head, status, res.status, res.written);
}

/* Completions waiting to be reported (vhx_dev_ops.poll_more). */
bool vhx_blk_poll_more(struct vhx_vq *vq)
{
	return !llist_empty(&vq_to_blk_queue(vq)->done);
}

/*
 * From here on completions wake the worker again; what came before that
 * is reported now.  Pairs with vhx_blk_req_done().
 */
static void vhx_blk_end_run(struct vhx_blk_queue *q)
{
	WRITE_ONCE(q->in_handler, false);
	smp_mb();
	vhx_blk_complete_all(q);
}

/*
 * Requests of one run are plugged and go to the backend together: when
 * the ring runs dry, when the pool does, and when the run ends.
 */
static void vhx_blk_unplug(struct blk_plug *plug)
{
	blk_finish_plug(plug);
	blk_start_plug(plug);
}

/*
 * The ring is empty: send what is plugged and publish what completed,
 * then hold the call while the guest goes on submitting, or poll and
 * rearm.  > 0 when the run goes on, 0 when it ends, < 0 when the queue
 * fails.
 */
static int vhx_blk_ring_empty(struct vhx_blk_queue *q, struct blk_plug *plug,
			      const char **why)
{
	struct vhx_vq *vq = &q->vq;
	int ret;

	vhx_blk_unplug(plug);
	if (vhx_blk_poll_more(vq)) {
		ret = vhx_blk_reap(q, true);
		*why = "cannot complete request";
		if (!ret) {
			ret = vhx_vq_publish(vq);
			*why = "cannot update used ring";
		}
		if (ret)
			return ret;
	}
	if (vhx_vq_hold_call(vq))
		return 1;
	ret = vhx_vq_rearm(vq);
	*why = "cannot enable notification";
	return ret;
}

void handle_blk(struct vhx_vq *vq)
{
	struct vhx_blk_queue *q = vq_to_blk_queue(vq);
	const char *why = NULL;
	struct blk_plug plug;
	struct vhx_chain c;
	u32 reqs = 0;
	int ret;

	ret = vhx_ring_notify_off(&vq->ring);
	if (ret) {
		vhx_vq_fail(vq, ret, "cannot write used flags");
		return;
	}
	WRITE_ONCE(q->in_handler, true);
	blk_start_plug(&plug);
	do {
		/*
		 * Out of requests: take back the completed ones, or wait for
		 * vhx_blk_done_work() to requeue us when the next completes.
		 */
		if (!q->free)
			vhx_blk_unplug(&plug);
		ret = q->free ? 0 : vhx_blk_reap(q, true);
		if (ret) {
			why = "cannot complete request";
			break;
		}
		if (!q->free) {
			q->starved = true;
			break;
		}
		ret = vhx_vq_get(vq, &c, 0);
		if (ret < 0) {
			why = "bad request chain";
			break;
		}
		if (!ret) {
			ret = vhx_blk_ring_empty(q, &plug, &why);
			if (ret <= 0)
				break;
			continue;
		}
		ret = vhx_blk_request(q, &c, &why);
		if (ret)
			break;
	} while (!vhx_vq_exceeds_weight(vq, ++reqs, 0));
	blk_finish_plug(&plug);
	if (ret < 0)
		vhx_vq_fail(vq, ret, why);
	vhx_blk_end_run(q);
}
