#!/bin/sh
# Print the kernel build directory for KVER (default: the running kernel).
# A module built against other headers fails insmod with "Invalid module
# format", so missing headers are an error, with the ones installed named.
kver=${1:-$(uname -r)}
if [ -d "/lib/modules/$kver/build" ]; then
	echo "/lib/modules/$kver/build"
	exit 0
fi
have=$(ls -d /lib/modules/*/build 2>/dev/null | sed 's|^/lib/modules/||; s|/build$||' | sort -V | tr '\n' ' ' | sed 's/ $//')
echo "kdir: no kernel headers for $kver in /lib/modules/$kver/build;" \
     "install linux-headers-$kver, or build for another kernel with" \
     "'make KVER=...'${have:+ (headers installed: $have)}" >&2
exit 1
