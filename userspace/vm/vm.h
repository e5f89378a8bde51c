/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vhx-vm: shared definitions of the VMM.
 *
 * One struct vm describes the machine: KVM fds, guest RAM, vCPU threads and
 * the devices.  Device emulation runs on the vCPU thread that trapped, under
 * vm->lock; the vhost backends do the data path without us.
 */
#ifndef VHX_VM_H
#define VHX_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define KiB		1024ULL
#define MiB		(1024 * KiB)
#define GiB		(1024 * MiB)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
/* The struct that embeds @ptr as its @member, as in the kernel. */
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define ALIGN_UP(x, a)	(((x) + (a) - 1) & ~((u64)(a) - 1))

/* Guest physical layout. */
#define PCI_MMIO_START	0xc0000000ULL	/* low RAM ends here at most */
#define PCI_MMIO_END	0xfec00000ULL
#define IOAPIC_BASE	0xfec00000ULL
#define LAPIC_BASE	0xfee00000ULL
#define HIGH_RAM_START	0x100000000ULL

/* I/O ports the VMM answers besides the UART and PCI. */
#define ACPI_SLEEP_CTL_PORT	0x600
#define ACPI_SLEEP_STS_PORT	0x601
#define ACPI_RESET_PORT		0x602
#define ACPI_RESET_VALUE	0x0e
#define ACPI_POWER_BUTTON_GSI	5	/* an IOAPIC pin, edge */

#define MAX_VCPUS	64

struct vm;
struct pci_dev;

struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	size_t run_size;
	u64 exits;		/* KVM_RUN returns, for ctl stats */
};

struct net_opts {
	char tap[16];		/* a tap's or a macvtap's name */
	bool macvtap;
	int tapfds[16];
	int nr_tapfds;
	int queues;		/* 0: auto */
	unsigned int queue_size;	/* 0: VIRTIO_QUEUE_SIZE */
	u8 mac[6];
	bool mac_set;
	const char *vhost;
};

struct disk_opts {
	const char *path;
	int queues;
	unsigned int queue_size;	/* 0: VIRTIO_QUEUE_SIZE */
	bool ro;
	bool writeback;		/* cache=writeback: the host page cache */
	bool no_discard;	/* discard=off */
	const char *serial;	/* GET_ID string, NULL: the module's */
	const char *vhost;
};

struct vm_opts {
	int shutdown_wait;	/* seconds from SIGTERM to giving up */
	bool no_reboot;		/* a guest reboot ends vhx-vm (exit 3) */
	const char *api_socket;
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	int cpus;
	u64 mem_mib;
	struct net_opts nets[8];
	int nr_nets;
	struct disk_opts disks[8];
	int nr_disks;
};

struct vm {
	int kvm_fd;
	int vm_fd;
	int kick_len;		/* of notify ioeventfds: 0 (any) or 2 */
	int nr_vcpus;
	struct vcpu vcpus[MAX_VCPUS];

	u8 *ram;		/* one mapping: low RAM, then high RAM */
	u64 ram_size;
	u64 low_ram;		/* bytes mapped at guest physical 0 */
	u64 high_ram;		/* bytes mapped at HIGH_RAM_START */

	pthread_mutex_t lock;	/* devices, PCI, irq routing */
	pthread_mutex_t stop_lock;
	int stop_fd;		/* eventfd: a vCPU asks the main loop to end */
	int wake_fd;		/* eventfd: the main loop's fds changed */
	int exit_code;
	const char *exit_reason;
};

/*
 * vhx-vm's exit status tells a supervisor what happened to the guest.
 * die() and bad arguments exit 1 and 2.
 */
enum vm_exit {
	VM_EXIT_POWEROFF = 0,	/* the guest powered off */
	VM_EXIT_FAILED = 1,	/* the VMM failed */
	VM_EXIT_REBOOT = 3,	/* the guest asked for a reset */
	VM_EXIT_CRASH = 4,	/* triple fault, pvpanic, a vCPU failure */
	VM_EXIT_TERMINATED = 5,	/* SIGTERM, and no poweroff in time */
};

/* util.c */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void die_errno(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void warnx_vm(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xzalloc(size_t size);
size_t str_append(char *buf, size_t len, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
extern const char *prog_name;
extern bool vm_verbose;		/* --verbose: log device setup */

/* cpuid.c */
void cpuid_setup(struct vcpu *vcpu);

/* kvm.c */
void vm_create(struct vm *vm, u64 mem_bytes);
void vm_recreate(struct vm *vm);
void *gpa_to_hva(struct vm *vm, u64 gpa, u64 len);
#define VM_MEM_REGIONS	2
struct vhost_memory_region;
int vm_mem_regions(struct vm *vm, struct vhost_memory_region *r);
void vm_request_stop(struct vm *vm, enum vm_exit code, const char *why);
void vm_setup_irqchip(struct vm *vm);

/* vcpu.c */
void vcpu_create(struct vm *vm, int id, u64 entry, u64 boot_params);
void vcpu_start(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);
int vm_pause(struct vm *vm);
int vm_reboot_vcpus(struct vm *vm, void (*reset)(struct vm *vm));
void vm_resume(struct vm *vm);

/* boot.c */
struct boot_image {
	const char *kernel, *initrd, *cmdline;
	u8 *data;		/* the bzImage, until it is loaded */
	size_t size, setup_size;
	int kernel_fd, initrd_fd;	/* open for a reboot's reload */
	size_t initrd_size;
};
void boot_open(struct boot_image *img, const char *kernel, const char *initrd,
	       const char *cmdline);
void boot_load_linux(struct vm *vm, struct boot_image *img, u64 *entry,
		     u64 *boot_params);
void boot_read_kernel(struct boot_image *img);

/* acpi.c */
u64 acpi_build(struct vm *vm);

/* ctl.c */
#define CTL_MAX_CLIENTS	4
struct pollfd;
void ctl_listen(const char *path);
int ctl_pollfds(struct pollfd *fds);	/* 1 + CTL_MAX_CLIENTS of them */
void ctl_events(struct vm *vm, const struct pollfd *fds);
int ctl_client(int argc, char **argv);

/* seccomp.c */
enum seccomp_kind { SECCOMP_VCPU, SECCOMP_MAIN, SECCOMP_CONSOLE };
extern bool vm_seccomp;		/* --no-seccomp clears it */
void seccomp_install(enum seccomp_kind kind);

/* console.c */
void console_restore(void);
bool console_setup(void);
bool console_input(struct vm *vm, size_t room, bool tty);

/* serial.c */
void serial_init(struct vm *vm);
bool serial_io(u16 port, u8 *data, bool is_write);
size_t serial_rx_room(struct vm *vm);
void serial_input(struct vm *vm, const u8 *buf, size_t len);
void serial_flush(struct vm *vm, int ms);
size_t serial_stats(char *buf, size_t len, size_t n);
void serial_reset(void);

/* I/O and MMIO dispatch (kvm.c). */
void io_dispatch(struct vm *vm, u16 port, u8 *data, int size, bool is_write);
void mmio_dispatch(struct vm *vm, u64 addr, u8 *data, int size,
		   bool is_write);

#endif /* VHX_VM_H */
