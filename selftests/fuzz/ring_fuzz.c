// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the split ring walker (kmod/ring.c), built for
 * userspace through ring_access.h.
 *
 * Each input decodes into a memory table of 1-4 regions, a ring layout,
 * feature bits, an iov limit, then a sequence of operations: the guest's
 * (write descriptors, publish heads, scribble on the ring) and the
 * device's (get, unget, put, need_call, notify_on/off, start).
 *
 * Every region lives in its own mmap between PROT_NONE guard pages, at a
 * host address unrelated to its guest address; the slack around it is
 * ASan-poisoned.  vhx_user_read/write abort on anything not wholly inside
 * one region, and writes must also stay inside the declared used ring.
 *
 * Oracles beyond the sanitizers: a reference model of the ring written
 * from the virtio spec and ring.h's contract (independent arithmetic,
 * 128-bit where it matters) must agree with ring.c on every result, every
 * iov segment and the ring state after every operation; iov count <=
 * iov_max (the iov array is an exact-size heap block); chain <= num
 * descriptors; every segment inside a region; used_idx advances by
 * exactly the n put, and a put writes exactly its n entries and the index.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sanitizer/asan_interface.h>

#include "ring.h"

#define NSLOTS		4
#define SLOT_SIZE	(64 * 1024)
#define PAGE		4096
#define MAX_NUM_SMALL	256
#define MAX_OPS		256
#define MAX_PUT		(2 * 4096 + 2)

typedef unsigned __int128 u128;

static unsigned char *slot_base[NSLOTS];	/* first usable byte */

static struct {
	struct vhx_mem mem;
	struct vhx_mem_region r[NSLOTS];
} table;

static struct vhx_ring ring;
static bool ring_live;		/* vhx_ring_start succeeded: ops allowed */
static bool trace;		/* RING_FUZZ_TRACE set: print each result */
static bool no_access;		/* inside vhx_ring_check: no guest access */

#define TRACE(...)	do {				\
		if (trace)				\
			fprintf(stderr, __VA_ARGS__);	\
	} while (0)

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "ring_fuzz: FINDING: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* Is [uaddr, uaddr + len) wholly inside one region? */
static bool in_region(u64 uaddr, u64 len)
{
	for (u32 i = 0; i < table.mem.nregions; i++) {
		const struct vhx_mem_region *r = &table.r[i];

		if (uaddr >= r->uaddr &&
		    (u128)uaddr + len <= (u128)r->uaddr + r->size)
			return true;
	}
	return false;
}

int vhx_user_read(void *dst, u64 uaddr, size_t len)
{
	if (no_access)
		fail("vhx_ring_check read guest memory");
	if (!in_region(uaddr, len))
		fail("read of %zu bytes at %#llx outside the memory table", len,
		     (unsigned long long)uaddr);
	memcpy(dst, (void *)(uintptr_t)uaddr, len);
	return 0;
}

int vhx_user_write(u64 uaddr, const void *src, size_t len)
{
	u64 used_len = 6 + 8 * (u64)ring.num;

	if (no_access)
		fail("vhx_ring_check wrote guest memory");
	if (!in_region(uaddr, len))
		fail("write of %zu bytes at %#llx outside the memory table",
		     len, (unsigned long long)uaddr);
	if (!ring_live || uaddr < ring.used ||
	    (u128)uaddr + len > (u128)ring.used + used_len)
		fail("write of %zu bytes at used%+lld, outside the used ring "
		     "[used, used+%llu)", len,
		     (long long)(uaddr - ring.used),
		     (unsigned long long)used_len);
	memcpy((void *)(uintptr_t)uaddr, src, len);
	return 0;
}

/* ---- input decoding ---- */

struct input {
	const uint8_t *p;
	size_t n;
};

static u64 take(struct input *in, int bytes)
{
	u64 v = 0;

	for (int i = 0; i < bytes; i++) {
		v <<= 8;
		if (in->n) {
			v |= *in->p++;
			in->n--;
		}
	}
	return v;
}

typedef uint8_t u8;

#define U8(in)	((u8)take(in, 1))
#define U16(in)	((u16)take(in, 2))
#define U32(in)	((u32)take(in, 4))
#define U64(in)	(take(in, 8))

/* ---- guest-side helpers (the harness plays the guest) ---- */

static u16 g16(u64 uaddr)
{
	u16 v;

	memcpy(&v, (void *)(uintptr_t)uaddr, 2);
	return le16_to_cpu(v);
}

static void s16(u64 uaddr, u16 val)
{
	u16 v = cpu_to_le16(val);

	memcpy((void *)(uintptr_t)uaddr, &v, 2);
}

/* Reference translation of one guest address: region index or -1. */
static int ref_find(const struct vhx_mem *mem, u64 gpa)
{
	for (u32 i = 0; i < mem->nregions; i++) {
		const struct vhx_mem_region *r = &mem->regions[i];

		if (gpa >= r->gpa && (u128)gpa < (u128)r->gpa + r->size)
			return i;
	}
	return -1;
}

