/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where the boot code puts things in low guest memory.
 */
#ifndef VHX_BOOT_H
#define VHX_BOOT_H

#define BOOT_GDT_ADDR		0x500
#define BOOT_GDT_SIZE		(5 * 8)
#define BOOT_CS			0x10	/* __BOOT_CS of the boot protocol */
#define BOOT_DS			0x18	/* __BOOT_DS */
#define BOOT_PARAMS_ADDR	0x7000
#define BOOT_STACK_ADDR		0x8ff0
#define BOOT_PML4_ADDR		0x9000
#define BOOT_PDPT_ADDR		0xa000
#define BOOT_PD_ADDR		0xb000	/* four pages: 4 GiB of 2 MiB pages */
#define BOOT_CMDLINE_ADDR	0x20000
#define BOOT_CMDLINE_MAX	0x10000
#define BIOS_AREA_START		0x9fc00	/* EBDA..1 MiB: reserved in e820 */
#define ACPI_TABLES_ADDR	0xe0000
#define KERNEL_LOAD_ADDR	0x100000

#endif /* VHX_BOOT_H */
