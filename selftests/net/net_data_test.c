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

#include "common.h"

static const size_t sizes[] = { 60, 61, 64, 100, 127, 128, 256, 511, 1000,
				1499, 1514 };

static uint8_t frame[MAX_FRAME], got[MAX_FRAME];

/* A second, longer look after a quiet wait, for late misbehaviour. */
#define LATE_MS		1000

/* No test frame came out of the link in the last LATE_MS either. */
static int late_silence(struct net_env *e)
{
	ssize_t n;

	usleep(LATE_MS * 1000);
	n = pkt_recv(e->pkt_fd, got, sizeof(got), 1, TEST_ETHERTYPE, NULL);
	KT_ASSERT(n == 0, "late: a frame of %zd bytes (seed %#x) came out", n,
		  n > 0 ? frame_seed(got) : 0);
	return KT_PASS;
}

/* No call within QUIET_MS, and none in a longer wait after that. */
static int no_call(struct vhxg_vq *vq, const char *what)
{
	KT_ASSERT(vhxg_vq_wait_call(vq, QUIET_MS) == 0, "%s", what);
	KT_ASSERT(vhxg_vq_wait_call(vq, LATE_MS) == 0, "late: %s", what);
	return KT_PASS;
}

/* ---- TX ------------------------------------------------------------------ */

static int tx_sizes(enum hdr_mode hdr, uint64_t features, unsigned int flags)
{
	struct net_cfg cfg = { .features = features, .hdr = hdr };
	unsigned int split;
	struct net_env e;
	size_t i;

	KT_OK(net_setup(&e, &cfg));
	for (split = 1; split <= 3; split++) {
		for (i = 0; i < KT_ARRAY_SIZE(sizes); i++) {
			uint32_t seed = split << 8 | i;

			frame_build(frame, sizes[i], NULL, seed);
			KT_OK(net_tx(&e, frame, sizes[i], NULL, split, flags));
			KT_RUN(net_expect_frame(&e, frame, sizes[i]));
			KT_OK(net_tx_reap(&e, 1));
		}
	}
	return KT_PASS;
}

static int tx_tap_hdr(void)
{
	return tx_sizes(HDR_TAP, BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF), 0);
}

static int tx_vhost_hdr(void)
{
	return tx_sizes(HDR_VHOST, BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF),
			0);
}

static int tx_legacy_hdr(void)
{
	/* Neither VERSION_1 nor MRG_RXBUF: the 10-byte header. */
	return tx_sizes(HDR_VHOST, 0, 0);
}

static int tx_indirect(void)
{
	return tx_sizes(HDR_TAP, BASE_FEATURES |
			F(VIRTIO_RING_F_INDIRECT_DESC), VHXG_ADD_INDIRECT);
}

/* Header and frame cut in up to 16 pieces, the header itself split. */
static int tx_scattered(void)
{
	static const enum hdr_mode modes[] = { HDR_TAP, HDR_VHOST };
	static const size_t lens[] = { 60, 1514 };
	unsigned int m, split;
	size_t i;

	for (m = 0; m < 2; m++) {
		struct net_cfg cfg = { .features = BASE_FEATURES,
				       .hdr = modes[m] };
		struct net_env e;

		KT_OK(net_setup(&e, &cfg));
		for (split = 2; split <= 16; split++) {
			for (i = 0; i < 2; i++) {
				frame_build(frame, lens[i], NULL, split);
				KT_OK(net_tx(&e, frame, lens[i], NULL, split,
					     0));
				KT_RUN(net_expect_frame(&e, frame, lens[i]));
				KT_OK(net_tx_reap(&e, 1));
			}
		}
	}
	return KT_PASS;
}

/* Many frames in batches through a small ring: wraps idx many times. */
static int tx_burst(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP,
			       .num = 64 };
	unsigned int batch, i, n = 24;
	struct net_env e;

	KT_OK(net_setup(&e, &cfg));
	for (batch = 0; batch < 20; batch++) {
		for (i = 0; i < n; i++) {
			frame_build(frame, 60 + i * 50, NULL, batch << 8 | i);
			KT_OK(net_tx(&e, frame, 60 + i * 50, NULL, 1 + i % 3,
				     0));
		}
		for (i = 0; i < n; i++) {
			frame_build(frame, 60 + i * 50, NULL, batch << 8 | i);
			KT_RUN(net_expect_frame(&e, frame, 60 + i * 50));
		}
		KT_OK(net_tx_reap(&e, n));
	}
	KT_ASSERT(e.tx->used->idx == 20 * n, "used idx %u", e.tx->used->idx);
	return KT_PASS;
}

/* Rings of 1 and 2 entries, and a ring of 64 filled completely. */
static int tx_ring_edges(void)
{
	static const unsigned int nums[] = { 1, 2, 64 };
	unsigned int k, i;

	for (k = 0; k < KT_ARRAY_SIZE(nums); k++) {
		struct net_cfg cfg = { .features = BASE_FEATURES,
				       .hdr = HDR_TAP, .num = nums[k] };
		unsigned int n = nums[k], round;
		struct net_env e;

		KT_OK(net_setup(&e, &cfg));
		for (round = 0; round < 3; round++) {
			/* Fill the ring before the device sees anything. */
			for (i = 0; i < n; i++) {
				frame_build(frame, 64 + i, NULL,
					    round << 8 | i);
				KT_OK(net_tx(&e, frame, 64 + i, NULL, 1, 0));
			}
			KT_ASSERT(e.tx->num_free == 0, "ring not full");
			for (i = 0; i < n; i++) {
				frame_build(frame, 64 + i, NULL,
					    round << 8 | i);
				KT_RUN(net_expect_frame(&e, frame, 64 + i));
			}
			KT_OK(net_tx_reap(&e, n));
		}
	}
	return KT_PASS;
}

/* ---- RX ------------------------------------------------------------------ */

struct rx_case {
	uint64_t features;
	enum hdr_mode hdr;
	uint32_t buflen;
	unsigned int ndesc;
	unsigned int flags;
	int mtu;
	const size_t *lens;
	size_t nlens;
};

