// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty logging (VHOST_F_LOG_ALL, VHOST_SET_LOG_BASE, VHOST_VRING_F_LOG),
 * as QEMU uses it to migrate a guest: logging is switched on while the
 * device runs, then every guest page the device wrote must be marked in
 * the log, and no other.  Written pages are worked out from what the
 * device reported used (each buffer's share of the used length) and from
 * the used ring slots it filled.  Upstream vhost-net is the reference for
 * everything but the hostile cases, where vhx is stricter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "check.h"
#include "dlog.h"

#define LOG_USED	DLOG_USED
#define LOG_ALL		DLOG_ALL

struct log_env {
	struct net_env e;
	struct dlog log;
	struct dlog_pages want;
	int log_fd;
	uint64_t end;		/* guest addresses the log covers */
};

static void log_setup(struct __test_metadata *_metadata, struct log_env *l,
		      uint64_t features, unsigned int how)
{
	struct net_cfg cfg = { .features = features, .hdr = HDR_TAP };

	memset(l, 0, sizeof(*l));
	ASSERT_LE(0, net_setup(&l->e, &cfg));
	l->end = (uintptr_t)l->e.arena->base + l->e.arena->size;
	ASSERT_LE(0, dlog_init(&l->log, l->end));
	l->log_fd = eventfd_for_test();
	ASSERT_TRUE(l->log_fd >= 0)
		TH_LOG("eventfd");
	ASSERT_LE(0, dlog_start(&l->log, &l->e.dev, 2, how, l->log_fd));
}

/* What the device wrote into an RX chain posted by net_rx_post(). */
static void want_rx_chain(struct __test_metadata *_metadata, struct log_env *l,
			  const struct vhxg_used *u)
{
	const struct rx_slot *s = &l->e.rx_slots[u->id];
	uint32_t left = u->len, j;

	ASSERT_TRUE(s->base)
		TH_LOG("RX used id %u was never posted", u->id);
	for (j = 0; j < s->ndesc && left; j++) {
		uint32_t n = left < s->buflen ? left : s->buflen;

		ASSERT_LE(0, dlog_pages_add(&l->want, (uintptr_t)s->base +
				     (uint64_t)j * s->stride, n));
		left -= n;
	}
}

/*
 * Send a test frame of @len to the guest and reap every RX entry up to
 * it, adding what each wrote (data pages when @data) to the wanted set.
 */
static void rx_frame(struct __test_metadata *_metadata, struct log_env *l,
		     size_t len, uint32_t seed, bool data, bool used)
{
	static uint8_t frame[MAX_FRAME];
	struct net_env *e = &l->e;
	uint16_t from = e->rx->last_used;
	struct vhxg_used u;
	uint64_t total = 0;
	int ret;

	frame_build(frame, len, e->rx_dst, seed);
	ASSERT_LE(0, pkt_send(e->pkt_fd, frame, len, NULL));
	/* Each buffer's share adds up to the frame and its header. */
	while (total < e->hdr_len + len) {
		ret = vhxg_vq_wait_used(e->rx, WAIT_MS);
		ASSERT_TRUE(ret == 1)
			TH_LOG("no RX entry (%s)",
			       ret ? strerror(-ret) : "timeout");
		ASSERT_TRUE(vhxg_vq_reap(e->rx, &u, 1) == 1)
			TH_LOG("reap");
		if (data)
			want_rx_chain(_metadata, l, &u);
		total += u.len;
	}
	if (used)
		ASSERT_LE(0, dlog_pages_add_used(&l->want, e->rx, from,
					  e->rx->last_used));
}

static void expect_log(struct __test_metadata *_metadata, struct log_env *l,
		       const char *what)
{
	ASSERT_TRUE(dlog_expect(&l->log, &l->want, what))
		TH_LOG("%s", what);
	ASSERT_TRUE(dlog_canary_intact(&l->log))
		TH_LOG("%s: written past the log", what);
}

static void expect_log_fd(struct __test_metadata *_metadata, struct log_env *l)
{
	ASSERT_TRUE(vhxg_wait_fd(l->log_fd, WAIT_MS) == 1)
		TH_LOG("log eventfd not signalled");
}

/*
 * Post RX chains (net_rx_post()) whose first buffer starts 320 bytes
 * before a page boundary, so that what the device writes crosses it.
 */
static void rx_post_across(struct __test_metadata *_metadata, struct log_env *l,
			   unsigned int n, uint32_t buflen, unsigned int ndesc,
			   unsigned int flags)
{
	struct vhxg_arena *a = l->e.arena;
	uintptr_t next = (uintptr_t)(a->base + a->used + 63) & ~63UL;
	/* net_rx_post() puts the first buffer 64 bytes into its area. */
	size_t pad = (DLOG_PAGE - 320 - 64 - next % DLOG_PAGE) % DLOG_PAGE;

	if (pad)
		ASSERT_TRUE(vhxg_alloc(a, pad, 1))
			TH_LOG("arena full");
	ASSERT_LE(0, net_rx_post(&l->e, n, buflen, ndesc, flags));
}

/* RX into chains of three buffers, crossing a page boundary. */
TEST(log_rx)
{
	struct log_env l;

	log_setup(_metadata, &l, BASE_FEATURES, LOG_ALL | LOG_USED);
	rx_post_across(_metadata, &l, 4, 500, 3, 0);
	rx_frame(_metadata, &l, 1400, 0x501, true, true);
	rx_frame(_metadata, &l, 60, 0x502, true, true);
	expect_log(_metadata, &l, "RX, 2 frames");
	expect_log_fd(_metadata, &l);
}

/* Mergeable buffers: one frame spread over several chains. */
TEST(log_rx_mergeable)
{
	struct log_env l;

	log_setup(_metadata, &l, BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF),
			 LOG_ALL | LOG_USED);
	rx_post_across(_metadata, &l, 16, 400, 1, 0);
	rx_frame(_metadata, &l, 1500, 0x503, true, true);
	expect_log(_metadata, &l, "mergeable RX");
	expect_log_fd(_metadata, &l);
}

