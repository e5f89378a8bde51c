/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio-pci modern transport (virtio 1.x) with MSI-X.  A device (net, blk)
 * fills in its queues and ops; the transport owns the common config, the
 * notify area, the ISR, the MSI-X table and the KVM eventfd bindings.
 */
#ifndef VHX_VIRTIO_H
#define VHX_VIRTIO_H

#include "pci.h"
#include "ring.h"

#define VIRTIO_NET_MAX_PAIRS	8
#define VIRTIO_BLK_MAX_QUEUES	16
#define VIRTIO_MAX_QUEUES	(2 * VIRTIO_NET_MAX_PAIRS + 1)
#define VIRTIO_QUEUE_SIZE	256	/* queue-size= default, as QEMU's */
#define VIRTIO_QUEUE_MAX_SIZE	32768	/* the split ring's limit (virtio 2.7) */
#define VIRTIO_MAX_DEVS		32
#define VIRTIO_NO_VECTOR	0xffff

struct virtio_dev;

struct virtio_queue {
	u16 size;
	u16 vector;
	bool enabled;
	bool in_vmm;		/* served by the VMM (ctrl queue), not vhost */
	u64 desc, avail, used;	/* guest physical addresses */
	int kick_fd;		/* eventfd: KVM_IOEVENTFD on the notify addr */
	int call_fd;		/* eventfd: KVM_IRQFD on the vector's GSI */
	int err_fd;		/* eventfd: the data plane stopped the queue */
	bool kick_bound;
	u64 kick_addr;		/* where the ioeventfd is bound */
	int call_gsi;		/* GSI the irqfd is bound to, -1 for none */
	struct vhx_ring ring;	/* in_vmm queues: our own walker's state */
};

struct virtio_dev_ops {
	/* Read or write the device-specific config space. */
	void (*config)(struct virtio_dev *vdev, u32 off, u8 *data, int size,
		       bool is_write);
	/* DRIVER_OK: hand the queues to the backend.  0 or -errno. */
	int (*start)(struct virtio_dev *vdev);
	/* Reset: take the queues back from the backend. */
	void (*stop)(struct virtio_dev *vdev);
	/* The driver notified an in_vmm queue. */
	void (*notify)(struct virtio_dev *vdev, int q);
	/*
	 * Paused: detach the backend, rings kept as they are, so that the
	 * data plane no longer touches guest memory; or attach it again.
	 */
	int (*pause)(struct virtio_dev *vdev, bool pause);
	/* The vhost fd serving queue @q and its index there, or -1. */
	int (*vhost_of)(struct virtio_dev *vdev, int q, unsigned int *index);
};

struct msix_entry {
	u32 addr_lo, addr_hi, data, ctrl;
};

struct virtio_dev {
	struct pci_dev pci;
	struct vm *vm;
	const char *name;
	const struct virtio_dev_ops *ops;

	u64 host_features;
	u64 guest_features;
	u32 dfselect, gfselect;
	u8 status;
	u8 config_generation;
	u16 config_vector;
	u16 queue_select;
	bool started;
	bool stopping;		/* the stopper thread has its backend */
	bool reset_pending;	/* and the driver's reset waits for it */
	unsigned int queue_size;	/* offered; the driver may choose less */

	int nr_queues;
	struct virtio_queue vqs[VIRTIO_MAX_QUEUES];

	int nr_vectors;
	struct msix_entry msix[VIRTIO_MAX_QUEUES + 1];
	u32 gsi_base;
	int msix_cap;
	u8 isr;			/* without MSI-X: the pending ISR bits */
	bool intx_level;
};

void virtio_pci_init(struct vm *vm, struct virtio_dev *vdev, u16 device_id,
		     u32 class, int nr_queues);
void virtio_signal(struct virtio_dev *vdev, int q);
bool virtio_has_feature(struct virtio_dev *vdev, int bit);
void virtio_config_changed(struct virtio_dev *vdev);
void virtio_needs_reset(struct virtio_dev *vdev);
void virtio_pause_all(bool pause);
void virtio_reset_all(struct vm *vm);
void virtio_stopper_start(struct vm *vm);

/*
 * The main loop's share: the ERR eventfds of every device's queues, and
 * their call eventfds (read only while a device is on INTx), at most max
 * pollfds (returns how many), and what to do when they fire.
 */
struct pollfd;
int virtio_err_pollfds(struct pollfd *fds, int max);
int virtio_call_pollfds(struct pollfd *fds, int max);
void virtio_call_events(const struct pollfd *fds, int n);
void virtio_err_events(const struct pollfd *fds, int n);
int virtio_queue_uaddrs(struct vm *vm, const struct virtio_queue *vq,
			u64 *desc, u64 *avail, u64 *used);

/*
 * VMM-served queues (vmm_ring.c), walked with kmod/ring.c: start reads the
 * ring's layout from the queue (0 or -errno); put publishes one used
 * element and signals the guest when the ring asks for it.
 */
int vmm_ring_start(struct virtio_dev *vdev, int q);
int vmm_ring_put(struct virtio_dev *vdev, int q, u16 head, u32 len);

void virtio_net_create(struct vm *vm, struct net_opts *opts);
void virtio_blk_create(struct vm *vm, struct disk_opts *opts);

/* For the control socket, with vm->lock held: 0 or -errno. */
int virtio_net_set_link(int index, bool up);
int virtio_blk_resize(int index, u64 bytes);
/* JSON of every device's status and queues into buf; its length. */
size_t virtio_stats(char *buf, size_t len);

#endif /* VHX_VIRTIO_H */
