// SPDX-License-Identifier: GPL-2.0
/*
 * The vhost-net ioctl ABI: features, ownership, argument checking.
 * Upstream vhost_net is the reference: every errno asserted here is what
 * upstream returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sys/wait.h>

#include "check.h"

static struct vhxg_arena arena;

/* Open test_dev with an arena; take ownership when @owner. */
static int open_dev(struct vhxg_dev *d, bool owner)
{
	int ret;

	if (!arena.base) {
		ret = vhxg_arena_init(&arena, 8 << 20);
		if (ret)
			return ret;
	}
	ret = vhxg_open(d, test_dev, &arena);
	if (ret) {
		ksft_print_msg("open %s: %s\n", test_dev, strerror(-ret));
		return ret;
	}
	return owner ? vhxg_set_owner(d) : 0;
}

/* What vhx offers, exactly: dirty logging, no IOTLB. */
#define VHX_NET_FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) | \
			  F(VIRTIO_RING_F_INDIRECT_DESC) |		\
			  F(VIRTIO_F_ANY_LAYOUT) |			\
			  F(VIRTIO_F_NOTIFY_ON_EMPTY) |		\
			  F(VIRTIO_NET_F_MRG_RXBUF) |			\
			  F(VHOST_NET_F_VIRTIO_NET_HDR) |		\
			  F(VHOST_F_LOG_ALL))

/*
 * vhx: the feature word is exactly VHX_NET_FEATURES, so that nothing it
 * cannot honour is ever offered.  Upstream: it offers at least what the
 * data tests use.  Both offer VHOST_F_LOG_ALL: without it QEMU blocks
 * migration.
 */
TEST(features_offered)
{
	static const struct { int bit; const char *name; } want[] = {
		{ VIRTIO_F_VERSION_1, "VERSION_1" },
		{ VIRTIO_RING_F_EVENT_IDX, "EVENT_IDX" },
		{ VIRTIO_RING_F_INDIRECT_DESC, "INDIRECT_DESC" },
		{ VIRTIO_F_ANY_LAYOUT, "ANY_LAYOUT" },
		{ VIRTIO_F_NOTIFY_ON_EMPTY, "NOTIFY_ON_EMPTY" },
		{ VIRTIO_NET_F_MRG_RXBUF, "MRG_RXBUF" },
		{ VHOST_NET_F_VIRTIO_NET_HDR, "VHOST_NET_F_VIRTIO_NET_HDR" },
		{ VHOST_F_LOG_ALL, "LOG_ALL" },
	};
	struct vhxg_dev d;
	uint64_t f;
	size_t i;

	ASSERT_LE(0, open_dev(&d, false));
	ASSERT_LE(0, vhxg_get_features(&d, &f));
	TH_LOG("offered %#llx", (unsigned long long)f);
	for (i = 0; i < ARRAY_SIZE(want); i++) {
		EXPECT_TRUE(f & F(want[i].bit))
			TH_LOG("%s missing", want[i].name);
	}
	if (!test_dev_is_vhx())
		return;
	ASSERT_TRUE(f == VHX_NET_FEATURES)
		TH_LOG("offered %#llx, want exactly %#llx "
		       "(extra %#llx, missing %#llx)", (unsigned long long)f,
		       (unsigned long long)VHX_NET_FEATURES,
		       (unsigned long long)(f & ~VHX_NET_FEATURES),
		       (unsigned long long)(VHX_NET_FEATURES & ~f));
}

/*
 * The dirty log's ioctls, as upstream takes them: SET_LOG_BASE takes a
 * user address (vhx: one whose log would not fit below the top of user
 * space for the memory table is EFAULT), SET_LOG_FD an eventfd or -1
 * (another file is EINVAL, no file EBADF), SET_VRING_ADDR the LOG flag
 * with log_guest_addr, SET_FEATURES LOG_ALL; before and after a backend
 * is attached, and traffic goes on.
 */
