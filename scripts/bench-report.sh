#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Turn the raw results of scripts/bench-vm.sh into a Markdown report and
# PNG plots (gnuplot, scripts/bench-bars.gp):
#
#   bench-report.sh --raw FILE --out REPORT.md [--notes FILE]
#
# The plots go beside REPORT.md as REPORT-*.png.  --notes: text (Markdown)
# put under "Conditions" as is, e.g. the host's load during the run.
#
# Every figure is a median over the repetitions with its range (min..max);
# every ratio is computed per repetition from the two members of a pair,
# which ran back to back in the same boot, and summarised the same way.
# A measurement that failed is shown as failed, never as a number.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
raw=
out=
notes=

while [ $# -gt 0 ]; do
	case $1 in
	--raw | --out | --notes)
		[ $# -ge 2 ] || { echo "bench-report: $1 needs a value" >&2; exit 2; }
		case $1 in
		--raw) raw=$2 ;;
		--out) out=$2 ;;
		--notes) notes=$2 ;;
		esac
		shift 2
		;;
	*)
		sed -n '/^#   bench-report.sh/,/^# The plots/{/^# The plots/d;s/^# \?//p}' "$0" >&2
		exit 2
		;;
	esac
done
[ -f "$raw" ] && [ -n "$out" ] ||
	{ echo "bench-report: --raw FILE and --out REPORT.md are required" >&2; exit 2; }
mkdir -p "$(dirname "$out")"
base=${out%.md}
name=$(basename "$base")

# --- numbers --------------------------------------------------------------

# med, min, max and count of one series: "med<TAB>min<TAB>max<TAB>n", or
# nothing when it has no values.
stat() {	# section test impl metric
	awk -F'\t' -v s="$1" -v t="$2" -v i="$3" -v m="$4" '
		$1 == s && $2 == t && $3 == i && $5 == m { v[n++] = $6 + 0 }
		END {
			if (!n) exit
			for (a = 1; a < n; a++)
				for (b = a; b > 0 && v[b - 1] > v[b]; b--) {
					x = v[b]; v[b] = v[b - 1]; v[b - 1] = x
				}
			med = n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
			printf "%s\t%s\t%s\t%d\n", med, v[0], v[n - 1], n
		}' "$raw"
}

# Ratio of series A over series B, repetition by repetition, summarised
# like stat().
ratio() {	# section testA implA testB implB metric
	awk -F'\t' -v s="$1" -v ta="$2" -v ia="$3" -v tb="$4" -v ib="$5" -v m="$6" '
		$1 == s && $5 == m && $2 == ta && $3 == ia { a[$4] = $6 + 0 }
		$1 == s && $5 == m && $2 == tb && $3 == ib { b[$4] = $6 + 0 }
		END {
			for (r in a)
				if ((r in b) && b[r] > 0)
					v[n++] = a[r] / b[r]
			if (!n) exit
			for (x = 1; x < n; x++)
				for (y = x; y > 0 && v[y - 1] > v[y]; y--) {
					z = v[y]; v[y] = v[y - 1]; v[y - 1] = z
				}
			med = n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
			printf "%s\t%s\t%s\t%d\n", med, v[0], v[n - 1], n
		}' "$raw"
}

fails() {	# section test impl: how many runs failed
	awk -F'\t' -v s="$1" -v t="$2" -v i="$3" '
		$1 == s && $5 == "fail" && ($2 == t || $2 == "all") &&
		($3 == i || $3 == "all") { n++ }
		END { print n + 0 }' "$raw"
}

meta() {
	awk -F'\t' -v k="$1" '$1 == "meta" && $2 == k { print $3; exit }' "$raw"
}

num() {		# a number, rounded for reading
	awk -v x="$1" 'BEGIN {
		if (x >= 100) printf "%.0f", x
		else if (x >= 10) printf "%.1f", x
		else printf "%.2f", x
	}'
}

# "median (min..max)" of a series, or why there is none.
cell() {	# section test impl metric
	local st med lo hi n f

	st=$(stat "$@")
	f=$(fails "$1" "$2" "$3")
	if [ -z "$st" ]; then
		if [ "$f" -gt 0 ]; then echo "failed"; else echo "not measured"; fi
		return
	fi
	IFS=$'\t' read -r med lo hi n <<< "$st"
	local s
	if [ "$n" = 1 ]; then
		s="$(num "$med") (n=1)"
	else
		s="$(num "$med") ($(num "$lo")..$(num "$hi"))"
	fi
	[ "$f" -gt 0 ] && s+=", $f failed"
	echo "$s"
}

