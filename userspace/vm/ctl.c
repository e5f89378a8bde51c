// SPDX-License-Identifier: GPL-2.0
/*
 * The control socket (--api-socket PATH): a Unix stream socket taking one
 * JSON object per line, {"cmd": "...", ...}, and answering each with one
 * line, {"ok": true, ...} or {"ok": false, "error": "..."}:
 *
 *   pause, resume          stop and restart the vCPUs and the data plane
 *   power-button           press the ACPI power button
 *   reboot                 as a guest reboot does (in place, or exit 3)
 *   stats                  every device's status and queue indices
 *   resize-disk disk size  grow or shrink disk N's image to size bytes
 *   link net up            set NIC N's link up (true) or down (false)
 *   debug-denied-syscall   make a system call seccomp does not allow here
 *
 * "vhx-vm ctl PATH CMD [KEY=VALUE...]" is the client.  The socket is the
 * main loop's, so a command never races a vCPU's device access: device
 * commands take vm->lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "irq.h"
#include "virtio.h"
#include "vm.h"

#define LINE_MAX_LEN	512
#define REPLY_MAX_LEN	65536	/* stats of 16 devices of 17 queues fit */

static struct ctl_client {
	int fd;
	char line[LINE_MAX_LEN];
	size_t len;
} clients[CTL_MAX_CLIENTS];

static int listen_fd = -1;

static int unix_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* A socket file nobody listens on is a dead VMM's: it may go. */
static void remove_stale(const struct sockaddr_un *sa, const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct stat st;

	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || fd < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (!connect(fd, (const struct sockaddr *)sa, sizeof(*sa)))
		die("--api-socket %s: another VMM listens on it", path);
	close(fd);
	unlink(path);
}

