#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build vhx.ko for one kernel in a directory of its own; what `make module
# KVER=...` (into build/kmod/KVER) and `make sparse` run:
#
#   build-module.sh KVER OUTDIR [C=1|C=2]
#
# The sources are copied into OUTDIR, because kbuild writes an external
# module's objects beside its sources, so builds for several kernels do
# not overwrite each other's.  W=1; with C=2 sparse checks every file too.
# Fails if the compiler or sparse has anything to say about our own files
# (kmod/, uapi/); what they say about the kernel's headers is not ours to
# fix and is only counted.  The full log is OUTDIR/build.log.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: build-module.sh KVER OUTDIR [C=1|C=2]" >&2
	exit 2
fi
kver=$1
out=$2
check=${3:-}
top=$(cd "$(dirname "$0")/.." && pwd)
kdir=$("$top/scripts/kdir.sh" "$kver") || exit 1
case $check in
'') ;;
C=1 | C=2)
	if ! command -v sparse >/dev/null; then
		echo "build-module: sparse not installed (run scripts/install-deps.sh)" >&2
		exit 1
	fi
	;;
*)
	echo "build-module: unknown argument '$check' (want C=1 or C=2)" >&2
	exit 2
	;;
esac

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/kmod" "$out/uapi"
cp -r "$top/Kbuild" "$top/kmod" "$top/uapi" "$out/"
log=$out/build.log
if ! make -s -C "$kdir" M="$out" W=1 $check modules > "$log" 2>&1; then
	cat "$log" >&2
	echo "build-module: build for $kver failed" >&2
	exit 1
fi

# Our files show up by absolute path in M= builds, the kernel's relative
# to its tree or absolute elsewhere; a report without a path (the
# compiler's own) is ours.  Compare prefixes as plain strings: kernel
# versions hold regex characters ("6.12.95+deb12").
reports=$(grep -E '(warning|error):' "$log" || true)
split='
	{ theirs = index($0, out) != 1 && ($0 ~ /^(\/|\.\/|include\/|arch\/)/) }'
mine=$(awk -v out="$out/" "$split"' !theirs && NF' <<< "$reports")
theirs=$(awk -v out="$out/" "$split"' theirs' <<< "$reports" | wc -l)
if [ -n "$mine" ]; then
	printf '%s\n' "$mine" >&2
	echo "build-module: ${check:+sparse or }compiler reports on our sources for $kver" >&2
	exit 1
fi
echo "build-module: $kver ${check:+($check) }clean ($theirs reports from kernel headers ignored)"
