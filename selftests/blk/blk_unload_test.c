// SPDX-License-Identifier: GPL-2.0
/*
 * Runs last (selftests/run.sh's run_last list): owners with I/O in
 * flight are killed again and again, then vhx must unload, which it
 * cannot while any device, worker or request is left behind.  The module
 * is loaded again afterwards (from $VHX_MODULE or build/kmod/KVER) so
 * that whatever runs next still has it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "harness.h"
#include "blk_life.h"

static bool module_loaded(void)
{
	struct stat st;

	return !stat("/sys/module/vhx", &st);
}

static void reload(struct __test_metadata *_metadata)
{
	const char *env = getenv("VHX_MODULE");
	char path[512], cmd[600];
	struct utsname u;
	struct stat st;

	if (env && *env) {
		snprintf(path, sizeof(path), "%s", env);
	} else {
		uname(&u);
		snprintf(path, sizeof(path), "build/kmod/%s/vhx.ko", u.release);
	}
	ASSERT_EQ(0, stat(path, &st))
		TH_LOG("no module at %s to load again", path);
	snprintf(cmd, sizeof(cmd), "insmod '%s'", path);
	ASSERT_TRUE(!system(cmd) && module_loaded())
		TH_LOG("%s failed", cmd);
}

TEST(kill_then_unload)
{
	struct nullb s;
	int fd, ret, i;

	if (!module_loaded())
		SKIP(return, "vhx is not loaded as a module");
	fd = life_backend(&s);
	ASSERT_LE(0, fd);
	ret = life_kill_rounds(fd, 20);
	close(fd);
	blk_slow_destroy(&s);
	ASSERT_EQ(0, ret);
	for (i = 0; i < 20 && module_loaded(); i++) {
		if (system("rmmod vhx 2>/dev/null"))
			usleep(250000);
	}
	ASSERT_TRUE(!module_loaded())
		TH_LOG("rmmod vhx failed: a reference is left");
	reload(_metadata);
}


VHX_TEST_MAIN("/dev/vhx-blk")
