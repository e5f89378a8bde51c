// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-net over vhost-net and a tap.  Queue pair p (rx 2p, tx 2p+1) is
 * served by vhost fd p with tap queue fd p as its backend; the control
 * queue is ours.  Like QEMU, every pair runs once the driver is ready and
 * VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET only attaches or detaches tap queues, so
 * the tap steers traffic to the pairs in use.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost.h"

#define VNET_HDR_LEN	12	/* virtio 1.x: always with num_buffers */

struct net_dev {
	struct virtio_dev vdev;
	char name[32];
	int pairs;
	int curr_pairs;
	int vhost_fd[VIRTIO_NET_MAX_PAIRS];
	int tap_fd[VIRTIO_NET_MAX_PAIRS];
	bool tap_attached[VIRTIO_NET_MAX_PAIRS];
	bool running[VIRTIO_NET_MAX_PAIRS];
	u64 vhost_features;
	struct virtio_net_config config;
};

static struct net_dev *nets[8];
static int nr_nets;

/* What vhost-net does for us; the rest of the features are the tap's. */
#define RING_FEATURES	((1ULL << VIRTIO_F_VERSION_1) |			\
			 (1ULL << VIRTIO_RING_F_EVENT_IDX) |		\
			 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |	\
			 (1ULL << VIRTIO_NET_F_MRG_RXBUF))
#define NET_FEATURES	((1ULL << VIRTIO_NET_F_MAC) |			\
			 (1ULL << VIRTIO_NET_F_STATUS) |		\
			 (1ULL << VIRTIO_NET_F_CTRL_VQ) |		\
			 (1ULL << VIRTIO_NET_F_CSUM) |			\
			 (1ULL << VIRTIO_NET_F_HOST_TSO4) |		\
			 (1ULL << VIRTIO_NET_F_HOST_TSO6) |		\
			 (1ULL << VIRTIO_NET_F_HOST_ECN) |		\
			 (1ULL << VIRTIO_NET_F_GUEST_CSUM) |		\
			 (1ULL << VIRTIO_NET_F_GUEST_TSO4) |		\
			 (1ULL << VIRTIO_NET_F_GUEST_TSO6) |		\
			 (1ULL << VIRTIO_NET_F_GUEST_ECN))

static struct net_dev *to_net(struct virtio_dev *vdev)
{
	return container_of(vdev, struct net_dev, vdev);
}

static int tap_open_queue(const char *name, bool multi)
{
	struct ifreq ifr = { 0 };
	int fd;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die_errno("cannot open /dev/net/tun (is the tun module loaded?)");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (multi)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* A tap we created goes away with our last fd of it; it must be up. */
static void tap_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		die_errno("tap '%s': SIOCGIFFLAGS", name);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		die_errno("cannot bring tap '%s' up", name);
	close(s);
}

/*
 * Whether tap @name has multi_queue.  A missing one is created with it
 * when more than one pair is asked for, or may be (auto).
 */
static bool tap_multi_queue(const char *name, bool create_multi)
{
	char path[64];
	unsigned int flags = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", name);
	f = fopen(path, "re");
	if (!f)
		return create_multi;
	if (fscanf(f, "%x", &flags) != 1)
		flags = 0;
	fclose(f);
	return flags & IFF_MULTI_QUEUE;
}

