#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of vhx-vm-console.sh:
#
#   console.sh flood   writes 200 KB to the console in the background,
#                      more than vhx-vm buffers and its stdout pipe holds,
#                      then writes "vhx-console-flood-ok" to the start of
#                      vda (direct I/O) and powers off by itself: init's
#                      own console lines would wait for a console nobody
#                      reads
#   console.sh lines   says "vhx-guest: console-ready", reads 10 lines from
#                      the console and prints "vhx-guest: lines-md5 SUM"
#   console.sh tty     makes the console raw (no line editing, no signals:
#                      a canonical read races with the flush a ^C makes),
#                      says "vhx-guest: console-ready", reads 6 bytes and
#                      prints "vhx-guest: tty-line" and them in hex, then
#                      waits for the host to quit vhx-vm (Ctrl-a x)
#
# ^C from the host's terminal reaches this console as a character; it must
# not end these scripts.
trap '' INT
case $1 in
flood)
	yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 204800 > /dev/console &
	sleep 1
	echo vhx-console-flood-ok > /tmp/marker
	dd if=/tmp/marker of=/dev/vda bs=512 count=1 conv=sync oflag=direct \
		2> /dev/null
	poweroff -f
	;;
lines)
	echo "vhx-guest: console-ready"
	sum=$(timeout 120 head -n 10 /dev/console | md5sum)
	echo "vhx-guest: lines-md5 ${sum%% *}"
	;;
tty)
	stty -icanon -isig -echo min 1 time 0 < /dev/console
	echo "vhx-guest: console-ready"
	# A byte at a time until all 6 came: a read that returns early
	# (head -c 6 once ended after 5 of them) loses nothing here, as
	# what is not read yet waits in the tty.
	: > /tmp/keys
	i=0
	while [ "$(wc -c < /tmp/keys)" -lt 6 ] && [ $i -lt 120 ]; do
		timeout 1 dd bs=1 count=1 < /dev/console >> /tmp/keys 2> /dev/null
		i=$((i + 1))
	done
	hex=$(od -An -tx1 < /tmp/keys | tr -s ' \n' ' ')
	echo "vhx-guest: tty-line$hex"
	sleep 120
	;;
esac
