#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A queue the data plane stops on a bad ring: vhx-vm must hear of it
# through the queue's ERR eventfd, say which device and queue stopped,
# mark the device NEEDS_RESET and tell the guest with a config interrupt,
# while its other devices run on.  A guest with one NIC (vhx-net) and one
# disk (vhx-blk) says when its receive queue is live; this side then
# overwrites that queue's avail ring with heads past the ring, through
# /proc/PID/mem at the guest physical address vhx-vm --verbose logs, and
# sends the guest a frame.  The guest reports what its device status and
# interrupts show and whether the disk still works (guest/needs-reset.sh);
# it then moves its disk's BAR0 onto the NIC's (vhx-vm must refuse to
# decode it, and say so, rather than die on KVM's refusal of a second
# ioeventfd at the same address) and back, clears the disk's bus
# mastering, drives the NIC's virtio handshake by hand (an unoffered
# feature bit: FEATURES_OK refused; DRIVER_OK without FEATURES_OK: not
# started, NEEDS_RESET), clears the bus mastering of a second disk on a
# null_blk that takes 1.5 s a request while a read is in flight (the write
# returns at once: the backend is stopped without vm->lock), and powers
# off.  The NIC has no mac=: its MAC must be vhx-vm's default
# for the tap's name, 52:54:00 and the low 24 bits of FNV-1a(name).
set -u
. "$(dirname "$0")/lib.bash"

guest_checks=(needs-reset config-irq disk-after disk-after-bar bus-master-off
	      features-ok-refused driver-ok-needs-features-ok slow-backend-stop)
need_kvm
ktap_plan $((7 + ${#guest_checks[@]}))

if [ ! -x "$vhx_vm" ] || [ ! -e /dev/vhx-net ] || [ ! -e /dev/vhx-blk ]; then
	diag "missing $vhx_vm, /dev/vhx-net or /dev/vhx-blk (is vhx.ko loaded?)"
	for t in default-mac corrupt-ring queue-stopped-logged \
		 "${guest_checks[@]}" bar-overlap-refused \
		 driver-ok-refusal-logged exit-status \
		 guest-kernel-clean; do
		ktap_result "$t" 1
	done
	exit 1
fi

truncate -s 16M "$work/disk.img"
slow=$(slow_nullb vhxerrslow 1500) || diag "cannot make the slow null_blk"
initrd=$(guest_initramfs "") || initrd=
setup_host_net 65 || diag "cannot set up the tap"
log=$work/console.log
mem_mb=256
run_guest "$log" timeout 250 "$vhx_vm" --verbose --kernel "$kernel" \
	--initrd "$initrd" --cpus 1 --memory $mem_mb --net "tap=$tap" \
	--disk "path=$work/disk.img" --disk "path=${slow:-/nonexistent}" \
	--cmdline "console=ttyS0 loglevel=5 panic=-1 -- \"/e2e/needs-reset.sh 10.65.0.2 10.65.0.1\"" &
guest_pid=$!

# Wait for the guest (or the VMM's end), then find the ring in the VMM.
for _ in $(seq 2400); do
	grep -q "vhx-guest: rx-ready" "$log" 2> /dev/null && break
	kill -0 $guest_pid 2> /dev/null || break
	sleep 0.1
done
want=$(python3 -c '
import sys
h = 2166136261
for c in sys.argv[1].encode():
    h = ((h ^ c) * 16777619) & 0xffffffff
print("52:54:00:%02x:%02x:%02x" % (h >> 16 & 255, h >> 8 & 255, h & 255))' "$tap")
got=$(sed -n 's/.*vhx-guest: mac \([0-9a-f:]*\).*/\1/p' "$log" | tail -n 1)
[ -n "$got" ] && [ "$got" = "$want" ]
ktap_result default-mac $? "guest eth0 ${got:-unknown}, expected $want"
pid=$(pgrep -nx vhx-vm)
avail=$(sed -n 's/.*vhx-vm: net0: queue 0: .* avail \(0x[0-9a-f]*\) .*/\1/p' "$log" | tail -n 1)
size=$(sed -n 's/.*vhx-vm: net0: queue 0: \([0-9]*\) entries.*/\1/p' "$log" | tail -n 1)
ram=
while read -r range _; do
	(( 0x${range#*-} - 0x${range%-*} == mem_mb << 20 )) || continue
	ram=${range%-*}
	break
done 2> /dev/null < "/proc/${pid:-0}/maps"
# Every entry of avail.ring[] (after flags and idx) becomes head 0xffff.
python3 - "${pid:-0}" "$((0x${ram:-0} + ${avail:-0} + 4))" "$((2 * ${size:-0}))" <<'PY' 2>&1 | sed 's/^/# /'
import sys
pid, at, n = (int(a) for a in sys.argv[1:])
if pid == 0 or n == 0 or at < (1 << 20):
    sys.exit("no VMM, ring or guest RAM found")
with open("/proc/%d/mem" % pid, "r+b", buffering=0) as mem:
    mem.seek(at)
    mem.write(b"\xff" * n)
PY
ok=${PIPESTATUS[0]}
ktap_result corrupt-ring $ok "vhx-vm ${pid:-not found}: RX ring of $size at $avail, RAM at 0x$ram"
ping -c 3 -i 0.5 -W 1 10.65.0.2 > /dev/null 2>&1	# a frame for the bad ring
wait $guest_pid
rc=$?

grep -q "vhx-vm: net0: queue 0 stopped by the data plane" "$log"
ktap_result queue-stopped-logged $?
report_guest "$log" "${guest_checks[@]}"
grep -Eq "vhx-vm: PCI 00:[0-9a-f]{2}\.0: BAR0 at 0x[0-9a-f]+ overlaps 00:[0-9a-f]{2}\.0's; not decoded" "$log"
ktap_result bar-overlap-refused $?
grep -q "vhx-vm: net0: DRIVER_OK without FEATURES_OK; device needs reset" "$log"
ktap_result driver-ok-refusal-logged $?
grep -q "vhx-guest: exit" "$log" && [ $rc = 0 ]
ktap_result exit-status $? "vhx-vm exit status $rc"
guest_console_clean "$log"
slow_nullb_remove vhxerrslow
[ $ktap_failed = 0 ] || show_log "$log"
exit $ktap_failed
