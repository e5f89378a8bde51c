#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The test-VM half of `make demo` (scripts/demo.sh runs it inside the test
# VM): a multiqueue tap with an iperf3 server, a disk image, and a guest
# under vhx-vm whose virtio-net (2 queue pairs) and virtio-blk (2 queues)
# are served by vhx.ko.  The guest's console is shown as it runs.
set -u
. "$(dirname "$0")/../selftests/e2e/lib.bash"

need_kvm >/dev/null
if [ ! -e /dev/kvm ]; then
	echo "demo: no /dev/kvm in the test VM (nested SVM unavailable)" >&2
	exit 1
fi
for f in "$vhx_vm" /dev/vhx-net /dev/vhx-blk; do
	if [ ! -e "$f" ]; then
		echo "demo: $f is missing" >&2
		exit 1
	fi
done
initrd=$(guest_initramfs -fio) || exit 1
setup_host_net 71 || { echo "demo: cannot set up the tap" >&2; exit 1; }
truncate -s 256M "$work/disk.img"

echo "demo: starting vhx-vm: 2 vCPUs, 512 MiB," \
     "net tap=$tap (2 queue pairs, /dev/vhx-net)," \
     "disk $work/disk.img (2 queues, /dev/vhx-blk)"
# Show the guest's console as it runs (sed -u: line by line, no buffer).
touch "$work/console.log"
tail -n +1 -F "$work/console.log" 2>/dev/null | sed -u 's/\r$//' &
showpid=$!
run_guest "$work/console.log" timeout 900 "$vhx_vm" --kernel "$kernel" \
	--initrd "$initrd" --cpus 2 --memory 512 \
	--net "tap=$tap,queues=2" --disk "path=$work/disk.img,queues=2" \
	--cmdline "console=ttyS0 quiet panic=-1 -- \"/e2e/demo.sh 10.71.0.2 10.71.0.1 2\""
rc=$?
sleep 1
kill $showpid 2>/dev/null
echo "demo: guest init reached ${boot_ms:-?} ms after vhx-vm started"
echo "demo: vhx-vm exited with status $rc"
exit $rc
