"""`AuditLog`: append hash-chained records, safely across threads and processes.

Damage found at append time is never repaired and never hidden. Existing bytes are left as
they are; if the file ends mid-line, the new data starts with a newline so the fragment
stays a line of its own. The chain continues from the last readable record, or from the
anchor when the anchor is ahead of the file, so no seq is ever handed out twice. Before the
requested record, a `security` record with action `audit-damaged` says what was found;
verify reports that note for as long as it is in the log.
"""

import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockade.audit import files
from stockade.audit.files import Anchor, AnchorState
from stockade.audit.record import (
    DAMAGE_ACTION,
    GENESIS,
    AuditRecord,
    parse_line,
    plain_json,
    utc_now,
)

SCAN_BYTES = 1 << 20  # how far back append looks for a readable record past a damaged tail


@dataclass(frozen=True)
class _Head:
    """Where the next record goes."""

    seq: int
    prev: str
    torn: bool  # the file does not end with a newline
    damage: tuple[str, ...]  # what is wrong, for the note; empty when all is well


class AuditLog:
    """A JSON-lines file of AuditRecords; the directory (0700) and file (0600) are created on
    the first append."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.anchor_path = files.anchor_path(self.path)

    def append(self, *, kind: str, action: str, actor: str, target: str, result: str,
               details: dict[str, Any] | None = None) -> AuditRecord:
        """Append one record and return it; ValueError for invalid fields or a record over
        MAX_LINE_BYTES (nothing is written then), OSError if the disk fails."""
        if kind == "security" and action == DAMAGE_ACTION:
            raise ValueError(f"the action {DAMAGE_ACTION!r} is reserved for the audit log")
        fields = {"kind": kind, "action": action, "actor": actor, "target": target,
                  "result": result, "details": plain_json(details or {})}
        _new(fields, 0, GENESIS)  # validate before touching the disk
        with files.locked_for_append(self.path) as fd:
            head = _find_head(fd, self.anchor_path)
            records = _chain(head, fields, self.path.name)
            data = b"".join(record.line() for record in records)
            files.write_all(fd, (b"\n" if head.torn else b"") + data)
            files.write_anchor(self.anchor_path, Anchor(seq=records[-1].seq,
                                                        hash=records[-1].hash))
        return records[-1]

    def records(self) -> Iterator[AuditRecord]:
        """Every readable record in file order, unverified; unreadable lines are skipped
        (verify_log reports them)."""
        with files.open_snapshot(self.path) as (stream, size, _):
            for line in files.lines_forward(stream, size):
                record = _readable(line.data) if line.ended else None
                if record is not None:
                    yield record

    def tail(self, count: int) -> list[AuditRecord]:
        """The last `count` readable records, oldest first, reading back from the end."""
        if count <= 0:
            return []
        found: deque[AuditRecord] = deque()
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return []
        try:
            size = os.fstat(fd).st_size
            for raw in files.lines_backward(fd, size, size):
                record = _readable(raw)
                if record is not None:
                    found.appendleft(record)
                    if len(found) == count:
                        break
        finally:
            os.close(fd)
        return list(found)


def _readable(raw: bytes | None) -> AuditRecord | None:
    if raw is None:
        return None
    try:
        return parse_line(raw)
    except ValueError:
        return None


def _new(fields: dict[str, Any], seq: int, prev: str) -> AuditRecord:
    return AuditRecord.build({**fields, "seq": seq, "prev": prev, "time": utc_now()})


def _chain(head: _Head, fields: dict[str, Any], log_name: str) -> list[AuditRecord]:
    """The requested record, preceded by a note when the head was damaged."""
    if not head.damage:
        return [_new(fields, head.seq, head.prev)]
    note = _new({"kind": "security", "action": DAMAGE_ACTION,
                 "actor": f"stockade-audit pid={os.getpid()}", "target": log_name,
                 "result": "error: " + "; ".join(head.damage),
                 "details": {"found": list(head.damage)}}, head.seq, head.prev)
    return [note, _new(fields, note.seq + 1, note.hash)]


def _find_head(fd: int, anchor_file: Path) -> _Head:
    size = os.fstat(fd).st_size
    torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
    last, skipped = _last_readable(fd, size)
    damage = _tail_damage(last, skipped, torn, size)
    anchor = files.read_anchor(anchor_file)
    damage += _anchor_damage(anchor, last, size)
    seq, prev = (0, GENESIS) if last is None else (last.seq + 1, last.hash)
    if anchor.anchor is not None and anchor.anchor.seq >= seq:  # the file lost its newest
        seq, prev = anchor.anchor.seq + 1, anchor.anchor.hash
    return _Head(seq, prev, torn, tuple(damage))


def _last_readable(fd: int, size: int) -> tuple[AuditRecord | None, int]:
    """The last record that parses, and how many lines after it do not."""
    skipped = 0
    for raw in files.lines_backward(fd, size, SCAN_BYTES):
        record = _readable(raw)
        if record is not None:
            return record, skipped
        skipped += 1
    return None, skipped


def _tail_damage(last: AuditRecord | None, skipped: int, torn: bool, size: int) -> list[str]:
    found = []
    if torn:
        found.append("the log did not end with a newline")
    if skipped:
        found.append(f"{skipped} unreadable line(s) at the end of the log")
    if last is None and size > 0:
        found.append(f"no readable record in the last {SCAN_BYTES} bytes")
    if last is not None and not last.hash_matches():
        found.append(f"the last record (seq {last.seq}) does not match its hash")
    return found


def _anchor_damage(state: AnchorState, last: AuditRecord | None, size: int) -> list[str]:
    if state.error is not None:
        return [f"the anchor file was unreadable ({state.error})"]
    anchor = state.anchor
    if anchor is None:
        return ["the anchor file was missing"] if size > 0 else []
    if last is None:
        return [f"the log has no readable record but the anchor records record {anchor.seq}"]
    if anchor.seq > last.seq:
        return [f"the log ends at record {last.seq} but the anchor records record "
                f"{anchor.seq}: records were removed"]
    if anchor.seq < last.seq:
        return [f"the anchor records record {anchor.seq} but the log goes on to record "
                f"{last.seq}: an interrupted append, or records added by hand"]
    if anchor.hash != last.hash:
        return [f"the last record (seq {last.seq}) does not match the anchor"]
    return []
