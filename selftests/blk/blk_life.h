/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the lifecycle and unload tests: I/O in flight at teardown. */
#ifndef BLK_LIFE_H
#define BLK_LIFE_H

#include <sys/types.h>

#include "blk_common.h"
#include "blk_slow.h"

/* How long each request of the lifecycle null_blk takes. */
#define LIFE_COMPLETION_US	200000

/* The slow null_blk of @s, opened exclusively: fd, or -errno (no fallback). */
int life_backend(struct nullb *s);
/* Close @fd and remove the null_blk: 0, or -errno (-EBUSY: still held). */
int life_backend_done(struct nullb *s, int fd);
/* Fill every queue's ring with 4 KiB reads and kick; returns the count. */
int life_flood(struct blk_dev *b);
/* Worker threads (vhx-blk-PID.N) of @owner alive now. */
int life_workers(pid_t owner);
/* Wait up to 5 s for them to go; returns how many are left. */
int life_wait_no_workers(pid_t owner);
/*
 * Fork an owner with I/O in flight on 4 queues, SIGKILL it, @rounds
 * times; 0, or -errno after a diagnostic.
 */
int life_kill_rounds(int fd, unsigned int rounds);

#endif /* BLK_LIFE_H */
