// SPDX-License-Identifier: GPL-2.0
/*
 * Pins for fixed vhx-net defects (kmod review findings #1, #2, #4, #9,
 * #10, #11, #13) and a flood check of the CVE-2019-3900 class.  Each pin
 * fails on the module before the fixes (2432cb9) and passes after them;
 * the flood check passes on both (TX always counted its weight).
 *
 * Where upstream vhost-net differs by design (it overruns a small used
 * ring, takes a head it holds, keeps any busy-loop timeout, leaves
 * num_buffers alone without MRG_RXBUF), the case prints the upstream
 * figure as a "# reference:" line and reports SKIP against upstream only
 * (listed in selftests/expected-skips).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/if_tun.h>

#include "check.h"
#include "modparam.h"

#define CANARY_LEN	4096
#define IOCTL_BOUND_MS	500	/* an ioctl against a busy-polling worker */

static uint8_t frame[MAX_FRAME], got[MAX_FRAME];

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void spin_us(int64_t us)
{
	int64_t end = now_us() + us;

	while (now_us() < end)
		;
}


static int set_busyloop(struct net_env *e, unsigned int idx, unsigned int us)
{
	struct vhost_vring_state s = { .index = idx, .num = us };

	return vhxg_ioctl(&e->dev, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &s);
}

static int get_busyloop(struct net_env *e, unsigned int idx, unsigned int *us)
{
	struct vhost_vring_state s = { .index = idx };
	int ret = vhxg_ioctl(&e->dev, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, &s);

	*us = s.num;
	return ret;
}

/* Sum of the bytes of a region that differ from the canary, and the last. */
static size_t canary_damage(const uint8_t *p, size_t len, size_t *last)
{
	size_t i, n = 0;

	*last = 0;
	for (i = 0; i < len; i++) {
		if (p[i] != 0xa5) {
			n++;
			*last = i + 1;
		}
	}
	return n;
}

/*
 * The worker thread serving the device this process owns: vhx names it
 * vhx-net-<pid>.<n>, upstream vhost-<pid> (a kthread before 6.4, a thread
 * of ours since).  Returns its tid, or 0.
 */
static pid_t find_worker(void)
{
	char want[32], path[600], comm[64];
	pid_t found = 0;
	struct dirent *p, *t;
	DIR *proc, *task;
	FILE *f;

	if (test_dev_is_vhx())
		snprintf(want, sizeof(want), "vhx-net-%d.", getpid());
	else
		snprintf(want, sizeof(want), "vhost-%d", getpid());
	proc = opendir("/proc");
	if (!proc)
		return 0;
	while (!found && (p = readdir(proc))) {
		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", p->d_name);
		task = opendir(path);
		if (!task)
			continue;
		while (!found && (t = readdir(task))) {
			if (t->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/task/%s/comm",
				 p->d_name, t->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;
			if (fgets(comm, sizeof(comm), f) &&
			    !strncmp(comm, want, strlen(want)))
				found = atoi(t->d_name);
			fclose(f);
		}
		closedir(task);
	}
	closedir(proc);
	return found;
}

/* Times the thread was scheduled in (schedstat's third field). */
static long long run_count(pid_t tid)
{
	long long cpu, wait, runs = -1;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld %lld %lld", &cpu, &wait, &runs) != 3)
		runs = -1;
	fclose(f);
	return runs;
}

static void pin_cpu(pid_t tid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(tid, sizeof(set), &set))
		ksft_print_msg("pin %d to CPU %d: %s\n", tid, cpu, strerror(errno));
}

/* Worker on CPU 0, us on CPU 1: neither preempts the other's polling. */
static void pin_apart(void)
{
	pid_t w = find_worker();

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	if (w)
		pin_cpu(w, 0);
	pin_cpu(0, 1);
}

/* ---- #1: used ring overrun with re-posted heads -------------------------- */

#define OVR_TARGET	200	/* entries the guest posts in all */
#define OVR_SEED	0x0e00000
#define OVR_LEN		100

struct overrun {
	struct net_env e;
	struct vhxg_vq *vq;
	bool rx;
	unsigned int num;
	uint8_t *bufs;		/* RX: one fresh 2 KiB buffer per entry */
	unsigned int seen;	/* entries the device is known to have taken */
};

static uint8_t *ovr_buf(struct overrun *o, unsigned int entry)
{
	if (o->rx)
		return o->bufs + (size_t)entry * 2048;
	return o->e.tx_slots + (size_t)(entry % o->num) * TX_SLOT;
}

/* Make entry @entry available with head entry % num. */
static void ovr_post(struct overrun *o, unsigned int entry)
{
	unsigned int head = entry % o->num;
	uint8_t *buf = ovr_buf(o, entry);

	if (o->rx) {
		vhxg_vq_put_desc(o->vq, head, (uintptr_t)buf, 2048,
				 VRING_DESC_F_WRITE, 0);
	} else {
		memset(buf, 0, o->e.hdr_len);
		frame_build(buf + o->e.hdr_len, OVR_LEN, NULL,
			    OVR_SEED + entry);
		vhxg_vq_put_desc(o->vq, head, (uintptr_t)buf,
				 o->e.hdr_len + OVR_LEN, 0, 0);
	}
	vhxg_vq_put_avail(o->vq, head);
}

/*
 * Wait until the device has taken entry o->seen: on TX its frame leaves
 * the tap, on RX its buffer receives the frame.  Either happens only after
 * the device moved last_avail past the entry.
 */
