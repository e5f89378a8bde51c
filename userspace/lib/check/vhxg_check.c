// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side check of the vhxg driver library, no device needed: this file
 * plays the device on the rings vhxg lays out, completes chains out of
 * order (as a block device does), wraps the 16-bit indices, and checks
 * the kick decisions.  Run with 'make -C userspace check'.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "vhxg.h"

static int failures;

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: %s: ", __func__,	\
				__LINE__, #cond);			\
			fprintf(stderr, __VA_ARGS__);			\
			fputc('\n', stderr);				\
			failures++;					\
			return -1;					\
		}							\
	} while (0)

/* The fake device's view of one queue. */
struct fake {
	struct vhxg_vq *vq;
	uint16_t last_avail;
	uint16_t used_idx;
};

/* Walk one chain the way a device does; return the descriptor count. */
static int walk(struct fake *f, uint16_t head, uint32_t *readable,
		uint32_t *writable)
{
	struct vhxg_vq *vq = f->vq;
	struct vring_desc *table = vq->desc, *d;
	unsigned int i = head, n = 0, max = vq->num;

	*readable = *writable = 0;
	if (vq->desc[head].flags & VRING_DESC_F_INDIRECT) {
		table = (struct vring_desc *)(uintptr_t)vq->desc[head].addr;
		max = vq->desc[head].len / 16;
		i = 0;
	}
	for (;;) {
		if (i >= max || ++n > max)
			return -1;
		d = &table[i];
		if (d->flags & VRING_DESC_F_WRITE)
			*writable += d->len;
		else if (*writable)
			return -1;	/* readable after writable */
		else
			*readable += d->len;
		if (!(d->flags & VRING_DESC_F_NEXT))
			return n;
		i = d->next;
	}
}

/* Take every available head; returns how many. */
static int take_avail(struct fake *f, uint16_t *heads, unsigned int max)
{
	uint16_t avail = __atomic_load_n(&f->vq->avail->idx, __ATOMIC_ACQUIRE);
	unsigned int n = 0;

	while (f->last_avail != avail && n < max)
		heads[n++] = f->vq->avail->ring[f->last_avail++ &
						  (f->vq->num - 1)];
	return n;
}

static void complete(struct fake *f, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e;

	e = &f->vq->used->ring[f->used_idx & (f->vq->num - 1)];
	e->id = head;
	e->len = len;
	f->used_idx++;
	__atomic_store_n(&f->vq->used->idx, f->used_idx, __ATOMIC_RELEASE);
}

static int setup(struct vhxg_dev *d, struct vhxg_arena *a, unsigned int num,
		 uint64_t features)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->arena = a;
	d->features = features;
	return vhxg_vq_init(d, 0, num, 8);
}

/* Chains of many shapes, completed in a scrambled order, across wraps. */
static int check_out_of_order(void)
{
	struct vhxg_arena a;
	struct vhxg_dev d;
	struct vhxg_vq *vq;
	struct fake f;
	struct vhxg_buf out[3], in[3];
	uint16_t heads[64];
	struct vhxg_used used[64];
	unsigned int round, i, n, got;
	uint8_t *mem;

	CHECK(!vhxg_arena_init(&a, 4 << 20), "arena");
	CHECK(!setup(&d, &a, 16, 0), "vq init");
	vq = &d.vqs[0];
	/* Start close to the 16-bit wrap. */
	vhxg_vq_rewind(vq, 0xfff0);
	f = (struct fake){ vq, 0xfff0, 0xfff0 };
	mem = vhxg_alloc(&a, 4096, 64);
	for (i = 0; i < 3; i++) {
		out[i] = (struct vhxg_buf){ mem + i * 100, 10 + i };
		in[i] = (struct vhxg_buf){ mem + 1000 + i * 100, 20 + i };
	}
	for (round = 0; round < 200; round++) {
		unsigned int flags = round % 3 == 2 ? VHXG_ADD_INDIRECT : 0;
		unsigned int nout = round % 4, nin = 1 + round % 3;
		int head;

		/* Fill what fits. */
		while ((head = vhxg_vq_add(vq, out, nout, in, nin, flags)) >= 0)
			;
		CHECK(head == -ENOSPC, "add: %d", head);
		vhxg_vq_publish(vq);
		n = take_avail(&f, heads, 64);
		CHECK(n && vq->num_free < nout + nin, "took %u", n);
		for (i = 0; i < n; i++) {
			uint32_t r, w;

			CHECK(walk(&f, heads[i], &r, &w) > 0, "bad chain");
			CHECK(r == (nout ? 10 * nout + nout * (nout - 1) / 2
				    : 0u) &&
			      w == 20 * nin + nin * (nin - 1) / 2,
			      "chain sizes %u/%u", r, w);
		}
		/* Complete odd positions first, then even ones. */
		for (i = 1; i < n; i += 2)
			complete(&f, heads[i], i);
		for (i = 0; i < n; i += 2)
			complete(&f, heads[i], i);
		got = 0;
		while (got < n)
			got += vhxg_vq_reap(vq, used + got, 64 - got);
		CHECK(got == n && !vhxg_vq_pending(vq), "reaped %u of %u",
		      got, n);
		CHECK(vq->num_free == vq->num, "free %u of %u after round %u",
		      vq->num_free, vq->num, round);
		CHECK(!vq->bad_used, "bad used entries");
	}
	/* A lying device: unknown and repeated ids are counted, not freed. */
	complete(&f, 99, 0);
	complete(&f, 3, 0);
	vhxg_vq_reap(vq, used, 64);
	CHECK(vq->bad_used == 2 && vq->num_free == vq->num, "bad %lu free %u",
	      vq->bad_used, vq->num_free);
	vhxg_vq_fini(vq);
	vhxg_arena_fini(&a);
	return 0;
}

