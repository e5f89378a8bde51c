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

#include "blk_life.h"

static bool module_loaded(void)
{
	struct stat st;

	return !stat("/sys/module/vhx", &st);
}

static int reload(void)
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
	if (stat(path, &st)) {
		kt_diag("no module at %s to load again", path);
		return KT_FAIL;
	}
	snprintf(cmd, sizeof(cmd), "insmod '%s'", path);
	KT_ASSERT(!system(cmd) && module_loaded(), "%s failed", cmd);
	return KT_PASS;
}

static int tc_kill_then_unload(void)
{
	struct nullb s;
	int fd, ret, i;

	if (!module_loaded())
		return kt_skip("vhx is not loaded as a module");
	fd = life_backend(&s);
	KT_OK(fd);
	ret = life_kill_rounds(fd, 20);
	close(fd);
	blk_slow_destroy(&s);
	if (ret != KT_PASS)
		return ret;
	for (i = 0; i < 20 && module_loaded(); i++) {
		if (system("rmmod vhx 2>/dev/null"))
			usleep(250000);
	}
	KT_ASSERT(!module_loaded(), "rmmod vhx failed: a reference is left");
	return reload();
}

static const struct kt_case cases[] = {
	{ "kill_then_unload", tc_kill_then_unload },
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, cases, KT_ARRAY_SIZE(cases),
		       "/dev/vhx-blk");
}
