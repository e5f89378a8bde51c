// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile rings: the test process, playing the guest, hands the device
 * malformed rings.  Each case checks that the ERR eventfd fires, that no
 * used entry appears for the bad chain, that nothing leaves the tap, that
 * nothing outside the memory table was written (canary zone), and that
 * after RESET_OWNER and a fresh setup the device moves traffic again.
 *
 * vhx also stops a queue on bad input until it is reconfigured; upstream
 * vhost-net does not, and it neither checks ring addresses against the
 * memory table nor refuses indirect chains without INDIRECT_DESC.  Those
 * expectations run only when --dev names a vhx node (the path contains
 * "vhx") and report "SKIP vhx-specific" otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define OUTSIDE		(1u << 20)	/* arena tail not in the table */
#define FRAME_LEN	1000
#define CANARY_OFF	4096		/* below: may hold a frame */
#define LATE_MS		400		/* second look for a late misdeed */

struct hostile {
	struct net_env e;
	uint8_t *outside;	/* mapped, but not in the memory table */
	uint8_t *buf;		/* header + valid frame, in the table */
	uint32_t len;		/* its length */
	uint16_t tx_used, rx_used;
};

static uint8_t frame[MAX_FRAME];

static int setup(struct hostile *h, uint64_t features, unsigned int num)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | features,
			       .hdr = HDR_TAP, .num = num };
	struct vhxg_arena *a;

	memset(h, 0, sizeof(*h));
	KT_OK(net_setup(&h->e, &cfg));
	a = h->e.arena;
	/* Cut the tail off the table: identity setups never map it again. */
	a->size -= OUTSIDE;
	h->outside = a->base + a->size;
	net_fill_canary(h->outside, OUTSIDE);
	KT_OK(vhxg_set_mem_identity(&h->e.dev));
	KT_RUN(net_tx_check(&h->e, 100, 0x600d));

	h->len = h->e.hdr_len + FRAME_LEN;
	h->buf = vhxg_alloc(a, h->len, 64);
	KT_ASSERT(h->buf, "arena full");
	memset(h->buf, 0, h->e.hdr_len);
	frame_build(h->buf + h->e.hdr_len, FRAME_LEN, NULL, 0xbad);
	h->tx_used = h->e.tx->used->idx;
	h->rx_used = h->e.rx->used->idx;
	return KT_PASS;
}

static bool outside_intact(struct hostile *h, size_t from)
{
	return net_canary_intact(h->outside + from, OUTSIDE - from,
				 "outside the memory table");
}

static void take(struct vhxg_vq *vq, unsigned int n, uint16_t *ids)
{
	vhxg_vq_take_descs(vq, n, ids);
}

static int post_head(struct vhxg_vq *vq, uint16_t head)
{
	vhxg_vq_put_avail(vq, head);
	vhxg_vq_publish(vq);
	return vhxg_vq_kick_force(vq);
}

/* Inject a frame for the RX queue to (fail to) take. */
static int inject(struct hostile *h)
{
	frame_build(frame, 300, NULL, 0xbad1);
	return pkt_send(h->e.pkt_fd, frame, 300, NULL);
}

/*
 * A second, longer look after a quiet wait: nothing left the link and the
 * used idx of @vq still stands at @used.
 */
static int expect_late_quiet(struct net_env *e, struct vhxg_vq *vq,
			     uint16_t used)
{
	ssize_t n;

	usleep(LATE_MS * 1000);
	KT_ASSERT(vq->used->idx == used, "late: used idx moved from %u to %u",
		  used, vq->used->idx);
	n = pkt_recv(e->pkt_fd, frame, sizeof(frame), 1, TEST_ETHERTYPE, NULL);
	KT_ASSERT(n == 0, "late: a frame of %zd bytes came out", n);
	return KT_PASS;
}

/* vhx: the queue stays stopped until reconfigured. */
static int expect_stopped(struct hostile *h, struct vhxg_vq *vq)
{
	struct net_env *e = &h->e;
	uint16_t used = vq->used->idx;

	if (vq == e->tx) {
		frame_build(frame, 200, NULL, 0x570);
		KT_OK(net_tx(e, frame, 200, NULL, 1, 0));
		KT_OK(vhxg_vq_kick_force(vq));
	} else {
		KT_OK(net_rx_post(e, 4, 2048, 1, 0));
		KT_OK(vhxg_vq_kick_force(vq));
		KT_OK(inject(h));
	}
	KT_RUN(net_expect_silence(e));
	KT_ASSERT(vq->used->idx == used,
		  "stopped queue moved its used idx from %u to %u", used,
		  vq->used->idx);
	return expect_late_quiet(e, vq, used);
}

