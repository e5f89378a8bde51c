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

#include "check.h"

#define MRG		F(VIRTIO_NET_F_MRG_RXBUF)
#define PG		4096
#define ARENA		(64u << 20)
#define GUARD		(1u << 20)	/* canary zones around the table */

static uint8_t frame[MAX_FRAME];

static void setup(struct __test_metadata *_metadata, struct net_env *e,
		  enum hdr_mode mode, uint64_t features,
		  struct vhxg_arena *arena)
{
	struct net_cfg cfg = { .features = BASE_FEATURES | features,
			       .hdr = mode, .arena = arena };

	ASSERT_LE(0, net_setup(e, &cfg));
	net_tx_check(_metadata, e, 100, 0x5e7);
}

static int inject(struct net_env *e, size_t len, uint32_t seed)
{
	frame_build(frame, len, NULL, seed);
	return pkt_send(e->pkt_fd, frame, len, NULL);
}

/* Post @n one-buffer RX chains of @len bytes at @area + i * @stride + 64. */
static void post_rx(struct __test_metadata *_metadata, struct net_env *e,
		    uint8_t *area, unsigned int n, size_t stride, uint32_t len)
{
	unsigned int i;
	uint64_t addr;

	for (i = 0; i < n; i++) {
		addr = (uintptr_t)area + i * stride + 64;
		ASSERT_LE(0, net_post_chain(e->rx, &addr, &len, 1,
					    VRING_DESC_F_WRITE));
	}
}

/*
 * After the bad memory met a frame: wait for ERR (long on vhx when it
 * must come, a second otherwise), then no used entry may have appeared.
 * Returns 1 for ERR, 0 for none.
 */
static int rx_wait_refused(struct net_env *e, uint16_t start, bool vhx_err)
{
	int w = net_wait_used_or_err(e->rx, start + 1,
				     test_dev_is_vhx() && vhx_err ? WAIT_MS :
								  1000);

	usleep(QUIET_MS * 1000);
	if (e->rx->used->idx != start) {
		ksft_print_msg("RX used idx %u -> %u into memory it cannot write\n",
			       start, e->rx->used->idx);
		return -1;
	}
	return w == 2 || net_err_pending(e->rx);
}

static void pin(struct __test_metadata *_metadata, bool err, bool vhx_err,
		const char *what)
{
	TH_LOG("%s: %s", what, err ? "ERR" : "dropped, no ERR");
	if (test_dev_is_vhx()) {
		ASSERT_TRUE(err == vhx_err)
			TH_LOG("%s: want %s", what,
			       vhx_err ? "ERR" : "no ERR");
	}
}

/* ---- RX buffers the device cannot write ---------------------------------- */

static void rx_bufs_prot(struct __test_metadata *_metadata, enum hdr_mode mode,
			 int prot, bool vhx_err, const char *what)
{
	struct net_env e;
	uint8_t *area;
	uint16_t start;
	int err;

	setup(_metadata, &e, mode, MRG, NULL);
	area = vhxg_alloc(e.arena, 4 * PG, PG);
	ASSERT_TRUE(area)
		TH_LOG("arena full");
	net_fill_canary(area, 4 * PG);
	start = e.rx->used->idx;
	post_rx(_metadata, &e, area, 4, PG, 2048);
	ASSERT_TRUE(!mprotect(area, 4 * PG, prot))
		TH_LOG("mprotect: %s",
		       strerror(errno));
	ASSERT_LE(0, inject(&e, 300, 0xbad));
	err = rx_wait_refused(&e, start, vhx_err);
	ASSERT_TRUE(!mprotect(area, 4 * PG, PROT_READ | PROT_WRITE))
		TH_LOG("mprotect: %s", strerror(errno));
	ASSERT_TRUE(err >= 0)
		TH_LOG("delivered into protected buffers");
	ASSERT_TRUE(net_canary_intact(area, 4 * PG, "protected RX buffers"))
		TH_LOG("protected buffers changed");
	pin(_metadata, err, vhx_err, what);
	net_reset_and_verify(_metadata, &e);
}

/* vhx writes the header it owns first: that fails, a bad ring. */
TEST(rx_bufs_readonly)
{
	rx_bufs_prot(_metadata, HDR_VHOST, PROT_READ, true,
			    "RX buffers read-only, vhost header");
}

/* The tap writes its own header: its recvmsg fails, the frame is lost. */
TEST(rx_bufs_readonly_tap_hdr)
{
	rx_bufs_prot(_metadata, HDR_TAP, PROT_READ, false,
			    "RX buffers read-only, tap header");
}

