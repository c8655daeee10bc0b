"""Log flood: one container writing `yes` as fast as it can for 60 s (10 s with --quick),
with a small log cap (1 MiB x 2 files), through the real daemon path.

A private daemon (`stockade server`, as in the throughput suite) runs the container and
its sweep rotates the log every 0.5 s as in production; conmon truncates the live file by
itself at the cap between sweeps. A follower reads the whole time through the API,
`GET /v1/containers/{h}/logs?follow=true` with `Client.log_batches`, in a thread of this
process. Every 0.25 s the suite samples:
- the bytes of the container's log files on disk (must stay within max_files x max_bytes,
  plus one record conmon may write past the cap);
- the used bytes of the filesystem holding the engine root, against its use at the start;
- the RSS of the daemon (which serves the follower), of conmon, and of this process (the
  follower's client);
- the records the follower has read, and the inode of `ctr.log.1` (a new one is a
  rotation by the daemon).

The reference for the follower's rate is what the application wrote in the same window:
conmon's read bytes from the container's output pipe (/proc/PID/io rchar) over the two
bytes of each `y` line."""

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from bench import procfs
from bench.model import Context, Row, SuiteResult
from bench.sandbox import Sandbox, sandbox
from bench.throughput import daemon
from stockade.client import Client
from stockade.engine.layout import Layout
from stockade.runtime.logfile import LogFiles
from stockade.spec import ContainerSpec, ProcessSpec

NAME = "logflood"
TITLE = "Log flood: `yes` into a 1 MiB x 2 log, disk and memory held flat"
MIB = 1 << 20
MAX_BYTES = 1 * MIB
MAX_FILES = 2
RECORD_MAX = 8192 + 64  # conmon's read buffer (one record's data at most) and its prefix
LINE_BYTES = 2  # `yes` writes "y\n"
SAMPLE_S = 0.25
BASELINE_S = 1.0
HANDLE = "flood"


def run(ctx: Context) -> SuiteResult:
    seconds = ctx.rounds(60, 10)
    result = SuiteResult(NAME, TITLE, params={"seconds": seconds, "max_bytes": MAX_BYTES,
                                              "max_files": MAX_FILES,
                                              "sample_s": SAMPLE_S})
    if ctx.quick:
        result.notes.append(f"--quick: {seconds} s of flood instead of 60")
    with sandbox(NAME, result.leftovers) as box, daemon(box, Client) as socket:
        flood = _flood(box, socket, seconds)
    _report(result, flood)
    return result


# -- what one flood saw ---------------------------------------------------------------------


@dataclass
class Sample:
    t: float  # seconds since the flood began
    log_bytes: int
    held_bytes: int  # deleted log files the daemon or conmon still hold open
    held_by_daemon: int  # of which the daemon holds (its follower)
    fs_used: int
    rss: dict[str, int]  # daemon, conmon, follower (this process)
    records: int  # read by the follower so far
    rotated_inode: int | None  # ctr.log.1


@dataclass
class Flood:
    seconds: float = 0.0
    baseline: list[Sample] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    io_start: dict[str, int] = field(default_factory=dict)
    io_end: dict[str, int] = field(default_factory=dict)
    record_bytes: float | None = None  # mean size of a record on disk
    follower_error: str = ""


def count_rotations(inodes: list[int | None]) -> int:
    """How many times the rotated file was replaced: each new inode at `ctr.log.1` after the
    first sample is one rotation (the sweep runs every 0.5 s, the samples every 0.25 s, so
    no two fall between samples)."""
    return sum(1 for before, after in itertools.pairwise(inodes)
               if after is not None and after != before)


def mean_record_bytes(data: bytes) -> float | None:
    """Mean bytes per whole record in a piece of a k8s-file log (None without one)."""
    lines = data.count(b"\n")
    if lines == 0:
        return None
    return (data.rfind(b"\n") + 1) / lines


class _Follower(threading.Thread):
    """Reads the log through the API until told to stop; counts the records."""

    def __init__(self, socket: Path) -> None:
        super().__init__(name="logflood-follower", daemon=True)
        self.socket = socket
        self.records = 0
        self.error = ""
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            with Client(self.socket) as client:
                batches = client.log_batches(HANDLE, follow=True)
                try:
                    for batch in batches:
                        self.records += len(batch)
                        if self.stop.is_set():
                            return
                finally:  # leaving closes the stream, and the daemon ends its follower
                    if isinstance(batches, Generator):
                        batches.close()
        except Exception as exc:  # reported as a note; the flood's other figures stand
            if not self.stop.is_set():
                self.error = f"{type(exc).__name__}: {exc}"


