#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of vhx-vm-net.sh:
#
#   net-features.sh ADDR PEER ADDR2 PEER2
#
# eth0 is on a tap vhx-vm created, with queues=auto on 2 vCPUs; eth1 is on
# a macvtap.  Reports, as E2E-RESULT lines in this order: auto-pairs (eth0
# offers and uses 2 queue pairs), created-tap-ping (PEER answers through
# eth0 at ADDR/24) and macvtap-ping (PEER2 answers through eth1 at
# ADDR2/24); prints eth1's MAC as "vhx-guest: eth1 mac MAC".
addr=$1 peer=$2 addr2=$3 peer2=$4

. /e2e/lib.sh

wait_for /sys/class/net/eth1
pairs=$(ethtool -l eth0 | awk '/Combined/ { n = $2 } END { print n }')
[ "$pairs" = 2 ]
result auto-pairs $? "combined=$pairs"

ip addr add "$addr/24" dev eth0 && ip link set eth0 up
ping_until "$peer"
result created-tap-ping $?

echo "vhx-guest: eth1 mac $(cat /sys/class/net/eth1/address)"
ip addr add "$addr2/24" dev eth1 && ip link set eth1 up
ping_until "$peer2"
result macvtap-ping $?
