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

#include "check.h"

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

static void setup(struct __test_metadata *_metadata, struct hostile *h,
		  uint64_t features, unsigned int num)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | features,
			       .hdr = HDR_TAP, .num = num };
	struct vhxg_arena *a;

	memset(h, 0, sizeof(*h));
	ASSERT_LE(0, net_setup(&h->e, &cfg));
	a = h->e.arena;
	/* Cut the tail off the table: identity setups never map it again. */
	a->size -= OUTSIDE;
	h->outside = a->base + a->size;
	net_fill_canary(h->outside, OUTSIDE);
	ASSERT_LE(0, vhxg_set_mem_identity(&h->e.dev));
	net_tx_check(_metadata, &h->e, 100, 0x600d);

	h->len = h->e.hdr_len + FRAME_LEN;
	h->buf = vhxg_alloc(a, h->len, 64);
	ASSERT_TRUE(h->buf)
		TH_LOG("arena full");
	memset(h->buf, 0, h->e.hdr_len);
	frame_build(h->buf + h->e.hdr_len, FRAME_LEN, NULL, 0xbad);
	h->tx_used = h->e.tx->used->idx;
	h->rx_used = h->e.rx->used->idx;
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
static void expect_late_quiet(struct __test_metadata *_metadata,
			      struct net_env *e, struct vhxg_vq *vq,
			      uint16_t used)
{
	ssize_t n;

	usleep(LATE_MS * 1000);
	ASSERT_TRUE(vq->used->idx == used)
		TH_LOG("late: used idx moved from %u to %u",
		       used, vq->used->idx);
	n = pkt_recv(e->pkt_fd, frame, sizeof(frame), 1, TEST_ETHERTYPE, NULL);
	ASSERT_TRUE(n == 0)
		TH_LOG("late: a frame of %zd bytes came out", n);
}

/* vhx: the queue stays stopped until reconfigured. */
static void expect_stopped(struct __test_metadata *_metadata, struct hostile *h,
			   struct vhxg_vq *vq)
{
	struct net_env *e = &h->e;
	uint16_t used = vq->used->idx;

	if (vq == e->tx) {
		frame_build(frame, 200, NULL, 0x570);
		ASSERT_LE(0, net_tx(e, frame, 200, NULL, 1, 0));
		ASSERT_LE(0, vhxg_vq_kick_force(vq));
	} else {
		ASSERT_LE(0, net_rx_post(e, 4, 2048, 1, 0));
		ASSERT_LE(0, vhxg_vq_kick_force(vq));
		ASSERT_LE(0, inject(h));
	}
	net_expect_silence(_metadata, e);
	ASSERT_TRUE(vq->used->idx == used)
		TH_LOG("stopped queue moved its used idx from %u to %u", used,
		       vq->used->idx);
	expect_late_quiet(_metadata, e, vq, used);
}

/* The common verdict on a queue that was fed something bad. */
static void expect_rejected(struct __test_metadata *_metadata,
			    struct hostile *h, struct vhxg_vq *vq)
{
	struct net_env *e = &h->e;
	int ret;

	ret = vhxg_vq_wait_err(vq, WAIT_MS);
	ASSERT_TRUE(ret == 1)
		TH_LOG("ERR eventfd did not fire (%d)", ret);
	net_expect_silence(_metadata, e);
	ASSERT_TRUE(e->tx->used->idx == h->tx_used &&
		    e->rx->used->idx == h->rx_used)
		TH_LOG("used idx moved: TX %u -> %u, RX %u -> %u", h->tx_used,
		       e->tx->used->idx, h->rx_used, e->rx->used->idx);
	ASSERT_TRUE(outside_intact(h, CANARY_OFF))
		TH_LOG("device wrote outside");
	if (test_dev_is_vhx())
		expect_stopped(_metadata, h, vq);
	else
		TH_LOG("queue-stops check is vhx-specific, not run");
	net_reset_and_verify(_metadata, e);
	ASSERT_TRUE(outside_intact(h, CANARY_OFF))
		TH_LOG("device wrote outside");
}

/*
 * Post one descriptor at a fresh head (with a frame waiting, for RX) and
 * expect the device to reject it.
 */
