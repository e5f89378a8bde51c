// SPDX-License-Identifier: GPL-2.0
/* Leak accounting for teardown tests: see leak.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest.h"
#include "leak.h"

#define CG_ROOT		"/sys/fs/cgroup"
#define MAX_SLABS	512

struct leak_ctx {
	int wfd;	/* labels to the parent */
	int rfd;	/* acks from the parent */
};

struct slab_ent {
	char name[40];
	long long bytes;
};

void leak_msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static ssize_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, got = 0;

	if (fd < 0)
		return -errno;
	while (got < (ssize_t)len - 1) {
		n = read(fd, buf + got, len - 1 - got);
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = '\0';
	return got;
}

long long leak_read_ll(const char *path)
{
	char buf[64];
	ssize_t n = read_file(path, buf, sizeof(buf));

	return n < 0 ? n : strtoll(buf, NULL, 10);
}

int leak_pread_ints(int fd, long long *v, int n)
{
	char buf[256], *p = buf, *end;
	ssize_t len = pread(fd, buf, sizeof(buf) - 1, 0);
	int i;

	if (len < 0)
		return -errno;
	buf[len] = '\0';
	for (i = 0; i < n; i++) {
		v[i] = strtoll(p, &end, 10);
		if (end == p)
			return -EINVAL;
		p = end;
	}
	return 0;
}

/* ---- threads and tasks ----------------------------------------------- */

void leak_for_each_task(void (*fn)(const char *dir, void *arg), void *arg)
{
	char path[300], dir[600];
	struct dirent *p, *t;
	DIR *pd, *td;

	pd = opendir("/proc");
	if (!pd)
		return;
	while ((p = readdir(pd))) {
		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", p->d_name);
		td = opendir(path);
		if (!td)
			continue;
		while ((t = readdir(td))) {
			/* task/.. would be the process a second time */
			if (t->d_name[0] < '0' || t->d_name[0] > '9')
				continue;
			snprintf(dir, sizeof(dir), "%s/%s", path, t->d_name);
			fn(dir, arg);
		}
		closedir(td);
	}
	closedir(pd);
}

struct prefix_count {
	const char *prefix;
	int n;
	char first[64];
};

static void count_one(const char *dir, void *arg)
{
	struct prefix_count *c = arg;
	char path[640], comm[64];

	snprintf(path, sizeof(path), "%s/comm", dir);
	if (read_file(path, comm, sizeof(comm)) <= 0)
		return;
	if (strncmp(comm, c->prefix, strlen(c->prefix)))
		return;
	if (!c->n++)
		snprintf(c->first, sizeof(c->first), "%.40s", comm);
}

int leak_count_threads(const char *prefix)
{
	struct prefix_count c = { .prefix = prefix };

	leak_for_each_task(count_one, &c);
	if (c.n)
		ksft_print_msg("%d threads named %s* alive, e.g. %s\n", c.n, prefix,
			strtok(c.first, "\n"));
	return c.n;
}

#define MAX_D	64

struct d_scan {
	int tid[MAX_D];
	int n;
};

static void d_one(const char *dir, void *arg)
{
	struct d_scan *s = arg;
	char path[640], buf[512], *p;

	snprintf(path, sizeof(path), "%s/stat", dir);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return;
	p = strrchr(buf, ')');
	if (p && p[1] == ' ' && p[2] == 'D' && s->n < MAX_D)
		s->tid[s->n++] = atoi(strrchr(dir, '/') + 1);
}

