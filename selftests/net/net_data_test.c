// SPDX-License-Identifier: GPL-2.0
/*
 * vhost-net data path: frames in and out of a tap (and a macvtap), every
 * header mode, mergeable and not, indirect, big frames, offload metadata,
 * backend detach, RESET_OWNER, two queue pairs, notification suppression.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/if_tun.h>

#include "check.h"

static const size_t sizes[] = { 60, 61, 64, 100, 127, 128, 256, 511, 1000,
				1499, 1514 };

static uint8_t frame[MAX_FRAME], got[MAX_FRAME];

/* A second, longer look after a quiet wait, for late misbehaviour. */
#define LATE_MS		1000

/* No test frame came out of the link in the last LATE_MS either. */
static void late_silence(struct __test_metadata *_metadata, struct net_env *e)
{
	ssize_t n;

	usleep(LATE_MS * 1000);
	n = pkt_recv(e->pkt_fd, got, sizeof(got), 1, TEST_ETHERTYPE, NULL);
	ASSERT_TRUE(n == 0)
		TH_LOG("late: a frame of %zd bytes (seed %#x) came out", n,
		       n > 0 ? frame_seed(got) : 0);
}

/* No call within QUIET_MS, and none in a longer wait after that. */
static void no_call(struct __test_metadata *_metadata, struct vhxg_vq *vq,
		    const char *what)
{
	ASSERT_TRUE(vhxg_vq_wait_call(vq, QUIET_MS) == 0)
		TH_LOG("%s", what);
	ASSERT_TRUE(vhxg_vq_wait_call(vq, LATE_MS) == 0)
		TH_LOG("late: %s", what);
}

/* ---- TX ------------------------------------------------------------------ */

/*
 * TX of every size in sizes[], in one to three descriptors, for each way
 * of carrying the virtio-net header.
 */
FIXTURE(tx) {
	struct net_env e;
};

FIXTURE_VARIANT(tx) {
	enum hdr_mode hdr;
	uint64_t features;
	unsigned int flags;	/* VHXG_ADD_* */
};

FIXTURE_VARIANT_ADD(tx, tap_hdr) {
	.hdr = HDR_TAP,
	.features = BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF),
};

FIXTURE_VARIANT_ADD(tx, vhost_hdr) {
	.hdr = HDR_VHOST,
	.features = BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF),
};

/* Neither VERSION_1 nor MRG_RXBUF: the 10-byte header. */
FIXTURE_VARIANT_ADD(tx, legacy_hdr) {
	.hdr = HDR_VHOST,
};

FIXTURE_VARIANT_ADD(tx, indirect) {
	.hdr = HDR_TAP,
	.features = BASE_FEATURES | F(VIRTIO_RING_F_INDIRECT_DESC),
	.flags = VHXG_ADD_INDIRECT,
};

FIXTURE_SETUP(tx)
{
	struct net_cfg cfg = { .features = variant->features,
			       .hdr = variant->hdr };

	ASSERT_LE(0, net_setup(&self->e, &cfg));
}

FIXTURE_TEARDOWN(tx)
{
	net_teardown(&self->e);
}

TEST_F(tx, sizes)
{
	unsigned int split;
	size_t i;

	for (split = 1; split <= 3; split++) {
		for (i = 0; i < ARRAY_SIZE(sizes); i++) {
			uint32_t seed = split << 8 | i;

			frame_build(frame, sizes[i], NULL, seed);
			ASSERT_LE(0, net_tx(&self->e, frame, sizes[i], NULL,
					    split, variant->flags));
			net_expect_frame(_metadata, &self->e, frame, sizes[i]);
			ASSERT_LE(0, net_tx_reap(&self->e, 1));
		}
	}
}

/* Header and frame cut in up to 16 pieces, the header itself split. */
TEST(tx_scattered)
{
	static const enum hdr_mode modes[] = { HDR_TAP, HDR_VHOST };
	static const size_t lens[] = { 60, 1514 };
	unsigned int m, split;
	size_t i;

	for (m = 0; m < 2; m++) {
		struct net_cfg cfg = { .features = BASE_FEATURES,
				       .hdr = modes[m] };
		struct net_env e;

		ASSERT_LE(0, net_setup(&e, &cfg));
		for (split = 2; split <= 16; split++) {
			for (i = 0; i < 2; i++) {
				frame_build(frame, lens[i], NULL, split);
				ASSERT_LE(0, net_tx(&e, frame, lens[i], NULL,
						    split,
						    0));
				net_expect_frame(_metadata, &e, frame, lens[i]);
				ASSERT_LE(0, net_tx_reap(&e, 1));
			}
		}
		net_teardown(&e);
	}
}

/* Many frames in batches through a small ring: wraps idx many times. */
TEST(tx_burst)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP,
			       .num = 64 };
	unsigned int batch, i, n = 24;
	struct net_env e;

	ASSERT_LE(0, net_setup(&e, &cfg));
	for (batch = 0; batch < 20; batch++) {
		for (i = 0; i < n; i++) {
			frame_build(frame, 60 + i * 50, NULL, batch << 8 | i);
			ASSERT_LE(0, net_tx(&e, frame, 60 + i * 50, NULL,
					    1 + i % 3,
					    0));
		}
		for (i = 0; i < n; i++) {
			frame_build(frame, 60 + i * 50, NULL, batch << 8 | i);
			net_expect_frame(_metadata, &e, frame, 60 + i * 50);
		}
		ASSERT_LE(0, net_tx_reap(&e, n));
	}
	ASSERT_TRUE(e.tx->used->idx == 20 * n)
		TH_LOG("used idx %u", e.tx->used->idx);
}

/* Rings of 1 and 2 entries, and a ring of 64 filled completely. */
TEST(tx_ring_edges)
{
	static const unsigned int nums[] = { 1, 2, 64 };
	unsigned int k, i;

	for (k = 0; k < ARRAY_SIZE(nums); k++) {
		struct net_cfg cfg = { .features = BASE_FEATURES,
				       .hdr = HDR_TAP, .num = nums[k] };
		unsigned int n = nums[k], round;
		struct net_env e;

		ASSERT_LE(0, net_setup(&e, &cfg));
		for (round = 0; round < 3; round++) {
			/* Fill the ring before the device sees anything. */
			for (i = 0; i < n; i++) {
				frame_build(frame, 64 + i, NULL,
					    round << 8 | i);
				ASSERT_LE(0, net_tx(&e, frame, 64 + i, NULL, 1,
						    0));
			}
			ASSERT_TRUE(e.tx->num_free == 0)
				TH_LOG("ring not full");
			for (i = 0; i < n; i++) {
				frame_build(frame, 64 + i, NULL,
					    round << 8 | i);
				net_expect_frame(_metadata, &e, frame, 64 + i);
			}
			ASSERT_LE(0, net_tx_reap(&e, n));
		}
	}
}

/* ---- RX ------------------------------------------------------------------ */

/*
 * RX of every size in the variant's list (sizes[] by default), twice over
 * freshly posted buffers, for each buffer layout and header.
 */
FIXTURE(rx) {
	struct net_env e;
};

FIXTURE_VARIANT(rx) {
	uint64_t features;
	enum hdr_mode hdr;
	uint32_t buflen;
	unsigned int ndesc;
	unsigned int flags;	/* VHXG_ADD_* */
	int mtu;		/* of the tap, 0: as it is */
	const size_t *lens;
	size_t nlens;
};

#define MRG	F(VIRTIO_NET_F_MRG_RXBUF)
#define EIDX	F(VIRTIO_RING_F_EVENT_IDX)
#define INDIR	F(VIRTIO_RING_F_INDIRECT_DESC)

