// SPDX-License-Identifier: GPL-2.0
/*
 * uringbench: the io_uring reference for blkbench, in the same shape: one
 * thread per queue keeps --qd direct reads (or writes) of --bs bytes in
 * flight at random aligned offsets of the backend, and counts completions
 * for --seconds.  No clock is read per I/O (fio reads it twice), buffers
 * and the file are registered, so what is left is the cheapest path the
 * block layer offers a process.  --poll sets up the ring with IOPOLL:
 * completions are polled, not interrupt driven (a null_blk or NVMe device
 * needs poll queues for that).  Prints IOPS, and the CPU time of its
 * threads per request (schedstat).
 *
 *   uringbench --backend PATH [--queues N] [--qd N] [--bs BYTES]
 *              [--seconds S] [--write] [--span BYTES] [--poll]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include "benchutil.h"

#define MAX_QUEUES	16
#define MAX_QD		256

struct queue {
	unsigned int index;
	struct io_uring ring;
	void *bufs;		/* qd buffers of bs bytes */
	uint64_t rng;
	unsigned long done;
	unsigned long errors;
	long long cpu_ns;	/* this thread's runtime over the run */
	int first_res;		/* of the first failed request */
	int err;
};

static unsigned int qd = 32, bs = 4096, seconds = 5;
static uint64_t span_blocks;
static bool do_write, do_poll;
static int backend_fd;
static volatile bool stop;

/* This thread's exact runtime in ns. */
static long long thread_ns(void)
{
	return bench_schedstat_ns("/proc/thread-self/schedstat");
}

/* Queue request @slot (its buffer is slot's) at a random block. */
static void prep(struct queue *q, unsigned int slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	void *buf = (char *)q->bufs + (size_t)slot * bs;
	off_t off = bench_rand(&q->rng) % span_blocks * bs;

	if (do_write)
		io_uring_prep_write_fixed(sqe, 0, buf, bs, off, slot);
	else
		io_uring_prep_read_fixed(sqe, 0, buf, bs, off, slot);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, slot);
}

static int queue_setup(struct queue *q)
{
	struct iovec *iov;
	unsigned int i;
	int ret;

	ret = io_uring_queue_init(qd, &q->ring, do_poll ? IORING_SETUP_IOPOLL : 0);
	if (ret)
		return ret;
	ret = io_uring_register_files(&q->ring, &backend_fd, 1);
	if (ret)
		return ret;
	if (posix_memalign(&q->bufs, 4096, (size_t)qd * bs))
		return -ENOMEM;
	memset(q->bufs, 0x5a, (size_t)qd * bs);
	iov = calloc(qd, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	for (i = 0; i < qd; i++)
		iov[i] = (struct iovec){ (char *)q->bufs + (size_t)i * bs, bs };
	ret = io_uring_register_buffers(&q->ring, iov, qd);
	free(iov);
	return ret;
}

/*
 * Reap what completed and queue each slot again; once stopped, only
 * drain (what completes then is not counted, as in blkbench).
 */
static void reap(struct queue *q, unsigned int *inflight)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	io_uring_for_each_cqe(&q->ring, head, cqe) {
		n++;
		if (stop) {
			(*inflight)--;
			continue;
		}
		if (cqe->res != (int)bs && !q->errors++)
			q->first_res = cqe->res;
		q->done++;
		prep(q, io_uring_cqe_get_data64(cqe));
	}
	io_uring_cq_advance(&q->ring, n);
}

static void *run_queue(void *arg)
{
	struct queue *q = arg;
	unsigned int i, inflight = qd;
	long long t0 = thread_ns();
	int ret;

	for (i = 0; i < qd; i++)
		prep(q, i);
	while (inflight) {
		ret = io_uring_submit_and_wait(&q->ring, 1);
		if (ret < 0 && ret != -EINTR) {
			q->err = ret;
			break;
		}
		reap(q, &inflight);
	}
	q->cpu_ns = t0 < 0 ? -1 : thread_ns() - t0;
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: uringbench --backend PATH [--queues N] [--qd N]\n"
		"                  [--bs BYTES] [--seconds S] [--write]\n"
		"                  [--span BYTES] [--poll]\n");
	exit(2);
}

