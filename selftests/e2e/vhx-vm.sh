#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# End to end through vhx-vm: a Linux guest with 2 vCPUs, virtio-net with 2
# queue pairs over a multiqueue tap served by /dev/vhx-net plus a second
# single-queue NIC, and, when /dev/vhx-blk exists, virtio-blk with 2 queues
# over a file plus a read-only disk.  The guest brings both pairs up, pings
# and runs iperf3 both ways against this VM, resets the NIC (driver rebind)
# and pings again, pings through the second NIC, verifies the disk with
# fio, resets the disk and compares it, checks the read-only disk refuses
# writes, then powers off; vhx-vm must exit 0.  Reports the time from starting vhx-vm to the guest's init.
set -u
. "$(dirname "$0")/lib.bash"

guest_checks=(queue-pairs pairs-cycle ping iperf3-tx iperf3-rx reset-and-ping second-nic-ping)
disk_checks=(disk-queues fio-verify disk-reset ro-disk disk-options)

need_kvm
ktap_plan $((3 + ${#guest_checks[@]} + ${#disk_checks[@]}))

if [ ! -x "$vhx_vm" ] || [ ! -e /dev/vhx-net ]; then
	diag "missing $vhx_vm or /dev/vhx-net (is vhx.ko loaded?)"
	for t in boot "${guest_checks[@]}" "${disk_checks[@]}" exit-status \
		 guest-kernel-clean; do
		ktap_result "$t" 1
	done
	exit 1
fi

disk_args=()
diskq=0
flavour=
if [ -e /dev/vhx-blk ]; then
	truncate -s 64M "$work/disk.img"
	truncate -s 1M "$work/ro.img"
	disk_args=(--disk "path=$work/disk.img,queues=2,serial=vhx-e2e-vda,discard=off"
		   --disk "path=$work/ro.img,ro")
	diskq=2
	flavour=-fio
fi
initrd=$(guest_initramfs "$flavour") || initrd=
setup_host_net 61 || diag "cannot set up the tap"
tap2=vhxe2e63
ip tuntap add dev $tap2 mode tap && ip addr add 10.63.0.1/24 dev $tap2 &&
	ip link set $tap2 up || diag "cannot set up the second tap"

log=$work/console.log
run_guest "$log" timeout 250 "$vhx_vm" --kernel "$kernel" --initrd "$initrd" \
	--cpus 2 --memory 512 \
	--net "tap=$tap,queues=2,vhost=/dev/vhx-net" \
	--net "tap=$tap2,mac=52:54:00:00:63:02" "${disk_args[@]}" \
	--cmdline "console=ttyS0 loglevel=5 panic=-1 -- \"/e2e/check.sh 10.61.0.2 10.61.0.1 2 $diskq 10.63.0.2 10.63.0.1\""
rc=$?
ip link del $tap2 2>/dev/null

[ -n "$boot_ms" ]
ktap_result boot $? "vhx-vm start to guest init: ${boot_ms:-never} ms ($(basename "$initrd"))"
report_guest "$log" "${guest_checks[@]}"
if [ "$diskq" -gt 0 ]; then
	report_guest "$log" "${disk_checks[@]}"
else
	for t in "${disk_checks[@]}"; do
		ktap_skip "$t" "no /dev/vhx-blk"
	done
fi
grep -q "vhx-guest: exit" "$log" && [ $rc = 0 ]
ktap_result exit-status $? "vhx-vm exit status $rc"
guest_console_clean "$log"
[ $ktap_failed = 0 ] || show_log "$log"
exit $ktap_failed
