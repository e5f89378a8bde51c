#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of the e2e tests, run by the guest's init (scripts/
# mkguest.sh copies this directory into the initramfs):
#
#   check.sh ADDR PEER PAIRS DISKQUEUES [ADDR2 PEER2]
#
# Brings eth0 up at ADDR/24 with PAIRS queue pairs, pings PEER, runs iperf3
# against PEER both ways, resets the device by unbinding and rebinding its
# driver and pings again; with ADDR2, pings PEER2 through a second NIC,
# eth1.  With DISKQUEUES > 0 also checks that vda has that many queues,
# runs fio with verification on it, resets it (driver rebind) and compares
# its contents, checks that vdb is read-only and that vda has the serial
# and no discard that vhx-vm.sh's --disk options ask for.  Each check prints one
# "E2E-RESULT name ok|fail [detail]" line for the host side to turn into
# KTAP; the host expects them in this order.
addr=$1 peer=$2 pairs=$3 diskq=$4 addr2=${5:-} peer2=${6:-}

. /e2e/lib.sh

bitrate() {
	# the receiver's summary line of iperf3: "... 123 Mbits/sec ... receiver"
	awk '/receiver/ { print $(NF-2), $(NF-1) }' "$1" | tail -n 1
}

wait_for /sys/class/net/eth0
ip addr add "$addr/24" dev eth0 && ip link set eth0 up
ethtool -L eth0 combined "$pairs"
got=$(ethtool -l eth0 | awk '/Combined/ { n = $2 } END { print n }')
[ "$got" = "$pairs" ]
result queue-pairs $? "combined=$got"

# One control command after another on the same device: each needs its
# kick, and the driver waits for its ack with rtnl held.
cycle() {
	for n in 1 "$pairs" 1 "$pairs"; do
		ethtool -L eth0 combined "$n" &&
			ping -c 1 -W 5 "$peer" > /tmp/ping-cycle.log 2>&1 ||
			return 1
	done
}
cycle
rc=$?
[ $rc = 0 ] || cat /tmp/ping-cycle.log
result pairs-cycle $rc

ping -c 3 -W 5 "$peer" > /tmp/ping.log 2>&1
rc=$?
[ $rc = 0 ] || cat /tmp/ping.log
result ping $rc

iperf3 -c "$peer" -t 3 -P "$pairs" > /tmp/tx.log 2>&1
rc=$?
[ $rc = 0 ] || cat /tmp/tx.log
result iperf3-tx $rc "$(bitrate /tmp/tx.log)"

iperf3 -c "$peer" -t 3 -P "$pairs" -R > /tmp/rx.log 2>&1
rc=$?
[ $rc = 0 ] || cat /tmp/rx.log
result iperf3-rx $rc "$(bitrate /tmp/rx.log)"

# A driver unbind resets the device (status 0); the rebind sets it up again.
pci=$(basename "$(dirname "$(readlink -f /sys/class/net/eth0/device)")")
echo "$pci" > /sys/bus/pci/drivers/virtio-pci/unbind &&
	echo "$pci" > /sys/bus/pci/drivers/virtio-pci/bind &&
	wait_for /sys/class/net/eth0 &&
	ip addr add "$addr/24" dev eth0 && ip link set eth0 up &&
	ethtool -L eth0 combined "$pairs" &&
	ping -c 3 -W 5 "$peer" > /tmp/ping2.log 2>&1
rc=$?
[ $rc = 0 ] || cat /tmp/ping2.log
result reset-and-ping $rc

if [ -n "$addr2" ]; then
	wait_for /sys/class/net/eth1 &&
		ip addr add "$addr2/24" dev eth1 && ip link set eth1 up &&
		ping -c 3 -W 5 "$peer2" > /tmp/ping3.log 2>&1
	rc=$?
	[ $rc = 0 ] || cat /tmp/ping3.log
	result second-nic-ping $rc
fi

[ "$diskq" -gt 0 ] 2>/dev/null || exit 0
wait_for /sys/block/vda
nq=$(ls /sys/block/vda/mq 2>/dev/null | wc -l)
[ "$nq" = "$diskq" ]
result disk-queues $? "queues=$nq"

fio --name=verify --filename=/dev/vda --direct=1 --ioengine=psync \
	--rw=randwrite --bs=4k --size=8M --numjobs="$diskq" \
	--offset_increment=8M --verify=crc32c --verify_fatal=1 \
	--group_reporting > /tmp/fio.log 2>&1
rc=$?
grep -q 'err= 0' /tmp/fio.log || rc=1
[ $rc = 0 ] || cat /tmp/fio.log
result fio-verify $rc

# A driver rebind resets the disk as well; the data must survive it.
sum1=$(dd if=/dev/vda bs=1M count=16 2>/dev/null | md5sum)
pci=$(basename "$(dirname "$(readlink -f /sys/block/vda/device)")")
echo "$pci" > /sys/bus/pci/drivers/virtio-pci/unbind &&
	echo "$pci" > /sys/bus/pci/drivers/virtio-pci/bind &&
	wait_for /sys/block/vda &&
	sum2=$(dd if=/dev/vda bs=1M count=16 2>/dev/null | md5sum) &&
	[ "$sum1" = "$sum2" ]
result disk-reset $? "$pci"

# The device says read-only and the backend refuses writes all the same.
wait_for /sys/block/vdb
ro=$(cat /sys/block/vdb/ro 2>/dev/null)
if dd if=/dev/zero of=/dev/vdb bs=4096 count=1 conv=fsync 2>/dev/null; then
	wrote=yes
else
	wrote=no
fi
[ "$ro" = 1 ] && [ $wrote = no ]
result ro-disk $? "ro=$ro write-succeeded=$wrote"

# vda was given serial=vhx-e2e-vda,discard=off: the guest sees both.
serial=$(cat /sys/block/vda/serial 2>/dev/null)
discard=$(cat /sys/block/vda/queue/discard_max_bytes 2>/dev/null)
[ "$serial" = vhx-e2e-vda ] && [ "$discard" = 0 ]
result disk-options $? "serial='$serial' discard_max_bytes=$discard"
