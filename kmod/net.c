// SPDX-License-Identifier: GPL-2.0
/*
 * vhx-net: the upstream vhost-net ABI on the vhx core.  Queue 0 receives
 * (tap -> guest), queue 1 transmits (guest -> tap).  One open of
 * /dev/vhx-net serves one queue pair with its own worker; multiqueue is
 * one open per pair, as upstream.
 *
 * The vnet header is either the tap's business (the tap was set up with
 * IFF_VNET_HDR and passes checksum/GSO metadata through) or, when the VMM
 * acks VHOST_NET_F_VIRTIO_NET_HDR, ours: we strip it on TX and write an
 * empty one on RX.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/if_tap.h>
#include <linux/if_tun.h>
#include <linux/if_vlan.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/nospec.h>
#include <linux/ptr_ring.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/virtio_byteorder.h>
#include <linux/virtio_net.h>
#include <net/sock.h>
#include <net/xdp.h>

#include "vhx.h"

#define VHX_NET_RX	0
#define VHX_NET_TX	1
#define VHX_NET_NQUEUES	2

#define VHX_NET_FEATURES (BIT_ULL(VIRTIO_F_VERSION_1) |			\
			  BIT_ULL(VIRTIO_RING_F_EVENT_IDX) |		\
			  BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) |	\
			  BIT_ULL(VIRTIO_F_ANY_LAYOUT) |		\
			  BIT_ULL(VIRTIO_F_NOTIFY_ON_EMPTY) |		\
			  BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |		\
			  BIT_ULL(VHOST_NET_F_VIRTIO_NET_HDR) |		\
			  BIT_ULL(VHOST_F_LOG_ALL))

struct rx_head {
	u16 id;
	u32 len;
};

/*
 * The largest frame a guest may send: a 64 KiB GSO frame with its VLAN
 * header.  tun and tap take lengths as int, so longer chains (a guest can
 * describe 4 GiB) must never reach them.
 */
#define VHX_TX_FRAME_MAX	(0x10000 + VLAN_ETH_HLEN)

/* Frames copied into page fragments before one sendmsg hands them over. */
#define VHX_TX_BATCH	64
/* Packets taken off the tap's queue under one lock. */
#define VHX_RX_BATCH	64

struct vhx_net_queue {
	struct vhx_vq vq;
	struct file *file;		/* tap or macvtap; holds the socket */
	struct socket *sock;
	struct ptr_ring *rx_ring;	/* the tap's queue, to size RX packets */
	struct vhx_poll poll;		/* RX: readable, TX: writable again */
	u32 vhost_hlen;			/* header bytes we add/strip */
	u32 sock_hlen;			/* header bytes the tap adds/takes */
	struct rx_head *heads;		/* RX: buffers gathered for a packet */
	void **rxq;			/* RX: packets taken off rx_ring */
	int rxq_head, rxq_tail;
	struct xdp_buff *xdp;		/* TX: the batch being built */
	int nxdp;
	struct page_frag_cache frags;	/* TX: memory of batched frames */
};

struct vhx_net {
	struct vhx_dev dev;
	struct vhx_net_queue queues[VHX_NET_NQUEUES];
};

static struct vhx_net_queue *vq_to_net_queue(struct vhx_vq *vq)
{
	return container_of(vq, struct vhx_net_queue, vq);
}

static struct vhx_net *vhx_net_from_dev(struct vhx_dev *d)
{
	return container_of(d, struct vhx_net, dev);
}

/* Send one chain; false when the tap pushed back and we must wait. */
static bool tx_one(struct vhx_vq *vq, struct vhx_net_queue *q,
		   struct vhx_chain *c)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };
	int ret;

	iov_iter_init(&msg.msg_iter, ITER_SOURCE, vq->iov, c->out, c->out_len);
	iov_iter_advance(&msg.msg_iter, q->vhost_hlen);
	ret = q->sock->ops->sendmsg(q->sock, &msg, c->out_len - q->vhost_hlen);
	if (ret == -EAGAIN || ret == -ENOMEM || ret == -ENOBUFS) {
		vhx_vq_unget(vq, 1);
		if (vhx_poll_start(&q->poll, vq->worker, q->file))
			vhx_vq_requeue(vq);
		return false;
	}
	/* Anything else the tap refused (a malformed frame) is dropped. */
	return true;
}

