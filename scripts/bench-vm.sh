#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The measurements of `make bench`, run inside the test VM (vhx.ko loaded,
# slub_debug off) in one boot; scripts/bench.sh starts it:
#
#   bench-vm.sh --raw FILE [--reps N] [--secs S] [--e2e-reps N]
#               [--bin DIR] [--guest-initrd FILE] [--smoke] [--only LIST]
#
# Every measurement is a pair (or triple) of implementations under the same
# load; within a repetition the members of a pair run back to back, their
# order alternating from one repetition to the next, so that slow drifts of
# the shared machine hit both alike.  --only limits the sections
# (comma list of net, blk, e2e, boot).  --smoke: one repetition of one second,
# reduced net and blk matrices on a smaller span and no e2e, to prove
# every path still works.
#
# Results are appended to FILE, one per line, tab separated:
#
#   section  test  impl  rep  metric  value
#
# A run that failed (non-zero exit, no figure, or zero throughput) leaves
# "fail" as its metric and the reason as its value; it is reported as
# failed, never replaced by a figure.  Nothing else is written to FILE.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2

raw=
reps=3
secs=3
e2e_reps=2
bin=$top/build/bench/user
guest_initrd=
smoke=0
only=net,blk,e2e,boot

while [ $# -gt 0 ]; do
	case $1 in
	--raw | --reps | --secs | --e2e-reps | --bin | --guest-initrd | --only)
		[ $# -ge 2 ] || { echo "bench-vm: $1 needs a value" >&2; exit 2; }
		case $1 in
		--raw) raw=$2 ;;
		--reps) reps=$2 ;;
		--secs) secs=$2 ;;
		--e2e-reps) e2e_reps=$2 ;;
		--bin) bin=$2 ;;
		--guest-initrd) guest_initrd=$2 ;;
		--only) only=$2 ;;
		esac
		shift 2
		;;
	--smoke)
		smoke=1
		shift
		;;
	*)
		sed -n '/^#   bench-vm.sh/,/^# Every/{/^# Every/d;s/^# \?//p}' "$0" >&2
		exit 2
		;;
	esac
done
[ -n "$raw" ] || { echo "bench-vm: --raw FILE is required" >&2; exit 2; }
if [ "$smoke" = 1 ]; then
	reps=1
	secs=1
	only=${only/e2e/}
	only=${only/boot/}
fi

log() {
	echo "bench-vm: $*" >&2
}

record() {	# section test impl rep metric value
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$raw"
}

fail() {	# section test impl rep reason...
	local s=$1 t=$2 i=$3 r=$4

	shift 4
	log "FAILED $s/$t/$i rep $r: $*"
	record "$s" "$t" "$i" "$r" fail "$*"
}

# A positive number (integer or decimal)?
positive() {
	[[ $1 =~ ^[0-9]*\.?[0-9]+$ ]] && [[ ! $1 =~ ^0*\.?0*$ ]]
}

want() {
	[[ ,$only, == *,$1,* ]]
}

# Order of a pair in repetition REP: as given on odd ones, reversed on even.
pair_order() {	# rep a b
	if [ $(($1 % 2)) = 1 ]; then echo "$2 $3"; else echo "$3 $2"; fi
}

# --- net, guest-less: vhx-netgen on /dev/vhx-net and /dev/vhost-net ------

net_tests=(tx64 rx64 tx1500 txgso tx64q2 rx64q2)
# The smoke run: one of each path (TX copy, RX, GSO, multiqueue).
[ "$smoke" = 0 ] || net_tests=(tx64 rx64 txgso rx64q2)

net_args() {
	case $1 in
	tx64) echo "--mode tx --size 64 --queues 1" ;;
	rx64) echo "--mode rx --size 64 --queues 1" ;;
	tx1500) echo "--mode tx --size 1500 --queues 1" ;;
	txgso) echo "--mode tx --gso --queues 1" ;;
	tx64q2) echo "--mode tx --size 64 --queues 2" ;;
	rx64q2) echo "--mode rx --size 64 --queues 2" ;;
	esac
}

