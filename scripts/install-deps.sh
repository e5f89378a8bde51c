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

# The apt configuration to read; VHX_APT_ETC points elsewhere to test the
# source parsing below on made-up files (with --show-sources).
apt_etc=${VHX_APT_ETC:-/etc/apt}
apt_lists=${VHX_APT_LISTS:-/var/lib/apt/lists}

# Every apt-get call: wait for a dpkg lock held by apt-daily or
# unattended-upgrades on a freshly booted machine instead of failing, and
# retry downloads on network errors.
apt_opts=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)

# The package sources apt really uses, one "URI SUITE COMPONENTS|SIGNED-BY"
# line per URI and suite: the deb lines of sources.list and
# sources.list.d/*.list that are not commented out, and the deb stanzas of
# sources.list.d/*.sources that are not "Enabled: no".  apt ignores other
# file names (*.save, *.disabled, *.dpkg-old), and so does this.
active_sources() {
	local f

	for f in "$apt_etc/sources.list" "$apt_etc"/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -nE 's/^[[:space:]]*deb[[:space:]]+(\[([^]]*)\][[:space:]]+)?([^[:space:]]+)[[:space:]]+([^[:space:]]+)[[:space:]]*(.*)$/\3 \4 \5|\2/p' "$f" |
			sed -E 's/\|(.*signed-by=([^[:space:]]+).*|.*)$/|\2/'
	done
	for f in "$apt_etc"/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
		function flush(    i, j, nu, ns, u, su) {
			if (types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no") {
				nu = split(uris, u, /[ \t]+/)
				ns = split(suites, su, /[ \t]+/)
				for (i = 1; i <= nu; i++)
					for (j = 1; j <= ns; j++)
						if (u[i] != "" && su[j] != "")
							print u[i], su[j], comps "|" signed
			}
			types = uris = suites = comps = signed = enabled = ""
		}
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		/^[ \t]/ { next }	# continuation (an inline key)
		{
			key = tolower($0)
			sub(/:.*/, "", key)
			val = $0
			sub(/^[^:]*:[ \t]*/, "", val)
			sub(/[ \t]+$/, "", val)
			if (key == "types") types = val
			else if (key == "uris") uris = val
			else if (key == "suites") suites = val
			else if (key == "components") comps = val
			else if (key == "signed-by") signed = val
			else if (key == "enabled") enabled = val
		}
		END { flush() }' "$f"
	done
}

has_backports() {
	active_sources | awk '$2 == "bookworm-backports" { f = 1 } END { exit !f }'
}

# Is URI Debian's own archive?  apt's list of its bookworm release says so
# (Origin: Debian) when apt has fetched it; before that, trust a URI that
# ends in /debian, as every Debian mirror's does.
is_debian_archive() {
	local uri=$1 list

	list=${uri#*://}
	list=${list%/}
	list=$apt_lists/${list//\//_}_dists_bookworm_
	if [ -f "${list}InRelease" ] || [ -f "${list}Release" ]; then
		grep -qsx 'Origin: Debian' "${list}InRelease" "${list}Release"
		return
	fi
	[[ ${uri%/} == */debian ]]
}

# The mirror of the main archive: an active bookworm source with the main
# component that is Debian's archive.  Third-party repositories (adoptium,
# nodesource, caddy, ...) also say "bookworm", and sort before
# debian.sources: first look for a source signed with Debian's archive
# key, then for one naming no key (classic sources.list lines).
debian_mirror() {
	local pass uri suite rest comps signed

	for pass in keyed unkeyed; do
		while read -r uri suite rest; do
			comps=${rest%|*}
			signed=${rest##*|}
			[ "$suite" = bookworm ] || continue
			[[ " $comps " == *" main "* ]] || continue
			case $pass:$signed in
			keyed:*/debian-archive-keyring.gpg | unkeyed:) ;;
			*) continue ;;
			esac
			is_debian_archive "$uri" || continue
			echo "${uri%/}"
			return
		done < <(active_sources)
	done
	echo http://deb.debian.org/debian
}

add_backports() {
	local src=$apt_etc/sources.list.d/bookworm-backports.sources

	has_backports && return 0
	cat > "$src" <<EOT
Types: deb
URIs: $(debian_mirror)
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
}

if [ "${1:-}" = --show-sources ]; then
	active_sources
	has_backports && echo "backports: present" || echo "backports: missing"
	echo "mirror: $(debian_mirror)"
	exit 0
fi

PKGS="build-essential make gcc sparse kmod cpio busybox-static \
	linux-image-amd64 linux-headers-amd64 iproute2 fio iperf3 \
	e2fsprogs ethtool gnuplot-nox python3 jq clang-14 libclang-rt-14-dev \
	liburing-dev libseccomp-dev dkms debhelper dh-dkms lintian \
	linux-source-6.12"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
# Both supported kernel families, image and headers: 6.1 from bookworm
# (or bookworm-security), 6.12 from bookworm-backports.
. "$(dirname "$0")/kernels.sh"
have_kernel() {
	[ -n "$(newest_kernel "$1")" ]
}
have_61=0
have_612=0
have_kernel 6.1 && have_61=1
have_kernel 6.12 && have_612=1
# QEMU from bookworm-backports (10.0): the e2e tests need nested SVM under
# TCG, which is what that version was tested with; an older QEMU (7.2 from
# bookworm) is upgraded rather than trusted.
qemu_ok=0
# (Not installed at all on a fresh machine: the pipeline fails, which
# must not end the script under set -e.)
qemu_major=$(qemu-system-x86_64 --version 2>/dev/null |
	     sed -nE '1s/.*version ([0-9]+)\..*/\1/p' || true)
if [ -n "$qemu_major" ] && [ "$qemu_major" -ge 10 ]; then
	qemu_ok=1
fi

if [ -z "$missing" ] && [ $have_61 = 1 ] && [ $have_612 = 1 ] &&
   [ $qemu_ok = 1 ]; then
	exit 0
fi

need_root
export DEBIAN_FRONTEND=noninteractive
add_backports
apt-get "${apt_opts[@]}" update -qq
# shellcheck disable=SC2086
[ -z "$missing" ] || apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends $missing
if [ $have_61 = 0 ]; then
	# By name: the linux-image-amd64 meta-package may already point at
	# the backports kernel.
	abi=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' |
	      cut -d' ' -f1 | sed 's/^linux-image-//' | sort -V | tail -n 1)
	if [ -z "$abi" ]; then
		echo "install-deps: no linux-image-6.1.0-*-amd64 in the archive" >&2
		exit 1
	fi
	apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends \
		"linux-image-$abi" "linux-headers-$abi"
fi
if [ $have_612 = 0 ]; then
	apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends -t bookworm-backports \
		linux-image-amd64 linux-headers-amd64
fi
if [ $qemu_ok = 0 ]; then
	apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends -t bookworm-backports \
		qemu-system-x86 qemu-utils
fi
for family in 6.1 6.12; do
	if ! have_kernel $family; then
		echo "install-deps: kernel $family (image and headers) still" \
		     "missing after installation" >&2
		exit 1
	fi
done
