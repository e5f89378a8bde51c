/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vhx core: a device owns virtqueues, a memory table and worker threads
 * that run the queues in the owner's address space.  It knows nothing about
 * net or blk: they embed its queues in their own (container_of leads back),
 * give each queue a handler and the device a struct vhx_dev_ops.
 */
#ifndef VHX_H
#define VHX_H

#include <linux/eventfd.h>
#include <linux/llist.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/wait.h>
#include <uapi/linux/vhost.h>
#include <linux/vhx.h>

#include "compat.h"
#include "ring.h"

struct vhx_dev;
struct vhx_vq;
struct vhx_worker;

/* A unit of work run on a worker thread; queued at most once at a time. */
struct vhx_work {
	struct llist_node node;
	unsigned long flags;
	void (*fn)(struct vhx_work *work);
};

/* Wakes a work item when a file (eventfd, socket) becomes ready. */
struct vhx_poll {
	wait_queue_entry_t wait;
	poll_table table;
	wait_queue_head_t *wqh;
	__poll_t mask;
	struct vhx_work *work;
	struct vhx_worker *worker;
	u64 wakeups;		/* under the wait queue's lock */
};

/* VHX_GET_VRING_STATS; written under vq->mutex, read without it. */
struct vhx_vq_stats {
	u64 runs;
	u64 used;
	u64 used_bytes;
	u64 calls;
};

/* Holding a queue's calls while the guest submits (vhx_vq_hold_call()). */
struct vhx_hold {
	u64 since;		/* local_clock() when this call was first held */
	u64 gap;		/* longest wait before a hold found work */
	u32 ns;			/* the window, 0: calls go unheld */
	u32 probe_ns;		/* the next probe's window */
	u16 probe_every;	/* calls between probes */
	u16 calls;		/* unheld calls since the last probe */
	bool found;		/* a hold since the last call found work */
	bool probing;		/* this call's hold is a probe */
};

struct vhx_vq {
	struct vhx_dev *dev;
	unsigned int index;
	struct mutex mutex;		/* serialises ioctls against the handler */
	atomic_t waiting;		/* ioctls waiting for mutex: stop polling */
	struct vhx_ring ring;
	bool addr_set;
	bool broken;			/* stopped on bad guest input */
	struct file *kick;
	struct eventfd_ctx *call;
	struct eventfd_ctx *err;
	struct vhx_poll kick_poll;
	struct vhx_work work;		/* runs handle() */
	void (*handle)(struct vhx_vq *vq);
	bool running;			/* between vhx_vq_start() and _stop() */
	struct vhx_worker *worker;
	u32 busyloop_us;		/* fixed polling window, 0: adaptive */
	u32 poll_ns;			/* adaptive polling window */
	u64 slept_at;			/* local_clock() when kicks came back on */
	struct vhx_hold hold;		/* holding calls back, see vq.c */
	u64 features;			/* acked features, copied under mutex */
	u64 log_base;			/* the dirty log, copied under mutex */
	struct eventfd_ctx *log_ctx;	/* the device's, copied under mutex */
	bool logged;			/* log written since the last signal */

	/* Scratch owned by the handler, valid under mutex. */
	struct iovec *iov;
	struct vhx_used_elem *used;	/* entries not yet published */
	u32 nused;
	unsigned long *inflight;	/* heads taken, not yet published */
	u16 *taken;			/* last heads taken, for unget */
	u16 ntaken;
	u32 walked;			/* descriptors walked this run */
	bool unsignalled;		/* published since the last call check */
	struct vhx_vq_stats stats;
};

/*
 * Used entries gathered before they are published in one go, and room
 * for them: a batch short of full plus one packet of VHX_IOV_MAX buffers.
 */
#define VHX_USED_BATCH		64
#define VHX_USED_MAX		(VHX_USED_BATCH + VHX_IOV_MAX)

struct vhx_dev {
	struct mutex mutex;		/* serialises ioctls; taken before vq->mutex */
	const char *name;		/* "net" or "blk", for messages and threads */
	struct mm_struct *mm;		/* owner's, NULL when unowned */
	struct vhx_mem *mem;
	const struct cred *cred;	/* owner's, for backend I/O */
	unsigned long fsize_limit;	/* owner's RLIMIT_FSIZE */
	const struct vhx_dev_ops *ops;
	struct vhx_vq **vqs;		/* embedded in the device's own queues */
	unsigned int nvqs;
	bool worker_per_vq;		/* blk: each queue its own thread */
	/*
	 * nvqs + 1 slots: the queues' ([0] only unless per vq), then one
	 * for the device's own works (blk: flush, discard, write-zeroes).
	 */
	struct vhx_worker **workers;
	u64 offered;			/* features GET_FEATURES reports */
	u64 features;			/* features acked by SET_FEATURES */
	u64 backend_features;
	u64 log_base;			/* VHOST_SET_LOG_BASE */
	struct eventfd_ctx *log_ctx;	/* VHOST_SET_LOG_FD */
};

/*
 * What a device adds to the core's lifecycle.  stop_vq and reset are
 * called with d->mutex held, release after the core let go of the device.
 */
