// SPDX-License-Identifier: GPL-2.0
/*
 * blkbench: random reads (or writes) through /dev/vhx-blk with no guest.
 * The process plays the guest driver: one thread per queue keeps --qd
 * requests of --bs bytes in flight at random aligned offsets of the
 * backend and counts completions for --seconds.  Prints IOPS.  With
 * --poll a thread spins on its used ring with calls suppressed, as a
 * virtio-blk poll queue does, instead of waiting for the call.
 *
 *   blkbench --backend PATH [--dev /dev/vhx-blk] [--queues N] [--qd N]
 *            [--bs BYTES] [--seconds S] [--write] [--span BYTES] [--poll]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/virtio_blk.h>

#include "benchutil.h"
#include "vhxg.h"

#define NUM	256
#define F(bit)	(1ULL << (bit))

struct slot {
	struct virtio_blk_outhdr hdr;
	uint8_t status;
};

struct queue {
	struct vhxg_dev *dev;
	unsigned int index;
	struct slot *slots;	/* [NUM] */
	uint8_t *bufs;		/* bs per head */
	uint64_t rng;
	unsigned long done;
	unsigned long errors;
	int err;
};

static unsigned int qd = 32, bs = 4096, seconds = 5;
static uint64_t span_sectors;
static bool do_write, poll_mode;
static volatile bool stop;

/* 1 once entries are used, 0 after 5 s without, < 0 on error. */
static int wait_used(struct vhxg_vq *vq)
{
	double end;
	unsigned int spins = 0;

	if (!poll_mode)
		return vhxg_vq_wait_used(vq, 5000);
	/* No call until the used index is half the ring's index space on. */
	vhxg_vq_set_used_event(vq, vq->last_used + 0x7fff);
	end = bench_now() + 5;
	while (!vhxg_vq_pending(vq)) {
		if (!(++spins & 1023) && bench_now() > end)
			return 0;
		__builtin_ia32_pause();
	}
	return 1;
}

static int post(struct queue *q)
{
	struct vhxg_vq *vq = &q->dev->vqs[q->index];
	unsigned int head = vq->free_head;
	struct slot *s = &q->slots[head];
	struct vhxg_buf hdr = { &s->hdr, sizeof(s->hdr) };
	struct vhxg_buf data = { q->bufs + (size_t)head * bs, bs };
	struct vhxg_buf status = { &s->status, 1 };
	struct vhxg_buf out[2] = { hdr, data }, in[2] = { data, status };
	uint64_t blocks = span_sectors / (bs / 512);

	s->hdr.type = do_write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	s->hdr.ioprio = 0;
	s->hdr.sector = bench_rand(&q->rng) % blocks * (bs / 512);
	s->status = 0xee;
	if (do_write)
		return vhxg_vq_add(vq, out, 2, &status, 1, 0);
	return vhxg_vq_add(vq, &hdr, 1, in, 2, 0);
}

static void *run_queue(void *arg)
{
	struct queue *q = arg;
	struct vhxg_vq *vq = &q->dev->vqs[q->index];
	struct vhxg_used u[NUM];
	unsigned int inflight = 0;
	int n, i, ret;

	while (!stop) {
		while (inflight < qd) {
			ret = post(q);
			if (ret < 0) {
				q->err = ret;
				return NULL;
			}
			inflight++;
		}
		vhxg_vq_publish(vq);
		vhxg_vq_kick(vq);
		ret = wait_used(vq);
		if (ret <= 0) {
			q->err = ret ? ret : -ETIMEDOUT;
			return NULL;
		}
		n = vhxg_vq_reap(vq, u, NUM);
		for (i = 0; i < n; i++)
			q->errors += u[i].id >= NUM ||
				     q->slots[u[i].id].status != VIRTIO_BLK_S_OK;
		q->done += n;
		inflight -= n;
	}
	/* Let what is in flight finish before the device goes. */
	while (inflight && wait_used(vq) > 0)
		inflight -= vhxg_vq_reap(vq, u, NUM);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: blkbench --backend PATH [--dev PATH] [--queues N]\n"
		"                [--qd N] [--bs BYTES] [--seconds S] [--write]\n"
		"                [--span BYTES] [--poll]\n");
	exit(2);
}

