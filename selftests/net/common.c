// SPDX-License-Identifier: GPL-2.0
/* A vhost-net device driven by the test process: see common.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <linux/if_tun.h>

#include "kselftest.h"
#include "common.h"

#define ARENA_SIZE	(64u << 20)
#define CANARY		0xa5
#define GAP		64

int eventfd_for_test(void)
{
	return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

void net_fill_canary(void *p, size_t len)
{
	memset(p, CANARY, len);
}

bool net_canary_intact(const void *p, size_t len, const char *what)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++) {
		if (b[i] != CANARY) {
			ksft_print_msg("%s: canary byte %zu of %zu overwritten (%#x)\n",
				what, i, len, b[i]);
			return false;
		}
	}
	return true;
}

int net_attach(struct net_env *e, int fd)
{
	int ret;

	ret = vhxg_net_set_backend(&e->dev, RXQ, fd);
	if (!ret)
		ret = vhxg_net_set_backend(&e->dev, TXQ, fd);
	if (ret)
		ksft_print_msg("NET_SET_BACKEND fd %d: %s\n", fd, strerror(-ret));
	return ret;
}

/* Owner, features, memory table, rings: everything but opening. */
int net_configure(struct net_env *e)
{
	uint64_t offered, want = e->cfg.features;
	unsigned int num = e->cfg.num;
	int ret;

	if (e->cfg.hdr == HDR_VHOST)
		want |= NET_F_HDR;
	ret = vhxg_set_owner(&e->dev);
	if (!ret)
		ret = vhxg_get_features(&e->dev, &offered);
	if (ret) {
		ksft_print_msg("SET_OWNER/GET_FEATURES: %s\n", strerror(-ret));
		return ret;
	}
	if (want & ~offered) {
		ksft_print_msg("features %#llx not offered (offered %#llx)\n",
			(unsigned long long)(want & ~offered),
			(unsigned long long)offered);
		return -EOPNOTSUPP;
	}
	ret = vhxg_set_features(&e->dev, want);
	if (!ret)
		ret = vhxg_set_mem_identity(&e->dev);
	if (!ret)
		ret = vhxg_vq_setup(&e->dev, RXQ, num);
	if (!ret)
		ret = vhxg_vq_setup(&e->dev, TXQ, num);
	if (ret) {
		ksft_print_msg("device setup: %s\n", strerror(-ret));
		return ret;
	}
	e->rx = &e->dev.vqs[RXQ];
	e->tx = &e->dev.vqs[TXQ];
	e->tx_slots = vhxg_alloc(e->arena, (size_t)num * TX_SLOT, 64);
	if (!e->tx_slots)
		return -ENOMEM;
	memset(e->rx_slots, 0, sizeof(e->rx_slots));
	return net_attach(e, e->tap_fd);
}

int net_setup_dev(struct net_env *e)
{
	int ret = vhxg_open(&e->dev, test_dev, e->arena);

	if (ret) {
		ksft_print_msg("open %s: %s\n", test_dev, strerror(-ret));
		return ret;
	}
	return net_configure(e);
}

static int net_make_tap(struct net_env *e)
{
	int ret;

	e->tap_fd = tap_open(e->ifname, NULL,
			     e->cfg.hdr == HDR_TAP ? IFF_VNET_HDR : 0);
	if (e->tap_fd < 0)
		return e->tap_fd;
	if (e->cfg.hdr == HDR_TAP) {
		ret = tap_set_hdr_sz(e->tap_fd, e->hdr_len);
		if (!ret)
			ret = tap_set_offload(e->tap_fd, TUN_F_CSUM |
					      TUN_F_TSO4 | TUN_F_TSO6);
		if (ret)
			return ret;
	}
	return netif_prepare(e->ifname);
}

