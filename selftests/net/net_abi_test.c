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

#include "common.h"

static struct vhxg_arena arena;

/* Open kt_dev with an arena; take ownership when @owner. */
static int open_dev(struct vhxg_dev *d, bool owner)
{
	int ret;

	if (!arena.base) {
		ret = vhxg_arena_init(&arena, 8 << 20);
		if (ret)
			return ret;
	}
	ret = vhxg_open(d, kt_dev, &arena);
	if (ret) {
		kt_diag("open %s: %s", kt_dev, strerror(-ret));
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
static int features_offered(void)
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
	int bad = 0;

	KT_OK(open_dev(&d, false));
	KT_OK(vhxg_get_features(&d, &f));
	kt_diag("offered %#llx", (unsigned long long)f);
	for (i = 0; i < KT_ARRAY_SIZE(want); i++) {
		if (!(f & F(want[i].bit))) {
			kt_diag("%s missing", want[i].name);
			bad++;
		}
	}
	if (!kt_dev_is_vhx())
		return bad ? KT_FAIL : KT_PASS;
	KT_ASSERT(f == VHX_NET_FEATURES, "offered %#llx, want exactly %#llx "
		  "(extra %#llx, missing %#llx)", (unsigned long long)f,
		  (unsigned long long)VHX_NET_FEATURES,
		  (unsigned long long)(f & ~VHX_NET_FEATURES),
		  (unsigned long long)(VHX_NET_FEATURES & ~f));
	return bad ? KT_FAIL : KT_PASS;
}

/*
 * The dirty log's ioctls, as upstream takes them: SET_LOG_BASE takes a
 * user address (vhx: one whose log would not fit below the top of user
 * space for the memory table is EFAULT), SET_LOG_FD an eventfd or -1
 * (another file is EINVAL, no file EBADF), SET_VRING_ADDR the LOG flag
 * with log_guest_addr, SET_FEATURES LOG_ALL; before and after a backend
 * is attached, and traffic goes on.
 */
static int log_ioctls(void)
{
	struct vhost_vring_addr a = { .index = 0 };
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	uint64_t base, kbase = 0xffff888000000000ULL, top = ~0ULL - 8;
	struct net_env e;
	struct vhxg_dev d;
	struct vhxg_vq *vq;
	int efd, none = -1, pfd[2], r[2];

	KT_OK(open_dev(&d, true));
	KT_OK(vhxg_vq_init(&d, 0, 256, 0));
	vq = &d.vqs[0];
	KT_OK(vhxg_set_vring_num(&d, 0, 256));
	base = (uintptr_t)vhxg_alloc(&arena, 4096, 4096);
	KT_ASSERT(base, "arena full");
	efd = eventfd_for_test();
	KT_ASSERT(pipe(pfd) == 0, "pipe");
	a.desc_user_addr = (uintptr_t)vq->desc;
	a.avail_user_addr = (uintptr_t)vq->avail;
	a.used_user_addr = (uintptr_t)vq->used;
	a.log_guest_addr = (uintptr_t)vq->used;
	a.flags = 1u << VHOST_VRING_F_LOG;
	KT_OK(vhxg_ioctl(&d, VHOST_SET_LOG_BASE, &base));
	KT_OK(vhxg_ioctl(&d, VHOST_SET_LOG_FD, &efd));
	KT_OK(vhxg_ioctl(&d, VHOST_SET_LOG_FD, &none));
	KT_ERR(vhxg_ioctl(&d, VHOST_SET_LOG_FD, &pfd[0]), EINVAL);
	close(pfd[1]);
	KT_ERR(vhxg_ioctl(&d, VHOST_SET_LOG_FD, &pfd[1]), EBADF);
	KT_OK(vhxg_ioctl(&d, VHOST_SET_VRING_ADDR, &a));
	KT_OK(vhxg_set_features(&d, F(VHOST_F_LOG_ALL)));

	/*
	 * With a memory table and a backend running, as QEMU starts logging
	 * for a migration.  The log must be able to cover the table.
	 */
	KT_OK(net_setup(&e, &cfg));
	KT_OK(vhxg_ioctl(&e.dev, VHOST_SET_LOG_FD, &efd));
	r[0] = vhxg_ioctl(&e.dev, VHOST_SET_LOG_BASE, &kbase);
	r[1] = vhxg_ioctl(&e.dev, VHOST_SET_LOG_BASE, &top);
	KT_OK(vhxg_ioctl(&e.dev, VHOST_SET_LOG_BASE, &base));
	if (kt_dev_is_vhx()) {
		KT_ASSERT(r[0] == -EFAULT && r[1] == -EFAULT,
			  "log at a kernel address: %d, at the top: %d, want "
			  "-EFAULT", r[0], r[1]);
	} else {
		kt_diag("upstream: log at a kernel address %s, at the top %s",
			r[0] ? strerror(-r[0]) : "taken",
			r[1] ? strerror(-r[1]) : "taken");
	}
	a.index = TXQ;
	a.desc_user_addr = (uintptr_t)e.tx->desc;
	a.avail_user_addr = (uintptr_t)e.tx->avail;
	a.used_user_addr = (uintptr_t)e.tx->used;
	a.log_guest_addr = (uintptr_t)e.tx->used;
	KT_OK(vhxg_ioctl(&e.dev, VHOST_SET_VRING_ADDR, &a));
	a.flags = 0;
	KT_OK(vhxg_ioctl(&e.dev, VHOST_SET_VRING_ADDR, &a));
	KT_RUN(net_tx_check(&e, 100, 0x109));
	return KT_PASS;
}

static int set_features_unknown(void)
{
	struct vhxg_dev d;
	uint64_t f, bit;

	KT_OK(open_dev(&d, true));
	KT_OK(vhxg_get_features(&d, &f));
	KT_ASSERT(~f, "every feature bit offered?");
	bit = ~f & -~f;		/* lowest bit not offered */
	KT_ERR(vhxg_set_features(&d, f | bit), EOPNOTSUPP);
	KT_ERR(vhxg_set_features(&d, F(63)), EOPNOTSUPP);
	KT_OK(vhxg_set_features(&d, f));
	KT_OK(vhxg_set_features(&d, 0));
	return KT_PASS;
}

static int before_owner_eperm(void)
{
	struct vhost_memory_region r = { 0 };
	unsigned int base;
	struct vhxg_dev d;
	uint64_t f;
	int efd;

	KT_OK(open_dev(&d, false));
	efd = eventfd_for_test();
	KT_ERR(vhxg_set_mem_table(&d, &r, 0), EPERM);
	KT_ERR(vhxg_set_vring_num(&d, 0, 256), EPERM);
	KT_ERR(vhxg_set_vring_base(&d, 0, 0), EPERM);
	KT_ERR(vhxg_get_vring_base(&d, 0, &base), EPERM);
	KT_ERR(vhxg_set_vring_addr(&d, 0, 0, 0, 0, 0), EPERM);
	KT_ERR(vhxg_set_vring_fd(&d, VHOST_SET_VRING_KICK, 0, efd), EPERM);
	KT_ERR(vhxg_set_vring_fd(&d, VHOST_SET_VRING_CALL, 0, efd), EPERM);
	KT_ERR(vhxg_set_vring_fd(&d, VHOST_SET_VRING_ERR, 0, efd), EPERM);
	KT_ERR(vhxg_net_set_backend(&d, 0, -1), EPERM);
	KT_ERR(vhxg_reset_owner(&d), EPERM);
	/* Features need no owner. */
	KT_OK(vhxg_get_features(&d, &f));
	KT_OK(vhxg_set_features(&d, F(VIRTIO_F_VERSION_1)));
	return KT_PASS;
}

static int set_owner_twice(void)
{
	struct vhxg_dev d;

	KT_OK(open_dev(&d, true));
	KT_ERR(vhxg_set_owner(&d), EBUSY);
	return KT_PASS;
}

static int vring_index_enobufs(void)
{
	static const unsigned int bad[] = { 2, 3, 1000, 0x10000, 0xffffffff };
	struct vhxg_dev d;
	unsigned int base;
	size_t i;
	int efd = eventfd_for_test();

	KT_OK(open_dev(&d, true));
	for (i = 0; i < KT_ARRAY_SIZE(bad); i++) {
		unsigned int idx = bad[i];

		KT_ERR(vhxg_set_vring_num(&d, idx, 256), ENOBUFS);
		KT_ERR(vhxg_set_vring_base(&d, idx, 0), ENOBUFS);
		KT_ERR(vhxg_get_vring_base(&d, idx, &base), ENOBUFS);
		KT_ERR(vhxg_set_vring_addr(&d, idx, 0, 0, 0, 0), ENOBUFS);
		KT_ERR(vhxg_set_vring_fd(&d, VHOST_SET_VRING_KICK, idx, efd),
		       ENOBUFS);
		KT_ERR(vhxg_set_vring_fd(&d, VHOST_SET_VRING_CALL, idx, efd),
		       ENOBUFS);
		KT_ERR(vhxg_net_set_backend(&d, idx, -1), ENOBUFS);
	}
	return KT_PASS;
}

static int vring_num_checks(void)
{
	static const unsigned int bad[] = { 0, 3, 100, 255, 65535, 65536,
					    0x80000000 };
	static const unsigned int good[] = { 1, 2, 256, 32768 };
	struct vhxg_dev d;
	size_t i;

	KT_OK(open_dev(&d, true));
	for (i = 0; i < KT_ARRAY_SIZE(bad); i++)
		KT_ERR(vhxg_set_vring_num(&d, 0, bad[i]), EINVAL);
	for (i = 0; i < KT_ARRAY_SIZE(good); i++)
		KT_OK(vhxg_set_vring_num(&d, 1, good[i]));
	return KT_PASS;
}

static int vring_addr_checks(void)
{
	struct vhxg_dev d;
	struct vhxg_vq *vq;
	uint64_t desc, avail, used;

	KT_OK(open_dev(&d, true));
	KT_OK(vhxg_vq_init(&d, 0, 256, 0));
	vq = &d.vqs[0];
	desc = (uintptr_t)vq->desc;
	avail = (uintptr_t)vq->avail;
	used = (uintptr_t)vq->used;
	KT_OK(vhxg_set_vring_num(&d, 0, 256));
	/* Upstream checks avail and used alignment, not the desc table's. */
	KT_ERR(vhxg_set_vring_addr(&d, 0, desc, avail + 1, used, 0), EINVAL);
	KT_ERR(vhxg_set_vring_addr(&d, 0, desc, avail, used + 2, 0), EINVAL);
	KT_ERR(vhxg_set_vring_addr(&d, 0, desc, avail, used + 1, 0), EINVAL);
	KT_ERR(vhxg_set_vring_addr(&d, 0, desc, avail, used, 0x80),
	       EOPNOTSUPP);
	KT_OK(vhxg_set_vring_addr(&d, 0, desc, avail, used, 0));
	/* The minimum alignments are enough. */
	KT_OK(vhxg_set_vring_addr(&d, 0, desc + 16, avail + 2, used + 4, 0));
	return KT_PASS;
}

static int vring_base_roundtrip(void)
{
	struct vhxg_dev d;
	unsigned int base;

	KT_OK(open_dev(&d, true));
	KT_OK(vhxg_set_vring_num(&d, 1, 256));
	KT_OK(vhxg_set_vring_base(&d, 1, 77));
	KT_OK(vhxg_get_vring_base(&d, 1, &base));
	KT_ASSERT(base == 77, "GET_VRING_BASE %u, want 77", base);
	KT_OK(vhxg_set_vring_base(&d, 1, 0xffff));
	KT_OK(vhxg_get_vring_base(&d, 1, &base));
	KT_ASSERT(base == 0xffff, "GET_VRING_BASE %u, want 0xffff", base);
	return KT_PASS;
}

/* With a backend attached, ring size and base are frozen. */
static int vring_busy_while_running(void)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	struct net_env e;
	struct vhxg_vq *tx;

	KT_OK(net_setup(&e, &cfg));
	tx = e.tx;
	KT_ERR(vhxg_set_vring_num(&e.dev, TXQ, 128), EBUSY);
	KT_ERR(vhxg_set_vring_base(&e.dev, TXQ, 0), EBUSY);
	KT_OK(vhxg_set_vring_addr(&e.dev, TXQ, (uintptr_t)tx->desc,
				  (uintptr_t)tx->avail, (uintptr_t)tx->used,
				  0));
	KT_RUN(net_tx_check(&e, 60, 1));
	KT_OK(net_attach(&e, -1));
	KT_OK(vhxg_set_vring_num(&e.dev, TXQ, 256));
	KT_OK(vhxg_set_vring_base(&e.dev, TXQ, 1));
	return KT_PASS;
}

