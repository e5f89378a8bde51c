// SPDX-License-Identifier: GPL-2.0
/*
 * The VM: KVM handles, guest RAM, and the dispatch of trapped port and MMIO
 * accesses to the devices.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/vhost.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vm.h"
#include "pci.h"

/* Addresses KVM needs for its own use on Intel (VMX real-mode helpers). */
#define KVM_TSS_ADDR		0xfffbd000UL
#define KVM_IDENTITY_MAP_ADDR	0xfffbc000ULL

static void set_ram_slot(struct vm *vm, u32 slot, u64 gpa, void *hva,
			 u64 size)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (u64)(unsigned long)hva,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die_errno("KVM_SET_USER_MEMORY_REGION");
}

/*
 * Guest RAM aligned to 2 MiB and backed by transparent huge pages where
 * the host allows: nested paging walks far fewer host pages that way.
 */
static u8 *map_ram(u64 size)
{
	u64 host = (u64)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
	u64 align = 2 * MiB;
	u8 *p;

	/* MAP_NORESERVE would take it, and the OOM killer end the guest later. */
	if (size > host)
		die("--memory %llu MiB is more than the host's %llu MiB of RAM",
		    (unsigned long long)(size / MiB),
		    (unsigned long long)(host / MiB));

	p = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		die_errno("cannot map %llu MiB of guest RAM",
			  (unsigned long long)(size / MiB));
	p = (u8 *)ALIGN_UP((unsigned long)p, align);
	madvise(p, size, MADV_HUGEPAGE);
	/* A core dump of the VMM is for its bugs, not the guest's memory. */
	madvise(p, size, MADV_DONTDUMP);
	return p;
}

/* A KVM VM with our RAM, before any irqchip or vCPU. */
static void create_vm_fd(struct vm *vm)
{
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		die_errno("KVM_CREATE_VM");
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0)
		die_errno("KVM_SET_TSS_ADDR");
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR,
		  &(u64){ KVM_IDENTITY_MAP_ADDR }) < 0)
		die_errno("KVM_SET_IDENTITY_MAP_ADDR");
	set_ram_slot(vm, 0, 0, vm->ram, vm->low_ram);
	if (vm->high_ram)
		set_ram_slot(vm, 1, HIGH_RAM_START, vm->ram + vm->low_ram,
			     vm->high_ram);
}

/*
 * A reboot: a new KVM VM on the same RAM, zeroed, so that no state of
 * the last boot (vCPUs, LAPICs, IOAPIC, PIT, clocks, irqfds and
 * ioeventfds) survives.  The vCPUs' fds must be closed already.
 */
void vm_recreate(struct vm *vm)
{
	close(vm->vm_fd);
	madvise(vm->ram, vm->ram_size, MADV_DONTNEED);
	create_vm_fd(vm);
	vm_setup_irqchip(vm);
}

void vm_create(struct vm *vm, u64 mem_bytes)
{
	int version;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0 && (errno == EACCES || errno == EPERM))
		die("cannot open /dev/kvm: permission denied (add yourself to group kvm, or run as root)");
	if (vm->kvm_fd < 0)
		die_errno("cannot open /dev/kvm (is KVM available? try modprobe kvm_amd or kvm_intel)");
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION)
		die("/dev/kvm has API version %d, want %d", version,
		    KVM_API_VERSION);
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) <= 0 ||
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) <= 0 ||
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING) <= 0)
		die("KVM lacks irqfd, ioeventfd or irq routing support");
	/* A length-0 ioeventfd takes KVM's fast MMIO path: no emulation. */
	vm->kick_len = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
			     KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0 ? 0 : 2;

	vm->ram_size = mem_bytes;
	vm->ram = map_ram(mem_bytes);
	/* RAM that does not fit below the PCI hole moves above 4 GiB. */
	vm->low_ram = mem_bytes < PCI_MMIO_START ? mem_bytes : PCI_MMIO_START;
	vm->high_ram = mem_bytes - vm->low_ram;
	create_vm_fd(vm);

	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->stop_lock, NULL);
	vm->stop_fd = eventfd(0, EFD_CLOEXEC);
	vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0 || vm->wake_fd < 0)
		die_errno("eventfd");
}

void vm_setup_irqchip(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		die_errno("KVM_CREATE_IRQCHIP");
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		die_errno("KVM_CREATE_PIT2");
}