static void reject_one_desc(struct __test_metadata *_metadata,
			    struct hostile *h, struct vhxg_vq *vq,
			    uint64_t addr, uint32_t len, uint16_t flags,
			    uint16_t next)
{
	uint16_t id;

	take(vq, 1, &id);
	vhxg_vq_put_desc(vq, id, addr, len, flags, next);
	ASSERT_LE(0, post_head(vq, id));
	if (vq == h->e.rx) {
		ASSERT_LE(0, inject(h));
	}
	expect_rejected(_metadata, h, vq);
}

/* ---- addresses ----------------------------------------------------------- */

TEST(desc_outside_table_tx)
{
	struct hostile h;

	setup(_metadata, &h, 0, 0);
	/* A valid frame, so that a device that reads it would send it. */
	memcpy(h.outside, h.buf, h.len);
	reject_one_desc(_metadata, &h, h.e.tx, (uintptr_t)h.outside, h.len, 0, 0);
}

TEST(desc_outside_table_rx)
{
	struct hostile h;

	setup(_metadata, &h, F(VIRTIO_NET_F_MRG_RXBUF), 0);
	reject_one_desc(_metadata, &h, h.e.rx, (uintptr_t)h.outside + CANARY_OFF,
			       2048, VRING_DESC_F_WRITE, 0);
}

TEST(desc_addr_wraps)
{
	struct hostile h;

	setup(_metadata, &h, 0, 0);
	reject_one_desc(_metadata, &h, h.e.tx, 0xfffffffffffff000ULL, 0x2000, 0, 0);
}

TEST(desc_addr_wraps_rx)
{
	struct hostile h;

	setup(_metadata, &h, F(VIRTIO_NET_F_MRG_RXBUF), 0);
	reject_one_desc(_metadata, &h, h.e.rx, 0xffffffffffffff00ULL, 0x1000,
			       VRING_DESC_F_WRITE, 0);
}

/* A writable buffer that starts inside the table and ends outside. */
TEST(desc_spans_region_end)
{
	struct hostile h;
	uint16_t id;

	setup(_metadata, &h, F(VIRTIO_NET_F_MRG_RXBUF), 0);
	take(h.e.rx, 1, &id);
	vhxg_vq_put_desc(h.e.rx, id, (uintptr_t)h.outside - 100, 2048,
			 VRING_DESC_F_WRITE, 0);
	ASSERT_LE(0, post_head(h.e.rx, id));
	ASSERT_LE(0, inject(&h));
	expect_rejected(_metadata, &h, h.e.rx);
	ASSERT_TRUE(outside_intact(&h, 0))
		TH_LOG("wrote past the region's end");
}

/* Two regions with a hole between them; a buffer across the hole. */
TEST(desc_spans_hole)
{
	struct vhost_memory_region r[2];
	struct vhxg_arena *a;
	struct hostile h;
	uint8_t *hole;
	uint16_t id;

	setup(_metadata, &h, F(VIRTIO_NET_F_MRG_RXBUF), 0);
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
	ASSERT_LE(0, vhxg_set_mem_table(&h.e.dev, r, 2));
	take(h.e.rx, 1, &id);
	vhxg_vq_put_desc(h.e.rx, id, (uintptr_t)hole - 100, 4096 + 200,
			 VRING_DESC_F_WRITE, 0);
	ASSERT_LE(0, post_head(h.e.rx, id));
	ASSERT_LE(0, inject(&h));
	expect_rejected(_metadata, &h, h.e.rx);
	ASSERT_TRUE(net_canary_intact(hole, 4096, "hole between regions"))
		TH_LOG("wrote into the hole");
}

