#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# run-fuzz.sh BINARY BUILD_DIR SECONDS SEED_CORPUS
# Runs the ring fuzzer for SECONDS (one process) from the seed corpus plus
# what earlier runs found (BUILD_DIR/corpus), and prints one KTAP result.
# Exit status: 0 no finding, 1 a finding (its input is BUILD_DIR/crash-*
# or leak-*/timeout-*/oom-*), 2 the fuzzer did not run properly.
set -u

bin=$1 build=$2 seconds=$3 seeds=$4
log=$build/ring_fuzz.log

mkdir -p "$build/corpus"
echo "TAP version 13"
echo "1..1"
t0=$(date +%s.%N)
"$bin" -max_total_time="$seconds" -timeout=25 -max_len=4096 \
	-print_final_stats=1 -artifact_prefix="$build/" \
	"$build/corpus" "$seeds" >"$log" 2>&1
rc=$?
t1=$(date +%s.%N)
secs=$(echo "$t0 $t1" | awk '{ printf "%.0f", $2 - $1 }')
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)

if [ $rc -eq 0 ] && [ -n "$execs" ] && [ "$execs" -gt 0 ]; then
	echo "ok 1 - ring_fuzz: $execs executions in $secs s, no finding"
	exit 0
fi
grep -E 'FINDING|ERROR: |runtime error|SUMMARY' "$log" | head -n 5 |
	sed 's/^/# /'
if [ -n "$artifact" ]; then
	echo "# replay: $bin $artifact (log: $log)"
	echo "not ok 1 - ring_fuzz: finding after ${execs:-?} executions," \
	     "crash file $artifact"
	exit 1
fi
tail -n 5 "$log" | sed 's/^/# /'
echo "not ok 1 - ring_fuzz: fuzzer exited $rc without a result (log: $log)"
exit 2