static int rx_one(struct net_env *e, const struct rx_case *c, size_t len,
		  uint32_t seed)
{
	bool mrg = c->features & F(VIRTIO_NET_F_MRG_RXBUF);
	struct virtio_net_hdr_mrg_rxbuf vh;
	size_t total = e->hdr_len + len;
	unsigned int want_bufs;
	ssize_t n;

	frame_build(frame, len, NULL, seed);
	KT_OK(pkt_send(e->pkt_fd, frame, len, NULL));
	n = net_rx_get(e, got, sizeof(got), &vh, WAIT_MS);
	KT_ASSERT(n > 0, "no RX frame of %zu bytes (%s)", len,
		  n ? strerror((int)-n) : "timeout");
	KT_ASSERT((size_t)n == len, "RX frame %zd bytes, want %zu", n, len);
	KT_ASSERT(bytes_equal(got, frame, len, "RX frame"), "len %zu", len);
	want_bufs = mrg ? (total + c->buflen - 1) / c->buflen : 1;
	KT_ASSERT(e->rx_nused == want_bufs, "%u used entries, want %u",
		  e->rx_nused, want_bufs);
	if (mrg)
		KT_ASSERT(vh.num_buffers == want_bufs,
			  "num_buffers %u, want %u", vh.num_buffers,
			  want_bufs);
	/* The last entry holds what the others did not. */
	KT_ASSERT(e->rx_last_len == total - (want_bufs - 1) * c->buflen,
		  "last used len %u (frame %zu, header %zu)", e->rx_last_len,
		  len, e->hdr_len);
	if (e->hdr_len)
		KT_ASSERT(vh.hdr.flags == 0 &&
			  vh.hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE,
			  "header flags %#x gso_type %#x", vh.hdr.flags,
			  vh.hdr.gso_type);
	return KT_PASS;
}

static int rx_run(const struct rx_case *c)
{
	struct net_cfg cfg = { .features = c->features, .hdr = c->hdr };
	const size_t *lens = c->lens ? c->lens : sizes;
	size_t n = c->lens ? c->nlens : KT_ARRAY_SIZE(sizes), i;
	unsigned int round;
	struct net_env e;

	KT_OK(net_setup(&e, &cfg));
	if (c->mtu)
		KT_OK(netif_set_mtu(e.ifname, c->mtu));
	for (round = 0; round < 2; round++) {
		unsigned int chains = e.rx->num_free;

		if (!(c->flags & VHXG_ADD_INDIRECT))
			chains /= c->ndesc;
		KT_OK(net_rx_post(&e, chains < 64 ? chains : 64, c->buflen,
				  c->ndesc, c->flags));
		for (i = 0; i < n; i++)
			KT_RUN(rx_one(&e, c, lens[i], round << 8 | i));
		/* Unused buffers stay posted; reap nothing more. */
		KT_ASSERT(!vhxg_vq_pending(e.rx), "%u stray used entries",
			  vhxg_vq_pending(e.rx));
	}
	return KT_PASS;
}

#define MRG	F(VIRTIO_NET_F_MRG_RXBUF)
#define EIDX	F(VIRTIO_RING_F_EVENT_IDX)
#define INDIR	F(VIRTIO_RING_F_INDIRECT_DESC)

static int rx_mrg_tap_hdr(void)
{
	return rx_run(&(struct rx_case){ BASE_FEATURES | MRG, HDR_TAP,
					 2048, 1, 0, 0, NULL, 0 });
}

static int rx_mrg_vhost_hdr(void)
{
	return rx_run(&(struct rx_case){ BASE_FEATURES | MRG, HDR_VHOST,
					 2048, 1, 0, 0, NULL, 0 });
}

static int rx_nomrg_tap_hdr(void)
{
	return rx_run(&(struct rx_case){ BASE_FEATURES, HDR_TAP,
					 1024, 2, 0, 0, NULL, 0 });
}

static int rx_nomrg_vhost_hdr(void)
{
	return rx_run(&(struct rx_case){ BASE_FEATURES, HDR_VHOST,
					 1024, 2, 0, 0, NULL, 0 });
}

static int rx_legacy_hdr(void)
{
	return rx_run(&(struct rx_case){ 0, HDR_VHOST, 1600, 1, 0, 0,
					 NULL, 0 });
}

static int rx_event_idx(void)
{
	return rx_run(&(struct rx_case){ BASE_FEATURES | MRG | EIDX, HDR_TAP,
					 2048, 1, 0, 0, NULL, 0 });
}

static int rx_indirect_mrg(void)
{
	return rx_run(&(struct rx_case){ BASE_FEATURES | MRG | INDIR,
					 HDR_TAP, 2048, 1, VHXG_ADD_INDIRECT,
					 0, NULL, 0 });
}

static int rx_indirect_nomrg(void)
{
	return rx_run(&(struct rx_case){ BASE_FEATURES | INDIR | EIDX,
					 HDR_VHOST, 512, 4, VHXG_ADD_INDIRECT,
					 0, NULL, 0 });
}

static const size_t big[] = { 1514, 1515, 2000, 4000, 8000, 9014 };

static int rx_big_mrg(void)
{
	return rx_run(&(struct rx_case){ BASE_FEATURES | MRG, HDR_TAP,
					 1024, 1, 0, 9000, big,
					 KT_ARRAY_SIZE(big) });
}

static int rx_big_mrg_vhost_hdr(void)
{
	return rx_run(&(struct rx_case){ BASE_FEATURES | MRG | EIDX,
					 HDR_VHOST, 1500, 1, 0, 9000, big,
					 KT_ARRAY_SIZE(big) });
}

static int rx_big_nomrg(void)
{
	return rx_run(&(struct rx_case){ BASE_FEATURES, HDR_TAP,
					 1024, 10, 0, 9000, big,
					 KT_ARRAY_SIZE(big) });
}

static int rx_big_nomrg_indirect(void)
{
	return rx_run(&(struct rx_case){ BASE_FEATURES | INDIR, HDR_VHOST,
					 1024, 10, VHXG_ADD_INDIRECT, 9000,
					 big, KT_ARRAY_SIZE(big) });
}

/* Many frames through a small ring, buffers reposted as they are used. */
static int rx_burst(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG | EIDX,
			       .hdr = HDR_TAP, .num = 32 };
	unsigned int i, n = 200;
	struct net_env e;

	KT_OK(net_setup(&e, &cfg));
	KT_OK(net_rx_post(&e, 32, 2048, 1, 0));
	for (i = 0; i < n; i++) {
		KT_RUN(net_rx_check(&e, 60 + (i * 37) % 1400, i));
		KT_OK(net_rx_post(&e, 1, 2048, 1, 0));
	}
	KT_ASSERT(e.rx->used->idx == n, "used idx %u, want %u",
		  e.rx->used->idx, n);
	return KT_PASS;
}

