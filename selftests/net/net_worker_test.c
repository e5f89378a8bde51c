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

#include "check.h"
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

	if (test_dev_is_vhx())
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
			    (!test_dev_is_vhx() && comm[strlen(prefix)]))
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
		fd = open(test_dev, O_RDWR);
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

TEST(worker_model)
{
	struct worker_thread w[4];
	int owner, holder, n;

	owner = start_owner(false, &holder);
	ASSERT_LE(0, owner);
	n = find_workers(owner, w, 4);
	if (n != 1) {
		kill_wait(owner);
		ASSERT_TRUE(n == 1)
			TH_LOG("%d worker threads for owner %d, want 1", n,
			       owner);
	}
	TH_LOG("worker %d in thread group %d, parent %d", w[0].tid, w[0].pid,
	       parent_pid(w[0].pid));
	if (owner_thread_model()) {
		if (w[0].pid != owner) {
			kill_wait(owner);
			ASSERT_TRUE(false)
				TH_LOG("worker %d is not a thread of owner %d",
				       w[0].tid, owner);
		}
	} else if (w[0].pid != w[0].tid || parent_pid(w[0].pid) != 2) {
		kill_wait(owner);
		ASSERT_TRUE(false)
			TH_LOG("worker %d is not a kernel thread", w[0].tid);
	}
	kill_wait(owner);
	n = wait_workers(owner, 0);
	ASSERT_TRUE(n == 0)
		TH_LOG("%d worker threads left after the owner died", n);
}

/*
 * The owner is killed while another process holds the device fd: with
 * owner-thread workers the worker goes with the owner; a kernel-thread
 * worker stays until that last fd is closed.
 */
TEST(worker_dies_with_owner)
{
	int owner, holder, n;

	owner = start_owner(true, &holder);
	ASSERT_LE(0, owner);
	ASSERT_TRUE(holder > 0)
		TH_LOG("no fd holder");
	kill_wait(owner);
	if (owner_thread_model()) {
		n = wait_workers(owner, 0);
		kill_wait(holder);
		ASSERT_TRUE(n == 0)
			TH_LOG("%d worker threads outlived owner %d", n,
			       owner);
	} else {
		/* Give a wrong implementation time to show itself. */
		usleep(QUIET_MS * 1000);
		n = wait_workers(owner, 1);
		kill_wait(holder);
		ASSERT_TRUE(n == 1)
			TH_LOG("%d kernel-thread workers while the fd lives",
			       n);
	}
	n = wait_workers(owner, 0);
	ASSERT_TRUE(n == 0)
		TH_LOG("%d worker threads after the last close", n);
}

/* ---- a non-root owner ------------------------------------------------- */

/*
 * Become NOBODY with the device node already open (it is root's, 0600).
 * The death signal goes with the old uid: set it again.
 */
