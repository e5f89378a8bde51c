#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vhx-vm's network back ends (guest/net-features.sh is the guest half): a
# guest with 2 vCPUs and two NICs, neither with queues= or mac=:
# - tap=vhxnew66, a tap that does not exist: vhx-vm creates it, up and
#   with multi_queue (queues=auto gives one pair per vCPU), and it is gone
#   once vhx-vm exits; the guest pings this side through it;
# - macvtap=vhxmvt67, a macvtap in bridge mode on one end of a veth pair:
#   vhx-vm opens its character device, gives the guest the macvtap's MAC,
#   and the guest pings the veth's other end.
# Then a second guest with pci=nomsi (INTx instead of MSI-X: vhx-vm reads
# the call eventfds, sets the ISR and raises the slot's IOAPIC line), a
# NIC with 2 pairs and a disk: traffic on both (guest/intx.sh), over rings
# of 1024 and 512 entries (queue-size=).
set -u
. "$(dirname "$0")/lib.bash"

guest_checks=(auto-pairs created-tap-ping macvtap-ping)
intx_checks=(intx-irqs intx-ping intx-disk queue-sizes)
need_kvm
ktap_plan $((7 + ${#guest_checks[@]} + ${#intx_checks[@]}))

new=vhxnew66
mvt=vhxmvt67
if [ ! -x "$vhx_vm" ] || [ ! -e /dev/vhx-net ] || [ ! -e /dev/vhx-blk ]; then
	diag "missing $vhx_vm, /dev/vhx-net or /dev/vhx-blk (is vhx.ko loaded?)"
	for t in tap-created "${guest_checks[@]}" macvtap-mac tap-removed \
		 exit-status guest-kernel-clean "${intx_checks[@]}" \
		 intx-exit-status intx-kernel-clean; do
		ktap_result "$t" 1
	done
	exit 1
fi
net_cleanup() {
	ip link del vhxv67a 2> /dev/null
	ip link del "$new" 2> /dev/null
	ip link del vhxnew68 2> /dev/null
	cleanup
}
trap net_cleanup EXIT

ip link del "$new" 2> /dev/null
ip link add vhxv67a type veth peer name vhxv67b &&
	ip link add link vhxv67a name "$mvt" type macvtap mode bridge &&
	ip link set vhxv67a up && ip link set "$mvt" up &&
	ip addr add 10.67.0.1/24 dev vhxv67b && ip link set vhxv67b up ||
	diag "cannot set up the veth and macvtap"
initrd=$(guest_initramfs "") || initrd=
log=$work/console.log
run_guest "$log" timeout 250 "$vhx_vm" --kernel "$kernel" --initrd "$initrd" \
	--cpus 2 --memory 256 --net "tap=$new" --net "macvtap=$mvt" \
	--cmdline "console=ttyS0 loglevel=5 panic=-1 -- \"/e2e/net-features.sh 10.66.0.2 10.66.0.1 10.67.0.2 10.67.0.1\"" &
guest_pid=$!

# The tap appears when vhx-vm starts; this side gets its address.
flags= up=
for _ in $(seq 300); do
	flags=$(cat "/sys/class/net/$new/tun_flags" 2> /dev/null)
	up=$(cat "/sys/class/net/$new/flags" 2> /dev/null)
	[ -n "$flags" ] && (( ${up:-0} & 1 )) && break
	sleep 0.1
done
ip addr add 10.66.0.1/24 dev "$new" 2> /dev/null
[ -n "$flags" ] && (( flags & 0x100 )) && (( ${up:-0} & 1 ))
ktap_result tap-created $? "tun_flags ${flags:-none} (multi_queue 0x100), flags ${up:-none} (up 0x1)"
wait $guest_pid
rc=$?

report_guest "$log" "${guest_checks[@]}"
got=$(sed -n 's/.*vhx-guest: eth1 mac \([0-9a-f:]*\).*/\1/p' "$log" | tail -n 1)
want=$(cat "/sys/class/net/$mvt/address" 2> /dev/null)
[ -n "$got" ] && [ "$got" = "$want" ]
ktap_result macvtap-mac $? "guest eth1 ${got:-unknown}, macvtap ${want:-unknown}"
for _ in $(seq 50); do
	[ -e "/sys/class/net/$new" ] || break
	sleep 0.1
done
[ -n "$flags" ] && [ ! -e "/sys/class/net/$new" ]
ktap_result tap-removed $? "after vhx-vm exited (it was there: ${flags:+yes})"
grep -q "vhx-guest: exit 0" "$log" && [ $rc = 0 ]
ktap_result exit-status $? "vhx-vm exit status $rc"
guest_console_clean "$log"
[ $ktap_failed = 0 ] || show_log "$log"

# INTx: the tap is made here this time (an address before the guest runs).
ip tuntap add dev vhxnew68 mode tap multi_queue &&
	ip addr add 10.68.0.1/24 dev vhxnew68 && ip link set vhxnew68 up ||
	diag "cannot set up vhxnew68"
truncate -s 16M "$work/intx.img"
ilog=$work/intx.log
run_guest "$ilog" timeout 250 "$vhx_vm" --kernel "$kernel" --initrd "$initrd" \
	--cpus 2 --memory 256 --net tap=vhxnew68,queue-size=1024 \
	--disk "path=$work/intx.img,queue-size=512" \
	--cmdline "console=ttyS0 loglevel=5 panic=-1 pci=nomsi -- \"/e2e/intx.sh 10.68.0.2 10.68.0.1\""
rc=$?
report_guest "$ilog" "${intx_checks[@]}"
grep -q "vhx-guest: exit 0" "$ilog" && [ $rc = 0 ]
ktap_result intx-exit-status $? "vhx-vm exit status $rc"
guest_console_clean "$ilog" intx-kernel-clean
[ $ktap_failed = 0 ] || show_log "$ilog"
exit $ktap_failed
