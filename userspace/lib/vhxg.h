/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vhxg: a guest-less virtio driver for vhost devices.
 *
 * The calling process plays the guest.  Its own memory is guest memory:
 * an arena mapped once and handed to VHOST_SET_MEM_TABLE as an identity
 * region (guest_phys_addr == userspace_addr), split virtqueues are laid
 * out inside it the way a virtio driver lays them out, and buffers are
 * allocated from it.  Kicks go to the kick eventfd, calls come from the
 * call eventfd, errors from the err eventfd.
 *
 * Every function returns 0 (or a count) on success and -errno on failure;
 * nothing here aborts or prints.  The structures are public on purpose:
 * hostile tests write raw descriptors and indices straight into the rings.
 */
#ifndef VHXG_H
#define VHXG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vhost.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_net.h>
#include <linux/vhx.h>

#include "vhost_ioctl.h"

#define VHXG_MAX_VQS		8
#define VHXG_MAX_REGIONS	512
/* Default number of entries of the per-head indirect tables. */
#define VHXG_INDIRECT_MAX	64

struct vhxg_arena {
	uint8_t *base;
	size_t size;
	size_t used;
};

/* One buffer of a chain: driver-side pointer (== guest address) and length. */
struct vhxg_buf {
	void *addr;
	uint32_t len;
};

/* A used ring entry as reaped by the driver. */
struct vhxg_used {
	uint32_t id;
	uint32_t len;
};

/* Flags for vhxg_vq_add(). */
#define VHXG_ADD_INDIRECT	(1u << 0)

struct vhxg_dev;

struct vhxg_vq {
	struct vhxg_dev *dev;
	unsigned int index;
	unsigned int num;
	bool event_idx;		/* EVENT_IDX was acked at init */
	bool configured;	/* the vring ioctls went through */

	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;

	uint16_t avail_idx;	/* next avail idx to publish (shadow) */
	uint16_t kicked_idx;	/* avail idx at the last kick decision */
	uint16_t last_used;	/* next used idx to reap */

	/* Descriptor free list, kept outside guest memory. */
	uint16_t free_head;
	uint16_t num_free;
	uint16_t *next_free;	/* [num] */
	uint16_t *chain_len;	/* [num] descriptors held by each head */

	/* Indirect tables, one per head, in the arena. */
	struct vring_desc *indirect;
	unsigned int indirect_max;

	int kick_fd;
	int call_fd;
	int err_fd;

	/* Used entries whose id was out of range or not in flight. */
	unsigned long bad_used;

	/* Kicks sent, and calls the device signalled (eventfd counts). */
	uint64_t kicks, calls;
};

struct vhxg_dev {
	int fd;
	struct vhxg_arena *arena;
	uint64_t features;	/* as acked with vhxg_set_features() */
	struct vhxg_vq vqs[VHXG_MAX_VQS];
};

/* Arena: one anonymous mapping; bump allocation, never freed piecemeal. */
int vhxg_arena_init(struct vhxg_arena *a, size_t size);
void vhxg_arena_fini(struct vhxg_arena *a);
void *vhxg_alloc(struct vhxg_arena *a, size_t size, size_t align);
void vhxg_arena_reset(struct vhxg_arena *a);

/* Device: open/close, ownership and features. */
int vhxg_open(struct vhxg_dev *d, const char *path, struct vhxg_arena *a);
void vhxg_close(struct vhxg_dev *d);
int vhxg_ioctl(struct vhxg_dev *d, unsigned long req, void *arg);
int vhxg_set_owner(struct vhxg_dev *d);
int vhxg_reset_owner(struct vhxg_dev *d);
int vhxg_get_features(struct vhxg_dev *d, uint64_t *features);
int vhxg_set_features(struct vhxg_dev *d, uint64_t features);
int vhxg_get_backend_features(struct vhxg_dev *d, uint64_t *features);
int vhxg_set_backend_features(struct vhxg_dev *d, uint64_t features);

/* Memory table: the whole arena as one identity region, or any table. */
int vhxg_set_mem_identity(struct vhxg_dev *d);
int vhxg_set_mem_table(struct vhxg_dev *d,
		       const struct vhost_memory_region *regions,
		       unsigned int nregions);

/* Single vring ioctls, for ABI tests and custom setups. */
int vhxg_set_vring_num(struct vhxg_dev *d, unsigned int idx, unsigned int num);
int vhxg_set_vring_base(struct vhxg_dev *d, unsigned int idx,
			unsigned int base);