rcell() {	# as ratio()
	local st med lo hi n

	st=$(ratio "$@")
	if [ -z "$st" ]; then
		echo "not measured"
		return
	fi
	IFS=$'\t' read -r med lo hi n <<< "$st"
	awk -v m="$med" -v a="$lo" -v b="$hi" -v n="$n" \
		'BEGIN { printf "**%.2f** (%.2f..%.2f, %d pairs)", m, a, b, n }'
}

# One plot row: label, then med/min/max per series ("?" when missing).
plot_row() {	# label section metric test:impl...
	local label=$1 s=$2 m=$3 spec st row

	shift 3
	row=$label
	for spec in "$@"; do
		st=$(stat "$s" "${spec%%:*}" "${spec#*:}" "$m")
		if [ -n "$st" ]; then
			row+=$'\t'$(cut -f1-3 <<< "$st")
		else
			row+=$'\t?\t?\t?'
		fi
	done
	printf '%s\n' "$row"
}

ratio_row() {	# label section testA implA testB implB metric
	local st

	st=$(ratio "${@:2}")
	if [ -n "$st" ]; then
		printf '%s\t%s\n' "$1" "$(cut -f1-3 <<< "$st")"
	else
		printf '%s\t?\t?\t?\n' "$1"
	fi
}

have_data() {	# FILE: a row with at least one number?
	awk -F'\t' '{ for (i = 2; i <= NF; i++) if ($i != "?") f = 1 }
		END { exit !f }' "$1"
}

plot() {	# suffix title ylabel nseries t1 t2 t3 logy reference < rows
	local dat=$base-$1.dat png=$base-$1.png

	cat > "$dat"
	if ! have_data "$dat"; then
		rm -f "$dat"
		return
	fi
	if gnuplot -e "datafile='$dat'; outfile='$png'; plottitle='$2'; ylab='$3'; nseries=$4; t1='$5'; t2='$6'; t3='$7'; logy=$8; reference=$9" \
		"$top/scripts/bench-bars.gp" 2>"$base-$1.gnuplot.log"; then
		rm -f "$dat" "$base-$1.gnuplot.log"
		plots+=("$name-$1.png|$2")
	else
		echo "bench-report: gnuplot failed for $png (see $base-$1.gnuplot.log)" >&2
	fi
}

# --- what is compared -----------------------------------------------------

net_label() {
	case $1 in
	tx64) echo "TX 64 B, 1 queue pair" ;;
	rx64) echo "RX 64 B, 1 queue pair" ;;
	tx1500) echo "TX 1500 B, 1 queue pair" ;;
	txgso) echo "TX 64 KiB GSO, 1 queue pair" ;;
	tx64q2) echo "TX 64 B, 2 queue pairs" ;;
	rx64q2) echo "RX 64 B, 2 queue pairs" ;;
	esac
}

blk_label() {	# null-randread-qd32-q4 -> "null_blk randread QD32 4q"
	local b rw qd nq

	IFS=- read -r b rw qd nq <<< "$1"
	[ "$b" = null ] && b=null_blk
	[ "$b" = tmpfs ] && b="tmpfs file"
	echo "$b $rw ${qd^^} ${nq#q}q"
}

net_tests=(tx64 rx64 tx1500 txgso tx64q2 rx64q2)
blk_tests=$(awk -F'\t' '$1 == "blk" && $2 != "all" && !seen[$2]++ { print $2 }' "$raw")

plots=()

# --- the report -----------------------------------------------------------