static int setup(struct vhxg_dev *d, struct vhxg_arena *a, const char *dev,
		 int backend, unsigned int nq, struct queue *qs)
{
	struct vhx_blk_config cfg;
	uint64_t features = F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) |
			    F(VIRTIO_BLK_F_FLUSH) | F(VIRTIO_BLK_F_MQ);
	unsigned int i;
	int ret;

	ret = vhxg_open(d, dev, a);
	if (!ret)
		ret = vhxg_set_owner(d);
	if (!ret)
		ret = vhxg_set_features(d, features);
	if (!ret)
		ret = vhxg_set_mem_identity(d);
	for (i = 0; !ret && i < nq; i++) {
		ret = vhxg_vq_init(d, i, NUM, 1);
		if (!ret)
			ret = vhxg_vq_configure(&d->vqs[i]);
		qs[i] = (struct queue){ .dev = d, .index = i,
					.rng = 0x9e3779b97f4a7c15ULL * (i + 1) };
		qs[i].slots = vhxg_alloc(a, NUM * sizeof(struct slot), 16);
		qs[i].bufs = vhxg_alloc(a, (size_t)NUM * bs, 4096);
		if (!ret && (!qs[i].slots || !qs[i].bufs))
			ret = -ENOMEM;
	}
	if (!ret)
		ret = vhx_blk_set_backend(d->fd, backend);
	if (!ret)
		ret = vhxg_ioctl(d, VHX_BLK_GET_CONFIG, &cfg);
	if (ret)
		return ret;
	if (!span_sectors || span_sectors > cfg.capacity)
		span_sectors = cfg.capacity;
	if (span_sectors < bs / 512)
		return -ENOSPC;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "backend", required_argument, NULL, 'b' },
		{ "queues", required_argument, NULL, 'q' },
		{ "qd", required_argument, NULL, 'Q' },
		{ "bs", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "span", required_argument, NULL, 'S' },
		{ "write", no_argument, NULL, 'w' },
		{ "poll", no_argument, NULL, 'p' },
		{}
	};
	const char *dev = "/dev/vhx-blk", *backend = NULL;
	struct queue qs[VHXG_MAX_VQS];
	pthread_t t[VHXG_MAX_VQS];
	unsigned int nq = 1, i;
	unsigned long total = 0, errors = 0;
	struct vhxg_arena a;
	struct vhxg_dev d;
	struct bench_cpu c0, c1;
	unsigned long long kicks = 0, calls = 0;
	uint64_t runs0 = 0, runs1 = 0;
	bool runs_ok = true;
	double start, el;
	int cpu_ok;
	int c, fd, ret, bad = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'b': backend = optarg; break;
		case 'q': bad |= bench_parse_uint(optarg, 1, VHXG_MAX_VQS, &nq); break;
		case 'Q': bad |= bench_parse_uint(optarg, 1, UINT_MAX, &qd); break;
		case 's': bad |= bench_parse_uint(optarg, 512, 1 << 20, &bs); break;
		case 't': bad |= bench_parse_uint(optarg, 1, 3600, &seconds); break;
		case 'S': bad |= bench_parse_u64(optarg, &span_sectors); break;
		case 'w': do_write = true; break;
		case 'p': poll_mode = true; break;
		default: usage();
		}
	}
	if (bad || !backend || qd > NUM / 3 || bs % 512 || optind != argc)
		usage();
	span_sectors /= 512;
	fd = open(backend, (do_write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		perror(backend);
		return 1;
	}
	ret = vhxg_arena_init(&a, (size_t)nq * (NUM * bs + (1 << 20)) +
			      (4 << 20));
	if (!ret)
		ret = setup(&d, &a, dev, fd, nq, qs);
	if (ret) {
		fprintf(stderr, "blkbench: setup: %s\n", strerror(-ret));
		return 1;
	}
	cpu_ok = !bench_cpu_read(&c0, "blk");
	for (i = 0; i < nq; i++)
		runs_ok = runs_ok && bench_vring_runs(d.fd, i, &runs0);
	start = bench_now();
	for (i = 0; i < nq; i++)
		pthread_create(&t[i], NULL, run_queue, &qs[i]);
	sleep(seconds);
	stop = true;
	el = bench_now() - start;
	for (i = 0; i < nq; i++) {
		pthread_join(t[i], NULL);
		if (qs[i].err)
			fprintf(stderr, "blkbench: queue %u: %s\n", i,
				strerror(-qs[i].err));
		total += qs[i].done;
		errors += qs[i].errors;
		kicks += d.vqs[i].kicks;
		calls += d.vqs[i].calls;
	}
	cpu_ok = cpu_ok && !bench_cpu_read(&c1, "blk");
	for (i = 0; i < nq; i++)
		runs_ok = runs_ok && bench_vring_runs(d.fd, i, &runs1);
	printf("blkbench: %s %u queue(s) qd %u bs %u: %.0f IOPS "
	       "(%lu requests in %.2f s, %lu errors)",
	       do_write ? "randwrite" : "randread", nq, qd, bs, total / el,
	       total, el, errors);
	if (total)
		printf(" kicks_per_kreq=%.1f calls_per_kreq=%.1f",
		       kicks * 1e3 / total, calls * 1e3 / total);
	if (total && runs_ok)
		printf(" runs_per_kreq=%.1f", (runs1 - runs0) * 1e3 / total);
	/* Requests drained after the stop ran on the clock too: few. */
	if (total && cpu_ok)
		printf(" cpu_ns_per_req=%.0f worker_ns_per_req=%.0f "
		       "driver_ns_per_req=%.0f worker_sleeps_per_kreq=%.1f",
		       (double)(c1.worker + c1.driver - c0.worker - c0.driver) /
		       total, (double)(c1.worker - c0.worker) / total,
		       (double)(c1.driver - c0.driver) / total,
		       (c1.worker_sleeps - c0.worker_sleeps) * 1e3 / total);
	printf("\n");
	vhxg_close(&d);
	return errors || ret ? 1 : 0;
}