/*
 * Room before the frame: tun's header, skb headroom, and XDP headroom
 * only while the tap has an XDP program (tun sets SOCK_XDP then): every
 * byte of a fragment is a byte the page allocator clears.
 */
static unsigned int tx_pad(struct vhx_net_queue *q)
{
	unsigned int xdp = sock_flag(q->sock->sk, SOCK_XDP) ?
			   XDP_PACKET_HEADROOM : 0;

	return SKB_DATA_ALIGN(NET_SKB_PAD + NET_IP_ALIGN + xdp + q->sock_hlen);
}

/*
 * The checksum fields a guest sets must lie within the header the frame
 * claims, which itself must lie within the frame (tun checks this on its
 * one-by-one path; on the batch path it trusts the caller).
 */
static int tx_check_hdr(struct virtio_net_hdr *gso, size_t len)
{
	u16 start = __virtio16_to_cpu(true, gso->csum_start);
	u16 off = __virtio16_to_cpu(true, gso->csum_offset);
	u32 need = __virtio16_to_cpu(true, gso->hdr_len);

	if (gso->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM && start + off + 2 > need)
		need = start + off + 2;
	if (need > len)
		return -EINVAL;
	gso->hdr_len = __cpu_to_virtio16(true, need);
	return 0;
}

static int tx_copy_frame(struct vhx_vq *vq, struct vhx_net_queue *q,
			 struct vhx_chain *c, void *buf, unsigned int pad,
			 size_t len)
{
	struct tun_xdp_hdr *hdr = buf;
	size_t glen = min_t(size_t, q->sock_hlen, sizeof(hdr->gso));
	struct iov_iter from;

	memset(hdr, 0, sizeof(*hdr));
	iov_iter_init(&from, ITER_SOURCE, vq->iov, c->out, c->out_len);
	iov_iter_advance(&from, q->vhost_hlen);
	if (copy_from_iter(&hdr->gso, glen, &from) != glen)
		return -EFAULT;
	iov_iter_advance(&from, q->sock_hlen - glen);
	if (tx_check_hdr(&hdr->gso, len))
		return -EINVAL;
	if (copy_from_iter(buf + pad, len, &from) != len)
		return -EFAULT;
	return 0;
}

/*
 * Copy a frame into a page fragment of the current batch.  The guest's
 * buffer is free again as soon as this returns.  -ENOSPC: the frame does
 * not fit a page or batching is off, send it alone; -ENOMEM likewise;
 * other errors: a frame to drop.
 */
static int tx_batch_add(struct vhx_vq *vq, struct vhx_net_queue *q,
			struct vhx_chain *c)
{
	size_t len = c->out_len - q->vhost_hlen - q->sock_hlen;
	unsigned int pad = tx_pad(q), buflen;
	struct xdp_buff *xdp;
	void *buf;
	int ret;

	if (!VHX_TUN_BATCH || !q->xdp ||
	    READ_ONCE(q->sock->sk->sk_sndbuf) != INT_MAX)
		return -ENOSPC;	/* sndbuf limits need the skb path */
	if (c->out_len < q->vhost_hlen + q->sock_hlen + ETH_HLEN)
		return -EINVAL;	/* runts: tun and tap refuse them anyway */
	if (len > PAGE_SIZE)
		return -ENOSPC;
	buflen = SKB_DATA_ALIGN(pad + len) +
		 SKB_DATA_ALIGN(sizeof(struct skb_shared_info));
	if (buflen > PAGE_SIZE)
		return -ENOSPC;
	buf = page_frag_alloc(&q->frags, buflen, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	ret = tx_copy_frame(vq, q, c, buf, pad, len);
	if (ret) {
		page_frag_free(buf);
		return ret;
	}
	((struct tun_xdp_hdr *)buf)->buflen = buflen;
	xdp = &q->xdp[q->nxdp++];
	xdp_init_buff(xdp, buflen, NULL);
	xdp_prepare_buff(xdp, buf, pad, len, true);
	return 0;
}

static void tx_batch_flush(struct vhx_net_queue *q)
{
	struct tun_msg_ctl ctl = {
		.type = TUN_MSG_PTR, .num = q->nxdp, .ptr = q->xdp };
	struct msghdr msg = {
		.msg_control = &ctl, .msg_controllen = sizeof(ctl),
		.msg_flags = MSG_DONTWAIT };
	int i;

	if (!q->nxdp)
		return;
	/* On success tun/tap own every frame; on failure none of them. */
	if (q->sock->ops->sendmsg(q->sock, &msg, 0) < 0)
		for (i = 0; i < q->nxdp; i++)
			page_frag_free(q->xdp[i].data);
	q->nxdp = 0;
}

/* Batch the frame, or send it alone; false when the tap pushed back. */
static bool tx_send(struct vhx_vq *vq, struct vhx_net_queue *q,
		    struct vhx_chain *c)
{
	int ret;

