/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KVM interrupt plumbing: GSI routing for MSI-X vectors, irqfds (an eventfd
 * write injects a GSI) and ioeventfds (a guest write signals an eventfd).
 */
#ifndef VHX_IRQ_H
#define VHX_IRQ_H

#include "vm.h"

void irq_init(struct vm *vm);
void irq_reset(struct vm *vm);
/* Reserve n consecutive GSIs for MSI routes; returns the first. */
u32 irq_alloc_gsis(struct vm *vm, int n);
void irq_set_msi_route(struct vm *vm, u32 gsi, u64 addr, u32 data);
void irq_commit_routes(struct vm *vm);
int irqfd_set(struct vm *vm, int fd, u32 gsi, bool assign);
void irq_line(struct vm *vm, u32 gsi, bool level);
void irq_pulse(struct vm *vm, u32 gsi);
void irq_signal_msi(struct vm *vm, u32 addr_lo, u32 addr_hi, u32 data);
int ioeventfd_set(struct vm *vm, int fd, u64 addr, int len, bool assign);

#endif /* VHX_IRQ_H */