{
	echo "# vhx benchmarks: $(meta start) to $(meta end) UTC, $(basename "$out" .md)"
	echo
	echo "**Measured under emulation.** The test VM runs under QEMU TCG (no"
	echo "hardware virtualisation), roughly 50 times slower than hardware, on a"
	echo "2-core machine shared with other work. Absolute figures mean little;"
	echo "only the ratios of pairs measured side by side in the same VM boot do."
	echo "Each pair ran back to back, its order alternating between"
	echo "repetitions; figures are medians with the range (min..max) over the"
	echo "repetitions, ratios are taken per pair and summarised the same way."
	echo
	echo "## Headline ratios (side by side, same boot)"
	echo
	echo "| comparison | ratio, median (min..max) |"
	echo "|---|---|"
	echo "| 64 B TX packet rate, vhx-net / vhost-net | $(rcell net tx64 vhx tx64 vhost pps) |"
	echo "| 64 B RX packet rate, vhx-net / vhost-net | $(rcell net rx64 vhx rx64 vhost pps) |"
	echo "| 1500 B TX throughput, vhx-net / vhost-net | $(rcell net tx1500 vhx tx1500 vhost mbps) |"
	echo "| 64 KiB GSO TX throughput, vhx-net / vhost-net | $(rcell net txgso vhx txgso vhost mbps) |"
	echo "| 64 B TX worker CPU per packet, vhx-net / vhost-net (lower is better) | $(rcell net tx64 vhx tx64 vhost nspp) |"
	echo "| 64 B TX, 2 queue pairs / 1, vhx-net | $(rcell net tx64q2 vhx tx64 vhx pps) |"
	echo "| 64 B TX, 2 queue pairs / 1, vhost-net | $(rcell net tx64q2 vhost tx64 vhost pps) |"
	echo "| 4 KiB randread QD32 1 queue, null_blk, vhx-blk / io_uring (uringbench) | $(rcell blk null-randread-qd32-q1 vhx null-randread-qd32-q1 ubench iops) |"
	echo "| 4 KiB randread QD32 4 queues, null_blk, vhx-blk / io_uring (uringbench) | $(rcell blk null-randread-qd32-q4 vhx null-randread-qd32-q4 ubench iops) |"
	echo "| 4 KiB randread QD32 1 queue, tmpfs file, vhx-blk / io_uring (uringbench) | $(rcell blk tmpfs-randread-qd32-q1 vhx tmpfs-randread-qd32-q1 ubench iops) |"
	echo "| 4 KiB randread QD1 1 queue, null_blk, vhx-blk / io_uring (uringbench) | $(rcell blk null-randread-qd1-q1 vhx null-randread-qd1-q1 ubench iops) |"
	echo "| 4 KiB randread QD1 1 queue, null_blk, vhx-blk / polled io_uring (uringbench --poll) | $(rcell blk null-randread-qd1-q1 vhx null-randread-qd1-q1 ubpoll iops) |"
	echo "| 4 KiB randread QD1 1 queue, null_blk, polled vhx-blk (blkbench --poll) / polled io_uring | $(rcell blk null-randread-qd1-q1 vhxpoll null-randread-qd1-q1 ubpoll iops) |"
	echo "| 4 KiB randread QD32 1 queue, null_blk, polled vhx-blk (blkbench --poll) / polled io_uring | $(rcell blk null-randread-qd32-q1 vhxpoll null-randread-qd32-q1 ubpoll iops) |"
	echo "| e2e iperf3 guest→VM, QEMU+vhx-net (vhostfd=) / QEMU+vhost-net | $(rcell e2e iperf-tx qemu-vhx iperf-tx qemu-vhost mbps) |"
	echo "| e2e iperf3 VM→guest, QEMU+vhx-net (vhostfd=) / QEMU+vhost-net | $(rcell e2e iperf-rx qemu-vhx iperf-rx qemu-vhost mbps) |"
	echo "| e2e iperf3 guest→VM, vhx-vm+vhx-net / QEMU+vhost-net | $(rcell e2e iperf-tx vhxvm iperf-tx qemu-vhost mbps) |"
	echo "| e2e iperf3 VM→guest, vhx-vm+vhx-net / QEMU+vhost-net | $(rcell e2e iperf-rx vhxvm iperf-rx qemu-vhost mbps) |"
	echo "| e2e fio 4 KiB randread QD32, vhx-vm+vhx-blk / QEMU virtio-blk io_uring+iothread | $(rcell e2e fio-randread-qd32 vhxvm fio-randread-qd32 qemu-vhost iops) |"
	echo "| e2e boot to guest init, vhx-vm / QEMU (lower is faster) | $(rcell e2e boot vhxvm boot qemu-vhost seconds) |"
	echo
	echo "## Conditions"
	echo
	echo "- Test VM kernel $(meta kernel), $(meta cpus) vCPUs, slab sanity checks"
	echo "  $(meta slub_sanity) (0: slub_debug off, as it must be for benchmarks)."
	echo "- $(meta reps) repetitions of $(meta secs) s per guest-less run;"
	echo "  $(meta e2e_reps) repetitions of each end-to-end boot."
	if [ -n "$notes" ] && [ -f "$notes" ]; then
		cat "$notes"
	fi
	echo
	echo "## Net, guest-less"
	echo
	echo "vhx-netgen drives the device as the guest would (its own memory is"
	echo "the guest memory), the same program on \`/dev/vhx-net\` and on"
	echo "upstream \`/dev/vhost-net\`, one device open and one tap queue per"
	echo "queue pair. TX: frames from the ring into the tap. RX: the kernel's"
	echo "pktgen floods the tap and the device fills the ring. CPU per packet"
	echo "is schedstat runtime over the run: the device's worker threads, the"
	echo "driver's threads (vhx-netgen, the guest side) and pktgen's thread."
	echo
	echo "| test | metric | vhx-net | vhost-net | vhx / vhost |"
	echo "|---|---|---|---|---|"
	for t in "${net_tests[@]}"; do
		for m in pps mbps nspp drvnspp gennspp kicks calls runs worker_sleeps; do
			case $m in
			pps) ml="packets/s" ;;
			mbps) ml="Mbit/s" ;;
			nspp) ml="worker ns/packet" ;;
			drvnspp) ml="driver ns/packet" ;;
			gennspp) ml="pktgen ns/packet" ;;
			kicks) ml="kicks / 1000 packets" ;;
			calls) ml="calls / 1000 packets" ;;
			runs) ml="handler runs / 1000 packets (vhx only)" ;;
			worker_sleeps) ml="worker sleeps / 1000 packets" ;;
			esac
			[ "$m" != gennspp ] || [[ $t == rx* ]] || continue
			echo "| $(net_label "$t") | $ml | $(cell net "$t" vhx $m) | $(cell net "$t" vhost $m) | $(rcell net "$t" vhx "$t" vhost $m) |"
		done
	done
	echo
	echo "Scaling, 2 queue pairs / 1 (packets/s, per repetition):"
	echo
	echo "| direction | vhx-net | vhost-net |"
	echo "|---|---|---|"
	echo "| TX 64 B | $(rcell net tx64q2 vhx tx64 vhx pps) | $(rcell net tx64q2 vhost tx64 vhost pps) |"
	echo "| RX 64 B | $(rcell net rx64q2 vhx rx64 vhx pps) | $(rcell net rx64q2 vhost rx64 vhost pps) |"
	echo
	echo "## Blk, guest-less"
	echo
	echo "blkbench plays the guest on \`/dev/vhx-blk\`: one thread per queue"
	echo "keeps QD requests of 4 KiB in flight at random offsets of the first"
	echo "256 MiB of the backend (32 MiB in a smoke run). The reference is"
	echo "uringbench, the same load through io_uring from a process (one thread"
	echo "and ring per queue, registered file and buffers, O_DIRECT, no clock"
	echo "read per I/O); polled"
	echo "is uringbench with IOPOLL on null_blk's poll queue, the cheapest round"
	echo "trip the block layer offers, and its match is polled vhx-blk:"
	echo "blkbench --poll, whose threads spin on the used ring with calls"
	echo "suppressed, as a virtio-blk poll queue does (the device is kicked as"
	echo "usual); fio is fio's io_uring engine with"
	echo "\`gtod_reduce=1\` (numjobs = queues, iodepth = QD), a second opinion."
	echo "Backends: null_blk (\`/dev/nullb0\`, module defaults) and a file on tmpfs."
	echo
	echo "| test | vhx-blk IOPS | uringbench IOPS | polled vhx-blk IOPS | polled IOPS | fio IOPS | vhx-blk / uringbench | polled vhx-blk / polled |"
	echo "|---|---|---|---|---|---|---|---|"
	for t in $blk_tests; do
		echo "| $(blk_label "$t") | $(cell blk "$t" vhx iops) | $(cell blk "$t" ubench iops) | $(cell blk "$t" vhxpoll iops) | $(cell blk "$t" ubpoll iops) | $(cell blk "$t" uring iops) | $(rcell blk "$t" vhx "$t" ubench iops) | $(rcell blk "$t" vhxpoll "$t" ubpoll iops) |"
	done
	echo
	echo "CPU time per request, ns (schedstat; vhx-blk: blkbench's threads"
	echo "and the device's workers; uringbench: its threads), and vhx-blk's"
	echo "kicks, calls, handler runs and worker sleeps per 1000 requests:"
	echo
	echo "| test | vhx-blk | uringbench | polled | kicks | calls | runs | sleeps |"
	echo "|---|---|---|---|---|---|---|---|"
	for t in $blk_tests; do
		echo "| $(blk_label "$t") | $(cell blk "$t" vhx cpuns) | $(cell blk "$t" ubench cpuns) | $(cell blk "$t" ubpoll cpuns) | $(cell blk "$t" vhx kicks) | $(cell blk "$t" vhx calls) | $(cell blk "$t" vhx runs) | $(cell blk "$t" vhx worker_sleeps) |"
	done
	echo
	echo "Latency at QD1, one queue: the mean, 1 / IOPS (exact at QD1 on one"
	echo "queue), µs:"
	echo
	echo "| test | vhx-blk | uringbench | polled | fio |"
	echo "|---|---|---|---|---|"
	for t in $blk_tests; do
		case $t in *-qd1-q1) ;; *) continue ;; esac
		echo "| $(blk_label "$t") | $(cell blk "$t" vhx lat_mean_us) | $(cell blk "$t" ubench lat_mean_us) | $(cell blk "$t" ubpoll lat_mean_us) | $(cell blk "$t" uring lat_mean_us) |"
	done
	echo
	echo "## End to end (nested guests)"
	echo
	if [ -z "$(stat e2e boot vhxvm seconds)$(stat e2e boot qemu-vhost seconds)" ]; then
		why=$(awk -F'\t' '$1 == "e2e" && $5 == "fail" { print $6; exit }' "$raw")
		echo "Not measured: ${why:-the end-to-end section did not run}."
	else
		echo "L2 guests under KVM nested in the test VM (\`kvm_amd nested=1\`),"
		echo "one vCPU and 1 GiB each, the same kernel and initramfs"
		echo "(scripts/mkguest.sh --fio). Network: a tap in the test VM, iperf3"
		echo "server there, client in the guest ($((5)) s each way). Disk: null_blk"
		echo "in the test VM, fio 4 KiB randread QD32 io_uring direct in the guest."
		echo "Boot: seconds from starting the VMM to the guest init's first line."
		echo
		echo "QEMU + vhx-net is the same QEMU as QEMU + vhost-net, given an"
		echo "open \`/dev/vhx-net\` with \`vhostfd=\`: only the data plane differs."
		echo
		echo "| test | vhx-vm + vhx | QEMU + vhost-net / virtio-blk io_uring+iothread | QEMU + vhx-net | QEMU, userspace virtio-net | vhx-vm / QEMU+vhost | QEMU+vhx-net / QEMU+vhost-net |"
		echo "|---|---|---|---|---|---|---|"
		echo "| iperf3 guest→VM, Mbit/s | $(cell e2e iperf-tx vhxvm mbps) | $(cell e2e iperf-tx qemu-vhost mbps) | $(cell e2e iperf-tx qemu-vhx mbps) | $(cell e2e iperf-tx qemu-user mbps) | $(rcell e2e iperf-tx vhxvm iperf-tx qemu-vhost mbps) | $(rcell e2e iperf-tx qemu-vhx iperf-tx qemu-vhost mbps) |"
		echo "| iperf3 VM→guest, Mbit/s | $(cell e2e iperf-rx vhxvm mbps) | $(cell e2e iperf-rx qemu-vhost mbps) | $(cell e2e iperf-rx qemu-vhx mbps) | $(cell e2e iperf-rx qemu-user mbps) | $(rcell e2e iperf-rx vhxvm iperf-rx qemu-vhost mbps) | $(rcell e2e iperf-rx qemu-vhx iperf-rx qemu-vhost mbps) |"
		echo "| fio randread 4 KiB QD32, IOPS | $(cell e2e fio-randread-qd32 vhxvm iops) | $(cell e2e fio-randread-qd32 qemu-vhost iops) | (no disk test) | (no disk test) | $(rcell e2e fio-randread-qd32 vhxvm fio-randread-qd32 qemu-vhost iops) | |"
		echo "| boot to guest init, s | $(cell e2e boot vhxvm seconds) | $(cell e2e boot qemu-vhost seconds) | $(cell e2e boot qemu-vhx seconds) | $(cell e2e boot qemu-user seconds) | $(rcell e2e boot vhxvm boot qemu-vhost seconds) | |"
		echo
		echo "What each run cost, per MiB through the tap (iperf3, both ways)"
		echo "or per request (fio), counted between the guest's marks around"
		echo "the phase: KVM exits, interrupts injected and"
		echo "halts (KVM's statistics of the VM, all vCPUs), and CPU time of every"
		echo "thread of the VMM in µs (vCPUs, I/O threads, and on 6.12 the"
		echo "vhost-net and vhx workers, which are threads of the VMM there)."
		echo
		echo "| test | per MiB (iperf3) or request (fio) | vhx-vm + vhx | QEMU + vhost-net / virtio-blk | QEMU + vhx-net | QEMU, userspace virtio-net |"
		echo "|---|---|---|---|---|---|"
		for t in iperf-tx iperf-rx fio-randread-qd32; do
			for m in exits_per:"KVM exits" irqs_per:"interrupts injected" \
				 halts_per:"halts" cpu_us_per:"VMM CPU, µs"; do
				echo "| $t | ${m#*:} | $(cell e2e "$t" vhxvm "${m%%:*}") | $(cell e2e "$t" qemu-vhost "${m%%:*}") | $(cell e2e "$t" qemu-vhx "${m%%:*}") | $(cell e2e "$t" qemu-user "${m%%:*}") |"
			done
		done
	fi
	echo
	echo "## Boot and memory (nested guests)"
	echo
	if [ -z "$(stat boot init vhxvm seconds)" ]; then
		why=$(awk -F'\t' '$1 == "boot" && $5 == "fail" { print $6; exit }' "$raw")
		echo "Not measured: ${why:-the boot section did not run}."
	else
		echo "The smallest guest (one vCPU, 512 MiB, no devices, the same kernel,"
		echo "initramfs and command line) under vhx-vm and under QEMU's microvm"
		echo "(qboot) and q35 (SeaBIOS) machines.  Boot: seconds from starting the"
		echo "VMM to the guest init's first line.  Memory: the VMM's resident set"
		echo "once the guest runs its command, in total and without the guest RAM"
		echo "mapping (the largest one), MiB."
		echo
		echo "| | vhx-vm | QEMU microvm | QEMU q35 | vhx-vm / microvm | vhx-vm / q35 |"
		echo "|---|---|---|---|---|---|"
		echo "| boot to guest init, s | $(cell boot init vhxvm seconds) | $(cell boot init microvm seconds) | $(cell boot init q35 seconds) | $(rcell boot init vhxvm init microvm seconds) | $(rcell boot init vhxvm init q35 seconds) |"
		echo "| VMM RSS beyond guest RAM, MiB | $(cell boot rss-vmm vhxvm mib) | $(cell boot rss-vmm microvm mib) | $(cell boot rss-vmm q35 mib) | $(rcell boot rss-vmm vhxvm rss-vmm microvm mib) | $(rcell boot rss-vmm vhxvm rss-vmm q35 mib) |"
		echo "| VMM RSS in total, MiB | $(cell boot rss-total vhxvm mib) | $(cell boot rss-total microvm mib) | $(cell boot rss-total q35 mib) | $(rcell boot rss-total vhxvm rss-total microvm mib) | $(rcell boot rss-total vhxvm rss-total q35 mib) |"
	fi
	echo
	echo "## Failed runs"
	echo
	if awk -F'\t' '$5 == "fail" { f = 1 } END { exit !f }' "$raw"; then
		awk -F'\t' '$5 == "fail" {
			printf "- %s %s %s rep %s: %s\n", $1, $2, $3, $4, $6 }' "$raw"
	else
		echo "None."
	fi
} > "$out.tmp"