int net_setup(struct net_env *e, const struct net_cfg *cfg)
{
	int ret;

	memset(e, 0, sizeof(*e));
	e->cfg = *cfg;
	if (!e->cfg.num)
		e->cfg.num = 256;
	e->tap_fd = -1;
	e->pkt_fd = -1;
	e->dev.fd = -1;
	e->hdr_len = vhxg_net_hdr_len(cfg->features);
	e->arena = cfg->arena;
	if (!e->arena) {
		ret = vhxg_arena_init(&e->own_arena, ARENA_SIZE);
		if (ret)
			return ret;
		e->arena = &e->own_arena;
	}
	if (cfg->backend_fd > 0) {
		e->tap_fd = cfg->backend_fd;
		snprintf(e->ifname, IFNAMSIZ, "%s", cfg->ifname);
	} else {
		ret = net_make_tap(e);
		if (ret)
			return ret;
	}
	ret = net_setup_dev(e);
	if (ret)
		return ret;
	e->pkt_fd = pkt_open(e->ifname, cfg->pkt_vnet_hdr);
	return e->pkt_fd < 0 ? e->pkt_fd : 0;
}

void net_teardown(struct net_env *e)
{
	vhxg_close(&e->dev);
	if (e->pkt_fd >= 0)
		close(e->pkt_fd);
	if (e->tap_fd >= 0 && e->tap_fd != e->cfg.backend_fd)
		close(e->tap_fd);
	e->pkt_fd = -1;
	e->tap_fd = -1;
	if (e->arena == &e->own_arena)
		vhxg_arena_fini(&e->own_arena);
}

/* ---- TX ------------------------------------------------------------------ */

int net_tx(struct net_env *e, const void *frame, size_t len,
	   const struct virtio_net_hdr_mrg_rxbuf *vh, unsigned int nsplit,
	   unsigned int add_flags)
{
	static const struct virtio_net_hdr_mrg_rxbuf zero_hdr;
	size_t total = e->hdr_len + len, piece, off = 0;
	struct vhxg_buf bufs[16];
	struct vhxg_vq *vq = e->tx;
	unsigned int i;
	uint8_t *buf;
	int head;

	if (!nsplit || nsplit > 16 || nsplit > total)
		return -EINVAL;
	if (!vq->num_free)
		vhxg_vq_reap(vq, NULL, vq->num);
	if (total <= TX_SLOT)
		buf = e->tx_slots + (size_t)vq->free_head * TX_SLOT;
	else
		buf = vhxg_alloc(e->arena, total, 64);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, vh ? vh : &zero_hdr, e->hdr_len);
	memcpy(buf + e->hdr_len, frame, len);
	piece = total / nsplit;
	for (i = 0; i < nsplit; i++) {
		bufs[i].addr = buf + off;
		bufs[i].len = i + 1 < nsplit ? piece : total - off;
		off += bufs[i].len;
	}
	head = vhxg_vq_add(vq, bufs, nsplit, NULL, 0, add_flags);
	if (head < 0)
		return head;
	vhxg_vq_publish(vq);
	head = vhxg_vq_kick(vq);
	return head < 0 ? head : 0;
}

int net_tx_reap(struct net_env *e, unsigned int n)
{
	struct vhxg_used u[64];
	unsigned int got = 0;
	int ret;

	while (got < n) {
		ret = vhxg_vq_wait_used(e->tx, WAIT_MS);
		if (ret <= 0) {
			ksft_print_msg("TX: %u of %u chains used (%s)\n", got, n,
				ret ? strerror(-ret) : "timeout");
			return ret ? ret : -ETIMEDOUT;
		}
		ret = vhxg_vq_reap(e->tx, u, n - got < 64 ? n - got : 64);
		got += ret;
	}
	if (e->tx->bad_used) {
		ksft_print_msg("TX: %lu used entries with a bad id\n", e->tx->bad_used);
		return -EPROTO;
	}
	if (vhxg_vq_wait_err(e->tx, 0)) {
		ksft_print_msg("TX: ERR eventfd fired on a valid ring\n");
		return -EPROTO;
	}
	return 0;
}

