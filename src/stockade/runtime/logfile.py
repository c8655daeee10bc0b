"""A container's log as conmon writes it: the Kubernetes "k8s-file" format.

conmon writes the container's stdout and stderr, in the order written, to one file, one
record a line:

    2026-12-05T11:54:59.143266302+00:00 stdout F out1
    <RFC 3339 time, nanoseconds, numeric offset> <stdout|stderr> <F|P> <data>\\n

`F` ends a line (its newline was stripped), `P` is part of a line that continues in a later
record. We parse it ourselves: it is conmon's own format (the CRI log format kubelet reads),
and there is no Python library for it; it is four space-separated fields.

Files: `ctr.log` is the live file; rotation moves it to `ctr.log.1` and the older ones up to
`ctr.log.<max_files-1>`. conmon also truncates the live file on its own when it passes
`--log-size-max`, by renaming a new empty file over it (a new inode).

Memory stays bounded whatever the files' sizes: files are read in blocks of `BLOCK` bytes,
`tail` reads backwards from the end, and a line longer than `MAX_LINE` (conmon never writes
one: it splits output into records of at most its buffer size) is skipped as malformed.

Cursors. `Cursor(T, n)` means "after the n-th record of the run of consecutive records
stamped T": conmon stamps each read of a pipe once, so records of one burst share a
timestamp, and (T, n) names one of them exactly as long as the clock does not step back.
Finding a cursor reads backwards to the last record older than T, so resuming near the end
of a long log is cheap. After a clock step backwards a resume near the step may repeat or
skip records. Every record counts, whichever streams a reader asked for, so a cursor read
from a stdout-only read resumes any read.
"""

import contextlib
import datetime
import functools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from stockade.errors import InvalidSpec
from stockade.wire.stream import Stream

