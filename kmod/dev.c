// SPDX-License-Identifier: GPL-2.0
/*
 * The vhx core's device: owner, memory table and the generic vhost ioctls
 * (features, owner, memory table, vrings), shared by net and blk.
 *
 * Locking: d->mutex serialises ioctls and is taken before any vq->mutex.
 * A queue's handler runs on a worker with only vq->mutex held, so anything
 * the handler uses (ring, memory table, backend, eventfds) is replaced
 * under vq->mutex and may be freed as soon as that mutex is dropped.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nospec.h>
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

/*
 * vqs points to the queues the device embeds in its own.  Once this
 * succeeded, the device frees that table in its release op.
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
	d->workers = kcalloc(nvqs + 1, sizeof(*d->workers), GFP_KERNEL_ACCOUNT);
	if (!d->workers)
		return -ENOMEM;
	for (i = 0; i < nvqs; i++) {
		struct vhx_vq *vq = vqs[i];

		vq->dev = d;
		vq->index = i;
		mutex_init(&vq->mutex);
		vhx_vq_reset(vq);
		vhx_work_init(&vq->work, vhx_vq_work_fn);
		vhx_poll_init(&vq->kick_poll, &vq->work, EPOLLIN);
		atomic_set(&vq->waiting, 0);
		if (vhx_vq_alloc(vq))
			goto fail;
	}
	d->vqs = vqs;
	return 0;
fail:
	for (i = 0; i < nvqs; i++)
		vhx_vq_free(vqs[i]);
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
	for (i = 0; i <= d->nvqs; i++) {
		if (d->workers[i])
			vhx_worker_destroy(d->workers[i]);
		d->workers[i] = NULL;
	}
	for (i = 0; i < d->nvqs; i++) {
		vq_drop_files(d->vqs[i]);
		vhx_vq_reset(d->vqs[i]);
	}
	kvfree(d->mem);
	d->mem = NULL;
	if (d->log_ctx)
		eventfd_ctx_put(d->log_ctx);
	d->log_ctx = NULL;
	d->log_base = 0;
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
		vhx_vq_free(d->vqs[i]);
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
	w = vhx_worker_create(d, 0);
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
	bool log_start = features & ~d->features & BIT_ULL(VHOST_F_LOG_ALL);
	unsigned int i;

	lockdep_assert_held(&d->mutex);
	if (features & ~d->offered)
		return -EOPNOTSUPP;
	/* A log that cannot hold the memory table would be written past. */
	if (log_start && d->mem && !vhx_log_fits(d->log_base, d->mem))
		return -EFAULT;
	d->features = features;
	for (i = 0; i < d->nvqs; i++) {
		struct vhx_vq *vq = d->vqs[i];

		vhx_vq_lock(vq);
		if (log_start && d->ops->log_start)
			d->ops->log_start(vq);
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
	if ((d->features & BIT_ULL(VHOST_F_LOG_ALL)) &&
	    !vhx_log_fits(d->log_base, mem)) {
		kvfree(mem);
		return -EFAULT;
	}
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
	/* The used ring's log range may not wrap around. */
	if ((a.flags & BIT(VHOST_VRING_F_LOG)) &&
	    a.log_guest_addr > ~0ULL - (6 + 8 * (u64)VHX_RING_MAX))
		return -EINVAL;
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
	vq->ring.log_addr = a.log_guest_addr;
	vq->ring.log_used = a.flags & BIT(VHOST_VRING_F_LOG) ? vhx_log_used :
			    NULL;
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

/* Lock-free: a handler polling its ring must not hold this up. */
static long vring_stats(struct vhx_dev *d, void __user *argp)
{
	struct vhx_vring_stats s = {};
	struct vhx_vq *vq;

	if (get_user(s.index, (u32 __user *)argp))
		return -EFAULT;
	if (s.index >= d->nvqs)
		return -ENOBUFS;
	vq = d->vqs[array_index_nospec(s.index, d->nvqs)];
	s.kicks = READ_ONCE(vq->kick_poll.wakeups);
	s.runs = READ_ONCE(vq->stats.runs);
	s.used = READ_ONCE(vq->stats.used);
	s.used_bytes = READ_ONCE(vq->stats.used_bytes);
	s.calls = READ_ONCE(vq->stats.calls);
	return copy_to_user(argp, &s, sizeof(s)) ? -EFAULT : 0;
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

/*
 * The dirty log's address in the owner's memory.  It must have room for
 * the memory table's pages, checked here and on every later table while
 * VHOST_F_LOG_ALL is acked (log.c sets bits for those pages only).
 */
static long set_log_base(struct vhx_dev *d, u64 __user *argp)
{
	unsigned int i;
	u64 base;

	if (get_user(base, argp))
		return -EFAULT;
	if (d->mem && !vhx_log_fits(base, d->mem))
		return -EFAULT;
	d->log_base = base;
	for (i = 0; i < d->nvqs; i++) {
		vhx_vq_lock(d->vqs[i]);
		d->vqs[i]->log_base = base;
		mutex_unlock(&d->vqs[i]->mutex);
	}
	return 0;
}

/* An eventfd signalled when the log was written, or -1 for none. */
static long set_log_fd(struct vhx_dev *d, int __user *argp)
{
	struct eventfd_ctx *ctx = NULL, *old = d->log_ctx;
	unsigned int i;
	int fd;

	if (get_user(fd, argp))
		return -EFAULT;
	if (fd != VHOST_FILE_UNBIND) {
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
	}
	d->log_ctx = ctx;
	for (i = 0; i < d->nvqs; i++) {
		vhx_vq_lock(d->vqs[i]);
		d->vqs[i]->log_ctx = ctx;
		mutex_unlock(&d->vqs[i]->mutex);
	}
	if (old)
		eventfd_ctx_put(old);
	return 0;
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
		return set_log_base(d, argp);
	case VHOST_SET_LOG_FD:
		return set_log_fd(d, argp);
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
	case VHX_GET_VRING_STATS:
		return vring_stats(d, argp);
	}
	return -ENOIOCTLCMD;
}
