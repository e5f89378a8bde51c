#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the selftests; meant for inside the test VM with vhx.ko loaded:
#
#   scripts/vm-run.sh --module build/kmod/$KVER/vhx.ko -- selftests/run.sh
#
#   selftests/run.sh [--bindir DIR] [--timeout S] [--e2e-timeout S]
#                    [--no-e2e] [--no-reference] [NAME...]
#
# What runs, in this order:
#   - DIR/NAME_test (DIR: build/user/selftests) for every
#     selftests/*/NAME_test.c (not lib/ or unit/), and any other DIR/*_test,
#     with no arguments;
#   - net tests, DIR/net_*_test, once more with "--dev /dev/vhost-net", so
#     the upstream vhost-net driver shows the reference behaviour for the
#     same test (not with --no-reference: make check runs the reference on
#     one kernel only, to stay within its time budget);
#   - every selftests/e2e/*.sh (end-to-end tests that boot a guest;
#     helpers such as lib.bash are not named *.sh), and those in
#     e2e_ref once more with "--dev /dev/vhost-net" (the same QEMU guest
#     on upstream vhost-net: the reference, as for the net tests).
# NAME... limits the run to tests whose file name contains one of them.
# A test that cannot run (binary missing, script not executable, no
# /dev/vhost-net for the reference run) is reported as a skip at its
# run's level, and so is a test file that printed "1..0 # SKIP".
#
# Each test prints KTAP.  The output here is KTAP too: one top-level
# result per test run, with that run's own output indented by four spaces
# beneath a "# selftest: ..." header.  When a run fails in a way its own
# results do not show (crash, timeout, non-zero exit with no failed test,
# fewer results than its plan, no KTAP at all), a "not ok" line saying so
# is added to its block, so that counting the innermost results counts
# every failure.  The counting is scripts/check-ktap.sh's, as in make
# check: a skip that selftests/expected-skips does not allow is a failure.
# Exit status: 0 when nothing failed and something passed, 1 otherwise.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
bindir=$top/build/user/selftests
e2edir=$top/selftests/e2e
test_timeout=300
# An e2e test boots a guest in about 2.5 minutes here under load; twice
# that is a hang.  The whole VM run has check.sh's 2100 s budget
# (VHX_VM_TIMEOUT), so two hung tests can use it up; what did not run by
# then is lost, and check.sh reports the timeout as a failure.
e2e_timeout=300
run_e2e=1
run_ref=1
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
	--no-reference)
		run_ref=0
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

# The manifest: what must run, derived from the sources so that it cannot
# drift from them.  Every selftests/DIR/*_test.c is built into
# $bindir/*_test (selftests/Makefile; lib/ holds helpers, unit/ runs on
# the host, a DIR with a Makefile of its own names its own binaries), and
# every selftests/e2e/*.sh is a test.  A test that is in the manifest but
# cannot run still gets a result: a skip, which counts as a failure unless
# selftests/expected-skips allows it.
manifest_bins() {
	local src dir

	for src in "$top"/selftests/*/*_test.c; do
		[ -f "$src" ] || continue
		dir=${src%/*}
		case ${dir##*/} in
		lib | unit | fuzz) continue ;;	# built and run on the host
		esac
		[ -f "$dir/Makefile" ] && continue
		src=${src##*/}
		echo "${src%.c}"
	done
	# Binaries that sub-makes put there (not derivable from the names).
	for src in "$bindir"/*_test; do
		[ -f "$src" ] && echo "${src##*/}"
	done
}

# Planned runs, in order: label, time limit, command; or, for a run that
# cannot happen, the reason it is skipped instead of the command.
run_label=()
run_limit=()
run_cmd=()
run_skip=()
plan_run() {	# label limit cmd skip-reason
	run_label+=("$1")
	run_limit+=("$2")
	run_cmd+=("$3")
	run_skip+=("$4")
}

# The upstream reference device: vm-guest.sh loads vhost_net, so its
# absence means the load failed (see setup.log).
ref_missing=
if [ ! -c /dev/vhost-net ]; then
	ref_missing="no /dev/vhost-net: upstream vhost_net did not load"
	[[ " ${VHX_MODPROBE_FAILED:-} " != *" vhost_net "* ]] ||
		ref_missing="$ref_missing (modprobe vhost_net failed, see setup.log)"
fi

# e2e tests that take --dev DEV (the vhost device node they hand QEMU)
# and run once more against upstream vhost-net.
e2e_ref=(qemu-migrate.sh)

# Tests that reload modules run after the others of their kind, in this
# order, so that nothing else runs against a module they reloaded.
# qemu-migrate.sh comes just before them: twice in about ten runs the
# test VM itself died (QEMU's TCG exited as on a triple fault, no kernel
# message) while its second case ran, which loses what has not run yet.
run_last=(blk_unload_test qemu-migrate.sh as-vhost-net.sh)

# Names from stdin, sorted, with those in run_last moved to the end.
in_order() {
	local names name last

	names=$(LC_ALL=C sort -u)
	for name in $names; do
		[[ " ${run_last[*]} " == *" $name "* ]] || echo "$name"
	done
	for last in "${run_last[@]}"; do
		for name in $names; do
			[ "$name" = "$last" ] && echo "$name"
		done
	done
}