/* The common verdict on a queue that was fed something bad. */
static int expect_rejected(struct hostile *h, struct vhxg_vq *vq)
{
	struct net_env *e = &h->e;
	int ret;

	ret = vhxg_vq_wait_err(vq, WAIT_MS);
	KT_ASSERT(ret == 1, "ERR eventfd did not fire (%d)", ret);
	KT_RUN(net_expect_silence(e));
	KT_ASSERT(e->tx->used->idx == h->tx_used &&
		  e->rx->used->idx == h->rx_used,
		  "used idx moved: TX %u -> %u, RX %u -> %u", h->tx_used,
		  e->tx->used->idx, h->rx_used, e->rx->used->idx);
	KT_ASSERT(outside_intact(h, CANARY_OFF), "device wrote outside");
	if (kt_dev_is_vhx())
		KT_RUN(expect_stopped(h, vq));
	else
		kt_diag("queue-stops check is vhx-specific, not run");
	KT_RUN(net_reset_and_verify(e));
	KT_ASSERT(outside_intact(h, CANARY_OFF), "device wrote outside");
	return KT_PASS;
}

/*
 * Post one descriptor at a fresh head (with a frame waiting, for RX) and
 * expect the device to reject it.
 */
static int reject_one_desc(struct hostile *h, struct vhxg_vq *vq,
			   uint64_t addr, uint32_t len, uint16_t flags,
			   uint16_t next)
{
	uint16_t id;

	take(vq, 1, &id);
	vhxg_vq_put_desc(vq, id, addr, len, flags, next);
	KT_OK(post_head(vq, id));
	if (vq == h->e.rx)
		KT_OK(inject(h));
	return expect_rejected(h, vq);
}

/* ---- addresses ----------------------------------------------------------- */

static int desc_outside_table_tx(void)
{
	struct hostile h;

	KT_RUN(setup(&h, 0, 0));
	/* A valid frame, so that a device that reads it would send it. */
	memcpy(h.outside, h.buf, h.len);
	return reject_one_desc(&h, h.e.tx, (uintptr_t)h.outside, h.len, 0, 0);
}

static int desc_outside_table_rx(void)
{
	struct hostile h;

	KT_RUN(setup(&h, F(VIRTIO_NET_F_MRG_RXBUF), 0));
	return reject_one_desc(&h, h.e.rx, (uintptr_t)h.outside + CANARY_OFF,
			       2048, VRING_DESC_F_WRITE, 0);
}

static int desc_addr_wraps(void)
{
	struct hostile h;

	KT_RUN(setup(&h, 0, 0));
	return reject_one_desc(&h, h.e.tx, 0xfffffffffffff000ULL, 0x2000, 0, 0);
}

static int desc_addr_wraps_rx(void)
{
	struct hostile h;

	KT_RUN(setup(&h, F(VIRTIO_NET_F_MRG_RXBUF), 0));
	return reject_one_desc(&h, h.e.rx, 0xffffffffffffff00ULL, 0x1000,
			       VRING_DESC_F_WRITE, 0);
}

/* A writable buffer that starts inside the table and ends outside. */
static int desc_spans_region_end(void)
{
	struct hostile h;
	uint16_t id;

	KT_RUN(setup(&h, F(VIRTIO_NET_F_MRG_RXBUF), 0));
	take(h.e.rx, 1, &id);
	vhxg_vq_put_desc(h.e.rx, id, (uintptr_t)h.outside - 100, 2048,
			 VRING_DESC_F_WRITE, 0);
	KT_OK(post_head(h.e.rx, id));
	KT_OK(inject(&h));
	KT_RUN(expect_rejected(&h, h.e.rx));
	KT_ASSERT(outside_intact(&h, 0), "wrote past the region's end");
	return KT_PASS;
}

