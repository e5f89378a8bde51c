#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of vhx-vm-ctl.sh: brings eth0 up and says
# "vhx-guest: ctl-ready"; prints "vhx-guest: tick N" five times a second
# (the host pauses and resumes the vCPUs); then reports, each as the host
# makes it happen, "vhx-guest: vda size SECTORS" once vda's capacity
# changes, "vhx-guest: carrier 0" once eth0 loses its link, and
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

wait_until '[ "$(cat /sys/block/vda/size)" != "$size" ]'
echo "vhx-guest: vda size $(cat /sys/block/vda/size)"
wait_until '[ "$(cat /sys/class/net/eth0/carrier)" = 0 ]'
echo "vhx-guest: carrier $(cat /sys/class/net/eth0/carrier)"
head -c 24 /dev/input/event0 > /dev/null && echo "vhx-guest: power button pressed"
kill $ticker
