#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The Debian packages as a host would use them; inside the test VM, as
# root, with no vhx.ko loaded (vm-run.sh without --module), after make deb
# on the host (selftests/packages/host.sh):
#
#   scripts/vm-run.sh --kernel KVER --out DIR -- selftests/packages/vm.sh VERSION
#
# apt installs build/deb/vhx-dkms_VERSION_all.deb and
# vhx-tools_VERSION_amd64.deb (the VM's root is an overlay: the host's
# package state does not change), DKMS must have built and installed
# vhx.ko for the running kernel, modprobe must load that one, the udev
# rule must give both nodes group kvm and mode 0660 (udevadm test applies
# it: no udevd runs here), one e2e test (vhx-vm-net) runs with the
# installed /usr/bin/vhx-vm and the tree's own vhx-vm moved away, and
# dpkg --purge must take away the module and every installed file.  KTAP
# out; the logs of apt and dpkg go to $VHX_OUT/packages-*.log.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
version=${1:-}
kver=$(uname -r)
debs=("build/deb/vhx-dkms_${version}_all.deb" "build/deb/vhx-tools_${version}_amd64.deb")
logdir=${VHX_OUT:-/tmp}
dkms_ko_glob="/lib/modules/$kver/updates/dkms/vhx.ko*"
tree_vm=$top/build/user/vhx-vm
hidden_vm=/tmp/vhx-vm.tree
n=0
failed=0
no_install=
no_module=

export DEBIAN_FRONTEND=noninteractive

diag() {
	echo "# $*"
}

# result NAME STATUS [DETAIL]: one KTAP result.
result() {
	n=$((n + 1))
	[ -z "${3:-}" ] || diag "$1: $3"
	if [ "$2" = 0 ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		failed=1
	fi
}

# step NAME install|module: whether NAME, which needs the packages
# installed (or that and vhx loaded), may run; if not, it fails here with
# the reason.
step() {
	local why=$no_install

	[ "$2" != module ] || why=${why:-$no_module}
	[ -z "$why" ] && return 0
	result "$1" 1 "not run: $why"
	return 1
}

# show FILE: its last lines as diagnostics.
show() {
	tail -n "${2:-25}" "$1" 2> /dev/null | sed 's/^/#   /'
}

elapsed() {
	echo "$(($(date +%s) - $1))s"
}

# The packages of ours that dpkg knows in any state but "not installed"
# (removed ones with their configuration left count).
pkgs_known() {
	dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n' vhx-dkms vhx-tools \
		2> /dev/null | awk '$2 !~ /^.n/' | tr '\n' ' '
}

dkms_ko() {
	compgen -G "$dkms_ko_glob" | head -n 1
}

# build_id FILE: the GNU build ID of a module file, compressed or not.
build_id() {
	local tmp=/tmp/vhx-build-id.ko

	case $1 in
	*.xz) xz -dc "$1" > "$tmp" ;;
	*.zst) zstd -qdc "$1" > "$tmp" ;;
	*.gz) gzip -dc "$1" > "$tmp" ;;
	*) cp "$1" "$tmp" ;;
	esac 2> /dev/null
	readelf -n "$tmp" 2> /dev/null | sed -n 's/^ *Build ID: //p'
	rm -f "$tmp"
}

# The loaded module's, from its note in sysfs: a 12-byte header, the
# name "GNU\0", then the ID.
loaded_build_id() {
	local hex

	hex=$(od -An -tx1 /sys/module/vhx/notes/.note.gnu.build-id 2> /dev/null |
	      tr -d ' \n')
	echo "${hex:32}"
}

# cmd > LOG, each line stamped with the time (where a slow step spent it).
stamped() {
	local log=$1 line
	shift

	"$@" 2>&1 | while IFS= read -r line; do
		printf '%(%T)T %s\n' -1 "$line"
	done > "$log"
	return "${PIPESTATUS[0]}"
}

restore_tree_vm() {
	[ ! -e "$hidden_vm" ] || mv "$hidden_vm" "$tree_vm"
}
trap restore_tree_vm EXIT

echo "TAP version 13"
echo "1..13"