TEST(indirect_outside_table)
{
	struct hostile h;
	struct vring_desc *t;

	setup(_metadata, &h, F(VIRTIO_RING_F_INDIRECT_DESC), 0);
	t = (struct vring_desc *)h.outside;
	t[0] = (struct vring_desc){ (uintptr_t)h.buf, h.len, 0, 0 };
	reject_one_desc(_metadata, &h, h.e.tx, (uintptr_t)t, 16,
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
TEST(ring_outside_table)
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

		setup(_metadata, &h, 0, 0);
		tx = h.e.tx;
		a = h.e.arena;
		ring_part(tx, w, &hole, &len);
		ASSERT_TRUE(hole > a->base)
			TH_LOG("TX ring at the arena's start");
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
		ASSERT_LE(0, vhxg_set_mem_table(&h.e.dev, r, 2));
		if (!test_dev_is_vhx()) {
			ret = vhxg_vq_wait_err(tx, QUIET_MS);
			TH_LOG("upstream, %s outside the table: ERR %s",
			       ring_name[w], ret == 1 ? "fired" : "not fired");
			net_tx_check(_metadata, &h.e, 200, 0x0f0 + w);
			TH_LOG("upstream, %s outside the table: TX goes on",
			       ring_name[w]);
			SKIP(return, "vhx-specific: upstream does not check "
				     "rings against the memory table");
		}
		ASSERT_TRUE(vhxg_vq_wait_err(tx, WAIT_MS) == 1)
			TH_LOG("%s outside the new table: no ERR", ring_name[w]);
		ASSERT_LE(0, net_tx(&h.e, h.buf + h.e.hdr_len, FRAME_LEN, NULL,
				    1, 0));
		snap = malloc(len);
		ASSERT_TRUE(snap)
			TH_LOG("malloc");
		memcpy(snap, hole, len);
		ASSERT_LE(0, vhxg_vq_kick_force(tx));
		net_expect_silence(_metadata, &h.e);
		ASSERT_TRUE(tx->used->idx == used)
			TH_LOG("%s outside: used idx %u -> %u",
			       ring_name[w], used, tx->used->idx);
		ASSERT_TRUE(!memcmp(snap, hole, len))
			TH_LOG("%s outside: the device changed it", ring_name[w]);
		ASSERT_TRUE(outside_intact(&h, 0))
			TH_LOG("%s outside", ring_name[w]);
		/* The other queue is not affected. */
		ASSERT_LE(0, net_rx_post(&h.e, 4, 2048, 1, 0));
		net_rx_check(_metadata, &h.e, 300, 0x0f8 + w);
		/* Late misbehaviour: look again after a longer wait. */
		expect_late_quiet(_metadata, &h.e, tx, used);
		ASSERT_TRUE(!memcmp(snap, hole, len))
			TH_LOG("%s outside: the device changed it late",
			       ring_name[w]);
		free(snap);
		net_reset_and_verify(_metadata, &h.e);
		ASSERT_TRUE(outside_intact(&h, CANARY_OFF))
			TH_LOG("after reset");
	}
}

/*
 * Rings that are not in guest memory, given while the queue is detached:
 * SET_VRING_ADDR takes them (nothing is checked without a backend), then
 * NET_SET_BACKEND refuses them with EFAULT.  With a backend attached,
 * SET_VRING_ADDR itself refuses them with EINVAL, and the queue goes on
 * with its old rings.  A kernel address is outside for both devices; a
 * mapped address outside the memory table only for vhx (upstream: printed).
 */
