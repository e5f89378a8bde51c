#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Look for kernel splats in console logs or dmesg dumps:
#
#   splat-check.sh FILE...
#
# Prints every offending line (prefixed with its file and line number) and
# exits 1 if there is one, 0 if the logs are clean, 2 if a file is missing.
# Missing files are reported but do not stop the others being checked.
set -u

if [ $# -eq 0 ]; then
	echo "usage: splat-check.sh FILE..." >&2
	exit 2
fi

# Extended regular expressions, one per kind of report.  Kept specific
# enough that ordinary boot messages do not match: each was checked
# against clean boots of both supported kernels.
patterns=(
	'BUG:'				# BUG: unable to handle..., soft lockup,
					# BUG: KFENCE: ...
	'WARNING:'			# WARN_ON and friends
	'Oops'
	'general protection fault'
	'Call Trace:'
	'Kernel panic'
	'kernel BUG'
	'Object padding overwritten'	# slub_debug reports
	'Redzone overwritten'
	'Poison overwritten'
	'Object already free'
	'BUG kmalloc'
	'BUG [a-zA-Z0-9_:-]+ \(.*\): '	# slub: "BUG <cache> (Tainted...): ..."
	'INFO: .*[Ff]reed'
	'Objects remaining'
	'pagealloc: (memory corruption|single bit error)'	# page_poison=1
	'soft lockup'
	'hard LOCKUP'
	'blocked for more than'
	'rcu.*detected stall'		# RCU stall reports
	'rcu.*self-detected stall'
	'rcu_.*kthread starved'
	'list_add corruption'		# CONFIG_DEBUG_LIST
	'list_del corruption'
	'UBSAN:'
	'refcount_t:'
)
regex=$(printf '%s|' "${patterns[@]}")
regex=${regex%|}

status=0
for f in "$@"; do
	if [ ! -f "$f" ]; then
		echo "splat-check: $f: no such file" >&2
		[ $status -ne 0 ] || status=2
		continue
	fi
	# Console logs carry CRs from the serial line.
	hits=$(tr -d '\r' < "$f" | grep -naE -- "$regex") || continue
	printf '%s\n' "$hits" | sed "s|^|$f:|"
	status=1
done
[ $status -ne 1 ] || echo "splat-check: kernel splat found (lines above)" >&2
exit $status