net_run() {	# test impl rep
	local t=$1 impl=$2 rep=$3 dev out rc pps mbps ns dns gns m v

	case $impl in
	vhx) dev=/dev/vhx-net ;;
	vhost) dev=/dev/vhost-net ;;
	esac
	# shellcheck disable=SC2046
	out=$(timeout $((secs + 60)) "$bin/vhx-netgen" --dev "$dev" \
		$(net_args "$t") --seconds "$secs" 2>&1)
	rc=$?
	log "net $t $impl rep $rep: $out"
	pps=$(sed -n 's/.* pps=\([0-9.]*\).*/\1/p' <<< "$out" | tail -1)
	mbps=$(sed -n 's/.* mbps=\([0-9.]*\).*/\1/p' <<< "$out" | tail -1)
	ns=$(sed -n 's/.* worker_ns_per_pkt=\([0-9.]*\).*/\1/p' <<< "$out" | tail -1)
	dns=$(sed -n 's/.* driver_ns_per_pkt=\([0-9.]*\).*/\1/p' <<< "$out" | tail -1)
	gns=$(sed -n 's/.* gen_ns_per_pkt=\([0-9.]*\).*/\1/p' <<< "$out" | tail -1)
	if [ $rc != 0 ]; then
		fail net "$t" "$impl" "$rep" "vhx-netgen exit $rc"
	elif ! positive "${pps:-0}" || ! positive "${mbps:-0}"; then
		fail net "$t" "$impl" "$rep" "zero or missing rate: ${out//$'\n'/ }"
	else
		record net "$t" "$impl" "$rep" pps "$pps"
		record net "$t" "$impl" "$rep" mbps "$mbps"
		# 0 would mean no worker thread was found: not a measurement.
		if positive "${ns:-0}"; then
			record net "$t" "$impl" "$rep" nspp "$ns"
		fi
		# The other side of the ring: the driver threads, and pktgen.
		positive "${dns:-0}" &&
			record net "$t" "$impl" "$rep" drvnspp "$dns"
		positive "${gns:-0}" &&
			record net "$t" "$impl" "$rep" gennspp "$gns"
		# Counters per 1000 packets; 0 is a figure here.
		for m in kicks calls runs worker_sleeps; do
			v=$(sed -n "s/.* ${m}_per_kpkt=\([0-9.]*\).*/\1/p" <<< "$out")
			[ -z "$v" ] || record net "$t" "$impl" "$rep" "$m" "$v"
		done
	fi
}

bench_net() {
	local rep t impl

	for dev in /dev/vhx-net /dev/vhost-net; do
		[ -c $dev ] || { fail net all all 0 "no $dev"; return; }
	done
	for rep in $(seq "$reps"); do
		for t in "${net_tests[@]}"; do
			for impl in $(pair_order "$rep" vhx vhost); do
				net_run "$t" "$impl" "$rep"
			done
		done
	done
}

# --- blk, guest-less: blkbench on /dev/vhx-blk vs io_uring ----------------

blk_file=/tmp/vhx-bench.img
blk_span=$((256 << 20))
# Writing the tmpfs image takes most of a smoke run's blk time.
[ "$smoke" = 0 ] || blk_span=$((32 << 20))

blk_backend() {
	case $1 in
	null) echo /dev/nullb0 ;;
	tmpfs) echo "$blk_file" ;;
	esac
}

# test names: BACKEND-RW-qdQD-qNQ
blk_tests() {
	local b rw qd nq

	if [ "$smoke" = 1 ]; then
		# Each backend once, both directions, QD1 and QD32.
		echo null-randread-qd1-q1 tmpfs-randwrite-qd32-q4
		return
	fi
	for b in null tmpfs; do
		for rw in randread randwrite; do
			for qd in 1 32; do
				for nq in 1 4; do
					echo "$b-$rw-qd$qd-q$nq"
				done
			done
		done
	done
}