# The VM's root is the host's: a vhx that the host has installed or
# registered would be what this finds, not what the packages install.
why=
if [ "${VHX_IN_VM:-}" != 1 ]; then
	why="not in the test VM (run through scripts/vm-run.sh)"
elif [ -z "$version" ]; then
	why="usage: vm.sh VERSION"
elif [ ! -f "${debs[0]}" ] || [ ! -f "${debs[1]}" ]; then
	why="missing ${debs[*]} (make deb VERSION=$version)"
elif [ -d /sys/module/vhx ]; then
	why="vhx is already loaded"
elif [ -n "$(pkgs_known)" ]; then
	why="the host has vhx packages installed: $(pkgs_known)"
elif [ -n "$(dkms status vhx 2> /dev/null)" ]; then
	why="vhx is registered with DKMS on the host: $(dkms status vhx 2>&1 | tr '\n' ' ') (make dkms-remove)"
elif modinfo -n vhx > /dev/null 2>&1; then
	why="a vhx.ko is installed on the host already: $(modinfo -n vhx) (make uninstall KVER=$kver)"
fi
[ -z "$why" ]
result "no vhx installed before" $? "$why"
[ -z "$why" ] || no_install="vhx was there before"

# What README.md's Install section says, with the same paths.  Without
# man-db's index update on its trigger (in the VM's overlay only): under
# emulation it took 3.5 minutes after the install and 2.7 after the purge
# and tests nothing of ours.
if step "apt install both packages" install; then
	rm -f /var/lib/man-db/auto-update
	t0=$(date +%s)
	stamped "$logdir/packages-install.log" apt-get install -y "${debs[@]/#/./}"
	rc=$?
	if [ $rc != 0 ]; then
		show "$logdir/packages-install.log"
		no_install="apt install failed"
	fi
	result "apt install both packages" $rc \
	       "apt-get install -y ./${debs[0]} ./${debs[1]}: status $rc, $(elapsed "$t0")"
fi

if step "dkms built and installed vhx.ko for $kver" install; then
	status=$(dkms status -m vhx -v "$version" -k "$kver" 2> /dev/null)
	ko=$(dkms_ko)
	magic=
	[ -z "$ko" ] || magic=$(modinfo -F vermagic "$ko" 2> /dev/null)
	[[ $status == *": installed"* ]] && [ -n "$ko" ] && [[ $magic == "$kver "* ]]
	rc=$?
	[ $rc = 0 ] || no_module="no DKMS-built module"
	result "dkms built and installed vhx.ko for $kver" $rc \
	       "dkms status '$status', ${ko:-no $dkms_ko_glob}, vermagic '${magic:-none}'"
fi

# modprobe must take the module DKMS installed, by the index depmod
# made; the loaded module's build ID must be that file's.
if step "modprobe vhx loads the DKMS-built module" module; then
	ko=$(dkms_ko)
	found=$(modinfo -n vhx 2> /dev/null)
	loaded=$(modprobe -v vhx 2>&1)
	rc=$?
	id_file=$(build_id "$ko")
	id_loaded=$(loaded_build_id)
	id_tree=$(build_id "build/kmod/$kver/vhx.ko")
	[ $rc = 0 ] && [ "$found" = "$ko" ] && [[ $loaded == *"insmod $ko "* ]] &&
		[ -n "$id_loaded" ] && [ "$id_loaded" = "$id_file" ]
	rc=$?
	[ $rc = 0 ] || no_module="vhx did not load from DKMS"
	result "modprobe vhx loads the DKMS-built module" $rc \
	       "modinfo -n: ${found:-none}; modprobe -v: ${loaded//$'\n'/ }; build ID loaded ${id_loaded:-none}, DKMS's ${id_file:-none} (build/kmod's: ${id_tree:-none})"
fi

if step "/dev/vhx-net and /dev/vhx-blk" module; then
	[ -c /dev/vhx-net ] && [ -c /dev/vhx-blk ]
	rc=$?
	result "/dev/vhx-net and /dev/vhx-blk" $rc \
	       "$(stat -c '%n %F %t:%T' /dev/vhx-net /dev/vhx-blk 2>&1 | tr '\n' ';')"
fi

