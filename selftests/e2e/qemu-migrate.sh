#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Live migration of a running QEMU guest whose virtio-net is served by a
# vhost-net device (the vhx issue 13 e2e test):
#
#   qemu-migrate.sh [--dev DEV] [--no-skip] [--strip-log]
#
# DEV is the vhost device node QEMU's vhostfd= / vhostfds= are opened on:
# /dev/vhx-net (default) or upstream's /dev/vhost-net (the reference run
# of selftests/run.sh).  Two cases, each with a guest of its own:
#   1pair-*   one queue pair: -netdev tap,ifname=TAP,vhost=on,vhostfd=N
#   2pairs-*  two: a multiqueue tap, fds=/vhostfds= (lib.bash's wrapper),
#             mq=on,vectors=6
# QEMU A boots the guest (guest/migrate.sh) on tap vhxmig1; QEMU B has
# the same command line plus -incoming unix:SOCK, on tap vhxmig2.  Both
# taps are ports of one bridge that carries the L1 address (10.63.0.1),
# as two VMMs' taps on one host's bridge are: after the switch-over
# QEMU B's announce (RARP, and the guest's own with GUEST_ANNOUNCE) moves
# the guest's MAC to the second port, and the guest is not reconfigured.
#
# Traffic before, during and after the migration: L1 pings the guest
# every 20 ms, and for each queue pair i the guest fetches two paced HTTP
# streams (2 MB/s each of pseudo-random bytes, no two chunks alike) from
# L1 with wget pinned to vCPU i, so that they run over queue pair i.  The
# streams end after the switch-over, and the guest reports each one's
# md5, which must be what L1 sent.  Stream qI is read as it comes; hI is
# held: its reader is stopped (a CGI of a busybox httpd in the guest)
# from the end of QEMU's first pass over guest memory until after the
# switch-over, so that what the device wrote for it crosses over unread.
# The migration is steered so that the device writes into pages QEMU
# has sent once already: it cannot converge (downtime-limit 1 ms) before
# the first pass is done, nor for a second after (max-bandwidth 1 MiB/s
# then), and then both parameters are restored.  What the device wrote
# after a page was sent reaches B only through the dirty log.  With
# --strip-log (a device that acks VHOST_F_LOG_ALL and logs nothing) a
# stream arrived corrupted in 3 of 5 cases, in at least one case of each
# run that finished both (twice a qI stream, once qI and hI together);
# with upstream's log every stream arrived intact in every run.  So a
# device that does not log is caught often, not always: the guest's own
# writes (skb tails, TCP queue collapsing) dirty many of the pages the
# device wrote, and KVM's log covers those.
#
# Migration goes over QMP: query-migrate's blocked-reasons must be empty
# ("vhost lacks VHOST_F_LOG_ALL" is the blocker QEMU registers for a
# device without dirty logging), then migrate, then query-migrate until
# completed; QEMU's total-time (the held second included) and downtime
# are reported.  After the switch-over: B runs, A is in postmigrate, the
# guest keeps printing on B's console and answers HTTP there, every queue
# of the guest got interrupts from the device on B, the guest pings L1.
#
# A device that does not offer VHOST_F_LOG_ALL cannot be migrated: unless
# --no-skip, the whole run is skipped up front then (selftests/
# expected-skips allows that for vhx until it does dirty logging); with
# --no-skip it runs, and QEMU's blocker shows as the failure.
#
# --strip-log checks the test itself: QEMU runs with strip-log.c
# preloaded, which turns DEV into a device that acks dirty logging and
# logs nothing; the stream-* and held-* results must fail then.
set -u
. "$(dirname "$0")/lib.bash"

dev=/dev/vhx-net
skip_no_log=1
strip_log=0
while [ $# -gt 0 ]; do
	case $1 in
	--dev)
		[ $# -ge 2 ] || { echo "qemu-migrate: --dev needs a device" >&2; exit 2; }
		dev=$2
		shift 2
		;;
	--no-skip)
		skip_no_log=0
		shift
		;;
	--strip-log)
		strip_log=1
		shift
		;;
	*)
		echo "usage: qemu-migrate.sh [--dev DEV] [--no-skip] [--strip-log]" >&2
		exit 2
		;;
	esac
done

# Opt-in for now (VHX_E2E_MIGRATE=1): on vhx the two-pair case lost the
# guest's network after the switch-over in 1 of 3 runs, and one run's
# test VM panicked (corrupted stack end in a QEMU thread); not explained
# yet, so it stays out of make check until it is.
if [ "${VHX_E2E_MIGRATE:-0}" != 1 ]; then
	echo "TAP version 13"
	echo "1..0 # SKIP opt-in: VHX_E2E_MIGRATE=1"
	exit 0
