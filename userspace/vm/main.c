// SPDX-License-Identifier: GPL-2.0
/*
 * vhx-vm: boot a Linux guest on KVM with virtio-net and virtio-blk devices
 * whose queues are served by vhost (vhx or upstream).
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <linux/vhx.h>

#include "vm.h"
#include "irq.h"
#include "pci.h"
#include "virtio.h"

static const char usage_text[] =
"usage: vhx-vm --kernel bzImage [options]\n"
"       vhx-vm ctl SOCKET COMMAND [KEY=VALUE...]\n"
"\n"
"  --kernel FILE     Linux bzImage to boot (64-bit boot protocol)\n"
"  --initrd FILE     initramfs to pass to the kernel\n"
"  --cmdline TEXT    kernel command line (default \"console=ttyS0\")\n"
"  --cpus N          number of vCPUs (default 1, at most 64)\n"
"  --memory MIB      guest RAM in MiB (default 512)\n"
"  --net OPTS        add a virtio-net device; OPTS is a comma list of\n"
"                      tap=NAME        tap interface to attach to; created\n"
"                                      (and up) if missing, and then gone\n"
"                                      when vhx-vm exits\n"
"                      macvtap=NAME    macvtap interface to attach to\n"
"                      tapfd=N[:N...]  already open tap queue fds instead\n"
"                      queues=N|auto   queue pairs (default auto: one per\n"
"                                      vCPU, one on a tap without\n"
"                                      multi_queue)\n"
"                      queue-size=N    entries per ring, a power of 2 from\n"
"                                      16 to 32768 (default 256)\n"
"                      mac=XX:XX:XX:XX:XX:XX\n"
"                                      default: a macvtap's own; else\n"
"                                      52:54:00 and a hash of the tap's\n"
"                                      name (stable, distinct per tap)\n"
"                      vhost=PATH      vhost-net node (default /dev/vhx-net)\n"
"  --disk OPTS       add a virtio-blk device; OPTS is a comma list of\n"
"                      path=FILE       backing file or block device\n"
"                      queues=N        request queues (default 1)\n"
"                      queue-size=N    entries per ring, a power of 2 from\n"
"                                      16 to 32768 (default 256)\n"
"                      ro, ro=on|off   read-only (default off)\n"
"                      cache=none|writeback\n"
"                                      none (default): O_DIRECT, past the\n"
"                                      host page cache, where the file\n"
"                                      system allows it; block devices are\n"
"                                      always served with direct I/O\n"
"                      discard=on|off  offer DISCARD to the guest (default on)\n"
"                      serial=STRING   the disk's serial (at most 20 bytes)\n"
"                      vhost=PATH      vhost-blk node (default /dev/vhx-blk)\n"
"                    A writable disk is locked (OFD lock): a second VMM on\n"
"                    the same image is refused; read-only ones share.\n"
"  --api-socket PATH a control socket (JSON lines), for vhx-vm ctl:\n"
"                      pause, resume, power-button, reboot, stats,\n"
"                      resize-disk disk=N size=BYTES,\n"
"                      link net=N up=true|false\n"
"  --shutdown-wait S on SIGTERM, press the guest's power button and give\n"
"                    it S seconds to power off (default 30); a second\n"
"                    SIGTERM or the time running out stops it\n"
"  --no-reboot       exit when the guest reboots (status 3) instead of\n"
"                    restarting it in place: devices reset, the kernel and\n"
"                    initrd loaded again, in the same process\n"
"  --no-seccomp      no seccomp filters (by default each thread may make\n"
"                    only the system calls it needs once the VM runs)\n"
"  --verbose         log each queue's guest physical ring addresses at\n"
"                    device start, and the taps created (on stderr)\n"
"  --help            this text\n"
"\n"
"The serial console (ttyS0) is on stdin/stdout.  On a terminal, keys go\n"
"to the guest as typed (^C too); Ctrl-a x quits, Ctrl-a Ctrl-a sends one\n"
"Ctrl-a.\n"
"\n"
"Exit status: 0 the guest powered off, 1 the VMM failed, 2 bad arguments,\n"
"3 the guest rebooted (with --no-reboot), 4 the guest crashed (a panic reported through\n"
"pvpanic, a triple fault, a vCPU KVM could not run), 5 stopped after\n"
"SIGTERM without the guest powering off.\n";

static void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog_name);
	exit(2);
}

static long parse_num(const char *what, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage_error("%s: '%s' is not a number from %ld to %ld", what, s,
			    min, max);
	return v;
}

/* A ring size: the driver may pick a smaller one, never a larger. */
static unsigned int parse_queue_size(const char *what, const char *s)
{
	long v = parse_num(what, s, 16, VIRTIO_QUEUE_MAX_SIZE);

	if (v & (v - 1))
		usage_error("%s: %ld is not a power of 2", what, v);
	return v;
}