FIXTURE_VARIANT_ADD(rx, mrg_tap_hdr) {
	BASE_FEATURES | MRG, HDR_TAP, 2048, 1, 0, 0, NULL, 0
};

FIXTURE_VARIANT_ADD(rx, mrg_vhost_hdr) {
	BASE_FEATURES | MRG, HDR_VHOST, 2048, 1, 0, 0, NULL, 0
};

FIXTURE_VARIANT_ADD(rx, nomrg_tap_hdr) {
	BASE_FEATURES, HDR_TAP, 1024, 2, 0, 0, NULL, 0
};

FIXTURE_VARIANT_ADD(rx, nomrg_vhost_hdr) {
	BASE_FEATURES, HDR_VHOST, 1024, 2, 0, 0, NULL, 0
};

FIXTURE_VARIANT_ADD(rx, legacy_hdr) {
	0, HDR_VHOST, 1600, 1, 0, 0, NULL, 0
};

FIXTURE_VARIANT_ADD(rx, event_idx) {
	BASE_FEATURES | MRG | EIDX, HDR_TAP, 2048, 1, 0, 0, NULL, 0
};

FIXTURE_VARIANT_ADD(rx, indirect_mrg) {
	BASE_FEATURES | MRG | INDIR, HDR_TAP, 2048, 1, VHXG_ADD_INDIRECT, 0,
	NULL, 0
};

FIXTURE_VARIANT_ADD(rx, indirect_nomrg) {
	BASE_FEATURES | INDIR | EIDX, HDR_VHOST, 512, 4, VHXG_ADD_INDIRECT, 0,
	NULL, 0
};

static const size_t big[] = { 1514, 1515, 2000, 4000, 8000, 9014 };

FIXTURE_VARIANT_ADD(rx, big_mrg) {
	BASE_FEATURES | MRG, HDR_TAP, 1024, 1, 0, 9000, big, ARRAY_SIZE(big)
};

FIXTURE_VARIANT_ADD(rx, big_mrg_vhost_hdr) {
	BASE_FEATURES | MRG | EIDX, HDR_VHOST, 1500, 1, 0, 9000, big,
	ARRAY_SIZE(big)
};

FIXTURE_VARIANT_ADD(rx, big_nomrg) {
	BASE_FEATURES, HDR_TAP, 1024, 10, 0, 9000, big, ARRAY_SIZE(big)
};

FIXTURE_VARIANT_ADD(rx, big_nomrg_indirect) {
	BASE_FEATURES | INDIR, HDR_VHOST, 1024, 10, VHXG_ADD_INDIRECT, 9000,
	big, ARRAY_SIZE(big)
};

FIXTURE_SETUP(rx)
{
	struct net_cfg cfg = { .features = variant->features,
			       .hdr = variant->hdr };

	ASSERT_LE(0, net_setup(&self->e, &cfg));
	if (variant->mtu)
		ASSERT_LE(0, netif_set_mtu(self->e.ifname, variant->mtu));
}

FIXTURE_TEARDOWN(rx)
{
	net_teardown(&self->e);
}

static void rx_one(struct __test_metadata *_metadata, struct net_env *e,
		   const FIXTURE_VARIANT(rx) *c, size_t len, uint32_t seed)
{
	bool mrg = c->features & F(VIRTIO_NET_F_MRG_RXBUF);
	struct virtio_net_hdr_mrg_rxbuf vh;
	size_t total = e->hdr_len + len;
	unsigned int want_bufs;
	ssize_t n;

	frame_build(frame, len, NULL, seed);
	ASSERT_LE(0, pkt_send(e->pkt_fd, frame, len, NULL));
	n = net_rx_get(e, got, sizeof(got), &vh, WAIT_MS);
	ASSERT_LT(0, n)
		TH_LOG("no RX frame of %zu bytes (%s)", len,
		       n ? strerror((int)-n) : "timeout");
	ASSERT_EQ(len, (size_t)n);
	ASSERT_TRUE(bytes_equal(got, frame, len, "RX frame"))
		TH_LOG("len %zu", len);
	want_bufs = mrg ? (total + c->buflen - 1) / c->buflen : 1;
	ASSERT_EQ(want_bufs, e->rx_nused);
	if (mrg)
		ASSERT_EQ(want_bufs, vh.num_buffers);
	/* The last entry holds what the others did not. */
	ASSERT_EQ(total - (want_bufs - 1) * c->buflen, e->rx_last_len)
		TH_LOG("frame %zu, header %zu", len, e->hdr_len);
	if (e->hdr_len) {
		ASSERT_EQ(0, vh.hdr.flags);
		ASSERT_EQ(VIRTIO_NET_HDR_GSO_NONE, vh.hdr.gso_type);
	}
}

TEST_F(rx, sizes)
{
	const size_t *lens = variant->lens ? variant->lens : sizes;
	size_t n = variant->lens ? variant->nlens : ARRAY_SIZE(sizes), i;
	struct net_env *e = &self->e;
	unsigned int round;

	for (round = 0; round < 2; round++) {
		unsigned int chains = e->rx->num_free;

		if (!(variant->flags & VHXG_ADD_INDIRECT))
			chains /= variant->ndesc;
		ASSERT_LE(0, net_rx_post(e, chains < 64 ? chains : 64,
					 variant->buflen, variant->ndesc,
					 variant->flags));
		for (i = 0; i < n; i++)
			rx_one(_metadata, e, variant, lens[i], round << 8 | i);
		/* Unused buffers stay posted; reap nothing more. */
		ASSERT_EQ(0, vhxg_vq_pending(e->rx))
			TH_LOG("stray used entries");
	}
}

/* Many frames through a small ring, buffers reposted as they are used. */
TEST(rx_burst)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG | EIDX,
			       .hdr = HDR_TAP, .num = 32 };
	unsigned int i, n = 200;
	struct net_env e;

	ASSERT_LE(0, net_setup(&e, &cfg));
	ASSERT_LE(0, net_rx_post(&e, 32, 2048, 1, 0));
	for (i = 0; i < n; i++) {
		net_rx_check(_metadata, &e, 60 + (i * 37) % 1400, i);
		ASSERT_LE(0, net_rx_post(&e, 1, 2048, 1, 0));
	}
	ASSERT_TRUE(e.rx->used->idx == n)
		TH_LOG("used idx %u, want %u",
		       e.rx->used->idx, n);
}

/* Frames wait in the tap until buffers are posted, then arrive in order. */
TEST(rx_late_buffers)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG | EIDX,
			       .hdr = HDR_TAP };
	struct net_env e;
	unsigned int i;
	ssize_t n;

	ASSERT_LE(0, net_setup(&e, &cfg));
	for (i = 0; i < 3; i++) {
		frame_build(frame, 100 + i, NULL, i);
		ASSERT_LE(0, pkt_send(e.pkt_fd, frame, 100 + i, NULL));
	}
	usleep(QUIET_MS * 1000);
	ASSERT_LE(0, net_rx_post(&e, 8, 2048, 1, 0));
	for (i = 0; i < 3; i++) {
		frame_build(frame, 100 + i, NULL, i);
		n = net_rx_get(&e, got, sizeof(got), NULL, WAIT_MS);
		ASSERT_TRUE(n == 100 + i)
			TH_LOG("frame %u: %zd bytes", i, n);
		ASSERT_TRUE(bytes_equal(got, frame, n, "late RX"))
			TH_LOG("frame %u", i);
	}
}

/*
 * Without MRG_RXBUF a frame larger than the chain is dropped, the
 * buffer stays posted for the next frame that fits.
 */
