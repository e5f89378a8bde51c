#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The L1 side of qemu-migrate.sh: QMP, traffic and its analysis.

  migrate.py has-log-all DEV
      exit 0 if the vhost device node DEV offers VHOST_F_LOG_ALL
      (VHOST_GET_FEATURES), 1 if not, 2 if it cannot be asked.
  migrate.py migrate SRC-QMP DST-QMP URI TIMEOUT [HOLD-URL]
      live-migrate the VM of SRC-QMP to the one waiting on DST-QMP
      (-incoming URI): query-migrate's blocked-reasons first, then
      migrate, query-migrate every 50 ms until it ends, then the status of
      both sides.  Prints key=value lines (see below).  With HOLD-URL,
      the migration cannot converge (downtime-limit 1 ms) until the
      first pass over guest memory is done, HOLD-URL was fetched then
      (with max-bandwidth 1 MiB/s meanwhile) and a second has passed;
      then both parameters are restored: whatever the device writes in
      that second lands in pages already sent once, which only the dirty
      log brings over again.
  migrate.py get URL
      fetch URL (an HTTP GET), print the answer; exit 0 iff it came.
  migrate.py quit QMP
      ask a QEMU to quit; silent if it is gone.
  migrate.py stream ADDR PORT STOPFILE RATE OUT
      serve one HTTP GET on ADDR:PORT with a stream of pseudo-random
      bytes (shake128 of the port and a counter: no two chunks alike) at
      RATE bytes/s until STOPFILE exists, then close; writes
      "bytes=N md5=HEX error=TEXT" to OUT.  OUT.conn appears when the
      client connected.
  migrate.py pinger ADDR INTERVAL STOPFILE OUT
      ICMP echo requests every INTERVAL s until STOPFILE exists; writes
      "seq sent_ns recv_ns|-" lines to OUT (CLOCK_REALTIME, as migrate's
      start_ns and end_ns).
  migrate.py pings OUT START_NS END_NS
      what the pinger saw before, during and after the migration.
