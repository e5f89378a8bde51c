// SPDX-License-Identifier: GPL-2.0
/*
 * The vhx core: owner, memory table, vring ioctls, worker threads, kick
 * polling and call signalling, shared by net and blk.
 *
 * Locking: d->mutex serialises ioctls and is taken before any vq->mutex.
 * A queue's handler runs on a worker with only vq->mutex held, so anything
 * the handler uses (ring, memory table, backend, eventfds) is replaced
 * under vq->mutex and may be freed as soon as that mutex is dropped.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/sched/clock.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "vhx.h"

static unsigned int max_mem_regions = 64;
module_param(max_mem_regions, uint, 0444);
MODULE_PARM_DESC(max_mem_regions, "Most regions in a memory table (default 64)");

/* Busy polling holds a worker and a CPU: bound what a VMM may ask for. */
static unsigned int busyloop_max_us = 10000;
module_param(busyloop_max_us, uint, 0644);
MODULE_PARM_DESC(busyloop_max_us,
		 "Upper bound for VHOST_SET_VRING_BUSYLOOP_TIMEOUT, in us (default 10000)");

#define VHX_WORK_QUEUED	0

/*
 * Where a device's works run.  On kernels with vhost_task a worker is a
 * thread of the owner, as upstream vhost's are: it shares the owner's mm,
 * credentials, limits and cgroups, counts in its RLIMIT_NPROC and dies
 * with it.  Elsewhere it is a kernel thread that borrows the owner's mm
 * and credentials and joins its cgroups.
 */
struct vhx_worker {
	struct llist_head list;
	spinlock_t lock;		/* orders queueing against death */
	bool dead;			/* killed with its owner: runs no more */
#if VHX_USER_WORKER
	struct vhost_task *task;
#else
	struct task_struct *task;
	struct mm_struct *mm;
	const struct cred *cred;
#endif
};

struct vhx_flush {
	struct vhx_work work;
	struct completion done;
};

void vhx_work_init(struct vhx_work *work, void (*fn)(struct vhx_work *))
{
	work->flags = 0;
	work->fn = fn;
}

static void worker_wake(struct vhx_worker *w)
{
#if VHX_USER_WORKER
	vhost_task_wake(w->task);
#else
	wake_up_process(w->task);
#endif
}

/* False when the work will never run: its worker died with the owner. */
static bool worker_queue(struct vhx_worker *w, struct vhx_work *work)
{
	unsigned long flags;
	bool queued = false;

	spin_lock_irqsave(&w->lock, flags);
	if (!w->dead) {
		llist_add(&work->node, &w->list);
		queued = true;
	}
	spin_unlock_irqrestore(&w->lock, flags);
	if (queued)
		worker_wake(w);
	return queued;
}

void vhx_work_queue(struct vhx_worker *w, struct vhx_work *work)
{
	if (!w || test_and_set_bit(VHX_WORK_QUEUED, &work->flags))
		return;
	worker_queue(w, work);
}

/* Run what is queued; false if there was nothing. */
static bool worker_run(struct vhx_worker *w)
{
	struct llist_node *node = llist_del_all(&w->list);
	struct vhx_work *work, *next;

	if (!node)
		return false;
	__set_current_state(TASK_RUNNING);
	node = llist_reverse_order(node);
	llist_for_each_entry_safe(work, next, node, node) {
		/* A wakeup from here on must run the work again. */
		clear_bit(VHX_WORK_QUEUED, &work->flags);
		smp_mb__after_atomic();
		work->fn(work);
		cond_resched();
	}
	return true;
}

static void flush_fn(struct vhx_work *work)
{
	complete(&container_of(work, struct vhx_flush, work)->done);
}

static void vhx_worker_flush(struct vhx_worker *w)
{
	struct vhx_flush f;

	if (!w)
		return;
	vhx_work_init(&f.work, flush_fn);
	init_completion(&f.done);
	if (worker_queue(w, &f.work))
		wait_for_completion(&f.done);
}

#if VHX_USER_WORKER

static bool worker_fn(void *data)
{
	return worker_run(data);
}

/*
 * The owner was killed, and its worker with it.  What was queued before,
 * flushes included, still runs here; nothing queued later will.
 */