TEST(log_ioctls)
{
	struct vhost_vring_addr a = { .index = 0 };
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	uint64_t base, kbase = 0xffff888000000000ULL, top = ~0ULL - 8;
	struct net_env e;
	struct vhxg_dev d;
	struct vhxg_vq *vq;
	int efd, none = -1, pfd[2], r[2];

	ASSERT_LE(0, open_dev(&d, true));
	ASSERT_LE(0, vhxg_vq_init(&d, 0, 256, 0));
	vq = &d.vqs[0];
	ASSERT_LE(0, vhxg_set_vring_num(&d, 0, 256));
	base = (uintptr_t)vhxg_alloc(&arena, 4096, 4096);
	ASSERT_TRUE(base)
		TH_LOG("arena full");
	efd = eventfd_for_test();
	ASSERT_EQ(0, pipe(pfd));
	a.desc_user_addr = (uintptr_t)vq->desc;
	a.avail_user_addr = (uintptr_t)vq->avail;
	a.used_user_addr = (uintptr_t)vq->used;
	a.log_guest_addr = (uintptr_t)vq->used;
	a.flags = 1u << VHOST_VRING_F_LOG;
	ASSERT_EQ(0, vhxg_ioctl(&d, VHOST_SET_LOG_BASE, &base));
	ASSERT_EQ(0, vhxg_ioctl(&d, VHOST_SET_LOG_FD, &efd));
	ASSERT_EQ(0, vhxg_ioctl(&d, VHOST_SET_LOG_FD, &none));
	ASSERT_EQ(-EINVAL, vhxg_ioctl(&d, VHOST_SET_LOG_FD, &pfd[0]));
	close(pfd[1]);
	ASSERT_EQ(-EBADF, vhxg_ioctl(&d, VHOST_SET_LOG_FD, &pfd[1]));
	ASSERT_EQ(0, vhxg_ioctl(&d, VHOST_SET_VRING_ADDR, &a));
	ASSERT_EQ(0, vhxg_set_features(&d, F(VHOST_F_LOG_ALL)));

	/*
	 * With a memory table and a backend running, as QEMU starts logging
	 * for a migration.  The log must be able to cover the table.
	 */
	ASSERT_LE(0, net_setup(&e, &cfg));
	ASSERT_EQ(0, vhxg_ioctl(&e.dev, VHOST_SET_LOG_FD, &efd));
	r[0] = vhxg_ioctl(&e.dev, VHOST_SET_LOG_BASE, &kbase);
	r[1] = vhxg_ioctl(&e.dev, VHOST_SET_LOG_BASE, &top);
	ASSERT_EQ(0, vhxg_ioctl(&e.dev, VHOST_SET_LOG_BASE, &base));
	if (test_dev_is_vhx()) {
		ASSERT_TRUE(r[0] == -EFAULT && r[1] == -EFAULT)
			TH_LOG("log at a kernel address: %d, at the top: %d, "
			       "want -EFAULT", r[0], r[1]);
	} else {
		TH_LOG("upstream: log at a kernel address %s, at the top %s",
		       r[0] ? strerror(-r[0]) : "taken",
		       r[1] ? strerror(-r[1]) : "taken");
	}
	a.index = TXQ;
	a.desc_user_addr = (uintptr_t)e.tx->desc;
	a.avail_user_addr = (uintptr_t)e.tx->avail;
	a.used_user_addr = (uintptr_t)e.tx->used;
	a.log_guest_addr = (uintptr_t)e.tx->used;
	ASSERT_EQ(0, vhxg_ioctl(&e.dev, VHOST_SET_VRING_ADDR, &a));
	a.flags = 0;
	ASSERT_EQ(0, vhxg_ioctl(&e.dev, VHOST_SET_VRING_ADDR, &a));
	net_tx_check(_metadata, &e, 100, 0x109);
}


TEST(set_features_unknown)
{
	struct vhxg_dev d;
	uint64_t f, bit;

	ASSERT_LE(0, open_dev(&d, true));
	ASSERT_LE(0, vhxg_get_features(&d, &f));
	ASSERT_TRUE(~f)
		TH_LOG("every feature bit offered?");
	bit = ~f & -~f;		/* lowest bit not offered */
	ASSERT_EQ(-EOPNOTSUPP, vhxg_set_features(&d, f | bit));
	ASSERT_EQ(-EOPNOTSUPP, vhxg_set_features(&d, F(63)));
	ASSERT_LE(0, vhxg_set_features(&d, f));
	ASSERT_LE(0, vhxg_set_features(&d, 0));
}