static bool ovr_wait_taken(struct overrun *o)
{
	int64_t end = now_us() + 1000000;
	uint32_t want = OVR_SEED + o->seen;

	if (!o->rx) {
		ssize_t n = pkt_recv(o->e.pkt_fd, got, sizeof(got), 1000,
				     TEST_ETHERTYPE, NULL);

		if (n <= 0)
			return false;
		if (frame_seed(got) != want) {
			ksft_print_msg("num %u: frame %u has seed %#x\n", o->num,
				       o->seen, frame_seed(got));
			return false;
		}
		return true;
	}
	while (now_us() < end) {
		const uint8_t *p = ovr_buf(o, o->seen) + o->e.hdr_len;
		uint32_t seed;

		/* The device may be half way through writing it. */
		memcpy(&seed, p + ETH_HLEN_, 4);
		if (seed == want)
			return true;
		sched_yield();
	}
	ksft_print_msg("num %u: RX entry %u not filled (seed %#x)\n", o->num, o->seen,
		       *(uint32_t *)(ovr_buf(o, o->seen) + o->e.hdr_len + ETH_HLEN_));
	return false;
}

/*
 * A guest re-posts heads as soon as the device took them, whether or not
 * they were returned in the used ring; knowing exactly how far the device
 * got (see ovr_wait_taken), it never breaks the avail->idx - last_avail
 * <= num rule.  A long busy loop keeps the handler taking them in one run,
 * so more than num used entries can pile up unpublished.  TX runs with
 * sndbuf limited (no batching), so each frame leaves as soon as taken.
 * The ring starts at base num - 1, so a batch that wraps writes the most
 * past the end.  A 4 KiB canary follows avail_event.
 */
static void overrun_one(struct __test_metadata *_metadata, unsigned int num,
			bool rx, size_t *damage)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP,
			       .num = num };
	size_t ubytes = 4 + 8 * num + 2, last, bad;
	unsigned int qi = rx ? RXQ : TXQ, posted, i;
	int sndbuf = INT_MAX / 2, err;
	uint16_t base = num - 1, used;
	struct overrun o = { .rx = rx, .num = num };
	struct net_env *e = &o.e;
	struct vhxg_vq *vq;
	uint8_t *canary;
	int64_t end;

	ASSERT_LE(0, net_setup(e, &cfg));
	vq = o.vq = rx ? e->rx : e->tx;
	ASSERT_TRUE(!ioctl(e->tap_fd, TUNSETSNDBUF, &sndbuf))
		TH_LOG("TUNSETSNDBUF");
	ASSERT_LE(0, net_attach(e, -1));
	vq->used = vhxg_alloc(e->arena, ubytes + CANARY_LEN, 4);
	ASSERT_TRUE(vq->used)
		TH_LOG("arena full");
	canary = (uint8_t *)vq->used + ubytes;
	net_fill_canary(canary, CANARY_LEN);
	vhxg_vq_rewind(vq, base);
	ASSERT_LE(0, vhxg_set_vring_base(&e->dev, qi, base));
	ASSERT_LE(0, vhxg_set_vring_addr(&e->dev, qi, (uintptr_t)vq->desc,
					 (uintptr_t)vq->avail, (uintptr_t)vq->used,
					 0));
	ASSERT_LE(0, set_busyloop(e, qi, 200000));
	ASSERT_LE(0, net_attach(e, e->tap_fd));
	pin_apart();
	if (rx) {
		o.bufs = vhxg_alloc(e->arena, (size_t)OVR_TARGET * 2048, 64);
		ASSERT_TRUE(o.bufs)
			TH_LOG("arena full");
		net_fill_canary(o.bufs, (size_t)OVR_TARGET * 2048);
		for (i = 0; i < OVR_TARGET; i++) {
			frame_build(frame, OVR_LEN, NULL, OVR_SEED + i);
			ASSERT_LE(0, pkt_send(e->pkt_fd, frame, OVR_LEN, NULL));
		}
	}

	for (posted = 0; posted < num; posted++)
		ovr_post(&o, posted);
	vhxg_vq_publish(vq);
	ASSERT_LE(0, vhxg_vq_kick_force(vq));
	end = now_us() + 20 * 1000000;
	while (o.seen < OVR_TARGET && now_us() < end) {
		if (!ovr_wait_taken(&o))
			break;
		o.seen++;
		if (posted >= OVR_TARGET)
			continue;
		/* Entry seen - 1 was taken: its head may come round again. */
		ovr_post(&o, posted++);
		vhxg_vq_publish(vq);
		vhxg_vq_kick(vq);
	}
	/* Let the busy loop run out and the last batch be published. */
	usleep(400 * 1000);
	err = vhxg_vq_wait_err(vq, 0);
	used = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	bad = canary_damage(canary, CANARY_LEN, &last);
	*damage = last;
	TH_LOG("%s num %u: %u of %u entries taken, used idx %u -> %u, %s, %zu bytes past the used ring changed (last at +%zu)",
	       rx ? "RX" : "TX", num, o.seen, posted, base, used,
	       err == 1 ? "ERR" : "no ERR", bad, last);
	net_teardown(e);
	if (!test_dev_is_vhx())
		return;
	EXPECT_TRUE(!bad)
		TH_LOG("num %u: device wrote %zu bytes past the used ring",
		       num, last);
	if (err == 1)
		return;
	EXPECT_TRUE(o.seen == posted)
		TH_LOG("num %u: only %u of %u entries taken and no ERR", num,
		       o.seen, posted);
	EXPECT_TRUE(used == (uint16_t)(base + o.seen))
		TH_LOG("num %u: used idx %u, want %u", num, used,
		       (uint16_t)(base + o.seen));
}