static void tap_open(struct vm *vm, struct net_dev *net, struct net_opts *o)
{
	bool created = !if_nametoindex(o->tap);
	bool multi;
	int p;

	if (!o->queues)
		net->pairs = tap_multi_queue(o->tap, vm->nr_vcpus > 1) ?
			     vm->nr_vcpus : 1;
	if (net->pairs > VIRTIO_NET_MAX_PAIRS)
		net->pairs = VIRTIO_NET_MAX_PAIRS;
	multi = tap_multi_queue(o->tap, net->pairs > 1);
	if (net->pairs > 1 && !multi)
		die("tap '%s' has no multi_queue for %d queue pairs (ip tuntap add dev %s mode tap multi_queue)",
		    o->tap, net->pairs, o->tap);
	for (p = 0; p < net->pairs; p++) {
		int fd = tap_open_queue(o->tap, multi);

		if (fd < 0 && created && errno == EPERM)
			die("cannot create tap '%s': permission denied (needs CAP_NET_ADMIN; or: ip tuntap add dev %s mode tap%s user $USER)",
			    o->tap, o->tap, multi ? " multi_queue" : "");
		if (fd < 0)
			die_errno("cannot attach to tap '%s' (is it a tap interface?)",
				  o->tap);
		net->tap_fd[p] = fd;
	}
	if (created) {
		tap_up(o->tap);
		if (vm_verbose)
			warnx_vm("%s: created tap %s (%d queues), gone at exit",
				 net->name, o->tap, net->pairs);
	}
}

/* A macvtap passes on only frames to its own address: the guest takes it. */
static void macvtap_mac(struct net_opts *o)
{
	char path[64];
	unsigned int b[6];
	FILE *f;
	int i, n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", o->tap);
	f = fopen(path, "re");
	n = f ? fscanf(f, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3],
		       &b[4], &b[5]) : 0;
	if (f)
		fclose(f);
	if (n != 6)
		die("cannot read macvtap '%s''s address from %s", o->tap, path);
	for (i = 0; i < 6; i++)
		o->mac[i] = b[i];
	o->mac_set = true;
}

/* A macvtap's queues are its character device, opened once per pair. */
static void macvtap_open(struct vm *vm, struct net_dev *net,
			 struct net_opts *o)
{
	unsigned int index = if_nametoindex(o->tap);
	char path[32];
	int p;

	if (!index)
		die("macvtap '%s' does not exist (create it with: ip link add link ETH name %s type macvtap)",
		    o->tap, o->tap);
	if (!o->queues)
		net->pairs = vm->nr_vcpus;
	snprintf(path, sizeof(path), "/dev/tap%u", index);
	for (p = 0; p < net->pairs; p++) {
		net->tap_fd[p] = open(path, O_RDWR | O_CLOEXEC);
		if (net->tap_fd[p] < 0)
			die_errno("cannot open %s, macvtap '%s''s queue %d",
				  path, o->tap, p);
	}
	if (!o->mac_set)
		macvtap_mac(o);
}

/* tapfd=: queue @p of one tap, as its first queue's name says. */
static void tap_check_fd(struct net_dev *net, int fd, int p, char *name)
{
	struct ifreq ifr = { 0 };

	if (fd <= STDERR_FILENO)
		die("tapfd=%d is stdin, stdout or stderr, which the console uses",
		    fd);
	if (fcntl(fd, F_GETFD) < 0)
		die("tapfd=%d is not an open file descriptor", fd);
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		die("tapfd=%d is not a tap device", fd);
	if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP)
		die("tapfd=%d is a tun, not a tap device", fd);
	if (!(ifr.ifr_flags & IFF_VNET_HDR))
		die("tapfd=%d was opened without IFF_VNET_HDR", fd);
	if (net->pairs > 1 && !(ifr.ifr_flags & IFF_MULTI_QUEUE))
		die("tapfd=%d was opened without IFF_MULTI_QUEUE, for %d queue pairs",
		    fd, net->pairs);
	if (!p)
		memcpy(name, ifr.ifr_name, IFNAMSIZ);
	else if (strncmp(name, ifr.ifr_name, IFNAMSIZ))
		die("tapfd=%d is a queue of tap '%.*s', not of '%.*s'", fd,
		    IFNAMSIZ, ifr.ifr_name, IFNAMSIZ, name);
	net->tap_fd[p] = fd;
}