static void worker_killed(void *data)
{
	struct vhx_worker *w = data;
	unsigned long flags;

	spin_lock_irqsave(&w->lock, flags);
	w->dead = true;
	spin_unlock_irqrestore(&w->lock, flags);
	worker_run(w);
}

static int worker_start(struct vhx_worker *w, struct vhx_dev *d,
			const char *name)
{
	struct vhost_task *task;

	task = vhost_task_create(worker_fn, worker_killed, w, name);
	if (IS_ERR_OR_NULL(task))
		return task ? PTR_ERR(task) : -ENOMEM;
	w->task = task;
	vhost_task_start(task);
	return 0;
}

static void worker_stop(struct vhx_worker *w)
{
	vhost_task_stop(w->task);
}

#else

static int worker_fn(void *data)
{
	struct vhx_worker *w = data;
	const struct cred *old_cred;

	/*
	 * Guest memory is the owner's memory: run in its address space, and
	 * touch backends with its credentials, not the kernel's.
	 */
	kthread_use_mm(w->mm);
	old_cred = override_creds(w->cred);
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop()) {
			__set_current_state(TASK_RUNNING);
			break;
		}
		if (!worker_run(w))
			schedule();
	}
	revert_creds(old_cred);
	kthread_unuse_mm(w->mm);
	return 0;
}

static int worker_start(struct vhx_worker *w, struct vhx_dev *d,
			const char *name)
{
	struct task_struct *task;
	int ret;

	w->mm = d->mm;
	w->cred = d->cred;
	task = kthread_create(worker_fn, w, "%s", name);
	if (IS_ERR(task))
		return PTR_ERR(task);
	/* The worker's CPU time and memory count against the owner. */
	ret = cgroup_attach_task_all(current, task);
	if (ret) {
		kthread_stop(task);
		return ret;
	}
	w->task = task;
	wake_up_process(task);
	return 0;
}

static void worker_stop(struct vhx_worker *w)
{
	kthread_stop(w->task);
}

#endif

/* Called by the owner (an ioctl of its): the worker is made in its image. */
static struct vhx_worker *worker_create(struct vhx_dev *d, unsigned int id)
{
	char name[TASK_COMM_LEN];
	struct vhx_worker *w;
	int ret;

	w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);
	if (!w)
		return ERR_PTR(-ENOMEM);
	init_llist_head(&w->list);
	spin_lock_init(&w->lock);
	snprintf(name, sizeof(name), "vhx-%s-%d.%u", d->name,
		 task_pid_nr(current), id);
	ret = worker_start(w, d, name);
	if (ret) {
		kfree(w);
		return ERR_PTR(ret);
	}
	return w;
}

/*
 * Every queue is stopped and every poll removed: the flush runs the last
 * works, and nothing can queue one after it.
 */
static void worker_destroy(struct vhx_worker *w)
{
	vhx_worker_flush(w);
	worker_stop(w);
	WARN_ON_ONCE(!llist_empty(&w->list));
	kfree(w);
}

static void poll_add_wait(struct file *file, wait_queue_head_t *wqh,
			    poll_table *pt)
{
	struct vhx_poll *p = container_of(pt, struct vhx_poll, table);

	p->wqh = wqh;
	add_wait_queue(wqh, &p->wait);
}

static int poll_wakeup(wait_queue_entry_t *wait, unsigned int mode, int sync,
		       void *key)
{
	struct vhx_poll *p = container_of(wait, struct vhx_poll, wait);

	if (key_to_poll(key) & p->mask)
		vhx_work_queue(p->worker, p->work);
	return 0;
}

void vhx_poll_init(struct vhx_poll *p, struct vhx_work *work, __poll_t mask)
{
	init_waitqueue_func_entry(&p->wait, poll_wakeup);
	init_poll_funcptr(&p->table, poll_add_wait);
	p->mask = mask;
	p->work = work;
	p->wqh = NULL;
	p->worker = NULL;
}

int vhx_poll_start(struct vhx_poll *p, struct vhx_worker *w, struct file *f)
{
	__poll_t mask;

	if (p->wqh)
		return 0;
	p->worker = w;
	mask = vfs_poll(f, &p->table);
	if (mask & EPOLLERR) {
		vhx_poll_stop(p);
		return -EINVAL;
	}
	if (mask & p->mask)
		vhx_work_queue(w, p->work);
	return 0;
}