static int backend_bad_fds(void)
{
	struct vhxg_dev d;
	int p[2], udp, raw, pdgram, efd;

	KT_OK(open_dev(&d, true));
	KT_OK(vhxg_set_mem_identity(&d));
	KT_OK(vhxg_vq_setup(&d, 0, 256));
	KT_ASSERT(!pipe(p), "pipe: %s", strerror(errno));
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	KT_ASSERT(udp >= 0, "socket: %s", strerror(errno));
	raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	KT_ASSERT(raw >= 0, "socket AF_INET SOCK_RAW: %s", strerror(errno));
	pdgram = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	KT_ASSERT(pdgram >= 0, "socket AF_PACKET SOCK_DGRAM: %s",
		  strerror(errno));
	efd = eventfd_for_test();
	KT_ERR(vhxg_net_set_backend(&d, 0, p[0]), ENOTSOCK);
	KT_ERR(vhxg_net_set_backend(&d, 0, efd), ENOTSOCK);
	KT_ERR(vhxg_net_set_backend(&d, 0, udp), ENOTSOCK);
	/* Upstream takes raw sockets of AF_PACKET only, never AF_INET's. */
	KT_ERR(vhxg_net_set_backend(&d, 0, raw), ENOTSOCK);
	KT_ERR(vhxg_net_set_backend(&d, 0, pdgram), ENOTSOCK);
	KT_ERR(vhxg_net_set_backend(&d, 0, 999), ENOTSOCK);
	KT_ERR(vhxg_net_set_backend(&d, 0, -5), ENOTSOCK);
	/* Detaching what was never attached is fine. */
	KT_OK(vhxg_net_set_backend(&d, 0, -1));
	return KT_PASS;
}