/* Two regions with a hole between them; a buffer across the hole. */
static int desc_spans_hole(void)
{
	struct vhost_memory_region r[2];
	struct vhxg_arena *a;
	struct hostile h;
	uint8_t *hole;
	uint16_t id;

	KT_RUN(setup(&h, F(VIRTIO_NET_F_MRG_RXBUF), 0));
	a = h.e.arena;
	hole = vhxg_alloc(a, 3 * 4096, 4096) + 4096;
	net_fill_canary(hole, 4096);
	r[0] = (struct vhost_memory_region){
		.guest_phys_addr = (uintptr_t)a->base,
		.userspace_addr = (uintptr_t)a->base,
		.memory_size = hole - a->base,
	};
	r[1] = (struct vhost_memory_region){
		.guest_phys_addr = (uintptr_t)hole + 4096,
		.userspace_addr = (uintptr_t)hole + 4096,
		.memory_size = a->base + a->size - (hole + 4096),
	};
	KT_OK(vhxg_set_mem_table(&h.e.dev, r, 2));
	take(h.e.rx, 1, &id);
	vhxg_vq_put_desc(h.e.rx, id, (uintptr_t)hole - 100, 4096 + 200,
			 VRING_DESC_F_WRITE, 0);
	KT_OK(post_head(h.e.rx, id));
	KT_OK(inject(&h));
	KT_RUN(expect_rejected(&h, h.e.rx));
	KT_ASSERT(net_canary_intact(hole, 4096, "hole between regions"),
		  "wrote into the hole");
	return KT_PASS;
}

static int indirect_outside_table(void)
{
	struct hostile h;
	struct vring_desc *t;

	KT_RUN(setup(&h, F(VIRTIO_RING_F_INDIRECT_DESC), 0));
	t = (struct vring_desc *)h.outside;
	t[0] = (struct vring_desc){ (uintptr_t)h.buf, h.len, 0, 0 };
	return reject_one_desc(&h, h.e.tx, (uintptr_t)t, 16,
			       VRING_DESC_F_INDIRECT, 0);
}

static const char *const ring_name[] = { "desc", "avail", "used" };

/* Where ring part @w of @vq starts, and how many bytes it has. */
static void ring_part(struct vhxg_vq *vq, unsigned int w, uint8_t **p,
		      size_t *len)
{
	static const size_t per[] = { 16, 2, 8 };
	uint8_t *start[] = { (uint8_t *)vq->desc, (uint8_t *)vq->avail,
			     (uint8_t *)vq->used };

	*p = start[w];
	*len = per[w] * vq->num + (w ? 6 : 0);
}

/*
 * A running queue whose ring the memory table stops covering: SET_MEM_TABLE
 * leaves a hole exactly where one part of the TX ring (desc, avail or used)
 * lies.  vhx stops the queue and fires ERR; afterwards a posted frame does
 * not leave, the used ring does not move, nothing in the hole or outside
 * the table changes, the RX queue goes on, and RESET_OWNER brings it all
 * back.  Upstream does not check rings against the table (printed, then
 * skipped).
 */
