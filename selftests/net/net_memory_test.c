// SPDX-License-Identifier: GPL-2.0
/*
 * Guest memory turned hostile under a running net device: RX buffers
 * read-only or PROT_NONE, a used ring read-only, buffers and a ring
 * unmapped, the memfd behind the arena truncated, and a thread rewriting
 * descriptors and avail entries while the device walks them.
 *
 * Each case checks what every device must do (no used entry for memory it
 * could not write, nothing written outside, no hang, and a working device
 * after RESET_OWNER once the memory is back) and pins what vhx does (ERR
 * or a dropped frame); what upstream vhost-net does is printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "common.h"

#define MRG		F(VIRTIO_NET_F_MRG_RXBUF)
#define PG		4096
#define ARENA		(64u << 20)
#define GUARD		(1u << 20)	/* canary zones around the table */

static uint8_t frame[MAX_FRAME];

static int setup(struct net_env *e, enum hdr_mode mode, uint64_t features,
		 struct vhxg_arena *arena)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | features,
			       .hdr = mode, .arena = arena };

	KT_OK(net_setup(e, &cfg));
	return net_tx_check(e, 100, 0x5e7);
}

static int inject(struct net_env *e, size_t len, uint32_t seed)
{
	frame_build(frame, len, NULL, seed);
	return pkt_send(e->pkt_fd, frame, len, NULL);
}

/* Post @n one-buffer RX chains of @len bytes at @area + i * @stride + 64. */
static int post_rx(struct net_env *e, uint8_t *area, unsigned int n,
		   size_t stride, uint32_t len)
{
	unsigned int i;
	uint64_t addr;

	for (i = 0; i < n; i++) {
		addr = (uintptr_t)area + i * stride + 64;
		KT_OK(net_post_chain(e->rx, &addr, &len, 1,
				     VRING_DESC_F_WRITE));
	}
	return KT_PASS;
}

/*
 * After the bad memory met a frame: wait for ERR (long on vhx when it
 * must come, a second otherwise), then no used entry may have appeared.
 * Returns 1 for ERR, 0 for none.
 */
static int rx_wait_refused(struct net_env *e, uint16_t start, bool vhx_err)
{
	int w = net_wait_used_or_err(e->rx, start + 1,
				     kt_dev_is_vhx() && vhx_err ? WAIT_MS :
								  1000);

	usleep(QUIET_MS * 1000);
	if (e->rx->used->idx != start) {
		kt_diag("RX used idx %u -> %u into memory it cannot write",
			start, e->rx->used->idx);
		return -1;
	}
	return w == 2 || net_err_pending(e->rx);
}

static int pin(bool err, bool vhx_err, const char *what)
{
	kt_diag("%s: %s", what, err ? "ERR" : "dropped, no ERR");
	if (kt_dev_is_vhx())
		KT_ASSERT(err == vhx_err, "%s: want %s", what,
			  vhx_err ? "ERR" : "no ERR");
	return KT_PASS;
}

/* ---- RX buffers the device cannot write ---------------------------------- */

static int rx_bufs_prot(enum hdr_mode mode, int prot, bool vhx_err,
			const char *what)
{
	struct net_env e;
	uint8_t *area;
	uint16_t start;
	int err;

	KT_RUN(setup(&e, mode, MRG, NULL));
	area = vhxg_alloc(e.arena, 4 * PG, PG);
	KT_ASSERT(area, "arena full");
	net_fill_canary(area, 4 * PG);
	start = e.rx->used->idx;
	KT_RUN(post_rx(&e, area, 4, PG, 2048));
	KT_ASSERT(!mprotect(area, 4 * PG, prot), "mprotect: %s",
		  strerror(errno));
	KT_OK(inject(&e, 300, 0xbad));
	err = rx_wait_refused(&e, start, vhx_err);
	KT_ASSERT(!mprotect(area, 4 * PG, PROT_READ | PROT_WRITE),
		  "mprotect: %s", strerror(errno));
	KT_ASSERT(err >= 0, "delivered into protected buffers");
	KT_ASSERT(net_canary_intact(area, 4 * PG, "protected RX buffers"),
		  "protected buffers changed");
	KT_RUN(pin(err, vhx_err, what));
	return net_reset_and_verify(&e);
}

/* vhx writes the header it owns first: that fails, a bad ring. */
static int rx_bufs_readonly(void)
{
	return rx_bufs_prot(HDR_VHOST, PROT_READ, true,
			    "RX buffers read-only, vhost header");
}