int net_tx_raw(struct net_env *e, const uint64_t *addr, const uint32_t *len,
	       unsigned int n)
{
	uint16_t ids[64];
	unsigned int i;
	int ret;

	if (!n || n > 64)
		return -EINVAL;
	ret = vhxg_vq_take_chain(e->tx, n, ids);
	if (ret < 0)
		return ret;
	for (i = 0; i < n; i++)
		vhxg_vq_put_desc(e->tx, ids[i], addr[i], len[i],
				 i + 1 < n ? VRING_DESC_F_NEXT : 0,
				 i + 1 < n ? ids[i + 1] : 0);
	vhxg_vq_put_avail(e->tx, ids[0]);
	vhxg_vq_publish(e->tx);
	ret = vhxg_vq_kick_force(e->tx);
	return ret;
}

int net_wait_used_idx(struct vhxg_vq *vq, uint16_t idx, int timeout_ms)
{
	int waited;

	for (waited = 0; waited <= timeout_ms; waited++) {
		if (__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) == idx)
			return 1;
		usleep(1000);
	}
	ksft_print_msg("used idx %u, want %u\n", vq->used->idx, idx);
	return 0;
}

/* ---- RX ------------------------------------------------------------------ */

int net_rx_post(struct net_env *e, unsigned int n, uint32_t buflen,
		unsigned int ndesc, unsigned int add_flags)
{
	struct vhxg_buf bufs[64];
	uint32_t stride = buflen + GAP;
	unsigned int i, j;

	if (!ndesc || ndesc > 64)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		size_t size = (size_t)ndesc * stride + GAP;
		uint8_t *area = vhxg_alloc(e->arena, size, 64);
		int head;

		if (!area)
			return -ENOMEM;
		net_fill_canary(area, size);
		for (j = 0; j < ndesc; j++) {
			bufs[j].addr = area + GAP + (size_t)j * stride;
			bufs[j].len = buflen;
		}
		head = vhxg_vq_add(e->rx, NULL, 0, bufs, ndesc, add_flags);
		if (head < 0)
			return head;
		e->rx_slots[head] = (struct rx_slot){
			.base = area + GAP, .buflen = buflen,
			.ndesc = ndesc, .stride = stride,
		};
	}
	vhxg_vq_publish(e->rx);
	i = vhxg_vq_kick(e->rx);
	return (int)i < 0 ? (int)i : 0;
}

/* Copy what the device wrote into one chain; check the gaps around it. */
static ssize_t gather(struct net_env *e, const struct vhxg_used *u,
		      uint8_t *dst, size_t room)
{
	struct rx_slot *s;
	uint32_t left = u->len, j;
	size_t off = 0;

	if (u->id >= e->rx->num || !e->rx_slots[u->id].base) {
		ksft_print_msg("RX used id %u was never posted\n", u->id);
		return -EPROTO;
	}
	s = &e->rx_slots[u->id];
	if (u->len > s->buflen * s->ndesc || u->len > room) {
		ksft_print_msg("RX used len %u > chain of %u x %u\n", u->len,
			s->ndesc, s->buflen);
		return -EPROTO;
	}
	for (j = 0; j < s->ndesc && left; j++) {
		uint32_t n = left < s->buflen ? left : s->buflen;

		memcpy(dst + off, s->base + (size_t)j * s->stride, n);
		off += n;
		left -= n;
	}
	for (j = 0; j <= s->ndesc; j++)
		if (!net_canary_intact(s->base - GAP + (size_t)j * s->stride,
				       GAP, "RX buffer gap"))
			return -EPROTO;
	s->base = NULL;
	return off;
}

static ssize_t reap_one(struct net_env *e, uint8_t *dst, size_t room,
			int timeout_ms)
{
	struct vhxg_used u;
	int ret;

	ret = vhxg_vq_wait_used(e->rx, timeout_ms);
	if (ret <= 0)
		return ret;
	vhxg_vq_reap(e->rx, &u, 1);
	e->rx_last_len = u.len;
	return gather(e, &u, dst, room);
}

ssize_t net_rx_get(struct net_env *e, void *frame, size_t max,
		   struct virtio_net_hdr_mrg_rxbuf *vh, int timeout_ms)
{
	static uint8_t buf[2 * MAX_FRAME];
	bool mrg = e->hdr_len && (e->dev.features & F(VIRTIO_NET_F_MRG_RXBUF));
	struct virtio_net_hdr_mrg_rxbuf h = { 0 };
	ssize_t n, total;
	unsigned int k;