	if (q->nxdp == VHX_TX_BATCH)
		tx_batch_flush(q);
	ret = tx_batch_add(vq, q, c);
	if (ret != -ENOSPC && ret != -ENOMEM)
		return true;
	tx_batch_flush(q);
	return tx_one(vq, q, c);
}

static bool tx_too_big(struct vhx_net_queue *q, struct vhx_chain *c)
{
	u64 hdrs = q->vhost_hlen + q->sock_hlen;

	return c->out_len > hdrs && c->out_len - hdrs > VHX_TX_FRAME_MAX;
}

/* Publish what the handler queued, even after it stopped the queue. */
static void vhx_net_flush_used(struct vhx_vq *vq)
{
	int ret = vhx_vq_flush_used(vq);

	if (ret)
		vhx_vq_fail(vq, ret, "cannot update used ring");
}

/* Every pass counts towards the weight, the ones that find nothing too. */
static void handle_tx(struct vhx_vq *vq)
{
	struct vhx_net_queue *q = vq_to_net_queue(vq);
	const char *why = NULL;
	struct vhx_chain c;
	u64 bytes = 0;
	u32 pkts = 0;
	int ret;

	vhx_poll_stop(&q->poll);
	ret = vhx_ring_notify_off(&vq->ring);
	if (ret) {
		vhx_vq_fail(vq, ret, "cannot write used flags");
		return;
	}
	do {
		ret = vhx_vq_get(vq, &c, 0);
		if (ret < 0) {
			why = "bad TX chain";
			break;
		}
		if (!ret) {
			/* Dry: the batch goes out before any polling or sleep. */
			tx_batch_flush(q);
			if (vhx_vq_hold_call(vq))
				continue;
			ret = vhx_vq_rearm(vq);
			if (ret > 0)
				continue;
			why = "cannot enable notification";
			break;
		}
		if (c.in || c.out_len < q->vhost_hlen) {
			ret = -EINVAL;
			why = "TX chain layout";
			break;
		}
		/* A frame no link can carry is dropped, like a malformed one. */
		if (!tx_too_big(q, &c) && !tx_send(vq, q, &c))
			break;
		ret = vhx_vq_add_used(vq, c.head, 0);
		if (ret) {
			why = "cannot write used ring";
			break;
		}
		bytes += c.out_len;
	} while (!vhx_vq_exceeds_weight(vq, ++pkts, bytes));
	if (ret < 0)
		vhx_vq_fail(vq, ret, why);
	tx_batch_flush(q);
	vhx_net_flush_used(vq);
}

static int ptr_len(void *ptr)
{
	struct sk_buff *skb = ptr;

	if (!ptr)
		return 0;
	if (tun_is_xdp_frame(ptr))
		return ((struct xdp_frame *)tun_ptr_to_xdp(ptr))->len;
	/* tun and macvtap put a VLAN tag back inline on the way out. */
	return skb->len + (skb_vlan_tag_present(skb) ? VLAN_HLEN : 0);
}

/*
 * Length of the next packet, 0 if none.  Packets are taken off the tap's
 * queue in batches, so its lock is taken once per batch, not per packet;
 * each is then handed back to the tap's recvmsg to copy out and free.
 */
static int rx_peek(struct vhx_net_queue *q)
{
	if (q->rxq_head == q->rxq_tail) {
		q->rxq_head = 0;
		q->rxq_tail = ptr_ring_consume_batched(q->rx_ring, q->rxq,
						       VHX_RX_BATCH);
	}
	return q->rxq_head < q->rxq_tail ? ptr_len(q->rxq[q->rxq_head]) : 0;
}

/* Put packets we took but did not deliver back on the tap's queue. */
static void rx_unpeek(struct vhx_net_queue *q)
{
	if (q->rxq_head < q->rxq_tail)
		ptr_ring_unconsume(q->rx_ring, q->rxq + q->rxq_head,
				   q->rxq_tail - q->rxq_head, tun_ptr_free);
	q->rxq_head = 0;
	q->rxq_tail = 0;
}

/*
 * Take guest buffers for a packet of need bytes: one chain, or as many as
 * it takes with mergeable buffers.  Returns the number of chains, 0 when
 * the guest has not posted enough (nothing is kept), < 0 on a bad ring.
 */
static int rx_gather(struct vhx_vq *vq, struct vhx_net_queue *q, u64 need,
		     u32 *niov, u64 *space)
{
	bool mergeable = vq->features & BIT_ULL(VIRTIO_NET_F_MRG_RXBUF);
	u32 ndesc = 0;
	struct vhx_chain c;
	u64 have = 0;
	int n = 0, ret;

	*niov = 0;
	do {
		/* Empty descriptors take no iovec: bound them separately. */
		if (n == VHX_IOV_MAX || ndesc > VHX_WEIGHT_DESCS)
			ret = -ENOBUFS;
		else
			ret = vhx_vq_get(vq, &c, *niov);
		/* An RX buffer the device would have to read is a bad ring. */
		if (ret > 0 && c.out)
			ret = -EINVAL;
		if (ret < 0)
			return ret;
		if (!ret) {
			vhx_vq_unget(vq, n);
			return 0;
		}
		q->heads[n].id = c.head;
		q->heads[n].len = min_t(u64, c.in_len, U32_MAX);
		ndesc += c.ndesc;
		*niov += c.in;
		have += c.in_len;
		n++;
	} while (mergeable && have < need);
	*space = have;
	return n;
}

/* Report each buffer's share of a packet of total bytes as used. */
static int rx_add_used(struct vhx_vq *vq, struct vhx_net_queue *q, int n,
		       u32 total)
{
	int i, ret;

	for (i = 0; i < n; i++) {
		u32 len = i == n - 1 ? total : min(total, q->heads[i].len);

		ret = vhx_vq_queue_used(vq, q->heads[i].id, len);
		if (ret)
			return ret;
		total -= len;
	}
	return vhx_vq_used_done(vq);
}

/*
 * Receive the next packet into n gathered chains.  Returns the bytes
 * written when it was delivered, 0 when it was dropped or vanished (the
 * chains were given back), < 0 when the queue must stop.
 */
static int rx_one(struct vhx_vq *vq, struct vhx_net_queue *q, int n,
		  u32 niov, u64 space, u32 want)
{
	struct virtio_net_hdr_mrg_rxbuf hdr = {};
	struct msghdr msg = {
		.msg_flags = MSG_DONTWAIT,
		.msg_control = q->rxq[q->rxq_head],
	};
	struct iov_iter fixup;
	__le16 nbuf;
	int ret;

	if (space < q->vhost_hlen) {
		vhx_vq_unget(vq, n);
		return -EINVAL;
	}
	iov_iter_init(&msg.msg_iter, ITER_DEST, vq->iov, niov, space);
	fixup = msg.msg_iter;
	if (copy_to_iter(&hdr, q->vhost_hlen, &msg.msg_iter) != q->vhost_hlen)
		return -EFAULT;
	/* recvmsg consumes the packet we pass, whatever it returns. */
	q->rxq_head++;
	ret = q->sock->ops->recvmsg(q->sock, &msg, space - q->vhost_hlen,
				    MSG_DONTWAIT | MSG_TRUNC);
	if (ret < 0 || ret != want || ret > space - q->vhost_hlen) {
		/* Too big for a non-mergeable buffer, or broken: dropped. */
		vhx_vq_unget(vq, n);
		return 0;
	}
	/* With MRG_RXBUF or VERSION_1 the header says how many (5.1.6.4). */
	if (q->vhost_hlen + q->sock_hlen == sizeof(hdr)) {
		nbuf = cpu_to_le16(n);
		iov_iter_advance(&fixup, offsetof(typeof(hdr), num_buffers));
		if (copy_to_iter(&nbuf, sizeof(nbuf), &fixup) != sizeof(nbuf))
			return -EFAULT;
	}
	return ret + q->vhost_hlen;
}

/*
 * Take buffers for the next packet (want bytes) and deliver it.  Returns
 * > 0 when it was delivered or dropped, 0 when the guest has not posted
 * enough buffers, < 0 with why when the queue must stop.
 */
static int rx_packet(struct vhx_vq *vq, struct vhx_net_queue *q, u32 want,
		     const char **why)
{
	u64 space;
	u32 niov;
	int n, ret, written;

	n = rx_gather(vq, q, want + q->vhost_hlen, &niov, &space);
	if (n <= 0) {
		*why = "bad RX chain";
		return n;
	}
	written = rx_one(vq, q, n, niov, space, want);
	if (written <= 0) {
		*why = "cannot write RX buffer";
		return written < 0 ? written : 1;
	}
	if (vhx_vq_logging(vq)) {
		ret = vhx_log_iov(vq, vq->iov, niov, written);
		*why = "cannot write dirty log";
		if (ret)
			return ret;
	}
	ret = rx_add_used(vq, q, n, written);
	*why = "cannot write used ring";
	return ret ? ret : 1;
}

/*
 * The tap's wakeups are wanted only once its queue is drained: while the
 * guest has no buffers, the guest's kick brings us back, and a tap poll
 * would only wake us for nothing at every packet.  Every pass counts
 * towards the weight, retries and dropped packets included.
 */
static void handle_rx(struct vhx_vq *vq)
{
	struct vhx_net_queue *q = vq_to_net_queue(vq);
	const char *why = NULL;
	bool drained = false;
	u32 want, pkts = 0;
	u64 bytes = 0;
	int ret;

	vhx_poll_stop(&q->poll);
	ret = vhx_ring_notify_off(&vq->ring);
	if (ret) {
		vhx_vq_fail(vq, ret, "cannot write used flags");
		return;
	}
	do {
		want = rx_peek(q);
		if (!want) {
			if (vhx_vq_hold_call(vq))
				continue;
			drained = true;
			break;
		}
		want += q->sock_hlen;
		ret = rx_packet(vq, q, want, &why);
		if (!ret) {
			/* Out of buffers: the guest kicks when it adds some. */
			ret = vhx_vq_rearm(vq);
			if (ret > 0)
				continue;
			why = "cannot enable notification";
		}
		if (ret <= 0)
			break;
		bytes += want;
	} while (!vhx_vq_exceeds_weight(vq, ++pkts, bytes));
	if (ret < 0)
		vhx_vq_fail(vq, ret, why);
	vhx_net_flush_used(vq);
	if (drained && vhx_vq_running(vq))
		vhx_poll_start(&q->poll, vq->worker, q->file);
}

/* Detach the tap from a queue; vq->mutex held.  Returns the file to put. */
static struct file *vhx_net_detach(struct vhx_vq *vq)
{
	struct vhx_net_queue *q = vq_to_net_queue(vq);
	struct file *file = q->file;