"""
import fcntl
import hashlib
import json
import os
import select
import socket
import struct
import sys
import time
import urllib.request

VHOST_GET_FEATURES = 0x8008af00
VHOST_F_LOG_ALL = 26


def has_log_all(dev):
    try:
        fd = os.open(dev, os.O_RDWR)
    except OSError as e:
        print("cannot open %s: %s" % (dev, e.strerror), file=sys.stderr)
        return 2
    try:
        buf = fcntl.ioctl(fd, VHOST_GET_FEATURES, bytes(8))
    except OSError as e:
        print("VHOST_GET_FEATURES on %s: %s" % (dev, e.strerror),
              file=sys.stderr)
        return 2
    finally:
        os.close(fd)
    features = struct.unpack("<Q", buf)[0]
    print("%s: features %#x" % (dev, features))
    return 0 if features & (1 << VHOST_F_LOG_ALL) else 1


class QmpError(Exception):
    pass


class Qmp:
    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.file = self.sock.makefile("rwb")
        self.events = []
        self.read()                     # the greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("QMP connection closed")
            msg = json.loads(line)
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def cmd(self, name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.file.write(json.dumps(req).encode() + b"\n")
        self.file.flush()
        msg = self.read()
        if "error" in msg:
            raise QmpError(msg["error"].get("desc", str(msg["error"])))
        return msg["return"]


def kv(key, value):
    print("%s=%s" % (key, str(value).replace("\n", " ")), flush=True)


def wait_status(qmp, want, timeout):
    deadline = time.monotonic() + timeout
    while True:
        status = qmp.cmd("query-status")["status"]
        if status == want or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def http_get(url, timeout=10):
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=timeout) as r:
            return True, r.read().decode(errors="replace").strip()
    except (OSError, ValueError) as e:
        return False, "error: %s" % e


HOLD_S = 1.0


def migrate(src_path, dst_path, uri, timeout, hold_url=None):
    """Prints blocked, dst_status, start_ns, error (if migrate failed),
    held and held_ms (with HOLD-URL: its answer, and how long before the
    end it came), status, total_ms, downtime_ms, setup_ms, transferred,
    dirty_syncs, end_ns, dst_after, src_after; exit status 0 iff
    completed."""
    src = Qmp(src_path)
    dst = Qmp(dst_path)
    info = src.cmd("query-migrate")
    kv("blocked", "; ".join(info.get("blocked-reasons", [])))
    kv("dst_status", dst.cmd("query-status")["status"])
    params = src.cmd("query-migrate-parameters")
    restore = {k: params[k] for k in ("downtime-limit", "max-bandwidth")}
    if hold_url:
        src.cmd("migrate-set-parameters", **{"downtime-limit": 1})
    held_at = None
    kv("start_ns", time.time_ns())
    try:
        src.cmd("migrate", uri=uri)
    except QmpError as e:
        kv("error", e)
        kv("status", "refused")
        return 1
    deadline = time.monotonic() + timeout
    while True:
        info = src.cmd("query-migrate")
        status = info.get("status", "none")
        if status in ("completed", "failed", "cancelled"):
            break
        if (hold_url and held_at is None and
                info.get("ram", {}).get("dirty-sync-count", 0) >= 2):
            # Slow passes while held: passes a few ms long, each with its
            # dirty sync, keep nested KVM write-faulting the guest into a
            # crawl (at 32 MiB/s, one guest stopped for good).
            src.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 20})
            ok, answer = http_get(hold_url, timeout=30)
            kv("held", answer)
            held_at = time.monotonic()
            if not ok:
                held_at -= HOLD_S
        if (hold_url and held_at is not None and
                time.monotonic() >= held_at + HOLD_S):
            src.cmd("migrate-set-parameters", **restore)
            hold_url = None
        if time.monotonic() > deadline:
            status = "timeout (%s)" % status
            src.cmd("migrate_cancel")
            break
        time.sleep(0.05)
    end_ns = time.time_ns()
    if held_at is not None:
        kv("held_ms", int((time.monotonic() - held_at) * 1000))
    kv("status", status)
    if "error-desc" in info:
        kv("error", info["error-desc"])
    kv("total_ms", info.get("total-time", ""))
    kv("downtime_ms", info.get("downtime", ""))
    kv("setup_ms", info.get("setup-time", ""))
    ram = info.get("ram", {})
    kv("transferred", ram.get("transferred", ""))
    kv("dirty_syncs", ram.get("dirty-sync-count", ""))
    kv("end_ns", end_ns)
    if status != "completed":
        return 1
    kv("dst_after", wait_status(dst, "running", 15))
    kv("src_after", src.cmd("query-status")["status"])
    return 0


def quit_qemu(path):
    try:
        Qmp(path, timeout=1).cmd("quit")
    except (OSError, EOFError, QmpError, ValueError):
        pass
    return 0


def stream(addr, port, stop, rate, out):
    chunk = 16384
    md5 = hashlib.md5()
    sent = 0
    error = ""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((addr, port))
    lsock.listen(1)
    lsock.settimeout(1)
    conn = None
    while conn is None and not os.path.exists(stop):
        try:
            conn, _ = lsock.accept()
        except socket.timeout:
            pass
    if conn is None:
        error = "no client"
    else:
        open(out + ".conn", "w").close()
        conn.settimeout(60)
        try:
            req = b""
            while b"\r\n\r\n" not in req:
                data = conn.recv(4096)
                if not data:
                    raise OSError("client closed before its request")
                req += data
            conn.sendall(b"HTTP/1.0 200 OK\r\n"
                         b"Content-Type: application/octet-stream\r\n\r\n")
            t0 = time.monotonic()
            k = 0
            while not os.path.exists(stop):
                data = hashlib.shake_128(struct.pack("<IQ", port, k)).digest(chunk)
                conn.sendall(data)
                md5.update(data)
                sent += len(data)
                k += 1
                delay = t0 + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            conn.shutdown(socket.SHUT_WR)
        except OSError as e:
            error = str(e) or type(e).__name__
        conn.close()
    with open(out, "w") as f:
        f.write("bytes=%d md5=%s error=%s\n" % (sent, md5.hexdigest(),
                                               error.replace(" ", "_")))
    return 0


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def pinger(addr, interval, stop, out):
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setblocking(False)
    ident = os.getpid() & 0xffff
    sent, recv = [], {}
    next_t = time.monotonic()
    while not os.path.exists(stop):
        now = time.monotonic()
        if now >= next_t:
            seq = len(sent)
            payload = struct.pack("!Q", seq) + bytes(48)
            hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq & 0xffff)
            hdr = struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident,
                              seq & 0xffff)
            sent.append(time.time_ns())
            try:
                sock.sendto(hdr + payload, (addr, 0))
            except OSError:
                pass            # no route or neighbour yet: a lost ping
            next_t = max(next_t + interval, now)
        ready, _, _ = select.select([sock], [], [],
                                    max(0.0, next_t - time.monotonic()))
        while ready:
            try:
                pkt = sock.recv(2048)
            except BlockingIOError:
                break
            ihl = (pkt[0] & 0xf) * 4
            icmp = pkt[ihl:]
            if len(icmp) < 16:
                continue
            typ, _, _, pid, _ = struct.unpack("!BBHHH", icmp[:8])
            if typ == 0 and pid == ident:
                seq = struct.unpack("!Q", icmp[8:16])[0]
                recv.setdefault(seq, time.time_ns())
    with open(out, "w") as f:
        for seq, t in enumerate(sent):
            f.write("%d %d %s\n" % (seq, t, recv.get(seq, "-")))
    return 0


def pings(out, start_ns, end_ns):
    """Prints "before=R/S during=R/S after=R/S first_after_ms=N
    max_gap_ms=N": pings sent before the migration started, while it ran
    and after it ended, replies to them, the first reply to a ping sent
    after the end, and the longest time without a reply from the first
    reply to the last."""
    count = {"before": [0, 0], "during": [0, 0], "after": [0, 0]}
    replies = []
    first_after = None
    with open(out) as f:
        for line in f:
            _, sent, got = line.split()
            sent = int(sent)
            phase = ("before" if sent < start_ns else
                     "during" if sent < end_ns else "after")
            count[phase][1] += 1
            if got == "-":
                continue
            got = int(got)
            count[phase][0] += 1
            replies.append(got)
            if phase == "after" and first_after is None:
                first_after = got
    replies.sort()
    gap = max((b - a for a, b in zip(replies, replies[1:])), default=0)
    words = ["%s=%d/%d" % (k, v[0], v[1]) for k, v in count.items()]
    words.append("first_after_ms=%s" % ("-" if first_after is None else
                                        (first_after - end_ns) // 1000000))
    words.append("max_gap_ms=%d" % (gap // 1000000))
    print(" ".join(words))
    return 0


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "has-log-all":
        return has_log_all(args[0])
    if cmd == "migrate":
        return migrate(args[0], args[1], args[2], float(args[3]),
                       args[4] if len(args) > 4 else None)
    if cmd == "get":
        ok, answer = http_get(args[0])
        print(answer)
        return 0 if ok else 1
    if cmd == "quit":
        return quit_qemu(args[0])
    if cmd == "stream":
        return stream(args[0], int(args[1]), args[2], float(args[3]), args[4])
    if cmd == "pinger":
        return pinger(args[0], float(args[1]), args[2], args[3])
    if cmd == "pings":
        return pings(args[0], int(args[1]), int(args[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