TEST(ring_outside_at_backend)
{
	const uint64_t kaddr = 0xffff888000000000ULL;
	unsigned int w;

	for (w = 0; w < 3; w++) {
		struct hostile h;
		struct vhxg_vq *tx;
		uint64_t ring[3], good[3];
		int ret;

		setup(_metadata, &h, 0, 0);
		tx = h.e.tx;
		good[0] = (uintptr_t)tx->desc;
		good[1] = (uintptr_t)tx->avail;
		good[2] = (uintptr_t)tx->used;

		/* Detached, then attached: a kernel address. */
		ASSERT_LE(0, vhxg_net_set_backend(&h.e.dev, TXQ, -1));
		memcpy(ring, good, sizeof(ring));
		ring[w] = kaddr;
		ASSERT_LE(0, vhxg_set_vring_addr(&h.e.dev, TXQ, ring[0],
						 ring[1],
						 ring[2], 0));
		ret = vhxg_net_set_backend(&h.e.dev, TXQ, h.e.tap_fd);
		ASSERT_TRUE(ret == -EFAULT)
			TH_LOG("%s at a kernel address: "
			       "NET_SET_BACKEND %s, want EFAULT", ring_name[w],
			       ret ? strerror(-ret) : "accepted");

		/* Detached, then attached: mapped, but not in the table. */
		ring[w] = (uintptr_t)h.outside + CANARY_OFF;
		ASSERT_LE(0, vhxg_set_vring_addr(&h.e.dev, TXQ, ring[0],
						 ring[1],
						 ring[2], 0));
		ret = vhxg_net_set_backend(&h.e.dev, TXQ, h.e.tap_fd);
		if (test_dev_is_vhx()) {
			ASSERT_TRUE(ret == -EFAULT)
				TH_LOG("%s outside the table: "
				       "NET_SET_BACKEND %s, want EFAULT",
				       ring_name[w],
				       ret ? strerror(-ret) : "accepted");
		} else {
			TH_LOG("upstream, %s outside the table: "
			       "NET_SET_BACKEND %s", ring_name[w],
			       ret ? strerror(-ret) : "accepted");
			ASSERT_LE(0, vhxg_net_set_backend(&h.e.dev, TXQ, -1));
		}

		/* Back to the good rings; then moving them while attached. */
		ASSERT_LE(0, vhxg_set_vring_addr(&h.e.dev, TXQ, good[0],
						 good[1],
						 good[2], 0));
		ASSERT_LE(0, vhxg_net_set_backend(&h.e.dev, TXQ, h.e.tap_fd));
		ring[w] = kaddr;
		ret = vhxg_set_vring_addr(&h.e.dev, TXQ, ring[0], ring[1],
					  ring[2], 0);
		ASSERT_TRUE(ret == -EINVAL)
			TH_LOG("%s at a kernel address, attached: "
			       "SET_VRING_ADDR %s, want EINVAL", ring_name[w],
			       ret ? strerror(-ret) : "accepted");
		ring[w] = (uintptr_t)h.outside + CANARY_OFF;
		ret = vhxg_set_vring_addr(&h.e.dev, TXQ, ring[0], ring[1],
					  ring[2], 0);
		if (test_dev_is_vhx()) {
			ASSERT_TRUE(ret == -EINVAL)
				TH_LOG("%s outside the table, "
				       "attached: SET_VRING_ADDR %s, want EINVAL",
				       ring_name[w],
				       ret ? strerror(-ret) : "accepted");
		} else {
			TH_LOG("upstream, %s outside the table, attached: "
			       "SET_VRING_ADDR %s", ring_name[w],
			       ret ? strerror(-ret) : "accepted");
			ASSERT_LE(0, vhxg_set_vring_addr(&h.e.dev, TXQ, good[0],
							 good[1], good[2], 0));
		}
		/* Upstream may have read the canary as a ring: ERR then. */
		if (test_dev_is_vhx()) {
			ASSERT_TRUE(vhxg_vq_wait_err(tx, 0) == 0)
				TH_LOG("%s: ERR fired",
				       ring_name[w]);
		} else if (vhxg_vq_wait_err(tx, 0) == 1) {
			/* Where its ring stands then is anyone's guess. */
			TH_LOG("upstream, %s outside the table: ERR fired",
			       ring_name[w]);
			net_reset_and_verify(_metadata, &h.e);
			continue;
		}
		net_tx_check(_metadata, &h.e, 200, 0x0e0 + w);
		/* Upstream may write there: for it, that is user memory. */
		if (test_dev_is_vhx()) {
			ASSERT_TRUE(outside_intact(&h, 0))
				TH_LOG("%s outside",
				       ring_name[w]);
		}
	}
}

/* ---- ring structure ------------------------------------------------------ */

TEST(head_out_of_range)
{
	struct hostile h;

	setup(_metadata, &h, 0, 0);
	ASSERT_LE(0, post_head(h.e.tx, h.e.tx->num));
	expect_rejected(_metadata, &h, h.e.tx);
}

TEST(next_out_of_range)
{
	struct hostile h;

	setup(_metadata, &h, 0, 0);
	reject_one_desc(_metadata, &h, h.e.tx, (uintptr_t)h.buf, 100,
			       VRING_DESC_F_NEXT, h.e.tx->num + 5);
}

TEST(desc_self_loop)
{
	struct hostile h;
	uint16_t id;

	setup(_metadata, &h, 0, 0);
	take(h.e.tx, 1, &id);
	vhxg_vq_put_desc(h.e.tx, id, (uintptr_t)h.buf, 100,
			 VRING_DESC_F_NEXT, id);
	ASSERT_LE(0, post_head(h.e.tx, id));
	expect_rejected(_metadata, &h, h.e.tx);
}

