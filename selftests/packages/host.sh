#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The packaging, on the host (no module is loaded here):
#
#   selftests/packages/host.sh [--kernel KVER]
#
# make deb must build vhx-dkms and vhx-tools with what each is to hold,
# lintian must find no error or warning in either (the tags it may still
# report are explained in debian/*.lintian-overrides, or info only), and
# make install / make uninstall into a DESTDIR must install exactly the
# tools, the man page, the udev rule and vhx.ko for KVER (default: the
# newest supported kernel), and remove exactly those again.  KTAP out;
# logs in build/check/packages-*.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/scripts/kernels.sh"
kver=
if [ "${1:-}" = --kernel ] && [ -n "${2:-}" ]; then
	kver=$2
elif [ $# -gt 0 ]; then
	echo "usage: host.sh [--kernel KVER]" >&2
	exit 2
fi
[ -n "$kver" ] || kver=$(default_kernel)
logdir=$top/build/check
mkdir -p "$logdir"
# make deb checks that the Makefile's VERSION is the changelog's.
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
dkms_deb=build/deb/vhx-dkms_${version}_all.deb
tools_deb=build/deb/vhx-tools_${version}_amd64.deb
n=0
failed=0

diag() {
	echo "# $*"
}

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

show() {
	tail -n "${2:-25}" "$1" 2> /dev/null | sed 's/^/#   /'
}

# contents DEB PATH...: the PATHs DEB lacks.
lacks() {
	local deb=$1 list p
	shift

	list=$(dpkg-deb -c "$deb" 2> /dev/null | awk '{ print $6 }')
	for p in "$@"; do
		grep -qxF "./$p" <<< "$list" || echo "$p"
	done
}

echo "TAP version 13"
echo "1..6"

make -s deb > "$logdir/packages-deb.log" 2>&1
rc=$?
[ $rc = 0 ] || show "$logdir/packages-deb.log"
[ $rc = 0 ] && [ -f "$dkms_deb" ] && [ -f "$tools_deb" ]
result "make deb" $? "$dkms_deb, $tools_deb (log: build/check/packages-deb.log)"

for deb in "$dkms_deb" "$tools_deb"; do
	name=${deb##*/}
	name=${name%%_*}
	out=$logdir/packages-lintian-$name.txt
	if [ ! -f "$deb" ]; then
		result "lintian $name" 1 "no $deb"
		continue
	fi
	# Root is what make check runs as; lintian only says it would
	# rather not.
	lintian --fail-on error,warning --pedantic --display-info --show-overrides \
		"$deb" 2>&1 | grep -v '^running with root privileges' > "$out"
	rc=${PIPESTATUS[0]}
	sed 's/^/#   /' "$out"
	result "lintian $name" "$rc" \
	       "$(grep -c "^[A-Z]: " "$out") tags of any level (E: and W: fail; O: overridden ones are explained in debian/)"
done

# What each package must hold; what installing them does is the VM's
# test (selftests/packages/vm.sh).
why=
if [ -f "$dkms_deb" ] && [ -f "$tools_deb" ]; then
	missing=$(lacks "$dkms_deb" "usr/src/vhx-$version/dkms.conf" \
		"usr/src/vhx-$version/Kbuild" "usr/src/vhx-$version/kmod/main.c" \
		"usr/src/vhx-$version/uapi/linux/vhx.h" \
		usr/share/doc/vhx-dkms/copyright)
	missing="$missing $(lacks "$tools_deb" usr/bin/vhx-vm \
		usr/share/man/man1/vhx-vm.1.gz lib/udev/rules.d/60-vhx.rules \
		usr/share/doc/vhx-tools/examples/modprobe-vhx.conf \
		usr/share/doc/vhx-tools/examples/modules-load-vhx.conf \
		usr/share/doc/vhx-tools/copyright)"
	missing=$(xargs <<< "$missing")
	[ -z "$missing" ] || why="missing: $missing"
	conf=$(dpkg-deb --fsys-tarfile "$dkms_deb" |
	       tar -xO "./usr/src/vhx-$version/dkms.conf" 2> /dev/null)
	grep -qx "PACKAGE_VERSION=\"$version\"" <<< "$conf" ||
		why="$why${why:+; }dkms.conf without PACKAGE_VERSION=\"$version\""
	dep=$(dpkg-deb -f "$dkms_deb" Depends)
	[[ $dep == *dkms* ]] || why="$why${why:+; }vhx-dkms Depends: '$dep'"
	dep=$(dpkg-deb -f "$tools_deb" Depends)
	[[ $dep == *libc6* && $dep == *libseccomp2* ]] ||
		why="$why${why:+; }vhx-tools Depends: '$dep'"
else
	why="no packages"
fi
[ -z "$why" ]
result "package contents and dependencies" $? "$why"

# make install / uninstall into a DESTDIR: exactly these files, with
# these modes, and none left after.
dest=$(mktemp -d "${TMPDIR:-/tmp}/vhx-install.XXXXXX")
trap 'rm -rf "$dest"' EXIT
want="644 lib/modules/$kver/updates/vhx.ko
755 usr/local/bin/vhx-vm
644 usr/local/lib/udev/rules.d/60-vhx.rules
644 usr/local/share/man/man1/vhx-vm.1"
if [ -z "$kver" ]; then
	result "make install DESTDIR" 1 "no supported kernel with headers"
	result "make uninstall DESTDIR" 1 "no supported kernel with headers"
else
	make -s install DESTDIR="$dest" KVER="$kver" \
		> "$logdir/packages-install.log" 2>&1
	rc=$?
	[ $rc = 0 ] || show "$logdir/packages-install.log"
	got=$(cd "$dest" && find . ! -type d -printf '%m %P\n' | LC_ALL=C sort -k2)
	why=
	[ "$got" = "$want" ] ||
		why=", installed: $(tr '\n' ' ' <<< "$got")(want: $(tr '\n' ' ' <<< "$want"))"
	[ $rc = 0 ] && [ -z "$why" ]
	result "make install DESTDIR" $? "status $rc$why"
	make -s uninstall DESTDIR="$dest" KVER="$kver" \
		>> "$logdir/packages-install.log" 2>&1
	rc=$?
	got=$(cd "$dest" && find . ! -type d -printf '%P\n')
	[ $rc = 0 ] && [ -z "$got" ]
	result "make uninstall DESTDIR" $? "status $rc${got:+, left: $(tr '\n' ' ' <<< "$got")}"
fi
exit $failed
