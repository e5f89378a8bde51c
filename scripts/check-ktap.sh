#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Count test results in KTAP output:
#
#   check-ktap.sh FILE...      (or standard input)
#
# Prints "PASSED FAILED SKIPPED".  Only innermost results count: a result
# line that closes a block of deeper-indented lines is the summary of a
# subtest whose own results were already counted.  "ok ... # SKIP" counts
# as skipped, not passed; any "not ok" counts as failed.  Lines that are
# not KTAP (make's chatter, diagnostics) are ignored.
set -euo pipefail

awk '
{
	line = $0
	sub(/\r$/, "", line)
	match(line, /^[ \t]*/)
	depth = RLENGTH
	rest = substr(line, RLENGTH + 1)

	if (rest ~ /^K?TAP version [0-9]+/ || rest ~ /^1\.\.[0-9]+/) {
		last = depth
		next
	}
	if (rest !~ /^(not )?ok([ \t]|$)/)
		next
	is_leaf = !(seen && last > depth)
	last = depth
	seen = 1
	if (!is_leaf)
		next
	if (rest ~ /^not ok/)
		failed++
	else if (toupper(rest) ~ /#[ \t]*SKIP/)
		skipped++
	else
		passed++
}
END { printf "%d %d %d\n", passed, failed, skipped }
' "$@"
