// SPDX-License-Identifier: GPL-2.0
/* Host-side plumbing for net selftests: see netutil.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>

#include "netutil.h"

/* A "# " diagnostic line, as KTAP comments are (vhx-netgen links this too). */
static void __attribute__((format(printf, 1, 2))) diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

const uint8_t test_src_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
const uint8_t test_dst_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

static int fail(const char *what, const char *name)
{
	int err = errno;

	diag("%s %s: %s", what, name ? name : "", strerror(err));
	return -err;
}

int tap_open(char ifname[IFNAMSIZ], const char *name, int flags)
{
	struct ifreq ifr = { 0 };
	int fd;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail("open", "/dev/net/tun");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | flags;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name ? name : "vhxt%d");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		fail("TUNSETIFF", ifr.ifr_name);
		close(fd);
		return -EIO;
	}
	memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	return fd;
}

int tap_set_hdr_sz(int fd, int sz)
{
	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0)
		return fail("TUNSETVNETHDRSZ", NULL);
	return 0;
}

int tap_set_offload(int fd, unsigned int flags)
{
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0)
		return fail("TUNSETOFFLOAD", NULL);
	return 0;
}

static int ifreq_ioctl(const char *ifname, unsigned long req,
		       struct ifreq *ifr)
{
	int s, ret = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail("socket", NULL);
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(s, req, ifr) < 0)
		ret = fail("interface ioctl on", ifname);
	close(s);
	return ret;
}

int netif_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int ret;

	ret = ifreq_ioctl(ifname, SIOCGIFFLAGS, &ifr);
	if (ret)
		return ret;
	ifr.ifr_flags |= IFF_UP;
	return ifreq_ioctl(ifname, SIOCSIFFLAGS, &ifr);
}

int netif_prepare(const char *ifname)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 ifname);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			diag("cannot disable ipv6 on %s", ifname);
		close(fd);
	}
	return netif_up(ifname);
}

int netif_set_mtu(const char *ifname, int mtu)
{
	struct ifreq ifr = { .ifr_mtu = mtu };

	return ifreq_ioctl(ifname, SIOCSIFMTU, &ifr);
}

int netif_index(const char *ifname)
{
	unsigned int idx = if_nametoindex(ifname);

	return idx ? (int)idx : fail("if_nametoindex", ifname);
}

int netif_hwaddr(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	int ret = ifreq_ioctl(ifname, SIOCGIFHWADDR, &ifr);

	if (!ret)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return ret;
}

int pkt_open(const char *ifname, bool vnet_hdr)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
	};
	int fd, one = 1, idx, rcvbuf = 8 << 20;

	idx = netif_index(ifname);
	if (idx < 0)
		return idx;
	sll.sll_ifindex = idx;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		return fail("socket(AF_PACKET)", NULL);
	if (vnet_hdr && setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one,
				   sizeof(one)) < 0) {
		fail("PACKET_VNET_HDR", ifname);
		close(fd);
		return -EIO;
	}
	/* Bursts of frames must not overflow the default buffer. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0)
		diag("SO_RCVBUFFORCE: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fail("bind AF_PACKET to", ifname);
		close(fd);
		return -EIO;
	}
	return fd;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ssize_t pkt_recv(int fd, void *buf, size_t len, int timeout_ms,
		 uint16_t ethertype, struct virtio_net_hdr *vh)
{
	int64_t end = now_ms() + timeout_ms;
	size_t hl = vh ? sizeof(*vh) : 0;
	static uint8_t tmp[65536 + sizeof(*vh)];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct sockaddr_ll sll;
		socklen_t sl = sizeof(sll);
		int64_t left = end - now_ms();
		ssize_t n;

		if (left < 0)
			left = 0;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return fail("poll", NULL);
		if (n <= 0) {
			if (left == 0)
				return 0;
			continue;
		}
		n = recvfrom(fd, tmp, sizeof(tmp), MSG_DONTWAIT,
			     (struct sockaddr *)&sll, &sl);
		if (n < 0) {
			/* ENETDOWN: reported once for a past link change. */
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ENETDOWN)
				continue;
			return fail("recvfrom", NULL);
		}
		if (sll.sll_pkttype == PACKET_OUTGOING ||
		    (size_t)n < hl + ETH_HLEN_ ||
		    frame_ethertype(tmp + hl) != ethertype)
			continue;
		if (vh)
			memcpy(vh, tmp, hl);
		n -= hl;
		memcpy(buf, tmp + hl, (size_t)n < len ? (size_t)n : len);
		return n;
	}
}

int pkt_send(int fd, const void *frame, size_t len,
	     const struct virtio_net_hdr *vh)
{
	struct iovec iov[2];
	struct msghdr msg = { .msg_iov = iov };
	ssize_t n;

	if (vh) {
		iov[msg.msg_iovlen].iov_base = (void *)vh;
		iov[msg.msg_iovlen++].iov_len = sizeof(*vh);
	}
	iov[msg.msg_iovlen].iov_base = (void *)frame;
	iov[msg.msg_iovlen++].iov_len = len;
	n = sendmsg(fd, &msg, 0);
	if (n < 0)
		return fail("send on AF_PACKET", NULL);
	return 0;
}