/*
 * An AF_PACKET SOCK_RAW socket (CVE-2020-10942's get_raw_socket path):
 * vhx serves taps only and refuses it with ENOTSOCK, on either queue.
 * Upstream accepts it as a backend (printed, then skipped).
 */
static int backend_packet_socket(void)
{
	struct vhxg_dev d;
	int pkt, ret;

	KT_OK(open_dev(&d, true));
	KT_OK(vhxg_set_mem_identity(&d));
	KT_OK(vhxg_vq_setup(&d, 0, 256));
	KT_OK(vhxg_vq_setup(&d, 1, 256));
	pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	KT_ASSERT(pkt >= 0, "socket AF_PACKET SOCK_RAW: %s", strerror(errno));
	ret = vhxg_net_set_backend(&d, 0, pkt);
	if (!kt_dev_is_vhx()) {
		kt_diag("upstream: AF_PACKET SOCK_RAW backend %s",
			ret ? strerror(-ret) : "accepted");
		if (!ret)
			KT_OK(vhxg_net_set_backend(&d, 0, -1));
		return kt_skip("vhx-specific: upstream takes raw packet "
			       "sockets");
	}
	KT_ASSERT(ret == -ENOTSOCK, "AF_PACKET SOCK_RAW on RX: %s, want "
		  "ENOTSOCK", ret ? strerror(-ret) : "accepted");
	KT_ERR(vhxg_net_set_backend(&d, 1, pkt), ENOTSOCK);
	return KT_PASS;
}