/* Frames wait in the tap until buffers are posted, then arrive in order. */
static int rx_late_buffers(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG | EIDX,
			       .hdr = HDR_TAP };
	struct net_env e;
	unsigned int i;
	ssize_t n;

	KT_OK(net_setup(&e, &cfg));
	for (i = 0; i < 3; i++) {
		frame_build(frame, 100 + i, NULL, i);
		KT_OK(pkt_send(e.pkt_fd, frame, 100 + i, NULL));
	}
	usleep(QUIET_MS * 1000);
	KT_OK(net_rx_post(&e, 8, 2048, 1, 0));
	for (i = 0; i < 3; i++) {
		frame_build(frame, 100 + i, NULL, i);
		n = net_rx_get(&e, got, sizeof(got), NULL, WAIT_MS);
		KT_ASSERT(n == 100 + i, "frame %u: %zd bytes", i, n);
		KT_ASSERT(bytes_equal(got, frame, n, "late RX"), "frame %u", i);
	}
	return KT_PASS;
}

/*
 * Without MRG_RXBUF a frame larger than the chain is dropped, the
 * buffer stays posted for the next frame that fits.
 */
static int rx_too_big_nomrg(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	struct net_env e;

	KT_OK(net_setup(&e, &cfg));
	KT_OK(net_rx_post(&e, 1, 512, 1, 0));
	frame_build(frame, 1000, NULL, 0xb16);
	KT_OK(pkt_send(e.pkt_fd, frame, 1000, NULL));
	usleep(QUIET_MS * 1000);
	if (!vhxg_vq_pending(e.rx))
		usleep(LATE_MS * 1000);
	if (vhxg_vq_pending(e.rx)) {
		struct vhxg_used u;

		vhxg_vq_reap(e.rx, &u, 1);
		kt_diag("1000-byte frame used a 512-byte chain: used len %u",
			u.len);
		if (u.id < e.rx->num && e.rx_slots[u.id].base)
			net_canary_intact(e.rx_slots[u.id].base + 512, 64,
					  "after the 512-byte RX buffer");
		return KT_FAIL;
	}
	KT_RUN(net_rx_check(&e, 300, 0x5a11));
	KT_ASSERT(e.rx->used->idx == 1, "used idx %u", e.rx->used->idx);
	return KT_PASS;
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

static int tx_offload(bool gso)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP, .pkt_vnet_hdr = true };
	struct virtio_net_hdr_mrg_rxbuf vh = { 0 };
	struct virtio_net_hdr rh;
	struct net_env e;
	size_t len;
	ssize_t n;

	KT_OK(net_setup(&e, &cfg));
	len = tcp4_frame(frame, gso ? 3000 : 500, 7);
	vh.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.hdr.csum_start = 34;
	vh.hdr.csum_offset = 16;
	if (gso) {
		vh.hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		vh.hdr.gso_size = 1000;
		vh.hdr.hdr_len = 54;
	}
	KT_OK(net_tx(&e, frame, len, &vh, 2, 0));
	n = pkt_recv(e.pkt_fd, got, sizeof(got), WAIT_MS, 0x0800, &rh);
	KT_ASSERT((size_t)n == len, "got %zd bytes, want %zu", n, len);
	KT_ASSERT(bytes_equal(got, frame, len, "TX frame"), "offload frame");
	KT_ASSERT(rh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM, "flags %#x",
		  rh.flags);
	KT_ASSERT(rh.csum_start == 34 && rh.csum_offset == 16,
		  "csum_start %u csum_offset %u", rh.csum_start,
		  rh.csum_offset);
	if (gso)
		KT_ASSERT(rh.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 &&
			  rh.gso_size == 1000, "gso_type %u gso_size %u",
			  rh.gso_type, rh.gso_size);
	else
		KT_ASSERT(rh.gso_type == VIRTIO_NET_HDR_GSO_NONE,
			  "gso_type %u", rh.gso_type);
	KT_OK(net_tx_reap(&e, 1));
	return KT_PASS;
}

static int tx_csum_offload(void)
{
	return tx_offload(false);
}

static int tx_gso_tcpv4(void)
{
	return tx_offload(true);
}

static int rx_gso_tcpv4(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP, .pkt_vnet_hdr = true };
	struct virtio_net_hdr_mrg_rxbuf rh;
	struct virtio_net_hdr vh = { 0 };
	struct net_env e;
	ssize_t n;
	size_t len;

	KT_OK(net_setup(&e, &cfg));
	KT_OK(net_rx_post(&e, 16, 1500, 1, 0));
	len = tcp4_frame(frame, 3000, 9);
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.csum_start = 34;
	vh.csum_offset = 16;
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	vh.gso_size = 1000;
	vh.hdr_len = 54;
	KT_OK(pkt_send(e.pkt_fd, frame, len, &vh));
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
			KT_ASSERT(vhxg_vq_wait_used(e.rx, WAIT_MS) == 1,
				  "buffer %zd of 3 missing", n + 1);
			vhxg_vq_reap(e.rx, &u, 1);
			KT_ASSERT(u.id < e.rx->num && e.rx_slots[u.id].base,
				  "used id %u never posted", u.id);
			s = &e.rx_slots[u.id];
			KT_ASSERT(u.len <= s->buflen &&
				  off + u.len <= sizeof(all),
				  "buffer %zd: used len %u", n + 1, u.len);
			KT_ASSERT(n == 2 || u.len == s->buflen,
				  "buffer %zd of 3 not filled: used len %u",
				  n + 1, u.len);
			memcpy(all + off, s->base, u.len);
			off += u.len;
			KT_ASSERT(net_canary_intact(s->base - 64, 64,
						    "before RX buffer") &&
				  net_canary_intact(s->base + s->buflen, 64,
						    "after RX buffer"),
				  "buffer %zd", n + 1);
			s->base = NULL;
		}
		memcpy(&rh, all, sizeof(rh));
		KT_ASSERT(rh.num_buffers == 3, "num_buffers %u", rh.num_buffers);
		KT_ASSERT(rh.hdr.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 &&
			  rh.hdr.gso_size == 1000, "gso_type %u gso_size %u",
			  rh.hdr.gso_type, rh.hdr.gso_size);
		KT_ASSERT(rh.hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM &&
			  rh.hdr.csum_start == 34 && rh.hdr.csum_offset == 16,
			  "flags %#x csum_start %u csum_offset %u",
			  rh.hdr.flags, rh.hdr.csum_start,
			  rh.hdr.csum_offset);
		KT_ASSERT(off == 12 + len, "%zu bytes in 3 buffers, want %zu",
			  off, 12 + len);
		KT_ASSERT(bytes_equal(all + 12, frame, len, "RX GSO frame"),
			  "3 buffers");
	}
	KT_ASSERT(vhxg_vq_wait_used(e.rx, QUIET_MS) == 0,
		  "a fourth buffer was used");
	return KT_PASS;
}

