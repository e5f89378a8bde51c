#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of `make demo` (scripts/demo-vm.sh starts it):
#
#   demo.sh ADDR PEER PAIRS
#
# Shows what the guest sees (CPUs, queue pairs of eth0, queues of vda),
# then runs iperf3 against PEER both ways and fio on vda, both served by
# vhx in the host, and prints their summaries.
. /e2e/lib.sh

addr=$1 peer=$2 pairs=$3

wait_for /sys/class/net/eth0
ip addr add "$addr/24" dev eth0 && ip link set eth0 up
ethtool -L eth0 combined "$pairs"
echo "demo: $(nproc) vCPUs;" \
     "eth0 $(ethtool -l eth0 | awk '/Combined/ { n = $2 } END { print n }') queue pairs;" \
     "vda $(ls /sys/block/vda/mq 2>/dev/null | wc -l) queues," \
     "$(($(cat /sys/block/vda/size) / 2048)) MiB"
ping -c 2 -W 5 "$peer" > /dev/null || echo "demo: no ping reply from $peer"

echo "demo: iperf3 guest -> host, 5 s"
iperf3 -c "$peer" -t 5 -P "$pairs" | grep -E 'SUM.*(sender|receiver)|^\[ *[0-9]+\].*(sender|receiver)' | tail -n 2
echo "demo: iperf3 host -> guest, 5 s"
iperf3 -c "$peer" -t 5 -P "$pairs" -R | grep -E 'SUM.*(sender|receiver)|^\[ *[0-9]+\].*(sender|receiver)' | tail -n 2

for rw in randwrite randread; do
	echo "demo: fio 4 KiB $rw, queue depth 32, 5 s"
	fio --name=demo --filename=/dev/vda --direct=1 --ioengine=libaio \
		--iodepth=32 --rw=$rw --bs=4k --size=32M --time_based \
		--runtime=5 --numjobs=1 | grep -E '^ *(read|write):|lat \(usec\): min'
done