TEST(desc_loop)
{
	struct hostile h;
	uint16_t id[3];

	setup(_metadata, &h, 0, 0);
	take(h.e.tx, 3, id);
	vhxg_vq_put_desc(h.e.tx, id[0], (uintptr_t)h.buf, 12,
			 VRING_DESC_F_NEXT, id[1]);
	vhxg_vq_put_desc(h.e.tx, id[1], (uintptr_t)h.buf + 12, 100,
			 VRING_DESC_F_NEXT, id[2]);
	vhxg_vq_put_desc(h.e.tx, id[2], (uintptr_t)h.buf + 112, 100,
			 VRING_DESC_F_NEXT, id[1]);
	ASSERT_LE(0, post_head(h.e.tx, id[0]));
	expect_rejected(_metadata, &h, h.e.tx);
}

TEST(indirect_loop)
{
	struct hostile h;
	struct vring_desc *t;

	setup(_metadata, &h, F(VIRTIO_RING_F_INDIRECT_DESC), 0);
	t = vhxg_alloc(h.e.arena, 64, 16);
	t[0] = (struct vring_desc){ (uintptr_t)h.buf, 12,
				    VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ (uintptr_t)h.buf + 12, 100,
				    VRING_DESC_F_NEXT, 0 };
	reject_one_desc(_metadata, &h, h.e.tx, (uintptr_t)t, 32,
			       VRING_DESC_F_INDIRECT, 0);
}

TEST(nested_indirect)
{
	struct hostile h;
	struct vring_desc *t, *inner;

	setup(_metadata, &h, F(VIRTIO_RING_F_INDIRECT_DESC), 0);
	t = vhxg_alloc(h.e.arena, 16, 16);
	inner = vhxg_alloc(h.e.arena, 16, 16);
	inner[0] = (struct vring_desc){ (uintptr_t)h.buf, h.len, 0, 0 };
	t[0] = (struct vring_desc){ (uintptr_t)inner, 16,
				    VRING_DESC_F_INDIRECT, 0 };
	reject_one_desc(_metadata, &h, h.e.tx, (uintptr_t)t, 16,
			       VRING_DESC_F_INDIRECT, 0);
}

static void indirect_len(struct __test_metadata *_metadata, uint32_t len)
{
	struct hostile h;
	struct vring_desc *t;

	setup(_metadata, &h, F(VIRTIO_RING_F_INDIRECT_DESC), 0);
	t = vhxg_alloc(h.e.arena, 64, 16);
	t[0] = (struct vring_desc){ (uintptr_t)h.buf, h.len, 0, 0 };
	reject_one_desc(_metadata, &h, h.e.tx, (uintptr_t)t, len,
			       VRING_DESC_F_INDIRECT, 0);
}

TEST(indirect_len_not_16)
{
	indirect_len(_metadata, 24);
}

TEST(indirect_len_zero)
{
	indirect_len(_metadata, 0);
}

TEST(indirect_without_feature)
{
	struct hostile h;
	struct vring_desc *t;

	if (!test_dev_is_vhx())
		SKIP(return, "vhx-specific");
	setup(_metadata, &h, 0, 0);
	t = vhxg_alloc(h.e.arena, 16, 16);
	t[0] = (struct vring_desc){ (uintptr_t)h.buf, h.len, 0, 0 };
	reject_one_desc(_metadata, &h, h.e.tx, (uintptr_t)t, 16,
			       VRING_DESC_F_INDIRECT, 0);
}

TEST(avail_idx_jump)
{
	struct hostile h;
	uint16_t id;

	setup(_metadata, &h, 0, 0);
	take(h.e.tx, 1, &id);
	vhxg_vq_put_desc(h.e.tx, id, (uintptr_t)h.buf, h.len, 0, 0);
	vhxg_vq_put_avail(h.e.tx, id);
	vhxg_vq_set_avail_idx(h.e.tx, h.e.tx->avail_idx + h.e.tx->num);
	ASSERT_LE(0, vhxg_vq_kick_force(h.e.tx));
	expect_rejected(_metadata, &h, h.e.tx);
}