	for (;;) {
		total = reap_one(e, buf, sizeof(buf), timeout_ms);
		if (total <= 0)
			return total;
		e->rx_nused = 1;
		memcpy(&h, buf, e->hdr_len);
		for (k = 1; mrg && k < h.num_buffers; k++) {
			n = reap_one(e, buf + total, sizeof(buf) - total,
				     WAIT_MS);
			if (n <= 0) {
				ksft_print_msg("RX: buffer %u of %u missing\n", k + 1,
					h.num_buffers);
				return n ? n : -ETIMEDOUT;
			}
			total += n;
			e->rx_nused++;
		}
		if ((size_t)total < e->hdr_len + ETH_HLEN_) {
			ksft_print_msg("RX: runt of %zd bytes\n", total);
			return -EPROTO;
		}
		if (frame_ethertype(buf + e->hdr_len) == TEST_ETHERTYPE)
			break;
		ksft_print_msg("RX: dropping a frame of ethertype %#x\n",
			frame_ethertype(buf + e->hdr_len));
	}
	if (vhxg_vq_wait_err(e->rx, 0)) {
		ksft_print_msg("RX: ERR eventfd fired on a valid ring\n");
		return -EPROTO;
	}
	if (vh)
		*vh = h;
	total -= e->hdr_len;
	memcpy(frame, buf + e->hdr_len,
	       (size_t)total < max ? (size_t)total : max);
	return total;
}

/* ---- helpers for the malformed-input and hostile-memory tests ---------- */

bool net_err_pending(struct vhxg_vq *vq)
{
	struct pollfd p = { .fd = vq->err_fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

int net_wait_used_or_err(struct vhxg_vq *vq, uint16_t idx, int timeout_ms)
{
	int waited;

	for (waited = 0; waited <= timeout_ms; waited += 2) {
		if (__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) == idx)
			return 1;
		if (net_err_pending(vq))
			return 2;
		usleep(2000);
	}
	return 0;
}

int net_post_chain(struct vhxg_vq *vq, const uint64_t *addr,
		   const uint32_t *len, unsigned int n, uint16_t flags)
{
	uint16_t *ids;
	unsigned int i;
	int head, ret;

	if (!n || n > vq->num)
		return -EINVAL;
	ids = calloc(n, sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	head = vhxg_vq_take_chain(vq, n, ids);
	if (head < 0) {
		free(ids);
		return head;
	}
	for (i = 0; i < n; i++)
		vhxg_vq_put_desc(vq, ids[i], addr[i], len[i],
				 flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0),
				 i + 1 < n ? ids[i + 1] : 0);
	free(ids);
	vhxg_vq_put_avail(vq, head);
	vhxg_vq_publish(vq);
	ret = vhxg_vq_kick_force(vq);
	return ret < 0 ? ret : head;
}

int net_move_rings(struct net_env *e, struct vhxg_vq *vq, uint8_t *pages)
{
	unsigned int num = vq->num;
	int ret;

	if (num > 256 || ((uintptr_t)pages & 4095))
		return -EINVAL;
	ret = vhxg_net_set_backend(&e->dev, vq->index, -1);
	if (ret)
		return ret;
	memcpy(pages, vq->desc, 16 * num);
	memcpy(pages + 4096, vq->avail, 6 + 2 * num);
	memcpy(pages + 8192, vq->used, 6 + 8 * num);
	vq->desc = (struct vring_desc *)pages;
	vq->avail = (struct vring_avail *)(pages + 4096);
	vq->used = (struct vring_used *)(pages + 8192);
	ret = vhxg_set_vring_addr(&e->dev, vq->index, (uintptr_t)vq->desc,
				  (uintptr_t)vq->avail, (uintptr_t)vq->used, 0);
	if (!ret)
		ret = vhxg_net_set_backend(&e->dev, vq->index, e->tap_fd);
	return ret;
}
