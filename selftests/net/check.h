/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Checks on a net_env for test bodies: each takes the harness's
 * _metadata and fails the test with ASSERT_*() (which ends it and runs
 * the fixture's teardown), so callers read as straight-line code.
 * Static, for the *_test.c files only: they need kselftest_harness.h,
 * which a test binary includes once (harness.h).
 */
#ifndef NET_CHECK_H
#define NET_CHECK_H

#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "common.h"

/* Wait for @frame to come out of the link. */
static inline void net_expect_frame(struct __test_metadata *_metadata,
				    struct net_env *e, const void *frame,
				    size_t len)
{
	static uint8_t got[MAX_FRAME];
	struct virtio_net_hdr vh;
	ssize_t n;

	n = pkt_recv(e->pkt_fd, got, sizeof(got), WAIT_MS, TEST_ETHERTYPE,
		     e->cfg.pkt_vnet_hdr ? &vh : NULL);
	ASSERT_LT(0, n)
		TH_LOG("no frame of %zu bytes out of %s (%s)", len, e->ifname,
		       n ? strerror((int)-n) : "timeout");
	ASSERT_EQ(len, (size_t)n)
		TH_LOG("frame out of %s (seed %#x)", e->ifname,
		       frame_seed(got));
	ASSERT_TRUE(bytes_equal(got, frame, len, "TX frame"));
}

/* No test frame comes out within QUIET_MS. */
static inline void net_expect_silence(struct __test_metadata *_metadata,
				      struct net_env *e)
{
	static uint8_t got[MAX_FRAME];
	struct virtio_net_hdr vh;
	ssize_t n;

	n = pkt_recv(e->pkt_fd, got, sizeof(got), QUIET_MS, TEST_ETHERTYPE,
		     e->cfg.pkt_vnet_hdr ? &vh : NULL);
	ASSERT_GE(0, n)
		TH_LOG("unexpected frame of %zd bytes (seed %#x) out of %s",
		       n, frame_seed(got), e->ifname);
	ASSERT_EQ(0, n);
}

/* Build, send, see it out and reaped. */
static inline void net_tx_check(struct __test_metadata *_metadata,
				struct net_env *e, size_t len, uint32_t seed)
{
	static uint8_t frame[MAX_FRAME];

	frame_build(frame, len, NULL, seed);
	ASSERT_LE(0, net_tx(e, frame, len, NULL, 1, 0));
	net_expect_frame(_metadata, e, frame, len);
	ASSERT_LE(0, net_tx_reap(e, 1));
}

/* Inject @len/@seed into the link and check it lands intact. */
static inline void net_rx_check(struct __test_metadata *_metadata,
				struct net_env *e, size_t len, uint32_t seed)
{
	static uint8_t frame[MAX_FRAME], got[MAX_FRAME];
	struct virtio_net_hdr zero = { 0 };
	ssize_t n;

	frame_build(frame, len, e->rx_dst, seed);
	ASSERT_LE(0, pkt_send(e->pkt_fd, frame, len,
			      e->cfg.pkt_vnet_hdr ? &zero : NULL));
	n = net_rx_get(e, got, sizeof(got), NULL, WAIT_MS);
	ASSERT_LT(0, n)
		TH_LOG("no RX frame of %zu bytes (%s)", len,
		       n ? strerror((int)-n) : "timeout");
	ASSERT_EQ(len, (size_t)n);
	ASSERT_TRUE(bytes_equal(got, frame, len, "RX frame"))
		TH_LOG("seed %#x", seed);
}

/* RESET_OWNER, then a full fresh setup and traffic both ways. */
static inline void net_reset_and_verify(struct __test_metadata *_metadata,
					struct net_env *e)
{
	static uint8_t frame[MAX_FRAME], got[MAX_FRAME];
	uint32_t seed = 0x5e5e0000 + getpid();
	struct virtio_net_hdr zero = { 0 }, vh;
	unsigned int tries;
	ssize_t n;

	ASSERT_LE(0, vhxg_reset_owner(&e->dev));
	vhxg_vq_fini(e->rx);
	vhxg_vq_fini(e->tx);
	ASSERT_LE(0, net_configure(e));
	/*
	 * Frames the device sent before the reset may still wait on the
	 * link (upstream sends what it read from a bad ring, say).
	 */
	while ((n = pkt_recv(e->pkt_fd, got, sizeof(got), 50, TEST_ETHERTYPE,
			     e->cfg.pkt_vnet_hdr ? &vh : NULL)) > 0)
		TH_LOG("TX after reset: older frame, seed %#x",
		       frame_seed(got));
	net_tx_check(_metadata, e, 100, seed);
	ASSERT_LE(0, net_rx_post(e, 16, 2048, 1, 0));
	frame_build(frame, 200, e->rx_dst, seed + 1);
	ASSERT_LE(0, pkt_send(e->pkt_fd, frame, 200,
			      e->cfg.pkt_vnet_hdr ? &zero : NULL));
	/* Frames queued in the tap before the reset may come first. */
	for (tries = 0; tries < 8; tries++) {
		n = net_rx_get(e, got, sizeof(got), NULL, WAIT_MS);
		ASSERT_LT(0, n)
			TH_LOG("no RX after reset (%s)",
			       n ? strerror((int)-n) : "timeout");
		if (frame_seed(got) == seed + 1)
			break;
		TH_LOG("RX after reset: older frame, seed %#x",
		       frame_seed(got));
	}
	ASSERT_EQ(200, n);
	ASSERT_TRUE(bytes_equal(got, frame, 200, "RX after reset"));
}

#endif /* NET_CHECK_H */