static int ring_outside_table(void)
{
	struct vhost_memory_region r[2];
	unsigned int w;

	for (w = 0; w < 3; w++) {
		struct vhxg_arena *a;
		struct vhxg_vq *tx;
		struct hostile h;
		uint8_t *hole, *snap;
		uint16_t used;
		size_t len;
		int ret;

		KT_RUN(setup(&h, 0, 0));
		tx = h.e.tx;
		a = h.e.arena;
		ring_part(tx, w, &hole, &len);
		KT_ASSERT(hole > a->base, "TX ring at the arena's start");
		r[0] = (struct vhost_memory_region){
			.guest_phys_addr = (uintptr_t)a->base,
			.userspace_addr = (uintptr_t)a->base,
			.memory_size = hole - a->base,
		};
		r[1] = (struct vhost_memory_region){
			.guest_phys_addr = (uintptr_t)hole + len,
			.userspace_addr = (uintptr_t)hole + len,
			.memory_size = a->base + a->size - (hole + len),
		};
		used = tx->used->idx;
		KT_OK(vhxg_set_mem_table(&h.e.dev, r, 2));
		if (!kt_dev_is_vhx()) {
			ret = vhxg_vq_wait_err(tx, QUIET_MS);
			kt_diag("upstream, %s outside the table: ERR %s",
				ring_name[w], ret == 1 ? "fired" : "not fired");
			KT_RUN(net_tx_check(&h.e, 200, 0x0f0 + w));
			kt_diag("upstream, %s outside the table: TX goes on",
				ring_name[w]);
			return kt_skip("vhx-specific: upstream does not check "
				       "rings against the memory table");
		}
		KT_ASSERT(vhxg_vq_wait_err(tx, WAIT_MS) == 1,
			  "%s outside the new table: no ERR", ring_name[w]);
		KT_OK(net_tx(&h.e, h.buf + h.e.hdr_len, FRAME_LEN, NULL, 1, 0));
		snap = malloc(len);
		KT_ASSERT(snap, "malloc");
		memcpy(snap, hole, len);
		KT_OK(vhxg_vq_kick_force(tx));
		KT_RUN(net_expect_silence(&h.e));
		KT_ASSERT(tx->used->idx == used, "%s outside: used idx %u -> %u",
			  ring_name[w], used, tx->used->idx);
		KT_ASSERT(!memcmp(snap, hole, len),
			  "%s outside: the device changed it", ring_name[w]);
		KT_ASSERT(outside_intact(&h, 0), "%s outside", ring_name[w]);
		/* The other queue is not affected. */
		KT_OK(net_rx_post(&h.e, 4, 2048, 1, 0));
		KT_RUN(net_rx_check(&h.e, 300, 0x0f8 + w));
		/* Late misbehaviour: look again after a longer wait. */
		KT_RUN(expect_late_quiet(&h.e, tx, used));
		KT_ASSERT(!memcmp(snap, hole, len),
			  "%s outside: the device changed it late",
			  ring_name[w]);
		free(snap);
		KT_RUN(net_reset_and_verify(&h.e));
		KT_ASSERT(outside_intact(&h, CANARY_OFF), "after reset");
	}
	return KT_PASS;
}

/*
 * Rings that are not in guest memory, given while the queue is detached:
 * SET_VRING_ADDR takes them (nothing is checked without a backend), then
 * NET_SET_BACKEND refuses them with EFAULT.  With a backend attached,
 * SET_VRING_ADDR itself refuses them with EINVAL, and the queue goes on
 * with its old rings.  A kernel address is outside for both devices; a
 * mapped address outside the memory table only for vhx (upstream: printed).
 */