static void used_ring_overrun(struct __test_metadata *_metadata, bool rx)
{
	static const unsigned int nums[] = { 1, 2, 4, 8, 16, 32 };
	size_t i, off = 0, worst = 0;
	char ref[256];

	/* Every size runs, so that a failure shows the damage at each. */
	for (i = 0; i < ARRAY_SIZE(nums); i++) {
		size_t dmg = 0;

		overrun_one(_metadata, nums[i], rx, &dmg);
		off += snprintf(ref + off, sizeof(ref) - off, " num %u: %zu B;",
				nums[i], dmg);
		if (dmg > worst)
			worst = dmg;
	}
	if (test_dev_is_vhx())
		return;
	TH_LOG("reference: upstream wrote past the %s used ring:%s",
	       rx ? "RX" : "TX", ref);
	SKIP(return, "upstream publishes 64 used entries whatever the ring size (%zu bytes past the ring in this run)",
		     worst);
}

TEST(used_ring_overrun_tx)
{
	used_ring_overrun(_metadata, false);
}

TEST(used_ring_overrun_rx)
{
	used_ring_overrun(_metadata, true);
}

/*
 * The same head twice in the avail ring while the device still holds it:
 * a mergeable RX packet that needs two buffers meets head 0 twice in one
 * gather.  vhx refuses the second (ERR, queue stopped, nothing used); a
 * device that takes it writes one buffer twice and returns the head twice.
 * (On TX a head is returned to the used batch before the next is taken,
 * so a head posted twice there is simply used twice, on vhx too.)
 */
TEST(inflight_head_reposted)
{
	struct net_cfg cfg = { .features = BASE_FEATURES |
				       F(VIRTIO_NET_F_MRG_RXBUF),
			       .hdr = HDR_TAP, .num = 8 };
	struct vhxg_vq *rx;
	struct net_env e;
	uint8_t *buf;
	uint16_t used;
	int err;

	ASSERT_LE(0, net_setup(&e, &cfg));
	rx = e.rx;
	buf = vhxg_alloc(e.arena, 64, 64);
	ASSERT_TRUE(buf)
		TH_LOG("arena full");
	vhxg_vq_put_desc(rx, 0, (uintptr_t)buf, 64, VRING_DESC_F_WRITE, 0);
	vhxg_vq_put_avail(rx, 0);
	vhxg_vq_put_avail(rx, 0);
	vhxg_vq_publish(rx);
	ASSERT_LE(0, vhxg_vq_kick_force(rx));
	frame_build(frame, 100, NULL, 0x1d0);
	ASSERT_LE(0, pkt_send(e.pkt_fd, frame, 100, NULL));
	err = vhxg_vq_wait_err(rx, test_dev_is_vhx() ? WAIT_MS : QUIET_MS);
	usleep(QUIET_MS * 1000);
	used = __atomic_load_n(&rx->used->idx, __ATOMIC_ACQUIRE);
	TH_LOG("%shead 0 posted twice for a 2-buffer packet: used idx %u (ids %u %u), %s",
	       test_dev_is_vhx() ? "" : "reference: ", used,
	       rx->used->ring[0].id, rx->used->ring[1].id,
	       err == 1 ? "ERR" : "no ERR");
	if (!test_dev_is_vhx())
		SKIP(return, "upstream takes a head it already holds");
	ASSERT_TRUE(err == 1)
		TH_LOG("no ERR for a head taken twice");
	ASSERT_TRUE(used == 0)
		TH_LOG("used idx %u after the refused packet", used);
}

/* ---- #2: RX retries count toward the weight ------------------------------ */

struct bumper {
	struct vhxg_vq *vq;
	unsigned int count;	/* entries to post, one at a time */
	int64_t gap_us;
	volatile int done;
};

/*
 * Post one more (useless) RX chain every gap_us: each new entry makes a
 * busy-polling device retry the packet and re-walk every chain.
 */
static void *bump_fn(void *arg)
{
	struct bumper *b = arg;
	unsigned int i;

	for (i = 0; i < b->count; i++) {
		vhxg_vq_put_avail(b->vq, i % b->vq->num);
		vhxg_vq_publish(b->vq);
		vhxg_vq_kick(b->vq);
		spin_us(b->gap_us);
	}
	b->done = 1;
	return NULL;
}

/*
 * Frames wait in the tap while the guest posts RX chains of @m empty
 * descriptors (mergeable: never enough room), one more every @gap_us, up
 * to 1000.  A busy-polling device retries the packet at each new entry
 * and re-walks every chain.  Returns the longest an RX ioctl waited for
 * the queue meanwhile.
 */
