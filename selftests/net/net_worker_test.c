// SPDX-License-Identifier: GPL-2.0
/*
 * Who a device's worker is.  From 6.12 on (vhost_task) it is a thread of
 * the owner process: it shares the owner's fate and dies when the owner
 * is killed, even while another process still holds the device fd.  On
 * older kernels it is a kernel thread that lives until the last close.
 * Upstream vhost-net shows the same model on the same kernel, so both
 * devices must pass.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "common.h"

struct worker_thread {
	int pid;		/* the thread group it belongs to */
	int tid;
};

/* Is the running kernel one whose workers are threads of the owner? */
static bool owner_thread_model(void)
{
	struct utsname u;
	int major, minor;

	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 12);
}

/* Threads named like the worker of a device owned by @owner. */
static int find_workers(int owner, struct worker_thread *out, int max)
{
	char prefix[32], path[600], comm[32];
	struct dirent *p, *t;
	DIR *proc, *task;
	int n = 0, fd;
	ssize_t len;

	if (kt_dev_is_vhx())
		snprintf(prefix, sizeof(prefix), "vhx-net-%d.", owner);
	else
		snprintf(prefix, sizeof(prefix), "vhost-%d", owner);
	proc = opendir("/proc");
	if (!proc)
		return -errno;
	while ((p = readdir(proc))) {
		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", p->d_name);
		task = opendir(path);
		if (!task)
			continue;
		while ((t = readdir(task))) {
			if (t->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/task/%s/comm",
				 p->d_name, t->d_name);
			fd = open(path, O_RDONLY);
			if (fd < 0)
				continue;
			len = read(fd, comm, sizeof(comm) - 1);
			close(fd);
			if (len <= 0)
				continue;
			comm[len] = '\0';
			comm[strcspn(comm, "\n")] = '\0';
			/* upstream's name is exactly vhost-PID */
			if (strncmp(comm, prefix, strlen(prefix)) ||
			    (!kt_dev_is_vhx() && comm[strlen(prefix)]))
				continue;
			if (n < max) {
				out[n].pid = atoi(p->d_name);
				out[n].tid = atoi(t->d_name);
			}
			n++;
		}
		closedir(task);
	}
	closedir(proc);
	return n;
}

/* Wait until @owner's workers number @want (or WAIT_MS passes). */
static int wait_workers(int owner, int want)
{
	struct worker_thread w[4];
	int i, n = -1;

	for (i = 0; i < WAIT_MS / 50; i++) {
		n = find_workers(owner, w, 4);
		if (n == want)
			return n;
		usleep(50 * 1000);
	}
	return n;
}

static int parent_pid(int pid)
{
	char path[64], buf[512], *p;
	int fd, ppid = -1;
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	/* pid (comm) state ppid: comm may hold spaces, skip to its end */
	p = strrchr(buf, ')');
	if (p && sscanf(p + 2, "%*c %d", &ppid) != 1)
		ppid = -1;
	return ppid;
}

/*
 * A child opens the device and takes ownership; with @holder it first
 * forks a process that keeps a copy of the fd.  Returns the owner's pid,
 * the holder's in *holder_pid.
 */
static int start_owner(bool holder, int *holder_pid)
{
	int pipefd[2], pid, fd, h = 0;

	if (pipe(pipefd))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		close(pipefd[0]);
		fd = open(kt_dev, O_RDWR);
		if (fd < 0 || ioctl(fd, VHOST_SET_OWNER, NULL))
			_exit(1);
		if (holder) {
			h = fork();
			if (!h) {
				close(pipefd[1]);
				for (;;)
					pause();
			}
		}
		if (write(pipefd[1], &h, sizeof(h)) != sizeof(h))
			_exit(1);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	if (read(pipefd[0], &h, sizeof(h)) != sizeof(h)) {
		close(pipefd[0]);
		waitpid(pid, NULL, 0);
		return -EIO;
	}
	close(pipefd[0]);
	*holder_pid = h;
	return pid;
}

static void kill_wait(int pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int worker_model(void)
{
	struct worker_thread w[4];
	int owner, holder, n;

	owner = start_owner(false, &holder);
	KT_OK(owner);
	n = find_workers(owner, w, 4);
	if (n != 1) {
		kill_wait(owner);
		KT_ASSERT(n == 1, "%d worker threads for owner %d, want 1", n,
			  owner);
	}
	kt_diag("worker %d in thread group %d, parent %d", w[0].tid, w[0].pid,
		parent_pid(w[0].pid));
	if (owner_thread_model()) {
		if (w[0].pid != owner) {
			kill_wait(owner);
			KT_ASSERT(false, "worker %d is not a thread of owner %d",
				  w[0].tid, owner);
		}
	} else if (w[0].pid != w[0].tid || parent_pid(w[0].pid) != 2) {
		kill_wait(owner);
		KT_ASSERT(false, "worker %d is not a kernel thread", w[0].tid);
	}
	kill_wait(owner);
	n = wait_workers(owner, 0);
	KT_ASSERT(n == 0, "%d worker threads left after the owner died", n);
	return KT_PASS;
}

/*
 * The owner is killed while another process holds the device fd: with
 * owner-thread workers the worker goes with the owner; a kernel-thread
 * worker stays until that last fd is closed.
 */
static int worker_dies_with_owner(void)
{
	int owner, holder, n;

	owner = start_owner(true, &holder);
	KT_OK(owner);
	KT_ASSERT(holder > 0, "no fd holder");
	kill_wait(owner);
	if (owner_thread_model()) {
		n = wait_workers(owner, 0);
		kill_wait(holder);
		KT_ASSERT(n == 0, "%d worker threads outlived owner %d", n,
			  owner);
	} else {
		/* Give a wrong implementation time to show itself. */
		usleep(QUIET_MS * 1000);
		n = wait_workers(owner, 1);
		kill_wait(holder);
		KT_ASSERT(n == 1, "%d kernel-thread workers while the fd lives",
			  n);
	}
	n = wait_workers(owner, 0);
	KT_ASSERT(n == 0, "%d worker threads after the last close", n);
	return KT_PASS;
}

static const struct kt_case cases[] = {
	{ "worker_model", worker_model },
	{ "worker_dies_with_owner", worker_dies_with_owner },
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, cases, KT_ARRAY_SIZE(cases),
		       "/dev/vhx-net");
}