fi

helper=$top/selftests/e2e/migrate.py
bridge=vhxmig0
tap_a=vhxmig1
tap_b=vhxmig2
host_addr=10.63.0.1
guest_addr=10.63.0.2
stream_rate=2000000
helper_pids=()

# case_checks PAIRS: the names of one case's results, in order.
case_checks() {
	local i

	echo boot net-up no-migration-blocker migrated readers-held \
		traffic-before traffic-during traffic-after dest-running
	for i in $(seq 0 $(($1 - 1))); do
		echo "stream-q$i held-q$i"
	done
	echo guest-responds queues-after guest-ping exit-status guest-kernel-clean
}

need_kvm

qemu=$(command -v qemu-system-x86_64)
if [ -n "$qemu" ] && command -v python3 > /dev/null && [ -c "$dev" ]; then
	python3 "$helper" has-log-all "$dev" > "$work/features" 2>&1
	log_all=$?
	if [ $log_all = 1 ] && [ $skip_no_log = 1 ]; then
		echo "TAP version 13"
		echo "1..0 # SKIP $dev does not offer VHOST_F_LOG_ALL (no dirty" \
		     "logging: QEMU blocks the migration); --no-skip runs it"
		exit 0
	fi
fi

ktap_plan $(($(case_checks 1 | wc -w) + $(case_checks 2 | wc -w)))
diag "vhost device: $dev ($(cat "$work/features" 2> /dev/null))"

mig_cleanup() {
	local f

	for f in "$work"/qmp-*.sock; do
		[ -S "$f" ] && python3 "$helper" quit "$f"
	done
	for f in "$work"/qemu-*.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2> /dev/null
	done
	for f in "${helper_pids[@]}"; do
		kill "$f" 2> /dev/null
	done
	ip link del "$tap_a" 2> /dev/null
	ip link del "$tap_b" 2> /dev/null
	ip link del "$bridge" 2> /dev/null
	cleanup
}
trap mig_cleanup EXIT

# fail_rest REASON NAME...: the checks that cannot be made.
fail_rest() {
	local why=$1 name

	shift
	for name in "$@"; do
		ktap_result "$name" 1 "$why"
	done
}

# The bridge with L1's address, and the two taps on it (multiqueue for
# more than one pair), fresh for each case.
setup_net() {
	local pairs=$1 t mq=

	[ "$pairs" -gt 1 ] && mq=multi_queue
	if [ ! -d "/sys/class/net/$bridge" ]; then
		modprobe bridge 2> /dev/null
		ip link add "$bridge" type bridge forward_delay 0 &&
			ip addr add "$host_addr/24" dev "$bridge" &&
			ip link set "$bridge" up || return 1
	fi
	for t in "$tap_a" "$tap_b"; do
		ip link del "$t" 2> /dev/null
		ip tuntap add dev "$t" mode tap $mq &&
			ip link set "$t" master "$bridge" &&
			ip link set "$t" up || return 1
	done
	ip neigh flush dev "$bridge" 2> /dev/null
	return 0
}

# mig_value KEY: KEY's value in the migrate helper's output.
mig_value() {
	sed -n "s/^$1=//p" "$mig_out" | tail -n 1
}

# ticks LOG: the guest's "E2E-TICK n k=v..." lines in LOG.
ticks() {
	tr -d '\r' < "$1" | grep -aE '^E2E-TICK [0-9]+( [a-z]+[0-9]+=[0-9]*)*$'
}

# queue_deltas PAIRS FIRST LAST: "rx0=+N tx0=+N ..." between two tick
# lines; fails unless every queue of PAIRS got interrupts in between.
queue_deltas() {
	awk -v pairs="$1" -v first="$2" -v last="$3" 'BEGIN {
		n = split(first, a, " ")
		for (i = 3; i <= n; i++) {
			split(a[i], kv, "=")
			f[kv[1]] = kv[2]
		}
		n = split(last, a, " ")
		for (i = 3; i <= n; i++) {
			split(a[i], kv, "=")
			l[kv[1]] = kv[2]
		}
		ok = 1
		for (q = 0; q < pairs; q++) {
			for (d = 0; d < 2; d++) {
				k = (d ? "tx" : "rx") q
				if (f[k] == "" || l[k] == "") {
					out = out " " k "=missing"
					ok = 0
					continue
				}
				out = out " " k "=+" (l[k] - f[k])
				if (l[k] - f[k] <= 0)
					ok = 0
			}
		}
		print substr(out, 2)
		exit !ok
	}'
}