/* The tap writes its own header: its recvmsg fails, the frame is lost. */
static int rx_bufs_readonly_tap_hdr(void)
{
	return rx_bufs_prot(HDR_TAP, PROT_READ, false,
			    "RX buffers read-only, tap header");
}

static int rx_bufs_prot_none(void)
{
	return rx_bufs_prot(HDR_VHOST, PROT_NONE, true,
			    "RX buffers PROT_NONE, vhost header");
}

/* ---- a used ring the device cannot write --------------------------------- */

static int used_ring_readonly(bool rx)
{
	struct net_env e;
	struct vhxg_vq *vq;
	uint8_t *pages;
	uint16_t start;
	bool err;
	ssize_t n;

	KT_RUN(setup(&e, HDR_VHOST, MRG, NULL));
	vq = rx ? e.rx : e.tx;
	pages = vhxg_alloc(e.arena, 3 * PG, PG);
	KT_ASSERT(pages, "arena full");
	KT_OK(net_move_rings(&e, vq, pages));
	/* The moved ring works. */
	if (rx) {
		KT_OK(net_rx_post(&e, 4, 2048, 1, 0));
		KT_RUN(net_rx_check(&e, 200, 0x30e));
	} else {
		KT_RUN(net_tx_check(&e, 200, 0x30e));
	}
	start = vq->used->idx;
	KT_ASSERT(!mprotect(pages + 2 * PG, PG, PROT_READ), "mprotect: %s",
		  strerror(errno));
	if (rx) {
		KT_OK(vhxg_vq_kick_force(vq));
		KT_OK(inject(&e, 300, 0xbad));
	} else {
		frame_build(frame, 300, NULL, 0xbad);
		KT_OK(net_tx(&e, frame, 300, NULL, 1, 0));
		KT_OK(vhxg_vq_kick_force(vq));
	}
	net_wait_used_or_err(vq, start + 1, kt_dev_is_vhx() ? WAIT_MS : 2000);
	n = pkt_recv(e.pkt_fd, frame, sizeof(frame), QUIET_MS,
		     TEST_ETHERTYPE, NULL);
	err = net_err_pending(vq);
	KT_ASSERT(!mprotect(pages + 2 * PG, PG, PROT_READ | PROT_WRITE),
		  "mprotect: %s", strerror(errno));
	KT_ASSERT(vq->used->idx == start, "used idx %u -> %u", start,
		  vq->used->idx);
	kt_diag("%s used ring read-only: %s%s", rx ? "RX" : "TX",
		err ? "ERR" : "no ERR",
		rx ? "" : n > 0 ? ", the frame was sent" : ", nothing sent");
	if (kt_dev_is_vhx()) {
		KT_ASSERT(err, "no ERR");
		KT_ASSERT(n == 0, "vhx sent a frame it cannot report");
	}
	return net_reset_and_verify(&e);
}

static int rx_used_ring_readonly(void)
{
	return used_ring_readonly(true);
}

static int tx_used_ring_readonly(void)
{
	return used_ring_readonly(false);
}

/* ---- memory unmapped under a running queue ------------------------------- */

