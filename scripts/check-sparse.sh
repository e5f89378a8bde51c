#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run sparse over the module's sources for one kernel:
#
#   check-sparse.sh KVER OUTDIR
#
# Builds a copy of the module in OUTDIR with C=2 (check every file, built
# or not).  Fails if sparse has anything to say about our own files (kmod/,
# uapi/); what it says about the kernel's headers is not ours to fix and
# is only counted.  The full log is OUTDIR/sparse.log.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: check-sparse.sh KVER OUTDIR" >&2
	exit 2
fi
kver=$1
out=$2
top=$(cd "$(dirname "$0")/.." && pwd)
kdir=/lib/modules/$kver/build

if [ ! -d "$kdir" ]; then
	echo "check-sparse: no headers for $kver at $kdir" >&2
	exit 1
fi
if ! command -v sparse >/dev/null; then
	echo "check-sparse: sparse not installed (run scripts/install-deps.sh)" >&2
	exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/kmod" "$out/uapi"
cp -r "$top/Kbuild" "$top/kmod" "$top/uapi" "$out/"
log=$out/sparse.log
if ! make -C "$kdir" M="$out" W=1 C=2 modules > "$log" 2>&1; then
	cat "$log" >&2
	echo "check-sparse: build for $kver failed" >&2
	exit 1
fi

# Our files show up by absolute path in M= builds; allow relative paths
# too, in case kbuild starts printing them that way.  Compare prefixes as
# plain strings: kernel versions hold regex characters ("6.12.95+deb12").
reports=$(grep -E ':[0-9]+(:[0-9]+)?: ' "$log" || true)
mine=$(awk -v out="$out/" '
	function ours(s) {
		if (index(s, out) == 1)
			s = substr(s, length(out) + 1)
		return s ~ /^(kmod|uapi)\//
	}
	ours($0)' <<< "$reports")
theirs=$(awk -v out="$out/" \
	 'index($0, out) != 1 && $0 !~ /^(kmod|uapi)\// && NF' <<< "$reports" |
	 grep -cE ': (warning|error):' || true)
if [ -n "$mine" ]; then
	printf '%s\n' "$mine" >&2
	echo "check-sparse: sparse reports on our sources for $kver" >&2
	exit 1
fi
echo "check-sparse: $kver clean ($theirs reports from kernel headers ignored)"