/* RX chains must be all writable; a readable one after writable is bad. */
TEST(rx_readable_after_writable)
{
	struct hostile h;
	uint8_t *b;
	uint16_t id[2];

	setup(_metadata, &h, F(VIRTIO_NET_F_MRG_RXBUF), 0);
	b = vhxg_alloc(h.e.arena, 4096, 64);
	take(h.e.rx, 2, id);
	vhxg_vq_put_desc(h.e.rx, id[0], (uintptr_t)b, 2048,
			 VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, id[1]);
	vhxg_vq_put_desc(h.e.rx, id[1], (uintptr_t)b + 2048, 2048, 0, 0);
	ASSERT_LE(0, post_head(h.e.rx, id[0]));
	ASSERT_LE(0, inject(&h));
	expect_rejected(_metadata, &h, h.e.rx);
}

TEST(rx_readable_only)
{
	struct hostile h;
	uint8_t *b;

	setup(_metadata, &h, F(VIRTIO_NET_F_MRG_RXBUF), 0);
	b = vhxg_alloc(h.e.arena, 2048, 64);
	reject_one_desc(_metadata, &h, h.e.rx, (uintptr_t)b, 2048, 0, 0);
}

TEST(tx_writable_desc)
{
	struct hostile h;
	uint8_t *b;
	uint16_t id[2];

	setup(_metadata, &h, 0, 0);
	b = vhxg_alloc(h.e.arena, 256, 64);
	take(h.e.tx, 2, id);
	vhxg_vq_put_desc(h.e.tx, id[0], (uintptr_t)h.buf, h.len,
			 VRING_DESC_F_NEXT, id[1]);
	vhxg_vq_put_desc(h.e.tx, id[1], (uintptr_t)b, 256,
			 VRING_DESC_F_WRITE, 0);
	ASSERT_LE(0, post_head(h.e.tx, id[0]));
	expect_rejected(_metadata, &h, h.e.tx);
}

/*
 * An indirect table longer than the ring: Linux sends one whenever a
 * packet has more segments than the queue has entries, and upstream takes
 * it.  The frame, split over 17 table entries on a 16-entry ring, leaves.
 */
TEST(indirect_longer_than_ring)
{
	struct hostile h;
	struct vring_desc *t;
	unsigned int i, n = 17;
	struct vhxg_used u;
	uint32_t piece;
	uint16_t id;

	setup(_metadata, &h, F(VIRTIO_RING_F_INDIRECT_DESC), 16);
	t = vhxg_alloc(h.e.arena, 16 * n, 16);
	ASSERT_TRUE(t)
		TH_LOG("arena full");
	piece = h.len / n;
	for (i = 0; i < n; i++)
		t[i] = (struct vring_desc){
			(uintptr_t)h.buf + i * piece,
			i + 1 < n ? piece : h.len - i * piece,
			i + 1 < n ? VRING_DESC_F_NEXT : 0, i + 1 };
	ASSERT_LE(0, vhxg_vq_take_chain(h.e.tx, 1, &id));
	vhxg_vq_put_desc(h.e.tx, id, (uintptr_t)t, 16 * n,
			 VRING_DESC_F_INDIRECT, 0);
	ASSERT_LE(0, post_head(h.e.tx, id));
	net_expect_frame(_metadata, &h.e, h.buf + h.e.hdr_len, FRAME_LEN);
	/* One used entry, for the table's head. */
	for (i = 0; i < 50 && !vhxg_vq_pending(h.e.tx); i++)
		usleep(10000);
	ASSERT_TRUE(vhxg_vq_reap(h.e.tx, &u, 1) == 1 && u.id == id &&
		    !h.e.tx->bad_used)
		TH_LOG("the table's head was not used (%u "
		       "pending, %lu bad)", vhxg_vq_pending(h.e.tx),
		       h.e.tx->bad_used);
	ASSERT_TRUE(vhxg_vq_wait_err(h.e.tx, 0) == 0)
		TH_LOG("ERR on a valid chain");
}

/* The boundary that must work: a chain of exactly num descriptors. */
TEST(chain_of_ring_size)
{
	struct hostile h;
	unsigned int n = 16;

	setup(_metadata, &h, F(VIRTIO_RING_F_INDIRECT_DESC), n);
	frame_build(frame, FRAME_LEN, NULL, 0x16);
	ASSERT_LE(0, net_tx(&h.e, frame, FRAME_LEN, NULL, n, 0));
	net_expect_frame(_metadata, &h.e, frame, FRAME_LEN);
	ASSERT_LE(0, net_tx_reap(&h.e, 1));
	ASSERT_TRUE(vhxg_vq_wait_err(h.e.tx, 0) == 0)
		TH_LOG("ERR on a valid chain");
}

