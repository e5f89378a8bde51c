// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the split ring walker (kmod/ring.c), built for
 * userspace through ring_access.h.
 *
 * Each input decodes into a memory table of 1-64 regions (dev.c's
 * max_mem_regions default), a ring layout, feature bits, an iov limit,
 * then a sequence of operations: the guest's (write descriptors, publish
 * heads, scribble on the ring, change bytes under the device's reads) and
 * the device's (get, unget, put, need_call, notify_on/off, start).
 *
 * Every region lives in guest memory between PROT_NONE guard pages, at a
 * host address unrelated to its guest address; the slack around it is
 * ASan-poisoned.  Wide inputs may also pack regions HVA-adjacent (one
 * right after or right before another, or a few poisoned bytes apart), so
 * only the harness's own check, not a guard page, sees an access that
 * runs from one region into the next.  vhx_user_read/write abort on
 * anything not wholly inside one region, and writes must also stay inside
 * the declared used ring.
 *
 * TOCTOU: the guest may change ring bytes while the device reads them.
 * Rather than a racing thread (not reproducible), a wide input can arm
 * mutations: "before the device's Nth guest read from now, overwrite (or
 * xor) M bytes at X", X relative to a region, the descriptor table, the
 * avail ring, the read just before or the read about to happen, fired up
 * to 8 times.  Every device read is logged with the bytes it saw, and the
 * reference model takes its guest bytes from that log, in order: so the
 * model sees exactly what the device saw, however memory changed between
 * reads, and must still agree with it; and a device read the model does
 * not make next (a double fetch, a stale or extra read) is a finding, with
 * or without a mutation.
 *
 * Oracles beyond the sanitizers: a reference model of the ring written
 * from the virtio spec and ring.h's contract (independent arithmetic,
 * 128-bit where it matters, linear region lookup) must agree with ring.c
 * on every result, every iov segment and the ring state after every
 * operation; iov count <= iov_max (the iov array is an exact-size heap
 * block); chain <= max(num, 1024) descriptors; every segment inside a
 * region; the chain lengths equal the sum of its segments; used_idx
 * advances by exactly the n put, and a put writes exactly its n entries
 * and the index.
 *
 * Input format (multi-byte fields big-endian; bytes past the end read 0):
 *   u8 hdr     bit 7: synthetic mode, the rest is op_synthetic_table
 *                     records until the input ends;
 *              bit 6: wide (an ext byte follows im);
 *              bit 5: resume (u16 last_avail follows the ring addresses);
 *              bit 4 NOTIFY_ON_EMPTY, bit 3 INDIRECT_DESC, bit 2 EVENT_IDX;
 *              bits 0-1: regions - 1 when not wide
 *   u8 numsel  bit 7: u16 num follows the table, else num = 1 << (% 9)
 *   u8 im      iov_max, 255 meaning VHX_IOV_MAX
 *   u8 ext     (wide only) bits 0-5: regions - 1; bit 6: TOCTOU ops
 *   u8 rot     which guest-memory slot the first region takes
 *   regions    per region: u16 size (% 64 KiB + 1), u8 mode (bit 7 flush
 *              with the slot's front, else its back; % 5 picks the gpa:
 *              after the previous, a gap after it, raw u64, near 2^64,
 *              overlapping it), u64 raw, and when wide u8 hva (% 4: own
 *              slot, HVA right after the previous region, right before
 *              it, (hva >> 2) + 1 poisoned bytes after it)
 *   [u16 num]  then desc, avail, used: u8 region, u8 mode, u16 offset each
 *   [u16 last_avail]
 *   ops        until the input ends, at most 256: u8 op, % 18 (% 20 with
 *              TOCTOU) selects the operation in run_ops(), whose fields
 *              follow it; 18 and 19 arm a mutation (op_arm)
 *
 * The seeds in corpus/ are in this format: eight written by hand (named
 * for what they set up) and about 750 kept from fuzzing runs (named by
 * their hash; a libFuzzer -merge=1 keeps 599 of them for coverage).
 * RING_FUZZ_TRACE=1 prints what an input does.
 *
 * Figures (2026-12-02, ring.c of 0540142, one core, clang-14 -O1 with
 * ASan+UBSan): about 35,000-45,000 executions a second; a long run from
 * corpus/ of 94.9 million executions in 2701 s, no finding; on ring.c
 * and mem.c as 10b3602 left them (2026-12-04): 10 million in 280 s, no
 * finding.  Planted bugs (a scratch ring.c, RING_C=) found from corpus/
 * in under a second each: desc.len, next, avail->idx or the indirect
 * table length read again after the check, the region lookup off by one
 * at a region's end or skipping a region, the old read_gpa taking 5
 * pieces into its 4-entry array (a descriptor over 5+ regions; read_desc
 * now takes up to 16).  The lax build finds the first three through the
 * mutations alone in 0.2-3.4 s; the harness before this mode
 * and the 64 regions found neither those nor the 5-piece one in 180 s.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sanitizer/asan_interface.h>