BLOCK = 1 << 16  # bytes per read
MAX_LINE = 1 << 20  # a longer line is not conmon's (its records are at most a few KiB)
MAX_CURSOR_CHARS = 40
_NS = 1_000_000_000
_ALL = frozenset(Stream)
_STREAMS = {b"stdout": Stream.STDOUT, b"stderr": Stream.STDERR}
_TIME = re.compile(rb"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                   rb"(Z|[+-]\d{2}:\d{2})")
_CURSOR = re.compile(r"(\d{1,20})\.(\d{1,9})", re.ASCII)
_EPOCH_DAY = datetime.date(1970, 1, 1).toordinal()


@dataclass(frozen=True, slots=True)
class Record:
    """One record of the log."""

    time_ns: int  # the timestamp as nanoseconds since the epoch
    time: str  # the timestamp as written
    stream: Stream
    partial: bool  # `P`: the line continues in a later record
    data: bytes  # without the newline

    def payload(self) -> bytes:
        """The bytes the container wrote: the data, and the newline a whole line ended with."""
        return self.data if self.partial else self.data + b"\n"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Resume after the first `seen` records stamped `time_ns` (see the module's text)."""

    time_ns: int
    seen: int

    def encode(self) -> str:
        return f"{self.time_ns}.{self.seen}"

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        match = _CURSOR.fullmatch(text) if len(text) <= MAX_CURSOR_CHARS else None
        if match is None or int(match.group(2)) < 1:
            raise InvalidSpec(f"invalid cursor {text[:MAX_CURSOR_CHARS]!r}: use the cursor "
                              "of a log record, TIME_NS.SEEN (e.g. 1764935699143266302.2)")
        return cls(int(match.group(1)), int(match.group(2)))


@functools.lru_cache(maxsize=64)
def _day_seconds(date: bytes) -> int:
    """Seconds from the epoch to the start of a day (ValueError for a day that does not
    exist); a log has few distinct days, so this is cached."""
    year, month, day = int(date[:4]), int(date[5:7]), int(date[8:10])
    return (datetime.date(year, month, day).toordinal() - _EPOCH_DAY) * 86400


def _time_ns(stamp: bytes) -> int | None:
    match = _TIME.fullmatch(stamp)
    if match is None:
        return None
    date, hour, minute, second, fraction, offset = match.groups()
    hours, minutes, seconds = int(hour), int(minute), int(second)
    if hours > 23 or minutes > 59 or seconds > 60:
        return None
    try:
        total = _day_seconds(date) + hours * 3600 + minutes * 60 + seconds
    except ValueError:
        return None
    if offset != b"Z":
        off_hours, off_minutes = int(offset[1:3]), int(offset[4:6])
        if off_hours > 23 or off_minutes > 59:
            return None
        shift = off_hours * 3600 + off_minutes * 60
        total += -shift if offset[:1] == b"+" else shift
    return total * _NS + (int(fraction.ljust(9, b"0")) if fraction else 0)


def parse_line(line: bytes) -> Record | None:
    """One line of the log (its newline optional); None when it is not a record."""
    if line.endswith(b"\n"):
        line = line[:-1]
    fields = line.split(b" ", 3)
    if len(fields) != 4:
        return None
    stamp, name, tag, data = fields
    stream = _STREAMS.get(name)
    if stream is None or tag not in (b"F", b"P") or b"\n" in data:
        return None
    time_ns = _time_ns(stamp)
    if time_ns is None:
        return None
    return Record(time_ns, stamp.decode("ascii"), stream, tag == b"P", data)


class LogFiles:
    """A container's log: the live file at `path` and up to `max_files - 1` rotated ones."""

    def __init__(self, path: Path, max_files: int) -> None:
        if max_files < 1:
            raise ValueError("a log keeps at least one file")
        self.path = path
        self.max_files = max_files

    def rotated(self, k: int) -> Path:
        """`ctr.log.k`: 1 is the newest rotated file."""
        return self.path.with_name(f"{self.path.name}.{k}")

    def names(self) -> list[Path]:
        """Every name the log's files may have, oldest first, the live file last."""
        return [self.rotated(k) for k in range(self.max_files - 1, 0, -1)] + [self.path]

    def paths(self) -> list[Path]:
        """The files that exist, oldest first, the live file last."""
        return [path for path in self.names() if path.exists()]

    def total_bytes(self) -> int:
        total = 0
        for path in self.names():
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    def rotate(self, reopen: Callable[[], bool]) -> bool:
        """Drop the oldest file, shift `.k` to `.k+1` and the live file to `.1`, then call
        `reopen()`, which asks the monitor to open a new live file (it writes to the old one,
        now `.1`, until then; it answers False when the monitor is gone, and then nobody
        writes any more). With `max_files` 1 the live file is replaced by an empty one
        instead. False when there was nothing to rotate (no live file, or an empty one)."""
        try:
            if self.path.stat().st_size == 0:
                return False
        except FileNotFoundError:
            return False
        if self.max_files == 1:
            fresh = self.path.with_name(f"{self.path.name}.rotating")
            os.close(os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                             0o600))
            os.rename(fresh, self.path)
        else:
            self.rotated(self.max_files - 1).unlink(missing_ok=True)
            for k in range(self.max_files - 2, 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    os.rename(self.rotated(k), self.rotated(k + 1))
            os.rename(self.path, self.rotated(1))
        reopen()
        return True


# -- reading a snapshot of the files ------------------------------------------------------

Position = tuple[int, int]  # (index of the file in a snapshot, byte offset)


class _Line(NamedTuple):
    file: int
    start: int
    end: int  # after its newline
    record: Record | None  # None: a malformed line


class _Snapshot:
    """The log's files opened at one moment, oldest first, each read up to the size it had
    then. Opened newest first and told apart by inode, so a rotation meanwhile makes one
    file show up under two names (seen once) rather than a file go missing."""

    def __init__(self, files: LogFiles) -> None:
        fds: list[int] = []
        sizes: list[int] = []
        keys: list[tuple[int, int]] = []
        for path in reversed(files.names()):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            status = os.fstat(fd)
            key = (status.st_dev, status.st_ino)
            if key in keys:
                os.close(fd)
                continue
            fds.append(fd)
            sizes.append(status.st_size)
            keys.append(key)
        self.fds: list[int | None] = list(reversed(fds))
        self.sizes = sizes[::-1]
        self.keys = keys[::-1]

    @property
    def end(self) -> Position:
        return (len(self.sizes) - 1, self.sizes[-1]) if self.sizes else (0, 0)

    def fd(self, index: int) -> int:
        fd = self.fds[index]
        assert fd is not None, "a file taken from the snapshot"
        return fd

    def take(self, index: int) -> int:
        """The open file, which the caller now closes."""
        fd = self.fd(index)
        self.fds[index] = None
        return fd

    def close(self) -> None:
        for fd in self.fds:
            if fd is not None:
                os.close(fd)
        self.fds = [None] * len(self.fds)

    def forward(self, at: Position = (0, 0)) -> Iterator[_Line]:
        """Every complete line from `at` (a line's start) to the end, oldest first."""
        first, offset = at
        for index in range(first, len(self.sizes)):
            begin = offset if index == first else 0
            for start, line in _lines_forward(self.fd(index), begin, self.sizes[index]):
                yield _Line(index, start, start + len(line) + 1, parse_line(line))

    def backward(self, at: Position | None = None) -> Iterator[_Line]:
        """Every complete line that ends at or before `at` (default: the end), newest first."""
        if not self.sizes:
            return
        last, offset = at if at is not None else self.end
        for index in range(last, -1, -1):
            end = offset if index == last else self.sizes[index]
            for start, line in _lines_backward(self.fd(index), end):
                yield _Line(index, start, start + len(line) + 1, parse_line(line))


def _lines_forward(fd: int, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for each line within [start, end), without its newline; what follows
    the last newline is unfinished and not returned."""
    pending, at, overlong = b"", start, False
    pos = start
    while pos < end:
        block = os.pread(fd, min(BLOCK, end - pos), pos)
        if not block:
            return  # truncated meanwhile
        pos += len(block)
        parts = (pending + block if pending else block).split(b"\n")
        pending = parts.pop()
        for line in parts:
            if overlong:
                overlong = False
            elif len(line) <= MAX_LINE:
                yield at, line
            at += len(line) + 1
        if len(pending) > MAX_LINE:  # skipped up to its newline
            at, pending, overlong = at + len(pending), b"", True


def _lines_backward(fd: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for each line within [0, end), newest first; what follows the last
    newline before `end` is unfinished and not returned."""
    # carry: the start of a line whose beginning is not read yet; terminated: a newline
    # follows it; overlong: the line being read is longer than MAX_LINE and is skipped
    carry, terminated, overlong = b"", False, False
    pos = end
    while pos > 0:
        size = min(BLOCK, pos)
        pos -= size
        block = os.pread(fd, size, pos)
        if len(block) != size:
            return  # truncated meanwhile
        buf = block + carry
        parts = buf.split(b"\n")
        if len(parts) == 1:
            carry = b"" if overlong or len(buf) > MAX_LINE else buf
            overlong = overlong or len(buf) > MAX_LINE
            continue
        line_end = pos + len(buf)
        last = len(parts) - 1
        for k in range(last, 0, -1):
            line = parts[k]
            line_start = line_end - len(line)
            if (k < last or (terminated and not overlong)) and len(line) <= MAX_LINE:
                yield line_start, line
            line_end = line_start - 1
        carry, terminated, overlong = parts[0], True, False
        if len(carry) > MAX_LINE:
            carry, overlong = b"", True
    if terminated and not overlong:
        yield 0, carry


Match = Callable[[Record], bool]


def _matcher(streams: frozenset[Stream], since_ns: int | None, until_ns: int | None) -> Match:
    low = since_ns if since_ns is not None else -(1 << 80)
    high = until_ns if until_ns is not None else 1 << 80

    def match(record: Record) -> bool:
        return record.stream in streams and low <= record.time_ns <= high
    return match


def _run_before(snap: _Snapshot, at: Position) -> tuple[int | None, int]:
    """The timestamp of the last record before `at` and how many records in a row before
    `at` carry it: where a count of equal timestamps resumes."""
    run_time: int | None = None
    count = 0
    for line in snap.backward(at):
        if line.record is None:
            continue
        if run_time is None:
            run_time = line.record.time_ns
        elif line.record.time_ns != run_time:
            break
        count += 1
    return run_time, count


def _cursor_point(snap: _Snapshot, cursor: Cursor) -> Position:
    """Where the records after `cursor` begin."""
    begin: Position = (0, 0)
    for line in snap.backward():
        if line.record is not None and line.record.time_ns < cursor.time_ns:
            begin = (line.file, line.end)
            break
    count = 0
    passed = begin
    for line in snap.forward(begin):
        record = line.record
        if record is not None:
            if record.time_ns == cursor.time_ns and count < cursor.seen:
                count += 1
            elif count > 0 or record.time_ns > cursor.time_ns:
                return line.file, line.start
        passed = (line.file, line.end)
    return passed


def _tail_point(snap: _Snapshot, n: int, match: Match, floor: Position) -> Position:
    """Where the last `n` matching records at or after `floor` begin."""
    if n == 0:
        return snap.end
    found = 0
    for line in snap.backward():
        if (line.file, line.start) < floor:
            break
        if line.record is not None and match(line.record):
            found += 1
            if found == n:
                return line.file, line.start
    return floor


def read_with_cursors(files: LogFiles, *, tail: int | None = None,
                      since_ns: int | None = None, until_ns: int | None = None,
                      after: Cursor | None = None,
                      streams: frozenset[Stream] = _ALL) -> Iterator[tuple[Record, Cursor]]:
    """`read`, each record with the cursor that resumes after it."""
    if tail is not None and tail < 0:
        raise ValueError("tail is a count of records")
    snap = _Snapshot(files)
    try:
        match = _matcher(streams, since_ns, until_ns)
        start: Position = (0, 0)
        if after is not None:
            start = _cursor_point(snap, after)
        if tail is not None:
            start = max(start, _tail_point(snap, tail, match, start))
        run_time, count = _run_before(snap, start)
        for line in snap.forward(start):
            record = line.record
            if record is None:
                continue
            if record.time_ns == run_time:
                count += 1
            else:
                run_time, count = record.time_ns, 1
            if match(record):
                yield record, Cursor(run_time, count)
    finally:
        snap.close()


def read(files: LogFiles, *, tail: int | None = None, since_ns: int | None = None,
         until_ns: int | None = None, after: Cursor | None = None,
         streams: frozenset[Stream] = _ALL) -> Iterator[Record]:
    """The records of the log as it is now, oldest first: of `streams`, stamped from
    `since_ns` to `until_ns` (both included), after the cursor `after`, and of those the last
    `tail`. A line still being written is left out. Memory stays bounded: blocks are read
    as needed, and `tail` finds its start reading backwards."""
    for record, _ in read_with_cursors(files, tail=tail, since_ns=since_ns, until_ns=until_ns,
                                       after=after, streams=streams):
        yield record


def last_cursor(files: LogFiles) -> Cursor | None:
    """The cursor after the last complete record now in the log; None for an empty log."""
    snap = _Snapshot(files)
    try:
        run_time, count = _run_before(snap, snap.end)
    finally:
        snap.close()
    return None if run_time is None else Cursor(run_time, count)


# -- following the live file ----------------------------------------------------------------

_Key = tuple[int, int]  # (st_dev, st_ino): a file, whatever its name now


def _last_line_end(snap: _Snapshot) -> Position:
    """After the last complete line of the newest file (an unfinished line is yet to come)."""
    last = len(snap.sizes) - 1
    for line in snap.backward():
        return (last, line.end) if line.file == last else (last, 0)
    return last, 0


class Follower:
    """Tails the live file across rotation and truncation (inode change or shrink: drain the
    old fd to EOF, then open the new file from 0). Non-blocking: `poll` returns what has been
    written since and never a line still being written (its start is kept until its
    newline arrives).

    `start`: None reads from the oldest record kept, "end" only what is written from now on,
    a Cursor resumes after it (in the rotated files too)."""

    def __init__(self, files: LogFiles, start: Cursor | Literal["end"] | None = None,
                 streams: frozenset[Stream] = _ALL) -> None:
        self._files = files
        self._streams = streams
        self._fd: int | None = None
        self._key: _Key | None = None
        self._offset = 0
        self._pending = b""
        self._overlong = False
        self._older: set[_Key] = set()  # files known to come before the one being read
        self._next: tuple[Path, _Key] | None = None  # the newer file to open after a drain
        self._run: tuple[int | None, int] = (None, 0)
        self._cursor = start if isinstance(start, Cursor) else None
        self._caught_up = False
        snap = _Snapshot(files)
        try:
            if not snap.sizes:
                return  # the first file to appear is read from its start
            if isinstance(start, Cursor):
                at = _cursor_point(snap, start)
            elif start == "end":
                at = _last_line_end(snap)
            else:
                at = (0, 0)
            self._run = _run_before(snap, at)
            index, self._offset = at
            self._fd = snap.take(index)
            self._key = snap.keys[index]
            self._older = set(snap.keys[:index])
        finally:
            snap.close()

    @property
    def cursor(self) -> Cursor | None:
        """After the last record returned (the start cursor until one is)."""
        return self._cursor

    @property
    def caught_up(self) -> bool:
        """Whether the last poll reached the end of the live file (else its byte budget
        ran out first, and more is waiting)."""
        return self._caught_up

    def poll(self, max_bytes: int = 1 << 16) -> list[Record]:
        """The records written since the last poll, reading at most about `max_bytes`."""
        return [record for record, _ in self.poll_with_cursors(max_bytes)]

    def poll_with_cursors(self, max_bytes: int = 1 << 16) -> list[tuple[Record, Cursor]]:
        """`poll`, each record with the cursor that resumes after it."""
        found: list[tuple[Record, Cursor]] = []
        budget = max_bytes
        self._caught_up = False
        while True:
            if self._fd is None and not self._open_first():
                self._caught_up = True
                break
            assert self._fd is not None
            if budget <= 0:
                break
            data = os.pread(self._fd, min(BLOCK, budget), self._offset)
            if data:
                budget -= len(data)
                self._offset += len(data)
                self._take(data, found)
                continue
            if os.fstat(self._fd).st_size < self._offset:  # truncated in place
                self._restart(self._fd, self._key, 0)
                continue
            if self._next is None:
                self._next = self._newer()
                if self._next is None:
                    self._caught_up = True
                    break
                continue  # drain what came before the newer file appeared, then switch
            if not self._switch(*self._next):
                break  # renamed again meanwhile: the next poll looks again
        return found

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Follower":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _take(self, data: bytes, found: list[tuple[Record, Cursor]]) -> None:
        parts = (self._pending + data if self._pending else data).split(b"\n")
        self._pending = parts.pop()
        for line in parts:
            if self._overlong:
                self._overlong = False
                continue
            record = parse_line(line) if len(line) <= MAX_LINE else None
            if record is None:
                continue
            run_time, count = self._run
            count = count + 1 if record.time_ns == run_time else 1
            self._run = (record.time_ns, count)
            if record.stream in self._streams:
                self._cursor = Cursor(record.time_ns, count)
                found.append((record, self._cursor))
        if len(self._pending) > MAX_LINE:
            self._pending, self._overlong = b"", True

    def _chain(self) -> list[tuple[Path, _Key]]:
        chain = []
        for path in self._files.names():
            try:
                status = os.stat(path)
            except FileNotFoundError:
                continue
            chain.append((path, (status.st_dev, status.st_ino)))
        return chain

    def _newer(self) -> tuple[Path, _Key] | None:
        """The file written after the one being read, once there is one."""
        chain = self._chain()
        keys = [key for _, key in chain]
        if self._key in keys:
            index = keys.index(self._key)
            self._older = set(keys[:index])
            newer = chain[index + 1:]
        else:  # ours is gone: dropped by a rotation, or replaced by a truncation
            newer = [(path, key) for path, key in chain if key not in self._older]
        return newer[0] if newer else None

    def _open_first(self) -> bool:
        """No file was open: the first one not known to be older, from its start."""
        for path, key in self._chain():
            if key not in self._older and self._switch(path, key):
                return True
        return False

    def _switch(self, path: Path, key: _Key) -> bool:
        self._next = None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        status = os.fstat(fd)
        if (status.st_dev, status.st_ino) != key:
            os.close(fd)
            return False
        if self._fd is not None:
            os.close(self._fd)
            if self._key is not None:
                self._older.add(self._key)
        self._restart(fd, key, 0)
        return True

    def _restart(self, fd: int, key: _Key | None, offset: int) -> None:
        """Read `fd` from `offset`; a line the old file left unfinished is dropped."""
        self._fd, self._key, self._offset = fd, key, offset
        self._pending, self._overlong = b"", False