TEST(rx_too_big_nomrg)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	struct vhxg_used u = { 0 };
	struct net_env e;
	bool used;

	ASSERT_LE(0, net_setup(&e, &cfg));
	ASSERT_LE(0, net_rx_post(&e, 1, 512, 1, 0));
	frame_build(frame, 1000, NULL, 0xb16);
	ASSERT_LE(0, pkt_send(e.pkt_fd, frame, 1000, NULL));
	usleep(QUIET_MS * 1000);
	if (!vhxg_vq_pending(e.rx))
		usleep(LATE_MS * 1000);
	used = vhxg_vq_pending(e.rx);
	if (used) {
		vhxg_vq_reap(e.rx, &u, 1);
		if (u.id < e.rx->num && e.rx_slots[u.id].base)
			net_canary_intact(e.rx_slots[u.id].base + 512, 64,
					  "after the 512-byte RX buffer");
	}
	ASSERT_FALSE(used)
		TH_LOG("1000-byte frame used a 512-byte chain: used len %u",
		       u.len);
	net_rx_check(_metadata, &e, 300, 0x5a11);
	ASSERT_TRUE(e.rx->used->idx == 1)
		TH_LOG("used idx %u", e.rx->used->idx);
}

/* ---- offload metadata ---------------------------------------------------- */

/* An Ethernet/IPv4/TCP frame with @payload bytes; returns its length. */
static size_t tcp4_frame(uint8_t *p, size_t payload, uint32_t seed)
{
	size_t len = 14 + 20 + 20 + payload, i;
	uint16_t tot = htons(len - 14);

	frame_build(p, len, NULL, seed);
	p[12] = 0x08;
	p[13] = 0x00;
	memset(p + 14, 0, 40);
	p[14] = 0x45;
	memcpy(p + 16, &tot, 2);
	p[22] = 64;			/* ttl */
	p[23] = 6;			/* TCP */
	memcpy(p + 26, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	memcpy(p + 34, "\x30\x39\x00\x50", 4);	/* ports 12345 -> 80 */
	p[46] = 5 << 4;			/* data offset */
	p[47] = 0x18;			/* PSH|ACK */
	p[48] = 0xff;			/* window */
	for (i = 54; i < len; i++)
		p[i] = (uint8_t)(seed + i);
	return len;
}

static void tx_offload(struct __test_metadata *_metadata, bool gso)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP, .pkt_vnet_hdr = true };
	struct virtio_net_hdr_mrg_rxbuf vh = { 0 };
	struct virtio_net_hdr rh;
	struct net_env e;
	size_t len;
	ssize_t n;

	ASSERT_LE(0, net_setup(&e, &cfg));
	len = tcp4_frame(frame, gso ? 3000 : 500, 7);
	vh.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.hdr.csum_start = 34;
	vh.hdr.csum_offset = 16;
	if (gso) {
		vh.hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		vh.hdr.gso_size = 1000;
		vh.hdr.hdr_len = 54;
	}
	ASSERT_LE(0, net_tx(&e, frame, len, &vh, 2, 0));
	n = pkt_recv(e.pkt_fd, got, sizeof(got), WAIT_MS, 0x0800, &rh);
	ASSERT_TRUE((size_t)n == len)
		TH_LOG("got %zd bytes, want %zu", n, len);
	ASSERT_TRUE(bytes_equal(got, frame, len, "TX frame"))
		TH_LOG("offload frame");
	ASSERT_TRUE(rh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		TH_LOG("flags %#x",
		       rh.flags);
	ASSERT_TRUE(rh.csum_start == 34 && rh.csum_offset == 16)
		TH_LOG("csum_start %u csum_offset %u", rh.csum_start,
		       rh.csum_offset);
	if (gso) {
		ASSERT_TRUE(rh.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 &&
			    rh.gso_size == 1000)
			TH_LOG("gso_type %u gso_size %u",
			       rh.gso_type, rh.gso_size);
	} else {
		ASSERT_TRUE(rh.gso_type == VIRTIO_NET_HDR_GSO_NONE)
			TH_LOG("gso_type %u", rh.gso_type);
	}
	ASSERT_LE(0, net_tx_reap(&e, 1));
}

TEST(tx_csum_offload)
{
	tx_offload(_metadata, false);
}

TEST(tx_gso_tcpv4)
{
	tx_offload(_metadata, true);
}

TEST(rx_gso_tcpv4)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP, .pkt_vnet_hdr = true };
	struct virtio_net_hdr_mrg_rxbuf rh;
	struct virtio_net_hdr vh = { 0 };
	struct net_env e;
	ssize_t n;
	size_t len;

	ASSERT_LE(0, net_setup(&e, &cfg));
	ASSERT_LE(0, net_rx_post(&e, 16, 1500, 1, 0));
	len = tcp4_frame(frame, 3000, 9);
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.csum_start = 34;
	vh.csum_offset = 16;
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	vh.gso_size = 1000;
	vh.hdr_len = 54;
	ASSERT_LE(0, pkt_send(e.pkt_fd, frame, len, &vh));
	/*
	 * net_rx_get() wants test frames: look at the ring ourselves.  The
	 * frame comes whole (not segmented) in three 1500-byte buffers:
	 * each buffer's bytes are compared, and the gaps around it.
	 */
	{
		static uint8_t all[3 * 1500];
		struct vhxg_used u;
		struct rx_slot *s;
		size_t off = 0;

		for (n = 0; n < 3; n++) {
			ASSERT_TRUE(vhxg_vq_wait_used(e.rx, WAIT_MS) == 1)
				TH_LOG("buffer %zd of 3 missing", n + 1);
			vhxg_vq_reap(e.rx, &u, 1);
			ASSERT_TRUE(u.id < e.rx->num && e.rx_slots[u.id].base)
				TH_LOG("used id %u never posted", u.id);
			s = &e.rx_slots[u.id];
			ASSERT_TRUE(u.len <= s->buflen &&
				    off + u.len <= sizeof(all))
				TH_LOG("buffer %zd: used len %u", n + 1, u.len);
			ASSERT_TRUE(n == 2 || u.len == s->buflen)
				TH_LOG("buffer %zd of 3 not filled: used len %u",
				       n + 1, u.len);
			memcpy(all + off, s->base, u.len);
			off += u.len;
			ASSERT_TRUE(net_canary_intact(s->base - 64, 64,
						      "before RX buffer") &&
				    net_canary_intact(s->base + s->buflen, 64,
						      "after RX buffer"))
				TH_LOG("buffer %zd", n + 1);
			s->base = NULL;
		}
		memcpy(&rh, all, sizeof(rh));
		ASSERT_TRUE(rh.num_buffers == 3)
			TH_LOG("num_buffers %u", rh.num_buffers);
		ASSERT_TRUE(rh.hdr.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 &&
			    rh.hdr.gso_size == 1000)
			TH_LOG("gso_type %u gso_size %u",
			       rh.hdr.gso_type, rh.hdr.gso_size);
		ASSERT_TRUE(rh.hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM &&
			    rh.hdr.csum_start == 34 && rh.hdr.csum_offset == 16)
			TH_LOG("flags %#x csum_start %u csum_offset %u",
			       rh.hdr.flags, rh.hdr.csum_start,
			       rh.hdr.csum_offset);
		ASSERT_TRUE(off == 12 + len)
			TH_LOG("%zu bytes in 3 buffers, want %zu",
			       off, 12 + len);
		ASSERT_TRUE(bytes_equal(all + 12, frame, len, "RX GSO frame"))
			TH_LOG("3 buffers");
	}
	ASSERT_TRUE(vhxg_vq_wait_used(e.rx, QUIET_MS) == 0)
		TH_LOG("a fourth buffer was used");
}

/* ---- macvtap ------------------------------------------------------------- */

/* A macvtap on a veth pair as the backend, made and removed per test. */
FIXTURE(macvtap) {
	struct macvtap m;
	struct net_env e;
};

