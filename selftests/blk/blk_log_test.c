// SPDX-License-Identifier: GPL-2.0
/*
 * vhx-blk's dirty logging, as net_log_test checks vhx-net's: switched on
 * while the device runs, then exactly the guest pages the device wrote are
 * marked: read data, status bytes, GET_ID's answer, the used ring; never
 * what it only read (write data, request headers).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "harness.h"
#include "blk_common.h"
#include "blk_slow.h"
#include "dlog.h"

/* No EVENT_IDX: the used ring's stores are then its flags and index. */
#define LOG_ACK		(BLK_ACK & ~F(VIRTIO_RING_F_EVENT_IDX))
#define FILE_BYTES	(4 << 20)

struct log_blk {
	struct blk_dev b;
	struct dlog log;
	struct dlog_pages want;
	unsigned int how;	/* DLOG_ALL, DLOG_USED */
	int log_fd;
};

static void log_open(struct __test_metadata *_metadata, struct log_blk *l,
		     int backend, unsigned int how)
{
	struct blk_cfg cfg = { .features = LOG_ACK };
	struct vhxg_arena *a;

	memset(l, 0, sizeof(*l));
	l->how = how;
	ASSERT_LE(0, blk_dev_open(&l->b, &cfg, backend));
	a = &l->b.arena;
	ASSERT_LE(0, dlog_init(&l->log, (uintptr_t)a->base + a->size));
	l->log_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_TRUE(l->log_fd >= 0)
		TH_LOG("eventfd");
	ASSERT_LE(0, dlog_start(&l->log, &l->b.dev, 1, how, l->log_fd));
}

/*
 * @len bytes of guest memory starting 512 bytes before a page boundary:
 * aligned for direct I/O (else the read would go through the page cache,
 * synchronously).
 */
static uint8_t *buf_across(struct log_blk *l, size_t len)
{
	uintptr_t p = (uintptr_t)blk_buf(&l->b, len + 2 * DLOG_PAGE, 0);

	if (!p)
		return NULL;
	p = (p + DLOG_PAGE - 1) / DLOG_PAGE * DLOG_PAGE;
	return (uint8_t *)(p + DLOG_PAGE - SECTOR);
}

/*
 * Post one request, wait for it, and add the pages it wrote and the log
 * should show: @in's first @written bytes and its status byte (with
 * LOG_ALL), the used ring (with the ring's LOG flag).
 */
static void do_logged(struct __test_metadata *_metadata, struct log_blk *l,
		      uint32_t type, uint64_t sector, struct vhxg_buf *out,
		      unsigned int nout, struct vhxg_buf *in, unsigned int nin,
		      uint32_t written)
{
	struct vhxg_vq *vq = &l->b.dev.vqs[0];
	uint16_t from = vq->last_used;
	struct vhxg_used u;
	unsigned int i;
	int head, ret;

	head = blk_post(&l->b, 0, type, sector, out, nout, in, nin, 0);
	ASSERT_TRUE(head >= 0)
		TH_LOG("post: %s", strerror(-head));
	ASSERT_LE(0, blk_kick(&l->b, 0));
	ret = blk_wait_one(&l->b, 0, &u);
	ASSERT_TRUE(ret == 1)
		TH_LOG("no completion (%s)", ret ? strerror(-ret) : "timeout");
	ASSERT_TRUE(blk_status(&l->b, 0, u.id) == VIRTIO_BLK_S_OK)
		TH_LOG("status %u", blk_status(&l->b, 0, u.id));
	ASSERT_TRUE(u.len == written + 1)
		TH_LOG("used len %u, want %u", u.len, written + 1);
	if (l->how & DLOG_USED)
		ASSERT_LE(0, dlog_pages_add_used(&l->want, vq, from,
						 vq->last_used));
	if (!(l->how & DLOG_ALL))
		return;
	for (i = 0; i < nin && written; i++) {
		uint32_t n = written < in[i].len ? written : in[i].len;

		ASSERT_LE(0, dlog_pages_add(&l->want, (uintptr_t)in[i].addr,
					    n));
		written -= n;
	}
	ASSERT_LE(0, dlog_pages_add(&l->want,
			     (uintptr_t)&l->b.slots[0][u.id].status, 1));
}

static void expect_log(struct __test_metadata *_metadata, struct log_blk *l,
		       const char *what)
{
	ASSERT_TRUE(dlog_expect(&l->log, &l->want, what))
		TH_LOG("%s", what);
	ASSERT_TRUE(dlog_canary_intact(&l->log))
		TH_LOG("%s: written past the log", what);
}

/*
 * A read into three buffers, one crossing a page; a write (its data is
 * only read: status and used ring only); GET_ID's 20 bytes.
 */
