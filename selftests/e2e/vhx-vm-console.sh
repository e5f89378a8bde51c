#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vhx-vm's serial console (guest/console.sh is the guest half):
# - a stdout nobody reads (a full 4 KiB pipe) stalls only the guest's
#   console writes: the guest still writes its disk and powers off, and
#   vhx-vm exits 0 by itself (it used to write under the device lock and
#   freeze the guest);
# - input is never dropped: ten lines written at once into stdin reach the
#   guest whole, though the UART's receive FIFO holds 64 bytes;
# - on a terminal (a pty): ^C goes to the guest instead
#   of ending vhx-vm, Ctrl-a Ctrl-a sends one Ctrl-a, Ctrl-a x quits with
#   status 0, and the terminal's settings are restored at exit.
set -u
. "$(dirname "$0")/lib.bash"

need_kvm
ktap_plan 8

if [ ! -x "$vhx_vm" ] || [ ! -e /dev/vhx-blk ]; then
	diag "missing $vhx_vm or /dev/vhx-blk (is vhx.ko loaded?)"
	for t in stalled-console-disk stalled-console-poweroff \
		 input-not-dropped tty-keys ctrl-a-x terminal-restored \
		 exit-message guest-kernel-clean; do
		ktap_result "$t" 1
	done
	exit 1
fi
initrd=$(guest_initramfs "") || initrd=
cmdline="console=ttyS0 loglevel=5 panic=-1 --"

# wait_for_file FILE SECONDS
wait_for_file() {
	local i

	for i in $(seq $(($2 * 10))); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# 1. A stalled console.  The reader shrinks its pipe to 4 KiB and never
# reads; vhx-vm's status goes to a file.
truncate -s 1M "$work/flood.img"
start=$(date +%s)
( timeout 200 "$vhx_vm" --kernel "$kernel" --initrd "$initrd" --memory 256 \
	--disk "path=$work/flood.img" --cmdline "$cmdline /e2e/console.sh flood" \
	2> "$work/flood.err"; echo $? > "$work/flood.rc" ) |
	python3 -c '
import fcntl, time
try:
    fcntl.fcntl(0, 1031, 4096)	# F_SETPIPE_SZ
except OSError:
    pass
time.sleep(300)' &
reader=$!
wait_for_file "$work/flood.rc" 150
took=$(($(date +%s) - start))
kill $reader 2> /dev/null
wait $reader 2> /dev/null
wait_for_file "$work/flood.rc" 10
rc=$(cat "$work/flood.rc" 2> /dev/null)
head -c 20 "$work/flood.img" | grep -q vhx-console-flood-ok
ktap_result stalled-console-disk $? "the guest's disk write while its console was stalled"
[ "$rc" = 0 ] && [ $took -le 150 ]
ktap_result stalled-console-poweroff $? "vhx-vm exit status ${rc:-none} after $took s"
[ "$rc" = 0 ] || sed 's/^/# vhx-vm: /' "$work/flood.err" | tail -n 5

# 2. Input past the receive FIFO, through a FIFO held open here.
log=$work/lines.log
mkfifo "$work/lines.in"
timeout 200 "$vhx_vm" --kernel "$kernel" --initrd "$initrd" --memory 256 \
	--cmdline "$cmdline /e2e/console.sh lines" < "$work/lines.in" \
	> "$log" 2>&1 &
vmm=$!
exec 3> "$work/lines.in"
lines=$(for i in $(seq 10); do
	printf 'line %02d %s\n' "$i" "$(printf '%090d' "$i")"
done)
want=$(printf '%s\n' "$lines" | md5sum | cut -d' ' -f1)
if wait_for_line "$log" "vhx-guest: console-ready" 150; then
	printf '%s\n' "$lines" >&3
fi
wait_for_line "$log" "vhx-guest: lines-md5" 150
exec 3>&-
wait $vmm
got=$(sed -n 's/.*vhx-guest: lines-md5 \([0-9a-f]*\).*/\1/p' "$log" | tail -n 1)
[ "$got" = "$want" ]
ktap_result input-not-dropped $? "$(printf '%s\n' "$lines" | wc -c) bytes at once; md5 ${got:-none}, want $want"

# 3. A terminal: vhx-vm on a pty, driven from its master side, which then
# reads the pty's settings after vhx-vm exited.  (Not under timeout(1),
# whose own process group would be a background one on the pty.)
log=$work/tty.log
python3 - "$log" "$vhx_vm" --kernel "$kernel" --initrd "$initrd" \
	--memory 256 --cmdline "$cmdline /e2e/console.sh tty" \
	> "$work/tty.out" <<'PY'
import os, pty, select, sys, termios, time

log = open(sys.argv[1], "wb")
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
seen = b""
# What to type once the console shows each text: ^C first (with ISIG
# still on it would end vhx-vm), then a line, then Ctrl-a x.
script = [(b"vhx-guest: console-ready", b"\x03", 1),
          (b"vhx-guest: console-ready", b"ab\x01\x01c\n", 0),
          (b"vhx-guest: tty-line", b"\x01x", 0)]
# A text has come once its whole line has: what follows it on the line
# (the bytes the guest read) must not be cut off by quitting early.
def shown(text):
    i = seen.find(text)
    return i >= 0 and b"\n" in seen[i:]
end = time.time() + 200
while time.time() < end:
    if script and shown(script[0][0]):
        _, keys, pause = script.pop(0)
        os.write(fd, keys)
        time.sleep(pause)
    r, _, _ = select.select([fd], [], [], 0.2)
    if not r:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    log.write(data)
    log.flush()
    seen += data
if time.time() >= end:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
print("rc=%d" % os.waitstatus_to_exitcode(status))
iflag, _, _, lflag = termios.tcgetattr(fd)[:4]
flags = {"icanon": lflag & termios.ICANON, "echo": lflag & termios.ECHO,
         "isig": lflag & termios.ISIG, "icrnl": iflag & termios.ICRNL,
         "ixon": iflag & termios.IXON}
print("unset:" + "".join(" " + k for k, v in flags.items() if not v))
PY
line=$(sed -n 's/.*vhx-guest: tty-line *\([0-9a-f ]*\).*/\1/p' "$log" | tail -n 1)
[ "${line% }" = "03 61 62 01 63 0a" ]
ktap_result tty-keys $? "the guest read '${line% }' (want 03 61 62 01 63 0a: ^C passed, Ctrl-a Ctrl-a as one)"
rc=$(sed -n 's/^rc=//p' "$work/tty.out")
[ "$rc" = 0 ]
ktap_result ctrl-a-x $? "vhx-vm exit status ${rc:-none} after Ctrl-a x"
unset=$(sed -n 's/^unset://p' "$work/tty.out")
grep -q '^unset:$' "$work/tty.out"
ktap_result terminal-restored $? "of icanon echo isig icrnl ixon, unset after exit:${unset:- none}"
grep -aq "vhx-vm: quit from the console (Ctrl-a x)" "$log"
ktap_result exit-message $?
guest_console_clean "$work/lines.log"
[ $ktap_failed = 0 ] || show_log "$log"
exit $ktap_failed
