"""Fuzzing the verifier: it never crashes, and any single tampering of a real log is named."""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.audit import DAMAGE_ACTION, AuditLog, verify_log
from stockade.audit.files import Anchor
from stockade.audit.order import Run, SeqSet, out_of_order
from stockade.audit.record import TIME_FORMAT, canonical
from tests.unit.audit_helpers import encode, fields, found, lines, rehash, write

_FUZZ = settings(max_examples=120, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_TEXT = st.text(max_size=12)
_WORD = st.text(min_size=1, max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6)
_DETAILS = st.dictionaries(_TEXT, _JSON, max_size=3)
_KINDS = st.sampled_from(["api", "security", "lifecycle"])
_HEX = st.text("0123456789abcdef", min_size=64, max_size=64)
_ENTRY = st.fixed_dictionaries({
    "kind": _KINDS, "action": _WORD.filter(lambda action: action != DAMAGE_ACTION),
    "actor": _WORD, "target": _TEXT, "result": _WORD, "details": _DETAILS})
_ENTRIES = st.lists(_ENTRY, min_size=1, max_size=6)

_REPLACEMENTS: dict[str, st.SearchStrategy[Any]] = {
    "seq": st.integers() | _JSON,
    "time": st.datetimes().map(lambda when: when.strftime(TIME_FORMAT)) | _TEXT,
    "kind": _KINDS | _TEXT,
    "action": _TEXT | _JSON, "actor": _TEXT | _JSON, "target": _TEXT | _JSON,
    "result": _TEXT | _JSON,
    "details": _DETAILS | _JSON,
    "prev": _HEX | _TEXT, "hash": _HEX | _TEXT,
}


@contextmanager
def _real_log(entries: list[dict[str, Any]]) -> Iterator[tuple[AuditLog, list[bytes]]]:
    with tempfile.TemporaryDirectory() as directory:
        log = AuditLog(Path(directory) / "audit" / "audit.jsonl")
        for entry in entries:
            log.append(**entry)
        yield log, lines(log)


# --- anything at all: a report, never an exception ------------------------------------------


@_FUZZ
@given(st.binary(max_size=4096), st.none() | st.binary(max_size=300))
def test_arbitrary_bytes_give_a_report(data: bytes, anchor: bytes | None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "audit.jsonl"
        path.write_bytes(data)
        if anchor is not None:
            (Path(directory) / "audit.head").write_bytes(anchor)
        report = verify_log(path)
    assert report.ok == (not report.problems)
    assert report.ok == (data == b"" and anchor is None)
    assert all(0 <= p.line <= data.count(b"\n") + 2 for p in report.problems)


@_FUZZ
@given(_ENTRIES, st.lists(st.integers(0, 5) | st.binary(max_size=80), max_size=12),
       st.lists(st.tuples(st.integers(0, 5), st.sampled_from(list(_REPLACEMENTS)), _JSON),
                max_size=4))
def test_shuffled_and_spliced_logs_give_a_report(entries: list[dict[str, Any]],
                                                 picks: list[int | bytes],
                                                 edits: list[tuple[int, str, Any]]) -> None:
    """Genuine lines, in any order and number, mixed with junk and with edited records."""
    with _real_log(entries) as (log, genuine):
        spliced = [genuine[p % len(genuine)] if isinstance(p, int) else p + b"\n" for p in picks]
        for index, field, value in edits:
            spliced.append(encode({**fields(genuine[index % len(genuine)]), field: value}))
        write(log, spliced)
        report = verify_log(log.path)
        assert report.ok == (not report.problems)
        assert list(log.records()) is not None and log.tail(3) is not None


# --- a valid log and one mutation: always caught, and named --------------------------------


@_FUZZ
@given(_ENTRIES, st.data())
def test_an_edited_field_is_named(entries: list[dict[str, Any]], data: st.DataObject) -> None:
    with _real_log(entries) as (log, original):
        k = data.draw(st.integers(0, len(original) - 1))
        record = fields(original[k])
        field = data.draw(st.sampled_from(list(_REPLACEMENTS)))
        value = data.draw(_REPLACEMENTS[field].filter(
            lambda new: canonical(new) != canonical(record[field])))
        write(log, [*original[:k], encode({**record, field: value}), *original[k + 1:]])
        problems = found(log)
    assert len(problems) == 1 and problems[0][1] == k
    assert problems[0][0] in ("edited", "malformed")


@_FUZZ
@given(_ENTRIES, st.data())
def test_an_edit_with_a_recomputed_hash_is_named(entries: list[dict[str, Any]],
                                                 data: st.DataObject) -> None:
    with _real_log(entries) as (log, original):
        k = data.draw(st.integers(0, len(original) - 1))
        record = fields(original[k])
        field = data.draw(st.sampled_from(["actor", "target", "result", "details"]))
        strategy = _DETAILS if field == "details" else _WORD
        value = data.draw(strategy.filter(lambda new: canonical(new) != canonical(record[field])))
        write(log, [*original[:k], encode(rehash({**record, field: value})), *original[k + 1:]])
        problems = found(log)
    expected = "anchor-mismatch" if k == len(original) - 1 else "edited"
    assert problems == [(expected, k)]


@_FUZZ
@given(_ENTRIES, st.data())
def test_a_deleted_line_is_named(entries: list[dict[str, Any]], data: st.DataObject) -> None:
    with _real_log(entries) as (log, original):
        k = data.draw(st.integers(0, len(original) - 1))
        write(log, original[:k] + original[k + 1:])
        problems = found(log)
    assert problems == [("truncated" if k == len(original) - 1 else "deleted", k)]


@_FUZZ
@given(st.lists(_ENTRY, min_size=2, max_size=6), st.data())
def test_swapped_lines_are_named(entries: list[dict[str, Any]], data: st.DataObject) -> None:
    with _real_log(entries) as (log, original):
        i = data.draw(st.integers(0, len(original) - 2))
        j = data.draw(st.integers(i + 1, len(original) - 1))
        swapped = list(original)
        swapped[i], swapped[j] = swapped[j], swapped[i]
        write(log, swapped)
        problems = found(log)
    assert problems
    assert all(kind == "reordered" and seq is not None and i <= seq <= j
               for kind, seq in problems)


@_FUZZ
@given(_ENTRIES, st.data())
def test_truncation_is_named(entries: list[dict[str, Any]], data: st.DataObject) -> None:
    with _real_log(entries) as (log, original):
        removed = data.draw(st.integers(1, len(original)))
        write(log, original[:-removed])
        problems = found(log)
    assert problems == [("truncated", len(original) - removed)]


@_FUZZ
@given(_ENTRIES, st.data())
def test_a_cut_mid_line_is_named(entries: list[dict[str, Any]], data: st.DataObject) -> None:
    with _real_log(entries) as (log, original):
        k = data.draw(st.integers(0, len(original) - 1))
        cut = data.draw(st.integers(1, len(original[k]) - 1))
        write(log, [*original[:k], original[k][:cut]])
        problems = found(log)
    assert problems and all(kind == "truncated" for kind, _ in problems)
    if k == len(original) - 1:
        assert problems == [("truncated", k)]


@_FUZZ
@given(_ENTRIES, st.data())
def test_a_repeated_line_is_named(entries: list[dict[str, Any]], data: st.DataObject) -> None:
    with _real_log(entries) as (log, original):
        k = data.draw(st.integers(0, len(original) - 1))
        at = data.draw(st.integers(k + 1, len(original)))
        write(log, [*original[:at], original[k], *original[at:]])
        problems = found(log)
    assert problems == [("duplicated", k)]


@_FUZZ
@given(_ENTRIES, st.data())
def test_any_flipped_byte_is_caught(entries: list[dict[str, Any]], data: st.DataObject) -> None:
    with _real_log(entries) as (log, _):
        content = bytearray(log.path.read_bytes())
        at = data.draw(st.integers(0, len(content) - 1))
        content[at] ^= data.draw(st.integers(1, 255))
        log.path.write_bytes(bytes(content))
        assert not verify_log(log.path).ok


@_FUZZ
@given(_ENTRIES, st.data())
def test_a_changed_anchor_is_caught(entries: list[dict[str, Any]], data: st.DataObject) -> None:
    with _real_log(entries) as (log, _):
        genuine = log.anchor_path.read_bytes()
        content = bytearray(genuine)
        at = data.draw(st.integers(0, len(content) - 1))
        content[at] ^= data.draw(st.integers(1, 255))
        log.anchor_path.write_bytes(bytes(content))
        report = verify_log(log.path)
        same_meaning = _anchor(bytes(content)) == _anchor(genuine)  # e.g. trailing space
        assert report.ok == same_meaning
        log.anchor_path.unlink()
        assert found(log) == [("anchor-missing", None)]


def _anchor(data: bytes) -> Anchor | None:
    try:
        return Anchor.model_validate_json(data)
    except ValueError:
        return None


# --- the bookkeeping behind the verdicts ---------------------------------------------------


@given(st.lists(st.integers(0, 40), max_size=60))
def test_seq_set_matches_a_plain_set(values: list[int]) -> None:
    seqs, plain = SeqSet(), set[int]()
    for value in values:
        assert seqs.add(value) == (value not in plain)
        plain.add(value)
    assert all((value in seqs) == (value in plain) for value in range(-1, 42))
    assert seqs.highest == (max(plain) if plain else None)
    missing = {s for first, last in seqs.gaps() for s in range(first, last + 1)}
    assert missing == set(range(max(plain, default=-1) + 1)) - plain


def _blocks(shape: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Disjoint (first seq, size) blocks, in seq order, from (gap, size) pairs."""
    blocks, next_seq = [], 0
    for gap, size in shape:
        blocks.append((next_seq + gap, size))
        next_seq += gap + size
    return blocks


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 4)), max_size=8).flatmap(
    lambda shape: st.permutations(_blocks(shape))))
def test_moved_runs_leave_the_heaviest_increasing_chain(blocks: list[tuple[int, int]]) -> None:
    runs = [Run(first, line, first + size - 1, line) for line, (first, size) in enumerate(blocks)]
    kept = [run for run in runs if run not in out_of_order(runs)]
    assert [run.first_seq for run in kept] == sorted(run.first_seq for run in kept)
    assert _weight(kept) == _best_weight(runs)


def _weight(runs: list[Run]) -> int:
    return sum(run.last_seq - run.first_seq + 1 for run in runs)


def _best_weight(runs: list[Run]) -> int:
    """Brute force over every subsequence."""
    best = 0
    for mask in range(1 << len(runs)):
        chosen = [run for i, run in enumerate(runs) if mask >> i & 1]
        if all(a.first_seq < b.first_seq for a, b in pairwise(chosen)):
            best = max(best, _weight(chosen))
    return best
