/* SPDX-License-Identifier: GPL-2.0 */
/*
 * PCI bus 0 with configuration mechanism #1 (ports 0xcf8/0xcfc).  Each
 * device has one 32-bit memory BAR (BAR0) the VMM places in the PCI hole.
 */
#ifndef VHX_PCI_H
#define VHX_PCI_H

#include "vm.h"

#define PCI_MAX_DEVICES		32
#define PCI_CFG_SIZE		256
#define PCI_STATUS		0x06
#define PCI_STATUS_INTERRUPT	0x08
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d
/* INTA of slot s: IOAPIC pins 16..23, level, as the DSDT's _PRT says. */
#define PCI_INTX_GSI(s)		(16 + (s) % 8)

struct pci_dev {
	u8 cfg[PCI_CFG_SIZE];
	u8 wmask[PCI_CFG_SIZE];	/* which config bits the guest may write */
	int slot;
	u32 bar_size;		/* BAR0, power of two; 0 when none */
	int cap_last;		/* offset of the last capability, 0: none */
	int cap_end;		/* first free byte after the capabilities */
	bool bar_refused;	/* BAR0 overlaps another's: not decoded */
	u8 reset_cfg[PCI_CFG_SIZE];	/* config space at power on */
	/* Called with vm->lock held; offsets are within BAR0. */
	void (*bar_access)(struct pci_dev *dev, u64 off, u8 *data, int size,
			   bool is_write);
	/* After the guest moves BAR0 or toggles memory decoding. */
	void (*bar_changed)(struct pci_dev *dev);
	/* After the guest writes config space at [off, off + size). */
	void (*cfg_written)(struct pci_dev *dev, int off, int size);
};

void pci_init(struct vm *vm);
void pci_dev_init(struct pci_dev *dev, u16 vendor, u16 device, u32 class,
		  u16 subsys_vendor, u16 subsys, u32 bar_size);
void pci_register(struct vm *vm, struct pci_dev *dev);
/* A reboot: every device's config space as it was at power on. */
void pci_reset_all(void);
/* Append a capability of len bytes; returns its offset in config space. */
int pci_add_cap(struct pci_dev *dev, const void *cap, int len);
bool pci_bar_enabled(struct pci_dev *dev);
bool pci_bus_master(struct pci_dev *dev);
bool pci_intx_enabled(struct pci_dev *dev);
bool pci_slot_has_intx(int slot);
u32 pci_bar_addr(struct pci_dev *dev);
bool pci_io(struct vm *vm, u16 port, u8 *data, int size, bool is_write);
bool pci_mmio(struct vm *vm, u64 addr, u8 *data, int size, bool is_write);

#endif /* VHX_PCI_H */
