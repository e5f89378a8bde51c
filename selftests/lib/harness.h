/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every *_test.c includes, once: the kernel's kselftest harness
 * (kselftest_harness.h, extracted from linux-source-6.12 at build time,
 * see selftests/Makefile) and the device option.  Not for the helper .c
 * files: the harness defines its runner in the file that includes it.
 */
#ifndef VHX_HARNESS_H
#define VHX_HARNESS_H

#include "kselftest_harness.h"
#include "testdev.h"

/*
 * The test VM runs under TCG, about 50 times slower than hardware: give
 * each case 60 s (the harness's default is 30 s).  TEST() and TEST_F()
 * read this where they are used; TEST_F_TIMEOUT() sets its own.
 */
#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 60

/*
 * Teardowns: in this harness (6.12) a failed ASSERT_*() longjmp()s back
 * into the test's wrapper, whose fork() result is then indeterminate (it
 * is not volatile), and at -O2 a FIXTURE_TEARDOWN() is skipped.  So:
 *   - FIXTURE_TEARDOWN() only for what the test process owns (fds,
 *     memory): it runs there after a pass, and after a failure the
 *     process's exit releases the same;
 *   - FIXTURE_TEARDOWN_PARENT() for what outlives the process (links,
 *     null_blk devices, mounts, module parameters, file modes): it runs
 *     once either way, in the test process or in its parent, so it must
 *     not touch the process's own memory or fds.
 */

/*
 * main(): "--dev PATH" picks the device (default @default_dev), the rest
 * of the command line goes to the harness.  stdout is line-buffered so
 * that ksft_print_msg() lines from the helpers survive the harness's
 * _exit() and interleave in order with TH_LOG() on stderr.
 */
#define VHX_TEST_MAIN(default_dev)					\
	int main(int argc, char **argv)					\
	{								\
		argc = test_dev_args(argc, argv, default_dev);		\
		if (argc < 0)						\
			return KSFT_FAIL;				\
		setvbuf(stdout, NULL, _IOLBF, 0);			\
		ksft_print_msg("device %s\n", test_dev);		\
		return test_harness_run(argc, argv);			\
	}

#endif /* VHX_HARNESS_H */
