// SPDX-License-Identifier: GPL-2.0
/*
 * qemu-migrate.sh --strip-log: preloaded into QEMU, makes a vhost device
 * that acks dirty logging and logs nothing, to show that the test fails
 * on one.  VHOST_F_LOG_ALL is cleared from VHOST_SET_FEATURES and
 * VHOST_VRING_F_LOG from VHOST_SET_VRING_ADDR on their way to the kernel,
 * which so never marks a page, while QEMU believes it does.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <linux/vhost.h>

int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int fd, unsigned long req, ...);
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	if (req == VHOST_SET_FEATURES) {
		uint64_t f = *(uint64_t *)arg & ~(1ULL << VHOST_F_LOG_ALL);

		return real(fd, req, &f);
	}
	if (req == VHOST_SET_VRING_ADDR) {
		struct vhost_vring_addr a = *(struct vhost_vring_addr *)arg;

		a.flags &= ~(1u << VHOST_VRING_F_LOG);
		return real(fd, req, &a);
	}
	return real(fd, req, arg);
}