# Record a blkbench or uringbench line: IOPS, and the mean latency at QD1
# on one queue (one request at a time: exactly the reciprocal of the rate).
blk_record() {	# test impl rep qd nq rc out tool
	local t=$1 impl=$2 rep=$3 qd=$4 nq=$5 rc=$6 out=$7 tool=$8 iops cpu m v

	iops=$(sed -n 's/.*: \([0-9.]*\) IOPS.*/\1/p' <<< "$out" | tail -1)
	cpu=$(sed -n 's/.* cpu_ns_per_req=\([0-9.]*\).*/\1/p' <<< "$out" | tail -1)
	if [ "$rc" != 0 ]; then
		fail blk "$t" "$impl" "$rep" "$tool exit $rc: ${out//$'\n'/ }"
	elif ! positive "${iops:-0}"; then
		fail blk "$t" "$impl" "$rep" "zero or missing IOPS"
	else
		record blk "$t" "$impl" "$rep" iops "$iops"
		[ "$qd$nq" = 11 ] && record blk "$t" "$impl" "$rep" \
			lat_mean_us "$(awk -v i="$iops" 'BEGIN { printf "%.1f", 1e6 / i }')"
		positive "${cpu:-0}" && record blk "$t" "$impl" "$rep" cpuns "$cpu"
		for m in kicks calls runs worker_sleeps; do
			v=$(sed -n "s/.* ${m}_per_kreq=\([0-9.]*\).*/\1/p" <<< "$out")
			[ -z "$v" ] || record blk "$t" "$impl" "$rep" "$m" "$v"
		done
	fi
}

