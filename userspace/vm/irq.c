// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_SET_GSI_ROUTING replaces the whole table, so we keep all of it here:
 * the IOAPIC pins (part of what KVM sets up by default) followed by
 * one MSI route per device vector.  Called with vm->lock held, except at
 * setup when only the main thread runs.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "irq.h"

#define IOAPIC_PINS	24
#define MAX_ROUTES	1024

static struct kvm_irq_routing *table;
static u32 next_gsi = IOAPIC_PINS;

static void add_irqchip_route(u32 gsi, u32 chip, u32 pin)
{
	struct kvm_irq_routing_entry *e = &table->entries[table->nr++];

	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

void irq_init(struct vm *vm)
{
	u32 i;

	/* No PIC routes: the guest sees no 8259 (hardware-reduced ACPI). */
	(void)vm;
	table = xzalloc(sizeof(*table) +
			MAX_ROUTES * sizeof(struct kvm_irq_routing_entry));
	for (i = 0; i < IOAPIC_PINS; i++)
		add_irqchip_route(i, KVM_IRQCHIP_IOAPIC, i);
}

/* A reboot: the IOAPIC pins only, for a new VM's irq_commit_routes(). */
void irq_reset(struct vm *vm)
{
	(void)vm;
	table->nr = IOAPIC_PINS;
}

u32 irq_alloc_gsis(struct vm *vm, int n)
{
	u32 first = next_gsi;

	(void)vm;
	next_gsi += n;
	return first;
}

void irq_set_msi_route(struct vm *vm, u32 gsi, u64 addr, u32 data)
{
	struct kvm_irq_routing_entry *e = NULL;
	u32 i;

	(void)vm;
	for (i = 0; i < table->nr; i++) {
		if (table->entries[i].gsi == gsi) {
			e = &table->entries[i];
			break;
		}
	}
	if (!e) {
		if (table->nr == MAX_ROUTES)
			die("out of interrupt routes");
		e = &table->entries[table->nr++];
	}
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = (u32)addr;
	e->u.msi.address_hi = addr >> 32;
	e->u.msi.data = data;
}

void irq_commit_routes(struct vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, table) < 0)
		die_errno("KVM_SET_GSI_ROUTING");
}

/* Guest-reachable (vector changes): a failure is returned, not fatal. */
int irqfd_set(struct vm *vm, int fd, u32 gsi, bool assign)
{
	struct kvm_irqfd irqfd = {
		.fd = fd,
		.gsi = gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	int err;

	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		err = errno;
		warnx_vm("KVM_IRQFD (%s gsi %u): %s",
			 assign ? "assign" : "deassign", gsi, strerror(err));
		return -err;
	}
	return 0;
}

/* An IOAPIC pin's level. */
void irq_line(struct vm *vm, u32 gsi, bool level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		warnx_vm("KVM_IRQ_LINE (gsi %u): %s", gsi, strerror(errno));
}

/* An edge on an IOAPIC pin. */
void irq_pulse(struct vm *vm, u32 gsi)
{
	irq_line(vm, gsi, true);
	irq_line(vm, gsi, false);
}

/* Guest-reachable (a config interrupt): a failure is reported, not fatal. */
void irq_signal_msi(struct vm *vm, u32 addr_lo, u32 addr_hi, u32 data)
{
	struct kvm_msi msi = {
		.address_lo = addr_lo,
		.address_hi = addr_hi,
		.data = data,
	};

	if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		warnx_vm("KVM_SIGNAL_MSI: %s", strerror(errno));
}

/* Guest-reachable (BAR moves): a failure is returned, not fatal. */
int ioeventfd_set(struct vm *vm, int fd, u64 addr, int len, bool assign)
{
	struct kvm_ioeventfd ioev = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	int err;

	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &ioev) < 0) {
		err = errno;
		warnx_vm("KVM_IOEVENTFD (%s 0x%llx): %s",
			 assign ? "assign" : "deassign",
			 (unsigned long long)addr, strerror(err));
		return -err;
	}
	return 0;
}
