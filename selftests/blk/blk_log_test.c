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

static int log_open(struct log_blk *l, int backend, unsigned int how)
{
	struct blk_cfg cfg = { .features = LOG_ACK };
	struct vhxg_arena *a;

	memset(l, 0, sizeof(*l));
	l->how = how;
	KT_OK(blk_dev_open(&l->b, &cfg, backend));
	a = &l->b.arena;
	KT_OK(dlog_init(&l->log, (uintptr_t)a->base + a->size));
	l->log_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	KT_ASSERT(l->log_fd >= 0, "eventfd");
	KT_OK(dlog_start(&l->log, &l->b.dev, 1, how, l->log_fd));
	return KT_PASS;
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
static int do_logged(struct log_blk *l, uint32_t type, uint64_t sector,
		     struct vhxg_buf *out, unsigned int nout,
		     struct vhxg_buf *in, unsigned int nin, uint32_t written)
{
	struct vhxg_vq *vq = &l->b.dev.vqs[0];
	uint16_t from = vq->last_used;
	struct vhxg_used u;
	unsigned int i;
	int head, ret;

	head = blk_post(&l->b, 0, type, sector, out, nout, in, nin, 0);
	KT_ASSERT(head >= 0, "post: %s", strerror(-head));
	KT_OK(blk_kick(&l->b, 0));
	ret = blk_wait_one(&l->b, 0, &u);
	KT_ASSERT(ret == 1, "no completion (%s)",
		  ret ? strerror(-ret) : "timeout");
	KT_ASSERT(blk_status(&l->b, 0, u.id) == VIRTIO_BLK_S_OK,
		  "status %u", blk_status(&l->b, 0, u.id));
	KT_ASSERT(u.len == written + 1, "used len %u, want %u", u.len,
		  written + 1);
	if (l->how & DLOG_USED)
		KT_OK(dlog_pages_add_used(&l->want, vq, from, vq->last_used));
	if (!(l->how & DLOG_ALL))
		return KT_PASS;
	for (i = 0; i < nin && written; i++) {
		uint32_t n = written < in[i].len ? written : in[i].len;

		KT_OK(dlog_pages_add(&l->want, (uintptr_t)in[i].addr, n));
		written -= n;
	}
	KT_OK(dlog_pages_add(&l->want,
			     (uintptr_t)&l->b.slots[0][u.id].status, 1));
	return KT_PASS;
}

static int expect_log(struct log_blk *l, const char *what)
{
	KT_ASSERT(dlog_expect(&l->log, &l->want, what), "%s", what);
	KT_ASSERT(dlog_canary_intact(&l->log), "%s: written past the log",
		  what);
	return KT_PASS;
}

/*
 * A read into three buffers, one crossing a page; a write (its data is
 * only read: status and used ring only); GET_ID's 20 bytes.
 */
static int log_requests(void)
{
	struct vhxg_buf in[3], out[1], id[1];
	struct log_blk l;
	uint8_t *p, *w, *x;
	int fd = blk_tmpfile(FILE_BYTES);

	KT_ASSERT(fd >= 0, "tmpfile: %s", strerror(-fd));
	KT_RUN(log_open(&l, fd, DLOG_ALL | DLOG_USED));
	p = buf_across(&l, 4 * SECTOR);
	w = buf_across(&l, 8 * SECTOR);
	x = buf_across(&l, SECTOR);
	KT_ASSERT(p && w && x, "arena full");
	/* Sector 2 of the read lands in the gap, not read back here. */
	in[0] = (struct vhxg_buf){ p, 2 * SECTOR };
	in[1] = (struct vhxg_buf){ p + 3 * SECTOR, SECTOR };
	in[2] = (struct vhxg_buf){ x, SECTOR };
	KT_RUN(do_logged(&l, VIRTIO_BLK_T_IN, 8, NULL, 0, in, 3, 4 * SECTOR));
	KT_RUN(expect_log(&l, "read"));
	KT_ASSERT(vhxg_wait_fd(l.log_fd, WAIT_MS) == 1,
		  "log eventfd not signalled");

	dlog_clear(&l.log);
	dlog_pages_free(&l.want);
	out[0] = (struct vhxg_buf){ w, 8 * SECTOR };
	KT_RUN(do_logged(&l, VIRTIO_BLK_T_OUT, 16, out, 1, NULL, 0, 0));
	KT_RUN(expect_log(&l, "write"));

	dlog_clear(&l.log);
	dlog_pages_free(&l.want);
	id[0] = (struct vhxg_buf){ p, VIRTIO_BLK_ID_BYTES };
	KT_RUN(do_logged(&l, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, 1,
			 VIRTIO_BLK_ID_BYTES));
	KT_RUN(expect_log(&l, "GET_ID"));
	return KT_PASS;
}

/* With LOG_ALL off the data is not logged; without the flag, no ring. */
static int log_switches(void)
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

	for (i = 0; i < KT_ARRAY_SIZE(runs); i++) {
		fd = blk_tmpfile(FILE_BYTES);
		KT_ASSERT(fd >= 0, "tmpfile: %s", strerror(-fd));
		KT_RUN(log_open(&l, fd, runs[i].how));
		p = buf_across(&l, 2 * SECTOR);
		KT_ASSERT(p, "arena full");
		in[0] = (struct vhxg_buf){ p, 2 * SECTOR };
		KT_RUN(do_logged(&l, VIRTIO_BLK_T_IN, 0, NULL, 0, in, 1,
				 2 * SECTOR));
		KT_RUN(expect_log(&l, runs[i].what));
		blk_dev_close(&l.b);
		dlog_fini(&l.log);
		dlog_pages_free(&l.want);
		close(fd);
	}
	return KT_PASS;
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
static int log_start_waits(void)
{
	struct vhxg_buf in[1];
	struct vhxg_used u;
	struct nullb s;
	struct log_blk l;
	int fd, head, i, before, after;

	if (blk_slow_create(&s, 16, 300000, false))
		return kt_skip("cannot make a slow null_blk");
	fd = open(s.path, O_RDWR | O_DIRECT | O_CLOEXEC);
	KT_ASSERT(fd >= 0, "open %s", s.path);
	KT_RUN(log_open(&l, fd, 0));
	in[0] = (struct vhxg_buf){ buf_across(&l, 4 * SECTOR), 4 * SECTOR };
	KT_ASSERT(in[0].addr, "arena full");
	head = blk_post(&l.b, 0, VIRTIO_BLK_T_IN, 0, NULL, 0, in, 1, 0);
	KT_ASSERT(head >= 0, "post: %s", strerror(-head));
	KT_OK(blk_kick(&l.b, 0));
	for (i = 0; i < 200 && (before = disk_reads(&s)) == 0; i++)
		usleep(1000);
	KT_ASSERT(before == 1, "the read never reached the disk (%d)", before);
	KT_OK(vhxg_set_features(&l.b.dev, l.b.dev.features |
				F(VHOST_F_LOG_ALL)));
	after = disk_reads(&s);
	kt_diag("reads at the disk: %d before SET_FEATURES(LOG_ALL), %d after",
		before, after);
	KT_ASSERT(after == 0, "logging started with a read in flight");
	KT_ASSERT(blk_wait_one(&l.b, 0, &u) == 1, "no completion");
	blk_dev_close(&l.b);
	close(fd);
	KT_OK(blk_slow_destroy(&s));
	return KT_PASS;
}

static const struct kt_case cases[] = {
	{ "log_requests", log_requests },
	{ "log_switches", log_switches },
	{ "log_start_waits", log_start_waits },
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, cases, KT_ARRAY_SIZE(cases),
		       "/dev/vhx-blk");
}