int leak_stuck_tasks(void)
{
	struct d_scan first = { .n = 0 }, now;
	int round, i, j, n;

	leak_for_each_task(d_one, &first);
	for (round = 0; round < 3 && first.n; round++) {
		leak_msleep(500);
		now.n = 0;
		leak_for_each_task(d_one, &now);
		/* Keep only those in D every time. */
		for (i = 0, n = 0; i < first.n; i++)
			for (j = 0; j < now.n; j++)
				if (first.tid[i] == now.tid[j]) {
					first.tid[n++] = first.tid[i];
					break;
				}
		first.n = n;
	}
	for (i = 0; i < first.n; i++) {
		char path[64], buf[1024];

		snprintf(path, sizeof(path), "/proc/%d/comm", first.tid[i]);
		if (read_file(path, buf, sizeof(buf)) < 0)
			buf[0] = '\0';
		ksft_print_msg("task %d (%s) stuck in D state\n", first.tid[i],
			strtok(buf, "\n") ? buf : "?");
		snprintf(path, sizeof(path), "/proc/%d/stack", first.tid[i]);
		if (read_file(path, buf, sizeof(buf)) > 0) {
			char *line, *save;

			for (line = strtok_r(buf, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save))
				ksft_print_msg("  %s\n", line);
		}
	}
	return first.n;
}

/* ---- kernel log -------------------------------------------------------- */

/* The same reports scripts/splat-check.sh looks for. */
static const char splat_re[] =
	"BUG:|WARNING:|Oops|general protection fault|Call Trace:|"
	"Kernel panic|kernel BUG|Object padding overwritten|"
	"Redzone overwritten|Poison overwritten|Object already free|"
	"BUG kmalloc|INFO: .*[Ff]reed|Objects remaining|soft lockup|"
	"hard LOCKUP|blocked for more than|rcu.*detected stall|"
	"rcu_.*kthread starved|list_add corruption|list_del corruption|"
	"UBSAN:|refcount_t:";

int leak_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

