// SPDX-License-Identifier: GPL-2.0
/*
 * vCPUs: one thread each.  The boot vCPU starts in 64-bit mode at the
 * kernel's 64-bit entry; the others wait in KVM for the guest's INIT/SIPI.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "vm.h"
#include "boot.h"
#include "virtio.h"

#define APIC_LVT1	0x360
#define APIC_MODE_NMI	0x4

static void set_segment(struct kvm_segment *seg, u16 selector, u8 type,
			bool code64)
{
	memset(seg, 0, sizeof(*seg));
	seg->selector = selector;
	seg->limit = 0xffffffff;
	seg->type = type;
	seg->present = 1;
	seg->s = 1;
	seg->g = 1;
	seg->l = code64;
	seg->db = !code64;
}

static void setup_long_mode(struct vcpu *vcpu)
{
	struct kvm_sregs sregs;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		die_errno("KVM_GET_SREGS");
	set_segment(&sregs.cs, BOOT_CS, 0xb, true);
	set_segment(&sregs.ds, BOOT_DS, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = BOOT_GDT_ADDR;
	sregs.gdt.limit = BOOT_GDT_SIZE - 1;
	sregs.cr3 = BOOT_PML4_ADDR;
	sregs.cr4 = 0x20;			/* PAE */
	sregs.cr0 = 0x80000011;			/* PG, ET, PE */
	sregs.efer = 0x500;			/* LMA, LME */
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		die_errno("KVM_SET_SREGS");
}

static void setup_boot_regs(struct vcpu *vcpu, u64 entry, u64 boot_params)
{
	struct kvm_regs regs = {
		.rflags = 2,
		.rip = entry,
		.rsi = boot_params,
		.rsp = BOOT_STACK_ADDR,
	};
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	setup_long_mode(vcpu);
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		die_errno("KVM_SET_REGS");
	if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0)
		die_errno("KVM_SET_FPU");
}

/*
 * LINT1 takes NMI, as on a PC.  LINT0 stays masked: there is no legacy PIC
 * in a hardware-reduced ACPI machine, everything goes through the IOAPIC.
 */
static void setup_lapic(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	u32 *lvt1 = (u32 *)&lapic.regs[APIC_LVT1];

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		die_errno("KVM_GET_LAPIC");
	*lvt1 = (*lvt1 & ~0x700) | (APIC_MODE_NMI << 8);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
		die_errno("KVM_SET_LAPIC");
}

void vcpu_create(struct vm *vm, int id, u64 entry, u64 boot_params)
{
	struct vcpu *vcpu = &vm->vcpus[id];
	int size;

	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (vcpu->fd < 0)
		die_errno("KVM_CREATE_VCPU %d", id);
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < 0)
		die_errno("KVM_GET_VCPU_MMAP_SIZE");
	vcpu->run_size = size;
	vcpu->run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED)
		die_errno("mmap of vCPU %d", id);

	cpuid_setup(vcpu);
	setup_lapic(vcpu);
	if (id == 0)
		setup_boot_regs(vcpu, entry, boot_params);
}

static void handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	u8 *data = (u8 *)run + run->io.data_offset;
	u32 i;

	for (i = 0; i < run->io.count; i++) {
		io_dispatch(vcpu->vm, run->io.port, data, run->io.size,
			    run->io.direction == KVM_EXIT_IO_OUT);
		data += run->io.size;
	}
}

static void handle_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vcpu->vm, VM_EXIT_POWEROFF, "guest powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vcpu->vm, VM_EXIT_REBOOT, "guest rebooted");
		break;
	default:
		vm_request_stop(vcpu->vm, VM_EXIT_CRASH,
				"unexpected system event");
		break;
	}
}

/* Where a vCPU was when it died, for whoever debugs the guest. */
static void report_crash(struct vcpu *vcpu)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0)
		return;
	warnx_vm("vCPU %d: rip %llx rsp %llx rflags %llx cr0 %llx cr2 %llx cr3 %llx cr4 %llx efer %llx idt %llx/%x",
		 vcpu->id, r.rip, r.rsp, r.rflags, s.cr0, s.cr2, s.cr3, s.cr4,
		 s.efer, s.idt.base, s.idt.limit);
}

/* Returns false when this vCPU is done (until a reboot, if any). */
static bool handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		mmio_dispatch(vcpu->vm, run->mmio.phys_addr, run->mmio.data,
			      run->mmio.len, run->mmio.is_write);
		return true;
	case KVM_EXIT_HLT:
		return true;
	case KVM_EXIT_SHUTDOWN:
		/*
		 * A triple fault resets a PC; a guest that meant to reset
		 * asks the ACPI or keyboard controller first.
		 */
		report_crash(vcpu);
		vm_request_stop(vcpu->vm, VM_EXIT_CRASH,
				"guest crashed (triple fault)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		warnx_vm("vCPU %d: entry failed, reason 0x%llx", vcpu->id,
			 (unsigned long long)
			 run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		warnx_vm("vCPU %d: KVM internal error, suberror %u", vcpu->id,
			 run->internal.suberror);
		break;
	default:
		warnx_vm("vCPU %d: unexpected exit reason %u", vcpu->id,
			 run->exit_reason);
		break;
	}
	vm_request_stop(vcpu->vm, VM_EXIT_CRASH, "vCPU failed");
	return false;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	munmap(vcpu->run, vcpu->run_size);
	close(vcpu->fd);
}