def _flood(box: Sandbox, socket: Path, seconds: float) -> Flood:
    layout = Layout(box.root)
    files = LogFiles(layout.log_file(HANDLE), MAX_FILES)
    daemon_pid = _daemon_pid(box)
    flood = Flood()
    with Client(socket) as client:
        client.create(ContainerSpec(handle=HANDLE, process=ProcessSpec(args=["yes"]),
                                    log={"max_bytes": MAX_BYTES, "max_files": MAX_FILES}),
                      start=False)
        follower = _Follower(socket)
        follower.start()
        try:
            conmon = int(layout.monitor(HANDLE).monitor_pid_file.read_text())
            pids = {"daemon": daemon_pid, "conmon": conmon, "follower": os.getpid()}
            fs_start = _fs_used(box.root)
            flood.baseline = _sample_for(BASELINE_S, files, box.root, fs_start, pids,
                                         follower, time.monotonic())
            client.start(HANDLE)
            began = time.monotonic()
            flood.io_start = procfs.io_counters(conmon)
            flood.samples = _sample_for(seconds, files, box.root, fs_start, pids, follower,
                                        began)
            flood.io_end = procfs.io_counters(conmon)
            flood.seconds = time.monotonic() - began
            flood.record_bytes = _record_bytes(files)
        finally:
            follower.stop.set()
            follower.join(timeout=10)
            client.destroy(HANDLE)
            follower.join(timeout=10)
    flood.follower_error = follower.error or ("the follower did not end"
                                              if follower.is_alive() else "")
    return flood


def _daemon_pid(box: Sandbox) -> int:
    """The daemon: the sandbox's process started by this one."""
    mine = [pid for pid in box.processes() if procfs.parent(pid) == os.getpid()]
    if len(mine) != 1:
        raise RuntimeError(f"expected one daemon process of this run, found {mine}")
    return mine[0]


def _fs_used(path: Path) -> int:
    stat = os.statvfs(path)
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize


def _sample_for(seconds: float, files: LogFiles, root: Path, fs_start: int,
                pids: dict[str, int], follower: _Follower, began: float) -> list[Sample]:
    """One sample every SAMPLE_S for `seconds`, on a fixed schedule (no drift)."""
    samples = []
    start = time.monotonic()
    for index in range(round(seconds / SAMPLE_S)):
        time.sleep(max(0.0, start + (index + 1) * SAMPLE_S - time.monotonic()))
        try:
            inode: int | None = files.rotated(1).stat().st_ino
        except FileNotFoundError:
            inode = None
        directory = files.path.parent
        samples.append(Sample(t=time.monotonic() - began, log_bytes=files.total_bytes(),
                              held_bytes=procfs.deleted_but_open(
                                  [pids["daemon"], pids["conmon"]], directory),
                              held_by_daemon=procfs.deleted_but_open([pids["daemon"]],
                                                                     directory),
                              fs_used=_fs_used(root) - fs_start,
                              rss={name: procfs.rss(pid) for name, pid in pids.items()},
                              records=follower.records, rotated_inode=inode))
    return samples


def _record_bytes(files: LogFiles) -> float | None:
    """Mean record size in the newest rotated file (whole records only)."""
    with contextlib.suppress(OSError):
        return mean_record_bytes(files.rotated(1).read_bytes()[-MIB:])
    return None


# -- rows ----------------------------------------------------------------------------------