#include "ring.h"

/* One slot of guest memory per region at most: dev.c's max_mem_regions. */
#define NSLOTS		64
#define SLOT_SIZE	(64 * 1024)
#define PAGE		4096
#define MAX_NUM_SMALL	256
#define MAX_OPS		256
#define MAX_PUT		(2 * 4096 + 2)
#define MAX_ARMED	8
/*
 * Most one operation reads: <= num descriptors in the ring, then
 * <= max(num, 1024) + 1 in an indirect table, each in <= 16 pieces.
 */
#define LOG_READS	(4096 + 16 * (4096 + 1) + 64)
#define LOG_BYTES	(64 * 4096 + 1024)

typedef unsigned __int128 u128;
typedef uint8_t u8;

static unsigned char *slot_base[NSLOTS];	/* first usable byte */

static struct {
	struct vhx_mem mem;
	struct vhx_mem_region r[NSLOTS];
} table;

static struct vhx_ring ring;
static bool ring_live;		/* vhx_ring_start succeeded: ops allowed */
static bool trace;		/* RING_FUZZ_TRACE set: print each result */
static bool no_access;		/* inside vhx_ring_check: no guest access */
static bool wide;		/* hdr bit 6: up to 64 regions, ext byte */
static bool toctou;		/* ext bit 6: the arm operations */

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

/* The region holding [uaddr, uaddr + len) wholly, or NULL. */
static const struct vhx_mem_region *region_of(u64 uaddr, u64 len)
{
	for (u32 i = 0; i < table.mem.nregions; i++) {
		const struct vhx_mem_region *r = &table.r[i];

		if (uaddr >= r->uaddr &&
		    (u128)uaddr + len <= (u128)r->uaddr + r->size)
			return r;
	}
	return NULL;
}

static bool in_region(u64 uaddr, u64 len)
{
	return region_of(uaddr, len);
}

/* An address as a reader of a finding wants it: which ring part, where. */
static const char *where(u64 uaddr)
{
	static char buf[4][48];
	static int k;
	char *b = buf[k++ % 4];
	const struct {
		const char *name;
		u64 base, len;
	} part[] = {
		{ "desc", ring.desc, 16 * (u64)ring.num },
		{ "avail", ring.avail, 6 + 2 * (u64)ring.num },
		{ "used", ring.used, 6 + 8 * (u64)ring.num },
	};

	for (int i = 0; i < 3; i++)
		if (uaddr - part[i].base < part[i].len) {
			snprintf(b, 48, "%s+%#llx", part[i].name,
				 (unsigned long long)(uaddr - part[i].base));
			return b;
		}
	for (u32 i = 0; i < table.mem.nregions; i++)
		if (uaddr - table.r[i].uaddr < table.r[i].size) {
			snprintf(b, 48, "gpa %#llx",
				 (unsigned long long)(table.r[i].gpa + uaddr -
						      table.r[i].uaddr));
			return b;
		}
	snprintf(b, 48, "%#llx", (unsigned long long)uaddr);
	return b;
}

/*
 * ---- the read log and the mutations (TOCTOU) ----
 *
 * Each operation starts a new log; vhx_user_read appends what the device
 * read, after any mutation that fired before it.  The model then reads
 * through ref_read(), which must find its request as the next entry.
 */
#ifndef RING_FUZZ_LAX_READS
#define RING_FUZZ_LAX_READS 0
#endif
#define LAX_READS	RING_FUZZ_LAX_READS

struct read_rec {
	u64 uaddr;
	u32 len, off;
	bool taken;		/* by the model (RING_FUZZ_LAX_READS) */
};

