#!/bin/sh
# Print the kernel build directory for KVER (default: the running kernel),
# falling back to the newest installed headers.  Fails with a message when
# no headers are installed.
kver=${1:-$(uname -r)}
if [ -d "/lib/modules/$kver/build" ]; then
	echo "/lib/modules/$kver/build"
	exit 0
fi
newest=$(ls -d /lib/modules/*/build 2>/dev/null | sort -V | tail -1)
if [ -n "$newest" ]; then
	echo "$newest"
	exit 0
fi
echo "kdir: no kernel headers in /lib/modules/*/build;" \
     "run 'make deps' or install linux-headers-amd64" >&2
exit 1