void ctl_listen(const char *path)
{
	struct sockaddr_un sa;
	int i;

	for (i = 0; i < CTL_MAX_CLIENTS; i++)
		clients[i].fd = -1;
	if (unix_addr(&sa, path))
		die("--api-socket %s: path too long", path);
	remove_stale(&sa, path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			   0);
	if (listen_fd < 0)
		die_errno("socket");
	if (bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die_errno("--api-socket %s: cannot bind", path);
	/* Whoever may talk to it can stop the VM: its owner only. */
	if (chmod(path, 0600) < 0 || listen(listen_fd, CTL_MAX_CLIENTS) < 0)
		die_errno("--api-socket %s", path);
}

int ctl_pollfds(struct pollfd *fds)
{
	int i;

	fds[0] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
	for (i = 0; i < CTL_MAX_CLIENTS; i++)
		fds[1 + i] = (struct pollfd){
			.fd = listen_fd >= 0 ? clients[i].fd : -1,
			.events = POLLIN,
		};
	return 1 + CTL_MAX_CLIENTS;
}

/*
 * The value of "key" in a flat JSON object, as text: a string without its
 * quotes (no escapes), or a bare number or literal.  NULL if absent.
 */
static const char *json_get(const char *obj, const char *key, char *out,
			    size_t len)
{
	char pat[40];
	const char *p, *end;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(obj, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	p += strspn(p, " \t");
	if (*p++ != ':')
		return NULL;
	p += strspn(p, " \t");
	if (*p == '"')
		end = strchr(++p, '"');
	else
		end = p + strcspn(p, ",} \t");
	if (!end || end == p || (size_t)(end - p) >= len)
		return NULL;
	memcpy(out, p, end - p);
	out[end - p] = '\0';
	return out;
}

static bool json_num(const char *obj, const char *key, unsigned long long *v)
{
	char buf[32], *end;

	if (!json_get(obj, key, buf, sizeof(buf)))
		return false;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return !errno && !*end && buf[0] != '-';
}

static int reply_error(char *out, size_t len, const char *fmt, const char *arg)
{
	char msg[128];

	snprintf(msg, sizeof(msg), fmt, arg);
	return snprintf(out, len, "{\"ok\":false,\"error\":\"%s\"}", msg);
}

static int reply_errno(char *out, size_t len, int err)
{
	return reply_error(out, len, "%s", strerror(-err));
}

/* Commands on one device, with vm->lock held. */
static int device_cmd(struct vm *vm, const char *cmd, const char *req,
		      char *out, size_t len)
{
	unsigned long long index, size;
	char up[8];
	int err;

	if (!strcmp(cmd, "resize-disk")) {
		if (!json_num(req, "disk", &index) || !json_num(req, "size", &size))
			return reply_error(out, len, "%s needs disk and size",
					   cmd);
		pthread_mutex_lock(&vm->lock);
		err = virtio_blk_resize(index, size);
		pthread_mutex_unlock(&vm->lock);
	} else {
		if (!json_num(req, "net", &index) ||
		    !json_get(req, "up", up, sizeof(up)) ||
		    (strcmp(up, "true") && strcmp(up, "false")))
			return reply_error(out, len,
					   "%s needs net and up (true or false)",
					   cmd);
		pthread_mutex_lock(&vm->lock);
		err = virtio_net_set_link(index, !strcmp(up, "true"));
		pthread_mutex_unlock(&vm->lock);
	}
	return err ? reply_errno(out, len, err) :
		     snprintf(out, len, "{\"ok\":true}");
}

/* Exits that keep counting show a vCPU that runs. */
static size_t vcpu_stats(struct vm *vm, char *out, size_t len, size_t n)
{
	int i;

	n = str_append(out, len, n, "[");
	for (i = 0; i < vm->nr_vcpus; i++)
		n = str_append(out, len, n, "%s{\"id\":%d,\"exits\":%llu}",
			       i ? "," : "", i,
			       (unsigned long long)__atomic_load_n(
				       &vm->vcpus[i].exits, __ATOMIC_RELAXED));
	return str_append(out, len, n, "]");
}

static int stats(struct vm *vm, char *out, size_t len)
{
	size_t n = str_append(out, len, 0, "{\"ok\":true,\"devices\":");

	pthread_mutex_lock(&vm->lock);
	n += virtio_stats(out + n, len - n - 1);
	n = str_append(out, len, n, ",\"uart\":");
	n = serial_stats(out, len, n);
	pthread_mutex_unlock(&vm->lock);
	n = str_append(out, len, n, ",\"vcpus\":");
	n = vcpu_stats(vm, out, len, n);
	return str_append(out, len, n, "}");
}

static int handle(struct vm *vm, const char *req, char *out, size_t len)
{
	char cmd[32];
	int err;

	if (!json_get(req, "cmd", cmd, sizeof(cmd)))
		return reply_error(out, len, "%s", "no \\\"cmd\\\"");
	if (!strcmp(cmd, "pause")) {
		err = vm_pause(vm);
		return err ? reply_errno(out, len, err) :
			     snprintf(out, len, "{\"ok\":true}");
	}
	if (!strcmp(cmd, "resume")) {
		vm_resume(vm);
	} else if (!strcmp(cmd, "power-button")) {
		irq_pulse(vm, ACPI_POWER_BUTTON_GSI);
	} else if (!strcmp(cmd, "reboot")) {
		vm_request_stop(vm, VM_EXIT_REBOOT,
				"reboot from the control socket");
	} else if (!strcmp(cmd, "debug-denied-syscall")) {
		/* What a compromised main loop might try; the filter's test. */
		if (getppid() < 0)
			return reply_errno(out, len, -errno);
		return reply_error(out, len, "%s", "getppid() was allowed");
	} else if (!strcmp(cmd, "stats")) {
		return stats(vm, out, len);
	} else if (!strcmp(cmd, "resize-disk") || !strcmp(cmd, "link")) {
		return device_cmd(vm, cmd, req, out, len);
	} else {
		return reply_error(out, len, "unknown command '%s'", cmd);
	}
	return snprintf(out, len, "{\"ok\":true}");
}

static void drop(struct ctl_client *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Every complete line in the client's buffer gets its answer. */
static void serve(struct vm *vm, struct ctl_client *c)
{
	static char out[REPLY_MAX_LEN];
	ssize_t n = read(c->fd, c->line + c->len, sizeof(c->line) - c->len - 1);
	char *nl;

	if (n <= 0) {
		drop(c);
		return;
	}
	c->len += n;
	c->line[c->len] = '\0';
	while ((nl = strchr(c->line, '\n'))) {
		int w;

		*nl = '\0';
		w = handle(vm, c->line, out, sizeof(out) - 1);
		if (w < 0 || (size_t)w >= sizeof(out) - 1)
			w = sizeof(out) - 2;
		out[w++] = '\n';
		/* A client that does not read its answers is dropped. */
		if (send(c->fd, out, w, MSG_DONTWAIT | MSG_NOSIGNAL) != w) {
			drop(c);
			return;
		}
		c->len -= nl + 1 - c->line;
		memmove(c->line, nl + 1, c->len + 1);
	}
	if (c->len == sizeof(c->line) - 1)
		drop(c);	/* a line longer than any command */
}

void ctl_events(struct vm *vm, const struct pollfd *fds)
{
	int i, fd;

	if (listen_fd < 0)
		return;
	for (i = 0; i < CTL_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && fds[1 + i].revents)
			serve(vm, &clients[i]);
	if (!(fds[0].revents & POLLIN))
		return;
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (i = 0; i < CTL_MAX_CLIENTS && clients[i].fd >= 0; i++)
		;
	if (i == CTL_MAX_CLIENTS) {
		close(fd);	/* busy */
		return;
	}
	clients[i].fd = fd;
	clients[i].len = 0;
}

/*
 * vhx-vm ctl PATH CMD [KEY=VALUE...]: sends {"cmd":CMD,"KEY":VALUE,...}
 * (numbers and true/false bare, the rest as strings), prints the answer;
 * exits 0 when it says ok.
 */
int ctl_client(int argc, char **argv)
{
	char req[LINE_MAX_LEN], reply[REPLY_MAX_LEN];
	struct sockaddr_un sa;
	size_t n = 0;
	ssize_t got;
	int fd, i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s ctl PATH CMD [KEY=VALUE...]\n",
			prog_name);
		return 2;
	}
	n = snprintf(req, sizeof(req), "{\"cmd\":\"%s\"", argv[1]);
	for (i = 2; i < argc && n < sizeof(req); i++) {
		const char *eq = strchr(argv[i], '=');
		const char *v = eq ? eq + 1 : "";
		bool bare = (*v && strspn(v, "0123456789") == strlen(v)) ||
			    !strcmp(v, "true") || !strcmp(v, "false");

		if (!eq) {
			fprintf(stderr, "%s ctl: '%s' is not KEY=VALUE\n",
				prog_name, argv[i]);
			return 2;
		}
		n += snprintf(req + n, sizeof(req) - n, ",\"%.*s\":%s%s%s",
			      (int)(eq - argv[i]), argv[i], bare ? "" : "\"",
			      v, bare ? "" : "\"");
	}
	if (n + 3 > sizeof(req)) {
		fprintf(stderr, "%s ctl: request too long\n", prog_name);
		return 2;
	}
	n += snprintf(req + n, sizeof(req) - n, "}\n");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (unix_addr(&sa, argv[0]) || fd < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die_errno("ctl: cannot connect to %s", argv[0]);
	if (write(fd, req, n) != (ssize_t)n)
		die_errno("ctl: cannot send to %s", argv[0]);
	n = 0;
	while (n < sizeof(reply) - 1 &&
	       (got = read(fd, reply + n, sizeof(reply) - 1 - n)) > 0) {
		n += got;
		if (reply[n - 1] == '\n')
			break;
	}
	reply[n] = '\0';
	close(fd);
	fputs(reply, stdout);
	return strncmp(reply, "{\"ok\":true", 10) ? 1 : 0;
}
