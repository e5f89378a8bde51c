// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit tests of the split ring walker (kmod/ring.c), built for
 * userspace.  Guest memory is an arena; every access the walker makes goes
 * through vhx_user_read/write below, which fail the test if it strays
 * outside the arena.  Output is KTAP.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ring.h"

#define ARENA_SIZE	(1 << 20)
#define GPA_BASE	0x10000000ULL
#define NUM		16

static unsigned char arena[ARENA_SIZE] __attribute__((aligned(4096)));
static unsigned int stray;	/* accesses outside the arena */
static unsigned int failed, passed, ntest;

int vhx_user_read(void *dst, u64 uaddr, size_t len)
{
	u64 base = (uintptr_t)arena;

	if (uaddr < base || len > ARENA_SIZE || uaddr - base > ARENA_SIZE - len) {
		stray++;
		return -EFAULT;
	}
	memcpy(dst, (void *)(uintptr_t)uaddr, len);
	return 0;
}

int vhx_user_write(u64 uaddr, const void *src, size_t len)
{
	u64 base = (uintptr_t)arena;

	if (uaddr < base || len > ARENA_SIZE || uaddr - base > ARENA_SIZE - len) {
		stray++;
		return -EFAULT;
	}
	memcpy((void *)(uintptr_t)uaddr, src, len);
	return 0;
}

/* Guest layout: rings at the start of the arena, buffers from 64 KiB. */
#define DESC_OFF	0x0
#define AVAIL_OFF	0x1000
#define USED_OFF	0x2000
#define BUF_OFF		0x10000

static struct {
	struct vhx_mem mem;
	struct vhx_mem_region r[2];
} table;

static struct vhx_ring ring;
static struct iovec iov[VHX_IOV_MAX];
static u16 avail_next;

static u64 uaddr_of(u64 off)
{
	return (uintptr_t)arena + off;
}

static void *at(u64 off)
{
	return arena + off;
}

static u64 gpa(u64 off)
{
	return GPA_BASE + off;
}

static void setup(u32 num)
{
	memset(arena, 0, sizeof(arena));
	table.mem.nregions = 1;
	table.r[0] = (struct vhx_mem_region){
		.gpa = GPA_BASE, .size = ARENA_SIZE, .uaddr = uaddr_of(0) };
	memset(&ring, 0, sizeof(ring));
	ring.mem = &table.mem;
	ring.num = num;
	ring.desc = uaddr_of(DESC_OFF);
	ring.avail = uaddr_of(AVAIL_OFF);
	ring.used = uaddr_of(USED_OFF);
	ring.indirect = true;
	avail_next = 0;
	stray = 0;
}

static void set_desc(u64 table_off, u16 i, u64 addr, u32 len, u16 flags,
		     u16 next)
{
	struct vhx_desc *d = at(table_off + 16 * (u64)i);

	d->addr = cpu_to_le64(addr);
	d->len = cpu_to_le32(len);
	d->flags = cpu_to_le16(flags);
	d->next = cpu_to_le16(next);
}

static void publish(u16 head)
{
	u16 *ring_entry = at(AVAIL_OFF + 4 + 2 * (u64)(avail_next % ring.num));
	u16 *idx = at(AVAIL_OFF + 2);

	*ring_entry = cpu_to_le16(head);
	*idx = cpu_to_le16(++avail_next);
}

static void set_avail_idx(u16 v)
{
	*(u16 *)at(AVAIL_OFF + 2) = cpu_to_le16(v);
}

static u16 used_idx(void)
{
	return le16_to_cpu(*(u16 *)at(USED_OFF + 2));
}

static void report(bool ok, const char *name)
{
	ntest++;
	if (ok && !stray) {
		passed++;
		printf("ok %u - %s\n", ntest, name);
		return;
	}
	failed++;
	if (stray)
		printf("# %u accesses outside guest memory\n", stray);
	printf("not ok %u - %s\n", ntest, name);
}

static int get(struct vhx_chain *c)
{
	return vhx_ring_get(&ring, c, iov, VHX_IOV_MAX);
}

