#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of vhx-vm-ctl.sh: brings eth0 up and says
# "vhx-guest: ctl-ready"; prints "vhx-guest: tick N" five times a second
# (the host pauses and resumes the vCPUs) and writes and reads back vda
# until its capacity changes; then reports, each as the host makes it
# happen, "vhx-guest: io rounds N" (or "io error") and "vhx-guest: vda
# size SECTORS" once vda's capacity changes, "vhx-guest: carrier 0" once eth0 loses its link, and
# "vhx-guest: power button pressed" at the ACPI power button's first
# input event.  Each wait gives up after a minute.
wait_until() {	# SHELL-TEST
	i=0
	while ! eval "$1" && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

ip link set eth0 up
wait_until '[ "$(cat /sys/class/net/eth0/carrier 2> /dev/null)" = 1 ]'
size=$(cat /sys/block/vda/size)
echo "vhx-guest: ctl-ready vda size $size"
( i=0; while :; do echo "vhx-guest: tick $i"; i=$((i + 1)); sleep 0.2; done ) &
ticker=$!
# Direct writes and reads back on vda until it is resized: the module
# takes the new size while requests are in flight.
head -c 262144 /dev/urandom > /tmp/w
( n=0
  while [ ! -e /tmp/resized ]; do
	dd if=/tmp/w of=/dev/vda bs=64k count=4 oflag=direct 2> /dev/null &&
		dd if=/dev/vda of=/tmp/r bs=64k count=4 iflag=direct 2> /dev/null &&
		cmp -s /tmp/w /tmp/r || { echo "vhx-guest: io error in round $n"; break; }
	n=$((n + 1))
  done
  echo "vhx-guest: io rounds $n" ) &
io=$!

wait_until '[ "$(cat /sys/block/vda/size)" != "$size" ]'
touch /tmp/resized
wait $io
echo "vhx-guest: vda size $(cat /sys/block/vda/size)"
wait_until '[ "$(cat /sys/class/net/eth0/carrier)" = 0 ]'
echo "vhx-guest: carrier $(cat /sys/class/net/eth0/carrier)"
head -c 24 /dev/input/event0 > /dev/null && echo "vhx-guest: power button pressed"
kill $ticker
