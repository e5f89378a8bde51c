#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vhx-vm refuses bad arguments and environments with a clear message and a
# non-zero exit status, before it runs a guest: exit 2 for usage errors,
# 1 for what it cannot open or use.  Also the disk options that show only
# in the running VMM: cache=none opens the image O_DIRECT (where the file
# system has direct I/O), cache=writeback does not, and an image another
# process has locked is refused.
set -u
. "$(dirname "$0")/lib.bash"

check() {
	local name=$1 want=$2 regex=$3 rc out
	shift 3

	out=$(timeout 60 "$@" 2>&1 < /dev/null)
	rc=$?
	if [ "$rc" = "$want" ] && grep -Eq -- "$regex" <<< "$out"; then
		ktap_result "$name" 0
	else
		diag "$name: exit $rc (want $want), output:"
		sed 's/^/#   /' <<< "$out" | head -n 5
		ktap_result "$name" 1
	fi
}

need_kvm
ktap_plan 34

if [ ! -x "$vhx_vm" ]; then
	diag "no $vhx_vm (make user)"
	for i in $(seq 34); do
		ktap_result "case-$i" 1
	done
	exit 1
fi

k=$kernel
v=$vhx_vm
ip tuntap add dev vhxargs0 mode tap multi_queue 2>/dev/null
tap=vhxargs0	# removed by lib.bash's cleanup

check help 0 'usage: vhx-vm' "$v" --help

# The man page and --help name the same options and --net/--disk keys.
opts_of() {	# the "--option" and "key=" words of a text
	grep -oE -- '--[a-z][a-z-]+|(^|[ ,])[a-z]+=' | tr -d ' ,' | sort -u
}
help_opts=$("$v" --help 2>&1 | opts_of)
man_opts=$(sed '/^\.SH EXAMPLE/,/^\.SH SEE/d; s/\\-/-/g; s/\\f[BIRP]//g' \
	   "$top/userspace/vm/vhx-vm.1" | opts_of)
missing=$(comm -3 <(echo "$help_opts") <(echo "$man_opts") | tr -d '\t' | tr '\n' ' ')
[ -n "$help_opts" ] && [ -n "$man_opts" ] && [ -z "$missing" ]
ktap_result man-page-matches-help $? "in only one of them: ${missing:-none}"
check no-kernel 2 'no --kernel given' "$v"
check unknown-flag 2 "unknown option '--bogus'" "$v" --kernel "$k" --bogus
check missing-value 2 "needs a value" "$v" --kernel
check bad-cpus 2 "--cpus: '0' is not a number" "$v" --kernel "$k" --cpus 0
check bad-memory 2 "--memory: 'lots' is not a number" "$v" --kernel "$k" --memory lots
check net-no-tap 2 "--net needs tap=NAME, macvtap=NAME or tapfd=N" "$v" --kernel "$k" --net queues=2
check net-bad-mac 2 "bad mac" "$v" --kernel "$k" --net tap=x,mac=zz
check queue-size-not-power-of-2 2 "--disk queue-size: 1000 is not a power of 2" \
	"$v" --kernel "$k" --disk path=x,queue-size=1000
check queue-size-too-large 2 "--net queue-size: '65536' is not a number from 16 to 32768" \
	"$v" --kernel "$k" --net tap=x,queue-size=65536
check disk-no-path 2 "--disk needs path=FILE" "$v" --kernel "$k" --disk queues=2
check missing-macvtap 1 "macvtap 'nosuchmvt9' does not exist" \
	"$v" --kernel "$k" --net macvtap=nosuchmvt9
check bad-tapfd 1 "tapfd=77 is not an open file descriptor" \
	"$v" --kernel "$k" --net tapfd=77
check tapfd-stdin 1 "tapfd=0 is stdin, stdout or stderr" \
	"$v" --kernel "$k" --net tapfd=0
check tapfd-twice 2 "tapfd=5 is given twice" \
	"$v" --kernel "$k" --net tapfd=5:5 5< /dev/null
check no-vhost-node 1 "cannot open /dev/vhx-nope: no such device node" \
	"$v" --kernel "$k" --net tap=vhxargs0,vhost=/dev/vhx-nope
check missing-kernel 1 "cannot open kernel '/nonexistent'" \
	"$v" --kernel /nonexistent
check not-bzimage 1 "is not a bzImage" "$v" --kernel /etc/hostname
check missing-disk 1 "cannot open disk '/nonexistent.img'" \
	"$v" --kernel "$k" --disk path=/nonexistent.img
check bad-cache 2 "--disk cache: 'fast' is neither none nor writeback" \
	"$v" --kernel "$k" --disk path=x,cache=fast
check bad-discard 2 "--disk discard: 'yes' is neither off nor on" \
	"$v" --kernel "$k" --disk path=x,discard=yes
check long-serial 2 "is longer than 20 bytes" \
	"$v" --kernel "$k" --disk path=x,serial=abcdefghijklmnopqrstu
check bad-ro 2 "--disk ro: '1' is neither off nor on" \
	"$v" --kernel "$k" --disk path=x,ro=1
check too-much-memory 1 "--memory 1048576 MiB is more than the host's" \
	"$v" --kernel "$k" --memory 1048576

