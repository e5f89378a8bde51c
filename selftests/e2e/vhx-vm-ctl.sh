#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vhx-vm's control socket (--api-socket) through its client, vhx-vm ctl,
# on a guest with a NIC and a disk (guest/ctl.sh is the guest half):
# stats lists both devices started, with the module's counters per queue; a second VMM on the same socket path
# is refused; pause stops the guest's clock of ticks and resume restarts
# it, and while paused the NIC's receive queue takes nothing in; resize-disk grows the image and the guest sees the new capacity
# (config interrupt); link up=false takes the NIC's carrier away (config
# interrupt); an unknown command is an error; power-button makes the
# guest power off, and vhx-vm exits 0.  All of it under vhx-vm's seccomp
# filters, which every thread of it must have; a second guest then checks
# that a system call outside the main loop's allowlist (the ctl command
# debug-denied-syscall makes one) ends vhx-vm with a message; that guest
# has 3 vCPUs and checks the topology CPUID gives it (guest/topology.sh):
# one package of 3 single-thread cores, the last-level cache shared.
set -u
. "$(dirname "$0")/lib.bash"

names=(seccomp-every-thread ctl-stats ctl-socket-in-use ctl-pause-resume
       ctl-pause-data-plane ctl-resize-disk ctl-resize-under-io ctl-link-down
       ctl-bad-command ctl-power-button guest-kernel-clean topology-cores
       topology-caches seccomp-denied)
