# SPDX-License-Identifier: GPL-2.0
#
# Sourced by the guest halves of the e2e tests (as /e2e/lib.sh).

# result NAME STATUS [DETAIL]: one "E2E-RESULT name ok|fail [detail]" line
# for the host side to turn into KTAP; STATUS 0 is ok.
result() {
	if [ "$2" = 0 ]; then
		echo "E2E-RESULT $1 ok $3"
	else
		echo "E2E-RESULT $1 fail $3"
	fi
}

# irq_count NAME [REGEX]: interrupts so far, on every CPU, of the
# /proc/interrupts line whose last field is NAME (and that matches REGEX).
irq_count() {
	awk -v name="$1" -v re="${2:-.}" '$NF == name && $0 ~ re {
		n = 0
		for (i = 2; i < NF; i++)
			if ($i ~ /^[0-9]+$/)
				n += $i
		print n
	}' /proc/interrupts
}

# wait_for PATH: up to 10 s for PATH to appear (a device being probed).
wait_for() {
	i=0
	while [ ! -e "$1" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e "$1" ]
}

# ping_until PEER: up to 20 tries, the host side may still be setting up.
ping_until() {
	i=0
	while [ $i -lt 20 ]; do
		ping -c 1 -W 2 "$1" > /dev/null 2>&1 && return 0
		i=$((i + 1))
	done
	return 1
}