TEST(before_owner_eperm)
{
	struct vhost_memory_region r = { 0 };
	unsigned int base;
	struct vhxg_dev d;
	uint64_t f;
	int efd;

	ASSERT_LE(0, open_dev(&d, false));
	efd = eventfd_for_test();
	ASSERT_EQ(-EPERM, vhxg_set_mem_table(&d, &r, 0));
	ASSERT_EQ(-EPERM, vhxg_set_vring_num(&d, 0, 256));
	ASSERT_EQ(-EPERM, vhxg_set_vring_base(&d, 0, 0));
	ASSERT_EQ(-EPERM, vhxg_get_vring_base(&d, 0, &base));
	ASSERT_EQ(-EPERM, vhxg_set_vring_addr(&d, 0, 0, 0, 0, 0));
	ASSERT_EQ(-EPERM, vhxg_set_vring_fd(&d, VHOST_SET_VRING_KICK, 0, efd));
	ASSERT_EQ(-EPERM, vhxg_set_vring_fd(&d, VHOST_SET_VRING_CALL, 0, efd));
	ASSERT_EQ(-EPERM, vhxg_set_vring_fd(&d, VHOST_SET_VRING_ERR, 0, efd));
	ASSERT_EQ(-EPERM, vhxg_net_set_backend(&d, 0, -1));
	ASSERT_EQ(-EPERM, vhxg_reset_owner(&d));
	/* Features need no owner. */
	ASSERT_LE(0, vhxg_get_features(&d, &f));
	ASSERT_LE(0, vhxg_set_features(&d, F(VIRTIO_F_VERSION_1)));
}

TEST(set_owner_twice)
{
	struct vhxg_dev d;

	ASSERT_LE(0, open_dev(&d, true));
	ASSERT_EQ(-EBUSY, vhxg_set_owner(&d));
}

TEST(vring_index_enobufs)
{
	static const unsigned int bad[] = { 2, 3, 1000, 0x10000, 0xffffffff };
	struct vhxg_dev d;
	unsigned int base;
	size_t i;
	int efd = eventfd_for_test();

	ASSERT_LE(0, open_dev(&d, true));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		unsigned int idx = bad[i];

		ASSERT_EQ(-ENOBUFS, vhxg_set_vring_num(&d, idx, 256));
		ASSERT_EQ(-ENOBUFS, vhxg_set_vring_base(&d, idx, 0));
		ASSERT_EQ(-ENOBUFS, vhxg_get_vring_base(&d, idx, &base));
		ASSERT_EQ(-ENOBUFS, vhxg_set_vring_addr(&d, idx, 0, 0, 0, 0));
		ASSERT_EQ(-ENOBUFS, vhxg_set_vring_fd(&d, VHOST_SET_VRING_KICK,
						      idx, efd));
		ASSERT_EQ(-ENOBUFS, vhxg_set_vring_fd(&d, VHOST_SET_VRING_CALL,
						      idx, efd));
		ASSERT_EQ(-ENOBUFS, vhxg_net_set_backend(&d, idx, -1));
	}
}

TEST(vring_num_checks)
{
	static const unsigned int bad[] = { 0, 3, 100, 255, 65535, 65536,
					    0x80000000 };
	static const unsigned int good[] = { 1, 2, 256, 32768 };
	struct vhxg_dev d;
	size_t i;

	ASSERT_LE(0, open_dev(&d, true));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_EQ(-EINVAL, vhxg_set_vring_num(&d, 0, bad[i]));
	}
	for (i = 0; i < ARRAY_SIZE(good); i++) {
		ASSERT_LE(0, vhxg_set_vring_num(&d, 1, good[i]));
	}
}

TEST(vring_addr_checks)
{
	struct vhxg_dev d;
	struct vhxg_vq *vq;
	uint64_t desc, avail, used;

	ASSERT_LE(0, open_dev(&d, true));
	ASSERT_LE(0, vhxg_vq_init(&d, 0, 256, 0));
	vq = &d.vqs[0];
	desc = (uintptr_t)vq->desc;
	avail = (uintptr_t)vq->avail;
	used = (uintptr_t)vq->used;
	ASSERT_LE(0, vhxg_set_vring_num(&d, 0, 256));
	/* Upstream checks avail and used alignment, not the desc table's. */
	ASSERT_EQ(-EINVAL, vhxg_set_vring_addr(&d, 0, desc, avail + 1, used,
					       0));
	ASSERT_EQ(-EINVAL, vhxg_set_vring_addr(&d, 0, desc, avail, used + 2,
					       0));
	ASSERT_EQ(-EINVAL, vhxg_set_vring_addr(&d, 0, desc, avail, used + 1,
					       0));
	ASSERT_EQ(-EOPNOTSUPP, vhxg_set_vring_addr(&d, 0, desc, avail, used,
						   0x80));
	ASSERT_LE(0, vhxg_set_vring_addr(&d, 0, desc, avail, used, 0));
	/* The minimum alignments are enough. */
	ASSERT_LE(0, vhxg_set_vring_addr(&d, 0, desc + 16, avail + 2, used + 4,
					 0));
}

