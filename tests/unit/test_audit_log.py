"""The audit log: appending, the chain, and the verifier naming each kind of tampering."""

import json
import multiprocessing
import os
import stat
import threading
from itertools import pairwise
from pathlib import Path

import pytest

from stockade.audit import DAMAGE_ACTION, GENESIS, MAX_LINE_BYTES, AuditLog, verify_log
from stockade.audit.record import TIME_FORMAT, parse_line
from tests.unit.audit_helpers import (
    encode,
    fields,
    found,
    lines,
    located,
    make_log,
    messages,
    rehash,
    write,
)


def test_appended_records_form_a_verified_chain(tmp_path: Path) -> None:
    log = make_log(tmp_path, 5)
    records = list(log.records())
    assert [r.seq for r in records] == [0, 1, 2, 3, 4]
    assert records[0].prev == GENESIS
    assert all(later.prev == earlier.hash for earlier, later in pairwise(records))
    assert all(r.hash_matches() for r in records)
    report = verify_log(log.path)
    assert report.ok and report.count == 5 and report.problems == []
    assert report.head == records[-1].hash
    assert json.loads(log.anchor_path.read_text()) == {"seq": 4, "hash": records[-1].hash}


def test_files_are_private_and_lines_canonical(tmp_path: Path) -> None:
    log = make_log(tmp_path, 2)
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.anchor_path.stat().st_mode) == 0o600
    for raw in lines(log):
        record = parse_line(raw.rstrip(b"\n"))
        assert record.line() == raw
        assert raw.startswith(b'{"action":"create","actor":')  # sorted keys, no spaces
        assert record.time.endswith("Z") and len(record.time) == len("2024-01-02T03:04:05.678901Z")


def test_append_returns_what_is_read_back(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    record = log.append(kind="security", action="unsafe-option", actor="uid=0 pid=1",
                        target="web", result="ok",
                        details={"options": ("disable_seccomp",), "n": 1.5, "none": None})
    assert record.details == {"options": ["disable_seccomp"], "n": 1.5, "none": None}
    assert list(log.records()) == [record]


@pytest.mark.parametrize("change", [
    {"kind": "nonsense"}, {"action": ""}, {"actor": ""}, {"result": ""},
    {"details": {"when": object()}}, {"details": {"x": float("nan")}},
    {"kind": "security", "action": DAMAGE_ACTION},
    {"details": {"blob": "x" * MAX_LINE_BYTES}},
])
def test_invalid_appends_raise_and_write_nothing(tmp_path: Path, change: dict[str, object]) -> None:
    log = AuditLog(tmp_path / "audit" / "audit.jsonl")
    arguments: dict[str, object] = {"kind": "api", "action": "stop", "actor": "uid=0",
                                    "target": "web", "result": "ok", **change}
    with pytest.raises(ValueError):
        log.append(**arguments)  # type: ignore[arg-type]
    assert not log.path.exists()


def test_a_symlink_in_place_of_the_log_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "audit.jsonl").symlink_to(victim)
    with pytest.raises(OSError):
        AuditLog(tmp_path / "audit.jsonl").append(kind="api", action="a", actor="u", target="",
                                                  result="ok")
    assert victim.read_text() == "precious\n"


def test_a_missing_log_reads_empty_and_verifies(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "none" / "audit.jsonl")
    assert list(log.records()) == [] and log.tail(3) == []
    report = verify_log(log.path)
    assert report.ok and report.count == 0 and report.head is None


# --- tampering: each kind is caught and named ----------------------------------------------


def test_an_edited_record_is_named(tmp_path: Path) -> None:
    log = make_log(tmp_path, 15)
    original = lines(log)
    record = fields(original[12])
    record["result"] = "error: nothing happened"
    write(log, [*original[:12], encode(record), *original[13:]])
    report = verify_log(log.path)
    assert not report.ok
    assert messages(report) == ["record 12 (line 13) was edited: its hash does not match its "
                                "content"]


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    log = make_log(tmp_path, 6)
    original = lines(log)
    record = fields(original[2])
    record["actor"] = "somebody else"
    write(log, [*original[:2], encode(rehash(record)), *original[3:]])
    report = verify_log(log.path)
    assert located(report) == [("edited", 2, 3)]
    assert "record 2 (line 3) was edited and re-hashed" in report.problems[0].message


