#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test suite; what `make check` and CI run:
#
#   check.sh [--no-deps] [--kernel KVER]...
#
# Phases: install dependencies, build userspace (make user), host unit
# tests (make unit), then for each supported kernel: build vhx.ko (W=1,
# warning-free), sparse over our sources, and selftests/run.sh in a test VM
# with the module loaded.  Supported kernels are the newest installed
# 6.1.*-amd64 (bookworm) and 6.12.*-amd64 (bookworm-backports) that have
# headers; a missing family is a failure.  --kernel picks kernels by hand
# instead (for quicker local runs); --no-deps skips the installation.
#
# Counting: every innermost KTAP result ("ok" / "not ok") of the unit tests
# and of every VM run; SKIPs are reported apart and are not passes.  A
# failed build, a sparse report, a kernel splat, a VM timeout or crash, or
# a test program that failed without saying so counts as one failure.
# Logs: build/check/ (user.log, unit.txt), build/kmod/KVER/build.log,
# build/sparse/KVER/sparse.log, build/vm/KVER/ (console.log, dmesg.txt,
# output.txt, setup.log, vm-status).
#
# The last line is "N passed, N failed"; the exit status is non-zero iff
# something failed or nothing passed.  VHX_VM_TIMEOUT (seconds, default
# 1200: a run takes 5-10 minutes, more on a loaded machine) bounds each
# VM run.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
logdir=$top/build/check
vm_timeout=${VHX_VM_TIMEOUT:-1200}

deps=1
kernels=()
while [ $# -gt 0 ]; do
	case $1 in
	--no-deps)
		deps=0
		shift
		;;
	--kernel)
		[ $# -ge 2 ] || { echo "check: --kernel needs a version" >&2; exit 2; }
		[ -f "/boot/vmlinuz-$2" ] ||
			{ echo "check: no kernel /boot/vmlinuz-$2" >&2; exit 2; }
		kernels+=("$2")
		shift 2
		;;
	-h | --help)
		sed -n '/^#   check.sh/,/^# instead/s/^# \?//p' "$0" >&2
		exit 2
		;;
	*)
		echo "check: unknown argument '$1' (see --help)" >&2
		exit 2
		;;
	esac
done
[[ $vm_timeout =~ ^[1-9][0-9]*$ ]] ||
	{ echo "check: VHX_VM_TIMEOUT='$vm_timeout' is not seconds" >&2; exit 2; }

passed=0
failed=0
skipped=0
failures=()
timings=()
phase_name=
phase_t0=0
check_t0=$(date +%s)

phase() {
	phase_name=$1
	phase_t0=$(date +%s)
	echo
	echo "=== check: $phase_name"
}

phase_done() {
	local t=$(($(date +%s) - phase_t0))

	timings+=("$(printf '%-40s %5ds' "$phase_name" "$t")")
	echo "=== check: $phase_name: ${t}s"
}

fail() {
	failed=$((failed + 1))
	failures+=("$*")
	echo "check: FAIL: $*" >&2
}

# Add the KTAP results in FILE to the totals; sets $ktap_failed to the
# number of failures found there, so callers can tell whether a non-zero
# exit status is already accounted for.
count_ktap() {
	local p f s

	read -r p f s < <("$top/scripts/check-ktap.sh" "$1")
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	ktap_failed=$f
	echo "check: $2: $p passed, $f failed, $s skipped"
	[ "$f" -eq 0 ] || failures+=("$2: $f failed test(s), see $1")
}

