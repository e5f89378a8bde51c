/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host-side plumbing for net selftests: taps, macvtaps, AF_PACKET sockets
 * and test frames.  Every function prints a "# " diagnostic when it fails
 * and returns -errno.
 */
#ifndef NETUTIL_H
#define NETUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <net/if.h>
#include <linux/virtio_net.h>

/* Test frames use this ethertype; anything else on the wire is noise. */
#define TEST_ETHERTYPE	0x88b5
#define ETH_HLEN_	14

extern const uint8_t test_src_mac[6];
extern const uint8_t test_dst_mac[6];

/*
 * Open a tap (IFF_TAP | IFF_NO_PI | @flags).  @name NULL lets the kernel
 * pick one; the chosen name is copied to @ifname.  Returns the fd.
 */
int tap_open(char ifname[IFNAMSIZ], const char *name, int flags);
int tap_set_hdr_sz(int fd, int sz);
int tap_set_offload(int fd, unsigned int flags);

/* Disable IPv6 (no host noise into the tap), then bring the link up. */
int netif_prepare(const char *ifname);
int netif_up(const char *ifname);
int netif_set_mtu(const char *ifname, int mtu);
int netif_index(const char *ifname);
int netif_hwaddr(const char *ifname, uint8_t mac[6]);

/* AF_PACKET socket bound to @ifname, all protocols. */
int pkt_open(const char *ifname, bool vnet_hdr);
/*
 * Receive the next incoming frame of @ethertype (outgoing frames and other
 * protocols are skipped).  With a vnet_hdr socket @vh gets the header.
 * Returns the frame length, 0 on timeout, -errno on error.
 */
ssize_t pkt_recv(int fd, void *buf, size_t len, int timeout_ms,
		 uint16_t ethertype, struct virtio_net_hdr *vh);
/* Send a frame (with @vh first when the socket has PACKET_VNET_HDR). */
int pkt_send(int fd, const void *frame, size_t len,
	     const struct virtio_net_hdr *vh);

/* A test frame of @len bytes whose payload is derived from @seed. */
void frame_build(void *buf, size_t len, const uint8_t dst[6], uint32_t seed);
/* The seed a test frame was built with (bytes 14..17). */
uint32_t frame_seed(const void *buf);
uint16_t frame_ethertype(const void *buf);
/* Compare; on mismatch print where and return false. */
bool bytes_equal(const void *got, const void *want, size_t len,
		 const char *what);

/* Run a shell command; 0 when it exits 0. */
int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * veth pair with a bridge-mode macvtap on one end.  macvtap_destroy()
 * removes what macvtap_create() made, even after a failed create, and
 * may be called again.
 */
struct macvtap {
	char lower[IFNAMSIZ];	/* veth end carrying the macvtap */
	char peer[IFNAMSIZ];	/* the other veth end: the "wire" */
	char name[IFNAMSIZ];	/* the macvtap link */
	char devpath[64];	/* its character device */
	bool node_made;		/* devpath is our own mknod */
	uint8_t mac[6];
};

int macvtap_create(struct macvtap *m);
int macvtap_open(const struct macvtap *m);
void macvtap_destroy(struct macvtap *m);

#endif /* NETUTIL_H */
