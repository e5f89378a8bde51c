// SPDX-License-Identifier: GPL-2.0
/*
 * vhx-blk multiqueue: four queues, one driver thread each, 32 requests in
 * flight per queue, every queue writing and then reading back its own
 * part of a file and of a ram disk at the same time.  The data is
 * checked through the ring and with pread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "blk_common.h"

#define NQ		4
#define QD		32
#define NUM		128
#define CHUNK		4096
#define SEED		0x6d71

struct worker {
	struct blk_dev *b;
	unsigned int q;
	uint64_t first;		/* first sector of the queue's part */
	unsigned int nchunks;
	uint8_t *bufs;		/* CHUNK per head */
	uint64_t sector_of[NUM];
	unsigned int verified;	/* reads whose data was checked */
	char err[160];
};

static uint8_t *head_buf(struct worker *w, unsigned int head)
{
	return w->bufs + (size_t)head * CHUNK;
}

/* Chunk i of the pass, in a scrambled order so queues interleave. */
static uint64_t chunk_sector(struct worker *w, unsigned int i)
{
	unsigned int c = (i * 7919u) % w->nchunks;

	return w->first + (uint64_t)c * (CHUNK / SECTOR);
}

static int post_one(struct worker *w, bool write, unsigned int i)
{
	struct vhxg_vq *vq = &w->b->dev.vqs[w->q];
	uint64_t sector = chunk_sector(w, i);
	unsigned int head = vq->free_head;
	struct vhxg_buf buf = { head_buf(w, head), CHUNK };
	int ret;

	if (write)
		blk_pattern(buf.addr, CHUNK, SEED, sector * SECTOR);
	else
		memset(buf.addr, 0, CHUNK);
	ret = blk_post(w->b, w->q, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
		       sector, &buf, write, &buf, !write, 0);
	if (ret >= 0)
		w->sector_of[ret] = sector;
	return ret;
}

static int reap(struct worker *w, bool write, unsigned int *done)
{
	struct vhxg_used u[NUM];
	int n, i;

	n = vhxg_vq_reap(&w->b->dev.vqs[w->q], u, NUM);
	for (i = 0; i < n; i++) {
		uint8_t st = blk_status(w->b, w->q, u[i].id);
		uint64_t sector = w->sector_of[u[i].id];

		if (st != VIRTIO_BLK_S_OK) {
			snprintf(w->err, sizeof(w->err),
				 "q%u: status %u at sector %llu", w->q, st,
				 (unsigned long long)sector);
			return -EIO;
		}
		if (!write && blk_check_pattern(head_buf(w, u[i].id), CHUNK,
						SEED, sector * SECTOR)) {
			snprintf(w->err, sizeof(w->err),
				 "q%u: bad data read at sector %llu", w->q,
				 (unsigned long long)sector);
			return -EIO;
		}
		if (!write)
			w->verified++;
	}
	*done += n;
	return n;
}

static int pass(struct worker *w, bool write)
{
	unsigned int issued = 0, done = 0;
	int ret;

	while (done < w->nchunks) {
		while (issued < w->nchunks && issued - done < QD) {
			ret = post_one(w, write, issued);
			if (ret < 0) {
				snprintf(w->err, sizeof(w->err),
					 "q%u: posting %s %u of %u: %s", w->q,
					 write ? "write" : "read", issued + 1,
					 w->nchunks, strerror(-ret));
				return ret;
			}
			issued++;
		}
		blk_kick(w->b, w->q);
		ret = vhxg_vq_wait_used(&w->b->dev.vqs[w->q], WAIT_MS);
		if (ret <= 0) {
			snprintf(w->err, sizeof(w->err), "q%u: %s after %u of %u",
				 w->q, ret ? strerror(-ret) : "timeout", done,
				 w->nchunks);
			return -ETIMEDOUT;
		}
		ret = reap(w, write, &done);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;

	int ret = pass(w, true);

	if (!ret)
		ret = pass(w, false);
	if (ret && !w->err[0])
		snprintf(w->err, sizeof(w->err), "q%u: %s", w->q,
			 strerror(-ret));
	return NULL;
}

static void run_mq(struct __test_metadata *_metadata, int fd, uint64_t bytes)
{
	struct blk_cfg cfg = { .nq = NQ, .num = NUM };
	struct worker w[NQ];
	pthread_t t[NQ];
	struct blk_dev b;
	unsigned int q, per = (bytes / NQ) / CHUNK;
	unsigned int bad = 0;
	uint8_t *check;

	if (per > 512)
		per = 512;
	ASSERT_LE(0, blk_dev_open(&b, &cfg, fd));
	for (q = 0; q < NQ; q++) {
		w[q] = (struct worker){ .b = &b, .q = q, .nchunks = per };
		w[q].first = (uint64_t)q * (bytes / NQ) / SECTOR;
		w[q].bufs = blk_buf(&b, (size_t)NUM * CHUNK, 0);
		ASSERT_TRUE(w[q].bufs)
			TH_LOG("arena");
	}
	for (q = 0; q < NQ; q++) {
		ASSERT_TRUE(!pthread_create(&t[q], NULL, worker_fn, &w[q]))
			TH_LOG("pthread_create");
	}
	for (q = 0; q < NQ; q++)
		pthread_join(t[q], NULL);
	for (q = 0; q < NQ; q++) {
		if (w[q].err[0]) {
			TH_LOG("%s", w[q].err);
			bad++;
		} else if (w[q].verified != per) {
			TH_LOG("q%u: %u of %u reads verified", q,
			       w[q].verified, per);
			bad++;
		}
	}
	ASSERT_EQ(0, bad);
	/* What the backend holds, read past the device. */
	check = malloc(CHUNK);
	ASSERT_TRUE(check)
		TH_LOG("malloc");
	for (q = 0; q < NQ; q++) {
		unsigned int i;

		for (i = 0; i < per; i++) {
			uint64_t off = (w[q].first + (uint64_t)i * (CHUNK / SECTOR)) *
				       SECTOR;

			ASSERT_TRUE(pread(fd, check, CHUNK, off) == CHUNK)
				TH_LOG("pread: %m");
			ASSERT_TRUE(!blk_check_pattern(check, CHUNK, SEED, off))
				TH_LOG("backend data at %llu",
				       (unsigned long long)off);
		}
	}
	free(check);
	blk_dev_close(&b);
}

TEST(mq_file)
{
	uint64_t bytes = 16 << 20;
	int fd = blk_tmpfile(bytes);

	ASSERT_LE(0, fd);
	run_mq(_metadata, fd, bytes);
}

TEST(mq_block_device)
{
	uint64_t bytes;
	int fd = blk_open_ramdisk(1, O_RDWR, &bytes);

	if (fd == -ENOENT)
		SKIP(return, "no /dev/ram1 (brd)");
	ASSERT_LE(0, fd);
	run_mq(_metadata, fd, bytes);
}


VHX_TEST_MAIN("/dev/vhx-blk")
