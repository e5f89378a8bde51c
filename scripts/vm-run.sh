#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run one command as root inside a test VM: an installed Debian kernel
# under QEMU TCG, with the host's root file system shared read-only under a
# tmpfs overlay (the host cannot load modules, and only TCG runs here).
#
#   vm-run.sh [--kernel KVER] [--module PATH/vhx.ko] [--log CONSOLE_LOG]
#             [--out DIR] [--smp N] [--mem MiB] [--timeout SECONDS]
#             [--append "kernel args"] [--hang-grace SECONDS]
#             -- command args...
#
# Inside the VM: /proc, /sys, /dev, /dev/pts, /dev/shm, /tmp, /run and
# /sys/kernel/debug are mounted, lo is up, tun tap macvtap veth dummy
# vhost_net brd null_blk are loaded (failures noted in DIR/setup.log), then
# --module is insmod'ed (a failure ends the run), then the command runs in
# the repository directory (same absolute path as on the host).  DIR is
# mounted read-write at its host path, so the command can leave files
# there; everything else it writes vanishes with the VM.  Environment:
# VHX_IN_VM=1, VHX_KVER, VHX_OUT=DIR, VHX_MODPROBE_FAILED (the modules
# that did not load).  After the command the module is unloaded again,
# which catches leaked module references (open files, running workers).
#
# Memory debugging is on: slub_debug=FZPU (red zones and poison in slab
# objects), kfence.sample_interval=10 (KFENCE guard pages on sampled
# allocations, catching out-of-bounds and use-after-free reads too; 6.12
# has KFENCE, 6.1 does not and ignores the option) and page_poison=1
# (freed pages are poisoned and checked when reallocated, which covers
# the page allocator and vmalloc; init_on_free=1 on 6.1, see below).  "slub_debug=-" in --append, as
# benchmarks and demos pass, turns all three off.
#
# The command's stdout and stderr are streamed to this script's stdout and
# kept in DIR/output.txt; the serial console goes to CONSOLE_LOG (default
# DIR/console.log), the kernel log after the run to DIR/dmesg.txt.
# DIR defaults to a new directory build/vm/runs/KVER-DATE-XXXX (printed at
# the end).  DIR/vm-status summarises the run.
#
# A kernel that reports a lockup, RCU stall or hung task rarely recovers:
# the VM is stopped --hang-grace seconds (default 60; 0: never) after the
# first such report, rather than waiting for --timeout.
#
# Exit status: the command's, if the run was clean.  Otherwise non-zero
# even if the command succeeded: 1 on a kernel splat in the console log or
# dmesg (offending lines are printed on stderr), 124 if --timeout
# (default 1200 s) killed QEMU, 125 if the guest never reported an exit
# status (boot failure, panic, stopped after a lockup) or the module
# failed to load or unload,
# 2 on bad usage.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
me=vm-run

die() {
	echo "$me: $*" >&2
	exit 2
}

usage() {
	sed -n '/^#   vm-run.sh/,/^set /{/^set /d;s/^# \?//p}' "$0" >&2
	exit 2
}

is_number() {
	[[ $1 =~ ^[1-9][0-9]*$ ]]
}

kver=
module=
log=
out=
smp=2
mem=4096
timeout_s=1200
append=
hang_grace=60

while [ $# -gt 0 ]; do
	case $1 in
	--)
		shift
		break
		;;
	-h | --help)
		usage
		;;
	--kernel | --module | --log | --out | --smp | --mem | --timeout | \
	--append | --hang-grace)
		[ $# -ge 2 ] || die "option $1 needs an argument"
		case $1 in
		--kernel) kver=$2 ;;
		--module) module=$2 ;;
		--log) log=$2 ;;
		--out) out=$2 ;;
		--smp) smp=$2 ;;
		--mem) mem=$2 ;;
		--timeout) timeout_s=$2 ;;
		--append) append=$2 ;;
		--hang-grace) hang_grace=$2 ;;
		esac
		shift 2
		;;
	*)
		die "unknown option '$1' (the command goes after --; see --help)"
		;;
	esac
