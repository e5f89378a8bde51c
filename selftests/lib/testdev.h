/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The device node a test binary drives: a vhx node by default, or
 * "--dev PATH" (selftests/run.sh runs the net tests once more with
 * --dev /dev/vhost-net, upstream's driver as the reference).
 */
#ifndef TESTDEV_H
#define TESTDEV_H

#include <stdbool.h>

extern const char *test_dev;

/* True when test_dev is a vhx node (the path contains "vhx"). */
bool test_dev_is_vhx(void);

/*
 * Take "--dev PATH" (or "--dev=PATH") out of argv, leaving the rest for
 * the harness (-l, -t NAME, -r FIXTURE.TEST, ...), and check that the
 * device can be opened for reading and writing (unless only listing).  Returns the new argc,
 * or -1 after a message on stderr.
 */
int test_dev_args(int argc, char **argv, const char *default_dev);

#endif /* TESTDEV_H */