# --- plots ----------------------------------------------------------------

# Rows go through a file: process substitution needs /dev/fd, which the
# test VM lacks.
rows=$base-rows.tmp

for t in tx64 rx64 tx64q2 rx64q2; do
	plot_row "$(net_label "$t")" net pps "$t:vhx" "$t:vhost"
done > "$rows"
plot net-pps "Net, guest-less: 64-byte packet rate" "packets/s" 2 \
	vhx-net vhost-net "" 0 0 < "$rows"
for t in tx1500 txgso; do
	plot_row "$(net_label "$t")" net mbps "$t:vhx" "$t:vhost"
done > "$rows"
plot net-mbps "Net, guest-less: TX throughput" "Mbit/s" 2 \
	vhx-net vhost-net "" 0 0 < "$rows"
for t in "${net_tests[@]}"; do
	plot_row "$(net_label "$t")" net nspp "$t:vhx" "$t:vhost"
done > "$rows"
plot net-cpu "Net, guest-less: worker CPU per packet (lower is better)" \
	"ns/packet" 2 vhx-net vhost-net "" 1 0 < "$rows"
for t in $blk_tests; do
	plot_row "$(blk_label "$t")" blk iops "$t:vhx" "$t:ubench"
done > "$rows"
plot blk-iops "Blk, guest-less: 4 KiB IOPS" "IOPS" 2 \
	vhx-blk "io_uring (uringbench)" "" 1 0 < "$rows"
{
	ratio_row "TX 64 B pps" net tx64 vhx tx64 vhost pps
	ratio_row "RX 64 B pps" net rx64 vhx rx64 vhost pps
	ratio_row "TX 1500 B Mbit/s" net tx1500 vhx tx1500 vhost mbps
	ratio_row "TX GSO Mbit/s" net txgso vhx txgso vhost mbps
	ratio_row "TX 64 B ns/pkt" net tx64 vhx tx64 vhost nspp
	ratio_row "TX 64 B 2q pps" net tx64q2 vhx tx64q2 vhost pps
	ratio_row "RX 64 B 2q pps" net rx64q2 vhx rx64q2 vhost pps
} > "$rows"
plot net-ratio "Net: vhx-net / vhost-net, per pair" "ratio" 1 \
	"vhx-net / vhost-net" "" "" 0 1 < "$rows"
