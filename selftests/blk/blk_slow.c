// SPDX-License-Identifier: GPL-2.0
/* A slow null_blk device through configfs: see blk_slow.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk_slow.h"

static int create(struct nullb *s, unsigned int size_mb,
		  unsigned int completion_us, bool discard,
		  unsigned int cache_mb)
{
	char size[32], nsec[32], cache[32];
	const char *attrs[10];
	unsigned int i = 0;

	snprintf(size, sizeof(size), "size=%u", size_mb);
	attrs[i++] = size;
	attrs[i++] = "memory_backed=1";
	if (completion_us) {
		snprintf(nsec, sizeof(nsec), "completion_nsec=%u",
			 completion_us * 1000);
		attrs[i++] = "irqmode=2";
		attrs[i++] = nsec;
	}
	/* Enough tags that nothing waits for one at the null_blk. */
	attrs[i++] = "hw_queue_depth=1024";
	attrs[i++] = "no_sched=1";
	if (discard)
		attrs[i++] = "discard=1";
	if (cache_mb) {
		snprintf(cache, sizeof(cache), "cache_size=%u", cache_mb);
		attrs[i++] = cache;
	}
	attrs[i] = NULL;
	return nullb_create(s, "vhxslow", attrs);
}

int blk_slow_create(struct nullb *s, unsigned int size_mb,
		    unsigned int completion_us, bool discard)
{
	return create(s, size_mb, completion_us, discard, 0);
}

int blk_slow_create_cached(struct nullb *s, unsigned int size_mb,
			   unsigned int cache_mb)
{
	return create(s, size_mb, 0, false, cache_mb);
}

int blk_slow_power_cycle(struct nullb *s)
{
	int ret = nullb_power(s, false);

	return ret ? ret : nullb_power(s, true);
}

int blk_slow_flushes(struct nullb *s, unsigned long *n)
{
	char path[96], buf[512], *p;
	unsigned int i;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/sys/block/%s/stat", s->name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len < 0)
		return -errno;
	buf[len] = '\0';
	/* Field 16 counts flushes (since 5.5); fields 12-15, discards. */
	p = buf;
	for (i = 1; i <= 16; i++) {
		*n = strtoul(p, &p, 10);
		if (!*p && i < 16)
			return -EPROTO;
	}
	return 0;
}

int blk_slow_destroy(struct nullb *s)
{
	int ret = 0, r;

	if (!s->dir[0])
		return 0;
	if (s->path[0])
		ret = nullb_wait_unclaimed(s);
	r = nullb_destroy(s);
	return ret ? ret : r;
}