	lockdep_assert_held(&vq->mutex);
	vhx_poll_stop(&q->poll);
	vhx_vq_stop(vq);
	if (q->rxq && q->rx_ring)
		rx_unpeek(q);
	q->file = NULL;
	q->sock = NULL;
	q->rx_ring = NULL;
	return file;
}

static void vhx_net_stop_vq(struct vhx_vq *vq)
{
	struct file *file = vhx_net_detach(vq);

	if (file)
		fput(file);
}

/* A tap or macvtap fd, and the socket and queue behind it. */
static struct file *tap_lookup(int fd, struct socket **sock,
			       struct ptr_ring **ring)
{
	struct file *file = fget(fd);

	/* Like upstream: anything that is not a tap is -ENOTSOCK. */
	if (!file)
		return ERR_PTR(-ENOTSOCK);
	*sock = tun_get_socket(file);
	if (!IS_ERR(*sock)) {
		*ring = tun_get_tx_ring(file);
		return file;
	}
	*sock = tap_get_socket(file);
	if (!IS_ERR(*sock)) {
		*ring = tap_get_ptr_ring(file);
		return file;
	}
	fput(file);
	return ERR_PTR(-ENOTSOCK);
}

static int vhx_net_attach(struct vhx_vq *vq, struct file *file,
			  struct socket *sock, struct ptr_ring *ring)
{
	struct vhx_net_queue *q = vq_to_net_queue(vq);
	int ret;