# Newest installed kernel of a family ("6.1", "6.12") with headers.
newest_kernel() {
	local v k

	for v in /boot/vmlinuz-"$1".*-amd64; do
		[ -f "$v" ] || continue
		k=${v#/boot/vmlinuz-}
		[ -e "/lib/modules/$k/build/Makefile" ] && echo "$k"
	done | sort -V | tail -n 1
}

mkdir -p "$logdir"
# Runs in one tree share build/; let a second one wait for the first.
exec 8> "$logdir/.lock"
if ! flock -n 8; then
	echo "check: another check.sh is running in this tree; waiting" >&2
	flock 8
	echo "check: waited $(($(date +%s) - check_t0))s for it" >&2
	check_t0=$(date +%s)
fi

if [ $deps = 1 ]; then
	phase "install dependencies"
	"$top/scripts/install-deps.sh" || fail "scripts/install-deps.sh failed"
	phase_done
fi

phase "userspace build (make user)"
if ! make -s user > "$logdir/user.log" 2>&1; then
	tail -n 40 "$logdir/user.log"
	fail "make user failed (log: $logdir/user.log)"
fi
phase_done

phase "host unit tests (make unit)"
make -s unit 2>&1 | tee "$logdir/unit.txt"
status=${PIPESTATUS[0]}
count_ktap "$logdir/unit.txt" "unit tests"
[ "$status" -eq 0 ] || [ "$ktap_failed" -gt 0 ] ||
	fail "make unit exited with status $status without a failed test"
phase_done

if [ ${#kernels[@]} -eq 0 ]; then
	for family in 6.1 6.12; do
		k=$(newest_kernel $family)
		if [ -z "$k" ]; then
			fail "no $family.*-amd64 kernel with headers installed"
			continue
		fi
		kernels+=("$k")
	done
fi

for k in "${kernels[@]}"; do
	phase "$k: module build"
	built=1
	if ! "$top/scripts/build-module.sh" "$k" "$top/build/kmod/$k"; then
		fail "vhx.ko does not build cleanly for $k"
		built=0
	elif [ ! -f "$top/build/kmod/$k/vhx.ko" ]; then
		fail "the build for $k made no vhx.ko"
		built=0
	fi
	phase_done
	[ $built = 1 ] || continue

	phase "$k: sparse"
	"$top/scripts/check-sparse.sh" "$k" "$top/build/sparse/$k" ||
		fail "sparse reports for $k (log: build/sparse/$k/sparse.log)"
	phase_done

	# The e2e tests' guest initramfs: built here on the host, because
	# building it inside the emulated test VM takes many minutes.
	phase "$k: guest initramfs"
	: > "$logdir/mkguest.log"
	for flavour in "" --fio; do
		"$top/scripts/mkguest.sh" $flavour "$k" >> "$logdir/mkguest.log" 2>&1 ||
			fail "$k: mkguest.sh $flavour failed (log: build/check/mkguest.log)"
	done
	phase_done

	phase "$k: selftests in VM"
	out=$top/build/vm/$k
	"$top/scripts/vm-run.sh" --kernel "$k" --module "build/kmod/$k/vhx.ko" \
		--log "$out/console.log" --out "$out" --timeout "$vm_timeout" \
		-- selftests/run.sh
	status=$?
	ktap_failed=0
	[ ! -f "$out/output.txt" ] || count_ktap "$out/output.txt" "$k selftests"
	if [ ! -f "$out/vm-status" ]; then
		fail "$k: vm-run.sh failed with status $status"
	else
		vm_cmd=$(sed -n 's/^command_status=//p' "$out/vm-status")
		if grep -qx 'timeout=1' "$out/vm-status"; then
			fail "$k: VM timed out after ${vm_timeout}s (console: $out/console.log)"
		elif grep -qx 'stopped_hung=1' "$out/vm-status"; then
			fail "$k: VM stopped after a kernel lockup/stall (console: $out/console.log)"
		elif [ "$vm_cmd" = none ]; then
			fail "$k: VM crashed or never finished (console: $out/console.log)"
		elif [ "$vm_cmd" -ne 0 ] && [ "$ktap_failed" -eq 0 ]; then
			fail "$k: selftests/run.sh exited with $vm_cmd" \
			     "without a failed test (see $out/output.txt," \
			     "$out/setup.log)"
		fi
		grep -qx 'splat=1' "$out/vm-status" &&
			fail "$k: kernel splat (see $out/console.log)"
	fi
	phase_done
done

echo
echo "=== check: time per phase"
printf '%s\n' "${timings[@]}"
printf '%-40s %5ds\n' total "$(($(date +%s) - check_t0))"
if [ ${#failures[@]} -gt 0 ]; then
	echo "=== check: failures"
	printf '  %s\n' "${failures[@]}"
fi
echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
