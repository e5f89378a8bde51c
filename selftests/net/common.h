/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A vhost-net device driven by the test process: one RX and one TX queue
 * laid out in an identity-mapped arena, a tap (or a given fd) as backend,
 * and an AF_PACKET socket on the link to see and inject frames.
 */
#ifndef NET_COMMON_H
#define NET_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>

#include "vhxg.h"
#include "testdev.h"
#include "netutil.h"

#define RXQ		0	/* vhost-net queue numbering */
#define TXQ		1
#define F(bit)		(1ULL << (bit))
#define NET_F_HDR	F(VHOST_NET_F_VIRTIO_NET_HDR)
#define WAIT_MS		10000	/* for what must happen (TCG: slow) */
#define QUIET_MS	400	/* for what must not happen */
#define TX_SLOT		2048	/* per-head TX buffer */
#define MAX_FRAME	65536

/*
 * Where the virtio-net header of guest buffers comes from and goes to.
 * There is no "no header" mode: vhost-net then still treats the first
 * bytes of each TX buffer as the tap's header (its XDP batching path).
 */
enum hdr_mode {
	HDR_TAP,	/* tap: IFF_VNET_HDR + TUNSETVNETHDRSZ, as QEMU */
	HDR_VHOST,	/* VHOST_NET_F_VIRTIO_NET_HDR: vhost adds/strips it */
};

struct net_cfg {
	uint64_t features;	/* virtio features; NET_F_HDR added by hdr */
	enum hdr_mode hdr;
	unsigned int num;	/* ring size, 0 = 256 */
	bool pkt_vnet_hdr;	/* AF_PACKET socket with PACKET_VNET_HDR */
	int backend_fd;		/* > 0: use it (tap link @ifname) */
	const char *ifname;
	struct vhxg_arena *arena;	/* shared arena, NULL = own */
};

struct rx_slot {
	uint8_t *base;		/* first buffer */
	uint32_t buflen;	/* bytes per descriptor */
	uint32_t ndesc;
	uint32_t stride;	/* distance between the buffers */
};

struct net_env {
	struct net_cfg cfg;
	struct vhxg_arena own_arena;
	struct vhxg_arena *arena;
	struct vhxg_dev dev;
	struct vhxg_vq *rx, *tx;
	char ifname[IFNAMSIZ];
	int tap_fd;
	int pkt_fd;
	size_t hdr_len;		/* header bytes opening guest buffers */
	uint8_t *tx_slots;	/* num * TX_SLOT */
	struct rx_slot rx_slots[1024];
	const uint8_t *rx_dst;	/* destination MAC of injected frames */
	uint32_t rx_last_len;	/* used len of the last reaped RX entry */
	unsigned int rx_nused;	/* used entries of the last RX frame */
};

/*
 * Checks that fail the test (net_tx_check() and the like) are in check.h,
 * for test bodies.
 */

/* The features every net test negotiates at least. */
#define BASE_FEATURES	F(VIRTIO_F_VERSION_1)

int net_setup(struct net_env *e, const struct net_cfg *cfg);
/* Owner, features, memory table, rings, backend: all but opening. */
int net_configure(struct net_env *e);
/* Device part only (owner, features, memory, rings, backend). */
int net_setup_dev(struct net_env *e);
int net_attach(struct net_env *e, int fd);
/*
 * Close what net_setup() opened (not a backend_fd given in its cfg) and
 * free its own arena; for a fixture's teardown.
 */
void net_teardown(struct net_env *e);

/* TX: one frame in one chain of @nsplit descriptors (1 = contiguous). */
int net_tx(struct net_env *e, const void *frame, size_t len,
	   const struct virtio_net_hdr_mrg_rxbuf *vh, unsigned int nsplit,
	   unsigned int add_flags);
/* Wait until @n TX chains are used and reap them. */
int net_tx_reap(struct net_env *e, unsigned int n);

/* RX: post @n chains of @ndesc buffers of @buflen bytes each. */
int net_rx_post(struct net_env *e, unsigned int n, uint32_t buflen,
		unsigned int ndesc, unsigned int add_flags);
/*
 * Reap one received test frame (all its buffers when mergeable) into
 * @frame; the header goes to @vh.  Non-test frames are dropped.  Returns
 * the frame length, 0 on timeout, -errno.
 */
ssize_t net_rx_get(struct net_env *e, void *frame, size_t max,
		   struct virtio_net_hdr_mrg_rxbuf *vh, int timeout_ms);

/* Post one TX chain of raw guest addresses; publish and kick. */
int net_tx_raw(struct net_env *e, const uint64_t *addr, const uint32_t *len,
	       unsigned int n);
/* Wait (without consuming calls) until @vq's used idx reaches @idx. */
int net_wait_used_idx(struct vhxg_vq *vq, uint16_t idx, int timeout_ms);


/* A fresh non-blocking eventfd; the case's exit closes it. */
int eventfd_for_test(void);

void net_fill_canary(void *p, size_t len);
bool net_canary_intact(const void *p, size_t len, const char *what);

#endif /* NET_COMMON_H */

/* ---- helpers for the malformed-input and hostile-memory tests ---------- */

/* Is @vq's ERR eventfd readable?  Does not consume the count. */
bool net_err_pending(struct vhxg_vq *vq);
/*
 * Wait until @vq's used idx reaches @idx (1) or its ERR eventfd fires (2),
 * whichever comes first; 0 on timeout.  Consumes nothing.
 */
int net_wait_used_or_err(struct vhxg_vq *vq, uint16_t idx, int timeout_ms);
/*
 * Post one chain of @n descriptors (readable, or writable with @flags
 * VRING_DESC_F_WRITE) at raw guest addresses, publish it and kick.
 * Any @n up to the ring size; returns the head or -errno.
 */
int net_post_chain(struct vhxg_vq *vq, const uint64_t *addr,
		   const uint32_t *len, unsigned int n, uint16_t flags);
/*
 * Move @vq's rings to three fresh pages at @pages (desc, avail, used, one
 * page each, 3 * 4096 bytes), so that each can be protected or unmapped
 * on its own.  The queue is detached and attached again around the move;
 * it must be idle and its ring at most 256 entries.
 */
int net_move_rings(struct net_env *e, struct vhxg_vq *vq, uint8_t *pages);