static struct read_rec rlog[LOG_READS];
static unsigned char rlog_bytes[LOG_BYTES];
static u32 rlog_n, rlog_used, rlog_pos;
static u64 bad_uaddr;		/* first model read not matched, or 0 */
static u32 bad_len;
static u64 nreads;		/* device reads since the input began */
static u64 last_uaddr;		/* the device's previous read */
static u32 last_len;

struct mutation {
	u64 at;			/* before device read number at */
	u32 off;
	u16 period;		/* then again this many reads later */
	u8 target, reg, len, left;
	bool xor;
	u8 data[16];
};

static struct mutation armed[MAX_ARMED];
static u32 narmed;
static u64 nfired;		/* mutations applied since the input began */

static void log_begin(void)
{
	rlog_n = rlog_used = rlog_pos = 0;
	bad_uaddr = 0;
	bad_len = 0;
}

/* Change guest bytes under the device, within the region that holds them. */
static void apply(const struct mutation *mu, u64 uaddr, u32 len)
{
	const struct vhx_mem_region *r;
	u64 at;
	u32 n;

	switch (mu->target) {
	case 0:
		r = &table.r[mu->reg % table.mem.nregions];
		at = r->uaddr + mu->off % r->size;
		break;
	case 1:
		at = ring.desc + mu->off % (16 * (u64)ring.num);
		break;
	case 2:
		at = ring.avail + mu->off % (6 + 2 * (u64)ring.num);
		break;
	case 3:	/* what the device read last: a second read sees news */
		if (!last_len)
			return;
		at = last_uaddr + mu->off % last_len;
		break;
	default: /* what it is about to read */
		at = uaddr + mu->off % len;
		break;
	}
	r = region_of(at, 1);
	if (!r)
		return;
	n = mu->len;
	if (n > r->uaddr + r->size - at)
		n = r->uaddr + r->size - at;
	for (u32 k = 0; k < n; k++) {
		unsigned char *p = (unsigned char *)(uintptr_t)(at + k);

		*p = mu->xor ? *p ^ mu->data[k] : mu->data[k];
	}
	nfired++;
	TRACE("  mutation before read %llu: %u bytes at %s\n",
	      (unsigned long long)nreads, n, where(at));
}

static void fire(u64 uaddr, u32 len)
{
	for (u32 k = 0; k < narmed; k++) {
		struct mutation *mu = &armed[k];

		if (mu->at != nreads)
			continue;
		apply(mu, uaddr, len);
		if (--mu->left)
			mu->at += mu->period;
		else
			armed[k--] = armed[--narmed];
	}
}

int vhx_user_read(void *dst, u64 uaddr, size_t len)
{
	struct read_rec *e = &rlog[rlog_n];

	if (no_access)
		fail("vhx_ring_check read guest memory");
	if (!in_region(uaddr, len))
		fail("read of %zu bytes at %s outside the memory table", len,
		     where(uaddr));
	nreads++;
	if (narmed)
		fire(uaddr, len);
	memcpy(dst, (void *)(uintptr_t)uaddr, len);
	if (rlog_n == LOG_READS || len > LOG_BYTES - rlog_used)
		fail("one operation read guest memory %u times (%u bytes), "
		     "more than any walk needs", rlog_n, rlog_used);
	e->uaddr = uaddr;
	e->len = len;
	e->off = rlog_used;
	e->taken = false;
	memcpy(rlog_bytes + rlog_used, dst, len);
	rlog_used += len;
	rlog_n++;
	last_uaddr = uaddr;
	last_len = len;
	return 0;
}

/*
 * The model's guest read: the device's next logged read if it is the same
 * one, else (remembered as a mismatch) the bytes as they are now.
 */
