// SPDX-License-Identifier: GPL-2.0
/*
 * Minimal ACPI: RSDP, XSDT, a hardware-reduced FADT, a DSDT and a MADT.
 *
 * Hardware-reduced ACPI needs no PM timer, SCI or GPE blocks: Linux powers
 * off by writing SLP_TYP/SLP_EN to the FADT's sleep control register and
 * reboots through its reset register, both plain I/O ports we trap.  The
 * DSDT holds \_S5 (for the sleep type of poweroff), COM1, pvpanic, the
 * power button and the PCI host bridge with its windows; the MADT lists the vCPUs' local APICs
 * and the in-kernel IOAPIC so that Linux brings up the other vCPUs.
 */
#include <string.h>

#include "vm.h"
#include "boot.h"
#include "pci.h"

#define ACPI_HDR_LEN		36
#define FADT_LEN		276
#define FADT_FLAGS		112
#define FADT_RESET_REG		116
#define FADT_RESET_VALUE	128
#define FADT_BOOT_ARCH		109
#define FADT_MINOR		131
#define FADT_X_DSDT		140
#define FADT_SLEEP_CTL		244
#define FADT_SLEEP_STS		256
#define FADT_SCI_INT		46

#define FADT_F_RESET_REG_SUP	(1U << 10)
#define FADT_F_HW_REDUCED	(1U << 20)
#define BOOT_ARCH_NO_VGA	(1U << 2)
#define BOOT_ARCH_NO_CMOS_RTC	(1U << 5)

/* A byte buffer for tables and AML. */
struct buf {
	u8 data[2048];
	size_t len;
};

static void emit(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > sizeof(b->data))
		die("internal error: ACPI table too large");
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void emit8(struct buf *b, u8 v)
{
	emit(b, &v, 1);
}

static void emit16(struct buf *b, u16 v)
{
	emit(b, &v, 2);
}

static void emit32(struct buf *b, u32 v)
{
	emit(b, &v, 4);
}

static void emit64(struct buf *b, u64 v)
{
	emit(b, &v, 8);
}

/* AML PkgLength: the length counts its own encoding bytes. */
static void emit_pkg(struct buf *b, u8 op, const struct buf *body)
{
	size_t len = body->len;

	emit8(b, op);
	if (len + 1 <= 63) {
		emit8(b, len + 1);
	} else {
		len += 2;
		if (len > 0xfff)
			die("internal error: AML package too large");
		emit8(b, 0x40 | (len & 0xf));
		emit8(b, len >> 4);
	}
	emit(b, body->data, body->len);
}

static void aml_name_int(struct buf *b, const char *name, u32 v)
{
	emit8(b, 0x08);				/* NameOp */
	emit(b, name, 4);
	emit8(b, 0x0c);				/* DWordPrefix */
	emit32(b, v);
}

static void aml_name_str(struct buf *b, const char *name, const char *str)
{
	emit8(b, 0x08);				/* NameOp */
	emit(b, name, 4);
	emit8(b, 0x0d);				/* StringPrefix */
	emit(b, str, strlen(str) + 1);
}

/* Name(_S5, Package() { 5, 5, 0, 0 }): SLP_TYP 5 for poweroff. */
static void aml_s5(struct buf *b)
{
	struct buf pkg = { .len = 0 };
	static const u8 elems[] = { 4, 0x0a, 5, 0x0a, 5, 0x00, 0x00 };

	emit(&pkg, elems, sizeof(elems));
	emit8(b, 0x08);
	emit(b, "_S5_", 4);
	emit_pkg(b, 0x12, &pkg);		/* PackageOp */
}

static void res_word_addr(struct buf *b, u8 type, u8 tflags, u16 min, u16 max)
{
	emit8(b, 0x88);				/* word address space */
	emit16(b, 13);
	emit8(b, type);
	emit8(b, 0x0c);				/* producer, min/max fixed */
	emit8(b, tflags);
	emit16(b, 0);				/* granularity */
	emit16(b, min);
	emit16(b, max);
	emit16(b, 0);				/* translation */
	emit16(b, max - min + 1);
}