/*
 * After a bad chain, the driver repairs its ring and reconfigures the
 * queue the way a VMM does on a device reset: detach, SET_VRING_BASE to
 * where the used ring stands, reattach.  Traffic must resume there.
 */
TEST(recover_by_set_vring_base)
{
	struct hostile h;
	struct vhxg_vq *tx;
	uint16_t base;

	setup(_metadata, &h, 0, 0);
	tx = h.e.tx;
	ASSERT_LE(0, post_head(tx, tx->num));
	ASSERT_TRUE(vhxg_vq_wait_err(tx, WAIT_MS) == 1)
		TH_LOG("no ERR");
	net_expect_silence(_metadata, &h.e);
	ASSERT_LE(0, net_attach(&h.e, -1));
	base = tx->used->idx;
	ASSERT_TRUE(base == h.tx_used)
		TH_LOG("used idx %u, want %u", base, h.tx_used);
	vhxg_vq_rewind(tx, base);
	ASSERT_LE(0, vhxg_set_vring_base(&h.e.dev, TXQ, base));
	ASSERT_LE(0, net_attach(&h.e, h.e.tap_fd));
	net_tx_check(_metadata, &h.e, 300, 0x4ec0);
	ASSERT_TRUE(tx->used->idx == (uint16_t)(base + 1))
		TH_LOG("used idx %u",
		       tx->used->idx);
}

/*
 * Repair in place: the driver rewrites the bad avail entry, then the
 * backend is detached and attached again (which restarts a stopped vhx
 * queue); the device resumes at the repaired entry.
 */
TEST(recover_by_backend_reattach)
{
	struct hostile h;
	struct vhxg_vq *tx;
	uint16_t id, slot;

	setup(_metadata, &h, 0, 0);
	tx = h.e.tx;
	slot = tx->avail_idx;
	ASSERT_LE(0, post_head(tx, tx->num));
	ASSERT_TRUE(vhxg_vq_wait_err(tx, WAIT_MS) == 1)
		TH_LOG("no ERR");
	net_expect_silence(_metadata, &h.e);
	take(tx, 1, &id);
	vhxg_vq_put_desc(tx, id, (uintptr_t)h.buf, h.len, 0, 0);
	__atomic_store_n(&tx->avail->ring[slot & (tx->num - 1)], id,
			 __ATOMIC_RELEASE);
	ASSERT_LE(0, net_attach(&h.e, -1));
	ASSERT_LE(0, net_attach(&h.e, h.e.tap_fd));
	ASSERT_LE(0, vhxg_vq_kick_force(tx));
	net_expect_frame(_metadata, &h.e, h.buf + h.e.hdr_len, FRAME_LEN);
	ASSERT_TRUE(net_wait_used_idx(tx, h.tx_used + 1, WAIT_MS))
		TH_LOG("repaired chain not used");
	ASSERT_TRUE(tx->used->ring[h.tx_used & (tx->num - 1)].id == id)
		TH_LOG("used id %u, want %u",
		       tx->used->ring[h.tx_used & (tx->num - 1)].id, id);
}

/* With no ERR eventfd the queue still refuses; nothing breaks. */
TEST(bad_head_without_err_fd)
{
	struct hostile h;

	setup(_metadata, &h, 0, 0);
	ASSERT_LE(0, vhxg_set_vring_fd(&h.e.dev, VHOST_SET_VRING_ERR, TXQ, -1));
	ASSERT_LE(0, post_head(h.e.tx, h.e.tx->num));
	net_expect_silence(_metadata, &h.e);
	ASSERT_TRUE(h.e.tx->used->idx == h.tx_used)
		TH_LOG("used idx moved");
	expect_late_quiet(_metadata, &h.e, h.e.tx, h.tx_used);
	ASSERT_TRUE(vhxg_vq_wait_err(h.e.tx, 0) == 0)
		TH_LOG("ERR fd was detached");
	net_reset_and_verify(_metadata, &h.e);
}


VHX_TEST_MAIN("/dev/vhx-net")
