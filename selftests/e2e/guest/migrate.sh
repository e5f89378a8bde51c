#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of qemu-migrate.sh, live migrated while it runs:
#
#   migrate.sh ADDR PEER PAIRS PORT
#
# Brings eth0 up at ADDR/24 with PAIRS queue pairs and waits until PEER
# answers (result net-up).  Then, for each queue pair i, fetches the
# stream that PEER serves on port PORT+i over HTTP, with wget pinned to
# vCPU i: virtio-net's XPS sends the flow out on TX queue i, and the tap
# steers its data back to the queue the flow came from, RX queue i.  When
# PEER ends a stream, prints "E2E-MD5 i MD5 BYTES WGET-STATUS" for the host
# to compare with what it sent.  Meanwhile, once a second, prints
# "E2E-TICK n rx0=.. tx0=.. ..." (per-queue interrupt counts of eth0): the
# host tells from these that the guest kept running after the switch-over
# and that every queue moved packets on the destination.  When all
# streams ended, pings PEER (result guest-ping) and exits.
#
# Nothing here knows about the migration: the guest is not reconfigured.
addr=$1 peer=$2 pairs=$3 port=$4

. /e2e/lib.sh

# " rx0=N tx0=N rx1=N ...": interrupts of each queue of eth0 so far,
# that is, calls from the device for used buffers (virtio_net's per-queue
# packet counters are not in ethtool -S on 6.12).
queue_counters() {
	q=0
	while [ $q -lt "$pairs" ]; do
		printf ' rx%d=%s tx%d=%s' $q "$(irq_count "$vdev-input.$q")" \
			$q "$(irq_count "$vdev-output.$q")"
		q=$((q + 1))
	done
}

wait_for /sys/class/net/eth0
vdev=$(basename "$(readlink -f /sys/class/net/eth0/device)")
ip addr add "$addr/24" dev eth0 && ip link set eth0 up
[ "$pairs" -le 1 ] || ethtool -L eth0 combined "$pairs"
got=$(ethtool -l eth0 | awk '/Combined/ { n = $2 } END { print n }')
ping_until "$peer" && [ "$got" = "$pairs" ]
result net-up $? "combined=$got"

i=0
while [ $i -lt "$pairs" ]; do
	(
		mkfifo /tmp/fifo.$i
		wc -c < /tmp/fifo.$i > /tmp/bytes.$i &
		{
			taskset -c $i wget -q -O - "http://$peer:$((port + i))/$i"
			echo $? > /tmp/wget.$i
		} | tee /tmp/fifo.$i | md5sum > /tmp/md5.$i
		wait
		echo "E2E-MD5 $i $(cut -d' ' -f1 /tmp/md5.$i) $(cat /tmp/bytes.$i) $(cat /tmp/wget.$i)"
		touch /tmp/done.$i
	) &
	i=$((i + 1))
done

n=0
while [ "$(ls /tmp/done.* 2> /dev/null | wc -l)" -lt "$pairs" ]; do
	n=$((n + 1))
	echo "E2E-TICK $n$(queue_counters)"
	sleep 1
done
wait
echo "E2E-TICK $((n + 1))$(queue_counters)"

ping -c 3 -W 5 "$peer" > /tmp/ping.log 2>&1
rc=$?
[ $rc = 0 ] || cat /tmp/ping.log
result guest-ping $rc
