// SPDX-License-Identifier: GPL-2.0
/*
 * vhx-netgen: a guest-less packet generator for vhost-net devices.  The
 * process is the guest: it keeps a TX ring full of frames (tx mode), or an
 * RX ring full of buffers while pktgen floods the tap (rx mode), and counts
 * what the device completes.  The same program drives /dev/vhx-net and
 * upstream /dev/vhost-net, so the two can be compared side by side.
 *
 * Output is one line of key=value pairs.  CPU time per packet comes from
 * schedstat, for the device's workers (vhx-net-PID.N or vhost-PID), the
 * driver (this process's other threads) and pktgen (rx mode).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "benchutil.h"
#include "vhxg.h"
#include "netutil.h"

#define MAX_QUEUES	8
#define TX_Q		1
#define RX_Q		0

struct opts {
	const char *dev;
	bool rx;
	unsigned int size;
	bool gso;
	unsigned int queues;
	unsigned int seconds;
	unsigned int ring;
};

struct queue {
	struct opts *o;
	struct vhxg_arena arena;
	struct vhxg_dev dev;
	int tap;
	void **bufs;
	unsigned int buf_len;
	unsigned long long pkts;
	unsigned long long bytes;
	int err;
};

static volatile int running = 1;
static char ifname[IFNAMSIZ];

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vhx-netgen [--dev PATH] [--mode tx|rx] [--size BYTES] [--gso]\n"
		"                  [--queues N] [--seconds S] [--ring N]\n"
		"  --dev      vhost-net device node (default /dev/vhx-net)\n"
		"  --mode     tx: frames from the ring into the tap;\n"
		"             rx: pktgen frames from the tap into the ring\n"
		"  --size     frame size without vnet header (default 64)\n"
		"  --gso      tx 64 KiB TCPv4 GSO frames (ignores --size)\n"
		"  --queues   queue pairs, one device open each (default 1, max %d)\n"
		"  --seconds  measuring time (default 5)\n"
		"  --ring     ring size (default 256)\n", MAX_QUEUES);
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "dev", required_argument, 0, 'd' },
		{ "mode", required_argument, 0, 'm' },
		{ "size", required_argument, 0, 's' },
		{ "gso", no_argument, 0, 'g' },
		{ "queues", required_argument, 0, 'q' },
		{ "seconds", required_argument, 0, 't' },
		{ "ring", required_argument, 0, 'r' },
		{ "help", no_argument, 0, 'h' },
		{ 0 }
	};
	int c;

	*o = (struct opts){ "/dev/vhx-net", false, 64, false, 1, 5, 256 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->dev = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "tx") && strcmp(optarg, "rx"))
				goto bad;
			o->rx = !strcmp(optarg, "rx");
			break;
		case 's':
			if (bench_parse_uint(optarg, 60, 65000, &o->size))
				goto bad;
			break;
		case 'g':
			o->gso = true;
			break;
		case 'q':
			if (bench_parse_uint(optarg, 1, MAX_QUEUES, &o->queues))
				goto bad;
			break;
		case 't':
			if (bench_parse_uint(optarg, 1, 3600, &o->seconds))
				goto bad;
			break;
		case 'r':
			if (bench_parse_uint(optarg, 16, 32768, &o->ring) ||
			    (o->ring & (o->ring - 1)))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind == argc && !(o->rx && o->gso))
		return 0;
bad:
	fprintf(stderr, "vhx-netgen: bad arguments\n");
	usage(stderr);
	return -1;
}

/* A frame of len bytes after a 12-byte vnet header, GSO if asked. */
static void fill_tx_buf(struct opts *o, void *buf, unsigned int len)
{
	struct virtio_net_hdr_mrg_rxbuf *h = buf;
	unsigned char *f = (unsigned char *)buf + sizeof(*h);

	memset(h, 0, sizeof(*h));
	frame_build(f, len, test_dst_mac, len);
	if (!o->gso)
		return;
	/* Ethernet + IPv4 + TCP, checksum left to the host's offload. */
	f[12] = 0x08;
	f[13] = 0x00;
	memset(f + 14, 0, 40);
	f[14] = 0x45;
	f[14 + 2] = (len - 14) >> 8;
	f[14 + 3] = (len - 14) & 0xff;
	f[14 + 8] = 64;
	f[14 + 9] = 6;
	f[14 + 12] = 10, f[14 + 15] = 1;
	f[14 + 16] = 10, f[14 + 19] = 2;
	f[34 + 12] = 5 << 4;
	h->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h->hdr.gso_size = 1448;
	h->hdr.hdr_len = 54;
	h->hdr.csum_start = 34;
	h->hdr.csum_offset = 16;
}