/* Indirect tables: the data lies where the table says, not the ring. */
TEST(log_rx_indirect)
{
	struct log_env l;

	log_setup(_metadata, &l, BASE_FEATURES | F(VIRTIO_RING_F_INDIRECT_DESC),
			 LOG_ALL | LOG_USED);
	rx_post_across(_metadata, &l, 4, 400, 4, VHXG_ADD_INDIRECT);
	rx_frame(_metadata, &l, 1500, 0x504, true, true);
	expect_log(_metadata, &l, "indirect RX");
}

/* TX writes no guest data: the used ring only. */
TEST(log_tx)
{
	struct log_env l;
	uint16_t from;

	log_setup(_metadata, &l, BASE_FEATURES, LOG_ALL | LOG_USED);
	from = l.e.tx->last_used;
	net_tx_check(_metadata, &l.e, 1000, 0x505);
	net_tx_check(_metadata, &l.e, 3000, 0x506);
	ASSERT_LE(0, dlog_pages_add_used(&l.want, l.e.tx, from,
					 l.e.tx->last_used));
	expect_log(_metadata, &l, "TX");
}

/*
 * The two switches apart: LOG_ALL logs data, the ring's LOG flag its
 * used ring; with neither, nothing is marked.
 */
TEST(log_switches)
{
	static const struct { unsigned int how; const char *what; } runs[] = {
		{ LOG_ALL, "LOG_ALL only: data" },
		{ LOG_USED, "VRING_F_LOG only: used ring" },
		{ 0, "neither: nothing" },
	};
	struct log_env l;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(runs); i++) {
		log_setup(_metadata, &l, BASE_FEATURES, runs[i].how);
		rx_post_across(_metadata, &l, 2, 1000, 2, 0);
		rx_frame(_metadata, &l, 1400, 0x510 + i, runs[i].how & LOG_ALL,
				runs[i].how & LOG_USED);
		expect_log(_metadata, &l, runs[i].what);
	}
}

/*
 * Guest addresses that are not user addresses: a second region maps
 * guest range [gpa, gpa + 64 KiB) onto memory of its own, and an RX
 * chain there crossing a page and the boundary between two regions is
 * logged at its guest pages, never at the user addresses behind them.
 */
