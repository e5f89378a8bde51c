/* SPDX-License-Identifier: GPL-2.0 */
/*
 * null_blk disks made through configfs (/sys/kernel/config/nullb), for
 * the blk tests: blk_slow.h's presets and the disks of blk_fixes_test and
 * blk_teardown_test.
 */
#ifndef NULLB_H
#define NULLB_H

#include <stdbool.h>
#include <stddef.h>

struct nullb {
	char dir[128];		/* configfs directory, "" if none */
	char path[64];		/* /dev/NAME */
	char name[32];		/* the disk's name in /sys/block */
};

/*
 * Make NULLB_DIR/TAG<pid>, write @attrs ("name=value" strings, NULL
 * ending the list) in order, power it on and wait for its /dev node.
 * 0, or -errno with nothing left behind.
 */
int nullb_create(struct nullb *n, const char *tag, const char *const *attrs);
/* One attribute of its configfs directory: 0 or -errno. */
int nullb_set(struct nullb *n, const char *attr, const char *val);
/* Power on (0 once the disk is back) or off; else -errno. */
int nullb_power(struct nullb *n, bool on);
/*
 * Wait up to 2 s until no one holds the disk open exclusively (as every
 * open in the tests that use it is): 0, or -errno (-EBUSY).
 */
int nullb_wait_unclaimed(struct nullb *n);
/* rmdir its configfs directory (powered off, or it fails): 0 or -errno. */
int nullb_remove(struct nullb *n);
/* Power off and remove: 0, or the first -errno. */
int nullb_destroy(struct nullb *n);

#endif /* NULLB_H */
