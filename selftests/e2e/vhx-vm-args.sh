#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vhx-vm refuses bad arguments and environments with a clear message and a
# non-zero exit status, before it runs a guest: exit 2 for usage errors,
# 1 for what it cannot open or use.
set -u
. "$(dirname "$0")/lib.bash"

check() {
	local name=$1 want=$2 regex=$3 rc out
	shift 3

	out=$(timeout 60 "$@" 2>&1 < /dev/null)
	rc=$?
	if [ "$rc" = "$want" ] && grep -Eq -- "$regex" <<< "$out"; then
		ktap_result "$name" 0
	else
		diag "$name: exit $rc (want $want), output:"
		sed 's/^/#   /' <<< "$out" | head -n 5
		ktap_result "$name" 1
	fi
}

need_kvm
ktap_plan 16

if [ ! -x "$vhx_vm" ]; then
	diag "no $vhx_vm (make user)"
	for i in $(seq 16); do
		ktap_result "case-$i" 1
	done
	exit 1
fi

k=$kernel
v=$vhx_vm
ip tuntap add dev vhxargs0 mode tap multi_queue 2>/dev/null
tap=vhxargs0	# removed by lib.bash's cleanup

check help 0 'usage: vhx-vm' "$v" --help
check no-kernel 2 'no --kernel given' "$v"
check unknown-flag 2 "unknown option '--bogus'" "$v" --kernel "$k" --bogus
check missing-value 2 "needs a value" "$v" --kernel
check bad-cpus 2 "--cpus: '0' is not a number" "$v" --kernel "$k" --cpus 0
check bad-memory 2 "--memory: 'lots' is not a number" "$v" --kernel "$k" --memory lots
check net-no-tap 2 "--net needs tap=NAME or tapfd=N" "$v" --kernel "$k" --net queues=2
check net-bad-mac 2 "bad mac" "$v" --kernel "$k" --net tap=x,mac=zz
check disk-no-path 2 "--disk needs path=FILE" "$v" --kernel "$k" --disk queues=2
check missing-tap 1 "tap 'nosuchtap9' does not exist" \
	"$v" --kernel "$k" --net tap=nosuchtap9
check bad-tapfd 1 "tapfd=77 is not an open file descriptor" \
	"$v" --kernel "$k" --net tapfd=77
check no-vhost-node 1 "cannot open /dev/vhx-nope: no such device node" \
	"$v" --kernel "$k" --net tap=vhxargs0,vhost=/dev/vhx-nope
check missing-kernel 1 "cannot open kernel '/nonexistent'" \
	"$v" --kernel /nonexistent
check not-bzimage 1 "is not a bzImage" "$v" --kernel /etc/hostname
check missing-disk 1 "cannot open disk '/nonexistent.img'" \
	"$v" --kernel "$k" --disk path=/nonexistent.img
# Without /dev/kvm (a private /dev in a new mount namespace).
check no-kvm 1 "cannot open /dev/kvm" \
	unshare -m sh -c "mount -t tmpfs none /dev && exec $v --kernel $k"
exit $ktap_failed
