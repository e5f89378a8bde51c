// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-pci modern transport.  BAR0 holds every structure:
 *
 *   0x0000 common config     0x3000 notify (4 bytes per queue)
 *   0x1000 ISR               0x4000 MSI-X table
 *   0x2000 device config     0x5000 MSI-X PBA
 *
 * Queue notifications of vhost-served queues never reach us: at DRIVER_OK
 * each queue's notify address gets a KVM ioeventfd on its kick eventfd.
 * Each MSI-X vector has a GSI routed to its message; a queue's call eventfd
 * is bound (KVM irqfd) to the GSI of its vector while that vector is
 * unmasked.  A masked vector has no irqfd, so the eventfd keeps the event
 * and KVM delivers it when the irqfd comes back on unmask.  A driver that
 * leaves MSI-X off (Linux with pci=nomsi) gets INTx: the main loop reads
 * the call eventfds, sets the ISR and raises the slot's level-triggered
 * line until the driver reads the ISR (virtio 4.1.4.5).
 * Called with vm->lock held.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/vhx.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "irq.h"
#include "virtio.h"

#define COMMON_OFF	0x0000
#define ISR_OFF		0x1000
#define DEVICE_OFF	0x2000
#define DEVICE_LEN	0x1000
#define NOTIFY_OFF	0x3000
#define NOTIFY_MULT	4
#define MSIX_TABLE_OFF	0x4000
#define MSIX_PBA_OFF	0x5000
#define BAR_SIZE	0x8000

#define MSIX_CTRL_ENABLE	0x8000
#define MSIX_CTRL_FMASK		0x4000
#define MSIX_ENTRY_MASKED	0x1
#define ISR_QUEUE		0x1	/* and VIRTIO_PCI_ISR_CONFIG */

static struct virtio_dev *to_vdev(struct pci_dev *pci)
{
	return container_of(pci, struct virtio_dev, pci);
}

bool virtio_has_feature(struct virtio_dev *vdev, int bit)
{
	return vdev->guest_features & (1ULL << bit);
}

/*
 * Where the VMM sees a split queue's three areas (virtio 2.7), for vhost
 * and for our own walker alike: -EFAULT unless each lies in guest RAM.
 */
int virtio_queue_uaddrs(struct vm *vm, const struct virtio_queue *vq,
			u64 *desc, u64 *avail, u64 *used)
{
	void *d = gpa_to_hva(vm, vq->desc, 16ULL * vq->size);
	void *a = gpa_to_hva(vm, vq->avail, 6 + 2ULL * vq->size);
	void *u = gpa_to_hva(vm, vq->used, 6 + 8ULL * vq->size);

	if (!d || !a || !u)
		return -EFAULT;
	*desc = (u64)(unsigned long)d;
	*avail = (u64)(unsigned long)a;
	*used = (u64)(unsigned long)u;
	return 0;
}

static u16 msix_ctrl(struct virtio_dev *vdev)
{
	u16 v;

	memcpy(&v, vdev->pci.cfg + vdev->msix_cap + 2, 2);
	return v;
}

static bool msix_enabled(struct virtio_dev *vdev)
{
	return msix_ctrl(vdev) & MSIX_CTRL_ENABLE;
}

static bool vector_live(struct virtio_dev *vdev, u16 vector)
{
	u16 ctrl = msix_ctrl(vdev);

	return vector < vdev->nr_vectors && msix_enabled(vdev) &&
	       !(ctrl & MSIX_CTRL_FMASK) &&
	       !(vdev->msix[vector].ctrl & MSIX_ENTRY_MASKED);
}

static void binding_failed(struct virtio_dev *vdev, const char *what, int q)
{
	warnx_vm("%s: cannot bind queue %d's %s; device needs reset",
		 vdev->name, q, what);
	virtio_needs_reset(vdev);
}

