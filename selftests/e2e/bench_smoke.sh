#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmarks must not rot: run every guest-less path of `make bench`
# once, for one second (scripts/bench-vm.sh --smoke), and the report
# generator on what came out.  Run inside the test VM by selftests/run.sh.
# A run that crashed, exited non-zero or reported zero throughput is
# "not ok".  The figures themselves mean nothing here (slub_debug is on).
#
# KTAP on stdout; progress on stderr.
set -u

# One kernel is enough to keep the tools from rotting, and make check
# must stay short: the smoke runs on 6.12 only.
case $(uname -r) in
6.1.*)
	echo "TAP version 13"
	echo "1..0 # SKIP bench smoke runs on the 6.12 kernel only"
	exit 0
	;;
esac

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2

work=$(mktemp -d /tmp/bench-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The tools: from `make user` / `make bench` when built, else built here.
bin=
for d in "$top/build/user" "$top/build/bench/user"; do
	if [ -x "$d/vhx-netgen" ] && [ -x "$d/blkbench" ] &&
	   [ -x "$d/uringbench" ]; then
		bin=$d
		break
	fi
done
if [ -z "$bin" ]; then
	bin=$work/bin
	echo "bench_smoke: building vhx-netgen, blkbench and uringbench in $bin" >&2
	make -s -C userspace BUILD="$bin" lib bench >&2 &&
		make -s -C userspace/blkbench BUILD="$bin" >&2
fi

net_tests="tx64 rx64 txgso rx64q2"	# scripts/bench-vm.sh --smoke
blk_tests="null-randread-qd1-q1 tmpfs-randwrite-qd32-q4"	# bench-vm.sh --smoke
# blk: blkbench (vhx), uringbench (ubench), polled uringbench on null_blk
# (ubpoll) and fio (uring), as scripts/bench-vm.sh's blk_impls runs them.
blk_impls() {
	echo vhx ubench
	[[ $1 != null-* ]] || echo ubpoll
	echo uring
}
nblk=0
for t in $blk_tests; do
	nblk=$((nblk + $(blk_impls "$t" | wc -l)))
done
plan=$(( $(wc -w <<< "$net_tests") * 2 + nblk + 2 ))

echo "TAP version 13"
echo "1..$plan"

raw=$work/raw.tsv
: > "$raw"
if [ -x "$bin/vhx-netgen" ] && [ -x "$bin/blkbench" ] &&
   [ -x "$bin/uringbench" ]; then
	"$top/scripts/bench-vm.sh" --smoke --raw "$raw" --bin "$bin" \
		--only net,blk >&2
else
	echo "# the benchmark tools could not be built"
fi

# fio direct I/O on tmpfs needs Linux 6.6; older kernels skip that leg.
tmpfs_direct=1
dd if=/dev/zero of="$work/probe" bs=4096 count=1 status=none
dd if="$work/probe" of=/dev/null bs=4096 count=1 iflag=direct status=none \
	2>/dev/null || tmpfs_direct=0

n=0
result() {	# section test impl metric
	local name="bench $1 $2 $3" why

	n=$((n + 1))
	if [[ $2 == tmpfs-* ]] && [ "$3" != vhx ] && [ "$tmpfs_direct" = 0 ]; then
		echo "ok $n - $name # SKIP tmpfs has no O_DIRECT on $(uname -r)"
		return
	fi
	why=$(awk -F'\t' -v s="$1" -v t="$2" -v i="$3" '
		$1 == s && ($2 == t || $2 == "all") && ($3 == i || $3 == "all") &&
		$5 == "fail" { print $6; exit }' "$raw")
	if [ -z "$why" ] && awk -F'\t' -v s="$1" -v t="$2" -v i="$3" -v m="$4" '
		$1 == s && $2 == t && $3 == i && $5 == m && $6 + 0 > 0 { f = 1 }
		END { exit !f }' "$raw"; then
		echo "ok $n - $name"
	else
		echo "# $name: ${why:-no result}"
		echo "not ok $n - $name"
	fi
}

for t in $net_tests; do
	result net "$t" vhx pps
	result net "$t" vhost pps
done
for t in $blk_tests; do
	for impl in $(blk_impls "$t"); do
		result blk "$t" "$impl" iops
	done
done

n=$((n + 1))
if "$top/scripts/bench_report.py" --raw "$raw" --out "$work/report/smoke.md" >&2 &&
   grep -q '^## Headline ratios' "$work/report/smoke.md" &&
   { ! command -v gnuplot >/dev/null || ls "$work"/report/*.png >/dev/null 2>&1; }; then
	echo "ok $n - bench report and plots"
else
	echo "not ok $n - bench report and plots"
fi

# The report's figures on a raw file whose answers are known.
n=$((n + 1))
if python3 "$top/scripts/bench_report_test.py" >&2; then
	echo "ok $n - bench report figures"
else
	echo "not ok $n - bench report figures"
fi