FIXTURE_SETUP(macvtap)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP };
	int fd, ret;

	if (access("/sys/module/macvtap", F_OK))
		SKIP(return, "macvtap module not loaded");
	ret = macvtap_create(&self->m);
	if (ret)
		macvtap_destroy(&self->m);
	ASSERT_LE(0, ret);
	fd = macvtap_open(&self->m);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, tap_set_hdr_sz(fd, 12));
	cfg.backend_fd = fd;
	cfg.ifname = self->m.peer;
	ASSERT_LE(0, net_setup(&self->e, &cfg));
	self->e.rx_dst = self->m.mac;
}

/* The links outlive the test process: the parent removes them. */
FIXTURE_TEARDOWN_PARENT(macvtap)
{
	macvtap_destroy(&self->m);
}

TEST_F(macvtap, tx_rx)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		net_tx_check(_metadata, &self->e, sizes[i], 0x100 + i);
	ASSERT_LE(0, net_rx_post(&self->e, 32, 2048, 1, 0));
	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		net_rx_check(_metadata, &self->e, sizes[i], 0x200 + i);
}

/* ---- lifecycle ----------------------------------------------------------- */

TEST(detach_reattach)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP };
	struct virtio_net_hdr_mrg_rxbuf vh;
	unsigned int base, i;
	struct net_env e;
	ssize_t n;

	ASSERT_LE(0, net_setup(&e, &cfg));
	ASSERT_LE(0, net_rx_post(&e, 16, 2048, 1, 0));
	for (i = 0; i < 5; i++)
		net_tx_check(_metadata, &e, 100 + i, i);
	for (i = 0; i < 3; i++)
		net_rx_check(_metadata, &e, 100 + i, 0x10 + i);

	ASSERT_LE(0, net_attach(&e, -1));
	ASSERT_LE(0, vhxg_get_vring_base(&e.dev, TXQ, &base));
	ASSERT_TRUE(base == 5)
		TH_LOG("TX base %u, want 5", base);
	ASSERT_LE(0, vhxg_get_vring_base(&e.dev, RXQ, &base));
	ASSERT_TRUE(base == 3)
		TH_LOG("RX base %u, want 3", base);

	/* While detached nothing moves. */
	for (i = 5; i < 8; i++) {
		frame_build(frame, 100 + i, NULL, i);
		ASSERT_LE(0, net_tx(&e, frame, 100 + i, NULL, 1, 0));
	}
	ASSERT_LE(0, vhxg_vq_kick_force(e.tx));
	for (i = 3; i < 5; i++) {
		frame_build(frame, 100 + i, NULL, 0x10 + i);
		ASSERT_LE(0, pkt_send(e.pkt_fd, frame, 100 + i, NULL));
	}
	net_expect_silence(_metadata, &e);
	ASSERT_TRUE(e.tx->used->idx == 5 && e.rx->used->idx == 3)
		TH_LOG("used idx moved while detached: TX %u RX %u",
		       e.tx->used->idx, e.rx->used->idx);
	late_silence(_metadata, &e);
	ASSERT_TRUE(e.tx->used->idx == 5 && e.rx->used->idx == 3)
		TH_LOG("late: used idx moved while detached: TX %u RX %u",
		       e.tx->used->idx, e.rx->used->idx);

	ASSERT_LE(0, net_attach(&e, e.tap_fd));
	ASSERT_LE(0, vhxg_vq_kick_force(e.tx));
	ASSERT_LE(0, vhxg_vq_kick_force(e.rx));
	for (i = 5; i < 8; i++) {
		frame_build(frame, 100 + i, NULL, i);
		net_expect_frame(_metadata, &e, frame, 100 + i);
	}
	ASSERT_LE(0, net_tx_reap(&e, 3));
	for (i = 3; i < 5; i++) {
		frame_build(frame, 100 + i, NULL, 0x10 + i);
		n = net_rx_get(&e, got, sizeof(got), &vh, WAIT_MS);
		ASSERT_TRUE(n == 100 + i)
			TH_LOG("RX %u: len %zd", i, n);
		ASSERT_TRUE(bytes_equal(got, frame, n, "RX after reattach"))
			TH_LOG("frame %u", i);
	}
	net_expect_silence(_metadata, &e);
	ASSERT_TRUE(e.tx->used->idx == 8 && e.rx->used->idx == 5)
		TH_LOG("used idx TX %u RX %u, want 8 and 5", e.tx->used->idx,
		       e.rx->used->idx);
	ASSERT_LE(0, vhxg_get_vring_base(&e.dev, TXQ, &base));
	ASSERT_TRUE(base == 8)
		TH_LOG("TX base %u, want 8", base);
}

/* Send a frame, wait for it among older ones on the link, reap it. */
static void tx_check_seed(struct __test_metadata *_metadata, struct net_env *e,
			  size_t len, uint32_t seed)
{
	unsigned int tries;
	ssize_t n;

	frame_build(frame, len, NULL, seed);
	ASSERT_LE(0, net_tx(e, frame, len, NULL, 1, 0));
	for (tries = 0; tries < 256; tries++) {
		n = pkt_recv(e->pkt_fd, got, sizeof(got), WAIT_MS,
			     TEST_ETHERTYPE, NULL);
		ASSERT_TRUE(n > 0)
			TH_LOG("frame %#x did not come out", seed);
		if (frame_seed(got) == seed)
			break;
	}
	ASSERT_TRUE(tries < 256)
		TH_LOG("frame %#x lost among older ones", seed);
	ASSERT_TRUE((size_t)n == len && bytes_equal(got, frame, len, "TX"))
		TH_LOG("frame %#x: %zd bytes", seed, n);
	ASSERT_LE(0, net_tx_reap(e, 1));
}

/* Inject a frame; receive frames (older ones first) until it arrives. */
static void rx_check_seed(struct __test_metadata *_metadata, struct net_env *e,
			  size_t len, uint32_t seed)
{
	unsigned int tries;
	ssize_t n;

	ASSERT_LE(0, net_rx_post(e, 48, 2048, 1, 0));
	frame_build(frame, len, NULL, seed);
	ASSERT_LE(0, pkt_send(e->pkt_fd, frame, len, NULL));
	for (tries = 0; tries < 48; tries++) {
		n = net_rx_get(e, got, sizeof(got), NULL, WAIT_MS);
		ASSERT_TRUE(n > 0)
			TH_LOG("frame %#x not received (%s)", seed,
			       n ? strerror((int)-n) : "timeout");
		if (frame_seed(got) == seed)
			break;
	}
	ASSERT_TRUE(tries < 48)
		TH_LOG("frame %#x lost among older ones", seed);
	ASSERT_TRUE((size_t)n == len && bytes_equal(got, frame, len, "RX"))
		TH_LOG("frame %#x: %zd bytes", seed, n);
}

/* Wait up to 5 s for link @name to go: a tap goes with its last file. */
static bool tap_gone(const char *name)
{
	unsigned int waited;

	for (waited = 0; waited < 5000; waited += 50) {
		if (!if_nametoindex(name))
			return true;
		usleep(50000);
	}
	return false;
}

#define CLOSE_ROUNDS	20

/*
 * Close the device with chains in flight both ways, again and again; each
 * time a new device takes the tap over and moves traffic both ways.  At
 * the end no closed device holds the tap: it goes once the test closes it.
 */