def test_a_rehashed_edit_of_the_newest_record_disagrees_with_the_anchor(tmp_path: Path) -> None:
    log = make_log(tmp_path, 4)
    original = lines(log)
    record = fields(original[3])
    record["target"] = "other"
    write(log, [*original[:3], encode(rehash(record))])
    assert found(log) == [("anchor-mismatch", 3)]


def test_an_edited_seq_is_blamed_on_the_record_where_it_stands(tmp_path: Path) -> None:
    log = make_log(tmp_path, 5)
    original = lines(log)
    record = fields(original[1])
    record["seq"] = 40
    write(log, [original[0], encode(record), *original[2:]])
    report = verify_log(log.path)
    assert found(log) == [("edited", 1)]
    assert "(its seq now says 40)" in report.problems[0].message


def test_a_byte_level_rewrite_with_the_same_content_is_caught(tmp_path: Path) -> None:
    log = make_log(tmp_path, 3)
    original = lines(log)
    pretty = json.dumps(fields(original[1]), indent=1).replace("\n", "").encode() + b"\n"
    write(log, [original[0], pretty, original[2]])
    report = verify_log(log.path)
    assert messages(report) == ["record 1 (line 2) was rewritten: same content, different bytes"]


def test_a_deleted_record_is_named(tmp_path: Path) -> None:
    log = make_log(tmp_path, 10)
    original = lines(log)
    write(log, original[:7] + original[8:])
    report = verify_log(log.path)
    assert [p.kind for p in report.problems] == ["deleted"]
    assert report.problems[0].message.startswith("record 7 is missing")


def test_deleted_runs_and_the_first_record_are_named(tmp_path: Path) -> None:
    log = make_log(tmp_path, 10)
    original = lines(log)
    write(log, original[1:3] + original[6:])
    report = verify_log(log.path)
    assert [(p.kind, p.seq) for p in report.problems] == [("deleted", 0), ("deleted", 3)]
    assert report.problems[1].message.startswith("records 3..5 are missing")


def test_swapped_records_are_named(tmp_path: Path) -> None:
    log = make_log(tmp_path, 8)
    original = lines(log)
    write(log, [*original[:3], original[4], original[3], *original[5:]])
    problems = verify_log(log.path).problems
    assert len(problems) == 1 and problems[0].kind == "reordered"
    assert problems[0].seq in (3, 4) and "out of order" in problems[0].message


def test_a_record_moved_far_is_blamed_not_those_it_jumped(tmp_path: Path) -> None:
    log = make_log(tmp_path, 12)
    original = lines(log)
    moved = [*original[:2], *original[3:10], original[2], *original[10:]]
    write(log, moved)
    report = verify_log(log.path)
    assert found(log) == [("reordered", 2)]
    assert messages(report) == ["record 2 (line 10) is out of order"]


def test_a_duplicated_record_is_named(tmp_path: Path) -> None:
    log = make_log(tmp_path, 5)
    original = lines(log)
    write(log, [*original[:4], original[1], original[4]])
    assert found(log) == [("duplicated", 1)]


def test_removing_the_newest_records_is_caught_by_the_anchor(tmp_path: Path) -> None:
    log = make_log(tmp_path, 10)
    write(log, lines(log)[:7])
    report = verify_log(log.path)
    assert [(p.kind, p.seq) for p in report.problems] == [("truncated", 7)]
    assert "records 7..9 were removed from the end" in report.problems[0].message


def test_emptying_the_log_is_caught_by_the_anchor(tmp_path: Path) -> None:
    log = make_log(tmp_path, 3)
    write(log, [])
    assert found(log) == [("truncated", 0)]
    log.path.unlink()
    assert found(log) == [("truncated", 0)]


