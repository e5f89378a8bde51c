# SPDX-License-Identifier: GPL-2.0
#
# Shared by the e2e tests: KTAP output, the L1 side of the network (a
# multiqueue tap and an iperf3 server), the guest initramfs, and running a
# VMM with its console captured and the time to the guest's init measured.
# Sourced, not run (not named *.sh, so that selftests/run.sh leaves it).  The tests run as root inside the test VM.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# VHX_VM: another vhx-vm than the tree's (make check runs one test with
# the installed vhx-tools' /usr/bin/vhx-vm).
vhx_vm=${VHX_VM:-$top/build/user/vhx-vm}
kver=$(uname -r)
kernel=/boot/vmlinuz-$kver
work=$(mktemp -d /tmp/vhx-e2e.XXXXXX)
tap=
iperf_pid=
ktap_n=0
ktap_failed=0

cleanup() {
	[ -z "$iperf_pid" ] || kill "$iperf_pid" 2>/dev/null
	[ -z "$tap" ] || ip link del "$tap" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

ktap_plan() {
	echo "TAP version 13"
	echo "1..$1"
}

# ktap_result NAME STATUS [DETAIL]: STATUS 0 is ok.  NAME is prefixed
# with $ktap_prefix (empty unless a test runs its checks more than once,
# one set per case).
ktap_result() {
	local name=${ktap_prefix:-}$1

	ktap_n=$((ktap_n + 1))
	[ -z "${3:-}" ] || echo "# $name: $3"
	if [ "$2" = 0 ]; then
		echo "ok $ktap_n - $name"
	else
		echo "not ok $ktap_n - $name"
		ktap_failed=1
	fi
}

ktap_skip() {
	ktap_n=$((ktap_n + 1))
	echo "ok $ktap_n - ${ktap_prefix:-}$1 # SKIP $2"
}

diag() {
	echo "# $*"
}

# Everything a test cannot run without; bail out with a plan of 0 if absent.
need_kvm() {
	if [ ! -e /dev/kvm ]; then
		modprobe kvm_amd nested=1 2>/dev/null ||
			modprobe kvm_intel nested=1 2>/dev/null
	fi
	if [ ! -e /dev/kvm ]; then
		echo "TAP version 13"
		echo "1..0 # SKIP no /dev/kvm (modprobe kvm_amd nested=1 failed)"
		exit 0
	fi
}

# The guest initramfs: the prebuilt one (build/guest, from
# scripts/mkguest.sh) when it was made from the current sources, else one
# built before in $VHX_OUT/guest (vm-run.sh keeps that directory), else a
# fresh one there.  Building it under emulation takes minutes: prebuild it
# on the host with scripts/mkguest.sh [--fio] KVER.
guest_initramfs() {
	local flavour=$1 want f cache

	want=$("$top/scripts/mkguest.sh" --inputs-hash ${flavour:+--fio} "$kver")
	cache=${VHX_OUT:+$VHX_OUT/guest}
	cache=${cache:-$work}
	for f in "$top/build/guest/initramfs-$kver$flavour.cpio" \
		 "$cache/initramfs-$kver$flavour.cpio"; do
		if [ -f "$f" ] && [ "$(cat "$f.inputs" 2>/dev/null)" = "$want" ]; then
			echo "$f"
			return
		fi
	done
	diag "building the guest initramfs in the VM (slow; prebuild it)" >&2
	mkdir -p "$cache" &&
		"$top/scripts/mkguest.sh" ${flavour:+--fio} "$kver" "$f" >&2 ||
		return 1
	echo "$f"
}

# A multiqueue tap at 10.$1.0.1/24 with an iperf3 server behind it.
setup_host_net() {
	tap=vhxe2e$1
	ip link del "$tap" 2>/dev/null
	ip tuntap add dev "$tap" mode tap multi_queue || return 1
	ip addr add "10.$1.0.1/24" dev "$tap" || return 1
	ip link set "$tap" up || return 1
	iperf3 -s -B "10.$1.0.1" > "$work/iperf3-server.log" 2>&1 &
	iperf_pid=$!
}

# qemu_fds_wrapper: writes $work/with-fds.py and prints its path.
#
#   python3 WRAPPER TAP DEV PAIRS QEMU ARGS...
#
# opens PAIRS queues of the multiqueue tap TAP and PAIRS vhost fds on the
# device node DEV (/dev/vhx-net, /dev/vhost-net), then execs QEMU with
# every @NETDEV@ in ARGS replaced by
# "tap,id=n0,vhost=on,fds=T0:T1...,vhostfds=V0:V1...": QEMU takes
# vhostfds= only together with fds=, and bash cannot TUNSETIFF.
qemu_fds_wrapper() {
	cat > "$work/with-fds.py" <<'PY'
import fcntl, os, struct, sys

TUNSETIFF = 0x400454ca
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE = 0x2, 0x1000, 0x4000, 0x100
tap, dev, pairs, argv = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
taps, vhosts = [], []
for _ in range(pairs):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), flags))
    taps.append(fd)
    vhosts.append(os.open(dev, os.O_RDWR))
for fd in taps + vhosts:
    os.set_inheritable(fd, True)
netdev = "tap,id=n0,vhost=on,fds=%s,vhostfds=%s" % (
    ":".join(map(str, taps)), ":".join(map(str, vhosts)))
os.execvp(argv[0], [a.replace("@NETDEV@", netdev) for a in argv])
PY
	echo "$work/with-fds.py"
}

