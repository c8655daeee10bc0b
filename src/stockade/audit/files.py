"""File mechanics: the lock, one-write appends, bounded line reading both ways, the anchor."""

import contextlib
import fcntl
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stockade.audit.record import MAX_LINE_BYTES, Hex256, describe

BLOCK = 64 * 1024
_ANCHOR_MAX_BYTES = 4096  # a real anchor is under 100 bytes; never slurp a planted big file
_OPEN_FLAGS = os.O_CLOEXEC | os.O_NOFOLLOW  # a planted symlink must not redirect root's writes


class Anchor(BaseModel):
    """The newest record when the log was last appended to, kept beside the log."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    seq: int = Field(ge=0)
    hash: Hex256


@dataclass(frozen=True)
class AnchorState:
    anchor: Anchor | None
    error: str | None = None  # why an anchor file that exists could not be read

    @property
    def missing(self) -> bool:
        return self.anchor is None and self.error is None


@dataclass(frozen=True)
class Line:
    number: int  # 1-based
    data: bytes | None  # without the newline; None when longer than any record can be
    ended: bool  # followed by a newline


def anchor_path(log: Path) -> Path:
    """audit.jsonl -> audit.head, in the same directory."""
    return log.with_name(f"{log.stem}.head")


@contextlib.contextmanager
def locked_for_append(path: Path) -> Iterator[int]:
    """An O_APPEND descriptor holding the exclusive lock; every appender, thread or process,
    opens its own, so flock serialises them all."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _OPEN_FLAGS, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def open_snapshot(path: Path) -> Iterator[tuple[BinaryIO, int, AnchorState]]:
    """The log, its size and the anchor's bytes, read together under the shared lock, so a
    concurrent append cannot make them disagree. Reading the log after unlocking is safe:
    appends never change bytes below the size seen here."""
    anchor = anchor_path(path)
    try:
        fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    except FileNotFoundError:
        yield io.BytesIO(), 0, read_anchor(anchor)
        return
    with os.fdopen(fd, "rb") as stream:
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            state = read_anchor(anchor)
            size = os.fstat(fd).st_size
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        yield stream, size, state


def write_all(fd: int, data: bytes) -> None:
    """One write on an O_APPEND descriptor, so the records land whole and together."""
    written = os.write(fd, data)
    if written != len(data):  # the tail is now torn; the next append notes it
        raise OSError(f"short write to the audit log: {written} of {len(data)} bytes")
    os.fsync(fd)


def read_anchor(path: Path) -> AnchorState:
    try:
        fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    except FileNotFoundError:
        return AnchorState(None)
    except OSError as exc:
        return AnchorState(None, exc.strerror or str(exc))
    with os.fdopen(fd, "rb") as stream:
        data = stream.read(_ANCHOR_MAX_BYTES + 1)
    if len(data) > _ANCHOR_MAX_BYTES:
        return AnchorState(None, "too large")
    try:
        return AnchorState(Anchor.model_validate_json(data))
    except ValidationError as exc:
        return AnchorState(None, describe(exc))


def write_anchor(path: Path, anchor: Anchor) -> None:
    """Write to a temporary file, then rename over: readers see the old or the new anchor."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _OPEN_FLAGS, 0o600)
    try:
        os.write(fd, anchor.model_dump_json().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(directory)  # the rename, and the log's own entry when it was just created
    finally:
        os.close(directory)


def lines_forward(stream: BinaryIO, size: int) -> Iterator[Line]:
    """Every line in the first `size` bytes, holding at most one record's worth at a time."""
    number, left = 0, size
    while left > 0:
        chunk = stream.readline(min(left, MAX_LINE_BYTES + 1))
        if not chunk:
            return  # the file shrank while we read
        number += 1
        left -= len(chunk)
        if chunk.endswith(b"\n"):
            yield Line(number, chunk[:-1], True)
        elif len(chunk) > MAX_LINE_BYTES:
            ended, left = _skip_rest_of_line(stream, left)
            yield Line(number, None, ended)
        else:
            yield Line(number, chunk, False)


def _skip_rest_of_line(stream: BinaryIO, left: int) -> tuple[bool, int]:
    while left > 0:
        chunk = stream.readline(min(left, BLOCK))
        if not chunk:
            break
        left -= len(chunk)
        if chunk.endswith(b"\n"):
            return True, left
    return False, left


def lines_backward(fd: int, size: int, budget: int) -> Iterator[bytes | None]:
    """Lines from the last to the first, without newlines (None for one longer than any record
    can be), reading at most `budget` bytes back from `size`; a line cut by the budget is not
    yielded."""
    floor = max(0, size - budget)
    pos, current, overlong, at_end = size, b"", False, True
    while pos > floor:
        start = max(floor, pos - BLOCK)
        parts = os.pread(fd, pos - start, start).split(b"\n")
        pos = start
        current, overlong = _grow(parts[-1], current, overlong)
        if len(parts) == 1:
            continue
        if not (at_end and current == b"" and not overlong):  # nothing after a final newline
            yield None if overlong else current
        at_end = False
        for part in reversed(parts[1:-1]):
            yield None if len(part) > MAX_LINE_BYTES else part
        current, overlong = _grow(parts[0], b"", False)
    if pos == 0 and not (at_end and current == b"" and not overlong):
        yield None if overlong else current


def _grow(left: bytes, current: bytes, overlong: bool) -> tuple[bytes, bool]:
    """Prepend what precedes the line being assembled, dropping it once it is too long."""
    if overlong or len(left) + len(current) > MAX_LINE_BYTES:
        return b"", True
    return left + current, False
