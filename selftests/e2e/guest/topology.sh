#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The CPU topology a guest of N vCPUs must see, whatever the host's: one
# package of N cores, one thread each (vhx-vm's CPUID), and caches of
# level 1 and 2 per core, the last level shared by all.
#
#   topology.sh N
#
# Reports topology-cores and topology-caches as E2E-RESULT lines (the
# latter a skip where the kernel shows no caches in sysfs: 6.1 on AMD's
# leaves as KVM gives them here).
n=$1

. /e2e/lib.sh

cpus=$(ls -d /sys/devices/system/cpu/cpu[0-9]* | wc -l)
bad=
cores=
for c in /sys/devices/system/cpu/cpu[0-9]*; do
	i=${c##*cpu}
	t=$c/topology
	[ "$(cat "$t/thread_siblings_list")" = "$i" ] &&
		[ "$(cat "$t/physical_package_id")" = 0 ] ||
		bad="$bad cpu$i:threads=$(cat "$t/thread_siblings_list"),package=$(cat "$t/physical_package_id")"
	cores="$cores $(cat "$t/core_id")"
done
distinct=$(echo "$cores" | tr ' ' '\n' | grep . | sort -u | wc -l)
[ "$cpus" = "$n" ] && [ "$distinct" = "$n" ] && [ -z "$bad" ]
result topology-cores $? "$cpus cpus, $distinct core ids:$cores;${bad:- one package, one thread per core}"

bad=
seen=
for x in /sys/devices/system/cpu/cpu[0-9]*/cache/index*; do
	[ -e "$x/level" ] || continue
	c=${x%/cache/*}
	i=${c##*cpu}
	level=$(cat "$x/level")
	shared=$(cat "$x/shared_cpu_list")
	want=$i
	[ "$level" -ge 3 ] && want=0-$((n - 1))
	seen="$seen L$level"
	[ "$shared" = "$want" ] || bad="$bad cpu$i:L$level:$shared"
done
if [ -z "$seen" ]; then
	echo "E2E-RESULT topology-caches skip this kernel shows no cache topology"
else
	[ -z "$bad" ]
	result topology-caches $? "$(echo "$seen" | tr ' ' '\n' | sort -u | tr '\n' ' ')shared as they should be${bad:+, but not:$bad}"
fi
