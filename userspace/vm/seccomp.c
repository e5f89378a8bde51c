// SPDX-License-Identifier: GPL-2.0
/*
 * Once the VM is set up, each thread installs a seccomp filter of the
 * system calls its kind makes from then on (libseccomp); anything else
 * traps, and the SIGSYS handler ends vhx-vm with a message naming the
 * call.  Opening files, sockets, mapping memory executable, exec: none of
 * that is left after setup.  --no-seccomp turns the filters off.
 */
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "vm.h"

bool vm_seccomp = true;
static __thread const char *thread_kind;

/*
 * What every kind of thread needs: memory (glibc's malloc grows a thread's
 * arena with mprotect), locks, signals, its end.
 */
static const int common[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(futex), SCMP_SYS(madvise),
	SCMP_SYS(mmap), SCMP_SYS(mprotect), SCMP_SYS(munmap), SCMP_SYS(mremap),
	SCMP_SYS(brk),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(exit),
	SCMP_SYS(exit_group), SCMP_SYS(restart_syscall), SCMP_SYS(getpid),
	SCMP_SYS(gettid), SCMP_SYS(tgkill), SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(sched_yield),
	SCMP_SYS(rseq), SCMP_SYS(set_robust_list),
};

/* Device emulation: KVM and vhost ioctls, eventfds. */
static const int vcpu[] = { SCMP_SYS(ioctl) };

/*
 * Poll, the console, the control socket (accept4, send, close; fstat and
 * ftruncate for resize-disk), pausing the vCPUs (tgkill, common), the
 * kernel and initrd read again at a reboot (pread64), the terminal at
 * exit (ioctl).
 */
static const int main_loop[] = {
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(ioctl), SCMP_SYS(accept4),
	SCMP_SYS(sendto), SCMP_SYS(close), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(ftruncate), SCMP_SYS(pread64),
};

/* Writing the console to stdout. */
static const int console[] = { SCMP_SYS(poll), SCMP_SYS(ppoll) };

static const char *const kind_names[] = {
	[SECCOMP_VCPU] = "vCPU",
	[SECCOMP_MAIN] = "main",
	[SECCOMP_CONSOLE] = "console",
};

static void put_str(const char *s)
{
	if (write(STDERR_FILENO, s, strlen(s)) < 0)
		return;
}

/* Async-signal-safe: the call's number, written out by hand. */
static void sigsys(int sig, siginfo_t *si, void *uc)
{
	char num[12], *p = num + sizeof(num);
	unsigned int n = si->si_syscall;

	(void)sig;
	(void)uc;
	*--p = '\0';
	do {
		*--p = '0' + n % 10;
		n /= 10;
	} while (n);
	console_restore();
	put_str("\nvhx-vm: seccomp: system call ");
	put_str(p);
	put_str(" is not in the allowlist of the ");
	put_str(thread_kind ? thread_kind : "?");
	put_str(" thread; stopping (--no-seccomp turns the filters off)\n");
	_exit(VM_EXIT_FAILED);
}

static int add_rules(scmp_filter_ctx ctx, const int *calls, size_t n)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
		if (err)
			return err;
	}
	return 0;
}

/* The calling thread's filter, for good. */
void seccomp_install(enum seccomp_kind kind)
{
	static const struct { const int *calls; size_t n; } lists[] = {
		[SECCOMP_VCPU] = { vcpu, ARRAY_SIZE(vcpu) },
		[SECCOMP_MAIN] = { main_loop, ARRAY_SIZE(main_loop) },
		[SECCOMP_CONSOLE] = { console, ARRAY_SIZE(console) },
	};
	struct sigaction sa = { .sa_sigaction = sigsys, .sa_flags = SA_SIGINFO };
	scmp_filter_ctx ctx;
	int err;

	if (!vm_seccomp)
		return;
	thread_kind = kind_names[kind];
	sigaction(SIGSYS, &sa, NULL);
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		die("seccomp_init failed");
	err = add_rules(ctx, common, ARRAY_SIZE(common));
	if (!err)
		err = add_rules(ctx, lists[kind].calls, lists[kind].n);
	if (!err)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	if (err)
		die("cannot install the %s thread's seccomp filter: %s",
		    kind_names[kind], strerror(-err));
}