def test_a_cut_in_the_middle_of_the_last_line_is_named(tmp_path: Path) -> None:
    log = make_log(tmp_path, 4)
    original = lines(log)
    write(log, [*original[:3], original[3][:40]])
    report = verify_log(log.path)
    assert located(report) == [("truncated", 3, 4)]
    assert "record 3 (line 4) is cut short" in report.problems[0].message


def test_a_garbled_record_is_named_not_counted_as_deleted(tmp_path: Path) -> None:
    log = make_log(tmp_path, 5)
    original = lines(log)
    write(log, [*original[:2], b"{not json\n", *original[3:]])
    report = verify_log(log.path)
    assert located(report) == [("malformed", 2, 3)]
    assert messages(report)[0].startswith("record 2 (line 3) is unreadable: not JSON")


@pytest.mark.parametrize(("change", "reason"), [
    ({"extra": 1}, "Extra inputs are not permitted"),
    ({"seq": "3"}, "seq: Input should be a valid integer"),
    ({"time": "yesterday"}, "time: String should match pattern"),
    ({"kind": "gossip"}, "kind: Input should be"),
])
def test_unknown_fields_and_wrong_types_are_malformed(tmp_path: Path, change: dict[str, object],
                                                     reason: str) -> None:
    log = make_log(tmp_path, 4)
    original = lines(log)
    write(log, [*original[:1], encode({**fields(original[1]), **change}), *original[2:]])
    report = verify_log(log.path)
    assert [(p.kind, p.seq) for p in report.problems] == [("malformed", 1)]
    assert reason in report.problems[0].message


def test_inserted_junk_and_overlong_lines_are_malformed(tmp_path: Path) -> None:
    log = make_log(tmp_path, 3)
    original = lines(log)
    write(log, [original[0], b"\n", b"x" * (MAX_LINE_BYTES + 10) + b"\n", *original[1:]])
    report = verify_log(log.path)
    assert located(report) == [("malformed", None, 2), ("malformed", None, 3)]
    assert "empty line" in report.problems[0].message
    assert "longer than a record can be" in report.problems[1].message


def test_a_missing_or_broken_anchor_is_reported(tmp_path: Path) -> None:
    log = make_log(tmp_path, 3)
    log.anchor_path.write_text("{}")
    assert found(log) == [("anchor-mismatch", None)]
    log.anchor_path.unlink()
    assert found(log) == [("anchor-missing", None)]


def test_records_added_behind_the_anchors_back_are_reported(tmp_path: Path) -> None:
    log = make_log(tmp_path, 3)
    saved = log.anchor_path.read_bytes()
    log.append(kind="api", action="stop", actor="uid=0", target="c1", result="ok")
    log.anchor_path.write_bytes(saved)
    report = verify_log(log.path)
    assert located(report) == [("unanchored", 3, 4)]


def test_a_rewritten_log_does_not_match_the_anchor(tmp_path: Path) -> None:
    genuine = make_log(tmp_path / "a", 4)
    forged = make_log(tmp_path / "b", 4)  # other times, so other hashes
    genuine.path.write_bytes(forged.path.read_bytes())
    assert found(genuine) == [("anchor-mismatch", 3)]


def test_a_head_hash_saved_elsewhere_must_still_be_in_the_log(tmp_path: Path) -> None:
    log = make_log(tmp_path, 5)
    saved = verify_log(log.path).head
    assert saved is not None
    log.append(kind="api", action="stop", actor="uid=0", target="c1", result="ok")
    assert verify_log(log.path, saved.upper()).ok  # the log may grow after it was saved
    write(log, lines(log)[:3])
    log.anchor_path.unlink()  # the intruder cleaned up the local anchor, too
    assert ("anchor-mismatch", None) in found(log, saved)
    with pytest.raises(ValueError):
        verify_log(log.path, "abc")


# --- append after damage: keeps working, never hides it -----------------------------------


def _append(log: AuditLog) -> None:
    log.append(kind="lifecycle", action="oom-kill", actor="supervisor pid=7", target="web",
               result="ok")