for t in $blk_tests; do
	ratio_row "$(blk_label "$t")" blk "$t" vhx "$t" ubench iops
done > "$rows"
plot blk-ratio "Blk: vhx-blk / io_uring IOPS, per pair" "ratio" 1 \
	"vhx-blk / uringbench" "" "" 0 1 < "$rows"
{
	plot_row "iperf3 guest→VM" e2e mbps iperf-tx:vhxvm iperf-tx:qemu-vhost iperf-tx:qemu-user
	plot_row "iperf3 VM→guest" e2e mbps iperf-rx:vhxvm iperf-rx:qemu-vhost iperf-rx:qemu-user
} > "$rows"
plot e2e-iperf "End to end: iperf3" "Mbit/s" 3 \
	"vhx-vm + vhx-net" "QEMU + vhost-net" "QEMU userspace virtio-net" 0 0 < "$rows"
{
	plot_row "fio randread 4 KiB QD32" e2e iops fio-randread-qd32:vhxvm fio-randread-qd32:qemu-vhost
} > "$rows"
plot e2e-fio "End to end: fio in the guest" "IOPS" 2 \
	"vhx-vm + vhx-blk" "QEMU virtio-blk io_uring+iothread" "" 0 0 < "$rows"
{
	plot_row "boot to guest init" e2e seconds boot:vhxvm boot:qemu-vhost
} > "$rows"
plot e2e-boot "End to end: boot time (lower is faster)" "seconds" 2 \
	"vhx-vm" "QEMU" "" 0 0 < "$rows"

{
	cat "$out.tmp"
	if [ ${#plots[@]} -gt 0 ]; then
		echo
		echo "## Plots"
		for p in "${plots[@]}"; do
			echo
			echo "![${p#*|}](${p%%|*})"
		done
	fi
	echo
	echo "## Raw data"
	echo
	echo "[$name.tsv]($name.tsv): section, test, implementation, repetition,"
	echo "metric, value (one line per figure; \"fail\" lines give the reason)."
} > "$out"
rm -f "$out.tmp" "$rows"
cp "$raw" "$base.tsv" 2>/dev/null || true
echo "bench-report: wrote $out (${#plots[@]} plots)"