void *gpa_to_hva(struct vm *vm, u64 gpa, u64 len)
{
	if (gpa + len < gpa)
		return NULL;
	if (gpa + len <= vm->low_ram)
		return vm->ram + gpa;
	if (gpa >= HIGH_RAM_START &&
	    gpa + len <= HIGH_RAM_START + vm->high_ram)
		return vm->ram + vm->low_ram + (gpa - HIGH_RAM_START);
	return NULL;
}

/* Guest RAM as vhost memory regions: r has room for VM_MEM_REGIONS. */
int vm_mem_regions(struct vm *vm, struct vhost_memory_region *r)
{
	int n = 0;

	r[n].guest_phys_addr = 0;
	r[n].memory_size = vm->low_ram;
	r[n++].userspace_addr = (u64)(unsigned long)vm->ram;
	if (vm->high_ram) {
		r[n].guest_phys_addr = HIGH_RAM_START;
		r[n].memory_size = vm->high_ram;
		r[n++].userspace_addr =
			(u64)(unsigned long)(vm->ram + vm->low_ram);
	}
	return n;
}

void vm_request_stop(struct vm *vm, enum vm_exit code, const char *why)
{
	/* Device code calls this with vm->lock held: use our own lock. */
	pthread_mutex_lock(&vm->stop_lock);
	if (!vm->exit_reason) {
		vm->exit_code = code;
		vm->exit_reason = why;
		if (eventfd_write(vm->stop_fd, 1) < 0)
			die_errno("eventfd_write");
	}
	pthread_mutex_unlock(&vm->stop_lock);
}

/* ACPI sleep control and reset registers of our hardware-reduced FADT. */
static bool acpi_io(struct vm *vm, u16 port, u8 *data, bool is_write)
{
	switch (port) {
	case ACPI_SLEEP_CTL_PORT:
		/* SLP_EN with SLP_TYP 5, the type our DSDT gives \_S5. */
		if (is_write && (*data & 0x20) && ((*data >> 2) & 7) == 5)
			vm_request_stop(vm, VM_EXIT_POWEROFF, "guest powered off");
		else if (!is_write)
			*data = 0;
		return true;
	case ACPI_SLEEP_STS_PORT:
		if (!is_write)
			*data = 0;
		return true;
	case ACPI_RESET_PORT:
		if (is_write && *data == ACPI_RESET_VALUE)
			vm_request_stop(vm, VM_EXIT_REBOOT, "guest rebooted");
		else if (!is_write)
			*data = 0;
		return true;
	}
	return false;
}

/* The keyboard controller only for its reset line, and a zeroed CMOS. */
static bool legacy_io(struct vm *vm, u16 port, u8 *data, bool is_write)
{
	switch (port) {
	case 0x64:
		if (is_write && *data == 0xfe)
			vm_request_stop(vm, VM_EXIT_REBOOT, "guest rebooted");
		else if (!is_write)
			*data = 0;
		return true;
	case 0x70:
	case 0x71:
		if (!is_write)
			*data = 0;
		return true;
	}
	return false;
}

/*
 * pvpanic (QEMU's ISA device, ACPI QEMU0001): a read tells the guest
 * which events we take, a write with PANICKED reports its panic.
 */
#define PVPANIC_PORT		0x505
#define PVPANIC_PANICKED	(1 << 0)

static bool pvpanic_io(struct vm *vm, u16 port, u8 *data, bool is_write)
{
	if (port != PVPANIC_PORT)
		return false;
	if (!is_write)
		*data = PVPANIC_PANICKED;
	else if (*data & PVPANIC_PANICKED)
		vm_request_stop(vm, VM_EXIT_CRASH, "guest panicked (pvpanic)");
	return true;
}

void io_dispatch(struct vm *vm, u16 port, u8 *data, int size, bool is_write)
{
	pthread_mutex_lock(&vm->lock);
	if (size == 1 && (serial_io(port, data, is_write) ||
			  acpi_io(vm, port, data, is_write) ||
			  legacy_io(vm, port, data, is_write) ||
			  pvpanic_io(vm, port, data, is_write)))
		goto out;
	if (pci_io(vm, port, data, size, is_write))
		goto out;
	if (!is_write)
		memset(data, 0xff, size);
out:
	pthread_mutex_unlock(&vm->lock);
}

void mmio_dispatch(struct vm *vm, u64 addr, u8 *data, int size, bool is_write)
{
	pthread_mutex_lock(&vm->lock);
	if (!pci_mmio(vm, addr, data, size, is_write) && !is_write)
		memset(data, 0xff, size);
	pthread_mutex_unlock(&vm->lock);
}
