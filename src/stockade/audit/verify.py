"""`verify_log`: read the log once and name every edited, missing, moved or extra record.

Each line is checked on its own (it parses, it is in canonical form, its hash matches its
content) and against its neighbour (record N+1 links to record N's hash). Sequence numbers
are gathered into runs; what is absent from 0..highest was deleted, runs outside the
heaviest increasing chain were moved, and the anchor tells whether the newest were cut off.
Memory grows with the number of problems, not with the size of the log.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from stockade.audit import files
from stockade.audit.files import Anchor, AnchorState, Line
from stockade.audit.order import Run, SeqSet, out_of_order
from stockade.audit.record import (
    DAMAGE_ACTION,
    GENESIS,
    MAX_LINE_BYTES,
    AuditRecord,
    parse_line,
    short,
)

ProblemKind = Literal["edited", "deleted", "reordered", "duplicated", "truncated", "malformed",
                      "anchor-mismatch", "anchor-missing", "unanchored", "noted"]
_HEX256 = re.compile(r"[0-9a-f]{64}")


class Problem(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int | None  # the record concerned, when it can be told
    line: int  # 1-based; 0 when the problem concerns the file as a whole
    kind: ProblemKind
    message: str


class VerifyReport(BaseModel):
    """`ok` is True exactly when there is no problem."""

    model_config = ConfigDict(frozen=True)

    path: str
    ok: bool
    count: int  # readable records
    head: str | None  # hash of the last readable record: save it to check later with --anchor
    problems: list[Problem]


def verify_log(path: Path, anchor: str | None = None) -> VerifyReport:
    """Check the log at `path`; `anchor` is a head hash saved elsewhere, which some record
    must still carry. Never raises on the file's content, only on I/O errors."""
    wanted = _head_hash(anchor)
    with files.open_snapshot(path) as (stream, size, state):
        walker = _Walker(state.anchor, wanted)
        for line in files.lines_forward(stream, size):
            walker.feed(line)
    problems = walker.finish(state, files.anchor_path(path).name)
    return VerifyReport(path=str(path), ok=not problems, count=walker.count,
                        head=walker.head, problems=problems)


