// SPDX-License-Identifier: GPL-2.0
/*
 * vhost-net teardown under load, with leak accounting (selftests/lib/leak.h):
 * every case runs its workload in a memory cgroup of its own and checks,
 * after the loop, that no task is stuck in D state, no worker thread
 * (vhx-net-* or upstream's vhost-*) is left, the kernel memory charged
 * to the cgroup is back at the baseline and the kernel logged no splat.
 *
 *   kill_loop, close_loop, reset_loop: 100 cycles each (30 for the
 *     upstream reference) of SIGKILL of the owner (a forked child), close,
 *     and RESET_OWNER while TX chains are posted and the tap's queue is
 *     full of frames for the guest, more than the guest has RX buffers for.
 *   race_*: ioctls racing traffic from another thread for a few seconds:
 *     memory table swaps (one drops the rings), vring eventfd swaps,
 *     SET_BACKEND detach/attach, RESET_OWNER, close.  Then the device
 *     must carry traffic again.
 *   vanish_*: the tap deleted, its queue detached (TUNSETQUEUE), the
 *     macvtap's lower device deleted, all under traffic.  The device must
 *     then reset and close.
 *   scale_256: 256 devices, each owned with a memory table and rings, a
 *     sample with traffic, closed in random order.
 *   backend_fd_closed, backend_fd_closed_detach: the VMM closes its tap
 *     fd right after SET_BACKEND, as a VMM that hands the tap over may.
 *     The device's own reference keeps the tap: it still exists and
 *     carries TX and RX.  Closing the device (or detaching both queues)
 *     then releases it: the tap disappears.
 * After each case the taps it used must go away when their last fd is
 * closed: nothing in the kernel still holds them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "check.h"
#include "leak.h"

#define CYCLES		100
#define CYCLES_REF	30		/* for the upstream reference run */
#define NUM		64
#define RXBUF		2048
#define NRX		32		/* RX buffers posted per cycle */
#define REFILL		160		/* frames injected per cycle */
#define RACE_MS		3000
#define ARENA		(4u << 20)
#define NDEV		256
#define NSAMPLE		8

/* The reference only shows upstream's behaviour: fewer cycles will do. */
static unsigned int cycles(void)
{
	return test_dev_is_vhx() ? CYCLES : CYCLES_REF;
}

static const char *worker_prefix(void)
{
	return test_dev_is_vhx() ? "vhx-net-" : "vhost-";
}

/* ---- host side: taps and frames ---------------------------------------- */

struct tap {
	char ifname[IFNAMSIZ];
	int fd;
	int inj;		/* AF_PACKET, protocol 0: sends, never receives */
	int drops_fd;		/* statistics/tx_dropped */
};

static int inj_open(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	int fd, idx = netif_index(ifname);

	if (idx < 0)
		return idx;
	sll.sll_ifindex = idx;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int tap_make(struct tap *t, int flags)
{
	char path[128];
	int ret;

	memset(t, 0, sizeof(*t));
	t->fd = tap_open(t->ifname, NULL, IFF_VNET_HDR | flags);
	if (t->fd < 0)
		return t->fd;
	ret = tap_set_hdr_sz(t->fd, sizeof(struct virtio_net_hdr_mrg_rxbuf));
	if (!ret)
		ret = netif_prepare(t->ifname);
	if (ret)
		return ret;
	t->inj = inj_open(t->ifname);
	if (t->inj < 0)
		return t->inj;
	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/tx_dropped",
		 t->ifname);
	t->drops_fd = open(path, O_RDONLY | O_CLOEXEC);
	return t->drops_fd < 0 ? -errno : 0;
}

/* Close our fds; the tap must then disappear (nothing else holds it). */
static void tap_gone(struct __test_metadata *_metadata, struct tap *t)
{
	int i;

	if (t->inj > 0)
		close(t->inj);
	if (t->drops_fd > 0)
		close(t->drops_fd);
	if (t->fd > 0)
		close(t->fd);
	t->fd = t->inj = t->drops_fd = -1;
	for (i = 0; i < 100; i++) {
		if (!if_nametoindex(t->ifname))
			return;
		leak_msleep(50);
	}
	ASSERT_EQ(0, if_nametoindex(t->ifname))
		TH_LOG("tap %s still exists after its last fd was closed",
		       t->ifname);
}

static long long tap_drops(struct tap *t)
{
	long long v;

	return leak_pread_ints(t->drops_fd, &v, 1) ? -1 : v;
}

/* Send @n test frames to the guest side of @fd's link. */
static int inject(int fd, unsigned int n, const uint8_t *dst)
{
	static uint8_t frame[128];
	struct mmsghdr m[64];
	struct iovec iov;
	unsigned int i, sent = 0;
	int ret;

	frame_build(frame, sizeof(frame), dst, 0x1234);
	iov = (struct iovec){ frame, sizeof(frame) };
	memset(m, 0, sizeof(m));
	for (i = 0; i < 64; i++) {
		m[i].msg_hdr.msg_iov = &iov;
		m[i].msg_hdr.msg_iovlen = 1;
	}
	while (sent < n) {
		ret = sendmmsg(fd, m, n - sent < 64 ? n - sent : 64, 0);
		if (ret <= 0)
			return ret ? -errno : -EIO;
		sent += ret;
	}
	return 0;
}