static void ref_read(void *dst, u64 uaddr, u32 len)
{
	const struct read_rec *e = &rlog[rlog_pos];

	/*
	 * Built with -DRING_FUZZ_LAX_READS=1 (to check the mutations on their
	 * own): the first untaken read of the same bytes, in any order; extra
	 * device reads are not findings.  Then only a mutation between two
	 * reads of a field makes a double fetch visible.
	 */
	for (u32 k = 0; LAX_READS && k < rlog_n; k++) {
		struct read_rec *x = &rlog[k];

		if (!x->taken && x->uaddr == uaddr && x->len == len) {
			x->taken = true;
			memcpy(dst, rlog_bytes + x->off, len);
			return;
		}
	}
	if (LAX_READS)
		e = NULL;

	if (e && !bad_len && rlog_pos < rlog_n && e->uaddr == uaddr &&
	    e->len == len) {
		memcpy(dst, rlog_bytes + e->off, len);
		rlog_pos++;
		return;
	}
	if (!bad_len) {
		bad_uaddr = uaddr;
		bad_len = len;
	}
	memcpy(dst, (void *)(uintptr_t)uaddr, len);
}

static u16 ref_read16(u64 uaddr)
{
	u16 v;

	ref_read(&v, uaddr, 2);
	return le16_to_cpu(v);
}

/* Device and model agreed: they must have read the same, once, in order. */
static void log_check(const char *op)
{
	const struct read_rec *e = &rlog[rlog_pos];

	if (bad_len && rlog_pos < rlog_n)
		fail("%s: the model read %u bytes at %s where the device read "
		     "%u bytes at %s", op, bad_len, where(bad_uaddr), e->len,
		     where(e->uaddr));
	if (bad_len)
		fail("%s: the model read %u bytes at %s, the device did not",
		     op, bad_len, where(bad_uaddr));
	if (!LAX_READS && rlog_pos < rlog_n)
		fail("%s: the device read %u bytes at %s more than the walk "
		     "needs (read %u of %u; a double fetch?)", op, e->len,
		     where(e->uaddr), rlog_pos + 1, rlog_n);
}

/* The last store into guest memory, and whether it was logged. */
static u64 last_write;
static size_t last_write_len;
static bool unlogged;

int vhx_user_write(u64 uaddr, const void *src, size_t len)
{
	u64 used_len = 6 + 8 * (u64)ring.num;

	if (no_access)
		fail("vhx_ring_check wrote guest memory");
	if (!in_region(uaddr, len))
		fail("write of %zu bytes at %s outside the memory table",
		     len, where(uaddr));
	if (!ring_live || uaddr < ring.used ||
	    (u128)uaddr + len > (u128)ring.used + used_len)
		fail("write of %zu bytes at used%+lld, outside the used ring "
		     "[used, used+%llu)", len,
		     (long long)(uaddr - ring.used),
		     (unsigned long long)used_len);
	memcpy((void *)(uintptr_t)uaddr, src, len);
	last_write = uaddr;
	last_write_len = len;
	unlogged = true;
	return 0;
}

/*
 * The used ring's log hook (VHOST_VRING_F_LOG): each store, once made,
 * is reported once, with its own offset and length, inside the ring.
 */
