// SPDX-License-Identifier: GPL-2.0
/*
 * vhxg: a guest-less virtio driver for vhost devices.  See vhxg.h.
 *
 * Ring fields are written in host byte order: this library runs on x86
 * (little endian), where legacy and VERSION_1 layouts agree.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "vhxg.h"

#define READ_ONCE(x)	(*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

static inline void store_release16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint16_t load_acquire16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void full_barrier(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* ---- arena --------------------------------------------------------------- */

int vhxg_arena_init(struct vhxg_arena *a, size_t size)
{
	void *p;

	size = (size + 4095) & ~(size_t)4095;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	a->base = p;
	a->size = size;
	a->used = 0;
	return 0;
}

void vhxg_arena_fini(struct vhxg_arena *a)
{
	if (a->base)
		munmap(a->base, a->size);
	a->base = NULL;
	a->size = 0;
	a->used = 0;
}

void *vhxg_alloc(struct vhxg_arena *a, size_t size, size_t align)
{
	size_t off;

	if (!align || (align & (align - 1)))
		return NULL;
	off = (a->used + align - 1) & ~(align - 1);
	if (off > a->size || size > a->size - off)
		return NULL;
	a->used = off + size;
	return a->base + off;
}

void vhxg_arena_reset(struct vhxg_arena *a)
{
	a->used = 0;
}

/* ---- device -------------------------------------------------------------- */

int vhxg_open(struct vhxg_dev *d, const char *path, struct vhxg_arena *a)
{
	unsigned int i;

	memset(d, 0, sizeof(*d));
	for (i = 0; i < VHXG_MAX_VQS; i++) {
		d->vqs[i].kick_fd = -1;
		d->vqs[i].call_fd = -1;
		d->vqs[i].err_fd = -1;
	}
	d->arena = a;
	d->fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0)
		return -errno;
	return 0;
}