/* ---- guest side --------------------------------------------------------- */

struct dev {
	struct vhxg_arena *arena;
	struct vhxg_dev d;
	struct vhxg_vq *rx, *tx;
	int backend;
	uint8_t *txbuf, *rxbuf;		/* per head */
	unsigned long tx_done, rx_done;
};

static int dev_config(struct dev *v)
{
	int ret = vhxg_set_owner(&v->d);

	if (!ret)
		ret = vhxg_set_features(&v->d, BASE_FEATURES);
	if (!ret)
		ret = vhxg_set_mem_identity(&v->d);
	return ret;
}

static int dev_attach(struct dev *v, int fd)
{
	int ret = vhxg_net_set_backend(&v->d, RXQ, fd);

	if (!ret)
		ret = vhxg_net_set_backend(&v->d, TXQ, fd);
	return ret;
}

/* Open and set up a device with its rings in @a; @backend may be -1. */
static int dev_open(struct dev *v, struct vhxg_arena *a, int backend,
		    unsigned int num)
{
	unsigned int i;
	int ret;

	memset(v, 0, sizeof(*v));
	v->arena = a;
	v->backend = backend;
	ret = vhxg_open(&v->d, test_dev, a);
	if (!ret)
		ret = dev_config(v);
	if (!ret)
		ret = vhxg_vq_setup(&v->d, RXQ, num);
	if (!ret)
		ret = vhxg_vq_setup(&v->d, TXQ, num);
	if (ret)
		return ret;
	v->rx = &v->d.vqs[RXQ];
	v->tx = &v->d.vqs[TXQ];
	v->txbuf = vhxg_alloc(a, (size_t)num * RXBUF, 64);
	v->rxbuf = vhxg_alloc(a, (size_t)num * RXBUF, 64);
	if (!v->txbuf || !v->rxbuf)
		return -ENOMEM;
	for (i = 0; i < num; i++) {
		uint8_t *b = v->txbuf + (size_t)i * RXBUF;

		memset(b, 0, sizeof(struct virtio_net_hdr_mrg_rxbuf));
		frame_build(b + sizeof(struct virtio_net_hdr_mrg_rxbuf),
			    60 + i * 23 % 1400, NULL, i);
	}
	return backend >= 0 ? dev_attach(v, backend) : 0;
}

static void dev_close(struct dev *v)
{
	vhxg_close(&v->d);
}

/* Rings back to index 0, nothing in flight (backends detached). */
static int dev_rewind(struct dev *v)
{
	int ret;

	vhxg_vq_rewind(v->rx, 0);
	vhxg_vq_rewind(v->tx, 0);
	ret = vhxg_vq_configure(v->rx);
	return ret ? ret : vhxg_vq_configure(v->tx);
}

static int dev_resetup(struct dev *v)
{
	int ret = dev_config(v);

	if (!ret)
		ret = dev_rewind(v);
	return ret ? ret : dev_attach(v, v->backend);
}

static void tx_fill(struct dev *v)
{
	unsigned int n = 0;

	v->tx_done += vhxg_vq_reap(v->tx, NULL, v->tx->num);
	while (v->tx->num_free) {
		unsigned int head = v->tx->free_head;
		struct vhxg_buf b = {
			v->txbuf + (size_t)head * RXBUF,
			sizeof(struct virtio_net_hdr_mrg_rxbuf) + 60 +
			head * 23 % 1400,
		};

		if (vhxg_vq_add(v->tx, &b, 1, NULL, 0, 0) < 0)
			break;
		n++;
	}
	if (n) {
		vhxg_vq_publish(v->tx);
		vhxg_vq_kick(v->tx);
	}
}

static void rx_fill(struct dev *v, unsigned int max)
{
	unsigned int n = 0;

	v->rx_done += vhxg_vq_reap(v->rx, NULL, v->rx->num);
	while (v->rx->num_free && n < max) {
		unsigned int head = v->rx->free_head;
		struct vhxg_buf b = { v->rxbuf + (size_t)head * RXBUF, RXBUF };

		if (vhxg_vq_add(v->rx, NULL, 0, &b, 1, 0) < 0)
			break;
		n++;
	}
	if (n) {
		vhxg_vq_publish(v->rx);
		vhxg_vq_kick(v->rx);
	}
}

static unsigned int pending(const struct vhxg_vq *vq)
{
	return (uint16_t)(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) -
			  __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
}

/* Traffic flows both ways: TX chains used, RX buffers filled. */
static void dev_check_traffic(struct __test_metadata *_metadata, struct dev *v,
			      struct tap *t)
{
	unsigned long tx0 = v->tx_done, rx0 = v->rx_done;
	int i;

	for (i = 0; i < 2000; i++) {
		if (!(i % 100))
			inject(t->inj, 16, NULL);
		tx_fill(v);
		rx_fill(v, NRX);
		if (v->tx_done > tx0 + NUM && v->rx_done > rx0)
			return;
		usleep(2000);
	}
	ASSERT_TRUE(v->tx_done > tx0 + NUM && v->rx_done > rx0)
		TH_LOG("no traffic: %lu TX chains and %lu RX buffers used",
		       v->tx_done - tx0, v->rx_done - rx0);
}

/* ---- shared state of a case ------------------------------------------ */