TEST(close_with_traffic)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP };
	unsigned int round, i;
	struct net_env e;

	ASSERT_LE(0, net_setup(&e, &cfg));
	for (round = 0; round < CLOSE_ROUNDS; round++) {
		ASSERT_LE(0, net_rx_post(&e, 32, 2048, 1, 0));
		for (i = 0; i < 16; i++) {
			frame_build(frame, 1000, NULL, round << 8 | i);
			ASSERT_LE(0, net_tx(&e, frame, 1000, NULL, 2, 0));
			ASSERT_LE(0, pkt_send(e.pkt_fd, frame, 1000, NULL));
		}
		/* Vary the moment: some rounds mid-burst. */
		if (round & 1)
			usleep(300 * round);
		vhxg_close(&e.dev);
		ASSERT_LE(0, net_setup_dev(&e));
		tx_check_seed(_metadata, &e, 200, 0xc1050000 | round);
		rx_check_seed(_metadata, &e, 300, 0xc1060000 | round);
	}
	vhxg_close(&e.dev);
	close(e.tap_fd);
	ASSERT_TRUE(tap_gone(e.ifname))
		TH_LOG("tap %s still there 5 s after its last "
		       "device was closed", e.ifname);
}

/* Worker threads of vhx-net devices owned by @owner ("vhx-net-PID.N"). */
static int net_workers(pid_t owner)
{
	char prefix[32], path[300], comm[64];
	struct dirent *de;
	size_t plen;
	int n = 0, fd;
	ssize_t len;
	DIR *d;

	plen = snprintf(prefix, sizeof(prefix), "vhx-net-%d", (int)owner);
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		len = read(fd, comm, sizeof(comm) - 1);
		close(fd);
		if (len <= 0)
			continue;
		comm[len] = '\0';
		if (!strncmp(comm, prefix, plen) &&
		    (comm[plen] == '.' || comm[plen] == '\n' || !comm[plen]))
			n++;
	}
	closedir(d);
	return n;
}

/* The child of kill_owner: own a device, report its tap, never stop. */
static void traffic_child(int wfd)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP };
	char name[IFNAMSIZ] = "";
	struct net_env e;
	uint32_t i;

	if (!net_setup(&e, &cfg) && !net_rx_post(&e, 128, 2048, 1, 0))
		memcpy(name, e.ifname, IFNAMSIZ);
	if (write(wfd, name, IFNAMSIZ) != IFNAMSIZ || !name[0])
		_exit(1);
	for (i = 0;; i++) {
		frame_build(frame, 1000, NULL, i);
		if (net_tx(&e, frame, 1000, NULL, 2, 0) == -ENOSPC)
			usleep(100);
		pkt_send(e.pkt_fd, frame, 1000, NULL);
	}
}

#define KILL_ROUNDS	6

/*
 * SIGKILL of the owner with traffic in flight both ways: the device goes
 * with the process (vhx: its workers too), it lets go of the tap (a tap
 * nobody holds disappears), and a new device works.
 */
TEST(kill_owner)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP };
	unsigned int round, waited;
	struct net_env e;

	for (round = 0; round < KILL_ROUNDS; round++) {
		char name[IFNAMSIZ];
		struct pollfd p;
		int pfd[2], status;
		pid_t pid;

		ASSERT_TRUE(!pipe(pfd))
			TH_LOG("pipe");
		pid = fork();
		ASSERT_TRUE(pid >= 0)
			TH_LOG("fork");
		if (!pid) {
			close(pfd[0]);
			traffic_child(pfd[1]);
		}
		close(pfd[1]);
		p = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
		if (poll(&p, 1, WAIT_MS) != 1 ||
		    read(pfd[0], name, IFNAMSIZ) != IFNAMSIZ)
			name[0] = '\0';
		close(pfd[0]);
		/* Let the traffic run a while, longer each round. */
		usleep(20000 * (round + 1));
		kill(pid, SIGKILL);
		ASSERT_TRUE(waitpid(pid, &status, 0) == pid)
			TH_LOG("waitpid");
		ASSERT_TRUE(name[0])
			TH_LOG("round %u: child could not set up", round);
		ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			TH_LOG("round %u: child status %#x", round, status);
		ASSERT_TRUE(tap_gone(name))
			TH_LOG("round %u: tap %s still there 5 s "
			       "after its owner died", round, name);
		for (waited = 0; waited < 5000; waited += 50) {
			if (!test_dev_is_vhx() || !net_workers(pid))
				break;
			usleep(50000);
		}
		ASSERT_TRUE(!test_dev_is_vhx() || !net_workers(pid))
			TH_LOG("round %u: %d workers of %d left", round,
			       net_workers(pid), (int)pid);
	}
	ASSERT_LE(0, net_setup(&e, &cfg));
	net_tx_check(_metadata, &e, 200, 0xdead);
	ASSERT_LE(0, net_rx_post(&e, 8, 2048, 1, 0));
	net_rx_check(_metadata, &e, 300, 0xdeae);
}

TEST(reset_owner)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG | EIDX,
			       .hdr = HDR_TAP };
	struct net_env e;

	ASSERT_LE(0, net_setup(&e, &cfg));
	ASSERT_LE(0, net_rx_post(&e, 8, 2048, 1, 0));
	net_tx_check(_metadata, &e, 300, 1);
	net_rx_check(_metadata, &e, 300, 2);
	net_reset_and_verify(_metadata, &e);
	/* And once more, from a device that was reset before. */
	net_reset_and_verify(_metadata, &e);
}

/* Two device fds on the two queues of one multiqueue tap. */
TEST(two_queue_pairs)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP };
	unsigned int seen[2] = { 0 }, q, i, n = 16, rx[2] = { 0 };
	static struct vhxg_arena arena;
	struct net_env e[2];
	char ifname[IFNAMSIZ];
	int fd[2];

	ASSERT_LE(0, vhxg_arena_init(&arena, 64 << 20));
	cfg.arena = &arena;
	fd[0] = tap_open(ifname, NULL, IFF_MULTI_QUEUE | IFF_VNET_HDR);
	ASSERT_LE(0, fd[0]);
	fd[1] = tap_open(ifname, ifname, IFF_MULTI_QUEUE | IFF_VNET_HDR);
	ASSERT_LE(0, fd[1]);
	ASSERT_LE(0, netif_prepare(ifname));
	for (q = 0; q < 2; q++) {
		ASSERT_LE(0, tap_set_hdr_sz(fd[q], 12));
		cfg.backend_fd = fd[q];
		cfg.ifname = ifname;
		ASSERT_LE(0, net_setup(&e[q], &cfg));
	}
	/* One AF_PACKET socket sees the link for both. */
	close(e[1].pkt_fd);
	e[1].pkt_fd = e[0].pkt_fd;

	/* TX: both queues at once, all frames out, each exactly once. */
	for (i = 0; i < n; i++) {
		for (q = 0; q < 2; q++) {
			frame_build(frame, 200, NULL, q << 16 | i);
			ASSERT_LE(0, net_tx(&e[q], frame, 200, NULL, 1, 0));
		}
	}
	for (i = 0; i < 2 * n; i++) {
		uint32_t seed;

		ASSERT_TRUE(pkt_recv(e[0].pkt_fd, got, sizeof(got), WAIT_MS,
				     TEST_ETHERTYPE, NULL) == 200)
			TH_LOG("TX frame %u of %u missing", i + 1, 2 * n);
		seed = frame_seed(got);
		q = seed >> 16;
		ASSERT_TRUE(q < 2 && (seed & 0xffff) == seen[q])
			TH_LOG("frame seed %#x out of order", seed);
		frame_build(frame, 200, NULL, seed);
		ASSERT_TRUE(bytes_equal(got, frame, 200, "TX frame"))
			TH_LOG("mq");
		seen[q]++;
	}
	for (q = 0; q < 2; q++) {
		ASSERT_LE(0, net_tx_reap(&e[q], n));
	}

	/*
	 * RX: the tap steers a flow to the queue that last sent it, so
	 * send on one queue, inject, then the other.
	 */
	for (q = 0; q < 2; q++) {
		ASSERT_LE(0, net_rx_post(&e[q], 32, 2048, 1, 0));
	}
	for (i = 0; i < 8; i++) {
		q = i & 1;
		unsigned int tries;

		net_tx_check(_metadata, &e[q], 80, 0x9000 + i);
		frame_build(frame, 300, NULL, 0x7000 + i);
		ASSERT_LE(0, pkt_send(e[q].pkt_fd, frame, 300, NULL));
		for (tries = 0; tries < 100; tries++) {
			if (net_rx_get(&e[0], got, sizeof(got), NULL, 0) > 0) {
				rx[0]++;
				break;
			}
			if (net_rx_get(&e[1], got, sizeof(got), NULL, 50) > 0) {
				rx[1]++;
				break;
			}
		}
		ASSERT_TRUE(tries < 100)
			TH_LOG("RX frame %u reached no queue", i);
		ASSERT_TRUE(bytes_equal(got, frame, 300, "RX frame"))
			TH_LOG("mq rx");
	}
	TH_LOG("RX frames per queue: %u %u", rx[0], rx[1]);
	ASSERT_TRUE(rx[0] && rx[1])
		TH_LOG("one queue received nothing");
}