static void rx_retry_run(struct __test_metadata *_metadata, unsigned int m,
			 int64_t gap_us, int64_t *worst)
{
	struct net_cfg cfg = { .features = BASE_FEATURES |
				       F(VIRTIO_NET_F_MRG_RXBUF) |
				       F(VIRTIO_RING_F_INDIRECT_DESC),
			       .hdr = HDR_TAP, .num = 1024 };
	struct bumper b = { .count = 1000, .gap_us = gap_us };
	unsigned int i, calls = 0;
	struct vring_desc *table;
	struct net_env e;
	int64_t t, start;
	pthread_t thr;

	*worst = 0;
	ASSERT_LE(0, net_setup(&e, &cfg));
	table = vhxg_alloc(e.arena, 16 * m, 16);
	ASSERT_TRUE(table)
		TH_LOG("arena full");
	for (i = 0; i < m; i++)
		table[i] = (struct vring_desc){
			(uintptr_t)table, 0,
			VRING_DESC_F_WRITE |
			(i + 1 < m ? VRING_DESC_F_NEXT : 0), i + 1 };
	for (i = 0; i < e.rx->num; i++)
		vhxg_vq_put_desc(e.rx, i, (uintptr_t)table, 16 * m,
				 VRING_DESC_F_INDIRECT, 0);
	for (i = 0; i < 8; i++) {
		frame_build(frame, 1000, NULL, 0x2000 + i);
		ASSERT_LE(0, pkt_send(e.pkt_fd, frame, 1000, NULL));
	}
	ASSERT_LE(0, set_busyloop(&e, RXQ, 10000));
	pin_apart();
	b.vq = e.rx;
	ASSERT_TRUE(!pthread_create(&thr, NULL, bump_fn, &b))
		TH_LOG("pthread_create");
	start = now_us();
	while (!b.done || now_us() - start < 200000) {
		t = now_us();
		ASSERT_LE(0, vhxg_set_vring_fd(&e.dev, VHOST_SET_VRING_CALL,
					       RXQ,
					       e.rx->call_fd));
		t = now_us() - t;
		if (t > *worst)
			*worst = t;
		calls++;
		usleep(5000);
		if (now_us() - start > 60 * 1000000)
			break;
	}
	pthread_join(thr, NULL);
	TH_LOG("%s%u-descriptor chains, one more every %lld us: %u posted over %lld ms; %u SET_VRING_CALL on RX, slowest %lld ms; RX queue %s",
	       test_dev_is_vhx() ? "" : "reference: ", m, (long long)gap_us,
	       b.count, (long long)(now_us() - start) / 1000, calls,
	       (long long)*worst / 1000,
	       vhxg_vq_wait_err(e.rx, 0) == 1 ? "stopped (ERR)" : "running");
	/* The sibling queue on the same worker still moves. */
	net_tx_check(_metadata, &e, 100, 0x2e0);
	net_teardown(&e);
}

/*
 * Bound: a fixed device holds the queue for one weight's worth of
 * descriptors (16384 reads, a few ms under TCG) between ioctls.  Under
 * TCG the slowest ioctl was 20-64 ms with the fixes and 500-800 ms
 * without (uncounted retries); 250 ms lies between with room both ways.  16 descriptors per chain keep a
 * gather under vhx's per-packet descriptor bound (the weight is what
 * stops it); 64 go past it on the way (the bound is what stops it).
 */
#define RETRY_BOUND_MS	250

TEST(rx_retry_weight)
{
	int64_t w16, w64;

	rx_retry_run(_metadata, 16, 1500, &w16);
	rx_retry_run(_metadata, 64, 3000, &w64);
	if (!test_dev_is_vhx() && (w16 >= RETRY_BOUND_MS * 1000 ||
				 w64 >= RETRY_BOUND_MS * 1000))
		SKIP(return, "upstream lets one RX run re-walk the ring per retry (%lld ms)",
			     (long long)(w16 > w64 ? w16 : w64) / 1000);
	ASSERT_TRUE(w16 < RETRY_BOUND_MS * 1000 && w64 < RETRY_BOUND_MS * 1000)
		TH_LOG("an RX ioctl waited %lld / %lld ms behind RX retries",
		       (long long)w16 / 1000, (long long)w64 / 1000);
}

/* ---- #4: busy loop clamped and interruptible ----------------------------- */

/* One frame for RX to find with no buffers: it busy-polls for them. */
static void rx_start_polling(struct __test_metadata *_metadata,
			     struct net_env *e, uint32_t seed)
{
	frame_build(frame, 200, NULL, seed);
	ASSERT_LE(0, pkt_send(e->pkt_fd, frame, 200, NULL));
	/* With the tap poll disarmed, a kick is what wakes RX. */
	ASSERT_LE(0, vhxg_vq_kick_force(e->rx));
	usleep(2000);
}

/* vhx's bound on busy loops (module parameter), 10000 us by default. */
static unsigned int busyloop_max(void)
{
	unsigned int max = 10000;
	FILE *f = fopen("/sys/module/vhx/parameters/busyloop_max_us", "r");

	if (f) {
		if (fscanf(f, "%u", &max) != 1)
			max = 10000;
		fclose(f);
	}
	return max;
}

TEST(busyloop_clamped)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	unsigned int got_us, q;
	struct net_env e;

	ASSERT_LE(0, net_setup(&e, &cfg));
	for (q = RXQ; q <= TXQ; q++) {
		ASSERT_LE(0, set_busyloop(&e, q, 0xffffffff));
		ASSERT_LE(0, get_busyloop(&e, q, &got_us));
		TH_LOG("%squeue %u: busyloop 0xffffffff reads back %u us",
		       test_dev_is_vhx() ? "" : "reference: ", q, got_us);
		if (!test_dev_is_vhx())
			SKIP(return, "upstream keeps any busy-loop timeout (%u us)",
				     got_us);
		ASSERT_TRUE(got_us <= busyloop_max())
			TH_LOG("busyloop reads back %u us (bound %u)", got_us,
			       busyloop_max());
		/* Small values stay as they are. */
		ASSERT_LE(0, set_busyloop(&e, q, 50));
		ASSERT_LE(0, get_busyloop(&e, q, &got_us));
		ASSERT_TRUE(got_us == 50)
			TH_LOG("busyloop 50 reads back %u", got_us);
	}
}

/*
 * A TX handler that polls the ring sends the frames it took before it
 * polls, not when the window runs out: with a 10 ms busy loop, frames
 * posted one after another each leave the tap within a few ms.  (Upstream
 * flushes its batch before it busy-polls too.)
 */
#define TX_POLL_FRAMES	5