# run_case PAIRS: one guest, migrated from A to B.
run_case() {
	local pairs=$1 c=$1 port=$((5600 + 10 * $1)) mac=52:54:00:12:63:0$1
	local log_a=$work/a$c.log log_b=$work/b$c.log
	local qmp_a=$work/qmp-a$c.sock qmp_b=$work/qmp-b$c.sock
	local uri=unix:$work/mig$c.sock stop=$work/stop$c
	local www=http://$guest_addr:8080/cgi-bin
	local pid_a pid_b rc_a rc_b=none i s ok boot_ms blocked status detail
	local migrated=0 held release=none release_rc=1 common=() dev_opts

	ktap_prefix="${pairs}pair$([ "$pairs" = 1 ] || echo s)-"
	mig_out=$work/migrate$c.txt
	: > "$mig_out"
	: > "$log_a"
	: > "$log_b"

	if ! setup_net "$pairs"; then
		fail_rest "cannot set up the bridge and taps" $(case_checks "$pairs")
		return
	fi
	for i in $(seq 0 $((pairs - 1))); do
		python3 "$helper" stream "$host_addr" $((port + i)) "$stop" \
			"$stream_rate" "$work/stream$c.q$i" &
		helper_pids+=($!)
		python3 "$helper" stream "$host_addr" $((port + 5 + i)) "$stop" \
			"$stream_rate" "$work/stream$c.h$i" &
		helper_pids+=($!)
	done

	common=(-enable-kvm -cpu host -smp 2 -m 256 -nodefaults -no-user-config
		-display none -no-reboot -serial stdio
		-kernel "$kernel" -initrd "$initrd"
		-append "console=ttyS0 loglevel=5 panic=-1 -- \"/e2e/migrate.sh $guest_addr $host_addr $pairs $port\"")
	# A and B: the same command line but for the tap, the QMP socket
	# and B's -incoming.  Each opens its own vhost fds on $dev.
	rm -f "$work/boot-ms"
	if [ "$pairs" = 1 ]; then
		dev_opts=virtio-net-pci,netdev=n0,mac=$mac
		run_guest "$log_a" timeout 600 "${qemu_env[@]}" "$qemu" "${common[@]}" \
			-pidfile "$work/qemu-a$c.pid" \
			-qmp "unix:$qmp_a,server=on,wait=off" \
			-netdev "tap,id=n0,ifname=$tap_a,script=no,downscript=no,vhost=on,vhostfd=3" \
			-device "$dev_opts" 3<> "$dev" &
		pid_a=$!
		run_guest "$log_b" timeout 600 "${qemu_env[@]}" "$qemu" "${common[@]}" \
			-pidfile "$work/qemu-b$c.pid" \
			-qmp "unix:$qmp_b,server=on,wait=off" \
			-netdev "tap,id=n0,ifname=$tap_b,script=no,downscript=no,vhost=on,vhostfd=3" \
			-device "$dev_opts" -incoming "$uri" 3<> "$dev" &
		pid_b=$!
	else
		dev_opts=virtio-net-pci,netdev=n0,mq=on,vectors=$((2 * pairs + 2)),mac=$mac
		run_guest "$log_a" timeout 600 "${qemu_env[@]}" python3 "$with_fds" "$tap_a" "$dev" \
			"$pairs" "$qemu" "${common[@]}" \
			-pidfile "$work/qemu-a$c.pid" \
			-qmp "unix:$qmp_a,server=on,wait=off" \
			-netdev @NETDEV@ -device "$dev_opts" &
		pid_a=$!
		run_guest "$log_b" timeout 600 "${qemu_env[@]}" python3 "$with_fds" "$tap_b" "$dev" \
			"$pairs" "$qemu" "${common[@]}" \
			-pidfile "$work/qemu-b$c.pid" \
			-qmp "unix:$qmp_b,server=on,wait=off" \
			-netdev @NETDEV@ -device "$dev_opts" -incoming "$uri" &
		pid_b=$!
	fi

	# Booted, network up, streams connected.
	wait_for_line "$log_a" "E2E-RESULT net-up" 200
	boot_ms=$(cat "$work/boot-ms" 2> /dev/null)
	[ -n "$boot_ms" ]
	ktap_result boot $? "QEMU A start to guest init: ${boot_ms:-never} ms"
	report_guest "$log_a" net-up
	ok=0
	if grep -aq "E2E-RESULT net-up ok" "$log_a"; then
		ok=1
		for i in $(seq 0 $((pairs - 1))); do
			for s in q h; do
				wait_for_path "$work/stream$c.$s$i.conn" 30 || ok=0
			done
		done
		[ $ok = 1 ] || diag "the guest did not connect to every stream"
	fi
	python3 "$helper" pinger "$guest_addr" 0.02 "$stop" "$work/ping$c" &
	helper_pids+=($!)
	sleep 3			# traffic before

	python3 "$helper" migrate "$qmp_a" "$qmp_b" "$uri" 180 "$www/hold" \
		> "$mig_out" 2>&1
	sed 's/^/# migrate: /' "$mig_out"
	blocked=$(mig_value blocked)
	[ -z "$blocked" ] && grep -q '^blocked=' "$mig_out"
	ktap_result no-migration-blocker $? "${blocked:-none}"
	status=$(mig_value status)
	detail="status ${status:-none}"
	[ "$status" != completed ] || detail="$detail, total-time $(mig_value total_ms) ms, downtime $(mig_value downtime_ms) ms, setup $(mig_value setup_ms) ms, $(($(mig_value transferred) / 1048576)) MiB in $(mig_value dirty_syncs) dirty syncs"
	[ -z "$(mig_value error)" ] || detail="$detail: $(mig_value error)"
	[ "$status" = completed ] && migrated=1
	ktap_result migrated $((!migrated)) "$detail"
	held=$(mig_value held)
	[ $migrated = 1 ] && [ "$(set -- $held; echo $#)" = $((pairs + 1)) ] &&
		[ "${held%% *}" = hold ]
	ktap_result readers-held $? "after the first pass over guest memory, $(mig_value held_ms) ms before the end: ${held:-never}"

	# The source is done with once the destination runs.
	python3 "$helper" quit "$qmp_a"
	if [ $migrated = 1 ]; then
		sleep 5		# traffic after
		release=$(python3 "$helper" get "$www/release")
		release_rc=$?
		sleep 1		# the held readers catch up
	fi
	touch "$stop"
	for i in "${helper_pids[@]}"; do
		wait "$i"
	done
	helper_pids=()
	wait "$pid_a"
	rc_a=$?

	check_traffic "$c"
	if [ $migrated = 1 ] && [ $ok = 1 ]; then
		check_after "$pairs" "$c"
	else
		python3 "$helper" quit "$qmp_b"
		wait "$pid_b"
		rc_b=$?
		detail="not migrated"
		[ $migrated = 0 ] || detail="the guest's network never came up"
		fail_rest "$detail" dest-running $(case_checks "$pairs" |
			sed -n 's/.*\(stream-q[0-9]\+ held-q[0-9]\+\).*/\1/p') \
			guest-responds queues-after guest-ping
	fi

	detail=$(tr -d '\r' < "$log_b" | grep -a "^vhx-guest: exit" | tail -n 1)
	[ "$detail" = "vhx-guest: exit 0" ] && [ "$rc_a" = 0 ] && [ "$rc_b" = 0 ]
	ktap_result exit-status $? "QEMU A exit status $rc_a (quit after the migration), QEMU B $rc_b; the guest on B: ${detail:-no exit}"
	rm -f "$work/qemu-a$c.pid" "$work/qemu-b$c.pid"
	cat "$log_a" "$log_b" > "$work/consoles$c.log"
	guest_console_clean "$work/consoles$c.log"
	if [ $ktap_failed = 1 ]; then
		show_log "$log_a" 15
		show_log "$log_b" 25 | sed 's/^# console:/# console B:/'
	fi
}