static void test_simple_chain(void)
{
	struct vhx_chain c;
	int ret, ret2;

	setup(NUM);
	set_desc(DESC_OFF, 3, gpa(BUF_OFF), 100, VHX_DESC_F_NEXT, 7);
	set_desc(DESC_OFF, 7, gpa(BUF_OFF + 0x1000), 200,
		 VHX_DESC_F_WRITE, 0);
	publish(3);
	ret = get(&c);
	ret2 = get(&c);
	report(ret == 1 && c.head == 3 && c.out == 1 && c.in == 1 &&
	       c.out_len == 100 && c.in_len == 200 &&
	       iov[0].iov_base == at(BUF_OFF) && iov[0].iov_len == 100 &&
	       iov[1].iov_base == at(BUF_OFF + 0x1000) &&
	       iov[1].iov_len == 200 && ret2 == 0 && ring.last_avail == 1,
	       "ring_simple_chain");
}

static void test_empty(void)
{
	struct vhx_chain c;

	setup(NUM);
	report(get(&c) == 0 && ring.last_avail == 0, "ring_empty");
}

/* A bad chain returns err and is not consumed. */
static void expect_bad(const char *name, int err)
{
	struct vhx_chain c;
	int ret = get(&c);

	if (ret != err)
		printf("# %s: got %d, want %d\n", name, ret, err);
	report(ret == err && ring.last_avail == 0, name);
}

static void test_bad_head(void)
{
	setup(NUM);
	publish(NUM);
	expect_bad("ring_head_out_of_range", -EINVAL);
}

static void test_bad_next(void)
{
	setup(NUM);
	set_desc(DESC_OFF, 0, gpa(BUF_OFF), 10, VHX_DESC_F_NEXT, NUM + 5);
	publish(0);
	expect_bad("ring_next_out_of_range", -EINVAL);
}

static void test_loop(void)
{
	setup(NUM);
	set_desc(DESC_OFF, 0, gpa(BUF_OFF), 10, VHX_DESC_F_NEXT, 1);
	set_desc(DESC_OFF, 1, gpa(BUF_OFF), 10, VHX_DESC_F_NEXT, 0);
	publish(0);
	expect_bad("ring_descriptor_loop", -ELOOP);
}

static void test_self_loop_zero_len(void)
{
	/* Zero-length descriptors add no iov: the step count must stop it. */
	setup(NUM);
	set_desc(DESC_OFF, 2, 0, 0, VHX_DESC_F_NEXT, 2);
	publish(2);
	expect_bad("ring_zero_length_self_loop", -ELOOP);
}

static void test_addr_outside(void)
{
	setup(NUM);
	set_desc(DESC_OFF, 0, gpa(ARENA_SIZE), 10, 0, 0);
	publish(0);
	expect_bad("ring_buffer_outside_table", -EFAULT);
}

static void test_addr_wraps(void)
{
	setup(NUM);
	set_desc(DESC_OFF, 0, ~0ULL - 8, 64, 0, 0);
	publish(0);
	expect_bad("ring_buffer_wraps_2_64", -EFAULT);
}

static void test_addr_spans_end(void)
{
	setup(NUM);
	set_desc(DESC_OFF, 0, gpa(ARENA_SIZE - 8), 16, 0, 0);
	publish(0);
	expect_bad("ring_buffer_spans_region_end", -EFAULT);
}

static void test_two_regions(void)
{
	struct vhx_chain c;
	int ret;

	/* gpa-contiguous regions backed by distant user addresses. */
	setup(NUM);
	table.mem.nregions = 2;
	table.r[0].size = ARENA_SIZE / 2;
	table.r[1] = (struct vhx_mem_region){
		.gpa = GPA_BASE + ARENA_SIZE / 2, .size = ARENA_SIZE / 4,
		.uaddr = uaddr_of(ARENA_SIZE * 3 / 4) };
	set_desc(DESC_OFF, 0, gpa(ARENA_SIZE / 2 - 16), 32, 0, 0);
	publish(0);
	ret = get(&c);
	report(ret == 1 && c.out == 2 && iov[0].iov_len == 16 &&
	       iov[1].iov_base == at(ARENA_SIZE * 3 / 4) &&
	       iov[1].iov_len == 16 && c.out_len == 32 &&
	       vhx_mem_check(&table.mem) == 0, "ring_buffer_spans_two_regions");
}

static void test_write_before_read(void)
{
	setup(NUM);
	set_desc(DESC_OFF, 0, gpa(BUF_OFF), 10, VHX_DESC_F_WRITE |
		 VHX_DESC_F_NEXT, 1);
	set_desc(DESC_OFF, 1, gpa(BUF_OFF + 64), 10, 0, 0);
	publish(0);
	expect_bad("ring_writable_before_readable", -EINVAL);
}