TEST(tx_sent_before_polling)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	int64_t t[TX_POLL_FRAMES], v;
	struct net_env e;
	unsigned int i, j;

	ASSERT_LE(0, net_setup(&e, &cfg));
	ASSERT_LE(0, set_busyloop(&e, TXQ, 10000));
	pin_apart();
	for (i = 0; i < TX_POLL_FRAMES; i++) {
		frame_build(frame, 100, NULL, 0x4800 + i);
		v = now_us();
		ASSERT_LE(0, net_tx(&e, frame, 100, NULL, 1, 0));
		net_expect_frame(_metadata, &e, frame, 100);
		v = now_us() - v;
		ASSERT_LE(0, net_tx_reap(&e, 1));
		for (j = i; j > 0 && t[j - 1] > v; j--)
			t[j] = t[j - 1];
		t[j] = v;
	}
	net_teardown(&e);
	TH_LOG("%sTX under a 10 ms busy loop: %d frames out in %lld..%lld us, median %lld us",
	       test_dev_is_vhx() ? "" : "reference: ", TX_POLL_FRAMES,
	       (long long)t[0], (long long)t[TX_POLL_FRAMES - 1],
	       (long long)t[TX_POLL_FRAMES / 2]);
	ASSERT_TRUE(t[TX_POLL_FRAMES / 2] < 5000)
		TH_LOG("a frame left the tap %lld us after its kick (median)",
		       (long long)t[TX_POLL_FRAMES / 2]);
}

/*
 * The longest busy loop a VMM can ask for must not hold the worker or
 * the queue: the sibling queue's traffic and the ioctls that wait for the
 * polling queue go through within a bound.  Not run against upstream,
 * which would poll for the 71 minutes asked (no work queued breaks it).
 */
TEST(busyloop_yields)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	int64_t t, worst = 0;
	struct net_env e;
	unsigned int i;

	if (!test_dev_is_vhx())
		SKIP(return, "upstream busy-polls for as long as asked");
	ASSERT_LE(0, net_setup(&e, &cfg));
	ASSERT_LE(0, set_busyloop(&e, RXQ, 0xffffffff));
	ASSERT_LE(0, set_busyloop(&e, TXQ, 0));
	pin_apart();

	/* TX keeps flowing while RX busy-polls. */
	rx_start_polling(_metadata, &e, 0x4000);
	for (i = 0; i < 10; i++) {
		ASSERT_LE(0, vhxg_vq_kick_force(e.rx));
		t = now_us();
		frame_build(frame, 100, NULL, 0x4100 + i);
		ASSERT_LE(0, net_tx(&e, frame, 100, NULL, 1, 0));
		net_expect_frame(_metadata, &e, frame, 100);
		t = now_us() - t;
		if (t > worst)
			worst = t;
		ASSERT_LE(0, net_tx_reap(&e, 1));
	}
	TH_LOG("TX next to a busy-polling RX: slowest frame %lld ms",
	       (long long)worst / 1000);
	ASSERT_TRUE(worst < IOCTL_BOUND_MS * 1000)
		TH_LOG("TX frame took %lld ms",
		       (long long)worst / 1000);

	rx_start_polling(_metadata, &e, 0x4200);
	t = now_us();
	ASSERT_LE(0, vhxg_set_mem_identity(&e.dev));
	t = now_us() - t;
	TH_LOG("SET_MEM_TABLE while RX busy-polls: %lld ms",
	       (long long)t / 1000);
	ASSERT_TRUE(t < IOCTL_BOUND_MS * 1000)
		TH_LOG("SET_MEM_TABLE took %lld ms",
		       (long long)t / 1000);

	rx_start_polling(_metadata, &e, 0x4300);
	t = now_us();
	ASSERT_LE(0, vhxg_net_set_backend(&e.dev, RXQ, -1));
	t = now_us() - t;
	TH_LOG("SET_BACKEND while RX busy-polls: %lld ms",
	       (long long)t / 1000);
	ASSERT_TRUE(t < IOCTL_BOUND_MS * 1000)
		TH_LOG("SET_BACKEND took %lld ms",
		       (long long)t / 1000);
	ASSERT_LE(0, vhxg_net_set_backend(&e.dev, RXQ, e.tap_fd));

	rx_start_polling(_metadata, &e, 0x4400);
	t = now_us();
	close(e.dev.fd);
	e.dev.fd = -1;
	t = now_us() - t;
	TH_LOG("close while RX busy-polls: %lld ms", (long long)t / 1000);
	ASSERT_TRUE(t < IOCTL_BOUND_MS * 1000)
		TH_LOG("close took %lld ms",
		       (long long)t / 1000);
}

/* ---- #9: no wakeup per packet while the guest has no RX buffers ---------- */

TEST(rx_poll_disarmed)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	const unsigned int frames = 2000;
	long long before, after;
	struct net_env e;
	unsigned int i;
	pid_t w;
	ssize_t n;

	ASSERT_LE(0, net_setup(&e, &cfg));
	w = find_worker();
	ASSERT_TRUE(w > 0)
		TH_LOG("no worker thread found for pid %d", getpid());
	/* One packet and one RX run first: the device has seen the drought. */
	frame_build(frame, 100, NULL, 0x9000);
	ASSERT_LE(0, pkt_send(e.pkt_fd, frame, 100, NULL));
	usleep(100000);
	before = run_count(w);
	ASSERT_TRUE(before >= 0)
		TH_LOG("no schedstat for %d", w);
	for (i = 1; i <= frames; i++) {
		frame_build(frame, 100, NULL, 0x9000 + i);
		ASSERT_LE(0, pkt_send(e.pkt_fd, frame, 100, NULL));
	}
	usleep(200000);
	after = run_count(w);
	TH_LOG("%s%u frames with no RX buffers: worker %d ran %lld times",
	       test_dev_is_vhx() ? "" : "reference: ", frames, w,
	       after - before);
	/* The guest's kick re-arms: the waiting frames are delivered. */
	ASSERT_LE(0, net_rx_post(&e, 16, 2048, 1, 0));
	ASSERT_LE(0, vhxg_vq_kick_force(e.rx));
	n = net_rx_get(&e, got, sizeof(got), NULL, WAIT_MS);
	ASSERT_TRUE(n == 100)
		TH_LOG("RX after the drought: %zd", n);
	if (test_dev_is_vhx()) {
		ASSERT_TRUE(after - before < 50)
			TH_LOG("worker woke %lld times for %u frames",
			       after - before, frames);
	}
}