struct vhx_dev_ops {
	/* The queue stops (vq->mutex held too): leave nothing in flight. */
	void (*stop_vq)(struct vhx_vq *vq);
	/* Every queue stopped, the owner gone: back to the state of an open. */
	void (*reset)(struct vhx_dev *d);
	/* The file is closed: free the device. */
	void (*release)(struct vhx_dev *d);
	/*
	 * Optional: work besides the ring that a polling handler looks for
	 * (blk: completions), with vq->mutex held.
	 */
	bool (*poll_more)(struct vhx_vq *vq);
	/*
	 * Optional: the same for a handler holding its call (blk:
	 * completions, net RX: packets at the tap).
	 */
	bool (*hold_more)(struct vhx_vq *vq);
	/*
	 * Optional: dirty logging starts (VHOST_F_LOG_ALL acked), vq->mutex
	 * held.  A device whose writes to guest memory complete later than
	 * the handler runs waits for those in flight: they were not logged.
	 */
	void (*log_start)(struct vhx_vq *vq);
};

/*
 * Per-run budgets before a handler yields the worker: bytes, requests (or
 * packets, retries included) and descriptors walked.
 */
#define VHX_WEIGHT_BYTES	0x80000
#define VHX_WEIGHT_REQS		256
#define VHX_WEIGHT_DESCS	16384

int vhx_dev_init(struct vhx_dev *d, struct vhx_vq **vqs, unsigned int nvqs,
		 const char *name, u64 offered, const struct vhx_dev_ops *ops);
int vhx_dev_release(struct inode *inode, struct file *f);
void vhx_dev_stop_vqs(struct vhx_dev *d);
/* The generic vhost ioctls; called with d->mutex held. */
long vhx_dev_ioctl(struct vhx_dev *d, unsigned int cmd, void __user *argp);
int vhx_dev_set_features(struct vhx_dev *d, u64 features);
int vhx_dev_check_owner(struct vhx_dev *d);

void vhx_vq_lock(struct vhx_vq *vq);

/* Queue lifecycle, called with vq->mutex held. */
int vhx_vq_prepare(struct vhx_vq *vq);
int vhx_vq_start(struct vhx_vq *vq);
void vhx_vq_stop(struct vhx_vq *vq);
bool vhx_vq_running(struct vhx_vq *vq);

/* Used by handlers (worker context, vq->mutex held). */
int vhx_vq_get(struct vhx_vq *vq, struct vhx_chain *c, u32 iov_off);
void vhx_vq_unget(struct vhx_vq *vq, u16 n);
int vhx_vq_queue_used(struct vhx_vq *vq, u16 head, u32 len);
int vhx_vq_used_done(struct vhx_vq *vq);
int vhx_vq_add_used(struct vhx_vq *vq, u16 head, u32 len);
int vhx_vq_publish(struct vhx_vq *vq);
int vhx_vq_flush_used(struct vhx_vq *vq);
int vhx_vq_hold_call(struct vhx_vq *vq);
int vhx_vq_rearm(struct vhx_vq *vq);
void vhx_vq_fail(struct vhx_vq *vq, int err, const char *why);
void vhx_vq_requeue(struct vhx_vq *vq);
bool vhx_vq_exceeds_weight(struct vhx_vq *vq, u32 reqs, u64 bytes);

/* Dirty logging (log.c); vq->mutex held, in the owner's context. */
static inline bool vhx_vq_logging(const struct vhx_vq *vq)
{
	return unlikely(vq->features & BIT_ULL(VHOST_F_LOG_ALL));
}

u64 vhx_log_bytes(const struct vhx_mem *mem);
bool vhx_log_fits(u64 base, const struct vhx_mem *mem);
int vhx_log_write(struct vhx_vq *vq, u64 uaddr, u64 len);
int vhx_log_iov(struct vhx_vq *vq, const struct iovec *iov, u32 n, u64 len);
int vhx_log_used(struct vhx_ring *r, u64 off, u64 len);
void vhx_log_signal(struct vhx_vq *vq);

/* Works and polls: the building blocks backends use for their own files. */
void vhx_work_init(struct vhx_work *work, void (*fn)(struct vhx_work *));
bool vhx_work_queue(struct vhx_worker *w, struct vhx_work *work);
struct vhx_worker *vhx_dev_worker(struct vhx_dev *d, unsigned int slot);
void vhx_poll_init(struct vhx_poll *p, struct vhx_work *work, __poll_t mask);
int vhx_poll_start(struct vhx_poll *p, struct vhx_worker *w, struct file *f);
void vhx_poll_stop(struct vhx_poll *p);

/* Inside the core, between dev.c, vq.c and worker.c. */
struct vhx_worker *vhx_worker_create(struct vhx_dev *d, unsigned int id);
void vhx_worker_destroy(struct vhx_worker *w);
bool vhx_worker_busy(struct vhx_worker *w);
void vhx_vq_work_fn(struct vhx_work *work);
void vhx_vq_reset(struct vhx_vq *vq);
int vhx_vq_alloc(struct vhx_vq *vq);
void vhx_vq_free(struct vhx_vq *vq);

/* Misc devices. */
int vhx_net_init(void);
void vhx_net_exit(void);
int vhx_blk_init(void);
void vhx_blk_exit(void);

#endif /* VHX_H */