static void res_dword_mem(struct buf *b, u32 min, u32 max)
{
	emit8(b, 0x87);				/* dword address space */
	emit16(b, 23);
	emit8(b, 0);				/* memory */
	emit8(b, 0x0c);
	emit8(b, 0x01);				/* read-write, uncached */
	emit32(b, 0);
	emit32(b, min);
	emit32(b, max);
	emit32(b, 0);
	emit32(b, max - min + 1);
}

/* Name(_CRS, Buffer() { res }) */
static void aml_crs(struct buf *dev, const u8 *res, u8 len)
{
	struct buf buffer = { .len = 0 };

	emit8(&buffer, 0x0a);				/* BytePrefix */
	emit8(&buffer, len);
	emit(&buffer, res, len);
	emit8(dev, 0x08);				/* NameOp */
	emit(dev, "_CRS", 4);
	emit_pkg(dev, 0x11, &buffer);			/* BufferOp */
}

static void aml_pci_crs(struct buf *b)
{
	struct buf res = { .len = 0 }, buffer = { .len = 0 };
	static const u8 cf8[] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 1, 8 };

	res_word_addr(&res, 2, 0, 0, 0);		/* bus 0 */
	emit(&res, cf8, sizeof(cf8));
	res_word_addr(&res, 1, 3, 0x0000, 0x0cf7);
	res_word_addr(&res, 1, 3, 0x0d00, 0xffff);
	res_dword_mem(&res, PCI_MMIO_START, PCI_MMIO_END - 1);
	emit8(&res, 0x79);				/* end tag */
	emit8(&res, 0);

	emit8(&buffer, 0x0b);				/* WordPrefix */
	emit16(&buffer, res.len);
	emit(&buffer, res.data, res.len);

	emit8(b, 0x08);
	emit(b, "_CRS", 4);
	emit_pkg(b, 0x11, &buffer);			/* BufferOp */
}

/*
 * COM1 as an ACPI device: with no legacy PIC, ISA IRQ 4 reaches a driver
 * only when firmware describes it, so that Linux maps GSI 4 for the UART.
 */
static void aml_com1(struct buf *b)
{
	struct buf dev = { .len = 0 };
	static const u8 res[] = {
		0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,	/* IO */
		0x22, 0x10, 0x00,				/* IRQ 4 */
		0x79, 0x00,					/* end */
	};

	emit(&dev, "COM1", 4);
	aml_name_int(&dev, "_HID", 0x0105d041);		/* EISAID PNP0501 */
	aml_name_int(&dev, "_UID", 1);
	aml_crs(&dev, res, sizeof(res));

	emit8(b, 0x5b);
	emit_pkg(b, 0x82, &dev);
}

/* The pvpanic port, where Linux's pvpanic-mmio driver finds it. */
static void aml_pvpanic(struct buf *b)
{
	struct buf dev = { .len = 0 };
	static const u8 res[] = {
		0x47, 0x01, 0x05, 0x05, 0x05, 0x05, 0x01, 0x01,	/* IO 0x505 */
		0x79, 0x00,					/* end */
	};

	emit(&dev, "PEVT", 4);
	aml_name_str(&dev, "_HID", "QEMU0001");
	aml_crs(&dev, res, sizeof(res));

	emit8(b, 0x5b);
	emit_pkg(b, 0x82, &dev);
}

/*
 * Hardware-reduced ACPI has no fixed power button: ours is a control
 * method button (PNP0C0C) that a Generic Event Device (ACPI0013) notifies
 * when its interrupt, ACPI_POWER_BUTTON_GSI, fires.
 */