# Implementations: vhx (blkbench on /dev/vhx-blk), ubench (uringbench, the
# same load through io_uring from a process: the reference), ubpoll
# (uringbench with IOPOLL, null_blk's poll queue), vhxpoll (blkbench
# --poll: the driver spins on the used ring with calls suppressed, as a
# virtio-blk poll queue does; its match is ubpoll) and uring (fio's
# io_uring engine, gtod_reduce=1, a second opinion).
blk_run() {	# test impl rep
	local t=$1 impl=$2 rep=$3 b rw qd nq path out rc wr=

	IFS=- read -r b rw qd nq <<< "$t"
	qd=${qd#qd}
	nq=${nq#q}
	path=$(blk_backend "$b")
	[ "$rw" = randwrite ] && wr=--write
	case $impl in
	vhx | vhxpoll | ubench | ubpoll)
		local tool=uringbench extra=
		[[ $impl == vhx* ]] && tool=blkbench
		[[ $impl == *poll ]] && extra=--poll
		out=$(timeout $((secs + 60)) "$bin/$tool" --backend "$path" \
			--queues "$nq" --qd "$qd" --bs 4096 --seconds "$secs" \
			--span "$blk_span" $wr $extra 2>&1)
		rc=$?
		log "blk $t $impl rep $rep: $out"
		blk_record "$t" "$impl" "$rep" "$qd" "$nq" "$rc" "$out" "$tool"
		return
		;;
	esac
	out=$(timeout $((secs + 60)) fio --name=ref --filename="$path" \
		--ioengine=io_uring --direct=1 --rw="$rw" --bs=4k \
		--iodepth="$qd" --numjobs="$nq" --size="$blk_span" \
		--time_based --runtime="$secs" --group_reporting \
		--gtod_reduce=1 --output-format=json 2>&1)
	rc=$?
	local dir=read iops
	[ "$rw" = randwrite ] && dir=write
	iops=$(sed -n '/^{/,$p' <<< "$out" | jq -r --arg d "$dir" \
		'.jobs[0][$d].iops' 2>/dev/null)
	log "blk $t $impl rep $rep: fio rc $rc iops ${iops:-?}"
	blk_record "$t" "$impl" "$rep" "$qd" "$nq" "$rc" \
		"fio: ${iops:-?} IOPS $(grep -m1 -i err <<< "$out")" fio
}

# The implementations run for a test, in the order of repetition REP
# (reversed on even ones).  Polled I/O needs a poll queue: null_blk only.
blk_impls() {	# test rep
	local l="vhx ubench"

	[[ $1 == null-* ]] && l="$l vhxpoll ubpoll"
	l="$l uring"
	if [ $(($2 % 2)) = 1 ]; then
		echo "$l"
	else
		# shellcheck disable=SC2086
		printf '%s\n' $l | tac | tr '\n' ' '
	fi
}

bench_blk() {
	local rep t impl

	[ -b /dev/nullb0 ] || { fail blk all all 0 "no /dev/nullb0"; return; }
	[ -c /dev/vhx-blk ] || { fail blk all all 0 "no /dev/vhx-blk"; return; }
	# Written through, so that reads find allocated pages, not holes.
	dd if=/dev/zero of="$blk_file" bs=1M count=$((blk_span >> 20)) \
		status=none || { fail blk all all 0 "cannot write $blk_file"; return; }
	for rep in $(seq "$reps"); do
		for t in $(blk_tests); do
			for impl in $(blk_impls "$t" "$rep"); do
				blk_run "$t" "$impl" "$rep"
			done
		done
	done
	rm -f "$blk_file"
}

# --- end to end: nested guests under vhx-vm and QEMU ----------------------

e2e_tap=vbt0
e2e_host=10.77.0.1
e2e_guest=10.77.0.2
e2e_secs=5
vmm_counters=

# What the one nested VM running has done so far, as "name=value" words:
# KVM's statistics of the VM (summed over its vCPUs), the tap's bytes
# both ways, null_blk's completed requests, and the CPU time of every
# thread of the VMM: vCPUs, I/O threads and, on 6.12, the vhost-net and
# vhx workers, which are threads of their owner there (vhost_task).
e2e_counters() {
	local d pid f out=

	for d in /sys/kernel/debug/kvm/[0-9]*-*/; do
		[ -f "$d/exits" ] || continue
		pid=${d%/}
		pid=${pid##*/}
		pid=${pid%%-*}
		for f in exits irq_injections halt_exits; do
			out+=" $f=$(cat "$d/$f")"
		done
		out+=" cpu_ns=$(cat /proc/"$pid"/task/*/schedstat 2>/dev/null |
			awk '{ s += $1 } END { printf "%.0f", s }')"
	done
	f=/sys/class/net/$e2e_tap/statistics
	[ -d "$f" ] &&
		out+=" bytes=$(($(cat "$f/rx_bytes") + $(cat "$f/tx_bytes")))"
	[ -f /sys/block/nullb0/stat ] &&
		out+=" reqs=$(awk '{ print $1 + $5 }' /sys/block/nullb0/stat)"
	echo "${out# }"
}

# Run a VMM; its console, each line prefixed by the seconds since start,
# goes to FILE.  Stops it after LIMIT seconds.  With vmm_counters set, each
# guest "vhx-bench: PHASE" line appends "PHASE counters..." to that file.
run_vmm() {	# file limit cmd...
	local file=$1 limit=$2 t0 line d

	shift 2
	t0=${EPOCHREALTIME/./}
	timeout "$limit" "$@" < /dev/null 2>&1 |
	while IFS= read -r line; do
		d=$((${EPOCHREALTIME/./} - t0))
		line=${line%$'\r'}
		if [ -n "$vmm_counters" ] && [[ $line == *"vhx-bench: "* ]]; then
			echo "${line##*vhx-bench: } $(e2e_counters)" >> "$vmm_counters"
		fi
		printf "%d.%02d %s\n" $((d / 1000000)) $((d % 1000000 / 10000)) \
			"$line"
	done > "$file"
	return "${PIPESTATUS[0]}"
}

# Counters per MiB through the tap (iperf3 phases, both ways) or per
# request (fio), from the marks on either side of each phase: KVM exits,
# interrupts injected, halts, and µs of VMM CPU.
e2e_record_counters() {	# file impl rep with_disk
	awk -v impl="$2" -v rep="$3" -v disk="$4" '
		function val(line, name,   i, n, kv) {
			n = split(line, w, " ")
			for (i = 2; i <= n; i++) {
				split(w[i], kv, "=")
				if (kv[1] == name)
					return kv[2]
			}
			return ""
		}
		{ phase[NR] = $1; line[NR] = $0 }
		END {
			for (i = 1; i < NR; i++) {
				p = phase[i]
				if (p ~ /^fio-qd/ && disk == 1) { t = "fio-randread-" substr(p, 5); u = "reqs" }
				else if (p ~ /^iperf-/) { t = p; u = "bytes" }
				else continue
				n = val(line[i + 1], u) - val(line[i], u)
				if (n <= 0 || val(line[i], "exits") == "" ||
				    val(line[i + 1], "exits") == "")
					continue
				printf "e2e\t%s\t%s\t%s\t%s\t%.0f\n", t, impl, rep, u, n
				if (u == "bytes")
					n /= 1048576
				printf "e2e\t%s\t%s\t%s\texits_per\t%.3f\n", t, impl, rep,
					(val(line[i + 1], "exits") - val(line[i], "exits")) / n
				printf "e2e\t%s\t%s\t%s\tirqs_per\t%.3f\n", t, impl, rep,
					(val(line[i + 1], "irq_injections") - val(line[i], "irq_injections")) / n
				printf "e2e\t%s\t%s\t%s\thalts_per\t%.3f\n", t, impl, rep,
					(val(line[i + 1], "halt_exits") - val(line[i], "halt_exits")) / n
				printf "e2e\t%s\t%s\t%s\tcpu_us_per\t%.3f\n", t, impl, rep,
					(val(line[i + 1], "cpu_ns") - val(line[i], "cpu_ns")) / n / 1000
			}
		}' "$1" >> "$raw"
}

e2e_guest_cmd() {	# with_disk
	local c

	c="ip addr add $e2e_guest/24 dev eth0 && ip link set eth0 up && sleep 1"
	c="$c ; echo vhx-bench: iperf-tx ; iperf3 -c $e2e_host -t $e2e_secs -f m"
	c="$c ; echo vhx-bench: iperf-rx ; iperf3 -c $e2e_host -t $e2e_secs -f m -R"
	if [ "$1" = 1 ]; then
		for qd in 32 1; do
			c="$c ; echo vhx-bench: fio-qd$qd ; fio --name=qd$qd"
			c="$c --filename=/dev/vda --ioengine=io_uring --direct=1"
			c="$c --rw=randread --bs=4k --iodepth=$qd --size=256M"
			c="$c --time_based --runtime=$e2e_secs"
			c="$c --output-format=terse --terse-version=3"
		done
	fi
	# The last mark's counters are read while the VM still runs.
	echo "$c ; echo vhx-bench: end ; sleep 1"
}

# The receiver's figure of the iperf3 run that follows MARK on the console.
iperf_mbps() {	# console mark
	awk -v m="vhx-bench: $2" '
		index($0, m) { on = 1; next }
		on && /vhx-bench:/ { on = 0 }
		on && / receiver$/ {
			for (i = 1; i < NF; i++)
				if ($(i + 1) == "Mbits/sec") { print $i; exit }
		}' "$1"
}

e2e_run() {	# impl rep
	local impl=$1 rep=$2 con kernel cmdline rc disk=0 t v vhxfd=
	local -a vmm

	con=$VHX_OUT/e2e-$impl-$rep.console
	kernel=/boot/vmlinuz-$(uname -r)
	# One quoted word: the kernel passes at most 32 arguments to init.
	cmdline="console=ttyS0 quiet panic=-1 -- \"$(e2e_guest_cmd 1)\""
	case $impl in
	vhxvm)
		disk=1
		vmm=("$bin/vhx-vm" --kernel "$kernel" --initrd "$guest_initrd"
			--cpus 1 --memory 1024 --cmdline "$cmdline"
			--net "tap=$e2e_tap,vhost=/dev/vhx-net"
			--disk "path=/dev/nullb0,vhost=/dev/vhx-blk")
		;;
	qemu-vhost | qemu-vhx | qemu-user)
		local vh=on

		[ "$impl" = qemu-user ] && vh=off
		[ "$impl" = qemu-vhost ] && disk=1
		# The same QEMU on vhx-net: the data plane is all that differs.
		if [ "$impl" = qemu-vhx ]; then
			exec {vhxfd}<> /dev/vhx-net ||
				{ fail e2e all "$impl" "$rep" "cannot open /dev/vhx-net"; return; }
			vh="on,vhostfd=$vhxfd"
		fi
		vmm=(qemu-system-x86_64 -enable-kvm -cpu host -smp 1 -m 1024
			-display none -nodefaults -no-reboot -serial stdio
			-kernel "$kernel" -initrd "$guest_initrd"
			-append "$cmdline"
			-netdev "tap,id=n0,ifname=$e2e_tap,script=no,downscript=no,vhost=$vh"
			-device virtio-net-pci,netdev=n0
			-object iothread,id=io0
			-drive "file=/dev/nullb0,format=raw,if=none,id=d0,cache=none,aio=io_uring"
			-device virtio-blk-pci,drive=d0,iothread=io0)
		;;
	esac
	iperf3 -s -B "$e2e_host" -D -I "$VHX_OUT/iperf3.pid" --logfile "$VHX_OUT/iperf3-$impl-$rep.log" ||
		{ fail e2e all "$impl" "$rep" "iperf3 server did not start"; return; }
	vmm_counters=$VHX_OUT/e2e-$impl-$rep.counters
	: > "$vmm_counters"
	run_vmm "$con" 180 "${vmm[@]}"
	rc=$?
	e2e_record_counters "$vmm_counters" "$impl" "$rep" "$disk"
	vmm_counters=
	[ -z "$vhxfd" ] || exec {vhxfd}>&-
	kill "$(cat "$VHX_OUT/iperf3.pid")" 2>/dev/null
	sleep 0.5
	log "e2e $impl rep $rep: VMM exit $rc, console in $con"
	t=$(awk '/vhx-guest: init/ { print $1; exit }' "$con")
	if positive "${t:-0}"; then
		record e2e boot "$impl" "$rep" seconds "$t"
	else
		fail e2e boot "$impl" "$rep" "no 'vhx-guest: init' on the console (VMM exit $rc)"
		return
	fi
	for dir in tx rx; do
		v=$(iperf_mbps "$con" "iperf-$dir")
		if positive "${v:-0}"; then
			record e2e "iperf-$dir" "$impl" "$rep" mbps "$v"
		else
			fail e2e "iperf-$dir" "$impl" "$rep" "no iperf3 result (VMM exit $rc)"
		fi
	done
	[ "$disk" = 1 ] || return
	# Terse v3: read IOPS is field 8, the mean total latency (µs) 40.
	for qd in 32 1; do
		t=fio-randread-qd$qd
		read -r v lat < <(awk -F';' -v j="qd$qd" '/^3;fio-/ && $3 == j { print $8, $40; exit }' "$con")
		if positive "${v:-0}"; then
			record e2e "$t" "$impl" "$rep" iops "$v"
			record e2e "$t" "$impl" "$rep" lat_mean_us "$lat"
		else
			fail e2e "$t" "$impl" "$rep" "no fio result (VMM exit $rc)"
		fi
	done
}