def _head_hash(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not _HEX256.fullmatch(value):
        raise ValueError("an anchor is a sha256 in hex (64 digits)")
    return value


@dataclass(frozen=True)
class _Last:
    """The previous record in file order."""

    seq: int
    hash: str | None  # None for an unreadable line standing in for a record
    line: int
    trusted: bool  # its content matches its hash, so its hash can vouch for the next link


@dataclass(frozen=True)
class _Unreadable:
    line: int
    reason: str
    ended: bool


class _Walker:
    def __init__(self, anchor: Anchor | None, wanted_head: str | None) -> None:
        self.anchor = anchor
        self.wanted_head = wanted_head
        self.problems: list[Problem] = []
        self.count = 0
        self.lines = 0
        self.head: str | None = None
        self.seen = SeqSet()
        self.runs: list[Run] = []
        self.last: _Last | None = None
        self.unreadable: list[_Unreadable] = []  # since the last readable record
        self.anchored: tuple[str, int] | None = None  # (hash, line) of the anchor's record
        self.beyond_anchor: int | None = None  # first line with a seq past the anchor's
        self.head_found = False

    def add(self, seq: int | None, line: int, kind: ProblemKind, message: str) -> None:
        self.problems.append(Problem(seq=seq, line=line, kind=kind, message=message))

    def feed(self, line: Line) -> None:
        self.lines = line.number
        try:
            record = _parse(line)
        except ValueError as exc:
            self.unreadable.append(_Unreadable(line.number, str(exc), line.ended))
            return
        self._record(record, line.number, line.data or b"")

    def _record(self, record: AuditRecord, number: int, raw: bytes) -> None:
        self.count += 1
        self.head = record.hash
        trusted = record.hash_matches()
        # an edited record's seq may itself be the edit: it stands where it is found
        seq = record.seq if trusted else self._next_seq()
        self._settle_unreadable(seq)
        if not trusted:
            claim = "" if record.seq == seq else f" (its seq now says {record.seq})"
            self.add(seq, number, "edited", f"record {seq} (line {number}) was edited{claim}: "
                     "its hash does not match its content")
        elif record.line() != raw + b"\n":
            self.add(seq, number, "edited", f"record {seq} (line {number}) was rewritten: "
                     "same content, different bytes")
        if not self.seen.add(seq):
            self.add(seq, number, "duplicated", f"record {seq} appears again on line {number}")
            return
        if trusted:
            self._check_link(record, number)
            self._check_note(record, number)
        self._extend_runs(seq, number)
        self._watch_anchors(record, seq, number, trusted)
        self.last = _Last(seq, record.hash, number, trusted)

    def _next_seq(self) -> int:
        return 0 if self.last is None else self.last.seq + 1

    def _settle_unreadable(self, next_seq: int | None) -> None:
        """Report the unreadable lines before a record. When they exactly fill the gap in seqs
        before it, they are the damaged records themselves, not deleted ones."""
        if not self.unreadable:
            return
        base, count = self._next_seq(), len(self.unreadable)
        fits = (next_seq is not None and next_seq - base == count
                and not any(seq in self.seen for seq in range(base, next_seq)))
        for offset, bad in enumerate(self.unreadable):
            seq = base + offset if fits else None
            self._report_unreadable(seq, bad)
            if seq is not None:
                self.seen.add(seq)
                self._extend_runs(seq, bad.line)
                self.last = _Last(seq, None, bad.line, trusted=False)
        self.unreadable = []

    def _report_unreadable(self, seq: int | None, bad: _Unreadable) -> None:
        who = f"line {bad.line}" if seq is None else f"record {seq} (line {bad.line})"
        if bad.ended:
            self.add(seq, bad.line, "malformed", f"{who} is unreadable: {bad.reason}")
        else:
            self.add(seq, bad.line, "truncated", f"{who} is cut short (no newline at the end): "
                     "the log was truncated or a write was interrupted")

    def _check_link(self, record: AuditRecord, number: int) -> None:
        if record.seq == 0:
            if record.prev != GENESIS:
                self.add(0, number, "edited", f"record 0 (line {number}) was edited and "
                         "re-hashed: it does not start the chain")
            return
        last = self.last
        if last is None or not last.trusted or last.seq != record.seq - 1:
            return  # a gap or a move, reported from the seqs; or an edit, already reported
        if record.prev != last.hash:
            self.add(last.seq, last.line, "edited", f"record {last.seq} (line {last.line}) "
                     f"was edited and re-hashed: record {record.seq} (line {number}) does not "
                     "link to it")

    def _check_note(self, record: AuditRecord, number: int) -> None:
        if record.kind == "security" and record.action == DAMAGE_ACTION:
            self.add(record.seq, number, "noted", f"record {record.seq} (line {number}) notes "
                     f"damage an append found: {short(record.result)}")

    def _extend_runs(self, seq: int, number: int) -> None:
        if self.runs and self.runs[-1].last_seq + 1 == seq:
            self.runs[-1].last_seq, self.runs[-1].last_line = seq, number
        else:
            self.runs.append(Run(seq, number, seq, number))

    def _watch_anchors(self, record: AuditRecord, seq: int, number: int, trusted: bool) -> None:
        if self.anchor is not None:
            if seq == self.anchor.seq:
                if trusted:  # an edited record is reported already; its hash proves nothing
                    self.anchored = (record.hash, number)
            elif seq > self.anchor.seq and self.beyond_anchor is None:
                self.beyond_anchor = number
        if trusted and record.hash == self.wanted_head:
            self.head_found = True

    def finish(self, state: AnchorState, anchor_name: str) -> list[Problem]:
        self._settle_unreadable(None if self.anchor is None else self.anchor.seq + 1)
        self._report_missing()
        self._report_moved()
        self._check_anchor(state, anchor_name)
        if self.wanted_head is not None and not self.head_found:
            self.add(None, 0, "anchor-mismatch", f"no record has the head hash given "
                     f"({self.wanted_head[:16]}...): the log was truncated or rewritten")
        return sorted(self.problems, key=_position)

    def _report_missing(self) -> None:
        starts = {run.first_seq: run.first_line for run in self.runs}
        for first, last in self.seen.gaps():
            what = _span(first, last, "is", "are")
            where = starts.get(last + 1, 0)
            self.add(first, where, "deleted", f"{what} missing: deleted before record "
                     f"{last + 1} (line {where})")

    def _report_moved(self) -> None:
        for run in out_of_order(self.runs):
            verb = "is" if run.first_seq == run.last_seq else "are"
            self.add(run.first_seq, run.first_line, "reordered", f"{run.describe()} {verb} "
                     "out of order")

    def _check_anchor(self, state: AnchorState, name: str) -> None:
        if state.error is not None:
            self.add(None, 0, "anchor-mismatch", f"the anchor file {name} is unreadable: "
                     f"{state.error}")
        elif state.anchor is None:
            if self.lines:
                self.add(None, 0, "anchor-missing", f"the anchor file {name} is missing: "
                         "removal of the newest records cannot be ruled out")
        else:
            self._compare_anchor(state.anchor)

    def _compare_anchor(self, anchor: Anchor) -> None:
        highest = self.seen.highest
        if highest is None or anchor.seq > highest:
            first = 0 if highest is None else highest + 1
            what = _span(first, anchor.seq, "was", "were")
            ends = "the log is empty" if highest is None else f"the log ends at record {highest}"
            self.add(first, self.lines + 1, "truncated", f"{ends} but the anchor records "
                     f"record {anchor.seq}: {what} removed from the end")
            return
        if self.anchored is not None and self.anchored[0] != anchor.hash:
            line = self.anchored[1]
            self.add(anchor.seq, line, "anchor-mismatch", f"record {anchor.seq} (line {line}) "
                     "does not match the anchor: the log was rewritten")
        if anchor.seq < highest:
            line = self.beyond_anchor or self.lines
            what = _span(anchor.seq + 1, highest, "was", "were")
            self.add(anchor.seq + 1, line, "unanchored", f"{what} added after the anchor was "
                     f"written (from line {line}): an interrupted append, or records added by "
                     "hand")


def _position(problem: Problem) -> tuple[int, int]:
    return problem.line, -1 if problem.seq is None else problem.seq


def _span(first: int, last: int, singular: str, plural: str) -> str:
    if first == last:
        return f"record {first} {singular}"
    return f"records {first}..{last} {plural}"


def _parse(line: Line) -> AuditRecord:
    if line.data is None:
        raise ValueError(f"longer than a record can be ({MAX_LINE_BYTES} bytes)")
    if not line.ended:
        raise ValueError("no newline at the end")
    if not line.data:
        raise ValueError("empty line")
    return parse_line(line.data)
