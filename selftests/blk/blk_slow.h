/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A slow block device for tests that need I/O in flight: a memory-backed
 * null_blk made through configfs (nullb.h) whose requests complete on a
 * timer.
 */
#ifndef BLK_SLOW_H
#define BLK_SLOW_H

#include <stdbool.h>

#include "nullb.h"

/* Create it: 0, or -errno when null_blk/configfs cannot make one. */
int blk_slow_create(struct nullb *s, unsigned int size_mb,
		    unsigned int completion_us, bool discard);
/*
 * A null_blk with a volatile write cache of @cache_mb: what was written
 * but not flushed is lost when it is powered off (blk_slow_power_cycle).
 */
int blk_slow_create_cached(struct nullb *s, unsigned int size_mb,
			   unsigned int cache_mb);
/* Power off and on again; 0 once the disk is back, or -errno. */
int blk_slow_power_cycle(struct nullb *s);
/* Flush requests the disk completed (/sys/block/NAME/stat, field 16). */
int blk_slow_flushes(struct nullb *s, unsigned long *n);
/*
 * Power off and remove it: 0, or -errno (-EBUSY while something still
 * holds the disk open exclusively, as every open in these tests is).
 */
int blk_slow_destroy(struct nullb *s);

#endif /* BLK_SLOW_H */