bench_e2e() {
	local rep impl why=

	if [ ! -x "$bin/vhx-vm" ]; then
		why="no vhx-vm binary"
	elif [ ! -f "$guest_initrd" ]; then
		why="no guest initramfs"
	elif ! modprobe kvm_amd nested=1 2>/dev/null || [ ! -c /dev/kvm ]; then
		why="no /dev/kvm in the test VM (modprobe kvm_amd nested=1)"
	elif ! ip tuntap add dev "$e2e_tap" mode tap ||
	     ! ip addr add "$e2e_host/24" dev "$e2e_tap" ||
	     ! ip link set "$e2e_tap" up; then
		why="cannot set up tap $e2e_tap"
	fi
	if [ -n "$why" ]; then
		fail e2e all all 0 "$why"
		return
	fi
	for rep in $(seq "$e2e_reps"); do
		if [ $((rep % 2)) = 1 ]; then
			set -- vhxvm qemu-vhost qemu-vhx qemu-user
		else
			set -- qemu-user qemu-vhx qemu-vhost vhxvm
		fi
		for impl in "$@"; do
			e2e_run "$impl" "$rep"
		done
	done
	ip link del "$e2e_tap"
}

# --- boot and memory: the smallest guest under vhx-vm, microvm and q35 -----

# The guest RAM mapping is the largest: what the VMM itself holds is the
# rest of its resident set.
vmm_rss() {	# pid: "total_kib guest_ram_kib"
	awk '/^Size:/ { size = $2 }
		/^Rss:/ { if (size > big) { big = size; ram = $2 }; total += $2 }
		END { print total + 0, ram + 0 }' "/proc/$1/smaps" 2> /dev/null
}

