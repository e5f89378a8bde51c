// SPDX-License-Identifier: GPL-2.0
/*
 * PCI configuration space and BAR0 dispatch.  Called with vm->lock held.
 */
#include <string.h>

#include "pci.h"

#define PCI_CONFIG_ADDR		0xcf8
#define PCI_CONFIG_DATA		0xcfc
#define PCI_COMMAND		0x04
#define PCI_COMMAND_MEMORY	0x02
#define PCI_COMMAND_MASTER	0x04
#define PCI_STATUS_CAP_LIST	0x10
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_BAR0		0x10
#define PCI_CAP_PTR		0x34
#define PCI_FIRST_CAP		0x40

static struct pci_dev *devices[PCI_MAX_DEVICES];
static struct pci_dev host_bridge;
static u32 config_addr;
static u64 next_bar = PCI_MMIO_START;

static void put16(u8 *p, u16 v)
{
	memcpy(p, &v, 2);
}

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}

void pci_dev_init(struct pci_dev *dev, u16 vendor, u16 device, u32 class,
		  u16 subsys_vendor, u16 subsys, u32 bar_size)
{
	memset(dev->cfg, 0, sizeof(dev->cfg));
	memset(dev->wmask, 0, sizeof(dev->wmask));
	put16(dev->cfg + 0x00, vendor);
	put16(dev->cfg + 0x02, device);
	put32(dev->cfg + 0x08, class << 8 | 1);	/* class, revision 1 */
	put16(dev->cfg + 0x2c, subsys_vendor);
	put16(dev->cfg + 0x2e, subsys);
	dev->wmask[PCI_COMMAND] = 0x06;		/* memory, bus master */
	dev->wmask[PCI_COMMAND + 1] = PCI_COMMAND_INTX_DISABLE >> 8;
	dev->wmask[0x3c] = 0xff;		/* interrupt line */
	dev->bar_size = bar_size;
	dev->cap_last = 0;
	dev->cap_end = 0;
}

int pci_add_cap(struct pci_dev *dev, const void *cap, int len)
{
	int off = ALIGN_UP(dev->cap_end ? dev->cap_end : PCI_FIRST_CAP, 4);

	if (off + len > PCI_CFG_SIZE)
		die("internal error: PCI capabilities overflow");
	memcpy(dev->cfg + off, cap, len);
	dev->cfg[off + 1] = 0;
	if (dev->cap_last)
		dev->cfg[dev->cap_last + 1] = off;
	else
		dev->cfg[PCI_CAP_PTR] = off;
	dev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->cap_last = off;
	dev->cap_end = off + len;
	return off;
}

void pci_register(struct vm *vm, struct pci_dev *dev)
{
	int slot;

	(void)vm;
	for (slot = 0; slot < PCI_MAX_DEVICES && devices[slot]; slot++)
		;
	if (slot == PCI_MAX_DEVICES)
		die("too many PCI devices");
	dev->slot = slot;
	devices[slot] = dev;
	if (dev->cfg[PCI_INTERRUPT_PIN])
		dev->cfg[PCI_INTERRUPT_LINE] = PCI_INTX_GSI(slot);
	if (dev->bar_size) {
		/* Natural alignment, as BAR sizing requires. */
		next_bar = ALIGN_UP(next_bar, dev->bar_size);
		put32(dev->cfg + PCI_BAR0, next_bar);
		next_bar += dev->bar_size;
		if (next_bar > PCI_MMIO_END)
			die("PCI hole exhausted");
		put32(dev->wmask + PCI_BAR0, ~(dev->bar_size - 1));
	}
	memcpy(dev->reset_cfg, dev->cfg, sizeof(dev->cfg));
}

void pci_reset_all(void)
{
	int slot;

	for (slot = 0; slot < PCI_MAX_DEVICES && devices[slot]; slot++) {
		struct pci_dev *dev = devices[slot];

		memcpy(dev->cfg, dev->reset_cfg, sizeof(dev->cfg));
		dev->bar_refused = false;
	}
}

void pci_init(struct vm *vm)
{
	/* 00:00.0 is a host bridge, which Linux's PCI probe looks for. */
	pci_dev_init(&host_bridge, 0x1b36, 0x0008, 0x060000, 0x1af4, 0x1100,
		     0);
	pci_register(vm, &host_bridge);
}

static bool bar_decoding(struct pci_dev *dev)
{
	return dev->bar_size && (dev->cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY);
}

bool pci_intx_enabled(struct pci_dev *dev)
{
	return !(dev->cfg[PCI_COMMAND + 1] & (PCI_COMMAND_INTX_DISABLE >> 8));
}

bool pci_slot_has_intx(int slot)
{
	return devices[slot] && devices[slot]->cfg[PCI_INTERRUPT_PIN];
}