void vhx_poll_stop(struct vhx_poll *p)
{
	if (p->wqh) {
		remove_wait_queue(p->wqh, &p->wait);
		p->wqh = NULL;
	}
}

static void vq_work_fn(struct vhx_work *work)
{
	struct vhx_vq *vq = container_of(work, struct vhx_vq, work);

	mutex_lock(&vq->mutex);
	vq->walked = 0;
	if (vhx_vq_running(vq))
		vq->handle(vq);
	mutex_unlock(&vq->mutex);
}

/*
 * Take a queue's mutex from outside its handler.  A handler busy-polling
 * the ring sees someone waiting and lets go.
 */
void vhx_vq_lock(struct vhx_vq *vq)
{
	atomic_inc(&vq->waiting);
	mutex_lock(&vq->mutex);
	atomic_dec(&vq->waiting);
}

static void vq_reset(struct vhx_vq *vq)
{
	memset(&vq->ring, 0, sizeof(vq->ring));
	vq->addr_set = false;
	vq->broken = false;
	vq->busyloop_us = 0;
	vq->features = 0;
	vq->nused = 0;
	vq->unsignalled = false;
	vq->worker = NULL;
}

static void vq_free(struct vhx_vq *vq)
{
	kvfree(vq->iov);
	kfree(vq->used);
	bitmap_free(vq->inflight);
	kfree(vq->taken);
}

static int vq_alloc(struct vhx_vq *vq)
{
	vq->iov = kvmalloc_array(VHX_IOV_MAX, sizeof(*vq->iov),
				 GFP_KERNEL_ACCOUNT);
	vq->used = kmalloc_array(VHX_USED_BATCH, sizeof(*vq->used),
				 GFP_KERNEL_ACCOUNT);
	vq->inflight = bitmap_zalloc(VHX_RING_MAX, GFP_KERNEL_ACCOUNT);
	vq->taken = kmalloc_array(VHX_IOV_MAX, sizeof(*vq->taken),
				  GFP_KERNEL_ACCOUNT);
	return vq->iov && vq->used && vq->inflight && vq->taken ? 0 : -ENOMEM;
}

/*
 * vqs points to the queues the device embeds in its own; it is the
 * device's to free, once vhx_dev_init() succeeded in its release op.
 */
int vhx_dev_init(struct vhx_dev *d, struct vhx_vq **vqs, unsigned int nvqs,
		 const char *name, u64 offered, const struct vhx_dev_ops *ops)
{
	unsigned int i;

	mutex_init(&d->mutex);
	d->name = name;
	d->nvqs = nvqs;
	d->offered = offered;
	d->ops = ops;
	d->workers = kcalloc(nvqs, sizeof(*d->workers), GFP_KERNEL_ACCOUNT);
	if (!d->workers)
		return -ENOMEM;
	for (i = 0; i < nvqs; i++) {
		struct vhx_vq *vq = vqs[i];

		vq->dev = d;
		vq->index = i;
		mutex_init(&vq->mutex);
		vq_reset(vq);
		vhx_work_init(&vq->work, vq_work_fn);
		vhx_poll_init(&vq->kick_poll, &vq->work, EPOLLIN);
		atomic_set(&vq->waiting, 0);
		if (vq_alloc(vq))
			goto fail;
	}
	d->vqs = vqs;
	return 0;
fail:
	for (i = 0; i < nvqs; i++)
		vq_free(vqs[i]);
	kfree(d->workers);
	return -ENOMEM;
}

static void vq_drop_files(struct vhx_vq *vq)
{
	if (vq->kick)
		fput(vq->kick);
	if (vq->call)
		eventfd_ctx_put(vq->call);
	if (vq->err)
		eventfd_ctx_put(vq->err);
	vq->kick = NULL;
	vq->call = NULL;
	vq->err = NULL;
}

/* Stop every queue; the device first drops what it has in flight. */
void vhx_dev_stop_vqs(struct vhx_dev *d)
{
	unsigned int i;

	lockdep_assert_held(&d->mutex);
	for (i = 0; i < d->nvqs; i++) {
		struct vhx_vq *vq = d->vqs[i];

		vhx_vq_lock(vq);
		d->ops->stop_vq(vq);
		vhx_vq_stop(vq);
		mutex_unlock(&vq->mutex);
	}
}