static int ring_outside_at_backend(void)
{
	const uint64_t kaddr = 0xffff888000000000ULL;
	unsigned int w;

	for (w = 0; w < 3; w++) {
		struct hostile h;
		struct vhxg_vq *tx;
		uint64_t ring[3], good[3];
		int ret;

		KT_RUN(setup(&h, 0, 0));
		tx = h.e.tx;
		good[0] = (uintptr_t)tx->desc;
		good[1] = (uintptr_t)tx->avail;
		good[2] = (uintptr_t)tx->used;

		/* Detached, then attached: a kernel address. */
		KT_OK(vhxg_net_set_backend(&h.e.dev, TXQ, -1));
		memcpy(ring, good, sizeof(ring));
		ring[w] = kaddr;
		KT_OK(vhxg_set_vring_addr(&h.e.dev, TXQ, ring[0], ring[1],
					  ring[2], 0));
		ret = vhxg_net_set_backend(&h.e.dev, TXQ, h.e.tap_fd);
		KT_ASSERT(ret == -EFAULT, "%s at a kernel address: "
			  "NET_SET_BACKEND %s, want EFAULT", ring_name[w],
			  ret ? strerror(-ret) : "accepted");

		/* Detached, then attached: mapped, but not in the table. */
		ring[w] = (uintptr_t)h.outside + CANARY_OFF;
		KT_OK(vhxg_set_vring_addr(&h.e.dev, TXQ, ring[0], ring[1],
					  ring[2], 0));
		ret = vhxg_net_set_backend(&h.e.dev, TXQ, h.e.tap_fd);
		if (kt_dev_is_vhx()) {
			KT_ASSERT(ret == -EFAULT, "%s outside the table: "
				  "NET_SET_BACKEND %s, want EFAULT",
				  ring_name[w],
				  ret ? strerror(-ret) : "accepted");
		} else {
			kt_diag("upstream, %s outside the table: "
				"NET_SET_BACKEND %s", ring_name[w],
				ret ? strerror(-ret) : "accepted");
			KT_OK(vhxg_net_set_backend(&h.e.dev, TXQ, -1));
		}

		/* Back to the good rings; then moving them while attached. */
		KT_OK(vhxg_set_vring_addr(&h.e.dev, TXQ, good[0], good[1],
					  good[2], 0));
		KT_OK(vhxg_net_set_backend(&h.e.dev, TXQ, h.e.tap_fd));
		ring[w] = kaddr;
		ret = vhxg_set_vring_addr(&h.e.dev, TXQ, ring[0], ring[1],
					  ring[2], 0);
		KT_ASSERT(ret == -EINVAL, "%s at a kernel address, attached: "
			  "SET_VRING_ADDR %s, want EINVAL", ring_name[w],
			  ret ? strerror(-ret) : "accepted");
		ring[w] = (uintptr_t)h.outside + CANARY_OFF;
		ret = vhxg_set_vring_addr(&h.e.dev, TXQ, ring[0], ring[1],
					  ring[2], 0);
		if (kt_dev_is_vhx()) {
			KT_ASSERT(ret == -EINVAL, "%s outside the table, "
				  "attached: SET_VRING_ADDR %s, want EINVAL",
				  ring_name[w],
				  ret ? strerror(-ret) : "accepted");
		} else {
			kt_diag("upstream, %s outside the table, attached: "
				"SET_VRING_ADDR %s", ring_name[w],
				ret ? strerror(-ret) : "accepted");
			KT_OK(vhxg_set_vring_addr(&h.e.dev, TXQ, good[0],
						  good[1], good[2], 0));
		}
		/* Upstream may have read the canary as a ring: ERR then. */
		if (kt_dev_is_vhx())
			KT_ASSERT(vhxg_vq_wait_err(tx, 0) == 0, "%s: ERR fired",
				  ring_name[w]);
		else if (vhxg_vq_wait_err(tx, 0) == 1) {
			/* Where its ring stands then is anyone's guess. */
			kt_diag("upstream, %s outside the table: ERR fired",
				ring_name[w]);
			KT_RUN(net_reset_and_verify(&h.e));
			continue;
		}
		KT_RUN(net_tx_check(&h.e, 200, 0x0e0 + w));
		/* Upstream may write there: for it, that is user memory. */
		if (kt_dev_is_vhx())
			KT_ASSERT(outside_intact(&h, 0), "%s outside",
				  ring_name[w]);
	}
	return KT_PASS;
}

/* ---- ring structure ------------------------------------------------------ */

static int head_out_of_range(void)
{
	struct hostile h;

	KT_RUN(setup(&h, 0, 0));
	KT_OK(post_head(h.e.tx, h.e.tx->num));
	return expect_rejected(&h, h.e.tx);
}

static int next_out_of_range(void)
{
	struct hostile h;

	KT_RUN(setup(&h, 0, 0));
	return reject_one_desc(&h, h.e.tx, (uintptr_t)h.buf, 100,
			       VRING_DESC_F_NEXT, h.e.tx->num + 5);
}

static int desc_self_loop(void)
{
	struct hostile h;
	uint16_t id;

	KT_RUN(setup(&h, 0, 0));
	take(h.e.tx, 1, &id);
	vhxg_vq_put_desc(h.e.tx, id, (uintptr_t)h.buf, 100,
			 VRING_DESC_F_NEXT, id);
	KT_OK(post_head(h.e.tx, id));
	return expect_rejected(&h, h.e.tx);
}

static int desc_loop(void)
{
	struct hostile h;
	uint16_t id[3];

	KT_RUN(setup(&h, 0, 0));
	take(h.e.tx, 3, id);
	vhxg_vq_put_desc(h.e.tx, id[0], (uintptr_t)h.buf, 12,
			 VRING_DESC_F_NEXT, id[1]);
	vhxg_vq_put_desc(h.e.tx, id[1], (uintptr_t)h.buf + 12, 100,
			 VRING_DESC_F_NEXT, id[2]);
	vhxg_vq_put_desc(h.e.tx, id[2], (uintptr_t)h.buf + 112, 100,
			 VRING_DESC_F_NEXT, id[1]);
	KT_OK(post_head(h.e.tx, id[0]));
	return expect_rejected(&h, h.e.tx);
}

