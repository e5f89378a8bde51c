#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# CGI of migrate.sh's httpd, as cgi-bin/hold and cgi-bin/release: stops
# (continues) the readers of the held streams, whose pids are in
# /tmp/pid.h*; answers "hold PIDS" ("release PIDS"), or "failed PIDS".
PATH=/usr/bin:/bin
what=${0##*/}
sig=CONT
[ "$what" = hold ] && sig=STOP
pids=$(cat /tmp/pid.h* 2> /dev/null | tr '\n' ' ')
if [ -n "$pids" ] && kill -$sig $pids; then
	r=$what
else
	r=failed
fi
printf 'Content-Type: text/plain\r\n\r\n%s %s\n' "$r" "$pids"