static int remap(uint8_t *p, size_t len)
{
	void *q = mmap(p, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	KT_ASSERT(q == p, "mmap back: %s", strerror(errno));
	return KT_PASS;
}

static int munmap_rx_bufs(void)
{
	struct net_env e;
	uint8_t *area;
	uint16_t start;
	int err;

	KT_RUN(setup(&e, HDR_VHOST, MRG, NULL));
	KT_OK(net_rx_post(&e, 1, 2048, 1, 0));
	KT_RUN(net_rx_check(&e, 200, 0x30e));
	area = vhxg_alloc(e.arena, 4 * PG, PG);
	KT_ASSERT(area, "arena full");
	start = e.rx->used->idx;
	KT_RUN(post_rx(&e, area, 4, PG, 2048));
	KT_ASSERT(!munmap(area, 4 * PG), "munmap: %s", strerror(errno));
	KT_OK(inject(&e, 300, 0xbad));
	err = rx_wait_refused(&e, start, true);
	KT_RUN(remap(area, 4 * PG));
	KT_ASSERT(err >= 0, "delivered into unmapped buffers");
	KT_RUN(pin(err, true, "RX buffers unmapped"));
	return net_reset_and_verify(&e);
}

/*
 * The TX descriptor table goes away after the descriptor is written and
 * before avail->idx is published: a worker still polling after the last
 * frame would otherwise take the entry before the munmap.
 */
static int munmap_tx_ring(void)
{
	struct vhxg_buf b;
	struct net_env e;
	uint8_t *pages, *buf;
	uint16_t start;
	bool err;
	ssize_t n;

	KT_RUN(setup(&e, HDR_VHOST, 0, NULL));
	pages = vhxg_alloc(e.arena, 3 * PG, PG);
	buf = vhxg_alloc(e.arena, 2048, 64);
	KT_ASSERT(pages && buf, "arena full");
	KT_OK(net_move_rings(&e, e.tx, pages));
	KT_RUN(net_tx_check(&e, 200, 0x30e));
	start = e.tx->used->idx;
	memset(buf, 0, e.hdr_len);
	frame_build(buf + e.hdr_len, 300, NULL, 0xbad);
	b = (struct vhxg_buf){ buf, e.hdr_len + 300 };
	KT_OK(vhxg_vq_add(e.tx, &b, 1, NULL, 0, 0));
	KT_ASSERT(!munmap(pages, PG), "munmap: %s", strerror(errno));
	vhxg_vq_publish(e.tx);
	KT_OK(vhxg_vq_kick_force(e.tx));
	net_wait_used_or_err(e.tx, start + 1,
			     kt_dev_is_vhx() ? WAIT_MS : 2000);
	n = pkt_recv(e.pkt_fd, frame, sizeof(frame), QUIET_MS,
		     TEST_ETHERTYPE, NULL);
	err = net_err_pending(e.tx);
	KT_RUN(remap(pages, PG));
	KT_ASSERT(n == 0, "a frame came out of an unmapped descriptor table");
	KT_ASSERT(e.tx->used->idx == start, "used idx %u -> %u", start,
		  e.tx->used->idx);
	KT_RUN(pin(err, true, "TX descriptor table unmapped"));
	return net_reset_and_verify(&e);
}

/* ---- the memfd behind guest memory truncated ----------------------------- */

struct memfd_arena {
	struct vhxg_arena a;
	int fd;
};

static int memfd_arena(struct memfd_arena *m)
{
	void *p;

	m->fd = memfd_create("vhx-guest", MFD_CLOEXEC);
	KT_ASSERT(m->fd >= 0, "memfd_create: %s", strerror(errno));
	KT_ASSERT(!ftruncate(m->fd, ARENA), "ftruncate: %s", strerror(errno));
	p = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	KT_ASSERT(p != MAP_FAILED, "mmap memfd: %s", strerror(errno));
	m->a = (struct vhxg_arena){ .base = p, .size = ARENA };
	return KT_PASS;
}

/* The last @len bytes of the arena, which a truncation takes away. */
static uint8_t *arena_tail(struct vhxg_arena *a, size_t len)
{
	return a->base + a->size - len;
}

static int memfd_truncate_rx_bufs(void)
{
	struct memfd_arena m;
	struct net_env e;
	uint8_t *tail;
	uint16_t start;
	int err;

	KT_RUN(memfd_arena(&m));
	KT_RUN(setup(&e, HDR_VHOST, MRG, &m.a));
	KT_OK(net_rx_post(&e, 1, 2048, 1, 0));
	KT_RUN(net_rx_check(&e, 200, 0x30e));
	tail = arena_tail(&m.a, 4 * PG);
	start = e.rx->used->idx;
	KT_RUN(post_rx(&e, tail, 4, PG, 2048));
	KT_ASSERT(!ftruncate(m.fd, ARENA - 4 * PG), "ftruncate: %s",
		  strerror(errno));
	KT_OK(inject(&e, 300, 0xbad));
	err = rx_wait_refused(&e, start, true);
	KT_ASSERT(!ftruncate(m.fd, ARENA), "ftruncate: %s", strerror(errno));
	KT_ASSERT(err >= 0, "delivered into truncated memory");
	KT_RUN(pin(err, true, "RX buffers truncated away"));
	return net_reset_and_verify(&e);
}

static int memfd_truncate_tx_bufs(void)
{
	struct memfd_arena m;
	struct vhxg_used u;
	struct vhxg_buf b;
	struct net_env e;
	uint8_t *tail;
	uint16_t start;
	bool err;
	ssize_t n;
	int head;

	KT_RUN(memfd_arena(&m));
	KT_RUN(setup(&e, HDR_VHOST, 0, &m.a));
	tail = arena_tail(&m.a, PG);
	memset(tail, 0, e.hdr_len);
	frame_build(tail + e.hdr_len, 300, NULL, 0xbad);
	start = e.tx->used->idx;
	b = (struct vhxg_buf){ tail, e.hdr_len + 300 };
	head = vhxg_vq_add(e.tx, &b, 1, NULL, 0, 0);
	KT_OK(head);
	vhxg_vq_publish(e.tx);
	KT_ASSERT(!ftruncate(m.fd, ARENA - PG), "ftruncate: %s",
		  strerror(errno));
	KT_OK(vhxg_vq_kick_force(e.tx));
	net_wait_used_or_err(e.tx, start + 1,
			     kt_dev_is_vhx() ? WAIT_MS : 2000);
	n = pkt_recv(e.pkt_fd, frame, sizeof(frame), QUIET_MS,
		     TEST_ETHERTYPE, NULL);
	err = net_err_pending(e.tx);
	KT_ASSERT(!ftruncate(m.fd, ARENA), "ftruncate: %s", strerror(errno));
	KT_ASSERT(n == 0, "a frame came out of truncated memory");
	KT_ASSERT(e.tx->used->idx == start ||
		  (e.tx->used->idx == (uint16_t)(start + 1) &&
		   e.tx->used->ring[start & (e.tx->num - 1)].id ==
		   (uint32_t)head), "used idx %u -> %u", start,
		  e.tx->used->idx);
	kt_diag("TX buffer truncated away: %s, %s",
		e.tx->used->idx == start ? "not used" : "used", err ? "ERR" :
		"no ERR");
	if (kt_dev_is_vhx()) {
		/* vhx drops a frame it cannot read and goes on. */
		KT_ASSERT(!err && e.tx->used->idx == (uint16_t)(start + 1),
			  "want the frame dropped");
		KT_ASSERT(vhxg_vq_reap(e.tx, &u, 1) == 1, "reap");
		KT_RUN(net_tx_check(&e, 300, 0x5e8));
	}
	return net_reset_and_verify(&e);
}

/* ---- descriptors rewritten while the device walks them ------------------- */

#define TOCTOU_MS	3000
#define ZONE		(1u << 20)	/* random buffers live here */

struct toctou {
	struct net_env *e;
	uint8_t *zone;
	volatile bool stop;
	unsigned long writes;
};

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void scribble(struct vhxg_vq *vq, uint8_t *zone, uint32_t *s)
{
	uint32_t r = rnd(s), len = rnd(s) % PG;
	unsigned int i = r % vq->num;
	uint16_t next = (r >> 8) % (vq->num + (r & 1 ? 2 : 0));
	struct vring_desc *d = &vq->desc[i];

	/* Plain stores, torn reads welcome; everything stays in the zone. */
	d->addr = (uintptr_t)zone + rnd(s) % (ZONE - PG);
	d->len = len;
	d->flags = (r >> 24) & (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE |
				 VRING_DESC_F_INDIRECT);
	d->next = next;
	__atomic_store_n(&vq->avail->ring[rnd(s) % vq->num],
			 (uint16_t)(rnd(s) % vq->num), __ATOMIC_RELAXED);
}

static void *mutator(void *arg)
{
	struct toctou *t = arg;
	uint32_t s = 0x1234567;

	while (!t->stop) {
		scribble(t->e->rx, t->zone, &s);
		scribble(t->e->tx, t->zone, &s);
		t->writes++;
		if (!(t->writes & 255))
			sched_yield();
	}
	return NULL;
}

/* Empty a non-blocking read of @fd: the tap's queue or the link socket. */
static unsigned int drain(int fd)
{
	unsigned int n = 0;
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while (read(fd, frame, sizeof(frame)) >= 0 || errno == EINTR)
		n++;
	fcntl(fd, F_SETFL, fl);
	return n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int toctou_rings(void)
{
	unsigned long errs[2] = { 0 }, restarts = 0, kicks = 0;
	uint16_t used0[2], moved[2];
	struct vhxg_arena a;
	struct toctou t = { 0 };
	struct net_env e;
	pthread_t th;
	uint8_t *map;
	int64_t end;
	unsigned int q;

	map = mmap(NULL, ARENA + 2 * GUARD, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_ASSERT(map != MAP_FAILED, "mmap: %s", strerror(errno));
	net_fill_canary(map, GUARD);
	net_fill_canary(map + GUARD + ARENA, GUARD);
	a = (struct vhxg_arena){ .base = map + GUARD, .size = ARENA };
	KT_RUN(setup(&e, HDR_VHOST, MRG | F(VIRTIO_RING_F_INDIRECT_DESC),
		     &a));
	t.e = &e;
	t.zone = vhxg_alloc(&a, ZONE, PG);
	KT_ASSERT(t.zone, "arena full");
	for (q = 0; q < ZONE; q++)
		t.zone[q] = (uint8_t)(q * 131 + (q >> 9));
	used0[0] = e.rx->used->idx;
	used0[1] = e.tx->used->idx;
	KT_ASSERT(!pthread_create(&th, NULL, mutator, &t), "pthread_create");
	end = now_ms() + TOCTOU_MS;
	while (now_ms() < end) {
		struct vhxg_vq *vqs[2] = { e.rx, e.tx };

		for (q = 0; q < 2; q++) {
			struct vhxg_vq *vq = vqs[q];
			uint16_t base = __atomic_load_n(&vq->used->idx,
							__ATOMIC_RELAXED);

			/* Keep entries available, within the ring's size. */
			vhxg_vq_set_avail_idx(vq,
					      base + 1 + kicks % (vq->num / 2));
			vhxg_vq_kick_force(vq);
			if (vhxg_vq_wait_err(vq, 0) == 1) {
				errs[q]++;
				/* Restart a stopped queue (refusals: fine). */
				vhxg_net_set_backend(&e.dev, vq->index, -1);
				vhxg_net_set_backend(&e.dev, vq->index,
						     e.tap_fd);
				restarts++;
			}
		}
		kicks++;
		if (!(kicks & 3))
			inject(&e, 60 + kicks % 1400, 0x70c0 + kicks);
		/* Frames the device sent: not looked at. */
		drain(e.pkt_fd);
		usleep(2000);
	}
	t.stop = true;
	pthread_join(th, NULL);
	KT_OK(net_attach(&e, -1));
	/* Nothing of this traffic may meet the checks after the reset. */
	kt_diag("drained %u frames from the tap, %u from the link",
		drain(e.tap_fd), drain(e.pkt_fd));
	moved[0] = e.rx->used->idx - used0[0];
	moved[1] = e.tx->used->idx - used0[1];
	for (q = 0; q < 2; q++)
		errs[q] += vhxg_vq_wait_err(q ? e.tx : e.rx, 0) == 1;
	kt_diag("%lu descriptor rewrites, %lu kicks: RX %u used, %lu ERR; TX %u used, %lu ERR; %lu restarts",
		t.writes, kicks, moved[0], errs[0], moved[1], errs[1],
		restarts);
	for (q = 0; q < 2; q++)
		KT_ASSERT(moved[q] || errs[q],
			  "%s neither progressed nor reported ERR",
			  q ? "TX" : "RX");
	KT_ASSERT(net_canary_intact(map, GUARD, "below the arena") &&
		  net_canary_intact(map + GUARD + ARENA, GUARD,
				    "above the arena"),
		  "written outside guest memory");
	KT_RUN(net_reset_and_verify(&e));
	KT_ASSERT(net_canary_intact(map, GUARD, "below the arena") &&
		  net_canary_intact(map + GUARD + ARENA, GUARD,
				    "above the arena"),
		  "written outside guest memory");
	return KT_PASS;
}

static const struct kt_case cases[] = {
	{ "rx_bufs_readonly", rx_bufs_readonly },
	{ "rx_bufs_readonly_tap_hdr", rx_bufs_readonly_tap_hdr },
	{ "rx_bufs_prot_none", rx_bufs_prot_none },
	{ "rx_used_ring_readonly", rx_used_ring_readonly },
	{ "tx_used_ring_readonly", tx_used_ring_readonly },
	{ "munmap_rx_bufs", munmap_rx_bufs },
	{ "munmap_tx_ring", munmap_tx_ring },
	{ "memfd_truncate_rx_bufs", memfd_truncate_rx_bufs },
	{ "memfd_truncate_tx_bufs", memfd_truncate_tx_bufs },
	{ "toctou_rings", toctou_rings },
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, cases, KT_ARRAY_SIZE(cases),
		       "/dev/vhx-net");
}