/* Guest writes len bytes at a guest address, region by region. */
static void guest_write_gpa(u64 gpa, const void *src, u32 len)
{
	const unsigned char *s = src;

	for (u32 k = 0; k < len; k++) {
		int i = ref_find(&table.mem, gpa + k);

		if (i >= 0)
			*(unsigned char *)(uintptr_t)(table.r[i].uaddr +
					   (gpa + k - table.r[i].gpa)) = s[k];
	}
}

/* ---- reference model ---- */

static int ref_mem_check(const struct vhx_mem *mem)
{
	for (u32 i = 0; i < mem->nregions; i++) {
		const struct vhx_mem_region *r = &mem->regions[i];

		if (!r->size || (u128)r->gpa + r->size > UINT64_MAX ||
		    (u128)r->uaddr + r->size > UINT64_MAX)
			return -EFAULT;
		if (i && (u128)r[-1].gpa + r[-1].size > r->gpa)
			return -EINVAL;
	}
	return 0;
}

static bool ref_holds(const struct vhx_mem *mem, u64 uaddr, u64 len)
{
	for (u32 i = 0; i < mem->nregions; i++) {
		const struct vhx_mem_region *r = &mem->regions[i];

		if (uaddr >= r->uaddr &&
		    (u128)uaddr + len <= (u128)r->uaddr + r->size)
			return true;
	}
	return false;
}

static int ref_to_iov(const struct vhx_mem *mem, u64 gpa, u64 len,
		      struct iovec *iov, u32 max, u32 *n)
{
	u128 pos = gpa, end = (u128)gpa + len;

	if (end > UINT64_MAX)
		return -EFAULT;
	while (pos < end) {
		int i = ref_find(mem, (u64)pos);
		const struct vhx_mem_region *r;
		u128 rend, stop;

		if (i < 0)
			return -EFAULT;
		r = &mem->regions[i];
		rend = (u128)r->gpa + r->size;
		stop = rend < end ? rend : end;
		if (iov) {
			if (*n >= max)
				return -ENOBUFS;
			iov[*n].iov_base = (void *)(uintptr_t)(r->uaddr +
					   ((u64)pos - r->gpa));
			iov[*n].iov_len = (size_t)(stop - pos);
			(*n)++;
		}
		pos = stop;
	}
	return 0;
}

struct model {
	u16 last_avail, avail_idx, used_idx, signalled_used;
	bool signalled_valid;
	u32 outstanding;	/* chains taken that may be given back */
};

static struct model m;

static int ref_pending(void)
{
	u16 idx = g16(ring.avail + 2);

	if ((u16)(idx - m.last_avail) > ring.num)
		return -1;
	m.avail_idx = idx;
	return idx != m.last_avail;
}

struct ref_chain {
	u32 ndesc, out, in;
	u64 out_len, in_len;
};

static int ref_segment(const struct vhx_desc *d, struct ref_chain *c,
		       struct iovec *iov, u32 max)
{
	u16 flags = le16_to_cpu(d->flags);
	u32 len = le32_to_cpu(d->len);
	u32 n = c->out + c->in;

	if (ref_to_iov(&table.mem, le64_to_cpu(d->addr), len, iov, max, &n))
		return -1;
	if (flags & VHX_DESC_F_WRITE) {
		c->in = n - c->out;
		c->in_len += len;
	} else {
		if (c->in)
			return -1;
		c->out = n;
		c->out_len += len;
	}
	return 0;
}

/* Descriptors in one chain: num, or an indirect table's 1024 entries. */
static u32 chain_max(void)
{
	return ring.num > VHX_IOV_MAX ? ring.num : VHX_IOV_MAX;
}

static int ref_indirect(const struct vhx_desc *t, struct ref_chain *c,
			struct iovec *iov, u32 max)
{
	u32 len = le32_to_cpu(t->len), count = len / 16, i = 0, steps = 0;
	u64 base = le64_to_cpu(t->addr);
	struct vhx_desc d;

	if (!ring.indirect || !len || len % 16 || count > VHX_RING_MAX)
		return -1;
	if (ref_to_iov(&table.mem, base, len, NULL, 0, NULL))
		return -1;
	for (;;) {
		unsigned char *p = (unsigned char *)&d;

		if (++steps > count)
			return -1;
		for (u32 k = 0; k < 16; k++) {
			u64 a = base + 16 * (u64)i + k;
			const struct vhx_mem_region *r =
				&table.r[ref_find(&table.mem, a)];

			p[k] = *(unsigned char *)(uintptr_t)(r->uaddr +
							     (a - r->gpa));
		}
		if (le16_to_cpu(d.flags) & VHX_DESC_F_INDIRECT)
			return -1;
		if (++c->ndesc > chain_max())
			return -1;
		if (ref_segment(&d, c, iov, max))
			return -1;
		if (!(le16_to_cpu(d.flags) & VHX_DESC_F_NEXT))
			return 0;
		i = le16_to_cpu(d.next);
		if (i >= count)
			return -1;
	}
}