/* ---- #10: SET_MEM_TABLE keeps the device's own used index ---------------- */

TEST(mem_table_keeps_used_idx)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	struct vhxg_vq *tx;
	struct net_env e;
	uint16_t truth, now;
	unsigned int i;
	int64_t end;
	int head;

	ASSERT_LE(0, net_setup(&e, &cfg));
	tx = e.tx;
	for (i = 0; i < 3; i++)
		net_tx_check(_metadata, &e, 100, 0xa000 + i);
	truth = tx->used->idx;
	ASSERT_TRUE(truth == 3)
		TH_LOG("used idx %u after 3 frames", truth);
	/* The guest scribbles; a table update must not take it as truth. */
	__atomic_store_n(&tx->used->idx, truth + 100, __ATOMIC_RELEASE);
	ASSERT_LE(0, vhxg_set_mem_identity(&e.dev));
	head = tx->free_head;
	frame_build(frame, 100, NULL, 0xa100);
	ASSERT_LE(0, net_tx(&e, frame, 100, NULL, 1, 0));
	net_expect_frame(_metadata, &e, frame, 100);
	end = now_us() + WAIT_MS * 1000;
	do {
		now = __atomic_load_n(&tx->used->idx, __ATOMIC_ACQUIRE);
		if (now != (uint16_t)(truth + 100))
			break;
		usleep(1000);
	} while (now_us() < end);
	ASSERT_TRUE(now == truth + 1)
		TH_LOG("used idx %u after SET_MEM_TABLE, want %u (scribbled %u)",
		       now, truth + 1, truth + 100);
	ASSERT_TRUE(tx->used->ring[truth & (tx->num - 1)].id == (uint32_t)head)
		TH_LOG("used entry %u has id %u, want %d", truth,
		       tx->used->ring[truth & (tx->num - 1)].id, head);
}

/* ---- #11: num_buffers = 1 for VERSION_1 without MRG_RXBUF ---------------- */

static void num_buffers_one(struct __test_metadata *_metadata,
			    enum hdr_mode hdr)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = hdr };
	struct vhxg_buf b;
	struct vhxg_used u;
	struct net_env e;
	uint16_t nb;
	int head;

	ASSERT_LE(0, net_setup(&e, &cfg));
	ASSERT_TRUE(e.hdr_len == 12)
		TH_LOG("header %zu bytes", e.hdr_len);
	b.len = 2048;
	b.addr = vhxg_alloc(e.arena, b.len, 64);
	ASSERT_TRUE(b.addr)
		TH_LOG("arena full");
	memset(b.addr, 0xff, b.len);
	head = vhxg_vq_add(e.rx, NULL, 0, &b, 1, 0);
	ASSERT_LE(0, head);
	vhxg_vq_publish(e.rx);
	ASSERT_LE(0, vhxg_vq_kick_force(e.rx));
	frame_build(frame, 300, NULL, 0xb000 + hdr);
	ASSERT_LE(0, pkt_send(e.pkt_fd, frame, 300, NULL));
	ASSERT_TRUE(vhxg_vq_wait_used(e.rx, WAIT_MS) == 1)
		TH_LOG("no RX frame");
	vhxg_vq_reap(e.rx, &u, 1);
	ASSERT_TRUE(u.id == (uint32_t)head && u.len == 12 + 300)
		TH_LOG("used id %u len %u", u.id, u.len);
	ASSERT_TRUE(bytes_equal((uint8_t *)b.addr + 12, frame, 300, "RX frame"))
		TH_LOG("frame");
	memcpy(&nb, (uint8_t *)b.addr + 10, 2);
	TH_LOG("%s%s header: num_buffers %#x",
	       test_dev_is_vhx() ? "" : "reference: ",
	       hdr == HDR_TAP ? "tap" : "vhost", nb);
	if (!test_dev_is_vhx() && nb != 1)
		SKIP(return, "upstream leaves num_buffers %#x without MRG_RXBUF",
			     nb);
	ASSERT_TRUE(nb == 1)
		TH_LOG("num_buffers %#x, want 1", nb);
}

TEST(num_buffers_v1_tap_hdr)
{
	num_buffers_one(_metadata, HDR_TAP);
}

TEST(num_buffers_v1_vhost_hdr)
{
	num_buffers_one(_metadata, HDR_VHOST);
}

/* ---- #13: RESET_OWNER forgets the header sizes --------------------------- */

TEST(reset_owner_hdr_len)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_VHOST };
	struct net_env e;
	unsigned int num;

	/* The tap has no vnet header; the device strips 12 bytes. */
	ASSERT_LE(0, net_setup(&e, &cfg));
	net_tx_check(_metadata, &e, 100, 0xd000);
	num = e.tx->num;
	ASSERT_LE(0, vhxg_reset_owner(&e.dev));
	vhxg_vq_fini(e.rx);
	vhxg_vq_fini(e.tx);
	/* Fresh setup without SET_FEATURES: features 0, no header at all. */
	e.dev.features = 0;
	e.hdr_len = 0;
	ASSERT_LE(0, vhxg_set_owner(&e.dev));
	ASSERT_LE(0, vhxg_set_mem_identity(&e.dev));
	ASSERT_LE(0, vhxg_vq_setup(&e.dev, RXQ, num));
	ASSERT_LE(0, vhxg_vq_setup(&e.dev, TXQ, num));
	ASSERT_LE(0, net_attach(&e, e.tap_fd));
	frame_build(frame, 100, NULL, 0xd001);
	ASSERT_LE(0, net_tx(&e, frame, 100, NULL, 1, 0));
	net_expect_frame(_metadata, &e, frame, 100);
	ASSERT_LE(0, net_tx_reap(&e, 1));
}