static void test_avail_jump(void)
{
	setup(NUM);
	set_avail_idx(NUM + 1);
	expect_bad("ring_avail_idx_jumps_past_num", -EINVAL);
}

#define IND_OFF	0x8000

static void test_indirect_ok(void)
{
	struct vhx_chain c;
	int ret;

	setup(NUM);
	set_desc(IND_OFF, 0, gpa(BUF_OFF), 12, VHX_DESC_F_NEXT, 2);
	set_desc(IND_OFF, 2, gpa(BUF_OFF + 0x100), 30, VHX_DESC_F_NEXT, 1);
	set_desc(IND_OFF, 1, gpa(BUF_OFF + 0x200), 1, VHX_DESC_F_WRITE, 0);
	set_desc(DESC_OFF, 5, gpa(IND_OFF), 3 * 16, VHX_DESC_F_INDIRECT, 0);
	publish(5);
	ret = get(&c);
	report(ret == 1 && c.head == 5 && c.out == 2 && c.in == 1 &&
	       c.out_len == 42 && c.in_len == 1 &&
	       iov[2].iov_base == at(BUF_OFF + 0x200), "ring_indirect");
}

static void indirect_case(const char *name, u32 len, u16 flags, int err,
			  bool feature)
{
	setup(NUM);
	ring.indirect = feature;
	set_desc(IND_OFF, 0, gpa(BUF_OFF), 12, 0, 0);
	set_desc(DESC_OFF, 0, gpa(IND_OFF), len, VHX_DESC_F_INDIRECT | flags,
		 1);
	publish(0);
	expect_bad(name, err);
}

static void test_indirect_bad(void)
{
	indirect_case("ring_indirect_len_not_multiple_of_16", 24, 0, -EINVAL,
		      true);
	indirect_case("ring_indirect_zero_len", 0, 0, -EINVAL, true);
	indirect_case("ring_indirect_without_feature", 16, 0, -EINVAL, false);
	indirect_case("ring_indirect_with_next", 16, VHX_DESC_F_NEXT, -EINVAL,
		      true);

	setup(NUM);
	set_desc(IND_OFF, 0, gpa(IND_OFF), 16, VHX_DESC_F_INDIRECT, 0);
	set_desc(DESC_OFF, 0, gpa(IND_OFF), 16, VHX_DESC_F_INDIRECT, 0);
	publish(0);
	expect_bad("ring_indirect_nested", -EINVAL);

	setup(NUM);
	set_desc(IND_OFF, 0, gpa(BUF_OFF), 4, VHX_DESC_F_NEXT, 1);
	set_desc(IND_OFF, 1, gpa(BUF_OFF), 4, VHX_DESC_F_NEXT, 0);
	set_desc(DESC_OFF, 0, gpa(IND_OFF), 32, VHX_DESC_F_INDIRECT, 0);
	publish(0);
	expect_bad("ring_indirect_loop", -ELOOP);

	setup(NUM);
	set_desc(IND_OFF, 0, gpa(BUF_OFF), 4, VHX_DESC_F_NEXT, 2);
	set_desc(DESC_OFF, 0, gpa(IND_OFF), 32, VHX_DESC_F_INDIRECT, 0);
	publish(0);
	expect_bad("ring_indirect_next_out_of_table", -EINVAL);

	setup(NUM);
	set_desc(DESC_OFF, 0, gpa(ARENA_SIZE - 16), 32, VHX_DESC_F_INDIRECT,
		 0);
	publish(0);
	expect_bad("ring_indirect_table_outside", -EFAULT);

	setup(NUM);
	for (int i = 0; i <= NUM; i++)
		set_desc(IND_OFF, i, gpa(BUF_OFF), 4,
			 i < NUM ? VHX_DESC_F_NEXT : 0, i + 1);
	set_desc(DESC_OFF, 0, gpa(IND_OFF), 16 * (NUM + 1),
		 VHX_DESC_F_INDIRECT, 0);
	publish(0);
	expect_bad("ring_indirect_chain_longer_than_ring", -E2BIG);
}