/* Returns 1 (chain), 0 (empty) or -1 (malformed). */
static int ref_get(struct ref_chain *c, u16 *head_out, struct iovec *iov,
		   u32 max)
{
	struct vhx_desc d;
	u32 i, steps = 0;
	u16 head, flags;

	if (m.avail_idx == m.last_avail) {
		int ret = ref_pending();

		if (ret <= 0)
			return ret;
	}
	head = g16(ring.avail + 4 + 2 * (u64)(m.last_avail % ring.num));
	if (head >= ring.num)
		return -1;
	memset(c, 0, sizeof(*c));
	*head_out = head;
	for (i = head;;) {
		if (++steps > ring.num)
			return -1;
		memcpy(&d, (void *)(uintptr_t)(ring.desc + 16 * (u64)i), 16);
		flags = le16_to_cpu(d.flags);
		if (flags & VHX_DESC_F_INDIRECT) {
			if ((flags & VHX_DESC_F_NEXT) ||
			    ref_indirect(&d, c, iov, max))
				return -1;
			break;
		}
		c->ndesc++;
		if (ref_segment(&d, c, iov, max))
			return -1;
		if (!(flags & VHX_DESC_F_NEXT))
			break;
		i = le16_to_cpu(d.next);
		if (i >= ring.num)
			return -1;
	}
	m.last_avail++;
	return 1;
}

static void check_state(const char *op)
{
	if (ring.last_avail != m.last_avail || ring.avail_idx != m.avail_idx ||
	    ring.used_idx != m.used_idx ||
	    ring.signalled_valid != m.signalled_valid ||
	    (m.signalled_valid && ring.signalled_used != m.signalled_used))
		fail("after %s: ring state last_avail %u avail_idx %u used_idx "
		     "%u signalled %u/%d, model %u %u %u %u/%d", op,
		     ring.last_avail, ring.avail_idx, ring.used_idx,
		     ring.signalled_used, ring.signalled_valid, m.last_avail,
		     m.avail_idx, m.used_idx, m.signalled_used,
		     m.signalled_valid);
}

/* ---- segment oracle ---- */

static void check_segments(const struct iovec *iov, u32 n, const char *what)
{
	for (u32 k = 0; k < n; k++)
		if (iov[k].iov_len &&
		    !in_region((uintptr_t)iov[k].iov_base, iov[k].iov_len))
			fail("%s: segment %u (%p, %zu) outside every region",
			     what, k, iov[k].iov_base, iov[k].iov_len);
}

static void compare_iov(const struct iovec *a, const struct iovec *b, u32 n,
			const char *what)
{
	for (u32 k = 0; k < n; k++)
		if (a[k].iov_base != b[k].iov_base ||
		    a[k].iov_len != b[k].iov_len)
			fail("%s: segment %u is (%p, %zu), model (%p, %zu)",
			     what, k, a[k].iov_base, a[k].iov_len,
			     b[k].iov_base, b[k].iov_len);
}

/* ---- address generators ---- */

static u64 addrbook[4];

static u64 gen_gpa(struct input *in)
{
	u8 mode = U8(in), reg = U8(in);
	u32 v = U32(in);
	const struct vhx_mem_region *r = &table.r[reg % table.mem.nregions];
	u64 gpa;

	switch (mode % 9) {
	case 0:
		gpa = r->gpa + v % (r->size + 1);
		break;
	case 1:
		gpa = r->gpa + r->size - (v & 0xff);
		break;
	case 2:
		gpa = r->gpa + v;
		break;
	case 3:
		gpa = (u64)v << 12;
		break;
	case 4:
		gpa = UINT64_MAX - v;
		break;
	case 5:
		gpa = r->gpa - (v & 0xff) - 1;
		break;
	case 6:
		return addrbook[v % 4];
	case 7:
		return addrbook[v % 4] + 16 * (u64)(v >> 24);
	default:
		gpa = r->gpa + (v % (r->size + 1) & ~15ULL);
		break;
	}
	addrbook[mode >> 6] = gpa;
	return gpa;
}

static u32 gen_len(struct input *in)
{
	u32 v = U32(in);

	switch (v >> 30) {
	case 0:
		return v & 0xff;
	case 1:
		return (v & 0xff) * 16;
	case 2:
		return v & 0xffff;
	default:
		return v;	/* up to ~0U */
	}
}

static u16 gen_index(struct input *in, u32 bound)
{
	u16 v = U16(in);

	return (v & 0x8000) ? v : v % (bound + 1);
}

