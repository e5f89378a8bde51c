// SPDX-License-Identifier: GPL-2.0
/* The device a test binary drives: see testdev.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testdev.h"

const char *test_dev;

bool test_dev_is_vhx(void)
{
	return test_dev && strstr(test_dev, "vhx");
}

int test_dev_args(int argc, char **argv, const char *default_dev)
{
	bool listing = false;
	int i, n = 1;

	test_dev = default_dev;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dev")) {
			if (++i == argc) {
				fprintf(stderr, "%s: --dev needs a path\n",
					argv[0]);
				return -1;
			}
			test_dev = argv[i];
		} else if (!strncmp(argv[i], "--dev=", 6)) {
			test_dev = argv[i] + 6;
		} else {
			listing |= !strcmp(argv[i], "-l") ||
				   !strcmp(argv[i], "-h");
			argv[n++] = argv[i];
		}
	}
	argv[n] = NULL;
	if (!listing && access(test_dev, R_OK | W_OK)) {
		fprintf(stderr, "%s: cannot use device %s: %s\n", argv[0],
			test_dev, strerror(errno));
		return -1;
	}
	return n;
}