/* Where a forked owner's rings are, at the start of the shared mapping. */
struct report {
	struct vhxg_vq *rx, *tx;	/* copies of the owner's queues */
	struct vhxg_vq q[2];
};

struct env {
	struct tap tap;
	struct report *rep;
	struct vhxg_arena arena;	/* shared with forked owners */
	struct {
		unsigned long tx_pending, rx_used, drops;
		unsigned int n, full;
	} seen;
};

static void env_arena(struct __test_metadata *_metadata, struct env *e)
{
	void *p = mmap(NULL, ARENA, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED)
		TH_LOG("mmap: %m");
	memset(p, 0, ARENA);
	e->rep = p;
	e->arena = (struct vhxg_arena){ .base = (uint8_t *)p + 4096,
					.size = ARENA - 4096 };
}

static void seen_report(struct env *e, const char *what)
{
	ksft_print_msg("%s: over %u cycles, at the moment: %lu TX chains not yet "
		       "used, %lu RX buffers filled; the tap's queue was full in "
		       "%u cycles (%lu frames dropped)\n", what, e->seen.n,
		       e->seen.tx_pending, e->seen.rx_used, e->seen.full,
		       e->seen.drops);
}

/* The loops must really have had the tap's queue full and TX in flight. */
static void seen_check(struct __test_metadata *_metadata, struct env *e)
{
	ASSERT_TRUE(e->seen.tx_pending > 0)
		TH_LOG("no TX chain was in flight");
	ASSERT_TRUE(e->seen.full >= (cycles() - 10) / 2)
		TH_LOG("the tap's queue was full in only %u cycles", e->seen.full);
}

/* Keep the tap's queue full; count the frames it had no room for. */
static void refill(struct __test_metadata *_metadata, struct env *e, bool check)
{
	long long d0 = tap_drops(&e->tap), d1;

	ASSERT_LE(0, inject(e->tap.inj, REFILL, NULL));
	d1 = tap_drops(&e->tap);
	if (check) {
		e->seen.full += d1 > d0;
		e->seen.drops += d1 - d0;
	}
}

/*
 * The tests that run a workload under leak_run() (see leak.h): a
 * TEST_F(), so that the workload's ASSERT_*() reach the test; the
 * macvtap, when a test makes one, is removed whatever happened.
 */
FIXTURE(leak) {
	struct macvtap m;
};

FIXTURE_SETUP(leak)
{
}

FIXTURE_TEARDOWN_PARENT(leak)
{
	macvtap_destroy(&self->m);
}

static void with_tap(struct __test_metadata *_metadata, const char *name,
		     leak_fn fn, int tap_flags)
{
	struct leak_opts o = { .worker_prefix = worker_prefix() };
	static struct env e;

	memset(&e, 0, sizeof(e));
	ASSERT_LE(0, tap_make(&e.tap, tap_flags));
	LEAK_RUN(name, fn, &e, &o);
	tap_gone(_metadata, &e.tap);
}

/* ---- (a) SIGKILL of the owner ---------------------------------------- */

static void kill_child(struct env *e, int wfd)
{
	struct dev v;
	char c = 1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	vhxg_arena_reset(&e->arena);
	if (dev_open(&v, &e->arena, e->tap.fd, NUM))
		c = 0;
	else {
		rx_fill(&v, NRX);
		tx_fill(&v);
		e->rep->q[0] = *v.rx;
		e->rep->q[1] = *v.tx;
	}
	if (write(wfd, &c, 1) != 1 || !c)
		_exit(1);
	for (;;) {
		vhxg_vq_wait_used(v.tx, 20);
		tx_fill(&v);
	}
}

static void kill_cycle(struct __test_metadata *_metadata, struct env *e,
		       unsigned int i, bool check)
{
	const struct vhxg_vq *tx, *rx;
	int pfd[2], status;
	struct pollfd p;
	char c = 0;
	pid_t pid;

	refill(_metadata, e, check && i >= 10);
	ASSERT_TRUE(!pipe(pfd))
		TH_LOG("pipe");
	pid = fork();
	ASSERT_TRUE(pid >= 0)
		TH_LOG("fork");
	if (!pid) {
		close(pfd[0]);
		kill_child(e, pfd[1]);
	}
	close(pfd[1]);
	p = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
	if (poll(&p, 1, WAIT_MS) != 1 || read(pfd[0], &c, 1) != 1)
		c = 0;
	close(pfd[0]);
	usleep(1000 * (i % 4));
	/* The rings are in the shared mapping: look at them, then kill. */
	rx = &e->rep->q[0];
	tx = &e->rep->q[1];
	if (check && c) {
		e->seen.tx_pending += pending(tx);
		e->seen.rx_used += rx->used->idx;
		e->seen.n++;
	}
	kill(pid, SIGKILL);
	ASSERT_TRUE(waitpid(pid, &status, 0) == pid)
		TH_LOG("waitpid");
	ASSERT_TRUE(c == 1)
		TH_LOG("cycle %u: the owner could not set up", i);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("cycle %u: owner status %#x", i, status);
}