/* Bind each queue's call eventfd to the GSI of its vector, if deliverable. */
static void sync_irqfds(struct virtio_dev *vdev)
{
	int q;

	for (q = 0; q < vdev->nr_queues; q++) {
		struct virtio_queue *vq = &vdev->vqs[q];
		int want = -1;

		if (vdev->started && vq->enabled &&
		    vector_live(vdev, vq->vector))
			want = vdev->gsi_base + vq->vector;
		if (want == vq->call_gsi)
			continue;
		if (vq->call_gsi >= 0)
			irqfd_set(vdev->vm, vq->call_fd, vq->call_gsi, false);
		vq->call_gsi = -1;
		if (want < 0)
			continue;
		if (irqfd_set(vdev->vm, vq->call_fd, want, true))
			binding_failed(vdev, "interrupt", q);
		else
			vq->call_gsi = want;
	}
	/* The main loop reads the call eventfds of INTx devices. */
	eventfd_write(vdev->vm->wake_fd, 1);
}

/* The INTx line follows the ISR, unless the driver disabled INTx. */
static void intx_update(struct virtio_dev *vdev)
{
	bool level = vdev->isr && pci_intx_enabled(&vdev->pci);

	if (level == vdev->intx_level)
		return;
	vdev->intx_level = level;
	if (level)
		vdev->pci.cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		vdev->pci.cfg[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
	irq_line(vdev->vm, PCI_INTX_GSI(vdev->pci.slot), level);
}

static void intx_raise(struct virtio_dev *vdev, u8 isr_bit)
{
	vdev->isr |= isr_bit;
	intx_update(vdev);
}

static u64 notify_addr(struct virtio_dev *vdev, int q)
{
	return pci_bar_addr(&vdev->pci) + NOTIFY_OFF + q * NOTIFY_MULT;
}

static void bind_kicks(struct virtio_dev *vdev, bool bind)
{
	int q;

	for (q = 0; q < vdev->nr_queues; q++) {
		struct virtio_queue *vq = &vdev->vqs[q];
		bool want = bind && vq->enabled && !vq->in_vmm &&
			    pci_bar_enabled(&vdev->pci);

		if (want == vq->kick_bound)
			continue;
		if (vq->kick_bound)
			ioeventfd_set(vdev->vm, vq->kick_fd, vq->kick_addr,
				      vdev->vm->kick_len, false);
		vq->kick_bound = false;
		if (!want)
			continue;
		/* Each queue has its own address: no data to match. */
		vq->kick_addr = notify_addr(vdev, q);
		if (ioeventfd_set(vdev->vm, vq->kick_fd, vq->kick_addr,
				  vdev->vm->kick_len, true))
			binding_failed(vdev, "notification", q);
		else
			vq->kick_bound = true;
	}
}

/* The device cannot go on until the driver resets it (virtio 2.1.2). */
void virtio_needs_reset(struct virtio_dev *vdev)
{
	if (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	virtio_config_changed(vdev);
}

/* Tell the driver to read the config again (virtio 4.1.4.5), by MSI-X. */
void virtio_config_changed(struct virtio_dev *vdev)
{
	struct msix_entry *e;

	vdev->config_generation++;
	if (!msix_enabled(vdev)) {
		intx_raise(vdev, VIRTIO_PCI_ISR_CONFIG);
		return;
	}
	if (!vector_live(vdev, vdev->config_vector))
		return;
	e = &vdev->msix[vdev->config_vector];
	irq_signal_msi(vdev->vm, e->addr_lo, e->addr_hi, e->data);
}

/* Every device, for the main loop's ERR eventfds. */
static struct virtio_dev *all_devs[VIRTIO_MAX_DEVS];
static int nr_all_devs;

/* With vm->lock held and every vCPU parked, or about to be released. */
void virtio_pause_all(bool pause)
{
	int d, err;

	for (d = 0; d < nr_all_devs; d++) {
		struct virtio_dev *vdev = all_devs[d];

		if (!vdev->started || vdev->stopping || !vdev->ops->pause)
			continue;
		err = vdev->ops->pause(vdev, pause);
		if (err) {
			warnx_vm("%s: cannot %s the backend: %s", vdev->name,
				 pause ? "detach" : "attach", strerror(-err));
			virtio_needs_reset(vdev);
		}
	}
}

int virtio_err_pollfds(struct pollfd *fds, int max)
{
	int d, q, n = 0;

	for (d = 0; d < nr_all_devs; d++)
		for (q = 0; q < all_devs[d]->nr_queues && n < max; q++)
			fds[n++] = (struct pollfd){
				.fd = all_devs[d]->vqs[q].err_fd,
				.events = POLLIN,
			};
	return n;
}

/*
 * The data plane stopped a queue on bad guest input: the device needs a
 * reset (virtio 2.1.2), and the driver hears of it through a config
 * interrupt.  The other devices run on.
 */
static void queue_failed(struct virtio_dev *vdev, int q)
{
	warnx_vm("%s: queue %d stopped by the data plane (bad ring?);"
		 " device needs reset", vdev->name, q);
	virtio_needs_reset(vdev);
}

/*
 * Calls @fn, with vm->lock held, for each queue whose eventfd in @fds (in
 * the order of the pollfds functions) fired and could be read.
 */
static void queue_events(const struct pollfd *fds, int n,
			 void (*fn)(struct virtio_dev *vdev, int q))
{
	struct vm *vm = nr_all_devs ? all_devs[0]->vm : NULL;
	int d, q, i = 0;
	eventfd_t v;

	if (!vm)
		return;
	pthread_mutex_lock(&vm->lock);
	for (d = 0; d < nr_all_devs; d++)
		for (q = 0; q < all_devs[d]->nr_queues && i < n; q++, i++)
			if ((fds[i].revents & POLLIN) &&
			    !eventfd_read(fds[i].fd, &v))
				fn(all_devs[d], q);
	pthread_mutex_unlock(&vm->lock);
}

void virtio_err_events(const struct pollfd *fds, int n)
{
	queue_events(fds, n, queue_failed);
}

/*
 * Every queue's call eventfd, in a fixed order, asking for input only
 * where the device runs on INTx; vm->wake_fd says when to ask again.
 */
int virtio_call_pollfds(struct pollfd *fds, int max)
{
	struct vm *vm = nr_all_devs ? all_devs[0]->vm : NULL;
	int d, q, n = 0;

	if (!vm)
		return 0;
	pthread_mutex_lock(&vm->lock);
	for (d = 0; d < nr_all_devs; d++) {
		struct virtio_dev *vdev = all_devs[d];
		bool intx = vdev->started && !msix_enabled(vdev);

		for (q = 0; q < vdev->nr_queues && n < max; q++)
			fds[n++] = (struct pollfd){
				.fd = vdev->vqs[q].call_fd,
				.events = intx ? POLLIN : 0,
			};
	}
	pthread_mutex_unlock(&vm->lock);
	return n;
}

/* A queue of a device on INTx signalled its call eventfd. */
static void queue_called(struct virtio_dev *vdev, int q)
{
	(void)q;
	if (!msix_enabled(vdev))
		intx_raise(vdev, ISR_QUEUE);
}

void virtio_call_events(const struct pollfd *fds, int n)
{
	queue_events(fds, n, queue_called);
}

/* The guest's own ring indices: buffers it made available, and used. */
static void queue_indices(struct virtio_dev *vdev, struct virtio_queue *vq,
			  u16 *avail, u16 *used)
{
	u16 *a = gpa_to_hva(vdev->vm, vq->avail + 2, 2);
	u16 *u = gpa_to_hva(vdev->vm, vq->used + 2, 2);

	*avail = a ? __atomic_load_n(a, __ATOMIC_RELAXED) : 0;
	*used = u ? __atomic_load_n(u, __ATOMIC_RELAXED) : 0;
}

/*
 * The module's counters of a queue (VHX_GET_VRING_STATS), where the
 * backend is vhx: upstream vhost has none to read.
 */
static size_t module_stats(struct virtio_dev *vdev, int q, char *buf,
			   size_t len, size_t n)
{
	struct vhx_vring_stats s = { 0 };
	int fd;

	fd = vdev->ops->vhost_of ? vdev->ops->vhost_of(vdev, q, &s.index) : -1;
	if (fd < 0 || ioctl(fd, VHX_GET_VRING_STATS, &s) < 0)
		return n;
	return str_append(buf, len, n, ",\"kicks\":%llu,\"runs\":%llu,"
			  "\"completed\":%llu,\"bytes\":%llu,\"calls\":%llu",
			  (unsigned long long)s.kicks,
			  (unsigned long long)s.runs,
			  (unsigned long long)s.used,
			  (unsigned long long)s.used_bytes,
			  (unsigned long long)s.calls);
}

/*
 * A queue's ring indices (mod 65536): requests or packets the driver
 * posted ("avail") and the device completed ("used"); then the module's
 * counters since the device was opened, where it has them.
 */
size_t virtio_stats(char *buf, size_t len)
{
	size_t n = str_append(buf, len, 0, "[");
	int d, q;

	for (d = 0; d < nr_all_devs; d++) {
		struct virtio_dev *vdev = all_devs[d];

		n = str_append(buf, len, n, "%s{\"name\":\"%s\",\"status\":%u,"
			   "\"started\":%s,\"interrupts\":\"%s\",\"queues\":[",
			   d ? "," : "", vdev->name, vdev->status,
			   vdev->started ? "true" : "false",
			   msix_enabled(vdev) ? "msix" : "intx");
		for (q = 0; q < vdev->nr_queues; q++) {
			struct virtio_queue *vq = &vdev->vqs[q];
			u16 avail = 0, used = 0;

			if (vq->enabled)
				queue_indices(vdev, vq, &avail, &used);
			n = str_append(buf, len, n, "%s{\"size\":%u,\"enabled\":%s,"
				   "\"avail\":%u,\"used\":%u", q ? "," : "",
				   vq->size, vq->enabled ? "true" : "false",
				   avail, used);
			n = module_stats(vdev, q, buf, len, n);
			n = str_append(buf, len, n, "}");
		}
		n = str_append(buf, len, n, "]}");
	}
	return str_append(buf, len, n, "]");
}

void virtio_signal(struct virtio_dev *vdev, int q)
{
	if (eventfd_write(vdev->vqs[q].call_fd, 1) < 0)
		warnx_vm("%s: cannot signal queue %d", vdev->name, q);
}

static void reset_queues(struct virtio_dev *vdev)
{
	int q;

	for (q = 0; q < vdev->nr_queues; q++) {
		struct virtio_queue *vq = &vdev->vqs[q];

		vq->size = vdev->queue_size;
		vq->vector = VIRTIO_NO_VECTOR;
		vq->enabled = false;
		vq->in_vmm = false;
		vq->desc = vq->avail = vq->used = 0;
		memset(&vq->ring, 0, sizeof(vq->ring));
	}
}

static void log_queues(struct virtio_dev *vdev)
{
	int q;

	for (q = 0; q < vdev->nr_queues; q++) {
		struct virtio_queue *vq = &vdev->vqs[q];

		if (vq->enabled)
			warnx_vm("%s: queue %d: %u entries, desc 0x%llx avail 0x%llx used 0x%llx",
				 vdev->name, q, vq->size,
				 (unsigned long long)vq->desc,
				 (unsigned long long)vq->avail,
				 (unsigned long long)vq->used);
	}
}

static void device_start(struct virtio_dev *vdev)
{
	eventfd_t stale;
	int err, q;

	/* An error of the queues' previous life is not this one's. */
	for (q = 0; q < vdev->nr_queues; q++)
		eventfd_read(vdev->vqs[q].err_fd, &stale);
	err = vdev->ops->start(vdev);
	if (err) {
		warnx_vm("%s: cannot start the backend: %s", vdev->name,
			 strerror(-err));
		vdev->ops->stop(vdev);
		virtio_needs_reset(vdev);
		return;
	}
	vdev->started = true;
	if (vm_verbose)
		log_queues(vdev);
	bind_kicks(vdev, true);
	sync_irqfds(vdev);
	/* Notifications sent before the ioeventfds existed were dropped. */
	for (q = 0; q < vdev->nr_queues; q++)
		if (vdev->vqs[q].kick_bound)
			eventfd_write(vdev->vqs[q].kick_fd, 1);
}

/* The backend lets go of the rings; kicks and calls are unbound. */
static void device_stop(struct virtio_dev *vdev)
{
	if (vdev->started) {
		vdev->ops->stop(vdev);
		vdev->started = false;
	}
	bind_kicks(vdev, false);
	sync_irqfds(vdev);
}

/* The device as at power on, its backend stopped already. */
static void reset_state(struct virtio_dev *vdev)
{
	reset_queues(vdev);
	vdev->isr = 0;
	intx_update(vdev);
	vdev->status = 0;
	vdev->guest_features = 0;
	vdev->dfselect = vdev->gfselect = 0;
	vdev->queue_select = 0;
	vdev->config_vector = VIRTIO_NO_VECTOR;
}

static void device_reset(struct virtio_dev *vdev)
{
	device_stop(vdev);
	reset_state(vdev);
}

/*
 * Stopping a backend waits for what it has in flight: a disk's requests,
 * seconds on a slow backend, for ever on a hung one.  A reset or a
 * bus-master-off that a guest asks for must not hold vm->lock, and with
 * it every vCPU, that long: the stopper thread stops the backend without
 * the lock and finishes under it.  Meanwhile the device is "stopping":
 * its status reads as before (after writing 0 a driver waits for a read
 * of 0, virtio 4.1.4.3.2) and writes to its BAR are dropped, but for a
 * reset, which then completes with the stop.
 */
static pthread_cond_t stopper_cond = PTHREAD_COND_INITIALIZER;

static void stop_async(struct virtio_dev *vdev, bool reset)
{
	if (!vdev->started) {
		if (reset)
			device_reset(vdev);
		return;
	}
	vdev->stopping = true;
	vdev->reset_pending = reset;
	pthread_cond_broadcast(&stopper_cond);
}

/* With vm->lock held: the backend is stopped. */
static void stop_done(struct virtio_dev *vdev)
{
	vdev->started = false;
	vdev->stopping = false;
	device_stop(vdev);		/* kicks and irqfds */
	if (vdev->reset_pending)
		reset_state(vdev);
	else
		vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	pthread_cond_broadcast(&stopper_cond);
}

static struct virtio_dev *next_stopping(void)
{
	int d;

	for (d = 0; d < nr_all_devs; d++)
		if (all_devs[d]->stopping)
			return all_devs[d];
	return NULL;
}

static void *stopper_thread(void *arg)
{
	struct vm *vm = arg;
	struct virtio_dev *vdev;
	sigset_t set;

	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	seccomp_install(SECCOMP_VCPU);
	pthread_mutex_lock(&vm->lock);
	for (;;) {
		vdev = next_stopping();
		if (!vdev) {
			pthread_cond_wait(&stopper_cond, &vm->lock);
			continue;
		}
		/* Only this thread touches a stopping device's backend. */
		pthread_mutex_unlock(&vm->lock);
		vdev->ops->stop(vdev);
		pthread_mutex_lock(&vm->lock);
		stop_done(vdev);
	}
	return NULL;
}

void virtio_stopper_start(struct vm *vm)
{
	pthread_t thread;
	int err = pthread_create(&thread, NULL, stopper_thread, vm);

	if (err) {
		errno = err;
		die_errno("cannot start the device stopper thread");
	}
	pthread_setname_np(thread, "stopper");
	pthread_detach(thread);
}

/* With vm->lock held: until no backend is being stopped. */
static void wait_stopped(struct vm *vm)
{
	while (next_stopping())
		pthread_cond_wait(&stopper_cond, &vm->lock);
}

/*
 * A reboot, while the old VM still exists (the irqfds and ioeventfds are
 * unbound from it): every device as at power on.  With vm->lock held.
 */
void virtio_reset_all(struct vm *vm)
{
	int d, v;

	wait_stopped(vm);
	for (d = 0; d < nr_all_devs; d++) {
		struct virtio_dev *vdev = all_devs[d];

		device_reset(vdev);
		for (v = 0; v < vdev->nr_vectors; v++)
			vdev->msix[v] = (struct msix_entry){
				.ctrl = MSIX_ENTRY_MASKED,
			};
		vdev->intx_level = false;
	}
}

static void set_status(struct virtio_dev *vdev, u8 status)
{
	u8 old = vdev->status;

	if (!status) {
		stop_async(vdev, true);
		return;
	}
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		/* Refuse what we did not offer, and legacy drivers. */
		if ((vdev->guest_features & ~vdev->host_features) ||
		    !virtio_has_feature(vdev, VIRTIO_F_VERSION_1))
			status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	}
	vdev->status = status | (old & VIRTIO_CONFIG_S_NEEDS_RESET);
	if (!(status & VIRTIO_CONFIG_S_DRIVER_OK) ||
	    (old & VIRTIO_CONFIG_S_DRIVER_OK) || vdev->started)
		return;
	/* Features nobody validated never reach the backend (virtio 3.1.1). */
	if (!(status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		warnx_vm("%s: DRIVER_OK without FEATURES_OK; device needs reset",
			 vdev->name);
		virtio_needs_reset(vdev);
		return;
	}
	device_start(vdev);
}

static void common_snapshot(struct virtio_dev *vdev,
			    struct virtio_pci_common_cfg *c)
{
	struct virtio_queue *vq = NULL;

	memset(c, 0, sizeof(*c));
	c->device_feature_select = vdev->dfselect;
	if (vdev->dfselect < 2)
		c->device_feature = vdev->host_features >>
				    (32 * vdev->dfselect);
	c->guest_feature_select = vdev->gfselect;
	if (vdev->gfselect < 2)
		c->guest_feature = vdev->guest_features >>
				   (32 * vdev->gfselect);
	c->msix_config = vdev->config_vector;
	c->num_queues = vdev->nr_queues;
	c->device_status = vdev->status;
	c->config_generation = vdev->config_generation;
	c->queue_select = vdev->queue_select;
	if (vdev->queue_select < vdev->nr_queues)
		vq = &vdev->vqs[vdev->queue_select];
	if (!vq)
		return;
	c->queue_size = vq->size;
	c->queue_msix_vector = vq->vector;
	c->queue_enable = vq->enabled;
	c->queue_notify_off = vdev->queue_select;
	c->queue_desc_lo = vq->desc;
	c->queue_desc_hi = vq->desc >> 32;
	c->queue_avail_lo = vq->avail;
	c->queue_avail_hi = vq->avail >> 32;
	c->queue_used_lo = vq->used;
	c->queue_used_hi = vq->used >> 32;
}

static u16 valid_vector(struct virtio_dev *vdev, u16 v)
{
	return v < vdev->nr_vectors ? v : VIRTIO_NO_VECTOR;
}

/*
 * Whether a guest write of @size bytes at @off of the common config hits
 * field @f; used by queue_write() and common_write(), whose locals off,
 * size and c it reads.
 */
#define TOUCHED(f) (off < offsetof(typeof(*c), f) + sizeof(c->f) && \
		    off + size > offsetof(typeof(*c), f))

static void queue_write(struct virtio_dev *vdev,
			struct virtio_pci_common_cfg *c, u32 off, int size)
{
	struct virtio_queue *vq;

	if (vdev->queue_select >= vdev->nr_queues)
		return;
	vq = &vdev->vqs[vdev->queue_select];
	if (TOUCHED(queue_msix_vector)) {
		vq->vector = valid_vector(vdev, c->queue_msix_vector);
		sync_irqfds(vdev);
	}
	/* The ring cannot move under a running backend. */
	if (vq->enabled || vdev->started)
		return;
	if (TOUCHED(queue_size) && c->queue_size &&
	    c->queue_size <= vdev->queue_size &&
	    !(c->queue_size & (c->queue_size - 1)))
		vq->size = c->queue_size;
	if (TOUCHED(queue_desc_lo) || TOUCHED(queue_desc_hi))
		vq->desc = (u64)c->queue_desc_hi << 32 | c->queue_desc_lo;
	if (TOUCHED(queue_avail_lo) || TOUCHED(queue_avail_hi))
		vq->avail = (u64)c->queue_avail_hi << 32 | c->queue_avail_lo;
	if (TOUCHED(queue_used_lo) || TOUCHED(queue_used_hi))
		vq->used = (u64)c->queue_used_hi << 32 | c->queue_used_lo;
	if (TOUCHED(queue_enable) && c->queue_enable == 1)
		vq->enabled = true;
}

static void common_write(struct virtio_dev *vdev, u32 off, u8 *data, int size)
{
	struct virtio_pci_common_cfg cfg, *c = &cfg;
	u64 word;

	common_snapshot(vdev, c);
	memcpy((u8 *)c + off, data, size);
	if (TOUCHED(device_feature_select))
		vdev->dfselect = c->device_feature_select;
	if (TOUCHED(guest_feature_select))
		vdev->gfselect = c->guest_feature_select;
	if (TOUCHED(guest_feature) && vdev->gfselect < 2 &&
	    !(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		word = 0xffffffffULL << (32 * vdev->gfselect);
		vdev->guest_features &= ~word;
		vdev->guest_features |= (u64)c->guest_feature <<
					 (32 * vdev->gfselect);
	}
	if (TOUCHED(msix_config))
		vdev->config_vector = valid_vector(vdev, c->msix_config);
	if (TOUCHED(queue_select))
		vdev->queue_select = c->queue_select;
	if (off >= offsetof(typeof(*c), queue_size))
		queue_write(vdev, c, off, size);
	if (TOUCHED(device_status))
		set_status(vdev, c->device_status);
}
#undef TOUCHED

static void common_access(struct virtio_dev *vdev, u32 off, u8 *data, int size,
			  bool is_write)
{
	struct virtio_pci_common_cfg c;

	if (off + size > sizeof(c)) {
		if (!is_write)
			memset(data, 0, size);
		return;
	}
	if (is_write) {
		common_write(vdev, off, data, size);
		return;
	}
	common_snapshot(vdev, &c);
	memcpy(data, (u8 *)&c + off, size);
}

static void msix_table_access(struct virtio_dev *vdev, u32 off, u8 *data,
			      int size, bool is_write)
{
	u32 idx = off / 16, word = (off % 16) / 4;
	struct msix_entry *e;
	u32 *w;

	if (idx >= (u32)vdev->nr_vectors || size != 4 || off % 4) {
		if (!is_write)
			memset(data, 0, size);
		return;
	}
	e = &vdev->msix[idx];
	w = &e->addr_lo + word;
	if (!is_write) {
		memcpy(data, w, 4);
		return;
	}
	memcpy(w, data, 4);
	if (word == 3) {
		e->ctrl &= MSIX_ENTRY_MASKED;
	} else {
		irq_set_msi_route(vdev->vm, vdev->gsi_base + idx,
				  (u64)e->addr_hi << 32 | e->addr_lo, e->data);
		irq_commit_routes(vdev->vm);
	}
	sync_irqfds(vdev);
}

static void bar_access(struct pci_dev *pci, u64 off, u8 *data, int size,
		       bool is_write)
{
	struct virtio_dev *vdev = to_vdev(pci);

	if (vdev->stopping && is_write) {
		/* A reset asked for meanwhile completes with the stop. */
		if (off == COMMON_OFF + offsetof(struct virtio_pci_common_cfg,
						 device_status) && !data[0])
			vdev->reset_pending = true;
		return;
	}
	if (off < ISR_OFF) {
		common_access(vdev, off - COMMON_OFF, data, size, is_write);
	} else if (off < DEVICE_OFF) {
		/* Reading the ISR acknowledges the INTx (virtio 4.1.4.5). */
		if (is_write)
			return;
		memset(data, 0, size);
		if (off == ISR_OFF) {
			data[0] = vdev->isr;
			vdev->isr = 0;
			intx_update(vdev);
		}
	} else if (off < DEVICE_OFF + DEVICE_LEN) {
		vdev->ops->config(vdev, off - DEVICE_OFF, data, size, is_write);
	} else if (off < MSIX_TABLE_OFF) {
		u32 q = (off - NOTIFY_OFF) / NOTIFY_MULT;

		if (is_write && q < (u32)vdev->nr_queues && vdev->started &&
		    vdev->vqs[q].in_vmm && vdev->ops->notify)
			vdev->ops->notify(vdev, q);
		else if (!is_write)
			memset(data, 0, size);
	} else if (off < MSIX_PBA_OFF) {
		msix_table_access(vdev, off - MSIX_TABLE_OFF, data, size,
				  is_write);
	} else if (!is_write) {
		memset(data, 0, size);	/* masked events wait in eventfds */
	}
}

static void bar_changed(struct pci_dev *pci)
{
	struct virtio_dev *vdev = to_vdev(pci);

	if (!vdev->started || vdev->stopping)
		return;
	bind_kicks(vdev, false);
	bind_kicks(vdev, true);
}

/*
 * A device whose bus mastering is off must not touch guest memory: a
 * kernel that kexecs clears it and reuses the rings' pages.  The backend
 * stops; the driver resets the device before it uses it again.
 */
static void bus_master_off(struct virtio_dev *vdev)
{
	stop_async(vdev, false);
}

static void cfg_written(struct pci_dev *pci, int off, int size)
{
	struct virtio_dev *vdev = to_vdev(pci);

	if (off < vdev->msix_cap + 4 && off + size > vdev->msix_cap + 2)
		sync_irqfds(vdev);
	intx_update(vdev);	/* PCI_COMMAND's INTx disable */
	if (vdev->started && !vdev->stopping && !pci_bus_master(pci))
		bus_master_off(vdev);
}

static void add_virtio_cap(struct virtio_dev *vdev, u8 type, u32 off, u32 len)
{
	struct virtio_pci_cap cap = {
		.cap_vndr = 0x09,		/* vendor specific */
		.cap_len = sizeof(cap),
		.cfg_type = type,
		.bar = 0,
		.offset = off,
		.length = len,
	};

	pci_add_cap(&vdev->pci, &cap, sizeof(cap));
}

static void add_caps(struct virtio_dev *vdev)
{
	struct virtio_pci_notify_cap notify = {
		.cap = {
			.cap_vndr = 0x09,
			.cap_len = sizeof(notify),
			.cfg_type = VIRTIO_PCI_CAP_NOTIFY_CFG,
			.offset = NOTIFY_OFF,
			.length = VIRTIO_MAX_QUEUES * NOTIFY_MULT,
		},
		.notify_off_multiplier = NOTIFY_MULT,
	};
	u8 msix[12] = { 0x11 };
	u16 ctrl = vdev->nr_vectors - 1;
	u32 table = MSIX_TABLE_OFF, pba = MSIX_PBA_OFF;	/* BIR 0 */

	memcpy(msix + 2, &ctrl, 2);
	memcpy(msix + 4, &table, 4);
	memcpy(msix + 8, &pba, 4);
	vdev->msix_cap = pci_add_cap(&vdev->pci, msix, sizeof(msix));
	vdev->pci.wmask[vdev->msix_cap + 3] = 0xc0;	/* enable, mask */

	add_virtio_cap(vdev, VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFF,
		       sizeof(struct virtio_pci_common_cfg));
	pci_add_cap(&vdev->pci, &notify, sizeof(notify));
	add_virtio_cap(vdev, VIRTIO_PCI_CAP_ISR_CFG, ISR_OFF, 4);
	add_virtio_cap(vdev, VIRTIO_PCI_CAP_DEVICE_CFG, DEVICE_OFF, DEVICE_LEN);
}

void virtio_pci_init(struct vm *vm, struct virtio_dev *vdev, u16 device_id,
		     u32 class, int nr_queues)
{
	int q;

	if (nr_all_devs == (int)(sizeof(all_devs) / sizeof(all_devs[0])))
		die("too many virtio devices");
	all_devs[nr_all_devs++] = vdev;
	vdev->vm = vm;
	vdev->nr_queues = nr_queues;
	if (!vdev->queue_size)
		vdev->queue_size = VIRTIO_QUEUE_SIZE;
	vdev->nr_vectors = nr_queues + 1;	/* one per queue and config */
	vdev->gsi_base = irq_alloc_gsis(vm, vdev->nr_vectors);
	vdev->host_features |= 1ULL << VIRTIO_F_VERSION_1;
	for (q = 0; q < vdev->nr_vectors; q++)
		vdev->msix[q].ctrl = MSIX_ENTRY_MASKED;
	for (q = 0; q < nr_queues; q++) {
		struct virtio_queue *vq = &vdev->vqs[q];

		vq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vq->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vq->err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vq->kick_fd < 0 || vq->call_fd < 0 || vq->err_fd < 0)
			die_errno("eventfd");
		vq->call_gsi = -1;
	}
	reset_queues(vdev);
	vdev->config_vector = VIRTIO_NO_VECTOR;

	/* Modern-only device IDs: 0x1040 + virtio device ID. */
	pci_dev_init(&vdev->pci, 0x1af4, 0x1040 + device_id, class, 0x1af4,
		     0x1100, BAR_SIZE);
	vdev->pci.bar_access = bar_access;
	vdev->pci.bar_changed = bar_changed;
	vdev->pci.cfg_written = cfg_written;
	vdev->pci.cfg[PCI_INTERRUPT_PIN] = 1;		/* INTA */
	add_caps(vdev);
	pci_register(vm, &vdev->pci);
}