/* Stop every queue, drain the workers, and forget the owner. */
static void dev_release_owner(struct vhx_dev *d)
{
	unsigned int i;

	lockdep_assert_held(&d->mutex);
	vhx_dev_stop_vqs(d);
	for (i = 0; i < d->nvqs; i++) {
		if (d->workers[i])
			worker_destroy(d->workers[i]);
		d->workers[i] = NULL;
	}
	for (i = 0; i < d->nvqs; i++) {
		vq_drop_files(d->vqs[i]);
		vq_reset(d->vqs[i]);
	}
	kvfree(d->mem);
	d->mem = NULL;
	d->features = 0;
	d->backend_features = 0;
	if (d->mm)
		mmput(d->mm);
	d->mm = NULL;
	if (d->cred)
		put_cred(d->cred);
	d->cred = NULL;
	d->ops->reset(d);
}

/* The release of every vhx device file: one lifecycle for net and blk. */
int vhx_dev_release(struct inode *inode, struct file *f)
{
	struct vhx_dev *d = f->private_data;
	unsigned int i;

	mutex_lock(&d->mutex);
	dev_release_owner(d);
	mutex_unlock(&d->mutex);
	for (i = 0; i < d->nvqs; i++) {
		WARN_ON_ONCE(d->vqs[i]->running);
		vq_free(d->vqs[i]);
	}
	kfree(d->workers);
	d->ops->release(d);
	return 0;
}

int vhx_dev_check_owner(struct vhx_dev *d)
{
	return d->mm && d->mm == current->mm ? 0 : -EPERM;
}

static long set_owner(struct vhx_dev *d)
{
	struct vhx_worker *w;

	if (d->mm)
		return -EBUSY;
	d->mm = get_task_mm(current);
	if (!d->mm)
		return -EINVAL;
	d->cred = get_current_cred();
	d->fsize_limit = rlimit(RLIMIT_FSIZE);
	w = worker_create(d, 0);
	if (IS_ERR(w)) {
		put_cred(d->cred);
		d->cred = NULL;
		mmput(d->mm);
		d->mm = NULL;
		return PTR_ERR(w);
	}
	d->workers[0] = w;
	return 0;
}

int vhx_dev_set_features(struct vhx_dev *d, u64 features)
{
	unsigned int i;

	lockdep_assert_held(&d->mutex);
	if (features & ~d->offered)
		return -EOPNOTSUPP;
	d->features = features;
	for (i = 0; i < d->nvqs; i++) {
		struct vhx_vq *vq = d->vqs[i];

		vhx_vq_lock(vq);
		vq->features = features;
		vq->ring.event_idx = features & BIT_ULL(VIRTIO_RING_F_EVENT_IDX);
		vq->ring.indirect =
			features & BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC);
		vq->ring.notify_on_empty =
			features & BIT_ULL(VIRTIO_F_NOTIFY_ON_EMPTY);
		mutex_unlock(&vq->mutex);
	}
	return 0;
}