TEST(vring_base_roundtrip)
{
	struct vhxg_dev d;
	unsigned int base;

	ASSERT_LE(0, open_dev(&d, true));
	ASSERT_LE(0, vhxg_set_vring_num(&d, 1, 256));
	ASSERT_LE(0, vhxg_set_vring_base(&d, 1, 77));
	ASSERT_LE(0, vhxg_get_vring_base(&d, 1, &base));
	ASSERT_TRUE(base == 77)
		TH_LOG("GET_VRING_BASE %u, want 77", base);
	ASSERT_LE(0, vhxg_set_vring_base(&d, 1, 0xffff));
	ASSERT_LE(0, vhxg_get_vring_base(&d, 1, &base));
	ASSERT_TRUE(base == 0xffff)
		TH_LOG("GET_VRING_BASE %u, want 0xffff", base);
}

/* With a backend attached, ring size and base are frozen. */
TEST(vring_busy_while_running)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	struct net_env e;
	struct vhxg_vq *tx;

	ASSERT_LE(0, net_setup(&e, &cfg));
	tx = e.tx;
	ASSERT_EQ(-EBUSY, vhxg_set_vring_num(&e.dev, TXQ, 128));
	ASSERT_EQ(-EBUSY, vhxg_set_vring_base(&e.dev, TXQ, 0));
	ASSERT_LE(0, vhxg_set_vring_addr(&e.dev, TXQ, (uintptr_t)tx->desc,
					 (uintptr_t)tx->avail, (uintptr_t)tx->used,
					 0));
	net_tx_check(_metadata, &e, 60, 1);
	ASSERT_LE(0, net_attach(&e, -1));
	ASSERT_LE(0, vhxg_set_vring_num(&e.dev, TXQ, 256));
	ASSERT_LE(0, vhxg_set_vring_base(&e.dev, TXQ, 1));
}

TEST(backend_bad_fds)
{
	struct vhxg_dev d;
	int p[2], udp, raw, pdgram, efd;

	ASSERT_LE(0, open_dev(&d, true));
	ASSERT_LE(0, vhxg_set_mem_identity(&d));
	ASSERT_LE(0, vhxg_vq_setup(&d, 0, 256));
	ASSERT_TRUE(!pipe(p))
		TH_LOG("pipe: %s", strerror(errno));
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_TRUE(udp >= 0)
		TH_LOG("socket: %s", strerror(errno));
	raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	ASSERT_TRUE(raw >= 0)
		TH_LOG("socket AF_INET SOCK_RAW: %s", strerror(errno));
	pdgram = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_TRUE(pdgram >= 0)
		TH_LOG("socket AF_PACKET SOCK_DGRAM: %s",
		       strerror(errno));
	efd = eventfd_for_test();
	ASSERT_EQ(-ENOTSOCK, vhxg_net_set_backend(&d, 0, p[0]));
	ASSERT_EQ(-ENOTSOCK, vhxg_net_set_backend(&d, 0, efd));
	ASSERT_EQ(-ENOTSOCK, vhxg_net_set_backend(&d, 0, udp));
	/* Upstream takes raw sockets of AF_PACKET only, never AF_INET's. */
	ASSERT_EQ(-ENOTSOCK, vhxg_net_set_backend(&d, 0, raw));
	ASSERT_EQ(-ENOTSOCK, vhxg_net_set_backend(&d, 0, pdgram));
	ASSERT_EQ(-ENOTSOCK, vhxg_net_set_backend(&d, 0, 999));
	ASSERT_EQ(-ENOTSOCK, vhxg_net_set_backend(&d, 0, -5));
	/* Detaching what was never attached is fine. */
	ASSERT_LE(0, vhxg_net_set_backend(&d, 0, -1));
}