static int vring_fd_checks(void)
{
	static const unsigned long reqs[] = {
		VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL, VHOST_SET_VRING_ERR
	};
	struct vhxg_dev d;
	int p[2], efd;
	size_t i;

	KT_OK(open_dev(&d, true));
	KT_ASSERT(!pipe(p), "pipe: %s", strerror(errno));
	efd = eventfd_for_test();
	for (i = 0; i < KT_ARRAY_SIZE(reqs); i++) {
		KT_ERR(vhxg_set_vring_fd(&d, reqs[i], 0, p[0]), EINVAL);
		KT_ERR(vhxg_set_vring_fd(&d, reqs[i], 0, 999), EBADF);
		KT_OK(vhxg_set_vring_fd(&d, reqs[i], 0, efd));
		KT_OK(vhxg_set_vring_fd(&d, reqs[i], 0, efd));
		KT_OK(vhxg_set_vring_fd(&d, reqs[i], 0, -1));
	}
	return KT_PASS;
}

static int busyloop_timeout(void)
{
	struct vhost_vring_state s = { .index = 0, .num = 50 };
	struct vhxg_dev d;

	KT_OK(open_dev(&d, true));
	KT_OK(vhxg_ioctl(&d, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &s));
	s = (struct vhost_vring_state){ .index = 1, .num = 7 };
	KT_OK(vhxg_ioctl(&d, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &s));
	s = (struct vhost_vring_state){ .index = 0 };
	KT_OK(vhxg_ioctl(&d, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, &s));
	KT_ASSERT(s.num == 50, "vq0 busyloop %u, want 50", s.num);
	s = (struct vhost_vring_state){ .index = 1 };
	KT_OK(vhxg_ioctl(&d, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, &s));
	KT_ASSERT(s.num == 7, "vq1 busyloop %u, want 7", s.num);
	s = (struct vhost_vring_state){ .index = 2, .num = 1 };
	KT_ERR(vhxg_ioctl(&d, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &s), ENOBUFS);
	return KT_PASS;
}

