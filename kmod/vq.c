// SPDX-License-Identifier: GPL-2.0
/*
 * The vhx core's queues: running a queue's handler, starting and stopping
 * it, and what handlers use to take chains, publish used entries, call the
 * guest, re-enable kicks and stop a queue on bad input.  Those run with
 * vq->mutex held, as does everything that starts or stops a queue (see
 * dev.c for the locking).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/mm.h>
#include <linux/sched/clock.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "vhx.h"

/*
 * Adaptive polling, on by default: once a queue runs dry its handler
 * publishes, calls the guest, then polls for up to vq->poll_ns before it
 * re-enables kicks and sleeps.  What adapts the window is how long the
 * queue then slept: less than poll_max_ns but more than the window, and
 * the window doubles (from VHX_POLL_START_NS), as a longer one would have
 * caught the kick; longer than poll_max_ns, and it halves, down to none:
 * an idle or slow guest costs no polling.  VHOST_SET_VRING_BUSYLOOP_TIMEOUT
 * sets a fixed window instead.
 */
static unsigned int poll_max_ns = 32000;
module_param(poll_max_ns, uint, 0644);
MODULE_PARM_DESC(poll_max_ns,
		 "Largest adaptive polling window, in ns; 0 turns it off (default 32000)");

#define VHX_POLL_START_NS	4000

/* Holding calls (vhx_vq_hold_call()). */
#define VHX_HOLD_START_NS	2000
#define VHX_HOLD_PROBE_NS	64000	/* a probe may always try this long */
#define VHX_HOLD_WINDOWS	16	/* windows a call may be held for */
#define VHX_HOLD_PROBE_MIN	64	/* calls between probes, at first */
#define VHX_HOLD_PROBE_MAX	4096

/* The queue was woken: adapt the window to how long it slept. */
static void poll_woken(struct vhx_vq *vq)
{
	u32 max = READ_ONCE(poll_max_ns);
	u64 slept;

	if (!vq->slept_at)
		return;
	slept = local_clock() - vq->slept_at;
	vq->slept_at = 0;
	if (slept < max && slept > vq->poll_ns)
		vq->poll_ns = clamp_t(u32, vq->poll_ns * 2, VHX_POLL_START_NS,
				      max);
	else if (slept >= max)
		vq->poll_ns = vq->poll_ns / 2 < VHX_POLL_START_NS ? 0 :
			      vq->poll_ns / 2;
}