/*
 * An AF_PACKET SOCK_RAW socket (CVE-2020-10942's get_raw_socket path):
 * vhx serves taps only and refuses it with ENOTSOCK, on either queue.
 * Upstream accepts it as a backend (printed, then skipped).
 */
TEST(backend_packet_socket)
{
	struct vhxg_dev d;
	int pkt, ret;

	ASSERT_LE(0, open_dev(&d, true));
	ASSERT_LE(0, vhxg_set_mem_identity(&d));
	ASSERT_LE(0, vhxg_vq_setup(&d, 0, 256));
	ASSERT_LE(0, vhxg_vq_setup(&d, 1, 256));
	pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	ASSERT_TRUE(pkt >= 0)
		TH_LOG("socket AF_PACKET SOCK_RAW: %s", strerror(errno));
	ret = vhxg_net_set_backend(&d, 0, pkt);
	if (!test_dev_is_vhx()) {
		TH_LOG("upstream: AF_PACKET SOCK_RAW backend %s",
		       ret ? strerror(-ret) : "accepted");
		if (!ret) {
			ASSERT_LE(0, vhxg_net_set_backend(&d, 0, -1));
		}
		SKIP(return, "vhx-specific: upstream takes raw packet "
			     "sockets");
	}
	ASSERT_TRUE(ret == -ENOTSOCK)
		TH_LOG("AF_PACKET SOCK_RAW on RX: %s, want "
		       "ENOTSOCK", ret ? strerror(-ret) : "accepted");
	ASSERT_EQ(-ENOTSOCK, vhxg_net_set_backend(&d, 1, pkt));
}

TEST(vring_fd_checks)
{
	static const unsigned long reqs[] = {
		VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL, VHOST_SET_VRING_ERR
	};
	struct vhxg_dev d;
	int p[2], efd;
	size_t i;

	ASSERT_LE(0, open_dev(&d, true));
	ASSERT_TRUE(!pipe(p))
		TH_LOG("pipe: %s", strerror(errno));
	efd = eventfd_for_test();
	for (i = 0; i < ARRAY_SIZE(reqs); i++) {
		ASSERT_EQ(-EINVAL, vhxg_set_vring_fd(&d, reqs[i], 0, p[0]));
		ASSERT_EQ(-EBADF, vhxg_set_vring_fd(&d, reqs[i], 0, 999));
		ASSERT_LE(0, vhxg_set_vring_fd(&d, reqs[i], 0, efd));
		ASSERT_LE(0, vhxg_set_vring_fd(&d, reqs[i], 0, efd));
		ASSERT_LE(0, vhxg_set_vring_fd(&d, reqs[i], 0, -1));
	}
}

TEST(busyloop_timeout)
{
	struct vhost_vring_state s = { .index = 0, .num = 50 };
	struct vhxg_dev d;

	ASSERT_LE(0, open_dev(&d, true));
	ASSERT_LE(0, vhxg_ioctl(&d, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &s));
	s = (struct vhost_vring_state){ .index = 1, .num = 7 };
	ASSERT_LE(0, vhxg_ioctl(&d, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &s));
	s = (struct vhost_vring_state){ .index = 0 };
	ASSERT_LE(0, vhxg_ioctl(&d, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, &s));
	ASSERT_TRUE(s.num == 50)
		TH_LOG("vq0 busyloop %u, want 50", s.num);
	s = (struct vhost_vring_state){ .index = 1 };
	ASSERT_LE(0, vhxg_ioctl(&d, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, &s));
	ASSERT_TRUE(s.num == 7)
		TH_LOG("vq1 busyloop %u, want 7", s.num);
	s = (struct vhost_vring_state){ .index = 2, .num = 1 };
	ASSERT_EQ(-ENOBUFS, vhxg_ioctl(&d, VHOST_SET_VRING_BUSYLOOP_TIMEOUT,
				       &s));
}

TEST(backend_features)
{
	struct vhxg_dev d;
	uint64_t f;

	ASSERT_LE(0, open_dev(&d, false));
	ASSERT_LE(0, vhxg_get_backend_features(&d, &f));
	TH_LOG("backend features %#llx", (unsigned long long)f);
	ASSERT_LE(0, vhxg_set_backend_features(&d, f));
	ASSERT_LE(0, vhxg_set_backend_features(&d, 0));
	ASSERT_EQ(-EOPNOTSUPP, vhxg_set_backend_features(&d, F(63)));
	ASSERT_EQ(-EOPNOTSUPP, vhxg_set_backend_features(&d, ~f));
}