# udevd does not run here (a chroot); udevadm test runs the rules for one
# device and applies what they set to its node.
for node in vhx-net vhx-blk; do
	step "udev rule: /dev/$node group kvm mode 0660" module || continue
	udevadm test --action=add "/sys/class/misc/$node" \
		> "$logdir/packages-udev-$node.log" 2>&1
	got=$(stat -c '%G %a' "/dev/$node" 2> /dev/null)
	[ "$got" = "kvm 660" ]
	rc=$?
	[ $rc = 0 ] || grep -E "60-vhx|$node:" "$logdir/packages-udev-$node.log" |
		sed 's/^/#   udevadm test: /'
	result "udev rule: /dev/$node group kvm mode 0660" $rc \
	       "after udevadm test: ${got:-no node}"
done

if step "vhx-tools files" install; then
	missing=
	for f in /usr/bin/vhx-vm /usr/share/man/man1/vhx-vm.1.gz \
		 /lib/udev/rules.d/60-vhx.rules \
		 /usr/share/doc/vhx-tools/examples/modprobe-vhx.conf \
		 /usr/share/doc/vhx-tools/examples/modules-load-vhx.conf; do
		[ -e "$f" ] && [ "$(dpkg -S "$f" 2> /dev/null | cut -d: -f1)" = vhx-tools ] ||
			missing="$missing $f"
	done
	[ -x /usr/bin/vhx-vm ] || missing="$missing (/usr/bin/vhx-vm not executable)"
	[ -z "$missing" ]
	result "vhx-tools files" $? "${missing:+not installed by vhx-tools:$missing}"
fi

# The examples are documentation: nothing may act on them.
if step "examples not active" module; then
	active=$(ls /etc/modprobe.d/*vhx* /etc/modules-load.d/*vhx* 2> /dev/null)
	param=$(cat /sys/module/vhx/parameters/as_vhost_net 2> /dev/null)
	[ -z "$active" ] && [ "$param" = N ]
	result "examples not active" $? "as_vhost_net=${param:-unknown}${active:+, active: $active}"
fi

# The e2e test with the installed vhx-vm; the tree's is moved out of the
# way so that a test that ignored VHX_VM fails.
if step "e2e vhx-vm-net with /usr/bin/vhx-vm" module; then
	rc=1
	if mv "$tree_vm" "$hidden_vm" 2> /dev/null || [ ! -e "$tree_vm" ]; then
		VHX_VM=/usr/bin/vhx-vm selftests/run.sh --no-reference vhx-vm-net |
			sed 's/^/    /'
		rc=${PIPESTATUS[0]}
		restore_tree_vm
	else
		diag "cannot move $tree_vm aside"
	fi
	result "e2e vhx-vm-net with /usr/bin/vhx-vm" "$rc"
fi

# Module references left behind (open files, workers) stop the unload.
if step "rmmod vhx" module; then
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		rmmod vhx 2> /dev/null && break
		sleep 0.5
	done
	[ ! -d /sys/module/vhx ]
	result "rmmod vhx" $?
fi

if step "dpkg --purge both packages" install; then
	t0=$(date +%s)
	stamped "$logdir/packages-purge.log" dpkg --purge vhx-tools vhx-dkms
	rc=$?
	[ $rc = 0 ] || show "$logdir/packages-purge.log"
	left=$(pkgs_known)
	[ $rc = 0 ] && [ -z "$left" ]
	result "dpkg --purge both packages" $? \
	       "status $rc, $(elapsed "$t0")${left:+, still known to dpkg: $left}"
fi

if step "purge left nothing" install; then
	# shellcheck disable=SC2086 # the module's name is a glob
	left=$(ls -d $dkms_ko_glob /var/lib/dkms/vhx "/usr/src/vhx-$version" \
		  /usr/bin/vhx-vm /lib/udev/rules.d/60-vhx.rules \
		  /usr/share/doc/vhx-dkms /usr/share/doc/vhx-tools 2> /dev/null)
	modinfo -n vhx > /dev/null 2>&1 && left="$left modinfo: $(modinfo -n vhx)"
	[ -z "$left" ]
	result "purge left nothing" $? "${left:+left: ${left//$'\n'/ }}"
fi

exit $failed