done
[ $# -gt 0 ] ||
	die "no command given (usage: vm-run.sh [options] -- command args...)"
is_number "$smp" || die "--smp wants a positive number, not '$smp'"
is_number "$mem" || die "--mem wants a size in MiB, not '$mem'"
is_number "$timeout_s" || die "--timeout wants seconds, not '$timeout_s'"
[[ $hang_grace =~ ^[0-9]+$ ]] ||
	die "--hang-grace wants seconds, not '$hang_grace'"

if [ -z "$kver" ]; then
	. "$top/scripts/kernels.sh"
	kver=$(default_kernel)
	[ -n "$kver" ] ||
		die "no 6.1 or 6.12 kernel with headers (run scripts/install-deps.sh)"
fi
kernel=/boot/vmlinuz-$kver
[ -f "$kernel" ] || die "no kernel image $kernel"
[ -r "$kernel" ] || die "cannot read $kernel"
[ -d "/lib/modules/$kver" ] || die "no module directory /lib/modules/$kver"

if [ -n "$module" ]; then
	[ -f "$module" ] || die "--module: no such file: $module"
	module=$(realpath "$module")
fi

command -v qemu-system-x86_64 >/dev/null ||
	die "qemu-system-x86_64 not found (run scripts/install-deps.sh)"

if [ -z "$out" ]; then
	# Several people may run VMs from one tree at once: by default, each
	# run gets a directory of its own.
	mkdir -p "$top/build/vm/runs" || die "cannot create $top/build/vm/runs"
	out=$(mktemp -d "$top/build/vm/runs/$kver-$(date +%m%d-%H%M%S)-XXXX") ||
		die "cannot create an output directory under build/vm/runs"
fi
mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)
# Two runs sharing a directory would delete each other's results; the lock
# is held until QEMU, which inherits it, is gone.
exec 7> "$out/.vm-run.lock"
flock -n 7 || die "another vm-run is using $out; choose another --out"
# These paths travel through the kernel command line and job files
# unquoted; refuse what would need quoting rather than mangle it.
for p in "$out" "$top"; do
	[[ $p =~ ^[A-Za-z0-9._/+-]+$ ]] ||
		die "path '$p' has characters the VM protocol cannot carry"
done
[ -n "$log" ] || log=$out/console.log
mkdir -p "$(dirname "$log")" || die "cannot create the directory of $log"
log=$(realpath "$log")

rm -f "$out/output.txt" "$out/dmesg.txt" "$out/exit-code" \
	"$out/setup.log" "$out/vm-status" "$out/vm-job.env" "$log"

# The initramfs depends only on the kernel's modules, busybox and the
# script that makes it; rebuild it when any of them changes.
initrd=$top/build/vm/initramfs-$kver.cpio.gz
stamp=$initrd.stamp
mkdir -p "$top/build/vm"
want=$( {
	sha256sum "$top/scripts/mkinitramfs.sh" /bin/busybox
	stat -c '%n %s %Y' "$kernel" "/lib/modules/$kver/modules.dep"
} | sha256sum | cut -d' ' -f1)
(
	flock 9
	if [ ! -f "$initrd" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
		echo "$me: building the initramfs for $kver" >&2
		"$top/scripts/mkinitramfs.sh" "$kver" "$initrd"
		echo "$want" > "$stamp"
	fi
) 9> "$initrd.lock" || die "cannot build the initramfs for $kver"

{
	echo "VHX_OUT=$out"
	echo "VHX_GUEST=$top/scripts/vm-guest.sh"
	printf 'VHX_CWD=%q\n' "$top"
	printf 'VHX_MODULE=%q\n' "$module"
	printf 'VHX_ARGV=('
	printf ' %q' "$@"
	printf ' )\n'
} > "$out/vm-job.env"

# On 6.1, page_poison=1 turns Debian's init_on_alloc off, and upstream
# vhost-net (the reference) then loses TX frames in its vhost-header
# paths; there init_on_free=1 clears freed pages instead, keeping it on.
case $kver in
6.1.*) poison=init_on_free=1 ;;
*) poison=page_poison=1 ;;
esac
debug_args="slub_debug=FZPU kfence.sample_interval=10 $poison"
[[ " $append " != *" slub_debug=- "* ]] || debug_args=

# A WARN or an oops ends the run there and then (panic=-1 reboots, and
# -no-reboot makes that QEMU's exit) instead of running on in a kernel
# whose state is no longer trusted; the splat scan still names it.
panic_args="panic_on_warn=1 oops=panic"

