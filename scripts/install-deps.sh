#!/bin/bash
# Install what building and testing vhx needs, from Debian bookworm and
# bookworm-backports.  Idempotent: does nothing when everything is present.
set -euo pipefail

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: must run as root to install packages" >&2
		exit 1
	fi
}

add_backports() {
	local src=/etc/apt/sources.list.d/bookworm-backports.sources
	local uri

	grep -rqs bookworm-backports /etc/apt/sources.list \
		/etc/apt/sources.list.d/ && return 0
	# The main archive's mirror: deb822 sources first, then the classic
	# sources.list format.
	uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources |
	      grep -v -- '-security' | head -n 1 | sed 's/^URIs:[[:space:]]*//' |
	      cut -d' ' -f1 || true)
	[ -n "$uri" ] ||
		uri=$(sed -nE 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?'\
'([^[:space:]]+)[[:space:]]+bookworm[[:space:]].*/\2/p' \
		      /etc/apt/sources.list 2>/dev/null | head -n 1 || true)
	[ -n "$uri" ] || uri=http://deb.debian.org/debian
	cat > "$src" <<EOT
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
}

PKGS="build-essential make gcc sparse kmod cpio busybox-static \
	linux-image-amd64 linux-headers-amd64 iproute2 fio iperf3 \
	e2fsprogs ethtool gnuplot-nox python3 jq clang-14 libclang-rt-14-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
# Both supported kernel families, image and headers: 6.1 from bookworm
# (or bookworm-security), 6.12 from bookworm-backports.
have_kernel() {
	local k
	for k in /boot/vmlinuz-"$1".*-amd64; do
		[ -f "$k" ] || continue
		[ -e "/lib/modules/${k#/boot/vmlinuz-}/build/Makefile" ] && return 0
	done
	return 1
}
have_61=0
have_612=0
have_kernel 6.1 && have_61=1
have_kernel 6.12 && have_612=1
qemu_ok=0
if command -v qemu-system-x86_64 >/dev/null; then
	qemu_ok=1
fi

if [ -z "$missing" ] && [ $have_61 = 1 ] && [ $have_612 = 1 ] &&
   [ $qemu_ok = 1 ]; then
	exit 0
fi

need_root
export DEBIAN_FRONTEND=noninteractive
add_backports
apt-get update -qq
# shellcheck disable=SC2086
[ -z "$missing" ] || apt-get install -y -qq --no-install-recommends $missing
if [ $have_61 = 0 ]; then
	# By name: the linux-image-amd64 meta-package may already point at
	# the backports kernel.
	abi=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' |
	      cut -d' ' -f1 | sed 's/^linux-image-//' | sort -V | tail -n 1)
	if [ -z "$abi" ]; then
		echo "install-deps: no linux-image-6.1.0-*-amd64 in the archive" >&2
		exit 1
	fi
	apt-get install -y -qq --no-install-recommends \
		"linux-image-$abi" "linux-headers-$abi"
fi
if [ $have_612 = 0 ]; then
	apt-get install -y -qq --no-install-recommends -t bookworm-backports \
		linux-image-amd64 linux-headers-amd64
fi
if [ $qemu_ok = 0 ]; then
	apt-get install -y -qq --no-install-recommends -t bookworm-backports \
		qemu-system-x86 qemu-utils
fi
for family in 6.1 6.12; do
	if ! have_kernel $family; then
		echo "install-deps: kernel $family (image and headers) still" \
		     "missing after installation" >&2
		exit 1
	fi
done