bool pci_bus_master(struct pci_dev *dev)
{
	return dev->cfg[PCI_COMMAND] & PCI_COMMAND_MASTER;
}

bool pci_bar_enabled(struct pci_dev *dev)
{
	return bar_decoding(dev) && !dev->bar_refused;
}

u32 pci_bar_addr(struct pci_dev *dev)
{
	u32 v;

	memcpy(&v, dev->cfg + PCI_BAR0, 4);
	return v & ~0xfU;
}

static struct pci_dev *addressed_dev(void)
{
	u32 bus = (config_addr >> 16) & 0xff;
	u32 slot = (config_addr >> 11) & 0x1f;
	u32 fn = (config_addr >> 8) & 0x7;

	if (!(config_addr & 0x80000000) || bus || fn)
		return NULL;
	return devices[slot];
}

/* The decoding BAR0 that @dev's would overlap, if any. */
static struct pci_dev *bar_clash(struct pci_dev *dev)
{
	u64 base = pci_bar_addr(dev);
	int slot;

	for (slot = 0; slot < PCI_MAX_DEVICES; slot++) {
		struct pci_dev *o = devices[slot];
		u64 o_base;

		if (!o || o == dev || !pci_bar_enabled(o))
			continue;
		o_base = pci_bar_addr(o);
		if (base < o_base + o->bar_size && o_base < base + dev->bar_size)
			return o;
	}
	return NULL;
}

/*
 * Two devices decoding the same addresses would have KVM refuse the
 * second one's ioeventfds: the one that moved onto the other is not
 * decoded until it moves somewhere free.
 */
static void bar_check(struct pci_dev *dev)
{
	struct pci_dev *o = bar_decoding(dev) ? bar_clash(dev) : NULL;

	if (o && !dev->bar_refused)
		warnx_vm("PCI 00:%02x.0: BAR0 at 0x%x overlaps 00:%02x.0's; not decoded",
			 dev->slot, pci_bar_addr(dev), o->slot);
	dev->bar_refused = o != NULL;
}

/* @dev's BAR0 freed its addresses: a device refused there may decode. */
static void bar_freed(struct pci_dev *dev)
{
	int slot;

	for (slot = 0; slot < PCI_MAX_DEVICES; slot++) {
		struct pci_dev *o = devices[slot];

		if (!o || o == dev || !o->bar_refused)
			continue;
		bar_check(o);
		if (!o->bar_refused && o->bar_changed)
			o->bar_changed(o);
	}
}

static void cfg_write(struct pci_dev *dev, int off, const u8 *data, int size)
{
	u32 old_bar = pci_bar_addr(dev);
	bool old_enabled = pci_bar_enabled(dev);
	bool moved;
	int i;

	for (i = 0; i < size; i++) {
		u8 m = dev->wmask[off + i];

		dev->cfg[off + i] = (dev->cfg[off + i] & ~m) | (data[i] & m);
	}
	bar_check(dev);
	moved = pci_bar_addr(dev) != old_bar;
	if (dev->bar_changed && (moved || pci_bar_enabled(dev) != old_enabled))
		dev->bar_changed(dev);
	if (old_enabled && (moved || !pci_bar_enabled(dev)))
		bar_freed(dev);
	if (dev->cfg_written)
		dev->cfg_written(dev, off, size);
}

static void cfg_access(u16 port, u8 *data, int size, bool is_write)
{
	struct pci_dev *dev = addressed_dev();
	int off = (config_addr & 0xfc) + (port - PCI_CONFIG_DATA);

	if (off + size > PCI_CFG_SIZE)
		dev = NULL;
	if (!dev) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	if (is_write)
		cfg_write(dev, off, data, size);
	else
		memcpy(data, dev->cfg + off, size);
}

bool pci_io(struct vm *vm, u16 port, u8 *data, int size, bool is_write)
{
	(void)vm;
	if (port == PCI_CONFIG_ADDR && size == 4) {
		if (is_write)
			memcpy(&config_addr, data, 4);
		else
			memcpy(data, &config_addr, 4);
		return true;
	}
	if (port >= PCI_CONFIG_DATA && port + size <= PCI_CONFIG_DATA + 4) {
		cfg_access(port, data, size, is_write);
		return true;
	}
	return false;
}

bool pci_mmio(struct vm *vm, u64 addr, u8 *data, int size, bool is_write)
{
	int slot;

	(void)vm;
	for (slot = 0; slot < PCI_MAX_DEVICES; slot++) {
		struct pci_dev *dev = devices[slot];
		u64 base;

		if (!dev || !pci_bar_enabled(dev))
			continue;
		base = pci_bar_addr(dev);
		if (addr < base || addr + size > base + dev->bar_size)
			continue;
		dev->bar_access(dev, addr - base, data, size, is_write);
		return true;
	}
	return false;
}