# QEMU option values separate fields with commas; double them in paths.
qpath() {
	printf '%s' "${1//,/,,}"
}

root_share=local,path=/,mount_tag=hostroot,security_model=none,readonly=on
out_share="local,path=$(qpath "$out"),mount_tag=vhxout,security_model=none"
# shellcheck disable=SC2054 # QEMU's option values are comma lists
qemu=(qemu-system-x86_64 -nodefaults -no-user-config -no-reboot
	-accel tcg -cpu max -smp "$smp" -m "$mem" -display none
	-kernel "$kernel" -initrd "$initrd"
	-append "console=ttyS0 panic=-1 $panic_args $debug_args rdinit=/init $append"
	-chardev "file,id=console,path=$(qpath "$log")" -serial chardev:console
	-virtfs "$root_share,multidevs=remap"
	-virtfs "$out_share,multidevs=remap"
)

qemu_pid=
tail_pid=
cleanup() {
	[ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
	[ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$(date +%s)
timeout -k 10 "$timeout_s" "${qemu[@]}" < /dev/null &
qemu_pid=$!
# Stream the command's output while it runs; tail exits once QEMU is gone,
# after printing what is left.
tail -n +1 -s 0.2 -F --pid="$qemu_pid" "$out/output.txt" 2>/dev/null &
tail_pid=$!

# Reports after which the kernel is not expected to finish the run.
hang_regex='soft lockup|hard LOCKUP|detected stall|blocked for more than'
hang_at=
stopped_hung=0
while kill -0 "$qemu_pid" 2>/dev/null; do
	sleep 2
	[ "$hang_grace" -gt 0 ] || continue
	if [ -z "$hang_at" ] && grep -qaE "$hang_regex" "$log" 2>/dev/null; then
		hang_at=$SECONDS
		echo "$me: the kernel reports a lockup or stall;" \
		     "stopping the VM in ${hang_grace}s" >&2
	fi
	if [ -n "$hang_at" ] && [ $((SECONDS - hang_at)) -ge "$hang_grace" ]; then
		kill -TERM "$qemu_pid" 2>/dev/null
		stopped_hung=1
		break
	fi
done
qemu_status=0
wait "$qemu_pid" || qemu_status=$?
qemu_pid=
wait "$tail_pid" || true
tail_pid=
elapsed=$(($(date +%s) - start))

status=0
timed_out=0
splat=0
cmd_status=none
if [ $stopped_hung = 1 ]; then
	echo "$me: VM stopped after a lockup or stall report (console: $log)" >&2
	status=125
elif [ $qemu_status -eq 124 ] || [ $qemu_status -eq 137 ]; then
	timed_out=1
	echo "$me: timeout: QEMU killed after $timeout_s s (console: $log)" >&2
	status=124
elif [ $qemu_status -ne 0 ]; then
	echo "$me: QEMU failed with status $qemu_status" >&2
fi

if [ -f "$out/exit-code" ]; then
	cmd_status=$(cat "$out/exit-code")
	[[ $cmd_status =~ ^[0-9]+$ ]] || cmd_status=none
fi
if [ "$cmd_status" = none ]; then
	[ $timed_out = 1 ] || [ $stopped_hung = 1 ] ||
		echo "$me: the guest reported no exit status (boot failure," \
		     "crash, or reset: QEMU exited with $qemu_status); see" \
		     "$log" >&2
	[ $status -ne 0 ] || status=125
elif [ $status -eq 0 ]; then
	status=$cmd_status
fi

logs=("$log")
[ ! -f "$out/dmesg.txt" ] || logs+=("$out/dmesg.txt")
if [ -f "$log" ] && ! "$top/scripts/splat-check.sh" "${logs[@]}" >&2; then
	splat=1
	[ $status -ne 0 ] || status=1
fi

cat > "$out/vm-status" <<EOF
kernel=$kver
elapsed=$elapsed
command_status=$cmd_status
timeout=$timed_out
stopped_hung=$stopped_hung
splat=$splat
status=$status
EOF
echo "$me: $kver: command status $cmd_status, splat $splat," \
     "timeout $timed_out, ${elapsed}s; exit $status; files in $out" >&2
exit $status
