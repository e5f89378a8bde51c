// SPDX-License-Identifier: GPL-2.0
/*
 * Who a device's worker is.  From 6.12 on (vhost_task) it is a thread of
 * the owner process: it shares the owner's fate and dies when the owner
 * is killed, even while another process still holds the device fd.  On
 * older kernels it is a kernel thread that lives until the last close.
 * Upstream vhost-net shows the same model on the same kernel, so both
 * devices must pass.
 *
 * The worker is made in the owner's image: a non-root owner's worker
 * runs in its cgroup and, as a thread of the owner, with its uid, and
 * counts in its RLIMIT_NPROC, so that SET_OWNER at the limit fails and
 * leaves nothing behind.  A kernel-thread worker counts in no limit
 * (kmod.md #15): there that case is an expected skip.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "common.h"
#include "leak.h"

#define NOBODY	65534	/* uid and gid of the non-root owner */

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

/* ---- a non-root owner ------------------------------------------------- */

/*
 * Become NOBODY with the device node already open (it is root's, 0600).
 * The death signal goes with the old uid: set it again.
 */
static int become_nobody(void)
{
	KT_ASSERT(!setgroups(0, NULL) && !setresgid(NOBODY, NOBODY, NOBODY) &&
		  !setresuid(NOBODY, NOBODY, NOBODY), "cannot become %d: %m",
		  NOBODY);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	return KT_PASS;
}

/* The first number of /proc/@tid/status's @key line (real uid, gid). */
static long task_status_id(int tid, const char *key)
{
	char path[64], buf[2048], *p;
	long id = -1;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	p = strstr(buf, key);
	if (p)
		id = strtol(p + strlen(key), NULL, 10);
	return id;
}

/*
 * Tasks whose real uid is NOBODY: what RLIMIT_NPROC counts for a NOBODY
 * process (threads and unreaped zombies included).
 */
static int nobody_tasks(void)
{
	struct dirent *p, *t;
	char path[300];
	DIR *proc, *task;
	int n = 0;

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
		while ((t = readdir(task)))
			if (t->d_name[0] != '.' &&
			    task_status_id(atoi(t->d_name), "Uid:") == NOBODY)
				n++;
		closedir(task);
	}
	closedir(proc);
	return n;
}

static int set_nproc(rlim_t soft)
{
	struct rlimit rl;

	KT_ASSERT(!getrlimit(RLIMIT_NPROC, &rl), "getrlimit: %m");
	rl.rlim_cur = soft;
	KT_ASSERT(!setrlimit(RLIMIT_NPROC, &rl), "RLIMIT_NPROC %lu: %m",
		  (unsigned long)soft);
	return KT_PASS;
}

/* 0 if a fork succeeds (the child exits at once), else -errno. */
static int try_fork(void)
{
	int pid = fork();

	if (pid < 0)
		return -errno;
	if (!pid)
		_exit(0);
	waitpid(pid, NULL, 0);
	return 0;
}

/*
 * Set the soft RLIMIT_NPROC to what NOBODY has, and check it: a fork
 * fails there and succeeds with one more.  Returns the limit in *limit.
 */
static int nproc_at_limit(rlim_t *limit)
{
	int n = nobody_tasks(), ret;

	KT_ASSERT(n > 0, "no task of uid %d, not even this one", NOBODY);
	KT_RUN(set_nproc(n + 1));
	ret = try_fork();
	KT_ASSERT(!ret, "fork with RLIMIT_NPROC %d, %d tasks: %s", n + 1, n,
		  strerror(-ret));
	KT_RUN(set_nproc(n));
	ret = try_fork();
	KT_ASSERT(ret == -EAGAIN,
		  "fork at RLIMIT_NPROC %d (%d tasks): got %s, want EAGAIN", n,
		  n, ret ? strerror(-ret) : "success");
	*limit = n;
	return KT_PASS;
}

/*
 * @owner's single worker: in @owner's cgroup, and, when it is a thread of
 * the owner, with its real uid and gid; a kernel thread's are root's.
 */
static int check_worker_identity(int owner, struct worker_thread *w)
{
	char path[64], mine[256], its[256];
	long uid, gid;
	int n, fd;
	ssize_t len;

	n = find_workers(owner, w, 1);
	KT_ASSERT(n == 1, "%d worker threads for owner %d, want 1", n, owner);
	fd = open("/proc/self/cgroup", O_RDONLY);
	len = fd < 0 ? -1 : read(fd, mine, sizeof(mine) - 1);
	KT_ASSERT(len > 0, "/proc/self/cgroup: %m");
	mine[len] = '\0';
	close(fd);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", w->tid);
	fd = open(path, O_RDONLY);
	len = fd < 0 ? -1 : read(fd, its, sizeof(its) - 1);
	KT_ASSERT(len > 0, "%s: %m", path);
	its[len] = '\0';
	close(fd);
	KT_ASSERT(!strcmp(mine, its), "worker %d in cgroup %s, owner in %s",
		  w->tid, strtok(its, "\n"), strtok(mine, "\n"));
	uid = task_status_id(w->tid, "Uid:");
	gid = task_status_id(w->tid, "Gid:");
	kt_diag("worker %d: thread group %d, uid %ld gid %ld, cgroup %s",
		w->tid, w->pid, uid, gid, strtok(its, "\n"));
	if (owner_thread_model()) {
		KT_ASSERT(w->pid == owner, "worker %d is not a thread of %d",
			  w->tid, owner);
		KT_ASSERT(uid == NOBODY && gid == NOBODY,
			  "worker %d runs as uid %ld gid %ld, owner as %d",
			  w->tid, uid, gid, NOBODY);
	} else {
		KT_ASSERT(w->pid == w->tid && uid == 0 && gid == 0,
			  "kernel-thread worker %d: thread group %d uid %ld",
			  w->tid, w->pid, uid);
	}
	return KT_PASS;
}