/* Both directions at once, pipelined, with busy polling on or off. */
static void bidir(struct __test_metadata *_metadata, bool busyloop)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG | EIDX,
			       .hdr = HDR_TAP, .num = 64 };
	unsigned int batch, i, n = 16;
	struct net_env e;
	ssize_t r;

	ASSERT_LE(0, net_setup(&e, &cfg));
	if (busyloop) {
		struct vhost_vring_state s = { .num = 50 };

		for (s.index = 0; s.index < 2; s.index++) {
			ASSERT_LE(0, vhxg_ioctl(&e.dev,
						VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &s));
		}
	}
	ASSERT_LE(0, net_rx_post(&e, 32, 2048, 1, 0));
	for (batch = 0; batch < 12; batch++) {
		for (i = 0; i < n; i++) {
			uint32_t seed = batch << 8 | i;

			frame_build(frame, 100 + i * 80, NULL, seed);
			ASSERT_LE(0, net_tx(&e, frame, 100 + i * 80, NULL, 2,
					    0));
			frame_build(frame, 1400 - i * 80, NULL, seed | 1 << 20);
			ASSERT_LE(0, pkt_send(e.pkt_fd, frame, 1400 - i * 80,
					      NULL));
		}
		for (i = 0; i < n; i++) {
			uint32_t seed = batch << 8 | i;

			frame_build(frame, 100 + i * 80, NULL, seed);
			net_expect_frame(_metadata, &e, frame, 100 + i * 80);
			frame_build(frame, 1400 - i * 80, NULL, seed | 1 << 20);
			r = net_rx_get(&e, got, sizeof(got), NULL, WAIT_MS);
			ASSERT_TRUE(r == 1400 - i * 80)
				TH_LOG("RX %u.%u: %zd bytes",
				       batch, i, r);
			ASSERT_TRUE(bytes_equal(got, frame, r, "RX frame"))
				TH_LOG("RX %u.%u", batch, i);
		}
		ASSERT_LE(0, net_tx_reap(&e, n));
		ASSERT_LE(0, net_rx_post(&e, n, 2048, 1, 0));
	}
}

TEST(bidir_pipelined)
{
	bidir(_metadata, false);
}

TEST(bidir_busyloop)
{
	bidir(_metadata, true);
}

/* New kick and call eventfds take over from the old ones while running. */
TEST(eventfd_swap)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	struct net_env e;
	int old_kick, old_call;

	ASSERT_LE(0, net_setup(&e, &cfg));
	net_tx_check(_metadata, &e, 80, 0);
	old_kick = e.tx->kick_fd;
	old_call = e.tx->call_fd;
	e.tx->kick_fd = eventfd_for_test();
	e.tx->call_fd = eventfd_for_test();
	ASSERT_LE(0, vhxg_set_vring_fd(&e.dev, VHOST_SET_VRING_KICK, TXQ,
				       e.tx->kick_fd));
	ASSERT_LE(0, vhxg_set_vring_fd(&e.dev, VHOST_SET_VRING_CALL, TXQ,
				       e.tx->call_fd));
	while (vhxg_wait_fd(old_call, 100) > 0)
		;
	/* A kick on the old eventfd must not move the queue. */
	frame_build(frame, 90, NULL, 1);
	ASSERT_LE(0, vhxg_vq_add(e.tx, &(struct vhxg_buf){ e.tx_slots,
				 12 + 90 },
				 1, NULL, 0, 0));
	memset(e.tx_slots, 0, 12);
	memcpy(e.tx_slots + 12, frame, 90);
	vhxg_vq_publish(e.tx);
	{
		uint64_t one = 1;

		ASSERT_TRUE(write(old_kick, &one, 8) == 8)
			TH_LOG("write");
	}
	{
		uint16_t used = e.tx->used->idx;

		net_expect_silence(_metadata, &e);
		late_silence(_metadata, &e);
		ASSERT_TRUE(e.tx->used->idx == used)
			TH_LOG("old kick moved used idx "
			       "from %u to %u", used, e.tx->used->idx);
	}
	ASSERT_LE(0, vhxg_vq_kick_force(e.tx));
	net_expect_frame(_metadata, &e, frame, 90);
	ASSERT_TRUE(vhxg_vq_wait_call(e.tx, WAIT_MS) == 1)
		TH_LOG("no call on new fd");
	ASSERT_TRUE(vhxg_wait_fd(old_call, 0) == 0)
		TH_LOG("call on the old fd");
	close(old_kick);
	close(old_call);
}

/* ---- notification suppression -------------------------------------------- */

/* Send one TX frame and wait for its used entry without touching calls. */
static void tx_one_quiet(struct __test_metadata *_metadata, struct net_env *e,
			 uint32_t seed)
{
	uint16_t want = e->tx->used->idx + 1;

	frame_build(frame, 80, NULL, seed);
	ASSERT_LE(0, net_tx(e, frame, 80, NULL, 1, 0));
	net_expect_frame(_metadata, e, frame, 80);
	ASSERT_TRUE(net_wait_used_idx(e->tx, want, WAIT_MS))
		TH_LOG("no used entry");
}

TEST(event_idx_used_event)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | EIDX,
			       .hdr = HDR_TAP };
	struct net_env e;
	uint16_t u0;
	int ret;

	ASSERT_LE(0, net_setup(&e, &cfg));
	/* The first signal after setup may always come: warm up. */
	net_tx_check(_metadata, &e, 80, 0);
	while (vhxg_vq_wait_call(e.tx, 100) > 0)
		;
	u0 = e.tx->last_used;
	vhxg_vq_set_used_event(e.tx, u0 + 2);
	tx_one_quiet(_metadata, &e, 1);
	ret = vhxg_vq_wait_call(e.tx, QUIET_MS);
	ASSERT_TRUE(ret == 0)
		TH_LOG("call at used idx %u, used_event %u", u0 + 1,
		       u0 + 2);
	tx_one_quiet(_metadata, &e, 2);
	no_call(_metadata, e.tx, "call at used idx u0 + 2, used_event u0 + 2");
	tx_one_quiet(_metadata, &e, 3);
	ret = vhxg_vq_wait_call(e.tx, WAIT_MS);
	ASSERT_TRUE(ret == 1)
		TH_LOG("no call when used idx passed used_event");
	/* The device asks to be kicked at the next entry, once idle. */
	usleep(100000);
	ASSERT_TRUE(vhxg_vq_avail_event(e.tx) == e.tx->avail_idx)
		TH_LOG("avail_event %u, avail idx %u", vhxg_vq_avail_event(e.tx),
		       e.tx->avail_idx);
}

