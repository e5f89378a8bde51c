#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of vhx-vm-reboot.sh's reboot in place, run at each boot
# of the same vhx-vm (a mark on vda tells which):
#
#   reboot.sh ADDR PEER CPUS
#
# First boot: eth0 at ADDR/24 pings PEER, vda gets the mark, then
# "reboot -f".  Second boot: reports, as E2E-RESULT lines, reboot-cpus
# (CPUS vCPUs online again), reboot-net (PEER answers through eth0) and
# reboot-disk (vda writes and reads back, and held the mark), then powers
# off.
addr=$1 peer=$2 cpus=$3

. /e2e/lib.sh

wait_for /sys/class/net/eth0
ip addr add "$addr/24" dev eth0 && ip link set eth0 up
mark=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2> /dev/null | head -c 12)

if [ "$mark" != vhx-reboot-1 ]; then
	ping_until "$peer" || echo "vhx-guest: no ping before the reboot"
	printf vhx-reboot-1 > /tmp/mark
	dd if=/tmp/mark of=/dev/vda bs=512 count=1 conv=sync oflag=direct \
		2> /dev/null
	echo "vhx-guest: rebooting"
	reboot -f
	sleep 60
fi

echo "vhx-guest: second boot"
online=$(grep -c ^processor /proc/cpuinfo)
[ "$online" = "$cpus" ]
result reboot-cpus $? "$online vCPUs online (want $cpus)"
ping_until "$peer"
result reboot-net $? "$peer after $i tries"
head -c 65536 /dev/urandom > /tmp/pattern
dd if=/tmp/pattern of=/dev/vda bs=64k seek=1 count=1 oflag=direct 2> /dev/null &&
	dd if=/dev/vda of=/tmp/back bs=64k skip=1 count=1 iflag=direct \
		2> /dev/null &&
	cmp -s /tmp/pattern /tmp/back
result reboot-disk $? "the mark read back: $mark"
