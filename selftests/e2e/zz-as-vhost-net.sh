#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The as_vhost_net module parameter: vhx takes /dev/vhost-net (upstream's
# name and minor) so tools that always open that node use vhx.  It must
# refuse while upstream vhost_net holds the name, and serve traffic when
# it does not.  Reloads vhx.ko ($VHX_MODULE) and leaves the module state
# as it found it.  Runs inside the test VM (named to run last).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
mod=${VHX_MODULE:-$top/build/kmod/$(uname -r)/vhx.ko}
data_test=$top/build/user/selftests/net_data_test
n=0
failed=0

result() {
	n=$((n + 1))
	[ -z "${3:-}" ] || echo "# $1: $3"
	if [ "$2" = 0 ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		failed=1
	fi
}

echo "TAP version 13"
if [ ! -f "$mod" ] || ! lsmod | grep -q '^vhx '; then
	echo "1..0 # SKIP vhx.ko not loaded or not found ($mod)"
	exit 0
fi
echo "1..3"
modprobe vhost_net
rmmod vhx
if insmod "$mod" as_vhost_net=1 2>/dev/null; then
	result refused-while-upstream-loaded 1 "insmod succeeded"
	rmmod vhx
else
	dmesg | tail -n 5 | grep -q "is upstream vhost_net loaded"
	result refused-while-upstream-loaded $? "insmod failed with a message"
fi

rmmod vhost_net
insmod "$mod" as_vhost_net=1
ok=$?
if [ $ok = 0 ] && [ -c /dev/vhost-net ] && [ -c /dev/vhx-net ] &&
   ! lsmod | grep -q '^vhost_net '; then
	result registers-as-vhost-net 0 "$(ls -l /dev/vhost-net | awk '{print $5 $6}')"
else
	result registers-as-vhost-net 1 "insmod status $ok"
fi
# With upstream unloaded, traffic through /dev/vhost-net is vhx's.
"$data_test" --dev /dev/vhost-net --only rx_mrg_tap_hdr > /tmp/asvn.log 2>&1 &&
	"$data_test" --dev /dev/vhost-net --only tx_tap_hdr >> /tmp/asvn.log 2>&1
rc=$?
[ $rc = 0 ] || sed 's/^/# /' /tmp/asvn.log
result traffic-through-vhost-net-node $rc

rmmod vhx
modprobe vhost_net
insmod "$mod" || echo "# could not reload $mod"
exit $failed