static void kill_loop(struct __test_metadata *_metadata, struct leak_ctx *lc,
		      void *arg)
{
	struct env *e = arg;
	unsigned int i;

	env_arena(_metadata, e);
	kill_cycle(_metadata, e, 0, false);
	ASSERT_LE(0, leak_point(lc, "baseline"));
	for (i = 0; i < cycles(); i++)
		kill_cycle(_metadata, e, i, true);
	seen_report(e, "kill");
	seen_check(_metadata, e);
	ASSERT_TRUE(e->seen.rx_used > 0)
		TH_LOG("no RX frame reached the guest");
	ASSERT_LE(0, leak_point(lc, "after the kills"));
	munmap(e->rep, ARENA);
}

TEST_F(leak, kill_loop)
{
	with_tap(_metadata, "kill_loop", kill_loop, 0);
}

/* ---- (b) close, (c) RESET_OWNER, with traffic ------------------------- */

static void load(struct __test_metadata *_metadata, struct env *e,
		 struct dev *v, unsigned int i, bool check)
{
	refill(_metadata, e, check && i >= 10);
	rx_fill(v, NRX);
	tx_fill(v);
	usleep(500 * (i % 4));
	if (check) {
		e->seen.tx_pending += pending(v->tx);
		e->seen.rx_used += (uint16_t)(v->rx->used->idx -
					      v->rx->last_used);
		e->seen.n++;
	}
}

static void close_cycle(struct __test_metadata *_metadata, struct env *e,
			unsigned int i, bool check)
{
	struct dev v;

	vhxg_arena_reset(&e->arena);
	ASSERT_LE(0, dev_open(&v, &e->arena, e->tap.fd, NUM));
	load(_metadata, e, &v, i, check);
	dev_close(&v);
}

static void close_loop(struct __test_metadata *_metadata, struct leak_ctx *lc,
		       void *arg)
{
	struct env *e = arg;
	unsigned int i;
	struct dev v;

	env_arena(_metadata, e);
	close_cycle(_metadata, e, 0, false);
	ASSERT_LE(0, leak_point(lc, "baseline"));
	/* Positive control: one device with traffic is seen. */
	vhxg_arena_reset(&e->arena);
	ASSERT_LE(0, dev_open(&v, &e->arena, e->tap.fd, NUM));
	load(_metadata, e, &v, 0, false);
	ASSERT_LE(0, leak_point(lc, "+holding one device"));
	dev_close(&v);
	for (i = 0; i < cycles(); i++)
		close_cycle(_metadata, e, i, true);
	seen_report(e, "close");
	seen_check(_metadata, e);
	ASSERT_LE(0, leak_point(lc, "after the closes"));
	munmap(e->rep, ARENA);
}

TEST_F(leak, close_loop)
{
	with_tap(_metadata, "close_loop", close_loop, 0);
}

static void reset_loop(struct __test_metadata *_metadata, struct leak_ctx *lc,
		       void *arg)
{
	struct env *e = arg;
	unsigned int i;
	struct dev v;

	env_arena(_metadata, e);
	ASSERT_LE(0, dev_open(&v, &e->arena, e->tap.fd, NUM));
	load(_metadata, e, &v, 0, false);
	ASSERT_LE(0, vhxg_reset_owner(&v.d));
	dev_close(&v);
	ASSERT_LE(0, leak_point(lc, "baseline"));
	vhxg_arena_reset(&e->arena);
	ASSERT_LE(0, dev_open(&v, &e->arena, e->tap.fd, NUM));
	for (i = 0; i < cycles(); i++) {
		load(_metadata, e, &v, i, true);
		ASSERT_LE(0, vhxg_reset_owner(&v.d));
		ASSERT_LE(0, dev_resetup(&v));
	}
	seen_report(e, "RESET_OWNER");
	seen_check(_metadata, e);
	/* Still a working device after all that. */
	dev_check_traffic(_metadata, &v, &e->tap);
	dev_close(&v);
	ASSERT_LE(0, leak_point(lc, "after the resets"));
	munmap(e->rep, ARENA);
}

TEST_F(leak, reset_loop)
{
	with_tap(_metadata, "reset_loop", reset_loop, 0);
}

/* ---- races -------------------------------------------------------------- */

struct race {
	struct env *e;
	struct dev v;
	pthread_mutex_t lock;	/* the driver's ring state */
	volatile bool stop;
	int (*op)(struct race *r, unsigned int i);
	unsigned long ops, op_errors;
	int spare[3][2], orig[3][2];
	struct vhost_memory_region full, half[2];
};

static void *race_driver(void *arg)
{
	struct race *r = arg;
	unsigned int n = 0;

	while (!r->stop) {
		pthread_mutex_lock(&r->lock);
		tx_fill(&r->v);
		rx_fill(&r->v, NUM);
		if (!(++n & 7)) {
			unsigned int base;

			vhxg_get_vring_base(&r->v.d, TXQ, &base);
		}
		pthread_mutex_unlock(&r->lock);
		if (!(n & 3))
			inject(r->e->tap.inj, 8, NULL);
		usleep(500);
	}
	return NULL;
}

static void *race_racer(void *arg)
{
	struct race *r = arg;
	unsigned int i;

	for (i = 0; !r->stop; i++) {
		if (r->op(r, i))
			r->op_errors++;
		r->ops++;
		usleep(1000 + (i % 5) * 700);
	}
	return NULL;
}

