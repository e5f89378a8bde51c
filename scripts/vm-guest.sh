#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the test VM, as root, chrooted into the overlay of the host's
# root, started by the initramfs init (scripts/mkinitramfs.sh) for
# scripts/vm-run.sh.  Not meant to be run by hand.
#
#   vm-guest.sh JOBFILE
#
# JOBFILE (written by vm-run.sh, in the shared output directory) sets
# VHX_OUT, VHX_CWD, VHX_MODULE (may be empty) and the command VHX_ARGV.
# Files this writes into VHX_OUT:
#   output.txt  the command's stdout and stderr
#   setup.log   what the VM setup did (module loads, failures)
#   dmesg.txt   the kernel log after the command (and module unload)
#   exit-code   the command's exit status; written last, so that its
#               absence means the run did not finish
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH HOME=/root TERM=dumb LC_ALL=C.UTF-8 VHX_IN_VM=1
VHX_KVER=$(uname -r)
export VHX_KVER

# shellcheck source=/dev/null
. "$1"
export VHX_OUT

setup_log=$VHX_OUT/setup.log
: > "$setup_log"

# Messages go to setup.log and to the kernel log, so that the console log
# shows which phase of the run any kernel splat belongs to.
note() {
	echo "vhx-vm: $*" >> "$setup_log"
	echo "vhx-vm: $*" > /dev/kmsg 2>/dev/null
}

finish() {
	local rc=$1

	dmesg > "$VHX_OUT/dmesg.txt" 2>&1
	echo "$rc" > "$VHX_OUT/exit-code"
	sync
	exit 0
}

# The initramfs init has mounted /dev/pts, /dev/shm, /tmp, /run and
# debugfs and brought lo up; the kernel log notes any failure there.

# Modules tests may want.  A missing one does not stop the run: the
# command decides what it cannot do without it, and is told through
# VHX_MODPROBE_FAILED (selftests/run.sh fails the upstream reference runs
# when vhost_net is missing).  One modprobe for all is quicker (every exec
# goes over 9p); only if it fails, find out which module it was.
wanted_modules="tun tap macvtap veth dummy vhost_net brd null_blk"
VHX_MODPROBE_FAILED=
# shellcheck disable=SC2086
if ! modprobe -a $wanted_modules >> "$setup_log" 2>&1; then
	for m in $wanted_modules; do
		modprobe "$m" >> "$setup_log" 2>&1 && continue
		note "modprobe $m failed"
		VHX_MODPROBE_FAILED="$VHX_MODPROBE_FAILED $m"
	done
fi
export VHX_MODPROBE_FAILED
note "modules loaded${VHX_MODPROBE_FAILED:+, except$VHX_MODPROBE_FAILED}"

module_name=
if [ -n "$VHX_MODULE" ]; then
	module_name=${VHX_MODULE##*/}
	module_name=${module_name%.ko}
	module_name=${module_name//-/_}
	if ! insmod "$VHX_MODULE" >> "$setup_log" 2>&1; then
		note "insmod $VHX_MODULE failed"
		{
			echo "vm-run: insmod $VHX_MODULE failed:"
			cat "$setup_log"
		} > "$VHX_OUT/output.txt"
		finish 125
	fi
	note "loaded $VHX_MODULE"
fi

note "running: ${VHX_ARGV[*]}"
if cd "$VHX_CWD"; then
	"${VHX_ARGV[@]}" > "$VHX_OUT/output.txt" 2>&1 < /dev/null
	rc=$?
else
	echo "vm-run: cannot cd to $VHX_CWD" > "$VHX_OUT/output.txt"
	rc=125
fi
cd /
note "command exited with status $rc"

# Unloading catches leaked module references (files still open, workers
# still running).  vhx has no slab caches of its own, so leaked kmalloc
# memory is not seen here.  File release is deferred, so give it a moment.
if [ -n "$module_name" ] && [ -d "/sys/module/$module_name" ]; then
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		rmmod "$module_name" >> "$setup_log" 2>&1 && break
		sleep 0.5
	done
	if [ -d "/sys/module/$module_name" ]; then
		note "rmmod $module_name failed"
		echo "vm-run: rmmod $module_name failed after the command" \
			>> "$VHX_OUT/output.txt"
		[ "$rc" -ne 0 ] || rc=125
	else
		note "unloaded $module_name"
	fi
fi
finish "$rc"