static void tap_setup(struct net_dev *net, int p)
{
	int len = VNET_HDR_LEN;

	if (ioctl(net->tap_fd[p], TUNSETVNETHDRSZ, &len) < 0)
		die_errno("%s: TUNSETVNETHDRSZ", net->name);
	if (ioctl(net->tap_fd[p], TUNSETOFFLOAD, 0) < 0)
		die_errno("%s: TUNSETOFFLOAD", net->name);
	net->tap_attached[p] = true;
}

static void tap_attach(struct net_dev *net, int p, bool attach)
{
	struct ifreq ifr = { 0 };

	if (net->tap_attached[p] == attach)
		return;
	ifr.ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	if (ioctl(net->tap_fd[p], TUNSETQUEUE, &ifr) < 0) {
		warnx_vm("%s: cannot %s tap queue %d: %s", net->name,
			 attach ? "attach" : "detach", p, strerror(errno));
		return;
	}
	net->tap_attached[p] = attach;
}

static void set_active_pairs(struct net_dev *net, int n)
{
	int p;

	net->curr_pairs = n;
	for (p = 0; p < net->pairs; p++)
		tap_attach(net, p, p < n);
}

/* Receive offloads the guest can take: what the tap may hand to vhost. */
static unsigned int tap_offloads(struct virtio_dev *vdev)
{
	unsigned int f = 0;

	if (!virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	f |= TUN_F_CSUM;
	if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_ECN))
		f |= TUN_F_TSO_ECN;
	return f;
}

static int ctrl_index(struct net_dev *net)
{
	return virtio_has_feature(&net->vdev, VIRTIO_NET_F_MQ) ?
	       2 * net->pairs : 2;
}

static void stop_pair(struct net_dev *net, int p)
{
	int r;

	for (r = 0; r < 2; r++)
		vhost_net_set_backend(net->vhost_fd[p], r, -1);
	for (r = 0; r < 2; r++)
		vm_vhost_stop_vring(net->vhost_fd[p], r, net->name);
	net->running[p] = false;
}

static int start_pair(struct net_dev *net, int p)
{
	struct virtio_dev *vdev = &net->vdev;
	int fd = net->vhost_fd[p], r, err;
	unsigned int offloads = tap_offloads(vdev);

	err = vhost_set_features(fd, vdev->guest_features &
				     net->vhost_features);
	if (err)
		return err;
	if (ioctl(net->tap_fd[p], TUNSETOFFLOAD, offloads) < 0)
		return -errno;
	for (r = 0; r < 2 && !err; r++)
		err = vm_vhost_start_vring(vdev->vm, fd, r,
					   &vdev->vqs[2 * p + r]);
	for (r = 0; r < 2 && !err; r++)
		err = vhost_net_set_backend(fd, r, net->tap_fd[p]);
	/*
	 * Leave no ring half set up: with a backend left on ring 0, the
	 * next start's SET_VRING_NUM would fail with EBUSY.
	 */
	if (err) {
		stop_pair(net, p);
		return err;
	}
	net->running[p] = true;
	return 0;
}

static int net_pause(struct virtio_dev *vdev, bool pause)
{
	struct net_dev *net = to_net(vdev);
	int p, r, err = 0;

	for (p = 0; p < net->pairs; p++)
		for (r = 0; r < 2 && net->running[p] && !err; r++)
			err = vhost_net_set_backend(net->vhost_fd[p], r,
						    pause ? -1 : net->tap_fd[p]);
	return err;
}

static int net_vhost_of(struct virtio_dev *vdev, int q, unsigned int *index)
{
	struct net_dev *net = to_net(vdev);

	if (q >= 2 * net->pairs)
		return -1;	/* the control queue: vhx-vm's own */
	*index = q % 2;
	return net->vhost_fd[q / 2];
}

static void net_stop(struct virtio_dev *vdev)
{
	struct net_dev *net = to_net(vdev);
	int p;

	for (p = 0; p < net->pairs; p++)
		if (net->running[p])
			stop_pair(net, p);
	set_active_pairs(net, net->pairs);
}

