#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of qemu-migrate.sh, live migrated while it runs:
#
#   migrate.sh ADDR PEER PAIRS PORT
#
# Brings eth0 up at ADDR/24 with PAIRS queue pairs and waits until PEER
# answers (result net-up).  Then, for each queue pair i, fetches two
# streams that PEER serves over HTTP, with wget pinned to vCPU i:
# virtio-net's XPS sends the flows out on TX queue i, and the tap steers
# their data back to the queue they came from, RX queue i.  Stream qI
# (port PORT+i) is read as it comes; stream hI (PORT+5+i) is the held
# one: the host stops its reader through cgi-bin/hold of an httpd on
# port 8080 (held-cgi.sh) while the migration runs, so that what the
# device writes for it stays unread in guest memory until the host's
# cgi-bin/release, after the switch-over.  When PEER ends a stream,
# prints "E2E-MD5 NAME MD5 BYTES WGET-STATUS" for the host to compare with
# what it sent.  Meanwhile, once a second, prints "E2E-TICK n rx0=..
# tx0=.. ..." (per-queue interrupt counts of eth0): the host tells from
# these that the guest kept running after the switch-over and that every
# queue moved packets on the destination.  When all streams ended, pings
# PEER (result guest-ping) and exits.
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

# fetch NAME PORT CPU: the stream PEER serves on PORT, read by wget on
# vCPU CPU (its pid in /tmp/pid.NAME); "E2E-MD5 NAME MD5 BYTES STATUS"
# when it ends.
fetch() {
	mkfifo "/tmp/fifo.$1"
	wc -c < "/tmp/fifo.$1" > "/tmp/bytes.$1" &
	{
		sh -c 'echo $$ > "$1"; exec taskset -c "$2" wget -q -O - "$3"' \
			sh "/tmp/pid.$1" "$3" "http://$peer:$2/$1"
		echo $? > "/tmp/wget.$1"
	} | tee "/tmp/fifo.$1" | md5sum > "/tmp/md5.$1"
	wait
	echo "E2E-MD5 $1 $(cut -d' ' -f1 "/tmp/md5.$1") $(cat "/tmp/bytes.$1") $(cat "/tmp/wget.$1")"
	touch "/tmp/done.$1"
}

# The host stops and continues the readers of the held streams through
# http://ADDR:8080/cgi-bin/hold and /release (held-cgi.sh).
mkdir -p /tmp/www/cgi-bin
ln -s /e2e/held-cgi.sh /tmp/www/cgi-bin/hold
ln -s /e2e/held-cgi.sh /tmp/www/cgi-bin/release
httpd -p 8080 -h /tmp/www

i=0
while [ $i -lt "$pairs" ]; do
	fetch "q$i" $((port + i)) $i &
	fetch "h$i" $((port + 5 + i)) $i &
	i=$((i + 1))
done

n=0
while [ "$(ls /tmp/done.* 2> /dev/null | wc -l)" -lt $((2 * pairs)) ]; do
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
