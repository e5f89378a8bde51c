// SPDX-License-Identifier: GPL-2.0
/*
 * A 16550A UART at 0x3f8 (COM1, IRQ 4): the guest's console on our stdio.
 * Transmission is instantaneous, so the transmitter is always empty.
 * Called with vm->lock held.
 */
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vm.h"

#define UART_BASE	0x3f8
#define UART_IRQ	4
#define RX_FIFO_SIZE	64

#define IER_RDI		0x01
#define IER_THRI	0x02
#define IIR_NONE	0x01
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_FIFO	0xc0
#define LCR_DLAB	0x80
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

static struct uart {
	struct vm *vm;
	u8 ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thr_pending;	/* "transmitter empty" interrupt owed */
	bool irq_level;
	u8 rx[RX_FIFO_SIZE];
	unsigned int rx_head, rx_count;
} uart;

static u8 uart_iir(void)
{
	u8 fifo = (uart.fcr & 1) ? IIR_FIFO : 0;

	if ((uart.ier & IER_RDI) && uart.rx_count)
		return IIR_RDI | fifo;
	if ((uart.ier & IER_THRI) && uart.thr_pending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

static void uart_update_irq(void)
{
	bool level = !(uart_iir() & IIR_NONE);
	struct kvm_irq_level irq = { .irq = UART_IRQ, .level = level };

	if (level == uart.irq_level)
		return;
	uart.irq_level = level;
	ioctl(uart.vm->vm_fd, KVM_IRQ_LINE, &irq);
}

static void rx_push(u8 c)
{
	if (uart.rx_count == RX_FIFO_SIZE)
		return;		/* overrun: the byte is lost, as on hardware */
	uart.rx[(uart.rx_head + uart.rx_count) % RX_FIFO_SIZE] = c;
	uart.rx_count++;
}

static u8 rx_pop(void)
{
	u8 c;

	if (!uart.rx_count)
		return 0;
	c = uart.rx[uart.rx_head];
	uart.rx_head = (uart.rx_head + 1) % RX_FIFO_SIZE;
	uart.rx_count--;
	return c;
}

static void uart_transmit(u8 c)
{
	if (uart.mcr & MCR_LOOP) {
		rx_push(c);
		return;
	}
	/* A console that cannot be written to is not worth stopping for. */
	if (write(STDOUT_FILENO, &c, 1) < 0)
		return;
}

static void uart_write(int reg, u8 v)
{
	bool dlab = uart.lcr & LCR_DLAB;

	switch (reg) {
	case 0:
		if (dlab) {
			uart.dll = v;
			break;
		}
		uart_transmit(v);
		uart.thr_pending = true;
		break;
	case 1:
		if (dlab) {
			uart.dlm = v;
			break;
		}
		if (!(uart.ier & IER_THRI) && (v & IER_THRI))
			uart.thr_pending = true;
		uart.ier = v & 0x0f;
		break;
	case 2:
		uart.fcr = v;
		if (v & 0x02)
			uart.rx_count = 0;
		break;
	case 3:
		uart.lcr = v;
		break;
	case 4:
		uart.mcr = v & 0x1f;
		break;
	case 7:
		uart.scr = v;
		break;
	}
}

static u8 uart_msr(void)
{
	u8 m = uart.mcr;

	if (!(m & MCR_LOOP))
		return 0xb0;		/* DCD, DSR, CTS */
	/* Loopback wires RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
	return ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) |
	       ((m & 0x08) << 4);
}

static u8 uart_read(int reg)
{
	bool dlab = uart.lcr & LCR_DLAB;
	u8 v;

	switch (reg) {
	case 0:
		return dlab ? uart.dll : rx_pop();
	case 1:
		return dlab ? uart.dlm : uart.ier;
	case 2:
		v = uart_iir();
		if ((v & 0x0f) == IIR_THRI)
			uart.thr_pending = false;
		return v;
	case 3:
		return uart.lcr;
	case 4:
		return uart.mcr;
	case 5:
		return LSR_THRE | LSR_TEMT | (uart.rx_count ? LSR_DR : 0);
	case 6:
		return uart_msr();
	default:
		return uart.scr;
	}
}

bool serial_io(u16 port, u8 *data, bool is_write)
{
	if (port < UART_BASE || port >= UART_BASE + 8)
		return false;
	if (is_write)
		uart_write(port - UART_BASE, *data);
	else
		*data = uart_read(port - UART_BASE);
	uart_update_irq();
	return true;
}

void serial_input(struct vm *vm, const u8 *buf, size_t len)
{
	size_t i;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < len; i++)
		rx_push(buf[i]);
	uart_update_irq();
	pthread_mutex_unlock(&vm->lock);
}

void serial_init(struct vm *vm)
{
	uart.vm = vm;
}
