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

# Open the tap queues and the vhost fds, then exec QEMU with them: QEMU
# takes vhostfds= only together with fds=, and bash cannot TUNSETIFF.
cat > "$work/with-fds.py" <<'PY'
import fcntl, os, struct, sys

TUNSETIFF = 0x400454ca
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE = 0x2, 0x1000, 0x4000, 0x100
tap, argv = sys.argv[1], sys.argv[2:]
taps, vhosts = [], []
for _ in range(2):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), flags))
    taps.append(fd)
    vhosts.append(os.open("/dev/vhx-net", os.O_RDWR))
for fd in taps + vhosts:
    os.set_inheritable(fd, True)
netdev = "tap,id=n0,vhost=on,fds=%s,vhostfds=%s" % (
    ":".join(map(str, taps)), ":".join(map(str, vhosts)))
os.execvp(argv[0], [a.replace("@NETDEV@", netdev) for a in argv])
PY

log=$work/console.log
run_guest "$log" timeout 250 python3 "$work/with-fds.py" "$tap" "$qemu" -enable-kvm -cpu host -smp 2 \
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