/* In a memory cgroup of its own (leak_run), as NOBODY. */
static int identity_work(struct leak_ctx *lc, void *arg)
{
	struct worker_thread w;
	int fd;

	(void)arg;
	KT_OK(leak_point(lc, "baseline"));
	fd = open(kt_dev, O_RDWR);
	KT_ASSERT(fd >= 0, "open %s: %m", kt_dev);
	KT_RUN(become_nobody());
	KT_ASSERT(!ioctl(fd, VHOST_SET_OWNER, NULL), "SET_OWNER: %m");
	KT_RUN(check_worker_identity(getpid(), &w));
	close(fd);
	KT_ASSERT(wait_workers(getpid(), 0) == 0, "worker outlived the fd");
	return leak_point(lc, "device closed");
}

static int worker_identity(void)
{
	struct leak_opts o = {
		.worker_prefix = kt_dev_is_vhx() ? "vhx-net-" : "vhost-",
	};

	return leak_run("worker_identity", identity_work, NULL, &o);
}

#define NPROC_TRIES	256

/* At the limit: SET_OWNER fails, @tries times, and leaves nothing. */
static int owner_refused(int fd, rlim_t limit, int tries)
{
	int i, err, n;

	for (i = 0; i < tries; i++) {
		err = ioctl(fd, VHOST_SET_OWNER, NULL) ? errno : 0;
		KT_ASSERT(err, "SET_OWNER at RLIMIT_NPROC %lu: success (try %d)",
			  (unsigned long)limit, i);
		if (!i && kt_dev_is_vhx())
			KT_ASSERT(err == EAGAIN,
				  "SET_OWNER at the limit: %s, want EAGAIN",
				  strerror(err));
		else if (!i)
			kt_diag("upstream: SET_OWNER at the limit: %s",
				strerror(err));
	}
	n = find_workers(getpid(), NULL, 0);
	KT_ASSERT(n == 0, "%d worker threads after SET_OWNER failed", n);
	n = nobody_tasks();
	KT_ASSERT(n == (int)limit, "%d tasks of uid %d after %d refused "
		  "SET_OWNERs, %lu before", n, NOBODY, tries,
		  (unsigned long)limit);
	return KT_PASS;
}

static int nproc_work(struct leak_ctx *lc, void *arg)
{
	struct worker_thread w;
	rlim_t limit;
	int fd, ret;

	(void)arg;
	fd = open(kt_dev, O_RDWR);
	KT_ASSERT(fd >= 0, "open %s: %m", kt_dev);
	KT_RUN(become_nobody());
	KT_RUN(nproc_at_limit(&limit));
	kt_diag("uid %d at its RLIMIT_NPROC of %lu tasks", NOBODY,
		(unsigned long)limit);
	if (!owner_thread_model()) {
		/* A kernel thread is not counted: ownership is granted. */
		KT_OK(leak_point(lc, "baseline"));
		KT_ASSERT(!ioctl(fd, VHOST_SET_OWNER, NULL),
			  "SET_OWNER at the limit: %m, want a kernel thread");
		KT_RUN(check_worker_identity(getpid(), &w));
		close(fd);
		KT_ASSERT(wait_workers(getpid(), 0) == 0,
			  "worker outlived the fd");
		KT_OK(leak_point(lc, "device closed"));
		return kt_skip("kernel-thread workers (before 6.12) do not "
			       "count in RLIMIT_NPROC: SET_OWNER at the limit "
			       "succeeded");
	}
	KT_RUN(owner_refused(fd, limit, 1));
	KT_OK(leak_point(lc, "baseline"));
	KT_RUN(owner_refused(fd, limit, NPROC_TRIES));
	KT_OK(leak_point(lc, "after 256 refused SET_OWNERs"));
	/* One task more allowed: now the worker fits, on the same fd. */
	KT_RUN(set_nproc(limit + 1));
	ret = ioctl(fd, VHOST_SET_OWNER, NULL) ? -errno : 0;
	KT_OK(ret);
	KT_RUN(check_worker_identity(getpid(), &w));
	ret = try_fork();
	KT_ASSERT(ret == -EAGAIN, "fork with the worker counted: %s",
		  ret ? strerror(-ret) : "success");
	close(fd);
	KT_ASSERT(wait_workers(getpid(), 0) == 0, "worker outlived the fd");
	return leak_point(lc, "device closed");
}

static int worker_nproc_limit(void)
{
	struct leak_opts o = {
		.worker_prefix = kt_dev_is_vhx() ? "vhx-net-" : "vhost-",
	};

	return leak_run("worker_nproc_limit", nproc_work, NULL, &o);
}

static const struct kt_case cases[] = {
	{ "worker_model", worker_model },
	{ "worker_dies_with_owner", worker_dies_with_owner },
	{ "worker_identity", worker_identity },
	{ "worker_nproc_limit", worker_nproc_limit },
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, cases, KT_ARRAY_SIZE(cases),
		       "/dev/vhx-net");
}