/* The backend's size in bytes: a file's, or a block device's. */
static int backend_size(int fd, uint64_t *bytes)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, bytes) ? -errno : 0;
	*bytes = st.st_size;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
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
	static struct queue qs[MAX_QUEUES];
	pthread_t t[MAX_QUEUES];
	unsigned long total = 0, errors = 0;
	const char *backend = NULL;
	unsigned int nq = 1, i;
	long long cpu = 0;
	uint64_t size, span = 0;
	double start, el;
	int c, ret = 0, bad = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': backend = optarg; break;
		case 'q': bad |= bench_parse_uint(optarg, 1, MAX_QUEUES, &nq); break;
		case 'Q': bad |= bench_parse_uint(optarg, 1, UINT_MAX, &qd); break;
		case 's': bad |= bench_parse_uint(optarg, 512, 1 << 20, &bs); break;
		case 't': bad |= bench_parse_uint(optarg, 1, 3600, &seconds); break;
		case 'S': bad |= bench_parse_u64(optarg, &span); break;
		case 'w': do_write = true; break;
		case 'p': do_poll = true; break;
		default: usage();
		}
	}
	if (bad || !backend || qd > MAX_QD || bs % 512 || optind != argc)
		usage();
	backend_fd = open(backend, (do_write ? O_RDWR : O_RDONLY) |
			  O_DIRECT | O_CLOEXEC);
	if (backend_fd < 0) {
		perror(backend);
		return 1;
	}
	ret = backend_size(backend_fd, &size);
	if (ret) {
		fprintf(stderr, "uringbench: %s: %s\n", backend, strerror(-ret));
		return 1;
	}
	if (!span || span > size)
		span = size;
	span_blocks = span / bs;
	if (!span_blocks) {
		fprintf(stderr, "uringbench: %s is smaller than %u bytes\n",
			backend, bs);
		return 1;
	}
	for (i = 0; i < nq; i++) {
		qs[i].index = i;
		qs[i].rng = 0x9e3779b97f4a7c15ULL * (i + 1);
		ret = queue_setup(&qs[i]);
		if (ret) {
			fprintf(stderr, "uringbench: queue %u setup: %s\n", i,
				strerror(-ret));
			return 1;
		}
	}
	start = bench_now();
	for (i = 0; i < nq; i++)
		pthread_create(&t[i], NULL, run_queue, &qs[i]);
	sleep(seconds);
	stop = true;
	el = bench_now() - start;
	for (i = 0; i < nq; i++) {
		pthread_join(t[i], NULL);
		if (qs[i].err) {
			fprintf(stderr, "uringbench: queue %u: %s\n", i,
				strerror(-qs[i].err));
			ret = qs[i].err;
		}
		if (qs[i].errors && !errors)
			fprintf(stderr, "uringbench: queue %u: a request "
				"returned %d (%s)\n", i, qs[i].first_res,
				qs[i].first_res < 0 ? strerror(-qs[i].first_res) :
				"short");
		total += qs[i].done;
		errors += qs[i].errors;
		cpu = cpu < 0 || qs[i].cpu_ns < 0 ? -1 : cpu + qs[i].cpu_ns;
		io_uring_queue_exit(&qs[i].ring);
	}
	printf("uringbench: %s %u queue(s) qd %u bs %u%s: %.0f IOPS "
	       "(%lu requests in %.2f s, %lu errors)",
	       do_write ? "randwrite" : "randread", nq, qd, bs,
	       do_poll ? " polled" : "", total / el, total, el, errors);
	if (cpu >= 0 && total)
		printf(" cpu_ns_per_req=%.0f", (double)cpu / total);
	printf("\n");
	return errors || ret ? 1 : 0;
}
