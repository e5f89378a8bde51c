#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of vhx-vm-net.sh's INTx boot (pci=nomsi: no MSI-X, so
# every virtio interrupt is the ISR and a level-triggered IOAPIC line):
#
#   intx.sh ADDR PEER
#
# Reports, as E2E-RESULT lines in this order: intx-irqs (the virtio
# devices' interrupts are IO-APIC lines, none is MSI), intx-ping (PEER
# answers through eth0 at ADDR/24, with 2 queue pairs set through the
# control queue), intx-disk (vda writes and reads back, and the
# interrupts of its own line grow) and queue-sizes (the rings are as large
# as vhx-vm's queue-size= offered).
addr=$1 peer=$2

. /e2e/lib.sh

wait_for /sys/class/net/eth0
irqs=$(grep virtio /proc/interrupts)
! echo "$irqs" | grep -q MSI && echo "$irqs" | grep -q IO-APIC
result intx-irqs $? "$(echo "$irqs" | awk '{ print $(NF-2), $(NF-1), $NF }' | tr '\n' ';')"

ethtool -L eth0 combined 2
ip addr add "$addr/24" dev eth0 && ip link set eth0 up
ping_until "$peer"
result intx-ping $? "$(ethtool -l eth0 | awk '/Combined/ { n = $2 } END { print "combined=" n }')"

# Interrupts so far on the IOAPIC line of virtio device $1, alone on it.
line_irqs() {
	irq_count "$1" IO-APIC
}

vda=$(basename "$(readlink -f /sys/block/vda/device)")
before=$(line_irqs "$vda")
head -c 65536 /dev/urandom > /tmp/pattern
dd if=/tmp/pattern of=/dev/vda bs=64k count=1 oflag=direct 2> /dev/null &&
	dd if=/dev/vda of=/tmp/back bs=64k count=1 iflag=direct 2> /dev/null &&
	cmp -s /tmp/pattern /tmp/back &&
	[ "$(line_irqs "$vda")" -gt "${before:-999999999}" ]
result intx-disk $? "$vda's line: ${before:-none} -> $(line_irqs "$vda") interrupts"

# vhx-vm offers the rings of queue-size= (eth0 1024, vda 512): virtio_net
# shows its ring as the RX maximum, virtio_blk makes it vda's tag count.
rx=$(ethtool -g eth0 | awk '/^RX:/ { print $2; exit }')
tags=$(cat /sys/block/vda/mq/0/nr_tags)
[ "$rx" = 1024 ] && [ "$tags" = 512 ]
result queue-sizes $? "eth0 RX ring ${rx:-none} (want 1024), vda tags ${tags:-none} (want 512)"