static int backend_features(void)
{
	struct vhxg_dev d;
	uint64_t f;

	KT_OK(open_dev(&d, false));
	KT_OK(vhxg_get_backend_features(&d, &f));
	kt_diag("backend features %#llx", (unsigned long long)f);
	KT_OK(vhxg_set_backend_features(&d, f));
	KT_OK(vhxg_set_backend_features(&d, 0));
	KT_ERR(vhxg_set_backend_features(&d, F(63)), EOPNOTSUPP);
	KT_ERR(vhxg_set_backend_features(&d, ~f), EOPNOTSUPP);
	return KT_PASS;
}

static int read_max_mem_regions(unsigned int *n)
{
	const char *path = kt_dev_is_vhx() ?
		"/sys/module/vhx/parameters/max_mem_regions" :
		"/sys/module/vhost/parameters/max_mem_regions";
	FILE *f = fopen(path, "r");
	int ok;

	if (!f) {
		kt_diag("%s: %s", path, strerror(errno));
		return -errno;
	}
	ok = fscanf(f, "%u", n) == 1;
	fclose(f);
	if (!ok) {
		kt_diag("%s: not a number", path);
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
static int mem_table_limits(void)
{
	struct vhost_memory_region *r, *rev;
	struct vhost_memory hdr = { .nregions = 1, .padding = 1 };
	struct vhxg_dev d;
	unsigned int i, max, big = 65536;
	size_t slice;

	KT_OK(open_dev(&d, true));
	KT_OK(read_max_mem_regions(&max));
	kt_diag("max_mem_regions %u", max);
	KT_ASSERT(max == 64, "max_mem_regions %u, the default is 64", max);
	r = calloc(big, sizeof(*r));
	rev = calloc(max + 1, sizeof(*rev));
	KT_ASSERT(r && rev, "out of memory");
	slice = (arena.size / (max + 1)) & ~(size_t)4095;
	identity_regions(r, max + 1, slice);
	KT_OK(vhxg_set_mem_table(&d, r, max));
	KT_ERR(vhxg_set_mem_table(&d, r, max + 1), E2BIG);
	/* Unsorted: the same regions in reverse order. */
	for (i = 0; i < max; i++)
		rev[i] = r[max - 1 - i];
	KT_OK(vhxg_set_mem_table(&d, rev, max));
	KT_OK(vhxg_set_mem_table(&d, r, 0));
	KT_OK(vhxg_set_mem_table(&d, r, 1));
	for (i = 0; i < big; i++)
		r[i] = r[0];
	KT_ERR(vhxg_set_mem_table(&d, r, big), E2BIG);
	KT_ERR(vhxg_ioctl(&d, VHOST_SET_MEM_TABLE, &hdr), EOPNOTSUPP);
	free(rev);
	free(r);
	return KT_PASS;
}

/*
 * Regions whose guest ranges overlap, even by one byte and in any order,
 * are refused by vhx (EINVAL); adjacent ones are fine.  Upstream puts
 * them in an interval tree and does not check (printed, then skipped).
 */
static int mem_table_overlap(void)
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

	KT_OK(open_dev(&d, true));
	for (i = 0; i < KT_ARRAY_SIZE(second); i++) {
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
				KT_ASSERT(!ret, "adjacent regions refused: %s",
					  strerror(-ret));
				continue;
			}
			if (!kt_dev_is_vhx()) {
				kt_diag("upstream: regions overlapping at +%llu "
					"(%s first): %s",
					(unsigned long long)second[i].off,
					k ? "higher" : "lower",
					ret ? strerror(-ret) : "accepted");
				continue;
			}
			KT_ASSERT(ret == -EINVAL, "regions overlapping at +%llu "
				  "(%s first): %s, want EINVAL",
				  (unsigned long long)second[i].off,
				  k ? "higher" : "lower",
				  ret ? strerror(-ret) : "accepted");
		}
	}
	if (!kt_dev_is_vhx())
		return kt_skip("vhx-specific: upstream does not check overlaps");
	return KT_PASS;
}