/* Detach, rings back to 0, attach: after the rings were lost. */
static int resync(struct race *r)
{
	int ret;

	pthread_mutex_lock(&r->lock);
	dev_attach(&r->v, -1);
	ret = dev_rewind(&r->v);
	if (!ret)
		ret = dev_attach(&r->v, r->v.backend);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static int race_mem_op(struct race *r, unsigned int i)
{
	int ret;

	switch (i % 4) {
	case 0:
	case 2:
		return vhxg_set_mem_table(&r->v.d, &r->full, 1);
	case 1:
		return vhxg_set_mem_table(&r->v.d, r->half, 2);
	}
	/* Drop the first half, rings and all; then repair. */
	ret = vhxg_set_mem_table(&r->v.d, &r->half[1], 1);
	usleep(2000);
	vhxg_set_mem_table(&r->v.d, &r->full, 1);
	return resync(r) ? -EIO : ret;
}

static const unsigned long fd_req[3] = {
	VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL, VHOST_SET_VRING_ERR,
};

static int race_vring_op(struct race *r, unsigned int i)
{
	unsigned int kind = i % 3, q = (i / 3) % 2;
	struct vhxg_vq *vq = &r->v.d.vqs[q];
	int *slot = kind == 0 ? &vq->kick_fd : kind == 1 ? &vq->call_fd :
		    &vq->err_fd;
	int fd, ret;

	switch ((i / 6) % 3) {
	case 0:
		fd = r->spare[kind][q];
		break;
	case 1:
		fd = VHOST_FILE_UNBIND;
		break;
	default:
		fd = r->orig[kind][q];
	}
	ret = vhxg_set_vring_fd(&r->v.d, fd_req[kind], q, fd);
	pthread_mutex_lock(&r->lock);
	if (!ret && fd >= 0)
		*slot = fd;
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static int race_backend_op(struct race *r, unsigned int i)
{
	unsigned int q = i % 2;
	int fd = (i / 2) % 2 ? r->v.backend : -1;

	return vhxg_net_set_backend(&r->v.d, q, fd);
}

static int race_reset_op(struct race *r, unsigned int i)
{
	int ret = vhxg_reset_owner(&r->v.d);

	(void)i;
	pthread_mutex_lock(&r->lock);
	if (!ret)
		ret = dev_resetup(&r->v);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static int race_close_op(struct race *r, unsigned int i)
{
	int ret;

	(void)i;
	close(r->v.d.fd);
	pthread_mutex_lock(&r->lock);
	r->v.d.fd = open(test_dev, O_RDWR | O_CLOEXEC);
	ret = r->v.d.fd < 0 ? -errno : dev_resetup(&r->v);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static void race_once(struct __test_metadata *_metadata, struct race *r,
		      unsigned int ms)
{
	unsigned int q, k;
	pthread_t d, x;

	r->stop = false;
	r->ops = r->op_errors = 0;
	vhxg_arena_reset(&r->e->arena);
	ASSERT_LE(0, dev_open(&r->v, &r->e->arena, r->e->tap.fd, NUM));
	r->full = (struct vhost_memory_region){
		.guest_phys_addr = (uintptr_t)r->e->arena.base,
		.memory_size = r->e->arena.size,
		.userspace_addr = (uintptr_t)r->e->arena.base,
	};
	r->half[0] = r->full;
	r->half[0].memory_size /= 2;
	r->half[1] = r->half[0];
	r->half[1].guest_phys_addr += r->half[0].memory_size;
	r->half[1].userspace_addr += r->half[0].memory_size;
	for (q = 0; q < 2; q++) {
		r->orig[0][q] = r->v.d.vqs[q].kick_fd;
		r->orig[1][q] = r->v.d.vqs[q].call_fd;
		r->orig[2][q] = r->v.d.vqs[q].err_fd;
		for (k = 0; k < 3; k++) {
			r->spare[k][q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			ASSERT_TRUE(r->spare[k][q] >= 0)
				TH_LOG("eventfd");
		}
	}
	ASSERT_TRUE(!pthread_create(&d, NULL, race_driver, r))
		TH_LOG("thread");
	ASSERT_TRUE(!pthread_create(&x, NULL, race_racer, r))
		TH_LOG("thread");
	leak_msleep(ms);
	r->stop = true;
	pthread_join(x, NULL);
	pthread_join(d, NULL);
	for (q = 0; q < 2; q++) {
		r->v.d.vqs[q].kick_fd = r->orig[0][q];
		r->v.d.vqs[q].call_fd = r->orig[1][q];
		r->v.d.vqs[q].err_fd = r->orig[2][q];
		for (k = 0; k < 3; k++)
			close(r->spare[k][q]);
	}
	/* The device works again after a reset. */
	ASSERT_LE(0, vhxg_reset_owner(&r->v.d));
	ASSERT_LE(0, dev_resetup(&r->v));
	dev_check_traffic(_metadata, &r->v, &r->e->tap);
	dev_close(&r->v);
}

static void race_work(struct __test_metadata *_metadata, struct leak_ctx *lc,
		      void *arg)
{
	struct race *r = arg;
	unsigned long tx, rx;

	env_arena(_metadata, r->e);
	pthread_mutex_init(&r->lock, NULL);
	race_once(_metadata, r, 100);
	ASSERT_LE(0, leak_point(lc, "baseline"));
	tx = r->v.tx_done;
	rx = r->v.rx_done;
	race_once(_metadata, r, RACE_MS);
	TH_LOG("%lu ops (%lu failed) racing traffic: %lu TX chains and "
	       "%lu RX buffers used", r->ops, r->op_errors, r->v.tx_done - tx,
	       r->v.rx_done - rx);
	ASSERT_TRUE(r->ops > 10)
		TH_LOG("no race happened");
	munmap(r->e->rep, ARENA);
	ASSERT_LE(0, leak_point(lc, "after the race"));
}

static void run_race(struct __test_metadata *_metadata, const char *name,
		     int (*op)(struct race *, unsigned int))
{
	struct leak_opts o = { .worker_prefix = worker_prefix() };
	static struct race r;
	static struct env e;

	memset(&e, 0, sizeof(e));
	memset(&r, 0, sizeof(r));
	ASSERT_LE(0, tap_make(&e.tap, 0));
	r.e = &e;
	r.op = op;
	LEAK_RUN(name, race_work, &r, &o);
	tap_gone(_metadata, &e.tap);
}

TEST_F(leak, race_mem_table)
{
	run_race(_metadata, "race_mem_table", race_mem_op);
}

TEST_F(leak, race_vring_fds)
{
	run_race(_metadata, "race_vring_fds", race_vring_op);
}

TEST_F(leak, race_backend)
{
	run_race(_metadata, "race_backend", race_backend_op);
}

TEST_F(leak, race_reset_owner)
{
	run_race(_metadata, "race_reset_owner", race_reset_op);
}

TEST_F(leak, race_close)
{
	run_race(_metadata, "race_close", race_close_op);
}

/* ---- backends vanishing ------------------------------------------------- */

struct vanish {
	struct env *e;
	int backend;		/* the fd the device uses */
	int inj;		/* where frames for the guest are sent */
	const uint8_t *dst;
	int (*yank)(struct vanish *w);
	int (*restore)(struct vanish *w, struct dev *v);
	char what[64];
	struct macvtap m;
};

struct pump {
	struct dev *v;
	struct vanish *w;
	volatile bool stop;
};

static void *pump_fn(void *arg)
{
	struct pump *p = arg;
	unsigned int n = 0;

	while (!p->stop) {
		tx_fill(p->v);
		rx_fill(p->v, NUM);
		if (!(++n & 3))
			inject(p->w->inj, 8, p->w->dst);
		usleep(1000);
	}
	return NULL;
}

static void vanish_work(struct __test_metadata *_metadata, struct leak_ctx *lc,
			void *arg)
{
	struct vanish *w = arg;
	struct pump p = { 0 };
	unsigned long tx, rx;
	struct dev v;
	pthread_t th;
	int ret;

	env_arena(_metadata, w->e);
	ASSERT_LE(0, dev_open(&v, &w->e->arena, w->backend, NUM));
	dev_close(&v);
	ASSERT_LE(0, leak_point(lc, "baseline"));

	vhxg_arena_reset(&w->e->arena);
	ASSERT_LE(0, dev_open(&v, &w->e->arena, w->backend, NUM));
	p.v = &v;
	p.w = w;
	ASSERT_TRUE(!pthread_create(&th, NULL, pump_fn, &p))
		TH_LOG("thread");
	leak_msleep(300);
	tx = v.tx_done;
	rx = v.rx_done;
	ret = w->yank(w);
	TH_LOG("%s under traffic (%lu TX, %lu RX so far): %s", w->what, tx,
	       rx, ret ? strerror(-ret) : "ok");
	leak_msleep(400);
	p.stop = true;
	pthread_join(th, NULL);
	TH_LOG("after it: %lu TX chains and %lu RX buffers used",
	       v.tx_done - tx, v.rx_done - rx);
	ASSERT_TRUE(!ret)
		TH_LOG("could not take the backend away");
	ASSERT_TRUE(tx > 0)
		TH_LOG("no traffic before");
	if (w->restore) {
		ASSERT_LE(0, w->restore(w, &v));
		dev_check_traffic(_metadata, &v, &w->e->tap);
	}
	ASSERT_LE(0, vhxg_reset_owner(&v.d));
	dev_close(&v);
	munmap(w->e->rep, ARENA);
	ASSERT_LE(0, leak_point(lc, "after it and close"));
}

/*
 * Delete a link with RTM_DELLINK.  Not with ip(8): running a program
 * would charge its inodes and dentries to the workload's cgroup.
 */
static int link_del(const char *ifname)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = {
			.nlmsg_len = sizeof(req),
			.nlmsg_type = RTM_DELLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
		},
		.ifi = { .ifi_family = AF_UNSPEC },
	};
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
	} ack;
	int fd, ret, idx = netif_index(ifname);

	if (idx < 0)
		return idx;
	req.ifi.ifi_index = idx;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) != sizeof(req))
		ret = -errno;
	else if (recv(fd, &ack, sizeof(ack), 0) < (ssize_t)sizeof(ack))
		ret = -EIO;
	else
		ret = ack.nh.nlmsg_type == NLMSG_ERROR ? ack.err.error : -EIO;
	close(fd);
	return ret;
}