static uint64_t kicks(struct vhxg_vq *vq)
{
	uint64_t n = 0;

	if (read(vq->kick_fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static int add_one(struct vhxg_vq *vq, void *p)
{
	struct vhxg_buf b = { p, 64 };

	return vhxg_vq_add(vq, &b, 1, NULL, 0, 0);
}

/* Kick suppression: avail_event with EVENT_IDX, NO_NOTIFY without. */
static int check_kicks(void)
{
	struct vhxg_arena a;
	struct vhxg_dev d;
	struct vhxg_vq *vq;
	uint16_t *avail_event;
	void *p;

	CHECK(!vhxg_arena_init(&a, 4 << 20), "arena");
	CHECK(!setup(&d, &a, 8, 1ULL << VIRTIO_RING_F_EVENT_IDX), "init");
	vq = &d.vqs[0];
	p = vhxg_alloc(&a, 64, 64);
	avail_event = (uint16_t *)&vq->used->ring[vq->num];
	*avail_event = 0;
	add_one(vq, p);
	vhxg_vq_publish(vq);
	CHECK(vhxg_vq_kick(vq) == 1 && kicks(vq) == 1, "first kick");
	/* Device wants a kick only once avail idx passes 3. */
	*avail_event = 3;
	add_one(vq, p);
	vhxg_vq_publish(vq);
	CHECK(vhxg_vq_kick(vq) == 0 && kicks(vq) == 0, "kick at idx 2");
	add_one(vq, p);
	add_one(vq, p);
	vhxg_vq_publish(vq);
	CHECK(vhxg_vq_kick(vq) == 1 && kicks(vq) == 1, "kick at idx 4");
	CHECK(vhxg_vq_kick_force(vq) == 0 && kicks(vq) == 1, "forced");
	vhxg_vq_fini(vq);

	CHECK(!setup(&d, &a, 8, 0), "init");
	vq = &d.vqs[0];
	vq->used->flags = VRING_USED_F_NO_NOTIFY;
	add_one(vq, p);
	vhxg_vq_publish(vq);
	CHECK(vhxg_vq_kick(vq) == 0 && kicks(vq) == 0, "NO_NOTIFY");
	vq->used->flags = 0;
	CHECK(vhxg_vq_kick(vq) == 1 && kicks(vq) == 1, "notify");
	vhxg_vq_fini(vq);
	vhxg_arena_fini(&a);
	return 0;
}

/* Layout: minimum alignments, rings inside the arena, bad sizes refused. */
static int check_layout(void)
{
	struct vhxg_arena a;
	struct vhxg_dev d;
	struct vhxg_vq *vq;

	CHECK(!vhxg_arena_init(&a, 1 << 20), "arena");
	CHECK(setup(&d, &a, 3, 0) == -EINVAL, "num 3 accepted");
	CHECK(setup(&d, &a, 0, 0) == -EINVAL, "num 0 accepted");
	CHECK(!setup(&d, &a, 256, 0), "num 256");
	vq = &d.vqs[0];
	CHECK(!((uintptr_t)vq->desc & 15) && !((uintptr_t)vq->avail & 1) &&
	      !((uintptr_t)vq->used & 3), "alignment");
	CHECK((uint8_t *)vq->desc >= a.base &&
	      (uint8_t *)vq->used + 6 + 8 * 256 <= a.base + a.size,
	      "rings outside the arena");
	CHECK(!vhxg_alloc(&a, 2 << 20, 8), "oversized alloc succeeded");
	CHECK(!vhxg_alloc(&a, 8, 3), "bad alignment accepted");
	vhxg_vq_fini(vq);
	vhxg_arena_fini(&a);
	return 0;
}

int main(void)
{
	check_layout();
	check_out_of_order();
	check_kicks();
	if (failures) {
		fprintf(stderr, "vhxg_check: %d failure(s)\n", failures);
		return 1;
	}
	printf("vhxg_check: ok\n");
	return 0;
}