TEST(rx_bufs_prot_none)
{
	rx_bufs_prot(_metadata, HDR_VHOST, PROT_NONE, true,
			    "RX buffers PROT_NONE, vhost header");
}

/* ---- a used ring the device cannot write --------------------------------- */

static void used_ring_readonly(struct __test_metadata *_metadata, bool rx)
{
	struct net_env e;
	struct vhxg_vq *vq;
	uint8_t *pages;
	uint16_t start;
	bool err;
	ssize_t n;

	setup(_metadata, &e, HDR_VHOST, MRG, NULL);
	vq = rx ? e.rx : e.tx;
	pages = vhxg_alloc(e.arena, 3 * PG, PG);
	ASSERT_TRUE(pages)
		TH_LOG("arena full");
	ASSERT_LE(0, net_move_rings(&e, vq, pages));
	/* The moved ring works. */
	if (rx) {
		ASSERT_LE(0, net_rx_post(&e, 4, 2048, 1, 0));
		net_rx_check(_metadata, &e, 200, 0x30e);
	} else {
		net_tx_check(_metadata, &e, 200, 0x30e);
	}
	start = vq->used->idx;
	ASSERT_TRUE(!mprotect(pages + 2 * PG, PG, PROT_READ))
		TH_LOG("mprotect: %s",
		       strerror(errno));
	if (rx) {
		ASSERT_LE(0, vhxg_vq_kick_force(vq));
		ASSERT_LE(0, inject(&e, 300, 0xbad));
	} else {
		frame_build(frame, 300, NULL, 0xbad);
		ASSERT_LE(0, net_tx(&e, frame, 300, NULL, 1, 0));
		ASSERT_LE(0, vhxg_vq_kick_force(vq));
	}
	net_wait_used_or_err(vq, start + 1, test_dev_is_vhx() ? WAIT_MS : 2000);
	n = pkt_recv(e.pkt_fd, frame, sizeof(frame), QUIET_MS,
		     TEST_ETHERTYPE, NULL);
	err = net_err_pending(vq);
	ASSERT_TRUE(!mprotect(pages + 2 * PG, PG, PROT_READ | PROT_WRITE))
		TH_LOG("mprotect: %s", strerror(errno));
	ASSERT_TRUE(vq->used->idx == start)
		TH_LOG("used idx %u -> %u", start,
		       vq->used->idx);
	TH_LOG("%s used ring read-only: %s%s", rx ? "RX" : "TX",
	       err ? "ERR" : "no ERR",
	       rx ? "" : n > 0 ? ", the frame was sent" : ", nothing sent");
	if (test_dev_is_vhx()) {
		ASSERT_TRUE(err)
			TH_LOG("no ERR");
		ASSERT_TRUE(n == 0)
			TH_LOG("vhx sent a frame it cannot report");
	}
	net_reset_and_verify(_metadata, &e);
}

TEST(rx_used_ring_readonly)
{
	used_ring_readonly(_metadata, true);
}

TEST(tx_used_ring_readonly)
{
	used_ring_readonly(_metadata, false);
}

/* ---- memory unmapped under a running queue ------------------------------- */