static int read_max_mem_regions(unsigned int *n)
{
	const char *path = test_dev_is_vhx() ?
		"/sys/module/vhx/parameters/max_mem_regions" :
		"/sys/module/vhost/parameters/max_mem_regions";
	FILE *f = fopen(path, "r");
	int ok;

	if (!f) {
		ksft_print_msg("%s: %s\n", path, strerror(errno));
		return -errno;
	}
	ok = fscanf(f, "%u", n) == 1;
	fclose(f);
	if (!ok) {
		ksft_print_msg("%s: not a number\n", path);
		return -EINVAL;
	}
	return 0;
}

/* @n identity regions of @slice bytes each, back to back in the arena. */
static void identity_regions(struct vhost_memory_region *r, unsigned int n,
			     size_t slice)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		r[i].guest_phys_addr = (uintptr_t)arena.base + i * slice;
		r[i].userspace_addr = r[i].guest_phys_addr;
		r[i].memory_size = slice;
		r[i].flags_padding = 0;
	}
}

/*
 * max_mem_regions (default 64) regions go in, one more is E2BIG, and so
 * is 65536; the order of the regions does not matter.
 */
TEST(mem_table_limits)
{
	struct vhost_memory_region *r, *rev;
	struct vhost_memory hdr = { .nregions = 1, .padding = 1 };
	struct vhxg_dev d;
	unsigned int i, max, big = 65536;
	size_t slice;

	ASSERT_LE(0, open_dev(&d, true));
	ASSERT_LE(0, read_max_mem_regions(&max));
	TH_LOG("max_mem_regions %u", max);
	ASSERT_TRUE(max == 64)
		TH_LOG("max_mem_regions %u, the default is 64", max);
	r = calloc(big, sizeof(*r));
	rev = calloc(max + 1, sizeof(*rev));
	ASSERT_TRUE(r && rev)
		TH_LOG("out of memory");
	slice = (arena.size / (max + 1)) & ~(size_t)4095;
	identity_regions(r, max + 1, slice);
	ASSERT_LE(0, vhxg_set_mem_table(&d, r, max));
	ASSERT_EQ(-E2BIG, vhxg_set_mem_table(&d, r, max + 1));
	/* Unsorted: the same regions in reverse order. */
	for (i = 0; i < max; i++)
		rev[i] = r[max - 1 - i];
	ASSERT_LE(0, vhxg_set_mem_table(&d, rev, max));
	ASSERT_LE(0, vhxg_set_mem_table(&d, r, 0));
	ASSERT_LE(0, vhxg_set_mem_table(&d, r, 1));
	for (i = 0; i < big; i++)
		r[i] = r[0];
	ASSERT_EQ(-E2BIG, vhxg_set_mem_table(&d, r, big));
	ASSERT_EQ(-EOPNOTSUPP, vhxg_ioctl(&d, VHOST_SET_MEM_TABLE, &hdr));
	free(rev);
	free(r);
}

/*
 * Regions whose guest ranges overlap, even by one byte and in any order,
 * are refused by vhx (EINVAL); adjacent ones are fine.  Upstream puts
 * them in an interval tree and does not check (printed, then skipped).
 */