static int indirect_loop(void)
{
	struct hostile h;
	struct vring_desc *t;

	KT_RUN(setup(&h, F(VIRTIO_RING_F_INDIRECT_DESC), 0));
	t = vhxg_alloc(h.e.arena, 64, 16);
	t[0] = (struct vring_desc){ (uintptr_t)h.buf, 12,
				    VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ (uintptr_t)h.buf + 12, 100,
				    VRING_DESC_F_NEXT, 0 };
	return reject_one_desc(&h, h.e.tx, (uintptr_t)t, 32,
			       VRING_DESC_F_INDIRECT, 0);
}

static int nested_indirect(void)
{
	struct hostile h;
	struct vring_desc *t, *inner;

	KT_RUN(setup(&h, F(VIRTIO_RING_F_INDIRECT_DESC), 0));
	t = vhxg_alloc(h.e.arena, 16, 16);
	inner = vhxg_alloc(h.e.arena, 16, 16);
	inner[0] = (struct vring_desc){ (uintptr_t)h.buf, h.len, 0, 0 };
	t[0] = (struct vring_desc){ (uintptr_t)inner, 16,
				    VRING_DESC_F_INDIRECT, 0 };
	return reject_one_desc(&h, h.e.tx, (uintptr_t)t, 16,
			       VRING_DESC_F_INDIRECT, 0);
}

static int indirect_len(uint32_t len)
{
	struct hostile h;
	struct vring_desc *t;

	KT_RUN(setup(&h, F(VIRTIO_RING_F_INDIRECT_DESC), 0));
	t = vhxg_alloc(h.e.arena, 64, 16);
	t[0] = (struct vring_desc){ (uintptr_t)h.buf, h.len, 0, 0 };
	return reject_one_desc(&h, h.e.tx, (uintptr_t)t, len,
			       VRING_DESC_F_INDIRECT, 0);
}

static int indirect_len_not_16(void)
{
	return indirect_len(24);
}

static int indirect_len_zero(void)
{
	return indirect_len(0);
}

static int indirect_without_feature(void)
{
	struct hostile h;
	struct vring_desc *t;

	if (!kt_dev_is_vhx())
		return kt_skip("vhx-specific");
	KT_RUN(setup(&h, 0, 0));
	t = vhxg_alloc(h.e.arena, 16, 16);
	t[0] = (struct vring_desc){ (uintptr_t)h.buf, h.len, 0, 0 };
	return reject_one_desc(&h, h.e.tx, (uintptr_t)t, 16,
			       VRING_DESC_F_INDIRECT, 0);
}

static int avail_idx_jump(void)
{
	struct hostile h;
	uint16_t id;

	KT_RUN(setup(&h, 0, 0));
	take(h.e.tx, 1, &id);
	vhxg_vq_put_desc(h.e.tx, id, (uintptr_t)h.buf, h.len, 0, 0);
	vhxg_vq_put_avail(h.e.tx, id);
	vhxg_vq_set_avail_idx(h.e.tx, h.e.tx->avail_idx + h.e.tx->num);
	KT_OK(vhxg_vq_kick_force(h.e.tx));
	return expect_rejected(&h, h.e.tx);
}

/* RX chains must be all writable; a readable one after writable is bad. */
static int rx_readable_after_writable(void)
{
	struct hostile h;
	uint8_t *b;
	uint16_t id[2];

	KT_RUN(setup(&h, F(VIRTIO_NET_F_MRG_RXBUF), 0));
	b = vhxg_alloc(h.e.arena, 4096, 64);
	take(h.e.rx, 2, id);
	vhxg_vq_put_desc(h.e.rx, id[0], (uintptr_t)b, 2048,
			 VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, id[1]);
	vhxg_vq_put_desc(h.e.rx, id[1], (uintptr_t)b + 2048, 2048, 0, 0);
	KT_OK(post_head(h.e.rx, id[0]));
	KT_OK(inject(&h));
	return expect_rejected(&h, h.e.rx);
}

static int rx_readable_only(void)
{
	struct hostile h;
	uint8_t *b;

	KT_RUN(setup(&h, F(VIRTIO_NET_F_MRG_RXBUF), 0));
	b = vhxg_alloc(h.e.arena, 2048, 64);
	return reject_one_desc(&h, h.e.rx, (uintptr_t)b, 2048, 0, 0);
}

