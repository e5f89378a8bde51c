# SPDX-License-Identifier: GPL-2.0
#
# Sourced by the scripts that pick a kernel to build for or boot (check,
# bench, demo, vm-run, install-deps): the one kernel picker.
#
#   newest_kernel FAMILY   the newest installed FAMILY.*-amd64 kernel (6.1,
#                          6.12) with both its image in /boot and its
#                          headers; nothing if there is none
#   default_kernel         the newest supported one: 6.12, else 6.1

newest_kernel() {
	local v k

	for v in /boot/vmlinuz-"$1".*-amd64; do
		[ -f "$v" ] || continue
		k=${v#/boot/vmlinuz-}
		[ -e "/lib/modules/$k/build/Makefile" ] && echo "$k"
	done | sort -V | tail -n 1
}

default_kernel() {
	local k

	k=$(newest_kernel 6.12)
	[ -n "$k" ] || k=$(newest_kernel 6.1)
	echo "$k"
}
