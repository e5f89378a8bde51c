#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# End to end through unmodified QEMU: qemu-system-x86_64 -enable-kvm (nested
# KVM in the test VM) with -netdev tap,fds=...,vhost=on,vhostfds=...,
# where the vhost fds are opens of /dev/vhx-net and the tap fds are queues
# of a multiqueue tap: 2 queue pairs.  The guest runs the same network
# checks as with vhx-vm.  Reports QEMU's time from start to the guest's
# init, for comparison with vhx-vm's in vhx-vm.sh (same kernel, same
# initramfs choice).
set -u
. "$(dirname "$0")/lib.bash"

guest_checks=(queue-pairs pairs-cycle ping iperf3-tx iperf3-rx reset-and-ping)

need_kvm
ktap_plan $((3 + ${#guest_checks[@]}))

qemu=$(command -v qemu-system-x86_64)
if [ -z "$qemu" ] || [ ! -e /dev/vhx-net ] || ! command -v python3 >/dev/null; then
	diag "need qemu-system-x86_64, python3 and /dev/vhx-net (is vhx.ko loaded?)"
	for t in boot "${guest_checks[@]}" exit-status guest-kernel-clean; do
		ktap_result "$t" 1
	done
	exit 1
fi

flavour=
[ -e /dev/vhx-blk ] && flavour=-fio	# the same initramfs as vhx-vm.sh
initrd=$(guest_initramfs "$flavour") || initrd=
setup_host_net 62 || diag "cannot set up the tap"

# The tap queues and the vhost fds are opened by lib.bash's wrapper.
with_fds=$(qemu_fds_wrapper)

log=$work/console.log
run_guest "$log" timeout 250 python3 "$with_fds" "$tap" /dev/vhx-net 2 "$qemu" -enable-kvm -cpu host -smp 2 \
	-m 512 -nodefaults -no-user-config -display none -no-reboot \
	-serial stdio -kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 loglevel=5 panic=-1 -- \"/e2e/check.sh 10.62.0.2 10.62.0.1 2 0\"" \
	-netdev @NETDEV@ \
	-device virtio-net-pci,netdev=n0,mq=on,vectors=6,mac=52:54:00:12:34:62
rc=$?

[ -n "$boot_ms" ]
ktap_result boot $? "QEMU start to guest init: ${boot_ms:-never} ms ($(basename "$initrd"))"
report_guest "$log" "${guest_checks[@]}"
grep -q "vhx-guest: exit" "$log" && [ $rc = 0 ]
ktap_result exit-status $? "QEMU exit status $rc"
guest_console_clean "$log"
[ $ktap_failed = 0 ] || show_log "$log"
exit $ktap_failed