TEST(mem_table_overlap)
{
	static const struct { uint64_t off; bool ok; } second[] = {
		{ 0, false },			/* the same range */
		{ 4096, false },
		{ 8191, false },		/* one byte of overlap */
		{ 8192, true },			/* adjacent */
	};
	struct vhost_memory_region r[2];
	const uint64_t gpa = 0x100000000ULL;
	struct vhxg_dev d;
	unsigned int i, k;
	int ret;

	ASSERT_LE(0, open_dev(&d, true));
	for (i = 0; i < ARRAY_SIZE(second); i++) {
		for (k = 0; k < 2; k++) {
			unsigned int a = k, b = !k;

			r[a] = (struct vhost_memory_region){
				.guest_phys_addr = gpa,
				.memory_size = 8192,
				.userspace_addr = (uintptr_t)arena.base,
			};
			r[b] = (struct vhost_memory_region){
				.guest_phys_addr = gpa + second[i].off,
				.memory_size = 8192,
				.userspace_addr = (uintptr_t)arena.base + 16384,
			};
			ret = vhxg_set_mem_table(&d, r, 2);
			if (second[i].ok) {
				ASSERT_TRUE(!ret)
					TH_LOG("adjacent regions refused: %s",
					       strerror(-ret));
				continue;
			}
			if (!test_dev_is_vhx()) {
				TH_LOG("upstream: regions overlapping at +%llu "
				       "(%s first): %s",
				       (unsigned long long)second[i].off,
				       k ? "higher" : "lower",
				       ret ? strerror(-ret) : "accepted");
				continue;
			}
			ASSERT_TRUE(ret == -EINVAL)
				TH_LOG("regions overlapping at +%llu "
				       "(%s first): %s, want EINVAL",
				       (unsigned long long)second[i].off,
				       k ? "higher" : "lower",
				       ret ? strerror(-ret) : "accepted");
		}
	}
	if (!test_dev_is_vhx())
		SKIP(return, "vhx-specific: upstream does not check overlaps");
}

TEST(mem_table_bad_regions)
{
	struct vhost_memory_region r = {
		.guest_phys_addr = 0x100000,
		.userspace_addr = 0,
	};
	struct vhxg_dev d;

	ASSERT_LE(0, open_dev(&d, true));
	r.userspace_addr = (uintptr_t)arena.base;
	r.memory_size = 0;
	ASSERT_EQ(-EFAULT, vhxg_set_mem_table(&d, &r, 1));
	r.guest_phys_addr = 0xfffffffffffff000ULL;
	r.memory_size = 0x2000;
	ASSERT_EQ(-EFAULT, vhxg_set_mem_table(&d, &r, 1));
	/* A refused table leaves the old one; a good one still goes in. */
	r.guest_phys_addr = 0x100000;
	ASSERT_LE(0, vhxg_set_mem_table(&d, &r, 1));
}

TEST(unknown_ioctl)
{
	struct vhxg_dev d;
	uint8_t serial[VHX_BLK_SERIAL_LEN] = { 0 };
	uint64_t zero = 0;
	int fd = 0;

	/*
	 * Upstream reads a vring index from the argument of any ioctl it
	 * does not know, so give it one that is valid: 0.
	 */
	ASSERT_LE(0, open_dev(&d, true));
	ASSERT_EQ(-ENOTTY, vhxg_ioctl(&d, _IO(VHOST_VIRTIO, 0xfe), &zero));
	/* vhx-blk's own ioctls mean nothing to a net device. */
	ASSERT_EQ(-ENOTTY, vhxg_ioctl(&d, VHX_BLK_SET_BACKEND, &fd));
	ASSERT_EQ(-ENOTTY, vhxg_ioctl(&d, VHX_BLK_SET_SERIAL, serial));
}

/* Another process (another mm) is not the owner. */
TEST(other_process_eperm)
{
	struct vhxg_dev d;
	int status;
	pid_t pid;

	ASSERT_LE(0, open_dev(&d, true));
	ASSERT_LE(0, vhxg_set_vring_num(&d, 0, 256));
	pid = fork();
	ASSERT_TRUE(pid >= 0)
		TH_LOG("fork: %s", strerror(errno));
	if (!pid) {
		uint64_t f;

		/* Exit codes: 0 all as expected, else which step failed. */
		if (vhxg_set_vring_num(&d, 0, 128) != -EPERM)
			_exit(1);
		if (vhxg_set_mem_identity(&d) != -EPERM)
			_exit(2);
		if (vhxg_net_set_backend(&d, 0, -1) != -EPERM)
			_exit(3);
		if (vhxg_reset_owner(&d) != -EPERM)
			_exit(4);
		if (vhxg_get_features(&d, &f))
			_exit(5);
		_exit(0);
	}
	ASSERT_TRUE(waitpid(pid, &status, 0) == pid)
		TH_LOG("waitpid");
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("child's ioctl %d did not behave (1 NUM, 2 MEM, 3 BACKEND, "
		       "4 RESET, 5 GET_FEATURES)", WEXITSTATUS(status));
	ASSERT_LE(0, vhxg_set_vring_num(&d, 0, 128));
}


VHX_TEST_MAIN("/dev/vhx-net")