static void start_ctrl(struct net_dev *net)
{
	int q = ctrl_index(net), err;
	struct virtio_queue *vq = &net->vdev.vqs[q];

	vq->in_vmm = true;
	if (!vq->enabled)
		return;
	err = vmm_ring_start(&net->vdev, q);
	if (err) {
		warnx_vm("%s: control queue: %s", net->name, strerror(-err));
		vq->ring.num = 0;
	}
}

static int net_start(struct virtio_dev *vdev)
{
	struct net_dev *net = to_net(vdev);
	int p, err, max = 1;

	if (virtio_has_feature(vdev, VIRTIO_NET_F_MQ))
		max = net->pairs;
	if (virtio_has_feature(vdev, VIRTIO_NET_F_CTRL_VQ))
		start_ctrl(net);
	for (p = 0; p < max; p++) {
		if (!vdev->vqs[2 * p].enabled || !vdev->vqs[2 * p + 1].enabled)
			continue;
		err = start_pair(net, p);
		if (err) {
			warnx_vm("%s: queue pair %d: %s", net->name, p,
				 strerror(-err));
			return err;
		}
	}
	/* The driver starts with one pair and asks for more itself. */
	set_active_pairs(net, 1);
	return 0;
}

static u8 ctrl_command(struct net_dev *net, u8 class, u8 cmd, const u8 *data,
		       u32 len)
{
	u16 n;

	if (class != VIRTIO_NET_CTRL_MQ ||
	    cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || len < 2 ||
	    !virtio_has_feature(&net->vdev, VIRTIO_NET_F_MQ))
		return VIRTIO_NET_ERR;
	memcpy(&n, data, 2);
	if (n < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || n > net->pairs)
		return VIRTIO_NET_ERR;
	set_active_pairs(net, n);
	return VIRTIO_NET_OK;
}

/* Enough for any sane command; more segments make a malformed queue. */
#define CTRL_IOV_MAX	16

/*
 * One command: class, command and data in the readable segments, the ack
 * in the last byte of the writable ones.  Returns the used length.
 */
static u32 ctrl_one(struct net_dev *net, const struct vhx_chain *c,
		    const struct iovec *iov)
{
	u8 cmd[64], ack = VIRTIO_NET_ERR;
	const struct iovec *last;
	u32 i, len = 0;

	for (i = 0; i < c->out && len < sizeof(cmd); i++) {
		size_t n = iov[i].iov_len;

		if (n > sizeof(cmd) - len)
			n = sizeof(cmd) - len;
		memcpy(cmd + len, iov[i].iov_base, n);
		len += n;
	}
	if (len >= 2)
		ack = ctrl_command(net, cmd[0], cmd[1], cmd + 2, len - 2);
	if (!c->in_len)
		return 0;
	for (last = &iov[c->out + c->in - 1]; !last->iov_len; last--)
		;
	((u8 *)last->iov_base)[last->iov_len - 1] = ack;
	return 1;
}

static void net_notify(struct virtio_dev *vdev, int q)
{
	struct net_dev *net = to_net(vdev);
	struct vhx_ring *ring = &vdev->vqs[q].ring;
	struct iovec iov[CTRL_IOV_MAX];
	struct vhx_chain c;
	int r = -EINVAL;

	if (!ring->num)
		goto bad;		/* the ring did not start */
	do {
		while ((r = vhx_ring_get(ring, &c, iov, CTRL_IOV_MAX)) > 0) {
			r = vmm_ring_put(vdev, q, c.head,
					 ctrl_one(net, &c, iov));
			if (r < 0)
				break;
		}
		/*
		 * Ask for the next kick (avail_event under EVENT_IDX): the
		 * driver waits for each command's ack with rtnl held.
		 */
		if (!r)
			r = vhx_ring_notify_on(ring);
	} while (r > 0);
	if (!r)
		return;
bad:
	warnx_vm("%s: malformed control queue (%s); device needs reset",
		 net->name, strerror(-r));
	virtio_needs_reset(vdev);
}