void vhxg_close(struct vhxg_dev *d)
{
	unsigned int i;

	for (i = 0; i < VHXG_MAX_VQS; i++)
		vhxg_vq_fini(&d->vqs[i]);
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

int vhxg_ioctl(struct vhxg_dev *d, unsigned long req, void *arg)
{
	return vhost_ioctl(d->fd, req, arg);
}

int vhxg_set_owner(struct vhxg_dev *d)
{
	return vhost_set_owner(d->fd);
}

int vhxg_reset_owner(struct vhxg_dev *d)
{
	return vhost_reset_owner(d->fd);
}

int vhxg_get_features(struct vhxg_dev *d, uint64_t *features)
{
	return vhost_get_features(d->fd, features);
}

int vhxg_set_features(struct vhxg_dev *d, uint64_t features)
{
	int ret = vhost_set_features(d->fd, features);

	if (!ret)
		d->features = features;
	return ret;
}

int vhxg_get_backend_features(struct vhxg_dev *d, uint64_t *features)
{
	return vhost_get_backend_features(d->fd, features);
}

int vhxg_set_backend_features(struct vhxg_dev *d, uint64_t features)
{
	return vhost_set_backend_features(d->fd, features);
}

int vhxg_set_mem_table(struct vhxg_dev *d,
		       const struct vhost_memory_region *regions,
		       unsigned int nregions)
{
	return vhost_set_mem_table(d->fd, regions, nregions);
}

int vhxg_set_mem_identity(struct vhxg_dev *d)
{
	struct vhost_memory_region r = {
		.guest_phys_addr = (uintptr_t)d->arena->base,
		.memory_size = d->arena->size,
		.userspace_addr = (uintptr_t)d->arena->base,
	};

	return vhxg_set_mem_table(d, &r, 1);
}

/* ---- single vring ioctls ------------------------------------------------- */

int vhxg_set_vring_num(struct vhxg_dev *d, unsigned int idx, unsigned int num)
{
	return vhost_set_vring_num(d->fd, idx, num);
}

int vhxg_set_vring_base(struct vhxg_dev *d, unsigned int idx,
			unsigned int base)
{
	return vhost_set_vring_base(d->fd, idx, base);
}

int vhxg_get_vring_base(struct vhxg_dev *d, unsigned int idx,
			unsigned int *base)
{
	return vhost_get_vring_base(d->fd, idx, base);
}

int vhxg_set_vring_addr(struct vhxg_dev *d, unsigned int idx,
			uint64_t desc, uint64_t avail, uint64_t used,
			unsigned int flags)
{
	return vhost_set_vring_addr(d->fd, idx, desc, avail, used, flags);
}

int vhxg_set_vring_fd(struct vhxg_dev *d, unsigned long req, unsigned int idx,
		      int fd)
{
	return vhost_set_vring_fd(d->fd, req, idx, fd);
}

int vhxg_net_set_backend(struct vhxg_dev *d, unsigned int idx, int fd)
{
	return vhost_net_set_backend(d->fd, idx, fd);
}

/* ---- queue setup --------------------------------------------------------- */

static void vq_reset_free_list(struct vhxg_vq *vq)
{
	unsigned int i;

	for (i = 0; i < vq->num; i++) {
		vq->next_free[i] = i + 1;
		vq->chain_len[i] = 0;
	}
	vq->free_head = 0;
	vq->num_free = vq->num;
}

static int new_eventfd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int vhxg_vq_init(struct vhxg_dev *d, unsigned int idx, unsigned int num,
		 unsigned int indirect_max)
{
	struct vhxg_vq *vq;
	struct vhxg_arena *a = d->arena;
	int ret;

	if (idx >= VHXG_MAX_VQS || !num || (num & (num - 1)) || num > 32768)
		return -EINVAL;
	vq = &d->vqs[idx];
	vhxg_vq_fini(vq);
	vq->dev = d;
	vq->index = idx;
	vq->num = num;
	vq->event_idx = d->features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	vq->indirect_max = indirect_max ? indirect_max : VHXG_INDIRECT_MAX;

	/* The minimum alignments of the split ring layout, no more. */
	vq->desc = vhxg_alloc(a, 16 * num, 16);
	vq->avail = vhxg_alloc(a, 4 + 2 * num + 2, 2);
	vq->used = vhxg_alloc(a, 4 + 8 * num + 2, 4);
	vq->indirect = vhxg_alloc(a, (size_t)16 * num * vq->indirect_max, 16);
	vq->next_free = calloc(num, sizeof(*vq->next_free));
	vq->chain_len = calloc(num, sizeof(*vq->chain_len));
	if (!vq->desc || !vq->avail || !vq->used || !vq->indirect ||
	    !vq->next_free || !vq->chain_len) {
		ret = -ENOMEM;
		goto err;
	}
	vhxg_vq_rewind(vq, 0);

	vq->kick_fd = new_eventfd();
	vq->call_fd = new_eventfd();
	vq->err_fd = new_eventfd();
	if (vq->kick_fd < 0 || vq->call_fd < 0 || vq->err_fd < 0) {
		ret = vq->kick_fd < 0 ? vq->kick_fd :
		      vq->call_fd < 0 ? vq->call_fd : vq->err_fd;
		goto err;
	}
	return 0;
err:
	vhxg_vq_fini(vq);
	return ret;
}

int vhxg_vq_configure(struct vhxg_vq *vq)
{
	struct vhxg_dev *d = vq->dev;
	int ret;

	ret = vhxg_set_vring_num(d, vq->index, vq->num);
	if (!ret)
		ret = vhxg_set_vring_base(d, vq->index, vq->avail_idx);
	if (!ret)
		ret = vhxg_set_vring_addr(d, vq->index, (uintptr_t)vq->desc,
					  (uintptr_t)vq->avail,
					  (uintptr_t)vq->used, 0);
	if (!ret)
		ret = vhxg_set_vring_fd(d, VHOST_SET_VRING_KICK, vq->index,
					vq->kick_fd);
	if (!ret)
		ret = vhxg_set_vring_fd(d, VHOST_SET_VRING_CALL, vq->index,
					vq->call_fd);
	if (!ret)
		ret = vhxg_set_vring_fd(d, VHOST_SET_VRING_ERR, vq->index,
					vq->err_fd);
	vq->configured = !ret;
	return ret;
}

int vhxg_vq_setup(struct vhxg_dev *d, unsigned int idx, unsigned int num)
{
	int ret = vhxg_vq_init(d, idx, num, 0);

	return ret ? ret : vhxg_vq_configure(&d->vqs[idx]);
}

void vhxg_vq_rewind(struct vhxg_vq *vq, uint16_t base)
{
	memset(vq->desc, 0, 16 * vq->num);
	memset(vq->avail, 0, 4 + 2 * vq->num + 2);
	memset(vq->used, 0, 4 + 8 * vq->num + 2);
	vq_reset_free_list(vq);
	vq->avail->idx = base;
	vq->used->idx = base;
	vq->avail_idx = base;
	vq->kicked_idx = base;
	vq->last_used = base;
	vq->bad_used = 0;
	if (vq->event_idx)
		vhxg_vq_set_used_event(vq, base);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vhxg_vq_fini(struct vhxg_vq *vq)
{
	close_fd(&vq->kick_fd);
	close_fd(&vq->call_fd);
	close_fd(&vq->err_fd);
	free(vq->next_free);
	free(vq->chain_len);
	vq->next_free = NULL;
	vq->chain_len = NULL;
	vq->num = 0;
	vq->configured = false;
}

/* ---- driver side of the ring --------------------------------------------- */

static void fill_desc(struct vring_desc *d, const struct vhxg_buf *b,
		      uint16_t flags, uint16_t next)
{
	d->addr = (uintptr_t)b->addr;
	d->len = b->len;
	d->flags = flags;
	d->next = next;
}

static uint16_t add_indirect(struct vhxg_vq *vq, uint16_t head,
			     const struct vhxg_buf *out, unsigned int nout,
			     const struct vhxg_buf *in, unsigned int nin)
{
	struct vring_desc *t = vq->indirect + (size_t)head * vq->indirect_max;
	unsigned int total = nout + nin, i;

	for (i = 0; i < total; i++) {
		uint16_t flags = i + 1 < total ? VRING_DESC_F_NEXT : 0;

		if (i < nout)
			fill_desc(&t[i], &out[i], flags, i + 1);
		else
			fill_desc(&t[i], &in[i - nout],
				  flags | VRING_DESC_F_WRITE, i + 1);
	}
	vq->desc[head].addr = (uintptr_t)t;
	vq->desc[head].len = total * sizeof(*t);
	vq->desc[head].flags = VRING_DESC_F_INDIRECT;
	vq->desc[head].next = 0;
	vq->free_head = vq->next_free[head];
	return 1;
}

static uint16_t add_direct(struct vhxg_vq *vq, uint16_t head,
			   const struct vhxg_buf *out, unsigned int nout,
			   const struct vhxg_buf *in, unsigned int nin)
{
	unsigned int total = nout + nin, n;
	uint16_t i = head;

	for (n = 0; n < total; n++) {
		uint16_t next = vq->next_free[i];
		uint16_t flags = n + 1 < total ? VRING_DESC_F_NEXT : 0;

		if (n < nout)
			fill_desc(&vq->desc[i], &out[n], flags, next);
		else
			fill_desc(&vq->desc[i], &in[n - nout],
				  flags | VRING_DESC_F_WRITE, next);
		i = next;
	}
	vq->free_head = i;
	return total;
}

int vhxg_vq_add(struct vhxg_vq *vq, const struct vhxg_buf *out,
		unsigned int nout, const struct vhxg_buf *in, unsigned int nin,
		unsigned int flags)
{
	bool indirect = flags & VHXG_ADD_INDIRECT;
	unsigned int total = nout + nin;
	uint16_t head, n;

	if (!total || total > vq->num ||
	    (indirect && total > vq->indirect_max))
		return -EINVAL;
	if (vq->num_free < (indirect ? 1 : total))
		return -ENOSPC;

	head = vq->free_head;
	if (indirect)
		n = add_indirect(vq, head, out, nout, in, nin);
	else
		n = add_direct(vq, head, out, nout, in, nin);
	vq->num_free -= n;
	vq->chain_len[head] = n;
	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = head;
	vq->avail_idx++;
	return head;
}

void vhxg_vq_publish(struct vhxg_vq *vq)
{
	store_release16(&vq->avail->idx, vq->avail_idx);
}

static int write_eventfd(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	return 0;
}

int vhxg_vq_kick_force(struct vhxg_vq *vq)
{
	vq->kicked_idx = vq->avail_idx;
	vq->kicks++;
	return write_eventfd(vq->kick_fd);
}

int vhxg_vq_kick(struct vhxg_vq *vq)
{
	uint16_t old = vq->kicked_idx, new = vq->avail_idx;
	bool need;
	int ret;

	vq->kicked_idx = new;
	/* avail->idx must be visible before we read the device's wishes. */
	full_barrier();
	if (vq->event_idx)
		need = vring_need_event(vhxg_vq_avail_event(vq), new, old);
	else
		need = !(READ_ONCE(vq->used->flags) & VRING_USED_F_NO_NOTIFY);
	if (!need)
		return 0;
	vq->kicks++;
	ret = write_eventfd(vq->kick_fd);
	return ret ? ret : 1;
}

void vhxg_vq_put_desc(struct vhxg_vq *vq, unsigned int i, uint64_t addr,
		      uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc *d = &vq->desc[i & (vq->num - 1)];

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

void vhxg_vq_put_avail(struct vhxg_vq *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = head;
	vq->avail_idx++;
}

void vhxg_vq_set_avail_idx(struct vhxg_vq *vq, uint16_t idx)
{
	vq->avail_idx = idx;
	store_release16(&vq->avail->idx, idx);
}

int vhxg_vq_take_descs(struct vhxg_vq *vq, unsigned int n, uint16_t *ids)
{
	unsigned int i;

	if (vq->num_free < n)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		ids[i] = vq->free_head;
		vq->free_head = vq->next_free[vq->free_head];
	}
	vq->num_free -= n;
	return n ? ids[0] : 0;
}

int vhxg_vq_take_chain(struct vhxg_vq *vq, unsigned int n, uint16_t *ids)
{
	int head;

	if (!n)
		return -EINVAL;
	head = vhxg_vq_take_descs(vq, n, ids);
	/* The taken ids are linked in next_free, as free_chain() expects. */
	if (head >= 0)
		vq->chain_len[head] = n;
	return head;
}

/* Return a reaped chain to the free list; the device may lie about ids. */
static int free_chain(struct vhxg_vq *vq, uint32_t id)
{
	uint16_t n, tail = id;

	if (id >= vq->num || !vq->chain_len[id])
		return -EINVAL;
	n = vq->chain_len[id];
	vq->chain_len[id] = 0;
	vq->num_free += n;
	while (--n)
		tail = vq->next_free[tail];
	vq->next_free[tail] = vq->free_head;
	vq->free_head = id;
	return 0;
}

unsigned int vhxg_vq_pending(struct vhxg_vq *vq)
{
	return (uint16_t)(load_acquire16(&vq->used->idx) - vq->last_used);
}

int vhxg_vq_reap(struct vhxg_vq *vq, struct vhxg_used *out, unsigned int max)
{
	uint16_t used_idx = load_acquire16(&vq->used->idx);
	unsigned int n = 0;

	while (vq->last_used != used_idx && n < max) {
		struct vring_used_elem *e;
		uint32_t id, len;

		e = &vq->used->ring[vq->last_used & (vq->num - 1)];
		id = READ_ONCE(e->id);
		len = READ_ONCE(e->len);
		if (free_chain(vq, id))
			vq->bad_used++;
		if (out) {
			out[n].id = id;
			out[n].len = len;
		}
		vq->last_used++;
		n++;
	}
	if (vq->event_idx)
		vhxg_vq_set_used_event(vq, vq->last_used);
	return n;
}

void vhxg_vq_set_used_event(struct vhxg_vq *vq, uint16_t idx)
{
	WRITE_ONCE(vq->avail->ring[vq->num], idx);
	full_barrier();
}

uint16_t vhxg_vq_avail_event(struct vhxg_vq *vq)
{
	volatile uint16_t *p;

	/* avail_event sits right after the used ring entries. */
	p = (volatile uint16_t *)((uint8_t *)vq->used->ring + 8 * vq->num);
	return *p;
}

void vhxg_vq_set_avail_flags(struct vhxg_vq *vq, uint16_t flags)
{
	WRITE_ONCE(vq->avail->flags, flags);
	full_barrier();
}

/* ---- waiting ------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* vhxg_wait_fd(), adding the eventfd's count to *total. */
static int wait_count(int fd, int timeout_ms, uint64_t *total)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t count;
	int ret;

	do {
		ret = poll(&p, 1, timeout_ms);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	if (!ret)
		return 0;
	if (read(fd, &count, sizeof(count)) != sizeof(count))
		return errno == EAGAIN ? 0 : -errno;
	*total += count;
	return 1;
}

int vhxg_wait_fd(int fd, int timeout_ms)
{
	uint64_t total = 0;

	return wait_count(fd, timeout_ms, &total);
}

int vhxg_vq_wait_call(struct vhxg_vq *vq, int timeout_ms)
{
	return wait_count(vq->call_fd, timeout_ms, &vq->calls);
}

int vhxg_vq_wait_err(struct vhxg_vq *vq, int timeout_ms)
{
	return vhxg_wait_fd(vq->err_fd, timeout_ms);
}

int vhxg_vq_wait_used(struct vhxg_vq *vq, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	int ret;

	for (;;) {
		int64_t left;

		if (vhxg_vq_pending(vq))
			return 1;
		left = end - now_ms();
		if (timeout_ms >= 0 && left <= 0)
			return 0;
		/* Calls may be suppressed: look at the ring now and then. */
		ret = wait_count(vq->call_fd, left > 20 || timeout_ms < 0 ?
				 20 : (int)left, &vq->calls);
		if (ret < 0)
			return ret;
	}
}

size_t vhxg_net_hdr_len(uint64_t features)
{
	if (features & ((1ULL << VIRTIO_NET_F_MRG_RXBUF) |
			(1ULL << VIRTIO_F_VERSION_1)))
		return sizeof(struct virtio_net_hdr_mrg_rxbuf);
	return sizeof(struct virtio_net_hdr);
}
