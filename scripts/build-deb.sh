#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the Debian packages; what `make deb` runs:
#
#   build-deb.sh VERSION OUTDIR
#
# OUTDIR gets vhx-dkms_VERSION_all.deb, vhx-tools_VERSION_amd64.deb (and
# vhx-tools-dbgsym, the .buildinfo and .changes beside them), built by
# dpkg-buildpackage (debhelper, dh_dkms) from a copy of the sources in
# OUTDIR/vhx-VERSION: dpkg-buildpackage writes its results into the
# parent of the tree it builds, which is not to be the repository's.
# VERSION (the Makefile's) must be debian/changelog's.  The full log is
# OUTDIR/build.log.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: build-deb.sh VERSION OUTDIR" >&2
	exit 2
fi
version=$1
out=$2
top=$(cd "$(dirname "$0")/.." && pwd)

for tool in dpkg-buildpackage dh dh_dkms; do
	if ! command -v $tool > /dev/null; then
		echo "build-deb: $tool not found (run scripts/install-deps.sh:" \
		     "dpkg-dev, debhelper, dh-dkms)" >&2
		exit 1
	fi
done
changelog=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
if [ "$changelog" != "$version" ]; then
	echo "build-deb: VERSION is $version but debian/changelog says" \
	     "$changelog; make them agree (dch -v $version, or make deb" \
	     "VERSION=$changelog)" >&2
	exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/vhx-$version
rm -rf "$src"
rm -f "$out"/*.deb "$out"/*.ddeb "$out"/*.buildinfo "$out"/*.changes
mkdir "$src"
# What the packages are built from, and no build output.
cp -r "$top"/{Kbuild,Makefile,README.md,dkms.conf,config,debian,kmod,uapi,userspace} "$src/"

log=$out/build.log
if ! (cd "$src" && dpkg-buildpackage -b -us -uc) > "$log" 2>&1; then
	tail -n 40 "$log" >&2
	echo "build-deb: dpkg-buildpackage failed (log: $log)" >&2
	exit 1
fi
for deb in "vhx-dkms_${version}_all.deb" "vhx-tools_${version}_amd64.deb"; do
	if [ ! -f "$out/$deb" ]; then
		echo "build-deb: dpkg-buildpackage made no $deb (log: $log)" >&2
		exit 1
	fi
	echo "build-deb: $out/$deb"
done