static int cmp_region(const void *a, const void *b)
{
	const struct vhx_mem_region *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

static struct vhx_mem *mem_from_user(struct vhost_memory __user *arg)
{
	struct vhost_memory_region __user *uregions = arg->regions;
	struct vhost_memory_region ur;
	struct vhost_memory hdr;
	struct vhx_mem *mem;
	u32 i;
	int ret;

	if (copy_from_user(&hdr, arg, sizeof(hdr)))
		return ERR_PTR(-EFAULT);
	if (hdr.padding)
		return ERR_PTR(-EOPNOTSUPP);
	if (hdr.nregions > max_mem_regions)
		return ERR_PTR(-E2BIG);
	mem = kvzalloc(struct_size(mem, regions, hdr.nregions),
		       GFP_KERNEL_ACCOUNT);
	if (!mem)
		return ERR_PTR(-ENOMEM);
	mem->nregions = hdr.nregions;
	for (i = 0; i < hdr.nregions; i++) {
		if (copy_from_user(&ur, &uregions[i], sizeof(ur)))
			goto fault;
		if (!access_ok(vhx_uptr(ur.userspace_addr), ur.memory_size))
			goto fault;
		mem->regions[i].gpa = ur.guest_phys_addr;
		mem->regions[i].size = ur.memory_size;
		mem->regions[i].uaddr = ur.userspace_addr;
	}
	sort(mem->regions, mem->nregions, sizeof(mem->regions[0]), cmp_region,
	     NULL);
	ret = vhx_mem_check(mem);
	if (ret) {
		kvfree(mem);
		return ERR_PTR(ret);
	}
	return mem;
fault:
	kvfree(mem);
	return ERR_PTR(-EFAULT);
}

static long set_mem_table(struct vhx_dev *d, struct vhost_memory __user *arg)
{
	struct vhx_mem *mem, *old = d->mem;
	unsigned int i;

	mem = mem_from_user(arg);
	if (IS_ERR(mem))
		return PTR_ERR(mem);
	for (i = 0; i < d->nvqs; i++) {
		struct vhx_vq *vq = d->vqs[i];

		vhx_vq_lock(vq);
		vq->ring.mem = mem;
		/* A running ring the new table no longer covers is dead. */
		if (vhx_vq_running(vq) && vhx_ring_check(&vq->ring))
			vhx_vq_fail(vq, -EFAULT, "ring outside new memory table");
		mutex_unlock(&vq->mutex);
	}
	d->mem = mem;
	kvfree(old);
	return 0;
}

static long set_vring_addr(struct vhx_vq *vq, void __user *argp)
{
	struct vhost_vring_addr a;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.flags & ~BIT(VHOST_VRING_F_LOG))
		return -EOPNOTSUPP;
	if ((a.avail_user_addr & (VRING_AVAIL_ALIGN_SIZE - 1)) ||
	    (a.used_user_addr & (VRING_USED_ALIGN_SIZE - 1)) ||
	    (a.log_guest_addr & (VRING_USED_ALIGN_SIZE - 1)))
		return -EINVAL;
	if (a.flags & BIT(VHOST_VRING_F_LOG))
		return -EOPNOTSUPP;	/* no dirty logging (VHOST_F_LOG_ALL) */
	if (vq->running) {
		struct vhx_ring r = vq->ring;

		r.desc = a.desc_user_addr;
		r.avail = a.avail_user_addr;
		r.used = a.used_user_addr;
		if (vhx_ring_check(&r))
			return -EINVAL;
	}
	vq->ring.desc = a.desc_user_addr;
	vq->ring.avail = a.avail_user_addr;
	vq->ring.used = a.used_user_addr;
	vq->addr_set = true;
	return 0;
}

static long set_vring_kick(struct vhx_vq *vq, int fd)
{
	struct file *f = NULL;

	if (fd != VHOST_FILE_UNBIND) {
		f = eventfd_fget(fd);
		if (IS_ERR(f))
			return PTR_ERR(f);
	}
	vhx_poll_stop(&vq->kick_poll);
	if (vq->kick)
		fput(vq->kick);
	vq->kick = f;
	if (f && vq->running)
		return vhx_poll_start(&vq->kick_poll, vq->worker, f);
	return 0;
}

static long set_vring_eventfd(struct eventfd_ctx **slot, int fd)
{
	struct eventfd_ctx *ctx = NULL;

	if (fd != VHOST_FILE_UNBIND) {
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
	}
	if (*slot)
		eventfd_ctx_put(*slot);
	*slot = ctx;
	return 0;
}

static long vring_state_ioctl(struct vhx_vq *vq, unsigned int cmd,
			      void __user *argp)
{
	struct vhost_vring_state s;

	if (copy_from_user(&s, argp, sizeof(s)))
		return -EFAULT;
	switch (cmd) {
	case VHOST_SET_VRING_NUM:
		if (vq->running)
			return -EBUSY;
		if (!s.num || s.num > VHX_RING_MAX || (s.num & (s.num - 1)))
			return -EINVAL;
		vq->ring.num = s.num;
		vq->broken = false;
		return 0;
	case VHOST_SET_VRING_BASE:
		if (vq->running)
			return -EBUSY;
		if (s.num > 0xffff)
			return -EINVAL;
		vq->ring.last_avail = s.num;
		vq->ring.avail_idx = s.num;
		vq->broken = false;
		return 0;
	case VHOST_GET_VRING_BASE:
		s.num = vq->ring.last_avail;
		break;
	case VHOST_SET_VRING_BUSYLOOP_TIMEOUT:
		vq->busyloop_us = min(s.num, READ_ONCE(busyloop_max_us));
		return 0;
	case VHOST_GET_VRING_BUSYLOOP_TIMEOUT:
		s.num = vq->busyloop_us;
		break;
	default:
		return -ENOIOCTLCMD;
	}
	return copy_to_user(argp, &s, sizeof(s)) ? -EFAULT : 0;
}