boot_run() {	# impl rep
	local impl=$1 rep=$2 con kernel cmdline pidfile pid t i rss ram
	local -a vmm

	con=$VHX_OUT/boot-$impl-$rep.console
	pidfile=$VHX_OUT/boot-$impl.pid
	kernel=/boot/vmlinuz-$(uname -r)
	cmdline="console=ttyS0 quiet panic=-1 -- \"echo vhx-bench: up; sleep 60\""
	case $impl in
	vhxvm)
		vmm=("$bin/vhx-vm" --kernel "$kernel" --initrd "$guest_initrd"
			--cpus 1 --memory 512 --cmdline "$cmdline") ;;
	microvm | q35)
		vmm=(qemu-system-x86_64 -M "$impl" -enable-kvm -cpu host -smp 1
			-m 512 -nodefaults -no-user-config -display none
			-no-reboot -serial stdio -kernel "$kernel"
			-initrd "$guest_initrd" -append "$cmdline") ;;
	esac
	rm -f "$pidfile"
	run_vmm "$con" 120 bash -c 'echo $$ > "$0"; exec "$@"' "$pidfile" "${vmm[@]}" &
	for i in $(seq 1200); do
		grep -q "vhx-bench: up" "$con" 2> /dev/null && break
		sleep 0.1
	done
	pid=$(cat "$pidfile" 2> /dev/null)
	read -r rss ram <<< "$(vmm_rss "${pid:-0}")"
	kill -9 "${pid:-0}" 2> /dev/null
	wait
	t=$(awk '/vhx-guest: init/ { print $1; exit }' "$con")
	if ! positive "${t:-0}" || ! positive "${rss:-0}"; then
		fail boot all "$impl" "$rep" "no 'vhx-guest: init' or no RSS (console in $con)"
		return
	fi
	record boot init "$impl" "$rep" seconds "$t"
	record boot rss-total "$impl" "$rep" mib "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
	record boot rss-vmm "$impl" "$rep" mib "$(awk -v k="$rss" -v r="$ram" 'BEGIN { print (k - r) / 1024 }')"
}

