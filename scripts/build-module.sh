#!/bin/bash
# Build vhx.ko for one kernel in its own directory, so that builds for
# several kernels do not overwrite each other's objects.
#   build-module.sh KVER OUTDIR [extra kbuild args, e.g. C=1]
set -euo pipefail
kver=$1
out=$2
shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
kdir=/lib/modules/$kver/build
if [ ! -d "$kdir" ]; then
	echo "build-module: no headers for $kver at $kdir" >&2
	exit 1
fi
mkdir -p "$out"
rm -rf "$out/kmod" "$out/uapi"
cp -r "$top/Kbuild" "$top/kmod" "$top/uapi" "$out/"
log=$out/build.log
if ! make -s -C "$kdir" M="$(cd "$out" && pwd)" W=1 "$@" modules >"$log" 2>&1; then
	cat "$log" >&2
	echo "build-module: build for $kver failed" >&2
	exit 1
fi
if grep -E 'warning:|error:' "$log" >&2; then
	echo "build-module: build for $kver is not warning-clean" >&2
	exit 1
fi
