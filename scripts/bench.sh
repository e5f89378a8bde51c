#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Side-by-side benchmarks; what `make bench` (and `make bench-smoke`) run:
#
#   bench.sh [--smoke] [--kernel KVER] [--reps N] [--secs S]
#            [--e2e-reps N] [--only net,blk,e2e,boot] [--no-deps] [--out REPORT.md]
#
# Installs what is missing, builds vhx.ko for KVER (default: the newest
# installed 6.12 kernel with headers) and the benchmark tools, builds the
# L2 guest initramfs, boots the test VM once with slub_debug off and runs
# every measurement there (scripts/bench-vm.sh: vhx-net vs vhost-net with
# vhx-netgen, vhx-blk vs fio io_uring, nested guests under vhx-vm vs QEMU),
# then writes the report and its plots (scripts/bench_report.py) to
# bench/results/DATE.md and bench/results/DATE-*.png.
#
# --smoke: every guest-less path once for one second, no end-to-end part,
# report in build/bench/smoke/; fails if any run failed.  This is the
# quick check that the benchmark still works, not a measurement.
#
# Exit status: 0 if the report was written and (with --smoke) nothing
# failed; 1 otherwise; 2 on bad usage.  The VM's files are kept in
# build/bench/vm-DATE/.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
me=bench

die() {
	echo "$me: $*" >&2
	exit 1
}

smoke=0
deps=1
kver=
reps=3
secs=3
e2e_reps=3
only=net,blk,e2e,boot
out=

while [ $# -gt 0 ]; do
	case $1 in
	--smoke)
		smoke=1
		shift
		;;
	--no-deps)
		deps=0
		shift
		;;
	--kernel | --reps | --secs | --e2e-reps | --only | --out)
		[ $# -ge 2 ] || { echo "$me: $1 needs a value" >&2; exit 2; }
		case $1 in
		--kernel) kver=$2 ;;
		--reps) reps=$2 ;;
		--secs) secs=$2 ;;
		--e2e-reps) e2e_reps=$2 ;;
		--only) only=$2 ;;
		--out) out=$2 ;;
		esac
		shift 2
		;;
	*)
		sed -n '/^#   bench.sh/,/^# Installs/{/^# Installs/d;s/^# \?//p}' "$0" >&2
		exit 2
		;;
	esac
done

. "$top/scripts/kernels.sh"
[ -n "$kver" ] || kver=$(newest_kernel 6.12)
[ -n "$kver" ] && [ -f "/boot/vmlinuz-$kver" ] ||
	die "no kernel to benchmark on (want 6.12 with headers; --kernel KVER)"

stamp=$(date -u +%Y-%m-%d)
if [ "$smoke" = 1 ]; then
	out=${out:-$top/build/bench/smoke/smoke.md}
	only=${only/e2e/}
	only=${only/boot/}
else
	out=${out:-$top/bench/results/$stamp.md}
fi
work=$top/build/bench
vmdir=$work/vm-$(date -u +%Y%m%d-%H%M%S)
bin=$work/user
mkdir -p "$work" "$(dirname "$out")"

if [ "$deps" = 1 ]; then
	echo "$me: installing what is missing"
	"$top/scripts/install-deps.sh" || die "scripts/install-deps.sh failed"
fi

echo "$me: building vhx.ko for $kver and the tools"
make -s -C "$top" module KVER="$kver" || die "module build failed"
make -s -C userspace BUILD="$bin" lib vm bench >"$work/build.log" 2>&1 &&
make -s -C userspace/blkbench BUILD="$bin" >>"$work/build.log" 2>&1 ||
	{ cat "$work/build.log" >&2; die "tool build failed"; }

initrd=$work/guest/initramfs-$kver-fio.cpio
if [[ ,$only, == *,e2e,* || ,$only, == *,boot,* ]]; then
	echo "$me: building the L2 guest initramfs"
	"$top/scripts/mkguest.sh" --fio "$kver" "$initrd" >"$work/mkguest.log" 2>&1 ||
		echo "$me: mkguest.sh failed (see $work/mkguest.log); end-to-end part will say so" >&2
fi

load() {
	cut -d' ' -f1-3 /proc/loadavg
}

notes=$work/notes.md
{
	echo "- Host: $(nproc) CPUs, $(qemu-system-x86_64 --version | head -1);"
	echo "  load average (1/5/15 min) at the start $(load)."
} > "$notes"

raw=$vmdir/raw.tsv
mkdir -p "$vmdir"
: > "$raw"
echo "$me: booting the test VM ($kver); raw results in $raw"
smoke_arg=()
[ "$smoke" = 1 ] && smoke_arg=(--smoke)
"$top/scripts/vm-run.sh" --kernel "$kver" --module "$top/build/kmod/$kver/vhx.ko" \
	--out "$vmdir" --append "slub_debug=-" --timeout 3600 -- \
	scripts/bench-vm.sh --raw "$raw" --reps "$reps" --secs "$secs" \
	--e2e-reps "$e2e_reps" --bin "$bin" --guest-initrd "$initrd" \
	--only "$only" "${smoke_arg[@]}"
vm_rc=$?
echo "  load average at the end $(load); the range of each figure shows the noise." >> "$notes"
[ "$vm_rc" = 0 ] ||
	echo "- The test VM run ended with status $vm_rc (see $vmdir)." >> "$notes"

"$top/scripts/bench_report.py" --raw "$raw" --out "$out" --notes "$notes" ||
	die "report failed"
[ -s "$raw" ] || die "no results (test VM status $vm_rc, see $vmdir)"
if [ "$smoke" = 1 ] && grep -q $'\tfail\t' "$raw"; then
	grep $'\tfail\t' "$raw" >&2
	die "smoke: some runs failed"
fi
[ "$vm_rc" = 0 ] || die "test VM run failed with status $vm_rc (see $vmdir)"
echo "$me: report in $out"
