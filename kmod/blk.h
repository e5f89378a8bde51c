/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vhx-blk's insides, shared by the device (blk.c) and its requests
 * (vhx_blk_req.c).
 */
#ifndef VHX_BLK_H
#define VHX_BLK_H

#include <linux/fs.h>
#include <linux/llist.h>
#include <linux/spinlock.h>
#include <linux/virtio_blk.h>
#include <linux/wait.h>

#include "vhx.h"

#define VHX_BLK_MAX_QUEUES	16
/* Requests one queue may have at the backend at once. */
#define VHX_BLK_MAX_INFLIGHT	256
/*
 * Data segments a request may carry.  Well below VHX_IOV_MAX: a segment
 * that crosses memory regions takes more than one iovec.
 */
#define VHX_BLK_SEG_MAX		254
/* Discard and write-zeroes limits; they bound the time a worker blocks. */
#define VHX_BLK_DWZ_SEGS	16
#define VHX_BLK_DWZ_SECTORS	(1U << 16)
/* A stopping queue waits for at most one chunk of discard/write-zeroes. */
#define VHX_BLK_DWZ_CHUNK	(1U << 20)

struct vhx_blk_queue;

/* One request at the backend. */
struct vhx_blk_req {
	struct kiocb iocb;		/* reads and writes */
	struct vhx_work work;		/* flush, discard, write-zeroes */
	struct llist_node node;		/* on the done list */
	struct vhx_blk_req *next_free;
	struct vhx_blk_queue *q;
	u64 status;			/* user address of the status byte */
	size_t len;			/* data bytes the request names */
	long ret;			/* the backend's result */
	u32 type;			/* VIRTIO_BLK_T_* */
	struct virtio_blk_discard_write_zeroes *segs;	/* copied from guest */
	struct iovec *log_iov;		/* a read's buffers, when logging */
	u32 log_niov;
	unsigned int nsegs;
	u16 head;
	bool write;
	bool frozen;			/* holds freeze protection until done */
	bool sync;			/* FLUSH not acked: sync what it zeroed */
};

struct vhx_blk_queue {
	struct vhx_vq vq;
	struct vhx_blk_req *reqs;	/* pool, allocated when the queue starts */
	struct vhx_blk_req *free;
	struct vhx_worker *slow;	/* the device's worker for long requests */
	bool starved;			/* stopped taking requests: pool empty */
	bool in_handler;		/* handle_blk() reaps before it ends */
	bool cancel;			/* stopping: cut long operations short */
	struct llist_head done;		/* completed, not yet reported */
	struct vhx_work done_work;
	spinlock_t lock;		/* guards inflight; completions take it */
	unsigned int inflight;		/* submitted, not yet on done */
	unsigned int reading;		/* reads among them */
	wait_queue_head_t drain;	/* woken when inflight drops to 0 */
};

struct vhx_blk_backend {
	struct file *file;
	u64 capacity;			/* in 512-byte sectors */
	u32 blk_size;
	bool ro;
	bool direct;
};

struct vhx_blk {
	struct vhx_dev dev;
	struct vhx_blk_queue queues[VHX_BLK_MAX_QUEUES];
	struct vhx_blk_backend be;	/* changed only with every queue stopped */
	spinlock_t serial_lock;
	u8 serial[VHX_BLK_SERIAL_LEN];	/* empty unless the VMM sets one */
};

static inline struct vhx_blk *vhx_blk_from_dev(struct vhx_dev *d)
{
	return container_of(d, struct vhx_blk, dev);
}

static inline struct vhx_blk *vq_to_blk(struct vhx_vq *vq)
{
	return vhx_blk_from_dev(vq->dev);
}

static inline struct vhx_blk_queue *vq_to_blk_queue(struct vhx_vq *vq)
{
	return container_of(vq, struct vhx_blk_queue, vq);
}

static inline bool vhx_blk_read_only(struct vhx_blk *b, u64 features)
{
	return b->be.ro || (features & BIT_ULL(VIRTIO_BLK_F_RO));
}

void vhx_blk_put_req(struct vhx_blk_queue *q, struct vhx_blk_req *req);
int vhx_blk_reap(struct vhx_blk_queue *q, bool report);
void vhx_blk_complete(struct vhx_blk_queue *q);
void vhx_blk_done_work(struct vhx_work *work);
void vhx_blk_slow_work(struct vhx_work *work);
void handle_blk(struct vhx_vq *vq);
bool vhx_blk_poll_more(struct vhx_vq *vq);

#endif /* VHX_BLK_H */