for name in $(manifest_bins | in_order); do
	wanted "$name" || continue
	bin=$bindir/$name
	why=
	if [ ! -f "$bin" ]; then
		why="missing binary $bin (make user)"
	elif [ ! -x "$bin" ]; then
		why="$bin is not executable"
	fi
	plan_run "$name" "$test_timeout" "$bin" "$why"
	if [ $run_ref = 1 ] && [[ $name == net_*_test ]]; then
		plan_run "$name --dev /dev/vhost-net" "$test_timeout" \
			"$bin --dev /dev/vhost-net" "${why:-$ref_missing}"
	fi
done
if [ $run_e2e = 1 ]; then
	for name in $(cd "$e2edir" && ls -- *.sh 2>/dev/null | in_order); do
		script=$e2edir/$name
		[ -f "$script" ] || continue
		wanted "$name" || continue
		why=
		[ -x "$script" ] ||
			why="$script is not executable (lost its exec bit?)"
		plan_run "e2e/$name" "$e2e_timeout" "$script" "$why"
		if [ $run_ref = 1 ] && [[ " ${e2e_ref[*]} " == *" $name "* ]]; then
			plan_run "e2e/$name --dev /dev/vhost-net" "$e2e_timeout" \
				"$script --dev /dev/vhost-net" "${why:-$ref_missing}"
		fi
	done
fi

log=$(mktemp "${TMPDIR:-/tmp}/vhx-selftest.XXXXXX")
all=$(mktemp "${TMPDIR:-/tmp}/vhx-selftests.XXXXXX")
trap 'rm -f "$log" "$all"' EXIT

# Verdict on one run from its exit status and its top-level KTAP lines
# (those in column 0 of its output).  Prints "ok", "skip REASON" or the
# reason it failed.
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
			echo "skip exit status 4, no output"	# KSFT_SKIP
		else
			echo "no KTAP output (exit status $status)"
		fi
	elif [ "$plan" = 0 ] && [ "$results" -eq 0 ] && [ "$status" -eq 0 ] &&
	     grep -qiE '^1\.\.0[[:space:]]*#[[:space:]]*SKIP' "$log"; then
		# The whole file skipped itself: say why, at the run's level,
		# where the counter sees it (and fails it unless expected).
		echo "skip $(sed -nE 's/^1\.\.0[[:space:]]*#[[:space:]]*[Ss][Kk][Ii][Pp][[:space:]]*//p' "$log" | head -n 1)"
	elif [ "$plan" = 0 ] && [ "$results" -eq 0 ] && [ "$status" -ne 0 ]; then
		echo "planned no results, exit status $status"
	elif [ "$plan" = 0 ] && [ "$results" -eq 0 ]; then
		echo "planned no results without saying SKIP"
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

expected=()
[ ! -f "$top/selftests/expected-skips" ] ||
	expected=(--expected "$top/selftests/expected-skips")

# The number of failures the counter finds in the run's own output, with
# its skips checked against selftests/expected-skips.
count_failed() {
	local counts

	counts=$("$top/scripts/check-ktap.sh" "${expected[@]}" \
		 --kernel "$(uname -r)" --label "$1" "$log" 2> /dev/null)
	set -- $counts
	echo "${2:-1}"
}

run_all() {
	local i n limit cmd label start status elapsed why

	echo "TAP version 13"
	if [ ${#run_label[@]} -eq 0 ]; then
		echo "1..1"
		echo "not ok 1 - no tests found in $bindir or $e2edir"
		return
	fi
	echo "1..${#run_label[@]}"
	[ $run_ref = 1 ] ||
		echo "# no reference runs against /dev/vhost-net (--no-reference)"
	for i in "${!run_label[@]}"; do
		n=$((i + 1))
		label=${run_label[$i]}
		limit=${run_limit[$i]}
		cmd=${run_cmd[$i]}
		echo "# selftest: $label"
		if [ -n "${run_skip[$i]}" ]; then
			echo "ok $n - $label # SKIP ${run_skip[$i]}"
			continue
		fi
		start=$(date +%s)
		# shellcheck disable=SC2086 # the command line is ours, split on spaces
		(cd "$top" && timeout -k 10 "$limit" $cmd) < /dev/null > "$log" 2>&1
		status=$?
		sed 's/^/    /' "$log"
		elapsed=$(($(date +%s) - start))
		why=$(verdict "$status")
		[ "$why" != ok ] || [ "$(count_failed "$label")" -eq 0 ] ||
			why="skipped cases that selftests/expected-skips does not list"
		case $why in
		ok)
			echo "ok $n - $label # time=${elapsed}s"
			;;
		skipped\ cases*)
			echo "not ok $n - $label # $why"
			;;
		skip\ *)
			echo "ok $n - $label # SKIP ${why#skip }"
			;;
		failed)
			echo "not ok $n - $label # time=${elapsed}s"
			;;
		*)
			echo "    not ok $(($(grep -cE '^(not )?ok\b' "$log") + 1)) - $label: $why"
			echo "not ok $n - $label # $why"
			;;
		esac
	done
}

# The verdict is the counter's, so that a skip selftests/expected-skips
# does not allow fails here exactly as it fails in make check.
run_all | tee "$all"
counts=$("$top/scripts/check-ktap.sh" "${expected[@]}" --kernel "$(uname -r)" \
	 "$all" 2> "$log")
sed 's/^/# /' "$log"
read -r passed failed skipped _ <<< "$counts"
echo "# selftests: ${passed:-0} passed, ${failed:-?} failed," \
     "${skipped:-0} expected skips"
[ "${failed:-1}" -eq 0 ] && [ "${passed:-0}" -gt 0 ]
