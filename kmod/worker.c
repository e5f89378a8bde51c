// SPDX-License-Identifier: GPL-2.0
/*
 * The vhx core's threads: work items, the workers that run them in the
 * owner's context, and the polls that queue a work when a file (eventfd,
 * socket) becomes ready.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "vhx.h"

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

/* False when the work will not run: no worker, or it died with the owner. */
bool vhx_work_queue(struct vhx_worker *w, struct vhx_work *work)
{
	if (!w)
		return false;
	if (test_and_set_bit(VHX_WORK_QUEUED, &work->flags))
		return true;
	return worker_queue(w, work);
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
struct vhx_worker *vhx_worker_create(struct vhx_dev *d, unsigned int id)
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
void vhx_worker_destroy(struct vhx_worker *w)
{
	vhx_worker_flush(w);
	worker_stop(w);
	WARN_ON_ONCE(!llist_empty(&w->list));
	kfree(w);
}

/* Is work waiting, which a busy-polling handler would hold up? */
bool vhx_worker_busy(struct vhx_worker *w)
{
	return !llist_empty(&w->list);
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

	if (key_to_poll(key) & p->mask) {
		WRITE_ONCE(p->wakeups, p->wakeups + 1);
		vhx_work_queue(p->worker, p->work);
	}
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