int vhxg_get_vring_base(struct vhxg_dev *d, unsigned int idx,
			unsigned int *base);
int vhxg_set_vring_addr(struct vhxg_dev *d, unsigned int idx,
			uint64_t desc, uint64_t avail, uint64_t used,
			unsigned int flags);
int vhxg_set_vring_fd(struct vhxg_dev *d, unsigned long req, unsigned int idx,
		      int fd);
int vhxg_net_set_backend(struct vhxg_dev *d, unsigned int idx, int fd);

/*
 * Queue: vhxg_vq_init() lays out the rings in the arena and creates the
 * eventfds; vhxg_vq_configure() issues SET_VRING_NUM/BASE/ADDR/KICK/CALL/ERR.
 * vhxg_vq_setup() does both.  indirect_max 0 means VHXG_INDIRECT_MAX.
 */
int vhxg_vq_init(struct vhxg_dev *d, unsigned int idx, unsigned int num,
		 unsigned int indirect_max);
int vhxg_vq_configure(struct vhxg_vq *vq);
int vhxg_vq_setup(struct vhxg_dev *d, unsigned int idx, unsigned int num);
/* Forget in-flight chains and start again at ring index @base. */
void vhxg_vq_rewind(struct vhxg_vq *vq, uint16_t base);
void vhxg_vq_fini(struct vhxg_vq *vq);

/*
 * Post one chain of @nout readable then @nin writable buffers at the next
 * avail slot.  Returns the head (>= 0) or -ENOSPC/-EINVAL.  Nothing is
 * visible to the device until vhxg_vq_publish().
 */
int vhxg_vq_add(struct vhxg_vq *vq, const struct vhxg_buf *out,
		unsigned int nout, const struct vhxg_buf *in, unsigned int nin,
		unsigned int flags);
/* Make every added chain visible (store-release of avail->idx). */
void vhxg_vq_publish(struct vhxg_vq *vq);
/* Kick if the device wants it (EVENT_IDX / NO_NOTIFY); 1 kicked, 0 not. */
int vhxg_vq_kick(struct vhxg_vq *vq);
/* Kick regardless of what the device asked for; 0 or -errno. */
int vhxg_vq_kick_force(struct vhxg_vq *vq);

/* Raw writers for hostile tests: no checks, no free-list bookkeeping. */
void vhxg_vq_put_desc(struct vhxg_vq *vq, unsigned int i, uint64_t addr,
		      uint32_t len, uint16_t flags, uint16_t next);
void vhxg_vq_put_avail(struct vhxg_vq *vq, uint16_t head);
void vhxg_vq_set_avail_idx(struct vhxg_vq *vq, uint16_t idx);
/* Take @n descriptors off the free list for raw use; returns the first. */
int vhxg_vq_take_descs(struct vhxg_vq *vq, unsigned int n, uint16_t *ids);
/* The same, but reaping ids[0] later returns all @n to the free list. */
int vhxg_vq_take_chain(struct vhxg_vq *vq, unsigned int n, uint16_t *ids);

/*
 * Reap up to @max used entries (copied to @out, may be NULL) and return
 * their chains to the free list.  With EVENT_IDX the used_event field is
 * moved to the new last_used, asking for a call on the next entry.
 */
int vhxg_vq_reap(struct vhxg_vq *vq, struct vhxg_used *out, unsigned int max);
/* Used entries published but not yet reaped. */
unsigned int vhxg_vq_pending(struct vhxg_vq *vq);
void vhxg_vq_set_used_event(struct vhxg_vq *vq, uint16_t idx);
uint16_t vhxg_vq_avail_event(struct vhxg_vq *vq);
void vhxg_vq_set_avail_flags(struct vhxg_vq *vq, uint16_t flags);

/*
 * Wait for an eventfd: 1 when it fired (its count is consumed), 0 on
 * timeout, -errno on error.  timeout_ms < 0 waits forever.
 */
int vhxg_wait_fd(int fd, int timeout_ms);
int vhxg_vq_wait_call(struct vhxg_vq *vq, int timeout_ms);
int vhxg_vq_wait_err(struct vhxg_vq *vq, int timeout_ms);
/*
 * Wait until at least one used entry is pending: polls the ring between
 * call waits so it works with and without interrupts.  1, 0 or -errno.
 */
int vhxg_vq_wait_used(struct vhxg_vq *vq, int timeout_ms);

/* The virtio-net header length the device uses with @features. */
size_t vhxg_net_hdr_len(uint64_t features);

#endif /* VHXG_H */