static void test_too_many_segments(void)
{
	struct vhx_chain c;
	int ret;

	setup(NUM);
	for (int i = 0; i < 4; i++)
		set_desc(DESC_OFF, i, gpa(BUF_OFF), 8, VHX_DESC_F_NEXT, i + 1);
	set_desc(DESC_OFF, 4, gpa(BUF_OFF), 8, 0, 0);
	publish(0);
	ret = vhx_ring_get(&ring, &c, iov, 3);
	report(ret == -ENOBUFS && ring.last_avail == 0,
	       "ring_too_many_segments");
}

static void test_chain_longer_than_ring(void)
{
	/* num descriptors each chained to the next, the last back to 0. */
	setup(NUM);
	for (int i = 0; i < NUM; i++)
		set_desc(DESC_OFF, i, gpa(BUF_OFF), 8, VHX_DESC_F_NEXT,
			 (i + 1) % NUM);
	publish(0);
	expect_bad("ring_chain_longer_than_ring", -ELOOP);
}

static void test_put_wraps(void)
{
	struct vhx_used_elem e[3];
	struct vhx_used_elem *used = at(USED_OFF + 4);
	int ret;

	setup(4);
	*(u16 *)at(USED_OFF + 2) = cpu_to_le16(2);
	ret = vhx_ring_start(&ring);
	for (int i = 0; i < 3; i++) {
		e[i].id = cpu_to_le32(10 + i);
		e[i].len = cpu_to_le32(100 + i);
	}
	ret |= vhx_ring_put(&ring, e, 3);
	report(!ret && used_idx() == 5 && ring.used_idx == 5 &&
	       le32_to_cpu(used[2].id) == 10 && le32_to_cpu(used[3].id) == 11 &&
	       le32_to_cpu(used[0].id) == 12 && le32_to_cpu(used[0].len) == 102,
	       "ring_used_put_wraps");
}

static void test_event_idx_call(void)
{
	struct vhx_used_elem e = { 0 };
	u16 *used_event = at(AVAIL_OFF + 4 + 2 * NUM);
	int first, second, third;

	setup(NUM);
	ring.event_idx = true;
	vhx_ring_start(&ring);
	*used_event = cpu_to_le16(0);
	vhx_ring_put(&ring, &e, 1);		/* used 0 -> 1 */
	first = vhx_ring_need_call(&ring);	/* first call always */
	*used_event = cpu_to_le16(5);
	vhx_ring_put(&ring, &e, 1);		/* 1 -> 2: event 5 not crossed */
	second = vhx_ring_need_call(&ring);
	for (int i = 0; i < 4; i++)
		vhx_ring_put(&ring, &e, 1);	/* 2 -> 6: crosses 5 */
	third = vhx_ring_need_call(&ring);
	report(first == 1 && second == 0 && third == 1, "ring_event_idx_call");
}

static void test_no_interrupt_flag(void)
{
	struct vhx_used_elem e = { 0 };
	u16 *flags = at(AVAIL_OFF);
	int a, b;

	setup(NUM);
	vhx_ring_start(&ring);
	*flags = cpu_to_le16(VHX_AVAIL_F_NO_INTERRUPT);
	vhx_ring_put(&ring, &e, 1);
	a = vhx_ring_need_call(&ring);
	ring.notify_on_empty = true;	/* ring is empty: call anyway */
	b = vhx_ring_need_call(&ring);
	report(a == 0 && b == 1, "ring_no_interrupt_and_notify_on_empty");
}

static void test_notify(void)
{
	u16 *used_flags = at(USED_OFF);
	u16 *avail_event = at(USED_OFF + 4 + 8 * NUM);
	int off, on, on_pending, again, ev;

	setup(NUM);
	vhx_ring_start(&ring);
	off = vhx_ring_notify_off(&ring);
	off |= le16_to_cpu(*used_flags) != VHX_USED_F_NO_NOTIFY;
	on = vhx_ring_notify_on(&ring);
	on |= *used_flags != 0;
	set_desc(DESC_OFF, 0, gpa(BUF_OFF), 8, 0, 0);
	publish(0);
	on_pending = vhx_ring_notify_on(&ring);
	/* Seen but not taken (or given back) is not a reason to go on. */
	again = vhx_ring_notify_on(&ring);
	ring.event_idx = true;
	ring.avail_idx = 1;
	vhx_ring_notify_on(&ring);
	ev = le16_to_cpu(*avail_event);
	report(!off && on == 0 && on_pending == 1 && again == 0 && ev == 1,
	       "ring_notify");
}