static long vring_file_ioctl(struct vhx_vq *vq, unsigned int cmd,
			     void __user *argp)
{
	struct vhost_vring_file f;

	if (copy_from_user(&f, argp, sizeof(f)))
		return -EFAULT;
	switch (cmd) {
	case VHOST_SET_VRING_KICK:
		return set_vring_kick(vq, f.fd);
	case VHOST_SET_VRING_CALL:
		return set_vring_eventfd(&vq->call, f.fd);
	case VHOST_SET_VRING_ERR:
		return set_vring_eventfd(&vq->err, f.fd);
	}
	return -ENOIOCTLCMD;
}

static long vring_ioctl(struct vhx_dev *d, unsigned int cmd,
			void __user *argp)
{
	struct vhx_vq *vq;
	u32 idx;
	long ret;

	/* Every vring ioctl's argument starts with the queue index. */
	if (get_user(idx, (u32 __user *)argp))
		return -EFAULT;
	if (idx >= d->nvqs)
		return -ENOBUFS;
	vq = d->vqs[array_index_nospec(idx, d->nvqs)];
	vhx_vq_lock(vq);
	switch (cmd) {
	case VHOST_SET_VRING_ADDR:
		ret = set_vring_addr(vq, argp);
		break;
	case VHOST_SET_VRING_KICK:
	case VHOST_SET_VRING_CALL:
	case VHOST_SET_VRING_ERR:
		ret = vring_file_ioctl(vq, cmd, argp);
		break;
	default:
		ret = vring_state_ioctl(vq, cmd, argp);
	}
	mutex_unlock(&vq->mutex);
	return ret;
}

static long features_ioctl(struct vhx_dev *d, unsigned int cmd,
			   u64 __user *argp)
{
	u64 features;

	switch (cmd) {
	case VHOST_GET_FEATURES:
		return put_user(d->offered, argp);
	case VHOST_SET_FEATURES:
		if (get_user(features, argp))
			return -EFAULT;
		return vhx_dev_set_features(d, features);
	case VHOST_GET_BACKEND_FEATURES:
		return put_user(0ULL, argp);
	case VHOST_SET_BACKEND_FEATURES:
		if (get_user(features, argp))
			return -EFAULT;
		/* No IOTLB: vhx offers no backend features. */
		return features ? -EOPNOTSUPP : 0;
	}
	return -ENOIOCTLCMD;
}

long vhx_dev_ioctl(struct vhx_dev *d, unsigned int cmd, void __user *argp)
{
	long ret;

	lockdep_assert_held(&d->mutex);
	ret = features_ioctl(d, cmd, argp);
	if (ret != -ENOIOCTLCMD)
		return ret;
	if (cmd == VHOST_SET_OWNER)
		return set_owner(d);
	ret = vhx_dev_check_owner(d);
	if (ret)
		return ret;
	switch (cmd) {
	case VHOST_RESET_OWNER:
		dev_release_owner(d);
		return 0;
	case VHOST_SET_MEM_TABLE:
		return set_mem_table(d, argp);
	case VHOST_SET_LOG_BASE:
		return -EOPNOTSUPP;
	case VHOST_SET_LOG_FD:
		return -EOPNOTSUPP;
	case VHOST_SET_VRING_NUM:
	case VHOST_SET_VRING_ADDR:
	case VHOST_SET_VRING_BASE:
	case VHOST_GET_VRING_BASE:
	case VHOST_SET_VRING_KICK:
	case VHOST_SET_VRING_CALL:
	case VHOST_SET_VRING_ERR:
	case VHOST_SET_VRING_BUSYLOOP_TIMEOUT:
	case VHOST_GET_VRING_BUSYLOOP_TIMEOUT:
		return vring_ioctl(d, cmd, argp);
	}
	return -ENOIOCTLCMD;
}