def test_append_after_a_torn_tail_notes_it_and_verify_keeps_reporting(tmp_path: Path) -> None:
    log = make_log(tmp_path, 3)
    with log.path.open("ab") as stream:
        stream.write(b'{"action":"crea')  # a write cut short by a crash
    _append(log)
    records = list(log.records())
    assert [r.seq for r in records] == [0, 1, 2, 3, 4]
    note, new = records[3], records[4]
    assert (note.kind, note.action) == ("security", DAMAGE_ACTION)
    assert "the log did not end with a newline" in note.result
    assert new.prev == note.hash and new.action == "oom-kill"
    assert found(log) == [("malformed", None), ("noted", 3)]


def test_append_after_truncation_never_reuses_a_seq(tmp_path: Path) -> None:
    log = make_log(tmp_path, 6)
    write(log, lines(log)[:3])
    _append(log)
    records = list(log.records())
    assert [r.seq for r in records] == [0, 1, 2, 6, 7]
    assert "records were removed" in records[3].result
    assert found(log) == [("deleted", 3), ("noted", 6)]


def test_append_after_an_edited_newest_record_notes_it(tmp_path: Path) -> None:
    log = make_log(tmp_path, 3)
    original = lines(log)
    record = fields(original[2])
    record["result"] = "ok, honest"
    write(log, [*original[:2], encode(record)])
    _append(log)
    assert "does not match its hash" in list(log.records())[3].result
    assert found(log) == [("edited", 2), ("noted", 3)]


def test_append_with_a_missing_anchor_notes_it(tmp_path: Path) -> None:
    log = make_log(tmp_path, 2)
    log.anchor_path.unlink()
    _append(log)
    assert found(log) == [("noted", 2)]
    assert "the anchor file was missing" in list(log.records())[2].result


def test_append_over_an_unreadable_tail_continues_from_the_anchor(tmp_path: Path) -> None:
    log = make_log(tmp_path, 2)
    with log.path.open("ab") as stream:
        stream.write(b"garbage\n" * 3)
    _append(log)
    assert [r.seq for r in log.records()] == [0, 1, 2, 3]
    assert [kind for kind, _ in found(log)] == ["malformed"] * 3 + ["noted"]


def test_tail_reads_back_past_damage(tmp_path: Path) -> None:
    log = make_log(tmp_path, 6)
    with log.path.open("ab") as stream:
        stream.write(b"junk\n")
    assert [r.seq for r in log.tail(2)] == [4, 5]
    assert [r.seq for r in log.tail(100)] == [0, 1, 2, 3, 4, 5]
    assert log.tail(0) == []


# --- concurrency -------------------------------------------------------------------------


def _assert_contiguous(log: AuditLog, count: int) -> None:
    report = verify_log(log.path)
    assert report.ok, report.problems
    assert report.count == count
    assert [r.seq for r in log.records()] == list(range(count))


def test_threads_appending_at_once_give_one_contiguous_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit" / "audit.jsonl")
    start = threading.Barrier(8)

    def worker(number: int) -> None:
        start.wait()
        for i in range(25):
            log.append(kind="api", action="ps", actor=f"thread {number}", target=str(i),
                       result="ok")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _assert_contiguous(log, 200)


def _process_worker(path: str, number: int, count: int) -> None:
    log = AuditLog(Path(path))  # a fresh object in a fresh process, as a CLI run would have
    for i in range(count):
        log.append(kind="lifecycle", action="exit", actor=f"pid={os.getpid()}",
                   target=f"p{number}", result="ok", details={"i": i})


def test_processes_appending_at_once_give_one_contiguous_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "audit.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_process_worker, args=(str(path), n, 30))
               for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    log = AuditLog(path)
    _assert_contiguous(log, 120)
    assert {r.target for r in log.records()} == {"p0", "p1", "p2", "p3"}


def test_times_are_utc_with_microseconds(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    record = make_log(tmp_path, 1).tail(1)[0]
    when = datetime.strptime(record.time, TIME_FORMAT).replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - when).total_seconds()) < 60