	q->file = file;
	q->sock = sock;
	q->rx_ring = ring;
	/* RX: the first run arms the tap's poll once the tap is drained. */
	ret = vhx_vq_start(vq);
	if (ret)
		vhx_net_detach(vq);
	return ret;
}

static long vhx_net_set_backend(struct vhx_net *n, void __user *argp)
{
	struct file *file = NULL, *old;
	struct ptr_ring *ring = NULL;
	struct socket *sock = NULL;
	struct vhost_vring_file f;
	struct vhx_vq *vq;
	long ret;

	lockdep_assert_held(&n->dev.mutex);
	if (copy_from_user(&f, argp, sizeof(f)))
		return -EFAULT;
	ret = vhx_dev_check_owner(&n->dev);
	if (ret)
		return ret;
	if (f.index >= VHX_NET_NQUEUES)
		return -ENOBUFS;
	vq = &n->queues[array_index_nospec(f.index, VHX_NET_NQUEUES)].vq;
	if (f.fd != VHOST_FILE_UNBIND) {
		file = tap_lookup(f.fd, &sock, &ring);
		if (IS_ERR(file))
			return PTR_ERR(file);
	}
	vhx_vq_lock(vq);
	old = vhx_net_detach(vq);
	if (file) {
		ret = vhx_net_attach(vq, file, sock, ring);
		if (ret)
			fput(file);
	}
	mutex_unlock(&vq->mutex);
	if (old)
		fput(old);
	return ret;
}

static void vhx_net_set_hlen(struct vhx_net *n, u64 features)
{
	u32 hlen;
	int i;

	hlen = features & (BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |
			   BIT_ULL(VIRTIO_F_VERSION_1)) ?
	       sizeof(struct virtio_net_hdr_mrg_rxbuf) :
	       sizeof(struct virtio_net_hdr);
	for (i = 0; i < VHX_NET_NQUEUES; i++) {
		struct vhx_net_queue *q = &n->queues[i];

		vhx_vq_lock(&q->vq);
		if (features & BIT_ULL(VHOST_NET_F_VIRTIO_NET_HDR)) {
			q->vhost_hlen = hlen;
			q->sock_hlen = 0;
		} else {
			q->vhost_hlen = 0;
			q->sock_hlen = hlen;
		}
		mutex_unlock(&q->vq.mutex);
	}
}

/* The core's reset: features are 0 again, and no header either way. */
static void vhx_net_reset(struct vhx_dev *d)
{
	struct vhx_net *n = vhx_net_from_dev(d);
	int i;

	for (i = 0; i < VHX_NET_NQUEUES; i++) {
		struct vhx_net_queue *q = &n->queues[i];

		vhx_vq_lock(&q->vq);
		q->vhost_hlen = 0;
		q->sock_hlen = 0;
		mutex_unlock(&q->vq.mutex);
	}
}

static long vhx_net_set_features(struct vhx_net *n, u64 __user *argp)
{
	u64 features;

	if (get_user(features, argp))
		return -EFAULT;
	if (features & ~VHX_NET_FEATURES)
		return -EOPNOTSUPP;
	vhx_net_set_hlen(n, features);
	return vhx_dev_set_features(&n->dev, features);
}

static long vhx_net_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct vhx_net *n = vhx_net_from_dev(f->private_data);
	void __user *argp = (void __user *)arg;
	long ret;

