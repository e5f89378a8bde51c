#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Count test results in KTAP output:
#
#   check-ktap.sh [--expected FILE] [--kernel KVER] [--label LABEL] FILE...
#                 (or standard input)
#
# Prints "PASSED FAILED SKIPPED REF_PASSED REF_FAILED": PASSED and FAILED
# are totals, REF_PASSED and REF_FAILED the part of them that comes from
# reference results (below), SKIPPED the skips that FILE allows.  Every
# failure and every skip that is not allowed is named on stderr.
#
# What counts:
#   - Only innermost results: a result line that closes a block of
#     deeper-indented results is the summary of a subtest whose own results
#     were already counted.  A result closing a block with no results of
#     its own (a file that printed "1..0 # SKIP ...") is innermost.
#   - A result line indented deeper than any plan or version line is not
#     part of the KTAP document (a test's stray output): "not ok" there
#     still counts as a failure, "ok" is ignored.
#   - "not ok" is a failure, with or without "# SKIP".
#   - "ok ... # SKIP" is an allowed skip when FILE names it, a failure
#     otherwise: a skipped test tested nothing, and must be expected.
#
# Names: selftests/run.sh prints "# selftest: LABEL" above each run; its
# results are "LABEL: CASE", where CASE is the text between the number (and
# "-") and any "#", and the run's own result line (the one run.sh adds at
# the run's level) is "LABEL: *".  Results outside any "# selftest:" block
# are "--label LABEL: CASE" (default label "-").
#
# FILE (selftests/expected-skips) holds one allowed skip a line:
#
#   [KVER-GLOB] LABEL: CASE  # why
#
# "#" starts a comment, blank lines are ignored.  The optional [KVER-GLOB]
# (shell glob, e.g. [6.1.*]) restricts the line to kernels matching
# --kernel; without --kernel such lines allow nothing.  CASE "*" allows
# the whole run to be skipped (a "1..0 # SKIP" file, a missing binary or
# device, an e2e script that is not executable).
#
# Reference results are the ones that cannot fail because of vhx.ko:
# runs against upstream vhost-net ("--dev /dev/vhost-net" in the label)
# and the bench smoke test's upstream vhost-net, io_uring (fio and
# uringbench) and report legs.
set -euo pipefail

expected=
kernel=
label=-
while [ $# -gt 0 ]; do
	case $1 in
	--expected | --kernel | --label)
		[ $# -ge 2 ] || { echo "check-ktap: $1 needs a value" >&2; exit 2; }
		case $1 in
		--expected) expected=$2 ;;
		--kernel) kernel=$2 ;;
		--label) label=$2 ;;
		esac
		shift 2
		;;
	--)
		shift
		break
		;;
	-*)
		[ "$1" = - ] && break
		echo "check-ktap: unknown option '$1'" >&2
		exit 2
		;;
	*)
		break
		;;
	esac
done
if [ -n "$expected" ] && [ ! -r "$expected" ]; then
	echo "check-ktap: cannot read $expected" >&2
	exit 2
fi

# The allowed skips, one "LABEL: CASE" a line, for this kernel.  Plain
# bash, no sed per line: in the test VM every exec is slow (9p, TCG).
allowed() {
	local line glob

	[ -n "$expected" ] || return 0
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%%#*}
		line=${line#"${line%%[![:space:]]*}"}
		line=${line%"${line##*[![:space:]]}"}
		[ -n "$line" ] || continue
		if [[ $line =~ ^\[([^]]+)\][[:space:]]*(.*)$ ]]; then
			glob=${BASH_REMATCH[1]}
			line=${BASH_REMATCH[2]}
			# shellcheck disable=SC2053 # glob match on purpose
			[ -n "$kernel" ] && [[ $kernel == $glob ]] || continue
		fi
		printf '%s\n' "$line"
	done < "$expected"
}

awk -v allow_list="$(allowed)" -v outer_label="$label" '
BEGIN {
	n = split(allow_list, lines, "\n")
	for (i = 1; i <= n; i++)
		allow[lines[i]] = 1
	sp = 0			# open blocks: depth[1..sp], nres[1..sp]
	run_label = ""
	run_depth = -1
}

function trim(s) {
	sub(/^[ \t]+/, "", s)
	sub(/[ \t]+$/, "", s)
	return s
}

# Close the blocks deeper than d; true if any of them held a result.
function close_deeper(d,    had) {
	had = 0
	while (sp > 0 && depth[sp] > d) {
		if (nres[sp] > 0)
			had = 1
		sp--
	}
	return had
}

function is_reference(lbl, name) {
	if (lbl ~ /--dev \/dev\/vhost-net/)
		return 1
	if (lbl == "e2e/bench_smoke.sh" &&
	    (name ~ /^bench [a-z]+ [^ ]+ (vhost|uring|ubench|ubpoll)$/ ||
	     name == "bench report and plots"))
		return 1
	return 0
}

function count(rest, d,    name, lbl, key, ref) {
	name = rest
	sub(/^(not )?ok[ \t]*[0-9]*[ \t]*(-[ \t]*)?/, "", name)
	sub(/#.*/, "", name)
	name = trim(name)
	if (run_depth >= 0 && d == run_depth) {
		lbl = run_label
		name = "*"
	} else if (run_depth >= 0 && d > run_depth) {
		lbl = run_label
	} else {
		lbl = outer_label
	}
	key = lbl ": " name
	ref = is_reference(lbl, name)
	if (rest ~ /^not ok/) {
		failed++
		ref_failed += ref
		print "check-ktap: not ok: " key > "/dev/stderr"
	} else if (toupper(rest) ~ /#[ \t]*SKIP/) {
		if (key in allow) {
			skipped++
		} else {
			failed++
			ref_failed += ref
			print "check-ktap: skip not listed in the expected skips " \
			      "(counted as a failure): " key " -- " rest > "/dev/stderr"
		}
	} else {
		passed++
		ref_passed += ref
	}
}

{
	line = $0
	sub(/\r$/, "", line)
	match(line, /^[ \t]*/)
	d = RLENGTH
	rest = substr(line, RLENGTH + 1)

	if (rest ~ /^# selftest: /) {
		run_label = trim(substr(rest, 13))
		run_depth = d
		next
	}
	if (rest ~ /^K?TAP version [0-9]+/ || rest ~ /^1\.\.[0-9]+/) {
		close_deeper(d)
		if (sp == 0 || depth[sp] < d) {
			sp++
			depth[sp] = d
			nres[sp] = 0
		}
		next
	}
	if (rest !~ /^(not )?ok([ \t]|$)/)
		next

	had = close_deeper(d)
	if (sp == 0) {
		# Results with no plan before them: a document of its own.
		sp = 1
		depth[sp] = d
		nres[sp] = 0
	}
	if (depth[sp] < d) {
		# Deeper than any open plan: not a result of this document.
		if (rest ~ /^not ok/) {
			failed++
			print "check-ktap: stray not ok line: " line > "/dev/stderr"
		}
		next
	}
	nres[sp]++
	if (!had)
		count(rest, d)
	if (run_depth >= 0 && d <= run_depth) {
		run_label = ""
		run_depth = -1
	}
}

END {
	printf "%d %d %d %d %d\n", passed, failed, skipped, ref_passed, ref_failed
}
' "$@"
