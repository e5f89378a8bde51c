#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the test VM's initramfs for one installed kernel:
#
#   mkinitramfs.sh KVER OUTFILE
#
# The initramfs holds only busybox, the modules needed to reach the host's
# root file system over virtio-9p (decompressed, so busybox insmod can load
# them), and an init that mounts that root read-only under a tmpfs overlay
# and hands over to scripts/vm-guest.sh.  The protocol with vm-run.sh:
#
#   virtio-9p tag "hostroot"  the host's /, mounted read-only
#   virtio-9p tag "vhxout"    vm-run.sh's --out directory, read-write; it
#                             holds vm-job.env, which names the guest
#                             runner (VHX_GUEST) and the directory's host
#                             path (VHX_OUT), where it is mounted again
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: mkinitramfs.sh KVER OUTFILE" >&2
	exit 2
fi
kver=$1
outfile=$2
moddir=/lib/modules/$kver
busybox=/bin/busybox

if [ ! -d "$moddir" ]; then
	echo "mkinitramfs: no modules for $kver in $moddir" >&2
	exit 1
fi
if [ ! -x "$busybox" ] || ! "$busybox" --list | grep -qx insmod; then
	echo "mkinitramfs: $busybox missing or incomplete;" \
	     "install busybox-static (scripts/install-deps.sh)" >&2
	exit 1
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/vhx-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,modules,mnt/lower,mnt/rw,mnt/root,mnt/out}
cp "$busybox" "$stage/bin/busybox"
# Without /dev/console the kernel starts init with no stdio; the init
# script reopens the console after mounting devtmpfs, so this is only a
# convenience where we are allowed to create device nodes.
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true

# modprobe takes one module per call here: further names would be parsed
# as module parameters.  Keep the first occurrence of each dependency.
: > "$stage/modules.list"
n=0
for mod in virtio_pci 9pnet_virtio 9p overlay; do
	deps=$(modprobe -S "$kver" --show-depends "$mod") || {
		echo "mkinitramfs: modprobe cannot resolve $mod for $kver" >&2
		exit 1
	}
	while read -r verb path _; do
		[ "$verb" = insmod ] || continue	# "builtin NAME"
		name=$(basename "$path")
		name=${name%.xz}
		name=${name%.zst}
		name=${name%.gz}
		grep -qx "[0-9]*-$name" "$stage/modules.list" && continue
		n=$((n + 1))
		dst=$(printf '%02d-%s' "$n" "$name")
		case $path in
		*.xz)	"$busybox" xzcat "$path" > "$stage/modules/$dst" ;;
		*.gz)	gzip -dc "$path" > "$stage/modules/$dst" ;;
		*.zst)	zstd -qdc "$path" > "$stage/modules/$dst" ;;
		*)	cp "$path" "$stage/modules/$dst" ;;
		esac
		echo "$dst" >> "$stage/modules.list"
	done <<< "$deps"
done

cat > "$stage/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys

die() {
	echo "vm-init: $*"
	echo "vm-init: cannot start the test, powering off"
	sync
	poweroff -f
	sleep 5
	reboot -f
}

for m in $(cat /modules.list); do
	insmod "/modules/$m" || die "insmod $m failed"
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 \
	hostroot /mnt/lower || die "cannot mount the host root (9p)"
mount -t tmpfs -o mode=0755 tmpfs /mnt/rw || die "tmpfs"
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay \
	-o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work \
	overlay /mnt/root || die "cannot mount the overlay"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 \
	vhxout /mnt/out || die "cannot mount the output directory (9p)"
[ -r /mnt/out/vm-job.env ] || die "no vm-job.env in the output directory"
VHX_OUT=$(sed -n 's/^VHX_OUT=//p' /mnt/out/vm-job.env)
VHX_GUEST=$(sed -n 's/^VHX_GUEST=//p' /mnt/out/vm-job.env)
[ -n "$VHX_OUT" ] && [ -n "$VHX_GUEST" ] || die "bad vm-job.env"
mkdir -p "/mnt/root$VHX_OUT" || die "cannot create $VHX_OUT"
mount --move /mnt/out "/mnt/root$VHX_OUT" || die "cannot move $VHX_OUT"
mount --move /proc /mnt/root/proc
mount --move /sys /mnt/root/sys
mount --move /dev /mnt/root/dev

# The rest of the test environment, set up here because static busybox
# from RAM starts far quicker under TCG than the host's tools over 9p.
r=/mnt/root
mkdir -p $r/dev/pts $r/dev/shm
for fs in devpts:$r/dev/pts tmpfs:$r/dev/shm tmpfs:$r/tmp tmpfs:$r/run \
	  debugfs:$r/sys/kernel/debug; do
	mount -t "${fs%%:*}" "${fs%%:*}" "${fs#*:}" ||
		echo "vm-init: cannot mount ${fs#*:}" > $r/dev/kmsg
done
chmod 1777 $r/tmp $r/dev/shm
# What udev would add to /dev: bash's process substitution needs /dev/fd.
ln -sf /proc/self/fd $r/dev/fd
ln -sf /proc/self/fd/0 $r/dev/stdin
ln -sf /proc/self/fd/1 $r/dev/stdout
ln -sf /proc/self/fd/2 $r/dev/stderr
ip link set lo up || echo "vm-init: cannot bring lo up" > $r/dev/kmsg
echo "vm-init: root ready, starting $VHX_GUEST" > $r/dev/kmsg

# Stay PID 1 here, so that whatever the runner does, the VM powers off
# instead of panicking because init exited.
chroot /mnt/root /bin/bash "$VHX_GUEST" "$VHX_OUT/vm-job.env"
echo "vm-init: runner exited with $?"
sync
poweroff -f
sleep 5
reboot -f
EOF
chmod 755 "$stage/init"

mkdir -p "$(dirname "$outfile")"
tmp=$outfile.tmp.$$
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) |
	gzip -1 > "$tmp"
mv "$tmp" "$outfile"