	mutex_lock(&n->dev.mutex);
	switch (cmd) {
	case VHOST_NET_SET_BACKEND:
		ret = vhx_net_set_backend(n, argp);
		break;
	case VHOST_SET_FEATURES:
		ret = vhx_net_set_features(n, argp);
		break;
	default:
		ret = vhx_dev_ioctl(&n->dev, cmd, argp);
	}
	mutex_unlock(&n->dev.mutex);
	return ret == -ENOIOCTLCMD ? -ENOTTY : ret;
}

/* Frees what vhx_net_open() allocated; n may be half set up. */
static void vhx_net_free(struct vhx_net *n)
{
	struct vhx_net_queue *rx = &n->queues[VHX_NET_RX];
	struct vhx_net_queue *tx = &n->queues[VHX_NET_TX];

	vhx_page_frag_drain(&tx->frags);
	kfree(tx->xdp);
	kfree(rx->rxq);
	kfree(rx->heads);
	kfree(n->dev.vqs);
	kvfree(n);
}

/* The core's release: the device is closed and every queue stopped. */
static void vhx_net_release(struct vhx_dev *d)
{
	struct vhx_net *n = vhx_net_from_dev(d);
	int i;

	for (i = 0; i < VHX_NET_NQUEUES; i++)
		WARN_ON_ONCE(n->queues[i].file);
	vhx_net_free(n);
}

