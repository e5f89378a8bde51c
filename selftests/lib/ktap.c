// SPDX-License-Identifier: GPL-2.0
/* A small KTAP test runner: see ktap.h. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "ktap.h"
#include "testdev.h"

const char *kt_dev;
static int skip_fd = -1;	/* child's end of the skip-reason pipe */
static unsigned int timeout_s = 60;

bool kt_dev_is_vhx(void)
{
	return kt_dev && strstr(kt_dev, "vhx");
}

void kt_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

int kt_skip(const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (skip_fd >= 0 && write(skip_fd, why, strlen(why)) < 0)
		kt_diag("cannot pass skip reason: %s", strerror(errno));
	return KT_SKIP;
}

static void usage(const char *prog, const struct kt_case *cases, size_t n)
{
	size_t i;

	fprintf(stderr,
		"usage: %s [--dev PATH] [--list] [--only NAME] [--timeout SEC]\n"
		"cases:", prog);
	for (i = 0; i < n; i++)
		fprintf(stderr, " %s", cases[i].name);
	fputc('\n', stderr);
}

static int run_child(const struct kt_case *c, int wfd)
{
	int ret;

	skip_fd = wfd;
	alarm(timeout_s);
	ret = c->fn();
	fflush(stdout);
	return ret;
}

/* Run one case in a child; returns its verdict and fills @why on skip. */
static int run_case(const struct kt_case *c, char *why, size_t whylen)
{
	int pfd[2], status, verdict;
	ssize_t n;
	pid_t pid;

	why[0] = '\0';
	if (pipe(pfd)) {
		kt_diag("pipe: %s", strerror(errno));
		return KT_FAIL;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		kt_diag("fork: %s", strerror(errno));
		return KT_FAIL;
	}
	if (!pid) {
		close(pfd[0]);
		/* exit(), not _exit(): atexit cleanups (links) must run. */
		exit(run_child(c, pfd[1]));
	}
	close(pfd[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	n = read(pfd[0], why, whylen - 1);
	why[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	if (WIFSIGNALED(status)) {
		kt_diag("%s: killed by signal %d%s", c->name,
			WTERMSIG(status),
			WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
		return KT_FAIL;
	}
	verdict = WEXITSTATUS(status);
	return verdict == KT_PASS || verdict == KT_SKIP ? verdict : KT_FAIL;
}

int kt_main(int argc, char **argv, const struct kt_case *cases, size_t ncases,
	    const char *default_dev)
{
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "list", no_argument, NULL, 'l' },
		{ "only", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	const char *only = NULL;
	size_t i, planned = 0, nr = 0, failed = 0;
	char why[256], *end;
	int c;

	kt_dev = default_dev;
	while ((c = getopt_long(argc, argv, "d:lo:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			kt_dev = optarg;
			break;
		case 'l':
			for (i = 0; i < ncases; i++)
				printf("%s\n", cases[i].name);
			return 0;
		case 'o':
			only = optarg;
			break;
		case 't':
			timeout_s = strtoul(optarg, &end, 0);
			if (*end || !timeout_s) {
				fprintf(stderr, "bad --timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(argv[0], cases, ncases);
			return 0;
		default:
			usage(argv[0], cases, ncases);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
		usage(argv[0], cases, ncases);
		return 2;
	}
	for (i = 0; i < ncases; i++)
		planned += !only || !strcmp(only, cases[i].name);
	if (!planned) {
		fprintf(stderr, "no case named '%s' (see --list)\n", only);
		return 2;
	}

	test_dev = kt_dev;	/* the helpers' name for it */
	if (access(kt_dev, R_OK | W_OK)) {
		fprintf(stderr, "%s: cannot use device %s: %s\n", argv[0],
			kt_dev, strerror(errno));
		return 2;
	}

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..%zu\n", planned);
	kt_diag("device %s", kt_dev);
	for (i = 0; i < ncases; i++) {
		int v;

		if (only && strcmp(only, cases[i].name))
			continue;
		v = run_case(&cases[i], why, sizeof(why));
		nr++;
		if (v == KT_SKIP)
			printf("ok %zu - %s # SKIP %s\n", nr, cases[i].name,
			       why[0] ? why : "no reason given");
		else
			printf("%sok %zu - %s\n", v == KT_PASS ? "" : "not ",
			       nr, cases[i].name);
		failed += v == KT_FAIL;
	}
	kt_diag("%zu failed of %zu", failed, planned);
	return failed ? 1 : 0;
}