# A second VMM on a locked image (an OFD write lock, as vhx-vm takes).
truncate -s 8M "$work/locked.img"
python3 -c '
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.fcntl(fd, fcntl.F_OFD_SETLK,
            struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
print("locked", flush=True)
time.sleep(60)' "$work/locked.img" > "$work/lock.out" &
locker=$!
for _ in $(seq 50); do
	grep -q locked "$work/lock.out" 2>/dev/null && break
	sleep 0.1
done
check disk-locked 1 "disk '.*locked.img' is in use" \
	"$v" --kernel "$k" --disk "path=$work/locked.img"
kill "$locker" 2>/dev/null
wait "$locker" 2>/dev/null

# The open flags of the disk's fd in a running vhx-vm (octal, as fdinfo
# shows them); the guest never gets far (no initramfs), which does not
# matter here.
disk_flags() {	# image options
	local img=$1 pid fd flags=
	shift

	"$v" --kernel "$k" --memory 128 --cmdline "console=ttyS0 panic=-1" \
		--disk "path=$img$*" > "$work/direct.log" 2>&1 < /dev/null &
	pid=$!
	for _ in $(seq 100); do
		fd=$(find "/proc/$pid/fd" -lname "$img" -printf '%f\n' \
		     2>/dev/null | head -n 1)
		[ -n "$fd" ] &&
			flags=$(sed -n 's/^flags:[[:space:]]*//p' \
				"/proc/$pid/fdinfo/$fd" 2>/dev/null) &&
			[ -n "$flags" ] && break
		sleep 0.1
	done
	# Not SIGTERM: the power button means nothing to a guest that
	# panics (no root file system) and reboots in place.
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	echo "${flags:-none}"
}

# O_DIRECT is 040000 on x86.  Where the file system has no direct I/O
# (tmpfs before 6.6), cache=none must say that it fell back.
is_direct() { [ $(( 0$1 & 040000 )) != 0 ]; }
truncate -s 8M "$work/direct.img"
if [ ! -e /dev/vhx-blk ]; then
	ktap_result cache-none-direct 1 "no /dev/vhx-blk (is vhx.ko loaded?)"
	ktap_result cache-writeback-buffered 1 "no /dev/vhx-blk"
	ktap_result discard-serial-accepted 1 "no /dev/vhx-blk"
else
	f=$(disk_flags "$work/direct.img")
	if [ "$f" = none ]; then
		diag "cache=none: no disk fd seen; vhx-vm said:"
		sed 's/^/#   /' "$work/direct.log" | head -n 5
		ktap_result cache-none-direct 1
	elif is_direct "$f"; then
		ktap_result cache-none-direct 0 "flags $f"
	else
		grep -q "no direct I/O here" "$work/direct.log"
		ktap_result cache-none-direct $? "flags $f, fell back with a warning"
	fi
	f=$(disk_flags "$work/direct.img" ,cache=writeback)
	[ "$f" != none ] && ! is_direct "$f"
	ktap_result cache-writeback-buffered $? "flags $f"
	f=$(disk_flags "$work/direct.img" ,discard=off,serial=vhx-args-disk)
	[ "$f" != none ]
	ktap_result discard-serial-accepted $? "flags $f"
fi

# Without /dev/kvm (a private /dev in a new mount namespace).  A bad kernel
# is reported before anything else is tried.
check no-kvm 1 "cannot open /dev/kvm" \
	unshare -m sh -c "mount -t tmpfs none /dev && exec $v --kernel $k"
check kernel-first 1 "cannot open kernel '/nonexistent'" \
	unshare -m sh -c "mount -t tmpfs none /dev && exec $v --kernel /nonexistent"

# As a user without access: the hint names the fix.  Modes are put back.
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
kvm_mode=$(stat -c %a /dev/kvm)
chmod 0600 /dev/kvm
check kvm-denied 1 "cannot open /dev/kvm: permission denied \(add yourself to group kvm" \
	"${nobody[@]}" "$v" --kernel "$k"
chmod 0666 /dev/kvm
tun_mode=$(stat -c %a /dev/net/tun)
chmod 0666 /dev/net/tun
check tap-create-denied 1 "cannot create tap 'vhxnope9': permission denied \(needs CAP_NET_ADMIN" \
	"${nobody[@]}" "$v" --kernel "$k" --net tap=vhxnope9
chmod "$tun_mode" /dev/net/tun
img=$(mktemp /tmp/vhx-args-XXXXXX.img)
truncate -s 1M "$img"
chmod 0666 "$img"
if [ -e /dev/vhx-blk ]; then
	blk_mode=$(stat -c %a /dev/vhx-blk)
	chmod 0600 /dev/vhx-blk
	check vhost-denied 1 "cannot open /dev/vhx-blk: permission denied \(run as root" \
		"${nobody[@]}" "$v" --kernel "$k" --disk "path=$img"
	chmod "$blk_mode" /dev/vhx-blk
else
	ktap_result vhost-denied 1 "no /dev/vhx-blk (is vhx.ko loaded?)"
fi
chmod "$kvm_mode" /dev/kvm
rm -f "$img"
exit $ktap_failed
