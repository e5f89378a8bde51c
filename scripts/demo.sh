#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: install what is missing, build vhx.ko and the tools, boot the
# test VM with the module loaded, and run a guest under vhx-vm whose net
# and disk are served by vhx (scripts/demo-vm.sh), showing iperf3 and fio
# figures.  Everything shuts down at the end.  KVER picks the kernel
# (default: the newest installed 6.12).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

"$top/scripts/install-deps.sh"
. "$top/scripts/kernels.sh"
kver=${KVER:-$(newest_kernel 6.12)}
if [ -z "$kver" ]; then
	echo "demo: no 6.12 kernel headers installed" >&2
	exit 1
fi
echo "demo: building for $kver"
make -s user
make -s module KVER="$kver"
"$top/scripts/mkguest.sh" --fio "$kver" "build/guest/initramfs-$kver-fio.cpio" \
	> /dev/null
echo "demo: booting the test VM (QEMU TCG, nested KVM inside; takes minutes)"
"$top/scripts/vm-run.sh" --kernel "$kver" --module "build/kmod/$kver/vhx.ko" \
	--out "build/demo/$kver" --append "slub_debug=-" --timeout 1500 -- \
	scripts/demo-vm.sh