static void parse_mac(const char *s, u8 *mac)
{
	unsigned int b[6];
	char extra;
	int i;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &extra) != 6)
		usage_error("--net: bad mac '%s' (want XX:XX:XX:XX:XX:XX)", s);
	for (i = 0; i < 6; i++)
		mac[i] = b[i];
	if (mac[0] & 1)
		usage_error("--net: mac '%s' is a multicast address", s);
}

static void parse_tapfds(struct net_opts *net, char *list)
{
	char *save = NULL, *tok;

	for (tok = strtok_r(list, ":", &save); tok;
	     tok = strtok_r(NULL, ":", &save)) {
		int fd = parse_num("--net tapfd", tok, 0, INT_MAX), i;

		if (net->nr_tapfds == (int)ARRAY_SIZE(net->tapfds))
			usage_error("--net: too many tapfds");
		for (i = 0; i < net->nr_tapfds; i++)
			if (net->tapfds[i] == fd)
				usage_error("--net: tapfd=%d is given twice", fd);
		net->tapfds[net->nr_tapfds++] = fd;
	}
}

/* Split "key=value" in place; value is NULL for a bare key. */
static char *split_kv(char *item)
{
	char *eq = strchr(item, '=');

	if (!eq)
		return NULL;
	*eq = '\0';
	return eq + 1;
}

static void parse_net(struct vm_opts *o, const char *arg)
{
	struct net_opts *net;
	char *copy, *save = NULL, *item;

	if (o->nr_nets == (int)ARRAY_SIZE(o->nets))
		usage_error("too many --net devices");
	net = &o->nets[o->nr_nets++];
	net->queues = 0;	/* auto */
	net->vhost = "/dev/vhx-net";
	copy = strdup(arg);
	for (item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *val = split_kv(item);

		if (!val)
			usage_error("--net: '%s' needs a value", item);
		if (!strcmp(item, "tap") || !strcmp(item, "macvtap")) {
			if (!*val || strlen(val) >= sizeof(net->tap))
				usage_error("--net: bad %s name '%s'", item, val);
			if (net->tap[0])
				usage_error("--net takes one tap= or macvtap=");
			strcpy(net->tap, val);
			net->macvtap = item[0] == 'm';
		} else if (!strcmp(item, "tapfd")) {
			parse_tapfds(net, val);
		} else if (!strcmp(item, "queues")) {
			net->queues = strcmp(val, "auto") ?
				parse_num("--net queues", val, 1,
					  VIRTIO_NET_MAX_PAIRS) : 0;
		} else if (!strcmp(item, "queue-size")) {
			net->queue_size = parse_queue_size("--net queue-size",
							   val);
		} else if (!strcmp(item, "mac")) {
			parse_mac(val, net->mac);
			net->mac_set = true;
		} else if (!strcmp(item, "vhost")) {
			net->vhost = strdup(val);
		} else {
			usage_error("--net: unknown option '%s'", item);
		}
	}
	if (!net->tap[0] && !net->nr_tapfds)
		usage_error("--net needs tap=NAME, macvtap=NAME or tapfd=N");
	if (net->tap[0] && net->nr_tapfds)
		usage_error("--net takes tap=, macvtap= or tapfd=, not two");
	if (net->nr_tapfds && !net->queues)
		net->queues = net->nr_tapfds;
	if (net->nr_tapfds && net->nr_tapfds != net->queues)
		usage_error("--net: %d tapfds given for %d queue pairs",
			    net->nr_tapfds, net->queues);
	free(copy);
}

/* 0 for @no, 1 for @yes; anything else is a usage error. */
static bool parse_choice(const char *what, const char *val, const char *no,
			 const char *yes)
{
	if (!strcmp(val, no))
		return false;
	if (!strcmp(val, yes))
		return true;
	usage_error("%s: '%s' is neither %s nor %s", what, val, no, yes);
}

static const char *parse_serial(const char *val)
{
	if (strlen(val) > VHX_BLK_SERIAL_LEN)
		usage_error("--disk serial: '%s' is longer than %d bytes", val,
			    VHX_BLK_SERIAL_LEN);
	return strdup(val);
}