/* ---- macvtap ------------------------------------------------------------- */

static int macvtap_tx_rx(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP };
	struct macvtap m;
	struct net_env e;
	int fd;
	size_t i;

	if (access("/sys/module/macvtap", F_OK))
		return kt_skip("macvtap module not loaded");
	KT_OK(macvtap_create(&m));
	fd = macvtap_open(&m);
	KT_OK(fd);
	KT_OK(tap_set_hdr_sz(fd, 12));
	cfg.backend_fd = fd;
	cfg.ifname = m.peer;
	KT_OK(net_setup(&e, &cfg));
	e.rx_dst = m.mac;
	for (i = 0; i < KT_ARRAY_SIZE(sizes); i++)
		KT_RUN(net_tx_check(&e, sizes[i], 0x100 + i));
	KT_OK(net_rx_post(&e, 32, 2048, 1, 0));
	for (i = 0; i < KT_ARRAY_SIZE(sizes); i++)
		KT_RUN(net_rx_check(&e, sizes[i], 0x200 + i));
	return KT_PASS;
}

/* ---- lifecycle ----------------------------------------------------------- */

static int detach_reattach(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP };
	struct virtio_net_hdr_mrg_rxbuf vh;
	unsigned int base, i;
	struct net_env e;
	ssize_t n;

	KT_OK(net_setup(&e, &cfg));
	KT_OK(net_rx_post(&e, 16, 2048, 1, 0));
	for (i = 0; i < 5; i++)
		KT_RUN(net_tx_check(&e, 100 + i, i));
	for (i = 0; i < 3; i++)
		KT_RUN(net_rx_check(&e, 100 + i, 0x10 + i));

	KT_OK(net_attach(&e, -1));
	KT_OK(vhxg_get_vring_base(&e.dev, TXQ, &base));
	KT_ASSERT(base == 5, "TX base %u, want 5", base);
	KT_OK(vhxg_get_vring_base(&e.dev, RXQ, &base));
	KT_ASSERT(base == 3, "RX base %u, want 3", base);

	/* While detached nothing moves. */
	for (i = 5; i < 8; i++) {
		frame_build(frame, 100 + i, NULL, i);
		KT_OK(net_tx(&e, frame, 100 + i, NULL, 1, 0));
	}
	KT_OK(vhxg_vq_kick_force(e.tx));
	for (i = 3; i < 5; i++) {
		frame_build(frame, 100 + i, NULL, 0x10 + i);
		KT_OK(pkt_send(e.pkt_fd, frame, 100 + i, NULL));
	}
	KT_RUN(net_expect_silence(&e));
	KT_ASSERT(e.tx->used->idx == 5 && e.rx->used->idx == 3,
		  "used idx moved while detached: TX %u RX %u",
		  e.tx->used->idx, e.rx->used->idx);
	KT_RUN(late_silence(&e));
	KT_ASSERT(e.tx->used->idx == 5 && e.rx->used->idx == 3,
		  "late: used idx moved while detached: TX %u RX %u",
		  e.tx->used->idx, e.rx->used->idx);

	KT_OK(net_attach(&e, e.tap_fd));
	KT_OK(vhxg_vq_kick_force(e.tx));
	KT_OK(vhxg_vq_kick_force(e.rx));
	for (i = 5; i < 8; i++) {
		frame_build(frame, 100 + i, NULL, i);
		KT_RUN(net_expect_frame(&e, frame, 100 + i));
	}
	KT_OK(net_tx_reap(&e, 3));
	for (i = 3; i < 5; i++) {
		frame_build(frame, 100 + i, NULL, 0x10 + i);
		n = net_rx_get(&e, got, sizeof(got), &vh, WAIT_MS);
		KT_ASSERT(n == 100 + i, "RX %u: len %zd", i, n);
		KT_ASSERT(bytes_equal(got, frame, n, "RX after reattach"),
			  "frame %u", i);
	}
	KT_RUN(net_expect_silence(&e));
	KT_ASSERT(e.tx->used->idx == 8 && e.rx->used->idx == 5,
		  "used idx TX %u RX %u, want 8 and 5", e.tx->used->idx,
		  e.rx->used->idx);
	KT_OK(vhxg_get_vring_base(&e.dev, TXQ, &base));
	KT_ASSERT(base == 8, "TX base %u, want 8", base);
	return KT_PASS;
}

/* Send a frame, wait for it among older ones on the link, reap it. */
static int tx_check_seed(struct net_env *e, size_t len, uint32_t seed)
{
	unsigned int tries;
	ssize_t n;

	frame_build(frame, len, NULL, seed);
	KT_OK(net_tx(e, frame, len, NULL, 1, 0));
	for (tries = 0; tries < 256; tries++) {
		n = pkt_recv(e->pkt_fd, got, sizeof(got), WAIT_MS,
			     TEST_ETHERTYPE, NULL);
		KT_ASSERT(n > 0, "frame %#x did not come out", seed);
		if (frame_seed(got) == seed)
			break;
	}
	KT_ASSERT(tries < 256, "frame %#x lost among older ones", seed);
	KT_ASSERT((size_t)n == len && bytes_equal(got, frame, len, "TX"),
		  "frame %#x: %zd bytes", seed, n);
	KT_OK(net_tx_reap(e, 1));
	return KT_PASS;
}