static struct vhx_worker *vq_worker(struct vhx_vq *vq)
{
	struct vhx_dev *d = vq->dev;
	unsigned int slot = d->worker_per_vq ? vq->index : 0;
	struct vhx_worker *w = d->workers[slot];

	if (!w && d->mm) {
		w = worker_create(d, slot);
		if (IS_ERR(w))
			return w;
		d->workers[slot] = w;
	}
	return w ? w : ERR_PTR(-EPERM);
}

/*
 * Check that a queue can start: its worker exists and the ring fits the
 * memory table and is readable.  d->mutex and vq->mutex held.
 */
int vhx_vq_prepare(struct vhx_vq *vq)
{
	struct vhx_worker *w;
	struct vhx_ring r;

	lockdep_assert_held(&vq->dev->mutex);
	lockdep_assert_held(&vq->mutex);
	if (!vq->addr_set)
		return -EFAULT;
	w = vq_worker(vq);
	if (IS_ERR(w))
		return PTR_ERR(w);
	r = vq->ring;
	return vhx_ring_start(&r);
}

/*
 * Start processing, the device's backend in place; d->mutex and vq->mutex
 * held.  The ring is checked against the memory table first and the used
 * index is picked up from guest memory, as a resumed queue expects.
 */
int vhx_vq_start(struct vhx_vq *vq)
{
	int ret;

	if (WARN_ON_ONCE(vq->running))
		return -EBUSY;
	ret = vhx_vq_prepare(vq);
	if (ret)
		return ret;
	ret = vhx_ring_start(&vq->ring);
	if (ret)
		return ret;
	vq->worker = vq_worker(vq);
	vq->running = true;
	vq->broken = false;
	vq->nused = 0;
	bitmap_zero(vq->inflight, vq->ring.num);
	vq->ntaken = 0;
	if (vq->kick) {
		ret = vhx_poll_start(&vq->kick_poll, vq->worker, vq->kick);
		if (ret) {
			vq->running = false;
			return ret;
		}
	}
	/* Pick up whatever the guest queued while we were not looking. */
	vhx_vq_requeue(vq);
	return 0;
}

/* Stop processing; vq->mutex held. */
void vhx_vq_stop(struct vhx_vq *vq)
{
	lockdep_assert_held(&vq->mutex);
	vhx_poll_stop(&vq->kick_poll);
	vq->running = false;
}

bool vhx_vq_running(struct vhx_vq *vq)
{
	return vq->running && !vq->broken;
}

/*
 * Take the next chain (see vhx_ring_get()).  A head the device holds
 * already (taken, and not yet published in the used ring) is a driver bug
 * that could make us publish more entries than the used ring has: refuse
 * it.
 */
int vhx_vq_get(struct vhx_vq *vq, struct vhx_chain *c, u32 iov_off)
{
	int ret;

	lockdep_assert_held(&vq->mutex);
	ret = vhx_ring_get(&vq->ring, c, vq->iov + iov_off,
			   VHX_IOV_MAX - iov_off);
	if (ret <= 0)
		return ret;
	vq->walked += c->ndesc;
	if (__test_and_set_bit(c->head, vq->inflight)) {
		vhx_ring_unget(&vq->ring, 1);
		return -EBUSY;
	}
	vq->taken[vq->ntaken++ % VHX_IOV_MAX] = c->head;
	return 1;
}

/* Give back the last n chains taken (n <= VHX_IOV_MAX). */
void vhx_vq_unget(struct vhx_vq *vq, u16 n)
{
	u16 i;

	lockdep_assert_held(&vq->mutex);
	for (i = 0; i < n; i++)
		__clear_bit(vq->taken[--vq->ntaken % VHX_IOV_MAX],
			    vq->inflight);
	vhx_ring_unget(&vq->ring, n);
}

static int publish_used(struct vhx_vq *vq)
{
	int ret = vhx_ring_put(&vq->ring, vq->used, vq->nused);
	u32 i;

	/* Once published, the heads are the guest's to post again. */
	for (i = 0; i < vq->nused; i++)
		__clear_bit(le32_to_cpu(vq->used[i].id), vq->inflight);

	vq->unsignalled |= vq->nused && !ret;
	vq->nused = 0;
	return ret;
}