static void net_config(struct virtio_dev *vdev, u32 off, u8 *data, int size,
		       bool is_write)
{
	struct net_dev *net = to_net(vdev);

	if (is_write)
		return;		/* the MAC is read-only without CTRL_MAC_ADDR */
	if (off + size > sizeof(net->config)) {
		memset(data, 0, size);
		return;
	}
	memcpy(data, (u8 *)&net->config + off, size);
}

/*
 * A MAC that is the same at every start with the same tap, and differs
 * between VMs on one host, which cannot share a tap: QEMU's locally
 * administered prefix and 24 bits of an FNV-1a hash of the tap's name.
 */
static void default_mac(struct net_dev *net)
{
	struct ifreq ifr = { 0 };
	u32 h = 2166136261u;
	const char *c;

	if (ioctl(net->tap_fd[0], TUNGETIFF, &ifr) < 0)
		die_errno("%s: TUNGETIFF", net->name);
	for (c = ifr.ifr_name; *c; c++)
		h = (h ^ (u8)*c) * 16777619u;
	net->config.mac[0] = 0x52;
	net->config.mac[1] = 0x54;
	net->config.mac[2] = 0x00;
	net->config.mac[3] = h >> 16;
	net->config.mac[4] = h >> 8;
	net->config.mac[5] = h;
}

/* The control socket's link command: the driver sees a config change. */
int virtio_net_set_link(int index, bool up)
{
	struct net_dev *net = index >= 0 && index < nr_nets ? nets[index] : NULL;

	if (!net)
		return -ENODEV;
	if (up)
		net->config.status |= VIRTIO_NET_S_LINK_UP;
	else
		net->config.status &= ~VIRTIO_NET_S_LINK_UP;
	virtio_config_changed(&net->vdev);
	return 0;
}

static const struct virtio_dev_ops net_ops = {
	.config = net_config,
	.start = net_start,
	.stop = net_stop,
	.notify = net_notify,
	.pause = net_pause,
	.vhost_of = net_vhost_of,
};

void virtio_net_create(struct vm *vm, struct net_opts *o)
{
	struct net_dev *net = xzalloc(sizeof(*net));
	struct virtio_dev *vdev = &net->vdev;
	int p, index = nr_nets++;

	nets[index] = net;

	snprintf(net->name, sizeof(net->name), "net%d", index);
	net->pairs = o->queues;
	if (o->macvtap) {
		macvtap_open(vm, net, o);
	} else if (o->tap[0]) {
		tap_open(vm, net, o);
	} else {
		char name[IFNAMSIZ];

		for (p = 0; p < net->pairs; p++)
			tap_check_fd(net, o->tapfds[p], p, name);
	}
	for (p = 0; p < net->pairs; p++) {
		tap_setup(net, p);
		net->vhost_fd[p] = vm_vhost_open(vm, o->vhost,
			"is the vhx module loaded? vhost=/dev/vhost-net uses upstream vhost-net");
	}
	net->vhost_features = vm_vhost_features(net->vhost_fd[0], o->vhost);

	vdev->name = net->name;
	vdev->ops = &net_ops;
	vdev->host_features = (net->vhost_features & RING_FEATURES) |
			      NET_FEATURES;
	if (net->pairs > 1)
		vdev->host_features |= 1ULL << VIRTIO_NET_F_MQ;

	if (o->mac_set)
		memcpy(net->config.mac, o->mac, 6);
	else
		default_mac(net);
	net->config.status = VIRTIO_NET_S_LINK_UP;
	net->config.max_virtqueue_pairs = net->pairs;
	net->curr_pairs = net->pairs;

	vdev->queue_size = o->queue_size;
	virtio_pci_init(vm, vdev, VIRTIO_ID_NET, 0x020000, 2 * net->pairs + 1);
}