TEST(log_requests)
{
	struct vhxg_buf in[3], out[1], id[1];
	struct log_blk l;
	uint8_t *p, *w, *x;
	int fd = blk_tmpfile(FILE_BYTES);

	ASSERT_TRUE(fd >= 0)
		TH_LOG("tmpfile: %s", strerror(-fd));
	log_open(_metadata, &l, fd, DLOG_ALL | DLOG_USED);
	p = buf_across(&l, 4 * SECTOR);
	w = buf_across(&l, 8 * SECTOR);
	x = buf_across(&l, SECTOR);
	ASSERT_TRUE(p && w && x)
		TH_LOG("arena full");
	/* Sector 2 of the read lands in the gap, not read back here. */
	in[0] = (struct vhxg_buf){ p, 2 * SECTOR };
	in[1] = (struct vhxg_buf){ p + 3 * SECTOR, SECTOR };
	in[2] = (struct vhxg_buf){ x, SECTOR };
	do_logged(_metadata, &l, VIRTIO_BLK_T_IN, 8, NULL, 0, in, 3,
		  4 * SECTOR);
	expect_log(_metadata, &l, "read");
	ASSERT_TRUE(vhxg_wait_fd(l.log_fd, WAIT_MS) == 1)
		TH_LOG("log eventfd not signalled");

	dlog_clear(&l.log);
	dlog_pages_free(&l.want);
	out[0] = (struct vhxg_buf){ w, 8 * SECTOR };
	do_logged(_metadata, &l, VIRTIO_BLK_T_OUT, 16, out, 1, NULL, 0, 0);
	expect_log(_metadata, &l, "write");

	dlog_clear(&l.log);
	dlog_pages_free(&l.want);
	id[0] = (struct vhxg_buf){ p, VIRTIO_BLK_ID_BYTES };
	do_logged(_metadata, &l, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, 1,
			 VIRTIO_BLK_ID_BYTES);
	expect_log(_metadata, &l, "GET_ID");
}

/* With LOG_ALL off the data is not logged; without the flag, no ring. */
TEST(log_switches)
{
	static const struct { unsigned int how; const char *what; } runs[] = {
		{ DLOG_ALL, "LOG_ALL only" },
		{ DLOG_USED, "VRING_F_LOG only" },
		{ 0, "neither" },
	};
	struct vhxg_buf in[1];
	struct log_blk l;
	unsigned int i;
	uint8_t *p;
	int fd;

	for (i = 0; i < ARRAY_SIZE(runs); i++) {
		fd = blk_tmpfile(FILE_BYTES);
		ASSERT_TRUE(fd >= 0)
			TH_LOG("tmpfile: %s", strerror(-fd));
		log_open(_metadata, &l, fd, runs[i].how);
		p = buf_across(&l, 2 * SECTOR);
		ASSERT_TRUE(p)
			TH_LOG("arena full");
		in[0] = (struct vhxg_buf){ p, 2 * SECTOR };
		do_logged(_metadata, &l, VIRTIO_BLK_T_IN, 0, NULL, 0, in, 1,
				 2 * SECTOR);
		expect_log(_metadata, &l, runs[i].what);
		blk_dev_close(&l.b);
		dlog_fini(&l.log);
		dlog_pages_free(&l.want);
		close(fd);
	}
}

/* Reads the disk has in flight (/sys/block/NAME/inflight), or -1. */
static int disk_reads(const struct nullb *s)
{
	char path[128];
	unsigned int r, w;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/sys/block/%s/inflight", s->name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fscanf(f, "%u %u", &r, &w);
	fclose(f);
	return n == 2 ? (int)r : -1;
}

/*
 * Logging switched on while a read is at the disk: that read kept no
 * record of its buffers, so SET_FEATURES waits until the disk is done
 * with it (else the VMM could copy the page first and never hear of the
 * write).  The disk completes after 300 ms; once the read is seen in
 * flight there, SET_FEATURES(LOG_ALL) must not return before it left.
 */
TEST(log_start_waits)
{
	struct vhxg_buf in[1];
	struct vhxg_used u;
	struct nullb s;
	struct log_blk l;
	int fd, head, i, before, after;

	if (blk_slow_create(&s, 16, 300000, false))
		SKIP(return, "cannot make a slow null_blk");
	fd = open(s.path, O_RDWR | O_DIRECT | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open %s", s.path);
	log_open(_metadata, &l, fd, 0);
	in[0] = (struct vhxg_buf){ buf_across(&l, 4 * SECTOR), 4 * SECTOR };
	ASSERT_TRUE(in[0].addr)
		TH_LOG("arena full");
	head = blk_post(&l.b, 0, VIRTIO_BLK_T_IN, 0, NULL, 0, in, 1, 0);
	ASSERT_TRUE(head >= 0)
		TH_LOG("post: %s", strerror(-head));
	ASSERT_LE(0, blk_kick(&l.b, 0));
	for (i = 0; i < 200 && (before = disk_reads(&s)) == 0; i++)
		usleep(1000);
	ASSERT_TRUE(before == 1)
		TH_LOG("the read never reached the disk (%d)", before);
	ASSERT_LE(0, vhxg_set_features(&l.b.dev, l.b.dev.features |
				F(VHOST_F_LOG_ALL)));
	after = disk_reads(&s);
	TH_LOG("reads at the disk: %d before SET_FEATURES(LOG_ALL), %d after",
		before, after);
	ASSERT_TRUE(after == 0)
		TH_LOG("logging started with a read in flight");
	ASSERT_TRUE(blk_wait_one(&l.b, 0, &u) == 1)
		TH_LOG("no completion");
	blk_dev_close(&l.b);
	close(fd);
	ASSERT_LE(0, blk_slow_destroy(&s));
}

VHX_TEST_MAIN("/dev/vhx-blk")