static int tx_writable_desc(void)
{
	struct hostile h;
	uint8_t *b;
	uint16_t id[2];

	KT_RUN(setup(&h, 0, 0));
	b = vhxg_alloc(h.e.arena, 256, 64);
	take(h.e.tx, 2, id);
	vhxg_vq_put_desc(h.e.tx, id[0], (uintptr_t)h.buf, h.len,
			 VRING_DESC_F_NEXT, id[1]);
	vhxg_vq_put_desc(h.e.tx, id[1], (uintptr_t)b, 256,
			 VRING_DESC_F_WRITE, 0);
	KT_OK(post_head(h.e.tx, id[0]));
	return expect_rejected(&h, h.e.tx);
}

/*
 * An indirect table longer than the ring: Linux sends one whenever a
 * packet has more segments than the queue has entries, and upstream takes
 * it.  The frame, split over 17 table entries on a 16-entry ring, leaves.
 */
static int indirect_longer_than_ring(void)
{
	struct hostile h;
	struct vring_desc *t;
	unsigned int i, n = 17;
	struct vhxg_used u;
	uint32_t piece;
	uint16_t id;

	KT_RUN(setup(&h, F(VIRTIO_RING_F_INDIRECT_DESC), 16));
	t = vhxg_alloc(h.e.arena, 16 * n, 16);
	KT_ASSERT(t, "arena full");
	piece = h.len / n;
	for (i = 0; i < n; i++)
		t[i] = (struct vring_desc){
			(uintptr_t)h.buf + i * piece,
			i + 1 < n ? piece : h.len - i * piece,
			i + 1 < n ? VRING_DESC_F_NEXT : 0, i + 1 };
	KT_OK(vhxg_vq_take_chain(h.e.tx, 1, &id));
	vhxg_vq_put_desc(h.e.tx, id, (uintptr_t)t, 16 * n,
			 VRING_DESC_F_INDIRECT, 0);
	KT_OK(post_head(h.e.tx, id));
	KT_RUN(net_expect_frame(&h.e, h.buf + h.e.hdr_len, FRAME_LEN));
	/* One used entry, for the table's head. */
	for (i = 0; i < 50 && !vhxg_vq_pending(h.e.tx); i++)
		usleep(10000);
	KT_ASSERT(vhxg_vq_reap(h.e.tx, &u, 1) == 1 && u.id == id &&
		  !h.e.tx->bad_used, "the table's head was not used (%u "
		  "pending, %lu bad)", vhxg_vq_pending(h.e.tx),
		  h.e.tx->bad_used);
	KT_ASSERT(vhxg_vq_wait_err(h.e.tx, 0) == 0, "ERR on a valid chain");
	return KT_PASS;
}

/* The boundary that must work: a chain of exactly num descriptors. */
static int chain_of_ring_size(void)
{
	struct hostile h;
	unsigned int n = 16;

	KT_RUN(setup(&h, F(VIRTIO_RING_F_INDIRECT_DESC), n));
	frame_build(frame, FRAME_LEN, NULL, 0x16);
	KT_OK(net_tx(&h.e, frame, FRAME_LEN, NULL, n, 0));
	KT_RUN(net_expect_frame(&h.e, frame, FRAME_LEN));
	KT_OK(net_tx_reap(&h.e, 1));
	KT_ASSERT(vhxg_vq_wait_err(h.e.tx, 0) == 0, "ERR on a valid chain");
	return KT_PASS;
}

/*
 * After a bad chain, the driver repairs its ring and reconfigures the
 * queue the way a VMM does on a device reset: detach, SET_VRING_BASE to
 * where the used ring stands, reattach.  Traffic must resume there.
 */
static int recover_by_set_vring_base(void)
{
	struct hostile h;
	struct vhxg_vq *tx;
	uint16_t base;

	KT_RUN(setup(&h, 0, 0));
	tx = h.e.tx;
	KT_OK(post_head(tx, tx->num));
	KT_ASSERT(vhxg_vq_wait_err(tx, WAIT_MS) == 1, "no ERR");
	KT_RUN(net_expect_silence(&h.e));
	KT_OK(net_attach(&h.e, -1));
	base = tx->used->idx;
	KT_ASSERT(base == h.tx_used, "used idx %u, want %u", base, h.tx_used);
	vhxg_vq_rewind(tx, base);
	KT_OK(vhxg_set_vring_base(&h.e.dev, TXQ, base));
	KT_OK(net_attach(&h.e, h.e.tap_fd));
	KT_RUN(net_tx_check(&h.e, 300, 0x4ec0));
	KT_ASSERT(tx->used->idx == (uint16_t)(base + 1), "used idx %u",
		  tx->used->idx);
	return KT_PASS;
}