/*
 * New packets at the tap for a holding RX handler (vhx_dev_ops.hold_more);
 * it holds only once rx_peek() found none.
 */
static bool vhx_net_hold_more(struct vhx_vq *vq)
{
	struct vhx_net_queue *q = vq_to_net_queue(vq);

	return vq->index == VHX_NET_RX && q->rx_ring &&
	       !ptr_ring_empty(q->rx_ring);
}

static const struct vhx_dev_ops vhx_net_ops = {
	.hold_more	= vhx_net_hold_more,
	.stop_vq	= vhx_net_stop_vq,
	.reset		= vhx_net_reset,
	.release	= vhx_net_release,
};

static int vhx_net_alloc(struct vhx_net *n)
{
	struct vhx_net_queue *rx = &n->queues[VHX_NET_RX];
	struct vhx_net_queue *tx = &n->queues[VHX_NET_TX];

	rx->heads = kmalloc_array(VHX_IOV_MAX, sizeof(struct rx_head),
				  GFP_KERNEL_ACCOUNT);
	rx->rxq = kcalloc(VHX_RX_BATCH, sizeof(void *), GFP_KERNEL_ACCOUNT);
	tx->xdp = kcalloc(VHX_TX_BATCH, sizeof(struct xdp_buff),
			  GFP_KERNEL_ACCOUNT);
	return rx->heads && rx->rxq && tx->xdp ? 0 : -ENOMEM;
}

static int vhx_net_open(struct inode *inode, struct file *f)
{
	struct vhx_net_queue *rx, *tx;
	struct vhx_vq **vqs;
	struct vhx_net *n;
	int ret = -ENOMEM;

	n = kvzalloc(sizeof(*n), GFP_KERNEL_ACCOUNT);
	vqs = kmalloc_array(VHX_NET_NQUEUES, sizeof(*vqs), GFP_KERNEL_ACCOUNT);
	if (!n || !vqs || vhx_net_alloc(n))
		goto fail;
	rx = &n->queues[VHX_NET_RX];
	tx = &n->queues[VHX_NET_TX];
	vqs[VHX_NET_RX] = &rx->vq;
	vqs[VHX_NET_TX] = &tx->vq;
	ret = vhx_dev_init(&n->dev, vqs, VHX_NET_NQUEUES, "net",
			   VHX_NET_FEATURES, &vhx_net_ops);
	if (ret)
		goto fail;
	rx->vq.handle = handle_rx;
	tx->vq.handle = handle_tx;
	vhx_poll_init(&rx->poll, &rx->vq.work, EPOLLIN);
	vhx_poll_init(&tx->poll, &tx->vq.work, EPOLLOUT);
	f->private_data = &n->dev;
	return 0;
fail:
	kfree(vqs);
	if (n)
		vhx_net_free(n);
	return ret;
}

static const struct file_operations vhx_net_fops = {
	.owner		= THIS_MODULE,
	.open		= vhx_net_open,
	.release	= vhx_dev_release,
	.unlocked_ioctl	= vhx_net_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice vhx_net_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "vhx-net",
	.fops	= &vhx_net_fops,
};

/*
 * Tools that always open /dev/vhost-net (libvirt, QEMU's plain vhost=on)
 * pick vhx up when it takes upstream's name and minor.  Only one driver
 * can: with upstream vhost_net loaded this fails and says so.
 */
static bool as_vhost_net;
module_param(as_vhost_net, bool, 0444);
MODULE_PARM_DESC(as_vhost_net,
		 "Also register as /dev/vhost-net (upstream vhost_net must not be loaded)");

static struct miscdevice vhx_net_alias = {
	.minor	= VHOST_NET_MINOR,
	.name	= "vhost-net",
	.fops	= &vhx_net_fops,
};

int vhx_net_init(void)
{
	int ret = misc_register(&vhx_net_misc);

	if (ret || !as_vhost_net)
		return ret;
	ret = misc_register(&vhx_net_alias);
	if (ret) {
		pr_err("cannot register /dev/vhost-net (%d): is upstream vhost_net loaded?\n",
		       ret);
		misc_deregister(&vhx_net_misc);
	}
	return ret;
}

void vhx_net_exit(void)
{
	if (as_vhost_net)
		misc_deregister(&vhx_net_alias);
	misc_deregister(&vhx_net_misc);
}
