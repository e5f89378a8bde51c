#!/bin/bash
# Install what building and testing vhx needs, from Debian bookworm and
# bookworm-backports.  Idempotent: does nothing when everything is present.
set -euo pipefail

BPO_KVER_PATTERN='linux-image-6.12.*+bpo-amd64'

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: must run as root to install packages" >&2
		exit 1
	fi
}

add_backports() {
	local src=/etc/apt/sources.list.d/bookworm-backports.sources
	[ -f "$src" ] && return 0
	local uri
	uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
	      grep -m1 debian.org/debian$ || true)
	[ -n "$uri" ] || uri="URIs: http://deb.debian.org/debian"
	cat > "$src" <<EOT
Types: deb
$uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
	UPDATED=0
}

PKGS="build-essential make gcc sparse kmod cpio busybox-static \
	linux-image-amd64 linux-headers-amd64 iproute2 fio iperf3 \
	e2fsprogs ethtool gnuplot-nox"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
have_bpo_image=$(ls /boot/vmlinuz-6.12.* 2>/dev/null | head -1 || true)
have_bpo_headers=$(ls -d /usr/src/linux-headers-6.12.*-amd64 2>/dev/null | head -1 || true)
qemu_ok=0
if command -v qemu-system-x86_64 >/dev/null; then
	qemu_ok=1
fi

if [ -z "$missing" ] && [ -n "$have_bpo_image" ] && [ -n "$have_bpo_headers" ] &&
   [ $qemu_ok = 1 ]; then
	exit 0
fi

need_root
export DEBIAN_FRONTEND=noninteractive
UPDATED=1
add_backports
apt-get update -qq
# shellcheck disable=SC2086
[ -z "$missing" ] || apt-get install -y -qq --no-install-recommends $missing
if [ -z "$have_bpo_image" ] || [ -z "$have_bpo_headers" ]; then
	apt-get install -y -qq --no-install-recommends -t bookworm-backports \
		linux-image-amd64 linux-headers-amd64
fi
if [ $qemu_ok = 0 ]; then
	apt-get install -y -qq --no-install-recommends -t bookworm-backports \
		qemu-system-x86 qemu-utils
fi