int leak_kmsg_splats(int fd)
{
	char rec[2048], *msg;
	regex_t re;
	int n = 0;
	ssize_t len;

	if (fd < 0 || regcomp(&re, splat_re, REG_EXTENDED | REG_NOSUB))
		return 0;
	for (;;) {
		len = read(fd, rec, sizeof(rec) - 1);
		if (len < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (len <= 0)
			break;
		rec[len] = '\0';
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		if (!regexec(&re, msg, 0, NULL, 0)) {
			if (n < 10)
				ksft_print_msg("kernel: %s\n", strtok(msg, "\n"));
			n++;
		}
	}
	regfree(&re);
	return n;
}

/* ---- memory ------------------------------------------------------------ */

static int cg_setup(char *dir, size_t len)
{
	char buf[256];
	struct stat st;

	if (stat(CG_ROOT "/cgroup.controllers", &st)) {
		mkdir(CG_ROOT, 0755);
		if (mount("cgroup2", CG_ROOT, "cgroup2", 0, NULL) &&
		    errno != EBUSY)
			return -errno;
	}
	if (read_file(CG_ROOT "/cgroup.controllers", buf, sizeof(buf)) < 0 ||
	    !strstr(buf, "memory"))
		return -ENOENT;
	if (read_file(CG_ROOT "/cgroup.subtree_control", buf,
		      sizeof(buf)) < 0)
		return -ENOENT;
	if (!strstr(buf, "memory")) {
		int ret = write_str(CG_ROOT "/cgroup.subtree_control",
				    "+memory");

		if (ret)
			return ret;
	}
	snprintf(dir, len, CG_ROOT "/vhx-leak-%d", (int)getpid());
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	/* The parent measures from a sibling: see drain_stocks(). */
	snprintf(buf, sizeof(buf), "%s-meter", dir);
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	strcat(buf, "/cgroup.procs");
	return write_str(buf, "0");
}

static void cg_remove(const char *dir)
{
	char meter[160];
	int i;

	write_str(CG_ROOT "/cgroup.procs", "0");
	snprintf(meter, sizeof(meter), "%s-meter", dir);
	rmdir(meter);
	/* The cgroup is empty once the workload is reaped; retry a bit. */
	for (i = 0; i < 50 && rmdir(dir) && errno == EBUSY; i++)
		leak_msleep(100);
}

/*
 * Each CPU caches up to a page of charge and of slab statistics for the
 * last cgroup that allocated there.  An accounted allocation by another
 * cgroup (ours, the meter) on every CPU flushes those caches, so that
 * memory.stat is exact to the byte once the stats are flushed.
 */
static void drain_stocks(void)
{
	long i, ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t old, one;
	int p[2];

	if (sched_getaffinity(0, sizeof(old), &old))
		return;
	for (i = 0; i < ncpu && i < CPU_SETSIZE; i++) {
		CPU_ZERO(&one);
		CPU_SET(i, &one);
		if (sched_setaffinity(0, sizeof(one), &one))
			continue;
		if (!pipe(p)) {
			close(p[0]);
			close(p[1]);
		}
	}
	sched_setaffinity(0, sizeof(old), &old);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long stat_field(const char *buf, const char *key)
{
	size_t klen = strlen(key);
	const char *p = buf;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ' ')
			return strtoll(p + klen + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

static int read_slabinfo(struct slab_ent *e, int max, long long *total)
{
	static char buf[256 << 10];
	char *line, *save;
	int n = 0;

	*total = 0;
	if (read_file("/proc/slabinfo", buf, sizeof(buf)) <= 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[40];
		long long active, num, size;

		if (sscanf(line, "%39s %lld %lld %lld", name, &active, &num,
			   &size) != 4)
			continue;
		*total += active * size;
		if (n < max) {
			snprintf(e[n].name, sizeof(e[n].name), "%s", name);
			e[n].bytes = active * size;
			n++;
		}
	}
	return n;
}

static int snapshot(const char *cg, struct leak_snap *s, struct slab_ent *e,
		    int *ne)
{
	char path[256], buf[8192];
	long long v;

	snprintf(path, sizeof(path), "%s/memory.stat", cg);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return -EIO;
	s->kernel = stat_field(buf, "kernel");
	s->slab = stat_field(buf, "slab");
	s->sock = stat_field(buf, "sock");
	if (s->kernel < 0 || s->slab < 0 || s->sock < 0) {
		ksft_print_msg("memory.stat lacks kernel/slab/sock\n");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/memory.current", cg);
	s->current = leak_read_ll(path);
	s->sunreclaim = -1;
	if (read_file("/proc/meminfo", buf, sizeof(buf)) > 0) {
		char *p = strstr(buf, "SUnreclaim:");

		if (p && sscanf(p + 11, "%lld", &v) == 1)
			s->sunreclaim = v * 1024;
	}
	*ne = read_slabinfo(e, MAX_SLABS, &s->slabinfo);
	return 0;
}

/* The caches that grew most since @a, for the diagnostics. */
static void slab_growth(const struct slab_ent *a, int na,
			const struct slab_ent *b, int nb)
{
	struct { const char *name; long long d; } top[3] = { { 0 } };
	int i, j, k;

	for (j = 0; j < nb; j++) {
		long long d = b[j].bytes;

		for (i = 0; i < na; i++)
			if (!strcmp(a[i].name, b[j].name)) {
				d -= a[i].bytes;
				break;
			}
		for (k = 0; k < 3; k++)
			if (d > top[k].d) {
				memmove(&top[k + 1], &top[k],
					(2 - k) * sizeof(top[0]));
				top[k].name = b[j].name;
				top[k].d = d;
				break;
			}
	}
	for (k = 0; k < 3 && top[k].name; k++)
		ksft_print_msg("  slabinfo: %s +%lld bytes\n", top[k].name, top[k].d);
}

/* ---- the runner -------------------------------------------------------- */

int leak_point(struct leak_ctx *lc, const char *label)
{
	char line[128], ack;
	int n = snprintf(line, sizeof(line), "%s\n", label);

	if (write(lc->wfd, line, n) != n)
		return -EPIPE;
	if (read(lc->rfd, &ack, 1) != 1)
		return -EPIPE;
	return ack ? -EIO : 0;
}

static void workload(struct __test_metadata *_metadata, const char *cg,
		     leak_fn fn, void *arg, int wfd, int rfd)
{
	struct leak_ctx lc = { .wfd = wfd, .rfd = rfd };
	char path[256];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	if (write_str(path, "0")) {
		ksft_print_msg("cannot enter %s: %m\n", cg);
		_exit(KSFT_FAIL);
	}
	/* Its verdict reaches the test through the shared _metadata. */
	fn(_metadata, &lc, arg);
	fflush(stdout);
	_exit(KSFT_PASS);
}

struct point_state {
	const char *name;
	const struct leak_opts *o;
	const char *cg;
	int kmsg;
	int npoints;
	struct leak_snap base;
	struct slab_ent *base_slabs, *slabs;
	int nbase;
};

static bool check_delta(const char *what, long long d, long long tol,
			bool quiet)
{
	if (d <= tol)
		return true;
	if (!quiet)
		ksft_print_msg("LEAK: %s grew by %lld bytes (tolerance %lld)\n", what,
			d, tol);
	return false;
}

static bool deltas_ok(const struct point_state *ps, const struct leak_snap *s,
		      bool quiet)
{
	const struct leak_opts *o = ps->o;
	const struct leak_snap *b = &ps->base;
	bool ok = true;

	ok &= check_delta("memory.stat kernel", s->kernel - b->kernel,
			  o->tol_kernel ? o->tol_kernel : LEAK_TOL_KERNEL,
			  quiet);
	ok &= check_delta("memory.stat slab", s->slab - b->slab,
			  o->tol_slab ? o->tol_slab : LEAK_TOL_SLAB, quiet);
	ok &= check_delta("memory.stat sock", s->sock - b->sock,
			  o->tol_sock ? o->tol_sock : LEAK_TOL_SOCK, quiet);
	return ok;
}

static void print_deltas(const struct point_state *ps, const char *label,
			 const struct leak_snap *s)
{
	const struct leak_snap *b = &ps->base;

	ksft_print_msg("%s: %s vs baseline: kernel %+lld slab %+lld sock %+lld "
		"current %+lld; system-wide SUnreclaim %+lld slabinfo %+lld\n",
		ps->name, label, s->kernel - b->kernel, s->slab - b->slab,
		s->sock - b->sock, s->current - b->current,
		s->sunreclaim - b->sunreclaim, s->slabinfo - b->slabinfo);
}

/* Wait for the stats flush, drain the charge caches, then read. */
static int settle_and_read(struct point_state *ps, long long t0,
			   struct leak_snap *s, int *ns)
{
	long long left = (ps->o->settle_ms ? ps->o->settle_ms : 2200) -
			 (now_ms() - t0);

	if (left > 0)
		leak_msleep(left);
	drain_stocks();
	return snapshot(ps->cg, s, ps->npoints ? ps->slabs : ps->base_slabs,
			ns);
}

/*
 * Objects freed late by the kernel itself (RCU callbacks, lazily purged
 * vmap areas, a killed task's last references) can sit over a tolerance
 * for one reading.  A leaked object never goes back, so a reading over
 * tolerance is taken again LEAK_RECHECKS times before it counts.
 */
#define LEAK_RECHECKS	2

static bool measure_deltas(struct point_state *ps, const char *label,
			   struct leak_snap *s, int *ns)
{
	long long t0 = now_ms();
	int i;

	for (i = 0; i < LEAK_RECHECKS; i++) {
		if (deltas_ok(ps, s, true)) {
			if (i)
				ksft_print_msg("%s: back within tolerance at '%s' "
					"after %lld ms more\n", ps->name, label,
					now_ms() - t0);
			return true;
		}
		if (!i)
			print_deltas(ps, "over tolerance, reading again", s);
		if (settle_and_read(ps, now_ms(), s, ns))
			return false;
	}
	return deltas_ok(ps, s, false);
}

/* Measure at one point; false when a check failed. */
static bool measure(struct point_state *ps, const char *label)
{
	struct leak_snap s;
	bool ok = true;
	bool grow = label[0] == '+';
	long long t0;
	int ns;

	/* RCU-deferred frees and fputs first, then the per-CPU caches. */
	leak_msleep(300);
	drain_stocks();
	t0 = now_ms();
	if (leak_kmsg_splats(ps->kmsg)) {
		ksft_print_msg("%s: kernel splat before '%s'\n", ps->name, label);
		ok = false;
	}
	if (!grow && ps->o->worker_prefix &&
	    leak_count_threads(ps->o->worker_prefix)) {
		ksft_print_msg("%s: worker threads left at '%s'\n", ps->name, label);
		ok = false;
	}
	if (leak_stuck_tasks()) {
		ksft_print_msg("%s: tasks stuck in D state at '%s'\n", ps->name, label);
		ok = false;
	}
	/* memory.stat is exact after the periodic (2 s) stats flush. */
	if (settle_and_read(ps, t0, &s, &ns)) {
		ksft_print_msg("%s: cannot read memory figures\n", ps->name);
		return false;
	}
	if (!ps->npoints++) {
		ps->base = s;
		ps->nbase = ns;
		ksft_print_msg("%s: %s: kernel %lld slab %lld sock %lld current %lld "
			"SUnreclaim %lld slabinfo %lld\n", ps->name, label,
			s.kernel, s.slab, s.sock, s.current, s.sunreclaim,
			s.slabinfo);
		return ok;
	}
	if (grow) {
		print_deltas(ps, label, &s);
		/* A positive control: the workload holds vhx objects now. */
		if (s.slab - ps->base.slab < LEAK_MIN_HELD) {
			ksft_print_msg("%s: holding devices, slab grew only %lld "
				"bytes: vhx is not charged to the cgroup\n",
				ps->name, s.slab - ps->base.slab);
			return false;
		}
		return ok;
	}
	ok &= measure_deltas(ps, label, &s, &ns);
	print_deltas(ps, label, &s);
	if (!ok || s.slabinfo - ps->base.slabinfo > 64 << 10)
		slab_growth(ps->base_slabs, ps->nbase, ps->slabs, ns);
	return ok;
}

int leak_run(struct __test_metadata *_metadata, const char *name,
	     leak_fn fn, void *arg, const struct leak_opts *opts)
{
	static struct slab_ent base_slabs[MAX_SLABS], slabs[MAX_SLABS];
	struct point_state ps = {
		.name = name, .o = opts, .base_slabs = base_slabs,
		.slabs = slabs,
	};
	int up[2], down[2], status, verdict = KSFT_PASS, ret;
	char cg[128], line[128];
	long long start;
	size_t len = 0;
	pid_t pid;
	FILE *in;

	start = now_ms();
	ret = cg_setup(cg, sizeof(cg));
	if (ret) {
		ksft_print_msg("no cgroup v2 memory controller: %s\n",
			       strerror(-ret));
		return KSFT_SKIP;
	}
	ps.cg = cg;
	ps.kmsg = leak_kmsg_open();
	if (pipe(up) || pipe(down))
		return KSFT_FAIL;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return KSFT_FAIL;
	if (!pid) {
		close(up[0]);
		close(down[1]);
		workload(_metadata, cg, fn, arg, up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	in = fdopen(up[0], "r");
	while (in && fgets(line, sizeof(line), in)) {
		char ack;

		len = strlen(line);
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		ack = !measure(&ps, line);
		if (ack)
			verdict = KSFT_FAIL;
		if (write(down[1], &ack, 1) != 1)
			break;
	}
	if (in)
		fclose(in);
	close(down[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status)) {
		ksft_print_msg("%s: workload killed by signal %d\n", name,
			WTERMSIG(status));
		verdict = KSFT_FAIL;
	} else if (WEXITSTATUS(status) != KSFT_PASS) {
		verdict = KSFT_FAIL;
	}
	if (ps.npoints < 2 && verdict == KSFT_PASS) {
		ksft_print_msg("%s: only %d measurement points\n", name, ps.npoints);
		verdict = KSFT_FAIL;
	}
	if (leak_kmsg_splats(ps.kmsg)) {
		ksft_print_msg("%s: kernel splat\n", name);
		verdict = KSFT_FAIL;
	}
	close(ps.kmsg);
	cg_remove(cg);
	ksft_print_msg("%s: %lld ms\n", name, now_ms() - start);
	return verdict;
}