bench_boot() {
	local rep

	if [ ! -x "$bin/vhx-vm" ] || [ ! -f "$guest_initrd" ] ||
	   ! modprobe kvm_amd nested=1 2>/dev/null || [ ! -c /dev/kvm ]; then
		fail boot all all 0 "no vhx-vm, guest initramfs or /dev/kvm"
		return
	fi
	for rep in $(seq "$reps"); do
		case $((rep % 3)) in
		1) set -- vhxvm microvm q35 ;;
		2) set -- microvm q35 vhxvm ;;
		0) set -- q35 vhxvm microvm ;;
		esac
		for impl in "$@"; do
			boot_run "$impl" "$rep"
		done
	done
}

log "kernel $(uname -r); cmdline: $(cat /proc/cmdline)"
log "slab sanity checks (kmalloc-64): $(cat /sys/kernel/slab/kmalloc-64/sanity_checks 2>/dev/null || echo ?)"
log "reps $reps, $secs s per run, e2e reps $e2e_reps; sections: $only"
record meta kernel "$(uname -r)" 0 info 0
record meta slub_sanity "$(cat /sys/kernel/slab/kmalloc-64/sanity_checks 2>/dev/null || echo unknown)" 0 info 0
record meta cpus "$(nproc)" 0 info 0
record meta reps "$reps" 0 info 0
record meta secs "$secs" 0 info 0
record meta e2e_reps "$e2e_reps" 0 info 0
record meta start "$(date -u +%H:%M:%S)" 0 info 0
want net && bench_net
want blk && bench_blk
want e2e && bench_e2e
want boot && bench_boot
record meta end "$(date -u +%H:%M:%S)" 0 info 0
exit 0