static void test_start_checks(void)
{
	int bad_num, outside, ok;

	setup(12);
	bad_num = vhx_ring_start(&ring);
	setup(NUM);
	ring.used = uaddr_of(ARENA_SIZE - 8);
	outside = vhx_ring_start(&ring);
	setup(NUM);
	ok = vhx_ring_start(&ring);
	report(bad_num == -EINVAL && outside == -EFAULT && ok == 0,
	       "ring_start_checks_layout");
}

static void test_mem_check(void)
{
	struct {
		struct vhx_mem mem;
		struct vhx_mem_region r[2];
	} t = { .mem.nregions = 2 };
	int overlap, empty, wrap, ok;

	t.r[0] = (struct vhx_mem_region){ .gpa = 0, .size = 0x2000,
					  .uaddr = 0x10000 };
	t.r[1] = (struct vhx_mem_region){ .gpa = 0x1000, .size = 0x1000,
					  .uaddr = 0x40000 };
	overlap = vhx_mem_check(&t.mem);
	t.r[1].gpa = 0x2000;
	ok = vhx_mem_check(&t.mem);
	t.r[1].size = 0;
	empty = vhx_mem_check(&t.mem);
	t.r[1].size = ~0ULL - 0x1000;
	wrap = vhx_mem_check(&t.mem);
	report(overlap == -EINVAL && ok == 0 && empty == -EFAULT &&
	       wrap == -EFAULT, "mem_table_checks");
}

/*
 * Random rings: whatever the guest writes, the walker must return a
 * result without straying, and every segment it hands out must lie inside
 * guest memory.
 */
static void test_random_rings(void)
{
	unsigned int seed = 1, bad = 0, got = 0, iter;
	struct vhx_chain c;

	for (iter = 0; iter < 20000; iter++) {
		setup(NUM);
		for (u64 i = 0; i < 0x3000; i++)
			arena[i] = rand_r(&seed);
		/* Point most addresses into guest memory to go deep. */
		for (int i = 0; i < NUM; i++) {
			struct vhx_desc *d = at(DESC_OFF + 16 * i);

			if (rand_r(&seed) % 4)
				d->addr = cpu_to_le64(gpa(rand_r(&seed) %
							  0x4000));
			if (rand_r(&seed) % 2)
				d->len = cpu_to_le32(rand_r(&seed) % 256);
		}
		for (int i = 0; i < NUM; i++)
			if (rand_r(&seed) % 8)
				*(u16 *)at(AVAIL_OFF + 4 + 2 * i) =
					cpu_to_le16(rand_r(&seed) % NUM);
		ring.last_avail = le16_to_cpu(*(u16 *)at(AVAIL_OFF + 2)) -
				  rand_r(&seed) % 3;
		ring.avail_idx = ring.last_avail;
		for (int n = 0; n < 4; n++) {
			int ret = get(&c);

			if (ret != 1)
				break;
			got++;
			for (u32 k = 0; k < c.out + c.in; k++) {
				u64 b = (uintptr_t)iov[k].iov_base;

				if (b < uaddr_of(0) ||
				    b + iov[k].iov_len > uaddr_of(ARENA_SIZE))
					bad++;
			}
		}
		if (stray)
			break;
	}
	printf("# %u random chains accepted\n", got);
	report(!bad && got > 0, "ring_random_rings_stay_inside");
}

int main(void)
{
	printf("TAP version 13\n1..31\n");
	test_simple_chain();
	test_empty();
	test_bad_head();
	test_bad_next();
	test_loop();
	test_self_loop_zero_len();
	test_addr_outside();
	test_addr_wraps();
	test_addr_spans_end();
	test_two_regions();
	test_write_before_read();
	test_avail_jump();
	test_indirect_ok();
	test_indirect_bad();
	test_too_many_segments();
	test_chain_longer_than_ring();
	test_put_wraps();
	test_event_idx_call();
	test_no_interrupt_flag();
	test_notify();
	test_start_checks();
	test_mem_check();
	test_random_rings();
	printf("# %u passed, %u failed\n", passed, failed);
	if (ntest != 31)
		printf("# plan mismatch: ran %u\n", ntest);
	return failed || ntest != 31;
}
