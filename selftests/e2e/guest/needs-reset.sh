#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of vhx-vm-err.sh:
#
#   needs-reset.sh ADDR PEER
#
# Brings eth0 up at ADDR/24, pings PEER, prints its MAC and says
# "vhx-guest: rx-ready";
# the host then corrupts eth0's first receive queue and sends a frame.
# Reports, as "E2E-RESULT name ok|fail [detail]" lines in this order:
# needs-reset (eth0's virtio device sets NEEDS_RESET, 0x40, in its status
# within 60 s), config-irq (its config interrupt came since rx-ready),
# disk-after (vda, another device, still writes and reads back), then
# disk-after-bar (vda's BAR0 moved onto eth0's, which vhx-vm must refuse to
# decode rather than die, and back: vda still works) and bus-master-off
# (vda's PCI bus mastering cleared: its device stops, with NEEDS_RESET),
# features-ok-refused and driver-ok-needs-features-ok (the handshake by
# hand on eth0) and slow-backend-stop (the same as bus-master-off on vdb,
# whose backend is slow, without holding up the vCPU).
addr=$1 peer=$2

. /e2e/lib.sh

# Interrupts of the config vector of virtio device $1 so far.
config_irqs() {
	irq_count "$1-config"
}

wait_for /sys/class/net/eth0
ip addr add "$addr/24" dev eth0 && ip link set eth0 up
ping -c 1 -W 5 "$peer" > /dev/null 2>&1 || echo "vhx-guest: no ping to $peer"
dev=$(basename "$(readlink -f /sys/class/net/eth0/device)")
before=$(config_irqs "$dev")
echo "vhx-guest: mac $(cat /sys/class/net/eth0/address)"
echo "vhx-guest: rx-ready $dev, config interrupts ${before:-none}"

status=0
i=0
while [ $i -lt 600 ]; do
	status=$(cat "/sys/bus/virtio/devices/$dev/status")
	[ $((status & 0x40)) = 0 ] || break
	sleep 0.1
	i=$((i + 1))
done
[ $((status & 0x40)) != 0 ]
result needs-reset $? "status $status after $((i / 10)) s"

after=$(config_irqs "$dev")
[ "${after:-0}" -gt "${before:-0}" ]
result config-irq $? "config interrupts ${before:-none} -> ${after:-none}"

# A direct write and read back on the disk.
disk_works() {
	head -c 65536 /dev/urandom > /tmp/pattern
	dd if=/tmp/pattern of=/dev/vda bs=64k count=1 oflag=direct 2> /dev/null &&
		dd if=/dev/vda of=/tmp/back bs=64k count=1 iflag=direct \
			2> /dev/null &&
		cmp -s /tmp/pattern /tmp/back
}

# Another device runs on.
disk_works
result disk-after $?

# The PCI function behind a virtio device's sysfs directory.
pci_of() {
	echo "/sys/bus/pci/devices/$(basename "$(dirname "$(readlink -f "$1")")")"
}
vda_pci=$(pci_of /sys/block/vda/device)
eth_pci=$(pci_of /sys/class/net/eth0/device)
bar0() {
	dd if="$1/config" bs=4 skip=4 count=1 2> /dev/null | od -An -tx4 | tr -d ' '
}
dd if="$vda_pci/config" of=/tmp/vda-bar bs=4 skip=4 count=1 2> /dev/null
dd if="$eth_pci/config" of=/tmp/eth-bar bs=4 skip=4 count=1 2> /dev/null
dd if=/tmp/eth-bar of="$vda_pci/config" bs=4 seek=4 count=1 conv=notrunc \
	2> /dev/null
moved=$(bar0 "$vda_pci")
echo "vhx-guest: vda BAR0 $(od -An -tx4 /tmp/vda-bar | tr -d ' ') -> $moved (eth0's $(bar0 "$eth_pci"))"
sleep 1
dd if=/tmp/vda-bar of="$vda_pci/config" bs=4 seek=4 count=1 conv=notrunc \
	2> /dev/null
disk_works
result disk-after-bar $? "vda BAR0 back at $(bar0 "$vda_pci")"