/* Inject a frame; receive frames (older ones first) until it arrives. */
static int rx_check_seed(struct net_env *e, size_t len, uint32_t seed)
{
	unsigned int tries;
	ssize_t n;

	KT_OK(net_rx_post(e, 48, 2048, 1, 0));
	frame_build(frame, len, NULL, seed);
	KT_OK(pkt_send(e->pkt_fd, frame, len, NULL));
	for (tries = 0; tries < 48; tries++) {
		n = net_rx_get(e, got, sizeof(got), NULL, WAIT_MS);
		KT_ASSERT(n > 0, "frame %#x not received (%s)", seed,
			  n ? strerror((int)-n) : "timeout");
		if (frame_seed(got) == seed)
			break;
	}
	KT_ASSERT(tries < 48, "frame %#x lost among older ones", seed);
	KT_ASSERT((size_t)n == len && bytes_equal(got, frame, len, "RX"),
		  "frame %#x: %zd bytes", seed, n);
	return KT_PASS;
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
static int close_with_traffic(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP };
	unsigned int round, i;
	struct net_env e;

	KT_OK(net_setup(&e, &cfg));
	for (round = 0; round < CLOSE_ROUNDS; round++) {
		KT_OK(net_rx_post(&e, 32, 2048, 1, 0));
		for (i = 0; i < 16; i++) {
			frame_build(frame, 1000, NULL, round << 8 | i);
			KT_OK(net_tx(&e, frame, 1000, NULL, 2, 0));
			KT_OK(pkt_send(e.pkt_fd, frame, 1000, NULL));
		}
		/* Vary the moment: some rounds mid-burst. */
		if (round & 1)
			usleep(300 * round);
		vhxg_close(&e.dev);
		KT_OK(net_setup_dev(&e));
		KT_RUN(tx_check_seed(&e, 200, 0xc1050000 | round));
		KT_RUN(rx_check_seed(&e, 300, 0xc1060000 | round));
	}
	vhxg_close(&e.dev);
	close(e.tap_fd);
	KT_ASSERT(tap_gone(e.ifname), "tap %s still there 5 s after its last "
		  "device was closed", e.ifname);
	return KT_PASS;
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
static int kill_owner(void)
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

		KT_ASSERT(!pipe(pfd), "pipe");
		pid = fork();
		KT_ASSERT(pid >= 0, "fork");
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
		KT_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
		KT_ASSERT(name[0], "round %u: child could not set up", round);
		KT_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			  "round %u: child status %#x", round, status);
		KT_ASSERT(tap_gone(name), "round %u: tap %s still there 5 s "
			  "after its owner died", round, name);
		for (waited = 0; waited < 5000; waited += 50) {
			if (!kt_dev_is_vhx() || !net_workers(pid))
				break;
			usleep(50000);
		}
		KT_ASSERT(!kt_dev_is_vhx() || !net_workers(pid),
			  "round %u: %d workers of %d left", round,
			  net_workers(pid), (int)pid);
	}
	KT_OK(net_setup(&e, &cfg));
	KT_RUN(net_tx_check(&e, 200, 0xdead));
	KT_OK(net_rx_post(&e, 8, 2048, 1, 0));
	KT_RUN(net_rx_check(&e, 300, 0xdeae));
	return KT_PASS;
}

static int reset_owner(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG | EIDX,
			       .hdr = HDR_TAP };
	struct net_env e;

	KT_OK(net_setup(&e, &cfg));
	KT_OK(net_rx_post(&e, 8, 2048, 1, 0));
	KT_RUN(net_tx_check(&e, 300, 1));
	KT_RUN(net_rx_check(&e, 300, 2));
	KT_RUN(net_reset_and_verify(&e));
	/* And once more, from a device that was reset before. */
	KT_RUN(net_reset_and_verify(&e));
	return KT_PASS;
}

/* Two device fds on the two queues of one multiqueue tap. */
static int two_queue_pairs(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP };
	unsigned int seen[2] = { 0 }, q, i, n = 16, rx[2] = { 0 };
	static struct vhxg_arena arena;
	struct net_env e[2];
	char ifname[IFNAMSIZ];
	int fd[2];

	KT_OK(vhxg_arena_init(&arena, 64 << 20));
	cfg.arena = &arena;
	fd[0] = tap_open(ifname, NULL, IFF_MULTI_QUEUE | IFF_VNET_HDR);
	KT_OK(fd[0]);
	fd[1] = tap_open(ifname, ifname, IFF_MULTI_QUEUE | IFF_VNET_HDR);
	KT_OK(fd[1]);
	KT_OK(netif_prepare(ifname));
	for (q = 0; q < 2; q++) {
		KT_OK(tap_set_hdr_sz(fd[q], 12));
		cfg.backend_fd = fd[q];
		cfg.ifname = ifname;
		KT_OK(net_setup(&e[q], &cfg));
	}
	/* One AF_PACKET socket sees the link for both. */
	close(e[1].pkt_fd);
	e[1].pkt_fd = e[0].pkt_fd;

	/* TX: both queues at once, all frames out, each exactly once. */
	for (i = 0; i < n; i++) {
		for (q = 0; q < 2; q++) {
			frame_build(frame, 200, NULL, q << 16 | i);
			KT_OK(net_tx(&e[q], frame, 200, NULL, 1, 0));
		}
	}
	for (i = 0; i < 2 * n; i++) {
		uint32_t seed;

		KT_ASSERT(pkt_recv(e[0].pkt_fd, got, sizeof(got), WAIT_MS,
				   TEST_ETHERTYPE, NULL) == 200,
			  "TX frame %u of %u missing", i + 1, 2 * n);
		seed = frame_seed(got);
		q = seed >> 16;
		KT_ASSERT(q < 2 && (seed & 0xffff) == seen[q],
			  "frame seed %#x out of order", seed);
		frame_build(frame, 200, NULL, seed);
		KT_ASSERT(bytes_equal(got, frame, 200, "TX frame"), "mq");
		seen[q]++;
	}
	for (q = 0; q < 2; q++)
		KT_OK(net_tx_reap(&e[q], n));

	/*
	 * RX: the tap steers a flow to the queue that last sent it, so
	 * send on one queue, inject, then the other.
	 */
	for (q = 0; q < 2; q++)
		KT_OK(net_rx_post(&e[q], 32, 2048, 1, 0));
	for (i = 0; i < 8; i++) {
		q = i & 1;
		unsigned int tries;

		KT_RUN(net_tx_check(&e[q], 80, 0x9000 + i));
		frame_build(frame, 300, NULL, 0x7000 + i);
		KT_OK(pkt_send(e[q].pkt_fd, frame, 300, NULL));
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
		KT_ASSERT(tries < 100, "RX frame %u reached no queue", i);
		KT_ASSERT(bytes_equal(got, frame, 300, "RX frame"), "mq rx");
	}
	kt_diag("RX frames per queue: %u %u", rx[0], rx[1]);
	KT_ASSERT(rx[0] && rx[1], "one queue received nothing");
	return KT_PASS;
}