static int yank_tap(struct vanish *w)
{
	return link_del(w->e->tap.ifname);
}

TEST_F(leak, vanish_tap)
{
	struct leak_opts o = { .worker_prefix = worker_prefix() };
	static struct vanish w;
	static struct env e;

	memset(&w, 0, sizeof(w));
	memset(&e, 0, sizeof(e));
	ASSERT_LE(0, tap_make(&e.tap, 0));
	w.e = &e;
	w.backend = e.tap.fd;
	w.inj = e.tap.inj;
	w.yank = yank_tap;
	snprintf(w.what, sizeof(w.what), "tap %s deleted", e.tap.ifname);
	LEAK_RUN("vanish_tap", vanish_work, &w, &o);
	EXPECT_EQ(0, if_nametoindex(e.tap.ifname))
		TH_LOG("%s still exists", e.tap.ifname);
	close(e.tap.inj);
	close(e.tap.drops_fd);
	close(e.tap.fd);
}

static int detach_queue(int fd, int flag)
{
	struct ifreq ifr = { .ifr_flags = flag };

	return ioctl(fd, TUNSETQUEUE, &ifr) ? -errno : 0;
}

static int yank_queue(struct vanish *w)
{
	return detach_queue(w->backend, IFF_DETACH_QUEUE);
}