static void gen_desc(struct input *in, struct vhx_desc *d, u32 next_bound)
{
	u8 fl = U8(in);
	u16 flags = fl & 7;

	if (fl & 0x80)
		flags |= (u16)U16(in) & ~7;	/* unknown flag bits */
	d->addr = cpu_to_le64(gen_gpa(in));
	d->len = cpu_to_le32(gen_len(in));
	d->flags = cpu_to_le16(flags);
	d->next = cpu_to_le16(gen_index(in, next_bound));
}

/* ---- setup ---- */

static void init_slots(void)
{
	for (int i = 0; i < NSLOTS; i++) {
		unsigned char *p = mmap(NULL, SLOT_SIZE + 2 * PAGE,
					PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			abort();
		if (mprotect(p, PAGE, PROT_NONE) ||
		    mprotect(p + PAGE + SLOT_SIZE, PAGE, PROT_NONE))
			abort();
		slot_base[i] = p + PAGE;
	}
}

static int cmp_region(const void *a, const void *b)
{
	const struct vhx_mem_region *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* Build the table (sorted by gpa, as the module does); false if refused. */
static bool setup_mem(struct input *in, u32 nregions)
{
	u8 rot = U8(in);
	u64 prev_end = 0;
	int ret, want;

	for (int i = 0; i < NSLOTS; i++)
		ASAN_POISON_MEMORY_REGION(slot_base[i], SLOT_SIZE);
	table.mem.nregions = nregions;
	for (u32 i = 0; i < nregions; i++) {
		struct vhx_mem_region *r = &table.r[i];
		u64 size = (u64)U16(in) % SLOT_SIZE + 1;
		u8 mode = U8(in);
		u64 raw = U64(in);
		unsigned char *slot = slot_base[(i + rot) % NSLOTS];

		/* Flush against the front or the back guard page. */
		r->uaddr = (uintptr_t)((mode & 0x80) ? slot :
				       slot + SLOT_SIZE - size);
		r->size = size;
		switch ((mode & 0x7f) % 5) {
		case 0:
			r->gpa = i ? prev_end : raw & 0xfffff000;
			break;
		case 1:
			r->gpa = prev_end + (raw & 0xffff);
			break;
		case 2:
			r->gpa = raw;
			break;
		case 3:	/* ends at most 255 bytes below 2^64 - 1 */
			r->gpa = UINT64_MAX - size - (raw & 0xff);
			break;
		default: /* overlaps the previous one */
			r->gpa = prev_end - (raw & 0xf) - 1;
			break;
		}
		prev_end = r->gpa + r->size;
		ASAN_UNPOISON_MEMORY_REGION((void *)(uintptr_t)r->uaddr, size);
		memset((void *)(uintptr_t)r->uaddr, 0, size);
	}
	qsort(table.r, nregions, sizeof(table.r[0]), cmp_region);
	ret = vhx_mem_check(&table.mem);
	want = ref_mem_check(&table.mem);
	if (ret != want)
		fail("vhx_mem_check %d, model %d", ret, want);
	return !ret;
}

static u64 gen_ring_addr(struct input *in, u64 bytes)
{
	u8 reg = U8(in), mode = U8(in);
	u16 off = U16(in);
	const struct vhx_mem_region *r = &table.r[reg % table.mem.nregions];

	switch (mode % 4) {
	case 0:
		return r->uaddr + ((off % r->size) & ~15ULL);
	case 1:
		return r->uaddr + off;
	case 2:	/* flush with the region end, or a few bytes past it */
		return r->uaddr + r->size - bytes - (off & 7) +
		       ((off >> 3) & 1);
	default:
		return r->uaddr - (off & 0xff);
	}
}

static int ref_check(const struct vhx_ring *r)
{
	u32 num = r->num;

	if (!num || num > VHX_RING_MAX || (num & (num - 1)))
		return -EINVAL;
	if (!ref_holds(&table.mem, r->desc, 16 * (u64)num) ||
	    !ref_holds(&table.mem, r->avail, 6 + 2 * (u64)num) ||
	    !ref_holds(&table.mem, r->used, 6 + 8 * (u64)num))
		return -EFAULT;
	return 0;
}

/* vhx_ring_check of a layout: the model's answer, no guest access. */
static int check_layout(const struct vhx_ring *r)
{
	int ret, want = ref_check(r);

	no_access = true;
	ret = vhx_ring_check(r);
	no_access = false;
	if (ret != want)
		fail("vhx_ring_check %d, model %d (num %u)", ret, want, r->num);
	return ret;
}

/* The running ring's layout, moved or resized (SET_VRING_ADDR/NUM). */
static void op_check(struct input *in)
{
	struct vhx_ring r = ring;
	u8 what = U8(in);
	u64 bytes[] = { 16 * (u64)r.num, 6 + 2 * (u64)r.num,
			6 + 8 * (u64)r.num };
	u64 addr = gen_ring_addr(in, bytes[what % 3]);

	if (what & 4)
		r.num = U16(in);
	else if (what % 3 == 0)
		r.desc = addr;
	else if (what % 3 == 1)
		r.avail = addr;
	else
		r.used = addr;
	check_layout(&r);
	check_state("check");
}

static void do_start(void)
{
	int ret;

	ring_live = true;	/* start reads only */
	ret = vhx_ring_start(&ring);
	if (ret)
		fail("vhx_ring_start %d on a ring that worked before", ret);
	m.signalled_valid = false;
	m.avail_idx = m.last_avail;
	m.used_idx = g16(ring.used + 2);
	m.outstanding = 0;
	check_state("start");
}

/* ---- operations ---- */

static struct iovec *iov_dut, *iov_ref;
static u32 iov_max;
static struct vhx_used_elem put_elems[MAX_PUT];
static unsigned char used_before[6 + 8 * 4096];

static void op_get(void)
{
	struct vhx_chain c;
	struct ref_chain rc;
	u16 rhead = 0;
	int ret, want;

	want = ref_get(&rc, &rhead, iov_ref, iov_max);
	ret = vhx_ring_get(&ring, &c, iov_dut, iov_max);
	TRACE("get %d (model %d) head %u ndesc %u out %u in %u\n", ret, want,
	      c.head, c.ndesc, c.out, c.in);
	if (ret < 0 && want < 0) {
		check_state("failed get");
		return;
	}
	if (ret != want)
		fail("vhx_ring_get %d, model %d", ret, want);
	check_state("get");
	if (ret == 0)
		return;
	m.outstanding++;
	if (c.out + c.in > iov_max)
		fail("%u segments, iov_max %u", c.out + c.in, iov_max);
	if (c.ndesc > chain_max())
		fail("chain of %u descriptors, num %u", c.ndesc, ring.num);
	if (c.head != rhead || c.ndesc != rc.ndesc || c.out != rc.out ||
	    c.in != rc.in || c.out_len != rc.out_len || c.in_len != rc.in_len)
		fail("chain head %u ndesc %u out %u/%llu in %u/%llu, model %u "
		     "%u %u/%llu %u/%llu", c.head, c.ndesc, c.out,
		     (unsigned long long)c.out_len, c.in,
		     (unsigned long long)c.in_len, rhead, rc.ndesc, rc.out,
		     (unsigned long long)rc.out_len, rc.in,
		     (unsigned long long)rc.in_len);
	check_segments(iov_dut, c.out + c.in, "get");
	compare_iov(iov_dut, iov_ref, c.out + c.in, "get");
}

static void op_put(struct input *in)
{
	u64 used_len = 6 + 8 * (u64)ring.num;
	u32 n = U16(in) % (2 * ring.num + 2);
	u32 seed = U32(in);
	u16 old = m.used_idx;
	int ret;

	for (u32 k = 0; k < n; k++) {
		put_elems[k].id = cpu_to_le32(seed + k);
		put_elems[k].len = cpu_to_le32(seed * 31 + k * 7);
	}
	memcpy(used_before, (void *)(uintptr_t)ring.used, used_len);
	ret = vhx_ring_put(&ring, put_elems, n);
	TRACE("put %u at %u: %d\n", n, old, ret);
	if (n > ring.num) {
		if (ret != -EINVAL)
			fail("vhx_ring_put of %u entries into a ring of %u "
			     "returned %d, want -EINVAL", n, ring.num, ret);
		if (memcmp(used_before, (void *)(uintptr_t)ring.used,
			   used_len))
			fail("refused put of %u > num %u wrote the used ring",
			     n, ring.num);
		check_state("refused put");
		return;
	}
	if (ret)
		fail("vhx_ring_put of %u entries (num %u) returned %d", n,
		     ring.num, ret);
	m.used_idx = old + n;
	m.outstanding = 0;
	check_state("put");
	if (!n) {
		if (memcmp(used_before, (void *)(uintptr_t)ring.used, used_len))
			fail("a put of nothing wrote the used ring");
		return;
	}
	if (g16(ring.used + 2) != m.used_idx)
		fail("used->idx %u after putting %u from %u",
		     g16(ring.used + 2), n, old);
	/* Exactly the n entries changed, each where it belongs. */
	for (u32 k = 0; k < n; k++) {
		u64 off = 4 + 8 * (u64)((u16)(old + k) % ring.num);

		memcpy(used_before + off, &put_elems[k], 8);
	}
	s16((uintptr_t)used_before + 2, m.used_idx);
	if (memcmp(used_before, (void *)(uintptr_t)ring.used, used_len))
		fail("used ring after putting %u from %u is not what was put",
		     n, old);
}

static void op_need_call(void)
{
	int ret = vhx_ring_need_call(&ring), want;

	TRACE("need_call %d\n", ret);

	if (ring.notify_on_empty) {
		want = ref_pending();
		if (want <= 0) {
			want = want < 0 ? -1 : 1;
			goto out;
		}
	}
	if (!ring.event_idx) {
		want = !(g16(ring.avail) & VHX_AVAIL_F_NO_INTERRUPT);
	} else {
		u16 event = g16(ring.avail + 4 + 2 * (u64)ring.num);
		u16 old = m.signalled_used;
		bool valid = m.signalled_valid;

		m.signalled_used = m.used_idx;
		m.signalled_valid = true;
		/* virtio spec 2.7.10.1, vring_need_event */
		want = !valid ||
		       (u16)(m.used_idx - event - 1) < (u16)(m.used_idx - old);
	}
out:
	if (ret < 0 ? want >= 0 : ret != want)
		fail("vhx_ring_need_call %d, model %d", ret, want);
	check_state("need_call");
}

static void op_notify_on(void)
{
	u16 seen = m.avail_idx;
	int ret = vhx_ring_notify_on(&ring), want;

	if (ring.event_idx) {
		if (g16(ring.used + 4 + 8 * (u64)ring.num) != seen)
			fail("notify_on: avail_event %u, want %u",
			     g16(ring.used + 4 + 8 * (u64)ring.num), seen);
	} else if (g16(ring.used) & VHX_USED_F_NO_NOTIFY) {
		fail("notify_on left VRING_USED_F_NO_NOTIFY set");
	}
	want = ref_pending();
	if (want >= 0)
		want = m.avail_idx != seen;
	if (ret < 0 ? want >= 0 : ret != want)
		fail("vhx_ring_notify_on %d, model %d", ret, want);
	check_state("notify_on");
}

static void op_notify_off(void)
{
	u16 flags = g16(ring.used);
	int ret = vhx_ring_notify_off(&ring);

	if (ret)
		fail("vhx_ring_notify_off %d", ret);
	if (ring.event_idx ? g16(ring.used) != flags :
	    !(g16(ring.used) & VHX_USED_F_NO_NOTIFY))
		fail("notify_off: used flags %#x (were %#x)", g16(ring.used),
		     flags);
	check_state("notify_off");
}

static void op_mem_to_iov(struct input *in)
{
	u64 gpa = gen_gpa(in);
	u64 len = (U8(in) & 1) ? U64(in) : gen_len(in);
	u32 max = U8(in) % 9;
	struct iovec *a = max ? malloc(max * sizeof(*a)) : NULL;
	struct iovec b[8];
	u32 na = 0, nb = 0;
	int ret, want;

	ret = vhx_mem_to_iov(&table.mem, gpa, len, a ? a : iov_dut,
			     a ? max : 0, &na);
	TRACE("mem_to_iov %#llx+%#llx max %u: %d, %u segments\n",
	      (unsigned long long)gpa, (unsigned long long)len, max, ret, na);
	want = ref_to_iov(&table.mem, gpa, len, b, max, &nb);
	if (ret != want)
		fail("vhx_mem_to_iov(%#llx, %#llx, max %u) %d, model %d",
		     (unsigned long long)gpa, (unsigned long long)len, max, ret,
		     want);
	if (!ret) {
		if (na != nb)
			fail("vhx_mem_to_iov: %u segments, model %u", na, nb);
		check_segments(a, na, "mem_to_iov");
		compare_iov(a, b, na, "mem_to_iov");
	}
	free(a);
	ret = vhx_mem_to_iov(&table.mem, gpa, len, NULL, 0, &na);
	want = ref_to_iov(&table.mem, gpa, len, NULL, 0, NULL);
	if (ret != want)
		fail("vhx_mem_to_iov check-only %d, model %d", ret, want);
}

static void op_holds(struct input *in)
{
	const struct vhx_mem_region *r = &table.r[U8(in) % table.mem.nregions];
	int16_t delta = (int16_t)U16(in);
	u64 uaddr = (U8(in) & 1) ? r->uaddr + r->size + delta :
				   r->uaddr + delta;
	u64 len = (U8(in) & 1) ? U64(in) : U16(in);

	if (vhx_mem_holds_uaddr(&table.mem, uaddr, len) !=
	    ref_holds(&table.mem, uaddr, len))
		fail("vhx_mem_holds_uaddr(%#llx, %#llx) disagrees",
		     (unsigned long long)uaddr, (unsigned long long)len);
}

/*
 * A table of arbitrary numbers, never dereferenced: the pure functions
 * (check, find, holds, to_iov) against the model, wrap-arounds included.
 */
static void op_synthetic_table(struct input *in)
{
	struct {
		struct vhx_mem mem;
		struct vhx_mem_region r[4];
	} t;
	struct iovec a[4], b[4];
	const struct vhx_mem_region *f;
	u32 na = 0, nb = 0, max;
	u64 gpa, len, uaddr;
	int ret, want, ri;

	t.mem.nregions = U8(in) % 4 + 1;
	for (u32 i = 0; i < t.mem.nregions; i++) {
		u8 mode = U8(in);

		t.r[i].gpa = U64(in);
		t.r[i].size = (mode & 1) ? U64(in) : U16(in);
		t.r[i].uaddr = U64(in);
		if (mode & 2)	/* right after the previous one */
			t.r[i].gpa = i ? t.r[i - 1].gpa + t.r[i - 1].size : 0;
		if (mode & 4)	/* up against the top */
			t.r[i].uaddr = UINT64_MAX - t.r[i].size -
				       (mode >> 5) + 2;
		if (mode & 8)
			t.r[i].gpa = UINT64_MAX - t.r[i].size - (mode >> 5) + 2;
	}
	qsort(t.r, t.mem.nregions, sizeof(t.r[0]), cmp_region);
	ret = vhx_mem_check(&t.mem);
	want = ref_mem_check(&t.mem);
	TRACE("synthetic table of %u: %d\n", t.mem.nregions, ret);
	if (ret != want)
		fail("synthetic vhx_mem_check %d, model %d", ret, want);
	if (ret)
		return;
	gpa = t.r[U8(in) % t.mem.nregions].gpa + (int16_t)U16(in);
	len = (U8(in) & 1) ? U64(in) : U16(in);
	max = U8(in) % 5;
	f = vhx_mem_find(&t.mem, gpa);
	ri = ref_find(&t.mem, gpa);
	if (f != (ri < 0 ? NULL : &t.mem.regions[ri]))
		fail("vhx_mem_find(%#llx) disagrees", (unsigned long long)gpa);
	ret = vhx_mem_to_iov(&t.mem, gpa, len, a, max, &na);
	want = ref_to_iov(&t.mem, gpa, len, b, max, &nb);
	if (ret != want || (!ret && na != nb))
		fail("synthetic vhx_mem_to_iov(%#llx, %#llx, %u) %d/%u, model "
		     "%d/%u", (unsigned long long)gpa, (unsigned long long)len,
		     max, ret, na, want, nb);
	if (!ret)
		compare_iov(a, b, na, "synthetic mem_to_iov");
	uaddr = t.r[U8(in) % t.mem.nregions].uaddr + (int16_t)U16(in);
	len = (U8(in) & 1) ? U64(in) : U16(in);
	if (vhx_mem_holds_uaddr(&t.mem, uaddr, len) !=
	    ref_holds(&t.mem, uaddr, len))
		fail("synthetic vhx_mem_holds_uaddr(%#llx, %#llx) disagrees",
		     (unsigned long long)uaddr, (unsigned long long)len);
}

static u16 guest_avail;		/* the guest's own avail index */

/*
 * Guest: a well-formed chain of k descriptors (readable ones, then
 * writable from index w on) in the ring's table from slot i, or with
 * indirect set in a table at a guest address that descriptor i points to.
 * The fuzzer then breaks them one field at a time.
 */
static void op_chain(struct input *in, bool indirect)
{
	u32 num = ring.num;
	u16 i = U16(in) % num;
	u32 k = U8(in) % (indirect ? 2 * num + 1 : num) + 1;
	u32 w = U8(in) % (k + 1);
	u64 buf = gen_gpa(in);
	u32 len = U8(in) + 1;
	u64 base = indirect ? gen_gpa(in) : 0;
	struct vhx_desc d;

	for (u32 j = 0; j < k; j++) {
		u16 flags = j >= w ? VHX_DESC_F_WRITE : 0;
		u16 next = indirect ? j + 1 : (i + j + 1) % num;

		if (j + 1 < k)
			flags |= VHX_DESC_F_NEXT;
		d.addr = cpu_to_le64(buf + (u64)j * len);
		d.len = cpu_to_le32(len);
		d.flags = cpu_to_le16(flags);
		d.next = cpu_to_le16(next);
		if (indirect)
			guest_write_gpa(base + 16 * (u64)j, &d, 16);
		else
			memcpy((void *)(uintptr_t)(ring.desc +
			       16 * (u64)((i + j) % num)), &d, 16);
	}
	if (!indirect)
		return;
	d.addr = cpu_to_le64(base);
	d.len = cpu_to_le32(16 * k);
	d.flags = cpu_to_le16(VHX_DESC_F_INDIRECT);
	d.next = 0;
	memcpy((void *)(uintptr_t)(ring.desc + 16 * (u64)i), &d, 16);
}

static void run_ops(struct input *in)
{
	struct vhx_desc d;
	u32 num = ring.num;
	u64 gpa;

	for (int nops = 0; in->n && nops < MAX_OPS; nops++) {
		u8 op = U8(in);

		switch (op % 18) {
		case 0:	/* guest: a descriptor in the ring's table */
		case 1: {
			u16 i = U16(in) % num;

			gen_desc(in, &d, num);
			memcpy((void *)(uintptr_t)(ring.desc + 16 * (u64)i), &d,
			       16);
			break;
		}
		case 2:	/* guest: a descriptor anywhere (indirect tables) */
			gpa = gen_gpa(in);
			gen_desc(in, &d, 8);
			guest_write_gpa(gpa, &d, 16);
			break;
		case 3:	/* guest: publish a head */
		case 4:
			s16(ring.avail + 4 + 2 * (u64)(guest_avail % num),
			    gen_index(in, num));
			s16(ring.avail + 2, ++guest_avail);
			break;
		case 5:	/* guest: set avail->idx */
			guest_avail = m.last_avail + gen_index(in, num + 2);
			s16(ring.avail + 2, guest_avail);
			break;
		case 6:	/* guest: scribble on a ring word */
		{
			u8 which = U8(in);
			u16 v = U16(in);
			u64 at[] = { ring.avail, ring.avail + 4 + 2 * (u64)num,
				     ring.used, ring.used + 2,
				     ring.used + 4 + 8 * (u64)num };

			s16(at[which % 5], v);
			break;
		}
		case 7:
		case 8:
			op_get();
			break;
		case 9: {
			u16 n = U8(in) % (m.outstanding + 1);

			vhx_ring_unget(&ring, n);
			m.last_avail -= n;
			m.outstanding -= n;
			check_state("unget");
			break;
		}
		case 10:
			op_put(in);
			break;
		case 11:
			op_need_call();
			break;
		case 12:
			if (U8(in) & 1)
				op_notify_off();
			else
				op_notify_on();
			break;
		case 13:
			if (U8(in) & 1)
				op_check(in);
			else
				do_start();
			break;
		case 14:
			if (U8(in) & 1)
				op_holds(in);
			else
				op_mem_to_iov(in);
			break;
		case 15:
			op_synthetic_table(in);
			break;
		default:
			op_chain(in, op % 18 == 17);
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	u8 hdr, numsel, im;
	int ret, want;

	if (!slot_base[0]) {
		init_slots();
		trace = getenv("RING_FUZZ_TRACE");
	}
	ring_live = false;
	memset(&m, 0, sizeof(m));
	memset(addrbook, 0, sizeof(addrbook));
	guest_avail = 0;

	hdr = U8(&in);
	numsel = U8(&in);
	im = U8(&in);
	if (hdr & 0x80) {	/* the pure functions only */
		while (in.n)
			op_synthetic_table(&in);
		return 0;
	}
	if (!setup_mem(&in, (hdr & 3) + 1))
		return 0;

	memset(&ring, 0, sizeof(ring));
	ring.mem = &table.mem;
	ring.num = (numsel & 0x80) ? U16(&in) : 1U << (numsel % 9);
	ring.event_idx = hdr & 4;
	ring.indirect = hdr & 8;
	ring.notify_on_empty = hdr & 16;
	ring.desc = gen_ring_addr(&in, 16 * (u64)ring.num);
	ring.avail = gen_ring_addr(&in, 6 + 2 * (u64)ring.num);
	ring.used = gen_ring_addr(&in, 6 + 8 * (u64)ring.num);
	/* The device may resume a ring the guest already used. */
	if (hdr & 32) {
		m.last_avail = U16(&in);
		ring.last_avail = m.last_avail;
		guest_avail = m.last_avail;
	}
	check_layout(&ring);
	ret = vhx_ring_start(&ring);
	want = ref_check(&ring);
	TRACE("%u regions, num %u, start %d\n", table.mem.nregions, ring.num,
	      ret);
	if (ret != want)
		fail("vhx_ring_start %d, model %d (num %u)", ret, want,
		     ring.num);
	if (ret)
		return 0;
	if (ring.num > 4096)
		return 0;	/* cannot happen: see SLOT_SIZE */
	ring_live = true;
	m.used_idx = g16(ring.used + 2);
	m.avail_idx = m.last_avail;
	check_state("first start");
	s16(ring.avail + 2, guest_avail);

	iov_max = im == 255 ? VHX_IOV_MAX : im;
	/* Exact-size arrays: one entry past iov_max is an ASan report. */
	iov_dut = malloc((iov_max ? iov_max : 1) * sizeof(*iov_dut));
	iov_ref = malloc((iov_max ? iov_max : 1) * sizeof(*iov_ref));
	if (!iov_max) {
		/* malloc(0) still gives a block ASan treats as 0 bytes */
		free(iov_dut);
		iov_dut = malloc(0);
	}
	run_ops(&in);
	free(iov_dut);
	free(iov_ref);
	ring_live = false;
	return 0;
}