/*
 * Queue a used entry for a head taken with vhx_vq_get(); full batches are
 * published without a call.  A batch never exceeds the ring.  An error is
 * the caller's to turn into vhx_vq_fail(), as for every vhx_vq_* below.
 */
int vhx_vq_add_used(struct vhx_vq *vq, u16 head, u32 len)
{
	lockdep_assert_held(&vq->mutex);
	if (WARN_ON_ONCE(head >= vq->ring.num ||
			 !test_bit(head, vq->inflight)))
		return -EINVAL;
	vq->used[vq->nused].id = cpu_to_le32(head);
	vq->used[vq->nused].len = cpu_to_le32(len);
	if (++vq->nused < min_t(u32, VHX_USED_BATCH, vq->ring.num))
		return 0;
	return publish_used(vq);
}

static void vhx_vq_signal(struct vhx_vq *vq)
{
	if (vq->call)
		vhx_eventfd_signal(vq->call);
}

/* Publish what is pending and call the guest if it wants to be called. */
int vhx_vq_flush_used(struct vhx_vq *vq)
{
	int ret;

	lockdep_assert_held(&vq->mutex);
	if (vq->nused) {
		ret = publish_used(vq);
		if (ret)
			return ret;
	}
	if (!vq->unsignalled)
		return 0;
	vq->unsignalled = false;
	ret = vhx_ring_need_call(&vq->ring);
	if (ret > 0)
		vhx_vq_signal(vq);
	return ret < 0 ? ret : 0;
}

/* Should a busy-polling handler stop and let others run? */
static bool poll_should_stop(struct vhx_vq *vq)
{
	return need_resched() || signal_pending(current) ||
	       atomic_read(&vq->waiting) || !llist_empty(&vq->worker->list);
}

/*
 * Poll the avail index for up to busyloop_us before sleeping, as long as
 * no other work, ioctl or the scheduler wants the worker.
 */
static bool busy_wait(struct vhx_vq *vq)
{
	u64 end = local_clock() + (u64)vq->busyloop_us * NSEC_PER_USEC;
	u16 seen = vq->ring.avail_idx;

	while (!poll_should_stop(vq) && local_clock() < end) {
		if (vhx_ring_pending(&vq->ring) < 0 ||
		    vq->ring.avail_idx != seen)
			return true;
		cpu_relax();
	}
	return false;
}

/*
 * The ring looked empty: re-enable kicks.  Returns > 0 if entries arrived
 * in the meantime and the handler should go on instead of sleeping, 0 if
 * it should sleep, < 0 if the ring cannot be written.
 */
int vhx_vq_rearm(struct vhx_vq *vq)
{
	int ret;

	lockdep_assert_held(&vq->mutex);
	if (vq->busyloop_us && busy_wait(vq))
		return 1;
	ret = vhx_ring_notify_on(&vq->ring);
	if (ret <= 0)
		return ret;
	ret = vhx_ring_notify_off(&vq->ring);
	return ret < 0 ? ret : 1;
}

/*
 * Bad guest input: stop the queue and tell the VMM through the ERR
 * eventfd.  The queue stays stopped until the VMM sets it up again.
 * Called by whoever runs the queue (its handler, its completion work)
 * with the errno of the step that failed, and why in its own words.
 */
void vhx_vq_fail(struct vhx_vq *vq, int err, const char *why)
{
	lockdep_assert_held(&vq->mutex);
	if (vq->broken)
		return;
	vq->broken = true;
	pr_info_ratelimited("%s queue %u stopped: %s (%d)\n", vq->dev->name,
			    vq->index, why, err);
	if (vq->err)
		vhx_eventfd_signal(vq->err);
}

void vhx_vq_requeue(struct vhx_vq *vq)
{
	vhx_work_queue(vq->worker, &vq->work);
}

/*
 * Has the handler had its share of the worker this run?  Then it is
 * requeued behind the other work and should return.
 */
bool vhx_vq_exceeds_weight(struct vhx_vq *vq, u32 reqs, u64 bytes)
{
	if (reqs < VHX_WEIGHT_REQS && bytes < VHX_WEIGHT_BYTES &&
	    vq->walked < VHX_WEIGHT_DESCS && !need_resched())
		return false;
	vhx_vq_requeue(vq);
	return true;
}