void frame_build(void *buf, size_t len, const uint8_t dst[6], uint32_t seed)
{
	uint8_t *p = buf;
	size_t i;

	memcpy(p, dst ? dst : test_dst_mac, 6);
	memcpy(p + 6, test_src_mac, 6);
	p[12] = TEST_ETHERTYPE >> 8;
	p[13] = TEST_ETHERTYPE & 0xff;
	for (i = ETH_HLEN_; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
	if (len >= ETH_HLEN_ + 4)
		memcpy(p + ETH_HLEN_, &seed, 4);
}

uint32_t frame_seed(const void *buf)
{
	uint32_t seed;

	memcpy(&seed, (const uint8_t *)buf + ETH_HLEN_, 4);
	return seed;
}

uint16_t frame_ethertype(const void *buf)
{
	const uint8_t *p = buf;

	return (uint16_t)(p[12] << 8 | p[13]);
}

bool bytes_equal(const void *got, const void *want, size_t len,
		 const char *what)
{
	const uint8_t *g = got, *w = want;
	size_t i;

	for (i = 0; i < len; i++) {
		if (g[i] != w[i]) {
			diag("%s differs at byte %zu of %zu: %#x, want %#x",
				what, i, len, g[i], w[i]);
			return false;
		}
	}
	return true;
}

int run_cmd(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ret = system(cmd);
	if (ret) {
		diag("'%s' failed (status %d)", cmd, ret);
		return -EIO;
	}
	return 0;
}

void macvtap_destroy(struct macvtap *m)
{
	if (m->node_made)
		unlink(m->devpath);
	/* Gone already when a test deleted it. */
	if (m->lower[0] && if_nametoindex(m->lower) &&
	    run_cmd("ip link del %s 2>/dev/null", m->lower))
		diag("cannot remove %s", m->lower);
	m->node_made = false;
	m->lower[0] = '\0';
}

/* Find /dev/tapN for the macvtap, creating the node if nothing did. */
static int macvtap_node(struct macvtap *m)
{
	unsigned int maj, min;
	char path[128];
	struct stat st;
	int idx, ok;
	FILE *f;

	idx = netif_index(m->name);
	if (idx < 0)
		return idx;
	snprintf(path, sizeof(path), "/sys/class/net/%s/macvtap/tap%d/dev",
		 m->name, idx);
	f = fopen(path, "re");
	if (!f)
		return fail("open", path);
	ok = fscanf(f, "%u:%u", &maj, &min) == 2;
	fclose(f);
	if (!ok) {
		diag("cannot parse %s", path);
		return -EINVAL;
	}
	snprintf(m->devpath, sizeof(m->devpath), "/dev/tap%d", idx);
	if (!stat(m->devpath, &st) && S_ISCHR(st.st_mode) &&
	    st.st_rdev == makedev(maj, min))
		return 0;
	/* No udev: make our own node where nothing else lives. */
	snprintf(m->devpath, sizeof(m->devpath), "/tmp/vhxg-tap%d", idx);
	unlink(m->devpath);
	if (mknod(m->devpath, S_IFCHR | 0600, makedev(maj, min)) < 0)
		return fail("mknod", m->devpath);
	m->node_made = true;
	return 0;
}

int macvtap_create(struct macvtap *m)
{
	int pid = getpid() % 100000, ret;

	m->node_made = false;
	snprintf(m->lower, IFNAMSIZ, "vxa%d", pid);
	snprintf(m->peer, IFNAMSIZ, "vxb%d", pid);
	snprintf(m->name, IFNAMSIZ, "vxm%d", pid);
	if (system("ip -V >/dev/null 2>&1")) {
		diag("no 'ip' command");
		m->lower[0] = '\0';
		return -ENOENT;
	}
	run_cmd("ip link del %s 2>/dev/null || true", m->lower);
	ret = run_cmd("ip link add %s type veth peer name %s",
		      m->lower, m->peer);
	if (ret) {
		m->lower[0] = '\0';
		return ret;
	}
	ret = run_cmd("ip link add link %s name %s type macvtap mode bridge",
		      m->lower, m->name);
	if (!ret)
		ret = netif_prepare(m->lower);
	if (!ret)
		ret = netif_prepare(m->peer);
	if (!ret)
		ret = netif_prepare(m->name);
	if (!ret)
		ret = netif_hwaddr(m->name, m->mac);
	if (!ret)
		ret = macvtap_node(m);
	return ret;
}

int macvtap_open(const struct macvtap *m)
{
	int fd = open(m->devpath, O_RDWR | O_CLOEXEC);

	return fd < 0 ? fail("open", m->devpath) : fd;
}