/*
 * Repair in place: the driver rewrites the bad avail entry, then the
 * backend is detached and attached again (which restarts a stopped vhx
 * queue); the device resumes at the repaired entry.
 */
static int recover_by_backend_reattach(void)
{
	struct hostile h;
	struct vhxg_vq *tx;
	uint16_t id, slot;

	KT_RUN(setup(&h, 0, 0));
	tx = h.e.tx;
	slot = tx->avail_idx;
	KT_OK(post_head(tx, tx->num));
	KT_ASSERT(vhxg_vq_wait_err(tx, WAIT_MS) == 1, "no ERR");
	KT_RUN(net_expect_silence(&h.e));
	take(tx, 1, &id);
	vhxg_vq_put_desc(tx, id, (uintptr_t)h.buf, h.len, 0, 0);
	__atomic_store_n(&tx->avail->ring[slot & (tx->num - 1)], id,
			 __ATOMIC_RELEASE);
	KT_OK(net_attach(&h.e, -1));
	KT_OK(net_attach(&h.e, h.e.tap_fd));
	KT_OK(vhxg_vq_kick_force(tx));
	KT_RUN(net_expect_frame(&h.e, h.buf + h.e.hdr_len, FRAME_LEN));
	KT_ASSERT(net_wait_used_idx(tx, h.tx_used + 1, WAIT_MS),
		  "repaired chain not used");
	KT_ASSERT(tx->used->ring[h.tx_used & (tx->num - 1)].id == id,
		  "used id %u, want %u",
		  tx->used->ring[h.tx_used & (tx->num - 1)].id, id);
	return KT_PASS;
}

/* With no ERR eventfd the queue still refuses; nothing breaks. */
static int bad_head_without_err_fd(void)
{
	struct hostile h;

	KT_RUN(setup(&h, 0, 0));
	KT_OK(vhxg_set_vring_fd(&h.e.dev, VHOST_SET_VRING_ERR, TXQ, -1));
	KT_OK(post_head(h.e.tx, h.e.tx->num));
	KT_RUN(net_expect_silence(&h.e));
	KT_ASSERT(h.e.tx->used->idx == h.tx_used, "used idx moved");
	KT_RUN(expect_late_quiet(&h.e, h.e.tx, h.tx_used));
	KT_ASSERT(vhxg_vq_wait_err(h.e.tx, 0) == 0, "ERR fd was detached");
	KT_RUN(net_reset_and_verify(&h.e));
	return KT_PASS;
}

static const struct kt_case cases[] = {
	{ "desc_outside_table_tx", desc_outside_table_tx },
	{ "desc_outside_table_rx", desc_outside_table_rx },
	{ "desc_addr_wraps", desc_addr_wraps },
	{ "desc_addr_wraps_rx", desc_addr_wraps_rx },
	{ "desc_spans_region_end", desc_spans_region_end },
	{ "desc_spans_hole", desc_spans_hole },
	{ "indirect_outside_table", indirect_outside_table },
	{ "ring_outside_table", ring_outside_table },
	{ "ring_outside_at_backend", ring_outside_at_backend },
	{ "head_out_of_range", head_out_of_range },
	{ "next_out_of_range", next_out_of_range },
	{ "desc_self_loop", desc_self_loop },
	{ "desc_loop", desc_loop },
	{ "indirect_loop", indirect_loop },
	{ "nested_indirect", nested_indirect },
	{ "indirect_len_not_16", indirect_len_not_16 },
	{ "indirect_len_zero", indirect_len_zero },
	{ "indirect_without_feature", indirect_without_feature },
	{ "avail_idx_jump", avail_idx_jump },
	{ "rx_readable_after_writable", rx_readable_after_writable },
	{ "rx_readable_only", rx_readable_only },
	{ "tx_writable_desc", tx_writable_desc },
	{ "indirect_longer_than_ring", indirect_longer_than_ring },
	{ "chain_of_ring_size", chain_of_ring_size },
	{ "recover_by_set_vring_base", recover_by_set_vring_base },
	{ "recover_by_backend_reattach", recover_by_backend_reattach },
	{ "bad_head_without_err_fd", bad_head_without_err_fd },
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, cases, KT_ARRAY_SIZE(cases),
		       "/dev/vhx-net");
}
