#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the selftests; meant for inside the test VM with vhx.ko loaded:
#
#   scripts/vm-run.sh --module build/kmod/$KVER/vhx.ko -- selftests/run.sh
#
#   selftests/run.sh [--bindir DIR] [--timeout S] [--e2e-timeout S]
#                    [--no-e2e] [NAME...]
#
# What runs, in this order:
#   - every executable DIR/*_test (DIR: build/user/selftests), with no
#     arguments;
#   - net tests, DIR/net_*_test, additionally once more with
#     "--dev /dev/vhost-net" when that device exists, so the upstream
#     vhost-net driver shows the reference behaviour for the same test;
#   - every executable selftests/e2e/*.sh (end-to-end tests that boot a
#     guest; files that are not executable, like lib.sh, are helpers).
# NAME... limits the run to tests whose file name contains one of them.
#
# Each test prints KTAP.  The output here is KTAP too: one top-level
# result per test run, with that run's own output indented by four spaces
# beneath a "# selftest: ..." header.  When a run fails in a way its own
# results do not show (crash, timeout, non-zero exit with no failed test,
# fewer results than its plan, no KTAP at all), a "not ok" line saying so
# is added to its block, so that counting the innermost results counts
# every failure.  Exit status: 0 when every run passed, 1 otherwise.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
bindir=$top/build/user/selftests
e2edir=$top/selftests/e2e
test_timeout=300
# An e2e test boots a guest in about 2.5 minutes here under load; twice
# that is a hang, and must leave time in check.sh's 600 s VM budget.
e2e_timeout=300
run_e2e=1
filters=()

die() {
	echo "run.sh: $*" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--bindir)
		[ $# -ge 2 ] || die "--bindir needs a directory"
		bindir=$2
		shift 2
		;;
	--timeout | --e2e-timeout)
		[ $# -ge 2 ] || die "$1 needs a number of seconds"
		[[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1: '$2' is not a number of seconds"
		if [ "$1" = --timeout ]; then
			test_timeout=$2
		else
			e2e_timeout=$2
		fi
		shift 2
		;;
	--no-e2e)
		run_e2e=0
		shift
		;;
	-h | --help)
		sed -n '/^#   selftests\/run.sh/,/^# NAME/s/^# \?//p' "$0" >&2
		exit 2
		;;
	-*)
		die "unknown option '$1' (see --help)"
		;;
	*)
		filters+=("$1")
		shift
		;;
	esac
done

wanted() {
	local name=$1 f

	[ ${#filters[@]} -eq 0 ] && return 0
	for f in "${filters[@]}"; do
		[[ $name == *"$f"* ]] && return 0
	done
	return 1
}

# Each planned run is one line: timeout, then the command and arguments.
runs=()
if [ -d "$bindir" ]; then
	for bin in "$bindir"/*_test; do
		[ -f "$bin" ] && [ -x "$bin" ] || continue
		name=$(basename "$bin")
		wanted "$name" || continue
		runs+=("$test_timeout $bin")
		if [[ $name == net_*_test ]] && [ -c /dev/vhost-net ]; then
			runs+=("$test_timeout $bin --dev /dev/vhost-net")
		fi
	done
fi
if [ $run_e2e = 1 ] && [ -d "$e2edir" ]; then
	for script in "$e2edir"/*.sh; do
		[ -f "$script" ] && [ -x "$script" ] || continue
		wanted "$(basename "$script")" || continue
		runs+=("$e2e_timeout $script")
	done
fi

echo "TAP version 13"
if [ ${#runs[@]} -eq 0 ]; then
	echo "1..1"
	echo "not ok 1 - no tests found in $bindir or $e2edir"
	exit 1
fi
echo "1..${#runs[@]}"

log=$(mktemp "${TMPDIR:-/tmp}/vhx-selftest.XXXXXX")
trap 'rm -f "$log"' EXIT

# Verdict on one run from its exit status and its top-level KTAP lines
# (those in column 0 of its output).  Prints "ok", "skip" or a reason.
verdict() {
	local status=$1 plan results failed

	plan=$(sed -n 's/^1\.\.\([0-9]\+\).*/\1/p' "$log" | head -n 1)
	results=$(grep -cE '^(not )?ok\b' "$log")
	failed=$(grep -cE '^not ok\b' "$log")

	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
		echo "timed out"
	elif [ "$status" -gt 128 ]; then
		echo "killed by signal $((status - 128))"
	elif [ -z "$plan" ] && [ "$results" -eq 0 ]; then
		if [ "$status" -eq 4 ]; then
			echo skip	# kselftest's KSFT_SKIP
		else
			echo "no KTAP output (exit status $status)"
		fi
	elif [ -n "$plan" ] && [ "$results" -lt "$plan" ]; then
		echo "only $results of $plan planned results"
	elif [ "$failed" -gt 0 ]; then
		echo "failed"
	elif [ "$status" -ne 0 ]; then
		echo "exit status $status with no failed test"
	else
		echo ok
	fi
}

n=0
nfailed=0
for run in "${runs[@]}"; do
	n=$((n + 1))
	read -r limit cmd <<< "$run"
	# Short names: "net_rx_test --dev /dev/vhost-net", "e2e/qemu.sh".
	if [[ $cmd == "$e2edir"/* ]]; then
		label=e2e/$(basename "$cmd")
	else
		label=$(basename "${cmd%% *}")
		[[ $cmd != *\ * ]] || label="$label ${cmd#* }"
	fi
	echo "# selftest: $label"
	start=$(date +%s)
	# shellcheck disable=SC2086 # the command line is ours, split on spaces
	(cd "$top" && timeout -k 10 "$limit" $cmd) < /dev/null > "$log" 2>&1
	status=$?
	sed 's/^/    /' "$log"
	elapsed=$(($(date +%s) - start))
	why=$(verdict "$status")
	case $why in
	ok)
		echo "ok $n - $label # time=${elapsed}s"
		;;
	skip)
		echo "ok $n - $label # SKIP exit status 4, no output"
		;;
	failed)
		nfailed=$((nfailed + 1))
		echo "not ok $n - $label # time=${elapsed}s"
		;;
	*)
		nfailed=$((nfailed + 1))
		echo "    not ok $(($(grep -cE '^(not )?ok\b' "$log") + 1)) - $label: $why"
		echo "not ok $n - $label # $why"
		;;
	esac
done
echo "# selftests: $((n - nfailed)) of $n runs passed"
[ $nfailed -eq 0 ]
