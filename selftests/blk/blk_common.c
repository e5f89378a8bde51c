// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the vhx-blk selftests: see blk_common.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include "blk_common.h"

int blk_tmpfile(uint64_t bytes)
{
	const char *dir = getenv("TMPDIR");
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/vhx-blk.XXXXXX", dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (ftruncate(fd, bytes)) {
		close(fd);
		return -errno;
	}
	return fd;
}

int blk_open_ramdisk(unsigned int n, int flags, uint64_t *bytes)
{
	char path[32];
	int fd;

	snprintf(path, sizeof(path), "/dev/ram%u", n);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (bytes && ioctl(fd, BLKGETSIZE64, bytes)) {
		close(fd);
		return -errno;
	}
	return fd;
}

int blk_set_backend(struct blk_dev *b, int fd)
{
	return vhx_blk_set_backend(b->dev.fd, fd);
}

int blk_get_config(struct blk_dev *b, struct vhx_blk_config *cfg)
{
	return vhxg_ioctl(&b->dev, VHX_BLK_GET_CONFIG, cfg);
}

static int setup_queues(struct blk_dev *b, const struct blk_cfg *cfg)
{
	unsigned int num = cfg->num ? cfg->num : 128, q;
	int ret;

	for (q = 0; q < b->nq; q++) {
		ret = vhxg_vq_init(&b->dev, q, num, cfg->indirect_max);
		if (!ret)
			ret = vhxg_vq_configure(&b->dev.vqs[q]);
		if (ret)
			return ret;
		b->slots[q] = vhxg_alloc(&b->arena, num * sizeof(struct blk_slot),
					 16);
		if (!b->slots[q])
			return -ENOMEM;
	}
	return 0;
}

int blk_dev_open(struct blk_dev *b, const struct blk_cfg *cfg, int backend)
{
	const char *path = test_dev ? test_dev : "/dev/vhx-blk";
	int ret;

	memset(b, 0, sizeof(*b));
	b->dev.fd = -1;
	b->nq = cfg->nq ? cfg->nq : 1;
	if (b->nq > VHXG_MAX_VQS)
		return -EINVAL;
	ret = vhxg_arena_init(&b->arena, cfg->arena ? cfg->arena : 64 << 20);
	if (ret)
		return ret;
	ret = vhxg_open(&b->dev, path, &b->arena);
	if (ret)
		return ret;
	ret = vhxg_set_owner(&b->dev);
	if (!ret)
		ret = vhxg_set_features(&b->dev, cfg->features ? cfg->features :
					BLK_ACK);
	if (!ret)
		ret = vhxg_set_mem_identity(&b->dev);
	if (!ret)
		ret = setup_queues(b, cfg);
	if (!ret && !cfg->no_backend)
		ret = blk_set_backend(b, backend);
	return ret;
}

void blk_dev_close(struct blk_dev *b)
{
	vhxg_close(&b->dev);
	vhxg_arena_fini(&b->arena);
}

void *blk_buf(struct blk_dev *b, size_t len, int fill)
{
	void *p = vhxg_alloc(&b->arena, len, 4096);

	if (p)
		memset(p, fill, len);
	return p;
}

int blk_post(struct blk_dev *b, unsigned int q, uint32_t type,
	     uint64_t sector, const struct vhxg_buf *out, unsigned int nout,
	     const struct vhxg_buf *in, unsigned int nin, unsigned int flags)
{
	struct vhxg_vq *vq = &b->dev.vqs[q];
	struct vhxg_buf o[nout + 1], i[nin + 1];
	struct blk_slot *s;

	if (!vq->num_free)
		return -ENOSPC;
	/* The head vhxg_vq_add() will use: the first free descriptor. */
	s = &b->slots[q][vq->free_head];
	s->hdr.type = type;
	s->hdr.ioprio = 0;
	s->hdr.sector = sector;
	s->status = STATUS_NONE;
	o[0] = (struct vhxg_buf){ &s->hdr, sizeof(s->hdr) };
	memcpy(o + 1, out, nout * sizeof(*out));
	memcpy(i, in, nin * sizeof(*in));
	i[nin] = (struct vhxg_buf){ &s->status, 1 };
	return vhxg_vq_add(vq, o, nout + 1, i, nin + 1, flags);
}

int blk_kick(struct blk_dev *b, unsigned int q)
{
	vhxg_vq_publish(&b->dev.vqs[q]);
	return vhxg_vq_kick(&b->dev.vqs[q]);
}

uint8_t blk_status(struct blk_dev *b, unsigned int q, unsigned int head)
{
	return __atomic_load_n(&b->slots[q][head].status, __ATOMIC_ACQUIRE);
}

int blk_wait_one(struct blk_dev *b, unsigned int q, struct vhxg_used *u)
{
	int ret = vhxg_vq_wait_used(&b->dev.vqs[q], WAIT_MS);

	if (ret <= 0)
		return ret;
	return vhxg_vq_reap(&b->dev.vqs[q], u, 1);
}

static int wait_head(struct blk_dev *b, unsigned int q, int head,
		     uint32_t *used_len)
{
	struct vhxg_used u;
	int ret;

	ret = blk_kick(b, q);
	if (ret < 0)
		return ret;
	ret = blk_wait_one(b, q, &u);
	if (ret < 0)
		return ret;
	if (!ret)
		return -ETIMEDOUT;
	if (u.id != (uint32_t)head)
		return -EPROTO;
	if (used_len)
		*used_len = u.len;
	return 0;
}

int blk_do(struct blk_dev *b, unsigned int q, uint32_t type, uint64_t sector,
	   void *data, uint32_t len, uint32_t *used_len)
{
	struct vhxg_buf buf = { data, len };
	bool in = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
	int head, ret;

	head = blk_post(b, q, type, sector, &buf, !in && len, &buf, in && len,
			0);
	if (head < 0)
		return head;
	ret = wait_head(b, q, head, used_len);
	return ret ? ret : blk_status(b, q, head);
}

int blk_do_raw(struct blk_dev *b, unsigned int q,
	       const struct vhxg_buf *out, unsigned int nout,
	       const struct vhxg_buf *in, unsigned int nin,
	       unsigned int flags, uint8_t *status, uint32_t *used_len)
{
	int head, ret;

	head = vhxg_vq_add(&b->dev.vqs[q], out, nout, in, nin, flags);
	if (head < 0)
		return head;
	ret = wait_head(b, q, head, used_len);
	return ret ? ret : __atomic_load_n(status, __ATOMIC_ACQUIRE);
}

static uint8_t pattern_byte(uint32_t seed, uint64_t off)
{
	uint64_t x = (off >> 3) * 0x9e3779b97f4a7c15ULL ^ seed;

	x ^= x >> 29;
	return (uint8_t)(x >> (8 * (off & 7)));
}

void blk_pattern(void *buf, size_t len, uint32_t seed, uint64_t off)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern_byte(seed, off + i);
}

size_t blk_check_pattern(const void *buf, size_t len, uint32_t seed,
			 uint64_t off)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != pattern_byte(seed, off + i))
			return i + 1;
	return 0;
}

bool blk_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}