# check_traffic CASE: the pings before, during and after (uses run_case's
# locals).
check_traffic() {
	local c=$1 p before during after first_ms gap

	p=$(python3 "$helper" pings "$work/ping$c" "$(mig_value start_ns)" \
		"$(mig_value end_ns)" 2> /dev/null)
	diag "pings (replies/sent): ${p:-none}"
	if [ $migrated = 0 ]; then
		# Nothing ran past the refused migrate: all pings are "before".
		p=$(python3 "$helper" pings "$work/ping$c" "$(date +%s%N)" \
			"$(date +%s%N)" 2> /dev/null)
	fi
	before=${p#*before=}; before=${before%% *}
	during=${p#*during=}; during=${during%% *}
	after=${p#*after=}; after=${after%% *}
	first_ms=${p#*first_after_ms=}; first_ms=${first_ms%% *}
	gap=${p#*max_gap_ms=}
	[ -n "$p" ] && [ "${before%/*}" -gt 0 ] &&
		[ $((2 * ${before%/*})) -ge "${before#*/}" ]
	ktap_result traffic-before $? "$before pings answered before the migration"
	if [ $migrated = 0 ]; then
		fail_rest "not migrated" traffic-during traffic-after
		return
	fi
	[ "${during%/*}" -gt 0 ]
	ktap_result traffic-during $? "$during pings answered during the $(mig_value total_ms) ms migration"
	[ "${after%/*}" -gt 0 ] && [ $((2 * ${after%/*})) -ge "${after#*/}" ] &&
		[ "$first_ms" != - ] && [ "$first_ms" -lt 5000 ]
	ktap_result traffic-after $? "$after pings answered after the switch-over, the first $first_ms ms after it; longest time without a reply $gap ms (QEMU's downtime $(mig_value downtime_ms) ms)"
}

# check_after PAIRS CASE: everything after a completed migration (uses
# run_case's locals).
check_after() {
	local pairs=$1 c=$2 line i s sent first last name

	# Wait for the guest to finish on B (streams, then its ping).
	wait_for_line "$log_b" "vhx-guest: exit" 90
	grep -aq "vhx-guest: exit" "$log_b" || python3 "$helper" quit "$qmp_b"
	wait "$pid_b"
	rc_b=$?

	first=$(ticks "$log_b" | head -n 1)
	last=$(ticks "$log_b" | tail -n 1)
	[ "$(mig_value dst_after)" = running ] &&
		[ "$(mig_value src_after)" = postmigrate ] &&
		[ -n "$first" ] && [ "$first" != "$last" ]
	ktap_result dest-running $? "B $(mig_value dst_after), A $(mig_value src_after); guest ticks on B: ${first:+${first#E2E-TICK } .. ${last#E2E-TICK }}"

	# What L1 sent against what the guest read: the q streams flowed
	# all along; the h streams' data written during the hold was read on B.
	for i in $(seq 0 $((pairs - 1))); do
		for s in q h; do
			line=$(tr -d '\r' < "$log_b" | grep -a "^E2E-MD5 $s$i " | tail -n 1)
			# shellcheck disable=SC2086 # the guest's words
			set -- $line
			sent=$(cat "$work/stream$c.$s$i" 2> /dev/null)
			diag "stream $s$i: L1 sent ${sent:-nothing}; guest got md5=${3:-none} bytes=${4:-none} wget=${5:-none}"
			name=stream-q$i
			detail="read as it came"
			if [ $s = h ]; then
				name=held-q$i
				detail="its reader stopped from the end of the first pass to after the switch-over"
			fi
			if [ -n "$line" ] && [ "${5:-}" = 0 ] &&
			   [ "$sent" = "bytes=$4 md5=$3 error=" ]; then
				ktap_result "$name" 0 "$((${4} / 1048576)) MiB over queue pair $i, $detail: intact"
			else
				ktap_result "$name" 1 "$((${4:-0} / 1048576)) MiB over queue pair $i, $detail: NOT what L1 sent"
			fi
		done
	done

	[ $release_rc = 0 ] && [ "${release%% *}" = release ]
	ktap_result guest-responds $? "the guest's httpd on B answered: ${release:-nothing}"
	detail=$(queue_deltas "$pairs" "$first" "$last")
	ktap_result queues-after $? "interrupts on B per queue: $detail"
	report_guest "$log_b" guest-ping
}

# wait_for_path PATH SECONDS
wait_for_path() {
	local end=$((SECONDS + $2))

	while [ ! -e "$1" ] && [ $SECONDS -lt $end ]; do
		sleep 0.2
	done
	[ -e "$1" ]
}

if [ -z "$qemu" ] || ! command -v python3 > /dev/null || [ ! -c "$dev" ]; then
	diag "need qemu-system-x86_64, python3 and $dev"
	for c in 1 2; do
		ktap_prefix="${c}pair$([ $c = 1 ] || echo s)-"
		fail_rest "cannot run" $(case_checks $c)
	done
	exit 1
fi

initrd=$(guest_initramfs "") || initrd=
qemu_env=()
if [ $strip_log = 1 ]; then
	cc -O2 -Wall -shared -fPIC -o "$work/strip-log.so" \
		"$top/selftests/e2e/strip-log.c" -ldl ||
		diag "cannot build strip-log.so"
	qemu_env=(env "LD_PRELOAD=$work/strip-log.so")
	diag "QEMU runs with strip-log.so: $dev logs nothing"
fi
with_fds=$(qemu_fds_wrapper)
run_case 1
run_case 2
exit $ktap_failed