void vhx_vq_work_fn(struct vhx_work *work)
{
	struct vhx_vq *vq = container_of(work, struct vhx_vq, work);

	mutex_lock(&vq->mutex);
	vq->walked = 0;
	if (vhx_vq_running(vq)) {
		poll_woken(vq);
		WRITE_ONCE(vq->stats.runs, vq->stats.runs + 1);
		vq->handle(vq);
	}
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

void vhx_vq_reset(struct vhx_vq *vq)
{
	memset(&vq->ring, 0, sizeof(vq->ring));
	vq->addr_set = false;
	vq->broken = false;
	vq->busyloop_us = 0;
	vq->poll_ns = 0;
	vq->slept_at = 0;
	vq->hold = (struct vhx_hold){ .probe_every = VHX_HOLD_PROBE_MIN };
	vq->features = 0;
	vq->log_base = 0;
	vq->log_ctx = NULL;
	vq->logged = false;
	vq->nused = 0;
	vq->unsignalled = false;
	vq->worker = NULL;
}

void vhx_vq_free(struct vhx_vq *vq)
{
	kvfree(vq->iov);
	kvfree(vq->used);
	bitmap_free(vq->inflight);
	kfree(vq->taken);
}

int vhx_vq_alloc(struct vhx_vq *vq)
{
	vq->iov = kvmalloc_array(VHX_IOV_MAX, sizeof(*vq->iov),
				 GFP_KERNEL_ACCOUNT);
	vq->used = kvmalloc_array(VHX_USED_MAX, sizeof(*vq->used),
				  GFP_KERNEL_ACCOUNT);
	vq->inflight = bitmap_zalloc(VHX_RING_MAX, GFP_KERNEL_ACCOUNT);
	vq->taken = kmalloc_array(VHX_IOV_MAX, sizeof(*vq->taken),
				  GFP_KERNEL_ACCOUNT);
	return vq->iov && vq->used && vq->inflight && vq->taken ? 0 : -ENOMEM;
}

/*
 * A worker slot's thread, made on first use (by the owner: an ioctl of
 * its, d->mutex held).
 */
struct vhx_worker *vhx_dev_worker(struct vhx_dev *d, unsigned int slot)
{
	struct vhx_worker *w = d->workers[slot];

	lockdep_assert_held(&d->mutex);
	if (!w && d->mm) {
		w = vhx_worker_create(d, slot);
		if (IS_ERR(w))
			return w;
		d->workers[slot] = w;
	}
	return w ? w : ERR_PTR(-EPERM);
}

static struct vhx_worker *vq_worker(struct vhx_vq *vq)
{
	struct vhx_dev *d = vq->dev;

	return vhx_dev_worker(d, d->worker_per_vq ? vq->index : 0);
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
	u64 bytes = 0;
	u32 i;

	/* Once published, the heads are the guest's to post again. */
	for (i = 0; i < vq->nused; i++) {
		__clear_bit(le32_to_cpu(vq->used[i].id), vq->inflight);
		bytes += le32_to_cpu(vq->used[i].len);
	}
	if (!ret) {
		WRITE_ONCE(vq->stats.used, vq->stats.used + vq->nused);
		WRITE_ONCE(vq->stats.used_bytes, vq->stats.used_bytes + bytes);
		vhx_log_signal(vq);
	}

	vq->unsignalled |= vq->nused && !ret;
	vq->nused = 0;
	return ret;
}

/*
 * Queue a used entry for a head taken with vhx_vq_get(), one of a packet
 * that vhx_vq_used_done() closes.  Every queued head is in flight, hence
 * distinct: what is queued never exceeds the ring.  An error is the
 * caller's to turn into vhx_vq_fail(), as for every vhx_vq_* below.
 */
int vhx_vq_queue_used(struct vhx_vq *vq, u16 head, u32 len)
{
	lockdep_assert_held(&vq->mutex);
	if (WARN_ON_ONCE(head >= vq->ring.num ||
			 !test_bit(head, vq->inflight) ||
			 vq->nused >= VHX_USED_MAX))
		return -EINVAL;
	vq->used[vq->nused].id = cpu_to_le32(head);
	vq->used[vq->nused].len = cpu_to_le32(len);
	vq->nused++;
	return 0;
}

/*
 * The entries of one packet (or request) are queued.  A full batch is
 * published, without a call: the call comes when the handler stops.  (A
 * call at every batch came with nested guests under QEMU dying in the
 * test VM, not understood yet.)  Only whole packets are published: a
 * driver sees all of a packet's buffers used together (virtio 5.1.6.4).
 */
int vhx_vq_used_done(struct vhx_vq *vq)
{
	lockdep_assert_held(&vq->mutex);
	if (vq->nused < min_t(u32, VHX_USED_BATCH, vq->ring.num))
		return 0;
	return publish_used(vq);
}

/* Queue the used entry of a one-chain packet or request. */
int vhx_vq_add_used(struct vhx_vq *vq, u16 head, u32 len)
{
	int ret = vhx_vq_queue_used(vq, head, len);

	return ret ? ret : vhx_vq_used_done(vq);
}

static void vhx_vq_signal(struct vhx_vq *vq)
{
	if (!vq->call)
		return;
	vhx_eventfd_signal(vq->call);
	WRITE_ONCE(vq->stats.calls, vq->stats.calls + 1);
}

/* Publish what is pending, without calling the guest. */
int vhx_vq_publish(struct vhx_vq *vq)
{
	lockdep_assert_held(&vq->mutex);
	return vq->nused ? publish_used(vq) : 0;
}

/* Publish what is pending and call the guest if it wants to be called. */
int vhx_vq_flush_used(struct vhx_vq *vq)
{
	int ret;

	ret = vhx_vq_publish(vq);
	if (ret)
		return ret;
	if (!vq->unsignalled)
		return 0;
	vq->unsignalled = false;
	vq->hold.since = 0;
	ret = vhx_ring_need_call(&vq->ring);
	if (ret > 0)
		vhx_vq_signal(vq);
	return ret < 0 ? ret : 0;
}

/* Should a busy-polling handler stop and let others run? */
static bool poll_should_stop(struct vhx_vq *vq)
{
	return need_resched() || signal_pending(current) ||
	       atomic_read(&vq->waiting) || vhx_worker_busy(vq->worker);
}

typedef bool (*vhx_more_fn)(struct vhx_vq *vq);

/* New avail entries, or (more) something else for the handler? */
static bool poll_found(struct vhx_vq *vq, u16 seen, vhx_more_fn more)
{
	if (vhx_ring_pending(&vq->ring) < 0 || vq->ring.avail_idx != seen)
		return true;
	return more && more(vq);
}

/*
 * Poll for up to ns, as long as no other work, ioctl or the scheduler
 * wants the worker.
 */
static bool busy_wait(struct vhx_vq *vq, u64 ns, vhx_more_fn more)
{
	u64 end = local_clock() + ns;
	u16 seen = vq->ring.avail_idx;

	while (!poll_should_stop(vq) && local_clock() < end) {
		if (poll_found(vq, seen, more))
			return true;
		cpu_relax();
	}
	return false;
}

/* Publish and call first, then poll: 1 if work came, 0 if not, < 0. */
static int vhx_vq_poll(struct vhx_vq *vq)
{
	u64 ns = vq->busyloop_us ? (u64)vq->busyloop_us * NSEC_PER_USEC :
		 min(vq->poll_ns, READ_ONCE(poll_max_ns));
	int ret;

	if (!ns)
		return 0;
	ret = vhx_vq_flush_used(vq);
	if (ret)
		return ret;
	return busy_wait(vq, ns, vq->dev->ops->poll_more);
}

/*
 * Hold the call while work keeps coming: a guest spends less of its time
 * on a batch of used entries in one interrupt than on each in its own.
 * A handler with used entries not yet called and nothing left to do (the
 * ring dry; blk: nothing completed; net RX: the tap empty) polls for up
 * to a window: if new requests, completions or packets come, it goes on
 * and the call waits; when a hold finds nothing the guest waits for us,
 * and the call goes at once.
 *
 * The window fits the guest's pace: four times the longest wait after
 * which a hold found work since the last call, so it is microseconds for
 * a guest on hardware and more under emulation.  Holds that find nothing
 * halve it, down to none: a guest with one request at a time gets its
 * calls unheld.  Every so many calls a probe tries a longer first hold
 * (twice the window, longer after each failed probe, at most eight times
 * the window or VHX_HOLD_PROBE_NS, or hold_max_ns while there is no
 * window), then less often; a probe that finds work resets both.  A call
 * waits at most VHX_HOLD_WINDOWS windows, and at most one handler run
 * (VHX_WEIGHT_REQS requests).
 */
/*
 * Off by default until its end-to-end effect is measured: with it on,
 * net's polling test on 6.1 saw 43 kicks in 50 polled frames.
 */
static unsigned int hold_max_ns;
module_param(hold_max_ns, uint, 0644);
MODULE_PARM_DESC(hold_max_ns,
		 "Largest window a call to the guest is held in while work keeps coming, in ns; 0 (the default) turns holding off");

static u32 hold_clamp(u64 ns, u32 max)
{
	return clamp_t(u64, ns, VHX_HOLD_START_NS, max);
}

/* Without a window a probe may grow to the cap: the guest's pace is unknown. */
static u32 probe_limit(struct vhx_hold *h, u32 max)
{
	if (!h->ns)
		return max;
	return hold_clamp(max_t(u64, 8ULL * h->ns, VHX_HOLD_PROBE_NS), max);
}

/* The first hold since the last call: maybe a probe. */
static u64 hold_first(struct vhx_hold *h, u64 now, u32 max)
{
	h->since = now;
	h->gap = 0;
	h->found = false;
	h->probing = ++h->calls >= h->probe_every;
	if (!h->probing)
		return min(h->ns, max);
	h->calls = 0;
	h->probe_ns = min(hold_clamp(max_t(u64, h->probe_ns, 2ULL * h->ns), max),
			  probe_limit(h, max));
	return h->probe_ns;
}

/* Nothing came: the guest waits for its call. */
static void hold_missed(struct vhx_hold *h, u32 max)
{
	if (h->found) {
		h->ns = hold_clamp(4ULL * h->gap, max);
		return;
	}
	h->ns = h->ns / 2 < VHX_HOLD_START_NS ? 0 : h->ns / 2;
	if (!h->probing)
		return;
	if (h->probe_ns < probe_limit(h, max))
		h->probe_ns *= 2;
	else
		h->probe_every = min(2 * h->probe_every, VHX_HOLD_PROBE_MAX);
}

/* Work came after gap ns of holding: the window must cover such gaps. */
static void hold_found(struct vhx_hold *h, u64 gap, u32 max)
{
	h->gap = max(h->gap, gap);
	h->ns = max(h->ns, hold_clamp(4ULL * h->gap, max));
	h->found = true;
	if (h->probing) {
		h->probe_ns = 0;
		h->probe_every = VHX_HOLD_PROBE_MIN;
	}
}

int vhx_vq_hold_call(struct vhx_vq *vq)
{
	struct vhx_hold *h = &vq->hold;
	u32 max = READ_ONCE(hold_max_ns);
	u64 now = local_clock();
	u64 ns;

	lockdep_assert_held(&vq->mutex);
	if (!vq->unsignalled || !max)
		return 0;
	if (!h->since)
		ns = hold_first(h, now, max);
	else if (now - h->since < VHX_HOLD_WINDOWS * (u64)h->ns)
		ns = min(h->ns, max);
	else
		ns = 0;
	if (!ns)
		return 0;
	if (!busy_wait(vq, ns, vq->dev->ops->hold_more)) {
		hold_missed(h, max);
		return 0;
	}
	hold_found(h, local_clock() - now, max);
	return 1;
}

/*
 * The ring looked empty: poll a while, then re-enable kicks.  Returns > 0
 * if entries (or, with poll_more, completions) arrived in the meantime and
 * the handler should go on instead of sleeping, 0 if it should sleep,
 * < 0 if the ring cannot be written.
 */
int vhx_vq_rearm(struct vhx_vq *vq)
{
	int ret;

	lockdep_assert_held(&vq->mutex);
	ret = vhx_vq_poll(vq);
	if (ret)
		return ret;
	ret = vhx_ring_notify_on(&vq->ring);
	if (!ret)
		vq->slept_at = local_clock() ?: 1;
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