/* Both directions at once, pipelined, with busy polling on or off. */
static int bidir(bool busyloop)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG | EIDX,
			       .hdr = HDR_TAP, .num = 64 };
	unsigned int batch, i, n = 16;
	struct net_env e;
	ssize_t r;

	KT_OK(net_setup(&e, &cfg));
	if (busyloop) {
		struct vhost_vring_state s = { .num = 50 };

		for (s.index = 0; s.index < 2; s.index++)
			KT_OK(vhxg_ioctl(&e.dev,
					 VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &s));
	}
	KT_OK(net_rx_post(&e, 32, 2048, 1, 0));
	for (batch = 0; batch < 12; batch++) {
		for (i = 0; i < n; i++) {
			uint32_t seed = batch << 8 | i;

			frame_build(frame, 100 + i * 80, NULL, seed);
			KT_OK(net_tx(&e, frame, 100 + i * 80, NULL, 2, 0));
			frame_build(frame, 1400 - i * 80, NULL, seed | 1 << 20);
			KT_OK(pkt_send(e.pkt_fd, frame, 1400 - i * 80, NULL));
		}
		for (i = 0; i < n; i++) {
			uint32_t seed = batch << 8 | i;

			frame_build(frame, 100 + i * 80, NULL, seed);
			KT_RUN(net_expect_frame(&e, frame, 100 + i * 80));
			frame_build(frame, 1400 - i * 80, NULL, seed | 1 << 20);
			r = net_rx_get(&e, got, sizeof(got), NULL, WAIT_MS);
			KT_ASSERT(r == 1400 - i * 80, "RX %u.%u: %zd bytes",
				  batch, i, r);
			KT_ASSERT(bytes_equal(got, frame, r, "RX frame"),
				  "RX %u.%u", batch, i);
		}
		KT_OK(net_tx_reap(&e, n));
		KT_OK(net_rx_post(&e, n, 2048, 1, 0));
	}
	return KT_PASS;
}

static int bidir_pipelined(void)
{
	return bidir(false);
}

static int bidir_busyloop(void)
{
	return bidir(true);
}

/* New kick and call eventfds take over from the old ones while running. */
static int eventfd_swap(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	struct net_env e;
	int old_kick, old_call;

	KT_OK(net_setup(&e, &cfg));
	KT_RUN(net_tx_check(&e, 80, 0));
	old_kick = e.tx->kick_fd;
	old_call = e.tx->call_fd;
	e.tx->kick_fd = eventfd_for_test();
	e.tx->call_fd = eventfd_for_test();
	KT_OK(vhxg_set_vring_fd(&e.dev, VHOST_SET_VRING_KICK, TXQ,
				e.tx->kick_fd));
	KT_OK(vhxg_set_vring_fd(&e.dev, VHOST_SET_VRING_CALL, TXQ,
				e.tx->call_fd));
	while (vhxg_wait_fd(old_call, 100) > 0)
		;
	/* A kick on the old eventfd must not move the queue. */
	frame_build(frame, 90, NULL, 1);
	KT_OK(vhxg_vq_add(e.tx, &(struct vhxg_buf){ e.tx_slots, 12 + 90 },
			  1, NULL, 0, 0));
	memset(e.tx_slots, 0, 12);
	memcpy(e.tx_slots + 12, frame, 90);
	vhxg_vq_publish(e.tx);
	{
		uint64_t one = 1;

		KT_ASSERT(write(old_kick, &one, 8) == 8, "write");
	}
	{
		uint16_t used = e.tx->used->idx;

		KT_RUN(net_expect_silence(&e));
		KT_RUN(late_silence(&e));
		KT_ASSERT(e.tx->used->idx == used, "old kick moved used idx "
			  "from %u to %u", used, e.tx->used->idx);
	}
	KT_OK(vhxg_vq_kick_force(e.tx));
	KT_RUN(net_expect_frame(&e, frame, 90));
	KT_ASSERT(vhxg_vq_wait_call(e.tx, WAIT_MS) == 1, "no call on new fd");
	KT_ASSERT(vhxg_wait_fd(old_call, 0) == 0, "call on the old fd");
	close(old_kick);
	close(old_call);
	return KT_PASS;
}

/* ---- notification suppression -------------------------------------------- */

/* Send one TX frame and wait for its used entry without touching calls. */
static int tx_one_quiet(struct net_env *e, uint32_t seed)
{
	uint16_t want = e->tx->used->idx + 1;

	frame_build(frame, 80, NULL, seed);
	KT_OK(net_tx(e, frame, 80, NULL, 1, 0));
	KT_RUN(net_expect_frame(e, frame, 80));
	KT_ASSERT(net_wait_used_idx(e->tx, want, WAIT_MS), "no used entry");
	return KT_PASS;
}

static int event_idx_used_event(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | EIDX,
			       .hdr = HDR_TAP };
	struct net_env e;
	uint16_t u0;
	int ret;

	KT_OK(net_setup(&e, &cfg));
	/* The first signal after setup may always come: warm up. */
	KT_RUN(net_tx_check(&e, 80, 0));
	while (vhxg_vq_wait_call(e.tx, 100) > 0)
		;
	u0 = e.tx->last_used;
	vhxg_vq_set_used_event(e.tx, u0 + 2);
	KT_RUN(tx_one_quiet(&e, 1));
	ret = vhxg_vq_wait_call(e.tx, QUIET_MS);
	KT_ASSERT(ret == 0, "call at used idx %u, used_event %u", u0 + 1,
		  u0 + 2);
	KT_RUN(tx_one_quiet(&e, 2));
	KT_RUN(no_call(e.tx, "call at used idx u0 + 2, used_event u0 + 2"));
	KT_RUN(tx_one_quiet(&e, 3));
	ret = vhxg_vq_wait_call(e.tx, WAIT_MS);
	KT_ASSERT(ret == 1, "no call when used idx passed used_event");
	/* The device asks to be kicked at the next entry, once idle. */
	usleep(100000);
	KT_ASSERT(vhxg_vq_avail_event(e.tx) == e.tx->avail_idx,
		  "avail_event %u, avail idx %u", vhxg_vq_avail_event(e.tx),
		  e.tx->avail_idx);
	return KT_PASS;
}

static int event_idx_rx_used_event(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | EIDX | MRG,
			       .hdr = HDR_TAP };
	struct net_env e;
	unsigned int i;
	uint16_t u0;

	KT_OK(net_setup(&e, &cfg));
	KT_OK(net_rx_post(&e, 16, 2048, 1, 0));
	KT_RUN(net_rx_check(&e, 80, 0));
	while (vhxg_vq_wait_call(e.rx, 100) > 0)
		;
	u0 = e.rx->last_used;
	vhxg_vq_set_used_event(e.rx, u0 + 3);
	for (i = 1; i <= 4; i++) {
		frame_build(frame, 90, NULL, i);
		KT_OK(pkt_send(e.pkt_fd, frame, 90, NULL));
		KT_ASSERT(net_wait_used_idx(e.rx, u0 + i, WAIT_MS),
			  "frame %u not received", i);
		KT_ASSERT(vhxg_vq_wait_call(e.rx, i < 3 ? QUIET_MS :
					    i == 3 ? QUIET_MS + LATE_MS :
					    WAIT_MS) == (i == 4),
			  "call after frame %u: used_event %u", i, u0 + 3);
	}
	return KT_PASS;
}

