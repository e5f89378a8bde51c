// SPDX-License-Identifier: GPL-2.0
/*
 * What each vCPU's CPUID says.  KVM reports the host's leaves; the
 * topology in them (threads per core, cores per package, which caches
 * which CPUs share) describes the host, not this VM.  The guest is told
 * instead that it has one package of nr_vcpus cores, one thread each,
 * sharing the last-level cache, with APIC ID = vCPU index.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "vm.h"

#define CPUID_1_EDX_HTT			(1U << 28)
#define CPUID_1_ECX_TSC_DEADLINE	(1U << 24)
#define CPUID_1_ECX_HYPERVISOR		(1U << 31)
#define AMD_VENDOR_EBX			0x68747541	/* "Auth" */

/* Topology level types of leaves 0xb and 0x1f. */
#define LEVEL_SMT	1
#define LEVEL_CORE	2
#define TOPOLOGY_LEVELS	3	/* SMT, core, the end */

struct topo {
	u32 id;			/* APIC ID */
	u32 nr;			/* vCPUs, all cores of one package */
	u32 core_bits;		/* APIC ID bits that number the cores */
	bool amd;
};

/* KVM's leaves, in an array with room for topology_leaves() to add. */
static struct kvm_cpuid2 *supported_cpuid(struct vm *vm)
{
	struct kvm_cpuid2 *cpuid;
	int nent = 64;

	for (;;) {
		cpuid = xzalloc(sizeof(*cpuid) +
				(nent + 2 * TOPOLOGY_LEVELS) *
				sizeof(struct kvm_cpuid_entry2));
		cpuid->nent = nent;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			return cpuid;
		if (errno != E2BIG)
			die_errno("KVM_GET_SUPPORTED_CPUID");
		free(cpuid);
		nent *= 2;
	}
}

static u32 order(u32 n)
{
	u32 bits = 0;

	while ((1U << bits) < n)
		bits++;
	return bits;
}

/* Leaf 4 and AMD's 0x8000001d: caches of level 1 and 2 are per core. */
static void cache_sharing(struct kvm_cpuid_entry2 *e, const struct topo *t,
			  bool cores_field)
{
	u32 level = (e->eax >> 5) & 7;
	u32 sharing = level >= 3 ? (1U << t->core_bits) - 1 : 0;

	if (!(e->eax & 0x1f))
		return;		/* type 0: past the last cache */
	e->eax &= 0x00003fff;
	e->eax |= sharing << 14;
	if (cores_field)
		e->eax |= ((1U << t->core_bits) - 1) << 26;
}

/*
 * Leaves 0xb and 0x1f: an SMT level of one thread, a core level of all,
 * then the invalid level that ends the list.  KVM may report fewer
 * subleaves (a host whose leaf 0xb is empty), so all three are written.
 */
static void topology_level(struct kvm_cpuid_entry2 *e, const struct topo *t,
			   u32 function, u32 index)
{
	*e = (struct kvm_cpuid_entry2){
		.function = function,
		.index = index,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		.edx = t->id,
	};
	switch (index) {
	case 0:
		e->ebx = 1;
		e->ecx = LEVEL_SMT << 8;
		break;
	case 1:
		e->eax = t->core_bits;
		e->ebx = t->nr;
		e->ecx = LEVEL_CORE << 8 | 1;
		break;
	default:
		e->ecx = index;
		break;
	}
}

/*
 * Leaves 0xb and 0x1f, where KVM reports them, replaced by ours; the
 * array has room for TOPOLOGY_LEVELS entries of each.
 */
static void topology_leaves(struct kvm_cpuid2 *cpuid, const struct topo *t)
{
	static const u32 leaves[] = { 0xb, 0x1f };
	u32 i, j, n, l;

	for (l = 0; l < ARRAY_SIZE(leaves); l++) {
		bool present = false;

		for (i = 0, n = 0; i < cpuid->nent; i++) {
			if (cpuid->entries[i].function == leaves[l])
				present = true;
			else
				cpuid->entries[n++] = cpuid->entries[i];
		}
		cpuid->nent = n;
		if (!present)
			continue;
		for (j = 0; j < TOPOLOGY_LEVELS; j++)
			topology_level(&cpuid->entries[cpuid->nent++], t,
				       leaves[l], j);
	}
}

static void normalize(struct kvm_cpuid_entry2 *e, const struct topo *t)
{
	switch (e->function) {
	case 1:
		e->ebx &= 0x0000ffff;
		e->ebx |= t->id << 24 | (1U << t->core_bits) << 16;
		e->edx &= ~CPUID_1_EDX_HTT;
		if (t->nr > 1)
			e->edx |= CPUID_1_EDX_HTT;
		/* What KVM emulates whatever the host has. */
		e->ecx |= CPUID_1_ECX_HYPERVISOR | CPUID_1_ECX_TSC_DEADLINE;
		break;
	case 4:
		if (!t->amd)
			cache_sharing(e, t, true);
		break;
	case 0x80000008:
		if (t->amd)
			e->ecx = t->core_bits << 12 | (t->nr - 1);
		break;
	case 0x8000001d:
		cache_sharing(e, t, false);
		break;
	case 0x8000001e:
		e->eax = t->id;
		e->ebx = t->id & 0xff;		/* core t->id, one thread */
		e->ecx = 0;			/* node 0 of 1 */
		e->edx = 0;
		break;
	}
}

void cpuid_setup(struct vcpu *vcpu)
{
	struct kvm_cpuid2 *cpuid = supported_cpuid(vcpu->vm);
	struct topo t = {
		.id = vcpu->id,
		.nr = vcpu->vm->nr_vcpus,
		.core_bits = order(vcpu->vm->nr_vcpus),
	};
	u32 i;

	for (i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == 0)
			t.amd = cpuid->entries[i].ebx == AMD_VENDOR_EBX;
	for (i = 0; i < cpuid->nent; i++)
		normalize(&cpuid->entries[i], &t);
	topology_leaves(cpuid, &t);
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0)
		die_errno("KVM_SET_CPUID2");
	free(cpuid);
}
