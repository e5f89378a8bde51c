// SPDX-License-Identifier: GPL-2.0
/*
 * Linux x86 boot protocol, 64-bit entry: the protected-mode kernel of the
 * bzImage at 1 MiB, a zero page with the setup header, e820 map, command
 * line and initrd, and identity-mapped page tables for the first 4 GiB.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm.h"
#include "boot.h"

/* Offsets into struct boot_params (Documentation/arch/x86/zero-page.rst). */
#define BP_ACPI_RSDP		0x070
#define BP_E820_ENTRIES		0x1e8
#define BP_SETUP_SECTS		0x1f1
#define BP_BOOT_FLAG		0x1fe
#define BP_HDR_MAGIC		0x202
#define BP_VERSION		0x206
#define BP_TYPE_OF_LOADER	0x210
#define BP_LOADFLAGS		0x211
#define BP_RAMDISK_IMAGE	0x218
#define BP_RAMDISK_SIZE		0x21c
#define BP_HEAP_END_PTR		0x224
#define BP_CMD_LINE_PTR		0x228
#define BP_INITRD_ADDR_MAX	0x22c
#define BP_XLOADFLAGS		0x236
#define BP_CMDLINE_SIZE		0x238
#define BP_INIT_SIZE		0x260
#define BP_E820_TABLE		0x2d0
#define BP_E820_MAX		128

#define LOADFLAG_CAN_USE_HEAP	0x80
#define XLF_KERNEL_64		0x01
#define E820_RAM		1
#define E820_RESERVED		2

static int open_file(const char *what, const char *path, size_t *size)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die_errno("cannot open %s '%s'", what, path);
	if (fstat(fd, &st) < 0)
		die_errno("cannot stat %s '%s'", what, path);
	if (!S_ISREG(st.st_mode))
		die("%s '%s' is not a regular file", what, path);
	*size = st.st_size;
	return fd;
}

/* From the file's start: the fds stay open for a reboot's reload. */
static void read_all(int fd, void *dst, size_t size, const char *what,
		     const char *path)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = pread(fd, (u8 *)dst + done, size - done, done);

		if (n < 0)
			die_errno("cannot read %s '%s'", what, path);
		if (n == 0)
			die("%s '%s' shrank while being read", what, path);
		done += n;
	}
}

static u16 get16(const u8 *p)
{
	return p[0] | p[1] << 8;
}

static u32 get32(const u8 *p)
{
	return get16(p) | (u32)get16(p + 2) << 16;
}

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}

static void put64(u8 *p, u64 v)
{
	memcpy(p, &v, 8);
}

static void *guest(struct vm *vm, u64 gpa, u64 len)
{
	void *p = gpa_to_hva(vm, gpa, len);

	if (!p)
		die("guest RAM too small for the boot layout (0x%llx+0x%llx)",
		    (unsigned long long)gpa, (unsigned long long)len);
	return p;
}

/* Identity map 0..4 GiB with 2 MiB pages; the kernel builds its own later. */
static void setup_page_tables(struct vm *vm)
{
	u64 *pml4 = guest(vm, BOOT_PML4_ADDR, 4096);
	u64 *pdpt = guest(vm, BOOT_PDPT_ADDR, 4096);
	u64 *pd = guest(vm, BOOT_PD_ADDR, 4 * 4096);
	int i;

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | 0x3;			/* present, rw */
	for (i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096) | 0x3;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((u64)i << 21) | 0x83;		/* 2 MiB page */
}

static void setup_gdt(struct vm *vm)
{
	u64 *gdt = guest(vm, BOOT_GDT_ADDR, BOOT_GDT_SIZE);

	memset(gdt, 0, BOOT_GDT_SIZE);
	gdt[BOOT_CS / 8] = 0x00af9b000000ffffULL;	/* 64-bit code */
	gdt[BOOT_DS / 8] = 0x00cf93000000ffffULL;	/* flat data */
	gdt[4] = 0x00808b000000ffffULL;			/* TSS */
}

/*
 * There is no BIOS, but Linux may still reboot by jumping to the reset
 * vector in real mode (hardware-reduced ACPI makes it try EFI, then BIOS,
 * before the reset register).  Put a reset there that we trap.
 */
static void setup_reset_vector(struct vm *vm)
{
	static const u8 code[] = {
		0xb0, ACPI_RESET_VALUE,		/* mov al, value */
		0xba, ACPI_RESET_PORT & 0xff, ACPI_RESET_PORT >> 8, /* mov dx */
		0xee,				/* out dx, al */
		0xf4,				/* hlt */
		0xeb, 0xfd,			/* jmp back to hlt */
	};

	memcpy(guest(vm, 0xffff0, sizeof(code)), code, sizeof(code));
}

static void add_e820(u8 *bp, u64 addr, u64 size, u32 type)
{
	u8 n = bp[BP_E820_ENTRIES];
	u8 *e = bp + BP_E820_TABLE + n * 20;

	if (n >= BP_E820_MAX || !size)
		return;
	put64(e, addr);
	put64(e + 8, size);
	put32(e + 16, type);
	bp[BP_E820_ENTRIES] = n + 1;
}

