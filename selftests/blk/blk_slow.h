/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A slow block device for tests that need I/O in flight: a memory-backed
 * null_blk made through configfs whose requests complete on a timer.
 */
#ifndef BLK_SLOW_H
#define BLK_SLOW_H

#include <stdbool.h>
#include <stdint.h>

struct blk_slow {
	char dir[128];		/* configfs directory, "" if none */
	char path[64];		/* /dev/nullbN */
};

/* Create it: 0, or -errno when null_blk/configfs cannot make one. */
int blk_slow_create(struct blk_slow *s, unsigned int size_mb,
		    unsigned int completion_us, bool discard);
void blk_slow_destroy(struct blk_slow *s);

#endif /* BLK_SLOW_H */