static int no_interrupt_flag(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	struct net_env e;

	KT_OK(net_setup(&e, &cfg));
	KT_RUN(net_tx_check(&e, 80, 0));
	while (vhxg_vq_wait_call(e.tx, 100) > 0)
		;
	vhxg_vq_set_avail_flags(e.tx, VRING_AVAIL_F_NO_INTERRUPT);
	KT_RUN(tx_one_quiet(&e, 1));
	KT_RUN(no_call(e.tx, "call despite VRING_AVAIL_F_NO_INTERRUPT"));
	vhxg_vq_set_avail_flags(e.tx, 0);
	KT_RUN(tx_one_quiet(&e, 2));
	KT_ASSERT(vhxg_vq_wait_call(e.tx, WAIT_MS) == 1,
		  "no call with interrupts enabled");
	/* Idle device wants kicks. */
	usleep(100000);
	KT_ASSERT(!(e.tx->used->flags & VRING_USED_F_NO_NOTIFY),
		  "idle device left VRING_USED_F_NO_NOTIFY set");
	return KT_PASS;
}

static int notify_on_empty(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES |
					   F(VIRTIO_F_NOTIFY_ON_EMPTY),
			       .hdr = HDR_TAP };
	struct net_env e;

	KT_OK(net_setup(&e, &cfg));
	KT_RUN(net_tx_check(&e, 80, 0));
	while (vhxg_vq_wait_call(e.tx, 100) > 0)
		;
	vhxg_vq_set_avail_flags(e.tx, VRING_AVAIL_F_NO_INTERRUPT);
	KT_RUN(tx_one_quiet(&e, 1));
	KT_ASSERT(vhxg_vq_wait_call(e.tx, WAIT_MS) == 1,
		  "no call when the ring ran empty (NOTIFY_ON_EMPTY)");
	return KT_PASS;
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

static int many_init(struct many *m)
{
	unsigned int i;

	m->map = mmap(NULL, 2 * NREG * SLOT, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_ASSERT(m->map != MAP_FAILED, "mmap: %s", strerror(errno));
	m->gpa[0] = MANY_GPA;
	for (i = 0; i < NREG; i++) {
		uint8_t *slot = m->map + (2 * ((i * 13 + 5) % NREG) + 1) * SLOT;

		KT_ASSERT(!mprotect(slot, SLOT, PROT_READ | PROT_WRITE),
			  "mprotect: %s", strerror(errno));
		net_fill_canary(slot, SLOT);
		m->size[i] = i % 4 == 2 ? 512 : SLOT;
		m->host[i] = slot + (m->size[i] < SLOT ? 1000 : 0);
		m->gpa[i + 1] = m->gpa[i] + m->size[i];
	}
	return KT_PASS;
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
static int mem_many_regions(void)
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

	KT_OK(net_setup(&e, &cfg));
	KT_RUN(many_init(&m));
	KT_ASSERT((uintptr_t)e.arena->base + e.arena->size <= MANY_GPA ||
		  (uintptr_t)e.arena->base >= m.gpa[NREG],
		  "the arena overlaps the regions' guest addresses");
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
	KT_OK(vhxg_set_mem_table(&e.dev, r, NREG + 1));

	/* TX: header and frame from 700 bytes before a region's start. */
	for (i = 1; i < NREG - 1; i += 2) {
		uint64_t addr = m.gpa[i] - 700;
		uint32_t len = 12 + 1514;

		memset(buf, 0, 12);
		frame_build(buf + 12, 1514, NULL, 0x3300 + i);
		many_copy(&m, addr, buf, len, true);
		KT_OK(net_tx_raw(&e, &addr, &len, 1));
		KT_RUN(net_expect_frame(&e, buf + 12, 1514));
		KT_OK(net_tx_reap(&e, 1));
	}

	/* RX: 2048-byte buffers from 300 bytes before a region's start. */
	for (k = 0; k < 8; k++) {
		int ret;

		rx_gpa[k] = m.gpa[4 * k + 1 + k % 3] - 300;
		ret = vhxg_vq_take_chain(e.rx, 1, &rx_id[k]);
		KT_ASSERT(ret >= 0, "RX ring full");
		vhxg_vq_put_desc(e.rx, rx_id[k], rx_gpa[k], 2048,
				 VRING_DESC_F_WRITE, 0);
		vhxg_vq_put_avail(e.rx, rx_id[k]);
	}
	vhxg_vq_publish(e.rx);
	KT_OK(vhxg_vq_kick_force(e.rx));
	for (k = 0; k < 8; k++) {
		struct virtio_net_hdr_mrg_rxbuf vh;
		size_t len = 1514 - 97 * k;
		struct vhxg_used u;

		frame_build(frame, len, NULL, 0x4400 + k);
		KT_OK(pkt_send(e.pkt_fd, frame, len, NULL));
		KT_ASSERT(vhxg_vq_wait_used(e.rx, WAIT_MS) == 1,
			  "RX frame %u not received", k);
		vhxg_vq_reap(e.rx, &u, 1);
		KT_ASSERT(u.id == rx_id[k] && u.len == 12 + len,
			  "RX %u: used id %u len %u, want %u and %zu", k, u.id,
			  u.len, rx_id[k], 12 + len);
		many_copy(&m, rx_gpa[k], tmp, 2048, false);
		memcpy(&vh, tmp, sizeof(vh));
		KT_ASSERT(vh.num_buffers == 1, "RX %u: num_buffers %u", k,
			  vh.num_buffers);
		KT_ASSERT(bytes_equal(tmp + 12, frame, len, "RX across regions"),
			  "RX %u", k);
	}
	KT_ASSERT(many_slack_intact(&m), "device wrote outside the regions");
	KT_OK(net_rx_post(&e, 8, 2048, 1, 0));
	KT_RUN(net_rx_check(&e, 1514, 99));
	return KT_PASS;
}

/* Guest addresses that are not the process's: only the table maps them. */
static int mem_non_identity(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_VHOST };
	const uint64_t gpa = 0x100000000ULL;
	struct vhost_memory_region r;
	struct net_env e;
	uint64_t addr[2];
	uint32_t len[2];
	uint8_t *buf;

	KT_OK(net_setup(&e, &cfg));
	r.guest_phys_addr = gpa;
	r.userspace_addr = (uintptr_t)e.arena->base;
	r.memory_size = e.arena->size;
	r.flags_padding = 0;
	KT_OK(vhxg_set_mem_table(&e.dev, &r, 1));
	buf = vhxg_alloc(e.arena, 4096, 64);
	KT_ASSERT(buf, "arena full");
	memset(buf, 0, 12);
	frame_build(buf + 12, 1000, NULL, 5);
	addr[0] = gpa + (buf - e.arena->base);
	len[0] = 12 + 400;
	addr[1] = addr[0] + len[0];
	len[1] = 600;
	KT_OK(net_tx_raw(&e, addr, len, 2));
	KT_RUN(net_expect_frame(&e, buf + 12, 1000));
	KT_OK(net_tx_reap(&e, 1));
	return KT_PASS;
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
static int vring_stats(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | MRG,
			       .hdr = HDR_TAP, .num = 64 };
	struct vhx_vring_stats rx, tx;
	uint64_t rx_bytes = 0;
	unsigned int i;
	struct net_env e;

	if (!kt_dev_is_vhx())
		return kt_skip("VHX_GET_VRING_STATS is vhx's own");
	KT_OK(net_setup(&e, &cfg));
	for (i = 0; i < 10; i++) {
		frame_build(frame, 100 + i, NULL, i);
		KT_OK(net_tx(&e, frame, 100 + i, NULL, 1, 0));
		KT_RUN(net_expect_frame(&e, frame, 100 + i));
	}
	KT_OK(net_tx_reap(&e, 10));
	KT_OK(net_rx_post(&e, 8, 2048, 1, 0));
	for (i = 0; i < 5; i++) {
		KT_RUN(net_rx_check(&e, 200 + i, i));
		rx_bytes += e.hdr_len + 200 + i;
	}
	KT_OK(stats_of(&e, 0, &rx));
	KT_OK(stats_of(&e, 1, &tx));
	kt_diag("rx: kicks %llu runs %llu used %llu bytes %llu calls %llu; "
		"tx: kicks %llu runs %llu used %llu bytes %llu calls %llu",
		(unsigned long long)rx.kicks, (unsigned long long)rx.runs,
		(unsigned long long)rx.used, (unsigned long long)rx.used_bytes,
		(unsigned long long)rx.calls, (unsigned long long)tx.kicks,
		(unsigned long long)tx.runs, (unsigned long long)tx.used,
		(unsigned long long)tx.used_bytes,
		(unsigned long long)tx.calls);
	KT_ASSERT(tx.used == 10 && tx.used_bytes == 0, "tx used %llu",
		  (unsigned long long)tx.used);
	KT_ASSERT(rx.used == 5 && rx.used_bytes == rx_bytes,
		  "rx used %llu, %llu bytes, want 5, %llu",
		  (unsigned long long)rx.used,
		  (unsigned long long)rx.used_bytes,
		  (unsigned long long)rx_bytes);
	/* RX runs on the tap's wakeups: it may never need a kick. */
	KT_ASSERT(tx.kicks >= 1 && tx.kicks <= 10 && tx.runs >= 1 &&
		  tx.calls >= 1 && rx.runs >= 1 && rx.calls >= 1,
		  "a counter that did not count");
	KT_ASSERT(!tx.padding && !tx.reserved[0] && !tx.reserved[2],
		  "padding not zeroed");
	KT_ASSERT(stats_of(&e, 2, &tx) == -ENOBUFS, "queue 2 of 2");
	return KT_PASS;
}

