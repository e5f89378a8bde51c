// SPDX-License-Identifier: GPL-2.0
/*
 * A 16550A UART at 0x3f8 (COM1, IRQ 4): the guest's console on our stdio.
 * The register handlers run with vm->lock held.  Output goes into a
 * buffer that a thread of its own writes to stdout, so a console that
 * nobody reads stalls only the guest's writes to the UART, never vm->lock
 * and the devices behind it.  A full buffer reads as a busy transmitter.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "irq.h"
#include "vm.h"

#define UART_BASE	0x3f8
#define UART_IRQ	4
#define RX_FIFO_SIZE	64
#define TX_FIFO_SIZE	16	/* Linux's 8250 writes this many per THRI */
#define TX_BUF_SIZE	(64 * 1024)

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
	u8 tx[TX_BUF_SIZE];
	unsigned int tx_head, tx_len;
	bool tx_owed;		/* THRI due once the buffer has room */
	bool tx_dead;		/* stdout is gone: output is dropped */
	pthread_cond_t tx_cond;	/* with vm->lock: output queued or written */
} uart;

static bool tx_ready(void)
{
	return TX_BUF_SIZE - uart.tx_len >= TX_FIFO_SIZE;
}

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

	if (level == uart.irq_level)
		return;
	uart.irq_level = level;
	irq_line(uart.vm, UART_IRQ, level);
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
	if (uart.tx_dead || uart.tx_len == TX_BUF_SIZE)
		return;		/* written while busy: lost, as on hardware */
	uart.tx[(uart.tx_head + uart.tx_len) % TX_BUF_SIZE] = c;
	uart.tx_len++;
	pthread_cond_broadcast(&uart.tx_cond);
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
		if (tx_ready())
			uart.thr_pending = true;
		else
			uart.tx_owed = true;
		break;
	case 1:
		if (dlab) {
			uart.dlm = v;
			break;
		}
		if (!(uart.ier & IER_THRI) && (v & IER_THRI) && tx_ready())
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
		v = tx_ready() ? LSR_THRE | LSR_TEMT : 0;
		return v | (uart.rx_count ? LSR_DR : 0);
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

/* The receive FIFO's free bytes: input beyond them would be lost. */
size_t serial_rx_room(struct vm *vm)
{
	size_t room;

	pthread_mutex_lock(&vm->lock);
	room = RX_FIFO_SIZE - uart.rx_count;
	pthread_mutex_unlock(&vm->lock);
	return room;
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

/* A blocking write of everything, or false once stdout is unwritable. */
static bool write_all(const u8 *p, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0 && errno == EAGAIN) {
			poll(&(struct pollfd){ STDOUT_FILENO, POLLOUT, 0 }, 1,
			     -1);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= n;
	}
	return true;
}

/* Takes output from the buffer; only this thread ever waits on stdout. */
static void *tx_thread(void *arg)
{
	struct vm *vm = arg;
	sigset_t set;

	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	seccomp_install(SECCOMP_CONSOLE);
	pthread_mutex_lock(&vm->lock);
	for (;;) {
		unsigned int n;
		bool ok;

		while (!uart.tx_len)
			pthread_cond_wait(&uart.tx_cond, &vm->lock);
		/* Producers only append, so these bytes stay put unlocked. */
		n = uart.tx_len;
		if (n > TX_BUF_SIZE - uart.tx_head)
			n = TX_BUF_SIZE - uart.tx_head;
		pthread_mutex_unlock(&vm->lock);
		ok = write_all(uart.tx + uart.tx_head, n);
		pthread_mutex_lock(&vm->lock);
		uart.tx_head = (uart.tx_head + n) % TX_BUF_SIZE;
		uart.tx_len -= n;
		if (!ok) {
			uart.tx_dead = true;
			uart.tx_len = 0;
		}
		if (uart.tx_owed && tx_ready()) {
			uart.tx_owed = false;
			uart.thr_pending = true;
			uart_update_irq();
		}
		pthread_cond_broadcast(&uart.tx_cond);
	}
	return NULL;
}

/*
 * The UART's registers as the guest would read them, without reading
 * them (an IIR read acknowledges), and what is owed: enough to tell a
 * lost interrupt from a guest that stopped.  With vm->lock held.
 */
size_t serial_stats(char *buf, size_t len, size_t n)
{
	u8 lsr = (tx_ready() ? LSR_THRE | LSR_TEMT : 0) |
		 (uart.rx_count ? LSR_DR : 0);

	return str_append(buf, len, n, "{\"ier\":%u,\"iir\":%u,\"lsr\":%u,"
			  "\"irq_line\":%u,\"thri_pending\":%s,"
			  "\"thri_owed\":%s,\"tx_buffered\":%u,"
			  "\"rx_fifo\":%u}", uart.ier, uart_iir(), lsr,
			  uart.irq_level, uart.thr_pending ? "true" : "false",
			  uart.tx_owed ? "true" : "false", uart.tx_len,
			  uart.rx_count);
}

/*
 * A reboot: the registers as at power on, the line low (the new VM's is).
 * Output still buffered is written; input not yet read is kept.
 */
void serial_reset(void)
{
	uart.ier = uart.lcr = uart.mcr = uart.scr = uart.fcr = 0;
	uart.dll = uart.dlm = 0;
	uart.thr_pending = uart.tx_owed = false;
	uart.irq_level = false;
}

/* Waits up to @ms for the guest's output to reach stdout. */
void serial_flush(struct vm *vm, int ms)
{
	struct timespec end;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->lock);
	while (uart.tx_len &&
	       !pthread_cond_timedwait(&uart.tx_cond, &vm->lock, &end))
		;
	pthread_mutex_unlock(&vm->lock);
}

void serial_init(struct vm *vm)
{
	pthread_t thread;
	int err;

	uart.vm = vm;
	pthread_cond_init(&uart.tx_cond, NULL);
	err = pthread_create(&thread, NULL, tx_thread, vm);
	if (err) {
		errno = err;
		die_errno("cannot start the console thread");
	}
	pthread_setname_np(thread, "console");
	pthread_detach(thread);
}