TEST(event_idx_rx_used_event)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | EIDX | MRG,
			       .hdr = HDR_TAP };
	struct net_env e;
	unsigned int i;
	uint16_t u0;

	ASSERT_LE(0, net_setup(&e, &cfg));
	ASSERT_LE(0, net_rx_post(&e, 16, 2048, 1, 0));
	net_rx_check(_metadata, &e, 80, 0);
	while (vhxg_vq_wait_call(e.rx, 100) > 0)
		;
	u0 = e.rx->last_used;
	vhxg_vq_set_used_event(e.rx, u0 + 3);
	for (i = 1; i <= 4; i++) {
		frame_build(frame, 90, NULL, i);
		ASSERT_LE(0, pkt_send(e.pkt_fd, frame, 90, NULL));
		ASSERT_TRUE(net_wait_used_idx(e.rx, u0 + i, WAIT_MS))
			TH_LOG("frame %u not received", i);
		ASSERT_TRUE(vhxg_vq_wait_call(e.rx, i < 3 ? QUIET_MS :
					      i == 3 ? QUIET_MS + LATE_MS :
					      WAIT_MS) == (i == 4))
			TH_LOG("call after frame %u: used_event %u", i, u0 + 3);
	}
}

TEST(no_interrupt_flag)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	struct net_env e;

	ASSERT_LE(0, net_setup(&e, &cfg));
	net_tx_check(_metadata, &e, 80, 0);
	while (vhxg_vq_wait_call(e.tx, 100) > 0)
		;
	vhxg_vq_set_avail_flags(e.tx, VRING_AVAIL_F_NO_INTERRUPT);
	tx_one_quiet(_metadata, &e, 1);
	no_call(_metadata, e.tx, "call despite VRING_AVAIL_F_NO_INTERRUPT");
	vhxg_vq_set_avail_flags(e.tx, 0);
	tx_one_quiet(_metadata, &e, 2);
	ASSERT_TRUE(vhxg_vq_wait_call(e.tx, WAIT_MS) == 1)
		TH_LOG("no call with interrupts enabled");
	/* Idle device wants kicks. */
	usleep(100000);
	ASSERT_TRUE(!(e.tx->used->flags & VRING_USED_F_NO_NOTIFY))
		TH_LOG("idle device left VRING_USED_F_NO_NOTIFY set");
}

TEST(notify_on_empty)
{
	struct net_cfg cfg = { .features = BASE_FEATURES |
					   F(VIRTIO_F_NOTIFY_ON_EMPTY),
			       .hdr = HDR_TAP };
	struct net_env e;

	ASSERT_LE(0, net_setup(&e, &cfg));
	net_tx_check(_metadata, &e, 80, 0);
	while (vhxg_vq_wait_call(e.tx, 100) > 0)
		;
	vhxg_vq_set_avail_flags(e.tx, VRING_AVAIL_F_NO_INTERRUPT);
	tx_one_quiet(_metadata, &e, 1);
	ASSERT_TRUE(vhxg_vq_wait_call(e.tx, WAIT_MS) == 1)
		TH_LOG("no call when the ring ran empty (NOTIFY_ON_EMPTY)");
}

/* ---- memory table -------------------------------------------------------- */

#define NREG		32
#define SLOT		8192		/* host bytes set aside per region */
#define MANY_GPA	0x10000000000ULL	/* guest address of region 0 */

/*
 * Guest memory in NREG regions, contiguous in guest addresses, each mapped
 * on its own in the host: in a scrambled order, with an unmapped hole of
 * SLOT bytes around every region, some regions only 512 bytes long and not
 * page aligned.  A device that translates a buffer's start address and
 * then copies on contiguously reads the wrong bytes or faults.
 */
struct many {
	uint8_t *map;			/* 2 * NREG * SLOT reserved */
	uint8_t *host[NREG];
	uint64_t gpa[NREG + 1];		/* gpa[NREG]: the end */
	uint32_t size[NREG];
};

static void many_init(struct __test_metadata *_metadata, struct many *m)
{
	unsigned int i;

	m->map = mmap(NULL, 2 * NREG * SLOT, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(m->map != MAP_FAILED)
		TH_LOG("mmap: %s", strerror(errno));
	m->gpa[0] = MANY_GPA;
	for (i = 0; i < NREG; i++) {
		uint8_t *slot = m->map + (2 * ((i * 13 + 5) % NREG) + 1) * SLOT;

		ASSERT_TRUE(!mprotect(slot, SLOT, PROT_READ | PROT_WRITE))
			TH_LOG("mprotect: %s", strerror(errno));
		net_fill_canary(slot, SLOT);
		m->size[i] = i % 4 == 2 ? 512 : SLOT;
		m->host[i] = slot + (m->size[i] < SLOT ? 1000 : 0);
		m->gpa[i + 1] = m->gpa[i] + m->size[i];
	}
}

/* Copy between guest address @gpa and @buf, region by region. */
static void many_copy(struct many *m, uint64_t gpa, void *buf, size_t len,
		      bool to_guest)
{
	uint8_t *p = buf;
	unsigned int i;

	for (i = 0; i < NREG && len; i++) {
		uint64_t off, n;

		if (gpa < m->gpa[i] || gpa >= m->gpa[i + 1])
			continue;
		off = gpa - m->gpa[i];
		n = m->size[i] - off < len ? m->size[i] - off : len;
		if (to_guest)
			memcpy(m->host[i] + off, p, n);
		else
			memcpy(p, m->host[i] + off, n);
		p += n;
		gpa += n;
		len -= n;
	}
}

/* Every host byte of the slots outside the regions is still canary. */
static bool many_slack_intact(struct many *m)
{
	unsigned int i;

	for (i = 0; i < NREG; i++) {
		uint8_t *slot = m->map + (2 * ((i * 13 + 5) % NREG) + 1) * SLOT;
		size_t head = m->host[i] - slot;

		if (!net_canary_intact(slot, head, "before a region") ||
		    !net_canary_intact(m->host[i] + m->size[i],
				       SLOT - head - m->size[i],
				       "after a region"))
			return false;
	}
	return true;
}

/*
 * The arena (rings, RX buffers of the final check) as one identity region
 * plus the NREG regions, in the table in no particular order; buffers that
 * straddle region boundaries, some across three regions, both ways, every
 * byte compared.
 */
TEST(mem_many_regions)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_VHOST };
	static uint8_t buf[2048], tmp[2048];
	struct vhost_memory_region r[NREG + 1];
	static struct many m;
	uint64_t rx_gpa[8];
	uint16_t rx_id[8];
	unsigned int i, k;
	struct net_env e;

	ASSERT_LE(0, net_setup(&e, &cfg));
	many_init(_metadata, &m);
	ASSERT_TRUE((uintptr_t)e.arena->base + e.arena->size <= MANY_GPA ||
		    (uintptr_t)e.arena->base >= m.gpa[NREG])
		TH_LOG("the arena overlaps the regions' guest addresses");
	/* Unsorted: odd regions downwards, the arena, even ones upwards. */
	for (i = 0, k = 0; i < NREG; i++) {
		unsigned int j = i < NREG / 2 ? NREG - 1 - 2 * i :
				 2 * (i - NREG / 2);

		r[k++] = (struct vhost_memory_region){
			.guest_phys_addr = m.gpa[j],
			.userspace_addr = (uintptr_t)m.host[j],
			.memory_size = m.size[j],
		};
		if (i == NREG / 2 - 1)
			r[k++] = (struct vhost_memory_region){
				.guest_phys_addr = (uintptr_t)e.arena->base,
				.userspace_addr = (uintptr_t)e.arena->base,
				.memory_size = e.arena->size,
			};
	}
	ASSERT_LE(0, vhxg_set_mem_table(&e.dev, r, NREG + 1));

	/* TX: header and frame from 700 bytes before a region's start. */
	for (i = 1; i < NREG - 1; i += 2) {
		uint64_t addr = m.gpa[i] - 700;
		uint32_t len = 12 + 1514;

		memset(buf, 0, 12);
		frame_build(buf + 12, 1514, NULL, 0x3300 + i);
		many_copy(&m, addr, buf, len, true);
		ASSERT_LE(0, net_tx_raw(&e, &addr, &len, 1));
		net_expect_frame(_metadata, &e, buf + 12, 1514);
		ASSERT_LE(0, net_tx_reap(&e, 1));
	}

	/* RX: 2048-byte buffers from 300 bytes before a region's start. */
	for (k = 0; k < 8; k++) {
		int ret;

		rx_gpa[k] = m.gpa[4 * k + 1 + k % 3] - 300;
		ret = vhxg_vq_take_chain(e.rx, 1, &rx_id[k]);
		ASSERT_TRUE(ret >= 0)
			TH_LOG("RX ring full");
		vhxg_vq_put_desc(e.rx, rx_id[k], rx_gpa[k], 2048,
				 VRING_DESC_F_WRITE, 0);
		vhxg_vq_put_avail(e.rx, rx_id[k]);
	}
	vhxg_vq_publish(e.rx);
	ASSERT_LE(0, vhxg_vq_kick_force(e.rx));
	for (k = 0; k < 8; k++) {
		struct virtio_net_hdr_mrg_rxbuf vh;
		size_t len = 1514 - 97 * k;
		struct vhxg_used u;

		frame_build(frame, len, NULL, 0x4400 + k);
		ASSERT_LE(0, pkt_send(e.pkt_fd, frame, len, NULL));
		ASSERT_TRUE(vhxg_vq_wait_used(e.rx, WAIT_MS) == 1)
			TH_LOG("RX frame %u not received", k);
		vhxg_vq_reap(e.rx, &u, 1);
		ASSERT_TRUE(u.id == rx_id[k] && u.len == 12 + len)
			TH_LOG("RX %u: used id %u len %u, want %u and %zu", k, u.id,
			       u.len, rx_id[k], 12 + len);
		many_copy(&m, rx_gpa[k], tmp, 2048, false);
		memcpy(&vh, tmp, sizeof(vh));
		ASSERT_TRUE(vh.num_buffers == 1)
			TH_LOG("RX %u: num_buffers %u", k,
			       vh.num_buffers);
		ASSERT_TRUE(bytes_equal(tmp + 12, frame, len, "RX across regions"))
			TH_LOG("RX %u", k);
	}
	ASSERT_TRUE(many_slack_intact(&m))
		TH_LOG("device wrote outside the regions");
	ASSERT_LE(0, net_rx_post(&e, 8, 2048, 1, 0));
	net_rx_check(_metadata, &e, 1514, 99);
}