# Bus mastering off (as a kernel about to kexec does) stops the device.
cmd=$(dd if="$vda_pci/config" bs=2 skip=2 count=1 2> /dev/null | od -An -tu2 | tr -d ' ')
cmd=$((cmd & ~4))
printf "\\$(printf %o $((cmd & 255)))\\$(printf %o $((cmd >> 8)))" |
	dd of="$vda_pci/config" bs=2 seek=2 count=1 conv=notrunc 2> /dev/null
vda_virtio=$(basename "$(readlink -f /sys/block/vda/device)")
i=0
while [ $i -lt 50 ]; do
	status=$(cat "/sys/bus/virtio/devices/$vda_virtio/status")
	[ $((status & 0x40)) = 0 ] || break
	sleep 0.1
	i=$((i + 1))
done
[ $((status & 0x40)) != 0 ]
result bus-master-off $? "vda status $status with bus mastering off"

# The virtio handshake driven by hand on eth0's function, with virtio-pci
# unbound from it (which resets the device and gives up its BAR, so that
# /dev/mem may map it).  A feature bit vhx-vm did not offer must make it
# refuse FEATURES_OK; DRIVER_OK without FEATURES_OK must not start the
# device: NEEDS_RESET instead (vhx-vm logs it; vhx-vm-err.sh checks).
echo "$(basename "$eth_pci")" > /sys/bus/pci/drivers/virtio-pci/unbind
bar=$(($(cut -d' ' -f1 "$eth_pci/resource" | head -n 1)))
cfg() {	# cfg OFFSET WIDTH [VALUE]: eth0's common configuration
	devmem $((bar + $1)) "$2" ${3:+"$3"}
}
cfg 0x14 8 0
cfg 0x14 8 3
cfg 0x08 32 1
cfg 0x0c 32 0x40000001	# VERSION_1 and bit 62, never offered
cfg 0x14 8 11
status=$(($(cfg 0x14 8)))
[ $((status & 8)) = 0 ]
result features-ok-refused $? "status $status after FEATURES_OK with feature bit 62"
cfg 0x14 8 0
cfg 0x14 8 3
cfg 0x14 8 7
status=$(($(cfg 0x14 8)))
[ $((status & 0x40)) != 0 ]
result driver-ok-needs-features-ok $? "status $status after DRIVER_OK without FEATURES_OK"

# vdb's backend takes 1.5 s a request (null_blk): its bus mastering
# cleared with a read in flight.  The config write must return at once, the
# backend being stopped without vm->lock (which every vCPU exit needs),
# and the device stop with NEEDS_RESET once the read is done.
uptime_ms() {
	awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime
}
vdb_pci=$(pci_of /sys/block/vdb/device)
vdb_virtio=$(basename "$(readlink -f /sys/block/vdb/device)")
dd if=/dev/vdb of=/dev/null bs=4096 count=1 iflag=direct 2> /dev/null &
i=0
while [ "$(awk '{ print $1 }' /sys/block/vdb/inflight)" = 0 ] && [ $i -lt 50 ]; do
	sleep 0.05
	i=$((i + 1))
done
cmd=$(dd if="$vdb_pci/config" bs=2 skip=2 count=1 2> /dev/null | od -An -tu2 | tr -d ' ')
cmd=$((cmd & ~4))
t0=$(uptime_ms)
printf "\\$(printf %o $((cmd & 255)))\\$(printf %o $((cmd >> 8)))" |
	dd of="$vdb_pci/config" bs=2 seek=2 count=1 conv=notrunc 2> /dev/null
took=$(($(uptime_ms) - t0))
i=0
while [ $i -lt 100 ]; do
	status=$(cat "/sys/bus/virtio/devices/$vdb_virtio/status")
	[ $((status & 0x40)) = 0 ] || break
	sleep 0.1
	i=$((i + 1))
done
[ $took -lt 500 ] && [ $((status & 0x40)) != 0 ]
result slow-backend-stop $? "the config write took $took ms; vdb status $status $((i / 10)) s later"