/* ---- flood: one guest's tiny frames do not starve another device --------- */

struct flooder {
	struct net_env *e;
	uint8_t *runt;
	volatile int stop;
	unsigned long posted;
};

/* Re-post the smallest frames (a bare Ethernet header) as fast as used. */
static void *flood_fn(void *arg)
{
	struct flooder *f = arg;
	struct vhxg_vq *tx = f->e->tx;
	struct vhxg_buf b = { f->runt, f->e->hdr_len + ETH_HLEN_ };

	while (!f->stop) {
		vhxg_vq_reap(tx, NULL, tx->num);
		while (tx->num_free && vhxg_vq_add(tx, &b, 1, NULL, 0, 0) >= 0)
			f->posted++;
		vhxg_vq_publish(tx);
		vhxg_vq_kick(tx);
		sched_yield();
	}
	return NULL;
}

/* Frames per second @e moves for @ms: post 32 at a time, reap. */
static int tx_rate(struct net_env *e, int ms, double *rate)
{
	struct vhxg_buf b;
	int64_t start = now_us(), end = start + ms * 1000LL;
	unsigned long done = 0;
	unsigned int i;
	uint8_t *buf;

	buf = vhxg_alloc(e->arena, e->hdr_len + 60, 64);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0, e->hdr_len);
	frame_build(buf + e->hdr_len, 60, NULL, 0xf00);
	b.addr = buf;
	b.len = e->hdr_len + 60;
	while (now_us() < end) {
		for (i = 0; i < 32; i++)
			if (vhxg_vq_add(e->tx, &b, 1, NULL, 0, 0) < 0)
				break;
		vhxg_vq_publish(e->tx);
		vhxg_vq_kick(e->tx);
		if (vhxg_vq_wait_used(e->tx, WAIT_MS) <= 0)
			return -ETIMEDOUT;
		done += vhxg_vq_reap(e->tx, NULL, e->tx->num);
	}
	*rate = done * 1e6 / (now_us() - start);
	return 0;
}

TEST(flood_fairness)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP,
			       .num = 256 };
	struct net_env a, v;
	struct flooder f = { .e = &a };
	double alone, flooded;
	int64_t t, worst = 0;
	unsigned int i;
	pthread_t thr;

	ASSERT_LE(0, net_setup(&a, &cfg));
	ASSERT_LE(0, net_setup(&v, &cfg));
	/* Nobody reads what leaves the taps. */
	close(a.pkt_fd);
	close(v.pkt_fd);
	a.pkt_fd = v.pkt_fd = -1;
	f.runt = vhxg_alloc(a.arena, 64, 64);
	ASSERT_TRUE(f.runt)
		TH_LOG("arena full");
	memset(f.runt, 0, 64);
	frame_build(f.runt + a.hdr_len, ETH_HLEN_, NULL, 0);

	ASSERT_LE(0, tx_rate(&v, 1000, &alone));
	ASSERT_TRUE(!pthread_create(&thr, NULL, flood_fn, &f))
		TH_LOG("pthread_create");
	usleep(100000);
	ASSERT_LE(0, tx_rate(&v, 1000, &flooded));
	for (i = 0; i < 10; i++) {
		t = now_us();
		ASSERT_LE(0, vhxg_set_vring_fd(&a.dev, VHOST_SET_VRING_CALL,
					       TXQ,
					       a.tx->call_fd));
		t = now_us() - t;
		if (t > worst)
			worst = t;
		usleep(10000);
	}
	f.stop = 1;
	pthread_join(thr, NULL);
	TH_LOG("%svictim TX %.0f frames/s alone, %.0f flooded (%.0f%%); %lu tiny frames posted; flooded device's slowest SET_VRING_CALL %lld ms",
	       test_dev_is_vhx() ? "" : "reference: ", alone, flooded,
	       100 * flooded / alone, f.posted, (long long)worst / 1000);
	/*
	 * The rate bound is vhx's promise (weights); upstream's share is a
	 * figure to compare with (27% to 124% seen under TCG).
	 */
	if (test_dev_is_vhx()) {
		ASSERT_TRUE(flooded >= 0.3 * alone)
			TH_LOG("victim at %.0f%% of its rate alone",
			       100 * flooded / alone);
	}
	ASSERT_TRUE(worst < IOCTL_BOUND_MS * 1000)
		TH_LOG("SET_VRING_CALL on the flooded device took %lld ms",
		       (long long)worst / 1000);
}

/* ---- a packet's buffers are used together (virtio 5.1.6.4) --------------- */

#define WP_FRAMES	70	/* of 1400 bytes: 3 buffers of 512 each */

struct used_watch {
	struct vhxg_vq *vq;
	volatile int stop;
	uint16_t seen[4096];
	unsigned int nseen;
};

/* Every used->idx value the device published, as a driver polling sees. */
static void *watch_used(void *arg)
{
	struct used_watch *w = arg;
	uint16_t last = 0, idx;

	while (!w->stop && w->nseen < ARRAY_SIZE(w->seen)) {
		idx = __atomic_load_n(&w->vq->used->idx, __ATOMIC_ACQUIRE);
		if (idx != last)
			w->seen[w->nseen++] = last = idx;
	}
	return NULL;
}