/* Guest addresses that are not the process's: only the table maps them. */
TEST(mem_non_identity)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_VHOST };
	const uint64_t gpa = 0x100000000ULL;
	struct vhost_memory_region r;
	struct net_env e;
	uint64_t addr[2];
	uint32_t len[2];
	uint8_t *buf;

	ASSERT_LE(0, net_setup(&e, &cfg));
	r.guest_phys_addr = gpa;
	r.userspace_addr = (uintptr_t)e.arena->base;
	r.memory_size = e.arena->size;
	r.flags_padding = 0;
	ASSERT_LE(0, vhxg_set_mem_table(&e.dev, &r, 1));
	buf = vhxg_alloc(e.arena, 4096, 64);
	ASSERT_TRUE(buf)
		TH_LOG("arena full");
	memset(buf, 0, 12);
	frame_build(buf + 12, 1000, NULL, 5);
	addr[0] = gpa + (buf - e.arena->base);
	len[0] = 12 + 400;
	addr[1] = addr[0] + len[0];
	len[1] = 600;
	ASSERT_LE(0, net_tx_raw(&e, addr, len, 2));
	net_expect_frame(_metadata, &e, buf + 12, 1000);
	ASSERT_LE(0, net_tx_reap(&e, 1));
}

static int stats_of(struct net_env *e, unsigned int idx,
		    struct vhx_vring_stats *s)
{
	memset(s, 0xa5, sizeof(*s));
	s->index = idx;
	return vhxg_ioctl(&e->dev, VHX_GET_VRING_STATS, s);
}

/*
 * VHX_GET_VRING_STATS counts what the queues did: 10 frames sent (TX used
 * 10, used length 0 each) and 5 received (RX used 5, used lengths of
 * header and frame), kicks on TX, handler runs and calls on both.
 */
TEST(vring_stats)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP, .num = 64 };
	struct vhx_vring_stats rx, tx;
	uint64_t rx_bytes = 0;
	unsigned int i;
	struct net_env e;

	if (!test_dev_is_vhx())
		SKIP(return, "VHX_GET_VRING_STATS is vhx's own");
	ASSERT_LE(0, net_setup(&e, &cfg));
	for (i = 0; i < 10; i++) {
		frame_build(frame, 100 + i, NULL, i);
		ASSERT_LE(0, net_tx(&e, frame, 100 + i, NULL, 1, 0));
		net_expect_frame(_metadata, &e, frame, 100 + i);
	}
	ASSERT_LE(0, net_tx_reap(&e, 10));
	ASSERT_LE(0, net_rx_post(&e, 8, 2048, 1, 0));
	for (i = 0; i < 5; i++) {
		net_rx_check(_metadata, &e, 200 + i, i);
		rx_bytes += e.hdr_len + 200 + i;
	}
	ASSERT_LE(0, stats_of(&e, 0, &rx));
	ASSERT_LE(0, stats_of(&e, 1, &tx));
	TH_LOG("rx: kicks %llu runs %llu used %llu bytes %llu calls %llu; "
	       "tx: kicks %llu runs %llu used %llu bytes %llu calls %llu",
	       (unsigned long long)rx.kicks, (unsigned long long)rx.runs,
	       (unsigned long long)rx.used, (unsigned long long)rx.used_bytes,
	       (unsigned long long)rx.calls, (unsigned long long)tx.kicks,
	       (unsigned long long)tx.runs, (unsigned long long)tx.used,
	       (unsigned long long)tx.used_bytes,
	       (unsigned long long)tx.calls);
	ASSERT_TRUE(tx.used == 10 && tx.used_bytes == 0)
		TH_LOG("tx used %llu",
		       (unsigned long long)tx.used);
	ASSERT_TRUE(rx.used == 5 && rx.used_bytes == rx_bytes)
		TH_LOG("rx used %llu, %llu bytes, want 5, %llu",
		       (unsigned long long)rx.used,
		       (unsigned long long)rx.used_bytes,
		       (unsigned long long)rx_bytes);
	/* RX runs on the tap's wakeups: it may never need a kick. */
	ASSERT_TRUE(tx.kicks >= 1 && tx.kicks <= 10 && tx.runs >= 1 &&
		    tx.calls >= 1 && rx.runs >= 1 && rx.calls >= 1)
		TH_LOG("a counter that did not count");
	ASSERT_TRUE(!tx.padding && !tx.reserved[0] && !tx.reserved[2])
		TH_LOG("padding not zeroed");
	ASSERT_TRUE(stats_of(&e, 2, &tx) == -ENOBUFS)
		TH_LOG("queue 2 of 2");
}


VHX_TEST_MAIN("/dev/vhx-net")