static void aml_power_button(struct buf *b)
{
	struct buf dev = { .len = 0 }, method = { .len = 0 };
	static const u8 res[] = {
		0x89, 0x06, 0x00,		/* Extended Interrupt, 6 bytes */
		0x03,				/* consumer, edge, active high */
		0x01, ACPI_POWER_BUTTON_GSI, 0x00, 0x00, 0x00,
		0x79, 0x00,			/* end */
	};

	emit(&dev, "PWRB", 4);
	aml_name_int(&dev, "_HID", 0x0c0cd041);		/* EISAID PNP0C0C */
	emit8(b, 0x5b);
	emit_pkg(b, 0x82, &dev);

	dev.len = 0;
	emit(&dev, "GED0", 4);
	aml_name_str(&dev, "_HID", "ACPI0013");
	aml_crs(&dev, res, sizeof(res));
	/* Method(_EVT, 1) { Notify(PWRB, 0x80) }: its only event. */
	emit(&method, "_EVT", 4);
	emit8(&method, 0x01);				/* one argument */
	emit8(&method, 0x86);				/* NotifyOp */
	emit(&method, "PWRB", 4);
	emit8(&method, 0x0a);				/* BytePrefix */
	emit8(&method, 0x80);				/* "pressed" */
	emit_pkg(&dev, 0x14, &method);			/* MethodOp */
	emit8(b, 0x5b);
	emit_pkg(b, 0x82, &dev);
}

/*
 * Name(_PRT, Package() { Package() { slot << 16 | 0xffff, 0, 0, GSI },
 * ... }): each device's INTA on its own IOAPIC pin (Source 0: a GSI),
 * which Linux takes as level-triggered, active low.
 */
static void aml_pci_prt(struct buf *b)
{
	struct buf prt = { .len = 0 }, entry;
	u8 n = 0;
	int slot;

	emit8(&prt, 0);				/* NumElements, below */
	for (slot = 1; slot < PCI_MAX_DEVICES; slot++) {
		if (!pci_slot_has_intx(slot))
			continue;
		entry.len = 0;
		emit8(&entry, 4);
		emit8(&entry, 0x0c);			/* DWordPrefix */
		emit32(&entry, (u32)slot << 16 | 0xffff);
		emit8(&entry, 0x00);			/* INTA */
		emit8(&entry, 0x00);			/* no link device */
		emit8(&entry, 0x0a);			/* BytePrefix */
		emit8(&entry, PCI_INTX_GSI(slot));
		emit_pkg(&prt, 0x12, &entry);		/* PackageOp */
		n++;
	}
	prt.data[0] = n;
	emit8(b, 0x08);				/* NameOp */
	emit(b, "_PRT", 4);
	emit_pkg(b, 0x12, &prt);
}

static void aml_pci_root(struct buf *b)
{
	struct buf dev = { .len = 0 };

	emit(&dev, "PCI0", 4);
	aml_name_int(&dev, "_HID", 0x030ad041);		/* EISAID PNP0A03 */
	aml_name_int(&dev, "_UID", 0);
	aml_name_int(&dev, "_SEG", 0);
	aml_name_int(&dev, "_BBN", 0);
	aml_pci_crs(&dev);
	aml_pci_prt(&dev);

	emit8(b, 0x5b);					/* ExtOpPrefix */
	emit_pkg(b, 0x82, &dev);			/* DeviceOp */
}

static u8 checksum(const u8 *p, size_t len)
{
	u8 sum = 0;

	while (len--)
		sum += *p++;
	return -sum;
}

static void table_header(struct buf *b, const char *sig, u8 rev)
{
	emit(b, sig, 4);
	emit32(b, 0);			/* length, fixed up by table_put */
	emit8(b, rev);
	emit8(b, 0);			/* checksum */
	emit(b, "VHXVM ", 6);
	emit(b, "VHXVMTBL", 8);
	emit32(b, 1);
	emit(b, "VHXV", 4);
	emit32(b, 1);
}

/* Copy a finished table into guest memory at *at; return its address. */
static u64 table_put(struct vm *vm, struct buf *b, u64 *at)
{
	u64 addr = *at;
	u32 len = b->len;

	memcpy(b->data + 4, &len, 4);
	b->data[9] = checksum(b->data, b->len);
	memcpy(gpa_to_hva(vm, addr, b->len), b->data, b->len);
	*at = ALIGN_UP(addr + b->len, 16);
	return addr;
}

static u64 build_dsdt(struct vm *vm, u64 *at)
{
	struct buf b = { .len = 0 };

	table_header(&b, "DSDT", 2);
	aml_s5(&b);
	aml_com1(&b);
	aml_pvpanic(&b);
	aml_power_button(&b);
	aml_pci_root(&b);
	return table_put(vm, &b, at);
}