static int mem_table_bad_regions(void)
{
	struct vhost_memory_region r = {
		.guest_phys_addr = 0x100000,
		.userspace_addr = 0,
	};
	struct vhxg_dev d;

	KT_OK(open_dev(&d, true));
	r.userspace_addr = (uintptr_t)arena.base;
	r.memory_size = 0;
	KT_ERR(vhxg_set_mem_table(&d, &r, 1), EFAULT);
	r.guest_phys_addr = 0xfffffffffffff000ULL;
	r.memory_size = 0x2000;
	KT_ERR(vhxg_set_mem_table(&d, &r, 1), EFAULT);
	/* A refused table leaves the old one; a good one still goes in. */
	r.guest_phys_addr = 0x100000;
	KT_OK(vhxg_set_mem_table(&d, &r, 1));
	return KT_PASS;
}

static int unknown_ioctl(void)
{
	struct vhxg_dev d;
	uint8_t serial[VHX_BLK_SERIAL_LEN] = { 0 };
	uint64_t zero = 0;
	int fd = 0;

	/*
	 * Upstream reads a vring index from the argument of any ioctl it
	 * does not know, so give it one that is valid: 0.
	 */
	KT_OK(open_dev(&d, true));
	KT_ERR(vhxg_ioctl(&d, _IO(VHOST_VIRTIO, 0xfe), &zero), ENOTTY);
	/* vhx-blk's own ioctls mean nothing to a net device. */
	KT_ERR(vhxg_ioctl(&d, VHX_BLK_SET_BACKEND, &fd), ENOTTY);
	KT_ERR(vhxg_ioctl(&d, VHX_BLK_SET_SERIAL, serial), ENOTTY);
	return KT_PASS;
}

/* Another process (another mm) is not the owner. */
static int other_process_eperm(void)
{
	struct vhxg_dev d;
	int status;
	pid_t pid;

	KT_OK(open_dev(&d, true));
	KT_OK(vhxg_set_vring_num(&d, 0, 256));
	pid = fork();
	KT_ASSERT(pid >= 0, "fork: %s", strerror(errno));
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
	KT_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	KT_ASSERT(WIFEXITED(status) && !WEXITSTATUS(status),
		  "child's ioctl %d did not behave (1 NUM, 2 MEM, 3 BACKEND, "
		  "4 RESET, 5 GET_FEATURES)", WEXITSTATUS(status));
	KT_OK(vhxg_set_vring_num(&d, 0, 128));
	return KT_PASS;
}

static const struct kt_case cases[] = {
	{ "features_offered", features_offered },
	{ "set_features_unknown", set_features_unknown },
	{ "before_owner_eperm", before_owner_eperm },
	{ "set_owner_twice", set_owner_twice },
	{ "vring_index_enobufs", vring_index_enobufs },
	{ "vring_num_checks", vring_num_checks },
	{ "vring_addr_checks", vring_addr_checks },
	{ "vring_base_roundtrip", vring_base_roundtrip },
	{ "vring_busy_while_running", vring_busy_while_running },
	{ "backend_bad_fds", backend_bad_fds },
	{ "vring_fd_checks", vring_fd_checks },
	{ "busyloop_timeout", busyloop_timeout },
	{ "backend_features", backend_features },
	{ "mem_table_limits", mem_table_limits },
	{ "mem_table_overlap", mem_table_overlap },
	{ "log_ioctls", log_ioctls },
	{ "backend_packet_socket", backend_packet_socket },
	{ "other_process_eperm", other_process_eperm },
	{ "unknown_ioctl", unknown_ioctl },
	{ "mem_table_bad_regions", mem_table_bad_regions },
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, cases, KT_ARRAY_SIZE(cases),
		       "/dev/vhx-net");
}