static void parse_disk(struct vm_opts *o, const char *arg)
{
	struct disk_opts *disk;
	char *copy, *save = NULL, *item;

	if (o->nr_disks == (int)ARRAY_SIZE(o->disks))
		usage_error("too many --disk devices");
	disk = &o->disks[o->nr_disks++];
	disk->queues = 1;
	disk->vhost = "/dev/vhx-blk";
	copy = strdup(arg);
	for (item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *val = split_kv(item);

		if (!strcmp(item, "ro") && !val) {
			disk->ro = true;
			continue;
		}
		if (!val)
			usage_error("--disk: '%s' needs a value", item);
		if (!strcmp(item, "path"))
			disk->path = strdup(val);
		else if (!strcmp(item, "queues"))
			disk->queues = parse_num("--disk queues", val, 1,
						 VIRTIO_BLK_MAX_QUEUES);
		else if (!strcmp(item, "queue-size"))
			disk->queue_size = parse_queue_size("--disk queue-size",
							    val);
		else if (!strcmp(item, "vhost"))
			disk->vhost = strdup(val);
		else if (!strcmp(item, "ro"))
			disk->ro = parse_choice("--disk ro", val, "off", "on");
		else if (!strcmp(item, "cache"))
			disk->writeback = parse_choice("--disk cache", val,
						       "none", "writeback");
		else if (!strcmp(item, "discard"))
			disk->no_discard = !parse_choice("--disk discard", val,
							 "off", "on");
		else if (!strcmp(item, "serial"))
			disk->serial = parse_serial(val);
		else
			usage_error("--disk: unknown option '%s'", item);
	}
	if (!disk->path || !*disk->path)
		usage_error("--disk needs path=FILE");
	free(copy);
}

static void parse_args(struct vm_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "cpus", required_argument, NULL, 'p' },
		{ "memory", required_argument, NULL, 'm' },
		{ "net", required_argument, NULL, 'n' },
		{ "disk", required_argument, NULL, 'd' },
		{ "shutdown-wait", required_argument, NULL, 's' },
		{ "api-socket", required_argument, NULL, 'a' },
		{ "no-seccomp", no_argument, NULL, 'S' },
		{ "no-reboot", no_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->cmdline = "console=ttyS0";
	o->cpus = 1;
	o->mem_mib = 512;
	o->shutdown_wait = 30;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->initrd = optarg;
			break;
		case 'c':
			o->cmdline = optarg;
			break;
		case 'p':
			o->cpus = parse_num("--cpus", optarg, 1, MAX_VCPUS);
			break;
		case 'm':
			o->mem_mib = parse_num("--memory", optarg, 64,
					       1024 * 1024);
			break;
		case 'n':
			parse_net(o, optarg);
			break;
		case 'd':
			parse_disk(o, optarg);
			break;
		case 'a':
			o->api_socket = optarg;
			break;
		case 'S':
			vm_seccomp = false;
			break;
		case 'R':
			o->no_reboot = true;
			break;
		case 's':
			o->shutdown_wait = parse_num("--shutdown-wait", optarg,
						     0, 3600);
			break;
		case 'v':
			vm_verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case ':':
			usage_error("option '%s' needs a value",
				    argv[optind - 1]);
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->kernel)
		usage_error("no --kernel given");
}

/* SIGTERM comes through the returned signalfd: it is a shutdown request. */
static int setup_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		die_errno("signalfd");
	return fd;
}

static u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/*
 * The first SIGTERM presses the power button, so that the guest shuts
 * down cleanly; a second one, or @wait seconds, stop the VM.  Returns
 * the deadline.
 */
static u64 sigterm(struct vm *vm, int sig_fd, u64 deadline, int wait)
{
	struct signalfd_siginfo si;

	if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
		return deadline;
	if (deadline) {
		vm_request_stop(vm, VM_EXIT_TERMINATED, "second SIGTERM");
		return deadline;
	}
	warnx_vm("SIGTERM: pressed the power button; the guest has %d s to power off",
		 wait);
	irq_pulse(vm, ACPI_POWER_BUTTON_GSI);
	return now_ms() + wait * 1000ULL;
}

#define MAX_QUEUE_FDS	(VIRTIO_MAX_DEVS * VIRTIO_MAX_QUEUES)

/*
 * The stop eventfd, stdin, SIGTERM, the wake eventfd, the control socket
 * and its clients, every queue's ERR eventfd and, for devices on INTx,
 * every queue's call eventfd.
 */
/* What the VM needs to boot again: see reboot(). */
static struct boot_image boot_img;

/*
 * With every vCPU parked: devices reset while the old KVM VM exists (so
 * that their irqfds and ioeventfds are unbound from it), then a new VM on
 * the same, zeroed RAM, the kernel and initrd loaded again, new vCPUs.
 */
static void reboot_reset(struct vm *vm)
{
	u64 entry, boot_params;
	int i;

	pthread_mutex_lock(&vm->lock);
	virtio_reset_all(vm);
	pci_reset_all();
	serial_reset();
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	vm_recreate(vm);
	irq_reset(vm);
	irq_commit_routes(vm);
	boot_read_kernel(&boot_img);
	boot_load_linux(vm, &boot_img, &entry, &boot_params);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_create(vm, i, entry, boot_params);
	pthread_mutex_unlock(&vm->lock);
}