# run_guest LOG CMD...: run a VMM, its console into LOG; sets boot_ms to
# the milliseconds from start to the guest's "vhx-guest: init" line (empty
# if never seen) and returns the VMM's exit status.
run_guest() {
	local log=$1 start mark=$work/boot-ms rc
	shift

	rm -f "$mark"
	start=$(date +%s%N)
	"$@" < /dev/null 2>&1 | while IFS= read -r line; do
		printf '%s\n' "$line" >> "$log"
		case $line in
		*"vhx-guest: init"*)
			[ -e "$mark" ] ||
				echo $((($(date +%s%N) - start) / 1000000)) > "$mark"
			;;
		esac
	done
	rc=${PIPESTATUS[0]}
	boot_ms=$(cat "$mark" 2>/dev/null)
	return "$rc"
}

# Turn the guest's E2E-RESULT lines in LOG into KTAP results, in the order
# given; a check the guest never reported fails, one it skipped is a skip.
report_guest() {
	local log=$1 name line detail
	shift

	for name in "$@"; do
		line=$(grep -a "^E2E-RESULT $name " "$log" | tail -n 1 | tr -d '\r')
		detail=${line#E2E-RESULT $name }
		case $detail in
		ok*)
			detail=${detail#ok}
			ktap_result "$name" 0 "${detail# }"
			;;
		fail*)
			diag "guest: $line"
			ktap_result "$name" 1
			;;
		skip*)
			detail=${detail#skip}
			ktap_skip "$name" "${detail# }"
			;;
		*)
			diag "guest never reported $name"
			ktap_result "$name" 1
			;;
		esac
	done
}

# guest_console_clean LOG [NAME]: the nested guest's kernel must not have
# reported a splat (WARNING, BUG, Oops, lockup, ...): a virtio driver
# complaining about the device vhx serves is a failure even when the
# guest's checks passed.  The guests boot with loglevel=5 instead of
# "quiet" (which hides KERN_WARNING, and so every WARN_ON): warnings and
# worse reach the console, the chatter below does not (a full boot log
# over the nested guest's serial port doubled vhx-vm's time to init, from
# about 16 s to 33 s).  The log is kept in $VHX_OUT/e2e-consoles/.
guest_console_clean() {
	local log=$1 name=${2:-guest-kernel-clean} hits rc keep

	if [ -n "${VHX_OUT:-}" ] && [ -f "$log" ]; then
		keep=$VHX_OUT/e2e-consoles/$(basename "$0" .sh)-$(basename "$log")
		mkdir -p "$(dirname "$keep")" && cp "$log" "$keep"
	fi
	hits=$("$top/scripts/splat-check.sh" "$log" 2>&1)
	rc=$?
	[ $rc = 0 ] || printf '%s\n' "$hits" | head -n 40 | sed 's/^/# guest: /'
	ktap_result "$name" $rc "splat-check of the guest console${keep:+ ($keep)}"
}

# wait_for_line LOG TEXT SECONDS: whether LOG shows TEXT within SECONDS.
wait_for_line() {
	local end=$((SECONDS + $3))

	# A deadline, not a count of polls: each poll costs more than its
	# sleep in the emulated test VM.
	while [ $SECONDS -lt $end ]; do
		grep -aq "$2" "$1" 2> /dev/null && return 0
		sleep 0.1
	done
	grep -aq "$2" "$1" 2> /dev/null
}

# Show the tail of a console log as KTAP diagnostics.
show_log() {
	tail -n "${2:-40}" "$1" | tr -d '\r' | sed 's/^/# console: /'
}

# vmm_threads PID: where each thread of PID waits, as KTAP diagnostics
# (state, wchan and the top of its kernel stack): tells a vhx-vm blocked
# on a lock from a vCPU halted in the guest when a guest stops talking.
vmm_threads() {
	local t comm state

	for t in /proc/"$1"/task/*; do
		comm=$(cat "$t/comm" 2> /dev/null) || continue
		state=$(sed 's/.*) \(.\).*/\1/' "$t/stat" 2> /dev/null)
		diag "thread ${t##*/} $comm: $state $(cat "$t/wchan" 2> /dev/null)" \
		     "$(head -n 4 "$t/stack" 2> /dev/null | awk '{ printf " %s", $2 }')"
	done
}

# slow_nullb NAME MS: a 64 MiB null_blk taking MS ms per request, through
# configfs; prints its /dev path.  slow_nullb_remove NAME takes it away.
slow_nullb() {
	local d=/sys/kernel/config/nullb/$1 i

	[ -d /sys/kernel/config/nullb ] ||
		mount -t configfs configfs /sys/kernel/config 2> /dev/null
	mkdir "$d" || return 1
	echo 64 > "$d/size" && echo 1 > "$d/memory_backed" &&
		echo 2 > "$d/irqmode" && echo $(($2 * 1000000)) > "$d/completion_nsec" &&
		echo 1 > "$d/power" || return 1
	for i in $(seq 100); do
		for dev in "/dev/$1" "/dev/nullb$(cat "$d/index")"; do
			[ -b "$dev" ] && echo "$dev" && return 0
		done
		sleep 0.1
	done
	return 1
}

slow_nullb_remove() {
	local d=/sys/kernel/config/nullb/$1

	[ -d "$d" ] || return 0
	echo 0 > "$d/power"
	rmdir "$d"
}

# ap_reset_flake LOG: whether the guest in LOG died of the one failure the
# test VM itself causes: a secondary vCPU (never the boot one) that runs
# from its power-on state (CS:IP f000:fff0, CR0 0x10) before any SIPI and
# triple-faults there.  Seen about twice in a hundred boots of guests with
# more than one vCPU, only nested under QEMU's TCG (its SVM emulation
# beneath KVM); vhx-vm logs the registers of a vCPU that triple-faults.
ap_reset_flake() {
	grep -aEq "vhx-vm: vCPU [1-9][0-9]*: rip fff0 rsp 0 rflags 2 cr0 10 " "$1" &&
		grep -aq "vhx-vm: guest crashed (triple fault)" "$1"
}