static void gas_io(u8 *p, u16 port)
{
	p[0] = 1;			/* system I/O */
	p[1] = 8;			/* bit width */
	p[2] = 0;
	p[3] = 1;			/* byte access */
	memcpy(p + 4, &(u64){ port }, 8);
}

static u64 build_fadt(struct vm *vm, u64 *at, u64 dsdt)
{
	struct buf b = { .len = 0 };
	u32 flags = FADT_F_HW_REDUCED | FADT_F_RESET_REG_SUP;
	u16 boot_arch = BOOT_ARCH_NO_VGA | BOOT_ARCH_NO_CMOS_RTC;

	table_header(&b, "FACP", 6);
	memset(b.data + b.len, 0, FADT_LEN - b.len);
	b.len = FADT_LEN;
	memcpy(b.data + FADT_SCI_INT, &(u16){ 9 }, 2);
	memcpy(b.data + FADT_BOOT_ARCH, &boot_arch, 2);
	memcpy(b.data + FADT_FLAGS, &flags, 4);
	gas_io(b.data + FADT_RESET_REG, ACPI_RESET_PORT);
	b.data[FADT_RESET_VALUE] = ACPI_RESET_VALUE;
	b.data[FADT_MINOR] = 0;
	memcpy(b.data + FADT_X_DSDT, &dsdt, 8);
	gas_io(b.data + FADT_SLEEP_CTL, ACPI_SLEEP_CTL_PORT);
	gas_io(b.data + FADT_SLEEP_STS, ACPI_SLEEP_STS_PORT);
	memcpy(b.data + 268, "VHXVM   ", 8);	/* hypervisor vendor */
	return table_put(vm, &b, at);
}

static u64 build_madt(struct vm *vm, u64 *at)
{
	struct buf b = { .len = 0 };
	int i;

	table_header(&b, "APIC", 4);
	emit32(&b, LAPIC_BASE);
	emit32(&b, 0);			/* no dual 8259 to care about */
	for (i = 0; i < vm->nr_vcpus; i++) {
		emit8(&b, 0);		/* processor local APIC */
		emit8(&b, 8);
		emit8(&b, i);		/* ACPI processor UID */
		emit8(&b, i);		/* APIC ID */
		emit32(&b, 1);		/* enabled */
	}
	emit8(&b, 1);			/* IOAPIC */
	emit8(&b, 12);
	emit8(&b, 0);			/* KVM's IOAPIC has ID 0 */
	emit8(&b, 0);
	emit32(&b, IOAPIC_BASE);
	emit32(&b, 0);			/* GSI base */
	emit8(&b, 4);			/* local APIC NMI on LINT1 */
	emit8(&b, 6);
	emit8(&b, 0xff);		/* all processors */
	emit16(&b, 0);
	emit8(&b, 1);
	return table_put(vm, &b, at);
}

static u64 build_xsdt(struct vm *vm, u64 *at, u64 fadt, u64 madt)
{
	struct buf b = { .len = 0 };

	table_header(&b, "XSDT", 1);
	emit64(&b, fadt);
	emit64(&b, madt);
	return table_put(vm, &b, at);
}

static void build_rsdp(struct vm *vm, u64 addr, u64 xsdt)
{
	u8 *p = gpa_to_hva(vm, addr, 36);

	memset(p, 0, 36);
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, "VHXVM ", 6);
	p[15] = 2;			/* revision: ACPI 2.0+, has XSDT */
	memcpy(p + 20, &(u32){ 36 }, 4);
	memcpy(p + 24, &xsdt, 8);
	p[8] = checksum(p, 20);
	p[32] = checksum(p, 36);
}

/* Returns the RSDP's guest physical address for the zero page. */
u64 acpi_build(struct vm *vm)
{
	u64 rsdp = ACPI_TABLES_ADDR;
	u64 at = rsdp + 48;
	u64 dsdt, fadt, madt, xsdt;

	dsdt = build_dsdt(vm, &at);
	fadt = build_fadt(vm, &at, dsdt);
	madt = build_madt(vm, &at);
	xsdt = build_xsdt(vm, &at, fadt, madt);
	build_rsdp(vm, rsdp, xsdt);
	return rsdp;
}