static int fuzz_log_used(struct vhx_ring *r, u64 off, u64 len)
{
	if (!unlogged || r->used + off != last_write || len != last_write_len)
		fail("logged used+%llu, %llu bytes; the last store was "
		     "used%+lld, %zu bytes%s", (unsigned long long)off,
		     (unsigned long long)len,
		     (long long)(last_write - r->used), last_write_len,
		     unlogged ? "" : ", logged already");
	unlogged = false;
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
	u16 idx = ref_read16(ring.avail + 2);

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
		struct iovec piece[16];
		u32 npieces = 0;

		if (++steps > count)
			return -1;
		/* A descriptor is copied in as many pieces as it has bytes. */
		if (ref_to_iov(&table.mem, base + 16 * (u64)i, 16, piece, 16,
			       &npieces))
			return -1;
		for (u32 k = 0; k < npieces; k++) {
			ref_read(p, (uintptr_t)piece[k].iov_base,
				 piece[k].iov_len);
			p += piece[k].iov_len;
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
	head = ref_read16(ring.avail + 4 + 2 * (u64)(m.last_avail % ring.num));
	if (head >= ring.num)
		return -1;
	memset(c, 0, sizeof(*c));
	*head_out = head;
	for (i = head;;) {
		if (++steps > ring.num)
			return -1;
		ref_read(&d, ring.desc + 16 * (u64)i, 16);
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
	if (unlogged)
		fail("%s: a store into the used ring was not logged", op);
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

/* A chain's lengths are its segments' sums, whatever the guest changed. */
static void check_lengths(const struct vhx_chain *c, const struct iovec *iov)
{
	u64 out = 0, in = 0;

	for (u32 k = 0; k < c->out + c->in; k++)
		*(k < c->out ? &out : &in) += iov[k].iov_len;
	if (out != c->out_len || in != c->in_len)
		fail("chain out_len %llu in_len %llu, its segments add up to "
		     "%llu and %llu", (unsigned long long)c->out_len,
		     (unsigned long long)c->in_len, (unsigned long long)out,
		     (unsigned long long)in);
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

/* One mapping: NSLOTS slots, each between PROT_NONE guard pages. */
static void init_slots(void)
{
	size_t stride = SLOT_SIZE + PAGE;
	unsigned char *p = mmap(NULL, NSLOTS * stride + PAGE,
				PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		abort();
	for (int i = 0; i <= NSLOTS; i++)
		if (mprotect(p + i * stride, PAGE, PROT_NONE))
			abort();
	for (int i = 0; i < NSLOTS; i++) {
		slot_base[i] = p + PAGE + i * stride;
		ASAN_POISON_MEMORY_REGION(slot_base[i], SLOT_SIZE);
	}
}

static int cmp_region(const void *a, const void *b)
{
	const struct vhx_mem_region *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* The part of the current slot that regions already took (wide inputs). */
struct slot_use {
	unsigned char *slot;
	u64 lo, hi;
};

/*
 * Where a region lives in the host: 0 for a slot of its own, or packed
 * against the regions already in the current slot, so that two are
 * HVA-adjacent (right after them, right before them, or a few poisoned
 * bytes after them), when the slot has room.
 */
static u64 place(u8 hva, u64 size, struct slot_use *u)
{
	u64 end = (uintptr_t)u->slot + SLOT_SIZE;
	u64 gap = (hva >> 2) + 1;

	switch (u->slot ? hva % 4 : 0) {
	case 1:
		if (size <= end - u->hi)
			return (u->hi += size) - size;
		break;
	case 2:
		if (size <= u->lo - (uintptr_t)u->slot)
			return u->lo -= size;
		break;
	case 3:
		if (gap + size <= end - u->hi)
			return (u->hi += gap + size) - size;
		break;
	}
	return 0;
}

/* Build the table (sorted by gpa, as the module does); false if refused. */
static bool setup_mem(struct input *in, u32 nregions)
{
	u8 rot = U8(in);
	u64 prev_end = 0;
	struct slot_use use = { NULL, 0, 0 };
	u32 nslot = 0;
	int ret, want;

	/* What the previous input unpoisoned; every slot starts poisoned. */
	for (u32 i = 0; i < table.mem.nregions; i++)
		ASAN_POISON_MEMORY_REGION((void *)(uintptr_t)table.r[i].uaddr,
					  table.r[i].size);
	table.mem.nregions = nregions;
	for (u32 i = 0; i < nregions; i++) {
		struct vhx_mem_region *r = &table.r[i];
		u64 size = (u64)U16(in) % SLOT_SIZE + 1;
		u8 mode = U8(in);
		u64 raw = U64(in);
		u8 hva = wide ? U8(in) : 0;

		r->size = size;
		r->uaddr = place(hva, size, &use);
		if (!r->uaddr) {
			/* Flush against the front or the back guard page. */
			use.slot = slot_base[(nslot++ + rot) % NSLOTS];
			r->uaddr = (uintptr_t)((mode & 0x80) ? use.slot :
					       use.slot + SLOT_SIZE - size);
			use.lo = r->uaddr;
			use.hi = r->uaddr + size;
		}
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
	for (u32 i = 0; trace && i < nregions; i++)
		TRACE("region %u: gpa %#llx size %#llx hva slot+%#llx%s\n", i,
		      (unsigned long long)table.r[i].gpa,
		      (unsigned long long)table.r[i].size,
		      (unsigned long long)((table.r[i].uaddr -
					    (uintptr_t)slot_base[0]) %
					   (SLOT_SIZE + PAGE)),
		      i && table.r[i].uaddr ==
			   table.r[i - 1].uaddr + table.r[i - 1].size ?
		      ", HVA-adjacent to the previous" : "");
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
	m.used_idx = ref_read16(ring.used + 2);
	m.outstanding = 0;
	check_state("start");
	log_check("start");
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

	ret = vhx_ring_get(&ring, &c, iov_dut, iov_max);
	want = ref_get(&rc, &rhead, iov_ref, iov_max);
	TRACE("get %d (model %d) head %u ndesc %u out %u in %u\n", ret, want,
	      c.head, c.ndesc, c.out, c.in);
	if (ret < 0 && want < 0) {
		check_state("failed get");
		return;
	}
	if (ret != want)
		fail("vhx_ring_get %d, model %d", ret, want);
	check_state("get");
	log_check("get");
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
	check_lengths(&c, iov_dut);
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
		want = !(ref_read16(ring.avail) & VHX_AVAIL_F_NO_INTERRUPT);
	} else {
		u16 event = ref_read16(ring.avail + 4 + 2 * (u64)ring.num);
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
	if (ret >= 0)
		log_check("need_call");
}

static void op_notify_on(void)
{
	u16 seen = m.avail_idx;
	u64 fired = nfired;
	int ret = vhx_ring_notify_on(&ring), want;

	if (nfired != fired) {
		/* a mutation may have overwritten what it wrote: not checked */
	} else if (ring.event_idx) {
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
	if (ret >= 0)
		log_check("notify_on");
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
		struct vhx_mem_region r[NSLOTS];
	} t;
	struct iovec a[4], b[4];
	const struct vhx_mem_region *f;
	u32 na = 0, nb = 0, max;
	u64 gpa, len, uaddr;
	int ret, want, ri;

	t.mem.nregions = U8(in) % (wide ? NSLOTS : 4) + 1;
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

/*
 * Guest, racing the device: before the device's (delay % 64 + 1)th read
 * from now, and then every (delay >> 6) + 1 reads, (how >> 3 & 7) + 1
 * times in all, set (or xor, how bit 7) len % 16 + 1 bytes at the target
 * ((how & 7) % 5): region reg + off, the descriptor table + off, the avail ring
 * + off, the device's previous read + off, the read about to happen + off.
 */
static void op_arm(struct input *in)
{
	struct mutation mu = { 0 };
	u8 delay = U8(in), how = U8(in);

	/* One field per statement: the input is read in this order. */
	mu.at = nreads + 1 + delay % 64;
	mu.period = (delay >> 6) + 1;
	mu.target = (how & 7) % 5;
	mu.left = ((how >> 3) & 7) + 1;
	mu.xor = how & 0x80;
	mu.reg = U8(in);
	mu.off = U16(in);
	mu.len = U8(in) % 16 + 1;
	for (u32 k = 0; k < mu.len; k++)
		mu.data[k] = U8(in);
	if (narmed < MAX_ARMED)
		armed[narmed++] = mu;
	TRACE("arm: target %u at read %llu, %u bytes, %u times\n", mu.target,
	      (unsigned long long)mu.at, mu.len, mu.left);
}

static void run_ops(struct input *in)
{
	struct vhx_desc d;
	u32 num = ring.num;
	u64 gpa;

	for (int nops = 0; in->n && nops < MAX_OPS; nops++) {
		u8 op = U8(in);

		log_begin();
		switch (op % (toctou ? 20 : 18)) {
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
		case 18:
		case 19:
			op_arm(in);
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
	u8 hdr, numsel, im, ext;
	int ret, want;

	if (!slot_base[0]) {
		init_slots();
		trace = getenv("RING_FUZZ_TRACE");
	}
	ring_live = false;
	memset(&m, 0, sizeof(m));
	memset(addrbook, 0, sizeof(addrbook));
	guest_avail = 0;
	narmed = 0;
	nreads = nfired = 0;
	last_len = 0;
	log_begin();

	hdr = U8(&in);
	numsel = U8(&in);
	im = U8(&in);
	wide = hdr & 0x40;
	ext = wide ? U8(&in) : 0;
	toctou = ext & 0x40;
	if (hdr & 0x80) {	/* the pure functions only */
		while (in.n)
			op_synthetic_table(&in);
		return 0;
	}
	if (!setup_mem(&in, wide ? (ext & 63) + 1 : (hdr & 3) + 1))
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
	ring.log_used = fuzz_log_used;
	unlogged = false;
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
	m.used_idx = ref_read16(ring.used + 2);
	m.avail_idx = m.last_avail;
	check_state("first start");
	log_check("first start");
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