static int restore_queue(struct vanish *w, struct dev *v)
{
	int ret = detach_queue(w->backend, IFF_ATTACH_QUEUE);

	/* The device saw its socket fail: attach it again. */
	if (!ret)
		ret = dev_attach(v, -1);
	if (!ret)
		ret = dev_attach(v, w->backend);
	return ret;
}

TEST_F(leak, vanish_detach_queue)
{
	struct leak_opts o = { .worker_prefix = worker_prefix() };
	static struct vanish w;
	static struct env e;

	memset(&w, 0, sizeof(w));
	memset(&e, 0, sizeof(e));
	ASSERT_LE(0, tap_make(&e.tap, IFF_MULTI_QUEUE));
	w.e = &e;
	w.backend = e.tap.fd;
	w.inj = e.tap.inj;
	w.yank = yank_queue;
	w.restore = restore_queue;
	snprintf(w.what, sizeof(w.what), "TUNSETQUEUE IFF_DETACH_QUEUE");
	LEAK_RUN("vanish_detach_queue", vanish_work, &w, &o);
	tap_gone(_metadata, &e.tap);
}

static int yank_lower(struct vanish *w)
{
	return link_del(w->m.lower);
}

TEST_F(leak, vanish_macvtap_lower)
{
	struct leak_opts o = { .worker_prefix = worker_prefix() };
	static struct vanish w;
	static struct env e;
	int fd;

	memset(&w, 0, sizeof(w));
	memset(&e, 0, sizeof(e));
	if (macvtap_create(&self->m))
		SKIP(return, "cannot make a macvtap");
	w.m = self->m;
	fd = macvtap_open(&w.m);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, tap_set_hdr_sz(fd,
				    sizeof(struct virtio_net_hdr_mrg_rxbuf)));
	w.inj = inj_open(w.m.peer);
	ASSERT_LE(0, w.inj);
	w.e = &e;
	w.backend = fd;
	w.dst = w.m.mac;
	w.yank = yank_lower;
	snprintf(w.what, sizeof(w.what), "lower device %s deleted",
		 w.m.lower);
	LEAK_RUN("vanish_macvtap_lower", vanish_work, &w, &o);
	close(fd);
	close(w.inj);
	EXPECT_EQ(0, if_nametoindex(w.m.name))
		TH_LOG("macvtap %s still exists", w.m.name);
}

/* ---- scale: 256 devices ------------------------------------------------ */

struct scale {
	struct tap taps[NSAMPLE];
};

