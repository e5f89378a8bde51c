#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# How a guest ends, and the exit status vhx-vm gives a supervisor for it,
# with the smallest guest (no devices, one vCPU):
#   - "reboot -f" with --no-reboot: the reset reaches vhx-vm, which exits 3;
#   - a panic ("echo c > /proc/sysrq-trigger"): the guest's pvpanic driver
#     (bound to vhx-vm's ACPI QEMU0001 device) reports it, exit 4;
#   - "reboot -f" with reboot=t: the kernel resets by triple fault, which
#     vhx-vm takes for a crash, exit 4;
#   - SIGTERM presses the ACPI power button (guest/power-button.sh waits
#     for its input event, then powers off): exit 0;
#   - SIGTERM to a guest that ignores the button: vhx-vm gives up after
#     --shutdown-wait seconds, exit 5;
# and, without --no-reboot, a reboot in place: a guest with 2 vCPUs, a NIC
# and a disk reboots (guest/reboot.sh), boots again in the same vhx-vm,
# finds both vCPUs, its NIC and its disk working, and powers off: exit 0.
# Reports the time from starting vhx-vm to the guest's init with the
# initramfs without fio.
set -u
. "$(dirname "$0")/lib.bash"

need_kvm
reboot_checks=(reboot-cpus reboot-net reboot-disk)
names=(boot guest-command exit-on-reboot guest-kernel-clean pvpanic-bound
       exit-on-panic exit-on-triple-fault power-button sigterm-bounded
       reboot-in-place "${reboot_checks[@]}" reboot-kernel-clean)
ktap_plan ${#names[@]}

if [ ! -x "$vhx_vm" ]; then
	diag "no $vhx_vm (make user)"
	for t in "${names[@]}"; do
		ktap_result "$t" 1
	done
	exit 1
fi

initrd=$(guest_initramfs "") || initrd=
guest() {	# LOG CMDLINE-EXTRA COMMAND [OPTION...]
	local log=$1 extra=$2 cmd=$3
	shift 3

	run_guest "$log" timeout 200 "$vhx_vm" --kernel "$kernel" \
		--initrd "$initrd" --cpus 1 --memory 256 "$@" \
		--cmdline "console=ttyS0 loglevel=5 panic=-1 $extra -- \"$cmd\""
}

# sigterm_when LOG TEXT: SIGTERM to vhx-vm once LOG shows TEXT.
sigterm_when() {
	local i

	for i in $(seq 1500); do
		grep -aq "$2" "$1" 2> /dev/null && break
		sleep 0.1
	done
	sigterm_at=$(date +%s)
	pkill -TERM -nx vhx-vm
}

log=$work/console.log
guest "$log" "" "echo about-to-reboot; reboot -f" --no-reboot
rc=$?
[ -n "$boot_ms" ]
ktap_result boot $? "vhx-vm start to guest init: ${boot_ms:-never} ms ($(basename "$initrd"), 1 vCPU)"
grep -q "^about-to-reboot" "$log"
ktap_result guest-command $?
grep -q "vhx-vm: guest rebooted" "$log" && [ $rc = 3 ]
ktap_result exit-on-reboot $? "vhx-vm exit status $rc (3: reboot)"
guest_console_clean "$log"
[ $ktap_failed = 0 ] || show_log "$log"

# The panic's own report is expected on this console, so it is not
# splat-checked.
plog=$work/panic.log
guest "$plog" "" "ls /sys/bus/platform/drivers/pvpanic-mmio/ | grep -q QEMU0001 && echo pvpanic-bound; echo c > /proc/sysrq-trigger"
rc=$?
grep -q "^pvpanic-bound" "$plog"
ktap_result pvpanic-bound $? "the guest's pvpanic-mmio driver bound to QEMU0001"
grep -q "vhx-vm: guest panicked (pvpanic)" "$plog" && [ $rc = 4 ]
ktap_result exit-on-panic $? "vhx-vm exit status $rc (4: crash)"
[ $rc = 4 ] || show_log "$plog"

tlog=$work/triple.log
guest "$tlog" "reboot=t" "reboot -f"
rc=$?
grep -q "vhx-vm: guest crashed (triple fault)" "$tlog" && [ $rc = 4 ]
ktap_result exit-on-triple-fault $? "vhx-vm exit status $rc (4: crash)"
[ $rc = 4 ] || show_log "$tlog"

blog=$work/button.log
guest "$blog" "" "/e2e/power-button.sh" &
sigterm_when "$blog" "vhx-guest: button-ready"
wait $!
rc=$?
grep -aq "vhx-guest: power button pressed" "$blog" && [ $rc = 0 ]
ktap_result power-button $? "$(grep -ao 'button-ready.*' "$blog" | tr -d '\r'); vhx-vm exit status $rc (0: poweroff)"
[ $rc = 0 ] || show_log "$blog"

ilog=$work/ignore.log
guest "$ilog" "" "echo vhx-guest: ignoring the button; sleep 300" \
	--shutdown-wait 3 &
sigterm_when "$ilog" "vhx-guest: ignoring the button"
wait $!
rc=$?
took=$(($(date +%s) - sigterm_at))
grep -aq "vhx-vm: the guest did not power off in time after SIGTERM" "$ilog" &&
	[ $rc = 5 ] && [ $took -ge 3 ] && [ $took -le 30 ]
ktap_result sigterm-bounded $? "vhx-vm exit status $rc (5) $took s after SIGTERM (--shutdown-wait 3)"
[ $rc = 5 ] || show_log "$ilog"

rlog=$work/reboot.log
setup_host_net 70 || diag "cannot set up the tap"
truncate -s 16M "$work/reboot.img"
run_guest "$rlog" timeout 250 "$vhx_vm" --kernel "$kernel" --initrd "$initrd" \
	--cpus 2 --memory 256 --net "tap=$tap" --disk "path=$work/reboot.img" \
	--cmdline "console=ttyS0 loglevel=5 panic=-1 -- \"/e2e/reboot.sh 10.70.0.2 10.70.0.1 2\""
rc=$?
boots=$(grep -ac "vhx-guest: init" "$rlog")
[ "$boots" = 2 ] && [ $rc = 0 ] &&
	[ "$(grep -ac "vhx-vm: guest rebooted; booting it again" "$rlog")" = 1 ]
ktap_result reboot-in-place $? "$boots boots in one vhx-vm, exit status $rc"
report_guest "$rlog" "${reboot_checks[@]}"
guest_console_clean "$rlog" reboot-kernel-clean
[ $ktap_failed = 0 ] || show_log "$rlog"
exit $ktap_failed
