// SPDX-License-Identifier: GPL-2.0
/* I/O in flight while the device goes away: see blk_life.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "kselftest.h"
#include "blk_common.h"
#include "blk_slow.h"
#include "blk_life.h"

#define NUM		256
#define CHUNK		4096

/*
 * Open the backend: a null_blk whose requests take LIFE_COMPLETION_US, so
 * that whatever the device took is still in flight when the test acts.
 * There is no fallback: a ram disk completes synchronously and would
 * make every lifecycle case pass without anything in flight.  The disk
 * is opened exclusively, so that blk_slow_destroy() sees a reference the
 * device failed to drop.
 */
int life_backend(struct nullb *s)
{
	int fd, ret;

	ret = blk_slow_create(s, 64, LIFE_COMPLETION_US, false);
	if (ret) {
		ksft_print_msg("cannot make a slow null_blk: %s\n", strerror(-ret));
		return ret;
	}
	fd = open(s->path, O_RDWR | O_EXCL | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		ksft_print_msg("open %s: %s\n", s->path, strerror(-ret));
		blk_slow_destroy(s);
		return ret;
	}
	return fd;
}

int life_backend_done(struct nullb *s, int fd)
{
	int ret;

	close(fd);
	ret = blk_slow_destroy(s);
	if (ret)
		ksft_print_msg("removing the null_blk: %s%s\n", strerror(-ret),
			ret == -EBUSY ? " (a reference to it was left)" : "");
	return ret;
}

/* Fill every queue's ring with reads and kick; returns requests posted. */
int life_flood(struct blk_dev *b)
{
	unsigned int q, n = 0;

	for (q = 0; q < b->nq; q++) {
		uint8_t *buf = blk_buf(b, (size_t)NUM / 3 * CHUNK, 0);
		int i;

		if (!buf)
			return -ENOMEM;
		for (i = 0; i < NUM / 3; i++) {
			struct vhxg_buf d = { buf + (size_t)i * CHUNK, CHUNK };
			int ret = blk_post(b, q, VIRTIO_BLK_T_IN, i * 8, NULL,
					   0, &d, 1, 0);

			if (ret < 0)
				return ret;
			n++;
		}
		blk_kick(b, q);
	}
	return n;
}

/* Threads named vhx-blk-PID.N of the given owner. */
int life_workers(pid_t owner)
{
	char prefix[32], path[300], comm[64];
	struct dirent *de;
	int n = 0, fd;
	ssize_t len;
	DIR *d;

	snprintf(prefix, sizeof(prefix), "vhx-blk-%d.", (int)owner);
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		len = read(fd, comm, sizeof(comm) - 1);
		close(fd);
		if (len > 0) {
			comm[len] = '\0';
			n += !strncmp(comm, prefix, strlen(prefix));
		}
	}
	closedir(d);
	return n;
}

int life_wait_no_workers(pid_t owner)
{
	int i, n = 0;

	for (i = 0; i < 100; i++) {
		n = life_workers(owner);
		if (n <= 0)
			return n;
		usleep(50000);
	}
	return n;
}


/* The child: own the device, fill every ring, report, wait to die. */
static void kill_child(int fd, int wfd)
{
	struct blk_cfg cfg = { .nq = 4, .num = NUM };
	struct blk_dev b;
	char c = 1;

	if (blk_dev_open(&b, &cfg, fd) || life_flood(&b) < 0)
		c = 0;
	if (write(wfd, &c, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

int life_kill_rounds(int fd, unsigned int rounds)
{
	unsigned int i;

	for (i = 0; i < rounds; i++) {
		struct pollfd p;
		int pfd[2], status;
		char c = 0;
		pid_t pid;

		if (pipe(pfd))
			return -errno;
		pid = fork();
		if (pid < 0)
			return -errno;
		if (!pid) {
			close(pfd[0]);
			kill_child(fd, pfd[1]);
		}
		close(pfd[1]);
		p = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
		if (poll(&p, 1, WAIT_MS) != 1 || read(pfd[0], &c, 1) != 1)
			c = 0;
		close(pfd[0]);
		/* Vary the moment: some rounds mid-submission. */
		if (i & 1)
			usleep(200 * i);
		kill(pid, SIGKILL);
		if (waitpid(pid, &status, 0) != pid)
			return -errno;
		if (c != 1)
			ksft_print_msg("round %u: child could not set up\n", i);
		else if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			ksft_print_msg("round %u: child status %#x\n", i,
				       status);
		else if (life_wait_no_workers(pid))
			ksft_print_msg("round %u: workers of %d left\n", i,
				       (int)pid);
		else
			continue;
		return -EIO;
	}
	return 0;
}
