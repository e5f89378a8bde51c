// SPDX-License-Identifier: GPL-2.0
/*
 * The terminal side of the serial console: stdin to the UART at the pace
 * its receive FIFO empties, and on a terminal raw mode with an escape key
 * and the terminal's settings restored at every exit.
 */
#include <signal.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "vm.h"

#define ESCAPE_KEY	0x01	/* Ctrl-a */

static struct termios saved_tio;
static bool tio_saved;

void console_restore(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

/* A signal that ends us leaves the terminal as it found it. */
static void fatal_signal(int sig)
{
	console_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * A raw terminal: every key, ^C and ^S too, goes to the guest.  Returns
 * whether stdin is a terminal.
 */
bool console_setup(void)
{
	static const int fatal[] = { SIGHUP, SIGINT, SIGQUIT };
	struct termios tio;
	unsigned int i;

	/* A console nobody reads is dropped (serial.c), not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio))
		return false;
	tio_saved = true;
	atexit(console_restore);
	for (i = 0; i < ARRAY_SIZE(fatal); i++)
		signal(fatal[i], fatal_signal);
	tio = saved_tio;
	tio.c_lflag &= ~(ICANON | ECHO | ISIG | IEXTEN);
	tio.c_iflag &= ~(ICRNL | IXON);
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	tcsetattr(STDIN_FILENO, TCSANOW, &tio);
	return true;
}

/*
 * Passes terminal input to the guest, taking out the escape sequences:
 * Ctrl-a x quits, Ctrl-a Ctrl-a is one Ctrl-a, Ctrl-a and any other key
 * are both sent.
 */
static void console_keys(struct vm *vm, const u8 *in, size_t len)
{
	static bool escaped;
	u8 out[2 * 64];
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (!escaped && in[i] == ESCAPE_KEY) {
			escaped = true;
			continue;
		}
		if (escaped && in[i] == 'x') {
			vm_request_stop(vm, VM_EXIT_POWEROFF,
					"quit from the console (Ctrl-a x)");
			return;
		}
		if (escaped && in[i] != ESCAPE_KEY)
			out[n++] = ESCAPE_KEY;
		escaped = false;
		out[n++] = in[i];
	}
	serial_input(vm, out, n);
}

/*
 * Reads stdin only as far as the UART's receive FIFO has room, so that
 * pasted or piped input waits in the pipe instead of being lost.
 * Returns false at the end of the input.
 */
bool console_input(struct vm *vm, size_t room, bool tty)
{
	u8 buf[64];
	ssize_t n;

	n = read(STDIN_FILENO, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n <= 0)
		return false;
	if (tty)
		console_keys(vm, buf, n);
	else
		serial_input(vm, buf, n);
	return true;
}