static void scale_work(struct __test_metadata *_metadata, struct leak_ctx *lc,
		       void *arg)
{
	struct scale *s = arg;
	struct rlimit rl = { 8192, 8192 };
	static struct vhxg_arena a;
	static unsigned int order[NDEV];
	struct dev *v;
	unsigned int i, j;
	int pass;

	ASSERT_TRUE(!setrlimit(RLIMIT_NOFILE, &rl))
		TH_LOG("RLIMIT_NOFILE: %m");
	v = calloc(NDEV, sizeof(*v));
	ASSERT_TRUE(v)
		TH_LOG("calloc");
	ASSERT_LE(0, vhxg_arena_init(&a, 48 << 20));
	for (pass = 0; pass < 2; pass++) {
		/*
		 * The warm-up pass opens as many: the fd table grows past
		 * 1024 entries once and keeps its size (both drivers showed
		 * +14536 bytes of slab otherwise).
		 */
		unsigned int n = NDEV;

		vhxg_arena_reset(&a);
		for (i = 0; i < n; i++) {
			ASSERT_LE(0, dev_open(&v[i], &a,
					      i < NSAMPLE ? s->taps[i].fd :
					      -1, 16));
		}
		for (i = 0; i < NSAMPLE; i++)
			dev_check_traffic(_metadata, &v[i], &s->taps[i]);
		if (pass) {
			TH_LOG("%u devices open, %d worker threads", n,
			       leak_count_threads(worker_prefix()));
			ASSERT_LE(0, leak_point(lc, "+256 devices open"));
		}
		for (i = 0; i < n; i++)
			order[i] = i;
		for (i = n - 1; i > 0; i--) {
			unsigned int t;

			j = (unsigned int)random() % (i + 1);
			t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (i = 0; i < n; i++)
			dev_close(&v[order[i]]);
		if (!pass) {
			ASSERT_LE(0, leak_point(lc, "baseline"));
		}
	}
	vhxg_arena_fini(&a);
	free(v);
	ASSERT_LE(0, leak_point(lc, "after 256 devices closed"));
}

TEST_F(leak, scale_256)
{
	struct leak_opts o = { .worker_prefix = worker_prefix() };
	static struct scale s;
	int i;

	for (i = 0; i < NSAMPLE; i++)
		ASSERT_LE(0, tap_make(&s.taps[i], 0));
	LEAK_RUN("scale_256", scale_work, &s, &o);
	for (i = 0; i < NSAMPLE; i++)
		tap_gone(_metadata, &s.taps[i]);
}

/* ---- the VMM's backend fd closed after SET_BACKEND ---------------------- */

/* Is @ifname gone within WAIT_MS?  (unregister runs after the last fput) */
static bool link_gone(const char *ifname)
{
	int i;

	for (i = 0; i < WAIT_MS / 50; i++) {
		if (!if_nametoindex(ifname))
			return true;
		leak_msleep(50);
	}
	return false;
}

/* Does @ifname still exist after QUIET_MS?  (a wrong put shows by then) */
static bool link_stays(const char *ifname)
{
	leak_msleep(QUIET_MS);
	return if_nametoindex(ifname);
}

/* A few frames each way through a device whose tap fd we no longer have. */
static void backend_traffic(struct __test_metadata *_metadata,
			    struct net_env *e, uint32_t seed, bool rx)
{
	static const size_t lens[] = { 60, 1000, 1514 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(lens); i++)
		net_tx_check(_metadata, e, lens[i], seed + i);
	if (!rx)
		return;
	ASSERT_LE(0, net_rx_post(e, 8, 2048, 1, 0));
	for (i = 0; i < ARRAY_SIZE(lens); i++)
		net_rx_check(_metadata, e, lens[i], seed + 16 + i);
}

/* Set up a device on a fresh tap, then close our fd of the tap. */
static void backend_handed_over(struct __test_metadata *_metadata,
				struct net_env *e)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };

	ASSERT_LE(0, net_setup(e, &cfg));
	close(e->tap_fd);
	e->tap_fd = -1;
	ASSERT_TRUE(link_stays(e->ifname))
		TH_LOG("tap %s went away with our fd: the device holds no reference",
		       e->ifname);
	backend_traffic(_metadata, e, 0xbac0 << 16, true);
	ASSERT_TRUE(if_nametoindex(e->ifname))
		TH_LOG("tap %s gone during traffic",
		       e->ifname);
}

TEST(backend_fd_closed)
{
	struct net_env e;

	backend_handed_over(_metadata, &e);
	close(e.pkt_fd);
	vhxg_close(&e.dev);
	ASSERT_TRUE(link_gone(e.ifname))
		TH_LOG("tap %s still exists after the device was closed", e.ifname);
}

/*
 * Each queue holds the tap: detaching RX leaves it to TX, which still
 * sends; detaching TX too releases it while the device stays open.
 */
TEST(backend_fd_closed_detach)
{
	struct net_env e;

	backend_handed_over(_metadata, &e);
	ASSERT_LE(0, vhxg_net_set_backend(&e.dev, RXQ, -1));
	ASSERT_TRUE(link_stays(e.ifname))
		TH_LOG("tap %s went away with RX detached, TX still attached",
		       e.ifname);
	backend_traffic(_metadata, &e, 0xbac1 << 16, false);
	ASSERT_LE(0, vhxg_net_set_backend(&e.dev, TXQ, -1));
	close(e.pkt_fd);
	ASSERT_TRUE(link_gone(e.ifname))
		TH_LOG("tap %s still exists with both queues detached", e.ifname);
	vhxg_close(&e.dev);
}

/* ---- noise -------------------------------------------------------------- */

static void idle_cycle(struct __test_metadata *_metadata, struct env *e)
{
	int pfd[2], status;
	char c = 0;
	pid_t pid;

	refill(_metadata, e, false);
	ASSERT_TRUE(!pipe(pfd))
		TH_LOG("pipe");
	pid = fork();
	ASSERT_TRUE(pid >= 0)
		TH_LOG("fork");
	if (!pid) {
		int fd = open("/dev/null", O_RDWR);

		c = fd >= 0;
		memset(e->arena.base, 0, 1 << 20);
		if (write(pfd[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	ASSERT_TRUE(read(pfd[0], &c, 1) == 1 && c)
		TH_LOG("child");
	close(pfd[0]);
	kill(pid, SIGKILL);
	ASSERT_TRUE(waitpid(pid, &status, 0) == pid)
		TH_LOG("waitpid");
}

static void idle_loop(struct __test_metadata *_metadata, struct leak_ctx *lc,
		      void *arg)
{
	struct env *e = arg;
	unsigned int i;

	env_arena(_metadata, e);
	idle_cycle(_metadata, e);
	ASSERT_LE(0, leak_point(lc, "baseline"));
	for (i = 0; i < cycles(); i++)
		idle_cycle(_metadata, e);
	ASSERT_LE(0, leak_point(lc, "after the idle cycles"));
	munmap(e->rep, ARENA);
}

TEST_F(leak, idle_noise)
{
	with_tap(_metadata, "idle_noise", idle_loop, 0);
}


VHX_TEST_MAIN("/dev/vhx-net")
