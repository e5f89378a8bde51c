/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small KTAP test runner.  Each case runs in its own child process with
 * an alarm, so a crash or a hang fails that case and nothing else, and the
 * files a case opens (device fds, taps) go away with it.
 *
 * A case returns KT_PASS, KT_FAIL or kt_skip("why").
 */
#ifndef KTAP_H
#define KTAP_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

enum { KT_PASS = 0, KT_FAIL = 1, KT_SKIP = 4 };

struct kt_case {
	const char *name;
	int (*fn)(void);
};

/* --dev PATH as given, or the default passed to kt_main(). */
extern const char *kt_dev;

/* True when kt_dev is a vhx node (the path contains "vhx"). */
bool kt_dev_is_vhx(void);

void kt_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kt_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse --dev/--list/--only/--timeout, run the cases, exit code 0 = all ok. */
int kt_main(int argc, char **argv, const struct kt_case *cases, size_t ncases,
	    const char *default_dev);

#define KT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fail the case unless @cond holds. */
#define KT_ASSERT(cond, fmt, ...)					\
	do {								\
		if (!(cond)) {						\
			kt_diag("%s:%d: %s: " fmt, __func__, __LINE__,	\
				#cond, ##__VA_ARGS__);			\
			return KT_FAIL;					\
		}							\
	} while (0)

/* Fail the case if @expr returns a negative errno. */
#define KT_OK(expr)							\
	do {								\
		long __r = (expr);					\
		if (__r < 0) {						\
			kt_diag("%s:%d: %s: %s", __func__, __LINE__,	\
				#expr, strerror((int)-__r));		\
			return KT_FAIL;					\
		}							\
	} while (0)

/* Fail the case unless @expr returns exactly -@err. */
#define KT_ERR(expr, err)						\
	do {								\
		long __r = (expr);					\
		if (__r != -(err)) {					\
			kt_diag("%s:%d: %s: got %ld (%s), want -%s",	\
				__func__, __LINE__, #expr, __r,		\
				__r < 0 ? strerror((int)-__r) : "ok",	\
				#err);					\
			return KT_FAIL;					\
		}							\
	} while (0)

/* Propagate a helper's non-pass verdict. */
#define KT_RUN(expr)							\
	do {								\
		int __v = (expr);					\
		if (__v != KT_PASS)					\
			return __v;					\
	} while (0)

#endif /* KTAP_H */
