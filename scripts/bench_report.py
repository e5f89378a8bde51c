#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the raw results of scripts/bench-vm.sh into a Markdown report and
PNG plots (gnuplot, scripts/bench-bars.gp):

  bench_report.py --raw FILE --out REPORT.md [--notes FILE]

The plots go beside REPORT.md as REPORT-*.png, the raw file as REPORT.tsv.
--notes: text (Markdown) put under "Conditions" as is, e.g. the host's
load during the run.

Every figure is a median over the repetitions with its range (min..max);
every ratio is computed per repetition from the two members of a pair,
which ran back to back in the same boot, and summarised the same way.
A measurement that failed is shown as failed, never as a number.

The raw file has one line per figure, tab separated: section, test,
implementation, repetition, metric, value.  "meta" lines carry the run's
conditions in the implementation column; "fail" lines give the reason
as their value.  Exit status: 0 when the report was written, 1 on a raw
or notes file that cannot be read or is malformed, 2 on bad usage.
"""

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict, namedtuple

ME = "bench_report"
HERE = os.path.dirname(os.path.abspath(__file__))
BARS_GP = os.path.join(HERE, "bench-bars.gp")

Row = namedtuple("Row", "section test impl rep metric value")
# median, min, max and count of a series of numbers
Summary = namedtuple("Summary", "med lo hi n")


class BadInput(Exception):
    pass


# --- the raw file -----------------------------------------------------------

def parse_line(line, where):
    # The value is the rest of the line: a fail line's reason may hold tabs.
    fields = line.split("\t", 5)
    if len(fields) < 6:
        raise BadInput(f"{where}: want 6 tab-separated fields (section, test, "
                       f"implementation, repetition, metric, value), "
                       f"got {len(fields)}")
    row = Row(*fields)
    if is_figure(row):
        row = row._replace(value=number(row.value, where))
    return row


def is_figure(row):
    """Not a meta or fail line: its value is a number."""
    return row.section != "meta" and row.metric != "fail"


def number(text, where):
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        raise BadInput(f"{where}: value {text!r} is not a number")
    return x


def read_raw(path):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"cannot read raw file {path}: {e}") from e
    return [parse_line(line, f"{path}:{i}")
            for i, line in enumerate(lines, 1) if line.strip()]


class Results:
    """The rows of one raw file, and the questions the report asks of them."""

    def __init__(self, rows):
        self.rows = rows
        # (section, test, impl, metric) -> [(repetition, value)], file order
        self.series = defaultdict(list)
        for r in filter(is_figure, rows):
            self.series[r.section, r.test, r.impl, r.metric].append(
                (r.rep, r.value))

    def values(self, section, test, impl, metric):
        return [v for _, v in self.series.get((section, test, impl, metric), [])]

    def ratios(self, section, test_a, impl_a, test_b, impl_b, metric):
        """A over B, one ratio per repetition both have (B above 0)."""
        # A repetition measured twice counts with its last figure.
        a = dict(self.series.get((section, test_a, impl_a, metric), []))
        b = dict(self.series.get((section, test_b, impl_b, metric), []))
        return [a[rep] / b[rep] for rep in a if rep in b and b[rep] > 0]

    def fails(self, section, test, impl):
        """How many runs failed; a failure of "all" counts for each."""
        return sum(1 for r in self.rows
                   if r.section == section and r.metric == "fail"
                   and r.test in (test, "all") and r.impl in (impl, "all"))

    def failed_rows(self):
        return [r for r in self.rows if r.metric == "fail"]

    def first_fail(self, section):
        return next((r.value for r in self.failed_rows()
                     if r.section == section), "")

    def meta(self, key):
        return next((r.impl for r in self.rows
                     if r.section == "meta" and r.test == key), "")

    def tests(self, section):
        """The tests of a section in the order they first ran."""
        seen = []
        for r in self.rows:
            if r.section == section and r.test != "all" and r.test not in seen:
                seen.append(r.test)
        return seen


def summarise(values):
    if not values:
        return None
    return Summary(statistics.median(values), min(values), max(values),
                   len(values))


# --- cells ------------------------------------------------------------------

def num(x):
    """A number rounded for reading: whole from 100, one decimal from 10."""
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def cell(res, section, test, impl, metric):
    """The median (min..max) of a series, or why there is none."""
    st = summarise(res.values(section, test, impl, metric))
    failed = res.fails(section, test, impl)
    if st is None:
        return "failed" if failed else "not measured"
    if st.n == 1:
        text = f"{num(st.med)} (n=1)"
    else:
        text = f"{num(st.med)} ({num(st.lo)}..{num(st.hi)})"
    if failed:
        text += f", {failed} failed"
    return text


def rcell(res, compared):
    """The ratio of (section, testA, implA, testB, implB, metric)."""
    st = summarise(res.ratios(*compared))
    if st is None:
        return "not measured"
    return f"**{st.med:.2f}** ({st.lo:.2f}..{st.hi:.2f}, {st.n} pairs)"


# --- what is compared -------------------------------------------------------

NET_TESTS = {
    "tx64": "TX 64 B, 1 queue pair",
    "rx64": "RX 64 B, 1 queue pair",
    "tx1500": "TX 1500 B, 1 queue pair",
    "txgso": "TX 64 KiB GSO, 1 queue pair",
    "tx64q2": "TX 64 B, 2 queue pairs",
    "rx64q2": "RX 64 B, 2 queue pairs",
}

NET_METRICS = [
    ("pps", "packets/s"),
    ("mbps", "Mbit/s"),
    ("nspp", "worker ns/packet"),
    ("drvnspp", "driver ns/packet"),
    ("gennspp", "pktgen ns/packet"),	# pktgen runs on RX only
    ("kicks", "kicks / 1000 packets"),
    ("calls", "calls / 1000 packets"),
    ("runs", "handler runs / 1000 packets (vhx only)"),
    ("worker_sleeps", "worker sleeps / 1000 packets"),
]

E2E_COST_METRICS = [
    ("exits_per", "KVM exits"),
    ("irqs_per", "interrupts injected"),
    ("halts_per", "halts"),
    ("cpu_us_per", "VMM CPU, µs"),
]


def blk_label(test):
    """null-randread-qd32-q4 -> "null_blk randread QD32 4q" """
    backend, rw, qd, nq = (test.split("-", 3) + ["", "", ""])[:4]
    backend = {"null": "null_blk", "tmpfs": "tmpfs file"}.get(backend, backend)
    return f"{backend} {rw} {qd.upper()} {nq.removeprefix('q')}q"


def pair(section, test, impl_a, impl_b, metric):
    """Two implementations side by side on one test."""
    return (section, test, impl_a, test, impl_b, metric)


HEADLINES = [
    ("64 B TX packet rate, vhx-net / vhost-net",
     pair("net", "tx64", "vhx", "vhost", "pps")),
    ("64 B RX packet rate, vhx-net / vhost-net",
     pair("net", "rx64", "vhx", "vhost", "pps")),
    ("1500 B TX throughput, vhx-net / vhost-net",
     pair("net", "tx1500", "vhx", "vhost", "mbps")),
    ("64 KiB GSO TX throughput, vhx-net / vhost-net",
     pair("net", "txgso", "vhx", "vhost", "mbps")),
    ("64 B TX worker CPU per packet, vhx-net / vhost-net (lower is better)",
     pair("net", "tx64", "vhx", "vhost", "nspp")),
    ("64 B TX, 2 queue pairs / 1, vhx-net",
     ("net", "tx64q2", "vhx", "tx64", "vhx", "pps")),
    ("64 B TX, 2 queue pairs / 1, vhost-net",
     ("net", "tx64q2", "vhost", "tx64", "vhost", "pps")),
    ("4 KiB randread QD32 1 queue, null_blk, vhx-blk / io_uring (uringbench)",
     pair("blk", "null-randread-qd32-q1", "vhx", "ubench", "iops")),
    ("4 KiB randread QD32 4 queues, null_blk, vhx-blk / io_uring (uringbench)",
     pair("blk", "null-randread-qd32-q4", "vhx", "ubench", "iops")),
    ("4 KiB randread QD32 1 queue, tmpfs file, vhx-blk / io_uring (uringbench)",
     pair("blk", "tmpfs-randread-qd32-q1", "vhx", "ubench", "iops")),
    ("4 KiB randread QD1 1 queue, null_blk, vhx-blk / io_uring (uringbench)",
     pair("blk", "null-randread-qd1-q1", "vhx", "ubench", "iops")),
    ("4 KiB randread QD1 1 queue, null_blk, vhx-blk / polled io_uring (uringbench --poll)",
     pair("blk", "null-randread-qd1-q1", "vhx", "ubpoll", "iops")),
    ("4 KiB randread QD1 1 queue, null_blk, polled vhx-blk (blkbench --poll) / polled io_uring",
     pair("blk", "null-randread-qd1-q1", "vhxpoll", "ubpoll", "iops")),
    ("4 KiB randread QD32 1 queue, null_blk, polled vhx-blk (blkbench --poll) / polled io_uring",
     pair("blk", "null-randread-qd32-q1", "vhxpoll", "ubpoll", "iops")),
    ("e2e iperf3 guest→VM, QEMU+vhx-net (vhostfd=) / QEMU+vhost-net",
     pair("e2e", "iperf-tx", "qemu-vhx", "qemu-vhost", "mbps")),
    ("e2e iperf3 VM→guest, QEMU+vhx-net (vhostfd=) / QEMU+vhost-net",
     pair("e2e", "iperf-rx", "qemu-vhx", "qemu-vhost", "mbps")),
    ("e2e iperf3 guest→VM, vhx-vm+vhx-net / QEMU+vhost-net",
     pair("e2e", "iperf-tx", "vhxvm", "qemu-vhost", "mbps")),
    ("e2e iperf3 VM→guest, vhx-vm+vhx-net / QEMU+vhost-net",
     pair("e2e", "iperf-rx", "vhxvm", "qemu-vhost", "mbps")),
    ("e2e fio 4 KiB randread QD32, vhx-vm+vhx-blk / QEMU virtio-blk io_uring+iothread",
     pair("e2e", "fio-randread-qd32", "vhxvm", "qemu-vhost", "iops")),
    ("e2e fio 4 KiB randread QD1 mean latency, vhx-vm+vhx-blk / QEMU (lower is faster)",
     pair("e2e", "fio-randread-qd1", "vhxvm", "qemu-vhost", "lat_mean_us")),
    ("e2e boot to guest init, vhx-vm / QEMU (lower is faster)",
     pair("e2e", "boot", "vhxvm", "qemu-vhost", "seconds")),
]


# --- the report -------------------------------------------------------------

def row(*cells):
    # An empty cell is "| |", as Markdown writers tend to leave it.
    return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"


def table(*header):
    return [row(*header), "|" + "---|" * len(header)]


INTRO = """\
**Measured under emulation.** The test VM runs under QEMU TCG (no
hardware virtualisation), roughly 50 times slower than hardware, on a
2-core machine shared with other work. Absolute figures mean little;
only the ratios of pairs measured side by side in the same VM boot do.
Each pair ran back to back, its order alternating between
repetitions; figures are medians with the range (min..max) over the
repetitions, ratios are taken per pair and summarised the same way."""


def headline_section(res):
    lines = ["## Headline ratios (side by side, same boot)", ""]
    lines += table("comparison", "ratio, median (min..max)")
    lines += [row(label, rcell(res, compared)) for label, compared in HEADLINES]
    return lines


def conditions_section(res):
    """The lines before the notes (which go in as they are)."""
    m = res.meta
    return [
        "## Conditions",
        "",
        f"- Test VM kernel {m('kernel')}, {m('cpus')} vCPUs, slab sanity checks",
        f"  {m('slub_sanity')} (0: slub_debug off, as it must be for benchmarks).",
        f"- {m('reps')} repetitions of {m('secs')} s per guest-less run;",
        f"  {m('e2e_reps')} repetitions of each end-to-end boot.",
    ]


NET_INTRO = """\
vhx-netgen drives the device as the guest would (its own memory is
the guest memory), the same program on `/dev/vhx-net` and on
upstream `/dev/vhost-net`, one device open and one tap queue per
queue pair. TX: frames from the ring into the tap. RX: the kernel's
pktgen floods the tap and the device fills the ring. CPU per packet
is schedstat runtime over the run: the device's worker threads, the
driver's threads (vhx-netgen, the guest side) and pktgen's thread."""


def net_section(res):
    lines = ["## Net, guest-less", "", NET_INTRO, ""]
    lines += table("test", "metric", "vhx-net", "vhost-net", "vhx / vhost")
    for test, label in NET_TESTS.items():
        for metric, what in NET_METRICS:
            if metric == "gennspp" and not test.startswith("rx"):
                continue
            lines.append(row(label, what,
                             cell(res, "net", test, "vhx", metric),
                             cell(res, "net", test, "vhost", metric),
                             rcell(res, pair("net", test, "vhx", "vhost", metric))))
    lines += ["", "Scaling, 2 queue pairs / 1 (packets/s, per repetition):", ""]
    lines += table("direction", "vhx-net", "vhost-net")
    for label, two, one in [("TX 64 B", "tx64q2", "tx64"),
                            ("RX 64 B", "rx64q2", "rx64")]:
        lines.append(row(label,
                         rcell(res, ("net", two, "vhx", one, "vhx", "pps")),
                         rcell(res, ("net", two, "vhost", one, "vhost", "pps"))))
    return lines


BLK_INTRO = """\
blkbench plays the guest on `/dev/vhx-blk`: one thread per queue
keeps QD requests of 4 KiB in flight at random offsets of the first
256 MiB of the backend (32 MiB in a smoke run). The reference is
uringbench, the same load through io_uring from a process (one thread
and ring per queue, registered file and buffers, O_DIRECT, no clock
read per I/O); polled
is uringbench with IOPOLL on null_blk's poll queue, the cheapest round
trip the block layer offers, and its match is polled vhx-blk:
blkbench --poll, whose threads spin on the used ring with calls
suppressed, as a virtio-blk poll queue does (the device is kicked as
usual); fio is fio's io_uring engine with
`gtod_reduce=1` (numjobs = queues, iodepth = QD), a second opinion.
Backends: null_blk (`/dev/nullb0`, module defaults) and a file on tmpfs."""

BLK_CPU_INTRO = """\
CPU time per request, ns (schedstat; vhx-blk: blkbench's threads
and the device's workers; uringbench: its threads), and vhx-blk's
kicks, calls, handler runs and worker sleeps per 1000 requests:"""

BLK_LAT_INTRO = """\
Latency at QD1, one queue: the mean, 1 / IOPS (exact at QD1 on one
queue), µs:"""


def blk_section(res):
    tests = res.tests("blk")

    def c(test, impl, metric):
        return cell(res, "blk", test, impl, metric)

    lines = ["## Blk, guest-less", "", BLK_INTRO, ""]
    lines += table("test", "vhx-blk IOPS", "uringbench IOPS",
                   "polled vhx-blk IOPS", "polled IOPS", "fio IOPS",
                   "vhx-blk / uringbench", "polled vhx-blk / polled")
    for t in tests:
        lines.append(row(blk_label(t), c(t, "vhx", "iops"),
                         c(t, "ubench", "iops"), c(t, "vhxpoll", "iops"),
                         c(t, "ubpoll", "iops"), c(t, "uring", "iops"),
                         rcell(res, pair("blk", t, "vhx", "ubench", "iops")),
                         rcell(res, pair("blk", t, "vhxpoll", "ubpoll", "iops"))))
    lines += ["", BLK_CPU_INTRO, ""]
    lines += table("test", "vhx-blk", "uringbench", "polled", "kicks",
                   "calls", "runs", "sleeps")
    for t in tests:
        lines.append(row(blk_label(t), c(t, "vhx", "cpuns"),
                         c(t, "ubench", "cpuns"), c(t, "ubpoll", "cpuns"),
                         c(t, "vhx", "kicks"), c(t, "vhx", "calls"),
                         c(t, "vhx", "runs"), c(t, "vhx", "worker_sleeps")))
    lines += ["", BLK_LAT_INTRO, ""]
    lines += table("test", "vhx-blk", "uringbench", "polled", "fio")
    for t in tests:
        if t.endswith("-qd1-q1"):	# only there is 1 / IOPS the latency
            lines.append(row(blk_label(t), c(t, "vhx", "lat_mean_us"),
                             c(t, "ubench", "lat_mean_us"),
                             c(t, "ubpoll", "lat_mean_us"),
                             c(t, "uring", "lat_mean_us")))
    return lines


E2E_INTRO = """\
L2 guests under KVM nested in the test VM (`kvm_amd nested=1`),
one vCPU and 1 GiB each, the same kernel and initramfs
(scripts/mkguest.sh --fio). Network: a tap in the test VM, iperf3
server there, client in the guest (5 s each way). Disk: null_blk
in the test VM, fio 4 KiB randread io_uring direct in the guest,
QD32 then QD1.
Boot: seconds from starting the VMM to the guest init's first line.

QEMU + vhx-net is the same QEMU as QEMU + vhost-net, given an
open `/dev/vhx-net` with `vhostfd=`: only the data plane differs."""

E2E_COST_INTRO = """\
What each run cost, per MiB through the tap (iperf3, both ways)
or per request (fio), counted between the guest's marks around
the phase: KVM exits, interrupts injected and
halts (KVM's statistics of the VM, all vCPUs), and CPU time of every
thread of the VMM in µs (vCPUs, I/O threads, and on 6.12 the
vhost-net and vhx workers, which are threads of the VMM there)."""

E2E_IMPLS = ["vhxvm", "qemu-vhost", "qemu-vhx", "qemu-user"]


def not_measured(res, section, what):
    """Why a section has no figures: its first failure, else that it did
    not run."""
    why = res.first_fail(section) or f"the {what} section did not run"
    return [f"Not measured: {why}."]


def e2e_section(res):
    lines = ["## End to end (nested guests)", ""]
    if not (res.values("e2e", "boot", "vhxvm", "seconds")
            or res.values("e2e", "boot", "qemu-vhost", "seconds")):
        return lines + not_measured(res, "e2e", "end-to-end")

    def cells(test, metric, impls=E2E_IMPLS):
        return [cell(res, "e2e", test, impl, metric) for impl in impls]

    def vs(test, impl, metric):
        return rcell(res, pair("e2e", test, impl, "qemu-vhost", metric))

    no_disk = ["(no disk test)", "(no disk test)"]
    lines += [E2E_INTRO, ""]
    lines += table("test", "vhx-vm + vhx",
                   "QEMU + vhost-net / virtio-blk io_uring+iothread",
                   "QEMU + vhx-net", "QEMU, userspace virtio-net",
                   "vhx-vm / QEMU+vhost", "QEMU+vhx-net / QEMU+vhost-net")
    lines += [
        row("iperf3 guest→VM, Mbit/s", *cells("iperf-tx", "mbps"),
            vs("iperf-tx", "vhxvm", "mbps"), vs("iperf-tx", "qemu-vhx", "mbps")),
        row("iperf3 VM→guest, Mbit/s", *cells("iperf-rx", "mbps"),
            vs("iperf-rx", "vhxvm", "mbps"), vs("iperf-rx", "qemu-vhx", "mbps")),
        row("fio randread 4 KiB QD32, IOPS",
            *cells("fio-randread-qd32", "iops", E2E_IMPLS[:2]), *no_disk,
            vs("fio-randread-qd32", "vhxvm", "iops"), ""),
        row("fio randread 4 KiB QD1, IOPS",
            *cells("fio-randread-qd1", "iops", E2E_IMPLS[:2]), *no_disk,
            vs("fio-randread-qd1", "vhxvm", "iops"), ""),
        row("fio randread 4 KiB QD1, mean latency µs (lower is faster)",
            *cells("fio-randread-qd1", "lat_mean_us", E2E_IMPLS[:2]), *no_disk,
            vs("fio-randread-qd1", "vhxvm", "lat_mean_us"), ""),
        row("boot to guest init, s", *cells("boot", "seconds"),
            vs("boot", "vhxvm", "seconds"), ""),
    ]
    lines += ["", E2E_COST_INTRO, ""]
    lines += table("test", "per MiB (iperf3) or request (fio)", "vhx-vm + vhx",
                   "QEMU + vhost-net / virtio-blk", "QEMU + vhx-net",
                   "QEMU, userspace virtio-net")
    for test in ["iperf-tx", "iperf-rx", "fio-randread-qd32",
                 "fio-randread-qd1"]:
        for metric, what in E2E_COST_METRICS:
            lines.append(row(test, what, *cells(test, metric)))
    return lines


BOOT_INTRO = """\
The smallest guest (one vCPU, 512 MiB, no devices, the same kernel,
initramfs and command line) under vhx-vm and under QEMU's microvm
(qboot) and q35 (SeaBIOS) machines.  Boot: seconds from starting the
VMM to the guest init's first line.  Memory: the VMM's resident set
once the guest runs its command, in total and without the guest RAM
mapping (the largest one), MiB."""


def boot_section(res):
    lines = ["## Boot and memory (nested guests)", ""]
    if not res.values("boot", "init", "vhxvm", "seconds"):
        return lines + not_measured(res, "boot", "boot")
    lines += [BOOT_INTRO, ""]
    lines += table("", "vhx-vm", "QEMU microvm", "QEMU q35",
                   "vhx-vm / microvm", "vhx-vm / q35")
    for label, test, metric in [
            ("boot to guest init, s", "init", "seconds"),
            ("VMM RSS beyond guest RAM, MiB", "rss-vmm", "mib"),
            ("VMM RSS in total, MiB", "rss-total", "mib")]:
        lines.append(row(label,
                         *[cell(res, "boot", test, impl, metric)
                           for impl in ["vhxvm", "microvm", "q35"]],
                         *[rcell(res, pair("boot", test, "vhxvm", ref, metric))
                           for ref in ["microvm", "q35"]]))
    return lines


def failed_section(res):
    failed = res.failed_rows()
    lines = ["## Failed runs", ""]
    if not failed:
        return lines + ["None."]
    return lines + [f"- {r.section} {r.test} {r.impl} rep {r.rep}: {r.value}"
                    for r in failed]


def lines_text(lines):
    return "".join(line + "\n" for line in lines)


def report_body(res, title, notes):
    """Everything but the plots and the raw data link."""
    text = lines_text([f"# vhx benchmarks: {res.meta('start')} to "
                       f"{res.meta('end')} UTC, {title}", "", INTRO, ""])
    text += lines_text(headline_section(res) + [""])
    text += lines_text(conditions_section(res)) + notes
    for section in [net_section, blk_section, e2e_section, boot_section,
                    failed_section]:
        text += lines_text([""] + section(res))
    return text


def report_tail(name, plots):
    lines = []
    if plots:
        lines += ["", "## Plots"]
        for png, title in plots:
            lines += ["", f"![{title}]({png})"]
    lines += ["", "## Raw data", "",
              f"[{name}.tsv]({name}.tsv): section, test, implementation, repetition,",
              'metric, value (one line per figure; "fail" lines give the reason).']
    return lines_text(lines)


# --- plots ------------------------------------------------------------------

Plot = namedtuple("Plot", "suffix title ylabel series logy reference rows")


def plot_row(res, label, section, metric, *series):
    """Label, then median, min and max of each (test, impl); None: missing."""
    cells = [label]
    for test, impl in series:
        st = summarise(res.values(section, test, impl, metric))
        cells += [st.med, st.lo, st.hi] if st else [None] * 3
    return cells


def ratio_row(res, label, compared):
    st = summarise(res.ratios(*compared))
    return [label] + ([st.med, st.lo, st.hi] if st else [None] * 3)


def plots_wanted(res):
    blk_tests = res.tests("blk")
    net_pairs = [
        ("TX 64 B pps", "tx64", "pps"), ("RX 64 B pps", "rx64", "pps"),
        ("TX 1500 B Mbit/s", "tx1500", "mbps"), ("TX GSO Mbit/s", "txgso", "mbps"),
        ("TX 64 B ns/pkt", "tx64", "nspp"), ("TX 64 B 2q pps", "tx64q2", "pps"),
        ("RX 64 B 2q pps", "rx64q2", "pps"),
    ]

    def net_rows(metric, tests):
        return [plot_row(res, NET_TESTS[t], "net", metric, (t, "vhx"), (t, "vhost"))
                for t in tests]

    def e2e_row(label, test, metric, impls):
        return plot_row(res, label, "e2e", metric, *[(test, i) for i in impls])

    return [
        Plot("net-pps", "Net, guest-less: 64-byte packet rate", "packets/s",
             ["vhx-net", "vhost-net"], False, False,
             net_rows("pps", ["tx64", "rx64", "tx64q2", "rx64q2"])),
        Plot("net-mbps", "Net, guest-less: TX throughput", "Mbit/s",
             ["vhx-net", "vhost-net"], False, False,
             net_rows("mbps", ["tx1500", "txgso"])),
        Plot("net-cpu", "Net, guest-less: worker CPU per packet (lower is better)",
             "ns/packet", ["vhx-net", "vhost-net"], True, False,
             net_rows("nspp", NET_TESTS)),
        Plot("blk-iops", "Blk, guest-less: 4 KiB IOPS", "IOPS",
             ["vhx-blk", "io_uring (uringbench)"], True, False,
             [plot_row(res, blk_label(t), "blk", "iops", (t, "vhx"), (t, "ubench"))
              for t in blk_tests]),
        Plot("net-ratio", "Net: vhx-net / vhost-net, per pair", "ratio",
             ["vhx-net / vhost-net"], False, True,
             [ratio_row(res, label, pair("net", t, "vhx", "vhost", m))
              for label, t, m in net_pairs]),
        Plot("blk-ratio", "Blk: vhx-blk / io_uring IOPS, per pair", "ratio",
             ["vhx-blk / uringbench"], False, True,
             [ratio_row(res, blk_label(t), pair("blk", t, "vhx", "ubench", "iops"))
              for t in blk_tests]),
        Plot("e2e-iperf", "End to end: iperf3", "Mbit/s",
             ["vhx-vm + vhx-net", "QEMU + vhost-net", "QEMU userspace virtio-net"],
             False, False,
             [e2e_row(label, t, "mbps", ["vhxvm", "qemu-vhost", "qemu-user"])
              for label, t in [("iperf3 guest→VM", "iperf-tx"),
                               ("iperf3 VM→guest", "iperf-rx")]]),
        Plot("e2e-fio", "End to end: fio in the guest", "IOPS",
             ["vhx-vm + vhx-blk", "QEMU virtio-blk io_uring+iothread"], False, False,
             [e2e_row("fio randread 4 KiB QD32", "fio-randread-qd32", "iops",
                      ["vhxvm", "qemu-vhost"])]),
        Plot("e2e-boot", "End to end: boot time (lower is faster)", "seconds",
             ["vhx-vm", "QEMU"], False, False,
             [e2e_row("boot to guest init", "boot", "seconds",
                      ["vhxvm", "qemu-vhost"])]),
    ]


def has_data(plot):
    return any(x is not None for r in plot.rows for x in r[1:])


def gp_string(s):
    # gnuplot's single-quoted strings take '' for a quote, and nothing else.
    return "'" + s.replace("'", "''") + "'"


def write_dat(path, plot):
    # bench-bars.gp reads "?" as a missing figure.
    with open(path, "w", encoding="utf-8") as f:
        for r in plot.rows:
            f.write("\t".join([r[0]] + ["?" if x is None else repr(x)
                                        for x in r[1:]]) + "\n")


def draw(plot, base):
    """Draw one plot beside the report; False if gnuplot failed."""
    dat, png, log = (f"{base}-{plot.suffix}{ext}"
                     for ext in (".dat", ".png", ".gnuplot.log"))
    write_dat(dat, plot)
    titles = (plot.series + ["", "", ""])[:3]
    setup = "; ".join([
        f"datafile={gp_string(dat)}", f"outfile={gp_string(png)}",
        f"plottitle={gp_string(plot.title)}", f"ylab={gp_string(plot.ylabel)}",
        f"nseries={len(plot.series)}",
        *(f"t{i}={gp_string(t)}" for i, t in enumerate(titles, 1)),
        f"logy={int(plot.logy)}", f"reference={int(plot.reference)}"])
    with open(log, "w", encoding="utf-8") as err:
        ok = subprocess.run(["gnuplot", "-e", setup, BARS_GP],
                            stdout=err, stderr=err).returncode == 0
    if not ok:
        # The data and gnuplot's words stay behind, to see what went wrong.
        print(f"{ME}: gnuplot failed for {png} (see {log})", file=sys.stderr)
        return False
    os.remove(dat)
    os.remove(log)
    return True


def draw_plots(res, base):
    """The plots that have data, as (file name, title) for the report."""
    wanted = [p for p in plots_wanted(res) if has_data(p)]
    if wanted and shutil.which("gnuplot") is None:
        print(f"{ME}: no gnuplot, so no plots", file=sys.stderr)
        return []
    name = os.path.basename(base)
    return [(f"{name}-{p.suffix}.png", p.title) for p in wanted if draw(p, base)]


# --- main -------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench_report.py", allow_abbrev=False,
        description="Markdown report and plots from a raw bench-vm.sh file.")
    p.add_argument("--raw", required=True, metavar="FILE",
                   help="raw results of scripts/bench-vm.sh")
    p.add_argument("--out", required=True, metavar="REPORT.md",
                   help="the report; plots and a copy of FILE go beside it")
    p.add_argument("--notes", metavar="FILE",
                   help="Markdown put under Conditions as is")
    return p.parse_args(argv)


def read_notes(path):
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"cannot read notes file {path}: {e}") from e


def copy_raw(raw, base):
    # The report links its raw data by name, so a copy goes beside it
    # (unless the report is being redrawn from that very copy).
    tsv = base + ".tsv"
    if not (os.path.exists(tsv) and os.path.samefile(raw, tsv)):
        shutil.copyfile(raw, tsv)


def write_report(res, notes, raw, out):
    """The report, its plots and the raw file's copy; returns the plots."""
    base = out.removesuffix(".md")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    body = report_body(res, os.path.basename(out).removesuffix(".md"), notes)
    plots = draw_plots(res, base)
    # Written whole and then renamed: a reader never sees half a report.
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        f.write(body + report_tail(os.path.basename(base), plots))
    os.replace(out + ".tmp", out)
    copy_raw(raw, base)
    return plots


def main(argv):
    args = parse_args(argv)
    try:
        res = Results(read_raw(args.raw))
        notes = read_notes(args.notes)
    except BadInput as e:
        print(f"{ME}: {e}", file=sys.stderr)
        return 1
    try:
        plots = write_report(res, notes, args.raw, args.out)
    except OSError as e:
        print(f"{ME}: cannot write the report: {e}", file=sys.stderr)
        return 1
    print(f"{ME}: wrote {args.out} ({len(plots)} plots)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
