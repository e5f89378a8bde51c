// SPDX-License-Identifier: GPL-2.0
/* A VMM's dirty log for the logging tests; see dlog.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "dlog.h"
#include "kselftest.h"

#define CANARY	0x5a

int dlog_init(struct dlog *l, uint64_t end)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t bytes = ((end + DLOG_PAGE - 1) / DLOG_PAGE + 7) / 8;
	size_t room = (bytes + page - 1) / page * page;

	memset(l, 0, sizeof(*l));
	l->mapping_len = room + page;
	l->mapping = mmap(NULL, l->mapping_len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (l->mapping == MAP_FAILED) {
		l->mapping = NULL;
		return -errno;
	}
	/* The last byte the log needs ends right before the canary page. */
	l->bytes = bytes;
	l->map = l->mapping + room - bytes;
	l->canary = l->mapping + room;
	memset(l->canary, CANARY, page);
	return 0;
}

void dlog_fini(struct dlog *l)
{
	if (l->mapping)
		munmap(l->mapping, l->mapping_len);
	memset(l, 0, sizeof(*l));
}

void dlog_clear(struct dlog *l)
{
	long page = sysconf(_SC_PAGESIZE);

	/* Private anonymous memory reads back as zeroes, and is gone. */
	madvise(l->mapping, l->canary - l->mapping, MADV_DONTNEED);
	memset(l->canary, CANARY, page);
}

static int pages_push(struct dlog_pages *s, uint64_t pg)
{
	uint64_t *p;
	size_t i;

	for (i = s->n; i > 0 && s->pg[i - 1] >= pg; i--)
		if (s->pg[i - 1] == pg)
			return 0;
	if (s->n == s->cap) {
		p = realloc(s->pg, (s->cap ? 2 * s->cap : 64) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->pg = p;
		s->cap = s->cap ? 2 * s->cap : 64;
	}
	memmove(s->pg + i + 1, s->pg + i, (s->n - i) * sizeof(*s->pg));
	s->pg[i] = pg;
	s->n++;
	return 0;
}

int dlog_pages_add(struct dlog_pages *s, uint64_t gpa, uint64_t len)
{
	uint64_t pg;
	int ret;

	if (!len)
		return 0;
	for (pg = gpa / DLOG_PAGE; pg <= (gpa + len - 1) / DLOG_PAGE; pg++) {
		ret = pages_push(s, pg);
		if (ret)
			return ret;
	}
	return 0;
}

void dlog_pages_free(struct dlog_pages *s)
{
	free(s->pg);
	memset(s, 0, sizeof(*s));
}

/* Collect the set bits of the log's existing page at @p. */
static int scan_page(const struct dlog *l, const uint8_t *p, size_t len,
		     struct dlog_pages *out)
{
	size_t i;
	int b, ret;

	for (i = 0; i < len; i++) {
		if (!p[i])
			continue;
		for (b = 0; b < 8; b++) {
			uint64_t byte = p + i - l->map;

			if (!(p[i] & (1u << b)))
				continue;
			ret = pages_push(out, byte * 8 + b);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int dlog_marked(const struct dlog *l, struct dlog_pages *out)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t npages = (l->canary - l->mapping) / page, i;
	unsigned char *vec = malloc(npages);
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!vec)
		return -ENOMEM;
	if (mincore(l->mapping, npages * page, vec)) {
		free(vec);
		return -errno;
	}
	for (i = 0; i < npages && !ret; i++) {
		const uint8_t *p = l->mapping + i * page;
		size_t len = page;

		if (!(vec[i] & 1))
			continue;
		/* The first page starts before the log. */
		if (p < l->map) {
			len -= l->map - p;
			p = l->map;
		}
		ret = scan_page(l, p, len, out);
	}
	free(vec);
	return ret;
}

static bool has(const struct dlog_pages *s, uint64_t pg)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->pg[i] == pg)
			return true;
	return false;
}

bool dlog_expect(const struct dlog *l, const struct dlog_pages *want,
		 const char *what)
{
	struct dlog_pages got;
	bool ok = true;
	size_t i;

	if (dlog_marked(l, &got)) {
		ksft_print_msg("%s: cannot read the log\n", what);
		return false;
	}
	for (i = 0; i < want->n; i++) {
		if (!has(&got, want->pg[i])) {
			ksft_print_msg("%s: page %#llx written, not marked\n",
				       what, (unsigned long long)want->pg[i] *
				       DLOG_PAGE);
			ok = false;
		}
	}
	for (i = 0; i < got.n; i++) {
		if (!has(want, got.pg[i])) {
			ksft_print_msg("%s: page %#llx marked, not written\n",
				       what, (unsigned long long)got.pg[i] *
				       DLOG_PAGE);
			ok = false;
		}
	}
	if (ok)
		ksft_print_msg("%s: %zu pages marked, as written\n", what,
			       got.n);
	dlog_pages_free(&got);
	return ok;
}

bool dlog_canary_intact(const struct dlog *l)
{
	long page = sysconf(_SC_PAGESIZE), i;

	for (i = 0; i < page; i++)
		if (l->canary[i] != CANARY)
			return false;
	return true;
}

int dlog_set_ring(struct vhxg_vq *vq, bool log, uint64_t log_addr)
{
	struct vhost_vring_addr a = {
		.index = vq->index,
		.flags = log ? 1u << VHOST_VRING_F_LOG : 0,
		.desc_user_addr = (uintptr_t)vq->desc,
		.avail_user_addr = (uintptr_t)vq->avail,
		.used_user_addr = (uintptr_t)vq->used,
		.log_guest_addr = log_addr,
	};

	return vhxg_ioctl(vq->dev, VHOST_SET_VRING_ADDR, &a);
}

int dlog_start(struct dlog *l, struct vhxg_dev *d, unsigned int nvqs,
	       unsigned int how, int efd)
{
	uint64_t base = (uintptr_t)l->map;
	unsigned int i;
	int ret;

	ret = vhxg_ioctl(d, VHOST_SET_LOG_BASE, &base);
	if (!ret)
		ret = vhxg_ioctl(d, VHOST_SET_LOG_FD, &efd);
	if (!ret && (how & DLOG_ALL))
		ret = vhxg_set_features(d, d->features |
					(1ULL << VHOST_F_LOG_ALL));
	for (i = 0; i < nvqs && !ret; i++)
		ret = dlog_set_ring(&d->vqs[i], how & DLOG_USED,
				    (uintptr_t)d->vqs[i].used);
	if (ret)
		ksft_print_msg("starting the log: %s\n", strerror(-ret));
	dlog_clear(l);
	return ret;
}

int dlog_pages_add_used(struct dlog_pages *s, const struct vhxg_vq *vq,
			uint16_t from, uint16_t to)
{
	uint64_t used = (uintptr_t)vq->used;
	int ret = dlog_pages_add(s, used, 4);
	uint16_t i;

	for (i = from; i != to && !ret; i++)
		ret = dlog_pages_add(s, used + 4 + 8 * (i % vq->num), 8);
	return ret;
}