static void remap(struct __test_metadata *_metadata, uint8_t *p, size_t len)
{
	void *q = mmap(p, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	ASSERT_TRUE(q == p)
		TH_LOG("mmap back: %s", strerror(errno));
}

TEST(munmap_rx_bufs)
{
	struct net_env e;
	uint8_t *area;
	uint16_t start;
	int err;

	setup(_metadata, &e, HDR_VHOST, MRG, NULL);
	ASSERT_LE(0, net_rx_post(&e, 1, 2048, 1, 0));
	net_rx_check(_metadata, &e, 200, 0x30e);
	area = vhxg_alloc(e.arena, 4 * PG, PG);
	ASSERT_TRUE(area)
		TH_LOG("arena full");
	start = e.rx->used->idx;
	post_rx(_metadata, &e, area, 4, PG, 2048);
	ASSERT_TRUE(!munmap(area, 4 * PG))
		TH_LOG("munmap: %s", strerror(errno));
	ASSERT_LE(0, inject(&e, 300, 0xbad));
	err = rx_wait_refused(&e, start, true);
	remap(_metadata, area, 4 * PG);
	ASSERT_TRUE(err >= 0)
		TH_LOG("delivered into unmapped buffers");
	pin(_metadata, err, true, "RX buffers unmapped");
	net_reset_and_verify(_metadata, &e);
}

/*
 * The TX descriptor table goes away after the descriptor is written and
 * before avail->idx is published: a worker still polling after the last
 * frame would otherwise take the entry before the munmap.
 */
TEST(munmap_tx_ring)
{
	struct vhxg_buf b;
	struct net_env e;
	uint8_t *pages, *buf;
	uint16_t start;
	bool err;
	ssize_t n;

	setup(_metadata, &e, HDR_VHOST, 0, NULL);
	pages = vhxg_alloc(e.arena, 3 * PG, PG);
	buf = vhxg_alloc(e.arena, 2048, 64);
	ASSERT_TRUE(pages && buf)
		TH_LOG("arena full");
	ASSERT_LE(0, net_move_rings(&e, e.tx, pages));
	net_tx_check(_metadata, &e, 200, 0x30e);
	start = e.tx->used->idx;
	memset(buf, 0, e.hdr_len);
	frame_build(buf + e.hdr_len, 300, NULL, 0xbad);
	b = (struct vhxg_buf){ buf, e.hdr_len + 300 };
	ASSERT_LE(0, vhxg_vq_add(e.tx, &b, 1, NULL, 0, 0));
	ASSERT_TRUE(!munmap(pages, PG))
		TH_LOG("munmap: %s", strerror(errno));
	vhxg_vq_publish(e.tx);
	ASSERT_LE(0, vhxg_vq_kick_force(e.tx));
	net_wait_used_or_err(e.tx, start + 1,
			     test_dev_is_vhx() ? WAIT_MS : 2000);
	n = pkt_recv(e.pkt_fd, frame, sizeof(frame), QUIET_MS,
		     TEST_ETHERTYPE, NULL);
	err = net_err_pending(e.tx);
	remap(_metadata, pages, PG);
	ASSERT_TRUE(n == 0)
		TH_LOG("a frame came out of an unmapped descriptor table");
	ASSERT_TRUE(e.tx->used->idx == start)
		TH_LOG("used idx %u -> %u", start,
		       e.tx->used->idx);
	pin(_metadata, err, true, "TX descriptor table unmapped");
	net_reset_and_verify(_metadata, &e);
}

/* ---- the memfd behind guest memory truncated ----------------------------- */

struct memfd_arena {
	struct vhxg_arena a;
	int fd;
};

static void memfd_arena(struct __test_metadata *_metadata,
			struct memfd_arena *m)
{
	void *p;

	m->fd = memfd_create("vhx-guest", MFD_CLOEXEC);
	ASSERT_TRUE(m->fd >= 0)
		TH_LOG("memfd_create: %s", strerror(errno));
	ASSERT_TRUE(!ftruncate(m->fd, ARENA))
		TH_LOG("ftruncate: %s", strerror(errno));
	p = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	ASSERT_TRUE(p != MAP_FAILED)
		TH_LOG("mmap memfd: %s", strerror(errno));
	m->a = (struct vhxg_arena){ .base = p, .size = ARENA };
}

/* The last @len bytes of the arena, which a truncation takes away. */
static uint8_t *arena_tail(struct vhxg_arena *a, size_t len)
{
	return a->base + a->size - len;
}

TEST(memfd_truncate_rx_bufs)
{
	struct memfd_arena m;
	struct net_env e;
	uint8_t *tail;
	uint16_t start;
	int err;

	memfd_arena(_metadata, &m);
	setup(_metadata, &e, HDR_VHOST, MRG, &m.a);
	ASSERT_LE(0, net_rx_post(&e, 1, 2048, 1, 0));
	net_rx_check(_metadata, &e, 200, 0x30e);
	tail = arena_tail(&m.a, 4 * PG);
	start = e.rx->used->idx;
	post_rx(_metadata, &e, tail, 4, PG, 2048);
	ASSERT_TRUE(!ftruncate(m.fd, ARENA - 4 * PG))
		TH_LOG("ftruncate: %s",
		       strerror(errno));
	ASSERT_LE(0, inject(&e, 300, 0xbad));
	err = rx_wait_refused(&e, start, true);
	ASSERT_TRUE(!ftruncate(m.fd, ARENA))
		TH_LOG("ftruncate: %s", strerror(errno));
	ASSERT_TRUE(err >= 0)
		TH_LOG("delivered into truncated memory");
	pin(_metadata, err, true, "RX buffers truncated away");
	net_reset_and_verify(_metadata, &e);
}

TEST(memfd_truncate_tx_bufs)
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

	memfd_arena(_metadata, &m);
	setup(_metadata, &e, HDR_VHOST, 0, &m.a);
	tail = arena_tail(&m.a, PG);
	memset(tail, 0, e.hdr_len);
	frame_build(tail + e.hdr_len, 300, NULL, 0xbad);
	start = e.tx->used->idx;
	b = (struct vhxg_buf){ tail, e.hdr_len + 300 };
	head = vhxg_vq_add(e.tx, &b, 1, NULL, 0, 0);
	ASSERT_LE(0, head);
	vhxg_vq_publish(e.tx);
	ASSERT_TRUE(!ftruncate(m.fd, ARENA - PG))
		TH_LOG("ftruncate: %s",
		       strerror(errno));
	ASSERT_LE(0, vhxg_vq_kick_force(e.tx));
	net_wait_used_or_err(e.tx, start + 1,
			     test_dev_is_vhx() ? WAIT_MS : 2000);
	n = pkt_recv(e.pkt_fd, frame, sizeof(frame), QUIET_MS,
		     TEST_ETHERTYPE, NULL);
	err = net_err_pending(e.tx);
	ASSERT_TRUE(!ftruncate(m.fd, ARENA))
		TH_LOG("ftruncate: %s", strerror(errno));
	ASSERT_TRUE(n == 0)
		TH_LOG("a frame came out of truncated memory");
	ASSERT_TRUE(e.tx->used->idx == start ||
		    (e.tx->used->idx == (uint16_t)(start + 1) &&
		     e.tx->used->ring[start & (e.tx->num - 1)].id ==
		     (uint32_t)head))
		TH_LOG("used idx %u -> %u", start,
		       e.tx->used->idx);
	TH_LOG("TX buffer truncated away: %s, %s",
	       e.tx->used->idx == start ? "not used" : "used", err ? "ERR" :
	       "no ERR");
	if (test_dev_is_vhx()) {
		/* vhx drops a frame it cannot read and goes on. */
		ASSERT_TRUE(!err && e.tx->used->idx == (uint16_t)(start + 1))
			TH_LOG("want the frame dropped");
		ASSERT_TRUE(vhxg_vq_reap(e.tx, &u, 1) == 1)
			TH_LOG("reap");
		net_tx_check(_metadata, &e, 300, 0x5e8);
	}
	net_reset_and_verify(_metadata, &e);
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

TEST(toctou_rings)
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
	ASSERT_TRUE(map != MAP_FAILED)
		TH_LOG("mmap: %s", strerror(errno));
	net_fill_canary(map, GUARD);
	net_fill_canary(map + GUARD + ARENA, GUARD);
	a = (struct vhxg_arena){ .base = map + GUARD, .size = ARENA };
	setup(_metadata, &e, HDR_VHOST, MRG | F(VIRTIO_RING_F_INDIRECT_DESC),
	      &a);
	t.e = &e;
	t.zone = vhxg_alloc(&a, ZONE, PG);
	ASSERT_TRUE(t.zone)
		TH_LOG("arena full");
	for (q = 0; q < ZONE; q++)
		t.zone[q] = (uint8_t)(q * 131 + (q >> 9));
	used0[0] = e.rx->used->idx;
	used0[1] = e.tx->used->idx;
	ASSERT_TRUE(!pthread_create(&th, NULL, mutator, &t))
		TH_LOG("pthread_create");
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
	ASSERT_LE(0, net_attach(&e, -1));
	/* Nothing of this traffic may meet the checks after the reset. */
	TH_LOG("drained %u frames from the tap, %u from the link",
	       drain(e.tap_fd), drain(e.pkt_fd));
	moved[0] = e.rx->used->idx - used0[0];
	moved[1] = e.tx->used->idx - used0[1];
	for (q = 0; q < 2; q++)
		errs[q] += vhxg_vq_wait_err(q ? e.tx : e.rx, 0) == 1;
	TH_LOG("%lu descriptor rewrites, %lu kicks: RX %u used, %lu ERR; TX %u used, %lu ERR; %lu restarts",
	       t.writes, kicks, moved[0], errs[0], moved[1], errs[1],
	       restarts);
	for (q = 0; q < 2; q++) {
		ASSERT_TRUE(moved[q] || errs[q])
			TH_LOG("%s neither progressed nor reported ERR",
			       q ? "TX" : "RX");
	}
	ASSERT_TRUE(net_canary_intact(map, GUARD, "below the arena") &&
		    net_canary_intact(map + GUARD + ARENA, GUARD,
				      "above the arena"))
		TH_LOG("written outside guest memory");
	net_reset_and_verify(_metadata, &e);
	ASSERT_TRUE(net_canary_intact(map, GUARD, "below the arena") &&
		    net_canary_intact(map + GUARD + ARENA, GUARD,
				      "above the arena"))
		TH_LOG("written outside guest memory");
}


VHX_TEST_MAIN("/dev/vhx-net")
