#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# 4 KiB random reads at queue depth 32, through /dev/vhx-blk with
# blkbench (the process plays the guest) on 1 and 4 queues, beside fio
# with io_uring issuing the same load directly, on the same backends in
# the same boot.  Run inside the test VM, without slub_debug:
#
#   scripts/vm-run.sh --append slub_debug=- --module build/kmod/KVER/vhx.ko \
#       -- userspace/blkbench/bench.sh [SECONDS] [BACKEND...]
#
# BLKBENCH names the binary (default build/user/blkbench).
set -u
bin=${BLKBENCH:-build/user/blkbench}
secs=${1:-10}
shift || true
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(/dev/nullb0 /dev/ram0)

echo "# kernel $(uname -r), cmdline: $(cat /proc/cmdline)"
echo "# slab sanity checks: $(cat /sys/kernel/slab/kmalloc-64/sanity_checks 2>/dev/null)"
# fio_run DEV JOBS LABEL [fio options]
fio_run() {
	local dev=$1 nq=$2 label=$3 iops

	shift 3
	iops=$(fio --name=ref --filename="$dev" --ioengine=io_uring \
		--direct=1 --rw=randread --bs=4k --iodepth=32 \
		--numjobs="$nq" --size=256M --time_based \
		--runtime="$secs" --group_reporting "$@" 2>&1 |
		sed -n 's/.*read: IOPS=\([^,]*\),.*/\1/p')
	echo "fio io_uring ($label): $dev $nq job(s) qd 32 bs 4096: ${iops:-?} IOPS"
}

for dev in "${backends[@]}"; do
	[ -b "$dev" ] || { echo "# $dev: not a block device, skipped"; continue; }
	for nq in 1 4; do
		"$bin" --backend "$dev" --queues "$nq" --qd 32 --bs 4096 \
			--seconds "$secs" --span $((256 << 20)) ||
			echo "# blkbench failed"
		fio_run "$dev" "$nq" plain
		# Lean: less per-I/O bookkeeping, batched submission.
		fio_run "$dev" "$nq" lean --gtod_reduce=1 --norandommap \
			--randrepeat=0 --iodepth_batch_submit=32 \
			--iodepth_batch_complete_min=1
		# A kernel thread submits, as vhx's worker does.
		fio_run "$dev" "$nq" sqpoll --gtod_reduce=1 --norandommap \
			--randrepeat=0 --sqthread_poll=1
	done
done