TEST(log_regions)
{
	struct vhost_memory_region r[3];
	struct log_env l;
	struct net_env *e = &l.e;
	uint8_t *mem;
	uint64_t gpa, addr[2];
	uint32_t len[2] = { 1000, 1000 };
	struct vhxg_used u;
	size_t flen = 1400, total;
	int head;

	log_setup(_metadata, &l, BASE_FEATURES, 0);
	mem = mmap(NULL, 2 << 16, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(mem != MAP_FAILED)
		TH_LOG("mmap");
	/* Two regions back to back in guest space, apart in ours. */
	gpa = (l.end + (1 << 20)) & ~0xffffULL;
	r[0] = (struct vhost_memory_region){
		.guest_phys_addr = (uintptr_t)e->arena->base,
		.memory_size = e->arena->size,
		.userspace_addr = (uintptr_t)e->arena->base,
	};
	r[1] = (struct vhost_memory_region){
		.guest_phys_addr = gpa, .memory_size = 1 << 16,
		.userspace_addr = (uintptr_t)mem + (1 << 16),
	};
	r[2] = (struct vhost_memory_region){
		.guest_phys_addr = gpa + (1 << 16), .memory_size = 1 << 16,
		.userspace_addr = (uintptr_t)mem,
	};
	ASSERT_LE(0, vhxg_set_mem_table(&e->dev, r, 3));
	/* The log must now cover the new regions. */
	dlog_fini(&l.log);
	l.end = gpa + (2 << 16);
	ASSERT_LE(0, dlog_init(&l.log, l.end));
	ASSERT_LE(0, dlog_start(&l.log, &e->dev, 2, LOG_ALL | LOG_USED,
				l.log_fd));

	addr[0] = gpa + (1 << 16) - 4096 - 500;	/* crosses a page */
	addr[1] = gpa + (1 << 16) - 300;	/* crosses the regions */
	head = net_post_chain(e->rx, addr, len, 2, VRING_DESC_F_WRITE);
	ASSERT_TRUE(head >= 0)
		TH_LOG("post: %s", strerror(-head));
	{
		static uint8_t frame[MAX_FRAME];
		uint16_t from = e->rx->last_used;

		frame_build(frame, flen, e->rx_dst, 0x520);
		ASSERT_LE(0, pkt_send(e->pkt_fd, frame, flen, NULL));
		ASSERT_TRUE(vhxg_vq_wait_used(e->rx, WAIT_MS) == 1)
			TH_LOG("no RX");
		ASSERT_TRUE(vhxg_vq_reap(e->rx, &u, 1) == 1)
			TH_LOG("reap");
		ASSERT_TRUE(u.id == (unsigned int)head &&
			    u.len == e->hdr_len + flen)
			TH_LOG("used %u/%u, want %d/%zu", u.id, u.len, head,
			       e->hdr_len + flen);
		/*
		 * Where it landed, behind the guest's addresses: the first
		 * buffer in region 1 (our mem + 64 KiB on), the second's
		 * first 300 bytes at its end, the rest in region 2 (mem).
		 */
		total = e->hdr_len + flen;
		ASSERT_TRUE(bytes_equal(mem + (2 << 16) - 4096 - 500 +
					e->hdr_len, frame, 1000 - e->hdr_len,
					"buffer 1"))
			TH_LOG("buffer 1");
		ASSERT_TRUE(bytes_equal(mem + (2 << 16) - 300,
					frame + 1000 - e->hdr_len, 300,
					"buffer 2, region 1"))
			TH_LOG("buffer 2");
		ASSERT_TRUE(bytes_equal(mem, frame + 1300 - e->hdr_len,
					total - 1300, "buffer 2, region 2"))
			TH_LOG("buffer 2");
		ASSERT_LE(0, dlog_pages_add(&l.want, addr[0], 1000));
		ASSERT_LE(0, dlog_pages_add(&l.want, addr[1], total - 1000));
		ASSERT_LE(0, dlog_pages_add_used(&l.want, e->rx, from,
						 e->rx->last_used));
	}
	expect_log(_metadata, &l, "two regions");
}

/*
 * A log the device cannot write (unmapped by a VMM gone wrong) stops the
 * queue with ERR: a page written but not logged would be lost to the
 * migration.  Upstream ignores the failed log write and goes on.
 */
TEST(log_unwritable)
{
	static uint8_t frame[MAX_FRAME];
	struct log_env l;
	int ret;

	log_setup(_metadata, &l, BASE_FEATURES, LOG_ALL | LOG_USED);
	ASSERT_LE(0, net_rx_post(&l.e, 2, 2000, 1, 0));
	ASSERT_TRUE(mprotect(l.log.mapping, l.log.canary - l.log.mapping,
			     PROT_READ) == 0)
		TH_LOG("mprotect");
	frame_build(frame, 500, l.e.rx_dst, 0x530);
	ASSERT_LE(0, pkt_send(l.e.pkt_fd, frame, 500, NULL));
	ret = net_wait_used_or_err(l.e.rx, l.e.rx->last_used + 1, WAIT_MS);
	if (!test_dev_is_vhx()) {
		TH_LOG("upstream: %s", ret == 2 ? "ERR" : ret == 1 ?
			"frame delivered, not logged" : "nothing");
		SKIP(return, "vhx-specific: upstream ignores log faults");
	}
	ASSERT_TRUE(ret == 2)
		TH_LOG("no ERR (%s)",
		       ret == 1 ? "frame delivered" : "nothing happened");
}

/*
 * A used ring logged at a guest address past the memory table would be
 * marked past the end of the log the VMM sized for that table: the queue
 * stops instead, and the page after the log stays as it was.  Upstream
 * checks nothing of the kind.
 */
TEST(log_used_outside)
{
	static uint8_t frame[MAX_FRAME];
	struct log_env l;
	int ret;

	log_setup(_metadata, &l, BASE_FEATURES, LOG_ALL | LOG_USED);
	ASSERT_LE(0, dlog_set_ring(l.e.rx, true, l.end + (1 << 16)));
	ASSERT_LE(0, net_rx_post(&l.e, 2, 2000, 1, 0));
	frame_build(frame, 500, l.e.rx_dst, 0x531);
	ASSERT_LE(0, pkt_send(l.e.pkt_fd, frame, 500, NULL));
	ret = net_wait_used_or_err(l.e.rx, l.e.rx->last_used + 1, WAIT_MS);
	if (!test_dev_is_vhx()) {
		TH_LOG("upstream: %s, the page after the log %s",
			ret == 2 ? "ERR" : ret == 1 ? "delivered" : "nothing",
			dlog_canary_intact(&l.log) ? "intact" : "written");
		SKIP(return, "vhx-specific: upstream logs past the table");
	}
	ASSERT_TRUE(ret == 2)
		TH_LOG("no ERR (%s)",
		       ret == 1 ? "frame delivered" : "nothing happened");
	ASSERT_TRUE(dlog_canary_intact(&l.log))
		TH_LOG("written past the log");
}

/*
 * While LOG_ALL is acked a memory table the log cannot cover within the
 * owner's address space is refused (EFAULT) and the old one stays;
 * upstream takes it.  The log is put where that can happen, near the top
 * of user space (2^47 or, with 5-level page tables, 2^56): SET_LOG_BASE
 * tells which by taking or refusing the higher one.
 */
TEST(log_table_too_big)
{
	uint64_t base = (1ULL << 56) - (8ULL << 30), real;
	struct vhost_memory_region r[2];
	struct log_env l;
	int ret;

	log_setup(_metadata, &l, BASE_FEATURES, LOG_ALL | LOG_USED);
	real = (uintptr_t)l.log.map;
	if (vhxg_ioctl(&l.e.dev, VHOST_SET_LOG_BASE, &base)) {
		base = (1ULL << 47) - (8ULL << 30);
		ASSERT_LE(0, vhxg_ioctl(&l.e.dev, VHOST_SET_LOG_BASE, &base));
	}
	r[0] = (struct vhost_memory_region){
		.guest_phys_addr = (uintptr_t)l.e.arena->base,
		.memory_size = l.e.arena->size,
		.userspace_addr = (uintptr_t)l.e.arena->base,
	};
	/* At 2^63 its log needs 2^48 bytes: more than is left above base. */
	r[1] = (struct vhost_memory_region){
		.guest_phys_addr = 1ULL << 63, .memory_size = 1 << 16,
		.userspace_addr = (uintptr_t)l.e.arena->base,
	};
	ret = vhxg_set_mem_table(&l.e.dev, r, 2);
	ASSERT_LE(0, vhxg_ioctl(&l.e.dev, VHOST_SET_LOG_BASE, &real));
	if (!test_dev_is_vhx()) {
		TH_LOG("upstream: %s", ret ? strerror(-ret) : "taken");
		SKIP(return, "vhx-specific: upstream does not check the "
			       "log against a new table");
	}
	ASSERT_TRUE(ret == -EFAULT)
		TH_LOG("SET_MEM_TABLE: %s, want EFAULT",
		       ret ? strerror(-ret) : "taken");
	rx_post_across(_metadata, &l, 2, 2000, 1, 0);
	rx_frame(_metadata, &l, 300, 0x532, true, true);
	expect_log(_metadata, &l, "after the refused table");
}

VHX_TEST_MAIN("/dev/vhx-net")