static void setup_e820(struct vm *vm, u8 *bp)
{
	add_e820(bp, 0, BIOS_AREA_START, E820_RAM);
	add_e820(bp, BIOS_AREA_START, KERNEL_LOAD_ADDR - BIOS_AREA_START,
		 E820_RESERVED);
	add_e820(bp, KERNEL_LOAD_ADDR, vm->low_ram - KERNEL_LOAD_ADDR,
		 E820_RAM);
	add_e820(bp, HIGH_RAM_START, vm->high_ram, E820_RAM);
}

/* Straight into guest RAM: initramfs images can be large. */
static void load_initrd(struct vm *vm, u8 *bp, struct boot_image *img,
			u64 kernel_end)
{
	u64 max = get32(bp + BP_INITRD_ADDR_MAX);
	u64 addr;

	if (max >= vm->low_ram)
		max = vm->low_ram - 1;
	if (max < kernel_end || img->initrd_size > max + 1 - kernel_end)
		die("initrd '%s' (%zu bytes) does not fit in guest RAM; use more --memory",
		    img->initrd, img->initrd_size);
	addr = (max + 1 - img->initrd_size) & ~0xfffULL;
	read_all(img->initrd_fd, guest(vm, addr, img->initrd_size),
		 img->initrd_size, "initrd", img->initrd);
	put32(bp + BP_RAMDISK_IMAGE, addr);
	put32(bp + BP_RAMDISK_SIZE, img->initrd_size);
}

/* The bzImage into img->data, checked; boot_load_linux() frees it. */
void boot_read_kernel(struct boot_image *img)
{
	const char *kernel = img->kernel;
	u8 *d;

	img->data = d = malloc(img->size ? img->size : 1);
	if (!d)
		die("out of memory reading kernel '%s'", kernel);
	read_all(img->kernel_fd, d, img->size, "kernel", kernel);
	if (img->size < 0x1000 || get16(d + BP_BOOT_FLAG) != 0xaa55 ||
	    memcmp(d + BP_HDR_MAGIC, "HdrS", 4))
		die("kernel '%s' is not a bzImage", kernel);
	if (get16(d + BP_VERSION) < 0x20c ||
	    !(get16(d + BP_XLOADFLAGS) & XLF_KERNEL_64))
		die("kernel '%s' has no 64-bit entry point (boot protocol %x)",
		    kernel, get16(d + BP_VERSION));
	img->setup_size = (d[BP_SETUP_SECTS] ? d[BP_SETUP_SECTS] : 4) + 1;
	img->setup_size *= 512;
	if (img->setup_size >= img->size)
		die("kernel '%s' is truncated", kernel);
}

/*
 * Everything about the kernel, the initrd and the command line that can
 * be wrong, found before any VM or device exists.
 */
void boot_open(struct boot_image *img, const char *kernel, const char *initrd,
	       const char *cmdline)
{
	u32 cmdline_max;
	u8 *d;

	img->kernel = kernel;
	img->initrd = initrd;
	img->cmdline = cmdline;
	img->kernel_fd = open_file("kernel", kernel, &img->size);
	boot_read_kernel(img);
	d = img->data;
	cmdline_max = get32(d + BP_CMDLINE_SIZE);
	if (cmdline_max >= BOOT_CMDLINE_MAX)
		cmdline_max = BOOT_CMDLINE_MAX - 1;
	if (strlen(cmdline) > cmdline_max)
		die("kernel command line is longer than the kernel's %u bytes",
		    cmdline_max);
	if (initrd)
		img->initrd_fd = open_file("initrd", initrd, &img->initrd_size);
}

void boot_load_linux(struct vm *vm, struct boot_image *img, u64 *entry,
		     u64 *boot_params)
{
	u8 *bp = guest(vm, BOOT_PARAMS_ADDR, 4096);
	size_t kernel_size = img->size - img->setup_size;
	u64 kernel_end;
	u8 *d = img->data;

	memcpy(guest(vm, KERNEL_LOAD_ADDR, kernel_size), d + img->setup_size,
	       kernel_size);

	/* The zero page starts as a copy of the image's setup header. */
	memset(bp, 0, 4096);
	memcpy(bp + BP_SETUP_SECTS, d + BP_SETUP_SECTS,
	       0x202 + d[0x201] - BP_SETUP_SECTS);
	bp[BP_TYPE_OF_LOADER] = 0xff;
	bp[BP_LOADFLAGS] |= LOADFLAG_CAN_USE_HEAP;
	bp[BP_HEAP_END_PTR] = 0x00;
	bp[BP_HEAP_END_PTR + 1] = 0xfe;
	strcpy(guest(vm, BOOT_CMDLINE_ADDR, BOOT_CMDLINE_MAX), img->cmdline);
	put32(bp + BP_CMD_LINE_PTR, BOOT_CMDLINE_ADDR);

	/* The kernel decompresses itself into init_size bytes from its start. */
	kernel_end = KERNEL_LOAD_ADDR + kernel_size;
	if (kernel_end < KERNEL_LOAD_ADDR + get32(d + BP_INIT_SIZE))
		kernel_end = KERNEL_LOAD_ADDR + get32(d + BP_INIT_SIZE);
	if (img->initrd)
		load_initrd(vm, bp, img, kernel_end);
	setup_e820(vm, bp);
	put64(bp + BP_ACPI_RSDP, acpi_build(vm));
	setup_page_tables(vm);
	setup_gdt(vm);
	setup_reset_vector(vm);

	*entry = KERNEL_LOAD_ADDR + 0x200;
	*boot_params = BOOT_PARAMS_ADDR;
	free(img->data);
}