/*
 * Pausing: vm_pause() sets immediate_exit and signals every vCPU thread
 * (SIG_VCPU_KICK, only ever unblocked here), so that KVM_RUN returns
 * EINTR, whether the vCPU was in the guest, halted, or about to enter.
 * A vCPU that is done (its guest reset, shut down or failed) waits here
 * too, until a reboot gives it a new vCPU fd (generation).
 */
#define SIG_VCPU_KICK	SIGUSR1

static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pause_cond = PTHREAD_COND_INITIALIZER;
static bool paused;
static bool data_plane_paused;
static int parked;
static unsigned int generation;

static void kick_handler(int sig)
{
	(void)sig;
}

static void vcpu_park(struct vcpu *vcpu, bool done)
{
	unsigned int gen;

	pthread_mutex_lock(&pause_lock);
	gen = generation;
	if (paused || done) {
		parked++;
		pthread_cond_broadcast(&pause_cond);
		while (paused || (done && gen == generation))
			pthread_cond_wait(&pause_cond, &pause_lock);
		parked--;
	}
	/* After a reboot, this is the new vCPU's kvm_run. */
	vcpu->run->immediate_exit = 0;
	pthread_mutex_unlock(&pause_lock);
}

/* With pause_lock held: stop every vCPU, within 2 s or -ETIMEDOUT. */
static int park_all(struct vm *vm)
{
	struct timespec end;
	int i, err = 0;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += 2;
	paused = true;
	for (i = 0; i < vm->nr_vcpus; i++) {
		vm->vcpus[i].run->immediate_exit = 1;
		pthread_kill(vm->vcpus[i].thread, SIG_VCPU_KICK);
	}
	while (parked < vm->nr_vcpus && !err)
		err = pthread_cond_timedwait(&pause_cond, &pause_lock, &end);
	return err ? -ETIMEDOUT : 0;
}

/* Stops every vCPU and the data plane; 0 once all are parked. */
int vm_pause(struct vm *vm)
{
	int err;

	pthread_mutex_lock(&pause_lock);
	err = park_all(vm);
	if (!err && !data_plane_paused) {
		/* The data plane stops too: no guest memory changes. */
		pthread_mutex_lock(&vm->lock);
		virtio_pause_all(true);
		pthread_mutex_unlock(&vm->lock);
		data_plane_paused = true;
	}
	pthread_mutex_unlock(&pause_lock);
	return err;
}

/*
 * A reboot in place: @reset runs with every vCPU parked and their old
 * fds free to close; the vCPUs then run the new ones, paused or not.
 * Its devices reset, the data plane is not paused any more.
 */
int vm_reboot_vcpus(struct vm *vm, void (*reset)(struct vm *vm))
{
	int err;

	pthread_mutex_lock(&pause_lock);
	err = park_all(vm);
	if (!err) {
		reset(vm);
		data_plane_paused = false;
		generation++;
	}
	paused = false;
	pthread_cond_broadcast(&pause_cond);
	pthread_mutex_unlock(&pause_lock);
	return err;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&pause_lock);
	if (data_plane_paused) {
		pthread_mutex_lock(&vm->lock);
		virtio_pause_all(false);
		pthread_mutex_unlock(&vm->lock);
		data_plane_paused = false;
	}
	paused = false;
	pthread_cond_broadcast(&pause_cond);
	pthread_mutex_unlock(&pause_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t set;

	/* Only the main thread deals with signals, but for the kick. */
	sigfillset(&set);
	sigdelset(&set, SIG_VCPU_KICK);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	seccomp_install(SECCOMP_VCPU);

	for (;;) {
		int ret = ioctl(vcpu->fd, KVM_RUN, 0);

		__atomic_fetch_add(&vcpu->exits, 1, __ATOMIC_RELAXED);
		if (ret < 0 && (errno == EINTR || errno == EAGAIN)) {
			vcpu_park(vcpu, false);
		} else if (ret < 0) {
			warnx_vm("vCPU %d: KVM_RUN: %s", vcpu->id,
				 strerror(errno));
			vm_request_stop(vcpu->vm, VM_EXIT_CRASH, "vCPU failed");
			vcpu_park(vcpu, true);
		} else if (!handle_exit(vcpu)) {
			vcpu_park(vcpu, true);
		}
	}
	return NULL;
}

void vcpu_start(struct vcpu *vcpu)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	int err;

	/* No SA_RESTART: the kick must end KVM_RUN. */
	sigaction(SIG_VCPU_KICK, &sa, NULL);
	err = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (!err) {
		char name[16];

		snprintf(name, sizeof(name), "vcpu%d", vcpu->id);
		pthread_setname_np(vcpu->thread, name);
	}

	if (err) {
		errno = err;
		die_errno("cannot start the thread of vCPU %d", vcpu->id);
	}
}