need_kvm
ktap_plan ${#names[@]}

if [ ! -x "$vhx_vm" ] || [ ! -e /dev/vhx-net ] || [ ! -e /dev/vhx-blk ]; then
	diag "missing $vhx_vm, /dev/vhx-net or /dev/vhx-blk (is vhx.ko loaded?)"
	for t in "${names[@]}"; do
		ktap_result "$t" 1
	done
	exit 1
fi

sock=$work/api.sock
ctl() { timeout 20 "$vhx_vm" ctl "$sock" "$@"; }
ticks() { grep -ac "vhx-guest: tick" "$log"; }
# When the guest stops talking: the UART's state and the vCPUs' exit
# counts twice, 2 s apart, and where vhx-vm's threads wait.
stuck() {
	diag "the guest did not say '$1': ctl stats: $(ctl stats | grep -o '"uart".*')"
	sleep 2
	diag "2 s later: $(ctl stats | grep -o '"uart".*')"
	vmm_threads "$(pgrep -nx vhx-vm)"
	show_log "$log" 15
}

truncate -s 16M "$work/disk.img"
initrd=$(guest_initramfs "") || initrd=
log=$work/console.log
run_guest "$log" timeout 250 "$vhx_vm" --kernel "$kernel" --initrd "$initrd" \
	--memory 256 --net tap=vhxctl69 --disk "path=$work/disk.img" \
	--api-socket "$sock" \
	--cmdline "console=ttyS0 loglevel=5 panic=-1 -- /e2e/ctl.sh" &
guest_pid=$!
wait_for_line "$log" "vhx-guest: ctl-ready" 150 || stuck ctl-ready

# Seccomp: 2 is filter mode, in /proc/PID/task/TID/status, for vhx-vm's
# own threads; the data plane's workers (vhx-net-*, vhx-blk-*: on 6.12
# threads of this process too) run only in the kernel.
pid=$(pgrep -nx vhx-vm)
threads=
for t in /proc/"${pid:-0}"/task/*; do
	comm=$(cat "$t/comm" 2> /dev/null) || continue
	case $comm in vhx-net-* | vhx-blk-*) continue ;; esac
	threads+=" $comm:$(awk '/^Seccomp:/ { print $2 }' "$t/status")"
done
grep -q " vhx-vm:2" <<< "$threads" && grep -q " vcpu0:2" <<< "$threads" &&
	grep -q " console:2" <<< "$threads" && ! grep -Eq ":[^2]" <<< "$threads"
ktap_result seccomp-every-thread $? "thread:Seccomp mode:${threads:- none}"

out=$(ctl stats)
python3 -c '
import json, sys
r = json.loads(sys.argv[1])
names = {d["name"]: d for d in r["devices"]}
assert r["ok"] and names["net0"]["started"] and names["blk0"]["started"]
assert len(names["net0"]["queues"]) == 3 and names["blk0"]["queues"][0]["used"] > 0
assert r["uart"]["ier"] & 1 and r["vcpus"][0]["exits"] > 0
# The module counts what the ring shows: the requests it completed are
# the used index (read first, while the guest writes and reads vda), and
# there were kicks and calls.
q = names["blk0"]["queues"][0]
assert (q["completed"] - q["used"]) % 65536 < 256 and q["completed"] > 0, q
assert q["kicks"] > 0 and q["calls"] > 0, q
assert "kicks" not in names["net0"]["queues"][2]	# the control queue
' "$out" 2> "$work/stats.err"
ktap_result ctl-stats $? "$(head -c 300 <<< "$out")"
[ -s "$work/stats.err" ] && sed 's/^/# /' "$work/stats.err" | tail -n 2

out=$(timeout 30 "$vhx_vm" --kernel "$kernel" --api-socket "$sock" 2>&1 < /dev/null)
rc=$?
[ $rc = 1 ] && grep -q "another VMM listens on it" <<< "$out"
ktap_result ctl-socket-in-use $? "exit $rc: $out"

# The receive queue's used index (net0's queue 0) in ctl stats.
rx_used() {
	ctl stats | python3 -c '
import json, sys
print(json.load(sys.stdin)["devices"][0]["queues"][0]["used"])'
}
# Frames the tap sends to the guest (broadcast, a local EtherType).
frames() {
	python3 -c '
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("vhxctl69", 0))
for _ in range(5):
    s.send(b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01\x88\xb5" + b"vhx" * 20)'
}

before=$(ticks)
ctl pause > "$work/pause.out"
rc=$?
rx0=$(rx_used)
frames
sleep 3
paused=$(ticks)
rx1=$(rx_used)
ctl resume > /dev/null
sleep 3
after=$(ticks)
rx2=$(rx_used)
[ $rc = 0 ] && [ $((paused - before)) -le 2 ] && [ $((after - paused)) -ge 3 ]
ktap_result ctl-pause-resume $? "ticks: $before, $paused after 3 s paused (pause: $(cat "$work/pause.out")), $after 3 s after resume"
# Paused, the data plane must not write guest memory either: frames sent
# then wait in the tap and arrive only after resume.
[ -n "$rx0" ] && [ "$rx1" = "$rx0" ] && [ "$rx2" -gt "$rx1" ]
ktap_result ctl-pause-data-plane $? "RX used index ${rx0:-none} paused, ${rx1:-none} 3 s after 5 frames, ${rx2:-none} 3 s after resume"

out=$(ctl resize-disk disk=0 size=33554432)
wait_for_line "$log" "vhx-guest: vda size" 60 || stuck "vda size"
got=$(sed -n 's/.*vhx-guest: vda size \([0-9]*\).*/\1/p' "$log" | tail -n 1)
[ "$got" = 65536 ] && [ "$(stat -c %s "$work/disk.img")" = 33554432 ]
ktap_result ctl-resize-disk $? "$out; the guest's vda: ${got:-unchanged} sectors (want 65536)"
rounds=$(sed -n 's/.*vhx-guest: io rounds \([0-9]*\).*/\1/p' "$log" | tail -n 1)
! grep -aq "vhx-guest: io error" "$log" && [ "${rounds:-0}" -gt 0 ]
ktap_result ctl-resize-under-io $? "${rounds:-no} rounds of direct writes and reads back while the disk was resized"

out=$(ctl link net=0 up=false)
wait_for_line "$log" "vhx-guest: carrier 0" 60 || stuck "carrier 0"
grep -aq "vhx-guest: carrier 0" "$log"
ktap_result ctl-link-down $? "$out"

out=$(ctl bogus)
rc=$?
[ $rc = 1 ] && grep -q "unknown command 'bogus'" <<< "$out"
ktap_result ctl-bad-command $? "exit $rc: $out"

out=$(ctl power-button)
wait_for_line "$log" "vhx-guest: power button pressed" 60 ||
	stuck "power button pressed"
wait $guest_pid
rc=$?
grep -aq "vhx-guest: power button pressed" "$log" && [ $rc = 0 ]
ktap_result ctl-power-button $? "$out; vhx-vm exit status $rc"
guest_console_clean "$log"
[ $ktap_failed = 0 ] || show_log "$log"

slog=$work/seccomp.log
log=$slog
# 3 vCPUs, more than the test VM's 2 cores per package (a host topology
# leaking through shows as a second package), on the test VM's 2 vCPUs:
# tsc=reliable spares the guest its TSC sync spins between vCPUs that
# share one.
seccomp_guest() {
	rm -f "$slog"
	run_guest "$slog" timeout 200 "$vhx_vm" --kernel "$kernel" \
		--initrd "$initrd" --cpus 3 --memory 256 --api-socket "$sock" \
		--cmdline "console=ttyS0 loglevel=5 panic=-1 tsc=reliable -- \"/e2e/topology.sh 3; echo vhx-guest: seccomp-ready; sleep 120\"" &
	guest_pid=$!
	for _ in $(seq 1000); do
		grep -aq "vhx-guest: seccomp-ready" "$slog" 2> /dev/null && return 0
		kill -0 $guest_pid 2> /dev/null || break
		sleep 0.1
	done
	return 1
}
if ! seccomp_guest; then
	if ap_reset_flake "$slog"; then
		diag "an AP ran from its power-on state (the nested-TCG flake, see lib.bash); once more"
		wait $guest_pid
		seccomp_guest || stuck "seccomp-ready"
	else
		stuck "seccomp-ready"
	fi
fi
ctl debug-denied-syscall > /dev/null
wait $guest_pid
rc=$?
report_guest "$slog" topology-cores topology-caches
# getppid is system call 110 on x86-64.
grep -aq "vhx-vm: seccomp: system call 110 is not in the allowlist of the main thread" "$slog" &&
	[ $rc = 1 ]
ktap_result seccomp-denied $? "vhx-vm exit status $rc: $(grep -ao 'seccomp: .*' "$slog" | head -n 1)"
exit $ktap_failed
