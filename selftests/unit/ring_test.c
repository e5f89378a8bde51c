// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit tests of the split ring walker (kmod/ring.c), built for
 * userspace.  Guest memory is an arena; every access the walker makes goes
 * through vhx_user_read/write below, which fail the test if it strays
 * outside the arena.  Output is KTAP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ring.h"

#define ARENA_SIZE	(1 << 20)
#define GPA_BASE	0x10000000ULL
#define NUM		16
#define NTESTS		44	/* results main() reports */

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
	struct vhx_mem_region r[3];
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
}

/* An indirect table of n entries, each chained to the next. */
static void indirect_of(u32 n, u32 len)
{
	setup(NUM);
	for (u32 i = 0; i < n; i++)
		set_desc(IND_OFF, i, gpa(BUF_OFF), len,
			 i + 1 < n ? VHX_DESC_F_NEXT : 0, i + 1);
	set_desc(DESC_OFF, 0, gpa(IND_OFF), 16 * n, VHX_DESC_F_INDIRECT, 0);
	publish(0);
}

/*
 * A table longer than the ring is what Linux sends when seg_max + 2 is
 * more than the queue size: taken, up to VHX_IOV_MAX entries.
 */
static void test_indirect_longer_than_ring(void)
{
	struct vhx_chain c;
	int ret;

	indirect_of(NUM + 1, 4);
	ret = get(&c);
	report(ret == 1 && c.ndesc == NUM + 1 && c.out == NUM + 1 &&
	       c.out_len == 4 * (NUM + 1), "ring_indirect_longer_than_ring");

	indirect_of(VHX_IOV_MAX, 0);
	ret = get(&c);
	report(ret == 1 && c.ndesc == VHX_IOV_MAX && !c.out,
	       "ring_indirect_of_iov_max");
	indirect_of(VHX_IOV_MAX + 1, 0);
	expect_bad("ring_indirect_longer_than_iov_max", -E2BIG);
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

/* Write len bytes at a guest address, through the memory table. */
static void gpa_write(u64 g, const void *src, u32 len)
{
	const unsigned char *p = src;

	for (u32 k = 0; k < len; k++) {
		const struct vhx_mem_region *r;

		r = vhx_mem_find(&table.mem, g + k);
		*(unsigned char *)(uintptr_t)(r->uaddr + (g + k - r->gpa)) =
			p[k];
	}
}

static void gpa_desc(u64 g, u64 addr, u32 len, u16 flags, u16 next)
{
	struct vhx_desc d = {
		.addr = cpu_to_le64(addr), .len = cpu_to_le32(len),
		.flags = cpu_to_le16(flags), .next = cpu_to_le16(next) };

	gpa_write(g, &d, sizeof(d));
}

/*
 * The iov array is exactly iov_max entries on the heap, so one entry
 * written past it is an ASan report (CVE-2018-16880 class).  A chain of
 * iov_max segments fits, one more is -ENOBUFS.
 */
static void test_iov_exact_size(void)
{
	struct iovec *small = malloc(3 * sizeof(*small));
	struct vhx_chain c;
	int fits, over, one, two;
	u32 n1 = 0, n2 = 0, taken;

	setup(NUM);
	for (int i = 0; i < 3; i++)
		set_desc(DESC_OFF, i, gpa(BUF_OFF + 64 * i), 8,
			 i < 2 ? VHX_DESC_F_NEXT : 0, i + 1);
	publish(0);
	fits = vhx_ring_get(&ring, &c, small, 3);
	fits = fits == 1 && c.out == 3 &&
	       small[2].iov_base == at(BUF_OFF + 128);
	set_desc(DESC_OFF, 2, gpa(BUF_OFF + 128), 8, VHX_DESC_F_NEXT, 3);
	set_desc(DESC_OFF, 3, gpa(BUF_OFF + 192), 8, 0, 0);
	publish(0);
	over = vhx_ring_get(&ring, &c, small, 3);
	taken = ring.last_avail;
	free(small);

	/* Straight into vhx_mem_to_iov: two regions need two entries. */
	setup(NUM);
	table.mem.nregions = 2;
	table.r[0].size = ARENA_SIZE / 2;
	table.r[1] = (struct vhx_mem_region){
		.gpa = GPA_BASE + ARENA_SIZE / 2, .size = ARENA_SIZE / 4,
		.uaddr = uaddr_of(ARENA_SIZE * 3 / 4) };
	small = malloc(sizeof(*small));
	one = vhx_mem_to_iov(&table.mem, gpa(ARENA_SIZE / 2 - 4), 8, small, 1,
			     &n1);
	free(small);
	small = malloc(2 * sizeof(*small));
	two = vhx_mem_to_iov(&table.mem, gpa(ARENA_SIZE / 2 - 4), 8, small, 2,
			     &n2);
	two = two == 0 && n2 == 2 &&
	      small[1].iov_base == at(ARENA_SIZE * 3 / 4) &&
	      small[1].iov_len == 4;
	free(small);
	if (!fits || over != -ENOBUFS || one != -ENOBUFS || !two)
		printf("# fits %d, over %d, one %d, two %d\n", fits, over, one,
		       two);
	report(fits && over == -ENOBUFS && taken == 1 && one == -ENOBUFS &&
	       two, "ring_iov_exact_size");
}

static void test_next_is_num(void)
{
	struct vhx_chain c;
	int ok;

	setup(NUM);
	set_desc(DESC_OFF, 0, gpa(BUF_OFF), 10, VHX_DESC_F_NEXT, NUM - 1);
	set_desc(DESC_OFF, NUM - 1, gpa(BUF_OFF), 10, 0, 0);
	publish(0);
	ok = get(&c) == 1 && c.ndesc == 2;
	set_desc(DESC_OFF, 0, gpa(BUF_OFF), 10, VHX_DESC_F_NEXT, NUM);
	publish(0);
	ok = ok && get(&c) == -EINVAL && ring.last_avail == 1;
	/* Same bound inside an indirect table: next == its length. */
	setup(NUM);
	set_desc(IND_OFF, 0, gpa(BUF_OFF), 4, VHX_DESC_F_NEXT, 2);
	set_desc(IND_OFF, 1, gpa(BUF_OFF), 4, 0, 0);
	set_desc(DESC_OFF, 0, gpa(IND_OFF), 32, VHX_DESC_F_INDIRECT, 0);
	publish(0);
	report(ok && get(&c) == -EINVAL && ring.last_avail == 0,
	       "ring_next_equals_num");
}

/* A chain of exactly num descriptors is legal, direct or indirect. */
static void test_chain_of_num(void)
{
	struct vhx_chain c;
	int direct, indirect;

	setup(NUM);
	for (int i = 0; i < NUM; i++)
		set_desc(DESC_OFF, i, gpa(BUF_OFF + 16 * i), 8,
			 i < NUM - 1 ? VHX_DESC_F_NEXT : 0, i + 1);
	publish(0);
	direct = get(&c) == 1 && c.ndesc == NUM && c.out == NUM;
	for (int i = 0; i < NUM; i++)
		set_desc(IND_OFF, i, gpa(BUF_OFF + 16 * i), 8,
			 (i < NUM - 1 ? VHX_DESC_F_NEXT : 0) |
			 (i >= NUM / 2 ? VHX_DESC_F_WRITE : 0), i + 1);
	set_desc(DESC_OFF, 3, gpa(IND_OFF), 16 * NUM, VHX_DESC_F_INDIRECT, 0);
	publish(3);
	indirect = get(&c) == 1 && c.head == 3 && c.ndesc == NUM &&
		   c.out == NUM / 2 && c.in == NUM / 2 &&
		   iov[NUM - 1].iov_base == at(BUF_OFF + 16 * (NUM - 1));
	report(direct && indirect && ring.last_avail == 2,
	       "ring_chain_of_exactly_num");
}

/* avail->idx - last_avail == num: every entry is there, all of them. */
static void test_full_ring(void)
{
	struct vhx_chain c;
	int got = 0;

	setup(NUM);
	ring.last_avail = 0xfffa;	/* and across the 16-bit wrap */
	avail_next = 0xfffa;
	for (int i = 0; i < NUM; i++) {
		set_desc(DESC_OFF, i, gpa(BUF_OFF), 8, 0, 0);
		publish(i);
	}
	vhx_ring_start(&ring);
	while (get(&c) == 1 && got <= NUM)
		got += c.head == (u16)(got);
	report(got == NUM && ring.last_avail == (u16)(0xfffa + NUM) &&
	       get(&c) == 0, "ring_full_ring");
}

/* Rings and buffers may end on the region's last byte, not one past. */
static void test_region_end_exact(void)
{
	u64 end = uaddr_of(ARENA_SIZE);
	struct vhx_chain c;
	int starts[6], bufs[2];
	bool holds;

	setup(NUM);
	ring.desc = end - 16 * NUM;
	starts[0] = vhx_ring_start(&ring);
	ring.desc++;
	starts[1] = vhx_ring_start(&ring);
	setup(NUM);
	ring.avail = end - (6 + 2 * NUM);
	starts[2] = vhx_ring_start(&ring);
	ring.avail++;
	starts[3] = vhx_ring_start(&ring);
	setup(NUM);
	ring.used = end - (6 + 8 * NUM);
	starts[4] = vhx_ring_start(&ring);
	ring.used++;
	starts[5] = vhx_ring_start(&ring);

	setup(NUM);
	set_desc(DESC_OFF, 0, gpa(ARENA_SIZE - 16), 16, 0, 0);
	publish(0);
	bufs[0] = get(&c);
	set_desc(DESC_OFF, 0, gpa(ARENA_SIZE - 16), 17, 0, 0);
	publish(0);
	bufs[1] = get(&c);
	holds = vhx_mem_holds_uaddr(&table.mem, end - 1, 1) &&
		!vhx_mem_holds_uaddr(&table.mem, end - 1, 2) &&
		!vhx_mem_holds_uaddr(&table.mem, end, 1) &&
		vhx_mem_find(&table.mem, gpa(ARENA_SIZE - 1)) == &table.r[0] &&
		!vhx_mem_find(&table.mem, gpa(ARENA_SIZE)) &&
		!vhx_mem_find(&table.mem, GPA_BASE - 1);
	report(!starts[0] && starts[1] == -EFAULT && !starts[2] &&
	       starts[3] == -EFAULT && !starts[4] && starts[5] == -EFAULT &&
	       bufs[0] == 1 && bufs[1] == -EFAULT && holds,
	       "ring_region_end_exact");
}

/*
 * Tables the module must refuse by one byte: an overlap of one byte, a
 * region whose user range (or guest range) wraps 2^64 while the other
 * does not.  And user ranges whose end wraps are not "held".
 */
static void test_mem_check_edges(void)
{
	struct {
		struct vhx_mem mem;
		struct vhx_mem_region r[2];
	} t = { .mem.nregions = 2 };
	int adjacent, overlap1, uwrap, gwrap, top;
	bool held, wrap_held;

	t.r[0] = (struct vhx_mem_region){ .gpa = 0x10000, .size = 0x2000,
					  .uaddr = 0x100000 };
	t.r[1] = (struct vhx_mem_region){ .gpa = 0x12000, .size = 0x1000,
					  .uaddr = 0x400000 };
	adjacent = vhx_mem_check(&t.mem);
	t.r[1].gpa = 0x11fff;
	overlap1 = vhx_mem_check(&t.mem);
	t.r[1].gpa = 0x12000;
	t.r[1].uaddr = ~0ULL - 0xfff;	/* uaddr + size wraps, gpa does not */
	uwrap = vhx_mem_check(&t.mem);
	t.r[1].uaddr = 0x400000;
	t.r[1].gpa = ~0ULL - 0xfff + 1;	/* gpa + size wraps to 0 */
	t.r[1].size = 0x1000;
	gwrap = vhx_mem_check(&t.mem);
	t.r[1].gpa = ~0ULL - 0x1000;	/* ends at 2^64 - 1: still fine */
	top = vhx_mem_check(&t.mem);
	held = vhx_mem_holds_uaddr(&t.mem, 0x100010, 0x1ff0);
	wrap_held = vhx_mem_holds_uaddr(&t.mem, 0x100010, ~0ULL - 7) ||
		    vhx_mem_holds_uaddr(&t.mem, 0x400010, ~0ULL - 0xf);
	report(adjacent == 0 && overlap1 == -EINVAL && uwrap == -EFAULT &&
	       gwrap == -EFAULT && top == 0 && held && !wrap_held,
	       "mem_table_edges");
}

/*
 * Regions at the top of the guest address space: a range that ends on
 * the last usable byte works; one that runs over 2^64 is -EFAULT, even
 * when the iov has room for a single segment only.
 */
static void test_gpa_wraps(void)
{
	const u64 top = ~0ULL - 0x2000 + 1;	/* regions at top, top+0x1000 */
	struct iovec two[2];
	struct vhx_chain c;
	int ok, wrap1, wrap4, ring_wrap;
	u32 n = 0;

	setup(NUM);
	table.mem.nregions = 2;
	table.r[0] = (struct vhx_mem_region){
		.gpa = top, .size = 0x1000, .uaddr = uaddr_of(0x40000) };
	table.r[1] = (struct vhx_mem_region){
		.gpa = top + 0x1000, .size = 0xfff,
		.uaddr = uaddr_of(0x80000) };
	ok = vhx_mem_check(&table.mem) == 0 &&
	     vhx_mem_to_iov(&table.mem, top + 0x800, 0x17ff, two, 2, &n) == 0 &&
	     n == 2 && two[1].iov_base == at(0x80000) &&
	     two[1].iov_len == 0xfff;
	n = 0;
	wrap1 = vhx_mem_to_iov(&table.mem, top + 0x800, 0x1810, two, 1, &n);
	n = 0;
	wrap4 = vhx_mem_to_iov(&table.mem, top + 0x800, 0x1810, iov, 4, &n);
	/* The walker's rings live in the arena: add it as a third region. */
	table.mem.nregions = 3;
	table.r[2] = table.r[1];
	table.r[1] = table.r[0];
	table.r[0] = (struct vhx_mem_region){
		.gpa = GPA_BASE, .size = 0x10000, .uaddr = uaddr_of(0) };
	set_desc(DESC_OFF, 0, top + 0x800, 0x1810, 0, 0);
	publish(0);
	ring_wrap = vhx_ring_get(&ring, &c, iov, 1);
	report(ok && wrap1 == -EFAULT && wrap4 == -EFAULT &&
	       ring_wrap == -EFAULT && ring.last_avail == 0,
	       "ring_gpa_wraps_2_64");
}

/*
 * An indirect table across two regions whose host memory is not
 * contiguous: the descriptor cut by the boundary is read in two pieces.
 */
static void test_indirect_straddles(void)
{
	u64 t = gpa(ARENA_SIZE / 2 - 8);	/* entry 0 is cut in half */
	struct vhx_chain c;
	int ret;

	setup(NUM);
	table.mem.nregions = 2;
	table.r[0].size = ARENA_SIZE / 2;
	table.r[1] = (struct vhx_mem_region){
		.gpa = GPA_BASE + ARENA_SIZE / 2, .size = ARENA_SIZE / 4,
		.uaddr = uaddr_of(ARENA_SIZE * 3 / 4) };
	gpa_desc(t, gpa(BUF_OFF), 40, VHX_DESC_F_NEXT, 1);
	gpa_desc(t + 16, gpa(BUF_OFF + 0x100), 24, VHX_DESC_F_WRITE, 0);
	set_desc(DESC_OFF, 2, t, 32, VHX_DESC_F_INDIRECT, 0);
	publish(2);
	ret = get(&c);
	report(ret == 1 && c.head == 2 && c.ndesc == 2 && c.out == 1 &&
	       c.in == 1 && c.out_len == 40 && c.in_len == 24 &&
	       iov[0].iov_base == at(BUF_OFF) &&
	       iov[1].iov_base == at(BUF_OFF + 0x100),
	       "ring_indirect_table_straddles_regions");
}

/* A (re)started ring reads avail->idx afresh, whatever it had cached. */
static void test_restart_rereads_avail(void)
{
	struct vhx_chain c;
	int first, after;

	setup(NUM);
	set_desc(DESC_OFF, 0, gpa(BUF_OFF), 8, 0, 0);
	vhx_ring_start(&ring);
	publish(0);
	publish(0);
	first = get(&c);		/* caches avail_idx 2, takes one */
	/* The guest resets its ring; the owner sets the base back to 0. */
	set_avail_idx(0);
	ring.last_avail = 0;
	vhx_ring_start(&ring);
	after = get(&c);
	report(first == 1 && after == 0 && ring.last_avail == 0,
	       "ring_start_rereads_avail_idx");
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

/* What the used-ring hook saw, in order. */
static struct { u64 off, len; } logged[16];
static int nlogged, log_ret;

static int record_log(struct vhx_ring *r, u64 off, u64 len)
{
	(void)r;
	if (nlogged < 16) {
		logged[nlogged].off = off;
		logged[nlogged].len = len;
	}
	nlogged++;
	return log_ret;
}

static bool logged_is(int i, u64 off, u64 len)
{
	return i < nlogged && logged[i].off == off && logged[i].len == len;
}

/*
 * With VHOST_VRING_F_LOG every store into the used ring is reported to
 * the hook after it is made, as offsets into the used ring: a wrapped put
 * as its two runs of entries then the index, the flags, the avail event.
 * A hook that fails fails the store, and the index does not move.
 */
static void test_used_log(void)
{
	struct vhx_used_elem e[3] = {};
	int put, off, on, bad;

	setup(4);
	*(u16 *)at(USED_OFF + 2) = cpu_to_le16(2);
	vhx_ring_start(&ring);
	ring.log_used = record_log;
	nlogged = 0;
	log_ret = 0;
	put = vhx_ring_put(&ring, e, 3);
	off = vhx_ring_notify_off(&ring);
	ring.event_idx = true;
	on = vhx_ring_notify_on(&ring);
	log_ret = -EFAULT;
	bad = vhx_ring_put(&ring, e, 1);
	report(!put && !off && on >= 0 && bad == -EFAULT && ring.used_idx == 5 &&
	       nlogged == 6 && logged_is(0, 4 + 8 * 2, 16) &&
	       logged_is(1, 4, 8) && logged_is(2, 2, 2) &&
	       logged_is(3, 0, 2) && logged_is(4, 4 + 8 * 4, 2) &&
	       logged_is(5, 4 + 8 * 1, 8),
	       "ring_used_log");
	ring.log_used = NULL;
}

/*
 * vhx_ring_put with num = 4: 5 entries are refused, with nothing written;
 * exactly 4 land at every start offset (across the 16-bit wrap too), and
 * nothing past the used ring changes.
 */
static void test_put_bounds(void)
{
	const u64 used_len = 6 + 8 * 4;
	unsigned char before[64], *used = at(USED_OFF);
	struct vhx_used_elem e[5];
	int over, ok = 1;

	for (int i = 0; i < 5; i++) {
		e[i].id = cpu_to_le32(20 + i);
		e[i].len = cpu_to_le32(200 + i);
	}
	setup(4);
	memset(used, 0xa5, sizeof(before));	/* canary past the ring too */
	*(u16 *)at(USED_OFF + 2) = cpu_to_le16(1);
	vhx_ring_start(&ring);
	memcpy(before, used, sizeof(before));
	over = vhx_ring_put(&ring, e, 5);
	ok = over == -EINVAL && !memcmp(before, used, sizeof(before)) &&
	     ring.used_idx == 1;
	if (!ok)
		printf("# put of 5 into 4: %d, used_idx %u\n", over,
		       ring.used_idx);
	for (u32 start = 0; start < 8; start++) {
		u16 idx0 = start < 4 ? start : 0xfffe + start - 4;
		struct vhx_used_elem *slot = at(USED_OFF + 4);

		setup(4);
		memset(used, 0xa5, sizeof(before));
		*(u16 *)at(USED_OFF + 2) = cpu_to_le16(idx0);
		vhx_ring_start(&ring);
		if (vhx_ring_put(&ring, e, 4) ||
		    used_idx() != (u16)(idx0 + 4) ||
		    ring.used_idx != (u16)(idx0 + 4)) {
			ok = 0;
			continue;
		}
		for (u32 k = 0; k < 4; k++) {
			struct vhx_used_elem *u = &slot[(u16)(idx0 + k) % 4];

			if (le32_to_cpu(u->id) != 20 + k ||
			    le32_to_cpu(u->len) != 200 + k)
				ok = 0;
		}
		for (u64 b = used_len; b < sizeof(before); b++)
			if (used[b] != 0xa5)
				ok = 0;
		if (le16_to_cpu(*(u16 *)used) != 0xa5a5)
			ok = 0;		/* flags untouched */
	}
	report(ok, "ring_used_put_bounds");
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
	/* A walker that loops forever is a failure, not a hung make unit. */
	alarm(30);
	printf("TAP version 13\n1..%d\n", NTESTS);
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
	test_indirect_longer_than_ring();
	test_chain_longer_than_ring();
	test_put_wraps();
	test_used_log();
	test_event_idx_call();
	test_no_interrupt_flag();
	test_notify();
	test_start_checks();
	test_mem_check();
	test_random_rings();
	test_iov_exact_size();
	test_next_is_num();
	test_chain_of_num();
	test_full_ring();
	test_region_end_exact();
	test_mem_check_edges();
	test_gpa_wraps();
	test_indirect_straddles();
	test_restart_rereads_avail();
	test_put_bounds();
	printf("# %u passed, %u failed\n", passed, failed);
	if (ntest != NTESTS)
		printf("# plan mismatch: ran %u\n", ntest);
	return failed || ntest != NTESTS;
}