/* A reboot in place; the stop request that asked for it is consumed. */
static void reboot(struct vm *vm)
{
	eventfd_t v;

	warnx_vm("%s; booting it again", vm->exit_reason);
	if (vm_reboot_vcpus(vm, reboot_reset))
		die("cannot stop the vCPUs for a reboot");
	pthread_mutex_lock(&vm->stop_lock);
	vm->exit_reason = NULL;
	eventfd_read(vm->stop_fd, &v);
	pthread_mutex_unlock(&vm->stop_lock);
}

static int main_loop(struct vm *vm, bool tty, int sig_fd, int wait,
		     bool no_reboot)
{
	struct pollfd fds[4 + 1 + CTL_MAX_CLIENTS + 2 * MAX_QUEUE_FDS] = {
		{ .fd = vm->stop_fd, .events = POLLIN },
		{ .events = POLLIN },
		{ .fd = sig_fd, .events = POLLIN },
		{ .fd = vm->wake_fd, .events = POLLIN },
	};
	struct pollfd *ctl = fds + 4;
	int nctl = ctl_pollfds(ctl);
	struct pollfd *errs = ctl + nctl;
	int nerr = virtio_err_pollfds(errs, MAX_QUEUE_FDS);
	struct pollfd *calls = errs + nerr;
	bool input = true;
	u64 deadline = 0;
	eventfd_t v;
	int ncall;

	for (;;) {
		/* On a terminal, Ctrl-a and a key may become two bytes. */
		size_t room = serial_rx_room(vm) / (tty ? 2 : 1);
		int timeout = input && !room ? 10 : -1;

		if (deadline && now_ms() >= deadline)
			vm_request_stop(vm, VM_EXIT_TERMINATED,
					"the guest did not power off in time after SIGTERM");
		else if (deadline && (timeout < 0 ||
				      deadline - now_ms() < (u64)timeout))
			timeout = deadline - now_ms();
		/* A full FIFO: look again when the guest may have read it. */
		fds[1].fd = input && room ? STDIN_FILENO : -1;
		ctl_pollfds(ctl);
		ncall = virtio_call_pollfds(calls, MAX_QUEUE_FDS);
		if (poll(fds, calls + ncall - fds, timeout) < 0) {
			if (errno == EINTR)
				continue;
			die_errno("poll");
		}
		if (fds[0].revents) {
			if (no_reboot || vm->exit_code != VM_EXIT_REBOOT)
				break;
			reboot(vm);
			continue;
		}
		if (fds[1].revents)
			input = console_input(vm, room, tty);
		if (fds[2].revents)
			deadline = sigterm(vm, sig_fd, deadline, wait);
		if (fds[3].revents)
			eventfd_read(vm->wake_fd, &v);
		ctl_events(vm, ctl);
		virtio_err_events(errs, nerr);
		virtio_call_events(calls, ncall);
	}
	/* Before stop_lock: the console thread takes vm->lock. */
	serial_flush(vm, 2000);
	pthread_mutex_lock(&vm->stop_lock);
	fprintf(stderr, "\n%s: %s\n", prog_name, vm->exit_reason);
	return vm->exit_code;
}

int main(int argc, char **argv)
{
	static struct vm vm;
	struct vm_opts opts = { 0 };
	u64 entry, boot_params;
	int i, sig_fd;
	bool tty;

	if (argc > 1 && !strcmp(argv[1], "ctl"))
		return ctl_client(argc - 2, argv + 2);
	parse_args(&opts, argc, argv);
	boot_open(&boot_img, opts.kernel, opts.initrd, opts.cmdline);
	if (opts.api_socket)
		ctl_listen(opts.api_socket);
	vm.nr_vcpus = opts.cpus;

	vm_create(&vm, opts.mem_mib * MiB);
	vm_setup_irqchip(&vm);
	irq_init(&vm);
	serial_init(&vm);
	virtio_stopper_start(&vm);
	pci_init(&vm);
	for (i = 0; i < opts.nr_nets; i++)
		virtio_net_create(&vm, &opts.nets[i]);
	for (i = 0; i < opts.nr_disks; i++)
		virtio_blk_create(&vm, &opts.disks[i]);
	irq_commit_routes(&vm);

	boot_load_linux(&vm, &boot_img, &entry, &boot_params);
	for (i = 0; i < vm.nr_vcpus; i++)
		vcpu_create(&vm, i, entry, boot_params);

	sig_fd = setup_signals();
	tty = console_setup();
	for (i = 0; i < vm.nr_vcpus; i++)
		vcpu_start(&vm.vcpus[i]);
	seccomp_install(SECCOMP_MAIN);
	return main_loop(&vm, tty, sig_fd, opts.shutdown_wait, opts.no_reboot);
}