/*
 * Mergeable RX buffers of 512 bytes, frames that take three, all waiting
 * in the tap before the buffers are posted, so that one handler run takes
 * them all: the device gathers used entries in batches of 64, which no
 * whole number of these packets fills.  Each used->idx a polling driver
 * sees must end a packet (the sum of num_buffers so far), never fall
 * inside one.
 */
TEST(rx_whole_packets)
{
	struct net_cfg cfg = { .features = BASE_FEATURES |
					   F(VIRTIO_NET_F_MRG_RXBUF),
			       .hdr = HDR_TAP };
	static struct used_watch w;
	static bool boundary[1 << 16];
	unsigned int i, pos, bad = 0;
	struct net_env e;
	pthread_t thr;
	uint16_t end;

	ASSERT_LE(0, net_setup(&e, &cfg));
	for (i = 0; i < WP_FRAMES; i++) {
		frame_build(frame, 1400, NULL, 0x9200 + i);
		ASSERT_LE(0, pkt_send(e.pkt_fd, frame, 1400, NULL));
	}
	memset(&w, 0, sizeof(w));
	w.vq = e.rx;
	ASSERT_TRUE(!pthread_create(&thr, NULL, watch_used, &w))
		TH_LOG("pthread");
	ASSERT_LE(0, net_rx_post(&e, 3 * WP_FRAMES + 6, 512, 1, 0));
	ASSERT_LE(0, vhxg_vq_kick_force(e.rx));
	for (i = 0; i < 500 && e.rx->used->idx < 3 * WP_FRAMES; i++)
		usleep(10000);
	w.stop = 1;
	pthread_join(thr, NULL);
	end = e.rx->used->idx;
	memset(boundary, 0, sizeof(boundary));
	boundary[0] = true;
	for (pos = 0; pos < end;) {
		uint32_t id = e.rx->used->ring[pos % e.rx->num].id;
		struct virtio_net_hdr_mrg_rxbuf *h;

		ASSERT_TRUE(id < e.rx->num)
			TH_LOG("used id %u", id);
		h = (void *)e.rx_slots[id].base;
		ASSERT_TRUE(h->num_buffers)
			TH_LOG("num_buffers 0 at used %u", pos);
		pos += h->num_buffers;
		boundary[pos & 0xffff] = true;
	}
	for (i = 0; i < w.nseen; i++)
		bad += !boundary[w.seen[i]];
	TH_LOG("%s%u used entries for %u frames, %u used->idx values seen, %u inside a packet",
	       test_dev_is_vhx() ? "" : "reference: ", end, WP_FRAMES,
	       w.nseen, bad);
	ASSERT_TRUE(end == 3 * WP_FRAMES)
		TH_LOG("%u used entries, want %u", end,
		       3 * WP_FRAMES);
	ASSERT_TRUE(!bad)
		TH_LOG("%u published used->idx values fall inside a packet",
		       bad);
}

/* ---- adaptive polling --------------------------------------------------- */

#define POLL_FRAMES	200

/*
 * Kicks the second half of POLL_FRAMES frames took, each posted as soon
 * as the previous one was used (a guest that answers at once).
 */
static void kicks_one_by_one(struct __test_metadata *_metadata,
			     unsigned long window_ns, uint64_t *kicks)
{
	struct net_cfg cfg = { .features = BASE_FEATURES, .hdr = HDR_TAP };
	struct net_env e;
	uint64_t k0 = 0;
	unsigned int i;

	ASSERT_LE(0, vhx_param_set("poll_max_ns", window_ns));
	ASSERT_LE(0, net_setup(&e, &cfg));
	close(e.pkt_fd);	/* nobody reads what leaves the tap */
	e.pkt_fd = -1;
	for (i = 0; i < POLL_FRAMES; i++) {
		if (i == POLL_FRAMES / 2)
			k0 = e.tx->kicks;
		frame_build(frame, 100, NULL, 0x9100 + i);
		ASSERT_LE(0, net_tx(&e, frame, 100, NULL, 1, 0));
		ASSERT_LE(0, net_tx_reap(&e, 1));
	}
	*kicks = e.tx->kicks - k0;
	net_teardown(&e);
}

/*
 * A guest that posts its next frame right after each completion is seen
 * by a polling device without a kick, once the window has grown to the
 * guest's round trip (under TCG far longer than on a host: the test asks
 * for up to 50 ms).  With the window at 0 every frame takes a kick: the
 * control that shows the count can tell.
 */
/* poll_max_ns as it was before the test, whatever the test did. */
FIXTURE(polling) {
	unsigned long saved;
};

FIXTURE_SETUP(polling)
{
	if (!test_dev_is_vhx())
		SKIP(return, "poll_max_ns is vhx's");
	ASSERT_LE(0, vhx_param_get("poll_max_ns", &self->saved));
}

FIXTURE_TEARDOWN_PARENT(polling)
{
	EXPECT_LE(0, vhx_param_set("poll_max_ns", self->saved));
}

TEST_F(polling, saves_kicks)
{
	uint64_t off, on;

	kicks_one_by_one(_metadata, 0, &off);
	kicks_one_by_one(_metadata, 50000000, &on);
	TH_LOG("%u frames one by one: %llu kicks without polling, %llu with",
	       POLL_FRAMES / 2, (unsigned long long)off,
	       (unsigned long long)on);
	ASSERT_TRUE(off >= POLL_FRAMES / 2 * 9 / 10)
		TH_LOG("control: only %llu kicks without polling",
		       (unsigned long long)off);
	ASSERT_TRUE(on <= POLL_FRAMES / 2 / 4)
		TH_LOG("%llu kicks while polling",
		       (unsigned long long)on);
}


VHX_TEST_MAIN("/dev/vhx-net")