def _report(result: SuiteResult, flood: Flood) -> None:
    samples = flood.samples
    if not samples:
        result.status = "failed"
        result.reason = "no sample was taken"
        return
    cap = MAX_FILES * MAX_BYTES
    on_disk = [float(s.log_bytes) for s in samples]
    result.add(Row(metric="max log bytes on disk (sampled every 0.25 s)", unit="MiB",
                   value=max(on_disk) / MIB, samples=[b / MIB for b in on_disk]).against(
        f"cap: {MAX_FILES} files x {MAX_BYTES // MIB} MiB", cap / MIB))
    if max(on_disk) > cap + RECORD_MAX:
        result.status = "failed"
        result.reason = (f"the log reached {max(on_disk):.0f} bytes on disk, over the cap "
                         f"{cap} plus one record")
    with_held = [float(s.log_bytes + s.held_bytes) for s in samples]
    result.add(Row(metric="max log bytes on disk with deleted files still held open",
                   unit="MiB", value=max(with_held) / MIB,
                   samples=[b / MIB for b in with_held]).against("cap", cap / MIB))
    by_daemon = [s.held_by_daemon / MIB for s in samples]
    result.add(Row(metric="of which deleted files the daemon held open (its follower)",
                   unit="MiB", value=max(by_daemon), samples=by_daemon))
    result.notes.append(f"the most log bytes seen on disk: {max(on_disk):.0f} (the cap is "
                        f"{cap}, one record at most {RECORD_MAX}); with deleted log files the "
                        f"daemon or conmon still held open: {max(with_held):.0f}")
    fs = [s.fs_used / MIB for s in samples]
    result.add(Row(metric="max growth of the root filesystem's used bytes", unit="MiB",
                   value=max(fs), samples=fs).against("log cap", cap / MIB))
    result.add(Row.of("growth of the root filesystem's used bytes (median of the samples)",
                      "MiB", fs).against("log cap", cap / MIB))
    for name, who in (("daemon", "daemon (serves the follower, rotates)"),
                      ("conmon", "conmon"), ("follower", "follower's client (this process)")):
        start = result.add(Row.of(f"{who} RSS at start (before the flood)", "MiB",
                                  [s.rss[name] / MIB for s in flood.baseline]))
        during = [s.rss[name] / MIB for s in samples]
        result.add(Row(metric=f"{who} max RSS during the flood", unit="MiB",
                       value=max(during), samples=during).against("at start", start.value))
    written = (flood.io_end.get("rchar", 0) - flood.io_start.get("rchar", 0)) / LINE_BYTES
    lines = result.add(Row(metric="lines the application wrote per second (conmon's reads / "
                                  f"{LINE_BYTES} bytes)", unit="/s",
                           value=written / flood.seconds if flood.seconds else None))
    read = samples[-1].records - (flood.baseline[-1].records if flood.baseline else 0)
    result.add(Row(metric="records the follower read per second (GET /logs?follow=true)",
                   unit="/s", value=read / samples[-1].t).against("lines written",
                                                                  lines.value))
    wrote = flood.io_end.get("wchar", 0) - flood.io_start.get("wchar", 0)
    result.add(Row(metric="log bytes conmon wrote per second", unit="MiB/s",
                   value=wrote / MIB / flood.seconds if flood.seconds else None))
    if flood.record_bytes:
        result.add(Row(metric="mean record size on disk", unit="bytes",
                       value=flood.record_bytes))
    rotations = count_rotations([s.rotated_inode for s in samples])
    result.add(Row(metric="rotations done by the daemon's sweep (a new ctr.log.1)",
                   unit="rotations", value=rotations))
    result.add(Row(metric="conmon truncations at the cap (estimated: bytes written / cap - "
                          "rotations)", unit="truncations",
                   value=max(wrote / MAX_BYTES - rotations, 0.0)))
    if flood.follower_error:
        result.notes.append(f"follower: {flood.follower_error}")
    result.notes.append("through the real daemon path: a private `stockade server`, whose "
                        "sweep calls engine.rotate_logs() every 0.5 s; the follower is "
                        "Client.log_batches(follow=True) in a thread of this process")
    result.notes.append("RSS at start: the container created and the follower attached, "
                        f"sampled for {BASELINE_S:.0f} s before the container started; "
                        "the root filesystem is shared, so anything else writing to it "
                        "moves its rows (the median less than the max)")
    result.series = {
        "t": [s.t for s in samples], "log_mib": [b / MIB for b in on_disk],
        "held_mib": [b / MIB for b in with_held], "fs_mib": fs,
        "cap_mib": cap / MIB,
        "rss_mib": {name: [s.rss[name] / MIB for s in samples]
                    for name in ("daemon", "conmon", "follower")},
        "records_per_s": _rates(samples),
    }


def _rates(samples: list[Sample]) -> list[float]:
    """Records per second the follower read in each sampling interval."""
    return [(after.records - before.records) / max(after.t - before.t, 1e-9)
            for before, after in itertools.pairwise(samples)]
