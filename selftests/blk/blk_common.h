/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A vhx-blk device driven by the test process: up to VHXG_MAX_VQS queues
 * in an identity-mapped arena, a file or block device as backend, and
 * helpers that post virtio-blk requests the way a guest driver does.
 */
#ifndef BLK_COMMON_H
#define BLK_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_blk.h>

#include "vhxg.h"
#include "testdev.h"

#define F(bit)		(1ULL << (bit))
#define WAIT_MS		10000	/* for what must happen (TCG is slow) */
#define QUIET_MS	300	/* for what must not happen */
#define SECTOR		512
#define STATUS_NONE	0xee	/* what a status byte holds until written */

/* Every feature the device offers. */
#define BLK_FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) | \
		      F(VIRTIO_RING_F_INDIRECT_DESC) |			\
		      F(VIRTIO_BLK_F_SEG_MAX) | F(VIRTIO_BLK_F_BLK_SIZE) |	\
		      F(VIRTIO_BLK_F_FLUSH) | F(VIRTIO_BLK_F_DISCARD) |	\
		      F(VIRTIO_BLK_F_WRITE_ZEROES) | F(VIRTIO_BLK_F_MQ) |	\
		      F(VIRTIO_BLK_F_RO) | F(VHOST_F_LOG_ALL))
/* What a VMM acks by default: all but RO and dirty logging. */
#define BLK_ACK		(BLK_FEATURES & ~(F(VIRTIO_BLK_F_RO) | F(VHOST_F_LOG_ALL)))

struct blk_cfg {
	unsigned int nq;	/* queues, 0 = 1 */
	unsigned int num;	/* ring size, 0 = 128 */
	unsigned int indirect_max;	/* 0 = library default */
	uint64_t features;	/* 0 = BLK_ACK */
	size_t arena;		/* bytes, 0 = 64 MiB */
	bool no_backend;	/* leave SET_BACKEND to the test */
};

/* Per-head request framing, in guest memory. */
struct blk_slot {
	struct virtio_blk_outhdr hdr;
	uint8_t status;
};

struct blk_dev {
	struct vhxg_arena arena;
	struct vhxg_dev dev;
	unsigned int nq;
	struct blk_slot *slots[VHXG_MAX_VQS];	/* [num] per queue */
};

/* A test file of @bytes in $TMPDIR (or /tmp), already unlinked. */
int blk_tmpfile(uint64_t bytes);
/* A brd ram disk, or -errno / skip reason; flags as for open(). */
int blk_open_ramdisk(unsigned int n, int flags, uint64_t *bytes);

int blk_dev_open(struct blk_dev *b, const struct blk_cfg *cfg, int backend);
void blk_dev_close(struct blk_dev *b);
int blk_set_backend(struct blk_dev *b, int fd);
int blk_get_config(struct blk_dev *b, struct vhx_blk_config *cfg);

/* Guest memory for data, filled with @fill. */
void *blk_buf(struct blk_dev *b, size_t len, int fill);

/*
 * Post one request: the header from @type/@sector, @nout readable data
 * buffers (OUT, DISCARD, WRITE_ZEROES), @nin writable ones (IN, GET_ID),
 * and the status byte in its own descriptor.  Returns the head, not yet
 * published.
 */
int blk_post(struct blk_dev *b, unsigned int q, uint32_t type,
	     uint64_t sector, const struct vhxg_buf *out, unsigned int nout,
	     const struct vhxg_buf *in, unsigned int nin, unsigned int flags);
/* Publish and kick. */
int blk_kick(struct blk_dev *b, unsigned int q);
uint8_t blk_status(struct blk_dev *b, unsigned int q, unsigned int head);

/*
 * One request, waited for: returns the status byte (>= 0) or -errno;
 * *used_len (may be NULL) gets the used length.
 */
int blk_do(struct blk_dev *b, unsigned int q, uint32_t type, uint64_t sector,
	   void *data, uint32_t len, uint32_t *used_len);
/* A chain of raw buffers (no framing added); same return. */
int blk_do_raw(struct blk_dev *b, unsigned int q,
	       const struct vhxg_buf *out, unsigned int nout,
	       const struct vhxg_buf *in, unsigned int nin,
	       unsigned int flags, uint8_t *status, uint32_t *used_len);
/* Wait for one used entry of queue @q: 1, 0 on timeout, -errno. */
int blk_wait_one(struct blk_dev *b, unsigned int q, struct vhxg_used *u);

/* Fill @buf with a pattern naming @seed and each byte's offset. */
void blk_pattern(void *buf, size_t len, uint32_t seed, uint64_t off);
/* 0 if @buf holds that pattern, else the first bad offset + 1. */
size_t blk_check_pattern(const void *buf, size_t len, uint32_t seed,
			 uint64_t off);
bool blk_is_zero(const void *buf, size_t len);

#endif /* BLK_COMMON_H */
