#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the initramfs of the L2 guest that vhx-vm (or QEMU) boots inside the
# test VM: busybox, the virtio_pci/virtio_net/virtio_blk modules of KVER
# (and pvpanic-mmio, so that a guest panic reaches the VMM, button and
# evdev, so that the ACPI power button shows as an input device),
# iperf3, fio and ethtool with their shared libraries, the guest halves of
# the e2e tests (selftests/e2e/guest/) and an init that runs the command
# given after "--" on the kernel command line (its words joined and run by
# sh -c), then powers off.
#
#   mkguest.sh [--fio] [KVER] [OUTPUT]
#   mkguest.sh --inputs-hash [--fio] [KVER]
#
# KVER defaults to the running kernel, OUTPUT to
# build/guest/initramfs-KVER.cpio, or initramfs-KVER-fio.cpio with --fio.
# fio comes only with --fio: Debian's fio links 85 MB of libraries (ceph,
# gluster, ICU), which the L2 guest needs about 15 s to unpack under nested
# emulation.  The archive is uncompressed for the same reason.
#
# Beside OUTPUT goes OUTPUT.inputs, a hash of what made it (this script,
# selftests/e2e/guest/*, KVER, --fio); --inputs-hash prints the hash the
# current sources give, so that users can tell whether OUTPUT is stale.
#
# The guest's init prints "vhx-guest: init" first (the boot-time marker the
# e2e tests time), then "vhx-guest: exit N" with the command's status.
set -euo pipefail

me=mkguest
top=$(cd "$(dirname "$0")/.." && pwd)

die() {
	echo "$me: $*" >&2
	exit 1
}

inputs_hash=
if [ "${1:-}" = --inputs-hash ]; then
	inputs_hash=1
	shift
fi
with_fio=
case ${1:-} in
-h | --help)
	sed -n '/^#   mkguest.sh/,/^# The guest/p' "$0" >&2
	exit 0
	;;
--fio)
	with_fio=-fio
	shift
	;;
-*)
	echo "$me: unknown option '$1' (usage: $me [--fio] [KVER] [OUTPUT])" >&2
	exit 2
	;;
esac
[ $# -le 2 ] || { echo "usage: $me [--fio] [KVER] [OUTPUT]" >&2; exit 2; }
kver=${1:-$(uname -r)}
out=${2:-$top/build/guest/initramfs-$kver$with_fio.cpio}

hash_inputs() {
	{
		echo "$kver$with_fio"
		cat "$0"
		cat "$top"/selftests/e2e/guest/* 2>/dev/null
	} | sha256sum | cut -d' ' -f1
}
if [ -n "$inputs_hash" ]; then
	hash_inputs
	exit 0
fi

[ -d "/lib/modules/$kver/kernel" ] || die "no modules for kernel $kver in /lib/modules"
for tool in busybox cpio ldd; do
	command -v "$tool" >/dev/null || die "$tool not found (apt-get install busybox-static cpio)"
done
busybox=$(command -v busybox)
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
	ldd "$busybox" 2>&1 | grep -q 'not a dynamic' ||
	die "$busybox is not static (apt-get install busybox-static)"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt,lib/modules,usr/bin,usr/sbin}
# The kernel opens /dev/console for init before anything is mounted.
mknod -m 600 "$root/dev/console" c 5 1 || die "mknod /dev/console failed (run as root)"
mknod -m 666 "$root/dev/null" c 1 3
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

# Modules in dependency order; Debian 6.12 compresses them.
: > "$root/lib/modules/load-order"
# (one module per call: modprobe takes further words as parameters)
for mod in virtio_pci virtio_net virtio_blk pvpanic_mmio button evdev; do
	modprobe -S "$kver" --show-depends "$mod" ||
		die "modprobe cannot resolve $mod for $kver"
done |
while read -r what path _; do
	[ "$what" = insmod ] || continue
	name=$(basename "$path")
	case $name in
	*.ko.xz) xz -dc "$path" > "$root/lib/modules/${name%.xz}"; name=${name%.xz} ;;
	*.ko.zst) zstd -qdc "$path" > "$root/lib/modules/${name%.zst}"; name=${name%.zst} ;;
	*.ko.gz) gzip -dc "$path" > "$root/lib/modules/${name%.gz}"; name=${name%.gz} ;;
	*) cp "$path" "$root/lib/modules/$name" ;;
	esac
	grep -qx "$name" "$root/lib/modules/load-order" ||
		echo "$name" >> "$root/lib/modules/load-order"
done

# Binaries and every library they pull in, at their own paths.
copy_with_libs() {
	local bin=$1 lib

	cp -L "$bin" "$root/usr/bin/"
	for lib in $(ldd "$bin" | awk '/=>/ { print $3 } /^\t\// { print $1 }'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
tools="iperf3 ethtool"
[ -z "$with_fio" ] || tools="$tools fio"
for tool in $tools; do
	path=$(command -v "$tool") || die "$tool not found (apt-get install $tool)"
	copy_with_libs "$path"
done

if [ -d "$top/selftests/e2e/guest" ]; then
	mkdir -p "$root/e2e"
	cp "$top"/selftests/e2e/guest/* "$root/e2e/"
fi

cat > "$root/init" <<'INIT'
#!/bin/sh
export PATH=/usr/bin:/usr/sbin:/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
echo "vhx-guest: init"
while read -r m; do
	insmod "/lib/modules/$m" || echo "vhx-guest: insmod $m failed"
done < /lib/modules/load-order
ip link set lo up
if [ $# -gt 0 ]; then
	# The kernel splits the command line into words (keeping "quoted
	# strings" together); join them back into one shell command.
	/bin/sh -c "$*"
	rc=$?
	echo "vhx-guest: exit $rc"
else
	echo "vhx-guest: no command; starting a shell (exit to power off)"
	setsid cttyhack sh
fi
sync
poweroff -f
INIT
chmod +x "$root/init"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
hash_inputs > "$out.inputs"
echo "$me: wrote $out ($(du -h "$out" | cut -f1))"
