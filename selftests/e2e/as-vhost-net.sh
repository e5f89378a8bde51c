#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The as_vhost_net module parameter: vhx takes /dev/vhost-net (upstream's
# name and minor) so tools that always open that node use vhx.  It must
# refuse while upstream vhost_net holds the name, and serve traffic when
# it does not.  Reloads vhx.ko ($VHX_MODULE) and leaves the module state
# as it found it.  Runs inside the test VM, last (run.sh's run_last).
set -u
. "$(dirname "$0")/lib.bash"
mod=${VHX_MODULE:-$top/build/kmod/$kver/vhx.ko}
data_test=$top/build/user/selftests/net_data_test
if [ ! -f "$mod" ] || ! lsmod | grep -q '^vhx '; then
	ktap_plan "0 # SKIP vhx.ko not loaded or not found ($mod)"
	exit 0
fi
ktap_plan 3
modprobe vhost_net
rmmod vhx
if insmod "$mod" as_vhost_net=1 2>/dev/null; then
	ktap_result refused-while-upstream-loaded 1 "insmod succeeded"
	rmmod vhx
else
	dmesg | tail -n 5 | grep -q "is upstream vhost_net loaded"
	ktap_result refused-while-upstream-loaded $? "insmod failed with a message"
fi

rmmod vhost_net
insmod "$mod" as_vhost_net=1
ok=$?
if [ $ok = 0 ] && [ -c /dev/vhost-net ] && [ -c /dev/vhx-net ] &&
   ! lsmod | grep -q '^vhost_net '; then
	ktap_result registers-as-vhost-net 0 "$(ls -l /dev/vhost-net | awk '{print $5 $6}')"
else
	ktap_result registers-as-vhost-net 1 "insmod status $ok"
fi
# With upstream unloaded, traffic through /dev/vhost-net is vhx's.
"$data_test" --dev /dev/vhost-net -r rx.mrg_tap_hdr.sizes \
	-r tx.tap_hdr.sizes > "$work/log" 2>&1
rc=$?
[ $rc = 0 ] || sed 's/^/# /' "$work/log"
ktap_result traffic-through-vhost-net-node $rc

rmmod vhx
modprobe vhost_net
insmod "$mod" || echo "# could not reload $mod"
exit $ktap_failed
