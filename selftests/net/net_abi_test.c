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
	return bad ? KT_FAIL : KT_PASS;
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
	int p[2], udp, efd;

	KT_OK(open_dev(&d, true));
	KT_OK(vhxg_set_mem_identity(&d));
	KT_OK(vhxg_vq_setup(&d, 0, 256));
	KT_ASSERT(!pipe(p), "pipe: %s", strerror(errno));
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	KT_ASSERT(udp >= 0, "socket: %s", strerror(errno));
	efd = eventfd_for_test();
	KT_ERR(vhxg_net_set_backend(&d, 0, p[0]), ENOTSOCK);
	KT_ERR(vhxg_net_set_backend(&d, 0, efd), ENOTSOCK);
	KT_ERR(vhxg_net_set_backend(&d, 0, udp), ENOTSOCK);
	KT_ERR(vhxg_net_set_backend(&d, 0, 999), ENOTSOCK);
	KT_ERR(vhxg_net_set_backend(&d, 0, -5), ENOTSOCK);
	/* Detaching what was never attached is fine. */
	KT_OK(vhxg_net_set_backend(&d, 0, -1));
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

static int mem_table_limits(void)
{
	struct vhost_memory_region *r;
	struct vhost_memory hdr = { .nregions = 1, .padding = 1 };
	struct vhxg_dev d;
	unsigned int i, n = 32, big = 65536;
	size_t slice;

	KT_OK(open_dev(&d, true));
	r = calloc(big, sizeof(*r));
	KT_ASSERT(r, "out of memory");
	slice = arena.size / n;
	for (i = 0; i < n; i++) {
		r[i].guest_phys_addr = (uintptr_t)arena.base + i * slice;
		r[i].userspace_addr = r[i].guest_phys_addr;
		r[i].memory_size = slice;
	}
	KT_OK(vhxg_set_mem_table(&d, r, n));
	KT_OK(vhxg_set_mem_table(&d, r, 0));
	KT_OK(vhxg_set_mem_table(&d, r, 1));
	for (i = 0; i < big; i++)
		r[i] = r[0];
	KT_ERR(vhxg_set_mem_table(&d, r, big), E2BIG);
	KT_ERR(vhxg_ioctl(&d, VHOST_SET_MEM_TABLE, &hdr), EOPNOTSUPP);
	free(r);
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
	{ "other_process_eperm", other_process_eperm },
	{ "unknown_ioctl", unknown_ioctl },
	{ "mem_table_bad_regions", mem_table_bad_regions },
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, cases, KT_ARRAY_SIZE(cases),
		       "/dev/vhx-net");
}
