#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vhx-vm with the smallest guest (no devices, one vCPU): the guest reaches
# init and runs "reboot -f"; vhx-vm must notice the reset and exit 0.
# Reports the time from starting vhx-vm to the guest's init with the
# initramfs without fio.
set -u
. "$(dirname "$0")/lib.bash"

need_kvm
ktap_plan 4

if [ ! -x "$vhx_vm" ]; then
	diag "no $vhx_vm (make user)"
	for t in boot guest-command exit-on-reboot guest-kernel-clean; do
		ktap_result "$t" 1
	done
	exit 1
fi

initrd=$(guest_initramfs "") || initrd=
log=$work/console.log
run_guest "$log" timeout 200 "$vhx_vm" --kernel "$kernel" --initrd "$initrd" \
	--cpus 1 --memory 256 \
	--cmdline "console=ttyS0 loglevel=5 panic=-1 -- \"echo about-to-reboot; reboot -f\""
rc=$?

[ -n "$boot_ms" ]
ktap_result boot $? "vhx-vm start to guest init: ${boot_ms:-never} ms ($(basename "$initrd"), 1 vCPU)"
grep -q "^about-to-reboot" "$log"
ktap_result guest-command $?
grep -q "vhx-vm: guest rebooted" "$log" && [ $rc = 0 ]
ktap_result exit-on-reboot $? "vhx-vm exit status $rc"
guest_console_clean "$log"
[ $ktap_failed = 0 ] || show_log "$log"
exit $ktap_failed