static const struct kt_case cases[] = {
	{ "tx_tap_hdr", tx_tap_hdr },
	{ "tx_vhost_hdr", tx_vhost_hdr },
	{ "tx_legacy_hdr", tx_legacy_hdr },
	{ "tx_indirect", tx_indirect },
	{ "tx_scattered", tx_scattered },
	{ "tx_burst", tx_burst },
	{ "tx_ring_edges", tx_ring_edges },
	{ "rx_mrg_tap_hdr", rx_mrg_tap_hdr },
	{ "rx_mrg_vhost_hdr", rx_mrg_vhost_hdr },
	{ "rx_nomrg_tap_hdr", rx_nomrg_tap_hdr },
	{ "rx_nomrg_vhost_hdr", rx_nomrg_vhost_hdr },
	{ "rx_legacy_hdr", rx_legacy_hdr },
	{ "rx_event_idx", rx_event_idx },
	{ "rx_indirect_mrg", rx_indirect_mrg },
	{ "rx_indirect_nomrg", rx_indirect_nomrg },
	{ "rx_big_mrg", rx_big_mrg },
	{ "rx_big_mrg_vhost_hdr", rx_big_mrg_vhost_hdr },
	{ "rx_big_nomrg", rx_big_nomrg },
	{ "rx_big_nomrg_indirect", rx_big_nomrg_indirect },
	{ "rx_burst", rx_burst },
	{ "rx_late_buffers", rx_late_buffers },
	{ "rx_too_big_nomrg", rx_too_big_nomrg },
	{ "tx_csum_offload", tx_csum_offload },
	{ "tx_gso_tcpv4", tx_gso_tcpv4 },
	{ "rx_gso_tcpv4", rx_gso_tcpv4 },
	{ "macvtap_tx_rx", macvtap_tx_rx },
	{ "detach_reattach", detach_reattach },
	{ "close_with_traffic", close_with_traffic },
	{ "kill_owner", kill_owner },
	{ "bidir_pipelined", bidir_pipelined },
	{ "bidir_busyloop", bidir_busyloop },
	{ "eventfd_swap", eventfd_swap },
	{ "reset_owner", reset_owner },
	{ "two_queue_pairs", two_queue_pairs },
	{ "event_idx_used_event", event_idx_used_event },
	{ "event_idx_rx_used_event", event_idx_rx_used_event },
	{ "no_interrupt_flag", no_interrupt_flag },
	{ "notify_on_empty", notify_on_empty },
	{ "mem_many_regions", mem_many_regions },
	{ "mem_non_identity", mem_non_identity },
	{ "vring_stats", vring_stats },
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, cases, KT_ARRAY_SIZE(cases),
		       "/dev/vhx-net");
}