static void become_nobody(struct __test_metadata *_metadata)
{
	ASSERT_TRUE(!setgroups(0, NULL) && !setresgid(NOBODY, NOBODY, NOBODY) &&
		    !setresuid(NOBODY, NOBODY, NOBODY))
		TH_LOG("cannot become %d: %m",
		       NOBODY);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
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

static void set_nproc(struct __test_metadata *_metadata, rlim_t soft)
{
	struct rlimit rl;

	ASSERT_TRUE(!getrlimit(RLIMIT_NPROC, &rl))
		TH_LOG("getrlimit: %m");
	rl.rlim_cur = soft;
	ASSERT_TRUE(!setrlimit(RLIMIT_NPROC, &rl))
		TH_LOG("RLIMIT_NPROC %lu: %m",
		       (unsigned long)soft);
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
static void nproc_at_limit(struct __test_metadata *_metadata, rlim_t *limit)
{
	int n = nobody_tasks(), ret;

	ASSERT_TRUE(n > 0)
		TH_LOG("no task of uid %d, not even this one", NOBODY);
	set_nproc(_metadata, n + 1);
	ret = try_fork();
	ASSERT_TRUE(!ret)
		TH_LOG("fork with RLIMIT_NPROC %d, %d tasks: %s", n + 1, n,
		       strerror(-ret));
	set_nproc(_metadata, n);
	ret = try_fork();
	ASSERT_TRUE(ret == -EAGAIN)
		TH_LOG("fork at RLIMIT_NPROC %d (%d tasks): got %s, want EAGAIN", n,
		       n, ret ? strerror(-ret) : "success");
	*limit = n;
}

/*
 * @owner's single worker: in @owner's cgroup, and, when it is a thread of
 * the owner, with its real uid and gid; a kernel thread's are root's.
 */
static void check_worker_identity(struct __test_metadata *_metadata, int owner,
				  struct worker_thread *w)
{
	char path[64], mine[256], its[256];
	long uid, gid;
	int n, fd;
	ssize_t len;

	n = find_workers(owner, w, 1);
	ASSERT_TRUE(n == 1)
		TH_LOG("%d worker threads for owner %d, want 1", n, owner);
	fd = open("/proc/self/cgroup", O_RDONLY);
	len = fd < 0 ? -1 : read(fd, mine, sizeof(mine) - 1);
	ASSERT_TRUE(len > 0)
		TH_LOG("/proc/self/cgroup: %m");
	mine[len] = '\0';
	close(fd);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", w->tid);
	fd = open(path, O_RDONLY);
	len = fd < 0 ? -1 : read(fd, its, sizeof(its) - 1);
	ASSERT_TRUE(len > 0)
		TH_LOG("%s: %m", path);
	its[len] = '\0';
	close(fd);
	ASSERT_TRUE(!strcmp(mine, its))
		TH_LOG("worker %d in cgroup %s, owner in %s",
		       w->tid, strtok(its, "\n"), strtok(mine, "\n"));
	uid = task_status_id(w->tid, "Uid:");
	gid = task_status_id(w->tid, "Gid:");
	TH_LOG("worker %d: thread group %d, uid %ld gid %ld, cgroup %s",
	       w->tid, w->pid, uid, gid, strtok(its, "\n"));
	if (owner_thread_model()) {
		ASSERT_TRUE(w->pid == owner)
			TH_LOG("worker %d is not a thread of %d",
			       w->tid, owner);
		ASSERT_TRUE(uid == NOBODY && gid == NOBODY)
			TH_LOG("worker %d runs as uid %ld gid %ld, owner as %d",
			       w->tid, uid, gid, NOBODY);
	} else {
		ASSERT_TRUE(w->pid == w->tid && uid == 0 && gid == 0)
			TH_LOG("kernel-thread worker %d: thread group %d uid %ld",
			       w->tid, w->pid, uid);
	}
}

/* In a memory cgroup of its own (leak_run), as NOBODY. */
static void identity_work(struct __test_metadata *_metadata,
			  struct leak_ctx *lc, void *arg)
{
	struct worker_thread w;
	int fd;

	(void)arg;
	ASSERT_LE(0, leak_point(lc, "baseline"));
	fd = open(test_dev, O_RDWR);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open %s: %m", test_dev);
	become_nobody(_metadata);
	ASSERT_TRUE(!ioctl(fd, VHOST_SET_OWNER, NULL))
		TH_LOG("SET_OWNER: %m");
	check_worker_identity(_metadata, getpid(), &w);
	close(fd);
	ASSERT_TRUE(wait_workers(getpid(), 0) == 0)
		TH_LOG("worker outlived the fd");
	ASSERT_LE(0, leak_point(lc, "device closed"));
}

/*
 * The tests whose workload runs under leak_run() (see leak.h): TEST_F(),
 * so that the workload's ASSERT_*() and SKIP() reach the test.
 */
FIXTURE(leak) {
};

FIXTURE_SETUP(leak)
{
}

FIXTURE_TEARDOWN_PARENT(leak)
{
}

TEST_F(leak, worker_identity)
{
	struct leak_opts o = {
		.worker_prefix = test_dev_is_vhx() ? "vhx-net-" : "vhost-",
	};

	LEAK_RUN("worker_identity", identity_work, NULL, &o);
}

#define NPROC_TRIES	256

/* At the limit: SET_OWNER fails, @tries times, and leaves nothing. */
static void owner_refused(struct __test_metadata *_metadata, int fd,
			  rlim_t limit, int tries)
{
	int i, err, n;

	for (i = 0; i < tries; i++) {
		err = ioctl(fd, VHOST_SET_OWNER, NULL) ? errno : 0;
		ASSERT_TRUE(err)
			TH_LOG("SET_OWNER at RLIMIT_NPROC %lu: success (try %d)",
			       (unsigned long)limit, i);
		if (!i && test_dev_is_vhx()) {
			ASSERT_TRUE(err == EAGAIN)
				TH_LOG("SET_OWNER at the limit: %s, want EAGAIN",
				       strerror(err));
		} else if (!i)
			TH_LOG("upstream: SET_OWNER at the limit: %s",
			       strerror(err));
	}
	n = find_workers(getpid(), NULL, 0);
	ASSERT_TRUE(n == 0)
		TH_LOG("%d worker threads after SET_OWNER failed", n);
	n = nobody_tasks();
	ASSERT_TRUE(n == (int)limit)
		TH_LOG("%d tasks of uid %d after %d refused "
		       "SET_OWNERs, %lu before", n, NOBODY, tries,
		       (unsigned long)limit);
}

static void nproc_work(struct __test_metadata *_metadata, struct leak_ctx *lc,
		       void *arg)
{
	struct worker_thread w;
	rlim_t limit;
	int fd, ret;

	(void)arg;
	fd = open(test_dev, O_RDWR);
	ASSERT_TRUE(fd >= 0)
		TH_LOG("open %s: %m", test_dev);
	become_nobody(_metadata);
	nproc_at_limit(_metadata, &limit);
	TH_LOG("uid %d at its RLIMIT_NPROC of %lu tasks", NOBODY,
	       (unsigned long)limit);
	if (!owner_thread_model()) {
		/* A kernel thread is not counted: ownership is granted. */
		ASSERT_LE(0, leak_point(lc, "baseline"));
		ASSERT_TRUE(!ioctl(fd, VHOST_SET_OWNER, NULL))
			TH_LOG("SET_OWNER at the limit: %m, want a kernel thread");
		check_worker_identity(_metadata, getpid(), &w);
		close(fd);
		ASSERT_TRUE(wait_workers(getpid(), 0) == 0)
			TH_LOG("worker outlived the fd");
		ASSERT_LE(0, leak_point(lc, "device closed"));
		SKIP(return, "kernel-thread workers (before 6.12) do not "
			     "count in RLIMIT_NPROC: SET_OWNER at the limit "
			     "succeeded");
	}
	owner_refused(_metadata, fd, limit, 1);
	ASSERT_LE(0, leak_point(lc, "baseline"));
	owner_refused(_metadata, fd, limit, NPROC_TRIES);
	ASSERT_LE(0, leak_point(lc, "after 256 refused SET_OWNERs"));
	/* One task more allowed: now the worker fits, on the same fd. */
	set_nproc(_metadata, limit + 1);
	ret = ioctl(fd, VHOST_SET_OWNER, NULL) ? -errno : 0;
	ASSERT_LE(0, ret);
	check_worker_identity(_metadata, getpid(), &w);
	ret = try_fork();
	ASSERT_TRUE(ret == -EAGAIN)
		TH_LOG("fork with the worker counted: %s",
		       ret ? strerror(-ret) : "success");
	close(fd);
	ASSERT_TRUE(wait_workers(getpid(), 0) == 0)
		TH_LOG("worker outlived the fd");
	ASSERT_LE(0, leak_point(lc, "device closed"));
}

TEST_F(leak, worker_nproc_limit)
{
	struct leak_opts o = {
		.worker_prefix = test_dev_is_vhx() ? "vhx-net-" : "vhost-",
	};

	LEAK_RUN("worker_nproc_limit", nproc_work, NULL, &o);
}


VHX_TEST_MAIN("/dev/vhx-net")
