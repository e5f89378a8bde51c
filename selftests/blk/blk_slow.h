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
/*
 * A null_blk with a volatile write cache of @cache_mb: what was written
 * but not flushed is lost when it is powered off (blk_slow_power_cycle).
 */
int blk_slow_create_cached(struct blk_slow *s, unsigned int size_mb,
			   unsigned int cache_mb);
/* Power off and on again; 0 once the disk is back, or -errno. */
int blk_slow_power_cycle(struct blk_slow *s);
/* Flush requests the disk completed (/sys/block/NAME/stat, field 16). */
int blk_slow_flushes(struct blk_slow *s, unsigned long *n);
/*
 * Power off and remove it: 0, or -errno (-EBUSY while something still
 * holds the disk open exclusively, as every open in these tests is).
 */
int blk_slow_destroy(struct blk_slow *s);

#endif /* BLK_SLOW_H */