static int open_queue(struct queue *q, unsigned int i)
{
	struct opts *o = q->o;
	uint64_t features = (1ULL << VIRTIO_F_VERSION_1) |
			    (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			    (1ULL << VIRTIO_NET_F_MRG_RXBUF);
	unsigned int vq = o->rx ? RX_Q : TX_Q, n;
	int flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	int ret;

	if (o->queues > 1)
		flags |= IFF_MULTI_QUEUE;
	q->tap = tap_open(ifname, i ? ifname : "vhxgen%d", flags);
	if (q->tap < 0)
		return q->tap;
	if (tap_set_hdr_sz(q->tap, 12) ||
	    tap_set_offload(q->tap, TUN_F_CSUM | TUN_F_TSO4))
		return -errno;
	q->buf_len = o->gso ? 65536 : (o->rx ? 2048 : o->size + 12);
	ret = vhxg_arena_init(&q->arena, (size_t)o->ring * q->buf_len +
			      (4 << 20));
	if (!ret)
		ret = vhxg_open(&q->dev, o->dev, &q->arena);
	if (!ret)
		ret = vhxg_set_owner(&q->dev);
	if (!ret)
		ret = vhxg_set_features(&q->dev, features);
	if (!ret)
		ret = vhxg_set_mem_identity(&q->dev);
	if (!ret)
		ret = vhxg_vq_setup(&q->dev, vq, o->ring);
	if (ret)
		return ret;
	q->bufs = calloc(o->ring, sizeof(*q->bufs));
	if (!q->bufs)
		return -ENOMEM;
	for (n = 0; n < o->ring; n++) {
		q->bufs[n] = vhxg_alloc(&q->arena, q->buf_len, 64);
		if (!q->bufs[n])
			return -ENOMEM;
		if (!o->rx)
			fill_tx_buf(o, q->bufs[n], q->buf_len - 12);
	}
	return vhxg_net_set_backend(&q->dev, vq, q->tap);
}

/* Post every free descriptor: a frame (tx) or an empty buffer (rx). */
static int refill(struct queue *q, struct vhxg_vq *vq)
{
	struct vhxg_buf b;
	int head, n = 0;

	while (vq->num_free) {
		head = vq->free_head;
		b.addr = q->bufs[head];
		b.len = q->buf_len;
		if (q->o->rx)
			head = vhxg_vq_add(vq, NULL, 0, &b, 1, 0);
		else
			head = vhxg_vq_add(vq, &b, 1, NULL, 0, 0);
		if (head < 0)
			return head;
		n++;
	}
	if (n) {
		vhxg_vq_publish(vq);
		if (vhxg_vq_kick(vq) < 0)
			return -EIO;
	}
	return 0;
}

/* Kicks sent and calls received on every queue so far. */
static void count_notifies(struct queue *q, unsigned int n,
			   unsigned long long *kicks,
			   unsigned long long *calls)
{
	unsigned int i;

	*kicks = *calls = 0;
	for (i = 0; i < n; i++) {
		struct vhxg_vq *vq = &q[i].dev.vqs[q[i].o->rx ? RX_Q : TX_Q];

		*kicks += __atomic_load_n(&vq->kicks, __ATOMIC_RELAXED);
		*calls += __atomic_load_n(&vq->calls, __ATOMIC_RELAXED);
	}
}

/* Handler runs of the measured queues; false on upstream vhost-net. */
static bool count_runs(struct queue *q, unsigned int n, uint64_t *runs)
{
	unsigned int i;

	*runs = 0;
	for (i = 0; i < n; i++)
		if (!bench_vring_runs(q[i].dev.fd, q[i].o->rx ? RX_Q : TX_Q,
				      runs))
			return false;
	return true;
}

/* Keep the ring full and count completions until told to stop. */
static void *run_queue(void *arg)
{
	struct queue *q = arg;
	struct vhxg_vq *vq = &q->dev.vqs[q->o->rx ? RX_Q : TX_Q];
	struct vhxg_used used[256];
	int n, i;

	while (running) {
		q->err = refill(q, vq);
		if (q->err)
			break;
		/* Ask for a call once half the ring has been used. */
		vhxg_vq_set_used_event(vq, vq->last_used + q->o->ring / 2);
		if (!vhxg_vq_pending(vq) && vhxg_vq_wait_call(vq, 20) < 0) {
			q->err = -EIO;
			break;
		}
		while ((n = vhxg_vq_reap(vq, used, 256)) > 0) {
			q->pkts += n;
			for (i = 0; i < n; i++)
				q->bytes += q->o->rx ? used[i].len - 12 :
					    q->buf_len - 12;
		}
	}
	return NULL;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static void *pktgen_start(void *arg)
{
	(void)arg;
	/* Blocks until "stop" is written. */
	write_file("/proc/net/pktgen/pgctrl", "start\n");
	return NULL;
}

static int pktgen_setup(struct opts *o)
{
	char path[96], cmd[64];
	const char *cmds[] = { "count 0\n", "delay 0\n", "clone_skb 0\n",
			       "dst_mac 02:00:00:00:00:02\n",
			       "dst 10.0.0.2\n", "flag QUEUE_MAP_RND\n" };
	unsigned int i;

	if (run_cmd("modprobe pktgen"))
		return -ENOENT;
	write_file("/proc/net/pktgen/kpktgend_0", "rem_device_all\n");
	snprintf(cmd, sizeof(cmd), "add_device %s\n", ifname);
	if (write_file("/proc/net/pktgen/kpktgend_0", cmd))
		return -EIO;
	snprintf(path, sizeof(path), "/proc/net/pktgen/%s", ifname);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (write_file(path, cmds[i]))
			return -EIO;
	snprintf(cmd, sizeof(cmd), "pkt_size %u\n", o->size);
	if (write_file(path, cmd))
		return -EIO;
	snprintf(cmd, sizeof(cmd), "queue_map_max %u\n", o->queues - 1);
	return write_file(path, cmd);
}

/*
 * CPU time over the run, in ns, of every thread involved, by role: the
 * device's workers (vhx-net-PID.N, a kthread or a thread of ours, or
 * upstream's vhost-PID), the driver (our other threads) and, in rx mode,
 * pktgen's kernel thread.  schedstat's first field is the thread's exact
 * runtime; utime and stime are 4 ms ticks.
 */
int main(int argc, char **argv)
{
	unsigned long long pkts = 0, bytes = 0, p0 = 0, b0 = 0;
	unsigned long long k0, k1, n0, n1;
	uint64_t r0, r1;
	bool runs_ok;
	struct queue q[MAX_QUEUES] = {};
	pthread_t th[MAX_QUEUES], gen;
	struct bench_cpu c0, c1;
	int cpu_ok;
	double t0, t1, warm = 1;
	struct opts o;
	unsigned int i;
	int ret;

	if (parse(argc, argv, &o))
		return 2;
	if (o.gso)
		o.size = 65536 - 12;
	for (i = 0; i < o.queues; i++) {
		q[i].o = &o;
		ret = open_queue(&q[i], i);
		if (ret) {
			fprintf(stderr, "vhx-netgen: queue %u setup on %s: %s\n",
				i, o.dev, strerror(-ret));
			return 1;
		}
	}
	if (netif_prepare(ifname) || netif_up(ifname)) {
		fprintf(stderr, "vhx-netgen: cannot bring %s up\n", ifname);
		return 1;
	}
	if (o.rx && pktgen_setup(&o)) {
		fprintf(stderr, "vhx-netgen: pktgen setup failed\n");
		return 1;
	}
	for (i = 0; i < o.queues; i++)
		pthread_create(&th[i], NULL, run_queue, &q[i]);
	if (o.rx)
		pthread_create(&gen, NULL, pktgen_start, NULL);
	/* Let the rings fill and the workers settle before measuring. */
	usleep(warm * 1e6);
	for (i = 0; i < o.queues; i++) {
		p0 += q[i].pkts;
		b0 += q[i].bytes;
	}
	cpu_ok = !bench_cpu_read(&c0, "net");
	count_notifies(q, o.queues, &k0, &n0);
	runs_ok = count_runs(q, o.queues, &r0);
	t0 = bench_now();
	sleep(o.seconds);
	t1 = bench_now();
	count_notifies(q, o.queues, &k1, &n1);
	runs_ok = runs_ok && count_runs(q, o.queues, &r1);
	cpu_ok = cpu_ok && !bench_cpu_read(&c1, "net");
	for (i = 0; i < o.queues; i++) {
		pkts += q[i].pkts;
		bytes += q[i].bytes;
	}
	running = 0;
	if (o.rx)
		write_file("/proc/net/pktgen/pgctrl", "stop\n");
	for (i = 0; i < o.queues; i++) {
		pthread_join(th[i], NULL);
		if (q[i].err) {
			fprintf(stderr, "vhx-netgen: queue %u: %s\n", i,
				strerror(-q[i].err));
			return 1;
		}
	}
	if (o.rx)
		pthread_join(gen, NULL);
	pkts -= p0;
	bytes -= b0;
	printf("dev=%s mode=%s size=%u queues=%u secs=%.2f pkts=%llu pps=%.0f mbps=%.1f",
	       o.dev, o.rx ? "rx" : "tx", o.size, o.queues, t1 - t0, pkts,
	       pkts / (t1 - t0), bytes * 8 / (t1 - t0) / 1e6);
	if (pkts)
		printf(" kicks_per_kpkt=%.1f calls_per_kpkt=%.1f",
		       (k1 - k0) * 1e3 / pkts, (n1 - n0) * 1e3 / pkts);
	if (runs_ok && pkts)
		printf(" runs_per_kpkt=%.1f", (r1 - r0) * 1e3 / pkts);
	if (cpu_ok && pkts)
		printf(" worker_ns_per_pkt=%.0f driver_ns_per_pkt=%.0f gen_ns_per_pkt=%.0f worker_sleeps_per_kpkt=%.1f",
		       (double)(c1.worker - c0.worker) / pkts,
		       (double)(c1.driver - c0.driver) / pkts,
		       (double)(c1.gen - c0.gen) / pkts,
		       (c1.worker_sleeps - c0.worker_sleeps) * 1e3 / pkts);
	printf("\n");
	return pkts ? 0 : 1;
}
